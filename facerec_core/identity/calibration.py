"""Calibration of the open-set rule on training data only.

Scores: every embedding is unit length, so similarities are cosines in ``[-1, 1]``. The open-set
rule accepts the chosen person only when the probe's score reaches the threshold. The score is
the person's similarity by the model's :class:`~.sources.PersonRule` (the cosine to their nearest
photo, optionally mixed with the cosine to their mean template and lowered by how close that
template comes to other people's, a *hub*) minus a weight × the probe's cohort mean
(:func:`~.kernel.open_set_scores`). The rule's parameters, the weight and the threshold are
chosen here, leave-one-out, for a target false-accept rate and stored with the model.
"""
from __future__ import annotations

import itertools

import numpy as np
from sklearn.preprocessing import LabelEncoder

from ..evaluate import open_set_metrics, threshold_at_far
from .identifiers import NearestNeighborIdentifier
from .kernel import cohort_means, open_set_scores, per_person_max, similarities, top_means

COHORT_WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
TEMPLATE_MIXES = (0.0, 0.5)
"""0: the nearest photo alone; 0.5: the mean of it and the template cosine (the gallery's
``template`` option, :class:`~facerec_core.gallery.search.GallerySource`, mixes the same way)."""
HUB_WEIGHTS = (0.0, 0.2, 0.4, 0.5, 0.6, 0.8, 1.0)
HUB_SIZES = (1, 3, 5, 10)


def leave_one_out_scores(X: np.ndarray, y, hub_sizes=HUB_SIZES) -> dict[str, np.ndarray]:
    """Open-set scores simulated inside a training set, for calibration without test data.

    Each sample is a probe against all the others: as a *known* probe (its own other photos stay
    in the gallery, its person's template is the mean of those; samples of people with a single
    photo are skipped) and as a *stranger* (its person removed, also from the other people's hub
    neighbours). The person chosen is the nearest-neighbour identifier's choice (nearest photo
    plus template). Returns, per probe, the chosen person's nearest-photo cosine (``*_best``),
    template cosine (``*_template``) and hub mean for each of ``hub_sizes`` (``*_hub_T``), the
    probe's cohort mean and, for known probes, whether the choice was right.
    """
    X = np.asarray(X, dtype=np.float32)
    y_idx = LabelEncoder().fit_transform(y)
    nn = NearestNeighborIdentifier().fit(X, y)
    templates, counts = nn.centroids_, np.bincount(y_idx)
    sums = np.add.reduceat(nn.gallery_, nn._starts, axis=0)
    keys = ("best", "template", "cohort", "choice", "own")
    out: dict[str, list] = {f"{side}_{k}": [] for side in ("known", "unknown") for k in keys}
    out["known_correct"] = []
    for start in range(0, len(X), 512):
        block = slice(start, min(start + 512, len(X)))
        sims = similarities(X[block], nn.gallery_)
        rows = np.arange(sims.shape[0])
        own = y_idx[block]
        sims[rows, nn.gallery_position_[block]] = -1.0  # the probe is not its own neighbour
        nearest = per_person_max(sims, nn._starts)
        tmpl = similarities(X[block], templates)
        rest = sums[own] - X[block]  # the person's template without the probe
        norm = np.linalg.norm(rest, axis=1)
        tmpl[rows, own] = np.where(norm > 1e-6, (X[block] * rest).sum(axis=1) / np.maximum(norm, 1e-12), -1.0)
        known = counts[own] >= 2
        for side, keep in (("known", known), ("unknown", np.ones(len(own), bool))):
            if side == "unknown":  # the person leaves the gallery: the probe is now a stranger
                nearest[rows, own] = -1.0
                tmpl[rows, own] = -1.0
            choice = (nearest + tmpl).argmax(axis=1)
            out[f"{side}_best"].append(nearest[rows, choice][keep])
            out[f"{side}_template"].append(tmpl[rows, choice][keep])
            out[f"{side}_cohort"].append(cohort_means(nearest)[keep])
            out[f"{side}_choice"].append(choice[keep])
            out[f"{side}_own"].append(own[keep])
            if side == "known":
                out["known_correct"].append((choice == own)[keep])
    loo = {k: np.concatenate(v) for k, v in out.items()}
    between = similarities(templates, templates)
    np.fill_diagonal(between, -1.0)  # a person is not their own neighbour
    for size in hub_sizes:
        loo[f"known_hub_{size}"] = top_means(between, min(size, len(templates) - 1))[loo["known_choice"]]
        hubs = []
        for start in range(0, len(loo["unknown_choice"]), 2048):
            part = slice(start, start + 2048)
            neighbours = between[loo["unknown_choice"][part]]
            neighbours[np.arange(len(neighbours)), loo["unknown_own"][part]] = -1.0  # the stranger is gone
            hubs.append(top_means(neighbours, min(size, len(templates) - 2)))
        loo[f"unknown_hub_{size}"] = np.concatenate(hubs) if hubs else np.zeros(0, np.float32)
    return loo


def rule_scores(loo: dict[str, np.ndarray], side: str, template_mix: float, hub_weight: float, hub_size: int,
                cohort_weight: float) -> np.ndarray:
    """The open-set scores of one side (``known``/``unknown``) of :func:`leave_one_out_scores`
    under one rule."""
    person = (1 - template_mix) * loo[f"{side}_best"] + template_mix * loo[f"{side}_template"]
    if hub_weight:
        person = person - hub_weight * loo[f"{side}_hub_{hub_size}"]
    return open_set_scores(person, loo[f"{side}_cohort"], cohort_weight)


def calibrate_open_set(X: np.ndarray, y, far: float = 0.01, weights=COHORT_WEIGHTS, *, mixes=TEMPLATE_MIXES,
                       hub_weights=HUB_WEIGHTS, hub_sizes=HUB_SIZES) -> dict:
    """Choose the person rule (template mix, hub weight and size), the cohort weight and the
    threshold on training data only.

    The combination maximises the simulated detection-and-identification rate at ``far`` plus
    that at ``far / 10`` (the simplest first on a tie: the nearest photo alone, no hub); the
    threshold then accepts at most ``far`` of the simulated strangers.
    """
    loo = leave_one_out_scores(X, y, hub_sizes)
    correct = loo["known_correct"]
    best = None
    for mix, hub_weight, hub_size, w in itertools.product(mixes, hub_weights, hub_sizes, weights):
        if not hub_weight and hub_size != hub_sizes[0]:
            continue  # the hub size does not matter without a hub weight
        known = rule_scores(loo, "known", mix, hub_weight, hub_size, w)
        unknown = rule_scores(loo, "unknown", mix, hub_weight, hub_size, w)
        value = sum(float((correct & (known >= threshold_at_far(unknown, f))).mean()) for f in (far, far / 10))
        if best is None or value > best[0] + 1e-9:
            best = (value, mix, hub_weight, hub_size, w)
    _, mix, hub_weight, hub_size, weight = best
    known = rule_scores(loo, "known", mix, hub_weight, hub_size, weight)
    unknown = rule_scores(loo, "unknown", mix, hub_weight, hub_size, weight)
    metrics = open_set_metrics(known, correct, unknown, fars=(far, far / 10))
    return {"cohort_weight": float(weight), "template_mix": float(mix), "hub_weight": float(hub_weight),
            "hub_size": int(hub_size), "threshold": calibrate_threshold(unknown, far), "target_far": far,
            "simulated_dir": {k: v for k, v in metrics.items() if k.startswith("dir_at")},
            "calibration": "leave-one-out within the training data (each person in turn plays the stranger)"}


def calibrate_threshold(impostors: np.ndarray, far: float = 0.01) -> float:
    """The smallest threshold at which at most ``far`` of the impostor scores are accepted."""
    if len(impostors) == 0:
        raise ValueError("no impostor scores to calibrate on")
    return threshold_at_far(impostors, far)

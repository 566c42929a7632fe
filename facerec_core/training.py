"""Train and evaluate a recognizer on an LFW-layout folder, then save the deployed artifacts.

Protocol (the original design's, kept so figures compare): people with at least ``min_images``
images, a stratified 80/20 split with a fixed seed. Metrics come from the held-out 20%; the
deployed identifier is then refitted on every image of the kept people.
"""
from __future__ import annotations

import collections
import contextlib
import dataclasses
import logging
import math
import time
from pathlib import Path
from typing import Callable

import numpy as np
from sklearn.model_selection import train_test_split

from .embeddings import extract_embeddings
from .errors import FacerecError
from .evaluate import (ORIGINAL_DESIGN, closed_set_metrics, open_set_metrics, per_person_report,
                       roc_curve_points, verification_10fold, verification_10fold_normalized)
from .gallery.store import GalleryStore
from .identity import (ModelSource, NearestNeighborIdentifier, PersonRule, SVMIdentifier, calibrate_open_set,
                       cohort_means, open_set_scores)
from .lfw import LFWDataset, image_path, name_variants, read_pairs, read_people, scan_lfw
from .settings import Settings
from .versions import save_version

log = logging.getLogger(__name__)

StageFn = Callable[[str, int, int], None]
IDENTIFIERS = ("svm", "nn")
# The SVM's hyperparameter search is cross-validated in this many folds (SVMIdentifier's cv).
SEARCH_FOLDS = 3


class TrainingError(FacerecError, ValueError):
    """The chosen data cannot be trained on (too few people, or too few images per person for
    the held-out split and the SVM's search); the message says which setting to change."""


@dataclasses.dataclass
class TrainConfig:
    """What to train. Defaults reproduce the original protocol."""

    min_images: int = 2
    test_size: float = 0.2
    seed: int = 42
    identifier: str = "auto"  # "svm", "nn", or "auto": whichever scores higher on the held-out split
    target_far: float = 0.01
    max_people: int | None = None  # keep only the N people with most images (quick runs, tests)
    max_images: int | None = None  # keep at most the first N images of each person (quick runs, tests)
    svm_grid: dict | None = None
    verification: bool = True  # also run LFW View-2 when pairs.txt is available
    open_set: bool = True  # also evaluate open-set identification against people with one image
    max_unknowns: int | None = None  # cap on those unknown probes; quick runs (max_people/max_images) use 200
    merge_name_variants: bool = True  # one person filed under two LFW names becomes one (see lfw.name_variants)


def _stage(on_stage: StageFn | None, name: str, done: int = 0, total: int = 0,
           should_stop: Callable[[], bool] | None = None) -> None:
    log.info("%s %s", name, f"{done}/{total}" if total else "")
    if on_stage is not None:
        on_stage(name, done, total)
    check_stop(should_stop, name)


def check_stop(should_stop: Callable[[], bool] | None, where: str) -> None:
    """Raise InterruptedError when ``should_stop()`` says so (polled at every stage and step)."""
    if should_stop is not None and should_stop():
        raise InterruptedError(f"cancelled at: {where}")


def planned_stages(config: TrainConfig, has_pairs: bool) -> int:
    """How many stages :func:`train_lfw` reports for ``config`` (for an overall progress bar)."""
    kinds = len(IDENTIFIERS) if config.identifier == "auto" else 1
    return (1 + kinds + 1 + int(config.open_set) + 2 * int(config.verification and has_pairs)
            + 1 + 1)  # embed, fit each, calibrate, [strangers], [View-2 embed, score], refit, save


def check_config(config: TrainConfig) -> None:
    """Refuse settings no training can use, before anything is embedded. Raises TrainingError."""
    problems = []
    if not (isinstance(config.min_images, int) and config.min_images >= 1):
        problems.append(f"--min-images must be 1 or more, not {config.min_images!r}")
    for flag, value in (("--max-people", config.max_people), ("--max-images", config.max_images),
                        ("--max-unknowns", config.max_unknowns)):
        if value is not None and not (isinstance(value, int) and value >= 0):
            problems.append(f"{flag} must be 0 (no limit) or more, not {value!r}")
    if not 0 < config.test_size < 1:
        problems.append(f"the test share must be between 0 and 1, not {config.test_size!r}")
    if not 0 < config.target_far < 1:
        problems.append(f"--far must be between 0 and 1, not {config.target_far!r}")
    if config.identifier not in ("auto", *IDENTIFIERS):
        problems.append(f"unknown identifier {config.identifier!r}: choose svm, nn or auto")
    if problems:
        raise TrainingError("; ".join(problems))


def images_needed(test_size: float) -> int:
    """The fewest images per person with which the stratified split puts everyone in both parts
    and leaves the SVM's search ``SEARCH_FOLDS`` training images of each person."""
    m = 2
    while m * test_size < 1 or m - math.ceil(m * test_size) < SEARCH_FOLDS:
        m += 1
    return m


def _more_images(config: TrainConfig) -> str:
    need = images_needed(config.test_size)
    return (f"train with more images per person (--max-images ≥ {need}, or 0 for all; \"Max images per person\" "
            "on the Home page) or fewer people (--max-people)")


def check_trainable(y: np.ndarray, config: TrainConfig) -> None:
    """Refuse usable embeddings (``y``: one name each) that the held-out split cannot divide, saying
    what to change. Raises TrainingError."""
    counts = collections.Counter(y.tolist())
    people, images = len(counts), int(len(y))
    if people < 2:
        raise TrainingError(f"only {people} person has usable images: at least two are needed to tell apart; "
                            "lower --min-images or raise --max-people")
    single = sorted(name for name, n in counts.items() if n < 2)
    if single:
        fix = _more_images(config) if config.max_images and config.max_images < 2 else \
            "raise --min-images so that everyone kept has two or more photos with a face"
        listed = ", ".join(single[:5]) + (f" and {len(single) - 5} more" if len(single) > 5 else "")
        raise TrainingError(f"{listed} {'has' if len(single) == 1 else 'have'} a single usable image, too few "
                            f"for one training and one test photo; {fix}")
    n_test = math.ceil(config.test_size * images)
    if n_test < people or images - n_test < people:
        raise TrainingError(f"{images} images of {people} people are too few for the {config.test_size:.0%} "
                            f"held-out split (it would test {n_test} images, fewer than one per person); "
                            f"{_more_images(config)}")


@contextlib.contextmanager
def _data_limits(config: TrainConfig, people: int, images: int):
    """Fitting on data too small for scikit-learn (ValueError) becomes a TrainingError with the fix."""
    try:
        yield
    except FacerecError:  # already says what is wrong (an image, a cancelled run...)
        raise
    except ValueError as exc:
        raise TrainingError(f"{images} images of {people} people are too few to fit the model ({exc}); "
                            f"{_more_images(config)}, or choose --identifier nn") from exc


def make_identifier(kind: str, svm_grid: dict | None = None, seed: int = 0):
    if kind == "svm":
        return SVMIdentifier(param_grid=svm_grid, random_state=seed)
    if kind == "nn":
        return NearestNeighborIdentifier()
    raise ValueError(f"unknown identifier {kind!r}: choose svm, nn or auto")


def most_confused(y_true, y_pred, n: int = 15) -> list[dict]:
    pairs = collections.Counter((t, p) for t, p in zip(y_true, y_pred) if t != p)
    return [{"true": t, "predicted": p, "count": c} for (t, p), c in pairs.most_common(n)]


def evaluate_open_set(clf, X_gallery, y_gallery, X_known, y_known, X_unknown, unknown_names,
                      threshold: float, cohort_weight: float, gallery_paths=None,
                      rule: PersonRule | None = None) -> dict:
    """Open-set identification: the held-out photos of known people against photos of people who
    are in no gallery, scored by ``rule`` (default: the nearest photo). Reports rank-1, DIR at FAR
    1% and 0.1%, the curve, how the calibrated threshold fares on these probes, the strangers that
    score closest, and gallery "hubs"."""
    model = ModelSource(clf, rule)
    known = model.search(X_known, top_k=3)
    unknown = model.search(X_unknown, top_k=3)
    known_scores = open_set_scores([c.score for c in known], [c.cohort for c in known], cohort_weight)
    unknown_scores = open_set_scores([c.score for c in unknown], [c.cohort for c in unknown], cohort_weight)
    matches_u = [c.matches for c in unknown]
    correct = clf.predict(X_known) == np.asarray(y_known)
    out = open_set_metrics(known_scores, correct, unknown_scores)
    out["at_calibrated_threshold"] = {
        "far": float((unknown_scores >= threshold).mean()),
        "dir": float((correct & (known_scores >= threshold)).mean()),
        "known_rejected": float((known_scores < threshold).mean())}
    order = np.argsort(-unknown_scores)[:15]
    out["closest_unknowns"] = [{"unknown": unknown_names[i], "matched": matches_u[i][0].name,
                                "score": float(unknown_scores[i]), "cosine": matches_u[i][0].score} for i in order]
    # gallery photos that are the nearest neighbour of many of the top-scoring strangers
    top = np.argsort(-unknown_scores)[:max(10, len(unknown_scores) // 100)]
    nearest = (np.asarray(X_unknown)[top] @ np.asarray(X_gallery).T).argmax(axis=1)
    hubs = collections.Counter(nearest.tolist()).most_common(10)
    out["hubs"] = [{"photo": None if gallery_paths is None else Path(gallery_paths[g]).name,
                    "person": str(np.asarray(y_gallery)[g]), "strangers_attracted": int(c)}
                   for g, c in hubs if c > 1]
    out["n_known"], out["n_unknown"] = int(len(known_scores)), int(len(unknown_scores))
    return out


def view2_verification(settings: Settings, *, backbone_name: str | None = None,
                       on_stage: StageFn | None = None, should_stop=None) -> dict:
    """LFW View-2 (pairs.txt, 10 folds) on the cached embeddings.

    Reports the plain cosine rule and the cohort-normalised one: a pair's cosine minus ``w`` × the
    mean of its two faces' cohort means (their mean cosine to their 20 most similar people), where
    the cohort for a test fold is the people of the other nine folds (people.txt) and ``w`` and the
    threshold are chosen on the nine training folds.
    """
    proto = settings.lfw_protocol_dir_resolved
    if proto is None or not (proto / "pairs.txt").is_file():
        raise FileNotFoundError("pairs.txt not found: set FACEREC_LFW_PROTOCOL_DIR")
    pairs = read_pairs(proto / "pairs.txt")
    dataset = scan_lfw(settings.lfw_dir)
    paths, labels = dataset.samples()
    emb = extract_embeddings(paths, settings, backbone_name=backbone_name, should_stop=should_stop,
                             progress=(lambda d, t: _stage(on_stage, "embedding LFW for View-2", d, t)))
    _stage(on_stage, "View-2 verification", should_stop=should_stop)
    X, index = emb.embeddings, {p: i for i, p in enumerate(emb.paths)}
    ia = np.array([index[str(image_path(settings.lfw_dir, p.name1, p.index1))] for p in pairs])
    ib = np.array([index[str(image_path(settings.lfw_dir, p.name2, p.index2))] for p in pairs])
    raw = np.einsum("ij,ij->i", X[ia], X[ib])
    same = np.array([p.same for p in pairs])
    pair_folds = np.array([p.fold for p in pairs])
    result = verification_10fold(raw, same, pair_folds)
    result["roc"] = roc_curve_points(raw, same)
    people_file = proto / "people.txt"
    if people_file.is_file():
        fold_of = {n: k for k, fold in enumerate(read_people(people_file)) for n in fold}
        cohort_clf = NearestNeighborIdentifier(centroid_weight=0).fit(X[emb.usable], np.asarray(labels)[emb.usable])
        class_fold = np.array([fold_of.get(c, -1) for c in cohort_clf.classes_])
        cohort = np.zeros((len(pairs), 2), np.float32)
        for k in np.unique(pair_folds):
            check_stop(should_stop, "View-2 cohort")
            rows = np.flatnonzero(pair_folds == k)
            for j, idx in enumerate((ia, ib)):
                sims = cohort_clf.class_similarities(X[idx[rows]])
                sims[:, class_fold == k] = -1.0  # the test fold's people are never in its cohort
                cohort[rows, j] = cohort_means(sims)
        norm = verification_10fold_normalized(raw, cohort.mean(axis=1), same, pair_folds)
        norm["roc"] = roc_curve_points(raw - norm["cohort_weight"] * cohort.mean(axis=1), same)
        result["cohort_normalised"] = norm
    result["images"] = emb.subset(np.unique(np.concatenate([ia, ib]))).counts()
    return result


def train_lfw(settings: Settings, config: TrainConfig | None = None, *, on_stage: StageFn | None = None,
              should_stop: Callable[[], bool] | None = None, save: bool = True, deploy: bool = True,
              extra_samples: tuple[np.ndarray, list[str]] | None = None) -> dict:
    """Embed, split, tune, evaluate, refit on everything and save a version. Returns the report,
    with ``version`` the saved version's id when saved.

    Args:
        settings: LFW folder, backbone, cache and artifact folders.
        config: protocol and identifier choices.
        on_stage: progress callback ``fn(stage, done, total)``.
        should_stop: polled at every stage, between embedding chunks and between the SVM search's
            fits; returning True cancels (InterruptedError) and nothing is saved.
        save: save the model as a new version (False for a dry evaluation).
        deploy: also deploy that version (see :mod:`facerec_core.versions`); False leaves the
            deployed model as it was, for review (the dashboard asks first).
        extra_samples: ``(embeddings, names)`` added to the deployed model's training data only
            (e.g. the enrolled gallery folded in by "retrain"); the reported metrics do not use them.
    """
    config = config or TrainConfig()
    check_config(config)
    t0 = time.time()
    dataset = scan_lfw(settings.lfw_dir)
    merged = name_variants(dataset.people) if config.merge_name_variants else []
    dataset = dataset.merge(merged)
    kept = dataset.filter_min_images(config.min_images)
    if config.max_people:
        top = sorted(kept.people, key=lambda n: (-len(kept.people[n]), n))[:config.max_people]
        kept = kept.only(top)
    if config.max_images:
        kept = LFWDataset(kept.root, {n: p[:config.max_images] for n, p in kept.people.items()})
    if kept.n_people < 2:
        raise TrainingError(f"only {kept.n_people} people have ≥ {config.min_images} images: nothing to tell apart; "
                            "lower --min-images or raise --max-people")
    paths, labels = kept.samples()
    _stage(on_stage, "embedding faces", 0, len(paths), should_stop)
    emb = extract_embeddings(paths, settings, should_stop=should_stop,
                             progress=lambda d, t: _stage(on_stage, "embedding faces", d, t))
    X, y = emb.embeddings, np.asarray(labels)
    usable = emb.usable
    if not usable.all():
        log.warning("%d images without an embedding (unreadable or no face) are left out", int((~usable).sum()))
    X, y, paths_kept = X[usable], y[usable], np.asarray(emb.paths)[usable]
    check_trainable(y, config)
    with _data_limits(config, len(set(y.tolist())), len(y)):
        report, final, manifest = _fit(settings, config, dataset, merged, kept, emb, X, y, paths_kept,
                                       on_stage=on_stage, should_stop=should_stop, extra_samples=extra_samples)
    report["seconds"] = round(time.time() - t0, 1)
    if save:  # only now, with everything fitted: a failed run leaves the deployed model as it was
        _stage(on_stage, "saving artifacts", should_stop=should_stop)
        report["version"] = save_version(settings.artifacts_dir, final, manifest, report, deploy=deploy)
    _stage(on_stage, "done")
    return report


def _fit(settings, config, dataset, merged, kept, emb, X, y, paths_kept, *, on_stage, should_stop,
         extra_samples) -> tuple[dict, object, dict]:
    """Split, fit, calibrate, evaluate and refit on everything: ``(report, identifier, manifest)``."""
    idx_train, idx_test = train_test_split(np.arange(len(y)), test_size=config.test_size,
                                           stratify=y, random_state=config.seed)
    train_counts = collections.Counter(y[idx_train])
    results, fitted = {}, {}
    kinds = IDENTIFIERS if config.identifier == "auto" else (config.identifier,)
    for kind in kinds:
        name = f"fitting {kind} on the training split"
        _stage(on_stage, name, should_stop=should_stop)
        t = time.time()
        clf = make_identifier(kind, config.svm_grid, config.seed)
        if kind == "svm":  # the search reports each fit and stops between fits
            clf.fit(X[idx_train], y[idx_train], should_stop=should_stop,
                    progress=lambda d, n, name=name: _stage(on_stage, name, d, n, should_stop))
        else:
            clf.fit(X[idx_train], y[idx_train])
        pred = clf.predict(X[idx_test])
        results[kind] = {**closed_set_metrics(y[idx_test], pred), "fit_seconds": round(time.time() - t, 1),
                         "params": getattr(clf, "best_params_", {})}
        fitted[kind] = (clf, pred)
        log.info("%s: %s", kind, {k: round(v, 4) for k, v in results[kind].items() if isinstance(v, float)})
    chosen = max(kinds, key=lambda k: (results[k]["accuracy"], results[k]["macro_f1"]))
    clf, pred = fitted[chosen]

    _stage(on_stage, "calibrating the open-set threshold", should_stop=should_stop)
    calibration = calibrate_open_set(X[idx_train], y[idx_train], far=config.target_far)
    threshold, cohort_weight = calibration["threshold"], calibration["cohort_weight"]
    rule = PersonRule.from_thresholds(calibration)

    open_set = {**calibration, "merged_names": merged}
    if config.open_set:
        singles = [n for n, p in dataset.people.items() if len(p) == 1]
        limit = config.max_unknowns
        if limit is None and (config.max_people or config.max_images):
            limit = 200  # a quick run should not embed all of LFW's 4,069 one-photo people
        if limit is not None:
            singles = singles[:limit]
        if singles:
            _stage(on_stage, "embedding unknown people", 0, len(singles), should_stop)
            unknown = extract_embeddings([dataset.people[n][0] for n in singles], settings, should_stop=should_stop,
                                         progress=lambda d, t: _stage(on_stage, "embedding unknown people", d, t))
            open_set.update(evaluate_open_set(clf, X[idx_train], y[idx_train], X[idx_test], y[idx_test],
                                              unknown.embeddings[unknown.usable],
                                              [n for n, ok in zip(singles, unknown.usable) if ok],
                                              threshold, cohort_weight, gallery_paths=paths_kept[idx_train],
                                              rule=rule))

    verification = None
    if config.verification and settings.lfw_protocol_dir_resolved is not None:
        try:
            verification = view2_verification(settings, on_stage=on_stage, should_stop=should_stop)
        except FileNotFoundError as exc:
            log.warning("skipping View-2 verification: %s", exc)

    _stage(on_stage, f"refitting {chosen} on all {len(y)} images", should_stop=should_stop)
    final = make_identifier(chosen, config.svm_grid, config.seed)
    if chosen == "svm":
        final.set_params(**clf.best_params_)  # hyperparameters from the training-split search
    if extra_samples is not None and len(extra_samples[1]):
        X = np.concatenate([X, np.asarray(extra_samples[0], dtype=np.float32)])
        y = np.concatenate([y, np.asarray(extra_samples[1])])
    final.fit(X, y)

    report = {
        "backbone": settings.backbone,
        "protocol": {"min_images": config.min_images, "test_size": config.test_size, "seed": config.seed,
                     "max_people": config.max_people, "max_images": config.max_images, "stratified": True},
        "data": {"lfw_dir": str(settings.lfw_dir), "people": kept.n_people, "images": kept.n_images,
                 "train_images": int(len(idx_train)), "test_images": int(len(idx_test)),
                 "detection": emb.counts()},
        "identifiers": results,
        "chosen_identifier": chosen,
        "original_design": ORIGINAL_DESIGN,
        "per_person": per_person_report(y[idx_test], pred, dict(train_counts)),
        "most_confused": most_confused(y[idx_test], pred),
        "open_set": open_set,
        "verification": verification,
    }
    thresholds = {"identify": threshold, "cohort_weight": cohort_weight, "target_far": config.target_far,
                  **dataclasses.asdict(rule)}
    if verification:
        thresholds["verify"] = verification["threshold"]
        if "cohort_normalised" in verification:
            thresholds["verify_normalised"] = verification["cohort_normalised"]["threshold"]
            thresholds["verify_cohort_weight"] = verification["cohort_normalised"]["cohort_weight"]
    manifest = {
        "backbone": settings.backbone, "identifier": chosen, "classes": int(len(final.classes_)),
        "hyperparameters": getattr(clf, "best_params_", {}), "thresholds": thresholds,
        "training_data": {"source": "LFW", "people": kept.n_people, "images": int(len(y)),
                          "min_images": config.min_images},
        "metrics": {k: results[chosen][k] for k in ("accuracy", "macro_precision", "macro_recall",
                                                    "macro_f1", "weighted_f1")},
        "detector": {"min_face_size": settings.min_face_size, "threshold": settings.detection_threshold},
    }
    if verification:
        manifest["metrics"]["view2_accuracy"] = verification["accuracy_mean"]
        if "cohort_normalised" in verification:
            manifest["metrics"]["view2_accuracy_normalised"] = verification["cohort_normalised"]["accuracy_mean"]
    for key in ("dir_at_far_0.01", "dir_at_far_0.001"):
        if key in open_set:
            manifest["metrics"][key] = open_set[key]
    return report, final, manifest


def retrain(settings: Settings, config: TrainConfig | None = None, *, store: GalleryStore | None = None,
            **kwargs) -> dict:
    """Train the LFW model again with every enrolled sample folded into the deployed identifier
    (:func:`facerec_core.training.train_lfw` with ``extra_samples``). Returns its report, with
    a ``gallery`` entry saying what was folded in."""
    own = store is None
    store = store or GalleryStore.open(settings)
    try:
        X, names = store.training_samples(settings.backbone)
    finally:
        if own:
            store.close()
    report = train_lfw(settings, config, extra_samples=(X, names) if names else None, **kwargs)
    report["gallery"] = {"people": len(set(names)), "samples": len(names)}
    return report

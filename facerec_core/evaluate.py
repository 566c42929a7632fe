"""Metrics and protocols: closed-set identification, LFW View-2 verification, open-set DIR/FAR."""
from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, classification_report, precision_recall_fscore_support

# The original design's figures (people with >= 2 images, 80/20 split), for side-by-side tables.
ORIGINAL_DESIGN = {"accuracy": 0.80, "macro_precision": 0.63, "macro_recall": 0.70, "weighted_f1": 0.70}


def closed_set_metrics(y_true, y_pred) -> dict[str, float]:
    """Accuracy, macro precision / recall / F1 and weighted F1 (labels absent from both are ignored)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    labels = np.unique(y_true)  # per-person scores over the people in the test split
    p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels, average="macro", zero_division=0)
    _, _, wf, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels, average="weighted", zero_division=0)
    return {"accuracy": float(accuracy_score(y_true, y_pred)), "macro_precision": float(p),
            "macro_recall": float(r), "macro_f1": float(f), "weighted_f1": float(wf), "n_test": int(len(y_true))}


def per_person_report(y_true, y_pred, train_counts: dict[str, int] | None = None) -> list[dict]:
    """One row per person in the test split: precision, recall, F1, support, training images."""
    labels = np.unique(np.asarray(y_true))
    rep = classification_report(y_true, y_pred, labels=labels, output_dict=True, zero_division=0)
    rows = []
    for name in labels:
        r = rep[str(name)]
        rows.append({"person": str(name), "precision": r["precision"], "recall": r["recall"],
                     "f1": r["f1-score"], "support": int(r["support"]),
                     "train_images": int((train_counts or {}).get(str(name), 0))})
    return rows


def best_threshold(scores: np.ndarray, same: np.ndarray) -> float:
    """The cosine threshold with the highest pair accuracy (ties: the middle of the best run)."""
    order = np.argsort(scores)
    s, t = scores[order], same[order].astype(bool)
    # threshold between consecutive scores: accept s >= thr
    candidates = np.concatenate([[s[0] - 1e-6], (s[:-1] + s[1:]) / 2, [s[-1] + 1e-6]])
    # accuracy when accepting everything at index >= i
    pos_above = np.concatenate([np.cumsum(t[::-1])[::-1], [0]])
    neg_below = np.concatenate([[0], np.cumsum(~t)])
    acc = (pos_above + neg_below) / len(s)
    best = np.flatnonzero(acc == acc.max())
    return float(candidates[best[len(best) // 2]])


def verification_10fold(scores: np.ndarray, same: np.ndarray, folds: np.ndarray) -> dict:
    """LFW View-2: for each fold, pick the threshold on the other 9 folds, measure on this one."""
    scores, same, folds = np.asarray(scores, float), np.asarray(same, bool), np.asarray(folds)
    accs, thresholds = [], []
    for k in np.unique(folds):
        train, test = folds != k, folds == k
        thr = best_threshold(scores[train], same[train])
        accs.append(float(((scores[test] >= thr) == same[test]).mean()))
        thresholds.append(thr)
    return {"accuracy_mean": float(np.mean(accs)), "accuracy_std": float(np.std(accs)),
            "fold_accuracies": accs, "thresholds": thresholds, "threshold": float(np.mean(thresholds)),
            "tar_at_far_0.1%": tar_at_far(scores, same, 0.001), "tar_at_far_1%": tar_at_far(scores, same, 0.01),
            "presets": verification_presets(scores, same, folds), "n_pairs": int(len(scores))}


def verification_10fold_normalized(raw: np.ndarray, cohort: np.ndarray, same: np.ndarray, folds: np.ndarray,
                                   weights=(0.0, 0.25, 0.5, 0.75, 1.0)) -> dict:
    """View-2 with cohort-normalised scores ``raw - w * cohort``: for each fold, the weight *and*
    the threshold are chosen on the other 9 folds only."""
    raw, cohort = np.asarray(raw, float), np.asarray(cohort, float)
    same, folds = np.asarray(same, bool), np.asarray(folds)
    accs, thresholds, chosen = [], [], []
    for k in np.unique(folds):
        train, test = folds != k, folds == k
        best = None
        for w in weights:
            sc = raw[train] - w * cohort[train]
            thr = best_threshold(sc, same[train])
            acc = ((sc >= thr) == same[train]).mean()
            if best is None or acc > best[0] + 1e-12:
                best = (acc, w, thr)
        _, w, thr = best
        accs.append(float((((raw[test] - w * cohort[test]) >= thr) == same[test]).mean()))
        thresholds.append(thr)
        chosen.append(w)
    weight = float(np.median(chosen))
    scores = raw - weight * cohort
    return {"accuracy_mean": float(np.mean(accs)), "accuracy_std": float(np.std(accs)), "fold_accuracies": accs,
            "thresholds": thresholds, "weights": chosen, "cohort_weight": weight,
            "threshold": float(np.mean([t for t, w in zip(thresholds, chosen) if w == weight] or thresholds)),
            "tar_at_far_0.1%": tar_at_far(scores, same, 0.001), "tar_at_far_1%": tar_at_far(scores, same, 0.01),
            "presets": verification_presets(scores, same, folds), "n_pairs": int(len(raw))}


VERIFY_PRESETS: tuple[tuple[str, float], ...] = (("strict", 0.001), ("balanced", 0.01), ("lenient", 0.05))
"""The verification presets, strictest first: each accepts at most its share of different-person
pairs where it is measured. Strict is the default: a false accept lets a stranger in. (Lenient is
a fixed 5% rather than the equal-error point: on LFW the equal-error point of FaceNet lies near
0.6%, stricter than balanced, so it would not be lenient.)"""


def equal_error_threshold(scores: np.ndarray, same: np.ndarray) -> float:
    """The threshold (accept ``score >= threshold``) at which the false-accept rate of the
    different-person pairs is closest to the false-reject rate of the same-person pairs."""
    scores, same = np.asarray(scores, float), np.asarray(same, bool)
    candidates = np.unique(scores)
    imp, gen = np.sort(scores[~same]), np.sort(scores[same])
    far = 1.0 - np.searchsorted(imp, candidates, side="left") / max(len(imp), 1)
    frr = np.searchsorted(gen, candidates, side="left") / max(len(gen), 1)
    return float(candidates[int(np.argmin(np.abs(far - frr)))])


def verification_presets(scores: np.ndarray, same: np.ndarray, folds: np.ndarray | None = None) -> dict[str, dict]:
    """The threshold of each :data:`VERIFY_PRESETS` entry, measured on verification pairs.

    ``threshold`` is chosen on all the pairs, and ``far`` / ``tar`` are its false- and true-accept
    rates there. With ``folds`` (LFW View-2), ``cv_far`` / ``cv_tar`` are the rates on each fold
    at the threshold chosen on the other folds, averaged: what to expect on pairs not used to
    choose it.
    """
    scores, same = np.asarray(scores, float), np.asarray(same, bool)

    def choose(s, t, far):
        return threshold_at_far(s[~t], far)

    out = {}
    for name, far in VERIFY_PRESETS:
        thr = choose(scores, same, far)
        entry = {"target_far": far, "threshold": thr, "far": float((scores[~same] >= thr).mean()),
                 "tar": float((scores[same] >= thr).mean()), "impostor_pairs": int((~same).sum()),
                 "genuine_pairs": int(same.sum())}
        if folds is not None:
            folds = np.asarray(folds)
            fars, tars = [], []
            for k in np.unique(folds):
                train, test = folds != k, folds == k
                t = choose(scores[train], same[train], far)
                fars.append(float((scores[test & ~same] >= t).mean()))
                tars.append(float((scores[test & same] >= t).mean()))
            entry["cv_far"], entry["cv_tar"] = float(np.mean(fars)), float(np.mean(tars))
        out[name] = entry
    return out


def threshold_at_far(impostor_scores: np.ndarray, far: float) -> float:
    """The smallest threshold (accept ``score >= threshold``) that accepts at most ``far`` of
    ``impostor_scores``."""
    imp = np.sort(np.asarray(impostor_scores, dtype=np.float64))[::-1]
    k = int(np.floor(far * len(imp)))
    # just above the (k+1)-th largest impostor score
    return float(np.nextafter(imp[k], np.inf)) if k < len(imp) else float("-inf")


def tar_at_far(scores: np.ndarray, same: np.ndarray, far: float) -> float:
    """True-accept rate at the threshold that accepts at most ``far`` of the impostor pairs."""
    scores, same = np.asarray(scores, float), np.asarray(same, bool)
    return float((scores[same] >= threshold_at_far(scores[~same], far)).mean())


def roc_curve_points(scores: np.ndarray, same: np.ndarray, n: int = 200) -> dict[str, list[float]]:
    """False-accept and true-accept rates over a grid of thresholds (for plots)."""
    scores, same = np.asarray(scores, float), np.asarray(same, bool)
    thr = np.quantile(scores, np.linspace(0, 1, n))
    far = [float((scores[~same] >= t).mean()) for t in thr]
    tar = [float((scores[same] >= t).mean()) for t in thr]
    return {"threshold": thr.tolist(), "far": far, "tar": tar}


def open_set_metrics(known_scores: np.ndarray, known_correct: np.ndarray, unknown_scores: np.ndarray,
                     fars=(0.01, 0.001)) -> dict:
    """Open-set identification (DIR at FAR).

    Args:
        known_scores: the score of each known probe's top answer.
        known_correct: whether that top answer is the right person (rank-1 correct).
        unknown_scores: the top score of each probe whose person is not in the gallery.
    Returns rank-1, and for each FAR the threshold and DIR (detected and identified rate): the
    share of known probes both correct and scoring at or above the threshold at which that
    share of unknown probes is (wrongly) accepted.
    """
    known_scores = np.asarray(known_scores, float)
    known_correct = np.asarray(known_correct, bool)
    imp = np.sort(np.asarray(unknown_scores, float))[::-1]
    out = {"rank1": float(known_correct.mean()), "n_known": int(len(known_scores)), "n_unknown": int(len(imp))}
    for far in fars:
        thr = threshold_at_far(imp, far)
        out[f"dir_at_far_{far:g}"] = float((known_correct & (known_scores >= thr)).mean())
        out[f"threshold_at_far_{far:g}"] = thr
    grid = np.unique(np.concatenate([imp, [np.inf]]))
    curve_far = [float((imp >= t).mean()) for t in grid[::max(1, len(grid) // 200)]]
    curve_dir = [float((known_correct & (known_scores >= t)).mean()) for t in grid[::max(1, len(grid) // 200)]]
    out["curve"] = {"far": curve_far, "dir": curve_dir}
    return out


def projection_seconds(n: int, method: str) -> float:
    """Roughly how long :func:`project_2d` takes for ``n`` embeddings, in seconds: PCA is
    instant; t-SNE was measured (one thread, a busy 2-core machine) at 10 s for 200 faces, 28 s
    for 500 and 70 s for 1,000, about 0.05 s a face growing with ``n``."""
    if method != "t-SNE":
        return 0.1
    return 0.05 * n * (1 + n / 2000)


def project_2d(embeddings: np.ndarray, method: str = "PCA", seed: int = 0) -> np.ndarray:
    """``(n, 2)`` coordinates of unit embeddings by ``"PCA"`` or ``"t-SNE"`` (cosine metric)."""
    X = np.asarray(embeddings, dtype=np.float32)
    if len(X) < 3:
        return np.zeros((len(X), 2), dtype=np.float32)
    if method == "PCA":
        from sklearn.decomposition import PCA

        return PCA(n_components=2, random_state=seed).fit_transform(X)
    if method == "t-SNE":
        from sklearn.manifold import TSNE
        from threadpoolctl import threadpool_limits

        perplexity = float(min(30, max(2, (len(X) - 1) // 3)))
        # One thread: on a busy 2-core machine, OpenMP's spinning threads made t-SNE of 200 faces
        # take 100-120 s; with one, 10 s.
        with threadpool_limits(1):
            return TSNE(n_components=2, perplexity=perplexity, metric="cosine", init="pca",
                        random_state=seed).fit_transform(X)
    raise ValueError(f"unknown projection {method!r}: PCA or t-SNE")

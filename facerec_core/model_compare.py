"""What a trained model's figures mean to its users, and how a candidate compares with the
deployed model: figures measured on different protocols or sample sizes are flagged as not
comparable, and thresholds the candidate lacks are called out."""
from __future__ import annotations

import dataclasses
from typing import Any

# Shown wherever LFW figures are: what the training and test data are, and what that implies.
TRAINING_DATA_CAVEAT = (
    "Trained and measured on LFW (Labeled Faces in the Wild): mostly public figures (politicians, "
    "actors, athletes) in press photos, most of them men and lighter-skinned adults, few children or "
    "older people. Expect more mistakes on everyday photos and on under-represented groups than these "
    "figures say; FaceNet's own training data (MS-Celeb-1M, part of the default backbone) shares "
    "identities with LFW.")

NOT_MEASURED = "not measured"


@dataclasses.dataclass(frozen=True)
class UserFigures:
    """What a user lives with at the deployed threshold, from the report's open-set test."""

    known_rejected: float  # share of known people's photos answered "unknown"
    strangers_named: float  # share of strangers' photos given someone's name
    n_known: int
    n_unknown: int
    threshold: float | None


def user_figures(report: dict | None) -> UserFigures | None:
    """The open-set figures at the calibrated threshold, or ``None`` when the run had no open-set
    test (no strangers)."""
    open_set = (report or {}).get("open_set") or {}
    at = open_set.get("at_calibrated_threshold")
    if not isinstance(at, dict) or "far" not in at or "known_rejected" not in at:
        return None
    return UserFigures(float(at["known_rejected"]), float(at["far"]), int(open_set.get("n_known", 0)),
                       int(open_set.get("n_unknown", 0)), _number(open_set.get("threshold")))


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _percent(value: Any) -> str:
    value = _number(value)
    return NOT_MEASURED if value is None else f"{value:.1%}"


def closed_protocol(report: dict) -> tuple:
    p, d = report.get("protocol") or {}, report.get("data") or {}
    return (p.get("min_images"), p.get("max_people"), p.get("max_images"), p.get("test_size"), p.get("seed"),
            d.get("people"), d.get("test_images"))


def describe_closed(report: dict) -> str:
    p, d = report.get("protocol") or {}, report.get("data") or {}
    people, tests = d.get("people"), d.get("test_images")
    return (f"{people:,} people" if isinstance(people, int) else "? people") + \
        f" (at least {p.get('min_images', '?')} images, at most {p.get('max_images') or 'all'} each), " + \
        (f"{tests:,} test photos" if isinstance(tests, int) else "? test photos") + f", seed {p.get('seed', '?')}"


def open_protocol(report: dict) -> tuple | None:
    o = report.get("open_set") or {}
    if "n_unknown" not in o:
        return None
    return (closed_protocol(report), o.get("n_unknown"), o.get("n_known"))


def describe_open(report: dict) -> str:
    o = report.get("open_set") or {}
    if "n_unknown" not in o:
        return "no open-set test"
    return f"{o['n_unknown']:,} strangers and {o.get('n_known', 0):,} known photos"


def _view2(report: dict, manifest: dict) -> float | None:
    m = manifest.get("metrics") or {}
    return _number(m.get("view2_accuracy_normalised", m.get("view2_accuracy")))


@dataclasses.dataclass(frozen=True)
class Row:
    """One figure of a comparison: both values as text, whether they may be compared, and why not."""

    figure: str
    candidate: str
    deployed: str
    comparable: bool
    note: str = ""


def compare(candidate: tuple[dict, dict], deployed: tuple[dict, dict] | None) -> tuple[list[Row], list[str]]:
    """Rows comparing ``candidate`` with ``deployed`` (each ``(manifest, report)``) and warnings
    (thresholds or tests the candidate drops, figures on different protocols)."""
    cm, cr = candidate
    dm, dr = deployed if deployed is not None else ({}, {})
    has_deployed = deployed is not None
    rows: list[Row] = []
    warnings: list[str] = []

    def row(figure: str, c: str, d: str, same: bool, why: str) -> None:
        ok = has_deployed and same and NOT_MEASURED not in (c, d)
        rows.append(Row(figure, c, d if has_deployed else "–", ok, "" if ok or not has_deployed else why))

    closed_same = closed_protocol(cr) == closed_protocol(dr)
    closed_why = f"different closed-set protocols: {describe_closed(cr)} against {describe_closed(dr)}"
    row("People known", f"{cm.get('classes', '?'):,}" if isinstance(cm.get("classes"), int) else "?",
        f"{dm.get('classes', '?'):,}" if isinstance(dm.get("classes"), int) else "?", True, "")
    cmet, dmet = cm.get("metrics") or {}, dm.get("metrics") or {}
    row("Closed-set accuracy", _percent(cmet.get("accuracy")), _percent(dmet.get("accuracy")), closed_same, closed_why)
    row("Weighted F1", _percent(cmet.get("weighted_f1")), _percent(dmet.get("weighted_f1")), closed_same, closed_why)

    cu, du = user_figures(cr), user_figures(dr)
    open_same = open_protocol(cr) is not None and open_protocol(cr) == open_protocol(dr)
    open_why = ("the candidate had no open-set test" if cu is None else
                "the deployed model had no open-set test" if du is None else
                f"measured on {describe_open(cr)} against {describe_open(dr)}"
                + ("" if closed_same else " of a different closed-set split"))
    row("Known people answered \"unknown\"", _percent(cu and cu.known_rejected),
        _percent(du and du.known_rejected), open_same, open_why)
    row("Strangers given a name", _percent(cu and cu.strangers_named), _percent(du and du.strangers_named),
        open_same, open_why)
    row("DIR at FAR 1%", _percent((cr.get("open_set") or {}).get("dir_at_far_0.01")),
        _percent((dr.get("open_set") or {}).get("dir_at_far_0.01")), open_same, open_why)

    cv, dv = _view2(cr, cm), _view2(dr, dm)
    row("LFW View-2 verification", _percent(cv), _percent(dv), True,
        "View-2 was skipped for the candidate" if cv is None else "View-2 was skipped for the deployed model")

    if has_deployed:
        ct, dt = cm.get("thresholds") or {}, dm.get("thresholds") or {}
        dropped = [k for k in ("verify", "verify_normalised") if k in dt and k not in ct]
        if dropped:
            warnings.append("The candidate has no View-2 thresholds (View-2 was skipped): Verify would use the "
                            "backbone's default threshold instead of the one calibrated for the deployed model.")
        if cu is not None and du is not None and not open_same:
            warnings.append(f"Open-set figures are not comparable: the candidate was tested on {describe_open(cr)}, "
                            f"the deployed model on {describe_open(dr)}.")
        if not closed_same:
            warnings.append(f"Closed-set figures are not comparable: {closed_why}.")
        if cm.get("backbone") != dm.get("backbone"):
            warnings.append(f"The candidate uses the {cm.get('backbone')} backbone, the deployed model "
                            f"{dm.get('backbone')}.")
    return rows, warnings

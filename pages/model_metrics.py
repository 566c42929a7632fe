"""Model Metrics: how good the trained model is, against the original design and per person."""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import charts
from dashboard.data import model_report
from dashboard.page import page_preamble
from dashboard.plain import code, plain
from facerec_core import fewshot
from facerec_core.access import Action
from facerec_core.errors import ArtifactError
from facerec_core.evaluate import ORIGINAL_DESIGN
from facerec_core.faces import display_name

# ---- the report, shaped for tables and charts -------------------------------------------------
METRIC_LABELS = {"accuracy": "Accuracy", "macro_precision": "Macro precision", "macro_recall": "Macro recall",
                 "macro_f1": "Macro F1", "weighted_f1": "Weighted F1"}


def comparison_table(report: dict, original: dict) -> pd.DataFrame:
    """The original design's figures beside each of our identifiers (rows: metrics, values as
    percentages; "–" where a figure was not reported)."""
    columns = {"Original design": original}
    chosen = report.get("chosen_identifier")
    for kind, metrics in (report.get("identifiers") or {}).items():
        label = f"Ours: {plain(kind.upper())}" + (" (deployed)" if kind == chosen else "")  # st.table: Markdown
        columns[label] = metrics or {}
    rows = []
    for key, label in METRIC_LABELS.items():
        row = {"metric": label}
        for col, metrics in columns.items():
            value = metrics.get(key)
            row[col] = "–" if value is None else f"{float(value):.1%}"
        rows.append(row)
    return pd.DataFrame(rows).set_index("metric")


def per_person_frame(report: dict) -> pd.DataFrame:
    rows = report.get("per_person") or []
    frame = pd.DataFrame(rows, columns=["person", "precision", "recall", "f1", "support", "train_images"])
    frame["person"] = frame["person"].map(display_name)  # "Colin Powell", as on every other page
    return frame.sort_values(["f1", "person"], ascending=[True, True], kind="stable").reset_index(drop=True)


def accuracy_by_train_images(per_person: pd.DataFrame) -> pd.DataFrame:
    """Per group of people with about as many training images (groups 1, 2, 3-4, 5-9, 10-19, ...:
    a few people have hundreds of images, most a handful): their test accuracy (correct test
    images / test images, i.e. support-weighted recall) and how many people, fewest images first."""
    columns = ["group", "accuracy", "people", "test_images"]
    if per_person.empty:
        return pd.DataFrame(columns=columns)
    edges = charts.log_bins(int(per_person["train_images"].max()))
    frame = per_person.assign(correct=per_person["recall"] * per_person["support"],
                              bin=np.searchsorted(edges, per_person["train_images"].clip(lower=1).to_numpy(), side="right") - 1)
    grouped = frame.groupby("bin").agg(correct=("correct", "sum"), test_images=("support", "sum"),
                                       people=("person", "count")).reset_index().sort_values("bin")
    grouped["group"] = [charts.bin_label(edges[b], edges[b + 1]) for b in grouped["bin"]]
    grouped["accuracy"] = grouped["correct"] / grouped["test_images"].clip(lower=1)
    return grouped[columns].reset_index(drop=True)


def rates_at_threshold(roc: dict, threshold: float) -> tuple[float, float] | None:
    """``(false-accept rate, false-reject rate)`` at the ROC point nearest ``threshold``."""
    thresholds = np.asarray(roc.get("threshold") or [], dtype=float)
    if thresholds.size == 0:
        return None
    i = int(np.argmin(np.abs(thresholds - threshold)))
    far = float(roc["far"][i])
    tar = float(roc["tar"][i])
    return far, 1.0 - tar


# ---- verification and open set ----------------------------------------------------------------
def verification_rules(verification: dict) -> dict[str, dict]:
    """The scoring rules View-2 measured, by name: plain cosine, and cohort-normalised when present."""
    rules = {}
    normalised = verification.get("cohort_normalised")
    if isinstance(normalised, dict) and normalised:
        rules["cohort-normalised"] = normalised
    rules["plain cosine"] = verification
    return rules


def verification_table(rules: dict[str, dict]) -> pd.DataFrame:
    rows = []
    for name, rule in rules.items():
        def pct(key: str) -> str:
            value = rule.get(key)
            return "–" if value is None else f"{float(value):.2%}"

        std = rule.get("accuracy_std")
        rows.append({"score": name,
                     "accuracy": pct("accuracy_mean") + ("" if std is None else f" ± {float(std):.2%}"),
                     "threshold": "–" if rule.get("threshold") is None else f"{float(rule['threshold']):.3f}",
                     "TAR at FAR 0.1%": pct("tar_at_far_0.1%"), "TAR at FAR 1%": pct("tar_at_far_1%"),
                     "pairs": f"{int(rule['n_pairs']):,}" if rule.get("n_pairs") is not None else "–"})
    return pd.DataFrame(rows).set_index("score")


@dataclasses.dataclass
class OpenSetView:
    """An open-set report split into what the page draws; keys it does not know go to ``other``."""

    headline: dict[str, str]
    at_threshold: dict[str, str]
    curve: dict | None
    curve_point: tuple[float, float] | None
    tables: dict[str, list[dict]]
    notes: list[str]
    other: dict


# Shown in this order; any other number in the report follows, labelled from its key.
_HEADLINE = {"threshold": ("Calibrated threshold", "score"), "target_far": ("Target FAR", "rate"),
             "rank1": ("Rank-1 (known people)", "rate"), "dir_at_far_0.01": ("DIR at FAR 1%", "rate"),
             "dir_at_far_0.001": ("DIR at FAR 0.1%", "rate"),
             "threshold_at_far_0.01": ("Threshold for FAR 1%", "score"),
             "threshold_at_far_0.001": ("Threshold for FAR 0.1%", "score"),
             "cohort_weight": ("Cohort weight", "score"),
             "n_known": ("Known probes", "count"), "n_unknown": ("Stranger probes", "count")}
_AT_THRESHOLD = {"far": "Strangers accepted at the threshold", "dir": "Known people named correctly",
                 "known_rejected": "Known people called unknown"}
_TABLES = {"closest_unknowns": "Strangers who came closest to a name",
           "hubs": "Training photos that attract strangers"}


def _format(value, kind: str) -> str:
    if kind == "count" or isinstance(value, bool):
        return f"{value:,}" if isinstance(value, int) else str(value)
    if kind == "rate":
        return f"{float(value):.2%}"
    return f"{float(value):.3f}"


def _guess_kind(key: str, value) -> str:
    if isinstance(value, int):
        return "count"
    if any(w in key for w in ("far", "dir", "rate", "rank", "accuracy")) and "threshold" not in key \
            and 0.0 <= float(value) <= 1.0:
        return "rate"
    return "score"


def split_open_set(open_set: dict) -> OpenSetView:
    """Known keys become headline figures, the curve, tables and notes; any other number is shown
    as a figure too, and anything else is kept for a raw view (newer reports may add keys)."""
    headline, at_threshold, tables, notes, other = {}, {}, {}, [], {}
    curve, point = None, None
    for key, (label, kind) in _HEADLINE.items():
        if isinstance(open_set.get(key), (int, float)):
            headline[label] = _format(open_set[key], kind)
    for key, value in open_set.items():
        if key in _HEADLINE and isinstance(value, (int, float)):
            continue
        elif key == "at_calibrated_threshold" and isinstance(value, dict):
            for k, v in value.items():
                if isinstance(v, (int, float)):
                    label = _AT_THRESHOLD.get(k, plain(k.replace("_", " ")))
                    at_threshold[label] = _format(v, "rate" if k in _AT_THRESHOLD else _guess_kind(k, v))
            if isinstance(value.get("far"), (int, float)) and isinstance(value.get("dir"), (int, float)):
                point = (float(value["far"]), float(value["dir"]))
        elif key == "curve" and isinstance(value, dict) and value.get("far") and value.get("dir"):
            curve = value
        elif key in _TABLES and isinstance(value, list):
            if value:
                tables[_TABLES[key]] = value
        elif key == "calibration" and isinstance(value, str):
            notes.append(f"Threshold calibration: {plain(value)}.")
        elif key == "merged_names" and isinstance(value, list):
            if value:
                merged = "; ".join(" = ".join(plain(display_name(n)) for n in group)
                                   for group in value if isinstance(group, list))
                notes.append(f"LFW files some people under two names; these were treated as one person: {merged}.")
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            headline[plain(key.replace("_", " "))] = _format(value, _guess_kind(key, value))
        else:
            other[key] = value
    return OpenSetView(headline, at_threshold, curve, point, tables, notes, other)


# ---- few photos per person (the gallery without a model) --------------------------------------
CHART_RULES = {fewshot.BEFORE: "ours before: nearest photo", fewshot.SHIPPED: "ours: few-shot rule (default)",
               fewshot.PEER: "face_recognition library"}


RATE_COLUMNS = ["named @ FAR 1%", "named @ FAR 0.1%", "strangers accepted (1% / 0.1%)"]


def _with_rates(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` (few-shot result or size rows) with their rates as the percentages people read."""
    return rows.assign(**{
        RATE_COLUMNS[0]: rows["correct_far_1"].map("{:.1%}".format),
        RATE_COLUMNS[1]: rows["correct_far_01"].map("{:.1%}".format),
        RATE_COLUMNS[2]: [f"{a:.2%} / {b:.2%}" for a, b in zip(rows["far_1"], rows["far_01"])]})


def few_shot_frames(results: dict) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The chart's rows (the rule before, the default and the peer), the full table and the
    face-size table of a published few-shot run, shaped for display."""
    rows = pd.DataFrame(fewshot.result_rows(results))
    chart = rows.assign(rule=rows["rule"].map(CHART_RULES)).dropna(subset=["rule"])
    table = _with_rates(rows).rename(columns={"wrong_01": "wrong names @ 0.1%"})[
        ["rule", "k", "probes", *RATE_COLUMNS, "wrong names @ 0.1%"]]
    sizes = pd.DataFrame(fewshot.size_rows(results))
    if not sizes.empty:
        sizes = _with_rates(sizes)[["rule", "size", "probes", "strangers", *RATE_COLUMNS]]
    return chart, table, sizes


def show_few_shot(backbone: str) -> None:
    """How the gallery does with a few photos per person and no trained model: the published
    few-shot protocol run of ``backbone``, beside the face_recognition library."""
    st.subheader("A few photos per person (the gallery, no trained model)")
    results = fewshot.load_published(backbone)
    if results is None:
        st.info(f"No few-shot figures are published for the {plain(backbone)} backbone "
                "(`python bench/fewshot.py --publish` measures them).")
        return
    p = results["protocol"]
    st.caption(f"LFW few-shot protocol, seed {p['seed']}: {p['people_enrolled']} people enrolled from k photos each "
               f"and probed with their other photos; {p['strangers_choose'] + p['strangers_report']:,} photos of "
               "strangers (never enrolled) — the threshold for each false-accept rate is chosen on one half of them "
               "and the rates are counted on the other. The face_recognition library ran on the same split. "
               "Measured by bench/fewshot.py.")
    chart, table, sizes = few_shot_frames(results)
    st.plotly_chart(charts.few_shot_figure(chart), key="metrics_few_shot")
    st.dataframe(table, hide_index=True, key="metrics_few_shot_table")
    if not sizes.empty:
        st.markdown("**By face size** (3 photos enrolled; probes and strangers downscaled so the face is about "
                    "30 or 60 px; the full-size thresholds)")
        st.dataframe(sizes, hide_index=True, key="metrics_few_shot_sizes")


# ---- the page ---------------------------------------------------------------------------------
settings = page_preamble("Model Metrics", action=Action.VIEW_METRICS, needs_recognizer=False).settings

try:
    manifest, report = model_report(settings)
except ArtifactError as exc:
    st.info(f"**No trained model yet.** {plain(exc)}", icon=":material/monitoring:")
    st.page_link("pages/home.py", label="Train a model on the Home page", icon=":material/home:")
    show_few_shot(settings.backbone)
    st.stop()

data = report.get("data") or {}
protocol = report.get("protocol") or {}
test_size = protocol.get("test_size", 0.2)
split = f"{1 - test_size:.0%}/{test_size:.0%}" if isinstance(test_size, (int, float)) else plain(test_size)
st.caption(f"Held-out evaluation: {plain(data.get('test_images', '?'))} test images of "
           f"{plain(data.get('people', '?'))} people (stratified {split} split, seed {plain(protocol.get('seed', '?'))}, "
           f"people with ≥ {plain(protocol.get('min_images', '?'))} images"
           + (f", top {plain(protocol['max_people'])} people" if protocol.get("max_people") else "")
           + (f", first {plain(protocol['max_images'])} images each" if protocol.get("max_images") else "") + ").")

# ---- the headline table -----------------------------------------------------------------------
st.subheader("Against the original design")
table = comparison_table(report, report.get("original_design") or ORIGINAL_DESIGN)
st.table(table)
if protocol.get("max_people") or protocol.get("max_images"):
    st.caption("This model was trained on a subset of LFW, so its figures do not compare like for like with the "
               "original design's (which used everyone with 2+ images).")

# ---- per person -------------------------------------------------------------------------------
per_person = per_person_frame(report)
st.subheader("Per person")
if per_person.empty:
    st.info("The report holds no per-person figures.")
else:
    st.caption("Click a column header to sort; the hardest people come first.")
    st.dataframe(per_person, hide_index=True, key="metrics_per_person", column_config={
        "person": st.column_config.TextColumn("person"),
        "precision": st.column_config.ProgressColumn("precision", min_value=0.0, max_value=1.0, format="%.2f"),
        "recall": st.column_config.ProgressColumn("recall", min_value=0.0, max_value=1.0, format="%.2f"),
        "f1": st.column_config.ProgressColumn("F1", min_value=0.0, max_value=1.0, format="%.2f"),
        "support": st.column_config.NumberColumn("test images"),
        "train_images": st.column_config.NumberColumn("training images"),
    })
    st.markdown("**Accuracy against training images per person**")
    st.plotly_chart(charts.accuracy_by_train_images_figure(accuracy_by_train_images(per_person)),
                    key="metrics_accuracy_by_images")

# ---- confusions -------------------------------------------------------------------------------
st.subheader("Most confused people")
confused = pd.DataFrame(report.get("most_confused") or [], columns=["true", "predicted", "count"])
confused[["true", "predicted"]] = confused[["true", "predicted"]].map(display_name)
if confused.empty:
    st.success("No test image was given another person's name.")
else:
    left, right = st.columns([2, 3])
    left.dataframe(confused, hide_index=True, key="metrics_confused")
    right.plotly_chart(charts.confusion_figure(confused), key="metrics_confusion")

# ---- verification -----------------------------------------------------------------------------
st.subheader("Verification (LFW View-2)")
verification = report.get("verification")
if not verification:
    st.info("Verification on the LFW pairs was not run for this model (train with pairs.txt available and "
            "verification switched on to see the ROC).")
else:
    rules = verification_rules(verification)
    st.caption("Two photos are called the same person when their score reaches the threshold; each of the "
               "10 folds picks its threshold on the other 9. " + (
                   "The cohort-normalised score (the cosine minus a share of how close both faces are to "
                   "everyone else) is what the Verify page uses." if len(rules) > 1 else ""))
    st.table(verification_table(rules))
    chosen_rule = st.radio("Score", list(rules), horizontal=True, key="metrics_rule") if len(rules) > 1 \
        else next(iter(rules))
    rule = rules[chosen_rule]
    roc = rule.get("roc")
    if roc and roc.get("threshold"):
        chosen = float(rule.get("threshold", 0.5))
        low, high = float(min(roc["threshold"])), float(max(roc["threshold"]))
        threshold = st.slider("Threshold to inspect", low, high, min(max(chosen, low), high), 0.005,
                              key=f"metrics_roc_threshold_{chosen_rule}",
                              help="Starts at the threshold chosen on the folds; move it to see the trade-off.")
        point = rates_at_threshold(roc, threshold)
        if point is not None:
            far, frr = point
            st.markdown(f"At threshold **{threshold:.3f}**: false-accept rate **{far:.2%}** (different people "
                        f"called the same), false-reject rate **{frr:.2%}** (the same person missed).")
        curves = {name: r["roc"] for name, r in rules.items() if (r.get("roc") or {}).get("threshold")}
        st.plotly_chart(charts.roc_figure(curves, chosen_rule, threshold, point), key="metrics_roc")

# ---- open set ---------------------------------------------------------------------------------
open_set = report.get("open_set")
if open_set:
    st.subheader("Open set: telling strangers apart")
    st.caption("A face is named only when its score for the best-matching person reaches the threshold; "
               "otherwise it is 'unknown'. DIR: known people found and named correctly; FAR: strangers "
               "(people with one LFW photo, never trained on) wrongly given a name.")
    parts = split_open_set(open_set)
    for figures in (parts.headline, parts.at_threshold):
        items = list(figures.items())
        for start in range(0, len(items), 4):  # rows of four figures
            for col, (label, value) in zip(st.columns(4), items[start:start + 4]):
                col.metric(label, value)
    if parts.curve is not None:
        st.plotly_chart(charts.dir_far_figure(parts.curve, parts.curve_point), key="metrics_dir_far")
    for title, rows in parts.tables.items():
        st.markdown(f"**{title}**")
        frame = pd.DataFrame(rows)
        for column in {"unknown", "matched", "person"} & set(frame.columns):
            frame[column] = frame[column].map(lambda n: display_name(n) if isinstance(n, str) else n)
        st.dataframe(frame.rename(columns=lambda c: str(c).replace("_", " ")), hide_index=True)
    for line in parts.notes:
        st.caption(line)
    if parts.other:
        with st.expander("More open-set figures"):
            st.json(parts.other, expanded=False)

show_few_shot(settings.backbone)

# ---- manifest ---------------------------------------------------------------------------------
st.subheader("The model")
training = manifest.get("training_data") or {}
rows = {
    "backbone": manifest.get("backbone"),
    "identifier": manifest.get("identifier"),
    "hyperparameters": ", ".join(f"{k}={v}" for k, v in (manifest.get("hyperparameters") or {}).items()) or "–",
    "people": manifest.get("classes"),
    "training images": training.get("images"),
    "data": f"{training.get('source', '?')}, people with ≥ {training.get('min_images', '?')} images",
    "thresholds": ", ".join(f"{k} {v:.3f}" for k, v in (manifest.get("thresholds") or {}).items()),
    "trained": manifest.get("created"),
    "training time": f"{report.get('seconds', '?')} s",
}
st.table(pd.DataFrame({"value": ["–" if v is None else plain(v) for v in rows.values()]}, index=list(rows)))
with st.expander("Full manifest"):
    st.json(manifest, expanded=False)
st.caption(f"Read from {code(settings.artifacts_dir)}. Metrics: " + ", ".join(METRIC_LABELS.values()) + ".")

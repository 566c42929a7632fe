"""Model Metrics: how good the trained model is, against the original design and per person."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import charts
from dashboard.data import (METRIC_LABELS, accuracy_by_train_images, comparison_table, model_report,
                            per_person_frame, rates_at_threshold, split_open_set, verification_rules,
                            verification_table)
from dashboard.resources import get_settings
from facerec_core.errors import ArtifactError
from facerec_core.evaluate import ORIGINAL_DESIGN

settings = get_settings()


st.title("Model Metrics")

try:
    manifest, report = model_report(settings)
except ArtifactError as exc:
    st.info(f"**No metrics to show yet.** {exc}", icon=":material/monitoring:")
    st.page_link("pages/home.py", label="Train a model on the Home page", icon=":material/home:")
    st.stop()

data = report.get("data") or {}
protocol = report.get("protocol") or {}
st.caption(f"Held-out evaluation: {data.get('test_images', '?')} test images of {data.get('people', '?')} people "
           f"(stratified {1 - float(protocol.get('test_size', 0.2)):.0%}/{float(protocol.get('test_size', 0.2)):.0%} "
           f"split, seed {protocol.get('seed', '?')}, people with ≥ {protocol.get('min_images', '?')} images"
           + (f", top {protocol['max_people']} people" if protocol.get("max_people") else "")
           + (f", first {protocol['max_images']} images each" if protocol.get("max_images") else "") + ").")

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
        st.dataframe(pd.DataFrame(rows), hide_index=True)
    for line in parts.notes:
        st.caption(line)
    if parts.other:
        with st.expander("More open-set figures"):
            st.json(parts.other, expanded=False)

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
st.table(pd.DataFrame({"value": ["–" if v is None else str(v) for v in rows.values()]}, index=list(rows)))
with st.expander("Full manifest"):
    st.json(manifest, expanded=False)
st.caption(f"Read from `{settings.artifacts_dir}`. Metrics: " + ", ".join(METRIC_LABELS.values()) + ".")

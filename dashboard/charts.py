"""Plotly figures for the Dataset Explorer and Model Metrics pages, cached with ``st.cache_data``
(inputs are small frames/dicts). Names (LFW folders, a report's people) go through
:func:`dashboard.plain.plotly_text`: Plotly would draw the HTML tags in them."""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from dashboard.plain import plotly_text
from facerec_core.faces import display_name


@st.cache_data(show_spinner=False)
def images_per_person_histogram(counts: pd.Series, min_images: int) -> go.Figure:
    frame = pd.DataFrame({"images per person": counts.to_numpy(),
                          "kept": np.where(counts.to_numpy() >= min_images, f"kept (≥ {min_images})", "left out")})
    fig = px.histogram(frame, x="images per person", color="kept", log_y=True, nbins=int(min(200, counts.max())),
                       color_discrete_map={f"kept (≥ {min_images})": "#2e86de", "left out": "#c8d6e5"},
                       category_orders={"kept": [f"kept (≥ {min_images})", "left out"]})
    fig.update_layout(yaxis_title="people (log scale)", bargap=0.05, legend_title_text="",
                      margin=dict(t=30, b=10), height=360)
    fig.update_yaxes(dtick=1)  # label powers of ten only
    return fig


@st.cache_data(show_spinner=False)
def long_tail_figure(counts: pd.Series, top: int = 30) -> go.Figure:
    head = counts.head(top)
    fig = px.bar(x=[plotly_text(display_name(n)) for n in head.index], y=head.to_numpy(),
                 labels={"x": "", "y": "images"})
    fig.update_layout(margin=dict(t=30, b=10), height=360, xaxis_tickangle=-45)
    return fig


@st.cache_data(show_spinner=False)
def embedding_scatter(frame: pd.DataFrame, method: str) -> go.Figure:
    # Marker shapes only when some faces were assumed rather than detected (else a noisy legend).
    frame = frame.assign(person=frame["person"].map(plotly_text), thumbnail=frame["thumbnail"].map(plotly_text))
    fig = px.scatter(frame, x="x", y="y", color="person", symbol="face" if frame["face"].nunique() > 1 else None,
                     color_discrete_sequence=px.colors.qualitative.Dark24 + px.colors.qualitative.Light24,
                     hover_name="person", hover_data={"thumbnail": True, "x": False, "y": False, "face": True})
    fig.update_traces(marker=dict(size=9, opacity=0.85))
    fig.update_layout(xaxis_title=f"{method} 1", yaxis_title=f"{method} 2", legend_title_text="",
                      margin=dict(t=30, b=10), height=560)
    return fig


@st.cache_data(show_spinner=False)
def accuracy_by_train_images_figure(grouped: pd.DataFrame) -> go.Figure:
    fig = px.scatter(grouped, x="train_images", y="accuracy", size="people", size_max=24,
                     hover_data={"people": True, "test_images": True},
                     labels={"train_images": "training images per person", "accuracy": "test accuracy"})
    fig.add_trace(go.Scatter(x=grouped["train_images"], y=grouped["accuracy"], mode="lines",
                             line=dict(color="rgba(46,134,222,0.4)"), showlegend=False, hoverinfo="skip"))
    fig.update_layout(yaxis_range=[-0.05, 1.05], margin=dict(t=30, b=10), height=380, showlegend=False)
    span = float(grouped["train_images"].max() - grouped["train_images"].min()) if len(grouped) else 0.0
    fig.update_xaxes(dtick=max(1, int(np.ceil(span / 10))), tickformat="d")  # whole images only
    return fig


@st.cache_data(show_spinner=False)
def confusion_figure(pairs: pd.DataFrame) -> go.Figure:
    """Heat map of the most frequent (true, predicted) mistakes."""
    pairs = pairs.assign(true=pairs["true"].map(plotly_text), predicted=pairs["predicted"].map(plotly_text))
    matrix = pairs.pivot_table(index="true", columns="predicted", values="count", aggfunc="sum", fill_value=0)
    fig = px.imshow(matrix, text_auto=True, color_continuous_scale="Reds", aspect="auto",
                    labels={"x": "predicted as", "y": "true person", "color": "test images"})
    fig.update_layout(margin=dict(t=30, b=10), height=max(320, 28 * len(matrix) + 160))
    return fig


@st.cache_data(show_spinner=False)
def roc_figure(curves: dict[str, dict], marked: str, threshold: float,
               point: tuple[float, float] | None) -> go.Figure:
    """ROC curves (``name → {threshold, far, tar}``) with ``point`` (FAR, FRR) marked on ``marked``."""
    fig = go.Figure()
    for name, roc in curves.items():
        fig.add_trace(go.Scatter(
            x=roc["far"], y=roc["tar"], mode="lines", name=name, customdata=roc["threshold"],
            line=dict(width=3 if name == marked else 1.5),
            hovertemplate="FAR %{x:.3%}<br>TAR %{y:.3%}<br>threshold %{customdata:.3f}<extra></extra>"))
    if point is not None:
        far, frr = point
        fig.add_trace(go.Scatter(x=[far], y=[1 - frr], mode="markers", name=f"threshold {threshold:.3f}",
                                 marker=dict(size=13, color="#e74c3c", symbol="x")))
    # Log scale: the low false-accept rates are the ones that matter (0 itself cannot be drawn).
    fig.update_layout(xaxis_title="false-accept rate (log scale)", yaxis_title="true-accept rate", xaxis_type="log",
                      margin=dict(t=30, b=10), height=420, legend=dict(x=0.55, y=0.1))
    fig.update_xaxes(dtick=1, tickformat=".1%")
    return fig


@st.cache_data(show_spinner=False)
def dir_far_figure(curve: dict, point: tuple[float, float] | None) -> go.Figure:
    """Open-set DIR (known people found and named) against FAR (strangers accepted)."""
    fig = go.Figure(go.Scatter(x=curve["far"], y=curve["dir"], mode="lines", name="DIR / FAR",
                               hovertemplate="FAR %{x:.2%}<br>DIR %{y:.2%}<extra></extra>"))
    if point is not None:
        fig.add_trace(go.Scatter(x=[point[0]], y=[point[1]], mode="markers", name="calibrated threshold",
                                 marker=dict(size=13, color="#e74c3c", symbol="x")))
    fig.update_layout(xaxis_title="strangers accepted (FAR)", yaxis_title="known people named correctly (DIR)",
                      yaxis_range=[-0.02, 1.02], margin=dict(t=30, b=10), height=380, legend=dict(x=0.6, y=0.1))
    fig.update_xaxes(tickformat=".0%")
    return fig

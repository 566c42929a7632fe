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


def log_bins(largest: int) -> list[int]:
    """Bin edges 1, 2, 3, 5, 10, 20, 50, 100, ... up to past ``largest``: bins of equal width on a
    log axis, each of whole numbers ``[edge, next edge)``."""
    edges, decade = [1, 2, 3, 5], 1
    while edges[-1] <= largest:
        decade *= 10
        edges.extend((2 * decade, 5 * decade) if decade > 1 else ())
        edges.insert(len(edges) - 2, decade)
    while len(edges) > 2 and edges[-2] > largest:
        edges.pop()
    return edges


def bin_label(lo: int, hi: int) -> str:
    """``"1"``, ``"5-9"``: the whole numbers in ``[lo, hi)``."""
    return f"{lo}" if hi - lo == 1 else f"{lo}-{hi - 1}"


@st.cache_data(show_spinner=False)
def images_per_person_histogram(counts: pd.Series, min_images: int) -> go.Figure:
    """People per number of images, on log axes: LFW has 4,069 people with one image and one with
    530, so on a linear axis every bar but the first is crushed against the left edge."""
    values = counts.to_numpy()
    edges = log_bins(int(values.max()) if len(values) else 1)
    kept_name, out_name = f"kept (≥ {min_images})", "left out"
    fig = go.Figure()
    tallest = max(1, int(np.histogram(values, bins=edges)[0].max()))  # the bars are stacked
    for name, mask, colour in ((kept_name, values >= min_images, "#2e86de"), (out_name, values < min_images, "#c8d6e5")):
        people = np.histogram(values[mask], bins=edges)[0]
        lo, hi = np.asarray(edges[:-1]), np.asarray(edges[1:])
        # Bars drawn from each bin's lower edge to its upper one (a log axis has no fixed width).
        fig.add_trace(go.Bar(x=np.sqrt(lo * hi), y=np.where(people > 0, people, None), width=hi - lo,
                             name=name, marker_color=colour, marker_line=dict(width=1, color="white"),
                             customdata=[bin_label(a, b) for a, b in zip(lo, hi)],
                             hovertemplate="%{customdata} images: %{y:,} people<extra>" + name + "</extra>"))
    fig.update_layout(barmode="stack", xaxis_title="images per person (log scale)", yaxis_title="people (log scale)",
                      legend_title_text="", margin=dict(t=30, b=10), height=360, bargap=0)
    fig.update_xaxes(type="log", range=[0, np.log10(edges[-1])], tickvals=[1, 2, 5, 10, 20, 50, 100, 200, 500, 1000])
    # Plotly's autorange cuts the tallest bar on a log axis: from under 1 person to above the top.
    fig.update_yaxes(type="log", dtick=1, range=[-0.2, np.log10(tallest) + 0.25])  # label powers of ten only
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


def rate_range(values, *, floor: float = 0.0, pad: float = 0.1, min_span: float = 0.1) -> list[float]:
    """A y range for rates that ends just above 1 and starts a little under the smallest value
    shown: curves that all sit between 0.95 and 1 would be a flat line at the top of 0-1. At least
    ``min_span`` tall, so that all-perfect figures do not get ticks 99.9%, 100%, 100%..."""
    values = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    low = float(values.min()) if values.size else 0.0
    span = max(1.0 - low, min_span)
    return [max(floor, 1.0 - span - pad * span), 1.0 + 0.04 * span]


@st.cache_data(show_spinner=False)
def accuracy_by_train_images_figure(grouped: pd.DataFrame) -> go.Figure:
    """Test accuracy per group of people with about as many training images (``grouped``: one row
    per group, columns ``group``, ``accuracy``, ``people``, ``test_images``, in order). Groups
    widen logarithmically, the y axis is zoomed to the accuracies and each dot says how many
    people it holds: one dot per exact count was a blob at 1.0 with ticks at 43, 86, 129."""
    text = [f"{int(p):,} {'person' if int(p) == 1 else 'people'}" for p in grouped["people"]]
    fig = go.Figure(go.Scatter(
        x=grouped["group"], y=grouped["accuracy"], mode="lines+markers+text", text=text, textposition="bottom center",
        marker=dict(size=11, color="#2e86de"), line=dict(color="rgba(46,134,222,0.4)"),
        customdata=np.stack([grouped["people"], grouped["test_images"]], axis=-1) if len(grouped) else None,
        hovertemplate="%{x} training images: accuracy %{y:.1%}<br>%{customdata[0]} people, "
                      "%{customdata[1]} test images<extra></extra>"))
    fig.update_layout(xaxis_title="training images per person", yaxis_title="test accuracy", margin=dict(t=30, b=60),
                      height=380, showlegend=False)
    fig.update_xaxes(type="category")
    fig.update_yaxes(range=rate_range(grouped["accuracy"], pad=0.35), tickformat=".0%")
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


def log_rate_range(rates, *, fallback: float = 1e-3) -> list[float]:
    """A log-axis range (in powers of ten) from the smallest non-zero rate to 1."""
    positive = [r for r in rates if r is not None and r > 0]
    low = min(positive) if positive else fallback
    return [float(np.floor(np.log10(low) * 2) / 2), 0.0]


def _visible(xs, ys, low_log10: float) -> list[float]:
    """The ``ys`` whose ``xs`` fall inside a log x axis that starts at ``10 ** low_log10``."""
    return [y for x, y in zip(xs, ys) if x is not None and x >= 10 ** low_log10]


@st.cache_data(show_spinner=False)
def roc_figure(curves: dict[str, dict], marked: str, threshold: float,
               point: tuple[float, float] | None) -> go.Figure:
    """ROC curves (``name → {threshold, far, tar}``) with ``point`` (FAR, FRR) marked on ``marked``.

    FAR on a log axis (the low false-accept rates are the ones that matter; 0 cannot be drawn),
    and the TAR axis zoomed to what the curves reach there: good models sit above 95%, a flat
    line at the top of a 0-100% axis."""
    fig = go.Figure()
    x_range = log_rate_range([f for roc in curves.values() for f in roc["far"]])
    shown = []
    for name, roc in curves.items():
        shown += _visible(roc["far"], roc["tar"], x_range[0])
        fig.add_trace(go.Scatter(
            x=roc["far"], y=roc["tar"], mode="lines", name=name, customdata=roc["threshold"],
            line=dict(width=3 if name == marked else 1.5),
            hovertemplate="FAR %{x:.3%}<br>TAR %{y:.3%}<br>threshold %{customdata:.3f}<extra></extra>"))
    if point is not None:
        far, frr = point
        shown.append(1 - frr)
        fig.add_trace(go.Scatter(x=[max(far, 10 ** x_range[0])], y=[1 - frr], mode="markers",
                                 name=f"threshold {threshold:.3f}" + (" (FAR 0)" if far <= 0 else ""),
                                 marker=dict(size=13, color="#e74c3c", symbol="x")))
    fig.update_layout(xaxis_title="false-accept rate (log scale)", yaxis_title="true-accept rate",
                      margin=dict(t=30, b=60), height=420, legend=dict(x=0.55, y=0.1))
    fig.update_xaxes(type="log", range=x_range, dtick=1, tickformat=".1%")
    fig.update_yaxes(range=rate_range(shown, min_span=0.02), tickformat=".1%")
    return fig


@st.cache_data(show_spinner=False)
def dir_far_figure(curve: dict, point: tuple[float, float] | None) -> go.Figure:
    """Open-set DIR (known people found and named) against FAR (strangers accepted): FAR on a log
    axis (0.1% and 1% are the operating points that matter), DIR zoomed to its range there."""
    x_range = log_rate_range(curve["far"])
    shown = _visible(curve["far"], curve["dir"], x_range[0])
    fig = go.Figure(go.Scatter(x=curve["far"], y=curve["dir"], mode="lines", name="DIR / FAR",
                               hovertemplate="FAR %{x:.2%}<br>DIR %{y:.2%}<extra></extra>"))
    if point is not None:
        shown.append(point[1])
        fig.add_trace(go.Scatter(x=[max(point[0], 10 ** x_range[0])], y=[point[1]], mode="markers",
                                 name="calibrated threshold", marker=dict(size=13, color="#e74c3c", symbol="x")))
    fig.update_layout(xaxis_title="strangers accepted (FAR, log scale)",
                      yaxis_title="known people named correctly (DIR)",
                      margin=dict(t=30, b=60), height=380, legend=dict(x=0.6, y=0.1))
    fig.update_xaxes(type="log", range=x_range, dtick=1, tickformat=".1%")
    fig.update_yaxes(range=rate_range(shown), tickformat=".0%")
    return fig


@st.cache_data(show_spinner=False)
def few_shot_figure(rows: pd.DataFrame) -> go.Figure:
    """Correct-name rate at a 0.1% false-accept rate per number of enrolled photos, one bar group
    per ``k`` and one bar per rule (``rows``: columns ``rule``, ``k``, ``correct_far_01``; the rule
    before first, ours second, the peer third), each bar labelled with its value: the few-shot
    protocol's headline at a glance."""
    fig = go.Figure()
    palette = ["#9aa5b1", "#2e86de", "#e17055", "#00b894"]  # before (grey), ours (blue), the peer (orange)
    for (rule, group), colour in zip(rows.groupby("rule", sort=False), palette * len(rows)):
        fig.add_trace(go.Bar(
            name=plotly_text(rule), marker_color=colour, x=[f"{k} photo{'s' if k > 1 else ''}" for k in group["k"]],
            y=group["correct_far_01"], text=[f"{v:.0%}" for v in group["correct_far_01"]], textposition="outside",
            hovertemplate="%{x} enrolled: %{y:.1%} of probes named correctly<extra>" + plotly_text(rule) + "</extra>"))
    fig.update_layout(barmode="group", xaxis_title="photos enrolled per person",
                      yaxis_title="named correctly at 0.1% false accepts", height=400, margin=dict(t=30, b=60),
                      legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0))
    fig.update_yaxes(range=[0, 1.12], tickformat=".0%")
    return fig


SOURCE_COLOURS = {"recognize": "#2e86de", "live": "#00b894", "cli": "#e17055", "api": "#6c5ce7"}


def sightings_timeline(frame: pd.DataFrame) -> go.Figure:
    """Who was seen when: one row per person (unknown faces on their own row, at the bottom), one
    dot per sighting coloured by where it came from (``frame``: columns ``time`` (datetime),
    ``who``, ``source``, ``score``)."""
    fig = go.Figure()
    order = list(frame.groupby("who")["time"].count().sort_values().index)
    if "unknown" in order:  # unknown faces at the bottom, people by how often they were seen
        order = ["unknown"] + [w for w in order if w != "unknown"]
    for source, group in frame.groupby("source", sort=True):
        fig.add_trace(go.Scatter(
            x=group["time"], y=[plotly_text(w) for w in group["who"]], mode="markers", name=plotly_text(source),
            marker=dict(size=10, color=SOURCE_COLOURS.get(source, "#636e72"), line=dict(width=1, color="white")),
            customdata=group["score"].fillna(float("nan")),
            hovertemplate="%{y}<br>%{x|%Y-%m-%d %H:%M:%S}<br>score %{customdata:.3f}<extra>%{fullData.name}</extra>"))
    fig.update_layout(height=max(260, 60 + 32 * len(order)), margin=dict(t=30, b=40, l=10, r=10),
                      xaxis_title="time (UTC)", yaxis_title=None,
                      legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0, title_text="source"))
    fig.update_yaxes(categoryorder="array", categoryarray=[plotly_text(w) for w in order])
    return fig

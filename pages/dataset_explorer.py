"""Dataset Explorer: LFW statistics, a person search, and the embedding space of the top people."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import charts
from dashboard.data import lfw_people
from dashboard.page import page_preamble
from dashboard.plain import plain
from facerec_core.access import Action
from facerec_core.embeddings import extract_embeddings
from facerec_core.errors import DatasetError, FacerecError
from facerec_core.faces import display_name


# ---- tables for the charts --------------------------------------------------------------------
def image_counts(people: dict[str, list[str]]) -> pd.Series:
    """Images per person, most first (ties by name)."""
    counts = pd.Series({name: len(paths) for name, paths in people.items()}, name="images", dtype="int64")
    counts.index.name = "person"
    return counts.sort_index().sort_values(ascending=False, kind="stable")


def images_label(n: int) -> str:
    """``"1 image"``, ``"236 images"``."""
    return f"{int(n):,} image{'s' if int(n) != 1 else ''}"


def filter_summary(counts: pd.Series, min_images: int) -> dict[str, float]:
    """What "people with at least ``min_images`` images" keeps."""
    kept = counts[counts >= min_images]
    return {"people": int(len(kept)), "images": int(kept.sum()),
            "people_share": float(len(kept) / max(1, len(counts))),
            "images_share": float(kept.sum() / max(1, counts.sum()))}


def search_people(counts: pd.Series, query: str, limit: int = 50) -> list[str]:
    """Names containing every word of ``query`` (case-insensitive; spaces match underscores),
    most images first (ties by name): "powell" is Colin Powell (236 images) before Alma Powell (1),
    the person a searcher most likely means and the one with most to look at."""
    words = [w for w in query.lower().replace("_", " ").split() if w]
    if not words:
        return []
    hits = [n for n in counts.index if all(w in n.lower().replace("_", " ") for w in words)]
    return sorted(hits, key=lambda n: (-int(counts[n]), n))[:limit]


def top_people_samples(people: dict[str, list[str]], k: int, per_person: int) -> tuple[list[str], list[str]]:
    """Paths and labels of the first ``per_person`` images of the ``k`` people with most images."""
    top = image_counts(people).index[:k]
    paths, labels = [], []
    for name in top:
        chosen = people[name][:per_person]
        paths.extend(chosen)
        labels.extend([name] * len(chosen))
    return paths, labels


@st.cache_data(max_entries=16, show_spinner=False)  # the page's spinner says how long it takes
def project_embeddings(embeddings: np.ndarray, method: str, seed: int = 0) -> np.ndarray:
    """``(n, 2)`` coordinates of unit embeddings by PCA or t-SNE (cached)."""
    from facerec_core.evaluate import project_2d

    return project_2d(embeddings, method, seed)


def projection_time(n: int, method: str = "t-SNE") -> str:
    """How long projecting ``n`` embeddings takes, in words: ``"25 s"``, ``"2 min"``."""
    from facerec_core.evaluate import projection_seconds

    seconds = projection_seconds(n, method)
    if seconds < 1:
        return "a second"
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


FACE_STATUS = {"ok": "detected", "assumed": "assumed (centre box)"}


def embedding_frame(coords: np.ndarray, paths: list[str], labels: list[str], status: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"x": coords[:, 0], "y": coords[:, 1], "person": [display_name(n) for n in labels],
                         "thumbnail": paths, "face": [FACE_STATUS.get(s, s) for s in status]})


# ---- the page ---------------------------------------------------------------------------------
settings = page_preamble(
    "Dataset Explorer",
    "Labeled Faces in the Wild (LFW): who is in it, how unevenly, and how the model sees them.",
    action=Action.VIEW_DATASET, needs_recognizer=False).settings

if settings.lfw_dir is None:
    st.info("No LFW folder is configured. Set `FACEREC_LFW_DIR` to a folder in the LFW layout "
            "(`<root>/<Person_Name>/<Person_Name>_0001.jpg`) and restart the dashboard.",
            icon=":material/folder_off:")
    st.stop()
try:
    people = lfw_people(str(settings.lfw_dir))
except DatasetError as exc:
    st.error(f"The LFW folder cannot be used: {plain(exc)}", icon=":material/folder_off:")
    st.stop()
counts = image_counts(people)

# ---- statistics -------------------------------------------------------------------------------
st.subheader("At a glance")
singles = int((counts == 1).sum())
overview = st.columns(4)
overview[0].metric("Images", f"{int(counts.sum()):,}")
overview[1].metric("People", f"{len(counts):,}")
overview[2].metric("People with one image", f"{singles:,}", help="They can be tested against but not learned")
overview[3].metric("Most images of one person", f"{int(counts.iloc[0]):,}",
                   help=plain(display_name(counts.index[0])))

min_images = st.slider("Keep people with at least N images", 1, 100, 2, key="explorer_min_images",
                       help="The original design trained on everyone with 2 or more images")
kept = filter_summary(counts, min_images)
kept_cols = st.columns(2)
kept_cols[0].metric(f"People with ≥ {min_images}", f"{kept['people']:,}", f"{kept['people_share']:.1%} of people",
                    delta_color="off", delta_arrow="off")
kept_cols[1].metric("Their images", f"{kept['images']:,}", f"{kept['images_share']:.1%} of images",
                    delta_color="off", delta_arrow="off")

charts_cols = st.columns(2)
with charts_cols[0]:
    st.markdown("**Images per person**")
    st.plotly_chart(charts.images_per_person_histogram(counts, min_images), key="explorer_histogram")
with charts_cols[1]:
    top_share = counts.head(30).sum() / counts.sum()
    st.markdown(f"**The long tail**: the 30 best-covered people hold {top_share:.0%} of the images; "
                f"{singles / len(counts):.0%} of people have a single one.")
    st.plotly_chart(charts.long_tail_figure(counts, 30), key="explorer_long_tail")

# ---- person search ----------------------------------------------------------------------------
st.subheader("Find a person")
query = st.text_input("Name", placeholder="e.g. powell, serena, tony blair", key="explorer_query")
if query:
    matches = search_people(counts, query)
    if not matches:
        st.info(f"Nobody in LFW matches “{plain(query)}”.")
    else:
        label = f"{len(matches)} match{'es' if len(matches) != 1 else ''}, most images first"
        person = st.selectbox(label, matches, format_func=lambda n: f"{display_name(n)} ({images_label(counts[n])})",
                              key="explorer_person")
        paths = people[person]
        shown = paths[:30]
        # Captions: the image number, as LFW's protocol files cite it (Colin_Powell_0001.jpg → 0001).
        st.image(shown, width=110, caption=[plain(p.rsplit("_", 1)[-1].split(".")[0]) for p in shown])
        if len(paths) > len(shown):
            st.caption(f"The first {len(shown)} of {len(paths)} images.")

# ---- embedding space --------------------------------------------------------------------------
st.subheader("The embedding space")
st.caption("Each dot is one photo's face embedding, projected to 2-D. Photos of the same person should cluster; "
           "overlapping clusters are people the model may confuse.")
controls = st.columns(3)
top_k = controls[0].number_input("People (most images first)", 2, 50, 10, key="explorer_k")
per_person = controls[1].number_input("Images per person", 2, 100, 20, key="explorer_per_person")
method = controls[2].radio("Projection", ["PCA", "t-SNE"], horizontal=True, key="explorer_method")
if method == "t-SNE":
    most = int(top_k) * int(per_person)
    st.caption(f"t-SNE on up to {most:,} photos takes about {projection_time(most)} on this machine (PCA: under a "
               "second). A map once drawn is kept: showing it again is instant.")
if st.button("Show the embedding map", icon=":material/scatter_plot:"):
    st.session_state["explorer_map"] = True

if st.session_state.get("explorer_map"):
    paths, labels = top_people_samples(people, int(top_k), int(per_person))
    bar = st.progress(0.0, text=f"Embedding {len(paths)} photos (cached ones are instant)…")
    try:
        emb = extract_embeddings(paths, settings, progress=lambda done, total: bar.progress(
            done / max(1, total), text=f"Embedding new photos: {done}/{total}"))
    except FacerecError as exc:
        bar.empty()
        st.error(f"The embeddings could not be computed: {plain(exc)}")
        st.stop()
    bar.empty()
    usable = emb.usable
    n_usable = int(np.count_nonzero(usable))
    with st.spinner(f"Projecting {n_usable:,} embeddings with {method} (about {projection_time(n_usable, method)})…",
                    show_time=True):
        coords = project_embeddings(emb.embeddings[usable], method)
    frame = embedding_frame(coords, [p for p, u in zip(paths, usable) if u],
                            [n for n, u in zip(labels, usable) if u], list(np.asarray(emb.status)[usable]))
    st.plotly_chart(charts.embedding_scatter(frame, method), key="explorer_embeddings")
    counts_by_status = emb.counts()
    st.caption(f"{len(frame)} of {len(paths)} photos: {counts_by_status['ok']} with a detected face, "
               f"{counts_by_status['assumed']} where the central box was assumed (no detection), "
               f"{counts_by_status['no_face'] + counts_by_status['error']} left out.")

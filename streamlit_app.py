"""facerec dashboard: navigation only. Each page lives in pages/; run with `make run`."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from dashboard.icon import favicon
from dashboard.resources import warm_up_recognizer

PAGES_DIR = Path(__file__).resolve().parent / "pages"


def _page(file: str, title: str, icon: str, **kwargs) -> st.Page | None:
    """A page, or None when its file is not there (pages written separately may be missing)."""
    path = PAGES_DIR / file
    return st.Page(path, title=title, icon=icon, **kwargs) if path.is_file() else None


def main() -> None:
    # The tab icon is an image served by this server: a ":material/...:" one (here or, without
    # one here, each page's) makes the browser fetch it from fonts.gstatic.com (dashboard/icon.py).
    st.set_page_config(page_title="facerec", page_icon=favicon(), layout="wide")
    # The first visitor of any page starts the models loading, so Recognize, Verify and Live
    # Webcam open without a minute's wait (dashboard/resources.py).
    warm_up_recognizer()
    sections = {
        "": [_page("home.py", "Home", ":material/home:", default=True)],
        "Recognize": [
            _page("recognize.py", "Recognize", ":material/photo_camera:"),
            _page("verify.py", "Verify", ":material/compare:"),
            _page("gallery.py", "Gallery", ":material/group_add:"),
            _page("live_webcam.py", "Live Webcam", ":material/videocam:"),
        ],
        "Understand": [
            _page("dataset_explorer.py", "Dataset Explorer", ":material/dataset:"),
            _page("model_metrics.py", "Model Metrics", ":material/monitoring:"),
        ],
    }
    st.navigation({name: [p for p in pages if p is not None] for name, pages in sections.items()}).run()


# Streamlit installs this file as the __main__ module, so the worker processes that bulk embedding
# starts with multiprocessing's "spawn" re-run it as __mp_main__: they must not build the app.
if __name__ != "__mp_main__":
    main()

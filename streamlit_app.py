"""facerec dashboard: sign-in and navigation only. Each page lives in pages/; run with `make run`."""
from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import streamlit as st

from dashboard.auth import get_access, may, require_sign_in, sidebar
from dashboard.icon import favicon
from dashboard.resources import get_settings, warm_up_recognizer
from facerec_core.access import Action

PAGES_DIR = Path(__file__).resolve().parent / "pages"


class PageSpec(NamedTuple):
    file: str
    title: str
    icon: str
    action: Action  # what opening it is; the page's own guard checks it (dashboard/page.py)


SECTIONS: dict[str, list[PageSpec]] = {
    "": [PageSpec("home.py", "Home", ":material/home:", Action.VIEW_HOME)],
    "Recognize": [
        PageSpec("recognize.py", "Recognize", ":material/photo_camera:", Action.RECOGNIZE),
        PageSpec("verify.py", "Verify", ":material/compare:", Action.VERIFY),
        PageSpec("gallery.py", "Gallery", ":material/group_add:", Action.VIEW_GALLERY),
        PageSpec("live_webcam.py", "Live Webcam", ":material/videocam:", Action.LIVE_WEBCAM),
        PageSpec("authenticate.py", "Authenticate", ":material/verified_user:", Action.AUTHENTICATE),
        PageSpec("history.py", "History", ":material/history:", Action.VIEW_HISTORY),
    ],
    "Understand": [
        PageSpec("dataset_explorer.py", "Dataset Explorer", ":material/dataset:", Action.VIEW_DATASET),
        PageSpec("model_metrics.py", "Model Metrics", ":material/monitoring:", Action.VIEW_METRICS),
    ],
    "Administer": [
        PageSpec("accounts.py", "Accounts", ":material/manage_accounts:", Action.MANAGE_USERS),
        PageSpec("audit.py", "Audit", ":material/policy:", Action.VIEW_AUDIT),
    ],
}


def _page(spec: PageSpec, **kwargs) -> st.Page | None:
    """A page, or None when its file is not there (pages written separately may be missing)."""
    path = PAGES_DIR / spec.file
    return st.Page(path, title=spec.title, icon=spec.icon, **kwargs) if path.is_file() else None


def main() -> None:
    # The tab icon is an image served by this server: a ":material/...:" one (here or, without
    # one here, each page's) makes the browser fetch it from fonts.gstatic.com (dashboard/icon.py).
    st.set_page_config(page_title="facerec", page_icon=favicon(), layout="wide")
    # Every page is routable for everyone: a URL typed by a role that may not open it reaches the
    # page, whose guard says "not allowed" (dashboard/page.py). The sidebar lists only the pages
    # the signed-in role may open.
    pages = {name: [(spec, _page(spec, default=spec.file == "home.py")) for spec in specs]
             for name, specs in SECTIONS.items()}
    navigation = st.navigation({name: [p for _, p in entries if p is not None] for name, entries in pages.items()},
                               position="hidden")
    settings = get_settings()
    access = get_access(settings)
    if access is None:
        st.stop()
    principal = require_sign_in(settings, access)  # or the sign-in form, and stop
    # The first signed-in visitor of any page starts the models loading, so Recognize, Verify and
    # Live Webcam open without a minute's wait (dashboard/resources.py); a visitor who has not
    # signed in makes the server load nothing.
    warm_up_recognizer()
    with st.sidebar:
        for name, entries in pages.items():
            shown = [(spec, page) for spec, page in entries if page is not None and may(principal, spec.action)]
            if not shown:
                continue
            if name:
                st.caption(name)
            for spec, page in shown:
                st.page_link(page, label=spec.title, icon=spec.icon)
        st.divider()
    sidebar(principal, access)
    navigation.run()


# Streamlit installs this file as the __main__ module, so the worker processes that bulk embedding
# starts with multiprocessing's "spawn" re-run it as __mp_main__: they must not build the app.
if __name__ != "__mp_main__":
    main()

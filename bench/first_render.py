"""How long the first visit to Recognize takes on a freshly started dashboard.

Starts ``streamlit run streamlit_app.py`` (from ``--root``, default this checkout) on a free
port, opens Debian's Chromium at the Home page, waits ``--read-s`` seconds (a visitor reading
it), clicks Recognize in the sidebar and prints the seconds until its upload prompt shows; with
``--direct``, the browser opens Recognize first instead. Each run is a new server process, so
the models are loaded from scratch (the operating system's file cache stays warm).

    python bench/first_render.py                    # Home, 20 s, then Recognize
    python bench/first_render.py --direct           # Recognize as the very first page
    python bench/first_render.py --root /tmp/old    # the same for another checkout
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.app.conftest import chromium_page, streamlit_server  # noqa: E402

PROMPT = "Upload one or more photos to start."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="checkout whose streamlit_app.py to run")
    parser.add_argument("--read-s", type=float, default=20.0, help="seconds on Home before Recognize")
    parser.add_argument("--direct", action="store_true", help="open Recognize first")
    parser.add_argument("--log", type=Path, default=Path("/tmp/first_render_streamlit.log"))
    args = parser.parse_args()
    env = dict(os.environ)
    with streamlit_server(env, args.log, app=args.root / "streamlit_app.py") as url, \
            chromium_page([], {"width": 1400, "height": 1000}) as page:
        if args.direct:
            start = time.monotonic()
            page.goto(f"{url}/recognize")
        else:
            page.goto(url)
            page.locator('[data-testid="stSidebarNav"]').wait_for()
            page.wait_for_timeout(args.read_s * 1000)
            start = time.monotonic()
            page.get_by_role("link", name="Recognize").first.click()
        page.get_by_text(PROMPT).first.wait_for(timeout=300_000)
        seconds = time.monotonic() - start
    how = "opened first" if args.direct else f"after {args.read_s:.0f} s on Home"
    print(f"{args.root}: Recognize {how}: {seconds:.1f} s to its upload prompt")


if __name__ == "__main__":
    main()

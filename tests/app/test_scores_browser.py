"""Issue #13 (4, 7) in Chromium: a group photo on Recognize is drawn across the page with numbered
boxes, and picking a face outlines it; Verify shows the strict rule with its measured false-accept
rate and what the score means. Screenshots go to the test's tmp_path (and to FACEREC_SHOTS_DIR
when set, to be looked at)."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from facerec_core.images import load_image
from tests.app.conftest import chromium_page, encode, goto_signed_in, streamlit_server
from tests.app.test_browser import BUSY, _check_and_shoot, _settle  # noqa: F401
from tests.conftest import lfw_photo

pytestmark = pytest.mark.browser


@pytest.fixture()
def server(trained_env, tmp_path, run_env):
    with streamlit_server(run_env, tmp_path / "streamlit.log") as url:
        yield url


def test_group_photo_and_verify_rules_in_chromium(server, tmp_path, lfw_dir):
    shots = tmp_path / "shots"
    shots.mkdir()
    people = [("Colin_Powell", 30), ("Tony_Blair", 50), ("Aaron_Eckhart", 1), ("Donald_Rumsfeld", 40)]
    group = tmp_path / "group.png"
    group.write_bytes(encode(np.concatenate([load_image(lfw_photo(lfw_dir, n, i)) for n, i in people], axis=1)))
    with chromium_page([], {"width": 1400, "height": 1800}) as page:
        goto_signed_in(page, f"{server}/recognize", "operator")  # an operator recognizes and verifies
        page.get_by_text("Upload one or more photos to start.").wait_for()
        page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(str(group))
        page.get_by_text("Numbers on the boxes are the rows of the table").wait_for()
        _settle(page)
        photo = page.locator('[data-testid="stImage"] img').first
        main = page.locator('[data-testid="stMainBlockContainer"]')
        # across the page: nearly the main column's width, not a 450 px thumbnail
        assert photo.bounding_box()["width"] >= 0.9 * (main.bounding_box()["width"] - 120)
        assert photo.bounding_box()["width"] > 700
        _check_and_shoot(page, shots, "recognize_group")
        page.get_by_role("combobox", name="Highlight face").click()
        page.get_by_role("option").nth(2).click()  # face 2
        page.get_by_text("Face 2:").first.wait_for()
        _settle(page)
        assert page.locator('[data-testid="stImage"] img').count() == 2  # the photo and face 2 enlarged
        _check_and_shoot(page, shots, "recognize_highlight")

        goto_signed_in(page, f"{server}/verify", "operator")
        page.get_by_text("Upload a photo on each side").wait_for()
        inputs = page.locator('[data-testid="stFileUploader"] input[type="file"]')
        inputs.nth(0).set_input_files(str(lfw_photo(lfw_dir, "Colin_Powell", 1)))
        inputs.nth(1).set_input_files(str(lfw_photo(lfw_dir, "Tony_Blair", 3)))
        page.locator('[data-testid="stMetricValue"]', has_text="Different people").wait_for()
        _settle(page)
        assert page.get_by_text("accepted 0.10% of different-person pairs", exact=False).count() >= 1
        assert page.get_by_text("-1 to 1", exact=False).count() >= 1
        _check_and_shoot(page, shots, "verify_strict")
    keep = os.environ.get("FACEREC_SHOTS_DIR")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        for shot in shots.iterdir():
            shutil.copy(shot, Path(keep) / shot.name)

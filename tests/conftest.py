"""Shared fixtures. Real data comes from FACEREC_LFW_DIR (the Makefile points it at
../shared/data/lfw); tests that need it are skipped with a clear reason when it is not set."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from facerec_core.settings import Settings

# People in the small model trained once per test session: the 8 with most images, first 12 each.
TEST_PEOPLE = 8
TEST_IMAGES_PER_PERSON = 12


def _lfw_dir() -> Path | None:
    value = os.environ.get("FACEREC_LFW_DIR")
    return Path(value) if value and Path(value).is_dir() else None


@pytest.fixture(scope="session")
def lfw_dir() -> Path:
    path = _lfw_dir()
    if path is None:
        pytest.skip("FACEREC_LFW_DIR is not set to an LFW folder (make test sets it to ../shared/data/lfw)")
    return path


@pytest.fixture(scope="session")
def lfw_protocol_dir(lfw_dir) -> Path:
    value = os.environ.get("FACEREC_LFW_PROTOCOL_DIR")
    path = Path(value) if value else lfw_dir.parent / "lfw_protocol"
    if not (path / "pairs.txt").is_file():
        pytest.skip("FACEREC_LFW_PROTOCOL_DIR with pairs.txt is not available")
    return path


@pytest.fixture(scope="session")
def video_dir(lfw_dir) -> Path:
    """The real videos (FACEREC_VIDEO_DIR; default: ``video/`` beside the LFW folder, as in ../shared/data)."""
    path = Path(os.environ.get("FACEREC_VIDEO_DIR") or lfw_dir.parent / "video")
    if not path.is_dir():
        pytest.skip(f"no real video folder at {path}: set FACEREC_VIDEO_DIR (see ../shared/data/video/README.md)")
    return path


def lfw_photo(lfw_dir: Path, name: str, index: int) -> Path:
    return lfw_dir / name / f"{name}_{index:04d}.jpg"


@pytest.fixture(scope="session")
def base_settings(tmp_path_factory, lfw_dir) -> Settings:
    """Settings with the real LFW and models, and fresh cache/artifact/data folders."""
    root = tmp_path_factory.mktemp("facerec")
    return Settings.from_env().replace(
        lfw_dir=lfw_dir, cache_dir=root / "cache", artifacts_dir=root / "artifacts",
        data_dir=root / "data", backbone="facenet", device="cpu")


@pytest.fixture(scope="session")
def trained(base_settings):
    """A model trained in this test session on a small LFW subset; returns (settings, report)."""
    from facerec_core.training import TrainConfig, train_lfw

    config = TrainConfig(max_people=TEST_PEOPLE, max_images=TEST_IMAGES_PER_PERSON, verification=False,
                         svm_grid={"C": [1.0, 10.0], "gamma": [1.0]}, max_unknowns=40)
    report = train_lfw(base_settings, config)
    return base_settings, report


@pytest.fixture(scope="session")
def recognizer(trained):
    from facerec_core.recognizer import Recognizer

    settings, _ = trained
    return Recognizer.load(settings)


@pytest.fixture(scope="session")
def known_people(trained) -> list[str]:
    _, report = trained
    return sorted(r["person"] for r in report["per_person"])


@pytest.fixture(scope="session")
def held_out_photo(lfw_dir, known_people) -> tuple[str, Path]:
    """A photo of a trained person that training never saw (index past the first 12)."""
    name = "Colin_Powell" if "Colin_Powell" in known_people else known_people[0]
    return name, lfw_photo(lfw_dir, name, TEST_IMAGES_PER_PERSON + 8)


@pytest.fixture(scope="session")
def stranger_photo(lfw_dir) -> Path:
    """A person with a single LFW image: never in any training set."""
    return lfw_photo(lfw_dir, "Aaron_Eckhart", 1)


@pytest.fixture()
def blank_image() -> np.ndarray:
    """A face-free picture: a smooth gradient."""
    y, x = np.mgrid[0:240, 0:320]
    return np.stack([x % 256, y % 256, (x + y) % 256], axis=-1).astype(np.uint8)


@pytest.fixture(autouse=True)
def _no_dashboard_warm_up(request, monkeypatch):
    """No background model load from in-process dashboard runs (AppTest): every signed-in run with
    a test's own settings would start one — a minute of both cores each — and torch's FX tracing
    of the int8 model patches ``Module.__call__`` process-wide, so a warm-up tracing in the
    background breaks whatever model another test runs meanwhile ("module is not installed as a
    submodule"). Pages that need the models load them themselves; browser tests run a real server
    in its own process, untouched. ``tests/app/test_readable_dashboard.py`` tests the warm-up with
    the original function."""
    import sys

    resources = sys.modules.get("dashboard.resources")
    if resources is None:
        try:
            import dashboard.resources as resources
        except ImportError:  # pragma: no cover (the dashboard's packages are always installed here)
            return
    monkeypatch.setattr(resources, "warm_up_recognizer", lambda settings=None: False)


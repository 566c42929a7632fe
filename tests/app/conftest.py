"""Fixtures for the dashboard tests: the environment the app reads its settings from."""
from __future__ import annotations

import io
import os

import numpy as np
import pytest
from PIL import Image

from facerec_core.settings import Settings

SETTINGS_ENV = ("FACEREC_LFW_DIR", "FACEREC_LFW_PROTOCOL_DIR", "FACEREC_ARTIFACTS_DIR", "FACEREC_CACHE_DIR",
                "FACEREC_DATA_DIR", "FACEREC_MODELS_DIR", "FACEREC_DEVICE")


def settings_env(settings: Settings, *, with_lfw: bool = True) -> dict[str, str]:
    """FACEREC_* variables that make ``Settings.from_env()`` in the app equal to ``settings``."""
    env = {"FACEREC_ARTIFACTS_DIR": str(settings.artifacts_dir), "FACEREC_CACHE_DIR": str(settings.cache_dir),
           "FACEREC_DATA_DIR": str(settings.data_dir), "FACEREC_MODELS_DIR": str(settings.models_dir),
           "FACEREC_DEVICE": settings.device}
    if with_lfw and settings.lfw_dir is not None:
        env["FACEREC_LFW_DIR"] = str(settings.lfw_dir)
        protocol = settings.lfw_protocol_dir_resolved
        if protocol is not None:
            env["FACEREC_LFW_PROTOCOL_DIR"] = str(protocol)
    return env


def apply_env(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for name in SETTINGS_ENV:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)


@pytest.fixture()
def empty_env(monkeypatch, tmp_path) -> Settings:
    """No LFW and no trained model: the first-run state."""
    settings = Settings.from_env().replace(artifacts_dir=tmp_path / "artifacts", cache_dir=tmp_path / "cache",
                                           data_dir=tmp_path / "data", device="cpu")
    env = settings_env(settings, with_lfw=False)
    apply_env(monkeypatch, env)
    return Settings.from_env()


@pytest.fixture()
def trained_env(monkeypatch, trained) -> Settings:
    """The session's trained model and LFW, as the app will see them."""
    settings, _ = trained
    apply_env(monkeypatch, settings_env(settings))
    return Settings.from_env()


def encode(image: np.ndarray, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.fixture()
def blank_png(blank_image) -> bytes:
    return encode(blank_image)


@pytest.fixture()
def run_env() -> dict[str, str]:
    """A copy of the process environment (for subprocesses, after the env fixtures ran)."""
    return dict(os.environ)

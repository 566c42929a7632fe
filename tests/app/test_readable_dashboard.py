"""Issue #13 defects 9 and 10: production server settings, the models warmed up at start, the
Dataset Explorer's search and t-SNE notice, and charts whose axes show their content."""
from __future__ import annotations

import sys
import time
import tomllib
import types

import numpy as np
import pandas as pd
import pytest

from dashboard import charts
from dashboard.resources import warm_up_recognizer as WARM_UP  # the original: tests/conftest.py replaces it
from tests.app.conftest import PROJECT_ROOT

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _load_page_module(name: str) -> dict:
    """A page file's functions without running the page (everything from its "the page" section
    on is left out), as a module's namespace."""
    source = (PROJECT_ROOT / "pages" / f"{name}.py").read_text()
    module = types.ModuleType(f"page_{name}")
    sys.modules[module.__name__] = module  # dataclasses look their module up
    exec(compile(source.split("# ---- the page ---")[0], f"pages/{name}.py", "exec"), module.__dict__)
    return module.__dict__


# ---- defect 9: noise and slowness --------------------------------------------------------------
def test_production_config_does_not_watch_files():
    config = tomllib.loads((PROJECT_ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["fileWatcherType"] == "none"
    assert config["server"]["runOnSave"] is False


def test_search_ranks_the_best_covered_person_first():
    explorer = _load_page_module("dataset_explorer")
    counts = pd.Series({"Alma_Powell": 1, "Colin_Powell": 236, "Michael_Powell": 3, "Tony_Blair": 144})
    assert explorer["search_people"](counts, "powell") == ["Colin_Powell", "Michael_Powell", "Alma_Powell"]
    assert explorer["search_people"](counts, "colin POWELL") == ["Colin_Powell"]
    assert explorer["images_label"](1) == "1 image" and explorer["images_label"](236) == "236 images"


def test_search_on_real_lfw_opens_colin_powell(lfw_dir):
    from facerec_core.lfw import scan_lfw

    explorer = _load_page_module("dataset_explorer")
    counts = explorer["image_counts"]({n: p for n, p in scan_lfw(lfw_dir).people.items()})
    assert explorer["search_people"](counts, "powell")[0] == "Colin_Powell"


def test_tsne_time_is_said_before_it_runs():
    from facerec_core.evaluate import projection_seconds

    explorer = _load_page_module("dataset_explorer")
    assert projection_seconds(200, "PCA") < 1 and 5 <= projection_seconds(200, "t-SNE") <= 30
    assert explorer["projection_time"](1000) == "75 s" and explorer["projection_time"](5000) == "15 min"


def test_tsne_runs_on_one_thread():
    """OpenMP's spinning threads made t-SNE of 200 faces take 100 s on a busy 2-core machine."""
    from threadpoolctl import threadpool_info

    import facerec_core.evaluate as evaluate

    seen = []
    import sklearn.manifold

    original = sklearn.manifold.TSNE.fit_transform

    def spy(self, X, *args, **kwargs):
        seen.append({i["user_api"]: i["num_threads"] for i in threadpool_info()})
        return original(self, X, *args, **kwargs)

    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 8)).astype(np.float32)
    try:
        sklearn.manifold.TSNE.fit_transform = spy
        coords = evaluate.project_2d(X / np.linalg.norm(X, axis=1, keepdims=True), "t-SNE")
    finally:
        sklearn.manifold.TSNE.fit_transform = original
    assert coords.shape == (40, 2)
    assert seen and all(n == 1 for n in seen[0].values()), seen


def test_recognizer_warms_up_in_the_background(monkeypatch, tmp_path):
    """The entry script starts loading the models on a thread, once per process and settings;
    a page that asks meanwhile gets the same Recognizer (one load)."""
    import dashboard.resources as resources
    from facerec_core.settings import Settings

    loads = []

    class FakeRecognizer:
        @classmethod
        def load(cls, settings, require_model=False):
            loads.append(settings)
            time.sleep(0.3)
            return cls()

    monkeypatch.setattr("facerec_core.recognizer.Recognizer", FakeRecognizer)
    settings = Settings.from_env().replace(artifacts_dir=tmp_path / "a", cache_dir=tmp_path / "c",
                                           data_dir=tmp_path / "d", device="cpu")
    resources.reload_recognizer()
    try:
        assert resources.warm_up_state(settings) == "idle"
        assert WARM_UP(settings) is True
        assert WARM_UP(settings) is False  # once per process
        assert resources.warm_up_state(settings) == "loading"
        deadline = time.monotonic() + 10
        while resources.warm_up_state(settings) != "done" and time.monotonic() < deadline:
            time.sleep(0.02)
        assert resources.warm_up_state(settings) == "done"
        assert isinstance(resources._load_recognizer(settings), FakeRecognizer) and len(loads) == 1
    finally:
        resources.reload_recognizer()


def test_the_entry_script_starts_the_warm_up():
    source = (PROJECT_ROOT / "streamlit_app.py").read_text()
    assert "warm_up_recognizer()" in source.split("def main")[1]


# ---- defect 10: charts that show their content ------------------------------------------------
def _lfw_like_counts() -> pd.Series:
    """LFW's shape: 4,069 people with one image, a long tail up to 530."""
    rng = np.random.default_rng(1)
    values = np.concatenate([np.ones(4069, int), np.minimum(530, np.ceil(rng.pareto(1.2, 1680) + 1.5)).astype(int),
                             [530, 236, 144]])
    return pd.Series(values, index=[f"P{i}" for i in range(len(values))]).sort_values(ascending=False)


def test_images_per_person_uses_log_axes():
    fig = charts.images_per_person_histogram(_lfw_like_counts(), 2)
    assert fig.layout.xaxis.type == "log" and fig.layout.yaxis.type == "log"
    # Bars sit on log-spaced bins (1, 2, 3-4, 5-9, 10-19, ...), so each takes a fair share of the axis.
    bars = [t for t in fig.data if t.type == "bar"]
    assert bars and all(len(t.x) <= 12 for t in bars)
    assert charts.log_bins(530) == [1, 2, 3, 5, 10, 20, 50, 100, 200, 500, 1000]


def _roc(tar_at: dict[float, float]) -> dict:
    far = np.concatenate([[0.0], np.logspace(-3, 0, 60)])
    tar = np.interp(np.log10(np.maximum(far, 1e-3)), np.log10(list(tar_at)), list(tar_at.values()))
    return {"threshold": list(np.linspace(1, 0, len(far))), "far": list(far), "tar": list(np.minimum(1, tar))}


def test_roc_shows_the_useful_range():
    curves = {"cohort-normalised": _roc({1e-3: 0.985, 1e-2: 0.995, 1: 1.0}),
              "plain cosine": _roc({1e-3: 0.975, 1e-2: 0.99, 1: 1.0})}
    fig = charts.roc_figure(curves, "cohort-normalised", 0.5, (0.01, 0.005))
    assert fig.layout.xaxis.type == "log"
    low, high = fig.layout.yaxis.range
    assert 0.9 < low < 0.975 and 1.0 <= high < 1.01, (low, high)  # not 0-1: the curves are visible
    assert fig.layout.xaxis.range[0] <= -3


def test_dir_far_uses_a_log_far_axis_and_zooms_dir():
    far = list(np.concatenate([[0.0], np.logspace(-3, 0, 50)]))
    dir_ = list(np.interp(np.log10(np.maximum(far, 1e-3)), [-3, -2, 0], [0.44, 0.93, 0.996]))
    fig = charts.dir_far_figure({"far": far, "dir": dir_}, (0.0128, 0.938))
    assert fig.layout.xaxis.type == "log" and fig.layout.xaxis.range[0] <= -3
    low, high = fig.layout.yaxis.range
    assert 0.3 < low < 0.44 and high <= 1.05


def test_accuracy_by_training_images_groups_and_zooms():
    metrics = _load_page_module("model_metrics")
    rng = np.random.default_rng(2)
    train = np.concatenate([np.ones(900, int), rng.integers(2, 40, 700), [424, 188, 115]])
    per_person = pd.DataFrame({"person": [f"P{i}" for i in range(len(train))], "precision": 1.0,
                               "recall": np.where(rng.random(len(train)) < 0.02, 0.0, 1.0), "f1": 1.0,
                               "support": 1, "train_images": train})
    grouped = metrics["accuracy_by_train_images"](per_person)
    assert list(grouped["group"]) == ["1", "2", "3-4", "5-9", "10-19", "20-49", "100-199", "200-499"]
    assert grouped["people"].sum() == len(train)
    fig = charts.accuracy_by_train_images_figure(grouped)
    assert fig.layout.xaxis.type == "category"
    low, high = fig.layout.yaxis.range
    assert low > 0.5 and high > 1.0  # zoomed on the accuracies, the top dot inside the plot
    assert all("people" in t or "person" in t for t in fig.data[0].text)

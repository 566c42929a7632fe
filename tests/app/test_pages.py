"""Every dashboard page, driven in-process with Streamlit's AppTest.

The trained-model tests use the session's small model (8 LFW people, ``trained`` fixture); model
loading takes seconds, hence the long timeouts. Runs reuse one process-wide Recognizer (cached by
``st.cache_resource``), as the real server does.
"""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from facerec_core import fewshot
from facerec_core.artifacts import deployed_dir
from facerec_core.faces import display_name
from tests.app.conftest import shown, sign_in_app

APP_FILE = str(Path(__file__).resolve().parents[2] / "streamlit_app.py")
TIMEOUT = 180
PAGES = ["pages/home.py", "pages/recognize.py", "pages/verify.py", "pages/dataset_explorer.py",
         "pages/model_metrics.py"]


@pytest.fixture(autouse=True)
def _navigation_mode(monkeypatch):
    """Run every AppTest through ``st.navigation``, as a server does once its entry script has run.

    AppTest starts each run in Streamlit's old ``pages/`` folder mode (a pages/ folder sits beside
    streamlit_app.py), where a non-default page's file runs on its own; the app leaves that mode
    with one rerun, and a button click would not survive it. (The browser test covers that first
    request on a fresh server.)
    """
    from streamlit.runtime.pages_manager import PagesManager

    original_init = PagesManager.__init__

    def init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", init)


def open_page(page: str, role: str = "admin") -> AppTest:
    """The dashboard on ``page``, signed in as the ``role`` test account (issue #16: every page
    needs a signed-in session; an administrator may open them all)."""
    at = AppTest.from_file(APP_FILE, default_timeout=TIMEOUT)
    sign_in_app(at, role)
    at.run()
    if page != "pages/home.py":
        at.switch_page(page)
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(elements) -> str:
    """What the elements show: their Markdown with escapes resolved (names and messages are
    escaped by dashboard.plain)."""
    return "\n".join(shown(str(e.value)) for e in elements)


def frame_with_column(at: AppTest, column: str):
    """The first st.dataframe whose data has ``column`` (AppTest does not expose their keys)."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


def no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


# ---- first run: nothing configured -------------------------------------------------------------
def test_empty_state_every_page(empty_env):
    at = open_page("pages/home.py")
    assert "No trained model yet" in texts(at.info)
    assert "FACEREC_LFW_DIR" in texts(at.warning)  # how to enable training

    at.switch_page("pages/recognize.py").run()
    no_exception(at)
    assert "No trained model yet" in texts(at.info)
    assert len(at.file_uploader) == 1

    at.switch_page("pages/verify.py").run()
    no_exception(at)
    assert len(at.file_uploader) == 2

    at.switch_page("pages/dataset_explorer.py").run()
    no_exception(at)
    assert "FACEREC_LFW_DIR" in texts(at.info)

    at.switch_page("pages/model_metrics.py").run()
    no_exception(at)
    assert "No trained model yet" in texts(at.info)
    # the gallery's few-shot figures need no model: the published run, beside the peer
    assert "A few photos per person (the gallery, no trained model)" in [h.value for h in at.subheader]
    table, sizes = [d.value for d in at.dataframe if "named @ FAR 0.1%" in d.value.columns]
    assert set(table["k"]) == {1, 3, 5} and (table["rule"] == "face_recognition (1-NN distance)").sum() == 3
    assert (table["rule"] == fewshot.SHIPPED).sum() == 3
    assert set(sizes["size"]) == {"<40 px", "40-80 px", ">80 px"}


def test_recognize_without_model_still_boxes_faces(empty_env, held_out_photo):
    _, photo = held_out_photo
    at = open_page("pages/recognize.py")
    at.file_uploader[0].set_value(("photo.jpg", photo.read_bytes(), "image/jpeg")).run()
    no_exception(at)
    assert "1 face found (no trained model or enrolled people to name them)." in texts(at.markdown)
    assert at.dataframe[0].value["identity"].tolist() == ["(no model)"]


# ---- with the session's trained model ---------------------------------------------------------
def test_home_shows_the_model(trained_env, trained):
    _, report = trained
    at = open_page("pages/home.py")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["People known"] == str(report["data"]["people"])
    assert metrics["Strangers given a name"].endswith("%")  # the headline: issue #13 (12)
    assert any(c.value.startswith("facenet backbone") for c in at.caption)
    assert not at.info  # no "no model" notice
    assert len(at.expander) >= 1  # retraining is offered, folded away
    # the device setting is honoured and shown (the test environment forces the CPU)
    assert any("Runs on **cpu**" in c.value for c in at.caption)


def test_recognize_names_a_known_person(trained_env, held_out_photo, stranger_photo):
    name, photo = held_out_photo
    at = open_page("pages/recognize.py")
    threshold = at.slider(key="recognize_threshold")
    assert threshold.value == pytest.approx(json.loads(
        (deployed_dir(trained_env.artifacts_dir) / "manifest.json").read_text())["thresholds"]["identify"], abs=1e-3)

    at.file_uploader[0].set_value([("known.jpg", photo.read_bytes(), "image/jpeg"),
                                   ("stranger.jpg", stranger_photo.read_bytes(), "image/jpeg")]).run()
    no_exception(at)
    assert not at.error and not at.warning
    known_table = at.dataframe[0].value
    assert known_table["identity"].tolist() == [name.replace("_", " ")]  # the one display name
    assert known_table["score"].iloc[0] >= threshold.value
    assert known_table["best matches"].iloc[0].startswith(name.replace("_", " "))
    assert f"**{name.replace('_', ' ')}**" in texts(at.markdown)
    assert len(at.image) == 2  # one annotated picture per upload
    labels = [b.label for b in at.download_button]
    assert labels.count("Annotated image (PNG)") == 2 and labels.count("Results (JSON)") == 2

    # A stricter threshold than any cosine: nobody is named any more.
    at.slider(key="recognize_threshold").set_value(1.0).run()
    no_exception(at)
    assert at.dataframe[0].value["identity"].tolist() == ["unknown"]


def test_recognize_camera_snapshot(trained_env, held_out_photo):
    name, photo = held_out_photo
    at = open_page("pages/recognize.py")
    assert not at.camera_input  # the camera is only asked for on request
    at.toggle(key="recognize_camera").set_value(True).run()
    at.camera_input[0].set_value(("snapshot.jpg", photo.read_bytes(), "image/jpeg")).run()
    no_exception(at)
    assert "#### snapshot.jpg" in texts(at.markdown)
    assert at.dataframe[0].value["identity"].tolist() == [name.replace("_", " ")]


def test_recognize_no_face_and_corrupt_file(trained_env, held_out_photo, blank_png):
    name, photo = held_out_photo
    at = open_page("pages/recognize.py")
    at.file_uploader[0].set_value([("blank.png", blank_png, "image/png"),
                                   ("broken.jpg", b"\xff\xd8\xff\xe0 this is not really a JPEG", "image/jpeg"),
                                   ("known.jpg", photo.read_bytes(), "image/jpeg")]).run()
    no_exception(at)
    assert "No face found in **blank.png**" in texts(at.warning)
    assert "**broken.jpg** could not be read" in texts(at.error)
    # the good photo still shows, after the two bad ones
    assert len(at.dataframe) == 1 and at.dataframe[0].value["identity"].tolist() == [name.replace("_", " ")]


def test_verify_same_person_and_no_face(trained_env, lfw_dir, held_out_photo, blank_png):
    name, photo = held_out_photo
    other = lfw_dir / name / f"{name}_0001.jpg"
    at = open_page("pages/verify.py")
    at.file_uploader[0].set_value(("a.jpg", photo.read_bytes(), "image/jpeg"))
    at.file_uploader[1].set_value(("b.jpg", other.read_bytes(), "image/jpeg")).run()
    no_exception(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Decision"] == "Same person"
    assert float(metrics["Score"]) >= float(metrics["Threshold"])
    assert "the same person" in texts(at.success)
    assert len(at.image) == 2

    at.file_uploader[1].set_value(("blank.png", blank_png, "image/png")).run()
    no_exception(at)
    assert "no face found in the second image" in texts(at.error)


def test_dataset_explorer(trained_env, lfw_dir):
    at = open_page("pages/dataset_explorer.py")
    metrics = {m.label: m.value for m in at.metric}
    people = [p for p in lfw_dir.iterdir() if p.is_dir()]
    assert metrics["People"] == f"{len(people):,}"
    assert len(at.get("plotly_chart")) == 2  # histogram and long tail

    at.slider(key="explorer_min_images").set_value(10).run()
    no_exception(at)
    assert "People with ≥ 10" in {m.label for m in at.metric}

    at.text_input(key="explorer_query").set_value("colin powell").run()
    no_exception(at)
    assert at.selectbox(key="explorer_person").value == "Colin_Powell"
    assert len(at.image) == 1  # one grid of thumbnails

    # The embedding map of the top people; small enough to be served from the session's cache.
    at.number_input(key="explorer_k").set_value(3)
    at.number_input(key="explorer_per_person").set_value(4)
    at.button[0].click().run()
    no_exception(at)
    assert len(at.get("plotly_chart")) == 3
    assert "12 of 12 photos" in texts(at.caption)
    at.radio(key="explorer_method").set_value("t-SNE").run()
    no_exception(at)
    assert len(at.get("plotly_chart")) == 3


def test_model_metrics_shows_the_tables(trained_env, trained):
    _, report = trained
    at = open_page("pages/model_metrics.py")
    comparison = at.table[0].value
    assert comparison.loc["Accuracy", "Original design"] == "80.0%"
    assert comparison.loc["Macro precision", "Original design"] == "63.0%"
    assert comparison.loc["Macro recall", "Original design"] == "70.0%"
    assert comparison.loc["Weighted F1", "Original design"] == "70.0%"
    assert comparison.loc["Macro F1", "Original design"] == "–"  # not reported by the original
    chosen = report["chosen_identifier"]
    assert f"Ours: {chosen.upper()} (deployed)" in comparison.columns
    for kind, metrics in report["identifiers"].items():
        column = next(c for c in comparison.columns if c.startswith(f"Ours: {kind.upper()}"))
        assert comparison.loc["Accuracy", column] == f"{metrics['accuracy']:.1%}"
        assert comparison.loc["Weighted F1", column] == f"{metrics['weighted_f1']:.1%}"
    per_person = frame_with_column(at, "train_images")
    assert sorted(per_person["person"]) == sorted(display_name(r["person"]) for r in report["per_person"])
    assert len(at.table) == 2  # the comparison and the manifest: no View-2 table for the test model
    assert "was not run" in texts(at.info)
    assert "Open set: telling strangers apart" in texts(at.subheader)
    figures = {m.label: m.value for m in at.metric}
    open_set = report["open_set"]
    assert figures["Calibrated threshold"] == f"{open_set['threshold']:.3f}"
    assert figures["Target FAR"] == f"{open_set['target_far']:.2%}"
    if "dir_at_far_0.01" in open_set:
        assert figures["DIR at FAR 1%"] == f"{open_set['dir_at_far_0.01']:.2%}"
    manifest = at.table[-1].value
    assert manifest.loc["backbone", "value"] == "facenet"
    assert manifest.loc["people", "value"] == str(report["data"]["people"])


def test_model_metrics_with_verification_and_new_open_set_keys(trained_env, trained, tmp_path, monkeypatch):
    """A report with View-2 results (both scoring rules) and open-set keys this page has never seen."""
    from facerec_core.artifacts import load_artifacts, save_artifacts

    settings, _ = trained
    identifier, manifest, report = load_artifacts(settings.artifacts_dir)
    plain_roc = {"threshold": [0.1, 0.3, 0.45, 0.6, 0.8], "far": [0.9, 0.2, 0.01, 0.001, 0.0],
                 "tar": [1.0, 0.99, 0.97, 0.9, 0.5]}
    normalised_roc = {"threshold": [0.0, 0.1, 0.2, 0.3, 0.5], "far": [0.8, 0.1, 0.005, 0.0005, 0.0],
                      "tar": [1.0, 0.995, 0.98, 0.95, 0.6]}
    report["verification"] = {
        "accuracy_mean": 0.985, "accuracy_std": 0.004, "threshold": 0.45, "roc": plain_roc,
        "tar_at_far_0.1%": 0.9, "tar_at_far_1%": 0.97, "n_pairs": 6000,
        "cohort_normalised": {"accuracy_mean": 0.99, "accuracy_std": 0.003, "threshold": 0.2, "cohort_weight": 0.5,
                              "roc": normalised_roc, "tar_at_far_0.1%": 0.95, "tar_at_far_1%": 0.99,
                              "n_pairs": 6000}}
    report["open_set"].update({"brand_new_rate": 0.25, "brand_new_table": [{"a": 1}]})
    fresh = {k: v for k, v in manifest.items() if k not in ("files", "created", "versions", "format_version")}
    save_artifacts(tmp_path / "artifacts", identifier, fresh, report)
    monkeypatch.setenv("FACEREC_ARTIFACTS_DIR", str(tmp_path / "artifacts"))

    at = open_page("pages/model_metrics.py")
    rules = at.table[1].value
    assert rules.loc["cohort-normalised", "accuracy"] == "99.00% ± 0.30%"
    assert rules.loc["plain cosine", "TAR at FAR 0.1%"] == "90.00%"
    # the cohort-normalised rule comes first: its threshold and rates
    assert "At threshold **0.200**: false-accept rate **0.50%**" in texts(at.markdown)
    assert "false-reject rate **2.00%**" in texts(at.markdown)
    at.radio(key="metrics_rule").set_value("plain cosine").run()
    no_exception(at)
    assert "At threshold **0.450**: false-accept rate **1.00%**" in texts(at.markdown)
    at.slider(key="metrics_roc_threshold_plain cosine").set_value(0.6).run()
    no_exception(at)
    assert "false-accept rate **0.10%**" in texts(at.markdown)
    # unknown open-set keys are still shown: numbers as figures, the rest in the raw view
    assert {m.label: m.value for m in at.metric}["brand new rate"] == "25.00%"
    assert len(at.json) >= 1


def test_model_metrics_refuses_edited_artifacts(trained_env, tmp_path, monkeypatch):
    edited = tmp_path / "artifacts"
    shutil.copytree(trained_env.artifacts_dir, edited)
    report = json.loads((deployed_dir(edited) / "report.json").read_text())
    report["identifiers"][report["chosen_identifier"]]["accuracy"] = 1.0  # a "better" model
    (deployed_dir(edited) / "report.json").write_text(json.dumps(report))
    monkeypatch.setenv("FACEREC_ARTIFACTS_DIR", str(edited))
    at = open_page("pages/model_metrics.py")
    assert "No trained model yet" in texts(at.info)
    assert "does not match the SHA-256" in texts(at.info)
    at.switch_page("pages/home.py").run()
    no_exception(at)
    assert "The trained model cannot be used" in texts(at.warning)


# ---- training from the Home page --------------------------------------------------------------
def test_train_from_home(trained_env, tmp_path, monkeypatch):
    """A tiny model (3 people × 8 images, all in the session's embedding cache) trained from the UI."""
    from dashboard.training_job import DONE, get_training_job

    artifacts = tmp_path / "artifacts"
    monkeypatch.setenv("FACEREC_ARTIFACTS_DIR", str(artifacts))
    at = open_page("pages/home.py")
    assert "No trained model yet" in texts(at.info)
    at.number_input[1].set_value(3)   # max people
    at.number_input[2].set_value(8)   # max images per person
    at.number_input[3].set_value(40)  # strangers: the session model's, so already embedded
    at.run()
    assert "These options keep 3 people and 24 images, and test 40 strangers." in texts(at.caption)
    at.button[0].click().run()
    no_exception(at)
    status = get_training_job().wait(timeout=TIMEOUT)
    assert status.state == DONE, status.error
    assert [s.name for s in status.stages][0] == "embedding faces"
    at.run()
    no_exception(at)
    assert "Training finished" in texts(at.success)
    assert {m.label: m.value for m in at.metric}["People known"] == "3"
    assert json.loads((deployed_dir(artifacts) / "manifest.json").read_text())["classes"] == 3


def test_home_shows_progress_and_cancels(empty_env, lfw_dir, monkeypatch):
    """While a run is going the Home page shows its stage and counts and offers Cancel."""
    import dashboard.training_job as training_job

    def slow_train(settings, config, *, on_stage, should_stop):
        for i in range(3000):
            on_stage("embedding faces", i, 3000)
            if should_stop():
                raise InterruptedError(f"embedding stopped after {i} of 3000 images")
            time.sleep(0.01)
        return {}

    job = training_job.TrainingJob(train_fn=slow_train)
    monkeypatch.setattr(training_job, "get_training_job", lambda: job)
    monkeypatch.setenv("FACEREC_LFW_DIR", str(lfw_dir))
    at = open_page("pages/home.py")
    at.button[0].click().run()  # Train
    no_exception(at)
    assert job.status().active
    assert "Training: stage 1, embedding faces" in at.get("progress")[0].proto.text
    cancel = next(b for b in at.button if b.label == "Cancel training")
    cancel.click().run()
    status = job.wait(timeout=30)
    assert status.state == training_job.CANCELLED
    shown = texts(at.warning)  # the run after the click may already see the end of the run
    at.run()
    no_exception(at)
    assert "Training was cancelled" in shown + texts(at.warning)
    assert at.button[0].label == "Train"  # the form is back


def test_training_job_progress_cancel_and_failure(tmp_path):
    """The background job on its own, with fake training functions (no model, instant)."""
    from dashboard.training_job import CANCELLED, DONE, FAILED, TrainingJob
    from facerec_core.settings import Settings
    from facerec_core.training import TrainConfig

    def slow_train(settings, config, *, on_stage, should_stop):
        for i in range(1000):
            on_stage("embedding faces", i, 1000)
            if should_stop():
                raise InterruptedError(f"embedding stopped after {i} of 1000 images")
            time.sleep(0.01)
        return {}

    settings, config = Settings(artifacts_dir=tmp_path), TrainConfig()
    job = TrainingJob(train_fn=slow_train)
    assert job.start(settings, config)
    time.sleep(0.1)
    assert not job.start(settings, config)  # one run at a time
    running = job.status()
    assert running.active and running.current.name == "embedding faces" and running.current.total == 1000
    job.cancel()
    status = job.wait(timeout=10)
    assert status.state == CANCELLED and "stopped after" in status.error

    def broken_train(settings, config, *, on_stage, should_stop):
        on_stage("embedding faces", 0, 10)
        raise ValueError("only 1 people have >= 2 images")

    job = TrainingJob(train_fn=broken_train)
    job.start(settings, config)
    status = job.wait(timeout=10)
    assert status.state == FAILED and "only 1 people" in status.error

    seen = []
    job = TrainingJob(train_fn=lambda s, c, *, on_stage, should_stop: {"ok": True}, on_success=seen.append)
    job.start(settings, config)
    status = job.wait(timeout=10)
    assert status.state == DONE and status.report == {"ok": True} and seen == [{"ok": True}]


# ---- navigation -------------------------------------------------------------------------------
def test_navigation_includes_optional_pages_only_when_present(empty_env, tmp_path):
    """Gallery and Live Webcam are other engineers' pages: listed when their file exists."""
    pages = tmp_path / "pages"
    pages.mkdir()
    shutil.copy(APP_FILE, tmp_path / "streamlit_app.py")
    (pages / "home.py").write_text("import streamlit as st\nst.markdown('home stub')\n")
    (pages / "gallery.py").write_text("import streamlit as st\nst.markdown('gallery stub')\n")
    at = AppTest.from_file(str(tmp_path / "streamlit_app.py"), default_timeout=30)
    sign_in_app(at, "admin")
    at.run()
    no_exception(at)
    assert texts(at.main.markdown) == "home stub"
    # the sidebar lists the pages that are there (and the signed-in line), not the missing ones
    assert [link.proto.label for link in at.sidebar.get("page_link")] == ["Home", "Gallery"]
    at.switch_page("pages/gallery.py").run()
    no_exception(at)
    assert texts(at.main.markdown) == "gallery stub"

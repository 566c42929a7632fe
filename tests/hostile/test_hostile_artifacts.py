"""Issue #14 (B): damaged artifacts and training settings too small for scikit-learn give a clear
error naming the problem and the fix (ArtifactError, TrainingError; exit code 2 and one line on
stderr from the CLI), never a traceback, and never a half-written or replaced deployed model.

Each damaged set is a copy of the session's trained artifacts (``trained``) with one file broken;
where the break keeps the SHA-256 check from noticing, the manifest's digest is updated to match,
as a tool (or a person) rewriting the files would.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from facerec_core.artifacts import MANIFEST, MODEL_FILE, REPORT_FILE, deployed_dir, load_artifacts, save_artifacts
from facerec_core.cli import main
from facerec_core.errors import ArtifactError, FacerecError
from facerec_core.hashing import sha256_file
from facerec_core.training import TrainConfig, TrainingError, images_needed, train_lfw
from tests.app import test_pages as pages_tests
from tests.app.conftest import apply_env, settings_env

_navigation_mode = pages_tests._navigation_mode  # autouse: AppTest runs go through st.navigation


def _rehash(directory: Path) -> None:
    """Make the manifest vouch for the files as they now are."""
    manifest = json.loads((directory / MANIFEST).read_text())
    manifest["files"] = {name: sha256_file(directory / name) for name in manifest["files"]}
    (directory / MANIFEST).write_text(json.dumps(manifest))


def _edit_manifest(change):
    def damage(directory: Path) -> None:
        manifest = json.loads((directory / MANIFEST).read_text())
        change(manifest)
        (directory / MANIFEST).write_text(json.dumps(manifest))
    return damage


def _write(name: str, data: bytes, rehash: bool = True):
    def damage(directory: Path) -> None:
        (directory / name).write_bytes(data)
        if rehash:
            _rehash(directory)
    return damage


def _truncate(name: str, rehash: bool = True):
    def damage(directory: Path) -> None:
        data = (directory / name).read_bytes()
        (directory / name).write_bytes(data[:len(data) // 2])
        if rehash:
            _rehash(directory)
    return damage


def _npz_of(**arrays):
    def damage(directory: Path) -> None:
        np.savez(directory / MODEL_FILE, **arrays)
        _rehash(directory)
    return damage


def _npz_changed(name, change):
    """The model's own arrays with one of them changed, the hash made to vouch for it."""
    def damage(directory: Path) -> None:
        with np.load(directory / MODEL_FILE) as z:
            arrays = {k: z[k] for k in z.files}
        arrays[name] = change(arrays[name])
        np.savez(directory / MODEL_FILE, **arrays)
        _rehash(directory)
    return damage


def _set(key, value):
    return _edit_manifest(lambda m: m.__setitem__(key, value))


def _drop(key):
    return _edit_manifest(lambda m: m.pop(key))


# (case, damage, what the message must say)
DAMAGES = [
    ("model not npz, hash valid", _write(MODEL_FILE, b"this is not an npz file\n"), "is not a readable model"),
    ("model truncated, hash valid", _truncate(MODEL_FILE), "is not a readable model"),
    ("model empty, hash valid", _write(MODEL_FILE, b""), "is not a readable model"),
    ("model truncated, hash stale", _truncate(MODEL_FILE, rehash=False), "does not match the SHA-256"),
    ("model other arrays, hash valid", _npz_of(classes_=np.array(["a"])), "holds the arrays ['classes_']"),
    ("model labels out of range, hash valid", _npz_changed("gallery_labels", lambda a: a + 99), "sorted class numbers"),
    ("model embeddings not finite, hash valid", _npz_changed("gallery", lambda a: a * np.inf), "not finite"),
    ("model missing", lambda d: (d / MODEL_FILE).unlink(), "is missing"),
    ("report truncated, hash valid", _truncate(REPORT_FILE), "report.json cannot be read"),
    ("report not UTF-8, hash valid", _write(REPORT_FILE, b"\xff\xfe\x00garbage"), "report.json cannot be read"),
    ("report a list, hash valid", _write(REPORT_FILE, b"[1, 2]"), "not a training report"),
    ("report missing", lambda d: (d / REPORT_FILE).unlink(), "is missing"),
    ("manifest not JSON", _write(MANIFEST, b"{ not json", rehash=False), "manifest.json cannot be read"),
    ("manifest truncated", _truncate(MANIFEST, rehash=False), "manifest.json cannot be read"),
    ("manifest binary", _write(MANIFEST, b"\x89PNG\r\n\x1a\n\x00\xff", rehash=False), "manifest.json cannot be read"),
    ("manifest a list", _write(MANIFEST, b"[]", rehash=False), "holds list, not an object"),
    ("manifest null", _write(MANIFEST, b"null", rehash=False), "holds NoneType, not an object"),
    ("manifest without files", _drop("files"), "lacks 'files'"),
    ("manifest without backbone", _drop("backbone"), "lacks 'backbone'"),
    ("manifest without thresholds", _drop("thresholds"), "lacks 'thresholds'"),
    ("manifest without format", _drop("format_version"), "lacks 'format_version'"),
    ("manifest files a list", _set("files", [MODEL_FILE]), "'files' must give the SHA-256"),
    ("manifest files without the model", _edit_manifest(lambda m: m["files"].pop(MODEL_FILE)),
     "'files' must give the SHA-256"),
    ("manifest files name another file", _edit_manifest(lambda m: m["files"].__setitem__("../../etc/passwd", "0")),
     "names files other than"),
    ("manifest threshold a word", _edit_manifest(lambda m: m["thresholds"].__setitem__("identify", "high")),
     "'thresholds' must map names to numbers"),
    ("manifest thresholds a list", _set("thresholds", [0.5]), "'thresholds' must map names to numbers"),
    ("manifest backbone a number", _set("backbone", 7), "'backbone' must be a name"),
    ("manifest classes wrong", _set("classes", 999), "but manifest.json says 999"),
    ("manifest old format", _set("format_version", 1), "artifact format 1 is not 3"),
    ("manifest threshold -5", _edit_manifest(lambda m: m["thresholds"].__setitem__("identify", -5)),
     "threshold 'identify' is -5, outside its valid range"),
]
IDS = [case for case, _, _ in DAMAGES]


@pytest.fixture()
def damaged(request, trained, tmp_path):
    """A copy of the session's artifacts broken as the parametrised case says: ``(dir, expected)``."""
    _, damage, expected = request.param
    directory = tmp_path / "artifacts"
    shutil.copytree(trained[0].artifacts_dir, directory)
    damage(deployed_dir(directory))  # the deployed version's files
    return directory, expected


@pytest.mark.parametrize("damaged", DAMAGES, ids=IDS, indirect=True)
def test_damaged_artifacts_are_refused_with_the_problem_and_the_fix(damaged):
    directory, expected = damaged
    with pytest.raises(ArtifactError, match="retrain") as caught:
        load_artifacts(directory)
    assert expected in str(caught.value)
    assert str(directory) in str(caught.value)  # names the folder (or the file in it)


@pytest.mark.parametrize("damaged", DAMAGES, ids=IDS, indirect=True)
def test_cli_predict_on_damaged_artifacts_exits_2_with_one_line(damaged, trained, held_out_photo, capsys):
    directory, expected = damaged
    settings, _ = trained
    _, photo = held_out_photo
    code = main(["predict", str(photo), "--artifacts-dir", str(directory), "--models-dir", str(settings.models_dir),
                 "--device", "cpu", "--backbone", settings.backbone])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("error: ") and expected in err
    assert "Traceback" not in err


def test_recognizer_without_a_required_model_reports_the_damage(trained, tmp_path):
    from facerec_core.recognizer import Recognizer

    directory = tmp_path / "artifacts"
    shutil.copytree(trained[0].artifacts_dir, directory)
    _write(MODEL_FILE, b"not npz")(deployed_dir(directory))
    with pytest.raises(ArtifactError, match="is not a readable model"):
        Recognizer.load(trained[0].replace(artifacts_dir=directory))


# ---- saving: a failure leaves the deployed model as it was -----------------------------------
def _snapshot(directory: Path) -> dict[str, bytes]:
    """Every file under ``directory`` (the pointer and each version's files)."""
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def test_a_failed_save_leaves_the_deployed_model_untouched(trained, tmp_path, monkeypatch):
    directory = tmp_path / "artifacts"
    shutil.copytree(trained[0].artifacts_dir, directory)
    identifier, manifest, report = load_artifacts(directory)
    before = _snapshot(directory)

    with pytest.raises(ArtifactError, match="the previous model, if any, is unchanged"):
        save_artifacts(directory, identifier, manifest, {**report, "bad": object()})  # not JSON
    assert _snapshot(directory) == before

    original_replace = Path.replace
    calls = []

    def failing_replace(self, target):  # the report moves in, then the disk fails
        calls.append(Path(target).name)
        if Path(target).name == MANIFEST:
            raise OSError(28, "No space left on device")
        return original_replace(self, target)

    monkeypatch.setattr(Path, "replace", failing_replace)
    fresh = {k: v for k, v in manifest.items() if k not in ("files", "created", "versions", "format_version")}
    with pytest.raises(ArtifactError, match="No space left on device"):
        save_artifacts(directory, identifier, {**fresh, "classes": manifest["classes"]}, {**report, "new": 1})
    monkeypatch.setattr(Path, "replace", original_replace)
    assert calls[-1] == MANIFEST and {MODEL_FILE, REPORT_FILE} <= set(calls)  # those replaced were put back
    assert _snapshot(directory) == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".staging-")]
    load_artifacts(directory)


# ---- training on too little data -------------------------------------------------------------
def test_images_needed_for_the_default_split():
    assert images_needed(0.2) == 5
    assert images_needed(0.5) == 6  # half tested: 3 left to train on in each of 3 folds


@pytest.fixture()
def deployed(trained, tmp_path):
    """Settings whose artifacts folder holds a copy of the session model, and its bytes."""
    settings = trained[0].replace(artifacts_dir=tmp_path / "artifacts", data_dir=tmp_path / "data")
    shutil.copytree(trained[0].artifacts_dir, settings.artifacts_dir)
    return settings, _snapshot(settings.artifacts_dir)


QUICK = dict(verification=False, open_set=False, svm_grid={"C": [1.0], "gamma": [1.0]})

# (TrainConfig, what the message must say)
TOO_LITTLE = [
    (TrainConfig(max_people=10, max_images=4, **QUICK), "--max-images ≥ 5"),
    (TrainConfig(max_people=8, max_images=1, **QUICK), "--max-images ≥ 5"),
    (TrainConfig(max_people=1, max_images=12, **QUICK), "only 1 people"),
    (TrainConfig(min_images=100000, **QUICK), "only 0 people"),
    (TrainConfig(max_people=3, max_images=3, **QUICK), "--max-images ≥ 5"),
    (TrainConfig(max_people=-1, **QUICK), "--max-people must be 0 (no limit) or more"),
    (TrainConfig(min_images=0, **QUICK), "--min-images must be 1 or more"),
    (TrainConfig(target_far=1.5, **QUICK), "--far must be between 0 and 1"),
    (TrainConfig(identifier="forest", **QUICK), "unknown identifier 'forest'"),
]


@pytest.mark.parametrize("config,expected", TOO_LITTLE, ids=[e for _, e in TOO_LITTLE])
def test_training_on_too_little_data_says_what_to_change_and_keeps_the_model(deployed, config, expected):
    settings, before = deployed
    with pytest.raises(TrainingError) as caught:
        train_lfw(settings, config)
    assert expected in str(caught.value)
    assert isinstance(caught.value, FacerecError) and isinstance(caught.value, ValueError)
    assert _snapshot(settings.artifacts_dir) == before


def test_a_scikit_learn_refusal_becomes_a_training_error(deployed):
    """2 people × 3 photos pass the split (4 to train on, 2 to test) but leave the SVM's 3-fold
    search nobody with 3 training photos: scikit-learn's refusal comes back as a TrainingError."""
    settings, before = deployed
    with pytest.raises(TrainingError, match=r"6 images of 2 people are too few to fit the model \(.+\); "
                                            r"train with more images per person \(--max-images ≥ 5"):
        train_lfw(settings, TrainConfig(max_people=2, max_images=3, identifier="svm", **QUICK))
    assert _snapshot(settings.artifacts_dir) == before


def _cli_args(settings) -> list[str]:
    return ["--artifacts-dir", str(settings.artifacts_dir), "--lfw-dir", str(settings.lfw_dir),
            "--cache-dir", str(settings.cache_dir), "--models-dir", str(settings.models_dir), "--device", "cpu",
            "--backbone", settings.backbone, "--no-verification", "--max-unknowns", "0"]


@pytest.mark.parametrize("command", ["train", "retrain", "evaluate"])
def test_cli_tiny_training_exits_2_with_one_line_and_keeps_the_model(deployed, command, capsys):
    settings, before = deployed
    extra = ["--data-dir", str(settings.data_dir)] if command == "retrain" else []
    code = main([command, "--max-people", "10", "--max-images", "4", *_cli_args(settings), *extra])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("error: 40 images of 10 people are too few")
    assert "--max-images ≥ 5" in err and "Traceback" not in err
    assert _snapshot(settings.artifacts_dir) == before


def test_cli_tiny_training_in_a_process_of_its_own(deployed):
    """`python -m facerec_core retrain --max-people 10 --max-images 4` as a user runs it."""
    settings, before = deployed
    result = subprocess.run([sys.executable, "-m", "facerec_core", "retrain", "--max-people", "10", "--max-images",
                             "4", *_cli_args(settings), "--data-dir", str(settings.data_dir)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 2, result.stderr
    assert result.stdout == "" and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "--max-images ≥ 5" in result.stderr
    assert _snapshot(settings.artifacts_dir) == before


def test_cli_unexpected_errors_are_one_line_too(monkeypatch, capsys):
    import facerec_core.cli as cli

    def broken(args):
        raise RuntimeError("something\nnobody foresaw")

    monkeypatch.setattr(cli, "cmd_people", broken)  # build_parser() picks the command up by name
    assert main(["people"]) == 1
    err = capsys.readouterr().err
    assert err == "error: unexpected RuntimeError: something nobody foresaw (run with -v for the details)\n"


# ---- the dashboard on damaged artifacts ------------------------------------------------------
PAGE_CASES = ["model not npz, hash valid", "report truncated, hash valid", "manifest not JSON",
              "manifest without files", "manifest threshold a word"]


@pytest.mark.parametrize("damaged", [d for d in DAMAGES if d[0] in PAGE_CASES], ids=PAGE_CASES, indirect=True)
def test_pages_say_why_damaged_artifacts_cannot_be_used(damaged, trained, monkeypatch):
    directory, expected = damaged
    apply_env(monkeypatch, settings_env(trained[0].replace(artifacts_dir=directory)))
    at = pages_tests.open_page("pages/model_metrics.py")
    assert "No trained model yet" in pages_tests.texts(at.info)
    assert expected in pages_tests.texts(at.info)
    at.switch_page("pages/home.py").run()
    pages_tests.no_exception(at)
    assert expected in pages_tests.texts(at.warning)
    assert "The trained model cannot be used" in pages_tests.texts(at.warning)


@pytest.mark.parametrize("damaged", [d for d in DAMAGES if d[0] in PAGE_CASES[:2]], ids=PAGE_CASES[:2], indirect=True)
def test_recognizer_pages_say_why_the_model_cannot_be_used(damaged, trained, monkeypatch):
    """Recognize used to say only "no model" while the library logged the reason."""
    directory, expected = damaged
    apply_env(monkeypatch, settings_env(trained[0].replace(artifacts_dir=directory)))
    at = pages_tests.open_page("pages/recognize.py")
    pages_tests.no_exception(at)
    assert "The trained model cannot be used, so nobody is named from it" in pages_tests.texts(at.warning)
    assert expected in pages_tests.texts(at.warning)


def test_no_model_yet_is_not_reported_as_damage(trained, tmp_path):
    from facerec_core.recognizer import Recognizer

    rec = Recognizer.load(trained[0].replace(artifacts_dir=tmp_path / "none"), require_model=False)
    assert rec.model is None and rec.model_problem is None

"""The command line, end to end, on the model trained in this session."""
import json

import pytest

from facerec_core.access import AccessStore, AuditLog, cli_principal
from facerec_core.cli import main
from facerec_core.gallery import gallery_path
from tests.conftest import lfw_photo


def audit_events(settings, **filters):
    """The audit trail of the gallery file the CLI wrote to, newest first."""
    with AccessStore(gallery_path(settings)) as store:
        log = AuditLog(store)
        assert log.verify().ok
        return log.events(**filters)


@pytest.fixture()
def cli_env(trained, monkeypatch):
    settings, _ = trained
    monkeypatch.setenv("FACEREC_ARTIFACTS_DIR", str(settings.artifacts_dir))
    monkeypatch.setenv("FACEREC_CACHE_DIR", str(settings.cache_dir))
    monkeypatch.setenv("FACEREC_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("FACEREC_DEVICE", "cpu")
    monkeypatch.setenv("FACEREC_BACKBONE", settings.backbone)
    return settings


def test_predict_prints_json(cli_env, capsys, held_out_photo, tmp_path):
    name, path = held_out_photo
    bad = tmp_path / "bad.png"
    bad.write_text("nope")
    assert main(["predict", str(path), str(bad)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out[0]["image"] == str(path)
    face = out[0]["faces"][0]
    assert face["identity"] == name and set(face) >= {"box", "det_score", "confidence", "matches", "landmarks"}
    assert "not an image" in out[1]["error"]
    decision = audit_events(cli_env, action="identify", limit=1)[0]  # every decision is audited
    assert (decision.actor, decision.source, decision.where, decision.target) == \
           (cli_principal().name, "cli", "cli predict", name)
    assert decision.detail == {"answer": name, "score": round(face["confidence"], 4), "image": path.name, "face": 1,
                               "threshold": decision.detail["threshold"]}


def test_predict_all_bad_fails(cli_env, capsys, tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_text("nope")
    assert main(["predict", str(bad)]) == 1


def test_verify(cli_env, capsys, lfw_dir):
    assert main(["verify", str(lfw_photo(lfw_dir, "Colin_Powell", 1)), str(lfw_photo(lfw_dir, "Tony_Blair", 1))]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["same"] is False and out["threshold"] > out["similarity"]
    decision = audit_events(cli_env, action="verify", limit=1)[0]
    assert (decision.target, decision.where, decision.detail["score"], decision.detail["preset"]) == \
           ("different", "cli verify", round(out["similarity"], 4), out["preset"])
    assert decision.detail["images"] == ["Colin_Powell_0001.jpg", "Tony_Blair_0001.jpg"]


def test_missing_model_is_a_clear_error(cli_env, capsys, tmp_path, held_out_photo):
    assert main(["predict", "--artifacts-dir", str(tmp_path / "none"), str(held_out_photo[1])]) == 2
    assert "no trained model" in capsys.readouterr().err


def test_evaluate_prints_the_table(cli_env, capsys, lfw_dir):
    code = main(["evaluate", "--lfw-dir", str(lfw_dir), "--max-people", "4", "--max-images", "10", "--max-unknowns", "10",
                 "--no-verification", "--workers", "1"])
    assert code == 0
    out = capsys.readouterr().out
    assert "original design" in out and "nn (facenet)" in out and "svm (facenet)" in out


def test_predict_and_verify_honour_the_pixel_limit(cli_env, capsys, monkeypatch, lfw_dir):
    photo = str(lfw_photo(lfw_dir, "Colin_Powell", 1))  # 250 x 250 = 62,500 pixels
    monkeypatch.setenv("FACEREC_MAX_IMAGE_PIXELS", "10000")
    assert main(["predict", photo]) == 1
    assert "too large (250x250 = 62,500 pixels, limit 10,000)" in json.loads(capsys.readouterr().out)[0]["error"]
    assert main(["verify", photo, str(lfw_photo(lfw_dir, "Tony_Blair", 1))]) == 2
    assert "limit 10,000" in capsys.readouterr().err


def test_enroll_retrain_forget_train_and_deploy_are_audited(cli_env, capsys, lfw_dir, tmp_path, monkeypatch):
    settings = cli_env.replace(data_dir=tmp_path / "data", artifacts_dir=tmp_path / "artifacts")
    monkeypatch.setenv("FACEREC_DATA_DIR", str(settings.data_dir))
    photos = [str(lfw_photo(lfw_dir, "Jacques_Chirac", i)) for i in (1, 2)]
    small = ["--artifacts-dir", str(settings.artifacts_dir), "--lfw-dir", str(lfw_dir), "--max-people", "4",
             "--max-images", "10", "--max-unknowns", "10", "--no-verification", "--workers", "1", "--no-deploy"]
    assert main(["enroll", "Jacques Chirac", *photos]) == 0
    assert main(["retrain", *small, "--identifier", "nn"]) == 0
    retrained = capsys.readouterr().out.split("saved as version ")[1].split(",")[0]
    assert main(["forget", "jacques chirac"]) == 0
    assert main(["train", *small]) == 0
    version = capsys.readouterr().out.split("saved as version ")[1].split(",")[0]
    assert main(["models", "use", "--artifacts-dir", str(settings.artifacts_dir), version]) == 0
    assert main(["models", "use", "--artifacts-dir", str(settings.artifacts_dir), "no-such-version"]) == 2
    events = [(e.action, e.outcome, e.target, e.where) for e in reversed(audit_events(settings))]
    assert events == [("enroll", "ok", "Jacques Chirac", "cli enroll"),
                      ("retrain", "authorized", "retrain", "cli retrain"), ("retrain", "ok", retrained, "cli retrain"),
                      ("delete_person", "ok", "Jacques Chirac", "cli forget"),
                      ("train", "authorized", "train", "cli train"), ("train", "ok", version, "cli train"),
                      ("deploy_model", "authorized", version, "cli models use"),
                      ("deploy_model", "ok", version, "cli models use"),
                      ("deploy_model", "authorized", "no-such-version", "cli models use"),
                      ("deploy_model", "failed", "no-such-version", "cli models use")]
    enrolled = audit_events(settings, action="enroll")[0].detail
    assert (enrolled["added"], enrolled["refused"]) == (2, 0)

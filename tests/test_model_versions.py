"""Issue #13 (1, 3): training stops in every stage without saving anything; models are versions,
deployed only when asked, with a way back; comparisons flag figures that are not comparable."""
from __future__ import annotations

import json
import shutil
import stat

import pytest

from facerec_core.artifacts import MANIFEST, MODEL_FILE, POINTER, deployed_dir, load_artifacts
from facerec_core.cli import main
from facerec_core.errors import ArtifactError
from facerec_core.model_compare import compare, user_figures
from facerec_core.training import TrainConfig, train_lfw
from facerec_core.versions import (LEGACY, deployed_version, list_versions, load_version, use_version,
                                   versions_root)

# 3 people × 8 images: all in the session's embedding cache (the trained fixture embedded them).
SMALL = dict(max_people=3, max_images=8, svm_grid={"C": [1.0, 10.0], "gamma": [0.5, 1.0]})


@pytest.fixture()
def copy(trained, tmp_path):
    """The session's settings with a private copy of its artifacts (the deployed session model)."""
    settings, _ = trained
    shutil.copytree(settings.artifacts_dir, tmp_path / "artifacts")
    return settings.replace(artifacts_dir=tmp_path / "artifacts")


def _stop_at(prefix: str, after: int = 0):
    """``(on_stage, should_stop)``: stop once a stage named ``prefix...`` has reported ``after`` times."""
    seen = {"n": -1, "stages": []}

    def on_stage(name, done, total):
        seen["stages"].append((name, done, total))
        if name.startswith(prefix):
            seen["n"] += 1

    return on_stage, (lambda: seen["n"] >= after), seen


@pytest.mark.parametrize("stage", ["fitting svm", "fitting nn", "calibrating", "embedding unknown people",
                                   "refitting", "saving artifacts"])
def test_cancel_stops_every_stage_and_saves_nothing(copy, stage):
    before = deployed_version(copy.artifacts_dir)
    on_stage, should_stop, seen = _stop_at(stage)
    config = TrainConfig(**SMALL, verification=False, max_unknowns=10)
    with pytest.raises(InterruptedError):
        train_lfw(copy, config, on_stage=on_stage, should_stop=should_stop, deploy=True)
    assert seen["stages"][-1][0].startswith(stage)  # stopped in that stage, nothing later ran
    assert deployed_version(copy.artifacts_dir) == before
    assert [v.version for v in list_versions(copy.artifacts_dir)] == [before]


def test_cancel_between_the_svm_searchs_fits(copy):
    on_stage, should_stop, seen = _stop_at("fitting svm", after=2)
    with pytest.raises(InterruptedError):
        train_lfw(copy, TrainConfig(**SMALL, identifier="svm", verification=False, open_set=False),
                  on_stage=on_stage, should_stop=should_stop)
    svm = [(d, t) for name, d, t in seen["stages"] if name.startswith("fitting svm")]
    assert svm[-1][0] < svm[-1][1] and svm[-1][1] == 4 * 3 + 1  # 4 settings × 3 folds + the final fit
    assert len(list_versions(copy.artifacts_dir)) == 1


def test_svm_stage_reports_progress(copy):
    stages = []
    train_lfw(copy, TrainConfig(**SMALL, identifier="svm", verification=False, open_set=False),
              on_stage=lambda n, d, t: stages.append((n, d, t)), save=False)
    svm = [(d, t) for n, d, t in stages if n.startswith("fitting svm") and t]
    assert [d for d, _ in svm] == list(range(1, 14))


def test_training_saves_a_candidate_and_deploys_only_when_asked(copy, held_out_photo):
    from facerec_core.recognizer import Recognizer

    old = deployed_version(copy.artifacts_dir)
    report = train_lfw(copy, TrainConfig(**SMALL, verification=False, max_unknowns=10), deploy=False)
    new = report["version"]
    assert new != old and deployed_version(copy.artifacts_dir) == old
    assert len(Recognizer.load(copy).known_people) == 8  # still the session's 8-person model
    versions = {v.version: v for v in list_versions(copy.artifacts_dir)}
    assert set(versions) == {old, new} and versions[old].deployed and not versions[new].deployed
    assert versions[new].manifest["version"] == new

    use_version(copy.artifacts_dir, new)
    assert deployed_version(copy.artifacts_dir) == new
    assert load_artifacts(copy.artifacts_dir)[1]["classes"] == 3
    assert json.loads((copy.artifacts_dir / POINTER).read_text())["previous"] == old
    use_version(copy.artifacts_dir, old)  # roll back
    assert load_artifacts(copy.artifacts_dir)[1]["classes"] == 8

    # owner-only: the model files hold embeddings
    folder = versions_root(copy.artifacts_dir) / new
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(versions_root(copy.artifacts_dir).stat().st_mode) == 0o700
    for name in (*versions[new].manifest["files"], MANIFEST):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600
    assert stat.S_IMODE((copy.artifacts_dir / POINTER).stat().st_mode) == 0o600


def test_use_version_refuses_unknown_and_damaged_versions(copy):
    old = deployed_version(copy.artifacts_dir)
    with pytest.raises(ArtifactError, match="no version 'nope'"):
        use_version(copy.artifacts_dir, "nope")
    with pytest.raises(ArtifactError, match="is not a version name"):
        use_version(copy.artifacts_dir, "../x")
    damaged = versions_root(copy.artifacts_dir) / "damaged"
    shutil.copytree(deployed_dir(copy.artifacts_dir), damaged)
    with open(damaged / MODEL_FILE, "ab") as fh:
        fh.write(b"x")
    with pytest.raises(ArtifactError, match="does not match the SHA-256"):
        use_version(copy.artifacts_dir, "damaged")
    assert deployed_version(copy.artifacts_dir) == old


def test_a_model_saved_before_versions_still_loads_and_becomes_legacy(copy, tmp_path):
    flat = tmp_path / "flat"
    flat.mkdir()
    for source in deployed_dir(copy.artifacts_dir).iterdir():
        shutil.copy2(source, flat / source.name)
    assert load_artifacts(flat)[1]["classes"] == 8
    assert deployed_version(flat) == LEGACY and list_versions(flat)[0].version == LEGACY
    report = train_lfw(copy.replace(artifacts_dir=flat), TrainConfig(**SMALL, verification=False, open_set=False),
                       deploy=False)
    assert deployed_version(flat) == LEGACY and not (flat / MANIFEST).exists()  # migrated
    assert load_artifacts(flat)[1]["classes"] == 8
    assert {v.version for v in list_versions(flat)} == {LEGACY, report["version"]}


def test_cli_models_list_and_use(copy, capsys):
    old = deployed_version(copy.artifacts_dir)
    new = train_lfw(copy, TrainConfig(**SMALL, verification=False, open_set=False), deploy=False)["version"]
    assert main(["models", "list", "--artifacts-dir", str(copy.artifacts_dir)]) == 0
    out = capsys.readouterr().out
    assert f"* {old}" in out and f"  {new}" in out
    assert main(["models", "use", new, "--artifacts-dir", str(copy.artifacts_dir)]) == 0
    assert f"version {new} deployed" in capsys.readouterr().out
    assert deployed_version(copy.artifacts_dir) == new
    assert main(["models", "use", "missing", "--artifacts-dir", str(copy.artifacts_dir)]) == 2
    assert "no version 'missing'" in capsys.readouterr().err


def test_comparison_flags_figures_on_different_protocols(copy):
    deployed = load_version(copy.artifacts_dir, deployed_version(copy.artifacts_dir))
    cm, cr = json.loads(json.dumps(deployed[0])), json.loads(json.dumps(deployed[1]))
    rows, warnings = compare((cm, cr), deployed)
    assert all(r.comparable for r in rows if "not measured" not in (r.candidate, r.deployed)) and not warnings

    # The deployed model had View-2 and 4,064 strangers; the retrain skipped View-2 and used 100.
    dm, dr = json.loads(json.dumps(deployed[0])), json.loads(json.dumps(deployed[1]))
    dm["thresholds"].update(verify=0.4, verify_normalised=0.3)
    dm["metrics"]["view2_accuracy_normalised"] = 0.995
    dr["open_set"]["n_unknown"] = 4064
    rows, warnings = compare((cm, cr), (dm, dr))
    by = {r.figure: r for r in rows}
    assert not by["Strangers given a name"].comparable and "4,064 strangers" in by["Strangers given a name"].note
    assert not by["LFW View-2 verification"].comparable and by["LFW View-2 verification"].candidate == "not measured"
    assert by["Closed-set accuracy"].comparable
    assert any("no View-2 thresholds" in w for w in warnings)
    assert any("Open-set figures are not comparable" in w for w in warnings)


def test_user_figures_come_from_the_open_set_test(trained):
    _, report = trained
    figures = user_figures(report)
    at = report["open_set"]["at_calibrated_threshold"]
    assert figures.known_rejected == at["known_rejected"] and figures.strangers_named == at["far"]
    assert figures.n_unknown == 40
    assert user_figures({"open_set": {"threshold": 0.5}}) is None

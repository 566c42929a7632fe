"""The CLI's user and audit commands, and the gallery commands that need no models (forget,
export, import) audited, on a real file; errors are one line, never a traceback."""
from __future__ import annotations

import csv
import datetime
import io
import json
import stat

import pytest

from facerec_core.access import AccessStore, Accounts, AuditLog, cli_principal
from facerec_core.cli import main
from facerec_core.errors import SignInError
from facerec_core.gallery import GalleryStore, NewSample
from facerec_core.settings import Settings
from tests.access.conftest import PASSWORD, FakeClock, tamper, unit_vectors


@pytest.fixture()
def data_dir(tmp_path, monkeypatch):
    path = tmp_path / "data"
    monkeypatch.setenv("FACEREC_DATA_DIR", str(path))
    monkeypatch.setenv("FACEREC_BACKBONE", "facenet")  # the samples these tests enroll
    return path


def run(capsys, monkeypatch, argv, stdin=None):
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(argv)
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    return code, out.out, out.err


def trail(data_dir):
    with AccessStore(data_dir / "gallery.sqlite3") as store:
        return list(reversed(AuditLog(store).events()))


def test_user_commands(data_dir, capsys, monkeypatch):
    assert run(capsys, monkeypatch, ["user", "list"])[1].startswith("no accounts yet")
    code, out, _ = run(capsys, monkeypatch, ["user", "add", "Ada", "--role", "admin", "--password-stdin"], PASSWORD + "\n")
    assert code == 0 and out == "account Ada added (admin)\n"
    assert run(capsys, monkeypatch, ["user", "add", "Olive", "--role", "operator", "--password-stdin"],
               "olive's long password\n")[0] == 0
    code, _, err = run(capsys, monkeypatch, ["user", "add", "Bob", "--role", "viewer", "--password-stdin"], "short\n")
    assert code == 2 and err.startswith("error: the password is too short") and err.count("\n") == 1
    code, _, err = run(capsys, monkeypatch, ["user", "add", "Bob", "--role", "viewer"], "")  # no terminal
    assert code == 2 and "--password-stdin" in err
    code, _, err = run(capsys, monkeypatch, ["user", "remove", "Ada"])
    assert code == 2 and "last administrator" in err
    assert run(capsys, monkeypatch, ["user", "role", "Olive", "admin"])[1] == "Olive is now admin\n"
    assert run(capsys, monkeypatch, ["user", "passwd", "Olive", "--password-stdin"], "olive's new password\n")[0] == 0
    code, _, err = run(capsys, monkeypatch, ["user", "passwd", "Nobody", "--password-stdin"], "whatever password\n")
    assert code == 2 and "no account named 'Nobody'" in err

    settings = Settings.from_env()
    clock = FakeClock(datetime.datetime.now(datetime.timezone.utc))
    with AccessStore.open(settings) as store:  # five wrong passwords lock Olive
        accounts = Accounts(store, AuditLog(store, clock=clock), settings)
        for i in range(5):
            with pytest.raises(SignInError):
                accounts.sign_in("Olive", f"wrong password {i}")
            clock.advance(seconds=30)
        assert accounts.get("Olive").locked_until
    listing = json.loads(run(capsys, monkeypatch, ["user", "list", "--json"])[1])
    assert [(a["name"], a["role"], a["failed"], bool(a["locked_until"])) for a in listing] == \
           [("Ada", "admin", 0, False), ("Olive", "admin", 5, True)]
    assert "locked until" in run(capsys, monkeypatch, ["user", "list"])[1]
    assert run(capsys, monkeypatch, ["user", "unlock", "Olive"])[0] == 0
    assert json.loads(run(capsys, monkeypatch, ["user", "list", "--json"])[1])[1]["failed"] == 0
    assert run(capsys, monkeypatch, ["user", "remove", "Olive"])[0] == 0
    events = [(e.action, e.outcome, e.target) for e in trail(data_dir) if e.action.startswith("user_")]
    assert events == [("user_add", "ok", "Ada"), ("user_add", "ok", "Olive"), ("user_role", "ok", "Olive"),
                      ("user_password", "ok", "Olive"), ("user_unlock", "ok", "Olive"), ("user_remove", "ok", "Olive")]
    assert {e.actor for e in trail(data_dir) if e.action.startswith("user_")} == {cli_principal().name}
    raw = b"".join(p.read_bytes() for p in data_dir.iterdir())
    assert PASSWORD.encode() not in raw and b"olive's new password" not in raw


def test_audit_list_csv_and_verify(data_dir, capsys, monkeypatch, tmp_path):
    run(capsys, monkeypatch, ["user", "add", "Ada", "--role", "admin", "--password-stdin"], PASSWORD + "\n")
    run(capsys, monkeypatch, ["user", "add", "Vic", "--role", "viewer", "--password-stdin"], "vic's long password\n")
    code, out, _ = run(capsys, monkeypatch, ["audit", "list"])
    assert code == 0 and out.splitlines()[1].split()[:2] == ["2", out.splitlines()[1].split()[1]]
    assert "user_add" in out and "Vic" in out
    code, out, _ = run(capsys, monkeypatch, ["audit", "list", "--action", "user_add", "--limit", "1", "--json"])
    assert [e["target"] for e in json.loads(out)] == ["Vic"]
    assert run(capsys, monkeypatch, ["audit", "list", "--actor", "nobody"])[1] == "no events match\n"
    code, _, err = run(capsys, monkeypatch, ["audit", "list", "--since", "last week"])
    assert code == 2 and "not a time" in err
    target = tmp_path / "trail.csv"
    code, out, _ = run(capsys, monkeypatch, ["audit", "list", "--csv", str(target)])
    assert code == 0 and stat.S_IMODE(target.stat().st_mode) == 0o600
    table = list(csv.reader(io.StringIO(target.read_text())))
    assert table[0][:3] == ["id", "time", "actor"] and [r[6] for r in table[1:]] == ["Vic", "Ada"]
    code, out, _ = run(capsys, monkeypatch, ["audit", "verify"])
    assert code == 0 and out.startswith("audit trail intact: 3 rows")  # the CSV export is a row too
    tamper(data_dir / "gallery.sqlite3", "UPDATE audit SET target = 'Mallory' WHERE id = 2")
    code, out, _ = run(capsys, monkeypatch, ["audit", "verify"])
    assert code == 1 and out.startswith("audit trail BROKEN at row 2: row 2 was altered")
    tamper(data_dir / "gallery.sqlite3", "UPDATE audit SET target = 'Vic' WHERE id = 2", "DELETE FROM audit WHERE id = 1")
    code, out, _ = run(capsys, monkeypatch, ["audit", "verify"])
    assert code == 1 and "row 1 deleted" in out


def test_forget_export_import_are_audited(data_dir, capsys, monkeypatch, tmp_path):
    X = unit_vectors(3)
    with GalleryStore(data_dir / "gallery.sqlite3") as gallery:
        gallery.add_samples("Grace Hopper", [NewSample(X[0], "facenet", 0.99, "g1.jpg")])
        gallery.add_samples("Alan Turing", [NewSample(X[1], "facenet", 0.99, "a1.jpg")])
    export = tmp_path / "out.json"
    assert run(capsys, monkeypatch, ["export", str(export)])[0] == 0
    assert stat.S_IMODE(export.stat().st_mode) == 0o600
    assert run(capsys, monkeypatch, ["forget", "Alan Turing"])[1] == "forgot Alan Turing (1 samples deleted)\n"
    code, _, err = run(capsys, monkeypatch, ["forget", "Alan Turing"])
    assert code == 2 and err == "error: nobody enrolled as 'Alan Turing'\n"
    assert run(capsys, monkeypatch, ["import", str(export)])[0] == 0
    assert run(capsys, monkeypatch, ["people"])[0] == 0
    events = [(e.action, e.outcome, e.target, e.where) for e in trail(data_dir)]
    assert events == [("export", "ok", "facenet", "cli export"), ("delete_person", "ok", "Alan Turing", "cli forget"),
                      ("delete_person", "failed", "Alan Turing", "cli forget"), ("import", "ok", "facenet", "cli import")]
    assert trail(data_dir)[-1].detail == {"file": "out.json", "people_added": 1, "people_merged": 1,
                                          "samples_added": 1, "samples_skipped": 1}
    assert "embedding" not in json.dumps([e.detail for e in trail(data_dir)])

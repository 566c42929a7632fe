"""The audit trail on a real file: the chain finds an edited, a deleted and an inserted row;
decisions carry answer and score, never an embedding; filters, CSV, threads."""
from __future__ import annotations

import csv
import io
import json
import threading

import numpy as np
import pytest

from facerec_core.access import AuditLog, Role, cli_principal
from facerec_core.access.audit import GENESIS, clean_detail, row_hash
from facerec_core.errors import AccessError
from tests.access.conftest import principal, rows, tamper


def _fill(audit: AuditLog, n: int = 6) -> None:
    who = principal(Role.OPERATOR, "Olive")
    for i in range(n):
        audit.record_decision(who, "identify", answer=f"person {i}", score=0.5 + i / 100, where="Recognize page")


def test_an_intact_chain_verifies(access):
    assert access.audit.verify().ok and access.audit.verify().rows == 0
    _fill(access.audit)
    check = access.audit.verify()
    assert (check.ok, check.rows, check.first_bad_id, check.problem) == (True, 6, None, None)
    first, *_ = rows(access.path, "SELECT prev_hash, hash FROM audit ORDER BY id")
    assert first[0] == GENESIS and check.head == rows(access.path, "SELECT hash FROM audit WHERE id = 6")[0][0]


def test_the_table_refuses_updates_and_deletes(access):
    _fill(access.audit, 2)
    import sqlite3
    conn = sqlite3.connect(access.path)
    for statement in ("UPDATE audit SET target = 'x'", "DELETE FROM audit WHERE id = 1"):
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute(statement)
    conn.close()


def test_an_edited_row_is_named(access):
    _fill(access.audit)
    tamper(access.path, "UPDATE audit SET target = 'somebody else' WHERE id = 3")
    check = access.audit.verify()
    assert (check.ok, check.first_bad_id) == (False, 3) and "row 3 was altered" in check.problem
    # an edit to the detail JSON alone is found too
    tamper(access.path, "UPDATE audit SET target = 'person 2' WHERE id = 3",
           """UPDATE audit SET detail = '{"answer": "person 2", "score": 0.99}' WHERE id = 4""")
    assert access.audit.verify().first_bad_id == 4


def test_an_edit_with_its_own_hash_recomputed_breaks_the_next_link(access):
    _fill(access.audit)
    (row,) = [dict(zip(("id", "time", "actor", "role", "source", "action", "target", "outcome", "place", "detail",
                        "prev_hash"), r)) for r in rows(access.path, "SELECT id, time, actor, role, source, action, "
                                                                      "target, outcome, place, detail, prev_hash FROM audit WHERE id = 2")]
    fields = {**row, "where": row["place"], "target": "forged", "detail": json.loads(row["detail"])}
    tamper(access.path, f"UPDATE audit SET target = 'forged', hash = '{row_hash(row['prev_hash'], fields)}' WHERE id = 2")
    check = access.audit.verify()
    assert check.first_bad_id == 3 and "row 3 does not follow row 2" in check.problem


def test_a_deleted_row_is_named(access):
    _fill(access.audit)
    tamper(access.path, "DELETE FROM audit WHERE id = 4")
    check = access.audit.verify()
    assert (check.ok, check.first_bad_id) == (False, 4) and check.problem.startswith("row 4 deleted")


def test_deleting_the_newest_rows_is_found_and_new_rows_keep_the_gap(access):
    _fill(access.audit)
    tamper(access.path, "DELETE FROM audit WHERE id >= 5")
    check = access.audit.verify()
    assert (check.ok, check.first_bad_id) == (False, 5) and "rows 5-6 deleted" in check.problem
    access.audit.record(cli_principal(), "export")  # writing goes on; the gap stays visible
    assert access.audit.verify().first_bad_id == 5


def test_an_inserted_row_is_named(access):
    _fill(access.audit)
    # renumber rows 3.. up by one and insert a row 3 whose own hash is right: row 4 (the old 3) breaks
    (prev,) = rows(access.path, "SELECT hash FROM audit WHERE id = 2")[0]
    fields = {"id": 3, "time": "2026-12-02T12:00:00.000+00:00", "actor": "Ada", "role": "admin",
              "source": "dashboard", "action": "enroll", "target": "Mallory", "outcome": "ok", "where": "",
              "detail": {}}
    statements = [f"UPDATE audit SET id = id + 100 WHERE id >= 3", "UPDATE audit SET id = id - 99 WHERE id >= 100",
                  "INSERT INTO audit(id, time, actor, role, source, action, target, outcome, place, detail, prev_hash, "
                  f"hash) VALUES (3, '{fields['time']}', 'Ada', 'admin', 'dashboard', 'enroll', 'Mallory', 'ok', '', "
                  f"'{{}}', '{prev}', '{row_hash(prev, fields)}')"]
    tamper(access.path, *statements)
    check = access.audit.verify()
    assert (check.ok, check.first_bad_id) == (False, 3) and "row 3 was inserted" in check.problem


def test_a_row_appended_outside_facerec_is_named(access):
    _fill(access.audit)
    (prev,) = rows(access.path, "SELECT hash FROM audit WHERE id = 6")[0]
    fields = {"id": 7, "time": "2026-12-02T12:00:00.000+00:00", "actor": "Ada", "role": "admin", "source": "cli",
              "action": "export", "target": "facenet", "outcome": "ok", "where": "", "detail": {}}
    tamper(access.path, "INSERT INTO audit(id, time, actor, role, source, action, target, outcome, place, detail, "
                        f"prev_hash, hash) VALUES (7, '{fields['time']}', 'Ada', 'admin', 'cli', 'export', 'facenet', "
                        f"'ok', '', '{{}}', '{prev}', '{row_hash(prev, fields)}')")
    check = access.audit.verify()
    assert (check.ok, check.first_bad_id) == (False, 7) and "not written by facerec" in check.problem


def test_decisions_keep_answer_and_score_never_an_embedding(access):
    who = principal(Role.OPERATOR, "Olive")
    event = access.audit.record_decision(who, "verify", answer="different", score=np.float32(0.1234567),
                                         where="Verify page", detail={"preset": "strict", "threshold": 0.52})
    assert (event.action, event.target, event.detail) == \
           ("verify", "different", {"answer": "different", "score": 0.1235, "preset": "strict", "threshold": 0.52})
    assert access.audit.events(action="verify")[0] == event
    embedding = np.ones(128, dtype=np.float32) / np.sqrt(128)
    for bad in ({"face": embedding}, {"embedding": 1}, {"values": embedding.tolist()}, {"thumbnail": b"\xff\xd8"},
                {"password": "x"}):
        with pytest.raises(ValueError):
            access.audit.record_decision(who, "identify", answer="unknown", score=0.1, where="t", detail=bad)
    assert access.audit.count() == 1
    raw = access.path.read_bytes() + access.path.with_name(access.path.name + "-wal").read_bytes()
    assert embedding.tobytes() not in raw
    assert clean_detail({"score": float("nan"), "n": np.int64(3)}) == {"score": None, "n": 3}


def test_events_filter_and_csv(access, tmp_path):
    _fill(access.audit, 3)
    access.clock.advance(hours=2)
    access.audit.record(cli_principal(), "export", target="=HYPERLINK(\"http://x\")", where="cli export")
    access.audit.record(principal(Role.VIEWER, "Vic"), "enroll", outcome="denied", where="Gallery page")
    assert [e.id for e in access.audit.events()] == [5, 4, 3, 2, 1]
    assert [e.id for e in access.audit.events(actor="Olive", limit=2)] == [3, 2]
    assert [e.id for e in access.audit.events(outcome="denied")] == [5]
    assert [e.id for e in access.audit.events(action="identify", since="2026-12-02T12:00")] == [3, 2, 1]
    assert [e.id for e in access.audit.events(since="2026-12-02T13:00")] == [5, 4]
    assert [e.id for e in access.audit.events(until="2026-12-02T13:00")] == [3, 2, 1]
    with pytest.raises(ValueError, match="not a time"):
        access.audit.events(since="yesterday")
    table = list(csv.reader(io.StringIO(AuditLog.to_csv(access.audit.events()).decode())))
    assert table[0] == ["id", "time", "actor", "role", "source", "action", "target", "outcome", "where", "detail", "hash"]
    assert table[2][6].startswith("'=HYPERLINK") and table[1][7] == "denied"
    assert json.loads(table[-1][9]) == {"answer": "person 0", "score": 0.5}


def test_many_threads_write_one_unbroken_chain(access):
    errors = []

    def work(n: int) -> None:
        try:
            for i in range(25):
                access.audit.record(principal(Role.OPERATOR, f"t{n}"), "identify", target=str(i))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    check = access.audit.verify()
    assert check.ok and check.rows == 200


def test_other_processes_write_the_same_chain(access):
    """The CLI beside the dashboard: two processes and this one append at the same time."""
    import subprocess
    import sys
    from pathlib import Path

    script = ("import sys; from facerec_core.access import AccessStore, AuditLog, cli_principal\n"
              "with AccessStore(sys.argv[1]) as store:\n"
              "    log = AuditLog(store)\n"
              "    for i in range(40): log.record(cli_principal(), 'forget', target=f'p{i}', where='cli forget')\n")
    root = Path(__file__).resolve().parent.parent.parent
    children = [subprocess.Popen([sys.executable, "-c", script, str(access.path)], cwd=root) for _ in range(2)]
    _fill(access.audit, 40)
    assert [c.wait(timeout=120) for c in children] == [0, 0]
    assert access.audit.verify().ok and access.audit.count() == 120
    assert len(access.audit.events(action="forget", limit=200)) == 80


def test_a_garbage_file_is_refused(tmp_path):
    from facerec_core.access import AccessStore

    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(b"not a database" * 500)
    with pytest.raises(AccessError, match="not a usable database"):
        AccessStore(junk)

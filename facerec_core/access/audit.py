"""The audit trail: an append-only, hash-chained table of every security-relevant event.

Each row's ``hash`` is ``SHA-256(prev_hash + canonical JSON of the row)`` (:func:`row_hash`: the
id, time, actor, role, source, action, target, outcome, place and detail, keys sorted, no
spaces, UTF-8); ``prev_hash`` is the previous row's hash (:data:`GENESIS` for the first), and
``audit_head`` holds the last id and hash, written in the same transaction as the row. So:

- an **edited** row no longer matches its own hash;
- a **deleted** row leaves a gap in the ids and a next row whose ``prev_hash`` points at nothing;
  deleting the newest rows leaves the head pointing past the end;
- an **inserted** row breaks the link of the row after it (or, appended at the end, is not the
  head).

:meth:`AuditLog.verify` names the first such row. This is tamper *evidence* against edits made
with an SQLite tool: someone who can write the file and recomputes every later hash and the head
is not caught by the chain alone — copy the head hash (``audit verify`` prints it) somewhere they
cannot write to anchor it. Triggers refuse UPDATE and DELETE on the table, so no code path can
rewrite history by accident. Details are small JSON (:func:`clean_detail`): never embeddings,
images or passwords.
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import json
import logging
import math
from typing import Any, Callable, Iterable, Mapping, Sequence

from ..spreadsheet import csv_bytes
from .principal import Principal
from .store import AccessStore

log = logging.getLogger(__name__)

GENESIS = "0" * 64
"""The ``prev_hash`` of the first row."""
MAX_TARGET = 200
MAX_TEXT = 500
MAX_DETAIL_BYTES = 4096
MAX_NUMBERS = 16
"""A detail may hold a few numbers (a score, a threshold, counts), never a vector: a list of more
numbers than this is refused as what could be an embedding."""
_FIELDS = ("id", "time", "actor", "role", "source", "action", "target", "outcome", "where", "detail")

Clock = Callable[[], _dt.datetime]


def utc_now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


def timestamp(moment: _dt.datetime) -> str:
    """The one text form of a time in the access tables: UTC, ISO 8601, milliseconds (so that
    text order is time order)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_dt.timezone.utc)
    return moment.astimezone(_dt.timezone.utc).isoformat(timespec="milliseconds")


def parse_time(value: str) -> str:
    """A user's ``--since``/``--until`` (``2026-12-02``, ``2026-12-02T16:00``, with or without an
    offset; naive means UTC) in :func:`timestamp` form; ValueError saying the format."""
    try:
        return timestamp(_dt.datetime.fromisoformat(value.strip()))
    except (ValueError, AttributeError):
        raise ValueError(f"not a time: {value!r}; use ISO 8601, e.g. 2026-12-02 or 2026-12-02T16:00") from None


@dataclasses.dataclass(frozen=True)
class AuditEvent:
    """One row of the trail. ``where`` is the page or command ("Recognize page", "cli predict")."""

    id: int
    time: str
    actor: str
    role: str
    source: str
    action: str
    target: str
    outcome: str
    detail: dict
    hash: str
    where: str = ""
    prev_hash: str = ""


@dataclasses.dataclass(frozen=True)
class ChainCheck:
    """What :meth:`AuditLog.verify` found: ``ok``, the rows checked, the first bad row's id
    (the missing id for a deletion) and what is wrong with it."""

    ok: bool
    rows: int
    first_bad_id: int | None
    problem: str | None
    head: str = GENESIS


def clean_detail(detail: Mapping[str, Any] | None) -> dict:
    """``detail`` as small, plain JSON; ValueError for what must never be in the trail: arrays
    and long lists of numbers (embeddings), bytes (images), keys naming embeddings or passwords,
    more than :data:`MAX_DETAIL_BYTES` in all."""
    if detail is None:
        return {}
    if not isinstance(detail, Mapping):
        raise ValueError(f"an audit detail must be a mapping, not {type(detail).__name__}")
    cleaned = _clean(dict(detail), depth=0)
    if len(json.dumps(cleaned, ensure_ascii=False).encode()) > MAX_DETAIL_BYTES:
        raise ValueError(f"an audit detail is over {MAX_DETAIL_BYTES} bytes; record counts and names, not data")
    return cleaned


def _clean(value: Any, depth: int) -> Any:
    if depth > 3:
        raise ValueError("an audit detail nests too deeply")
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        return round(value, 6) if math.isfinite(value) else None
    if isinstance(value, str):
        return value[:MAX_TEXT]
    if isinstance(value, (bytes, bytearray, memoryview)):
        raise ValueError("an audit detail may not hold bytes (images, embeddings)")
    if hasattr(value, "shape") and hasattr(value, "tolist"):  # numpy, torch
        if tuple(value.shape) != ():
            raise ValueError("an audit detail may not hold an array (embeddings never enter the audit trail)")
        return _clean(value.item(), depth)
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            key = str(key)
            if any(word in key.lower() for word in ("embedding", "password", "vector")):
                raise ValueError(f"an audit detail may not hold {key!r}")
            out[key[:100]] = _clean(item, depth + 1)
        return out
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [_clean(v, depth + 1) for v in value]
        if sum(isinstance(v, (int, float)) and not isinstance(v, bool) for v in items) > MAX_NUMBERS:
            raise ValueError("an audit detail may not hold a long list of numbers (an embedding?)")
        return items[:50]
    return str(value)[:MAX_TEXT]


def row_hash(prev_hash: str, fields: Mapping[str, Any]) -> str:
    """SHA-256 over the previous hash and the row's canonical JSON (see the module docstring)."""
    canonical = json.dumps({k: fields[k] for k in _FIELDS}, sort_keys=True, separators=(",", ":"),
                           ensure_ascii=False)
    return hashlib.sha256((prev_hash + canonical).encode("utf-8")).hexdigest()


def _fields(row: Mapping[str, Any]) -> dict[str, Any]:
    return {"id": int(row["id"]), "time": row["time"], "actor": row["actor"], "role": row["role"],
            "source": row["source"], "action": row["action"], "target": row["target"], "outcome": row["outcome"],
            "where": row["place"], "detail": json.loads(row["detail"])}


class AuditLog:
    """Append to and read the trail in an :class:`~.store.AccessStore`.

    Args:
        store: the access tables.
        clock: the current time (tests pass a fake one; default: UTC now).
    """

    def __init__(self, store: AccessStore, *, clock: Clock | None = None) -> None:
        self.store = store
        self.clock: Clock = clock or utc_now

    def record(self, principal: Principal | None, action: str, *, target: str = "", outcome: str = "ok",
               detail: Mapping[str, Any] | None = None, where: str = "") -> AuditEvent:
        """Append one event and return it. ``principal`` None is an anonymous visitor (a sign-in
        attempt). The row and the head are written in one transaction, chained to the last row."""
        fields: dict[str, Any] = {
            "time": timestamp(self.clock()),
            "actor": principal.name if principal else "anonymous",
            "role": (principal.role.value if hasattr(principal.role, "value") else str(principal.role))
            if principal else "",
            "source": principal.source if principal else "",
            "action": str(getattr(action, "value", action)), "target": str(target)[:MAX_TARGET],
            "outcome": str(outcome)[:40], "where": str(where)[:MAX_TARGET], "detail": clean_detail(detail)}
        with self.store.write() as conn:
            head = conn.execute("SELECT last_id, last_hash FROM audit_head WHERE id = 1").fetchone()
            last = conn.execute("SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1").fetchone()
            prev = last["hash"] if last else (head["last_hash"] if head else GENESIS)
            seq = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'audit'").fetchone()
            fields["id"] = max(int(seq[0]) if seq else 0, int(last["id"]) if last else 0) + 1
            digest = row_hash(prev, fields)
            conn.execute("INSERT INTO audit(id, time, actor, role, source, action, target, outcome, place, detail, "
                         "prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         (fields["id"], fields["time"], fields["actor"], fields["role"], fields["source"],
                          fields["action"], fields["target"], fields["outcome"], fields["where"],
                          json.dumps(fields["detail"], sort_keys=True, ensure_ascii=False), prev, digest))
            conn.execute("INSERT OR REPLACE INTO audit_head(id, last_id, last_hash) VALUES (1, ?, ?)",
                         (fields["id"], digest))
        return AuditEvent(fields["id"], fields["time"], fields["actor"], fields["role"], fields["source"],
                          fields["action"], fields["target"], fields["outcome"], fields["detail"], digest,
                          fields["where"], prev)

    def record_decision(self, principal: Principal, kind: str, *, answer: str, score: float | None,
                        where: str, detail: Mapping[str, Any] | None = None) -> AuditEvent:
        """One identification (``kind`` "identify": ``answer`` the name shown or "unknown") or
        verification ("verify": "same"/"different") decision, with its score; never the face."""
        body = dict(detail or {})
        body.update(answer=str(answer),
                    score=None if score is None or not math.isfinite(float(score)) else round(float(score), 4))
        return self.record(principal, kind, target=str(answer), outcome="ok", detail=body, where=where)

    def events(self, *, actor: str | None = None, action: str | None = None, outcome: str | None = None,
               since: str | None = None, until: str | None = None, limit: int = 1000) -> list[AuditEvent]:
        """Events matching every filter given, newest first, at most ``limit``. ``since``/``until``
        are ISO times (:func:`parse_time`; ``until`` is exclusive)."""
        where, args = [], []
        for column, value in (("actor", actor), ("action", action), ("outcome", outcome)):
            if value:
                where.append(f"{column} = ?")
                args.append(str(getattr(value, "value", value)))
        if since:
            where.append("time >= ?")
            args.append(parse_time(since))
        if until:
            where.append("time < ?")
            args.append(parse_time(until))
        sql = "SELECT * FROM audit" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id DESC LIMIT ?"
        args.append(max(0, int(limit)))
        with self.store.read() as conn:
            rows = conn.execute(sql, args).fetchall()
        return [self._event(r) for r in rows]

    @staticmethod
    def _event(row: Mapping[str, Any]) -> AuditEvent:
        try:
            detail = json.loads(row["detail"])
        except (TypeError, ValueError):
            detail = {"unreadable": str(row["detail"])[:MAX_TEXT]}
        return AuditEvent(int(row["id"]), row["time"], row["actor"], row["role"], row["source"], row["action"],
                          row["target"], row["outcome"], detail if isinstance(detail, dict) else {"value": detail},
                          row["hash"], row["place"], row["prev_hash"])

    def count(self) -> int:
        with self.store.read() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM audit").fetchone()[0])

    def verify(self) -> ChainCheck:
        """Walk the chain from the first row; the first edited, deleted or inserted row is named
        (streamed: the trail is never loaded whole)."""
        with self.store.read() as conn:
            head = conn.execute("SELECT last_id, last_hash FROM audit_head WHERE id = 1").fetchone()
            return self._walk(conn.execute("SELECT * FROM audit ORDER BY id"), head)

    @staticmethod
    def _walk(rows: Iterable[Mapping[str, Any]], head: Mapping[str, Any] | None) -> ChainCheck:
        n, expected_id, prev, before_prev = 0, 1, GENESIS, None

        def bad(first: int, problem: str) -> ChainCheck:
            return ChainCheck(False, n, first, problem, prev)

        for row in rows:
            n += 1
            rid = int(row["id"])
            if rid > expected_id:
                gone = f"row {expected_id}" if rid == expected_id + 1 else f"rows {expected_id}-{rid - 1}"
                return bad(expected_id, f"{gone} deleted: row {rid} follows row {expected_id - 1}")
            if row["prev_hash"] != prev:
                if before_prev is not None and row["prev_hash"] == before_prev:
                    return bad(rid - 1, f"row {rid - 1} was inserted: row {rid} is chained to the row before it")
                return bad(rid, f"row {rid} does not follow row {rid - 1}: a row before it was deleted, inserted "
                                "or edited together with its hash")
            try:
                fields = _fields(row)
            except (TypeError, ValueError):
                return bad(rid, f"row {rid} was altered (its detail is not the JSON written)")
            if row_hash(prev, fields) != row["hash"]:
                return bad(rid, f"row {rid} was altered: its contents no longer match its hash")
            before_prev, prev, expected_id = prev, row["hash"], rid + 1
        last_id = int(head["last_id"]) if head else 0
        last_hash = head["last_hash"] if head else GENESIS
        if last_id > expected_id - 1:
            first = expected_id
            return bad(first, f"rows {first}-{last_id} deleted: the trail ends at row {first - 1} "
                              f"but {last_id} were written" if first < last_id
                       else f"row {first} deleted: the trail ends at row {first - 1} but {last_id} were written")
        if last_id < expected_id - 1:
            return bad(last_id + 1, f"row {last_id + 1} was not written by facerec: the trail's head is row {last_id}")
        if last_hash != prev:
            return bad(last_id, f"row {last_id} does not match the trail's head hash (the last row was replaced)")
        return ChainCheck(True, n, None, None, prev)

    @staticmethod
    def to_csv(events: Sequence[AuditEvent]) -> bytes:
        """The events as UTF-8 CSV with a header. Cells a spreadsheet would run as a formula
        (starting ``= + - @`` or a tab) are prefixed with ``'``: names are typed by users."""
        header = ["id", "time", "actor", "role", "source", "action", "target", "outcome", "where", "detail", "hash"]
        rows = ([e.id, e.time, e.actor, e.role, e.source, e.action, e.target, e.outcome, e.where,
                 json.dumps(e.detail, sort_keys=True, ensure_ascii=False), e.hash] for e in events)
        return csv_bytes(header, rows, safe=[False, False] + [True] * 8 + [False])

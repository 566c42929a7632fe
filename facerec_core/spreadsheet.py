"""CSV that people open in spreadsheets: cells a spreadsheet would run as a formula are defused."""
from __future__ import annotations

import csv
import io
from typing import Iterable, Sequence


def safe_cell(value: object) -> str:
    """``value`` as text, prefixed with ``'`` when it starts like a formula (``= + - @``, a tab or a
    carriage return): names and notes are typed by users."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[object]], *, safe: Sequence[bool] | None = None) -> bytes:
    """UTF-8 CSV with ``header``; the columns marked in ``safe`` (default: all) go through
    :func:`safe_cell`, the others (numbers, hashes, times we wrote) as they are."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    marks = list(safe) if safe is not None else [True] * len(header)
    for row in rows:
        writer.writerow([safe_cell(v) if mark else ("" if v is None else v) for v, mark in zip(row, marks)])
    return out.getvalue().encode("utf-8")

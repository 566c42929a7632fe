"""Measure what access control costs: sign-in, one audited decision, verifying the audit trail.

    python bench/access.py [--verifies 30] [--decisions 2000] [--rows 10000] [--dir PATH]

- **Sign-in**: Argon2id verification with :data:`facerec_core.access.passwords.PARAMETERS`
  (p50/p95 of ``--verifies`` calls), and a whole :meth:`Accounts.sign_in` (hash + the database
  rows + the audit row), p50.
- **Audit write per decision**: ``--decisions`` calls of :meth:`AuditLog.record_decision` on a
  real file (WAL; ``synchronous=NORMAL``, the default, and ``FULL``), each one transaction:
  p50, p99, max.
- **Audit verify**: :meth:`AuditLog.verify` over a trail of ``--rows`` rows, reported per 10,000.

Everything runs on a fresh gallery file in a temporary folder (or ``--dir``), nothing is mocked.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from facerec_core.access import AccessStore, Accounts, AuditLog, Principal, Role, cli_principal  # noqa: E402
from facerec_core.access.passwords import PARAMETERS, hash_password, verify_password  # noqa: E402
from facerec_core.settings import Settings  # noqa: E402

PASSWORD = "a long benchmark passphrase"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def timed(fn, n: int) -> list[float]:
    out = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--verifies", type=int, default=30)
    ap.add_argument("--decisions", type=int, default=2000)
    ap.add_argument("--rows", type=int, default=10000)
    ap.add_argument("--dir", type=Path, help="folder for the database (default: a temporary one)")
    args = ap.parse_args()
    root = args.dir or Path(tempfile.mkdtemp(prefix="facerec-access-bench-"))
    load = os.getloadavg()[0]
    print(f"cores: {os.cpu_count()}, load average at start: {load:.2f}; database in {root}")

    encoded = hash_password(PASSWORD)
    hashing = timed(lambda: hash_password(PASSWORD), max(5, args.verifies // 3))
    verify = timed(lambda: verify_password(encoded, PASSWORD), args.verifies)
    print(f"\nArgon2id {PARAMETERS}:")
    print(f"  verify   p50 {pct(verify, 50):6.1f} ms  p95 {pct(verify, 95):6.1f} ms  (n={len(verify)})")
    print(f"  hash     p50 {pct(hashing, 50):6.1f} ms  (n={len(hashing)})")

    settings = Settings().replace(data_dir=root / "signin")
    with AccessStore.open(settings) as store:
        audit = AuditLog(store)
        accounts = Accounts(store, audit, settings)
        accounts.create_first_admin("bench", PASSWORD, client_is_loopback=True)
        sign_in = timed(lambda: accounts.sign_in("bench", PASSWORD), max(5, args.verifies // 3))
        signed = accounts.sign_in("bench", PASSWORD)
        resume = timed(lambda: accounts.resume(signed.token), 200)
    print(f"  sign_in  p50 {pct(sign_in, 50):6.1f} ms  p95 {pct(sign_in, 95):6.1f} ms  (hash + rows + audit row)")
    print(f"  resume   p50 {pct(resume, 50):6.3f} ms  p99 {pct(resume, 99):6.3f} ms  (each page view of a session)")

    operator = Principal("operator", Role.OPERATOR, "dashboard")
    for synchronous in ("NORMAL", "FULL"):
        with AccessStore(root / f"decisions-{synchronous}.sqlite3", synchronous=synchronous) as store:
            audit = AuditLog(store)
            n = [0]

            def decide() -> None:
                n[0] += 1
                audit.record_decision(operator, "identify", answer=f"Person {n[0] % 50}", score=0.61,
                                      where="Recognize page", detail={"face": 1, "threshold": 0.44})

            timed(decide, 50)  # warm-up: the file, the WAL
            writes = timed(decide, args.decisions)
        default = " (the default)" if synchronous == "NORMAL" else ""
        print(f"\nAudit write per decision (record_decision, one transaction, WAL, synchronous={synchronous}"
              f"{default}), n={len(writes)}:")
        print(f"  p50 {pct(writes, 50):.3f} ms  p99 {pct(writes, 99):.3f} ms  max {max(writes):.1f} ms  "
              f"mean {statistics.fmean(writes):.3f} ms")

    with AccessStore(root / "trail.sqlite3") as store:
        audit = AuditLog(store)
        start = time.perf_counter()
        for i in range(args.rows):
            audit.record(cli_principal() if i % 3 else operator, "identify", target=f"Person {i % 50}",
                         detail={"answer": f"Person {i % 50}", "score": 0.5}, where="bench")
        fill = time.perf_counter() - start
        runs = []
        for _ in range(3):
            start = time.perf_counter()
            check = audit.verify()
            runs.append(time.perf_counter() - start)
        assert check.ok and check.rows == args.rows, check
    per10k = statistics.median(runs) * 10000 / args.rows
    print(f"\nAudit verify: {args.rows:,} rows in {statistics.median(runs) * 1000:.0f} ms (median of 3) = "
          f"{per10k * 1000:.0f} ms per 10,000 rows; writing them took {fill:.1f} s")
    print(f"file size: {(root / 'trail.sqlite3').stat().st_size / args.rows:.0f} bytes per row")
    return 0


if __name__ == "__main__":
    sys.exit(main())

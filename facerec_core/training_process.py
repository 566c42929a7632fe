"""Training in a separate, low-priority process that reports progress as JSON lines and can be
stopped at any moment.

The dashboard must stay responsive while a model trains, so training runs in its own process
(``python -m facerec_core.training_process REQUEST``) with a raised nice value and bounded threads
(one torch, BLAS and OpenMP thread, one embedding worker unless told otherwise). The process
appends one JSON object per line to a progress file:

    {"event": "start", "planned": 7, "pid": ..., "t": ...}
    {"event": "stage", "stage": "embedding faces", "done": 320, "total": 9164, "t": ...}
    {"event": "done", "version": "20261202-...", "t": ...}     # or "cancelled" / "failed" with "error"

It saves its model as a new *version* and never deploys it (see :mod:`facerec_core.versions`).
Stopping: :meth:`TrainingProcess.cancel` creates the stop file, which training polls at every
stage, embedding chunk and SVM fit; a process still running ``grace`` seconds later (inside one
long fit) is killed with its whole process group. Either way nothing half-written is installed:
a version appears only whole, and :meth:`TrainingProcess.discard_new_versions` removes one
finished after the cancel.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .secure_files import create_private_file, open_private_append, write_private
from .settings import Settings

log = logging.getLogger(__name__)

NICE = 10  # added to the worker's niceness: interactive requests win the CPU
KINDS = ("train", "retrain")


def settings_to_json(settings: Settings) -> dict:
    return {f.name: (str(v) if isinstance(v, Path) else v)
            for f in dataclasses.fields(Settings) for v in [getattr(settings, f.name)]}


def settings_from_json(data: dict) -> Settings:
    values = {}
    for f in dataclasses.fields(Settings):
        if f.name in data:
            v = data[f.name]
            values[f.name] = Path(v) if isinstance(v, str) and "Path" in str(f.type) else v
    return Settings(**values)


@dataclasses.dataclass
class Event:
    """One progress line."""

    event: str
    t: float
    data: dict


class TrainingProcess:
    """One training run in a child process.

    Args:
        settings: passed to the child (``threads`` and ``workers`` as given here).
        config: a :class:`facerec_core.training.TrainConfig`.
        kind: ``train`` (:func:`~facerec_core.training.train_lfw`) or ``retrain`` (with the gallery).
        threads: torch/BLAS threads and embedding worker processes of the child.
        grace: seconds a cancelled child has to stop by itself before it is killed.
    """

    def __init__(self, settings: Settings, config: Any, *, kind: str = "train", threads: int = 1,
                 nice: int = NICE, grace: float = 2.0) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown training kind {kind!r}: {', '.join(KINDS)}")
        self.settings = settings.replace(threads=threads, workers=threads)
        self.config, self.kind, self.threads, self.nice, self.grace = config, kind, threads, nice, grace
        self.workdir = Path(tempfile.mkdtemp(prefix="facerec-training-"))  # 0700; its files 0600
        self.progress_file = self.workdir / "progress.jsonl"
        self.stop_file = self.workdir / "stop"
        self.log_file = self.workdir / "worker.log"
        self.process: subprocess.Popen | None = None
        self.cancelled_at: float | None = None
        self.killed = False
        self._offset = 0
        self._versions_before: set[str] = set()

    # ---- parent side ----------------------------------------------------------------------------
    def start(self) -> None:
        from .versions import clean_staging, versions_root

        clean_staging(self.settings.artifacts_dir)
        root = versions_root(self.settings.artifacts_dir)
        self._versions_before = {p.name for p in root.iterdir()} if root.is_dir() else set()
        request = self.workdir / "request.json"
        write_private(request, json.dumps({
            "kind": self.kind, "settings": settings_to_json(self.settings),
            "config": dataclasses.asdict(self.config), "progress": str(self.progress_file),
            "stop": str(self.stop_file), "nice": self.nice, "threads": self.threads}))
        env = {**os.environ, "OMP_NUM_THREADS": str(self.threads), "MKL_NUM_THREADS": str(self.threads),
               "OPENBLAS_NUM_THREADS": str(self.threads), "FACEREC_THREADS": str(self.threads),
               "FACEREC_WORKERS": str(self.threads)}
        root_dir = Path(__file__).resolve().parents[1]
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root_dir), env.get("PYTHONPATH")]))
        with os.fdopen(os.open(self.log_file, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600), "wb") as out:
            # its own session, so that a kill reaches the embedding workers it may start
            self.process = subprocess.Popen([sys.executable, "-m", "facerec_core.training_process", str(request)],
                                            stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)

    def events(self) -> list[Event]:
        """Progress lines written since the last call."""
        try:
            with open(self.progress_file, "rb") as fh:
                fh.seek(self._offset)
                chunk = fh.read()
        except FileNotFoundError:
            return []
        end = chunk.rfind(b"\n") + 1  # a line still being written waits for the next call
        self._offset += end
        out = []
        for line in chunk[:end].splitlines():
            try:
                data = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(data, dict) and isinstance(data.get("event"), str):
                out.append(Event(data["event"], float(data.get("t", time.time())), data))
        return out

    def poll(self) -> int | None:
        """The exit status, or ``None`` while running; kills a cancelled child past its grace."""
        code = self.process.poll() if self.process is not None else 0
        if code is None and self.cancelled_at is not None and time.time() - self.cancelled_at > self.grace:
            self.kill()
        return code

    def cancel(self) -> None:
        """Ask the child to stop (it polls the stop file); :meth:`poll` kills it after ``grace``."""
        if self.cancelled_at is None:
            self.cancelled_at = time.time()
            create_private_file(self.stop_file)

    def kill(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.killed = True
        try:
            os.killpg(self.process.pid, signal.SIGKILL)  # the group: the child and its workers
        except (ProcessLookupError, PermissionError):
            self.process.kill()
        self.process.wait()

    def wait(self, timeout: float | None = None) -> int | None:
        deadline = None if timeout is None else time.time() + timeout
        while self.poll() is None:
            if deadline is not None and time.time() > deadline:
                return None
            time.sleep(0.05)
        return self.process.returncode if self.process is not None else 0

    def discard_new_versions(self) -> list[str]:
        """Remove versions saved by this run (after a cancel: nothing of it is kept)."""
        import shutil

        from .versions import clean_staging, deployed_version, versions_root

        root = versions_root(self.settings.artifacts_dir)
        deployed = deployed_version(self.settings.artifacts_dir)
        gone = []
        if root.is_dir():
            for folder in root.iterdir():
                if folder.name not in self._versions_before and folder.name != deployed and folder.is_dir():
                    shutil.rmtree(folder, ignore_errors=True)
                    gone.append(folder.name)
        clean_staging(self.settings.artifacts_dir)
        return gone

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log_file.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def cleanup(self) -> None:
        import shutil

        shutil.rmtree(self.workdir, ignore_errors=True)


# ---- child side -----------------------------------------------------------------------------------
def _worker(request: dict) -> int:
    with open_private_append(request["progress"]) as progress:
        def emit(event: str, **data) -> None:
            progress.write(json.dumps({"event": event, "t": time.time(), **data}, default=str) + "\n")
            progress.flush()

        try:
            os.nice(int(request.get("nice", NICE)))
        except OSError:
            pass
        from .training import TrainConfig, planned_stages, retrain, train_lfw

        settings = settings_from_json(request["settings"])
        config = TrainConfig(**request["config"])
        try:
            import torch

            torch.set_num_threads(max(1, int(request.get("threads", 1))))
        except ImportError:
            pass
        stop = Path(request["stop"])
        emit("start", pid=os.getpid(), planned=planned_stages(config, settings.lfw_protocol_dir_resolved is not None))
        train = retrain if request.get("kind") == "retrain" else train_lfw
        try:
            report = train(settings, config, deploy=False, should_stop=stop.exists,
                           on_stage=lambda name, done, total: emit("stage", stage=name, done=done, total=total))
        except InterruptedError as exc:
            emit("cancelled", error=str(exc) or "cancelled")
            return 3
        except Exception as exc:  # reported to the dashboard, which shows it
            log.exception("training failed")
            emit("failed", error=f"{type(exc).__name__}: {exc}")
            return 1
        emit("done", version=report.get("version"), extra={k: report[k] for k in ("gallery",) if k in report})
        return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return _worker(json.loads(Path(argv[0]).read_text()))


if __name__ == "__main__":
    status = main()
    # Everything is written and closed by now; skip the interpreter's teardown (torch's takes
    # seconds at low priority), so a cancelled run ends as soon as it notices.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)

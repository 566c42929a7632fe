"""Training from the dashboard: one background thread per process, polled by the Home page (and
the Gallery page, whose "retrain with the gallery" job is a TrainingJob too).

Training writes the shared artifacts folder, so there is one job per server process (held in
``st.cache_resource``), not one per browser session: every session sees the same progress and
only one run can write at a time.
"""
from __future__ import annotations

import dataclasses
import logging
import threading
import time
from typing import Any, Callable

import streamlit as st

from facerec_core.settings import Settings
from facerec_core.training import TrainConfig

log = logging.getLogger(__name__)

TrainFn = Callable[..., dict]

IDLE, RUNNING, CANCELLING, DONE, CANCELLED, FAILED = "idle", "running", "cancelling", "done", "cancelled", "failed"


@dataclasses.dataclass
class StageRecord:
    """One stage reported by ``train_lfw`` (e.g. "embedding faces") and its latest counts."""

    name: str
    started: float
    done: int = 0
    total: int = 0


@dataclasses.dataclass
class TrainingStatus:
    """A consistent copy of a job's state, safe to read while the thread goes on."""

    state: str = IDLE
    run_id: int = 0
    stages: list[StageRecord] = dataclasses.field(default_factory=list)
    started: float | None = None
    finished: float | None = None
    error: str | None = None
    report: dict | None = None
    config: TrainConfig | None = None

    @property
    def active(self) -> bool:
        return self.state in (RUNNING, CANCELLING)

    @property
    def current(self) -> StageRecord | None:
        return self.stages[-1] if self.stages else None

    @property
    def fraction(self) -> float:
        """Progress within the current stage (0 when the stage has no counts)."""
        stage = self.current
        if stage is None or not stage.total:
            return 0.0
        return min(1.0, stage.done / stage.total)

    @property
    def elapsed(self) -> float:
        if self.started is None:
            return 0.0
        return (self.finished or time.time()) - self.started


class TrainingJob:
    """Runs ``train_fn(settings, config, on_stage=..., should_stop=...)`` in a daemon thread.

    Args:
        train_fn: the training function (``facerec_core.training.train_lfw``; tests pass a fake).
        on_success: called with the report after a successful run, in the training thread
            (e.g. to drop the cached Recognizer so the next page load uses the new model).
    """

    def __init__(self, train_fn: TrainFn | None = None, on_success: Callable[[dict], Any] | None = None) -> None:
        if train_fn is None:
            from facerec_core.training import train_lfw
            train_fn = train_lfw
        self._train_fn = train_fn
        self._on_success = on_success
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._status = TrainingStatus()

    def start(self, settings: Settings, config: TrainConfig) -> bool:
        """Start a run; returns False (and does nothing) when one is already running."""
        with self._lock:
            if self._status.active:
                return False
            self._stop.clear()
            self._status = TrainingStatus(state=RUNNING, run_id=self._status.run_id + 1,
                                          started=time.time(), config=config)
            self._thread = threading.Thread(target=self._run, args=(settings, config),
                                            name=f"facerec-training-{self._status.run_id}", daemon=True)
            self._thread.start()
        return True

    def cancel(self) -> None:
        """Ask the run to stop; ``train_lfw`` notices between embedding chunks."""
        with self._lock:
            if self._status.active:
                self._status.state = CANCELLING
                self._stop.set()

    def status(self) -> TrainingStatus:
        with self._lock:
            s = self._status
            return dataclasses.replace(s, stages=[dataclasses.replace(r) for r in s.stages])

    def wait(self, timeout: float | None = None) -> TrainingStatus:
        """Block until the current run ends (for tests and scripts)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return self.status()

    # ---- training thread ----------------------------------------------------------------------
    def _on_stage(self, name: str, done: int, total: int) -> None:
        with self._lock:
            stages = self._status.stages
            if stages and stages[-1].name == name:
                stages[-1].done, stages[-1].total = done, total
            else:
                stages.append(StageRecord(name, time.time(), done, total))

    def _run(self, settings: Settings, config: TrainConfig) -> None:
        try:
            report = self._train_fn(settings, config, on_stage=self._on_stage, should_stop=self._stop.is_set)
        except InterruptedError as exc:
            log.info("training cancelled: %s", exc)
            self._finish(CANCELLED, error=str(exc) or "cancelled")
        except Exception as exc:  # shown on the page; the server must survive a failed run
            log.exception("training failed")
            self._finish(FAILED, error=f"{type(exc).__name__}: {exc}")
        else:
            if self._on_success is not None:
                try:
                    self._on_success(report)
                except Exception:
                    log.exception("post-training hook failed")
            self._finish(DONE, report=report)

    def _finish(self, state: str, *, error: str | None = None, report: dict | None = None) -> None:
        with self._lock:
            self._status.state = state
            self._status.error = error
            self._status.report = report
            self._status.finished = time.time()


def after_training(report: dict) -> None:
    """``on_success`` of every training job: the next page load uses the new model."""
    from .resources import reload_recognizer

    # Cached tables key on the artifacts' fingerprint, so only the model itself needs dropping.
    reload_recognizer()


@st.cache_resource
def get_training_job() -> TrainingJob:
    """The process-wide training job (one run at a time, shared by every session)."""
    return TrainingJob(on_success=after_training)

"""Training from the dashboard, polled by the Home page (and the Gallery page, whose "retrain
with the gallery" job is a TrainingJob too).

The run itself is a separate, low-priority process (:class:`facerec_core.training_process.
TrainingProcess`) so that every session stays responsive; a monitor thread here reads its JSON
progress lines. It saves a *candidate* version and deploys nothing: the Home page shows the
candidate beside the deployed model and deploys it only when asked (the very first model, with
nothing to replace, is deployed at once). There is one job per server process (held in
``st.cache_resource``): every session sees the same progress and only one run writes at a time.
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
    updated: float = 0.0


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
    planned: int = 0  # stages the run will report (0: unknown)
    version: str | None = None  # the candidate version a finished run saved
    deployed: bool = False  # that version was deployed at once (there was no model to replace)
    cancel_requested: float | None = None

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
    def overall(self) -> float:
        """Progress of the whole run: finished stages plus the current one's share, over the
        planned stages (the current stage's fraction when the plan is unknown)."""
        if not self.planned or not self.stages:
            return self.fraction
        return min(1.0, (len(self.stages) - 1 + self.fraction) / self.planned)

    @property
    def stage_eta(self) -> float | None:
        """Seconds left in the current stage at its rate so far (``None`` without counts)."""
        stage = self.current
        if stage is None or not stage.total or not stage.done or not stage.updated:
            return None
        rate = stage.done / max(stage.updated - stage.started, 1e-3)
        return max(0.0, (stage.total - stage.done) / rate)

    @property
    def elapsed(self) -> float:
        if self.started is None:
            return 0.0
        return (self.finished or time.time()) - self.started


class TrainingJob:
    """Runs one training at a time: in a separate process by default, or ``train_fn`` in a daemon
    thread (tests pass fakes ``train_fn(settings, config, *, on_stage, should_stop)``).

    Args:
        train_fn: a training function to run in this process instead of the training process.
        on_success: called with the report after a successful run, in the monitor thread.
        kind: ``train`` or ``retrain`` (the gallery folded in), for the training process.
        threads: threads and embedding workers of the training process.
    """

    def __init__(self, train_fn: TrainFn | None = None, on_success: Callable[[dict], Any] | None = None,
                 *, kind: str = "train", threads: int = 1) -> None:
        self._train_fn = train_fn
        self._on_success = on_success
        self._kind, self._threads = kind, threads
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._process = None
        self._status = TrainingStatus()

    def start(self, settings: Settings, config: TrainConfig) -> bool:
        """Start a run; returns False (and does nothing) when one is already running."""
        with self._lock:
            if self._status.active:
                return False
            self._stop.clear()
            self._status = TrainingStatus(state=RUNNING, run_id=self._status.run_id + 1,
                                          started=time.time(), config=config)
            target = self._run if self._train_fn is not None else self._run_process
            self._thread = threading.Thread(target=target, args=(settings, config),
                                            name=f"facerec-training-{self._status.run_id}", daemon=True)
            self._thread.start()
        return True

    def cancel(self) -> None:
        """Stop the run: the training process notices within a stage or is killed (never installing
        anything); a ``train_fn`` thread notices when it polls ``should_stop``."""
        with self._lock:
            if self._status.active:
                self._status.state = CANCELLING
                self._status.cancel_requested = time.time()
                self._stop.set()
                if self._process is not None:
                    self._process.cancel()

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
    def _on_stage(self, name: str, done: int, total: int, when: float | None = None) -> None:
        when = when or time.time()
        with self._lock:
            stages = self._status.stages
            if stages and stages[-1].name == name:
                stages[-1].done, stages[-1].total, stages[-1].updated = done, total, when
            else:
                stages.append(StageRecord(name, when, done, total, when))

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
            self._succeeded(report)

    def _succeeded(self, report: dict) -> None:
        if self._on_success is not None:
            try:
                self._on_success(report)
            except Exception:
                log.exception("post-training hook failed")
        self._finish(DONE, report=report)

    def _run_process(self, settings: Settings, config: TrainConfig) -> None:
        from facerec_core.training_process import TrainingProcess

        proc = TrainingProcess(settings, config, kind=self._kind, threads=self._threads)
        outcome: dict = {}
        try:
            with self._lock:
                self._process = proc
                if self._stop.is_set():
                    proc.cancel()
            proc.start()
            while True:
                code = proc.poll()
                for event in proc.events():
                    if event.event == "start":
                        with self._lock:
                            self._status.planned = int(event.data.get("planned") or 0)
                    elif event.event == "stage":
                        self._on_stage(str(event.data.get("stage")), int(event.data.get("done") or 0),
                                       int(event.data.get("total") or 0), event.t)
                    else:
                        outcome = event.data
                if code is not None:
                    break
                time.sleep(0.2)
            self._process_ended(proc, settings, outcome)
        except Exception as exc:  # the server must survive whatever happens to the child
            log.exception("training process failed")
            proc.kill()
            self._finish(FAILED, error=f"{type(exc).__name__}: {exc}")
        finally:
            with self._lock:
                self._process = None
            proc.cleanup()

    def _process_ended(self, proc, settings: Settings, outcome: dict) -> None:
        kind = outcome.get("event")
        if self._stop.is_set() or kind == "cancelled":  # a cancelled run never leaves a version
            proc.discard_new_versions()
            stage = self.status().current
            where = f" during {stage.name}" if stage is not None else ""
            error = outcome.get("error") if kind == "cancelled" else \
                f"the training process was stopped{where}" if proc.killed else f"stopped{where}"
            self._finish(CANCELLED, error=str(error or "cancelled"))
        elif kind == "done" and outcome.get("version"):
            self._candidate_ready(settings, str(outcome["version"]), outcome.get("extra") or {})
        elif kind == "failed":
            self._finish(FAILED, error=str(outcome.get("error")))
        else:
            tail = " ".join(proc.log_tail(300).split())
            self._finish(FAILED, error=f"the training process ended with status {proc.process.returncode}"
                                       + (f": {tail}" if tail else ""))

    def _candidate_ready(self, settings: Settings, version: str, extra: dict) -> None:
        from facerec_core.versions import deployed_version, load_version, use_version

        _, report = load_version(settings.artifacts_dir, version)
        report = {**report, **(extra if isinstance(extra, dict) else {}), "version": version}
        deployed = False
        if deployed_version(settings.artifacts_dir) is None:  # nothing to replace: use it at once
            use_version(settings.artifacts_dir, version)
            deployed = True
        with self._lock:
            self._status.version, self._status.deployed = version, deployed
        if deployed:
            self._succeeded(report)
        else:
            self._finish(DONE, report=report)

    def _finish(self, state: str, *, error: str | None = None, report: dict | None = None) -> None:
        with self._lock:
            self._status.state = state
            self._status.error = error
            self._status.report = report
            self._status.finished = time.time()


def after_training(report: dict) -> None:
    """``on_success`` of every training job (and after a deploy): the next page load uses the
    deployed model."""
    from .resources import reload_recognizer

    # Cached tables key on the artifacts' fingerprint, so only the model itself needs dropping.
    reload_recognizer()


@st.cache_resource
def get_training_job() -> TrainingJob:
    """The process-wide training job (one run at a time, shared by every session)."""
    return TrainingJob(on_success=after_training)

"""Progress bars for the command line, fed by the library's progress callbacks.

The library reports progress only through callbacks (``on_stage(stage, done, total)``) and
logging; drawing is the CLI's job. :class:`StageBars` turns the stage callback into one tqdm bar
per stage on stderr: a bar with a count and time left where the stage knows its total, an
elapsed-time counter where it does not (the SVM search, calibration). Bars are drawn only when
stderr is a terminal, so pipes and logs stay clean.
"""
from __future__ import annotations

import shutil
import sys
from typing import IO, Iterable, Iterator, TypeVar

T = TypeVar("T")


def bars_wanted(stream: IO[str] | None = None, quiet: bool = False) -> bool:
    """Bars by default on a terminal, never with ``--quiet`` or into a pipe or file."""
    stream = sys.stderr if stream is None else stream
    return not quiet and bool(getattr(stream, "isatty", lambda: False)())


class StageBars:
    """A callable ``(stage, done, total)`` drawing one bar per stage; ``close()`` ends the last.

    Args:
        enabled: draw at all (see :func:`bars_wanted`); when False every call is a no-op.
        stream: where bars go (stderr).
    """

    def __init__(self, enabled: bool, stream: IO[str] | None = None) -> None:
        self.enabled = enabled
        self.stream = sys.stderr if stream is None else stream
        self.stage: str | None = None
        self.stages_seen: list[str] = []
        self._bar = None

    def __call__(self, stage: str, done: int = 0, total: int = 0) -> None:
        if not self.enabled:
            return
        if stage != self.stage:
            if self._bar is not None and self._bar.total:
                # the next stage began, so this one is complete (a cached step reports no counts)
                self._bar.update(self._bar.total - self._bar.n)
            self.close()
            self.stage = stage
            self.stages_seen.append(stage)
            if stage == "done":
                return
            from tqdm import tqdm

            # no total: tqdm shows a count and the elapsed time, so a long stage is seen to be alive
            self._bar = tqdm(total=total or None, desc=stage, unit="", file=self.stream, leave=True,
                             **_size())
        if self._bar is None:
            return
        if total and self._bar.total != total:
            self._bar.total = total
        if done > self._bar.n:
            self._bar.update(done - self._bar.n)
        else:
            self._bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> "StageBars":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def over(items: Iterable[T], *, total: int, desc: str, enabled: bool, stream: IO[str] | None = None) -> Iterator[T]:
    """``items`` with a bar (when ``enabled`` and there is more than one item)."""
    if not enabled or total <= 1:
        yield from items
        return
    from tqdm import tqdm

    with tqdm(items, total=total, desc=desc, unit="photo", file=sys.stderr if stream is None else stream,
              **_size()) as bar:
        yield from bar


def _size() -> dict[str, int]:
    # a terminal that reports no size (0×0, e.g. a bare pty) made tqdm hide every bar
    size = shutil.get_terminal_size((100, 24))
    return {"ncols": min(size.columns or 100, 120), "nrows": size.lines or 24}

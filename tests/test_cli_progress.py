"""The command line's progress bars and logging flags."""
from __future__ import annotations

import io

import pytest

from facerec_core.cli import build_parser
from facerec_core.progress import StageBars, bars_wanted


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("argv, verbose", [
    (["-v", "train"], True), (["train", "-v"], True), (["train", "--verbose"], True), (["train"], False),
    (["-v", "models", "list"], True), (["models", "list", "-v"], True), (["user", "list", "-v"], True),
])
def test_verbose_is_accepted_before_and_after_the_subcommand(argv, verbose):
    assert build_parser().parse_args(argv).verbose is verbose


def test_quiet_after_the_subcommand_and_bars_only_on_a_terminal():
    assert build_parser().parse_args(["predict", "x.jpg", "-q"]).quiet is True
    assert build_parser().parse_args(["predict", "x.jpg"]).quiet is False
    assert bars_wanted(FakeTerminal()) is True
    assert bars_wanted(io.StringIO()) is False  # a pipe or a file: no bars
    assert bars_wanted(FakeTerminal(), quiet=True) is False


def test_stage_bars_draw_one_bar_per_stage_with_counts_where_known():
    out = FakeTerminal()
    with StageBars(True, out) as bars:
        for done in (0, 40, 100):
            bars("embedding faces", done, 100)
        bars("SVM search", 0, 0)  # no total: a counter with the elapsed time
        for done in range(1, 13):
            bars("SVM search: 12 fits", done, 12)
        bars("done")
    text = out.getvalue()
    assert bars.stages_seen == ["embedding faces", "SVM search", "SVM search: 12 fits", "done"]
    assert "embedding faces" in text and "100/100" in text and "12/12" in text


def test_disabled_bars_write_nothing():
    out = FakeTerminal()
    bars = StageBars(False, out)
    bars("embedding faces", 5, 10)
    bars.close()
    assert out.getvalue() == ""


def test_a_stage_that_reported_no_counts_is_shown_complete_when_the_next_begins():
    out = FakeTerminal()
    with StageBars(True, out) as bars:
        bars("embedding faces", 0, 100)  # every embedding came from the cache: no counts reported
        bars("fitting", 0, 0)
    assert "100/100" in out.getvalue()

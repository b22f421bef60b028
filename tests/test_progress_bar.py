"""The sweep's bar in a terminal: count and time left stay on the line at 80 columns (the
label is cut first), the time left comes from the rows done so far, and the label says
what the stage does (no "generating" for a scheme that generates nothing)."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from multisc.cli.run import sweep_bar
from multisc.experiment.executors import task_steps

LONG = "preparing images 1-2 of 2 (loading models on first use; segmenting, captioning, encoding)"


def _lines(bar, console) -> list[str]:
    console.print(bar.get_renderable())
    return [line for line in console.file.getvalue().splitlines() if line.strip()]


@pytest.mark.parametrize("width", [80, 100, 160])
def test_count_and_time_left_stay_on_the_line_and_the_label_is_cut_first(width):
    console = Console(file=io.StringIO(), width=width, force_terminal=True, color_system=None)
    now = [0.0]
    bar = sweep_bar(console, clock=lambda: now[0])
    task = bar.add_task(LONG, total=30, completed=10, resumed=10)
    now[0] = 60.0
    bar.update(task, completed=12)  # 2 rows in 60 s: 18 rows left take 9 minutes
    (line,) = _lines(bar, console)
    assert len(line) <= width
    assert "12/30" in line and line.rstrip().endswith("0:09:00")
    assert ("…" in line) == (width < 130)  # cut only when it does not fit


def test_time_left_waits_for_a_row_of_this_session_and_not_for_rich_s_30_s_window():
    console = Console(file=io.StringIO(), width=80, force_terminal=True, color_system=None)
    now = [0.0]
    bar = sweep_bar(console, clock=lambda: now[0])
    task = bar.add_task("x", total=10, completed=4, resumed=4)  # resumed: 4 rows already
    now[0] = 600.0
    assert _lines(bar, console)[-1].endswith("-:--:--")  # none done here yet
    bar.update(task, completed=5)  # one row in 10 minutes (rich's own estimate: none)
    assert _lines(bar, console)[-1].endswith("0:50:00")


def test_the_label_says_what_each_scheme_does():
    assert task_steps("multisc") == "send, receive, generate, score"
    assert task_steps("multisc ip_scale=0.5") == "send, receive, generate, score"
    assert task_steps("bpg_ldpc") == "send, decode, score"
    assert task_steps("deep_jscc budget=1/12") == "send, decode, score"

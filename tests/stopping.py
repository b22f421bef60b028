"""Killing a run "mid-run" at a defined event, never by racing a clock.

The run goes in a child process whose ``ResultStore.add_results`` is wrapped: once the
store holds at least ``rows`` new rows (whole transactions), the child prints ``stored N``
and waits there, forever, for the test to kill it. The test reads that line (the event),
then kills the process group: the run is mid-run by construction, however fast or slow the
machine is. A bound on the wait (``timeout``) only turns a hung child into a failure.

Every child starts with SIGINT at its default (``SIG_DFL``): a suite started as a background
job of a non-interactive shell (``nohup pytest &``) inherits SIGINT as ignored, which the
child would keep (multisc keeps an inherited "ignore", as ``nohup`` users expect), and the
test's Ctrl-C would be dropped.
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys


def _default_sigint() -> None:
    """In the child, before it runs: SIGINT at its default, whatever the suite inherited."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


_PRELUDE = """
import sys, threading
from multisc.experiment.store import ResultStore
_limit, _stored, _add = int(sys.argv.pop(1)), [0], ResultStore.add_results
def _add_then_stop(self, rows, run_id):
    rows = list(rows)
    _add(self, rows, run_id)
    _stored[0] += len(rows)
    if _stored[0] >= _limit:
        print("stored", _stored[0], flush=True)
        threading.Event().wait()  # held here, the rows committed, until the test kills us
ResultStore.add_results = _add_then_stop
"""


def kill_after_rows(
    rows: int, script: str, *args: str, env: dict[str, str] | None = None, timeout: float = 600
) -> int:
    """Run ``python -c script *args`` until its store has ``rows`` new rows, kill it (and
    the processes it started) with SIGKILL, and return how many rows it had stored."""
    stored, _, _ = signal_after_rows(rows, script, *args, env=env, timeout=timeout)
    return stored


def signal_after_rows(
    rows: int,
    script: str,
    *args: str,
    env: dict[str, str] | None = None,
    send: int = signal.SIGKILL,
    timeout: float = 600,
) -> tuple[int, int, str]:
    """Run ``python -c script *args`` until its store has ``rows`` new rows, then send it
    ``send`` (SIGKILL: to its whole process group; SIGINT, SIGTERM: to it alone, and wait
    for it to stop). Returns (rows stored by then, its exit status, its stderr)."""
    import tempfile

    with tempfile.TemporaryFile("w+") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-c", _PRELUDE + script, str(rows), *args],
            stdout=subprocess.PIPE, stderr=stderr, text=True, start_new_session=True,
            env=env, preexec_fn=_default_sigint,
        )  # fmt: skip
        try:
            with selectors.DefaultSelector() as selector:
                selector.register(process.stdout, selectors.EVENT_READ)
                ready = selector.select(timeout)
            line = process.stdout.readline() if ready else ""
            if send == signal.SIGKILL or not line:
                os.killpg(process.pid, signal.SIGKILL)
            else:
                os.kill(process.pid, send)
            status = process.wait(timeout=timeout)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        stderr.seek(0)
        said = stderr.read()
    if not line.startswith("stored "):
        raise AssertionError(
            f"the run never stored {rows} row(s) (exit {process.returncode}): {said[-2000:]}"
        )
    return int(line.split()[1]), status, said


_AT = """
import importlib, sys, threading
_module, _, _attr = sys.argv.pop(1).partition(":")
_when = sys.argv.pop(1)
_owner = importlib.import_module(_module)
_path = _attr.split(".")
for _name in _path[:-1]:
    _owner = getattr(_owner, _name)
_real = getattr(_owner, _path[-1])
def _stop_there(*args, **kwargs):
    if _when == "before":
        print("reached", flush=True)
        threading.Event().wait()
    out = _real(*args, **kwargs)
    print("reached", flush=True)
    threading.Event().wait()  # held here until the test sends its signal
    return out
setattr(_owner, _path[-1], _stop_there)
"""


def signal_at(
    target: str,
    when: str,
    script: str,
    *args: str,
    send: int = signal.SIGINT,
    env: dict[str, str] | None = None,
    timeout: float = 600,
) -> tuple[int, str]:
    """Run ``python -c script *args`` until it calls ``target`` (``module:Class.attr``),
    ``before`` or ``after`` the call, then send it ``send`` and wait for it to stop.
    Returns (exit status, stderr)."""
    import tempfile

    with tempfile.TemporaryFile("w+") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-c", _AT + script, target, when, *args],
            stdout=subprocess.PIPE, stderr=stderr, text=True, start_new_session=True,
            env=env, preexec_fn=_default_sigint,
        )  # fmt: skip
        try:
            with selectors.DefaultSelector() as selector:
                selector.register(process.stdout, selectors.EVENT_READ)
                ready = selector.select(timeout)
            line = process.stdout.readline() if ready else ""
            if line.startswith("reached"):
                os.kill(process.pid, send)
            status = process.wait(timeout=timeout)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        stderr.seek(0)
        said = stderr.read()
    if not line.startswith("reached"):
        raise AssertionError(f"{target} was never reached (exit {status}): {said[-2000:]}")
    return status, said

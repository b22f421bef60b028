"""The ``multisc`` command's entry point: an interrupt at any moment, start-up included,
exits 130 with one line.

``multisc.cli`` imports typer, rich and (per command) numpy, torch and more: a Ctrl-C that
lands inside those imports, before the command's own handlers are in place, would print a
bare ``KeyboardInterrupt`` traceback, or a stranger one (an import half done can fail as
``RecursionError``), or be swallowed by a library. So the first thing this module does is
to note any SIGINT itself; one that arrives while starting ends the command with one line
and exit 130, whatever exception the interrupted import turned it into. An inherited
"ignore" (``nohup``, a background job) is kept.
"""

from __future__ import annotations

import signal
import sys

_INTERRUPTED: list[int] = []
#: what an interrupt while starting says (stderr)
SAID = "interrupted while starting; nothing was done"


def _note(signum, frame) -> None:
    _INTERRUPTED.append(signum)
    raise KeyboardInterrupt


def run() -> None:
    """Start ``multisc`` (``main`` of [multisc.cli][multisc.cli]) and exit with its code."""
    ignored = signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    if not ignored:
        signal.signal(signal.SIGINT, _note)
    try:
        from multisc.cli import main

        if not ignored:  # main installs its own handler over Python's default
            signal.signal(signal.SIGINT, signal.default_int_handler)
    except BaseException as exc:
        if _INTERRUPTED or isinstance(exc, KeyboardInterrupt):
            sys.stderr.write(SAID + "\n")
            raise SystemExit(130) from None
        raise
    if _INTERRUPTED:  # noted, then swallowed by an import: still an interrupt
        sys.stderr.write(SAID + "\n")
        raise SystemExit(130)
    try:
        code = main()
    except KeyboardInterrupt:  # before main's own handlers were in place
        sys.stderr.write("interrupted\n")
        raise SystemExit(130) from None
    raise SystemExit(code)

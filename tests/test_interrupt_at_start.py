"""An interrupt while ``multisc`` starts, landing inside the imports of its command line
(a defined event: the moment a named module is imported), exits 130 with one line: no
traceback, not lost."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from multisc.start import SAID

#: sends SIGINT to itself the moment ``module`` is first imported, then starts multisc
PROBE = (
    "import builtins, os, signal, sys\n"
    "module = sys.argv.pop(1)\n"
    "real = builtins.__import__\n"
    "def hooked(name, *args, **kwargs):\n"
    "    if name == module and name not in sys.modules:\n"
    "        builtins.__import__ = real\n"
    "        os.kill(os.getpid(), signal.SIGINT)\n"
    "    return real(name, *args, **kwargs)\n"
    "from multisc.start import run\n"
    "builtins.__import__ = hooked\n"
    "run()\n"
)


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # as a terminal starts it, however we run


@pytest.mark.parametrize("module", ["typer", "rich.console", "multisc.cli.common"])
def test_an_interrupt_while_starting_exits_130_with_one_line(module, tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", PROBE, module, "run", "--schemes", "bpg_ldpc", "--out",
         str(tmp_path / "run")],
        capture_output=True, text=True, timeout=120, preexec_fn=_default_sigint,
    )  # fmt: skip
    assert done.returncode == 130, done.stderr[-2000:]
    assert done.stderr.strip() == SAID and "Traceback" not in done.stderr
    assert not (tmp_path / "run").exists()


def test_an_inherited_ignore_is_kept(tmp_path):
    """Started with SIGINT ignored (nohup, a background job), the interrupt is ignored as
    its parent asked: the command runs on (here: its help)."""

    def ignore() -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    done = subprocess.run(
        [sys.executable, "-c", PROBE, "typer", "--help"],
        capture_output=True, text=True, timeout=120, preexec_fn=ignore,
    )  # fmt: skip
    assert done.returncode == 0 and "Usage" in done.stdout

"""The ``multisc`` command line (typer + rich), one module per command group. Every
command takes ``--json``."""

from __future__ import annotations

import importlib
import sys

import typer
from rich.markup import escape

from multisc.cli.common import _emit, _finite, _quiet_libraries, app, err
from multisc.errors import MultiscError, RunInterrupted, Terminated, TrainingInterrupted

__all__ = ["_emit", "_finite", "_quiet_libraries", "app", "main"]

# the command groups register on `app` as they are imported: this order is --help's
for _group in (
    "link",
    "transmit",
    "run",
    "schemes",
    "jscc",
    "models",
    "corrector",
    "captioner",
    "segmenter",
):
    importlib.import_module(f"multisc.cli.{_group}")


def _unwrap(text: str | None) -> str | None:
    """A docstring as help: each paragraph on one line (the terminal wraps it at its own
    width; the source's line breaks would break sentences in the middle)."""
    if not text:
        return text
    import inspect

    paragraphs = inspect.cleandoc(text).split("\n\n")
    return "\n\n".join(" ".join(p.split()) for p in paragraphs)


def _unwrap_helps(group: typer.Typer) -> None:
    """Every command's and group's help, unwrapped (see ``_unwrap``)."""
    for command in group.registered_commands:
        command.help = _unwrap(command.help or (command.callback and command.callback.__doc__))
    for sub in group.registered_groups:
        sub.help = _unwrap(sub.help or sub.typer_instance.info.help)
        sub.typer_instance.info.help = sub.help
        _unwrap_helps(sub.typer_instance)


_unwrap_helps(app)


def _escape_what_the_terminal_cannot_show() -> None:
    """On a terminal whose encoding is not UTF-8 (``LC_ALL=C`` without Python's UTF-8
    mode: ASCII), print a character it cannot show as ``\\xfc`` instead of failing with
    ``UnicodeEncodeError``; files are written in UTF-8 whatever the locale."""
    import codecs

    for stream in (sys.stdout, sys.stderr):
        encoding = getattr(stream, "encoding", None) or "ascii"
        try:
            utf = codecs.lookup(encoding).name == "utf-8"
        except LookupError:
            utf = False
        if not utf and hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")


def main(argv: list[str] | None = None) -> int:
    """Entry point. A ``MultiscError`` or a usage error is printed on one line (exit 2),
    never a traceback."""
    try:  # typer >= 0.2x carries its own copy of click
        from typer._click.exceptions import NoArgsIsHelpError, UsageError
    except ImportError:
        from click.exceptions import NoArgsIsHelpError, UsageError

    _escape_what_the_terminal_cannot_show()
    _quiet_libraries()
    previous = _terminate_like_interrupt()
    _signalled.clear()
    try:
        code = app(args=argv, prog_name="multisc", standalone_mode=False)
        if code == 130 and _signalled:  # typer turns KeyboardInterrupt into a returned 130
            return _interrupted(argv, _signalled[-1])
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except typer.Exit as exc:  # --help, --version
        return exc.exit_code
    except NoArgsIsHelpError as exc:  # plain `multisc`: the help
        err.print(exc.format_message(), highlight=False, markup=False)
        return 0
    except UsageError as exc:  # typer would draw a box: one line, as for every error
        command = exc.ctx.command_path if exc.ctx else "multisc"
        message = exc.format_message() + _list_hint(exc.format_message(), argv)
        err.print(
            f"[bold red]error:[/] {escape(message)} (see `{command} --help`)",
            highlight=False,
            soft_wrap=True,
        )
        return 2
    except typer.Abort as exc:  # click turns Ctrl-C (and our SIGTERM) into Abort
        if isinstance(exc.__cause__, KeyboardInterrupt):
            return _interrupted(argv, 15 if isinstance(exc.__cause__, Terminated) else 2)
        err.print("aborted")
        return 1
    except (RunInterrupted, TrainingInterrupted) as exc:  # stopped cleanly: it resumes
        err.print(str(exc), highlight=False, soft_wrap=True)
        return exc.exit_code
    except MultiscError as exc:
        err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        return 2
    finally:
        _restore_terminate(previous)
    return 0


#: the signals received during this call of ``main`` (2: SIGINT, 15: SIGTERM)
_signalled: list[int] = []


def _interrupted(argv: list[str] | None, signum: int) -> int:
    """Say that the command was stopped (a run: how to resume it); 128 + the signal."""
    import sys

    words = list(sys.argv[1:] if argv is None else argv)
    if words[:1] == ["run"]:
        said = "interrupted; run the same command again to resume (the store holds whole rows only)"
    else:
        said = "interrupted"
    err.print(said, highlight=False, soft_wrap=True)
    return 128 + signum


#: options that take a list, written comma-separated
_LIST_OPTIONS = ("--snr", "--schemes")


def _list_hint(message: str, argv: list[str] | None) -> str:
    """``--snr 0 3 6`` is read as ``--snr 0`` and two stray words: say how lists are
    written."""
    import sys

    words = list(sys.argv[1:] if argv is None else argv)
    if "unexpected extra argument" not in message:
        return ""
    used = [w for w in words if w in _LIST_OPTIONS]
    if not used:
        return ""
    example = {"--snr": "0,3,6", "--schemes": "multisc,bpg_ldpc"}[used[0]]
    return f"; {used[0]} takes a comma-separated list, e.g. {used[0]} {example}"


def _terminate_like_interrupt():
    """SIGTERM raises [Terminated][multisc.errors.Terminated] (a KeyboardInterrupt) in the
    main thread, so a run stopped by ``kill`` or a scheduler cleans up as after Ctrl-C and
    exits 143; returns the previous handler (``None`` off the main thread)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return None

    def terminate(signum, frame):
        _signalled.append(signal.SIGTERM)
        raise Terminated()

    def interrupt(signum, frame):
        _signalled.append(signal.SIGINT)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, terminate), signal.getsignal(signal.SIGINT)
    if previous[1] is signal.default_int_handler:  # someone else's handler is left alone
        signal.signal(signal.SIGINT, interrupt)
    return previous


def _restore_terminate(previous) -> None:
    import signal

    if previous is not None:
        signal.signal(signal.SIGTERM, previous[0])
        signal.signal(signal.SIGINT, previous[1])


if __name__ == "__main__":
    raise SystemExit(main())

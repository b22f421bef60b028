"""The ``multisc`` command line (typer + rich), one module per command group. Every
command takes ``--json``."""

from __future__ import annotations

import importlib

import typer
from rich.markup import escape

from multisc.cli.common import _emit, _finite, _quiet_libraries, app, err
from multisc.errors import MultiscError

__all__ = ["_emit", "_finite", "_quiet_libraries", "app", "main"]

# the command groups register on `app` as they are imported: this order is --help's
for _group in ("link", "transmit", "run", "schemes", "jscc", "models", "corrector"):
    importlib.import_module(f"multisc.cli.{_group}")


def main(argv: list[str] | None = None) -> int:
    """Entry point. A :class:`MultiscError` or a usage error is printed on one line (exit 2),
    never a traceback."""
    try:  # typer >= 0.2x carries its own copy of click
        from typer._click.exceptions import NoArgsIsHelpError, UsageError
    except ImportError:
        from click.exceptions import NoArgsIsHelpError, UsageError

    _quiet_libraries()
    try:
        app(args=argv, prog_name="multisc", standalone_mode=False)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except typer.Exit as exc:  # --help, --version
        return exc.exit_code
    except NoArgsIsHelpError as exc:  # plain `multisc`: the help
        err.print(exc.format_message(), highlight=False, markup=False)
        return 0
    except UsageError as exc:  # typer would draw a box: one line, as for every error
        command = exc.ctx.command_path if exc.ctx else "multisc"
        err.print(
            f"[bold red]error:[/] {escape(exc.format_message())} (see `{command} --help`)",
            highlight=False,
            soft_wrap=True,
        )
        return 2
    except typer.Abort:
        err.print("aborted")
        return 1
    except MultiscError as exc:
        err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

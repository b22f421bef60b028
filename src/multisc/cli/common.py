"""What every command shares: the typer app, the consoles, ``--json`` and ``--device``,
and how results are printed (a table, or one strict JSON object)."""

from __future__ import annotations

import functools
import inspect
import json
import math
import os
import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from multisc import __version__
from multisc.errors import InvalidInputError, did_you_mean, printable

app = typer.Typer(
    name="multisc",
    help="Generative semantic image transmission (Multi-SC) and its baselines over noisy channels.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class _Console(Console):
    """A rich console that writes a file name's undecodable bytes as ``\\xNN`` (see
    [printable][multisc.errors.printable]) rather than failing on a strict stream."""

    def _render_buffer(self, buffer) -> str:  # rich's one place that makes the text written
        return printable(super()._render_buffer(buffer))


out = _Console()


err = _Console(stderr=True)


def show(console: Console, table) -> None:
    """Print ``table`` fitted to a terminal's width (cells wrap at word boundaries), and
    at its natural width up to 240 columns in a log or a pipe (which would get 80 columns
    and cut names); never narrower than its longest words (rich cuts a word below that)."""
    from rich.measure import Measurement

    measured = Measurement.get(console, console.options.update_width(10**5), table)
    if console.is_terminal:
        needed = measured.minimum
    else:
        needed = max(measured.minimum, min(measured.maximum, 240))
    if needed <= console.width:
        console.print(table)
        return
    # print(width=) cannot exceed the console's width: widen the console for this table
    saved = console.__dict__.get("_width")
    console.width = needed
    try:
        console.print(table)
    finally:
        console._width = saved


def _untyped_flags() -> None:
    """``--help`` shows no type beside an on/off flag (``--json``, ``--help`` itself): typer
    (0.29) prints ``<bool>`` there, as if the flag took a value, and has no setting for it;
    its one display method is wrapped, every other option's type is shown as before."""
    from typer.core import TyperOption

    shown = TyperOption.display_type_rich
    if getattr(shown, "_multisc", False):
        return

    def display_type_rich(self, ctx):
        return None if getattr(self, "is_flag", False) else shown(self, ctx)

    display_type_rich._multisc = True  # type: ignore[attr-defined]
    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


_untyped_flags()


def flag(name: str, help: str, **options: Any):
    """An on/off option: ``--NAME`` alone (off unless given)."""
    return typer.Option(False, name, help=help, **options)


JSON_OPTION = flag("--json", "Print one JSON object instead of a table.")


TABLE_METRICS_OPTION = typer.Option(
    None,
    "--table-metrics",
    help="The metrics summary.tex and summary.md have tables for, comma-separated, in this "
    "order (e.g. psnr,lpips,clip_cosine). (default: the config's table_metrics, else all; "
    "the figures keep every metric)",
)


def table_metrics_flag(flag: str | None) -> list[str] | None:
    """``--table-metrics psnr,lpips`` as names, checked before any work."""
    from multisc.metric_names import table_metric_names

    if flag is None:
        return None
    return table_metric_names([n.strip() for n in flag.split(",") if n.strip()], "--table-metrics")


DEVICE_OPTION = typer.Option("auto", "--device", help="cpu, cuda or auto (CUDA when present).")


def nr_first_use(spec) -> None:
    """Over an NR link with ``mcs: auto``, the MCS thresholds are measured on first use
    (minutes) and cached: say so, line by line as ``multisc run`` does, with a bar (and
    Sionna's warnings off the terminal); nothing when they are cached or the MCS is fixed."""
    if spec.nr is None or spec.nr.mcs is not None:
        return
    import warnings

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from multisc.channel import nr_mcs

    todo = nr_mcs.pending(spec.nr)
    if not todo:
        return
    columns = (TextColumn("NR MCS thresholds"), BarColumn(), MofNCompleteColumn())
    with (
        Progress(*columns, TimeElapsedColumn(), console=err, transient=True) as bar,
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore", UserWarning)
        task = bar.add_task("", total=len(todo))
        started = [False]

        def progress(line: str) -> None:
            if started[0]:
                bar.advance(task)
            started[0] = True
            bar.console.print(line, highlight=False, markup=False, soft_wrap=True)

        nr_mcs.thresholds(spec.nr, progress=progress)
        bar.advance(task)


def _version(value: bool) -> None:
    if value:
        out.print(f"multisc {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = flag(
        "--version", "Print the version and exit.", callback=_version, is_eager=True
    ),
) -> None:
    """multisc: Multi-SC and baselines over simulated noisy channels."""


def _check_image_output(path: Path) -> None:
    """A path an image can be saved at: not a directory, an extension Pillow writes."""
    from PIL import Image

    if path.is_dir():
        raise InvalidInputError(f"--out {path} is a directory: give a file name, e.g. out.png")
    writable = {ext for ext, fmt in Image.registered_extensions().items() if fmt in Image.SAVE}
    if path.suffix.lower() not in writable:
        raise InvalidInputError(
            f"--out {path}: cannot write images with extension {path.suffix!r}; use .png or "
            ".jpg (or another of " + ", ".join(sorted(writable)[:12]) + ", ...)"
        )


def _finite(value: Any) -> Any:
    """``value`` with NaN and infinities as ``None``: strict JSON parsers reject bare NaN."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _write_json(payload: Any) -> None:
    """One JSON document on stdout (strict: no NaN), the output of every ``--json``."""
    text = json.dumps(_finite(payload), indent=2, ensure_ascii=False, default=str, allow_nan=False)
    sys.stdout.write(text + "\n")


def _emit(payload: dict[str, Any], as_json: bool, title: str) -> None:
    if as_json:
        _write_json(payload)
        return
    table = Table(title=title, show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    for key, value in payload.items():  # values are data (received text): never markup
        table.add_row(key, Text("—" if value is None else str(value)))
    show(out, table)


def _split(values: list[str] | None, flag: str = "a list") -> list[str] | None:
    """Repeated options and comma-separated lists alike: --snr 0 --snr 3 or --snr 0,3. An
    empty item (``0,3,,6``, ``0,3,``) is refused, naming ``flag``: a value left out is a
    mistake, not a request for fewer values."""
    if not values:
        return None
    parts = [part.strip() for value in values for part in value.split(",")]
    if not all(parts):
        shown = ",".join(values)
        raise InvalidInputError(
            f"{flag} {shown!r} has an empty item: separate values by single commas"
        )
    return parts


QUIET_ENV = "MULTISC_QUIET_LIBRARIES"


def _quiet_libraries() -> None:
    """The CLI draws its own progress: library loading bars and advice lines go off when a
    component is first loaded
    ([multisc.models.loading.quiet_libraries][multisc.models.loading.quiet_libraries]; not now,
    which would import transformers and diffusers before every command)."""
    os.environ[QUIET_ENV] = "1"  # read at the first load; importing multisc.models is slow
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")


def _flag(name: str, *names: str, kind: type = str, help: str) -> inspect.Parameter:
    return inspect.Parameter(
        name,
        inspect.Parameter.KEYWORD_ONLY,
        default=typer.Option(None, *names, help=help),
        annotation=kind | None,
    )


#: the channel flags every command that sends something takes (see ``channel_flags``)
CHANNEL_FLAGS = (
    _flag(
        "channel_model",
        "--channel",
        "--link",
        "--fading",
        help="awgn, rayleigh or nr (a 5G NR link: OFDM, DMRS, 3GPP fading). (default: awgn)",
    ),
    _flag("coherence", "--coherence", kind=int, help="Symbols per Rayleigh coefficient."),
    _flag("tdl", "--tdl", help="nr: TDL profile A..E, or none (no fading). (default: A)"),
    _flag("cdl", "--cdl", help="nr: CDL profile A..E instead of a TDL one."),
    _flag("delay_spread_ns", "--delay-spread-ns", kind=float, help="nr: delay spread (ns)."),
    _flag("speed_kmh", "--speed-kmh", kind=float, help="nr: UE speed (km/h, Doppler)."),
    _flag("carrier_ghz", "--carrier-ghz", kind=float, help="nr: carrier frequency (GHz)."),
    _flag("prbs", "--prbs", kind=int, help="nr: physical resource blocks. (default: 16)"),
    _flag("scs_khz", "--scs-khz", kind=int, help="nr: subcarrier spacing (kHz). (default: 30)"),
    _flag("csi", "--csi", help="nr: estimated (LS on the DMRS) or perfect."),
    _flag("mcs", "--mcs", "--mcs-index", help="nr: MCS index (TS 38.214 table 1) or auto."),
)


#: what ``--channel`` (``--link``, ``--fading``) takes
CHANNEL_MODELS = ("awgn", "rayleigh", "nr")


def channel_from_flags(**flags: Any):
    """The [ChannelConfig][multisc.experiment.settings.ChannelConfig] the flags give, or ``None``
    when none was given (a run keeps its config's channel; other commands use AWGN)."""
    from pydantic import ValidationError

    from multisc.experiment.settings import ChannelConfig

    given = {k: v for k, v in flags.items() if v is not None}
    if not given:
        return None
    model = given.pop("channel_model", None)
    if model is not None and model not in CHANNEL_MODELS:
        hint = did_you_mean(model, CHANNEL_MODELS)
        raise InvalidInputError(
            f"--channel {model!r} is not one of {', '.join(CHANNEL_MODELS)}{hint}"
        )
    if model is None:
        nr_only = {k for k in given if k != "coherence"}
        model = "nr" if nr_only else "rayleigh"
    mcs = given.get("mcs")
    if mcs is not None and mcs != "auto":
        try:
            given["mcs"] = int(mcs)
        except ValueError as exc:
            raise InvalidInputError(f"--mcs takes an MCS index or auto, got {mcs!r}") from exc
    try:
        return ChannelConfig(model=model, **given)
    except ValidationError as exc:
        problems = "; ".join(_flag_problem(e, given) for e in exc.errors())
        raise InvalidInputError(problems) from exc


def _flag_problem(error: dict[str, Any], given: dict[str, Any]) -> str:
    """One pydantic error of the channel flags as the flag and value given, what it takes,
    and the closest choice (``--csi 'maybe': ... 'estimated' or 'perfect'; did you mean
    ...``)."""
    import re

    flags = {p.name: p.default.param_decls[0] for p in CHANNEL_FLAGS}
    field = next((str(part) for part in error.get("loc", ()) if str(part) in flags), None)
    message = error["msg"].removeprefix("Value error, ")
    if field is None:
        return f"invalid channel flags: {message}"
    value = given.get(field)
    text = f"{flags[field]} {value!r}: {message[:1].lower()}{message[1:]}"
    if error.get("type") == "literal_error":
        choices = re.findall(r"'([^']*)'", str((error.get("ctx") or {}).get("expected", "")))
        text += did_you_mean(value, choices)
    return text


def channel_flags(func):
    """Give a command the ``CHANNEL_FLAGS``; it receives them as one ``channel``
    argument (a ``ChannelConfig``, or ``None`` when no flag was given)."""
    signature = inspect.signature(func, eval_str=True)
    kept = [p for p in signature.parameters.values() if p.name != "channel"]
    names = [p.name for p in CHANNEL_FLAGS]

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any):
        flags = {name: kwargs.pop(name, None) for name in names}
        return func(*args, channel=channel_from_flags(**flags), **kwargs)

    wrapper.__signature__ = signature.replace(parameters=[*kept, *CHANNEL_FLAGS])  # type: ignore[attr-defined]
    wrapper.__annotations__ = {
        **{p.name: p.annotation for p in kept},
        **{p.name: p.annotation for p in CHANNEL_FLAGS},
        "return": signature.return_annotation,
    }
    return wrapper


def check_output_file(path: str | Path, flag: str) -> Path:
    """Refuse, before any work, an output file multisc could not write as asked: a link
    (even one pointing nowhere: it would be written through), a folder, or a file under a
    folder that does not exist. Write it with
    [multisc.atomic.write_text][multisc.atomic.write_text]: a new file renamed into place,
    which replaces a link rather than following it."""
    path = Path(path)
    if path.is_symlink():
        raise InvalidInputError(
            f"{flag} {path} is a symbolic link: multisc never writes through one"
        )
    if path.is_dir():
        raise InvalidInputError(f"{flag} {path} is a folder: give a file name")
    if not path.parent.is_dir():
        raise InvalidInputError(f"{flag} {path}: its folder {path.parent} does not exist")
    return path

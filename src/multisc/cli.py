"""The ``multisc`` command line (typer + rich). Every command takes ``--json``."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from multisc import __version__
from multisc.errors import InvalidInputError, MultiscError

app = typer.Typer(
    name="multisc",
    help="Generative semantic image transmission (Multi-SC) and its baselines over noisy channels.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)

JSON_OPTION = typer.Option(False, "--json", help="Print one JSON object instead of a table.")
DEVICE_OPTION = typer.Option("auto", "--device", help="cpu, cuda or auto (CUDA when present).")


def _version(value: bool) -> None:
    if value:
        out.print(f"multisc {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """multisc: Multi-SC and baselines over simulated noisy channels."""


def _emit(payload: dict[str, Any], as_json: bool, title: str) -> None:
    if as_json:
        sys.stdout.write(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
        return
    table = Table(title=title, show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    for key, value in payload.items():
        table.add_row(key, "—" if value is None else str(value))
    out.print(table)


@app.command()
def channel(
    text: str = typer.Option(..., "--text", help="Text to send (UTF-8)."),
    snr: float = typer.Option(..., "--snr", help="SNR in dB (Es/N0 per complex channel use)."),
    modulation: str = typer.Option("bpsk", help="bpsk, qpsk, 16qam or 64qam."),
    fec: str = typer.Option("none", help="none (uncoded) or ldpc (5G NR LDPC)."),
    code_rate: float = typer.Option(0.5, help="LDPC code rate, in [1/5, 0.95]."),
    fading: str = typer.Option("awgn", help="awgn or rayleigh."),
    coherence: int = typer.Option(1, help="Symbols per Rayleigh fading coefficient."),
    seed: int = typer.Option(0, help="Seed of the noise and fading."),
    device: str = DEVICE_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Send one text over a digital link and show what arrives."""
    from multisc.channel import ChannelSpec, DigitalLink
    from multisc.devices import make_generator

    spec = ChannelSpec(snr, fading=fading, coherence=coherence)  # type: ignore[arg-type]
    link = DigitalLink(modulation, fec, code_rate, device=device)
    result = link.send_text(text, spec, make_generator(seed, link.device))
    payload = {
        "sent": result.sent,
        "received": result.received,
        "bits": result.bits,
        "bit_errors": result.bit_errors,
        "ber": result.ber,
        "block_errors": result.block_errors,
        "channel_uses": result.channel_uses,
        "snr_db": spec.snr_db,
        "fading": spec.fading,
        "modulation": link.modulation,
        "fec": link.fec,
        "code_rate": link.code_rate if link.fec == "ldpc" else None,
    }
    _emit(payload, as_json, f"{link!r} at {spec.snr_db:g} dB ({spec.fading})")


@app.command()
def ber(
    modulation: str = typer.Option(..., help="bpsk, qpsk, 16qam or 64qam."),
    fec: str = typer.Option(..., help="none (uncoded) or ldpc (5G NR LDPC)."),
    snr: float = typer.Option(..., "--snr", help="SNR in dB (Es/N0 per complex channel use)."),
    bits: int = typer.Option(..., "--bits", help="Information bits to send in total."),
    code_rate: float = typer.Option(0.5, help="LDPC code rate, in [1/5, 0.95]."),
    block_bits: int = typer.Option(1024, help="Information bits per LDPC codeword (12..8448)."),
    fading: str = typer.Option("awgn", help="awgn or rayleigh."),
    coherence: int = typer.Option(1, help="Symbols per Rayleigh fading coefficient."),
    seed: int = typer.Option(0, help="Seed of bits, noise and fading."),
    device: str = DEVICE_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Measure the bit error rate (and block error rate with LDPC) of a link."""
    from multisc.channel import ChannelSpec, DigitalLink, ber_theory
    from multisc.devices import make_generator

    if bits < 1:
        raise InvalidInputError(f"--bits must be a positive number of bits, got {bits}")
    spec = ChannelSpec(snr, fading=fading, coherence=coherence)  # type: ignore[arg-type]
    link = DigitalLink(modulation, fec, code_rate, max_block_bits=block_bits, device=device)
    generator = make_generator(seed, link.device)
    import torch

    # Messages of one codeword each (uncoded: the same size), a batch of them per step.
    message = min(bits, block_bits)
    per_step = max(1, (1 << 18) // message)
    sent = bit_errors = block_errors = blocks = channel_uses = 0
    started = time.perf_counter()
    with Progress(
        TextColumn("[bold]BER[/] {task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,.0f}/{task.total:,.0f} bits"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    ) as progress:
        task = progress.add_task(f"{modulation}/{fec} @ {spec.snr_db:g} dB", total=bits)
        while sent < bits:
            full_rows = (bits - sent) // message
            rows, length = (min(per_step, full_rows), message) if full_rows else (1, bits - sent)
            payload = torch.randint(0, 2, (rows, length), generator=generator, device=link.device)
            result = link.send_bits(payload, spec, generator)
            bit_errors += int(result.bit_errors.sum())
            if result.block_errors is not None:
                block_errors += int(result.block_errors.sum())
                blocks += rows * result.blocks
            channel_uses += rows * result.channel_uses
            sent += rows * length
            progress.update(task, completed=sent)
    seconds = time.perf_counter() - started
    payload_out = {
        "ber": bit_errors / sent,
        "bler": block_errors / blocks if link.fec == "ldpc" else None,
        "bits": sent,
        "bit_errors": bit_errors,
        "blocks": blocks if link.fec == "ldpc" else None,
        "block_errors": block_errors if link.fec == "ldpc" else None,
        "channel_uses": channel_uses,
        "snr_db": spec.snr_db,
        "fading": spec.fading,
        "modulation": link.modulation,
        "fec": link.fec,
        "code_rate": link.code_rate if link.fec == "ldpc" else None,
        "ber_theory_uncoded": ber_theory(modulation, spec.snr_db, spec.fading)
        if link.fec == "none"
        else None,
        "seconds": round(seconds, 3),
        "bits_per_second": round(sent / seconds) if seconds > 0 else None,
        "device": str(link.device),
    }
    _emit(payload_out, as_json, f"{link!r} at {spec.snr_db:g} dB ({spec.fading})")


def main(argv: list[str] | None = None) -> int:
    """Entry point. A :class:`MultiscError` is printed on one line (exit 2), never a traceback;
    usage errors are typer's own (exit 2)."""
    try:
        app(args=argv, prog_name="multisc", standalone_mode=True)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except MultiscError as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``multisc channel`` and ``multisc ber``: one text over a link, and error rates."""

from __future__ import annotations

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from multisc.cli.common import (
    DEVICE_OPTION,
    JSON_OPTION,
    _emit,
    app,
    err,
)
from multisc.errors import InvalidInputError


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
    fec: str = typer.Option("none", help="none (uncoded) or ldpc (5G NR LDPC)."),
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
    from multisc.channel import ChannelSpec, DigitalLink, measure_error_rates
    from multisc.devices import make_generator

    if bits < 1:
        raise InvalidInputError(f"--bits must be a positive number of bits, got {bits}")
    spec = ChannelSpec(snr, fading=fading, coherence=coherence)  # type: ignore[arg-type]
    link = DigitalLink(modulation, fec, code_rate, max_block_bits=block_bits, device=device)
    generator = make_generator(seed, link.device)
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
        rates = measure_error_rates(
            link,
            spec,
            bits,
            generator,
            block_bits=block_bits,
            progress=lambda done, total: progress.update(task, completed=done),
        )
    payload_out = {
        "ber": rates.ber,
        "bler": rates.bler,
        "bits": rates.bits,
        "bit_errors": rates.bit_errors,
        "blocks": rates.blocks,
        "block_errors": rates.block_errors,
        "channel_uses": rates.channel_uses,
        "snr_db": spec.snr_db,
        "fading": spec.fading,
        "modulation": link.modulation,
        "fec": link.fec,
        "code_rate": link.code_rate if link.fec == "ldpc" else None,
        "ber_theory_uncoded": rates.ber_theory_uncoded,
        "seconds": round(rates.seconds, 3),
        "bits_per_second": None if rates.bits_per_second is None else round(rates.bits_per_second),
        "device": str(link.device),
    }
    _emit(payload_out, as_json, f"{link!r} at {spec.snr_db:g} dB ({spec.fading})")

"""``multisc channel`` and ``multisc ber``: one text over a link, and error rates."""

from __future__ import annotations

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from multisc.cli.common import (
    DEVICE_OPTION,
    JSON_OPTION,
    _emit,
    app,
    channel_flags,
    err,
    nr_first_use,
)
from multisc.errors import InvalidInputError


def _spec(snr: float, channel):
    """The ChannelSpec of the channel flags at ``snr`` (AWGN when none was given)."""
    from multisc.channel import ChannelSpec

    return ChannelSpec(snr) if channel is None else channel.spec(snr)


@app.command()
@channel_flags
def channel(
    text: str = typer.Option(..., "--text", help="Text to send (UTF-8)."),
    snr: float = typer.Option(..., "--snr", help="SNR in dB (Es/N0 per complex channel use)."),
    modulation: str = typer.Option("bpsk", help="bpsk, qpsk, 16qam or 64qam."),
    fec: str = typer.Option("none", help="none (uncoded) or ldpc (5G NR LDPC)."),
    code_rate: float = typer.Option(0.5, help="LDPC code rate, in [1/5, 0.95]."),
    seed: int = typer.Option(0, help="Seed of the noise and fading."),
    device: str = DEVICE_OPTION,
    as_json: bool = JSON_OPTION,
    channel=None,
) -> None:
    """Send one text over a digital link and show what arrives (over --channel nr: the 5G
    NR PUSCH chain at --mcs; modulation, FEC and code rate apply to awgn/rayleigh)."""
    from multisc.channel import DigitalLink
    from multisc.devices import make_generator

    spec = _spec(snr, channel)
    link = DigitalLink(modulation, fec, code_rate, device=device)
    nr_first_use(spec)
    result = link.send_text(text, spec, make_generator(seed, link.device))
    payload = {
        "sent": result.sent,
        "received": result.received,
        "bits": result.bits,
        "bit_errors": result.bit_errors,
        "ber": result.ber,
        "block_errors": result.block_errors,
        "channel_uses": result.channel_uses,
        "pilot_uses": result.pilot_uses,
        "snr_db": spec.snr_db,
        "fading": spec.label,
        "modulation": link.modulation,
        "fec": link.fec,
        "code_rate": link.code_rate if link.fec == "ldpc" else None,
        "mcs_index": result.mcs,
    }
    if spec.nr is not None:  # what NR used: the MCS's QAM and LDPC rate, not the flags'
        from multisc.channel.nr import mcs_parameters

        order, rate = mcs_parameters(result.mcs, spec.nr.mcs_table)
        payload.update(modulation=QAM_NAMES[order], fec="ldpc", code_rate=round(rate, 4))
    _emit(payload, as_json, f"{link!r} at {spec.snr_db:g} dB ({spec.label})")


@app.command()
@channel_flags
def ber(
    snr: float = typer.Option(..., "--snr", help="SNR in dB (Es/N0 per complex channel use)."),
    modulation: str | None = typer.Option(None, help="bpsk, qpsk, 16qam or 64qam."),
    fec: str = typer.Option("none", help="none (uncoded) or ldpc (5G NR LDPC)."),
    bits: int | None = typer.Option(None, "--bits", help="Information bits to send in total."),
    blocks: int | None = typer.Option(
        None, "--blocks", help="nr: transport blocks (slots) to send. (default: 100)"
    ),
    code_rate: float = typer.Option(0.5, help="LDPC code rate, in [1/5, 0.95]."),
    block_bits: int = typer.Option(1024, help="Information bits per LDPC codeword (12..8448)."),
    seed: int = typer.Option(0, help="Seed of bits, noise and fading."),
    device: str = DEVICE_OPTION,
    as_json: bool = JSON_OPTION,
    channel=None,
) -> None:
    """Measure the bit error rate (and block error rate with LDPC) of a link; with
    --link nr, the BLER and BER of NR transport blocks at --mcs-index."""
    from multisc.channel import DigitalLink, measure_error_rates
    from multisc.devices import make_generator

    spec = _spec(snr, channel)
    if spec.nr is not None:
        nr_first_use(spec)
        _ber_nr(spec, 100 if blocks is None else blocks, seed, device, as_json)
        return
    if modulation is not None:
        from multisc.channel.digital import MODULATIONS

        if modulation not in MODULATIONS:
            from multisc.errors import choices_error

            raise choices_error("modulation", modulation, list(MODULATIONS))
    missing = [flag for flag, v in (("--modulation", modulation), ("--bits", bits)) if v is None]
    if missing:
        raise InvalidInputError(
            f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} needed "
            "(or --link nr --blocks N)"
        )
    if bits < 1:
        raise InvalidInputError(f"--bits must be a positive number of bits, got {bits}")
    link = DigitalLink(modulation, fec, code_rate, max_block_bits=block_bits, device=device)
    generator = make_generator(seed, link.device)
    with _progress("BER", "bits") as progress:
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
        "fading": spec.label,
        "modulation": link.modulation,
        "fec": link.fec,
        "code_rate": link.code_rate if link.fec == "ldpc" else None,
        "ber_theory_uncoded": rates.ber_theory_uncoded,
        "seconds": round(rates.seconds, 3),
        "bits_per_second": None if rates.bits_per_second is None else round(rates.bits_per_second),
        "device": str(link.device),
    }
    _emit(payload_out, as_json, f"{link!r} at {spec.snr_db:g} dB ({spec.label})")


def _ber_nr(spec, blocks: int, seed: int, device: str, as_json: bool) -> None:
    from multisc.channel import measure_nr_error_rates
    from multisc.channel.nr import mcs_parameters
    from multisc.devices import resolve_device

    where = str(resolve_device(device))
    generator = make_generator_cpu(seed)
    with _progress("BLER", "TBs") as progress:
        task = progress.add_task(f"{spec.label} @ {spec.snr_db:g} dB", total=blocks)
        rates = measure_nr_error_rates(
            spec,
            blocks,
            generator,
            device=where,
            progress=lambda done, total: progress.update(task, completed=done),
        )
    order, rate = mcs_parameters(rates.mcs, spec.nr.mcs_table)
    payload = {
        "bler": rates.bler,
        "ber": rates.ber,
        "tb_size": rates.tb_size,
        "blocks": rates.blocks,
        "block_errors": rates.block_errors,
        "bits": rates.bits,
        "bit_errors": rates.bit_errors,
        "mcs_index": rates.mcs,
        "bits_per_symbol": order,
        "code_rate": round(rate, 4),
        "channel_uses": {
            "total": rates.channel_uses,
            "data": rates.data_uses,
            "pilot": rates.pilot_uses,
        },
        "snr_db": spec.snr_db,
        "channel": spec.label,
        "seconds": round(rates.seconds, 3),
        "bits_per_second": None if rates.bits_per_second is None else round(rates.bits_per_second),
        "device": where,
    }
    _emit(payload, as_json, f"NR link at {spec.snr_db:g} dB ({spec.label})")


def make_generator_cpu(seed: int):
    """NR draws its channel on the CPU generator's device (the chain runs on --device)."""
    import torch

    return torch.Generator().manual_seed(seed)


#: QAM names by bits per symbol (NR's MCS tables)
QAM_NAMES = {1: "bpsk", 2: "qpsk", 4: "16qam", 6: "64qam", 8: "256qam"}


def _progress(what: str, unit: str) -> Progress:
    return Progress(
        TextColumn(f"[bold]{what}[/] {{task.description}}"),
        BarColumn(),
        TextColumn(f"{{task.completed:,.0f}}/{{task.total:,.0f}} {unit}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    )

"""Monte Carlo error rates of a digital link: what ``multisc ber`` prints, as a function."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from multisc.channel.digital import DigitalLink
from multisc.channel.spec import ChannelSpec
from multisc.channel.theory import ber_theory
from multisc.errors import InvalidInputError

#: bits per batch the link sends at once (a speed setting: the counts do not depend on it)
BITS_PER_STEP = 1 << 18


@dataclass(frozen=True)
class ErrorRates:
    """Bit (and, with LDPC, block) error counts of
    [measure_error_rates][multisc.channel.measure.measure_error_rates].

    :ivar ber: bit errors / bits. :ivar bler: block errors / blocks (``None`` uncoded).
    :ivar channel_uses: complex symbols spent on all the bits.
    :ivar ber_theory_uncoded: the closed form for the uncoded link (``None`` with LDPC).
    """

    ber: float
    bler: float | None
    bits: int
    bit_errors: int
    blocks: int | None
    block_errors: int | None
    channel_uses: int
    ber_theory_uncoded: float | None
    seconds: float

    @property
    def bits_per_second(self) -> float | None:
        return self.bits / self.seconds if self.seconds > 0 else None


def measure_error_rates(
    link: DigitalLink,
    spec: ChannelSpec,
    bits: int,
    generator: torch.Generator,
    *,
    block_bits: int = 1024,
    progress: Callable[[int, int], None] | None = None,
) -> ErrorRates:
    """Send ``bits`` random bits over ``link`` at ``spec`` in messages of one codeword
    (``block_bits``; uncoded: the same size), a batch of messages per step.

    :param progress: called with (bits sent, bits) after every step.
    """
    if bits < 1:
        raise InvalidInputError(f"bits must be a positive number of bits, got {bits}")
    message = min(bits, block_bits)
    per_step = max(1, BITS_PER_STEP // message)
    sent = bit_errors = block_errors = blocks = channel_uses = 0
    started = time.perf_counter()
    while sent < bits:
        full_rows = (bits - sent) // message
        rows, length = (min(per_step, full_rows), message) if full_rows else (1, bits - sent)
        # drawn where the generator lives (a CPU seed means the same bits everywhere)
        payload = torch.randint(
            0, 2, (rows, length), generator=generator, device=generator.device
        ).to(link.device)
        result = link.send_bits(payload, spec, generator)
        bit_errors += int(result.bit_errors.sum())
        if result.block_errors is not None:
            block_errors += int(result.block_errors.sum())
            blocks += rows * result.blocks
        channel_uses += rows * result.channel_uses
        sent += rows * length
        if progress is not None:
            progress(sent, bits)
    coded = link.fec == "ldpc"
    return ErrorRates(
        ber=bit_errors / sent,
        bler=block_errors / blocks if coded else None,
        bits=sent,
        bit_errors=bit_errors,
        blocks=blocks if coded else None,
        block_errors=block_errors if coded else None,
        channel_uses=channel_uses,
        ber_theory_uncoded=None if coded else ber_theory(link.modulation, spec.snr_db, spec.fading),
        seconds=time.perf_counter() - started,
    )


@dataclass(frozen=True)
class NRErrorRates:
    """Transport-block and bit error counts of
    [measure_nr_error_rates][multisc.channel.measure.measure_nr_error_rates].

    :ivar bler: TBs whose CRC failed / TBs. :ivar ber: bit errors / bits (after decoding).
    :ivar tb_size: information bits per TB (one slot). :ivar mcs: the MCS index used.
    :ivar channel_uses: REs of all slots, DMRS included; :ivar pilot_uses: the DMRS REs.
    """

    bler: float
    ber: float
    blocks: int
    block_errors: int
    bits: int
    bit_errors: int
    tb_size: int
    mcs: int
    channel_uses: int
    pilot_uses: int
    seconds: float

    @property
    def data_uses(self) -> int:
        return self.channel_uses - self.pilot_uses

    @property
    def bits_per_second(self) -> float | None:
        """Information bits sent per second of simulation (the link's speed here)."""
        return self.bits / self.seconds if self.seconds > 0 else None


#: TBs (slots) sent at once (a speed setting: the counts do not depend on it)
NR_BLOCKS_PER_STEP = 16


def measure_nr_error_rates(
    spec: ChannelSpec,
    blocks: int,
    generator: torch.Generator,
    *,
    device: str = "cpu",
    progress: Callable[[int, int], None] | None = None,
) -> NRErrorRates:
    """Send ``blocks`` random transport blocks (one slot each) over the NR link of
    ``spec`` (its MCS, or the one ``mcs: auto`` picks at its SNR).

    :param progress: called with (TBs sent, TBs) after every step.
    """
    from multisc.channel import nr_mcs

    if spec.nr is None:
        raise InvalidInputError("measure_nr_error_rates needs an NR channel (fading='nr')")
    if blocks < 1:
        raise InvalidInputError(f"blocks must be a positive number of TBs, got {blocks}")
    config = nr_mcs.resolve(spec.nr, spec.snr_db)
    link = nr_mcs.nr_link(config, device)
    sent = failed = bit_errors = 0
    started = time.perf_counter()
    while sent < blocks:
        rows = min(NR_BLOCKS_PER_STEP, blocks - sent)
        payload = torch.randint(
            0, 2, (rows, link.tb_size), generator=generator, device=generator.device
        ).float()
        out = link.send_bits(payload, spec.snr_db, generator)
        failed += int(out.tb_failed.sum())
        bit_errors += int((out.bits.to(payload.device) != payload).sum())
        sent += rows
        if progress is not None:
            progress(sent, blocks)
    uses, pilots = link.channel_uses(link.tb_size)
    return NRErrorRates(
        bler=failed / sent,
        ber=bit_errors / (sent * link.tb_size),
        blocks=sent,
        block_errors=failed,
        bits=sent * link.tb_size,
        bit_errors=bit_errors,
        tb_size=link.tb_size,
        mcs=int(config.mcs or 0),
        channel_uses=sent * uses,
        pilot_uses=sent * pilots,
        seconds=time.perf_counter() - started,
    )

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
    """Bit (and, with LDPC, block) error counts of :func:`measure_error_rates`.

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
        payload = torch.randint(0, 2, (rows, length), generator=generator, device=link.device)
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

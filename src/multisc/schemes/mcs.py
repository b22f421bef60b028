"""Choosing a modulation and code rate per SNR from decoding thresholds we measure.

Published BPG-LDPC baselines grid-search the modulation and coding scheme (MCS) per
SNR. We do the same from measurements: for each MCS in {1/3, 1/2, 2/3} x {QPSK, 16-QAM,
64-QAM} the SNR at which our own [DigitalLink][multisc.channel.digital.DigitalLink] reaches a block
error rate of 10% (bisection), cached on disk. At a given SNR the best expected quality
under a channel-use budget comes from the most bits, so the choice is the MCS with the
highest spectral efficiency whose threshold (plus a margin) the SNR clears.

Longer LDPC codewords decode at lower SNR (0.1-0.6 dB between 1024 and 8448 information
bits), so thresholds are measured at the codeword size actually sent: each MCS's own
codeword length for the payload at hand, rounded down to one of ``BLOCK_SIZES`` (a
threshold from a shorter codeword is slightly conservative, never optimistic).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch

from multisc.cache import bisect_threshold, cache_root, merge_json, read_json
from multisc.channel import ChannelSpec, DigitalLink

MODULATIONS = ("qpsk", "16qam", "64qam")
CODE_RATES = (1 / 3, 1 / 2, 2 / 3)
BITS = {"qpsk": 2, "16qam": 4, "64qam": 6}


@dataclass(frozen=True)
class Mcs:
    modulation: str
    code_rate: float

    @property
    def efficiency(self) -> float:
        """Information bits per channel use."""
        return BITS[self.modulation] * self.code_rate

    def __str__(self) -> str:
        return f"{self.modulation} r={self.code_rate:.3g}"


ALL_MCS = tuple(Mcs(m, r) for m in MODULATIONS for r in CODE_RATES)

#: information bits per codeword at which thresholds are measured (5G LDPC's largest: 8448)
BLOCK_SIZES = (1024, 2048, 4096, 6144, 8448)


def block_size_class(info_bits: int) -> int:
    """The measured codeword size for codewords of ``info_bits``: the largest of
    ``BLOCK_SIZES`` not above it (the smallest for shorter codewords)."""
    fitting = [b for b in BLOCK_SIZES if b <= info_bits]
    return fitting[-1] if fitting else BLOCK_SIZES[0]


def codewords_for(block_bits: int) -> int:
    """Codewords per BLER estimate: about 100 kbit of information, at least 12."""
    return max(12, math.ceil(100 * 1024 / block_bits))


def cache_path() -> Path:
    return cache_root() / "mcs_thresholds.json"


def measure_threshold(
    mcs: Mcs,
    fading: str = "awgn",
    *,
    target_bler: float = 0.1,
    block_bits: int = 1024,
    codewords: int = 100,
    resolution_db: float = 0.25,
    seed: int = 0,
    device: str | torch.device = "cpu",
) -> float:
    """SNR (dB) at which ``mcs`` reaches ``target_bler`` with ``block_bits``-bit codewords.

    Bisection between the Shannon limit of the MCS's efficiency minus 1 dB (nothing
    decodes below it) and 14 dB above it (AWGN thresholds of 5G LDPC lie within ~3 dB of
    the limit; Rayleigh fast fading adds up to ~10 dB).
    """
    link = DigitalLink(
        mcs.modulation, "ldpc", mcs.code_rate, max_block_bits=block_bits, device=device
    )
    generator = torch.Generator(device=link.device).manual_seed(seed)
    bits = torch.randint(0, 2, (codewords, block_bits), generator=generator, device=link.device)

    def bler(snr: float) -> float:
        out = link.send_bits(bits, ChannelSpec(snr, fading=fading), generator)
        return float(out.block_errors.sum()) / (codewords * out.blocks)

    shannon_db = 10 * math.log10(2**mcs.efficiency - 1)
    return bisect_threshold(bler, shannon_db - 1.0, shannon_db + 14.0, target_bler, resolution_db)


def thresholds(
    fading: str = "awgn",
    block_bits: int = 1024,
    *,
    mcs: tuple[Mcs, ...] = ALL_MCS,
    codewords: int | None = None,
    refresh: bool = False,
    progress=None,
) -> dict[str, float]:
    """Thresholds (dB) of ``mcs`` for ``fading`` at ``block_bits``-bit codewords: measured
    once, then read from the cache (``$MULTISC_CACHE`` or ``~/.cache/multisc``)."""
    codewords = codewords or codewords_for(block_bits)
    key = f"{fading}/block={block_bits}/codewords={codewords}"
    table = {} if refresh else dict(read_json(cache_path()).get(key, {}))
    missing = [m for m in mcs if str(m) not in table]
    for choice in missing:
        if progress is not None:
            progress(
                f"measuring the decoding threshold of {choice} ({fading}, {block_bits}-bit "
                "codewords; once, then cached)"
            )
        table[str(choice)] = measure_threshold(
            choice, fading, block_bits=block_bits, codewords=codewords
        )
    if missing:
        merge_json(cache_path(), key, table)
    return {str(m): table[str(m)] for m in mcs}


def choose_mcs(snr_db: float, table: dict[str, float], margin_db: float = 0.5) -> Mcs:
    """The most efficient MCS whose threshold + margin is at most ``snr_db``; the most
    robust one when none is (it will most likely fail: that is the point of the curve)."""
    usable = [m for m in ALL_MCS if table[str(m)] + margin_db <= snr_db]
    if not usable:
        return min(ALL_MCS, key=lambda m: table[str(m)])
    return max(usable, key=lambda m: (m.efficiency, -table[str(m)]))

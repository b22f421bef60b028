"""Choosing a modulation and code rate per SNR from decoding thresholds we measure.

Published BPG-LDPC baselines grid-search the modulation and coding scheme (MCS) per
SNR. We do the same from measurements: for each MCS in {1/3, 1/2, 2/3} x {QPSK, 16-QAM,
64-QAM} the SNR at which our own :class:`~multisc.channel.DigitalLink` reaches a block
error rate of 10% (bisection), cached on disk. At a given SNR the best expected quality
under a channel-use budget comes from the most bits, so the choice is the MCS with the
highest spectral efficiency whose threshold (plus a margin) the SNR clears.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from multisc import atomic
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


def cache_path() -> Path:
    root = os.environ.get("MULTISC_CACHE") or Path.home() / ".cache" / "multisc"
    return Path(root) / "mcs_thresholds.json"


def measure_threshold(
    mcs: Mcs,
    fading: str = "awgn",
    *,
    target_bler: float = 0.1,
    block_bits: int = 1024,
    codewords: int = 100,
    low_db: float = -6.0,
    high_db: float = 30.0,
    resolution_db: float = 0.25,
    seed: int = 0,
    device: str | torch.device = "cpu",
) -> float:
    """SNR (dB) at which ``mcs`` reaches ``target_bler`` with ``block_bits``-bit codewords."""
    link = DigitalLink(
        mcs.modulation, "ldpc", mcs.code_rate, max_block_bits=block_bits, device=device
    )
    generator = torch.Generator(device=link.device).manual_seed(seed)
    bits = torch.randint(0, 2, (codewords, block_bits), generator=generator, device=link.device)

    def bler(snr: float) -> float:
        out = link.send_bits(bits, ChannelSpec(snr, fading=fading), generator)
        return float(out.block_errors.sum()) / (codewords * out.blocks)

    low, high = low_db, high_db
    while high - low > resolution_db:
        mid = (low + high) / 2
        if bler(mid) <= target_bler:
            high = mid
        else:
            low = mid
    return round(high, 3)


def thresholds(
    fading: str = "awgn", *, codewords: int = 100, refresh: bool = False, progress=None
) -> dict[str, float]:
    """Thresholds of every MCS for ``fading``: measured once, then read from the cache
    (``$MULTISC_CACHE`` or ``~/.cache/multisc``)."""
    path = cache_path()
    cache = json.loads(path.read_text()) if path.is_file() else {}
    key = f"{fading}/codewords={codewords}"
    table = cache.get(key, {})
    missing = [m for m in ALL_MCS if str(m) not in table]
    if refresh:
        missing, table = list(ALL_MCS), {}
    for mcs in missing:
        if progress is not None:
            progress(f"measuring the decoding threshold of {mcs} ({fading})")
        table[str(mcs)] = measure_threshold(mcs, fading, codewords=codewords)
    if missing:
        cache[key] = table
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic.write_text(path, json.dumps(cache, indent=2, sort_keys=True))
    return table


def choose_mcs(snr_db: float, table: dict[str, float], margin_db: float = 0.5) -> Mcs:
    """The most efficient MCS whose threshold + margin is at most ``snr_db``; the most
    robust one when none is (it will most likely fail: that is the point of the curve)."""
    usable = [m for m in ALL_MCS if table[str(m)] + margin_db <= snr_db]
    if not usable:
        return min(ALL_MCS, key=lambda m: table[str(m)])
    return max(usable, key=lambda m: (m.efficiency, -table[str(m)]))

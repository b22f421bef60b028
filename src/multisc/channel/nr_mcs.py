"""``mcs: auto`` over NR: the MCS index per SNR, from BLER thresholds measured on the link.

For each candidate index of the MCS table, the SNR at which our own NR link (same
profile, numerology, CSI) reaches a transport-block error rate of 10% is found by
bisection and cached on disk (``$MULTISC_CACHE/nr_mcs_thresholds.json``, keyed by the
channel without its MCS). At a given SNR the choice is the candidate with the highest
spectral efficiency whose threshold (plus a margin) the SNR clears; below every
threshold, the most robust one (it will most likely fail: that is the point of the curve).

Candidates are every third index of the table and its top one (10 of 29 in table 1), less
those Sionna cannot code on the grid (it has no repetition coding: rates below 1/5):
neighbouring indices differ by 0.5-1 dB, so the choice loses at most ~2 dB of
efficiency, and measuring all 29 would triple the first use.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import replace
from functools import lru_cache

import torch

from multisc.cache import bisect_threshold, cache_root, merge_json, read_json
from multisc.channel.nr import MCS_TABLES, NRConfig, NRLink, mcs_parameters
from multisc.errors import InvalidInputError

TARGET_BLER = 0.1
MARGIN_DB = 0.5


def candidates(table: int = 1) -> tuple[int, ...]:
    top = MCS_TABLES[table]
    return tuple(sorted({*range(0, top + 1, 3), top}))


@lru_cache(maxsize=64)
def nr_link(config: NRConfig, device: str = "cpu") -> NRLink:
    """The (cached) [NRLink][multisc.channel.nr.NRLink] of ``config`` (an MCS index set) on
    ``device``."""
    return NRLink(config, device)


def grid_link(config: NRConfig, device: str = "cpu") -> NRLink:
    """An [NRLink][multisc.channel.nr.NRLink] for analog symbols: the grid (DMRS, data REs) does
    not depend on
    the MCS, so any index Sionna can build for these PRBs serves."""
    for index in (9, 5, 16, 3, 20, 27):
        try:
            return nr_link(config.with_mcs(index), device)
        except InvalidInputError:
            continue
    return nr_link(config.with_mcs(9), device)  # raises the error that explains why


def usable_candidates(config: NRConfig) -> tuple[int, ...]:
    """The candidate indices Sionna can build on ``config``'s grid (small grids cannot
    code the lowest rates, large ones the lowest rates of base graph 1)."""
    out = []
    for index in candidates(config.mcs_table):
        try:
            with warnings.catch_warnings():  # probing: Sionna's rate notes are not news here
                warnings.simplefilter("ignore", UserWarning)
                nr_link(config.with_mcs(index))
        except InvalidInputError:
            continue
        out.append(index)
    if not out:
        raise InvalidInputError(
            f"no MCS index of table {config.mcs_table} fits {config.prbs} PRB(s)"
        )
    return tuple(out)


def efficiency(index: int, table: int = 1) -> float:
    """Information bits per data RE of an MCS index."""
    order, rate = mcs_parameters(index, table)
    return order * rate


def _key(config: NRConfig, slots: int) -> str:
    return f"{replace(config, mcs=0).label.removesuffix('-mcs0')}/slots={slots}"


def measure_threshold(
    config: NRConfig,
    *,
    slots: int = 32,
    resolution_db: float = 0.5,
    seed: int = 0,
    device: str = "cpu",
) -> float:
    """SNR (dB) at which ``config`` (its MCS index) reaches a 10% TB error rate.

    Bisection between the Shannon limit of the MCS's efficiency minus 1 dB and 25 dB above
    it (fading and estimated CSI cost up to ~15 dB at 10% BLER).
    """
    link = nr_link(config, device)
    generator = torch.Generator().manual_seed(seed)
    bits = torch.randint(0, 2, (slots, link.tb_size), generator=generator).float()

    def bler(snr: float) -> float:
        return float(link.send_bits(bits, snr, generator).tb_failed.float().mean())

    limit = 10 * math.log10(2 ** efficiency(config.mcs or 0, config.mcs_table) - 1)
    return bisect_threshold(bler, limit - 1.0, limit + 25.0, TARGET_BLER, resolution_db)


def cache_path():
    return cache_root() / "nr_mcs_thresholds.json"


def pending(config: NRConfig, slots: int = 32) -> list[int]:
    """The candidate MCS indices whose thresholds on ``config``'s channel are not measured
    yet (what the first [thresholds][multisc.channel.nr_mcs.thresholds] call will measure)."""
    key = _key(config, slots)
    if key in _MEMO:
        return []
    cached = read_json(cache_path()).get(key, {})
    return [i for i in usable_candidates(config) if str(i) not in cached and i not in cached]


def thresholds(
    config: NRConfig, *, slots: int = 32, refresh: bool = False, progress=None
) -> dict[int, float]:
    """Thresholds (dB) of the candidate MCS indices on ``config``'s channel: measured once,
    then read from the cache."""
    key = _key(config, slots)
    if not refresh and key in _MEMO:
        return _MEMO[key]
    cached = read_json(cache_path()).get(key, {})
    table = {} if refresh else {int(k): v for k, v in cached.items()}
    usable = usable_candidates(config)
    missing = [i for i in usable if i not in table]
    for index in missing:
        if progress is not None:
            progress(f"measuring the NR threshold of MCS {index} ({key}; once, then cached)")
        table[index] = measure_threshold(replace(config, mcs=index), slots=slots)
    if missing:
        merge_json(cache_path(), key, {str(k): v for k, v in table.items()})
    _MEMO[key] = {i: table[i] for i in usable}
    return _MEMO[key]


#: thresholds read in this process (the file is read once per channel, not per SNR)
_MEMO: dict[str, dict[int, float]] = {}


def choose(snr_db: float, table: dict[int, float], mcs_table: int = 1) -> int:
    """The most efficient index whose threshold + margin is at most ``snr_db``."""
    usable = [i for i, t in table.items() if t + MARGIN_DB <= snr_db]
    if not usable:
        return min(table, key=lambda i: table[i])
    return max(usable, key=lambda i: efficiency(i, mcs_table))


def resolve(config: NRConfig, snr_db: float, progress=None) -> NRConfig:
    """``config`` with its MCS index: as given, or (``auto``) chosen for ``snr_db``."""
    if config.mcs is not None:
        return config
    return config.with_mcs(choose(snr_db, thresholds(config, progress=progress), config.mcs_table))

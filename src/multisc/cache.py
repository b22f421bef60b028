"""Where multisc keeps what it measures or trains once (``$MULTISC_CACHE`` or
``~/.cache/multisc``), the JSON tables there, and the bisection that measures decoding
thresholds for them."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path


def cache_root() -> Path:
    """The cache directory (not created here)."""
    root = os.environ.get("MULTISC_CACHE") or Path.home() / ".cache" / "multisc"
    return Path(root)


def read_json(path: Path) -> dict:
    """A JSON cache file's content; ``{}`` when missing or damaged (measured again, not
    trusted)."""
    try:
        return json.loads(path.read_text()) if path.is_file() else {}
    except ValueError:
        return {}


def merge_json(path: Path, key: str, values: dict) -> None:
    """Add ``values`` under ``key`` to the JSON cache at ``path``, merged with what other
    processes wrote meanwhile, written atomically."""
    from multisc import atomic

    cache = read_json(path)
    cache[key] = {**cache.get(key, {}), **values}
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_text(path, json.dumps(cache, indent=2, sort_keys=True))


def bisect_threshold(
    error_rate: Callable[[float], float],
    low_db: float,
    high_db: float,
    target: float,
    resolution_db: float,
) -> float:
    """The lowest SNR (dB, to ``resolution_db``) in ``[low_db, high_db]`` at which
    ``error_rate(snr)`` is at most ``target``, by bisection (error rates fall with SNR)."""
    while high_db - low_db > resolution_db:
        mid = (low_db + high_db) / 2
        if error_rate(mid) <= target:
            high_db = mid
        else:
            low_db = mid
    return round(high_db, 3)

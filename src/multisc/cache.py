"""Where multisc keeps what it measures or trains once (``$MULTISC_CACHE`` or
``~/.cache/multisc``), the JSON tables there, and the bisection that measures decoding
thresholds for them."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from multisc.untrusted import json_loads


def cache_root() -> Path:
    """The cache directory (not created here)."""
    root = os.environ.get("MULTISC_CACHE") or Path.home() / ".cache" / "multisc"
    return Path(root)


#: the largest JSON cache table read, in bytes (multisc's own are a few kB)
JSON_LIMIT = 1 << 20


def read_json(path: Path) -> dict:
    """A JSON cache file's content; ``{}`` when missing, damaged, a link, not a regular
    file or over ``JSON_LIMIT`` (measured again, not trusted)."""
    import stat

    try:
        mode = path.lstat()
        if not stat.S_ISREG(mode.st_mode) or mode.st_size > JSON_LIMIT:
            return {}
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
        with os.fdopen(os.open(path, flags), "rb") as handle:
            loaded = json_loads(handle.read(JSON_LIMIT + 1).decode("utf-8"))
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


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

"""Where multisc keeps what it measures or trains once: ``$MULTISC_CACHE`` or
``~/.cache/multisc``."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """The cache directory (not created here)."""
    root = os.environ.get("MULTISC_CACHE") or Path.home() / ".cache" / "multisc"
    return Path(root)

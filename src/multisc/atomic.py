"""Files written whole or not at all: a kill at any moment leaves the old file or the new
one, never half of one, and writers in several processes never share a temporary file."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def replacing(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` (unique to this process and thread) to write
    to; on success it replaces ``path`` atomically, on failure it is removed.

    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "a.txt"
    >>> with replacing(target) as tmp:
    ...     _ = tmp.write_text("whole")
    >>> target.read_text()
    'whole'
    """
    import secrets

    path = Path(path)
    # a name nobody can guess beforehand, so no link can wait there to be written through
    token = secrets.token_hex(8)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.{token}.tmp")
    try:
        yield tmp
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes(path: str | Path, data: bytes) -> None:
    """``path.write_bytes(data)``, atomically (see ``replacing``)."""
    with replacing(path) as tmp, open(tmp, "xb") as handle:  # a new file, never an existing one
        handle.write(data)


def write_text(path: str | Path, text: str) -> None:
    """``path.write_text(text)`` (UTF-8), atomically (see ``replacing``)."""
    with replacing(path) as tmp, open(tmp, "x", encoding="utf-8") as handle:
        handle.write(text)

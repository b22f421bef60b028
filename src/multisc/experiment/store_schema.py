"""What a result store is: its tables as multisc defines them, the types of its rows, and
the check that a store someone else wrote is exactly that (nothing added, nothing
redefined) before any row is read or written."""

from __future__ import annotations

import functools
import sqlite3
from pathlib import Path
from typing import Any

from multisc.errors import MultiscError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started REAL NOT NULL,
    config_digest TEXT NOT NULL,
    config_yaml TEXT NOT NULL,
    versions TEXT NOT NULL,
    device TEXT NOT NULL,
    components TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS results (
    image_id TEXT NOT NULL,
    scheme TEXT NOT NULL,
    snr_db REAL NOT NULL,
    fading TEXT NOT NULL,
    seed INTEGER NOT NULL,
    metrics TEXT NOT NULL,
    channel_uses INTEGER NOT NULL,
    bits_sent INTEGER NOT NULL,
    failed INTEGER NOT NULL,
    texts_sent TEXT NOT NULL,
    texts_received TEXT NOT NULL,
    texts_corrected TEXT NOT NULL,
    prompt TEXT,
    timings TEXT NOT NULL,
    details TEXT NOT NULL,
    image_path TEXT NOT NULL,
    run_id INTEGER NOT NULL,
    created REAL NOT NULL,
    settings TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (image_id, scheme, snr_db, fading, seed)
);
"""

JSON_COLUMNS = (
    "metrics", "texts_sent", "texts_received", "texts_corrected", "timings", "details",
    "settings",
)  # fmt: skip


_TYPES = {
    "image_id": str, "scheme": str, "fading": str, "image_path": str,
    "snr_db": (int, float), "seed": int, "channel_uses": int, "bits_sent": int, "failed": int,
    "metrics": dict, "timings": dict, "details": dict, "settings": dict,
    "texts_sent": list, "texts_received": list, "texts_corrected": list,
}  # fmt: skip


def _check_row(row: dict[str, Any]) -> None:
    """Raise ``TypeError`` unless ``row`` has the types multisc writes."""
    import math

    for column, kind in _TYPES.items():
        value = row.get(column)
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not int):
            raise TypeError(f"{column} is a {type(value).__name__}")
    if not math.isfinite(row["snr_db"]):
        raise TypeError("snr_db is not finite")
    for key, value in row["metrics"].items():
        if not isinstance(key, str) or not (value is None or isinstance(value, int | float)):
            raise TypeError(f"metric {key!r} is not a number")
    for column in ("texts_sent", "texts_received", "texts_corrected"):
        if not all(isinstance(text, str) for text in row[column]):
            raise TypeError(f"{column} holds a non-text")
    if row.get("prompt") is not None and not isinstance(row["prompt"], str):
        raise TypeError("prompt is not text")
    for key, value in row["settings"].items():
        items = value if isinstance(value, list) else [value]
        if not isinstance(key, str) or not all(
            v is None or isinstance(v, str | int | float | bool) for v in items
        ):
            raise TypeError(f"setting {key!r} is not a plain value")


class StoreError(MultiscError):
    """The store could not be written (e.g. the disk is full); nothing partial was kept."""


#: the columns of each of our tables, in order (``runs.components`` and
#: ``results.settings`` came later: added to stores written before them)
_COLUMNS = {
    "runs": ("id", "started", "config_digest", "config_yaml", "versions", "device", "components"),
    "results": (
        "image_id", "scheme", "snr_db", "fading", "seed", "metrics", "channel_uses",
        "bits_sent", "failed", "texts_sent", "texts_received", "texts_corrected", "prompt",
        "timings", "details", "image_path", "run_id", "created", "settings",
    ),
}  # fmt: skip
#: columns added after stores existed (the last of their table's)
_LATER = {"runs": "components", "results": "settings"}
#: what else SQLite keeps for these tables: the primary key's index, AUTOINCREMENT's table
_INTERNAL = {("index", "sqlite_autoindex_results_1"), ("table", "sqlite_sequence")}
_SIDE_FILES = ("", "-wal", "-shm", "-journal")


def _normal(sql: str | None) -> str:
    """A definition with its layout taken out (whitespace runs as one space, none beside
    brackets and commas): the same table written on one line or many compares equal."""
    import re

    return re.sub(r"\s*([(),])\s*", r"\1", " ".join((sql or "").split()))


@functools.lru_cache(maxsize=1)
def _definitions() -> dict[str, set[str]]:
    """Each table's definitions as SQLite keeps them (``sqlite_master.sql``) in a store
    multisc wrote: today's, and one written before the later column with and without it
    added (``ALTER TABLE ADD COLUMN`` appends to the stored text)."""
    out: dict[str, set[str]] = {table: set() for table in _COLUMNS}
    later = {
        table: f"    {column} TEXT NOT NULL DEFAULT '{{}}'" for table, column in _LATER.items()
    }
    old_schema = _SCHEMA
    for line in later.values():
        old_schema = old_schema.replace(line + ",\n", "").replace(",\n" + line + "\n", "\n")
    for schema, migrate in ((_SCHEMA, False), (old_schema, False), (old_schema, True)):
        db = sqlite3.connect(":memory:")
        try:
            db.executescript(schema)
            if migrate:
                for table, column in _LATER.items():
                    db.execute(
                        f"ALTER TABLE {table} ADD COLUMN {column} TEXT NOT NULL DEFAULT '{{}}'"
                    )
            for name, sql in db.execute("SELECT name, sql FROM sqlite_master WHERE type='table'"):
                if name in out:
                    out[name].add(_normal(sql))
        finally:
            db.close()
    return out


def check_schema(db: sqlite3.Connection, path: Path) -> None:
    """Our tables and columns exactly, nothing else (a trigger can rewrite every new
    row; a view over a recursive query can hang any read), or ``StoreError`` naming
    ``path``."""
    entries = db.execute(
        "SELECT type, name, tbl_name FROM sqlite_master ORDER BY type, name"
    ).fetchall()
    if not entries:
        return  # a new store
    extra = [
        f"{kind} {name!r}"
        for kind, name, _ in entries
        if (kind, name) not in _INTERNAL and not (kind == "table" and name in _COLUMNS)
    ]
    if extra:
        raise StoreError(
            f"{path} holds {', '.join(extra[:3])}, which multisc never writes: it is "
            "not a multisc result store as written; move it away"
        )
    for table, columns in _COLUMNS.items():
        found = tuple(row[1] for row in db.execute(f"PRAGMA table_info({table})"))
        old = found == columns[:-1] and columns[-1] == _LATER[table]  # written before it
        if found and found != columns and not old:
            raise StoreError(
                f"{path}: table {table} has columns {', '.join(found)}, not multisc's; move it away"
            )
    # the same names are not the same table: a primary key on image_id alone, a CHECK,
    # a generated column or a collation would drop or rewrite rows; the whole
    # definition must be one multisc writes
    for table, sql in db.execute(
        "SELECT name, sql FROM sqlite_master WHERE type='table' AND name IN ('runs', 'results')"
    ):
        if _normal(sql) not in _definitions()[table]:
            raise StoreError(
                f"{path}: table {table} is not defined as multisc defines it (its "
                "keys, constraints, generated columns or collations differ), so rows "
                "could be dropped or changed; move it away"
            )

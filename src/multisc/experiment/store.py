"""The result store: one SQLite file per run directory.

One row per (image, scheme, snr, fading, seed), written in transactions: a run killed at
any moment leaves only complete rows, and a restarted run computes exactly what is
missing. Each row carries every metric, the channel uses, the failure flag, the texts,
the timings and the path of the saved reconstruction.
"""

from __future__ import annotations

import functools
import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from multisc.errors import MultiscError

STORE_FILE = "results.sqlite"

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


def _disk_full(exc: BaseException) -> bool:
    text = str(exc).lower()
    return (
        "disk is full" in text
        or "database or disk is full" in text
        or (isinstance(exc, OSError) and getattr(exc, "errno", None) == 28)
    )


def _copy_regular(source: Path, target: Path) -> None:
    """Copy regular file ``source`` (opened without following a link) to ``target``."""
    import shutil

    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(source, flags)
    with os.fdopen(fd, "rb") as reader, open(target, "xb") as writer:
        shutil.copyfileobj(reader, writer, 1 << 20)


class ResultStore:
    """Rows of a run, in ``RUN_DIR/results.sqlite``.

    The store may come from someone else: it is opened only when it and its side files
    (``-wal``, ``-shm``, ``-journal``) are regular files, not links, and used only when its
    schema is exactly ours (these tables and columns, no trigger, no view, no other table
    or index). Anything else is one [StoreError][multisc.experiment.store.StoreError] line, before
    any row is read or
    written."""

    def __init__(self, path: str | Path, read_only: bool = False) -> None:
        """Open (or, unless ``read_only``, create) the store at ``path``. A ``read_only``
        store is opened as SQLite ``mode=ro``: reading another run (``multisc compare``)
        never writes its folder (no schema upgrade, no checkpoint, no side file removed)."""
        self.path = Path(path)
        self.read_only = read_only
        self._copy: Path | None = None  # a read-only store with a write-ahead log: a copy
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._check_entries()
        try:
            if read_only:
                self._db = self._open_read_only()
            else:
                self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        except sqlite3.Error as exc:
            raise self._unusable(exc) from exc
        try:
            self._db.execute("PRAGMA trusted_schema=OFF")
            self._check_schema()
            if read_only:
                self._db.execute("PRAGMA query_only=ON")
                return
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            self._add_missing_columns()
        except sqlite3.Error as exc:
            self._db.close()
            raise self._unusable(exc) from exc
        except StoreError:
            self._db.close()
            raise

    def _unusable(self, exc: BaseException) -> StoreError:
        if _disk_full(exc):
            return StoreError(
                f"no space left on the device of {self.path}: free space and run the same "
                "command again (it resumes exactly; the store is intact)"
            )
        if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc).lower():
            return StoreError(f"{self.path} is locked by another process: wait for it")
        return StoreError(
            f"{self.path} is not a multisc result store ({exc}): it was replaced or "
            "damaged; move it away to start this run directory afresh"
        )

    def _check_entries(self) -> None:
        """Refuse links and non-files where SQLite would open the store's files."""
        import stat

        for suffix in _SIDE_FILES:
            path = self.path.with_name(self.path.name + suffix)
            try:
                mode = path.lstat().st_mode
            except FileNotFoundError:
                continue
            if not stat.S_ISREG(mode):
                kind = "a symbolic link" if stat.S_ISLNK(mode) else "not a regular file"
                raise StoreError(
                    f"{path} is {kind}: multisc opens only its own store files (never through "
                    "a link); move it away"
                )

    def _check_schema(self) -> None:
        """Our tables and columns exactly, nothing else (a trigger can rewrite every new
        row; a view over a recursive query can hang any read)."""
        entries = self._db.execute(
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
                f"{self.path} holds {', '.join(extra[:3])}, which multisc never writes: it is "
                "not a multisc result store as written; move it away"
            )
        for table, columns in _COLUMNS.items():
            found = tuple(row[1] for row in self._db.execute(f"PRAGMA table_info({table})"))
            old = found == columns[:-1] and columns[-1] == _LATER[table]  # written before it
            if found and found != columns and not old:
                raise StoreError(
                    f"{self.path}: table {table} has columns {', '.join(found)}, not multisc's; "
                    "move it away"
                )
        # the same names are not the same table: a primary key on image_id alone, a CHECK,
        # a generated column or a collation would drop or rewrite rows; the whole
        # definition must be one multisc writes
        for table, sql in self._db.execute(
            "SELECT name, sql FROM sqlite_master WHERE type='table' AND name IN ('runs', 'results')"
        ):
            if _normal(sql) not in _definitions()[table]:
                raise StoreError(
                    f"{self.path}: table {table} is not defined as multisc defines it (its "
                    "keys, constraints, generated columns or collations differ), so rows "
                    "could be dropped or changed; move it away"
                )

    def _add_missing_columns(self) -> None:
        """Stores written before ``runs.components`` or ``results.settings`` existed get
        them (empty for old rows)."""
        for table, column in _LATER.items():
            columns = {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}
            if column not in columns:
                self._db.execute(
                    f"ALTER TABLE {table} ADD COLUMN {column} TEXT NOT NULL DEFAULT '{{}}'"
                )

    def close(self) -> None:
        self._db.close()
        if self._copy is not None:
            import shutil

            shutil.rmtree(self._copy, ignore_errors=True)
            self._copy = None

    def _open_read_only(self) -> sqlite3.Connection:
        """A connection that never writes the store's folder. SQLite's ``mode=ro`` still
        writes a WAL store's ``-shm`` index, so a store without a write-ahead log is opened
        ``immutable`` (nothing else writes it: the caller holds the run's lock), and one
        with rows still in its log is read from a private copy of the two files."""
        from urllib.parse import quote

        wal = self.path.with_name(self.path.name + "-wal")
        if not wal.exists() or wal.stat().st_size == 0:
            uri = f"file:{quote(str(self.path.absolute()))}?mode=ro&immutable=1"
            return sqlite3.connect(uri, uri=True, timeout=30, isolation_level=None)
        import tempfile

        self._copy = Path(tempfile.mkdtemp(prefix="multisc-store-"))
        for source in (self.path, wal):
            _copy_regular(source, self._copy / source.name)
        return sqlite3.connect(self._copy / self.path.name, timeout=30, isolation_level=None)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """All or nothing: rows of one transaction land together or not at all."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
            yield self._db
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            if _disk_full(exc):
                raise self._unusable(exc) from exc
            raise StoreError(
                f"could not write to {self.path}: {exc}. The store is unchanged; fix the cause "
                "and run the same command again to resume"
            ) from exc
        except BaseException:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise

    def start_run(
        self,
        digest: str,
        config_yaml: str,
        versions: dict[str, str],
        device: str,
        components: dict[str, dict[str, Any]] | None = None,
    ) -> int:
        """Record a run (one per start or resume): its config, library versions, device and,
        per pretrained component it loads, the repo, the commit on disk and the weights'
        sizes ([multisc.models.component_record][multisc.models.provenance.component_record])."""
        with self.transaction() as db:
            cursor = db.execute(
                "INSERT INTO runs (started, config_digest, config_yaml, versions, device, "
                "components) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    time.time(),
                    digest,
                    config_yaml,
                    json.dumps(versions),
                    device,
                    json.dumps(components or {}),
                ),
            )
            return int(cursor.lastrowid)

    def digests(self) -> set[str]:
        return {row[0] for row in self._db.execute("SELECT config_digest FROM runs")}

    def done(self, image_id: str, scheme: str, fading: str) -> set[tuple[float, int]]:
        """(snr_db, seed) pairs already stored for an image and scheme."""
        rows = self._db.execute(
            "SELECT snr_db, seed FROM results WHERE image_id=? AND scheme=? AND fading=?",
            (image_id, scheme, fading),
        )
        return {(float(snr), int(seed)) for snr, seed in rows}

    def add_results(self, rows: Iterable[dict[str, Any]], run_id: int) -> None:
        """Insert rows in one transaction (a row already there is kept: never duplicated)."""
        now = time.time()
        with self.transaction() as db:
            for row in rows:
                values = {"settings": {}, **row, "run_id": run_id, "created": now}
                for column in JSON_COLUMNS:
                    values[column] = json.dumps(values[column], default=str)
                values["failed"] = int(bool(values["failed"]))
                columns = ", ".join(values)
                marks = ", ".join("?" for _ in values)
                cursor = db.execute(
                    f"INSERT OR IGNORE INTO results ({columns}) VALUES ({marks})",
                    tuple(values.values()),
                )
                if cursor.rowcount == 0 and not self._has(db, values):
                    # ignored, yet not there: something other than our key refused it
                    raise StoreError(
                        f"{self.path} did not store a row it was given ({values['image_id']}, "
                        f"{values['scheme']}, {values['snr_db']:g} dB, seed {values['seed']}); "
                        "nothing of this transaction was kept: move the store away"
                    )

    @staticmethod
    def _has(db: sqlite3.Connection, row: dict[str, Any]) -> bool:
        key = ("image_id", "scheme", "snr_db", "fading", "seed")
        found = db.execute(
            "SELECT 1 FROM results WHERE image_id=? AND scheme=? AND snr_db=? AND fading=? "
            "AND seed=?",
            tuple(row[k] for k in key),
        ).fetchone()
        return found is not None

    def results(self) -> list[dict[str, Any]]:
        """Every row, JSON columns decoded, sorted by image, scheme, SNR, seed."""
        cursor = self._db.execute(
            "SELECT * FROM results ORDER BY image_id, scheme, fading, snr_db, seed"
        )
        names = [d[0] for d in cursor.description]
        out = []
        for number, values in enumerate(cursor, start=1):
            row = dict(zip(names, values, strict=True))
            row.setdefault("settings", "{}")  # a store written before settings, read only
            try:
                for column in JSON_COLUMNS:
                    row[column] = json.loads(row[column])
                _check_row(row)
            except (ValueError, TypeError, RecursionError) as exc:
                raise StoreError(
                    f"{self.path}: row {number} is not one multisc writes ({exc}); the store "
                    "was edited or damaged: move it away"
                ) from None
            row["failed"] = bool(row["failed"])
            out.append(row)
        return out

    def latest_run(self) -> dict[str, Any] | None:
        """The latest start or resume: its config, versions (a dict of strings), device and
        components (JSON text), checked as ``results`` checks rows."""
        cursor = self._db.execute("SELECT * FROM runs ORDER BY id DESC LIMIT 1")
        names = [d[0] for d in cursor.description]
        row = cursor.fetchone()
        if row is None:
            return None
        run = dict(zip(names, row, strict=True))
        run.setdefault("components", "{}")  # a store written before components, read only
        try:
            versions = json.loads(run["versions"])
            if not isinstance(versions, dict) or not all(
                isinstance(v, str) for v in versions.values()
            ):
                raise TypeError("versions is not a mapping of strings")
            for column in ("config_yaml", "device", "components", "config_digest"):
                if not isinstance(run.get(column, ""), str):
                    raise TypeError(f"{column} is not text")
        except (ValueError, TypeError, RecursionError) as exc:
            raise StoreError(
                f"{self.path}: its runs table is not what multisc writes ({exc}); move it away"
            ) from None
        return run

    def delete_rows(self, keys: list[tuple]) -> None:
        """Delete rows by (image_id, scheme, snr_db, fading, seed), in one transaction."""
        with self.transaction() as db:
            db.executemany(
                "DELETE FROM results WHERE image_id=? AND scheme=? AND snr_db=? AND fading=? "
                "AND seed=?",
                keys,
            )

    def count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM results").fetchone()[0])

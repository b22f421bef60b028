"""The result store: one SQLite file per run directory.

One row per (image, scheme, snr, fading, seed), written in transactions: a run killed at
any moment leaves only complete rows, and a restarted run computes exactly what is
missing. Each row carries every metric, the channel uses, the failure flag, the texts,
the timings and the path of the saved reconstruction.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from multisc.experiment.store_schema import (
    _LATER,
    _SCHEMA,
    _SIDE_FILES,
    JSON_COLUMNS,
    StoreError,
    _check_row,
    check_schema,
)

STORE_FILE = "results.sqlite"


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
            check_schema(self._db, self.path)
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


def different_experiment(
    out: Path, digests: tuple[str, ...], store: ResultStore | None = None
) -> None:
    """Refuse a run directory whose store holds rows of another experiment (none of the
    config's ``digests``: [RunConfig.digests][multisc.experiment.config.RunConfig.digests]):
    one ``InvalidInputError`` naming the store's and the config's. ``store``: the run's open store;
    ``None``: ``out``'s store opened read-only, if there is one (so ``multisc run`` decides
    before it says "resumed", and before torch loads). A store with no row is never a
    reason to refuse: the new config takes the folder over."""
    from multisc.errors import InvalidInputError

    own = store is None
    if own:
        from multisc.runroot import RunRoot

        if not out.is_dir() or RunRoot(out).entry_kind(STORE_FILE) != "file":
            return
        store = ResultStore(out / STORE_FILE, read_only=True)
    try:
        stored, rows = store.digests(), store.count()
    finally:
        if own:
            store.close()
    if stored and not set(stored) & set(digests) and rows > 0:
        raise InvalidInputError(
            f"{out} holds results of a different experiment (config digest "
            f"{sorted(stored)[0]}, this one {digests[0]}); refusing to mix them. "
            "Pass another --out, or delete that directory to start fresh"
        )

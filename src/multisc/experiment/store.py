"""The result store: one SQLite file per run directory.

One row per (image, scheme, snr, fading, seed), written in transactions: a run killed at
any moment leaves only complete rows, and a restarted run computes exactly what is
missing. Each row carries every metric, the channel uses, the failure flag, the texts,
the timings and the path of the saved reconstruction.
"""

from __future__ import annotations

import json
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
    device TEXT NOT NULL
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
    PRIMARY KEY (image_id, scheme, snr_db, fading, seed)
);
"""

JSON_COLUMNS = ("metrics", "texts_sent", "texts_received", "texts_corrected", "timings", "details")


class StoreError(MultiscError):
    """The store could not be written (e.g. the disk is full); nothing partial was kept."""


class ResultStore:
    """Rows of a run, in ``RUN_DIR/results.sqlite``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise StoreError(
                f"{self.path} is not a multisc result store ({exc}): it was replaced or "
                "damaged; move it away to start this run directory afresh"
            ) from exc

    def close(self) -> None:
        self._db.close()

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
            raise StoreError(
                f"could not write to {self.path}: {exc}. The store is unchanged; free some "
                "space (or fix the cause) and run the same command again to resume"
            ) from exc
        except BaseException:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise

    def start_run(
        self, digest: str, config_yaml: str, versions: dict[str, str], device: str
    ) -> int:
        with self.transaction() as db:
            cursor = db.execute(
                "INSERT INTO runs (started, config_digest, config_yaml, versions, device) "
                "VALUES (?, ?, ?, ?, ?)",
                (time.time(), digest, config_yaml, json.dumps(versions), device),
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
                values = {**row, "run_id": run_id, "created": now}
                for column in JSON_COLUMNS:
                    values[column] = json.dumps(values[column], default=str)
                values["failed"] = int(bool(values["failed"]))
                columns = ", ".join(values)
                marks = ", ".join("?" for _ in values)
                db.execute(
                    f"INSERT OR IGNORE INTO results ({columns}) VALUES ({marks})",
                    tuple(values.values()),
                )

    def results(self) -> list[dict[str, Any]]:
        """Every row, JSON columns decoded, sorted by image, scheme, SNR, seed."""
        cursor = self._db.execute(
            "SELECT * FROM results ORDER BY image_id, scheme, fading, snr_db, seed"
        )
        names = [d[0] for d in cursor.description]
        out = []
        for values in cursor:
            row = dict(zip(names, values, strict=True))
            for column in JSON_COLUMNS:
                row[column] = json.loads(row[column])
            row["failed"] = bool(row["failed"])
            out.append(row)
        return out

    def latest_run(self) -> dict[str, Any] | None:
        cursor = self._db.execute("SELECT * FROM runs ORDER BY id DESC LIMIT 1")
        names = [d[0] for d in cursor.description]
        row = cursor.fetchone()
        return None if row is None else dict(zip(names, row, strict=True))

    def count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM results").fetchone()[0])

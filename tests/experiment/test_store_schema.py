"""A store is used only when its tables are defined exactly as multisc defines them, and a
write that would keep fewer rows than it was given fails loudly (second hostile probe)."""

from __future__ import annotations

import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from multisc.experiment.store import STORE_FILE, ResultStore, StoreError
from multisc.experiment.store_schema import _SCHEMA

RESULTS_KEY = "PRIMARY KEY (image_id, scheme, snr_db, fading, seed)"

#: one change each to the results table that keeps every column name
VARIANTS = {
    "key on image_id alone": lambda s: s.replace(RESULTS_KEY, "PRIMARY KEY (image_id)"),
    "a CHECK": lambda s: s.replace(RESULTS_KEY, RESULTS_KEY + ",\n    CHECK (snr_db < 5)"),
    "a collation": lambda s: s.replace("scheme TEXT NOT NULL", "scheme TEXT COLLATE NOCASE"),
    "a generated column": lambda s: s.replace(
        "prompt TEXT,", "prompt TEXT GENERATED ALWAYS AS (printf('%.*c', 200000000, 'x')),"
    ),
    "a default": lambda s: s.replace("failed INTEGER NOT NULL", "failed INTEGER DEFAULT 1"),
    "another type": lambda s: s.replace("seed INTEGER NOT NULL", "seed TEXT NOT NULL"),
}  # fmt: skip


def _row(i: int) -> dict:
    return {
        "image_id": f"img{i}", "scheme": "bpg_ldpc", "snr_db": float(i), "fading": "awgn",
        "seed": 0, "metrics": {"psnr": 20.0}, "channel_uses": 10, "bits_sent": 8,
        "failed": False, "texts_sent": [], "texts_received": [], "texts_corrected": [],
        "prompt": None, "timings": {}, "details": {}, "image_path": f"images/{i}.png",
    }  # fmt: skip


@pytest.mark.parametrize("change", list(VARIANTS), ids=list(VARIANTS))
def test_a_table_defined_otherwise_is_refused_before_any_row(change, tmp_path):
    db = sqlite3.connect(tmp_path / STORE_FILE)
    db.executescript(VARIANTS[change](_SCHEMA))
    db.close()
    with pytest.raises(StoreError, match=r"not defined as multisc defines it|not multisc.s"):
        ResultStore(tmp_path / STORE_FILE)


@settings(max_examples=40, deadline=None)
@given(
    column=st.sampled_from(["snr_db REAL NOT NULL", "metrics TEXT NOT NULL", "created REAL"]),
    clause=st.sampled_from([" UNIQUE", " CHECK (1)", " COLLATE RTRIM", " DEFAULT 0"]),
)
def test_any_extra_clause_on_a_column_is_refused(column, clause, tmp_path_factory):
    folder = tmp_path_factory.mktemp("schema")
    db = sqlite3.connect(folder / STORE_FILE)
    db.executescript(_SCHEMA.replace(column, column + clause, 1))
    db.close()
    with pytest.raises(StoreError):
        ResultStore(folder / STORE_FILE)


def test_todays_and_older_stores_are_accepted(tmp_path):
    ResultStore(tmp_path / "new.sqlite").close()
    old = _SCHEMA.replace("    settings TEXT NOT NULL DEFAULT '{}',\n", "").replace(
        ",\n    components TEXT NOT NULL DEFAULT '{}'", ""
    )
    db = sqlite3.connect(tmp_path / "old.sqlite")
    db.executescript(old)
    db.close()
    ResultStore(tmp_path / "old.sqlite").close()  # migrated: gets both later columns
    ResultStore(tmp_path / "old.sqlite").close()  # and as migrated, accepted again


def test_a_write_that_keeps_fewer_rows_than_given_fails_loudly(tmp_path, monkeypatch):
    """Behind the definition check, the write checks itself: a row ignored although no row
    with its key is there (a key narrower than ours) fails the whole transaction."""
    db = sqlite3.connect(tmp_path / STORE_FILE)
    db.executescript(VARIANTS["key on image_id alone"](_SCHEMA))
    db.close()
    from multisc.experiment import store as module

    monkeypatch.setattr(module, "check_schema", lambda db, path: None)
    store = ResultStore(tmp_path / STORE_FILE)
    try:
        run = store.start_run("d", "", {}, "cpu", {})
        twice = [_row(1), {**_row(1), "snr_db": 6.0}]  # one image at two SNRs
        with pytest.raises(StoreError, match="did not store a row"):
            store.add_results(twice, run)
        assert store.count() == 0  # nothing of the transaction kept
        store.add_results([_row(2)], run)
        store.add_results([_row(2)], run)  # a resume: already there, kept once, no error
        assert store.count() == 1
    finally:
        store.close()

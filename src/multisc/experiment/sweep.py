"""``multisc run``: plan, execute, store, export (the caller writes the report)."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.table import Table

from multisc import atomic
from multisc.devices import resolve_device
from multisc.errors import InvalidInputError
from multisc.experiment.config import RunConfig
from multisc.experiment.executors import run_local, run_ray
from multisc.experiment.planning import dataset_mean_color, plan_run
from multisc.experiment.prepare_cache import CACHE_DIR
from multisc.experiment.rundir import (
    FAILURES_FILE,
    check_run_dir,
    commit,
    load_run_images,
    record_failure,
    save_references,
    versions,
)
from multisc.experiment.store import STORE_FILE, ResultStore
from multisc.experiment.tasks import make_tasks, total_rows

CSV_FILE = "results.csv"
PARQUET_FILE = "results.parquet"
NOTES_FILE = "plan.json"


@dataclass(frozen=True)
class Said:
    """A line for the user: a skipped scheme, a note, an image that failed."""

    text: str


@dataclass(frozen=True)
class Training:
    """A step of deep JSCC training on first use (only for settings no checkpoint covers)."""

    step: int
    total: int
    psnr_db: float


@dataclass(frozen=True)
class Started:
    """The tasks are about to run: ``rows`` of ``total`` are in the store already."""

    rows: int
    total: int


@dataclass(frozen=True)
class Progressed:
    """One (image, scheme) committed: the store now holds ``rows`` of ``total``."""

    rows: int
    total: int
    scheme: str
    image_id: str


#: what :func:`run_sweep` reports while it runs (the CLI draws them; a script may log them)
SweepEvent = Said | Training | Started | Progressed


@dataclass
class SweepSummary:
    out: Path
    rows: int
    new_rows: int
    schemes: list[str]
    skipped: dict[str, str]
    notes: list[str] = field(default_factory=list)
    report: str | None = None
    #: (image, scheme) pairs that could not be done, with the reason (the sweep went on)
    failed: list[dict[str, str]] = field(default_factory=list)


def flat_rows(store: ResultStore) -> list[dict[str, Any]]:
    """Rows with metrics as columns (for CSV, Parquet and pandas)."""
    out = []
    for row in store.results():
        flat = {k: v for k, v in row.items() if k not in ("metrics", "timings", "details")}
        flat.update({f"{k}": v for k, v in row["metrics"].items()})
        flat.update({f"seconds_{k}": v for k, v in row["timings"].items()})
        for key in ("texts_sent", "texts_received", "texts_corrected"):
            flat[key] = json.dumps(row[key], ensure_ascii=False)
        out.append(flat)
    return out


def export(store: ResultStore, out: Path) -> None:
    """``results.csv`` and ``results.parquet`` from the store (written atomically)."""
    import pandas as pd

    frame = pd.DataFrame(flat_rows(store))
    with atomic.replacing(out / CSV_FILE) as tmp:
        # every text quoted: a received "\r" must not end a row (it did, unquoted)
        frame.to_csv(tmp, index=False, quoting=csv.QUOTE_NONNUMERIC)
    try:
        with atomic.replacing(out / PARQUET_FILE) as tmp:
            frame.to_parquet(tmp, index=False)
    except ImportError:  # pyarrow missing: CSV is enough
        pass


def summary_table(store: ResultStore) -> Table:
    """Mean of each metric per scheme (over images, SNRs and seeds)."""
    rows = store.results()
    names = [
        name
        for name in ("psnr", "ssim", "lpips", "clip_cosine", "bleu", "text_similarity")
        if any(r["metrics"].get(name) is not None for r in rows)
    ]
    table = Table(title="summary (mean over images, SNRs, seeds)")
    for column in ("scheme", "rows", "channel uses", "failed", *names):
        table.add_column(column, justify="right" if column != "scheme" else "left")
    by_scheme: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_scheme.setdefault(row["scheme"], []).append(row)
    for scheme, items in by_scheme.items():
        cells = [
            scheme,
            str(len(items)),
            f"{sum(r['channel_uses'] for r in items) / len(items):,.0f}",
            f"{sum(r['failed'] for r in items)}",
        ]
        for name in names:
            values = [r["metrics"].get(name) for r in items if r["metrics"].get(name) is not None]
            cells.append(f"{sum(values) / len(values):.3f}" if values else "—")
        table.add_row(*cells)
    return table


def run_sweep(
    config: RunConfig,
    on_event: Callable[[SweepEvent], None] | None = None,
    report: Callable[[Path], Path] | None = None,
) -> SweepSummary:
    """Run (or resume) the sweep ``config`` describes; return what happened.

    :param on_event: called with each :data:`SweepEvent` as the run goes (``multisc run``
        draws them as lines and progress bars); ``None``: a silent run.
    :param report: called with the run directory at the end when it holds results, to
        write the report (``multisc run`` passes
        :func:`multisc.report.build.build_report`); ``None``: no report.
    """
    emit = on_event or (lambda event: None)
    out = Path(config.out)
    if out.exists() and not out.is_dir():
        raise InvalidInputError(f"--out {out} is a file, not a run directory: choose a folder")
    out.mkdir(parents=True, exist_ok=True)
    resolve_device(config.device)  # a clear error now rather than in a worker
    with one_writer(out):
        return _run_locked(config, emit, report, out)


LOCK_FILE = "run.lock"


@contextmanager
def one_writer(out: Path):
    """Hold ``out``'s lock for the whole run: one run directory, one writer. An OS file lock
    (``flock``): the kernel releases it when its process dies, however it dies, so a killed
    run never blocks the next one. A second run on the same directory is refused at once,
    before any work (and so before its config is compared with the first's)."""
    import fcntl
    import socket

    handle = (out / LOCK_FILE).open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise InvalidInputError(
            f"{out} is being written by another multisc run ({holder}); wait for it to "
            "finish, or choose another --out"
        ) from None
    try:
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {socket.gethostname()}")
        handle.flush()
        yield
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def _run_locked(
    config: RunConfig,
    emit: Callable[[SweepEvent], None],
    report: Callable[[Path], Path] | None,
    out: Path,
) -> SweepSummary:
    store = ResultStore(out / STORE_FILE)
    try:
        check_run_dir(out, config, store)
        (out / "config.yaml").write_text(config.to_yaml())
        images = load_run_images(config)

        def say(line: str) -> None:
            emit(Said(line))

        def train_progress(step: int, total: int, loss: float, psnr: float) -> None:
            emit(Training(step, total, psnr))

        plan = plan_run(config, say, train_progress)
        plan.failure_color = dataset_mean_color(images)
        (out / NOTES_FILE).write_text(
            json.dumps(
                {
                    "skipped": plan.skipped,
                    "notes": plan.notes,
                    "schemes": plan.schemes,
                    "failure_color": plan.failure_color,
                    "jscc_checkpoint": plan.jscc_checkpoint,
                    "budget": plan.budget,
                },
                indent=2,
            )
        )
        run_id = store.start_run(
            config.digest(), config.to_yaml(), versions(), str(resolve_device(config.device))
        )
        save_references(images, out)
        tasks = make_tasks(config, plan, images, store)
        total = total_rows(config, plan, len(images))
        before = store.count()
        failed: list[dict[str, str]] = []
        if tasks:
            executor = (
                run_ray(config, plan, out / CACHE_DIR, tasks, say)
                if config.executor == "ray"
                else run_local(config, plan, out / CACHE_DIR, tasks)
            )
            emit(Started(before, total))
            for result in executor:
                if result.error is not None:
                    failed = record_failure(result, out)
                    say(
                        f"skipping image {result.image_id!r} for {result.scheme}: "
                        f"{result.error}; the sweep goes on"
                    )
                    continue
                commit(result, out, store, run_id)
                emit(Progressed(store.count(), total, result.scheme, result.image_id))
        export(store, out)
        summary = SweepSummary(
            out, store.count(), store.count() - before, plan.schemes, plan.skipped, plan.notes
        )
        summary.failed = failed
        if failed:
            images = len({f["image_id"] for f in failed})
            pairs = f"{len(failed)} image/scheme pair(s)"
            say(f"{images} image(s) skipped ({pairs}): see {out / FAILURES_FILE}")
        if report is not None and store.count():
            summary.report = str(report(out))
        return summary
    finally:
        store.close()

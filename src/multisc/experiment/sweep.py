"""``multisc run``: plan, execute, store, export (the caller writes the report)."""

from __future__ import annotations

import contextlib
import csv
import json
import os
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.table import Table

from multisc.devices import pin_threads, resolve_device
from multisc.errors import InvalidInputError, RunInterrupted, Terminated
from multisc.experiment.config import RunConfig
from multisc.experiment.executors import run_local, run_ray
from multisc.experiment.planning import plan_run
from multisc.experiment.prepare_cache import CACHE_DIR
from multisc.experiment.rundir import (
    FAILURES_FILE,
    check_before_work,
    check_run_dir,
    commit,
    load_run_images,
    record_failure,
    rows_without_images,
    save_references,
    versions,
)
from multisc.experiment.store import STORE_FILE, ResultStore
from multisc.experiment.tasks import make_tasks, total_rows
from multisc.experiment.variants import format_value, series_order
from multisc.metrics import finite_mean
from multisc.runroot import RunRoot

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


@dataclass(frozen=True)
class Stage:
    """What the run is doing now, before a step that takes a while (loading, preparing,
    sending one image through a scheme, writing the report)."""

    text: str


#: what [run_sweep][multisc.experiment.sweep.run_sweep] reports while it runs (the CLI draws them;
#: a script may log them)
SweepEvent = Said | Training | Started | Progressed | Stage


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
    #: the variants run (label -> varied settings); one per scheme without ``vary:``
    variants: dict[str, dict[str, Any]] = field(default_factory=dict)


#: per-link details that get a column of their own when a run's links differ
LINK_LISTS = ("link_snr_db", "link_bit_errors", "blocks_lost")


def flat_rows(store: ResultStore) -> list[dict[str, Any]]:
    """Rows with metrics, settings, parts and differing block links' lists as columns."""
    out = []
    rows = store.results()
    varied = list(dict.fromkeys(key for row in rows for key in row["settings"]))
    links = any("link_snr_db" in row["details"] for row in rows)
    for row in rows:
        flat = {
            k: v for k, v in row.items() if k not in ("metrics", "timings", "details", "settings")
        }
        # the variant's label stays in `scheme`; its scheme, each varied setting and each
        # part it was made with get a column (empty where a scheme does not read it)
        flat["scheme_name"] = row["scheme"].split(" ")[0]
        flat.update({key: row["settings"].get(key) for key in varied})
        parts = row["details"].get("parts")
        parts = parts if isinstance(parts, dict) else {}  # a store may come from elsewhere
        flat.update({k: v for k, v in parts.items() if flat.get(k) is None})
        flat.update({f"{k}": v for k, v in row["metrics"].items()})
        flat.update({f"seconds_{k}": v for k, v in row["timings"].items()})
        for key in ("texts_sent", "texts_received", "texts_corrected"):
            flat[key] = json.dumps(row[key], ensure_ascii=False)
        if links:  # per block link (JSON lists, row by row): multisc.schemes.block_links
            got = row["details"]
            flat.update({k: json.dumps(got[k]) if k in got else None for k in LINK_LISTS})
            flat["worst_link_snr_db"] = got.get("worst_link_snr_db")
        out.append(flat)
    for key in varied:  # one type per column (Parquet): a budget axis of 1/48 and 400
        kinds = {type(row.get(key)) for row in out if row.get(key) is not None}
        if len(kinds) > 1:
            for row in out:
                if row.get(key) is not None:
                    row[key] = format_value(row[key])
    return out


#: a spreadsheet runs a cell starting with one of these as a formula (OWASP: CSV injection)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: Any) -> Any:
    """A text cell as a spreadsheet may show it without running it: a leading formula
    character gets a ``'`` before it (OWASP's rule), and control characters other than tab
    and newlines (NUL, ESC...) become U+FFFD. Numbers pass unchanged; the exact text stays
    in the store and in Parquet.

    >>> csv_safe("=HYPERLINK(1)"), csv_safe("a\x1b[31mb"), csv_safe(-1.5)
    ("'=HYPERLINK(1)", 'a\ufffd[31mb', -1.5)
    """
    if not isinstance(value, str):
        return value
    cleaned = "".join(
        "\ufffd" if (ord(ch) < 32 and ch not in "\t\n\r") or ord(ch) == 127 else ch for ch in value
    )
    return "'" + cleaned if cleaned.startswith(_FORMULA_START) else cleaned


def export(store: ResultStore, root: RunRoot) -> None:
    """``results.csv`` (text cells neutralised for spreadsheets:
    [csv_safe][multisc.experiment.sweep.csv_safe]) and
    ``results.parquet`` (exact) from the store, each written whole or not at all."""
    import io

    import pandas as pd

    frame = pd.DataFrame(flat_rows(store))
    text = io.StringIO()
    # every text quoted: a received "\r" must not end a row (it did, unquoted)
    frame.map(csv_safe).to_csv(text, index=False, quoting=csv.QUOTE_NONNUMERIC)
    root.write_text(CSV_FILE, text.getvalue())
    try:
        parquet = io.BytesIO()
        frame.to_parquet(parquet, index=False)
    except ImportError:  # pyarrow missing: CSV is enough
        return
    root.write_bytes(PARQUET_FILE, parquet.getvalue())


def summary_table(store: ResultStore) -> Table:
    """Mean of each metric per scheme (over images, SNRs and seeds)."""
    rows = store.results()
    names = [
        name
        for name in ("psnr", "ssim", "lpips", "dists", "clip_cosine", "bleu", "text_similarity")
        if any(r["metrics"].get(name) is not None for r in rows)
    ]
    table = Table(title="summary (mean over images, SNRs, seeds)")
    widest = max([len(r["scheme"]) for r in rows] + [6])
    for column in ("scheme", "rows", "channel uses", "failed", *names):
        # names are never cut: the table is as wide as they need (see cli.common.show)
        table.add_column(
            column,
            justify="right" if column != "scheme" else "left",
            min_width=widest if column == "scheme" else len(column),
            no_wrap=True,
        )
    by_scheme: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_scheme.setdefault(row["scheme"], []).append(row)
    for scheme in series_order(by_scheme):
        items = by_scheme[scheme]
        cells = [
            scheme,
            str(len(items)),
            f"{sum(r['channel_uses'] for r in items) / len(items):,.0f}",
            f"{sum(r['failed'] for r in items)}",
        ]
        for name in names:
            mean, skipped = finite_mean(r["metrics"].get(name) for r in items)
            cell = "—" if mean is None else f"{mean:.3f}"
            cells.append(cell + (f" ({skipped} NaN left out)" if skipped else ""))
        table.add_row(*cells)
    return table


def run_sweep(
    config: RunConfig,
    on_event: Callable[[SweepEvent], None] | None = None,
    report: Callable[[Path], Path] | None = None,
) -> SweepSummary:
    """Run (or resume) the sweep ``config`` describes; return what happened.

    :param on_event: called with each ``SweepEvent`` as the run goes (``multisc run``
        draws them as lines and progress bars); ``None``: a silent run.
    :param report: called with the run directory at the end when it holds results, to
        write the report (``multisc run`` passes
        [multisc.report.build.build_report][multisc.report.build.build_report]); ``None``: no
        report.
    """
    emit = on_event or (lambda event: None)
    out = Path(config.out)
    check_before_work(config, out)  # every refusal before anything is said or written
    if config.threads is not None:
        pin_threads(config.threads)
    state = "resumed" if out.is_dir() else "new"
    emit(Said(f"run directory: {out} ({state}; --out DIR to choose another)"))
    unreadable: list[tuple[str, str]] = []
    images = load_run_images(config, on_error=lambda i, e: unreadable.append((i, e)))
    root = RunRoot(out)
    root.create()
    with one_writer(root):
        return _run_locked(config, emit, report, out, images, unreadable)


LOCK_FILE = "run.lock"


@contextmanager
def one_writer(root: RunRoot):
    """Hold the run directory's lock for the whole run: one run directory, one writer. An
    OS lock (``flock``) on the directory itself: deleting ``run.lock`` (or anything else
    inside) cannot hand it to a second writer, and the kernel releases it when its process
    dies, however it dies, so a killed run never blocks the next one. A second run on the
    same directory is refused at once, before any work (and so before its config is
    compared with the first's). ``run.lock`` only says who holds it (replaced, never
    written through)."""
    import socket

    try:
        lock = root.locked()
        lock.__enter__()
    except BlockingIOError:
        holder = "another process"
        with contextlib.suppress(OSError, InvalidInputError):
            holder = root.read_text(LOCK_FILE, 4096).strip()[:200] or holder
        raise InvalidInputError(
            f"{root.root} is being written by another multisc run ({holder}); wait for it to "
            "finish, or choose another --out"
        ) from None
    try:
        root.write_text(LOCK_FILE, f"pid {os.getpid()} on {socket.gethostname()}")
        yield
    finally:
        lock.__exit__(None, None, None)


def _report(report: Callable[[Path], Path], out: Path, nothing_new: bool, emit) -> str:
    """The run's report: kept when nothing changed since it was written (a finished run
    resumed), else written, said first as the stage (the bar's label: it takes a while)."""
    from multisc.experiment.rundir import REPORT_FILE, report_is_current

    if nothing_new and report_is_current(out):
        emit(Said(f"the report is up to date with the store: {out / REPORT_FILE}"))
        return str(out / REPORT_FILE)
    emit(Stage("writing the report (statistics, FID and KID features, figures, image grids)"))
    return str(report(out))


def _run_locked(
    config: RunConfig,
    emit: Callable[[SweepEvent], None],
    report: Callable[[Path], Path] | None,
    out: Path,
    images: list,
    unreadable: list[tuple[str, str]],
) -> SweepSummary:
    root = RunRoot(out)
    store = ResultStore(out / STORE_FILE)
    try:
        check_run_dir(out, config, store)
        root.write_text("config.yaml", config.to_yaml())

        def say(line: str) -> None:
            emit(Said(line))

        def train_progress(step: int, total: int, loss: float, psnr: float) -> None:
            emit(Training(step, total, psnr))

        plan = plan_run(config, say, train_progress)
        root.write_text(
            NOTES_FILE,
            json.dumps(
                {
                    "skipped": plan.skipped,
                    "notes": plan.notes,
                    "schemes": plan.schemes,
                    "failure_color": list(config.scheme_options().failure_color),
                    "jscc_checkpoint": plan.jscc_checkpoint,
                    "budget": plan.budget,
                },
                indent=2,
            ),
        )
        run_id = store.start_run(
            config.digest(),
            config.to_yaml(),
            versions(),
            str(resolve_device(config.device)),
            plan.components,
        )
        save_references(images, root)
        lost = rows_without_images(store, root)
        if lost:
            store.delete_rows(lost)
            say(f"{len(lost)} stored result(s) had no reconstruction PNG: computing them again")
        tasks = make_tasks(config, plan, images, store)
        total = total_rows(config, plan, len(images))
        before = store.count()
        failed: list[dict[str, str]] = []
        for image_id, error in unreadable:  # fails alone, like an image a scheme cannot send
            failed = record_failure(image_id, "*", error, root)
            say(f"skipping image {image_id!r}: {error}; the sweep goes on")
        if tasks:
            executor = (
                run_ray(config, plan, out / CACHE_DIR, tasks, say)
                if config.executor == "ray"
                else run_local(config, plan, out / CACHE_DIR, tasks, lambda text: emit(Stage(text)))
            )
            emit(Started(before, total))
            try:
                for result in executor:
                    if result.error is not None:
                        failed = record_failure(result.image_id, result.scheme, result.error, root)
                        say(
                            f"skipping image {result.image_id!r} for {result.scheme}: "
                            f"{result.error}; the sweep goes on"
                        )
                        continue
                    commit(result, root, store, run_id)
                    emit(Progressed(store.count(), total, result.scheme, result.image_id))
            except KeyboardInterrupt as stop:  # Ctrl-C, or SIGTERM (errors.Terminated)
                # a row is one SQLite transaction: the store holds whole rows only
                export(store, root)
                raise RunInterrupted(
                    store.count(), total, terminated=isinstance(stop, Terminated)
                ) from None
        export(store, root)
        summary = SweepSummary(
            out,
            store.count(),
            store.count() - before,
            list(plan.schemes),
            plan.skipped,
            list(plan.notes),
        )
        summary.failed = failed
        summary.variants = {v.label: v.as_dict() for v in plan.variants}
        if failed:
            images = len({f["image_id"] for f in failed})
            pairs = f"{len(failed)} image/scheme pair(s)"
            say(f"{images} image(s) skipped ({pairs}): see {out / FAILURES_FILE}")
        if report is not None and store.count():
            summary.report = _report(report, out, summary.new_rows == 0, emit)
        return summary
    finally:
        store.close()

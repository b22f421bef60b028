"""A run's report, and a comparison's: reads the store ([multisc.report.data][]), draws the
figures ([multisc.report.plots][]) and image grids ([multisc.report.grids][]), computes the
statistics ([multisc.report.stats][], [multisc.report.sets][]), writes the tables
([multisc.report.tables][]: also ``summary.tex`` and ``summary.md``) and the page
(``report.html``: [multisc.report.page][])."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt

from multisc.experiment.rundir import (
    REPORT_FILE,
    REPORT_STATE_FILE,
    reference_path,
    report_state,
)
from multisc.report import experiments
from multisc.report.data import (
    METRICS,
    by_channel,
    compare_to,
    describe,
    first_variant,
    read_captioners,
    read_notes,
    read_run,
    stand_in_components,
    statistics_settings,
    stored_table_metrics,
)
from multisc.report.grids import _tile as read_tile
from multisc.report.grids import image_grid
from multisc.report.page import render_page
from multisc.report.plots import (
    TIME_LABEL,
    plot_bandwidth,
    plot_channel_uses,
    plot_metric,
    plot_setting,
    worst_link_rows,
)
from multisc.report.style import FIGURE_NOTE, RC, StyleMap
from multisc.report.tables import (
    SUMMARY_LATEX,
    SUMMARY_MARKDOWN,
    summary,
    summary_latex,
    summary_markdown,
)
from multisc.runroot import RunRoot

PAIRED_FILE = "paired.json"
SETS_FILE = "set_metrics.json"
#: what the report was drawn from (a fingerprint of the rows, the multisc version): a run
#: resumed with nothing new keeps its report
#: the component whose weights each model-based metric needs
_COMPONENT = {"lpips": "lpips", "dists": "dists", "clip_cosine": "clip"}


#: what each figure of a report from tiny stand-ins says at its foot
STAND_IN_NOTE = "drawn from tiny random stand-in models ({}): not a measurement of the system"


@contextlib.contextmanager
def _reset(token):
    """Undo a ``ContextVar.set`` when the block ends, however it ends."""
    try:
        yield
    finally:
        FIGURE_NOTE.reset(token)


def paired_statistics(
    rows: list[dict[str, Any]],
    run: dict[str, Any] | None,
    reference: str | None = None,
    match_channel: bool = True,
) -> dict[str, Any]:
    """The paired statistics of a run against its reference (``reference``, else the
    config's ``compare_to``, else the first scheme): ``{"reference": ..., "comparisons":
    [...], "correction": {...}, "interval": ...}``
    ([paired][multisc.report.stats.paired], p-values adjusted together by
    [correct][multisc.report.stats.correct] as the config's ``statistics`` says)."""
    from multisc.report.stats import ADJUSTMENTS, INTERVALS, correct, default_reference, paired

    reference = default_reference(rows, reference or first_variant(run, compare_to(run)))
    metrics = [m for m in METRICS if any(r["metrics"].get(m) is not None for r in rows)]
    settings = statistics_settings(run)
    interval = settings.get("interval") if settings.get("interval") in INTERVALS else None
    adjust = settings.get("p_adjust") if settings.get("p_adjust") in ADJUSTMENTS else None
    interval, adjust = interval or "percentile", adjust or "holm"
    comparisons = (
        paired(rows, reference, metrics, match_channel, interval=interval) if reference else []
    )
    return {
        "reference": reference,
        "comparisons": comparisons,
        "correction": correct(comparisons, adjust),
        "interval": interval,
    }


def build_report(
    run_dir: str | Path,
    models_dir: str | Path | None = None,
    table_metrics: list[str] | None = None,
) -> Path:
    """Write ``plots/``, ``grids/``, ``paired.json``, ``set_metrics.json``, ``summary.tex``,
    ``summary.md`` and ``report.html`` for the run in ``run_dir``; the metrics' networks
    (FID's Inception) from ``models_dir`` (the caller's ``--models``) or the cache; the
    tables' metrics ``table_metrics`` (the caller's ``--table-metrics``), else the run
    config's, else all.

    Everything read from the run directory is data (``RunRoot``: no link followed,
    reads bounded, PNGs only); what the store names (a ``models:`` folder, components'
    paths) is a label, never a path opened; names never reach mathtext."""
    run_dir = Path(run_dir)
    rows, run = read_run(run_dir)
    root = RunRoot(run_dir)
    stored = stored_table_metrics(run)
    chosen = table_metrics or stored
    notes = read_notes(root)
    path = write_report(root, rows, run, notes, run_dir.name, models_dir=models_dir, chosen=chosen)
    state = report_state(rows, run)
    if chosen != stored:  # drawn as the command asked, not as the config says: a resume redraws
        state["tables"] = ",".join(chosen or ())
    root.write_text(REPORT_STATE_FILE, json.dumps(state))
    return path


def build_compare_report(
    root: RunRoot,
    rows: list[dict[str, Any]],
    sources: dict[str, RunRoot],
    counts: dict[str, Any],
    lines: list[str],
    reference: str | None = None,
    runs: dict[str, dict[str, Any] | None] | None = None,
    chosen: list[str] | None = None,
) -> tuple[Path, dict[str, Any]]:
    """The report of several runs' ``rows`` (series ``run: scheme``) into ``root``: no
    image grids (each run's report has its own); the references' sizes read from the runs;
    the stand-in banner and the devices of every input run (``runs``: each run's latest
    start, by name); the tables' metrics ``chosen`` (else all)."""
    statistics = paired_statistics(rows, None, reference, match_channel=False)
    statistics = {**statistics, "shared": counts}
    notes = {"skipped": {}, "notes": list(lines), "failed": []}
    title = "comparison of " + ", ".join(counts["runs"])
    path = write_report(
        root, rows, None, notes, title, statistics, sources, inputs=runs, chosen=chosen
    )
    return path, statistics


def write_report(
    root: RunRoot,
    rows: list[dict[str, Any]],
    run: dict[str, Any] | None,
    notes,
    title: str,
    statistics: dict[str, Any] | None = None,
    sources: dict[str, RunRoot] | None = None,
    models_dir: str | None = None,
    inputs: dict[str, dict[str, Any] | None] | None = None,
    chosen: list[str] | None = None,
) -> Path:
    """The report of ``rows`` into ``root``: one run's, or (``sources``: the runs the rows
    came from, by the name in each row's ``run``, whose images are read there; ``inputs``:
    their latest starts) several runs' overlaid, without image grids; the tables'
    metrics ``chosen`` (else all)."""
    from multisc.report.sets import set_metrics

    statistics = statistics or paired_statistics(rows, run)
    root.write_text(PAIRED_FILE, json.dumps(statistics, indent=2))

    def read_pair(row: dict[str, Any]):
        source = sources.get(str(row.get("run"))) if sources else root
        if source is None:
            return None
        reference = read_tile(source, reference_path(row["image_id"]))
        reconstruction = read_tile(source, str(row["image_path"]))
        return None if reference is None or reconstruction is None else (reference, reconstruction)

    sets = set_metrics(rows, read_pair, models_dir)  # never a folder the store names
    root.write_text(SETS_FILE, json.dumps(sets, indent=2))
    rows, channels = by_channel(rows)
    styles = StyleMap({r["scheme"] for r in rows})  # one style per series, every figure
    runs = list(inputs.values()) if inputs else [run]
    stand_ins = sorted({name for record in runs for name in stand_in_components(record)})
    note = FIGURE_NOTE.set(STAND_IN_NOTE.format(", ".join(stand_ins)) if stand_ins else "")
    header, body = summary(rows, chosen)
    what = describe(rows, run, channels, title)
    root.write_text(SUMMARY_LATEX, summary_latex(rows, what, chosen))
    root.write_text(SUMMARY_MARKDOWN, summary_markdown(header, body))
    # scheme and channel names come from the store: text, never mathtext
    with plt.rc_context({**RC, "text.parse_math": False}), _reset(note):
        metric_plots = {}
        for metric in METRICS:
            names = plot_metric(rows, metric, root, styles)
            if names:
                metric_plots[metric] = names
        worst_plots = {}  # with per-link SNR offsets: against the worst link's SNR
        for metric in metric_plots if (shifted := worst_link_rows(rows)) else ():
            name, axis = f"{metric}_vs_worst_link", "worst block link's SNR (dB)"
            worst_plots[metric] = plot_metric(shifted, metric, root, styles, name, axis)
        uses_plot = plot_channel_uses(rows, root, styles)
        ids = sorted({r["image_id"] for r in rows})
        grids = {} if sources else {i: image_grid(root, i, rows) for i in ids}
        bandwidth_plots = {}
        varied = {name for axis in experiments.varied_axes(rows, run) for name in axis}
        if "budget" in varied or experiments.spends_differ(rows):
            pixels: dict[str, int] = {}
            for source in reversed(list((sources or {}).values()) or [root]):  # first wins
                pixels.update(
                    experiments.pixels_per_image(
                        source, ids, lambda r, i: read_tile(r, reference_path(i))
                    )
                )
            for metric in ("psnr", "ssim", "lpips", "dists", "clip_cosine"):
                if metric in metric_plots:
                    names = plot_bandwidth(rows, pixels, metric, METRICS[metric][0], root, styles)
                    if names:
                        bandwidth_plots[metric] = names
        setting_plots = {}
        for axis in experiments.varied_axes(rows, run):
            if axis == ("budget",) and bandwidth_plots:  # k/n says it, on a truer axis
                continue
            order = experiments.axis_order(run, axis)
            label = experiments.axis_label(axis)
            for metric in metric_plots:
                names = plot_setting(rows, axis, metric, METRICS[metric][0], root, styles, order)
                if names:
                    setting_plots[(label, metric)] = names
        timed = [  # what a setting costs: generation seconds per transmission
            {**r, "metrics": {"generate_s": r["timings"].get("generate")}}
            for r in rows
            if r["timings"].get("generate") is not None
        ]
        for axis in experiments.varied_axes(timed, run):
            names = plot_setting(
                timed, axis, "generate_s", TIME_LABEL, root, styles,
                experiments.axis_order(run, axis),
            )  # fmt: skip
            if names:
                setting_plots[(experiments.axis_label(axis), "generate_s")] = names
    grid_files = {image_id: name for image_id, name in grids.items() if name}
    if any("text" in r["details"].get("candidate_scores", {}) for r in rows):
        notes["notes"].append(
            "clip_cosine is biased towards the receiver's choice: candidates were chosen by "
            "CLIP image-text similarity with the very CLIP the metric uses "
            "(openai/clip-vit-base-patch32); weigh LPIPS, PSNR and SSIM for those rows, or "
            "select by slice"
        )
    unsafe = sorted(image_id for image_id, name in grids.items() if not name)
    if unsafe:
        listed = ", ".join(map(repr, unsafe[:3]))
        notes["notes"].append(
            f"{len(unsafe)} image id(s) in the store are not ids multisc makes (no grid "
            f"drawn): {listed}"
        )
    notes = {**notes, "channels": channels}
    for metric in ("lpips", "dists", "clip_cosine"):
        said = any(line.startswith(f"{metric} is left out") for line in notes["notes"])
        if not said and not any(r["metrics"].get(metric) is not None for r in rows):
            notes["notes"].append(
                f"{metric} was not computed: its weights were not on the machine that ran "
                f"this (`multisc models pull {_COMPONENT[metric]}`; rows keep it empty)"
            )
    if sets["skipped"]:
        notes["notes"].append(sets["skipped"])
    empty = [m for m in chosen or () if not any(r["metrics"].get(m) is not None for r in rows)]
    if empty:
        notes["notes"].append(
            f"table_metrics names {', '.join(empty)}: no row has a value of it, so the "
            "tables leave it out"
        )
    extra = {
        "settings": setting_plots, "bandwidth": bandwidth_plots, "paired": statistics,
        "sets": sets, "worst_link": worst_plots, "captioners": read_captioners(root),
    }  # fmt: skip
    page = render_page(title, rows, run, metric_plots, uses_plot, grid_files, notes, extra, inputs)
    root.write_text(REPORT_FILE, page)
    return root.root / REPORT_FILE

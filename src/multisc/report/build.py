"""Build a run's report from its store: plots (PNG, SVG, PDF), image grids, report.html
(Jinja2 templates in ``templates/``, autoescaped)."""

from __future__ import annotations

import json
import math
import textwrap
import warnings
from collections import defaultdict
from pathlib import Path
from typing import Any
from urllib.parse import quote

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from PIL import Image

from multisc.errors import InvalidInputError
from multisc.experiment.rundir import IMAGES_DIR, read_failures, reference_path
from multisc.experiment.runroot import RunRoot
from multisc.experiment.store import STORE_FILE, ResultStore

PLOTS_DIR = "plots"
GRIDS_DIR = "grids"
REPORT_FILE = "report.html"
PAIRED_FILE = "paired.json"
SETS_FILE = "set_metrics.json"
TIME_LABEL = "generation seconds per transmission"
#: the component whose weights each model-based metric needs
_COMPONENT = {"lpips": "lpips", "dists": "dists", "clip_cosine": "clip"}
NOTES_FILE = "plan.json"
_ID = __import__("re").compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,199}")


def is_safe_id(image_id: object) -> bool:
    """Whether ``image_id`` is an id multisc makes (:func:`multisc.data.sources.image_id`):
    letters, digits, ``. _ -``, not starting with a dot, at most 200 characters."""
    return isinstance(image_id, str) and _ID.fullmatch(image_id) is not None


#: metric -> (label, lower is better)
METRICS: dict[str, tuple[str, bool]] = {
    "psnr": ("PSNR (dB)", False),
    "ssim": ("SSIM", False),
    "lpips": ("LPIPS (lower is better)", True),
    "dists": ("DISTS (lower is better)", True),
    "clip_cosine": ("CLIP image cosine similarity", False),
    "bleu": ("BLEU-4 of block texts (sacrebleu, 0-100)", False),
    "bleu1": ("BLEU-1 of block texts (NLTK, 0-1)", False),
    "bleu4": ("BLEU-4 of block texts (NLTK, 0-1)", False),
    "text_similarity": ("text similarity (MiniLM cosine)", False),
    "bleu_fused": ("BLEU-4 of fused text (sacrebleu, 0-100)", False),
    "text_similarity_fused": ("text similarity of fused text", False),
}


def _split_series(series: str) -> tuple[str, str | None]:
    """``"multisc [nr-TDL-A-...]"`` -> (``"multisc"``, ``"nr-TDL-A-..."``); a series of a
    run with one channel is the scheme's name alone."""
    name, _, channel = series.partition(" [")
    return name, channel[:-1] if channel else None


def _ordered(schemes) -> list[str]:
    """Schemes, variants or ``scheme [channel]`` series in report order
    (:func:`multisc.experiment.variants.series_order`)."""
    from multisc.experiment.variants import series_order

    return series_order(schemes)


def by_channel(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """The rows, and the run's channels in order of appearance. With several channels each
    row's ``scheme`` becomes the series ``"scheme [channel]"``, so every plot, table and
    grid shows each scheme once per channel."""
    channels = list(dict.fromkeys(row["fading"] for row in rows))
    if len(channels) > 1:
        rows = [
            row if row["scheme"].endswith(f" [{row['fading']}]")  # named already (compare)
            else {**row, "scheme": f"{row['scheme']} [{row['fading']}]"}
            for row in rows
        ]  # fmt: skip
    return rows, channels


#: fewer images than this per point: no interval drawn (a bootstrap of 2 values is not one)
MIN_FOR_INTERVAL = 3
#: a jump between neighbouring SNRs larger than this share of the plot's value range is a
#: cliff: its two points are not joined (no ramp was measured between them)
CLIFF = 0.3


def mean_ci(values: list[float]) -> tuple[float, float | None, float | None]:
    """Mean and its 95% percentile bootstrap interval over the values (images and seeds:
    :func:`multisc.report.stats.bootstrap_ci`), which stays inside the values' range, so
    inside the metric's (PSNR >= 0, SSIM in [0, 1] ...); no interval (``None``) with fewer
    than :data:`MIN_FOR_INTERVAL` values."""
    from multisc.report.stats import bootstrap_ci

    array = np.asarray(values, dtype=float)
    mean = float(array.mean())
    if len(array) < MIN_FOR_INTERVAL:
        return mean, None, None
    low, high = bootstrap_ci(array)
    return mean, low, high


Point = tuple[float, float, float | None, float | None, int]


def curves(rows: list[dict[str, Any]], metric: str) -> dict[str, list[Point]]:
    """scheme -> [(snr, mean, ci low, ci high, n)] over images and seeds."""
    groups: dict[tuple[str, float], list[float]] = defaultdict(list)
    for row in rows:
        value = row["metrics"].get(metric)
        if value is not None and math.isfinite(value):
            groups[(row["scheme"], row["snr_db"])].append(value)
    out: dict[str, list[Point]] = defaultdict(list)
    for (scheme, snr), values in sorted(groups.items()):
        out[scheme].append((snr, *mean_ci(values), len(values)))
    return {scheme: out[scheme] for scheme in _ordered(out)}


def _save_figure(fig, root: RunRoot, folder: str, stem: str) -> list[str]:
    """Save ``fig`` as ``folder/stem.png``, ``.svg`` and ``.pdf`` (vector, fonts embedded)
    in the run directory; return the file names, PNG first."""
    from multisc.report.style import FORMATS

    fig.tight_layout()
    names = []
    for suffix in FORMATS:
        root.save_figure(fig, f"{folder}/{stem}.{suffix}", dpi=150)
        names.append(f"{stem}.{suffix}")
    plt.close(fig)
    return names


def _segments(x: list[float], y: list[float], span: float) -> list[tuple[list, list]]:
    """The runs of a curve to join with a line: split where a neighbour jumps by more
    than :data:`CLIFF` of ``span`` (a cliff: two measured points, no ramp between)."""
    runs: list[tuple[list, list]] = [([x[0]], [y[0]])]
    for a, b, xb in zip(y, y[1:], x[1:], strict=False):
        if span > 0 and abs(b - a) > CLIFF * span:
            runs.append(([], []))
        runs[-1][0].append(xb)
        runs[-1][1].append(b)
    return runs


def plot_metric(rows, metric: str, root: RunRoot) -> list[str]:
    """``metric`` against SNR, one series per scheme (and channel): ticks at the SNRs run,
    the bootstrap 95% band where there are enough images, cliffs not joined."""
    from multisc.report.style import COLUMN, RC, series_style

    data = curves(rows, metric)
    if not data:
        return []
    label, _ = METRICS.get(metric, (metric, False))
    values = [p[1] for points in data.values() for p in points]
    span = max(values) - min(values)
    with plt.rc_context(RC):
        fig, ax = plt.subplots(figsize=COLUMN)
        for index, (series, points) in enumerate(data.items()):
            style = series_style(index)
            snr = [p[0] for p in points]
            mean = [p[1] for p in points]
            for number, (x, y) in enumerate(_segments(snr, mean, span)):
                ax.plot(
                    x, y, color=style["color"], marker=style["marker"],
                    linestyle=style["linestyle"], label=series if number == 0 else None,
                )  # fmt: skip
            banded = [p for p in points if p[2] is not None]
            if banded:
                ax.fill_between(
                    [p[0] for p in banded], [p[2] for p in banded], [p[3] for p in banded],
                    color=style["color"], alpha=0.15, linewidth=0,
                )  # fmt: skip
        snrs = sorted({p[0] for points in data.values() for p in points})
        ax.set_xticks(snrs, [f"{s:g}" for s in snrs])
        ax.set_xlabel("SNR (dB)")
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
        ax.legend(ncol=2 if len(data) > 4 else 1)
        return _save_figure(fig, root, PLOTS_DIR, metric)


def plot_channel_uses(rows, root: RunRoot) -> list[str]:
    from multisc.report.style import PALETTE, RC, WIDE

    per_scheme: dict[str, list[float]] = defaultdict(list)
    for row in rows:
        per_scheme[row["scheme"]].append(row["channel_uses"])
    schemes = _ordered(per_scheme)
    means = [float(np.mean(per_scheme[s])) for s in schemes]
    with plt.rc_context(RC):
        fig, ax = plt.subplots(figsize=WIDE)
        colors = [PALETTE[i % len(PALETTE)] for i in range(len(schemes))]
        hatches = ["", "//", "..", "xx", "\\\\", "oo"]
        bars = ax.bar(schemes, means, color=colors)
        for i, bar in enumerate(bars):  # a hatch per bar: apart in greyscale too
            bar.set_hatch(hatches[i % len(hatches)])
        ax.bar_label(bars, labels=[f"{m:,.0f}" for m in means])
        ax.set_ylabel("channel uses per image\n(complex symbols; NR: resource elements)")
        if max(means) > 20 * max(min(means), 1):  # log only when schemes differ by orders
            ax.set_yscale("log")
        else:
            ax.set_ylim(0, max(means) * 1.15)
        ax.tick_params(axis="x", labelrotation=20 if len(schemes) > 4 else 0)
        return _save_figure(fig, root, PLOTS_DIR, "channel_uses")


def _tile(root: RunRoot, relative: str) -> Image.Image | None:
    """A PNG of the run directory for a grid, or None when it is missing or refused (a
    link, a path outside the run, not a PNG, too many pixels): the tile says so."""
    try:
        return root.read_image(relative)
    except (FileNotFoundError, InvalidInputError):
        return None


def _missing(ax, what: str = "missing") -> None:
    ax.text(0.5, 0.5, what, transform=ax.transAxes, ha="center", va="center", fontsize=7)


def image_grid(root: RunRoot, image_id: str, rows) -> str | None:
    """Rows: schemes; columns: the reference, then SNRs (seed 0). Semantic schemes' rows
    carry the fused prompt the generator saw under each image. None for an id that is not
    one multisc makes (it names a file: ``grids/<id>.png``)."""
    if not is_safe_id(image_id):
        return None
    mine = [r for r in rows if r["image_id"] == image_id and r["seed"] == 0]
    schemes = _ordered({r["scheme"] for r in mine})
    snrs = sorted({r["snr_db"] for r in mine})
    cell = {(r["scheme"], r["snr_db"]): r for r in mine}
    reference = _tile(root, reference_path(image_id))
    aspect = reference.height / reference.width if reference is not None else 0.75
    text_rows = any(r.get("prompt") for r in mine)  # semantic schemes' rows carry a prompt
    fig_w = 2.2 * (len(snrs) + 1)  # tiles 2.2 in wide: big enough to judge
    row_h = 2.2 * aspect + (0.95 if text_rows else 0.45)
    fig, axes = plt.subplots(
        len(schemes), len(snrs) + 1, figsize=(fig_w, row_h * len(schemes)), squeeze=False
    )
    for i, scheme in enumerate(schemes):
        ax = axes[i][0]
        if reference is not None:
            ax.imshow(reference)
        else:
            _missing(ax)
        ax.set_ylabel(scheme, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
        if i == 0:
            ax.set_title("reference", fontsize=8)
        for j, snr in enumerate(snrs, start=1):
            ax = axes[i][j]
            ax.set_xticks([])
            ax.set_yticks([])
            row = cell.get((scheme, snr))
            if i == 0:
                ax.set_title(f"{snr:g} dB", fontsize=8)
            if row is None:
                ax.set_axis_off()
                continue
            tile = _tile(root, str(row["image_path"]))
            if tile is None:
                _missing(ax)
            else:
                ax.imshow(tile)
            if row["failed"]:
                ax.text(
                    0.5,
                    0.5,
                    "failed",
                    transform=ax.transAxes,
                    ha="center",
                    va="center",
                    color="red",
                    fontsize=9,
                    weight="bold",
                )
            lines = [_tile_metrics(row)]
            if row.get("prompt"):
                # noise turns bytes into control characters: show them as a middle dot
                printable = "".join(c if c.isprintable() else "·" for c in row["prompt"])
                caption = textwrap.shorten(printable, 120, placeholder="…")
                lines += textwrap.wrap(caption, 44)
            # received text is data: "$" pairs must not be parsed as mathtext
            ax.set_xlabel("\n".join(lines), fontsize=5, parse_math=False)
    name = f"{image_id}.png"
    with warnings.catch_warnings():  # noisy received text: glyphs no font has are boxes
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        fig.tight_layout()
        root.save_figure(fig, f"{GRIDS_DIR}/{name}", dpi=110)
    plt.close(fig)
    return name


def _tile_metrics(row: dict[str, Any]) -> str:
    """``PSNR 23.10 · SSIM 0.712 · LPIPS 0.321`` of a grid tile (the metrics it has)."""
    shown = (("psnr", "PSNR"), ("ssim", "SSIM"), ("lpips", "LPIPS"))
    parts = []
    for metric, name in shown:
        value = (row.get("metrics") or {}).get(metric)
        if value is not None and math.isfinite(value):
            parts.append(f"{name} {FORMATS[metric].format(value)}")
    return " · ".join(parts)


#: one number format per metric in tables
FORMATS = {
    "psnr": "{:.2f}", "ssim": "{:.3f}", "lpips": "{:.3f}", "dists": "{:.3f}",
    "clip_cosine": "{:.3f}", "bleu": "{:.1f}", "bleu1": "{:.3f}", "bleu2": "{:.3f}",
    "bleu3": "{:.3f}", "bleu4": "{:.3f}", "text_similarity": "{:.3f}",
    "bleu_fused": "{:.1f}", "text_similarity_fused": "{:.3f}",
}  # fmt: skip


def _cell(metric: str, values: list[float]) -> str:
    """``mean [low, high]`` (95% bootstrap interval), in the metric's one format."""
    form = FORMATS.get(metric, "{:.4g}")
    mean, low, high = mean_ci(values)
    if low is None:
        return form.format(mean)
    return f"{form.format(mean)} [{form.format(low)}, {form.format(high)}]"


def summary(rows) -> tuple[list[str], list[list[str]]]:
    """Mean metrics per (scheme, SNR), each with its 95% bootstrap interval."""
    metrics = [m for m in METRICS if any(r["metrics"].get(m) is not None for r in rows)]
    groups: dict[tuple[str, float], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[(row["scheme"], row["snr_db"])].append(row)
    header = ["scheme", "SNR (dB)", "n", "channel uses", "failed", *metrics]
    body = []
    for scheme in _ordered({s for s, _ in groups}):
        for snr in sorted(snr for s, snr in groups if s == scheme):
            items = groups[(scheme, snr)]
            cells = [
                scheme,
                f"{snr:g}",
                str(len(items)),
                f"{np.mean([r['channel_uses'] for r in items]):,.0f}",
                str(sum(r["failed"] for r in items)),
            ]
            for metric in metrics:
                given = [r["metrics"].get(metric) for r in items]
                values = [float(v) for v in given if v is not None and math.isfinite(v)]
                skipped = sum(v is not None for v in given) - len(values)
                cell = _cell(metric, values) if values else "—"
                cells.append(cell + (f" ({skipped} NaN left out)" if skipped else ""))
            body.append(cells)
    return header, body


def stand_in_components(run: dict[str, Any] | None) -> list[str]:
    """Components the run loaded as tiny stand-ins: weights under a tenth of the published
    files' sizes (the recorded manifests'), as ``multisc models make-tiny`` writes them."""
    from multisc.models.registry import manifest

    try:
        components = json.loads(run["components"]) if run else {}
    except (KeyError, TypeError, ValueError):
        return []
    tiny = []
    for name, record in components.items() if isinstance(components, dict) else ():
        try:
            published = manifest(str(name))["files"]
        except (OSError, ValueError, KeyError):
            continue
        weights = record.get("weights") if isinstance(record, dict) else None
        sizes = [
            (size, published.get(file))
            for file, size in (weights or {}).items()
            if isinstance(size, int) and isinstance(published.get(file), int)
        ]
        if sizes and all(size < 0.1 * real for size, real in sizes):
            tiny.append(str(name))
    return tiny


def read_run(run_dir: str | Path) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """A finished run's rows and its latest start (:meth:`ResultStore.latest_run`); one
    :class:`InvalidInputError` for a folder that is missing or is not a run directory."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise InvalidInputError(f"{run_dir} does not exist: give the folder `multisc run` wrote")
    root = RunRoot(run_dir)
    if root.entry_kind(STORE_FILE) != "file":
        raise InvalidInputError(f"{run_dir} is not a run directory: {STORE_FILE} is missing")
    store = ResultStore(run_dir / STORE_FILE)
    try:
        rows = store.results()
        run = store.latest_run()
    finally:
        store.close()
    if not rows:
        raise InvalidInputError(f"{run_dir} has no results yet: run `multisc run` first")
    return rows, run


def config_value(run: dict[str, Any] | None, key: str) -> str | None:
    """A text setting of the run's config (``None`` when unset or unreadable)."""
    import yaml

    try:
        config = yaml.safe_load(run["config_yaml"]) if run else None
    except (yaml.YAMLError, RecursionError, TypeError, KeyError):
        return None
    value = config.get(key) if isinstance(config, dict) else None
    return value if isinstance(value, str) else None


def compare_to(run: dict[str, Any] | None) -> str | None:
    """The run config's ``compare_to`` (``None`` when unset or unreadable)."""
    return config_value(run, "compare_to")


def _first_variant(run: dict[str, Any] | None, scheme: str | None) -> str | None:
    """``compare_to`` as a series: a scheme's name means its first variant in the order
    the config lists the values (``corrector: [none, ...]`` -> ``... corrector=none``)."""
    import types

    import yaml

    from multisc.experiment.variants import scheme_variants

    if scheme is None or run is None:
        return scheme
    try:
        config = yaml.safe_load(run["config_yaml"])
        vary = config.get("vary") or {}
        return scheme_variants(types.SimpleNamespace(vary=vary), scheme)[0].label
    except Exception:  # a config from elsewhere, a scheme no longer installed: the name
        return scheme


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

    reference = default_reference(rows, reference or _first_variant(run, compare_to(run)))
    metrics = [m for m in METRICS if any(r["metrics"].get(m) is not None for r in rows)]
    settings = _statistics_settings(run)
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


def _statistics_settings(run: dict[str, Any] | None) -> dict[str, Any]:
    """The run config's ``statistics:`` mapping (empty when unset or unreadable)."""
    import yaml

    try:
        config = yaml.safe_load(run["config_yaml"]) if run else None
    except (yaml.YAMLError, RecursionError, TypeError, KeyError):
        return {}
    value = config.get("statistics") if isinstance(config, dict) else None
    return value if isinstance(value, dict) else {}


def build_report(run_dir: str | Path) -> Path:
    """Write ``plots/``, ``grids/``, ``paired.json`` and ``report.html`` for the run in
    ``run_dir``.

    Everything read from the run directory is data (:class:`RunRoot`: no link followed,
    reads bounded, PNGs only); names from the store never reach mathtext."""
    run_dir = Path(run_dir)
    rows, run = read_run(run_dir)
    root = RunRoot(run_dir)
    return write_report(root, rows, run, _notes(root), run_dir.name)


def build_compare_report(
    root: RunRoot,
    rows: list[dict[str, Any]],
    sources: dict[str, RunRoot],
    counts: dict[str, Any],
    lines: list[str],
    reference: str | None = None,
) -> tuple[Path, dict[str, Any]]:
    """The report of several runs' ``rows`` (series ``run: scheme``) into ``root``: no
    image grids (each run's report has its own); the references' sizes read from the runs."""
    statistics = paired_statistics(rows, None, reference, match_channel=False)
    statistics = {**statistics, "shared": counts}
    notes = {"skipped": {}, "notes": list(lines), "failed": []}
    title = "comparison of " + ", ".join(counts["runs"])
    path = write_report(root, rows, None, notes, title, statistics, sources)
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
) -> Path:
    """The report of ``rows`` into ``root``: one run's, or (``sources``: the runs the rows
    came from, by the name in each row's ``run``, whose images are read there) several
    runs' overlaid, without image grids."""
    from multisc.report import experiments
    from multisc.report.sets import set_metrics

    statistics = statistics or paired_statistics(rows, run)
    root.write_text(PAIRED_FILE, json.dumps(statistics, indent=2))

    def read_pair(row: dict[str, Any]):
        source = sources.get(str(row.get("run"))) if sources else root
        if source is None:
            return None
        reference = _tile(source, reference_path(row["image_id"]))
        reconstruction = _tile(source, str(row["image_path"]))
        return None if reference is None or reconstruction is None else (reference, reconstruction)

    sets = set_metrics(rows, read_pair, models_dir or config_value(run, "models"))
    root.write_text(SETS_FILE, json.dumps(sets, indent=2))
    rows, channels = by_channel(rows)
    # scheme and channel names come from the store: text, never mathtext
    with plt.rc_context({"text.parse_math": False}):
        metric_plots = {}
        for metric in METRICS:
            names = plot_metric(rows, metric, root)
            if names:
                metric_plots[metric] = names
        uses_plot = plot_channel_uses(rows, root)
        ids = sorted({r["image_id"] for r in rows})
        grids = {} if sources else {i: image_grid(root, i, rows) for i in ids}
        setting_plots = {
            (setting, metric): names
            for setting in experiments.varied_settings(rows)
            for metric in metric_plots
            if (names := experiments.plot_setting(
                rows, setting, metric, METRICS[metric][0], root, _save_figure
            ))
        }  # fmt: skip
        timed = [  # what a setting costs: generation seconds per transmission
            {**r, "metrics": {"generate_s": r["timings"].get("generate")}}
            for r in rows
            if r["timings"].get("generate") is not None
        ]
        for setting in experiments.varied_settings(timed):
            names = experiments.plot_setting(
                timed, setting, "generate_s", TIME_LABEL, root, _save_figure
            )
            if names:
                setting_plots[(setting, "generate_s")] = names
        bandwidth_plots = {}
        if "budget" in experiments.varied_settings(rows) or experiments.spends_differ(rows):
            pixels: dict[str, int] = {}
            for source in reversed(list((sources or {}).values()) or [root]):  # first wins
                pixels.update(
                    experiments.pixels_per_image(
                        source, ids, lambda r, i: _tile(r, reference_path(i))
                    )
                )
            for metric in ("psnr", "ssim", "lpips", "dists", "clip_cosine"):
                if metric in metric_plots:
                    names = experiments.plot_bandwidth(
                        rows, pixels, metric, METRICS[metric][0], root, _save_figure
                    )
                    if names:
                        bandwidth_plots[metric] = names
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
        if not any(r["metrics"].get(metric) is not None for r in rows):
            notes["notes"].append(
                f"{metric} was not computed: its weights were not on the machine that ran "
                f"this (`multisc models pull {_COMPONENT[metric]}`; rows keep it empty)"
            )
    if sets["skipped"]:
        notes["notes"].append(sets["skipped"])
    extra = {
        "settings": setting_plots, "bandwidth": bandwidth_plots, "paired": statistics,
        "sets": sets,
    }  # fmt: skip
    page = _html(title, rows, run, metric_plots, uses_plot, grid_files, notes, extra)
    root.write_text(REPORT_FILE, page)
    return root.root / REPORT_FILE


def _notes(root: RunRoot) -> dict[str, Any]:
    """What ``plan.json`` and ``failures.json`` say, as strings only (files from someone
    else may hold anything)."""
    plan = root.read_json(NOTES_FILE) if root.is_file(NOTES_FILE) else {}
    plan = plan if isinstance(plan, dict) else {}
    skipped = plan.get("skipped") if isinstance(plan.get("skipped"), dict) else {}
    notes = plan.get("notes") if isinstance(plan.get("notes"), list) else []
    return {
        "skipped": {str(k): str(v) for k, v in skipped.items()},
        "notes": [str(n) for n in notes],
        "failed": read_failures(root),  # images a sweep had to skip
    }


def _bpg_over_nr(rows: list[dict[str, Any]]) -> bool:
    return any(r["scheme"].startswith("bpg_ldpc") and r["fading"].startswith("nr") for r in rows)


def _component_rows(run: dict | None) -> list[list[str]]:
    """The weights the run loaded: repo, commit on disk (against the pinned one), source,
    weights' sizes (``runs.components``, as the latest start or resume recorded it)."""
    try:
        components = json.loads(run["components"]) if run else {}
    except (KeyError, TypeError, ValueError):
        components = {}
    rows = []
    for name, record in components.items() if isinstance(components, dict) else ():
        if not isinstance(record, dict):
            continue
        commit, pinned = record.get("commit"), record.get("pinned")
        where = str(commit or "-")[:12]
        if pinned and commit != pinned:
            where += f" (pinned {str(pinned)[:12]})"
        weights = record.get("weights") if isinstance(record.get("weights"), dict) else {}
        sizes = ", ".join(
            f"{f} {b:,} B" if isinstance(b, int) else f"{f} {b}" for f, b in weights.items()
        )
        rows.append(
            [str(name), str(record.get("repo_id", "")), where, str(record.get("source", "")), sizes]
        )
    return rows


def _label(metric: str) -> str:
    return METRICS[metric][0] if metric in METRICS else TIME_LABEL


def _set_rows(sets: list[dict[str, Any]]) -> list[list[str]]:
    def number(value, form: str) -> str:
        return "—" if value is None else form.format(value)

    out = []
    for c in sets:
        kid = "—" if c["kid"] is None else f"{c['kid']:.4g} ± {c['kid_std']:.2g}"
        out.append([c["scheme"], c["channel"], f"{c['snr_db']:g}", str(c["images"]),
                    number(c["fid"], "{:.4g}"), kid, str(c.get("texts", 0)),
                    number(c.get("corpus_bleu"), "{:.1f}"),
                    number(c.get("corpus_bleu4_nltk"), "{:.3f}"), c["note"]])  # fmt: skip
    return out


def _paired_rows(comparisons: list[dict[str, Any]]) -> list[list[str]]:
    """One row per comparison, each metric's numbers in that metric's one format."""
    out = []
    for c in comparisons:
        form = FORMATS.get(c["metric"], "{:.4g}")
        signed = form.replace("{:", "{:+")
        ci = (
            "—"
            if c["ci_low"] is None
            else f"[{form.format(c['ci_low'])}, {form.format(c['ci_high'])}]"
        )
        p = "no power" if c["p_value"] is None else f"{c['p_value']:.3g}"
        adjusted = c.get("p_adjusted")
        q = "—" if adjusted is None else f"{adjusted:.3g}"
        out.append([c["scheme"], c["channel"], f"{c['snr_db']:g}", c["metric"], str(c["pairs"]),
                    signed.format(c["mean_difference"]), ci, p, q])  # fmt: skip
    return out


def _full_size_links(rows: list[dict[str, Any]], image_id: str) -> list[dict[str, str]]:
    """Links to an image's reconstructions at full size (seed 0), by scheme and SNR; only
    paths of the form multisc writes (``images/...``, no ``..``) are linked."""
    links = []
    mine = [r for r in rows if r["image_id"] == image_id and r["seed"] == 0]
    order = _ordered({r["scheme"] for r in mine})
    for row in sorted(mine, key=lambda r: (order.index(r["scheme"]), r["snr_db"])):
        path = str(row["image_path"])
        parts = path.split("/")
        if parts[0] != IMAGES_DIR or ".." in parts or not path.endswith(".png"):
            continue
        links.append(
            {
                "href": "/".join(quote(part) for part in parts),
                "text": f"{row['scheme']} {row['snr_db']:g} dB",
            }
        )
    return links


def _environment():
    """Jinja2 with autoescaping on for every template: escaping is the default, not a call
    each change must remember."""
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    environment = Environment(
        loader=PackageLoader("multisc.report", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    # a file of the run directory as a relative URL (autoescape makes it attribute-safe)
    environment.filters["url"] = lambda folder, name: f"{folder}/{quote(str(name))}"
    return environment


def _html(title, rows, run, metric_plots, uses_plot, grid_files, notes, extra) -> str:
    """The page, from ``templates/report.html.j2`` and its parts."""
    from multisc.report.stats import MIN_PAIRS

    header, body = summary(rows)
    lines = [*notes.get("skipped", {}).values(), *notes.get("notes", [])]
    for f in notes.get("failed", []):
        lines.append(
            f"image {f['image_id']} could not be read: {f['error']}"
            if f["scheme"] == "*"
            else f"image {f['image_id']} could not be sent by {f['scheme']}: {f['error']}"
        )
    versions = json.loads(run["versions"]) if run else {}
    statistics = extra["paired"]
    context = {
        "title": title,
        "stand_ins": stand_in_components(run),
        "counts": {
            "rows": len(rows),
            "images": len({r["image_id"] for r in rows}),
            "schemes": len({r["scheme"] for r in rows}),
            "snrs": len({r["snr_db"] for r in rows}),
            "seeds": len({r["seed"] for r in rows}),
        },
        "device": run["device"] if run else "?",
        "channels": notes["channels"],
        "nr": any(c.startswith("nr") for c in notes["channels"]),
        "bpg_over_nr": _bpg_over_nr(rows),
        "notes": lines,
        "plots": PLOTS_DIR,
        "grids_dir": GRIDS_DIR,
        "metric_plots": [
            {"metric": m, "names": names, "label": METRICS[m][0]}
            for m, names in metric_plots.items()
        ],
        "uses_plot": uses_plot,
        "min_for_interval": MIN_FOR_INTERVAL,
        "cliff": f"{CLIFF:.0%}",
        "setting_plots": [
            {"setting": setting, "metric": metric, "names": names, "label": _label(metric)}
            for (setting, metric), names in extra["settings"].items()
        ],
        "bandwidth_plots": [
            {"metric": metric, "names": names, "label": METRICS[metric][0]}
            for metric, names in extra["bandwidth"].items()
        ],
        "sets": _set_rows(extra["sets"]["sets"]),
        "fid_features": extra["sets"].get("fid_features", ""),
        "kid_subsets": extra["sets"].get("kid_subsets", ""),
        "paired": _paired_rows(statistics["comparisons"]),
        "reference": str(statistics["reference"]),
        "correction": statistics.get("correction") or {"name": "Holm", "tests": 0},
        "interval": statistics.get("interval", "percentile"),
        "min_pairs": MIN_PAIRS,
        "summary_header": header,
        "summary_body": body,
        "grids": [
            {"image_id": image_id, "name": name, "links": _full_size_links(rows, image_id)}
            for image_id, name in grid_files.items()
        ],
        "run": run,
        "versions": [[str(k), str(v)] for k, v in versions.items()],
        "components": _component_rows(run),
        "store_file": STORE_FILE,
    }
    return _environment().get_template("report.html.j2").render(context)

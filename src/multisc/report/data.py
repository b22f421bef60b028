"""Reading a run for its report: its rows and config, what each metric is called and how
its numbers are written, and the per-(series, SNR) means with their intervals that every
figure and table draws. Everything read is data someone else may have written: malformed
values become "unknown", never an exception."""

from __future__ import annotations

import math
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from multisc.errors import InvalidInputError
from multisc.experiment.rundir import read_failures
from multisc.experiment.store import STORE_FILE, ResultStore
from multisc.experiment.variants import series_order
from multisc.runroot import RunRoot
from multisc.untrusted import json_loads

NOTES_FILE = "plan.json"
_ID = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,199}")


def is_safe_id(image_id: object) -> bool:
    """Whether ``image_id`` is an id multisc makes
    ([multisc.data.sources.image_id][multisc.data.sources.image_id]):
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


#: one number format per metric in tables
FORMATS = {
    "psnr": "{:.2f}", "ssim": "{:.3f}", "lpips": "{:.3f}", "dists": "{:.3f}",
    "clip_cosine": "{:.3f}", "bleu": "{:.1f}", "bleu1": "{:.3f}", "bleu2": "{:.3f}",
    "bleu3": "{:.3f}", "bleu4": "{:.3f}", "text_similarity": "{:.3f}",
    "bleu_fused": "{:.1f}", "text_similarity_fused": "{:.3f}",
}  # fmt: skip


def by_channel(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """The rows, and the run's channels in order of appearance. With several channels each
    row's ``scheme`` becomes the series ``"scheme [channel]"``, so every plot, table and
    grid shows each scheme once per channel."""
    channels = list(dict.fromkeys(row["fading"] for row in rows))
    if len(channels) > 1:
        rows = [
            row if row.get("run") is not None  # a comparison's series: named by compare
            or row["scheme"].endswith(f" [{row['fading']}]")
            else {**row, "scheme": f"{row['scheme']} [{row['fading']}]"}
            for row in rows
        ]  # fmt: skip
    return rows, channels


#: fewer images than this per point: no interval drawn (a bootstrap of 2 values is not one)
MIN_FOR_INTERVAL = 3


def mean_ci(values: list[float]) -> tuple[float, float | None, float | None]:
    """Mean and its 95% percentile bootstrap interval over the values (images and seeds:
    [multisc.report.stats.bootstrap_ci][multisc.report.stats.bootstrap_ci]), which stays inside the
    values' range, so
    inside the metric's (PSNR >= 0, SSIM in [0, 1] ...); no interval (``None``) with fewer
    than ``MIN_FOR_INTERVAL`` values."""
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
    return {scheme: out[scheme] for scheme in series_order(out)}


def describe(
    rows: list[dict[str, Any]], run: dict[str, Any] | None, channels: list[str], title: str
) -> str:
    """What a run is, for a table's caption: its config's ``description``, else its schemes,
    channel(s) and SNRs (``"bpg_ldpc, deep_jscc over awgn at 0-18 dB"``); a comparison
    (no run) is its ``title``. Never the run folder's name (which may carry a digest)."""
    if run is None:
        return title
    given = config_value(run, "description")
    if given:
        return given.strip()
    from multisc.report.style import scheme_name

    schemes = list(dict.fromkeys(scheme_name(s) for s in series_order({r["scheme"] for r in rows})))
    snrs = sorted({float(r["snr_db"]) for r in rows})
    span = f"{snrs[0]:g} dB" if len(snrs) == 1 else f"{snrs[0]:g}-{snrs[-1]:g} dB"
    return f"{', '.join(schemes)} over {', '.join(channels)} at {span}"


def figure_context(
    rows: list[dict[str, Any]], channels: list[str], run: dict[str, Any] | None = None
) -> str:
    """What every figure of a report was measured on, for its caption: the channel(s), the
    budget(s) (varied, else the config's ``options: budget``) and the number of images and
    seeds (``"channel awgn; budget: each scheme's default; 5 images, 1 seed"``)."""
    settings = [r["settings"] for r in rows if isinstance(r.get("settings"), dict)]
    budgets = sorted({str(s["budget"]) for s in settings if s.get("budget")})
    options = config_mapping(run, "options")
    if not budgets and isinstance(options.get("budget"), str | int | float):
        budgets = [str(options["budget"])]
    images = len({r["image_id"] for r in rows})
    seeds = len({r["seed"] for r in rows})
    return "; ".join(
        [
            ("channels " if len(channels) > 1 else "channel ") + ", ".join(channels),
            "budget: " + ", ".join(budgets) if budgets else "budget: each scheme's default",
            f"{images} image{'s' if images != 1 else ''}, {seeds} seed{'s' if seeds != 1 else ''}",
        ]
    )


def failed_shares(rows: list[dict[str, Any]]) -> dict[tuple[str, float], float]:
    """(scheme, SNR) -> the share of its transmissions that failed (0 to 1): a failed one is
    scored as the failure image its scheme shows, which a figure marks as such."""
    groups: dict[tuple[str, float], list[bool]] = defaultdict(list)
    for row in rows:
        groups[(row["scheme"], row["snr_db"])].append(bool(row.get("failed")))
    return {key: float(np.mean(values)) for key, values in groups.items()}


def stand_in_components(run: dict[str, Any] | None) -> list[str]:
    """Components the run loaded as tiny stand-ins
    ([is_stand_in][multisc.models.provenance.is_stand_in])."""
    from multisc.models import is_stand_in

    try:
        components = json_loads(run["components"]) if run else {}
    except (KeyError, TypeError, ValueError):
        return []
    items = components.items() if isinstance(components, dict) else ()
    return [str(name) for name, record in items if is_stand_in(str(name), record)]


#: the largest value a metric, timing or channel-use count may have in a report's rows
#: (anything larger is not a measurement: 1e308 would overflow every mean)
MAX_VALUE = 1e12
#: the most distinct SNRs a report draws (a store may hold anything; a figure stays bounded)
MAX_SNRS = 200


def _number(value: Any, low: float = -MAX_VALUE) -> bool:
    return (
        isinstance(value, int | float) and not isinstance(value, bool)
        and math.isfinite(value) and low <= value <= MAX_VALUE
    )  # fmt: skip


def check_rows(rows: list[dict[str, Any]], where: Path) -> None:
    """Refuse, in one line naming the row and field, values no run writes: a metric or
    timing that is not a number within ±``MAX_VALUE`` (or
    empty; a metric may also be inf or NaN, as runs write them), negative channel uses,
    details of the wrong shape, more than ``MAX_SNRS`` SNRs.
    The store's schema checks the columns' types; this, the values a report computes with."""

    def refuse(number: int, row: dict[str, Any], field: str, value: Any) -> None:
        shown = repr(value) if len(repr(value)) < 60 else repr(value)[:57] + "..."
        raise InvalidInputError(
            f"{where}: row {number} ({row.get('scheme')!r}, image {row.get('image_id')!r}) "
            f"has {field} = {shown}, which no run writes: this store was edited or damaged"
        )

    for number, row in enumerate(rows, start=1):
        for group in ("metrics", "timings"):
            values = row.get(group)
            if not isinstance(values, dict):
                refuse(number, row, group, values)
            for key, value in values.items():
                # a metric may be inf (PSNR of an exact copy) or NaN (left out of means);
                # a timing is a finite number of seconds
                measured = (
                    group == "metrics" and isinstance(value, float) and not math.isfinite(value)
                )
                if value is not None and not measured and not _number(value):
                    refuse(number, row, f"{group}.{key}", value)
        if not _number(row.get("channel_uses"), low=0):
            refuse(number, row, "channel_uses", row.get("channel_uses"))
        details = row.get("details")
        if not isinstance(details, dict):
            refuse(number, row, "details", details)
        scores = details.get("candidate_scores", {})
        if not isinstance(scores, dict):
            refuse(number, row, "details.candidate_scores", scores)
        if "worst_link_snr_db" in details and not _number(details["worst_link_snr_db"]):
            refuse(number, row, "details.worst_link_snr_db", details["worst_link_snr_db"])
    snrs = {row["snr_db"] for row in rows}
    if len(snrs) > MAX_SNRS:
        raise InvalidInputError(
            f"{where}: {len(snrs)} distinct SNRs, over the {MAX_SNRS} a report draws"
        )


def read_run(
    run_dir: str | Path, read_only: bool = False
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """A finished run's rows and its latest start
    ([ResultStore.latest_run][multisc.experiment.store.ResultStore.latest_run]); one
    ``InvalidInputError`` for a folder that is missing or is not a run directory.
    ``read_only``: the store is opened without ever writing the folder (another's run)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise InvalidInputError(f"{run_dir} does not exist: give the folder `multisc run` wrote")
    root = RunRoot(run_dir)
    kind = root.entry_kind(STORE_FILE)
    if kind != "file":
        what = {
            None: "is missing",
            "link": "is a symbolic link (never followed)",
            "folder": "is a folder",
            "other": "is not a regular file (a FIFO, a socket or a device)",
        }[kind]
        raise InvalidInputError(f"{run_dir} is not a run directory: its {STORE_FILE} {what}")
    store = ResultStore(run_dir / STORE_FILE, read_only=read_only)
    try:
        rows = store.results()
        run = store.latest_run()
    finally:
        store.close()
    if not rows:
        raise InvalidInputError(f"{run_dir} has no results yet: run `multisc run` first")
    check_rows(rows, run_dir / STORE_FILE)
    return rows, run


def _stored_config(run: dict[str, Any] | None) -> dict[str, Any]:
    """The run's config as stored (empty when unset or unreadable): data, never trusted."""
    import yaml

    try:
        config = yaml.safe_load(run["config_yaml"]) if run else None
    except (yaml.YAMLError, RecursionError, TypeError, KeyError):
        return {}
    return config if isinstance(config, dict) else {}


def config_value(run: dict[str, Any] | None, key: str) -> str | None:
    """A text setting of the run's config (``None`` when unset or unreadable)."""
    value = _stored_config(run).get(key)
    return value if isinstance(value, str) else None


def compare_to(run: dict[str, Any] | None) -> str | None:
    """The run config's ``compare_to`` (``None`` when unset or unreadable)."""
    return config_value(run, "compare_to")


def first_variant(run: dict[str, Any] | None, scheme: str | None) -> str | None:
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


def config_mapping(run: dict[str, Any] | None, key: str) -> dict[str, Any]:
    """A mapping of the run's config (``statistics``, ``options``; empty when unset or
    unreadable)."""
    value = _stored_config(run).get(key)
    return value if isinstance(value, dict) else {}


def stored_table_metrics(run: dict[str, Any] | None) -> list[str] | None:
    """The run config's ``table_metrics`` (``None`` when unset or unreadable), each name
    checked as a new config's would be.

    Raises:
        InvalidInputError: the stored list names something that is not a reported metric."""
    from multisc.metric_names import table_metric_names

    value = _stored_config(run).get("table_metrics")
    if value is None:
        return None
    if not isinstance(value, list):
        raise InvalidInputError("the run's config: table_metrics is not a list of metrics")
    return table_metric_names(value, "the run's config: table_metrics")


def statistics_settings(run: dict[str, Any] | None) -> dict[str, Any]:
    """The run config's ``statistics:`` mapping (empty when unset or unreadable)."""
    return config_mapping(run, "statistics")


def read_captioners(root: RunRoot) -> list[list[str]]:
    """The captioner table ``multisc captioner eval --run DIR`` wrote into the run, as text
    cells ([table_cells][multisc.captioner.evaluate.table_cells]: a file from someone else
    may hold anything); ``[]`` when there is none."""
    from multisc.captioner.evaluate import CAPTIONERS_FILE, table_cells

    if not root.is_file(CAPTIONERS_FILE):
        return []
    try:
        data = root.read_json(CAPTIONERS_FILE)
    except (ValueError, OSError):
        return []
    results = data.get("results") if isinstance(data, dict) else None
    if not isinstance(results, list):  # a file from elsewhere: ``results: 5`` is no table
        return []
    return [table_cells(r) for r in results[:100] if isinstance(r, dict)]


def read_notes(root: RunRoot) -> dict[str, Any]:
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

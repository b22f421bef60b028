"""The data of the report's views beyond one SNR axis: a metric against each varied
setting (``vary:``; a paired axis such as ``rows,cols`` is one axis), and the
rate-distortion view (a metric against channel uses per pixel value)."""

from __future__ import annotations

import math
from collections import defaultdict
from fractions import Fraction
from typing import Any

import numpy as np

from multisc.experiment.variants import axis_names, format_value
from multisc.report.style import family
from multisc.runroot import RunRoot

Axis = tuple[str, ...]


def varied_axes(rows: list[dict[str, Any]], run: dict[str, Any] | None = None) -> list[Axis]:
    """The axes a run varied: the run config's ``vary:`` keys where it can be read (a
    paired key ``rows,cols`` stays one axis), else each varied setting alone; only axes
    whose settings the rows hold, in the config's (else first-seen) order."""
    held = list(dict.fromkeys(key for row in rows for key in row.get("settings", {})))
    axes: list[Axis] = []
    for key in _vary(run):
        names = axis_names(key)
        if all(name in held for name in names):
            axes.append(names)
    covered = {name for axis in axes for name in axis}
    return axes + [(name,) for name in held if name not in covered]


def _vary(run: dict[str, Any] | None) -> dict[str, Any]:
    import yaml

    try:
        config = yaml.safe_load(run["config_yaml"]) if run else None
    except (yaml.YAMLError, RecursionError, TypeError, KeyError):
        return {}
    vary = config.get("vary") if isinstance(config, dict) else None
    return vary if isinstance(vary, dict) else {}


def axis_label(axis: Axis) -> str:
    """``("rows", "cols")`` -> ``"rows,cols"``."""
    return ",".join(axis)


def axis_order(run: dict[str, Any] | None, axis: Axis) -> list[str]:
    """The axis' values as the config lists them (formatted as in labels: ``2x2``), or
    ``[]`` where the config cannot be read."""
    values = _vary(run).get(axis_label(axis))
    if not isinstance(values, list):
        return []
    return [format_value(v) for v in values]


def _axis_value(row: dict[str, Any], axis: Axis) -> Any:
    settings = row.get("settings") or {}
    if not all(name in settings for name in axis):
        return None
    return settings[axis[0]] if len(axis) == 1 else tuple(settings[n] for n in axis)


def as_number(value: Any) -> float | None:
    """A setting's value as a number for an axis (``1/48`` -> 0.0208), else ``None``."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(Fraction(str(value)))
    except (ValueError, ZeroDivisionError):
        return None


def _family(row: dict[str, Any], axis: Axis) -> str:
    """The row's series with the axis' settings taken out of its label (what one line
    shows)."""
    parts = row["scheme"].split(" ")
    return " ".join(p for p in parts if not any(p.startswith(f"{n}=") for n in axis))


def setting_points(
    rows: list[dict[str, Any]], axis: Axis, metric: str
) -> dict[tuple[str, float], list[tuple[Any, float, int, float]]]:
    """(series without the axis, SNR) -> [(value, mean metric, n, share of the n
    transmissions that failed)] in first-seen order."""
    groups: dict[tuple[str, float, str], list[float]] = defaultdict(list)
    failed: dict[tuple[str, float, str], list[bool]] = defaultdict(list)
    values: dict[str, Any] = {}
    for row in rows:
        value = _axis_value(row, axis)
        if value is None:
            continue
        metric_value = row["metrics"].get(metric)
        if metric_value is None or not math.isfinite(metric_value):
            continue
        key = format_value(value)
        values[key] = value
        groups[(_family(row, axis), row["snr_db"], key)].append(metric_value)
        failed[(_family(row, axis), row["snr_db"], key)].append(bool(row.get("failed")))
    out: dict[tuple[str, float], list[tuple[Any, float, int, float]]] = defaultdict(list)
    for (name, snr, key), items in groups.items():
        share = float(np.mean(failed[(name, snr, key)]))
        out[(name, snr)].append((values[key], float(np.mean(items)), len(items), share))
    return dict(out)


def is_numeric(points: dict[tuple[str, float], list[tuple[Any, float, int, float]]]) -> bool:
    """Whether every value of an axis is a number (``1/48`` included): drawn as lines;
    names (``bart``, ``text``) and pairs (``2x2``) are categories, drawn as points."""
    return all(
        as_number(value) is not None and not isinstance(value, tuple)
        for pts in points.values()
        for value, *_ in pts
    )


def pixels_per_image(root: RunRoot, ids, read_reference) -> dict[str, int]:
    """H·W of each image's saved reference (images whose reference cannot be read are
    left out)."""
    out = {}
    for image_id in ids:
        image = read_reference(root, image_id)
        if image is not None:
            out[image_id] = image.width * image.height
    return out


def bandwidth_points(
    rows: list[dict[str, Any]], pixels: dict[str, int], metric: str
) -> dict[tuple[str, float], list[tuple[float, float, float]]]:
    """(scheme with its channel, SNR) -> [(channel uses per pixel value k/n, mean metric,
    share of transmissions that failed)]: per variant, the mean of channel uses / (H·W·3)
    over its rows; sorted by k/n."""
    groups: dict[tuple[str, str, float], list[tuple[float, float, bool]]] = defaultdict(list)
    for row in rows:
        value = row["metrics"].get(metric)
        if value is None or not math.isfinite(value) or row["image_id"] not in pixels:
            continue
        ratio = row["channel_uses"] / (3 * pixels[row["image_id"]])
        # "bpg_ldpc budget=1/48 [channel]" and "run: bpg_ldpc budget=1/48": one curve per
        # family (the run and scheme, its channel), one point per variant
        groups[(family(row["scheme"]), row["scheme"], row["snr_db"])].append(
            (ratio, value, bool(row.get("failed")))
        )
    out: dict[tuple[str, float], list[tuple[float, float, float]]] = defaultdict(list)
    for (scheme, _variant, snr), items in groups.items():
        ratios, values, failures = zip(*items, strict=True)
        out[(scheme, snr)].append(
            (float(np.mean(ratios)), float(np.mean(values)), float(np.mean(failures)))
        )
    return {key: sorted(points) for key, points in out.items()}


def spends_differ(rows: list[dict[str, Any]]) -> bool:
    """Whether the run's series spend different channel uses (by more than 5%)."""
    means = defaultdict(list)
    for row in rows:
        means[row["scheme"]].append(row["channel_uses"])
    values = [float(np.mean(v)) for v in means.values() if v]
    return len(values) > 1 and max(values) > 1.05 * max(min(values), 1)

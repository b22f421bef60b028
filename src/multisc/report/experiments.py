"""The report's views of a run beyond one SNR axis: a metric against each varied setting
(``vary:``), and the rate-distortion view (a metric against channel uses per pixel)."""

from __future__ import annotations

import math
from collections import defaultdict
from fractions import Fraction
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import FuncFormatter

from multisc.experiment.runroot import RunRoot
from multisc.experiment.variants import format_value
from multisc.report.style import MARKERS


def varied_settings(rows: list[dict[str, Any]]) -> list[str]:
    """The settings a run varied (the keys of its rows' ``settings``), in first-seen order."""
    return list(dict.fromkeys(key for row in rows for key in row.get("settings", {})))


def _number(value: Any) -> float | None:
    """A setting's value as a number for an axis (``1/48`` -> 0.0208), else ``None``."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(Fraction(str(value)))
    except (ValueError, ZeroDivisionError):
        return None


def _family(row: dict[str, Any], setting: str) -> str:
    """The row's series with ``setting`` taken out of its label (what one line shows)."""
    parts = row["scheme"].split(" ")
    return " ".join(p for p in parts if not p.startswith(f"{setting}="))


def setting_points(
    rows: list[dict[str, Any]], setting: str, metric: str
) -> dict[tuple[str, float], list[tuple[Any, float, int]]]:
    """(series without ``setting``, SNR) -> [(value, mean metric, n)] in value order."""
    groups: dict[tuple[str, float, str], list[float]] = defaultdict(list)
    values: dict[str, Any] = {}
    for row in rows:
        if setting not in row.get("settings", {}):
            continue
        metric_value = row["metrics"].get(metric)
        if metric_value is None or not math.isfinite(metric_value):
            continue
        value = row["settings"][setting]
        key = format_value(value)
        values[key] = value
        groups[(_family(row, setting), row["snr_db"], key)].append(metric_value)
    out: dict[tuple[str, float], list[tuple[Any, float, int]]] = defaultdict(list)
    for (family, snr, key), items in groups.items():
        out[(family, snr)].append((values[key], float(np.mean(items)), len(items)))
    return dict(out)


def plot_setting(rows, setting: str, metric: str, label: str, root: RunRoot, save) -> list[str]:
    """``metric`` against ``setting``, one line per (series, SNR): e.g. LPIPS vs lambda."""
    data = setting_points(rows, setting, metric)
    if not data:
        return []
    all_values = list(dict.fromkeys(format_value(v) for pts in data.values() for v, _, _ in pts))
    numeric = all(_number(v) is not None for pts in data.values() for v, _, _ in pts)
    fig, ax = plt.subplots(figsize=(6, 4))
    families = list(dict.fromkeys(family for family, _ in data))
    snrs = sorted({snr for _, snr in data})
    for (family, snr), points in sorted(
        data.items(), key=lambda i: (families.index(i[0][0]), i[0][1])
    ):
        if numeric:
            points = sorted(points, key=lambda p: _number(p[0]))
            x = [_number(v) for v, _, _ in points]
        else:
            x = [all_values.index(format_value(v)) for v, _, _ in points]
        color = plt.cm.tab10(families.index(family) % 10)  # a colour per scheme,
        style = ("-", "--", ":", "-.")[snrs.index(snr) % 4]  # a line and marker per SNR
        marker = MARKERS[snrs.index(snr) % len(MARKERS)]
        name = f"{family} @ {snr:g} dB"
        ax.plot(
            x, [m for _, m, _ in points], marker=marker, color=color, linestyle=style, label=name
        )
    if not numeric:
        ax.set_xticks(range(len(all_values)), all_values)
    else:
        ticks = sorted({_number(v) for pts in data.values() for v, _, _ in pts})
        texts = {_number(v): format_value(v) for pts in data.values() for v, _, _ in pts}
        ax.set_xticks(ticks, [texts[t] for t in ticks], fontsize=8)
    ax.set_xlabel(setting)
    ax.set_ylabel(label)
    ax.grid(True, alpha=0.3)
    ax.legend(ncol=2 if len(data) > 6 else 1)
    return save(fig, root, "plots", f"{metric}_vs_{setting.replace(',', '_')}")


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
) -> dict[tuple[str, float], list[tuple[float, float]]]:
    """(scheme with its channel, SNR) -> [(channel uses per pixel value k/n, mean metric)]:
    per variant, the mean of channel uses / (H·W·3) over its rows; sorted by k/n."""
    groups: dict[tuple[str, str, float], list[tuple[float, float]]] = defaultdict(list)
    for row in rows:
        value = row["metrics"].get(metric)
        if value is None or not math.isfinite(value) or row["image_id"] not in pixels:
            continue
        ratio = row["channel_uses"] / (3 * pixels[row["image_id"]])
        parts = row["scheme"].split(" ")  # "bpg_ldpc budget=1/48 [channel]"
        scheme = parts[0] + (f" {parts[-1]}" if parts[-1].startswith("[") else "")
        groups[(scheme, row["scheme"], row["snr_db"])].append((ratio, value))
    out: dict[tuple[str, float], list[tuple[float, float]]] = defaultdict(list)
    for (scheme, _variant, snr), items in groups.items():
        ratios, values = zip(*items, strict=True)
        out[(scheme, snr)].append((float(np.mean(ratios)), float(np.mean(values))))
    return {key: sorted(points) for key, points in out.items()}


def spends_differ(rows: list[dict[str, Any]]) -> bool:
    """Whether the run's series spend different channel uses (by more than 5%)."""
    means = defaultdict(list)
    for row in rows:
        means[row["scheme"]].append(row["channel_uses"])
    values = [float(np.mean(v)) for v in means.values() if v]
    return len(values) > 1 and max(values) > 1.05 * max(min(values), 1)


def plot_bandwidth(rows, pixels, metric: str, label: str, root: RunRoot, save) -> list[str]:
    """``metric`` against the bandwidth ratio k/n (channel uses per pixel value, H·W·3),
    one curve per scheme and SNR: the rate-distortion(-perception) view."""
    data = bandwidth_points(rows, pixels, metric)
    if not data:
        return []
    schemes = list(dict.fromkeys(scheme for scheme, _ in data))
    snrs = sorted({snr for _, snr in data})
    markers = MARKERS
    fig, ax = plt.subplots(figsize=(6, 4))
    for (scheme, snr), points in sorted(
        data.items(), key=lambda i: (schemes.index(i[0][0]), i[0][1])
    ):
        color = plt.cm.tab10(schemes.index(scheme) % 10)
        style = ("-", "--", ":", "-.")[snrs.index(snr) % 4]
        x, y = zip(*points, strict=True)
        ax.plot(
            x, y, marker=markers[snrs.index(snr) % len(markers)], linestyle=style, color=color,
            label=f"{scheme} @ {snr:g} dB",
        )  # fmt: skip
    ax.set_xscale("log")
    # ticks at the measured ratios, as plain numbers (log ticks are mathtext, which the
    # report draws with off)
    ticks: list[float] = []
    for x in sorted(x for points in data.values() for x, _ in points):
        if not ticks or x > ticks[-1] * 1.03:  # schemes a hair apart share one tick
            ticks.append(x)
    ax.xaxis.set_minor_formatter(FuncFormatter(lambda value, _: ""))
    labels = [f"1/{1 / x:.0f}" if 0 < x <= 0.5 else f"{x:.2g}" for x in ticks]
    ax.set_xticks(ticks, labels, fontsize=8)
    ax.set_xlabel("bandwidth ratio k/n (channel uses / H·W·3)")
    ax.set_ylabel(label)
    ax.grid(True, alpha=0.3, which="both")
    ax.legend(ncol=2 if len(data) > 6 else 1)
    return save(fig, root, "plots", f"{metric}_vs_bandwidth")

"""The report's figures: each metric against SNR, the channel uses each series spends, each
metric against a varied setting, and against the bandwidth ratio k/n. Every figure has the
size, fonts, palette and per-series styles of [multisc.report.style][]: a scheme looks the
same in all of them, legends sit outside the axes and tick labels are plain text."""

from __future__ import annotations

import itertools
from collections import defaultdict
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from multisc.experiment.variants import format_value, series_order
from multisc.report import experiments
from multisc.report.data import METRICS, curves
from multisc.report.style import (
    RC,
    StyleMap,
    family_snr_legend,
    legend_outside,
    new_figure,
    plain_log_axis,
    plain_number,
    save_figure,
    thin_ticks,
)
from multisc.runroot import RunRoot

PLOTS_DIR = "plots"
TIME_LABEL = "generation seconds per transmission"
#: a jump between neighbouring SNRs larger than this share of the plot's value range is a
#: cliff: its two points are not joined, nor is the band between them (nothing was
#: measured on the way down)
CLIFF = 0.3


def _segments(points: list[Any], span: float) -> list[list[Any]]:
    """The runs of a curve's points to join: split where a neighbour's mean jumps by more
    than [CLIFF][multisc.report.plots.CLIFF] of ``span``."""
    runs: list[list[Any]] = [[points[0]]]
    for a, b in itertools.pairwise(points):
        if span > 0 and abs(b[1] - a[1]) > CLIFF * span:
            runs.append([])
        runs[-1].append(b)
    return runs


def _value_axis(ax) -> None:
    ax.yaxis.set_major_formatter(plt.FuncFormatter(plain_number))
    ax.grid(True, alpha=0.3)


def plot_metric(
    rows, metric: str, root: RunRoot, styles: StyleMap, name: str = "", xlabel: str = "SNR (dB)"
) -> list[str]:
    """``metric`` against SNR, one series per scheme (and channel): ticks at the SNRs run,
    the bootstrap 95% band where there are enough values, cliffs not joined and their
    bands broken with them (an isolated point keeps its interval as an error bar).
    ``name``: the file's name (default: the metric's); ``xlabel``: which SNR it is."""
    data = curves(rows, metric)
    if not data:
        return []
    label, _ = METRICS.get(metric, (metric, False))
    values = [p[1] for points in data.values() for p in points]
    span = max(values) - min(values)
    with plt.rc_context(RC):
        fig, ax = new_figure()
        for series, points in data.items():
            style = styles(series)
            for number, segment in enumerate(_segments(points, span)):
                x, y = [p[0] for p in segment], [p[1] for p in segment]
                ax.plot(x, y, **style, label=series if number == 0 else None)
                banded = [p for p in segment if p[2] is not None]
                if len(banded) > 1:
                    ax.fill_between(
                        [p[0] for p in banded], [p[2] for p in banded], [p[3] for p in banded],
                        color=style["color"], alpha=0.15, linewidth=0,
                    )  # fmt: skip
                elif len(segment) == 1 and banded:
                    (point,) = banded
                    ax.errorbar(
                        [point[0]], [point[1]], yerr=[[point[1] - point[2]], [point[3] - point[1]]],
                        color=style["color"], linewidth=0.8, capsize=2,
                    )  # fmt: skip
        snrs = sorted({p[0] for points in data.values() for p in points})
        ticks = thin_ticks(snrs)
        ax.set_xticks(ticks, [f"{s:g}" for s in ticks])
        ax.set_xlabel(xlabel)
        ax.set_ylabel(label)
        _value_axis(ax)
        legend_outside(fig, ax)
        return save_figure(fig, root, PLOTS_DIR, name or metric)


def worst_link_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` placed at their worst link's nominal SNR (multisc with
    ``link_snr_offsets_db``: the run's SNR plus the lowest offset; every other row, one
    link or all at the run's SNR, stays where it is); ``[]`` when no row has offsets."""
    if not any("worst_link_snr_db" in r["details"] for r in rows):
        return []
    return [{**r, "snr_db": r["details"].get("worst_link_snr_db", r["snr_db"])} for r in rows]


def plot_channel_uses(rows, root: RunRoot, styles: StyleMap) -> list[str]:
    """The mean channel uses per image of each series, as horizontal bars in the series'
    colours (one row per series: long names never overprint), the value at each bar's end;
    a log axis, labelled in plain numbers, when they differ by more than 20x."""
    per_series: dict[str, list[float]] = defaultdict(list)
    for row in rows:
        per_series[row["scheme"]].append(row["channel_uses"])
    names = series_order(per_series)
    means = [float(np.mean(per_series[s])) for s in names]
    hatches = ["", "//", "..", "xx", "\\\\", "oo"]
    with plt.rc_context(RC):
        fig, ax = new_figure()
        positions = list(range(len(names)))
        bars = ax.barh(positions, means, color=[styles(s)["color"] for s in names])
        for i, bar in enumerate(bars):  # a hatch per bar: apart in greyscale too
            bar.set_hatch(hatches[i % len(hatches)])
        ax.bar_label(bars, labels=[f" {m:,.0f}" for m in means], fontsize=6)
        ax.set_yticks(positions, names)
        ax.invert_yaxis()  # the report's order, top to bottom
        ax.set_xlabel("channel uses per image (complex symbols; NR: resource elements)")
        if max(means) > 20 * max(min(means), 1):  # log only when series differ by orders
            ax.set_xscale("log")
            plain_log_axis(ax.xaxis)
            ax.set_xlim(right=max(means) * 6)  # room for the value labels
        else:
            ax.xaxis.set_major_formatter(plt.FuncFormatter(plain_number))
            ax.set_xlim(0, max(means) * 1.2)
        ax.grid(True, axis="x", alpha=0.3)
        return save_figure(fig, root, PLOTS_DIR, "channel_uses")


def plot_setting(
    rows,
    axis: experiments.Axis,
    metric: str,
    label: str,
    root: RunRoot,
    styles: StyleMap,
    order: list[str] | None = None,
) -> list[str]:
    """``metric`` against a varied setting (one axis: ``ip_scale``, or ``rows,cols`` as
    ``1x1, 2x2``), one line per (series, SNR) in the series' colour and marker, a line
    style per SNR. Numbers are lines at their values; names and pairs are categories:
    points (no lines), in ``order`` (the config's), set a little apart so none hides
    another."""
    data = experiments.setting_points(rows, axis, metric)
    if not data:
        return []
    numeric = experiments.is_numeric(data)
    seen = list(dict.fromkeys(format_value(v) for pts in data.values() for v, _, _ in pts))
    categories = [v for v in (order or []) if v in seen] + [
        v for v in seen if v not in (order or [])
    ]
    snrs = sorted({snr for _, snr in data})
    names = series_order({name for name, _ in data})
    lines = sorted(data, key=lambda k: (names.index(k[0]), k[1]))
    with plt.rc_context(RC):
        fig, ax = new_figure()
        for index, (name, snr) in enumerate(lines):
            points = data[(name, snr)]
            style = styles(name, rank=snrs.index(snr))
            tag = f"{name} @ {snr:g} dB"
            if numeric:
                points = sorted(points, key=lambda p: experiments.as_number(p[0]))
                x = [experiments.as_number(v) for v, _, _ in points]
                ax.plot(x, [m for _, m, _ in points], **style, gid=tag)
            else:
                dodge = (index - (len(lines) - 1) / 2) * min(0.3 / max(len(lines), 1), 0.08)
                x = [categories.index(format_value(v)) + dodge for v, _, _ in points]
                ax.plot(x, [m for _, m, _ in points], **{**style, "linestyle": "none"}, gid=tag)
        if numeric:
            measured = {
                experiments.as_number(v): format_value(v) for p in data.values() for v, _, _ in p
            }
            ticks = thin_ticks(list(measured))
            ax.set_xticks(ticks, [measured[t] for t in ticks])
        else:
            ax.set_xticks(range(len(categories)), categories)
            ax.set_xlim(-0.5, len(categories) - 0.5)
            if sum(map(len, categories)) > 36:  # part names (llava-interleave-qwen-0.5b)
                ax.tick_params(axis="x", labelrotation=30)  # would run into each other
                for tick in ax.get_xticklabels():
                    tick.set_horizontalalignment("right")
        ax.set_xlabel(experiments.axis_label(axis))
        ax.set_ylabel(label)
        _value_axis(ax)
        family_snr_legend(fig, styles, names, snrs, lines=numeric)
        stem = f"{metric}_vs_{'_'.join(axis)}"
        return save_figure(fig, root, PLOTS_DIR, stem)


def _ratio_label(value: float) -> str:
    return f"1/{1 / value:.0f}" if 0 < value <= 0.5 else f"{value:.2g}"


def plot_bandwidth(rows, pixels, metric: str, label: str, root: RunRoot, styles: StyleMap):
    """``metric`` against the bandwidth ratio k/n (channel uses per pixel value, H·W·3),
    one curve per (family, SNR), a point per variant: the rate-distortion(-perception)
    view. A log axis labelled at the measured ratios (thinned so no two labels touch)."""
    data = experiments.bandwidth_points(rows, pixels, metric)
    if not data:
        return []
    snrs = sorted({snr for _, snr in data})
    order = series_order({name for name, _ in data})
    with plt.rc_context(RC):
        fig, ax = new_figure()
        for name, snr in sorted(data, key=lambda k: (order.index(k[0]), k[1])):
            x, y = zip(*data[(name, snr)], strict=True)
            ax.plot(x, y, **styles(name, rank=snrs.index(snr)), gid=f"{name} @ {snr:g} dB")
        ax.set_xscale("log")
        plain_log_axis(ax.xaxis)
        ticks = thin_ticks([x for points in data.values() for x, _ in points], log=True)
        ax.set_xticks(ticks, [_ratio_label(t) for t in ticks])
        ax.set_xlabel("bandwidth ratio k/n (channel uses / H·W·3)")
        ax.set_ylabel(label)
        _value_axis(ax)
        ax.grid(True, alpha=0.3, which="both")
        family_snr_legend(fig, styles, order, snrs)
        return save_figure(fig, root, PLOTS_DIR, f"{metric}_vs_bandwidth")

"""The report's figures: each metric against SNR, the channel uses each series spends, each
metric against a varied setting, and against the bandwidth ratio k/n. Every figure has the
size, fonts, palette and per-series styles of [multisc.report.style][]: a scheme looks the
same in all of them, legends sit outside the axes and tick labels are plain text."""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from multisc.experiment.variants import format_value, series_order
from multisc.report import experiments
from multisc.report.data import METRICS, curves, failed_shares
from multisc.report.style import (
    RC,
    StyleMap,
    UniformFormatter,
    failure_marks,
    family_snr_legend,
    legend_outside,
    new_figure,
    plain_log_axis,
    save_figure,
    shade,
    thin_ticks,
)
from multisc.runroot import RunRoot

PLOTS_DIR = "plots"
TIME_LABEL = "generation seconds per transmission"
#: a jump between neighbouring SNRs larger than this share of the plot's value range is a
#: cliff: its two points are not joined, nor is the band between them (nothing was
#: measured on the way down)
CLIFF = 0.3


#: the least span of a metric's value axis: a figure whose values differ by less (a
#: one-SNR ablation within 0.06 dB) is not zoomed until noise looks like a slope
MIN_SPAN = {
    "psnr": 1.0, "ssim": 0.05, "lpips": 0.05, "dists": 0.05, "clip_cosine": 0.05,
    "bleu": 5.0, "bleu1": 0.05, "bleu4": 0.05, "text_similarity": 0.05, "bleu_fused": 5.0,
    "text_similarity_fused": 0.05, "generate_s": 0.5,
}  # fmt: skip
#: how far (points) a series is shifted sideways when it would lie over one drawn before
#: it: a marker's width and a little, so every series the legend lists stays visible
DODGE_PT = 4.5


def _segments(points: list[Any], span: float) -> list[list[Any]]:
    """The runs of a curve's points to join: split where a neighbour's mean jumps by more
    than [CLIFF][multisc.report.plots.CLIFF] of ``span``."""
    runs: list[list[Any]] = [[points[0]]]
    for a, b in itertools.pairwise(points):
        if span > 0 and abs(b[1] - a[1]) > CLIFF * span:
            runs.append([])
        runs[-1].append(b)
    return runs


def _value_axis(ax, metric: str = "") -> None:
    """Plain tick labels with one number of decimals, a light grid, and at least the
    metric's [MIN_SPAN][multisc.report.plots.MIN_SPAN] around the values."""
    ax.yaxis.set_major_formatter(UniformFormatter())
    ax.grid(True, alpha=0.3)
    least = MIN_SPAN.get(metric)
    low, high = ax.get_ylim()
    if least and high - low < least:
        middle = (low + high) / 2
        bottom = middle - least / 2
        if bottom < 0 <= low:  # every metric here is >= 0: the span starts at 0 instead
            bottom = -0.03 * least  # (a margin, so a point at 0 is not cut by the axis)
        ax.set_ylim(bottom, bottom + least)


class Dodger:
    """Shifts a series a few points sideways when its points would lie on those of a
    series drawn before it in the same axes (same x, y within 1% of the value range):
    the first keeps its place, the second moves right, the third left, and so on."""

    def __init__(self, ax, span: float, log_x: bool = False) -> None:
        self.ax = ax
        self.tolerance = max(span, 1e-12) * 0.01
        self.log_x = log_x  # x values equal within 1% (a mean ratio k/n) count as equal
        self.drawn: list[list[tuple[float, float]]] = []

    def _same_x(self, a: float, b: float) -> bool:
        return abs(a - b) <= 0.01 * abs(b) if self.log_x else a == b

    def transform(self, points: list[tuple[float, float]]):
        """The transform to draw ``points`` with (the data transform, shifted if needed)."""
        from matplotlib.transforms import ScaledTranslation

        hidden = sum(
            any(
                any(self._same_x(x, a) and abs(y - b) <= self.tolerance for a, b in earlier)
                for x, y in points
            )
            for earlier in self.drawn
        )  # fmt: skip
        self.drawn.append(points)
        if not hidden:
            return self.ax.transData
        step = (hidden + 1) // 2 * (1 if hidden % 2 else -1)
        shift = ScaledTranslation(step * DODGE_PT / 72, 0, self.ax.figure.dpi_scale_trans)
        return self.ax.transData + shift


def plot_metric(
    rows, metric: str, root: RunRoot, styles: StyleMap, name: str = "", xlabel: str = "SNR (dB)"
) -> list[str]:
    """``metric`` against SNR, one series per scheme (and channel): ticks at the SNRs run,
    the bootstrap 95% band where there are enough values, cliffs not joined and their
    bands broken with them (a lone point with an interval has it as an error bar; none where all
    transmissions failed); points
    where transmissions failed are marked (a ring: some, a cross: all), and a series that
    would lie exactly over another is shifted a little sideways.
    ``name``: the file's name (default: the metric's); ``xlabel``: which SNR it is."""
    data = curves(rows, metric)
    if not data:
        return []
    shares = failed_shares(rows)
    label, _ = METRICS.get(metric, (metric, False))
    values = [p[1] for points in data.values() for p in points]
    span = max(values) - min(values)
    failures: set[str] = set()
    with plt.rc_context(RC):
        fig, ax = new_figure()
        dodger = Dodger(ax, span)
        for series, points in data.items():
            style = styles(series)
            transform = dodger.transform([(p[0], p[1]) for p in points])
            for number, segment in enumerate(_segments(points, span)):
                x, y = [p[0] for p in segment], [p[1] for p in segment]
                ax.plot(x, y, **style, label=series if number == 0 else None,
                        transform=transform)  # fmt: skip
                banded = [  # all failed: failure images scored, no interval drawn
                    p for p in segment
                    if p[2] is not None and shares.get((series, p[0]), 0.0) < 1
                ]  # fmt: skip
                if len(banded) > 1:
                    ax.fill_between(
                        [p[0] for p in banded], [p[2] for p in banded], [p[3] for p in banded],
                        color=style["color"], alpha=0.15, linewidth=0, transform=transform,
                    )  # fmt: skip
                elif banded:  # one point with an interval: an error bar
                    (point,) = banded
                    ax.errorbar(
                        [point[0]], [point[1]], yerr=[[point[1] - point[2]], [point[3] - point[1]]],
                        fmt="none", color=style["color"], linewidth=0.8, capsize=2,
                        transform=transform,
                    )  # fmt: skip
            marks = [(p[0], p[1], shares.get((series, p[0]), 0.0)) for p in points]
            failures |= failure_marks(ax, marks, transform)
        snrs = sorted({p[0] for points in data.values() for p in points})
        ticks = thin_ticks(snrs)
        ax.set_xticks(ticks, [f"{s:g}" for s in ticks])
        ax.set_xlabel(xlabel)
        ax.set_ylabel(label)
        _value_axis(ax, metric)
        legend_outside(fig, ax, failures)
        return save_figure(fig, root, PLOTS_DIR, name or metric)


def worst_link_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` placed at their worst link's nominal SNR (multisc with
    ``link_snr_offsets_db``: the run's SNR plus the lowest offset; every other row, one
    link or all at the run's SNR, stays where it is); ``[]`` when no row has offsets."""
    if not any("worst_link_snr_db" in r["details"] for r in rows):
        return []
    return [{**r, "snr_db": r["details"].get("worst_link_snr_db", r["snr_db"])} for r in rows]


def plot_channel_uses(rows, root: RunRoot, styles: StyleMap) -> list[str]:
    """The channel uses per image of each series: a horizontal bar at the mean in the
    series' colour (one row per series: long names never overprint), a dot per image (its
    mean over SNRs and seeds: the spread), the mean's value at the bar's end; a log axis,
    labelled in plain numbers, when series differ by more than 20x."""
    per_image: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        per_image[row["scheme"]][row["image_id"]].append(row["channel_uses"])
    names = series_order(per_image)
    spreads = [[float(np.mean(v)) for v in per_image[s].values()] for s in names]
    means = [
        float(np.mean([u for v in per_image[s].values() for u in v])) for s in names
    ]  # fmt: skip
    nr = any(str(row.get("fading", "")).startswith("nr") for row in rows)
    with plt.rc_context(RC):
        fig, ax = new_figure()
        ax.set_axisbelow(True)  # grid lines behind the bars
        positions = list(range(len(names)))
        ax.barh(positions, means, color=[styles(s)["color"] for s in names], alpha=0.85)
        for position, spread in zip(positions, spreads, strict=True):
            ax.plot(spread, [position] * len(spread), linestyle="none", marker="o",
                    markersize=2.5, color="0.1", gid="images")  # fmt: skip
        for position, mean, spread in zip(positions, means, spreads, strict=True):
            ax.annotate(  # the mean's value, right of the bar and of every dot
                f"{mean:,.0f}", (max(mean, *spread), position), xytext=(6, 0),
                textcoords="offset points", va="center", fontsize=6,
            )  # fmt: skip
        ax.set_yticks(positions, names)
        ax.invert_yaxis()  # the report's order, top to bottom
        unit = "complex symbols; NR: resource elements" if nr else "complex symbols"
        ax.set_xlabel(f"channel uses per image ({unit}; bar: mean, dots: each image)")
        largest = max(max(s) for s in spreads)
        if largest > 20 * max(min(min(s) for s in spreads), 1):  # log: orders apart
            ax.set_xscale("log")
            plain_log_axis(ax.xaxis)
            ax.set_xlim(right=largest * 6)  # room for the value labels
        else:
            ax.xaxis.set_major_formatter(UniformFormatter())
            ax.set_xlim(0, largest * 1.2)
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
    ``1x1, 2x2``), one line per (series, SNR) in the series' colour and marker, a shade of
    it per SNR. Numbers are lines at their values; names and pairs are categories: points
    (no lines), in ``order`` (the config's), set a little apart so none hides another.
    Failed transmissions are marked as in
    [plot_metric][multisc.report.plots.plot_metric]."""
    data = experiments.setting_points(rows, axis, metric)
    if not data:
        return []
    numeric = experiments.is_numeric(data)
    seen = list(dict.fromkeys(format_value(v) for pts in data.values() for v, *_ in pts))
    categories = [v for v in (order or []) if v in seen] + [
        v for v in seen if v not in (order or [])
    ]
    snrs = sorted({snr for _, snr in data})
    names = series_order({name for name, _ in data})
    lines = sorted(data, key=lambda k: (names.index(k[0]), k[1]))
    values = [m for pts in data.values() for _, m, *_ in pts]
    failures: set[str] = set()
    with plt.rc_context(RC):
        fig, ax = new_figure()
        dodger = Dodger(ax, max(values) - min(values))
        for index, (name, snr) in enumerate(lines):
            points = data[(name, snr)]
            style = _snr_style(styles, name, snrs.index(snr), len(snrs))
            tag = f"{name} @ {snr:g} dB"
            if numeric:
                points = sorted(points, key=lambda p: experiments.as_number(p[0]))
                x = [experiments.as_number(v) for v, *_ in points]
            else:
                dodge = (index - (len(lines) - 1) / 2) * min(0.3 / max(len(lines), 1), 0.08)
                x = [categories.index(format_value(v)) + dodge for v, *_ in points]
                style = {**style, "linestyle": "none"}
            y = [m for _, m, *_ in points]
            transform = dodger.transform(list(zip(x, y, strict=True)))
            ax.plot(x, y, **style, gid=tag, transform=transform)
            marks = [(a, b, p[3]) for a, b, p in zip(x, y, points, strict=True)]
            failures |= failure_marks(ax, marks, transform)
        if numeric:
            measured = {
                experiments.as_number(v): format_value(v) for p in data.values() for v, *_ in p
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
        _value_axis(ax, metric)
        family_snr_legend(fig, styles, names, snrs, lines=numeric, failures=failures)
        stem = f"{metric}_vs_{'_'.join(axis)}"
        return save_figure(fig, root, PLOTS_DIR, stem)


def _snr_style(styles: StyleMap, name: str, rank: int, count: int) -> dict[str, Any]:
    """A (series, SNR) line's style: the series' marker and line style, its scheme's
    colour in the SNR's shade."""
    style = styles(name)
    return {**style, "color": shade(style["color"], rank, count)}


#: ratios k/n a bandwidth axis may label when the measured ones are not all round:
#: 1/(2^a) and 1/(3·2^a), 1/2 down to 1/98,304
ROUND_RATIOS = tuple(sorted({1 / (m * 2**a) for m in (1, 3) for a in range(1, 16)}))


def _ratio_label(value: float) -> str:
    return f"1/{1 / value:,.0f}" if 0 < value <= 0.5 else f"{value:.2g}"


def _is_round(value: float) -> bool:
    """Whether ``value`` is one of [ROUND_RATIOS][multisc.report.plots.ROUND_RATIOS]
    (within 1%): 1/48 and 1/24 are; 1/4309 (a text scheme's spend) is not."""
    return any(abs(value - r) <= 0.01 * r for r in ROUND_RATIOS)


def ratio_ticks(measured: list[float]) -> list[float]:
    """The ticks of a log k/n axis: the measured ratios (thinned) when all are round, else
    round ratios within the measured range (powers of two alone when there are more than
    seven), thinned so no two labels touch."""
    if all(_is_round(v) for v in measured):
        return thin_ticks(measured, log=True)
    low, high = min(measured) / 1.2, max(measured) * 1.2
    inside = [r for r in ROUND_RATIOS if low <= r <= high]
    if len(inside) > 7:
        powers = [r for r in inside if abs(math.log2(r) - round(math.log2(r))) < 1e-9]
        inside = powers[::-1][:: max(1, -(-len(powers) // 7))][::-1]  # the largest kept
    return thin_ticks(inside, log=True) if len(inside) > 1 else thin_ticks(measured, log=True)


def same_curves(curves: list[tuple[float, list]], span: float) -> list[list[tuple[float, list]]]:
    """Neighbouring (SNR, points) curves of one family that coincide (the same x, and y
    within 0.5% of ``span`` at every point), grouped in SNR order: each group is drawn once."""
    groups: list[list[tuple[float, list]]] = []
    for snr, points in curves:
        if groups:
            _, previous = groups[-1][-1]
            same = len(previous) == len(points) and all(
                abs(a[0] - b[0]) <= 0.01 * abs(b[0]) and abs(a[1] - b[1]) <= 0.005 * span
                for a, b in zip(previous, points, strict=True)
            )
            if same:
                groups[-1].append((snr, points))
                continue
        groups.append([(snr, points)])
    return groups


def plot_bandwidth(rows, pixels, metric: str, label: str, root: RunRoot, styles: StyleMap):
    """``metric`` against the bandwidth ratio k/n (channel uses per pixel value, H·W·3),
    one curve per (family, SNR) in the scheme's colour, a shade per SNR (light: low), a
    point per variant: the rate-distortion(-perception) view. Points whose transmissions
    all failed are crosses, not joined into a curve; some failed, a ring. SNRs giving the
    same curve are one curve, their range said in the legend. A log axis labelled at
    round ratios."""
    data = experiments.bandwidth_points(rows, pixels, metric)
    if not data:
        return []
    snrs = sorted({snr for _, snr in data})
    order = series_order({name for name, _ in data})
    failures: set[str] = set()
    values = [y for points in data.values() for _, y, _ in points]
    span = max(values) - min(values)
    alike: dict[str, list[str]] = {}  # a family's SNRs drawn as one curve
    with plt.rc_context(RC):
        fig, ax = new_figure()
        dodger = Dodger(ax, span, log_x=True)
        for name in order:
            # a family's SNRs that give the very same curve (BPG-LDPC past its cliff) are
            # drawn once, in the highest one's shade, and labelled with their range
            for group in same_curves([(snr, data[(name, snr)]) for snr in snrs
                                      if (name, snr) in data], span):  # fmt: skip
                snr, points = group[-1]
                style = _snr_style(styles, name, snrs.index(snr), len(snrs))
                transform = dodger.transform([(x, y) for x, y, _ in points])
                tag = f"{name} @ {snr:g} dB"
                measured = [(x, y) for x, y, share in points if share < 1]
                if measured:
                    x, y = zip(*measured, strict=True)
                    ax.plot(x, y, **style, gid=tag, transform=transform)
                failures |= failure_marks(ax, points, transform)
                lost = [(x, y) for x, y, share in points if share >= 1]
                if lost:  # each failed point in the line's colour under its cross
                    x, y = zip(*lost, strict=True)
                    ax.plot(x, y, **{**style, "linestyle": "none"}, gid=tag,
                            transform=transform)  # fmt: skip
                if len(group) > 1:  # said in the legend: labels on the data would collide
                    alike.setdefault(name, []).append(f"{group[0][0]:g}-{snr:g} dB")
        ax.set_xscale("log")
        plain_log_axis(ax.xaxis)
        ticks = ratio_ticks([x for points in data.values() for x, *_ in points])
        ax.set_xticks(ticks, [_ratio_label(t) for t in ticks])
        ax.xaxis.set_minor_formatter(plt.NullFormatter())
        ax.set_xlabel("bandwidth ratio k/n (channel uses / H·W·3)")
        ax.set_ylabel(label)
        _value_axis(ax, metric)
        ax.grid(True, alpha=0.3, which="both")
        labels = {n: f"{n} ({', '.join(alike[n])}: one curve)" for n in alike}
        family_snr_legend(fig, styles, order, snrs, failures=failures, labels=labels)
        return save_figure(fig, root, PLOTS_DIR, f"{metric}_vs_bandwidth")

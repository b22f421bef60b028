"""How every figure of a report looks, decided in one place: one figure size and font set
sized for a paper, a colour-blind-safe palette (Okabe and Ito 2008), one fixed style per
series used by every figure of a run and of a comparison, legends outside the axes (never
over data), and tick labels as plain text (mathtext is off: names come from the store).

Series styles come from a [StyleMap][multisc.report.style.StyleMap]: a scheme (the
*family*: its name without variant settings, with its run in a comparison and its channel
when a run has several) keeps one colour and one marker in every figure; its variants, and
its SNRs where a figure draws one line per SNR, differ by line style.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.ticker import FuncFormatter, NullFormatter

from multisc.runroot import RunRoot

#: Okabe-Ito: distinguishable with every common colour-vision deficiency
PALETTE = (
    "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442",
)  # fmt: skip
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
LINESTYLES = ("-", "--", "-.", ":")
#: marker fills by a line's rank in its family: points drawn without lines (categories)
#: still differ
FILLS = ("full", "none", "left", "bottom", "right", "top")
#: every figure of a report: two columns of an IEEE paper wide (7.16 in), the legend at the
#: right of the axes
FIGURE = (7.16, 2.8)
#: what every figure is saved as
FORMATS = ("png", "svg", "pdf")
DPI = 150

RC: dict[str, Any] = {
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "legend.fontsize": 7,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "lines.linewidth": 1.2,
    "lines.markersize": 4,
    "figure.figsize": FIGURE,
    "figure.constrained_layout.use": True,
    "pdf.fonttype": 42,  # TrueType in the PDF: editable, as journals ask
    "svg.fonttype": "none",
    "text.parse_math": False,  # names come from the store: text, never mathtext
    "axes.formatter.use_mathtext": False,
}

_SETTING = re.compile(r"^[A-Za-z_][A-Za-z0-9_,]*=")


def family(series: str) -> str:
    """A series without its variant settings: ``"multisc ip_scale=0.25 [awgn]"`` ->
    ``"multisc [awgn]"``; ``"run-a: bpg_ldpc budget=1/48"`` -> ``"run-a: bpg_ldpc"``."""
    return " ".join(part for part in series.split(" ") if not _SETTING.match(part))


class StyleMap:
    """One style per series, fixed for a whole report: a family's colour and marker by its
    place in the report's order, a variant's line style by its place among its family's.

    Args:
        series: every series the report draws (schemes, variant labels, ``run: scheme``,
            ``scheme [channel]``), in any order: the report's order is imposed.
    """

    def __init__(self, series: Iterable[str]) -> None:
        from multisc.experiment.variants import series_order

        self.series = series_order(set(series))
        self.families = list(dict.fromkeys(family(s) for s in self.series))
        self._rank = {}
        for name in self.series:
            siblings = [s for s in self.series if family(s) == family(name)]
            self._rank[name] = siblings.index(name)

    def family_style(self, name: str) -> dict[str, Any]:
        """Colour and marker of a family (a series' family is looked up for a series)."""
        key = family(name)
        index = self.families.index(key) if key in self.families else len(self.families)
        return {"color": PALETTE[index % len(PALETTE)], "marker": MARKERS[index % len(MARKERS)]}

    def __call__(self, series: str, rank: int | None = None) -> dict[str, Any]:
        """Colour, marker, line style and fill of ``series`` (``rank``: the line's place
        among its family's lines in this figure, e.g. an SNR's; default its variant's)."""
        if rank is None:
            rank = self._rank.get(series, 0)
        return {
            **self.family_style(series),
            "linestyle": LINESTYLES[rank % len(LINESTYLES)],
            "fillstyle": FILLS[rank % len(FILLS)],
        }


def plain_number(value: float, _position: Any = None) -> str:
    """A tick label as plain text: ``12``, ``0.25``, ``12,000``, ``1,000,000``, ``2e+09``
    (never mathtext, which the report leaves off)."""
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 1e9 or magnitude < 1e-3:
        return f"{value:.2g}"
    if magnitude >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def plain_log_axis(axis) -> None:
    """A log axis labelled in plain text at its decades (10, 100, 1,000 ...), no minor
    labels: matplotlib's default log labels are mathtext (``10^{4}``)."""
    axis.set_major_formatter(FuncFormatter(plain_number))
    axis.set_minor_formatter(NullFormatter())


def thin_ticks(positions: Sequence[float], log: bool = False, apart: float = 0.08) -> list[float]:
    """The tick positions to label: each at least ``apart`` of the axis from the previous
    one (in log space on a log axis), so labels never print over each other."""
    import math

    values = sorted(set(positions))
    if len(values) < 2:
        return values
    scale = (lambda v: math.log10(v)) if log else (lambda v: v)
    span = scale(values[-1]) - scale(values[0]) or 1.0
    kept = [values[0]]
    for value in values[1:]:
        if (scale(value) - scale(kept[-1])) / span >= apart:
            kept.append(value)
    if kept[-1] != values[-1] and len(kept) > 1:  # the last measured value ends the axis
        kept[-1] = values[-1]  # farther from kept[-2] than the one it replaces
    return kept


def legend_outside(fig, ax) -> None:
    """The axes' legend, outside them at the figure's right (constrained layout keeps room
    for it), never over a point; none when nothing is labelled."""
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside right upper", frameon=False)


def family_snr_legend(
    fig, styles: StyleMap, families: Sequence[str], snrs: Sequence[float], lines: bool = True
) -> None:
    """One legend, outside the axes, for a figure with a line per (family, SNR): each family
    once (its colour and marker), then each SNR once (its line style and marker fill, in
    grey), instead of every pair: 3 schemes at 7 SNRs are 10 entries, not 21."""
    from matplotlib.lines import Line2D

    handles = [
        Line2D([], [], **{**styles.family_style(name), "linestyle": "-" if lines else "none"})
        for name in families
    ]
    for rank, _ in enumerate(snrs):
        handles.append(
            Line2D(
                [], [], color="0.35", marker="o",
                linestyle=LINESTYLES[rank % len(LINESTYLES)] if lines else "none",
                fillstyle=FILLS[rank % len(FILLS)],
            )
        )  # fmt: skip
    labels = [*families, *(f"{snr:g} dB" for snr in snrs)]
    fig.legend(handles, labels, loc="outside right upper", frameon=False)


def new_figure(size: tuple[float, float] = FIGURE):
    """A figure and its axes in the report's size, fonts and layout (call inside
    ``plt.rc_context(RC)``)."""
    return plt.subplots(figsize=size, layout="constrained")


def save_figure(fig, root: RunRoot, folder: str, stem: str, dpi: int = DPI) -> list[str]:
    """Save ``fig`` as ``folder/stem.png``, ``.svg`` and ``.pdf`` (vector, fonts embedded)
    in the run directory and close it; return the file names, PNG first."""
    names = []
    for suffix in FORMATS:
        root.save_figure(fig, f"{folder}/{stem}.{suffix}", dpi=dpi)
        names.append(f"{stem}.{suffix}")
    plt.close(fig)
    return names

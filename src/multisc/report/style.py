"""How every figure of a report looks, decided in one place: one figure size and font set
sized for a paper, a colour-blind-safe palette (Okabe and Ito 2008), one fixed style per
series used by every figure of a run and of a comparison, legends outside the axes (never
over data), and tick labels as plain text (mathtext is off: names come from the store).

Series styles come from a [StyleMap][multisc.report.style.StyleMap]: a scheme keeps one
colour and one marker by its name alone (fixed for the built-in schemes, a stable hash of
the name for a plugin's), in every run, comparison and figure type; its runs, channels and
variants differ by line style and marker fill; where a figure draws one line per SNR, the
SNRs are shades of the scheme's colour (light: low SNR, dark: high). Points where
transmissions failed carry marks of their own
([failure_marks][multisc.report.style.failure_marks]).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from contextvars import ContextVar
from typing import Any

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.ticker import Formatter, FuncFormatter, NullFormatter

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


#: the built-in schemes' fixed colour and marker: the same in every run, comparison and
#: figure type
FIXED: dict[str, tuple[str, str]] = {
    "multisc": (PALETTE[0], MARKERS[0]),
    "single_text": (PALETTE[1], MARKERS[1]),
    "vlm_csc": (PALETTE[2], MARKERS[2]),
    "bpg_ldpc": (PALETTE[3], MARKERS[3]),
    "deep_jscc": (PALETTE[4], MARKERS[4]),
}
#: a plugin's colour and marker come from a stable hash of its name into these (the
#: Okabe-Ito colours left over, then Paul Tol's "muted" ones): one plugin looks the same in
#: every report, whatever else the report holds
PLUGIN_COLORS = (PALETTE[5], PALETTE[6], "#882255", "#44AA99", "#999933", "#AA4499", "#332288")
PLUGIN_MARKERS = ("P", "X", "*", "h", "<", ">")


def scheme_name(series: str) -> str:
    """The scheme a series draws: ``"run-a: multisc ip_scale=0.25 [awgn]"`` -> ``"multisc"``."""
    label = series.partition(" [")[0]
    if ": " in label:
        label = label.partition(": ")[2]
    return label.split(" ")[0]


def scheme_style(name: str) -> dict[str, str]:
    """Colour and marker of a scheme by its name alone: fixed for the built-in schemes, a
    stable hash (CRC-32, not Python's salted ``hash``) of the name for any other."""
    if name in FIXED:
        color, marker = FIXED[name]
    else:
        import zlib

        code = zlib.crc32(name.encode("utf-8"))
        color = PLUGIN_COLORS[code % len(PLUGIN_COLORS)]
        marker = PLUGIN_MARKERS[(code // len(PLUGIN_COLORS)) % len(PLUGIN_MARKERS)]
    return {"color": color, "marker": marker}


def shade(color: str, rank: int, count: int) -> str:
    """``color`` made lighter or darker by ``rank`` of ``count`` (an SNR's place among a
    figure's SNRs): the lowest lightest, the highest darkest, one hue per scheme."""
    from matplotlib.colors import to_hex, to_rgb

    if count < 2:
        return to_hex(color)
    t = rank / (count - 1)  # 0 .. 1
    rgb = np.asarray(to_rgb(color))
    # below the middle towards white (at most 50%), above it towards black (at most 40%)
    mixed = rgb + (1 - rgb) * 0.5 * (1 - 2 * t) if t < 0.5 else rgb * (1 - 0.4 * (2 * t - 1))
    return to_hex(np.clip(mixed, 0, 1))


class StyleMap:
    """One style per series, the same in every report: a scheme's colour and marker by its
    name ([scheme_style][multisc.report.style.scheme_style]); the runs, channels and variants
    of one scheme differ by line style and marker fill, by their place among that scheme's
    series in the report.

    Args:
        series: every series the report draws (schemes, variant labels, ``run: scheme``,
            ``scheme [channel]``), in any order: the report's order is imposed.
    """

    def __init__(self, series: Iterable[str]) -> None:
        from multisc.experiment.variants import series_order

        self.series = series_order(set(series))
        self.families = list(dict.fromkeys(family(s) for s in self.series))
        self._rank: dict[str, int] = {}
        for names in (self.series, self.families):  # a variant among variants, a family
            for name in names:  # (run, channel) among the scheme's families
                siblings = [s for s in names if scheme_name(s) == scheme_name(name)]
                self._rank.setdefault(name, siblings.index(name))

    def family_style(self, name: str) -> dict[str, Any]:
        """Colour and marker of the scheme a series (or family) draws."""
        return scheme_style(scheme_name(name))

    def rank(self, series: str) -> int:
        """A series' place among its scheme's series (0 for one the map never saw)."""
        return self._rank.get(series, 0)

    def __call__(self, series: str, rank: int | None = None) -> dict[str, Any]:
        """Colour, marker, line style and fill of ``series`` (``rank``: its place among its
        scheme's lines in this figure; default its place among the report's series)."""
        if rank is None:
            rank = self.rank(series)
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


class UniformFormatter(Formatter):
    """Tick labels in plain text with one number of decimals per axis: ``20.0, 22.5, 25.0``,
    never ``20, 22.5, 25`` (matplotlib's ScalarFormatter would do this too, but turns
    large or small ranges into an offset or a mathtext exponent); thousands grouped."""

    def __call__(self, value: float, pos: Any = None) -> str:
        return self.format_ticks([value])[0]

    def format_ticks(self, values) -> list[str]:
        values = [float(v) for v in values]
        finite = [abs(v) for v in values if np.isfinite(v) and v != 0]
        if finite and (max(finite) >= 1e9 or max(finite) < 1e-3):
            return [plain_number(v) for v in values]
        decimals = 0
        for v in values:  # the fewest decimals that write every tick exactly (at most 4)
            while decimals < 4 and abs(round(v, decimals) - v) > 1e-9 * max(1.0, abs(v)):
                decimals += 1
        return [f"{v:,.{decimals}f}" if v != 0 else f"{0:.{decimals}f}" for v in values]


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


#: the marks laid over a point whose transmissions failed: some (a ring), all (a cross)
PARTLY_FAILED = {"marker": "o", "markersize": 9, "fillstyle": "none", "color": "0.15",
                 "linestyle": "none", "markeredgewidth": 0.8}  # fmt: skip
ALL_FAILED = {"marker": "x", "markersize": 7, "color": "0.15", "linestyle": "none",
              "markeredgewidth": 1.2}  # fmt: skip
FAILURE_LABELS = (
    "ring: some transmissions failed",
    "cross: all failed (scored as the failure image)",
)


def failure_marks(ax, points: Sequence[tuple[float, float, float]], transform=None) -> set[str]:
    """Lay a ring over each ``(x, y, failed share)`` point where some transmissions failed
    and a cross where all did (``transform``: the series' own, if shifted); return which
    kinds were drawn (``"some"``, ``"all"``), for the legend."""
    some = [(x, y) for x, y, share in points if 0 < share < 1]
    every = [(x, y) for x, y, share in points if share >= 1]
    for marks, style in ((some, PARTLY_FAILED), (every, ALL_FAILED)):
        if marks:
            xs, ys = zip(*marks, strict=True)
            ax.plot(xs, ys, **style, zorder=4, gid="failed",
                    transform=transform or ax.transData)  # fmt: skip
    return ({"some"} if some else set()) | ({"all"} if every else set())


def failure_handles(kinds: set[str]) -> tuple[list[Any], list[str]]:
    """Legend handles and labels for the failure marks drawn."""
    from matplotlib.lines import Line2D

    handles, labels = [], []
    for kind, style, label in zip(("some", "all"), (PARTLY_FAILED, ALL_FAILED), FAILURE_LABELS,
                                  strict=True):  # fmt: skip
        if kind in kinds:
            handles.append(Line2D([], [], **style))
            labels.append(label)
    return handles, labels


#: legend entries a figure of the report's height holds beside its axes (7 pt text); a
#: legend with more makes its figure taller by as much (an ablation's 48 variants)
LEGEND_ROWS = 16
#: the longest label a legend beside the axes may hold and leave them room (7 pt text, at
#: most half the figure's width); a longer one puts the legend under the axes
LEGEND_CHARACTERS = 60
#: the height of one legend row under the axes (7 pt text and its spacing), in inches
LEGEND_ROW_INCHES = 0.16


def _legend_place(fig, labels: Sequence[str]) -> str:
    """Where ``fig``'s legend of ``labels`` goes, the figure made tall enough for it:
    beside the axes (the report's layout; past
    [LEGEND_ROWS][multisc.report.style.LEGEND_ROWS] rows the figure grows taller), or
    under them where a label is too long to leave the axes room beside it (the figure
    grows by the legend's rows)."""
    width, height = fig.get_size_inches()
    if max(map(len, labels), default=0) > LEGEND_CHARACTERS:
        fig.set_size_inches(width, height + len(labels) * LEGEND_ROW_INCHES)
        if fig._supxlabel is not None:  # the note goes on top: the legend takes the foot
            fig._supxlabel.remove()
            fig._supxlabel = None
            add_note(fig, top=True)
        return "outside lower center"
    if len(labels) > LEGEND_ROWS:
        fig.set_size_inches(width, max(height, FIGURE[1] * len(labels) / LEGEND_ROWS))
    return "outside right upper"


def legend_outside(fig, ax, failures: set[str] = frozenset()) -> None:  # type: ignore[assignment]
    """The axes' legend, outside them at the figure's right (constrained layout keeps room
    for it), never over a point, with the failure marks drawn (``failures``); none when
    nothing is labelled."""
    handles, labels = ax.get_legend_handles_labels()
    extra_handles, extra_labels = failure_handles(set(failures))
    if handles:
        every = [*labels, *extra_labels]
        fig.legend([*handles, *extra_handles], every, loc=_legend_place(fig, every),
                   frameon=False)  # fmt: skip


def family_snr_legend(
    fig,
    styles: StyleMap,
    families: Sequence[str],
    snrs: Sequence[float],
    lines: bool = True,
    failures: set[str] = frozenset(),  # type: ignore[assignment]
    labels: dict[str, str] | None = None,
) -> None:
    """One legend, outside the axes, for a figure with a line per (family, SNR): each family
    once (its colour, marker and line style), then each SNR once as a shade of grey (light:
    low SNR), as its lines are shades of their scheme's colour: 3 schemes at 7 SNRs are 10
    entries, not 21."""
    from matplotlib.lines import Line2D

    handles = [
        Line2D([], [], **{**styles(name), "linestyle": styles(name)["linestyle"] if lines
                          else "none"})
        for name in families
    ]  # fmt: skip
    for rank, _ in enumerate(snrs):
        handles.append(
            Line2D(
                [], [], color=shade("0.45", rank, len(snrs)), marker="s", markersize=6,
                linestyle="-" if lines else "none", linewidth=3,
            )
        )  # fmt: skip
    names = [(labels or {}).get(name, name) for name in families]  # a family's own label
    labels = [*names, *(f"{snr:g} dB" for snr in snrs)]
    extra_handles, extra_labels = failure_handles(set(failures))
    every = [*labels, *extra_labels]
    fig.legend([*handles, *extra_handles], every, loc=_legend_place(fig, every),
               frameon=False)  # fmt: skip


def new_figure(size: tuple[float, float] = FIGURE):
    """A figure and its axes in the report's size, fonts and layout (call inside
    ``plt.rc_context(RC)``), with the context's
    [FIGURE_NOTE][multisc.report.style.FIGURE_NOTE]."""
    fig, ax = plt.subplots(figsize=size, layout="constrained")
    add_note(fig)
    return fig, ax


FIGURE_NOTE: ContextVar[str] = ContextVar("FIGURE_NOTE", default="")
"""A line every figure drawn in this context carries at its bottom left (a report from
tiny stand-in models says so on each figure, as its page's banner does); set with
``FIGURE_NOTE.set(...)``."""


#: characters of the 6 pt note per inch of figure: a long list of stand-ins wraps, not cut
NOTE_CHARACTERS_PER_INCH = 20


def add_note(fig, top: bool = False) -> None:
    """Write [FIGURE_NOTE][multisc.report.style.FIGURE_NOTE], if any, small and grey at
    the figure's bottom left, under the axes' label (constrained layout keeps room for it;
    the legend is at the top right), or above everything (``top``: an image grid)."""
    note = FIGURE_NOTE.get()
    if note:
        import textwrap

        width = int(fig.get_size_inches()[0] * NOTE_CHARACTERS_PER_INCH)
        place = fig.suptitle if top else fig.supxlabel
        place(textwrap.fill(note, width), x=0.005, ha="left", fontsize=6, color="0.3",
              style="italic")  # fmt: skip


def save_figure(fig, root: RunRoot, folder: str, stem: str, dpi: int = DPI) -> list[str]:
    """Save ``fig`` as ``folder/stem.png``, ``.svg`` and ``.pdf`` (vector, fonts embedded)
    in the run directory and close it; return the file names, PNG first."""
    names = []
    for suffix in FORMATS:
        root.save_figure(fig, f"{folder}/{stem}.{suffix}", dpi=dpi)
        names.append(f"{stem}.{suffix}")
    plt.close(fig)
    return names

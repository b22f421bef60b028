"""How the report's figures look: sized for a two-column paper, a colour-blind-safe
palette (Okabe and Ito 2008), a marker and line style per series that survive greyscale
print, fonts embedded in the vector files (PDF and SVG beside the PNG)."""

from __future__ import annotations

from typing import Any

#: Okabe-Ito: distinguishable with every common colour-vision deficiency
PALETTE = (
    "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442",
)  # fmt: skip
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
LINESTYLES = ("-", "--", "-.", ":")
#: a figure one column of a two-column paper wide (IEEE: 3.5 in), and a wide one
COLUMN = (3.5, 2.6)
WIDE = (7.16, 3.2)
#: what every figure of the report is saved as
FORMATS = ("png", "svg", "pdf")

RC: dict[str, Any] = {
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "legend.fontsize": 6.5,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "lines.linewidth": 1.2,
    "lines.markersize": 4,
    "pdf.fonttype": 42,  # TrueType in the PDF: editable, as journals ask
    "svg.fonttype": "none",
    "text.parse_math": False,  # names come from the store: text, never mathtext
}


def series_style(index: int) -> dict[str, Any]:
    """Colour, marker and line style of the ``index``-th series (each differs from its
    neighbours in all three, so curves stay apart in greyscale)."""
    return {
        "color": PALETTE[index % len(PALETTE)],
        "marker": MARKERS[index % len(MARKERS)],
        "linestyle": LINESTYLES[index % len(LINESTYLES)],
    }

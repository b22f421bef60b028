"""The report's image grids: per image, the reference and each series' reconstruction at
each SNR (seed 0), with the metrics each tile has and the prompt a semantic scheme's
generator saw."""

from __future__ import annotations

import math
import textwrap
import warnings
from typing import Any

import matplotlib.pyplot as plt
from PIL import Image

from multisc.errors import InvalidInputError
from multisc.experiment.rundir import reference_path
from multisc.experiment.variants import series_order
from multisc.report.data import FORMATS, is_safe_id
from multisc.report.style import add_note
from multisc.runroot import RunRoot

GRIDS_DIR = "grids"
#: a tile's width (inches): big enough to judge
TILE_IN = 2.4
#: the size of a tile's text (points; titles one more): at ``DPI`` about 10 px high, read
#: at a paper column's width and in the page without clicking through
TEXT_PT = 7
DPI = 130
#: characters per line of a tile's prompt at ``TEXT_PT`` in ``TILE_IN``
WRAP = 40
#: the metrics a tile may show under it, in order
TILE_METRICS = (("psnr", "PSNR"), ("ssim", "SSIM"), ("lpips", "LPIPS"))


#: a tile's longest side as drawn (pixels): a grid's memory stays bounded whatever the
#: run's images (a 1 x 4000 PNG would have asked for a 1.4 GiB figure)
TILE_PIXELS = 512
#: the tallest and widest a tile is drawn (height / width)
MAX_ASPECT = 4.0


def _tile(root: RunRoot, relative: str) -> Image.Image | None:
    """A PNG of the run directory, whole, or None when it is missing or refused (a link, a
    path outside the run, not a PNG, too many pixels): the tile says so."""
    try:
        return root.read_image(relative)
    except (FileNotFoundError, InvalidInputError):
        return None


def _drawn(image: Image.Image | None) -> Image.Image | None:
    """``image`` as a grid draws it: at most ``TILE_PIXELS`` on its longest side."""
    if image is not None:
        image.thumbnail((TILE_PIXELS, TILE_PIXELS))
    return image


def _missing(ax, what: str = "missing") -> None:
    ax.text(0.5, 0.5, what, transform=ax.transAxes, ha="center", va="center", fontsize=7)


def image_grid(root: RunRoot, image_id: str, rows) -> str | None:
    """Rows: schemes; columns: the reference (once, in the first row), then SNRs (seed 0).
    Semantic schemes' rows carry the fused prompt the generator saw under each image; a
    grid from tiny stand-ins says so at its top. None for an id that is not
    one multisc makes (it names a file: ``grids/<id>.png``)."""
    if not is_safe_id(image_id):
        return None
    mine = [r for r in rows if r["image_id"] == image_id and r["seed"] == 0]
    schemes = series_order({r["scheme"] for r in mine})
    snrs = sorted({r["snr_db"] for r in mine})
    cell = {(r["scheme"], r["snr_db"]): r for r in mine}
    reference = _drawn(_tile(root, reference_path(image_id)))
    aspect = reference.height / reference.width if reference is not None else 0.75
    aspect = min(max(aspect, 1 / MAX_ASPECT), MAX_ASPECT)  # a sliver is drawn as a bounded tile
    text_rows = any(r.get("prompt") for r in mine)  # semantic schemes' rows carry a prompt
    fig_w = TILE_IN * (len(snrs) + 1)
    row_h = TILE_IN * aspect + (1.35 if text_rows else 0.5)
    fig, axes = plt.subplots(
        len(schemes), len(snrs) + 1, figsize=(fig_w, row_h * len(schemes)), squeeze=False,
        layout="tight",  # the grid's own layout, whatever the report's figures use
    )  # fmt: skip
    add_note(fig, top=True)
    for i, scheme in enumerate(schemes):
        ax = axes[i][0]
        if i == 0:  # the reference once per image: the rows below compare against it
            if reference is not None:
                ax.imshow(reference)
            else:
                _missing(ax)
            ax.set_title("reference", fontsize=TEXT_PT + 1)
        else:
            ax.set_frame_on(False)  # empty, but it keeps the row's scheme name
        ax.set_ylabel(scheme, fontsize=TEXT_PT + 1)
        ax.set_xticks([])
        ax.set_yticks([])
        for j, snr in enumerate(snrs, start=1):
            ax = axes[i][j]
            ax.set_xticks([])
            ax.set_yticks([])
            row = cell.get((scheme, snr))
            if i == 0:
                ax.set_title(f"{snr:g} dB", fontsize=TEXT_PT + 1)
            if row is None:
                ax.set_axis_off()
                continue
            tile = _drawn(_tile(root, str(row["image_path"])))
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
            lines = [tile_metrics(row)]
            if row.get("prompt"):
                # noise turns bytes into control characters: show them as a middle dot
                printable = "".join(c if c.isprintable() else "·" for c in row["prompt"])
                caption = textwrap.shorten(printable, 100, placeholder="…")
                lines += textwrap.wrap(caption, WRAP)
            # received text is data: "$" pairs must not be parsed as mathtext
            ax.set_xlabel("\n".join(lines), fontsize=TEXT_PT, parse_math=False)
    name = f"{image_id}.png"
    with warnings.catch_warnings():  # noisy received text: glyphs no font has are boxes
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        root.save_figure(fig, f"{GRIDS_DIR}/{name}", dpi=DPI)
    plt.close(fig)
    return name


def tile_metrics(row: dict[str, Any]) -> str:
    """``PSNR 23.10 · SSIM 0.712 · LPIPS 0.321`` of a grid tile (the metrics it has)."""
    parts = []
    for metric, name in TILE_METRICS:
        value = (row.get("metrics") or {}).get(metric)
        if value is not None and math.isfinite(value):
            parts.append(f"{name} {FORMATS[metric].format(value)}")
    return " · ".join(parts)


def tile_metric_names(rows: list[dict[str, Any]]) -> list[str]:
    """The names of the metrics the tiles show (those some row has): what a grid's
    caption may promise."""
    return [
        name
        for metric, name in TILE_METRICS
        if any((r.get("metrics") or {}).get(metric) is not None for r in rows)
    ]

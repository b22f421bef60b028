"""The report's figures as a paper needs them, checked on the drawn artists and against
baseline images.

Rows are synthetic (known means, known cliffs), so every figure is drawn in well under a
second. Each figure is captured before it is saved: no legend box covers a plotted point,
no two tick labels overlap, tick labels are plain text, a scheme has one colour in every
figure, bands break where lines break, categories are points in the config's order.
Baselines: ``tests/report/baselines/*.png``, compared with matplotlib's own
``compare_images`` at an RMS tolerance of 6 (0-255 scale: font hinting may move a glyph
by a pixel; a moved legend, a changed colour or a lost series is far above it).
Regenerate them with ``MULTISC_REGENERATE_BASELINES=1 pytest tests/report``.
"""

from __future__ import annotations

import itertools
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.colors import to_hex, to_rgb
from matplotlib.testing.compare import compare_images

from multisc.report import plots
from multisc.report.style import FAILURE_LABELS, StyleMap

BASELINES = Path(__file__).parent / "baselines"
TOLERANCE = 6.0
SNRS = [0.0, 3.0, 6.0, 9.0, 12.0, 15.0, 18.0]


def _row(scheme, image, snr, psnr, uses, settings=None, seed=0):
    return {
        "scheme": scheme, "image_id": f"i{image}", "snr_db": snr, "seed": seed,
        "fading": "awgn", "channel_uses": uses, "failed": False,
        "metrics": {"psnr": psnr, "ssim": min(psnr / 40, 1.0)},
        "settings": settings or {}, "timings": {},
    }  # fmt: skip


def snr_rows() -> list[dict]:
    """multisc rising smoothly, bpg_ldpc with a cliff between 3 and 6 dB (all its
    transmissions failed at 0 dB, half at 3 dB), deep_jscc rising gently: 4 images each,
    values spread around the mean."""
    rows = []
    for image in range(4):
        noise = (image - 1.5) * 0.4
        for snr in SNRS:
            rows.append(_row("multisc", image, snr, 14 + 0.3 * snr + noise, 2_800))
            bpg = 12.0 if snr < 6 else 26 + 0.2 * snr
            bpg_row = _row("bpg_ldpc", image, snr, bpg + noise, 22_130)
            # every transmission fails at 0 dB, half of them at 3 dB (failure image scored)
            bpg_row["failed"] = snr == 0 or (snr == 3 and image < 2)
            rows.append(bpg_row)
            rows.append(_row("deep_jscc", image, snr, 18 + 0.4 * snr + noise, 16_442))
    return rows


def setting_rows() -> list[dict]:
    rows = []
    for image, snr in itertools.product(range(3), (0.0, 12.0)):
        for scale in (0.0, 0.25, 0.5, 0.75, 1.0):
            rows.append(_row(f"multisc ip_scale={scale:g}", image, snr, 15 + 4 * scale + snr / 6,
                             2_800, {"ip_scale": scale}))  # fmt: skip
        for corrector in ("none", "symspell", "bart"):  # the config's order, not alphabetical
            bonus = {"none": 0.0, "symspell": 0.5, "bart": 1.0}[corrector]
            rows.append(_row(f"single_text corrector={corrector}", image, snr, 14 + bonus,
                             1_500, {"corrector": corrector}))  # fmt: skip
        for side in (1, 2, 3):
            rows.append(_row(f"multisc rows={side} cols={side}", image, snr, 13 + side, 2_800,
                             {"rows": side, "cols": side}))  # fmt: skip
    return rows


def bandwidth_rows(run: str = "") -> list[dict]:
    """bpg_ldpc and deep_jscc at four budgets whose ratios lie close together at the
    low end (1/33, 1/31, 1/26: labels that overprinted), three SNRs."""
    prefix = f"{run}: " if run else ""
    rows = []
    for image, snr in itertools.product(range(2), (0.0, 6.0, 12.0)):
        for budget, uses in (("1/48", 1024), ("1/33", 1490), ("1/31", 1585), ("1/26", 1890)):
            for scheme, gain in (("bpg_ldpc", 1.0), ("deep_jscc", 0.7)):
                psnr = 18 + gain * snr / 2 + uses / 400
                name = f"{prefix}{scheme} budget={budget}"
                rows.append(_row(name, image, snr, psnr, uses, {"budget": budget}))
    return rows


PIXELS = {"i0": 128 * 128, "i1": 128 * 128, "i2": 128 * 128, "i3": 128 * 128}


def _points(ax) -> np.ndarray:
    """Display coordinates of every plotted point (line vertices, bar tops)."""
    out = []
    for line in ax.get_lines():
        xy = np.column_stack(line.get_data()).astype(float)
        if len(xy):
            out.append(ax.transData.transform(xy))
    for patch in ax.patches:
        box = patch.get_window_extent()
        out.append(np.array([[box.x0 + box.width / 2, box.y1]]))
    return np.concatenate(out) if out else np.zeros((0, 2))


def assert_no_overlaps(fig) -> None:
    """No legend box over a plotted point; no two tick labels of an axis overlapping."""
    renderer = fig.canvas.get_renderer()
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend()]
    for ax in fig.axes:
        points = _points(ax)
        for legend in legends:
            box = legend.get_window_extent(renderer)
            whole = fig.bbox  # the legend fits the figure: no entry cut off
            assert box.x0 >= -1 and box.y0 >= -1 and box.x1 <= whole.x1 + 1
            assert box.y1 <= whole.y1 + 1, "legend taller than the figure"
            inside = [p for p in points if box.x0 <= p[0] <= box.x1 and box.y0 <= p[1] <= box.y1]
            assert not inside, f"legend covers {len(inside)} point(s)"
        for axis in (ax.xaxis, ax.yaxis):
            labels = [t for t in axis.get_ticklabels() if t.get_visible() and t.get_text()]
            boxes = [t.get_window_extent(renderer) for t in labels]
            for (a, ta), (b, tb) in itertools.combinations(zip(boxes, labels, strict=True), 2):
                assert not a.overlaps(b), (
                    f"tick labels overlap: {ta.get_text()!r}, {tb.get_text()!r}"
                )


def assert_plain_ticks(fig) -> None:
    for ax in fig.axes:
        for label in ax.get_xticklabels() + ax.get_yticklabels():
            text = label.get_text()
            assert "$" not in text and "mathdefault" not in text, text


def _colors(fig) -> dict[str, str]:
    """legend label -> its line's colour."""
    out = {}
    for legend in fig.legends:
        for handle, text in zip(legend.legend_handles, legend.get_texts(), strict=True):
            out[text.get_text()] = handle.get_color()
    return out


def test_metric_vs_snr_legend_outside_bands_broken_at_cliffs(captured):
    figures, root = captured
    rows = snr_rows()
    styles = StyleMap({r["scheme"] for r in rows})
    assert plots.plot_metric(rows, "psnr", root, styles) == ["psnr.png"]
    fig = figures["psnr"]
    assert_no_overlaps(fig)
    assert_plain_ticks(fig)
    (ax,) = fig.axes
    assert ax.get_legend() is None and len(fig.legends) == 1  # outside the axes
    # bpg_ldpc's cliff (3 -> 6 dB): two segments, and no band spans the gap
    bpg = [
        line for line in ax.get_lines()
        if line.get_color() == styles("bpg_ldpc")["color"] and line.get_linestyle() != "None"
    ]  # the curve's segments (an error bar's caps are points)  # fmt: skip
    assert [list(line.get_xdata()) for line in bpg] == [[0.0, 3.0], SNRS[2:]]
    bpg_rgb = list(to_rgb(styles("bpg_ldpc")["color"]))
    bands = [
        c for c in ax.collections
        if isinstance(c, PolyCollection) and list(c.get_facecolor()[0][:3]) == bpg_rgb
    ]  # fmt: skip
    assert len(bands) == 1  # 6-18 dB; at 0 dB all failed (no interval), 3 dB: an error bar
    xs = bands[0].get_paths()[0].vertices[:, 0]
    assert xs.min() >= 6.0  # none drawn across the cliff
    bars = [c for c in ax.collections if isinstance(c, LineCollection)]
    assert [c.get_segments()[0][0][0] for c in bars] == [3.0]
    # failures marked: a cross at 0 dB (all 4 failed), a ring at 3 dB (2 of 4), in the legend
    marks = {line.get_marker(): list(line.get_xdata()) for line in ax.get_lines()
             if line.get_gid() == "failed"}  # fmt: skip
    assert marks == {"x": [0.0], "o": [3.0]}
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels[-2:] == list(FAILURE_LABELS)


def test_one_style_per_scheme_in_every_figure_of_a_run(captured):
    figures, root = captured
    rows = snr_rows() + [
        {**r, "scheme": r["scheme"]} for r in bandwidth_rows() if "bpg_ldpc" in r["scheme"]
    ]
    styles = StyleMap({r["scheme"] for r in rows})
    plots.plot_metric(rows, "psnr", root, styles)
    plots.plot_bandwidth(rows, PIXELS, "psnr", "PSNR (dB)", root, styles)
    plots.plot_channel_uses(rows, root, styles)
    snr_colors = _colors(figures["psnr"])
    bandwidth_colors = _colors(figures["psnr_vs_bandwidth"])
    # bpg_ldpc's variants and its bandwidth curves: one colour, the family's
    family = styles.family_style("bpg_ldpc")["color"]
    assert {c for name, c in snr_colors.items() if name.startswith("bpg_ldpc")} == {family}
    assert {c for name, c in bandwidth_colors.items() if name.startswith("bpg_ldpc")} == {family}
    bars = figures["channel_uses"].axes[0].patches
    labels = [t.get_text() for t in figures["channel_uses"].axes[0].get_yticklabels()]
    colors = {labels[i]: to_hex(bar.get_facecolor()) for i, bar in enumerate(bars)}
    assert colors["multisc"] == styles.family_style("multisc")["color"].lower()
    for fig in figures.values():
        assert_no_overlaps(fig)
        assert_plain_ticks(fig)
        assert tuple(fig.get_size_inches()) == pytest.approx((7.16, 2.8))  # one size


def test_log_channel_uses_are_labelled_in_plain_numbers(captured):
    figures, root = captured
    rows = [_row("deep_jscc", 0, 0.0, 20, 900), _row("bpg_ldpc", 0, 0.0, 20, 120_000),
            _row("multisc", 0, 0.0, 20, 2_800)]  # fmt: skip
    plots.plot_channel_uses(rows, root, StyleMap({r["scheme"] for r in rows}))
    fig = figures["channel_uses"]
    (ax,) = fig.axes
    assert ax.get_xscale() == "log"
    texts = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert texts and all(t.replace(",", "").isdigit() for t in texts), texts
    assert_no_overlaps(fig)


def test_close_bandwidth_ratios_are_thinned_and_series_named_per_run(captured):
    figures, root = captured
    rows = bandwidth_rows("paper-samples") + bandwidth_rows("other")
    styles = StyleMap({r["scheme"] for r in rows})
    plots.plot_bandwidth(rows, PIXELS, "psnr", "PSNR (dB)", root, styles)
    fig = figures["psnr_vs_bandwidth"]
    assert_no_overlaps(fig)
    assert_plain_ticks(fig)
    lines = {line.get_gid() for line in fig.axes[0].get_lines()}
    assert "paper-samples: bpg_ldpc @ 0 dB" in lines and "other: deep_jscc @ 12 dB" in lines
    assert len(lines) == 2 * 2 * 3  # (run, scheme) x SNR: one curve each
    # one legend entry per (run, scheme) and per SNR, not per curve: it fits the figure
    assert list(_colors(fig)) == [
        "other: bpg_ldpc", "other: deep_jscc", "paper-samples: bpg_ldpc",
        "paper-samples: deep_jscc", "0 dB", "6 dB", "12 dB",
    ]  # fmt: skip


def test_categorical_settings_are_points_in_the_configs_order(captured):
    figures, root = captured
    rows = setting_rows()
    styles = StyleMap({r["scheme"] for r in rows})
    plots.plot_setting(rows, ("corrector",), "psnr", "PSNR (dB)", root, styles,
                       order=["none", "symspell", "bart"])  # fmt: skip
    fig = figures["psnr_vs_corrector"]
    (ax,) = fig.axes
    assert [t.get_text() for t in ax.get_xticklabels()] == ["none", "symspell", "bart"]
    assert all(line.get_linestyle() == "None" for line in ax.get_lines())  # points, no lines
    assert_no_overlaps(fig)
    plots.plot_setting(rows, ("rows", "cols"), "psnr", "PSNR (dB)", root, styles,
                       order=["1x1", "2x2", "3x3"])  # fmt: skip
    pair = figures["psnr_vs_rows_cols"]
    assert [t.get_text() for t in pair.axes[0].get_xticklabels()] == ["1x1", "2x2", "3x3"]
    assert pair.axes[0].get_xlabel() == "rows,cols"
    plots.plot_setting(rows, ("ip_scale",), "psnr", "PSNR (dB)", root, styles)
    numeric = figures["psnr_vs_ip_scale"].axes[0]
    assert all(line.get_linestyle() != "None" for line in numeric.get_lines())  # lines
    assert_no_overlaps(figures["psnr_vs_ip_scale"])


@pytest.mark.parametrize("name", ["psnr", "channel_uses", "psnr_vs_bandwidth", "psnr_vs_corrector"])
def test_figures_match_their_baseline_images(name, captured, tmp_path):
    _, root = captured
    rows = snr_rows() + bandwidth_rows() + setting_rows()
    styles = StyleMap({r["scheme"] for r in rows})
    if name == "psnr":
        plots.plot_metric(snr_rows(), "psnr", root, styles)
    elif name == "channel_uses":
        plots.plot_channel_uses(snr_rows(), root, styles)
    elif name == "psnr_vs_bandwidth":
        plots.plot_bandwidth(bandwidth_rows(), PIXELS, "psnr", "PSNR (dB)", root, styles)
    else:
        plots.plot_setting(setting_rows(), ("corrector",), "psnr", "PSNR (dB)", root, styles,
                           order=["none", "symspell", "bart"])  # fmt: skip
    actual = tmp_path / "plots" / f"{name}.png"
    expected = BASELINES / f"{name}.png"
    if os.environ.get("MULTISC_REGENERATE_BASELINES"):
        BASELINES.mkdir(exist_ok=True)
        shutil.copyfile(actual, expected)
    assert expected.is_file(), f"no baseline {expected}: regenerate (see the module doc)"
    assert compare_images(str(expected), str(actual), tol=TOLERANCE) is None


def test_metric_vs_the_worst_links_snr_moves_only_the_rows_with_link_offsets(captured):
    figures, root = captured
    rows = [{**r, "details": {}} for r in snr_rows()]
    assert plots.worst_link_rows(rows) == []  # no offsets: no such figure
    for r in rows:
        if r["scheme"] == "multisc":  # offsets [0, -3, -6, -9]: the worst link 9 dB down
            r["details"] = {"worst_link_snr_db": r["snr_db"] - 9.0}
    shifted = plots.worst_link_rows(rows)
    styles = StyleMap({r["scheme"] for r in rows})
    axis = "worst block link's SNR (dB)"
    names = plots.plot_metric(shifted, "psnr", root, styles, "psnr_vs_worst_link", axis)
    assert names == ["psnr_vs_worst_link.png"]
    fig = figures["psnr_vs_worst_link"]
    assert_no_overlaps(fig)
    assert_plain_ticks(fig)
    (ax,) = fig.axes
    assert ax.get_xlabel() == axis
    color = styles("multisc")["color"]
    (line,) = [line for line in ax.get_lines() if line.get_color() == color]
    assert list(line.get_xdata()) == [s - 9.0 for s in SNRS]
    bpg = [
        line for line in ax.get_lines()
        if line.get_color() == styles("bpg_ldpc")["color"] and line.get_linestyle() != "None"
    ]  # the curve's segments (an error bar's caps are points)  # fmt: skip
    assert [x for line in bpg for x in line.get_xdata()] == SNRS  # one link: unmoved

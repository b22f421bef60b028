"""The rules a paper's figure keeps across runs (issue 40): one colour and marker per scheme
name in every run and comparison, failures marked, no series hidden under another, one
number format per axis, round ratios on a k/n axis, bars that show their spread, SNRs as
shades of a scheme's colour, a least value span, and a stand-in's note on the figure."""

from __future__ import annotations

import colorsys
import io

import numpy as np
import pytest
from matplotlib.colors import to_hex, to_rgb

from multisc.report import plots
from multisc.report.style import FIGURE_NOTE, StyleMap, UniformFormatter, scheme_style
from tests.report.test_figures import (
    PIXELS,
    _row,
    bandwidth_rows,
    snr_rows,
)


def _legend(fig) -> dict[str, tuple[str, str, str]]:
    """legend label -> (colour, marker, line style) of its handle."""
    out = {}
    for legend in fig.legends:
        for handle, text in zip(legend.legend_handles, legend.get_texts(), strict=True):
            out[text.get_text()] = (
                to_hex(handle.get_color()),
                handle.get_marker(),
                handle.get_linestyle(),
            )
    return out


def _renamed(rows, prefix="", channel=None):
    return [
        {**r, "scheme": f"{prefix}{r['scheme']}" + (f" [{channel}]" if channel else ""),
         "fading": channel or r["fading"]}
        for r in rows
    ]  # fmt: skip


def test_a_scheme_keeps_its_colour_and_marker_across_runs_and_comparisons(captured):
    figures, root = captured
    # run one: three schemes; run two: two of them and a plugin, in another order
    first = snr_rows()
    second = [r for r in snr_rows() if r["scheme"] != "multisc"]
    second += [{**r, "scheme": "my_plugin"} for r in snr_rows() if r["scheme"] == "multisc"]
    drawn = {}
    for tag, rows in (("one", first), ("two", second)):
        plots.plot_metric(rows, "psnr", root, StyleMap({r["scheme"] for r in rows}), name=tag)
        drawn[tag] = _legend(figures[tag])
    both = _renamed(first, "runs/awgn: ", "awgn") + _renamed(second, "runs/rayleigh: ", "rayleigh")
    plots.plot_metric(both, "psnr", root, StyleMap({r["scheme"] for r in both}), name="cmp")
    compared = _legend(figures["cmp"])
    for scheme in ("bpg_ldpc", "deep_jscc"):
        looks = {drawn["one"][scheme][:2], drawn["two"][scheme][:2]}
        looks |= {v[:2] for k, v in compared.items() if f": {scheme} [" in k}
        assert looks == {(to_hex(scheme_style(scheme)["color"]), scheme_style(scheme)["marker"])}
        # the two channels of one scheme differ by line style only
        styles = {v[2] for k, v in compared.items() if f": {scheme} [" in k}
        assert len(styles) == 2
    # built-ins are fixed; a plugin's style is a function of its name, not of the report
    assert drawn["two"]["my_plugin"][:2] == (
        to_hex(scheme_style("my_plugin")["color"]),
        scheme_style("my_plugin")["marker"],
    )
    assert scheme_style("my_plugin") == scheme_style("my_plugin")
    assert scheme_style("multisc")["color"] != scheme_style("bpg_ldpc")["color"]


def _pixels(fig) -> np.ndarray:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="rgba", dpi=100)
    return np.frombuffer(buffer.getvalue(), dtype=np.uint8)


def test_every_series_the_legend_lists_has_visible_pixels(captured):
    """Two channels giving the very same numbers (bpg_ldpc's failures look alike on both):
    each listed series still shows, because hiding it changes the drawn image."""
    figures, root = captured
    rows = snr_rows()
    same = _renamed(rows, "a: ", "awgn") + _renamed(rows, "a: ", "rayleigh")
    plots.plot_metric(same, "psnr", root, StyleMap({r["scheme"] for r in same}))
    fig = figures["psnr"]
    (ax,) = fig.axes
    labelled = [line for line in ax.get_lines() if not line.get_label().startswith("_")]
    assert len(labelled) == 6
    whole = _pixels(fig)
    for line in labelled:
        line.set_visible(False)
        assert not np.array_equal(_pixels(fig), whole), f"{line.get_label()} is hidden"
        line.set_visible(True)


def test_one_number_of_decimals_per_axis():
    assert UniformFormatter().format_ticks([20, 22.5, 25, 27.5]) == [
        "20.0", "22.5", "25.0", "27.5",
    ]  # fmt: skip
    assert UniformFormatter().format_ticks([0, 5000, 10000]) == ["0", "5,000", "10,000"]
    assert UniformFormatter().format_ticks([0.1, 0.15, 0.2]) == ["0.10", "0.15", "0.20"]


def test_psnr_ticks_share_a_format_and_a_ratio_axis_labels_round_ratios(captured):
    figures, root = captured
    rows = snr_rows()
    plots.plot_metric(rows, "psnr", root, StyleMap({r["scheme"] for r in rows}))
    labels = [t.get_text() for t in figures["psnr"].axes[0].get_yticklabels() if t.get_text()]
    assert len({len(label.partition(".")[2]) for label in labels}) == 1, labels
    # a text scheme's odd spend (1/4309) and deep JSCC's 1/26: round ratios between them
    ticks = plots.ratio_ticks([1 / 4309, 1 / 26, 1 / 12])
    assert all(plots._is_round(t) for t in ticks) and len(ticks) >= 3
    assert {plots._ratio_label(t) for t in ticks} <= {
        f"1/{n:,}" for m in (1, 3) for n in (m * 2**a for a in range(1, 16))
    }
    assert plots.ratio_ticks([1 / 48, 1 / 24, 1 / 12]) == [1 / 48, 1 / 24, 1 / 12]


def test_channel_uses_bars_show_each_image_behind_no_grid_and_no_stray_hatch(captured):
    figures, root = captured
    rows = snr_rows()
    for row in rows:  # images spend different amounts
        row["channel_uses"] += 100 * int(row["image_id"][1:])
    plots.plot_channel_uses(rows, root, StyleMap({r["scheme"] for r in rows}))
    ax = figures["channel_uses"].axes[0]
    assert ax.get_axisbelow() is True
    assert {bar.get_hatch() for bar in ax.patches} <= {None, ""}
    dots = [line for line in ax.get_lines() if line.get_gid() == "images"]
    assert [len(line.get_xdata()) for line in dots] == [4, 4, 4]  # one per image
    assert "NR" not in ax.get_xlabel()  # an AWGN run
    nr = [{**r, "fading": "nr-tdl"} for r in rows]
    plots.plot_channel_uses(nr, root, StyleMap({r["scheme"] for r in nr}))
    assert "NR" in figures["channel_uses"].axes[0].get_xlabel()


def test_bandwidth_snrs_are_shades_of_one_hue_and_failures_are_not_a_curve(captured):
    figures, root = captured
    rows = bandwidth_rows()
    for row in rows:
        row["failed"] = row["scheme"].startswith("bpg_ldpc") and row["snr_db"] == 0
    plots.plot_bandwidth(
        rows, PIXELS, "psnr", "PSNR (dB)", root, StyleMap({r["scheme"] for r in rows})
    )
    ax = figures["psnr_vs_bandwidth"].axes[0]
    lines = {line.get_gid(): line for line in ax.get_lines() if line.get_gid() != "failed"}
    hues = {}
    for gid, line in lines.items():
        hue, lightness, _ = colorsys.rgb_to_hls(*to_rgb(line.get_color()))
        hues.setdefault(gid.split(" @ ")[0], []).append((hue, lightness))
    for scheme, shades in hues.items():
        assert np.ptp([hue for hue, _ in shades]) < 0.03, scheme  # one hue (rounding aside)
        assert len({round(light, 3) for _, light in shades}) == len(shades)  # one shade each
    # bpg_ldpc at 0 dB: every transmission failed, drawn as crosses on unjoined points
    assert lines["bpg_ldpc @ 0 dB"].get_linestyle() == "None"
    crosses = [line for line in ax.get_lines() if line.get_gid() == "failed"]
    assert [line.get_marker() for line in crosses] == ["x"]
    assert len(crosses[0].get_xdata()) == 4


def test_a_tiny_spread_keeps_the_metrics_least_span(captured):
    figures, root = captured
    rows = [_row("multisc", i, 6.0, 9.0 + 0.02 * i, 2800) for i in range(4)]
    rows += [_row("single_text", i, 6.0, 8.95 + 0.02 * i, 1500) for i in range(4)]
    plots.plot_metric(rows, "psnr", root, StyleMap({r["scheme"] for r in rows}))
    low, high = figures["psnr"].axes[0].get_ylim()
    assert high - low >= plots.MIN_SPAN["psnr"] - 1e-9
    # near zero (BLEU of noise): the least span starts at 0, not below it
    rows = [_row("multisc", i, 6.0, 0.0, 2800) for i in range(4)]
    for i, row in enumerate(rows):
        row["metrics"] = {"bleu": 0.1 * i}
    plots.plot_metric(rows, "bleu", root, StyleMap({"multisc"}))
    low, high = figures["bleu"].axes[0].get_ylim()
    assert -0.05 * plots.MIN_SPAN["bleu"] < low < 0 and high - low == plots.MIN_SPAN["bleu"]


def test_a_figure_from_stand_ins_says_so_on_itself(captured):
    figures, root = captured
    rows = snr_rows()
    token = FIGURE_NOTE.set("tiny random stand-ins: not the paper's numbers")
    try:
        plots.plot_metric(rows, "psnr", root, StyleMap({r["scheme"] for r in rows}))
    finally:
        FIGURE_NOTE.reset(token)
    fig = figures["psnr"]
    assert fig.get_supxlabel() == "tiny random stand-ins: not the paper's numbers"
    plots.plot_metric(rows, "psnr", root, StyleMap({r["scheme"] for r in rows}), name="plain")
    assert figures["plain"].get_supxlabel() == ""


@pytest.mark.parametrize("share", [0.0, 0.5, 1.0])
def test_failure_marks_follow_the_failed_share(captured, share):
    figures, root = captured
    rows = [_row("bpg_ldpc", i, 0.0, 12.0, 22_130) for i in range(4)]
    for i, row in enumerate(rows):
        row["failed"] = i < share * 4
    plots.plot_metric(rows, "psnr", root, StyleMap({"bpg_ldpc"}))
    marks = [line.get_marker() for line in figures["psnr"].axes[0].get_lines()
             if line.get_gid() == "failed"]  # fmt: skip
    assert marks == {0.0: [], 0.5: ["o"], 1.0: ["x"]}[share]


def test_snrs_giving_the_same_curve_are_drawn_once_with_their_range(captured):
    figures, root = captured
    rows = bandwidth_rows()
    for row in rows:  # bpg_ldpc past its cliff: 6 and 12 dB give the very same numbers
        if row["scheme"].startswith("bpg_ldpc") and row["snr_db"] == 12.0:
            row["metrics"]["psnr"] -= 3.0  # 12 dB's gain (0.5 * 12 / 2) minus 6 dB's
    plots.plot_bandwidth(
        rows, PIXELS, "psnr", "PSNR (dB)", root, StyleMap({r["scheme"] for r in rows})
    )
    ax = figures["psnr_vs_bandwidth"].axes[0]
    bpg = [line.get_gid() for line in ax.get_lines() if str(line.get_gid()).startswith("bpg")]
    assert bpg == ["bpg_ldpc @ 0 dB", "bpg_ldpc @ 12 dB"]  # 6 and 12 dB: one curve
    legend = [t.get_text() for t in figures["psnr_vs_bandwidth"].legends[0].get_texts()]
    assert "bpg_ldpc (6-12 dB: one curve)" in legend and not ax.texts


@pytest.mark.parametrize("long_labels", [False, True], ids=["short", "long"])
def test_a_legend_of_48_variants_stays_on_the_figure_and_a_long_note_wraps(captured, long_labels):
    """An ablation's 48 series: the legend stays on the figure (it used to run off it and
    squeeze the axes to nothing: "constrained_layout not applied"), the figure grows for
    it, beside the axes or (labels too long to leave them room) under them, and a
    stand-in note naming many parts wraps inside the figure, never under the legend."""
    import warnings

    from multisc.report.style import FIGURE

    figures, root = captured
    name = ("multisc captioner=llava-interleave-qwen-0.5b segmenter=lraspp_mobilenet_v3_large "
            "ip_adapter=plus generator=sd15-lcm-{}") if long_labels else "multisc g={}"  # fmt: skip
    rows = [
        {"scheme": name.format(i), "image_id": "i0", "snr_db": 6.0, "seed": 0,
         "fading": "awgn", "channel_uses": 100.0, "failed": False,
         "metrics": {"psnr": 9.0 + i / 100}, "settings": {}, "timings": {}}
        for i in range(48)
    ]  # fmt: skip
    token = FIGURE_NOTE.set(
        "drawn from tiny random stand-in models ("
        + ", ".join(f"component_{i}" for i in range(20))
        + "): not a measurement of the system"
    )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # "constrained_layout not applied" is a failure
            plots.plot_metric(rows, "psnr", root, StyleMap({r["scheme"] for r in rows}))
    finally:
        FIGURE_NOTE.reset(token)
    fig = figures["psnr"]
    assert fig.get_size_inches()[1] > FIGURE[1]
    renderer = fig.canvas.get_renderer()
    inside = fig.bbox.padded(1)
    legend = fig.legends[0].get_window_extent(renderer)
    assert inside.contains(legend.x0, legend.y0) and inside.contains(legend.x1, legend.y1)
    axes = fig.axes[0].get_window_extent(renderer)
    assert axes.height > 0.5 * FIGURE[1] * fig.dpi and axes.width > 0.3 * FIGURE[0] * fig.dpi
    assert not axes.overlaps(legend)
    note = fig._suptitle if long_labels else fig._supxlabel
    box = note.get_window_extent(renderer)
    assert "\n" in note.get_text() and box.x1 <= fig.bbox.x1 and not box.overlaps(legend)

"""``summary.tex`` as a paper takes it: every shipped config's summary compiles in a bare
``article`` with ``booktabs`` alone, with no error and no overfull box (pdflatex: Debian's
``texlive-latex-base`` and ``texlive-latex-recommended``, installed by the test command)."""

from __future__ import annotations

import itertools
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from multisc.experiment.config import load_config
from multisc.experiment.variants import scheme_variants
from multisc.report.data import METRICS, by_channel, describe
from multisc.report.tables import summary_latex

CONFIGS = sorted(Path(__file__).parents[2].joinpath("configs").glob("*.yaml"))
DOCUMENT = (
    "\\documentclass{article}\\usepackage{booktabs}\\begin{document}"
    "\\input{summary.tex}\\end{document}\n"
)


def _rows(config) -> list[dict]:
    """A row per (variant, channel, SNR, image) of the config, every metric filled with
    numbers of the metric's size, BPG-LDPC failing at the lowest SNR."""
    rows = []
    channels = [getattr(c, "label", None) or c.model for c in config.channels()]
    snrs = sorted(config.snr_db)
    for scheme in config.schemes:
        for variant, channel, snr, image in itertools.product(
            scheme_variants(config, scheme), channels, snrs, range(3)
        ):
            rows.append({
                "scheme": variant.label, "fading": channel, "snr_db": snr,
                "image_id": f"i{image}", "seed": 0, "channel_uses": 12_345.0 + image,
                "failed": scheme == "bpg_ldpc" and snr == snrs[0],
                "metrics": {m: 10.0 + image + snr / 7 for m in METRICS},
                "settings": dict(variant.settings), "details": {}, "timings": {},
            })  # fmt: skip
    return rows


def _pdflatex() -> str:
    found = shutil.which("pdflatex")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("pdflatex is missing: the test command installs texlive-latex-base")
        pytest.skip("pdflatex (Debian's texlive-latex-base, installed by the test command)")
    return found


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_every_shipped_configs_summary_compiles_with_booktabs_alone(path, tmp_path):
    pdflatex = _pdflatex()
    config = load_config(str(path), out=str(tmp_path / "run"))
    rows, channels = by_channel(_rows(config))
    run = {"config_yaml": path.read_text()}
    what = describe(rows, run, channels, "run-name-0a1b2c")
    text = summary_latex(rows, what, config.table_metrics)
    assert text.count("\\begin{table}") >= 1 + len(config.table_metrics or METRICS)
    assert "resizebox" not in text and "run-name-0a1b2c" not in text
    assert config.description and config.description in text  # captioned with what it is
    (tmp_path / "summary.tex").write_text(text)
    (tmp_path / "doc.tex").write_text(DOCUMENT)
    done = subprocess.run(
        [pdflatex, "-interaction=nonstopmode", "-halt-on-error", "doc.tex"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    log = (tmp_path / "doc.log").read_text(errors="replace")
    assert done.returncode == 0, log[-3000:]
    bad = [line for line in log.splitlines() if "Overfull" in line or "Float too large" in line]
    assert not bad, bad
    assert (tmp_path / "doc.pdf").stat().st_size > 0


def test_n_and_the_interval_are_in_the_caption_and_not_where_n_is_one():
    rows = [
        {"scheme": "bpg_ldpc", "fading": "awgn", "snr_db": 6.0, "image_id": f"i{i}", "seed": 0,
         "channel_uses": 100.0, "failed": False, "metrics": {"psnr": 20.0 + i}}
        for i in range(4)
    ]  # fmt: skip
    text = summary_latex(rows, "a test")
    assert "mean [95\\% bootstrap interval] over the n = 4 images and seeds per row" in text
    assert "\n%" not in text.partition("\n")[2]  # no comment lines carry the method
    alone = summary_latex(rows[:1], "a test")
    assert "bootstrap" not in alone and "n = 1 images and seeds per row" in alone


def test_notes_show_code_spans_as_code_and_escape_the_rest():
    from multisc.report.page import code_spans

    text = "lpips was not computed (`multisc models pull lpips`) <b>from the store</b>"
    assert str(code_spans(text)) == (
        "lpips was not computed (<code>multisc models pull lpips</code>) "
        "&lt;b&gt;from the store&lt;/b&gt;"
    )
    assert str(code_spans("`<script>`")) == "<code>&lt;script&gt;</code>"  # escaped inside


HOSTILE = [
    "plugin_x ip_scale=λ",  # the paper's own symbol
    "evil \\input{/etc/passwd} 100% a&b #1 $x$ {y} ~z ^w",
    "pipe|name <b>",
    "two\nlines",
    "ünïcode 中文",
]


def test_hostile_names_show_literally_and_the_tables_still_compile(tmp_path):
    """Scheme or variant labels from a plugin or a store, holding LaTeX specials, a pipe, a
    line break, Greek and CJK letters: summary.tex compiles with booktabs alone and shows
    them literally (no \\input run), summary.md parses back to one row per series."""
    from multisc.report.tables import summary, summary_markdown

    rows = [
        {"scheme": name, "fading": "awgn", "snr_db": 3.0, "image_id": f"i{i}", "seed": 0,
         "channel_uses": 10.0, "failed": False, "metrics": {"psnr": 20.0 + i}}
        for name in HOSTILE for i in range(3)
    ]  # fmt: skip
    text = summary_latex(rows, "names from elsewhere: λ & 50%")
    assert "\\input{" not in text and "${\\lambda}$" in text and "[U+4E2D]" in text
    (tmp_path / "summary.tex").write_text(text)
    (tmp_path / "doc.tex").write_text(DOCUMENT)
    done = subprocess.run(
        [_pdflatex(), "-interaction=nonstopmode", "-halt-on-error", "doc.tex"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    log = (tmp_path / "doc.log").read_text(errors="replace")
    assert done.returncode == 0, log[-3000:]
    assert "Overfull" not in log and "(/etc/passwd" not in log  # never read as a file
    header, body = summary(rows)
    lines = summary_markdown(header, body).splitlines()
    assert len(lines) == 2 + len(HOSTILE)  # header, rule, one line per series
    for line in lines:
        cells = [c for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        assert len(cells) == len(header), line


def test_table_metrics_choose_the_tables_and_their_order():
    """``table_metrics: [lpips, dists, psnr]``: those tables (columns), in that order; one no
    row has a value of (dists) is left out; without the key, every metric the rows have."""
    from multisc.report.tables import summary

    rows = [
        {"scheme": "bpg_ldpc", "fading": "awgn", "snr_db": 6.0, "image_id": f"i{i}",
         "seed": 0, "channel_uses": 100.0, "failed": False,
         "metrics": {"psnr": 20.0 + i, "ssim": 0.5, "lpips": 0.3, "dists": None}}
        for i in range(4)
    ]  # fmt: skip
    text = summary_latex(rows, "a test", ["lpips", "dists", "psnr"])
    captions = [c.partition(":")[0] for c in re.findall(r"\\caption\{(.*?)\}", text)]
    assert captions == ["Channel uses per image (mean over images, SNRs and seeds)",
                        "LPIPS (lower is better)", "PSNR (dB)"]  # fmt: skip
    assert summary(rows, ["lpips", "psnr"])[0][-2:] == ["lpips", "psnr"]
    assert summary(rows)[0][-3:] == ["psnr", "ssim", "lpips"]
    everything = [c.partition(":")[0] for c in re.findall(r"\\caption\{(.*?)\}", summary_latex(
        rows, "a test"))]  # fmt: skip
    assert everything[1:] == ["PSNR (dB)", "SSIM", "LPIPS (lower is better)"]


def test_the_tables_metric_names_are_the_reports():
    """One list of names: what a config may choose is what the report draws, in its order."""
    from multisc.metric_names import REPORTED_METRICS

    assert tuple(METRICS) == REPORTED_METRICS

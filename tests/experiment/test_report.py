import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from multisc.errors import InvalidInputError
from multisc.experiment.sweep import run_sweep
from multisc.report.build import build_report
from multisc.report.data import mean_ci


@pytest.fixture(scope="module")
def run_dir(image_folder, trained_jscc, tmp_path_factory):
    from multisc.experiment.config import load_config

    out = tmp_path_factory.mktemp("report-run")
    config = load_config(
        images=str(image_folder),
        schemes=["bpg_ldpc", "deep_jscc"],
        snr_db=[-3.0, 6.0, 18.0],
        seeds=2,
        out=str(out),
        device="cpu",
        jscc={"checkpoint": str(trained_jscc[0])},
        options={"budget": "1/2"},
    )
    summary = run_sweep(config, report=build_report)
    assert summary.report is not None
    return out


def test_report_has_a_plot_per_metric_and_a_grid_per_image(run_dir):
    for metric in ("psnr", "ssim"):
        for suffix in ("png", "svg"):
            assert (run_dir / "plots" / f"{metric}.{suffix}").is_file()
    assert (run_dir / "plots" / "channel_uses.png").is_file()
    grids = sorted(p.stem for p in (run_dir / "grids").glob("*.png"))
    assert grids == ["astronaut", "chelsea", "coffee"]
    grid = Image.open(run_dir / "grids" / "astronaut.png")
    assert grid.width > grid.height  # 4 columns (reference + 3 SNRs), 2 rows (schemes)
    page = (run_dir / "report.html").read_text()
    for src in re.findall(r'<img src="([^"]+)"', page):
        assert (run_dir / src).is_file(), src
    assert "bpg_ldpc" in page and "deep_jscc" in page and "images: " in page
    # every figure's caption says what it was measured on
    captions = re.findall(r"<figcaption>(.*?) —", page, re.S)
    assert captions and all("(channel awgn; budget: 1/2; 3 images, 2 seeds)" in c for c in captions)


def test_confidence_interval_is_a_bootstrap_inside_the_metrics_range():
    mean, low, high = mean_ci([1.0, 2.0, 3.0, 4.0])
    assert mean == 2.5 and 1.0 <= low < 2.5 < high <= 4.0
    # SSIM-like values near their bound: the t-interval would pass 1, this one cannot
    _, low, high = mean_ci([0.97, 0.99, 1.0, 1.0])
    assert high <= 1.0 and low >= 0.97
    assert mean_ci([5.0, 6.0]) == (5.5, None, None)  # too few values for an interval


def test_report_of_a_folder_that_is_not_a_run(tmp_path):
    with pytest.raises(InvalidInputError, match="not a run directory"):
        build_report(tmp_path)


@pytest.mark.skipif(
    shutil.which("chromium") is None, reason="Debian's chromium (installed by .ci/run)"
)
def test_report_renders_in_headless_chromium(run_dir, tmp_path):
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--virtual-time-budget=5000",
    ]
    url = (run_dir / "report.html").as_uri()
    dom = subprocess.run(
        ["chromium", *flags, "--window-size=1280,2000", "--dump-dom", url],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    body = re.search(r"<body[^>]*>", dom.stdout)
    assert body, dom.stderr[-1000:]
    assert 'data-images-ok="true"' in body.group(0)  # every <img> loaded, with pixels
    images = int(re.search(r'data-images="(\d+)"', body.group(0)).group(1))
    assert images >= 3 + 3  # metric plots, channel uses, one grid per image
    # at 1280 px each figure is laid out at least 700 px wide (its ticks about 10 px high)
    assert int(re.search(r'data-figure-width="(\d+)"', body.group(0)).group(1)) >= 700
    shot = tmp_path / "report.png"
    subprocess.run(
        ["chromium", *flags, "--window-size=1280,2000", f"--screenshot={shot}", url],
        capture_output=True,
        timeout=120,
    )
    picture = Image.open(shot)
    assert picture.size == (1280, 2000)
    assert len(np.unique(np.asarray(picture.convert("L")))) > 50  # a rendered page, not blank
    Path(run_dir / "report-screenshot.png").write_bytes(shot.read_bytes())


def test_report_says_how_its_statistics_were_made_and_what_ran_them(run_dir):
    """Paired p-values raw and adjusted together (Holm by default), with how many tests;
    KID's ± named a standard deviation; the versions of Python and every dependency."""
    import json

    from multisc.experiment.store import STORE_FILE, ResultStore

    statistics = json.loads((run_dir / "paired.json").read_text())
    tested = [c for c in statistics["comparisons"] if c["p_value"] is not None]
    assert tested and statistics["correction"] == {
        "method": "holm", "name": "Holm", "tests": len(tested)
    }  # fmt: skip
    assert all(c["p_adjusted"] >= c["p_value"] for c in tested)
    assert statistics["interval"] == "percentile"
    page = " ".join((run_dir / "report.html").read_text().split())
    assert f"{len(tested)} p-values of this table were corrected together (Holm)" in page
    assert "p adjusted (Holm)" in page and "std. error" not in page
    store = ResultStore(run_dir / STORE_FILE)
    try:
        versions = json.loads(store.latest_run()["versions"])
    finally:
        store.close()
    assert {"python", "multisc", "torch", "transformers", "torch-fidelity", "scipy"} <= set(
        versions
    )
    for package in ("torch-fidelity", "sacrebleu", "python"):
        assert f"<td>{package}</td>" in page


def test_the_summary_is_written_as_latex_and_markdown_and_means_are_in_json(run_dir, capsys):
    """summary.tex (booktabs, names escaped) and summary.md beside results.csv hold the
    page's summary; report --json gives each series' means, equal to the rows' means."""
    import json

    import numpy as np

    from multisc.cli import main
    from multisc.report.data import read_run

    latex = (run_dir / "summary.tex").read_text()
    assert "\\toprule" in latex and "\\bottomrule" in latex and "bpg\\_ldpc" in latex
    # a table of channel uses and one per metric, each with a rule under its header and
    # one between the two schemes
    tables = latex.count("\\begin{table}")
    assert tables >= 3 and latex.count("\\midrule") == 2 * tables
    assert "\\caption{PSNR (dB): mean [95\\% bootstrap interval]" in latex
    markdown = (run_dir / "summary.md").read_text().splitlines()
    assert markdown[0].startswith("| scheme | SNR (dB) |") and markdown[1].startswith("| --- |")
    assert len(markdown) == 2 + 2 * 3  # 2 schemes x 3 SNRs
    assert main(["report", str(run_dir), "--json"]) == 0
    means = json.loads(capsys.readouterr().out)["means"]
    rows, _ = read_run(run_dir)
    for scheme in ("bpg_ldpc", "deep_jscc"):
        mine = [r for r in rows if r["scheme"] == scheme]
        assert means[scheme]["rows"] == len(mine)
        assert means[scheme]["psnr"] == pytest.approx(np.mean([r["metrics"]["psnr"] for r in mine]))


def test_a_finished_run_resumed_keeps_its_report(run_dir):
    """Nothing new: the report is up to date (its state file fingerprints the rows), so a
    resume says so instead of drawing it again (it took 97 s on the main job)."""
    from multisc.experiment.rundir import REPORT_FILE, report_is_current
    from multisc.experiment.rundir import REPORT_STATE_FILE as STATE_FILE

    assert report_is_current(run_dir)
    state = (run_dir / STATE_FILE).read_text()
    (run_dir / STATE_FILE).write_text(state.replace('"rows": "', '"rows": "0'))
    assert not report_is_current(run_dir)  # another set of rows: drawn again
    (run_dir / STATE_FILE).write_text(state)
    before = (run_dir / REPORT_FILE).stat().st_mtime_ns
    lines = []
    from multisc.experiment.config import load_config
    from multisc.experiment.sweep import Said

    config = load_config(run_dir / "config.yaml")
    summary = run_sweep(
        config, lambda e: lines.append(e.text) if isinstance(e, Said) else None,
        report=build_report,
    )  # fmt: skip
    assert summary.new_rows == 0 and (run_dir / REPORT_FILE).stat().st_mtime_ns == before
    assert any("the report is up to date" in line for line in lines)


@pytest.mark.slow  # a resumed sweep and two reports: the full suite
def test_a_resume_that_changes_the_tables_metrics_draws_them_again(run_dir, tmp_path):
    """``table_metrics`` changes no number (the run resumes in its folder) but the report's
    tables: a resume with nothing new draws the report again with those tables; ``multisc
    report --table-metrics`` overrides the config's."""
    from multisc.cli import main
    from multisc.experiment.config import load_config
    from multisc.experiment.sweep import Said

    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    config = load_config(copy / "config.yaml", out=str(copy), table_metrics=["ssim", "psnr"])
    lines = []
    summary = run_sweep(
        config, lambda e: lines.append(e.text) if isinstance(e, Said) else None,
        report=build_report,
    )  # fmt: skip
    assert summary.new_rows == 0 and not any("up to date" in line for line in lines)
    header = (copy / "summary.md").read_text().splitlines()[0]
    assert header.endswith("| SSIM | PSNR (dB) |"), header
    tex = (copy / "summary.tex").read_text()
    assert tex.index("\\caption{SSIM") < tex.index("\\caption{PSNR")
    assert main(["report", str(copy), "--table-metrics", "psnr"]) == 0
    assert (copy / "summary.md").read_text().splitlines()[0].endswith("| failed | PSNR (dB) |")
    assert "\\caption{SSIM" not in (copy / "summary.tex").read_text()
    from multisc.experiment.rundir import report_is_current

    assert not report_is_current(copy)  # drawn as the flag said: the next resume redraws it
    run_sweep(config, report=build_report)
    assert report_is_current(copy)
    assert (copy / "summary.md").read_text().splitlines()[0].endswith("| SSIM | PSNR (dB) |")

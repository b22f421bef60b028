"""A store whose rows pass the schema check but hold values no run writes: ``multisc
report`` refuses in one line naming the row and field (no traceback, no plot of 3000
SNRs), before drawing anything."""

from __future__ import annotations

import pytest

from multisc.cli import main
from multisc.experiment.store import STORE_FILE, ResultStore


def _row(**changes) -> dict:
    row = {
        "image_id": "cat", "scheme": "bpg_ldpc", "fading": "awgn", "snr_db": 3.0, "seed": 0,
        "image_path": "images/cat/x.png", "channel_uses": 10, "bits_sent": 0, "failed": False,
        "metrics": {"psnr": 20.0}, "timings": {}, "details": {}, "texts_sent": [],
        "texts_received": [], "texts_corrected": [],
    }  # fmt: skip
    return {**row, **changes}


def _store(folder, rows) -> None:
    store = ResultStore(folder / STORE_FILE)
    run_id = store.start_run("0123456789abcdef", "schemes: [bpg_ldpc]\n", {}, "cpu")
    store.add_results(rows, run_id)
    store.close()


CASES = {
    "candidate_scores": ([_row(details={"candidate_scores": 5})], "details.candidate_scores = 5"),
    "timing as text": ([_row(timings={"generate": "slow"})], "timings.generate = 'slow'"),
    "huge metric": ([_row(metrics={"psnr": 1e308})], "metrics.psnr = 1e+308"),
    "worst link": ([_row(details={"worst_link_snr_db": "low"})], "details.worst_link_snr_db"),
    "negative uses": ([_row(channel_uses=-5)], "channel_uses = -5"),
    "3000 SNRs": ([_row(snr_db=float(k)) for k in range(3000)], "3000 distinct SNRs"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_crafted_row_is_refused_in_one_line(case, tmp_path, capsys):
    rows, said = CASES[case]
    _store(tmp_path, rows)
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert said in err and "Traceback" not in err
    if case != "3000 SNRs":
        assert "row 1 ('bpg_ldpc', image 'cat')" in err
    assert not (tmp_path / "plots").exists()  # refused before anything was drawn


def test_what_runs_write_is_not_refused(tmp_path):
    """inf (PSNR of an exact copy), NaN and empty metrics pass the check."""
    from multisc.report.data import check_rows

    metrics = {"psnr": float("inf"), "ssim": float("nan"), "lpips": None}
    details = {"candidate_scores": {"text": [0.1]}}
    rows = [_row(metrics=metrics, timings={"generate": 1.5}, details=details)]
    check_rows(rows, tmp_path / STORE_FILE)


@pytest.mark.slow  # a whole report in a subprocess (a FIFO would hang it): the full suite
def test_what_a_store_names_is_never_opened(tmp_path):
    """Components keyed by a FIFO's absolute path, a ``../`` path and a package-relative
    one, and a ``models:`` folder outside the run holding FID's weights: the report opens
    none of them (a FIFO opened with no writer would hang; the weights would be used)."""
    import json
    import os
    import subprocess
    import sys

    from multisc.models import REGISTRY
    from multisc.testing.torch_hub import write_torch_hub_file

    outside = tmp_path / "outside"
    write_torch_hub_file("inception", outside / "inception" / REGISTRY["inception"].repo_id)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    run = tmp_path / "run"
    run.mkdir()
    store = ResultStore(run / STORE_FILE)
    components = {str(fifo): {"weights": {"x": 1}}, "../../../etc/passwd": {},
                  "hub_manifests/../captioner": {"weights": {}}}  # fmt: skip
    run_id = store.start_run("0123456789abcdef", f"models: {outside}\nschemes: [bpg_ldpc]\n",
                             {}, "cpu", components)  # fmt: skip
    store.add_results([_row()], run_id)
    store.close()
    done = subprocess.run([sys.executable, "-m", "multisc.cli", "report", str(run)],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    sets = json.loads((run / "set_metrics.json").read_text())
    assert sets["skipped"] and "not computed" in sets["skipped"]  # the outside weights: unused

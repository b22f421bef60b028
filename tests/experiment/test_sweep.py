import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from multisc.errors import InvalidInputError
from multisc.experiment.config import load_config
from multisc.experiment.prepare_cache import PrepareCache
from multisc.experiment.store import STORE_FILE, ResultStore, StoreError
from multisc.experiment.sweep import run_sweep
from tests.experiment.conftest import assert_same_rows
from tests.stopping import kill_after_rows, signal_after_rows


def rows_of(out):
    store = ResultStore(out / STORE_FILE)
    try:
        return store.results()
    finally:
        store.close()


def keys(rows):
    return sorted((r["image_id"], r["scheme"], r["snr_db"], r["seed"]) for r in rows)


def test_sweep_writes_one_row_per_cell_and_exports(fast_config):
    config, _ = fast_config()
    summary = run_sweep(config, report=None)
    assert summary.rows == 18 and summary.new_rows == 18
    rows = rows_of(summary.out)
    assert len(set(keys(rows))) == 18
    for row in rows:
        assert (summary.out / row["image_path"]).is_file()
        assert row["metrics"]["psnr"] is not None and row["channel_uses"] > 0
    assert (summary.out / "results.csv").read_text().count("\n") == 19
    assert (summary.out / "results.parquet").is_file()
    assert yaml.safe_load((summary.out / "config.yaml").read_text())["snr_db"] == [0.0, 6.0, 18.0]
    # a second run of the same command finds nothing to do
    assert run_sweep(config, report=None).new_rows == 0


@pytest.mark.slow
@pytest.mark.parametrize(("sent", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_or_sigterm_stops_between_rows_says_how_to_resume_and_exits_128_plus(
    fast_config, sent, status
):
    """Ctrl-C (SIGINT) or SIGTERM while a run stores its rows: it stops with whole rows
    only, says where it stopped and how to resume, and exits 130 or 143; the same command
    then finishes the run."""
    config, path = fast_config(out=f"stopped-{sent.name}", schemes=["bpg_ldpc"])
    stored, exit_status, said = signal_after_rows(
        3,
        "from multisc.cli import main\nsys.exit(main(['run', sys.argv[1]]))",
        str(path),
        send=sent,
    )
    assert exit_status == status, said[-2000:]
    assert f"interrupted at {stored}/9 rows; run the same command to resume" in said
    assert "Traceback" not in said
    assert len(rows_of(Path(config.out))) == stored
    resumed = run_sweep(load_config(path), report=None)
    assert resumed.rows == 9 and resumed.new_rows == 9 - stored


@pytest.mark.slow
def test_killed_mid_run_and_resumed_ends_with_exactly_the_rows(fast_config, tiny_models):
    config, path = fast_config(
        out="killed",
        schemes=["multisc", "bpg_ldpc"],
        models=str(tiny_models),
        options={"budget": "match", "steps": 2, "segment_size": 96, "caption_tokens": 8},
    )
    command = [sys.executable, "-m", "multisc.cli", "run", str(path)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    config_out = Path(config.out)
    killed_at = kill_after_rows(
        3,  # the first task's rows stored: the CLI stops there and is killed
        "from multisc.cli import main\nsys.exit(main(['run', sys.argv[1]]))",
        str(path),
        env=env,
    )
    assert 0 < killed_at < 18 and len(rows_of(config_out)) == killed_at
    resumed = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    rows = rows_of(config_out)
    assert len(rows) == 18 and len(set(keys(rows))) == 18
    counts = PrepareCache(config_out / "cache", "").counts()
    assert sorted(counts.values()) == [1] * 6  # 3 images x 2 schemes, across both runs


@pytest.mark.slow
def test_same_config_and_seed_twice_give_identical_metrics(fast_config):
    first = rows_of(run_sweep(fast_config(out="a")[0], report=None).out)
    second = rows_of(run_sweep(fast_config(out="b")[0], report=None).out)
    assert [r["metrics"] for r in first] == [r["metrics"] for r in second]
    assert [r["channel_uses"] for r in first] == [r["channel_uses"] for r in second]


@pytest.mark.slow
def test_refuses_to_mix_a_different_config_into_a_run_dir(fast_config):
    run_sweep(fast_config(out="mixed")[0], report=None)
    other, _ = fast_config(out="mixed", snr_db=[3.0])
    with pytest.raises(InvalidInputError, match="refusing to mix"):
        run_sweep(other, report=None)


@pytest.mark.slow
def test_disk_full_keeps_the_store_consistent_and_the_run_resumes(fast_config, monkeypatch):
    config, _ = fast_config(out="full")
    calls = {"n": 0}
    original = ResultStore.add_results

    def failing(self, rows, run_id):
        calls["n"] += 1
        if calls["n"] == 3:
            rows = list(rows)

            def broken():
                with self.transaction() as db:
                    db.execute("INSERT OR IGNORE INTO results (image_id) VALUES ('partial')")
                    raise sqlite3.OperationalError("database or disk is full")

            broken()
        return original(self, rows, run_id)

    monkeypatch.setattr(ResultStore, "add_results", failing)
    with pytest.raises(StoreError, match=r"no space left on the device .* free space and run"):
        run_sweep(config, report=None)
    monkeypatch.setattr(ResultStore, "add_results", original)
    partial = rows_of(Path(config.out))
    assert len(partial) == 6 and all(r["image_id"] != "partial" for r in partial)
    assert run_sweep(config, report=None).rows == 18


@pytest.mark.slow
def test_ray_executor_gives_the_rows_of_the_local_one(fast_config):
    pytest.importorskip("ray")
    local = rows_of(run_sweep(fast_config(out="local")[0], report=None).out)
    distributed = rows_of(run_sweep(fast_config(out="ray", executor="ray")[0], report=None).out)
    assert_same_rows(local, distributed)


@pytest.mark.slow
def test_a_sweep_reports_its_progress_as_events(fast_config):
    from multisc.experiment.sweep import Progressed, Said, Started

    config, _ = fast_config(out="events", schemes=["bpg_ldpc", "vlm_csc"], snr_db=[0.0, 18.0])
    events = []
    summary = run_sweep(config, events.append, report=None)
    said = [e.text for e in events if isinstance(e, Said)]
    assert said[0] == f"run directory: {config.out} (new; --out DIR to choose another)"
    assert len(said) == 2 and said[1].startswith("skipping vlm_csc")  # no weights here
    started = [e for e in events if isinstance(e, Started)]
    progressed = [e for e in events if isinstance(e, Progressed)]
    assert started == [Started(0, 6)] and events.index(started[0]) < events.index(progressed[0])
    assert [e.rows for e in progressed] == [2, 4, 6] and summary.rows == 6
    assert {e.scheme for e in progressed} == {"bpg_ldpc"}


@pytest.mark.slow
def test_each_run_records_the_weights_it_loaded_and_the_report_shows_them(fast_config, tiny_models):
    from multisc.report.build import build_report

    config, _ = fast_config(
        "provenance", schemes=["vlm_csc"], snr_db=[10.0], limit=1, models=str(tiny_models)
    )
    summary = run_sweep(config, report=None)
    store = ResultStore(summary.out / STORE_FILE)
    try:
        import json

        components = json.loads(store.latest_run()["components"])
    finally:
        store.close()
    # vlm_csc loads BLIP and SD; the metrics CLIP (LPIPS' AlexNet is not here: skipped)
    assert set(components) == {"vlm_captioner", "generator", "clip"}
    blip = components["vlm_captioner"]
    size = (tiny_models / "vlm_captioner" / "pytorch_model.bin").stat().st_size
    assert blip["weights"] == {"pytorch_model.bin": size} and blip["source"] == "models-dir"
    assert blip["repo_id"] == "Salesforce/blip-image-captioning-base" and blip["commit"] is None
    unet = components["generator"]["weights"]["unet/diffusion_pytorch_model.safetensors"]
    assert (
        unet == (tiny_models / "generator/unet/diffusion_pytorch_model.safetensors").stat().st_size
    )
    page = build_report(summary.out).read_text()
    assert "Pretrained components" in page and "Salesforce/blip-image-captioning-base" in page
    assert f"pytorch_model.bin {size:,} B" in page


def test_a_store_written_before_components_were_recorded_is_upgraded(tmp_path):
    path = tmp_path / STORE_FILE
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE runs (id INTEGER PRIMARY KEY AUTOINCREMENT, started REAL NOT NULL, "
        "config_digest TEXT NOT NULL, config_yaml TEXT NOT NULL, versions TEXT NOT NULL, "
        "device TEXT NOT NULL);"
        "INSERT INTO runs (started, config_digest, config_yaml, versions, device) "
        "VALUES (1, 'd', 'y', '{}', 'cpu');"
    )
    db.commit()
    db.close()
    store = ResultStore(path)
    try:
        assert store.latest_run()["components"] == "{}"  # the old run: nothing recorded
        store.start_run("d", "y", {}, "cpu", {"clip": {"repo_id": "x"}})
        assert store.latest_run()["components"] == '{"clip": {"repo_id": "x"}}'
        assert store.digests() == {"d"}
    finally:
        store.close()


@pytest.mark.slow
def test_a_failed_rows_score_depends_on_its_own_image_only(fast_config, image_folder, tmp_path):
    """The failure image is a fixed colour: the same photo's failed row scores the same
    whatever other images the run holds."""
    import shutil

    alone = tmp_path / "alone"
    alone.mkdir()
    first = sorted(image_folder.glob("*.png"))[0]
    shutil.copy(first, alone / first.name)
    settings = {"schemes": ["bpg_ldpc"], "snr_db": [-10.0], "options": {"budget": "1/24"}}
    one = rows_of(run_sweep(fast_config(out="one", images=str(alone), **settings)[0]).out)
    many = rows_of(run_sweep(fast_config(out="many", **settings)[0]).out)
    (mine,) = [r for r in many if r["image_id"] == first.stem]
    assert one[0]["failed"] and mine["failed"]
    assert one[0]["metrics"]["psnr"] == mine["metrics"]["psnr"]


def test_a_folder_whose_store_holds_no_row_never_blocks_a_corrected_command(fast_config):
    """A run that failed before its first result (a typo found late, a crash) leaves a
    store with its config digest but no row: the corrected command takes the folder."""
    config, _ = fast_config(out="empty", schemes=["bpg_ldpc"], snr_db=[6.0], limit=1)
    out = Path(config.out)
    out.mkdir(parents=True)
    store = ResultStore(out / STORE_FILE)
    try:
        store.start_run("another-experiment", "schemes: [typo]\n", {}, "cpu", {})
    finally:
        store.close()
    assert run_sweep(config, report=None).rows == 1


@pytest.mark.slow
@pytest.mark.parametrize(
    ("target", "when", "sent", "status"),
    [  # each moment once, each signal at two of them
        ("multisc.experiment.config:load_config", "before", signal.SIGINT, 130),  # starting
        ("multisc.experiment.store:ResultStore.__init__", "after", signal.SIGTERM, 143),  # locked
        ("multisc.experiment.worker:Worker.prepare_isolated", "after", signal.SIGINT, 130),
        ("multisc.report.build:build_report", "before", signal.SIGTERM, 143),  # the report
    ],
    ids=["startup", "locked", "prepared", "report"],
)
def test_an_interrupt_at_any_moment_exits_128_plus_and_the_run_resumes(
    fast_config, target, when, sent, status
):
    from tests.stopping import signal_at

    _, path = fast_config(out=f"at-{target.rpartition('.')[2]}-{sent}", schemes=["bpg_ldpc"])
    code, said = signal_at(
        target, when, "from multisc.cli import main\nsys.exit(main(['run', sys.argv[1]]))",
        str(path), send=sent,
    )  # fmt: skip
    assert code == status, said[-2000:]
    assert "run the same command" in said and "Traceback" not in said
    resumed = run_sweep(load_config(path), report=None)
    assert resumed.rows == 9


@pytest.mark.slow
def test_the_interrupt_tests_pass_when_the_suite_ignores_sigint(tmp_path):
    """Started as a background job (``nohup pytest &``), the suite inherits SIGINT as
    ignored: the Ctrl-C tests' children get it back at its default, and pass."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         f"{Path(__file__)}::test_ctrl_c_or_sigterm_stops_between_rows_says_how_to_resume_and"
         f"_exits_128_plus[{int(signal.SIGINT)}-130]"],
        cwd=root, capture_output=True, text=True, timeout=900, env=os.environ.copy(),
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:]
    assert "1 passed" in done.stdout

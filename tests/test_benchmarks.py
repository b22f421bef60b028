"""Every script in ``benchmarks/`` runs, at its smallest size, as a user runs it (a fresh
process, ``--json`` where it has one): code that is not run rots. ``benchmarks/gpu.sh``, the
one GPU check, runs end to end on the CPU with the tiny set (it runs ``sweep.py`` and
``compile.py``). The figures are not checked here (they are measurements, quoted with the
machine they ran on); that each script finishes, and says what it measured, is."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"

#: every script runs as a user runs it: end to end, CI runs them (-m "not long" leaves them out)
pytestmark = [pytest.mark.slow, pytest.mark.long]


def _run(args: list[str], timeout: float = 900, **env: str) -> subprocess.CompletedProcess:
    result = subprocess.run(
        args, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src"), **env},
    )  # fmt: skip
    assert result.returncode == 0, (args, result.stdout[-2000:], result.stderr[-3000:])
    return result


def _script(name: str, *args: str, timeout: float = 900) -> dict:
    result = _run([sys.executable, str(BENCHMARKS / name), *args], timeout)
    return json.loads(result.stdout[result.stdout.index("{") :])


def test_every_benchmark_script_has_a_test_here():
    scripts = {p.name for p in BENCHMARKS.iterdir() if p.suffix in (".py", ".sh")}
    scripts -= {"_report.py"}  # shared helpers, run by every script
    text = Path(__file__).read_text()
    assert {s for s in scripts if f'"{s}"' not in text} == set()


def test_gpu_sh_runs_end_to_end_on_the_cpu_with_the_tiny_set(tiny_models, tmp_path):
    """The one GPU measurement's script, with DEVICE=cpu: every step ("sweep.py",
    "compile.py") exits 0 and writes its JSON."""
    result = _run(
        ["bash", str(BENCHMARKS / "gpu.sh")], timeout=1200,
        MODELS=str(tiny_models), DEVICE="cpu", SIZE="32", STEPS="2", IMAGES="1",
        PYTHON=sys.executable, OUT=str(tmp_path), COMPILE_S="1200", SWEEP_S="900",
    )  # fmt: skip
    steps = [json.loads(line) for line in result.stdout.splitlines() if line.startswith('{"step"')]
    assert [s["step"] for s in steps] == ["sweep", "compile"]
    assert all(s["exit"] == 0 for s in steps), result.stderr[-3000:]
    sweep = json.loads((tmp_path / "sweep.json").read_text())
    assert set(sweep["scheme_seconds_per_image"]) == {
        "multisc", "single_text", "vlm_csc", "bpg_ldpc", "deep_jscc"
    }  # fmt: skip
    # the UNet's samples, counted: two per timestep with guidance (SD 1.5: PNDM's PLMS runs
    # steps + 1 timesteps), one with LCM's guidance 1 (4 steps)
    paper, lcm = sweep["generators"]["sd15"], sweep["generators"]["sd15-lcm"]
    assert paper["unet_evaluations_per_image"] == 2 * (2 + 1)
    assert paper["scheduler"] == "PNDMScheduler"
    assert lcm["unet_evaluations_per_image"] == 4 and lcm["scheduler"] == "LCMScheduler"
    assert sweep["lcm_fewer_unet_evaluations"] == 1.5
    assert "speedup" in json.loads((tmp_path / "compile.json").read_text())


def test_channel_py(tmp_path):
    report = _script(
        "channel.py", "--device", "cpu", "--repeats", "1", "--batch-uncoded", "1",
        "--batch-ldpc", "1", "--json",
    )  # fmt: skip
    assert report


def test_cli_startup_py(tmp_path):
    report = _script("cli_startup.py", "--runs", "1", "--figure", str(tmp_path / "f.png"), "--json")
    assert report and (tmp_path / "f.png").stat().st_size > 0


def test_codecs_py(tmp_path):
    report = _script(
        "codecs.py", "--steps", "2", "--out", str(tmp_path), "--device", "cpu", "--json"
    )
    assert report["hevc_vs_jpeg"] and (tmp_path / "codecs.json").is_file()


def test_corrector_py():
    assert _script("corrector.py", "--steps", "2", "--json")


def test_cuda_links_py():
    """Its mechanics on the CPU ("cuda_links.py" checks the GPU where there is one)."""
    report = _script("cuda_links.py", "--device", "cpu", "--json")
    assert [link["text_received"] for link in report["links"]] == ["a dog"] * 3


def test_flops_py(tiny_models):
    report = _script(
        "flops.py", "--models", str(tiny_models), "--images", "1", "--size", "32",
        "--steps", "2", "--json",
    )  # fmt: skip
    assert report


def test_jscc_checkpoints_py(tmp_path):
    """Trains one shipped configuration for 2 steps into a folder of the test's (never the
    shipped one)."""
    _run(
        [sys.executable, str(BENCHMARKS / "jscc_checkpoints.py"), "--steps", "2", "--workers",
         "1", "--only", "1/24:awgn", "--target", str(tmp_path / "ship"), "--workdir",
         str(tmp_path / "work")]
    )  # fmt: skip
    (shipped,) = (tmp_path / "ship").iterdir()
    config = json.loads((shipped / "config.json").read_text())
    assert config["training"]["steps"] == 2 and (shipped / "model.safetensors").is_file()


def test_nr_py(tmp_path):
    report = _script("nr.py", "--device", "cpu", "--slots", "1", "--prbs", "1", "--json")
    assert report


def test_variants_py(tiny_models):
    report = _script(
        "variants.py", "--models", str(tiny_models), "--images", "1", "--values", "2",
        "--steps", "2", "--json",
    )  # fmt: skip
    assert report


def test_captioner_train_measures_each_mode(tiny_models):
    """ "captioner_train.py" with the tiny LLaVA, 2 steps per mode."""
    report = _script("captioner_train.py", "--models", str(tiny_models), "--steps", "2",
                     "--json")  # fmt: skip
    modes = {row["mode"]: row for row in report["modes"]}
    assert set(modes) == {"projector", "lora", "full"}
    assert all(row["seconds_per_step"] > 0 and row["peak_memory_gib"] > 0 for row in modes.values())
    # the projector alone is the least that trains (LoRA's rank 128 outgrows a tiny model)
    projector = modes["projector"]["trainable_parameters"]
    assert projector < modes["lora"]["trainable_parameters"]
    assert projector < modes["full"]["trainable_parameters"]

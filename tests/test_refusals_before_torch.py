"""Refusals come before any work and before torch (or Sionna, diffusers, transformers) is
imported: seconds under load otherwise. Each command runs in a fresh interpreter that then
says which heavy modules it had imported when it refused."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

HEAVY = ("torch", "sionna", "diffusers", "transformers")
PROBE = (
    "import json, sys\n"
    "from multisc.cli import main\n"
    "code = main(sys.argv[1:])\n"
    f"heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
    "print(json.dumps({'code': code, 'heavy': heavy}), file=sys.__stdout__)\n"
)


@pytest.fixture(scope="module")
def image(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("refusals") / "photo.png"
    Image.new("RGB", (32, 24), (200, 40, 40)).save(path)
    return path


CASES = [
    (["transmit", "{image}", "--scheme", "multisk", "--snr", "3"], "did you mean 'multisc'?"),
    (["transmit", "{missing}", "--scheme", "multisc", "--snr", "3"], "image file not found"),
    (["transmit", "{image}", "--scheme", "multisc", "--snr", "3", "--steps", "-1"],
     "option steps: -1"),
    (["transmit", "{image}", "--scheme", "multisc", "--snr", "3", "--captioner", "llava-7b"],
     "did you mean"),
    (["compare", "{missing}", "{missing}2", "--out", "{tmp}/cmp"], "does not exist"),
    (["run", "--images", "{missing}", "--schemes", "bpg_ldpc", "--out", "{tmp}/r"],
     "is neither 'samples'"),
    (["run", "--images", "samples", "--schemes", "bpg_ldpc", "--device", "gpu", "--out",
      "{tmp}/r"], "device 'gpu' is not auto, cpu, cuda or cuda:N"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("args", "said"), CASES, ids=lambda v: "-".join(v)[:40] if isinstance(v, list) else None
)
def test_a_refusal_imports_no_heavy_module(args, said, image, tmp_path):
    filled = [a.format(image=image, missing=tmp_path / "nothing-here", tmp=tmp_path) for a in args]
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *filled], capture_output=True, text=True, timeout=120
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"code": 2, "heavy": []}, (done.stderr, result)
    assert said in done.stderr and "run directory" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_cuda_without_a_driver_is_refused_before_torch(image, tmp_path):
    """On a machine with no NVIDIA driver, --device cuda says so before torch loads."""
    from multisc.devices import _NVIDIA

    if any(Path(p).exists() for p in _NVIDIA):
        pytest.skip("this machine has an NVIDIA driver")
    for args in (["transmit", str(image), "--scheme", "bpg_ldpc", "--snr", "3"],
                 ["run", "--schemes", "bpg_ldpc", "--out", str(tmp_path / "r")]):  # fmt: skip
        done = subprocess.run(
            [sys.executable, "-c", PROBE, *args, "--device", "cuda"],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert json.loads(done.stdout.strip().splitlines()[-1]) == {"code": 2, "heavy": []}
        assert "no CUDA GPU is available" in done.stderr


def test_an_out_holding_another_experiment_is_refused_before_saying_resumed(tmp_path):
    """``--out`` naming a run directory of another config: one line, no "run directory:
    ... (resumed ...)" first, no heavy module loaded."""
    from multisc.experiment.store import STORE_FILE, ResultStore

    out = tmp_path / "other"
    store = ResultStore(out / STORE_FILE)
    run_id = store.start_run("0123456789abcdef", "schemes: [deep_jscc]\n", {}, "cpu")
    store.add_results(
        [{
            "image_id": "cat", "scheme": "deep_jscc", "fading": "awgn", "snr_db": 3.0,
            "seed": 0, "image_path": "images/cat/x.png", "channel_uses": 10, "bits_sent": 0,
            "failed": False, "metrics": {}, "timings": {}, "details": {},
            "texts_sent": [], "texts_received": [], "texts_corrected": [],
        }],
        run_id,
    )  # fmt: skip
    store.close()
    args = ["run", "--schemes", "bpg_ldpc", "--snr", "3", "--limit", "1", "--out", str(out)]
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=120
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"code": 2, "heavy": []}, (done.stderr, result)
    assert "different experiment" in done.stderr and "resumed" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1

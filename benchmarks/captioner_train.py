"""Captioner training, measured: seconds per optimizer step and peak memory of each mode
(projector, LoRA, full) of ``multisc captioner train``, one record per step, on the
bundled photos with the paper's prompt. At full size, point ``--models`` at the random
full-size stand-in (``multisc models make-random DIR --only captioner``: the real
checkpoint's config, dtype and size, random values) to estimate what the paper's training
costs on a machine; ``--models`` at the tiny set for a quick check.

    python benchmarks/captioner_train.py --models DIR [--modes projector,lora,full]
        [--steps 3] [--device cpu] [--json]

Each mode runs in a fresh process (peak memory is its own): CUDA's peak allocation on a
GPU, the process's peak resident set on a CPU. The first step (warm-up) is not counted.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))


def _data(folder: Path) -> Path:
    from multisc.data.sources import sample_photos
    from multisc.transmitter.captioning import PAPER_PROMPT

    records = []
    for name, image in sample_photos():
        image.save(folder / f"{name}.png")
        records.append({"id": name, "image": f"{name}.png", "conversations": [
            {"from": "human", "value": f"<image>\n{PAPER_PROMPT}"},
            {"from": "gpt", "value": f"a photograph of {name}"},
        ]})  # fmt: skip
    (folder / "data.json").write_text(json.dumps(records))
    return folder / "data.json"


def one(mode: str, models: str, steps: int, device: str) -> dict:
    """Train ``mode`` for ``steps`` steps (global batch 1) here; its figures."""
    import resource

    import torch

    from multisc.captioner.training import TrainSettings, train
    from multisc.devices import resolve_device

    folder = Path(tempfile.mkdtemp(prefix="multisc-captioner-train-"))
    data = _data(folder)
    times: list[float] = []
    settings = TrainSettings(mode=mode, global_batch=1, batch=1, max_steps=steps,
                             checkpoint_every=10**6, lora_rank=128, lora_alpha=256)  # fmt: skip
    started = time.perf_counter()
    result = train("llava-interleave-qwen-0.5b", data, folder / "out", settings, models, device,
                   on_step=lambda entry: times.append(entry["seconds"]))  # fmt: skip
    resolved = resolve_device(device)
    if resolved.type == "cuda":
        peak = torch.cuda.max_memory_allocated(resolved) / 2**30
        memory = "CUDA peak allocated (GiB)"
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        memory = "process peak RSS (GiB)"
    counted = times[1:] or times
    return {
        "mode": mode, "seconds_per_step": sum(counted) / len(counted),
        "steps_timed": len(counted), "peak_memory_gib": peak, "memory": memory,
        "trainable_parameters": result.trainable, "wall_seconds": time.perf_counter() - started,
    }  # fmt: skip


def main() -> None:
    from _report import device_label, emit

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", required=True)
    parser.add_argument("--modes", default="projector,lora,full")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # a mode, in this process
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.models, args.steps, args.device)))
        return
    import torch

    from multisc.devices import resolve_device

    rows = []
    for mode in args.modes.split(","):
        done = subprocess.run(
            [sys.executable, __file__, "--one", mode, "--models", args.models, "--steps",
             str(args.steps), "--device", args.device],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            sys.exit(f"{mode}: {done.stderr[-2000:]}")
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    report = {
        "device": device_label(resolve_device(args.device)),
        "torch": torch.__version__, "models": args.models, "global_batch": 1,
        "modes": rows,
    }  # fmt: skip
    emit(report, args.json)


if __name__ == "__main__":
    main()

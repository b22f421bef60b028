"""Train the deep JSCC checkpoints multisc ships, and record what each reaches.

Every shipped configuration (:func:`multisc.codecs.jscc_shipped.shipped_configs`: ratios
1/6, 1/12, 1/24, 1/48 x AWGN, Rayleigh; trained over 0-20 dB) is trained on the bundled
training photos, evaluated on the five sample photos (held out) at 0, 2, ..., 20 dB on
its own channel, and written to ``src/multisc/codecs/jscc_checkpoints/<name>/``
(``model.safetensors`` + ``config.json`` whose ``"training"`` record holds the recipe, the
data, the time it took and the PSNR/SSIM per SNR). Configurations train in parallel
worker processes, one thread each (the fastest use of a small machine; see
:func:`multisc.devices.cpu_threads`).

    python benchmarks/jscc_checkpoints.py [--steps 8000] [--workers 2] [--only 1/24:awgn]
        [--target DIR]   # default: the shipped folder (DIR: anywhere else, e.g. a test's)
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch

from multisc.codecs.jscc import CONFIG_FILE, WEIGHTS_FILE, JSCCConfig, read_training
from multisc.codecs.jscc_eval import evaluate_jscc
from multisc.codecs.jscc_shipped import SHIPPED_DIR, directory_name, shipped_configs
from multisc.codecs.jscc_training import train_jscc
from multisc.data.sources import TRAINING_PHOTOS, sample_photos

EVAL_SNRS = tuple(float(s) for s in range(0, 21, 2))


def train_one(
    config: JSCCConfig, steps: int, workdir: Path, threads: int, target: Path = SHIPPED_DIR
) -> dict:
    """Train, evaluate and ship one configuration (into ``target``); returns its training
    record."""
    images = [image for _, image in sample_photos(TRAINING_PHOTOS)]
    directory = workdir / directory_name(config)
    started = time.perf_counter()
    train_jscc(
        images,
        config,
        directory,
        steps=steps,
        batch=16,
        crop=64,
        seed=0,
        threads=threads,
        device="cpu",
        data="bundled training photos: " + ", ".join(TRAINING_PHOTOS),
    )
    seconds = time.perf_counter() - started
    rows = evaluate_jscc(directory, sample_photos(), EVAL_SNRS, fading=config.fading, seed=0)
    record = read_training(directory)
    record.update(
        {
            "seconds": round(seconds, 1),
            "machine": f"{platform.processor() or platform.machine()}, {threads} thread(s)",
            "evaluated_on": "sample photos: astronaut, chelsea, coffee, rocket, motorcycle",
            "psnr_db": {f"{r['snr_db']:g}": round(r["psnr_db"], 3) for r in rows},
            "ssim": {f"{r['snr_db']:g}": round(r["ssim"], 4) for r in rows},
        }
    )
    target = target / directory_name(config)
    target.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(directory / WEIGHTS_FILE, target / WEIGHTS_FILE)
    raw = json.loads((directory / CONFIG_FILE).read_text())
    raw["training"] = record
    (target / CONFIG_FILE).write_text(json.dumps(raw, indent=2) + "\n")
    return {"checkpoint": str(target), **record}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--only", action="append", help="RATIO:FADING, e.g. 1/24:awgn")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--target", type=Path, default=SHIPPED_DIR, help="where to ship them")
    args = parser.parse_args()
    configs = shipped_configs()
    if args.only:
        wanted = {tuple(o.split(":")) for o in args.only}
        configs = [c for c in configs if (c.ratio, c.fading) in wanted]
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="jscc-ship-"))
    torch.set_num_threads(1)
    with ProcessPoolExecutor(args.workers) as pool:
        futures = [pool.submit(train_one, c, args.steps, workdir, 1, args.target) for c in configs]
        for config, future in zip(configs, futures, strict=True):
            record = future.result()
            psnrs = record["psnr_db"]
            print(
                f"{config.label}: {record['seconds']:.0f} s; PSNR 0/10/20 dB: "
                f"{psnrs['0']:.2f} / {psnrs['10']:.2f} / {psnrs['20']:.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()

"""Does ``torch.compile`` of the UNet speed up the receiver's generation?

Times ``ImageGenerator.generate`` (7 prompts with 7 image prompts, as one image's 7 SNRs)
eagerly, then with the UNet wrapped in ``torch.compile`` (inductor, default mode):

- ``compile_seconds``: the first compiled call (tracing + code generation);
- ``recompile_seconds``: a call with a new batch size and one with a new IP-Adapter scale
  (a sweep meets both: a lost slice splits a batch, vlm_csc generates at scale 0);
- ``speedup``: eager / compiled seconds per call once compiled;
- ``max_pixel_difference``: between eager and compiled images (0-255).

Also reports which attention processors the UNet uses (SDPA-based ones end in ``2_0``).

    python benchmarks/compile.py --models DIR [--device cuda] [--size 512] [--steps 30] [--json]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from _report import device_label, emit
from PIL import Image

from multisc.devices import resolve_device
from multisc.receiver.generation import ImageGenerator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", required=True, help="component directory (make-random)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--size", type=int, default=None)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--mode", default="default", help="torch.compile mode")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    device = resolve_device(args.device)
    generator = ImageGenerator.from_pretrained(
        args.models, device, ip_adapter=True, steps=args.steps, size=args.size
    )
    prompts = [f"a photo of a dog on the grass, view {i}" for i in range(7)]
    slices = [Image.new("RGB", (96, 96), (30 * i, 120, 60)) for i in range(7)]

    def call(n: int = 7, with_slices: bool = True) -> tuple[float, list[Image.Image]]:
        seeds = [torch.Generator().manual_seed(i) for i in range(n)]
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        started = time.perf_counter()
        images = generator.generate(prompts[:n], seeds, slices=slices[:n] if with_slices else None)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - started, images

    call()  # warm-up
    eager_s, eager_images = call()
    processors = sorted({type(p).__name__ for p in generator.pipe.unet.attn_processors.values()})
    generator.pipe.unet = torch.compile(generator.pipe.unet, mode=args.mode)
    compile_s, _ = call()
    compiled_s, compiled_images = call()
    new_batch_s, _ = call(n=3)
    new_scale_s, _ = call(with_slices=False)
    difference = max(
        int(np.abs(np.asarray(a).astype(int) - np.asarray(b)).max())
        for a, b in zip(eager_images, compiled_images, strict=True)
    )
    report = {
        "device": device_label(device),
        "generation_size": generator.size,
        "steps": generator.steps,
        "batch": len(prompts),
        "mode": args.mode,
        "attention_processors": processors,
        "eager_seconds": round(eager_s, 2),
        "compile_seconds": round(compile_s, 1),
        "compiled_seconds": round(compiled_s, 2),
        "recompile_seconds": {"batch_3": round(new_batch_s, 1), "scale_0": round(new_scale_s, 1)},
        "speedup": round(eager_s / compiled_s, 3),
        "max_pixel_difference": difference,
    }
    emit(report, args.json)


if __name__ == "__main__":
    main()

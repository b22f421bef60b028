"""Codec baselines on the bundled sample photos: HEVC vs JPEG, and deep JSCC vs SNR.

1. HEVC intra rate-distortion (bits per pixel vs PSNR) beside JPEG at equal bits: for
   every HEVC point, JPEG gets the highest quality whose file is no larger. HEVC must
   win at every rate: a check that our use of the codec is right.
2. Deep JSCC (k/n = 1/6) trained here at 10 dB on the bundled *training* photos (AWGN,
   and a second model on Rayleigh fast fading), evaluated on the sample photos at
   0...20 dB on the channel it was trained for.

    python benchmarks/codecs.py [--steps 3000] [--out DIR] [--json]

Writes ``hevc_vs_jpeg.png`` and ``jscc_psnr_vs_snr.png`` (and ``codecs.json``) in --out.
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch
from PIL import Image

from multisc.codecs import hevc
from multisc.codecs.jscc import JSCCConfig
from multisc.codecs.jscc_eval import evaluate_jscc
from multisc.codecs.jscc_training import train_jscc
from multisc.data.sources import TRAINING_PHOTOS, sample_photos
from multisc.imaging import to_tensor
from multisc.metrics import psnr

HEVC_QUALITIES = (0, 10, 20, 30, 40, 50, 60, 70, 80)
JSCC_SNRS = tuple(float(s) for s in range(0, 21, 2))


def _psnr(a: Image.Image, b: Image.Image) -> float:
    return float(psnr(to_tensor(a)[None], to_tensor(b)[None])[0])


def _jpeg_at_most(image: Image.Image, max_bytes: int) -> tuple[bytes, int] | None:
    """Highest JPEG quality (1..95, 4:2:0 like HEVC) whose file fits ``max_bytes``."""
    best = None
    lo, hi = 1, 95
    while lo <= hi:
        mid = (lo + hi) // 2
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=mid, subsampling=2)
        if len(buffer.getvalue()) <= max_bytes:
            best, lo = (buffer.getvalue(), mid), mid + 1
        else:
            hi = mid - 1
    return best


def hevc_vs_jpeg(photos: list[tuple[str, Image.Image]]) -> list[dict]:
    rows = []
    for quality in HEVC_QUALITIES:
        bpp, hevc_psnr, jpeg_psnr, wins = [], [], [], 0
        for _, image in photos:
            pixels = image.width * image.height
            stream = hevc.encode(image, quality)
            decoded = hevc.decode(stream, isolate=False)
            bpp.append(8 * len(stream) / pixels)
            hevc_psnr.append(_psnr(image, decoded))
            jpeg = _jpeg_at_most(image, len(stream))
            if jpeg is None:  # JPEG cannot go this low at all
                jpeg_psnr.append(float("nan"))
                wins += 1
                continue
            value = _psnr(image, Image.open(io.BytesIO(jpeg[0])).convert("RGB"))
            jpeg_psnr.append(value)
            wins += hevc_psnr[-1] > value
        rows.append(
            {
                "hevc_quality": quality,
                "bits_per_pixel": float(np.mean(bpp)),
                "hevc_psnr_db": float(np.mean(hevc_psnr)),
                # a mean over only the photos JPEG can reach would not be comparable
                "jpeg_psnr_db": None if any(np.isnan(jpeg_psnr)) else float(np.mean(jpeg_psnr)),
                "jpeg_unreachable": int(sum(np.isnan(jpeg_psnr))),
                "hevc_wins": f"{wins}/{len(photos)}",
            }
        )
    return rows


def jscc_curves(photos, steps: int, out: Path, device: str) -> dict[str, list[dict]]:
    training = [image for _, image in sample_photos(TRAINING_PHOTOS)]
    curves = {}
    for fading in ("awgn", "rayleigh"):
        directory = out / f"jscc-1_6-10dB-{fading}"
        started = time.perf_counter()
        result = train_jscc(
            training,
            JSCCConfig("1/6", 10.0, fading),
            directory,
            steps=steps,
            batch=16,
            crop=64,
            seed=0,
            device=device,
        )
        trained_s = time.perf_counter() - started
        cached = result.resumed_from >= steps  # an earlier run of this benchmark trained it
        rows = evaluate_jscc(directory, photos, JSCC_SNRS, fading=fading, seed=0, device=device)
        for row in rows:
            row["training_seconds"] = None if cached else round(trained_s, 1)
            row["training_steps"] = steps
        curves[fading] = rows
    return curves


def plot(rd: list[dict], curves: dict[str, list[dict]], out: Path) -> None:
    fig, ax = plt.subplots(figsize=(5.5, 4))
    ax.plot(
        [r["bits_per_pixel"] for r in rd],
        [r["hevc_psnr_db"] for r in rd],
        "o-",
        label="HEVC intra (libheif/x265)",
    )
    pairs = [(r["bits_per_pixel"], r["jpeg_psnr_db"]) for r in rd if r["jpeg_psnr_db"] is not None]
    ax.plot(*zip(*pairs, strict=True), "s--", label="JPEG, same or fewer bits")
    ax.set_xscale("log")
    ax.set_xlabel("bits per pixel")
    ax.set_ylabel("PSNR (dB)")
    ax.set_title("Sample photos: rate-distortion")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "hevc_vs_jpeg.png", dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5.5, 4))
    for fading, rows in curves.items():
        ax.plot(
            [r["snr_db"] for r in rows],
            [r["psnr_db"] for r in rows],
            "o-",
            label=f"deep JSCC k/n=1/6, trained at 10 dB, {fading.upper()}",
        )
    ax.axvline(10, color="grey", lw=0.8, ls=":")
    ax.set_xlabel("channel SNR (dB)")
    ax.set_ylabel("PSNR (dB)")
    ax.set_title("Sample photos: deep JSCC")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "jscc_psnr_vs_snr.png", dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=3000, help="deep JSCC training steps")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out"))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    photos = sample_photos()
    rd = hevc_vs_jpeg(photos)
    curves = jscc_curves(photos, args.steps, args.out, args.device)
    plot(rd, curves, args.out)
    report = {
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads",
        "torch": torch.__version__,
        "photos": [name for name, _ in photos],
        "hevc_vs_jpeg": rd,
        "deep_jscc": curves,
    }
    (args.out / "codecs.json").write_text(json.dumps(report, indent=2))
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"photos: {', '.join(report['photos'])}")
    print(f"{'HEVC q':>6} {'bpp':>7} {'HEVC dB':>8} {'JPEG dB':>8}  HEVC wins")
    for r in rd:
        jpeg = "n/a" if r["jpeg_psnr_db"] is None else f"{r['jpeg_psnr_db']:.2f}"
        print(
            f"{r['hevc_quality']:>6} {r['bits_per_pixel']:>7.3f} {r['hevc_psnr_db']:>8.2f} "
            f"{jpeg:>8}  {r['hevc_wins']} (JPEG unreachable: {r['jpeg_unreachable']})"
        )
    for fading, rows in curves.items():
        seconds = rows[0]["training_seconds"]
        how = "cached checkpoint" if seconds is None else f"trained in {seconds} s"
        print(f"deep JSCC k/n=1/6, {args.steps} steps at 10 dB ({fading}, {how}):")
        print("  " + "  ".join(f"{r['snr_db']:g} dB: {r['psnr_db']:.2f}" for r in rows))
    print(f"plots: {args.out / 'hevc_vs_jpeg.png'}, {args.out / 'jscc_psnr_vs_snr.png'}")


if __name__ == "__main__":
    main()

"""Codec baselines on the bundled sample photos: HEVC vs JPEG, BPG's compact stream, and
deep JSCC vs SNR.

1. HEVC intra rate-distortion (bits per pixel of the compact stream we send vs PSNR) beside
   JPEG at equal bits: for every HEVC point, JPEG gets the highest quality whose file is no
   larger. HEVC must win at every rate: a check that our use of the codec is right.
2. The compact stream against libheif's HEIF file: bytes saved per photo, and whether the
   decoded pixels are identical.
3. The shipped deep JSCC checkpoints (every ratio, AWGN and Rayleigh, trained over
   0-20 dB), evaluated on the sample photos at 0...20 dB on their own channel.
4. Training SNR at k/n = 1/6 (AWGN): the shipped 0-20 dB range model beside models trained
   here at one SNR, 10 dB and the paper's 19 dB, with the same recipe and steps.
5. A budget of k/n = 1/24 (the main job's): the 1/24 checkpoint at full size beside the
   1/6 checkpoint sent at a quarter of the area and upsampled.
6. Anchors: our 1/6 and 1/12 models at 1 and 19 dB, to set beside published numbers.

    python benchmarks/codecs.py [--steps N] [--out DIR] [--json]

Writes ``hevc_vs_jpeg.png``, ``jscc_psnr_vs_snr.png``, ``jscc_training_snr.png`` and
``codecs.json`` in --out.
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import time
from fractions import Fraction
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pillow_heif
import torch
from PIL import Image

from multisc.channel import ChannelSpec
from multisc.codecs import hevc
from multisc.codecs.jscc import JSCCConfig, load_checkpoint, read_config, read_training
from multisc.codecs.jscc_eval import evaluate_jscc
from multisc.codecs.jscc_shipped import shipped
from multisc.codecs.jscc_training import train_jscc
from multisc.data.sources import TRAINING_PHOTOS, sample_photos
from multisc.imaging import to_tensor
from multisc.metrics import psnr
from multisc.schemes.deep_jscc import DeepJsccScheme

HEVC_QUALITIES = (0, 10, 20, 30, 40, 50, 60, 70, 80)
JSCC_SNRS = tuple(float(s) for s in range(0, 21, 2))
BUDGET_SNRS = tuple(float(s) for s in range(0, 19, 3))  # the paper's SNRs: the main job's


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


def compact_vs_heif(photos: list[tuple[str, Image.Image]]) -> list[dict]:
    """Bytes of libheif's file and of the compact stream, and whether both decode alike."""
    rows = []
    for name, image in photos:
        for quality in (0, 30):
            heif = hevc.encode_heif(image, quality)
            stream = hevc.encode(image, quality)
            reference = np.asarray(pillow_heif.open_heif(io.BytesIO(heif)))[..., :3]
            decoded = np.asarray(hevc.decode(stream, isolate=False))
            rows.append(
                {
                    "photo": name,
                    "hevc_quality": quality,
                    "heif_bytes": len(heif),
                    "compact_bytes": len(stream),
                    "saved_bytes": len(heif) - len(stream),
                    "identical_pixels": bool(np.array_equal(reference, decoded)),
                }
            )
    return rows


def shipped_curves(photos) -> dict[str, list[dict]]:
    curves = {}
    for fading in ("awgn", "rayleigh"):
        for directory in shipped(fading):
            config = read_config(directory)
            rows = evaluate_jscc(directory, photos, JSCC_SNRS, fading=fading, seed=0)
            curves[f"{config.ratio} {fading}"] = rows
    return curves


def training_snr_comparison(photos, steps: int, out: Path, device: str) -> dict[str, list[dict]]:
    """k/n = 1/6 AWGN: trained over 0-20 dB (shipped) vs at 10 dB vs at 19 dB (here)."""
    (ranged,) = shipped("awgn", ratios=("1/6",))
    training = [image for _, image in sample_photos(TRAINING_PHOTOS)]
    curves = {"0-20 dB (shipped)": evaluate_jscc(ranged, photos, JSCC_SNRS, seed=0)}
    for snr in (10.0, 19.0):
        directory = out / f"jscc-1_6-{snr:g}dB-awgn-{steps}steps"
        started = time.perf_counter()
        result = train_jscc(
            training,
            JSCCConfig("1/6", snr),
            directory,
            steps=steps,
            seed=0,
            device=device,
            data="bundled training photos: " + ", ".join(TRAINING_PHOTOS),
        )
        seconds = None if result.resumed_from >= steps else round(time.perf_counter() - started)
        rows = evaluate_jscc(directory, photos, JSCC_SNRS, seed=0, device=device)
        for row in rows:
            row["training_seconds"] = seconds
        curves[f"{snr:g} dB"] = rows
    return curves


def budget_1_24(photos) -> list[dict]:
    """Mean PSNR at k/n = 1/24: the 1/24 checkpoint at full size vs 1/6 on a quarter area."""
    models = {read_config(d).ratio: load_checkpoint(d) for d in shipped("awgn")}
    schemes = {
        "1/24 checkpoint, full size": DeepJsccScheme([models["1/24"]], Fraction(1, 24)),
        "1/6 checkpoint, quarter area": DeepJsccScheme([models["1/6"]], Fraction(1, 24)),
        "picked from the shipped set": DeepJsccScheme(list(models.values()), Fraction(1, 24)),
    }
    rows = []
    for label, scheme in schemes.items():
        values, uses = [], []
        for _, image in photos:
            prepared = scheme.prepare(image)
            results = scheme.transmit(
                prepared, [ChannelSpec(s) for s in BUDGET_SNRS], torch.Generator().manual_seed(0)
            )
            values.append([_psnr(image, r.image) for r in results])
            uses.append(results[0].channel_uses / (image.width * image.height * 3))
        means = np.mean(values, axis=0)
        rows.append(
            {
                "setting": label,
                "mean_ratio_spent": float(np.mean(uses)),
                "psnr_db": {
                    f"{s:g}": round(float(v), 2) for s, v in zip(BUDGET_SNRS, means, strict=True)
                },
                "psnr_db_mean_0_18": round(float(means.mean()), 2),
            }
        )
    return rows


def anchors(photos, paper_snr_model: Path) -> list[dict]:
    """Our models at the SNRs published numbers use: 1, 10 and 19 dB."""
    rows = []
    for ratio in ("1/6", "1/12"):
        (directory,) = shipped("awgn", ratios=(ratio,))
        for row in evaluate_jscc(directory, photos, [1.0, 10.0, 19.0], seed=0):
            rows.append(
                {"model": f"{ratio}, trained 0-20 dB", "snr_db": row["snr_db"],
                 "psnr_db": row["psnr_db"]}
            )  # fmt: skip
    for row in evaluate_jscc(paper_snr_model, photos, [19.0], seed=0):
        rows.append({"model": "1/6, trained 19 dB", "snr_db": 19.0, "psnr_db": row["psnr_db"]})
    return rows


def plot(rd: list[dict], results: dict, out: Path) -> None:
    fig, ax = plt.subplots(figsize=(5.5, 4))
    ax.plot(
        [r["bits_per_pixel"] for r in rd],
        [r["hevc_psnr_db"] for r in rd],
        "o-",
        label="HEVC intra (libheif/x265), compact stream",
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

    fig, ax = plt.subplots(figsize=(6, 4.2))
    for label, rows in results["shipped"].items():
        ratio, fading = label.split()
        ax.plot(
            [r["snr_db"] for r in rows],
            [r["psnr_db"] for r in rows],
            "o-" if fading == "awgn" else "s--",
            color={"1/6": "C0", "1/12": "C1", "1/24": "C2", "1/48": "C3"}[ratio],
            label=f"k/n={ratio}, {fading.upper()}",
            markersize=4,
        )
    ax.set_xlabel("channel SNR (dB)")
    ax.set_ylabel("PSNR (dB)")
    ax.set_title("Sample photos: shipped deep JSCC checkpoints (trained 0-20 dB)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(out / "jscc_psnr_vs_snr.png", dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5.5, 4))
    for label, rows in results["training_snr"].items():
        ax.plot(
            [r["snr_db"] for r in rows],
            [r["psnr_db"] for r in rows],
            "o-",
            label=f"trained {label}",
        )
    ax.set_xlabel("channel SNR (dB)")
    ax.set_ylabel("PSNR (dB)")
    ax.set_title("deep JSCC k/n=1/6, AWGN: training SNR")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "jscc_training_snr.png", dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--steps", type=int, default=None, help="single-SNR training steps (default: as shipped)"
    )
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out"))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    photos = sample_photos()
    steps = args.steps or read_training(shipped("awgn", ratios=("1/6",))[0])["steps"]
    rd = hevc_vs_jpeg(photos)
    results = {
        "compact_vs_heif": compact_vs_heif(photos),
        "shipped": shipped_curves(photos),
        "training_snr": training_snr_comparison(photos, steps, args.out, args.device),
        "budget_1_24": budget_1_24(photos),
        "anchors": anchors(photos, args.out / f"jscc-1_6-19dB-awgn-{steps}steps"),
    }
    plot(rd, results, args.out)
    report = {
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads",
        "torch": torch.__version__,
        "photos": [name for name, _ in photos],
        "training_steps": steps,
        "hevc_vs_jpeg": rd,
        **results,
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
    print("compact stream vs HEIF file (bytes):")
    for r in results["compact_vs_heif"]:
        print(
            f"  {r['photo']:>10} q={r['hevc_quality']:<2} {r['heif_bytes']:>6} -> "
            f"{r['compact_bytes']:>6} (-{r['saved_bytes']}), identical: {r['identical_pixels']}"
        )
    for title, curves in (
        ("shipped", results["shipped"]),
        ("1/6 AWGN trained at", results["training_snr"]),
    ):
        for label, rows in curves.items():
            print(f"deep JSCC {title} {label}:")
            print("  " + "  ".join(f"{r['snr_db']:g}: {r['psnr_db']:.2f}" for r in rows))
    for r in results["budget_1_24"]:
        print(f"budget 1/24, {r['setting']}: mean {r['psnr_db_mean_0_18']} dB {r['psnr_db']}")
    for r in results["anchors"]:
        print(f"anchor {r['model']} at {r['snr_db']:g} dB: {r['psnr_db']:.2f} dB")
    print(f"plots in {args.out}")


if __name__ == "__main__":
    main()

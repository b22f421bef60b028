"""What a ``vary:`` sweep costs against one variant: the work it shares.

Runs ``multisc run`` twice through the library on the same images and SNRs: once with
one ``ip_scale`` value, once with N values, each in a fresh run directory, and prints
wall seconds, the captioner and segmenter calls (which the sweep must not repeat) and
the ratio of the sweep's seconds to N times the single variant's (1.0: nothing shared;
below: the prepares shared). A budget sweep of ``bpg_ldpc`` is timed the same way.

    python benchmarks/variants.py --models DIR [--images 2] [--values 5] [--device cpu]
        [--json]

``DIR`` from ``multisc models make-tiny DIR`` (code paths, seconds of small models) or
``multisc models make-random DIR --size full`` (the real architectures: a real run's cost).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
import yaml
from _report import device_label, emit

from multisc.experiment.config import load_config
from multisc.experiment.sweep import run_sweep


def _counting():
    from multisc.transmitter.captioning import LlavaCaptioner
    from multisc.transmitter.segmentation import Segmenter

    counts = {"caption": 0, "segment": 0}
    originals = {"caption": LlavaCaptioner.caption, "segment": Segmenter.segment}

    def wrap(name):
        def counted(self, *args, **kwargs):
            counts[name] += 1
            return originals[name](self, *args, **kwargs)

        return counted

    LlavaCaptioner.caption = wrap("caption")
    Segmenter.segment = wrap("segment")
    return counts


def run(settings: dict, folder: Path) -> tuple[float, dict]:
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(settings))
    counts = _counting()
    started = time.perf_counter()
    run_sweep(load_config(path))
    return time.perf_counter() - started, dict(counts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", required=True)
    parser.add_argument("--images", type=int, default=2)
    parser.add_argument("--values", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    values = [round(i / max(args.values - 1, 1), 3) for i in range(args.values)]
    report: dict = {"device": device_label(torch.device(args.device)), "images": args.images}
    with tempfile.TemporaryDirectory() as tmp:
        base = {
            "images": "samples",
            "limit": args.images,
            "schemes": ["multisc"],
            "snr_db": [0.0, 9.0, 18.0],
            "models": args.models,
            "device": args.device,
            "options": {"steps": args.steps},
        }
        one_s, one = run({**base, "out": f"{tmp}/one", "vary": {"ip_scale": [0.5]}}, Path(tmp))
        many_s, many = run({**base, "out": f"{tmp}/many", "vary": {"ip_scale": values}}, Path(tmp))
        report.update(
            ip_scale_values=args.values,
            one_variant_s=round(one_s, 1),
            sweep_s=round(many_s, 1),
            sweep_over_n_times_one=round(many_s / (args.values * one_s), 2),
            captioner_calls=f"{one['caption']} (one value), {many['caption']} (sweep)",
            segmenter_calls=f"{one['segment']} (one value), {many['segment']} (sweep)",
        )
        bpg = {**base, "schemes": ["bpg_ldpc"], "models": None}
        bpg_one_s, _ = run({**bpg, "out": f"{tmp}/b1", "vary": {"budget": ["1/24"]}}, Path(tmp))
        budgets = ["1/48", "1/24", "1/12", "1/6"]
        bpg_s, _ = run({**bpg, "out": f"{tmp}/b4", "vary": {"budget": budgets}}, Path(tmp))
        report.update(
            bpg_one_budget_s=round(bpg_one_s, 1),
            bpg_four_budgets_s=round(bpg_s, 1),
        )
    emit(report, args.json)


if __name__ == "__main__":
    main()

"""What a sweep costs, stage by stage, and whether diffusion is the only bottleneck.

Runs N sample photos x all five schemes x the SNRs through the library (components
loaded once, prepare once per image and scheme, SNRs batched) and prints per-stage
seconds per image, then times the same generations:

- ``ratio_vs_bare_diffusers``: our ``ImageGenerator.generate`` against a bare
  ``StableDiffusionPipeline.__call__`` on the same components, batch, steps and size
  (throughput ours / bare; target >= 0.95);
- ``snr_batching_speedup``: one diffusion call for all SNRs of an image against one call
  per SNR (target >= 3x on an H100 at 7 SNRs);
- ``caption_batching_speedup``: the 2x2 blocks of all N images captioned in one
  ``generate`` (as the runner does) against one call per image;
- ``generators``: the same generations (prompts, slices, seeds, batch) with the paper's
  SD 1.5 (``--steps``, guidance 7.5: two UNet passes a step) and with ``sd15-lcm`` (the
  LCM-LoRA fused in, ``--lcm-steps`` at guidance 1: one pass a step): seconds and UNet
  evaluations per image, counted by a hook on the UNet. The 4-step generator is another
  system, not a faster copy of the paper's: its images differ.

With ``--models DIR`` from ``multisc models make-random DIR --size full`` the models have
the real architectures, so the seconds are what a real run costs.

    python benchmarks/sweep.py --models DIR [--device cuda] [--images 1] [--size 512]
        [--steps 30] [--lcm-steps 4] [--json]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import torch
from _report import device_label, emit

from multisc.channel import ChannelSpec
from multisc.codecs.jscc import DeepJSCC, JSCCConfig, save_checkpoint
from multisc.data.sources import sample_photos
from multisc.devices import resolve_device
from multisc.metrics.scoring import Scorer
from multisc.schemes import Components, SchemeOptions, build_scheme
from multisc.schemes.base import working_image
from multisc.schemes.registry import SCHEMES

PAPER_SNRS = (0.0, 3.0, 6.0, 9.0, 12.0, 15.0, 18.0)
STAGES = ("segment", "caption", "channel", "correct", "generate", "encode", "decode", "metrics")


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device: torch.device) -> tuple[float, object]:
    sync(device)
    started = time.perf_counter()
    out = fn()
    sync(device)
    return time.perf_counter() - started, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", required=True, help="component directory (make-random)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--images", type=int, default=1)
    parser.add_argument("--size", type=int, default=None, help="generation size (default 512)")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--lcm-steps", type=int, default=4, help="sd15-lcm's steps (2-8)")
    parser.add_argument(
        "--caption-tokens",
        type=int,
        default=10,
        help="caption length bound (the paper's captions: ~42 characters)",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    device = resolve_device(args.device)
    torch.set_grad_enabled(False)

    workdir = Path(tempfile.mkdtemp(prefix="multisc-bench-"))
    # deep JSCC's cost does not depend on its weights: an untrained model of the real size
    save_checkpoint(DeepJSCC(JSCCConfig("1/6", 10.0)), workdir / "jscc")
    options = SchemeOptions(
        steps=args.steps,
        generation_size=args.size,
        caption_tokens=args.caption_tokens,
        jscc_checkpoint=workdir / "jscc",
    )
    started_total = time.perf_counter()
    components = Components(args.models, device, options)
    load_s, schemes = timed(
        lambda: {name: build_scheme(name, components) for name in SCHEMES}, device
    )
    scorer = Scorer(args.models, device)
    photos = [(name, working_image(image)) for name, image in sample_photos()[: args.images]]
    specs = [ChannelSpec(s) for s in PAPER_SNRS]
    stage_seconds: dict[str, float] = defaultdict(float)
    prepare_calls = 0
    per_scheme: dict[str, float] = defaultdict(float)
    last_prepared = None
    images = [image for _, image in photos]
    for name, scheme in schemes.items():
        # as the runner does: the prepares of all images in one batch where the scheme
        # batches them (segmentation, and all blocks' captions in one generate)
        scheme_started = time.perf_counter()
        if hasattr(scheme, "prepare_many"):
            prepared_all = scheme.prepare_many(images)
        else:
            prepared_all = [scheme.prepare(image) for image in images]
        prepare_calls += len(images)
        per_scheme[name] += time.perf_counter() - scheme_started
        for prepared in prepared_all:
            scheme_started = time.perf_counter()
            for stage, seconds in (getattr(prepared, "timings", {}) or {}).items():
                stage_seconds[stage] += seconds
            results = scheme.transmit(prepared, specs, torch.Generator().manual_seed(0))
            for result in results:
                for stage, seconds in result.timings.items():
                    stage_seconds[stage] += seconds
            metric_s, _ = timed(
                lambda p=prepared, r=results: scorer.score_many(p.reference, r), device
            )
            stage_seconds["metrics"] += metric_s
            per_scheme[name] += time.perf_counter() - scheme_started
            if name == "multisc":
                last_prepared = (prepared, results)
    sweep_s = time.perf_counter() - started_total

    # -- generation: ours vs bare diffusers, and SNR-batched vs one by one -----------------
    multisc = schemes["multisc"]
    prepared, results = last_prepared
    prompts = [r.prompt for r in results]
    slice_image = multisc.slice_link.send(
        prepared.slice_payload, specs[-1], torch.Generator().manual_seed(0)
    ).image
    slices = [slice_image] * len(prompts)
    generator = multisc.generator
    seeds = lambda: [torch.Generator().manual_seed(i) for i in range(len(prompts))]  # noqa: E731
    generator.generate(prompts[:1], seeds()[:1], slices=slices[:1])  # warm-up
    ours_s, _ = timed(lambda: generator.generate(prompts, seeds(), slices=slices), device)
    from diffusers import StableDiffusionPipeline

    bare = StableDiffusionPipeline(**generator.pipe.components)
    bare.set_progress_bar_config(disable=True)

    def bare_call():
        # the same work: encode the 7 image prompts (diffusers' own encode_image), then
        # one diffusion call (diffusers shares one image prompt across a batch, so the
        # first is passed: the UNet's cost is the same)
        embeds, negative = bare.encode_image(slices, device, 1, False)
        shared = [torch.cat([negative[:1], embeds[:1]])[:, None]]
        return bare(
            prompt=prompts,
            num_inference_steps=generator.steps,
            guidance_scale=generator.guidance,
            height=generator.size,
            width=generator.size,
            generator=seeds(),
            ip_adapter_image_embeds=shared,
            output_type="pil",
        ).images

    bare_s, _ = timed(bare_call, device)
    one_by_one_s, _ = timed(
        lambda: [
            generator.generate([p], [g], slices=[s])
            for p, g, s in zip(prompts, seeds(), slices, strict=True)
        ],
        device,
    )
    # -- captions: every block of every image in one generate vs one call per image ------
    from multisc.transmitter.blocks import split_blocks

    llava = components.captioner()
    per_image_blocks = [[b.image for b in split_blocks(image, 2, 2)] for image in images]
    batched_s, _ = timed(lambda: llava.caption([b for bs in per_image_blocks for b in bs]), device)
    per_image_s, _ = timed(lambda: [llava.caption(bs) for bs in per_image_blocks], device)

    generators = {"sd15": _generation_cost(generator, prompts, slices, seeds, device)}
    size, steps = generator.size, generator.steps
    schemes = components = bare = multisc = generator = llava = None  # room for a pipeline
    import gc

    gc.collect()
    lcm_options = SchemeOptions(
        generator="sd15-lcm", steps=args.lcm_steps, generation_size=args.size
    )
    lcm = Components(args.models, device, lcm_options).generator(ip_adapter=True)
    lcm.generate(prompts[:1], seeds()[:1], slices=slices[:1])  # warm-up
    generators["sd15-lcm"] = _generation_cost(lcm, prompts, slices, seeds, device)
    paper, fast = generators["sd15"], generators["sd15-lcm"]

    n = len(photos)
    report = {
        "device": device_label(device),
        "images": n,
        "schemes": list(SCHEMES),
        "snrs": list(PAPER_SNRS),
        "generation_size": size,
        "steps": steps,
        "prepare_calls": prepare_calls,
        "load_seconds": round(load_s, 1),
        "stage_seconds": {k: round(v / n, 2) for k, v in sorted(stage_seconds.items())},
        "scheme_seconds_per_image": {k: round(v / n, 2) for k, v in per_scheme.items()},
        "seconds_total": round(sweep_s, 1),
        "ratio_vs_bare_diffusers": round(bare_s / ours_s, 3),
        "snr_batching_speedup": round(one_by_one_s / ours_s, 2),
        "caption_batching_speedup": round(per_image_s / batched_s, 2),
        "generation_seconds": {
            "ours_batched": round(ours_s, 2),
            "bare_diffusers": round(bare_s, 2),
            "ours_one_by_one": round(one_by_one_s, 2),
        },
        "caption_seconds": {
            "all_images_one_generate": round(batched_s, 2),
            "one_generate_per_image": round(per_image_s, 2),
        },
        "projected_kodak24_seconds": round(load_s + (sweep_s - load_s) / n * 24, 0),
        "generators": generators,
        "lcm_fewer_unet_evaluations": round(
            paper["unet_evaluations_per_image"] / fast["unet_evaluations_per_image"], 1
        ),
        "lcm_speedup": round(paper["seconds_per_image"] / fast["seconds_per_image"], 2),
    }
    emit(report, args.json)


def _generation_cost(generator, prompts, slices, seeds, device) -> dict:
    """Seconds and UNet evaluations (samples through the UNet) per image of one batched
    ``generate`` of ``prompts`` with ``slices``."""
    samples = []
    hook = generator.pipe.unet.register_forward_pre_hook(
        lambda module, args: samples.append(int(args[0].shape[0]))
    )
    try:
        seconds, _ = timed(lambda: generator.generate(prompts, seeds(), slices=slices), device)
    finally:
        hook.remove()
    return {
        "steps": generator.steps,
        "guidance": generator.guidance,
        "scheduler": type(generator.pipe.scheduler).__name__,
        "seconds_per_image": round(seconds / len(prompts), 3),
        "unet_evaluations_per_image": sum(samples) / len(prompts),
    }


if __name__ == "__main__":
    main()

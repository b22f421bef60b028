"""The paper's full experiment in floating-point operations, and what it costs on a GPU.

Where no GPU is at hand, the GPU time of a sweep can still be bounded: every model stage
is counted in FLOPs (``torch.utils.flop_counter``, through the library's own calls on the
full-size models of ``multisc models make-random DIR --size full``), and the FLOPs are
converted to seconds at a throughput *measured by others* on a stated GPU for the same
model (Stable Diffusion 1.5, fp16, SDPA; see ``REFERENCE``). Stages that are not model
FLOPs (the channel: Sionna LDPC/QAM; HEVC encoding; deep JSCC) are timed on this CPU and
added as they are.

Counted per image (FLOPs do not depend on the weights, only on shapes and lengths):

- ``segment``: one FCN-ResNet50 pass (shared by multisc and single_text);
- ``caption``: LLaVA on the 4 blocks (multisc) and the whole image (single_text), BLIP on
  the whole image (vlm_csc), ``--caption-tokens`` new tokens each;
- ``correct``: BART on the 5 LLaVA texts at every SNR;
- ``generate``: per UNet call (with classifier-free guidance: batch 2 per image) and per
  image (text and image encoders, VAE decoding), separated by counting a 1- and a 2-step
  run, for the 3 generative schemes at every SNR (a ``--steps`` run makes ``steps + 1``
  UNet calls: PNDM's PLMS repeats its first timestep);
- ``metrics``: CLIP image cosine and text similarity of every reconstruction.

    python benchmarks/flops.py --models DIR [--images 24] [--size 512] [--steps 30] [--json]
"""

from __future__ import annotations

import argparse
import time

import torch
from _report import device_label, emit
from torch.utils.flop_counter import FlopCounterMode

from multisc.channel import ChannelSpec
from multisc.codecs.jscc import DeepJSCC, JSCCConfig
from multisc.data.sources import sample_photos
from multisc.schemes import Components, SchemeOptions
from multisc.schemes.base import Reconstruction
from multisc.schemes.bpg_ldpc import BpgLdpcScheme
from multisc.schemes.deep_jscc import DeepJsccScheme
from multisc.schemes.slices import AnalogSlice
from multisc.transmitter.blocks import split_blocks

PAPER_SNRS = (0.0, 3.0, 6.0, 9.0, 12.0, 15.0, 18.0)
KODAK_SIZE = (768, 512)  # Kodak24 photos are 768x512 (or 512x768)

#: A published measurement of Stable Diffusion 1.5 (diffusers, torch 2.1, SDPA, fp16):
#: 50 steps at 512x512, batch 1, 1.604 s mean on an A100 80GB SXM (fal.ai's
#: stable-diffusion-benchmarks README). An H100 is faster than an A100 at this work, and our
#: batches (7 SNRs x 2 for guidance) use a GPU better than batch 1, so seconds at this
#: rate are an upper bound for an H100.
REFERENCE = {
    "source": "https://github.com/fal-ai/stable-diffusion-benchmarks",
    "gpu": "A100 80GB SXM",
    "workload": "SD 1.5, 512x512, 50 steps, batch 1, fp16, SDPA (diffusers, torch 2.1)",
    "seconds": 1.604,
    "steps": 50,
}


def flops(fn) -> int:
    counter = FlopCounterMode(display=False)
    with counter:
        fn()
    return int(counter.get_total_flops())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", required=True, help="component directory (make-random)")
    parser.add_argument("--images", type=int, default=24, help="images in the experiment")
    parser.add_argument("--size", type=int, default=512, help="generation size")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--caption-tokens", type=int, default=10)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    options = SchemeOptions(
        steps=1, generation_size=args.size, caption_tokens=args.caption_tokens, corrector="bart"
    )
    components = Components(args.models, "cpu", options)
    image = sample_photos()[0][1].resize(KODAK_SIZE)
    blocks = [b.image for b in split_blocks(image, 2, 2)]
    k = len(PAPER_SNRS)
    per_image: dict[str, int] = {}

    segmenter = components.segmenter()
    per_image["segment"] = flops(lambda: segmenter.class_maps([image]))
    llava, blip = components.captioner(), components.captioner("blip")
    texts: list[str] = []
    per_image["caption"] = flops(lambda: texts.extend(llava.caption([*blocks, image])))
    per_image["caption"] += flops(lambda: blip.caption([image]))
    # LLaVA's KV cache: K and V per layer, KV head and head dimension, in the checkpoint's bf16
    text = llava.model.config.text_config
    head_dim = text.hidden_size // text.num_attention_heads
    kv_bytes_per_token = 2 * text.num_hidden_layers * text.num_key_value_heads * head_dim * 2
    prompt_tokens = int(llava._inputs([blocks[0]], [llava.prompt])["input_ids"].shape[1])
    corrector = components.corrector("bart")
    noisy = [text.replace("e", "r") or "a dgo" for text in texts] * k
    per_image["correct"] = flops(lambda: corrector.correct(noisy))

    generator = components.generator(ip_adapter=True)
    slice_image = image.crop((200, 100, 500, 400))

    unet_calls: list[int] = []
    generator.pipe.unet.register_forward_hook(lambda *_: unet_calls.append(1))

    def generate(steps: int, with_slice: bool) -> tuple[int, int]:
        """(FLOPs, UNet calls) of one generation."""
        generator.steps = steps
        seed = [torch.Generator().manual_seed(0)]
        prompt = [" ".join(texts)[:300]]
        slices = [slice_image] if with_slice else None
        unet_calls.clear()
        counted = flops(lambda: generator.generate(prompt, seed, slices=slices))
        return counted, len(unet_calls)

    def calls_for(steps: int) -> int:
        """UNet calls of a ``steps``-step run (PNDM's PLMS repeats its first timestep)."""
        scheduler = generator.pipe.scheduler
        scheduler.set_timesteps(steps)
        return len(scheduler.timesteps)

    (one, calls_one), (two, calls_two) = generate(1, True), generate(2, True)
    unet_call = (two - one) // (calls_two - calls_one)  # UNet on [2, 4, h/8, w/8] (guidance)
    fixed_ip = one - calls_one * unet_call  # text + image encoders, VAE decoding
    text_only, calls_text = generate(1, False)
    fixed_text = text_only - calls_text * unet_call
    calls = calls_for(args.steps)
    # multisc and single_text generate with the slice, vlm_csc from text: at every SNR
    per_image["generate"] = k * (3 * calls * unet_call + 2 * fixed_ip + fixed_text)

    from multisc.metrics.scoring import Scorer

    scorer = Scorer(args.models, "cpu")
    made = [
        Reconstruction(
            image=image,
            spec=ChannelSpec(s),
            texts_sent=tuple(texts[:4]),
            texts_corrected=tuple(noisy[:4]),
        )
        for s in PAPER_SNRS
    ]
    per_image["metrics"] = 5 * flops(lambda: scorer.score_many(image, made))

    # the reference workload (one prompt with guidance) counted the same way
    reference_flops = calls_for(REFERENCE["steps"]) * unet_call + fixed_text
    rate = reference_flops / REFERENCE["seconds"]  # FLOP/s achieved in the reference

    # -- the stages that are not model FLOPs, timed here on the CPU ------------------------
    specs = [ChannelSpec(s) for s in PAPER_SNRS]
    text_link = components.text_link()
    analog = AnalogSlice(4)

    def semantic_channel() -> None:
        payload = analog.encode(slice_image)
        for spec in specs:
            for _ in range(2):  # multisc and single_text; vlm_csc sends one text
                g = torch.Generator().manual_seed(0)
                text_link.send_texts(texts, spec, g)
                analog.send(payload, spec, g)

    # the baselines get multisc's channel uses (the sweep's default budget)
    budget = sum(text_link.channel_uses(8 * len(t.encode())) for t in texts[:4])
    budget += analog.channel_uses(analog.encode(slice_image))
    bpg = BpgLdpcScheme(budget, "qpsk", 0.5, "fixed", (124, 116, 104))
    jscc = DeepJsccScheme(DeepJSCC(JSCCConfig("1/6", 10.0)).eval(), budget)
    started = time.perf_counter()
    semantic_channel()
    for scheme in (bpg, jscc):
        scheme.transmit(scheme.prepare(image), specs, torch.Generator().manual_seed(0))
    cpu_seconds = time.perf_counter() - started

    total = sum(per_image.values()) * args.images
    gpu_seconds = total / rate
    report = {
        "images": args.images,
        "schemes": 5,
        "snrs": list(PAPER_SNRS),
        "generation_size": args.size,
        "steps": args.steps,
        "tflops_per_image": {k: round(v / 1e12, 2) for k, v in per_image.items()},
        "unet_calls_per_generation": calls,
        "unet_tflops_per_call_with_guidance": round(unet_call / 1e12, 3),
        "decode_and_encoders_tflops_per_image": round(fixed_ip / 1e12, 3),
        "tflops_total": round(total / 1e12, 1),
        "reference": REFERENCE,
        "reference_tflops_per_second": round(rate / 1e12, 1),
        "gpu_seconds_at_reference_rate": round(gpu_seconds, 0),
        "caption_prompt_tokens": prompt_tokens,
        "caption_kv_cache_kib_per_token": kv_bytes_per_token / 1024,
        "caption_kv_cache_gib_per_16_captions": round(
            kv_bytes_per_token * (prompt_tokens + args.caption_tokens) * 16 / 2**30, 3
        ),
        "cpu_stage_seconds_per_image": round(cpu_seconds, 2),
        "cpu_stage_machine": device_label(torch.device("cpu")),
        "projected_minutes_upper_bound": round((gpu_seconds + cpu_seconds * args.images) / 60, 1),
    }
    emit(report, args.json)


if __name__ == "__main__":
    main()

"""The generator and IP-Adapter choices (``generator: sd15-lcm``, ``ip_adapter: plus``)
on the tiny stand-ins: what the files hold reaches the pipeline, and each choice behaves
as its base does (per-prompt image prompts, exact batching, nothing added at scale 0)."""

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from multisc.receiver.generators import make_generator, sampling
from multisc.receiver.ip_adapters import IP_ADAPTER_REGISTRY


def seeds(*values):
    return [torch.Generator().manual_seed(v) for v in values]


def pixels(image):
    return np.asarray(image).astype(int)


@pytest.fixture(scope="module")
def plus(tiny_models):
    generator = make_generator("sd15", tiny_models, "cpu", "plus")
    return generator.with_settings(0.5, 2, 7.5, 32)


@pytest.fixture(scope="module")
def lcm(tiny_models):
    generator = make_generator("sd15-lcm", tiny_models, "cpu", "base")
    steps, guidance = sampling("sd15-lcm")
    return generator.with_settings(0.5, steps, guidance, 32)


def test_ip_adapter_plus_reads_the_patch_embeddings_through_its_resampler(plus, tiny_models):
    from diffusers.models.embeddings import IPAdapterPlusImageProjection

    assert plus.image_features == "hidden_states"
    (projection,) = plus.pipe.unet.encoder_hid_proj.image_projection_layers
    assert isinstance(projection, IPAdapterPlusImageProjection)
    saved = load_file(
        tiny_models / "ip_adapter_plus" / "models" / "ip-adapter-plus_sd15.safetensors"
    )
    image_proj = {
        k.removeprefix("image_proj."): v for k, v in saved.items() if k.startswith("image_proj.")
    }
    state = projection.state_dict()
    # every tensor of the file reaches the projection (to_kv is split into to_k and to_v)
    assert torch.equal(state["latents"], image_proj["latents"])
    assert torch.equal(state["proj_in.weight"], image_proj["proj_in.weight"])
    for layer in range(4):
        k, v = image_proj[f"layers.{layer}.0.to_kv.weight"].chunk(2)
        assert torch.equal(state[f"layers.{layer}.attn.to_k.weight"], k)
        assert torch.equal(state[f"layers.{layer}.attn.to_v.weight"], v)
    assert sum(t.numel() for t in state.values()) == sum(t.numel() for t in image_proj.values())
    to_k = [p for n, p in plus.pipe.unet.attn_processors.items() if hasattr(p, "to_k_ip")]
    assert len(to_k) == sum(1 for k in saved if k.endswith("to_k_ip.weight"))


def test_ip_adapter_plus_per_prompt_and_nothing_added_at_scale_zero(plus, photo):
    with_slice = plus.generate(["a dog"], seeds(3), slices=[photo], scale=0.5)[0]
    scale_zero = plus.generate(["a dog"], seeds(3), slices=[photo], scale=0.0)[0]
    text_only = plus.generate(["a dog"], seeds(3))[0]
    assert np.abs(pixels(with_slice) - pixels(scale_zero)).mean() > 1.0
    assert np.array_equal(pixels(scale_zero), pixels(text_only))
    # each prompt keeps its own image prompt: another slice, another image
    other = plus.generate(["a dog"], seeds(3), slices=[photo.rotate(90)], scale=0.5)[0]
    assert np.abs(pixels(with_slice) - pixels(other)).mean() > 0.1


def test_ip_adapter_plus_batched_equals_one_by_one_in_float64(tiny_models, photo):
    generator = make_generator("sd15", tiny_models, "cpu", "plus").with_settings(0.5, 2, 7.5, 32)
    generator.pipe.to(torch.float64)  # float32 kernels sum in a batch-dependent order
    slices = [photo, photo.rotate(90)]
    batched = generator.generate(["a dog", "a boat"], seeds(0, 1), slices=slices)
    for i, prompt in enumerate(["a dog", "a boat"]):
        single = generator.generate([prompt], seeds(i), slices=[slices[i]])[0]
        assert np.array_equal(pixels(batched[i]), pixels(single))


def test_the_lcm_lora_is_fused_into_the_unet_and_sampled_with_lcm(lcm, tiny_models):
    """W' = W + (alpha / rank) up @ down for an adapted layer, against the plain UNet; the
    LoRA layers are gone once fused; LCMScheduler, 4 steps, guidance 1."""
    from diffusers import LCMScheduler

    plain = make_generator("sd15", tiny_models, "cpu", None)
    saved = load_file(tiny_models / "lcm_lora_sd15" / "pytorch_lora_weights.safetensors")
    module = "down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_q"
    key = "lora_unet_" + module.replace(".", "_")
    down, up = saved[f"{key}.lora_down.weight"], saved[f"{key}.lora_up.weight"]
    scale = float(saved[f"{key}.alpha"]) / down.shape[0]
    base = plain.pipe.unet.get_submodule(module).weight
    fused = lcm.pipe.unet.get_submodule(module).weight
    assert torch.allclose(fused, base + scale * up @ down, atol=1e-6)
    assert not torch.equal(fused, base)
    assert not any("lora" in name for name, _ in lcm.pipe.unet.named_parameters())
    assert isinstance(lcm.pipe.scheduler, LCMScheduler)
    assert (lcm.steps, lcm.guidance) == (4, 1.0)
    assert len(saved) == 3 * sum(1 for k in saved if k.endswith(".alpha"))


def test_lcm_generates_per_prompt_with_the_adapter(lcm, photo):
    a, b = lcm.generate(["a dog", "a dog"], seeds(0, 1), slices=[photo, photo])
    again = lcm.generate(["a dog"], seeds(0), slices=[photo])[0]
    assert a.size == (32, 32) and np.abs(pixels(a) - pixels(b)).mean() > 0.1
    diff = np.abs(pixels(a) - pixels(again))  # float32: a batch may sum in another order
    assert diff.max() <= 3


def test_every_ip_adapter_entry_names_the_features_it_reads():
    for spec in IP_ADAPTER_REGISTRY.specs().values():
        assert spec.info["image_features"] in ("image_embeds", "hidden_states")


def test_sampling_defaults_come_from_the_generator_and_options_win():
    assert sampling("sd15") == (30, 7.5)
    assert sampling("sd15-lcm") == (4, 1.0)
    assert sampling("sd15-lcm", 6, 1.5) == (6, 1.5)

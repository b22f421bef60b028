"""Stand-ins are the real files in everything but their values.

Full size: every weights file a component loads has the published dtype, the real key
names and container, and the recorded size of the real file within 1% (the container's
header aside). The full-size builders run on the meta device with their writes captured
(:func:`multisc.testing.files.capture`): the very code that writes ``make-random --size
full``, without allocating 3 B parameters. Tiny: the renamed keys are the ones transformers
5 maps back on load, so every tensor of the file ends up in the model.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from multisc.models import REGISTRY, load_state_file, manifest
from multisc.testing import BUILDERS
from multisc.testing.files import capture, file_bytes
from multisc.testing.torch_hub import TORCH_HUB_COMPONENTS, write_torch_hub_file

HUB_COMPONENTS = [name for name, item in REGISTRY.items() if not item.torch_hub]

#: the dtype each published weights file holds (pages in the manifests and testing.files)
PUBLISHED_DTYPE = {
    "model.safetensors@captioner": torch.bfloat16,  # llava-hf: bf16, 1.73 GB
    "models/ip-adapter_sd15.safetensors@ip_adapter": torch.float16,  # 44,642,768 B
    "models/ip-adapter-plus_sd15.safetensors@ip_adapter_plus": torch.float16,  # 98,183,288 B
    "model.safetensors@smolvlm-256m": torch.bfloat16,  # 513 MB: 256.5 M parameters
    "pytorch_lora_weights.safetensors@lcm_lora_sd15": torch.float16,  # 134,621,556 B
    **{
        f"model-0000{i}-of-00003.safetensors@llava-1.5-7b": torch.float16  # 14.1 GB: 7.06 B
        for i in (1, 2, 3)
    },
}


def _captured_full(name: str, tmp_path: Path) -> dict[str, dict[str, torch.Tensor]]:
    with torch.device("meta"), capture() as files:
        BUILDERS[name](tmp_path / name, size="full")
    return {str(Path(path).relative_to(tmp_path / name)): state for path, state in files.items()}


@pytest.mark.parametrize("name", HUB_COMPONENTS)
def test_full_size_stand_in_files_are_the_real_files_size_dtype_and_container(name, tmp_path):
    item = REGISTRY[name]
    files = _captured_full(name, tmp_path)
    assert set(files) == set(item.weights), (name, set(files) ^ set(item.weights))
    recorded = manifest(name)["files"]
    for weight, state in files.items():
        size = file_bytes(state)
        assert abs(size - recorded[weight]) <= 0.01 * recorded[weight], (weight, size)
        dtype = PUBLISHED_DTYPE.get(f"{weight}@{name}", torch.float32)
        assert {t.dtype for t in state.values() if t.is_floating_point()} == {dtype}, weight


def test_full_size_stand_ins_carry_the_real_key_names(tmp_path):
    llava = _captured_full("captioner", tmp_path)["model.safetensors"]
    prefixes = {key.split(".")[0] + "." + key.split(".")[1] for key in llava}
    # llava-hf's 2024 names, which transformers 5 renames on load
    assert prefixes >= {"language_model.model", "vision_tower.vision_model"}
    assert any(k.startswith("multi_modal_projector.") for k in llava)
    assert not any(k.startswith("model.") for k in llava)
    blip = _captured_full("vlm_captioner", tmp_path)["pytorch_model.bin"]
    decoder = blip["text_decoder.cls.predictions.decoder.weight"]
    words = blip["text_decoder.bert.embeddings.word_embeddings.weight"]
    assert decoder.shape == words.shape == (30524, 768)  # stored twice: the 990 MB file
    assert blip["text_decoder.bert.embeddings.position_ids"].shape == (1, 512)
    parameters = sum(t.numel() for k, t in blip.items() if t.is_floating_point())
    assert parameters == 247_414_076  # 223,971,644 + 30,524 x 768


@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=pytest.mark.slow) if n == "dists" else n for n in TORCH_HUB_COMPONENTS],
)  # DISTS' VGG16 is 553 MB: written and read in the slow tier
def test_torch_hub_stand_ins_are_in_the_real_container_at_the_published_size(name, tmp_path):
    """FCN-ResNet50, VGG16 and Inception are legacy pickles, AlexNet (re-saved, PR 3620) a
    zip archive; the other segmenters as their manifests infer (published before torch 1.6:
    legacy; LR-ASPP, 2020-10: zip); each at the real file's exact size within 1%."""
    from multisc.models import is_legacy_pickle

    item = REGISTRY[name]
    path = write_torch_hub_file(name, tmp_path / item.repo_id)
    record = manifest(name)
    recorded = record["files"][item.repo_id]
    assert abs(path.stat().st_size - recorded) <= 0.01 * recorded
    assert is_legacy_pickle(path) == (record["container"] == "legacy")
    assert record["container"] == (
        "zip" if name in ("lpips", "lraspp_mobilenet_v3_large") else "legacy"
    )


def test_full_size_blip_has_the_published_text_heads():
    from transformers import BlipConfig

    from multisc.testing import hub_config

    config = BlipConfig(**hub_config("vlm_captioner"))
    assert config.text_config.num_attention_heads == 12  # transformers' default is 8


def _rename_llava(key: str) -> str:
    """transformers 5's "llava" conversion rules, read back: file name -> model name."""
    if key.startswith("language_model.model."):
        return "model.language_model." + key.removeprefix("language_model.model.")
    if key.startswith("language_model.lm_head."):
        return key.removeprefix("language_model.")
    if key.startswith("vision_tower.vision_model."):
        return "model.vision_tower." + key.removeprefix("vision_tower.vision_model.")
    if key.startswith("multi_modal_projector."):
        return "model." + key
    return key


@pytest.mark.parametrize(
    ("name", "loader", "folder", "file"),
    [
        ("captioner", "LlavaForConditionalGeneration", "", "model.safetensors"),
        ("vlm_captioner", "BlipForConditionalGeneration", "", "pytorch_model.bin"),
        ("clip", "CLIPModel", "", "pytorch_model.bin"),
        ("corrector", "BartForConditionalGeneration", "", "model.safetensors"),
        ("generator", "CLIPTextModel", "text_encoder", "model.safetensors"),
    ],
)
def test_every_tensor_of_a_tiny_stand_in_file_reaches_the_model(
    name, loader, folder, file, tiny_models
):
    import transformers

    directory = tiny_models / name / folder
    model = getattr(transformers, loader).from_pretrained(str(directory), local_files_only=True)
    state = model.state_dict()
    saved = load_state_file(directory / file)
    # buffers the old files kept and transformers 5 no longer persists: ignored on load
    dropped = {k for k in saved if k.endswith("embeddings.position_ids")}
    for key, value in saved.items():
        if key in dropped:
            continue
        assert torch.equal(state[_rename_llava(key)], value), key


def test_the_recorded_trees_are_the_pinned_ones_with_the_files_real_sizes():
    """Facts read from the pages each manifest names (2026-12-02): every Hub component is
    pinned; LLaVA's pin has the processor_config.json it needs; sizes are the files'."""
    assert all(item.revision for item in REGISTRY.values() if not item.torch_hub)
    llava = manifest("captioner")
    assert llava["commit"]["sha"] == "08647831752d66cc51831ff4f2a476de6ba2af9c"
    assert "processor_config.json" in llava["needed"]
    assert llava["files"]["processor_config.json"] == 172  # at the pin; main's fix is 169
    assert llava["configs"]["processor_config.json"]["vision_feature_select_strategy"] == "default"
    assert REGISTRY["vlm_captioner"].revision == "82a37760796d32b1411fe092ab5d4e227313294b"
    assert REGISTRY["vlm_captioner"].sha256["pytorch_model.bin"].startswith("d6638651")
    assert REGISTRY["clip"].revision == "3d74acf9a28c67741b2f4f2ea7635f0aaf6f0268"
    assert REGISTRY["clip"].sha256["pytorch_model.bin"].startswith("a63082132b")
    exact = {
        ("dists", "vgg16-397923af.pth"): 553_433_881,
        ("generator", "unet/diffusion_pytorch_model.safetensors"): 3_438_167_540,  # EMA
        ("vlm_captioner", "pytorch_model.bin"): 989_820_849,
        ("lpips", "alexnet-owt-7be5be79.pth"): 244_408_911,
    }
    for (name, file), size in exact.items():
        assert REGISTRY[name].sizes[file] == size and file in REGISTRY[name].exact_sizes


def test_a_processor_config_from_the_pinned_tree_still_captions(tiny_models):
    """The pinned processor_config.json says "default" (one image token fewer) where the
    model's config says "full": the captioner takes the model's, and captions."""
    from transformers import AutoProcessor

    from multisc.transmitter.captioning import LlavaCaptioner

    folder = tiny_models / "captioner"
    assert AutoProcessor.from_pretrained(folder).vision_feature_select_strategy == "default"
    captioner = LlavaCaptioner.from_pretrained(tiny_models, "cpu", max_new_tokens=3)
    assert captioner.processor.vision_feature_select_strategy == "full"
    from PIL import Image

    (text,) = captioner.caption([Image.new("RGB", (40, 30), (200, 30, 30))])
    assert isinstance(text, str)


def test_the_choices_are_pinned_with_the_facts_of_their_pages():
    """Facts read from the pages each new manifest names (2026-12-04), and the one source of
    truth for a pin (commit.sha; no floating revision anywhere)."""
    for name in REGISTRY:
        assert "revision" not in manifest(name), name
    llava = REGISTRY["llava-1.5-7b"]
    assert llava.revision == "95f2cf316249a98c11183f471ab76065c3e5f494"
    assert "processor_config.json" not in manifest("llava-1.5-7b")["files"]
    assert llava.checkpoint_dtype == "float16" and len(llava.weights) == 3
    assert [llava.sha256[w][:8] for w in llava.weights] == ["c11dbf01", "46df6c6e", "4f06177c"]
    assert 14.1e9 < sum(llava.sizes[w] for w in llava.weights) < 14.2e9
    from multisc.models import component_dtype

    # fp16 on a GPU, as published: 14.1 GB of weights fit a 24 GB card
    assert component_dtype("llava-1.5-7b", torch.device("cuda")) == torch.float16
    config = manifest("llava-1.5-7b")["configs"]["config.json"]
    assert (config["image_token_index"], config["pad_token_id"]) == (32000, 32001)
    assert config["tie_word_embeddings"] is False
    assert REGISTRY["smolvlm-256m"].revision == "982ff50128fdd980fce0b7d2d286824f0f6ac266"
    plus = REGISTRY["ip_adapter_plus"]
    assert plus.sizes["models/ip-adapter-plus_sd15.safetensors"] == 98_183_288
    assert plus.sha256["models/ip-adapter-plus_sd15.safetensors"].startswith("a1c250be")
    for name in ("ip_adapter", "ip_adapter_plus"):
        assert (
            REGISTRY[name].sha256["models/image_encoder/model.safetensors"].startswith("6ca9667d")
        )
    lcm = REGISTRY["lcm_lora_sd15"]
    assert lcm.revision == "cf2fced511dbe7e26c8d1d397e728fbab875db4b"
    assert lcm.sizes["pytorch_lora_weights.safetensors"] == 134_621_556
    assert lcm.sha256["pytorch_lora_weights.safetensors"].startswith("8f90d840")


def test_the_segmenters_facts_agree_with_torchvisions_own_table():
    """Each segmenter's file name, parameter count, metrics and size (torchvision's MiB)
    against the weights table of the installed torchvision."""
    from torchvision.models import segmentation

    for name, item in REGISTRY.items():
        if item.role != "segmenter":
            continue
        builder = item.loads_with.rpartition(".")[2]
        enum = next(
            w for w in vars(segmentation).values()
            if isinstance(w, type) and w.__name__.lower() == f"{builder}_weights"
        )  # fmt: skip
        weights = enum.COCO_WITH_VOC_LABELS_V1
        recorded = manifest(name)["configs"]["torchvision"]
        assert weights.url.endswith(item.repo_id) and weights.url == item.url
        assert weights.meta["num_params"] == recorded["num_params"]
        metrics = weights.meta["_metrics"]["COCO-val2017-VOC-labels"]
        assert metrics == recorded["metrics"]["COCO-val2017-VOC-labels"]
        size_mib = item.sizes[item.repo_id] / 2**20
        assert abs(size_mib - weights.meta["_file_size"]) < 0.001, name


@pytest.mark.parametrize("name", ["llava-1.5-7b", "smolvlm-256m", "lcm_lora_sd15"])
def test_full_size_choices_have_the_published_layout(name, tmp_path):
    """LLaVA-1.5-7B: llava-hf's 2024 names in three shards (the 5 GB rule puts each where
    the published ones end); SmolVLM: its own lm_head (the 513 MB file); the LCM-LoRA:
    kohya keys, 834 tensors, its data bytes to the byte."""
    from multisc.testing.files import file_bytes

    files = _captured_full(name, tmp_path)
    if name == "llava-1.5-7b":
        keys = {k for state in files.values() for k in state}
        assert any(k.startswith("language_model.model.") for k in keys)
        assert "language_model.lm_head.weight" in keys
        assert sum(file_bytes(s) for s in files.values()) == 14_126_854_144  # 7.06 B x 2
    elif name == "smolvlm-256m":
        assert "lm_head.weight" in files["model.safetensors"]
    else:
        state = files["pytorch_lora_weights.safetensors"]
        assert len(state) == 834 and all(k.startswith("lora_unet_") for k in state)
        # the published file minus its 116,544-byte header and 8-byte length
        assert file_bytes(state) == 134_621_556 - 116_544 - 8

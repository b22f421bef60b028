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
def test_torch_hub_stand_ins_are_legacy_pickles_of_the_published_size(name, tmp_path):
    item = REGISTRY[name]
    path = write_torch_hub_file(name, tmp_path / item.repo_id)
    recorded = manifest(name)["files"][item.repo_id]
    assert abs(path.stat().st_size - recorded) <= 0.01 * recorded


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

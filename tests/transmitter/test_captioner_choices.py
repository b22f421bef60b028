"""The captioner choices as their real repos are: LLaVA-1.5-7B's prompt, processor and
shards; SmolVLM's own output layer; the head check deciding on what a checkpoint held."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from PIL import Image

from multisc.errors import ModelFileError
from multisc.transmitter.captioning import (
    LlavaCaptioner,
    SmolVlmCaptioner,
    check_tied_output,
    reconcile_llava_processor,
)


def test_llava_15_prompts_as_its_chat_template_and_its_folder_is_the_pinned_tree(tiny_models):
    folder = tiny_models / "llava-1.5-7b"
    files = {p.name for p in folder.iterdir()}
    assert "processor_config.json" not in files  # the pinned tree has none
    assert {f"model-0000{i}-of-00003.safetensors" for i in (1, 2, 3)} <= files
    index = json.loads((folder / "model.safetensors.index.json").read_text())
    assert set(index["weight_map"].values()) == {
        f"model-0000{i}-of-00003.safetensors" for i in (1, 2, 3)
    }
    captioner = LlavaCaptioner.from_pretrained(
        tiny_models, "cpu", component="llava-1.5-7b", max_new_tokens=4
    )
    assert captioner._chat("Relay a brief, clear account of the picture shown.") == (
        "USER: <image>\nRelay a brief, clear account of the picture shown. ASSISTANT:"
    )
    assert captioner.processor.vision_feature_select_strategy == "default"
    assert captioner.missing_keys == ()  # its own lm_head, loaded
    (text,) = captioner.caption([Image.new("RGB", (40, 30), (10, 200, 30))])
    assert isinstance(text, str)


def test_llava_15_at_full_size_inserts_576_image_tokens_from_its_config():
    """No processor_config.json: patch 14 and the "default" strategy come from config.json;
    336 px / 14 = 24 x 24 patches, the CLS token dropped: 576 tokens, the image token 32000."""
    from multisc.testing.llava import full_llava15_config, llava15_processor

    config = full_llava15_config()
    processor = llava15_processor(336, vocab_size=32000)
    reconcile_llava_processor(config, processor, "llava-1.5-7b")
    assert (processor.patch_size, processor.num_additional_image_tokens) == (14, 1)
    text = "USER: <image>\nhi ASSISTANT:"
    batch = processor(images=[Image.new("RGB", (500, 400))], text=[text], return_tensors="pt")
    assert int((batch["input_ids"] == 32000).sum()) == 576
    assert config.text_config.tie_word_embeddings is False and config.vision_feature_layer == -2


def test_smolvlm_loads_its_own_output_layer(tiny_models):
    captioner = SmolVlmCaptioner.from_pretrained(tiny_models, "cpu", max_new_tokens=3)
    head = captioner.model.get_output_embeddings().weight
    table = captioner.model.get_input_embeddings().weight
    assert head.data_ptr() != table.data_ptr() and not torch.equal(head, table)
    assert "lm_head.weight" not in captioner.missing_keys


def test_an_output_layer_missing_from_the_checkpoint_and_untied_is_refused(tiny_models, tmp_path):
    """SmolVLM's composite config does not lift text_config.tie_word_embeddings: a
    checkpoint without lm_head loads with a random head, which the check refuses."""
    from safetensors.torch import load_file, save_file

    folder = tmp_path / "smolvlm-256m"
    shutil.copytree(tiny_models / "smolvlm-256m", folder)
    state = load_file(folder / "model.safetensors")
    del state["lm_head.weight"]
    save_file(state, folder / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(ModelFileError, match=r"'smolvlm-256m'.*not in the checkpoint"):
        SmolVlmCaptioner.from_pretrained(tmp_path, "cpu")


def test_a_model_built_here_is_checked_by_its_config(tiny_models):
    from transformers import LlavaForConditionalGeneration

    model = LlavaForConditionalGeneration.from_pretrained(tiny_models / "captioner")
    check_tied_output(model)  # tied as its text_config asks
    model.lm_head.weight = torch.nn.Parameter(model.lm_head.weight.detach().clone() + 1)
    with pytest.raises(ModelFileError, match="'captioner'"):
        check_tied_output(model)

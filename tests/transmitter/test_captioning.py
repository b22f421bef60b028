import pytest
import torch

from multisc.transmitter.blocks import split_blocks
from multisc.transmitter.captioning import PAPER_PROMPT, BlipCaptioner, LlavaCaptioner

PROMPTS = ["describe", PAPER_PROMPT, "describe the dog and the cat", "a brown dog"]


@pytest.fixture(scope="module")
def llava(tiny_models):
    return LlavaCaptioner.from_pretrained(tiny_models, device="cpu", max_new_tokens=8)


def test_llava_batched_equals_one_by_one_with_prompts_of_different_lengths(llava, photo):
    images = [block.image for block in split_blocks(photo)]
    lengths = {len(llava.processor.tokenizer(llava._chat(p))["input_ids"]) for p in PROMPTS}
    assert len(lengths) == 4  # really different lengths: left padding is exercised
    batched = llava.caption(images, PROMPTS)
    single = [
        llava.caption([image], [prompt])[0] for image, prompt in zip(images, PROMPTS, strict=True)
    ]
    assert batched == single
    assert len(set(batched)) > 1  # not a degenerate model repeating one output


def test_llava_uses_the_paper_prompt_through_the_chat_template(llava, photo):
    text = llava._chat(llava.prompt)
    assert PAPER_PROMPT in text and "<image>" in text
    captions = llava.caption([photo, photo.convert("L")])
    assert len(captions) == 2 and captions[0] == llava.caption([photo])[0]


def test_llava_batch_size_does_not_change_captions(tiny_models, photo):
    images = [block.image for block in split_blocks(photo, 2, 3)]
    a = LlavaCaptioner.from_pretrained(tiny_models, "cpu", max_new_tokens=6, batch_size=6)
    b = LlavaCaptioner.from_pretrained(tiny_models, "cpu", max_new_tokens=6, batch_size=4)
    assert a.caption(images) == b.caption(images)


def test_blip_captions_batched_equals_one_by_one(tiny_models, photo):
    blip = BlipCaptioner.from_pretrained(tiny_models, device="cpu", max_new_tokens=8)
    images = [block.image for block in split_blocks(photo)]
    batched = blip.caption(images)
    assert batched == [blip.caption([image])[0] for image in images]
    assert len(set(batched)) > 1  # the blocks differ, so do their captions


def test_a_captioner_whose_head_came_untied_is_refused_with_the_version(tiny_models):
    """Some transformers 5 releases loaded llava-interleave-qwen (no lm_head in the file,
    tie_word_embeddings only in text_config) with a random head: refused, not captioned."""
    import transformers

    from multisc.errors import ModelFileError
    from multisc.transmitter.captioning import LlavaCaptioner, check_tied_output

    model = transformers.LlavaForConditionalGeneration.from_pretrained(
        str(tiny_models / "captioner"), local_files_only=True
    )
    assert model.config.get_text_config().tie_word_embeddings
    check_tied_output(model)  # as loaded: shared storage
    head = model.get_output_embeddings()
    head.weight = torch.nn.Parameter(torch.randn_like(head.weight))  # what an affected release did
    processor = transformers.AutoProcessor.from_pretrained(str(tiny_models / "captioner"))
    with pytest.raises(ModelFileError, match=f"transformers {transformers.__version__}"):
        LlavaCaptioner(model, processor)

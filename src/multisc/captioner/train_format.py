"""Training records as the model reads them: token ids with the image tokens expanded by
the captioner's own processor, labels that score only what the model should learn to
write, and the image's pixels.

Two styles, as LLaVA trains:

- ``plain`` (stage 1, the projector alone): the image tokens, then the caption and the end
  token; the loss is on the caption and the end token only.
- ``chat`` (stage 2, LoRA, full): the conversation through the processor's chat template;
  the loss is on the assistant turns only (each from the generation prompt's end to the
  turn's end token), never on the user's turns or the image tokens.

Labels of positions not scored are ``-100`` (what transformers' loss ignores).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from multisc.captioner.train_data import IMAGE_MARK, Record
from multisc.errors import InvalidInputError

IGNORE = -100
STYLES = ("plain", "chat")


@dataclass
class Example:
    """One record, tokenized: ``input_ids`` and ``labels`` (1-D, same length) and its
    image's ``pixel_values`` (``(1, 3, H, W)``, or ``None`` for a text-only record)."""

    input_ids: torch.Tensor
    labels: torch.Tensor
    pixel_values: torch.Tensor | None

    @property
    def scored(self) -> int:
        """Tokens the loss counts."""
        return int((self.labels != IGNORE).sum())


def _messages(turns) -> list[dict]:
    """LLaVA turns as the chat template's messages (``<image>`` becomes an image item)."""
    out = []
    for role, text in turns:
        if role == "human":
            content: list[dict] = []
            if IMAGE_MARK in text:
                content.append({"type": "image"})
                text = text.replace(IMAGE_MARK, "").strip()
            content.append({"type": "text", "text": text})
            out.append({"role": "user", "content": content})
        else:
            out.append({"role": "assistant", "content": [{"type": "text", "text": text}]})
    return out


class Formatter:
    """Turns [Record][multisc.captioner.train_data.Record]s into
    [Example][multisc.captioner.train_format.Example]s with a captioner's processor.

    :param processor: the captioner's processor (tokenizer, image processor, chat template).
    :param style: ``plain`` or ``chat`` (see the module).
    :param max_length: tokens kept per example (cut at the end; the image's tokens must
        fit whole).
    """

    def __init__(self, processor, style: str = "chat", max_length: int = 2048) -> None:
        if style not in STYLES:
            raise InvalidInputError(f"style must be plain or chat, got {style!r}")
        self.processor = processor
        self.style = style
        self.max_length = int(max_length)
        self.tokenizer = processor.tokenizer

    def _ids(self, text: str, image) -> tuple[torch.Tensor, torch.Tensor | None]:
        if image is None:
            ids = self.tokenizer(text, add_special_tokens=False, return_tensors="pt")
            return ids["input_ids"][0], None
        batch = self.processor(images=[image], text=[text], return_tensors="pt")
        return batch["input_ids"][0], batch["pixel_values"]

    def __call__(self, record: Record) -> Example:
        from multisc.imaging import open_image_file, to_rgb

        image = to_rgb(open_image_file(record.image)) if record.image is not None else None
        if self.style == "plain" and image is not None:
            mark = getattr(self.processor, "image_token", IMAGE_MARK)
            prefix = f"{mark}\n"
            caption = next(text for role, text in record.turns if role == "gpt").strip()
            ids, pixels = self._ids(prefix + caption + self.tokenizer.eos_token, image)
            scored = [(len(self._ids(prefix, image)[0]), len(ids))]
        else:
            messages = _messages(record.turns)
            template = self.processor.apply_chat_template
            ids, pixels = self._ids(template(messages), image)
            scored = []
            for i in range(1, len(messages), 2):  # each assistant turn
                before = self._ids(template(messages[:i], add_generation_prompt=True), image)[0]
                after = self._ids(template(messages[: i + 1]), image)[0]
                if not torch.equal(ids[: len(before)], before):
                    raise InvalidInputError(
                        f"record {record.number}: the chat template's prefix tokenizes "
                        "differently inside the conversation; the loss mask cannot be placed"
                    )
                scored.append((len(before), len(after)))
        labels = torch.full_like(ids, IGNORE)
        for start, end in scored:
            labels[start:end] = ids[start:end]
        image_id = getattr(self.processor, "image_token_id", None)
        cut = ids[self.max_length :]
        if image_id is not None and len(cut) and bool((cut == image_id).any()):
            raise InvalidInputError(
                f"record {record.number}: its image tokens do not fit in {self.max_length} "
                "tokens (--max-length)"
            )
        return Example(ids[: self.max_length], labels[: self.max_length], pixels)


def collate(examples: list[Example], pad_id: int) -> dict[str, torch.Tensor]:
    """A micro-batch: ids and labels padded on the right (``pad_id``, ``-100``), the
    attention mask, and the pixels of the examples that have an image, in order."""
    length = max(len(e.input_ids) for e in examples)
    ids = torch.full((len(examples), length), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), length), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(examples), length), dtype=torch.long)
    for row, example in enumerate(examples):
        n = len(example.input_ids)
        ids[row, :n], labels[row, :n], mask[row, :n] = example.input_ids, example.labels, 1
    batch = {"input_ids": ids, "labels": labels, "attention_mask": mask}
    pixels = [e.pixel_values for e in examples if e.pixel_values is not None]
    if pixels:
        batch["pixel_values"] = torch.cat(pixels)
    return batch

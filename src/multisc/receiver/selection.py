"""Choosing among K candidate images at the receiver (beyond the paper: ``candidates: K``).

A diffusion receiver can draw K images and keep the one that best agrees with what it
received. It never sees the original image: each candidate is scored against

- ``text``: the fused received text, by CLIP image-text cosine similarity (the metrics'
  CLIP, component ``clip``; its tokenizer files come with ``multisc models pull clip``);
- ``slice``: the received noisy slice, in the slice's box: the candidate's crop of that box
  and the received slice, both downsampled to the size the slice was sent at, compared
  as negative mean squared error over the object's pixels (those the smoothed received
  slice does not leave black: the slice's background is sent as zeros);
- ``text+slice``: both, each standardized over the K candidates, summed.

The box (4 x 16 bits) travels with the slice when a slice score is used, and is counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageFilter

from multisc.errors import InvalidInputError, ModelNotAvailableError
from multisc.imaging import to_tensor
from multisc.metrics.image import ClipImageCosine
from multisc.models import load_pretrained

SELECTIONS = ("text", "slice", "text+slice")
#: bits of the slice's box (left, top, right, bottom as 16-bit integers)
BOX_BITS = 64
#: received slice pixels darker than this (after a 3x3 mean) count as its zeroed background
_BACKGROUND = 0.05


class ClipTextImage(ClipImageCosine):
    """CLIP image-text cosine similarity (component ``clip``: the metrics' ``CLIPModel``
    and image processor, and its tokenizer)."""

    def __init__(self, device: torch.device | str = "cpu", models_dir: str | Path | None = None):
        from transformers import CLIPTokenizerFast

        super().__init__(device, models_dir)
        try:
            self.tokenizer = load_pretrained("clip", CLIPTokenizerFast.from_pretrained, models_dir)
        except Exception as exc:  # an older download holds no tokenizer files
            raise ModelNotAvailableError(
                f"selecting candidates by text needs CLIP's tokenizer ({exc}); run `multisc "
                "models pull clip` to fetch its tokenizer files, or use select: slice"
            ) from exc

    @torch.no_grad()
    def scores(self, images: Sequence[Image.Image], texts: Sequence[str]) -> list[float]:
        """Cosine similarity of each image with its text (images of one size, as many as
        texts)."""
        image = self.embed(torch.stack([to_tensor(i.convert("RGB")) for i in images]))
        tokens = self.tokenizer(
            list(texts), padding=True, truncation=True, max_length=77, return_tensors="pt"
        ).to(self.device)
        features = self.model.get_text_features(**tokens)
        if not isinstance(features, torch.Tensor):  # transformers 5: an output object
            features = features.pooler_output
        text = features.float()
        text = text / text.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        return (image.to(text.device) * text).sum(-1).cpu().tolist()


def slice_score(
    candidate: Image.Image,
    received: Image.Image,
    box: tuple[int, int, int, int],
    sent_size: tuple[int, int],
) -> float:
    """Negative MSE (pixel values in [0, 1]) between ``candidate``'s crop of ``box`` and the
    ``received`` slice, both at ``sent_size`` (what the slice link sent), over the object's
    pixels (see the module doc). Higher is better; 0 is a perfect match."""
    left, top, right, bottom = box
    if right <= left or bottom <= top:
        raise InvalidInputError(f"slice box {box} is empty")
    crop = candidate.convert("RGB").crop(box).resize(sent_size, Image.Resampling.LANCZOS)
    got = received.convert("RGB").resize(sent_size, Image.Resampling.LANCZOS)
    a = np.asarray(crop, dtype=np.float64) / 255.0
    b = np.asarray(got, dtype=np.float64) / 255.0
    smooth = np.asarray(got.filter(ImageFilter.BoxBlur(1)), dtype=np.float64).mean(-1) / 255.0
    mask = smooth > _BACKGROUND
    if not mask.any():
        mask = np.ones_like(mask)
    return -float(((a - b) ** 2)[mask].mean())


def _standardized(values: Sequence[float]) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    spread = array.std()
    return (array - array.mean()) / spread if spread > 0 else np.zeros_like(array)


def choose(scores: dict[str, Sequence[float]], select: str) -> int:
    """The index of the best candidate under ``select`` from each candidate's ``scores``
    (``{"text": [...], "slice": [...]}``); ties go to the lowest index (candidate 0 is the
    paper's single draw)."""
    if select not in SELECTIONS:
        raise InvalidInputError(f"select {select!r} is not one of {', '.join(SELECTIONS)}")
    if select == "text+slice":
        total = _standardized(scores["text"]) + _standardized(scores["slice"])
    else:
        total = np.asarray(scores[select], dtype=float)
    return int(np.argmax(total))  # argmax keeps the first of equal values


def send_box(link, box: tuple[int, int, int, int], spec, generator: torch.Generator):
    """The slice's box as 4 big-endian 16-bit integers (64 bits) over ``link`` (a
    ``DigitalLink``) at ``spec``; the link's transmission result."""
    import struct

    payload = struct.pack(">4H", *(min(max(int(v), 0), 65535) for v in box))
    (out,) = link.send_payloads([payload], spec, generator)
    return out


def received_box(box_out, size: tuple[int, int]) -> tuple[int, int, int, int] | None:
    """The box as received (bit errors move it), clipped to the image of ``size`` (width,
    height); ``None`` when nothing of it is left."""
    import struct

    left, top, right, bottom = struct.unpack(">4H", box_out.received)
    left, right = sorted((min(left, size[0]), min(right, size[0])))
    top, bottom = sorted((min(top, size[1]), min(bottom, size[1])))
    return (left, top, right, bottom) if right > left and bottom > top else None


def candidate_generator(seed: int, index: int) -> torch.Generator:
    """The diffusion generator of candidate ``index`` >= 1 of a condition whose seed is
    ``seed`` (candidate 0 uses the condition's own:
    [generators_for][multisc.schemes.base.generators_for])."""
    import hashlib

    key = f"{seed}:candidate:{index}".encode()
    return torch.Generator().manual_seed(
        int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big") >> 2
    )

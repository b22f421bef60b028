"""Deep JSCC as an end-to-end scheme: a trained checkpoint at its bandwidth ratio."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from PIL import Image

from multisc.channel import ChannelSpec
from multisc.codecs.jscc import DOWNSAMPLE, DeepJSCC, parse_ratio
from multisc.imaging import to_image, to_tensor
from multisc.schemes.base import (
    Budget,
    Reconstruction,
    budget_channel_uses,
    channel_seeds,
    generators_for,
    working_image,
)


@dataclass(frozen=True)
class JsccPrepared:
    """The working image and the size it is sent at (smaller when a budget asks for it)."""

    reference: Image.Image
    send_size: tuple[int, int]
    channel_uses: int


def size_for_budget(width: int, height: int, ratio, channel_uses: int) -> tuple[int, int]:
    """The transmitted size (multiples of 4) whose channel uses come closest to
    ``channel_uses`` without exceeding the native size, aspect ratio within ~10%.

    A model's ratio k/n is fixed, so a budget is met by sending a resized image (the
    receiver upsamples): uses = k/n · w · h · 3.
    """
    native = math.ceil(width / DOWNSAMPLE) * DOWNSAMPLE, math.ceil(height / DOWNSAMPLE) * DOWNSAMPLE
    per_pixel = float(ratio) * 3
    if channel_uses >= per_pixel * native[0] * native[1]:
        return native
    target_area = channel_uses / per_pixel
    aspect = width / height
    best, best_error = (DOWNSAMPLE, DOWNSAMPLE), math.inf
    w = DOWNSAMPLE
    while w <= native[0]:
        h_exact = target_area / w
        for h in {
            max(DOWNSAMPLE, math.floor(h_exact / 4) * 4),
            max(DOWNSAMPLE, math.ceil(h_exact / 4) * 4),
        }:
            if h > native[1] or abs(math.log((w / h) / aspect)) > 0.1:
                continue
            error = abs(w * h - target_area)
            if error < best_error:
                best, best_error = (w, h), error
        w += DOWNSAMPLE
    return best


class DeepJsccScheme:
    """Images through a trained :class:`~multisc.codecs.jscc.DeepJSCC`.

    :param budget: optional channel uses per image (see :mod:`multisc.schemes.base`); the
        image is then sent at the size whose channel uses match it (within ~1%), and the
        reconstruction upsampled. Without a budget, images go at their own size and the
        checkpoint's ratio.
    """

    name = "deep_jscc"

    def __init__(self, model: DeepJSCC, budget: Budget | None = None) -> None:
        self.model = model.eval()
        self.budget = budget
        self.ratio = parse_ratio(model.config.ratio)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def _uses(self, size: tuple[int, int]) -> int:
        w, h = (math.ceil(v / DOWNSAMPLE) * DOWNSAMPLE for v in size)
        return int(self.model.config.channels * (w // DOWNSAMPLE) * (h // DOWNSAMPLE) / 2)

    def prepare(self, image) -> JsccPrepared:
        reference = working_image(image)
        size = reference.size
        if self.budget is not None:
            uses = budget_channel_uses(self.budget, reference)
            size = size_for_budget(reference.width, reference.height, self.ratio, uses)
            if size == tuple(math.ceil(v / DOWNSAMPLE) * DOWNSAMPLE for v in reference.size):
                size = reference.size
        return JsccPrepared(reference, size, self._uses(size))

    @torch.no_grad()
    def transmit(
        self, prepared: JsccPrepared, channels: Sequence[ChannelSpec], generator: torch.Generator
    ) -> list[Reconstruction]:
        reference = prepared.reference
        sent = (
            reference
            if prepared.send_size == reference.size
            else reference.resize(prepared.send_size, Image.Resampling.LANCZOS)
        )
        x = to_tensor(sent)[None].to(self.device)
        out = []
        for spec, seed in zip(channels, channel_seeds(generator, channels), strict=True):
            channel_generator, _ = generators_for(seed, self.device)
            started = time.perf_counter()
            x_hat, uses = self.model(x, spec, channel_generator)
            image = to_image(x_hat[0])
            if image.size != reference.size:
                image = image.resize(reference.size, Image.Resampling.BICUBIC)
            out.append(
                Reconstruction(
                    image=image,
                    spec=spec,
                    channel_uses=uses,
                    timings={"channel": time.perf_counter() - started},
                    details={
                        "ratio": str(self.ratio),
                        "sent_size": list(prepared.send_size),
                        "train_snr_db": self.model.config.train_snr_db,
                    },
                )
            )
        return out

"""How the main-object slice travels: analog (the paper's noisy slice), deep JSCC, or
HEVC + LDPC. Each link encodes once (SNR-independent) and sends per channel condition."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from PIL import Image

from multisc.channel import AnalogLink, ChannelSpec, DigitalLink
from multisc.codecs import hevc
from multisc.codecs.jscc import DeepJSCC
from multisc.errors import DecodeFailure, InvalidInputError
from multisc.imaging import to_image, to_tensor


@dataclass(frozen=True)
class SliceReceived:
    """The slice as received: ``None`` when it was lost (a failed digital decode)."""

    image: Image.Image | None
    channel_uses: int
    bits: int = 0
    pilot_uses: int = 0


class SliceLink(Protocol):
    name: str

    def encode(self, image: Image.Image) -> Any: ...

    def channel_uses(self, payload: Any) -> int: ...

    def send(
        self, payload: Any, spec: ChannelSpec, generator: torch.Generator
    ) -> SliceReceived: ...


def _shrink(image: Image.Image, factor: int) -> Image.Image:
    if factor == 1:
        return image
    size = (max(1, round(image.width / factor)), max(1, round(image.height / factor)))
    return image.resize(size, Image.Resampling.LANCZOS)


@dataclass(frozen=True)
class SlicePayload:
    """A slice ready to send: the (downsampled) image and the size to restore."""

    image: Image.Image
    size: tuple[int, int]
    stream: bytes | None = None


class AnalogSlice:
    """The paper's noisy slice: pixels as analog symbols
    ([AnalogLink][multisc.channel.analog.AnalogLink]), after
    downsampling by ``downsample`` (1 = full resolution); the receiver upsamples back."""

    name = "analog"

    def __init__(self, downsample: int = 4) -> None:
        if int(downsample) < 1:
            raise InvalidInputError(f"slice downsampling factor must be >= 1, got {downsample}")
        self.downsample = int(downsample)
        self.link = AnalogLink()

    def encode(self, image: Image.Image) -> SlicePayload:
        return SlicePayload(_shrink(image, self.downsample), image.size)

    def channel_uses(self, payload: SlicePayload) -> int:
        return math.ceil(payload.image.width * payload.image.height * 3 / 2) + 1

    def send(
        self, payload: SlicePayload, spec: ChannelSpec, generator: torch.Generator
    ) -> SliceReceived:
        x = to_tensor(payload.image)[None].to(generator.device)
        out = self.link.send(x, spec, generator)
        received = to_image(out.received[0].clamp(0, 1))
        if received.size != payload.size:
            received = received.resize(payload.size, Image.Resampling.BICUBIC)
        return SliceReceived(received, out.channel_uses, pilot_uses=out.pilot_uses)


class JsccSlice:
    """The slice through a trained deep JSCC model (at its bandwidth ratio)."""

    name = "jscc"

    def __init__(self, model: DeepJSCC, downsample: int = 1) -> None:
        self.model = model.eval()
        self.downsample = int(downsample)

    def encode(self, image: Image.Image) -> SlicePayload:
        return SlicePayload(_shrink(image, self.downsample), image.size)

    def channel_uses(self, payload: SlicePayload) -> int:
        w, h = (math.ceil(v / 4) * 4 for v in payload.image.size)
        return int(self.model.config.channels * (w // 4) * (h // 4) / 2)

    @torch.no_grad()
    def send(
        self, payload: SlicePayload, spec: ChannelSpec, generator: torch.Generator
    ) -> SliceReceived:
        device = next(self.model.parameters()).device
        x = to_tensor(payload.image)[None].to(device)
        x_hat, uses = self.model(x, spec, generator)
        received = to_image(x_hat[0])
        if received.size != payload.size:
            received = received.resize(payload.size, Image.Resampling.BICUBIC)
        return SliceReceived(received, uses)


class HevcLdpcSlice:
    """The slice as an HEVC stream over a digital link (LDPC + QAM); any bit error loses it."""

    name = "hevc-ldpc"

    def __init__(self, link: DigitalLink, quality: int = 30) -> None:
        self.link = link
        self.quality = int(quality)

    def encode(self, image: Image.Image) -> SlicePayload:
        return SlicePayload(image, image.size, hevc.encode(image, self.quality))

    def channel_uses(self, payload: SlicePayload) -> int:
        return self.link.channel_uses(8 * len(payload.stream or b""))

    def send(
        self, payload: SlicePayload, spec: ChannelSpec, generator: torch.Generator
    ) -> SliceReceived:
        stream = payload.stream or b""
        (out,) = self.link.send_payloads([stream], spec, generator)
        if out.bit_errors:
            return SliceReceived(None, out.channel_uses, out.bits, out.pilot_uses)
        try:  # intact stream (every bit checked): safe to decode in this process
            image = hevc.decode(out.received, isolate=False)
        except DecodeFailure:
            return SliceReceived(None, out.channel_uses, out.bits, out.pilot_uses)
        return SliceReceived(image, out.channel_uses, out.bits, out.pilot_uses)

"""Deep JSCC as an end-to-end scheme: trained checkpoints, one per bandwidth ratio; a
budget picks the one whose ratio fits."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import torch
from PIL import Image

from multisc.channel import ChannelSpec
from multisc.codecs.jscc import DOWNSAMPLE, DeepJSCC, parse_ratio
from multisc.errors import BudgetTooSmallError, InvalidInputError
from multisc.imaging import to_image, to_tensor
from multisc.schemes.base import (
    Budget,
    Reconstruction,
    Scheme,
    budget_channel_uses,
    budget_reference,
    channel_seeds,
    generators_for,
    working_image,
)

#: a ratio is used when it sends at least this share of the image's area
AREA_KEPT = 0.9


@dataclass(frozen=True)
class JsccPrepared:
    """The working image, the checkpoint's ratio, and the size it is sent at (smaller only
    when the budget is below what the lowest ratio spends on the whole image)."""

    reference: Image.Image
    send_size: tuple[int, int]
    channel_uses: int
    ratio: str = ""
    #: the budget it was prepared under (channel uses; None: no budget)
    budget_channel_uses: int | None = None


def _uses(ratio: Fraction, size: tuple[int, int]) -> int:
    """Complex symbols deep JSCC at ``ratio`` spends on an image of ``size`` (padded to
    multiples of 4): k/n · w · h · 3."""
    w, h = (math.ceil(v / DOWNSAMPLE) * DOWNSAMPLE for v in size)
    return int(ratio * w * h * 3)


def size_for_budget(width: int, height: int, ratio, channel_uses: int) -> tuple[int, int]:
    """The transmitted size (multiples of 4) whose channel uses come closest to
    ``channel_uses`` without exceeding it or the native size, aspect ratio within ~10%
    (the closest aspect for the smallest sizes).

    A model's ratio k/n is fixed, so a budget is met by sending a resized image (the
    receiver upsamples): uses = k/n · w · h · 3.

    :raises BudgetTooSmallError: not even a 4x4 image fits ``channel_uses``.
    """
    ratio = Fraction(ratio)
    native = tuple(math.ceil(v / DOWNSAMPLE) * DOWNSAMPLE for v in (width, height))
    if _uses(ratio, native) <= channel_uses:
        return native  # type: ignore[return-value]
    smallest = _uses(ratio, (DOWNSAMPLE, DOWNSAMPLE))
    if smallest > channel_uses:
        raise BudgetTooSmallError(
            f"deep JSCC cannot meet a budget of {channel_uses} channel uses: even a "
            f"{DOWNSAMPLE}x{DOWNSAMPLE} image at its lowest ratio {ratio} takes {smallest}; "
            f"give it a budget of at least {smallest} channel uses"
        )
    target_area = channel_uses / (float(ratio) * 3)
    aspect = width / height
    best, best_key = (DOWNSAMPLE, DOWNSAMPLE), (math.inf, math.inf)
    for w in range(DOWNSAMPLE, native[0] + 1, DOWNSAMPLE):
        h_exact = target_area / w
        for h in {
            max(DOWNSAMPLE, math.floor(h_exact / 4) * 4),
            max(DOWNSAMPLE, math.ceil(h_exact / 4) * 4),
        }:
            if h > native[1] or _uses(ratio, (w, h)) > channel_uses:
                continue
            skew = abs(math.log((w / h) / aspect))
            # within ~10% of the aspect, the area closest to the budget wins; beyond it
            # (only tiny budgets leave no choice) the closest aspect does
            key = (0.0, target_area - w * h) if skew <= 0.1 else (skew, target_area - w * h)
            if key < best_key:
                best, best_key = (w, h), key
    return best


class DeepJsccScheme(Scheme):
    """Images through trained [DeepJSCC][multisc.codecs.jscc.DeepJSCC] models.

    :param models: one checkpoint, or several of different bandwidth ratios (the shipped
        set: 1/6, 1/12, 1/24, 1/48).
    :param budget: optional channel uses per image (see
    [multisc.schemes.base][multisc.schemes.base]). Each
        image goes through the checkpoint with the highest ratio whose channel uses on the
        whole image (or at least 90% of its area) fit the budget; only when even the lowest
        ratio does not fit is the image sent smaller (channel uses never above the budget)
        and the reconstruction upsampled. Without a budget: the highest ratio, at the
        image's own size.
    """

    name = "deep_jscc"

    def __init__(self, models: DeepJSCC | Sequence[DeepJSCC], budget: Budget | None = None) -> None:
        models = [models] if isinstance(models, DeepJSCC) else list(models)
        if not models:
            raise InvalidInputError("deep JSCC needs at least one checkpoint")
        self.models = {str(parse_ratio(m.config.ratio)): m.eval() for m in models}
        if len(self.models) != len(models):
            raise InvalidInputError(
                "deep JSCC checkpoints must differ in ratio: two have the same "
                f"({', '.join(m.config.ratio for m in models)})"
            )
        fadings = {m.config.fading for m in models}
        if len(fadings) > 1:
            raise InvalidInputError(
                f"deep JSCC checkpoints for one run share one channel, got {sorted(fadings)}"
            )
        #: highest ratio first
        self.ratios = sorted((Fraction(r) for r in self.models), reverse=True)
        self.budget = budget

    @property
    def model(self) -> DeepJSCC:
        """The highest-ratio model."""
        return self.models[str(self.ratios[0])]

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def choose(self, size: tuple[int, int], channel_uses: int | None) -> tuple[Fraction, tuple]:
        """(ratio, sent size) for an image of ``size`` under ``channel_uses``: the highest
        ratio that sends the whole image, or nearly (at least ``AREA_KEPT`` of its
        area: padding to multiples of 4 can push a ratio just over the budget); below the
        lowest ratio, the lowest ratio at whatever size fits."""
        if channel_uses is None:
            return self.ratios[0], size
        for ratio in self.ratios:
            if _uses(ratio, size) <= channel_uses:
                return ratio, size
            try:
                sent = size_for_budget(size[0], size[1], ratio, channel_uses)
            except BudgetTooSmallError:
                continue
            if sent[0] * sent[1] >= AREA_KEPT * size[0] * size[1]:
                return ratio, sent
        lowest = self.ratios[-1]
        return lowest, size_for_budget(size[0], size[1], lowest, channel_uses)

    def budget_reference(self) -> Scheme | None:
        return budget_reference(self.budget)

    def prepare(self, image) -> JsccPrepared:
        reference = working_image(image)
        uses = None if self.budget is None else budget_channel_uses(self.budget, reference)
        ratio, size = self.choose(reference.size, uses)
        if size == tuple(math.ceil(v / DOWNSAMPLE) * DOWNSAMPLE for v in reference.size):
            size = reference.size
        return JsccPrepared(reference, tuple(size), _uses(ratio, size), str(ratio), uses)

    def cached_problem(self, prepared, image) -> str | None:
        """Besides the reference: the whole prepare is arithmetic on the image's size and
        the budget, so it is made again and must be equal (a crafted ``channel_uses: 1``
        or another ratio is refused)."""
        problem = super().cached_problem(prepared, image)
        if problem is not None:
            return problem
        if not isinstance(prepared, JsccPrepared):
            return "it is not a deep JSCC prepare"
        fresh = self.prepare(image)
        for name in ("send_size", "channel_uses", "ratio", "budget_channel_uses"):
            if getattr(prepared, name) != getattr(fresh, name):
                return f"its {name} is {getattr(prepared, name)!r}, not {getattr(fresh, name)!r}"
        return None

    def plan_for(self, prepared: JsccPrepared, spec: ChannelSpec) -> tuple[str, tuple[int, int]]:
        """(ratio, sent size) over ``spec``. Over NR the budget is resource elements, DMRS
        and slot padding included: the symbols get the data REs of the whole slots the
        budget holds (at least one), and the ratio and size are chosen for those."""
        if spec.nr is None or prepared.budget_channel_uses is None:
            return prepared.ratio or str(self.ratios[0]), prepared.send_size
        from multisc.channel import nr_mcs

        grid = nr_mcs.grid_link(spec.nr, str(self.device))
        slots = max(prepared.budget_channel_uses // grid.res_per_slot, 1)
        ratio, size = self.choose(prepared.reference.size, slots * grid.data_res_per_slot)
        padded = tuple(math.ceil(v / DOWNSAMPLE) * DOWNSAMPLE for v in prepared.reference.size)
        return str(ratio), prepared.reference.size if size == padded else tuple(size)

    @torch.no_grad()
    def transmit(
        self, prepared: JsccPrepared, channels: Sequence[ChannelSpec], generator: torch.Generator
    ) -> list[Reconstruction]:
        reference = prepared.reference
        inputs: dict[tuple[int, int], torch.Tensor] = {}
        out = []
        for spec, seed in zip(channels, channel_seeds(generator, channels), strict=True):
            ratio, send_size = self.plan_for(prepared, spec)
            model = self.models.get(ratio)
            if model is None:
                raise InvalidInputError(
                    f"this image was prepared for ratio {ratio}, which no loaded "
                    f"checkpoint has ({', '.join(map(str, self.ratios))})"
                )
            if send_size not in inputs:
                sent = (
                    reference
                    if send_size == reference.size
                    else reference.resize(send_size, Image.Resampling.LANCZOS)
                )
                inputs[send_size] = to_tensor(sent)[None].to(self.device)
            channel_generator, _ = generators_for(seed, self.device)
            started = time.perf_counter()
            x_hat, sent_symbols = model.send(inputs[send_size], spec, channel_generator)
            image = to_image(x_hat[0])
            if image.size != reference.size:
                image = image.resize(reference.size, Image.Resampling.BICUBIC)
            snr = model.config.train_snr_db
            out.append(
                Reconstruction(
                    image=image,
                    spec=spec,
                    channel_uses=sent_symbols.channel_uses,
                    pilot_uses=sent_symbols.pilot_uses,
                    link_uses={"jscc": sent_symbols.channel_uses},
                    timings={"channel": time.perf_counter() - started},
                    details={
                        "ratio": str(parse_ratio(model.config.ratio)),
                        "sent_size": list(send_size),
                        "train_snr_db": list(snr) if isinstance(snr, tuple) else snr,
                    },
                )
            )
        return out

"""BPG-LDPC: HEVC intra at the highest quality that fits the budget, 5G LDPC, QAM."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from PIL import Image

from multisc.channel import ChannelSpec, DigitalLink
from multisc.codecs import hevc
from multisc.devices import resolve_device
from multisc.errors import BudgetTooSmallError, InvalidInputError
from multisc.schemes import mcs as mcs_table
from multisc.schemes.base import (
    Budget,
    Reconstruction,
    Scheme,
    budget_channel_uses,
    budget_reference,
    channel_seeds,
    failure_image,
    generators_for,
    working_image,
)
from multisc.schemes.options import DEFAULT_FAILURE_COLOR

MIN_SIDE = 16  # smallest downscaled image tried when even HEVC quality 0 does not fit


@dataclass(frozen=True)
class Encoding:
    """An HEVC stream for one bit budget: quality, and the downscaling it needed."""

    stream: bytes
    quality: int
    scale: float


@dataclass
class BpgPrepared:
    """The working image, its channel-use budget, and the streams encoded so far (one
    per bit budget, i.e. per MCS; filled lazily, so only the MCS used are encoded)."""

    reference: Image.Image
    budget_channel_uses: int
    encodings: dict[int, Encoding | None] = field(default_factory=dict)


class BpgLdpcScheme(Scheme):
    """HEVC intra (BPG's codec) + 5G LDPC + QAM.

    :param budget: channel uses per image (a count, a ratio K/N of H·W·3, or a function of
        the image, e.g. what multisc spends on it). The scheme is charged its whole budget,
        padding included: that is the bandwidth it was given.
    :param modulation, code_rate: the MCS, or ``mcs="auto"`` to choose one per SNR from
        measured decoding thresholds (see ``multisc.schemes.mcs``).
    :param failure_color: the image shown when decoding fails (any bit error: an ideal
        CRC detects it); default the ImageNet mean colour, the same in every run (a row's score
        depends on its own image, seed and settings only).

    When even the lowest HEVC quality does not fit the budget, the image is downscaled
    (by 0.8 steps) until it does, and the decoded image is upscaled back: what a BPG user
    would do rather than send nothing.
    """

    name = "bpg_ldpc"

    def __init__(
        self,
        budget: Budget,
        modulation: str = "qpsk",
        code_rate: float = 0.5,
        mcs: str = "fixed",
        failure_color: tuple[int, int, int] = DEFAULT_FAILURE_COLOR,
        chroma: str = "420",
        device: str | torch.device | None = None,
    ) -> None:
        if mcs not in ("fixed", "auto"):
            raise InvalidInputError(f"mcs must be 'fixed' or 'auto', got {mcs!r}")
        self.budget = budget
        self.mcs_mode = mcs
        self.fixed = mcs_table.Mcs(modulation, float(code_rate))
        self.failure_color = tuple(failure_color)
        self.chroma = chroma
        self.device = resolve_device(device)
        self._links: dict[mcs_table.Mcs, DigitalLink] = {}
        self._thresholds: dict[tuple[str, int, mcs_table.Mcs], dict[str, float]] = {}
        self.link(self.fixed)  # validates modulation and code rate now

    def link(self, choice: mcs_table.Mcs) -> DigitalLink:
        if choice not in self._links:
            self._links[choice] = DigitalLink(
                choice.modulation, "ldpc", choice.code_rate, device=self.device
            )
        return self._links[choice]

    def budget_reference(self) -> Scheme | None:
        return budget_reference(self.budget)

    def prepare(self, image) -> BpgPrepared:
        reference = working_image(image)
        prepared = BpgPrepared(reference, budget_channel_uses(self.budget, reference))
        if self.mcs_mode == "fixed":
            self._encoding(prepared, self.max_bits(prepared.budget_channel_uses, self.fixed))
        return prepared

    def cached_problem(self, prepared, image) -> str | None:
        """Besides the reference: the budget is recomputed, and each cached stream must be
        exactly what the encoder makes of the image at its recorded quality and scale
        (x265 is deterministic; one encode, a tenth of the quality search it saves), within
        its bit budget; a cached "nothing fits" is searched again."""
        problem = super().cached_problem(prepared, image)
        if problem is not None:
            return problem
        if not isinstance(prepared, BpgPrepared):
            return "it is not a BPG-LDPC prepare"
        budget = budget_channel_uses(self.budget, prepared.reference)
        if prepared.budget_channel_uses != budget:
            return f"its budget is {prepared.budget_channel_uses!r} channel uses, not {budget}"
        for max_bits, encoding in prepared.encodings.items():
            if encoding is None:
                if self._encode_fitting(prepared.reference, max_bits) is not None:
                    return f"it says nothing fits {max_bits} bits, but a stream does"
                continue
            if not isinstance(encoding, Encoding) or len(encoding.stream) * 8 > max_bits:
                return f"its stream for {max_bits} bits does not fit them"
            current = prepared.reference
            if encoding.scale != 1.0:
                size = (
                    round(current.width * encoding.scale),
                    round(current.height * encoding.scale),
                )
                current = current.resize(size, Image.Resampling.LANCZOS)
            expected = hevc.encode(current, encoding.quality, self.chroma)
            if expected != encoding.stream:
                return (
                    f"its stream for {max_bits} bits is not this image's at quality "
                    f"{encoding.quality}"
                )
        return None

    def max_bits(self, channel_uses: int, choice: mcs_table.Mcs) -> int:
        """The most payload bits (whole bytes) whose codewords fit ``channel_uses``."""
        link = self.link(choice)
        bits = int(channel_uses * choice.efficiency) // 8 * 8
        while bits > 0 and link.channel_uses(bits) > channel_uses:
            bits -= 8
        return bits

    def _encoding(self, prepared: BpgPrepared, max_bits: int) -> Encoding | None:
        if max_bits not in prepared.encodings:
            prepared.encodings[max_bits] = self._encode_fitting(prepared.reference, max_bits)
        return prepared.encodings[max_bits]

    def _encode_fitting(self, image: Image.Image, max_bits: int) -> Encoding | None:
        scale, current = 1.0, image
        while True:
            try:
                stream, quality = hevc.encode_within(current, max_bits, self.chroma)
                return Encoding(stream, quality, scale)
            except BudgetTooSmallError:
                scale *= 0.8
                size = (round(image.width * scale), round(image.height * scale))
                if min(size) < MIN_SIDE:
                    return None  # nothing fits: every transmission fails
                current = image.resize(size, Image.Resampling.LANCZOS)

    def codeword_bits(self, channel_uses: int, choice: mcs_table.Mcs) -> int:
        """Information bits per codeword when ``choice`` fills ``channel_uses``."""
        return self.link(choice).layout(self.max_bits(channel_uses, choice)).info_bits

    def choose(self, spec: ChannelSpec, channel_uses: int) -> mcs_table.Mcs:
        """The MCS for ``spec``: fixed, or (``auto``) the most efficient one whose decoding
        threshold, measured at the codeword size it would send, the SNR clears."""
        if self.mcs_mode == "fixed":
            return self.fixed
        table = {}
        for choice in mcs_table.ALL_MCS:
            block = mcs_table.block_size_class(self.codeword_bits(channel_uses, choice))
            key = (spec.fading, block, choice)
            if key not in self._thresholds:  # read (or measured) once per scheme, not per SNR
                self._thresholds[key] = mcs_table.thresholds(spec.fading, block, mcs=(choice,))
            table.update(self._thresholds[key])
        return mcs_table.choose_mcs(spec.snr_db, table)

    def _plan_nr(
        self, spec: ChannelSpec, budget: int
    ) -> tuple[int, dict, DigitalLink, ChannelSpec]:
        """Over NR: the MCS index (the channel's, or ``auto``'s for the SNR), and the most
        bits whose transport blocks (one per slot) fit the budget's resource elements."""
        from dataclasses import replace

        from multisc.channel import nr_mcs

        assert spec.nr is not None
        config = nr_mcs.resolve(spec.nr, spec.snr_db)
        link = nr_mcs.nr_link(config, str(self.device))
        slots = budget // link.res_per_slot
        details = {
            "mcs_index": config.mcs,
            "bits_per_symbol": link.bits_per_symbol,
            "code_rate": link.code_rate,
            "tb_bits": link.tb_size,
            "slots": slots,
        }
        # any DigitalLink sends over NR at the spec's MCS (its own modulation is unused)
        return (
            slots * link.tb_size // 8 * 8,
            details,
            self.link(self.fixed),
            replace(spec, nr=config),
        )

    def transmit(
        self, prepared: BpgPrepared, channels: Sequence[ChannelSpec], generator: torch.Generator
    ) -> list[Reconstruction]:
        out = []
        size = prepared.reference.size
        for spec, seed in zip(channels, channel_seeds(generator, channels), strict=True):
            channel_generator, _ = generators_for(seed, self.device)
            budget = prepared.budget_channel_uses
            send_spec = spec  # over NR: with the MCS index chosen (rows keep ``spec``)
            if spec.nr is not None:
                max_bits, details, sender, send_spec = self._plan_nr(spec, budget)
            else:
                choice = self.choose(spec, budget)
                sender, max_bits = self.link(choice), self.max_bits(budget, choice)
                details = {
                    "modulation": choice.modulation,
                    "code_rate": choice.code_rate,
                    "codeword_bits": self.codeword_bits(budget, choice),
                }
            details["budget_channel_uses"] = budget
            started = time.perf_counter()
            encoding = self._encoding(prepared, max_bits)
            encode_s = time.perf_counter() - started
            if encoding is None:
                out.append(
                    Reconstruction(
                        failure_image(size, self.failure_color),
                        spec,
                        channel_uses=prepared.budget_channel_uses,
                        link_uses={"padding": prepared.budget_channel_uses},
                        failed=True,
                        details={**details, "reason": "budget too small"},
                    )
                )
                continue
            started = time.perf_counter()
            (sent,) = sender.send_payloads([encoding.stream], send_spec, channel_generator)
            channel_s = time.perf_counter() - started
            failed = sent.bit_errors > 0
            started = time.perf_counter()
            if failed:
                image = failure_image(size, self.failure_color)
            else:  # every bit checked intact: decode in this process
                image = hevc.decode(sent.received, isolate=False)
                if image.size != size:
                    image = image.resize(size, Image.Resampling.BICUBIC)
            decode_s = time.perf_counter() - started
            out.append(
                Reconstruction(
                    image=image,
                    spec=spec,
                    bits_sent=sent.bits,
                    channel_uses=prepared.budget_channel_uses,
                    pilot_uses=sent.pilot_uses,
                    link_uses={  # the whole budget is charged: what the stream left, too
                        "hevc_stream": sent.channel_uses,
                        "padding": prepared.budget_channel_uses - sent.channel_uses,
                    },
                    failed=failed,
                    timings={"encode": encode_s, "channel": channel_s, "decode": decode_s},
                    details={
                        **details,
                        "hevc_quality": encoding.quality,
                        "scale": encoding.scale,
                        "payload_channel_uses": sent.channel_uses,
                        "bit_errors": sent.bit_errors,
                        "block_errors": sent.block_errors,
                        "blocks": sent.blocks,
                    },
                )
            )
        return out

"""The block texts' links as the paper's system model has them: four devices, four
orthogonal links, each with its own SNR offset, its own fading draw and a chance of outage.

The paper delivers the sub-images to different devices, each sending its text over its own
orthogonal channel. [BlockLinks][multisc.schemes.block_links.BlockLinks] says how those
links differ from the run's nominal condition:

- ``offsets_db``: a fixed SNR offset per block link (dB, row by row; the nominal SNR of
  link k is the run's SNR plus ``offsets_db[k]``);
- ``spread_db``: a random offset per link and transmission, uniform in
  ``[-spread_db, 0]`` dB (devices at random distances), drawn from the transmission's
  channel generator, on top of ``offsets_db``;
- ``outage``: the probability that a link is in outage (the receiver decodes nothing of
  it: the caption is lost). A link in outage still spent its channel uses.

Every link already has its own fading draw: each text is a separate row of the channel's
batch, with its own coefficients (`multisc.channel.medium.propagate`).
With the defaults (no offsets, no spread, no outage) nothing here runs and a transmission
is the same, draw for draw, as one without it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from multisc.channel import ChannelSpec, DigitalLink
from multisc.channel.transmissions import TextTransmission
from multisc.errors import InvalidInputError
from multisc.schemes.options import MAX_OFFSET_DB

if TYPE_CHECKING:
    from multisc.receiver.correction import Corrector


@dataclass(frozen=True)
class BlockDelivery:
    """What the block links delivered in one transmission.

    :ivar texts: one transmission per block (a lost block's ``received`` is ``""``).
    :ivar link_snr_db: each link's SNR in dB (nominal plus its random draw).
    :ivar lost: per block, whether its link was in outage.
    """

    texts: list[TextTransmission]
    link_snr_db: list[float]
    lost: list[bool]

    def details(self, links: BlockLinks, spec: ChannelSpec) -> dict:
        """For the store, per block link: its SNR (dB), its bit errors, the blocks lost
        (1-based, row by row); and, with fixed offsets, the worst link's nominal SNR (the
        report plots against it)."""
        worst = links.worst_nominal_snr_db(spec)
        return {
            "link_snr_db": [round(v, 6) for v in self.link_snr_db],
            "link_bit_errors": [t.bit_errors for t in self.texts],
            "blocks_lost": [k + 1 for k, gone in enumerate(self.lost) if gone],
            **({"worst_link_snr_db": worst} if worst is not None else {}),
        }


@dataclass(frozen=True)
class BlockLinks:
    """How the block text links differ (module docstring); the default: they do not."""

    offsets_db: tuple[float, ...] | None = None
    spread_db: float = 0.0
    outage: float = 0.0

    def __post_init__(self) -> None:
        if self.offsets_db is not None:
            object.__setattr__(self, "offsets_db", tuple(float(v) for v in self.offsets_db))
        if not 0.0 <= float(self.spread_db) <= MAX_OFFSET_DB:
            raise InvalidInputError(
                f"link_snr_spread_db: {self.spread_db!r} is not in [0, {MAX_OFFSET_DB:g}] dB"
            )
        if not 0.0 <= float(self.outage) < 1.0:
            raise InvalidInputError(f"link_outage: {self.outage!r} is not a probability in [0, 1)")

    @property
    def differ(self) -> bool:
        """Whether the links differ from one another at all."""
        return self.offsets_db is not None or self.spread_db > 0 or self.outage > 0

    def check_blocks(self, blocks: int) -> None:
        """One line when the offsets do not give one value per block."""
        if self.offsets_db is not None and len(self.offsets_db) != blocks:
            raise InvalidInputError(
                f"link_snr_offsets_db has {len(self.offsets_db)} value(s) but the image is "
                f"split into {blocks} block(s) (rows x cols): give one offset per block"
            )

    def worst_nominal_snr_db(self, spec: ChannelSpec) -> float | None:
        """The worst link's nominal SNR (the run's SNR plus the lowest fixed offset), or
        ``None`` without fixed offsets."""
        return None if self.offsets_db is None else spec.snr_db + min(self.offsets_db)

    def send(
        self,
        link: DigitalLink,
        texts: Sequence[str],
        spec: ChannelSpec,
        generator: torch.Generator,
    ) -> BlockDelivery:
        """Send each block text over its own link: the random offsets are drawn first, then
        the outages, then each text goes out at its link's SNR (links at one SNR together).

        :param texts: the block texts, row by row.
        :param spec: the nominal condition (the run's SNR and fading).
        :param generator: the transmission's channel generator (all randomness).
        """
        n = len(texts)
        self.check_blocks(n)
        offsets = list(self.offsets_db) if self.offsets_db is not None else [0.0] * n
        device = generator.device
        if self.spread_db > 0:
            draws = torch.rand(n, generator=generator, device=device).tolist()
            offsets = [o - self.spread_db * d for o, d in zip(offsets, draws, strict=True)]
        lost = [False] * n
        if self.outage > 0:
            lost = (torch.rand(n, generator=generator, device=device) < self.outage).tolist()
        snrs = [spec.snr_db + o for o in offsets]
        by_snr: dict[float, list[int]] = {}
        for index, snr in enumerate(snrs):
            by_snr.setdefault(snr, []).append(index)
        sent: list[TextTransmission | None] = [None] * n
        for snr, indices in by_snr.items():
            link_spec = dataclasses.replace(spec, snr_db=snr)
            for index, out in zip(
                indices, link.send_texts([texts[i] for i in indices], link_spec, generator),
                strict=True,
            ):  # fmt: skip
                sent[index] = dataclasses.replace(out, received="") if lost[index] else out
        return BlockDelivery([t for t in sent if t is not None], snrs, [bool(v) for v in lost])


def correct_delivered(
    corrector: Corrector, received: list[list[TextTransmission]], lost: list[list[bool]]
) -> list[list[str]]:
    """The corrected texts per condition, every condition's in one corrector batch; a lost
    block (``lost``; ``[]``: none lost) stays empty: there is nothing to correct.

    :param received: per condition, its block transmissions.
    """
    lost = lost or [[False] * len(per_spec) for per_spec in received]
    flat = [
        t.received
        for per_spec, gone in zip(received, lost, strict=True)
        for t, g in zip(per_spec, gone, strict=True)
        if not g
    ]
    fixed = iter(corrector.correct(flat) if flat else [])
    return [["" if g else next(fixed) for g in gone] for gone in lost]

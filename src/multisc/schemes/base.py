"""What every scheme shares: the interface, the result of one transmission, working size,
and how randomness is split between channel realisations."""

from __future__ import annotations

import abc
import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Protocol

import torch
from PIL import Image

from multisc.channel import ChannelSpec
from multisc.errors import InvalidInputError
from multisc.imaging import ImageLike, to_rgb

#: Images whose longer side exceeds this are resized down (aspect kept) before any scheme
#: sees them, so a 10000x8000 photo costs what a 1024-pixel one does instead of running
#: out of memory. The reconstruction and the metrics use the resized image.
WORKING_MAX_SIDE = 1024


def working_image(image: ImageLike, max_side: int = WORKING_MAX_SIDE) -> Image.Image:
    """RGB version of ``image``, its longer side at most ``max_side`` pixels."""
    rgb = to_rgb(image)
    longest = max(rgb.size)
    if longest <= max_side:
        return rgb
    scale = max_side / longest
    size = (max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale)))
    return rgb.resize(size, Image.Resampling.LANCZOS)


@dataclass(frozen=True)
class Reconstruction:
    """One image through one scheme over one channel realisation.

    :ivar image: the reconstruction, RGB, the size of the (working) input image.
    :ivar spec: the channel condition.
    :ivar texts_sent: per text link, as sent (an empty tuple for schemes that send no text).
    :ivar texts_received: per text link, as received.
    :ivar texts_corrected: per text link, after the corrector.
    :ivar prompt: the fused prompt the generator saw (semantic schemes).
    :ivar bits_sent: digital payload bits (analog links send none).
    :ivar channel_uses: complex symbols over all links of the scheme (over NR: resource
        elements, DMRS included).
    :ivar pilot_uses: of ``channel_uses``, those spent on pilots (NR DMRS; 0 otherwise).
    :ivar link_uses: ``channel_uses`` per link (e.g. ``text_1`` ... ``text_4``, ``slice``;
        ``padding`` for budget a scheme was given and left unused): they sum to it.
    :ivar failed: decoding failed (bpg_ldpc: any block error; semantic schemes: the slice
        was lost); the image is then the scheme's failure image, scored, never dropped.
    :ivar timings: seconds per stage (``channel``, ``correct``, ``generate``, ...).
    :ivar details: scheme-specific numbers (e.g. HEVC quality, bit errors, MCS).
    """

    image: Image.Image
    spec: ChannelSpec
    texts_sent: tuple[str, ...] = ()
    texts_received: tuple[str, ...] = ()
    texts_corrected: tuple[str, ...] = ()
    prompt: str | None = None
    bits_sent: int = 0
    channel_uses: int = 0
    pilot_uses: int = 0
    link_uses: dict[str, int] = field(default_factory=dict)
    failed: bool = False
    timings: dict[str, float] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)


class Prepared(Protocol):
    """What ``prepare`` returns: SNR-independent, picklable, and (to be cached on disk)
    a dataclass of the safe cache's allow-list. The runner relies on ``reference``."""

    #: the working image ([working_image][multisc.schemes.base.working_image]): what
    #: reconstructions are scored against
    reference: Image.Image


class Scheme(abc.ABC):
    """An end-to-end transmission system; every scheme derives from it.

    ``prepare`` does the SNR-independent work once per image (cacheable, picklable result
    with a ``reference``); ``transmit`` sends a prepared image over each channel condition
    and reconstructs it, one [Reconstruction][multisc.schemes.base.Reconstruction] per condition,
    the same whether the
    conditions come together or one by one.
    """

    name: str = ""
    #: prepares of several images are faster together (the runner then batches them)
    batched_prepare: bool = False

    @abc.abstractmethod
    def prepare(self, image: ImageLike) -> Any:
        """The SNR-independent work on one image (a [Prepared][multisc.schemes.base.Prepared])."""

    @abc.abstractmethod
    def transmit(
        self, prepared: Any, channels: Sequence[ChannelSpec], generator: torch.Generator
    ) -> list[Reconstruction]:
        """One [Reconstruction][multisc.schemes.base.Reconstruction] per channel condition."""

    def prepare_many(self, images: Sequence[ImageLike]) -> list[Any]:
        """``prepare`` of several images (one by one unless a scheme batches)."""
        return [self.prepare(image) for image in images]

    def prepare_timings(self, prepared: Any) -> dict[str, float]:
        """Seconds per stage of ``prepared``'s prepare (e.g. ``segment``, ``caption``), for
        the rows' timings; schemes that do not time their prepare have none."""
        return {}

    def budget_reference(self) -> Scheme | None:
        """The scheme whose prepares this one's budget reads ("same as multisc"), which
        the runner then prepares in batches too; ``None`` for other budgets."""
        return None

    def cached_problem(self, prepared: Any, image: ImageLike) -> str | None:
        """What is wrong with ``prepared`` as a cached prepare of ``image``, or ``None``.

        A prepare cache may come from someone else: an entry is used only when what can
        be recomputed cheaply agrees. Here: its ``reference`` is exactly ``image``'s
        working image (pixel for pixel). Schemes add what they can check (deep JSCC its
        whole accounting, BPG-LDPC its budget and streams); what cannot be recomputed
        cheaply (captions, segmentation) is trusted once this holds (docs/reliability.md,
        and ``--fresh-cache`` for trusting nothing)."""
        from multisc.imaging import image_key

        reference = getattr(prepared, "reference", None)
        if not isinstance(reference, Image.Image):
            return "it has no reference image"
        if image_key(reference) != image_key(working_image(image)):
            return "its reference is not this image's working image"
        return None

    def remember(self, prepared: Any) -> None:  # noqa: B027 (a hook: doing nothing is right)
        """Take ``prepared`` (e.g. from the disk cache) as this scheme's prepare of its
        image; schemes that keep no memory of prepares ignore it."""


def channel_seeds(generator: torch.Generator, channels: Sequence[ChannelSpec]) -> list[int]:
    """One seed per channel condition, from one draw of ``generator``.

    The seed of a condition depends only on the draw and the condition itself (SNR,
    fading, coherence), never on its position in the list: transmitting over several
    conditions at once gives exactly what one-by-one calls with the same generator give.
    """
    base = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device))
    seeds = []
    for spec in channels:
        channel = spec.label if spec.nr is not None else spec.fading  # AWGN/Rayleigh: as before
        key = f"{base}:{spec.snr_db!r}:{channel}:{spec.coherence}".encode()
        seeds.append(int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big") >> 2)
    return seeds


def generators_for(seed: int, device: torch.device) -> tuple[torch.Generator, torch.Generator]:
    """(channel noise generator on ``device``, CPU generator for diffusion) from one seed."""
    channel = torch.Generator(device=device).manual_seed(seed)
    diffusion = torch.Generator().manual_seed(seed ^ 0x5DEECE66D)
    return channel, diffusion


class MatchedBudget:
    """The channel uses ``reference`` spends on an image (its prepare is remembered, so
    matching costs nothing when the reference scheme runs on the same image)."""

    def __init__(self, reference: Any) -> None:
        self.reference = reference

    def __call__(self, image: Image.Image) -> int:
        return self.reference.channel_uses(self.reference.prepare(image))


def budget_reference(budget: Any) -> Scheme | None:
    """The scheme a budget reads the prepares of (a
    [MatchedBudget][multisc.schemes.base.MatchedBudget]'s), or ``None``."""
    return budget.reference if isinstance(budget, MatchedBudget) else None


#: A channel-use budget: a fixed count, a bandwidth ratio K/N of the image's H·W·3, or a
#: function of the (working) image, e.g. "what multisc spends on this image".
Budget = int | Fraction | Callable[[Image.Image], int]


def budget_channel_uses(budget: Budget, image: Image.Image) -> int:
    """The channel uses a budget grants for ``image``."""
    if isinstance(budget, Fraction):
        return math.floor(budget * image.width * image.height * 3)
    uses = budget if isinstance(budget, int) else int(budget(image))
    if uses < 1:
        raise InvalidInputError(f"a channel-use budget must be positive, got {uses}")
    return uses


def failure_image(size: tuple[int, int], color: tuple[int, int, int]) -> Image.Image:
    """A flat image of ``color``: what a receiver shows when decoding failed."""
    return Image.new("RGB", size, color)

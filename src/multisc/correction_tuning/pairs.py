"""Training pairs: clean texts sent through the real
[DigitalLink][multisc.channel.digital.DigitalLink] at random SNRs.

The paper builds its corrector's training set from the captioner's own texts (whole
images and blocks, combined and sampled) corrupted by the channel. Pairs are split into
train and held-out *by clean text* (a hash decides), so no clean sentence is on both
sides.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from multisc import atomic
from multisc.channel import ChannelSpec, DigitalLink
from multisc.errors import InvalidInputError
from multisc.untrusted import json_loads


@dataclass(frozen=True)
class Pair:
    """One training example: what the receiver saw, what was sent, and the channel."""

    noisy: str
    clean: str
    snr_db: float
    split: str  # "train" or "heldout"
    bits: int
    bit_errors: int


@dataclass(frozen=True)
class PairsReport:
    pairs: int
    texts: int
    truncated: int
    train: int
    heldout: int


def split_of(clean: str, heldout_fraction: float) -> str:
    """``heldout`` for a fixed fraction of clean texts, decided by a hash of the text."""
    digest = hashlib.sha256(clean.encode("utf-8")).digest()
    return "heldout" if int.from_bytes(digest[:8], "big") / 2**64 < heldout_fraction else "train"


def truncate(text: str, max_chars: int) -> tuple[str, bool]:
    """Cut at a word boundary so the text fits ``max_chars``; report whether it was cut."""
    if len(text) <= max_chars:
        return text, False
    cut = text[:max_chars].rsplit(" ", 1)[0] or text[:max_chars]
    return cut, True


def parse_snr_range(text: str) -> tuple[float, float]:
    """``"LOW:HIGH"`` (dB) -> (low, high); a single number means LOW = HIGH."""
    parts = str(text).split(":")
    try:
        low, high = (float(parts[0]), float(parts[-1])) if len(parts) <= 2 else (None, None)
    except ValueError as exc:
        raise InvalidInputError(f"SNR range must look like LOW:HIGH in dB, got {text!r}") from exc
    if low is None or high is None:
        raise InvalidInputError(f"SNR range must look like LOW:HIGH in dB, got {text!r}")
    if low > high:
        raise InvalidInputError(f"SNR range {text!r} has LOW > HIGH: write it as {high:g}:{low:g}")
    ChannelSpec(low), ChannelSpec(high)  # finite
    return low, high


def make_pairs(
    texts: Sequence[str],
    snr_range: tuple[float, float],
    link: DigitalLink,
    *,
    per_text: int = 4,
    seed: int = 0,
    heldout_fraction: float = 0.1,
    max_chars: int = 400,
) -> tuple[list[Pair], PairsReport]:
    """``per_text`` noisy copies of every clean text, each at an SNR drawn uniformly from
    ``snr_range``, through ``link``. Deterministic under ``seed``."""
    clean_texts = [t.strip() for t in texts if t.strip()]
    if not clean_texts:
        raise InvalidInputError("no clean texts: the input is empty")
    if per_text < 1:
        raise InvalidInputError(f"--per-text must be >= 1, got {per_text}")
    truncated = 0
    prepared = []
    for text in clean_texts:
        cut, was_cut = truncate(text, max_chars)
        truncated += was_cut
        prepared.append(cut)
    rng = random.Random(seed)
    generator = torch.Generator(device=link.device).manual_seed(seed)
    low, high = snr_range
    pairs = []
    for clean in prepared:
        split = split_of(clean, heldout_fraction)
        for _ in range(per_text):
            snr = round(rng.uniform(low, high), 3)
            (sent,) = link.send_texts([clean], ChannelSpec(snr), generator)
            pairs.append(Pair(sent.received, clean, snr, split, sent.bits, sent.bit_errors))
    train = sum(p.split == "train" for p in pairs)
    return pairs, PairsReport(len(pairs), len(prepared), truncated, train, len(pairs) - train)


def write_pairs(pairs: Iterable[Pair], path: str | Path) -> None:
    """JSON Lines, one pair per line (written atomically)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic.replacing(path) as tmp, tmp.open("w", encoding="utf-8") as handle:
        for pair in pairs:
            handle.write(json.dumps(asdict(pair), ensure_ascii=False) + "\n")


def read_pairs(path: str | Path, split: str | None = None) -> list[Pair]:
    """Pairs from a JSON Lines file; a malformed line is an error naming its number."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"pairs file {path} does not exist")
    pairs = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            raw = json_loads(line)
            pair = Pair(
                str(raw["noisy"]),
                str(raw["clean"]),
                float(raw["snr_db"]),
                str(raw.get("split", "train")),
                int(raw.get("bits", 0)),
                int(raw.get("bit_errors", 0)),
            )
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise InvalidInputError(
                f"{path}, line {number}: not a pair ({type(exc).__name__}: {exc}); each line "
                'must be a JSON object with "noisy", "clean" and "snr_db"'
            ) from exc
        if split is None or pair.split == split:
            pairs.append(pair)
    if not pairs:
        raise InvalidInputError(f"{path} holds no {split + ' ' if split else ''}pairs")
    return pairs


def read_texts(path: str | Path) -> list[str]:
    """Clean texts, one per line."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"text file {path} does not exist")
    texts = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not texts:
        raise InvalidInputError(f"{path} is empty: give one clean text per line")
    return texts


def caption_texts(images, captioner, rows: int = 2, cols: int = 2, seed: int = 0) -> list[str]:
    """The paper's corpus: captions of whole images and of their blocks, plus random
    combinations of two block captions of the same image."""
    from multisc.schemes.base import working_image
    from multisc.transmitter.blocks import split_blocks

    rng = random.Random(seed)
    texts = []
    for _, image in images:
        reference = working_image(image)
        whole = captioner.caption([reference])
        blocks = captioner.caption([b.image for b in split_blocks(reference, rows, cols)])
        texts += whole + blocks
        if len(blocks) >= 2:
            a, b = rng.sample(blocks, 2)
            texts.append(f"{a} {b}")
    return [t for t in texts if t.strip()]

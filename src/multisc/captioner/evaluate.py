"""The paper's Table I for any captioner: BLEU against reference captions, caption length,
seconds per image, peak memory and parameters, for whole images and for the blocks Multi-SC
captions (``multisc captioner eval``).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from multisc.captioner.references import References
from multisc.errors import InvalidInputError
from multisc.metrics.text import multi_reference_bleu
from multisc.transmitter.blocks import split_blocks

WHOLE, BLOCKS = "whole image", "blocks"
#: the file ``multisc captioner eval --run DIR`` writes into a run directory (its report
#: shows it)
CAPTIONERS_FILE = "captioners.json"
#: the columns of the table, in order: (field, header, decimals; None for text)
TABLE_COLUMNS: tuple[tuple[str, str, int | None], ...] = (
    ("captioner", "captioner", None), ("mode", "mode", None), ("scored", "scored", 0),
    ("bleu1", "BLEU-1", 4), ("bleu2", "BLEU-2", 4), ("bleu3", "BLEU-3", 4),
    ("bleu4", "BLEU-4", 4), ("sacrebleu", "sacreBLEU", 2), ("tokens", "tokens", 1),
    ("characters", "chars", 1), ("seconds_per_image", "s/image", 3),
    ("peak_memory_mib", "peak MiB", 0), ("parameters", "params (M)", 2),
    ("training_hours", "training (h)", 2),
)  # fmt: skip


def table_cells(result: dict[str, Any]) -> list[str]:
    """One result (``CaptionerResult.as_dict()``, or read back from a file: anything) as
    the table's text cells; a value that is not what its column holds is shown as "—"."""
    import math

    cells = []
    for name, _, digits in TABLE_COLUMNS:
        value = result.get(name)
        if name == "parameters" and isinstance(value, int | float):
            value = value / 1e6
        if digits is None:
            cells.append(str(value) if isinstance(value, str) else "—")
        elif (
            isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        ):
            cells.append(f"{value:,.{digits}f}")
        else:
            cells.append("—")
    return cells


@dataclass
class CaptionerResult:
    """One captioner on one set, in one mode (whole images, or ``rows`` x ``cols`` blocks).

    :ivar bleu1: .. ``bleu4``: NLTK corpus BLEU-n over the captions that have references
        (0-1); ``sacrebleu``: sacrebleu's corpus BLEU-4 (0-100): both with every reference
        of a caption ([multi_reference_bleu][multisc.metrics.text.multi_reference_bleu]);
        ``None`` when no caption has a reference.
    :ivar tokens: mean caption length in the captioner's own tokens (no special tokens).
    :ivar characters: mean caption length in characters.
    :ivar seconds_per_image: captioning seconds per image (all its blocks in ``blocks``
        mode), batched, after one warm-up call.
    :ivar peak_memory_mib: on CUDA, the peak memory torch allocated while captioning; on
        CPU, the process's peak resident set size so far (``memory`` says which).
    """

    captioner: str
    model: str
    mode: str
    images: int
    captions: int
    scored: int
    bleu1: float | None
    bleu2: float | None
    bleu3: float | None
    bleu4: float | None
    sacrebleu: float | None
    tokens: float
    characters: float
    seconds_per_image: float
    peak_memory_mib: float
    memory: str
    parameters: int
    device: str
    #: the captioner's weights are a tiny random stand-in: its numbers mean nothing
    stand_in: bool = False
    #: Table I's training time: the wall hours ``multisc captioner train`` spent on it
    #: (a trained folder, ``path:DIR``; ``None`` for a published checkpoint), and where
    training_hours: float | None = None
    trained_on: str | None = None
    texts: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def load_captioner(name: str, models_dir: str | Path | None, device, **kwargs):
    """The registered captioner ``name``
    ([multisc.transmitter.captioners][multisc.transmitter.captioners]: built-in or from a
    plugin), loaded as a run loads it."""
    from multisc.transmitter.captioners import CAPTIONER_REGISTRY

    return CAPTIONER_REGISTRY.get(name).build(models_dir, device, **kwargs)


def evaluate_captioners(
    names: Sequence[str],
    images: Sequence[tuple[str, Image.Image]],
    references: References,
    models_dir: str | Path | None = None,
    device=None,
    max_new_tokens: int = 60,
    batch_size: int = 16,
    rows: int = 2,
    cols: int = 2,
    say: Callable[[str], None] = lambda _: None,
) -> list[CaptionerResult]:
    """Each captioner of ``names`` on ``images``: whole images, then ``rows`` x ``cols``
    blocks; each loaded once, and let go before the next.

    :param images: ``(image id, image)``; references are looked up by id (and block).
    """
    from multisc.devices import resolve_device
    from multisc.models import REGISTRY, component_record, is_stand_in
    from multisc.transmitter.captioners import CAPTIONER_REGISTRY

    if not images:
        raise InvalidInputError("no images to caption")
    specs = [CAPTIONER_REGISTRY.get(name) for name in names]  # unknown names: before work
    device = resolve_device(device)
    out = []
    for spec in specs:
        name = spec.name
        say(f"loading {name}")
        captioner = load_captioner(
            name, models_dir, device, max_new_tokens=max_new_tokens, batch_size=batch_size
        )
        components = [c for c in spec.needs if c in REGISTRY]
        model = ", ".join(_model_name(c, models_dir) for c in components) or spec.source
        stand_in = bool(components) and all(
            is_stand_in(c, component_record(c, models_dir)) for c in components
        )
        for mode in (WHOLE, BLOCKS):
            say(f"{name}: captioning {len(images)} image(s), {mode}")
            result = _evaluate(name, model, captioner, images, references, mode, rows, cols)
            result.stand_in = stand_in
            seconds = spec.info.get("training_seconds")
            if isinstance(seconds, int | float):
                result.training_hours = float(seconds) / 3600
                result.trained_on = spec.info.get("trained_on")
            out.append(result)
        del captioner
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return out


def _model_name(component: str, models_dir: str | Path | None) -> str:
    from multisc.models import entry

    return str(Path(models_dir) / component) if models_dir else entry(component).repo_id


def _evaluate(name, model, captioner, images, references, mode, rows, cols) -> CaptionerResult:
    keys: list[tuple[str, str]] = []
    inputs: list[Image.Image] = []
    for image_id, image in images:
        if mode == WHOLE:
            keys.append((image_id, ""))
            inputs.append(image)
        else:
            for block in split_blocks(image, rows, cols):
                keys.append((image_id, block.position))
                inputs.append(block.image)
    device = next(captioner.model.parameters()).device  # what the interface promises: a model
    captioner.caption(inputs[:1])  # warm-up: first-call costs are not the captioner's
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    started = time.perf_counter()
    captions = captioner.caption(inputs)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - started
    memory, peak = _peak_memory(device)
    scored = [(references[key], text) for key, text in zip(keys, captions, strict=True)
              if references.get(key)]  # fmt: skip
    bleu = multi_reference_bleu([r for r, _ in scored], [t for _, t in scored]) or {}
    tokenizer = getattr(captioner.processor, "tokenizer", captioner.processor)
    lengths = [len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in captions]
    return CaptionerResult(
        captioner=name, model=model,
        mode=WHOLE if mode == WHOLE else f"{rows}x{cols} blocks",
        images=len(images), captions=len(captions), scored=len(scored),
        bleu1=bleu.get("bleu1"), bleu2=bleu.get("bleu2"), bleu3=bleu.get("bleu3"),
        bleu4=bleu.get("bleu4"), sacrebleu=bleu.get("sacrebleu"),
        tokens=sum(lengths) / len(lengths), characters=sum(map(len, captions)) / len(captions),
        seconds_per_image=seconds / len(images), peak_memory_mib=peak, memory=memory,
        parameters=sum(p.numel() for p in captioner.model.parameters()), device=str(device),
        texts=[{"image": i, "block": b, "caption": t}
               for (i, b), t in zip(keys, captions, strict=True)],
    )  # fmt: skip


def _peak_memory(device: torch.device) -> tuple[str, float]:
    if device.type == "cuda":
        return "CUDA peak allocated", torch.cuda.max_memory_allocated(device) / 2**20
    import resource

    # Linux reports ru_maxrss in KiB
    return "process peak RSS", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

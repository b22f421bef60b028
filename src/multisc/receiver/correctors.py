"""The correctors a run can choose (``corrector:``, ``vlm_corrector:``), one registration
each; packages add theirs through the entry-point group ``multisc.correctors``.

Light to import (no torch, no transformers): each builder imports its corrector
([multisc.receiver.correction][multisc.receiver.correction]) when it is built."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from multisc.parts import PartRegistry, PartSpec

if TYPE_CHECKING:
    from multisc.receiver.correction import Corrector

#: every corrector, one registration each: ``build(models_dir, device) -> Corrector``
CORRECTOR_REGISTRY = PartRegistry("corrector", "multisc.correctors")


def _bart(models_dir: Any, device: Any) -> Any:
    from multisc.receiver.correction import BartCorrector

    return BartCorrector.from_pretrained(models_dir, device)


def _symspell(models_dir: Any, device: Any) -> Any:
    from multisc.receiver.correction import SymSpellCorrector

    return SymSpellCorrector()


def _no_corrector(models_dir: Any, device: Any) -> Any:
    from multisc.receiver.correction import NoCorrector

    return NoCorrector()


CORRECTOR_REGISTRY.register(PartSpec(
    "bart",
    _bart,
    "BART seq2seq spelling correction (the paper's; fine-tune it with `multisc corrector`)",
    needs=("corrector",),
))  # fmt: skip
CORRECTOR_REGISTRY.register(PartSpec(
    "symspell",
    _symspell,
    "SymSpell with a bigram language model over its bundled English dictionary",
))  # fmt: skip
CORRECTOR_REGISTRY.register(PartSpec("none", _no_corrector, "texts as received"))


def corrector_names() -> tuple[str, ...]:
    """Every registered corrector (built-in and from plugins)."""
    return CORRECTOR_REGISTRY.names()


def make_corrector(
    name: str, models_dir: str | Path | None = None, device: Any = None
) -> Corrector:
    """A corrector by name ([corrector_names][multisc.receiver.correctors.corrector_names]:
    ``bart``, ``symspell``, ``none``, and any a plugin registers); ``device`` a
    ``torch.device``, ``"cpu"``, ``"cuda"`` or ``None`` (CUDA when present)."""
    return CORRECTOR_REGISTRY.get(name).build(models_dir, device)

"""The stages of a semantic prepare, each cached on its own: ``segment`` (keyed by the
segmenter and its input size) and ``caption`` (keyed by the captioner, its token bound and
the block grid), so that a sweep over captioners segments each image once, and one over
segmenters captions it once, in a run and whenever it resumes (on another worker too).

A stage store is what the run's prepare cache gives (``PrepareCache.stage()`` of
``multisc.experiment.prepare_cache``): ``get(stage, key, image, check)`` returns
``(value, seconds)`` or ``None``, ``put(stage, key, image, value, seconds)`` keeps it.
Values from a store are checked before use (a run directory may come from someone else):
a value that fails is computed again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np
from PIL import Image

#: the stages, in the order a prepare runs them
STAGES = ("segment", "caption")


class StageStore(Protocol):
    def get(
        self,
        stage: str,
        key: str,
        image: Image.Image,
        check: Callable[[Any, Image.Image], str | None],
    ) -> tuple[Any, float] | None: ...

    def put(self, stage: str, key: str, image: Image.Image, value: Any, seconds: float) -> None: ...


def run_staged(
    stage: str,
    key: str | None,
    store: StageStore | None,
    references: Sequence[Image.Image],
    compute: Callable[[list[Image.Image]], list[Any]],
    check: Callable[[Any, Image.Image], str | None],
) -> tuple[list[Any], list[float]]:
    """``compute`` (one value per image, batched) for the ``references`` the store does not
    hold under ``(stage, key)``; every image's value and the seconds it took (its share of
    the batch, or what the store recorded). Without a store or key: ``compute`` of all."""
    found: list[tuple[Any, float] | None] = [
        store.get(stage, key, image, check) if store is not None and key is not None else None
        for image in references
    ]
    todo = [i for i, item in enumerate(found) if item is None]
    if todo:
        started = time.perf_counter()
        made = compute([references[i] for i in todo])
        share = (time.perf_counter() - started) / len(todo)
        for i, value in zip(todo, made, strict=True):
            found[i] = (value, share)
            if store is not None and key is not None:
                store.put(stage, key, references[i], value, share)
    return [item[0] for item in found], [item[1] for item in found]  # type: ignore[index]


def segmentation_problem(value: Any, image: Image.Image) -> str | None:
    """What is wrong with ``value`` as a stored segmentation of ``image`` (``None``: nothing):
    a [Segmentation][multisc.transmitter.segmentation.Segmentation] whose mask is
    ``image``'s size, whose class is a VOC one and whose box lies in the image."""
    from multisc.transmitter.segmentation import VOC_CLASSES, Segmentation

    if not isinstance(value, Segmentation):
        return f"a {type(value).__name__}, not a segmentation"
    mask = value.mask
    if not isinstance(mask, np.ndarray) or mask.dtype != bool:
        return "its mask is not a boolean array"
    if mask.shape != (image.height, image.width):
        return f"its mask is {mask.shape}, the image {image.height}x{image.width}"
    if not (isinstance(value.class_id, int) and 0 <= value.class_id < len(VOC_CLASSES)):
        return f"class {value.class_id!r} is not a VOC class"
    left, top, right, bottom = value.box
    if not (0 <= left < right <= image.width and 0 <= top < bottom <= image.height):
        return f"box {value.box} does not lie in the image"
    if not isinstance(value.slice, Image.Image):
        return "it has no slice image"
    return None


def captions_problem(count: int) -> Callable[[Any, Image.Image], str | None]:
    """The check of stored captions: a tuple of ``count`` strings."""

    def check(value: Any, image: Image.Image) -> str | None:
        if not isinstance(value, tuple) or len(value) != count:
            return f"not {count} caption(s)"
        if not all(isinstance(text, str) for text in value):
            return "a caption that is not text"
        return None

    return check

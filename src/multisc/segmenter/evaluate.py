"""Each registered segmenter's mIoU and pixel accuracy on VOC-format masks (``multisc
segmenter eval``), as torchvision's reference script measures them, beside the numbers
torchvision publishes.

The reference's evaluation transform resizes image and mask to a shorter side of 520 pixels
(the mask with nearest neighbours) and compares the network's argmax at that size; so does
this, at ``resize`` (the segmenter's input size). Masks are ``SegmentationClass`` PNGs:
class indices 0-20 (a palette image or 8-bit grey), 255 ignored.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from multisc.errors import InvalidInputError
from multisc.metrics.segmentation import ConfusionMatrix

#: the most image/mask pairs one evaluation reads (VOC2012 val has 1,449)
MAX_PAIRS = 20_000


@dataclass
class SegmenterResult:
    """One segmenter on one set.

    :ivar miou: mean IoU over the classes that occur, percent; ``pixel_accuracy`` percent.
    :ivar published: torchvision's numbers for the same weights on COCO val2017 with VOC
        labels (``{"miou": ..., "pixel_accuracy": ...}``), for comparison; ``{}`` if none.
    :ivar stand_in: the weights are a random stand-in (``make-tiny``): the numbers mean nothing.
    """

    segmenter: str
    images: int
    pixels: int
    pixel_accuracy: float
    miou: float
    classes: int
    iou: list[float | None]
    seconds_per_image: float
    resize: int
    device: str
    published: dict[str, Any] = field(default_factory=dict)
    stand_in: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def mask_pairs(
    source: str, masks: str | Path | None = None, split: str = "val", limit: int | None = None
) -> list[tuple[str, Path, Path]]:
    """``(id, image file, mask file)`` of a set: ``voc2012:DIR`` (the ``split`` list of
    ``ImageSets/Segmentation``, masks in ``SegmentationClass/``), or an image folder with
    ``masks`` a folder of ``<id>.png`` masks (paired by file stem). At most ``limit``; more
    than ``MAX_PAIRS`` is refused before any file is opened."""
    from multisc.data.sources import IMAGE_SUFFIXES, voc2012_files

    if source.startswith("voc2012:"):
        if masks is not None:
            raise InvalidInputError("voc2012:DIR brings its masks: drop --masks")
        files = voc2012_files(source.split(":", 1)[1], split, limit)
        pairs = [
            (f.stem, f, f.parent.parent / "SegmentationClass" / f"{f.stem}.png") for f in files
        ]
    else:
        folder = Path(source)
        if masks is None or not folder.is_dir() or not Path(masks).is_dir():
            raise InvalidInputError(
                "give voc2012:DIR, or an image folder with --masks FOLDER of <id>.png class "
                "masks (VOC's SegmentationClass format)"
            )
        images = {}
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
                images.setdefault(path.stem, path)
                if len(images) > MAX_PAIRS:
                    raise InvalidInputError(f"{folder} holds over {MAX_PAIRS:,} images: give fewer")
        pairs = [
            (stem, images[stem], Path(masks) / f"{stem}.png")
            for stem in sorted(images)
            if (Path(masks) / f"{stem}.png").is_file()
        ]
        if limit is not None:
            pairs = pairs[: max(0, int(limit))]
    missing = [m for _, _, m in pairs if not m.is_file()]
    if missing:
        raise InvalidInputError(f"{len(missing)} masks are missing, e.g. {missing[0]}")
    if not pairs:
        raise InvalidInputError(f"no image of {source} has a mask: nothing to evaluate")
    if len(pairs) > MAX_PAIRS:
        raise InvalidInputError(f"{len(pairs):,} pairs is over the {MAX_PAIRS:,} one run reads")
    return pairs


def read_mask(path: Path, size: tuple[int, int]) -> np.ndarray:
    """A class mask ``[H, W]`` (uint8) of an image of ``size`` (width, height)."""
    from multisc.imaging import open_image_file

    mask = open_image_file(path, mask=True)
    if mask.mode not in ("P", "L"):
        raise InvalidInputError(
            f"{path}: a {mask.mode} image is not a class mask (VOC's SegmentationClass PNGs "
            "hold class indices, as a palette or 8-bit grey image)"
        )
    if mask.size != size:
        raise InvalidInputError(f"{path}: mask {mask.size} and image {size} differ in size")
    return np.asarray(mask, dtype=np.uint8)


def _resized(image: Image.Image, mask: np.ndarray, side: int) -> tuple[Image.Image, np.ndarray]:
    """Image (bilinear) and mask (nearest) at a shorter side of ``side``, as torchvision's
    ``SegmentationPresetEval`` resizes them."""
    from torchvision.transforms import functional

    resized = functional.resize(image, side)
    target = functional.resize(
        Image.fromarray(mask), side, interpolation=functional.InterpolationMode.NEAREST
    )
    return resized, np.asarray(target)


def evaluate_segmenters(
    names: Sequence[str],
    pairs: Sequence[tuple[str, Path, Path]],
    models_dir: str | Path | None = None,
    device: Any = None,
    resize: int = 520,
    say: Callable[[str], None] = lambda _: None,
) -> list[SegmenterResult]:
    """Each segmenter of ``names`` (registered ones) over ``pairs``: one confusion matrix
    over every pixel ([ConfusionMatrix][multisc.metrics.segmentation.ConfusionMatrix]);
    each segmenter loaded once and let go before the next."""
    from multisc.data.sources import open_image
    from multisc.devices import resolve_device
    from multisc.models import component_record, is_stand_in
    from multisc.transmitter.segmenters import SEGMENTER_REGISTRY, make_segmenter

    device = resolve_device(device)
    specs = [SEGMENTER_REGISTRY.get(name) for name in names]  # unknown names: before work
    out = []
    for spec in specs:
        say(f"loading {spec.name}")
        segmenter = make_segmenter(spec.name, models_dir, device, resize)
        matrix = ConfusionMatrix(21)
        seconds = 0.0
        for i, (image_id, image_path, mask_path) in enumerate(pairs):
            say(f"{spec.name}: {i + 1}/{len(pairs)} {image_id}")
            image = open_image(image_path)
            image, target = _resized(image, read_mask(mask_path, image.size), resize)
            started = time.perf_counter()
            prediction = segmenter.class_map(image)
            seconds += time.perf_counter() - started
            matrix.update(target, prediction)
        scores = matrix.scores()
        stand_in = all(is_stand_in(n, component_record(n, models_dir)) for n in spec.needs)
        out.append(
            SegmenterResult(
                segmenter=spec.name, images=len(pairs), pixels=scores.pixels,
                pixel_accuracy=scores.pixel_accuracy, miou=scores.miou, classes=scores.classes,
                iou=list(scores.iou), seconds_per_image=seconds / len(pairs), resize=resize,
                device=str(device), published=dict(spec.info.get("published", {})),
                stand_in=stand_in and bool(spec.needs),
            )
        )  # fmt: skip
        del segmenter
    return out

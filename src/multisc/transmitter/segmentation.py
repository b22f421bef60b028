"""Main-object segmentation with a torchvision segmentation model with VOC labels (the
paper's FCN-ResNet50, or another registered segmenter): the *slice*."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from scipy import ndimage

from multisc.devices import resolve_device
from multisc.errors import InvalidInputError, ModelNotAvailableError
from multisc.imaging import Remembered, to_rgb
from multisc.models import default_dtype, torch_hub_file, torch_hub_state

#: The 21 PASCAL VOC labels of torchvision's COCO_WITH_VOC_LABELS_V1 weights.
VOC_CLASSES: tuple[str, ...] = (
    "__background__",
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "diningtable",
    "dog",
    "horse",
    "motorbike",
    "person",
    "pottedplant",
    "sheep",
    "sofa",
    "train",
    "tvmonitor",
)
FCN_FILE = "fcn_resnet50_coco-1167a1af.pth"
WEIGHTS_FILE = "model.safetensors"  # in --models DIR/segmenter/
#: the network's input is at most this many times ``resize`` on its longer side
MAX_ASPECT_OF_INPUT = 4
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Segmentation:
    """The main object of an image.

    :ivar mask: ``[H, W]`` bool, the main object's pixels.
    :ivar class_id: VOC class index (0 when nothing was found).
    :ivar class_name: its name ("__background__" when nothing was found).
    :ivar box: ``(left, top, right, bottom)``, right/bottom exclusive.
    :ivar slice: the box crop of the image with every pixel outside the mask zeroed.
    :ivar found: False when only background was found: then ``box`` is a centred box of
        half the image's width and height, ``mask`` fills that box, and the slice is
        that crop.
    """

    mask: np.ndarray
    class_id: int
    class_name: str
    box: tuple[int, int, int, int]
    slice: Image.Image
    found: bool


def torchvision_builder(component: str) -> tuple[str, bool]:
    """(torchvision's builder name, whether it has the auxiliary classifier) of segmenter
    component ``component``, as its recorded manifest names them."""
    from multisc.models import entry, manifest

    item = entry(component)
    if item.role != "segmenter":
        raise InvalidInputError(f"component {component!r} is not a segmenter")
    torchvision = manifest(component)["configs"]["torchvision"]
    return item.loads_with.rpartition(".")[2], bool(torchvision.get("aux_loss", False))


def build_segmentation_model(component: str = "segmenter") -> torch.nn.Module:
    """Segmenter component ``component``'s torchvision model (FCN, DeepLabV3 or LR-ASPP),
    21 VOC classes, with the auxiliary classifier where the real checkpoint has
    ``aux_classifier`` keys, randomly initialised."""
    from torchvision.models import segmentation

    builder, aux = torchvision_builder(component)
    options = {"aux_loss": True} if aux else {}
    return getattr(segmentation, builder)(
        weights=None, weights_backbone=None, num_classes=21, **options
    )


def load_segmenter_state(
    component: str = "segmenter", models_dir: str | Path | None = None
) -> dict[str, torch.Tensor]:
    """Segmenter ``component``'s weights: with ``models_dir``, ``DIR/<component>/<the real
    file name>`` (``multisc models export``) or ``DIR/<component>/model.safetensors``
    (make-tiny); else the torch hub cache (``$TORCH_HOME/hub/checkpoints/<file>``),
    downloaded there first when missing and the network is allowed
    ([multisc.models.torch_hub_state][multisc.models.loading.torch_hub_state])."""
    from multisc.models import entry

    if models_dir is not None and not torch_hub_file(component, models_dir).is_file():
        raise ModelNotAvailableError(
            f"weights of {component!r} not available: {Path(models_dir) / component} holds "
            f"neither {entry(component).repo_id} nor {WEIGHTS_FILE}. Write a model set with "
            f"`multisc models make-tiny DIR` (or `multisc models export DIR`), or drop --models "
            "to use the real one"
        )
    return torch_hub_state(component, models_dir)


class Segmenter:
    """Finds the main object (largest non-background class region) of images.

    :param model: a torchvision segmentation model with VOC labels, as
        [build_segmentation_model][multisc.transmitter.segmentation.build_segmentation_model]
        makes it, with weights loaded (its output dict's ``"out"``: ``[B, 21, H', W']``).
    :param resize: the shorter image side fed to the network (torchvision's preset: 520).
    :param batch_size: images per forward pass.
    """

    #: segmentations remembered (by pixels), so schemes sharing the segmenter run it once
    REMEMBER = 16

    def __init__(
        self,
        model: torch.nn.Module,
        device: torch.device | str | None = None,
        resize: int = 520,
        batch_size: int = 8,
    ) -> None:
        self.device = resolve_device(device)
        self.dtype = default_dtype(self.device)
        self.model = model.to(self.device, self.dtype).eval()
        self.resize = int(resize)
        self.batch_size = int(batch_size)
        self._recent: Remembered[Segmentation] = Remembered(self.REMEMBER)
        #: the registry component it was loaded from (``from_pretrained``)
        self.component = "segmenter"
        self._mean = torch.tensor(IMAGENET_MEAN, device=self.device).view(3, 1, 1)
        self._std = torch.tensor(IMAGENET_STD, device=self.device).view(3, 1, 1)

    @classmethod
    def from_pretrained(
        cls,
        models_dir: str | Path | None = None,
        device: torch.device | str | None = None,
        resize: int = 520,
        component: str = "segmenter",
    ) -> Segmenter:
        """Segmenter component ``component`` (the paper's FCN-ResNet50 by default; or
        ``models_dir/<component>``)."""
        model = build_segmentation_model(component)
        state = load_segmenter_state(component, models_dir)
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            builder, _ = torchvision_builder(component)
            raise ModelNotAvailableError(
                f"the weights of {component!r} do not fit torchvision's {builder} with 21 "
                f"classes: {str(exc).splitlines()[0]}"
            ) from exc
        segmenter = cls(model, device, resize)
        segmenter.component = component
        return segmenter

    @torch.no_grad()
    def class_map(self, image: Image.Image) -> np.ndarray:
        """Per-pixel VOC class ``[H, W]`` (int64) at the image's own resolution."""
        return self.class_maps([image])[0]

    @torch.no_grad()
    def class_maps(self, images: Sequence[Image.Image]) -> list[np.ndarray]:
        """``class_map`` of each image; images of the same size share one forward pass
        (``[B, 3, H', W']``, in chunks of ``batch_size``)."""
        from torchvision.transforms.functional import pil_to_tensor, resize

        out: list[np.ndarray | None] = [None] * len(images)
        by_size: dict[tuple[int, int], list[int]] = {}
        for i, image in enumerate(images):
            by_size.setdefault(image.size, []).append(i)
        for (width, height), indices in by_size.items():
            for start in range(0, len(indices), self.batch_size):
                chunk = indices[start : start + self.batch_size]
                x = torch.stack([pil_to_tensor(images[i]) for i in chunk]).to(self.device)
                x = x.float() / 255.0
                if self.resize:
                    # the longer side is bounded too: a 1 x 4000 image must not become
                    # 520 x 2,080,000 (tens of GB) for the sake of its shorter side
                    longest = MAX_ASPECT_OF_INPUT * self.resize
                    if max(height, width) * self.resize > longest * min(height, width):
                        scale = longest / max(height, width)
                        size = [max(1, round(height * scale)), max(1, round(width * scale))]
                    else:
                        size = [self.resize]  # torchvision's preset: the shorter side
                    x = resize(x, size, antialias=True)
                x = ((x - self._mean) / self._std).to(self.dtype)
                logits = self.model(x)["out"].float()
                logits = torch.nn.functional.interpolate(
                    logits, size=(height, width), mode="bilinear", align_corners=False
                )
                for i, classes in zip(chunk, logits.argmax(1).cpu().numpy(), strict=True):
                    out[i] = classes
        return out  # type: ignore[return-value]

    def segment(self, images: Sequence[Image.Image]) -> list[Segmentation]:
        """The main object of each image (see
        [Segmentation][multisc.transmitter.segmentation.Segmentation]), batched.

        The last ``REMEMBER`` results are kept (keyed by the pixels), so schemes that share
        this segmenter (multisc and single_text) segment an image once.
        """
        rgb = [to_rgb(image) for image in images]
        return self._recent.get_many(
            rgb,
            lambda todo: [
                main_object(image, classes)
                for image, classes in zip(todo, self.class_maps(todo), strict=True)
            ],
        )


def main_object(image: Image.Image, classes: np.ndarray) -> Segmentation:
    """The main object: the largest connected (8-neighbour) region of any non-background
    class. Ties go to the lower class index."""
    if classes.shape != (image.height, image.width):
        raise InvalidInputError(
            f"class map {classes.shape} does not match the image {image.height}x{image.width}"
        )
    best_size, mask, class_id = 0, None, 0
    for cid in np.unique(classes):
        if cid == 0:
            continue
        labels, n = ndimage.label(classes == cid, structure=np.ones((3, 3), dtype=bool))
        sizes = np.bincount(labels.ravel(), minlength=n + 1)
        sizes[0] = 0
        if sizes.max() > best_size:
            best_size, mask, class_id = int(sizes.max()), labels == int(sizes.argmax()), int(cid)
    if mask is None:
        return _centred(image)
    rows, cols = np.nonzero(mask)
    box = (int(cols.min()), int(rows.min()), int(cols.max()) + 1, int(rows.max()) + 1)
    return Segmentation(
        mask, class_id, VOC_CLASSES[class_id], box, _masked_crop(image, mask, box), True
    )


def _centred(image: Image.Image) -> Segmentation:
    w, h = image.width, image.height
    bw, bh = max(1, w // 2), max(1, h // 2)
    left, top = (w - bw) // 2, (h - bh) // 2
    box = (left, top, left + bw, top + bh)
    mask = np.zeros((h, w), dtype=bool)
    mask[top : top + bh, left : left + bw] = True
    return Segmentation(mask, 0, VOC_CLASSES[0], box, image.crop(box), False)


def _masked_crop(
    image: Image.Image, mask: np.ndarray, box: tuple[int, int, int, int]
) -> Image.Image:
    left, top, right, bottom = box
    pixels = np.asarray(image)[top:bottom, left:right].copy()
    pixels[~mask[top:bottom, left:right]] = 0
    return Image.fromarray(pixels)

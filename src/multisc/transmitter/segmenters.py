"""The segmenters a run can choose (``segmenter:``), one registration each: torchvision's
segmentation models with VOC labels; packages add theirs through the entry-point group
``multisc.segmenters``.

Light to import (no torch): each builder imports
[multisc.transmitter.segmentation][multisc.transmitter.segmentation] when it is built. A
builder is ``build(models_dir, device, resize) -> Segmenter`` (anything with
``segment(images) -> list[Segmentation]``).
"""

from __future__ import annotations

from typing import Any

from multisc.parts import PartRegistry, PartSpec

#: every segmenter, one registration each
SEGMENTER_REGISTRY = PartRegistry("segmenter", "multisc.segmenters")
#: the paper's segmenter
DEFAULT_SEGMENTER = "fcn_resnet50"


def _torchvision(component: str):
    def build(models_dir: Any, device: Any, resize: int = 520) -> Any:
        from multisc.transmitter.segmentation import Segmenter

        return Segmenter.from_pretrained(models_dir, device, resize=resize, component=component)

    return build


# name -> (component, summary, (published mIoU, pixel accuracy) on COCO val2017 with VOC
# labels: torchvision's own weights table, COCO_WITH_VOC_LABELS_V1)
_TORCHVISION = {
    "fcn_resnet50": ("segmenter", "FCN-ResNet50 (the paper's)", 60.5, 91.4),
    "fcn_resnet101": ("fcn_resnet101", "FCN-ResNet101", 63.7, 91.9),
    "deeplabv3_resnet50": ("deeplabv3_resnet50", "DeepLabV3-ResNet50", 66.4, 92.4),
    "deeplabv3_resnet101": ("deeplabv3_resnet101", "DeepLabV3-ResNet101", 67.4, 92.4),
    "lraspp_mobilenet_v3_large": (
        "lraspp_mobilenet_v3_large", "LR-ASPP MobileNetV3-Large (13 MB)", 57.9, 91.2,
    ),
}  # fmt: skip
for _name, (_component, _summary, _miou, _accuracy) in _TORCHVISION.items():
    _published = {"miou": _miou, "pixel_accuracy": _accuracy, "set": "COCO val2017, VOC labels"}
    SEGMENTER_REGISTRY.register(
        PartSpec(
            _name,
            _torchvision(_component),
            f"torchvision {_summary}, VOC labels",
            needs=(_component,),
            info={"published": _published},
        )
    )


def segmenter_names() -> tuple[str, ...]:
    """Every registered segmenter (built-in and from plugins)."""
    return SEGMENTER_REGISTRY.names()


def make_segmenter(name: str, models_dir: Any = None, device: Any = None, resize: int = 520) -> Any:
    """The segmenter ``name`` ([segmenter_names][multisc.transmitter.segmenters.segmenter_names]),
    loaded; ``resize``: the shorter side fed to the network (pixels)."""
    return SEGMENTER_REGISTRY.get(name).build(models_dir, device, resize)

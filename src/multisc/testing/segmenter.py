"""The segmenters: torchvision's segmentation models with VOC labels (FCN, DeepLabV3,
LR-ASPP). Each has one size (tiny and full are the real architecture), random weights, as
``model.safetensors``."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from multisc.testing.common import seed_all
from multisc.testing.sizes import Size


def build_segmenter(
    directory: str | Path, size: Size = "tiny", seed: int = 0, component: str = "segmenter"
) -> Path:
    """Segmenter component ``component`` with random weights in ``directory``."""
    from multisc.testing.files import write_weights
    from multisc.transmitter.segmentation import WEIGHTS_FILE, build_segmentation_model

    del size  # one size
    seed_all(seed)
    model = build_segmentation_model(component)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    write_weights(model.state_dict(), directory / WEIGHTS_FILE)
    return directory


def segmenter_builders() -> dict:
    """``build(directory, size, seed)`` of every segmenter component of the registry."""
    from multisc.models import REGISTRY

    return {
        name: build_segmenter if name == "segmenter" else partial(build_segmenter, component=name)
        for name, item in REGISTRY.items()
        if item.role == "segmenter"
    }

"""The segmenter: torchvision's FCN-ResNet50 (it has one size: tiny and full are the real
architecture), random weights, as ``model.safetensors``."""

from __future__ import annotations

from pathlib import Path

from multisc.testing.common import seed_all
from multisc.testing.sizes import Size


def build_segmenter(directory: str | Path, size: Size = "tiny", seed: int = 0) -> Path:
    from multisc.testing.files import write_weights
    from multisc.transmitter.segmentation import WEIGHTS_FILE, build_fcn

    del size  # one size
    seed_all(seed)
    model = build_fcn()
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    write_weights(model.state_dict(), directory / WEIGHTS_FILE)
    return directory

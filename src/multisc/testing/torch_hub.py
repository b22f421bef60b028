"""Stand-ins of the torch hub checkpoints (the segmenters: FCN, DeepLabV3, LR-ASPP; LPIPS'
AlexNet, DISTS' VGG16 and FID's Inception-v3) as the real files are: a ``torch.save`` of the
state dict under the real file name, in the container the real file has (its manifest's
``container``: [real_container][multisc.testing.torch_hub.real_container]).

torchvision published ``fcn_resnet50_coco-1167a1af.pth`` (April 2020, pytorch/vision PR
2086) and ``vgg16-397923af.pth`` (2017) in the legacy (pre-torch-1.6, non-zip) container
and never re-saved them (issue 2068 asking for it is open; the VGG16 file is still the
553,433,881 B of 2017 downloads). AlexNet's ``alexnet-owt-7be5be79.pth`` is the re-saved
file of PR 3620 (it replaced ``alexnet-owt-4df8aa71.pth``): the zip container.
torch-fidelity's Inception weights are a legacy pickle. The other segmenters' containers are
inferred from when they were published (their manifests say how): FCN-ResNet101 and the
DeepLabV3 files before torch 1.6 (legacy), LR-ASPP with torch 1.7 (zip)."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch

from multisc.testing.common import seed_all


def _torch_hub_components() -> tuple[str, ...]:
    from multisc.models import REGISTRY

    return tuple(name for name, item in REGISTRY.items() if item.torch_hub)


#: every torch hub component: the segmenters and the metrics' networks
TORCH_HUB_COMPONENTS = _torch_hub_components()


def real_container(name: str) -> bool:
    """Whether component ``name``'s real file is a legacy pickle (True) or a zip archive
    (False), as its manifest records it (``container``)."""
    from multisc.models import manifest

    return manifest(name)["container"] == "legacy"


def inception_module():
    """torch-fidelity's ``FeatureExtractorInceptionV3`` (FID's and KID's network) with
    random weights: built without the download its constructor makes."""
    from unittest import mock

    from torch_fidelity import feature_extractor_inceptionv3 as fidelity

    cls = fidelity.FeatureExtractorInceptionV3
    with (
        mock.patch.object(fidelity, "load_state_dict_from_url", lambda *a, **k: {}),
        mock.patch.object(cls, "load_state_dict", lambda self, *a, **k: None),
    ):
        return cls("inception-v3-compat", ["2048"])


#: crops per training photo that set the Inception stand-in's BatchNorm statistics
CALIBRATION_CROPS = 2


def calibrated_inception(seed: int = 0):
    """The Inception stand-in's network: random convolutions (PyTorch's default init) whose
    BatchNorm statistics are set from real photo crops (the bundled training photos).

    With the default init each layer shrinks its input, so 94 random layers with unit
    BatchNorm statistics give pool features of ~1e-7 and every FID ~1e-15: no test of FID
    on images could fail. Statistics measured on photos renormalise every layer, so the
    features spread as a trained network's do (order 0.1-1) and differ between images."""
    from multisc.data.sources import TRAINING_PHOTOS, sample_photos

    seed_all(seed)
    model = inception_module()
    generator = torch.Generator().manual_seed(seed)
    crops = []
    for _, photo in sample_photos(TRAINING_PHOTOS):
        pixels = torch.from_numpy(np.array(photo, dtype=np.uint8)).permute(2, 0, 1)
        _, height, width = pixels.shape
        side = min(height, width) // 2
        for _ in range(CALIBRATION_CROPS):
            top = int(torch.randint(0, height - side + 1, (1,), generator=generator))
            left = int(torch.randint(0, width - side + 1, (1,), generator=generator))
            crop = pixels[:, top : top + side, left : left + side][None].float()
            crops.append(torch.nn.functional.interpolate(crop, size=(299, 299), mode="bilinear"))
    batch = torch.cat(crops).round().clamp(0, 255).to(torch.uint8)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None  # a plain average over the calibration batch
    model.train()
    with torch.no_grad():
        model(batch)
    return model.eval()


def torch_hub_state(name: str, seed: int = 0) -> dict[str, torch.Tensor]:
    """The random state dict of torch hub component ``name``, keys as in the real file
    (built once per process and seed; a new dict each call, sharing its tensors)."""
    return dict(_state(name, seed))


@functools.lru_cache(maxsize=4)
def _state(name: str, seed: int) -> dict[str, torch.Tensor]:
    seed_all(seed)
    from multisc.models import entry

    if entry(name).role == "segmenter":
        from multisc.transmitter.segmentation import build_segmentation_model

        model = build_segmentation_model(name)
    elif name == "lpips":
        from torchvision.models import alexnet

        model = alexnet(weights=None)
    elif name == "dists":
        from torchvision.models import vgg16

        model = vgg16(weights=None)
    elif name == "inception":
        model = calibrated_inception(seed)
    else:
        raise ValueError(f"{name!r} is not a torch hub component: {TORCH_HUB_COMPONENTS}")
    return {k: v.contiguous() for k, v in model.state_dict().items()}


def write_torch_hub_file(
    name: str, path: str | Path, seed: int = 0, legacy: bool | None = None
) -> Path:
    """Write component ``name``'s stand-in at ``path`` (fp32, the real keys), in the real
    file's container (default), or in the legacy (``legacy=True``) or zip one (``False``)."""
    if legacy is None:
        legacy = real_container(name)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(torch_hub_state(name, seed), path, _use_new_zipfile_serialization=not legacy)
    return path

"""Stand-ins of the torch hub checkpoints (the segmenter's FCN-ResNet50, LPIPS' AlexNet,
DISTS' VGG16 and FID's Inception-v3)
as the real files are: a ``torch.save`` of the state dict under the real file name, in the
legacy (pre-torch-1.6, non-zip) container by default, as torchvision published both
(``fcn_resnet50_coco-1167a1af.pth``: April 2020, pytorch/vision PR 2086; only
classification weights were re-saved later, PR 3620, and issue 2068 asking for the rest is
open). ``legacy=False`` writes today's zip container, for comparison."""

from __future__ import annotations

from pathlib import Path

import torch

from multisc.testing.common import seed_all

TORCH_HUB_COMPONENTS = ("segmenter", "lpips", "dists", "inception")


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


def torch_hub_state(name: str, seed: int = 0) -> dict[str, torch.Tensor]:
    """The random state dict of torch hub component ``name``, keys as in the real file."""
    seed_all(seed)
    if name == "segmenter":
        from multisc.transmitter.segmentation import build_fcn

        model = build_fcn()
    elif name == "lpips":
        from torchvision.models import alexnet

        model = alexnet(weights=None)
    elif name == "dists":
        from torchvision.models import vgg16

        model = vgg16(weights=None)
    elif name == "inception":
        model = inception_module()
    else:
        raise ValueError(f"{name!r} is not a torch hub component: {TORCH_HUB_COMPONENTS}")
    return {k: v.contiguous() for k, v in model.state_dict().items()}


def write_torch_hub_file(name: str, path: str | Path, seed: int = 0, legacy: bool = True) -> Path:
    """Write component ``name``'s stand-in at ``path`` (fp32, the real keys), in the legacy
    container (default, the real files' format) or the zip one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(torch_hub_state(name, seed), path, _use_new_zipfile_serialization=not legacy)
    return path

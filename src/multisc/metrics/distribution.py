"""Set-level perceptual metrics: FID and KID between the references and the
reconstructions of a set of transmissions (torchmetrics, on torch-fidelity's Inception-v3,
the TF 2015-12-05 network every FID paper uses; component ``inception``).

FID needs a few hundred images per set to mean anything (below that it is biased upwards
and varies between sets); KID is unbiased and comes with its standard error over random
subsets. Both are computed per scheme, variant, channel and SNR over all its images.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

#: Inception's pool features per image
FEATURES = 2048
#: below this many images per set, FID says little (its bias is of the order of its value)
FID_MIN_IMAGES = 300
#: KID: random subsets drawn for its mean and standard error
KID_SUBSETS = 100


class InceptionFeatures:
    """Inception-v3 pool features (2048 per image) as torchmetrics' FID computes them
    (torch-fidelity's network, images resized inside to 299 x 299), from the checked
    weights file (torch hub cache or ``models_dir/inception/``)."""

    def __init__(self, device: torch.device | str = "cpu", models_dir: str | Path | None = None):
        from unittest import mock

        from torch_fidelity import feature_extractor_inceptionv3 as fidelity
        from torchmetrics.image.fid import NoTrainInceptionV3

        from multisc.models import torch_hub_state

        state = torch_hub_state("inception", models_dir)  # checked, read with weights_only
        self.device = torch.device(device)
        # torch-fidelity's constructor downloads and unpickles the file itself: it gets the
        # checked state dict instead
        with mock.patch.object(fidelity, "load_state_dict_from_url", lambda *a, **k: state):
            self.model = NoTrainInceptionV3("inception-v3-compat", [str(FEATURES)])
        self.model = self.model.to(self.device)

    @torch.no_grad()
    def __call__(self, images: Sequence[Image.Image]) -> np.ndarray:
        """``[N, 2048]`` float64 features, one image at a time (sizes may differ)."""
        out = []
        for image in images:
            pixels = np.array(image.convert("RGB"), dtype=np.uint8)  # a writable copy
            x = torch.from_numpy(pixels).permute(2, 0, 1)[None].to(self.device)
            out.append(self.model(x).reshape(-1).double().cpu().numpy())
        return np.stack(out) if out else np.zeros((0, FEATURES))


class _Given(torch.nn.Module):
    """Hands precomputed features to torchmetrics' FID and KID (which ask their feature
    network for a dummy uint8 image's width once, then pass what ``update`` gets)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype == torch.uint8:
            return torch.zeros(x.shape[0], FEATURES)
        return x


def fid(real: np.ndarray, fake: np.ndarray) -> float | None:
    """Fréchet Inception distance of two feature sets ``[N, 2048]`` (torchmetrics);
    ``None`` with fewer than 2 images in either."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    if len(real) < 2 or len(fake) < 2:
        return None
    metric = FrechetInceptionDistance(feature=_Given(), normalize=False)
    metric.update(torch.from_numpy(np.ascontiguousarray(real, dtype=np.float64)), real=True)
    metric.update(torch.from_numpy(np.ascontiguousarray(fake, dtype=np.float64)), real=False)
    # a distance: the -3e-4 torchmetrics' eigenvalue square root leaves on identical sets
    # of fewer images than features (a singular covariance) is 0
    return max(float(metric.compute()), 0.0)


def _subset(n: int) -> int:
    return min(max(n // 2, 2), 1000)


def kid(real: np.ndarray, fake: np.ndarray, seed: int = 0) -> tuple[float, float] | None:
    """Kernel Inception distance (mean, standard error over :data:`KID_SUBSETS` random
    subsets of min(N/2, 1000) images, so that the subsets differ and the error means
    something; torchmetrics), ``None`` with fewer than 2 images."""
    from torchmetrics.image.kid import KernelInceptionDistance

    n = min(len(real), len(fake))
    if n < 2:
        return None
    import warnings

    with warnings.catch_warnings():  # "will save all extracted features": 2048 x N floats
        warnings.filterwarnings("ignore", message=".*save all extracted features.*")
        metric = KernelInceptionDistance(
            feature=_Given(), subsets=KID_SUBSETS, subset_size=_subset(n), normalize=False
        )
    metric.update(torch.from_numpy(np.ascontiguousarray(real, dtype=np.float64)), real=True)
    metric.update(torch.from_numpy(np.ascontiguousarray(fake, dtype=np.float64)), real=False)
    with torch.random.fork_rng(devices=[]):  # KID draws subsets from torch's global RNG
        torch.manual_seed(seed)
        mean, std = metric.compute()
    return float(mean), float(std)

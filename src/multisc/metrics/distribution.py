"""Set-level perceptual metrics: FID and KID between the references and the
reconstructions of a set of transmissions, as torch-fidelity computes them.

The features are torch-fidelity's ``FeatureExtractorInceptionV3`` (``inception-v3-compat``,
the 2048 pool features of the TF 2015-12-05 Inception every FID paper uses; component
``inception``), which resizes each uint8 image to 299 x 299 with its port of TF 1.x's
bilinear resize (no antialiasing). A value here is torch-fidelity's, not pytorch-fid's
(which resizes half-pixel bilinear and scales pixels 2x/255-1: other numbers). FID is
torch-fidelity's ``fid_statistics_to_metric`` on those features; KID its
``kid_features_to_metric`` (polynomial kernel of degree 3, seed 2020). So a number here is
the number ``torch_fidelity.calculate_metrics`` gives on the same images and weights.

FID needs a few hundred images per set to mean much (below that it is biased upwards and
varies between sets); KID is unbiased. Both are computed per scheme, variant, channel and
SNR over all its images.
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
#: KID: random subsets drawn for its mean and standard deviation (torch-fidelity's default)
KID_SUBSETS = 100
#: KID: torch-fidelity's default subset size, used when both sets have at least this many
KID_SUBSET_SIZE = 1000
#: KID: torch-fidelity's default seed of the subset draws
KID_SEED = 2020
#: what the report and ``--json`` say the features are
FEATURE_EXTRACTOR = (
    "torch-fidelity FeatureExtractorInceptionV3 ('inception-v3-compat', pool 2048; "
    "TF 1.x bilinear resize to 299 x 299)"
)


class InceptionFeatures:
    """Inception-v3 pool features (2048 per image) as torch-fidelity computes them, from
    the checked weights file (torch hub cache or ``models_dir/inception/``).

    Images of any size: torch-fidelity resizes each one to 299 x 299 inside the network.
    """

    def __init__(self, device: torch.device | str = "cpu", models_dir: str | Path | None = None):
        from unittest import mock

        from torch_fidelity import feature_extractor_inceptionv3 as fidelity

        from multisc.models import torch_hub_state

        state = torch_hub_state("inception", models_dir)  # checked, read with weights_only
        self.device = torch.device(device)
        # torch-fidelity's constructor downloads and unpickles the file itself: it gets the
        # checked state dict instead
        with mock.patch.object(fidelity, "load_state_dict_from_url", lambda *a, **k: state):
            self.model = fidelity.FeatureExtractorInceptionV3(
                "inception-v3-compat", [str(FEATURES)]
            )
        self.model = self.model.to(self.device)

    @torch.no_grad()
    def __call__(self, images: Sequence[Image.Image]) -> np.ndarray:
        """``[N, 2048]`` float32 features, one image at a time (sizes may differ)."""
        out = []
        for image in images:
            pixels = np.array(image.convert("RGB"), dtype=np.uint8)  # a writable copy
            x = torch.from_numpy(pixels).permute(2, 0, 1)[None].to(self.device)
            (features,) = self.model(x)
            out.append(features.reshape(-1).cpu().numpy())
        return np.stack(out) if out else np.zeros((0, FEATURES), dtype=np.float32)


def _tensor(features: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32))


def fid(real: np.ndarray, fake: np.ndarray) -> float | None:
    """Fréchet Inception distance of two feature sets ``[N, 2048]``, torch-fidelity's
    formula on float32 features; ``None`` with fewer than 2 images in either.

    On identical sets of fewer images than features (a singular covariance) the square
    root leaves about -1e-4 where the distance is 0: values below 0 are returned as 0.
    """
    from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric

    if len(real) < 2 or len(fake) < 2:
        return None
    value = fid_statistics_to_metric(
        fid_features_to_statistics(_tensor(real)),
        fid_features_to_statistics(_tensor(fake)),
        verbose=False,
    )["frechet_inception_distance"]
    return max(float(value), 0.0)


def kid_subset_size(n: int) -> int:
    """The KID subset size for sets of ``n`` images: torch-fidelity's 1000 when both sets
    have that many, else half the set (so the subsets differ and their spread means
    something), at least 2."""
    return KID_SUBSET_SIZE if n >= KID_SUBSET_SIZE else max(n // 2, 2)


def kid(real: np.ndarray, fake: np.ndarray, seed: int = KID_SEED) -> tuple[float, float] | None:
    """Kernel Inception distance as torch-fidelity computes it: ``(mean, std)`` of the
    unbiased MMD² over ``KID_SUBSETS`` random subsets of
    [kid_subset_size][multisc.metrics.distribution.kid_subset_size] images (torch-fidelity's
    ``kernel_inception_distance_mean`` and ``kernel_inception_distance_std``: the standard
    deviation of the subsets' values, not a standard error). ``None`` with fewer than 2
    images."""
    from torch_fidelity.metric_kid import kid_features_to_metric

    n = min(len(real), len(fake))
    if n < 2:
        return None
    out = kid_features_to_metric(
        _tensor(real),
        _tensor(fake),
        kid_subsets=KID_SUBSETS,
        kid_subset_size=kid_subset_size(n),
        rng_seed=seed,
        verbose=False,
    )
    return float(out["kernel_inception_distance_mean"]), float(out["kernel_inception_distance_std"])

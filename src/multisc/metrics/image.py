"""Image metrics: PSNR, SSIM, LPIPS (AlexNet) and CLIP image-embedding cosine similarity.

All take batches ``[B, 3, H, W]`` of RGB in [0, 1] (data range 1) and return ``[B]``.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torchmetrics.functional.image import (
    peak_signal_noise_ratio,
    structural_similarity_index_measure,
)

from multisc.errors import InvalidInputError
from multisc.models import default_dtype, load_pretrained

#: torchvision's ImageNet AlexNet, the backbone LPIPS was calibrated on.


def _check_pair(reference: torch.Tensor, reconstruction: torch.Tensor) -> None:
    if reference.shape != reconstruction.shape or reference.dim() != 4 or reference.shape[1] != 3:
        raise InvalidInputError(
            "expected two batches [B, 3, H, W] of the same shape, got "
            f"{tuple(reference.shape)} and {tuple(reconstruction.shape)}"
        )


def psnr(reference: torch.Tensor, reconstruction: torch.Tensor) -> torch.Tensor:
    """PSNR in dB per image (data range 1); ``inf`` for identical images."""
    _check_pair(reference, reconstruction)
    return peak_signal_noise_ratio(
        reconstruction, reference, data_range=1.0, reduction="none", dim=(1, 2, 3)
    )


SSIM_WINDOW = 11  # Gaussian window, sigma 1.5 (Wang et al. 2004)


def ssim(reference: torch.Tensor, reconstruction: torch.Tensor) -> torch.Tensor:
    """SSIM per image: Gaussian window 11x11, sigma 1.5, K1 0.01, K2 0.03, data range 1
    (Wang et al. 2004), averaged over the three channels and over the positions where the
    window fits inside the image (as scikit-image and the reference code do; torchmetrics'
    own average also counts a reflect-padded border, which we crop off).

    Images smaller than the window have no such position: their SSIM is NaN.
    """
    _check_pair(reference, reconstruction)
    height, width = reference.shape[-2:]
    if min(height, width) < SSIM_WINDOW:
        return torch.full((reference.shape[0],), float("nan"))
    _, full = structural_similarity_index_measure(
        reconstruction.float(),
        reference.float(),
        data_range=1.0,
        sigma=1.5,
        kernel_size=SSIM_WINDOW,
        reduction="none",
        return_full_image=True,
    )
    border = SSIM_WINDOW // 2
    return full[..., border:-border, border:-border].flatten(1).mean(1).float()


class LPIPS:
    """LPIPS (Zhang et al. 2018) with the AlexNet backbone, as the ``lpips`` package defines it.

    The linear calibration layers ship inside the ``lpips`` package. The AlexNet backbone
    comes from the torch hub cache (``$TORCH_HOME/hub/checkpoints/alexnet-owt-7be5be79.pth``,
    what torchvision downloads), or ``models_dir/lpips/`` where ``multisc models export``
    put a copy; ``backbone="random"`` builds a randomly initialised one (for tests only: its
    values mean nothing).
    """

    def __init__(
        self,
        device: torch.device | str = "cpu",
        backbone: str = "pretrained",
        models_dir: str | Path | None = None,
    ) -> None:
        import warnings

        import lpips

        self.device = torch.device(device)
        with warnings.catch_warnings():  # lpips calls torchvision's deprecated `pretrained=`
            warnings.simplefilter("ignore", UserWarning)
            model = lpips.LPIPS(net="alex", pnet_rand=True, verbose=False)
        if backbone == "pretrained":
            _load_alexnet_features(model, models_dir)
        elif backbone != "random":
            raise InvalidInputError(
                f"LPIPS backbone must be 'pretrained' or 'random', got {backbone!r}"
            )
        self.model = model.to(self.device).eval()

    @torch.no_grad()
    def __call__(self, reference: torch.Tensor, reconstruction: torch.Tensor) -> torch.Tensor:
        """LPIPS distance per image (0 = identical; ~1 = unrelated). Inputs in [0, 1]."""
        _check_pair(reference, reconstruction)
        a = reference.to(self.device) * 2 - 1  # LPIPS expects [-1, 1]
        b = reconstruction.to(self.device) * 2 - 1
        return self.model(a, b).flatten().cpu()


def _load_alexnet_features(model: torch.nn.Module, models_dir: str | Path | None) -> None:
    from multisc.models import torch_hub_state

    state = torch_hub_state("lpips", models_dir)  # torchvision's AlexNet (PR 3620: a zip archive)
    features = {
        k.removeprefix("features."): v for k, v in state.items() if k.startswith("features.")
    }
    for slice_index in range(1, model.net.N_slices + 1):
        block = getattr(model.net, f"slice{slice_index}")
        for name, layer in block.named_children():
            params = {
                key.split(".", 1)[1]: value
                for key, value in features.items()
                if key.split(".", 1)[0] == name
            }
            if params:
                layer.load_state_dict(params)


class ClipImageCosine:
    """Cosine similarity of CLIP image embeddings (raw, in [-1, 1]).

    Loads ``transformers.CLIPModel`` + ``CLIPImageProcessor`` through the registry
    (component ``clip``, default ``openai/clip-vit-base-patch32``).
    """

    def __init__(
        self,
        device: torch.device | str = "cpu",
        models_dir: str | Path | None = None,
    ) -> None:
        from transformers import CLIPImageProcessor, CLIPModel

        self.device = torch.device(device)
        self.dtype = default_dtype(self.device)
        self.model = load_pretrained(
            "clip", CLIPModel.from_pretrained, models_dir, dtype=self.dtype, weights_only=True
        )
        self.model = self.model.to(self.device).eval()
        self.processor = load_pretrained("clip", CLIPImageProcessor.from_pretrained, models_dir)

    @torch.no_grad()
    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """``[B, 3, H, W]`` in [0, 1] -> ``[B, D]`` unit-norm image embeddings."""
        inputs = self.processor(
            images=list(images.float().cpu()), return_tensors="pt", do_rescale=False
        )
        pixels = inputs["pixel_values"].to(self.device, self.dtype)
        features = self.model.get_image_features(pixel_values=pixels)
        if not isinstance(features, torch.Tensor):  # transformers 5: an output object
            features = features.pooler_output
        features = features.float()
        return features / features.norm(dim=-1, keepdim=True).clamp_min(1e-12)

    def __call__(self, reference: torch.Tensor, reconstruction: torch.Tensor) -> torch.Tensor:
        """Cosine similarity per image pair, ``[B]`` in [-1, 1]."""
        _check_pair(reference, reconstruction)
        return (self.embed(reference) * self.embed(reconstruction)).sum(-1).cpu()


class DISTS:
    """DISTS (Ding et al. 2020: structure and texture similarity of VGG16 features) as
    torchmetrics computes it: its network and its learned weights (``alpha``, ``beta``,
    shipped inside the torchmetrics package) on torchvision's ImageNet VGG16, read from the
    torch hub cache (component ``dists``: ``vgg16-397923af.pth``) or ``models_dir/dists/``.
    0 for identical images; larger is less similar (about 0.1-0.5 for distortions)."""

    def __init__(self, device: torch.device | str = "cpu", models_dir: str | Path | None = None):
        from unittest import mock

        from torchmetrics.functional.image import dists as tm_dists
        from torchvision.models import vgg16

        from multisc.models import torch_hub_state

        self.device = torch.device(device)
        backbone = vgg16(weights=None)
        backbone.load_state_dict(torch_hub_state("dists", models_dir))  # checked, weights_only
        # torchmetrics builds VGG16 with torchvision's download inside its constructor: it
        # gets the checked file instead (no network, no unchecked pickle)
        with mock.patch.object(tm_dists, "vgg16", lambda weights=None: backbone):
            self.model = tm_dists.DISTSNetwork().to(self.device).eval()

    @torch.no_grad()
    def __call__(self, reference: torch.Tensor, reconstruction: torch.Tensor) -> torch.Tensor:
        """DISTS per image pair, ``[B]``; inputs ``[B, 3, H, W]`` in [0, 1]."""
        _check_pair(reference, reconstruction)
        out = self.model(reference.to(self.device), reconstruction.to(self.device))
        return out.reshape(-1).float().cpu()

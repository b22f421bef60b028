"""Evaluation of a deep JSCC checkpoint over SNRs, on whole images."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from PIL import Image

from multisc.channel import ChannelSpec
from multisc.codecs.jscc import load_checkpoint
from multisc.devices import resolve_device
from multisc.imaging import to_tensor
from multisc.metrics.image import psnr, ssim


@torch.no_grad()
def evaluate_jscc(
    checkpoint: str | Path,
    images: Sequence[tuple[str, Image.Image]],
    snrs_db: Sequence[float],
    *,
    fading: str = "awgn",
    seed: int = 0,
    device: str | torch.device | None = None,
) -> list[dict]:
    """Mean PSNR (dB) and SSIM over ``images`` at each SNR, one image at a time.

    :output: one dict per SNR: ``snr_db``, ``fading``, ``psnr_db``, ``ssim``,
        ``channel_uses_per_image`` (mean), ``images``.
    """
    device = resolve_device(device)
    model = load_checkpoint(checkpoint, device)
    tensors = [to_tensor(image)[None].to(device) for _, image in images]
    rows = []
    for snr in snrs_db:
        spec = ChannelSpec(float(snr), fading=fading)  # type: ignore[arg-type]
        generator = torch.Generator(device=device).manual_seed(seed)
        psnrs, ssims, uses = [], [], []
        for x in tensors:
            x_hat, channel_uses = model(x, spec, generator)
            psnrs.append(float(psnr(x.cpu(), x_hat.cpu())[0]))
            ssims.append(float(ssim(x.cpu(), x_hat.cpu())[0]))
            uses.append(channel_uses)
        rows.append(
            {
                "snr_db": spec.snr_db,
                "fading": fading,
                "psnr_db": sum(psnrs) / len(psnrs),
                "ssim": sum(ssims) / len(ssims),
                "channel_uses_per_image": sum(uses) / len(uses),
                "images": len(tensors),
            }
        )
    return rows

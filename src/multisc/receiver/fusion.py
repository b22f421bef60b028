"""Fusing the block texts into one prompt that fits the generator's text encoder."""

from __future__ import annotations

from collections.abc import Sequence

from multisc.errors import InvalidInputError

#: CLIP's text encoder (Stable Diffusion 1.x) reads 77 tokens, start and end included.
CLIP_MAX_TOKENS = 77
SEPARATOR = ". "


def _count(tokenizer, text: str) -> int:
    """Tokens of ``text`` without the start/end tokens."""
    return len(tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])


def fuse_texts(
    texts: Sequence[str],
    tokenizer,
    max_tokens: int = CLIP_MAX_TOKENS,
    positions: Sequence[str] | None = None,
) -> str:
    """Join block texts into one prompt of at most ``max_tokens`` tokens of ``tokenizer``.

    Every block is represented and shortened fairly: the budget is shared out by
    water-filling (blocks shorter than an equal share keep all their words and hand the
    rest to the others; longer ones are cut, at word boundaries, to the same share).

    ``positions`` (e.g. ``["top left", ...]``) prefixes each block with ``"top left: "``.
    The default is **no prefixes**: in SD 1.5's 77-token window four prefixes cost about
    12 tokens, about a sixth of the budget, which would be taken from the captions' own
    words; the captions already say what each block shows, so we keep the words.

    :param tokenizer: the generator's own tokenizer (counts are measured with it).
    :output: the fused prompt; ``""`` when every text is empty.
    """
    if positions is not None and len(positions) != len(texts):
        raise InvalidInputError(f"{len(texts)} texts but {len(positions)} positions")
    specials = len(tokenizer("")["input_ids"])  # start/end tokens around any prompt
    budget = max_tokens - specials
    words = [text.split() for text in texts]
    prefixes = [f"{p}: " for p in positions] if positions else [""] * len(texts)
    kept = [w for w in words if w]
    if not kept:
        return ""
    active = [i for i, w in enumerate(words) if w]
    sep_cost = _count(tokenizer, SEPARATOR.strip())

    def cost(i: int, k: int) -> int:
        """Tokens of block ``i`` cut to its first ``k`` words (with prefix and separator)."""
        return _count(tokenizer, prefixes[i] + " ".join(words[i][:k])) + sep_cost

    full = {i: cost(i, len(words[i])) for i in active}
    allocation: dict[int, int] = {}
    remaining, todo = budget, list(active)
    while todo:  # water-filling
        share = remaining // len(todo)
        fits = [i for i in todo if full[i] <= share]
        if not fits:
            for i in todo:
                allocation[i] = share
            break
        for i in fits:
            allocation[i] = full[i]
            remaining -= full[i]
            todo.remove(i)

    def fit(i: int, allowance: int) -> str:
        """The longest start of block i (whole words; the first word cut by characters when
        even it alone does not fit: channel noise makes long space-less "words") within
        ``allowance`` tokens; at least one character, so every block stays represented."""
        k = len(words[i])
        while k > 1 and cost(i, k) > allowance:
            k -= 1
        if k > 1 or cost(i, 1) <= allowance:
            return " ".join(words[i][:k])
        word = words[i][0]
        low, high = 1, len(word)  # the largest cut that fits, by bisection
        while low < high:
            middle = (low + high + 1) // 2
            fits = _count(tokenizer, prefixes[i] + word[:middle]) + sep_cost <= allowance
            low, high = (middle, high) if fits else (low, middle - 1)
        return word[:low]

    kept = {i: fit(i, allocation[i]) for i in active}

    def render() -> str:
        return SEPARATOR.join(prefixes[i] + kept[i] for i in active)

    # Token merges across block boundaries can differ from the sum of parts: shrink the
    # longest block's allowance until the whole prompt fits (no block is dropped).
    fused = render()
    while _count(tokenizer, fused) > budget:
        longest = max(active, key=lambda i: _count(tokenizer, kept[i]))
        if len(kept[longest]) <= 1:
            break
        allocation[longest] = min(allocation[longest], _count(tokenizer, kept[longest])) - 1
        shorter = fit(longest, allocation[longest])
        kept[longest] = shorter if len(shorter) < len(kept[longest]) else kept[longest][:-1]
        fused = render()
    return fused

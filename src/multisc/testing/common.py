"""What every stand-in builder shares: the offline tokenizers (BPE trained on a few
sentences, handed to each model's own tokenizer class), the recorded Hub configs, seeding
and saving."""

from __future__ import annotations

import itertools
from pathlib import Path

import torch

from multisc.testing.sizes import Size

CORPUS = [
    "a brown dog runs across a green field of grass",
    "two people ride bicycles along a city street at dusk",
    "a red sailboat floats on a calm blue lake under the sky",
    "a plate of pasta with tomato sauce on a wooden table",
    "an old stone bridge over a narrow river in autumn",
    "the cat sleeps on a sofa next to a window",
    "a man in a white shirt stands near a tall building",
    "relay a brief, clear account of the picture shown.",
    "top left top right bottom left bottom right",
]


def train_bpe(
    vocab_size: int,
    special_tokens: list[str],
    end_of_word_suffix: str | None = None,
    corpus: list[str] | None = None,
) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """A byte-level BPE trained on ``corpus`` (default ``CORPUS``): (vocab, merges).

    Without a suffix, ``tokenizers``' trainer (deterministic there). With an end-of-word
    suffix (CLIP's ``</w>``) that trainer breaks ties between equally frequent pairs, and
    numbers its suffixed alphabet, in hash order, so the tiny models' token ids changed
    from one process to the next: ``_train_bpe_with_suffix`` does the same training
    with ties broken by the pair itself.
    """
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    if end_of_word_suffix:
        return _train_bpe_with_suffix(vocab_size, special_tokens, end_of_word_suffix, corpus)
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=special_tokens,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(corpus or CORPUS, trainer)
    state = tokenizer.model.__getstate__()
    import json

    raw = json.loads(state)
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in raw["merges"]]
    return raw["vocab"], merges


def _train_bpe_with_suffix(
    vocab_size: int, special_tokens: list[str], suffix: str, corpus: list[str] | None
) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Byte-level BPE with an end-of-word suffix, deterministic: words split as
    ``tokenizers``' ByteLevel pre-tokenizer splits them, the suffix on each word's last
    symbol, then the most frequent adjacent pair merged until ``vocab_size`` tokens (ties:
    the smallest pair). Written here because the library's trainer breaks ties in hash
    order (see ``train_bpe``)."""
    from collections import Counter

    from tokenizers import pre_tokenizers

    split = pre_tokenizers.ByteLevel(add_prefix_space=False)
    words: Counter[tuple[str, ...]] = Counter()
    for line in corpus or CORPUS:
        for piece, _ in split.pre_tokenize_str(line):
            symbols = list(piece)
            symbols[-1] += suffix
            words[tuple(symbols)] += 1
    alphabet = sorted(set(pre_tokenizers.ByteLevel.alphabet()) | {s for w in words for s in w})
    vocab = {token: i for i, token in enumerate(dict.fromkeys([*special_tokens, *alphabet]))}
    merges: list[tuple[str, str]] = []
    while len(vocab) < vocab_size:
        pairs: Counter[tuple[str, str]] = Counter()
        for word, count in words.items():
            for pair in itertools.pairwise(word):
                pairs[pair] += count
        if not pairs:
            break
        best = min(pairs, key=lambda pair: (-pairs[pair], pair))
        merges.append(best)
        vocab.setdefault(best[0] + best[1], len(vocab))
        merged: Counter[tuple[str, ...]] = Counter()
        for word, count in words.items():
            out, i = [], 0
            while i < len(word):
                if i + 1 < len(word) and (word[i], word[i + 1]) == best:
                    out.append(word[i] + word[i + 1])
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            merged[tuple(out)] += count
        words = merged
    return vocab, merges


def seed_all(seed: int) -> None:
    torch.manual_seed(seed)


QWEN_SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<image>"]


def filler_words(count: int) -> list[str]:
    """``count`` distinct 4-letter words ("aaaa", "aaab", ...): filler vocabulary."""
    import itertools
    import string

    words = ("".join(letters) for letters in itertools.product(string.ascii_lowercase, repeat=4))
    return list(itertools.islice(words, count))


def pad_vocab(vocab: dict[str, int], size: int | None, prefix: str = "\u0120") -> dict[str, int]:
    """Extend a byte-level BPE vocabulary to ``size`` entries with filler words (prefix
    "Ġ": a leading space), so that random models' token ids decode to words. Full-size
    random models have the real vocabulary sizes; without this their captions would
    decode to nothing and cost nothing downstream."""
    if size is None or len(vocab) >= size:
        return vocab
    padded = dict(vocab)
    for word in filler_words(size - len(vocab) + 1000):
        token = prefix + word
        if token not in padded:
            padded[token] = len(padded)
        if len(padded) >= size:
            break
    return padded


def llama_vocab(corpus: list[str] | None = None) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """A Llama-style vocabulary (SentencePiece's "▁" word marker, the 256 byte-fallback
    tokens ``<0x00>``..``<0xFF>``, ``<unk>`` ``<s>`` ``</s>`` first) trained on ``corpus``
    (default ``CORPUS``): (vocab, merges) for ``LlamaTokenizer``."""
    import json

    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    specials = ["<unk>", "<s>", "</s>", *(f"<0x{i:02X}>" for i in range(256))]
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True))
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(
        replacement="\u2581", prepend_scheme="first", split=False
    )
    trainer = trainers.BpeTrainer(vocab_size=600, special_tokens=specials, show_progress=False)
    tokenizer.train_from_iterator(corpus or CORPUS, trainer)
    raw = json.loads(tokenizer.model.__getstate__())
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in raw["merges"]]
    return raw["vocab"], merges


BART_SPECIALS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]


def llava_processor(image_size: int, patch_size: int, vocab_size: int | None = None):
    """A LLaVA processor: offline Qwen2 tokenizer, SigLIP image processor, chat template.

    With ``vocab_size`` (the full-size stand-in), the byte-level vocabulary is padded to the
    real one's first special id so that the specials get the real ids (``<|endoftext|>``
    151643, ``<|im_start|>`` 151644, ``<|im_end|>`` 151645, ``<image>`` 151646).
    """
    from transformers import LlavaProcessor, Qwen2Tokenizer, SiglipImageProcessor

    if vocab_size is None:
        vocab, merges = train_bpe(300, QWEN_SPECIALS)
    else:
        vocab, merges = train_bpe(300, [])
        vocab = pad_vocab(vocab, vocab_size)
        for token in QWEN_SPECIALS:
            vocab[token] = len(vocab)
    tokenizer = Qwen2Tokenizer(vocab=vocab, merges=merges)
    tokenizer.add_special_tokens({"additional_special_tokens": QWEN_SPECIALS[1:]})
    processor_config = hub_config("captioner", "processor_config.json")
    return LlavaProcessor(
        image_processor=SiglipImageProcessor(size={"height": image_size, "width": image_size}),
        tokenizer=tokenizer,
        patch_size=patch_size,
        vision_feature_select_strategy=processor_config["vision_feature_select_strategy"],
        chat_template=LLAVA_CHAT_TEMPLATE,
        num_additional_image_tokens=processor_config["num_additional_image_tokens"],
    )


def hub_config(name: str, file: str = "config.json") -> dict:
    """A recorded config of component ``name``'s real repo, without the keys that only
    describe the file (``architectures``, ``_name_or_path``, ``torch_dtype``...)."""
    from multisc.models import manifest

    return _strip(manifest(name)["configs"][file])


_META_KEYS = ("architectures", "_name_or_path", "torch_dtype", "model_type", "_class_name")


def _strip(config: dict) -> dict:
    return {
        k: _strip(v) if isinstance(v, dict) else v
        for k, v in config.items()
        if k not in _META_KEYS and not k.startswith("_")
    }


def bart_tokenizer(corpus: list[str] | None = None, vocab_size: int | None = None):
    from transformers import BartTokenizer

    vocab, merges = train_bpe(400, BART_SPECIALS, corpus=corpus)
    return BartTokenizer(vocab=pad_vocab(vocab, vocab_size), merges=merges)


def clip_tokenizer():
    from transformers import CLIPTokenizer

    vocab, merges = train_bpe(300, ["<|startoftext|>", "<|endoftext|>"], end_of_word_suffix="</w>")
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=77)


LLAVA_CHAT_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n'}}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}"
    "{{ '<image>' }}{% endfor %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{{ '\n' + content['text'] }}{% endfor %}{{'<|im_end|>\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)  # the layout of llava-interleave-qwen's template


def save_model(model, directory: Path, size: Size, name: str) -> None:
    """Write a transformers stand-in as component ``name``'s repo holds it (full size: the
    published dtype, key names and container; ``multisc.testing.files``)."""
    from multisc.testing.files import save_transformers_model

    save_transformers_model(name, model, directory, full=size == "full")

"""Tiny random components of the real classes, for tests and offline smoke runs.

In the spirit of diffusers' ``get_dummy_components``: the same classes as the
pretrained components, a few layers wide, saved with ``save_pretrained`` so they load
back through exactly the path users take (``--models DIR`` -> ``DIR/<component>``).
Their outputs mean nothing; their code paths are the real ones.

Tokenizers are trained offline on a few sentences (``tokenizers`` BPE) and handed to
each model's own tokenizer class. Weights use a large init range (0.5): with the
default 0.02, tiny decoders repeat one token forever and batched-vs-unbatched checks
would prove nothing.
"""

from __future__ import annotations

from pathlib import Path

import torch

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
INIT_RANGE = 0.5


def _train_bpe(
    vocab_size: int,
    special_tokens: list[str],
    end_of_word_suffix: str | None = None,
    corpus: list[str] | None = None,
) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """A byte-level BPE trained on ``corpus`` (default :data:`CORPUS`): (vocab, merges)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    bpe = models.BPE(end_of_word_suffix=end_of_word_suffix) if end_of_word_suffix else models.BPE()
    tokenizer = Tokenizer(bpe)
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    extra = {"end_of_word_suffix": end_of_word_suffix} if end_of_word_suffix else {}
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=special_tokens,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
        **extra,
    )
    tokenizer.train_from_iterator(corpus or CORPUS, trainer)
    state = tokenizer.model.__getstate__()
    import json

    raw = json.loads(state)
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in raw["merges"]]
    return raw["vocab"], merges


def _seed(seed: int) -> None:
    torch.manual_seed(seed)


QWEN_SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<image>"]


def _filler_words(count: int) -> list[str]:
    """``count`` distinct 4-letter words ("aaaa", "aaab", ...): filler vocabulary."""
    import itertools
    import string

    words = ("".join(letters) for letters in itertools.product(string.ascii_lowercase, repeat=4))
    return list(itertools.islice(words, count))


def _pad_vocab(vocab: dict[str, int], size: int | None, prefix: str = "\u0120") -> dict[str, int]:
    """Extend a byte-level BPE vocabulary to ``size`` entries with filler words (prefix
    "Ġ": a leading space), so that random models' token ids decode to words. Full-size
    random models have the real vocabulary sizes; without this their captions would
    decode to nothing and cost nothing downstream."""
    if size is None or len(vocab) >= size:
        return vocab
    padded = dict(vocab)
    for word in _filler_words(size - len(vocab) + 1000):
        token = prefix + word
        if token not in padded:
            padded[token] = len(padded)
        if len(padded) >= size:
            break
    return padded


BART_SPECIALS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]


def _llava_processor(image_size: int, patch_size: int, vocab_size: int | None = None):
    """A LLaVA processor: offline Qwen2 tokenizer, SigLIP image processor, chat template.

    With ``vocab_size`` (the full-size stand-in), the byte-level vocabulary is padded to the
    real one's first special id so that the specials get the real ids (``<|endoftext|>``
    151643, ``<|im_start|>`` 151644, ``<|im_end|>`` 151645, ``<image>`` 151646).
    """
    from transformers import LlavaProcessor, Qwen2Tokenizer, SiglipImageProcessor

    if vocab_size is None:
        vocab, merges = _train_bpe(300, QWEN_SPECIALS)
    else:
        vocab, merges = _train_bpe(300, [])
        vocab = _pad_vocab(vocab, vocab_size)
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


def _bart_tokenizer(corpus: list[str] | None = None, vocab_size: int | None = None):
    from transformers import BartTokenizer

    vocab, merges = _train_bpe(400, BART_SPECIALS, corpus=corpus)
    return BartTokenizer(vocab=_pad_vocab(vocab, vocab_size), merges=merges)


def _clip_tokenizer():
    from transformers import CLIPTokenizer

    vocab, merges = _train_bpe(300, ["<|startoftext|>", "<|endoftext|>"], end_of_word_suffix="</w>")
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=77)


def save_tiny_clip(directory: str | Path, seed: int = 0) -> Path:
    """A tiny ``CLIPModel`` (2 layers, width 32, 32x32 images) + its image processor, in
    the layout of ``openai/clip-vit-base-patch32``."""
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    _seed(seed)
    config = CLIPConfig(
        text_config={
            "vocab_size": 99,
            "hidden_size": 32,
            "intermediate_size": 37,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "max_position_embeddings": 77,
            "bos_token_id": 0,
            "eos_token_id": 2,
            "pad_token_id": 1,
        },
        vision_config={
            "image_size": 32,
            "patch_size": 8,
            "hidden_size": 32,
            "intermediate_size": 37,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
        },
        projection_dim=16,
    )
    directory = Path(directory)
    CLIPModel(config).eval().save_pretrained(directory)
    CLIPImageProcessor(
        size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
    ).save_pretrained(directory)
    return directory


def save_tiny_segmenter(directory: str | Path, seed: int = 0) -> Path:
    """torchvision's FCN-ResNet50 (the real architecture: it has no smaller variant) with
    random weights, as ``model.safetensors``."""
    from safetensors.torch import save_file

    from multisc.transmitter.segmentation import WEIGHTS_FILE, build_fcn

    _seed(seed)
    model = build_fcn()
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    save_file(
        {k: v.contiguous() for k, v in model.state_dict().items()}, str(directory / WEIGHTS_FILE)
    )
    return directory


LLAVA_CHAT_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n'}}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}"
    "{{ '<image>' }}{% endfor %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{{ '\n' + content['text'] }}{% endfor %}{{'<|im_end|>\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)  # the layout of llava-interleave-qwen's template


def save_tiny_llava(directory: str | Path, seed: int = 0) -> Path:
    """A tiny LLaVA with the real repo's structure at tiny sizes: SigLIP vision tower
    without its pooling head, last-layer features, all of them ("full"); a Qwen1.5 language
    model (as many KV heads as heads); its processor (Qwen2 tokenizer, SigLIP image
    processor, the chat template) and generation config (end token ``<|im_end|>``)."""
    from transformers import (
        LlavaConfig,
        LlavaForConditionalGeneration,
        Qwen2Config,
        SiglipVisionConfig,
    )

    real = hub_config("captioner")
    processor = _llava_processor(image_size=32, patch_size=8)
    tokenizer = processor.tokenizer
    image_token_id = tokenizer.convert_tokens_to_ids("<image>")
    vision = SiglipVisionConfig(
        image_size=32,
        patch_size=8,
        hidden_size=32,
        intermediate_size=37,
        num_hidden_layers=2,
        num_attention_heads=4,
        vision_use_head=real["vision_config"]["vision_use_head"],
        hidden_act=real["vision_config"]["hidden_act"],
    )
    text = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=37,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,  # Qwen1.5: multi-head attention, KV heads = heads
        max_position_embeddings=256,
        initializer_range=INIT_RANGE,
        bos_token_id=tokenizer.convert_tokens_to_ids("<|endoftext|>"),
        eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"),
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=real["text_config"]["tie_word_embeddings"],
    )
    config = LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_index=image_token_id,
        vision_feature_select_strategy=real["vision_feature_select_strategy"],
        vision_feature_layer=real["vision_feature_layer"],
        projector_hidden_act=real["projector_hidden_act"],
        initializer_range=INIT_RANGE,
    )
    _seed(seed)
    model = LlavaForConditionalGeneration(config).eval()
    _llava_generation_config(model, text)
    directory = Path(directory)
    model.save_pretrained(directory)
    processor.save_pretrained(directory)
    return directory


def _llava_generation_config(model, text) -> None:
    """The repo's generation_config.json: only bos/eos (the chat end token)."""
    from transformers import GenerationConfig

    model.generation_config = GenerationConfig(
        bos_token_id=text.bos_token_id, eos_token_id=text.eos_token_id
    )


def save_tiny_blip(directory: str | Path, seed: int = 0, vocab_size: int | None = None) -> Path:
    """A tiny BLIP captioner with a WordPiece tokenizer over the corpus' words."""
    from transformers import (
        BertTokenizer,
        BlipConfig,
        BlipForConditionalGeneration,
        BlipImageProcessor,
        BlipProcessor,
    )

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    words = sorted({w.strip(".,") for line in CORPUS for w in line.split()})
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]"]
    vocab_file = directory / "vocab.txt"
    entries = specials + words + list(".,")
    if vocab_size is not None:  # filler words up to the real vocabulary size
        entries += [w for w in _filler_words(vocab_size) if w not in set(entries)]
        entries = entries[:vocab_size]
    vocab_file.write_text("\n".join(entries) + "\n")
    tokenizer = BertTokenizer(str(vocab_file), bos_token="[DEC]")
    vocab_file.unlink()
    processor = BlipProcessor(
        image_processor=BlipImageProcessor(size={"height": 32, "width": 32}), tokenizer=tokenizer
    )
    config = BlipConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": 32,
            "intermediate_size": 37,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "encoder_hidden_size": 32,
            "initializer_range": INIT_RANGE,
            "bos_token_id": tokenizer.convert_tokens_to_ids("[DEC]"),
            "sep_token_id": tokenizer.sep_token_id,
            "pad_token_id": tokenizer.pad_token_id,
            "eos_token_id": tokenizer.sep_token_id,
        },
        vision_config={
            "image_size": 32,
            "patch_size": 8,
            "hidden_size": 32,
            "intermediate_size": 37,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "initializer_range": INIT_RANGE,
        },
        projection_dim=16,
        initializer_range=INIT_RANGE,
    )
    _seed(seed)
    model = BlipForConditionalGeneration(config).eval()
    model.save_pretrained(directory)
    processor.save_pretrained(directory)
    return directory


def save_tiny_bart(directory: str | Path, seed: int = 0) -> Path:
    """A tiny BART seq2seq (the corrector's class) with a byte-level BPE tokenizer, in the
    real repo's layout: its search settings (``no_repeat_ngram_size`` 3, ``num_beams`` 4,
    ``early_stopping``, ``forced_bos_token_id``) in ``config.json`` and no
    ``generation_config.json``, so tests meet what users of the real corrector meet."""
    from transformers import BartConfig, BartForConditionalGeneration

    tokenizer = _bart_tokenizer()
    config = BartConfig(
        vocab_size=len(tokenizer),
        d_model=32,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=4,
        decoder_attention_heads=4,
        encoder_ffn_dim=37,
        decoder_ffn_dim=37,
        max_position_embeddings=256,
        init_std=INIT_RANGE,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.eos_token_id,
        forced_eos_token_id=tokenizer.eos_token_id,
    )
    _seed(seed)
    model = BartForConditionalGeneration(config).eval()
    directory = Path(directory)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    as_real_corrector_layout(directory)
    return directory


#: Search settings that the real corrector repo keeps in config.json (recorded manifest).
CORRECTOR_SEARCH_KEYS = ("early_stopping", "no_repeat_ngram_size", "num_beams")
CORRECTOR_TOKEN_KEYS = ("forced_bos_token_id", "forced_eos_token_id", "decoder_start_token_id")


def as_real_corrector_layout(directory: str | Path) -> None:
    """Rewrite a saved BART into the corrector repo's layout: the repo's generation settings
    in ``config.json`` (token ids mapped through this model's own ids, which follow BART's
    ``<s>``=0, ``<pad>``=1, ``</s>``=2 order), and no ``generation_config.json``."""
    import json

    directory = Path(directory)
    real = hub_config("corrector")
    config = json.loads((directory / "config.json").read_text())
    for key in (*CORRECTOR_SEARCH_KEYS, *CORRECTOR_TOKEN_KEYS):
        config[key] = real[key]
    (directory / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True))
    (directory / "generation_config.json").unlink(missing_ok=True)


#: Width of the tiny UNet's blocks and of its text and image-prompt tokens.
TINY_UNET_CHANNELS = (32, 64)
TINY_CROSS_ATTENTION = 32


def _save_sd_pipeline(directory, unet, vae, text_encoder, tokenizer, scheduler) -> Path:
    """Assemble a ``StableDiffusionPipeline`` (no safety checker) and save it."""
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline(
        unet=unet,
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        image_encoder=None,
        requires_safety_checker=False,
    )
    directory = Path(directory)
    pipe.save_pretrained(directory)
    return directory


def save_tiny_stable_diffusion(directory: str | Path, seed: int = 0) -> Path:
    """A tiny ``StableDiffusionPipeline`` (UNet, VAE, CLIP text encoder and tokenizer,
    PNDM scheduler), in the layout of ``stable-diffusion-v1-5``."""
    from diffusers import (
        AutoencoderKL,
        PNDMScheduler,
    )
    from transformers import CLIPTextConfig, CLIPTextModel

    _seed(seed)
    unet = _tiny_unet()
    vae = AutoencoderKL(
        block_out_channels=[16, 32],
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
        up_block_types=["UpDecoderBlock2D", "UpDecoderBlock2D"],
        latent_channels=4,
        norm_num_groups=16,
        sample_size=32,
    )
    tokenizer = _clip_tokenizer()
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(tokenizer),
            hidden_size=TINY_CROSS_ATTENTION,
            intermediate_size=37,
            num_hidden_layers=2,
            num_attention_heads=4,
            max_position_embeddings=77,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    )
    scheduler = PNDMScheduler(skip_prk_steps=True, steps_offset=1)
    return _save_sd_pipeline(directory, unet, vae, text_encoder, tokenizer, scheduler)


def save_tiny_ip_adapter(directory: str | Path, seed: int = 0) -> Path:
    """A tiny IP-Adapter for the tiny UNet, in the ``h94/IP-Adapter`` layout:
    ``models/ip-adapter_sd15.safetensors`` (``image_proj.*`` and one ``to_k_ip``/``to_v_ip``
    pair per cross-attention processor, numbered 1, 3, 5, ...) beside
    ``models/image_encoder`` (``CLIPVisionModelWithProjection``)."""
    from safetensors.torch import save_file
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    _seed(seed)
    image_embed_dim = 24
    tokens = 4  # IP-Adapter (not Plus) projects one image embedding to 4 tokens
    encoder = CLIPVisionModelWithProjection(
        CLIPVisionConfig(
            image_size=32,
            patch_size=8,
            hidden_size=32,
            intermediate_size=37,
            num_hidden_layers=2,
            num_attention_heads=4,
            projection_dim=image_embed_dim,
        )
    )
    directory = Path(directory)
    models = directory / "models"
    encoder.save_pretrained(models / "image_encoder")
    std = 0.2
    weights = {
        "image_proj.proj.weight": torch.randn(TINY_CROSS_ATTENTION * tokens, image_embed_dim) * std,
        "image_proj.proj.bias": torch.randn(TINY_CROSS_ATTENTION * tokens) * std,
        "image_proj.norm.weight": torch.ones(TINY_CROSS_ATTENTION),
        "image_proj.norm.bias": torch.zeros(TINY_CROSS_ATTENTION),
    }
    for key_id, hidden in enumerate(_cross_attention_widths(), start=0):
        index = 2 * key_id + 1
        for name in ("to_k_ip", "to_v_ip"):
            weights[f"ip_adapter.{index}.{name}.weight"] = (
                torch.randn(hidden, TINY_CROSS_ATTENTION) * std
            )
    save_file(weights, str(models / "ip-adapter_sd15.safetensors"))
    return directory


def _tiny_unet():
    """The tiny UNet (blocks 32-64, cross-attention width 32), randomly initialised."""
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(
        block_out_channels=TINY_UNET_CHANNELS,
        layers_per_block=1,
        sample_size=16,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=TINY_CROSS_ATTENTION,
        norm_num_groups=16,
    )


def _cross_attention_widths() -> list[int]:
    """Widths of the tiny UNet's cross-attention layers, in ``unet.attn_processors`` order."""

    unet = _tiny_unet()
    widths = []
    for name in unet.attn_processors:
        if name.endswith("attn1.processor"):
            continue
        if name.startswith("mid_block"):
            widths.append(unet.config.block_out_channels[-1])
        elif name.startswith("up_blocks"):
            block = int(name[len("up_blocks.")])
            widths.append(list(reversed(unet.config.block_out_channels))[block])
        else:
            block = int(name[len("down_blocks.")])
            widths.append(unet.config.block_out_channels[block])
    return widths


#: component name -> builder; ``multisc models make-tiny DIR`` writes each into ``DIR/<name>``.
TINY_BUILDERS = {
    "segmenter": save_tiny_segmenter,
    "captioner": save_tiny_llava,
    "vlm_captioner": save_tiny_blip,
    "corrector": save_tiny_bart,
    "generator": save_tiny_stable_diffusion,
    "ip_adapter": save_tiny_ip_adapter,
    "clip": save_tiny_clip,
}


SUBJECTS = [
    "a dog",
    "a cat",
    "a man",
    "a woman",
    "two people",
    "a red car",
    "a boat",
    "a bird",
    "a horse",
    "a child",
    "an old bus",
    "a brown cow",
]
VERBS = ["stands", "runs", "sits", "walks", "sleeps", "waits", "plays", "rests"]
PLACES = [
    "on the grass",
    "near a river",
    "in the street",
    "on a sofa",
    "by the sea",
    "under a tree",
    "in a field",
    "next to a house",
    "on a bridge",
    "in the snow",
]


def synthetic_captions(n: int, seed: int = 0) -> list[str]:
    """Distinct caption-like sentences from templates ("a dog runs on the grass"), for
    training tiny correctors offline."""
    import random

    rng = random.Random(seed)
    sentences: list[str] = []
    seen: set[str] = set()
    limit = len(SUBJECTS) * len(VERBS) * len(PLACES)
    while len(sentences) < min(n, limit):
        text = f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(PLACES)}"
        if text not in seen:
            seen.add(text)
            sentences.append(text)
    return sentences


def tiny_bart_for(texts: list[str], seed: int = 0, d_model: int = 64):
    """A tiny BART (model, tokenizer) whose byte-level BPE is trained on ``texts``; for
    training a corrector from scratch in tests (default init, unlike the tiny set)."""
    from transformers import BartConfig, BartForConditionalGeneration

    bart_tokenizer = _bart_tokenizer(corpus=list(texts))
    config = BartConfig(
        vocab_size=len(bart_tokenizer),
        d_model=d_model,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=4,
        decoder_attention_heads=4,
        encoder_ffn_dim=2 * d_model,
        decoder_ffn_dim=2 * d_model,
        max_position_embeddings=128,
        pad_token_id=bart_tokenizer.pad_token_id,
        bos_token_id=bart_tokenizer.bos_token_id,
        eos_token_id=bart_tokenizer.eos_token_id,
        decoder_start_token_id=bart_tokenizer.eos_token_id,
        forced_eos_token_id=bart_tokenizer.eos_token_id,
    )
    torch.manual_seed(seed)
    return BartForConditionalGeneration(config), bart_tokenizer


# -- full-size random components (benchmarks: the real models' cost, offline) ------------
#
# Same classes and published architectures as the real checkpoints; random weights (the
# cost of a forward pass does not depend on the values), saved in fp16. Tokenizers are
# the small offline ones (token ids differ from the real vocabularies; the embedding
# tables have the real vocabulary sizes, so the work is the same).


def _save_fp16(model, directory: Path, dtype: torch.dtype = torch.float16) -> None:
    model.to(dtype).save_pretrained(directory)


def save_full_stable_diffusion(directory: str | Path, seed: int = 0) -> Path:
    """SD 1.5 at its recorded configs (``generator`` manifest: unet / vae / text_encoder /
    scheduler), key by key: UNet 320-640-1280-1280, cross-attention 768 (860 M
    parameters); VAE 128-256-512-512; CLIP ViT-L/14 text encoder; PNDM with SD's betas."""
    from diffusers import AutoencoderKL, PNDMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    _seed(seed)
    unet = UNet2DConditionModel(**hub_config("generator", "unet/config.json"))
    vae = AutoencoderKL(**hub_config("generator", "vae/config.json"))
    tokenizer = _clip_tokenizer()
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            **hub_config("generator", "text_encoder/config.json"),
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    )
    scheduler = PNDMScheduler(**hub_config("generator", "scheduler/scheduler_config.json"))
    return _save_sd_pipeline(
        directory, unet.half(), vae.half(), text_encoder.half(), tokenizer, scheduler
    )


def save_full_ip_adapter(directory: str | Path, seed: int = 0) -> Path:
    """h94/IP-Adapter's SD 1.5 adapter at its recorded config: the OpenCLIP ViT-H/14 image
    encoder (``models/image_encoder/config.json``: 32 layers, width 1280, projection 1024)
    and ip-adapter_sd15.safetensors (image_proj 1024 -> 4 x 768 tokens; to_k_ip / to_v_ip
    for each of SD 1.5's 16 cross-attention layers)."""
    from diffusers import UNet2DConditionModel
    from safetensors.torch import save_file
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    from multisc.models import manifest

    _seed(seed)
    encoder = CLIPVisionModelWithProjection(
        CLIPVisionConfig(**hub_config("ip_adapter", "models/image_encoder/config.json"))
    )
    directory = Path(directory)
    _save_fp16(encoder, directory / "models" / "image_encoder")
    adapter = manifest("ip_adapter")["adapter"]
    width, tokens, embed = (
        adapter["cross_attention_dim"],
        adapter["tokens"],
        adapter["image_embed_dim"],
    )
    unet = UNet2DConditionModel(**hub_config("generator", "unet/config.json"))
    weights = {
        "image_proj.proj.weight": torch.randn(width * tokens, embed) * 0.02,
        "image_proj.proj.bias": torch.zeros(width * tokens),
        "image_proj.norm.weight": torch.ones(width),
        "image_proj.norm.bias": torch.zeros(width),
    }
    channels = unet.config.block_out_channels
    index = 1
    for name in unet.attn_processors:
        if name.endswith("attn1.processor"):
            continue
        if name.startswith("mid_block"):
            hidden = channels[-1]
        elif name.startswith("up_blocks"):
            hidden = list(reversed(channels))[int(name[len("up_blocks.")])]
        else:
            hidden = channels[int(name[len("down_blocks.")])]
        for key in ("to_k_ip", "to_v_ip"):
            weights[f"ip_adapter.{index}.{key}.weight"] = torch.randn(hidden, width) * 0.02
        index += 2
    save_file(
        {k: v.half().contiguous() for k, v in weights.items()},
        str(directory / "models" / "ip-adapter_sd15.safetensors"),
    )
    return directory


def full_llava_config():
    """``LlavaConfig`` of llava-interleave-qwen-0.5b-hf from its recorded config.json."""
    from transformers import LlavaConfig, Qwen2Config, SiglipVisionConfig

    real = hub_config("captioner")
    return LlavaConfig(
        vision_config=SiglipVisionConfig(**real["vision_config"]),
        text_config=Qwen2Config(**real["text_config"]),
        **{k: v for k, v in real.items() if k not in ("vision_config", "text_config")},
    )


def save_full_llava(directory: str | Path, seed: int = 0) -> Path:
    """llava-interleave-qwen-0.5b-hf at its recorded ``config.json``, key by key: SigLIP
    so400m/14 at 384 px cut to 26 layers without its pooling head (729 image tokens, all of
    them: "full"); Qwen1.5-0.5B-Chat (24 layers, width 1024, 16 heads, 16 KV heads,
    intermediate 2816, vocabulary 152,000, tied embeddings); image token 151646; saved in
    bf16 like the checkpoint. The tokenizer is the offline one, padded so that its special
    tokens have the real ids."""
    from transformers import LlavaForConditionalGeneration

    config = full_llava_config()
    vision, text = config.vision_config, config.text_config
    processor = _llava_processor(
        image_size=vision.image_size, patch_size=vision.patch_size, vocab_size=text.bos_token_id
    )
    tokenizer = processor.tokenizer
    ids = [tokenizer.convert_tokens_to_ids(t) for t in ("<|endoftext|>", "<|im_end|>", "<image>")]
    if ids != [text.bos_token_id, text.eos_token_id, config.image_token_index]:
        raise AssertionError(f"stand-in tokenizer ids {ids} differ from the real ones")
    text.pad_token_id = tokenizer.pad_token_id
    _seed(seed)
    model = LlavaForConditionalGeneration(config)
    _llava_generation_config(model, text)
    directory = Path(directory)
    _save_fp16(model, directory, torch.bfloat16)
    processor.save_pretrained(directory)
    return directory


def save_full_bart(directory: str | Path, seed: int = 0) -> Path:
    """The corrector at its recorded ``config.json`` (BART-base: 6+6 layers, width 768,
    vocabulary 50,265), with the repo's search settings in it and no generation config."""
    from transformers import BartConfig, BartForConditionalGeneration

    real = hub_config("corrector")
    tokenizer = _bart_tokenizer(vocab_size=real["vocab_size"])
    architecture = {
        k: v for k, v in real.items() if k not in (*CORRECTOR_SEARCH_KEYS, *CORRECTOR_TOKEN_KEYS)
    }
    config = BartConfig(**architecture, decoder_start_token_id=real["decoder_start_token_id"])
    _seed(seed)
    directory = Path(directory)
    _save_fp16(BartForConditionalGeneration(config), directory)
    tokenizer.save_pretrained(directory)
    as_real_corrector_layout(directory)
    return directory


def save_full_blip(directory: str | Path, seed: int = 0) -> Path:
    """BLIP-base captioning at its recorded sizes: ViT-B/16 at 384 px and a BERT-base text
    decoder, vocabulary 30,524."""
    from transformers import BlipConfig, BlipForConditionalGeneration, BlipImageProcessor

    real = hub_config("vlm_captioner")
    vocab_size = real["text_config"]["vocab_size"]
    directory = Path(directory)
    save_tiny_blip(directory, seed, vocab_size=vocab_size)  # processor and tokenizer layout
    side = real["vision_config"]["image_size"]
    BlipImageProcessor(size={"height": side, "width": side}).save_pretrained(directory)
    tiny = BlipConfig.from_pretrained(directory)
    config = BlipConfig(
        text_config={
            **real["text_config"],
            "bos_token_id": tiny.text_config.bos_token_id,
            "sep_token_id": tiny.text_config.sep_token_id,
            "pad_token_id": tiny.text_config.pad_token_id,
            "eos_token_id": tiny.text_config.eos_token_id,
        },
        vision_config=real["vision_config"],
    )
    _seed(seed)
    _save_fp16(BlipForConditionalGeneration(config), directory)
    return directory


def save_full_clip(directory: str | Path, seed: int = 0) -> Path:
    """CLIP ViT-B/32 at its recorded config (text 512 wide, vision 768 wide, patch 32,
    projection 512)."""
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    real = hub_config("clip")
    _seed(seed)
    directory = Path(directory)
    _save_fp16(CLIPModel(CLIPConfig(**real)), directory)
    side = hub_config("clip", "preprocessor_config.json")["crop_size"]
    CLIPImageProcessor(
        size={"shortest_edge": side}, crop_size={"height": side, "width": side}
    ).save_pretrained(directory)
    return directory


FULL_BUILDERS = {
    "segmenter": save_tiny_segmenter,  # FCN-ResNet50 has one size: the tiny set's is real
    "captioner": save_full_llava,
    "vlm_captioner": save_full_blip,
    "corrector": save_full_bart,
    "generator": save_full_stable_diffusion,
    "ip_adapter": save_full_ip_adapter,
    "clip": save_full_clip,
}

"""The one place stand-in weights are written: in each real file's format.

A full-size stand-in is the real file in everything but its values: the published dtype,
the real key names, the real container (safetensors or ``torch.save``), so its size is the
real file's within 1% (``tests/test_stand_in_files.py`` checks every component against the
recorded sizes). What differs from what today's ``save_pretrained`` would write, and why:

- **dtype**: the Hub's files are fp32 except the VLMs' (LLaVA-interleave and SmolVLM in bf16,
  LLaVA-1.5-7B in fp16), the LCM-LoRA (fp16) and the IP-Adapters' projections
  (``ip-adapter_sd15.safetensors``: 22.3 M parameters in 44,642,768 bytes, fp16). The image
  encoder's config says float16, but its ``model.safetensors`` is 2,528,373,448 bytes: 632 M
  parameters in fp32.
- **LLaVA keys**: llava-hf converted its checkpoints (2024) with the names of that time,
  ``language_model.model.*``, ``language_model.lm_head.*``, ``vision_tower.vision_model.*``
  (the tower was a whole ``SiglipVisionModel``) and ``multi_modal_projector.*``
  (transformers PR 33613, ``convert_llava_weights_to_hf.py``); transformers 5 renames them
  on load (``conversion_mapping.py``, the ``"llava"`` rules).
  The stand-in keeps the old names, so our tests go through that renaming as users do.
  LLaVA-1.5-7B's are the same names, in three shards with their
  ``model.safetensors.index.json``, split where the published shards are (5 GB each at
  most, in key order: 4.99, 4.96 and 4.18 GB).
- **BLIP**: ``Salesforce/blip-image-captioning-base``'s ``pytorch_model.bin`` (2022) stores
  the text decoder's output projection ``text_decoder.cls.predictions.decoder.weight`` as a
  copy of the word embeddings (223,971,644 parameters + 30,524 x 768 = 247,414,076 x 4 B =
  989,656,304 B, the 990 MB file; a fine-tune saved from it is 990 MB too) and the then
  persistent buffer ``text_decoder.bert.embeddings.position_ids``.
- **CLIP**: ``openai/clip-vit-base-patch32``'s ``pytorch_model.bin`` (2021) holds the then
  persistent ``text_model.embeddings.position_ids`` and ``vision_model.embeddings.position_ids``
  (the "unexpected key ... position_ids" users of transformers >= 4.31 see); SD 1.5's text
  encoder (2022) holds ``text_model.embeddings.position_ids`` likewise.

``capture()`` records what would be written instead of writing it: the stand-ins' sizes are
checked on the meta device, at no cost, through the very code that writes them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import torch

#: when not None, weights are recorded here (path -> state dict) instead of written
_CAPTURED: dict[str, dict[str, torch.Tensor]] | None = None


@contextlib.contextmanager
def capture() -> Iterator[dict[str, dict[str, torch.Tensor]]]:
    """``with capture() as files:`` builders record their weights files (path -> state dict,
    tensors as they would be written: meta tensors under ``torch.device("meta")``)."""
    global _CAPTURED
    previous, _CAPTURED = _CAPTURED, {}
    try:
        yield _CAPTURED
    finally:
        _CAPTURED = previous


def write_weights(state: dict[str, torch.Tensor], path: str | Path) -> Path:
    """Write ``state`` at ``path``: safetensors for ``.safetensors``, else ``torch.save``'s
    zip container (``multisc.testing.torch_hub`` writes the legacy one)."""
    path = Path(path)
    state = {k: v.contiguous() for k, v in state.items()}
    if _CAPTURED is not None:
        _CAPTURED[str(path)] = state
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file(state, str(path), metadata={"format": "pt"})
    else:
        torch.save(state, path)
    return path


def file_bytes(state: dict[str, torch.Tensor]) -> int:
    """Bytes of the tensors in a weights file (the container's header aside)."""
    return sum(t.numel() * t.element_size() for t in state.values())


def unique_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """``model``'s persistent state with tied parameters once (the first name), as
    ``save_pretrained`` writes it; ties are found by identity, so this works on meta too."""
    seen: set[int] = set()
    state: dict[str, torch.Tensor] = {}
    for key, value in model.state_dict(keep_vars=True).items():
        if id(value) in seen:
            continue
        seen.add(id(value))
        state[key] = value.detach()
    return state


def _llava_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    renamed = {}
    for key, value in state.items():
        if key.startswith("model.language_model."):
            key = "language_model.model." + key.removeprefix("model.language_model.")
        elif key.startswith("lm_head."):
            key = "language_model." + key
        elif key.startswith("model.vision_tower."):  # then a whole SiglipVisionModel
            key = "vision_tower.vision_model." + key.removeprefix("model.vision_tower.")
        elif key.startswith("model.multi_modal_projector."):
            key = key.removeprefix("model.")
        renamed[key] = value
    return renamed


def _blip_keys(state: dict[str, torch.Tensor], model) -> dict[str, torch.Tensor]:
    words = "text_decoder.bert.embeddings.word_embeddings.weight"
    state = {**state, "text_decoder.cls.predictions.decoder.weight": state[words].clone()}
    positions = model.config.text_config.max_position_embeddings
    state["text_decoder.bert.embeddings.position_ids"] = _positions(positions, state[words])
    return state


def _clip_keys(state: dict[str, torch.Tensor], model) -> dict[str, torch.Tensor]:
    config = model.config
    text = getattr(config, "text_config", config)
    like = next(iter(state.values()))
    state = {
        **state,
        "text_model.embeddings.position_ids": _positions(text.max_position_embeddings, like),
    }
    if hasattr(config, "vision_config"):
        vision = config.vision_config
        patches = (vision.image_size // vision.patch_size) ** 2
        state["vision_model.embeddings.position_ids"] = _positions(patches + 1, like)
    return state


def _positions(count: int, like: torch.Tensor) -> torch.Tensor:
    return torch.arange(count, device=like.device).expand((1, -1))


#: component -> (weights file name, dtype of the published file, key layout)
PUBLISHED = {
    "captioner": ("model.safetensors", torch.bfloat16),
    "llava-1.5-7b": ("model.safetensors", torch.float16),  # in shards: SHARDS
    "smolvlm-256m": ("model.safetensors", torch.bfloat16),
    "vlm_captioner": ("pytorch_model.bin", torch.float32),
    "clip": ("pytorch_model.bin", torch.float32),
    "corrector": ("model.safetensors", torch.float32),
    "image_encoder": ("model.safetensors", torch.float32),
    "text_encoder": ("model.safetensors", torch.float32),  # SD 1.5's, a CLIP text model
}


def real_state(name: str, model: torch.nn.Module, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """``model``'s weights as component ``name``'s published file holds them: floating
    tensors in ``dtype``, tied parameters once, the real key names and extra entries."""
    state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in unique_state(model).items()}
    if name in ("captioner", "llava-1.5-7b"):
        return _llava_keys(state)
    if name == "vlm_captioner":
        return _blip_keys(state, model)
    if name in ("clip", "text_encoder"):
        return _clip_keys(state, model)
    return state


def save_transformers_model(name: str, model, directory: str | Path, full: bool) -> Path:
    """A transformers model as component ``name``'s repo holds it: ``config.json`` (and the
    generation config), and the weights in the published file, dtype and key names (full
    size); tiny stand-ins keep fp32, the same file and names."""
    directory = Path(directory)
    file, dtype = PUBLISHED[name]
    dtype = dtype if full else torch.float32
    directory.mkdir(parents=True, exist_ok=True)
    model.config.dtype = dtype  # written as the published config.json says it
    model.config.save_pretrained(directory)
    if getattr(model, "generation_config", None) is not None and model.can_generate():
        model.generation_config.save_pretrained(directory)
    state = real_state(name, model, dtype)
    if name in SHARDS:
        write_shards(state, directory, SHARDS[name], full)
    else:
        write_weights(state, directory / file)
    return directory


#: components published in shards: how many, and the most bytes one holds (transformers'
#: ``max_shard_size`` when they were saved)
SHARDS = {"llava-1.5-7b": (3, 5_000_000_000)}


def write_shards(
    state: dict[str, torch.Tensor], directory: Path, shards: tuple[int, int], full: bool
) -> None:
    """``state`` as ``model-0000i-of-0000n.safetensors`` files and their
    ``model.safetensors.index.json``: in key order, each shard filled up to the limit
    (full size), or the keys dealt into ``n`` parts of about equal size (tiny)."""
    import json

    count, limit = shards
    total = file_bytes(state)
    if not full:
        limit = -(-total // count)  # tiny: n shards of about equal size
    parts: list[dict[str, torch.Tensor]] = [{}]
    filled = 0
    for key, value in state.items():
        size = value.numel() * value.element_size()
        if filled + size > limit and parts[-1] and len(parts) < count:
            parts.append({})
            filled = 0
        parts[-1][key] = value
        filled += size
    while len(parts) < count:  # a tiny state with fewer keys than shards
        parts.append({})
    names = [f"model-{i + 1:05d}-of-{count:05d}.safetensors" for i in range(count)]
    weight_map = {}
    for name, part in zip(names, parts, strict=True):
        write_weights(part, directory / name)
        weight_map.update(dict.fromkeys(part, name))
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    if _CAPTURED is None:
        (directory / "model.safetensors.index.json").write_text(json.dumps(index, indent=2))


def save_diffusers_model(model, directory: str | Path) -> Path:
    """A diffusers model (UNet, VAE) as SD 1.5's repo holds it: ``config.json`` and
    ``diffusion_pytorch_model.safetensors`` in fp32."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    model.save_config(directory)
    state = {k: v.float() if v.is_floating_point() else v for k, v in unique_state(model).items()}
    write_weights(state, directory / "diffusion_pytorch_model.safetensors")
    return directory


def chat_template_json(directory: Path) -> None:
    """transformers 5 saves ``chat_template.jinja``; the published VLM repos have
    ``chat_template.json`` (``{"chat_template": ...}``)."""
    import json

    jinja = directory / "chat_template.jinja"
    if jinja.is_file():
        template = jinja.read_text(encoding="utf-8")
        (directory / "chat_template.json").write_text(json.dumps({"chat_template": template}))
        jinja.unlink()


def separate_image_processor(directory: Path, keep_processor_config: bool) -> None:
    """transformers 5 nests the image processor inside ``processor_config.json``; the
    published repos keep it in ``preprocessor_config.json`` (LLaVA-interleave and SmolVLM:
    beside a small ``processor_config.json``; BLIP and LLaVA-1.5: alone)."""
    import json

    path = directory / "processor_config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    image = config.pop("image_processor")
    (directory / "preprocessor_config.json").write_text(json.dumps(image, indent=2))
    if keep_processor_config:
        path.write_text(json.dumps(config, indent=2))
    else:
        path.unlink()


def save_vlm(model, processor, directory: Path, size, name: str, processor_config: bool) -> Path:
    """A vision-language model and its processor as its published repo holds them
    ([save_transformers_model][multisc.testing.files.save_transformers_model] for the
    weights; the image processor in ``preprocessor_config.json``, with a small
    ``processor_config.json`` beside it when ``processor_config``; ``chat_template.json``)."""
    save_transformers_model(name, model, directory, full=size == "full")
    processor.save_pretrained(directory)
    separate_image_processor(directory, keep_processor_config=processor_config)
    chat_template_json(directory)
    return directory

"""A trained captioner's folder, as ``multisc captioner train --out`` writes it: a captioner
everywhere one is named (``captioner: path:DIR`` in a config, ``--captioners path:DIR`` in
``captioner eval``). It holds the whole model in the Hugging Face layout (``config.json``,
``model.safetensors``, the processor's files), or a LoRA adapter (``adapter_config.json``,
``adapter_model.safetensors``) that loads on top of its base, unmerged, as it trained; and
``multisc_captioner.json``, which says what it is: base, mode, data digest, steps, wall
time, device.

A folder may come from someone else: the record is read bounded, as data, and must be
ours (``format``); weights are read from safetensors only; no link is followed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from multisc.errors import InvalidInputError, ModelFileError

RECORD = "multisc_captioner.json"
FORMAT = "multisc-trained-captioner"
#: the captioner classes a trained folder may name
CLASSES = ("LlavaCaptioner", "SmolVlmCaptioner")
PREFIX = "path:"


def read_record(directory: str | Path) -> dict[str, Any]:
    """The record of a trained captioner's folder; one clear error when it is not one."""
    from multisc.untrusted import json_loads

    path = Path(directory) / RECORD
    if Path(directory).is_symlink() or path.is_symlink() or not path.is_file():
        raise InvalidInputError(
            f"{directory} is not a trained captioner (no {RECORD}): give the --out of "
            "`multisc captioner train`"
        )
    record = json_loads(path.read_bytes()[: 1 << 20].decode("utf-8", "replace"))
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise InvalidInputError(f"{path}: not a record multisc wrote (format {FORMAT!r})")
    if record.get("class") not in CLASSES or record.get("saved") not in ("merged", "adapter"):
        raise InvalidInputError(f"{path}: unknown class or saved form")
    return record


def load_base(
    name: str, registry, models_dir, device, max_new_tokens: int = 60, batch_size: int = 16
) -> Any:
    """The captioner training starts from: a registered one, or a trained folder
    (``path:DIR``) of ``registry`` (the captioners'); it must be LLaVA-class."""
    from multisc.transmitter.captioning import LlavaCaptioner

    captioner = registry.get(name).build(models_dir, device, max_new_tokens, batch_size)
    if not isinstance(captioner, LlavaCaptioner):
        raise InvalidInputError(
            f"captioner {name!r} is not LLaVA-class ({type(captioner).__name__}): "
            "`multisc captioner train` trains LlavaForConditionalGeneration captioners "
            "(llava-interleave-qwen-0.5b, llava-1.5-7b, or a folder it wrote)"
        )
    return captioner


def load_trained(directory: str | Path, registry, models_dir, device, max_new_tokens: int = 60,
                 batch_size: int = 16) -> Any:  # fmt: skip
    """The captioner in a trained folder, ready to caption (an adapter merged into its
    base, which is loaded as any captioner is, from ``models_dir`` or the cache)."""
    import torch

    from multisc.devices import resolve_device
    from multisc.models.loading import component_dtype
    from multisc.transmitter import captioning

    directory = Path(directory)
    record = read_record(directory)
    cls = getattr(captioning, record["class"])
    device = resolve_device(device)
    if record["saved"] == "adapter":
        if not (directory / "adapter_model.safetensors").is_file():
            raise ModelFileError(f"{directory}: adapter_model.safetensors is missing")
        from peft import PeftModel

        captioner = load_base(
            str(record["base"]), registry, models_dir, device, max_new_tokens, batch_size
        )
        # kept unmerged: the very computation training ran (merging rounds differently)
        captioner.model = PeftModel.from_pretrained(captioner.model, str(directory)).eval()
        return captioner
    model_class, processor_class = cls._classes()
    dtype = component_dtype("captioner", device) if device.type == "cuda" else torch.float32
    try:
        model = model_class.from_pretrained(
            str(directory), local_files_only=True, use_safetensors=True, dtype=dtype
        )
        processor = processor_class.from_pretrained(str(directory), local_files_only=True)
    except Exception as exc:  # transformers raises many types for a bad folder
        raise ModelFileError(f"trained captioner {directory}: {type(exc).__name__}: {exc}") from exc
    return cls(model.to(device), processor, component=f"{PREFIX}{directory}",
               max_new_tokens=max_new_tokens, batch_size=batch_size)  # fmt: skip


def trained_spec(name: str, registry):
    """The [PartSpec][multisc.parts.PartSpec] of ``path:DIR`` (a trained captioner), or
    ``None`` for any other name; an adapter needs its base's components."""
    from multisc.parts import PartSpec

    if not name.startswith(PREFIX):
        return None
    directory = Path(name[len(PREFIX) :]).expanduser()
    record = read_record(directory)
    needs: tuple[str, ...] = ()
    if record["saved"] == "adapter":
        needs = registry.get(str(record["base"])).needs

    def build(models_dir, device, max_new_tokens=60, batch_size=16):
        return load_trained(directory, registry, models_dir, device, max_new_tokens, batch_size)

    summary = f"trained ({record['mode']}, {record['steps']} steps) from {record['base']}"
    where = f"{record.get('world_size')} x {record.get('device')}"
    info = {"training_seconds": record.get("wall_seconds"), "trained_on": where}
    return PartSpec(name, build, summary, needs=needs, info=info)

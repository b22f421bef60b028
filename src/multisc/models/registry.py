"""Which pretrained components multisc loads, as the recorded manifests describe them.

Each component has a default Hugging Face id (the paper's setting) and a *recorded
manifest* of its real repository (``multisc/hub_manifests/<name>.json``): the files it
holds, which of them are the weights, the configs, the commit its facts were read at, the
SHA-256 of the weights where a page shows it, and the public page each fact was read from.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

from multisc.errors import ModelFileError, ModelNotAvailableError, choices_error

#: Torch hub files come from their manifests' URLs (torchvision's: here);
#: ``MULTISC_TORCH_MODELS_URL`` points every one at a mirror (files by name).
TORCH_MODELS_URL = "https://download.pytorch.org/models/"

_COMMIT = re.compile(r"[0-9a-f]{40}")


def is_commit(revision: str | None) -> bool:
    """Whether ``revision`` is a full git commit hash (40 lowercase hex digits)."""
    return bool(revision) and _COMMIT.fullmatch(revision or "") is not None


@dataclass(frozen=True)
class ModelEntry:
    """One pretrained component, as its recorded manifest describes its real repository.

    :ivar name: short name used by ``--models DIR/<name>`` and ``multisc models``.
    :ivar repo_id: default Hugging Face id (torch hub components: the file name).
    :ivar revision: the pinned commit (40 hex digits) that ``pull`` and auto-download fetch,
        or ``None`` where no page shows one (then the default branch floats).
    :ivar purpose: what it does in multisc.
    :ivar needed: the repo's files that ``pull`` downloads (exact names).
    :ivar weights: the weights files among them; their presence marks the component present.
    :ivar config_file: the main config (``config.json``, ``model_index.json``; empty for
        torch hub files).
    :ivar checkpoint_dtype: the dtype the weights were published in (``bfloat16`` for LLaVA).
    :ivar sizes: recorded file sizes in bytes (rounded where the page rounds them).
    :ivar exact_sizes: the files whose recorded size is exact, to the byte.
    :ivar sha256: recorded SHA-256 digests of files (LFS files whose page shows one).
    :ivar torch_hub: a torch hub checkpoint file rather than a Hugging Face repo.
    :ivar role: what it is for: ``segmenter``, ``captioner``, ``generator``, ``ip_adapter``,
        ``lora``, ``corrector`` or ``metric`` (the part registries name components by role).
    :ivar loads_with: the class (or call) that loads it, as its manifest records it.
    """

    name: str
    repo_id: str
    revision: str | None
    purpose: str
    needed: tuple[str, ...]
    weights: tuple[str, ...]
    config_file: str = "config.json"
    checkpoint_dtype: str = "float32"
    sizes: dict[str, int] = field(default_factory=dict, compare=False, hash=False)
    exact_sizes: tuple[str, ...] = ()
    sha256: dict[str, str] = field(default_factory=dict, compare=False, hash=False)
    torch_hub: bool = False
    #: where a torch hub file is published (its manifest's ``url``)
    published_url: str = ""
    role: str = ""
    loads_with: str = ""

    @property
    def on_torch_hub(self) -> bool:
        """True for files of torch hub's checkpoint cache rather than Hugging Face repos."""
        return self.torch_hub

    @property
    def required(self) -> tuple[str, ...]:
        """Files without which the component cannot load: its config and its weights."""
        return ((self.config_file,) if self.config_file else ()) + self.weights

    @property
    def url(self) -> str | None:
        """Download URL of a torch hub file."""
        if not self.torch_hub:
            return None
        mirror = os.environ.get("MULTISC_TORCH_MODELS_URL")
        if mirror:  # one mirror serves every torch hub file by name
            return mirror.rstrip("/") + "/" + self.repo_id
        return self.published_url or TORCH_MODELS_URL + self.repo_id


def manifest(name: str) -> dict[str, Any]:
    """The recorded manifest of component ``name``'s real repository (see the module doc).
    ``name`` is a name, never a path (a store's components are data): anything but one of
    the shipped manifests' names is a ``KeyError``."""
    import re

    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}", name):
        raise KeyError(f"no component manifest named {name!r}")
    resource = files("multisc") / "hub_manifests" / f"{name}.json"
    if not resource.is_file():
        raise KeyError(f"no component manifest named {name!r}")
    return json.loads(resource.read_text(encoding="utf-8"))


def _entry(name: str, purpose: str) -> ModelEntry:
    record = manifest(name)
    configs = record.get("configs", {})
    main_config = next(
        (c for c in ("model_index.json", "config.json") if c in record["needed"]), ""
    )
    dtype = configs.get("config.json", {}).get("torch_dtype", "float32")
    pinned = (record.get("commit") or {}).get("sha")
    if pinned is not None and not is_commit(pinned):
        raise ValueError(f"manifest {name}: commit {pinned!r} is not a 40-digit hash")
    return ModelEntry(
        name=name,
        repo_id=record["repo_id"],
        revision=pinned,
        purpose=purpose,
        needed=tuple(record["needed"]),
        weights=tuple(record["weights"]),
        config_file=main_config,
        checkpoint_dtype=dtype,
        sizes=dict(record["files"]),
        exact_sizes=tuple(record.get("exact_sizes", ())),
        sha256={f: v["sha256"] for f, v in record.get("sha256", {}).items()},
        torch_hub="url" in record,
        published_url=record.get("url", ""),
        role=record.get("role", ""),
        loads_with=record.get("loads_with", ""),
    )


#: every component, with what it does in multisc: the paper's parts under their role's name
#: (``segmenter``, ``captioner``, ...), the alternatives a scheme option chooses under their
#: own (``--models DIR/<name>``, ``multisc models pull <name>``)
PURPOSES: dict[str, str] = {
    "segmenter": "torchvision FCN-ResNet50 (COCO_WITH_VOC_LABELS_V1): the main-object slice",
    "fcn_resnet101": "torchvision FCN-ResNet101 (VOC labels): a segmenter choice",
    "deeplabv3_resnet50": "torchvision DeepLabV3-ResNet50 (VOC labels): a segmenter choice",
    "deeplabv3_resnet101": "torchvision DeepLabV3-ResNet101 (VOC labels): a segmenter choice",
    "lraspp_mobilenet_v3_large": "torchvision LR-ASPP MobileNetV3 (VOC labels): a segmenter choice",
    "captioner": "LLaVA with a Qwen1.5-0.5B language model: one caption per block",
    "llava-1.5-7b": "LLaVA-1.5 on Vicuna-7B (Table I's second row): a captioner choice, 14 GB",
    "smolvlm-256m": "SmolVLM-256M-Instruct (Idefics3): a current small captioner choice",
    "vlm_captioner": "BLIP captioner of VLM-CSC (a captioner choice of every semantic scheme)",
    "corrector": "BART spelling corrector at the receiver",
    "generator": "Stable Diffusion 1.5: image generation at the receiver",
    "lcm_lora_sd15": "LCM-LoRA for SD 1.5: 4-step generation (generator sd15-lcm)",
    "ip_adapter": "IP-Adapter for SD 1.5 (models/ip-adapter_sd15.safetensors, image_encoder)",
    "ip_adapter_plus": "IP-Adapter Plus for SD 1.5 (patch embeddings of the same image encoder)",
    "clip": "CLIP image embeddings for the image cosine similarity metric",
    "lpips": "torchvision AlexNet (ImageNet): the LPIPS backbone",
    "dists": "torchvision VGG16 (ImageNet): the DISTS backbone",
    "inception": "Inception-v3 (TF 2015-12-05 port, torch-fidelity): FID and KID",
}

REGISTRY: dict[str, ModelEntry] = {
    name: _entry(name, purpose) for name, purpose in PURPOSES.items()
}


def entry(name: str) -> ModelEntry:
    """The registry entry called ``name``."""
    if name not in REGISTRY:
        raise choices_error("model component", name, tuple(REGISTRY))
    return REGISTRY[name]


def source(name: str, models_dir: str | Path | None = None) -> str:
    """Where component ``name`` loads from: ``models_dir/<name>`` when given, else its id."""
    if models_dir is not None:
        return str(Path(models_dir) / name)
    return entry(name).repo_id


def first_line(cause: BaseException) -> str:
    """The first line of an exception's message (its type's name when it has none)."""
    text = str(cause).strip()
    return (text.splitlines()[0] if text else type(cause).__name__)[:200]


def missing_error(
    name: str, where: str, cause: BaseException | None = None
) -> ModelNotAvailableError:
    """The one error for weights that are not here and cannot be fetched."""
    detail = f" ({type(cause).__name__}: {first_line(cause)})" if cause else ""
    return ModelNotAvailableError(
        f"weights of {name!r} not available: {where!r} is neither a local directory nor in "
        f"the Hugging Face cache, and could not be downloaded{detail}. Run "
        f"`multisc models pull {name}` on a machine with network, or pass --models DIR "
        "with a directory holding it"
    )


def file_error(name: str, path: Path | str, problem: str) -> ModelFileError:
    """The one error for a file of component ``name`` that cannot be used."""
    item = entry(name)
    fix = (
        f"delete it and run `multisc models pull {name}` again"
        if item.repo_id != str(path)
        else "replace it"
    )
    return ModelFileError(f"component {name!r}: file {str(path)!r} {problem}; {fix}")

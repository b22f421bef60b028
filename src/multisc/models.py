"""The one registry of pretrained components: what to load, from where, and clear errors.

Each component has a default Hugging Face id (the paper's setting, DESIGN.md "Defaults").
Loading follows the usual Hugging Face conventions: the HF cache, ``HF_HUB_OFFLINE=1``
and ``local_files_only``. A ``models_dir`` (``--models DIR``) overrides every id with
``DIR/<component name>``, the layout ``multisc models make-tiny`` writes.

Weights that are neither local nor fetchable raise :class:`ModelNotAvailableError`
naming the id and what to do, never a stack trace from deep inside a library.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import torch

from multisc.errors import ModelNotAvailableError, choices_error

T = TypeVar("T")


@dataclass(frozen=True)
class ModelEntry:
    """One pretrained component.

    :ivar name: short name used by ``--models DIR/<name>`` and ``multisc models``.
    :ivar repo_id: default Hugging Face id.
    :ivar revision: git revision on the hub (``None``: the default branch).
    :ivar purpose: what it does in multisc.
    :ivar marker: a file whose presence means the component is there (in the HF cache,
        or in ``DIR/<name>``).
    :ivar patterns: what ``multisc models pull`` downloads (not whole repositories: SD 1.5's
        holds several checkpoint formats).
    :ivar url: for torch hub files (``repo_id`` is then the file name), where to get it.
    """

    name: str
    repo_id: str
    revision: str | None
    purpose: str
    marker: str = "config.json"
    patterns: tuple[str, ...] = ("*.json", "*.safetensors", "*.txt", "*.jinja", "*.model")
    url: str | None = None

    @property
    def on_torch_hub(self) -> bool:
        """True for files of torch hub's checkpoint cache rather than Hugging Face repos."""
        return self.url is not None


REGISTRY: dict[str, ModelEntry] = {
    entry.name: entry
    for entry in (
        ModelEntry(
            "segmenter",
            "fcn_resnet50_coco-1167a1af.pth",
            None,
            "torchvision FCN-ResNet50 (COCO_WITH_VOC_LABELS_V1): the main-object slice",
            marker="model.safetensors",
            url="https://download.pytorch.org/models/fcn_resnet50_coco-1167a1af.pth",
        ),
        ModelEntry(
            "captioner",
            "llava-hf/llava-interleave-qwen-0.5b-hf",
            None,
            "LLaVA with a Qwen1.5-0.5B language model: one caption per block",
        ),
        ModelEntry(
            "vlm_captioner",
            "Salesforce/blip-image-captioning-base",
            None,
            "BLIP captioner of VLM-CSC",
        ),
        ModelEntry(
            "corrector",
            "oliverguhr/spelling-correction-english-base",
            None,
            "BART spelling corrector at the receiver",
        ),
        ModelEntry(
            "generator",
            "stable-diffusion-v1-5/stable-diffusion-v1-5",
            None,
            "Stable Diffusion 1.5: image generation at the receiver",
            marker="model_index.json",
            patterns=(
                "model_index.json",
                "*/config.json",
                "scheduler/*",
                "tokenizer/*",
                "feature_extractor/*",
                "unet/diffusion_pytorch_model.safetensors",
                "vae/diffusion_pytorch_model.safetensors",
                "text_encoder/model.safetensors",
            ),
        ),
        ModelEntry(
            "ip_adapter",
            "h94/IP-Adapter",
            None,
            "IP-Adapter for SD 1.5 (models/ip-adapter_sd15.safetensors, models/image_encoder)",
            marker="models/ip-adapter_sd15.safetensors",
            patterns=("models/ip-adapter_sd15.safetensors", "models/image_encoder/*"),
        ),
        ModelEntry(
            "clip",
            "openai/clip-vit-base-patch32",
            None,
            "CLIP image embeddings for the image cosine similarity metric",
        ),
        ModelEntry(
            "lpips",
            "alexnet-owt-7be5be79.pth",
            None,
            "torchvision AlexNet (ImageNet): the LPIPS backbone",
            marker="",
            url="https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
        ),
    )
}


def entry(name: str) -> ModelEntry:
    """The registry entry called ``name``."""
    if name not in REGISTRY:
        raise choices_error("model component", name, tuple(REGISTRY))
    return REGISTRY[name]


def offline() -> bool:
    """True when Hugging Face Hub access is switched off (``HF_HUB_OFFLINE=1``)."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def source(name: str, models_dir: str | Path | None = None) -> str:
    """Where component ``name`` loads from: ``models_dir/<name>`` when given, else its id."""
    if models_dir is not None:
        return str(Path(models_dir) / name)
    return entry(name).repo_id


def missing_error(
    name: str, where: str, cause: BaseException | None = None
) -> ModelNotAvailableError:
    """The one error for weights that are not here and cannot be fetched."""
    detail = f" ({type(cause).__name__}: {str(cause).splitlines()[0][:200]})" if cause else ""
    return ModelNotAvailableError(
        f"weights of {name!r} not available: {where!r} is neither a local directory nor in "
        f"the Hugging Face cache, and could not be downloaded{detail}. Run "
        f"`multisc models pull {name}` on a machine with network, or pass --models DIR "
        "with a directory holding it"
    )


def load_pretrained(
    name: str,
    loader: Callable[..., T],
    models_dir: str | Path | None = None,
    **kwargs: object,
) -> T:
    """Call ``loader(source, local_files_only=..., revision=..., **kwargs)`` the HF way.

    A local directory loads directly. A hub id is tried from the cache first; only when
    it is not cached and the hub is not switched off does it try to download.
    ``trust_remote_code`` is never set.
    """
    where = source(name, models_dir)
    path = Path(where)
    if models_dir is not None or path.exists():
        if not path.is_dir():
            raise missing_error(name, where)
        try:
            return loader(str(path), local_files_only=True, **kwargs)
        except (OSError, ValueError) as exc:
            raise missing_error(name, where, exc) from exc
    revision = entry(name).revision
    try:
        return loader(where, local_files_only=True, revision=revision, **kwargs)
    except (OSError, ValueError) as cached_exc:
        if offline() or not hub_reachable():
            raise missing_error(name, where, cached_exc) from cached_exc
    try:
        return loader(where, local_files_only=False, revision=revision, **kwargs)
    except (OSError, ValueError) as exc:
        raise missing_error(name, where, exc) from exc


def is_available(name: str, models_dir: str | Path | None = None) -> bool:
    """Whether component ``name`` can be loaded without network."""
    item = entry(name)
    if models_dir is not None and item.marker:
        return (Path(models_dir) / name / item.marker).is_file()
    if item.on_torch_hub:
        return torch_hub_checkpoint(item.repo_id).is_file()
    if Path(item.repo_id).is_dir():
        return (Path(item.repo_id) / item.marker).is_file()
    from huggingface_hub import try_to_load_from_cache

    cached = try_to_load_from_cache(item.repo_id, item.marker, revision=item.revision)
    return isinstance(cached, str)


def pull(name: str) -> str:
    """Download component ``name`` into the HF cache (or torch hub cache), with progress.

    :output: where it now lies.
    :raises ModelNotAvailableError: the download failed (no network, hub switched off).
    """
    item = entry(name)
    if item.on_torch_hub:
        path = torch_hub_checkpoint(item.repo_id)
        if path.is_file():
            return str(path)
        if offline():
            raise _download_error(name, item.repo_id, RuntimeError("HF_HUB_OFFLINE is set"))
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            torch.hub.download_url_to_file(item.url, str(path), progress=True)
        except Exception as exc:  # URLError, HTTPError, timeouts
            raise _download_error(name, item.url or item.repo_id, exc) from exc
        return str(path)
    from huggingface_hub import snapshot_download

    if offline() or not hub_reachable():
        raise _download_error(name, item.repo_id, ConnectionError("the hub is not reachable"))
    try:
        return snapshot_download(
            item.repo_id, revision=item.revision, allow_patterns=list(item.patterns)
        )
    except Exception as exc:  # OfflineModeIsEnabled, connection errors, 404s
        raise _download_error(name, item.repo_id, exc) from exc


def _download_error(name: str, where: str, cause: BaseException) -> ModelNotAvailableError:
    first = str(cause).splitlines()[0][:200] if str(cause) else type(cause).__name__
    return ModelNotAvailableError(
        f"could not download {name!r} from {where!r}: {first}. This needs network access to "
        "the Hugging Face Hub / download.pytorch.org (and HF_HUB_OFFLINE unset); on a machine "
        "without it, copy the caches or pass --models DIR"
    )


@functools.cache
def hub_reachable(timeout_s: float = 3.0) -> bool:
    """Whether the Hugging Face Hub answers a TCP connection (checked once per process).

    Without this, a missing model on a machine without network waits through
    huggingface_hub's retries (tens of seconds) before the same error.
    """
    import socket
    from urllib.parse import urlparse

    endpoint = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    port = endpoint.port or (443 if endpoint.scheme == "https" else 80)
    try:
        with socket.create_connection((endpoint.hostname or "", port), timeout=timeout_s):
            return True
    except OSError:
        return False


def torch_hub_checkpoint(filename: str) -> Path:
    """Path of a file in the torch hub checkpoint cache (``$TORCH_HOME/hub/checkpoints``)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / filename


def load_model_and_processor(
    name: str,
    model_loader: Callable,
    processor_loader: Callable,
    models_dir: str | Path | None,
    device,
):
    """(model on ``device`` in :func:`default_dtype`, processor) of component ``name``."""
    from multisc.devices import resolve_device

    device = resolve_device(device)
    model = load_pretrained(name, model_loader, models_dir, dtype=default_dtype(device))
    processor = load_pretrained(name, processor_loader, models_dir)
    return model.to(device), processor


def default_dtype(device: torch.device) -> torch.dtype:
    """fp16 on CUDA, fp32 on CPU."""
    return torch.float16 if device.type == "cuda" else torch.float32

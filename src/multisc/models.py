"""The one registry of pretrained components: what to load, from where, and clear errors.

Each component has a default Hugging Face id (the paper's setting) and a *recorded
manifest* of its real repository (``multisc/hub_manifests/<name>.json``): the files it
holds, which of them are the weights (``model.safetensors``, or ``pytorch_model.bin``
where the repo has no safetensors on ``main``), the configs, and the public page each fact
was read from. ``multisc models pull`` downloads exactly the files a component needs (never
a whole repository: SD 1.5 and IP-Adapter hold several checkpoint formats), and a component
counts as present only when its weights are.

Loading follows the usual Hugging Face conventions: the HF cache, ``HF_HUB_OFFLINE=1``,
``HF_ENDPOINT`` and ``local_files_only``. A ``models_dir`` (``--models DIR``) overrides every
id with ``DIR/<component name>``, the layout ``multisc models make-tiny`` writes. Pickled
``.bin`` weights are only ever read with ``torch.load(weights_only=True)``.

Weights that are neither local nor fetchable raise :class:`ModelNotAvailableError`; a
truncated or corrupt weights file, or a repository that lacks a needed file, raise
:class:`ModelFileError` naming the component, the file and what to do.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any, Literal, TypeVar

import torch

from multisc.errors import ModelFileError, ModelNotAvailableError, choices_error

T = TypeVar("T")
FileStatus = Literal["present", "missing", "partial"]

#: Torch hub files come from here; ``MULTISC_TORCH_MODELS_URL`` points it at a mirror.
TORCH_MODELS_URL = "https://download.pytorch.org/models/"


@dataclass(frozen=True)
class ModelEntry:
    """One pretrained component, as its recorded manifest describes its real repository.

    :ivar name: short name used by ``--models DIR/<name>`` and ``multisc models``.
    :ivar repo_id: default Hugging Face id (torch hub components: the file name).
    :ivar revision: git revision on the hub (``None``: the default branch).
    :ivar purpose: what it does in multisc.
    :ivar needed: the repo's files that ``pull`` downloads (exact names).
    :ivar weights: the weights files among them; their presence marks the component present.
    :ivar config_file: the main config (``config.json``, ``model_index.json``; empty for
        torch hub files).
    :ivar checkpoint_dtype: the dtype the weights were published in (``bfloat16`` for LLaVA).
    :ivar sizes: recorded file sizes in bytes (rounded where the page rounds them).
    :ivar torch_hub: a torch hub checkpoint file rather than a Hugging Face repo.
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
    torch_hub: bool = False

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
        base = os.environ.get("MULTISC_TORCH_MODELS_URL", TORCH_MODELS_URL)
        return base.rstrip("/") + "/" + self.repo_id


def manifest(name: str) -> dict[str, Any]:
    """The recorded manifest of component ``name``'s real repository (see the module doc)."""
    resource = files("multisc") / "hub_manifests" / f"{name}.json"
    return json.loads(resource.read_text())


def _entry(name: str, purpose: str) -> ModelEntry:
    record = manifest(name)
    configs = record.get("configs", {})
    main_config = next(
        (c for c in ("model_index.json", "config.json") if c in record["needed"]), ""
    )
    dtype = configs.get("config.json", {}).get("torch_dtype", "float32")
    return ModelEntry(
        name=name,
        repo_id=record["repo_id"],
        revision=None,
        purpose=purpose,
        needed=tuple(record["needed"]),
        weights=tuple(record["weights"]),
        config_file=main_config,
        checkpoint_dtype=dtype,
        sizes=dict(record["files"]),
        torch_hub="url" in record,
    )


REGISTRY: dict[str, ModelEntry] = {
    entry.name: entry
    for entry in (
        _entry(
            "segmenter",
            "torchvision FCN-ResNet50 (COCO_WITH_VOC_LABELS_V1): the main-object slice",
        ),
        _entry("captioner", "LLaVA with a Qwen1.5-0.5B language model: one caption per block"),
        _entry("vlm_captioner", "BLIP captioner of VLM-CSC"),
        _entry("corrector", "BART spelling corrector at the receiver"),
        _entry("generator", "Stable Diffusion 1.5: image generation at the receiver"),
        _entry(
            "ip_adapter",
            "IP-Adapter for SD 1.5 (models/ip-adapter_sd15.safetensors, models/image_encoder)",
        ),
        _entry("clip", "CLIP image embeddings for the image cosine similarity metric"),
        _entry("lpips", "torchvision AlexNet (ImageNet): the LPIPS backbone"),
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


def hub_endpoint() -> str:
    """The Hugging Face Hub endpoint (``HF_ENDPOINT``), read at call time."""
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")


def source(name: str, models_dir: str | Path | None = None) -> str:
    """Where component ``name`` loads from: ``models_dir/<name>`` when given, else its id."""
    if models_dir is not None:
        return str(Path(models_dir) / name)
    return entry(name).repo_id


def missing_error(
    name: str, where: str, cause: BaseException | None = None
) -> ModelNotAvailableError:
    """The one error for weights that are not here and cannot be fetched."""
    detail = f" ({type(cause).__name__}: {_first_line(cause)})" if cause else ""
    return ModelNotAvailableError(
        f"weights of {name!r} not available: {where!r} is neither a local directory nor in "
        f"the Hugging Face cache, and could not be downloaded{detail}. Run "
        f"`multisc models pull {name}` on a machine with network, or pass --models DIR "
        "with a directory holding it"
    )


def _first_line(cause: BaseException) -> str:
    text = str(cause).strip()
    return (text.splitlines()[0] if text else type(cause).__name__)[:200]


# -- files: which are there, and are they whole ------------------------------------------

#: Weights saved under another of the standard names load the same way (a model saved with
#: ``save_pretrained`` writes safetensors; some published repos hold only ``.bin``).
_WEIGHT_ALTERNATIVES = {
    "model.safetensors": ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin"),
    "pytorch_model.bin": ("pytorch_model.bin", "model.safetensors", "model.safetensors.index.json"),
    "diffusion_pytorch_model.safetensors": (
        "diffusion_pytorch_model.safetensors",
        "diffusion_pytorch_model.bin",
    ),
}


def _local_weight(directory: Path, weight: str) -> Path | None:
    """The file standing for ``weight`` in a local directory (any standard name), or None."""
    path = directory / weight
    for name in _WEIGHT_ALTERNATIVES.get(path.name, (path.name,)):
        candidate = path.with_name(name)
        if candidate.is_file():
            return candidate
    return None


def weights_problem(path: Path) -> str | None:
    """Why the weights file ``path`` cannot be loaded (truncated, not a state dict), or
    None when it is whole. Safetensors: the header's tensors must end exactly at the end of
    the file. ``.bin``/``.pth``: ``torch.load(weights_only=True)`` must give a dict of
    tensors (memory-mapped: cheap). Checked once per file version (path, size, mtime):
    planning and loading ask about the same files many times."""
    try:
        stat = Path(path).stat()
    except OSError as exc:
        return f"cannot be read ({_first_line(exc)})"
    return _weights_problem(str(path), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=256)
def _weights_problem(name: str, size: int, _mtime_ns: int) -> str | None:
    path = Path(name)
    if path.suffix == ".safetensors":
        try:
            with path.open("rb") as handle:
                header_size = int.from_bytes(handle.read(8), "little")
                if size < 8 or header_size <= 0 or 8 + header_size > size:
                    return f"is truncated ({size} bytes, shorter than its own header)"
                header = json.loads(handle.read(header_size))
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            return f"is not a safetensors file ({_first_line(exc)})"
        end = max(
            (v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0
        )
        if 8 + header_size + end != size:
            return f"is truncated ({size} bytes; its header describes {8 + header_size + end})"
        return None
    if path.suffix in (".bin", ".pth", ".pt"):
        try:
            state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except Exception as exc:  # zip/pickle errors of a truncated or foreign file
            reason = f"{type(exc).__name__}: {_first_line(exc)}"
            return f"is not a loadable PyTorch state dict ({reason})"
        if not isinstance(state, dict) or not all(
            isinstance(v, torch.Tensor) for v in state.values()
        ):
            return f"is not a state dict (it holds a {type(state).__name__})"
        return None
    return None


def file_error(name: str, path: Path | str, problem: str) -> ModelFileError:
    """The one error for a file of component ``name`` that cannot be used."""
    item = entry(name)
    fix = (
        f"delete it and run `multisc models pull {name}` again"
        if item.repo_id != str(path)
        else "replace it"
    )
    return ModelFileError(f"component {name!r}: file {str(path)!r} {problem}; {fix}")


def check_directory(name: str, directory: Path) -> None:
    """Raise :class:`ModelFileError` unless ``directory`` holds component ``name``'s config
    and whole weights."""
    item = entry(name)
    if item.config_file and not (directory / item.config_file).is_file():
        raise ModelFileError(
            f"component {name!r}: {directory} has no {item.config_file}; it is not a "
            f"{item.repo_id} checkpoint. Run `multisc models pull {name}` (or point --models "
            "at a directory written by `multisc models make-tiny`)"
        )
    for weight in item.weights:
        path = _local_weight(directory, weight)
        if path is None:
            raise ModelFileError(
                f"component {name!r}: {directory} has no weights file {weight} (nor "
                f"{', '.join(_WEIGHT_ALTERNATIVES.get(Path(weight).name, ())[1:]) or 'another'}"
                f"); run `multisc models pull {name}`"
            )
        problem = weights_problem(path)
        if problem:
            raise file_error(name, path, problem)


def _cache_dir() -> Path:
    """The Hugging Face hub cache (``HF_HUB_CACHE``, else ``HF_HOME/hub``), read now."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    home = os.environ.get("HF_HOME") or Path.home() / ".cache" / "huggingface"
    return Path(home) / "hub"


def _snapshot(item: ModelEntry) -> Path | None:
    """The cached snapshot folder of ``item``'s revision, or None when nothing is cached."""
    repo = _cache_dir() / ("models--" + item.repo_id.replace("/", "--"))
    ref = repo / "refs" / (item.revision or "main")
    if not ref.is_file():
        return None
    snapshot = repo / "snapshots" / ref.read_text().strip()
    return snapshot if snapshot.is_dir() else None


def file_status(name: str, models_dir: str | Path | None = None) -> dict[str, FileStatus]:
    """Each file component ``name`` needs: ``present``, ``missing`` or ``partial`` (a
    truncated weights file, or an interrupted download left in the cache).

    With ``models_dir``, the config and weights in ``models_dir/<name>``; else the HF cache
    (every file ``pull`` fetches) or, for torch hub files, ``$TORCH_HOME/hub/checkpoints``.
    """
    item = entry(name)
    if item.torch_hub:
        # --models DIR holds the segmenter as safetensors; LPIPS' AlexNet always comes from
        # the torch hub cache
        in_dir = models_dir is not None and name == "segmenter"
        path = (
            Path(models_dir) / name / "model.safetensors"
            if in_dir
            else torch_hub_checkpoint(item.repo_id)
        )
        if not path.is_file():
            return {path.name: "missing"}
        return {path.name: "partial" if weights_problem(path) else "present"}
    if models_dir is not None:
        directory = Path(models_dir) / name
        names, root = item.required, directory
    elif Path(item.repo_id).is_dir():
        names, root = item.required, Path(item.repo_id)
    else:
        names, root = item.needed, _snapshot(item)
    interrupted = False
    if models_dir is None and root is not None:
        interrupted = any((root.parent.parent / "blobs").glob("*.incomplete"))
    status: dict[str, FileStatus] = {}
    for file in names:
        path = (
            None
            if root is None
            else (_local_weight(root, file) if file in item.weights else root / file)
        )
        if path is None or not path.is_file():
            status[file] = "partial" if interrupted and file in item.weights else "missing"
        elif file in item.weights and weights_problem(path):
            status[file] = "partial"
        else:
            status[file] = "present"
    return status


def is_available(name: str, models_dir: str | Path | None = None) -> bool:
    """Whether component ``name`` can be loaded without network: its config and whole
    weights are here (in ``models_dir/<name>``, the HF cache or the torch hub cache)."""
    item = entry(name)
    status = file_status(name, models_dir)
    if item.torch_hub:
        return all(s == "present" for s in status.values())
    return all(status.get(file) == "present" for file in item.required)


# -- loading -----------------------------------------------------------------------------


def resolve(name: str, models_dir: str | Path | None = None, download: bool = True) -> Path:
    """The local directory holding component ``name``: ``models_dir/<name>``, a local path
    given as its id, or its cached snapshot (downloaded first when missing, ``download`` is
    allowed and the hub is reachable). Checked: config present, weights whole."""
    item = entry(name)
    where = source(name, models_dir)
    if models_dir is not None or Path(where).exists():
        directory = Path(where)
        if not directory.is_dir():
            raise missing_error(name, where)
        check_directory(name, directory)
        return directory
    available = is_available(name)
    if not available and download and fetchable():
        pull(name)
        available = is_available(name)
    snapshot = _snapshot(item)
    if snapshot is None or not available:
        partial = [f for f, s in file_status(name).items() if s == "partial"]
        if partial:
            raise file_error(name, partial[0], "is incomplete in the Hugging Face cache")
        raise missing_error(name, where)
    check_directory(name, snapshot)
    return snapshot


def load_pretrained(
    name: str,
    loader: Callable[..., T],
    models_dir: str | Path | None = None,
    **kwargs: object,
) -> T:
    """Call ``loader(directory, local_files_only=True, **kwargs)`` on the directory
    :func:`resolve` gives (downloading a missing hub component first when allowed).

    Whatever the library raises while loading becomes one :class:`ModelFileError` naming
    the component and the directory. ``trust_remote_code`` is never set.
    """
    directory = resolve(name, models_dir)
    try:
        return loader(str(directory), local_files_only=True, **kwargs)
    except Exception as exc:  # transformers/diffusers raise many types for a bad checkpoint
        raise ModelFileError(
            f"component {name!r} could not be loaded from {directory} "
            f"({type(exc).__name__}: {_first_line(exc)}); check the files with "
            f"`multisc models doctor`, or delete them and run `multisc models pull {name}`"
        ) from exc


# -- downloading -------------------------------------------------------------------------


def fetchable() -> bool:
    """Whether downloads are possible now: hub access allowed and the endpoint reachable."""
    return not offline() and hub_reachable()


def _fetch(item: ModelEntry, dry_run: bool = False):
    """``snapshot_download`` of exactly ``item``'s needed files from ``HF_ENDPOINT`` (a dry
    run, to learn the sizes, draws no progress bar; a download does)."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.utils import (
        are_progress_bars_disabled,
        disable_progress_bars,
        enable_progress_bars,
    )

    quiet = dry_run and not are_progress_bars_disabled()
    if quiet:
        disable_progress_bars()
    try:
        return snapshot_download(
            item.repo_id,
            revision=item.revision,
            allow_patterns=list(item.needed),
            endpoint=hub_endpoint(),
            dry_run=dry_run,
        )
    finally:
        if quiet:
            enable_progress_bars()


def download_sizes(names: list[str]) -> dict[str, int]:
    """Bytes still to download per component (what is cached is not counted): from the
    hub's file listing (a dry run), the recorded size for torch hub files."""

    sizes: dict[str, int] = {}
    for name in names:
        item = entry(name)
        if item.torch_hub:
            present = torch_hub_checkpoint(item.repo_id).is_file()
            if not present and not fetchable_url(item.url or ""):
                raise _download_error(name, item.url or "", ConnectionError("not reachable"))
            sizes[name] = 0 if present else sum(item.sizes.values())
            continue
        if not fetchable():  # no waiting on retries where nothing can answer
            raise _download_error(name, item.repo_id, ConnectionError("the hub is not reachable"))
        try:
            plan = _fetch(item, dry_run=True)
        except Exception as exc:  # unreachable, 404s
            raise _download_error(name, item.repo_id, exc) from exc
        _check_listing(item, {f.filename for f in plan})
        sizes[name] = sum(f.file_size or 0 for f in plan if f.will_download)
    return sizes


def pull_many(names: list[str], say: Callable[[str], None] = print) -> dict[str, str]:
    """Download the components of ``names`` that are not here yet, saying the total size
    first (progress bars: huggingface_hub's and torch hub's, on stderr).

    :output: component -> where it lies.
    """
    todo = [name for name in names if not is_available(name)]
    if todo:
        sizes = download_sizes(todo)
        detail = ", ".join(f"{name} {_size(sizes[name])}" for name in todo)
        say(f"downloading {len(todo)} component(s), {_size(sum(sizes.values()))}: {detail}")
    return {name: pull(name) for name in names}


def _size(size: int) -> str:
    return f"{size / 1e9:.2f} GB" if size >= 1e8 else f"{size / 1e6:.1f} MB"


def pull(name: str, progress: bool = True) -> str:
    """Download component ``name``'s needed files into the HF cache (or the torch hub cache).

    :output: where it now lies.
    :raises ModelNotAvailableError: the download failed (no network, hub switched off).
    :raises ModelFileError: the repository lacks a needed file, or a file arrived incomplete.
    """
    item = entry(name)
    if item.torch_hub:
        path = torch_hub_checkpoint(item.repo_id)
        if path.is_file():
            return str(path)
        if offline():
            raise _download_error(name, item.repo_id, RuntimeError("HF_HUB_OFFLINE is set"))
        if not url_reachable(item.url or ""):
            raise _download_error(name, item.url or "", ConnectionError("host not reachable"))
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            torch.hub.download_url_to_file(item.url, str(path), progress=progress)
        except Exception as exc:  # URLError, HTTPError, timeouts
            raise _download_error(name, item.url or item.repo_id, exc) from exc
        problem = weights_problem(path)
        if problem:
            path.unlink()
            raise file_error(name, item.url or item.repo_id, problem)
        return str(path)
    if offline() or not hub_reachable():
        raise _download_error(name, item.repo_id, ConnectionError("the hub is not reachable"))
    try:
        folder = _fetch(item)
    except Exception as exc:  # OfflineModeIsEnabled, connection errors, 404s, short reads
        snapshot = _snapshot(item)
        lacking = [f for f in item.needed if snapshot is None or not (snapshot / f).is_file()]
        if lacking and hub_reachable():
            raise ModelFileError(
                f"component {name!r}: the download of {lacking[0]} from {item.repo_id!r} "
                f"broke off ({_first_line(exc)}); run `multisc models pull {name}` again "
                "(finished files are kept, a partial one resumes)"
            ) from exc
        raise _download_error(name, item.repo_id, exc) from exc
    _check_listing(item, {f for f in item.required if (Path(folder) / f).is_file()})
    check_directory(name, Path(folder))
    return str(folder)


def _check_listing(item: ModelEntry, present: set[str]) -> None:
    """Raise :class:`ModelFileError` when a repository lacks a file ``item`` loads."""
    lacking = [f for f in item.required if f not in present]
    if lacking:
        raise ModelFileError(
            f"component {item.name!r}: the repository {item.repo_id!r} has no {lacking[0]}, "
            f"which multisc needs (it loads {', '.join(item.required)}); the repository "
            "changed since multisc recorded it: pin a revision that has it, or pass --models DIR"
        )


def _download_error(name: str, where: str, cause: BaseException) -> ModelNotAvailableError:
    return ModelNotAvailableError(
        f"could not download {name!r} from {where!r}: {_first_line(cause)}. This needs "
        "network access to the Hugging Face Hub / download.pytorch.org (and HF_HUB_OFFLINE "
        "unset); on a machine without it, copy the caches or pass --models DIR"
    )


@functools.cache
def _reachable(host: str, port: int, timeout_s: float) -> bool:
    import socket

    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def url_reachable(url: str, timeout_s: float = 3.0) -> bool:
    """Whether ``url``'s host answers a TCP connection (checked once per process and host).

    Without this, a download on a machine without network waits through retries and URL
    timeouts (tens of seconds) before the same error.
    """
    from urllib.parse import urlparse

    parsed = urlparse(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    return bool(parsed.hostname) and _reachable(parsed.hostname or "", port, timeout_s)


def fetchable_url(url: str) -> bool:
    """Whether downloads are allowed (``HF_HUB_OFFLINE`` unset) and ``url``'s host answers."""
    return not offline() and url_reachable(url)


def hub_reachable(timeout_s: float = 3.0) -> bool:
    """Whether the Hugging Face Hub (``HF_ENDPOINT``) answers a TCP connection."""
    return url_reachable(hub_endpoint(), timeout_s)


def torch_hub_checkpoint(filename: str) -> Path:
    """Path of a file in the torch hub checkpoint cache (``$TORCH_HOME/hub/checkpoints``)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / filename


# -- dtypes ------------------------------------------------------------------------------


def default_dtype(device: torch.device) -> torch.dtype:
    """fp16 on CUDA, fp32 on CPU."""
    return torch.float16 if device.type == "cuda" else torch.float32


def component_dtype(name: str, device: torch.device) -> torch.dtype:
    """The dtype component ``name`` computes in on ``device``: fp32 on CPU; on CUDA, bf16
    for checkpoints published in bf16 (Qwen in fp16 can overflow) where the GPU supports it
    (else fp32), fp16 for the rest."""
    if device.type != "cuda":
        return torch.float32
    if entry(name).checkpoint_dtype == "bfloat16":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
    return torch.float16


def load_model_and_processor(
    name: str,
    model_loader: Callable,
    processor_loader: Callable,
    models_dir: str | Path | None,
    device,
):
    """(model on ``device`` in :func:`component_dtype`, processor) of component ``name``."""
    from multisc.devices import resolve_device

    device = resolve_device(device)
    model = load_pretrained(
        name, model_loader, models_dir, dtype=component_dtype(name, device), weights_only=True
    )
    processor = load_pretrained(name, processor_loader, models_dir)
    return model.to(device), processor

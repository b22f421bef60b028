"""Loading a component: find its directory (downloading it first where allowed), check its
files, call the library's loader offline, in the dtype the component computes in."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from multisc.errors import ModelFileError, ModelNotAvailableError
from multisc.models.downloads import fetchable, fetchable_url, pull
from multisc.models.local import (
    file_problems,
    file_status,
    is_available,
    local_snapshot,
    torch_hub_file,
)
from multisc.models.registry import entry, file_error, first_line, missing_error, source

if TYPE_CHECKING:  # torch is imported where it is used: `multisc models list` starts fast
    import torch
from multisc.models.weights import check_directory, load_state_file, weights_problem

T = TypeVar("T")


def resolve(name: str, models_dir: str | Path | None = None, download: bool = True) -> Path:
    """The local directory holding component ``name``: ``models_dir/<name>``, a local path
    given as its id, or its cached snapshot (the pinned commit's, downloaded first when
    missing, ``download`` is allowed and the hub is reachable). Checked: config present,
    weights whole."""
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
    snapshot = local_snapshot(item)
    if snapshot is None or not available:
        broken = file_problems(name)
        partial = [f for f, s in file_status(name).items() if s in ("partial", "damaged")]
        if partial:
            raise file_error(name, partial[0], broken[partial[0]] + " in the Hugging Face cache")
        raise missing_error(name, where)
    check_directory(name, snapshot)
    return snapshot


#: set (to 1) by the command line: library loading bars and advice lines off at the first
#: load ([quiet_libraries][multisc.models.loading.quiet_libraries]), so that the command line
#: starts fast
QUIET_ENV = "MULTISC_QUIET_LIBRARIES"
_quieted = False


def quiet_libraries() -> None:
    """Library loading bars and advice lines off (transformers', diffusers' and
    huggingface_hub's own warnings at error level only); download progress bars
    (huggingface_hub's) stay on. Imports transformers and diffusers (seconds): called when
    a component is first loaded, never at start-up."""
    global _quieted
    import logging
    import os

    _quieted = True
    try:
        from diffusers.utils import logging as diffusers_logging
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
        diffusers_logging.disable_progress_bar()
        diffusers_logging.set_verbosity_error()
    except ImportError:
        pass
    # transformers switches huggingface_hub's bars off with its own: downloads keep theirs
    from huggingface_hub.utils import enable_progress_bars

    if os.environ.get("HF_HUB_DISABLE_PROGRESS_BARS", "").lower() not in ("1", "true", "yes"):
        enable_progress_bars()
    for name in ("accelerate", "huggingface_hub"):
        logging.getLogger(name).setLevel(logging.ERROR)


def load_pretrained(
    name: str,
    loader: Callable[..., T],
    models_dir: str | Path | None = None,
    **kwargs: object,
) -> T:
    """Call ``loader(directory, local_files_only=True, **kwargs)`` on the directory
    [resolve][multisc.models.loading.resolve] gives (downloading a missing hub component first when
    allowed).

    Whatever the library raises while loading becomes one ``ModelFileError`` naming
    the component and the directory. ``trust_remote_code`` is never set.
    """
    if not _quieted and os.environ.get(QUIET_ENV) == "1":
        quiet_libraries()
    directory = resolve(name, models_dir)
    try:
        return loader(str(directory), local_files_only=True, **kwargs)
    except Exception as exc:  # transformers/diffusers raise many types for a bad checkpoint
        raise ModelFileError(
            f"component {name!r} could not be loaded from {directory} "
            f"({type(exc).__name__}: {first_line(exc)}); check the files with "
            f"`multisc models doctor`, or delete them and run `multisc models pull {name}`"
        ) from exc


def torch_hub_state(name: str, models_dir: str | Path | None = None) -> dict[str, torch.Tensor]:
    """The state dict of torch hub component ``name`` (the segmenter's FCN, LPIPS' AlexNet):
    from ``models_dir/<name>/`` when given and there
    ([torch_hub_file][multisc.models.local.torch_hub_file]), else the torch
    hub cache, downloaded there first when missing and the network is allowed. Checked
    whole; read with ``weights_only=True`` in either container (most torchvision files are
    legacy pickles, AlexNet's a zip archive)."""
    path = torch_hub_file(name, models_dir)
    if not path.is_file() and fetchable_url(entry(name).url or ""):
        pull(name)  # with a progress bar; a clear error if the download fails
    if not path.is_file():
        stand_in = (
            "; `multisc models make-tiny DIR` writes a stand-in"
            if entry(name).role == "segmenter"
            else ""
        )  # the tiny set holds the segmenters, not the metrics' networks: say it only there
        raise ModelNotAvailableError(
            f"weights of {name!r} not available: {entry(name).repo_id} is not at {path} and "
            f"could not be downloaded. Run `multisc models pull {name}` on a machine with "
            f"network (or copy the file there: TORCH_HOME moves it; `multisc models export` "
            f"puts it in DIR/{name}/{stand_in})"
        )
    problem = weights_problem(path)
    if problem:
        raise file_error(name, path, problem)
    return load_state_file(path)


def default_dtype(device: torch.device) -> torch.dtype:
    """fp16 on CUDA, fp32 on CPU."""
    import torch

    return torch.float16 if device.type == "cuda" else torch.float32


def component_dtype(name: str, device: torch.device) -> torch.dtype:
    """The dtype component ``name`` computes in on ``device``: fp32 on CPU; on CUDA, bf16
    for checkpoints published in bf16 (Qwen in fp16 can overflow) where the GPU supports it
    (else fp32), fp16 for the rest."""
    import torch

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
    """(model on ``device`` in [component_dtype][multisc.models.loading.component_dtype],
    processor) of component ``name``."""
    from multisc.devices import resolve_device

    device = resolve_device(device)
    model = load_pretrained(
        name, model_loader, models_dir, dtype=component_dtype(name, device), weights_only=True
    )
    processor = load_pretrained(name, processor_loader, models_dir)
    return model.to(device), processor

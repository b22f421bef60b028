"""Weights files: are they whole, and reading them without running code.

Two containers exist for pickled PyTorch weights: the zip archive that ``torch.save`` has
written since torch 1.6, and the *legacy* pickle stream before it. torchvision's older
checkpoints are legacy (``fcn_resnet50_coco-1167a1af.pth`` was published in April 2020;
pytorch/vision issue 2068 asks for them to be re-saved and is open) and ``torch.load``
refuses ``mmap=True`` on them, so only zip archives are memory-mapped here (as transformers
does: ``zipfile.is_zipfile`` first). Both are read with ``weights_only=True``: a pickle that
is not plain tensors is refused, never run.
"""

from __future__ import annotations

import functools
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

from multisc.errors import ModelFileError
from multisc.models.registry import entry, file_error, first_line
from multisc.untrusted import json_loads

if TYPE_CHECKING:  # imported where used: listing components must not import torch
    import torch

#: Weights saved under another of the standard names load the same way (a model saved with
#: ``save_pretrained`` writes safetensors; some published repos hold only ``.bin``).
WEIGHT_ALTERNATIVES = {
    "model.safetensors": ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin"),
    "pytorch_model.bin": ("pytorch_model.bin", "model.safetensors", "model.safetensors.index.json"),
    "diffusion_pytorch_model.safetensors": (
        "diffusion_pytorch_model.safetensors",
        "diffusion_pytorch_model.bin",
    ),
}

PICKLE_SUFFIXES = (".bin", ".pth", ".pt")


def local_weight(directory: Path, weight: str) -> Path | None:
    """The file standing for ``weight`` in a local directory (any standard name), or None."""
    path = directory / weight
    for name in WEIGHT_ALTERNATIVES.get(path.name, (path.name,)):
        candidate = path.with_name(name)
        if candidate.is_file():
            return candidate
    return None


def is_legacy_pickle(path: str | Path) -> bool:
    """True for a ``torch.save`` file in the pre-1.6 (non-zip) format."""
    return not zipfile.is_zipfile(path)


def load_state_file(path: str | Path) -> dict[str, torch.Tensor]:
    """A state dict from a weights file, on the CPU: safetensors, or a ``torch.save`` file in
    either container (zip archives memory-mapped, legacy pickles read whole), always with
    ``weights_only=True``.

    :raises ModelFileError: the file holds something else than a dict of tensors.
    """
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    state = _torch_load(path)
    if not _is_state_dict(state):
        raise ModelFileError(f"{path} is not a state dict (it holds a {type(state).__name__})")
    return state


def _torch_load(path: Path) -> object:
    import torch

    return torch.load(path, map_location="cpu", weights_only=True, mmap=not is_legacy_pickle(path))


def _is_state_dict(state: object) -> bool:
    import torch

    return isinstance(state, dict) and all(isinstance(v, torch.Tensor) for v in state.values())


def weights_problem(path: Path) -> str | None:
    """Why the weights file ``path`` cannot be loaded (truncated, not a state dict), or
    None when it is whole. Safetensors: the header's tensors must end exactly at the end of
    the file. ``.bin``/``.pth``: ``torch.load(weights_only=True)`` must give a dict of
    tensors (zip archives memory-mapped: cheap; legacy pickles read). Checked once per file
    version (path, size, mtime): planning and loading ask about the same files many times."""
    try:
        stat = Path(path).stat()
    except OSError as exc:
        return f"cannot be read ({first_line(exc)})"
    return _weights_problem(str(path), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=256)
def _weights_problem(name: str, size: int, _mtime_ns: int) -> str | None:
    path = Path(name)
    if path.suffix == ".safetensors":
        return _safetensors_problem(path, size)
    if path.suffix in PICKLE_SUFFIXES:
        if _cut_zip(path):
            return f"is truncated ({size} bytes: a zip archive whose end is missing)"
        try:
            state = _torch_load(path)
        except Exception as exc:  # zip/pickle errors of a truncated or foreign file
            reason = f"{type(exc).__name__}: {first_line(exc)}"
            return f"is not a loadable PyTorch state dict ({reason})"
        if not _is_state_dict(state):
            return f"is not a state dict (it holds a {type(state).__name__})"
        return None
    return None


def _cut_zip(path: Path) -> bool:
    """A file that starts as a zip archive (``torch.save``'s format) but has no end of
    central directory: the end of a download is missing."""
    import zipfile

    try:
        with path.open("rb") as handle:
            starts = handle.read(4) == b"PK\x03\x04"
        return starts and not zipfile.is_zipfile(path)
    except OSError:
        return False


#: the largest header the safetensors format allows (its MAX_HEADER_SIZE), in bytes
SAFETENSORS_HEADER_LIMIT = 100_000_000


def _safetensors_problem(path: Path, size: int) -> str | None:
    try:
        with path.open("rb") as handle:
            header_size = int.from_bytes(handle.read(8), "little")
            if size < 8 or header_size <= 0 or 8 + header_size > size:
                return f"is truncated ({size} bytes, shorter than its own header)"
            if header_size > SAFETENSORS_HEADER_LIMIT:  # read before it is parsed: bounded
                return (
                    f"is not a safetensors file (a {header_size}-byte header; the format "
                    f"allows {SAFETENSORS_HEADER_LIMIT})"
                )
            header = json_loads(handle.read(header_size))
        if not isinstance(header, dict):
            raise TypeError(f"the header is a {type(header).__name__}, not a mapping")
        ends = []
        for key, value in header.items():
            if key == "__metadata__":
                continue
            offsets = value.get("data_offsets") if isinstance(value, dict) else None
            if not (
                isinstance(offsets, list)
                and len(offsets) == 2
                and all(type(o) is int and o >= 0 for o in offsets)
                and offsets[0] <= offsets[1]
            ):
                raise TypeError(f"tensor {str(key)[:60]!r} has data_offsets {offsets!r}")
            ends.append(offsets[1])
        end = max(ends, default=0)
    except (OSError, ValueError, UnicodeDecodeError, AttributeError, KeyError, TypeError) as exc:
        return f"is not a safetensors file ({type(exc).__name__}: {first_line(exc)})"
    if 8 + header_size + end != size:
        return f"is truncated ({size} bytes; its header describes {8 + header_size + end})"
    return None


def check_directory(name: str, directory: Path) -> None:
    """Raise ``ModelFileError`` unless ``directory`` holds component ``name``'s config
    and whole weights."""
    item = entry(name)
    if item.config_file and not (directory / item.config_file).is_file():
        raise ModelFileError(
            f"component {name!r}: {directory} has no {item.config_file}; it is not a "
            f"{item.repo_id} checkpoint. Run `multisc models pull {name}` (or point --models "
            "at a directory written by `multisc models make-tiny`)"
        )
    for weight in item.weights:
        path = local_weight(directory, weight)
        if path is None:
            raise ModelFileError(
                f"component {name!r}: {directory} has no weights file {weight} (nor "
                f"{', '.join(WEIGHT_ALTERNATIVES.get(Path(weight).name, ())[1:]) or 'another'}"
                f"); run `multisc models pull {name}`"
            )
        problem = weights_problem(path)
        if problem:
            raise file_error(name, path, problem)

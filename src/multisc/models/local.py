"""What is on this machine: the Hugging Face cache's snapshots, torch hub's checkpoint
cache and ``--models DIR``, and which of a component's files are there and whole."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from multisc.models.registry import ModelEntry, entry, is_commit
from multisc.models.weights import local_weight, weights_problem

FileStatus = Literal["present", "missing", "partial", "damaged", "not a regular file"]

#: ``--models DIR/<segmenter>`` may hold a segmenter as safetensors (what make-tiny writes)
SEGMENTER_SAFETENSORS = "model.safetensors"


def cache_dir() -> Path:
    """The Hugging Face hub cache (``HF_HUB_CACHE``, else ``HF_HOME/hub``), read now."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    home = os.environ.get("HF_HOME") or Path.home() / ".cache" / "huggingface"
    return Path(home) / "hub"


def repo_cache(item: ModelEntry) -> Path:
    """The cache folder of ``item``'s repository (``models--org--name``)."""
    return cache_dir() / ("models--" + item.repo_id.replace("/", "--"))


def snapshot_of(item: ModelEntry, revision: str | None) -> Path | None:
    """The cached snapshot folder of ``revision`` (a commit, or a branch name that
    ``refs/`` resolves; ``None``: the default branch), or None when it is not cached."""
    repo = repo_cache(item)
    if is_commit(revision):
        commit = revision
    else:
        ref = repo / "refs" / (revision or "main")
        if not ref.is_file() or ref.is_symlink():
            return None
        commit = ref.read_text(encoding="ascii", errors="replace").strip()[:64]
        if not is_commit(commit):
            return None
    snapshot = repo / "snapshots" / str(commit)
    return snapshot if snapshot.is_dir() else None


def local_snapshot(item: ModelEntry) -> Path | None:
    """The snapshot that loading uses: the pinned commit's when cached, else the default
    branch's (what ``pull --revision main`` fetched), else None."""
    pinned = snapshot_of(item, item.revision) if item.revision else None
    return pinned or snapshot_of(item, None)


def torch_hub_checkpoint(filename: str) -> Path:
    """Path of a file in the torch hub checkpoint cache (``$TORCH_HOME/hub/checkpoints``)."""
    import sys

    if "torch" in sys.modules:  # torch.hub.set_dir() may have moved it
        return Path(sys.modules["torch"].hub.get_dir()) / "checkpoints" / filename
    # torch's own rule (torch.hub._get_torch_home), without importing torch (a second)
    cache = os.getenv("XDG_CACHE_HOME", os.path.join("~", ".cache"))
    home = os.path.expanduser(os.getenv("TORCH_HOME", os.path.join(cache, "torch")))
    return Path(home) / "hub" / "checkpoints" / filename


def torch_hub_file(name: str, models_dir: str | Path | None = None) -> Path:
    """Where torch hub component ``name``'s weights are looked for: with ``models_dir``,
    ``DIR/<name>/<the real file name>`` (what ``multisc models export`` writes), else for
    a segmenter ``DIR/<name>/model.safetensors`` (what make-tiny writes); otherwise,
    and always for the metrics' networks without a copy in ``DIR``, the torch hub cache."""
    item = entry(name)
    if models_dir is not None:
        folder = Path(models_dir) / name
        if (folder / item.repo_id).is_file():
            return folder / item.repo_id
        if item.role == "segmenter":
            return folder / SEGMENTER_SAFETENSORS
    return torch_hub_checkpoint(item.repo_id)


def file_status(name: str, models_dir: str | Path | None = None) -> dict[str, FileStatus]:
    """Each file component ``name`` needs: ``present``, ``missing``, ``partial`` (a
    truncated weights file, or an interrupted download left in the cache), ``damaged`` (a
    weights file that is whole but not what its format says: see
    [file_problems][multisc.models.local.file_problems]) or ``not a regular file`` (a
    folder, a FIFO, a link to either).

    With ``models_dir``, the config and weights in ``models_dir/<name>``; else the HF cache
    (every file ``pull`` fetches) or, for torch hub files, ``$TORCH_HOME/hub/checkpoints``.
    """
    return {file: status for file, (status, _) in _checked(name, models_dir).items()}


def file_problems(name: str, models_dir: str | Path | None = None) -> dict[str, str]:
    """What is wrong with each of component ``name``'s files that is not ``present``, in
    words ("is truncated (1000 bytes; its header describes 4096)", "is missing")."""
    return {
        file: reason
        for file, (status, reason) in _checked(name, models_dir).items()
        if status != "present"
    }


def _weights_status(path: Path) -> tuple[FileStatus, str]:
    problem = weights_problem(path)
    if problem is None:
        return "present", "is present"
    return ("partial" if problem.startswith("is truncated") else "damaged"), problem


def _checked(name: str, models_dir: str | Path | None) -> dict[str, tuple[FileStatus, str]]:
    """``file_status`` and ``file_problems`` of each file: (status, what is wrong)."""
    item = entry(name)
    other = "not a regular file", "is not a regular file (a folder, a FIFO or a link to one)"
    if item.torch_hub:
        path = torch_hub_file(name, models_dir)
        if os.path.lexists(path) and not path.is_file():
            return {path.name: other}
        if not path.is_file():
            return {path.name: ("missing", f"is missing from {path.parent}")}
        return {path.name: _weights_status(path)}
    if models_dir is not None:
        names, root = item.required, Path(models_dir) / name
    elif Path(item.repo_id).is_dir():
        names, root = item.required, Path(item.repo_id)
    else:
        names, root = item.needed, local_snapshot(item)
    interrupted = False
    if models_dir is None and root is not None:
        interrupted = any((root.parent.parent / "blobs").glob("*.incomplete"))
    status: dict[str, tuple[FileStatus, str]] = {}
    for file in names:
        path = (
            None
            if root is None
            else (local_weight(root, file) if file in item.weights else root / file)
        )
        named = None if root is None else root / file
        if path is None and named is not None and os.path.lexists(named):
            path = named  # there, but not a file any weights name could be
        if path is not None and os.path.lexists(path) and not path.is_file():
            status[file] = other
        elif path is None or not path.is_file():
            where = "the Hugging Face cache" if models_dir is None else str(root)
            if interrupted and file in item.weights:
                status[file] = "partial", f"is an interrupted download in {where}"
            else:
                status[file] = "missing", f"is missing from {where}"
        elif file in item.weights:
            status[file] = _weights_status(path)
        else:
            status[file] = "present", "is present"
    return status


def is_available(name: str, models_dir: str | Path | None = None) -> bool:
    """Whether component ``name`` can be loaded without network: its config and whole
    weights are here (in ``models_dir/<name>``, the HF cache or the torch hub cache)."""
    item = entry(name)
    status = file_status(name, models_dir)
    if item.torch_hub:
        return all(s == "present" for s in status.values())
    return all(status.get(file) == "present" for file in item.required)

"""Which exact weights a result came from, whether they are the recorded ones, and a
self-contained copy of them.

- [component_record][multisc.models.provenance.component_record]: repo, pinned commit, the commit
actually on disk (the cache's
  snapshot folder, or what ``export`` wrote), and the weights' file sizes. Every run stores
  these per component it loaded (the store's ``runs.components``).
- [verify][multisc.models.provenance.verify]: SHA-256 of local files against the digests the
manifests record (LFS
  files whose page shows one), and of torch hub files against the digest prefix torch hub
  puts in their names (``fcn_resnet50_coco-1167a1af.pth``: ``1167a1af``).
- [export][multisc.models.provenance.export]: copy components into ``DIR/<name>/`` with their repo
layout, so that
  ``--models DIR`` loads them on a machine without network. Snapshot files are links into
  the cache's ``blobs/`` (for Xet-backed files too): the copy holds the bytes, not the links.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path
from typing import Any, Literal

from multisc.errors import ModelNotAvailableError
from multisc.models.local import (
    is_available,
    local_snapshot,
    torch_hub_file,
)
from multisc.models.registry import REGISTRY, entry, is_commit, manifest
from multisc.models.weights import local_weight
from multisc.untrusted import json_loads

#: what ``export`` writes beside each component's files, and what a run reads back
EXPORT_RECORD = "multisc_export.json"

Check = Literal["match", "differs", "missing", "no recorded digest"]

_TORCH_HUB_PREFIX = re.compile(r"-([a-f0-9]{6,})\.")


def _torch_hub_prefix(filename: str) -> str | None:
    """The SHA-256 prefix torch hub names a checkpoint with (its ``check_hash`` convention)."""
    found = _TORCH_HUB_PREFIX.search(filename)
    return found.group(1) if found else None


def _root(name: str, models_dir: str | Path | None) -> Path | None:
    """The folder a Hub component loads from (None when it is not here)."""
    item = entry(name)
    if models_dir is not None:
        root: Path | None = Path(models_dir) / name
    elif Path(item.repo_id).is_dir():
        root = Path(item.repo_id)
    else:
        root = local_snapshot(item)
    return root if root is not None and root.is_dir() else None


def component_files(
    name: str, models_dir: str | Path | None = None, weights_only: bool = False
) -> dict[str, Path]:
    """The local files of component ``name`` that loading reads (``weights_only``: its
    weights alone, under whichever standard name is here), relative name -> path. Empty
    when it is not here."""
    item = entry(name)
    if item.torch_hub:
        path = torch_hub_file(name, models_dir)
        return {path.name: path} if path.is_file() else {}
    root = _root(name, models_dir)
    if root is None:
        return {}
    found: dict[str, Path] = {}
    for file in item.weights if weights_only else item.needed:
        path = local_weight(root, file) if file in item.weights else root / file
        if path is not None and path.is_file():
            found[str(path.relative_to(root))] = path
    return found


def component_record(name: str, models_dir: str | Path | None = None) -> dict[str, Any]:
    """What a run loaded for component ``name``: ``repo_id``, ``pinned`` (the manifest's
    commit), ``commit`` (the one on disk; None for torch hub files and stand-ins that were
    never a Hub snapshot), ``source`` (``hub-cache``, ``torch-hub``, ``models-dir``,
    ``export`` or ``local-path``) and ``weights`` (file -> bytes)."""
    item = entry(name)
    commit: str | None = None
    if models_dir is not None:
        exported = _read_export_record(Path(models_dir) / name / EXPORT_RECORD)
        source = "export" if exported else "models-dir"
        commit = exported.get("commit")
    elif item.torch_hub:
        source = "torch-hub"
    elif Path(item.repo_id).is_dir():
        source = "local-path"
    else:
        source = "hub-cache"
        snapshot = local_snapshot(item)
        commit = snapshot.name if snapshot is not None else None
    weights = component_files(name, models_dir, weights_only=True)
    return {
        "repo_id": item.repo_id,
        "pinned": item.revision,
        "commit": commit if isinstance(commit, str) and is_commit(commit) else None,
        "source": source,
        "weights": {f: p.stat().st_size for f, p in weights.items()},
    }


def _read_export_record(path: Path) -> dict[str, Any]:
    if not path.is_file() or path.is_symlink() or path.stat().st_size > 1 << 20:
        return {}
    try:
        record = json_loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def component_records(
    names: list[str], models_dir: str | Path | None = None
) -> dict[str, dict[str, Any]]:
    """[component_record][multisc.models.provenance.component_record] of each component in
    ``names`` that is here."""
    return {
        name: component_record(name, models_dir)
        for name in dict.fromkeys(names)
        if is_available(name, models_dir)
    }


def is_stand_in(name: str, record: Any) -> bool:
    """Whether ``record`` ([component_record][multisc.models.provenance.component_record] of
    component ``name``) is a stand-in ``multisc models make-tiny`` wrote: every weights file
    under a tenth of the published file's size (the recorded manifest's), or, for a torch
    hub file (a segmenter: make-tiny writes the real architecture), weights under another
    name than the published file's. A record that is not one, or a component without a
    manifest: ``False``."""
    try:
        record_of = manifest(str(name))
        published = record_of["files"]
    except (OSError, ValueError, KeyError):
        return False
    weights = record.get("weights") if isinstance(record, dict) else None
    if "url" in record_of and isinstance(weights, dict) and weights:
        return not set(weights) & set(published)
    sizes = [
        (size, published.get(file))
        for file, size in (weights if isinstance(weights, dict) else {}).items()
        if isinstance(size, int) and isinstance(published.get(file), int)
    ]
    return bool(sizes) and all(size < 0.1 * real for size, real in sizes)


def pinned_problem(name: str) -> str | None:
    """A sentence when the cached snapshot that loading uses is not the pinned commit's
    (e.g. after ``pull --revision main``), else None."""
    item = entry(name)
    if item.torch_hub or not item.revision or Path(item.repo_id).is_dir():
        return None
    snapshot = local_snapshot(item)
    if snapshot is None or snapshot.name == item.revision:
        return None
    return (
        f"the cached snapshot is {snapshot.name[:12]}, not the pinned {item.revision[:12]}: "
        f"results will name it; `multisc models pull {name}` fetches the pinned one"
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(name: str, models_dir: str | Path | None = None) -> dict[str, Check]:
    """Each weights file of component ``name`` with a recorded digest: ``match``,
    ``differs`` (the bytes are not the published ones: a stand-in, a fine-tune, damage) or
    ``missing``; ``no recorded digest`` where no page shows one. Hashes whole files (a few
    seconds per GB)."""
    item = entry(name)
    files = component_files(name, models_dir, weights_only=True)
    checks: dict[str, Check] = {}
    if item.torch_hub:
        prefix = _torch_hub_prefix(item.repo_id)
        path = next(iter(files.values()), None)
        if path is None:
            return {item.repo_id: "missing"}
        if prefix is None or path.name != item.repo_id:
            return {path.name: "no recorded digest"}
        return {path.name: "match" if _sha256(path).startswith(prefix) else "differs"}
    for weight in item.weights:
        recorded = item.sha256.get(weight)
        path = files.get(weight)  # the published name only: another format is another file
        if path is None:
            checks[weight] = "missing"
        elif recorded is None:
            checks[weight] = "no recorded digest"
        else:
            checks[weight] = "match" if _sha256(path) == recorded else "differs"
    return checks


def export(
    directory: str | Path, names: list[str] | None = None, progress=None
) -> dict[str, dict[str, Any]]:
    """Copy components (default: every one that is here) into ``directory/<name>/`` with
    their repository layout, the bytes rather than the cache's links, plus an
    ``multisc_export.json`` naming the repo and commit. ``--models DIR`` then loads them
    without network. Files are written under a temporary name and renamed when whole,
    never through a link inside ``directory``.

    :raises ModelNotAvailableError: a component named is not on this machine.
    """
    directory = Path(directory)
    chosen = names or [n for n in REGISTRY if is_available(n)]
    for name in chosen:
        if not is_available(name):
            raise ModelNotAvailableError(
                f"cannot export {name!r}: it is not on this machine; run "
                f"`multisc models pull {name}` first"
            )
    from multisc.runroot import RunRoot

    root = RunRoot(directory)  # below it, no link is followed: see multisc.runroot
    root.create("the export folder")
    written: dict[str, dict[str, Any]] = {}
    for name in chosen:
        record = component_record(name)
        for relative, path in component_files(name).items():
            # the source is read through the cache's link to its blob; the copy is a new
            # file renamed over whatever is at the destination (a link is replaced)
            with path.open("rb") as source:
                root.write_with(
                    f"{name}/{relative}", lambda out, s=source: shutil.copyfileobj(s, out, 1 << 20)
                )
            if progress is not None:
                progress(name, relative)
        root.write_text(f"{name}/{EXPORT_RECORD}", json.dumps(record, indent=2))
        written[name] = {**record, "path": str(directory / name)}
    return written

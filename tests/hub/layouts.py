"""Repositories laid out as the recorded manifests say the real ones are, filled with the
tiny models: the real ids and file names, the real weight formats (BLIP and CLIP as
``pytorch_model.bin`` only, as their builders write them; the corrector with its search
settings in ``config.json``; torch hub files in their real containers),
and every recorded file that multisc does not need (``tf_model.h5``,
``flax_model.msgpack``, the IP-Adapter's 2.5 GB ``image_encoder/pytorch_model.bin``...) as
a small placeholder that no correct download fetches and no correct load reads."""

from __future__ import annotations

import shutil
from pathlib import Path

from multisc.models import REGISTRY, manifest
from multisc.testing.files import chat_template_json, separate_image_processor
from multisc.testing.torch_hub import write_torch_hub_file

PLACEHOLDER = b"placeholder: multisc must never fetch or read this file\n"


def build_repo(name: str, tiny: Path, root: Path, legacy: bool | None = None) -> Path:
    """Write component ``name``'s repo (from its tiny model in ``tiny``) under ``root``:
    ``root/<org>/<repo>`` for Hub repos, ``root/torch-models/<file>`` for torch hub files
    (random weights at the real architecture, in the real file's container unless
    ``legacy`` says which)."""
    record = manifest(name)
    item = REGISTRY[name]
    if item.torch_hub:
        folder = root / "torch-models"
        folder.mkdir(parents=True, exist_ok=True)
        # the real files' containers (multisc.testing.torch_hub.real_container)
        return write_torch_hub_file(name, folder / item.repo_id, legacy=legacy)
    repo = root / item.repo_id
    sharing = [n for n, other in REGISTRY.items() if n != name and other.repo_id == item.repo_id]
    if repo.exists() and not sharing:
        shutil.rmtree(repo)
    # two components of one repo (IP-Adapter and IP-Adapter Plus: h94/IP-Adapter) fill it
    # together: their files side by side, the image encoder they share once
    shutil.copytree(tiny / name, repo, dirs_exist_ok=True)
    if name == "captioner":
        chat_template_json(repo)
    if name in ("captioner", "vlm_captioner"):
        separate_image_processor(repo, keep_processor_config=name == "captioner")
    for file in record["files"]:
        path = repo / file
        if file not in item.needed and not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(PLACEHOLDER)
    return repo


def build_hub(tiny: Path, root: Path, names: list[str] | None = None) -> Path:
    """Every component's repo (or ``names``) under ``root``."""
    for name in names or list(REGISTRY):
        build_repo(name, tiny, root)
    return root

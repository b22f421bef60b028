"""The run directory: where reconstructions go, what it holds, and writing results into
it (atomically; the store's rows after their images)."""

from __future__ import annotations

import json
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from PIL import Image

from multisc import atomic
from multisc.errors import InvalidInputError
from multisc.experiment.config import RunConfig
from multisc.experiment.store import ResultStore
from multisc.experiment.tasks import TaskResult
from multisc.schemes.base import working_image

IMAGES_DIR = "images"


FAILURES_FILE = "failures.json"


def versions() -> dict[str, str]:
    out = {}
    for package in (
        "multisc",
        "torch",
        "torchvision",
        "sionna-no-rt",
        "transformers",
        "diffusers",
        "pillow-heif",
        "numpy",
    ):
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            out[package] = "not installed"
    return out


def image_path(image_id: str, scheme: str, snr_db: float, fading: str, seed: int) -> str:
    """Where a reconstruction is saved, relative to the run directory."""
    return f"{IMAGES_DIR}/{image_id}/{scheme}/snr{snr_db:+06.1f}_{fading}_seed{seed}.png"


def check_run_dir(out: Path, config: RunConfig, store: ResultStore) -> None:
    digests = store.digests()
    if digests and config.digest() not in digests:
        raise InvalidInputError(
            f"{out} holds results of a different experiment (config digest "
            f"{sorted(digests)[0]}, this one {config.digest()}); refusing to mix them. "
            "Pass another --out, or delete that directory to start fresh"
        )


def record_failure(result: TaskResult, out: Path) -> list[dict[str, str]]:
    """Add a failed (image, scheme) to ``RUN_DIR/failures.json`` (rewritten atomically);
    a later run that does it replaces the entry. :returns: every failure recorded."""
    path = out / FAILURES_FILE
    failures = json.loads(path.read_text()) if path.is_file() else []
    failures = [
        f for f in failures if (f["image_id"], f["scheme"]) != (result.image_id, result.scheme)
    ]
    failures.append({"image_id": result.image_id, "scheme": result.scheme, "error": result.error})
    atomic.write_text(path, json.dumps(failures, indent=2))
    return failures


def commit(result: TaskResult, out: Path, store: ResultStore, run_id: int) -> None:
    """Write a task's PNGs (atomically), then its rows (one transaction per seed)."""
    for relative, data in result.pngs.items():
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic.write_bytes(path, data)
    by_seed: dict[int, list[dict[str, Any]]] = {}
    for row in result.rows:
        by_seed.setdefault(row["seed"], []).append(row)
    for rows in by_seed.values():
        store.add_results(rows, run_id)


def save_references(images, out: Path) -> None:
    for image_id, image in images:
        path = out / IMAGES_DIR / image_id / "reference.png"
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic.replacing(path) as tmp:
                image.save(tmp, format="PNG")


def load_run_images(config: RunConfig) -> list[tuple[str, Image.Image]]:
    from multisc.data.sources import load_images

    images = [
        (image_id, working_image(image))
        for image_id, image in load_images(config.images, config.split, config.limit)
    ]
    ids = [image_id for image_id, _ in images]
    if len(set(ids)) != len(ids):
        raise InvalidInputError(f"image ids are not unique in {config.images}: rename the files")
    return images

"""The units of a sweep: one (image, scheme) with the (SNR, seed) pairs still missing,
and what a worker sends back for it."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from PIL import Image

from multisc.experiment.config import RunConfig
from multisc.experiment.store import ResultStore

if TYPE_CHECKING:
    from multisc.experiment.planning import Plan


@dataclass
class Task:
    """One (image, variant): the (SNR, seed) pairs still missing from the store.

    :ivar scheme: the variant's label (the scheme's name when nothing is varied)."""

    image_id: str
    scheme: str
    image: Image.Image
    todo: dict[int, list[float]]
    #: index into ``config.channels()``
    channel: int = 0


@dataclass
class TaskResult:
    """What a worker sends back: rows (metrics included), reconstructions as PNG bytes,
    and whether ``prepare`` ran (rather than came from the cache)."""

    image_id: str
    scheme: str
    rows: list[dict[str, Any]]
    pngs: dict[str, bytes]
    prepare_seconds: float | None
    #: why this (image, scheme) could not be done (a bad image): no rows, the sweep goes on
    error: str | None = None


def task_seed(image_id: str, seed: int) -> int:
    """The seed of (image, seed): every image gets its own noise, every scheme the same."""
    key = f"{image_id}:{seed}".encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big") >> 2


def make_tasks(config: RunConfig, plan: Plan, images, store: ResultStore) -> list[Task]:
    """The tasks still to do, image by image (all variants of an image together)."""
    tasks = []
    labels = plan.channels
    variants = [variant.label for variant in plan.variants]
    for image_id, image in images:
        for scheme in variants:
            for index, label in enumerate(labels):
                done = store.done(image_id, scheme, label)
                todo: dict[int, list[float]] = {}
                for seed in range(config.seeds):
                    missing = [s for s in config.snr_db if (s, seed) not in done]
                    if missing:
                        todo[seed] = missing
                if todo:
                    tasks.append(Task(image_id, scheme, image, todo, index))
    return tasks


def task_batches(tasks: Sequence[Task], images_per_batch: int) -> list[list[Task]]:
    """``tasks`` cut into consecutive batches covering ``images_per_batch`` images each
    (a batch's prepares run together; see ``Worker.prepare_ahead``)."""
    batches: list[list[Task]] = []
    seen: set[str] = set()
    for task in tasks:
        if task.image_id not in seen and len(seen) == images_per_batch:
            seen = set()
        if not seen:
            batches.append([])
        seen.add(task.image_id)
        batches[-1].append(task)
    return batches


def total_rows(config: RunConfig, plan: Plan, n_images: int) -> int:
    """Results the run holds when done
    ([Plan.total_rows][multisc.experiment.planning.Plan.total_rows])."""
    return plan.total_rows(n_images, len(config.snr_db), config.seeds)

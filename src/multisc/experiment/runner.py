"""The sweep: images x schemes x SNRs x seeds, resumable, into the result store.

For each (image, scheme) the scheme's ``prepare`` runs once and is cached on disk (keyed
by the image's hash, the scheme and every setting that changes its output); then all
missing (SNR, seed) pairs go through ``transmit`` together. Components load once per
worker. The same :meth:`Worker.process_many` runs locally and in Ray actors; only the driver
writes to the store, one transaction per (image, scheme, seed).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from multisc import atomic
from multisc.channel import ChannelSpec
from multisc.errors import InvalidInputError, ModelNotAvailableError
from multisc.experiment import safe_cache
from multisc.experiment.config import RunConfig
from multisc.experiment.store import ResultStore
from multisc.imaging import image_key
from multisc.schemes.base import Scheme, working_image

logger = logging.getLogger(__name__)

CACHE_DIR = "cache"
PREPARE_LOG = "log.jsonl"
IMAGES_DIR = "images"


#: what :meth:`Worker.prepare_ahead` hands to :meth:`Worker.process`: the prepared result
#: and the seconds its prepare took (``None``: it came from the cache)
Ahead = tuple[Any, float | None]


@dataclass
class Task:
    """One (image, scheme): the (SNR, seed) pairs still missing from the store."""

    image_id: str
    scheme: str
    image: Image.Image
    todo: dict[int, list[float]]


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


@dataclass
class Plan:
    """What a run will do, decided by the driver."""

    schemes: list[str]
    skipped: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    #: the deep JSCC checkpoints (one per ratio, highest first), or None
    jscc_checkpoint: list[str] | None = None
    budget: str | None = None
    failure_color: tuple[int, int, int] | None = None


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


def image_digest(image: Image.Image) -> str:
    return image_key(image)[:24]


def task_seed(image_id: str, seed: int) -> int:
    """The seed of (image, seed): every image gets its own noise, every scheme the same."""
    key = f"{image_id}:{seed}".encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big") >> 2


def image_path(image_id: str, scheme: str, snr_db: float, fading: str, seed: int) -> str:
    """Where a reconstruction is saved, relative to the run directory."""
    return f"{IMAGES_DIR}/{image_id}/{scheme}/snr{snr_db:+06.1f}_{fading}_seed{seed}.png"


class PrepareCache:
    """``prepare`` results in ``RUN_DIR/cache/prepare/<scheme>/<key>.zip`` in a format that
    cannot run code (:mod:`multisc.experiment.safe_cache`; a run directory may come from
    someone else), written atomically under a name unique to the process, so a kill never
    leaves a half-written entry and concurrent writers never share a temporary file.

    Caches of older versions (``.pkl``: pickles, which run code when loaded) are never
    read: they are ignored, with one line saying so, and the entry is computed again.
    """

    def __init__(self, root: Path, settings: str) -> None:
        self.root = Path(root) / "prepare"
        self.settings = settings
        self._warned = False

    def path(self, scheme: str, image: Image.Image) -> Path:
        key = hashlib.sha256(f"{image_digest(image)}:{scheme}:{self.settings}".encode())
        return self.root / scheme / f"{key.hexdigest()[:32]}.zip"

    def get(self, scheme: str, image: Image.Image) -> Any | None:
        path = self.path(scheme, image)
        if not path.is_file():
            if not self._warned and path.with_suffix(".pkl").is_file():
                self._warned = True
                logger.warning(
                    "ignoring pickled prepare caches in %s (never loaded: a pickle can run "
                    "code); preparing again",
                    self.root,
                )
            return None
        try:
            return safe_cache.loads(path.read_bytes())
        except safe_cache.CacheFormatError:
            return None  # another version's entry, or damaged: prepare again

    def put(
        self, scheme: str, image: Image.Image, prepared: Any, image_id: str, seconds: float
    ) -> None:
        """Cache ``prepared`` and log the call in ``cache/prepare/log.jsonl`` (one short
        appended line: a record of every prepare that ran, whichever worker ran it)."""
        path = self.path(scheme, image)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic.write_bytes(path, safe_cache.dumps(prepared))
        line = json.dumps(
            {
                "image_id": image_id,
                "scheme": scheme,
                "seconds": round(seconds, 3),
                "time": time.time(),
            }
        )
        with (self.root / PREPARE_LOG).open("a") as log:
            log.write(line + "\n")

    def counts(self) -> dict[tuple[str, str], int]:
        """How many times ``prepare`` ran per (image, scheme), over every run."""
        path = self.root / PREPARE_LOG
        counts: dict[tuple[str, str], int] = {}
        if path.is_file():
            for line in path.read_text().splitlines():
                if line.strip():
                    entry = json.loads(line)
                    key = (entry["image_id"], entry["scheme"])
                    counts[key] = counts.get(key, 0) + 1
        return counts


class Worker:
    """Components, schemes and metrics, loaded once, that process tasks."""

    def __init__(self, config: RunConfig, plan: Plan, cache_root: Path) -> None:
        from multisc.metrics.scoring import Scorer
        from multisc.schemes import Components

        options = config.scheme_options()
        options.jscc_checkpoint = plan.jscc_checkpoint
        options.budget = plan.budget
        if plan.failure_color is not None:
            options.failure_color = tuple(plan.failure_color)  # type: ignore[assignment]
        self.config = config
        self.components = Components(config.models, config.device, options)
        self.scorer = Scorer(config.models, self.components.device)
        self.cache = PrepareCache(cache_root, settings_key(config, plan))
        self._schemes: dict[str, Any] = {}

    def scheme(self, name: str):
        from multisc.schemes import build_scheme

        if name not in self._schemes:
            self._schemes[name] = build_scheme(name, self.components)
        return self._schemes[name]

    def prepare_ahead(self, tasks: Sequence[Task]) -> dict[tuple[str, str], Ahead]:
        """Prepare, per semantic scheme, every image of ``tasks`` not in the cache in one
        batch (:meth:`SemanticScheme.prepare_many`: one segmentation pass, the captions of
        all blocks of all images in one ``generate``), and cache the results. A baseline
        whose budget is "same as multisc" gets multisc's prepares too (from the cache when
        there, so a resumed run does not caption again). Baselines prepare in
        :meth:`process` (nothing to batch).

        :returns: per (image_id, scheme) of ``tasks``: the prepared result, and the seconds
            its prepare took here (each image's share of the batch) or ``None`` if cached.
        """
        needed: dict[str, dict[str, Task]] = {}
        for task in tasks:
            scheme = self.scheme(task.scheme)
            budget = getattr(scheme, "budget", None)
            # a budget "same as multisc" (MatchedBudget) prepares its reference scheme too
            for batched in (scheme, getattr(budget, "reference", None)):
                if isinstance(batched, Scheme) and batched.batched_prepare:
                    needed.setdefault(batched.name, {}).setdefault(task.image_id, task)
        ahead: dict[tuple[str, str], Ahead] = {}
        for name, firsts in needed.items():
            scheme = self.scheme(name)
            todo = []
            for task in firsts.values():
                cached = self.cache.get(name, task.image)
                if cached is None:
                    todo.append(task)
                else:
                    scheme.remember(cached)
                    ahead[(task.image_id, name)] = (cached, None)
            if not todo:
                continue
            started = time.perf_counter()
            prepared = scheme.prepare_many([t.image for t in todo])
            share = (time.perf_counter() - started) / len(todo)
            for task, item in zip(todo, prepared, strict=True):
                self.cache.put(name, task.image, item, task.image_id, share)
                ahead[(task.image_id, name)] = (item, share)
        return ahead

    def process_many(self, tasks: Sequence[Task]) -> list[TaskResult]:
        """:meth:`prepare_ahead` for all of ``tasks``, then each task (a Ray actor's unit);
        a bad image fails alone (:meth:`prepare_isolated`, :meth:`process_safely`)."""
        prepared, errors = self.prepare_isolated(tasks)
        return [self.process_safely(task, prepared, errors) for task in tasks]

    def prepare_isolated(
        self, tasks: Sequence[Task]
    ) -> tuple[dict[tuple[str, str], Ahead], dict[tuple[str, str], str]]:
        """:meth:`prepare_ahead` of the batch; if it fails, image by image, so that one bad
        image fails alone. :returns: the prepared results, and the error per
        (image_id, scheme) of the images that failed."""
        try:
            return self.prepare_ahead(tasks), {}
        except ModelNotAvailableError:
            raise  # not the image's fault: every image would fail the same way
        except Exception as exc:
            if len({t.image_id for t in tasks}) == 1:
                return {}, {(t.image_id, t.scheme): _reason(exc) for t in tasks}
        prepared: dict[tuple[str, str], Ahead] = {}
        errors: dict[tuple[str, str], str] = {}
        for image_id in dict.fromkeys(t.image_id for t in tasks):
            group = [t for t in tasks if t.image_id == image_id]
            try:
                prepared.update(self.prepare_ahead(group))
            except ModelNotAvailableError:
                raise
            except Exception as exc:
                errors.update({(t.image_id, t.scheme): _reason(exc) for t in group})
        return prepared, errors

    def process_safely(
        self,
        task: Task,
        prepared: dict[tuple[str, str], Ahead],
        errors: dict[tuple[str, str], str],
    ) -> TaskResult:
        """:meth:`process`, or a result carrying the error when the image cannot be done."""
        error = errors.get((task.image_id, task.scheme))
        if error is None:
            try:
                return self.process(task, prepared)
            except ModelNotAvailableError:
                raise
            except Exception as exc:
                error = _reason(exc)
        return TaskResult(task.image_id, task.scheme, [], {}, None, error=error)

    def process(
        self, task: Task, prepared_ahead: dict[tuple[str, str], Ahead] | None = None
    ) -> TaskResult:
        """One (image, scheme): prepare (or take it from ``prepared_ahead``, what
        :meth:`prepare_ahead` returned, or the cache), then every missing (SNR, seed) pair."""
        scheme = self.scheme(task.scheme)
        ahead = (prepared_ahead or {}).pop((task.image_id, task.scheme), None)
        if ahead is not None:
            prepared, prepare_seconds = ahead
        else:
            prepared, prepare_seconds = self.cache.get(task.scheme, task.image), None
        if prepared is None:
            started = time.perf_counter()
            prepared = scheme.prepare(task.image)
            prepare_seconds = time.perf_counter() - started
            self.cache.put(task.scheme, task.image, prepared, task.image_id, prepare_seconds)
        rows, pngs = [], {}
        reference = prepared.reference  # every Prepared has one (schemes.base.Prepared)
        prepare_timings = getattr(prepared, "timings", {}) or {}
        for seed, snrs in sorted(task.todo.items()):
            specs = [
                ChannelSpec(s, fading=self.config.fading, coherence=self.config.coherence)
                for s in snrs
            ]
            generator = torch.Generator().manual_seed(task_seed(task.image_id, seed))
            results = scheme.transmit(prepared, specs, generator)
            started = time.perf_counter()
            scores = self.scorer.score_many(reference, results)  # all SNRs in one batch
            metric_s = (time.perf_counter() - started) / max(len(results), 1)
            for result, metrics in zip(results, scores, strict=True):
                timings = {**prepare_timings, **result.timings, "metrics": metric_s}
                path = image_path(
                    task.image_id, task.scheme, result.spec.snr_db, result.spec.fading, seed
                )
                buffer = io.BytesIO()
                result.image.save(buffer, format="PNG")
                pngs[path] = buffer.getvalue()
                rows.append(
                    {
                        "image_id": task.image_id,
                        "scheme": task.scheme,
                        "snr_db": result.spec.snr_db,
                        "fading": result.spec.fading,
                        "seed": seed,
                        "metrics": metrics,
                        "channel_uses": int(result.channel_uses),
                        "bits_sent": int(result.bits_sent),
                        "failed": bool(result.failed),
                        "texts_sent": list(result.texts_sent),
                        "texts_received": list(result.texts_received),
                        "texts_corrected": list(result.texts_corrected),
                        "prompt": result.prompt,
                        "timings": timings,
                        "details": _jsonable(result.details),
                        "image_path": path,
                    }
                )
        return TaskResult(task.image_id, task.scheme, rows, pngs, prepare_seconds)


def _jsonable(details: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(details, default=str))


def settings_key(config: RunConfig, plan: Plan) -> str:
    """Everything that changes what ``prepare`` produces (models, options, checkpoint)."""
    from multisc.models import REGISTRY

    ids = {name: (entry.repo_id, entry.revision) for name, entry in REGISTRY.items()}
    payload = {
        "options": config.options.model_dump(),
        "models": config.models,
        "ids": ids,
        "jscc": plan.jscc_checkpoint,
        "budget": plan.budget,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


# -- planning (driver side) ----------------------------------------------------------------


def needed_components(scheme: str, config: RunConfig) -> list[str]:
    """The pretrained components ``scheme`` loads with ``config``'s options (from its
    registration: :class:`~multisc.schemes.spec.SchemeSpec`)."""
    from multisc.schemes.spec import get_spec

    return list(get_spec(scheme).needed_components(config.scheme_options()))


def missing_components(scheme: str, config: RunConfig) -> list[str]:
    from multisc.models import is_available

    return [n for n in needed_components(scheme, config) if not is_available(n, config.models)]


#: the metrics' weights (CLIP image cosine, LPIPS' AlexNet), fetched with the schemes'
METRIC_COMPONENTS = ("clip", "lpips")


def download_missing(config: RunConfig, say: Callable[[str], None]) -> list[str]:
    """On a machine with network (hub reachable, ``HF_HUB_OFFLINE`` unset, ``download`` on,
    no ``--models DIR``): download every component the chosen schemes and the metrics need
    that is not here yet, the total size said first. Returns what was downloaded."""
    from multisc.models import fetchable, is_available, pull_many

    if config.models is not None or not config.download or not fetchable():
        return []
    needed = [name for scheme in config.schemes for name in needed_components(scheme, config)]
    wanted = [n for n in dict.fromkeys([*needed, *METRIC_COMPONENTS]) if not is_available(n)]
    if wanted:
        pull_many(wanted, say)
    return wanted


def plan_run(
    config: RunConfig, say: Callable[[str], None], train_progress: Callable[..., None] | None = None
) -> Plan:
    """Which schemes run, which are skipped (one line each, saying what to get), the
    deep JSCC checkpoint (trained on first use), and the baselines' budget."""
    from multisc.models import entry

    plan = Plan(schemes=[])
    download_missing(config, say)
    for scheme in config.schemes:
        missing = missing_components(scheme, config)
        if missing:
            first = entry(missing[0])
            where = f"in {config.models}" if config.models else "on this machine"
            plan.skipped[scheme] = (
                f"skipping {scheme}: weights of {', '.join(missing)} are not available {where} "
                f"(e.g. {first.repo_id}); run `multisc models pull {' '.join(missing)}` on a "
                "machine with network, or pass --models DIR"
            )
            say(plan.skipped[scheme])
        else:
            plan.schemes.append(scheme)
    budget = config.options.budget
    from multisc.schemes.spec import get_spec

    baselines = [s for s in plan.schemes if get_spec(s).budget]
    if budget == "match" and baselines and missing_components("multisc", config):
        budget = config.budget_fallback
        plan.notes.append(
            f"{' and '.join(baselines)}: multisc is not available, so the channel-use budget "
            f"is the ratio {budget} of H·W·3 instead of 'same as multisc'"
        )
        say(plan.notes[-1])
    plan.budget = budget
    if "deep_jscc" in plan.schemes or config.options.slice_link == "jscc":
        plan.jscc_checkpoint = jscc_checkpoints(config, say, train_progress)
    return plan


def jscc_cache_dir() -> Path:
    root = os.environ.get("MULTISC_CACHE") or Path.home() / ".cache" / "multisc"
    return Path(root) / "jscc"


def jscc_checkpoints(
    config: RunConfig, say: Callable[[str], None], progress: Callable[..., None] | None = None
) -> list[str]:
    """The deep JSCC checkpoints of a run, highest ratio first: the configured ones; else
    the shipped ones for the run's channel and training SNR (every shipped ratio, or
    ``jscc.ratio``); a ratio or SNR no shipped checkpoint covers is trained once on the
    bundled training photos and cached."""
    from multisc.codecs.jscc import parse_ratio, parse_train_snr, read_config
    from multisc.codecs.jscc_shipped import SHIPPED_RATIOS, shipped

    j = config.jscc
    if j.checkpoint:
        return [j.checkpoint] if isinstance(j.checkpoint, str) else list(j.checkpoint)
    snr = parse_train_snr(j.train_snr_db)
    ratios = (j.ratio,) if j.ratio else SHIPPED_RATIOS
    found = {parse_ratio(read_config(d).ratio): str(d) for d in shipped(config.fading, snr, ratios)}
    for ratio in ratios:
        if parse_ratio(ratio) not in found:
            found[parse_ratio(ratio)] = default_jscc_checkpoint(config, ratio, say, progress)
    return [found[r] for r in sorted(found, reverse=True)]


def default_jscc_checkpoint(
    config: RunConfig,
    ratio: str,
    say: Callable[[str], None],
    progress: Callable[..., None] | None = None,
) -> str:
    """A deep JSCC checkpoint no shipped one covers: trained once on the bundled
    *training* photos (held out from the ``samples`` source) and cached."""
    from multisc.codecs.jscc import JSCCConfig
    from multisc.codecs.jscc_shipped import directory_name
    from multisc.codecs.jscc_training import RECIPE_VERSION, STATE_FILE, train_jscc
    from multisc.data.sources import TRAINING_PHOTOS, sample_photos

    j = config.jscc
    jscc_config = JSCCConfig(ratio, j.train_snr_db, config.fading)
    # keyed by the recipe's version too: a checkpoint an older recipe cached is not reused
    name = f"{directory_name(jscc_config)}-{j.steps}steps-recipe{RECIPE_VERSION}"
    directory = jscc_cache_dir() / name
    state = directory / STATE_FILE
    if state.is_file() and torch.load(state, weights_only=True)["step"] >= j.steps:
        return str(directory)
    say(
        f"deep_jscc: no shipped checkpoint for {jscc_config.label}; training one ({j.steps} "
        f"steps) on the bundled training photos, cached in {directory}"
    )
    images = [image for _, image in sample_photos(TRAINING_PHOTOS)]
    train_jscc(
        images,
        jscc_config,
        directory,
        steps=j.steps,
        device=config.device,
        progress=progress,
        data="bundled training photos: " + ", ".join(TRAINING_PHOTOS),
    )
    return str(directory)


def dataset_mean_color(images: Sequence[tuple[str, Image.Image]]) -> tuple[int, int, int]:
    """Mean RGB of the run's images: the failure image's colour."""
    sums, count = np.zeros(3), 0
    for _, image in images:
        array = np.asarray(image, dtype=np.float64).reshape(-1, 3)
        sums += array.sum(0)
        count += array.shape[0]
    mean = sums / max(count, 1)
    return tuple(round(v) for v in mean)  # type: ignore[return-value]


def make_tasks(config: RunConfig, plan: Plan, images, store: ResultStore) -> list[Task]:
    """The tasks still to do, image by image (all schemes of an image together)."""
    tasks = []
    for image_id, image in images:
        for scheme in plan.schemes:
            done = store.done(image_id, scheme, config.fading)
            todo: dict[int, list[float]] = {}
            for seed in range(config.seeds):
                missing = [s for s in config.snr_db if (s, seed) not in done]
                if missing:
                    todo[seed] = missing
            if todo:
                tasks.append(Task(image_id, scheme, image, todo))
    return tasks


def task_batches(tasks: Sequence[Task], images_per_batch: int) -> list[list[Task]]:
    """``tasks`` cut into consecutive batches covering ``images_per_batch`` images each
    (a batch's prepares run together; see :meth:`Worker.prepare_ahead`)."""
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


def check_run_dir(out: Path, config: RunConfig, store: ResultStore) -> None:
    digests = store.digests()
    if digests and config.digest() not in digests:
        raise InvalidInputError(
            f"{out} holds results of a different experiment (config digest "
            f"{sorted(digests)[0]}, this one {config.digest()}); refusing to mix them. "
            "Pass another --out, or delete that directory to start fresh"
        )


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


FAILURES_FILE = "failures.json"


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


def total_rows(config: RunConfig, plan: Plan, n_images: int) -> int:
    return n_images * len(plan.schemes) * len(config.snr_db) * config.seeds

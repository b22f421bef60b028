"""The prepare cache of a run directory: what ``prepare`` returned, per (image, scheme,
settings), in a format that cannot run code."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image

from multisc.experiment import safe_cache
from multisc.experiment.config import RunConfig
from multisc.imaging import image_key
from multisc.runroot import RunDirError, RunRoot

if TYPE_CHECKING:
    from multisc.experiment.planning import Plan

logger = logging.getLogger(__name__)


CACHE_DIR = "cache"


PREPARE_LOG = "log.jsonl"


def image_digest(image: Image.Image) -> str:
    return image_key(image)[:24]


#: the largest prepare-cache entry read (bounded before reading: see safe_cache)
ENTRY_LIMIT = safe_cache.MAX_TOTAL_BYTES + (1 << 20)
LOG_LIMIT = 64 << 20


class PrepareCache:
    """``prepare`` results in ``RUN_DIR/cache/prepare/<scheme>/<key>.zip`` in a format that
    cannot run code (``multisc.experiment.safe_cache``; a run directory may come from
    someone else), opened through ``RunRoot`` (no link
    followed, reads bounded), written whole under a new name then renamed, so a kill never
    leaves a half-written entry and concurrent writers never share a temporary file.

    An entry that fails any check (another version's format, a link, a FIFO, over its
    bounds, sizes that do not fit the image it is for) is not used: the pair is prepared
    again and the entry replaced. Caches of older versions (``.pkl``: pickles, which run
    code when loaded) are never read: they are ignored, with one line saying so.
    """

    def __init__(self, root: Path, settings: str, fresh: bool = False) -> None:
        root = Path(root)
        self.run = RunRoot(root.parent)
        self.prefix = f"{root.name}/prepare"
        self.root = root / "prepare"
        self.settings = settings
        #: prepare everything again (``--fresh-cache``): entries are written, never read
        self.fresh = fresh
        self._warned = False

    def relative(self, scheme: str, image: Image.Image, settings: str = "") -> str:
        """Where the prepare of ``image`` by ``scheme`` with ``settings`` (the digest of
        what its prepare reads: ``prepare_key``) is cached."""
        text = f"{image_digest(image)}:{scheme}:{self.settings}:{settings}"
        key = hashlib.sha256(text.encode())
        return f"{self.prefix}/{scheme}/{key.hexdigest()[:32]}.zip"

    def path(self, scheme: str, image: Image.Image, settings: str = "") -> Path:
        return self.run.root / self.relative(scheme, image, settings)

    def get(
        self,
        scheme: str,
        image: Image.Image,
        settings: str = "",
        check: Callable[[Any, Image.Image], str | None] | None = None,
    ) -> Any | None:
        """The cached prepare of ``image`` by ``scheme``, or ``None`` (prepare again): when
        there is none, when it cannot be read or fails any check (``check``: the scheme's
        own, [Scheme.cached_problem][multisc.schemes.base.Scheme.cached_problem]), and
        always with ``fresh``. An entry never fails a pair: whatever is wrong with it, the
        pair is prepared again and the entry replaced."""
        if self.fresh:
            return None
        relative = self.relative(scheme, image, settings)
        try:
            return self.load(relative, image, check)
        except FileNotFoundError:
            if not self._warned and self.run.is_file(relative.removesuffix(".zip") + ".pkl"):
                self._warned = True
                logger.warning(
                    "ignoring pickled prepare caches in %s (never loaded: a pickle can run "
                    "code); preparing again",
                    self.root,
                )
            return None

    def load(
        self,
        relative: str,
        image: Image.Image,
        check: Callable[[Any, Image.Image], str | None] | None,
    ) -> Any | None:
        """The entry at ``relative`` if it can be read and passes every check (its sizes fit
        ``image``, then ``check``); else ``None``, with one line saying why.

        :raises FileNotFoundError: there is no entry.
        """
        try:
            data = self.run.read_bytes(relative, ENTRY_LIMIT)
        except FileNotFoundError:
            raise
        except (RunDirError, OSError) as exc:
            logger.warning("not using prepare cache entry %s (%s); preparing again", relative, exc)
            return None
        try:
            value = safe_cache.loads(data)
            check_fits(value, image.size)
            problem = check(value, image) if check is not None else None
        except Exception as exc:  # damaged or crafted in any way: never the pair's failure
            problem = f"{type(exc).__name__}: {str(exc)[:200]}"
        if problem:
            logger.warning(
                "not using prepare cache entry %s (%s); preparing again", relative, problem
            )
            return None  # another version's entry, damaged or crafted: prepare again
        return value

    def put(
        self,
        scheme: str,
        image: Image.Image,
        prepared: Any,
        image_id: str,
        seconds: float,
        settings: str = "",
    ) -> None:
        """Cache ``prepared`` and log the call in ``cache/prepare/log.jsonl`` (one short
        appended line: a record of every prepare that ran, whichever worker ran it). The
        cache's folders are multisc's own: a link or a file in their place is replaced by a
        folder, and whatever is at the entry's place (a folder, a link) by the entry."""
        self.store(self.relative(scheme, image, settings), safe_cache.dumps(prepared))
        line = {"image_id": image_id, "scheme": scheme, "seconds": round(seconds, 3)}
        self.log(line)

    def store(self, relative: str, data: bytes) -> None:
        """Write an entry whole at ``relative``. The cache's folders are multisc's own: a
        link or a file in their place is replaced by a folder, and whatever is at the
        entry's place (a folder, a link) by the entry."""
        folder = relative.rpartition("/")[0]
        try:
            whole = self.run.entry_kind(folder) == "folder"
        except RunDirError:  # a step on the way is a link or a file
            whole = False
        if not whole:
            self.run.ensure_folder(folder)
        if self.run.entry_kind(relative) not in (None, "file"):
            self.run.remove_entry(relative)
        self.run.write_bytes(relative, data)

    def log(self, line: dict[str, Any]) -> None:
        """Append one line (and the time) to ``cache/prepare/log.jsonl``."""
        self.run.append_text(
            f"{self.prefix}/{PREPARE_LOG}", json.dumps({**line, "time": time.time()}) + "\n"
        )

    def log_lines(self) -> list[dict[str, Any]]:
        """The log's lines that are JSON objects (others are skipped)."""
        relative = f"{self.prefix}/{PREPARE_LOG}"
        if not self.run.is_file(relative):
            return []
        lines = []
        for line in self.run.read_text(relative, LOG_LIMIT).splitlines():
            try:
                entry = json.loads(line)
            except (ValueError, RecursionError):
                continue
            if isinstance(entry, dict):
                lines.append(entry)
        return lines

    def stage(self) -> StagesInRun:
        """The store of prepare stages ([multisc.schemes.stages][multisc.schemes.stages]) in
        this cache: ``cache/prepare/stages/<stage>/<key>.zip``."""
        return StagesInRun(self)

    def counts(self) -> dict[tuple[str, str], int]:
        """How many times ``prepare`` ran per (image, scheme), over every run (lines that
        are not ours are skipped)."""
        counts: dict[tuple[str, str], int] = {}
        for entry in self.log_lines():
            if "image_id" in entry and "scheme" in entry:
                key = (str(entry["image_id"]), str(entry["scheme"]))
                counts[key] = counts.get(key, 0) + 1
        return counts


class StagesInRun:
    """A semantic prepare's stages (segmentation, captions) kept in a run's prepare cache,
    each under the digest of the image and what the stage depends on (the part, its
    settings, the weights it loads: the scheme's stage key), in the same format and with
    the same checks as whole prepares: an entry that cannot be read, or that the stage's
    check refuses, is computed again. Each stage that runs is logged in
    ``cache/prepare/log.jsonl`` (``"stage"``: segment or caption)."""

    def __init__(self, cache: PrepareCache) -> None:
        self.cache = cache

    def relative(self, stage: str, image: Image.Image, key: str) -> str:
        digest = hashlib.sha256(f"{image_digest(image)}:{stage}:{key}".encode())
        return f"{self.cache.prefix}/stages/{stage}/{digest.hexdigest()[:32]}.zip"

    def get(
        self,
        stage: str,
        key: str,
        image: Image.Image,
        check: Callable[[Any, Image.Image], str | None],
    ) -> tuple[Any, float] | None:
        """``(value, seconds)`` of ``stage`` for ``image`` under ``key``, or ``None``."""
        if self.cache.fresh:
            return None

        def whole(item: Any, image: Image.Image) -> str | None:
            if not isinstance(item, tuple) or len(item) != 2:
                return "not a stage entry"
            value, seconds = item
            if not isinstance(seconds, float) or not 0 <= seconds < 1e9:
                return f"its seconds {seconds!r} are not a duration"
            return check(value, image)

        try:
            return self.cache.load(self.relative(stage, image, key), image, whole)
        except FileNotFoundError:
            return None

    def put(self, stage: str, key: str, image: Image.Image, value: Any, seconds: float) -> None:
        self.cache.store(
            self.relative(stage, image, key), safe_cache.dumps((value, float(seconds)))
        )
        self.cache.log({"stage": stage, "image": image_digest(image), "seconds": round(seconds, 3)})

    def counts(self) -> dict[tuple[str, str], int]:
        """How many times each stage ran, per (image digest, stage), over every run."""
        counts: dict[tuple[str, str], int] = {}
        for entry in self.cache.log_lines():
            if "stage" in entry and "image" in entry:
                key = (str(entry["image"]), str(entry["stage"]))
                counts[key] = counts.get(key, 0) + 1
        return counts


#: fields of prepared results that are sizes or boxes in the image's pixels
_SIZE_FIELDS = ("size", "send_size")
_BOX_FIELDS = ("box",)


def check_fits(value: Any, image_size: tuple[int, int]) -> None:
    """Refuse (``CacheFormatError``) a prepared result
    whose images, sizes or boxes do not fit the working image it was prepared from (a
    crafted entry can claim a deep JSCC ``send_size`` of 60000 x 60000)."""
    import dataclasses

    width, height = image_size

    def fits(item: Any, name: str = "") -> None:
        if isinstance(item, Image.Image):
            if item.width > width or item.height > height:
                raise safe_cache.CacheFormatError(f"an image of {item.size} for a {image_size} one")
        elif dataclasses.is_dataclass(item) and not isinstance(item, type):
            for field in dataclasses.fields(item):
                fits(getattr(item, field.name), field.name)
        elif isinstance(item, dict):
            for value in item.values():
                fits(value)
        elif isinstance(item, list | tuple):
            if name in _SIZE_FIELDS and not _within(item, (width, height)):
                raise safe_cache.CacheFormatError(f"{name} {item!r} for a {image_size} image")
            if name in _BOX_FIELDS and not _within(item, (width, height, width, height)):
                raise safe_cache.CacheFormatError(f"{name} {item!r} for a {image_size} image")
            for value in item:
                fits(value)

    fits(value)


def _within(values: Any, bounds: tuple[int, ...]) -> bool:
    return (
        len(values) == len(bounds)
        and all(isinstance(v, int) and not isinstance(v, bool) for v in values)
        and all(0 <= v <= b for v, b in zip(values, bounds, strict=True))
    )


def settings_key(config: RunConfig, plan: Plan) -> str:
    """What changes every scheme's ``prepare`` (models, checkpoints, the run's budget);
    each scheme's own options add theirs (``prepare_key``)."""
    from multisc.models import REGISTRY

    ids = {name: (entry.repo_id, entry.revision) for name, entry in REGISTRY.items()}
    payload = {
        "models": config.models,
        "ids": ids,
        # prepares depend on the checkpoints' ratios only, the same for every channel
        "jscc": next(iter(plan.jscc_checkpoint.values())) if plan.jscc_checkpoint else None,
        "budget": plan.budget,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def prepare_key(scheme: str, options: Any) -> str:
    """The digest of the settings ``scheme``'s ``prepare`` reads with ``options`` (its
    registration's ``prepare_options``; a budget
    "same as multisc" reads multisc's too): variants that differ in anything else share
    one cached prepare."""
    from multisc.schemes.catalog import get_spec

    settings = get_spec(scheme).prepare_settings(options)
    if settings.get("budget") == "match":
        settings["match"] = get_spec("multisc").prepare_settings(options)
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]

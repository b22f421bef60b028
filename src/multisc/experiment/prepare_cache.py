"""The prepare cache of a run directory: what ``prepare`` returned, per (image, scheme,
settings), in a format that cannot run code."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image

from multisc import atomic
from multisc.experiment import safe_cache
from multisc.experiment.config import RunConfig
from multisc.imaging import image_key

if TYPE_CHECKING:
    from multisc.experiment.planning import Plan

logger = logging.getLogger(__name__)


CACHE_DIR = "cache"


PREPARE_LOG = "log.jsonl"


def image_digest(image: Image.Image) -> str:
    return image_key(image)[:24]


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


def settings_key(config: RunConfig, plan: Plan) -> str:
    """Everything that changes what ``prepare`` produces (models, options, checkpoint)."""
    from multisc.models import REGISTRY

    ids = {name: (entry.repo_id, entry.revision) for name, entry in REGISTRY.items()}
    payload = {
        "options": config.options.model_dump(),
        "models": config.models,
        "ids": ids,
        # prepares depend on the checkpoints' ratios only, the same for every channel
        "jscc": next(iter(plan.jscc_checkpoint.values())) if plan.jscc_checkpoint else None,
        "budget": plan.budget,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()

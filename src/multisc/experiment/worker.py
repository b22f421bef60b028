"""The worker: components, schemes and metrics loaded once, that turn tasks into rows.

For each (image, scheme) the scheme's ``prepare`` runs once and is cached on disk (keyed by
the image's hash, the scheme and every setting that changes its output); then all missing
(SNR, seed) pairs go through ``transmit`` together. The same ``Worker.process_many``
runs locally and in Ray actors; only the driver writes to the store.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from multisc.errors import ModelNotAvailableError
from multisc.experiment.config import RunConfig
from multisc.experiment.planning import Plan
from multisc.experiment.prepare_cache import PrepareCache, settings_key
from multisc.experiment.rundir import image_path
from multisc.experiment.tasks import Task, TaskResult, task_seed

#: what ``Worker.prepare_ahead`` hands to ``Worker.process``: the prepared result
#: and the seconds its prepare took (``None``: it came from the cache)
Ahead = tuple[Any, float | None]


class Worker:
    """Components, schemes and metrics, loaded once, that process tasks."""

    def __init__(self, config: RunConfig, plan: Plan, cache_root: Path) -> None:
        from multisc.metrics.scoring import Scorer
        from multisc.schemes import Components

        if config.threads is not None:  # a Ray actor pins its own process too
            from multisc.devices import pin_threads

            pin_threads(config.threads)
        options = config.scheme_options()
        checkpoints = plan.jscc_checkpoint or {}
        options.jscc_checkpoint = next(iter(checkpoints.values()), None)
        options.budget = plan.budget
        self.config = config
        self.channels = config.channels()
        self.jscc_checkpoints = checkpoints
        self.options = options
        self.components = Components(config.models, config.device, options)
        self.scorer = Scorer(config.models, self.components.device)
        self.cache = PrepareCache(cache_root, settings_key(config, plan), config.fresh_cache)
        #: the run's variants by label (a task's ``scheme``): one per scheme without ``vary``
        self.variants = {v.label: v for v in plan.variants}
        self._schemes: dict[tuple[str, str | None], Any] = {}

    def variant_options(self, label: str, channel: int = 0):
        """The options of the variant ``label`` (its varied settings applied), with the
        deep JSCC checkpoints of the ``channel``-th channel's training family."""
        import dataclasses

        from multisc.experiment.planning import jscc_family
        from multisc.experiment.variants import Variant

        variant = self.variants.get(label) or Variant(label)  # a budget's reference scheme
        options = variant.options(self.options)
        checkpoints = self.jscc_checkpoints.get(jscc_family(self.channels[channel]))
        if checkpoints:
            options = dataclasses.replace(options, jscc_checkpoint=checkpoints)
        return variant.scheme, options

    def scheme(self, label: str, channel: int = 0):
        """The scheme of the variant ``label`` for the run's ``channel``-th channel: one
        instance per deep JSCC training channel (AWGN's models, Rayleigh's), shared by all
        other channels; components (models) are shared by every variant."""
        from multisc.experiment.planning import jscc_family
        from multisc.schemes import build_scheme

        family = jscc_family(self.channels[channel])
        key = (label, family if self.jscc_checkpoints.get(family) else None)
        if key not in self._schemes:
            name, options = self.variant_options(label, channel)
            scheme = build_scheme(name, self.components.with_options(options))
            self._use_stages(scheme)
            self._schemes[key] = scheme
        return self._schemes[key]

    def _use_stages(self, scheme) -> None:
        """A semantic scheme (and the one its budget copies) keeps its prepare stages in
        the run's cache ([multisc.schemes.stages][multisc.schemes.stages])."""
        for item in (scheme, scheme.budget_reference()):
            use = getattr(item, "use_stages", None)
            if use is not None:
                use(self.cache.stage())

    def parts(self, label: str) -> dict[str, dict[str, str]]:
        """``{"parts": {option: entry}}``: the registered parts (segmenter, captioner,
        generator, IP-Adapter) the variant ``label`` was built from, for each row's details
        (its provenance beside the run's component records); ``{}`` for a scheme with none."""
        from multisc.schemes.catalog import get_spec
        from multisc.schemes.roles import ROLE_OPTIONS

        name, options = self.variant_options(label)
        scoped, reads = options.for_scheme(name), get_spec(name).options
        chosen = {option: getattr(scoped, option) for option in ROLE_OPTIONS if option in reads}
        return {"parts": chosen} if chosen else {}

    def prepare_key(self, label: str) -> tuple[str, str]:
        """(the registered scheme, the digest of the settings its prepare reads) of the
        variant ``label``: the prepare cache's key beside the image."""
        from multisc.experiment.prepare_cache import prepare_key

        name, options = self.variant_options(label)
        return name, prepare_key(name, options)

    def prepare_ahead(self, tasks: Sequence[Task]) -> dict[tuple[str, str], Ahead]:
        """Prepare, per semantic scheme, every image of ``tasks`` not in the cache in one
        batch (``SemanticScheme.prepare_many``: one segmentation pass, the captions of
        all blocks of all images in one ``generate``), and cache the results. A baseline
        whose budget is "same as multisc" gets multisc's prepares too (from the cache when
        there, so a resumed run does not caption again). Baselines prepare in
        ``process`` (nothing to batch).

        :returns: per (image_id, scheme) of ``tasks``: the prepared result, and the seconds
            its prepare took here (each image's share of the batch) or ``None`` if cached.
        """
        needed: dict[str, dict[str, Task]] = {}
        for task in tasks:
            scheme = self.scheme(task.scheme)
            reference = scheme.budget_reference()  # a budget "same as multisc" prepares it
            if scheme.batched_prepare:
                needed.setdefault(task.scheme, {}).setdefault(task.image_id, task)
            if reference is not None and reference.batched_prepare:
                needed.setdefault(reference.name, {}).setdefault(task.image_id, task)
        ahead: dict[tuple[str, str], Ahead] = {}
        # variants that differ only in what prepare does not read share one prepare: made
        # (or read from disk) once per batch, handed to each of them from memory
        shared: dict[tuple[str, str, str], Ahead] = {}
        for label, firsts in needed.items():
            scheme = self.scheme(label) if label in self.variants else None
            if scheme is None:  # a budget's reference: the scheme the budget holds
                scheme = next(
                    s.budget_reference()
                    for s in self._schemes.values()
                    if s.budget_reference() is not None and s.budget_reference().name == label
                )
            name, key = self.prepare_key(label)
            todo = []
            for task in firsts.values():
                known = shared.get((name, key, task.image_id))
                cached = (
                    known[0]
                    if known
                    else self.cache.get(name, task.image, key, scheme.cached_problem)
                )
                if cached is None:
                    todo.append(task)
                else:
                    scheme.remember(cached)
                    ahead[(task.image_id, label)] = (cached, None)
                    shared[(name, key, task.image_id)] = (cached, None)
            if not todo:
                continue
            started = time.perf_counter()
            prepared = scheme.prepare_many([t.image for t in todo])
            share = (time.perf_counter() - started) / len(todo)
            for task, item in zip(todo, prepared, strict=True):
                self.cache.put(name, task.image, item, task.image_id, share, key)
                ahead[(task.image_id, label)] = (item, share)
                shared[(name, key, task.image_id)] = (item, None)  # others: not re-timed
        return ahead

    def process_many(self, tasks: Sequence[Task]) -> list[TaskResult]:
        """``prepare_ahead`` for all of ``tasks``, then each task (a Ray actor's unit);
        a bad image fails alone (``prepare_isolated``, ``process_safely``)."""
        prepared, errors = self.prepare_isolated(tasks)
        return [self.process_safely(task, prepared, errors) for task in tasks]

    def prepare_isolated(
        self, tasks: Sequence[Task]
    ) -> tuple[dict[tuple[str, str], Ahead], dict[tuple[str, str], str]]:
        """``prepare_ahead`` of the batch; if it fails, image by image, so that one bad
        image fails alone.

        :returns: the prepared results, and the error per (image_id, scheme) of the
            images that failed.
        """
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
        """``process``, or a result carrying the error when the image cannot be done."""
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
        ``prepare_ahead`` returned, or the cache), then every missing (SNR, seed) pair."""
        scheme = self.scheme(task.scheme, task.channel)
        ahead = (prepared_ahead or {}).pop((task.image_id, task.scheme), None)
        name, key = self.prepare_key(task.scheme)
        if ahead is not None:
            prepared, prepare_seconds = ahead
        else:
            prepared = self.cache.get(name, task.image, key, scheme.cached_problem)
            prepare_seconds = None
        if prepared is None:
            started = time.perf_counter()
            prepared = scheme.prepare(task.image)
            prepare_seconds = time.perf_counter() - started
            self.cache.put(name, task.image, prepared, task.image_id, prepare_seconds, key)
        rows, pngs = [], {}
        variant = self.variants[task.scheme]
        channel = self.channels[task.channel]
        from multisc.experiment.variants import channel_settings

        settings = {**variant.as_dict(), **channel_settings(channel, self.config.vary)}
        parts = self.parts(task.scheme)
        reference = prepared.reference  # every Prepared has one (schemes.base.Prepared)
        prepare_timings = scheme.prepare_timings(prepared)
        for seed, snrs in sorted(task.todo.items()):
            specs = [self.channels[task.channel].spec(s) for s in snrs]
            generator = torch.Generator().manual_seed(task_seed(task.image_id, seed))
            results = scheme.transmit(prepared, specs, generator)
            started = time.perf_counter()
            scores = self.scorer.score_many(reference, results)  # all SNRs in one batch
            metric_s = (time.perf_counter() - started) / max(len(results), 1)
            for result, metrics in zip(results, scores, strict=True):
                timings = {**prepare_timings, **result.timings, "metrics": metric_s}
                path = image_path(
                    task.image_id, variant.slug, result.spec.snr_db, result.spec.label, seed
                )
                buffer = io.BytesIO()
                result.image.save(buffer, format="PNG")
                pngs[path] = buffer.getvalue()
                rows.append(
                    {
                        "image_id": task.image_id,
                        "scheme": task.scheme,
                        "settings": _jsonable(settings),
                        "snr_db": result.spec.snr_db,
                        "fading": result.spec.label,
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
                        "details": _jsonable({**_details(result), **parts}),
                        "image_path": path,
                    }
                )
        return TaskResult(task.image_id, task.scheme, rows, pngs, prepare_seconds)


def _details(result) -> dict[str, Any]:
    """The scheme's details, with ``channel_uses`` per link (``link_uses``) and, over NR,
    the pilot REs (DMRS) among them (``pilot_uses``)."""
    details = {**result.details, "link_uses": dict(result.link_uses)}
    if result.spec.nr is not None:
        details["pilot_uses"] = int(result.pilot_uses)
    return details


def _jsonable(details: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(details, default=str))


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__

"""Schemes by name, built from components loaded once and shared between schemes.

Loading lives here and in each component's ``from_pretrained`` (through
``multisc.models``); schemes only receive components.
"""

from __future__ import annotations

import dataclasses
from fractions import Fraction
from pathlib import Path
from typing import Any

import torch

from multisc.channel import DigitalLink
from multisc.codecs.jscc import load_checkpoint, parse_ratio
from multisc.devices import check_seed, resolve_device
from multisc.errors import InvalidInputError, ModelNotAvailableError
from multisc.schemes.base import Budget, MatchedBudget
from multisc.schemes.block_links import BlockLinks
from multisc.schemes.bpg_ldpc import BpgLdpcScheme
from multisc.schemes.builtin import SCHEMES
from multisc.schemes.catalog import get_spec
from multisc.schemes.deep_jscc import DeepJsccScheme
from multisc.schemes.options import DEFAULT_FAILURE_COLOR, SchemeOptions
from multisc.schemes.semantic import SemanticScheme
from multisc.schemes.slice_links import SLICE_LINK_REGISTRY

__all__ = [
    "DEFAULT_FAILURE_COLOR",
    "SCHEMES",
    "Components",
    "SchemeOptions",
    "build_scheme",
    "parse_budget",
    "seed_generator",
]

JsccCheckpoints = str | Path | list[str] | list[Path] | None


class Components:
    """Loads each pretrained component at most once, on first use."""

    def __init__(
        self,
        models_dir: str | Path | None = None,
        device=None,
        options: SchemeOptions | None = None,
    ) -> None:
        self.models_dir = models_dir
        self.device = resolve_device(device)
        self.options = options or SchemeOptions()
        self._cache: dict[str, Any] = {}

    def scoped(self, scheme: str) -> Components:
        """These components with ``scheme``'s options
        ([SchemeOptions.for_scheme][multisc.schemes.options.SchemeOptions.for_scheme]):
        the same loaded models wherever its settings agree (the cache is shared, keyed by
        the settings each component is built with)."""
        options = self.options.for_scheme(scheme)
        if options is self.options:
            return self
        view = Components.__new__(Components)
        view.__dict__.update(self.__dict__)
        view.options = options
        return view

    def with_options(self, options: SchemeOptions) -> Components:
        """These components (the same loaded models) under other ``options``: a variant's
        ([multisc.experiment.variants][multisc.experiment.variants])."""
        view = Components.__new__(Components)
        view.__dict__.update(self.__dict__)
        view.options = options
        return view

    def _get(self, key: str, build):
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]

    def part_key(self, role: str, name: str, **settings) -> str:
        """What a part's output depends on, as text: the entry, the weights it loads (each
        component's repo and pinned commit, or ``--models DIR``) and ``settings``: the key
        a prepare stage's results are kept under."""
        import json

        from multisc.models import REGISTRY
        from multisc.schemes.roles import part_needs

        ids = {
            component: [REGISTRY[component].repo_id, REGISTRY[component].revision]
            for component in part_needs(role, name)
            if component in REGISTRY
        }
        models = str(self.models_dir) if self.models_dir is not None else None
        record = {"role": role, "entry": name, "ids": ids, "models": models, **settings}
        return json.dumps(record, sort_keys=True, default=str)

    def segmenter(self):
        """The segmenter the options name (``segmenter``), at ``segment_size``."""
        from multisc.transmitter.segmenters import make_segmenter

        o = self.options
        return self._get(
            f"segmenter:{o.segmenter}:{o.segment_size}",
            lambda: make_segmenter(o.segmenter, self.models_dir, self.device, o.segment_size),
        )

    def captioner(self, name: str | None = None):
        """The captioner ``name`` (default: the options' ``captioner``), its captions
        bounded by ``caption_tokens``."""
        from multisc.transmitter.captioners import make_captioner

        o = self.options
        name = name or o.captioner
        return self._get(
            f"captioner:{name}:{o.caption_tokens}",
            lambda: make_captioner(name, self.models_dir, self.device, o.caption_tokens),
        )

    def corrector(self, name: str):
        from multisc.receiver.correctors import make_corrector

        return self._get(
            f"corrector:{name}", lambda: make_corrector(name, self.models_dir, self.device)
        )

    def generator(self, ip_adapter: bool):
        """The options' generator (``generator``) with their ``ip_scale``, ``steps``,
        ``guidance`` (``None``: the generator's own) and ``generation_size``; with the
        options' IP-Adapter when ``ip_adapter``. One pipeline per (generator, IP-Adapter),
        loaded once, serves every such setting, so a sweep over them never loads Stable
        Diffusion twice; text-only generation reuses a pipeline that carries an adapter
        (it adds exactly nothing at scale 0, from zero image embeddings)."""
        from multisc.receiver.generators import make_generator, sampling

        o = self.options
        adapter = o.ip_adapter if ip_adapter else self._loaded_adapter(o.generator)
        loaded = self._get(
            f"pipeline:{o.generator}:{adapter}",
            lambda: make_generator(o.generator, self.models_dir, self.device, adapter),
        )
        steps, guidance = sampling(o.generator, o.steps, o.guidance)
        settings = (o.ip_scale, steps, guidance, o.generation_size)
        return self._get(
            f"generator:{o.generator}:{adapter}:{settings}",
            lambda: loaded.with_settings(
                scale=o.ip_scale, steps=steps, guidance=guidance, size=o.generation_size
            ),
        )

    def _loaded_adapter(self, generator: str) -> str | None:
        """An IP-Adapter already loaded with ``generator``'s pipeline, or ``None``."""
        prefix = f"pipeline:{generator}:"
        for key in self._cache:
            if key.startswith(prefix) and key[len(prefix) :] != "None":
                return key[len(prefix) :]
        return None

    def selector(self):
        """The receiver's CLIP image-text scorer for choosing among candidates (the
        metrics' CLIP, component ``clip``)."""
        from multisc.receiver.selection import ClipTextImage

        return self._get("selector", lambda: ClipTextImage(self.device, self.models_dir))

    def jscc(self, checkpoint: JsccCheckpoints) -> list:
        """Deep JSCC models, highest ratio first: ``checkpoint`` (one directory or a list),
        or ``None`` for the shipped AWGN set
        ([multisc.codecs.jscc_shipped][multisc.codecs.jscc_shipped])."""
        from multisc.codecs.jscc_shipped import shipped

        if checkpoint is None:
            paths = shipped("awgn")
        elif isinstance(checkpoint, str | Path):
            paths = [Path(checkpoint)]
        else:
            paths = [Path(c) for c in checkpoint]
        if not paths:
            raise InvalidInputError(
                "deep JSCC needs a checkpoint: no shipped one was found (is multisc installed "
                "whole?); train one with `multisc jscc train` and pass --checkpoint DIR"
            )
        models = [
            self._get(f"jscc:{path}", lambda path=path: load_checkpoint(path, self.device))
            for path in paths
        ]
        return sorted(models, key=lambda m: -parse_ratio(m.config.ratio))

    def text_link(self) -> DigitalLink:
        o = self.options
        return self._get(
            f"text_link:{o.text_modulation}:{o.text_fec}:{o.text_code_rate}",
            lambda: DigitalLink(
                o.text_modulation, o.text_fec, o.text_code_rate, device=self.device
            ),
        )


def build_semantic(name: str, components: Components) -> SemanticScheme:
    """The semantic scheme ``name`` (multisc, single_text, vlm_csc) from ``components``."""
    o = components.options
    select = "text" if name == "vlm_csc" else o.select  # vlm_csc sends no slice
    selector = components.selector() if o.candidates > 1 and "text" in select else None
    if name == "vlm_csc":
        return SemanticScheme(
            name,
            components.captioner(o.vlm_captioner),
            components.corrector(o.vlm_corrector),
            components.generator(ip_adapter=False),
            components.text_link(),
            rows=1,
            cols=1,
            candidates=o.candidates,
            select=select,
            selector=selector,
            stage_keys=_stage_keys(components, o.vlm_captioner, 1, 1, segment=False),
        )
    slice_link = SLICE_LINK_REGISTRY.get(o.slice_link).build(components)
    rows, cols = (o.rows, o.cols) if name == "multisc" else (1, 1)
    return SemanticScheme(
        name,
        components.captioner(o.captioner),
        components.corrector(o.corrector),
        components.generator(ip_adapter=True),
        components.text_link(),
        segmenter=components.segmenter(),
        slice_link=slice_link,
        rows=rows,
        cols=cols,
        positions=o.positions,
        candidates=o.candidates,
        links=BlockLinks(o.link_snr_offsets_db, o.link_snr_spread_db, o.link_outage)
        if name == "multisc"
        else None,
        select=select,
        selector=selector,
        stage_keys=_stage_keys(components, o.captioner, rows, cols, segment=True),
    )


def _stage_keys(
    components: Components, captioner: str, rows: int, cols: int, segment: bool
) -> dict[str, str]:
    """What a semantic prepare's stages depend on
    ([multisc.schemes.stages][multisc.schemes.stages]): segmentation on the segmenter and
    its input size; captions on the captioner, its token bound and the block grid."""
    o = components.options
    keys = {
        "caption": components.part_key(
            "captioner", captioner, tokens=o.caption_tokens, grid=[rows, cols]
        )
    }
    if segment:
        keys["segment"] = components.part_key("segmenter", o.segmenter, size=o.segment_size)
    return keys


def build_multisc(components: Components) -> SemanticScheme:
    """Multi-SC: captions of ``rows`` x ``cols`` blocks and the slice."""
    return build_semantic("multisc", components)


def build_single_text(components: Components) -> SemanticScheme:
    """Single-text Multi-SC: one caption of the whole image and the slice."""
    return build_semantic("single_text", components)


def build_vlm_csc(components: Components) -> SemanticScheme:
    """VLM-CSC: one BLIP caption, text-only generation."""
    return build_semantic("vlm_csc", components)


def parse_budget(value: str | int | None, components: Components) -> Budget | None:
    if value is None:
        return None
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if text == "match":
        try:
            return components._get(
                "budget:match", lambda: MatchedBudget(build_scheme("multisc", components))
            )
        except ModelNotAvailableError as exc:
            raise ModelNotAvailableError(
                f"the budget 'same as multisc' needs multisc's models, which are missing "
                f"({str(exc).split(':')[0]}): pass a ratio instead (--ratio K/N), or get "
                "the weights with `multisc models pull`"
            ) from exc
    if "/" in text:
        return Fraction(parse_ratio(text))
    try:
        return int(text)
    except ValueError as exc:
        raise InvalidInputError(
            f"budget must be 'match', a ratio K/N or a number of channel uses, got {value!r}"
        ) from exc


def build_scheme(name: str, components: Components):
    """The scheme called ``name`` (any registered one: ``scheme_names``), its
    components loaded once. Semantic schemes are built once per
    [Components][multisc.schemes.registry.Components] and
    shared (so the budget "same as multisc" reuses the very multisc scheme, and its
    remembered prepares); others are built anew, from the options as they are now."""
    spec = get_spec(name)
    scoped = components.scoped(name)  # its own overrides: options: {name: {...}}
    if spec.semantic:  # one instance per distinct setting (variants of a sweep differ)
        return components._get(
            f"scheme:{name}:{_fingerprint(scoped.options, name)}", lambda: spec.builder()(scoped)
        )
    return spec.builder()(scoped)


def _fingerprint(options: SchemeOptions, scheme: str) -> str:
    """The options as ``scheme`` sees them, as text (other schemes' blocks left out)."""
    import json

    values = dataclasses.asdict(options)
    values["schemes"] = options.schemes.get(scheme, {})
    return json.dumps(values, sort_keys=True, default=str)


def build_bpg_ldpc(components: Components) -> BpgLdpcScheme:
    """BPG-LDPC at the options' budget and coding."""
    o = components.options
    budget = parse_budget(o.budget, components)
    if budget is None:
        raise InvalidInputError("bpg_ldpc needs a budget: --ratio K/N (or 'match')")
    return BpgLdpcScheme(
        budget, o.bpg_modulation, o.bpg_code_rate, o.bpg_mcs, o.failure_color,
        device=components.device,
    )  # fmt: skip


def build_deep_jscc(components: Components) -> DeepJsccScheme:
    """Deep JSCC: the checkpoint whose ratio fits the options' budget."""
    o = components.options
    return DeepJsccScheme(components.jscc(o.jscc_checkpoint), parse_budget(o.budget, components))


def seed_generator(seed: int) -> torch.Generator:
    """The generator a transmission starts from (CPU: the same numbers on every machine)."""
    return torch.Generator().manual_seed(check_seed(seed))

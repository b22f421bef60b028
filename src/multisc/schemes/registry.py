"""Schemes by name, built from components loaded once and shared between schemes.

Loading lives here and in each component's ``from_pretrained`` (through
:mod:`multisc.models`); schemes only receive components.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import torch

from multisc.channel import DigitalLink
from multisc.codecs.jscc import load_checkpoint, parse_ratio
from multisc.devices import check_seed, resolve_device
from multisc.errors import InvalidInputError, ModelNotAvailableError
from multisc.parts import PartSpec
from multisc.receiver.correction import CORRECTOR_REGISTRY
from multisc.schemes.base import DEFAULT_FAILURE_COLOR, Budget, MatchedBudget
from multisc.schemes.bpg_ldpc import BpgLdpcScheme
from multisc.schemes.deep_jscc import DeepJsccScheme
from multisc.schemes.semantic import SemanticScheme
from multisc.schemes.slices import SLICE_LINK_REGISTRY, AnalogSlice, HevcLdpcSlice, JsccSlice
from multisc.schemes.spec import SchemeSpec, get_spec, register_scheme

JsccCheckpoints = str | Path | list[str] | list[Path] | None


def _opt(default: Any, help: str, valid: Any = None) -> Any:
    """A :class:`SchemeOptions` field with its help text (``multisc schemes list``) and
    its check: ``valid(name, value)`` raises one :class:`InvalidInputError` naming the key,
    the value and what it may be; run when a config loads, before any work."""
    return field(default=default, metadata={"help": help, "valid": valid})


def _bad(name: str, value: Any, allowed: str) -> InvalidInputError:
    return InvalidInputError(f"option {name}: {value!r} is not {allowed}")


def _integer(lo: int, hi: int):
    def check(name: str, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise _bad(name, value, f"an integer in [{lo}, {hi}]")

    return check


def _number(lo: float, hi: float):
    def check(name: str, value: Any) -> None:
        import math

        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if not ok or not math.isfinite(value) or not lo <= value <= hi:
            raise _bad(name, value, f"a finite number in [{lo:g}, {hi:g}]")

    return check


def _one_of(choices):
    """``choices``: a tuple, or a function giving them (a registry, read when checked)."""

    def check(name: str, value: Any) -> None:
        names = tuple(choices() if callable(choices) else choices)
        if value not in names:
            raise _bad(name, value, f"one of {', '.join(map(str, names))}")

    return check


def _generation_size(name: str, value: Any) -> None:
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, int) or not 16 <= value <= 2048
        or value % 8
    ):  # fmt: skip
        raise _bad(name, value, "None or a multiple of 8 in [16, 2048] (pixels)")


def check_budget(name: str, value: Any) -> None:
    """A budget: ``match``, None, a count of channel uses >= 1, or a ratio K/N in (0, 1]."""
    if value is None or value == "match":
        return
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            raise _bad(name, value, "'match', None, a ratio K/N in (0, 1] or a count >= 1")
        return
    text = str(value).strip()
    try:
        if "/" in text:
            ratio = Fraction(parse_ratio(text))
            if not 0 < ratio <= 1:
                raise ValueError
        elif int(text) < 1:
            raise ValueError
    except (ValueError, ZeroDivisionError, InvalidInputError):
        raise _bad(name, value, "'match', None, a ratio K/N in (0, 1] or a count >= 1") from None


def _color(name: str, value: Any) -> None:
    if not isinstance(value, list | tuple) or len(value) != 3 or not all(
        isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 255 for v in value
    ):  # fmt: skip
        raise _bad(name, value, "an RGB triple of integers in [0, 255]")


def _checkpoints(name: str, value: Any) -> None:
    from multisc.codecs.jscc import check_checkpoint_dir

    for path in [] if value is None else [value] if isinstance(value, str) else value:
        check_checkpoint_dir(path, name)


def _modulations() -> tuple[str, ...]:
    from multisc.channel.digital import MODULATIONS

    return tuple(MODULATIONS)


@dataclass
class SchemeOptions:
    """Every setting of every scheme, with the paper's defaults.

    A run sets them for all schemes (``options: {steps: 20}``) or for one scheme alone
    (``options: {single_text: {text_modulation: qpsk}}``: :meth:`for_scheme`); each
    scheme's registration lists the ones it reads. Each field's help: ``multisc schemes
    list``.
    """

    rows: int = _opt(2, "multisc: rows of sub-images, one caption each (1-8)", _integer(1, 8))
    cols: int = _opt(2, "multisc: columns of sub-images (1-8)", _integer(1, 8))
    text_modulation: str = _opt(
        "bpsk", "text links: bpsk, qpsk, 16qam or 64qam", _one_of(_modulations)
    )
    text_fec: str = _opt(
        "none", "text links: none (bit errors misspell) or ldpc", _one_of(("none", "ldpc"))
    )
    text_code_rate: float = _opt(
        0.5, "text links: LDPC code rate in [1/5, 0.95]", _number(0.2, 0.95)
    )
    slice_link: str = _opt(
        "analog",
        "how the slice travels: a registered slice link",
        _one_of(lambda: SLICE_LINK_REGISTRY.names()),
    )
    slice_downsample: int = _opt(
        4, "slice: downsampling factor before it is sent (1-64)", _integer(1, 64)
    )
    slice_hevc_quality: int = _opt(30, "slice over hevc-ldpc: HEVC quality 0-100", _integer(0, 100))
    corrector: str = _opt(
        "bart",
        "multisc/single_text: a registered corrector",
        _one_of(lambda: CORRECTOR_REGISTRY.names()),
    )
    vlm_corrector: str = _opt(
        "none", "vlm_csc: a registered corrector", _one_of(lambda: CORRECTOR_REGISTRY.names())
    )
    positions: bool = _opt(
        False, "multisc: prefix each caption with its block's position", _one_of((False, True))
    )
    ip_scale: float = _opt(
        0.5, "IP-Adapter weight lambda between image and text prompts (0-4)", _number(0, 4)
    )
    steps: int = _opt(30, "diffusion steps (1-1000)", _integer(1, 1000))
    guidance: float = _opt(7.5, "classifier-free guidance scale (0-50)", _number(0, 50))
    generation_size: int | None = _opt(
        None,
        "generation resolution in pixels, a multiple of 8 in [16, 2048] (None: the "
        "generator's, 512 for SD 1.5)",
        _generation_size,
    )
    candidates: int = _opt(
        1,
        "semantic schemes: images drawn per transmission, the one that best agrees with "
        "what was received kept (1: the paper; 1-16)",
        _integer(1, 16),
    )
    select: str = _opt(
        "text",
        "how a candidate is chosen: text (CLIP image-text similarity with the fused "
        "received text), slice (similarity with the received slice in its region) or "
        "text+slice (their sum)",
        _one_of(("text", "slice", "text+slice")),
    )
    caption_tokens: int = _opt(60, "most new tokens per caption (1-1024)", _integer(1, 1024))
    segment_size: int = _opt(
        520, "segmentation input size (shorter side, pixels; 32-4096)", _integer(32, 4096)
    )
    budget: str | int | None = _opt(
        "match",
        "channel-use budget: 'match' (what multisc spends on the image), a ratio K/N of "
        "H·W·3 in (0, 1], a count, or None (deep JSCC at its own ratio)",
        check_budget,
    )
    bpg_modulation: str = _opt(
        "qpsk", "bpg_ldpc and the hevc-ldpc slice: QAM", _one_of(_modulations)
    )
    bpg_code_rate: float = _opt(
        0.5, "bpg_ldpc and the hevc-ldpc slice: LDPC code rate in [1/5, 0.95]", _number(0.2, 0.95)
    )
    bpg_mcs: str = _opt(
        "fixed",
        "bpg_ldpc: fixed, or auto (per SNR from measured thresholds)",
        _one_of(("fixed", "auto")),
    )
    jscc_checkpoint: str | list[str] | None = field(
        default=None,
        metadata={
            "help": "deep JSCC: a checkpoint directory, one per ratio, or None (shipped)",
            "valid": _checkpoints,
        },
    )
    failure_color: tuple[int, int, int] = _opt(
        DEFAULT_FAILURE_COLOR, "the image shown when decoding fails (RGB)", _color
    )
    schemes: dict[str, dict[str, Any]] = field(
        default_factory=dict,
        metadata={"help": "per scheme: overrides of the options above, and a plugin's settings"},
    )

    def __post_init__(self) -> None:
        # checked here, before any model runs: not after segmentation and captioning
        for option in dataclasses.fields(self):
            valid = option.metadata.get("valid")
            if valid is not None:
                valid(option.name, getattr(self, option.name))
        for name, values in self.schemes.items():
            spec = get_spec(name)  # unknown schemes and keys: one error
            spec.make_settings(values)
            overrides, _ = spec.split_values(values)
            if overrides:
                dataclasses.replace(self, **overrides, schemes={})  # values checked too

    def settings(self, scheme: str) -> Any:
        """The settings dataclass of ``scheme`` (its registration's), filled from
        :attr:`schemes`."""
        return get_spec(scheme).make_settings(self.schemes.get(scheme, {}))

    def for_scheme(self, scheme: str) -> SchemeOptions:
        """These options with ``scheme``'s own overrides (``options: {scheme: {...}}``)."""
        overrides, _ = get_spec(scheme).split_values(self.schemes.get(scheme, {}))
        return dataclasses.replace(self, **overrides) if overrides else self

    @staticmethod
    def help() -> dict[str, str]:
        """Each option's help text."""
        return {f.name: f.metadata.get("help", "") for f in dataclasses.fields(SchemeOptions)}


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
        """These components with ``scheme``'s options (:meth:`SchemeOptions.for_scheme`):
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
        (:mod:`multisc.experiment.variants`)."""
        view = Components.__new__(Components)
        view.__dict__.update(self.__dict__)
        view.options = options
        return view

    def _get(self, key: str, build):
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]

    def segmenter(self):
        from multisc.transmitter.segmentation import Segmenter

        return self._get(
            f"segmenter:{self.options.segment_size}",
            lambda: Segmenter.from_pretrained(
                self.models_dir, self.device, resize=self.options.segment_size
            ),
        )

    def llava(self):
        from multisc.transmitter.captioning import LlavaCaptioner

        return self._get(
            f"llava:{self.options.caption_tokens}",
            lambda: LlavaCaptioner.from_pretrained(
                self.models_dir, self.device, max_new_tokens=self.options.caption_tokens
            ),
        )

    def blip(self):
        from multisc.transmitter.captioning import BlipCaptioner

        return self._get(
            f"blip:{self.options.caption_tokens}",
            lambda: BlipCaptioner.from_pretrained(
                self.models_dir, self.device, max_new_tokens=self.options.caption_tokens
            ),
        )

    def corrector(self, name: str):
        from multisc.receiver.correction import make_corrector

        return self._get(
            f"corrector:{name}", lambda: make_corrector(name, self.models_dir, self.device)
        )

    def generator(self, ip_adapter: bool):
        """The image generator with these options' ``ip_scale``, ``steps``, ``guidance``
        and ``generation_size``: one pipeline (loaded once) serves every such setting, so
        a sweep over them never loads Stable Diffusion twice."""
        from multisc.receiver.generation import ImageGenerator

        o = self.options
        # One UNet serves both: text-only generation on the adapter-carrying pipeline adds
        # exactly nothing (scale 0, zero image embeddings), so once it is loaded, reuse it.
        with_adapter = ip_adapter or "generator:ip" in self._cache
        kind = "ip" if with_adapter else "text"
        loaded = self._get(
            f"generator:{kind}",
            lambda: ImageGenerator.from_pretrained(
                self.models_dir, self.device, ip_adapter=with_adapter
            ),
        )
        settings = (o.ip_scale, o.steps, o.guidance, o.generation_size)
        return self._get(
            f"generator:{kind}:{settings}",
            lambda: loaded.with_settings(
                scale=o.ip_scale, steps=o.steps, guidance=o.guidance, size=o.generation_size
            ),
        )

    def selector(self):
        """The receiver's CLIP image-text scorer for choosing among candidates (the
        metrics' CLIP, component ``clip``)."""
        from multisc.receiver.selection import ClipTextImage

        return self._get("selector", lambda: ClipTextImage(self.device, self.models_dir))

    def jscc(self, checkpoint: JsccCheckpoints) -> list:
        """Deep JSCC models, highest ratio first: ``checkpoint`` (one directory or a list),
        or ``None`` for the shipped AWGN set (:mod:`multisc.codecs.jscc_shipped`)."""
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


def _semantic(name: str, components: Components) -> SemanticScheme:
    o = components.options
    select = "text" if name == "vlm_csc" else o.select  # vlm_csc sends no slice
    selector = components.selector() if o.candidates > 1 and "text" in select else None
    if name == "vlm_csc":
        return SemanticScheme(
            name,
            components.blip(),
            components.corrector(o.vlm_corrector),
            components.generator(ip_adapter=False),
            components.text_link(),
            rows=1,
            cols=1,
            candidates=o.candidates,
            select=select,
            selector=selector,
        )
    slice_link = SLICE_LINK_REGISTRY.get(o.slice_link).build(components)
    rows, cols = (o.rows, o.cols) if name == "multisc" else (1, 1)
    return SemanticScheme(
        name,
        components.llava(),
        components.corrector(o.corrector),
        components.generator(ip_adapter=True),
        components.text_link(),
        segmenter=components.segmenter(),
        slice_link=slice_link,
        rows=rows,
        cols=cols,
        positions=o.positions,
        candidates=o.candidates,
        select=select,
        selector=selector,
    )


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
    """The scheme called ``name`` (any registered one: :func:`scheme_names`), its
    components loaded once. Semantic schemes are built once per :class:`Components` and
    shared (so the budget "same as multisc" reuses the very multisc scheme, and its
    remembered prepares); others are built anew, from the options as they are now."""
    spec = get_spec(name)
    scoped = components.scoped(name)  # its own overrides: options: {name: {...}}
    if spec.semantic:  # one instance per distinct setting (variants of a sweep differ)
        return components._get(
            f"scheme:{name}:{_fingerprint(scoped.options, name)}", lambda: spec.build(scoped)
        )
    return spec.build(scoped)


def _fingerprint(options: SchemeOptions, scheme: str) -> str:
    """The options as ``scheme`` sees them, as text (other schemes' blocks left out)."""
    import json

    values = dataclasses.asdict(options)
    values["schemes"] = options.schemes.get(scheme, {})
    return json.dumps(values, sort_keys=True, default=str)


def _bpg_ldpc(components: Components) -> BpgLdpcScheme:
    o = components.options
    budget = parse_budget(o.budget, components)
    if budget is None:
        raise InvalidInputError("bpg_ldpc needs a budget: --ratio K/N (or 'match')")
    return BpgLdpcScheme(
        budget, o.bpg_modulation, o.bpg_code_rate, o.bpg_mcs, o.failure_color,
        device=components.device,
    )  # fmt: skip


def _deep_jscc(components: Components) -> DeepJsccScheme:
    o = components.options
    return DeepJsccScheme(components.jscc(o.jscc_checkpoint), parse_budget(o.budget, components))


def _with_corrector(base: tuple[str, ...], corrector: str) -> tuple[str, ...]:
    return (*base, *CORRECTOR_REGISTRY.get(corrector).needs)


def _semantic_needs(base: tuple[str, ...], corrector: str, options, select: str | None = None):
    """A semantic scheme's components: ``base``, its corrector's, and CLIP when it
    chooses among candidates by text."""
    select = options.select if select is None else select
    clip = ("clip",) if options.candidates > 1 and "text" in select else ()
    return (*_with_corrector(base, corrector), *clip)


def _hevc_ldpc_slice(components: Components) -> HevcLdpcSlice:
    o = components.options
    link = DigitalLink(o.bpg_modulation, "ldpc", o.bpg_code_rate, device=components.device)
    return HevcLdpcSlice(link, o.slice_hevc_quality)


SLICE_LINK_REGISTRY.register(PartSpec(
    "analog",
    lambda c: AnalogSlice(c.options.slice_downsample),
    "the paper's: the slice downsampled (slice_downsample), sent as analog symbols",
))  # fmt: skip
SLICE_LINK_REGISTRY.register(PartSpec(
    "jscc",
    lambda c: JsccSlice(c.jscc(c.options.jscc_checkpoint)[0], c.options.slice_downsample),
    "the downsampled slice through deep JSCC (the highest-ratio checkpoint)",
))  # fmt: skip
SLICE_LINK_REGISTRY.register(PartSpec(
    "hevc-ldpc",
    _hevc_ldpc_slice,
    "HEVC intra (slice_hevc_quality) + 5G LDPC + QAM (bpg_modulation, bpg_code_rate); "
    "lost on any bit error",
))  # fmt: skip


TEXT_LINK = ("text_modulation", "text_fec", "text_code_rate")
GENERATION = ("steps", "guidance", "generation_size", "ip_scale", "candidates", "select")
SLICE = ("slice_link", "slice_downsample", "slice_hevc_quality", "jscc_checkpoint")
#: the hevc-ldpc slice link's coding (read when the slice is encoded)
SLICE_CODING = ("bpg_modulation", "bpg_code_rate")
SEMANTIC_NEEDS = ("segmenter", "captioner", "generator", "ip_adapter")

register_scheme(SchemeSpec(
    "multisc",
    lambda c: _semantic("multisc", c),
    "2x2 LLaVA captions, one digital link each, + the main-object slice (analog by "
    "default); BART correction, fusion, SD + IP-Adapter",
    needs=lambda o: _semantic_needs(SEMANTIC_NEEDS, o.corrector, o),
    options=("rows", "cols", *TEXT_LINK, *SLICE, "corrector", "positions", *GENERATION,
             "caption_tokens", "segment_size"),
    prepare_options=("rows", "cols", *SLICE, *SLICE_CODING, "caption_tokens", "segment_size"),
    semantic=True,
    order=10,
))  # fmt: skip
register_scheme(SchemeSpec(
    "single_text",
    lambda c: _semantic("single_text", c),
    "one LLaVA caption of the whole image + the slice; the same receiver",
    needs=lambda o: _semantic_needs(SEMANTIC_NEEDS, o.corrector, o),
    options=(*TEXT_LINK, *SLICE, "corrector", *GENERATION, "caption_tokens", "segment_size"),
    prepare_options=(*SLICE, *SLICE_CODING, "caption_tokens", "segment_size"),
    semantic=True,
    order=20,
))  # fmt: skip
register_scheme(SchemeSpec(
    "vlm_csc",
    lambda c: _semantic("vlm_csc", c),
    "one BLIP caption; text-only Stable Diffusion (no corrector by default)",
    needs=lambda o: _semantic_needs(("vlm_captioner", "generator"), o.vlm_corrector, o, "text"),
    options=(*TEXT_LINK, "vlm_corrector", "steps", "guidance", "generation_size",
             "candidates", "caption_tokens"),
    prepare_options=("caption_tokens",),
    semantic=True,
    order=30,
))  # fmt: skip
register_scheme(SchemeSpec(
    "bpg_ldpc",
    _bpg_ldpc,
    "HEVC intra (BPG's compact stream) at the highest quality that fits the budget, 5G "
    "LDPC, QAM; any bit error = failure image",
    options=("budget", "bpg_modulation", "bpg_code_rate", "bpg_mcs", "failure_color"),
    prepare_options=("budget", "bpg_modulation", "bpg_code_rate", "bpg_mcs"),
    order=40,
    budget=True,
))  # fmt: skip
register_scheme(SchemeSpec(
    "deep_jscc",
    _deep_jscc,
    "deep JSCC (Bourtsoulatze et al. 2019): the shipped checkpoint whose ratio fits the "
    "budget; its decoder",
    options=("budget", "jscc_checkpoint"),
    order=50,
    budget=True,
))  # fmt: skip

#: the built-in schemes (plugins add theirs: :func:`scheme_names`)
SCHEMES: tuple[str, ...] = ("multisc", "single_text", "vlm_csc", "bpg_ldpc", "deep_jscc")


def seed_generator(seed: int) -> torch.Generator:
    """The generator a transmission starts from (CPU: the same numbers on every machine)."""
    return torch.Generator().manual_seed(check_seed(seed))

"""Every setting of every scheme ([SchemeOptions][multisc.schemes.options.SchemeOptions]), each
checked when a config loads.

Light to import (no torch, no Sionna): ``multisc schemes list`` and config checks read it
without loading a model library.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from multisc.errors import InvalidInputError, did_you_mean, shown
from multisc.receiver.correctors import CORRECTOR_REGISTRY
from multisc.receiver.generators import DEFAULT_GENERATOR
from multisc.receiver.ip_adapters import DEFAULT_IP_ADAPTER
from multisc.schemes.catalog import get_spec
from multisc.schemes.roles import ROLE_OPTIONS, ROLES
from multisc.schemes.slice_links import SLICE_LINK_REGISTRY
from multisc.transmitter.captioners import DEFAULT_CAPTIONER, DEFAULT_VLM_CAPTIONER
from multisc.transmitter.segmenters import DEFAULT_SEGMENTER

#: Mean RGB colour of ImageNet (0.485, 0.456, 0.406): the failure image, a fixed prior, so
#: that a failed row's score never depends on which other images are in the run.
DEFAULT_FAILURE_COLOR = (124, 116, 104)


def _opt(default: Any, help: str, valid: Any = None) -> Any:
    """A [SchemeOptions][multisc.schemes.options.SchemeOptions] field with its help text (``multisc
    schemes list``) and
    its check: ``valid(name, value)`` raises one ``InvalidInputError`` naming the key,
    the value and what it may be; run when a config loads, before any work."""
    return field(default=default, metadata={"help": help, "valid": valid})


def _bad(name: str, value: Any, allowed: str) -> InvalidInputError:
    return InvalidInputError(f"option {name}: {shown(value)} is not {allowed}")


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
    """``choices``: a tuple, or a function giving them (a registry, read when checked); a
    close miss is named ("did you mean ...")."""

    def check(name: str, value: Any) -> None:
        names = tuple(choices() if callable(choices) else choices)
        if value not in names:
            hint = did_you_mean(value, names)
            raise InvalidInputError(
                f"option {name}: {value!r} is not one of {', '.join(map(str, names))}{hint}"
            )

    return check


def _part(role: str):
    """A registered entry of ``role`` (segmenter, captioner, generator, ip_adapter), or a
    name its registry resolves (a trained captioner's ``path:DIR``: its folder is checked)."""
    listed = _one_of(lambda: ROLES[role].names())

    def check(name: str, value: Any) -> None:
        registry = ROLES[role]
        if isinstance(value, str) and registry.resolve is not None and value.startswith("path:"):
            try:
                registry.get(value)
            except InvalidInputError as exc:
                raise InvalidInputError(f"option {name}: {exc}") from None
            return
        listed(name, value)

    return check


def _or_none(check):
    def optional(name: str, value: Any) -> None:
        if value is not None:
            check(name, value)

    return optional


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
    from multisc.codecs.jscc import parse_ratio

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
    if value is None:  # the shipped checkpoints
        return
    from multisc.codecs.jscc import check_checkpoint_dir

    for path in [value] if isinstance(value, (str, os.PathLike)) else value:
        check_checkpoint_dir(path, name)


#: the largest SNR offset or spread of a block link, in dB (here, light to import, for the
#: checks; [BlockLinks][multisc.schemes.block_links.BlockLinks] reads it)
MAX_OFFSET_DB = 60.0


def _offsets(name: str, value: Any) -> None:
    import math

    if value is None:
        return
    numbers = isinstance(value, list | tuple) and all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in value
    )
    if (
        not numbers
        or not 1 <= len(value) <= 64
        or not all(math.isfinite(v) and abs(v) <= MAX_OFFSET_DB for v in value)
    ):
        raise _bad(
            name, value, f"None or a list of 1-64 finite offsets in [-{MAX_OFFSET_DB:g}, "
            f"{MAX_OFFSET_DB:g}] dB, one per block"
        )  # fmt: skip


def _modulations() -> tuple[str, ...]:
    from multisc.channel.spec import MODULATIONS

    return tuple(MODULATIONS)


@dataclass
class SchemeOptions:
    """Every setting of every scheme, with the paper's defaults.

    A run sets them for all schemes (``options: {steps: 20}``) or for one scheme alone
    (``options: {single_text: {text_modulation: qpsk}}``: ``for_scheme``); each
    scheme's registration lists the ones it reads. Each field's help: ``multisc schemes
    list``.
    """

    rows: int = _opt(2, "multisc: rows of sub-images, one caption each (1-8)", _integer(1, 8))
    cols: int = _opt(2, "multisc: columns of sub-images (1-8)", _integer(1, 8))
    link_snr_offsets_db: tuple[float, ...] | None = _opt(
        None,
        "multisc: each block link's SNR offset in dB, row by row, one per block (e.g. "
        "[0, -3, -6, -9]); None: every link at the run's SNR",
        _offsets,
    )
    link_snr_spread_db: float = _opt(
        0.0,
        "multisc: a random offset per block link and transmission, uniform in "
        "[-spread, 0] dB (0-60), on top of the fixed offsets",
        _number(0, 60),
    )
    link_outage: float = _opt(
        0.0,
        "multisc: probability that a block link is in outage and its caption lost (0-0.99)",
        _number(0, 0.99),
    )
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
    segmenter: str = _opt(
        DEFAULT_SEGMENTER,
        "multisc/single_text: a registered segmenter (the main-object slice)",
        _part("segmenter"),
    )
    captioner: str = _opt(
        DEFAULT_CAPTIONER,
        "multisc/single_text: a registered captioner (one caption per block)",
        _part("captioner"),
    )
    vlm_captioner: str = _opt(
        DEFAULT_VLM_CAPTIONER, "vlm_csc: a registered captioner", _part("captioner")
    )
    generator: str = _opt(
        DEFAULT_GENERATOR,
        "the receiver's generator: a registered base model (with its few-step LoRA and "
        "scheduler, if any)",
        _part("generator"),
    )
    ip_adapter: str = _opt(
        DEFAULT_IP_ADAPTER,
        "multisc/single_text: a registered IP-Adapter (the slice as image prompt)",
        _part("ip_adapter"),
    )
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
    steps: int | None = _opt(
        None,
        "diffusion steps (1-1000); None: the generator's own (30 for sd15, 4 for sd15-lcm)",
        _or_none(_integer(1, 1000)),
    )
    guidance: float | None = _opt(
        None,
        "classifier-free guidance scale (0-50); None: the generator's own (7.5 for sd15, 1 "
        "for sd15-lcm)",
        _or_none(_number(0, 50)),
    )
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
                try:
                    valid(option.name, getattr(self, option.name))
                except InvalidInputError:
                    raise
                except (OverflowError, ValueError) as exc:  # an integer past float range
                    raise InvalidInputError(
                        f"option {option.name}: a number too large to use (past the range "
                        f"of a float): {shown(getattr(self, option.name))}"
                    ) from exc
        self._check_sampling()
        offsets = self.link_snr_offsets_db
        if offsets is not None and len(offsets) != self.rows * self.cols:
            raise InvalidInputError(
                f"option link_snr_offsets_db: {len(offsets)} offset(s) for {self.rows} x "
                f"{self.cols} = {self.rows * self.cols} block(s): give one per block"
            )
        for name, values in self.schemes.items():
            spec = get_spec(name)  # unknown schemes and keys: one error
            spec.make_settings(values)
            overrides, _ = spec.split_values(values)
            if overrides:
                dataclasses.replace(self, **overrides, schemes={})  # values checked too

    def _check_sampling(self) -> None:
        """A few-step generator samples only in its range of steps (LCM: 2-8)."""
        info = ROLES["generator"].get(self.generator).info
        low, high = info.get("steps_range", (1, 1000))
        if self.steps is not None and not low <= self.steps <= high:
            raise InvalidInputError(
                f"option steps: {self.steps} with generator {self.generator!r}, which samples "
                f"in {low}-{high} steps (its default: {info.get('steps')}); give steps in "
                f"{low}-{high}, or None"
            )

    def parts(self) -> dict[str, str]:
        """The registered entry each role option names (``{"captioner": ...}``)."""
        return {option: getattr(self, option) for option in ROLE_OPTIONS}

    def settings(self, scheme: str) -> Any:
        """The settings dataclass of ``scheme`` (its registration's), filled from
        ``schemes``."""
        return get_spec(scheme).make_settings(self.schemes.get(scheme, {}))

    def for_scheme(self, scheme: str) -> SchemeOptions:
        """These options with ``scheme``'s own overrides (``options: {scheme: {...}}``)."""
        overrides, _ = get_spec(scheme).split_values(self.schemes.get(scheme, {}))
        return dataclasses.replace(self, **overrides) if overrides else self

    @staticmethod
    def help() -> dict[str, str]:
        """Each option's help text."""
        return {f.name: f.metadata.get("help", "") for f in dataclasses.fields(SchemeOptions)}

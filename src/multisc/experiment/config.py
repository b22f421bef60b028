"""The experiment config: a YAML file validated with pydantic; CLI flags override it.

Unknown keys are errors that name the key, so a typo never silently falls back to a
default. The resolved config is written to the run directory.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import typing
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from multisc.errors import InvalidInputError
from multisc.schemes.builtin import SCHEMES
from multisc.schemes.options import SchemeOptions

PAPER_SNRS = [0.0, 3.0, 6.0, 9.0, 12.0, 15.0, 18.0]


def _numeric(annotation: Any) -> bool:
    """Whether a field's type holds a number (int or float, in a list, tuple, dict or
    union): where a YAML ``true`` must never pass as 1."""
    if annotation in (int, float):
        return True
    return any(_numeric(arg) for arg in typing.get_args(annotation) if arg is not bool)


def _bools(value: Any) -> bool:
    if isinstance(value, bool):
        return True
    if isinstance(value, list | tuple):
        return any(_bools(v) for v in value)
    if isinstance(value, dict):
        return any(_bools(v) for v in value.values())
    return False


def _no_bool_numbers(cls, value: Any) -> Any:
    """A YAML ``true``/``false`` given where a number goes is refused (pydantic would read
    it as 1 or 0: ``steps: true`` would run one step), naming the key."""
    if not isinstance(value, dict):
        return value
    for name, field in cls.model_fields.items():
        given = value.get(name, value.get(field.alias) if field.alias else None)
        if name in value and _numeric(field.annotation) and _bools(given):
            shown = json.dumps(given, default=str)
            raise ValueError(f"{name}: {shown} is not a number (true and false never are)")
    return value


class _Settings(BaseModel):
    """A block of a run config: unknown keys refused, booleans never read as numbers."""

    model_config = ConfigDict(extra="forbid")
    _no_bools = model_validator(mode="before")(_no_bool_numbers)


def _options_model() -> type[BaseModel]:
    """A pydantic model mirroring [SchemeOptions][multisc.schemes.options.SchemeOptions] (same
    fields, same defaults)."""
    hints = typing.get_type_hints(SchemeOptions)
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(SchemeOptions):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        fields[f.name] = (hints[f.name], default)
    model = create_model(
        "SchemeOptionsConfig",
        __config__=ConfigDict(extra="forbid"),
        __validators__={
            "_nest": model_validator(mode="before")(_nest_scheme_settings),
            "_no_bools": model_validator(mode="before")(_no_bool_numbers),
        },
        **fields,
    )
    return model


def _nest_scheme_settings(cls, value: Any) -> Any:
    """``options: {img2img_sc: {strength: 0.6}}``: a key naming a scheme is that scheme's
    settings (moved under ``schemes``); every other key is a
    [SchemeOptions][multisc.schemes.options.SchemeOptions] field."""
    if not isinstance(value, dict):
        return value
    from multisc.schemes.spec import scheme_names

    names = set(scheme_names())
    nested = {k: v for k, v in value.items() if k in names}
    if not nested:
        return value
    rest = {k: v for k, v in value.items() if k not in names}
    return {**rest, "schemes": {**rest.get("schemes", {}), **nested}}


OptionsConfig = _options_model()


class JsccConfig(_Settings):
    """deep JSCC: checkpoints (one directory, or one per ratio); else the shipped ones for
    ``ratio`` (default: every shipped ratio, 1/6 ... 1/48) and ``train_snr_db`` (shipped:
    ``"0:20"``, a range); a setting no shipped checkpoint covers (e.g. the paper's single
    training SNR, ``19``) is trained on first use for ``steps`` steps and cached."""

    model_config = ConfigDict(extra="forbid")
    checkpoint: str | list[str] | None = None
    ratio: str | None = None
    train_snr_db: float | str = "0:20"
    #: bounded: training runs on first use, before any row (the shipped ones took 8000)
    steps: int = Field(2000, ge=1, le=100_000)

    @field_validator("checkpoint")
    @classmethod
    def _checkpoint(cls, value: str | list[str] | None) -> str | list[str] | None:
        from multisc.codecs.jscc import check_checkpoint_dir

        for path in [] if value is None else [value] if isinstance(value, str) else value:
            check_checkpoint_dir(path)
        return value

    @field_validator("ratio")
    @classmethod
    def _ratio(cls, value: str | None) -> str | None:
        if value is not None:
            from multisc.codecs.jscc import channels_for_ratio, parse_ratio

            channels_for_ratio(parse_ratio(value))
        return value

    @field_validator("train_snr_db")
    @classmethod
    def _train_snr(cls, value: float | str) -> float | str:
        from multisc.codecs.jscc import parse_train_snr

        parse_train_snr(value)
        return value


MAX_COHERENCE = 1_000_000
#: NR settings: set on another model, they would be silently ignored
_NR_ONLY = (
    "delay_spread_ns", "speed_kmh", "carrier_ghz", "prbs", "scs_khz", "csi", "mcs", "mcs_table",
    "dmrs_additional_positions",
)  # fmt: skip


class ChannelConfig(_Settings):
    """One channel of a run: ``awgn``, ``rayleigh`` (``coherence`` symbols per fading
    coefficient) or ``nr``, a 5G NR link
    ([multisc.channel.nr_config.NRConfig][multisc.channel.nr_config.NRConfig]): fading
    ``profile`` (``none``, ``TDL-A`` ... ``TDL-E``, ``CDL-A`` ... ``CDL-E``; ``tdl: A`` is
    short for ``profile: TDL-A``), numerology, CSI and ``mcs`` (an index, or ``auto``)."""

    model_config = ConfigDict(extra="forbid")
    model: Literal["awgn", "rayleigh", "nr"] = "awgn"
    #: symbols per fading coefficient: bounded (a coefficient per 1e12 symbols is no fading
    #: model, and 3e9 of them exhausted memory)
    coherence: int = Field(1, ge=1, le=MAX_COHERENCE)
    profile: str | None = None
    tdl: str | None = None
    cdl: str | None = None
    delay_spread_ns: float = 100.0
    speed_kmh: float = 3.0
    carrier_ghz: float = 3.5
    prbs: int = 16
    scs_khz: int = 30
    csi: Literal["estimated", "perfect"] = "estimated"
    mcs: int | Literal["auto"] = "auto"
    mcs_table: int = 1
    dmrs_additional_positions: int = 1

    @model_validator(mode="after")
    def _valid(self) -> ChannelConfig:
        given = [k for k in ("profile", "tdl", "cdl") if getattr(self, k) is not None]
        if len(given) > 1:
            raise ValueError(f"give one of profile, tdl and cdl, not {' and '.join(given)}")
        if self.model == "nr":
            nr = self.nr()  # NRConfig validates ranges with errors that name the value
            if nr.mcs is not None:  # a fixed MCS: one Sionna can code on this grid?
                from multisc.channel.nr_mcs import nr_link

                nr_link(nr)
            return self
        changed = [*given, *(k for k in _NR_ONLY if k in self.model_fields_set)]
        if changed:
            raise ValueError(f"{changed[0]} applies to model: nr only (model is {self.model})")
        if self.model == "awgn" and "coherence" in self.model_fields_set and self.coherence > 1:
            raise ValueError("coherence applies to model: rayleigh only (model is awgn)")
        return self

    def nr(self):
        """The [NRConfig][multisc.channel.nr_config.NRConfig] of an ``nr`` channel, else
        ``None``."""
        if self.model != "nr":
            return None
        from multisc.channel.nr_config import NRConfig

        if self.tdl is not None:
            profile = "none" if self.tdl.lower() == "none" else f"TDL-{self.tdl.upper()}"
        elif self.cdl is not None:
            profile = f"CDL-{self.cdl.upper()}"
        else:
            profile = self.profile or "TDL-A"
        return NRConfig(
            profile=profile,
            delay_spread_ns=self.delay_spread_ns,
            speed_kmh=self.speed_kmh,
            carrier_ghz=self.carrier_ghz,
            prbs=self.prbs,
            scs_khz=self.scs_khz,
            csi=self.csi,
            mcs=None if self.mcs == "auto" else self.mcs,
            mcs_table=self.mcs_table,
            dmrs_additional_positions=self.dmrs_additional_positions,
        )

    def spec(self, snr_db: float):
        """The [ChannelSpec][multisc.channel.spec.ChannelSpec] of this channel at ``snr_db``."""
        from multisc.channel import ChannelSpec

        return ChannelSpec(snr_db, fading=self.model, coherence=self.coherence, nr=self.nr())

    @property
    def label(self) -> str:
        """The channel's name in the store and the report (``ChannelSpec.label``)."""
        return self.spec(0.0).label


#: scheme options added after run directories existed, with their defaults: left out of a
#: config's identity when at the default, so older run directories resume
LATER_OPTIONS: dict[str, Any] = {"candidates": 1, "select": "text"}

#: bounds on a run's lists: enough for any sweep, not for a typo that would run for ever
MAX_SNRS = 1000
#: the SNRs a run may ask for, in dB: far beyond any link's waterfall on both sides
SNR_RANGE_DB = (-50.0, 100.0)


class StatisticsConfig(_Settings):
    """How the report's paired statistics are computed (it changes no row of the store):
    the bootstrap ``interval`` (``percentile`` or ``bca``) and the multiple-comparison
    correction ``p_adjust`` applied to all p-values of a report together (``holm``:
    family-wise error; ``bh``: Benjamini-Hochberg false discovery rate)."""

    model_config = ConfigDict(extra="forbid")
    interval: Literal["percentile", "bca"] = "percentile"
    p_adjust: Literal["holm", "bh"] = "holm"


class RunConfig(_Settings):
    """Everything a sweep needs. Defaults: the paper's experiment on the bundled photos."""

    model_config = ConfigDict(extra="forbid")
    images: str = "samples"
    split: str = "val"
    limit: int | None = Field(None, ge=1)
    schemes: list[str] = Field(default_factory=lambda: list(SCHEMES))
    snr_db: list[float] = Field(default_factory=lambda: list(PAPER_SNRS))
    #: the channel, or several (each SNR of each is run): see
    #: [ChannelConfig][multisc.experiment.config.ChannelConfig]
    channel: ChannelConfig | list[ChannelConfig] | None = None
    #: shorthand kept for older configs: ``fading: rayleigh`` = ``channel: {model: rayleigh}``
    fading: Literal["awgn", "rayleigh"] | None = None
    coherence: int | None = Field(None, ge=1, le=MAX_COHERENCE)
    seeds: int = Field(1, ge=1, le=1000)
    models: str | None = None
    device: str = "auto"
    #: the run directory; default: ``runs/<config file's stem>``, else named from the
    #: settings that differ from the defaults ([default_out][multisc.experiment.config.default_out])
    out: str | None = None
    executor: Literal["local", "ray"] = "local"
    ray_address: str | None = None
    #: images whose prepares (segmentation, captions) run as one batch; a speed setting
    #: (batched and one-by-one prepares give the same results)
    prepare_batch: int = Field(4, ge=1)
    #: download missing components (with network); without network they are skipped
    download: bool = True
    #: prepare every (image, scheme) again instead of reading the run's prepare cache
    #: (``--fresh-cache``: for a run directory whose cache someone else may have written)
    fresh_cache: bool = False
    #: CPU threads (torch, OpenMP, BLAS; Ray workers too); None: every core, or
    #: ``MULTISC_THREADS``. Fewer on a machine another job shares (a speed setting)
    threads: int | None = Field(None, ge=1, le=1024)
    budget_fallback: str = "1/24"
    options: OptionsConfig = Field(default_factory=OptionsConfig)  # type: ignore[valid-type]
    jscc: JsccConfig = Field(default_factory=JsccConfig)
    #: settings to sweep beside the SNR: setting -> values (several: their product); see
    #: [multisc.experiment.variants][multisc.experiment.variants]
    vary: dict[str, Any] = Field(default_factory=dict)
    #: the scheme (or variant label) the report's paired statistics compare against
    #: (default: the first variant of the first scheme)
    compare_to: str | None = None
    #: the report's bootstrap interval and p-value correction (see StatisticsConfig)
    statistics: StatisticsConfig = Field(default_factory=StatisticsConfig)

    @field_validator("schemes")
    @classmethod
    def _known_schemes(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("the scheme list is empty")
        from multisc.schemes.spec import scheme_names

        names = scheme_names()
        unknown = [name for name in value if name not in names]
        if unknown:
            import difflib

            close = difflib.get_close_matches(unknown[0], names, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ValueError(
                f"unknown scheme {unknown[0]!r}{hint} (choose from {', '.join(names)})"
            )
        return list(dict.fromkeys(value))

    @field_validator("models")
    @classmethod
    def _models_folder_exists(cls, value: str | None) -> str | None:
        if value is not None and not Path(value).is_dir():
            what = "is not a folder" if Path(value).exists() else "does not exist"
            raise ValueError(
                f"the models folder {value} {what}: give the folder `multisc models "
                "make-tiny`, `make-random` or `export` wrote, or leave --models out"
            )
        return value

    @field_validator("images")
    @classmethod
    def _a_source(cls, value: str) -> str:
        if not value.strip():  # '' would be the working directory: never what was meant
            raise ValueError(
                "the image source is empty: give samples, kodak24:DIR, voc2012:DIR, a folder "
                "or a glob"
            )
        return value

    @field_validator("snr_db")
    @classmethod
    def _finite_snrs(cls, value: list[float]) -> list[float]:
        if not value:
            raise ValueError("the SNR list is empty: give at least one SNR in dB")
        if len(value) > MAX_SNRS:
            raise ValueError(f"{len(value)} SNRs: at most {MAX_SNRS} in one run")
        bad = [v for v in value if not math.isfinite(v)]
        if bad:
            raise ValueError(f"SNRs must be finite numbers of dB, got {bad[0]}")
        low, high = SNR_RANGE_DB
        out = [v for v in value if not low <= v <= high]
        if out:
            raise ValueError(f"SNR {out[0]:g} dB is outside [{low:g}, {high:g}] dB")
        return sorted(dict.fromkeys(float(v) for v in value))

    @field_validator("snr_db", mode="before")
    @classmethod
    def _no_booleans(cls, value: Any) -> Any:
        if isinstance(value, list) and any(isinstance(v, bool) for v in value):
            raise ValueError(f"SNRs are numbers of dB, not {value!r}")
        return value

    @field_validator("channel")
    @classmethod
    def _some_channel(cls, value: Any) -> Any:
        if isinstance(value, list) and not value:
            raise ValueError("the channel list is empty: give at least one channel")
        return value

    @field_validator("device")
    @classmethod
    def _device(cls, value: str) -> str:
        import re

        if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", value):
            raise ValueError(f"device {value!r} is not auto, cpu, cuda or cuda:N")
        return value

    @field_validator("budget_fallback")
    @classmethod
    def _fallback(cls, value: str) -> str:
        from multisc.schemes.options import check_budget

        if value in ("match",) or value is None:
            raise ValueError(f"budget_fallback {value!r} must be a ratio K/N or a count")
        check_budget("budget_fallback", value)
        return value

    @field_validator("ray_address")
    @classmethod
    def _ray_address(cls, value: str | None) -> str | None:
        import re

        if value is not None and not re.fullmatch(
            r"auto|local|ray://[\w.\-]+:\d+|[\w.\-]+:\d+", value
        ):
            raise ValueError(f"ray address {value!r} is not auto, host:port or ray://host:port")
        return value

    @model_validator(mode="after")
    def _one_channel_setting(self) -> RunConfig:
        if self.channel is not None and (self.fading is not None or self.coherence is not None):
            raise ValueError(
                "give the channel once: in `channel:` (e.g. channel: {model: rayleigh, "
                "coherence: 4}), not also with the older `fading`/`coherence` keys"
            )
        labels = [c.label for c in self.channels()]
        if len(set(labels)) < len(labels):
            raise ValueError(f"the channel list names one channel twice: {labels}")
        return self

    def channels(self) -> list[ChannelConfig]:
        """The run's channels (the older ``fading``/``coherence`` keys read as one), each
        once per combination of the varied channel settings (``vary: {mcs: [5, 10]}``)."""
        from multisc.experiment.variants import expand_channels

        if self.channel is None:
            base = [ChannelConfig(model=self.fading or "awgn", coherence=self.coherence or 1)]
        else:
            base = list(self.channel) if isinstance(self.channel, list) else [self.channel]
        return expand_channels(base, self.vary)

    @model_validator(mode="after")
    def _default_out(self) -> RunConfig:
        if self.out is None:
            self.out = default_out(self)
        return self

    @model_validator(mode="after")
    def _valid_vary(self) -> RunConfig:
        from multisc.experiment.variants import check_variants, check_vary, run_variants

        check_vary(self.vary, self.schemes, self.scheme_options())
        check_variants(self)  # counted before any is made; labels that fit a folder name
        labels = [v.label for v in run_variants(self)]
        if self.compare_to is not None and self.compare_to not in [*labels, *self.schemes]:
            raise ValueError(
                f"compare_to {self.compare_to!r} is not a scheme or variant of this run: "
                f"choose from {', '.join(labels)}"
            )
        return self

    @model_validator(mode="after")
    def _valid_scheme_options(self) -> RunConfig:
        self.scheme_options()  # per-scheme settings: unknown schemes and keys are errors
        return self

    def scheme_options(self) -> SchemeOptions:
        return SchemeOptions(**self.options.model_dump())  # type: ignore[attr-defined]

    def identity(self) -> dict[str, Any]:
        """What decides the numbers: everything but where and how it runs."""
        identity = self.model_dump(
            exclude={
                "out", "executor", "ray_address", "device", "prepare_batch", "download",
                "compare_to", "threads", "statistics", "fresh_cache",
            }
        )  # fmt: skip
        # settings added later hash as before when left at their defaults (runs resume)
        if not identity["vary"]:
            identity.pop("vary")
        for key, default in LATER_OPTIONS.items():
            if identity["options"].get(key) == default:
                identity["options"].pop(key)
        # a config without `channel:` hashes as before the key existed (its runs resume)
        identity.pop("channel")
        if self.channel is None:
            identity.update(fading=self.fading or "awgn", coherence=self.coherence or 1)
        else:
            identity.pop("fading"), identity.pop("coherence")
            identity["channels"] = [c.model_dump() for c in self.channels()]
        return identity

    def digest(self) -> str:
        """A short hash of ``identity``: a run directory belongs to one digest."""
        text = json.dumps(self.identity(), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(), sort_keys=False)


#: the run directory of the default experiment (the paper's, on the bundled photos)
DEFAULT_OUT = "runs/paper-samples"


def default_out(config: RunConfig) -> str:
    """Where a config without ``out`` writes: ``runs/paper-samples`` for the defaults, else
    ``runs/<the settings that differ from the defaults>-<digest>`` (e.g.
    ``runs/models-1f2e3d4c``), so two different experiments never share a folder."""
    base = RunConfig(out=DEFAULT_OUT).identity()
    mine = config.identity()
    changed = [key for key in mine if mine.get(key) != base.get(key)]
    changed += [key for key in base if key not in mine and key not in changed]
    if not changed:
        return DEFAULT_OUT
    name = "-".join(sorted(changed))[:48].rstrip("-_")
    return f"runs/{name}-{config.digest()[:8]}"


def _closest(parts: list[str]) -> str:
    """ "; did you mean 'snr_db'?" for a mistyped key (the keys of the block it is in)."""
    import difflib

    blocks = {"options": OptionsConfig, "channel": ChannelConfig, "jscc": JsccConfig}
    model = blocks.get(parts[0], RunConfig) if len(parts) > 1 else RunConfig
    known = [name for name in model.model_fields if name != "schemes" or model is RunConfig]
    if model is OptionsConfig:  # a block under options: names a scheme
        from multisc.schemes.spec import scheme_names

        known += list(scheme_names())
    match = difflib.get_close_matches(parts[-1], known, n=1, cutoff=0.6) if parts else []
    if not match and parts and model is RunConfig:  # "snrs" -> snr_db: by prefix too
        match = [name for name in known if name.startswith(parts[-1][:3])][:1]
    return f"; did you mean {match[0]!r}?" if match else ""


#: the flag of `multisc run` that sets each config key, where it is not ``--key-name``
_FLAGS = {"snr_db": "--snr", "ray_address": "--address", "download": "--no-download",
          "channel": "the channel flags"}  # fmt: skip


def _flag(key: str) -> str:
    return _FLAGS.get(key, "--" + key.replace("_", "-"))


#: pydantic errors whose message says what may be, not what was given
_BOUNDED = (
    "greater_than", "greater_than_equal", "less_than", "less_than_equal", "literal_error",
    "int_parsing", "float_parsing", "int_from_float", "string_type", "int_type", "float_type",
)  # fmt: skip


def _explain(exc: ValidationError, where: str, flags: set[str] | None = None) -> InvalidInputError:
    """One line for every problem pydantic found; a key set by a command-line flag is
    named by its flag (``--schemes: unknown scheme 'multisk' ...``)."""
    flags = flags or set()
    lines: list[str] = []
    errors = exc.errors()
    # a union (one channel or a list of them) reports "not a list" beside the real error
    shape = ("list_type", "model_type", "dict_type", "model_attributes_type")
    if any(e["type"] not in shape for e in errors):
        errors = [e for e in errors if e["type"] not in shape]
    for error in errors:
        # pydantic names the branches of a union (``function-after[...]``, ``list[...]``):
        # the key is what a user wrote
        parts = [
            str(part)
            for part in error["loc"]
            if not str(part).startswith(("function-", "list[", "tagged-union["))
        ]
        location = ".".join(parts)
        if parts and parts[0] == "channel" and "channel" in flags and len(parts) > 1:
            location = _flag(parts[-1])  # --coherence, --csi: the flag that set it
        elif parts and parts[0] in flags:
            location = ".".join([_flag(parts[0]), *parts[1:]])
        message = error["msg"].removeprefix("Value error, ")
        given = error.get("input")
        if error["type"] in _BOUNDED and not isinstance(given, dict | list):
            message = f"{message} (got {given!r})"  # what was given, beside what may be
        if error["type"] == "extra_forbidden":
            line = f"unknown key {location or '(top level)'!r}" + _closest(parts)
        elif not location or message.startswith(location):
            line = message  # the message names its key already (options: "option steps: ...")
        else:
            line = f"{location}: {message}"
        if line not in lines:
            lines.append(line)
    return InvalidInputError(f"invalid config {where}: " + "; ".join(lines))


#: values a config may hold once YAML's aliases are expanded (a "billion laughs" document
#: is a few lines that expand to 9^10 leaves: refused before anything walks it)
MAX_CONFIG_VALUES = 100_000


def _expands_beyond(value: Any, limit: int) -> bool:
    """Whether ``value``, with every alias counted each time it is used, holds more than
    ``limit`` values (walked without expanding it; stops at the limit)."""
    seen = 0
    stack = [value]
    while stack:
        item = stack.pop()
        seen += 1
        if seen > limit:
            return True
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return False


def load_config(path: str | Path | None = None, **overrides: Any) -> RunConfig:
    """The config from ``path`` (YAML; ``None``: the defaults), with ``overrides`` (CLI flags,
    ``None`` values ignored) applied on top."""
    raw: dict[str, Any] = {}
    where = "(defaults)"
    if path is not None:
        path = Path(path)
        where = str(path)
        if not path.is_file():
            raise InvalidInputError(f"config file {path} does not exist")
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except UnicodeDecodeError as exc:
            raise InvalidInputError(
                f"{path} is not UTF-8 text (byte {exc.start}): save the config as UTF-8 YAML"
            ) from exc
        except yaml.YAMLError as exc:
            raise InvalidInputError(f"{path} is not valid YAML: {exc}") from exc
        except RecursionError:
            raise InvalidInputError(f"{path} is nested too deeply to be a config") from None
        if not isinstance(loaded, dict):
            raise InvalidInputError(
                f"{path} must hold a mapping of settings, not {type(loaded).__name__}"
            )
        if _expands_beyond(loaded, MAX_CONFIG_VALUES):
            raise InvalidInputError(
                f"{path} expands to more than {MAX_CONFIG_VALUES:,} values (YAML anchors and "
                "aliases nested in one another, anywhere in it, vary: included): a config "
                "is a few hundred values; write it out"
            )
        raw.update(loaded)
        raw.setdefault("out", f"runs/{path.stem}")  # each config file its own folder
    flags = {key for key, value in overrides.items() if value is not None}
    from_file = dict(raw)
    raw.update({key: value for key, value in overrides.items() if value is not None})
    if flags:
        where = "(command-line flags)" if path is None else f"{where} with the command-line flags"
    try:
        config = RunConfig(**raw)
    except ValidationError as exc:
        raise _explain(exc, where, flags) from exc
    if path is not None and flags - {"out"} and "out" not in flags:
        config = _own_folder(config, from_file, path)
    return config


def _own_folder(config: RunConfig, from_file: dict[str, Any], path: Path) -> RunConfig:
    """A config file run with flags that change its experiment (``--limit 1 --snr 0,12``)
    writes to its own folder, ``runs/<stem>-<changed settings>-<digest>``: the config's own
    folder keeps the config's experiment, so the full run is never refused there."""
    try:
        mine = RunConfig(**from_file).identity()
    except ValidationError:  # the file alone is not a whole config: the flags complete it
        return config
    theirs = config.identity()
    changed = sorted(k for k in {*mine, *theirs} if mine.get(k) != theirs.get(k))
    if not changed:  # --device, --threads, --executor ...: the same experiment, its folder
        return config
    name = "-".join(changed)[:40].rstrip("-_")
    return config.model_copy(update={"out": f"runs/{path.stem}-{name}-{config.digest()[:8]}"})

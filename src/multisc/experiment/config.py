"""The experiment config: a YAML file validated with pydantic; CLI flags override it.

Unknown keys are errors that name the key, so a typo never silently falls back to a
default. The resolved config is written to the run directory.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import ConfigDict, Field, ValidationError, field_validator, model_validator

from multisc.errors import InvalidInputError, did_you_mean
from multisc.experiment.config_errors import _explain
from multisc.experiment.settings import (
    LATER_OPTIONS,
    MAX_COHERENCE,
    MAX_SNRS,
    PAPER_SNRS,
    SNR_RANGE_DB,
    ChannelConfig,
    JsccConfig,
    OptionsConfig,
    StatisticsConfig,
    _Settings,
)
from multisc.metric_names import table_metric_names
from multisc.schemes.builtin import SCHEMES
from multisc.schemes.options import SchemeOptions


class RunConfig(_Settings):
    """Everything a sweep needs. Defaults: the paper's experiment on the bundled photos."""

    model_config = ConfigDict(extra="forbid")
    #: one line saying what the run is: the report's tables are captioned with it
    description: str | None = Field(None, max_length=300)
    images: str = "samples"
    split: str = "val"
    limit: int | None = Field(None, ge=1)
    schemes: list[str] = Field(default_factory=lambda: list(SCHEMES))
    snr_db: list[float] = Field(default_factory=lambda: list(PAPER_SNRS))
    #: the channel, or several (each SNR of each is run): see
    #: [ChannelConfig][multisc.experiment.settings.ChannelConfig]
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
    #: the metrics ``summary.tex`` and ``summary.md`` have a table (column) for, in this
    #: order (default: every metric the run has); the figures keep every metric
    table_metrics: list[str] | None = None

    @field_validator("schemes")
    @classmethod
    def _known_schemes(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("the scheme list is empty")
        from multisc.schemes.catalog import scheme_names

        names = scheme_names()
        unknown = [name for name in value if name not in names]
        if unknown:
            hint = did_you_mean(unknown[0], names)
            raise ValueError(
                f"unknown scheme {unknown[0]!r}{hint} (choose from {', '.join(names)})"
            )
        return list(dict.fromkeys(value))

    @field_validator("table_metrics")
    @classmethod
    def _known_table_metrics(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else table_metric_names(value)

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
                "description", "table_metrics",  # the report's words and tables only
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
        return _short_hash(self.identity())

    def digests(self) -> tuple[str, ...]:
        """``digest``, then the one multisc 0.1.0 of 2026-12-05 gave the same experiment (its
        identity held ``description``): a run directory started under either resumes."""
        return self.digest(), _short_hash({**self.identity(), "description": self.description})

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(), sort_keys=False)


def _short_hash(identity: dict[str, Any]) -> str:
    text = json.dumps(identity, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


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
        raise _explain(exc, where, RunConfig, flags) from exc
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

"""The blocks of a run config (``jscc:``, ``channel:``, ``options:``, ``statistics:``),
each a pydantic model that refuses unknown keys and never reads a YAML boolean as a
number; [RunConfig][multisc.experiment.config.RunConfig] holds them."""

from __future__ import annotations

import dataclasses
import json
import typing
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    create_model,
    field_validator,
    model_validator,
)

from multisc.schemes.options import SchemeOptions

#: the SNRs of the paper's sweeps, in dB
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
    from multisc.schemes.catalog import scheme_names

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
LATER_OPTIONS: dict[str, Any] = {
    "candidates": 1,
    "select": "text",
    "link_snr_offsets_db": None,
    "link_snr_spread_db": 0.0,
    "link_outage": 0.0,
}

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

"""An NR link's settings ([NRConfig][multisc.channel.nr_config.NRConfig]: numerology, DMRS,
carrier, fading profile, CSI, MCS) and their bounds, checked when made. Light to import (no
torch, no Sionna): a channel's spec and a run's config name an NR link without loading the
PUSCH chain ([multisc.channel.nr][multisc.channel.nr] runs it)."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from multisc.errors import InvalidInputError, choices_error

#: channel profiles: no fading (a flat OFDM link), 3GPP TR 38.901 TDL-A..E and CDL-A..E
TDL_MODELS = ("A", "B", "C", "D", "E")
PROFILES: tuple[str, ...] = (
    "none",
    *(f"TDL-{m}" for m in TDL_MODELS),
    *(f"CDL-{m}" for m in TDL_MODELS),
)
CSI_MODES = ("estimated", "perfect")
#: subcarrier spacings (kHz) NR defines for PUSCH data (TS 38.211 Table 4.2-1, mu 0..3)
SCS_KHZ = (15, 30, 60, 120)
#: MCS tables (TS 38.214 Tables 5.1.3.1-1 and -2) and their highest data index
MCS_TABLES = {1: 28, 2: 27}
MAX_PRBS = 275
#: TR 38.901 Table 7.7.3-1 scales TDL/CDL delay profiles from 10 ns to 1000 ns
DELAY_SPREAD_NS = (10.0, 1000.0)
#: TR 38.901 covers UE speeds up to 500 km/h (high-speed train)
SPEED_KMH = (0.0, 500.0)
#: TR 38.901's channel models are valid from 0.5 to 100 GHz
CARRIER_GHZ = (0.5, 100.0)


def parse_profile(value: str) -> str:
    """``"A"`` or ``"tdl-a"`` -> ``"TDL-A"``, ``"cdl-c"`` -> ``"CDL-C"``, ``"none"``."""
    text = str(value).strip()
    if text.lower() in ("none", "flat", "awgn"):
        return "none"
    upper = text.upper()
    if upper in TDL_MODELS:
        upper = f"TDL-{upper}"
    if upper not in PROFILES:
        raise choices_error("NR channel profile", value, PROFILES)
    return upper


def _in_range(name: str, value: float, bounds: tuple[float, float], unit: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{name} must be a number of {unit}, got {value!r}") from exc
    low, high = bounds
    if not (math.isfinite(number) and low <= number <= high):
        raise InvalidInputError(
            f"{name} must lie in [{low:g}, {high:g}] {unit} (TR 38.901), got {value!r}"
        )
    return number


@dataclass(frozen=True)
class NRConfig:
    """An NR link: numerology, DMRS, carrier, fading profile, CSI and MCS.

    :param profile: ``"none"`` (flat, no fading), ``"TDL-A"`` ... ``"TDL-E"`` or
        ``"CDL-A"`` ... ``"CDL-E"`` (TR 38.901; ``"A"`` means ``"TDL-A"``).
    :param delay_spread_ns: RMS delay spread the profile is scaled to (10-1000 ns).
    :param speed_kmh: UE speed (0-500 km/h), which sets the Doppler spread.
    :param carrier_ghz: carrier frequency (0.5-100 GHz).
    :param prbs: physical resource blocks (12 subcarriers each, 1-275).
    :param scs_khz: subcarrier spacing, 15/30/60/120 kHz.
    :param csi: ``"estimated"`` (LS on the DMRS + interpolation) or ``"perfect"``.
    :param mcs: MCS index of ``mcs_table`` for digital links, or ``None``: chosen per
        SNR from BLER thresholds measured on this channel (``mcs: auto``).
    :param mcs_table: 1 (up to 64-QAM) or 2 (up to 256-QAM), TS 38.214.
    :param dmrs_additional_positions: extra DMRS symbols per slot (0-3).
    """

    profile: str = "TDL-A"
    delay_spread_ns: float = 100.0
    speed_kmh: float = 3.0
    carrier_ghz: float = 3.5
    prbs: int = 16
    scs_khz: int = 30
    csi: str = "estimated"
    mcs: int | None = None
    mcs_table: int = 1
    dmrs_additional_positions: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "profile", parse_profile(self.profile))
        set_ = object.__setattr__
        set_(self, "delay_spread_ns", _in_range("delay spread", self.delay_spread_ns,
                                                DELAY_SPREAD_NS, "ns"))  # fmt: skip
        set_(self, "speed_kmh", _in_range("UE speed", self.speed_kmh, SPEED_KMH, "km/h"))
        set_(self, "carrier_ghz", _in_range("carrier", self.carrier_ghz, CARRIER_GHZ, "GHz"))
        if not isinstance(self.prbs, int) or isinstance(self.prbs, bool):
            raise InvalidInputError(f"PRBs must be a whole number, got {self.prbs!r}")
        if not 1 <= self.prbs <= MAX_PRBS:
            raise InvalidInputError(f"PRBs must lie in [1, {MAX_PRBS}], got {self.prbs}")
        if self.scs_khz not in SCS_KHZ:
            raise choices_error("subcarrier spacing (kHz)", self.scs_khz, SCS_KHZ)
        if self.csi not in CSI_MODES:
            raise choices_error("CSI", self.csi, CSI_MODES)
        if self.mcs_table not in MCS_TABLES:
            raise choices_error("MCS table", self.mcs_table, tuple(MCS_TABLES))
        if self.mcs is not None:
            top = MCS_TABLES[self.mcs_table]
            if (
                isinstance(self.mcs, bool)
                or not isinstance(self.mcs, int)
                or not 0 <= self.mcs <= top
            ):
                raise InvalidInputError(
                    f"MCS index must be a whole number in [0, {top}] (MCS table "
                    f"{self.mcs_table}, TS 38.214) or 'auto', got {self.mcs!r}"
                )
        if self.dmrs_additional_positions not in (0, 1, 2, 3):
            raise choices_error("DMRS additional positions", self.dmrs_additional_positions,
                                (0, 1, 2, 3))  # fmt: skip

    @property
    def fades(self) -> bool:
        return self.profile != "none"

    @property
    def label(self) -> str:
        """A short name of the channel (also its key in stores and caches), MCS included."""
        mcs = "auto" if self.mcs is None else str(self.mcs)
        parts = ["nr", self.profile]
        if self.fades:
            parts += [f"{self.delay_spread_ns:g}ns", f"{self.speed_kmh:g}kmh"]
        parts += [
            f"{self.carrier_ghz:g}GHz",
            f"{self.prbs}prb",
            f"{self.scs_khz}kHz",
            "est" if self.csi == "estimated" else "perfect",
            f"mcs{mcs}" + (f"t{self.mcs_table}" if self.mcs_table != 1 else ""),
        ]
        if self.dmrs_additional_positions != 1:
            parts.append(f"dmrs{self.dmrs_additional_positions}")
        return "-".join(parts)

    def with_mcs(self, mcs: int) -> NRConfig:
        return replace(self, mcs=mcs)

"""The deep JSCC checkpoints that ship with multisc: no training on first use.

One per bandwidth ratio (``SHIPPED_RATIOS``) and channel (AWGN, Rayleigh fast fading),
each trained over 0-20 dB (an SNR drawn per step, so one model serves the whole sweep) on
the bundled training photos (``multisc.data.sources.TRAINING_PHOTOS``) by
``benchmarks/jscc_checkpoints.py``, which also wrote the numbers each reaches into its
``config.json`` (``"training"``). A budget picks the checkpoint whose ratio fits (see
[multisc.schemes.deep_jscc.DeepJsccScheme][multisc.schemes.deep_jscc.DeepJsccScheme]).
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

from multisc.codecs.jscc import JSCCConfig, parse_ratio, read_config

SHIPPED_DIR = Path(__file__).parent / "jscc_checkpoints"
SHIPPED_RATIOS: tuple[str, ...] = ("1/6", "1/12", "1/24", "1/48")
SHIPPED_TRAIN_SNR = (0.0, 20.0)


def directory_name(config: JSCCConfig) -> str:
    """``ratio1_24-awgn-0_20dB``: where a shipped checkpoint of ``config`` lives."""
    snr = config.train_snr_db
    snr_part = f"{snr[0]:g}_{snr[1]:g}" if isinstance(snr, tuple) else f"{snr:g}"
    return f"ratio{config.ratio.replace('/', '_')}-{config.fading}-{snr_part}dB"


def shipped_configs() -> list[JSCCConfig]:
    """What ``SHIPPED_DIR`` is meant to hold, highest ratio first."""
    return [
        JSCCConfig(ratio, SHIPPED_TRAIN_SNR, fading)
        for fading in ("awgn", "rayleigh")
        for ratio in SHIPPED_RATIOS
    ]


def shipped(
    fading: str = "awgn",
    train_snr_db: float | tuple[float, float] = SHIPPED_TRAIN_SNR,
    ratios: tuple[str, ...] | None = None,
) -> list[Path]:
    """The shipped checkpoints for ``fading`` and ``train_snr_db`` (and ``ratios``, default
    all), highest ratio first; empty when none matches (then train one)."""
    found = []
    wanted = None if ratios is None else {parse_ratio(r) for r in ratios}
    for config in shipped_configs():
        directory = SHIPPED_DIR / directory_name(config)
        if (
            config.fading == fading
            and config.train_snr_db == train_snr_db
            and (wanted is None or parse_ratio(config.ratio) in wanted)
            and (directory / "model.safetensors").is_file()
        ):
            found.append(directory)
    return sorted(found, key=lambda d: -Fraction(parse_ratio(read_config(d).ratio)))

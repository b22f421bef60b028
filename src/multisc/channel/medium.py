"""The propagation medium: AWGN and Rayleigh block fading on complex symbols.

Noise and fading are drawn with Sionna's ``complex_normal``
from an explicit ``torch.Generator``; Sionna's own ``AWGN`` and
``RayleighBlockFading`` blocks draw from Sionna's global generator, which would break
our rule that all randomness comes from the caller's generator.
"""

from __future__ import annotations

import math

import torch
from sionna.phy.utils import complex_normal

from multisc.channel.spec import ChannelSpec


def draw_normal(
    shape: tuple[int, ...], var: float, generator: torch.Generator, device: torch.device
) -> torch.Tensor:
    """Circularly symmetric complex Gaussian samples of total variance ``var``.

    Drawn on the generator's device (so a seed means the same numbers on that device)
    and moved to ``device``.

    :output: ``shape``, ``torch.complex64``.
    """
    samples = complex_normal(shape, var, generator=generator, device=generator.device)
    return samples.to(device, non_blocking=True)


def fading_coefficients(
    shape: tuple[int, ...], spec: ChannelSpec, generator: torch.Generator, device: torch.device
) -> torch.Tensor | None:
    """Fading coefficients for symbols of ``shape`` (last axis = time), or ``None`` for AWGN.

    Rayleigh: i.i.d. CN(0, 1), one coefficient per ``spec.coherence`` consecutive symbols
    of the last axis.

    :output h: ``shape``, ``torch.complex64``.
    """
    if spec.fading == "awgn":
        return None
    *lead, n = shape
    blocks = math.ceil(n / spec.coherence) if n else 0
    h = draw_normal((*lead, blocks), 1.0, generator, device)
    return h.repeat_interleave(spec.coherence, dim=-1)[..., :n]


def propagate(
    x: torch.Tensor, spec: ChannelSpec, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Send unit-power complex symbols through the medium: ``y = h * x + n``.

    :input x: ``[..., n]``, ``torch.complex64``: symbols, unit average power.
    :output y: ``[..., n]``, ``torch.complex64``: received symbols.
    :output h: ``[..., n]`` fading coefficients (perfect CSI), or ``None`` for AWGN.
    """
    h = fading_coefficients(tuple(x.shape), spec, generator, x.device)
    faded = x if h is None else h * x
    noise = draw_normal(tuple(x.shape), spec.noise_variance, generator, x.device)
    return faded + noise, h

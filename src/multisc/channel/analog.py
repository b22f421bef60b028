"""Analog link: a real tensor sent as power-normalised complex symbols (no coding)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from multisc.channel.medium import propagate
from multisc.channel.spec import ChannelSpec


@dataclass(frozen=True)
class AnalogTransmission:
    """Result of [AnalogLink.send][multisc.channel.analog.AnalogLink.send].

    :ivar received: same shape as the input, ``torch.float32``: the de-normalised
        noisy tensor.
    :ivar power: ``[batch]``: average power per complex symbol of each item before
        normalisation (the scale sent as side information).
    :ivar channel_uses: complex symbols per item: ``ceil(numel / 2)``, plus 1 for the
        power factor when the link normalises. Over NR: the resource elements of the
        slots the symbols fill (DMRS included), plus 1 for the power factor.
    :ivar pilot_uses: of ``channel_uses``, the DMRS REs (NR; 0 otherwise).
    """

    received: torch.Tensor
    power: torch.Tensor
    channel_uses: int
    pilot_uses: int = 0


class AnalogLink:
    """Send real tensors as complex symbols, one item (e.g. one image) at a time normalised.

    Consecutive pairs of reals form one complex symbol (an odd count is zero-padded).
    Each item is scaled to unit average power per complex symbol; its power factor ``P``
    travels as side information in one extra channel use, assumed received exactly
    (a 32-bit scalar against thousands of symbols). The receiver scales back by ``sqrt(P)``,
    so over AWGN the output error per real element has variance ``P * N0 / 2``.

    With Rayleigh fading the receiver applies the per-symbol LMMSE equaliser
    ``conj(h) y / (|h|^2 + N0)`` (perfect CSI): zero forcing would have unbounded mean
    error in deep fades, which no analog receiver would accept.

    Over an NR channel (``ChannelSpec(fading="nr")``) the symbols fill the data resource
    elements of PUSCH slots, with DMRS, channel estimation (or perfect CSI) and LMMSE
    equalisation
    ([multisc.channel.nr.NRLink.send_symbols][multisc.channel.nr.NRLink.send_symbols]); no coding.

    With ``normalize=False`` the caller guarantees unit average power per item (deep JSCC
    normalises inside its encoder): nothing is scaled and no side information is sent.

    The link is differentiable (noise and fading are drawn without gradients), so learned
    codecs train with the channel inside the graph.

    Examples:

    ```pycon
    >>> import torch
    >>> from multisc.channel import AnalogLink, ChannelSpec
    >>> x = torch.rand(2, 3, 8, 8)
    >>> out = AnalogLink().send(x, ChannelSpec(20.0), torch.Generator().manual_seed(0))
    >>> out.received.shape, out.channel_uses
    (torch.Size([2, 3, 8, 8]), 97)

    ```
    """

    def __init__(self, normalize: bool = True) -> None:
        self.normalize = normalize

    def send(
        self, x: torch.Tensor, spec: ChannelSpec, generator: torch.Generator
    ) -> AnalogTransmission:
        """Send a batch of real tensors.

        :input x: ``[batch, ...]`` real tensor (e.g. ``[batch, 3, H, W]`` images); every item
            is normalised on its own.
        :input spec: the channel condition.
        :input generator: source of all randomness.
        :output: [AnalogTransmission][multisc.channel.analog.AnalogTransmission].
        """
        if x.dim() == 0:
            x = x.reshape(1, 1)
        batch = x.shape[0]
        flat = x.reshape(batch, -1).to(torch.float32)
        numel = flat.shape[1]
        if numel == 0:
            return AnalogTransmission(x.to(torch.float32).clone(), torch.zeros(batch), 0)
        symbols_count = math.ceil(numel / 2)
        if numel % 2:
            flat = torch.nn.functional.pad(flat, (0, 1))
        s = torch.view_as_complex(flat.reshape(batch, symbols_count, 2).contiguous())
        power = (s.real**2 + s.imag**2).mean(dim=-1)
        if self.normalize:
            scale = power.clamp_min(1e-20).sqrt().unsqueeze(-1)
            s = s / scale
        uses, pilot_uses = symbols_count, 0
        if spec.nr is not None:
            from multisc.channel import nr_mcs

            link = nr_mcs.grid_link(spec.nr, str(s.device))  # data REs, uncoded
            y = link.send_symbols(s, spec.snr_db, generator)
            uses, pilot_uses = link.analog_channel_uses(symbols_count)
        else:
            y, h = propagate(s, spec, generator)
            if h is not None:
                y = h.conj() * y / (h.real**2 + h.imag**2 + spec.noise_variance)
        if self.normalize:
            y = y * scale
        received = torch.view_as_real(y).reshape(batch, -1)[:, :numel]
        side_info = 1 if self.normalize else 0
        return AnalogTransmission(received.reshape(x.shape), power, uses + side_info, pilot_uses)

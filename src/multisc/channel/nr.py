"""5G NR link (Sionna): PUSCH slots on an OFDM resource grid over 3GPP fading channels.

**Digital payloads** go through Sionna's PUSCH chain (3GPP TS 38.211/212/214): the payload
is cut into transport blocks (TBs) of the size TS 38.214 gives for the MCS index and the
grid, one TB per slot (the last one zero-padded); each TB gets its CRC, is LDPC-coded and
rate-matched, mapped to QAM and placed on the grid around the DMRS. The receiver estimates
the channel from the DMRS (least squares, linear interpolation) or is given the true one
(``csi="perfect"``), detects with LMMSE, decodes and checks the CRC. The message gets
exactly the bits the decoder produced: where a TB's CRC failed, its (wrong) decoded bits
are delivered as they are, and the block is counted as failed.

**Analog symbols** (the paper's noisy slice, deep JSCC) fill the data resource elements
(REs) of the same grid, uncoded, with the same DMRS, estimation and LMMSE equalisation.

**Channel uses** are resource elements: every RE of every slot spent, DMRS included
(``channel_uses``), of which ``pilot_uses`` carry DMRS (or are left empty beside it).

**SNR** keeps the one definition of [ChannelSpec][multisc.channel.spec.ChannelSpec]: Es/N0 per
resource element, with unit average energy per RE (data and DMRS REs alike) and unit
average channel gain. Each slot (each TB) sees its own channel realisation; the fading
within a slot follows the profile's delay spread and the UE speed (Doppler).

Sionna's channel models draw from Sionna's global generator; ours draw from the caller's
``torch.Generator`` (``_CallerRandomness``), so a seed fixes every realisation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch
from sionna.phy.channel import GenerateOFDMChannel
from sionna.phy.channel.tr38901 import CDL, TDL, PanelArray
from sionna.phy.mimo import StreamManagement
from sionna.phy.nr import PUSCHConfig, PUSCHLSChannelEstimator, PUSCHReceiver, PUSCHTransmitter
from sionna.phy.nr.utils import decode_mcs_index
from sionna.phy.ofdm import LMMSEEqualizer, ResourceGridMapper

from multisc.channel.medium import draw_normal
from multisc.channel.nr_config import (  # noqa: F401  (the settings live there)
    CARRIER_GHZ,
    CSI_MODES,
    DELAY_SPREAD_NS,
    MAX_PRBS,
    MCS_TABLES,
    SCS_KHZ,
    SPEED_KMH,
    TDL_MODELS,
    NRConfig,
    parse_profile,
)
from multisc.errors import InvalidInputError


def mcs_parameters(index: int, table: int = 1) -> tuple[int, float]:
    """(bits per QAM symbol, target code rate) of an MCS index (TS 38.214)."""
    if not 0 <= index <= MCS_TABLES.get(table, -1):
        raise InvalidInputError(
            f"MCS index must lie in [0, {MCS_TABLES.get(table, 28)}] for table {table}, "
            f"got {index!r}"
        )
    order, rate = decode_mcs_index(index, table_index=table, is_pusch=True, device="cpu")
    return int(order), float(rate)


class _CallerRandomness:
    """Makes a Sionna block draw from ``self.generator`` instead of Sionna's global one."""

    generator: torch.Generator | None = None

    @property
    def torch_rng(self) -> torch.Generator:  # overrides sionna.phy.object.Object.torch_rng
        assert self.generator is not None, "set .generator before drawing"
        return self.generator


class _TDL(_CallerRandomness, TDL):
    pass


class _CDL(_CallerRandomness, CDL):
    pass


@dataclass(frozen=True)
class NRTransmission:
    """Bits through an NR link ([NRLink.send_bits][multisc.channel.nr.NRLink.send_bits]).

    :ivar bits: ``[batch, n_bits]`` float 0/1: the decoded bits, wrong ones included.
    :ivar tb_failed: ``[batch, slots]`` bool: transport blocks whose CRC failed.
    :ivar slots: transport blocks (= slots) per message.
    :ivar channel_uses: REs per message, DMRS included.
    :ivar pilot_uses: of those, DMRS REs (and the empty REs of the DMRS symbols).
    """

    bits: torch.Tensor
    tb_failed: torch.Tensor
    slots: int
    channel_uses: int
    pilot_uses: int


class NRLink:
    """One NR link at one MCS: builds the Sionna PUSCH blocks once and sends batches.

    Examples:

    ```pycon
    >>> import torch
    >>> link = NRLink(NRConfig("none", prbs=4, mcs=5), device="cpu")
    >>> link.tb_size, link.res_per_slot, link.pilot_res_per_slot
    (432, 672, 96)

    ```

    :param config: the link; ``config.mcs`` must be an index here (``auto`` is resolved by
        the caller, [multisc.channel.nr_mcs.resolve][multisc.channel.nr_mcs.resolve]).
    :param device: where the PUSCH chain runs; the channel is drawn on the generator's
        device and moved here.
    """

    def __init__(self, config: NRConfig, device: str | torch.device = "cpu") -> None:
        if config.mcs is None:
            raise InvalidInputError("NRLink needs an MCS index; resolve mcs='auto' first")
        from multisc.devices import resolve_device

        self.config = config
        self.device = resolve_device(device)
        pusch = PUSCHConfig()
        pusch.carrier.subcarrier_spacing = config.scs_khz
        pusch.carrier.n_size_grid = config.prbs
        pusch.n_size_bwp = config.prbs
        pusch.dmrs.additional_position = config.dmrs_additional_positions
        pusch.tb.mcs_table = config.mcs_table
        pusch.tb.mcs_index = config.mcs
        try:
            tb_size = int(pusch.tb_size)
            self.transmitter = PUSCHTransmitter(pusch, return_bits=False, device=str(self.device))
        except (ValueError, AssertionError) as exc:
            raise InvalidInputError(
                f"{config.prbs} PRB(s) at MCS {config.mcs} (table {config.mcs_table}) give no "
                f"transport block Sionna's 5G LDPC can code ({exc}; it has no repetition "
                "coding, so code rates below 1/5, or 1/3 for base graph 1, are out): choose "
                "another MCS index or PRB count"
            ) from exc
        if tb_size < 24:  # TS 38.214's smallest TB size
            raise InvalidInputError(
                f"{config.prbs} PRB(s) at MCS {config.mcs} carry a {tb_size}-bit transport "
                "block, below the 24 bits TS 38.214 allows; use more PRBs"
            )
        self.pusch = pusch
        self.tb_size = tb_size
        self.bits_per_symbol, self.code_rate = mcs_parameters(config.mcs, config.mcs_table)
        grid = self.transmitter.resource_grid
        self.resource_grid = grid
        self.data_res_per_slot = int(grid.num_data_symbols)
        self.res_per_slot = int(grid.num_ofdm_symbols * grid.num_effective_subcarriers)
        self.pilot_res_per_slot = self.res_per_slot - self.data_res_per_slot

    # -- the channel ------------------------------------------------------------------

    def _model(self, device: torch.device):
        c = self.config
        family, letter = c.profile.split("-")
        speed = c.speed_kmh / 3.6
        common = dict(
            delay_spread=c.delay_spread_ns * 1e-9,
            carrier_frequency=c.carrier_ghz * 1e9,
            min_speed=speed,
            max_speed=speed,
            device=str(device),
        )
        if family == "TDL":
            return _TDL(letter, **common)
        array = PanelArray(
            num_rows_per_panel=1,
            num_cols_per_panel=1,
            polarization="single",
            polarization_type="V",
            antenna_pattern="omni",
            carrier_frequency=c.carrier_ghz * 1e9,
            device=str(device),
        )
        return _CDL(letter, ut_array=array, bs_array=array, direction="uplink", **common)

    @cached_property
    def _channels(self) -> dict[str, tuple[object, GenerateOFDMChannel]]:
        return {}

    def frequency_response(self, slots: int, generator: torch.Generator) -> torch.Tensor | None:
        """The channel of ``slots`` slots, one realisation each, or ``None`` (no fading).

        :output h: ``[slots, num_ofdm_symbols, fft_size]``, complex64, on the link's device;
            unit average gain over realisations (not normalised per slot).
        """
        if not self.config.fades:
            return None
        from multisc.devices import resolve_device

        where = resolve_device(generator.device)  # "cuda" -> "cuda:0", as Sionna needs
        key = str(where)
        if key not in self._channels:
            model = self._model(where)
            self._channels[key] = (
                model,
                GenerateOFDMChannel(
                    model, self.resource_grid, normalize_channel=False, device=str(where)
                ),
            )
        model, generate = self._channels[key]
        model.generator = generator  # type: ignore[attr-defined]
        h = generate(slots)  # [slots, rx, rx_ant, tx, tx_ant, symbols, fft]
        return h[:, 0, 0, 0, 0].to(self.device, torch.complex64)

    def propagate(
        self, x: torch.Tensor, snr_db: float, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor | None, float]:
        """``y = h * x + n`` per RE. :input x: ``[slots, symbols, fft]`` complex grid.
        :output: ``y`` like ``x``, ``h`` (``None``: no fading), ``N0``."""
        no = 10.0 ** (-snr_db / 10.0)
        h = self.frequency_response(x.shape[0], generator)
        faded = x if h is None else h * x
        return faded + draw_normal(tuple(x.shape), no, generator, x.device), h, no

    @staticmethod
    def _full_h(h: torch.Tensor | None, shape: tuple[int, ...]) -> torch.Tensor:
        """The 7-D channel Sionna's receivers take: ``[slots, 1, 1, 1, 1, symbols, fft]``."""
        if h is None:
            return torch.ones(shape[0], 1, 1, 1, 1, *shape[1:], dtype=torch.complex64)
        return h.reshape(shape[0], 1, 1, 1, 1, *shape[1:])

    # -- digital ----------------------------------------------------------------------

    @cached_property
    def _receiver(self) -> PUSCHReceiver:
        estimator = "perfect" if self.config.csi == "perfect" else None
        return PUSCHReceiver(
            self.transmitter,
            channel_estimator=estimator,
            return_tb_crc_status=True,
            device=str(self.device),
        )

    def slots_for(self, n_bits: int) -> int:
        """Transport blocks (slots) a ``n_bits``-bit message takes."""
        return math.ceil(n_bits / self.tb_size) if n_bits > 0 else 0

    def channel_uses(self, n_bits: int) -> tuple[int, int]:
        """(all REs, DMRS REs) a ``n_bits``-bit message spends."""
        slots = self.slots_for(n_bits)
        return slots * self.res_per_slot, slots * self.pilot_res_per_slot

    def send_bits(
        self, bits: torch.Tensor, snr_db: float, generator: torch.Generator
    ) -> NRTransmission:
        """Send a batch of equal-length messages, each in its own TBs (one per slot).

        :input bits: ``[batch, n_bits]`` 0/1.
        :output: [NRTransmission][multisc.channel.nr.NRTransmission]; received bits
        ``[batch, n_bits]``.
        """
        batch, n_bits = bits.shape
        slots = self.slots_for(n_bits)
        pad = slots * self.tb_size - n_bits
        padded = torch.nn.functional.pad(bits.float(), (0, pad)) if pad else bits.float()
        blocks = padded.to(self.device).reshape(batch * slots, 1, self.tb_size)
        x = self.transmitter(blocks)[:, 0, 0]  # [batch*slots, symbols, fft]
        y, h, no = self.propagate(x, snr_db, generator)
        y = y.reshape(batch * slots, 1, 1, *y.shape[1:])
        if self.config.csi == "perfect":
            decoded, crc = self._receiver(y, no, self._full_h(h, tuple(x.shape)).to(self.device))
        else:
            decoded, crc = self._receiver(y, no)
        received = decoded.reshape(batch, slots * self.tb_size)[:, :n_bits]
        uses, pilots = self.channel_uses(n_bits)
        return NRTransmission(
            received.float(), ~crc.reshape(batch, slots).bool(), slots, uses, pilots
        )

    # -- analog -----------------------------------------------------------------------

    @cached_property
    def _mapper(self) -> ResourceGridMapper:
        return ResourceGridMapper(self.resource_grid, device=str(self.device))

    @cached_property
    def _estimator(self) -> PUSCHLSChannelEstimator:
        t = self.transmitter
        return PUSCHLSChannelEstimator(
            self.resource_grid,
            t._dmrs_length,
            t._dmrs_additional_position,
            t._num_cdm_groups_without_data,
            interpolation_type="lin",
            device=str(self.device),
        )

    @cached_property
    def _equalizer(self) -> LMMSEEqualizer:
        streams = StreamManagement(np.ones([1, 1], bool), 1)
        return LMMSEEqualizer(self.resource_grid, streams, device=str(self.device))

    def analog_slots(self, n_symbols: int) -> int:
        return math.ceil(n_symbols / self.data_res_per_slot) if n_symbols > 0 else 0

    def analog_channel_uses(self, n_symbols: int) -> tuple[int, int]:
        """(all REs, DMRS REs) ``n_symbols`` analog symbols spend."""
        slots = self.analog_slots(n_symbols)
        return slots * self.res_per_slot, slots * self.pilot_res_per_slot

    def send_symbols(
        self, s: torch.Tensor, snr_db: float, generator: torch.Generator
    ) -> torch.Tensor:
        """Uncoded complex symbols on the data REs of as many slots as they need.

        The receiver equalises with LMMSE (Sionna's, unbiased: ``x_hat = x + e`` with
        ``e`` of variance ``no_eff``). When the channel fades the output is shrunk to the
        biased LMMSE estimate ``x_hat / (1 + no_eff)`` (unit-power inputs), as
        [AnalogLink][multisc.channel.analog.AnalogLink] does over Rayleigh: the unbiased estimate's
        error is unbounded in deep fades. Without fading it is ``x_hat`` (as over AWGN).

        :input s: ``[batch, n]`` complex64, unit average power.
        :output: ``[batch, n]`` complex64, the received estimates.
        """
        batch, n = s.shape
        slots = self.analog_slots(n)
        per = self.data_res_per_slot
        pad = slots * per - n
        padded = torch.nn.functional.pad(s, (0, pad)) if pad else s
        data = padded.to(self.device, torch.complex64).reshape(batch * slots, 1, 1, per)
        x = self._mapper(data)[:, 0, 0]  # [batch*slots, symbols, fft], DMRS inserted
        y, h, no = self.propagate(x, snr_db, generator)
        y = y.reshape(batch * slots, 1, 1, *y.shape[1:])
        no_t = torch.tensor(no, device=self.device)
        if self.config.csi == "perfect":
            h_hat = self._full_h(h, tuple(x.shape)).to(self.device)
            err_var = torch.zeros((), device=self.device)
        else:
            h_hat, err_var = self._estimator(y, no_t)
        x_hat, no_eff = self._equalizer(y, h_hat, err_var, no_t)
        x_hat = x_hat.reshape(batch * slots, per)
        if self.config.fades:
            x_hat = x_hat / (1.0 + no_eff.reshape(batch * slots, per))
        return x_hat.reshape(batch, slots * per)[:, :n]

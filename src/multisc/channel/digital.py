"""Digital link: bits -> (5G LDPC) -> QAM -> channel -> soft demapping -> (decoding) -> bits.

Sionna does the coding, mapping and demapping; this module only arranges messages
into codewords, applies the medium (``multisc.channel.medium``) and counts what
was spent (channel uses) and what was lost (bit and block errors).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import cached_property
from typing import Literal

import torch
from sionna.phy.fec.ldpc import LDPC5GDecoder, LDPC5GEncoder
from sionna.phy.mapping import Demapper, Mapper

from multisc.channel.bits import bits_to_bytes, bytes_to_bits
from multisc.channel.medium import propagate
from multisc.channel.spec import FECS, MODULATIONS, ChannelSpec
from multisc.channel.transmissions import (
    BitTransmission,
    CodewordLayout,
    PayloadTransmission,
    TextTransmission,
)
from multisc.devices import resolve_device
from multisc.errors import InvalidInputError, choices_error

Modulation = Literal["bpsk", "qpsk", "16qam", "64qam"]
Fec = Literal["none", "ldpc"]


#: 5G NR LDPC limits (3GPP TS 38.212): information bits per codeword and code rates.
LDPC_MIN_INFO_BITS = 12
LDPC_MAX_INFO_BITS = 8448
LDPC_MIN_RATE = 1 / 5
LDPC_MAX_RATE = 0.95


class DigitalLink:
    """A digital link: optional 5G LDPC, BPSK/QAM mapping, AWGN or Rayleigh, soft demapping.

    Uncoded links demap to hard decisions; LDPC links demap to LLRs (exact "app"
    demapping) which feed a belief-propagation decoder. With Rayleigh fading the
    receiver knows each coefficient ``h`` (perfect CSI): it equalises ``y / h`` and
    demaps with noise variance ``N0 / |h|^2``, which gives the exact LLRs.

    Messages longer than ``max_block_bits`` are segmented into equal codewords as in
    5G NR; shorter ones use one codeword of their own length (at least 12 bits).

    Over an NR channel (``ChannelSpec(fading="nr")``) messages go through the 5G NR PUSCH
    chain instead ([multisc.channel.nr][multisc.channel.nr]) at the channel's MCS index (or the
    index
    ``mcs: auto`` picks for the SNR): the link's own modulation, FEC and code rate apply
    to the AWGN and Rayleigh channels only.

    Examples:

    ```pycon
    >>> import torch
    >>> from multisc.channel import ChannelSpec, DigitalLink
    >>> link = DigitalLink("qpsk", fec="ldpc", code_rate=0.5, device="cpu")
    >>> out = link.send_text("a dog on the grass", ChannelSpec(10.0),
    ...                      torch.Generator().manual_seed(0))
    >>> out.received, out.channel_uses
    ('a dog on the grass', 144)

    ```

    :param modulation: ``"bpsk"``, ``"qpsk"``, ``"16qam"`` or ``"64qam"``.
    :param fec: ``"none"`` (uncoded) or ``"ldpc"`` (5G NR LDPC).
    :param code_rate: LDPC code rate in [1/5, 0.95] (ignored when uncoded).
    :param max_block_bits: most information bits per LDPC codeword (12 ... 8448).
    :param ldpc_iterations: belief-propagation iterations.
    :param device: ``None``/``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda"``.
    """

    def __init__(
        self,
        modulation: Modulation | str = "bpsk",
        fec: Fec | str = "none",
        code_rate: float = 0.5,
        *,
        max_block_bits: int = LDPC_MAX_INFO_BITS,
        ldpc_iterations: int = 20,
        device: str | torch.device | None = None,
    ) -> None:
        if modulation not in MODULATIONS:
            raise choices_error("modulation", modulation, tuple(MODULATIONS))
        if fec not in FECS:
            raise choices_error("FEC", fec, FECS)
        try:
            rate = float(code_rate)
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"code rate must be a number, got {code_rate!r}") from exc
        if not 0.0 < rate < 1.0:
            raise InvalidInputError(
                f"code rate must lie strictly between 0 and 1, got {code_rate!r}"
            )
        if fec == "ldpc" and not LDPC_MIN_RATE <= rate <= LDPC_MAX_RATE:
            raise InvalidInputError(
                f"5G LDPC supports code rates from 1/5 to 0.95, got {rate:g}; "
                "choose a rate in that range or use --fec none"
            )
        if not LDPC_MIN_INFO_BITS <= int(max_block_bits) <= LDPC_MAX_INFO_BITS:
            raise InvalidInputError(
                f"max_block_bits must lie in [{LDPC_MIN_INFO_BITS}, {LDPC_MAX_INFO_BITS}] "
                f"(5G NR LDPC), got {max_block_bits!r}"
            )
        if int(ldpc_iterations) < 1:
            raise InvalidInputError(f"ldpc_iterations must be >= 1, got {ldpc_iterations!r}")
        self.modulation = modulation
        self.fec = fec
        self.code_rate = rate
        self.max_block_bits = int(max_block_bits)
        self.ldpc_iterations = int(ldpc_iterations)
        self.device = resolve_device(device)
        self._constellation, self.bits_per_symbol = MODULATIONS[modulation]
        self._codecs: dict[tuple[int, int], tuple[LDPC5GEncoder, LDPC5GDecoder]] = {}

    def __repr__(self) -> str:
        rate = f", code_rate={self.code_rate:g}" if self.fec == "ldpc" else ""
        return f"DigitalLink({self.modulation!r}, fec={self.fec!r}{rate}, device='{self.device}')"

    # -- Sionna blocks (built once, reused) -------------------------------------------

    @cached_property
    def _mapper(self) -> Mapper:
        return Mapper(self._constellation, self.bits_per_symbol, device=str(self.device))

    @cached_property
    def _soft_demapper(self) -> Demapper:
        return Demapper("app", self._constellation, self.bits_per_symbol, device=str(self.device))

    @cached_property
    def _hard_demapper(self) -> Demapper:
        return Demapper(
            "app", self._constellation, self.bits_per_symbol, hard_out=True, device=str(self.device)
        )

    def _ldpc(self, info_bits: int, coded_bits: int) -> tuple[LDPC5GEncoder, LDPC5GDecoder]:
        key = (info_bits, coded_bits)
        if key not in self._codecs:
            encoder = LDPC5GEncoder(
                info_bits,
                coded_bits,
                num_bits_per_symbol=self.bits_per_symbol,
                device=str(self.device),
            )
            decoder = LDPC5GDecoder(
                encoder, hard_out=True, num_iter=self.ldpc_iterations, device=str(self.device)
            )
            self._codecs[key] = (encoder, decoder)
        return self._codecs[key]

    # -- accounting ---------------------------------------------------------------------

    def layout(self, message_bits: int) -> CodewordLayout:
        """Codeword layout of a ``message_bits``-bit message (LDPC; uncoded has none)."""
        if message_bits <= 0 or self.fec == "none":
            return CodewordLayout(max(message_bits, 0), 0, 0, 0)
        blocks = math.ceil(message_bits / self.max_block_bits)
        info = max(math.ceil(message_bits / blocks), LDPC_MIN_INFO_BITS)
        m = self.bits_per_symbol
        coded = math.ceil(info / self.code_rate / m) * m
        if info / coded < LDPC_MIN_RATE:  # rounding up to whole symbols overshot 1/5
            coded -= m
        return CodewordLayout(message_bits, blocks, info, coded)

    def channel_uses(self, message_bits: int, spec: ChannelSpec | None = None) -> int:
        """Complex symbols (channel uses) spent on a ``message_bits``-bit message; over an
        NR ``spec``, the resource elements (DMRS included) at the MCS used at its SNR."""
        if message_bits <= 0:
            return 0
        if spec is not None and spec.nr is not None:
            from multisc.channel import nr_mcs

            config = nr_mcs.resolve(spec.nr, spec.snr_db)
            return nr_mcs.nr_link(config, str(self.device)).channel_uses(message_bits)[0]
        if self.fec == "none":
            return math.ceil(message_bits / self.bits_per_symbol)
        lay = self.layout(message_bits)
        return lay.blocks * lay.coded_bits // self.bits_per_symbol

    # -- transmission -------------------------------------------------------------------

    def send_bits(
        self, bits: torch.Tensor, spec: ChannelSpec, generator: torch.Generator
    ) -> BitTransmission:
        """Send a batch of equal-length bit messages over the link.

        :input bits: ``[n_bits]`` or ``[batch, n_bits]``, values 0/1 (any real or integer
            dtype, any device).
        :input spec: the channel condition (SNR in dB as Es/N0, fading).
        :input generator: source of all randomness (noise, fading).
        :output: [BitTransmission][multisc.channel.digital.BitTransmission] with received bits
        shaped ``[batch, n_bits]``.
        """
        if bits.dim() == 1:
            bits = bits.unsqueeze(0)
        if bits.dim() != 2:
            raise InvalidInputError(
                f"bits must have shape [n_bits] or [batch, n_bits], got {tuple(bits.shape)}"
            )
        bits = bits.to(self.device, torch.float32)
        batch, n_bits = bits.shape
        if spec.nr is not None and n_bits and batch:
            return self._send_nr(bits, spec, generator)
        if n_bits == 0 or batch == 0:
            empty = torch.zeros(batch, dtype=torch.int64, device=self.device)
            return BitTransmission(
                bits.clone(), empty, None if self.fec == "none" else empty.clone(), 0, 0
            )
        if self.fec == "none":
            received = self._send_uncoded(bits, spec, generator)
            block_errors, blocks = None, 0
        else:
            received, block_errors, blocks = self._send_ldpc(bits, spec, generator)
        bit_errors = (received != bits).sum(dim=-1)
        return BitTransmission(
            received, bit_errors, block_errors, blocks, self.channel_uses(n_bits)
        )

    def _send_nr(
        self, bits: torch.Tensor, spec: ChannelSpec, generator: torch.Generator
    ) -> BitTransmission:
        from multisc.channel import nr_mcs

        assert spec.nr is not None
        config = nr_mcs.resolve(spec.nr, spec.snr_db)
        out = nr_mcs.nr_link(config, str(self.device)).send_bits(bits, spec.snr_db, generator)
        return BitTransmission(
            out.bits,
            (out.bits != bits).sum(dim=-1),
            out.tb_failed.sum(dim=-1).to(torch.int64),
            out.slots,
            out.channel_uses,
            out.pilot_uses,
            config.mcs,
        )

    def _send_uncoded(
        self, bits: torch.Tensor, spec: ChannelSpec, generator: torch.Generator
    ) -> torch.Tensor:
        n_bits = bits.shape[1]
        pad = -n_bits % self.bits_per_symbol
        padded = torch.nn.functional.pad(bits, (0, pad)) if pad else bits
        y, h = propagate(self._mapper(padded), spec, generator)
        y, no = self._equalise(y, h, spec)
        return self._hard_demapper(y, no)[:, :n_bits]

    def _send_ldpc(
        self, bits: torch.Tensor, spec: ChannelSpec, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor, int]:
        batch, n_bits = bits.shape
        lay = self.layout(n_bits)
        encoder, decoder = self._ldpc(lay.info_bits, lay.coded_bits)
        pad = lay.blocks * lay.info_bits - n_bits
        padded = torch.nn.functional.pad(bits, (0, pad)) if pad else bits
        info = padded.reshape(batch, lay.blocks, lay.info_bits)
        symbols = self._mapper(encoder(info)).reshape(batch, -1)
        y, h = propagate(symbols, spec, generator)
        y, no = self._equalise(y, h, spec)
        llr = self._soft_demapper(y, no).reshape(batch, lay.blocks, lay.coded_bits)
        decoded = decoder(llr)
        # Padding bits are known zeros, so only errors in real bits count for a block.
        wrong = (decoded != info).reshape(batch, -1)[:, :n_bits]
        received = decoded.reshape(batch, -1)[:, :n_bits]
        wrong_padded = torch.nn.functional.pad(wrong, (0, pad)) if pad else wrong
        block_errors = wrong_padded.reshape(batch, lay.blocks, lay.info_bits).any(-1).sum(-1)
        return received, block_errors, lay.blocks

    @staticmethod
    def _equalise(
        y: torch.Tensor, h: torch.Tensor | None, spec: ChannelSpec
    ) -> tuple[torch.Tensor, float | torch.Tensor]:
        """Zero-forcing with perfect CSI; the per-symbol noise N0/|h|^2 keeps LLRs exact."""
        if h is None:
            return y, spec.noise_variance
        gain = (h.real**2 + h.imag**2).clamp_min(1e-12)
        return y / h, spec.noise_variance / gain

    def send_payloads(
        self, payloads: Sequence[bytes], spec: ChannelSpec, generator: torch.Generator
    ) -> list[PayloadTransmission]:
        """Send byte payloads, one orthogonal transmission each, same channel condition.

        Payloads of equal length travel as one batch; each is coded and counted on its own
        (its channel uses do not depend on the others).
        """
        by_length: dict[int, list[int]] = {}
        for index, payload in enumerate(payloads):
            by_length.setdefault(len(payload), []).append(index)
        results: list[PayloadTransmission | None] = [None] * len(payloads)
        for length, indices in by_length.items():
            if length == 0:
                sent = self.send_bits(torch.zeros(len(indices), 0), spec, generator)
            else:
                stacked = torch.stack([bytes_to_bits(payloads[i]) for i in indices])
                sent = self.send_bits(stacked, spec, generator)
            bit_errors = sent.bit_errors.tolist()
            block_errors = None if sent.block_errors is None else sent.block_errors.tolist()
            for row, index in enumerate(indices):
                results[index] = PayloadTransmission(
                    sent=payloads[index],
                    received=bits_to_bytes(sent.bits[row]) if length else b"",
                    bit_errors=int(bit_errors[row]),
                    block_errors=None if block_errors is None else int(block_errors[row]),
                    blocks=sent.blocks,
                    channel_uses=sent.channel_uses,
                    pilot_uses=sent.pilot_uses,
                    mcs=sent.mcs,
                )
        return [r for r in results if r is not None]

    def send_texts(
        self, texts: Sequence[str], spec: ChannelSpec, generator: torch.Generator
    ) -> list[TextTransmission]:
        """Send texts as UTF-8, one orthogonal transmission each (see ``send_payloads``)."""
        payloads = [text.encode("utf-8") for text in texts]
        return [
            TextTransmission(
                sent=text,
                received=out.received.decode("utf-8", errors="replace"),
                bits=out.bits,
                bit_errors=out.bit_errors,
                block_errors=out.block_errors,
                blocks=out.blocks,
                channel_uses=out.channel_uses,
                pilot_uses=out.pilot_uses,
                mcs=out.mcs,
            )
            for text, out in zip(texts, self.send_payloads(payloads, spec, generator), strict=True)
        ]

    def send_text(
        self, text: str, spec: ChannelSpec, generator: torch.Generator
    ) -> TextTransmission:
        """Send one text as UTF-8 and decode what arrives (never raises on invalid UTF-8)."""
        return self.send_texts([text], spec, generator)[0]

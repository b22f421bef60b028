"""What a digital link returns: the received bits, payloads or texts with their errors
and channel uses, and how a message is laid out in LDPC codewords."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class BitTransmission:
    """Result of [DigitalLink.send_bits][multisc.channel.digital.DigitalLink.send_bits] for a batch
    of equal-length messages.

    :ivar bits: ``[batch, n_bits]``, ``torch.float32`` 0/1: the received (decoded) bits.
    :ivar bit_errors: ``[batch]``, ``torch.int64``: bits that differ from the sent ones.
    :ivar block_errors: ``[batch]``, ``torch.int64``: LDPC codewords with at least one
        residual information-bit error; ``None`` when uncoded.
    :ivar blocks: LDPC codewords per message (0 when uncoded); over NR, transport blocks.
    :ivar channel_uses: complex symbols sent per message, padding included; over NR,
        resource elements, DMRS included.
    :ivar pilot_uses: of ``channel_uses``, those spent on pilots (NR DMRS; 0 otherwise).
    :ivar mcs: the NR MCS index used (``None`` off NR).
    """

    bits: torch.Tensor
    bit_errors: torch.Tensor
    block_errors: torch.Tensor | None
    blocks: int
    channel_uses: int
    pilot_uses: int = 0
    mcs: int | None = None

    @property
    def ber(self) -> float:
        """Bit error rate over the whole batch (0 for empty messages)."""
        total = self.bits.numel()
        return float(self.bit_errors.sum()) / total if total else 0.0


@dataclass(frozen=True)
class PayloadTransmission:
    """One byte payload through a [DigitalLink][multisc.channel.digital.DigitalLink].

    :ivar sent: the bytes sent.
    :ivar received: the bytes received, same length as ``sent``.
    :ivar bit_errors: number of received bits that differ from the sent ones.
    :ivar block_errors: LDPC codewords in error, ``None`` when uncoded.
    :ivar blocks: LDPC codewords used (0 when uncoded).
    :ivar channel_uses: complex symbols sent, padding included (NR: REs, DMRS included).
    :ivar pilot_uses: of those, pilot REs (NR DMRS; 0 otherwise).
    :ivar mcs: the NR MCS index used (``None`` off NR).
    """

    sent: bytes
    received: bytes
    bit_errors: int
    block_errors: int | None
    blocks: int
    channel_uses: int
    pilot_uses: int = 0
    mcs: int | None = None

    @property
    def bits(self) -> int:
        """Number of payload bits (8 per byte)."""
        return 8 * len(self.sent)

    @property
    def ber(self) -> float:
        return self.bit_errors / self.bits if self.bits else 0.0

    @property
    def failed(self) -> bool:
        """True when the payload arrived with any error."""
        return self.bit_errors > 0


@dataclass(frozen=True)
class TextTransmission:
    """One text through a [DigitalLink][multisc.channel.digital.DigitalLink] (UTF-8 on the wire).

    :ivar sent: the text sent.
    :ivar received: the text decoded from the received bytes; invalid UTF-8 becomes
        U+FFFD replacement characters.
    :ivar bits: number of bits sent (8 per UTF-8 byte).

    The other fields (``bit_errors``, ``block_errors``, ``blocks``, ``channel_uses``,
    ``pilot_uses``, ``mcs``) are as in
    [PayloadTransmission][multisc.channel.digital.PayloadTransmission].
    """

    sent: str
    received: str
    bits: int
    bit_errors: int
    block_errors: int | None
    blocks: int
    channel_uses: int
    pilot_uses: int = 0
    mcs: int | None = None

    @property
    def ber(self) -> float:
        return self.bit_errors / self.bits if self.bits else 0.0


@dataclass(frozen=True)
class CodewordLayout:
    """How a message of ``message_bits`` bits is cut into LDPC codewords.

    The message is split into ``blocks`` codewords of ``info_bits`` each (the last one
    zero-padded), each encoded to ``coded_bits`` (a multiple of the bits per symbol).
    """

    message_bits: int
    blocks: int
    info_bits: int
    coded_bits: int

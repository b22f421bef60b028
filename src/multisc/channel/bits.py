"""Text and bytes <-> bits: UTF-8, 8 bits a byte, most significant bit first."""

from __future__ import annotations

import numpy as np
import torch

_UTF8 = "utf-8"


def bytes_to_bits(data: bytes) -> torch.Tensor:
    """Bits of ``data``, MSB first.

    :output bits: ``[8 * len(data)]``, ``torch.float32`` with values 0 and 1.

    >>> bytes_to_bits(b"A").int().tolist()
    [0, 1, 0, 0, 0, 0, 0, 1]
    """
    array = np.unpackbits(np.frombuffer(data, dtype=np.uint8))
    return torch.from_numpy(array.astype(np.float32))


def bits_to_bytes(bits: torch.Tensor) -> bytes:
    """Inverse of [bytes_to_bits][multisc.channel.bits.bytes_to_bits].

    :input bits: ``[n]`` with values 0/1 (any dtype, any device); ``n`` is padded with
        zeros up to a multiple of 8.
    """
    array = bits.detach().reshape(-1).to("cpu", torch.uint8).numpy()
    return np.packbits(array).tobytes()


def text_to_bits(text: str) -> torch.Tensor:
    """UTF-8 bits of ``text``: ``[8 * len(text.encode())]`` float32 0/1."""
    return bytes_to_bits(text.encode(_UTF8))


def bits_to_text(bits: torch.Tensor) -> str:
    """Decode bits as UTF-8. Invalid byte sequences (as a noisy channel makes them)
    become U+FFFD replacement characters; this never raises."""
    return bits_to_bytes(bits).decode(_UTF8, errors="replace")

"""Physical layer: text/bytes <-> bits, 5G LDPC, BPSK/QAM, AWGN and Rayleigh fading.

``DigitalLink`` and ``AnalogLink`` send messages and count the channel uses (complex
symbols) they spend. SNR is Es/N0 per complex channel use (see :class:`ChannelSpec`).
"""

from multisc.channel.analog import AnalogLink, AnalogTransmission
from multisc.channel.bits import bits_to_bytes, bits_to_text, bytes_to_bits, text_to_bits
from multisc.channel.digital import (
    FECS,
    MODULATIONS,
    BitTransmission,
    DigitalLink,
    PayloadTransmission,
    TextTransmission,
)
from multisc.channel.measure import ErrorRates, measure_error_rates
from multisc.channel.spec import FADINGS, ChannelSpec
from multisc.channel.theory import ber_theory

__all__ = [
    "FADINGS",
    "FECS",
    "MODULATIONS",
    "AnalogLink",
    "AnalogTransmission",
    "BitTransmission",
    "ChannelSpec",
    "DigitalLink",
    "ErrorRates",
    "PayloadTransmission",
    "TextTransmission",
    "ber_theory",
    "bits_to_bytes",
    "bits_to_text",
    "bytes_to_bits",
    "measure_error_rates",
    "text_to_bits",
]

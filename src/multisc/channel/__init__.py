"""Physical layer: text/bytes <-> bits, 5G LDPC, BPSK/QAM, AWGN and Rayleigh fading, and a
5G NR link (PUSCH over OFDM with 3GPP TDL/CDL fading, [multisc.channel.nr][multisc.channel.nr]).

``DigitalLink`` and ``AnalogLink`` send messages and count the channel uses (complex
symbols) they spend. SNR is Es/N0 per complex channel use (see
[ChannelSpec][multisc.channel.spec.ChannelSpec]).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from multisc.lazy import lazy_exports

if TYPE_CHECKING:
    from multisc.channel.analog import AnalogLink, AnalogTransmission
    from multisc.channel.bits import bits_to_bytes, bits_to_text, bytes_to_bits, text_to_bits
    from multisc.channel.digital import DigitalLink
    from multisc.channel.measure import (
        ErrorRates,
        NRErrorRates,
        measure_error_rates,
        measure_nr_error_rates,
    )
    from multisc.channel.nr import NRLink
    from multisc.channel.nr_config import NRConfig
    from multisc.channel.spec import FADINGS, FECS, MODULATIONS, ChannelSpec
    from multisc.channel.theory import ber_theory
    from multisc.channel.transmissions import (
        BitTransmission,
        PayloadTransmission,
        TextTransmission,
    )

_WHERE = {
    "AnalogLink": "analog",
    "AnalogTransmission": "analog",
    "bits_to_bytes": "bits",
    "bits_to_text": "bits",
    "bytes_to_bits": "bits",
    "text_to_bits": "bits",
    "FECS": "spec",
    "MODULATIONS": "spec",
    "BitTransmission": "transmissions",
    "DigitalLink": "digital",
    "PayloadTransmission": "transmissions",
    "TextTransmission": "transmissions",
    "ErrorRates": "measure",
    "NRErrorRates": "measure",
    "measure_error_rates": "measure",
    "measure_nr_error_rates": "measure",
    "NRConfig": "nr_config",
    "NRLink": "nr",
    "FADINGS": "spec",
    "ChannelSpec": "spec",
    "ber_theory": "theory",
}

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
    "NRConfig",
    "NRErrorRates",
    "NRLink",
    "PayloadTransmission",
    "TextTransmission",
    "ber_theory",
    "bits_to_bytes",
    "bits_to_text",
    "bytes_to_bits",
    "measure_error_rates",
    "measure_nr_error_rates",
    "text_to_bits",
]

__getattr__ = lazy_exports(__name__, _WHERE)

import math

import torch

from multisc.channel import ChannelSpec, DigitalLink, measure_error_rates


def test_uncoded_ber_matches_theory_and_counts_add_up():
    """BPSK at 6 dB: 200,000 bits give about 480 errors (sd about 22), so 15% is more than
    3 standard deviations."""
    link = DigitalLink("bpsk", "none")
    seen = []
    rates = measure_error_rates(
        link, ChannelSpec(6.0), 200_000, torch.Generator().manual_seed(0),
        progress=lambda done, total: seen.append((done, total)),
    )  # fmt: skip
    assert rates.bits == 200_000 and rates.channel_uses == 200_000  # one bit per symbol
    assert rates.bler is None and rates.blocks is None
    assert math.isclose(rates.ber, rates.ber_theory_uncoded, rel_tol=0.15)
    assert seen[-1] == (200_000, 200_000) and rates.bits_per_second > 0


def test_ldpc_counts_blocks_and_decodes_clean_at_high_snr():
    link = DigitalLink("qpsk", "ldpc", 0.5, max_block_bits=512)
    rates = measure_error_rates(
        link, ChannelSpec(8.0), 5000, torch.Generator().manual_seed(1), block_bits=512
    )
    assert rates.blocks == 10 and rates.block_errors == 0 and rates.ber == 0.0
    assert rates.ber_theory_uncoded is None

import json

import pytest
import torch

from multisc.channel import ChannelSpec
from multisc.schemes import mcs as mcs_table
from multisc.schemes.bpg_ldpc import BpgLdpcScheme
from multisc.schemes.mcs import (
    ALL_MCS,
    BLOCK_SIZES,
    Mcs,
    block_size_class,
    choose_mcs,
    codewords_for,
    measure_threshold,
)


@pytest.mark.slow
def test_measured_thresholds_are_where_5g_ldpc_decodes():
    # rate 1/2 QPSK decodes a 1024-bit codeword around 1-2 dB Es/N0; 16-QAM needs ~6-7 dB
    qpsk = measure_threshold(Mcs("qpsk", 0.5), codewords=40)
    qam16 = measure_threshold(Mcs("16qam", 0.5), codewords=40)
    assert 0.0 < qpsk < 3.0 and 5.0 < qam16 < 8.5 and qam16 - qpsk > 4.0


def synthetic_table():
    # thresholds that rise with efficiency, as real ones do
    return {str(m): -2.0 + 3.5 * m.efficiency for m in ALL_MCS}


def test_choice_takes_the_most_efficient_mcs_the_snr_clears():
    table = synthetic_table()
    assert choose_mcs(30.0, table) == Mcs("64qam", 2 / 3)
    assert choose_mcs(-10.0, table) == Mcs("qpsk", 1 / 3)  # nothing clears: most robust
    mid = choose_mcs(6.0, table)
    assert table[str(mid)] + 0.5 <= 6.0
    assert all(table[str(m)] + 0.5 > 6.0 for m in ALL_MCS if m.efficiency > mid.efficiency)


@pytest.mark.slow
def test_auto_mcs_spends_more_bits_at_high_snr(monkeypatch, tmp_path, photo):
    monkeypatch.setenv("MULTISC_CACHE", str(tmp_path))
    table = synthetic_table()
    (tmp_path / "mcs_thresholds.json").write_text(
        json.dumps({f"awgn/block={b}/codewords={codewords_for(b)}": table for b in BLOCK_SIZES})
    )  # cached tables: nothing is measured
    scheme = BpgLdpcScheme(budget=20_000, mcs="auto", device="cpu")
    prepared = scheme.prepare(photo)
    low, high = scheme.transmit(
        prepared, [ChannelSpec(2.0), ChannelSpec(25.0)], torch.Generator().manual_seed(0)
    )
    assert (low.details["modulation"], high.details["modulation"]) == ("qpsk", "64qam")
    assert high.bits_sent > 2 * low.bits_sent
    assert high.details["hevc_quality"] > low.details["hevc_quality"]
    assert low.channel_uses == high.channel_uses == 20_000
    assert high.details["payload_channel_uses"] <= 20_000


def test_thresholds_are_cached(monkeypatch, tmp_path):
    monkeypatch.setenv("MULTISC_CACHE", str(tmp_path))
    calls = []

    def fake(mcs, fading, block_bits, codewords):
        calls.append((mcs, block_bits, codewords))
        return 1.0

    monkeypatch.setattr(mcs_table, "measure_threshold", fake)
    assert len(mcs_table.thresholds("awgn", codewords=5)) == 9 and len(calls) == 9
    mcs_table.thresholds("awgn", codewords=5)
    assert len(calls) == 9  # second call reads the cache
    mcs_table.thresholds("awgn", 8448, mcs=(Mcs("qpsk", 0.5),))
    assert calls[-1] == (Mcs("qpsk", 0.5), 8448, 13) and len(calls) == 10


def test_auto_mcs_looks_up_thresholds_at_the_codeword_size_it_sends(monkeypatch, tmp_path, photo):
    """Each MCS is judged at its own codeword length for this budget: 20,000 channel uses
    carry two 6664-bit codewords at QPSK 1/3, five 8000-bit ones at 16-QAM 1/2."""
    monkeypatch.setenv("MULTISC_CACHE", str(tmp_path))
    asked = []

    def fake(mcs, fading, block_bits, codewords):
        asked.append((mcs, block_bits))
        return -2.0 + 3.5 * mcs.efficiency

    monkeypatch.setattr(mcs_table, "measure_threshold", fake)
    scheme = BpgLdpcScheme(budget=20_000, mcs="auto", device="cpu")
    assert scheme.codeword_bits(20_000, Mcs("qpsk", 1 / 3)) == 6664
    assert scheme.codeword_bits(20_000, Mcs("16qam", 0.5)) == 8000
    assert scheme.choose(ChannelSpec(10.0), 20_000) == choose_mcs(10.0, synthetic_table())
    assert sorted(asked, key=str) == sorted(((m, 6144) for m in ALL_MCS), key=str)


def test_block_size_classes_round_down():
    assert [block_size_class(n) for n in (12, 1024, 2047, 6664, 8448)] == [
        1024,
        1024,
        1024,
        6144,
        8448,
    ]


@pytest.mark.slow
def test_long_codewords_decode_at_lower_snr():
    """5G LDPC gains with length: QPSK 1/2 decodes 8448-bit codewords at a lower SNR than
    1024-bit ones (the gap our auto MCS no longer gives away)."""
    short = measure_threshold(Mcs("qpsk", 0.5), block_bits=1024, codewords=100)
    long = measure_threshold(Mcs("qpsk", 0.5), block_bits=8448, codewords=13)
    assert long < short - 0.1

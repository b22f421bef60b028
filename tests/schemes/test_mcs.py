import json

import pytest
import torch

from multisc.channel import ChannelSpec
from multisc.schemes import mcs as mcs_table
from multisc.schemes.bpg_ldpc import BpgLdpcScheme
from multisc.schemes.mcs import ALL_MCS, Mcs, choose_mcs, measure_threshold


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


def test_auto_mcs_spends_more_bits_at_high_snr(monkeypatch, tmp_path, photo):
    monkeypatch.setenv("MULTISC_CACHE", str(tmp_path))
    (tmp_path / "mcs_thresholds.json").write_text(
        json.dumps({"awgn/codewords=100": synthetic_table()})
    )  # a cached table: nothing is measured
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
    monkeypatch.setattr(
        mcs_table, "measure_threshold", lambda mcs, fading, codewords: calls.append(mcs) or 1.0
    )
    assert len(mcs_table.thresholds("awgn", codewords=5)) == 9 and len(calls) == 9
    mcs_table.thresholds("awgn", codewords=5)
    assert len(calls) == 9  # second call reads the cache


def test_bad_mcs_mode():
    with pytest.raises(ValueError, match="fixed"):
        BpgLdpcScheme(budget=1000, mcs="sometimes")

"""The 5G NR link: SNR convention, agreement with our AWGN links and with bare Sionna,
channel-use accounting, and bad input."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from scipy import stats

from multisc.channel import AnalogLink, ChannelSpec, DigitalLink, NRConfig, NRLink
from multisc.channel.nr_mcs import choose, grid_link, nr_link
from multisc.errors import InvalidInputError

#: small grids keep the Monte Carlo fast; the chain is the same for any PRB count
FLAT = NRConfig("none", prbs=4, csi="perfect", mcs=9)


def _qpsk(n: int, generator: torch.Generator) -> torch.Tensor:
    bits = torch.randint(0, 2, (2, n), generator=generator).float()
    return torch.complex(1 - 2 * bits[0], 1 - 2 * bits[1]) / math.sqrt(2)


def _ser(sent: torch.Tensor, received: torch.Tensor) -> float:
    decided = torch.complex(received.real.sign(), received.imag.sign()) / math.sqrt(2)
    return float((decided != sent).float().mean())


def test_snr_convention_flat_nr_equals_awgn_symbol_error_rate() -> None:
    """A flat NR link with perfect CSI at 6 dB: the uncoded QPSK symbol error rate is
    today's AWGN link's and the closed form's (Es/N0 per RE, unit-energy symbols)."""
    g = torch.Generator().manual_seed(0)
    n = 40_000
    s = _qpsk(n, g)[None]
    snr = 6.0
    nr = grid_link(FLAT).send_symbols(s, snr, g)
    awgn = AnalogLink(normalize=False).send(torch.view_as_real(s), ChannelSpec(snr), g)
    q = stats.norm.sf(math.sqrt(10 ** (snr / 10)))  # per-axis error, Es/N0 split in two
    theory = 1 - (1 - q) ** 2
    ser_nr = _ser(s, nr)
    ser_awgn = _ser(s, torch.view_as_complex(awgn.received.contiguous()))
    sigma = math.sqrt(theory * (1 - theory) / n)
    assert abs(ser_nr - theory) < 4 * sigma, (ser_nr, theory)
    assert abs(ser_awgn - theory) < 4 * sigma, (ser_awgn, theory)


def test_analog_flat_perfect_csi_mse_equals_analog_link() -> None:
    """Analog over a flat NR link with perfect CSI: the error per complex symbol has the
    AWGN link's variance N0; estimated CSI costs a measurable, bounded penalty."""
    g = torch.Generator().manual_seed(1)
    n = 30_000
    s = _qpsk(n, g)[None]
    # LS on the DMRS (pilots at twice the data power) with linear interpolation: error
    # variance ~N0/4 on h, amplified at 0 dB by dividing by a noisy estimate
    penalty_bounds = {0.0: (1.5, 3.5), 10.0: (1.05, 1.5)}
    for snr, (low, high) in penalty_bounds.items():
        no = 10 ** (-snr / 10)
        perfect = float(((grid_link(FLAT).send_symbols(s, snr, g) - s).abs() ** 2).mean())
        estimated_link = grid_link(NRConfig("none", prbs=4, csi="estimated"))
        estimated = float(((estimated_link.send_symbols(s, snr, g) - s).abs() ** 2).mean())
        # the mean of n exponential errors: relative standard deviation 1/sqrt(n)
        assert abs(perfect / no - 1) < 5 / math.sqrt(n), (snr, perfect, no)
        assert low < estimated / no < high, (snr, estimated, no)


@pytest.mark.slow
def test_flat_nr_bler_matches_digital_link_same_modulation_and_rate() -> None:
    """No fading, perfect CSI: the NR PUSCH chain's TB error rate steps from ~1 to ~0
    across the same SNR window as our DigitalLink with the same QAM and code rate."""
    link = nr_link(NRConfig("none", prbs=4, csi="perfect", mcs=9))
    digital = DigitalLink("qpsk", "ldpc", link.code_rate, device="cpu")
    g = torch.Generator().manual_seed(2)
    bits = torch.randint(0, 2, (48, link.tb_size), generator=g).float()
    rates = {}
    for snr in (-2.0, 0.0, 2.0, 4.0):
        nr_bler = float(link.send_bits(bits, snr, g).tb_failed.float().mean())
        out = digital.send_bits(bits, ChannelSpec(snr), g)
        rates[snr] = (nr_bler, float(out.block_errors.float().mean()))
    for snr, (nr_bler, ours) in rates.items():
        assert abs(nr_bler - ours) <= 0.35, (snr, rates)
    assert rates[-2.0][0] > 0.9 and rates[4.0][0] < 0.05, rates


def _bare_sionna_bler(mcs: int, snr_db: float, slots: int, seed: int) -> float:
    """The same PUSCH over TDL-A written as bare Sionna calls (Sionna's own noise and
    channel generator), as in Sionna's 5G NR PUSCH tutorial."""
    from sionna.phy import config
    from sionna.phy.channel import OFDMChannel
    from sionna.phy.channel.tr38901 import TDL
    from sionna.phy.nr import PUSCHConfig, PUSCHReceiver, PUSCHTransmitter

    config.seed = seed
    pusch = PUSCHConfig()
    pusch.carrier.subcarrier_spacing = 30
    pusch.carrier.n_size_grid = 4
    pusch.n_size_bwp = 4
    pusch.tb.mcs_index = mcs
    cpu = "cpu"  # as ours below: the same random streams on every machine
    transmitter = PUSCHTransmitter(pusch, device=cpu)
    receiver = PUSCHReceiver(transmitter, return_tb_crc_status=True, device=cpu)
    tdl = TDL("A", 100e-9, 3.5e9, min_speed=3 / 3.6, max_speed=3 / 3.6, device=cpu)
    channel = OFDMChannel(tdl, transmitter.resource_grid, normalize_channel=False, device=cpu)
    no = 10 ** (-snr_db / 10)
    x, _ = transmitter(slots)
    y = channel(x, no)
    _, crc = receiver(y, no)
    return 1 - float(crc.float().mean())


@pytest.mark.slow
@pytest.mark.parametrize(("mcs", "snrs"), [(5, (2.0, 6.0)), (10, (8.0, 12.0)), (15, (12.0, 16.0))])
def test_tdl_a_bler_equals_bare_sionna(mcs: int, snrs: tuple[float, float]) -> None:
    """Ours over TDL-A at MCS 5, 10, 15 and the bare Sionna chain: BLERs agree within a
    two-proportion test at 4 standard errors (a false alarm in 1 of ~16,000 comparisons;
    a true gap of 0.2 in BLER would show), at SNRs on the slope of each curve."""
    slots = 160
    ours = nr_link(NRConfig("TDL-A", prbs=4, mcs=mcs))
    g = torch.Generator().manual_seed(mcs)
    bits = torch.randint(0, 2, (slots, ours.tb_size), generator=g).float()
    for snr in snrs:
        a = float(ours.send_bits(bits, snr, g).tb_failed.float().mean())
        b = _bare_sionna_bler(mcs, snr, slots, seed=mcs)
        pooled = (a + b) / 2
        sigma = math.sqrt(max(pooled * (1 - pooled), 1e-4) * 2 / slots)
        assert abs(a - b) < 4 * sigma + 1e-9, (mcs, snr, a, b)


def test_channel_uses_count_data_and_dmrs_res() -> None:
    link = nr_link(NRConfig("none", prbs=4, mcs=5))
    grid = link.resource_grid
    assert link.res_per_slot == 14 * 12 * 4
    assert link.pilot_res_per_slot == link.res_per_slot - int(grid.num_data_symbols)
    assert link.pilot_res_per_slot == 2 * 12 * 4  # two DMRS symbols, no data beside them
    bits = 3 * link.tb_size - 5
    assert link.channel_uses(bits) == (3 * link.res_per_slot, 3 * link.pilot_res_per_slot)
    out = DigitalLink().send_text("x" * (bits // 8), ChannelSpec(20.0, nr=link.config), seeded())
    assert out.channel_uses == link.channel_uses(8 * (bits // 8))[0]
    assert out.pilot_uses == link.channel_uses(8 * (bits // 8))[1]
    assert out.mcs == 5 and out.blocks == 3


def seeded() -> torch.Generator:
    return torch.Generator().manual_seed(0)


def test_text_over_nr_high_snr_arrives_intact_and_low_snr_gets_decoded_bits() -> None:
    text = "a brown dog runs on the green grass next to a red ball"
    spec = ChannelSpec(25.0, nr=NRConfig("TDL-A", prbs=4, mcs=5))
    out = DigitalLink().send_text(text, spec, seeded())
    assert out.received == text and out.block_errors == 0
    low = DigitalLink().send_text(text, ChannelSpec(-10.0, nr=spec.nr), seeded())
    # a failed TB delivers what the decoder produced: same length, wrong bits, flagged
    assert low.block_errors == low.blocks == 1 and low.bit_errors > 0
    assert len(low.received.encode("utf-8", errors="replace")) >= len(text)


def test_same_seed_same_realisation_different_seed_differs() -> None:
    link = nr_link(NRConfig("TDL-C", prbs=4, mcs=5))
    h1 = link.frequency_response(3, torch.Generator().manual_seed(7))
    h2 = link.frequency_response(3, torch.Generator().manual_seed(7))
    h3 = link.frequency_response(3, torch.Generator().manual_seed(8))
    assert torch.equal(h1, h2) and not torch.equal(h1, h3)
    # unit average gain over realisations (not normalised per slot)
    many = link.frequency_response(400, torch.Generator().manual_seed(9))
    assert abs(float((many.abs() ** 2).mean()) - 1) < 0.1


def test_cdl_profile_runs_and_doppler_changes_channel_within_a_slot() -> None:
    g = torch.Generator().manual_seed(3)
    slow = nr_link(NRConfig("CDL-B", prbs=2, mcs=5, speed_kmh=0.0)).frequency_response(2, g)
    fast = nr_link(NRConfig("TDL-A", prbs=2, mcs=5, speed_kmh=500.0, carrier_ghz=28.0))
    h = fast.frequency_response(2, g)
    # a static channel is the same in every OFDM symbol; at 500 km/h and 28 GHz it is not
    assert torch.allclose(slow[:, 0], slow[:, -1], atol=1e-5)
    assert float((h[:, 0] - h[:, -1]).abs().mean()) > 0.1


def test_auto_mcs_choice_takes_most_efficient_cleared_threshold() -> None:
    table = {3: -1.0, 9: 4.0, 15: 9.0, 27: 20.0}
    assert choose(-5.0, table) == 3  # nothing cleared: the most robust
    assert choose(5.0, table) == 9
    assert choose(25.0, table) == 27


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"profile": "TDL-F"}, "TDL-A"),
        ({"delay_spread_ns": 5000}, "[10, 1000] ns"),
        ({"speed_kmh": -1}, "[0, 500] km/h"),
        ({"carrier_ghz": 200}, "[0.5, 100] GHz"),
        ({"prbs": 0}, "[1, 275]"),
        ({"scs_khz": 45}, "15, 30, 60, 120"),
        ({"mcs": 29}, "[0, 28]"),
        ({"mcs": 28, "mcs_table": 2}, "[0, 27]"),
        ({"csi": "genie"}, "estimated, perfect"),
    ],
)
def test_bad_nr_settings_name_the_value_and_the_valid_range(kwargs, message) -> None:
    with pytest.raises(InvalidInputError, match=message.replace("[", r"\[").replace("]", r"\]")):
        NRConfig(**kwargs)


def test_impossible_numerology_is_one_clear_error() -> None:
    with pytest.raises(InvalidInputError, match=r"1 PRB.*MCS 28.*another MCS index or PRB"):
        NRLink(NRConfig("none", prbs=1, mcs=28))
    with pytest.raises(InvalidInputError, match="MCS index"):
        NRLink(NRConfig("none", prbs=4))  # auto must be resolved first


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_nr_links_run_on_cuda_and_agree_with_the_cpu_statistically() -> None:
    """The PUSCH chain and the analog grid on the GPU (channel drawn there from a CUDA
    generator): a text arrives intact at high SNR, and the flat analog MSE is N0."""
    g = torch.Generator(device="cuda").manual_seed(0)
    spec = ChannelSpec(25.0, nr=NRConfig("TDL-A", prbs=4, mcs=5))
    out = DigitalLink(device="cuda").send_text("a dog on the grass", spec, g)
    assert out.received == "a dog on the grass" and out.pilot_uses > 0
    s = _qpsk(20_000, torch.Generator().manual_seed(1))[None].to("cuda")
    received = grid_link(FLAT, "cuda").send_symbols(s, 10.0, g)
    assert received.device.type == "cuda"
    assert abs(float(((received - s).abs() ** 2).mean()) / 0.1 - 1) < 0.05


@pytest.mark.slow
def test_auto_mcs_thresholds_are_measured_once_rise_with_the_index_and_are_cached(
    tmp_path, monkeypatch
) -> None:
    from multisc.channel import nr_mcs

    monkeypatch.setenv("MULTISC_CACHE", str(tmp_path))
    monkeypatch.setattr(nr_mcs, "_MEMO", {})
    monkeypatch.setattr(nr_mcs, "candidates", lambda table=1: (3, 9, 15, 21))  # 4 of 10
    config = NRConfig("none", prbs=2, csi="perfect")
    said: list[str] = []
    table = nr_mcs.thresholds(config, slots=8, progress=said.append)
    assert len(said) == len(table) == 4 and (tmp_path / "nr_mcs_thresholds.json").is_file()
    indices = sorted(table)
    # no fading, perfect CSI: each step of 3 indices needs more SNR (the table's rates rise)
    assert all(table[a] < table[b] for a, b in itertools.pairwise(indices))
    monkeypatch.setattr(nr_mcs, "_MEMO", {})
    said.clear()
    assert nr_mcs.thresholds(config, slots=8, progress=said.append) == table and not said
    chosen = nr_mcs.resolve(config, table[indices[2]] + 1.0)
    assert chosen.mcs == indices[2]

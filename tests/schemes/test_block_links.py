"""Four devices, four links: each block text on its own link with its own SNR offset,
random spread and outage (multisc.schemes.block_links), as options of multisc."""

import dataclasses
import math

import pytest
import torch

from multisc.channel import ChannelSpec, DigitalLink
from multisc.channel.theory import ber_theory
from multisc.errors import InvalidInputError
from multisc.schemes import Components, SchemeOptions, build_scheme
from multisc.schemes.block_links import BlockLinks


def g(seed=0):
    return torch.Generator().manual_seed(seed)


def scheme_with(components: Components, **changes):
    options = dataclasses.replace(components.options, **changes)
    return build_scheme("multisc", Components(components.models_dir, components.device, options))


@pytest.mark.parametrize("fading", ["awgn", "rayleigh"])
def test_each_link_has_the_bit_error_rate_of_its_own_snr(fading):
    """Long texts over BPSK at nominal 4 dB with offsets 0, -2, -4, -6 dB: each link's
    measured BER equals theory at its own SNR (within 5 binomial standard deviations)."""
    link = DigitalLink("bpsk")
    texts = ["multi text semantic communication " * 150] * 4  # 40,800 bits each
    offsets = (0.0, -2.0, -4.0, -6.0)
    out = BlockLinks(offsets).send(link, texts, ChannelSpec(4.0, fading=fading), g(1))
    assert out.link_snr_db == [4.0, 2.0, 0.0, -2.0] and out.lost == [False] * 4
    for t, snr in zip(out.texts, out.link_snr_db, strict=True):
        p = ber_theory("bpsk", snr, fading)
        assert abs(t.bit_errors / t.bits - p) < 5 * math.sqrt(p * (1 - p) / t.bits)
    rates = [t.bit_errors / t.bits for t in out.texts]
    assert rates == sorted(rates)  # worse links, more errors


def test_zero_offsets_send_exactly_what_one_shared_link_sends():
    """Explicit zero offsets put every block on the run's SNR: the same draws, bit for bit,
    as the default path (so default runs are unchanged)."""
    link = DigitalLink("bpsk")
    texts = ["a dog on a sofa", "a red ball", "grass", "the sky above a house"]
    spec = ChannelSpec(0.0, fading="rayleigh", coherence=4)
    shared = link.send_texts(texts, spec, g(7))
    split = BlockLinks((0.0,) * 4).send(link, texts, spec, g(7)).texts
    assert [t.received for t in split] == [t.received for t in shared]
    assert any(t.bit_errors for t in shared)  # 0 dB Rayleigh: the comparison has errors


def test_outage_loses_blocks_at_its_probability_and_keeps_their_channel_uses():
    link = DigitalLink("bpsk")
    links = BlockLinks(outage=0.3)
    generator, lost, n = g(3), [], 0
    for _ in range(500):
        out = links.send(link, ["one", "two", "three", "four"], ChannelSpec(30.0), generator)
        lost += out.lost
        n += 4
        for t, gone in zip(out.texts, out.lost, strict=True):
            assert t.received == ("" if gone else t.sent)  # 30 dB: what arrives is intact
            assert t.channel_uses == link.channel_uses(8 * len(t.sent))  # spent either way
    share = sum(lost) / n
    assert abs(share - 0.3) < 5 * math.sqrt(0.3 * 0.7 / n)


def test_a_random_spread_draws_each_links_offset_uniformly_below_the_nominal_snr():
    links = BlockLinks(spread_db=6.0)
    generator, snrs = g(5), []
    for _ in range(300):
        snrs += links.send(DigitalLink("bpsk"), ["a"] * 4, ChannelSpec(10.0), generator).link_snr_db
    assert all(4.0 <= s <= 10.0 for s in snrs)
    mean, n = sum(snrs) / len(snrs), len(snrs)
    assert abs(mean - 7.0) < 5 * 6.0 / math.sqrt(12 * n)  # uniform on [4, 10]: mean 7
    assert len(set(snrs)) == len(snrs)


def test_multisc_with_offsets_outage_fuses_what_arrived_and_records_each_link(components, photo):
    scheme = scheme_with(components, link_snr_offsets_db=(30.0, 30.0, -30.0, -30.0))
    prepared = scheme.prepare(photo)
    (result,) = scheme.transmit(prepared, [ChannelSpec(10.0)], g())
    d = result.details
    assert d["link_snr_db"] == [40.0, 40.0, -20.0, -20.0] and d["worst_link_snr_db"] == -20.0
    assert d["link_bit_errors"][:2] == [0, 0] and all(d["link_bit_errors"][2:])
    assert result.texts_received[:2] == prepared.texts[:2]
    assert d["blocks_lost"] == [] and result.channel_uses == scheme.channel_uses(prepared)

    lossy = scheme_with(components, link_outage=0.99)
    (result,) = lossy.transmit(prepared, [ChannelSpec(30.0)], g())
    lost = result.details["blocks_lost"]
    assert lost and "worst_link_snr_db" not in result.details
    for k in lost:  # a lost block: nothing received, nothing corrected, not in the prompt
        assert result.texts_received[k - 1] == "" and result.texts_corrected[k - 1] == ""
    kept = [t for k, t in enumerate(result.texts_corrected, 1) if k not in lost]
    assert all(t.split()[0] in result.prompt for t in kept if t.split())
    assert result.channel_uses == scheme.channel_uses(prepared)  # lost links spent theirs


def test_default_multisc_records_no_link_details(components, photo):
    scheme = build_scheme("multisc", components)
    (result,) = scheme.transmit(scheme.prepare(photo), [ChannelSpec(10.0)], g())
    assert "link_snr_db" not in result.details and not scheme.links.differ


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"link_snr_offsets_db": [0, -3, -6]}, "3 offset(s) for 2 x 2 = 4 block(s)"),
        ({"link_snr_offsets_db": [0, True, 0, 0]}, "link_snr_offsets_db"),
        ({"link_snr_offsets_db": [0, -100, 0, 0]}, "[-60, 60] dB"),
        ({"link_snr_offsets_db": [0, float("nan"), 0, 0]}, "finite"),
        ({"link_outage": 1.0}, "link_outage"),
        ({"link_outage": True}, "link_outage"),
        ({"link_snr_spread_db": -1}, "link_snr_spread_db"),
        ({"rows": 3, "cols": 3, "link_snr_offsets_db": [0, -3, -6, -9]}, "= 9 block(s)"),
    ],
)
def test_bad_link_settings_are_one_line_before_any_work(changes, words):
    with pytest.raises(InvalidInputError) as info:
        SchemeOptions(**changes)
    assert words in str(info.value) and "\n" not in str(info.value)


def test_a_config_refuses_bad_link_settings_at_load_and_a_default_one_hashes_as_before():
    from multisc.experiment.config import load_config

    plain = load_config(schemes=["multisc"])
    at_defaults = load_config(
        schemes=["multisc"], options={"link_snr_spread_db": 0.0, "link_outage": 0.0}
    )
    assert plain.digest() == at_defaults.digest()  # older run directories resume
    offsets = load_config(schemes=["multisc"], options={"link_snr_offsets_db": [0, -3, -6, -9]})
    assert offsets.digest() != plain.digest()
    assert offsets.scheme_options().link_snr_offsets_db == (0, -3, -6, -9)
    varied = load_config(schemes=["multisc"], vary={"link_outage": [0.0, 0.25]})
    assert varied.digest() != plain.digest()
    for bad, words in (
        ({"link_outage": True}, "link_outage"),
        ({"link_snr_offsets_db": [0, 0]}, "link_snr_offsets_db"),
        ({"multisc": {"rows": 1, "cols": 1, "link_snr_offsets_db": [0, -3]}}, "1 x 1"),
    ):
        with pytest.raises(InvalidInputError, match=words) as caught:
            load_config(schemes=["multisc"], options=bad)
        assert "\n" not in str(caught.value)

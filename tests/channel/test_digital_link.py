import math

import pytest
import torch

from multisc.channel import ChannelSpec, DigitalLink, bits_to_text, text_to_bits
from multisc.errors import InvalidInputError

CAPTIONS = [
    "a brown dog runs across a green field of grass",
    "two people ride bicycles along a city street at dusk",
    "a red sailboat floats on a calm blue lake",
    "a plate of pasta with tomato sauce on a wooden table",
    "an old stone bridge over a narrow river in autumn",
]


def test_ldpc_qpsk_delivers_text_error_free_at_3db_where_uncoded_does_not(generator):
    spec = ChannelSpec(3.0)
    texts = CAPTIONS * 8
    coded = DigitalLink("qpsk", "ldpc", 0.5, device="cpu").send_texts(texts, spec, generator)
    assert [t.received for t in coded] == texts
    assert all(t.bit_errors == 0 and t.block_errors == 0 for t in coded)
    uncoded = DigitalLink("qpsk", "none", device="cpu").send_texts(texts, spec, generator)
    wrong = sum(t.received != t.sent for t in uncoded)
    assert wrong == len(texts)  # ~8% BER: every caption of ~50 bytes is hit
    ber = sum(t.bit_errors for t in uncoded) / sum(t.bits for t in uncoded)
    assert 0.05 < ber < 0.11


def test_ldpc_16qam_rate_half_fails_at_6db_and_reports_it(generator):
    link = DigitalLink("16qam", "ldpc", 0.5, max_block_bits=1024, device="cpu")
    bits = torch.randint(0, 2, (64, 1024), generator=generator)
    failed = link.send_bits(bits, ChannelSpec(6.0), generator)
    assert failed.block_errors is not None
    bler = float(failed.block_errors.sum()) / (64 * failed.blocks)
    assert bler > 0.3
    # What is reported is what happened: a block error means the bits really differ.
    wrong_rows = (failed.bits != bits.float()).any(-1)
    assert torch.equal(wrong_rows, failed.block_errors > 0)
    # The same code works 3 dB higher, so the failure is the channel, not a bug.
    fine = link.send_bits(bits, ChannelSpec(9.0), generator)
    assert int(fine.block_errors.sum()) == 0 and torch.equal(fine.bits, bits.float())


@pytest.mark.parametrize("modulation", ["bpsk", "qpsk", "16qam", "64qam"])
@pytest.mark.parametrize("fec", ["none", "ldpc"])
def test_high_snr_roundtrip_of_odd_and_unicode_texts(modulation, fec, generator):
    link = DigitalLink(modulation, fec, device="cpu")
    texts = ["x", "hé", "naïve café — 東京 🐕", "odd length!", "a" * 1057]
    for text, result in zip(
        texts, link.send_texts(texts, ChannelSpec(40.0), generator), strict=True
    ):
        assert result.received == text
        assert result.bits == 8 * len(text.encode())
        assert result.channel_uses == link.channel_uses(result.bits)


def test_empty_text_costs_nothing_and_does_not_crash(generator):
    for fec in ("none", "ldpc"):
        result = DigitalLink("qpsk", fec, device="cpu").send_text("", ChannelSpec(0.0), generator)
        assert (result.received, result.bits, result.channel_uses, result.bit_errors) == (
            "",
            0,
            0,
            0,
        )


def test_invalid_utf8_from_noise_becomes_replacement_characters(generator):
    text = "é" * 400  # two-byte characters: any flipped lead bit breaks the sequence
    result = DigitalLink("bpsk", device="cpu").send_text(text, ChannelSpec(-2.0), generator)
    assert "\ufffd" in result.received


def test_channel_uses_uncoded_and_ldpc():
    assert DigitalLink("bpsk").channel_uses(13) == 13
    assert DigitalLink("16qam").channel_uses(13) == 4  # 13 bits -> 4 symbols (3 padding bits)
    assert DigitalLink("64qam").channel_uses(0) == 0
    ldpc = DigitalLink("16qam", "ldpc", 0.5)
    assert ldpc.channel_uses(1024) == 512  # 1024 / (1/2) / 4
    # Longer than one 5G codeword: segmented into equal blocks (8449 -> 2 x 4225).
    lay = ldpc.layout(8449)
    assert (lay.blocks, lay.info_bits) == (2, 4225)
    assert ldpc.channel_uses(8449) == 2 * lay.coded_bits // 4
    assert lay.coded_bits % 4 == 0 and lay.info_bits / lay.coded_bits == pytest.approx(
        0.5, abs=1e-3
    )
    # Very short messages use the smallest 5G codeword (12 information bits).
    assert DigitalLink("bpsk", "ldpc", 0.5).channel_uses(3) == 24


def test_segmented_ldpc_message_roundtrip(generator):
    link = DigitalLink("qpsk", "ldpc", 0.5, max_block_bits=500, device="cpu")
    bits = torch.randint(0, 2, (3, 1201), generator=generator)
    result = link.send_bits(bits, ChannelSpec(20.0), generator)
    assert result.blocks == 3 and result.bits.shape == (3, 1201)
    assert torch.equal(result.bits, bits.float())
    assert result.channel_uses == link.channel_uses(1201)


def test_same_seed_same_output_different_seed_different():
    link = DigitalLink("qpsk", "none", device="cpu")
    spec = ChannelSpec(2.0, fading="rayleigh", coherence=4)
    bits = text_to_bits(" ".join(CAPTIONS))

    def run(seed):
        return link.send_bits(bits, spec, torch.Generator().manual_seed(seed)).bits

    assert torch.equal(run(7), run(7))
    assert not torch.equal(run(7), run(8))


def test_payloads_of_different_lengths_are_counted_on_their_own(generator):
    link = DigitalLink("16qam", "ldpc", 0.5, device="cpu")
    texts = ["short", CAPTIONS[0], "", CAPTIONS[1]]
    results = link.send_texts(texts, ChannelSpec(30.0), generator)
    assert [r.sent for r in results] == texts  # order kept across length groups
    for r in results:
        assert r.received == r.sent
        assert r.channel_uses == link.channel_uses(8 * len(r.sent.encode()))


def test_batched_bits_keep_rows_apart(generator):
    link = DigitalLink("bpsk", "none", device="cpu")
    bits = torch.stack([torch.zeros(4000), torch.ones(4000)])
    result = link.send_bits(bits, ChannelSpec(0.0), generator)
    # Errors at 0 dB are ~7.9% per row; a row mixed with the other would be ~50%.
    assert torch.all((result.bit_errors.float() / 4000 - 0.0786).abs() < 0.02)


def test_bits_text_roundtrip_is_msb_first():
    assert text_to_bits("A").int().tolist() == [0, 1, 0, 0, 0, 0, 0, 1]
    assert bits_to_text(text_to_bits("héllo 🐕")) == "héllo 🐕"
    assert bits_to_text(torch.tensor([1.0, 1, 1, 1, 1, 1, 1, 1])) == "\ufffd"


@pytest.mark.parametrize("snr", [math.nan, math.inf, -math.inf])
def test_non_finite_snr_is_a_clear_error(snr):
    with pytest.raises(InvalidInputError, match="finite"):
        ChannelSpec(snr)


def test_negative_snr_and_bad_arguments():
    assert ChannelSpec(-10.0).noise_variance == pytest.approx(10.0)
    with pytest.raises(InvalidInputError, match="bpsk, qpsk, 16qam, 64qam"):
        DigitalLink("8psk")
    with pytest.raises(InvalidInputError, match="none, ldpc"):
        DigitalLink("bpsk", "turbo")
    for rate in (0.0, 1.0, 1.5, -0.5):
        with pytest.raises(InvalidInputError, match="between 0 and 1"):
            DigitalLink("bpsk", "ldpc", rate)
    with pytest.raises(InvalidInputError, match=r"1/5 to 0\.95"):
        DigitalLink("bpsk", "ldpc", 0.1)
    with pytest.raises(InvalidInputError, match="awgn, rayleigh"):
        ChannelSpec(3.0, fading="rician")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="coherence"):
        ChannelSpec(3.0, fading="rayleigh", coherence=0)
    with pytest.raises(InvalidInputError, match="shape"):
        DigitalLink("bpsk").send_bits(torch.zeros(2, 2, 2), ChannelSpec(3.0), torch.Generator())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_link_matches_theory():
    link = DigitalLink("qpsk", "ldpc", 0.5, device="cuda")
    g = torch.Generator(device="cuda").manual_seed(0)
    result = link.send_texts(CAPTIONS, ChannelSpec(3.0), g)
    assert [r.received for r in result] == CAPTIONS

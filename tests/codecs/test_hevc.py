import contextlib

import numpy as np
import pytest
from PIL import Image

from multisc.codecs import hevc
from multisc.codecs.hevc_stream import to_compact, to_heif
from multisc.data.sources import sample_photos
from multisc.errors import BudgetTooSmallError, DecodeFailure, InvalidInputError
from multisc.imaging import to_tensor
from multisc.metrics import psnr


@pytest.fixture(scope="module")
def photos():
    return [image for _, image in sample_photos()[:3]]


def test_bits_fall_as_quality_falls(photos):
    for image in photos:
        sizes = [len(hevc.encode(image, q)) for q in (90, 60, 30, 10, 0)]
        assert sizes == sorted(sizes, reverse=True) and sizes[0] > 3 * sizes[-1]


def test_encode_within_never_exceeds_budget_and_quality_rises_with_it(photos):
    image = photos[0]
    qualities = []
    for budget in (20_000, 60_000, 200_000):
        stream, quality = hevc.encode_within(image, budget)
        assert 8 * len(stream) <= budget
        # the next quality up would not have fitted
        if quality < hevc.MAX_QUALITY:
            assert 8 * len(hevc.encode(image, quality + 1)) > budget
        qualities.append(quality)
    assert qualities == sorted(qualities) and qualities[0] < qualities[-1]
    with pytest.raises(BudgetTooSmallError, match="at least"):
        hevc.encode_within(image, 1000)


@pytest.mark.slow
def test_psnr_of_decoded_photos_rises_with_budget(photos):
    for image in photos:
        values = []
        for bits_per_pixel in (0.1, 0.4, 1.5):
            budget = int(bits_per_pixel * image.width * image.height)
            stream, _ = hevc.encode_within(image, budget)
            decoded = hevc.decode(stream)
            assert decoded.size == image.size
            values.append(float(psnr(to_tensor(image)[None], to_tensor(decoded)[None])[0]))
        assert values[0] < values[1] < values[2]
        assert values[2] > 30.0


@pytest.mark.parametrize("size", [(1, 1), (3, 5), (101, 77), (64, 33)])
def test_odd_sizes_roundtrip(size, photos):
    image = photos[0].crop((0, 0, *size))
    decoded = hevc.decode(hevc.encode(image, 80))
    assert decoded.size == image.size and decoded.mode == "RGB"


@pytest.mark.parametrize("chroma", ["420", "444"])
def test_compact_stream_decodes_to_the_pixels_of_the_heif_file(photos, chroma):
    """What travels is BPG-sized: about 300 bytes less than libheif's file, same pixels."""
    import io

    import pillow_heif

    for image in photos:
        for quality in (0, 40):
            heif = hevc.encode_heif(image, quality, chroma)
            stream = hevc.encode(image, quality, chroma)
            assert to_compact(heif) == stream
            assert 290 <= len(heif) - len(stream) <= 400
            expected = np.asarray(pillow_heif.open_heif(io.BytesIO(heif))).copy()[..., :3]
            assert np.array_equal(np.asarray(hevc.decode(stream, isolate=False)), expected)
    # the header is a few bytes: sizes as 7-bit varints, one flags byte
    assert hevc.encode(photos[0], 0, chroma)[:5] == bytes(
        [0x84, 0x00, 0x84, 0x00, 0x20 | int(chroma == "444") * 2 + 1]
    )


def test_compact_stream_parser_rejects_every_malformed_input():
    """Random bytes and damaged streams give DecodeFailure or a rebuilt file, nothing else."""
    rng = np.random.default_rng(0)
    stream = hevc.encode(Image.new("RGB", (33, 17), (200, 30, 40)), 20)
    outcomes = {"failure": 0, "rebuilt": 0}
    for trial in range(2000):
        if trial % 2:
            data = bytearray(stream)
            for pos in rng.integers(0, len(data), 3):
                data[pos] ^= 1 << int(rng.integers(0, 8))
            data = data[: rng.integers(1, len(data) + 1)] if trial % 4 == 1 else data
        else:
            data = bytearray(rng.integers(0, 256, int(rng.integers(0, 60)), dtype=np.uint8))
        try:
            to_heif(bytes(data))
            outcomes["rebuilt"] += 1
        except DecodeFailure:
            outcomes["failure"] += 1
    assert outcomes["failure"] > 500 and outcomes["rebuilt"] > 100


def test_corrupted_streams_fail_cleanly(photos):
    stream = hevc.encode(photos[0], 30)
    header = bytearray(stream)
    header[4] &= 0xFC  # chroma format 0 (monochrome): not what the header can say
    with pytest.raises(DecodeFailure, match="impossible header"):
        hevc.decode(bytes(header))
    with pytest.raises(DecodeFailure, match="impossible size"):
        hevc.decode(b"\x00\x00\x21")
    with pytest.raises(DecodeFailure):
        hevc.decode(stream[: len(stream) // 2])
    with pytest.raises(DecodeFailure):
        hevc.decode(b"")
    # Random flips anywhere: decoding reports a failure or returns an image; never crashes.
    rng = np.random.default_rng(0)
    for _ in range(3):
        noisy = bytearray(stream)
        for pos in rng.integers(0, len(noisy), 40):
            noisy[pos] ^= 1 << int(rng.integers(0, 8))
        with contextlib.suppress(DecodeFailure):
            assert hevc.decode(bytes(noisy)).size == photos[0].size


def test_input_modes_are_converted(photos):
    gray = photos[0].convert("L")
    rgba = photos[0].convert("RGBA")
    sixteen = Image.fromarray(np.asarray(gray).astype(np.uint16) * 257)
    for image in (gray, rgba, photos[0].convert("P"), sixteen):
        assert hevc.decode(hevc.encode(image, 50), isolate=False).size == photos[0].size
    with pytest.raises(InvalidInputError, match=r"\[0, 100\]"):
        hevc.encode(photos[0], 101)

import dataclasses

import numpy as np
import pytest
import torch
from PIL import Image

from multisc.channel import ChannelSpec
from multisc.errors import InvalidInputError, ModelNotAvailableError
from multisc.imaging import to_tensor
from multisc.metrics import psnr
from multisc.schemes import Components, SchemeOptions, build_scheme, scheme_names
from multisc.schemes.base import WORKING_MAX_SIDE

SCHEMES = scheme_names()  # every registered scheme


def g(seed=0):
    return torch.Generator().manual_seed(seed)


def image_psnr(a, b):
    return float(psnr(to_tensor(a)[None], to_tensor(b)[None])[0])


@pytest.mark.parametrize("name", SCHEMES)
def test_every_scheme_end_to_end_returns_an_rgb_image_of_the_input_size(schemes, name, photo):
    scheme = schemes[name]
    prepared = scheme.prepare(photo)
    (result,) = scheme.transmit(prepared, [ChannelSpec(10.0)], g())
    assert result.image.mode == "RGB" and result.image.size == photo.size
    assert result.channel_uses > 0 and result.spec.snr_db == 10.0


def test_multisc_sends_one_text_per_block_and_counts_every_link(schemes, photo):
    scheme = schemes["multisc"]
    prepared = scheme.prepare(photo)
    assert len(prepared.texts) == 4 and prepared.positions[0] == "top left"
    (result,) = scheme.transmit(prepared, [ChannelSpec(10.0)], g())
    text_uses = sum(scheme.text_link.channel_uses(8 * len(t.encode())) for t in prepared.texts)
    slice_uses = scheme.slice_link.channel_uses(prepared.slice_payload)
    assert result.details["text_channel_uses"] == text_uses
    assert result.channel_uses == text_uses + slice_uses == scheme.channel_uses(prepared)
    w, h = prepared.slice_payload.image.size  # analog: ceil(reals / 2) + 1 power factor
    assert slice_uses == -(-(w * h * 3) // 2) + 1
    assert len(schemes["single_text"].prepare(photo).texts) == 1


def test_texts_arrive_intact_at_30db_and_misspelled_at_minus_5db(schemes, photo):
    scheme = schemes["multisc"]
    prepared = scheme.prepare(photo)
    high, low = scheme.transmit(prepared, [ChannelSpec(30.0), ChannelSpec(-5.0)], g())
    assert high.texts_received == prepared.texts and high.details["text_bit_errors"] == 0
    assert all(r != s for r, s in zip(low.texts_received, prepared.texts, strict=True) if s)


def with_options(components: Components, **changes) -> Components:
    """Components with other options (the shared module fixture stays as it is)."""
    options = dataclasses.replace(components.options, **changes)
    return Components(components.models_dir, components.device, options)


def test_bpg_ldpc_is_sharp_at_high_snr_and_fails_flagged_at_minus_3db(components, photo):
    scheme = build_scheme("bpg_ldpc", with_options(components, budget="1/2"))
    prepared = scheme.prepare(photo)
    good, bad = scheme.transmit(prepared, [ChannelSpec(20.0), ChannelSpec(-3.0)], g())
    assert not good.failed and image_psnr(photo, good.image) > 30.0
    assert bad.failed and bad.details["bit_errors"] > 0
    colours = np.asarray(bad.image).reshape(-1, 3)
    assert (colours == colours[0]).all()  # the flat failure image, scored like any other
    assert good.channel_uses == bad.channel_uses == prepared.budget_channel_uses


@pytest.fixture(scope="module")
def jscc_native(components):
    """deep JSCC at its own bandwidth ratio (no budget)."""
    return build_scheme("deep_jscc", with_options(components, budget=None))


def test_deep_jscc_degrades_smoothly(jscc_native, photo):
    scheme = jscc_native
    prepared = scheme.prepare(photo)
    snrs = [-3.0, 0.0, 5.0, 10.0, 20.0]
    values = [
        image_psnr(photo, r.image)
        for r in scheme.transmit(prepared, [ChannelSpec(s) for s in snrs], g())
    ]
    assert values[-1] > values[0] + 0.5
    steps = np.diff(values)
    assert steps.min() > -0.1 and steps.max() < 3.0  # no cliff


def test_equal_bandwidth_gives_baselines_the_channel_uses_of_multisc(schemes, photo):
    target = schemes["multisc"].channel_uses(schemes["multisc"].prepare(photo))
    (bpg,) = schemes["bpg_ldpc"].transmit(
        schemes["bpg_ldpc"].prepare(photo), [ChannelSpec(10.0)], g()
    )
    assert bpg.channel_uses == target  # charged its whole budget
    (jscc,) = schemes["deep_jscc"].transmit(
        schemes["deep_jscc"].prepare(photo), [ChannelSpec(10.0)], g()
    )
    # never above the budget; on this 160x120 photo sizes in steps of 4 pixels land
    # within 5% (within 1% on photos of a few hundred pixels a side)
    assert 0.95 * target <= jscc.channel_uses <= target


@pytest.mark.parametrize("name", SCHEMES)
def test_same_seed_same_output_and_batched_equals_one_by_one(schemes, name, photo):
    scheme = schemes[name]
    prepared = scheme.prepare(photo)
    specs = [ChannelSpec(2.0), ChannelSpec(8.0, fading="rayleigh", coherence=4)]
    batched = scheme.transmit(prepared, specs, g(7))
    single = [scheme.transmit(prepared, [spec], g(7))[0] for spec in specs]
    again = scheme.transmit(prepared, specs, g(7))
    for a, b, c in zip(batched, single, again, strict=True):
        # float32 kernels sum in a batch-size-dependent order: a few 1/255 apart at most
        # (the generator tests show exact equality in float64); repeats are exact.
        diff = np.abs(np.asarray(a.image).astype(int) - np.asarray(b.image))
        assert diff.max() <= 3 and diff.mean() < 0.05
        assert np.array_equal(np.asarray(a.image), np.asarray(c.image))
        assert a.texts_received == b.texts_received and a.channel_uses == b.channel_uses
    other = scheme.transmit(prepared, specs[:1], g(8))[0]
    if name != "bpg_ldpc":  # a decoded HEVC stream is the same whatever the noise was
        assert not np.array_equal(np.asarray(other.image), np.asarray(batched[0].image))


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "I;16"])
def test_input_modes_are_converted(schemes, photo, mode):
    image = (
        photo.convert(mode)
        if mode != "I;16"
        else Image.fromarray(np.asarray(photo.convert("L")).astype(np.uint16) * 257)
    )
    (result,) = schemes["multisc"].transmit(
        schemes["multisc"].prepare(image), [ChannelSpec(10.0)], g()
    )
    assert result.image.mode == "RGB" and result.image.size == photo.size


def test_tiny_and_huge_images(schemes, jscc_native):
    with pytest.raises(InvalidInputError, match="at least one pixel per block"):
        schemes["multisc"].prepare(Image.new("RGB", (1, 1)))
    for scheme in (jscc_native, schemes["vlm_csc"]):
        (tiny,) = scheme.transmit(
            scheme.prepare(Image.new("RGB", (1, 1))), [ChannelSpec(10.0)], g()
        )
        assert tiny.image.size == (1, 1)
    huge = Image.new("RGB", (10000, 8000), (90, 120, 30))
    prepared = jscc_native.prepare(huge)  # resized to the working size, not out of memory
    assert prepared.reference.size == (WORKING_MAX_SIDE, 819)
    (result,) = jscc_native.transmit(prepared, [ChannelSpec(10.0)], g())
    assert result.image.size == (WORKING_MAX_SIDE, 819)


def test_unknown_scheme_and_missing_weights(tmp_path):
    with pytest.raises(
        InvalidInputError, match="multisc, single_text, vlm_csc, bpg_ldpc, deep_jscc"
    ):
        build_scheme("jpeg", Components(tmp_path, "cpu"))
    with pytest.raises(ModelNotAvailableError, match="not available"):
        build_scheme("vlm_csc", Components(tmp_path, "cpu"))
    # no checkpoint configured: the shipped ones, one per ratio
    built = build_scheme("deep_jscc", Components(tmp_path, "cpu", SchemeOptions(budget=None)))
    assert [str(r) for r in built.ratios] == ["1/6", "1/12", "1/24", "1/48"]
    with pytest.raises(InvalidInputError, match="needs a checkpoint"):
        build_scheme("deep_jscc", Components(tmp_path, "cpu", SchemeOptions(jscc_checkpoint=[])))


def test_equal_bandwidth_reuses_multisc_prepare_instead_of_captioning_again(components, photo):
    scheme = build_scheme("multisc", components)
    assert build_scheme("multisc", components) is scheme  # one shared instance
    captioner = components.captioner()
    calls = []
    original = captioner.caption

    def counting(images, prompts=None):
        calls.append(len(images))
        return original(images, prompts)

    captioner.caption = counting
    try:
        image = photo.rotate(180)  # an image nothing has prepared yet
        prepared = scheme.prepare(image)
        for name in ("bpg_ldpc", "deep_jscc"):
            build_scheme(name, components).prepare(image)
        assert calls == [4]  # the four blocks, captioned once for all three schemes
        assert scheme.prepare(image) is prepared
    finally:
        captioner.caption = original

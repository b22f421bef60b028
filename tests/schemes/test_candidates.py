"""Choosing among K candidate images at the receiver (``candidates``, ``select``)."""

import dataclasses

import numpy as np
import pytest
import torch
from PIL import Image

from multisc.channel import ChannelSpec
from multisc.receiver.selection import BOX_BITS, candidate_generator, choose, slice_score
from multisc.schemes import build_scheme
from multisc.schemes.base import channel_seeds, generators_for


def g(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def pick(components):
    def make(name, k, select="text"):
        options = dataclasses.replace(components.options, candidates=k, select=select)
        return build_scheme(name, components.with_options(options))

    return make


def close(a, b):
    """Float32 kernels sum in a batch-size-dependent order: a few 1/255 apart at most."""
    diff = np.abs(np.asarray(a).astype(int) - np.asarray(b).astype(int))
    return diff.max() <= 3 and diff.mean() < 0.05


@pytest.mark.parametrize("select", ["text", "slice", "text+slice"])
def test_k_candidates_are_one_batched_generation_equal_to_k_separate_ones(
    pick, photo, select, monkeypatch
):
    k = 3
    scheme = pick("multisc", k, select)
    prepared = scheme.prepare(photo)
    specs = [ChannelSpec(3.0), ChannelSpec(12.0)]
    calls = []
    generate = scheme.generator.generate

    def recorded(prompts, generators, slices=None, output_sizes=None):
        images = generate(prompts, generators, slices=slices, output_sizes=output_sizes)
        calls.append((list(prompts), list(slices or []), list(output_sizes), images))
        return images

    monkeypatch.setattr(scheme.generator, "generate", recorded)
    results = scheme.transmit(prepared, specs, g(3))
    monkeypatch.undo()
    assert len(calls) == 1 and len(calls[0][0]) == len(specs) * k  # one batched call
    prompts, slices, sizes, images = calls[0]
    seeds = channel_seeds(g(3), specs)
    for i, (result, seed) in enumerate(zip(results, seeds, strict=True)):
        scores = result.details["candidate_scores"]
        assert set(scores) == set(select.split("+")) and all(len(v) == k for v in scores.values())
        chosen = result.details["chosen_candidate"]
        assert chosen == choose(scores, select)
        assert result.image is images[i * k + chosen]  # the kept one is that candidate
        for j in range(k):  # each candidate drawn alone: the same image
            generator = generators_for(seed, torch.device("cpu"))[1] if j == 0 else None
            alone = generate(
                [prompts[i * k + j]],
                [generator or candidate_generator(seed, j)],
                slices=[slices[i * k + j]],
                output_sizes=[sizes[i * k + j]],
            )[0]
            assert close(alone, images[i * k + j]), (i, j)
        assert len({np.asarray(images[i * k + j]).tobytes() for j in range(k)}) == k
        # the box travels (and is counted) only when a slice score needs it
        box = result.link_uses.get("box")
        if "slice" in select:
            assert box == scheme.text_link.channel_uses(BOX_BITS)
        else:
            assert box is None


@pytest.mark.slow
def test_candidate_zero_is_the_papers_single_draw(pick, photo):
    one, four = pick("multisc", 1), pick("multisc", 4)
    prepared = one.prepare(photo)
    (paper,) = one.transmit(prepared, [ChannelSpec(6.0)], g(5))
    assert "candidate_scores" not in paper.details and "box" not in paper.link_uses
    (chosen,) = four.transmit(prepared, [ChannelSpec(6.0)], g(5))
    assert chosen.texts_received == paper.texts_received and chosen.prompt == paper.prompt
    if chosen.details["chosen_candidate"] == 0:
        assert close(chosen.image, paper.image)
    # the slice-only selection spends 64 more bits over the text link, nothing else
    (by_slice,) = pick("multisc", 4, "slice").transmit(prepared, [ChannelSpec(6.0)], g(5))
    extra = by_slice.channel_uses - paper.channel_uses
    assert extra == one.text_link.channel_uses(BOX_BITS)


@pytest.mark.parametrize("select", ["text", "slice", "text+slice"])
@pytest.mark.slow
def test_the_receiver_never_sees_the_original(pick, photo, select):
    scheme = pick("multisc", 4, select)
    prepared = scheme.prepare(photo)
    noise = np.random.default_rng(0).integers(0, 256, (photo.height, photo.width, 3), np.uint8)
    other = dataclasses.replace(prepared, reference=Image.fromarray(noise))
    specs = [ChannelSpec(4.0), ChannelSpec(15.0)]
    for a, b in zip(
        scheme.transmit(prepared, specs, g(9)), scheme.transmit(other, specs, g(9)), strict=True
    ):
        assert a.details["chosen_candidate"] == b.details["chosen_candidate"]
        assert a.details["candidate_scores"] == b.details["candidate_scores"]
        assert np.array_equal(np.asarray(a.image), np.asarray(b.image))


def test_vlm_csc_chooses_by_text(pick, photo):
    scheme = pick("vlm_csc", 2, "slice")  # it sends no slice: text, whatever select says
    (result,) = scheme.transmit(scheme.prepare(photo), [ChannelSpec(6.0)], g(1))
    assert set(result.details["candidate_scores"]) == {"text"}


def test_slice_score_prefers_the_candidate_that_matches_the_received_slice():
    rng = np.random.default_rng(0)
    scene = rng.integers(0, 256, (40, 60, 3), np.uint8)
    box = (10, 5, 30, 25)
    received = Image.fromarray(scene).crop(box)
    perfect, other = Image.fromarray(scene), Image.fromarray(255 - scene)
    assert slice_score(perfect, received, box, (10, 10)) == pytest.approx(0.0, abs=1e-12)
    assert slice_score(other, received, box, (10, 10)) < -0.05


def test_choose_standardizes_each_score_before_summing():
    # text alone picks 0; slice alone picks 2; summed after standardizing: the middle one
    scores = {"text": [0.30, 0.29, 0.10], "slice": [-0.9, -0.2, -0.1]}
    assert choose(scores, "text") == 0 and choose(scores, "slice") == 2
    assert choose(scores, "text+slice") == 1
    assert choose({"text": [0.2, 0.2]}, "text") == 0  # ties: the paper's draw

"""A semantic prepare's stages are kept on their own in the run's prepare cache: captions
from another captioner reuse the segmentation, another segmenter reuses the captions, and
a stage entry someone else wrote is used only when it passes its check."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from multisc.experiment.prepare_cache import PrepareCache
from multisc.schemes import Components, SchemeOptions, build_scheme


@pytest.fixture
def images(photo):
    return [photo, photo.rotate(90, expand=True).resize((90, 120))]


def _scheme(tiny_models, cache: PrepareCache, **parts):
    options = SchemeOptions(steps=2, generation_size=32, segment_size=64, caption_tokens=5, **parts)
    scheme = build_scheme("multisc", Components(tiny_models, "cpu", options))
    scheme.use_stages(cache.stage())
    return scheme


def _runs(cache: PrepareCache) -> dict[str, int]:
    counts: dict[str, int] = {}
    for (_, stage), n in cache.stage().counts().items():
        counts[stage] = counts.get(stage, 0) + n
    return counts


def test_another_captioner_reuses_the_segmentation_and_another_segmenter_the_captions(
    tiny_models, tmp_path, images
):
    cache = PrepareCache(tmp_path / "run" / "cache", "settings")
    first = _scheme(tiny_models, cache).prepare_many(images)
    assert _runs(cache) == {"segment": 2, "caption": 2}
    # a new process: nothing in memory, the stages on disk
    blip = _scheme(tiny_models, cache, captioner="blip").prepare_many(images)
    assert _runs(cache) == {"segment": 2, "caption": 4}  # captions only
    assert [p.box for p in blip] == [p.box for p in first]
    assert [p.texts for p in blip] != [p.texts for p in first]
    other = _scheme(tiny_models, cache, segmenter="lraspp_mobilenet_v3_large").prepare_many(images)
    assert _runs(cache) == {"segment": 4, "caption": 4}  # segmentation only
    assert [p.texts for p in other] == [p.texts for p in first]
    again = _scheme(tiny_models, cache).prepare_many(images)  # everything from disk
    assert _runs(cache) == {"segment": 4, "caption": 4}
    for a, b in zip(again, first, strict=True):
        assert a.texts == b.texts and a.box == b.box and a.class_name == b.class_name
        assert a.timings == b.timings  # the seconds recorded when each stage ran


def test_a_stage_entry_that_fails_its_check_is_computed_again(tiny_models, tmp_path, images):
    cache = PrepareCache(tmp_path / "run" / "cache", "settings")
    first = _scheme(tiny_models, cache).prepare_many(images[:1])
    entries = sorted((tmp_path / "run" / "cache" / "prepare" / "stages").rglob("*.zip"))
    assert len(entries) == 2
    for entry in entries:  # a crafted entry: a caption list of the wrong length, a bad mask
        from multisc.experiment import safe_cache

        value, seconds = safe_cache.loads(entry.read_bytes())
        if isinstance(value, tuple):
            value = (*value, "an extra caption")
        else:
            import dataclasses

            value = dataclasses.replace(value, mask=np.ones((3, 3), dtype=bool))
        entry.write_bytes(safe_cache.dumps((value, seconds)))
    again = _scheme(tiny_models, cache).prepare_many(images[:1])
    assert _runs(cache) == {"segment": 2, "caption": 2}  # both computed again
    assert again[0].texts == first[0].texts and again[0].box == first[0].box
    for entry in entries:  # damaged bytes: computed again, never the pair's failure
        entry.write_bytes(b"PK\x03\x04 not a zip")
    _scheme(tiny_models, cache).prepare_many(images[:1])
    assert _runs(cache) == {"segment": 3, "caption": 3}
    assert all(zipfile.is_zipfile(e) for e in entries)  # replaced by good entries


def test_fresh_cache_recomputes_every_stage(tiny_models, tmp_path, images):
    cache = PrepareCache(tmp_path / "run" / "cache", "settings")
    _scheme(tiny_models, cache).prepare_many(images[:1])
    fresh = PrepareCache(tmp_path / "run" / "cache", "settings", fresh=True)
    _scheme(tiny_models, fresh).prepare_many(images[:1])
    assert _runs(cache) == {"segment": 2, "caption": 2}

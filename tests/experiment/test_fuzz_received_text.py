"""Fuzzing (hypothesis): whatever bytes the channel delivers, and whatever a file is called,
is data everywhere it goes. Received texts are arbitrary bytes decoded as the links decode
them; they go through correction, fusion, scoring, the store, the CSV/Parquet exports and the
image grids. File names go through image ids. Case counts are in each ``settings``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from multisc.channel.bits import bits_to_text
from multisc.data.sources import image_id
from multisc.experiment.store import ResultStore
from multisc.experiment.sweep import csv_safe, export
from multisc.receiver.correction import NoCorrector, SymSpellCorrector
from multisc.receiver.fusion import fuse_texts
from multisc.report.grids import image_grid
from multisc.runroot import RunRoot

FUZZ = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def received(data: bytes) -> str:
    """Bytes as a text link delivers them (MSB-first bits, invalid UTF-8 as U+FFFD)."""
    import torch

    bits = torch.tensor([(byte >> (7 - i)) & 1 for byte in data for i in range(8)])
    return bits_to_text(bits.to(torch.uint8))


@pytest.fixture(scope="module")
def symspell():
    return SymSpellCorrector()


@pytest.fixture(scope="module")
def clip_tokenizer(tiny_models):
    from transformers import CLIPTokenizer

    return CLIPTokenizer.from_pretrained(tiny_models / "generator" / "tokenizer")


@FUZZ
@given(blocks=st.lists(st.binary(max_size=80), min_size=1, max_size=4))
def test_correction_and_fusion_take_any_received_bytes(blocks, symspell, clip_tokenizer):
    texts = [received(b) for b in blocks]
    for corrector in (NoCorrector(), symspell):
        corrected = corrector.correct(texts)
        assert len(corrected) == len(texts) and all(isinstance(t, str) for t in corrected)
    prompt = fuse_texts(texts, clip_tokenizer)
    assert isinstance(prompt, str)
    assert len(clip_tokenizer(prompt)["input_ids"]) <= 77


@FUZZ
@given(sent=st.text(max_size=60), data=st.binary(max_size=60))
def test_scores_of_any_received_text_are_finite_numbers(sent, data):
    from multisc.metrics.text import bleu

    value = bleu(sent, received(data))
    assert 0.0 <= value <= 100.0


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(texts=st.lists(st.binary(max_size=60), min_size=1, max_size=3))
def test_store_and_exports_keep_any_received_text(texts, tmp_path_factory):
    out = tmp_path_factory.mktemp("fuzz-store")
    store = ResultStore(out / "results.sqlite")
    decoded = [received(t) for t in texts]
    try:
        run = store.start_run("digest", "config: 1", {"multisc": "test"}, "cpu")
        row = {
            "image_id": "x", "scheme": "multisc", "snr_db": 0.0, "fading": "awgn", "seed": 0,
            "metrics": {"bleu": 1.0}, "channel_uses": 10, "bits_sent": 8, "failed": False,
            "texts_sent": ["a"], "texts_received": decoded, "texts_corrected": decoded,
            "prompt": decoded[0], "timings": {}, "details": {}, "image_path": "images/x.png",
        }  # fmt: skip
        store.add_results([row], run)
        (back,) = store.results()
        assert back["texts_received"] == decoded and back["prompt"] == decoded[0]
        export(store, RunRoot(out))
    finally:
        store.close()
    csv = pd.read_csv(out / "results.csv", keep_default_na=False, dtype=str)
    assert csv["prompt"][0] == csv_safe(decoded[0])  # neutralised for spreadsheets
    assert all(ord(c) >= 32 or c in "\t\n\r" for c in csv["prompt"][0])
    assert pd.read_parquet(out / "results.parquet")["prompt"][0] == decoded[0]


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.binary(min_size=1, max_size=120))
def test_grids_draw_any_received_prompt(data, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("fuzz-grid")
    (run_dir / "images" / "x").mkdir(parents=True)
    Image.new("RGB", (24, 16), (90, 120, 30)).save(run_dir / "images" / "x" / "reference.png")
    Image.new("RGB", (24, 16), (9, 12, 3)).save(run_dir / "images" / "x" / "out.png")
    row = {
        "image_id": "x", "seed": 0, "scheme": "vlm_csc", "snr_db": 3.0,
        "image_path": "images/x/out.png", "failed": False, "prompt": received(data),
    }  # fmt: skip
    (run_dir / "grids").mkdir()
    assert (run_dir / "grids" / image_grid(RunRoot(run_dir), "x", [row])).is_file()


@settings(max_examples=300, deadline=None)
@given(names=st.lists(st.text(min_size=1, max_size=40), min_size=2, max_size=2, unique=True))
def test_any_file_name_gives_a_path_and_html_safe_id(names):
    ids = [image_id(Path(f"{name}.png").name) if "/" not in name else image_id(name + ".png")
           for name in names]  # fmt: skip
    for value in ids:
        assert re.fullmatch(r"[A-Za-z0-9_-][A-Za-z0-9._-]*", value), value
        assert Path("images", value).resolve().parent == Path("images").resolve()
    stems = [Path(n + ".png").stem for n in names]
    if stems[0] != stems[1]:
        assert ids[0] != ids[1]

"""`multisc captioner eval`: the paper's Table I for the captioners multisc loads, on tiny
random models of the real classes; BLEU checked against NLTK and sacrebleu themselves."""

import json
import os

import pytest
from nltk.translate.bleu_score import SmoothingFunction
from nltk.translate.bleu_score import corpus_bleu as nltk_corpus_bleu
from sacrebleu.metrics import BLEU

from multisc.captioner.evaluate import evaluate_captioners
from multisc.captioner.references import read_references, sample_references
from multisc.cli import main
from multisc.data.sources import SAMPLE_PHOTOS, sample_photos
from multisc.errors import InvalidInputError
from multisc.metrics.text import multi_reference_bleu

REFS = [["a cat on the mat", "the cat sat on a mat"], ["a dog runs"], ["two birds", "a bird"]]
HYPS = ["a cat sat on the mat", "a big dog runs fast", "one bird"]


def test_multi_reference_bleu_is_nltks_corpus_bleu_and_sacrebleus_corpus_score():
    got = multi_reference_bleu(REFS, HYPS)
    tokens = [[r.split() for r in refs] for refs in REFS]
    for n in (1, 2, 3, 4):
        expected = nltk_corpus_bleu(
            tokens, [h.split() for h in HYPS], weights=(1 / n,) * n,
            smoothing_function=SmoothingFunction().method1,
        )  # fmt: skip
        assert got[f"bleu{n}"] == pytest.approx(expected, abs=1e-12)
    streams = [[r[0] for r in REFS], [r[1] if len(r) > 1 else None for r in REFS]]
    assert got["sacrebleu"] == pytest.approx(BLEU().corpus_score(HYPS, streams).score)
    assert multi_reference_bleu([], []) is None
    with pytest.raises(InvalidInputError):
        multi_reference_bleu([[]], ["x"])


def test_the_shipped_references_cover_every_bundled_photo_whole_and_in_2x2_blocks():
    refs = sample_references()
    blocks = ("", "top left", "top right", "bottom left", "bottom right")
    for name in SAMPLE_PHOTOS:
        for block in blocks:
            assert refs.get((name, block)), (name, block)
    assert all(len(refs[(name, "")]) >= 2 for name in SAMPLE_PHOTOS)


def test_coco_and_csv_references_are_read_and_bad_files_are_one_line(tmp_path):
    coco = tmp_path / "captions.json"
    coco.write_text(json.dumps({
        "images": [{"id": 7, "file_name": "COCO_val2014_000000000007.jpg"}],
        "annotations": [{"image_id": 7, "caption": "A dog. "}, {"image_id": 7, "caption": "a pup"}],
    }))  # fmt: skip
    assert read_references(coco) == {("COCO_val2014_000000000007", ""): ["A dog.", "a pup"]}
    table = tmp_path / "refs.csv"
    table.write_text("image,caption\nphoto.png,a red bus\nphoto.png,a bus\n")
    assert read_references(table) == {("photo", ""): ["a red bus", "a bus"]}
    cases = {
        "wrong.csv": ("name,text\na,b\n", "image,caption"),
        "empty.csv": ("image,caption\n", "no captions"),
        "bad.json": ('{"images": [], "annotations": [{"image_id": 1}]}', "COCO"),
        "deep.json": ("[" * 100_000 + "]" * 100_000, "COCO"),
        "refs.txt": ("a dog", ".json or an image,caption .csv"),
    }
    for name, (text, words) in cases.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(InvalidInputError, match=words) as caught:
            read_references(tmp_path / name)
        assert "\n" not in str(caught.value)
    os.symlink(table, tmp_path / "link.csv")
    with pytest.raises(InvalidInputError, match="not a regular file"):
        read_references(tmp_path / "link.csv")


@pytest.fixture(scope="module")
def results(tiny_models):
    images = [(n, im.resize((96, 64))) for n, im in sample_photos()[:3]]
    refs = {k: v for k, v in sample_references().items() if k[0] != images[2][0]}  # one unscored
    return (
        images,
        refs,
        evaluate_captioners(
            ["llava-interleave-qwen-0.5b", "blip"],
            images,
            refs,
            tiny_models,
            "cpu",
            max_new_tokens=8,
            batch_size=16,
        ),
    )


def test_every_captioner_whole_and_in_blocks_with_bleu_from_its_own_captions(results):
    _, refs, rows = results
    assert [(r.captioner, r.mode) for r in rows] == [
        ("llava-interleave-qwen-0.5b", "whole image"), ("llava-interleave-qwen-0.5b", "2x2 blocks"),
        ("blip", "whole image"), ("blip", "2x2 blocks"),
    ]  # fmt: skip
    for r in rows:
        per_image = 1 if r.mode == "whole image" else 4
        assert r.images == 3 and r.captions == len(r.texts) == 3 * per_image
        assert r.scored == 2 * per_image  # the third image has no reference
        scored = [(refs[(t["image"], t["block"])], t["caption"]) for t in r.texts
                  if (t["image"], t["block"]) in refs]  # fmt: skip
        expected = multi_reference_bleu([a for a, _ in scored], [b for _, b in scored])
        assert (r.bleu1, r.bleu4, r.sacrebleu) == (
            expected["bleu1"],
            expected["bleu4"],
            expected["sacrebleu"],
        )
        assert r.characters == sum(len(t["caption"]) for t in r.texts) / r.captions
        assert r.seconds_per_image > 0 and r.peak_memory_mib > 0 and r.parameters > 1000


def test_batched_captions_are_the_captions_one_by_one_and_tokens_are_the_tokenizers(
    results, tiny_models
):
    from multisc.captioner.evaluate import load_captioner

    images, refs, rows = results
    one_by_one = evaluate_captioners(
        ["llava-interleave-qwen-0.5b"],
        images,
        refs,
        tiny_models,
        "cpu",
        max_new_tokens=8,
        batch_size=1,
    )
    assert [r.texts for r in one_by_one] == [r.texts for r in rows[:2]]
    captioner = load_captioner("llava-interleave-qwen-0.5b", tiny_models, "cpu", max_new_tokens=8)
    tokenizer = captioner.processor.tokenizer
    counts = [len(tokenizer(t["caption"], add_special_tokens=False)["input_ids"])
              for t in rows[0].texts]  # fmt: skip
    assert rows[0].tokens == sum(counts) / len(counts)
    assert rows[0].parameters == sum(p.numel() for p in captioner.model.parameters())


def test_the_command_runs_out_of_the_box_on_the_bundled_photos(tiny_models, capsys, tmp_path):
    saved = tmp_path / "table1.json"
    argv = [
        "captioner", "eval", "--models", str(tiny_models), "--limit", "1",
        "--caption-tokens", "4", "--captioners", "blip", "--out", str(saved), "--json",
    ]  # fmt: skip
    assert main(argv) == 0
    payload = json.loads(capsys.readouterr().out)
    assert [r["mode"] for r in payload["results"]] == ["whole image", "2x2 blocks"]
    assert payload["results"][0]["scored"] == 1 and "texts" not in payload["results"][0]
    assert payload["results"][0]["stand_in"]  # tiny weights: said, in the table and here
    assert len(json.loads(saved.read_text())["results"][1]["texts"]) == 4
    assert main(["captioner", "eval", "--images", str(tmp_path), "--models", str(tiny_models)]) == 2
    assert "--references" in capsys.readouterr().err
    assert main(["captioner", "eval", "--run", str(tmp_path / "no-run")]) == 2
    assert "not a run directory" in capsys.readouterr().err
    assert not (tmp_path / "no-run").exists()  # refused before any work, nothing made


@pytest.mark.slow  # a whole report in a subprocess: the full suite
def test_the_table_goes_into_a_runs_report_and_a_hostile_table_file_shows_nothing_else(
    tiny_models, capsys, tmp_path
):
    run = tmp_path / "run"
    assert main(["run", "--schemes", "deep_jscc", "--limit", "1", "--snr", "0",
                 "--out", str(run), "--json"]) == 0  # fmt: skip
    capsys.readouterr()
    argv = [
        "captioner", "eval", "--models", str(tiny_models), "--limit", "1",
        "--caption-tokens", "4", "--captioners", "blip", "--run", str(run), "--json",
    ]  # fmt: skip
    assert main(argv) == 0
    written = json.loads(capsys.readouterr().out)
    assert main(["report", str(run), "--json"]) == 0
    page = (run / "report.html").read_text()
    assert (
        "Captioners (the paper&#39;s Table I)" in page or "Captioners (the paper's Table I)" in page
    )
    sacrebleu = written["results"][0]["sacrebleu"]
    assert f"<td>{sacrebleu:,.2f}</td>" in page and "<td>2x2 blocks</td>" in page
    (run / "captioners.json").write_text(json.dumps({"results": [
        {"captioner": "<script>x</script>", "bleu1": "1e999", "tokens": [1], "scored": True},
        "not a row",
    ]}))  # fmt: skip
    assert main(["report", str(run), "--json"]) == 0
    page = (run / "report.html").read_text()
    assert "<script>x</script>" not in page and "&lt;script&gt;" in page

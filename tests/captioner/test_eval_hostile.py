"""``captioner eval`` against hostile input: every output path checked before any
captioning (a folder, a missing parent, a link, dangling or not: never written through),
references that are not a CSV it reads, and a run's captioners table of another shape."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from multisc.cli import main


def _eval(*args: str) -> int:
    return main(["captioner", "eval", "--captioners", "blip", *args])


@pytest.mark.parametrize("kind", ["folder", "missing parent", "dangling link", "link"])
def test_a_bad_out_is_refused_before_any_captioning(kind, tmp_path, capsys, monkeypatch):
    import multisc.captioner.evaluate as evaluate

    def never(*args, **kwargs):
        raise AssertionError("captioning started")

    monkeypatch.setattr(evaluate, "evaluate_captioners", never)
    outside = tmp_path / "outside.json"
    out = {
        "folder": tmp_path,
        "missing parent": tmp_path / "nope" / "t.json",
        "dangling link": tmp_path / "dangling.json",
        "link": tmp_path / "link.json",
    }[kind]
    if kind == "dangling link":
        out.symlink_to(outside)
    if kind == "link":
        outside.write_text("keep")
        out.symlink_to(outside)
    assert _eval("--out", str(out)) == 2
    said = capsys.readouterr().err
    assert "--out" in said and "Traceback" not in said
    assert not outside.exists() or outside.read_text() == "keep"  # nothing written through


def test_references_past_the_csv_field_limit_are_one_line(tmp_path, capsys):
    path = tmp_path / "refs.csv"
    path.write_text('image,caption\nastronaut,"' + "x" * 200_000 + '"\n')
    assert _eval("--references", str(path), "--images", "samples") == 2
    said = capsys.readouterr().err
    assert "not a CSV this reads" in said and "Traceback" not in said


@pytest.mark.parametrize("results", [5, True, "text", [5, "x"], None])
def test_a_captioners_table_of_another_shape_shows_no_rows(results, tmp_path):
    from multisc.report.data import read_captioners
    from multisc.runroot import RunRoot

    root = RunRoot(tmp_path)
    (tmp_path / "captioners.json").write_text(json.dumps({"results": results}))
    assert read_captioners(root) == []


def test_formula_like_captions_round_trip_as_text(tmp_path):
    """Captions starting with =, +, -, @ are data: read back exactly, never evaluated."""
    from multisc.captioner.references import read_references

    path = tmp_path / "refs.csv"
    path.write_text("image,caption\na.png,=cmd|' /C calc'!A0\nb.png,+1+1\nc.png,@SUM(1)\n")
    found = read_references(path)
    assert found[("a", "")] == ["=cmd|' /C calc'!A0"] and found[("c", "")] == ["@SUM(1)"]
    assert Path(path).read_text().count("\n") == 4


@pytest.mark.parametrize(
    ("content", "said"),
    [
        ("{not json", "not COCO captions JSON"),
        ("[" * 100_000 + "]" * 100_000, "not COCO captions JSON"),
        ('{"images": 5, "annotations": []}', "not COCO captions JSON"),
        ("x" * 2048, "over the 1,024 read"),
    ],
    ids=["malformed", "nested 100,000 deep", "wrong shape", "too large"],
)
def test_reference_json_from_elsewhere_is_one_line(content, said, tmp_path, monkeypatch):
    from multisc.captioner import references
    from multisc.errors import InvalidInputError

    monkeypatch.setattr(references, "MAX_REFERENCE_BYTES", 1024 if "x" * 10 in content else 1 << 30)
    path = tmp_path / "refs.json"
    path.write_text(content)
    with pytest.raises(InvalidInputError, match=said):
        references.read_references(path)


def test_references_naming_images_that_do_not_exist_score_nothing(tmp_path, capsys, tiny_models):
    """References for other images: the table is written, every BLEU empty, and said."""
    path = tmp_path / "refs.csv"
    path.write_text("image,caption\nnot-a-photo.png,a thing\n")
    out = tmp_path / "table.json"
    code = main(["captioner", "eval", "--captioners", "blip", "--references", str(path),
                 "--models", str(tiny_models), "--limit", "1", "--caption-tokens", "4",
                 "--out", str(out)])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 0 and "no caption had a reference for: blip" in err
    results = json.loads(out.read_text())["results"]
    assert [r["scored"] for r in results] == [0, 0] and all(r["bleu4"] is None for r in results)

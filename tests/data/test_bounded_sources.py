"""A folder or glob naming too many files is refused from their names alone, before any is
opened (and, in a run, before the run directory is named)."""

from __future__ import annotations

import pytest

from multisc.data import sources
from multisc.errors import InvalidInputError


@pytest.fixture
def many(tmp_path, monkeypatch):
    """30 empty 'PNG' files (none decodable) and bounds of 20 names, 10 images."""
    for k in range(30):
        (tmp_path / f"{k:02d}.png").write_bytes(b"")
    monkeypatch.setattr(sources, "MAX_MATCHES", 20)
    monkeypatch.setattr(sources, "MAX_FILES", 10)
    opened = []
    monkeypatch.setattr(sources, "open_image", lambda path: opened.append(path))
    return tmp_path, opened


@pytest.mark.parametrize("kind", ["glob", "folder"])
def test_too_many_names_are_refused_before_any_file_is_opened(many, kind):
    folder, opened = many
    source = str(folder / "*.png") if kind == "glob" else str(folder)
    with pytest.raises(InvalidInputError, match="more than 20 files: narrow it"):
        sources.load_images(source)
    with pytest.raises(InvalidInputError, match="more than 20 files"):
        sources.count_images(source)
    assert opened == []


def test_more_images_than_the_bound_need_a_limit(many, monkeypatch):
    folder, opened = many
    monkeypatch.setattr(sources, "MAX_MATCHES", 100)
    with pytest.raises(InvalidInputError, match="30 image files, over the 10 read without --limit"):
        sources.count_images(str(folder / "*.png"))
    assert sources.count_images(str(folder / "*.png"), limit=3) == 3
    assert opened == []


def test_a_run_refuses_before_naming_its_directory(many, tmp_path, capsys):
    from multisc.cli import main

    folder, opened = many
    code = main(["run", "--images", str(folder / "*.png"), "--schemes", "bpg_ldpc",
                 "--out", str(tmp_path / "run")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "narrow it" in err and "run directory" not in err
    assert opened == [] and not (tmp_path / "run").exists()

"""A prepare cache someone else wrote never changes a number and never fails a pair.

Each case starts from the cache of a clean run, damages or poisons it as the reproducers of
the second hostile-input probe did, and runs the same experiment into a fresh store on that
cache: the rows must equal the clean run's, with nothing recorded as failed.
"""

from __future__ import annotations

import dataclasses
import shutil
import struct
import zipfile
from pathlib import Path

import pytest

from multisc.experiment import safe_cache
from multisc.experiment.store import STORE_FILE, ResultStore
from multisc.experiment.sweep import run_sweep

pytestmark = pytest.mark.slow


def _rows(out: Path) -> list[tuple]:
    store = ResultStore(out / STORE_FILE)
    try:
        rows = store.results()
    finally:
        store.close()
    key = ("image_id", "scheme", "snr_db", "seed")
    return sorted(
        (*(r[k] for k in key), r["channel_uses"], r["failed"], round(r["metrics"]["psnr"], 6))
        for r in rows
    )


@pytest.fixture(scope="module")
def clean(tmp_path_factory, image_folder, trained_jscc):
    """One image through bpg_ldpc and deep_jscc at 0 and 6 dB: the rows and the cache."""
    from tests.experiment.conftest import write_config

    folder = tmp_path_factory.mktemp("clean")
    config, _ = write_config(
        image_folder, trained_jscc, folder, "clean", snr_db=[0.0, 6.0], limit=1
    )
    summary = run_sweep(config, report=None)
    assert summary.rows == 4
    return folder, _rows(summary.out)


def _again(clean, tmp_path, image_folder, trained_jscc, damage, **overrides):
    """The clean run's cache, damaged by ``damage(cache_dir)``, under a fresh store."""
    from tests.experiment.conftest import write_config

    folder, expected = clean
    out = tmp_path / "again"
    out.mkdir()
    shutil.copytree(folder / "clean" / "cache", out / "cache")
    damage(out / "cache" / "prepare")
    config, _ = write_config(
        image_folder, trained_jscc, tmp_path, "again", snr_db=[0.0, 6.0], limit=1, **overrides
    )
    summary = run_sweep(config, report=None)
    assert summary.failed == [] and _rows(out) == expected
    return summary


def _entries(prepare: Path, scheme: str) -> list[Path]:
    entries = sorted((prepare / scheme).glob("*.zip"))
    assert entries, f"no {scheme} entry to damage"
    return entries


def _rewrite(path: Path, change) -> None:
    value = safe_cache.loads(path.read_bytes())
    path.write_bytes(safe_cache.dumps(change(value)))


def _another_image(value):
    """The same size, other pixels (a well-formed entry for another photo)."""
    from PIL import ImageOps

    return dataclasses.replace(value, reference=ImageOps.invert(value.reference))


@pytest.mark.parametrize(
    ("scheme", "change"),
    [
        ("deep_jscc", lambda v: dataclasses.replace(v, channel_uses=1)),
        ("deep_jscc", _another_image),
        ("deep_jscc", lambda v: dataclasses.replace(v, ratio="1/48")),
        ("bpg_ldpc", _another_image),
        ("bpg_ldpc", lambda v: dataclasses.replace(v, budget_channel_uses=10**6)),
        ("bpg_ldpc", lambda v: dataclasses.replace(
            v, encodings={k: dataclasses.replace(e, stream=e.stream[:-20])
                          for k, e in v.encodings.items() if e is not None})),
        ("bpg_ldpc", lambda v: dataclasses.replace(
            v, encodings={k: None for k in v.encodings})),
    ],
)  # fmt: skip
def test_a_poisoned_entry_is_prepared_again(
    scheme, change, clean, tmp_path, image_folder, trained_jscc
):
    """Well-formed entries that lie (another image, channel_uses: 1, another ratio, a
    budget, a shortened or missing stream) are checked against what the scheme recomputes
    cheaply, refused, and prepared again: the same rows as a clean run."""

    def damage(prepare: Path) -> None:
        for entry in _entries(prepare, scheme):
            _rewrite(entry, change)

    _again(clean, tmp_path, image_folder, trained_jscc, damage)


def _member_offsets(path: Path) -> list[tuple[int, int]]:
    """(central directory header offset, local header offset) of each member."""
    with zipfile.ZipFile(path) as archive:
        names = [(info.filename, info.header_offset) for info in archive.infolist()]
    data = path.read_bytes()
    out, start = [], 0
    for _name, local in names:
        central = data.index(b"PK\x01\x02", start)
        out.append((central, local))
        start = central + 4
    return out


def _bad_crc(entry: Path) -> None:
    with zipfile.ZipFile(entry) as archive:
        info = archive.infolist()[-1]
    data = bytearray(entry.read_bytes())
    body = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data[body] ^= 0xFF  # one byte of the member's data: its CRC-32 no longer matches
    entry.write_bytes(bytes(data))


def _set_central(offset_in_header: int, value: int):
    def damage(entry: Path) -> None:
        data = bytearray(entry.read_bytes())
        for central, local in _member_offsets(entry):
            struct.pack_into("<H", data, central + offset_in_header, value)
            struct.pack_into("<H", data, local + offset_in_header - 2, value)
        entry.write_bytes(bytes(data))

    return damage


def _corrupt_deflate(entry: Path) -> None:
    with zipfile.ZipFile(entry) as archive:
        members = [(i, archive.read(i.filename)) for i in archive.infolist()]
    with zipfile.ZipFile(entry, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for info, payload in members:
            archive.writestr(info.filename, payload)
    _bad_crc(entry)  # inside the deflate stream now


def _a_folder(entry: Path) -> None:
    entry.unlink()
    entry.mkdir()
    (entry / "inside").write_text("x")


def _wrong_shape(entry: Path) -> None:
    _rewrite(entry, lambda v: dataclasses.replace(v, reference="not an image"))


@pytest.mark.parametrize(
    "damage",
    [
        _bad_crc,
        _corrupt_deflate,
        _set_central(10, 99),  # compression method 99: not one zipfile knows
        _set_central(8, 1),  # the encryption flag
        _a_folder,
        _wrong_shape,
    ],
    ids=["bad-crc", "corrupt-deflate", "unknown-compression", "encrypted", "folder", "shape"],
)
def test_an_entry_that_cannot_be_read_is_prepared_again(
    damage, clean, tmp_path, image_folder, trained_jscc
):
    def everywhere(prepare: Path) -> None:
        for scheme in ("deep_jscc", "bpg_ldpc"):
            for entry in _entries(prepare, scheme):
                damage(entry)

    _again(clean, tmp_path, image_folder, trained_jscc, everywhere)


@pytest.mark.parametrize("where", ["", "prepare", "prepare/deep_jscc"])
def test_a_cache_folder_that_is_a_link_is_replaced(
    where, clean, tmp_path, image_folder, trained_jscc
):
    """``cache/``, ``cache/prepare/`` or a scheme's folder replaced by a link: never
    followed, replaced by a real folder, every pair prepared again; the link's target is
    untouched."""
    target = tmp_path / "elsewhere"
    target.mkdir()
    (target / "sentinel").write_text("keep me")

    def damage(prepare: Path) -> None:
        folder = prepare.parent / where if where else prepare.parent
        shutil.rmtree(folder)
        folder.symlink_to(target, target_is_directory=True)

    _again(clean, tmp_path, image_folder, trained_jscc, damage)
    assert sorted(p.name for p in target.iterdir()) == ["sentinel"]
    assert (target / "sentinel").read_text() == "keep me"


def test_fresh_cache_reads_nothing(clean, tmp_path, image_folder, trained_jscc):
    """--fresh-cache: every pair is prepared again, whatever the cache holds (here: every
    entry poisoned the same plausible way)."""

    def damage(prepare: Path) -> None:
        for entry in _entries(prepare, "deep_jscc"):
            _rewrite(entry, _another_image)

    from multisc.experiment.prepare_cache import PrepareCache

    summary = _again(clean, tmp_path, image_folder, trained_jscc, damage, fresh_cache=True)
    counts = PrepareCache(summary.out / "cache", "").counts()
    assert sorted(counts.values()) == [2, 2]  # the clean run's prepare, and this one's

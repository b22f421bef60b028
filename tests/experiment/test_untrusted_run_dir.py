"""A run directory from someone else is data: nothing read or written outside it, no
link followed, every read bounded, a store that is not exactly ours refused, nothing
silently wrong. Each case comes from a hostile-input probe of the run directory."""

from __future__ import annotations

import io
import json
import os
import shutil
import sqlite3
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from multisc.errors import InvalidInputError
from multisc.experiment import safe_cache
from multisc.experiment.prepare_cache import PrepareCache, check_fits
from multisc.experiment.store import STORE_FILE, ResultStore, StoreError
from multisc.experiment.sweep import LOCK_FILE, csv_safe, one_writer, run_sweep
from multisc.report.build import build_report
from multisc.runroot import RunDirError, RunRoot, check_relative
from tests.experiment.conftest import write_config

SECRET = "private: must never change\n"


@pytest.fixture
def outside(tmp_path) -> Path:
    """A file of the user's outside the run directory, that links will point at."""
    path = tmp_path / "outside" / "secret.txt"
    path.parent.mkdir()
    path.write_text(SECRET)
    return path


SMALL = {"schemes": ["bpg_ldpc"], "snr_db": [6.0], "limit": 1}


def small_run(fast_config, out: str = "run", **overrides):
    settings = {**SMALL, **overrides}
    config, _ = fast_config(out=out, **settings)
    return config


# -- never write through a link, never read outside the run --------------------------------


@pytest.mark.slow
def test_a_link_at_run_lock_is_replaced_not_written_through(fast_config, outside):
    config = small_run(fast_config)
    out = Path(config.out)
    out.mkdir()
    (out / LOCK_FILE).symlink_to(outside)
    assert run_sweep(config, report=None).rows == 1
    assert outside.read_text() == SECRET
    assert not (out / LOCK_FILE).is_symlink() and "pid" in (out / LOCK_FILE).read_text()
    # also when the run is then refused for its config
    (out / LOCK_FILE).unlink()
    (out / LOCK_FILE).symlink_to(outside)
    other = small_run(fast_config, snr_db=[9.0])
    with pytest.raises(InvalidInputError, match="different experiment"):
        run_sweep(other, report=None)
    assert outside.read_text() == SECRET


@pytest.mark.parametrize(
    "entry", ["config.yaml", "plan.json", "results.csv", "cache/prepare/log.jsonl"]
)
@pytest.mark.slow
def test_links_in_place_of_run_files_are_replaced_and_their_targets_untouched(
    entry, fast_config, outside
):
    config = small_run(fast_config)
    out = Path(config.out)
    (out / entry).parent.mkdir(parents=True, exist_ok=True)
    (out / entry).symlink_to(outside)
    summary = run_sweep(config, report=build_report)
    assert summary.rows == 1 and outside.read_text() == SECRET
    assert not (out / entry).is_symlink()


@pytest.mark.slow
def test_linked_folders_and_plots_are_refused_or_replaced(fast_config, outside):
    config = small_run(fast_config)
    out = Path(config.out)
    out.mkdir()
    (out / "images").symlink_to(outside.parent, target_is_directory=True)
    with pytest.raises(RunDirError, match=r"images is a symbolic link"):
        run_sweep(config, report=None)
    assert sorted(p.name for p in outside.parent.iterdir()) == ["secret.txt"]
    (out / "images").unlink()
    run_sweep(config, report=None)
    (out / "plots").mkdir()
    (out / "plots" / "psnr.png").symlink_to(outside)
    (out / "grids").symlink_to(outside.parent, target_is_directory=True)
    with pytest.raises(RunDirError, match=r"grids is a symbolic link"):
        build_report(out)
    assert outside.read_text() == SECRET and not (out / "plots" / "psnr.png").is_symlink()


def test_a_linked_store_is_refused_before_sqlite_opens_it(tmp_path, outside):
    (tmp_path / STORE_FILE).symlink_to(outside)
    with pytest.raises(StoreError, match="symbolic link"):
        ResultStore(tmp_path / STORE_FILE)
    assert outside.read_text() == SECRET
    (tmp_path / STORE_FILE).unlink()
    (tmp_path / (STORE_FILE + "-wal")).symlink_to(outside)
    with pytest.raises(StoreError, match="-wal is a symbolic link"):
        ResultStore(tmp_path / STORE_FILE)


@pytest.fixture(scope="module")
def finished_once(image_folder, trained_jscc, tmp_path_factory) -> Path:
    """A finished one-row run directory (bpg_ldpc, 6 dB), run once per module."""
    folder = tmp_path_factory.mktemp("finished")
    config, _ = write_config(image_folder, trained_jscc, folder, "finished", **SMALL)
    run_sweep(config, report=None)
    return Path(config.out)


@pytest.fixture
def finished(finished_once, fast_config) -> Path:
    """A copy of :func:`finished_once` where :func:`small_run` with ``out="finished"``
    resumes it (the same config, this test's folder): each test may tamper with it."""
    out = Path(small_run(fast_config, out="finished").out)
    shutil.copytree(finished_once, out, symlinks=True)
    return out


def _edit_rows(out: Path, sql: str, *args) -> None:
    db = sqlite3.connect(out / STORE_FILE)
    db.execute(sql, args)
    db.commit()
    db.close()


def test_report_reads_no_image_from_outside_and_writes_nothing_outside(finished, tmp_path):
    private = tmp_path / "private.png"
    Image.new("RGB", (20, 20), (255, 0, 0)).save(private)
    before = private.read_bytes()
    _edit_rows(finished, "UPDATE results SET image_path=?", str(private))
    (image_id,) = {p.name for p in (finished / "images").iterdir()}
    reference = finished / "images" / image_id / "reference.png"
    reference.unlink()
    reference.symlink_to(private)
    build_report(finished)
    grid = finished / "grids" / f"{image_id}.png"
    # the grid drew neither the private image nor through the link: both tiles say missing
    assert grid.is_file() and not grid.is_symlink()
    colours = Image.open(grid).convert("RGB").getcolors(1 << 24)
    assert all(colour != (255, 0, 0) for _, colour in colours)  # no pixel of the private image
    assert private.read_bytes() == before
    # an image id that is a path names no file anywhere
    escape = tmp_path / "escaped"
    _edit_rows(finished, "UPDATE results SET image_id=?", str(escape))
    page = build_report(finished).read_text()
    assert not escape.with_suffix(".png").exists() and "not ids multisc makes" in page


def test_every_path_from_the_store_or_cache_is_checked_as_an_id():
    for bad in ("/etc/passwd", "../x.png", "images/../../x", "a//b", "", "a\0b", "x/" * 2):
        with pytest.raises(RunDirError):
            check_relative(bad)
    with pytest.raises(RunDirError, match="longer than 255 bytes"):
        check_relative("images/" + "a" * 256 + ".png")
    assert check_relative("images/x/reference.png") == ("images", "x", "reference.png")


# -- bounded reads ---------------------------------------------------------------------


def _entry(members: dict[str, bytes], value=None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            safe_cache.ENTRY, json.dumps({"schema": safe_cache.SCHEMA, "value": value})
        )
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_crafted_cache_entries_are_refused_before_they_are_read_whole():
    # a zip bomb: 4 MB that inflates to 256 MB and more (claimed in the central directory)
    bomb = _entry({"b0.bin": b"\0" * (safe_cache.MAX_TOTAL_BYTES + 1)}, {"__bytes__": "b0.bin"})
    assert len(bomb) < 2 << 20
    with pytest.raises(safe_cache.CacheFormatError, match="inflate"):
        safe_cache.loads(bomb)
    # a .npy header claiming 745 GiB
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f8", "fortran_order": False, "shape": (100_000, 1_000_000)}
    )
    npy = b"\x93NUMPY\x01\x00" + header.getvalue()[8:] + b"\0" * 64
    with pytest.raises(safe_cache.CacheFormatError, match="npy header claiming"):
        safe_cache.loads(_entry({"b0.npy": npy}, {"__ndarray__": "b0.npy"}))
    # 200,000-deep JSON, a 5 MB text, an EPS where a PNG belongs
    deep = '{"schema": 1, "value": ' + "[" * 200_000 + "]" * 200_000 + "}"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(safe_cache.ENTRY, deep)
    with pytest.raises(safe_cache.CacheFormatError):
        safe_cache.loads(buffer.getvalue())
    with pytest.raises(safe_cache.CacheFormatError, match="string of 5,000,000"):
        safe_cache.loads(_entry({}, "x" * 5_000_000))
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n"
    with pytest.raises(safe_cache.CacheFormatError, match="as a PNG"):
        safe_cache.loads(_entry({"b0.png": eps}, {"__png__": "b0.png"}))


def test_prepared_sizes_must_fit_the_image_they_were_prepared_from():
    from multisc.schemes.deep_jscc import JsccPrepared

    image = Image.new("RGB", (64, 48))
    ok = JsccPrepared(reference=image, send_size=(64, 48), channel_uses=10)
    check_fits(ok, image.size)
    with pytest.raises(safe_cache.CacheFormatError, match="send_size"):
        check_fits(JsccPrepared(image, (60000, 60000), 10), image.size)
    from multisc.schemes.semantic import SemanticPrepared

    huge = SemanticPrepared(image, ("a",), ("whole",), box=(0, 0, 10**9, 10**9))
    with pytest.raises(safe_cache.CacheFormatError, match="box"):
        check_fits(huge, image.size)


@pytest.mark.slow
def test_a_crafted_cache_entry_is_prepared_again_not_skipped(fast_config):
    config = small_run(fast_config, out="recache", schemes=["deep_jscc"])
    out = Path(config.out)
    run_sweep(config, report=None)
    entries = list((out / "cache" / "prepare" / "deep_jscc").glob("*.zip"))
    assert len(entries) == 1
    # a sparse 20 GiB file in its place: refused by its size, never read
    entries[0].unlink()
    with entries[0].open("wb") as handle:
        handle.truncate(20 << 30)
    _edit_rows(out, "DELETE FROM results")
    summary = run_sweep(config, report=None)
    assert summary.new_rows == 1  # the pair is done, not missing
    counts = PrepareCache(out / "cache", "").counts()
    assert sum(counts.values()) == 2 and entries[0].stat().st_size < 1 << 20  # replaced


def test_a_png_bomb_is_refused_as_an_input_and_as_a_reconstruction(finished, tmp_path):
    bomb = tmp_path / "bomb.png"
    Image.new("1", (12000, 12000)).save(bomb, optimize=True)  # ~420 KB, 144 Mpx
    assert bomb.stat().st_size < 1 << 20
    from multisc.data.sources import open_image

    with pytest.raises(InvalidInputError, match=r"12000 x 12000 pixels is over"):
        open_image(bomb)
    row_path = next((finished / "images").rglob("snr*.png"))
    row_path.write_bytes(bomb.read_bytes())
    build_report(finished)  # the tile says missing; nothing decoded


def test_fifos_are_refused_not_waited_on(finished, tmp_path):
    from multisc.data.sources import open_image

    fifo = tmp_path / "f.png"
    os.mkfifo(fifo)
    done = threading.Event()

    def attempt():
        with pytest.raises(InvalidInputError, match="not a regular file"):
            open_image(fifo)
        done.set()

    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    thread.join(10)
    assert done.is_set()
    (image_id,) = {p.name for p in (finished / "images").iterdir()}
    reference = finished / "images" / image_id / "reference.png"
    reference.unlink()
    os.mkfifo(reference)
    builder = threading.Thread(target=build_report, args=(finished,), daemon=True)
    builder.start()
    builder.join(60)
    assert not builder.is_alive()


# -- the store is untrusted too ----------------------------------------------------------


def test_a_store_with_a_trigger_or_a_view_is_refused(finished):
    _edit_rows(
        finished,
        "CREATE TRIGGER rewrite AFTER INSERT ON results BEGIN "
        "UPDATE results SET metrics='{\"psnr\": 99.0}'; END",
    )
    with pytest.raises(StoreError, match="trigger 'rewrite'"):
        ResultStore(finished / STORE_FILE)
    _edit_rows(finished, "DROP TRIGGER rewrite")
    _edit_rows(
        finished,
        "CREATE VIEW forever AS WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) "
        "SELECT x FROM c",
    )
    with pytest.raises(StoreError, match="view 'forever'"):
        build_report(finished)


@pytest.mark.parametrize(
    ("sql", "match"),
    [
        ("UPDATE results SET metrics='[1, 2]'", "metrics is a list"),
        ("UPDATE results SET snr_db='loud'", "snr_db is a str"),
        ("UPDATE runs SET versions='[1]'", "versions is not a mapping"),
    ],
)
def test_rows_that_multisc_does_not_write_are_one_line(finished, sql, match):
    _edit_rows(finished, sql)
    with pytest.raises(StoreError, match=match):
        build_report(finished)


def test_a_store_missing_a_column_is_one_line(tmp_path):
    db = sqlite3.connect(tmp_path / STORE_FILE)
    db.execute("CREATE TABLE results (image_id TEXT, scheme TEXT)")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="table results has columns image_id, scheme"):
        ResultStore(tmp_path / STORE_FILE)


def test_scheme_names_from_the_store_never_reach_mathtext(finished):
    _edit_rows(finished, "UPDATE results SET scheme=?", "$\\frac{$")
    assert build_report(finished).is_file()


def test_a_full_disk_says_to_free_space_not_to_throw_the_store_away(tmp_path):
    store = ResultStore(tmp_path / STORE_FILE)
    try:
        error = store._unusable(sqlite3.OperationalError("database or disk is full"))
    finally:
        store.close()
    assert "no space left" in str(error) and "move it away" not in str(error)


# -- nothing silently wrong --------------------------------------------------------------


@pytest.mark.slow
def test_close_snrs_get_their_own_files(fast_config):
    config = small_run(fast_config, out="close", snr_db=[0.1, 0.14])
    summary = run_sweep(config, report=None)
    store = ResultStore(summary.out / STORE_FILE)
    try:
        paths = [row["image_path"] for row in store.results()]
    finally:
        store.close()
    assert len(paths) == 2 and len(set(paths)) == 2
    assert all((summary.out / p).is_file() for p in paths)


def test_deleting_run_lock_does_not_let_a_second_writer_in(tmp_path):
    root = RunRoot(tmp_path)
    with one_writer(root):
        (tmp_path / LOCK_FILE).unlink()
        with pytest.raises(InvalidInputError, match="another multisc run"), one_writer(root):
            pass


@pytest.mark.slow
def test_run_rebuilds_reconstructions_the_report_needs(finished, fast_config):
    png = next((finished / "images").rglob("snr*.png"))
    png.unlink()
    summary = run_sweep(small_run(fast_config, out="finished"), report=None)
    assert summary.new_rows == 1 and png.is_file()


def test_csv_cells_cannot_become_formulas_and_keep_no_control_bytes():
    assert csv_safe('=HYPERLINK("http://x")') == '\'=HYPERLINK("http://x")'
    assert csv_safe("+1") == "'+1" and csv_safe("@x") == "'@x" and csv_safe("-x") == "'-x"
    assert csv_safe("a\x00b\x1b[2J") == "a\ufffdb\ufffd[2J"
    assert csv_safe("a dog") == "a dog" and csv_safe(-3.5) == -3.5


@pytest.mark.slow
def test_one_unreadable_file_fails_alone(fast_config, image_folder, tmp_path):
    import shutil

    folder = Path(shutil.copytree(image_folder, tmp_path / "images"))
    (folder / "zz-broken.png").write_bytes(b"not an image")
    config = small_run(fast_config, out="broken", limit=None, images=str(folder))
    summary = run_sweep(config, report=None)
    assert summary.rows == len(list(folder.glob("*.png"))) - 1
    assert [f["image_id"] for f in summary.failed] == ["zz-broken"]


def test_exif_orientation_is_applied(tmp_path):
    from multisc.data.sources import open_image

    image = Image.new("RGB", (40, 20), (200, 10, 10))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    image.save(tmp_path / "rotated.jpg", exif=exif)
    assert open_image(tmp_path / "rotated.jpg").size == (20, 40)


def test_nan_metrics_are_left_out_of_means_and_counted():
    from multisc.metrics import finite_mean
    from multisc.report.tables import summary

    assert finite_mean(iter([0.5, float("nan"), 0.7, None])) == (pytest.approx(0.6), 1)
    rows = [
        {"scheme": "bpg_ldpc", "snr_db": 0.0, "channel_uses": 10, "failed": False,
         "metrics": {"ssim": value}}
        for value in (0.5, float("nan"), 0.7)
    ]  # fmt: skip
    header, body = summary(rows)
    assert body[0][header.index("ssim")] == "0.600 (1 NaN left out)"  # two values: no interval


def _tree(folder: Path, skip: Path) -> dict[str, tuple[int, int]]:
    """Every entry below ``folder`` but ``skip``: (size, mtime) by path, links not followed."""
    out = {}
    for path in folder.rglob("*"):
        if path == skip or skip in path.parents:
            continue
        info = path.lstat()
        out[str(path)] = (info.st_size, info.st_mtime_ns)
    return out


@pytest.mark.slow
def test_a_hostile_shared_run_directory_is_run_and_reported_touching_nothing_outside(
    fast_config, tmp_path, outside
):
    """A run directory "another user" prepared: links everywhere, a crafted store and
    crafted cache entries. `run` (a resume) and `report` go through it, read and write
    nothing outside it, and nothing crashes."""
    config = small_run(fast_config, out="shared", schemes=["bpg_ldpc", "deep_jscc"])
    out = Path(config.out)
    run_sweep(config, report=build_report)
    private = tmp_path / "outside" / "private.png"
    Image.new("RGB", (16, 16), (255, 0, 0)).save(private)
    # links at every file multisc writes
    for entry in ("run.lock", "config.yaml", "plan.json", "results.csv", "plots/psnr.png",
                  "cache/prepare/log.jsonl", "report.html"):  # fmt: skip
        (out / entry).unlink()
        (out / entry).symlink_to(outside)
    # crafted cache entries: a zip bomb and a sparse giant
    entries = sorted((out / "cache" / "prepare").rglob("*.zip"))
    entries[0].write_bytes(
        _entry({"b0.bin": b"\0" * (safe_cache.MAX_TOTAL_BYTES + 1)}, {"__bytes__": "b0.bin"})
    )
    with entries[1].open("r+b") as handle:
        handle.truncate(20 << 30)
    # a crafted store: a row pointing outside, an id that is a path, a lost PNG
    db = sqlite3.connect(out / STORE_FILE)
    (row,) = db.execute("SELECT * FROM results LIMIT 1").fetchall()
    crafted = list(row)
    crafted[0], crafted[15] = "../../escaped", str(private)
    db.execute(f"INSERT INTO results VALUES ({', '.join('?' * len(crafted))})", crafted)
    db.commit()
    db.close()
    next((out / "images").rglob("snr*.png")).unlink()
    (image_id,) = {p.name for p in (out / "images").iterdir()}
    reference = out / "images" / image_id / "reference.png"
    reference.unlink()
    reference.symlink_to(private)
    before = _tree(tmp_path, out)

    summary = run_sweep(config, report=build_report)

    assert summary.rows >= 2 and summary.report  # the resume ran, the report was written
    assert _tree(tmp_path, out) == before  # nothing outside the run read-written or made
    assert outside.read_text() == SECRET
    assert not [p for p in out.rglob("*") if p.is_symlink()]  # every link replaced
    assert "shared" in (out / "report.html").read_text()


# -- entries of the wrong kind: one line each, never a traceback ---------------------------


@pytest.mark.parametrize(
    ("entry", "kind", "match"),
    [
        (LOCK_FILE, "folder", "run.lock is a folder where multisc writes a file"),
        (STORE_FILE, "folder", "results.sqlite is not a regular file"),
        ("grids", "file", "grids is not a folder"),
        ("failures.json", "a-mapping", "failures.json is not a list of failures"),
    ],
)
def test_entries_of_the_wrong_kind_are_one_line(finished, fast_config, entry, kind, match):
    path = finished / entry
    if path.is_dir():
        import shutil

        shutil.rmtree(path)
    elif path.exists():
        path.unlink()
    if kind == "folder":
        path.mkdir()
    elif kind == "file":
        path.write_text("not a folder")
    else:
        path.write_text('{"image_id": "x"}')
    with pytest.raises((RunDirError, StoreError), match=match):
        if entry == "grids" or entry == "failures.json":
            build_report(finished)
        else:
            run_sweep(small_run(fast_config, out="finished"), report=None)


@pytest.mark.slow
def test_a_plan_json_of_another_shape_is_ignored_by_the_report(finished):
    (finished / "plan.json").write_text('[1, {"skipped": 3}]')
    assert build_report(finished).is_file()
    (finished / "plan.json").write_text('{"skipped": [1], "notes": "x"}')
    assert build_report(finished).is_file()


@pytest.mark.parametrize(
    "header",
    [
        {"w": {"dtype": "F32", "shape": [1], "data_offsets": ["0", "4"]}},
        [1, 2, 3],
        {"w": {"dtype": "F32", "shape": [1]}},
    ],
)
def test_safetensors_with_crafted_headers_are_one_line(tmp_path, header):
    from multisc.models import weights_problem

    data = json.dumps(header).encode()
    path = tmp_path / "model.safetensors"
    path.write_bytes(len(data).to_bytes(8, "little") + data + b"\0" * 4)
    problem = weights_problem(path)
    assert problem and ("not a safetensors file" in problem or "truncated" in problem)


def test_a_full_disk_while_writing_run_files_is_one_line(tmp_path, monkeypatch):
    import errno

    root = RunRoot(tmp_path)

    class Full(io.BytesIO):
        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("multisc.runroot.os.fdopen", lambda *a, **k: Full())
    with pytest.raises(RunDirError, match=r"no space left on the device .* run the same command"):
        root.write_text("failures.json", "[]")
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]  # no leftovers


def test_image_ids_are_bounded_and_long_names_work(tmp_path):
    from multisc.data.sources import MAX_ID, image_id

    long = "x" * 300 + ".png"
    assert len(image_id(long)) <= MAX_ID
    assert image_id(long) != image_id("x" * 299 + "y.png")  # still distinct
    check_relative(f"images/{image_id(long)}/reference.png")


def test_make_tiny_into_a_file_is_one_line(tmp_path):
    from multisc.cli import main

    target = tmp_path / "file"
    target.write_text("x")
    assert main(["models", "make-tiny", str(target), "--only", "corrector"]) == 2


_PATH_PIECES = st.sampled_from(["..", ".", "", "/", "a", "images", "x.png", "\\", "\0", "é"])


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(max_size=40), st.lists(_PATH_PIECES, max_size=8).map("".join)))
def test_no_path_from_the_store_or_cache_leaves_the_run(text):
    import posixpath

    try:
        parts = check_relative(text)
    except RunDirError:
        return
    assert all(p not in ("", ".", "..") and "/" not in p for p in parts)
    joined = posixpath.normpath(posixpath.join("/run", *parts))
    assert joined.startswith("/run/")

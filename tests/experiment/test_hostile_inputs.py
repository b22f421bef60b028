"""File names and received text are data, never markup or paths."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from PIL import Image

from multisc.data.sources import sample_photos
from multisc.experiment.sweep import run_sweep
from multisc.report.build import build_report
from multisc.report.grids import image_grid
from multisc.runroot import RunRoot

HOSTILE = 'a" onerror="document.title=\'PWNED\'" x="'


@pytest.mark.slow
def test_hostile_file_names_stay_inside_the_run_and_out_of_the_markup(fast_config, tmp_path):
    folder = tmp_path / "odd"
    folder.mkdir()
    photos = [image.resize((48, 32)) for _, image in sample_photos()[:2]]
    photos[0].save(folder / f"{HOSTILE}.png", format="PNG")
    photos[1].save(folder / "...png", format="PNG")
    config, _ = fast_config(out="hostile", images=str(folder), schemes=["bpg_ldpc"], snr_db=[6.0])
    summary = run_sweep(config, report=build_report)
    run_dir = Path(config.out)
    assert summary.rows == 2
    for path in run_dir.rglob("*"):
        assert run_dir in path.resolve().parents
    assert not list(run_dir.glob("*.png")) and not list(run_dir.glob("bpg_ldpc"))
    page = (run_dir / "report.html").read_text()
    assert not re.search(r"<[^>]*\sonerror\s*=", page)  # the name is text, never an attribute
    for src in re.findall(r'<img src="([^"]+)"', page):
        assert (run_dir / src).is_file(), src


def test_received_text_with_dollar_signs_is_not_parsed_as_mathtext(tmp_path):
    images = tmp_path / "images" / "x"
    images.mkdir(parents=True)
    Image.new("RGB", (32, 24), (90, 120, 30)).save(images / "reference.png")
    Image.new("RGB", (32, 24), (10, 20, 30)).save(images / "out.png")
    row = {
        "image_id": "x",
        "seed": 0,
        "scheme": "vlm_csc",
        "snr_db": 0.0,
        "image_path": "images/x/out.png",
        "failed": False,
        "prompt": "a $\\frac{$ b \x01 and $x^{$",  # one bit flip turns d (0x64) into $ (0x24)
    }
    (tmp_path / "grids").mkdir()
    name = image_grid(RunRoot(tmp_path), "x", [row])
    assert Image.open(tmp_path / "grids" / name).width > 0


@pytest.mark.slow
def test_one_run_directory_has_one_writer_and_a_dead_one_releases_it(fast_config, tmp_path):
    import os
    import signal
    import subprocess
    import sys

    import pytest

    from multisc.errors import InvalidInputError
    from multisc.experiment.sweep import LOCK_FILE, one_writer

    config, _ = fast_config(out="locked", schemes=["bpg_ldpc"], snr_db=[6.0], limit=1)
    out = Path(config.out)
    out.mkdir(parents=True)
    with one_writer(RunRoot(out)), pytest.raises(InvalidInputError, match="another multisc run"):
        run_sweep(config, report=None)
    assert not (out / "results.sqlite").exists() or not list(out.glob("images/*"))
    # a run killed while holding the lock: the kernel releases it
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import signal, sys; from pathlib import Path\n"
         "from multisc.experiment.sweep import one_writer\n"
         "from multisc.runroot import RunRoot\n"
         "with one_writer(RunRoot(Path(sys.argv[1]))):\n"
         "    print('locked', flush=True); signal.pause()  # held until killed",
         str(out)],
        stdout=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    assert holder.stdout.readline().strip() == "locked"
    assert "pid" in (out / LOCK_FILE).read_text()
    os.killpg(holder.pid, signal.SIGKILL)
    holder.wait()
    assert run_sweep(config, report=None).rows == 1


def test_an_existing_file_as_out_is_one_clear_error(fast_config, tmp_path):
    import pytest

    from multisc.errors import InvalidInputError

    config, _ = fast_config(out="file")
    Path(config.out).write_text("not a folder")
    with pytest.raises(InvalidInputError, match="is a file"):
        run_sweep(config, report=None)


@pytest.mark.slow
def test_a_bad_image_is_recorded_as_failed_and_the_sweep_goes_on(tiny_models, tmp_path):
    import json

    from multisc.experiment.config import load_config

    folder = tmp_path / "mixed"
    folder.mkdir()
    sample_photos()[0][1].resize((64, 48)).save(folder / "rgb.png")
    Image.new("RGB", (1, 1), (5, 5, 5)).save(folder / "1x1.png")  # no 2x2 blocks in it
    config = load_config(
        None,
        images=str(folder),
        schemes=["multisc"],
        snr_db=[6.0],
        models=str(tiny_models),
        out=str(tmp_path / "run"),
        device="cpu",
        prepare_batch=2,  # both images in one batched prepare: the bad one must fail alone
    )
    summary = run_sweep(config, report=build_report)
    assert summary.rows == 1 and summary.new_rows == 1
    assert [(f["image_id"], f["scheme"]) for f in summary.failed] == [("1x1", "multisc")]
    assert "2x2 blocks" in summary.failed[0]["error"]
    recorded = json.loads((Path(config.out) / "failures.json").read_text())
    assert recorded == summary.failed
    assert (
        "image 1x1 could not be sent by multisc" in (Path(config.out) / "report.html").read_text()
    )


def test_extreme_aspect_ratios_keep_the_segmenters_input_bounded(tiny_models):
    from multisc.transmitter.segmentation import MAX_ASPECT_OF_INPUT, Segmenter

    segmenter = Segmenter.from_pretrained(tiny_models, "cpu", resize=96)
    shapes = []
    segmenter.model.register_forward_pre_hook(lambda _, args: shapes.append(args[0].shape))
    classes = segmenter.class_maps([Image.new("RGB", (1, 600)), Image.new("RGB", (700, 2))])
    assert [c.shape for c in classes] == [(600, 1), (2, 700)]
    assert max(max(s[-2:]) for s in shapes) <= MAX_ASPECT_OF_INPUT * 96  # not 96 x 57,600


def test_a_decompression_bomb_is_refused_clearly(tmp_path, monkeypatch):
    import pytest

    from multisc.data.sources import open_image
    from multisc.errors import InvalidInputError

    Image.new("RGB", (120, 100)).save(tmp_path / "bomb.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 5000)  # 12,000 pixels: over twice that
    with pytest.raises(InvalidInputError, match=r"refusing .*bomb\.png"):
        open_image(tmp_path / "bomb.png")

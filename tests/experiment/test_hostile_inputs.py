"""File names and received text are data, never markup or paths."""

from __future__ import annotations

import re
from pathlib import Path

from PIL import Image

from multisc.data.sources import sample_photos
from multisc.experiment.sweep import run_sweep
from multisc.report.build import image_grid

HOSTILE = 'a" onerror="document.title=\'PWNED\'" x="'


def test_hostile_file_names_stay_inside_the_run_and_out_of_the_markup(fast_config, tmp_path):
    folder = tmp_path / "odd"
    folder.mkdir()
    photos = [image.resize((48, 32)) for _, image in sample_photos()[:2]]
    photos[0].save(folder / f"{HOSTILE}.png", format="PNG")
    photos[1].save(folder / "...png", format="PNG")
    config, _ = fast_config(out="hostile", images=str(folder), schemes=["bpg_ldpc"], snr_db=[6.0])
    summary = run_sweep(config, report=True)
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
    name = image_grid(tmp_path, "x", [row], tmp_path / "grids")
    assert Image.open(tmp_path / "grids" / name).width > 0

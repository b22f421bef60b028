"""An image grid as a paper needs it: the reference once per image, text read at a
column's width."""

from __future__ import annotations

import numpy as np
from PIL import Image

from multisc.experiment.rundir import reference_path
from multisc.report import grids
from multisc.runroot import RunRoot


def test_the_reference_is_drawn_once_and_tile_text_is_readable(tmp_path, monkeypatch):
    root = RunRoot(tmp_path)
    pixels = np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    (tmp_path / "images" / "cat").mkdir(parents=True)
    Image.fromarray(pixels).save(tmp_path / reference_path("cat"))
    rows = []
    for scheme in ("multisc", "bpg_ldpc", "deep_jscc"):
        for snr in (0.0, 12.0):
            path = f"images/{scheme}-{snr:g}.png"
            Image.fromarray(pixels[::-1]).save(tmp_path / path)
            rows.append({
                "scheme": scheme, "image_id": "cat", "snr_db": snr, "seed": 0,
                "image_path": path, "failed": False,
                "metrics": {"psnr": 20.0, "ssim": 0.5, "lpips": 0.3},
                "prompt": "a cat sitting on a mat" if scheme == "multisc" else None,
            })  # fmt: skip
    kept = {}
    monkeypatch.setattr(grids.plt, "close", lambda fig: kept.setdefault("fig", fig))
    assert grids.image_grid(root, "cat", rows) == "cat.png"
    axes = np.asarray(kept["fig"].axes).reshape(3, 3)
    assert [len(ax.images) for ax in axes[:, 0]] == [1, 0, 0]  # the reference: first row only
    assert [ax.get_ylabel() for ax in axes[:, 0]] == ["multisc", "bpg_ldpc", "deep_jscc"]
    for ax in axes[:, 1:].ravel():
        assert len(ax.images) == 1
        label = ax.xaxis.label
        # at least 12 px high as saved (points * dpi / 72); it was 7
        assert label.get_fontsize() * grids.DPI / 72 >= 12
        assert "PSNR 20.00" in label.get_text()


def test_a_sliver_of_an_image_draws_a_bounded_grid(tmp_path, monkeypatch):
    """A 1 x 4000 reference (and reconstruction): the figure stays a few inches and its
    tiles a few hundred pixels, instead of a 1.4 GiB canvas."""
    root = RunRoot(tmp_path)
    (tmp_path / "images" / "sliver").mkdir(parents=True)
    Image.new("RGB", (1, 4000), (200, 10, 10)).save(tmp_path / reference_path("sliver"))
    Image.new("RGB", (1, 4000), (10, 200, 10)).save(tmp_path / "images" / "r.png")
    rows = [{"scheme": "bpg_ldpc", "image_id": "sliver", "snr_db": 3.0, "seed": 0,
             "image_path": "images/r.png", "failed": False, "metrics": {}}]  # fmt: skip
    kept = {}
    monkeypatch.setattr(grids.plt, "close", lambda fig: kept.setdefault("fig", fig))
    assert grids.image_grid(root, "sliver", rows) == "sliver.png"
    _, height = kept["fig"].get_size_inches()
    assert height <= grids.MAX_ASPECT * grids.TILE_IN + 2
    for ax in kept["fig"].axes:
        for drawn in ax.images:
            assert max(drawn.get_array().shape[:2]) <= grids.TILE_PIXELS
    saved = Image.open(tmp_path / "grids" / "sliver.png")
    assert saved.width * saved.height < 4_000_000

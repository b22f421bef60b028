from pathlib import Path

import pytest

from multisc.data.sources import sample_photos


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory) -> Path:
    """Three small real photos in a folder."""
    folder = tmp_path_factory.mktemp("images")
    for name, image in sample_photos()[:3]:
        image.resize((96, 64)).save(folder / f"{name}.png")
    return folder


def write_config(image_folder, trained_jscc, folder: Path, out: str = "run", **overrides):
    """A config of 3 images x 2 schemes (real baselines, no downloads) x 3 SNRs, written
    as ``folder/<out>.yaml`` with its run directory ``folder/<out>``: (config, path)."""
    from multisc.experiment.config import load_config

    settings = {
        "images": str(image_folder),
        "schemes": ["bpg_ldpc", "deep_jscc"],
        "snr_db": [0.0, 6.0, 18.0],
        "out": str(folder / out),
        "device": "cpu",
        "options": {"budget": "1/2"},
        "jscc": {"checkpoint": str(trained_jscc[0])},
    }
    settings.update(overrides)
    path = folder / f"{out}.yaml"
    import yaml

    path.write_text(yaml.safe_dump(settings))
    return load_config(path), path


@pytest.fixture
def fast_config(image_folder, trained_jscc, tmp_path):
    """3 images x 2 schemes (real baselines, no downloads) x 3 SNRs = 18 rows."""

    def make(out: str = "run", **overrides):
        return write_config(image_folder, trained_jscc, tmp_path, out, **overrides)

    return make


def assert_same_rows(local: list[dict], other: list[dict]) -> None:
    key = ("image_id", "scheme", "snr_db", "fading", "seed")
    assert [tuple(r[k] for k in key) for r in local] == [tuple(r[k] for k in key) for r in other]
    for a, b in zip(local, other, strict=True):
        assert a["channel_uses"] == b["channel_uses"] and a["failed"] == b["failed"]
        for name, value in a["metrics"].items():
            if value is None:
                assert b["metrics"][name] is None
            else:  # one thread per Ray worker vs two here: float sums may differ slightly
                assert b["metrics"][name] == pytest.approx(value, rel=1e-4, abs=1e-4), name

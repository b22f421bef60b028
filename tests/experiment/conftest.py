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


@pytest.fixture
def fast_config(image_folder, trained_jscc, tmp_path):
    """3 images x 2 schemes (real baselines, no downloads) x 3 SNRs = 18 rows."""

    def make(out: str = "run", **overrides):
        from multisc.experiment.config import load_config

        settings = {
            "images": str(image_folder),
            "schemes": ["bpg_ldpc", "deep_jscc"],
            "snr_db": [0.0, 6.0, 18.0],
            "out": str(tmp_path / out),
            "device": "cpu",
            "options": {"budget": "1/2"},
            "jscc": {"checkpoint": str(trained_jscc[0])},
        }
        settings.update(overrides)
        path = tmp_path / f"{out}.yaml"
        import yaml

        path.write_text(yaml.safe_dump(settings))
        return load_config(path), path

    return make

from pathlib import Path

import pytest
import torch

from multisc.data.sources import sample_photos


@pytest.fixture
def generator() -> torch.Generator:
    """A fresh, seeded CPU generator for each test."""
    return torch.Generator().manual_seed(1234)


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> Path:
    """The whole tiny component set, written once by `multisc models make-tiny DIR` (the
    command users run), and loaded by tests through `--models DIR` paths."""
    from multisc.cli import main

    directory = tmp_path_factory.mktemp("tiny-models")
    assert main(["models", "make-tiny", str(directory), "--json"]) == 0
    return directory


@pytest.fixture(scope="session")
def photo():
    """A real photograph (scikit-image's astronaut, 512x512), downscaled to keep CPU tests fast."""
    return sample_photos()[0][1].resize((160, 120))

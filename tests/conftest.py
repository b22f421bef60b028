import pytest
import torch


@pytest.fixture
def generator() -> torch.Generator:
    """A fresh, seeded CPU generator for each test."""
    return torch.Generator().manual_seed(1234)

import os
from pathlib import Path

# The tests make their own network settings: a shell that exports the Hub's offline switches
# (people on clusters keep them set) must not change what they see. huggingface_hub reads
# them once, at import, so they go before anything imports it; tests that need offline set
# them (monkeypatch, or a child process's env), tests of the loopback Hub need them unset.
_OFFLINE_SWITCHES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")
for _name in _OFFLINE_SWITCHES:
    os.environ.pop(_name, None)

# Threads pinned before torch, numpy or a subprocess starts: the cores this session may use
# minus what other jobs keep busy (multisc.devices.cpu_threads), or MULTISC_TEST_THREADS.
# On a machine another job shares, every process spinning up threads for all cores made the
# suite 7x slower; children (CLI runs, Ray workers) inherit the variables.
from multisc.devices import THREAD_VARIABLES, cpu_threads  # noqa: E402

_THREADS = int(os.environ.get("MULTISC_TEST_THREADS") or cpu_threads())
for _name in THREAD_VARIABLES:
    os.environ.setdefault(_name, str(_THREADS))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # idle OpenMP threads sleep, not spin
# Ray starts its workers at nice 15: beside another busy job they got about 4% of a core,
# and the Ray tests stalled for tens of minutes. The tests' clusters run them at nice 0.
os.environ.setdefault("RAY_worker_niceness", "0")

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))

from multisc.data.sources import sample_photos  # noqa: E402

# Ray in tests stays on loopback: with this set before Ray is imported, every node it
# starts takes 127.0.0.1 as its address (otherwise the machine's interface address)
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")


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


@pytest.fixture(scope="session")
def trained_jscc(tmp_path_factory):
    """A small deep JSCC model (k/n = 1/6) trained here at 10 dB on the bundled training
    photos, and its per-step losses."""
    from multisc.codecs.jscc import JSCCConfig
    from multisc.codecs.jscc_training import train_jscc
    from multisc.data.sources import TRAINING_PHOTOS

    out = tmp_path_factory.mktemp("jscc")
    losses = []
    images = [image for _, image in sample_photos(TRAINING_PHOTOS)]
    train_jscc(
        images,
        JSCCConfig("1/6", 10.0),
        out,
        steps=300,
        batch=16,
        crop=64,
        seed=0,
        progress=lambda step, total, loss, psnr: losses.append(loss),
    )
    return out, losses


def pytest_collection_modifyitems(config, items):
    """A ``long`` test is ``slow`` too: the fast tier (``-m 'not slow'``) never runs one."""
    for item in items:
        if item.get_closest_marker("long") and not item.get_closest_marker("slow"):
            item.add_marker(pytest.mark.slow)

"""torch hub checkpoints in the container they really have.

torchvision published ``fcn_resnet50_coco-1167a1af.pth`` on 2020-04-09 (pytorch/vision PR
2086), before torch 1.6 made the zip container the default, and never re-saved it (only
classification weights were, PR 3620; issue 2068 asking for the rest is open). So the
segmenter's real file is a *legacy* pickle, which ``torch.load(mmap=True)`` refuses. The
stand-ins here are written in that container (and in the zip one, for comparison), pulled
from a loopback server as users pull the real files, checked by ``doctor`` and loaded.
"""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image

from multisc.cli import main
from multisc.models import REGISTRY, is_legacy_pickle, load_state_file, weights_problem
from multisc.testing.torch_hub import TORCH_HUB_COMPONENTS, torch_hub_state, write_torch_hub_file
from tests.hub.server import LocalHub

#: seconds each (DISTS' VGG16 is 553 MB): one in the fast tier, all in the slow one
LEGACY = [
    n if n == "inception" else pytest.param(n, marks=pytest.mark.slow) for n in TORCH_HUB_COMPONENTS
]


@pytest.mark.parametrize("name", LEGACY)
def test_legacy_stand_ins_are_what_mmap_refuses_and_load_all_the_same(name, tmp_path):
    legacy = write_torch_hub_file(name, tmp_path / "legacy" / REGISTRY[name].repo_id, legacy=True)
    modern = write_torch_hub_file(name, tmp_path / "zip" / REGISTRY[name].repo_id, legacy=False)
    assert is_legacy_pickle(legacy) and not is_legacy_pickle(modern)
    with pytest.raises(RuntimeError, match="mmap"):  # the failure real users met
        torch.load(legacy, map_location="cpu", weights_only=True, mmap=True)
    assert weights_problem(legacy) is None and weights_problem(modern) is None
    a, b = load_state_file(legacy), load_state_file(modern)
    assert list(a) == list(b) == list(torch_hub_state(name))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert {v.dtype for v in a.values() if v.is_floating_point()} == {torch.float32}


def test_a_legacy_pickle_that_is_not_a_state_dict_is_refused(tmp_path):
    path = tmp_path / "x.pth"
    torch.save([torch.zeros(2)], path, _use_new_zipfile_serialization=False)
    assert "not a state dict" in weights_problem(path)
    path.write_bytes(path.read_bytes()[:-9])
    assert "not a loadable PyTorch state dict" in weights_problem(path)


@pytest.fixture
def torch_hub_env(tmp_path, monkeypatch):
    def serve(legacy: bool) -> LocalHub:
        root = tmp_path / ("legacy" if legacy else "zip")
        for name in ("segmenter", "lpips"):
            write_torch_hub_file(
                name, root / "torch-models" / REGISTRY[name].repo_id, legacy=legacy
            )
        return LocalHub(root)

    return serve


def _pull_and_load(hub: LocalHub, home, monkeypatch) -> tuple[tuple, float]:
    from multisc.metrics.image import LPIPS
    from multisc.transmitter.segmentation import Segmenter

    monkeypatch.setattr(torch.hub, "_hub_dir", None)  # torch.hub.set_dir() would win
    monkeypatch.setenv("TORCH_HOME", str(home))
    monkeypatch.setenv("MULTISC_TORCH_MODELS_URL", hub.url + "/models/")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    assert main(["models", "pull", "segmenter", "lpips", "--json"]) == 0
    fetched = [p for method, p in hub.requests if method == "GET"]
    assert sorted(fetched) == sorted(
        f"/models/{REGISTRY[n].repo_id}" for n in ("segmenter", "lpips")
    )
    monkeypatch.setenv("MULTISC_TORCH_MODELS_URL", "http://127.0.0.1:9/models/")  # offline now
    image = Image.linear_gradient("L").convert("RGB").resize((64, 48))
    segmenter = Segmenter.from_pretrained(None, "cpu", resize=64)
    classes = segmenter.class_map(image)
    x = torch.linspace(0, 1, 3 * 32 * 32).reshape(1, 3, 32, 32)
    distance = float(LPIPS("cpu")(x, x.flip(-1))[0])
    return (classes.shape, int(classes.sum())), distance


@pytest.mark.slow
def test_legacy_and_zip_torch_hub_files_pull_pass_doctor_and_give_the_same_outputs(
    torch_hub_env, tmp_path, monkeypatch, capsys
):
    outputs = []
    for legacy in (True, False):
        with torch_hub_env(legacy) as hub:
            outputs.append(_pull_and_load(hub, tmp_path / f"torch-{legacy}", monkeypatch))
        capsys.readouterr()
        assert main(["models", "doctor", "--json", "--verify"]) == 0
        rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)["components"]}
        for name in ("segmenter", "lpips"):
            file = REGISTRY[name].repo_id
            assert rows[name]["available"] and rows[name]["files"] == {file: "present"}
            # random weights are not torchvision's: the digest in the file name says so
            assert rows[name]["verify"] == {file: "differs"}
    (legacy_classes, legacy_lpips), (zip_classes, zip_lpips) = outputs
    assert legacy_classes == zip_classes
    assert legacy_lpips == zip_lpips and legacy_lpips > 0

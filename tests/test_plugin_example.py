"""Parts from other packages: ``examples/plugin-scheme`` (Img2Img-SC, a scheme) and
``examples/plugin-captioner`` (BLIP-prompted, a captioner) installed with pip, found
through their entry points (``multisc.schemes``, ``multisc.captioners``), run like
built-in ones."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from multisc.data.sources import sample_photos

EXAMPLES = Path(__file__).parents[1] / "examples"
EXAMPLE = EXAMPLES / "plugin-scheme"


def _install(target: Path, example: Path) -> dict[str, str]:
    """``example`` pip-installed into ``target``; the environment that sees it."""
    # build isolation: pip fetches the example's build backend itself, whatever
    # setuptools the venv has
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target),
         str(example)],
        check=True,
    )  # fmt: skip
    path = os.pathsep.join(p for p in (str(target), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path, "HF_HUB_OFFLINE": "1"}


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict[str, str]:
    """The scheme example pip-installed into a target folder."""
    return _install(tmp_path_factory.mktemp("site"), EXAMPLE)


@pytest.fixture(scope="module")
def captioner_installed(tmp_path_factory) -> dict[str, str]:
    """The captioner example pip-installed into a target folder."""
    return _install(tmp_path_factory.mktemp("site-captioner"), EXAMPLES / "plugin-captioner")


def multisc(env, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "multisc.cli", *args], env=env, capture_output=True, text=True
    )


@pytest.mark.slow
def test_the_plugin_is_listed_with_its_settings(installed):
    done = multisc(installed, "schemes", "list", "--json")
    assert done.returncode == 0, done.stderr
    rows = {row["name"]: row for row in json.loads(done.stdout)["schemes"]}
    plugin = rows["img2img_sc"]
    assert plugin["source"] == "multisc-img2img-sc" and plugin["semantic"]
    assert plugin["needs"] == ["vlm_captioner", "generator"]
    assert plugin["settings"]["strength"]["default"] == 0.6
    assert list(rows)[-1] == "img2img_sc"  # after the built-in schemes (order 60)


@pytest.mark.slow
def test_the_plugin_runs_in_a_sweep_like_a_built_in_scheme(installed, tiny_models, tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    for name, image in sample_photos()[:2]:
        image.resize((96, 64)).save(images / f"{name}.png")
    config = {
        "images": str(images),
        "schemes": ["img2img_sc", "bpg_ldpc"],
        "snr_db": [0.0, 18.0],
        "models": str(tiny_models),
        "device": "cpu",
        "out": str(tmp_path / "run"),
        "options": {
            "steps": 2,
            "generation_size": 32,
            "caption_tokens": 8,
            "budget": "1/4",
            "img2img_sc": {"strength": 0.5},
        },
    }
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config))
    done = multisc(installed, "run", str(path), "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["rows"] == 8 and summary["failed"] == []
    with open(tmp_path / "run" / "results.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["scheme"] == "img2img_sc"]
    assert len(rows) == 4 and all(json.loads(r["texts_sent"]) for r in rows)
    # its channel uses: the caption's link + the image downsampled 8x (12x8, + 1)
    for row in rows:
        caption_bits = 8 * len(json.loads(row["texts_sent"])[0].encode())
        assert int(row["channel_uses"]) == caption_bits + 12 * 8 * 3 // 2 + 1
    report = (tmp_path / "run" / "report.html").read_text()
    assert "img2img_sc" in report and "bpg_ldpc" in report
    # a setting out of range: one error naming it, before any work
    config["options"]["img2img_sc"] = {"strength": 2}
    path.write_text(yaml.safe_dump(config))
    done = multisc(installed, "run", str(path))
    assert done.returncode != 0 and "strength must lie in (0, 1]" in done.stderr


@pytest.mark.slow
def test_the_plugin_passes_the_conformance_suite(installed):
    root = Path(__file__).parents[1]
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         str(root / "tests" / "schemes" / "test_conformance.py"), "-k", "img2img_sc"],
        env=installed, capture_output=True, text=True, cwd=root,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:]
    # every conformance test ran for it (the bad-input one for 3 inputs), none skipped
    import inspect

    from tests.schemes import test_conformance as suite

    tests = [f for n, f in vars(suite).items() if n.startswith("test_") and callable(f)]
    expected = sum(3 if "bad" in inspect.signature(f).parameters else 1 for f in tests)
    assert f"{expected} passed" in done.stdout and "skipped" not in done.stdout


@pytest.mark.slow
def test_the_captioner_plugin_is_a_choice_listed_evaluated_and_run(
    captioner_installed, tiny_models, tmp_path
):
    """``blip-prompted`` from its own package: listed among the captioners with its source,
    scored by ``captioner eval``, and a ``vary: captioner`` axis of a sweep whose rows say
    which captioner made them; a typo of it is named."""
    env = captioner_installed
    done = multisc(env, "schemes", "list", "--json")
    assert done.returncode == 0, done.stderr
    entry = next(e for e in json.loads(done.stdout)["captioners"] if e["name"] == "blip-prompted")
    assert entry["source"] == "multisc-blip-prompted" and entry["needs"] == ["vlm_captioner"]
    done = multisc(env, "captioner", "eval", "--captioners", "blip,blip-prompted", "--models",
                   str(tiny_models), "--limit", "1", "--caption-tokens", "4", "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)["results"]
    assert [r["captioner"] for r in results] == ["blip"] * 2 + ["blip-prompted"] * 2
    images = tmp_path / "images"
    images.mkdir()
    sample_photos()[0][1].resize((96, 64)).save(images / "one.png")
    config = {
        "images": str(images), "schemes": ["multisc"], "snr_db": [6.0],
        "models": str(tiny_models), "device": "cpu", "out": str(tmp_path / "run"),
        "options": {"steps": 2, "generation_size": 32, "caption_tokens": 4},
        "vary": {"captioner": ["llava-interleave-qwen-0.5b", "blip-prompted"]},
    }  # fmt: skip
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config))
    done = multisc(env, "run", str(path), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["rows"] == 2
    with open(tmp_path / "run" / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert sorted(r["captioner"] for r in rows) == ["blip-prompted", "llava-interleave-qwen-0.5b"]
    config["vary"]["captioner"] = ["blip-promted"]
    path.write_text(yaml.safe_dump(config))
    done = multisc(env, "run", str(path))
    assert done.returncode == 2 and "did you mean 'blip-prompted'" in done.stderr
    # the parts' conformance suite runs over it too (parametrised from the registries)
    root = Path(__file__).parents[1]
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         str(root / "tests" / "test_parts.py"), "-k", "blip-prompted"],
        env=env, capture_output=True, text=True, cwd=root,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:]
    assert "2 passed" in done.stdout and "skipped" not in done.stdout

"""The real checkpoints as users get them: the recorded manifests, `multisc models pull` from
a Hub on loopback serving the recorded repo layouts (tiny models under the real ids, file
names and formats), then every component loaded offline through the normal path.

The pull and the offline load run as subprocesses: ``huggingface_hub`` reads
``HF_ENDPOINT``, ``HF_HOME`` and ``HF_HUB_OFFLINE`` when it is imported, as users set them.

The loopback Hub (``tests/hub/server.py``) answers as the real one does (redirects to a CDN
host, ``X-Linked-*``, 206 ranges, 401s, paginated trees), except for Xet storage: files the
real Hub keeps in Xet (BLIP's ``pytorch_model.bin`` among them) are fetched there through
``hf_xet`` from a CAS server that cannot be served here, so these tests exercise
huggingface_hub's plain-HTTP path for every file (what it does without ``X-Xet-*`` headers).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote

import pytest

from multisc.models import REGISTRY, manifest
from tests.hub.layouts import PLACEHOLDER, build_hub, build_repo
from tests.hub.server import LocalHub

MULTISC = [sys.executable, "-m", "multisc.cli"]
REPO_ROOT = Path(__file__).resolve().parents[1]
#: this source tree first on the path of every subprocess (not another installed copy)
TREE = os.pathsep.join([str(REPO_ROOT / "src"), str(REPO_ROOT)])


def _hermetic(environ) -> dict[str, str]:
    """The environment without what steers downloads: HF_*/MULTISC_* settings, the offline
    switches (huggingface_hub honours TRANSFORMERS_OFFLINE too) and proxies."""
    return {
        k: v
        for k, v in environ.items()
        if not k.startswith(("HF_", "MULTISC_"))
        and k != "TRANSFORMERS_OFFLINE"
        and not k.lower().endswith("_proxy")
    }


def hub_env(hub: LocalHub, home: Path, **extra: str) -> dict[str, str]:
    env = _hermetic(os.environ)
    env.update(
        HF_ENDPOINT=hub.url,
        HF_HOME=str(home / "hf"),
        TORCH_HOME=str(home / "torch"),
        MULTISC_TORCH_MODELS_URL=hub.url + "/models/",
        MULTISC_CACHE=str(home / "multisc"),
        HF_HUB_DISABLE_TELEMETRY="1",
        PYTHONPATH=TREE,
    )
    env.update(extra)
    return env


def multisc(args: list[str], env: dict[str, str], timeout: float = 300):
    return subprocess.run(
        [*MULTISC, *args], env=env, capture_output=True, text=True, timeout=timeout
    )


# -- the recorded facts ------------------------------------------------------------------


@pytest.mark.parametrize("name", list(REGISTRY))
def test_each_manifest_names_its_pages_and_its_weights_are_real_files(name):
    record = manifest(name)
    assert record["pages"] and all(str(u).startswith("https://") for u in record["pages"].values())
    files = set(record["files"])
    assert set(record["weights"]) <= set(record["needed"]) <= files
    item = REGISTRY[name]
    assert item.weights == tuple(record["weights"]) and item.needed == tuple(record["needed"])


def test_manifests_record_the_facts_the_code_depends_on():
    # BLIP and CLIP: no safetensors on main, so the weights are the .bin files
    for name in ("vlm_captioner", "clip"):
        assert "model.safetensors" not in manifest(name)["files"]
        assert REGISTRY[name].weights == ("pytorch_model.bin",)
    # IP-Adapter: the 2.5 GB image_encoder/pytorch_model.bin is never pulled
    assert "models/image_encoder/pytorch_model.bin" in manifest("ip_adapter")["files"]
    assert "models/image_encoder/pytorch_model.bin" not in REGISTRY["ip_adapter"].needed
    # the corrector keeps its search settings in config.json and has no generation config
    corrector = manifest("corrector")
    assert corrector["no_generation_config"] and "generation_config.json" not in corrector["files"]
    assert corrector["configs"]["config.json"]["no_repeat_ngram_size"] == 3
    # LLaVA: Qwen1.5-0.5B-Chat (16 KV heads), SigLIP 26 layers without head, bf16
    llava = manifest("captioner")["configs"]["config.json"]
    assert llava["text_config"]["num_key_value_heads"] == 16
    assert (
        llava["text_config"]["hidden_size"] == 1024 and llava["text_config"]["vocab_size"] == 152000
    )
    assert llava["vision_config"]["num_hidden_layers"] == 26
    assert llava["vision_config"]["vision_use_head"] is False
    assert llava["image_token_index"] == 151646
    assert REGISTRY["captioner"].checkpoint_dtype == "bfloat16"


def test_full_size_llava_stand_in_is_the_recorded_config_key_by_key():
    import torch
    from transformers import LlavaForConditionalGeneration

    from multisc.testing import full_llava_config

    config = full_llava_config()
    recorded = manifest("captioner")["configs"]["config.json"]
    for part in ("text_config", "vision_config"):
        built = getattr(config, part)
        for key, value in recorded[part].items():
            if key in ("architectures", "_name_or_path", "model_type", "torch_dtype"):
                continue
            found = getattr(built, key, None)
            if key == "rope_theta":
                found = built.rope_parameters["rope_theta"]
            if key == "sliding_window" and not recorded[part]["use_sliding_window"]:
                found = value if found is None else found  # transformers drops an unused window
            assert found == value, (part, key, found, value)
    assert config.image_token_index == recorded["image_token_index"]
    assert config.vision_feature_select_strategy == "full"
    with torch.device("meta"):
        model = LlavaForConditionalGeneration(config)
    language = sum(p.numel() for p in model.model.language_model.parameters())
    assert 463e6 < language < 465e6  # Qwen1.5-0.5B with its 152,000-token embedding
    total = sum(p.numel() for p in model.parameters())
    # model.safetensors is 1.73 GB of bf16 on the Hub: 865 M parameters
    assert abs(total * 2 - 1.73e9) < 0.01e9


# -- a Hub on loopback -------------------------------------------------------------------


@pytest.fixture(scope="module")
def hub_root(tiny_models, tmp_path_factory) -> Path:
    return build_hub(tiny_models, tmp_path_factory.mktemp("hub"))


LOAD_EVERYTHING = """
import json, os
M = os.environ.get("MODELS") or None  # --models DIR (an export), else the caches
from PIL import Image
import torch
from multisc.metrics.distribution import InceptionFeatures
from multisc.metrics.image import DISTS, LPIPS, ClipImageCosine
from multisc.receiver.correction import BartCorrector
from multisc.receiver.generation import ImageGenerator
from multisc.transmitter.captioning import BlipCaptioner, LlavaCaptioner
from multisc.transmitter.segmentation import Segmenter

image = Image.new("RGB", (48, 40), (120, 60, 30))
out = {}
out["segment"] = Segmenter.from_pretrained(M, "cpu", resize=64).segment([image])[0].box
out["llava"] = LlavaCaptioner.from_pretrained(M, "cpu", max_new_tokens=4).caption([image])
out["blip"] = BlipCaptioner.from_pretrained(M, "cpu", max_new_tokens=4).caption([image])
corrector = BartCorrector.from_pretrained(M, "cpu", max_length=12)
out["corrector_no_repeat_ngram_size"] = corrector.model.generation_config.no_repeat_ngram_size
out["correct"] = corrector.correct(["a dgo"])
gen = ImageGenerator.from_pretrained(M, "cpu", ip_adapter=True, steps=2)
seed = [torch.Generator().manual_seed(0)]
out["generate"] = gen.generate(["a dog"], seed, slices=[image])[0].size
x = torch.rand(1, 3, 32, 32)
out["clip"] = float(ClipImageCosine("cpu", M)(x, x)[0])
out["lpips"] = float(LPIPS("cpu", models_dir=M)(x, x)[0])
out["dists"] = float(DISTS("cpu", M)(x, x)[0])
out["inception"] = list(InceptionFeatures("cpu", M)([image]).shape)
# every registered choice of every part, loaded as a run loads it
from multisc.receiver.generators import make_generator
from multisc.transmitter.captioners import captioner_names, make_captioner
from multisc.transmitter.segmenters import make_segmenter, segmenter_names

out["segmenters"] = sorted(n for n in segmenter_names() if make_segmenter(n, M, "cpu", 64)
                           .segment([image])[0].mask.shape == (40, 48))
out["captioners"] = sorted(n for n in captioner_names()
                           if len(make_captioner(n, M, "cpu", 4).caption([image])) == 1)
lcm = make_generator("sd15-lcm", M, "cpu", "plus").with_settings(0.5, 2, 1.0, 32)
out["lcm_plus"] = [type(lcm.pipe.scheduler).__name__, lcm.image_features,
                   lcm.generate(["a dog"], seed, slices=[image])[0].size]
print(json.dumps(out))
"""


@pytest.mark.slow
@pytest.mark.long
def test_pull_fetches_exactly_the_needed_files_then_every_component_loads_offline(
    hub_root, tmp_path
):
    with LocalHub(hub_root) as hub:
        env = hub_env(hub, tmp_path)
        pulled = multisc(["models", "pull", "--json"], env)
        assert pulled.returncode == 0, pulled.stderr
        assert f"downloading {len(REGISTRY)} component(s)" in pulled.stderr
        asked = [p for method, p in hub.requests if "/resolve/" in p]
        from_cdn = {unquote(p.split("name=", 1)[1]) for m, p, _ in hub.cdn_requests if m == "GET"}
    assert set(json.loads(pulled.stdout)) == set(REGISTRY)
    for name, item in REGISTRY.items():
        if item.torch_hub:
            continue
        files = {
            p.split("/resolve/", 1)[1].split("/", 1)[1]
            for p in asked
            if p.startswith(f"/{item.repo_id}/")
        }
        # what every component of the repo needs (IP-Adapter and its Plus share h94/IP-Adapter)
        needed = {f for other in REGISTRY.values() if other.repo_id == item.repo_id
                  for f in other.needed}  # fmt: skip
        assert files and files <= needed, (name, files - needed)
        assert set(item.weights) <= files and set(item.weights) <= from_cdn  # via the CDN
    # nothing that the real repos hold beside what multisc needs came over the wire
    snapshots = list((tmp_path / "hf" / "hub").glob("models--*/snapshots/*/**/*"))
    assert not [p for p in snapshots if p.is_file() and p.read_bytes() == PLACEHOLDER]

    offline = hub_env(hub, tmp_path, HF_HUB_OFFLINE="1")
    offline["HF_ENDPOINT"] = "http://127.0.0.1:9"  # nothing answers there: truly offline
    doctor = multisc(["models", "doctor", "--json"], offline)
    assert doctor.returncode == 0, doctor.stderr
    rows = {row["name"]: row for row in json.loads(doctor.stdout)["components"]}
    assert all(row["available"] and row["action"] is None for row in rows.values())
    assert rows["vlm_captioner"]["files"]["pytorch_model.bin"] == "present"

    loaded = subprocess.run(
        [sys.executable, "-c", LOAD_EVERYTHING], env=offline, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    out = json.loads(loaded.stdout.strip().splitlines()[-1])
    assert len(out["llava"]) == 1 and len(out["blip"]) == 1 and len(out["correct"]) == 1
    assert out["corrector_no_repeat_ngram_size"] == 0  # the repo's 3 is not what decodes
    assert out["generate"] == [32, 32]
    assert out["clip"] == pytest.approx(1.0, abs=1e-4) and out["lpips"] == pytest.approx(
        0.0, abs=1e-6
    )
    assert out["dists"] == pytest.approx(0.0, abs=1e-6) and out["inception"] == [1, 2048]
    from multisc.schemes.roles import ROLES

    assert out["segmenters"] == sorted(ROLES["segmenter"].names())
    assert out["captioners"] == sorted(ROLES["captioner"].names())
    assert out["lcm_plus"] == ["LCMScheduler", "hidden_states", [32, 32]]

    # a self-contained copy: the bytes (the cache's snapshot files are links into blobs/),
    # each component with the repo and commit it came from; it loads with no cache at all
    exported = multisc(["models", "export", str(tmp_path / "export"), "--json"], offline)
    assert exported.returncode == 0, exported.stderr[-2000:]
    records = json.loads(exported.stdout)
    assert set(records) == set(REGISTRY)
    assert records["generator"]["commit"] == REGISTRY["generator"].revision
    copied = [p for p in (tmp_path / "export").rglob("*") if not p.is_dir()]
    assert copied and not [p for p in copied if p.is_symlink()]
    legacy = tmp_path / "export" / "segmenter" / REGISTRY["segmenter"].repo_id
    from multisc.models import is_legacy_pickle

    assert is_legacy_pickle(legacy)  # copied as published
    bare = {**offline, "HF_HOME": str(tmp_path / "empty"), "TORCH_HOME": str(tmp_path / "empty")}
    again = subprocess.run(
        [sys.executable, "-c", LOAD_EVERYTHING], capture_output=True, text=True, timeout=300,
        env={**bare, "MODELS": str(tmp_path / "export")},
    )  # fmt: skip
    assert again.returncode == 0, again.stderr[-3000:]
    from_export = json.loads(again.stdout.strip().splitlines()[-1])
    assert from_export == {
        **out,
        "clip": pytest.approx(out["clip"], abs=1e-6),
        "dists": pytest.approx(out["dists"], abs=1e-6),
    }
    doctor = multisc(["models", "doctor", "--models", str(tmp_path / "export"), "--json"], bare)
    rows = {row["name"]: row for row in json.loads(doctor.stdout)["components"]}
    assert all(row["available"] for row in rows.values())
    assert rows["corrector"]["commit"] == REGISTRY["corrector"].revision


@pytest.mark.slow
def test_run_downloads_missing_components_saying_the_total_size_first(hub_root, tmp_path):
    with LocalHub(hub_root) as hub:
        env = hub_env(hub, tmp_path)
        args = ["run", "--schemes", "vlm_csc", "--snr", "10", "--limit", "1", "--json"]
        result = multisc([*args, "--out", str(tmp_path / "run")], env)
    assert result.returncode == 0, result.stderr[-3000:]
    said = result.stderr
    assert "downloading" in said and "skipping" not in said
    payload = json.loads(result.stdout)
    assert payload["schemes"] == ["vlm_csc"] and payload["rows"] == 1 and not payload["skipped"]
    # vlm_csc needs BLIP and SD (its corrector is off by default); metrics need CLIP, LPIPS
    first = said.index("downloading")
    assert "vlm_captioner" in said[first:] and "generator" in said[first:]
    cached = {p.name for p in (tmp_path / "hf" / "hub").glob("models--*")}
    assert "models--Salesforce--blip-image-captioning-base" in cached
    # the run names the exact weights: the commit each snapshot is, the files' sizes
    from multisc.experiment.store import STORE_FILE, ResultStore

    store = ResultStore(tmp_path / "run" / STORE_FILE)
    try:
        components = json.loads(store.latest_run()["components"])
    finally:
        store.close()
    generator = components["generator"]
    assert generator["commit"] == generator["pinned"] == REGISTRY["generator"].revision
    assert generator["source"] == "hub-cache" and generator["weights"]
    blip = components["vlm_captioner"]  # pinned since its commit was read (82a3776)
    assert blip["commit"] == blip["pinned"] == REGISTRY["vlm_captioner"].revision


@pytest.mark.slow
def test_without_network_run_skips_with_one_line_each_and_no_wait(tmp_path):
    env = _hermetic(os.environ)
    env.update(
        HF_HOME=str(tmp_path / "hf"),
        TORCH_HOME=str(tmp_path / "torch"),
        HF_ENDPOINT="http://127.0.0.1:9",
        MULTISC_TORCH_MODELS_URL="http://127.0.0.1:9/models/",
        MULTISC_CACHE=str(tmp_path / "multisc"),
        PYTHONPATH=TREE,
    )
    for name in ("vlm_captioner", "segmenter"):  # a Hub repo, a torch hub file
        # nothing answers at port 9: a retry loop would hang past the timeout (a hang
        # guard, not a measured time)
        result = multisc(["models", "pull", name], env, timeout=240)
        assert result.returncode == 2
        assert result.stderr.strip().count("\n") == 0 and "could not download" in result.stderr
        assert "Traceback" not in result.stderr
    run = multisc(["run", "--schemes", "vlm_csc,bpg_ldpc", "--snr", "10", "--limit", "1",
                   "--out", str(tmp_path / "run"), "--json"], env)  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    assert json.loads(run.stdout)["schemes"] == ["bpg_ldpc"]
    skipped = [line for line in run.stderr.splitlines() if line.startswith("skipping")]
    assert len(skipped) == 1 and "vlm_captioner" in skipped[0] and "downloading" not in run.stderr


def test_bf16_checkpoints_compute_in_bf16_on_gpus_that_have_it(monkeypatch):
    import torch

    from multisc.models import component_dtype

    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert component_dtype("captioner", cuda) == torch.bfloat16
    assert component_dtype("corrector", cuda) == torch.float16
    assert component_dtype("captioner", cpu) == torch.float32
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert component_dtype("captioner", cuda) == torch.float32  # never Qwen in fp16


# -- bad input: one clear error each -----------------------------------------------------


def test_a_repo_without_a_needed_file_is_one_clear_error(tiny_models, tmp_path):
    root = tmp_path / "hub"
    repo = build_repo("vlm_captioner", tiny_models, root)
    (repo / "pytorch_model.bin").unlink()
    with LocalHub(root) as hub:
        result = multisc(["models", "pull", "vlm_captioner"], hub_env(hub, tmp_path))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    message = result.stderr.strip()
    assert "'vlm_captioner'" in message and "pytorch_model.bin" in message
    assert message.count("\n") == 0  # found in the listing, before any download


@pytest.mark.slow
def test_a_truncated_download_is_one_clear_error(tiny_models, tmp_path):
    root = tmp_path / "hub"
    build_repo("clip", tiny_models, root)
    with LocalHub(root, truncate=("pytorch_model.bin",)) as hub:
        result = multisc(["models", "pull", "clip"], hub_env(hub, tmp_path), timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]  # before it: huggingface_hub's retries
    assert last.startswith("error: component 'clip'") and "pytorch_model.bin" in last
    assert result.stderr.count("error:") == 1
    # huggingface_hub 2.4 downloads into a unique .incomplete file and deletes it when the
    # download fails: the next pull starts that file from its first byte, and says so
    assert "starts again from its first byte" in last and "resumes" not in last
    cached = tmp_path / "hf" / "hub" / "models--openai--clip-vit-base-patch32"
    assert not list(cached.glob("snapshots/*/pytorch_model.bin"))  # no truncated file to load
    assert not list(cached.glob("blobs/*.incomplete"))


@pytest.fixture
def models_copy(tiny_models, tmp_path) -> Path:
    import shutil

    return Path(shutil.copytree(tiny_models, tmp_path / "models"))


def test_a_bin_that_is_not_a_state_dict_is_refused_without_running_it(models_copy, tmp_path):
    import torch

    from multisc.errors import ModelFileError
    from multisc.transmitter.captioning import BlipCaptioner

    directory = models_copy / "vlm_captioner"
    assert not (directory / "model.safetensors").exists()  # BLIP's real container: a .bin
    torch.save([1, 2, 3], directory / "pytorch_model.bin")  # a pickle, not a state dict
    with pytest.raises(ModelFileError, match=r"'vlm_captioner'.*pytorch_model\.bin.*state dict"):
        BlipCaptioner.from_pretrained(models_copy, "cpu")

    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    import pickle

    (directory / "pytorch_model.bin").write_bytes(pickle.dumps({"w": Payload()}))
    with pytest.raises(ModelFileError, match=r"pytorch_model\.bin"):
        BlipCaptioner.from_pretrained(models_copy, "cpu")
    assert not marker.exists()  # weights_only=True: the payload never ran


@pytest.mark.slow
def test_truncated_weights_name_the_file_and_what_to_do(models_copy):
    from multisc.errors import ModelFileError
    from multisc.receiver.correction import BartCorrector

    weights = models_copy / "corrector" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1000])
    with pytest.raises(ModelFileError, match=r"'corrector'.*model\.safetensors.*truncated"):
        BartCorrector.from_pretrained(models_copy, "cpu")
    doctor = subprocess.run(
        [*MULTISC, "models", "doctor", "--models", str(models_copy), "--json"],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": TREE},
    )  # fmt: skip
    row = {r["name"]: r for r in json.loads(doctor.stdout)["components"]}["corrector"]
    assert row["files"]["model.safetensors"] == "partial" and not row["available"]
    assert "make-tiny" in row["action"]


def test_a_llava_processor_that_does_not_match_its_model_is_one_clear_error(models_copy):
    from multisc.errors import ModelFileError
    from multisc.transmitter.captioning import LlavaCaptioner

    path = models_copy / "captioner" / "processor_config.json"
    config = json.loads(path.read_text())
    # a stale processor config (the strategy the repo had before its fix) is reconciled
    config["vision_feature_select_strategy"] = "default"
    path.write_text(json.dumps(config))
    captioner = LlavaCaptioner.from_pretrained(models_copy, "cpu", max_new_tokens=3)
    assert captioner.processor.vision_feature_select_strategy == "full"
    assert len(captioner.caption([__import__("PIL.Image").Image.new("RGB", (40, 30))])) == 1
    # an image size the vision tower does not take cannot be: one error, both values
    config["image_processor"]["size"] = {"height": 48, "width": 48}
    path.write_text(json.dumps(config))
    with pytest.raises(ModelFileError, match=r"insert 36 image tokens.*gives 16 image features"):
        LlavaCaptioner.from_pretrained(models_copy, "cpu")


def test_make_tiny_and_make_random_write_only_the_components_named(tmp_path):
    from multisc.cli import main

    assert main(["models", "make-tiny", str(tmp_path / "t"), "--only", "corrector", "--json"]) == 0
    assert [p.name for p in (tmp_path / "t").iterdir()] == ["corrector"]
    args = ["models", "make-random", str(tmp_path / "r"), "--size", "tiny", "--only", "clip"]
    assert main([*args, "--only", "corrector"]) == 0
    assert main(["models", "make-tiny", str(tmp_path / "c"), "--only", "clip,corrector"]) == 0
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == ["clip", "corrector"]
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == ["clip", "corrector"]
    assert main(["models", "make-tiny", str(tmp_path / "x"), "--only", "jpeg"]) == 2
    assert not (tmp_path / "x").exists()


# -- the Hub as it really answers (tests/hub/server.py) ------------------------------------


def _pull(name: str, hub: LocalHub, home: Path, *args: str, **extra: str):
    return multisc(["models", "pull", name, *args, "--json"], hub_env(hub, home, **extra))


def _one_line_error(result) -> str:
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    message = result.stderr.strip().splitlines()[-1]
    assert result.stderr.count("error:") == 1
    return message


def test_lfs_files_come_from_the_cdn_at_the_pinned_commit(tiny_models, tmp_path):
    root = tmp_path / "hub"
    repo = build_repo("corrector", tiny_models, root)
    with LocalHub(root) as hub:
        result = _pull("corrector", hub, tmp_path)
        assert result.returncode == 0, result.stderr[-2000:]
        resolved = [(m, p) for m, p in hub.requests if "/resolve/" in p]
        cdn = [(m, p) for m, p, _ in hub.cdn_requests]
        # a Range request on the CDN: 206 and Content-Range, as the real CDN answers
        import urllib.request

        blob = next(p for m, p in cdn if m == "GET")
        ranged = urllib.request.Request(hub.cdn_url + blob, headers={"Range": "bytes=8-15"})
        with urllib.request.urlopen(ranged) as answer:
            assert answer.status == 206 and len(answer.read()) == 8
            total = (repo / "model.safetensors").stat().st_size
            assert answer.headers["Content-Range"] == f"bytes 8-15/{total}"
    pinned = REGISTRY["corrector"].revision
    # the pinned commit is asked for by name: no ref lookup, the snapshot is that commit
    assert all(f"/resolve/{pinned}/" in p for _, p in resolved)
    assert any(p.endswith("model.safetensors") for _, p in resolved)
    assert [p for m, p in cdn if m == "GET" and "model.safetensors" in p]
    snapshot = Path(json.loads(result.stdout)["corrector"])
    assert snapshot.name == pinned
    assert (snapshot / "model.safetensors").read_bytes() == (
        repo / "model.safetensors"
    ).read_bytes()


def test_the_tree_listing_is_paginated_with_directories_and_honours_recursive(
    tiny_models, tmp_path
):
    from huggingface_hub import HfApi

    root = tmp_path / "hub"
    repo = build_repo("generator", tiny_models, root)
    with LocalHub(root, page_size=3) as hub:
        api = HfApi(endpoint=hub.url)
        top = list(api.list_repo_tree("stable-diffusion-v1-5/stable-diffusion-v1-5"))
        deep = list(
            api.list_repo_tree("stable-diffusion-v1-5/stable-diffusion-v1-5", recursive=True)
        )
        pages = [p for _, p in hub.requests if "/tree/" in p]
    kinds = {type(e).__name__ for e in top}
    assert kinds == {"RepoFile", "RepoFolder"}  # directory entries, one level
    assert {e.path for e in top if type(e).__name__ == "RepoFolder"} >= {"unet", "vae"}
    assert all("/" not in e.path for e in top)
    files = {e.path for e in deep if type(e).__name__ == "RepoFile"}
    assert files == {str(p.relative_to(repo)) for p in repo.rglob("*") if p.is_file()}
    assert set(REGISTRY["generator"].weights) <= files
    # every page followed through `Link: <...>; rel="next"`, 3 entries a page
    assert len(pages) == -(-len(top) // 3) + -(-len(deep) // 3) and len(pages) > 2


@pytest.mark.slow
def test_a_missing_or_gated_repo_is_401_and_one_line_saying_what_to_do(tiny_models, tmp_path):
    root = tmp_path / "hub"
    build_repo("clip", tiny_models, root)
    with LocalHub(root) as hub:  # no corrector repo at all: renamed or removed
        missing = _one_line_error(_pull("corrector", hub, tmp_path))
    assert "'oliverguhr/spelling-correction-english-base'" in missing
    assert "401 RepoNotFound" in missing and "hf auth login" in missing
    assert "internet connection" not in missing and "broke off" not in missing
    with LocalHub(root, gated=("openai/clip-vit-base-patch32",)) as hub:
        gated = _one_line_error(_pull("clip", hub, tmp_path))
    assert "gated" in gated and "hf auth login" in gated and "openai/clip-vit" in gated


@pytest.mark.slow
def test_a_pinned_commit_the_hub_no_longer_has_says_how_to_float(tiny_models, tmp_path):
    root = tmp_path / "hub"
    build_repo("corrector", tiny_models, root)
    repo_id = REGISTRY["corrector"].repo_id
    with LocalHub(root, commits={repo_id: "e" * 40}) as hub:
        gone = _one_line_error(_pull("corrector", hub, tmp_path))
        assert "RevisionNotFound" in gone and "--revision main" in gone
        floated = _pull("corrector", hub, tmp_path, "--revision", "main")
    assert floated.returncode == 0, floated.stderr[-2000:]
    assert Path(json.loads(floated.stdout)["corrector"]).name == "e" * 40


@pytest.mark.slow
def test_revision_main_floats_and_doctor_says_it_is_not_the_pinned_one(tiny_models, tmp_path):
    root = tmp_path / "hub"
    build_repo("corrector", tiny_models, root)
    repo_id, pinned = REGISTRY["corrector"].repo_id, REGISTRY["corrector"].revision
    newer = "f" * 40
    with LocalHub(root, heads={repo_id: newer}) as hub:
        env = hub_env(hub, tmp_path)
        assert multisc(["models", "pull", "corrector", "--revision", "main"], env).returncode == 0
        rows = {
            r["name"]: r
            for r in json.loads(multisc(["models", "doctor", "--json"], env).stdout)["components"]
        }
        row = rows["corrector"]
        assert row["available"] and row["commit"] == newer and row["pinned"] == pinned
        assert "not the pinned" in row["note"] and "multisc models pull corrector" in row["note"]
        assert multisc(["models", "pull", "corrector"], env).returncode == 0  # the pinned one
        rows = {
            r["name"]: r
            for r in json.loads(multisc(["models", "doctor", "--json"], env).stdout)["components"]
        }
    # pinned now; the hub serves tiny stand-ins, which doctor names as such
    assert rows["corrector"]["commit"] == pinned
    assert rows["corrector"]["note"].startswith("random stand-in weights")


@pytest.mark.parametrize(
    "variable", ["HF_HUB_OFFLINE", pytest.param("TRANSFORMERS_OFFLINE", marks=pytest.mark.slow)]
)
def test_either_offline_variable_is_named_in_the_one_line(variable, tiny_models, tmp_path):
    root = tmp_path / "hub"
    build_repo("clip", tiny_models, root)
    with LocalHub(root) as hub:
        message = _one_line_error(_pull("clip", hub, tmp_path, **{variable: "1"}))
        assert not [p for _, p in hub.requests if "/resolve/" in p]
    assert f"{variable} is set" in message and "Dry run" not in message


@pytest.mark.slow
def test_a_hub_behind_a_proxy_is_reached_through_it(tiny_models, tmp_path):
    from tests.hub.proxy import LoopbackProxy

    root = tmp_path / "hub"
    build_repo("clip", tiny_models, root)
    with LocalHub(root) as hub, LoopbackProxy({"hub.invalid": "127.0.0.1"}) as proxy:
        port = hub.url.rsplit(":", 1)[1]
        behind = {"HF_ENDPOINT": f"http://hub.invalid:{port}"}  # no resolver knows it
        direct = _one_line_error(_pull("clip", hub, tmp_path / "a", **behind))
        assert "not reachable" in direct and not proxy.requests
        result = _pull("clip", hub, tmp_path / "b", **behind, HTTP_PROXY=proxy.url)
        assert result.returncode == 0, result.stderr[-2000:]
        through = [p for _, p in proxy.requests]
    assert any(p.startswith("http://hub.invalid:") and "/resolve/" in p for p in through)
    assert any(p.startswith(hub.cdn_url) for p in through)  # the CDN too
    snapshot = Path(json.loads(result.stdout)["clip"])
    assert (snapshot / "pytorch_model.bin").stat().st_size > 0


def test_verify_hashes_the_weights_against_the_recorded_digests(tiny_models, monkeypatch):
    import dataclasses
    import hashlib

    from multisc.models import verify

    # a stand-in is not the published file, and verify says so
    assert verify("captioner", tiny_models) == {"model.safetensors": "differs"}
    assert verify("clip", tiny_models) == {"pytorch_model.bin": "differs"}
    no_digest = dataclasses.replace(REGISTRY["clip"], sha256={})
    monkeypatch.setitem(REGISTRY, "clip", no_digest)
    assert verify("clip", tiny_models) == {"pytorch_model.bin": "no recorded digest"}
    # the same bytes as recorded: a match
    data = (tiny_models / "captioner" / "model.safetensors").read_bytes()
    entry = dataclasses.replace(
        REGISTRY["captioner"], sha256={"model.safetensors": hashlib.sha256(data).hexdigest()}
    )
    monkeypatch.setitem(REGISTRY, "captioner", entry)
    assert verify("captioner", tiny_models) == {"model.safetensors": "match"}
    assert verify("corrector", tiny_models / "nowhere") == {"model.safetensors": "missing"}


@pytest.mark.slow
@pytest.mark.parametrize("behaviour", ["endless", "trickle"])
def test_a_hostile_body_is_stopped_with_one_line(behaviour, tiny_models, tmp_path):
    from multisc.testing.torch_hub import write_torch_hub_file

    root = tmp_path / "hub"
    build_repo("clip", tiny_models, root)
    write_torch_hub_file("lpips", root / "torch-models" / REGISTRY["lpips"].repo_id)
    names = ("pytorch_model.bin", REGISTRY["lpips"].repo_id)
    with LocalHub(root, **{behaviour: names}) as hub:
        env = hub_env(hub, tmp_path, MULTISC_DOWNLOAD_STALL_S="2")
        # neither waits for ever: the body never ends, so only multisc's bound stops it
        # before the (hang-guard) timeout
        hub_pull = multisc(["models", "pull", "clip"], env, timeout=240)
        torch_pull = multisc(["models", "pull", "lpips"], env, timeout=240)
    message = _one_line_error(hub_pull)  # the Hub announced the size: stopped there
    assert "multisc stopped the download" in message
    assert ("stalled" if behaviour == "trickle" else "sent more than") in message
    message = _one_line_error(torch_pull)
    if behaviour == "trickle":
        assert "multisc stopped the download" in message and "stalled" in message
    else:  # no length announced: bounded by the recorded size, then refused as weights
        assert "not a loadable PyTorch state dict" in message
    assert not list((tmp_path / "torch").rglob("*.pth"))  # nothing kept
    size = (root / "openai/clip-vit-base-patch32/pytorch_model.bin").stat().st_size
    written = sum(p.stat().st_size for p in (tmp_path / "hf").rglob("*") if p.is_file())
    written += sum(p.stat().st_size for p in (tmp_path / "torch").rglob("*") if p.is_file())
    assert written < 4 * size + (1 << 20)  # stopped at the announced size, nothing kept


def test_an_etag_that_is_a_path_is_refused_before_it_names_a_file(tiny_models, tmp_path):
    root = tmp_path / "hub"
    build_repo("clip", tiny_models, root)
    with LocalHub(root, etag="../../../../escaped") as hub:
        message = _one_line_error(_pull("clip", hub, tmp_path))
    assert "ETag" in message and "not a git or SHA-256 digest" in message
    assert not list(tmp_path.rglob("escaped*"))  # nothing made outside HF_HOME (or in it)


@pytest.mark.slow
def test_the_tests_pass_with_the_offline_switches_exported():
    """People on clusters keep HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE set in their shell;
    huggingface_hub reads them once at import, so the tests' conftest clears them first.
    A loopback-Hub test run as a user would run it, with both exported, passes."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    test = (
        "tests/test_hub_conformance.py::"
        "test_the_tree_listing_is_paginated_with_directories_and_honours_recursive"
    )
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test],
        env=env, capture_output=True, text=True, timeout=600, cwd=Path(__file__).parents[1],
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:]
    assert "1 passed" in result.stdout


@pytest.mark.slow
def test_export_never_writes_through_a_link_nor_into_a_file(hub_root, tmp_path):
    """Links planted where the export writes (the record, a weights file, the partial a
    copy starts as) are replaced, their targets untouched; a file as the folder, a linked
    component folder and a dangling link are one line each."""
    with LocalHub(hub_root) as hub:
        env = hub_env(hub, tmp_path)
        assert multisc(["models", "pull", "corrector"], env).returncode == 0
    offline = {**hub_env(hub, tmp_path, HF_HUB_OFFLINE="1"), "HF_ENDPOINT": "http://127.0.0.1:9"}
    sentinel = tmp_path / "sentinel"
    sentinel.write_text("keep")
    out = tmp_path / "export" / "corrector"
    out.mkdir(parents=True)
    weights = REGISTRY["corrector"].weights[0]
    for name in ("multisc_export.json", weights, "config.json.partial"):
        (out / name).symlink_to(sentinel)
    done = multisc(["models", "export", str(out.parent), "--only", "corrector", "--json"], offline)
    assert done.returncode == 0, done.stderr[-2000:]
    assert sentinel.read_text() == "keep"
    assert not (out / "multisc_export.json").is_symlink()
    assert not (out / weights).is_symlink() and (out / weights).stat().st_size > 1000
    assert json.loads((out / "multisc_export.json").read_text())["repo_id"]

    (tmp_path / "a-file").write_text("keep")
    (tmp_path / "linked").mkdir()
    (tmp_path / "linked" / "corrector").symlink_to(tmp_path / "elsewhere", True)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    for target, said in [
        ("a-file", "is a file, not a folder"),
        ("linked", "is a symbolic link"),
        ("dangling", "which does not exist"),
    ]:
        args = ["models", "export", str(tmp_path / target), "--only", "corrector"]
        refused = multisc(args, offline)
        assert refused.returncode == 2 and said in refused.stderr, refused.stderr[-2000:]
        assert "Traceback" not in refused.stderr
    assert (tmp_path / "a-file").read_text() == "keep" and not list(
        (tmp_path / "elsewhere").iterdir()
    )
    assert not (tmp_path / "nowhere").exists()


@pytest.mark.slow
def test_doctor_says_what_is_wrong_with_each_cached_file(hub_root, tmp_path):
    """In the Hugging Face cache: a truncated CLIP ``pytorch_model.bin`` is partial (the
    component unusable), a weights file that is a folder or a link to a FIFO is not a
    regular file, never "present" nor "missing"."""
    with LocalHub(hub_root) as hub:
        env = hub_env(hub, tmp_path)
        assert multisc(["models", "pull", "clip", "corrector"], env).returncode == 0
    offline = {**hub_env(hub, tmp_path, HF_HUB_OFFLINE="1"), "HF_ENDPOINT": "http://127.0.0.1:9"}
    (clip,) = (tmp_path / "hf" / "hub").glob("models--*clip*/snapshots/*/pytorch_model.bin")
    blob = clip.resolve()
    blob.write_bytes(blob.read_bytes()[: blob.stat().st_size // 2])
    weights = REGISTRY["corrector"].weights[0]
    (corrector,) = (tmp_path / "hf" / "hub").glob(f"models--*spelling*/snapshots/*/{weights}")
    corrector.unlink()
    os.mkfifo(tmp_path / "fifo")
    corrector.symlink_to(tmp_path / "fifo")
    doctor = multisc(["models", "doctor", "--json"], offline)
    assert doctor.returncode == 0, doctor.stderr[-2000:]
    rows = {row["name"]: row for row in json.loads(doctor.stdout)["components"]}
    assert rows["clip"]["files"]["pytorch_model.bin"] == "partial"
    assert not rows["clip"]["available"]
    assert "pytorch_model.bin is truncated" in rows["clip"]["note"]
    assert rows["corrector"]["files"][weights] == "not a regular file"
    assert not rows["corrector"]["available"]

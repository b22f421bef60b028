"""``multisc captioner train`` on the tiny LLaVA: the loss falls in every mode, only the
intended weights move, a LoRA adapter loads back to the same captions, a resumed run equals
an uninterrupted one, two gloo processes equal one at the same global batch, and every bad
record is reported with its number."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from multisc.captioner.train_data import BAD_KINDS, read_records
from multisc.captioner.training import TrainSettings, train
from multisc.data.sources import sample_photos
from multisc.errors import InvalidInputError, TrainingInterrupted
from multisc.transmitter.captioners import CAPTIONER_REGISTRY
from multisc.transmitter.trained import RECORD, load_trained

BASE = "llava-interleave-qwen-0.5b"
CAPTIONS = [
    "a woman in a space suit", "a cat looking at the camera", "a cup of coffee",
    "a rocket on a launch pad", "a man with a camera", "a red flower in a pot",
    "a horse in a field", "a dog on the grass",
]  # fmt: skip


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """Eight image-caption records in LLaVA's conversation JSON, images under img/."""
    root = tmp_path_factory.mktemp("train-data")
    (root / "img").mkdir()
    photos = sample_photos()
    records = []
    for i, caption in enumerate(CAPTIONS):
        name, image = photos[i % len(photos)]
        image.resize((64, 48)).save(root / "img" / f"{name}.png")
        records.append({
            "id": str(i), "image": f"img/{name}.png",
            "conversations": [{"from": "human", "value": "<image>\nDescribe the picture."},
                              {"from": "gpt", "value": caption}],
        })  # fmt: skip
    (root / "data.json").write_text(json.dumps(records))
    return root / "data.json"


def _settings(mode: str, **changes) -> TrainSettings:
    """The whole set in every step (a global batch of 8): the loss is on a fixed set."""
    base = dict(mode=mode, global_batch=8, batch=2, max_steps=8, learning_rate=5e-3,
                lora_rank=4, lora_alpha=8, lora_dropout=0.0, warmup_ratio=0.0)  # fmt: skip
    return TrainSettings(**{**base, **changes})


def _weights(directory: Path) -> dict[str, torch.Tensor]:
    return load_file(str(directory / "model.safetensors"))


@pytest.mark.parametrize("mode", ["projector", "lora", "full"])
def test_the_loss_falls_and_only_the_modes_weights_change(mode, data, tiny_models, tmp_path):
    rate = {"projector": 5e-2, "lora": 2e-2, "full": 5e-3}[mode]  # fewer weights: faster
    result = train(BASE, data, tmp_path / mode, _settings(mode, learning_rate=rate),
                   tiny_models, "cpu")  # fmt: skip
    assert len(result.losses) == 8
    assert result.losses[-1] < 0.85 * result.losses[0], result.losses  # 15% down at least
    before = _weights(tiny_models / "captioner")
    after = _weights(tmp_path / mode)
    changed = {k for k in before if not torch.equal(before[k].float(), after[k].float())}
    projector = {k for k in before if "multi_modal_projector" in k}
    vision = {k for k in before if "vision_tower" in k}
    language = set(before) - projector - vision
    assert not changed & vision  # the vision tower never trains
    if mode == "projector":
        assert changed and changed <= projector  # the language model equals its base
    elif mode == "full":
        assert changed & projector and changed & language
    else:  # lora (merged): the attention projections LoRA targets, and the projector
        assert changed & projector
        lm = {k for k in changed & language}
        assert lm and all(k.split(".")[-2] in ("q_proj", "k_proj", "v_proj", "o_proj")
                          for k in lm)  # fmt: skip
    record = json.loads((tmp_path / mode / RECORD).read_text())
    assert record["mode"] == mode and record["steps"] == 8 and record["base"] == BASE
    assert len(record["data_digest"]) == 64 and record["records"] == 8


def test_a_lora_adapter_loads_back_to_the_in_memory_captions(data, tiny_models, tmp_path):
    result = train(BASE, data, tmp_path / "adapter", _settings("lora", save="adapter"),
                   tiny_models, "cpu")  # fmt: skip
    saved = {p.name for p in (tmp_path / "adapter").iterdir()}
    assert {"adapter_config.json", "adapter_model.safetensors", RECORD} <= saved
    assert "model.safetensors" not in saved  # the adapter alone, on top of its base
    loaded = load_trained(tmp_path / "adapter", CAPTIONER_REGISTRY, tiny_models, "cpu",
                          max_new_tokens=12)  # fmt: skip
    images = [image.resize((64, 48)) for _, image in sample_photos()[:3]]
    from multisc.transmitter.trained import load_base

    in_memory = load_base(BASE, CAPTIONER_REGISTRY, tiny_models, "cpu")
    in_memory.model = result.model.eval()
    in_memory.max_new_tokens = 12
    from multisc.decoding import state_settings

    state_settings(in_memory.model, max_new_tokens=12)
    assert loaded.caption(images) == in_memory.caption(images)


def test_a_resumed_run_equals_an_uninterrupted_one(data, tiny_models, tmp_path):
    settings = _settings("full", global_batch=4, batch=1, max_steps=6, checkpoint_every=2)
    whole = train(BASE, data, tmp_path / "whole", settings, tiny_models, "cpu")

    def stop(entry):  # the defined event: the end of step 3
        if entry["step"] == 3:
            raise KeyboardInterrupt

    with pytest.raises(TrainingInterrupted, match="step 3/6"):
        train(BASE, data, tmp_path / "cut", settings, tiny_models, "cpu", on_step=stop)
    assert (tmp_path / "cut" / "checkpoints" / "step-00000003").is_dir()
    resumed = train(BASE, data, tmp_path / "cut", settings, tiny_models, "cpu")
    assert resumed.losses == pytest.approx(whole.losses, rel=1e-6)
    a, b = _weights(tmp_path / "whole"), _weights(tmp_path / "cut")
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    steps = [json.loads(line)["step"] for line in
             (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()]  # fmt: skip
    assert steps == [1, 2, 3, 4, 5, 6]  # one log, as if never cut


@pytest.mark.slow
def test_two_gloo_processes_train_to_one_process_weights(data, tiny_models, tmp_path):
    """torchrun --nproc_per_node 2 (batch 2 each) against one process (batch 1, 4
    accumulated): the same global batch of 4, the same weights within float rounding."""
    common = ["captioner", "train", "--data", str(data), "--models", str(tiny_models),
              "--mode", "full", "--global-batch", "4", "--max-steps", "4", "--lr", "5e-3",
              "--device", "cpu", "--json"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    one = subprocess.run([sys.executable, "-m", "multisc.cli", *common, "--batch", "1",
                          "--out", str(tmp_path / "one")], env=env, capture_output=True,
                         text=True, timeout=600)  # fmt: skip
    assert one.returncode == 0, one.stderr[-2000:]
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node",
                          "2", "-m", "multisc.cli", *common, "--batch", "2", "--out",
                          str(tmp_path / "two")], env=env, capture_output=True, text=True,
                         timeout=600)  # fmt: skip
    assert two.returncode == 0, two.stderr[-2000:]
    record = json.loads((tmp_path / "two" / RECORD).read_text())
    assert record["world_size"] == 2
    a, b = _weights(tmp_path / "one"), _weights(tmp_path / "two")
    assert max((a[k] - b[k]).abs().max().item() for k in a) < 1e-4
    la = [
        json.loads(x)["loss"] for x in (tmp_path / "one" / "metrics.jsonl").read_text().splitlines()
    ]
    lb = [
        json.loads(x)["loss"] for x in (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()
    ]
    assert la == pytest.approx(lb, rel=1e-5)


def test_every_bad_record_is_reported_with_its_number(tmp_path):
    (tmp_path / "img").mkdir()
    Image.new("RGB", (16, 16)).save(tmp_path / "img" / "ok.png")
    (tmp_path / "img" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not a png")

    def record(image, human="<image>\nDescribe.", answer="a cat"):
        return {"image": image, "conversations": [{"from": "human", "value": human},
                                                  {"from": "gpt", "value": answer}]}  # fmt: skip

    items = [
        record("img/ok.png"),  # 0: fine
        "not a record",  # 1
        record("img/missing.png"),  # 2
        record("img/broken.png"),  # 3
        record("img/ok.png", human="Describe."),  # 4: no <image>
        record("img/ok.png", answer="  "),  # 5: empty answer
        record("../outside.png"),  # 6: leaves the image root
        {
            "conversations": [{"from": "human", "value": "Hello"}, {"from": "gpt", "value": "Hi."}]
        },  # 7: text only, fine
    ]
    path = tmp_path / "data.json"
    path.write_text(json.dumps(items))
    found = read_records(path)
    assert [r.number for r in found.kept] == [0, 7] and found.kept[1].image is None
    assert [(n, kind) for n, kind, _ in found.bad] == [
        (1, "not a record"), (2, "missing image"), (3, "undecodable image"),
        (4, "no <image> token"), (5, "empty answer"), (6, "missing image"),
    ]  # fmt: skip
    assert {kind for _, kind, _ in found.bad} == set(BAD_KINDS)  # every kind exercised
    assert found.report()[0].startswith("record 1: not a record")
    with pytest.raises(InvalidInputError, match=r"6 bad record\(s\), refused.*record 3"):
        read_records(path, on_bad="refuse")


def test_coco_captions_and_the_eval_csv_become_single_turn_records(tmp_path):
    Image.new("RGB", (16, 16)).save(tmp_path / "a.png")
    coco = {"images": [{"id": 1, "file_name": "a.png"}],
            "annotations": [{"image_id": 1, "caption": "a black square"}]}  # fmt: skip
    (tmp_path / "coco.json").write_text(json.dumps(coco))
    (tmp_path / "caps.csv").write_text("image,caption\na.png,a black square\n")
    for name in ("coco.json", "caps.csv"):
        (kept,) = read_records(tmp_path / name).kept
        assert kept.image == tmp_path / "a.png"
        assert kept.turns == (
            ("human", "<image>\nRelay a brief, clear account of the picture shown."),
            ("gpt", "a black square"),
        )


@pytest.mark.slow
def test_the_trained_folder_is_a_captioner_choice(data, tiny_models, tmp_path):
    """``path:DIR`` passes the options check, names its record, and loads as a captioner
    (a folder that is not one is one clear error)."""
    from multisc.schemes.options import SchemeOptions
    from multisc.transmitter.captioners import CAPTIONER_REGISTRY

    train(BASE, data, tmp_path / "t", _settings("projector", max_steps=2), tiny_models, "cpu")
    name = f"path:{tmp_path / 't'}"
    SchemeOptions(captioner=name)  # accepted
    spec = CAPTIONER_REGISTRY.get(name)
    assert spec.info["training_seconds"] > 0 and "projector" in spec.summary
    captioner = spec.build(tiny_models, "cpu", 8, 4)
    assert len(captioner.caption([sample_photos()[0][1].resize((64, 48))])) == 1
    with pytest.raises(InvalidInputError, match="not a trained captioner"):
        SchemeOptions(captioner=f"path:{tmp_path}")


@pytest.mark.slow
def test_the_trained_folder_runs_in_a_sweep_and_in_table_i(data, tiny_models, tmp_path, capsys):
    """A sweep with ``captioner: path:DIR`` stores rows captioned by it, and ``captioner
    eval`` puts its training time in Table I's column."""
    from multisc.cli import main
    from multisc.experiment.config import load_config
    from multisc.experiment.sweep import run_sweep

    train(BASE, data, tmp_path / "t", _settings("lora", max_steps=2, save="adapter"),
          tiny_models, "cpu")  # fmt: skip
    name = f"path:{tmp_path / 't'}"
    config = load_config(
        images="samples", limit=1, schemes=["multisc"], snr_db=[20.0], device="cpu",
        models=str(tiny_models), out=str(tmp_path / "run"),
        options={"captioner": name, "steps": 2, "generation_size": 32},
    )  # fmt: skip
    summary = run_sweep(config)
    assert summary.rows == 1
    assert main(["captioner", "eval", "--captioners", name, "--models", str(tiny_models),
                 "--limit", "1", "--caption-tokens", "4", "--json"]) == 0  # fmt: skip
    results = json.loads(capsys.readouterr().out)["results"]
    assert all(r["training_hours"] > 0 and r["captioner"] == name for r in results)


@pytest.mark.slow
def test_gradient_checkpointing_changes_memory_not_the_numbers(data, tiny_models, tmp_path):
    settings = _settings("full", max_steps=2)
    plain = train(BASE, data, tmp_path / "plain", settings, tiny_models, "cpu")
    settings.gradient_checkpointing = True
    saved = train(BASE, data, tmp_path / "saved", settings, tiny_models, "cpu")
    assert saved.losses == pytest.approx(plain.losses, rel=1e-5)

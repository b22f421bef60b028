"""Prepares batched across images: the same results as one by one, in fewer model calls."""

from pathlib import Path

import pytest

from multisc.experiment.planning import plan_run
from multisc.experiment.prepare_cache import PrepareCache
from multisc.experiment.rundir import load_run_images
from multisc.experiment.store import STORE_FILE, ResultStore
from multisc.experiment.sweep import run_sweep
from multisc.experiment.tasks import Task, task_batches
from multisc.experiment.worker import Worker


def rows_of(out):
    store = ResultStore(Path(out) / STORE_FILE)
    try:
        return sorted(
            store.results(), key=lambda r: (r["image_id"], r["scheme"], r["snr_db"], r["seed"])
        )
    finally:
        store.close()


def semantic_config(fast_config, tiny_models, out, **overrides):
    return fast_config(
        out=out,
        schemes=["multisc", "bpg_ldpc"],
        models=str(tiny_models),
        options={"budget": "match", "steps": 2, "segment_size": 96, "caption_tokens": 8},
        **overrides,
    )[0]


def count_generate_calls(worker: Worker) -> list[int]:
    """Wrap the worker's LLaVA ``generate`` (the real one runs) to record batch sizes."""
    model = worker.components.captioner().model
    calls: list[int] = []
    original = model.generate

    def counting(*args, **kwargs):
        calls.append(int(kwargs["input_ids"].shape[0]))
        return original(*args, **kwargs)

    model.generate = counting
    return calls


def test_task_batches_cover_whole_images_in_order():
    tasks = [Task(i, s, None, {0: [0.0]}) for i in "abcde" for s in ("x", "y")]
    batches = task_batches(tasks, 2)
    assert [[(t.image_id, t.scheme) for t in b] for b in batches] == [
        [("a", "x"), ("a", "y"), ("b", "x"), ("b", "y")],
        [("c", "x"), ("c", "y"), ("d", "x"), ("d", "y")],
        [("e", "x"), ("e", "y")],
    ]
    assert task_batches([], 4) == []


@pytest.mark.slow
def test_batched_prepares_give_the_rows_of_one_by_one(fast_config, tiny_models):
    one = rows_of(run_sweep(semantic_config(fast_config, tiny_models, "one", prepare_batch=1),
                            report=None).out)  # fmt: skip
    batched_config = semantic_config(fast_config, tiny_models, "batched", prepare_batch=3)
    batched = rows_of(run_sweep(batched_config, report=None).out)
    assert len(one) == len(batched) == 18
    for a, b in zip(one, batched, strict=True):
        assert a["texts_sent"] == b["texts_sent"] and a["channel_uses"] == b["channel_uses"]
        assert a["texts_received"] == b["texts_received"]
    counts = PrepareCache(Path(batched_config.out) / "cache", "").counts()
    assert sorted(counts.values()) == [1] * 6  # 3 images x 2 schemes, each prepared once


@pytest.mark.slow
def test_one_generate_captions_every_block_of_every_image(fast_config, tiny_models):
    config = semantic_config(fast_config, tiny_models, "calls", prepare_batch=3)
    plan = plan_run(config, lambda line: None)
    worker = Worker(config, plan, Path(config.out) / "cache")
    calls = count_generate_calls(worker)
    images = load_run_images(config)
    tasks = [Task(i, s, image, {0: [6.0]}) for i, image in images for s in plan.schemes]
    results = worker.process_many(tasks)
    assert calls == [12]  # 3 images x 4 blocks in one call (batch size 16)
    assert all(r.prepare_seconds is not None for r in results)  # each task's own prepare

    # a fresh worker on the same cache (a resumed run) captions nothing, even for a
    # baseline whose budget is "same as multisc"
    again = Worker(config, plan, Path(config.out) / "cache")
    calls_again = count_generate_calls(again)
    bpg_only = [t for t in tasks if t.scheme == "bpg_ldpc"]
    rows = again.process_many(bpg_only)
    assert calls_again == []
    assert [r.rows[0]["channel_uses"] for r in rows] == [
        r.rows[0]["channel_uses"] for r in results if r.scheme == "bpg_ldpc"
    ]

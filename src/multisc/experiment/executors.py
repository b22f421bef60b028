"""Where tasks run: in this process, or spread over Ray workers (one GPU each when GPUs
exist). Either way results come back to the driver, which alone writes the store."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from multisc.errors import InvalidInputError
from multisc.experiment.config import RunConfig
from multisc.experiment.planning import Plan
from multisc.experiment.tasks import Task, TaskResult, task_batches
from multisc.experiment.worker import Worker


def run_local(
    config: RunConfig, plan: Plan, cache_root: Path, tasks: Sequence[Task]
) -> Iterator[TaskResult]:
    """Tasks one after another with components loaded once; the prepares of each batch of
    ``config.prepare_batch`` images run together first. Results come back one task at a
    time (committed as they come: a kill loses at most the task in flight)."""
    if not tasks:
        return
    worker = Worker(config, plan, cache_root)
    for batch in task_batches(tasks, config.prepare_batch):
        prepared, errors = worker.prepare_isolated(batch)
        for task in batch:
            yield worker.process_safely(task, prepared, errors)


def run_ray(
    config: RunConfig,
    plan: Plan,
    cache_root: Path,
    tasks: Sequence[Task],
    say: Callable[[str], None],
) -> Iterator[TaskResult]:
    """Tasks over Ray actors, each holding its own components (loaded once per actor).

    ``config.ray_address``: ``None`` starts a local Ray instance; ``"auto"`` (or
    ``ray://host:10001``) joins an existing cluster. On a multi-node cluster, put the run
    directory on a shared filesystem so the prepare cache is shared (otherwise each node
    prepares what it needs itself; results are the same).
    """
    if not tasks:
        return
    try:
        import ray
        from ray.util import ActorPool
    except ImportError as exc:
        raise InvalidInputError(
            "the Ray executor needs Ray: pip install 'ray[default]' (or use --executor local)"
        ) from exc
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(
            address=config.ray_address,
            include_dashboard=False,
            log_to_driver=False,
            ignore_reinit_error=True,
        )
    try:
        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0))
        cpus = int(resources.get("CPU", 1))
        count = max(1, min(len(tasks), gpus if gpus else cpus))
        options = {"num_gpus": 1, "num_cpus": 1} if gpus else {"num_cpus": 1}
        say(f"ray: {count} worker(s) on {cpus} CPU(s), {gpus} GPU(s)")
        remote_worker = ray.remote(**options)(_RayWorker)
        actors = [
            remote_worker.remote(config.model_dump_json(), plan, str(cache_root))
            for _ in range(count)
        ]
        pool = ActorPool(actors)
        # an actor's unit is a batch of images (their prepares batched); with fewer
        # batches than actors, smaller batches keep every actor busy
        per_batch = max(1, min(config.prepare_batch, -(-len({t.image_id for t in tasks}) // count)))
        batches = task_batches(tasks, per_batch)
        for results in pool.map_unordered(
            lambda actor, batch: actor.process_many.remote(batch), batches
        ):
            yield from results
    finally:
        if started_here:
            ray.shutdown()


class _RayWorker:
    """A :class:`Worker` inside a Ray actor (built from the config's JSON)."""

    def __init__(self, config_json: str, plan: Plan, cache_root: str) -> None:
        import torch

        if not torch.cuda.is_available():
            torch.set_num_threads(1)  # one CPU per actor: do not oversubscribe the node
        self.worker = Worker(RunConfig.model_validate_json(config_json), plan, Path(cache_root))

    def process_many(self, tasks: list[Task]) -> list[TaskResult]:
        return self.worker.process_many(tasks)

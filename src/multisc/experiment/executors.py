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


def task_steps(scheme: str) -> str:
    """What sending one image through ``scheme`` does, for the progress bar: a semantic
    scheme generates, a baseline decodes."""
    from multisc.schemes.catalog import scheme_specs

    spec = scheme_specs().get(scheme.split(" ")[0])
    return "send, receive, generate, score" if spec and spec.semantic else "send, decode, score"


def run_local(
    config: RunConfig,
    plan: Plan,
    cache_root: Path,
    tasks: Sequence[Task],
    stage: Callable[[str], None] | None = None,
) -> Iterator[TaskResult]:
    """Tasks one after another with components loaded once; the prepares of each batch of
    ``config.prepare_batch`` images run together first. Results come back one task at a
    time (committed as they come: a kill loses at most the task in flight). ``stage`` hears
    what is being done before each step that takes a while (loading, preparing, sending)."""
    if not tasks:
        return
    say = stage or (lambda text: None)
    say("loading the metrics' models")
    worker = Worker(config, plan, cache_root)
    images = list(dict.fromkeys(t.image_id for t in tasks))
    for batch in task_batches(tasks, config.prepare_batch):
        ids = list(dict.fromkeys(t.image_id for t in batch))
        first, last = images.index(ids[0]) + 1, images.index(ids[-1]) + 1
        span = f"image {first}" if first == last else f"images {first}-{last}"
        say(f"preparing {span} of {len(images)} (loading models on first use; segmenting, "
            "captioning, encoding)")  # fmt: skip
        prepared, errors = worker.prepare_isolated(batch)
        for task in batch:
            say(f"{task.scheme} / {task.image_id}: {task_steps(task.scheme)}")
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
    except ImportError as exc:
        raise InvalidInputError(
            "the Ray executor needs Ray: pip install 'ray[default]' (or use --executor local)"
        ) from exc
    started_here = not ray.is_initialized()
    if started_here:
        from multisc.experiment.addresses import check_ray_address

        check_ray_address(config.ray_address)  # also checked before the run starts
        try:
            ray.init(
                address=config.ray_address,
                include_dashboard=False,
                log_to_driver=False,
                ignore_reinit_error=True,
            )
        except (ConnectionError, ValueError) as exc:  # a cluster gone since the check
            raise InvalidInputError(
                f"Ray could not join {config.ray_address or 'RAY_ADDRESS'}: {exc}"
            ) from None
    try:
        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0))
        cpus = int(resources.get("CPU", 1))
        count = max(1, min(len(tasks), gpus if gpus else cpus))
        options = {"num_gpus": 1, "num_cpus": 1} if gpus else {"num_cpus": 1}
        say(f"ray: {count} worker(s) on {cpus} CPU(s), {gpus} GPU(s)")
        remote_worker = ray.remote(**options)(_RayWorker)
        made = iter(range(1 << 30))

        def new_actor():
            # named, so that an operator (or a test) can find and stop one
            return remote_worker.options(name=f"{ACTOR_PREFIX}{next(made)}").remote(
                config.model_dump_json(), plan, str(cache_root)
            )

        # an actor's unit is a batch of images (their prepares batched); with fewer
        # batches than actors, smaller batches keep every actor busy
        per_batch = max(1, min(config.prepare_batch, -(-len({t.image_id for t in tasks}) // count)))
        yield from _schedule(
            ray, [new_actor() for _ in range(count)], new_actor, task_batches(tasks, per_batch), say
        )
    finally:
        if started_here:
            ray.shutdown()


#: Ray actors are named ``multisc-worker-N``
ACTOR_PREFIX = "multisc-worker-"
#: lost workers a run replaces before it gives up
MAX_LOST_WORKERS = 8


def _schedule(ray, actors: list, new_actor, batches: list, say) -> Iterator[TaskResult]:
    """Each batch to an idle actor; a batch whose actor died (killed, out of memory, its
    node lost) goes to another actor, and the dead one is replaced (Ray places the new one
    on a live node). Results come back per batch, whole: a lost batch's results never
    reached the driver, so nothing is stored twice. After ``MAX_LOST_WORKERS`` losses
    the run stops with one line; it resumes where it stopped."""
    from collections import deque

    from ray.exceptions import ActorDiedError, ActorUnavailableError, RayActorError

    lost_errors = (RayActorError, ActorDiedError, ActorUnavailableError)
    queue, idle, pending = deque(batches), list(actors), {}
    lost = 0
    while queue or pending:
        while idle and queue:
            actor, batch = idle.pop(), queue.popleft()
            pending[actor.process_many.remote(batch)] = (actor, batch)
        (ready,), _ = ray.wait(list(pending), num_returns=1)
        actor, batch = pending.pop(ready)
        try:
            results = ray.get(ready)
        except lost_errors as exc:
            lost += 1
            if lost > MAX_LOST_WORKERS:
                raise InvalidInputError(
                    f"ray: {lost} workers were lost ({type(exc).__name__}); the cluster is not "
                    "healthy. The rows so far are stored: run the same command again to resume"
                ) from exc
            say(
                f"ray: a worker was lost ({type(exc).__name__}); its {len(batch)} task(s) "
                "run again on another"
            )
            queue.appendleft(batch)
            idle.append(new_actor())
            continue
        idle.append(actor)
        yield from results


class _RayWorker:
    """A ``Worker`` inside a Ray actor (built from the config's JSON)."""

    def __init__(self, config_json: str, plan: Plan, cache_root: str) -> None:
        import torch

        if not torch.cuda.is_available():
            torch.set_num_threads(1)  # one CPU per actor: do not oversubscribe the node
        self.worker = Worker(RunConfig.model_validate_json(config_json), plan, Path(cache_root))

    def process_many(self, tasks: list[Task]) -> list[TaskResult]:
        return self.worker.process_many(tasks)

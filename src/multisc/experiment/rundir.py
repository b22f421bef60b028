"""The run directory: where reconstructions go, what it holds, and writing results into
it (atomically; the store's rows after their images)."""

from __future__ import annotations

import json
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from PIL import Image

from multisc.errors import InvalidInputError, printable
from multisc.experiment.config import RunConfig
from multisc.experiment.store import ResultStore, different_experiment
from multisc.experiment.tasks import TaskResult
from multisc.runroot import RunDirError, RunRoot
from multisc.schemes.base import working_image

IMAGES_DIR = "images"


FAILURES_FILE = "failures.json"
#: the run's report, and what it was drawn from (a digest of the rows and the version)
REPORT_FILE = "report.html"
REPORT_STATE_FILE = "report_state.json"


def report_state(rows: list[dict[str, Any]], run: dict[str, Any] | None = None) -> dict[str, str]:
    """What a report is drawn from: a digest of the rows' keys, outcomes, images, metrics
    and settings, one of the latest start's config (``run``: its description, statistics
    and tables' metrics change the report, not the rows), and the multisc version that
    drew it (``report_state.json``)."""
    import hashlib

    from multisc import __version__

    keys = ("image_id", "scheme", "snr_db", "fading", "seed", "failed", "channel_uses",
            "image_path", "metrics", "settings")  # fmt: skip
    canonical = sorted(json.dumps([row.get(k) for k in keys], sort_keys=True) for row in rows)
    digest = hashlib.sha256("\n".join(canonical).encode()).hexdigest()
    config = str((run or {}).get("config_yaml") or "")
    drawn = hashlib.sha256(config.encode("utf-8", "replace")).hexdigest()
    return {"rows": digest, "config": drawn, "multisc": __version__}


def report_is_current(run_dir: str | Path) -> bool:
    """Whether ``run_dir``'s report was drawn from exactly the rows its store holds now, by
    this multisc version (its ``report_state.json`` says so, and ``report.html`` is there)."""
    from multisc.experiment.store import STORE_FILE

    root = RunRoot(Path(run_dir))
    try:
        if not all(root.is_file(name) for name in (REPORT_FILE, REPORT_STATE_FILE, STORE_FILE)):
            return False
        recorded = root.read_json(REPORT_STATE_FILE)
        store = ResultStore(Path(run_dir) / STORE_FILE, read_only=True)
        try:
            rows, run = store.results(), store.latest_run()
        finally:
            store.close()
    except (InvalidInputError, OSError, ValueError):
        return False
    return isinstance(recorded, dict) and recorded == report_state(rows, run)


def versions() -> dict[str, str]:
    """The versions a run used: Python, multisc and every package multisc depends on
    directly (its installed distribution's requirements, extras left out), in that order;
    "not installed" for one that is missing."""
    import platform
    import re
    from importlib.metadata import requires

    try:
        wanted = requires("multisc") or []
    except PackageNotFoundError:  # run from a source tree without installing
        wanted = []
    names = ["multisc"]
    for requirement in wanted:
        if "extra ==" in requirement:
            continue
        name = re.split(r"[\s;<>=!~\[(]", requirement.strip(), maxsplit=1)[0]
        if name and name not in names:
            names.append(name)
    out = {"python": platform.python_version()}
    for package in names:
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            out[package] = "not installed"
    return out


def snr_label(snr_db: float) -> str:
    """The SNR in a file name: Python's shortest repr that reads back as the same float, so
    two different SNRs never share a name (``+0.1`` and ``+0.14``; ``+6.0``; ``+1e-05``).

    >>> snr_label(0.1), snr_label(0.14), snr_label(-3.0), snr_label(1e-5)
    ('+0.1', '+0.14', '-3.0', '+1e-05')
    """
    return f"{float(snr_db):+}"


def image_path(image_id: str, scheme: str, snr_db: float, fading: str, seed: int) -> str:
    """Where a reconstruction is saved, relative to the run directory: one name for each
    distinct (image, scheme, SNR, channel, seed); the store holds the exact path."""
    return f"{IMAGES_DIR}/{image_id}/{scheme}/snr{snr_label(snr_db)}_{fading}_seed{seed}.png"


def check_run_dir(out: Path, config: RunConfig, store: ResultStore) -> None:
    """Refuse to mix another experiment's results into ``out``. A store holding no row
    (a run that failed before its first result) is never a reason to refuse: the new
    config takes the folder over."""
    different_experiment(out, config.digests(), store)


def record_failure(image_id: str, scheme: str, error: str, root: RunRoot) -> list[dict[str, str]]:
    """Add a failed (image, scheme) to ``RUN_DIR/failures.json`` (rewritten whole); a later
    run that does it replaces the entry. Returns every failure recorded."""
    failures = read_failures(root)
    failures = [f for f in failures if (f["image_id"], f["scheme"]) != (image_id, scheme)]
    failures.append({"image_id": image_id, "scheme": scheme, "error": printable(error)})
    root.write_text(FAILURES_FILE, json.dumps(failures, indent=2))
    return failures


def read_failures(root: RunRoot) -> list[dict[str, str]]:
    """The failures recorded in ``failures.json``: entries of strings only (anything else in
    a file from someone else is left out); none when there is no such file."""
    if not root.is_file(FAILURES_FILE):
        return []
    loaded = root.read_json(FAILURES_FILE)
    if not isinstance(loaded, list):
        raise RunDirError(f"{root.root / FAILURES_FILE} is not a list of failures: move it away")
    keys = ("image_id", "scheme", "error")
    return [
        {k: f[k] for k in keys}
        for f in loaded
        if isinstance(f, dict) and all(isinstance(f.get(k), str) for k in keys)
    ]


def commit(result: TaskResult, root: RunRoot, store: ResultStore, run_id: int) -> None:
    """Write a task's PNGs (each whole or not at all), then its rows (one transaction per
    seed)."""
    for relative, data in result.pngs.items():
        root.write_bytes(relative, data)
    by_seed: dict[int, list[dict[str, Any]]] = {}
    for row in result.rows:
        by_seed.setdefault(row["seed"], []).append(row)
    for rows in by_seed.values():
        store.add_results(rows, run_id)


def reference_path(image_id: str) -> str:
    """Where an image's reference (the input as worked on) is saved in the run directory."""
    return f"{IMAGES_DIR}/{image_id}/reference.png"


def save_references(images, root: RunRoot) -> None:
    """Save each input as worked on (``images/<id>/reference.png``); one that is there but
    is not a regular file is replaced."""
    import io

    for image_id, image in images:
        relative = reference_path(image_id)
        if root.is_file(relative):
            continue
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        root.write_bytes(relative, buffer.getvalue())


def rows_without_images(store: ResultStore, root: RunRoot) -> list[tuple]:
    """Keys of stored rows whose reconstruction PNG is not a regular file in the run
    directory (deleted, replaced by a link): the run computes them again, so the report
    has every image it shows."""
    lost = []
    for row in store.results():
        path = row["image_path"]
        try:
            present = root.is_file(path)
        except RunDirError:
            present = False
        if not present:
            lost.append(tuple(row[k] for k in ("image_id", "scheme", "snr_db", "fading", "seed")))
    return lost


def load_run_images(config: RunConfig, on_error=None) -> list[tuple[str, Image.Image]]:
    """The run's images as worked on; with ``on_error(image_id, message)``, a file that
    cannot be read is reported there and left out instead of stopping the run."""
    from multisc.data.sources import load_images

    images = [
        (image_id, working_image(image))
        for image_id, image in load_images(config.images, config.split, config.limit, on_error)
    ]
    ids = [image_id for image_id, _ in images]
    if len(set(ids)) != len(ids):
        raise InvalidInputError(f"image ids are not unique in {config.images}: rename the files")
    return images


def check_before_work(config: RunConfig, out: Path) -> None:
    """Every refusal a run can make from its config and names alone, before it says or
    writes anything: ``--out`` a file, the device, a folder of another experiment, the
    run's size (images counted by name, none opened), a Ray address nothing answers at."""
    from multisc.data.sources import count_images
    from multisc.devices import resolve_device
    from multisc.experiment.addresses import check_ray_address
    from multisc.experiment.store import different_experiment
    from multisc.experiment.variants import check_size

    if out.exists() and not out.is_dir():
        raise InvalidInputError(f"--out {out} is a file, not a run directory: choose a folder")
    resolve_device(config.device)  # a clear error now rather than in a worker
    different_experiment(out, config.digests())  # decided before "resumed" is said
    check_size(config, count_images(config.images, config.split, config.limit))
    if config.executor == "ray":
        check_ray_address(config.ray_address)

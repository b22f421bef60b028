"""``multisc models list/pull/doctor/make-random/make-tiny``: pretrained components."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from multisc.cli.common import (
    JSON_OPTION,
    _emit,
    _write_json,
    app,
    err,
    flag,
    out,
    show,
)
from multisc.errors import InvalidInputError

models_app = typer.Typer(help="Pretrained components: list, pull, doctor, make stand-ins.")


app.add_typer(models_app, name="models")


@models_app.command("list")
def models_list(
    models: Path | None = typer.Option(None, "--models", help="Directory overriding every id."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Each component, its role, where it loads from, whether it is available offline and
    its download size; and, per role, the choices a run config names (`captioner:
    llava-1.5-7b`) with the components each loads."""
    from multisc import models as registry
    from multisc.schemes.roles import ROLES

    def where(item) -> str:
        if not item.torch_hub:
            return registry.source(item.name, models)
        path = registry.torch_hub_file(item.name, models)  # in DIR/<name>/, or torch hub's
        return str(
            path.parent if models is not None and path.parent == models / item.name else path
        )

    def stand_in(item) -> bool:
        record = registry.component_record(item.name, models)
        return registry.is_stand_in(item.name, record)

    rows = [
        {
            "name": item.name,
            "role": item.role,
            "source": where(item),
            "pinned": item.revision,
            "available": registry.is_available(item.name, models),
            "stand_in": registry.is_available(item.name, models) and stand_in(item),
            "download_bytes": sum(item.sizes.get(f, 0) for f in item.needed),
            "loads_with": item.loads_with,
            "purpose": item.purpose,
        }
        for item in registry.REGISTRY.values()
    ]
    available = {row["name"]: row["available"] for row in rows}
    choices = {
        role: [
            {
                "name": spec.name,
                "components": list(spec.needs),
                "available": all(available.get(n, False) for n in spec.needs),
                "source": spec.source,
            }
            for spec in part_registry.specs().values()
        ]
        for role, part_registry in ROLES.items()
    }
    if as_json:  # one JSON object, as every command's --json
        _write_json(
            {"models_dir": str(models) if models else None, "components": rows, "roles": choices}
        )
        return
    table = Table(title="multisc components" + (f" (--models {models})" if models else ""))
    for column in ("name", "role", "source", "available", "download", "purpose"):
        table.add_column(column)
    for row in rows:
        mark = "[green]yes[/]" if row["available"] else "[red]no[/]"
        if row["stand_in"]:
            mark = "[yellow]yes: a random stand-in[/]"
        size = f"{row['download_bytes'] / 1e9:.2f} GB"
        table.add_row(row["name"], row["role"], row["source"], mark, size, row["purpose"])
    show(out, table)
    listing = Table(title="choices per role (scheme options: segmenter, captioner, ...)")
    for column in ("role", "choice", "loads", "available"):
        listing.add_column(column)
    for role, entries in choices.items():
        for entry in entries:
            mark = "[green]yes[/]" if entry["available"] else "[red]no[/]"
            listing.add_row(role, entry["name"], ", ".join(entry["components"]), mark)
    show(out, listing)
    missing = [row["name"] for row in rows if not row["available"]]
    if missing:
        err.print(f"missing: {', '.join(missing)} — `multisc models doctor` says what to run")


@models_app.command("pull")
def models_pull(
    names: list[str] = typer.Argument(None, help="Components to download (default: all)."),
    revision: str | None = typer.Option(
        None,
        "--revision",
        help="A branch, tag or commit to fetch instead of the pinned commit (main: the newest).",
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Download components into the Hugging Face / torch hub caches (needs network): only
    the files each one loads, at the commit multisc pins, the total size said first."""
    from multisc import models as registry

    chosen = names or list(registry.REGISTRY)
    for name in chosen:
        registry.entry(name)  # unknown names fail before any download
    pulled = registry.pull_many(chosen, lambda line: err.print(line), revision=revision)
    _emit(pulled, as_json, "pulled")


@models_app.command("doctor")
def models_doctor(
    models: Path | None = typer.Option(None, "--models", help="Directory overriding every id."),
    verify: bool = flag("--verify", "Hash the weights and compare them with the recorded digests."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Per component: which of its files are present, missing, partial (truncated, or an
    interrupted download), damaged (not what its format says; the note says how) or not a
    regular file, in the cache or --models DIR, the commit on disk against the
    pinned one, and what to run. --verify also hashes the weights."""
    from multisc import models as registry

    rows = []
    for item in registry.REGISTRY.values():
        files = registry.file_status(item.name, models)
        available = registry.is_available(item.name, models)
        broken = [f for f, s in files.items() if s in ("partial", "damaged")]
        in_dir = models is not None and (not item.torch_hub or item.role == "segmenter")
        if available and not broken:
            action = None
        elif in_dir:
            action = f"put it in {models / item.name} (e.g. multisc models make-tiny {models} "
            action += f"--only {item.name})"
        else:
            action = f"multisc models pull {item.name}"
        record = registry.component_record(item.name, models) if available else {}
        note = registry.pinned_problem(item.name) if available and models is None else None
        if available and registry.is_stand_in(item.name, record):
            stand_in = "random stand-in weights (make-tiny or make-random): they mean nothing"
            note = "; ".join(filter(None, [note, stand_in]))
        problems = [
            f"{file} {why}"
            for file, why in registry.file_problems(item.name, models).items()
            if files[file] != "missing"  # the files column says it
        ]
        if problems:
            note = "; ".join([*problems, *([note] if note else [])])
        row = {
            "name": item.name,
            "repo_id": item.repo_id,
            "available": available,
            "files": files,
            "pinned": item.revision,
            "commit": record.get("commit"),
            "note": note,
            "action": action,
        }
        if verify:
            row["verify"] = registry.verify(item.name, models) if available else {}
            differs = [f for f, check in row["verify"].items() if check == "differs"]
            if differs and row["action"] is None:  # whole, but not the published bytes
                row["note"] = "; ".join(filter(None, [
                    row["note"], f"{differs[0]} is not the published file (a stand-in, a "
                    "fine-tune or damage)",
                ]))  # fmt: skip
                row["action"] = (
                    f"replace {models / item.name} with the published files (multisc models "
                    "export DIR on a machine that has them)"
                    if in_dir
                    else f"multisc models pull {item.name} (after deleting the cached files)"
                )
        rows.append(row)
    if as_json:  # one JSON object, as every command's --json
        _write_json({"models_dir": str(models) if models else None, "components": rows})
        return
    table = Table(title="multisc models doctor" + (f" (--models {models})" if models else ""))
    for column in ("name", "files", "commit", "to do"):
        table.add_column(column)
    colour = {
        "present": "green", "missing": "red", "partial": "yellow", "damaged": "red",
        "not a regular file": "red",
    }  # fmt: skip
    checked = {"match": "green", "differs": "red", "missing": "red", "no recorded digest": "dim"}
    for row in rows:
        files = "\n".join(f"[{colour[s]}]{s:8}[/] {f}" for f, s in row["files"].items())
        for file, check in row.get("verify", {}).items():
            files += f"\n[{checked[check]}]sha256 {check}[/] {file}"
        commit = (row["commit"] or "-")[:12]
        if row["pinned"]:  # one line: a second would sit beside the second file's row
            commit += (
                " (pinned)" if row["commit"] == row["pinned"] else f" (pinned {row['pinned'][:12]})"
            )
        todo = "; ".join(filter(None, [row["note"], row["action"]])) or "[green]nothing[/]"
        table.add_row(row["name"], files, commit, todo)
    show(out, table)


@models_app.command("export")
def models_export(
    directory: Path = typer.Argument(..., help="Where to write the copy."),
    only: list[str] = typer.Option(
        None, "--only", help="Export only these components (repeat, or a comma list)."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Copy the components on this machine into DIR/<name>/ (the bytes, not the cache's
    links), each with the repo and commit it came from, for `--models DIR` on a machine
    without network."""
    from multisc import models as registry

    chosen = [name for item in only or [] for name in item.split(",") if name] or None
    for name in chosen or []:
        registry.entry(name)
    written = registry.export(
        directory, chosen, progress=lambda name, file: err.print(f"exported {name}: {file}")
    )
    _emit(written, as_json, f"exported {len(written)} component(s) to {directory}")


ONLY_OPTION = typer.Option(
    None, "--only", help="Write only these components (repeat the option, or a comma list)."
)


def _write_stand_ins(
    directory: Path, builders: dict, only: list[str] | None, seed: int, label, default=None
):
    from multisc.errors import choices_error

    chosen = [name for item in only or [] for name in item.split(",") if name]
    chosen = chosen or list(default or builders)
    for name in chosen:
        if name not in builders:
            raise choices_error("component", name, tuple(builders))
    if directory.exists() and not directory.is_dir():
        raise InvalidInputError(f"{directory} is a file: give a folder to write the models in")
    written = {}
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as progress:
        task = progress.add_task("random models", total=len(chosen))
        for name in chosen:
            progress.update(task, description=f"{label} {name}")
            written[name] = str(builders[name](directory / name, seed=seed))
            progress.advance(task)
    return written


@models_app.command("make-random")
def models_make_random(
    directory: Path = typer.Argument(..., help="Where to write the component set."),
    size: str = typer.Option("full", "--size", help="full (published architectures) or tiny."),
    only: list[str] = ONLY_OPTION,
    every: bool = flag("--all", "Every component, the choices too (full: about 20 GB more)."),
    seed: int = typer.Option(0, help="Seed of the random weights."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Random weights at the real architectures (the recorded configs, key by key), so that
    `multisc run --models DIR` costs what a real run costs. Full size writes the paper's
    components (about 3.3 B parameters) unless --only names others or --all asks for every
    one (LLaVA-1.5-7B alone is 14 GB); tiny writes every one."""
    from multisc.testing import FULL_BUILDERS, PAPER_SET, TINY_BUILDERS

    builders = {"full": FULL_BUILDERS, "tiny": TINY_BUILDERS}.get(size)
    if builders is None:
        raise InvalidInputError(f"unknown size {size!r}: choose one of full, tiny")
    default = None if every or size == "tiny" else PAPER_SET
    written = _write_stand_ins(directory, builders, only, seed, size, default)
    _emit(written, as_json, f"{size} random components in {directory}")


@models_app.command("make-tiny")
def models_make_tiny(
    directory: Path = typer.Argument(..., help="Where to write the tiny component set."),
    only: list[str] = ONLY_OPTION,
    seed: int = typer.Option(0, help="Seed of the random weights."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Write tiny random models of every component's real class (for offline smoke runs
    with --models DIR; their outputs mean nothing)."""
    from multisc.testing import TINY_BUILDERS

    written = _write_stand_ins(directory, TINY_BUILDERS, only, seed, "tiny")
    _emit(written, as_json, f"tiny components in {directory}")

"""``multisc captioner eval``: the paper's Table I for the captioners multisc can load."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table
from rich.text import Text

from multisc.cli.common import (
    DEVICE_OPTION,
    JSON_OPTION,
    _split,
    _write_json,
    app,
    err,
    flag,
    out,
    show,
)
from multisc.errors import InvalidInputError

captioner_app = typer.Typer(help="Evaluate captioners as the paper's Table I does, and train them.")
app.add_typer(captioner_app, name="captioner")


@captioner_app.command("eval")
def captioner_eval(
    captioners: list[str] = typer.Option(
        None,
        "--captioners",
        help="Registered captioners to compare (comma list, or all); default: the paper's "
        "llava-interleave-qwen-0.5b and VLM-CSC's blip.",
    ),
    images: str = typer.Option(
        "samples", "--images", help="samples, kodak24:DIR, voc2012:DIR, a folder or a glob."
    ),
    references: Path | None = typer.Option(
        None,
        "--references",
        help="COCO captions .json or image[,block],caption .csv (samples: the shipped ones).",
    ),
    limit: int | None = typer.Option(None, "--limit", min=1, help="At most this many images."),
    models: str | None = typer.Option(None, "--models", help="Directory overriding model ids."),
    caption_tokens: int = typer.Option(60, "--caption-tokens", min=1, max=1024),
    batch_size: int = typer.Option(16, "--batch-size", min=1, max=1024, help="Images per call."),
    rows: int = typer.Option(2, "--rows", min=1, max=8, help="Block rows (the paper: 2)."),
    cols: int = typer.Option(2, "--cols", min=1, max=8, help="Block columns (the paper: 2)."),
    out_file: Path | None = typer.Option(
        None, "--out", help="Also write the results, every caption included, as JSON."
    ),
    run_dir: Path | None = typer.Option(
        None, "--run", help="Also write them into this run directory: its report shows them."
    ),
    device: str = DEVICE_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """BLEU against reference captions (NLTK BLEU-1..4 and sacrebleu, all references of an
    image), caption length in tokens and characters, seconds per image, peak memory and
    parameters of each captioner, on whole images and on rows x cols blocks."""
    from multisc.atomic import write_text
    from multisc.captioner.evaluate import (
        CAPTIONERS_FILE,
        TABLE_COLUMNS,
        evaluate_captioners,
        table_cells,
    )
    from multisc.captioner.references import read_references, sample_references
    from multisc.cli.common import check_output_file
    from multisc.data.sources import load_images
    from multisc.transmitter.captioners import (
        CAPTIONER_REGISTRY,
        DEFAULT_CAPTIONER,
        DEFAULT_VLM_CAPTIONER,
        captioner_names,
    )

    if out_file is not None:  # before any work: the table is never lost at the end
        check_output_file(out_file, "--out")
    names = _split(captioners, "--captioners") or [DEFAULT_CAPTIONER, DEFAULT_VLM_CAPTIONER]
    if names == ["all"]:
        names = list(captioner_names())
    for name in names:  # an unknown name: before any image is read
        CAPTIONER_REGISTRY.get(name)
    if run_dir is not None:  # before any work: the table goes into a run, nowhere else
        from multisc.experiment.store import STORE_FILE
        from multisc.runroot import RunRoot

        if run_dir.is_symlink():
            raise InvalidInputError(f"--run {run_dir} is a symbolic link: give the folder itself")
        if not run_dir.is_dir() or not RunRoot(run_dir).is_file(STORE_FILE):
            raise InvalidInputError(
                f"--run {run_dir}: not a run directory (no {STORE_FILE}); give the folder "
                "a `multisc run` wrote"
            )
    if references is not None:
        refs = read_references(references)
    elif images == "samples":
        refs = sample_references()
    else:
        raise InvalidInputError(
            "give --references FILE (COCO captions .json or image,caption .csv): only the "
            "bundled photos (--images samples) have shipped references"
        )
    loaded = load_images(images, limit=limit)
    with err.status("captioning") as status:
        results = evaluate_captioners(
            names, loaded, refs, models, device, caption_tokens, batch_size, rows, cols,
            say=lambda line: status.update(line),
        )  # fmt: skip
    payload = {
        "images": images,
        "references": str(references) if references else "shipped (samples)",
        "results": [r.as_dict() for r in results],
    }
    if out_file is not None:
        write_text(out_file, json.dumps(payload, indent=2, ensure_ascii=False))
    if run_dir is not None:  # the run's report shows it (multisc report DIR)
        from multisc.runroot import RunRoot

        RunRoot(run_dir).write_text(CAPTIONERS_FILE, json.dumps(payload, ensure_ascii=False))
    unscored = [r for r in results if r.scored == 0]
    if unscored:
        err.print("no caption had a reference for: " + ", ".join(
            f"{r.captioner} ({r.mode})" for r in unscored
        ) + " (BLEU left empty)")  # fmt: skip
    if as_json:
        for result in payload["results"]:
            result.pop("texts")
        _write_json(payload)
        return
    table = Table(title=f"captioners on {images} ({len(loaded)} images)")
    for _, header, digits in TABLE_COLUMNS:
        table.add_column(header, justify="left" if digits is None else "right")
    for result in payload["results"]:
        table.add_row(*(Text(cell) for cell in table_cells(result)))
    show(out, table)
    tiny = [r.captioner for r in results if r.stand_in and r.mode == "whole image"]
    if tiny:
        err.print(
            f"These results come from tiny random stand-in models ({', '.join(tiny)}): their "
            "captions mean nothing; pull the real weights (multisc models pull) for results."
        )
    memory = results[0].memory if results else ""
    err.print(f"BLEU-n: NLTK corpus BLEU (0-1); sacreBLEU: 0-100; peak MiB: {memory}")


@captioner_app.command("train")
def captioner_train(
    data: Path = typer.Option(
        ..., "--data", help="LLaVA conversation .json, COCO captions .json or image,caption .csv."
    ),
    out_dir: Path = typer.Option(
        ..., "--out", help="Folder of the trained captioner (resumed from its checkpoints)."
    ),
    base: str = typer.Option(
        "llava-interleave-qwen-0.5b", "--base", help="Captioner to start from (or path:DIR)."
    ),
    mode: str = typer.Option("lora", "--mode", help="projector, lora or full."),
    image_root: Path | None = typer.Option(
        None,
        "--image-root",
        help="Folder the records' image paths are under (default: the data's).",
    ),
    style: str | None = typer.Option(
        None, "--style", help="plain (stage 1) or chat. (default: plain for projector)"
    ),
    learning_rate: float | None = typer.Option(
        None, "--lr", help="(default: 1e-3 projector, 2e-4 lora, 2e-5 full: LLaVA-1.5's)"
    ),
    global_batch: int | None = typer.Option(
        None, "--global-batch", min=1, help="Records per optimizer step. (default: 256 / 128)"
    ),
    batch: int = typer.Option(1, "--batch", min=1, help="Records per forward pass per process."),
    epochs: float = typer.Option(1.0, "--epochs", min=0.0),
    max_steps: int | None = typer.Option(None, "--max-steps", min=1, help="Stop after N steps."),
    max_length: int = typer.Option(2048, "--max-length", min=16, help="Tokens per record."),
    lora_rank: int = typer.Option(128, "--lora-rank", min=1),
    lora_alpha: int = typer.Option(256, "--lora-alpha", min=1),
    lora_dropout: float = typer.Option(0.05, "--lora-dropout", min=0.0, max=1.0),
    lora_targets: list[str] = typer.Option(
        None, "--lora-targets", help="Language-model modules (default: q,k,v,o projections)."
    ),
    freeze_projector: bool = typer.Option(
        False, "--freeze-projector", help="lora: keep the projector as it is."
    ),
    save: str = typer.Option("merged", "--save", help="merged, or adapter (lora)."),
    checkpoint_every: int = typer.Option(50, "--checkpoint-every", min=1, help="Steps."),
    gradient_checkpointing: bool = flag(
        "--grad-checkpoint", "Gradient checkpointing: less memory, more compute."
    ),
    precision: str = typer.Option("auto", "--precision", help="auto, fp32, bf16 or fp16."),
    on_bad_record: str = typer.Option("skip", "--on-bad-record", help="skip or refuse."),
    seed: int = typer.Option(0, "--seed"),
    models: str | None = typer.Option(None, "--models", help="Directory overriding model ids."),
    device: str = DEVICE_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Fine-tune a LLaVA-class captioner: the projector alone, LoRA adapters, or the
    language model and projector; resumable; several GPUs with torchrun."""
    from multisc.captioner.training import TrainSettings

    settings = TrainSettings(
        mode=mode, style=style, learning_rate=learning_rate, global_batch=global_batch,
        batch=batch, epochs=epochs, max_steps=max_steps, max_length=max_length, seed=seed,
        lora_rank=lora_rank, lora_alpha=lora_alpha, lora_dropout=lora_dropout,
        lora_targets=tuple(_split(lora_targets, "--lora-targets") or TrainSettings.lora_targets),
        train_projector=not freeze_projector, save=save, checkpoint_every=checkpoint_every,
        gradient_checkpointing=gradient_checkpointing, precision=precision,
        on_bad_record=on_bad_record,
    ).resolved()  # a bad setting: before torch loads  # fmt: skip
    if not data.is_file():
        raise InvalidInputError(f"--data {data}: no such file")
    from multisc.captioner.checkpoints import METRICS_FILE
    from multisc.captioner.training import train

    view = _TrainView()
    with view:
        result = train(
            base, data, out_dir, settings, models, device, image_root,
            on_step=view.step, say=lambda line: err.print(line, highlight=False, markup=False),
        )  # fmt: skip
    payload = {
        "out": str(result.out), "steps": result.steps, "losses": result.losses,
        "seconds": result.seconds, "device": result.device, "world_size": result.world_size,
        "bad_records": result.bad_records, "metrics": str(result.out / METRICS_FILE),
    }  # fmt: skip
    if as_json:
        _write_json(payload)
        return
    first, last = (result.losses[0], result.losses[-1]) if result.losses else (None, None)
    out.print(
        f"trained captioner: {result.out} ({result.steps} steps, {result.seconds:.1f} s on "
        f"{result.world_size} x {result.device}; loss {first} -> {last}); use it as "
        f"captioner: path:{result.out}",
        highlight=False, soft_wrap=True,
    )  # fmt: skip


class _TrainView:
    """A bar over the steps with the loss, learning rate, seconds per step and samples per
    second (a line per step where stderr is not a terminal)."""

    def __init__(self) -> None:
        self.bar = None
        self.task = None

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.stop()

    def step(self, entry: dict) -> None:
        text = (
            f"loss {entry['loss']:.4f} · lr {entry['learning_rate']:.2e} · "
            f"{entry['seconds']:.2f} s/step · {entry['samples_per_second'] or 0:.1f} samples/s"
        )
        if not err.is_terminal:
            err.print(f"step {entry['step']}/{entry['total']}: {text}", highlight=False)
            return
        if self.bar is None:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            self.bar = Progress(TextColumn("train {task.description}"), BarColumn(bar_width=20),
                                MofNCompleteColumn(), console=err)  # fmt: skip
            self.bar.start()
            self.task = self.bar.add_task("", total=entry["total"], completed=entry["step"] - 1)
        self.bar.update(self.task, completed=entry["step"], description=text)

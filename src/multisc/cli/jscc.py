"""``multisc jscc train/eval/list``: deep JSCC checkpoints."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from multisc.cli.common import (
    DEVICE_OPTION,
    JSON_OPTION,
    _emit,
    _write_json,
    app,
    err,
    out,
    show,
)

jscc_app = typer.Typer(help="Deep JSCC (Bourtsoulatze et al. 2019): train and evaluate.")


app.add_typer(jscc_app, name="jscc")


@jscc_app.command("train")
def jscc_train(
    data: str = typer.Option(..., "--data", help="Image folder, glob, or 'samples'."),
    snr: str = typer.Option(
        ..., "--snr", help="Training SNR in dB (19), or a range LOW:HIGH drawn per step (0:20)."
    ),
    ratio: str = typer.Option(..., "--ratio", help="Bandwidth ratio K/N, e.g. 1/6 (c = 96 K/N)."),
    out: Path = typer.Option(..., "--out", help="Checkpoint directory (resumed if it exists)."),
    fading: str = typer.Option("awgn", help="awgn or rayleigh."),
    steps: int = typer.Option(2000, help="Training steps."),
    batch: int = typer.Option(16, help="Crops per step."),
    crop: int = typer.Option(64, help="Crop size in pixels (multiple of 4)."),
    lr: float = typer.Option(1e-3, help="Adam learning rate."),
    seed: int = typer.Option(0, help="Seed of crops and channel noise."),
    threads: int | None = typer.Option(
        None,
        "--threads",
        help="CPU threads (default: the cores other work leaves free; MULTISC_THREADS).",
    ),
    device: str = DEVICE_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Train a deep JSCC model with the channel inside the graph; resumable after a kill."""
    from multisc.codecs.jscc import JSCCConfig, parse_train_snr, snr_label
    from multisc.codecs.jscc_training import train_jscc
    from multisc.data.sources import TRAINING_PHOTOS, load_images, sample_photos

    config = JSCCConfig(ratio=ratio, train_snr_db=parse_train_snr(snr), fading=fading)
    if data == "samples":
        # The bundled photos held out from evaluation (`--images samples` uses the others).
        images = [image for _, image in sample_photos(TRAINING_PHOTOS)]
    else:
        images = [image for _, image in load_images(data)]
    with Progress(
        TextColumn("[bold]deep JSCC[/] {task.description}"),
        BarColumn(),
        TextColumn("step {task.completed}/{task.total}"),
        TextColumn("loss {task.fields[loss]:.5f}  PSNR {task.fields[psnr]:.2f} dB"),
        TimeRemainingColumn(),
        console=err,
        transient=as_json,
    ) as progress:
        task = progress.add_task(
            f"k/n={ratio} @ {snr_label(config.train_snr_db)}", total=steps, loss=0.0, psnr=0.0
        )

        def report(step: int, total: int, loss: float, psnr: float) -> None:
            progress.update(task, completed=step, loss=loss, psnr=psnr)

        result = train_jscc(
            images,
            config,
            out,
            steps=steps,
            batch=batch,
            crop=crop,
            lr=lr,
            seed=seed,
            device=device,
            threads=threads,
            progress=report,
            data=data,
        )
    payload = {
        "checkpoint": str(result.directory),
        "ratio": config.ratio,
        "channels": config.channels,
        "snr_db": config.train_snr_db,
        "fading": config.fading,
        "steps": result.steps,
        "resumed_from_step": result.resumed_from,
        "final_loss": result.final_loss,
        "final_psnr_db": result.final_psnr_db,
        "training_images": len(images),
    }
    _emit(payload, as_json, "deep JSCC training")


@jscc_app.command("eval")
def jscc_eval(
    checkpoint: Path = typer.Option(..., "--checkpoint", help="Directory from `jscc train`."),
    images: str = typer.Option("samples", "--images", help="Image folder, glob, or 'samples'."),
    snr: list[float] = typer.Option(..., "--snr", help="SNR in dB; repeat for several."),
    fading: str = typer.Option("awgn", help="awgn or rayleigh."),
    seed: int = typer.Option(0, help="Seed of the channel noise."),
    device: str = DEVICE_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Mean PSNR/SSIM of a deep JSCC checkpoint at any SNR (independent of its training SNR)."""
    from multisc.codecs.jscc_eval import evaluate_jscc
    from multisc.data.sources import load_images

    rows = evaluate_jscc(
        checkpoint, load_images(images), snr, fading=fading, seed=seed, device=device
    )
    if as_json:
        _write_json({"checkpoint": str(checkpoint), "results": rows})
        return
    table = Table(title=f"deep JSCC {checkpoint}")
    for column in ("snr_db", "fading", "psnr_db", "ssim", "channel_uses_per_image"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            f"{row['snr_db']:g}",
            row["fading"],
            f"{row['psnr_db']:.2f}",
            f"{row['ssim']:.4f}",
            f"{row['channel_uses_per_image']:,.0f}",
        )
    show(out, table)


@jscc_app.command("list")
def jscc_list(as_json: bool = JSON_OPTION) -> None:
    """The deep JSCC checkpoints that ship with multisc and what each reaches."""
    from multisc.codecs.jscc import read_config, read_training, snr_label
    from multisc.codecs.jscc_shipped import shipped

    rows = []
    for fading in ("awgn", "rayleigh"):
        for directory in shipped(fading):
            config, training = read_config(directory), read_training(directory)
            rows.append(
                {
                    "checkpoint": str(directory),
                    "ratio": config.ratio,
                    "fading": config.fading,
                    "train_snr_db": config.train_snr_db,
                    "steps": training.get("steps"),
                    "psnr_db": training.get("psnr_db", {}),
                }
            )
    if as_json:
        _write_json({"checkpoints": rows})
        return
    table = Table(title="shipped deep JSCC checkpoints (PSNR on the sample photos)")
    for column in ("ratio", "fading", "trained at", "steps", "PSNR at 0 / 10 / 20 dB"):
        table.add_column(column)
    for row in rows:
        psnrs = row["psnr_db"]
        table.add_row(
            row["ratio"],
            row["fading"],
            snr_label(row["train_snr_db"]),
            str(row["steps"]),
            " / ".join(f"{psnrs[k]:.2f}" if k in psnrs else "-" for k in ("0", "10", "20")),
        )
    show(out, table)

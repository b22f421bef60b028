"""``multisc corrector pairs/train/eval``: fine-tuning the spelling corrector."""

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
from multisc.errors import InvalidInputError

corrector_app = typer.Typer(help="Fine-tune the spelling corrector on channel-noised captions.")


app.add_typer(corrector_app, name="corrector")


@corrector_app.command("pairs")
def corrector_pairs(
    out_file: Path = typer.Option(..., "--out", help="Where to write the pairs (JSON Lines)."),
    snr: str = typer.Option(..., "--snr", help="SNR range LOW:HIGH in dB, drawn uniformly."),
    texts: Path | None = typer.Option(None, "--texts", help="Clean texts, one per line."),
    images: str | None = typer.Option(None, "--images", help="Or caption this image source."),
    models: str | None = typer.Option(None, "--models", help="Directory overriding model ids."),
    modulation: str = typer.Option("bpsk", help="bpsk, qpsk, 16qam or 64qam."),
    fec: str = typer.Option("none", help="none or ldpc."),
    per_text: int = typer.Option(4, "--per-text", help="Noisy copies of each clean text."),
    heldout: float = typer.Option(0.1, "--heldout", help="Fraction of clean texts held out."),
    max_chars: int = typer.Option(400, "--max-chars", help="Longer texts are truncated."),
    seed: int = typer.Option(0, help="Seed of SNR draws and channel noise."),
    device: str = DEVICE_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """(noisy, clean, snr_db) pairs from clean texts sent through the real link."""
    from multisc.channel import DigitalLink
    from multisc.correction_tuning.pairs import (
        caption_texts,
        make_pairs,
        parse_snr_range,
        read_texts,
        write_pairs,
    )

    snr_range = parse_snr_range(snr)
    if (texts is None) == (images is None):
        raise InvalidInputError("give exactly one of --texts FILE and --images SOURCE")
    if texts is not None:
        clean = read_texts(texts)
    else:
        from multisc.data.sources import load_images
        from multisc.transmitter.captioning import LlavaCaptioner

        with err.status("captioning images and blocks"):
            captioner = LlavaCaptioner.from_pretrained(models, device)
            clean = caption_texts(load_images(images), captioner, seed=seed)
    link = DigitalLink(modulation, fec, device=device)
    with err.status(f"sending {len(clean)} texts x {per_text} through {link!r}"):
        pairs, report = make_pairs(
            clean,
            snr_range,
            link,
            per_text=per_text,
            seed=seed,
            heldout_fraction=heldout,
            max_chars=max_chars,
        )
    write_pairs(pairs, out_file)
    if report.truncated:
        err.print(f"{report.truncated} text(s) longer than {max_chars} characters were truncated")
    _emit(
        {
            "out": str(out_file),
            "pairs": report.pairs,
            "texts": report.texts,
            "train": report.train,
            "heldout": report.heldout,
            "truncated": report.truncated,
            "snr_db": list(snr_range),
        },
        as_json,
        "corrector pairs",
    )


@corrector_app.command("train")
def corrector_train(
    pairs_file: Path = typer.Option(..., "--pairs", help="Pairs from `multisc corrector pairs`."),
    out_dir: Path = typer.Option(..., "--out", help="Output directory (resumed if it exists)."),
    base: str | None = typer.Option(
        None, "--base", help="Base model id or directory (default: the registry's corrector)."
    ),
    steps: int = typer.Option(1000, help="Optimiser steps."),
    batch: int = typer.Option(16, help="Pairs per step."),
    lr: float = typer.Option(5e-5, help="AdamW learning rate."),
    max_length: int = typer.Option(128, "--max-length", help="Token limit (longer is truncated)."),
    eval_every: int = typer.Option(100, "--eval-every", help="Held-out loss every N steps."),
    seed: int = typer.Option(0, help="Seed of the batch order."),
    device: str = DEVICE_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Fine-tune a BART corrector (mixed precision on CUDA); saved with save_pretrained."""
    from multisc.correction_tuning.pairs import read_pairs
    from multisc.correction_tuning.training import train_corrector

    pairs = read_pairs(pairs_file)
    train = [p for p in pairs if p.split == "train"]
    heldout = [p for p in pairs if p.split == "heldout"]
    with Progress(
        TextColumn("[bold]corrector[/]"),
        BarColumn(),
        TextColumn("step {task.completed}/{task.total}"),
        TextColumn("loss {task.fields[loss]:.4f}  held-out {task.fields[heldout]}"),
        TimeRemainingColumn(),
        console=err,
        transient=as_json,
    ) as progress:
        task = progress.add_task("", total=steps, loss=0.0, heldout="—")

        def report(step: int, total: int, loss: float, held: float | None) -> None:
            progress.update(
                task, completed=step, loss=loss, heldout="—" if held is None else f"{held:.4f}"
            )

        result = train_corrector(
            train,
            heldout,
            out_dir,
            base=base,
            steps=steps,
            batch=batch,
            lr=lr,
            max_length=max_length,
            eval_every=eval_every,
            seed=seed,
            device=device,
            progress=report,
        )
    if result.truncated:
        err.print(f"{result.truncated} pair(s) exceed {max_length} tokens and were truncated")
    _emit(
        {
            "out": str(result.out),
            "steps": result.steps,
            "resumed_from_step": result.resumed_from,
            "final_loss": result.final_loss,
            "heldout_loss": result.heldout_loss,
            "truncated": result.truncated,
            "train_pairs": len(train),
            "heldout_pairs": len(heldout),
        },
        as_json,
        "corrector training",
    )


@corrector_app.command("eval")
def corrector_eval(
    pairs_file: Path = typer.Option(..., "--pairs", help="Pairs (their held-out split is used)."),
    correctors: list[str] = typer.Option(
        ..., "--corrector", help="bart, symspell, none, or a directory; repeat to compare."
    ),
    models: str | None = typer.Option(None, "--models", help="Directory overriding model ids."),
    bucket: float = typer.Option(2.0, "--bucket", help="SNR bucket width in dB."),
    split: str = typer.Option("heldout", "--split", help="heldout, train or all."),
    plot_path: Path | None = typer.Option(None, "--plot", help="Where to save the plot (PNG)."),
    device: str = DEVICE_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """CER, WER, BLEU and text similarity per SNR bucket, uncorrected vs each corrector."""
    from multisc.correction_tuning.evaluation import evaluate, load_corrector, plot
    from multisc.correction_tuning.pairs import read_pairs

    pairs = read_pairs(pairs_file, None if split == "all" else split)
    loaded = dict(load_corrector(spec, models, device) for spec in correctors)
    with err.status(f"correcting {len(pairs)} texts with {', '.join(loaded)}"):
        rows = evaluate(pairs, loaded, bucket)
    saved = plot(rows, plot_path or pairs_file.with_suffix(".eval.png"))
    if as_json:
        _write_json({"plot": str(saved), "results": rows})
        return
    table = Table(title=f"correctors on {len(pairs)} {split} pairs")
    for column in ("corrector", "SNR (dB)", "pairs", "CER", "WER", "BLEU", "similarity"):
        table.add_column(column, justify="left" if column == "corrector" else "right")
    for row in rows:
        table.add_row(
            row["corrector"],
            f"{row['snr_db']:g}",
            str(row["pairs"]),
            f"{row['cer']:.4f}",
            f"{row['wer']:.4f}",
            f"{row['bleu']:.2f}",
            f"{row['text_similarity']:.3f}",
        )
    show(out, table)
    out.print(f"plot: {saved}")

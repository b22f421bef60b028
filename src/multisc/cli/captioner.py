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
    out,
    show,
)
from multisc.errors import InvalidInputError

captioner_app = typer.Typer(help="Evaluate captioners as the paper's Table I does.")
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
    from multisc.captioner.evaluate import (
        CAPTIONERS_FILE,
        TABLE_COLUMNS,
        evaluate_captioners,
        table_cells,
    )
    from multisc.captioner.references import read_references, sample_references
    from multisc.data.sources import load_images
    from multisc.transmitter.captioners import (
        CAPTIONER_REGISTRY,
        DEFAULT_CAPTIONER,
        DEFAULT_VLM_CAPTIONER,
        captioner_names,
    )

    names = _split(captioners, "--captioners") or [DEFAULT_CAPTIONER, DEFAULT_VLM_CAPTIONER]
    if names == ["all"]:
        names = list(captioner_names())
    for name in names:  # an unknown name: before any image is read
        CAPTIONER_REGISTRY.get(name)
    if run_dir is not None:  # before any work: the table goes into a run, nowhere else
        from multisc.experiment.store import STORE_FILE
        from multisc.runroot import RunRoot

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
        out_file.write_text(json.dumps(payload, indent=2, ensure_ascii=False))
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

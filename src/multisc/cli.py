"""The ``multisc`` command line (typer + rich). Every command takes ``--json``."""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from multisc import __version__
from multisc.errors import InvalidInputError, MultiscError

app = typer.Typer(
    name="multisc",
    help="Generative semantic image transmission (Multi-SC) and its baselines over noisy channels.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)

JSON_OPTION = typer.Option(False, "--json", help="Print one JSON object instead of a table.")
DEVICE_OPTION = typer.Option("auto", "--device", help="cpu, cuda or auto (CUDA when present).")


def _version(value: bool) -> None:
    if value:
        out.print(f"multisc {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """multisc: Multi-SC and baselines over simulated noisy channels."""


def _check_image_output(path: Path) -> None:
    """A path an image can be saved at: not a directory, an extension Pillow writes."""
    from PIL import Image

    if path.is_dir():
        raise InvalidInputError(f"--out {path} is a directory: give a file name, e.g. out.png")
    writable = {ext for ext, fmt in Image.registered_extensions().items() if fmt in Image.SAVE}
    if path.suffix.lower() not in writable:
        raise InvalidInputError(
            f"--out {path}: cannot write images with extension {path.suffix!r}; use .png or "
            ".jpg (or another of " + ", ".join(sorted(writable)[:12]) + ", ...)"
        )


def _finite(value: Any) -> Any:
    """``value`` with NaN and infinities as ``None``: strict JSON parsers reject bare NaN."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _write_json(payload: Any) -> None:
    """One JSON document on stdout (strict: no NaN), the output of every ``--json``."""
    text = json.dumps(_finite(payload), indent=2, ensure_ascii=False, default=str, allow_nan=False)
    sys.stdout.write(text + "\n")


def _emit(payload: dict[str, Any], as_json: bool, title: str) -> None:
    if as_json:
        _write_json(payload)
        return
    table = Table(title=title, show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    for key, value in payload.items():  # values are data (received text): never markup
        table.add_row(key, Text("—" if value is None else str(value)))
    out.print(table)


@app.command()
def channel(
    text: str = typer.Option(..., "--text", help="Text to send (UTF-8)."),
    snr: float = typer.Option(..., "--snr", help="SNR in dB (Es/N0 per complex channel use)."),
    modulation: str = typer.Option("bpsk", help="bpsk, qpsk, 16qam or 64qam."),
    fec: str = typer.Option("none", help="none (uncoded) or ldpc (5G NR LDPC)."),
    code_rate: float = typer.Option(0.5, help="LDPC code rate, in [1/5, 0.95]."),
    fading: str = typer.Option("awgn", help="awgn or rayleigh."),
    coherence: int = typer.Option(1, help="Symbols per Rayleigh fading coefficient."),
    seed: int = typer.Option(0, help="Seed of the noise and fading."),
    device: str = DEVICE_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Send one text over a digital link and show what arrives."""
    from multisc.channel import ChannelSpec, DigitalLink
    from multisc.devices import make_generator

    spec = ChannelSpec(snr, fading=fading, coherence=coherence)  # type: ignore[arg-type]
    link = DigitalLink(modulation, fec, code_rate, device=device)
    result = link.send_text(text, spec, make_generator(seed, link.device))
    payload = {
        "sent": result.sent,
        "received": result.received,
        "bits": result.bits,
        "bit_errors": result.bit_errors,
        "ber": result.ber,
        "block_errors": result.block_errors,
        "channel_uses": result.channel_uses,
        "snr_db": spec.snr_db,
        "fading": spec.fading,
        "modulation": link.modulation,
        "fec": link.fec,
        "code_rate": link.code_rate if link.fec == "ldpc" else None,
    }
    _emit(payload, as_json, f"{link!r} at {spec.snr_db:g} dB ({spec.fading})")


@app.command()
def ber(
    modulation: str = typer.Option(..., help="bpsk, qpsk, 16qam or 64qam."),
    fec: str = typer.Option("none", help="none (uncoded) or ldpc (5G NR LDPC)."),
    snr: float = typer.Option(..., "--snr", help="SNR in dB (Es/N0 per complex channel use)."),
    bits: int = typer.Option(..., "--bits", help="Information bits to send in total."),
    code_rate: float = typer.Option(0.5, help="LDPC code rate, in [1/5, 0.95]."),
    block_bits: int = typer.Option(1024, help="Information bits per LDPC codeword (12..8448)."),
    fading: str = typer.Option("awgn", help="awgn or rayleigh."),
    coherence: int = typer.Option(1, help="Symbols per Rayleigh fading coefficient."),
    seed: int = typer.Option(0, help="Seed of bits, noise and fading."),
    device: str = DEVICE_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Measure the bit error rate (and block error rate with LDPC) of a link."""
    from multisc.channel import ChannelSpec, DigitalLink, measure_error_rates
    from multisc.devices import make_generator

    if bits < 1:
        raise InvalidInputError(f"--bits must be a positive number of bits, got {bits}")
    spec = ChannelSpec(snr, fading=fading, coherence=coherence)  # type: ignore[arg-type]
    link = DigitalLink(modulation, fec, code_rate, max_block_bits=block_bits, device=device)
    generator = make_generator(seed, link.device)
    with Progress(
        TextColumn("[bold]BER[/] {task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,.0f}/{task.total:,.0f} bits"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    ) as progress:
        task = progress.add_task(f"{modulation}/{fec} @ {spec.snr_db:g} dB", total=bits)
        rates = measure_error_rates(
            link,
            spec,
            bits,
            generator,
            block_bits=block_bits,
            progress=lambda done, total: progress.update(task, completed=done),
        )
    payload_out = {
        "ber": rates.ber,
        "bler": rates.bler,
        "bits": rates.bits,
        "bit_errors": rates.bit_errors,
        "blocks": rates.blocks,
        "block_errors": rates.block_errors,
        "channel_uses": rates.channel_uses,
        "snr_db": spec.snr_db,
        "fading": spec.fading,
        "modulation": link.modulation,
        "fec": link.fec,
        "code_rate": link.code_rate if link.fec == "ldpc" else None,
        "ber_theory_uncoded": rates.ber_theory_uncoded,
        "seconds": round(rates.seconds, 3),
        "bits_per_second": None if rates.bits_per_second is None else round(rates.bits_per_second),
        "device": str(link.device),
    }
    _emit(payload_out, as_json, f"{link!r} at {spec.snr_db:g} dB ({spec.fading})")


@app.command()
def transmit(
    image: Path = typer.Argument(..., help="Image file to send."),
    scheme: str = typer.Option(
        ..., "--scheme", help="A scheme of `multisc schemes list` (built-in or from a plugin)."
    ),
    snr: float = typer.Option(..., "--snr", help="SNR in dB (Es/N0 per complex channel use)."),
    fading: str = typer.Option("awgn", help="awgn or rayleigh."),
    models: Path | None = typer.Option(
        None, "--models", help="Directory overriding every model id."
    ),
    checkpoint: Path | None = typer.Option(
        None, "--checkpoint", help="deep JSCC checkpoint (default: the shipped ones)."
    ),
    ratio: str | None = typer.Option(
        None, "--ratio", help="Bandwidth budget K/N for bpg_ldpc/deep_jscc (default: as multisc)."
    ),
    out_png: Path | None = typer.Option(None, "--out", help="Where to save the reconstruction."),
    seed: int = typer.Option(0, help="Seed of the channel and the generator."),
    steps: int = typer.Option(30, help="Diffusion steps."),
    size: int | None = typer.Option(
        None, "--size", help="Generation resolution (default: the generator's, 512 for SD 1.5)."
    ),
    device: str = DEVICE_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """One image through one scheme at one SNR: reconstruction, texts, channel uses, metrics."""
    from multisc.channel import ChannelSpec
    from multisc.data.sources import open_image
    from multisc.metrics.scoring import Scorer
    from multisc.schemes import Components, SchemeOptions, build_scheme
    from multisc.schemes.registry import seed_generator

    spec = ChannelSpec(snr, fading=fading)  # type: ignore[arg-type]
    if out_png is not None:  # checked before the work, not after it
        _check_image_output(out_png)
    picture = open_image(image)
    # bpg_ldpc defaults to multisc's channel uses on this image; deep_jscc to its highest ratio
    budget = ratio if ratio is not None else ("match" if scheme == "bpg_ldpc" else None)
    if checkpoint is None and scheme in ("deep_jscc", "multisc", "single_text"):
        from multisc.codecs.jscc_shipped import shipped

        jscc: str | list[str] | None = [str(p) for p in shipped(fading)] or None
    else:
        jscc = None if checkpoint is None else str(checkpoint)
    options = SchemeOptions(jscc_checkpoint=jscc, steps=steps, budget=budget, generation_size=size)
    components = Components(models, device, options)
    with err.status(f"loading {scheme}"):
        built = build_scheme(scheme, components)
    with err.status(f"{scheme}: preparing"):
        prepared = built.prepare(picture)
    with err.status(f"{scheme}: transmitting at {spec.snr_db:g} dB"):
        (result,) = built.transmit(prepared, [spec], seed_generator(seed))
    scorer = Scorer(models, components.device)
    metrics = scorer.score(prepared.reference, result)
    if out_png is not None:
        out_png.parent.mkdir(parents=True, exist_ok=True)
        result.image.save(out_png)
    payload = {
        "scheme": scheme,
        "snr_db": spec.snr_db,
        "fading": spec.fading,
        "channel_uses": result.channel_uses,
        "failed": result.failed,
        "texts_sent": list(result.texts_sent),
        "texts_received": list(result.texts_received),
        "texts_corrected": list(result.texts_corrected),
        "prompt": result.prompt,
        "metrics": metrics,
        "metrics_skipped": {k: v.split(". Run")[0] for k, v in scorer.skipped.items()},
        "details": result.details,
        "image_size": list(prepared.reference.size),
        "output": str(out_png) if out_png else None,
    }
    if as_json:
        _write_json(payload)
        return
    table = Table(title=f"{scheme} at {spec.snr_db:g} dB ({spec.fading})", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    table.add_row("channel uses", f"{result.channel_uses:,}")
    table.add_row("failed", str(result.failed))
    for i, sent in enumerate(result.texts_sent):  # texts are data: never markup
        table.add_row(f"text {i + 1} sent", Text(sent))
        table.add_row(f"text {i + 1} received", Text(result.texts_received[i]))
        table.add_row(f"text {i + 1} corrected", Text(result.texts_corrected[i]))
    if result.prompt is not None:
        table.add_row("prompt", Text(result.prompt))
    for name, value in metrics.items():
        if value is not None:
            table.add_row(name, f"{value:.4f}")
    for name in scorer.skipped:
        table.add_row(name, "[dim]skipped: weights not available[/]")
    if out_png:
        table.add_row("saved", str(out_png))
    out.print(table)


def _split(values: list[str] | None) -> list[str] | None:
    """Repeated options and comma-separated lists alike: --snr 0 --snr 3 or --snr 0,3."""
    if not values:
        return None
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


@app.command()
def run(
    config_file: Path | None = typer.Argument(
        None, metavar="[CONFIG.yaml]", help="Experiment config."
    ),
    images: str | None = typer.Option(
        None,
        "--images",
        help="samples | kodak24:DIR | voc2012:DIR | DIR | GLOB. (default: samples)",
    ),
    schemes: list[str] | None = typer.Option(
        None,
        "--schemes",
        help="Schemes of `multisc schemes list` (repeat or comma list). (default: the five "
        "built-in ones)",
    ),
    snr: list[str] | None = typer.Option(
        None, "--snr", help="SNRs in dB (repeat or comma list). (default: 0,3,...,18)"
    ),
    seeds: int | None = typer.Option(
        None, "--seeds", help="Seeds per (image, scheme, SNR). (default: 1)"
    ),
    fading: str | None = typer.Option(None, "--fading", help="awgn or rayleigh. (default: awgn)"),
    limit: int | None = typer.Option(
        None, "--limit", help="At most this many images. (default: all)"
    ),
    models: str | None = typer.Option(
        None, "--models", help="Directory overriding every model id."
    ),
    out_dir: str | None = typer.Option(
        None, "--out", help="Run directory (resumed if it exists). (default: runs/paper-samples)"
    ),
    executor: str | None = typer.Option(None, "--executor", help="local or ray. (default: local)"),
    address: str | None = typer.Option(None, "--address", help="Ray cluster address (e.g. auto)."),
    device: str | None = typer.Option(None, "--device", help="cpu, cuda or auto. (default: auto)"),
    prepare_batch: int | None = typer.Option(
        None,
        "--prepare-batch",
        help="Images whose segmentation and captions run as one batch. (default: 4)",
    ),
    no_download: bool = typer.Option(
        False, "--no-download", help="Skip schemes whose weights are missing, even with network."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Run (or resume) an SNR sweep and write its report. With no arguments: the paper's
    experiment on the bundled sample photos, every scheme, SNRs 0..18 dB. Flags override
    CONFIG.yaml; the defaults shown are those of an empty config."""
    from multisc.experiment.config import load_config
    from multisc.experiment.sweep import run_sweep

    snrs = _split(snr)
    try:
        snr_values = [float(v) for v in snrs] if snrs is not None else None
    except ValueError as exc:
        raise InvalidInputError(f"--snr takes numbers of dB, got {snrs}") from exc
    config = load_config(
        config_file,
        images=images,
        schemes=_split(schemes),
        snr_db=snr_values,
        seeds=seeds,
        fading=fading,
        limit=limit,
        models=models,
        out=out_dir,
        executor=executor,
        ray_address=address,
        device=device,
        prepare_batch=prepare_batch,
        download=False if no_download else None,
    )
    summary = run_sweep(config, err)
    payload = {
        "out": str(summary.out),
        "rows": summary.rows,
        "new_rows": summary.new_rows,
        "schemes": summary.schemes,
        "skipped": summary.skipped,
        "notes": summary.notes,
        "failed": summary.failed,
        "report": summary.report,
    }
    if as_json:
        _write_json(payload)
    else:
        out.print(
            f"{summary.rows} results in {summary.out} ({summary.new_rows} new)"
            + (f"; report: {summary.report}" if summary.report else "")
        )


@app.command()
def report(
    run_dir: Path = typer.Argument(..., help="A run directory written by `multisc run`."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Plots of every metric vs SNR, channel uses, image grids and report.html."""
    from multisc.report.build import build_report

    path = build_report(run_dir)
    if as_json:
        _write_json({"report": str(path)})
    else:
        out.print(f"report: {path}")


schemes_app = typer.Typer(help="The registered schemes: built-in and from plugins.")
app.add_typer(schemes_app, name="schemes")


@schemes_app.command("list")
def schemes_list(as_json: bool = JSON_OPTION) -> None:
    """Every scheme a run accepts: what it sends, what it needs, its options and defaults."""
    import dataclasses

    from multisc.schemes.registry import SchemeOptions
    from multisc.schemes.spec import scheme_specs

    defaults = SchemeOptions()
    fields = {f.name for f in dataclasses.fields(SchemeOptions)}
    rows = []
    for spec in scheme_specs().values():
        rows.append(
            {
                "name": spec.name,
                "summary": spec.summary,
                "source": spec.source,
                "semantic": spec.semantic,
                "takes_budget": spec.budget,
                "needs": list(spec.needed_components(defaults)),
                "options": {
                    name: getattr(defaults, name) if name in fields else None
                    for name in spec.options
                },
                "settings": spec.settings_doc(),
            }
        )
    if as_json:
        _write_json({"schemes": rows})
        return
    table = Table(title="schemes (`multisc run --schemes NAME`; defaults: --json)")
    for column in ("name", "what travels / receiver", "needs", "options", "from"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            Text(row["name"]),
            Text(row["summary"]),
            Text(", ".join(row["needs"]) or "-"),
            Text(", ".join([*row["options"], *(f"{row['name']}.{k}" for k in row["settings"])])),
            Text(row["source"]),
        )
    out.print(table)


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
    out.print(table)


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
    out.print(table)


models_app = typer.Typer(help="Pretrained components: list, pull, doctor, make stand-ins.")
app.add_typer(models_app, name="models")


@models_app.command("list")
def models_list(
    models: Path | None = typer.Option(None, "--models", help="Directory overriding every id."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Each component, where it loads from, and whether it is available offline."""
    from multisc import models as registry

    rows = [
        {
            "name": item.name,
            "source": str(registry.torch_hub_checkpoint(item.repo_id))
            if item.torch_hub and (models is None or item.name != "segmenter")
            else registry.source(item.name, models),
            "available": registry.is_available(item.name, models),
            "purpose": item.purpose,
        }
        for item in registry.REGISTRY.values()
    ]
    if as_json:
        _write_json(rows)
        return
    table = Table(title="multisc components" + (f" (--models {models})" if models else ""))
    for column in ("name", "source", "available", "purpose"):
        table.add_column(column)
    for row in rows:
        mark = "[green]yes[/]" if row["available"] else "[red]no[/]"
        table.add_row(row["name"], row["source"], mark, row["purpose"])
    out.print(table)
    missing = [row["name"] for row in rows if not row["available"]]
    if missing:
        err.print(f"missing: {', '.join(missing)} — `multisc models doctor` says what to run")


@models_app.command("pull")
def models_pull(
    names: list[str] = typer.Argument(None, help="Components to download (default: all)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Download components into the Hugging Face / torch hub caches (needs network): only
    the files each one loads, the total size said first."""
    from multisc import models as registry

    chosen = names or list(registry.REGISTRY)
    for name in chosen:
        registry.entry(name)  # unknown names fail before any download
    _emit(registry.pull_many(chosen, lambda line: err.print(line)), as_json, "pulled")


@models_app.command("doctor")
def models_doctor(
    models: Path | None = typer.Option(None, "--models", help="Directory overriding every id."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Per component: which of its files are present, missing or partial (truncated, or an
    interrupted download) in the cache or --models DIR, and what to run."""
    from multisc import models as registry

    rows = []
    for item in registry.REGISTRY.values():
        files = registry.file_status(item.name, models)
        available = registry.is_available(item.name, models)
        partial = [f for f, s in files.items() if s == "partial"]
        in_dir = models is not None and (not item.torch_hub or item.name == "segmenter")
        if available and not partial:
            action = None
        elif in_dir:
            action = f"put it in {models / item.name} (e.g. multisc models make-tiny {models} "
            action += f"--only {item.name})"
        else:
            action = f"multisc models pull {item.name}"
        rows.append(
            {
                "name": item.name,
                "repo_id": item.repo_id,
                "available": available,
                "files": files,
                "action": action,
            }
        )
    if as_json:
        _write_json(rows)
        return
    table = Table(title="multisc models doctor" + (f" (--models {models})" if models else ""))
    for column in ("name", "files", "to do"):
        table.add_column(column)
    colour = {"present": "green", "missing": "red", "partial": "yellow"}
    for row in rows:
        files = "\n".join(f"[{colour[s]}]{s:8}[/] {f}" for f, s in row["files"].items())
        table.add_row(row["name"], files, row["action"] or "[green]nothing[/]")
    out.print(table)


ONLY_OPTION = typer.Option(
    None, "--only", help="Write only these components (repeat the option, or a comma list)."
)


def _write_stand_ins(directory: Path, builders: dict, only: list[str] | None, seed: int, label):
    from multisc.errors import choices_error

    chosen = [name for item in only or [] for name in item.split(",") if name] or list(builders)
    for name in chosen:
        if name not in builders:
            raise choices_error("component", name, tuple(builders))
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
    seed: int = typer.Option(0, help="Seed of the random weights."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Random weights at the real architectures (the recorded configs, key by key), so that
    `multisc run --models DIR` costs what a real run costs (full: about 3.3 B parameters)."""
    from multisc.testing import FULL_BUILDERS, TINY_BUILDERS

    builders = {"full": FULL_BUILDERS, "tiny": TINY_BUILDERS}.get(size)
    if builders is None:
        raise InvalidInputError(f"unknown size {size!r}: choose one of full, tiny")
    written = _write_stand_ins(directory, builders, only, seed, size)
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
    out.print(table)
    out.print(f"plot: {saved}")


def main(argv: list[str] | None = None) -> int:
    """Entry point. A :class:`MultiscError` or a usage error is printed on one line (exit 2),
    never a traceback."""
    try:  # typer >= 0.2x carries its own copy of click
        from typer._click.exceptions import NoArgsIsHelpError, UsageError
    except ImportError:
        from click.exceptions import NoArgsIsHelpError, UsageError

    _quiet_libraries()
    try:
        app(args=argv, prog_name="multisc", standalone_mode=False)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except typer.Exit as exc:  # --help, --version
        return exc.exit_code
    except NoArgsIsHelpError as exc:  # plain `multisc`: the help
        err.print(exc.format_message(), highlight=False, markup=False)
        return 0
    except UsageError as exc:  # typer would draw a box: one line, as for every error
        command = exc.ctx.command_path if exc.ctx else "multisc"
        err.print(
            f"[bold red]error:[/] {escape(exc.format_message())} (see `{command} --help`)",
            highlight=False,
            soft_wrap=True,
        )
        return 2
    except typer.Abort:
        err.print("aborted")
        return 1
    except MultiscError as exc:
        err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        return 2
    return 0


def _quiet_libraries() -> None:
    """The CLI draws its own progress: library loading bars and advice lines stay off
    (transformers', diffusers' and huggingface_hub's own warnings at error level only);
    download progress bars (huggingface_hub's) stay on."""
    import logging

    try:
        from diffusers.utils import logging as diffusers_logging
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
        diffusers_logging.disable_progress_bar()
        diffusers_logging.set_verbosity_error()
    except ImportError:
        pass
    # transformers switches huggingface_hub's bars off with its own: downloads keep theirs
    from huggingface_hub.utils import enable_progress_bars

    if os.environ.get("HF_HUB_DISABLE_PROGRESS_BARS", "").lower() not in ("1", "true", "yes"):
        enable_progress_bars()
    for name in ("accelerate", "huggingface_hub"):
        logging.getLogger(name).setLevel(logging.ERROR)


if __name__ == "__main__":
    sys.exit(main())

"""``multisc transmit``: one image through one scheme at one SNR."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table
from rich.text import Text

from multisc.cli.common import (
    DEVICE_OPTION,
    JSON_OPTION,
    _check_image_output,
    _write_json,
    app,
    channel_flags,
    err,
    nr_first_use,
    out,
    show,
)
from multisc.errors import InvalidInputError


@app.command()
@channel_flags
def transmit(
    image: Path = typer.Argument(..., help="Image file to send."),
    scheme: str = typer.Option(
        ..., "--scheme", help="A scheme of `multisc schemes list` (built-in or from a plugin)."
    ),
    snr: float = typer.Option(..., "--snr", help="SNR in dB (Es/N0 per complex channel use)."),
    models: Path | None = typer.Option(
        None, "--models", help="Directory overriding every model id."
    ),
    checkpoint: Path | None = typer.Option(
        None, "--checkpoint", help="deep JSCC checkpoint (default: the shipped ones)."
    ),
    ratio: str | None = typer.Option(
        None,
        "--ratio",
        help="Bandwidth budget K/N for bpg_ldpc/deep_jscc. (default: as `multisc run`: "
        "multisc's channel uses, or 1/24 without multisc's weights; deep_jscc with "
        "--checkpoint: that checkpoint's own ratio)",
    ),
    out_png: Path | None = typer.Option(None, "--out", help="Where to save the reconstruction."),
    seed: int = typer.Option(0, help="Seed of the channel and the generator."),
    steps: int | None = typer.Option(
        None, "--steps", help="Diffusion steps (default: the generator's: 30, sd15-lcm 4)."
    ),
    segmenter: str | None = typer.Option(
        None, "--segmenter", help="A registered segmenter (default: fcn_resnet50)."
    ),
    captioner: str | None = typer.Option(
        None,
        "--captioner",
        help="A registered captioner (default: the scheme's: the paper's LLaVA, VLM-CSC's blip).",
    ),
    generator: str | None = typer.Option(
        None, "--generator", help="A registered generator (default: sd15)."
    ),
    ip_adapter: str | None = typer.Option(
        None, "--ip-adapter", help="A registered IP-Adapter (default: base)."
    ),
    size: int | None = typer.Option(
        None, "--size", help="Generation resolution (default: the generator's, 512 for SD 1.5)."
    ),
    device: str = DEVICE_OPTION,
    as_json: bool = JSON_OPTION,
    channel=None,
) -> None:
    """One image through one scheme at one SNR: reconstruction, texts, channel uses, metrics.
    The parts are the scheme's defaults unless --segmenter, --captioner, --generator or
    --ip-adapter name other registered ones (`multisc schemes list`)."""
    from multisc.devices import check_device_name
    from multisc.schemes.catalog import get_spec
    from multisc.schemes.options import SchemeOptions

    # every refusal before torch, Sionna or a model library loads (they take seconds)
    get_spec(scheme)  # an unknown scheme: the closest one named
    if not image.exists():  # what else is wrong with it, open_image says
        raise InvalidInputError(f"image file not found: {image}")
    parts = {
        key: value
        for key, value in (
            ("segmenter", segmenter), ("captioner", captioner), ("vlm_captioner", captioner),
            ("generator", generator), ("ip_adapter", ip_adapter),
        )
        if value is not None
    }  # fmt: skip
    SchemeOptions(steps=steps, **parts)  # a typo names the closest registered part
    check_device_name(device)
    if out_png is not None:  # checked before the work, not after it
        _check_image_output(out_png)
    from multisc.channel import ChannelSpec
    from multisc.data.sources import open_image
    from multisc.metrics.scoring import Scorer
    from multisc.schemes import Components, build_scheme
    from multisc.schemes.registry import seed_generator

    spec = ChannelSpec(snr) if channel is None else channel.spec(snr)
    picture = open_image(image)
    nr_first_use(spec)  # NR with mcs auto: thresholds measured once, with progress
    if ratio is not None:
        budget: str | None = ratio
    elif checkpoint is not None and scheme == "deep_jscc":
        budget = None  # the checkpoint given is sent at its own ratio, on the whole image
    else:
        budget = _default_budget(scheme, models)
    if checkpoint is None and scheme in ("deep_jscc", "multisc", "single_text"):
        from multisc.codecs.jscc import training_channel
        from multisc.codecs.jscc_shipped import shipped

        jscc: str | list[str] | None = [str(p) for p in shipped(training_channel(spec))] or None
    else:
        jscc = None if checkpoint is None else str(checkpoint)
    options = SchemeOptions(
        jscc_checkpoint=jscc, steps=steps, budget=budget, generation_size=size, **parts
    )
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
        "fading": spec.label,
        "channel_uses": result.channel_uses,
        "pilot_uses": result.pilot_uses,
        "failed": result.failed,
        "texts_sent": list(result.texts_sent),
        "texts_received": list(result.texts_received),
        "texts_corrected": list(result.texts_corrected),
        "prompt": result.prompt,
        "metrics": metrics,
        "metrics_skipped": {k: v.split(". Run")[0] for k, v in scorer.skipped.items()},
        "details": result.details,
        "parts": {
            key: value
            for key, value in options.for_scheme(scheme).parts().items()
            if key in get_spec(scheme).options
        },
        "image_size": list(prepared.reference.size),
        "output": str(out_png) if out_png else None,
        "stand_ins": _stand_ins(
            get_spec(scheme).needed_components(options.for_scheme(scheme)), models
        ),
    }
    if as_json:
        _write_json(payload)
        return
    table = Table(title=f"{scheme} at {spec.snr_db:g} dB ({spec.label})", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    table.add_row("channel uses", f"{result.channel_uses:,}")
    table.add_row("failed", str(result.failed))
    for name, entry in payload["parts"].items():
        table.add_row(name, Text(entry))
    for i, sent in enumerate(result.texts_sent):  # texts are data: never markup
        table.add_row(f"text {i + 1} sent", Text(_clipped(sent)))
        table.add_row(f"text {i + 1} received", Text(_clipped(result.texts_received[i])))
        table.add_row(f"text {i + 1} corrected", Text(_clipped(result.texts_corrected[i])))
    if result.prompt is not None:
        table.add_row("prompt", Text(_clipped(result.prompt)))
    for name, value in metrics.items():
        if value is not None:
            table.add_row(name, f"{value:.4f}")
    for name in scorer.skipped:
        table.add_row(name, "[dim]skipped: weights not available[/]")
    if out_png:
        table.add_row("saved", str(out_png))
    show(out, table)
    if payload["stand_ins"]:
        err.print(
            f"These results come from random stand-in models ({', '.join(payload['stand_ins'])}):"
            " they mean nothing; pull the real weights (multisc models pull) for results."
        )


#: the longest text a table cell shows (the whole text is in --json)
TEXT_CELL = 160


def _clipped(text: str) -> str:
    return text if len(text) <= TEXT_CELL else text[: TEXT_CELL - 1] + "…"


def _stand_ins(components, models) -> list[str]:
    """The components among ``components`` that are random stand-ins (make-tiny's)."""
    from multisc.models import component_record, is_available, is_stand_in

    return [
        name
        for name in components
        if is_available(name, models) and is_stand_in(name, component_record(name, models))
    ]


def _default_budget(scheme: str, models: Path | None) -> str | None:
    """The budget ``multisc run`` gives a baseline: multisc's channel uses on the image
    ("match") where multisc's weights are here, else the config's fallback ratio (1/24),
    said on one line; ``None`` for schemes without a budget."""
    from multisc.experiment.config import RunConfig
    from multisc.experiment.planning import missing_components
    from multisc.schemes.catalog import get_spec

    if not get_spec(scheme).budget:
        return None
    config = RunConfig(schemes=["multisc"], models=str(models) if models else None, out="-")
    if not missing_components("multisc", config):
        return "match"
    fallback = config.budget_fallback
    err.print(
        f"{scheme}: multisc is not available, so the channel-use budget is the ratio "
        f"{fallback} of H·W·3 instead of 'same as multisc' (--ratio sets it)",
        highlight=False,
        soft_wrap=True,
    )
    return fallback

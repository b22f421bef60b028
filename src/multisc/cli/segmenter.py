"""``multisc segmenter eval``: the registered segmenters' mIoU and pixel accuracy on
VOC-format masks, beside torchvision's published numbers."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table
from rich.text import Text

from multisc.cli.common import DEVICE_OPTION, JSON_OPTION, _split, _write_json, app, err, out, show

segmenter_app = typer.Typer(help="Evaluate the registered segmenters on VOC-format masks.")
app.add_typer(segmenter_app, name="segmenter")


def _chosen(values: list[str] | None) -> list[str]:
    from multisc.transmitter.segmenters import DEFAULT_SEGMENTER, segmenter_names

    names = _split(values, "--segmenters") or [DEFAULT_SEGMENTER]
    return list(segmenter_names()) if names == ["all"] else names


@segmenter_app.command("eval")
def segmenter_eval(
    data: str = typer.Argument(
        ..., help="voc2012:DIR (VOCdevkit layout), or a folder of images with --masks."
    ),
    masks: Path | None = typer.Option(
        None, "--masks", help="A folder of <id>.png class masks (VOC's SegmentationClass)."
    ),
    segmenters: list[str] = typer.Option(
        None,
        "--segmenters",
        help="Registered segmenters (comma list, or all); default: the paper's fcn_resnet50.",
    ),
    split: str = typer.Option("val", "--split", help="voc2012: the ImageSets/Segmentation list."),
    limit: int | None = typer.Option(None, "--limit", min=1, help="At most this many images."),
    resize: int = typer.Option(
        520, "--resize", min=32, max=4096, help="Shorter side fed to the network (torchvision's)."
    ),
    models: str | None = typer.Option(None, "--models", help="Directory overriding model ids."),
    out_file: Path | None = typer.Option(None, "--out", help="Also write the results as JSON."),
    device: str = DEVICE_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """mIoU and pixel accuracy of each segmenter over the whole set (one confusion matrix of
    every pixel, 255 ignored, image and mask at a shorter side of --resize: torchvision's
    reference script), beside torchvision's published numbers (COCO val2017, VOC labels)."""
    from multisc.segmenter.evaluate import evaluate_segmenters, mask_pairs

    names = _chosen(segmenters)
    from multisc.transmitter.segmenters import SEGMENTER_REGISTRY

    for name in names:  # an unknown name: before any file is read
        SEGMENTER_REGISTRY.get(name)
    pairs = mask_pairs(data, masks, split, limit)
    with err.status("segmenting") as status:
        results = evaluate_segmenters(
            names, pairs, models, device, resize, say=lambda line: status.update(line)
        )
    payload = {"data": data, "images": len(pairs), "results": [r.as_dict() for r in results]}
    if out_file is not None:
        out_file.write_text(json.dumps(payload, indent=2))
    if as_json:
        _write_json(payload)
        return
    table = Table(title=f"segmenters on {data} ({len(pairs)} images, shorter side {resize})")
    for column in ("segmenter", "mIoU %", "pixel acc %", "classes", "s/image", "published"):
        table.add_column(column, justify="left" if column == "segmenter" else "right")
    for r in results:
        published = r.published
        shown = f"{published['miou']:.1f} / {published['pixel_accuracy']:.1f}" if published else "—"
        table.add_row(
            Text(r.segmenter), f"{r.miou:.2f}", f"{r.pixel_accuracy:.2f}", str(r.classes),
            f"{r.seconds_per_image:.3f}", shown,
        )  # fmt: skip
    show(out, table)
    err.print(
        "published: torchvision's mIoU / pixel accuracy on COCO val2017 with VOC labels (the "
        "same weights); mIoU here averages the classes that occur in the set"
    )
    tiny = [r.segmenter for r in results if r.stand_in]
    if tiny:
        err.print(
            f"These come from random stand-in weights ({', '.join(tiny)}): they mean nothing."
        )

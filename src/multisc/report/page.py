"""The report's page (``report.html``): Jinja2 templates in ``templates/``, autoescaped
for every template, the context they read assembled from a run's (or a comparison's) rows,
figures, tables and notes."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from multisc.captioner.evaluate import TABLE_COLUMNS
from multisc.experiment.rundir import IMAGES_DIR
from multisc.experiment.store import STORE_FILE
from multisc.experiment.variants import series_order
from multisc.report.data import (
    METRICS,
    MIN_FOR_INTERVAL,
    figure_context,
    stand_in_components,
)
from multisc.report.grids import GRIDS_DIR, tile_metric_names
from multisc.report.plots import CLIFF, PLOTS_DIR, TIME_LABEL
from multisc.report.style import scheme_name
from multisc.report.tables import (
    SUMMARY_LATEX,
    SUMMARY_MARKDOWN,
    column_label,
    component_rows,
    paired_rows,
    set_rows,
    summary,
)


def _bpg_over_nr(rows: list[dict[str, Any]]) -> bool:
    return any(r["scheme"].startswith("bpg_ldpc") and r["fading"].startswith("nr") for r in rows)


def _label(metric: str) -> str:
    return METRICS[metric][0] if metric in METRICS else TIME_LABEL


def _full_size_links(rows: list[dict[str, Any]], image_id: str) -> list[dict[str, str]]:
    """Links to an image's reconstructions at full size (seed 0), by scheme and SNR; only
    paths of the form multisc writes (``images/...``, no ``..``) are linked."""
    links = []
    mine = [r for r in rows if r["image_id"] == image_id and r["seed"] == 0]
    order = series_order({r["scheme"] for r in mine})
    for row in sorted(mine, key=lambda r: (order.index(r["scheme"]), r["snr_db"])):
        path = str(row["image_path"])
        parts = path.split("/")
        if parts[0] != IMAGES_DIR or ".." in parts or not path.endswith(".png"):
            continue
        links.append(
            {
                "href": "/".join(quote(part) for part in parts),
                "text": f"{row['scheme']} {row['snr_db']:g} dB",
            }
        )
    return links


def code_spans(text: object):
    """A note's Markdown code spans (`` `multisc models pull` ``) as ``<code>``, the text
    escaped first (it may come from the store)."""
    import re

    from markupsafe import Markup, escape

    return Markup(re.sub(r"`([^`<>]+)`", r"<code>\1</code>", str(escape(str(text)))))


def _environment():
    """Jinja2 with autoescaping on for every template: escaping is the default, not a call
    each change must remember."""
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    environment = Environment(
        loader=PackageLoader("multisc.report", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    # a file of the run directory as a relative URL (autoescape makes it attribute-safe)
    environment.filters["url"] = lambda folder, name: f"{folder}/{quote(str(name))}"
    environment.filters["code"] = code_spans
    return environment


def render_page(title, rows, run, metric_plots, uses_plot, grid_files, notes, extra, inputs) -> str:
    """The page, from ``templates/report.html.j2`` and its parts (``inputs``: a
    comparison's runs, whose stand-ins and devices it names)."""
    from multisc.report.stats import MIN_PAIRS

    header, body = summary(rows)
    lines = [*notes.get("skipped", {}).values(), *notes.get("notes", [])]
    for f in notes.get("failed", []):
        lines.append(
            f"image {f['image_id']} could not be read: {f['error']}"
            if f["scheme"] == "*"
            else f"image {f['image_id']} could not be sent by {f['scheme']}: {f['error']}"
        )
    versions = json.loads(run["versions"]) if run else {}
    runs = list((inputs or {}).values()) if inputs else [run]
    stand_ins = sorted({name for record in runs for name in stand_in_components(record)})
    devices = list(dict.fromkeys(str(r["device"]) for r in runs if r and r.get("device")))
    statistics = extra["paired"]
    paired_channels = any(c["channel"] != "*" for c in statistics["comparisons"])
    context = {
        "title": title,
        "stand_ins": stand_ins,
        "figure_context": figure_context(rows, notes["channels"], run),
        "counts": {
            "rows": len(rows),
            "images": len({r["image_id"] for r in rows}),
            "schemes": len({scheme_name(r["scheme"]) for r in rows}),
            "series": len({r["scheme"] for r in rows}),
            "snrs": len({r["snr_db"] for r in rows}),
            "seeds": len({r["seed"] for r in rows}),
        },
        "device": ", ".join(devices) if devices else "not recorded",
        "channels": notes["channels"],
        "nr": any(c.startswith("nr") for c in notes["channels"]),
        "bpg_over_nr": _bpg_over_nr(rows),
        "notes": lines,
        "plots": PLOTS_DIR,
        "grids_dir": GRIDS_DIR,
        "metric_plots": [
            {"metric": m, "names": names, "label": METRICS[m][0]}
            for m, names in metric_plots.items()
        ],
        "uses_plot": uses_plot,
        "min_for_interval": MIN_FOR_INTERVAL,
        "cliff": f"{CLIFF:.0%}",
        "setting_plots": [
            {"setting": setting, "metric": metric, "names": names, "label": _label(metric)}
            for (setting, metric), names in extra["settings"].items()
        ],
        "worst_link_plots": [
            {"metric": metric, "names": names, "label": METRICS[metric][0]}
            for metric, names in extra["worst_link"].items()
            if names
        ],
        "bandwidth_plots": [
            {"metric": metric, "names": names, "label": METRICS[metric][0]}
            for metric, names in extra["bandwidth"].items()
        ],
        "sets": set_rows(
            [c for c in extra["sets"]["sets"] if c["fid"] is not None or c.get("texts")]
        ),  # a set with neither FID nor texts has nothing to show (the notes say why)
        "captioners": extra.get("captioners", []),
        "captioner_header": [header for _, header, _ in TABLE_COLUMNS],
        "fid_features": extra["sets"].get("fid_features", ""),
        "kid_subsets": extra["sets"].get("kid_subsets", ""),
        "paired": paired_rows(statistics["comparisons"], channels=paired_channels),
        "paired_channels": paired_channels,
        "reference": str(statistics["reference"]),
        "correction": statistics.get("correction") or {"name": "Holm", "tests": 0},
        "interval": statistics.get("interval", "percentile"),
        "min_pairs": MIN_PAIRS,
        "summary_header": [column_label(h) for h in header],
        "summary_body": body,
        "grids": [
            {"image_id": image_id, "name": name, "links": _full_size_links(rows, image_id)}
            for image_id, name in grid_files.items()
        ],
        "run": run,
        "versions": [[str(k), str(v)] for k, v in versions.items()],
        "components": component_rows(run),
        "tile_metrics": tile_metric_names(rows),
        "summary_files": [SUMMARY_LATEX, SUMMARY_MARKDOWN],
        "store_file": STORE_FILE,
    }
    return _environment().get_template("report.html.j2").render(context)

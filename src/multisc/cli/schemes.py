"""``multisc schemes list``: every registered scheme, built-in or from a plugin."""

from __future__ import annotations

import typer
from rich.table import Table
from rich.text import Text

from multisc.cli.common import (
    JSON_OPTION,
    _write_json,
    app,
    out,
    show,
)

schemes_app = typer.Typer(help="The registered schemes: built-in and from plugins.")


app.add_typer(schemes_app, name="schemes")


@schemes_app.command("list")
def schemes_list(as_json: bool = JSON_OPTION) -> None:
    """Every scheme a run accepts: what it sends, what it needs, its options (defaults and
    help; set for one scheme alone with `options: {NAME: {...}}` in a run config), and the
    registered choices of each part: segmenters, captioners, generators, IP-Adapters,
    correctors and slice links."""
    import dataclasses

    from multisc.schemes.catalog import scheme_specs
    from multisc.schemes.options import SchemeOptions

    defaults = SchemeOptions()
    helps = SchemeOptions.help()
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
                    name: {
                        "default": getattr(defaults, name) if name in fields else None,
                        "help": helps.get(name, ""),
                    }
                    for name in spec.options
                },
                "settings": spec.settings_doc(),
            }
        )
    from multisc.receiver.correctors import CORRECTOR_REGISTRY
    from multisc.schemes.roles import describe_roles
    from multisc.schemes.slice_links import SLICE_LINK_REGISTRY

    parts = {
        **{f"{role}s": entries for role, entries in describe_roles().items()},
        "correctors": CORRECTOR_REGISTRY.describe(),
        "slice_links": SLICE_LINK_REGISTRY.describe(),
    }
    if as_json:
        _write_json({"schemes": rows, **parts})
        return
    table = Table(title="schemes (`multisc run --schemes NAME`; each option's default: --json)")
    for column in ("name", "what travels / receiver", "needs", "options", "from"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            Text(row["name"]),
            Text(row["summary"]),
            Text(", ".join(row["needs"]) or "-"),
            Text(", ".join([*row["options"], *(f"{row['name']}.{k}" for k in row["settings"])])),
            Text(row["source"]),
        )
    show(out, table)
    listings = (
        ("segmenters", "segmenter"), ("captioners", "captioner, vlm_captioner"),
        ("generators", "generator"), ("ip_adapters", "ip_adapter"),
        ("correctors", "corrector, vlm_corrector"), ("slice_links", "slice_link"),
    )  # fmt: skip
    for key, option in listings:
        listing = Table(title=f"{key.replace('_', ' ')} (option {option})")
        for column in ("name", "what it does", "needs", "from"):
            listing.add_column(column)
        for part in parts[key]:
            listing.add_row(
                Text(part["name"]),
                Text(part["summary"]),
                Text(", ".join(part["needs"]) or "-"),
                Text(part["source"]),
            )
        show(out, listing)

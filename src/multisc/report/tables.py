"""The report's tables: the summary (mean and 95% interval per series, SNR and metric) for
the page, as LaTeX (booktabs) and Markdown files to paste into a paper, and per-series
means for ``--json``; the set-level, paired-statistics and components tables of the page.
Each metric's numbers have one format everywhere
(``FORMATS`` in [multisc.report.data][])."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import numpy as np

from multisc.experiment.variants import series_order
from multisc.report.data import FORMATS, METRICS, mean_ci
from multisc.untrusted import json_loads

SUMMARY_LATEX = "summary.tex"
SUMMARY_MARKDOWN = "summary.md"


def cell(metric: str, values: list[float]) -> str:
    """``mean [low, high]`` (95% bootstrap interval), in the metric's one format."""
    form = FORMATS.get(metric, "{:.4g}")
    mean, low, high = mean_ci(values)
    if low is None:
        return form.format(mean)
    return f"{form.format(mean)} [{form.format(low)}, {form.format(high)}]"


def table_metrics(rows: list[dict[str, Any]], chosen: list[str] | None = None) -> list[str]:
    """The metrics a table has a column (or a table) for: ``chosen`` (a config's or the
    command's ``table_metrics``, in its order), else every metric of the report; only those
    some row has a value of."""
    return [m for m in chosen or METRICS if any(r["metrics"].get(m) is not None for r in rows)]


def summary(rows, chosen: list[str] | None = None) -> tuple[list[str], list[list[str]]]:
    """Mean metrics per (scheme, SNR), each with its 95% bootstrap interval; the metrics
    as [table_metrics][multisc.report.tables.table_metrics] says."""
    metrics = table_metrics(rows, chosen)
    groups: dict[tuple[str, float], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[(row["scheme"], row["snr_db"])].append(row)
    header = ["scheme", "SNR (dB)", "n", "channel uses", "failed", *metrics]
    body = []
    for scheme in series_order({s for s, _ in groups}):
        for snr in sorted(snr for s, snr in groups if s == scheme):
            items = groups[(scheme, snr)]
            cells = [
                scheme,
                f"{snr:g}",
                str(len(items)),
                f"{np.mean([r['channel_uses'] for r in items]):,.0f}",
                str(sum(r["failed"] for r in items)),
            ]
            for metric in metrics:
                given = [r["metrics"].get(metric) for r in items]
                values = [float(v) for v in given if v is not None and math.isfinite(v)]
                skipped = sum(v is not None for v in given) - len(values)
                text = cell(metric, values) if values else "—"
                cells.append(text + (f" ({skipped} NaN left out)" if skipped else ""))
            body.append(cells)
    return header, body


def scheme_means(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per series, over its images, SNRs and seeds: ``rows``, mean ``channel_uses``,
    ``failed`` and the mean of each metric it has (finite values only): what ``run
    --json`` and ``report --json`` give as ``means``."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[row["scheme"]].append(row)
    out: dict[str, dict[str, Any]] = {}
    for name in series_order(groups):
        items = groups[name]
        entry: dict[str, Any] = {
            "rows": len(items),
            "channel_uses": float(np.mean([r["channel_uses"] for r in items])),
            "failed": int(sum(bool(r["failed"]) for r in items)),
        }
        for metric in METRICS:
            values = [r["metrics"].get(metric) for r in items]
            kept = [float(v) for v in values if v is not None and math.isfinite(v)]
            if kept:
                entry[metric] = float(np.mean(kept))
        out[name] = entry
    return out


_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
    "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}", "|": r"\textbar{}", "<": r"\textless{}",
    ">": r"\textgreater{}",
}  # fmt: skip


#: Greek letters as math (pdflatex with booktabs alone has no Greek text font): the paper
#: writes the IP-Adapter weight as lambda
_GREEK_NAMES = (
    "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa",
    "lambda", "mu", "nu", "xi", "pi", "rho", "sigma", "tau", "upsilon", "phi", "chi",
    "psi", "omega", "Gamma", "Delta", "Theta", "Lambda", "Xi", "Pi", "Sigma", "Phi", "Psi",
    "Omega",
)  # fmt: skip
_GREEK = {
    letter: f"${{\\{name}}}$"
    for letter, name in zip("αβγδεζηθικλμνξπρστυφχψωΓΔΘΛΞΠΣΦΨΩ", _GREEK_NAMES, strict=True)
}


def _latex_char(c: str) -> str:
    if c in _LATEX_SPECIAL:
        return _LATEX_SPECIAL[c]
    if c in _GREEK:
        return _GREEK[c]
    if c in "\n\r\t" or not c.isprintable():
        return " "  # a line break in a name would end the row
    if ord(c) > 0x17F:  # beyond Latin-1 and Latin Extended-A: no glyph in pdflatex's fonts
        return f"[U+{ord(c):04X}]"
    return c


def latex_escape(text: str) -> str:
    """``text`` safe inside a LaTeX table cell (names come from the store): specials shown
    literally, Greek letters as math, line breaks as spaces, letters pdflatex has no glyph
    for as ``[U+XXXX]``; the table compiles with booktabs alone."""
    return "".join(_latex_char(c) for c in str(text))


def markdown_cell(text: object) -> str:
    """``text`` as one Markdown table cell: ``|`` escaped, line breaks as spaces."""
    return " ".join(str(text).splitlines()).replace("|", "\\|")


def column_label(name: str) -> str:
    """A metric's name in every table (``psnr`` -> ``PSNR (dB)``)."""
    return METRICS[name][0] if name in METRICS else name


def _stacked(lines: list[str], align: str = "l") -> str:
    """Cell lines one under another without a package: a nested ``tabular`` (a line that
    starts with ``[`` is braced, or ``\\`` would read it as its optional argument)."""
    if len(lines) == 1:
        return lines[0]
    body = " \\\\ ".join(f"{{{line}}}" if line.startswith("[") else line for line in lines)
    return f"\\begin{{tabular}}[t]{{@{{}}{align}@{{}}}}{body}\\end{{tabular}}"


#: a metric's column head in a LaTeX table (its full name is in the caption)
SHORT = {
    "psnr": "PSNR (dB)", "ssim": "SSIM", "lpips": "LPIPS", "dists": "DISTS",
    "clip_cosine": "CLIP cos.", "bleu": "BLEU", "bleu1": "BLEU-1", "bleu4": "BLEU-4",
    "text_similarity": "Text sim.", "bleu_fused": "BLEU (fused)",
    "text_similarity_fused": "Text sim. (fused)",
}  # fmt: skip
#: text lines a LaTeX table holds before it goes on in another ("continued"): each float
#: fits a page
TABLE_LINES = 34
#: more tables than this (a 48-variant ablation) and each metric starts on a new page
#: (``\\clearpage``: LaTeX keeps at most 18 floats waiting)
FLOATS = 12


def _series_lines(series: str) -> list[str]:
    """A series' name, then each of its settings and its channel on lines of their own, a
    long value under its setting's name: ``multisc ip_scale=0.25 [awgn]`` -> ``multisc``,
    ``ip_scale=0.25``, ``[awgn]``."""
    label, bracket, channel = series.partition(" [")
    lines = []
    for part in (p for p in label.split(" ") if p):
        name, equals, value = part.partition("=")
        if equals and len(part) > 20:
            lines += [latex_escape(f"{name}="), "\\quad " + latex_escape(value)]
        else:
            lines.append(latex_escape(part))
    return lines + ([latex_escape(f"[{channel}")] if bracket else [])


def summary_latex(
    rows: list[dict[str, Any]], description: str, chosen: list[str] | None = None
) -> str:
    """The summary as booktabs tables, one per metric (and one of channel uses), each
    narrow enough for a paper's column at the document's font size: the series' settings
    stacked under its name, the interval under the mean, n in the caption. Needs only
    ``\\usepackage{booktabs}`` (no scaling: a table's font stays the document's). The
    metrics as [table_metrics][multisc.report.tables.table_metrics] says."""
    metrics = table_metrics(rows, chosen)
    groups: dict[tuple[str, float], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[(row["scheme"], row["snr_db"])].append(row)
    order = series_order({s for s, _ in groups})
    keys = [(s, snr) for s in order for snr in sorted(x for t, x in groups if t == s)]
    counts = {len(groups[k]) for k in keys}
    any_failed = any(r["failed"] for r in rows)
    what = latex_escape(description)
    uniform = len(counts) == 1  # n in the caption, else a column of its own
    per_row = f"n = {min(counts)} images and seeds per row" if uniform else "n per row"
    spent = {s: np.mean([r["channel_uses"] for r in rows if r["scheme"] == s]) for s in order}
    tables = [
        "% multisc summary: needs only \\usepackage{booktabs}",
        _latex_table(
            f"Channel uses per image (mean over images, SNRs and seeds): {what}.",
            ["Scheme", "Channel uses"],
            [(name, [f"{spent[name]:,.0f}"]) for name in order],
            "r",
        ),
    ]
    for metric in metrics:
        interval = False
        body = []
        for scheme, snr in keys:
            items = groups[(scheme, snr)]
            values = [float(v) for r in items if (v := r["metrics"].get(metric)) is not None
                      and math.isfinite(v)]  # fmt: skip
            form = FORMATS.get(metric, "{:.4g}")
            cells = [f"{snr:g}"]
            if not values:
                cells.append("--")
            else:
                mean, low, high = mean_ci(values)
                lines = [form.format(mean)]
                if low is not None:
                    interval = True
                    lines.append(f"[{form.format(low)}, {form.format(high)}]")
                cells.append(_stacked(lines, "r"))
            if not uniform:
                cells.insert(1, str(len(items)))
            if any_failed:
                cells.append(str(sum(bool(r["failed"]) for r in items)))
            body.append((scheme, cells))
        how = (
            f"mean [95\\% bootstrap interval] over the {per_row}"
            if interval else f"mean over the {per_row}"
        )  # fmt: skip
        header = ["Scheme", "SNR (dB)", *([] if uniform else ["n"])]
        header += [latex_escape(SHORT.get(metric, metric)), *(["Failed"] if any_failed else [])]
        caption = f"{latex_escape(column_label(metric))}: {how}; {what}."
        if any_failed:
            caption += " Failed: transmissions scored as the failure image."
        tables.append(_latex_table(caption, header, body, "r" * (len(header) - 1)))
    text = "\n".join(tables) + "\n"
    floats = text.count("\\begin{table}")
    if floats > FLOATS:  # LaTeX holds at most 18 floats unplaced: flush them between metrics
        text = "\n\\clearpage\n".join(tables) + "\n"
    return text


def _latex_table(
    caption: str, header: list[str], body: list[tuple[str, list[str]]], columns: str
) -> str:
    """Booktabs tables of ``body``: the series' name on its group's first row only, a rule
    between series, at most [TABLE_LINES][multisc.report.tables.TABLE_LINES] text lines
    each (the next one "continued")."""
    chunks: list[list[str]] = [[]]
    used = 0
    previous = None
    for series, cells in body:
        name = _stacked(_series_lines(series)) if series != previous else ""
        height = max(
            len(_series_lines(series)) if name else 1,
            *(cell.count("\\\\") + 1 for cell in cells),
        )  # fmt: skip
        if used and used + height > TABLE_LINES:
            chunks.append([])
            used = 0
            name = _stacked(_series_lines(series))  # named again at the top of a table
        elif previous is not None and series != previous:
            chunks[-1].append("\\midrule")
        chunks[-1].append(" & ".join([name, *cells]) + " \\\\")
        used += height
        previous = series
    out = []
    for number, lines in enumerate(chunks):
        out += [
            "\\begin{table}[htbp]",
            "\\centering",
            f"\\caption{{{caption}{' (continued)' if number else ''}}}",
            f"\\begin{{tabular}}{{@{{}}l{columns}@{{}}}}",
            "\\toprule",
            " & ".join(header) + " \\\\",
            "\\midrule",
            *lines,
            "\\bottomrule",
            "\\end{tabular}",
            "\\end{table}",
            "",
        ]
    return "\n".join(out)


def summary_markdown(header: list[str], body: list[list[str]]) -> str:
    """The summary as a GitHub-flavoured Markdown table (``|`` in names escaped, no line
    break inside a cell)."""

    def cells(row: list[str]) -> str:
        return "| " + " | ".join(markdown_cell(c) for c in row) + " |"

    aligns = ["---"] + ["---:"] * (len(header) - 1)
    lines = [cells([column_label(h) for h in header]), cells(aligns)]
    return "\n".join(lines + [cells(r) for r in body]) + "\n"


def set_rows(sets: list[dict[str, Any]]) -> list[list[str]]:
    def number(value, form: str) -> str:
        return "—" if value is None else form.format(value)

    out = []
    for c in sets:
        kid = "—" if c["kid"] is None else f"{c['kid']:.4g} ± {c['kid_std']:.2g}"
        out.append([c["scheme"], c["channel"], f"{c['snr_db']:g}", str(c["images"]),
                    number(c["fid"], "{:.4g}"), kid, str(c.get("texts", 0)),
                    number(c.get("corpus_bleu"), "{:.1f}"),
                    number(c.get("corpus_bleu4_nltk"), "{:.3f}"), c["note"]])  # fmt: skip
    return out


def paired_rows(comparisons: list[dict[str, Any]], channels: bool = True) -> list[list[str]]:
    """One row per comparison, each metric's numbers in that metric's one format (without
    the channel column when ``channels`` is false: a comparison across channels)."""
    out = []
    for c in comparisons:
        form = FORMATS.get(c["metric"], "{:.4g}")
        signed = form.replace("{:", "{:+")
        ci = (
            "—"
            if c["ci_low"] is None
            else f"[{form.format(c['ci_low'])}, {form.format(c['ci_high'])}]"
        )
        p = "no power" if c["p_value"] is None else f"{c['p_value']:.3g}"
        adjusted = c.get("p_adjusted")
        q = "—" if adjusted is None else f"{adjusted:.3g}"
        out.append([c["scheme"], *([c["channel"]] if channels else []), f"{c['snr_db']:g}",
                    c["metric"], str(c["pairs"]), signed.format(c["mean_difference"]), ci, p,
                    q])  # fmt: skip
    return out


def component_rows(run: dict | None) -> list[list[str]]:
    """The weights the run loaded: repo, commit on disk (against the pinned one), source,
    weights' sizes (``runs.components``, as the latest start or resume recorded it)."""
    try:
        components = json_loads(run["components"]) if run else {}
    except (KeyError, TypeError, ValueError):
        components = {}
    rows = []
    for name, record in components.items() if isinstance(components, dict) else ():
        if not isinstance(record, dict):
            continue
        commit, pinned = record.get("commit"), record.get("pinned")
        where = str(commit or "-")[:12]
        if pinned and commit != pinned:
            where += f" (pinned {str(pinned)[:12]})"
        weights = record.get("weights") if isinstance(record.get("weights"), dict) else {}
        sizes = ", ".join(
            f"{f} {b:,} B" if isinstance(b, int) else f"{f} {b}" for f, b in weights.items()
        )
        rows.append(
            [str(name), str(record.get("repo_id", "")), where, str(record.get("source", "")), sizes]
        )
    return rows

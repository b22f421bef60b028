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


def summary(rows) -> tuple[list[str], list[list[str]]]:
    """Mean metrics per (scheme, SNR), each with its 95% bootstrap interval."""
    metrics = [m for m in METRICS if any(r["metrics"].get(m) is not None for r in rows)]
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
    "^": r"\textasciicircum{}",
}  # fmt: skip


def latex_escape(text: str) -> str:
    """``text`` safe inside a LaTeX table cell (names come from the store)."""
    return "".join(_LATEX_SPECIAL.get(c, c) for c in str(text))


def _column_label(name: str) -> str:
    return METRICS[name][0] if name in METRICS else name


def summary_latex(header: list[str], body: list[list[str]], caption: str) -> str:
    """The summary as a booktabs ``table`` (needs ``\\usepackage{booktabs}``): one column
    per metric, ``mean [low, high]``; rows grouped by series with a rule between."""
    columns = "l" + "r" * (len(header) - 1)
    lines = [
        "% multisc summary: mean [95% bootstrap interval] over images and seeds",
        "\\begin{table}[t]",
        "\\centering",
        f"\\caption{{{latex_escape(caption)}}}",
        "\\resizebox{\\linewidth}{!}{%",
        f"\\begin{{tabular}}{{{columns}}}",
        "\\toprule",
        " & ".join(latex_escape(_column_label(h)) for h in header) + " \\\\",
        "\\midrule",
    ]
    previous = None
    for row in body:
        if previous is not None and row[0] != previous:
            lines.append("\\midrule")
        previous = row[0]
        lines.append(" & ".join(latex_escape(c) for c in row) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}}", "\\end{table}", ""]
    return "\n".join(lines)


def summary_markdown(header: list[str], body: list[list[str]]) -> str:
    """The summary as a GitHub-flavoured Markdown table (``|`` in names escaped)."""

    def cells(row: list[str]) -> str:
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |"

    aligns = ["---"] + ["---:"] * (len(header) - 1)
    lines = [cells([_column_label(h) for h in header]), cells(aligns)]
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


def paired_rows(comparisons: list[dict[str, Any]]) -> list[list[str]]:
    """One row per comparison, each metric's numbers in that metric's one format."""
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
        out.append([c["scheme"], c["channel"], f"{c['snr_db']:g}", c["metric"], str(c["pairs"]),
                    signed.format(c["mean_difference"]), ci, p, q])  # fmt: skip
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

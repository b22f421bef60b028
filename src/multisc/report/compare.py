"""``multisc compare``: one report overlaying finished runs (AWGN against NR, two model
revisions, a plugin against the built-ins), with paired statistics on what they share."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from multisc.errors import InvalidInputError
from multisc.runroot import RunDirError, RunRoot


@contextmanager
def _finished(run_dir: Path) -> Iterator[None]:
    """Hold a finished run's lock while it is read; refuse a run directory a writer still
    holds (its rows are not final)."""
    root = RunRoot(run_dir)
    try:
        with root.locked():
            yield
    except BlockingIOError:
        raise InvalidInputError(
            f"{run_dir} is being written by a multisc run: compare it when that run has finished"
        ) from None
    except RunDirError:
        if not Path(run_dir).is_dir():
            raise InvalidInputError(
                f"{run_dir} does not exist: give the folder `multisc run` wrote"
            ) from None
        raise


def _names(run_dirs: Sequence[Path]) -> list[str]:
    """Each run's name in series labels: its folder's name (``#2`` after a repeat)."""
    names: list[str] = []
    for run_dir in run_dirs:
        name = run_dir.resolve().name or str(run_dir)
        names.append(name if name not in names else f"{name}#{len(names) + 1}")
    return names


def check_out_apart(out: Path, run_dirs: Sequence[str | Path]) -> None:
    """Refuse an ``--out`` that is one of the compared runs, lies inside one, or holds one
    (links resolved first): writing the comparison must not change what it reads."""
    target = out.resolve()
    for run in run_dirs:
        source = Path(run).resolve()
        if target == source:
            relation = "is"
        elif target.is_relative_to(source):
            relation = "is inside"
        elif source.is_relative_to(target):
            relation = "holds"
        else:
            continue
        raise InvalidInputError(
            f"--out {out} {relation} the compared run {run}: a comparison never writes where "
            "it reads; choose a folder apart from every run"
        )


def compare_rows(
    run_dirs: Sequence[str | Path],
) -> tuple[list[dict[str, Any]], dict[str, Any], list[str], dict[str, Any]]:
    """The rows of several finished runs as one set of series (``run: scheme``), what
    they share and the lines that say so.

    Refuses (one line each) fewer than two runs, a folder that is not a run directory, a
    run still being written, and runs that share no (image, SNR, seed).

    :returns: (rows, shared counts, notes, each run's latest start by name).
    """
    from multisc.report.data import read_run

    dirs = [Path(d) for d in run_dirs]
    if len(dirs) < 2:
        raise InvalidInputError("compare needs at least two run directories")
    runs = []
    for run_dir in dirs:
        with _finished(run_dir):  # missing, not a run directory, empty: one line each
            rows, run = read_run(run_dir, read_only=True)  # never written
        runs.append((rows, run))
    names = _names(dirs)
    items = [{(r["image_id"], r["snr_db"], r["seed"]) for r in rows} for rows, _ in runs]
    shared = set.intersection(*items)
    if not shared:
        listed = " and ".join(names)
        raise InvalidInputError(
            f"{listed} share no (image, SNR, seed): nothing to compare them on (run them on the "
            "same images and SNRs)"
        )
    channels = {r["fading"] for rows, _ in runs for r in rows}
    # a run of one channel: its name says which (the notes list each run's); a run of
    # several: each series names its channel
    per_run = [list(dict.fromkeys(r["fading"] for r in rows)) for rows, _ in runs]
    merged = []
    for name, (rows, _), own in zip(names, runs, per_run, strict=True):
        for row in rows:
            label = f"{name}: {row['scheme']}"
            if len(own) > 1:
                label += f" [{row['fading']}]"
            merged.append({**row, "scheme": label, "run": name})
    counts = {
        "runs": names,
        "images": len({i for i, _, _ in shared}),
        "snrs": sorted({s for _, s, _ in shared}),
        "seeds": len({seed for _, _, seed in shared}),
        "rows_per_run": {n: len(rows) for n, (rows, _) in zip(names, runs, strict=True)},
    }
    notes = [
        f"The runs share {counts['images']} image(s), {len(counts['snrs'])} SNR(s) "
        f"({', '.join(f'{s:g}' for s in counts['snrs'])} dB) and {counts['seeds']} seed(s): "
        "the paired statistics use those; the plots show every row of each run ("
        + ", ".join(f"{n}: {c}" for n, c in counts["rows_per_run"].items())
        + " rows)."
    ]
    if len(channels) > 1:
        notes.append(
            "The runs' channels differ ("
            + ", ".join(f"{n}: {', '.join(own)}" for n, own in zip(names, per_run, strict=True))
            + "): pairs are matched on image, SNR and seed across channels."
        )
    return merged, counts, notes, {n: run for n, (_, run) in zip(names, runs, strict=True)}


def compare_runs(
    run_dirs: Sequence[str | Path],
    out: str | Path,
    reference: str | None = None,
    table_metrics: list[str] | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Write one report overlaying ``run_dirs`` into ``out``: plots, the paired table
    against ``reference`` (a series label, ``run: scheme``; default the first),
    ``paired.json``, and the summary tables of ``table_metrics`` (default: every metric).

    Returns:
        The report's path and the paired statistics.
    """
    from multisc.report.build import build_compare_report

    out = Path(out)
    check_out_apart(out, run_dirs)
    rows, counts, notes, records = compare_rows(run_dirs)
    RunRoot(out).create()
    labels = list(dict.fromkeys(r["scheme"] for r in rows))
    if reference is None:  # the first run as given, its first series in report order
        from multisc.experiment.variants import series_order

        first = counts["runs"][0]
        reference = series_order({r["scheme"] for r in rows if r["run"] == first})[0]
    if reference not in labels:
        raise InvalidInputError(
            f"--reference {reference!r} is not a series of these runs: choose from "
            + ", ".join(labels)
        )
    sources = {name: RunRoot(Path(d)) for name, d in zip(counts["runs"], run_dirs, strict=True)}
    return build_compare_report(
        RunRoot(out), rows, sources, counts, notes, reference, runs=records, chosen=table_metrics
    )

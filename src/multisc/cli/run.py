"""``multisc run`` (the sweep) and ``multisc report``."""

from __future__ import annotations

import datetime
from pathlib import Path

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from multisc.cli.common import (
    JSON_OPTION,
    TABLE_METRICS_OPTION,
    _split,
    _write_json,
    app,
    channel_flags,
    err,
    flag,
    out,
    show,
    table_metrics_flag,
)
from multisc.errors import InvalidInputError


class RowsEta(ProgressColumn):
    """Time left, from the rows this session finished so far (elapsed / rows done x rows
    left), once one has: rich's own estimate averages over its last 30 s, so a sweep whose
    rows take minutes each would show ``-:--:--`` throughout. A resumed run's earlier
    rows (the task's ``resumed`` field) do not count as done in this session's time."""

    def render(self, task) -> Text:
        done = task.completed - task.fields.get("resumed", 0)
        if task.finished:
            return Text("done", style="progress.remaining")
        if done <= 0 or not task.elapsed or task.total is None:
            return Text("-:--:--", style="progress.remaining")
        left = task.elapsed / done * max(task.total - task.completed, 0)
        return Text(str(datetime.timedelta(seconds=int(left))), style="progress.remaining")


def sweep_bar(console, clock=None) -> Progress:
    """The sweep's bar: the stage's label takes what room is left and is cut short with an
    ellipsis first, so the row count, elapsed time and ETA stay on one line in an
    80-column terminal (the bar itself shrinks to 10 cells before the label goes).
    ``clock``: seconds now (rich's ``get_time``; default the monotonic clock)."""
    from rich.table import Column

    bar = max(10, min(40, console.width - 70))
    return Progress(
        TextColumn(
            "[bold]sweep[/] {task.description}",
            table_column=Column(ratio=1, no_wrap=True, overflow="ellipsis", min_width=12),
        ),
        BarColumn(bar_width=bar),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        RowsEta(),
        console=console,
        expand=True,
        get_time=clock,
    )


class SweepView:
    """Draws [run_sweep][multisc.experiment.sweep.run_sweep]'s events on ``console``: lines as
    they come, a (transient) bar while deep JSCC trains, a bar over the sweep's rows; on a
    console that is not a terminal (a log), a line per task instead of the bar."""

    def __init__(self, console) -> None:
        self.console = console
        self.training = None
        self.sweep = None
        self._task = None

    def __enter__(self) -> SweepView:
        return self

    def __exit__(self, *exc) -> None:
        for bar in (self.training, self.sweep):
            if bar is not None:
                bar.stop()

    def __call__(self, event) -> None:
        from multisc.experiment.sweep import Progressed, Said, Stage, Started, Training

        if isinstance(event, Stage):
            if self.sweep is not None and self.console.is_terminal:
                self.sweep.update(self._task, description=event.text)
            elif " / " not in event.text:  # a log: the stages that are not one task's
                self.console.print(event.text, highlight=False, soft_wrap=True, markup=False)
            return
        if isinstance(event, Said):
            self.console.print(event.text, highlight=False, soft_wrap=True, markup=False)
        elif isinstance(event, Training):
            if self.training is None:
                self.training = Progress(
                    TextColumn("{task.description}"),
                    BarColumn(),
                    MofNCompleteColumn(),
                    TimeRemainingColumn(),
                    console=self.console,
                    transient=True,
                )
                self.training.start()
                self._training_task = self.training.add_task("training deep JSCC")
            self.training.update(
                self._training_task,
                completed=event.step,
                total=event.total,
                description=f"training deep JSCC (PSNR {event.psnr_db:.1f} dB)",
            )
        elif isinstance(event, Started):
            if self.training is not None:
                self.training.stop()
                self.training = None
            self.sweep = sweep_bar(self.console)
            self.sweep.start()
            self._task = self.sweep.add_task(
                "", total=event.total, completed=event.rows, resumed=event.rows
            )
        elif isinstance(event, Progressed):
            if self.sweep is not None:
                where = f"{event.scheme} / {event.image_id}"
                self.sweep.update(self._task, completed=event.rows, description=where)
            if not self.console.is_terminal:  # logs get a line per task instead of a bar
                self.console.print(
                    f"{event.rows}/{event.total} rows: {event.scheme} / {event.image_id}",
                    highlight=False,
                )


@app.command()
@channel_flags
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
    limit: int | None = typer.Option(
        None, "--limit", help="At most this many images. (default: all)"
    ),
    models: str | None = typer.Option(
        None, "--models", help="Directory overriding every model id."
    ),
    out_dir: str | None = typer.Option(
        None,
        "--out",
        help="Run directory (resumed if it exists). (default: runs/CONFIG-STEM, or "
        "runs/paper-samples for the defaults, or named from the settings that differ)",
    ),
    executor: str | None = typer.Option(None, "--executor", help="local or ray. (default: local)"),
    address: str | None = typer.Option(None, "--address", help="Ray cluster address (e.g. auto)."),
    device: str | None = typer.Option(None, "--device", help="cpu, cuda or auto. (default: auto)"),
    prepare_batch: int | None = typer.Option(
        None,
        "--prepare-batch",
        help="Images whose segmentation and captions run as one batch. (default: 4)",
    ),
    no_download: bool = flag(
        "--no-download", "Skip schemes whose weights are missing, even with network."
    ),
    fresh_cache: bool = flag(
        "--fresh-cache",
        "Prepare every image again instead of reading the run's prepare cache (for a "
        "run directory whose cache someone else may have written).",
    ),
    threads: int | None = typer.Option(
        None,
        "--threads",
        help="CPU threads (torch, OpenMP, BLAS, Ray workers); fewer on a shared machine. "
        "(default: every core)",
    ),
    as_json: bool = JSON_OPTION,
    channel=None,
) -> None:
    """Run (or resume) an SNR sweep and write its report. With no arguments: the paper's
    experiment on the bundled sample photos, every scheme, SNRs 0..18 dB. Flags override
    CONFIG.yaml; the defaults shown are those of an empty config."""
    from multisc.experiment.config import load_config  # light: no torch (every check first)

    snrs = _split(snr, "--snr")
    try:
        snr_values = [float(v) for v in snrs] if snrs is not None else None
    except ValueError as exc:
        raise InvalidInputError(
            f"--snr takes numbers of dB, comma-separated (--snr 0,3,6), got {snrs}"
        ) from exc
    config = load_config(
        config_file,
        images=images,
        schemes=_split(schemes, "--schemes"),
        snr_db=snr_values,
        seeds=seeds,
        channel=None if channel is None else channel.model_dump(exclude_defaults=True),
        limit=limit,
        models=models,
        out=out_dir,
        executor=executor,
        ray_address=address,
        device=device,
        prepare_batch=prepare_batch,
        download=False if no_download else None,
        fresh_cache=True if fresh_cache else None,
        threads=threads,
    )
    from multisc.data import check_source
    from multisc.devices import check_device_name
    from multisc.experiment.store import different_experiment

    check_source(config.images)  # a folder that does not exist: refused before torch loads
    check_device_name(config.device)
    different_experiment(Path(config.out), config.digests())  # another experiment's folder
    if config.executor == "ray":  # an address nothing answers at: seconds, not minutes
        from multisc.experiment.addresses import check_ray_address

        check_ray_address(config.ray_address)
    from multisc.experiment.sweep import run_sweep  # torch, Sionna...: after the checks
    from multisc.report.build import build_report

    with SweepView(err) as view:
        summary = run_sweep(
            config, view, report=lambda out_dir: build_report(out_dir, config.models)
        )  # this command's --models: never a folder a store names
    if not summary.rows:  # nothing to report is a failure, said with its reasons
        reasons = [f"{f['image_id']}: {f['error']}" for f in summary.failed]
        reasons += list(summary.skipped.values())
        raise InvalidInputError(
            f"no result was produced in {summary.out}: "
            + ("; ".join(reasons[:3]) if reasons else "no image to send")
            + ("" if len(reasons) <= 3 else f" (and {len(reasons) - 3} more)")
        )
    if summary.rows:
        from multisc.experiment.store import STORE_FILE, ResultStore
        from multisc.experiment.sweep import summary_table

        store = ResultStore(summary.out / STORE_FILE)
        try:
            show(err, summary_table(store))
            _say_stand_ins(store.latest_run())
        finally:
            store.close()
    payload = {
        "out": str(summary.out),
        "rows": summary.rows,
        "new_rows": summary.new_rows,
        "schemes": summary.schemes,
        "skipped": summary.skipped,
        "notes": summary.notes,
        "failed": summary.failed,
        "report": summary.report,
        "variants": summary.variants,
        "paired": _written(summary.out, "paired") if summary.report else None,
        "set_metrics": _written(summary.out, "sets") if summary.report else None,
        "means": _means(summary.out) if summary.rows else {},
    }
    if as_json:
        _write_json(payload)
    else:
        out.print(
            f"{summary.rows} results in {summary.out} ({summary.new_rows} new)"
            + (f"; report: {summary.report}" if summary.report else "")
        )


def _say_stand_ins(run: dict | None) -> None:
    """One line under the summary when the results come from tiny random models, as the
    report's banner says."""
    from multisc.report.data import stand_in_components

    tiny = stand_in_components(run)
    if tiny:
        err.print(
            f"These results come from tiny random stand-in models ({', '.join(tiny)}): their "
            "images and texts mean nothing; pull the real weights (multisc models pull) for "
            "results.",
            highlight=False,
            soft_wrap=True,
        )


def _means(run_dir: Path) -> dict:
    """Per series (scheme, variant; with its channel when a run has several): rows, mean
    channel uses, failures and the mean of every metric, over images, SNRs and seeds."""
    from multisc.report.data import by_channel, read_run
    from multisc.report.tables import scheme_means

    try:
        rows, _ = read_run(run_dir)
    except InvalidInputError:
        return {}
    return scheme_means(by_channel(rows)[0])


def _written(run_dir: Path, what: str) -> dict | None:
    """What the report wrote: its paired statistics (``paired.json``) or set-level
    metrics (``set_metrics.json``)."""
    from multisc.report.build import PAIRED_FILE, SETS_FILE
    from multisc.runroot import RunRoot

    name = PAIRED_FILE if what == "paired" else SETS_FILE
    root = RunRoot(Path(run_dir))
    return root.read_json(name) if root.is_file(name) else None


@app.command()
def report(
    run_dir: Path = typer.Argument(..., help="A run directory written by `multisc run`."),
    models: str | None = typer.Option(
        None, "--models", help="Directory of the metrics' networks (FID's Inception)."
    ),
    table_metrics: str | None = TABLE_METRICS_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Plots of every metric vs SNR, channel uses, image grids and report.html."""
    chosen = table_metrics_flag(table_metrics)
    from multisc.report.build import build_report

    with err.status("writing the report (statistics, FID and KID features, figures, grids)"):
        path = build_report(run_dir, models, chosen)
    if as_json:
        _write_json(
            {
                "report": str(path),
                "paired": _written(run_dir, "paired"),
                "set_metrics": _written(run_dir, "sets"),
                "means": _means(run_dir),
            }
        )
    else:
        out.print(f"report: {path}")


@app.command()
def compare(
    run_dirs: list[Path] = typer.Argument(..., help="Two or more finished run directories."),
    out_dir: Path = typer.Option(..., "--out", help="Folder for the comparison's report."),
    reference: str | None = typer.Option(
        None,
        "--reference",
        help="The series the paired statistics compare against ('RUN: scheme'). "
        "(default: the first)",
    ),
    table_metrics: str | None = TABLE_METRICS_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """One report overlaying finished runs (AWGN against NR, two model revisions, a plugin
    against the built-ins), with paired statistics on the images, SNRs and seeds they
    share."""
    chosen = table_metrics_flag(table_metrics)
    for run_dir in run_dirs:  # before the report's libraries load (seconds)
        if not run_dir.is_dir():
            raise InvalidInputError(
                f"{run_dir} does not exist or is not a folder: give the folder `multisc run` wrote"
            )
    from multisc.report.compare import compare_runs

    with err.status("writing the comparison (statistics, FID and KID features, figures)"):
        path, statistics = compare_runs(run_dirs, out_dir, reference, chosen)
    if as_json:
        _write_json(
            {"report": str(path), "paired": statistics, "set_metrics": _written(out_dir, "sets")}
        )
    else:
        shared = statistics["shared"]
        out.print(
            f"report: {path} ({len(shared['runs'])} runs; they share {shared['images']} "
            f"image(s), {len(shared['snrs'])} SNR(s), {shared['seeds']} seed(s); reference "
            f"{statistics['reference']})",
            highlight=False,
        )

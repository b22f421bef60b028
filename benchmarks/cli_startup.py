"""How long the command line takes to answer: each command run N times in a fresh process
(the median wall seconds), as a user types it.

    python benchmarks/cli_startup.py [--runs 5] [--figure F.png] [--json]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
from _report import device_label, emit

COMMANDS = (
    ("--version",),
    ("--help",),
    ("models", "list"),
    ("models", "doctor"),
    ("schemes", "list"),
)


def seconds(args: tuple[str, ...], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "multisc.cli", *args], capture_output=True, check=True
        )
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--figure", type=Path)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    report = {"device": device_label(torch.device("cpu")), "runs": args.runs}
    measured = {" ".join(c): round(seconds(c, args.runs), 2) for c in COMMANDS}
    report.update({f"multisc {name} (s)": value for name, value in measured.items()})
    if args.figure:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(5, 2.4))
        names = [f"multisc {n}" for n in measured]
        ax.barh(names, list(measured.values()), color="#0072B2")
        ax.axvline(1.0, color="#D55E00", linestyle="--", linewidth=1)
        ax.set_xlabel(f"seconds to answer (median of {args.runs})")
        ax.invert_yaxis()
        fig.tight_layout()
        fig.savefig(args.figure, dpi=150)
    emit(report, args.json)


if __name__ == "__main__":
    main()

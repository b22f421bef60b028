"""Paired statistics: every scheme and variant of a run sees the same images, seeds and
noise, so two of them are compared on the same items, pair by pair.

Per metric, channel and SNR: the mean difference (variant minus reference), its 95%
percentile bootstrap interval over the pairs (resampling pairs, 2000 times, a fixed seed so
a report is reproducible) and the two-sided Wilcoxon signed-rank p-value (scipy). With fewer
than :data:`MIN_PAIRS` pairs the test has no power (its smallest two-sided p-value is
2/2^5 = 0.0625) and no p-value is given.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

#: fewer pairs than this: the Wilcoxon test cannot reach p < 0.05, so none is given
MIN_PAIRS = 6
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0


def bootstrap_ci(
    values: Sequence[float], level: float = 0.95, resamples: int = BOOTSTRAP_RESAMPLES
) -> tuple[float, float] | None:
    """The percentile bootstrap interval of the mean of ``values`` (``None`` for fewer
    than 2 values). Resampling keeps each value inside the range the values span, so the
    interval never leaves a metric's valid range."""
    array = np.asarray(values, dtype=float)
    if len(array) < 2:
        return None
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    means = array[rng.integers(0, len(array), size=(resamples, len(array)))].mean(axis=1)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


def wilcoxon_p(differences: Sequence[float]) -> float | None:
    """The two-sided Wilcoxon signed-rank p-value of paired ``differences``; ``None`` with
    fewer than :data:`MIN_PAIRS` pairs; 1.0 when every difference is 0."""
    from scipy import stats

    array = np.asarray(differences, dtype=float)
    if len(array) < MIN_PAIRS:
        return None
    if not np.any(array):
        return 1.0
    return float(stats.wilcoxon(array, zero_method="wilcox", alternative="two-sided").pvalue)


def _value(row: dict[str, Any], metric: str) -> float | None:
    value = row["metrics"].get(metric)
    return float(value) if value is not None and math.isfinite(value) else None


def paired(
    rows: Iterable[dict[str, Any]],
    reference: str,
    metrics: Sequence[str],
    match_channel: bool = True,
) -> list[dict[str, Any]]:
    """Each other series (a row's ``scheme``: a scheme, a variant, or ``run: scheme`` in a
    comparison) against ``reference``, per ``fading`` (channel), SNR and metric, on the
    (image, seed) pairs both have a finite value for.

    :param match_channel: pair rows of the same channel only (within a run); ``False``
        pairs across channels (comparing an AWGN run with an NR run: ``channel`` is "*").
    :returns: dicts with ``scheme``, ``reference``, ``channel``, ``snr_db``, ``metric``,
        ``pairs``, ``mean_difference``, ``ci_low``, ``ci_high`` (``None`` with fewer than
        2 pairs), ``p_value`` (``None`` with fewer than :data:`MIN_PAIRS`) and ``note``.
    """
    cells: dict[tuple[str, str, float], dict[tuple[str, int], dict]] = defaultdict(dict)
    for row in rows:
        channel = row["fading"] if match_channel else "*"
        cells[(row["scheme"], channel, row["snr_db"])][(row["image_id"], row["seed"])] = row
    series = list(dict.fromkeys(scheme for scheme, _, _ in cells))
    out = []
    for scheme in series:
        if scheme == reference:
            continue
        for (name, channel, snr), mine in cells.items():
            theirs = cells.get((reference, channel, snr))
            if name != scheme or not theirs:
                continue
            for metric in metrics:
                differences = []
                for key, row in mine.items():
                    other = theirs.get(key)
                    a = _value(row, metric)
                    b = _value(other, metric) if other is not None else None
                    if a is not None and b is not None:
                        differences.append(a - b)
                if not differences:
                    continue
                ci = bootstrap_ci(differences)
                p = wilcoxon_p(differences)
                n = len(differences)
                note = ""
                if n < MIN_PAIRS:
                    note = f"{n} pair(s): too few for the test to have power (no p-value)"
                out.append(
                    {
                        "scheme": scheme,
                        "reference": reference,
                        "channel": channel,
                        "snr_db": snr,
                        "metric": metric,
                        "pairs": n,
                        "mean_difference": float(np.mean(differences)),
                        "ci_low": None if ci is None else ci[0],
                        "ci_high": None if ci is None else ci[1],
                        "p_value": p,
                        "note": note,
                    }
                )
    return sorted(out, key=lambda r: (series.index(r["scheme"]), r["channel"], r["snr_db"]))


def default_reference(rows: Iterable[dict[str, Any]], compare_to: str | None = None) -> str | None:
    """The series paired statistics compare against: ``compare_to`` (a scheme's name picks
    its first variant), else the first series in report order."""
    from multisc.report.build import _ordered

    names = _ordered({row["scheme"] for row in rows})
    if compare_to is not None:
        for name in names:
            if name == compare_to or name.split(" ")[0] == compare_to:
                return name
    return names[0] if names else None

"""Paired statistics: every scheme and variant of a run sees the same images, seeds and
noise, so two of them are compared on the same items, pair by pair.

Per metric, channel and SNR: the mean difference (variant minus reference), its 95%
bootstrap interval over the pairs (scipy's ``bootstrap`` on the differences, which is paired
resampling: 2000 resamples, a fixed seed so a report is reproducible; percentile by
default, BCa as an option) and the two-sided Wilcoxon signed-rank p-value (scipy), raw and
adjusted for the number of tests the report makes (Holm by default, Benjamini-Hochberg as
an option). With fewer than ``MIN_PAIRS`` pairs the test has
no power (its smallest two-sided p-value is 2/2^5 = 0.0625): neither a p-value nor an
interval is given.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any, Literal

import numpy as np

#: fewer pairs than this: the Wilcoxon test cannot reach p < 0.05, and a bootstrap interval
#: of so few pairs says little; neither is given
MIN_PAIRS = 6
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0
#: the bootstrap intervals offered (scipy.stats.bootstrap's ``method``)
INTERVALS: tuple[str, ...] = ("percentile", "bca")
#: the multiple-comparison corrections offered: Holm (family-wise error) and
#: Benjamini-Hochberg (false discovery rate)
ADJUSTMENTS: tuple[str, ...] = ("holm", "bh")
ADJUSTMENT_NAMES = {"holm": "Holm", "bh": "Benjamini-Hochberg"}


def bootstrap_ci(
    values: Sequence[float],
    level: float = 0.95,
    resamples: int = BOOTSTRAP_RESAMPLES,
    method: Literal["percentile", "bca"] = "percentile",
) -> tuple[float, float] | None:
    """The bootstrap interval of the mean of ``values`` (scipy's ``bootstrap``, seeded);
    ``None`` for fewer than 2 values. Both intervals are percentiles of resampled means, so
    they never leave the range the values span (nor a metric's valid range). Values that
    are all equal give that value twice (BCa is undefined there)."""
    from scipy import stats

    array = np.asarray(values, dtype=float)
    if len(array) < 2:
        return None
    if np.all(array == array[0]):
        return float(array[0]), float(array[0])
    result = stats.bootstrap(
        (array,),
        np.mean,
        n_resamples=resamples,
        confidence_level=level,
        method="BCa" if method == "bca" else "percentile",
        rng=np.random.default_rng(BOOTSTRAP_SEED),
        vectorized=True,
    )
    low, high = result.confidence_interval
    return float(low), float(high)


def wilcoxon_p(differences: Sequence[float]) -> float | None:
    """The two-sided Wilcoxon signed-rank p-value of paired ``differences``; ``None`` with
    fewer than ``MIN_PAIRS`` pairs; 1.0 when every difference
    is 0."""
    from scipy import stats

    array = np.asarray(differences, dtype=float)
    if len(array) < MIN_PAIRS:
        return None
    if not np.any(array):
        return 1.0
    return float(stats.wilcoxon(array, zero_method="wilcox", alternative="two-sided").pvalue)


def adjust_p_values(
    p_values: Sequence[float], method: Literal["holm", "bh"] = "holm"
) -> list[float]:
    """p-values adjusted for testing them together: Holm's step-down (controls the
    family-wise error rate) or Benjamini-Hochberg (``bh``: the false discovery rate).

    BH is scipy's ``false_discovery_control``. scipy has no Holm, and statsmodels (which
    has) is a large dependency for six lines, so Holm is written here and tested against
    statsmodels' ``multipletests(method="holm")``.

    Examples:

    ```pycon
    >>> [round(v, 6) for v in adjust_p_values([0.01, 0.04, 0.03], "holm")]
    [0.03, 0.06, 0.06]

    ```
    """
    from scipy import stats

    p = np.asarray(p_values, dtype=float)
    if method not in ADJUSTMENTS:
        from multisc.errors import choices_error

        raise choices_error("p-value adjustment", method, ADJUSTMENTS)
    if len(p) == 0:
        return []
    if method == "bh":
        return [float(v) for v in stats.false_discovery_control(p, method="bh")]
    order = np.argsort(p, kind="stable")
    m = len(p)
    stepped = np.maximum.accumulate((m - np.arange(m)) * p[order])
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(stepped, 1.0)
    return [float(v) for v in adjusted]


def _value(row: dict[str, Any], metric: str) -> float | None:
    value = row["metrics"].get(metric)
    return float(value) if value is not None and math.isfinite(value) else None


def paired(
    rows: Iterable[dict[str, Any]],
    reference: str,
    metrics: Sequence[str],
    match_channel: bool = True,
    interval: Literal["percentile", "bca"] = "percentile",
) -> list[dict[str, Any]]:
    """Each other series (a row's ``scheme``: a scheme, a variant, or ``run: scheme`` in a
    comparison) against ``reference``, per ``fading`` (channel), SNR and metric, on the
    (image, seed) pairs both have a finite value for.

    :param match_channel: pair rows of the same channel only (within a run); ``False``
        pairs across channels (comparing an AWGN run with an NR run: ``channel`` is "*").
    :returns: dicts with ``scheme``, ``reference``, ``channel``, ``snr_db``, ``metric``,
        ``pairs``, ``mean_difference``, ``ci_low``, ``ci_high`` and ``p_value`` (both
        ``None`` with fewer than ``MIN_PAIRS`` pairs) and
        ``note``; [correct][multisc.report.stats.correct] adds the adjusted p-values.
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
                n = len(differences)
                ci = bootstrap_ci(differences, method=interval) if n >= MIN_PAIRS else None
                p = wilcoxon_p(differences)
                note = ""
                if n < MIN_PAIRS:
                    note = (
                        f"{n} pair(s): too few for the test to have power (no p-value, no interval)"
                    )
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


def correct(
    comparisons: list[dict[str, Any]], method: Literal["holm", "bh"] = "holm"
) -> dict[str, Any]:
    """Adjust the p-values of every comparison of a report together (each gets
    ``p_adjusted``; ``None`` where it has no p-value) and say how: ``{"method": ...,
    "tests": how many p-values were corrected together}``."""
    tested = [c for c in comparisons if c["p_value"] is not None]
    adjusted = adjust_p_values([c["p_value"] for c in tested], method)
    for comparison in comparisons:
        comparison["p_adjusted"] = None
    for comparison, value in zip(tested, adjusted, strict=True):
        comparison["p_adjusted"] = value
    return {"method": method, "name": ADJUSTMENT_NAMES[method], "tests": len(tested)}


def default_reference(rows: Iterable[dict[str, Any]], compare_to: str | None = None) -> str | None:
    """The series paired statistics compare against: ``compare_to`` (a scheme's name picks
    its first variant), else the first series in report order."""
    from multisc.experiment.variants import series_order

    names = series_order({row["scheme"] for row in rows})
    if compare_to is not None:
        for name in names:
            if name == compare_to or name.split(" ")[0] == compare_to:
                return name
    return names[0] if names else None

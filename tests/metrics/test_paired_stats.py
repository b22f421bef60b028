"""Paired statistics of the report: bootstrap interval and Wilcoxon test on real numbers."""

import numpy as np
import pytest
from scipy import stats

from multisc.report.stats import MIN_PAIRS, bootstrap_ci, paired, wilcoxon_p


def _row(scheme, image, value, snr=6.0, seed=0, fading="awgn"):
    return {
        "scheme": scheme, "image_id": image, "seed": seed, "snr_db": snr, "fading": fading,
        "metrics": {"psnr": value},
    }  # fmt: skip


def test_a_real_difference_is_found_and_no_difference_is_not():
    rng = np.random.default_rng(1)
    base = rng.normal(25, 3, 40)
    better = base + 1.0 + rng.normal(0, 0.5, 40)  # +1 dB on every image, small noise
    same = base + rng.normal(0, 0.5, 40)
    rows = [_row("a", f"i{k}", v) for k, v in enumerate(base)]
    rows += [_row("b", f"i{k}", v) for k, v in enumerate(better)]
    rows += [_row("c", f"i{k}", v) for k, v in enumerate(same)]
    found = {r["scheme"]: r for r in paired(rows, "a", ["psnr"])}
    b, c = found["b"], found["c"]
    assert b["pairs"] == 40 and b["mean_difference"] == pytest.approx(np.mean(better - base))
    assert b["ci_low"] > 0.7 and b["ci_high"] < 1.3 and b["p_value"] < 1e-6
    assert c["ci_low"] < 0 < c["ci_high"] and c["p_value"] > 0.05
    assert c["p_value"] == pytest.approx(stats.wilcoxon(same - base).pvalue)


def test_pairs_are_matched_on_image_and_seed_only_where_both_have_them():
    rows = [_row("a", "x", 10.0), _row("a", "y", 20.0), _row("b", "y", 25.0), _row("b", "z", 1.0)]
    (only,) = paired(rows, "a", ["psnr"])
    assert only["pairs"] == 1 and only["mean_difference"] == 5.0
    assert only["ci_low"] is None and only["p_value"] is None and "too few" in only["note"]


def test_fewer_than_six_pairs_have_no_p_value():
    assert wilcoxon_p([1.0] * (MIN_PAIRS - 1)) is None
    # with 5 pairs all positive the exact test's smallest two-sided p is 2/32 = 0.0625
    assert stats.wilcoxon([1, 2, 3, 4, 5]).pvalue == pytest.approx(0.0625)
    assert wilcoxon_p([1, 2, 3, 4, 5, 6]) == pytest.approx(
        stats.wilcoxon([1, 2, 3, 4, 5, 6]).pvalue
    )
    assert wilcoxon_p([0.0] * 8) == 1.0


def test_the_bootstrap_interval_stays_within_the_values():
    values = [0.0, 0.0, 1.0]  # an SSIM-like metric bounded to [0, 1]
    low, high = bootstrap_ci(values)
    assert 0.0 <= low <= high <= 1.0
    assert bootstrap_ci(values) == (low, high)  # fixed seed: the same report twice
    assert bootstrap_ci([3.0]) is None

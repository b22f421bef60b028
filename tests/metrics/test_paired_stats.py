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


def test_holm_and_benjamini_hochberg_equal_statsmodels():
    from statsmodels.stats.multitest import multipletests

    from multisc.report.stats import adjust_p_values

    rng = np.random.default_rng(3)
    p = np.concatenate([rng.uniform(0, 1, 120), rng.uniform(0, 1e-4, 20), [0.04, 0.04, 1.0]])
    for ours, theirs in (("holm", "holm"), ("bh", "fdr_bh")):
        expected = multipletests(p, method=theirs)[1]
        assert np.allclose(adjust_p_values(p, ours), expected, rtol=1e-12, atol=0)
    assert adjust_p_values([], "holm") == []
    with pytest.raises(Exception, match="holm"):
        adjust_p_values([0.1], "bonferroni")


def test_a_report_corrects_all_its_p_values_together():
    """4 schemes x 3 SNRs x 1 metric against the reference: 9 tests, every p-value adjusted
    with the 9 of the report, raw ones kept; cells without a p-value are not counted."""
    from multisc.report.stats import adjust_p_values, correct

    rng = np.random.default_rng(2)
    rows = []
    for snr in (0.0, 6.0, 12.0):
        base = rng.normal(25, 3, 12)
        for scheme, shift in (("a", 0.0), ("b", 0.3), ("c", 1.0), ("d", 0.0)):
            values = base + shift + rng.normal(0, 0.5, 12)
            rows += [_row(scheme, f"i{k}", v, snr=snr) for k, v in enumerate(values)]
    rows += [_row("e", "i0", 1.0), _row("a", "i0", 2.0, snr=99.0), _row("e", "i0", 3.0, snr=99.0)]
    comparisons = paired(rows, "a", ["psnr"])
    done = correct(comparisons, "holm")
    tested = [c for c in comparisons if c["p_value"] is not None]
    assert done == {"method": "holm", "name": "Holm", "tests": 9} and len(tested) == 9
    assert [c["p_adjusted"] for c in tested] == adjust_p_values([c["p_value"] for c in tested])
    assert all(c["p_adjusted"] >= c["p_value"] for c in tested)
    untested = [c for c in comparisons if c["p_value"] is None]
    assert untested and all(c["p_adjusted"] is None and c["ci_low"] is None for c in untested)


def test_bootstrap_intervals_are_scipys_percentile_and_bca():
    from scipy import stats as scipy_stats

    values = np.random.default_rng(4).gamma(2.0, 1.0, 30)
    for method, name in (("percentile", "percentile"), ("bca", "BCa")):
        expected = scipy_stats.bootstrap(
            (values,), np.mean, n_resamples=2000, method=name,
            rng=np.random.default_rng(0),
        ).confidence_interval  # fmt: skip
        low, high = bootstrap_ci(values, method=method)
        assert (low, high) == pytest.approx((expected.low, expected.high), rel=1e-12)
        assert values.min() <= low < values.mean() < high <= values.max()
    assert bootstrap_ci([2.0] * 7, method="bca") == (2.0, 2.0)

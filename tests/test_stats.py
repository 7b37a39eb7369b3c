"""bma_genetics.stats against scipy / statsmodels closed forms."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st
from statsmodels.stats.multitest import multipletests

from bma_genetics import stats
from bma_genetics.errors import InputError


# --------------------------------------------------------------------------- tails
@pytest.mark.parametrize(("t", "df"), [(0.5, 10), (1.9, 3), (2.5, 30), (5.0, 100), (12.0, 495), (30.0, 5e4)])
def test_t_logsf_matches_scipy_where_scipy_is_finite(t, df):
    assert stats.t_logsf(t, df) == pytest.approx(st.t.logsf(t, df), rel=1e-10)


def test_t_logsf_finite_beyond_underflow_and_monotone():
    # scipy's t.logsf is -inf here; ours keeps decreasing
    assert not np.isfinite(st.t.logsf(200.0, 495))
    a, b = stats.t_logsf(200.0, 495), stats.t_logsf(300.0, 495)
    assert np.isfinite(a) and np.isfinite(b) and b < a < math.log(1e-308)


def test_t_logsf_tends_to_normal_tail_at_large_df():
    assert stats.t_logsf(10.0, 1e7) == pytest.approx(st.norm.logsf(10.0), rel=1e-5)


def test_neg_log10_p_plain_and_recovered():
    p = np.array([0.05, 1e-10, 0.0, np.nan])
    t = np.array([2.0, 6.5, 150.0, np.nan])
    got = stats.neg_log10_p(p, t, 495)
    np.testing.assert_allclose(got[:2], -np.log10(p[:2]), rtol=1e-15)
    want = -(stats.t_logsf(150.0, 495) + math.log(2)) / math.log(10)
    assert got[2] == pytest.approx(want, rel=1e-12) and got[2] > 308
    assert np.isnan(got[3])
    # normal tail, for chi-square / Wald statistics
    z = 45.0
    assert stats.neg_log10_p([0.0], [z], normal=True)[0] == pytest.approx(
        -(st.norm.logsf(z) + math.log(2)) / math.log(10), rel=1e-12)
    # without a statistic: plain -log10
    assert stats.neg_log10_p([1e-3, 0.0]).tolist() == [3.0, np.inf]
    with pytest.raises(InputError, match="neg_log10_p/df"):
        stats.neg_log10_p([0.0], [50.0])


def test_wald_p_is_the_two_sided_normal_test():
    rng = np.random.default_rng(3)
    beta, se = rng.normal(size=500) * 3, rng.uniform(0.5, 2, size=500)
    np.testing.assert_array_equal(stats.wald_p(beta, se), 2 * st.norm.sf(np.abs(beta / se)))
    np.testing.assert_allclose(stats.wald_neg_log10_p(beta, se), -np.log10(stats.wald_p(beta, se)), rtol=1e-12)
    # beyond underflow the -log10 stays exact
    assert stats.wald_p(80.0, 1.0) == 0.0
    assert stats.wald_neg_log10_p(80.0, 1.0) == pytest.approx(-(st.norm.logsf(80.0) + math.log(2)) / math.log(10))
    assert np.isnan(stats.wald_p(np.nan, 1.0)) and np.isnan(stats.wald_neg_log10_p(1.0, np.nan))


# --------------------------------------------------------------------------- lambda GC
def test_lambda_gc_closed_form():
    rng = np.random.default_rng(5)
    p = rng.uniform(size=20001)
    want = np.median(st.chi2.isf(p, 1)) / st.chi2.ppf(0.5, 1)
    assert stats.lambda_gc(p) == pytest.approx(want, rel=1e-14)
    # inflated statistics: chi2 scaled by 1.2 gives lambda 1.2
    chi2 = st.chi2.isf(p, 1) * 1.2
    assert stats.lambda_gc(st.chi2.sf(chi2, 1)) == pytest.approx(1.2 * want, rel=1e-9)
    assert math.isnan(stats.lambda_gc([np.nan, np.nan]))
    assert stats.lambda_gc(pd.Series([0.5, np.nan])) == pytest.approx(1.0)


def test_lambda_gc_keeps_zero_p_finite_with_neg_log10():
    p = np.array([0.0, 0.0, 0.0, 0.5])
    m = np.array([400.0, 350.0, 320.0, -math.log10(0.5)])
    assert math.isinf(stats.lambda_gc(p))
    assert np.isfinite(stats.lambda_gc(p, m))


# --------------------------------------------------------------------------- multiple testing
def test_fdr_bh_and_bonferroni_match_statsmodels():
    p = np.random.default_rng(1).uniform(size=300) ** 3
    np.testing.assert_allclose(stats.fdr_bh(p), multipletests(p, method="fdr_bh")[1], rtol=1e-12)
    np.testing.assert_allclose(stats.bonferroni(p), multipletests(p, method="bonferroni")[1], rtol=1e-12)
    for code in ("fdr_bh", "bonferroni"):
        np.testing.assert_allclose(stats.multiple_testing(p, method=code), multipletests(p, method=code)[1], rtol=1e-12)


def test_multiple_testing_keeps_nan_out_of_the_count():
    p = np.array([0.01, np.nan, 0.02, 0.04])
    ok = np.isfinite(p)
    for code in ("fdr_bh", "bonferroni"):
        got = stats.multiple_testing(p, method=code)
        assert np.isnan(got[1])
        np.testing.assert_allclose(got[ok], multipletests(p[ok], method=code)[1], rtol=1e-12)
    assert stats.fdr_bh([]).size == 0
    assert np.isnan(stats.bonferroni([np.nan])).all()


def test_multiple_testing_rejects_unknown_method():
    with pytest.raises(InputError, match="multiple_testing/method.*'fdr_by'"):
        stats.multiple_testing([0.1], method="fdr_by")


# --------------------------------------------------------------------------- chromosomes
def test_chromosome_rank():
    assert stats.chromosome_rank("1") == 1 and stats.chromosome_rank(22) == 22
    assert stats.chromosome_rank("X") == stats.chromosome_rank("23") == stats.chromosome_rank("chrX") == 23
    assert stats.chromosome_rank("Y") == 24 and stats.chromosome_rank("XY") == 25
    assert stats.chromosome_rank("MT") == stats.chromosome_rank("chrM") == stats.chromosome_rank("26") == 26
    assert stats.chromosome_rank("scaffold_7") == stats.UNKNOWN_CHROMOSOME_RANK
    assert stats.chromosome_rank(None) == stats.UNKNOWN_CHROMOSOME_RANK
    ranks = stats.chromosome_rank(pd.Series(["10", "2", "X", "chr1"]))
    assert ranks.dtype == np.int64 and ranks.tolist() == [10, 2, 23, 1]


def test_sort_chromosomes_is_genome_order_not_text_order():
    got = stats.sort_chromosomes(["X", "10", "2", "2", "MT", "1", "Y", "22", "Un"])
    assert got == ["1", "2", "10", "22", "X", "Y", "MT", "Un"]
    # works as a sort key of a frame column
    df = pd.DataFrame({"chromosome": ["X", "10", "2"], "pos": [1, 2, 3]})
    out = df.sort_values("chromosome", key=stats.chromosome_rank)
    assert out["chromosome"].tolist() == ["2", "10", "X"]


def test_chi2_median_is_scipys():
    from scipy import stats

    from bma_genetics.stats import CHI2_MEDIAN

    assert CHI2_MEDIAN == stats.chi2.ppf(0.5, 1)

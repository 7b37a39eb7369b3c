"""Steiger filtering, radial IVW / Egger with outlier flags, the penalised weighted median and
the Egger bootstrap: closed forms computed independently here, and the published LDL-c example."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats

from bma_genetics.mr import (
    MRParameters,
    mr_egger,
    mr_egger_bootstrap,
    mr_ivw,
    mr_penalised_weighted_median,
    mr_radial_egger,
    mr_radial_ivw,
    mr_radial_table,
    mr_steiger,
    mr_weighted_median,
    run_mr,
    steiger_filtering,
)
from bma_genetics.mr.methods import weighted_median


def test_radial_ivw_first_order_is_ivw_and_its_regression(ldl):
    bx, by, sx, sy = ldl
    p1 = MRParameters(radial_weights="first_order")
    r = mr_radial_ivw(*ldl, p1)
    ivw = mr_ivw(*ldl)
    assert r.beta == pytest.approx(ivw.beta, rel=1e-12)
    assert r.q == pytest.approx(ivw.q, rel=1e-10) and r.q_df == 27
    # RadialMR: lm(BetaWj ~ -1 + Wj), its SE and t(27) test as reported by summary(lm)
    w = bx**2 / sy**2
    fit = sm.OLS(by / bx * np.sqrt(w), np.sqrt(w)).fit()
    assert r.standard_error == pytest.approx(fit.bse[0], rel=1e-10)
    assert r.p_value == pytest.approx(fit.pvalues[0], rel=1e-8)
    ci = fit.conf_int()[0]
    assert (r.ci_lower, r.ci_upper) == pytest.approx((ci[0], ci[1]), rel=1e-10)
    qj = w * (by / bx - r.beta) ** 2
    np.testing.assert_allclose(r.radial_q_contributions, qj, rtol=1e-10)


def test_radial_modified_second_order_and_egger_closed_forms(ldl):
    bx, by, sx, sy = ldl
    ratio = by / bx
    r = mr_radial_ivw(*ldl)  # modified second order (RadialMR weights = 3, the default)
    b1 = np.sum(bx**2 / sy**2 * ratio) / np.sum(bx**2 / sy**2)
    w3 = 1 / ((sy**2 + b1**2 * sx**2) / bx**2)
    fit = sm.OLS(ratio * np.sqrt(w3), np.sqrt(w3)).fit()
    assert r.beta == pytest.approx(fit.params[0], rel=1e-12)
    assert r.standard_error == pytest.approx(fit.bse[0], rel=1e-10)
    assert r.q == pytest.approx(np.sum(w3 * (ratio - r.beta) ** 2), rel=1e-10)
    # radial Egger, second-order weights: lm(BetaWj ~ Wj)
    e = mr_radial_egger(*ldl, MRParameters(radial_weights="second_order"))
    w2 = 1 / (sy**2 / bx**2 + by**2 * sx**2 / bx**4)
    efit = sm.OLS(ratio * np.sqrt(w2), sm.add_constant(np.sqrt(w2))).fit()
    assert e.beta == pytest.approx(efit.params[1], rel=1e-10)
    assert e.egger_intercept == pytest.approx(efit.params[0], rel=1e-10)
    assert e.standard_error == pytest.approx(efit.bse[1], rel=1e-10)
    assert e.egger_intercept_p_value == pytest.approx(efit.pvalues[0], rel=1e-8)
    assert e.q == pytest.approx(np.sum(efit.resid**2), rel=1e-10) and e.q_df == 26
    # the radial Egger fit is invariant to the coding of the alleles (no orientation needed)
    flip = np.arange(len(bx)) % 2 == 0
    s = np.where(flip, -1.0, 1.0)
    e2 = mr_radial_egger(bx * s, by * s, sx, sy, MRParameters(radial_weights="second_order"))
    assert e2.beta == pytest.approx(e.beta, rel=1e-12)


def test_radial_flags_planted_outliers_with_bonferroni():
    rng = np.random.default_rng(12)
    n = 40
    bx = rng.uniform(0.05, 0.2, n)
    sx, sy = np.full(n, 0.004), np.full(n, 0.01)
    by = 0.3 * bx + rng.normal(0, sy)
    by[[5, 22]] += 0.08
    h = pd.DataFrame({"snp": [f"rs{i}" for i in range(n)], "exposure": "x", "outcome": "y", "mr_keep": True,
                      "beta_exposure": bx, "standard_error_exposure": sx, "beta_outcome": by,
                      "standard_error_outcome": sy})
    res = run_mr(h, methods=["radial_ivw", "radial_egger"])
    tab = mr_radial_table(h, fits=res.fits)
    for m in ("radial_ivw", "radial_egger"):
        t = tab[tab.method == m]
        assert set(t.loc[t.outlier, "snp"]) == {"rs5", "rs22"}, m
        assert (t.loc[t.outlier, "q_p_value"] < 0.05 / n).all()
        # Bonferroni, not 0.05: some valid SNPs have Q_j P < 0.05 but are not flagged
        assert ((t.q_p_value < 0.05) & ~t.outlier).sum() >= 2
    assert set(res.fit("radial_ivw").radial_outliers) == {5, 22}


def test_penalised_weighted_median_closed_form(ldl):
    bx, by, sx, sy = ldl
    ratio = by / bx
    for weights in ("second_order", "first_order"):
        p = MRParameters(median_weights=weights, nboot=200)
        w = 1 / (sy**2 / bx**2 + by**2 * sx**2 / bx**4) if weights == "second_order" else bx**2 / sy**2
        b_wm = mr_weighted_median(*ldl, p).beta
        pw = w * np.minimum(1, 20 * stats.chi2.sf(w * (ratio - b_wm) ** 2, 1))
        # the weighted median by its definition (interpolated cumulative mid-weights at 0.5)
        o = np.argsort(ratio)
        cs = (np.cumsum(pw[o]) - 0.5 * pw[o]) / pw.sum()
        expected = np.interp(0.5, cs, ratio[o])
        r = mr_penalised_weighted_median(*ldl, p)
        assert r.beta == pytest.approx(expected, rel=1e-12)
        assert r.beta == pytest.approx(weighted_median(ratio, pw)[0], rel=1e-12)
        assert r.standard_error > 0


def test_penalised_weighted_median_resists_a_pleiotropic_snp():
    rng = np.random.default_rng(3)
    n = 30
    bx = rng.uniform(0.05, 0.2, n)
    sx, sy = np.full(n, 0.003), np.full(n, 0.01)
    by = 0.2 * bx + rng.normal(0, sy)
    by[:8] += rng.uniform(0.05, 0.1, 8)  # a quarter of the SNPs pleiotropic
    p = MRParameters(nboot=200)
    pen = mr_penalised_weighted_median(bx, by, sx, sy, p)
    assert abs(pen.beta - 0.2) <= abs(mr_weighted_median(bx, by, sx, sy, p).beta - 0.2) + 1e-12
    assert abs(pen.beta - 0.2) < 2 * pen.standard_error


def test_egger_bootstrap_centres_on_egger_and_is_seeded(ldl):
    p = MRParameters(nboot=4000, seed=5, egger_distribution="normal")
    eb = mr_egger_bootstrap(*ldl, p)
    eg = mr_egger(*ldl, p)
    assert eb.beta == pytest.approx(eg.beta, abs=0.25 * eg.standard_error)
    assert eb.egger_intercept == pytest.approx(eg.egger_intercept, abs=0.25 * eg.egger_intercept_standard_error)
    # the bootstrap SE reflects the sampling error of the SNP effects (fixed-effect scale); the
    # LDL-c data are over-dispersed (residual SE 1.9), so Egger's multiplicative SE is larger
    assert 0.3 * eg.standard_error < eb.standard_error < eg.standard_error
    assert eb.ci_lower < eb.beta < eb.ci_upper and eb.p_value < 0.01
    again = mr_egger_bootstrap(*ldl, p)
    assert again.beta == eb.beta and again.standard_error == eb.standard_error
    assert mr_egger_bootstrap(*ldl, p.with_(seed=6)).beta != eb.beta


def _h(bx, by, sx, sy, n_exp, n_out, **extra):
    m = len(bx)
    return pd.DataFrame({"snp": [f"rs{i}" for i in range(m)], "exposure": "x", "outcome": "y", "mr_keep": True,
                         "beta_exposure": bx, "standard_error_exposure": sx, "beta_outcome": by,
                         "standard_error_outcome": sy, "samplesize_exposure": n_exp, "samplesize_outcome": n_out,
                         **extra})


def test_steiger_filtering_per_snp_equals_the_directionality_test():
    rng = np.random.default_rng(9)
    m, n = 25, 20_000
    bx = rng.uniform(0.015, 0.04, m)
    by = 0.2 * bx + rng.normal(0, 0.007, m)
    by[[3, 11]] = [0.06, -0.05]  # reverse-causal SNPs: more outcome than exposure variance
    h = _h(bx, by, np.full(m, 0.007), np.full(m, 0.007), n, n)
    f = steiger_filtering(h)
    assert list(f.loc[~f.steiger_dir.astype(bool), "snp"]) == ["rs3", "rs11"]
    assert not f.loc[[3, 11], "mr_keep"].any() and f.mr_keep.sum() == m - 2
    assert f.loc[3, "drop_reason"].startswith("Steiger")
    for i in (0, 3, 17):  # each SNP's test is the directionality test on that SNP alone
        one = mr_steiger(h.iloc[[i]]).iloc[0]
        assert f.loc[i, "r2_exposure"] == pytest.approx(one.snp_r2_exposure, rel=1e-12)
        assert f.loc[i, "r2_outcome"] == pytest.approx(one.snp_r2_outcome, rel=1e-12)
        assert f.loc[i, "steiger_p_value"] == pytest.approx(one.steiger_p_value, rel=1e-10)
    # closed form: r2 = t2 / (t2 + n - 2), Fisher z of the correlations
    t2x, t2y = (bx[0] / 0.007) ** 2, (by[0] / 0.007) ** 2
    r2x, r2y = t2x / (t2x + n - 2), t2y / (t2y + n - 2)
    z = (np.arctanh(np.sqrt(r2x)) - np.arctanh(np.sqrt(r2y))) / np.sqrt(2 / (n - 3))
    assert f.loc[0, "steiger_p_value"] == pytest.approx(2 * stats.norm.sf(abs(z)), rel=1e-10)
    kept = steiger_filtering(h, drop=False)
    assert kept.mr_keep.all()


def test_steiger_filtering_binary_outcome_uses_the_liability_scale():
    from bma_genetics.mr import r2_from_lor

    rng = np.random.default_rng(2)
    m = 10
    bx = rng.uniform(0.02, 0.05, m)
    lor = rng.normal(0, 0.05, m)
    h = _h(bx, lor, np.full(m, 0.005), np.full(m, 0.03), 30_000, np.nan, ncase_outcome=2_000.0,
           ncontrol_outcome=18_000.0, eaf_outcome=rng.uniform(0.1, 0.9, m))
    f = steiger_filtering(h, prevalence=0.05)
    expected = r2_from_lor(lor, h.eaf_outcome.to_numpy(), 2_000, 18_000, 0.05)
    np.testing.assert_allclose(f.r2_outcome.to_numpy(), expected, rtol=1e-12)
    assert np.isfinite(f.steiger_p_value).all()


def test_run_mr_analysis_steiger_filter_and_radial_table(tmp_path):
    from bma_genetics.io import read_mr_results
    from bma_genetics.mr import run_mr_analysis

    rng = np.random.default_rng(9)
    m, n = 25, 20_000
    bx = rng.uniform(0.015, 0.04, m)
    by = 0.2 * bx + rng.normal(0, 0.007, m)
    by[[3, 11]] = [0.06, -0.05]
    h = _h(bx, by, np.full(m, 0.007), np.full(m, 0.007), n, n)
    res = run_mr_analysis(tmp_path / "o", harmonised=h, methods=["ivw", "radial_ivw", "radial_egger"],
                          steiger_filter=True, params=MRParameters(nboot=50))
    assert res.report["n_steiger_dropped"] == 2 and res.report["n_used"] == m - 2
    assert res.fit("ivw").nsnp == m - 2
    tab = read_mr_results(tmp_path / "o" / "radial.tsv", table="radial")
    assert len(tab) == 2 * (m - 2) and "rs3" not in set(tab.snp)
    out = pd.read_csv(tmp_path / "o" / "harmonised.tsv", sep="\t")
    assert {"r2_exposure", "r2_outcome", "steiger_dir", "steiger_p_value"} <= set(out.columns)

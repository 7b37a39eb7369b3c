"""MR estimators: documented results of R's MendelianRandomization, closed forms, brute force."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from bma_genetics.errors import InputError
from bma_genetics.mr import (
    METHODS,
    MRParameters,
    method_list,
    mr_egger,
    mr_ivw,
    mr_ivw_fixed,
    mr_presso,
    mr_raps,
    mr_simple_median,
    mr_simple_mode,
    mr_wald_ratio,
    mr_weighted_median,
    mr_weighted_mode,
    run_mr,
)
from bma_genetics.mr.methods import weighted_median

# The documented outputs of MendelianRandomization on its 28-variant LDL-c -> CHD example
# (README / vignette of the R package, version 0.10.0: mr_ivw, mr_allmethods(method="main")):
#   IVW 2.834 (SE 0.530, CI 1.796-3.873), Cochran's Q 99.5304 on 27 df, residual SE 1.920
#   MR-Egger 3.253 (SE 0.770, CI 1.743-4.762), intercept -0.011 (SE 0.015, P 0.451)
#   simple median 1.755, weighted median 2.683 (bootstrap SE 0.419)
# Weighted mode (mr_mbe, weighted, delta SEs, phi = 1): 2.946 and simple mode 2.406, the values
# MendelianRandomization 0.10.0 gives as reproduced by pytwosamplemr's R-parity suite; Egger
# Q 97.3975 on 26 df and I^2_GX 0.919 likewise.


def test_ivw_matches_mendelianrandomization(ldl):
    r = mr_ivw(*ldl)
    assert round(r.beta, 3) == 2.834
    assert round(r.standard_error, 3) == 0.530
    assert round(r.ci_lower, 3) == 1.796 and round(r.ci_upper, 3) == 3.873
    assert round(r.q, 2) == 99.53 and r.q_df == 27
    assert round(np.sqrt(r.q / 27), 3) == 1.920


def test_egger_matches_mendelianrandomization(ldl):
    r = mr_egger(*ldl, MRParameters(egger_distribution="normal"))
    assert round(r.beta, 3) == 3.253 and round(r.standard_error, 3) == 0.770
    assert round(r.ci_lower, 3) == 1.743 and round(r.ci_upper, 3) == 4.762
    assert round(r.egger_intercept, 3) == -0.011 and round(r.egger_intercept_standard_error, 3) == 0.015
    assert round(r.egger_intercept_p_value, 3) == 0.451
    assert round(r.q, 2) == 97.40 and r.q_df == 26
    # TwoSampleMR's default (t with 26 df) changes only the P values and CIs.
    t = mr_egger(*ldl)
    assert t.beta == pytest.approx(r.beta) and t.standard_error == pytest.approx(r.standard_error)
    assert t.egger_intercept_p_value > r.egger_intercept_p_value and t.ci_lower < r.ci_lower


def test_medians_and_modes_match(ldl):
    first = MRParameters(median_weights="first_order", nboot=10_000)
    wm = mr_weighted_median(*ldl, first)
    assert round(wm.beta, 3) == 2.683
    assert wm.standard_error == pytest.approx(0.419, abs=0.03)  # bootstrap: Monte-Carlo error only
    assert round(mr_simple_median(*ldl).beta, 3) == 1.755
    assert round(mr_weighted_mode(*ldl).beta, 3) == 2.946
    assert round(mr_simple_mode(*ldl).beta, 3) == 2.406


def test_ivw_and_egger_equal_weighted_least_squares(ldl):
    bx, by, sx, sy = ldl
    fit = sm.WLS(by, bx, weights=sy**-2).fit()
    r = mr_ivw(*ldl)
    assert r.beta == pytest.approx(fit.params[0], rel=1e-12)
    assert r.standard_error == pytest.approx(fit.bse[0] / min(1, np.sqrt(fit.scale)), rel=1e-10)
    assert mr_ivw_fixed(*ldl).standard_error == pytest.approx(fit.bse[0] / np.sqrt(fit.scale), rel=1e-10)
    s = np.sign(bx)
    efit = sm.WLS(by * s, sm.add_constant(np.abs(bx)), weights=sy**-2).fit()
    e = mr_egger(*ldl)
    assert e.beta == pytest.approx(efit.params[1], rel=1e-10)
    assert e.egger_intercept == pytest.approx(efit.params[0], rel=1e-10)
    assert e.standard_error == pytest.approx(efit.bse[1] / min(1, np.sqrt(efit.scale)), rel=1e-10)
    assert e.p_value == pytest.approx(efit.pvalues[1], rel=1e-6)  # t with n - 2 df


def test_weighted_median_brute_force():
    rng = np.random.default_rng(3)
    for _ in range(20):
        b = rng.normal(size=9)
        w = rng.uniform(0.1, 2, size=9)
        # Definition: piecewise-linear interpolation of the cumulative "mid" weights at 0.5.
        o = np.argsort(b)
        cs = (np.cumsum(w[o]) - 0.5 * w[o]) / w.sum()
        expected = np.interp(0.5, cs, b[o])
        assert weighted_median(b, w)[0] == pytest.approx(expected, rel=1e-12)


def test_mode_finds_the_dominant_cluster():
    rng = np.random.default_rng(5)
    n_valid, theta = 25, 0.4
    bx = rng.uniform(0.05, 0.15, 40)
    by = theta * bx
    by[n_valid:] += rng.uniform(0.02, 0.06, 40 - n_valid)  # pleiotropic: ratios biased upwards
    sx, sy = np.full(40, 1e-3), np.full(40, 2e-3)
    r = mr_weighted_mode(bx, by, sx, sy, MRParameters(nboot=200))
    assert r.beta == pytest.approx(theta, abs=0.02)
    assert mr_ivw(bx, by, sx, sy).beta > theta + 0.1  # IVW is dragged away; the mode is not


def test_raps_maximises_the_profile_likelihood():
    rng = np.random.default_rng(11)
    bx_true = rng.uniform(0.01, 0.05, 50)
    sx, sy = np.full(50, 0.01), np.full(50, 0.02)
    bx = bx_true + rng.normal(0, sx)
    by = 0.5 * bx_true + rng.normal(0, sy)
    r = mr_raps(bx, by, sx, sy)
    grid = np.linspace(-3, 3, 600_001)
    ll = [-0.5 * np.sum((by - bx * g) ** 2 / (sy**2 + g**2 * sx**2)) for g in grid[::1000]]
    coarse = grid[::1000][int(np.argmax(ll))]
    fine = np.linspace(coarse - 0.01, coarse + 0.01, 20_001)
    ll_f = -0.5 * np.sum((by[:, None] - bx[:, None] * fine) ** 2 / (sy[:, None] ** 2 + fine**2 * sx[:, None] ** 2), axis=0)
    assert r.beta == pytest.approx(fine[np.argmax(ll_f)], abs=1e-5)
    # Weak instruments bias IVW towards zero; the profile score does not.
    assert abs(r.beta - 0.5) < abs(mr_ivw(bx, by, sx, sy).beta - 0.5)


def test_presso_flags_planted_outliers_and_is_seeded():
    rng = np.random.default_rng(2)
    n = 30
    bx = rng.uniform(0.05, 0.2, n)
    sx, sy = np.full(n, 0.005), np.full(n, 0.01)
    by = 0.3 * bx + rng.normal(0, sy)
    by[[3, 17]] += 0.15  # strong pleiotropy at two SNPs
    p = MRParameters(presso_nboot=500, seed=4)
    r = mr_presso(bx, by, sx, sy, p)
    assert r.presso_global_p_value < 0.01
    assert set(r.presso_outliers) == {3, 17}
    assert r.beta == pytest.approx(0.3, abs=0.02)
    assert r.nsnp == n - 2
    again = mr_presso(bx, by, sx, sy, p)
    assert again.presso_global_p_value == r.presso_global_p_value and again.presso_distortion_p_value == r.presso_distortion_p_value
    clean = mr_presso(bx, 0.3 * bx + rng.normal(0, sy), sx, sy, p)
    assert clean.presso_global_p_value > 0.01 and clean.presso_outliers == ()


def test_bootstrap_is_seeded(ldl):
    a = mr_weighted_median(*ldl, MRParameters(seed=9, nboot=300))
    b = mr_weighted_median(*ldl, MRParameters(seed=9, nboot=300))
    c = mr_weighted_median(*ldl, MRParameters(seed=10, nboot=300))
    assert a.standard_error == b.standard_error and a.standard_error != c.standard_error


def test_too_few_snps_give_na_rows(ldl):
    bx, by, sx, sy = (v[:1] for v in ldl)
    w = mr_wald_ratio(bx, by, sx, sy)
    assert w.beta == pytest.approx(by[0] / bx[0]) and w.standard_error == pytest.approx(sy[0] / abs(bx[0]))
    for name, m in METHODS.items():
        if m.min_snps > 1:
            r = m.func(bx, by, sx, sy, MRParameters())
            assert np.isnan(r.beta) and r.nsnp == 1, name
    h = pd.DataFrame({"snp": ["rs1", "rs2"], "beta_exposure": ldl[0][:2], "beta_outcome": ldl[1][:2],
                      "standard_error_exposure": ldl[2][:2], "standard_error_outcome": ldl[3][:2]})
    res = run_mr(h, methods="all").to_frame()
    assert "wald_ratio" not in set(res.method)
    assert res.set_index("method").loc["egger", "beta"] != res.set_index("method").loc["egger", "beta"]  # NaN
    assert np.isfinite(res.set_index("method").loc["ivw", "beta"])
    one = run_mr(h.iloc[:1], methods="default")
    assert one.to_frame().set_index("method").loc["wald_ratio", "nsnp"] == 1
    assert one.fit("wald_ratio").nsnp == 1 and not one.fit("ivw").ok


def test_registry_and_errors():
    reg = method_list()
    assert {"name", "display_name", "use_by_default", "heterogeneity_test", "citation"} <= set(reg.columns)
    assert set(reg.name) == {"wald_ratio", "ivw", "ivw_fixed", "egger", "simple_median", "weighted_median",
                             "simple_mode", "weighted_mode", "mr_presso", "mr_raps", "penalised_weighted_median",
                             "egger_bootstrap", "radial_ivw", "radial_egger"}
    h = pd.DataFrame({"beta_exposure": [0.1, 0.2], "standard_error_exposure": [0.01] * 2, "beta_outcome": [0.1, 0.2],
                      "standard_error_outcome": [0.01] * 2})
    with pytest.raises(InputError, match="run_mr/methods: unknown method"):
        run_mr(h, methods=["ivw", "bayes"])
    with pytest.raises(InputError, match="egger_distribution"):
        MRParameters(egger_distribution="cauchy")
    with pytest.raises(InputError, match="run_mr/harmonised: the harmonised table lacks column 'standard_error_outcome'"):
        run_mr(h.drop(columns="standard_error_outcome"))
    with pytest.raises(InputError, match="no SNP left"):
        run_mr(h.assign(mr_keep=False, drop_reason="alleles do not match"))


def test_presso_global_rss_equals_explicit_leave_one_out_fits():
    rng = np.random.default_rng(8)
    n = 12
    bx = rng.uniform(0.05, 0.2, n)
    sy = rng.uniform(0.01, 0.03, n)
    by = 0.2 * bx + rng.normal(0, sy)
    r = mr_presso(bx, by, np.full(n, 0.005), sy, MRParameters(presso_nboot=50))
    rss = 0.0
    for i in range(n):
        keep = np.arange(n) != i
        b_i = sm.WLS(by[keep], bx[keep], weights=sy[keep] ** -2).fit().params[0]
        rss += (by[i] - b_i * bx[i]) ** 2 / sy[i] ** 2
    assert r.presso_global_rss == pytest.approx(rss, rel=1e-10)
    assert r.presso_raw_beta == pytest.approx(mr_ivw(bx, by, np.full(n, 0.005), sy).beta, rel=1e-12)


def test_robust_estimators_under_invalid_instruments():
    """Directional pleiotropy satisfying InSIDE (Egger's assumption), and 30 % invalid SNPs with
    a plurality of valid ones (the mode's): each recovers theta where IVW does not."""
    rng = np.random.default_rng(21)
    m, theta = 300, 0.25
    bx_true = rng.uniform(0.02, 0.15, m)
    sx, sy = np.full(m, 0.002), np.full(m, 0.006)
    bx = bx_true + rng.normal(0, sx)
    # InSIDE: pleiotropic effects independent of the instrument strength, mean 0.01
    by = theta * bx_true + rng.normal(0.01, 0.005, m) + rng.normal(0, sy)
    eg, ivw = mr_egger(bx, by, sx, sy), mr_ivw(bx, by, sx, sy)
    assert abs(eg.beta - theta) < 3 * eg.standard_error and eg.egger_intercept_p_value < 1e-6
    assert abs(ivw.beta - theta) > 3 * ivw.standard_error
    # 30 % invalid with large positive pleiotropy; 70 % valid
    by2 = theta * bx_true + rng.normal(0, sy)
    bad = rng.random(m) < 0.3
    by2[bad] += rng.uniform(0.01, 0.03, bad.sum())
    p = MRParameters(nboot=200)
    ivw_bias = mr_ivw(bx, by2, sx, sy).beta - theta
    assert ivw_bias > 3 * mr_ivw(bx, by2, sx, sy).standard_error
    # The mode is consistent when the valid SNPs form the largest group (ZEMPA).
    mode = mr_weighted_mode(bx, by2, sx, sy, p)
    assert abs(mode.beta - theta) < 3 * mode.standard_error
    # The median keeps a finite-sample bias (the invalid 30 % shift the median's rank) but
    # removes most of IVW's.
    assert abs(mr_weighted_median(bx, by2, sx, sy, p).beta - theta) < ivw_bias / 2

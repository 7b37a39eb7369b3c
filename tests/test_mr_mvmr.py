"""Multivariable MR: the MVMR package's published example, closed forms computed here, and
recovery of two planted direct effects over simulated replicates."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from bma_genetics.errors import InputError
from bma_genetics.mr import MRParameters
from bma_genetics.mr.mvmr import (
    mvmr_conditional_f,
    mvmr_egger,
    mvmr_harmonise,
    mvmr_instruments,
    mvmr_ivw,
    mvmr_q,
    mvmr_qhet,
    mvmr_qhet_objective,
    run_mvmr,
)

DATA = Path(__file__).parent / "data" / "mvmr_rawdat.tsv"


@pytest.fixture(scope="module")
def lipids():
    d = pd.read_csv(DATA, sep="\t", comment="#")
    bx = d[["LDL_beta", "HDL_beta", "Trg_beta"]].to_numpy()
    sx = d[["LDL_se", "HDL_se", "Trg_se"]].to_numpy()
    return bx, d.SBP_beta.to_numpy(), sx, d.SBP_se.to_numpy()


# The MVMR package's vignette (WSpiller/MVMR, articles/MVMR.md, "Multivariable MR Tutorial") on
# its data rawdat_mvmr (145 SNPs; LDL-C, HDL-C, triglycerides -> systolic blood pressure):
#   ivw_mvmr:        exposure1 -0.021845061 (SE 0.01417255), exposure2 0.003735249 (0.01033779),
#                    exposure3 0.025572042 (0.01601913); residual SE 2.197 on 142 df
#   strength_mvmr:   F 46.33671, 67.80463, 38.80184 (gencov = 0)
#   pleiotropy_mvmr: Q 683.0807 on 141 DF, p-value 4.880403e-72 (gencov = 0)
# The residual SE exceeds 1, so MendelianRandomization's mr_mvivw (lm SE / min(sigma, 1)) and
# TwoSampleMR's mv_multiple (lm SE) give these same SEs.


def test_ivw_mvmr_equals_the_published_example(lipids):
    r = mvmr_ivw(*lipids, exposures=["ldl", "hdl", "trg"])
    np.testing.assert_allclose(r.beta, [-0.021845061, 0.003735249, 0.025572042], atol=5e-10)
    np.testing.assert_allclose(r.standard_error, [0.01417255, 0.01033779, 0.01601913], atol=5e-9)
    assert round(r.residual_standard_error, 3) == 2.197 and r.q_df == 142
    assert r.nsnp == 145 and r.exposures == ("ldl", "hdl", "trg")


def test_conditional_f_and_sanderson_q_equal_the_published_example(lipids):
    bx, by, sx, sy = lipids
    np.testing.assert_allclose(mvmr_conditional_f(bx, sx), [46.33671, 67.80463, 38.80184], atol=5e-6)
    q, df, p = mvmr_q(bx, by, sx, sy, mvmr_ivw(*lipids).beta)
    assert q == pytest.approx(683.0807, abs=5e-5) and df == 141
    assert p == pytest.approx(4.880403e-72, rel=1e-6)


def test_ivw_and_egger_equal_weighted_least_squares(lipids):
    bx, by, sx, sy = lipids
    fit = sm.WLS(by, bx, weights=sy**-2).fit()
    r = mvmr_ivw(*lipids)
    np.testing.assert_allclose(r.beta, fit.params, rtol=1e-10)
    # MendelianRandomization mr_mvivw: lm SE / min(sigma, 1); TwoSampleMR mv_multiple: lm SE
    np.testing.assert_allclose(r.standard_error, fit.bse / min(1.0, np.sqrt(fit.scale)), rtol=1e-10)
    assert r.q == pytest.approx(fit.scale * 142, rel=1e-10)
    # under-dispersed data: the SE is never below the fixed-effect SE
    small = mvmr_ivw(bx, bx @ [0.1, 0.2, -0.1] + np.random.default_rng(1).normal(0, sy * 0.5), sx, sy)
    fe = sm.WLS(bx @ [0.1, 0.2, -0.1], bx, weights=sy**-2).fit().bse / 1.0
    assert small.residual_standard_error < 1
    np.testing.assert_allclose(small.standard_error, np.sqrt(np.diag(np.linalg.inv(bx.T @ (bx * sy[:, None] ** -2)))),
                               rtol=1e-10)
    assert fe.shape == (3,)
    # MVMR-Egger, oriented to the first exposure (MendelianRandomization mr_mvegger orientate = 1)
    s = np.where(bx[:, 0] < 0, -1.0, 1.0)
    efit = sm.WLS(by * s, sm.add_constant(bx * s[:, None]), weights=sy**-2).fit()
    e = mvmr_egger(*lipids, MRParameters(egger_distribution="normal"))
    np.testing.assert_allclose(e.beta, efit.params[1:], rtol=1e-10)
    assert e.egger_intercept == pytest.approx(efit.params[0], rel=1e-10)
    np.testing.assert_allclose(e.standard_error, efit.bse[1:] / min(1.0, np.sqrt(efit.scale)), rtol=1e-10)
    assert e.q_df == 141 and e.orientate == 0
    et = mvmr_egger(*lipids)  # t with n - K - 1 df: the same estimates, wider intervals
    np.testing.assert_allclose(et.beta, e.beta)
    assert et.egger_intercept_p_value > e.egger_intercept_p_value
    # orientation to another exposure changes the intercept (and only through the SNPs flipped)
    e3 = mvmr_egger(*lipids, orientate=2)
    assert e3.egger_intercept != pytest.approx(e.egger_intercept)
    with pytest.raises(InputError, match="mvmr_egger/orientate"):
        mvmr_egger(*lipids, orientate=3)


def _simulate(rng, m=120, gamma=(0.4, -0.5), n_x=2_000_000, n_y=100_000):
    """Two exposures sharing instruments: SNP effects correlated (r = 0.5), a third of the SNPs
    acting on one exposure only; summary statistics with their sampling error. Strong
    instruments (conditional F ~ 180): at F ~ 27 (n_x = 300,000) IVW-MVMR's first-order SEs
    ignore the exposures' sampling error and the direct effects are diluted by ~5 % (0.65 SE),
    coverage ~0.90, the known weak-instrument bias that the conditional F flags."""
    cov = np.array([[1.0, 0.5], [0.5, 1.0]]) * 0.02**2
    a = rng.multivariate_normal([0, 0], cov, size=m)
    a[: m // 6, 1] = 0.0
    a[m // 6: m // 3, 0] = 0.0
    maf = rng.uniform(0.05, 0.5, m)
    se_x = 1 / np.sqrt(2 * maf * (1 - maf) * n_x)[:, None] * np.ones((1, 2))
    se_y = 1 / np.sqrt(2 * maf * (1 - maf) * n_y)
    bx = a + rng.normal(0, se_x)
    by = a @ np.asarray(gamma) + rng.normal(0, se_y)
    return bx, by, se_x, se_y


def test_mvmr_recovers_both_planted_direct_effects():
    gamma = np.array([0.4, -0.5])
    rng = np.random.default_rng(2026)
    cover = np.zeros(2)
    reps = 300
    uni_bias = []
    for _ in range(reps):
        bx, by, sx, sy = _simulate(rng, gamma=tuple(gamma))
        r = mvmr_ivw(bx, by, sx, sy)
        cover += (np.array(r.ci_lower) <= gamma) & (gamma <= np.array(r.ci_upper))
        uni = sm.WLS(by, bx[:, 1], weights=sy**-2).fit().params[0]
        uni_bias.append(uni - gamma[1])
    cover /= reps
    assert ((cover > 0.92) & (cover < 0.98)).all(), cover
    # univariable MR of the second exposure is confounded by the first through the shared instruments
    assert np.mean(uni_bias) > 0.1
    # one data set, with the conditional F and Sanderson's Q
    bx, by, sx, sy = _simulate(np.random.default_rng(2), gamma=tuple(gamma))  # 8 of seeds 1-9 cover both
    r = mvmr_ivw(bx, by, sx, sy)
    assert all(lo <= g <= hi for lo, g, hi in zip(r.ci_lower, gamma, r.ci_upper, strict=True))
    assert (mvmr_conditional_f(bx, sx) > 10).all()
    q, df, p = mvmr_q(bx, by, sx, sy, r.beta)
    assert df == 117 and p > 0.001  # valid instruments: no excess heterogeneity


def _sumstats(rsids, b, se, ea, oa, p=None, eaf=0.3):
    from scipy import stats

    b = np.asarray(b, float)
    return pd.DataFrame({"rsid": rsids, "chromosome": "1", "base_pair_location": np.arange(len(rsids)) * 1_000_000 + 1,
                         "effect_allele": ea, "other_allele": oa, "beta": b, "standard_error": se,
                         "p_value": p if p is not None else 2 * stats.norm.sf(np.abs(b / se)),
                         "effect_allele_frequency": eaf, "n": 50_000})


def test_instruments_union_and_harmonisation():
    rng = np.random.default_rng(8)
    m = 60
    rsids = [f"rs{i + 1}" for i in range(m)]
    a1 = np.where(np.arange(m) < 20, 0.05, 0.0) + rng.normal(0, 0.002, m)     # rs1-20: exposure 1
    a2 = np.where((np.arange(m) >= 10) & (np.arange(m) < 35), 0.05, 0.0) + rng.normal(0, 0.002, m)  # rs11-35
    ea, oa = np.array(["A"] * m), np.array(["G"] * m)
    e1 = _sumstats(rsids, a1, 0.004, ea, oa)
    # exposure 2 reports the other allele for every third SNP
    swap = np.arange(m) % 3 == 0
    e2 = _sumstats(rsids, np.where(swap, -a2, a2), 0.004, np.where(swap, oa, ea), np.where(swap, ea, oa),
                   eaf=np.where(swap, 0.7, 0.3))
    y = _sumstats(rsids, 0.3 * a1 - 0.2 * a2 + rng.normal(0, 0.002, m), 0.003, ea, oa)
    exposures = {"bmff": e1, "bmd": e2}
    ins = mvmr_instruments(exposures, p_threshold=5e-8)
    assert len(ins) == 35 and set(ins.rsid) == {f"rs{i + 1}" for i in range(35)}
    fors = ins.set_index("rsid")["instrument_for"]
    assert fors["rs1"] == "bmff" and fors["rs30"] == "bmd" and set(fors["rs15"].split(",")) == {"bmff", "bmd"}
    h = mvmr_harmonise(ins, exposures, y, outcome_name="osteoporosis")
    assert len(h) == 70 and h.mr_keep.all()
    # every effect is per copy of the instrument's effect allele (G where it came from exposure 2's
    # swapped rows): exposure 2's and the outcome's effects follow it
    wide = h.pivot(index="snp", columns="exposure", values="beta_exposure")
    allele = h[h.exposure == "bmd"].set_index("snp").loc[wide.index, "effect_allele_exposure"]
    sign = np.where(allele == "A", 1.0, -1.0)
    assert (allele == "G").any()
    np.testing.assert_allclose(wide["bmd"].to_numpy(), sign * pd.Series(a2, index=rsids).loc[wide.index], rtol=1e-12)
    np.testing.assert_allclose(wide["bmff"].to_numpy(), sign * pd.Series(a1, index=rsids).loc[wide.index], rtol=1e-12)
    res = run_mvmr(h)
    assert res.report["exposures"] == ["bmff", "bmd"] and res.report["nsnp"] == 35
    ivw = res.fits["mvmr_ivw"]
    assert ivw.beta[0] == pytest.approx(0.3, abs=4 * ivw.standard_error[0])
    assert ivw.beta[1] == pytest.approx(-0.2, abs=4 * ivw.standard_error[1])
    t = res.to_frame()
    assert set(t.method) == {"mvmr_ivw", "mvmr_egger", "mvmr_qhet", "ivw"} and len(t) == 8
    assert np.isfinite(t.loc[t.method == "mvmr_ivw", "conditional_f"]).all()
    # a SNP missing from one exposure is dropped from every exposure's rows
    h2 = mvmr_harmonise(ins, {"bmff": e1, "bmd": e2.iloc[1:]}, y)
    assert (~h2.mr_keep).sum() == 2 and h2.loc[~h2.mr_keep, "drop_reason"].str.startswith("bmd:").all()
    with pytest.raises(InputError, match="at least two exposures"):
        mvmr_instruments({"bmff": e1})


def test_cli_mvmr(tmp_path, capsys):
    from bma_genetics.cli import main
    from bma_genetics.io import read_mr_results, write_gwas_ssf

    rng = np.random.default_rng(4)
    m = 50
    rsids = [f"rs{i + 1}" for i in range(m)]
    a1, a2 = rng.normal(0, 0.04, m), rng.normal(0, 0.04, m)
    ea, oa = np.array(["A"] * m), np.array(["G"] * m)
    paths = {}
    for name, b, se in (("bmff", a1 + rng.normal(0, 0.003, m), 0.003), ("bmd", a2 + rng.normal(0, 0.003, m), 0.003),
                        ("oste", 0.5 * a1 - 0.4 * a2 + rng.normal(0, 0.004, m), 0.004)):
        paths[name] = write_gwas_ssf(_sumstats(rsids, b, se, ea, oa).assign(genome_build="GRCh37"),
                                     tmp_path / f"{name}.tsv.gz")
    out = tmp_path / "mv"
    rc = main(["mvmr", "--out", str(out), "--exposure", f"bmff={paths['bmff']}", "--exposure", f"bmd={paths['bmd']}",
               "--outcome", str(paths["oste"]), "--no-clump", "--p-threshold", "1e-4", "--pcor", "0.1"])
    printed = capsys.readouterr().out
    assert rc == 0, printed
    assert "Sanderson's Q" in printed and "bmff: IVW-MVMR beta" in printed and "bmd: Q-het MVMR beta" in printed
    assert json.loads((out / "run.json").read_text())["pcor"] == [0.1]
    t = read_mr_results(out / "mvmr_results.tsv", table="mvmr")
    ivw = t[t.method == "mvmr_ivw"].set_index("exposure")
    assert abs(ivw.loc["bmff", "beta"] - 0.5) < 4 * ivw.loc["bmff", "standard_error"]
    assert abs(ivw.loc["bmd", "beta"] + 0.4) < 4 * ivw.loc["bmd", "standard_error"]
    assert (out / "figures" / "mvmr_forest.png").exists() and (out / "run.json").exists()
    rc = main(["mvmr", "--out", str(tmp_path / "x"), "--exposure", "bmff", "--exposure", f"bmd={paths['bmd']}",
               "--outcome", str(paths["oste"]), "--no-clump"])
    assert rc == 2 and "mvmr/exposure: expected NAME=FILE" in capsys.readouterr().err


def test_second_exposure_gwas_keeps_p_below_float_range(tmp_path):
    """The simulator's BMD GWAS (N = 10 x the outcome sample) has variants with |z| > 38, whose P
    underflows to 0: its files carry -log10 P so that read_sumstats accepts them (the demo cohort)."""
    from bma_genetics.io import read_sumstats
    from bma_genetics.simulate.second_exposure import _gwas_frame, _write_ssf

    (tmp_path / "outcome_gwas").mkdir()
    common = {"chromosome": ["1", "1"], "base_pair_location": [100, 200], "effect_allele": ["A", "C"],
              "other_allele": ["G", "T"]}
    frame = _gwas_frame(common, {"rsid": ["rs1", "rs2"], "variant_id": ["1:100_G_A", "1:200_T_C"]},
                        np.array([0.5, 0.01]), np.array([0.01, 0.01]), np.array([0.3, 0.4]), 200_000)
    assert frame["p_value"].iloc[0] == 0
    path = _write_ssf(tmp_path, "bmd", frame, {"trait_description": ["bmd"], "sample_size": 200_000})
    ss = read_sumstats(path)
    assert ss["neg_log_10_p_value"].iloc[0] == pytest.approx(-stats_norm_logsf(50.0) / np.log(10), rel=1e-6)


def stats_norm_logsf(z: float) -> float:
    from scipy import stats

    return float(stats.norm.logsf(z) + np.log(2))


# --------------------------------------------------------------------------------------------
# Q-het MVMR (Sanderson, Spiller and Bowden 2021): weak-instrument robust


def _qa_by_hand(bx, by, sx, sy, beta, rho=0.0):
    """Q_A written out SNP by SNP, for two exposures with error correlation rho."""
    total = 0.0
    for j in range(len(by)):
        s11, s22 = sx[j, 0] ** 2, sx[j, 1] ** 2
        s12 = rho * sx[j, 0] * sx[j, 1]
        var = sy[j] ** 2 + beta[0] ** 2 * s11 + 2 * beta[0] * beta[1] * s12 + beta[1] ** 2 * s22
        total += (by[j] - bx[j, 0] * beta[0] - bx[j, 1] * beta[1]) ** 2 / var
    return total


def _small(seed=5, n=12):
    rng = np.random.default_rng(seed)
    g = rng.normal(0, 0.1, (n, 2))
    sx = rng.uniform(0.01, 0.04, (n, 2))
    sy = rng.uniform(0.01, 0.03, n)
    bx = g + rng.normal(0, sx)
    by = g @ np.array([0.4, -0.7]) + rng.normal(0, sy)
    return bx, by, sx, sy


def test_qhet_objective_and_minimiser_against_brute_force():
    bx, by, sx, sy = _small()
    for beta, rho in (([0.4, -0.7], 0.0), ([1.3, 0.2], 0.35), ([-0.5, 2.0], -0.6)):
        got = mvmr_qhet_objective(bx, by, sx, sy, beta, pcor=[[1, rho], [rho, 1]])
        assert got == pytest.approx(_qa_by_hand(bx, by, sx, sy, beta, rho), rel=1e-12)
    # no error in the exposures' effects: Q_A is the IVW weighted sum of squares, minimised by IVW-MVMR
    zero = np.zeros_like(sx)
    ivw = mvmr_ivw(bx, by, sx, sy)
    q0 = mvmr_qhet(bx, by, zero, sy)
    np.testing.assert_allclose(q0.beta, ivw.beta, rtol=0, atol=1e-8)
    # the minimiser against a grid (two passes, the second 100x finer around the first's best point)
    r = mvmr_qhet(bx, by, sx, sy, pcor=0.35)
    centre = np.array(r.beta)
    for half in (0.5, 0.005):
        axis = np.linspace(-half, half, 201)
        grid = np.array([[_qa_by_hand(bx, by, sx, sy, centre + [a, b], 0.35) for b in axis] for a in axis])
        i, j = np.unravel_index(np.argmin(grid), grid.shape)
        centre = centre + [axis[i], axis[j]]
    np.testing.assert_allclose(r.beta, centre, atol=1e-4)
    assert r.q == pytest.approx(_qa_by_hand(bx, by, sx, sy, r.beta, 0.35), rel=1e-10)
    assert r.q <= grid.min() + 1e-9
    # the jackknife SE: each SNP left out in turn, refitted independently (Nelder-Mead from zero)
    from scipy.optimize import minimize

    n = len(by)
    loo = []
    for k in range(n):
        keep = np.arange(n) != k
        f = minimize(lambda b, keep=keep: _qa_by_hand(bx[keep], by[keep], sx[keep], sy[keep], b, 0.35), [0.0, 0.0],
                     method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-14, "maxiter": 5000})
        loo.append(f.x)
    loo = np.array(loo)
    se = np.sqrt((n - 1) / n * ((loo - loo.mean(axis=0)) ** 2).sum(axis=0))
    np.testing.assert_allclose(r.standard_error, se, rtol=1e-4)
    assert r.q_df == n - 2 and r.method == "mvmr_qhet"


def _weak_second(seed, n=50):
    """Exposure 2's SNP effects mostly those of exposure 1 (conditional F of exposure 2 ~ 3)."""
    rng = np.random.default_rng([seed, 18])
    g1 = rng.normal(0, 0.1, n)
    g2 = 0.5 * g1 + rng.normal(0, 0.045, n)
    s1, s2, sy = np.full(n, 0.01), np.full(n, 0.03), np.full(n, 0.01)
    bx = np.column_stack([g1 + rng.normal(0, s1), g2 + rng.normal(0, s2)])
    by = 0.3 * g1 + 0.6 * g2 + rng.normal(0, sy)
    return bx, by, np.column_stack([s1, s2]), sy


def test_qhet_is_unbiased_where_ivw_mvmr_is_diluted_by_weak_instruments():
    """25 seeded replicates (50 SNPs, direct effects 0.3 and 0.6; median conditional F 6.5 and 3.2):
    IVW-MVMR mean 0.376 and 0.424 (exposure 2 diluted by ~30 %; CIs cover 10/25 and 2/25), Q-het
    mean 0.287 and 0.610 (SE of the mean 0.007 / 0.013), its jackknife CIs covering 25/25 and 24/25."""
    truth = np.array([0.3, 0.6])
    ivw, qhet, cond_f, cover_q, cover_i = [], [], [], [], []
    for seed in range(25):
        bx, by, sx, sy = _weak_second(seed)
        i, q = mvmr_ivw(bx, by, sx, sy), mvmr_qhet(bx, by, sx, sy)
        ivw.append(i.beta)
        qhet.append(q.beta)
        cond_f.append(mvmr_conditional_f(bx, sx))
        cover_q.append((np.array(q.ci_lower) <= truth) & (truth <= np.array(q.ci_upper)))
        cover_i.append(i.ci_lower[1] <= truth[1] <= i.ci_upper[1])
    ivw, qhet = np.mean(ivw, axis=0), np.mean(qhet, axis=0)
    assert 2 < np.median(cond_f, axis=0)[1] < 4.5
    assert ivw[1] < 0.5 and np.mean(cover_i) < 0.3  # diluted
    assert np.all(np.abs(qhet - truth) < 0.04), qhet
    assert np.all(np.mean(cover_q, axis=0) >= 0.85)


def test_qhet_bad_inputs():
    bx, by, sx, sy = _small()
    with pytest.raises(InputError, match="mvmr_qhet/pcor"):
        mvmr_qhet(bx, by, sx, sy, pcor=[[1, 0.2], [0.3, 1]])  # not symmetric
    with pytest.raises(InputError, match="mvmr_qhet/pcor"):
        mvmr_qhet(bx, by, sx, sy, pcor=[[1, 1.5], [1.5, 1]])
    with pytest.raises(InputError, match="mvmr_qhet/pcor"):
        mvmr_qhet(bx, by, sx, sy, pcor=[0.1, 0.2])  # 3 exposures' triangle for 2
    with pytest.raises(InputError, match="mvmr_qhet/b_exp"):
        mvmr_qhet(bx[:, 0], by, sx[:, 0], sy)
    with pytest.raises(InputError, match="mvmr_qhet_objective/beta"):
        mvmr_qhet_objective(bx, by, sx, sy, [0.1])
    with pytest.raises(InputError, match="mvmr_qhet_objective/beta"):
        mvmr_qhet_objective(bx, by, sx, sy, [0.1, np.nan])
    r = mvmr_qhet(bx[:3], by[:3], sx[:3], sy[:3])  # too few SNPs for the jackknife
    assert r.nsnp == 3 and np.isnan(r.beta).all()
    bx2 = bx.copy()
    bx2[0, 1] = np.nan  # a SNP with a missing effect is left out
    assert mvmr_qhet(bx2, by, sx, sy).nsnp == len(by) - 1


def test_instruments_come_from_variants_every_study_has():
    """An exposure's instrument absent from another exposure's or the outcome's GWAS would be dropped
    at harmonisation (with the loci clumped to it); shared_variants selects among the common ones."""
    from bma_genetics.mr.mvmr import run_mvmr_analysis

    rng = np.random.default_rng(9)
    m = 40
    rsids = [f"rs{i + 1}" for i in range(m)]
    a1, a2 = rng.normal(0, 0.05, m), rng.normal(0, 0.05, m)
    ea, oa = np.array(["A"] * m), np.array(["G"] * m)
    e1 = _sumstats(rsids, a1 + rng.normal(0, 0.003, m), 0.003, ea, oa)
    e2 = _sumstats(rsids, a2 + rng.normal(0, 0.003, m), 0.003, ea, oa).iloc[5:]   # rs1-5 missing
    y = _sumstats(rsids, 0.5 * a1 - 0.4 * a2 + rng.normal(0, 0.004, m), 0.004, ea, oa).iloc[:-5]  # rs36-40 missing
    kw = {"exposures": {"x1": e1, "x2": e2}, "outcome": y, "unclumped": True, "p_threshold": 1e-3}
    shared = run_mvmr_analysis(None, **kw)
    assert shared.report["shared_variants"] == 30
    assert shared.report["n_instruments"] == shared.report["nsnp"] <= 30
    every = run_mvmr_analysis(None, **kw, shared_variants=False)
    assert every.report["shared_variants"] is None and every.report["n_instruments"] > every.report["nsnp"]
    with pytest.raises(InputError, match="run_mvmr_analysis/shared_variants"):
        run_mvmr_analysis(None, **kw, shared_variants="yes")


def test_shared_variants_by_rsid_when_one_study_has_no_positions():
    """A METAL / rsid-only exposure (position columns present but empty) must not empty the common
    set: presence is then keyed by rsid for every study."""
    from bma_genetics.mr.mvmr import run_mvmr_analysis

    rng = np.random.default_rng(9)
    m = 40
    rsids = [f"rs{i + 1}" for i in range(m)]
    a1, a2 = rng.normal(0, 0.05, m), rng.normal(0, 0.05, m)
    ea, oa = np.array(["A"] * m), np.array(["G"] * m)
    e1 = _sumstats(rsids, a1 + rng.normal(0, 0.003, m), 0.003, ea, oa)
    e2 = _sumstats(rsids, a2 + rng.normal(0, 0.003, m), 0.003, ea, oa).iloc[5:]   # rs1-5 missing
    e2 = e2.assign(chromosome=np.nan, base_pair_location=np.nan)                  # METAL: rsids only
    y = _sumstats(rsids, 0.5 * a1 - 0.4 * a2 + rng.normal(0, 0.004, m), 0.004, ea, oa).iloc[:-5]
    res = run_mvmr_analysis(None, exposures={"x1": e1, "x2": e2}, outcome=y, unclumped=True, p_threshold=1e-3)
    assert res.report["shared_variants"] == 30
    assert 0 < res.report["nsnp"] <= 30
    assert res.report["mvmr_ivw"]["x1"]["beta"] == pytest.approx(0.5, abs=0.1)


def test_stage_mvmr_section_rejects_a_bad_pcor_before_any_work():
    from bma_genetics.mr.stage import _run_mvmr

    with pytest.raises(InputError, match=r"mr/mvmr.pcor: .*1.5"):
        _run_mvmr(None, {"traits": None, "exposures": ["outcome_gwas/bmd.tsv.gz"], "pcor": [1.5]}, {}, ["bmff"],
                  None, None, {}, None, None, None, [])


def test_stage_mvmr_section_refuses_an_empty_pcor():
    """``pcor: []`` must not silently mean independent samples."""
    from bma_genetics.mr.stage import _run_mvmr

    with pytest.raises(InputError, match=r"mr/mvmr.pcor: an empty list"):
        _run_mvmr(None, {"traits": None, "exposures": ["outcome_gwas/bmd.tsv.gz"], "pcor": []}, {}, ["bmff"],
                  None, None, {}, None, None, None, [])


def test_qhet_jackknife_leaves_out_refits_that_did_not_converge(monkeypatch, caplog):
    """Delete-one refits whose minimisation fails are counted, logged and left out of the
    jackknife; beyond 10 % failed the SEs are NaN."""
    import bma_genetics.mr.mvmr as M

    bx, by, sx, sy = _small(seed=5, n=30)
    ref = M.mvmr_qhet(bx, by, sx, sy)
    real = M._qhet_fit
    calls = []

    def flaky(fail_on):
        def fit(*a, **k):
            calls.append(1)
            beta, q, ok = real(*a, **k)
            if len(calls) - 1 in fail_on:  # call 0 is the full fit
                return beta + 100.0, q, False
            return beta, q, ok
        return fit

    monkeypatch.setattr(M, "_qhet_fit", flaky({3}))
    with caplog.at_level("WARNING", logger=M.log.name):
        one = M.mvmr_qhet(bx, by, sx, sy)
    assert "1 of 30 jackknife refits did not converge" in caplog.text
    assert one.beta == ref.beta
    assert np.all(np.isfinite(one.standard_error))
    assert np.allclose(one.standard_error, ref.standard_error, rtol=0.2)   # not blown up by the +100 refit
    calls.clear()
    monkeypatch.setattr(M, "_qhet_fit", flaky(set(range(1, 8))))
    many = M.mvmr_qhet(bx, by, sx, sy)
    assert np.all(np.isnan(many.standard_error)) and np.all(np.isnan(many.p_value))

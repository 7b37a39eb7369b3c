"""GWAS on chrX (plink2's ``--xchr-model 2``) and from VCF input, against plink2, numpy and PLINK.

Data: 500 people (half male) x 120 chr1 + 160 chrX variants, written by the test as PLINK 1 with
the sex in the .fam. Males are hemizygous on chrX and coded 0/2 (the documented choice:
plink2's default ``--xchr-model 2``, UK Biobank's imputed BGEN). The same genotypes are written
as VCF with haploid male calls on chrX (plain text, BGZF, ordinary gzip; GT and/or DS).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tests._genotypes import write_bed, write_vcf

N, M_AUTO, M_X = 500, 120, 160
TRAITS = ["q1", "q2"]
COVS = ["age", "pc1"]  # sex is not a covariate: on chrX both tools add it
CAUSAL_X = 40  # index among the chrX variants of the planted variant of "huge"


@pytest.fixture(scope="module")
def xdata(hail_context, tmp_path_factory):
    d = tmp_path_factory.mktemp("gwas_chrx")
    rng = np.random.default_rng(23)
    male = rng.random(N) < 0.5
    f_auto = rng.uniform(0.05, 0.5, M_AUTO)
    f_x = rng.uniform(0.05, 0.5, M_X)
    auto = rng.binomial(2, f_auto[:, None], size=(M_AUTO, N))
    # chrX: females diploid (0/1/2), males hemizygous (one copy) coded 0/2
    xd = np.where(male[None, :], 2 * rng.binomial(1, f_x[:, None], size=(M_X, N)),
                  rng.binomial(2, f_x[:, None], size=(M_X, N)))
    dose = np.vstack([auto, xd])
    chrom = np.array(["1"] * M_AUTO + ["X"] * M_X)
    pos = np.r_[np.arange(1, M_AUTO + 1) * 1000, 2_700_000 + np.arange(1, M_X + 1) * 1000]
    a1 = rng.choice(list("ACGT"), len(pos))
    a2 = np.array([{"A": "G", "C": "T", "G": "A", "T": "C"}[x] for x in a1])
    eids = [str(200001 + i) for i in range(N)]
    write_bed(d / "geno", dose, chrom, pos, eids, a1, a2, sex=np.where(male, 1, 2))
    # the same genotypes as VCF: REF = A2, ALT = A1 (the allele the dosage counts)
    vcfs = {
        "plain_gt": write_vcf(d / "geno.vcf", dose, chrom, pos, eids, a2, a1, males=male, fields=("GT",)),
        "bgzf_gt_ds": write_vcf(d / "geno_ds.vcf.gz", dose, chrom, pos, eids, a2, a1, males=male,
                                fields=("GT", "DS"), compression="bgzf"),
        "gzip_gt": write_vcf(d / "geno_gz.vcf.gz", dose, chrom, pos, eids, a2, a1, males=male, fields=("GT",),
                             compression="gzip"),
    }
    xc = xd[CAUSAL_X].astype(float)
    ph = pd.DataFrame({"eid": eids, "age": rng.normal(60, 7, N), "sex": male.astype(float), "pc1": rng.normal(size=N)})
    # a sex effect, so leaving sex out on chrX would move every chrX beta
    ph["q1"] = 0.6 * ph["sex"] + 0.02 * ph["age"] + 0.35 * (xc - xc.mean()) + rng.normal(size=N)
    ph["q2"] = 0.4 * ph["sex"] + rng.normal(size=N)
    ph.loc[rng.choice(N, 60, replace=False), "q2"] = np.nan
    ph["huge"] = 0.5 * ph["sex"] + 3.0 * xc + rng.normal(scale=0.02, size=N)
    return {"dir": d, "pheno": ph, "dose": dose, "chrom": chrom, "pos": pos, "male": male, "vcfs": vcfs}


@pytest.fixture(scope="module")
def gwas_plink(xdata):
    from bma_genetics.gwas import read_genotypes, run_gwas

    mt = read_genotypes(bfile=xdata["dir"] / "geno")
    return run_gwas(mt, xdata["pheno"], traits=[*TRAITS, "huge"], covariates=COVS, strata=["sex"],
                    chunk_by="all", chromosomes=["1", "X"])


@pytest.fixture(scope="module")
def plink2_x(xdata):
    from benchmarks.gwas_vs_plink2 import run_plink2_glm
    from benchmarks.peers import PeerUnavailable

    try:
        res, _ = run_plink2_glm(["--bfile", str(xdata["dir"] / "geno")], xdata["pheno"], TRAITS, COVS,
                                xdata["dir"] / "plink2")
    except PeerUnavailable as exc:
        pytest.skip(f"plink2 cannot be obtained here: {exc}")
    return res


def _rel(a, b):
    return np.abs(np.asarray(a, float) - np.asarray(b, float)) / np.abs(np.asarray(b, float))


@pytest.mark.peer
@pytest.mark.parametrize("trait", TRAITS)
def test_chrx_equals_plink2_glm(gwas_plink, plink2_x, trait):
    """chrX and chr1: beta/SE/T equal plink2 ``--glm`` (default ``--xchr-model 2``: males 0/2, sex
    added as a covariate on chrX) to every digit plink2 prints (6 significant: <= 5e-6 relative),
    P to 1e-4 relative, OBS_CT equal."""
    ours = gwas_plink.sumstats[trait]
    m = ours.merge(plink2_x[trait], left_on=["chromosome", "base_pair_location"], right_on=["#CHROM", "POS"])
    assert (m["effect_allele"] == m["A1"]).all()
    assert (m["chromosome"] == "X").sum() == M_X and (m["chromosome"] == "1").sum() == M_AUTO
    assert (m["n"] == m["OBS_CT"]).all()
    for ours_col, theirs in [("beta", "BETA"), ("standard_error", "SE"), ("t_statistic", "T_STAT")]:
        half_ulp = 0.5 * 10.0 ** (np.floor(np.log10(np.abs(m[theirs]))) - 5)  # plink2's %g rounding
        assert (np.abs(m[ours_col] - m[theirs]) <= half_ulp * 1.001).all(), ours_col
        assert _rel(m[ours_col], m[theirs]).max() <= 5.0001e-6, ours_col
    assert _rel(m["p_value"], m["P"]).max() <= 1e-4


def _ols(y, x, cov):
    X = np.column_stack([x, cov])
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    resid = y - X @ beta
    dof = len(y) - X.shape[1]
    se = np.sqrt(resid @ resid / dof * np.linalg.inv(X.T @ X)[0, 0])
    return beta[0], se, 2 * stats.t.sf(abs(beta[0] / se), dof), dof


@pytest.mark.parametrize(("trait", "stratum"), [("q1", "all"), ("q2", "all"), ("q1", "male"), ("q2", "female")])
def test_chrx_equals_numpy_ols(xdata, gwas_plink, trait, stratum):
    """Every variant: beta/SE equal a numpy least-squares fit to 1e-6 relative, P to 1e-4.
    Design: dosage (males 0/2 on chrX), intercept, age, pc1, plus sex on chrX in the whole sample;
    in a sex stratum nothing is added."""
    ph = xdata["pheno"]
    keep = ph[trait].notna().to_numpy()
    if stratum != "all":
        keep &= xdata["male"] == (stratum == "male")
    label = trait if stratum == "all" else f"{trait}.{stratum}"
    ss = gwas_plink.sumstats[label].set_index(["chromosome", "base_pair_location"])
    y = ph[trait].to_numpy()[keep]
    base = np.column_stack([np.ones(keep.sum()), ph[COVS].to_numpy()[keep]])
    worst = {"beta": 0.0, "se": 0.0}
    checked = {"1": 0, "X": 0}
    for j in range(len(xdata["pos"])):
        c = xdata["chrom"][j]
        x = xdata["dose"][j, keep].astype(float)
        if x.std() == 0:
            continue
        cov = np.column_stack([base, ph["sex"].to_numpy()[keep]]) if (c == "X" and stratum == "all") else base
        beta, se, p, _ = _ols(y, x, cov)
        row = ss.loc[(c, int(xdata["pos"][j]))]
        worst["beta"] = max(worst["beta"], abs(row["beta"] - beta) / abs(beta))
        worst["se"] = max(worst["se"], abs(row["standard_error"] - se) / se)
        assert row["p_value"] == pytest.approx(p, rel=1e-4)
        checked[c] += 1
    assert worst["beta"] <= 1e-6 and worst["se"] <= 1e-6, worst
    assert checked["1"] >= 0.9 * M_AUTO and checked["X"] >= 0.9 * M_X


def _mp_neg_log10_p(t: float, df: int) -> float:
    """-log10 of the two-sided Student-t P at 60 digits (mpmath): P = I_x(df/2, 1/2), x = df/(df+t^2)."""
    mpmath = pytest.importorskip("mpmath")
    with mpmath.workdps(60):
        x = mpmath.mpf(df) / (df + mpmath.mpf(t) ** 2)
        return float(-mpmath.log10(mpmath.betainc(mpmath.mpf(df) / 2, mpmath.mpf(1) / 2, 0, x, regularized=True)))


@pytest.mark.parametrize(("t", "df"), [(2.5, 10), (50.0, 495), (300.0, 495), (3000.0, 495), (40.0, 500_000),
                                       (1e6, 20)])
def test_t_logsf_beyond_float_underflow(t, df):
    """The t tail in logs equals mpmath to 1e-12 relative where scipy's ``t.logsf`` is -inf
    (|t| = 300 at df 495, 40 at df 500,000) and where it is finite."""
    from bma_genetics.stats import t_logsf

    got = -(t_logsf(t, df) + np.log(2)) / np.log(10)
    assert np.isfinite(got)
    assert got == pytest.approx(_mp_neg_log10_p(t, df), rel=1e-12)


def test_chrx_exact_tiny_p_counts_the_added_sex_covariate(xdata, gwas_plink):
    """P far below 1e-300 on chrX: -log10 P is finite and equals the exact t tail (mpmath) with
    n - 5 residual df (intercept, age, pc1, sex added on chrX, the dosage), as Hail's own P uses."""
    ss = gwas_plink.sumstats["huge"]
    top = ss.loc[ss["neg_log_10_p_value"].idxmax()]
    assert (top["chromosome"], top["base_pair_location"]) == ("X", int(xdata["pos"][M_AUTO + CAUSAL_X]))
    assert np.isfinite(top["neg_log_10_p_value"]) and top["neg_log_10_p_value"] > 300
    dof = int(top["n"]) - len(COVS) - 3
    assert top["neg_log_10_p_value"] == pytest.approx(_mp_neg_log10_p(abs(top["t_statistic"]), dof), rel=1e-10)
    assert np.isfinite(ss["neg_log_10_p_value"]).all()
    # the moderate-P rows keep Hail's P exactly
    mid = ss[(ss["chromosome"] == "X") & (ss["p_value"] > 1e-200)]
    np.testing.assert_allclose(mid["neg_log_10_p_value"], -np.log10(mid["p_value"]), rtol=1e-12)


# --------------------------------------------------------------------------------------- VCF
@pytest.mark.parametrize("route", ["plain_gt", "bgzf_gt_ds", "gzip_gt"])
def test_vcf_dosages_equal_plink(xdata, route):
    """Plain, BGZF and ordinary-gzip VCFs (GT, GT:DS) read to the PLINK dosages, alleles, ids and
    sample order; haploid male chrX calls become 0/2 as in the PLINK route."""
    from bma_genetics.gwas import read_genotypes

    v = read_genotypes(vcf=xdata["vcfs"][route])
    p = read_genotypes(bfile=xdata["dir"] / "geno")
    assert v.s.collect() == p.s.collect()
    rv, rp = v.rows().to_pandas(), p.rows().to_pandas()
    assert rv["locus"].astype(str).tolist() == rp["locus"].astype(str).tolist()
    assert [list(a) for a in rv["alleles"]] == [list(a) for a in rp["alleles"]]
    assert rv["varid"].tolist() == rp["varid"].tolist()
    dv = np.array(v.dosage.collect(), float).reshape(len(rv), N)
    dp = np.array(p.dosage.collect(), float).reshape(len(rp), N)
    np.testing.assert_array_equal(dv, dp)
    np.testing.assert_array_equal(dv, xdata["dose"])


def test_vcf_ds_only_taken_as_given(xdata, tmp_path):
    """A DS-only VCF (no GT to show ploidy) is read as given: autosomal dosages equal PLINK's."""
    from bma_genetics.gwas import read_genotypes

    auto = slice(0, M_AUTO)
    path = write_vcf(tmp_path / "ds.vcf", xdata["dose"][auto], xdata["chrom"][auto], xdata["pos"][auto],
                     xdata["pheno"]["eid"].tolist(), ["A"] * M_AUTO, ["C"] * M_AUTO, fields=("DS",))
    v = read_genotypes(vcf=path)
    np.testing.assert_array_equal(np.array(v.dosage.collect(), float).reshape(M_AUTO, N), xdata["dose"][auto])


def test_vcf_association_equals_plink_route(xdata, gwas_plink):
    """run_gwas from the BGZF GT:DS VCF equals the PLINK route (beta/SE/P to 1e-10 relative, n,
    alleles, variant ids), on chr1 and chrX, whole sample and strata."""
    from bma_genetics.gwas import read_genotypes, run_gwas

    mt = read_genotypes(vcf=xdata["vcfs"]["bgzf_gt_ds"])
    res = run_gwas(mt, xdata["pheno"], traits=TRAITS, covariates=COVS, strata=["sex"], chunk_by="all",
                   chromosomes=["1", "X"])
    for label in ["q1", "q2", "q1.male", "q2.female"]:
        a = res.sumstats[label].sort_values(["chromosome", "base_pair_location"]).reset_index(drop=True)
        b = gwas_plink.sumstats[label].sort_values(["chromosome", "base_pair_location"]).reset_index(drop=True)
        assert len(a) == len(b) == M_AUTO + M_X
        for col in ["chromosome", "base_pair_location", "effect_allele", "other_allele", "variant_id", "n"]:
            assert (a[col] == b[col]).all(), col
        for col in ["beta", "standard_error", "p_value", "effect_allele_frequency"]:
            np.testing.assert_allclose(a[col], b[col], rtol=1e-10, err_msg=f"{label} {col}")


def test_projection_engine_on_chrx_strata_and_missingness(xdata, gwas_plink, caplog):
    """``linear_engine='projection'`` gives the per-group passes' results (which equal plink2 and
    numpy above) on chr1 and on chrX outside PAR, where sex is added to the whole-sample analyses
    and not to the sex strata, with trait q2 missing for 60 people: SE, t and -log10 P to 1e-6
    relative, beta to 1e-6 SE, EAF to 1e-9 (tests/_engines.py); both passes ran the projection."""
    import logging

    from bma_genetics.gwas import read_genotypes, run_gwas
    from tests._engines import assert_engines_agree

    mt = read_genotypes(bfile=xdata["dir"] / "geno")
    with caplog.at_level(logging.INFO, logger="bma_genetics.gwas.association"):
        new = run_gwas(mt, xdata["pheno"], traits=[*TRAITS, "huge"], covariates=COVS, strata=["sex"],
                       chunk_by="all", chromosomes=["1", "X"], linear_engine="projection")
    assert "chromosome(s) 1: projection engine" in caplog.text
    assert "chromosome(s) X: projection engine" in caplog.text
    assert assert_engines_agree(new.sumstats, gwas_plink.sumstats, where="chrX") >= 6 * (M_AUTO + M_X) * 0.9


def test_projection_falls_back_where_the_added_sex_is_missing():
    """chrX's added sex undefined for someone an analysis keeps: the projection cannot fit that
    pass (it would keep the person, Hail's per-group regression drops them), so run_gwas runs the
    per-group passes there and says why; with every covariate defined the projection applies.
    A pass of fewer than PROJECTION_MIN_VARIANTS variants runs the per-group passes too."""
    from bma_genetics.gwas.association import projection_fallback

    class A:  # the fields of an Analysis the check reads
        def __init__(self, column, samples):
            self.column, self.label, self.samples = column, column, samples

    frame = pd.DataFrame({"cov__age": [50.0, 60, 70, 80], "cov__sex": [0.0, 1, np.nan, 1]})
    whole, females = A("q", np.array([True, True, True, True])), A("q_f", np.array([True, False, False, False]))
    assert projection_fallback(frame, [whole], {"q": ("age",)}) is None
    why = projection_fallback(frame, [females, whole], {"q_f": ("age",), "q": ("age", "sex")})
    assert why is not None and "'sex'" in why and "1 of the 4 samples of q" in why
    assert projection_fallback(frame, [females], {"q_f": ("age", "sex")}) is None
    # a pass too small for the projection's fixed cost (when run_gwas counted its variants)
    assert "933 variants" in projection_fallback(frame, [whole], {"q": ("age",)}, n_variants=933)
    assert projection_fallback(frame, [whole], {"q": ("age",)}, n_variants=60_063) is None

"""GWAS association on Hail: equality with plink2 --glm and a closed form, calibration, recovery, errors.

Data: a small Hail-simulated cohort (Balding-Nichols, 600 samples x 1,500 variants on two
chromosomes), exported to PLINK (hard calls: exact for both tools) and BGEN. One run_gwas call
covers 4 null traits, a causal trait, a trait with missing values, a trait with P < 1e-300 and
sex strata; plink2 runs once on the same files.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from bma_genetics.errors import InputError
from tests._genotypes import write_random_bed

N, M = 600, 1500
NULL_TRAITS = ["null1", "null2", "null3", "null4"]
CAUSAL = ("1", 200)  # chromosome, position of the planted variant


@pytest.fixture(scope="module")
def sim(hail_context, tmp_path_factory):
    hl = hail_context
    d = tmp_path_factory.mktemp("gwas_sim")
    rng = np.random.default_rng(11)
    dose, chrom, pos, eids, a1, a2 = write_random_bed(d / "geno", rng, N, M, maf=(0.05, 0.5), spacing=100,
                                                      first_id=100001)
    mt = hl.import_plink(bed=str(d / "geno.bed"), bim=str(d / "geno.bim"), fam=str(d / "geno.fam"),
                         reference_genome="GRCh37")
    gp = hl.switch(mt.GT.n_alt_alleles()).when(0, [1.0, 0.0, 0.0]).when(1, [0.0, 1.0, 0.0]).default([0.0, 0.0, 1.0])
    mt = mt.annotate_entries(GP=gp)
    hl.export_bgen(mt, str(d / "geno"), varid=mt.rsid, rsid=mt.rsid)
    j = int(np.flatnonzero((chrom == CAUSAL[0]) & (pos == CAUSAL[1]))[0])
    causal_dose = dose[j].astype(float)
    ph = pd.DataFrame({"eid": eids, "age": rng.normal(60, 7, N), "sex": rng.integers(0, 2, N).astype(float),
                       "pc1": rng.normal(size=N)})
    for t in NULL_TRAITS:
        ph[t] = rng.normal(size=N) + 0.02 * ph["age"]
    ph["causal"] = 0.45 * (causal_dose - causal_dose.mean()) + rng.normal(size=N)
    ph["missing"] = rng.normal(size=N)
    ph.loc[rng.choice(N, 80, replace=False), "missing"] = np.nan
    ph["huge"] = 3.0 * causal_dose + rng.normal(scale=0.01, size=N)
    return {"dir": d, "pheno": ph, "dose": causal_dose}


TRAITS = [*NULL_TRAITS, "causal", "missing", "huge"]
COVS = ["age", "sex", "pc1"]


@pytest.fixture(scope="module")
def gwas(sim):
    from bma_genetics.gwas import read_genotypes, run_gwas

    mt = read_genotypes(bfile=sim["dir"] / "geno")
    withdrawn = {sim["pheno"]["eid"].iloc[-1]}
    return run_gwas(mt, sim["pheno"], traits=TRAITS, covariates=COVS, strata=["sex"],
                    out=sim["dir"] / "out", withdrawals=withdrawn, chunk_by="all", chromosomes=["1", "2"])


@pytest.fixture(scope="module")
def plink2(sim, gwas):
    from benchmarks.gwas_vs_plink2 import run_plink2_glm
    from benchmarks.peers import PeerUnavailable

    ph = sim["pheno"].iloc[:-1]  # the withdrawn participant
    try:
        res, _ = run_plink2_glm(["--bfile", str(sim["dir"] / "geno")], ph, TRAITS, COVS, sim["dir"] / "plink2")
    except PeerUnavailable as exc:
        pytest.skip(f"plink2 unavailable: {exc}")
    return res


def _aligned(ours: pd.DataFrame, plink: pd.DataFrame) -> pd.DataFrame:
    m = ours.merge(plink, left_on=["chromosome", "base_pair_location"], right_on=["#CHROM", "POS"])
    assert (m["effect_allele"] == m["A1"]).all()
    return m[np.isfinite(m["BETA"])]


@pytest.mark.peer
@pytest.mark.parametrize("trait", ["null1", "causal", "missing"])
def test_equals_plink2_glm(gwas, plink2, trait):
    """Beta/SE/T equal plink2 to every digit plink2 prints (6 significant: rel. <= 5e-6); P to 1e-4
    relative (plink2 computes its t tail with its own approximation)."""
    m = _aligned(gwas.sumstats[trait], plink2[trait])
    assert len(m) >= 0.95 * M
    assert (m["n"] == m["OBS_CT"]).all()
    for ours, theirs in [("beta", "BETA"), ("standard_error", "SE"), ("t_statistic", "T_STAT")]:
        half_ulp = 0.5 * 10.0 ** (np.floor(np.log10(np.abs(m[theirs]))) - 5)  # plink2's %g rounding
        assert (np.abs(m[ours] - m[theirs]) <= half_ulp * 1.001 + 1e-300).all(), ours
        assert np.max(np.abs(m[ours] - m[theirs]) / np.abs(m[theirs])) <= 5.0001e-6
    assert np.max(np.abs(m["p_value"] - m["P"]) / m["P"]) <= 1e-4
    np.testing.assert_allclose(m["effect_allele_frequency"], m["A1_FREQ"], rtol=5e-6, atol=1e-12)


@pytest.mark.peer
@pytest.mark.parametrize("trait", ["causal", "missing"])
def test_beta_equals_plink2_beyond_printed_digits(sim, gwas, trait, tmp_path):
    """plink2 prints 6 significant digits. To compare betas beyond them, plink2 regresses
    ``y - b_ours * x_j`` on the same covariates: by linearity its beta at variant j is then
    ``beta_plink2 - b_ours``, printed to 6 digits of that (tiny) difference. Over 40 variants the
    difference is <= 1e-6 of beta (the issue's tolerance; measured ~1e-10)."""
    from benchmarks.gwas_vs_plink2 import run_plink2_glm
    from benchmarks.peers import PeerUnavailable
    from bma_genetics.gwas import read_genotypes

    mt = read_genotypes(bfile=sim["dir"] / "geno")
    mt = mt.filter_rows(mt.locus.contig == "1").head(40)
    ids = mt.s.collect()
    positions = mt.locus.position.collect()
    dose = np.array(mt.dosage.collect(), dtype=float).reshape(-1, len(ids))
    ph = sim["pheno"].set_index("eid").loc[ids].drop(index=sim["pheno"]["eid"].iloc[-1])  # withdrawn
    dose = dose[:, [i for i, e in enumerate(ids) if e in ph.index]]
    ss = gwas.sumstats[trait].query("chromosome == '1'").set_index("base_pair_location")
    y = ph[trait].to_numpy()
    cols = {}
    for j, pos in enumerate(positions):
        if dose[j].std() > 0:
            cols[f"r{j}"] = y - ss.loc[pos, "beta"] * dose[j]
    table = pd.concat([ph[COVS].reset_index(), pd.DataFrame(cols)], axis=1)
    try:
        res, _ = run_plink2_glm(["--bfile", str(sim["dir"] / "geno")], table, list(cols), COVS, tmp_path,
                                extra=("--chr", "1", "--to-bp", str(max(positions))))
    except PeerUnavailable as exc:
        pytest.skip(f"plink2 unavailable: {exc}")
    worst = 0.0
    for name in cols:
        j = int(name[1:])
        row = res[name].set_index("POS").loc[positions[j]]
        b = ss.loc[positions[j], "beta"]
        assert row["A1"] == ss.loc[positions[j], "effect_allele"]
        worst = max(worst, abs(row["BETA"]) / abs(b))
    assert len(cols) >= 30
    assert worst <= 1e-6, worst


def test_equals_closed_form_ols(sim, gwas):
    """Beta/SE/P equal a numpy least-squares fit per variant to 1e-6 relative (P to 1e-4)."""
    from bma_genetics.gwas import read_genotypes

    mt = read_genotypes(bfile=sim["dir"] / "geno")
    mt = mt.filter_rows(mt.locus.contig == "1").head(40)
    ids = mt.s.collect()
    dose = np.array(mt.dosage.collect(), dtype=float).reshape(-1, len(ids))
    ph = sim["pheno"].set_index("eid").loc[ids]
    keep = ph["missing"].notna().to_numpy() & (ph.index != sim["pheno"]["eid"].iloc[-1])
    ss = gwas.sumstats["missing"].query("chromosome == '1'").set_index("base_pair_location")
    y = ph["missing"].to_numpy()[keep]
    cov = np.column_stack([np.ones(keep.sum()), ph[COVS].to_numpy()[keep]])
    checked = 0
    for j, pos in enumerate(mt.locus.position.collect()):
        x = dose[j, keep]
        if x.std() == 0:
            continue
        X = np.column_stack([x, cov])
        beta, *_ = np.linalg.lstsq(X, y, rcond=None)
        resid = y - X @ beta
        dof = len(y) - X.shape[1]
        se = np.sqrt(resid @ resid / dof * np.linalg.inv(X.T @ X)[0, 0])
        p = 2 * stats.t.sf(abs(beta[0] / se), dof)
        row = ss.loc[pos]
        assert row["beta"] == pytest.approx(beta[0], rel=1e-6)
        assert row["standard_error"] == pytest.approx(se, rel=1e-6)
        assert row["p_value"] == pytest.approx(p, rel=1e-4)
        checked += 1
    assert checked >= 30


def test_exact_tiny_p(gwas):
    """P below 1e-300 kept exact via -log10 P from the t statistic."""
    ss = gwas.sumstats["huge"]
    top = ss.loc[ss["neg_log_10_p_value"].idxmax()]
    assert (top["chromosome"], top["base_pair_location"]) == CAUSAL
    assert np.isfinite(top["neg_log_10_p_value"]) and top["neg_log_10_p_value"] > 300
    dof = int(top["n"]) - len(COVS) - 2
    # the exact two-sided tail at 60 digits (scipy's t.logsf is -inf this far out)
    mpmath = pytest.importorskip("mpmath")
    with mpmath.workdps(60):
        x = mpmath.mpf(dof) / (dof + mpmath.mpf(float(top["t_statistic"])) ** 2)
        expect = float(-mpmath.log10(mpmath.betainc(mpmath.mpf(dof) / 2, mpmath.mpf(1) / 2, 0, x, regularized=True)))
    assert top["neg_log_10_p_value"] == pytest.approx(expect, rel=1e-10)
    from bma_genetics.io import read_sumstats

    back = read_sumstats(gwas.files["huge"])
    assert back["neg_log_10_p_value"].max() == pytest.approx(top["neg_log_10_p_value"], rel=1e-9)


def test_null_calibration(gwas):
    """Null traits: lambda GC within 0.85-1.15 each (1,500 independent variants: SD ~0.05) and
    mean within 0.92-1.08; the share of P < 0.05 within 0.035-0.065 (binomial, 6,000 tests)."""
    lams = [gwas.lambda_gc[t] for t in NULL_TRAITS]
    assert all(0.85 <= x <= 1.15 for x in lams), lams
    assert 0.92 <= np.mean(lams) <= 1.08, lams
    p = np.concatenate([gwas.sumstats[t]["p_value"].to_numpy() for t in NULL_TRAITS])
    assert 0.035 <= np.mean(p < 0.05) <= 0.065


def test_causal_recovered_and_strata(sim, gwas):
    ss = gwas.sumstats["causal"]
    top = ss.loc[ss["p_value"].idxmin()]
    assert (top["chromosome"], top["base_pair_location"]) == CAUSAL and top["p_value"] < 5e-8
    assert top["beta"] == pytest.approx(0.45, abs=0.15)
    # strata: separate result sets whose sizes add up; sex dropped from their covariates
    summ = gwas.to_frame().set_index(["trait", "stratum"])
    assert summ.loc[("causal", "female"), "n"] + summ.loc[("causal", "male"), "n"] == summ.loc[("causal", "all"), "n"]
    assert "sex" not in summ.loc[("causal", "male"), "covariates"].split(",")
    assert gwas.samples["withdrawn_removed"] == 1 and gwas.samples["analysed"] == N - 1
    assert (gwas.sumstats["missing"]["n"] == sim["pheno"].iloc[:-1]["missing"].notna().sum()).all()


def test_files(sim, gwas):
    from bma_genetics.io import read_gwas_ssf_metadata, read_sumstats

    out = sim["dir"] / "out"
    for label in ["causal", "causal.female", "causal.male", "null1"]:
        assert (out / f"{label}.tsv.gz").exists() and (out / f"{label}.tsv.gz-meta.yaml").exists()
    meta = read_gwas_ssf_metadata(out / "causal.male.tsv.gz")
    assert meta["sex"] == "M" and meta["samples"][0]["sample_size"] == gwas.to_frame().set_index(
        ["trait", "stratum"]).loc[("causal", "male"), "n"]
    back = read_sumstats(out / "causal.tsv.gz")
    np.testing.assert_allclose(back["beta"], gwas.sumstats["causal"]["beta"], rtol=1e-9)
    assert gwas.hail_tables and all(p.exists() for p in gwas.hail_tables)


def test_per_chromosome_resume(sim, gwas, caplog, tmp_path):
    """Per-chromosome chunks equal the one-pass results; a rerun resumes from the chunks."""
    import logging

    from bma_genetics.gwas import read_genotypes, run_gwas

    mt = read_genotypes(bfile=sim["dir"] / "geno")
    kw = dict(traits=["null2"], covariates=COVS, out=tmp_path, withdrawals={sim["pheno"]["eid"].iloc[-1]})
    first = run_gwas(mt, sim["pheno"], **kw)
    assert sorted(p.name for p in (tmp_path / "chunks").glob("*.parquet")) == ["chr1.parquet", "chr2.parquet"]
    np.testing.assert_allclose(first.sumstats["null2"]["beta"], gwas.sumstats["null2"]["beta"], rtol=1e-10)
    with caplog.at_level(logging.INFO, logger="bma_genetics"):
        again = run_gwas(mt, sim["pheno"], chromosomes=["1", "2"], **kw)
    assert caplog.text.count("resumed") == 2
    np.testing.assert_allclose(again.sumstats["null2"]["beta"], first.sumstats["null2"]["beta"])


def test_bgen_read_only_dir_matches_plink(sim, tmp_path):
    """BGEN from a read-only folder (index in a cache dir) gives the PLINK dosages."""
    import os
    import shutil

    from bma_genetics.gwas import read_genotypes

    src = tmp_path / "ro"
    src.mkdir()
    for ext in (".bgen", ".sample"):
        shutil.copy(sim["dir"] / f"geno{ext}", src / f"geno{ext}")
    os.chmod(src, 0o555)
    try:
        b = read_genotypes(bgen=src / "geno.bgen", index_dir=tmp_path / "idx")
        p = read_genotypes(bfile=sim["dir"] / "geno")
        b = b.filter_rows(b.locus.contig == "2").head(25)
        p = p.filter_rows(p.locus.contig == "2").head(25)
        assert b.s.collect() == p.s.collect()
        assert b.alleles.collect() == p.alleles.collect()
        np.testing.assert_allclose(np.array(b.dosage.collect(), float), np.array(p.dosage.collect(), float), atol=1e-9)
        assert list((tmp_path / "idx").glob("*.idx2"))
    finally:
        os.chmod(src, 0o755)


# ----------------------------------------------------------------------------------- errors
def test_error_no_overlapping_samples(sim):
    from bma_genetics.gwas import read_genotypes, run_gwas

    mt = read_genotypes(bfile=sim["dir"] / "geno")
    ph = sim["pheno"].assign(eid=lambda d: "X" + d["eid"])
    with pytest.raises(InputError, match="no overlapping samples"):
        run_gwas(mt, ph, traits=["null1"], covariates=COVS)


def test_error_constant_trait_and_collinear_covariates(sim):
    from bma_genetics.gwas.association import plan_analyses

    ph = sim["pheno"].assign(flat=1.0, age2x=lambda d: 2 * d["age"] + 1)
    with pytest.raises(InputError, match="trait 'flat' is constant"):
        plan_analyses(ph, traits=["flat"], covariates=COVS)
    with pytest.raises(InputError, match=r"collinear.*age2x"):
        plan_analyses(ph, traits=["null1"], covariates=[*COVS, "age2x"])
    with pytest.raises(InputError, match="covariate 'one' is constant"):
        plan_analyses(ph.assign(one=1.0), traits=["null1"], covariates=["one"])
    # inside a sex stratum the constant/collinear covariates are dropped, not an error
    analyses, _ = plan_analyses(ph.assign(age_sex=ph["age"] * ph["sex"]), traits=["null1"],
                                covariates=["age", "sex", "age_sex"], strata=["sex"])
    male = next(a for a in analyses if a.stratum == "male")
    assert male.covariates == ("age",) and set(male.dropped_covariates) == {"sex", "age_sex"}


def test_error_missing_chromosome_file_and_bgen_without_sample(sim, tmp_path):
    from bma_genetics.gwas import read_genotypes

    with pytest.raises(InputError, match=r"missing chromosome file.*_c3"):
        read_genotypes(bgen=str(tmp_path / "ukb22828_c{chrom}_b0_v3.bgen"), chromosomes=["3"])
    # the same BGEN with the "sample identifiers stored" flag cleared, and no .sample beside it
    raw = bytearray((sim["dir"] / "geno.bgen").read_bytes())
    header_len = int.from_bytes(raw[4:8], "little")
    flags = int.from_bytes(raw[header_len:header_len + 4], "little") & 0x7FFFFFFF
    raw[header_len:header_len + 4] = flags.to_bytes(4, "little")
    (tmp_path / "nosample.bgen").write_bytes(bytes(raw))
    with pytest.raises(InputError, match="no sample identifiers and no sample file"):
        read_genotypes(bgen=tmp_path / "nosample.bgen", index_dir=tmp_path / "idx")


def test_rank_inverse_normal_closed_form():
    from bma_genetics.gwas.association import rank_inverse_normal

    x = np.array([3.0, 1.0, np.nan, 2.0, 10.0])
    out = rank_inverse_normal(x)
    n = 4
    expect = stats.norm.ppf((np.array([3, 1, 2, 4]) - 0.375) / (n + 0.25))
    np.testing.assert_allclose(out[[0, 1, 3, 4]], expect, rtol=1e-12)
    assert np.isnan(out[2])


@pytest.mark.peer
def test_firth_equals_plink2(sim, hail_context, tmp_path):
    """Binary trait, ``firth="always"``: Firth logistic betas equal plink2 ``--glm firth`` within 1e-3 of plink2's SE
    (both iterate to a convergence tolerance; observed max 3e-4 SE, median relative < 1e-4). SE differ by design (ours from the
    likelihood-ratio chi-square, plink2's Wald), so only beta and the P ordering are compared."""
    from benchmarks.gwas_vs_plink2 import run_plink2_glm
    from benchmarks.peers import PeerUnavailable
    from bma_genetics.gwas import read_genotypes, run_gwas

    ph = sim["pheno"].copy()
    rng = np.random.default_rng(9)
    ph["cc"] = (rng.random(len(ph)) < 1 / (1 + np.exp(-(-1.5 + 0.8 * sim["dose"])))).astype(float)
    mt = read_genotypes(bfile=sim["dir"] / "geno")
    mt = mt.filter_rows(mt.locus.contig == "1")
    res = run_gwas(mt, ph, traits=["cc"], covariates=["age", "pc1"], chunk_by="all", chromosomes=["1"],
                   firth="always")
    try:
        pl, _ = run_plink2_glm(["--bfile", str(sim["dir"] / "geno"), "--chr", "1"], ph, ["cc"], ["age", "pc1"],
                               tmp_path, modifiers=("firth",), extra=("--1",))
    except PeerUnavailable as exc:
        pytest.skip(f"plink2 unavailable: {exc}")
    m = _aligned(res.sumstats["cc"], pl["cc"])
    assert len(m) >= 0.95 * (M // 2)
    d = np.abs(m["beta"] - m["BETA"])
    # both fits stop at a convergence tolerance: agree to 1e-3 of plink2's SE (observed 3e-4)
    assert (d <= 1e-3 * m["SE"]).all()
    assert np.median(d / np.abs(m["BETA"])) <= 1e-4
    top = res.sumstats["cc"].loc[res.sumstats["cc"]["p_value"].idxmin()]
    assert (top["chromosome"], top["base_pair_location"]) == CAUSAL
    assert stats.spearmanr(m["p_value"], m["P"]).statistic > 0.99


def test_projection_engine_equals_the_per_group_passes(sim, gwas, hail_context):
    """``linear_engine='projection'`` (one matrix product per block; each missingness group
    corrected exactly for its excluded samples: trait 'missing' lacks 80 people, the sex strata
    are their own families) gives the per-group passes' results (which equal plink2 above):
    SE and P to 1e-6 relative, beta to 1e-6 SE, t to 1e-6. Variants with a missing dosage are
    refitted by the per-group passes (Hail's mean imputation per group): equal as well."""
    from bma_genetics.gwas import read_genotypes, run_gwas

    hl = hail_context
    mt = read_genotypes(bfile=sim["dir"] / "geno")
    # a few missing dosages on chromosome 2's first variants (every 7th sample)
    mt = mt.add_col_index("_ci")
    mt = mt.annotate_entries(dosage=hl.or_missing(~((mt.locus.contig == "2") & (mt.locus.position <= 500)
                                                    & (mt._ci % 7 == 0)), mt.dosage))
    withdrawn = {sim["pheno"]["eid"].iloc[-1]}
    kw = dict(traits=TRAITS, covariates=COVS, strata=["sex"], withdrawals=withdrawn, chunk_by="all",
              chromosomes=["1", "2"])
    new = run_gwas(mt, sim["pheno"], linear_engine="projection", **kw)
    miss = run_gwas(mt.filter_rows(mt.locus.contig == "2"), sim["pheno"], **{**kw, "chromosomes": ["2"]})
    assert set(new.sumstats) == set(gwas.sumstats)
    for label, old in gwas.sumstats.items():
        keys = ["chromosome", "base_pair_location"]
        m = new.sumstats[label].merge(old, on=keys, suffixes=("", "_old"))
        assert len(m) == len(old)
        patched = (m["chromosome"] == "2") & (m["base_pair_location"] <= 500)
        assert patched.sum() > 0
        ref = miss.sumstats[label].set_index(keys)
        for c in ("beta", "standard_error", "t_statistic", "p_value", "effect_allele_frequency"):
            m.loc[patched, f"{c}_old"] = ref.loc[list(zip(m.loc[patched, "chromosome"],
                                                          m.loc[patched, "base_pair_location"], strict=True)), c].to_numpy()
        se = m["standard_error_old"]
        assert np.max(np.abs(m["standard_error"] / se - 1)) <= 1e-6, label
        assert np.max(np.abs(m["beta"] - m["beta_old"]) / se) <= 1e-6, label
        assert np.max(np.abs(m["t_statistic"] - m["t_statistic_old"]) / np.maximum(1, np.abs(m["t_statistic_old"]))) <= 1e-6
        assert np.max(np.abs(m["p_value"] / m["p_value_old"] - 1)) <= 1e-5, label
        np.testing.assert_allclose(m["effect_allele_frequency"], m["effect_allele_frequency_old"], rtol=1e-9)

"""GWAS on the tiny cohort through the pipeline stage, and the plink2-style CLI.

Tiny (1,000 participants, 8,000 variants) has no genome-wide hits at its size; what it can
check: the stage writes every product, a permuted (null) trait is calibrated, and the
estimated effects of the simulated causal variants agree in direction with the truth.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stage_run(tiny_cohort, hail_context, tmp_path_factory):
    from bma_genetics.gwas import api
    from bma_genetics.gwas.stage import run
    from bma_genetics.pipeline.context import RunContext

    run_dir = tmp_path_factory.mktemp("gwas_run")
    ctx = RunContext(run_dir=run_dir, cohort=tiny_cohort, config={}, seed=1)
    original = api.cohort_phenotypes

    def with_null(*args, **kwargs):
        # a permuted copy of a real trait: same distribution, no genetic signal
        frame, covs, traits = original(*args, **kwargs)
        rng = np.random.default_rng(1)
        frame["bmff_null"] = rng.permutation(frame["bmff_femoral_head"].to_numpy())
        return frame, covs, [*traits, "bmff_null"]

    api.cohort_phenotypes = with_null
    try:
        summary = run(ctx, {"traits": ["bmff_femoral_head", "bmff_spine"], "strata": ["sex"], "chunk_by": "all",
                            "qc": {"min_info": 0.3}})
    finally:
        api.cohort_phenotypes = original
    return run_dir / "gwas", summary


def test_stage_products(stage_run):
    from bma_genetics.gwas import read_gwas_ssf, read_gwas_ssf_metadata

    out, summary = stage_run
    assert set(summary["sumstats"]) >= {"bmff_femoral_head", "bmff_spine", "bmff_femoral_head.female",
                                        "bmff_femoral_head.male", "bmff_null"}
    ss = read_gwas_ssf(summary["sumstats"]["bmff_spine"])
    assert len(ss) > 3000 and ss["effect_allele_frequency"].between(0, 1).all()
    meta = read_gwas_ssf_metadata(summary["sumstats"]["bmff_spine"])
    assert "pc1" in meta["adjusted_covariates"] and meta["samples"][0]["sample_size"] > 500
    assert (out / "bmff_spine.meta.tsv.gz").exists()
    qc = pd.read_csv(out / "qc.tsv", sep="\t")
    assert {"sex_mismatch", "related", "info", "maf", "hwe"} <= set(qc["step"])
    assert summary["samples"]["withdrawn_removed"] == 0  # withdrawn people never reach the table
    for name in ["manhattan_bmff_spine", "qq_bmff_spine", "miami_bmff_spine", "manhattan_stacked"]:
        assert (out / "figures" / f"{name}.png").stat().st_size > 5000
        assert (out / "figures" / f"{name}.pdf").exists()
    assert "truth_recovery" in summary
    json.dumps(summary)


def test_null_trait_calibrated(stage_run):
    """Permuted trait: lambda GC within 0.85-1.15 (4-5,000 variants in LD blocks: wide tolerance)."""
    _, summary = stage_run
    assert 0.85 <= summary["lambda_gc"]["bmff_null"] <= 1.15


def test_causal_effects_recovered(stage_run, tiny_cohort):
    """Estimated betas at the simulated causal variants agree in sign with the truth where the
    truth is large (>= 70% of 20+ variants) and correlate positively (r > 0.3)."""
    from bma_genetics.gwas import read_gwas_ssf

    _, summary = stage_run
    truth = pd.read_csv(tiny_cohort / "truth" / "causal_variants.tsv", sep="\t", dtype={"chromosome": str})
    t = truth[truth["trait"] == "bmff_spine"]
    ss = read_gwas_ssf(summary["sumstats"]["bmff_spine"])
    m = t.merge(ss, on=["chromosome", "base_pair_location"], suffixes=("_true", ""))
    sign = np.where(m["effect_allele"] == m["effect_allele_true"], 1.0, -1.0)
    est = sign * m["beta"]
    big = m["beta_true"].abs() >= m["beta_true"].abs().quantile(0.5)
    assert big.sum() >= 20
    assert (np.sign(est[big]) == np.sign(m.loc[big, "beta_true"])).mean() >= 0.7
    assert np.corrcoef(est, m["beta_true"])[0, 1] > 0.3


def test_cli_plink2_style(tiny_cohort, hail_context, tmp_path):
    """``bma-genetics gwas --bfile ... --pheno ... --covar ...`` on the tiny cohort's array files."""
    from bma_genetics.cli import main

    idp = pd.read_parquet(tiny_cohort / "participants" / "bmff_idp.parquet")
    fam = pd.read_csv(tiny_cohort / "genotypes" / "array" / "ukb22418_c1_b0_v2.fam", sep=r"\s+", header=None, dtype=str)
    ph = fam[[0, 1]].set_axis(["#FID", "IID"], axis=1).merge(
        idp[["eid", "bmff_spine"]].rename(columns={"eid": "IID"}), on="IID", how="left")
    ph.to_csv(tmp_path / "pheno.tsv", sep="\t", index=False, na_rep="NA")
    rng = np.random.default_rng(0)
    cv = ph[["#FID", "IID"]].assign(pcx=rng.normal(size=len(ph)))
    cv.to_csv(tmp_path / "covar.tsv", sep="\t", index=False)
    prefix = str(tiny_cohort / "genotypes" / "array" / "ukb22418_c{chrom}_b0_v2")
    rc = main(["gwas", "--bfile", prefix, "--chr", "1,3", "--pheno", str(tmp_path / "pheno.tsv"), "--covar",
               str(tmp_path / "covar.tsv"), "--out", str(tmp_path / "out"), "--no-plots", "--master", "local[2]"])
    assert rc == 0
    from bma_genetics.gwas import read_gwas_ssf

    ss = read_gwas_ssf(tmp_path / "out" / "bmff_spine.tsv.gz")
    assert set(ss["chromosome"]) == {"1", "3"} and (ss["n"] > 500).all()
    # a missing chromosome file is a clear error through the CLI too
    rc = main(["gwas", "--bfile", prefix, "--chr", "14", "--pheno", str(tmp_path / "pheno.tsv"),
               "--out", str(tmp_path / "out2")])
    assert rc == 2

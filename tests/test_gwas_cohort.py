"""GWAS on the tiny cohort through the pipeline stage, and the plink2-style CLI.

Tiny (1,000 participants, 8,000 variants) has no genome-wide hits at its size; what it can
check: the stage writes every product, permuted (null) traits are calibrated, and the
estimated effects of the simulated causal variants agree in direction with the truth.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stage_run(tiny_run):
    """The gwas stage of the session's tiny run (``conftest.TINY_STUDY``: two traits, sex strata,
    ``min_info`` 0.3, ``N_NULL`` null traits), shared with the notebooks so the GWAS runs once."""
    out = tiny_run / "gwas"
    return out, json.loads((out / "summary.json").read_text())


N_NULL = 8


def test_stage_products(stage_run):
    from bma_genetics.io import read_gwas_ssf_metadata, read_sumstats

    out, summary = stage_run
    assert set(summary["sumstats"]) >= {"bmff_femoral_head", "bmff_spine", "bmff_femoral_head.female",
                                        "bmff_femoral_head.male"}
    assert not any(k.startswith("null_perm_") for k in summary["sumstats"])  # kept away from loci/MR
    # paths relative to the stage folder, whatever the run directory was given as
    assert summary["sumstats"]["bmff_spine"] == "bmff_spine.tsv.gz" and summary["qc"] == "qc.tsv"
    ss = read_sumstats(out / summary["sumstats"]["bmff_spine"])
    assert len(ss) > 3000 and ss["effect_allele_frequency"].between(0, 1).all()
    meta = read_gwas_ssf_metadata(out / summary["sumstats"]["bmff_spine"])
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


def test_downstream_finds_sumstats_from_a_relative_run_dir(stage_run, monkeypatch):
    """Enrichment and MR resolve the gwas summary's paths when the run directory is relative
    (``make demo`` runs into ``runs/bmff-demo``)."""
    from pathlib import Path

    from bma_genetics.enrichment.stage import _sumstats_paths
    from bma_genetics.pipeline.context import RunContext

    out, summary = stage_run
    (out / "summary.json").write_text(json.dumps(summary))  # what the runner writes after run()
    monkeypatch.chdir(out.parent.parent)
    ctx = RunContext(run_dir=Path(out.parent.name), cohort=None, config={}, seed=1)
    paths = _sumstats_paths(ctx)
    assert paths and all(p.exists() for p in paths.values())


def test_null_traits_calibrated(stage_run):
    """8 permutations of the first trait, in the same pass: each lambda GC within 0.85-1.15
    (4-5,000 variants in LD blocks: a single set's SD is ~0.04), the pooled lambda GC within
    0.94-1.06, the share of P < 0.05 within 0.04-0.06, no genome-wide hit; stratum ``all`` only."""
    out, summary = stage_run
    cal = summary["null_calibration"]
    assert cal["n_traits"] == N_NULL and cal["source_trait"] == "bmff_femoral_head"
    assert set(cal["lambda_gc"]) == {f"null_perm_{i}" for i in range(1, N_NULL + 1)}
    assert all(0.85 <= v <= 1.15 for v in cal["lambda_gc"].values()), cal["lambda_gc"]
    assert 0.94 <= cal["lambda_gc_pooled"] <= 1.06, cal
    assert 0.04 <= cal["share_p_below_0.05"] <= 0.06, cal
    assert cal["n_p_below_5e-8"] == 0
    rows = pd.read_csv(out / "gwas_summary.tsv", sep="\t")
    assert set(rows.loc[rows["trait"].str.startswith("null_perm_"), "stratum"]) == {"all"}
    assert (out / "null_perm_1.tsv.gz").exists() and (out / "figures" / "qq_null_traits.png").exists()


def test_add_null_traits_seeded():
    """Permutations are seeded, keep the trait's values and missingness, and differ from each other."""
    from bma_genetics.errors import InputError
    from bma_genetics.gwas.api import add_null_traits

    ph = pd.DataFrame({"eid": [str(i) for i in range(200)],
                       "y": np.where(np.arange(200) % 7 == 0, np.nan, np.arange(200.0))})
    a = add_null_traits(ph, "y", 3, seed=5)
    b = add_null_traits(ph, "y", 3, seed=5)
    assert [k for k, _ in a] == ["null_perm_1", "null_perm_2", "null_perm_3"]
    for (_, u), (_, v) in zip(a, b, strict=True):
        np.testing.assert_array_equal(u, v)
        assert np.array_equal(np.isnan(u), ph["y"].isna().to_numpy())
        assert sorted(u[~np.isnan(u)]) == sorted(ph["y"].dropna())
    assert not np.array_equal(a[0][1], a[1][1])
    with pytest.raises(InputError, match="null_traits"):
        add_null_traits(ph, "y", -1)


def test_causal_effects_recovered(stage_run, tiny_cohort):
    """Estimated betas at the simulated causal variants agree in sign with the truth where the
    truth is large (>= 70% of 20+ variants) and correlate positively (r > 0.3)."""
    from bma_genetics.io import read_sumstats

    out, summary = stage_run
    truth = pd.read_csv(tiny_cohort / "truth" / "causal_variants.tsv", sep="\t", dtype={"chromosome": str})
    t = truth[truth["trait"] == "bmff_spine"]
    ss = read_sumstats(out / summary["sumstats"]["bmff_spine"])
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
    from bma_genetics.io import read_sumstats

    ss = read_sumstats(tmp_path / "out" / "bmff_spine.tsv.gz")
    assert set(ss["chromosome"]) == {"1", "3"} and (ss["n"] > 500).all()
    # a missing chromosome file is a clear error through the CLI too
    rc = main(["gwas", "--bfile", prefix, "--chr", "14", "--pheno", str(tmp_path / "pheno.tsv"),
               "--out", str(tmp_path / "out2")])
    assert rc == 2

"""MR stage on the simulated tiny cohort: in-sample LD from its BGEN files, its osteoporosis
outcome GWAS, and the causal effect stated in ``truth/mr_truth.json``.

The exposure GWAS (femoral-head BMFF, fat-fraction units) is computed here by per-variant least
squares on the cohort's dosages, so this test needs no Hail; the pipeline's ``gwas`` stage
produces the same table at scale.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats


def _cohort(request):
    try:
        from bma_genetics.simulate import simulate_cohort  # noqa: F401
    except ImportError:
        pytest.skip("bma_genetics.simulate is not part of this version")
    return request.getfixturevalue("tiny_cohort")


def _exposure_gwas(cohort, reader, trait: str = "bmff_femoral_head") -> pd.DataFrame:
    from benchmarks.mvmr_recovery import bmff_gwas

    return bmff_gwas(cohort, reader, trait, european_only=False)


@pytest.mark.slow
def test_stage_on_tiny_cohort_covers_the_causal_effect(request, tmp_path):
    cohort = _cohort(request)
    from bma_genetics.io import write_gwas_ssf, write_sample_list
    from bma_genetics.mr.stage import _ld_reader, run
    from bma_genetics.pipeline.context import RunContext

    reader = _ld_reader("in-sample", cohort)
    assert reader.n_variants > 1000
    ss = _exposure_gwas(cohort, reader)
    run_dir = tmp_path / "run"
    (run_dir / "gwas").mkdir(parents=True)
    path = write_gwas_ssf(ss, run_dir / "gwas" / "bmff_femoral_head.tsv.gz")
    # the toy GWAS's analysed samples (everyone with the trait), as the gwas stage records them
    idp = pd.read_parquet(cohort / "participants" / "bmff_idp.parquet")[["eid", "bmff_femoral_head"]].dropna()
    keep = write_sample_list(sorted(set(idp["eid"].astype(str)) & set(reader.samples)),
                             run_dir / "gwas" / "analysed_samples.txt")
    (run_dir / "gwas" / "summary.json").write_text(json.dumps({"sumstats": {"bmff_femoral_head": str(path)},
                                                              "analysed_samples": str(keep)}))
    ctx = RunContext(run_dir=run_dir, cohort=cohort, config={}, seed=1)
    # Instruments at P < 5e-6, asked for: the tiny cohort (1,000 people) is underpowered at 5e-8
    # (one variant of this mixed-ancestry toy GWAS reaches it since the simulator's group 2 has LD
    # of its own, issue 13; the fallback itself is tested in test_mr_honesty.py).
    s = run(ctx, {"exposure_units": "fat_fraction", "nboot": 300, "p_threshold": 5e-6})
    truth = json.loads((cohort / "truth" / "mr_truth.json").read_text())
    pair = s["pairs"]["bmff_femoral_head"]
    assert pair["status"] == "ok", pair
    assert pair["n_used"] >= 3
    assert pair["p_threshold"] == 5e-6 and pair["p_fallback_used"] is False
    assert pair["instrument_strength"]["nsnp"] == pair["n_used"]
    ivw = pair["ivw"]
    t = truth["causal_log_odds_per_fat_fraction"]
    assert s["truth"]["ivw_covers_truth"] is True, (ivw, t)
    assert ivw["ci_lower"] <= t <= ivw["ci_upper"]
    assert (run_dir / "mr" / "figures" / "summary_forest.png").exists()
    h = pd.read_csv(run_dir / "mr" / "bmff_femoral_head" / "harmonised.tsv", sep="\t")
    # Both GWAS count the ALT allele: nothing is swapped, nothing dropped for alleles.
    assert not h["drop_reason"].fillna("").str.startswith("alleles do not match").any()


@pytest.mark.slow
def test_stage_mvmr_on_tiny_cohort_recovers_both_direct_effects(request, tmp_path):
    """The simulator's second exposure (BMD, its own GWAS file) and the outcome with both direct
    effects: the mr stage's mvmr section covers both planted direct effects."""
    cohort = _cohort(request)
    if not (cohort / "truth" / "mvmr_truth.json").exists():
        pytest.skip("this cohort has no second exposure")
    from bma_genetics.io import read_mr_results, write_gwas_ssf, write_sample_list
    from bma_genetics.mr.stage import _ld_reader, run
    from bma_genetics.pipeline.context import RunContext

    reader = _ld_reader("in-sample", cohort)
    ss = _exposure_gwas(cohort, reader)
    run_dir = tmp_path / "run"
    (run_dir / "gwas").mkdir(parents=True)
    path = write_gwas_ssf(ss, run_dir / "gwas" / "bmff_femoral_head.tsv.gz")
    idp = pd.read_parquet(cohort / "participants" / "bmff_idp.parquet")[["eid", "bmff_femoral_head"]].dropna()
    keep = write_sample_list(sorted(set(idp["eid"].astype(str)) & set(reader.samples)),
                             run_dir / "gwas" / "analysed_samples.txt")
    (run_dir / "gwas" / "summary.json").write_text(json.dumps({"sumstats": {"bmff_femoral_head": str(path)},
                                                              "analysed_samples": str(keep)}))
    ctx = RunContext(run_dir=run_dir, cohort=cohort, config={}, seed=1)
    s = run(ctx, {"exposure_units": "fat_fraction", "nboot": 100, "p_threshold": 5e-6, "methods": ["ivw"],
                  "mvmr": {"exposures": ["outcome_gwas/bmd.tsv.gz"], "outcome": "outcome_gwas/osteoporosis_mvmr.tsv.gz"}})
    mv = s["mvmr"]
    assert mv["exposures"] == ["bmff_femoral_head", "bmd"]
    assert mv["instruments_per_exposure"]["bmff_femoral_head"] >= 1 and mv["instruments_per_exposure"]["bmd"] >= 5
    cover = mv["truth"]["exposures"]
    assert cover["bmff_femoral_head"]["ivw_covers_truth"] is True, mv
    assert cover["bmd"]["ivw_covers_truth"] is True, mv
    # BMD's direct effect is protective and clearly estimated
    assert mv["mvmr_ivw"]["bmd"]["ci_upper"] < 0
    table = read_mr_results(run_dir / "mr" / "mvmr" / "mvmr_results.tsv", table="mvmr")
    assert set(table.method) == {"mvmr_ivw", "mvmr_egger", "mvmr_qhet", "ivw"}
    assert cover["bmd"]["qhet_covers_truth"] is True, mv
    assert (run_dir / "mr" / "mvmr" / "figures" / "mvmr_forest.png").exists()
    assert "mvmr/mvmr_results.tsv" in s["tables"]


def test_second_exposure_gwas_is_a_european_gwas_without_stratification(request):
    """The simulated BMD GWAS reports what a GWAS of the European group would: its z-scores carry no
    ancestry-group allele-frequency difference (the first version regressed the whole genome's BMD
    genetic value on each variant in the mixed-ancestry outcome sample: corr(z, delta freq) 0.23 on
    this cohort, median chi2 8x the null's, and multivariable MR of the demo cohort missed both
    direct effects), P agrees with beta / SE, and N is 10 x the outcome sample's European group."""
    cohort = _cohort(request)
    if not (cohort / "truth" / "mvmr_truth.json").exists():
        pytest.skip("this cohort has no second exposure")
    import yaml

    from bma_genetics.io import read_sumstats
    from bma_genetics.mr.stage import _ld_reader

    reader = _ld_reader("in-sample", cohort)
    qc = json.loads((cohort / "truth" / "qc_planted.json").read_text())
    other = np.isin(np.asarray(reader.samples, dtype=str), qc["non_european"])
    d = reader.dosages(np.arange(reader.n_variants))
    delta = pd.DataFrame({"variant_id": reader.variants["variant_id"].to_numpy(),
                          "delta": d[other].mean(axis=0) / 2 - d[~other].mean(axis=0) / 2})
    bmd = read_sumstats(cohort / "outcome_gwas" / "bmd.tsv.gz").merge(delta, on="variant_id")
    z = (bmd["beta"] / bmd["standard_error"]).to_numpy()
    assert len(bmd) > 1000
    assert abs(np.corrcoef(z, bmd["delta"])[0, 1]) < 0.08
    # P (as -log10, beta and SE written to 6 digits) from beta / SE
    np.testing.assert_allclose(bmd["neg_log_10_p_value"], -(stats.norm.logsf(np.abs(z)) + np.log(2)) / np.log(10),
                               rtol=1e-4, atol=1e-6)
    # its sampling error is correlated between variants as their genotypes are (a real GWAS's is; with
    # independent errors the lead variant of a region carries the largest of many draws, a winner's
    # curse that biased the MVMR estimates towards zero): neighbours in near-perfect LD have nearly
    # equal z (mean squared difference 2.3 with independent errors on this cohort)
    where = pd.Series(np.arange(reader.n_variants), index=reader.variants["variant_id"].to_numpy())
    at = np.sort(where.loc[bmd["variant_id"]].to_numpy())
    z_at = pd.Series(z, index=where.loc[bmd["variant_id"]].to_numpy()).loc[at].to_numpy()
    g = d[~other][:, at]
    g = g - g.mean(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (g[:, :-1] * g[:, 1:]).sum(axis=0) / np.sqrt((g[:, :-1] ** 2).sum(axis=0) * (g[:, 1:] ** 2).sum(axis=0))
    chrom = reader.variants["chromosome"].astype(str).to_numpy()[at]
    tight = (chrom[:-1] == chrom[1:]) & (np.abs(np.nan_to_num(r)) > 0.95)
    assert tight.sum() > 100
    assert np.mean((z_at[:-1][tight] - np.sign(r[tight]) * z_at[1:][tight]) ** 2) < 0.5
    truth = json.loads((cohort / "truth" / "mvmr_truth.json").read_text())
    meta = yaml.safe_load((cohort / "outcome_gwas" / "bmd.tsv.gz-meta.yaml").read_text())
    assert meta["sample_size"] == 10 * truth["outcome_sample_size"] == int(bmd["n"].iloc[0])
    assert truth["outcome_sample_size"] == round(0.9 * json.loads((cohort / "cohort.json").read_text())
                                                 ["n_outcome_sample"])

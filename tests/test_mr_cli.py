"""End to end: ``run_mr_analysis``, ``bma-genetics mr`` and the ``mr`` pipeline stage, with plots."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from test_mr_harmonise import write_plink

from bma_genetics.cli import main
from bma_genetics.errors import InputError
from bma_genetics.io import read_mr_results
from bma_genetics.mr import RESULT_COLUMNS, MRParameters, r2_from_lor, run_mr_analysis
from bma_genetics.mr.diagnostics import _af_case_control
from bma_genetics.mr.figures import write_mr_figures

DATA = Path(__file__).parent / "data" / "mr_ldlc_chd.tsv"
THETA = 0.4


def _two_sample(tmp: Path, seed: int = 3, m: int = 40):
    """Summary statistics of an exposure and a binary outcome GWAS with a causal effect THETA
    (log odds per unit exposure), from genotypes with LD pairs (each instrument has a partner in
    r^2 ~ 0.9 that clumping must remove) and a PLINK LD panel of the same population."""
    from bma_genetics.io import write_gwas_ssf

    rng = np.random.default_rng(seed)
    n_panel = 1500
    freqs = rng.uniform(0.1, 0.5, m)
    hap = rng.random((n_panel, 2, m)) < freqs
    partner = np.where(rng.random(hap.shape) < 0.02, ~hap, hap)
    g = np.concatenate([hap.sum(axis=1), partner.sum(axis=1)], axis=1).astype(float)
    pos = np.concatenate([np.arange(m) * 2_000_000 + 1_000, np.arange(m) * 2_000_000 + 1_500])
    order = np.argsort(pos)
    chrom = ["1"] * (2 * m)
    ids = [f"rs{i}" for i in range(2 * m)]
    panel = write_plink(tmp / "panel", g[:, order], chrom, list(pos[order]), ["A"] * (2 * m), ["G"] * (2 * m),
                        [ids[i] for i in order])
    # Summary-level simulation of the two GWAS (independent samples): per-allele effects of the
    # instruments on the exposure (SD units), the partners' effects follow through LD (r ~ 0.96).
    a = rng.choice([-1, 1], m) * rng.uniform(0.04, 0.1, m)
    n_exp, n_cases, n_controls = 100_000, 20_000, 60_000
    se_x = 1 / np.sqrt(2 * freqs * (1 - freqs) * n_exp)
    se_y = 1 / np.sqrt(2 * freqs * (1 - freqs) * n_cases * n_controls / (n_cases + n_controls))
    bx = np.concatenate([a, 0.96 * a]) + rng.normal(0, np.concatenate([se_x, se_x]))
    by = THETA * np.concatenate([a, 0.96 * a]) + rng.normal(0, np.concatenate([se_y, se_y]))
    f2 = np.concatenate([freqs, freqs])
    base = pd.DataFrame({"chromosome": chrom, "base_pair_location": pos, "effect_allele": "A", "other_allele": "G",
                         "effect_allele_frequency": f2, "rsid": ids,
                         "variant_id": [f"1:{p}_G_A" for p in pos]})
    exp = base.assign(beta=bx, standard_error=np.concatenate([se_x, se_x]), n=n_exp)
    exp["p_value"] = 2 * stats.norm.sf(np.abs(exp.beta / exp.standard_error))
    # The outcome study reports the other allele for half the variants (harmonisation must swap).
    flip = rng.random(2 * m) < 0.5
    out = base.assign(beta=np.where(flip, -by, by), standard_error=np.concatenate([se_y, se_y]),
                      effect_allele=np.where(flip, "G", "A"), other_allele=np.where(flip, "A", "G"),
                      effect_allele_frequency=np.where(flip, 1 - f2, f2))
    out["p_value"] = 2 * stats.norm.sf(np.abs(out.beta / out.standard_error))
    cols = ["chromosome", "base_pair_location", "effect_allele", "other_allele", "beta", "standard_error",
            "effect_allele_frequency", "p_value", "rsid", "variant_id"]
    exp_path = write_gwas_ssf(exp.sort_values("base_pair_location")[cols + ["n"]], tmp / "bmff_femoral_head.tsv.gz")
    meta = {"samples": {"sample_size": n_cases + n_controls, "case_count": n_cases, "control_count": n_controls}}
    out_path = write_gwas_ssf(out.sort_values("base_pair_location")[cols], tmp / "osteoporosis.tsv.gz", metadata=meta)
    return exp_path, out_path, panel


def test_run_mr_analysis_end_to_end(tmp_path):
    exp, out, panel = _two_sample(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # figures render without warnings
        # Instruments lie 2 Mb apart: a 1 Mb window keeps chance r^2 > 0.001 between unlinked
        # variants in a 1,500-person panel (~1 in 5 pairs) from merging independent signals.
        result = run_mr_analysis(tmp_path / "mr", exposure=exp, outcome=out, ld=str(panel), reverse=True,
                                 methods="all", clump_kb=1000, params=MRParameters(nboot=300, presso_nboot=300))
        result.files.update(write_mr_figures(result, tmp_path / "mr" / "figures"))
    s = result.summary()
    assert s["n_instruments"] == 40  # each LD partner clumped away
    files = result.files
    ins = pd.read_csv(files["instruments"], sep="\t")
    assert (ins["n_members"] == 1).all() and (ins["f_statistic"] > 10).all()
    res = read_mr_results(files["mr_results"])
    assert list(res.columns) == list(RESULT_COLUMNS)
    assert list(res.columns[:9]) == ["exposure", "outcome", "method", "nsnp", "beta", "standard_error", "ci_lower",
                                     "ci_upper", "p_value"]
    pd.testing.assert_frame_equal(res, result.to_frame(), check_dtype=False)
    res = res.set_index("method")
    # The written table carries the Egger fit: the same intercept as the pleiotropy table and the fit.
    eg = result.fit("egger")
    pl = read_mr_results(files["pleiotropy"], table="pleiotropy").iloc[0]
    assert res.loc["egger", "egger_intercept"] == pytest.approx(eg.egger_intercept, rel=1e-9)
    assert pl["egger_intercept"] == pytest.approx(eg.egger_intercept, rel=1e-9)
    assert pl["standard_error"] == pytest.approx(eg.egger_intercept_standard_error, rel=1e-9)
    assert np.isnan(res.loc["weighted_median", "egger_intercept"])
    assert res.loc["ivw", "exposure"] == "bmff_femoral_head" and res.loc["ivw", "outcome"] == "osteoporosis"
    # Recovery of the simulated effect: within 3 SE for every estimator (a 0.3 % miss rate each).
    for m in ("ivw", "egger", "simple_median", "weighted_median", "simple_mode", "weighted_mode", "mr_presso",
              "mr_raps"):
        assert abs(res.loc[m, "beta"] - THETA) < 3 * res.loc[m, "standard_error"], m
    assert res.loc["ivw", "p_value"] < 1e-6
    h = pd.read_csv(files["harmonised"], sep="\t")
    assert h["mr_keep"].all() and (h["harmonise_note"] == "alleles swapped").sum() > 5
    st = read_mr_results(files["steiger"], table="steiger").iloc[0]
    assert bool(st["correct_causal_direction"]) and st["steiger_p_value"] < 1e-10
    loo = read_mr_results(files["leave_one_out"], table="leave_one_out")
    assert len(loo) == 41 and loo["snp"].iloc[-1] == "All"
    # the "All" row is the IVW fit itself, not a refit
    assert loo["beta"].iloc[-1] == pytest.approx(result.fit("ivw").beta, rel=1e-12)
    single = read_mr_results(files["single_snp"], table="single_snp")
    assert len(single) == 42
    het = read_mr_results(files["heterogeneity"], table="heterogeneity")
    assert set(het["method"]) == {"ivw", "egger"} and (het["q_p_value"] > 0.001).all()
    assert het.set_index("method").loc["ivw", "q"] == pytest.approx(res.loc["ivw", "q"], rel=1e-12)
    rev = pd.read_csv(files["reverse_mr"], sep="\t")
    assert rev["exposure"].iloc[0] == "osteoporosis"
    figures = [str(p) for k, p in files.items() if k.startswith("figures/")]
    for f in figures:
        assert Path(f).stat().st_size > 5_000
    png = [f for f in figures if f.endswith(".png")]
    assert len(png) == 4
    import matplotlib.image as mpimg

    assert mpimg.imread(png[0]).shape[0] > 300


def test_cli_harmonised_and_sumstats(tmp_path, capsys):
    d = pd.read_csv(DATA, sep="\t", comment="#")
    h = tmp_path / "ldl_chd.tsv"
    d.rename(columns={"snp": "SNP", "ldlc": "beta.exposure", "ldlcse": "se.exposure", "chdlodds": "beta.outcome",
                      "chdloddsse": "se.outcome"}).to_csv(h, sep="\t", index=False)
    rc = main(["mr", "--harmonised", str(h), "--out", str(tmp_path / "o"), "--no-plots", "--methods", "ivw,egger",
               "--egger-distribution", "normal"])
    assert rc == 0
    res = pd.read_csv(tmp_path / "o" / "mr_results.tsv", sep="\t").set_index("method")
    assert round(res.loc["ivw", "beta"], 3) == 2.834 and round(res.loc["egger", "standard_error"], 3) == 0.770
    for name in ("heterogeneity", "pleiotropy", "steiger", "leave_one_out", "single_snp", "harmonised"):
        assert (tmp_path / "o" / f"{name}.tsv").exists()
    exp, out, panel = _two_sample(tmp_path, seed=5, m=12)
    rc = main(["mr", "--exposure", str(exp), "--outcome", str(out), "--ld", str(panel), "--out",
               str(tmp_path / "o2"), "--nboot", "200", "--clump-kb", "1000"])
    assert rc == 0
    assert "12 of 12 instruments used" in capsys.readouterr().out
    assert (tmp_path / "o2" / "figures" / "scatter.pdf").exists()
    rc = main(["mr", "--exposure", str(exp), "--out", str(tmp_path / "o3")])
    assert rc == 2
    assert "error: mr/exposure: give --exposure and --outcome, or --harmonised" in capsys.readouterr().err
    rc = main(["mr", "--exposure", str(exp), "--outcome", str(out), "--p-threshold", "1e-300", "--no-clump", "--out",
               str(tmp_path / "o4")])
    assert rc == 2
    assert "zero instruments" in capsys.readouterr().err


def test_stage_every_site_to_osteoporosis(tmp_path):
    from bma_genetics.mr.stage import run
    from bma_genetics.pipeline.context import RunContext

    cohort = tmp_path / "cohort"
    (cohort / "outcome_gwas").mkdir(parents=True)
    (cohort / "truth").mkdir()
    run_dir = tmp_path / "run"
    (run_dir / "gwas").mkdir(parents=True)
    exp, out, panel = _two_sample(tmp_path, seed=8, m=15)
    out.rename(cohort / "outcome_gwas" / "osteoporosis.tsv.gz")
    Path(f"{out}-meta.yaml").rename(cohort / "outcome_gwas" / "osteoporosis.tsv.gz-meta.yaml")
    exp2, _, _ = _two_sample(tmp_path / "x" if (tmp_path / "x").mkdir() is None else tmp_path, seed=9, m=10)
    (run_dir / "gwas" / "summary.json").write_text(json.dumps(
        {"sumstats": {"bmff_femoral_head": str(exp), "bmff_spine": str(exp2)}}))
    (cohort / "truth" / "mr_truth.json").write_text(json.dumps(
        {"exposure": "bmff_femoral_head", "outcome": "osteoporosis", "causal_log_odds_per_sd": THETA}))
    ctx = RunContext(run_dir=run_dir, cohort=cohort, config={}, seed=3)
    s = run(ctx, {"ld": str(panel), "nboot": 200, "clump_kb": 1000})
    assert s["pairs"]["bmff_femoral_head"]["status"] == "ok"
    assert s["pairs"]["bmff_femoral_head"]["n_used"] == 15
    assert s["truth"]["ivw_covers_truth"] is True
    assert "mr_results.tsv" in s["tables"] and "bmff_spine/harmonised.tsv" in s["tables"]
    res = pd.read_csv(run_dir / "mr" / "mr_results.tsv", sep="\t")
    assert set(res["exposure"]) == {"bmff_femoral_head", "bmff_spine"}
    assert (run_dir / "mr" / "figures" / "summary_forest.png").stat().st_size > 5_000
    assert (run_dir / "mr" / "bmff_spine" / "figures" / "funnel.pdf").exists()
    json.dumps(s)  # the runner stores it as JSON


def test_binary_outcome_r2_closed_form():
    af, prop, orr = np.array([0.1, 0.3, 0.5]), np.full(3, 0.25), np.array([1.2, 0.8, 1.5])
    p0, p1 = _af_case_control(af, prop, orr)
    np.testing.assert_allclose(prop * p1 + (1 - prop) * p0, af, atol=1e-12)
    np.testing.assert_allclose((p1 / (1 - p1)) / (p0 / (1 - p0)), orr, rtol=1e-9)
    # Prevalence equal to the case fraction: the population frequency is the sample frequency.
    lor = np.log(orr)
    r2 = r2_from_lor(lor, af, 250, 750, 0.25)
    vg = lor**2 * af * (1 - af)
    np.testing.assert_allclose(r2, vg / (vg + np.pi**2 / 3), rtol=1e-9)


def test_misspelt_ld_source_fails_before_any_work(tmp_path):
    exp, out, _ = _two_sample(tmp_path, seed=6, m=5)
    with pytest.raises(InputError, match=r"run_mr_analysis/ld: 'refernce' is not an LD source \(did you mean 'reference'"):
        run_mr_analysis(tmp_path / "o", exposure=exp, outcome=out, ld="refernce")
    assert not (tmp_path / "o").exists()


def test_cli_in_sample_ld_needs_genotypes(tmp_path, capsys):
    exp, out, panel = _two_sample(tmp_path, seed=7, m=6)
    rc = main(["mr", "--exposure", str(exp), "--outcome", str(out), "--ld", "in-sample", "--genotypes", str(panel),
               "--out", str(tmp_path / "o"), "--nboot", "50", "--clump-kb", "1000", "--no-plots"])
    assert rc == 0 and "6 of 6 instruments used" in capsys.readouterr().out
    rc = main(["mr", "--exposure", str(exp), "--outcome", str(out), "--ld", "in-sample", "--out", str(tmp_path / "o2")])
    assert rc == 2 and "mr_analysis/ld: 'in-sample' LD needs the analysed genotypes" in capsys.readouterr().err


def test_cli_text_in_exposure_betas_is_an_error(tmp_path, capsys):
    """'n/a' betas used to become NaN silently and move the IVW estimate; now exit 2, one line."""
    import gzip

    exp, out, panel = _two_sample(tmp_path, seed=5, m=12)
    lines = gzip.open(exp, "rt").read().splitlines()
    col = lines[0].split("\t").index("beta")
    row = lines[3].split("\t")
    row[col] = "n/a"
    lines[3] = "\t".join(row)
    bad = tmp_path / "exposure_na.tsv"
    bad.write_text("\n".join(lines) + "\n")
    rc = main(["mr", "--exposure", str(bad), "--outcome", str(out), "--ld", str(panel), "--out",
               str(tmp_path / "o"), "--no-plots"])
    assert rc == 2
    err = capsys.readouterr().err.strip()
    errors = [line for line in err.splitlines() if line.startswith("error:")]  # the rest: INFO log lines
    assert len(errors) == 1 and "Traceback" not in err
    assert "exposure_na.tsv: column 'beta' line 4: 'n/a' is not a number" in errors[0]

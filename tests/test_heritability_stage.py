"""The heritability stage on the shared tiny run (a copy), the ``ldsc`` CLI and the figures."""

from __future__ import annotations

import copy
import json
import shutil
import warnings

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from bma_genetics.io.ldsc import read_heritability_results

TRAITS = ["bmff_femoral_head", "bmff_spine", "bmff_femoral_head.male"]


@pytest.fixture(scope="module")
def her_run(tiny_run, tiny_cohort, tmp_path_factory):
    """A copy of the shared tiny run with the heritability stage added (gwas is not rerun)."""
    from conftest import TINY_STUDY

    from bma_genetics.pipeline import run_study

    out = tmp_path_factory.mktemp("her") / "run"
    shutil.copytree(tiny_run, out, ignore=shutil.ignore_patterns("hail", "chunks", "tmp"))
    done_before = (out / "gwas" / ".done").read_text()
    study = copy.deepcopy(TINY_STUDY)
    study["stages"]["heritability"] = {"traits": TRAITS, "n_blocks": 100}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # h2 of the tiny cohort's traits can fall below 0
        run_study(study, cohort=tiny_cohort, out=out, only=["heritability"])
    assert (out / "gwas" / ".done").read_text() == done_before
    return out


def test_stage_writes_h2_rg_munged_ld_and_figures(her_run):
    stage = her_run / "heritability"
    h2 = read_heritability_results(stage / "h2.tsv")
    summary = json.loads((stage / "summary.json").read_text())
    # h2, intercept and ratio for every GWAS of the run (h2_all), the configured traits first
    every = list(json.loads((her_run / "gwas" / "summary.json").read_text())["sumstats"])
    assert len(every) > len(TRAITS)
    assert h2["trait"].tolist()[:3] == TRAITS
    assert set(h2["trait"]) | set(summary.get("skipped", {})) == set(every)
    assert (h2["n_blocks"] == 100).all() and (h2["two_step"] == 30).all()
    gwas = json.loads((her_run / "gwas" / "summary.json").read_text())["lambda_gc"]
    assert h2["gwas_lambda_gc"].tolist() == pytest.approx([gwas[t] for t in h2["trait"]])
    mine = h2[h2["trait"].isin(TRAITS)]
    assert np.isfinite(mine[["h2", "h2_standard_error", "intercept", "ratio", "lambda_gc"]].to_numpy()).all()
    # the summary's inflation view: lambda GC beside LDSC's intercept (SE) and ratio, per GWAS
    for t in h2["trait"]:
        row = h2[h2["trait"] == t].iloc[0]
        view = summary["inflation"][t]
        assert view["lambda_gc"] == pytest.approx(gwas[t])
        assert view["ldsc_intercept"] == pytest.approx(row["intercept"])
        assert view["ldsc_intercept_standard_error"] == pytest.approx(row["intercept_standard_error"])
        if row["mean_chisq"] > 1:
            assert view["ldsc_ratio"] == pytest.approx((row["intercept"] - 1) / (row["mean_chisq"] - 1))
        else:
            assert view["ldsc_ratio"] is None  # NA: the ratio needs mean chi2 > 1
    assert summary["traits"] == TRAITS
    # rg stays over the configured traits
    rg = read_heritability_results(stage / "rg.tsv", table="rg")
    assert len(rg) == 3 and "phenotypic_correlation" in rg.columns
    assert set(rg["trait_1"]) | set(rg["trait_2"]) == set(TRAITS)
    # the site pair has a phenotypic correlation from the BMFF table; the stratum has none
    pair = rg[(rg.trait_1 == "bmff_femoral_head") & (rg.trait_2 == "bmff_spine")].iloc[0]
    assert -1 <= pair["phenotypic_correlation"] <= 1
    # LD score regression is autosomal: the cohort's chrX/PAR array files get no LD scores
    scored = sorted(p.name.split(".")[0] for p in (stage / "ld").glob("*.l2.ldscore.gz"))
    assert scored and set(scored) <= {str(c) for c in range(1, 23)}
    filters = pd.read_csv(stage / "munged" / "bmff_spine.filters.tsv", sep="\t")
    assert filters["filter"].iloc[0] == "input" and filters["remaining"].iloc[-1] > 1000
    assert set(summary["h2"]) == set(h2["trait"]) and summary["two_step"] == 30
    assert {"figures/h2.png", "figures/rg_heatmap.png"} <= set(summary["figures"])
    # in-sample LD over the GWAS's analysed samples only, from the array genotypes (the default)
    from bma_genetics.io import read_sample_list

    gwas_summary = json.loads((her_run / "gwas" / "summary.json").read_text())
    analysed = read_sample_list(her_run / "gwas" / gwas_summary["analysed_samples"])
    assert summary["ld_scores"]["n_samples"] == len(analysed)
    assert summary["ld_scores"]["ld_genotypes"] == "array"
    report = (her_run / "report.html").read_text()
    assert "SNP heritability" in report
    # the report's GWAS summary: LDSC intercept (SE) and ratio beside lambda GC for every GWAS
    assert "<th>lambda_gc</th><th>ldsc_intercept (SE)</th><th>ldsc_ratio</th>" in report
    from bma_genetics.pipeline.report import _fmt

    for t in TRAITS:
        row = h2[h2["trait"] == t].iloc[0]
        cells = f"<td>{_fmt(row['intercept'])} ({_fmt(row['intercept_standard_error'])})</td><td>{_fmt(row['ratio'])}</td>"
        assert cells in report, t


def test_ldsc_cli_munge_h2_rg(her_run, tmp_path, capsys):
    from bma_genetics.cli import app

    runner = CliRunner()
    gwas = her_run / "gwas"
    ld = her_run / "heritability" / "ld"
    res = runner.invoke(app, ["ldsc", "munge", "--sumstats", str(gwas / "bmff_spine.tsv.gz"),
                              "--out", str(tmp_path / "spine.sumstats.gz")])
    assert res.exit_code == 0, res.output
    assert "not_snp_or_strand_ambiguous" in res.output
    res = runner.invoke(app, ["ldsc", "h2", str(tmp_path / "spine.sumstats.gz"), "--ld-scores", str(ld),
                              "--out", str(tmp_path / "h2")])
    assert res.exit_code == 0, res.output
    h2 = read_heritability_results(tmp_path / "h2" / "h2.tsv")
    want = read_heritability_results(her_run / "heritability" / "h2.tsv").set_index("trait").loc["bmff_spine"]
    # the CLI reads the 3-decimal .sumstats.gz; the stage uses unrounded Z
    assert h2["h2"].iloc[0] == pytest.approx(want["h2"], abs=5e-3)
    res = runner.invoke(app, ["ldsc", "rg", f"fh={gwas / 'bmff_femoral_head.tsv.gz'}",
                              f"sp={tmp_path / 'spine.sumstats.gz'}", "--ld-scores", str(ld),
                              "--out", str(tmp_path / "rg")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "rg" / "figures" / "rg_heatmap.png").exists()
    from bma_genetics.cli import main

    rc = main(["ldsc", "h2", str(tmp_path / "spine.sumstats.gz"), "--ld-scores", str(tmp_path / "none"),
               "--out", str(tmp_path / "x")])
    assert rc == 2
    assert "no LD-score files" in capsys.readouterr().err


def test_plots_render_without_warnings():
    from bma_genetics.plots import plot_h2, plot_rg_heatmap

    h2 = pd.DataFrame({"trait": ["a", "b", "c"], "h2": [0.3, -0.05, 0.2], "h2_standard_error": [0.05, 0.04, 0.1]})
    rg = pd.DataFrame({"trait_1": ["a", "a", "b"], "trait_2": ["b", "c", "c"], "rg": [0.5, np.nan, 1.3],
                       "phenotypic_correlation": [0.2, 0.1, np.nan]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for fig in (plot_h2(h2), plot_rg_heatmap(rg)):
            fig.canvas.draw()
            w, h = fig.get_size_inches()
            assert w > 2 and h > 1 and len(fig.axes) >= 1

"""The finemap stage on the shared tiny run (a copy), the ``finemap``/``coloc``/``smr`` commands and
the figures."""

from __future__ import annotations

import copy
import json
import shutil
import warnings

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from bma_genetics.io import read_finemap_results

#: The tiny cohort has no genome-wide locus: regions around P < 1e-4 stand in for loci.
STAGE = {"traits": ["bmff_femoral_head"], "p_fallback": 1e-4, "max_variants": 400, "max_plots": 2}


@pytest.fixture(scope="module")
def fm_run(tiny_run, tiny_cohort, tmp_path_factory):
    """A copy of the shared tiny run with the finemap stage added (gwas is not rerun)."""
    from conftest import TINY_STUDY

    from bma_genetics.pipeline import run_study

    out = tmp_path_factory.mktemp("fm") / "run"
    shutil.copytree(tiny_run, out, ignore=shutil.ignore_patterns("hail", "chunks", "tmp"))
    done_before = (out / "gwas" / ".done").read_text()
    study = copy.deepcopy(TINY_STUDY)
    study["stages"]["finemap"] = dict(STAGE)
    run_study(study, cohort=tiny_cohort, out=out, only=["finemap"])
    assert (out / "gwas" / ".done").read_text() == done_before
    return out


def test_stage_writes_credible_sets_coloc_smr_and_figures(fm_run, tiny_cohort):
    stage = fm_run / "finemap"
    summary = json.loads((stage / "summary.json").read_text())
    loci = read_finemap_results(stage / "loci.tsv", table="loci")
    assert len(loci) >= 1 and (loci["trait"] == "bmff_femoral_head").all()
    assert summary["fallback_regions"] == {"bmff_femoral_head": 1e-4}
    fitted = loci[loci["n_variants"] >= 2]
    assert len(fitted) and fitted["converged"].all() and (fitted["n_variants"] <= 400).all()
    cs = read_finemap_results(stage / "credible_sets.tsv", table="credible_sets")
    pips = read_finemap_results(stage / "pips.tsv.gz", table="pips")
    assert ((pips["pip"] >= 0) & (pips["pip"] <= 1 + 1e-12)).all()
    if len(cs):
        assert (cs["min_abs_corr"] >= 0.5).all()
        assert (cs.groupby(["locus", "credible_set"])["alpha"].sum() >= 0.95 - 1e-9).all()
        assert loci["n_credible_sets"].sum() == cs.groupby(["locus", "credible_set"]).ngroups
    # LD over the GWAS's analysed samples (in-sample)
    coloc = read_finemap_results(stage / "coloc.tsv", table="coloc")
    if len(coloc):
        assert np.allclose(coloc[["pp_h0", "pp_h1", "pp_h2", "pp_h3", "pp_h4"]].sum(axis=1), 1)
        assert coloc["gene_id"].str.startswith("ENSGSIM").all()
    read_finemap_results(stage / "coloc_susie.tsv", table="coloc_susie")
    read_finemap_results(stage / "smr.tsv", table="smr")
    assert summary["eqtl"]["n"] == json.loads((tiny_cohort / "eqtl/eqtl.json").read_text())["n"]
    assert "truth_recovery" in summary
    regional = [f for f in summary["figures"] if f.startswith("figures/regional_") and f.endswith(".png")]
    assert 1 <= len(regional) <= 2
    assert "finemap" in (fm_run / "report.html").read_text()


def test_finemap_coloc_smr_commands(fm_run, tiny_cohort, tmp_path):
    from bma_genetics.cli import app

    gwas = json.loads((fm_run / "gwas" / "summary.json").read_text())
    ss = fm_run / "gwas" / gwas["sumstats"]["bmff_femoral_head"]
    keep = fm_run / "gwas" / gwas["analysed_samples"]
    common = ["--sumstats", str(ss), "--p-threshold", "1e-4", "--ld", str(tiny_cohort / "genotypes/imputed"),
              "--keep", str(keep)]
    runner = CliRunner()
    res = runner.invoke(app, ["finemap", *common, "--out", str(tmp_path / "fm"), "--max-variants", "300"])
    assert res.exit_code == 0, res.output
    loci = read_finemap_results(tmp_path / "fm" / "loci.tsv", table="loci")
    assert len(loci) >= 1 and "top_pip_variant" in res.output
    eqtl = tiny_cohort / "eqtl/eqtl.smr.txt.gz"
    res = runner.invoke(app, ["coloc", *common, "--other", str(eqtl), "--eqtl-n", "2000", "--out",
                              str(tmp_path / "co")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "co" / "coloc.tsv").exists()
    # another trait (the osteoporosis GWAS, GWAS-SSF): one coloc test per locus, label from the file name
    res = runner.invoke(app, ["coloc", *common, "--other", str(tiny_cohort / "outcome_gwas/osteoporosis.tsv.gz"),
                              "--out", str(tmp_path / "co2")])
    assert res.exit_code == 0, res.output
    other = read_finemap_results(tmp_path / "co2" / "coloc.tsv", table="coloc")
    assert set(other["other"]) <= {"osteoporosis"} and (other["gene_id"].fillna("") == "").all()
    res = runner.invoke(app, ["smr", *common, "--eqtl", str(eqtl), "--out", str(tmp_path / "smr")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "smr" / "smr.tsv").exists()
    res = runner.invoke(app, ["coloc", *common, "--other", str(tmp_path / "nope.tsv"), "--out", str(tmp_path)])
    assert res.exit_code != 0


def test_plots_render_without_warnings():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    from bma_genetics.plots import plot_coloc, plot_regional

    rng = np.random.default_rng(1)
    pos = np.arange(1_000_000, 1_400_000, 2_000)
    ss = pd.DataFrame({"chromosome": "1", "base_pair_location": pos, "p_value": rng.uniform(1e-12, 1, len(pos))})
    pip = rng.uniform(0, 0.05, len(pos))
    pip[100] = 0.9
    cs = np.where(np.arange(len(pos)) == 100, "L1", "")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = plot_regional(ss, chromosome="1", position=int(pos[100]), pip=pip, credible_set=cs, window_kb=200)
        assert len(fig.axes) == 3
        w, h = fig.get_size_inches()
        assert w > 5 and h > 5
        plt.close(fig)
        table = pd.DataFrame({"trait": "t", "locus": [1, 2], "other": ["eqtl:G1", "eqtl:G2"], "gene_name": ["A", "B"],
                              "pp_h0": [0, 0], "pp_h1": [0.05, 0.1], "pp_h2": [0, 0.1], "pp_h3": [0.05, 0.7],
                              "pp_h4": [0.9, 0.1]})
        fig = plot_coloc(table, title="coloc")
        assert len(fig.axes) == 1
        plt.close(fig)

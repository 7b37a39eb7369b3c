"""The prs stage on the shared tiny run (a copy; gwas is not rerun), its CLI and figures."""

from __future__ import annotations

import copy
import json
import shutil
import warnings

import numpy as np
import pytest
from typer.testing import CliRunner

from bma_genetics.io.prs import read_prs_results, read_prs_weights, read_sscore


@pytest.fixture(scope="module")
def prs_run(tiny_run, tiny_cohort, tmp_path_factory):
    from conftest import TINY_STUDY

    from bma_genetics.pipeline import run_study

    out = tmp_path_factory.mktemp("prs") / "run"
    shutil.copytree(tiny_run, out, ignore=shutil.ignore_patterns("hail", "chunks", "tmp"))
    done_before = (out / "gwas" / ".done").read_text()
    study = copy.deepcopy(TINY_STUDY)
    study["stages"]["prs"] = {"prscs_n_iter": 60, "prscs_n_burnin": 30, "thresholds": [1e-4, 0.01, 0.5, 1.0]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_study(study, cohort=tiny_cohort, out=out, only=["prs"])
    assert (out / "gwas" / ".done").read_text() == done_before
    return out


def test_stage_writes_weights_scores_results_and_figures(prs_run, tiny_cohort):
    from bma_genetics.io import read_bmff_table, read_sample_list, read_withdrawals

    stage = prs_run / "prs"
    summary = json.loads((stage / "summary.json").read_text())
    assert summary["traits"] == ["bmff_femoral_head"]  # the femoral sites among the run's GWAS
    res = read_prs_results(stage / "prs_results.tsv")
    assert res["score"].tolist() == [f"bmff_femoral_head.ct_{t:g}" for t in (1e-4, 0.01, 0.5, 1.0)] + \
        ["bmff_femoral_head.prscs"]
    assert res.loc[res["method"] == "ct", "selected"].sum() <= 1
    assert (np.diff(res.loc[res["method"] == "ct", "n_variants"]) >= 0).all()
    w = read_prs_weights(stage / "weights" / "bmff_femoral_head.tsv")
    assert {"ct_0.0001", "ct_1", "prscs"} <= set(w.columns) and (w["prscs"] != 0).sum() > 100
    sc = read_sscore(stage / "scores.sscore")
    # target: outside the GWAS, not imaged, not withdrawn
    people = set(sc["IID"])
    analysed = set(read_sample_list(prs_run / "gwas" / "analysed_samples.txt"))
    imaged = set(read_bmff_table(tiny_cohort / "participants" / "bmff_idp.parquet")["eid"])
    withdrawn = read_withdrawals(tiny_cohort / "participants" / "withdrawals.csv")
    assert people and not people & analysed and not people & imaged and not people & set(withdrawn)
    assert summary["n_target"] == len(people) == summary["n_validation"] + summary["n_test"]
    assert {"bmff_femoral_head.prscs_AVG", "bmff_femoral_head.prscs_SUM"} <= set(sc.columns)
    assert "r2_truth" in res.columns and np.isfinite(res["r2_truth"].iloc[-1])
    assert summary["alignment"]["n_matched"] > 0 and summary["prscs"]["n_iter"] == 60
    assert {"figures/score_distribution_bmff_femoral_head.png", "figures/prs_performance.png"} <= \
        set(summary["figures"])
    assert "prs_results.tsv" in (prs_run / "report.html").read_text()


def test_prs_cli_score_and_build(prs_run, tiny_cohort, tmp_path):
    from bma_genetics.cli import app

    stage = prs_run / "prs"
    runner = CliRunner()
    out = tmp_path / "head.sscore"
    res = runner.invoke(app, ["prs", "score", "--weights", str(stage / "weights" / "bmff_femoral_head.tsv"),
                              "--genotypes", str(tiny_cohort / "genotypes" / "imputed"), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "people scored" in res.output
    assert len(read_sscore(out)) > 500
    res = runner.invoke(app, ["prs", "build", f"head={prs_run / 'gwas' / 'bmff_femoral_head.tsv.gz'}",
                              "--ld", str(tiny_cohort / "genotypes" / "array"),
                              "--ld-keep", str(prs_run / "gwas" / "analysed_samples.txt"),
                              "--target", str(tiny_cohort / "genotypes" / "array"), "--method", "ct",
                              "--threshold", "0.01", "--threshold", "1", "--out", str(tmp_path / "b")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "b" / "weights" / "head.tsv").exists()

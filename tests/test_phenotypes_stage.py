"""The ``phenotypes`` pipeline stage on the tiny cohort: images -> BMFF table -> truth check."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from bma_genetics.errors import BmaGeneticsError
from bma_genetics.pipeline.context import RunContext
from bma_genetics.sites import MAIN_TRAITS, all_traits


@pytest.mark.slow
def test_stage_images_measures_and_checks_against_truth(tiny_cohort, tmp_path):
    from bma_genetics.phenotypes.stage import run
    from bma_genetics.simulate import stage as images_stage

    ctx = RunContext(run_dir=tmp_path / "run", cohort=tiny_cohort, config={}, seed=3)
    # The images are the simulate stage's product; the phenotypes stage only reads them.
    with pytest.raises(BmaGeneticsError, match="stage 'images' has no outputs"):
        run(ctx, {"n_jobs": 2})
    img = images_stage.run(ctx, {"n_images": 3, "artefact_fraction": 0.34, "n_rescans": 1})
    (ctx.stage_dir("images") / "summary.json").write_text(json.dumps(img))
    assert img["simulated"] and img["n_images"] == 3 and img["n_rescans"] == 1
    summary = run(ctx, {"n_jobs": 2})
    d = ctx.stage_dir("phenotypes")
    table = pd.read_parquet(d / summary["bmff_table"])
    truth = pd.read_parquet(tiny_cohort / "truth" / "bmff_true.parquet")
    images = pd.read_csv(ctx.product("images", "truth"), sep="\t", dtype={"eid": str})
    assert ctx.product("images", "truth") == ctx.run_dir / "images" / "truth" / "images.tsv"
    assert len(table) == 3 and set(table["eid"]) == set(images["eid"])
    assert set(table["eid"]) <= set(truth["eid"].astype(str))
    assert set(all_traits()) <= set(table.columns)
    for rel in summary["tables"]:
        assert (d / rel).exists(), rel
    # the repeat scan (instance 3) is measured apart and paired with its first visit
    assert summary["n_rescanned"] == 1 and "bmff_icc.tsv" in summary["tables"]
    icc = pd.read_csv(d / "bmff_icc.tsv", sep="\t")
    assert set(MAIN_TRAITS) <= set(icc["trait"]) and (icc["n"] == 1).all()
    # The one injected artefact is caught; the clean participants pass QC.
    assert summary["qc"]["n_artefacts"] == 1 and summary["qc"]["detection_rate"] == 1.0
    assert summary["qc"]["false_flag_rate"] == 0.0
    # Recovery of the simulated truth on the participants passing QC (stated tolerance:
    # 1.5 percentage points per person and trait, the card's MAE target is 1 pp on average).
    clean = table[table["qc_pass"]].merge(truth.assign(eid=truth["eid"].astype(str)), on="eid", suffixes=("", "_true"))
    assert len(clean) == 2
    for t in MAIN_TRAITS:
        assert (clean[t] - clean[f"{t}_true"]).abs().max() < 0.015, t
    prov = json.loads((d / "bmff.provenance.json").read_text())
    assert prov["model"]["sha256"] == summary["model_sha256"]
    assert (d / "figures" / "bmff_vs_truth.png").stat().st_size > 10_000


def test_images_stage_points_at_a_cohorts_own_images(tmp_path):
    """A cohort with its own 20201 zips: the images stage simulates nothing and names them."""
    from bma_genetics.errors import InputError
    from bma_genetics.simulate import stage as images_stage

    cohort = tmp_path / "cohort"
    (cohort / "images" / "20201").mkdir(parents=True)
    (cohort / "images" / "20201" / "1000001_20201_2_0.zip").write_bytes(b"")
    ctx = RunContext(run_dir=tmp_path / "run", cohort=cohort, config={}, seed=1)
    summary = images_stage.run(ctx, {})
    assert not summary["simulated"] and summary["n_images"] == 1 and "truth" not in summary["files"]
    (ctx.stage_dir("images") / "summary.json").write_text(json.dumps(summary))
    assert ctx.product("images", "images") == cohort / "images" / "20201"
    assert not (ctx.run_dir / "images" / "images").exists()
    with pytest.raises(InputError, match="n_images"):
        images_stage.run(ctx, {"n_image": 3})
    with pytest.raises(BmaGeneticsError, match="cohort directory"):
        images_stage.run(RunContext(run_dir=tmp_path / "r2", cohort=None, config={}), {})

"""Calvarial BMA from synthetic head T1 (Kaufmann 2024): head images, io, stages, GWAS/PheWAS inputs."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pandas as pd
import pytest

from bma_genetics.errors import InputError
from bma_genetics.io import (
    HeadVolume,
    combine_calvarial,
    read_calvarial_table,
    read_head_image,
    write_calvarial_table,
    write_head_dicom_zip,
    write_head_nifti_zip,
)
from bma_genetics.pipeline.context import RunContext


def test_head_images_round_trip_through_dicom_and_nifti(tmp_path):
    rng = np.random.default_rng(0)
    t1 = rng.integers(0, 250, size=(6, 9, 7)).astype(np.float32)
    vol = HeadVolume("1000001", t1, (1.5, 1.2, 1.1), np.array([-10.0, -20.0, 5.0]))
    dcm = write_head_dicom_zip(tmp_path / "1000001_20216_2_0.zip", vol)
    nii = write_head_nifti_zip(tmp_path / "1000001_20252_2_0.zip", vol)
    assert "T1/T1.nii.gz" in zipfile.ZipFile(nii).namelist()
    for path in (dcm, nii):
        back = read_head_image(path)
        assert back.eid == "1000001" and np.array_equal(back.t1, t1), path
        assert np.allclose(back.spacing, vol.spacing) and np.allclose(back.origin, vol.origin, atol=1e-3)
    (tmp_path / "bad_20252_2_0.zip").write_bytes(b"not a zip")
    with pytest.raises(InputError, match="read_head_image/path"):
        read_head_image(tmp_path / "bad_20252_2_0.zip")


def test_cohort_carries_a_heritable_calvarial_trait(tiny_cohort):
    truth = pd.read_parquet(tiny_cohort / "truth" / "calvarial_true.parquet")
    meta = json.loads((tiny_cohort / "truth" / "calvarial.json").read_text())
    causal = pd.read_csv(tiny_cohort / "truth" / "calvarial_causal.tsv", sep="\t")
    assert truth["marrow_intensity"].between(40, 170).all() and truth["eid"].is_unique
    assert abs(meta["realised_h2_latent"] - meta["h2_latent"]) < 0.08
    # the planted genetic value explains a heritable share of the intensity
    r2 = np.corrcoef(truth["genetic_value"], truth["marrow_intensity"])[0, 1] ** 2
    assert 0.2 < r2 < 0.5
    female_only = causal[causal["variant_id"] == meta["female_only_variant"]].iloc[0]
    assert female_only["beta_male"] == 0 and female_only["beta_female"] != 0 and causal["major"].sum() == 8
    idp = read_calvarial_table(tiny_cohort / "participants" / "calvarial_idp.parquet")
    assert set(idp["eid"]) == set(truth.loc[truth["imaged"], "eid"].astype(str))
    m = idp.merge(truth.assign(eid=truth["eid"].astype(str)), on="eid")
    assert np.corrcoef(m["calvarial_bma"], m["marrow_intensity"])[0, 1] > 0.95


def test_calvarial_table_contract_and_precedence(tmp_path):
    with pytest.raises(InputError, match="calvarial_bma"):
        write_calvarial_table(pd.DataFrame({"eid": ["1"], "calvarial_bma": [400.0]}), tmp_path / "c.parquet")
    measured = pd.DataFrame({"eid": ["1", "2"], "calvarial_bma": [90.0, 95.0], "qc_pass": [True, False]})
    idp = pd.DataFrame({"eid": ["1", "2", "3"], "calvarial_bma": [80.0, 81.0, 82.0]})
    both = combine_calvarial(idp, measured).set_index("eid")["calvarial_bma"]
    # a head that failed QC is excluded (NaN), never filled with the cohort IDP (possibly another scale)
    assert both.loc["1"] == 90.0 and np.isnan(both.loc["2"]) and both.loc["3"] == 82.0 and len(both) == 3


def test_failed_head_is_excluded_not_filled_and_logged(caplog):
    measured = pd.DataFrame({"eid": ["1", "2", "4"], "calvarial_bma": [90.0, 300.0, 70.0],
                             "qc_pass": [True, False, False]})
    idp = pd.DataFrame({"eid": ["1", "2", "3"], "calvarial_bma": [80.0, 81.0, 82.0]})
    with caplog.at_level("WARNING", logger="bma_genetics.io.calvarial"):
        out = combine_calvarial(idp, measured).set_index("eid")["calvarial_bma"]
    assert out[["2", "4"]].isna().all() and out["1"] == 90.0 and out["3"] == 82.0
    assert "2 participant(s)" in caplog.text


def test_nifti_zip_without_t1_member_is_refused(tmp_path):
    import gzip

    vol = HeadVolume("1000002", np.ones((4, 5, 6), np.float32), (1.0, 1.0, 1.0))
    good = write_head_nifti_zip(tmp_path / "src_20252_2_0.zip", vol)
    blob = zipfile.ZipFile(good).read("T1/T1.nii.gz")
    # a 20252 zip with only the skull-stripped brain, a mask and a transform: must not be read as the head
    bad = tmp_path / "1000002_20252_2_0.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("T1/T1_brain.nii.gz", blob)
        zf.writestr("T1/T1_brain_mask.nii.gz", blob)
        zf.writestr("T1/transforms/T1_to_MNI_linear.mat", "1 0 0 0")
    with pytest.raises(InputError, match=r"read_head_image/path.*T1/T1\.nii\.gz.*T1_brain\.nii\.gz"):
        read_head_image(bad)
    # a prefix folder is allowed when the member ends with T1/T1.nii.gz
    pre = tmp_path / "1000003_20252_2_0.zip"
    with zipfile.ZipFile(pre, "w") as zf:
        zf.writestr("T1/T1_brain.nii.gz", gzip.compress(b"junk"))
        zf.writestr("1000003_20252_2_0/T1/T1.nii.gz", blob)
    assert np.array_equal(read_head_image(pre).t1, vol.t1)


def test_gwas_phenotypes_take_calvarial_bma(tiny_cohort, tmp_path):
    from bma_genetics.gwas.api import cohort_phenotypes
    from bma_genetics.io import build_participant_table, read_ukb

    people = build_participant_table(read_ukb(tiny_cohort / "participants" / "ukb_showcase.csv", progress=False))
    idp = read_calvarial_table(tiny_cohort / "participants" / "calvarial_idp.parquet")
    frame, _, traits = cohort_phenotypes(people,
                                         idp=tiny_cohort / "participants" / "bmff_idp.parquet",
                                         calvarial=idp)
    assert traits[-1] == "calvarial_bma" and frame["calvarial_bma"].notna().sum() > 0.8 * len(idp)
    with pytest.raises(InputError, match="calvarial stage"):
        cohort_phenotypes(people,
                          idp=tiny_cohort / "participants" / "bmff_idp.parquet", traits=["calvarial_bma"])


def test_stages_measure_heads_and_check_against_truth(tiny_cohort, tmp_path):
    from bma_genetics.calvarial import stage as calvarial_stage
    from bma_genetics.simulate import head_stage

    ctx = RunContext(run_dir=tmp_path / "run", cohort=tiny_cohort, config={}, seed=5)
    heads = head_stage.run(ctx, {"n_heads": 10, "failure_fraction": 0.4})
    (ctx.stage_dir("head_images") / "summary.json").write_text(json.dumps(heads))
    assert heads["simulated"] and heads["n_heads"] == 10
    truth = pd.read_csv(ctx.product("head_images", "truth"), sep="\t", dtype={"eid": str})
    assert sorted(truth["failure"]) == ["motion"] * 2 + ["none"] * 6 + ["truncated"] * 2
    summary = calvarial_stage.run(ctx, {})
    d = ctx.stage_dir("calvarial")
    table = read_calvarial_table(d / "calvarial.parquet")
    assert len(table) == 10 and set(table["eid"]) == set(truth["eid"])
    # every planted failure is caught; BMA tracks the true marrow intensity on the clean heads
    assert summary["truth"]["planted_caught"] == summary["truth"]["planted_failures"] == 4
    assert summary["truth"]["false_flag_share"] <= 1 / 6
    vs = pd.read_csv(d / "calvarial_vs_truth.tsv", sep="\t")
    assert vs["n"].iloc[0] >= 5 and vs["pearson_r"].iloc[0] >= 0.95
    prov = json.loads((d / "calvarial.provenance.json").read_text())
    assert prov["model"]["sha256"] == summary["model_sha256"] and prov["model"]["held_out"]["mae_mm"] < 0.8
    # heads written on scanner scales: the recorded map undoes each head's gain
    undo = table.merge(truth[truth["failure"] == "none"], on="eid").eval("intensity_scale * gain")
    assert truth["gain"].min() > 3 and undo.between(0.95, 1.05).all(), undo
    assert prov["intensity_normalisation"]["wm_value"] == 110
    # a rerun with the same key reuses the images
    again = head_stage.run(ctx, {"n_heads": 10, "failure_fraction": 0.4})
    assert again["n_heads"] == 10


def test_gwas_and_phewas_stages_read_calvarial_bma(tiny_cohort, tmp_path):
    from bma_genetics.gwas.stage import calvarial_trait
    from bma_genetics.phewas.stage import _calvarial

    ctx = RunContext(run_dir=tmp_path / "run", cohort=tiny_cohort, config={}, seed=1)
    # without the stage: only when asked for
    assert calvarial_trait(ctx, tiny_cohort, None) == (None, None)
    assert _calvarial(ctx, {"exposures": None}) is None
    frame, _ = calvarial_trait(ctx, tiny_cohort, ["calvarial_bma"])
    idp = read_calvarial_table(tiny_cohort / "participants" / "calvarial_idp.parquet")
    assert len(frame) == len(idp)
    # with the stage: its QC-passed values take precedence
    d = ctx.stage_dir("calvarial")
    eid = idp["eid"].iloc[0]
    write_calvarial_table(pd.DataFrame({"eid": [eid], "calvarial_bma": [1.5], "qc_pass": [True]}),
                          d / "calvarial.parquet")
    (d / "summary.json").write_text(json.dumps({"files": {"calvarial": "calvarial.parquet"}}))
    frame, traits = calvarial_trait(ctx, tiny_cohort, None)
    assert traits is None and frame.set_index("eid").loc[eid, "calvarial_bma"] == 1.5
    assert _calvarial(ctx, {"exposures": None}).set_index("eid").loc[eid, "calvarial_bma"] == 1.5


def test_measure_head_is_invariant_to_the_intensity_scale():
    # UK Biobank's T1.nii.gz is on the scanner's scale, the study's network and QC on FreeSurfer's nu.mgz
    # (mri_make_uchar: brain 1st percentile -> 2.55, 90th -> 110): each head is mapped so before profiling.
    # The same head written on a scanner scale (gain 6-13, bias field) and moved by any gain and offset
    # measures as on the nu scale; without the mapping the scanner head's BMA is ~9x (clipped at 255).
    from bma_genetics.calvarial.api import FS_WM_VALUE, measure_head
    from bma_genetics.calvarial.inference import load_profile_model
    from bma_genetics.simulate.heads import simulate_head_volume

    model = load_profile_model()
    nu, nu_truth = simulate_head_volume("1", 100.0, intensity="nu", rng=np.random.default_rng(3))
    raw, truth = simulate_head_volume("1", 100.0, rng=np.random.default_rng(3))
    assert nu_truth["gain"] == 1.0 and truth["gain"] > 5 and 0 <= truth["bias_amplitude"] <= 0.03
    assert np.percentile(raw.t1, 99) > 4 * FS_WM_VALUE  # really on another scale
    base = measure_head(nu, model)
    # the nu-scale head is (nearly) left as it is: FreeSurfer's convention is the simulator's truth scale
    assert abs(base["intensity_scale"] - 1) < 0.01 and abs(base["intensity_offset"]) < 1 and base["qc_pass"]
    for k, b in ((1.0, 0.0), (0.5, 0.0), (1.0, 300.0)):
        r = measure_head(HeadVolume("1", raw.t1 * np.float32(k) + np.float32(b), raw.spacing, raw.origin), model)
        # tolerance: 1 % of BMA and of the outer-table SD (the bias field, up to 3 %, stays), 0.05 mm of
        # thickness, the same QC verdict
        assert r["calvarial_bma"] == pytest.approx(base["calvarial_bma"], rel=0.01), (k, b)
        assert r["marrow_thickness_mm"] == pytest.approx(base["marrow_thickness_mm"], abs=0.05), (k, b)
        assert r["qc_outer_table_sd"] == pytest.approx(base["qc_outer_table_sd"], rel=0.01), (k, b)
        # the bias field moves the head mask's edge a little: points within 0.5 %
        assert r["qc_pass"] == base["qc_pass"] and r["n_points"] == pytest.approx(base["n_points"], rel=0.005)
        assert r["intensity_scale"] * k * truth["gain"] == pytest.approx(1, abs=0.02), (k, b)  # the map is recorded


def test_head_mask_is_the_whole_head_when_the_brain_is_bright():
    # a fatty scalp and a bright brain (white matter 106 on the nu.mgz scale) parted by the dark skull:
    # the largest component above the threshold was the brain, so the "skin surface" was the brain's
    from bma_genetics.calvarial.surface import head_mask
    from bma_genetics.simulate.heads import simulate_head_volume

    vol, truth = simulate_head_volume("1", 60.0, intensity="nu", rng=np.random.default_rng(4))
    assert truth["adiposity"] > 1.5
    m = head_mask(vol.t1)
    assert m[vol.t1 > 150].mean() > 0.99  # the scalp's fat is inside the head


def test_background_rule_catches_ghosts_the_outer_table_rule_misses(monkeypatch):
    # motion ghosts at a quarter of the head's intensity bias BMA by ~10 % but leave the outer table's SD
    # under the study's 30; they light up the air around the head
    import bma_genetics.simulate.heads as heads
    from bma_genetics.calvarial.api import measure_head
    from bma_genetics.calvarial.inference import load_profile_model

    model = load_profile_model()
    clean, _ = heads.simulate_head_volume("1", 100.0, intensity="nu", rng=np.random.default_rng(7))
    monkeypatch.setattr(heads, "MOTION_GHOST_AMPLITUDE", (0.25, 0.25))
    ghost, _ = heads.simulate_head_volume("1", 100.0, intensity="nu", failure="motion", rng=np.random.default_rng(7))
    a, b = measure_head(clean, model), measure_head(ghost, model)
    assert a["qc_pass"] and a["qc_background_share"] < 0.0005
    assert b["qc_outer_table_sd"] < 30 and not b["qc_md_outliers"] and not b["qc_few_points"]
    assert b["qc_background_artefact"] and not b["qc_pass"]
    assert abs(b["calvarial_bma"] / a["calvarial_bma"] - 1) > 0.05

"""Scan reliability (repeat imaging, instance 3) and vertebral levels anchored at the pelvis (issue 20)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bma_genetics.errors import InputError
from bma_genetics.io.bmff import read_icc_table, write_icc_table
from bma_genetics.io.dixon import find_images, instance_from_name
from bma_genetics.phenotypes.api import retest_reliability
from bma_genetics.phenotypes.bmff import SITE_CODES, anchor_levels, assign_sites, site_dice
from bma_genetics.phenotypes.transforms import semantic_labels
from bma_genetics.simulate.dixon import (
    LABEL_CODE,
    DixonGeometry,
    plant_spine_variants,
    simulate_dixon_volume,
)
from bma_genetics.simulate.rescan import rescan_plan
from bma_genetics.sites import VERTEBRAE, all_traits
from bma_genetics.stats import icc

GEO = DixonGeometry()


# ------------------------------------------------------------------------------------- ICC
def test_icc_reproduces_shrout_fleiss():
    # Shrout & Fleiss (1979), Table 2: 6 targets x 4 judges; ICC(2,1) = 0.29, ICC(3,1) = 0.71;
    # 95 % CIs as McGraw & Wong (1996) (the same as pingouin.intraclass_corr: [0.02, 0.76], [0.34, 0.95]).
    d = [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]
    r = icc(d)
    assert r["icc2_1"] == pytest.approx(0.2898, abs=1e-4) and r["icc3_1"] == pytest.approx(0.7148, abs=1e-4)
    assert (round(r["icc2_1_lo"], 2), round(r["icc2_1_hi"], 2)) == (0.02, 0.76)
    assert (round(r["icc3_1_lo"], 2), round(r["icc3_1_hi"], 2)) == (0.34, 0.95)
    # a constant offset between sessions lowers absolute agreement only
    x = np.random.default_rng(1).normal(size=(40, 1)) + np.random.default_rng(2).normal(0, 0.1, size=(40, 2))
    base, shifted = icc(x), icc(x + [0.0, 0.5])
    assert shifted["icc3_1"] == pytest.approx(base["icc3_1"]) and shifted["icc2_1"] < base["icc2_1"] - 0.1
    assert np.isnan(icc([[1, 2], [2, 3]])["icc3_1"])  # fewer than 3 subjects
    with pytest.raises(InputError, match="icc/ratings"):
        icc([1, 2, 3])


def test_retest_reliability_table_through_io(tmp_path):
    rng = np.random.default_rng(3)
    eids = [str(1000 + i) for i in range(30)]
    first = pd.DataFrame({"eid": eids, "qc_pass": True})
    for c in all_traits():
        first[c] = rng.uniform(0.3, 0.9, 30)
    repeat = first.copy()
    for c in all_traits():
        repeat[c] = first[c] + rng.normal(0, 0.01, 30)
    repeat.loc[0, "qc_pass"] = False  # a failed rescan is not paired
    rel = retest_reliability(first, repeat)
    assert list(rel["trait"]) == list(all_traits()) and (rel["n"] == 29).all()
    assert (rel["icc3_1"] > 0.95).all() and (rel["icc3_1_lo"] < rel["icc3_1"]).all()
    assert (rel["sd_diff_pp"].between(0.5, 1.6)).all()
    path = write_icc_table(rel, tmp_path / "bmff_icc.tsv")
    back = read_icc_table(path)
    assert np.allclose(back["icc3_1"], rel["icc3_1"])
    with pytest.raises(InputError, match="write_icc_table"):
        write_icc_table(rel.drop(columns="icc2_1"), tmp_path / "bad.tsv")


# --------------------------------------------------------------------------- repeat imaging
def test_find_images_keeps_one_visit(tmp_path):
    # A folder with first-visit and repeat-imaging zips (UK Biobank instances 2 and 3): the BMFF
    # table must measure the first visit; before, the eid's later zip (instance 3) replaced it.
    for name in ("1000001_20201_2_0.zip", "1000001_20201_3_0.zip", "1000002_20201_2_0.zip"):
        (tmp_path / name).write_bytes(b"")
    first = find_images(tmp_path)
    assert [(e, p.name) for e, _, p in first] == [("1000001", "1000001_20201_2_0.zip"),
                                                   ("1000002", "1000002_20201_2_0.zip")]
    assert [p.name for _, _, p in find_images(tmp_path, instance=3)] == ["1000001_20201_3_0.zip"]
    assert [p.name for _, _, p in find_images(tmp_path, instance=None)][0] == "1000001_20201_2_0.zip"
    assert instance_from_name("5_20201_3_0.zip") == 3 and instance_from_name("5_water.nii.gz") is None
    with pytest.raises(InputError, match="find_images/instance"):
        find_images(tmp_path, instance="3")


def test_rescan_plan_own_stream_and_clean_only():
    art = np.array(["none"] * 8 + ["motion", "fat_water_swap"], dtype=object)
    plan = rescan_plan(art, 20, seed=5)
    assert [p["index"] for p in plan] == list(range(8))  # capped at the clean ones
    assert rescan_plan(art, 3, seed=5) == rescan_plan(art, 3, seed=5)
    assert len({p["index"] for p in rescan_plan(art, 3, seed=6)}) == 3
    assert all(abs(p["position"][0]) < 40 for p in plan)
    # the spine variants: their own stream, a small share
    v = plant_spine_variants(50, 0.04, seed=1)
    assert sorted(v[v != "typical"]) == ["sacralised_l5", "six_lumbar"]
    assert (plant_spine_variants(3, 0.04, seed=1) == "typical").all()


# ---------------------------------------------------------------------- vertebral levels
def test_anchor_levels_units():
    assert anchor_levels(np.array([122.0, 152, 182, 212])) == (0, "typical")
    assert anchor_levels(np.array([92.0, 122, 152, 182])) == (-1, "six_lumbar")
    assert anchor_levels(np.array([152.0, 182, 212])) == (1, "sacralised_l5")
    assert anchor_levels(np.array([107.0, 137, 167])) == (None, "ambiguous")  # half a level off
    assert anchor_levels(np.array([32.0, 62, 92])) == (None, "ambiguous")  # three levels off
    assert anchor_levels(np.array([122.0])) == (None, "unanchored")


@pytest.fixture(scope="module")
def planted():
    """The same simulated anatomy with a six-lumbar and a sacralised-L5 spine (and a repositioned rescan)."""
    rng = np.random.default_rng(77)
    truth = {f"bmff_{v}": float(rng.uniform(0.3, 0.6)) for v in VERTEBRAE}
    out = {kind: simulate_dixon_volume(truth, seed=78, spine=kind) for kind in ("six_lumbar", "sacralised_l5")}
    out["rescan"] = simulate_dixon_volume(truth, seed=78, spine="six_lumbar", position=(9.0, 0.0, 0.0))
    return out


def test_levels_anchored_at_the_pelvis_on_planted_spines(planted):
    # Perfect classes of a six-lumbar spine (L6 below L5) and a sacralised L5 (fused to the
    # sacrum, not a free body): counting up from the lowest body named every level wrong (L6 as
    # L5, L4 as L5); anchored at the femoral heads, every level is right.
    six = planted["six_lumbar"]
    assert (six.labels == LABEL_CODE["l6"]).sum() > 500
    sites, info = assign_sites(semantic_labels(six.labels), spacing=GEO.spacing, return_levels=True)
    assert {k: info[k] for k in ("vertebral_anatomy", "qc_vertebral_levels")} == {"vertebral_anatomy": "six_lumbar", "qc_vertebral_levels": False}
    assert abs(info["vertebral_anchor_offset"] + 1) < 0.35
    true = np.where(np.isin(six.labels, [LABEL_CODE["t7"], LABEL_CODE["l6"]]), 0, six.labels)
    dice = site_dice(sites, true)
    assert min(dice[v] for v in VERTEBRAE) == pytest.approx(1.0), dice
    assert not (sites[six.labels == LABEL_CODE["l6"]]).any()  # L6 is not a site

    sac = planted["sacralised_l5"]
    assert not (sac.labels == LABEL_CODE["l5"]).any() and np.isnan(sac.site_ff["bmff_l5"])
    sites, info = assign_sites(semantic_labels(sac.labels), spacing=GEO.spacing, return_levels=True)
    assert {k: info[k] for k in ("vertebral_anatomy", "qc_vertebral_levels")} == {"vertebral_anatomy": "sacralised_l5", "qc_vertebral_levels": False}
    assert not (sites == SITE_CODES["l5"]).any()  # missing -> qc_missing_site, never shifted
    dice = site_dice(sites, np.where(sac.labels == LABEL_CODE["t7"], 0, sac.labels))
    assert min(dice[v] for v in VERTEBRAE if v != "l5") == pytest.approx(1.0), dice


def test_levels_without_an_anchor_are_flagged(planted):
    classes = semantic_labels(planted["six_lumbar"].labels)
    classes[classes == 2] = 0  # no proximal femur: no pelvic anchor
    _, info = assign_sites(classes, spacing=GEO.spacing, return_levels=True)
    assert {k: info[k] for k in ("vertebral_anatomy", "qc_vertebral_levels")} == {"vertebral_anatomy": "unanchored", "qc_vertebral_levels": True}
    assert np.isnan(info["vertebral_anchor_offset"])


def test_rescan_keeps_the_anatomy_at_a_new_position(planted):
    a, b = planted["six_lumbar"], planted["rescan"]
    # 9 mm along the table = 3 slices of 3 mm: the same label map, moved up by 3 slices
    np.testing.assert_array_equal(b.labels[3:], a.labels[:-3])
    for k, v in a.site_ff.items():
        assert b.site_ff[k] == pytest.approx(v, abs=1e-4, nan_ok=True), k


def test_report_shows_retest_icc():
    from bma_genetics.pipeline.report import _summary_imaging

    summary = {"phenotypes": {"n_imaged": 50, "n_qc_pass": 44, "flags": {}, "n_rescanned": 10,
                              "retest_icc": {"bmff_spine": {"icc3_1": 0.9991, "icc2_1": 0.9987, "n": 10}}}}
    html = _summary_imaging(summary, 5)
    assert "Test-retest" in html and "bmff_spine" in html and "0.9991" in html


def test_a_fused_lowest_segment_is_not_a_sixth_lumbar(planted):
    # A sacralised L5 whose marrow runs into the sacrum reaches the network as one tall piece,
    # split in two at its waist; the lower half, a level below L5, looked like an L6 and the
    # fused segment was measured as L5 (seen with the shipped network on a simulated participant).
    # Made here by joining L6 and L5 of the six-lumbar spine through their disc: no free L5.
    six = planted["six_lumbar"]
    classes = semantic_labels(six.labels)
    l6, l5 = (np.flatnonzero((six.labels == LABEL_CODE[v]).any((1, 2))) for v in ("l6", "l5"))
    block = classes[l6[0]:l5[-1] + 1]
    fill = (six.labels[l6[0]:l5[-1] + 1] == LABEL_CODE["l5"]).any(0)
    block[:, fill] = 1  # bridge the disc with marrow
    sites, info = assign_sites(classes, spacing=GEO.spacing, return_levels=True)
    assert {k: info[k] for k in ("vertebral_anatomy", "qc_vertebral_levels")} == {"vertebral_anatomy": "sacralised_l5", "qc_vertebral_levels": False}
    assert not (sites == SITE_CODES["l5"]).any()  # missing -> qc_missing_site, never shifted
    true = np.where(np.isin(six.labels, [LABEL_CODE["t7"], LABEL_CODE["l6"], LABEL_CODE["l5"]]), 0, six.labels)
    dice = site_dice(sites, true)
    assert min(dice[v] for v in VERTEBRAE if v != "l5") == pytest.approx(1.0), dice

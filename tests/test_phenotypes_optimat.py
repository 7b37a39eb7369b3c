"""The ``optimat`` BMFF method against an independent reimplementation of OPTIMAT's MATLAB.

The reference below is written from MATLAB's documented semantics, not from the package:
``imgaussfilt(A, 2)`` on each slice (an explicit 9 x 9 kernel normalised to sum 1, replicate
padding with ``numpy.pad(mode="edge")``), OPTIMAT's slice clean-up as its MATLAB code does it
(1-based ``ROI(:,:,1:4) = 0``, ``ROI(:,:,end-3:end) = 0`` per station volume, the diaphysis
``Mid = min(I3) + ceil(n/2)`` rule), ``imerode`` with ``strel('square', 3)`` by hand (pixels
beyond the border count as 1), and ``mean``/``std``/``median``/``iqr`` (``prctile``'s midpoint
percentiles by interpolation).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from bma_genetics.sites import VERTEBRAE

SIGMA = 2.0


# ----------------------------------------------------------------------- independent reference
def _imgaussfilt_slice(img: np.ndarray, sigma: float) -> np.ndarray:
    size = 2 * math.ceil(2 * sigma) + 1
    r = size // 2
    ax = np.arange(-r, r + 1, dtype=float)
    kernel = np.exp(-(ax[:, None] ** 2 + ax[None, :] ** 2) / (2 * sigma**2))
    kernel /= kernel.sum()
    padded = np.pad(img.astype(float), r, mode="edge")
    out = np.zeros(img.shape, dtype=float)
    for di in range(size):
        for dj in range(size):
            out += kernel[di, dj] * padded[di:di + img.shape[0], dj:dj + img.shape[1]]
    return out


def _ff_reference(water: np.ndarray, fat: np.ndarray) -> np.ndarray:
    ff = np.zeros(water.shape)
    for z in range(water.shape[0]):
        gf, gw = _imgaussfilt_slice(fat[z], SIGMA), _imgaussfilt_slice(water[z], SIGMA)
        with np.errstate(divide="ignore", invalid="ignore"):
            s = gf / (gf + gw) * 100
        s[np.isnan(s) | (s < 0)] = 0
        ff[z] = s
    return ff


def _imerode_square3(mask2d: np.ndarray) -> np.ndarray:
    p = np.pad(mask2d, 1, mode="constant", constant_values=True)
    out = np.ones(mask2d.shape, dtype=bool)
    for di in range(3):
        for dj in range(3):
            out &= p[di:di + mask2d.shape[0], dj:dj + mask2d.shape[1]]
    return out


def _roi_reference(mask: np.ndarray, station: np.ndarray, *, diaphysis: bool) -> np.ndarray:
    roi = mask.copy()
    for s in np.unique(station):  # each station volume: ROI(:,:,1:4)=0; ROI(:,:,end-3:end)=0
        zs = np.flatnonzero(station == s)  # 0-based indices of that volume's slices
        vol = roi[zs]
        vol[0:4] = False
        vol[len(zs) - 4:] = False
        roi[zs] = vol
    if diaphysis:
        i3 = np.nonzero(roi)[0] + 1  # MATLAB's 1-based slice indices
        if i3.size:
            nslices = i3.max() - i3.min() + 1
            if nslices > 9:
                mid = i3.min() + math.ceil(nslices / 2)
                roi[: mid - 4] = False  # ROI(:,:,1:(Mid-4)) = 0
                roi[mid + 3:] = False  # ROI(:,:,(Mid+4):end) = 0
        return roi
    return np.stack([_imerode_square3(roi[z]) for z in range(roi.shape[0])])


def _prctile(x: np.ndarray, p: float) -> float:
    xs = np.sort(x)
    n = len(xs)
    pos = 100 * (np.arange(1, n + 1) - 0.5) / n
    return float(np.interp(p, pos, xs))


def _stats_reference(x: np.ndarray) -> tuple[float, float, float, float, int]:
    n = len(x)
    mean = sum(x) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in x) / (n - 1))
    return mean, sd, _prctile(x, 50), _prctile(x, 75) - _prctile(x, 25), n


def _synthetic(seed: int):
    """Random water/fat and random blob masks for the OPTIMAT ROIs (some touching the edge)."""
    from scipy import ndimage

    from bma_genetics.phenotypes.bmff import SITE_CODES

    rng = np.random.default_rng(seed)
    shape = (44, 30, 34)
    water = rng.gamma(2.0, 150.0, shape)
    fat = rng.gamma(2.0, 250.0, shape)
    fat[:, :2, :3] = 0  # 0 / 0 somewhere
    water[:, :2, :3] = 0
    sites = np.zeros(shape, dtype=np.int16)
    stems = ["femoral_head_left", "femoral_neck_left", "femoral_diaphysis_left", "femoral_head_right",
             *rng.choice(VERTEBRAE, 3, replace=False)]
    for k, stem in enumerate(stems):
        noise = ndimage.gaussian_filter(rng.normal(size=shape), 2.5)
        z0 = int(rng.integers(0, 8)) if stem == "femoral_diaphysis_left" else int(rng.integers(0, 30))
        z1 = z0 + (int(rng.integers(12, 18)) if stem == "femoral_diaphysis_left" else int(rng.integers(6, 14)))
        blob = noise > np.quantile(noise, 0.8)
        cy = int(rng.integers(3, shape[1] - 8))
        blob[:, cy:cy + 5, 4 * k + 3:4 * k + 8] = True  # a solid core in every slice of the ROI
        blob[:z0] = False
        blob[z1:] = False
        cols = slice(4 * k, 4 * k + 12) if k < 6 else slice(24, 34)  # the last touches the edge
        keep = np.zeros(shape, dtype=bool)
        keep[:, :, cols] = True
        sites[blob & keep & (sites == 0)] = SITE_CODES[stem]
    station = np.repeat([0, 1, 2], [24, 10, 10])
    return water, fat, sites, station


# ----------------------------------------------------------------------------------- the tests
def test_ff_map_equals_matlab_imgaussfilt_semantics():
    from bma_genetics.phenotypes.bmff import optimat_ff_map

    water, fat, _, _ = _synthetic(1)
    np.testing.assert_allclose(optimat_ff_map(water, fat), _ff_reference(water, fat), rtol=0, atol=1e-9)


@pytest.mark.parametrize("seed", [2, 3, 4])
def test_optimat_statistics_equal_the_reference(seed):
    from bma_genetics.phenotypes.bmff import OPTIMAT_ROIS, SITE_CODES, measure_optimat, site_masks

    water, fat, sites, station = _synthetic(seed)
    row = measure_optimat(water, fat, sites, spacing=(3.0, 2.2, 2.2), station=station)
    ff = _ff_reference(water, fat)
    masks = site_masks(sites)
    masks["femoral_neck_left"] = sites == SITE_CODES["femoral_neck_left"]
    checked = 0
    for stem, code in OPTIMAT_ROIS.items():
        roi = _roi_reference(masks[stem], station, diaphysis=code == "D")
        col = f"bmff_{stem}"
        assert row[f"{col}_n_voxels"] == int(roi.sum()), stem
        if roi.sum() < 2:
            assert roi.sum() == 1 or np.isnan(row[col]), stem
            continue
        mean, sd, med, iqr, _ = _stats_reference(list(ff[roi]))
        for got, want in ((row[col], mean), (row[f"{col}_sd"], sd), (row[f"{col}_median"], med),
                          (row[f"{col}_iqr"], iqr)):
            assert abs(100 * got - want) < 1e-6, (stem, got, want)
        checked += 1
    assert checked >= 4
    # the left femur only; the diaphysis keeps 7 central slices (Mid - 3 .. Mid + 3)
    assert np.isnan(row["bmff_femoral_head_right"]) and np.isnan(row["bmff_total_hip_right"])
    d = _roi_reference(masks["femoral_diaphysis_left"], station, diaphysis=True)
    assert 0 < len(np.flatnonzero(d.any((1, 2)))) <= 7
    assert row["bmff_femoral_head"] == row["bmff_femoral_head_left"]


def test_optimat_roi_qc_and_roi_table_through_io(tmp_path):
    from bma_genetics.io.bmff import read_roi_stats, write_roi_stats
    from bma_genetics.phenotypes.api import roi_stats_table
    from bma_genetics.phenotypes.bmff import OPTIMAT_ROIS
    from bma_genetics.phenotypes.qc import optimat_roi_qc, site_qc

    rng = np.random.default_rng(5)
    rows = []
    for i in range(30):
        r = {"eid": str(1000 + i), "qc_read_failed": False}
        for stem in OPTIMAT_ROIS:
            r[f"bmff_{stem}"] = float(rng.uniform(0.3, 0.8))
            for k in ("sd", "median", "iqr"):
                r[f"bmff_{stem}_{k}"] = 0.05
            r[f"bmff_{stem}_n_voxels"] = int(rng.integers(200, 220))
        rows.append(r)
    rows[0]["bmff_femoral_head_left_n_voxels"] = 19  # < 20 voxels: excluded
    rows[1]["bmff_femoral_diaphysis_left_n_voxels"] = 20  # kept
    rows[2]["bmff_l2_n_voxels"] = 100  # far below mean - 3 SD: excluded
    rows[3].update(bmff_l1=np.nan, bmff_l1_n_voxels=0, bmff_l1_volume_ml=8.0)  # emptied by the slice rules
    # a vertebra emptied by the station-edge rule is an ROI exclusion, not a missing (unsegmented) site
    assert not site_qc(rows[3], measured=["bmff_l1"], by_mask=True)["qc_missing_site"]
    assert site_qc(rows[3], measured=["bmff_l1"])["qc_missing_site"]
    assert site_qc({**rows[3], "bmff_l1_volume_ml": 0.0}, measured=["bmff_l1"], by_mask=True)["qc_missing_site"]
    t = optimat_roi_qc(pd.DataFrame(rows))
    assert np.isnan(t.loc[0, "bmff_femoral_head_left"]) and np.isnan(t.loc[0, "bmff_femoral_head"])
    assert t.loc[0, "qc_optimat_excluded"] == "femoral_head_left"
    assert np.isfinite(t.loc[1, "bmff_femoral_diaphysis_left"]) and t.loc[1, "qc_optimat_excluded"] == ""
    assert t.loc[2, "qc_optimat_excluded"] == "l2" and np.isnan(t.loc[2, "bmff_l2"])
    assert t.loc[3, "qc_optimat_excluded"] == "l1"
    assert (t["qc_optimat_excluded"] != "").sum() == 3
    roi = roi_stats_table(t)
    assert len(roi) == 30 * len(OPTIMAT_ROIS)
    assert not roi.loc[(roi["eid"] == "1000") & (roi["site"] == "femoral_head_left"), "qc_pass"].item()
    assert set(roi.loc[roi["roi"] == "D", "eroded"]) == {False}
    back = read_roi_stats(write_roi_stats(roi, tmp_path / "bmff_roi_stats.parquet"))
    pd.testing.assert_frame_equal(back, roi, check_dtype=False)
    # with too few rows for the spine rule, an emptied vertebra is still listed
    few = optimat_roi_qc(pd.DataFrame(rows[3:5]))
    assert list(few["qc_optimat_excluded"]) == ["l1", ""]


def test_optimat_is_a_method_of_the_stage_the_cli_and_the_api(tmp_path):
    """Fails on the code before the method existed: no ``bmff_method`` parameter, no ``--method``."""
    from typer.testing import CliRunner

    from bma_genetics._params import check_params
    from bma_genetics.cli import app
    from bma_genetics.errors import InputError
    from bma_genetics.phenotypes import stage
    from bma_genetics.phenotypes.api import run_bmff

    assert check_params("phenotypes", {}, stage.PARAMS)["bmff_method"] == "eroded"  # the default stays
    assert check_params("phenotypes", {"bmff_method": "optimat"}, stage.PARAMS)["bmff_method"] == "optimat"
    with pytest.raises(InputError, match="bmff_method"):
        check_params("phenotypes", {"bmff_method": "matlab"}, stage.PARAMS)
    with pytest.raises(InputError, match="run_bmff/method"):
        run_bmff(tmp_path, tmp_path / "bmff.parquet", method="matlab")
    res = CliRunner().invoke(app, ["phenotypes", "bmff", "--help"])
    assert res.exit_code == 0 and "--method" in res.output and "optimat" in res.output

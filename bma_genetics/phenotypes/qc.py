"""Image and measurement quality control for BMFF: the flags in the BMFF table.

Every flag is a boolean column (``True`` = problem); ``qc_pass`` is ``True`` when none is set.

==========================  ==================================================================
flag                        rule
==========================  ==================================================================
``qc_read_failed``          the zip/NIfTI could not be read or stitched (``error`` says why);
                            every BMFF column is missing
``qc_fat_water_swap``       in some station the subcutaneous fat shell -- body voxels 1-3
                            voxels inside the skin -- has median fat fraction < ``0.5``
                            (it is ~0.9 normally; a swap inverts it)
``qc_missing_station``      slices missing between stations (a gap), fewer stations than the
                            model's reference acquisition, or axial coverage < 85 % of it
``qc_truncated_fov``        the body touches the left/right/anterior/posterior image edge in
                            more than 5 % of slices that contain body
``qc_motion``               in some station more than 1 % of the air voxels (outside the body
                            dilated by 4 voxels) exceed 15 % of the median body intensity:
                            ghosts along the phase-encode direction
``qc_missing_site``         a site's eroded mask is empty (``qc_missing_sites`` lists them)
``qc_mask_volume_outlier``  a site's log mask volume is more than 4 robust SD from its centre
                            (rule below); listed in ``qc_mask_volume_sites``
``qc_bmff_outlier``         a site's BMFF is > 4 SD from the batch mean (computed over the whole
                            output table, when >= 20 values); listed in ``qc_bmff_outlier_sites``
``qc_vertebral_levels``     the vertebral levels could not be anchored at the pelvis (no femoral
                            head, or the lowest body not within a third of a level of L6, L5 or
                            L4's place; :func:`~bma_genetics.phenotypes.bmff.anchor_levels`):
                            they were counted from the lowest body and may be shifted. The
                            anatomy found is in ``vertebral_anatomy``, the offset of the lowest
                            body in ``vertebral_anchor_offset``. Also set for **every**
                            participant by the cohort guard
                            (:func:`vertebral_level_guard`) when more than 15 % are called
                            ``six_lumbar`` or ``sacralised_l5`` or the median offset is more
                            than 0.25 level from 0: the anchor does not fit these scans
==========================  ==================================================================

The image flags (swap, missing station, truncated field of view, motion) are computed from the
images alone, before segmentation.

**Mask-volume rule.** For each site, the natural log of the mask volume (ml, before erosion) is
compared with a centre and a robust SD: ``|log v - centre| > 4 * sd`` flags the site.

* *Batch rule* -- when the table holds at least :data:`MASK_VOLUME_MIN_BATCH` (50) rows that were
  read and raised no image flag and have that site, the centre is the median of their log
  volumes and the SD is ``1.4826 * MAD`` (median absolute deviation), floored at
  :data:`MASK_VOLUME_MIN_SD` (0.05, about 5 % in volume). Median and MAD ignore the failures
  the flag exists to catch, so one bad segmentation does not hide another.
* *Reference rule* -- otherwise (small batches, a single volume from
  :func:`~bma_genetics.phenotypes.api.predict_bmff`) the centre and SD come from the model's
  checkpoint (``meta['reference']['volume_log_ml']``): the same median and ``1.4826 * MAD`` (same
  floor) of the model's own site masks on clean simulated held-out volumes
  (``build_qc_reference`` in ``scripts/train_shipped_weights.py``; the shipped weights: 80 volumes,
  seeds 404-407, disjoint from training, validation and the Dice test set). A model trained
  with :func:`~bma_genetics.phenotypes.api.train_unet` stores the same statistics of its
  training label maps.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
from scipy import ndimage

#: Image-level flags (computed from the images).
IMAGE_FLAGS: tuple[str, ...] = ("qc_fat_water_swap", "qc_missing_station", "qc_truncated_fov", "qc_motion")
#: Every boolean flag column, in table order.
FLAGS: tuple[str, ...] = ("qc_read_failed", *IMAGE_FLAGS, "qc_missing_site", "qc_mask_volume_outlier", "qc_bmff_outlier",
                          "qc_vertebral_levels")

SWAP_THRESHOLD = 0.5
MOTION_AIR_FRACTION = 0.01
MOTION_INTENSITY = 0.15
TRUNCATION_FRACTION = 0.05
COVERAGE_FRACTION = 0.85
OUTLIER_SD = 4.0
#: Rows needed for the batch rule of the mask-volume flag (else the checkpoint's reference).
MASK_VOLUME_MIN_BATCH = 50
#: Floor of the robust SD of log mask volume.
MASK_VOLUME_MIN_SD = 0.05
#: MAD -> SD for a normal distribution.
MAD_TO_SD = 1.4826


def body_mask(water: np.ndarray, fat: np.ndarray, *, threshold: float = 0.45) -> tuple[np.ndarray, float]:
    """Body mask per slice (holes filled: lungs, bowel gas) and the median body intensity.

    The threshold is a fraction of the robust body intensity (median of water + fat over voxels
    above 20 % of its 99th percentile), high enough to leave motion ghosts outside.
    """
    s = ndimage.uniform_filter(water + fat, size=(1, 3, 3))
    hi = float(np.percentile(s[:, ::2, ::2], 99))
    ref = float(np.median(s[s > 0.2 * hi])) if hi > 0 else 0.0
    m = s > threshold * ref
    filled = np.zeros_like(m)
    for k in range(m.shape[0]):
        if m[k].any():
            sl = ndimage.binary_fill_holes(m[k])
            filled[k] = _largest_components_2d(sl)
    return filled, ref


def _largest_components_2d(m: np.ndarray) -> np.ndarray:
    lab, n = ndimage.label(m)
    if n <= 1:
        return m
    sizes = np.bincount(lab.ravel())[1:]
    # thighs are two components: keep those at least 20 % of the largest
    keep = np.flatnonzero(sizes >= 0.2 * sizes.max()) + 1
    return np.isin(lab, keep)


def image_qc(
    water: np.ndarray,
    fat: np.ndarray,
    *,
    station: np.ndarray | None,
    n_stations: int,
    spacing: tuple[float, float, float],
    reference: dict | None = None,
) -> dict[str, object]:
    """Image-level QC metrics and flags for one stitched volume.

    Parameters
    ----------
    water, fat : ndarray of shape (Z, Y, X)
    station : ndarray of shape (Z,), optional
        Station index per slice (-1 = gap), from the reader; ``None`` = one station.
    n_stations : int
    spacing : (dz, dy, dx)
    reference : dict, optional
        ``expected_stations`` and ``expected_coverage_mm`` (from the model metadata).

    Returns
    -------
    dict
        The four image flags and their metrics: ``qc_shell_ff_min`` (lowest per-station shell
        fat fraction), ``qc_air_ghost_max`` (highest per-station share of bright air voxels),
        ``qc_edge_fraction``, ``qc_coverage_mm``, ``qc_n_stations``, ``qc_gap_slices``.
    """
    ref = reference or {}
    z = water.shape[0]
    st = np.zeros(z, dtype=int) if station is None else np.asarray(station)
    gap = st < 0
    # Slices with no signal at all are gaps too (NIfTI carries no station structure).
    empty = ~((water + fat).reshape(z, -1) > 0).any(1)
    gap = gap | empty
    body, ref_int = body_mask(water, fat)
    ff = fat / np.maximum(water + fat, 1e-6)
    inner1 = ndimage.binary_erosion(body, structure=np.ones((1, 3, 3)), iterations=1)
    inner3 = ndimage.binary_erosion(body, structure=np.ones((1, 3, 3)), iterations=3)
    shell = inner1 & ~inner3
    air = ~ndimage.binary_dilation(body, structure=np.ones((1, 3, 3)), iterations=4)
    bright = (water + fat) > MOTION_INTENSITY * ref_int
    shell_ff, ghost = [], []
    for s in np.unique(st[~gap]):
        sel = (st == s) & ~gap
        sh = shell[sel]
        if sh.sum() > 100:
            shell_ff.append(float(np.median(ff[sel][sh])))
        a = air[sel]
        if a.sum() > 100:
            ghost.append(float(bright[sel][a].mean()))
    has_body = body.reshape(z, -1).any(1)
    edges = body[:, :, 0].any(1) | body[:, :, -1].any(1) | body[:, 0, :].any(1) | body[:, -1, :].any(1)
    edge_fraction = float(edges[has_body].mean()) if has_body.any() else 0.0
    covered = int((~gap).sum())
    coverage = covered * spacing[0]
    exp_st = int(ref.get("expected_stations", 0) or 0)
    exp_cov = float(ref.get("expected_coverage_mm", 0) or 0)
    missing_station = bool(
        gap[np.argmax(~gap) : z - np.argmax(~gap[::-1])].any()
        or (station is not None and exp_st and n_stations < exp_st)
        or (exp_cov and coverage < COVERAGE_FRACTION * exp_cov)
    )
    shell_min = min(shell_ff) if shell_ff else float("nan")
    ghost_max = max(ghost) if ghost else float("nan")
    return {
        "qc_fat_water_swap": bool(shell_ff and shell_min < SWAP_THRESHOLD),
        "qc_missing_station": missing_station,
        "qc_truncated_fov": bool(edge_fraction > TRUNCATION_FRACTION),
        "qc_motion": bool(ghost and ghost_max > MOTION_AIR_FRACTION),
        "qc_shell_ff_min": shell_min,
        "qc_air_ghost_max": ghost_max,
        "qc_edge_fraction": edge_fraction,
        "qc_coverage_mm": coverage,
        "qc_n_stations": int(n_stations),
        "qc_gap_slices": int(gap.sum()),
    }


def _site_columns() -> list[str]:
    from bma_genetics.phenotypes.bmff import site_masks

    return [f"bmff_{k}" for k in site_masks(np.zeros((1, 1, 1), dtype=np.int16))]


def robust_centre_sd(values, *, min_sd: float = MASK_VOLUME_MIN_SD) -> tuple[float, float]:
    """Median and ``1.4826 * MAD`` (floored at ``min_sd``) of finite values."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return float("nan"), float("nan")
    med = float(np.median(v))
    return med, max(MAD_TO_SD * float(np.median(np.abs(v - med))), min_sd)


def _volume_hits(log_v: float, centre_sd) -> bool:
    if not centre_sd or not np.isfinite(log_v):
        return False
    c, sd = float(centre_sd[0]), float(centre_sd[1])
    return bool(np.isfinite(c) and sd > 0 and abs(log_v - c) > OUTLIER_SD * sd)


def _log_volume(v) -> float:
    v = float(v) if v is not None else float("nan")
    return float(np.log(v)) if np.isfinite(v) and v > 0 else float("nan")


def site_qc(row: dict[str, object], reference: dict | None = None, *,
            measured: Iterable[str] | None = None, by_mask: bool = False) -> dict[str, object]:
    """Missing-site and mask-volume flags for one measured row, against the checkpoint's reference.

    The mask-volume flag uses the reference rule (module docstring);
    :func:`mask_volume_outliers` re-evaluates it over a whole table (batch rule). ``measured``
    (``bmff_*`` columns) limits the missing-site check to the sites a method measures (OPTIMAT:
    the left femur and the spine); default every site. ``by_mask``: a site is missing when its
    segmented mask is empty (``_volume_ml`` 0 or absent) rather than when its value is NaN (OPTIMAT
    empties ROIs by rule, e.g. a vertebra on a station seam: an ROI exclusion, not a failure).
    """
    cols = _site_columns()
    wanted = cols if measured is None else [c for c in cols if c in set(measured)]
    if by_mask:
        missing = [c[5:] for c in wanted if not float(row.get(f"{c}_volume_ml", 0.0) or 0.0) > 0]
    else:
        missing = [c[5:] for c in wanted if not np.isfinite(float(row.get(c, np.nan)))]
    vol_ref = (reference or {}).get("volume_log_ml", {})
    outl = [c[5:] for c in cols if _volume_hits(_log_volume(row.get(f"{c}_volume_ml", np.nan)), vol_ref.get(c))]
    return {
        "qc_missing_site": bool(missing),
        "qc_missing_sites": ",".join(missing),
        "qc_mask_volume_outlier": bool(outl),
        "qc_mask_volume_sites": ",".join(outl),
    }


def mask_volume_outliers(table: pd.DataFrame, reference: dict | None = None, *,
                         min_batch: int = MASK_VOLUME_MIN_BATCH) -> pd.DataFrame:
    """Set ``qc_mask_volume_outlier`` / ``qc_mask_volume_sites`` over a whole BMFF table (a copy).

    Per site: the batch rule (median and ``1.4826 * MAD`` of the rows that were read and raised
    no image flag) when at least ``min_batch`` such rows have the site, else the checkpoint's
    reference (``reference['volume_log_ml']``). Returns the table with the two columns replaced
    and ``qc_mask_volume_rule`` (``batch`` or ``reference``) added.
    """
    t = table.copy()
    cols = [c for c in _site_columns() if f"{c}_volume_ml" in t.columns]
    vol_ref = (reference or {}).get("volume_log_ml", {})
    gate = [f for f in ("qc_read_failed", *IMAGE_FLAGS) if f in t.columns]
    good = ~t[gate].fillna(False).astype(bool).any(axis=1) if gate else pd.Series(True, index=t.index)
    hits = pd.DataFrame(False, index=t.index, columns=cols)
    batch_sites = 0
    for c in cols:
        logv = pd.to_numeric(t[f"{c}_volume_ml"], errors="coerce").astype(float)
        logv = np.log(logv.where(logv > 0))
        base = logv[good].dropna()
        if len(base) >= min_batch:
            centre_sd = robust_centre_sd(base.to_numpy())
            batch_sites += 1
        else:
            centre_sd = vol_ref.get(c)
        hits[c] = [_volume_hits(v, centre_sd) for v in logv.to_numpy()]
    t["qc_mask_volume_outlier"] = hits.any(axis=1) if cols else False
    t["qc_mask_volume_sites"] = hits.apply(lambda r: ",".join(c[5:] for c in cols if r[c]), axis=1) if len(t) and cols else ""
    t["qc_mask_volume_rule"] = "batch" if cols and batch_sites == len(cols) else ("reference" if not batch_sites else "mixed")
    return t


def bmff_outliers(table: pd.DataFrame, *, sd: float = OUTLIER_SD, min_n: int = 20) -> pd.DataFrame:
    """Set ``qc_bmff_outlier`` / ``qc_bmff_outlier_sites`` over a whole BMFF table (returns a copy).

    Mean and SD per site are computed over rows that passed every other flag, so gross failures
    do not inflate the SD that is meant to catch them.
    """
    t = table.copy()
    cols = [c for c in _site_columns() if c in t.columns]
    others = [f for f in FLAGS if f != "qc_bmff_outlier" and f in t.columns]
    clean = ~t[others].fillna(False).astype(bool).any(axis=1) if others else pd.Series(True, index=t.index)
    hits = pd.DataFrame(False, index=t.index, columns=cols)
    for c in cols:
        vals = pd.to_numeric(t.loc[clean, c], errors="coerce").dropna()
        if len(vals) < min_n:
            continue
        mu, s = float(vals.mean()), float(vals.std(ddof=1))
        if s > 0:
            hits[c] = (pd.to_numeric(t[c], errors="coerce") - mu).abs() > sd * s
    t["qc_bmff_outlier"] = hits.any(axis=1)
    t["qc_bmff_outlier_sites"] = hits.apply(lambda r: ",".join(c[5:] for c in cols if r[c]), axis=1) if len(t) else ""
    flags = [f for f in FLAGS if f in t.columns]
    t["qc_pass"] = ~t[flags].fillna(False).astype(bool).any(axis=1)
    return t


#: OPTIMAT ROI QC: femoral ROIs need at least this many voxels.
OPTIMAT_MIN_FEMORAL_VOXELS = 20
#: OPTIMAT ROI QC: a vertebral ROI needs more voxels than its level's mean minus this many SD.
OPTIMAT_SPINE_SD = 3.0


def optimat_roi_qc(table: pd.DataFrame, *, min_femoral: int = OPTIMAT_MIN_FEMORAL_VOXELS,
                   spine_sd: float = OPTIMAT_SPINE_SD) -> pd.DataFrame:
    """OPTIMAT's downstream ROI QC over a BMFF table measured by the ``optimat`` method (a copy).

    A femoral ROI with fewer than ``min_femoral`` voxels, and a vertebral ROI whose voxel count
    is not above its level's mean minus ``spine_sd`` SD (over the table's rows with that ROI
    measured), loses its value (NaN); the derived means are recomputed and the ROIs excluded
    are listed in ``qc_optimat_excluded`` (comma-separated stems), with the ROIs that were
    segmented (``_volume_ml`` > 0) but left empty by OPTIMAT's slice rules. The participant's other
    flags are untouched: OPTIMAT drops ROIs, not participants.
    """
    from bma_genetics.phenotypes.bmff import OPTIMAT_ROIS, derived_means

    t = table.copy()
    hits = pd.DataFrame(False, index=t.index, columns=list(OPTIMAT_ROIS))
    for stem, code in OPTIMAT_ROIS.items():
        col, ncol = f"bmff_{stem}", f"bmff_{stem}_n_voxels"
        if col not in t.columns or ncol not in t.columns:
            continue
        n = pd.to_numeric(t[ncol], errors="coerce")
        measured = n.notna() & (n > 0) & pd.to_numeric(t[col], errors="coerce").notna()
        vcol = f"bmff_{stem}_volume_ml"
        emptied = ((n.fillna(0) == 0) & (pd.to_numeric(t[vcol], errors="coerce").fillna(0) > 0)
                   if vcol in t.columns else pd.Series(False, index=t.index))
        if code == "S":
            vals = n[measured]
            if len(vals) >= 3:
                cut = float(vals.mean()) - spine_sd * float(vals.std(ddof=1))
                bad = measured & ~(n > cut)
            else:  # too few ROIs for a mean and SD
                bad = pd.Series(False, index=t.index)
        else:
            bad = measured & (n < min_femoral)
        hits[stem] = bad | emptied
        t.loc[bad, col] = np.nan
    if len(t):
        derived = pd.DataFrame([derived_means(r) for r in t.to_dict("records")], index=t.index)
        for c in derived.columns:
            t[c] = derived[c]
    t["qc_optimat_excluded"] = hits.apply(lambda r: ",".join(s for s in hits.columns if r[s]), axis=1) if len(t) else ""
    return t


#: Largest share of a cohort called ``six_lumbar`` or ``sacralised_l5`` before the anchor is
#: distrusted: lumbosacral transitional anatomy is ~5-10 % in population samples such as UK
#: Biobank's, so a share above 15 % says the anchor (``L5_ANCHOR_SPACINGS``) does not fit the scans.
MAX_TRANSITIONAL_SHARE = 0.15
#: Largest |median| of ``vertebral_anchor_offset`` (level spacings) before the anchor is distrusted
#: (a typical spine sits at 0; a shifted anatomy moves the whole cohort's median).
MAX_MEDIAN_ANCHOR_OFFSET = 0.25
#: Anchored participants needed before the cohort guard judges.
ANCHOR_GUARD_MIN_N = 20


def vertebral_level_guard(table: pd.DataFrame, *, max_transitional_share: float = MAX_TRANSITIONAL_SHARE,
                          max_median_offset: float = MAX_MEDIAN_ANCHOR_OFFSET,
                          min_n: int = ANCHOR_GUARD_MIN_N,
                          anchor_spacings: float | None = None) -> tuple[pd.DataFrame, dict[str, object]]:
    """Cohort check of the vertebral level anchor: flag every participant's levels when it does not fit.

    An anchor calibrated on another anatomy shifts every level silently (all typical spines called
    ``six_lumbar``, say). When, among at least ``min_n`` anchored participants, the share called
    ``six_lumbar`` or ``sacralised_l5`` exceeds ``max_transitional_share`` or the median
    ``vertebral_anchor_offset`` is further than ``max_median_offset`` from 0, ``qc_vertebral_levels``
    is set for every row and a warning names the median offset and the setting to calibrate
    (``l5_anchor_spacings``: the current value plus the median offset).

    Parameters
    ----------
    table : DataFrame
        The BMFF table with ``vertebral_anatomy`` and ``vertebral_anchor_offset`` (rows without them
        are left as they are).
    max_transitional_share, max_median_offset, min_n : float, float, int
        :data:`MAX_TRANSITIONAL_SHARE`, :data:`MAX_MEDIAN_ANCHOR_OFFSET`, :data:`ANCHOR_GUARD_MIN_N`.
    anchor_spacings : float, optional
        The anchor used (for the warning's suggestion); default ``L5_ANCHOR_SPACINGS``.

    Returns
    -------
    (DataFrame, dict)
        The table (``qc_vertebral_levels`` updated) and the guard's summary: ``n_anchored``,
        ``transitional_share``, ``median_offset``, ``triggered``.
    """
    import logging

    if anchor_spacings is None:
        from bma_genetics.phenotypes.bmff import L5_ANCHOR_SPACINGS as anchor_spacings
    t = table.copy()
    if "vertebral_anchor_offset" not in t.columns or "vertebral_anatomy" not in t.columns:
        return t, {"n_anchored": 0, "transitional_share": None, "median_offset": None, "triggered": False}
    off = pd.to_numeric(t["vertebral_anchor_offset"], errors="coerce")
    anchored = off.notna()
    n = int(anchored.sum())
    share = float(t.loc[anchored, "vertebral_anatomy"].isin(["six_lumbar", "sacralised_l5"]).mean()) if n else float("nan")
    med = float(off[anchored].median()) if n else float("nan")
    triggered = bool(n >= min_n and (share > max_transitional_share or abs(med) > max_median_offset))
    if triggered:
        t["qc_vertebral_levels"] = True
        logging.getLogger(__name__).warning(
            "vertebral levels: %.0f %% of %d anchored participants are six_lumbar/sacralised_l5 (bound %.0f %%) and "
            "the median anchor offset is %+.2f levels (bound +-%.2f): the L5 anchor does not fit these scans, so "
            "every participant's levels are flagged (qc_vertebral_levels). Calibrate the phenotypes setting "
            "l5_anchor_spacings on labelled spines (now %.2f; these scans suggest about %.2f).",
            100 * share, n, 100 * max_transitional_share, med, max_median_offset, anchor_spacings,
            anchor_spacings + med)
    return t, {"n_anchored": n, "transitional_share": None if not n else round(share, 4),
               "median_offset": None if not n else round(med, 4), "triggered": triggered}


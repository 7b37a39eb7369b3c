"""Quality control of a calvarial measurement (Kaufmann 2024's rules).

A head passes when

- it has more than ``min_points`` calvarial vertices (the study: 5,000 on FreeSurfer's head
  surface; here scaled to the marching-cubes surface's vertex density,
  :func:`default_min_points`: a complete head at 2 mm has ~6,000-10,000);
- the SD, over the calvarial vertices, of the outer table's mean intensity is below
  ``max_outer_table_sd`` (30): a blurred or ghosted skull makes the dark table unstable;
- at most ``max_md_outlier_share`` (0.5 %) of its vertices lie beyond ``md_cutoff`` (25) in
  Mahalanobis distance over (first marrow sample, marrow mean intensity). The distance is the
  squared one, as R's ``mahalanobis()`` that the study used returns;

and, a rule of this package beyond the study's, the air around the head is dark: at most
``max_background_share`` (0.1 %) of the voxels more than ``background_margin_mm`` (3 mm) outside the
head mask are brighter than ``background_threshold`` (20 on FreeSurfer's ``nu.mgz`` scale, white
matter at 110; the simulator's Rician noise, SD 5 there, exceeds it in ~0.01 % of those voxels).
Motion ghosts along the phase-encoding axis put head signal into the air (the ``qc_motion`` rule of
the Dixon QC, :mod:`bma_genetics.phenotypes.qc`, and Mortamet 2009's background artefact index work
the same way): ghosts of 15-50 % of the head's intensity, which bias BMA by 10-20 % but leave the
outer table's SD under 30, put 1-3 % of the air above it; stronger ghosts join the head mask and are
the outer-table rule's (docs/calvarial.md). ``max_background_share=1`` switches the rule off; on real
images the threshold is to be checked against their background (noise, flow ghosts, defacing).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: The study's thresholds (the point count is scaled, see :func:`default_min_points`).
MAX_OUTER_TABLE_SD = 30.0
MD_CUTOFF = 25.0
MAX_MD_OUTLIER_SHARE = 0.005
#: The background rule (not the study's): threshold on the nu.mgz scale, margin outside the head, largest share.
BACKGROUND_THRESHOLD = 20.0
BACKGROUND_MARGIN_MM = 3.0
MAX_BACKGROUND_SHARE = 0.001
#: Calvarial vertices required of a head imaged at 2 mm (half of a complete small head's).
MIN_POINTS_AT_2MM = 4000
#: The flags of a calvarial QC, in the order reported.
FLAGS = ("qc_few_points", "qc_unstable_outer_table", "qc_md_outliers", "qc_background_artefact")


def default_min_points(voxel_mm: float) -> int:
    """The point threshold for a head imaged at ``voxel_mm``: marching cubes puts about one vertex per
    voxel face crossed, so the count scales with ``1 / voxel_mm**2`` (4,000 at 2 mm, 16,000 at 1 mm)."""
    return int(round(MIN_POINTS_AT_2MM * (2.0 / float(voxel_mm)) ** 2))


@dataclass(frozen=True)
class CalvarialQC:
    """QC thresholds (defaults: the study's, the point count scaled to the voxel size)."""

    min_points: int | None = None
    max_outer_table_sd: float = MAX_OUTER_TABLE_SD
    md_cutoff: float = MD_CUTOFF
    max_md_outlier_share: float = MAX_MD_OUTLIER_SHARE
    background_threshold: float = BACKGROUND_THRESHOLD
    background_margin_mm: float = BACKGROUND_MARGIN_MM
    max_background_share: float = MAX_BACKGROUND_SHARE


def background_share(t1: np.ndarray, mask: np.ndarray, spacing: tuple[float, float, float], *,
                     qc: CalvarialQC = CalvarialQC()) -> float:
    """Share of the air voxels (more than ``qc.background_margin_mm`` outside the head mask) brighter than
    ``qc.background_threshold``, ``t1`` on the nu.mgz scale; NaN when fewer than 100 such voxels."""
    from scipy import ndimage

    outside = ndimage.distance_transform_edt(~np.asarray(mask, bool), sampling=spacing) > qc.background_margin_mm
    if outside.sum() < 100:
        return float("nan")
    return float(np.mean(np.asarray(t1)[outside] > qc.background_threshold))


def mahalanobis_squared(x: np.ndarray) -> np.ndarray:
    """Squared Mahalanobis distance of each row of ``x`` (n, k) from the column means (R's ``mahalanobis``)."""
    x = np.asarray(x, float)
    d = x - x.mean(axis=0)
    if len(x) < x.shape[1] + 1:
        return np.zeros(len(x))
    cov = np.cov(x, rowvar=False)
    inv = np.linalg.pinv(np.atleast_2d(cov))
    return np.einsum("ij,jk,ik->i", d, inv, d)


def apply_qc(n_points: int, outer_table_mean: np.ndarray, bm_first: np.ndarray, bm_mean: np.ndarray, *,
             voxel_mm: float, qc: CalvarialQC = CalvarialQC(), background: float | None = None) -> dict[str, object]:
    """The QC metrics and flags of one head's calvarial vertices.

    ``background``: the head's :func:`background_share` (None or NaN: the rule is not applied).

    Returns
    -------
    dict
        ``qc_n_points``, ``qc_min_points``, ``qc_outer_table_sd``, ``qc_md_outlier_share``,
        ``qc_background_share``, the flags :data:`FLAGS` (True = failed) and ``qc_pass``; ``md``
        (per-vertex squared distance) for the caller to drop outliers from the BMA.
    """
    min_points = qc.min_points if qc.min_points is not None else default_min_points(voxel_mm)
    ok = np.isfinite(bm_mean) & np.isfinite(bm_first)
    md = np.full(len(bm_mean), np.nan)
    if ok.sum() > 2:
        md[ok] = mahalanobis_squared(np.column_stack([bm_first[ok], bm_mean[ok]]))
    ob_sd = float(np.nanstd(outer_table_mean, ddof=1)) if np.isfinite(outer_table_mean).sum() > 1 else float("nan")
    share = float(np.mean(~(md <= qc.md_cutoff))) if len(md) else 1.0
    flags = {
        "qc_few_points": bool(n_points <= min_points),
        "qc_unstable_outer_table": bool(not ob_sd < qc.max_outer_table_sd),
        "qc_md_outliers": bool(share > qc.max_md_outlier_share),
        "qc_background_artefact": bool(background is not None and background > qc.max_background_share),
    }
    bg = round(float(background), 6) if background is not None else float("nan")
    return {"qc_n_points": int(n_points), "qc_min_points": int(min_points), "qc_outer_table_sd": round(ob_sd, 4),
            "qc_md_outlier_share": round(share, 6), "qc_background_share": bg, **flags,
            "qc_pass": not any(flags.values()), "md": md}

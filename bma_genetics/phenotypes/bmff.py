"""From a segmentation to BMFF per site: side and level assignment, eroded-mask fat fraction.

The network segments three marrow classes (vertebral body, proximal femur, femoral diaphysis).
Geometry then names the sites, as radiologists do:

* **Femoral head**: the proximal femur (largest component per side) is split by sphere fit -- the head is the largest inscribed sphere of the proximal
  femur marrow (centre at the maximum of the distance transform), as in hip morphometry.
* **Side**: a femoral component left of the body midline (the x centre of the vertebral marrow,
  else of the field of view) is the patient's left (DICOM LPS: +x = left).
* **Vertebral level**: vertebral-body components are ordered bottom to top (components whose
  height exceeds 1.7 times the median are split at their narrowest slice -- two bodies joined
  through a disc -- when both pieces hold at least 20 % of its voxels) and named from an anchor
  at the pelvis, not by counting from the lowest body alone: the lowest body's height above the
  femoral-head centres, in units of the lumbar level spacing (median centre-to-centre distance of
  the lowest bodies), is compared with where L5 sits (:data:`L5_ANCHOR_SPACINGS`). One level
  below is a sixth lumbar vertebra (L6, not a site; the levels above keep their names); one
  level above means no free vertebral body at L5's height (a sacralised L5, or L5 not
  segmented: the lowest body is L4 and L5 is missing). Named upward from there, T8 the last site
  (components above are ignored). The anatomy is reported (``vertebral_anatomy``); a spine that
  cannot be anchored (no femoral head, an offset more than :data:`ANCHOR_TOLERANCE` from a whole
  level, or more than one level off) is flagged (``qc_vertebral_levels``) and counted from the
  bottom.

**BMFF** at a site = mean of ``fat / (fat + water)`` over the site mask eroded by ``erosion``
voxels (6-connected structuring element, ``scipy.ndimage.binary_erosion``), which drops the
partial-volume rim and the cortex; also reported: the median and the voxel count. Total hip is
the union of the femoral head and neck/trochanter masks (eroded as one mask). Bilateral means
are the average of left and right; ``bmff_spine`` is the mean over measured vertebrae,
``bmff_spine_thoracic`` over T8-T12 and ``bmff_spine_lumbar`` over L1-L5.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage

from bma_genetics.sites import FEMORAL_SITES, LUMBAR, SIDES, THORACIC, VERTEBRAE, all_traits

#: Site label codes (the same as ``bma_genetics.simulate.dixon.LABELS``).
SITE_CODES: dict[str, int] = {
    "femoral_head_left": 1,
    "femoral_head_right": 2,
    "femoral_neck_left": 3,
    "femoral_neck_right": 4,
    "femoral_diaphysis_left": 5,
    "femoral_diaphysis_right": 6,
    **{v: 7 + i for i, v in enumerate(VERTEBRAE)},
}

#: Head sphere radius = largest inscribed radius (EDT maximum) + this (mm); calibrated on
#: simulated label maps (EDT measures to the nearest background voxel centre, about half a
#: voxel beyond the true surface).
HEAD_RADIUS_OFFSET_MM = 1.5

#: Height of the L5 body centre above the femoral-head centres, in lumbar level spacings
#: (centre-to-centre distance of adjacent lumbar bodies). Calibrated on the simulated anatomy
#: (:mod:`bma_genetics.simulate.dixon`: L5 centre ~122 mm above the heads, level spacing ~30 mm,
#: both scaled by stature); on real scans it would be calibrated on labelled spines.
L5_ANCHOR_SPACINGS = 4.07
#: Largest distance (in level spacings) of the lowest body from a whole level offset that is
#: still named; further off, the levels are flagged (``qc_vertebral_levels``).
ANCHOR_TOLERANCE = 0.35
#: ``vertebral_anatomy`` values: the level of the lowest free vertebral body relative to L5.
VERTEBRAL_ANATOMY = {-1: "six_lumbar", 0: "typical", 1: "sacralised_l5"}


def anchor_offset(heights_mm: np.ndarray, *, anchor_spacings: float = L5_ANCHOR_SPACINGS) -> float:
    """Height of the lowest vertebral body above the femoral heads in level spacings, minus ``anchor_spacings``.

    0 where L5 sits in the calibrated anatomy, -1 one level lower (a sixth lumbar vertebra), +1
    one higher; NaN with fewer than two bodies. Its cohort median is near 0 when the anchor
    (:data:`L5_ANCHOR_SPACINGS`) fits the scans (see
    :func:`bma_genetics.phenotypes.qc.vertebral_level_guard`).
    """
    h = np.asarray(heights_mm, dtype=float)
    if h.size < 2 or not np.isfinite(h).all():
        return float("nan")
    spacing = float(np.median(np.diff(h[: min(h.size, 5)])))
    if not spacing > 0:
        return float("nan")
    return float(h[0] / spacing - anchor_spacings)


def anchor_levels(heights_mm: np.ndarray, *, anchor_spacings: float = L5_ANCHOR_SPACINGS,
                  tolerance: float = ANCHOR_TOLERANCE) -> tuple[int | None, str]:
    """Level of the lowest vertebral body relative to L5, from its height above the pelvis.

    Parameters
    ----------
    heights_mm : ndarray
        Centres of the vertebral bodies, mm above the femoral-head centres, bottom to top.
    anchor_spacings, tolerance : float
        :data:`L5_ANCHOR_SPACINGS`, :data:`ANCHOR_TOLERANCE`.

    Returns
    -------
    (int or None, str)
        ``-1`` (the lowest body is a sixth lumbar vertebra), ``0`` (it is L5) or ``1`` (it is
        L4), with its :data:`VERTEBRAL_ANATOMY` name; ``(None, "ambiguous")`` when the lowest
        body is not within ``tolerance`` of one of those, ``(None, "unanchored")`` with fewer
        than two bodies.

    Examples
    --------
    >>> anchor_levels(np.array([122.0, 152.0, 182.0]))
    (0, 'typical')
    >>> anchor_levels(np.array([92.0, 122.0, 152.0]))
    (-1, 'six_lumbar')
    """
    offset = anchor_offset(heights_mm, anchor_spacings=anchor_spacings)
    if not np.isfinite(offset):
        return None, "unanchored"
    r = int(np.round(offset))
    if abs(offset - r) > tolerance or r not in VERTEBRAL_ANATOMY:
        return None, "ambiguous"
    return r, VERTEBRAL_ANATOMY[r]


def split_femoral_head(
    proximal: np.ndarray,
    spacing: tuple[float, float, float],
    *,
    offset_mm: float = HEAD_RADIUS_OFFSET_MM,
    refine_mm: float = 1.5,
) -> np.ndarray:
    """The femoral head within a proximal-femur marrow mask, by sphere fit.

    The head centre is the point deepest inside the mask (maximum of the Euclidean distance
    transform, voxel spacing honoured) -- the head is the thickest part of the proximal femur --
    and its radius that depth plus ``offset_mm``; the head is the mask inside that sphere.
    """
    idx = [np.flatnonzero(proximal.any(axis=tuple(a for a in range(3) if a != ax))) for ax in range(3)]
    if any(i.size == 0 for i in idx):
        return np.zeros_like(proximal)
    box = tuple(slice(max(i[0] - 1, 0), i[-1] + 2) for i in idx)
    m = proximal[box]
    edt = ndimage.distance_transform_edt(m, sampling=spacing)
    top = float(edt.max())
    # Sub-voxel centre: the EDT-weighted centroid of the near-maximal voxels (3 mm slices put
    # the true centre up to 1.5 mm from the best voxel).
    near = edt >= top - refine_mm
    w = edt[near]
    c = [float((np.nonzero(near)[a] * w).sum() / w.sum()) for a in range(3)]
    radius = top + offset_mm
    grids = np.ogrid[tuple(slice(0, n) for n in m.shape)]
    d2 = sum(((g - ci) * sp) ** 2 for g, ci, sp in zip(grids, c, spacing, strict=True))
    head = np.zeros_like(proximal)
    head[box] = m & (d2 <= radius**2)
    return head


def _largest_components(mask: np.ndarray, keep: int = 1, min_fraction: float = 0.0) -> np.ndarray:
    lab, n = ndimage.label(mask)
    if n == 0:
        return mask
    sizes = np.bincount(lab.ravel())[1:]
    order = np.argsort(sizes)[::-1][:keep]
    order = [o for o in order if sizes[o] >= min_fraction * sizes[order[0]]]
    return np.isin(lab, np.array(order) + 1)


def _thickest_component(mask: np.ndarray, spacing: tuple[float, float, float], min_voxels: int = 50) -> np.ndarray:
    """The component with the deepest interior point: the proximal femur (its head is the
    thickest marrow structure), not a larger but thin false positive such as iliac marrow."""
    lab, n = ndimage.label(mask)
    if n <= 1:
        return mask
    sizes = np.bincount(lab.ravel())
    objs = ndimage.find_objects(lab)
    best, best_depth = 0, -1.0
    for i, sl in enumerate(objs, start=1):
        if sl is None or sizes[i] < min_voxels:
            continue
        depth = float(ndimage.distance_transform_edt(np.pad(lab[sl] == i, 1), sampling=spacing).max())
        if depth > best_depth:
            best, best_depth = i, depth
    return lab == best if best else _largest_components(mask, keep=1)


def _split_tall(components: list[np.ndarray], *, min_piece: float = 0.2,
                groups: list[int] | None = None) -> list[np.ndarray]:
    """Split components much taller than the median at their narrowest slice.

    A split is kept only when both pieces hold at least ``min_piece`` of the component's voxels
    (two bodies joined through a disc); a body that is tall because of a thin tail of a few
    voxels stays whole (a tail counted as a level would shift every level above it).
    """
    if len(components) < 3:
        return components
    heights = np.array([np.ptp(np.flatnonzero(c.any((1, 2)))) + 1 for c in components])
    med = float(np.median(heights))
    out = []
    for c, h in zip(components, heights, strict=True):
        if h > 1.7 * med:
            zs = np.flatnonzero(c.any((1, 2)))
            area = c[zs].sum((1, 2))
            inner = slice(int(0.25 * len(zs)), max(int(0.75 * len(zs)), int(0.25 * len(zs)) + 1))
            cut = zs[inner][int(np.argmin(area[inner]))]
            lo, hi = c.copy(), c.copy()
            lo[cut:] = False
            hi[:cut + 1] = False
            total = float(c.sum())
            if min(lo.sum(), hi.sum()) >= min_piece * total:
                out += [lo, hi]
                if groups is not None:  # both pieces come from one component (no disc between)
                    gid = len(groups)
                    groups += [gid, gid]
            else:
                out.append(c)
                if groups is not None:
                    groups.append(len(groups))
        else:
            out.append(c)
            if groups is not None:
                groups.append(len(groups))
    return out


def assign_sites(
    classes: np.ndarray,
    *,
    spacing: tuple[float, float, float] = (3.0, 2.2, 2.2),
    superior_is_up: bool = True,
    min_vertebra_voxels: int = 40,
    return_levels: bool = False,
    anchor_spacings: float = L5_ANCHOR_SPACINGS,
) -> np.ndarray | tuple[np.ndarray, dict[str, Any]]:
    """Turn network classes ``(Z, Y, X)`` into site codes (:data:`SITE_CODES`).

    Parameters
    ----------
    classes : ndarray of shape (Z, Y, X)
        0 background, 1 vertebral body, 2 proximal femur (head, neck, trochanters), 3 diaphysis.
    spacing : (dz, dy, dx), default=(3.0, 2.2, 2.2)
        Voxel size in mm (for the femoral-head sphere fit).
    superior_is_up : bool, default=True
        Whether slice index increases toward the head (true for volumes from
        :func:`~bma_genetics.io.dixon.read_dixon_zip` of axial Dixon).
    min_vertebra_voxels : int, default=40
        Smaller vertebral components are noise.
    return_levels : bool, default=False
        Also return how the levels were named: ``vertebral_anatomy`` (``typical``,
        ``six_lumbar``, ``sacralised_l5``, ``ambiguous``, ``unanchored``; empty without
        vertebral bodies) and ``qc_vertebral_levels`` (True when the levels could not be
        anchored at the pelvis and were counted from the lowest body) and
        ``vertebral_anchor_offset`` (:func:`anchor_offset`; NaN when not anchored).
    anchor_spacings : float, default=L5_ANCHOR_SPACINGS
        Height of L5 above the femoral heads in level spacings (:func:`anchor_levels`); calibrate
        it on labelled real spines (the default fits the simulated anatomy).

    Returns
    -------
    ndarray of int16, shape (Z, Y, X)
        With ``return_levels``: ``(sites, levels)``.
    """
    out = np.zeros(classes.shape, dtype=np.int16)
    levels_info: dict[str, Any] = {"vertebral_anatomy": "", "qc_vertebral_levels": False,
                                   "vertebral_anchor_offset": float("nan")}
    head_z: list[float] = []
    vert = classes == 1
    cols = np.flatnonzero(vert.any((0, 1)))
    if vert.sum() > 0:
        xs = np.nonzero(vert)[2]
        mid = float(np.median(xs))
    else:
        mid = (classes.shape[2] - 1) / 2
    del cols
    x_idx = np.arange(classes.shape[2])
    for side in SIDES:
        # LPS: column index increases toward the patient's left.
        half = ((x_idx > mid) if side == "left" else (x_idx < mid))[None, None, :]
        # The network's proximal-femur class; the head within it is found by sphere fit.
        prox = (classes == 2) & half
        if prox.any():
            prox = _thickest_component(prox, spacing)
            head = split_femoral_head(prox, spacing)
            if head.any():
                head_z.append(float(np.nonzero(head)[0].mean()))
            out[prox] = SITE_CODES[f"femoral_neck_{side}"]
            out[head] = SITE_CODES[f"femoral_head_{side}"]
        shaft = (classes == 3) & half
        if shaft.any():
            out[_largest_components(shaft, keep=1)] = SITE_CODES[f"femoral_diaphysis_{side}"]
    if vert.any():
        lab, n = ndimage.label(vert)
        sizes = np.bincount(lab.ravel())
        # Vertebral bodies are the big components, one per level. Accept, from the largest
        # down, components >= 20 % of the largest body (thoracic bodies are ~40 % of lumbar
        # ones) that do not share slices with an accepted body (fragments do); then smaller
        # ones (>= 10 %: an under-segmented body) only above the lowest accepted body, since
        # the count starts from the bottom and a fragment below L5 would shift every level.
        objs = ndimage.find_objects(lab)
        accepted: list[int] = []
        taken = np.zeros(classes.shape[0], dtype=bool)
        order_ = np.argsort(sizes[1:])[::-1] + 1
        biggest = sizes[1:].max()
        for frac in (0.2, 0.1):
            lowest = None
            if accepted:
                ends = [objs[i - 1][0] for i in accepted]
                lowest = min(e.start for e in ends) if superior_is_up else max(e.stop for e in ends)
            for i in order_:
                if i in accepted or sizes[i] < max(min_vertebra_voxels, frac * biggest):
                    continue
                zs = objs[i - 1][0]
                # a body spans >= 3 slices (>= 9 mm); thinner pieces are fragments, and their
                # eroded mask would be empty
                if zs.stop - zs.start < 3 or taken[zs].sum() > 1:
                    continue
                if lowest is not None and (zs.start < lowest if superior_is_up else zs.stop > lowest):
                    continue
                accepted.append(int(i))
                taken[zs] = True
        # Order bottom -> top, then drop what cannot be a body by comparison with its
        # neighbours: at the bottom, a piece under half the size of the body above it (sacral
        # marrow taken for L5 would shift every level); inside the column, a piece under 30 %
        # of its two neighbours' mean (a fragment in a disc space).
        zc = {i: (objs[i - 1][0].start + objs[i - 1][0].stop) / 2 for i in accepted}
        chain = sorted(accepted, key=lambda i: zc[i], reverse=not superior_is_up)
        while len(chain) > 1 and sizes[chain[0]] < 0.5 * sizes[chain[1]]:
            chain.pop(0)
        chain = [c for k, c in enumerate(chain)
                 if not (0 < k < len(chain) - 1 and sizes[c] < 0.3 * (sizes[chain[k - 1]] + sizes[chain[k + 1]]) / 2)]
        comps = [lab == i for i in chain]
        group: list[int] = []  # pieces split from one component share a group
        comps = _split_tall(comps, groups=group)
        zc = [float(np.mean(np.nonzero(c)[0])) for c in comps]
        order = np.argsort(zc)
        if not superior_is_up:
            order = order[::-1]
        levels = list(reversed(VERTEBRAE))  # l5 first
        start, anatomy, offset = None, "unanchored", float("nan")
        if head_z and len(order):
            sign = 1.0 if superior_is_up else -1.0
            heights = np.array([sign * (zc[i] - float(np.mean(head_z))) * spacing[0] for i in order])
            start, anatomy = anchor_levels(heights, anchor_spacings=anchor_spacings)
            offset = anchor_offset(heights, anchor_spacings=anchor_spacings)
        drop = 0
        if start == -1 and len(order) > 1 and group[order[0]] == group[order[1]]:
            # the "L6" and L5 are one piece of marrow split in two, no disc between: a segment fused
            # with the one below (a sacralised L5 whose marrow runs into the sacrum, or a block
            # vertebra), not a sixth free lumbar vertebra. Neither is named: L5 is missing
            # (qc_missing_site), the levels above are named from L4.
            anatomy, drop = "sacralised_l5", 1
        levels_info = {"vertebral_anatomy": anatomy, "qc_vertebral_levels": start is None,
                       "vertebral_anchor_offset": round(offset, 4)}
        # start: level of the lowest body (-1 L6, 0 L5, 1 L4); unanchored -> counted from the bottom
        k0 = 0 if start is None else start
        for j, i in enumerate(order):
            k = k0 + j
            if 0 <= k < len(levels) and k >= drop:
                out[comps[i]] = SITE_CODES[levels[k]]
    return (out, levels_info) if return_levels else out


def site_masks(sites: np.ndarray) -> dict[str, np.ndarray]:
    """Masks of every measured site (BMFF column stem -> boolean mask) from site codes."""
    m: dict[str, np.ndarray] = {}
    for side in SIDES:
        head = sites == SITE_CODES[f"femoral_head_{side}"]
        neck = sites == SITE_CODES[f"femoral_neck_{side}"]
        m[f"femoral_head_{side}"] = head
        m[f"total_hip_{side}"] = head | neck
        m[f"femoral_diaphysis_{side}"] = sites == SITE_CODES[f"femoral_diaphysis_{side}"]
    for v in VERTEBRAE:
        m[v] = sites == SITE_CODES[v]
    return m


def site_bmff(water: np.ndarray, fat: np.ndarray, mask: np.ndarray, *, erosion: int = 1) -> tuple[float, float, int]:
    """Mean and median ``fat / (fat + water)`` in ``mask`` eroded by ``erosion`` voxels; voxel count.

    Returns ``(nan, nan, 0)`` when the eroded mask is empty.

    Examples
    --------
    >>> w = np.full((5, 5, 5), 30.0); f = np.full((5, 5, 5), 70.0)
    >>> m = np.zeros((5, 5, 5), bool); m[1:4, 1:4, 1:4] = True
    >>> site_bmff(w, f, m)
    (0.7, 0.7, 1)
    """
    # Work in the mask's bounding box (+1 voxel): erosion of a whole volume per site is the
    # slow part of measuring a participant.
    idx = np.flatnonzero(mask.any(axis=(1, 2)))
    if idx.size == 0:
        return float("nan"), float("nan"), 0
    rows = np.flatnonzero(mask[idx[0] : idx[-1] + 1].any(axis=(0, 2)))
    cols = np.flatnonzero(mask[idx[0] : idx[-1] + 1].any(axis=(0, 1)))
    box = tuple(slice(max(a[0] - 1, 0), a[-1] + 2) for a in (idx, rows, cols))
    mask, water, fat = mask[box], water[box], fat[box]
    if erosion > 0:
        mask = ndimage.binary_erosion(mask, iterations=erosion)
    n = int(mask.sum())
    if n == 0:
        return float("nan"), float("nan"), 0
    w = water[mask].astype(np.float64)
    f = fat[mask].astype(np.float64)
    ff = f / np.maximum(w + f, 1e-6)
    return float(ff.mean()), float(np.median(ff)), n


def measure(
    water: np.ndarray,
    fat: np.ndarray,
    sites: np.ndarray,
    *,
    spacing: tuple[float, float, float],
    erosion: int = 1,
) -> dict[str, float]:
    """BMFF, median, voxel count and mask volume (ml) for every site; plus the derived means.

    Output keys: every :func:`bma_genetics.sites.all_traits` column, ``{col}_median``,
    ``{col}_n_voxels`` and ``{col}_volume_ml`` for the per-site columns (bilateral and
    vertebral).
    """
    row: dict[str, float] = {}
    voxel_ml = float(np.prod(spacing)) / 1000.0
    for stem, mask in site_masks(sites).items():
        col = f"bmff_{stem}"
        mean, med, n = site_bmff(water, fat, mask, erosion=erosion)
        row[col] = mean
        row[f"{col}_median"] = med
        row[f"{col}_n_voxels"] = n
        row[f"{col}_volume_ml"] = float(mask.sum()) * voxel_ml
    row.update(derived_means(row))
    return row


def derived_means(row: dict[str, float]) -> dict[str, float]:
    """Bilateral and spinal means from per-site values (NaN-aware; NaN if all missing)."""

    def mean(cols):
        vals = [row.get(c, np.nan) for c in cols]
        vals = [v for v in vals if v is not None and np.isfinite(v)]
        return float(np.mean(vals)) if vals else float("nan")

    out = {f"bmff_{s}": mean([f"bmff_{s}_{side}" for side in SIDES]) for s in FEMORAL_SITES}
    out["bmff_spine"] = mean([f"bmff_{v}" for v in VERTEBRAE])
    out["bmff_spine_thoracic"] = mean([f"bmff_{v}" for v in THORACIC])
    out["bmff_spine_lumbar"] = mean([f"bmff_{v}" for v in LUMBAR])
    assert set(out) <= set(all_traits())
    return out


def site_dice(pred_sites: np.ndarray, true_sites: np.ndarray) -> dict[str, float]:
    """Dice per measured site (total hip = head + neck) between two site-code maps."""
    pm, tm = site_masks(pred_sites), site_masks(true_sites)
    out = {}
    for k in tm:
        a, b = pm[k], tm[k]
        d = a.sum() + b.sum()
        out[k] = float(2 * np.logical_and(a, b).sum() / d) if d else float("nan")
    return out


# ------------------------------------------------------------------------------------ OPTIMAT
#: BMFF methods of :func:`bma_genetics.phenotypes.api.run_bmff`: ``eroded`` (the default,
#: :func:`measure`) and ``optimat`` (:func:`measure_optimat`).
BMFF_METHODS: tuple[str, ...] = ("eroded", "optimat")

#: OPTIMAT's Gaussian sigma (pixels) for the water and fat images, slice by slice.
OPTIMAT_SIGMA = 2.0
#: Slices zeroed at each end of every acquisition station (fold-over artefacts).
OPTIMAT_TRIM = 4
#: The diaphysis keeps ``Mid - 3 .. Mid + 3`` (7 slices) when it spans more than 9 slices.
OPTIMAT_DIAPHYSIS_MAX = 9
OPTIMAT_DIAPHYSIS_HALF = 3

#: Project ROI stem -> OPTIMAT ROI code (the letter of its ROI files): ``E`` epiphysis = the
#: project's femoral head (sphere fit), ``N`` neck = the project's neck/trochanter mask, ``T``
#: total hip = E + N, ``D`` diaphysis, ``S`` spine (one ROI per vertebral body). Left femur only.
OPTIMAT_ROIS: dict[str, str] = {
    "femoral_head_left": "E",
    "femoral_neck_left": "N",
    "total_hip_left": "T",
    "femoral_diaphysis_left": "D",
    **{v: "S" for v in VERTEBRAE},
}


def optimat_ff_map(water: np.ndarray, fat: np.ndarray, *, sigma: float = OPTIMAT_SIGMA) -> np.ndarray:
    """OPTIMAT fat-fraction map (percent): ``G(F) / (G(F) + G(W)) * 100``, slice by slice.

    ``G`` is MATLAB's ``imgaussfilt(A, sigma)`` on each axial slice: a 2-D Gaussian of
    ``sigma`` pixels on a ``2 * ceil(2 * sigma) + 1`` square kernel normalised to sum 1, with
    replicate padding (``scipy.ndimage.gaussian_filter``, ``mode="nearest"``, radius
    ``ceil(2 * sigma)``; nothing along the slice axis). Negative and undefined (0 / 0) values
    are set to 0.

    Parameters
    ----------
    water, fat : ndarray of shape (Z, Y, X)
        Water and fat images.
    sigma : float, default=2.0
        Gaussian sigma in pixels.

    Returns
    -------
    ndarray of float64, shape (Z, Y, X)
    """
    if not sigma > 0:
        raise ValueError(f"optimat_ff_map/sigma: expected > 0, found {sigma!r}")
    radius = int(np.ceil(2 * sigma))

    def g(a: np.ndarray) -> np.ndarray:
        return ndimage.gaussian_filter(np.asarray(a, dtype=np.float64), sigma=(0.0, sigma, sigma),
                                       mode="nearest", truncate=radius / sigma)

    gf, gw = g(fat), g(water)
    with np.errstate(divide="ignore", invalid="ignore"):
        ff = gf / (gf + gw) * 100.0
    ff[~np.isfinite(ff) | (ff < 0)] = 0.0
    return ff


def optimat_roi(mask: np.ndarray, station: np.ndarray | None, *, diaphysis: bool = False) -> np.ndarray:
    """An ROI as OPTIMAT measures it: station-edge slices removed, diaphysis limited, eroded.

    1. Slices ``1-4`` and ``end-3 .. end`` of every acquisition station are removed (OPTIMAT
       zeroes them in each station's ROI volume: fold-over artefacts). In a stitched volume a
       station is the run of slices taken from it (``station``); slices of no station (gaps,
       ``-1``) are removed too; ``station=None`` treats the volume as one station.
    2. The diaphysis, when it then spans more than 9 slices (first to last), keeps
       ``Mid - 3 .. Mid + 3`` with ``Mid = first + ceil(n / 2)`` (OPTIMAT's code; its comment says
       9 slices, the code keeps 7).
    3. Every other ROI is eroded slice by slice with a 3 x 3 square (``imerode`` with
       ``strel('square', 3)``; pixels beyond the image edge count as inside, as in MATLAB).
    """
    m = np.asarray(mask, dtype=bool).copy()
    nz = m.shape[0]
    keep = np.ones(nz, dtype=bool)
    st = np.zeros(nz, dtype=int) if station is None else np.asarray(station)
    if st.shape != (nz,):
        raise ValueError(f"optimat_roi/station: expected {nz} values (one per slice), found shape {st.shape}")
    keep[st < 0] = False
    for s in np.unique(st[st >= 0]):
        idx = np.flatnonzero(st == s)
        keep[idx[:OPTIMAT_TRIM]] = False
        keep[idx[-OPTIMAT_TRIM:]] = False
    m &= keep[:, None, None]
    if diaphysis:
        z = np.flatnonzero(m.any(axis=(1, 2)))
        if z.size:
            n = int(z[-1] - z[0] + 1)
            if n > OPTIMAT_DIAPHYSIS_MAX:
                mid = int(z[0] + np.ceil(n / 2))
                m[: mid - OPTIMAT_DIAPHYSIS_HALF] = False
                m[mid + OPTIMAT_DIAPHYSIS_HALF + 1:] = False
        return m
    return ndimage.binary_erosion(m, structure=np.ones((1, 3, 3), dtype=bool), border_value=1)


def optimat_stats(values: np.ndarray) -> dict[str, float]:
    """OPTIMAT's statistics of an ROI's fat fractions: MATLAB ``mean``, ``std`` (N - 1),
    ``median``, ``iqr`` (``prctile`` 75 - 25: the midpoint / Hazen percentile) and size."""
    v = np.asarray(values, dtype=np.float64).ravel()
    n = int(v.size)
    if n == 0:
        return {"mean": float("nan"), "sd": float("nan"), "median": float("nan"), "iqr": float("nan"), "n_voxels": 0}
    q25, q75 = np.percentile(v, [25, 75], method="hazen")
    return {"mean": float(v.mean()), "sd": float(v.std(ddof=1)) if n > 1 else 0.0, "median": float(np.median(v)),
            "iqr": float(q75 - q25), "n_voxels": n}


def measure_optimat(
    water: np.ndarray,
    fat: np.ndarray,
    sites: np.ndarray,
    *,
    spacing: tuple[float, float, float],
    station: np.ndarray | None = None,
    sigma: float = OPTIMAT_SIGMA,
) -> dict[str, float]:
    """BMFF per site by the OPTIMAT rules (Morris 2024 / Xu 2025): a row like :func:`measure`.

    Fat fraction from :func:`optimat_ff_map`; each ROI of :data:`OPTIMAT_ROIS` (left femur and
    vertebral bodies) shaped by :func:`optimat_roi`; statistics by :func:`optimat_stats`.
    ``bmff_{stem}`` is the ROI mean as a fraction (0-1, percent / 100), with ``_median``,
    ``_sd``, ``_iqr`` (fractions) and ``_n_voxels``; right femoral sites are NaN (OPTIMAT
    measures the left femur only). ``_volume_ml`` (the segmented mask, for the mask-volume QC)
    is reported for every site. The ROI QC (:func:`bma_genetics.phenotypes.qc.optimat_roi_qc`)
    runs over the whole table.
    """
    ff = optimat_ff_map(water, fat, sigma=sigma)
    masks = site_masks(sites)
    voxel_ml = float(np.prod(spacing)) / 1000.0
    row: dict[str, float] = {}
    for stem, mask in masks.items():
        row[f"bmff_{stem}"] = float("nan")
        row[f"bmff_{stem}_volume_ml"] = float(mask.sum()) * voxel_ml
    masks["femoral_neck_left"] = sites == SITE_CODES["femoral_neck_left"]
    row["bmff_femoral_neck_left_volume_ml"] = float(masks["femoral_neck_left"].sum()) * voxel_ml
    for stem, code in OPTIMAT_ROIS.items():
        roi = optimat_roi(masks[stem], station, diaphysis=code == "D")
        s = optimat_stats(ff[roi])
        col = f"bmff_{stem}"
        row[col] = s["mean"] / 100.0
        for k in ("median", "sd", "iqr"):
            row[f"{col}_{k}"] = s[k] / 100.0
        row[f"{col}_n_voxels"] = s["n_voxels"]
    row.update(derived_means(row))
    return row

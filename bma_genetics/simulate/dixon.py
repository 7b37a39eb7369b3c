"""Synthetic two-point Dixon MRI with known bone-marrow fat fraction (issue 4).

A geometric phantom of the lower thorax to mid-thigh, at UK Biobank-like geometry (axial slices,
2.2 x 2.2 mm pixels, 3 mm slices, three overlapping stations): body outline, subcutaneous and
visceral fat, muscle, abdominal organs, lungs, pelvis (ilia, acetabula, pubis, sacrum), both
femurs (head, neck, greater trochanter, shaft; cortex and marrow) and vertebrae T7-L5 (bodies,
discs, posterior arches, spinal canal).

Signal model (arbitrary units, 1000 = pure tissue at unit proton density): each tissue has a
water and a fat proton density; structures are painted with a partial-volume occupancy
``clip(0.5 - d / w, 0, 1)`` from their signed distance ``d`` (mm, negative inside) with a ramp
``w`` of one pixel, so edges mix tissues as a finite voxel does. A smooth multiplicative receive
bias field (shared by water and fat, as in a real coil) and a per-station gain are applied; then
complex Gaussian noise, giving Rician magnitudes. In-phase = |W + F|, opposed-phase = |W - F|.

Truth: the marrow fat fraction of every measured site is set so that the mean of fat/(fat+water)
over the site's label mask eroded by one voxel (6-connected), the measurement
:func:`bma_genetics.phenotypes.bmff.site_bmff` makes, equals the participant's true BMFF in
``truth/bmff_true.parquet`` before noise (a smooth trabecular texture is added and its mean
removed per site). The total-hip site is the union of the femoral head and the neck/trochanter
region, so the neck/trochanter fat fraction is solved so that the union's eroded mean equals the
total-hip truth given the head's.

Label map codes (:data:`LABELS`): 1/2 femoral head left/right, 3/4 femoral neck + trochanter
left/right (with the head: total hip), 5/6 femoral diaphysis left/right, 7..16 vertebral bodies
T8..L5, 17 the vertebral body above T8 (T7; marrow, but not a measured site), 18 a sixth lumbar
vertebra (only in ``six_lumbar`` spines).

Lumbosacral transitional anatomy (:data:`SPINE_VARIANTS`, planted by
:func:`simulate_dixon_images` in a small share, ``truth/images.tsv`` column ``spine``): a
``six_lumbar`` spine has a sixth lumbar vertebra (L6, label 18) between L5 and a sacrum that starts
one level lower (a lumbarised S1); a ``sacralised_l5`` spine has L5 fused with the sacrum: no
L5/S1 disc, its body continuous with the sacral marrow and part of the sacrum in the label map
(no L5 site; ``bmff_l5`` of the images truth is NaN). In both, T8..L4 (and L5 of a six-lumbar
spine) sit where they sit in a typical spine relative to the pelvis; counting bodies up from the
lowest one names every level wrong.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from bma_genetics._check import check_probability, fail
from bma_genetics.simulate.rescan import default_rescans, rescan_plan
from bma_genetics.sites import FEMORAL_SITES, SIDES, VERTEBRAE

log = logging.getLogger(__name__)

#: Label map codes -> names.
LABELS: dict[int, str] = {
    1: "femoral_head_left",
    2: "femoral_head_right",
    3: "femoral_neck_left",
    4: "femoral_neck_right",
    5: "femoral_diaphysis_left",
    6: "femoral_diaphysis_right",
    **{7 + i: v for i, v in enumerate(VERTEBRAE)},
    17: "t7",
    18: "l6",
}
LABEL_CODE: dict[str, int] = {v: k for k, v in LABELS.items()}

#: Lumbosacral anatomy of a simulated spine (see the module docstring).
SPINE_VARIANTS: tuple[str, ...] = ("typical", "six_lumbar", "sacralised_l5")

#: Artefact kinds injected by :func:`simulate_dixon_images`.
ARTEFACTS: tuple[str, ...] = ("fat_water_swap", "missing_station", "truncated_fov", "motion")


@dataclass(frozen=True)
class DixonGeometry:
    """Acquisition geometry: three overlapping axial stations.

    Attributes
    ----------
    spacing : (dz, dy, dx)
        Slice spacing and pixel spacing, mm.
    rows, cols : int
        In-plane matrix (rows run anterior -> posterior, columns right -> left).
    station_slices : int
        Slices per station.
    overlap : int
        Slices shared by adjacent stations.
    n_stations : int
        Number of stations.
    z0 : float
        Position (mm, LPS z, femoral heads at 0) of the lowest slice.
    """

    spacing: tuple[float, float, float] = (3.0, 2.2, 2.2)
    rows: int = 112
    cols: int = 144
    station_slices: int = 66
    overlap: int = 6
    n_stations: int = 3
    z0: float = -150.0

    @property
    def n_slices(self) -> int:
        return self.n_stations * self.station_slices - (self.n_stations - 1) * self.overlap

    def station_ranges(self) -> list[tuple[int, int]]:
        step = self.station_slices - self.overlap
        return [(s * step, s * step + self.station_slices) for s in range(self.n_stations)]

    def axes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        dz, dy, dx = self.spacing
        z = self.z0 + dz * np.arange(self.n_slices)
        y = (np.arange(self.rows) - (self.rows - 1) / 2) * dy
        x = (np.arange(self.cols) - (self.cols - 1) / 2) * dx
        return z, y, x


# Tissue proton densities (water, fat), as fractions of the 1000-unit scale.
_TISSUE = {
    "sc_fat": (0.10, 0.90),
    "muscle": (0.85, 0.04),
    "organ": (0.80, 0.05),
    "visceral_fat": (0.12, 0.86),
    "lung": (0.05, 0.01),
    "cortex": (0.05, 0.03),
    "disc": (0.88, 0.02),
    "csf": (1.00, 0.00),
}
_MARROW_PD = 0.95
#: Vertebral cortical shell (mm) in-plane and at the endplates.
_VCORTEX = 2.0
_VENDPLATE = 1.5
#: Femoral head subchondral cortex (mm).
_HEAD_CORTEX = 3.2
_SCALE = 1000.0


@dataclass
class SimulatedDixon:
    """One simulated participant before writing (clean grid).

    ``water``/``fat`` are noise-free, bias-free proton densities times 1000 on the full grid;
    ``labels`` is the int16 label map (:data:`LABELS`); ``site_ff`` the realised per-site fat
    fraction; ``params`` the anatomy parameters.
    """

    water: np.ndarray
    fat: np.ndarray
    labels: np.ndarray
    site_ff: dict[str, float]
    params: dict[str, float] = field(default_factory=dict)


# ------------------------------------------------------------------------------ shapes (SDFs)
class _Grid:
    """Open (broadcastable) coordinate axes of a grid, sliced to bounding boxes on demand."""

    def __init__(self, z: np.ndarray, y: np.ndarray, x: np.ndarray) -> None:
        self.z, self.y, self.x = (a.astype(np.float32) for a in (z, y, x))
        self.shape = (len(z), len(y), len(x))

    def box(self, lo: np.ndarray, hi: np.ndarray) -> tuple[slice, slice, slice] | None:
        sl = []
        for axis, (a, b) in zip((self.x, self.y, self.z), zip(lo, hi, strict=True), strict=True):
            i0 = int(np.searchsorted(axis, a, side="left"))
            i1 = int(np.searchsorted(axis, b, side="right"))
            if i1 <= i0:
                return None
            sl.append(slice(i0, i1))
        return (sl[2], sl[1], sl[0])

    def coords(self, box: tuple[slice, slice, slice]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return (self.x[box[2]][None, None, :], self.y[box[1]][None, :, None], self.z[box[0]][:, None, None])


def _ellipsoid(c, r):
    c = np.asarray(c, dtype=np.float32)
    r = np.asarray(r, dtype=np.float32)

    def sdf(x, y, z):
        q = np.sqrt(((x - c[0]) / r[0]) ** 2 + ((y - c[1]) / r[1]) ** 2 + ((z - c[2]) / r[2]) ** 2)
        return (q - 1.0) * r.min()

    return sdf, c - r - 3, c + r + 3


def _capsule(a, b, radius):
    a = np.asarray(a, dtype=np.float32)
    b = np.asarray(b, dtype=np.float32)
    ab = b - a
    L2 = float(ab @ ab)

    def sdf(x, y, z):
        t = np.clip(((x - a[0]) * ab[0] + (y - a[1]) * ab[1] + (z - a[2]) * ab[2]) / L2, 0, 1)
        return np.sqrt((x - a[0] - t * ab[0]) ** 2 + (y - a[1] - t * ab[1]) ** 2 + (z - a[2] - t * ab[2]) ** 2) - radius

    lo = np.minimum(a, b) - radius - 3
    hi = np.maximum(a, b) + radius + 3
    return sdf, lo, hi


def _elliptic_cylinder(cx, cy, rx, ry, z0, z1):
    """Vertical elliptic cylinder between z0 and z1 (flat ends)."""

    def sdf(x, y, z):
        q = (np.sqrt(((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2) - 1.0) * min(rx, ry)
        e = np.maximum(z0 - z, z - z1)
        return np.maximum(q, e)

    return sdf, np.array([cx - rx - 3, cy - ry - 3, z0 - 3]), np.array([cx + rx + 3, cy + ry + 3, z1 + 3])


def _occupancy(d: np.ndarray, ramp: float) -> np.ndarray:
    return np.clip(0.5 - d / ramp, 0.0, 1.0)


# ------------------------------------------------------------------------------ truth values
def random_site_truth(rng: np.random.Generator) -> dict[str, float]:
    """Random per-site fat fractions for training volumes (broader than any cohort's)."""
    t: dict[str, float] = {}
    base_f = rng.uniform(0.55, 0.9)
    for site in FEMORAL_SITES:
        for side in SIDES:
            t[f"bmff_{site}_{side}"] = float(np.clip(base_f + rng.normal(0, 0.06), 0.35, 0.97))
    base_v = rng.uniform(0.25, 0.7)
    for i, v in enumerate(VERTEBRAE):
        t[f"bmff_{v}"] = float(np.clip(base_v + 0.01 * i + rng.normal(0, 0.03), 0.1, 0.9))
    return t


# ------------------------------------------------------------------------------- the phantom
def simulate_dixon_volume(
    truth: dict[str, float],
    *,
    seed: int | np.random.Generator,
    geometry: DixonGeometry | None = None,
    position: tuple[float, float, float] = (0.0, 0.0, 0.0),
    spine: str = "typical",
) -> SimulatedDixon:
    """Build one participant's noise-free water/fat volumes and label map.

    Parameters
    ----------
    truth : dict
        True BMFF per site column (``bmff_femoral_head_left``, ..., ``bmff_t8``..``bmff_l5``);
        fat fractions in [0, 1].
    seed : int or Generator
        Anatomy randomness (size, adiposity, position, marrow texture).
    geometry : DixonGeometry, optional
        Acquisition grid (default: :class:`DixonGeometry()`).
    position : (dz, dy, dx), default=(0, 0, 0)
        Extra displacement of the body in the scanner, mm (a repeat scan's repositioning; the
        same ``seed`` gives the same anatomy).
    spine : {"typical", "six_lumbar", "sacralised_l5"}, default="typical"
        Lumbosacral anatomy (:data:`SPINE_VARIANTS`).

    Returns
    -------
    SimulatedDixon
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    if spine not in SPINE_VARIANTS:
        raise fail("simulate_dixon_volume/spine", f"expected one of {list(SPINE_VARIANTS)}, found {spine!r}")
    geo = geometry or DixonGeometry()
    z_ax, y_ax, x_ax = geo.axes()
    shift = rng.uniform(-8, 8)
    pz, py, px = (float(v) for v in position)
    g = _Grid(z_ax - shift - pz, y_ax - py, x_ax - px)  # anatomy frame: femoral heads at z = 0
    g0 = _Grid(z_ax - shift, y_ax, x_ax) if (pz, py, px) != (0.0, 0.0, 0.0) else None
    ramp = float(min(geo.spacing[1:]))
    s = rng.uniform(0.92, 1.05)  # body size
    sz = rng.uniform(0.97, 1.03)  # stature (vertical)
    t_sc = rng.uniform(7, 17) * s  # subcutaneous fat thickness, mm
    visceral = rng.uniform(0.1, 0.45)  # share of the abdominal cavity that is fat
    liver_fat = rng.uniform(0.0, 0.1)
    params = {"size": s, "stature": sz, "sc_fat_mm": t_sc, "visceral": visceral, "z_shift": shift}

    water = np.zeros(g.shape, dtype=np.float32)
    fat = np.zeros(g.shape, dtype=np.float32)
    labels = np.zeros(g.shape, dtype=np.int16)

    def paint(sdf_box, wf: tuple[float, float] | None = None, *, ff=None, pd: float = _MARROW_PD, label: Any = None):
        sdf, lo, hi = sdf_box
        box = g.box(lo, hi)
        if box is None:
            return
        x, y, z = g.coords(box)
        d = np.broadcast_to(sdf(x, y, z), water[box].shape)
        occ = _occupancy(d, ramp)
        if wf is not None:
            w_t, f_t = wf
        else:
            ffv = ff(x, y, z) if callable(ff) else ff
            f_t, w_t = pd * ffv, pd * (1 - ffv)
        water[box] = water[box] * (1 - occ) + occ * w_t
        fat[box] = fat[box] * (1 - occ) + occ * f_t
        if label is not None:
            inside = d < 0
            lab = label(x, y, z) if callable(label) else label
            labels[box] = np.where(inside, np.broadcast_to(lab, inside.shape), labels[box])

    # ---- body outline (skin -> subcutaneous fat), then muscle wall, cavity, lungs
    def body_sdf(offset: float):
        def sdf(x, y, z):
            f = np.clip((z + 70.0 * sz) / (30.0 * sz), 0, 1)
            rx = np.where(z > 60 * sz, 118 * s, 120 * s) * f + 1e-3
            ry = np.where(z > 200 * sz, 86 * s, 83 * s) * f + 1e-3
            trunk = (np.sqrt((x / rx) ** 2 + (y / ry) ** 2) - 1.0) * np.minimum(rx, ry)
            trunk = np.where(f > 0.02, trunk, 1e3)
            thigh_r = 50 * s
            thighs = np.minimum(np.sqrt((x - 68 * s) ** 2 + (y - 5) ** 2), np.sqrt((x + 68 * s) ** 2 + (y - 5) ** 2)) - thigh_r
            thighs = np.where(z < 0, thighs, 1e3)
            return np.minimum(trunk, thighs) - offset

        return sdf, np.array([-200.0, -200, -1000]), np.array([200.0, 200, 1000])

    paint(body_sdf(t_sc), _TISSUE["sc_fat"])
    paint(body_sdf(0.0), _TISSUE["muscle"])
    # Abdominal-pelvic cavity with organs, then visceral fat as a smooth random pattern.
    cavity = _elliptic_cylinder(0, -12 * s, 98 * s, 58 * s, -10 * sz, 290 * sz)
    paint(cavity, _TISSUE["organ"])
    sdf, lo, hi = cavity
    box = g.box(lo, hi)
    if box is not None:
        x, y, z = g.coords(box)
        inside = np.broadcast_to(sdf(x, y, z), water[box].shape) < -4
        shape = water[box].shape
        # as many draws as at position 0 (a repositioned box may hold a slice or column more or
        # less): the random stream, and so the rest of the anatomy, stays that of the first scan
        box0 = g0.box(lo, hi) if g0 is not None else None
        n_draw = tuple(b.stop - b.start for b in box0) if box0 is not None else shape
        noise = rng.standard_normal(n_draw).astype(np.float32)
        if n_draw != shape:
            noise = np.pad(noise, [(0, max(a - b, 0)) for a, b in zip(shape, n_draw, strict=True)], mode="wrap")
            noise = noise[tuple(slice(0, a) for a in shape)]
        field_ = ndimage.gaussian_filter(noise, (3, 4, 4))
        thr = np.quantile(field_[inside], 1 - visceral) if inside.any() else np.inf
        vf = inside & (field_ > thr)
        w_t, f_t = _TISSUE["visceral_fat"]
        water[box] = np.where(vf, w_t, water[box])
        fat[box] = np.where(vf, f_t, fat[box])
    # Liver fat: a little fat signal in the upper cavity.
    liver = _ellipsoid((-40 * s, -10 * s, 250 * sz), (60 * s, 50 * s, 45 * sz))
    paint(liver, (0.80 * (1 - liver_fat), 0.80 * liver_fat + 0.02))
    for side in (-1, 1):
        paint(_ellipsoid((side * 52 * s, 5 * s, 390 * sz), (40 * s, 58 * s, 95 * sz)), _TISSUE["lung"])

    # ---- marrow fat fractions: per-site values plus a smooth texture (mean removed later)
    tex = ndimage.gaussian_filter(rng.standard_normal(g.shape).astype(np.float32), (1.5, 2, 2))
    tex *= 0.03 / max(float(tex.std()), 1e-6)
    other_ff = float(rng.uniform(0.5, 0.8))

    # ---- pelvis (not measured): acetabula, ilia, pubis, sacrum
    pelvis_ff = other_ff
    for side in (-1, 1):
        paint(_ellipsoid((side * 80 * s, 22 * s, 55 * sz), (11 * s, 38 * s, 50 * sz)), _TISSUE["cortex"])
        paint(_ellipsoid((side * 80 * s, 22 * s, 55 * sz), (7 * s, 33 * s, 45 * sz)), ff=pelvis_ff)
        paint(_capsule((side * 58 * s, -30 * s, 0), (side * 8 * s, -48 * s, -8 * sz), 9 * s), _TISSUE["cortex"])
        paint(_capsule((side * 58 * s, -30 * s, 0), (side * 8 * s, -48 * s, -8 * sz), 5.5 * s), ff=pelvis_ff)
        # Acetabular roof: a cap above the femoral head.
        paint(_ellipsoid((side * 62 * s, 5 * s, 24 * sz), (26 * s, 24 * s, 9 * sz)), _TISSUE["cortex"])
    # a lumbarised S1 (six lumbar vertebrae): the sacrum starts one lumbar level (30 mm) lower
    sac_c, sac_r = (62.0, 40.0) if spine != "six_lumbar" else (47.0, 25.0)
    paint(_ellipsoid((0, 48 * s, sac_c * sz), (38 * s, 17 * s, sac_r * sz)), _TISSUE["cortex"])
    paint(_ellipsoid((0, 48 * s, sac_c * sz), (33 * s, 12 * s, (sac_r - 5) * sz)), ff=pelvis_ff)

    # ---- spine: T7..L5 bodies, discs, arches, canal
    order = ("l5", "l4", "l3", "l2", "l1", "t12", "t11", "t10", "t9", "t8", "t7")
    zb = 110.0 * sz
    vert_ranges: dict[str, tuple[float, float, float, float]] = {}
    for v in order:
        lumbar = v.startswith("l")
        h = (24.0 if lumbar else 19.0) * sz * rng.uniform(0.96, 1.04)
        disc = (6.0 if lumbar else 4.5) * sz
        rx, ry = ((22.0, 16.0) if lumbar else (17.0, 13.5))
        rx, ry = rx * s, ry * s
        vert_ranges[v] = (zb, zb + h, rx, ry)
        zb += h + disc
    y_v = 28.0 * s
    if spine == "six_lumbar":  # L6 below L5, one lumbar level lower, where S1 sits in a typical spine
        a5, _, rx5, ry5 = vert_ranges["l5"]
        vert_ranges = {"l6": (a5 - 30.0 * sz, a5 - 6.0 * sz, rx5, ry5), **vert_ranges}
    fused: tuple[float, float, float, float] | None = None
    if spine == "sacralised_l5":  # L5 fused with the sacrum: no L5/S1 disc, sacral marrow, no L5 site
        fused = vert_ranges.pop("l5")
    for a, b, rx, ry in vert_ranges.values():
        # disc above and below (water-bright), then the body (cortex shell, marrow)
        paint(_elliptic_cylinder(0, y_v, rx, ry, a - 7, b + 7), _TISSUE["disc"])
    for a, b, rx, ry in vert_ranges.values():
        paint(_elliptic_cylinder(0, y_v, rx, ry, a, b), _TISSUE["cortex"])
    if fused is not None:
        a, b, rx, ry = fused
        # the body reaches down into the sacrum (a bony bar where the disc was), marrow continuous
        paint(_elliptic_cylinder(0, y_v + 6 * s, rx, ry + 6 * s, a - 24 * sz, b), _TISSUE["cortex"])
        paint(_elliptic_cylinder(0, y_v + 6 * s, rx - _VCORTEX, ry + 6 * s - _VCORTEX, a - 24 * sz, b - _VENDPLATE),
              ff=pelvis_ff)
    canal_y = y_v + 16 * s + 9 * s
    z_lo, z_hi = min(r[0] for r in vert_ranges.values()) - 10, vert_ranges["t7"][1] + 10
    paint(_elliptic_cylinder(0, canal_y, 12 * s, 11 * s, z_lo, z_hi), (0.15, 0.25))  # arches
    paint(_elliptic_cylinder(0, canal_y, 7 * s, 6.5 * s, z_lo, z_hi), _TISSUE["csf"])

    # ---- femurs
    fem: dict[int, dict[str, Any]] = {}
    for side, name in ((1, "left"), (-1, "right")):  # LPS: +x is the patient's left
        c_head = np.array([side * 62 * s, 5 * s, 0.0])
        c_troch = np.array([side * 90 * s, 8 * s, -30 * sz])
        shaft_top = np.array([side * 88 * s, 9 * s, -42 * sz])
        shaft_bot = np.array([side * 74 * s, 9 * s, -420.0])
        r_head = 21.0 * s
        z_lt = -62.0 * sz  # lesser trochanter: proximal femur (total hip) above, diaphysis below
        u = (c_troch - c_head) / np.linalg.norm(c_troch - c_head)
        fem[side] = {"name": name, "c_head": c_head, "u": u, "r_head": r_head, "z_lt": z_lt, "r_marrow": r_head - _HEAD_CORTEX}
        outer = [
            _ellipsoid(c_head, (r_head,) * 3),
            _capsule(c_head, c_troch, 13.5 * s),
            _ellipsoid(c_troch, (15 * s, 14 * s, 20 * sz)),
            _capsule(shaft_top, shaft_bot, 13.0 * s),
        ]
        inner = [
            _ellipsoid(c_head, (r_head - _HEAD_CORTEX,) * 3),
            _capsule(c_head, c_troch, 10.0 * s),
            _ellipsoid(c_troch, (11.5 * s, 10.5 * s, 16.5 * sz)),
            _capsule(shaft_top, shaft_bot, 7.5 * s),
        ]
        fem[side]["outer"], fem[side]["inner"] = outer, inner

    def femur_region(x, y, z, side):
        """0 = head, 1 = neck/trochanter, 2 = diaphysis, by position.

        The femoral head is the marrow inside the head's (marrow) sphere -- the sphere-fit
        definition of hip morphometry; the rest of the proximal femur above the lesser
        trochanter is neck/trochanter.
        """
        f = fem[side]
        c = f["c_head"]
        d2 = (x - c[0]) ** 2 + (y - c[1]) ** 2 + (z - c[2]) ** 2
        return np.where(z < f["z_lt"], 2, np.where(d2 < f["r_marrow"] ** 2, 0, 1))

    side_code = {1: (1, 3, 5), -1: (2, 4, 6)}
    for side in (1, -1):
        for shape in fem[side]["outer"]:
            paint(shape, _TISSUE["cortex"])
    # Marrow: painted with a placeholder fat fraction and the site labels; the fat fractions are
    # then set per site on the whole marrow (see below).
    for side in (1, -1):
        codes = side_code[side]
        for shape in fem[side]["inner"]:
            paint(shape, ff=0.5, label=lambda x, y, z, side=side, codes=codes: np.choose(femur_region(x, y, z, side), codes).astype(np.int16))
    for v, (a, b, rx, ry) in vert_ranges.items():
        paint(_elliptic_cylinder(0, y_v, rx - _VCORTEX, ry - _VCORTEX, a + _VENDPLATE, b - _VENDPLATE), ff=0.5, label=np.int16(LABEL_CODE[v]))

    # ---- set marrow fat fractions so eroded-mask means equal the truth (before noise)
    ff = np.full(g.shape, np.nan, dtype=np.float32)
    pd = water + fat
    marrow_like = pd > 1e-6
    ff[marrow_like] = fat[marrow_like] / pd[marrow_like]
    site_ff: dict[str, float] = {}
    # Region maps by position (covering PV voxels outside the label masks too).
    region = np.zeros(g.shape, dtype=np.int16)
    for side in (1, -1):
        for shape in fem[side]["outer"]:
            sdf, lo, hi = shape
            box = g.box(lo, hi)
            if box is None:
                continue
            x, y, z = g.coords(box)
            inside = np.broadcast_to(sdf(x, y, z), region[box].shape) < 0
            reg = np.broadcast_to(np.choose(femur_region(x, y, z, side), side_code[side]), inside.shape)
            region[box] = np.where(inside, reg, region[box])
    for v, (a, b, rx, ry) in vert_ranges.items():
        sdf, lo, hi = _elliptic_cylinder(0, y_v, rx, ry, a, b)
        box = g.box(lo, hi)
        if box is None:
            continue
        x, y, z = g.coords(box)
        inside = np.broadcast_to(sdf(x, y, z), region[box].shape) < 0
        region[box] = np.where(inside, LABEL_CODE[v], region[box])
    target = np.full(g.shape, np.nan, dtype=np.float32)

    def eroded(mask):
        return ndimage.binary_erosion(mask, iterations=1)

    for code, name in LABELS.items():
        if name.startswith("femoral_neck") or name == "t7":
            continue
        key = f"bmff_{name}"
        if name.startswith("femoral_head"):
            side = name.rsplit("_", 1)[-1]
            key = f"bmff_femoral_head_{side}"
        val = truth.get(key, np.nan)
        if not np.isfinite(val):
            val = other_ff
        target[region == code] = val
    for side, name in ((1, "left"), (-1, "right")):
        head, neck, _ = side_code[side]
        t_head = truth.get(f"bmff_femoral_head_{name}", other_ff)
        t_hip = truth.get(f"bmff_total_hip_{name}", other_ff)
        target[region == head] = t_head
        target[region == neck] = t_hip  # provisional; solved below
    target[region == 0] = np.nan
    tex_field = np.where(np.isfinite(target), tex, 0)
    # Remove the texture's mean on each site's eroded mask so site means are exact.
    for code in LABELS:
        m = eroded(labels == code)
        if m.any():
            tex_field[region == code] -= float(tex_field[m].mean())
    new_ff = np.clip(np.where(np.isfinite(target), target + tex_field, ff), 0.01, 0.99)
    # Solve the neck/trochanter fat fraction for the total hip (head + neck) eroded mean.
    for side, name in ((1, "left"), (-1, "right")):
        head, neck, _ = side_code[side]
        t_hip = truth.get(f"bmff_total_hip_{name}", other_ff)
        m_u = eroded((labels == head) | (labels == neck))
        n_u = int(m_u.sum())
        if n_u == 0:
            continue
        in_neck = m_u & (labels == neck)
        shift_ = (t_hip * n_u - float(new_ff[m_u].sum())) / max(int(in_neck.sum()), 1)
        sel = region == neck
        new_ff[sel] = np.clip(new_ff[sel] + shift_, 0.01, 0.99)
    # Re-paint marrow: keep each voxel's proton density split, with the new fat fraction, only
    # where marrow was painted (its share of the voxel is recovered from the occupancy).
    marrow_share = np.zeros(g.shape, dtype=np.float32)
    # occupancy of marrow = fraction of PD explained by marrow: recompute from the inner SDFs.
    for side in (1, -1):
        for shape in fem[side]["inner"]:
            sdf, lo, hi = shape
            box = g.box(lo, hi)
            if box is None:
                continue
            x, y, z = g.coords(box)
            marrow_share[box] = np.maximum(marrow_share[box], _occupancy(np.broadcast_to(sdf(x, y, z), marrow_share[box].shape), ramp))
    for a, b, rx, ry in vert_ranges.values():
        sdf, lo, hi = _elliptic_cylinder(0, y_v, rx - _VCORTEX, ry - _VCORTEX, a + _VENDPLATE, b - _VENDPLATE)
        box = g.box(lo, hi)
        if box is None:
            continue
        x, y, z = g.coords(box)
        marrow_share[box] = np.maximum(marrow_share[box], _occupancy(np.broadcast_to(sdf(x, y, z), marrow_share[box].shape), ramp))
    sel = (marrow_share > 0) & np.isfinite(target)
    # Marrow was painted at ff = 0.5: marrow contributes 0.5*PD*share to each of water and fat.
    m_part = _MARROW_PD * marrow_share[sel]
    water[sel] = water[sel] - 0.5 * m_part + (1 - new_ff[sel]) * m_part
    fat[sel] = fat[sel] - 0.5 * m_part + new_ff[sel] * m_part
    water = np.clip(water, 0, None)
    fat = np.clip(fat, 0, None)
    # Realised site values (noise-free measurement on the true labels).
    ffv = fat / np.maximum(water + fat, 1e-6)
    for side, name in ((1, "left"), (-1, "right")):
        head, neck, shaft = side_code[side]
        for key, mask in (
            (f"bmff_femoral_head_{name}", labels == head),
            (f"bmff_total_hip_{name}", (labels == head) | (labels == neck)),
            (f"bmff_femoral_diaphysis_{name}", labels == shaft),
        ):
            m = eroded(mask)
            site_ff[key] = float(ffv[m].mean()) if m.any() else float("nan")
    for v in VERTEBRAE:
        m = eroded(labels == LABEL_CODE[v])
        site_ff[f"bmff_{v}"] = float(ffv[m].mean()) if m.any() else float("nan")
    return SimulatedDixon(water=water * _SCALE, fat=fat * _SCALE, labels=labels, site_ff=site_ff, params=params)


# ---------------------------------------------------------------------------- acquisition
def _bias_field(shape: tuple[int, int, int], rng: np.random.Generator) -> np.ndarray:
    z = np.linspace(-1, 1, shape[0], dtype=np.float32)[:, None, None]
    y = np.linspace(-1, 1, shape[1], dtype=np.float32)[None, :, None]
    x = np.linspace(-1, 1, shape[2], dtype=np.float32)[None, None, :]
    c = rng.normal(0, 0.08, size=6)
    log_b = c[0] * x + c[1] * y + c[2] * z + c[3] * x * x + c[4] * y * y + c[5] * x * y
    return np.exp(log_b).astype(np.float32)


def acquire_stations(
    sim: SimulatedDixon,
    *,
    seed: int | np.random.Generator,
    geometry: DixonGeometry | None = None,
    artefact: str | None = None,
    noise_sd: float = 12.0,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Turn a clean phantom into per-station magnitude images (bias, noise, artefacts).

    Returns the station list for :func:`~bma_genetics.io.dixon.write_dixon_zip`
    (lowest station first) and a record of what was done (``artefact``, ``station``, ``cols``).
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    geo = geometry or DixonGeometry()
    z_ax, _, x_ax = geo.axes()
    bias = _bias_field(sim.water.shape, rng)
    ranges = geo.station_ranges()
    record: dict[str, Any] = {"artefact": artefact or "none", "station": "", "cols": (0, geo.cols)}
    target_station = int(rng.integers(len(ranges)))
    col_lo, col_hi = 0, geo.cols
    if artefact == "truncated_fov":
        k = int(rng.integers(16, 24))
        col_lo, col_hi = k, geo.cols - k
        record["cols"] = (col_lo, col_hi)
    stations = []
    for s_idx, (a, b) in enumerate(ranges):
        gain = rng.uniform(0.9, 1.1)
        w = sim.water[a:b] * bias[a:b] * gain
        f = sim.fat[a:b] * bias[a:b] * gain
        if artefact == "motion" and s_idx == target_station:
            # Respiratory/bulk motion: ghosts of the body repeated along the phase-encode
            # direction (anterior-posterior) plus blur.
            amp = rng.uniform(0.2, 0.35)
            shift = geo.rows // 3
            w = ndimage.gaussian_filter1d(w, 1.0, axis=1)
            f = ndimage.gaussian_filter1d(f, 1.0, axis=1)
            w = w + amp * (np.roll(w, shift, axis=1) + np.roll(w, -shift, axis=1)) / 2
            f = f + amp * (np.roll(f, shift, axis=1) + np.roll(f, -shift, axis=1)) / 2
            record["station"] = s_idx
        if artefact == "fat_water_swap" and s_idx == target_station:
            w, f = f, w
            record["station"] = s_idx

        def mag(v):
            return np.sqrt((v + rng.normal(0, noise_sd, v.shape)) ** 2 + rng.normal(0, noise_sd, v.shape) ** 2)

        st = {
            "z": z_ax[a:b],
            "water": mag(w)[:, :, col_lo:col_hi],
            "fat": mag(f)[:, :, col_lo:col_hi],
            "in": mag(w + f)[:, :, col_lo:col_hi],
            "opp": mag(np.abs(w - f))[:, :, col_lo:col_hi],
        }
        stations.append(st)
    if artefact == "missing_station":
        record["station"] = target_station
        stations = [st for i, st in enumerate(stations) if i != target_station]
    record["origin_xy"] = (float(x_ax[col_lo]), float(geo.axes()[1][0]))
    return stations, record


def _stitch_stations(stations: list[dict[str, Any]], geo: DixonGeometry) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Stitch simulated stations on the full grid (same rule as the DICOM reader)."""
    z_ax = geo.axes()[0]
    dz = geo.spacing[0]
    shape = (len(z_ax), *stations[0]["water"].shape[1:])
    out = {k: np.zeros(shape, dtype=np.float32) for k in ("water", "fat")}
    best = np.full(len(z_ax), -np.inf)
    covered = np.zeros(len(z_ax), dtype=bool)
    for st in stations:
        zs = st["z"]
        for i, z in enumerate(zs):
            k = int(round((z - z_ax[0]) / dz))
            depth = min(z - zs[0], zs[-1] - z)
            if depth > best[k]:
                best[k] = depth
                covered[k] = True
                for key in out:
                    out[key][k] = st[key][i]
    lo, hi = np.flatnonzero(covered)[[0, -1]]
    return {k: v[lo : hi + 1] for k, v in out.items()}, np.arange(lo, hi + 1)


# ------------------------------------------------------------------------------- the cohort
_DEFAULT_N = {"tiny": 50, "demo": 200, "large": 500}


def _read_truth(cohort_dir: Path) -> Any:
    import pandas as pd

    from bma_genetics.sites import all_traits

    path = cohort_dir / "truth" / "bmff_true.parquet"
    if not path.exists():
        raise fail("simulate_dixon_images/cohort_dir", f"{path} not found; simulate the cohort first "
                   "(bma-genetics simulate --preset tiny --out DIR)")
    df = pd.read_parquet(path)
    need = ["eid", *[c for c in all_traits() if c.endswith(("_left", "_right")) or c[5:] in VERTEBRAE]]
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise fail("simulate_dixon_images/cohort_dir", f"{path} lacks column(s) {missing}")
    df["eid"] = df["eid"].astype(str)
    return df


#: Tag of the spine variants' own random stream (``default_rng([seed, SPINE_STREAM])``).
SPINE_STREAM = 2004


def plant_spine_variants(n: int, fraction: float, seed: int) -> np.ndarray:
    """Lumbosacral anatomy of ``n`` imaged participants (:data:`SPINE_VARIANTS`), from its own stream.

    ``round(fraction * n)`` participants get a transitional spine, alternately ``six_lumbar`` and
    ``sacralised_l5``; the rest ``typical``.
    """
    out = np.array(["typical"] * n, dtype=object)
    k = int(round(fraction * n))
    if k == 0:
        return out
    idx = np.random.default_rng([int(seed), SPINE_STREAM]).choice(n, size=min(k, n), replace=False)
    for j, i in enumerate(idx):
        out[i] = SPINE_VARIANTS[1 + j % 2]
    return out


def simulate_dixon_images(
    cohort_dir: str | Path,
    *,
    n: int | None = None,
    seed: int,
    artefact_fraction: float = 0.1,
    out: str | Path | None = None,
    nifti: bool = True,
    geometry: DixonGeometry | None = None,
    progress: bool = True,
    withdrawals: str | Path | Iterable[str] | None = None,
    n_rescans: int | None = 0,
    spine_variant_fraction: float = 0.04,
) -> Path:
    """Simulate Dixon MRI for a subset of a cohort, as 20201 zips, NIfTI and label maps.

    Model: see the module docstring (geometric phantom, per-site marrow fat fraction equal to
    ``truth/bmff_true.parquet``, bias field, Rician noise, partial volume).

    Parameters
    ----------
    cohort_dir : path
        A cohort directory (``docs/cohort_layout.md``) with ``truth/bmff_true.parquet``.
    n : int, optional
        Participants to image; default by preset (tiny 50, demo 200, large 500; else 100),
        capped at the cohort size.
    seed : int
        Seed for the subset, anatomy, noise and artefacts.
    artefact_fraction : float, default=0.1
        Share of participants with one injected artefact (fat-water swap, missing station,
        truncated field of view, motion; in equal numbers, rounded).
    out : path, optional
        Where ``images/`` and ``truth/images.tsv`` go; default ``cohort_dir``.
    nifti : bool, default=True
        Also write ``images/nifti/{eid}_water.nii.gz`` and ``_fat.nii.gz``.
    withdrawals : path or iterable of str, optional
        Withdrawn participants (a file read by :func:`bma_genetics.io.read_withdrawals`, or
        eids): never imaged; the subset is drawn from the others. Default: nobody excluded.
    n_rescans : int or None, default=0
        Participants (without an artefact) scanned again at the repeat imaging visit, UK
        Biobank instance 3 (:mod:`bma_genetics.simulate.rescan`: new position, bias field and
        noise; own random stream); None: by preset (:func:`~bma_genetics.simulate.rescan.default_rescans`:
        a tenth of the imaged on tiny, 50 on demo, 100 on large), capped at those without an
        artefact.
    spine_variant_fraction : float, default=0.04
        Share of participants with lumbosacral transitional anatomy (half ``six_lumbar``, half
        ``sacralised_l5``, :data:`SPINE_VARIANTS`; ``round(fraction * n)`` participants: 2 of the
        tiny and demo presets' 50 imaged); drawn from its own random stream.

    Returns
    -------
    Path
        ``out``. Written: ``images/20201/{eid}_20201_2_0.zip``, ``images/nifti/{eid}_{water,fat}.nii.gz``,
        ``images/labels/{eid}_labels.nii.gz`` (codes in :data:`LABELS`),
        ``images/labels.json``, with ``n_rescans`` the instance-3 zips
        ``images/20201/{eid}_20201_3_0.zip`` and ``truth/rescans.tsv``, and ``truth/images.tsv``:

        ==================  =======  ==================================================
        column              dtype    meaning
        ==================  =======  ==================================================
        eid                 str      participant
        artefact            str      ``none`` or one of :data:`ARTEFACTS`
        artefact_station    str      affected station (0 = lowest), empty if n/a
        zip                 str      path of the 20201 zip, relative to ``out``
        spine               str      lumbosacral anatomy (:data:`SPINE_VARIANTS`)
        bmff_*              float    realised noise-free site fat fraction (``bmff_l5`` NaN
                                     for a sacralised L5)
        ==================  =======  ==================================================

    Examples
    --------
    >>> simulate_dixon_images("tiny_cohort", n=10, seed=1)  # doctest: +SKIP
    """
    import pandas as pd
    from tqdm import tqdm

    from bma_genetics._atomic import kill_point, write_table, write_text
    from bma_genetics.io.dixon import DixonVolume, write_dixon_zip, write_nifti

    cohort_dir = Path(cohort_dir)
    check_probability("simulate_dixon_images/artefact_fraction", artefact_fraction, open_interval=False)
    check_probability("simulate_dixon_images/spine_variant_fraction", spine_variant_fraction, open_interval=False)
    truth = _read_truth(cohort_dir)
    if withdrawals is not None:
        from bma_genetics.io.withdrawals import read_withdrawals

        withdrawn = read_withdrawals(withdrawals) if isinstance(withdrawals, (str, Path)) else {
            str(e) for e in withdrawals}
        truth = truth[~truth["eid"].isin(withdrawn)].reset_index(drop=True)
    preset = ""
    meta = cohort_dir / "cohort.json"
    if meta.exists():
        preset = json.loads(meta.read_text()).get("preset", "")
    if n is None:
        n = _DEFAULT_N.get(preset, 100)
    if not isinstance(n, int) or n < 1:
        raise fail("simulate_dixon_images/n", f"expected a positive integer, found {n!r}")
    n = min(n, len(truth))
    if n_rescans is None:
        n_rescans = default_rescans(preset, n)
    if isinstance(n_rescans, bool) or not isinstance(n_rescans, int) or n_rescans < 0:
        raise fail("simulate_dixon_images/n_rescans", f"expected an integer >= 0 or None, found {n_rescans!r}")
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(len(truth), size=n, replace=False))
    sub = truth.iloc[pick].reset_index(drop=True)
    n_art = int(round(artefact_fraction * n))
    art = np.array(["none"] * n, dtype=object)
    idx = rng.choice(n, size=n_art, replace=False)
    for j, i in enumerate(idx):
        art[i] = ARTEFACTS[j % len(ARTEFACTS)]
    spine = plant_spine_variants(n, spine_variant_fraction, seed)
    geo = geometry or DixonGeometry()
    out = Path(out) if out is not None else cohort_dir
    img = out / "images"
    for d in ("20201", "nifti", "labels"):
        (img / d).mkdir(parents=True, exist_ok=True)
    rows = []
    seeds = rng.integers(0, 2**63 - 1, size=(n, 3))
    for i in tqdm(range(n), desc="simulate dixon", unit="participant", disable=not progress):
        eid = str(sub.loc[i, "eid"])
        t = {k: float(v) for k, v in sub.loc[i].items() if k != "eid"}
        sim = simulate_dixon_volume(t, seed=int(seeds[i, 0]), geometry=geo, spine=str(spine[i]))
        a = None if art[i] == "none" else str(art[i])
        stations, rec = acquire_stations(sim, seed=int(seeds[i, 1]), geometry=geo, artefact=a)
        zip_path = img / "20201" / f"{eid}_20201_2_0.zip"
        # Stations are listed top (head) first, as a scanner numbers them.
        write_dixon_zip(zip_path, eid, stations[::-1], spacing=geo.spacing, origin_xy=rec["origin_xy"],
                        file_order_seed=int(seeds[i, 2]))
        kill_point(f"images:{i + 1}")  # test hook (BMA_GENETICS_TEST_KILL_AT), else nothing
        if nifti:
            stitched, kept = _stitch_stations(stations, geo)
            c0, c1 = rec["cols"]
            z_ax, y_ax, x_ax = geo.axes()
            vol = DixonVolume(
                eid=eid, water=stitched["water"], fat=stitched["fat"], spacing=geo.spacing,
                origin=np.array([x_ax[c0], y_ax[0], z_ax[kept[0]]]),
                directions=np.array([[0.0, 0, 1], [0, 1, 0], [1, 0, 0]]),
            )
            write_nifti(img / "nifti" / f"{eid}_water.nii.gz", stitched["water"], vol)
            write_nifti(img / "nifti" / f"{eid}_fat.nii.gz", stitched["fat"], vol)
            write_nifti(img / "labels" / f"{eid}_labels.nii.gz", sim.labels[kept][:, :, c0:c1], vol, dtype=np.int16)
        rows.append({"eid": eid, "artefact": rec["artefact"], "artefact_station": str(rec["station"]),
                     "zip": str(zip_path.relative_to(out)), "spine": str(spine[i]), **sim.site_ff})
    rescans = []
    for r in tqdm(rescan_plan(art, n_rescans, seed), desc="simulate rescans", unit="participant",
                  disable=not progress or not n_rescans):
        i = r["index"]
        eid = str(sub.loc[i, "eid"])
        t = {k: float(v) for k, v in sub.loc[i].items() if k != "eid"}
        sim = simulate_dixon_volume(t, seed=int(seeds[i, 0]), geometry=geo, position=r["position"],
                                    spine=str(spine[i]))
        stations, rec = acquire_stations(sim, seed=r["seed"], geometry=geo)
        zip_path = img / "20201" / f"{eid}_20201_3_0.zip"
        write_dixon_zip(zip_path, eid, stations[::-1], spacing=geo.spacing, origin_xy=rec["origin_xy"],
                        file_order_seed=r["file_order_seed"], visit=3)
        dz, dy, dx = r["position"]
        rescans.append({"eid": eid, "zip": str(zip_path.relative_to(out)), "shift_z_mm": dz, "shift_y_mm": dy,
                        "shift_x_mm": dx})
    if rescans:
        write_table(pd.DataFrame(rescans), out / "truth" / "rescans.tsv")
    else:  # a table of an earlier simulation into the same folder would not describe these images
        (out / "truth" / "rescans.tsv").unlink(missing_ok=True)
    write_text(img / "labels.json", json.dumps({str(k): v for k, v in LABELS.items()}, indent=1) + "\n")
    write_table(pd.DataFrame(rows), out / "truth" / "images.tsv")
    log.info("simulated Dixon images for %d participants (%d with artefacts) in %s", n, n_art, img)
    return out


def simulate_training_volumes(
    n: int, *, seed: int, geometry: DixonGeometry | None = None
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, float]]]:
    """Clean labelled volumes with random per-site truth, for training and held-out evaluation.

    Returns a list of ``(water, fat, labels, site_ff)`` with bias field, station gains and Rician
    noise as in :func:`simulate_dixon_images`, stitched on the full grid, no artefacts.
    """
    geo = geometry or DixonGeometry()
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        truth = random_site_truth(rng)
        sim = simulate_dixon_volume(truth, seed=rng, geometry=geo)
        stations, _ = acquire_stations(sim, seed=rng, geometry=geo)
        stitched, kept = _stitch_stations(stations, geo)
        out.append((stitched["water"], stitched["fat"], sim.labels[kept], sim.site_ff))
    return out

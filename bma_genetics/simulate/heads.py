"""Synthetic head T1 volumes with a known calvarial marrow intensity (for the ``calvarial`` stage).

A head is an ellipsoid of layered tissue. Depth below the skin is the ellipsoid's approximate
signed distance (``(rho - 1) / |grad rho|``, exact on the surface, within a few per cent over the
25 mm the profiles reach for these mildly elongated heads); along it lie skin, aponeurosis,
subcutaneous fat (areolar), the outer table, the diploic marrow, the inner table and the rest
(meninges, CSF, brain). Layer thicknesses and intensities follow the profile model of
:mod:`bma_genetics.calvarial.profiles` (Kaufmann 2024's R simulation), as smooth fields over the
scalp rather than independent draws per vertex: each participant has a head size and a body
adiposity that scale them, and each layer's thickness varies by +-20 % over the head (a random
linear plus quadratic form of the direction). The marrow's intensity is the participant's true value
(``truth/calvarial_true.parquet``, :mod:`bma_genetics.simulate.calvarial`) with a +-4 %
low-frequency texture. Partial volume: each boundary is a linear ramp one voxel wide along the
depth; then Rician-like noise (|x + N(0, 5)|).

The volume covers the top of the head only (what the calvarial measure uses; it keeps the
simulation cheap): axial slices from 10 mm above the head's centre to above the vertex, at
``voxel_mm`` isotropic (default 1.5 mm; UK Biobank's T1 is 1 mm).

Planted failures (``truth/heads.tsv`` column ``failure``):

- ``motion``: ghosts along the phase-encoding (anterior-posterior) axis, copies of alternating
  sign shifted by 14-22 mm at 70-85 % of the intensity (k-space phase errors; magnitude image),
  and a blur of half a voxel: bright and dark bands cross the skull;
- ``truncated``: the field of view placed too low, the top 25-40 mm of the head missing.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bma_genetics._check import fail
from bma_genetics.io.head import (
    FIELD_DICOM,
    FIELD_NIFTI,
    HeadVolume,
    write_head_dicom_zip,
    write_head_nifti_zip,
)

if TYPE_CHECKING:  # pandas is imported where the truth table is built: the stage declarations stay light
    import pandas as pd

log = logging.getLogger(__name__)

#: Mean layer thickness (mm) at size and adiposity 1 (the profile model's mean sample counts x 0.5 mm)
#: and what scales it.
THICKNESS_MM = {"skin": (1.5, "none"), "aponeurosis": (1.0, "size"), "areolar": (3.0, "adiposity"),
                "outer_table": (2.0, "size"), "marrow": (4.5, "size"), "inner_table": (1.5, "size")}
#: Ellipsoid semi-axes (mm) of a head of size 1: left-right, anterior-posterior, superior.
SEMI_AXES = (72.0, 92.0, 82.0)
#: Failure kinds planted and their names in the truth.
FAILURES = ("motion", "truncated")
NOISE_SD = 5.0
#: Defaults of :func:`simulate_head_images` (and the ``head_images`` stage).
DEFAULT_VOXEL_MM = 1.5
DEFAULT_FAILURE_FRACTION = 0.06


@dataclass(frozen=True)
class HeadParameters:
    """One participant's head: geometry, layer scales and intensities (0-255)."""

    marrow: float
    size: float
    adiposity: float
    skull: float
    semi_axes: tuple[float, float, float]
    centre: tuple[float, float, float]
    skin: float
    aponeurosis: float
    areolar: float
    bone: float
    rest: float


def draw_head(marrow: float, rng: np.random.Generator) -> HeadParameters:
    """A participant's head parameters around a given true marrow intensity."""
    size = float(np.clip(rng.normal(1.0, 0.06), 0.85, 1.15))
    skull = float(np.clip(rng.normal(1.0, 0.15), 0.7, 1.4))  # the tables' and marrow's thickness scale
    adip = float(np.clip(np.exp(rng.normal(0.0, 0.35)), 0.4, 2.5))
    axes = tuple(float(a * size * rng.normal(1.0, 0.02)) for a in SEMI_AXES)
    centre = (float(rng.normal(0, 2)), float(rng.normal(0, 3)), float(rng.normal(0, 2)))
    return HeadParameters(marrow=float(marrow), size=size, adiposity=adip, skull=skull, semi_axes=axes,
                          centre=centre, skin=float(rng.normal(90, 8)), aponeurosis=float(rng.normal(45, 5)),
                          areolar=float(np.clip(rng.normal(180, 20), 130, 230)), bone=float(np.clip(rng.normal(25, 6), 8, 45)),
                          rest=_rest(rng))


#: The brain ("rest") intensity of every simulated head: the images stand for FreeSurfer-normalised
#: T1s (the brain at a fixed value), so it equals ``calvarial.api.REFERENCE_INTENSITY``, the value
#: ``measure_head`` maps each head's brain to.
REST_INTENSITY = 60.0
#: Version of the head model (part of the ``head_images`` stage's key): 2 = the brain at REST_INTENSITY.
HEADS_VERSION = 2


def _rest(rng: np.random.Generator) -> float:
    rng.normal(60, 8)  # the former per-head draw, kept so that the stream (and every later draw) is unchanged
    return REST_INTENSITY


def _field(u: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A smooth random field on the unit directions ``u`` (..., 3), within +-1: a random linear plus
    quadratic form (spherical harmonics of degree 1 and 2)."""
    k = rng.standard_normal((3, 3))
    k /= np.linalg.norm(k, axis=1, keepdims=True)
    t = u @ k.T.astype(u.dtype)
    return 0.5 * t[..., 0] + 0.5 * t[..., 1] * t[..., 2]


def head_grid(p: HeadParameters, voxel_mm: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Axial grid (z, y, x mm axes) covering the head's top: 10 mm above the centre to 8 mm above the vertex
    (the calvarial vertices, normals within 60 degrees of superior, lie above half the height)."""
    a, b, c = p.semi_axes
    cx, cy, cz = p.centre
    margin = 8.0
    x = np.arange(cx - a - margin, cx + a + margin + 1e-9, voxel_mm)
    y = np.arange(cy - b - margin, cy + b + margin + 1e-9, voxel_mm)
    z = np.arange(cz + 10.0, cz + c + margin + 1e-9, voxel_mm)
    origin = np.array([x[0], y[0], z[0]])
    return z, y, x, origin


def render_head(p: HeadParameters, *, voxel_mm: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The T1 volume ``(z, y, x)`` float32 of one head and the LPS origin (mm) of voxel (0, 0, 0)."""
    z, y, x, origin = head_grid(p, voxel_mm)
    a, b, c = p.semi_axes
    Z, Y, X = np.meshgrid((z - p.centre[2]) / c, (y - p.centre[1]) / b, (x - p.centre[0]) / a, indexing="ij",
                          sparse=True)
    rho = np.sqrt(X ** 2 + Y ** 2 + Z ** 2)
    grad = np.sqrt((X / a) ** 2 + (Y / b) ** 2 + (Z / c) ** 2) / np.maximum(rho, 1e-6)
    depth = (1.0 - rho) / np.maximum(grad, 1e-9)  # mm below the skin (negative outside)
    deepest = sum(m * 1.3 * (2.5 if w == "adiposity" else 1.4) for m, w in THICKNESS_MM.values()) + 2 * voxel_mm
    vol = np.where(depth > 0, p.rest, 0.0)
    shell = (depth > -2 * voxel_mm) & (depth < deepest)
    d = depth[shell]
    zz, yy, xx = (np.broadcast_to(t, depth.shape)[shell] for t in (Z, Y, X))
    u = np.stack([xx, yy, zz], axis=-1)
    u /= np.maximum(np.linalg.norm(u, axis=-1, keepdims=True), 1e-6)
    scale = {"none": 1.0, "size": p.skull, "adiposity": p.adiposity}
    # boundaries: cumulative depths of the layers, each thickness a smooth field over the head;
    # each boundary a linear ramp one voxel wide (partial volume)
    values = [0.0, p.skin, p.aponeurosis, p.areolar, p.bone, p.marrow, p.bone, p.rest]
    out = np.zeros(d.shape)
    bound = np.zeros(d.shape)
    for i, (name, (mean, what)) in enumerate([("surface", (0.0, "none")), *THICKNESS_MM.items()]):
        if i:
            bound = bound + mean * scale[what] * (1 + 0.2 * _field(u, rng))
        ramp = np.clip((d - bound) / voxel_mm + 0.5, 0.0, 1.0)
        step = values[i + 1] - values[i]
        if name == "outer_table":  # into the marrow: its own low-frequency texture (+-4 %) ...
            texture = 0.04 * p.marrow * _field(u, rng)
            step = step + texture
        elif name == "marrow":  # ... which ends with it
            step = step - texture
        out += step * ramp
    vol[shell] = out
    vol = np.abs(vol + rng.normal(0.0, NOISE_SD, vol.shape))
    return vol.astype(np.float32), origin


def plant_failure(vol: np.ndarray, origin: np.ndarray, kind: str, p: HeadParameters, voxel_mm: float,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Apply a planted failure (:data:`FAILURES`) to a rendered head."""
    from scipy.ndimage import gaussian_filter

    if kind == "motion":
        # k-space phase errors: ghost copies of alternating sign along the phase-encoding axis
        shift = int(round(rng.uniform(14, 22) / voxel_mm))
        alpha = rng.uniform(0.7, 0.85)
        out = np.abs(vol + alpha * (np.roll(vol, shift, axis=1) - np.roll(vol, -shift, axis=1)))
        return gaussian_filter(out, 0.5).astype(np.float32), origin
    if kind == "truncated":
        top = p.centre[2] + p.semi_axes[2]
        cut = top - rng.uniform(25, 40)
        keep = int(np.floor((cut - origin[2]) / voxel_mm)) + 1
        return vol[:max(keep, 4)].copy(), origin
    raise fail("plant_failure/kind", f"expected one of {list(FAILURES)}, found {kind!r}")


def simulate_head_volume(eid: str, marrow: float, *, voxel_mm: float = DEFAULT_VOXEL_MM, failure: str = "none",
                         rng: np.random.Generator) -> tuple[HeadVolume, dict[str, Any]]:
    """One participant's head T1 and its truth row (``eid, marrow_intensity, failure, size,
    skull, adiposity, voxel_mm``)."""
    p = draw_head(marrow, rng)
    vol, origin = render_head(p, voxel_mm=voxel_mm, rng=rng)
    if failure != "none":
        vol, origin = plant_failure(vol, origin, failure, p, voxel_mm, rng)
    truth = {"eid": eid, "marrow_intensity": round(float(marrow), 4), "failure": failure, "size": round(p.size, 4),
             "skull": round(p.skull, 4), "adiposity": round(p.adiposity, 4), "voxel_mm": voxel_mm}
    return HeadVolume(eid, vol, (voxel_mm, voxel_mm, voxel_mm), origin), truth


def simulate_head_images(
    cohort: str | os.PathLike,
    *,
    n: int,
    seed: int,
    out: str | os.PathLike,
    failure_fraction: float = DEFAULT_FAILURE_FRACTION,
    voxel_mm: float = DEFAULT_VOXEL_MM,
    formats: tuple[str, ...] = ("nifti", "dicom"),
    withdrawals: frozenset[str] | set[str] = frozenset(),
) -> pd.DataFrame:
    """Simulate head T1 images of ``n`` imaged participants of a simulated cohort.

    Parameters
    ----------
    cohort : path
        A cohort with ``truth/calvarial_true.parquet`` (layout 5 or later).
    n : int
        Participants imaged (drawn among the cohort's imaged, non-withdrawn participants).
    seed : int
        Seed of the draw and of every head.
    out : path
        Folder: ``images/20252/{eid}_20252_2_0.zip`` (NIfTI, ``T1/T1.nii.gz``),
        ``images/20216/{eid}_20216_2_0.zip`` (DICOM) and ``truth/heads.tsv``.
    failure_fraction : float, default=0.06
        Share of heads with a planted failure, half ``motion``, half ``truncated``.
    voxel_mm : float, default=1.5
        Isotropic voxel size.
    formats : tuple of {"nifti", "dicom"}, default=("nifti", "dicom")
    withdrawals : set of str
        Participants never imaged.

    Returns
    -------
    DataFrame
        The truth (``truth/heads.tsv``): ``eid, marrow_intensity, failure, size, skull,
        adiposity, voxel_mm, nifti, dicom``.
    """
    import pandas as pd

    cohort = Path(cohort)
    truth_path = cohort / "truth" / "calvarial_true.parquet"
    if not truth_path.exists():
        raise fail("simulate_head_images/cohort", f"{truth_path} is missing: simulate the cohort with this version "
                                                  "(layout 5 or later)")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise fail("simulate_head_images/n", f"expected an integer >= 1, found {n!r}")
    if not 0 <= failure_fraction <= 1:
        raise fail("simulate_head_images/failure_fraction", f"expected a value in [0, 1], found {failure_fraction!r}")
    if not 0.5 <= voxel_mm <= 4:
        raise fail("simulate_head_images/voxel_mm", f"expected 0.5-4 mm, found {voxel_mm!r}")
    bad = set(formats) - {"nifti", "dicom"}
    if bad or not formats:
        raise fail("simulate_head_images/formats", f"expected nifti and/or dicom, found {list(formats)}")
    truth = pd.read_parquet(truth_path)
    truth["eid"] = truth["eid"].astype(str)
    pool = truth[truth["imaged"].astype(bool) & ~truth["eid"].isin(set(withdrawals))].reset_index(drop=True)
    rng = np.random.default_rng([int(seed), 20252])
    pick = np.sort(rng.choice(len(pool), size=min(int(n), len(pool)), replace=False))
    chosen = pool.iloc[pick].reset_index(drop=True)
    n_fail = int(round(failure_fraction * len(chosen)))
    failures = np.array(["none"] * len(chosen), dtype=object)
    idx = rng.choice(len(chosen), size=n_fail, replace=False)
    failures[idx[: (n_fail + 1) // 2]] = "motion"
    failures[idx[(n_fail + 1) // 2:]] = "truncated"
    out = Path(out)
    rows = []
    for i, r in enumerate(chosen.itertuples(index=False)):
        head_rng = np.random.default_rng([int(seed), 20252, int(r.eid)])
        vol, row = simulate_head_volume(r.eid, float(r.marrow_intensity), voxel_mm=voxel_mm, failure=failures[i],
                                        rng=head_rng)
        if "nifti" in formats:
            p = out / "images" / FIELD_NIFTI / f"{r.eid}_{FIELD_NIFTI}_2_0.zip"
            p.parent.mkdir(parents=True, exist_ok=True)
            write_head_nifti_zip(p, vol)
            row["nifti"] = f"images/{FIELD_NIFTI}/{p.name}"
        if "dicom" in formats:
            p = out / "images" / FIELD_DICOM / f"{r.eid}_{FIELD_DICOM}_2_0.zip"
            p.parent.mkdir(parents=True, exist_ok=True)
            write_head_dicom_zip(p, vol)
            row["dicom"] = f"images/{FIELD_DICOM}/{p.name}"
        rows.append(row)
    table = pd.DataFrame(rows)
    (out / "truth").mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "truth" / "heads.tsv", sep="\t", index=False, lineterminator="\n")
    log.info("head images: %d participants (%d planted failures) at %.1f mm", len(table), n_fail, voxel_mm)
    return table

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
depth. Below the inner table the rest layer (60) runs 8 mm, at least to 26 mm below the skin (the
profiles' 25 mm see only it, as in the profile model), then turns over 3 mm into brain: white
matter, grey matter and CSF as a smooth random partition (:func:`brain_texture`). Then Rician-like
noise (|x + N(0, 5)|). All this on FreeSurfer's ``nu.mgz`` scale, the study's input and the scale of
the true marrow intensity; the file is then put on a scanner's scale (:func:`to_scanner_scale`: a
gain per scanner and head and a few per cent of bias field, as UK Biobank's ``T1.nii.gz``, which
the ``calvarial`` measurement maps back by FreeSurfer's rule; ``intensity="nu"`` writes the
``nu.mgz`` scale itself).

The volume covers the top of the head only (what the calvarial measure uses; it keeps the
simulation cheap): axial slices from 10 mm above the head's centre to above the vertex, at
``voxel_mm`` isotropic (default 1.5 mm; UK Biobank's T1 is 1 mm).

Planted failures (``truth/heads.tsv`` column ``failure``):

- ``motion``: ghosts along the phase-encoding (anterior-posterior) axis, copies of alternating
  sign shifted by 14-22 mm at 15-85 % of the intensity (k-space phase errors; magnitude image),
  and a blur of half a voxel: bright and dark bands cross the skull and the air around the head;
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
#: Amplitude of the planted motion ghosts relative to the head (uniform): from ghosts plain to the eye
#: that bias BMA by ~10 % to a ruined image (head model 2: 0.70-0.85 only).
MOTION_GHOST_AMPLITUDE = (0.15, 0.85)
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


#: The "rest" intensity (meninges, CSF and cortex below the inner table, the profile model's rest
#: layer) of every simulated head, on FreeSurfer's ``nu.mgz`` scale.
REST_INTENSITY = 60.0
#: The brain deeper down (below the rest layer, :func:`brain_texture`), on the ``nu.mgz`` scale that
#: the study's profiles were sampled from (FreeSurfer's ``mri_make_uchar``: the 90th percentile of a
#: mostly-brain ball at 110, its 1st percentile at 2.55): white matter, grey matter and CSF
#: intensities and their shares of the deep brain. With Rician noise of :data:`NOISE_SD` the deep
#: brain's 90th percentile is ~109.6 and its 1st ~2.4: that rule maps a simulated head on this scale to
#: itself within 0.5 % (scale 1.000-1.005, offset -0.1 to 0.4 on four heads).
WM_INTENSITY = 106.0
GM_INTENSITY = 72.0
CSF_INTENSITY = 0.0
BRAIN_SHARES = (0.60, 0.33, 0.07)
#: Correlation length (mm) of the brain's tissue texture; the rest layer's thickness below the inner
#: table (mm), at least down to BRAIN_MIN_DEPTH_MM below the skin (beyond the profiles' 25 mm, where the
#: profile model has only "rest"), and the depth (mm) over which it turns into brain.
BRAIN_TEXTURE_MM = 3.0
BRAIN_RIM_MM = 8.0
BRAIN_MIN_DEPTH_MM = 26.0
BRAIN_RAMP_MM = 3.0
#: Scanner scale (``intensity="scanner"``, the default): UK Biobank's ``T1/T1.nii.gz`` is neither
#: bias-corrected nor normalised. Each head is ``gain x bias x nu-scale image``: a gain per scanner
#: (:data:`SCANNER_GAINS`, one of them drawn per head, as the imaging centres) times a per-head log-normal
#: factor (SD :data:`HEAD_GAIN_SD`: coil loading, receiver gain), and a smooth multiplicative bias field
#: (a random linear form over the head, within +-:data:`BIAS_AMPLITUDE`; the acquisition's prescan
#: normalisation leaves a few per cent).
SCANNER_GAINS = (6.5, 9.0, 12.5)
HEAD_GAIN_SD = 0.15
BIAS_AMPLITUDE = 0.03
#: Intensity scales of the written heads.
INTENSITY_SCALES = ("scanner", "nu")
#: Version of the head model (part of the ``head_images`` stage's key): 2 = the brain at REST_INTENSITY;
#: 3 = a textured brain on the ``nu.mgz`` scale below the rest layer, written on a scanner scale.
HEADS_VERSION = 3


def brain_texture(shape: tuple[int, ...], voxel_mm: float, rng: np.random.Generator) -> np.ndarray:
    """White matter, grey matter and CSF (:data:`BRAIN_SHARES`) as a smooth random partition of the grid:
    a Gaussian random field (correlation ~ :data:`BRAIN_TEXTURE_MM`) cut at its quantiles, then blurred
    by half a voxel (partial volume)."""
    from scipy.ndimage import gaussian_filter

    f = gaussian_filter(rng.standard_normal(shape).astype(np.float32), BRAIN_TEXTURE_MM / voxel_mm)
    wm, gm, _ = BRAIN_SHARES
    lo, hi = np.quantile(f, [1.0 - wm - gm, 1.0 - wm])
    out = np.where(f >= hi, WM_INTENSITY, np.where(f >= lo, GM_INTENSITY, CSF_INTENSITY)).astype(np.float32)
    return gaussian_filter(out, 0.5)


def to_scanner_scale(vol: np.ndarray, origin: np.ndarray, p: HeadParameters, voxel_mm: float,
                     rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
    """A head on the ``nu.mgz`` scale put on a scanner's scale (:data:`SCANNER_GAINS`): gain x bias field.

    Returns the volume and the truth of the draw (``scanner``, ``gain``, ``bias_amplitude``)."""
    scanner = int(rng.integers(len(SCANNER_GAINS)))
    gain = SCANNER_GAINS[scanner] * float(np.exp(rng.normal(0.0, HEAD_GAIN_SD)))
    amp = float(rng.uniform(0.0, BIAS_AMPLITUDE))
    direction = rng.standard_normal(3)
    direction /= np.linalg.norm(direction)
    nz, ny, nx = vol.shape
    z = (origin[2] + voxel_mm * np.arange(nz) - p.centre[2]) / p.semi_axes[2]
    y = (origin[1] + voxel_mm * np.arange(ny) - p.centre[1]) / p.semi_axes[1]
    x = (origin[0] + voxel_mm * np.arange(nx) - p.centre[0]) / p.semi_axes[0]
    bias = 1.0 + amp * np.clip(direction[0] * x[None, None, :] + direction[1] * y[None, :, None]
                               + direction[2] * z[:, None, None], -1.0, 1.0)
    out = (vol * (gain * bias)).astype(np.float32)
    return out, {"scanner": scanner + 1, "gain": round(gain, 4), "bias_amplitude": round(amp, 4)}


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


def render_head(p: HeadParameters, *, voxel_mm: float, rng: np.random.Generator,
                brain_rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The T1 volume ``(z, y, x)`` float32 of one head and the LPS origin (mm) of voxel (0, 0, 0), on
    FreeSurfer's ``nu.mgz`` scale (:data:`WM_INTENSITY`).

    ``brain_rng`` draws the brain's tissue texture (:func:`brain_texture`); without it the brain is
    uniform at the rest intensity (the head model of :data:`HEADS_VERSION` 2). The layer and noise
    draws come from ``rng`` either way."""
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
    if brain_rng is not None:  # the brain below the rest layer: white matter, grey matter, CSF
        start = np.full(depth.shape, BRAIN_MIN_DEPTH_MM)  # beyond the shell (deeper than any inner table): brain
        start[shell] = np.clip(bound + BRAIN_RIM_MM, BRAIN_MIN_DEPTH_MM, deepest)  # bound: the inner table's end
        w = np.clip((depth - start) / BRAIN_RAMP_MM, 0.0, 1.0)
        inside = w > 0
        vol[inside] = (1 - w[inside]) * p.rest + w[inside] * brain_texture(vol.shape, voxel_mm, brain_rng)[inside]
    vol = np.abs(vol + rng.normal(0.0, NOISE_SD, vol.shape))
    return vol.astype(np.float32), origin


def plant_failure(vol: np.ndarray, origin: np.ndarray, kind: str, p: HeadParameters, voxel_mm: float,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Apply a planted failure (:data:`FAILURES`) to a rendered head."""
    from scipy.ndimage import gaussian_filter

    if kind == "motion":
        # k-space phase errors: ghost copies of alternating sign along the phase-encoding axis
        shift = int(round(rng.uniform(14, 22) / voxel_mm))
        alpha = rng.uniform(*MOTION_GHOST_AMPLITUDE)
        out = np.abs(vol + alpha * (np.roll(vol, shift, axis=1) - np.roll(vol, -shift, axis=1)))
        return gaussian_filter(out, 0.5).astype(np.float32), origin
    if kind == "truncated":
        top = p.centre[2] + p.semi_axes[2]
        cut = top - rng.uniform(25, 40)
        keep = int(np.floor((cut - origin[2]) / voxel_mm)) + 1
        return vol[:max(keep, 4)].copy(), origin
    raise fail("plant_failure/kind", f"expected one of {list(FAILURES)}, found {kind!r}")


def simulate_head_volume(eid: str, marrow: float, *, voxel_mm: float = DEFAULT_VOXEL_MM, failure: str = "none",
                         intensity: str = "scanner", rng: np.random.Generator) -> tuple[HeadVolume, dict[str, Any]]:
    """One participant's head T1 and its truth row (``eid, marrow_intensity, failure, size,
    skull, adiposity, voxel_mm, scanner, gain, bias_amplitude``).

    ``intensity``: ``"scanner"`` (default; :func:`to_scanner_scale`) or ``"nu"`` (FreeSurfer's
    ``nu.mgz`` scale, on which ``marrow`` is given; ``gain`` 1). The brain texture and the scanner
    draws come from a generator spawned from ``rng``, so the layers, noise and failures draw as before.
    """
    if intensity not in INTENSITY_SCALES:
        raise fail("simulate_head_volume/intensity", f"expected one of {list(INTENSITY_SCALES)}, found {intensity!r}")
    extra = rng.spawn(1)[0]  # spawning leaves rng's own stream where it was
    p = draw_head(marrow, rng)
    vol, origin = render_head(p, voxel_mm=voxel_mm, rng=rng, brain_rng=extra)
    if failure != "none":
        vol, origin = plant_failure(vol, origin, failure, p, voxel_mm, rng)
    scale: dict[str, Any] = {"scanner": 0, "gain": 1.0, "bias_amplitude": 0.0}
    if intensity == "scanner":
        vol, scale = to_scanner_scale(vol, origin, p, voxel_mm, extra)
    truth = {"eid": eid, "marrow_intensity": round(float(marrow), 4), "failure": failure, "size": round(p.size, 4),
             "skull": round(p.skull, 4), "adiposity": round(p.adiposity, 4), "voxel_mm": voxel_mm, **scale}
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
    intensity: str = "scanner",
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
    intensity : {"scanner", "nu"}, default="scanner"
        The scale written: a scanner's (gain and bias field per head, :func:`to_scanner_scale`; as
        UK Biobank's ``T1.nii.gz``) or FreeSurfer's ``nu.mgz`` scale (that of ``marrow_intensity``).

    Returns
    -------
    DataFrame
        The truth (``truth/heads.tsv``): ``eid, marrow_intensity, failure, size, skull,
        adiposity, voxel_mm, scanner, gain, bias_amplitude, nifti, dicom``.
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
    if intensity not in INTENSITY_SCALES:
        raise fail("simulate_head_images/intensity", f"expected one of {list(INTENSITY_SCALES)}, found {intensity!r}")
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
                                        intensity=intensity, rng=head_rng)
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

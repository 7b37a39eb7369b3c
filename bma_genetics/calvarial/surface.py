"""Skin surface, normals and inward intensity profiles from a head T1 (no FreeSurfer).

The study (Kaufmann 2024) took FreeSurfer's head surface and sampled the T1 inward along each
vertex normal, 0.5 mm apart to 25 mm. Here the surface is the marching-cubes isosurface
(scikit-image) of the head mask (threshold, holes filled, largest component, smoothed by a
Gaussian of one voxel so the isosurface is not staircased), the normals are marching cubes' own
(gradient of the smoothed mask), and the samples are trilinear
(``scipy.ndimage.map_coordinates``, order 1).

Vertices on the border of the field of view (the closing faces where the head leaves the image)
are not skin and are dropped. The calvarial vertices are those on the top of the head: outward
normal within :data:`CALVARIAL_MAX_ANGLE` degrees of superior.

Arrays are ``(slice, row, col)`` = (z, y, x) in the LPS layout of
:class:`bma_genetics.io.head.HeadVolume`; vertex coordinates are voxel indices on that grid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bma_genetics._check import fail
from bma_genetics.calvarial.profiles import N_SAMPLES, SAMPLE_MM

#: Largest angle (degrees) between a calvarial vertex's outward normal and superior.
CALVARIAL_MAX_ANGLE = 60.0


@dataclass
class SkinSurface:
    """A skin surface on a head T1's voxel grid.

    Attributes
    ----------
    vertices : ndarray of shape (n_vertices, 3)
        Voxel coordinates (z, y, x).
    normals : ndarray of shape (n_vertices, 3)
        Unit outward normals in mm space (z, y, x components).
    faces : ndarray of shape (n_faces, 3)
    spacing : (float, float, float)
    on_border : ndarray of shape (n_vertices,), bool
        On the field-of-view border (not skin).
    """

    vertices: np.ndarray
    normals: np.ndarray
    faces: np.ndarray
    spacing: tuple[float, float, float]
    on_border: np.ndarray


def head_mask(t1: np.ndarray, *, threshold: float | None = None) -> np.ndarray:
    """The head: voxels above ``threshold`` after a 1-voxel Gaussian, holes filled (per axial slice, then
    in 3-D), the largest component.

    ``threshold`` default: a quarter of the way from the 1st intensity percentile (air) to the 99th
    (skin and fat are bright), so that the mask does not change with the image's gain and offset.
    """
    from scipy import ndimage

    x = np.asarray(t1, np.float32)
    if x.ndim != 3 or min(x.shape) < 3:
        raise fail("head_mask/t1", f"expected a 3-D volume, found shape {x.shape}")
    if threshold is None:  # a quarter of the way from the background to the bright tissue: any gain and offset
        lo, hi = (float(v) for v in np.percentile(x, [1, 99]))
        thr = lo + 0.25 * (hi - lo)
    else:
        thr = float(threshold)
    m = ndimage.gaussian_filter(x, 1.0) > thr
    if not m.any():
        raise fail("head_mask/t1", f"no voxel above the threshold {thr:.3g}: not a head image")
    # fill holes first, slice by slice too (the field-of-view border leaves the 3-D head open there):
    # the dark skull can part the bright scalp from a bright brain, and the largest component must be
    # the whole head, not the brain inside it
    for k in range(m.shape[0]):
        m[k] = ndimage.binary_fill_holes(m[k])
    m = ndimage.binary_fill_holes(m)
    lab, _ = ndimage.label(m)
    sizes = np.bincount(lab.ravel())
    sizes[0] = 0
    return lab == int(np.argmax(sizes))


def skin_surface(mask: np.ndarray, spacing: tuple[float, float, float], *, step_size: int = 1) -> SkinSurface:
    """Marching cubes on the (padded, smoothed) head mask; outward unit normals; border vertices marked."""
    from scipy import ndimage
    from skimage.measure import marching_cubes

    m = np.pad(np.asarray(mask, bool), 1)
    smooth = ndimage.gaussian_filter(m.astype(np.float32), 1.0)
    try:
        verts, faces, normals, _ = marching_cubes(smooth, level=0.5, spacing=(1.0, 1.0, 1.0), step_size=step_size,
                                                  allow_degenerate=False)
    except (ValueError, RuntimeError) as exc:
        raise fail("skin_surface/mask", f"no surface in the head mask ({exc})") from None
    verts = verts - 1.0  # undo the padding
    sp = np.asarray(spacing, float)
    n_mm = normals / sp  # voxel-space gradient -> mm-space direction
    n_mm /= np.maximum(np.linalg.norm(n_mm, axis=1, keepdims=True), 1e-12)
    # orient outward: a step outside the head along the normal must leave the mask
    probe = verts + 3.0 * n_mm / sp
    inside = ndimage.map_coordinates(np.asarray(mask, np.float32), probe.T, order=1, mode="constant", cval=0.0)
    if np.mean(inside > 0.5) > 0.5:
        n_mm = -n_mm
    shape = np.asarray(mask.shape) - 1
    on_border = np.any((verts < 0.75) | (verts > shape - 0.75), axis=1)
    return SkinSurface(verts, n_mm, faces, tuple(float(s) for s in spacing), on_border)


def sample_profiles(t1: np.ndarray, surface: SkinSurface, index: np.ndarray | None = None, *,
                    n_samples: int = N_SAMPLES, step_mm: float = SAMPLE_MM) -> np.ndarray:
    """Intensities inward from the skin: ``step_mm`` .. ``n_samples * step_mm`` mm along minus the normal.

    Returns
    -------
    ndarray of shape (n_vertices, n_samples), float32
        Trilinear samples (``map_coordinates`` order 1; beyond the volume the nearest voxel).
    """
    from scipy import ndimage

    v = surface.vertices if index is None else surface.vertices[index]
    nrm = surface.normals if index is None else surface.normals[index]
    sp = np.asarray(surface.spacing, float)
    depth = step_mm * np.arange(1, n_samples + 1)
    pos = v[:, None, :] - depth[None, :, None] * (nrm / sp)[:, None, :]
    out = ndimage.map_coordinates(np.asarray(t1, np.float32), pos.reshape(-1, 3).T, order=1, mode="nearest")
    return out.reshape(len(v), n_samples).astype(np.float32)


def calvarial_vertices(surface: SkinSurface, *, max_angle: float = CALVARIAL_MAX_ANGLE) -> np.ndarray:
    """Indices of the calvarial vertices: skin (not the field-of-view border) whose outward normal is
    within ``max_angle`` degrees of superior (+z, array axis 0)."""
    cos = np.cos(np.deg2rad(max_angle))
    return np.flatnonzero(~surface.on_border & (surface.normals[:, 0] >= cos))

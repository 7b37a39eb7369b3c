"""Simulated skull intensity profiles, the training data of the calvarial network (Kaufmann 2024).

A profile is 50 head-T1 intensities sampled inward from the skin along the surface normal, 0.5 mm
apart (0.5 to 25 mm). It crosses, in order: air (a sampling error at the skin), skin, the
aponeurosis (or, where it is absent, a "mystery" layer of fat-like or darker tissue), the areolar
(subcutaneous fat) layer, the outer table of the skull, the diploic bone marrow, the inner table
and everything below it ("rest": meninges, CSF, brain). The network learns the six boundaries
(first and last layer of the outer table, marrow and inner table) from simulated profiles only.

The layer model is that of the study's R simulation script
(``000_simulateAndTrainNN/bmSimulation_50_versionA.r`` of github.com/comgen/boneMarrowLocalisationT1wMRI),
reimplemented here vectorised with NumPy: per layer a thickness in 0.5-mm samples (normal, floored,
with a minimum, scaled by head size or by body adiposity) and a per-vertex mean intensity (normal)
with a within-layer SD; intensities on a 0-255 scale, clipped; each interior sample finally
averaged with its neighbours (weights 0.3, 0.4, 0.3: the scanner's blur). A vertex whose layers
down to the inner table leave fewer than one "rest" sample is drawn again. Head types are the
study's grid: 6 head sizes x 7 marrow intensities x 8 body-adiposity levels = 336 types; the
study simulated 5,000 profiles per type (1.68 million).

Differences from the R script: the aponeurosis-absent runs (a run of 10-20 vertices starts with
probability 1/24 at each vertex) are drawn over the kept vertices (the R loop also advances the
run on a rejected draw), and the random numbers are NumPy's, one generator per head type
(``np.random.default_rng([seed, type_index])``), so a head type's profiles do not depend on the
rest of the grid.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from bma_genetics._check import fail

if TYPE_CHECKING:  # pandas is imported where a table is built: the stage declarations stay light
    import pandas as pd

#: Profiles per head type the study simulated (336 types: 1.68 million profiles).
STUDY_PROFILES_PER_TYPE = 5000
#: Samples per profile and their spacing (mm).
N_SAMPLES = 50
SAMPLE_MM = 0.5
#: Intensity scale of the profiles (the network's inputs are divided by it).
MAX_INTENSITY = 255.0
#: The study's head-type grid.
SIZE_SCALES = (0.6, 0.8, 1.0, 1.2, 1.4, 1.6)
MARROW_MEANS = (40.0, 50.0, 70.0, 90.0, 110.0, 140.0, 170.0)
ADIPOSITY_SCALES = (0.3, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0, 4.0)
#: Names of the six boundaries (1-based sample indices, inclusive), in the network's output order.
BOUNDARIES = ("outer_table_first", "outer_table_last", "marrow_first", "marrow_last",
              "inner_table_first", "inner_table_last")
#: Segments of a profile, skin side first.
SEGMENTS = ("air", "skin", "aponeurosis", "areolar", "mystery", "outer_table", "marrow", "inner_table", "rest")


@dataclass(frozen=True)
class Layer:
    """One tissue layer of the profile model (thickness in 0.5-mm samples, intensity 0-255).

    Attributes
    ----------
    mean, sd : float
        Distribution of the layer's per-vertex mean intensity.
    within_sd : float
        SD of the samples around the vertex mean (a fixed value; the areolar, marrow and rest
        layers draw theirs per vertex, see :data:`LAYERS`).
    thick_mean, thick_sd, thick_min : float
        Thickness ``max(floor(N(thick_mean, thick_sd) * scale), thick_min)`` samples.
    scale : {"none", "size", "adiposity"}
        What scales the thickness.
    """

    mean: float
    sd: float
    within_sd: float
    thick_mean: float
    thick_sd: float
    thick_min: float
    scale: str = "none"


#: The layer model (values of the study's R script; intensities on 0-255, thicknesses in samples).
LAYERS: dict[str, Layer] = {
    "air": Layer(35, 7, 3, 1.5, 1, 0),
    "skin": Layer(90, 10, 2, 3, 2, 1),                      # samples capped at 150
    "aponeurosis": Layer(45, 5, 3, 2, 2, 1, "size"),
    "areolar": Layer(180, 35, np.nan, 6, 2, 1, "adiposity"),  # within SD max(N(13, 5), 7); samples >= 100
    "mystery": Layer(80, 4, 4, 4, 3, 0, "size"),             # samples <= 100 (or areolar-like, 50 %)
    "outer_table": Layer(25, 8, 4, 4, 1.5, 2, "size"),       # its mean intensity is shared with the inner table
    "marrow": Layer(np.nan, 15, np.nan, 9, 3, 3, "size"),    # mean: the head type's; within SD max(N(13, 4), 1)
    "inner_table": Layer(25, 8, 4, 3, 1, 1, "size"),
    "rest": Layer(60, 15, np.nan, 0, 0, 1),                  # within SD max(N(5, 5), 1); samples <= 110
}
#: Probability that an aponeurosis-absent run starts at a vertex, and the run length range.
APONEUROSIS_RUN_START = 1 / 24
APONEUROSIS_RUN_LENGTH = (10.0, 20.0)
#: Neighbour weights of the final blur (previous, self, next).
BLUR = (0.3, 0.4, 0.3)


@dataclass
class ProfileSet:
    """Simulated profiles with their true boundaries.

    Attributes
    ----------
    intensities : ndarray of shape (n_profiles, 50), float32
        Intensities on 0-255, skin side first.
    boundaries : ndarray of shape (n_profiles, 6), int16
        1-based sample indices (inclusive) in :data:`BOUNDARIES` order.
    head_type : ndarray of shape (n_profiles,), int16
        Row of :attr:`types` each profile belongs to.
    marrow_mean : ndarray of shape (n_profiles,), float32
        The vertex's drawn marrow mean intensity (before the within-layer noise and the blur).
    types : DataFrame
        One row per head type: ``size_scale, marrow_mean, adiposity_scale``.
    seed : int
    """

    intensities: np.ndarray
    boundaries: np.ndarray
    head_type: np.ndarray
    marrow_mean: np.ndarray
    types: pd.DataFrame
    seed: int
    extra: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.intensities.shape[0])

    def subset(self, index: np.ndarray) -> ProfileSet:
        """The profiles at ``index`` (same head-type table)."""
        return ProfileSet(self.intensities[index], self.boundaries[index], self.head_type[index],
                          self.marrow_mean[index], self.types, self.seed)


def head_types(size_scales=SIZE_SCALES, marrow_means=MARROW_MEANS, adiposity_scales=ADIPOSITY_SCALES) -> pd.DataFrame:
    """The head-type grid (size x marrow intensity x adiposity, in that nesting order)."""
    import pandas as pd

    rows = [(s, m, a) for s in size_scales for m in marrow_means for a in adiposity_scales]
    return pd.DataFrame(rows, columns=["size_scale", "marrow_mean", "adiposity_scale"])


def _thickness(rng: np.random.Generator, layer: Layer, n: int, scale: float | np.ndarray = 1.0) -> np.ndarray:
    return np.maximum(np.floor(rng.normal(layer.thick_mean, layer.thick_sd, n) * scale), layer.thick_min).astype(np.int64)


def aponeurosis_absent(n: int, rng: np.random.Generator) -> np.ndarray:
    """Which of ``n`` consecutive vertices lack the aponeurosis: runs of 10-20 vertices, one
    starting at each vertex with probability 1/24 (a new start restarts the run)."""
    start = rng.random(n) < APONEUROSIS_RUN_START
    length = rng.uniform(*APONEUROSIS_RUN_LENGTH, n)
    out = np.zeros(n, bool)
    remaining = 0.0
    for i in range(n):
        if start[i]:
            remaining = length[i]
        if remaining > 0:
            out[i] = True
            remaining -= 1
    return out


def _draw(rng: np.random.Generator, n: int, size: float, marrow: float, adip: float,
          absent: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One batch of candidate vertices: (segment counts (n, 9), means, within-SDs, bounds lo/hi)."""
    L = LAYERS
    counts = np.zeros((n, len(SEGMENTS)), np.int64)
    means = np.zeros((n, len(SEGMENTS)))
    sds = np.zeros((n, len(SEGMENTS)))
    lo = np.full((n, len(SEGMENTS)), -np.inf)
    hi = np.full((n, len(SEGMENTS)), np.inf)
    col = {s: i for i, s in enumerate(SEGMENTS)}

    def put(name: str, count, mean, sd, low=-np.inf, high=np.inf) -> None:
        j = col[name]
        counts[:, j], means[:, j], sds[:, j], lo[:, j], hi[:, j] = count, mean, sd, low, high

    put("air", _thickness(rng, L["air"], n), rng.normal(L["air"].mean, L["air"].sd, n), L["air"].within_sd)
    put("skin", _thickness(rng, L["skin"], n), rng.normal(L["skin"].mean, L["skin"].sd, n), L["skin"].within_sd,
        high=150.0)
    apo = _thickness(rng, L["aponeurosis"], n, size)
    put("aponeurosis", np.where(absent, 0, apo), rng.normal(L["aponeurosis"].mean, L["aponeurosis"].sd, n),
        L["aponeurosis"].within_sd)
    are_mean = rng.normal(L["areolar"].mean, L["areolar"].sd, n)
    are_sd = np.maximum(rng.normal(13, 5, n), 7)
    put("areolar", _thickness(rng, L["areolar"], n, adip), are_mean, are_sd, low=100.0)
    mys_n = np.where(absent, _thickness(rng, L["mystery"], n, size), 0)
    fatty = rng.random(n) <= 0.5
    put("mystery", mys_n, np.where(fatty, are_mean, rng.normal(L["mystery"].mean, L["mystery"].sd, n)),
        np.where(fatty, are_sd, L["mystery"].within_sd), np.where(fatty, 100.0, -np.inf),
        np.where(fatty, np.inf, 100.0))
    bone = rng.normal(L["outer_table"].mean, L["outer_table"].sd, n)
    put("outer_table", _thickness(rng, L["outer_table"], n, size), bone, L["outer_table"].within_sd)
    put("marrow", _thickness(rng, L["marrow"], n, size), rng.normal(marrow, L["marrow"].sd, n),
        np.maximum(rng.normal(13, 4, n), 1))
    put("inner_table", _thickness(rng, L["inner_table"], n, size), bone, L["inner_table"].within_sd)
    counts[:, col["rest"]] = N_SAMPLES - counts[:, :-1].sum(axis=1)
    put("rest", counts[:, col["rest"]], rng.normal(L["rest"].mean, L["rest"].sd, n),
        np.maximum(rng.normal(5, 5, n), 1), high=110.0)
    return counts, means, sds, np.stack([lo, hi])


def render(counts: np.ndarray, means: np.ndarray, sds: np.ndarray, limits: np.ndarray,
           rng: np.random.Generator) -> np.ndarray:
    """Intensities (n, 50) of vertices given their segment counts, means, within-SDs and limits:
    normal samples, clipped to each segment's limits and to 0-255, then blurred (:data:`BLUR`)."""
    n = counts.shape[0]
    ends = np.cumsum(counts, axis=1)  # exclusive end of each segment
    pos = np.arange(N_SAMPLES)
    seg = (pos[None, :, None] >= ends[:, None, :]).sum(axis=2)  # (n, 50) segment of each sample
    seg = np.minimum(seg, counts.shape[1] - 1)
    take = np.take_along_axis
    x = take(means, seg, 1) + take(sds, seg, 1) * rng.standard_normal((n, N_SAMPLES))
    x = np.clip(x, take(limits[0], seg, 1), take(limits[1], seg, 1))
    x = np.clip(x, 0.0, MAX_INTENSITY)
    out = x.copy()
    out[:, 1:-1] = BLUR[0] * x[:, :-2] + BLUR[1] * x[:, 1:-1] + BLUR[2] * x[:, 2:]
    return out


def boundaries_of(counts: np.ndarray) -> np.ndarray:
    """The six 1-based inclusive boundaries from segment counts (:data:`SEGMENTS` order)."""
    ob_first = counts[:, :5].sum(axis=1) + 1
    ob_last = ob_first + counts[:, 5] - 1
    bm_first = ob_last + 1
    bm_last = bm_first + counts[:, 6] - 1
    ib_first = bm_last + 1
    ib_last = ib_first + counts[:, 7] - 1
    return np.stack([ob_first, ob_last, bm_first, bm_last, ib_first, ib_last], axis=1)


def simulate_head_type(n: int, *, size_scale: float, marrow_mean: float, adiposity_scale: float,
                       rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` profiles of one head type: (intensities (n, 50) float32, boundaries (n, 6), marrow means).

    Vertices are consecutive along the surface for the aponeurosis-absent runs; a vertex whose
    layers leave no "rest" sample is drawn again (the study's rejection rule).
    """
    absent = aponeurosis_absent(n, rng)
    need = np.arange(n)
    counts = np.zeros((n, len(SEGMENTS)), np.int64)
    means = np.zeros((n, len(SEGMENTS)))
    sds = np.zeros_like(means)
    limits = np.zeros((2, n, len(SEGMENTS)))
    for _ in range(1000):
        c, m, s, lim = _draw(rng, len(need), size_scale, marrow_mean, adiposity_scale, absent[need])
        ok = c[:, -1] >= LAYERS["rest"].thick_min
        idx = need[ok]
        counts[idx], means[idx], sds[idx], limits[:, idx] = c[ok], m[ok], s[ok], lim[:, ok]
        need = need[~ok]
        if need.size == 0:
            break
    else:  # pragma: no cover - only with absurd scales
        raise fail("simulate_profiles/size_scales", f"head type size {size_scale} adiposity {adiposity_scale} "
                                                     "leaves no room for the rest layer in 50 samples")
    x = render(counts, means, sds, limits, rng)
    return x.astype(np.float32), boundaries_of(counts).astype(np.int16), means[:, SEGMENTS.index("marrow")].astype(np.float32)


def simulate_profiles(n_per_type: int = STUDY_PROFILES_PER_TYPE, *, seed: int, size_scales=SIZE_SCALES,
                      marrow_means=MARROW_MEANS,
                      adiposity_scales=ADIPOSITY_SCALES, image_voxel_mm: float | None = None) -> ProfileSet:
    """Simulate skull intensity profiles for every head type (Kaufmann 2024's training data).

    Parameters
    ----------
    n_per_type : int, default=5000
        Profiles per head type (the study's 5,000 x 336 types = 1.68 million profiles, ~340 MB;
        tests and the demo use tens to hundreds).
    seed : int
        Seed; head type ``k`` draws from ``np.random.default_rng([seed, k])``.
    size_scales, marrow_means, adiposity_scales : sequence of float
        The head-type grid (default: the study's 6 x 7 x 8).
    image_voxel_mm : float, optional
        Blur the profiles further as sampling an image of this voxel size would: partial volume
        (a box one voxel wide along the normal) and trilinear interpolation (a triangle as wide),
        together about a Gaussian of SD ``voxel / sqrt(6)`` mm. Default ``None``: the study's
        profiles (its data were 1-mm FreeSurfer T1s). The boundaries (the truth) do not move.

    Returns
    -------
    ProfileSet
        ``intensities`` (n, 50) on 0-255, ``boundaries`` (n, 6) 1-based inclusive sample
        indices (:data:`BOUNDARIES`), ``head_type``, ``marrow_mean``, ``types``.

    Examples
    --------
    >>> p = simulate_profiles(10, seed=1)
    >>> p.intensities.shape, p.boundaries.shape, len(p.types)
    ((3360, 50), (3360, 6), 336)
    """
    if isinstance(n_per_type, bool) or not isinstance(n_per_type, (int, np.integer)) or n_per_type < 1:
        raise fail("simulate_profiles/n_per_type", f"expected an integer >= 1, found {n_per_type!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise fail("simulate_profiles/seed", f"expected an integer >= 0, found {seed!r}")
    for name, values in (("size_scales", size_scales), ("marrow_means", marrow_means),
                         ("adiposity_scales", adiposity_scales)):
        v = np.asarray(values, float)
        if v.ndim != 1 or v.size == 0 or not np.all(np.isfinite(v)) or np.any(v <= 0):
            raise fail(f"simulate_profiles/{name}", f"expected a non-empty list of positive numbers, found {values!r}")
    if image_voxel_mm is not None and not (isinstance(image_voxel_mm, (int, float)) and 0 < image_voxel_mm <= 4):
        raise fail("simulate_profiles/image_voxel_mm", f"expected a voxel size in (0, 4] mm or None, found {image_voxel_mm!r}")
    types = head_types(size_scales, marrow_means, adiposity_scales)
    n = int(n_per_type)
    xs, bs, ms = [], [], []
    for k, row in enumerate(types.itertuples(index=False)):
        x, b, m = simulate_head_type(n, size_scale=row.size_scale, marrow_mean=row.marrow_mean,
                                     adiposity_scale=row.adiposity_scale,
                                     rng=np.random.default_rng([int(seed), k]))
        if image_voxel_mm is not None:
            from scipy.ndimage import gaussian_filter1d

            x = gaussian_filter1d(x, image_voxel_mm / np.sqrt(6) / SAMPLE_MM, axis=1, mode="nearest")
        xs.append(x)
        bs.append(b)
        ms.append(m)
    return ProfileSet(np.concatenate(xs), np.concatenate(bs), np.repeat(np.arange(len(types), dtype=np.int16), n),
                      np.concatenate(ms), types, int(seed))

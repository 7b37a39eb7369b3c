"""Input preparation and seeded augmentation for the marrow U-Net.

Normalisation divides water and fat by one robust scale per volume (the 99th percentile of
water + fat inside the body), so the fat/water ratio -- the quantity of interest -- is
untouched and scanner gain, coil loading and station gain drop out.
"""

from __future__ import annotations

import numpy as np

#: Network classes (semantic; sides and vertebral levels are assigned afterwards by geometry).
#: The femoral head is separated from the rest of the proximal femur afterwards, by sphere fit
#: (:func:`bma_genetics.phenotypes.bmff.split_femoral_head`).
CLASSES: tuple[str, ...] = ("background", "vertebral_body", "proximal_femur", "femoral_diaphysis")

#: Simulated label codes (``bma_genetics.simulate.dixon.LABELS``) -> network class.
_LUT = np.zeros(256, dtype=np.uint8)
_LUT[[1, 2, 3, 4]] = 2
_LUT[[5, 6]] = 3
_LUT[7:19] = 1  # T8..L5, T7 and a sixth lumbar vertebra (18)


def semantic_labels(site_labels: np.ndarray) -> np.ndarray:
    """Map a site label map (codes 1-18) to network classes (0-3, :data:`CLASSES`)."""
    return _LUT[np.clip(site_labels, 0, 255).astype(np.int64)]


def intensity_scale(water: np.ndarray, fat: np.ndarray) -> float:
    """Robust intensity scale: 99th percentile of water + fat over voxels above 10 % of its max."""
    s = (water[:, ::2, ::2] + fat[:, ::2, ::2]).ravel()
    s = s[np.isfinite(s)]
    if s.size == 0:
        return 1.0
    body = s[s > 0.1 * float(np.percentile(s, 99.9))]
    scale = float(np.percentile(body, 99)) if body.size else 1.0
    return scale if scale > 0 else 1.0


def normalise(water: np.ndarray, fat: np.ndarray) -> np.ndarray:
    """Stack ``(2, Z, Y, X)`` float32 water and fat divided by :func:`intensity_scale`."""
    scale = intensity_scale(water, fat)
    out = np.stack([water, fat]).astype(np.float32, copy=True)
    out /= scale
    np.nan_to_num(out, copy=False)
    return out


def slice_stack(x: np.ndarray, k: int | np.ndarray, context: int) -> np.ndarray:
    """The 2.5D input of slice(s) ``k``: channels ``(2 * (2 * context + 1))``, edges clamped.

    ``x`` is ``(2, Z, Y, X)``; returns ``(2*(2c+1), Y, X)`` for an int ``k`` or
    ``(len(k), 2*(2c+1), Y, X)`` for an array.
    """
    ks = np.atleast_1d(np.asarray(k))
    offs = np.arange(-context, context + 1)
    idx = np.clip(ks[:, None] + offs[None, :], 0, x.shape[1] - 1)  # (n, 2c+1)
    out = x[:, idx]  # (2, n, 2c+1, Y, X)
    out = out.transpose(1, 2, 0, 3, 4).reshape(len(ks), -1, x.shape[2], x.shape[3])
    return out[0] if np.ndim(k) == 0 else out


class Augment:
    """Seeded 2D augmentation of a (channels, H, W) input and its (H, W) label.

    Left-right flip (classes are side-free), integer translation, global gain, independent
    small water/fat gains, additive Gaussian noise. Each call draws from ``rng``.
    """

    def __init__(self, seed: int, *, flip: float = 0.5, gain: float = 0.15, wf_gain: float = 0.05, noise: float = 0.02) -> None:
        self.rng = np.random.default_rng(seed)
        self.flip, self.gain, self.wf_gain, self.noise = flip, gain, wf_gain, noise

    def __call__(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        r = self.rng
        if r.random() < self.flip:
            x, y = x[..., ::-1], y[..., ::-1]
        x = x * r.uniform(1 - self.gain, 1 + self.gain)
        g = r.uniform(1 - self.wf_gain, 1 + self.wf_gain, size=2).astype(np.float32)
        c = x.shape[0]
        x = x * np.tile(g, c // 2)[:, None, None]
        if self.noise > 0:
            x = x + r.normal(0, r.uniform(0, self.noise), size=x.shape).astype(np.float32)
        return np.ascontiguousarray(x, dtype=np.float32), np.ascontiguousarray(y)

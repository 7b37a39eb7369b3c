"""Inference of the calvarial profile network: any predictor, boundaries, per-vertex layer statistics.

Kept apart from training (MONAI's habit): :func:`predict_boundaries` takes any callable from a
``(B, 50)`` tensor of normalised intensities to ``(B, 6)`` outputs, so a user's own model (or the
study's Keras model wrapped in a function) plugs in. The post-processing follows the study's
``run_predBM.py``: outputs x 50, clipped to 1..50 and rounded to sample indices.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bma_genetics._check import fail
from bma_genetics.calvarial.networks import ProfileNet, build_profile_net
from bma_genetics.calvarial.profiles import MAX_INTENSITY, N_SAMPLES
from bma_genetics.errors import InputError

Predictor = Callable[[torch.Tensor], torch.Tensor]


def normalise_profiles(intensities: np.ndarray, *, where: str = "normalise_profiles/intensities") -> np.ndarray:
    """Profiles ``(n, 50)`` on 0-255 -> float32 network inputs (divided by 255)."""
    x = np.asarray(intensities, dtype=np.float32)
    if x.ndim != 2 or x.shape[1] != N_SAMPLES:
        raise fail(where, f"expected an array of shape (n_vertices, {N_SAMPLES}), found {x.shape}")
    if not np.all(np.isfinite(x)):
        raise fail(where, "profiles hold NaN or infinite intensities")
    return x / np.float32(MAX_INTENSITY)


def boundaries_from_output(output: np.ndarray) -> np.ndarray:
    """Network outputs ``(n, 6)`` (boundaries / 50) -> 1-based sample indices, clipped to 1..50."""
    return np.clip(np.rint(np.asarray(output, float) * N_SAMPLES), 1, N_SAMPLES).astype(np.int16)


def predict_boundaries(intensities: np.ndarray, predictor: Predictor, *, batch_size: int = 65536,
                       device: str = "cpu") -> np.ndarray:
    """Boundaries of profiles by any predictor.

    Parameters
    ----------
    intensities : ndarray of shape (n_vertices, 50)
        Profiles on 0-255, skin side first.
    predictor : callable
        ``(B, 50)`` float tensor (intensities / 255) -> ``(B, 6)`` tensor (boundaries / 50); a
        :class:`~bma_genetics.calvarial.networks.ProfileNet` in eval mode, or any function.
    batch_size : int, default=65536
    device : str, default="cpu"

    Returns
    -------
    ndarray of shape (n_vertices, 6), int16
        1-based sample indices (``outer_table_first, outer_table_last, marrow_first,
        marrow_last, inner_table_first, inner_table_last``).
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise fail("predict_boundaries/batch_size", f"expected an integer >= 1, found {batch_size!r}")
    x = normalise_profiles(intensities, where="predict_boundaries/intensities")
    outs = []
    with torch.no_grad():
        for lo in range(0, len(x), batch_size):
            y = predictor(torch.from_numpy(x[lo:lo + batch_size]).to(device))
            outs.append(y.detach().float().cpu().numpy())
    out = np.concatenate(outs) if outs else np.zeros((0, 6), np.float32)
    if out.ndim != 2 or out.shape[1] != 6:
        raise fail("predict_boundaries/predictor", f"expected outputs of shape (B, 6), found {out.shape}")
    return boundaries_from_output(out)


def _segment_stats(x: np.ndarray, first: np.ndarray, last: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, SD (n-1; 0 for one sample) and count of ``x[i, first-1 .. last-1]`` per row; NaN when empty."""
    n, k = x.shape
    c1 = np.concatenate([np.zeros((n, 1)), np.cumsum(x, axis=1, dtype=np.float64)], axis=1)
    c2 = np.concatenate([np.zeros((n, 1)), np.cumsum(np.asarray(x, np.float64) ** 2, axis=1)], axis=1)
    a = np.clip(first.astype(np.int64) - 1, 0, k)
    b = np.clip(last.astype(np.int64), 0, k)
    cnt = np.maximum(b - a, 0)
    rows = np.arange(n)
    s1 = c1[rows, b] - c1[rows, a]
    s2 = c2[rows, b] - c2[rows, a]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(cnt > 0, s1 / cnt, np.nan)
        var = np.where(cnt > 1, (s2 - cnt * mean ** 2) / (cnt - 1), 0.0)
    sd = np.where(cnt > 0, np.sqrt(np.maximum(var, 0)), np.nan)
    return mean, sd, cnt


def layer_statistics(intensities: np.ndarray, boundaries: np.ndarray) -> dict[str, np.ndarray]:
    """Per-vertex statistics of the predicted layers (the study's ``computeAuxiliaryFiles.r``).

    Returns
    -------
    dict of str to ndarray of shape (n_vertices,)
        ``ob_mean, bm_mean, ib_mean, all_mean`` (intensity means of the outer table, marrow,
        inner table, whole profile), ``ob_sd, bm_sd, ib_sd``, ``ob_thick, bm_thick, ib_thick``
        (samples), ``bm_first`` (sample index), ``all_sum``. A layer whose predicted last sample
        precedes its first is empty: its mean is NaN.
    """
    x = np.asarray(intensities, np.float64)
    b = np.asarray(boundaries)
    if x.ndim != 2 or b.shape != (x.shape[0], 6):
        raise fail("layer_statistics/boundaries", f"expected (n, 6) boundaries for {x.shape[0]} profiles, "
                                                   f"found {b.shape}")
    out: dict[str, np.ndarray] = {}
    for name, (i, j) in {"ob": (0, 1), "bm": (2, 3), "ib": (4, 5)}.items():
        m, s, c = _segment_stats(x, b[:, i], b[:, j])
        out[f"{name}_mean"], out[f"{name}_sd"], out[f"{name}_thick"] = m, s, c
    out["bm_first"] = b[:, 2].astype(np.float64)
    out["all_mean"] = x.mean(axis=1)
    out["all_sum"] = x.sum(axis=1)
    return out


@dataclass
class ProfileModel:
    """A trained profile network with its metadata (held-out accuracy, training settings).

    Attributes
    ----------
    network : ProfileNet
        In eval mode.
    meta : dict
        ``network`` (architecture), ``training`` (settings, history), ``held_out`` (boundary
        MAE in mm, marrow overlap), ``sha256`` of the checkpoint file when loaded from one.
    """

    network: ProfileNet
    meta: dict[str, Any] = field(default_factory=dict)

    def predict(self, intensities: np.ndarray, *, batch_size: int = 65536) -> np.ndarray:
        """Boundaries ``(n, 6)`` of profiles ``(n, 50)`` (see :func:`predict_boundaries`)."""
        self.network.eval()
        return predict_boundaries(intensities, self.network, batch_size=batch_size)


def default_weights_path() -> Path:
    """The shipped profile network (trained on the study's simulation; ``scripts`` below)."""
    return Path(__file__).resolve().parents[1] / "data" / "models" / "calvarial_profile_net.pt"


def load_profile_model(path: str | Path | None = None) -> ProfileModel:
    """Load a profile-network checkpoint written by :func:`bma_genetics.calvarial.training.save_profile_checkpoint`.

    Parameters
    ----------
    path : path, optional
        Checkpoint; default the shipped one (:func:`default_weights_path`).
    """
    from bma_genetics._atomic import sha256_file

    p = Path(path) if path is not None else default_weights_path()
    if not p.is_file():
        raise InputError(f"load_profile_model/path: no checkpoint at {p}; train one with "
                         "bma_genetics.calvarial.api.run_profile_training(out=...)")
    try:
        ckpt = torch.load(p, map_location="cpu", weights_only=True)
        meta = json.loads(ckpt["meta"])
        net = build_profile_net(meta["network"])
        net.load_state_dict(ckpt["state_dict"])
    except (KeyError, RuntimeError, ValueError, OSError) as exc:
        raise InputError(f"load_profile_model/path: {p} is not a profile-network checkpoint ({exc})") from None
    net.eval()
    meta["sha256"] = sha256_file(p)
    meta["path"] = str(p)
    return ProfileModel(net, meta)

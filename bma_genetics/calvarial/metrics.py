"""Accuracy of predicted boundaries against simulated truth (Kaufmann 2024, Figure 1b)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bma_genetics._check import fail
from bma_genetics.calvarial.profiles import BOUNDARIES, SAMPLE_MM


def _check(pred: np.ndarray, true: np.ndarray, where: str) -> tuple[np.ndarray, np.ndarray]:
    p, t = np.asarray(pred, float), np.asarray(true, float)
    if p.shape != t.shape or p.ndim != 2 or p.shape[1] != 6:
        raise fail(where, f"expected two (n, 6) arrays of boundaries, found {p.shape} and {t.shape}")
    return p, t


def boundary_mae_mm(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """Mean absolute error of each boundary in mm (sample indices x 0.5 mm), shape ``(6,)``."""
    p, t = _check(pred, true, "boundary_mae_mm/pred")
    return np.abs(p - t).mean(axis=0) * SAMPLE_MM


def marrow_overlap(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """Per profile: marrow samples shared by prediction and truth over the larger of the two
    marrow sample counts (1 = the same samples, 0 = disjoint). The study's training metric
    (``overlap_metric``) counted ``last - first`` instead of the samples in between; with
    inclusive indices this one is 1 for an exact prediction."""
    p, t = _check(pred, true, "marrow_overlap/pred")
    shared = np.maximum(0.0, np.minimum(p[:, 3], t[:, 3]) - np.maximum(p[:, 2], t[:, 2]) + 1)
    longest = np.maximum(np.maximum(p[:, 3] - p[:, 2] + 1, t[:, 3] - t[:, 2] + 1), 1)
    return shared / longest


def accuracy_table(pred: np.ndarray, true: np.ndarray, marrow_ratio: np.ndarray | None = None,
                   group: np.ndarray | None = None) -> pd.DataFrame:
    """Accuracy per group (or overall): ``n, mae_mm`` (mean over the six boundaries),
    ``mae_<boundary>_mm`` each, ``marrow_overlap`` (mean), ``exact_marrow`` (share with both
    marrow boundaries right) and, with ``marrow_ratio``, ``marrow_intensity_ratio`` (median of
    predicted / true marrow mean intensity)."""
    p, t = _check(pred, true, "accuracy_table/pred")
    g = np.zeros(len(p), int) if group is None else np.asarray(group)
    rows = []
    for key in np.unique(g):
        m = g == key
        mae = boundary_mae_mm(p[m], t[m])
        row = {"group": key, "n": int(m.sum()), "mae_mm": float(mae.mean()),
               **{f"mae_{b}_mm": float(v) for b, v in zip(BOUNDARIES, mae, strict=True)},
               "marrow_overlap": float(marrow_overlap(p[m], t[m]).mean()),
               "exact_marrow": float(np.mean((p[m, 2] == t[m, 2]) & (p[m, 3] == t[m, 3])))}
        if marrow_ratio is not None:
            row["marrow_intensity_ratio"] = float(np.nanmedian(np.asarray(marrow_ratio)[m]))
        rows.append(row)
    return pd.DataFrame(rows)

"""How well a score predicts an outcome: R^2 (continuous) and AUC (binary)."""

from __future__ import annotations

import numpy as np
from scipy import stats


def r2_score(score: np.ndarray, outcome: np.ndarray) -> float:
    """Squared Pearson correlation of score and outcome (NaN pairs left out; NaN if constant)."""
    x, y = np.asarray(score, float), np.asarray(outcome, float)
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3 or np.std(x[ok]) == 0 or np.std(y[ok]) == 0:
        return float("nan")
    return float(np.corrcoef(x[ok], y[ok])[0, 1] ** 2)


def auc_score(score: np.ndarray, case: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U / (n_cases n_controls), ties counted 1/2)."""
    x = np.asarray(score, float)
    c = np.asarray(case)
    ok = np.isfinite(x) & ~np.isnan(np.asarray(c, float))
    x, c = x[ok], c[ok].astype(bool)
    n1, n0 = int(c.sum()), int((~c).sum())
    if n1 == 0 or n0 == 0:
        return float("nan")
    ranks = stats.rankdata(x)
    return float((ranks[c].sum() - n1 * (n1 + 1) / 2.0) / (n1 * n0))

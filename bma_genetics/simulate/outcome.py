"""The outcome GWAS for two-sample MR: per-variant logistic regression on an independent sample.

Model
-----
In the outcome sample (simulated in the same coalescent runs as the cohort, never written),
osteoporosis status is ``Bernoulli(sigmoid(a + gamma z))`` with ``z`` the (unobserved)
femoral-head BMFF on the latent scale in population-SD units and ``gamma`` the causal
log-odds per SD (``truth/mr_truth.json``); ``a`` is set for a target case fraction.

Association: for each variant, ``logit P(y = 1) = b0 + b1 x`` with ``x`` the ALT count, fitted
by Newton-Raphson to convergence. With hard-call genotypes and no covariates the likelihood
depends on the data only through the 2 x 3 table of (case status, genotype), so the Newton
iterations run on six counts per variant, vectorised over variants, and give exactly the
maximum-likelihood estimate of a full per-person fit (tested against statsmodels).
"""

from __future__ import annotations

import numpy as np
from scipy import special


def genotype_tables(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Counts of genotypes 0/1/2 among all and among cases.

    Parameters
    ----------
    x : ndarray of shape (n_variants, n_samples), int8 (0, 1, 2)
    y : ndarray of shape (n_samples,), 0/1

    Returns
    -------
    total, cases : ndarray of shape (n_variants, 3), float64
    """
    yf = y.astype(np.float32)
    n = x.shape[1]
    het = (x == 1).astype(np.float32)
    hom = (x == 2).astype(np.float32)
    t1, t2 = het.sum(axis=1, dtype=np.float64), hom.sum(axis=1, dtype=np.float64)
    c1, c2 = (het @ yf).astype(np.float64), (hom @ yf).astype(np.float64)
    ncase = float(yf.sum())
    total = np.stack([n - t1 - t2, t1, t2], axis=1)
    cases = np.stack([ncase - c1 - c2, c1, c2], axis=1)
    return total, cases


def logistic_from_tables(total: np.ndarray, cases: np.ndarray, *, max_iter: int = 50, tol: float = 1e-10):
    """Newton-Raphson for ``logit p = b0 + b1 g`` on grouped data (g = 0, 1, 2), per variant.

    Returns
    -------
    beta, standard_error, converged : ndarray of shape (n_variants,)
        NaN beta and standard error where the fit did not converge (monomorphic variant,
        complete separation).
    """
    g = np.array([0.0, 1.0, 2.0])
    v = total.shape[0]
    pbar = cases.sum(axis=1) / total.sum(axis=1)
    b0 = special.logit(np.clip(pbar, 1e-12, 1 - 1e-12))
    b1 = np.zeros(v)
    converged = np.zeros(v, dtype=bool)
    h00 = h01 = h11 = None
    for _ in range(max_iter):
        mu = special.expit(b0[:, None] + b1[:, None] * g)
        w = total * mu * (1 - mu)
        r = cases - total * mu
        g0, g1 = r.sum(axis=1), (r * g).sum(axis=1)
        h00, h01, h11 = w.sum(axis=1), (w * g).sum(axis=1), (w * g * g).sum(axis=1)
        det = h00 * h11 - h01**2
        with np.errstate(divide="ignore", invalid="ignore"):
            d0 = (h11 * g0 - h01 * g1) / det
            d1 = (h00 * g1 - h01 * g0) / det
        # a singular information matrix (monomorphic variant) or separation: stop that variant
        bad = ~np.isfinite(d0) | ~np.isfinite(d1)
        d0, d1 = np.where(bad, 0.0, np.clip(d0, -5, 5)), np.where(bad, 0.0, np.clip(d1, -5, 5))
        b0 = b0 + d0
        b1 = b1 + d1
        converged = (np.abs(d1) < tol) & (np.abs(d0) < tol)
        if converged.all():
            break
    mu = special.expit(b0[:, None] + b1[:, None] * g)
    w = total * mu * (1 - mu)
    h00, h01, h11 = w.sum(axis=1), (w * g).sum(axis=1), (w * g * g).sum(axis=1)
    det = h00 * h11 - h01**2
    with np.errstate(divide="ignore", invalid="ignore"):
        se = np.sqrt(h00 / det)
    ok = converged & np.isfinite(se) & (np.abs(b1) < 15)
    return np.where(ok, b1, np.nan), np.where(ok, se, np.nan), ok

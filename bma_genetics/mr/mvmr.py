"""Multivariable Mendelian randomisation: instruments of several exposures, IVW-MVMR, MVMR-Egger,
conditional F-statistics and Sanderson's Q.

The direct effect of each of K exposures on the outcome, from the SNP effects on every exposure
at the union of the exposures' instruments (Burgess and Thompson 2015; Sanderson et al. 2019,
2021). Vocabulary as the univariable MR (``beta_exposure``, ``standard_error_outcome``, ``nsnp``).

========================  ==========================================================================
function                  matches
========================  ==========================================================================
:func:`mvmr_ivw`          MendelianRandomization ``mr_mvivw`` (``model = "random"``,
                          ``distribution = "normal"``); TwoSampleMR ``mv_multiple`` when the
                          residual SE is at least 1 (``mv_multiple`` scales the SE by the residual
                          SE also below 1); MVMR ``ivw_mvmr`` likewise
:func:`mvmr_egger`        MendelianRandomization ``mr_mvegger`` (``orientate``, normal or t)
:func:`mvmr_conditional_f`  MVMR ``strength_mvmr`` (``gencov = 0``)
:func:`mvmr_q`            MVMR ``pleiotropy_mvmr`` (``gencov = 0``)
:func:`mvmr_qhet`         MVMR ``qhet_mvmr`` (weak-instrument-robust Q_A minimiser; ``pcor``),
                          with a jackknife SE over SNPs instead of the package's bootstrap
:func:`mvmr_instruments`  TwoSampleMR ``mv_extract_exposures``: the union of each exposure's clumped
                          instruments, clumped again (best P of any exposure), each exposure's
                          effect at every instrument
========================  ==========================================================================
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from bma_genetics._check import check_one_of, fail
from bma_genetics._result import StageResult
from bma_genetics.errors import InputError
from bma_genetics.mr.harmonise import harmonise
from bma_genetics.mr.instruments import select_instruments
from bma_genetics.mr.methods import MRParameters, mr_ivw
from bma_genetics.stats import wald_p

log = logging.getLogger(__name__)

#: Columns of the MVMR results table (``mvmr_results.tsv``; io MR table ``"mvmr"``).
MVMR_COLUMNS: tuple[str, ...] = (
    "exposure", "outcome", "method", "nsnp", "beta", "standard_error", "ci_lower", "ci_upper", "p_value",
    "conditional_f", "q", "q_df", "q_p_value", "egger_intercept", "egger_intercept_standard_error",
    "egger_intercept_p_value",
)

_NAN = float("nan")


@dataclass(frozen=True)
class MVMREstimate:
    """One multivariable fit: a direct effect per exposure.

    Attributes
    ----------
    method : str
        ``mvmr_ivw``, ``mvmr_egger`` or ``mvmr_qhet``.
    exposures : tuple of str
    nsnp : int
    beta, standard_error, ci_lower, ci_upper, p_value : tuple of float
        Per exposure, in the order of ``exposures``.
    residual_standard_error : float
        Residual SE of the weighted regression (the multiplicative random-effects factor when > 1).
    q, q_df, q_p_value : float
        Cochran's Q of the fit: (nsnp - K) sigma^2 for IVW, (nsnp - K - 1) sigma^2 for Egger
        (MendelianRandomization's ``Heter.Stat``).
    egger_intercept, egger_intercept_standard_error, egger_intercept_p_value : float
        MVMR-Egger's intercept and its test (NaN for IVW).
    orientate : int or None
        MVMR-Egger: index of the exposure whose effects were made positive.
    """

    method: str
    exposures: tuple[str, ...]
    nsnp: int
    beta: tuple[float, ...]
    standard_error: tuple[float, ...]
    ci_lower: tuple[float, ...]
    ci_upper: tuple[float, ...]
    p_value: tuple[float, ...]
    residual_standard_error: float = _NAN
    q: float = _NAN
    q_df: float = _NAN
    q_p_value: float = _NAN
    egger_intercept: float = _NAN
    egger_intercept_standard_error: float = _NAN
    egger_intercept_p_value: float = _NAN
    orientate: int | None = None

    def rows(self) -> list[dict[str, Any]]:
        """One row per exposure (the MVMR-results columns, less ``outcome`` and ``conditional_f``)."""
        return [{"exposure": e, "method": self.method, "nsnp": self.nsnp, "beta": self.beta[k],
                 "standard_error": self.standard_error[k], "ci_lower": self.ci_lower[k],
                 "ci_upper": self.ci_upper[k], "p_value": self.p_value[k], "q": self.q, "q_df": self.q_df,
                 "q_p_value": self.q_p_value, "egger_intercept": self.egger_intercept,
                 "egger_intercept_standard_error": self.egger_intercept_standard_error,
                 "egger_intercept_p_value": self.egger_intercept_p_value} for k, e in enumerate(self.exposures)]


def _mv_arrays(b_exp, b_out, se_exp, se_out, where: str) -> tuple[np.ndarray, ...]:
    bx = np.asarray(b_exp, dtype=float)
    sx = np.asarray(se_exp, dtype=float)
    by = np.asarray(b_out, dtype=float).ravel()
    sy = np.asarray(se_out, dtype=float).ravel()
    if bx.ndim != 2 or sx.shape != bx.shape or by.shape != (bx.shape[0],) or sy.shape != by.shape:
        raise fail(where, f"expected b_exp and se_exp of shape (n_snp, n_exposure) and b_out, se_out of shape "
                          f"(n_snp,); found {bx.shape}, {sx.shape}, {by.shape}, {sy.shape}")
    ok = np.isfinite(bx).all(axis=1) & np.isfinite(sx).all(axis=1) & np.isfinite(by) & np.isfinite(sy) & (sy > 0)
    return bx[ok], by[ok], sx[ok], sy[ok]


def _names(exposures: Sequence[str] | None, k: int) -> tuple[str, ...]:
    if exposures is None:
        return tuple(f"exposure{i + 1}" for i in range(k))
    if len(exposures) != k:
        raise fail("mvmr/exposures", f"{len(exposures)} names for {k} exposures")
    return tuple(str(e) for e in exposures)


def _na(method: str, names: tuple[str, ...], n: int) -> MVMREstimate:
    nan = (_NAN,) * len(names)
    return MVMREstimate(method=method, exposures=names, nsnp=n, beta=nan, standard_error=nan, ci_lower=nan,
                        ci_upper=nan, p_value=nan)


def _wls(X: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, int]:
    """Weighted least squares: coefficients, unscaled SEs, residual sigma^2, residual df."""
    xtwx_inv = np.linalg.inv(X.T @ (X * w[:, None]))
    coef = xtwx_inv @ (X.T @ (w * y))
    df = len(y) - X.shape[1]
    sigma2 = float(np.sum(w * (y - X @ coef) ** 2) / df)
    return coef, np.sqrt(np.diag(xtwx_inv)), sigma2, df


def _intervals(b: np.ndarray, se: np.ndarray, df: int, params: MRParameters, t: bool):
    if t:
        crit = stats.t.ppf(1 - params.alpha / 2, df)
        p = 2 * stats.t.sf(np.abs(b / se), df)
    else:
        crit = stats.norm.ppf(1 - params.alpha / 2)
        p = wald_p(b, se)
    return b - crit * se, b + crit * se, np.asarray(p, float)


def mvmr_ivw(b_exp, b_out, se_exp, se_out, params: MRParameters = MRParameters(), *,
             exposures: Sequence[str] | None = None) -> MVMREstimate:
    """IVW multivariable MR: weighted regression of ``b_out`` on the K columns of ``b_exp``
    without an intercept, weights ``se_out^-2``.

    SEs are multiplicative random effects: the fixed-effect SEs times max(1, residual SE)
    (MendelianRandomization ``mr_mvivw(model = "random")``: lm SE / min(sigma, 1)); CIs and P
    from the normal distribution. TwoSampleMR ``mv_multiple`` and MVMR ``ivw_mvmr`` report the
    lm SE (fixed-effect SE x residual SE), the same whenever the residual SE is at least 1.
    Cochran's Q = (n - K) sigma^2 on n - K df.

    Parameters
    ----------
    b_exp, se_exp : array of shape (n_snp, n_exposure)
    b_out, se_out : array of shape (n_snp,)
    params : MRParameters, optional
        ``alpha``.
    exposures : list of str, optional
        Names of the columns of ``b_exp``.

    Returns
    -------
    MVMREstimate
        NaN estimates when there are not more SNPs than exposures.
    """
    bx, by, _sx, sy = _mv_arrays(b_exp, b_out, se_exp, se_out, "mvmr_ivw/b_exp")
    names = _names(exposures, bx.shape[1])
    n, k = bx.shape
    if n <= k:
        return _na("mvmr_ivw", names, n)
    coef, s0, sigma2, df = _wls(bx, by, 1.0 / sy**2)
    rse = float(np.sqrt(sigma2))
    se = s0 * max(1.0, rse)
    lo, hi, p = _intervals(coef, se, df, params, t=False)
    q = sigma2 * df
    return MVMREstimate(method="mvmr_ivw", exposures=names, nsnp=n, beta=tuple(map(float, coef)),
                        standard_error=tuple(map(float, se)), ci_lower=tuple(map(float, lo)),
                        ci_upper=tuple(map(float, hi)), p_value=tuple(map(float, p)), residual_standard_error=rse,
                        q=float(q), q_df=float(df), q_p_value=float(stats.chi2.sf(q, df)))


def mvmr_egger(b_exp, b_out, se_exp, se_out, params: MRParameters = MRParameters(), *,
               exposures: Sequence[str] | None = None, orientate: int = 0) -> MVMREstimate:
    """MVMR-Egger (Rees et al. 2017): the IVW regression with an intercept.

    SNPs are first oriented so that the effects on exposure ``orientate`` (0-based; R's
    ``orientate = 1``) are positive, the other exposures' and the outcome's effects changing
    sign with them, as MendelianRandomization ``mr_mvegger`` does; the intercept is the
    average pleiotropic effect and depends on that choice. SEs x max(1, residual SE); tests
    and CIs from ``params.egger_distribution`` (``"t"`` with n - K - 1 df, or ``"normal"``,
    MendelianRandomization's default). Cochran's Q = (n - K - 1) sigma^2.
    """
    bx, by, _sx, sy = _mv_arrays(b_exp, b_out, se_exp, se_out, "mvmr_egger/b_exp")
    names = _names(exposures, bx.shape[1])
    n, k = bx.shape
    if not 0 <= orientate < k:
        raise fail("mvmr_egger/orientate", f"expected an exposure index in 0..{k - 1}, found {orientate!r}")
    if n <= k + 1:
        return _na("mvmr_egger", names, n)
    sign = np.where(bx[:, orientate] < 0, -1.0, 1.0)
    X = np.column_stack([np.ones(n), bx * sign[:, None]])
    coef, s0, sigma2, df = _wls(X, by * sign, 1.0 / sy**2)
    rse = float(np.sqrt(sigma2))
    se = s0 * max(1.0, rse)
    lo, hi, p = _intervals(coef, se, df, params, t=params.egger_distribution == "t")
    q = sigma2 * df
    return MVMREstimate(method="mvmr_egger", exposures=names, nsnp=n, beta=tuple(map(float, coef[1:])),
                        standard_error=tuple(map(float, se[1:])), ci_lower=tuple(map(float, lo[1:])),
                        ci_upper=tuple(map(float, hi[1:])), p_value=tuple(map(float, p[1:])),
                        residual_standard_error=rse, q=float(q), q_df=float(df), q_p_value=float(stats.chi2.sf(q, df)),
                        egger_intercept=float(coef[0]), egger_intercept_standard_error=float(se[0]),
                        egger_intercept_p_value=float(p[0]), orientate=int(orientate))


def mvmr_conditional_f(b_exp, se_exp) -> np.ndarray:
    """Conditional F-statistic of each exposure's instruments (Sanderson et al. 2019, 2021).

    For exposure j: delta = the least-squares regression (unweighted, no intercept) of
    ``b_exp[:, j]`` on the other exposures' effects; ``sigma2_i = se_ij^2 + sum_k delta_k^2
    se_ik^2`` (SNP effects on the exposures uncorrelated: separate or non-overlapping samples,
    ``gencov = 0``); Q_j = sum_i (b_ij - b_i,-j delta)^2 / sigma2_i; F_j = Q_j / n_snp, as the
    MVMR package's ``strength_mvmr`` computes it. F_j < 10 flags instruments that are weak
    for exposure j given the others.

    Parameters
    ----------
    b_exp, se_exp : array of shape (n_snp, n_exposure)

    Returns
    -------
    ndarray of shape (n_exposure,)
    """
    bx = np.asarray(b_exp, dtype=float)
    sx = np.asarray(se_exp, dtype=float)
    if bx.ndim != 2 or sx.shape != bx.shape or bx.shape[1] < 2:
        raise fail("mvmr_conditional_f/b_exp", f"expected two arrays of shape (n_snp, n_exposure >= 2), found "
                                               f"{bx.shape} and {sx.shape}")
    n, k = bx.shape
    out = np.empty(k)
    for j in range(k):
        other = [i for i in range(k) if i != j]
        delta, *_ = np.linalg.lstsq(bx[:, other], bx[:, j], rcond=None)
        s2 = sx[:, j] ** 2 + np.sum(delta**2 * sx[:, other] ** 2, axis=1)
        out[j] = np.sum((bx[:, j] - bx[:, other] @ delta) ** 2 / s2) / n
    return out


def mvmr_q(b_exp, b_out, se_exp, se_out, beta) -> tuple[float, int, float]:
    """Sanderson's Q for instrument validity (horizontal pleiotropy) in MVMR.

    ``Q = sum_i (b_out_i - b_exp_i . beta)^2 / (se_out_i^2 + sum_k beta_k^2 se_exp_ik^2)`` with
    ``beta`` the IVW-MVMR estimates, on n - K - 1 df (the MVMR package's ``pleiotropy_mvmr``,
    ``gencov = 0``: it counts the degrees of freedom so).

    Returns
    -------
    tuple of (float, int, float)
        Q, its degrees of freedom and P.
    """
    bx, by, sx, sy = _mv_arrays(b_exp, b_out, se_exp, se_out, "mvmr_q/b_exp")
    beta = np.asarray(beta, dtype=float)
    if beta.shape != (bx.shape[1],):
        raise fail("mvmr_q/beta", f"expected {bx.shape[1]} effects, found shape {beta.shape}")
    s2 = sy**2 + np.sum(beta**2 * sx**2, axis=1)
    q = float(np.sum((by - bx @ beta) ** 2 / s2))
    df = bx.shape[0] - bx.shape[1] - 1
    return q, int(df), float(stats.chi2.sf(q, df)) if df > 0 else _NAN


def _exposure_correlation(pcor, k: int, where: str) -> np.ndarray:
    """The K x K correlation of the exposures' SNP-effect errors (identity when None)."""
    if pcor is None:
        return np.eye(k)
    p = np.atleast_1d(np.asarray(pcor, dtype=float))
    if p.ndim == 1 and k >= 2 and p.shape == (k * (k - 1) // 2,):  # the upper triangle, row by row
        full = np.eye(k)
        full[np.triu_indices(k, 1)] = p
        p = np.triu(full) + np.triu(full, 1).T
    if p.shape != (k, k):
        raise fail(where, f"expected a {k} x {k} correlation matrix (or its {k * (k - 1) // 2} upper-triangle "
                          f"values), found shape {np.shape(pcor)}")
    if not np.isfinite(p).all() or not np.allclose(p, p.T) or not np.allclose(np.diag(p), 1.0):
        raise fail(where, "expected a finite symmetric correlation matrix with ones on the diagonal, found "
                          f"{p.tolist()}")
    if np.abs(p).max() > 1 or np.linalg.eigvalsh(p).min() < -1e-10:
        raise fail(where, f"not a correlation matrix (entries beyond +-1 or not positive semidefinite): {p.tolist()}")
    return p


def _qa_parts(bx: np.ndarray, by: np.ndarray, sx: np.ndarray, sy: np.ndarray, p: np.ndarray):
    """Closures of Q_A(beta) and its gradient; Sigma_j = D_j P D_j with D_j = diag(se_exp_j)."""
    cov = p[None, :, :] * sx[:, :, None] * sx[:, None, :]

    def value_grad(beta: np.ndarray) -> tuple[float, np.ndarray]:
        r = by - bx @ beta
        sb = cov @ beta
        w = sy**2 + sb @ beta
        q = float(np.sum(r**2 / w))
        g = -2.0 * (bx.T @ (r / w)) - 2.0 * (sb.T @ (r**2 / w**2))
        return q, g

    return value_grad


def mvmr_qhet_objective(b_exp, b_out, se_exp, se_out, beta, *, pcor=None) -> float:
    """Q_A(beta) of Sanderson, Spiller and Bowden (2021), the objective of :func:`mvmr_qhet`.

    ``Q_A = sum_j (b_out_j - b_exp_j . beta)^2 / (se_out_j^2 + beta' Sigma_j beta)`` with
    ``Sigma_j = D_j P D_j``, ``D_j = diag(se_exp_j)`` and ``P`` the exposures' correlation
    (``pcor``; identity: exposure GWAS in independent samples).

    Parameters
    ----------
    b_exp, se_exp : array of shape (n_snp, n_exposure)
    b_out, se_out : array of shape (n_snp,)
    beta : array of shape (n_exposure,)
    pcor : array, optional
        K x K correlation matrix, or its upper triangle row by row (one value for two exposures).

    Returns
    -------
    float
    """
    bx, by, sx, sy = _mv_arrays(b_exp, b_out, se_exp, se_out, "mvmr_qhet_objective/b_exp")
    beta = np.asarray(beta, dtype=float)
    if beta.shape != (bx.shape[1],) or not np.isfinite(beta).all():
        raise fail("mvmr_qhet_objective/beta", f"expected {bx.shape[1]} finite effects, found {beta.tolist()}")
    p = _exposure_correlation(pcor, bx.shape[1], "mvmr_qhet_objective/pcor")
    return _qa_parts(bx, by, sx, sy, p)(beta)[0]


def _qhet_fit(bx, by, sx, sy, p, start: np.ndarray, scale: np.ndarray) -> tuple[np.ndarray, float, bool]:
    """argmin Q_A by BFGS on beta = start + scale * u (u of order one: exposures on any scale)."""
    from scipy.optimize import minimize

    value_grad = _qa_parts(bx, by, sx, sy, p)

    def f(u):
        q, g = value_grad(start + scale * u)
        return q, g * scale

    res = minimize(f, np.zeros(len(start)), jac=True, method="BFGS", options={"gtol": 1e-9, "maxiter": 500})
    beta = start + scale * res.x
    ok = bool(res.success) or float(np.max(np.abs(res.jac))) < 1e-6
    return beta, float(res.fun), ok


_QHET_JACKKNIFE_MAX_FAILED = 0.1
"""Largest share of the delete-one refits of :func:`mvmr_qhet` that may fail to converge (they are
left out of the jackknife); beyond it the standard errors are NaN."""


def mvmr_qhet(b_exp, b_out, se_exp, se_out, params: MRParameters = MRParameters(), *,
              exposures: Sequence[str] | None = None, pcor=None) -> MVMREstimate:
    """Weak-instrument-robust MVMR: the direct effects that minimise Sanderson's Q_A (Sanderson,
    Spiller and Bowden 2021, Stat Med 40:5434; the MVMR package's ``qhet_mvmr``).

    Model: ``b_out_j = sum_k beta_k gamma_kj + e_j``, with the SNP effects on the exposures
    measured with error (covariance ``Sigma_j``). IVW-MVMR treats ``b_exp`` as exact, so
    instruments weak for an exposure given the others (conditional F < 10) dilute that exposure's
    estimate (regression dilution). Minimising

    ``Q_A(beta) = sum_j (b_out_j - b_exp_j . beta)^2 / (se_out_j^2 + beta' Sigma_j beta)``

    accounts for that error (a LIML-like estimator; :func:`mvmr_qhet_objective`), with
    ``Sigma_j = D_j P D_j``, ``D_j = diag(se_exp_j)``: ``P`` the identity when the exposure GWAS
    are in independent samples, else the exposures' phenotypic correlation (``pcor``, as the
    package takes it). The minimisation (scipy BFGS, analytic gradient) starts from the IVW-MVMR
    estimate; with ``Sigma_j = 0`` it is IVW-MVMR exactly. Unlike the package's newest version no
    additive heterogeneity ``tau^2`` is fitted (balanced pleiotropy widens the jackknife SE).

    SEs: delete-one jackknife over SNPs, ``sqrt((n-1)/n sum_i (beta_(-i) - mean)^2)``; CIs and P
    from the normal distribution (the package offers a non-parametric BCa bootstrap over SNPs,
    ``CI = TRUE``; the jackknife is deterministic and needs n fits rather than 1,000). Refits whose
    minimisation does not converge are counted, logged and left out of the jackknife (over its
    ``m`` converged refits); when more than 10 % fail the standard errors (CIs, P) are NaN.

    Parameters
    ----------
    b_exp, se_exp : array of shape (n_snp, n_exposure)
    b_out, se_out : array of shape (n_snp,)
    params : MRParameters, optional
        ``alpha``.
    exposures : list of str, optional
        Names of the columns of ``b_exp``.
    pcor : array, optional
        Correlation of the exposures' SNP-effect errors: a K x K correlation matrix or its upper
        triangle row by row (one value for two exposures). Default: independent (identity).

    Returns
    -------
    MVMREstimate
        ``method = "mvmr_qhet"``; ``beta`` the Q_A minimiser, jackknife ``standard_error``,
        ``ci_lower``/``ci_upper``/``p_value`` from it; ``q`` = min Q_A on ``q_df`` = n - K df and
        its chi-squared P (a test of instrument validity robust to weak instruments). NaN
        estimates with n <= K + 1 SNPs (the jackknife needs n - 1 > K).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(3)
    >>> g1, g2 = rng.normal(0, 0.05, 200), rng.normal(0, 0.05, 200)
    >>> g2 = g2 + 0.9 * g1                    # instruments of exposure 2 weak given exposure 1
    >>> se1, se2, sy = np.full(200, 0.01), np.full(200, 0.04), np.full(200, 0.01)
    >>> bx = np.column_stack([g1 + rng.normal(0, se1), g2 + rng.normal(0, se2)])
    >>> by = 0.5 * g1 + 1.0 * g2 + rng.normal(0, sy)
    >>> se = np.column_stack([se1, se2])
    >>> ivw = mvmr_ivw(bx, by, se, sy)
    >>> qhet = mvmr_qhet(bx, by, se, sy)
    >>> bool(abs(qhet.beta[1] - 1.0) < abs(ivw.beta[1] - 1.0))
    True
    """
    bx, by, sx, sy = _mv_arrays(b_exp, b_out, se_exp, se_out, "mvmr_qhet/b_exp")
    names = _names(exposures, bx.shape[1])
    n, k = bx.shape
    p = _exposure_correlation(pcor, k, "mvmr_qhet/pcor")
    if n <= k + 1:
        return _na("mvmr_qhet", names, n)
    coef0, s0, _sigma2, _df = _wls(bx, by, 1.0 / sy**2)
    beta, q, ok = _qhet_fit(bx, by, sx, sy, p, coef0, s0)
    if not ok:
        log.warning("mvmr_qhet: Q_A minimisation did not converge (%d SNPs); reporting NaN", n)
        return _na("mvmr_qhet", names, n)
    jack = np.empty((n, k))
    converged = np.ones(n, dtype=bool)
    keep = np.ones(n, dtype=bool)
    for i in range(n):
        keep[i] = False
        jack[i], _, converged[i] = _qhet_fit(bx[keep], by[keep], sx[keep], sy[keep], p, beta, s0)
        keep[i] = True
    failed = int(n - converged.sum())
    m = n - failed
    if failed > _QHET_JACKKNIFE_MAX_FAILED * n or m <= 1:
        log.warning("mvmr_qhet: %d of %d jackknife refits did not converge; standard errors reported as NaN",
                    failed, n)
        se = np.full(k, np.nan)
    else:
        if failed:
            log.warning("mvmr_qhet: %d of %d jackknife refits did not converge; the jackknife SE uses the other %d",
                        failed, n, m)
        ok_jack = jack[converged]
        se = np.sqrt((m - 1) / m * np.sum((ok_jack - ok_jack.mean(axis=0)) ** 2, axis=0))
    lo, hi, pv = _intervals(beta, se, n - k, params, t=False)
    df = n - k
    return MVMREstimate(method="mvmr_qhet", exposures=names, nsnp=n, beta=tuple(map(float, beta)),
                        standard_error=tuple(map(float, se)), ci_lower=tuple(map(float, lo)),
                        ci_upper=tuple(map(float, hi)), p_value=tuple(map(float, pv)), q=float(q), q_df=float(df),
                        q_p_value=float(stats.chi2.sf(q, df)))


# --------------------------------------------------------------------------------------------
# instruments and harmonisation

_CORE = ("rsid", "variant_id", "chromosome", "base_pair_location", "effect_allele", "other_allele", "beta",
         "standard_error", "p_value", "effect_allele_frequency", "n", "genome_build")


def mvmr_instruments(exposures: Mapping[str, pd.DataFrame], *, p_threshold: float = 5e-8, reader=None,
                     clump_r2: float = 0.001, clump_kb: float = 10_000) -> pd.DataFrame:
    """The instruments of a multivariable MR: the union of every exposure's instruments.

    As TwoSampleMR ``mv_extract_exposures``: each exposure's variants with P < ``p_threshold``
    are clumped (:func:`bma_genetics.mr.select_instruments`); the union, each variant with its
    smallest P over the exposures, is clumped again with the same settings, so that two
    exposures' instruments in LD count once. Without a ``reader`` nothing is clumped.

    Parameters
    ----------
    exposures : mapping of str to DataFrame
        Exposure name -> summary statistics (:func:`bma_genetics.io.read_sumstats`).
    p_threshold, clump_r2, clump_kb
        As :func:`select_instruments`.
    reader : GenotypeReader, optional
        LD source for clumping.

    Returns
    -------
    DataFrame
        One row per instrument (the summary-statistics columns of the exposure where it had its
        smallest P) plus ``instrument_for`` (the exposures that selected it or an instrument
        clumped to it, comma-separated).
        An exposure without any variant below ``p_threshold`` contributes none (logged).
    """
    if len(exposures) < 2:
        raise fail("mvmr_instruments/exposures", f"multivariable MR needs at least two exposures, found "
                                                 f"{list(exposures)}")
    parts = []
    for name, ss in exposures.items():
        try:
            ins = select_instruments(ss, p_threshold=p_threshold, reader=reader, clump_r2=clump_r2,
                                     clump_kb=clump_kb, source=name)
        except InputError as exc:  # no variant below the threshold: the others may still have some
            log.warning("mvmr_instruments: %s contributes no instrument: %s", name, exc)
            continue
        part = ins[[c for c in _CORE if c in ins]].copy()
        part["_from"] = name
        parts.append(part)
    if not parts:
        raise fail("mvmr_instruments/p_threshold", f"no exposure of {list(exposures)} has a variant with "
                                                   f"P < {p_threshold:g}; give a weaker threshold")
    union = pd.concat(parts, ignore_index=True)
    key = _site_key(union)
    sets = union.groupby(key.to_numpy())["_from"].agg(lambda s: ",".join(dict.fromkeys(s)))
    union = union.assign(_key=key.to_numpy()).sort_values("p_value", kind="stable").drop_duplicates("_key")
    union["instrument_for"] = union["_key"].map(sets)
    union = union.drop(columns=["_from", "_key"]).reset_index(drop=True)
    if reader is not None and len(union) > 1:
        from bma_genetics.ld import clump

        clumped = clump(union, reader, p1=p_threshold, p2=p_threshold, r2=clump_r2, window_kb=clump_kb)
        log.info("mvmr_instruments: %d instruments over %d exposures -> %d after clumping the union",
                 len(union), len(exposures), len(clumped))
        # an index variant stands for the exposures of every instrument clumped to it
        ids = _member_ids(union)
        by_id = dict(zip(ids, union["instrument_for"], strict=True))
        merged = []
        for own, members in zip(_member_ids(clumped), clumped["clump_members"].fillna(""), strict=True):
            names = [by_id.get(own, "")] + [by_id.get(m, "") for m in str(members).split(",") if m]
            merged.append(",".join(dict.fromkeys(n for x in names for n in x.split(",") if n)))
        union = clumped[[c for c in union.columns if c in clumped]].reset_index(drop=True)
        union["instrument_for"] = merged
    return union


def _member_ids(frame: pd.DataFrame) -> list[str]:
    """The ids :func:`bma_genetics.ld.clump` lists in ``clump_members``: ``variant_id``, else chr:pos."""
    if "variant_id" in frame:
        return frame["variant_id"].astype(str).tolist()
    return (frame["chromosome"].astype(str) + ":" + frame["base_pair_location"].astype(str)).tolist()


def _site_key(frame: pd.DataFrame) -> pd.Series:
    if {"chromosome", "base_pair_location"} <= set(frame.columns):
        return frame["chromosome"].astype(str).str.removeprefix("chr") + ":" + \
            pd.to_numeric(frame["base_pair_location"]).astype("Int64").astype(str)
    from bma_genetics.mr.harmonise import snp_keys

    return snp_keys(frame)[0]


def mvmr_harmonise(instruments: pd.DataFrame, exposures: Mapping[str, pd.DataFrame], outcome: pd.DataFrame, *,
                   outcome_name: str = "outcome", action: int = 2, tolerance: float = 0.08) -> pd.DataFrame:
    """Every exposure's and the outcome's effects at the instruments, on one effect allele.

    Each exposure's summary statistics and the outcome's are harmonised against the
    instruments' alleles (:func:`bma_genetics.mr.harmonise`, TwoSampleMR's rules and
    ``action``); a SNP is kept (``mr_keep``) only when every exposure and the outcome could be
    aligned (TwoSampleMR ``mv_harmonise_data`` keeps the SNPs present in all).

    Returns
    -------
    DataFrame
        Long: one row per instrument and exposure with the harmonised-table columns
        (``snp, exposure, outcome, beta_exposure, standard_error_exposure, p_value_exposure,
        beta_outcome, standard_error_outcome, ..., mr_keep, drop_reason``) plus
        ``instrument_for``.
    """
    check_one_of("mvmr_harmonise/action", action, [1, 2, 3])
    ins = instruments.reset_index(drop=True)
    oc = harmonise(ins, outcome, action=action, tolerance=tolerance, outcome_name=outcome_name)
    keep = oc["mr_keep"].astype(bool).to_numpy()
    reasons = np.where(keep, None, "outcome: " + oc["drop_reason"].fillna("").astype(str))
    rows = []
    for name, ss in exposures.items():
        h = harmonise(ins, ss, action=action, tolerance=tolerance, exposure_name=name, outcome_name=name)
        ok = h["mr_keep"].astype(bool).to_numpy()
        reasons = np.where(keep & ~ok, f"{name}: " + h["drop_reason"].fillna("").astype(str), reasons)
        keep &= ok
        side = pd.DataFrame({
            "snp": oc["snp"], "exposure": name, "outcome": oc["outcome"],
            "chromosome": oc["chromosome"], "base_pair_location": oc["base_pair_location"],
            "effect_allele_exposure": oc["effect_allele_exposure"], "other_allele_exposure": oc["other_allele_exposure"],
            "beta_exposure": h["beta_outcome"], "standard_error_exposure": h["standard_error_outcome"],
            "p_value_exposure": h["p_value_outcome"], "eaf_exposure": h["eaf_outcome"],
            "samplesize_exposure": h["samplesize_outcome"],
        })
        for c in ("beta_outcome", "standard_error_outcome", "p_value_outcome", "eaf_outcome", "samplesize_outcome",
                  "ncase_outcome", "ncontrol_outcome"):
            side[c] = oc[c]
        side["instrument_for"] = ins["instrument_for"].to_numpy() if "instrument_for" in ins else ""
        rows.append(side)
    out = pd.concat(rows, ignore_index=True)
    k = len(exposures)
    out["mr_keep"] = np.tile(keep, k)
    out["drop_reason"] = np.tile(reasons, k)
    return out


# --------------------------------------------------------------------------------------------
# the job


@dataclass
class MVMRResult(StageResult):
    """Result of :func:`run_mvmr`.

    Attributes
    ----------
    table : DataFrame
        :data:`MVMR_COLUMNS`: one row per exposure and method (``mvmr_ivw``, ``mvmr_egger``,
        ``mvmr_qhet``: Q-het, weak-instrument robust, :func:`mvmr_qhet`; and
        ``ivw``: each exposure's univariable IVW on the same SNPs, for comparison), with each
        exposure's ``conditional_f`` on the MVMR rows.
    fits : dict of str to MVMREstimate
    harmonised : DataFrame
        :func:`mvmr_harmonise` output.
    report : dict
        ``exposures``, ``outcome``, ``nsnp``, ``conditional_f`` (per exposure),
        ``weak_instruments`` (exposures with conditional F < 10), ``sanderson_q``
        (``q``, ``q_df``, ``q_p_value``), ``mvmr_ivw`` and ``mvmr_qhet`` (per exposure: beta,
        SE, CI, P).
    """

    fits: dict[str, MVMREstimate] = field(default_factory=dict)
    harmonised: pd.DataFrame | None = None


def _wide(h: pd.DataFrame) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]]:
    kept = h[h["mr_keep"].astype(bool)]
    names = list(dict.fromkeys(kept["exposure"].astype(str)))
    bx = kept.pivot(index="snp", columns="exposure", values="beta_exposure")
    snps = list(bx.index)
    sx = kept.pivot(index="snp", columns="exposure", values="standard_error_exposure").loc[snps, names]
    first = kept[kept["exposure"] == names[0]].set_index("snp").loc[snps]
    return (names, bx.loc[snps, names].to_numpy(float), first["beta_outcome"].to_numpy(float), sx.to_numpy(float),
            first["standard_error_outcome"].to_numpy(float), snps)


def run_mvmr(harmonised: pd.DataFrame, *, params: MRParameters | None = None, orientate: int = 0,
             pcor=None) -> MVMRResult:
    """IVW-MVMR, MVMR-Egger and Q-het MVMR, conditional F-statistics and Sanderson's Q on a
    harmonised table.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(1)
    >>> b1, b2 = rng.normal(0, 0.1, 60), rng.normal(0, 0.1, 60)
    >>> by = 0.5 * b1 - 0.3 * b2 + rng.normal(0, 0.005, 60)
    >>> h = pd.concat([pd.DataFrame({"snp": [f"rs{i}" for i in range(60)], "exposure": e, "outcome": "y",
    ...     "beta_exposure": b, "standard_error_exposure": 0.005, "beta_outcome": by,
    ...     "standard_error_outcome": 0.005, "mr_keep": True}) for e, b in (("x1", b1), ("x2", b2))])
    >>> res = run_mvmr(h)
    >>> [round(b, 1) for b in res.fits["mvmr_ivw"].beta]
    [0.5, -0.3]
    >>> res.to_frame()["method"].unique().tolist()
    ['mvmr_ivw', 'mvmr_egger', 'mvmr_qhet', 'ivw']

    Parameters
    ----------
    harmonised : DataFrame
        :func:`mvmr_harmonise` output (long: one row per SNP and exposure; only ``mr_keep``
        rows used).
    params : MRParameters, optional
        ``alpha``, ``egger_distribution`` (MVMR-Egger).
    orientate : int, default=0
        MVMR-Egger's orientation exposure (index into the exposures, in table order).
    pcor : array, optional
        Correlation of the exposures' SNP-effect errors for :func:`mvmr_qhet` (K x K, or its
        upper triangle; exposures in table order). Default: independent samples.

    Returns
    -------
    MVMRResult
    """
    params = params or MRParameters()
    need = ["snp", "exposure", "beta_exposure", "standard_error_exposure", "beta_outcome", "standard_error_outcome"]
    missing = [c for c in need if c not in harmonised]
    if missing:
        raise fail("run_mvmr/harmonised", f"the harmonised table lacks column(s) {missing}")
    h = harmonised.copy()
    if "mr_keep" not in h:
        h["mr_keep"] = True
    if "outcome" not in h:
        h["outcome"] = "outcome"
    names, bx, by, sx, sy, snps = _wide(h)
    if len(names) < 2:
        raise fail("run_mvmr/harmonised", f"multivariable MR needs two or more exposures; the table has {names}")
    if len(snps) <= len(names) + 1:
        raise fail("run_mvmr/harmonised", f"{len(snps)} SNP(s) kept for {len(names)} exposures; MVMR needs more "
                                          "SNPs than exposures (+1 for MVMR-Egger)")
    outcome = str(h["outcome"].iloc[0])
    fits = {"mvmr_ivw": mvmr_ivw(bx, by, sx, sy, params, exposures=names),
            "mvmr_egger": mvmr_egger(bx, by, sx, sy, params, exposures=names, orientate=orientate),
            "mvmr_qhet": mvmr_qhet(bx, by, sx, sy, params, exposures=names, pcor=pcor)}
    cond_f = mvmr_conditional_f(bx, sx)
    q, q_df, q_p = mvmr_q(bx, by, sx, sy, fits["mvmr_ivw"].beta)
    rows = []
    for name in ("mvmr_ivw", "mvmr_egger", "mvmr_qhet"):
        for k, r in enumerate(fits[name].rows()):
            rows.append({**r, "outcome": outcome, "conditional_f": float(cond_f[k])})
    for k, e in enumerate(names):  # univariable IVW on the same SNPs
        u = mr_ivw(bx[:, k], by, sx[:, k], sy, params)
        rows.append({"exposure": e, "outcome": outcome, "method": "ivw", "nsnp": u.nsnp, "beta": u.beta,
                     "standard_error": u.standard_error, "ci_lower": u.ci_lower, "ci_upper": u.ci_upper,
                     "p_value": u.p_value, "conditional_f": _NAN, "q": u.q, "q_df": u.q_df, "q_p_value": u.q_p_value})
    table = pd.DataFrame(rows, columns=list(MVMR_COLUMNS))
    ivw, qh = fits["mvmr_ivw"], fits["mvmr_qhet"]
    report = {
        "exposures": names, "outcome": outcome, "nsnp": len(snps),
        "conditional_f": {e: float(f) for e, f in zip(names, cond_f, strict=True)},
        "weak_instruments": [e for e, f in zip(names, cond_f, strict=True) if f < 10],
        "sanderson_q": {"q": q, "q_df": q_df, "q_p_value": q_p},
        "mvmr_ivw": {e: {"beta": ivw.beta[k], "standard_error": ivw.standard_error[k], "ci_lower": ivw.ci_lower[k],
                         "ci_upper": ivw.ci_upper[k], "p_value": ivw.p_value[k]} for k, e in enumerate(names)},
        "mvmr_qhet": {e: {"beta": qh.beta[k], "standard_error": qh.standard_error[k], "ci_lower": qh.ci_lower[k],
                          "ci_upper": qh.ci_upper[k], "p_value": qh.p_value[k]} for k, e in enumerate(names)},
        "qhet_q": {"q": qh.q, "q_df": qh.q_df, "q_p_value": qh.q_p_value},
        "mvmr_egger_intercept": {"beta": fits["mvmr_egger"].egger_intercept,
                                 "standard_error": fits["mvmr_egger"].egger_intercept_standard_error,
                                 "p_value": fits["mvmr_egger"].egger_intercept_p_value,
                                 "orientate": names[orientate]},
    }
    if report["weak_instruments"]:
        log.warning("run_mvmr: conditional F < 10 for %s: weak instruments given the other exposures bias the "
                    "direct effects", report["weak_instruments"])
    return MVMRResult(table=table, fits=fits, harmonised=h, report=report)


def _presence_keys(frames: Mapping[str, pd.DataFrame]) -> dict[str, pd.Series] | None:
    """Each study's presence key: ``chromosome:position`` when every study gives a position on
    every row, else its rsid (NA where a row has none: it can't be matched to a study without
    positions), else None. A METAL or rsid-only table (position columns empty) thus switches every
    study to rsids instead of emptying the common set."""
    from bma_genetics.mr.harmonise import _rsids

    def placed(ss: pd.DataFrame) -> bool:
        return {"chromosome", "base_pair_location"} <= set(ss.columns) and bool(
            ss["chromosome"].notna().all() and ss["base_pair_location"].notna().all())

    if all(placed(ss) for ss in frames.values()):
        return {name: _site_key(ss) for name, ss in frames.items()}
    if all("rsid" in ss.columns for ss in frames.values()):
        return {name: _rsids(ss) for name, ss in frames.items()}
    return None


def _shared(exp: dict[str, pd.DataFrame], outcome: pd.DataFrame) -> tuple[dict[str, pd.DataFrame], int | None]:
    """Every exposure's rows at the variants present in all exposures and the outcome (None: no common key)."""
    keys = _presence_keys({**{("exposure", n): ss for n, ss in exp.items()}, ("outcome", ""): outcome})
    if keys is None:
        log.info("run_mvmr_analysis: the studies share no variant key (positions on every row, or rsids): "
                 "instruments from every exposure's variants")
        return exp, None
    common = set(keys[("outcome", "")].dropna())
    for name in exp:
        common &= set(keys[("exposure", name)].dropna())
    kept = {name: ss[keys[("exposure", name)].isin(common).to_numpy()] for name, ss in exp.items()}
    log.info("run_mvmr_analysis: %d variants present in every exposure and the outcome (%s)", len(common),
             {n: f"{len(kept[n])}/{len(ss)}" for n, ss in exp.items()})
    return kept, len(common)


def run_mvmr_analysis(
    out: str | os.PathLike | None,
    *,
    exposures: Mapping[str, str | os.PathLike | pd.DataFrame],
    outcome: str | os.PathLike | pd.DataFrame,
    outcome_name: str | None = None,
    p_threshold: float = 5e-8,
    reader=None,
    unclumped: bool = False,
    clump_r2: float = 0.001,
    clump_kb: float = 10_000,
    action: int = 2,
    tolerance: float = 0.08,
    params: MRParameters | None = None,
    orientate: int = 0,
    pcor=None,
    shared_variants: bool = True,
) -> MVMRResult:
    """Multivariable MR from summary statistics: instruments, harmonisation, fits, tables.

    Writes under ``out`` (nothing when None): ``mvmr_results.tsv`` (:data:`MVMR_COLUMNS`, through
    :func:`bma_genetics.io.write_mr_results` ``table="mvmr"``), ``harmonised.tsv``
    (:func:`mvmr_harmonise`), ``instruments.tsv`` (:func:`mvmr_instruments`) and ``run.json``
    (arguments and the summary). Figures: :func:`bma_genetics.mr.figures.write_mvmr_figures`.

    Parameters
    ----------
    out : path or None
    exposures : mapping of str to path or DataFrame
        Two or more exposures' summary statistics (any :func:`bma_genetics.io.read_sumstats`
        format), by name.
    outcome : path or DataFrame
    outcome_name : str, optional
        Default: the outcome file name up to its first dot.
    p_threshold, clump_r2, clump_kb
        Instrument selection of every exposure (:func:`mvmr_instruments`).
    reader : GenotypeReader, optional
        LD source for clumping (:func:`bma_genetics.ld.open_ld_source`); None needs
        ``unclumped=True``.
    unclumped : bool, default=False
        Use instruments that are not LD-clumped (recorded in the summary).
    action, tolerance
        Harmonisation (:func:`bma_genetics.mr.harmonise`).
    params : MRParameters, optional
    orientate : int, default=0
        MVMR-Egger's orientation exposure (index into ``exposures``).
    pcor : array, optional
        Correlation of the exposures' SNP-effect errors (order of ``exposures``) for
        :func:`mvmr_qhet`: K x K or its upper triangle; default independent samples.
    shared_variants : bool, default=True
        Select and clump instruments only among the variants (chromosome and position, else
        rsid) present in every exposure's and the outcome's summary statistics. Otherwise an
        exposure's lead variant missing from another study (a QC'd GWAS, an autosomal outcome)
        is dropped at harmonisation and takes its whole locus with it, including the loci it
        was clumped with for the other exposures (on the demo cohort 4 of 7 BMFF loci).

    Returns
    -------
    MVMRResult
        Its ``report`` adds ``n_instruments``, ``instruments_per_exposure``, ``clumped``,
        ``p_threshold``.
    """
    import json
    from pathlib import Path

    from bma_genetics._atomic import write_table, write_text
    from bma_genetics.io.results import write_mr_results
    from bma_genetics.io.sumstats import read_sumstats
    from bma_genetics.mr.harmonise import check_join_builds

    params = params or MRParameters()
    if not isinstance(unclumped, bool):
        raise fail("run_mvmr_analysis/unclumped", f"expected True or False, found {unclumped!r}")
    if reader is None and not unclumped:
        raise fail("run_mvmr_analysis/reader", "no LD source, so the instruments cannot be clumped; give reader= "
                                               "(an LD source) or unclumped=True for independent variants")
    if not isinstance(exposures, Mapping) or len(exposures) < 2:
        raise fail("run_mvmr_analysis/exposures", "give a mapping of two or more exposure names to summary statistics")
    if pcor is not None:
        _exposure_correlation(pcor, len(exposures), "run_mvmr_analysis/pcor")

    def load(obj, name: str) -> pd.DataFrame:
        return obj if isinstance(obj, pd.DataFrame) else read_sumstats(obj)

    exp = {str(k): load(v, k) for k, v in exposures.items()}
    out_ss = load(outcome, "outcome")
    if outcome_name is None:
        outcome_name = "outcome" if isinstance(outcome, pd.DataFrame) else Path(outcome).name.split(".")[0]
    first = next(iter(exp))
    for name, ss in [*list(exp.items())[1:], (outcome_name, out_ss)]:
        check_join_builds(exp[first], ss, names=(first, name), where="run_mvmr_analysis/build")
    n_shared = None
    if not isinstance(shared_variants, bool):
        raise fail("run_mvmr_analysis/shared_variants", f"expected True or False, found {shared_variants!r}")
    if shared_variants:
        exp, n_shared = _shared(exp, out_ss)
    ins = mvmr_instruments(exp, p_threshold=p_threshold, reader=None if unclumped else reader,
                           clump_r2=clump_r2, clump_kb=clump_kb)
    h = mvmr_harmonise(ins, exp, out_ss, outcome_name=outcome_name, action=action, tolerance=tolerance)
    res = run_mvmr(h, params=params, orientate=orientate, pcor=pcor)
    per = {e: int(ins["instrument_for"].str.split(",").apply(lambda s, e=e: e in s).sum()) for e in exp}
    res.report.update(n_instruments=int(len(ins)), instruments_per_exposure=per, clumped=not unclumped,
                      p_threshold=float(p_threshold), shared_variants=n_shared)
    if out is not None:
        d = Path(out)
        d.mkdir(parents=True, exist_ok=True)
        files = {"mvmr_results": write_mr_results(res.table, d / "mvmr_results.tsv", table="mvmr"),
                 "harmonised": write_table(h, d / "harmonised.tsv"),
                 "instruments": write_table(ins, d / "instruments.tsv")}
        run_info = {"exposures": {k: (str(v) if not isinstance(v, pd.DataFrame) else "table")
                                  for k, v in exposures.items()},
                    "outcome": str(outcome) if not isinstance(outcome, pd.DataFrame) else "table",
                    "p_threshold": p_threshold, "unclumped": unclumped, "clump_r2": clump_r2, "clump_kb": clump_kb,
                    "action": action, "tolerance": tolerance, "orientate": orientate,
                    "pcor": None if pcor is None else np.asarray(pcor, float).tolist(), "shared_variants": shared_variants,
                    "params": params.__dict__,
                    "summary": res.report}
        files["run"] = write_text(d / "run.json", json.dumps(run_info, indent=2, default=str))
        res.files = files
    log.info("MVMR %s -> %s: %d SNPs; IVW-MVMR %s", list(exp), outcome_name, res.report["nsnp"],
             {e: round(v["beta"], 4) for e, v in res.report["mvmr_ivw"].items()})
    return res

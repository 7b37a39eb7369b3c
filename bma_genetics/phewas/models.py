"""Regression engines for PheWAS: batched logistic regression, Firth, Cox.

The logistic engine fits many phecodes at once. All phecodes of one exposure share one design
matrix ``X`` (n people x p columns); phecode ``j`` differs only in its outcome column ``Y[:, j]``
and in which people take part (``M[:, j]``: cases and eligible controls). Newton-Raphson is run
for every phecode of a block simultaneously: the gradients are one matrix product
``X.T @ (M * (Y - P))`` and the Hessians come from one product of the pairwise column products
of ``X`` with the weights ``M * P * (1 - P)``. This is the same maximum-likelihood fit that
statsmodels' ``Logit`` (PheTK's engine) computes phecode by phecode, to ~1e-8.

Firth's penalised likelihood (Firth 1993; Heinze & Schemper 2002) is fitted one phecode at a
time, with logistf's step-halving Newton iterations, for the few phecodes where the ordinary fit
separates, fails to converge or has rare cases. Its p-value is the penalised likelihood-ratio
test (as in logistf, Hail and REGENIE), and its standard error is REGENIE's ``|beta| / sqrt(chi2)``
so that ``beta / se`` reproduces the LRT p-value.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
from scipy import special, stats

log = logging.getLogger(__name__)

#: Newton iterations stop when every coefficient moves less than this (statsmodels' default).
TOL = 1e-8
#: |linear predictor| beyond which a fitted probability is 0 or 1 to ~1e-11: the MLE is running
#: off to infinity (separation). Scale-free, unlike a bound on |beta|.
SEPARATION_ETA = 25.0
#: Rows of the pairwise-product matrix computed at once (bounds memory on large cohorts).
_ROW_CHUNK = 65536


@dataclass
class BatchFit:
    """Result of :func:`fit_logistic_batch` for k phecodes and p design columns.

    Attributes
    ----------
    beta : ndarray of shape (k, p)
    se : ndarray of shape (k, p)
        Standard errors from the inverse observed information at the estimate.
    converged : ndarray of shape (k,), bool
    n_iter : ndarray of shape (k,), int
    separated : ndarray of shape (k,), bool
        Fitted probabilities collapsing to 0/1 (|linear predictor| > 25) or a singular
        information matrix: the MLE does not exist or cannot be trusted.
    """

    beta: np.ndarray
    se: np.ndarray
    converged: np.ndarray
    n_iter: np.ndarray
    separated: np.ndarray


def _pair_index(p: int) -> tuple[np.ndarray, np.ndarray]:
    return np.triu_indices(p)


def _hessians(X: np.ndarray, W: np.ndarray) -> np.ndarray:
    """``H[j] = X.T @ diag(W[:, j]) @ X`` for every column j of W, via one GEMM per row chunk."""
    n, p = X.shape
    k = W.shape[1]
    iu, ju = _pair_index(p)
    flat = np.zeros((len(iu), k))
    for start in range(0, n, _ROW_CHUNK):
        xs = X[start:start + _ROW_CHUNK]
        Z = xs[:, iu] * xs[:, ju]
        flat += Z.T @ W[start:start + _ROW_CHUNK]
    H = np.empty((k, p, p))
    H[:, iu, ju] = flat.T
    H[:, ju, iu] = flat.T
    return H


def fit_logistic_batch(
    X: np.ndarray,
    Y: np.ndarray,
    M: np.ndarray,
    *,
    max_iter: int = 35,
    tol: float = TOL,
) -> BatchFit:
    """Maximum-likelihood logistic regression of each column of ``Y`` on ``X`` at once.

    Parameters
    ----------
    X : ndarray of shape (n_people, n_columns)
        Shared design matrix (include the intercept column yourself).
    Y : ndarray of shape (n_people, n_phecodes)
        0/1 outcomes.
    M : ndarray of shape (n_people, n_phecodes)
        1 where the person takes part in that phecode's analysis (case or eligible control).
    max_iter : int, default=35
        Newton iterations (statsmodels' default).
    tol : float, default=1e-8
        Convergence: largest absolute Newton step.

    Returns
    -------
    BatchFit
    """
    n, p = X.shape
    k = Y.shape[1]
    Y = np.asarray(Y, dtype=np.float64)
    M = np.asarray(M, dtype=np.float64)
    beta = np.zeros((k, p))
    # Start the intercept at the logit of the case fraction: two Newton steps fewer than zeros
    # (statsmodels' start); the maximum is unique, so the estimate is the same.
    ones = np.flatnonzero(np.all(X == 1.0, axis=0))
    if ones.size:
        with np.errstate(divide="ignore", invalid="ignore"):
            ybar = (M * Y).sum(axis=0) / M.sum(axis=0)
        beta[:, ones[0]] = special.logit(np.clip(np.nan_to_num(ybar, nan=0.5), 1e-6, 1 - 1e-6))
    converged = np.zeros(k, dtype=bool)
    separated = np.zeros(k, dtype=bool)
    n_iter = np.zeros(k, dtype=np.int64)
    active = np.arange(k)
    for it in range(1, max_iter + 1):
        if active.size == 0:
            break
        if active.size == k:  # no copies while every phecode is still iterating
            Ya, Ma, Ba = Y, M, beta.copy()
        else:
            Ya, Ma, Ba = Y[:, active], M[:, active], beta[active]
        # in-place elementwise work: these (people x phecodes) arrays dominate the run time
        eta = X @ Ba.T
        P = special.expit(eta)
        np.abs(eta, out=eta)
        eta *= Ma
        eta_max = eta.max(axis=0)
        R = np.subtract(Ya, P, out=eta)
        R *= Ma
        G = X.T @ R  # (p, k_active)
        W = np.multiply(P, P)
        np.subtract(P, W, out=W)
        W *= Ma
        H = _hessians(X, W)
        try:
            step = np.linalg.solve(H, G.T[..., None])[..., 0]
        except np.linalg.LinAlgError:
            step = np.stack([_safe_solve(H[i], G[:, i]) for i in range(len(active))])
        bad = ~np.isfinite(step).all(axis=1)
        step[bad] = 0.0
        beta[active] = Ba + step
        n_iter[active] = it
        big = eta_max > 2 * SEPARATION_ETA
        done = (np.abs(step).max(axis=1) < tol) & ~bad
        converged[active[done]] = True
        # Diverging coefficients never settle; stop iterating them and let Firth take over.
        separated[active[big | bad]] = True
        active = active[~(done | big | bad)]
    se, sep2 = _standard_errors(X, Y, M, beta)
    separated |= sep2
    return BatchFit(beta=beta, se=se, converged=converged, n_iter=n_iter, separated=separated)


def _safe_solve(H: np.ndarray, g: np.ndarray) -> np.ndarray:
    try:
        return np.linalg.solve(H, g)
    except np.linalg.LinAlgError:
        return np.full_like(g, np.nan)


def _standard_errors(X, Y, M, beta) -> tuple[np.ndarray, np.ndarray]:
    eta = X @ beta.T
    P = special.expit(eta)
    W = np.multiply(P, P)
    np.subtract(P, W, out=W)
    W *= M
    H = _hessians(X, W)
    k, p = beta.shape
    se = np.full((k, p), np.nan)
    singular = np.zeros(k, dtype=bool)
    for i in range(k):
        try:
            cov = np.linalg.inv(H[i])
        except np.linalg.LinAlgError:
            singular[i] = True
            continue
        d = np.diag(cov)
        se[i] = np.sqrt(np.where(d > 0, d, np.nan))
    # Fitted probabilities at 0/1 mean the likelihood has no finite maximum.
    np.abs(eta, out=eta)
    eta *= M
    tiny = eta.max(axis=0) > SEPARATION_ETA
    return se, singular | tiny


# ----------------------------------------------------------------------------------------------
# Firth


@dataclass
class FirthFit:
    beta: np.ndarray
    loglik: float  # penalised log-likelihood at beta
    converged: bool
    n_iter: int


def firth_loglik(X: np.ndarray, y: np.ndarray, beta: np.ndarray) -> float:
    """Penalised log-likelihood ``l(beta) + 0.5 log det I(beta)`` of Firth (1993)."""
    eta = X @ beta
    ll = float(np.sum(y * eta - np.logaddexp(0.0, eta)))
    p = special.expit(eta)
    w = p * (1.0 - p)
    sign, logdet = np.linalg.slogdet((X * w[:, None]).T @ X)
    return ll + 0.5 * logdet if sign > 0 else -np.inf


def fit_firth(
    X: np.ndarray,
    y: np.ndarray,
    *,
    max_iter: int = 100,
    tol: float = 1e-10,
    max_step: float = 5.0,
    max_halving: int = 30,
    start: np.ndarray | None = None,
    fixed: int | None = None,
) -> FirthFit:
    """Firth-penalised logistic regression by modified-score Newton steps (logistf's algorithm).

    The modified score is ``X.T (y - p + h (1/2 - p))`` with ``h`` the diagonal of the weighted
    hat matrix; steps use the Fisher information, are capped at ``max_step`` and halved until
    the penalised likelihood does not decrease. With ``fixed``, that coefficient is held at 0
    while the penalty keeps the full model's information (the restricted fit of the penalised
    likelihood-ratio test, Heinze & Schemper 2002; logistf).
    """
    n, p = X.shape
    beta = np.zeros(p) if start is None else np.asarray(start, dtype=float).copy()
    ll = firth_loglik(X, y, beta)
    for it in range(1, max_iter + 1):
        pr = special.expit(X @ beta)
        w = pr * (1.0 - pr)
        info = (X * w[:, None]).T @ X
        try:
            chol = np.linalg.cholesky(info)
        except np.linalg.LinAlgError:
            return FirthFit(beta, ll, False, it)
        # h_i = w_i x_i' I^-1 x_i via a triangular solve (no explicit inverse)
        A = np.linalg.solve(chol, (X * np.sqrt(w)[:, None]).T)
        h = np.einsum("ij,ij->j", A, A)
        score = X.T @ (y - pr + h * (0.5 - pr))
        if fixed is None:
            step = np.linalg.solve(info, score)
        else:
            free = np.arange(p) != fixed
            score[fixed] = 0.0
            step = np.zeros(p)
            step[free] = np.linalg.solve(info[np.ix_(free, free)], score[free])
        mx = np.abs(step).max()
        if mx > max_step:
            step *= max_step / mx
        new = beta + step
        new_ll = firth_loglik(X, y, new)
        halvings = 0
        while new_ll < ll - 1e-12 and halvings < max_halving:
            step *= 0.5
            new = beta + step
            new_ll = firth_loglik(X, y, new)
            halvings += 1
        beta, ll = new, new_ll
        if np.abs(step).max() < tol and np.abs(score).max() < 1e-6:
            return FirthFit(beta, ll, True, it)
    return FirthFit(beta, ll, False, max_iter)


def firth_test(X: np.ndarray, y: np.ndarray, column: int) -> dict[str, float | bool]:
    """Firth fit of ``y`` on ``X`` and the penalised LRT of coefficient ``column``.

    Returns ``beta, standard_error, p_value, neg_log_10_p_value, converged`` for that
    coefficient; ``standard_error`` is
    ``|beta| / sqrt(chi2)`` (REGENIE's convention) so Wald intervals match the LRT.
    """
    full = fit_firth(X, y)
    reduced = fit_firth(X, y, fixed=column)
    chi2 = max(2.0 * (full.loglik - reduced.loglik), 0.0)
    beta = float(full.beta[column])
    if chi2 > 0:
        se = abs(beta) / math.sqrt(chi2)
        logp = stats.chi2.logsf(chi2, 1)
    else:
        se, logp = float("nan"), 0.0
    if not np.isfinite(se) or se == 0:
        pr = special.expit(X @ full.beta)
        info = (X * (pr * (1 - pr))[:, None]).T @ X
        try:
            se = float(math.sqrt(np.linalg.inv(info)[column, column]))
        except (np.linalg.LinAlgError, ValueError):
            se = float("nan")
    return {
        "beta": beta,
        "standard_error": se,
        "p_value": float(math.exp(logp)),
        "neg_log_10_p_value": float(-logp / math.log(10.0)),
        "converged": bool(full.converged and reduced.converged),
    }


def _penalised_loglik_batch(X, Y, M, B) -> np.ndarray:
    """Firth's penalised log-likelihood for each column (phecode); -inf where I is singular."""
    eta = X @ B.T
    ll = np.sum(M * (Y * eta - np.logaddexp(0.0, eta)), axis=0)
    P = special.expit(eta)
    sign, logdet = np.linalg.slogdet(_hessians(X, M * P * (1.0 - P)))
    return np.where(sign > 0, ll + 0.5 * logdet, -np.inf)


def fit_firth_batch(
    X: np.ndarray,
    Y: np.ndarray,
    M: np.ndarray,
    *,
    max_iter: int = 100,
    tol: float = 1e-10,
    max_step: float = 5.0,
    max_halving: int = 30,
    fixed: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Firth-penalised logistic regression of every column of ``Y`` at once (see :func:`fit_firth`).

    The hat-matrix diagonals of all phecodes come from one product: with ``Z`` the pairwise
    column products of ``X``, ``x_i' A x_i = Z_i . vech(A)`` (off-diagonal terms doubled).

    Returns
    -------
    beta : ndarray of shape (k, p)
    loglik : ndarray of shape (k,)
        Penalised log-likelihood at ``beta``.
    converged : ndarray of shape (k,), bool
    """
    n, p = X.shape
    k = Y.shape[1]
    iu, ju = _pair_index(p)
    twice = np.where(iu == ju, 1.0, 2.0)
    beta = np.zeros((k, p))
    ll = _penalised_loglik_batch(X, Y, M, beta)
    converged = np.zeros(k, dtype=bool)
    active = np.arange(k)
    for _ in range(max_iter):
        if active.size == 0:
            break
        Ya, Ma, Ba = Y[:, active], M[:, active], beta[active]
        P = special.expit(X @ Ba.T)
        W = Ma * P * (1.0 - P)
        H = _hessians(X, W)
        try:
            Hinv = np.linalg.inv(H)
        except np.linalg.LinAlgError:
            Hinv = np.stack([np.linalg.pinv(h) for h in H])
        quad = np.zeros((n, active.size))
        coef = (Hinv[:, iu, ju] * twice).T  # (q, k)
        for start in range(0, n, _ROW_CHUNK):
            xs = X[start:start + _ROW_CHUNK]
            quad[start:start + _ROW_CHUNK] = (xs[:, iu] * xs[:, ju]) @ coef
        h = W * quad
        score = X.T @ (Ma * (Ya - P) + h * (0.5 - P))  # (p, k)
        if fixed is None:
            step = np.einsum("kij,jk->ki", Hinv, score)
        else:
            # restricted fit: coefficient `fixed` stays 0, Newton on the others
            free = np.arange(p) != fixed
            score[fixed] = 0.0
            step = np.zeros((active.size, p))
            step[:, free] = np.linalg.solve(H[:, free][:, :, free], score[free].T[..., None])[..., 0]
        mx = np.abs(step).max(axis=1)
        big = mx > max_step
        step[big] *= (max_step / mx[big])[:, None]
        new = Ba + step
        new_ll = _penalised_loglik_batch(X, Ya, Ma, new)
        worse = new_ll < ll[active] - 1e-12
        for _h in range(max_halving):
            if not worse.any():
                break
            step[worse] *= 0.5
            new[worse] = Ba[worse] + step[worse]
            new_ll[worse] = _penalised_loglik_batch(X, Ya[:, worse], Ma[:, worse], new[worse])
            worse = new_ll < ll[active] - 1e-12
        beta[active] = new
        ll[active] = new_ll
        done = (np.abs(step).max(axis=1) < tol) & (np.abs(score).max(axis=0) < 1e-6)
        converged[active[done]] = True
        active = active[~done]
    return beta, ll, converged


def firth_test_batch(X: np.ndarray, Y: np.ndarray, M: np.ndarray, column: int = 0) -> list[dict[str, float | bool]]:
    """:func:`firth_test` for every column of ``Y`` at once (same model, same outputs)."""
    full_b, full_ll, full_ok = fit_firth_batch(X, Y, M)
    _, red_ll, red_ok = fit_firth_batch(X, Y, M, fixed=column)
    chi2 = np.maximum(2.0 * (full_ll - red_ll), 0.0)
    beta = full_b[:, column]
    P = special.expit(X @ full_b.T)
    H = _hessians(X, M * P * (1.0 - P))
    out = []
    for j in range(Y.shape[1]):
        if chi2[j] > 0:
            se = abs(beta[j]) / math.sqrt(chi2[j])
            logp = float(stats.chi2.logsf(chi2[j], 1))
        else:
            se, logp = float("nan"), 0.0
        if not np.isfinite(se) or se == 0:
            try:
                se = float(math.sqrt(np.linalg.inv(H[j])[column, column]))
            except (np.linalg.LinAlgError, ValueError):
                se = float("nan")
        out.append({
            "beta": float(beta[j]), "standard_error": float(se), "p_value": float(math.exp(logp)),
            "neg_log_10_p_value": float(-logp / math.log(10.0)),
            "converged": bool(full_ok[j] and red_ok[j]),
        })
    return out

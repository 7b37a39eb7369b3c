"""SuSiE on summary statistics (SuSiE-RSS): sum of single effects, credible sets and PIPs.

The model (Wang et al. 2020, JRSS-B 82:1273; Zou et al. 2022, PLoS Genet 18:e1010299) writes
the effect vector as a sum of ``L`` single effects, each with one non-zero coordinate:

.. math::
    b = \\sum_{l=1}^{L} b_l,\\quad b_l = \\gamma_l \\beta_l,\\quad
    \\gamma_l \\sim \\mathrm{Mult}(1, \\pi),\\quad \\beta_l \\sim N(0, V_l)

and fits it by iterative Bayesian stepwise selection (IBSS): each single effect is refitted by
a single-effect regression on the residual of the others, its prior variance ``V_l`` set to the
maximum of its marginal likelihood (Brent's method on log V in [-30, 15], kept at the previous
value when that is no better, set to 0 when the null is at least as good), until the evidence
lower bound (ELBO) grows by less than ``tol``.

On z-scores and an LD matrix ``R`` (in-sample LD: the analysed samples' genotypes), the
sufficient statistics are those of susieR's ``susie_rss``: with the sample size ``n`` the
z-scores are first PVE-adjusted, :math:`\\tilde z = z\\sqrt{(n-1)/(z^2+n-2)}`, then
:math:`X^\\top X = (n-1)R`, :math:`X^\\top y = \\sqrt{n-1}\\,\\tilde z`, :math:`y^\\top y = n-1`:
the trait is standardised and the residual variance is fixed at 1 (not estimated), the prior
variance starts at 0.2; without ``n``, :math:`X^\\top X = R`, :math:`X^\\top y = z`,
``n = 2``, :math:`y^\\top y = 1` and the prior variance starts at 50 (susie_rss's large-n
limit). The results equal susieR 0.12 ``susie_rss(z, R, n = n)`` (tests/test_finemap.py runs
it side by side), with one documented difference: susieR measures the purity of a credible set
of more than 100 variants on a random sample of 100; here every pair is used (deterministic).

Credible sets follow susieR's ``susie_get_cs``: for each effect with ``V_l > 1e-9`` the fewest
variants whose ``alpha`` sum reaches ``coverage`` (0.95), duplicates dropped, kept only when the
smallest absolute correlation between its members (purity) is at least ``min_abs_corr`` (0.5),
ordered by purity. PIPs are :math:`1 - \\prod_l (1 - \\alpha_{lj})` over effects with
``V_l > 1e-9``.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np
from scipy import optimize

from bma_genetics._check import fail

log = logging.getLogger(__name__)

#: Prior variances at or below this are null effects (susieR's prior_tol).
PRIOR_TOL = 1e-9


@dataclass(frozen=True)
class CredibleSet:
    """One credible set of a SuSiE fit.

    Attributes
    ----------
    effect : int
        The single effect it comes from (1-based, susieR's ``L1``, ``L2``, ...).
    variants : tuple of int
        Indices of its variants (0-based, in decreasing ``alpha`` order).
    coverage : float
        The summed ``alpha`` of its variants (at least the requested coverage).
    min_abs_corr, mean_abs_corr, median_abs_corr : float
        Purity: the smallest, mean and median absolute correlation between its members.
    """

    effect: int
    variants: tuple[int, ...]
    coverage: float
    min_abs_corr: float
    mean_abs_corr: float
    median_abs_corr: float


@dataclass
class SusieFit:
    """A fitted SuSiE-RSS model.

    Attributes
    ----------
    alpha : ndarray of shape (L, n_variants)
        Posterior inclusion probabilities of each single effect.
    mu, mu2 : ndarray of shape (L, n_variants)
        Posterior mean and second moment of each effect given inclusion (standardised scale).
    prior_variance : ndarray of shape (L,)
        The estimated prior variance ``V_l`` of each effect (0: a null effect).
    lbf : ndarray of shape (L,)
        Log Bayes factor of each single effect against none.
    lbf_variable : ndarray of shape (L, n_variants)
        Per-variant log Bayes factors of each effect (what SuSiE-coloc combines).
    pip : ndarray of shape (n_variants,)
        Posterior inclusion probabilities.
    credible_sets : list of CredibleSet
        The pure credible sets, by decreasing purity.
    elbo : ndarray
        The ELBO after each iteration.
    converged : bool
    n_iter : int
    """

    alpha: np.ndarray
    mu: np.ndarray
    mu2: np.ndarray
    prior_variance: np.ndarray
    lbf: np.ndarray
    lbf_variable: np.ndarray
    pip: np.ndarray
    credible_sets: list[CredibleSet] = field(default_factory=list)
    elbo: np.ndarray = field(default_factory=lambda: np.zeros(0))
    converged: bool = False
    n_iter: int = 0

    def credible_set_of(self) -> np.ndarray:
        """For each variant, the effect number of the credible set holding it (0: none); a variant
        in two sets gets the first (purest)."""
        out = np.zeros(self.pip.size, dtype=np.int64)
        for cs in reversed(self.credible_sets):
            out[list(cs.variants)] = cs.effect
        return out


def _log_norm_ratio(betahat: np.ndarray, shat2: np.ndarray, v: float) -> np.ndarray:
    """log N(betahat; 0, V + s^2) - log N(betahat; 0, s^2): each variant's single-effect log BF."""
    with np.errstate(divide="ignore", invalid="ignore"):
        lbf = 0.5 * np.log(shat2 / (v + shat2)) + 0.5 * betahat**2 * (1.0 / shat2 - 1.0 / (v + shat2))
    lbf[~np.isfinite(shat2)] = 0.0
    return np.where(np.isnan(lbf), 0.0, lbf)


def _log_marginal(v: float, betahat: np.ndarray, shat2: np.ndarray, prior: np.ndarray) -> float:
    """log of the single-effect model's Bayes factor at prior variance ``v`` (susieR's loglik)."""
    lbf = _log_norm_ratio(betahat, shat2, v)
    m = lbf.max()
    return float(m + math.log(np.sum(np.exp(lbf - m) * prior)))


def _optimise_prior_variance(betahat, shat2, prior, v_current: float) -> float:
    """Maximise the single-effect marginal likelihood over log V in [-30, 15] (Brent)."""
    ok = np.isfinite(shat2)
    b2, s2, logp = betahat[ok] ** 2, shat2[ok], np.log(prior[ok])
    base = 0.5 * np.log(s2) + 0.5 * b2 / s2

    def neg(lv: float) -> float:  # -log BF of the single-effect model at V = exp(lv)
        vs = math.exp(lv) + s2
        t = base - 0.5 * np.log(vs) - 0.5 * b2 / vs + logp
        m = t.max()
        return -float(m + math.log(np.exp(t - m).sum()))

    res = optimize.minimize_scalar(neg, bounds=(-30.0, 15.0), method="bounded", options={"xatol": 1e-8})
    lv = float(res.x)
    if v_current > 0 and neg(lv) > neg(math.log(v_current)):
        lv = math.log(v_current)
    v = math.exp(lv)
    if _log_marginal(0.0, betahat, shat2, prior) >= _log_marginal(v, betahat, shat2, prior):
        v = 0.0
    return v


def _single_effect(xty_resid, dxtx, v, sigma2, prior, estimate: bool):
    betahat = xty_resid / dxtx
    shat2 = sigma2 / dxtx
    if estimate:
        v = _optimise_prior_variance(betahat, shat2, prior, v)
    lbf = _log_norm_ratio(betahat, shat2, v)
    m = lbf.max()
    w = np.exp(lbf - m) * prior
    alpha = w / w.sum()
    with np.errstate(divide="ignore"):
        post_var = 1.0 / (1.0 / v + dxtx / sigma2) if v > 0 else np.zeros_like(dxtx)
    post_mean = post_var * xty_resid / sigma2
    return alpha, post_mean, post_var + post_mean**2, lbf, v, float(m + math.log(w.sum()))


def _purity(r: np.ndarray, members: list[int]) -> tuple[float, float, float]:
    if len(members) == 1:
        return 1.0, 1.0, 1.0
    sub = np.abs(r[np.ix_(members, members)])
    vals = sub[np.triu_indices(len(members), k=1)]
    return float(vals.min()), float(vals.mean()), float(np.median(vals))


def credible_sets(alpha: np.ndarray, prior_variance: np.ndarray, r: np.ndarray, *, coverage: float = 0.95,
                  min_abs_corr: float = 0.5) -> list[CredibleSet]:
    """Pure credible sets of SuSiE effects (susieR's ``susie_get_cs`` with a correlation matrix).

    Parameters
    ----------
    alpha : ndarray of shape (L, n_variants)
    prior_variance : ndarray of shape (L,)
    r : ndarray of shape (n_variants, n_variants)
        LD (correlation) matrix for the purity filter.
    coverage : float, default=0.95
    min_abs_corr : float, default=0.5

    Returns
    -------
    list of CredibleSet
        By decreasing purity (``min_abs_corr``).
    """
    sets: list[tuple[int, list[int], float]] = []
    seen: list[frozenset] = []
    for l_idx in range(alpha.shape[0]):
        a = alpha[l_idx]
        order = np.argsort(-a, kind="stable")
        n_in = int(np.sum(np.cumsum(a[order]) < coverage)) + 1
        members = [int(i) for i in order[:n_in]]
        key = frozenset(members)
        dup = key in seen
        seen.append(key)
        if prior_variance[l_idx] <= PRIOR_TOL or dup:
            continue
        sets.append((l_idx + 1, members, float(a[members].sum())))
    out = []
    for effect, members, cov in sets:
        p = _purity(r, members)
        if p[0] >= min_abs_corr:
            out.append(CredibleSet(effect, tuple(members), cov, *p))
    out.sort(key=lambda cs: -cs.min_abs_corr)
    return out


def susie_rss(
    z: np.ndarray,
    r: np.ndarray,
    *,
    n: float | None = None,
    L: int = 10,  # noqa: N803 - the model's own letter (susieR's L)
    coverage: float = 0.95,
    min_abs_corr: float = 0.5,
    estimate_prior_variance: bool = True,
    prior_variance: float | None = None,
    max_iter: int = 100,
    tol: float = 1e-3,
) -> SusieFit:
    """Fit SuSiE to z-scores and an LD matrix (susieR's ``susie_rss``).

    Parameters
    ----------
    z : ndarray of shape (n_variants,)
        Marginal z-scores (``beta / standard_error``); NaN is read as 0 (as susieR does).
    r : ndarray of shape (n_variants, n_variants)
        LD correlation matrix in the same allele orientation as ``z``, from the samples that
        gave ``z`` (in-sample LD).
    n : float, optional
        GWAS sample size (recommended): z-scores are PVE-adjusted and the model is on the
        standardised trait. ``None``: susie_rss's large-n form.
    L : int, default=10
        Maximum number of effects (at most ``n_variants``).
    coverage : float, default=0.95
        Credible-set coverage.
    min_abs_corr : float, default=0.5
        Purity filter: a credible set whose members' smallest absolute correlation is below
        this is dropped.
    estimate_prior_variance : bool, default=True
        Estimate each effect's prior variance (else keep the initial one).
    prior_variance : float, optional
        Initial (or fixed) prior variance: default 0.2 with ``n`` (scaled by the trait's
        variance, 1), 50 without.
    max_iter : int, default=100
    tol : float, default=1e-3
        Stop when the ELBO grows by less than this.

    Returns
    -------
    SusieFit

    Examples
    --------
    >>> import numpy as np
    >>> r = np.array([[1.0, 0.9, 0.1], [0.9, 1.0, 0.1], [0.1, 0.1, 1.0]])
    >>> fit = susie_rss(np.array([8.0, 7.2, 1.0]), r, n=5000, L=3)
    >>> [list(cs.variants) for cs in fit.credible_sets]
    [[0, 1]]
    """
    z = np.asarray(z, dtype=np.float64).ravel()
    r = np.asarray(r, dtype=np.float64)
    p = z.size
    if p == 0:
        raise fail("susie_rss/z", "no variants")
    if r.shape != (p, p):
        raise fail("susie_rss/r", f"LD matrix of shape {r.shape} for {p} z-scores; expected ({p}, {p})")
    if not np.isfinite(r).all():
        raise fail("susie_rss/r", "the LD matrix has missing or infinite values")
    if np.isinf(z).any():
        raise fail("susie_rss/z", "infinite z-scores")
    if n is not None and not n > 1:
        raise fail("susie_rss/n", f"sample size must exceed 1, found {n}")
    if not (isinstance(L, (int, np.integer)) and L >= 1):
        raise fail("susie_rss/L", f"expected a positive integer, found {L!r}")
    if not 0 < coverage < 1:
        raise fail("susie_rss/coverage", f"expected a value in (0, 1), found {coverage}")
    z = np.where(np.isnan(z), 0.0, z)
    r = (r + r.T) / 2
    if n is not None:
        z = z * np.sqrt((n - 1) / (z**2 + n - 2))
        xtx, xty, yty, nn = (n - 1) * r, math.sqrt(n - 1) * z, n - 1.0, float(n)
        v0 = 0.2 if prior_variance is None else prior_variance
    else:
        xtx, xty, yty, nn = r.copy(), z, 1.0, 2.0
        v0 = 50.0 if prior_variance is None else prior_variance
    varY = yty / (nn - 1)  # noqa: N806
    sigma2 = varY
    L = min(int(L), p)  # noqa: N806
    dxtx = np.diag(xtx).copy()
    dxtx_safe = np.where(dxtx > 0, dxtx, np.inf)
    prior = np.full(p, 1.0 / p)
    alpha = np.full((L, p), 1.0 / p)
    mu = np.zeros((L, p))
    mu2 = np.zeros((L, p))
    v = np.full(L, v0 * varY)
    lbf = np.full(L, np.nan)
    lbf_var = np.full((L, p), np.nan)
    kl = np.full(L, np.nan)
    xtxr = np.zeros(p)
    elbo = [-np.inf]
    converged = False
    n_iter = 0
    for _ in range(max_iter):
        n_iter += 1
        for l_idx in range(L):
            xtxr = xtxr - xtx @ (alpha[l_idx] * mu[l_idx])
            resid = xty - xtxr
            a, m1, m2, lb, v[l_idx], lbf[l_idx] = _single_effect(resid, dxtx_safe, v[l_idx], sigma2, prior,
                                                                 estimate_prior_variance)
            alpha[l_idx], mu[l_idx], mu2[l_idx], lbf_var[l_idx] = a, m1, m2, lb
            e_loglik = -0.5 / sigma2 * (-2 * np.sum(a * m1 * resid) + np.sum(dxtx * a * m2))
            kl[l_idx] = -lbf[l_idx] + e_loglik
            xtxr = xtxr + xtx @ (a * m1)
        b = alpha * mu
        betabar = b.sum(axis=0)
        er2 = (yty - 2 * betabar @ xty + betabar @ xtx @ betabar - np.sum((b @ xtx) * b)
               + np.sum(dxtx * (alpha * mu2)))
        elbo.append(-nn / 2 * math.log(2 * math.pi * sigma2) - er2 / (2 * sigma2) - kl.sum())
        if not np.isfinite(elbo[-1]):
            raise fail("susie_rss/z", "the objective became infinite: check that the LD matrix matches the z-scores")
        if elbo[-1] - elbo[-2] < tol:
            converged = True
            break
    if not converged:
        log.warning("susie_rss: IBSS did not converge in %d iterations (LD and z-scores may not match)", max_iter)
    keep = v > PRIOR_TOL
    pip = 1 - np.prod(1 - alpha[keep], axis=0) if keep.any() else np.zeros(p)
    sets = credible_sets(alpha, v, r, coverage=coverage, min_abs_corr=min_abs_corr)
    return SusieFit(alpha=alpha, mu=mu, mu2=mu2, prior_variance=v, lbf=lbf, lbf_variable=lbf_var, pip=pip,
                    credible_sets=sets, elbo=np.array(elbo[1:]), converged=converged, n_iter=n_iter)

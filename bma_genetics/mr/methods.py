"""Two-sample MR estimators on harmonised summary statistics, and the method registry.

Every estimator shares TwoSampleMR's signature, in snake_case: ``(b_exp, b_out, se_exp, se_out,
params)`` -> one :class:`MREstimate` (a frozen dataclass, the same fields for every method):
``beta, standard_error, ci_lower, ci_upper, p_value, nsnp``, plus Cochran's ``q, q_df,
q_p_value`` where the method has a heterogeneity statistic (IVW, Egger), the Egger intercept
(``egger_intercept``, its ``..._standard_error`` and ``..._p_value``) and MR-PRESSO's tests.
Fields a method does not estimate are NaN; too few SNPs gives an all-NaN estimate, never an
error. Diagnostics and plots read these fields instead of refitting.

Where TwoSampleMR and MendelianRandomization differ by design, both are offered
(:class:`MRParameters`): the Egger reference distribution (``egger_distribution``: TwoSampleMR's
t with n-2 df, the default, or MendelianRandomization's normal) and the weights of the weighted
median (``median_weights``: TwoSampleMR's second-order weights, the default, or
MendelianRandomization's first-order ``bx^2 / se_out^2``). Point estimates and SEs of IVW and
Egger are identical in both packages.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats

from bma_genetics._check import check_one_of, check_positive, fail
from bma_genetics.stats import wald_p

log = logging.getLogger(__name__)

#: Output columns of :func:`bma_genetics.mr.run_mr` (the MR-results contract): one row per
#: exposure, outcome and method, with the heterogeneity and intercept fields of the same fit.
RESULT_COLUMNS: tuple[str, ...] = (
    "exposure", "outcome", "method", "nsnp", "beta", "standard_error", "ci_lower", "ci_upper", "p_value",
    "q", "q_df", "q_p_value", "egger_intercept", "egger_intercept_standard_error", "egger_intercept_p_value",
)

_NAN = float("nan")


@dataclass(frozen=True)
class MREstimate:
    """One method's full fit on one exposure-outcome pair (the same fields for every method).

    Attributes
    ----------
    method : str
        Registry name (``ivw``, ``egger``, ...).
    nsnp : int
        SNPs used (after dropping non-finite rows; for MR-PRESSO, after removing outliers).
    beta, standard_error : float
        Causal effect per unit exposure (outcome units) and its SE; NaN when the method could
        not run (too few SNPs).
    ci_lower, ci_upper : float
        (1 - ``alpha``) confidence limits of ``beta``.
    p_value : float
        Test of ``beta`` = 0.
    q, q_df, q_p_value : float
        Cochran's Q about the fit, its degrees of freedom and P (IVW: n - 1, Egger: n - 2);
        NaN for methods without one.
    egger_intercept, egger_intercept_standard_error, egger_intercept_p_value : float
        MR-Egger's intercept (directional pleiotropy) and its test; NaN for other methods.
    presso_global_rss, presso_global_p_value, presso_distortion_p_value : float
        MR-PRESSO's global test (observed RSS and P) and distortion test; NaN elsewhere.
    presso_outliers : tuple of int
        Indices (into the finite input rows) of MR-PRESSO's outliers.
    presso_outlier_p_values : tuple of float
        Bonferroni-corrected outlier-test P per SNP.
    presso_raw_beta, presso_raw_standard_error : float
        MR-PRESSO's IVW before outlier removal.
    radial_q_contributions : tuple of float
        Radial MR: each SNP's contribution Q_j to Cochran's Q (finite input rows, in order).
    radial_outliers : tuple of int
        Radial MR: indices of the SNPs whose Q_j P value (chi-squared, 1 df) is below
        ``radial_alpha`` / nsnp (Bonferroni).
    """

    method: str
    nsnp: int
    beta: float = _NAN
    standard_error: float = _NAN
    ci_lower: float = _NAN
    ci_upper: float = _NAN
    p_value: float = _NAN
    q: float = _NAN
    q_df: float = _NAN
    q_p_value: float = _NAN
    egger_intercept: float = _NAN
    egger_intercept_standard_error: float = _NAN
    egger_intercept_p_value: float = _NAN
    presso_global_rss: float = _NAN
    presso_global_p_value: float = _NAN
    presso_outliers: tuple[int, ...] = ()
    presso_outlier_p_values: tuple[float, ...] = ()
    presso_distortion_p_value: float = _NAN
    presso_raw_beta: float = _NAN
    presso_raw_standard_error: float = _NAN
    radial_q_contributions: tuple[float, ...] = ()
    radial_outliers: tuple[int, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether the method produced an estimate (a finite ``beta``)."""
        return bool(np.isfinite(self.beta))

    def row(self) -> dict[str, Any]:
        """The fields of :data:`RESULT_COLUMNS` (less exposure and outcome) as a dict."""
        return {k: getattr(self, k) for k in RESULT_COLUMNS[2:]}


@dataclass(frozen=True)
class MRParameters:
    """Settings shared by the estimators (TwoSampleMR's ``default_parameters()``, snake_case).

    Attributes
    ----------
    nboot : int, default=1000
        Bootstrap replicates for the median and mode SEs.
    phi : float, default=1.0
        Bandwidth factor of the mode-based estimators.
    alpha : float, default=0.05
        1 - confidence level of ``ci_low``/``ci_high``.
    seed : int, default=1
        Seed of every random step (bootstrap, MR-PRESSO).
    egger_distribution : {"t", "normal"}, default="t"
        Reference distribution of the Egger slope and intercept tests and CIs: ``"t"`` with
        n - 2 degrees of freedom (TwoSampleMR) or ``"normal"`` (MendelianRandomization).
    median_weights : {"second_order", "first_order"}, default="second_order"
        Weighted-median weights: inverse second-order variance of the ratio estimate
        (TwoSampleMR) or ``b_exp^2 / se_out^2`` (MendelianRandomization).
    presso_nboot : int, default=1000
        Simulated data sets of MR-PRESSO's global, outlier and distortion tests.
    presso_signif : float, default=0.05
        MR-PRESSO's significance threshold for the global test and outliers.
    penk : float, default=20.0
        Penalisation constant of the penalised weighted median (TwoSampleMR's ``penk``): a
        SNP's weight is multiplied by min(1, ``penk`` x P of its heterogeneity).
    radial_weights : {"modified_second_order", "first_order", "second_order"}, default="modified_second_order"
        Weights of radial MR (Bowden et al. 2018; RadialMR's ``weights`` 3, 1, 2).
    radial_alpha : float, default=0.05
        Radial MR outliers: SNPs whose Q contribution has P < ``radial_alpha`` / nsnp
        (Bonferroni, as RadialMR is used with ``alpha = 0.05 / nrow``).
    """

    nboot: int = 1000
    phi: float = 1.0
    alpha: float = 0.05
    seed: int = 1
    egger_distribution: str = "t"
    median_weights: str = "second_order"
    presso_nboot: int = 1000
    presso_signif: float = 0.05
    penk: float = 20.0
    radial_weights: str = "modified_second_order"
    radial_alpha: float = 0.05

    def __post_init__(self) -> None:
        check_one_of("MRParameters/egger_distribution", self.egger_distribution, ("t", "normal"))
        check_one_of("MRParameters/median_weights", self.median_weights, ("second_order", "first_order"))
        check_positive("MRParameters/nboot", self.nboot)
        check_positive("MRParameters/presso_nboot", self.presso_nboot)
        check_positive("MRParameters/phi", self.phi)
        check_positive("MRParameters/penk", self.penk)
        check_one_of("MRParameters/radial_weights", self.radial_weights,
                     ("modified_second_order", "first_order", "second_order"))
        if not 0 < self.radial_alpha < 1:
            raise fail("MRParameters/radial_alpha", f"expected a value in (0, 1), found {self.radial_alpha!r}")
        if not 0 < self.alpha < 1:
            raise fail("MRParameters/alpha", f"expected a value in (0, 1), found {self.alpha!r}")

    def with_(self, **kwargs: Any) -> MRParameters:
        return replace(self, **kwargs)


# --------------------------------------------------------------------------------------------
# helpers


def _na(method: str, nsnp: int) -> MREstimate:
    return MREstimate(method=method, nsnp=int(nsnp))


def _normal_row(method: str, b: float, se: float, nsnp: int, alpha: float, **extra: Any) -> MREstimate:
    z = stats.norm.ppf(1 - alpha / 2)
    p = wald_p(b, se) if se > 0 else np.nan
    return MREstimate(method=method, nsnp=int(nsnp), beta=float(b), standard_error=float(se),
                      ci_lower=float(b - z * se), ci_upper=float(b + z * se), p_value=float(p), **extra)


def _t_row(method: str, b: float, se: float, nsnp: int, df: int, alpha: float, **extra: Any) -> MREstimate:
    q = stats.t.ppf(1 - alpha / 2, df)
    p = 2 * stats.t.sf(abs(b / se), df) if se > 0 else np.nan
    return MREstimate(method=method, nsnp=int(nsnp), beta=float(b), standard_error=float(se),
                      ci_lower=float(b - q * se), ci_upper=float(b + q * se), p_value=float(p), **extra)


def _arrays(b_exp, b_out, se_exp, se_out) -> tuple[np.ndarray, ...]:
    arrs = [np.asarray(a, dtype=float) for a in (b_exp, b_out, se_exp, se_out)]
    ok = np.all([np.isfinite(a) for a in arrs], axis=0)
    return tuple(a[ok] for a in arrs)


def _r_mad(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """R's ``mad()``: median absolute deviation scaled by 1.4826."""
    med = np.median(x, axis=axis, keepdims=True)
    return 1.4826 * np.median(np.abs(x - med), axis=axis)


# --------------------------------------------------------------------------------------------
# estimators


def mr_wald_ratio(b_exp, b_out, se_exp, se_out, params: MRParameters = MRParameters()) -> MREstimate:
    """Wald ratio ``b_out / b_exp`` with first-order SE ``se_out / |b_exp|`` (exactly one SNP)."""
    bx, by, _sx, sy = _arrays(b_exp, b_out, se_exp, se_out)
    if len(bx) != 1:
        return _na("wald_ratio", len(bx))
    return _normal_row("wald_ratio", by[0] / bx[0], sy[0] / abs(bx[0]), 1, params.alpha)


def _ivw_core(bx: np.ndarray, by: np.ndarray, sy: np.ndarray) -> tuple[float, float, float]:
    """Weighted no-intercept regression: estimate, unscaled SE, residual variance (sigma^2)."""
    w = 1.0 / sy**2
    sxx = np.sum(w * bx * bx)
    b = np.sum(w * bx * by) / sxx
    rss = np.sum(w * (by - b * bx) ** 2)
    return b, 1.0 / np.sqrt(sxx), rss / (len(bx) - 1)


def mr_ivw(b_exp, b_out, se_exp, se_out, params: MRParameters = MRParameters()) -> MREstimate:
    """IVW, multiplicative random effects: SE scaled by the residual SE when it exceeds 1.

    The weighted regression of ``b_out`` on ``b_exp`` through the origin, weights
    ``se_out^-2``; SE = unscaled SE x max(1, residual SE) (TwoSampleMR ``mr_ivw``,
    MendelianRandomization ``mr_ivw(model="random")``). Cochran's Q = (n - 1) sigma^2.
    """
    bx, by, _sx, sy = _arrays(b_exp, b_out, se_exp, se_out)
    n = len(bx)
    if n < 2:
        return _na("ivw", n)
    b, s0, sigma2 = _ivw_core(bx, by, sy)
    q = sigma2 * (n - 1)
    return _normal_row("ivw", b, s0 * max(1.0, np.sqrt(sigma2)), n, params.alpha,
                       q=float(q), q_df=float(n - 1), q_p_value=float(stats.chi2.sf(q, n - 1)))


def mr_ivw_fixed(b_exp, b_out, se_exp, se_out, params: MRParameters = MRParameters()) -> MREstimate:
    """IVW, fixed effect: SE = 1 / sqrt(sum(b_exp^2 / se_out^2)) (TwoSampleMR ``mr_ivw_fe``)."""
    bx, by, _sx, sy = _arrays(b_exp, b_out, se_exp, se_out)
    n = len(bx)
    if n < 2:
        return _na("ivw_fixed", n)
    b, s0, sigma2 = _ivw_core(bx, by, sy)
    q = sigma2 * (n - 1)
    return _normal_row("ivw_fixed", b, s0, n, params.alpha,
                       q=float(q), q_df=float(n - 1), q_p_value=float(stats.chi2.sf(q, n - 1)))


def mr_egger(b_exp, b_out, se_exp, se_out, params: MRParameters = MRParameters()) -> MREstimate:
    """MR-Egger: weighted regression of ``b_out`` on ``b_exp`` with an intercept.

    SNPs are first oriented so that ``b_exp`` > 0 (sign of the outcome effect follows), as both
    R packages do; weights ``se_out^-2``; SEs scaled by max(1, residual SE). Slope and intercept
    tests use ``params.egger_distribution`` (t with n - 2 df, or normal).
    """
    bx, by, _sx, sy = _arrays(b_exp, b_out, se_exp, se_out)
    n = len(bx)
    if n < 3:
        return _na("egger", n)
    sign = np.where(bx < 0, -1.0, 1.0)  # R's sign0: zero counts as positive
    x, y, w = np.abs(bx), by * sign, 1.0 / sy**2
    X = np.column_stack([np.ones(n), x])
    xtwx = X.T @ (X * w[:, None])
    inv = np.linalg.inv(xtwx)
    coef = inv @ (X.T @ (w * y))
    rss = np.sum(w * (y - X @ coef) ** 2)
    sigma = np.sqrt(rss / (n - 2))
    se = np.sqrt(np.diag(inv)) * max(1.0, sigma)
    q = rss
    if params.egger_distribution == "t":
        p_i = 2 * stats.t.sf(abs(coef[0] / se[0]), n - 2)
    else:
        p_i = wald_p(coef[0], se[0])
    extra = {"q": float(q), "q_df": float(n - 2), "q_p_value": float(stats.chi2.sf(q, n - 2)),
             "egger_intercept": float(coef[0]), "egger_intercept_standard_error": float(se[0]),
             "egger_intercept_p_value": float(p_i)}
    if params.egger_distribution == "t":
        return _t_row("egger", coef[1], se[1], n, n - 2, params.alpha, **extra)
    return _normal_row("egger", coef[1], se[1], n, params.alpha, **extra)


def weighted_median(beta_iv: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted median of ratio estimates by linear interpolation (Bowden et al. 2016).

    Works on the last axis, so a (n_boot, n_snp) matrix gives one median per row. Identical to
    ``weighted_median`` of TwoSampleMR and ``weighted.median`` of MendelianRandomization.
    """
    beta_iv = np.atleast_2d(beta_iv)
    weights = np.broadcast_to(np.atleast_2d(weights), beta_iv.shape)
    order = np.argsort(beta_iv, axis=-1, kind="stable")
    b = np.take_along_axis(beta_iv, order, -1)
    w = np.take_along_axis(weights, order, -1)
    cs = np.cumsum(w, axis=-1) - 0.5 * w
    cs = cs / w.sum(axis=-1, keepdims=True)
    below = np.clip((cs < 0.5).sum(axis=-1) - 1, 0, b.shape[-1] - 2)
    rows = np.arange(b.shape[0])
    b0, b1 = b[rows, below], b[rows, below + 1]
    c0, c1 = cs[rows, below], cs[rows, below + 1]
    return b0 + (b1 - b0) * (0.5 - c0) / (c1 - c0)


def _median_generic(method: str, bx, by, sx, sy, weights, params: MRParameters) -> MREstimate:
    n = len(bx)
    est = float(weighted_median(by / bx, weights)[0])
    rng = np.random.default_rng(params.seed)
    bxb = rng.normal(bx, sx, size=(params.nboot, n))
    byb = rng.normal(by, sy, size=(params.nboot, n))
    # Weights stay fixed across replicates, as in both R packages' bootstrap.
    boot = weighted_median(byb / bxb, weights)
    return _normal_row(method, est, float(np.std(boot, ddof=1)), n, params.alpha)


def mr_simple_median(b_exp, b_out, se_exp, se_out, params: MRParameters = MRParameters()) -> MREstimate:
    """Simple median of the ratio estimates; SE by parametric bootstrap (``params.nboot``)."""
    bx, by, sx, sy = _arrays(b_exp, b_out, se_exp, se_out)
    if len(bx) < 3:
        return _na("simple_median", len(bx))
    return _median_generic("simple_median", bx, by, sx, sy, np.full(len(bx), 1.0 / len(bx)), params)


def mr_weighted_median(b_exp, b_out, se_exp, se_out, params: MRParameters = MRParameters()) -> MREstimate:
    """Weighted median of the ratio estimates (Bowden et al. 2016); bootstrap SE.

    Weights: inverse second-order variance ``se_out^2/b_exp^2 + b_out^2 se_exp^2/b_exp^4``
    (TwoSampleMR) or ``b_exp^2/se_out^2`` (MendelianRandomization), per ``params.median_weights``.
    """
    bx, by, sx, sy = _arrays(b_exp, b_out, se_exp, se_out)
    if len(bx) < 3:
        return _na("weighted_median", len(bx))
    return _median_generic("weighted_median", bx, by, sx, sy, _median_weights(bx, by, sx, sy, params), params)


def _r_density_mode(x: np.ndarray, w: np.ndarray, bw: np.ndarray, n: int = 512, cut: float = 3.0) -> np.ndarray:
    """Location of the maximum of R's ``density(x, weights=w, bw=bw)`` (Gaussian kernel).

    A line-for-line vectorisation of R's FFT density: linear binning (``BinDist``) on 2n cells
    over [min - (cut+4) bw, max + (cut+4) bw], circular convolution with the kernel, linear
    interpolation onto n points from min - cut bw to max + cut bw; the first grid point with the
    largest density is the mode. Rows of ``x`` (shape (B, k)) are independent data sets.
    Matching R's grid matters: the mode is a grid point, so another grid moves it by up to one
    grid step.
    """
    x = np.atleast_2d(x)
    w = np.broadcast_to(np.atleast_2d(w), x.shape)
    B = x.shape[0]
    bw = np.broadcast_to(np.asarray(bw, dtype=float), (B,))
    frm = x.min(axis=1) - cut * bw
    to = x.max(axis=1) + cut * bw
    lo = frm - 4 * bw
    up = to + 4 * bw
    xdelta = (up - lo) / (n - 1)
    xpos = (x - lo[:, None]) / xdelta[:, None]
    ix = np.floor(xpos).astype(np.int64)
    fx = xpos - ix
    # BinDist: linear binning, cells ix and ix + 1, with R's edge rules (flattened bincount).
    base = (np.arange(B) * 2 * n)[:, None]
    inside = (ix >= 0) & (ix <= n - 2)
    left = ix == -1
    right = ix == n - 1
    idx = np.concatenate([(base + ix)[inside], (base + ix + 1)[inside], np.broadcast_to(base, x.shape)[left],
                          (base + ix)[right]])
    val = np.concatenate([(w * (1 - fx))[inside], (w * fx)[inside], (w * fx)[left], (w * (1 - fx))[right]])
    y = np.bincount(idx, weights=val, minlength=B * 2 * n).reshape(B, 2 * n)
    kords = np.linspace(0.0, 1.0, 2 * n)[None, :] * (2 * (up - lo))[:, None]
    kords[:, n + 1:] = -kords[:, n - 1:0:-1]
    kern = np.exp(-0.5 * (kords / bw[:, None]) ** 2) / (np.sqrt(2 * np.pi) * bw[:, None])
    # The kernel is symmetric on the circle, so conj(fft(kern)) = fft(kern) and real FFTs suffice.
    conv = np.fft.irfft(np.fft.rfft(y, axis=1) * np.conj(np.fft.rfft(kern, axis=1)), n=2 * n, axis=1)
    dens = np.maximum(0.0, conv[:, :n])
    grid = frm[:, None] + (to - frm)[:, None] * np.linspace(0.0, 1.0, n)[None, :]
    # approx(): xords and grid are both uniform, so interpolate by index arithmetic per row.
    pos = (grid - lo[:, None]) / xdelta[:, None]
    j = np.clip(np.floor(pos).astype(np.int64), 0, n - 2)
    t = pos - j
    r = np.arange(B)[:, None]
    vals = dens[r, j] * (1 - t) + dens[r, j + 1] * t
    return grid[np.arange(B), np.argmax(vals, axis=1)]


def _mode_estimate(beta_iv: np.ndarray, se_iv: np.ndarray, phi: float) -> np.ndarray:
    """Mode-based estimate (Hartwig et al. 2017), per row of ``beta_iv``; weights ``se_iv^-2``."""
    beta_iv = np.atleast_2d(beta_iv)
    k = beta_iv.shape[1]
    s = 0.9 * np.minimum(np.std(beta_iv, axis=1, ddof=1), _r_mad(beta_iv, axis=1)) / k ** (1 / 5)
    h = np.maximum(1e-8, s * phi)
    wts = np.atleast_2d(se_iv) ** -2.0
    wts = wts / wts.sum(axis=1, keepdims=True)
    return _r_density_mode(beta_iv, wts, h)


def _mode_generic(b_exp, b_out, se_exp, se_out, params: MRParameters, weighted: bool) -> MREstimate:
    method = "weighted_mode" if weighted else "simple_mode"
    bx, by, sx, sy = _arrays(b_exp, b_out, se_exp, se_out)
    n = len(bx)
    if n < 3:
        return _na(method, n)
    beta_iv = by / bx
    # Second-order SEs ("not assuming NOME"), the default of both R packages.
    se_iv = np.sqrt(sy**2 / bx**2 + by**2 * sx**2 / bx**4)
    wse = se_iv if weighted else np.ones(n)
    est = float(_mode_estimate(beta_iv, wse, params.phi)[0])
    rng = np.random.default_rng(params.seed)
    boot_iv = rng.normal(beta_iv, se_iv, size=(params.nboot, n))
    boot = _mode_estimate(boot_iv, wse, params.phi)
    return _normal_row(method, est, float(_r_mad(boot)), n, params.alpha)


def mr_simple_mode(b_exp, b_out, se_exp, se_out, params: MRParameters = MRParameters()) -> MREstimate:
    """Simple (unweighted) mode-based estimate; SE = MAD of bootstrap modes."""
    return _mode_generic(b_exp, b_out, se_exp, se_out, params, weighted=False)


def mr_weighted_mode(b_exp, b_out, se_exp, se_out, params: MRParameters = MRParameters()) -> MREstimate:
    """Weighted mode-based estimate (MBE): kernel density of ratio estimates weighted by
    second-order inverse variances, bandwidth 0.9 min(sd, mad) n^-1/5 x phi; SE = MAD of
    bootstrap modes (TwoSampleMR ``mr_weighted_mode``, MendelianRandomization ``mr_mbe``)."""
    return _mode_generic(b_exp, b_out, se_exp, se_out, params, weighted=True)


def mr_raps(b_exp, b_out, se_exp, se_out, params: MRParameters = MRParameters()) -> MREstimate:
    """Robust adjusted profile score without overdispersion (Zhao et al. 2020, ``mr.raps.simple``).

    Maximises the profile log-likelihood
    ``-1/2 sum (b_out - beta b_exp)^2 / (se_out^2 + beta^2 se_exp^2)``, which accounts for
    measurement error in ``b_exp`` (weak instruments); sandwich SE from the adjusted score.
    """
    bx, by, sx, sy = _arrays(b_exp, b_out, se_exp, se_out)
    n = len(bx)
    if n < 2:
        return _na("mr_raps", n)

    def negll(beta: float) -> float:
        return 0.5 * np.sum((by - bx * beta) ** 2 / (sy**2 + sx**2 * beta**2))

    bound = 2 * float(np.quantile(np.abs(by / bx), 0.95))
    for _ in range(20):
        res = optimize.minimize_scalar(negll, bounds=(-bound, bound), method="bounded",
                                       options={"xatol": 1e-10})
        if abs(res.x) < 0.95 * bound:
            break
        bound *= 2
    b = float(res.x)
    denom = (sy**2 + b**2 * sx**2) ** 2
    score_var = np.sum(((bx**2 - sx**2) * sy**2 + (by**2 - sy**2) * sx**2 + sx**2 * sy**2) / denom)
    info = np.sum(((bx**2 - sx**2) * sy**2 + (by**2 - sy**2) * sx**2) / denom)
    se = float(np.sqrt(score_var / info**2)) if info > 0 else np.nan
    return _normal_row("mr_raps", b, se, n, params.alpha)


def mr_presso(b_exp, b_out, se_exp, se_out, params: MRParameters = MRParameters()) -> MREstimate:
    """MR-PRESSO (Verbanck et al. 2018): global, outlier and distortion tests, seeded.

    The global test compares the observed residual sum of squares of leave-one-out IVW fits
    with its distribution over ``params.presso_nboot`` data sets simulated from the
    leave-one-out fits; the outlier test does the same per SNP (Bonferroni-corrected); the
    distortion test compares the change in the IVW estimate on removing the outliers with
    random removals. The returned estimate is the outlier-corrected IVW (weighted regression
    through the origin, t reference with n - 1 df, as MR-PRESSO reports) when the global test
    is significant and outliers are found, else the raw one. The ``presso_*`` fields carry
    the tests: ``presso_global_rss``, ``presso_global_p_value``, ``presso_outliers`` (indices),
    ``presso_outlier_p_values``, ``presso_distortion_p_value`` and the raw IVW
    (``presso_raw_beta``, ``presso_raw_standard_error``).
    """
    bx, by, sx, sy = _arrays(b_exp, b_out, se_exp, se_out)
    n = len(bx)
    if n < 4:  # the LOO fits need >= 3 SNPs each
        return MREstimate(method="mr_presso", nsnp=n, presso_outlier_p_values=(np.nan,) * n)
    rng = np.random.default_rng(params.seed)
    w = 1.0 / sy**2
    D = params.presso_nboot

    def loo(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        sxy = np.sum(w * x * y, axis=-1, keepdims=True)
        sxx = np.sum(w * x * x, axis=-1, keepdims=True)
        return (sxy - w * x * y) / (sxx - w * x * x)

    b_loo = loo(bx, by)
    rss_obs = float(np.sum(w * (by - b_loo * bx) ** 2))
    bx_sim = rng.normal(bx, sx, size=(D, n))
    by_sim = rng.normal(b_loo * bx, sy, size=(D, n))
    rss_exp = np.sum(w * (by_sim - loo(bx_sim, by_sim) * bx_sim) ** 2, axis=1)
    global_p = float(np.mean(rss_exp > rss_obs))
    dif = (by - bx * b_loo) ** 2
    exp = (by_sim - bx_sim * b_loo) ** 2
    outlier_p = np.minimum(1.0, np.mean(exp > dif, axis=0) * n)
    outliers = np.flatnonzero(outlier_p < params.presso_signif) if global_p < params.presso_signif else np.array([], int)

    def wls0(idx: np.ndarray) -> tuple[float, float, int]:
        b, s0, sigma2 = _ivw_core(bx[idx], by[idx], sy[idx])
        return b, s0 * np.sqrt(sigma2), len(idx)

    raw_b, raw_se, _ = wls0(np.arange(n))
    distortion_p = np.nan
    if 0 < len(outliers) <= n - 3:
        keep = np.setdiff1d(np.arange(n), outliers)
        b, se, k = wls0(keep)
        # Expected distortion: MR-PRESSO's reference draws the outliers plus a resample of the
        # other SNPs (n - 2k of them) and refits.
        m = n - 2 * len(outliers)
        bias_exp = np.empty(D)
        if m > 0:
            draws = rng.choice(keep, size=(D, m), replace=True)
            xs = np.concatenate([np.broadcast_to(bx[outliers], (D, len(outliers))), bx[draws]], axis=1)
            ys = np.concatenate([np.broadcast_to(by[outliers], (D, len(outliers))), by[draws]], axis=1)
            ws = np.concatenate([np.broadcast_to(w[outliers], (D, len(outliers))), w[draws]], axis=1)
            b_rand = np.sum(ws * xs * ys, axis=1) / np.sum(ws * xs * xs, axis=1)
            bias_exp = (raw_b - b_rand) / np.abs(b_rand)
            bias_obs = (raw_b - b) / abs(b)
            distortion_p = float(np.mean(np.abs(bias_exp) > abs(bias_obs)))
    else:
        b, se, k = raw_b, raw_se, n
    return _t_row("mr_presso", b, se, k, k - 1, params.alpha, presso_global_rss=rss_obs,
                  presso_global_p_value=global_p, presso_outliers=tuple(int(i) for i in outliers),
                  presso_outlier_p_values=tuple(float(x) for x in outlier_p),
                  presso_distortion_p_value=float(distortion_p), presso_raw_beta=float(raw_b),
                  presso_raw_standard_error=float(raw_se))


def _median_weights(bx: np.ndarray, by: np.ndarray, sx: np.ndarray, sy: np.ndarray, params: MRParameters) -> np.ndarray:
    if params.median_weights == "second_order":
        return 1.0 / (sy**2 / bx**2 + by**2 * sx**2 / bx**4)
    return bx**2 / sy**2


def mr_penalised_weighted_median(b_exp, b_out, se_exp, se_out, params: MRParameters = MRParameters()) -> MREstimate:
    """Penalised weighted median (Burgess et al. 2016); bootstrap SE.

    Each SNP's weight ``w_j`` (``params.median_weights``: TwoSampleMR's second-order weights or
    MendelianRandomization's ``b_exp^2 / se_out^2``) is multiplied by min(1, ``penk`` x P_j),
    P_j the chi-squared (1 df) P of ``w_j (ratio_j - weighted median)^2``; the estimate is the
    weighted median of the ratio estimates under these weights (TwoSampleMR
    ``mr_penalised_weighted_median``, MendelianRandomization ``mr_median(weighting =
    "penalized")``), its SE the parametric bootstrap with the penalised weights held fixed.
    """
    bx, by, sx, sy = _arrays(b_exp, b_out, se_exp, se_out)
    if len(bx) < 3:
        return _na("penalised_weighted_median", len(bx))
    ratio = by / bx
    w = _median_weights(bx, by, sx, sy, params)
    b_wm = float(weighted_median(ratio, w)[0])
    penalty = stats.chi2.sf(w * (ratio - b_wm) ** 2, 1)
    return _median_generic("penalised_weighted_median", bx, by, sx, sy, w * np.minimum(1.0, penalty * params.penk),
                           params)


def mr_egger_bootstrap(b_exp, b_out, se_exp, se_out, params: MRParameters = MRParameters()) -> MREstimate:
    """MR-Egger with bootstrap inference (Bowden et al. 2015; TwoSampleMR ``mr_egger_regression_bootstrap``).

    ``params.nboot`` data sets are drawn from N(b_exp, se_exp^2) and N(b_out, se_out^2)
    (seeded by ``params.seed``), each oriented to ``b_exp > 0`` and refitted by the weighted
    Egger regression (weights ``se_out^-2``, the fit of :func:`mr_egger`). The slope and the
    intercept are the means of the replicates, their SEs the replicates' SDs, the CIs the
    replicates' (alpha/2, 1 - alpha/2) quantiles and the P values twice the share of replicates
    on the other side of zero from the mean (TwoSampleMR reports that share once, a one-sided
    P, and refits with ``linreg``, cov(w x, w y) / var(w x), which is not the weighted least
    squares fit of its own ``mr_egger_regression``).
    """
    bx, by, sx, sy = _arrays(b_exp, b_out, se_exp, se_out)
    n = len(bx)
    if n < 3:
        return _na("egger_bootstrap", n)
    rng = np.random.default_rng(params.seed)
    xs = rng.normal(bx, sx, size=(params.nboot, n))
    ys = rng.normal(by, sy, size=(params.nboot, n))
    ys = ys * np.where(xs < 0, -1.0, 1.0)
    xs = np.abs(xs)
    w = 1.0 / sy**2
    sw = w.sum()
    mx = (xs * w).sum(axis=1, keepdims=True) / sw
    my = (ys * w).sum(axis=1, keepdims=True) / sw
    slope = (w * (xs - mx) * (ys - my)).sum(axis=1) / (w * (xs - mx) ** 2).sum(axis=1)
    icpt = my[:, 0] - slope * mx[:, 0]

    def summarise(v: np.ndarray) -> tuple[float, float, float, float, float]:
        v = v[np.isfinite(v)]
        m = float(np.mean(v))
        other = np.mean(v < 0) if m >= 0 else np.mean(v > 0)
        lo, hi = np.quantile(v, [params.alpha / 2, 1 - params.alpha / 2])
        return m, float(np.std(v, ddof=1)), float(lo), float(hi), float(min(1.0, 2 * other))

    b, se, lo, hi, p = summarise(slope)
    bi, sei, _, _, pi = summarise(icpt)
    return MREstimate(method="egger_bootstrap", nsnp=n, beta=b, standard_error=se, ci_lower=lo, ci_upper=hi,
                      p_value=p, egger_intercept=bi, egger_intercept_standard_error=sei, egger_intercept_p_value=pi)


def _radial_w(bx: np.ndarray, by: np.ndarray, sx: np.ndarray, sy: np.ndarray, kind: str) -> np.ndarray:
    """RadialMR's first-order (1) or second-order (2) inverse-variance weights of the ratio estimates."""
    if kind == "second_order":
        return 1.0 / (sy**2 / bx**2 + by**2 * sx**2 / bx**4)
    return bx**2 / sy**2


def _radial_fit(ratio: np.ndarray, w: np.ndarray, intercept: bool) -> tuple[np.ndarray, np.ndarray, float]:
    """OLS of ratio sqrt(w) on sqrt(w) (with or without an intercept): coefficients, lm SEs, df."""
    wj = np.sqrt(w)
    X = np.column_stack([np.ones_like(wj), wj]) if intercept else wj[:, None]
    y = ratio * wj
    xtx_inv = np.linalg.inv(X.T @ X)
    coef = xtx_inv @ (X.T @ y)
    df = len(y) - X.shape[1]
    sigma2 = float(np.sum((y - X @ coef) ** 2) / df)
    return coef, np.sqrt(np.diag(xtx_inv) * sigma2), df


def _radial(method: str, b_exp, b_out, se_exp, se_out, params: MRParameters, intercept: bool) -> MREstimate:
    bx, by, sx, sy = _arrays(b_exp, b_out, se_exp, se_out)
    n = len(bx)
    if n < (3 if intercept else 2):
        return _na(method, n)
    ratio = by / bx
    kind = params.radial_weights
    w = _radial_w(bx, by, sx, sy, "second_order" if kind == "second_order" else "first_order")
    coef, se, df = _radial_fit(ratio, w, intercept)
    if kind == "modified_second_order":  # refit with se_exp through the first-order slope
        w = 1.0 / ((sy**2 + coef[-1] ** 2 * sx**2) / bx**2)
        coef, se, df = _radial_fit(ratio, w, intercept)
    qj = w * (ratio - (coef[0] / np.sqrt(w) if intercept else 0.0) - coef[-1]) ** 2
    q = float(qj.sum())
    outliers = np.flatnonzero(stats.chi2.sf(qj, 1) < params.radial_alpha / n)
    extra: dict[str, Any] = {"q": q, "q_df": float(df), "q_p_value": float(stats.chi2.sf(q, df)),
                             "radial_q_contributions": tuple(float(x) for x in qj),
                             "radial_outliers": tuple(int(i) for i in outliers)}
    if intercept:
        extra.update(egger_intercept=float(coef[0]), egger_intercept_standard_error=float(se[0]),
                     egger_intercept_p_value=float(2 * stats.t.sf(abs(coef[0] / se[0]), df)))
    return _t_row(method, coef[-1], se[-1], n, df, params.alpha, **extra)


def mr_radial_ivw(b_exp, b_out, se_exp, se_out, params: MRParameters = MRParameters()) -> MREstimate:
    """Radial IVW (Bowden et al. 2018; RadialMR ``ivw_radial``).

    The regression through the origin of ``ratio_j sqrt(W_j)`` on ``sqrt(W_j)``, ``ratio_j =
    b_out / b_exp``, with ``params.radial_weights``: first order ``W_j = b_exp^2 / se_out^2``,
    second order ``1 / (se_out^2 / b_exp^2 + b_out^2 se_exp^2 / b_exp^4)``, or modified second
    order (default): ``1 / ((se_out^2 + beta_1^2 se_exp^2) / b_exp^2)`` with ``beta_1`` the
    first-order estimate, then refitted. SE, CI and P are those of the regression (residual
    SE as estimated, t with n - 1 df), as RadialMR reports them. Q = sum Q_j,
    ``Q_j = W_j (ratio_j - beta)^2`` (``radial_q_contributions``); outliers
    (``radial_outliers``): chi-squared (1 df) P of Q_j below ``radial_alpha`` / n. With
    first-order weights the estimate and Q are those of :func:`mr_ivw`.
    """
    return _radial("radial_ivw", b_exp, b_out, se_exp, se_out, params, intercept=False)


def mr_radial_egger(b_exp, b_out, se_exp, se_out, params: MRParameters = MRParameters()) -> MREstimate:
    """Radial MR-Egger (Bowden et al. 2018; RadialMR ``egger_radial``): the radial regression
    of :func:`mr_radial_ivw` with an intercept (``egger_intercept``, the directional pleiotropy
    on the radial scale); t with n - 2 df; ``Q_j = W_j (ratio_j - intercept / sqrt(W_j) -
    beta)^2``, outliers as :func:`mr_radial_ivw`. No orientation is needed: the radial axes do
    not depend on which allele is counted."""
    return _radial("radial_egger", b_exp, b_out, se_exp, se_out, params, intercept=True)


# --------------------------------------------------------------------------------------------
# registry


@dataclass(frozen=True)
class MRMethod:
    """One estimator of the registry (TwoSampleMR's ``mr_method_list()`` row).

    Attributes
    ----------
    name : str
        Registry name, the ``method`` column of the results.
    display_name : str
        Human-readable name (TwoSampleMR's ``method``).
    func : callable
        ``func(b_exp, b_out, se_exp, se_out, params) -> MREstimate``.
    use_by_default : bool
        In the ``"default"`` set (TwoSampleMR's defaults).
    heterogeneity_test : bool
        The fit carries Cochran's Q (``q, q_df, q_p_value``).
    min_snps : int
        Fewest SNPs the method needs; fewer gives an NA estimate.
    citation : str
    """

    name: str
    display_name: str
    func: Callable[..., MREstimate] = field(repr=False)
    use_by_default: bool
    heterogeneity_test: bool
    min_snps: int
    citation: str


_REGISTRY: tuple[MRMethod, ...] = (
    MRMethod(name="wald_ratio", display_name="Wald ratio", func=mr_wald_ratio, use_by_default=True,
             heterogeneity_test=False, min_snps=1, citation="Wald A (1940) Ann Math Stat 11:284"),
    MRMethod(name="ivw", display_name="Inverse variance weighted (multiplicative random effects)", func=mr_ivw,
             use_by_default=True, heterogeneity_test=True, min_snps=2,
             citation="Burgess S et al. (2013) Genet Epidemiol 37:658"),
    MRMethod(name="ivw_fixed", display_name="Inverse variance weighted (fixed effects)", func=mr_ivw_fixed,
             use_by_default=False, heterogeneity_test=True, min_snps=2,
             citation="Burgess S et al. (2013) Genet Epidemiol 37:658"),
    MRMethod(name="egger", display_name="MR Egger", func=mr_egger, use_by_default=True, heterogeneity_test=True,
             min_snps=3, citation="Bowden J et al. (2015) Int J Epidemiol 44:512"),
    MRMethod(name="simple_median", display_name="Simple median", func=mr_simple_median, use_by_default=False,
             heterogeneity_test=False, min_snps=3, citation="Bowden J et al. (2016) Genet Epidemiol 40:304"),
    MRMethod(name="weighted_median", display_name="Weighted median", func=mr_weighted_median,
             use_by_default=True, heterogeneity_test=False, min_snps=3,
             citation="Bowden J et al. (2016) Genet Epidemiol 40:304"),
    MRMethod(name="simple_mode", display_name="Simple mode", func=mr_simple_mode, use_by_default=False,
             heterogeneity_test=False, min_snps=3, citation="Hartwig FP et al. (2017) Int J Epidemiol 46:1985"),
    MRMethod(name="weighted_mode", display_name="Weighted mode", func=mr_weighted_mode, use_by_default=True,
             heterogeneity_test=False, min_snps=3, citation="Hartwig FP et al. (2017) Int J Epidemiol 46:1985"),
    MRMethod(name="mr_presso", display_name="MR-PRESSO (outlier-corrected IVW)", func=mr_presso,
             use_by_default=False, heterogeneity_test=False, min_snps=4,
             citation="Verbanck M et al. (2018) Nat Genet 50:693"),
    MRMethod(name="mr_raps", display_name="Robust adjusted profile score (RAPS)", func=mr_raps,
             use_by_default=False, heterogeneity_test=False, min_snps=2,
             citation="Zhao Q et al. (2020) Ann Stat 48:1742"),
    MRMethod(name="penalised_weighted_median", display_name="Penalised weighted median",
             func=mr_penalised_weighted_median, use_by_default=False, heterogeneity_test=False, min_snps=3,
             citation="Burgess S et al. (2016) Epidemiology 27:793"),
    MRMethod(name="egger_bootstrap", display_name="MR Egger (bootstrap)", func=mr_egger_bootstrap,
             use_by_default=False, heterogeneity_test=False, min_snps=3,
             citation="Bowden J et al. (2015) Int J Epidemiol 44:512"),
    MRMethod(name="radial_ivw", display_name="Radial IVW", func=mr_radial_ivw, use_by_default=False,
             heterogeneity_test=True, min_snps=2, citation="Bowden J et al. (2018) Int J Epidemiol 47:1264"),
    MRMethod(name="radial_egger", display_name="Radial MR-Egger", func=mr_radial_egger, use_by_default=False,
             heterogeneity_test=True, min_snps=3, citation="Bowden J et al. (2018) Int J Epidemiol 47:1264"),
)

#: name -> :class:`MRMethod`.
METHODS: dict[str, MRMethod] = {m.name: m for m in _REGISTRY}


def method_list() -> pd.DataFrame:
    """The method registry as a table: ``name, display_name, use_by_default,
    heterogeneity_test, min_snps, citation``."""
    return pd.DataFrame(
        [{k: getattr(m, k) for k in ("name", "display_name", "use_by_default", "heterogeneity_test",
                                    "min_snps", "citation")} for m in _REGISTRY]
    )


def resolve_methods(methods: str | list[str] | tuple[str, ...] | None, where: str = "run_mr/methods") -> list[str]:
    """``None``/``"default"`` -> the default set; ``"all"`` -> every method; else check names."""
    if methods is None or methods == "default":
        return [m.name for m in _REGISTRY if m.use_by_default]
    if methods == "all":
        return [m.name for m in _REGISTRY]
    if isinstance(methods, str):
        methods = [s.strip() for s in methods.split(",") if s.strip()]
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise fail(where, f"unknown method(s) {unknown}; known: {list(METHODS)} (or 'default', 'all')")
    return list(dict.fromkeys(methods))

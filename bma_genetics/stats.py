"""Shared statistics: tail probabilities, genomic inflation, multiple testing, chromosome order.

One home (layer 1, below the stages) for the small formulas several stages and the plots need:

- :func:`t_logsf`, :func:`neg_log10_p`: Student-t / normal tails, finite where P underflows;
- :func:`wald_p`, :func:`wald_neg_log10_p`: two-sided Wald test of ``beta / se``;
- :func:`lambda_gc`: genomic inflation factor;
- :func:`bonferroni`, :func:`fdr_bh`, :func:`multiple_testing`: adjusted P values, NaN kept;
- :func:`chromosome_rank`, :func:`sort_chromosomes`: 1..22, X, Y, XY, MT (``23`` = X);
- :func:`icc`: intraclass correlation (Shrout & Fleiss ICC(2,1) and ICC(3,1)) with F-based CIs.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from bma_genetics._check import fail


class _LazyStats:
    """``scipy.stats``, imported on first use: it costs ~0.6 s of CPU at import, more than a
    command such as ``bma-genetics ldsc munge`` spends on its work, and most uses here are rare."""

    def __getattr__(self, name: str) -> Any:
        from scipy import stats

        return getattr(stats, name)


_st = _LazyStats()

__all__ = [
    "CHI2_MEDIAN", "MULTIPLE_TESTING_METHODS", "UNKNOWN_CHROMOSOME_RANK",
    "bonferroni", "chromosome_rank", "fdr_bh", "icc", "lambda_gc", "multiple_testing", "neg_log10_p",
    "sort_chromosomes", "t_logsf", "wald_neg_log10_p", "wald_p",
]

#: Median of the 1-df chi-square distribution, the null value of λGC's numerator: the double
#: ``scipy.stats.chi2.ppf(0.5, 1)`` returns (tests/test_stats.py checks it).
CHI2_MEDIAN = 0.454936423119572


# --------------------------------------------------------------------------- tail probabilities
def t_logsf(t: float, df: float) -> float:
    """Natural log of the upper tail ``P(T > t)`` of Student's t, finite far beyond 1e-308.

    ``sf = I_x(df/2, 1/2) / 2`` with ``x = df / (df + t^2)``; the regularised incomplete beta
    is taken in logs, its prefactor ``x^a (1-x)^b / (a B(a, b))`` analytically and the rest as
    Lentz's continued fraction (Numerical Recipes' ``betacf``), which converges for
    ``x < (a + 1) / (a + b + 2)``, i.e. for every ``t > sqrt(3)``. For ``t <= 2`` it is
    ``scipy.stats.t.logsf``.

    Parameters
    ----------
    t : float
        The statistic.
    df : float
        Degrees of freedom (> 0).

    Returns
    -------
    float
        ``log P(T > t)``.

    Examples
    --------
    >>> round(t_logsf(0.0, 10), 6) == round(math.log(0.5), 6)
    True
    >>> t_logsf(200.0, 500) > -float("inf")
    True
    """
    t, df = float(t), float(df)
    if t <= 2.0:
        return float(_st.t.logsf(t, df))
    a, b = df / 2.0, 0.5
    x = df / (df + t * t)
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 1_000_000):
        m2 = 2 * m
        for aa in (m * (b - m) * x / ((qam + m2) * (a + m2)), -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1.0 + aa * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + aa / c
            c = c if abs(c) > tiny else tiny
            delta = d * c
            h *= delta
        if abs(delta - 1.0) < 1e-16:
            break
    return a * math.log(x) + b * math.log1p(-x) - math.log(a) - float(special.betaln(a, b)) + math.log(h) + math.log(0.5)


def neg_log10_p(p: Any, t: Any = None, df: float | np.ndarray | None = None, *, normal: bool = False) -> np.ndarray:
    """``-log10 P`` of a two-sided test, exact below 1e-300 from the statistic.

    Where ``P >= 1e-300`` it is ``-log10(p)``. Where P is smaller (or 0 after underflow, as Hail's
    P is near 1e-308) and the statistic is finite, it is recomputed from ``|t|``: the Student-t
    tail with ``df`` degrees of freedom (``scipy.stats.t.logsf``, then :func:`t_logsf` where
    scipy also underflows), or the normal tail when ``normal=True`` (chi-square / Wald tests).

    Parameters
    ----------
    p : array-like of float
        Two-sided P values.
    t : array-like of float, optional
        The test statistics, same shape as ``p``. Without it, plain ``-log10(p)``
        (``inf`` where ``p == 0``).
    df : float or array-like, optional
        Degrees of freedom of the t statistic (broadcast to ``p``); required with ``t`` unless
        ``normal=True``.
    normal : bool, default=False
        Use the standard normal tail instead of Student's t.

    Returns
    -------
    numpy.ndarray of float
        ``-log10 P``, same shape as ``p``; NaN where ``p`` is NaN and ``t`` is not finite.

    Examples
    --------
    >>> neg_log10_p([0.01, 1.0]).tolist()
    [2.0, -0.0]
    >>> bool(neg_log10_p([0.0], [50.0], normal=True)[0] > 500)
    True
    """
    p = np.asarray(p, dtype=float)
    with np.errstate(divide="ignore"):
        out = -np.log10(p)
    if t is None:
        return out
    t = np.broadcast_to(np.asarray(t, dtype=float), p.shape)
    tiny = ~(p >= 1e-300) & np.isfinite(t)
    if tiny.any():
        if df is None and not normal:
            raise fail("neg_log10_p/df", "degrees of freedom are needed for a t statistic (or pass normal=True)")
        at = np.abs(t[tiny])
        if normal:
            logsf = _st.norm.logsf(at)
        else:
            dfv = np.broadcast_to(np.asarray(df, dtype=float), p.shape)[tiny]
            logsf = _st.t.logsf(at, dfv)
            # scipy's t.logsf is -inf once the tail passes ~1e-308 (|t| > 91 at df 495, > 38 at df 5e5)
            lost = ~np.isfinite(logsf)
            logsf[lost] = [t_logsf(a_, d_) for a_, d_ in zip(at[lost], dfv[lost], strict=True)]
        out[tiny] = -(logsf + math.log(2)) / math.log(10)
    return out


def _abs_z(beta: Any, se: Any) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.abs(np.asarray(beta, dtype=float) / np.asarray(se, dtype=float))


def wald_p(beta: Any, se: Any) -> np.ndarray:
    """Two-sided Wald P value ``2 Φ(-|beta / se|)``.

    Parameters
    ----------
    beta, se : array-like of float
        Estimates and their standard errors (broadcast together).

    Returns
    -------
    numpy.ndarray of float
        P values; NaN where ``beta / se`` is undefined; 0 once the tail underflows
        (use :func:`wald_neg_log10_p` there).

    Examples
    --------
    >>> round(float(wald_p(1.959963984540054, 1.0)), 6)
    0.05
    """
    return 2 * _st.norm.sf(_abs_z(beta, se))


def wald_neg_log10_p(beta: Any, se: Any) -> np.ndarray:
    """``-log10`` of the two-sided Wald P value, exact where the P value underflows.

    Parameters
    ----------
    beta, se : array-like of float
        Estimates and their standard errors (broadcast together).

    Returns
    -------
    numpy.ndarray of float
        ``-(log 2 + log Φ(-|beta / se|)) / log 10``; NaN where ``beta / se`` is undefined.

    Examples
    --------
    >>> bool(wald_neg_log10_p(60.0, 1.0) > 700)
    True
    """
    return -(math.log(2.0) + _st.norm.logsf(_abs_z(beta, se))) / math.log(10.0)


# --------------------------------------------------------------------------- genomic inflation
def lambda_gc(p: Any, neg_log10: Any = None) -> float:
    """Genomic inflation λGC: median 1-df chi-square implied by P over its null median (0.4549).

    Parameters
    ----------
    p : array-like of float
        P values; non-finite ones are ignored.
    neg_log10 : array-like of float, optional
        ``-log10 P`` aligned with ``p`` (e.g. ``neg_log_10_p_value``): where P is 0 in float64
        the chi-square comes from it, so it stays finite.

    Returns
    -------
    float
        λGC; NaN when no P value is finite.

    Examples
    --------
    >>> round(lambda_gc([0.2, 0.5, 0.8]), 6)
    1.0
    """
    p = np.asarray(p, dtype=float)
    ok = np.isfinite(p)
    if not ok.any():
        return float("nan")
    chi2 = _st.chi2.isf(p[ok], 1)
    if neg_log10 is not None:
        m = np.asarray(neg_log10, dtype=float)[ok]
        big = ~np.isfinite(chi2)
        # P = 0 in float64: z^2 from log P (never the median in practice, but keep it finite)
        chi2[big] = _st.norm.isf(0.5 * 10 ** -np.minimum(m[big], 300)) ** 2
    return float(np.median(chi2) / CHI2_MEDIAN)


# --------------------------------------------------------------------------- multiple testing
def bonferroni(p: Any) -> np.ndarray:
    """Bonferroni-adjusted P values ``min(1, p * m)``, ``m`` the number of finite P; NaN stays NaN.

    Parameters
    ----------
    p : array-like of float
        P values.

    Returns
    -------
    numpy.ndarray of float
        Adjusted P values, same shape as ``p``.

    Examples
    --------
    >>> bonferroni([0.01, 0.5, float("nan")]).tolist()
    [0.02, 1.0, nan]
    """
    p = np.asarray(p, dtype=np.float64)
    out = np.full_like(p, np.nan)
    ok = np.isfinite(p)
    out[ok] = np.minimum(1.0, p[ok] * int(ok.sum()))
    return out


def fdr_bh(p: Any) -> np.ndarray:
    """Benjamini-Hochberg adjusted P values (q values) over the finite P; NaN stays NaN.

    ``q_(i) = min_{j >= i} min(1, p_(j) m / j)`` for the ordered P values, ``m`` the number of
    finite ones (statsmodels' ``multipletests(p, method="fdr_bh")``).

    Parameters
    ----------
    p : array-like of float
        P values.

    Returns
    -------
    numpy.ndarray of float
        q values, same shape as ``p``.

    Examples
    --------
    >>> fdr_bh([0.01, 0.04, 0.03]).round(4).tolist()
    [0.03, 0.04, 0.04]
    """
    p = np.asarray(p, dtype=np.float64)
    out = np.full_like(p, np.nan)
    ok = np.isfinite(p)
    pv = p[ok]
    m = pv.size
    if m == 0:
        return out
    order = np.argsort(pv)
    ranked = pv[order] * m / np.arange(1, m + 1)
    q = np.minimum.accumulate(ranked[::-1])[::-1]
    res = np.empty(m)
    res[order] = np.minimum(q, 1.0)
    out[ok] = res
    return out


#: Canonical multiple-testing codes (statsmodels' names) -> adjusting function.
MULTIPLE_TESTING_METHODS = {"bonferroni": bonferroni, "fdr_bh": fdr_bh}


def multiple_testing(p: Any, method: str = "fdr_bh") -> np.ndarray:
    """Adjusted P values by a canonical method code.

    Parameters
    ----------
    p : array-like of float
        P values; NaN stays NaN and does not count as a test.
    method : {"fdr_bh", "bonferroni"}, default="fdr_bh"
        Benjamini-Hochberg q values or Bonferroni-adjusted P values.

    Returns
    -------
    numpy.ndarray of float
        Adjusted P values, same shape as ``p``.

    Raises
    ------
    InputError
        For an unknown ``method``.

    Examples
    --------
    >>> multiple_testing([0.01, 0.02], method="bonferroni").tolist()
    [0.02, 0.04]
    """
    if method not in MULTIPLE_TESTING_METHODS:
        raise fail("multiple_testing/method", f"expected one of {sorted(MULTIPLE_TESTING_METHODS)}, found {method!r}")
    return MULTIPLE_TESTING_METHODS[method](p)


# --------------------------------------------------------------------------- chromosome order
#: Rank of a chromosome name that is neither a number nor X, Y, XY or MT (sorts last).
UNKNOWN_CHROMOSOME_RANK = 99
_NAMED = {"X": 23, "Y": 24, "XY": 25, "MT": 26, "M": 26}


def _rank_one(c: Any) -> int:
    if c is None or (isinstance(c, float) and math.isnan(c)):
        return UNKNOWN_CHROMOSOME_RANK
    if isinstance(c, (int, np.integer)) and not isinstance(c, bool):
        return int(c)
    if isinstance(c, (float, np.floating)) and float(c).is_integer():
        return _rank_one(int(c))
    s = str(c).strip()
    if s[:3].lower() == "chr":
        s = s[3:]
    if s.isdigit():
        return int(s)
    return _NAMED.get(s.upper(), UNKNOWN_CHROMOSOME_RANK)


def chromosome_rank(values: Any) -> int | np.ndarray:
    """Sort rank of chromosome names: 1..22, then X (23), Y (24), XY (25), MT (26), unknown 99.

    A numeric name ranks as its number.

    A ``chr`` prefix is ignored, case is ignored for the letters, PLINK's numeric codes mean the
    same (``"23"`` = X, ``"24"`` = Y, ``"25"`` = XY, ``"26"`` = MT) and ``M`` is MT.

    Parameters
    ----------
    values : str, int or array-like of them
        One chromosome name, or a sequence / Series / array of them.

    Returns
    -------
    int or numpy.ndarray of int64
        The rank of a single name, or one rank per element (usable as ``key=`` of
        ``sorted`` and of ``DataFrame.sort_values``).

    Examples
    --------
    >>> chromosome_rank("chrX"), chromosome_rank("23"), chromosome_rank(7)
    (23, 23, 7)
    >>> chromosome_rank(["2", "10", "MT"]).tolist()
    [2, 10, 26]
    """
    if isinstance(values, (str, bytes, int, float, np.integer, np.floating)) or values is None:
        return _rank_one(values.decode() if isinstance(values, bytes) else values)
    return np.fromiter((_rank_one(v) for v in values), dtype=np.int64,
                       count=len(values) if hasattr(values, "__len__") else -1)


def sort_chromosomes(values: Iterable[Any]) -> list[Any]:
    """The distinct chromosome names in genome order (:func:`chromosome_rank`, then by name).

    Parameters
    ----------
    values : iterable of str or int
        Chromosome names, possibly repeated (e.g. a ``chromosome`` column).

    Returns
    -------
    list
        Each distinct name once, in order 1..22, X, Y, XY, MT, then unknown names sorted as text.

    Examples
    --------
    >>> sort_chromosomes(["X", "10", "2", "2", "MT", "chr1"])
    ['chr1', '2', '10', 'X', 'MT']
    """
    uniq = pd.unique(pd.Series(list(values), dtype=object))
    return sorted(uniq, key=lambda c: (_rank_one(c), str(c)))


# ------------------------------------------------------------------------------- reliability
def icc(ratings: Any, *, alpha: float = 0.05) -> dict[str, float]:
    """Intraclass correlations of ``n`` subjects each measured ``k`` times (two-way ANOVA).

    ``ICC(2,1)`` (two-way random effects, absolute agreement, single measurement: a systematic
    difference between sessions lowers it) and ``ICC(3,1)`` (two-way mixed, consistency: session
    offsets do not count), as Shrout & Fleiss (1979) / McGraw & Wong (1996), with their
    ``1 - alpha`` confidence intervals (F-based; for ICC(2,1) McGraw & Wong's approximate
    degrees of freedom).

    Parameters
    ----------
    ratings : array-like of shape (n, k)
        One row per subject, one column per session; rows with a missing value are dropped.
    alpha : float, default=0.05

    Returns
    -------
    dict
        ``n``, ``k``, ``icc2_1``, ``icc2_1_lo``, ``icc2_1_hi``, ``icc3_1``, ``icc3_1_lo``,
        ``icc3_1_hi``, ``mean_diff`` (mean of last minus first session). NaN with fewer than 3
        complete subjects or no between-subject variance.

    Examples
    --------
    >>> round(icc([[1, 1.1], [2, 2.1], [3, 2.9], [4, 4.2]])["icc3_1"], 3)
    0.995
    """
    x = np.asarray(ratings, dtype=float)
    if x.ndim != 2 or x.shape[1] < 2:
        raise fail("icc/ratings", f"expected an (n, k >= 2) array, found shape {x.shape}")
    if not 0 < alpha < 1:
        raise fail("icc/alpha", f"expected a value in (0, 1), found {alpha!r}")
    x = x[np.isfinite(x).all(axis=1)]
    n, k = x.shape
    nan = float("nan")
    out = {"n": float(n), "k": float(k), "icc2_1": nan, "icc2_1_lo": nan, "icc2_1_hi": nan,
           "icc3_1": nan, "icc3_1_lo": nan, "icc3_1_hi": nan,
           "mean_diff": float((x[:, -1] - x[:, 0]).mean()) if n else nan}
    if n < 3:
        return out
    grand = x.mean()
    ss_r = k * ((x.mean(axis=1) - grand) ** 2).sum()
    ss_c = n * ((x.mean(axis=0) - grand) ** 2).sum()
    ss_e = ((x - grand) ** 2).sum() - ss_r - ss_c
    df_r, df_c, df_e = n - 1, k - 1, (n - 1) * (k - 1)
    msr, msc, mse = ss_r / df_r, ss_c / df_c, ss_e / df_e
    if msr <= 0:
        return out
    mse = max(mse, 1e-300)
    icc3 = (msr - mse) / (msr + (k - 1) * mse)
    icc2 = (msr - mse) / (msr + (k - 1) * mse + k * (msc - mse) / n)
    q = 1 - alpha / 2
    f3 = msr / mse
    fl, fu = f3 / _st.f.ppf(q, df_r, df_e), f3 * _st.f.ppf(q, df_e, df_r)
    out.update(icc3_1=float(icc3), icc3_1_lo=float((fl - 1) / (fl + k - 1)), icc3_1_hi=float((fu - 1) / (fu + k - 1)))
    a = k * icc2 / (n * (1 - icc2))
    b = 1 + k * icc2 * (n - 1) / (n * (1 - icc2))
    v = (a * msc + b * mse) ** 2 / ((a * msc) ** 2 / df_c + (b * mse) ** 2 / df_e)
    fl2, fu2 = _st.f.ppf(q, df_r, v), _st.f.ppf(q, v, df_r)
    lo2 = n * (msr - fl2 * mse) / (fl2 * (k * msc + (k * n - k - n) * mse) + n * msr)
    hi2 = n * (fu2 * msr - mse) / (k * msc + (k * n - k - n) * mse + n * fu2 * msr)
    out.update(icc2_1=float(icc2), icc2_1_lo=float(lo2), icc2_1_hi=float(hi2))
    return out

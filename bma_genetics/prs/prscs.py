"""PRS-CS (Ge et al. 2019): posterior SNP effects under a continuous-shrinkage prior, by Gibbs sampling.

The model (Ge T, Chen C-Y, Ni Y, Feng Y-C A, Smoller J W (2019) Nat Commun 10:1776), on
standardised genotypes with marginal effects :math:`\\hat\\beta` from a GWAS of :math:`n` people
and an LD matrix :math:`D` that is block-diagonal over LD blocks:

.. math::

    \\hat\\beta \\mid \\beta, \\sigma^2 \\sim N(D\\beta, \\tfrac{\\sigma^2}{n} D), \\quad
    \\beta_j \\sim N(0, \\tfrac{\\sigma^2}{n}\\psi_j), \\quad
    \\psi_j \\sim \\mathrm{Gamma}(a, \\delta_j), \\quad \\delta_j \\sim \\mathrm{Gamma}(b, \\phi)

(the Strawderman-Berger prior at ``a=1, b=1/2``, PRS-CS's defaults), with a global scale
:math:`\\phi` learnt under a half-Cauchy prior (``phi=None``, "PRS-CS-auto") or fixed. Each
iteration draws, in this order (the random draws of one chromosome come from one
``numpy.random.Generator``, so a seed fixes the chain):

1. :math:`\\beta` block by block: with :math:`U^T U = D_k + \\mathrm{diag}(1/\\psi)` (upper
   Cholesky), :math:`\\beta_k = U^{-1}(U^{-T}\\hat\\beta_k + \\sqrt{\\sigma^2/n}\\,z_k)`, the
   normal draws :math:`z` of every block drawn at once (``standard_normal(p)``);
2. :math:`\\sigma^2 = 1/\\mathrm{Gamma}((n+p)/2, \\text{rate}=e)` with
   :math:`e = \\max(\\tfrac n2(1 - 2\\beta^T\\hat\\beta + \\sum_k \\beta_k^T(D_k + \\mathrm{diag}(1/\\psi))\\beta_k),\\ \\tfrac n2 \\sum_j \\beta_j^2/\\psi_j)`;
3. :math:`\\delta_j \\sim \\mathrm{Gamma}(a + b, \\text{rate}=\\psi_j + \\phi)`;
4. :math:`\\psi_j \\sim \\mathrm{GIG}(a - 1/2,\\ 2\\delta_j,\\ n\\beta_j^2/\\sigma^2)`, then capped at 1;
5. with ``phi=None``: :math:`w \\sim \\mathrm{Gamma}(1, \\text{rate}=\\phi + 1)`,
   :math:`\\phi \\sim \\mathrm{Gamma}(pb + 1/2, \\text{rate}=\\sum_j\\delta_j + w)`.

Posterior means are averaged over iterations after ``n_burnin`` that are multiples of ``thin``
and converted to per-allele effects by :math:`1/\\sqrt{2f(1-f)}` (``f`` the counted allele's
frequency in the LD sample). Chromosomes are sampled separately, as PRS-CS does.

The GIG draw: for ``a = 1`` (the default), :math:`\\mathrm{GIG}(1/2, A, B)` is the reciprocal of an
inverse Gaussian with mean :math:`\\sqrt{A/B}` and shape :math:`A`, drawn exactly with
``Generator.wald``; other ``a`` use :func:`scipy.stats.geninvgauss` (slower).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import linalg, stats

from bma_genetics._blas import blas_threads
from bma_genetics._check import fail
from bma_genetics.ld.matrix import standardise
from bma_genetics.ld.readers import GenotypeReader

log = logging.getLogger(__name__)

_potrf = linalg.lapack.dpotrf
_trtrs = linalg.lapack.dtrtrs

#: Smallest ``n beta^2 / sigma^2`` passed to the GIG draw (an exact 0 has no inverse Gaussian).
_B_FLOOR = 1e-20


@dataclass(frozen=True)
class PRSCSParameters:
    """The sampler's settings (PRS-CS's defaults).

    Attributes
    ----------
    a, b : float, default=1.0, 0.5
        Shape parameters of the local shrinkage (Strawderman-Berger at the defaults).
    phi : float or None, default=None
        Global shrinkage; None learns it (fully Bayesian, "PRS-CS-auto").
    n_iter, n_burnin, thin : int, default=1000, 500, 5
        MCMC length, burn-in and thinning.
    seed : int, default=0
        Seed of the chain (each chromosome gets ``[seed, chromosome number]``).
    """

    a: float = 1.0
    b: float = 0.5
    phi: float | None = None
    n_iter: int = 1000
    n_burnin: int = 500
    thin: int = 5
    seed: int = 0

    def __post_init__(self) -> None:
        where = "PRSCSParameters"
        for name in ("a", "b"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and v > 0):
                raise fail(f"{where}/{name}", f"expected a positive number, found {v!r}")
        if self.phi is not None and not (isinstance(self.phi, (int, float)) and self.phi > 0):
            raise fail(f"{where}/phi", f"expected a positive number or None (learnt), found {self.phi!r}")
        if not (isinstance(self.n_iter, int) and self.n_iter >= 1):
            raise fail(f"{where}/n_iter", f"expected a positive integer, found {self.n_iter!r}")
        if not (isinstance(self.n_burnin, int) and 0 <= self.n_burnin < self.n_iter):
            raise fail(f"{where}/n_burnin", f"expected an integer in [0, n_iter={self.n_iter}), found {self.n_burnin!r}")
        if not (isinstance(self.thin, int) and self.thin >= 1):
            raise fail(f"{where}/thin", f"expected a positive integer, found {self.thin!r}")
        if not any(i % self.thin == 0 for i in range(self.n_burnin + 1, self.n_iter + 1)):
            raise fail(f"{where}/thin", f"no iteration after the burn-in ({self.n_burnin}) up to n_iter "
                                        f"({self.n_iter}) is a multiple of thin ({self.thin}): nothing is averaged")


@dataclass
class PRSCSChain:
    """Posterior means of one chromosome's chain (standardised scale) and the global parameters."""

    beta: np.ndarray
    psi: np.ndarray
    sigma: float
    phi: float
    n_samples: int


def sample_gig(rng: np.random.Generator, lam: float, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Draws from GIG(``lam``, ``a``, ``b``): density :math:`\\propto x^{\\lambda-1} e^{-(a x + b/x)/2}`.

    ``lam = 1/2`` is exact and vectorised (1 / inverse Gaussian); other values use
    :func:`scipy.stats.geninvgauss` with :math:`x = \\sqrt{b/a}\\,y`, :math:`y \\sim
    \\mathrm{GIG}(\\lambda, \\sqrt{ab})`.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.maximum(np.asarray(b, dtype=np.float64), _B_FLOOR)
    if lam == 0.5:
        return 1.0 / rng.wald(np.sqrt(a / b), a)
    y = stats.geninvgauss.rvs(lam, np.sqrt(a * b), random_state=rng)
    return np.sqrt(b / a) * y


@blas_threads(1)  # small products: OpenBLAS threads only cost here (bma_genetics._blas)
def gibbs_chain(beta_marginal: np.ndarray, blocks: Sequence[np.ndarray], n: float, params: PRSCSParameters,
                rng: np.random.Generator) -> PRSCSChain:
    """Run PRS-CS's Gibbs sampler on one chromosome.

    Parameters
    ----------
    beta_marginal : ndarray of shape (p,)
        Standardised marginal effects, in block order.
    blocks : sequence of ndarray
        LD (correlation) matrices of consecutive blocks, sizes summing to ``p``.
    n : float
        GWAS sample size.
    params : PRSCSParameters
    rng : numpy.random.Generator

    Returns
    -------
    PRSCSChain
    """
    bm = np.asarray(beta_marginal, dtype=np.float64)
    p = bm.size
    sizes = [blk.shape[0] for blk in blocks]
    if sum(sizes) != p:
        raise fail("gibbs_chain/blocks", f"block sizes sum to {sum(sizes)}, expected {p}")
    starts = np.concatenate([[0], np.cumsum(sizes)])
    a, b = float(params.a), float(params.b)
    beta = np.zeros(p)
    psi = np.ones(p)
    sigma = 1.0
    phi = 1.0 if params.phi is None else float(params.phi)
    n_post = sum(1 for i in range(params.n_burnin + 1, params.n_iter + 1) if i % params.thin == 0)
    est_beta, est_psi, est_sigma, est_phi = np.zeros(p), np.zeros(p), 0.0, 0.0
    for it in range(1, params.n_iter + 1):
        z = rng.standard_normal(p)
        quad = 0.0
        scale = np.sqrt(sigma / n)
        for k, ld in enumerate(blocks):
            s = slice(starts[k], starts[k + 1])
            prec = ld + np.diag(1.0 / psi[s])
            u, info = _potrf(prec, lower=0, clean=1)  # prec = u.T @ u
            if info != 0:
                raise fail("gibbs_chain/blocks", f"block {k}: LD + diag(1/psi) is not positive definite "
                                                 f"(LAPACK potrf info {info}); is the LD matrix a correlation matrix?")
            tmp = _trtrs(u, bm[s], lower=0, trans=1)[0] + scale * z[s]
            bk = _trtrs(u, tmp, lower=0, trans=0)[0]
            beta[s] = bk
            quad += float(bk @ prec @ bk)
        err = max(n / 2.0 * (1.0 - 2.0 * float(beta @ bm) + quad), n / 2.0 * float(np.sum(beta * beta / psi)))
        sigma = 1.0 / rng.gamma((n + p) / 2.0, 1.0 / err)
        delta = rng.gamma(a + b, 1.0 / (psi + phi))
        psi = sample_gig(rng, a - 0.5, 2.0 * delta, n * beta * beta / sigma)
        psi[psi > 1.0] = 1.0
        if params.phi is None:
            w = rng.gamma(1.0, 1.0 / (phi + 1.0))
            phi = rng.gamma(p * b + 0.5, 1.0 / (float(delta.sum()) + w))
        if it > params.n_burnin and it % params.thin == 0:
            est_beta += beta / n_post
            est_psi += psi / n_post
            est_sigma += sigma / n_post
            est_phi += phi / n_post
    return PRSCSChain(est_beta, est_psi, est_sigma, est_phi, n_post)


def ld_blocks(variants: pd.DataFrame, *, max_gap_kb: float = 500.0, max_snps: int = 500) -> np.ndarray:
    """Block label of each variant (rows sorted by chromosome and position within a chromosome).

    A block is a run of consecutive variants of one chromosome with no gap wider than
    ``max_gap_kb`` between neighbours, cut into equal pieces of at most ``max_snps``. On the
    simulated genomes (independent windows of 0.5-2 Mb, ``docs/simulate.md``) a gap separates
    every window, so no LD crosses a block boundary there; on real genomes give LD blocks
    (LDetect's, as PRS-CS ships them) through ``blocks`` of :func:`run_prscs`.
    """
    chrom = variants["chromosome"].astype(str).to_numpy()
    pos = variants["base_pair_location"].to_numpy(dtype=np.int64)
    new = np.ones(len(variants), dtype=bool)
    if len(variants) > 1:
        new[1:] = (chrom[1:] != chrom[:-1]) | (np.diff(pos) > max_gap_kb * 1000)
    runs = np.cumsum(new) - 1
    labels = np.empty(len(variants), dtype=np.int64)
    next_label = 0
    for r in np.unique(runs):
        rows = np.flatnonzero(runs == r)
        k = int(np.ceil(rows.size / max_snps))
        for piece in np.array_split(rows, k):
            labels[piece] = next_label
            next_label += 1
    return labels


def blocks_from_bed(variants: pd.DataFrame, bed: pd.DataFrame) -> np.ndarray:
    """Block label of each variant from a BED of LD blocks (``chr start stop``, LDetect's layout).

    A variant outside every block is a block of its own.
    """
    chrom = variants["chromosome"].astype(str).str.removeprefix("chr").to_numpy()
    pos = variants["base_pair_location"].to_numpy(dtype=np.int64)
    labels = np.full(len(variants), -1, dtype=np.int64)
    bchr = bed.iloc[:, 0].astype(str).str.removeprefix("chr").to_numpy()
    for k, (c, start, stop) in enumerate(zip(bchr, bed.iloc[:, 1].astype(np.int64), bed.iloc[:, 2].astype(np.int64),
                                             strict=True)):
        labels[(chrom == c) & (pos >= start) & (pos < stop)] = k
    unassigned = labels < 0
    labels[unassigned] = len(bed) + np.arange(int(unassigned.sum()))
    return labels


@dataclass
class PRSCSResult:
    """Per-variant posterior effects (``table``) and the chains' global parameters per chromosome."""

    table: pd.DataFrame
    chains: dict[str, dict[str, float]] = field(default_factory=dict)


@blas_threads(1)  # small products: OpenBLAS threads only cost here (bma_genetics._blas)
def prscs_weights(
    sumstats: pd.DataFrame,
    ld: GenotypeReader,
    *,
    n: float | None = None,
    params: PRSCSParameters = PRSCSParameters(),
    max_gap_kb: float = 500.0,
    max_block_snps: int = 500,
    blocks: pd.DataFrame | None = None,
    keep_ambiguous: bool = False,
    max_mismatch: float = 0.1,
) -> PRSCSResult:
    """PRS-CS posterior per-allele effects of the summary-statistics variants found in ``ld``.

    Parameters
    ----------
    sumstats : DataFrame
        ``chromosome, base_pair_location, effect_allele, other_allele, beta, p_value`` and ``n``
        (unless ``n`` is given).
    ld : GenotypeReader
        LD source (the GWAS's analysed samples, or a panel); its variants define the blocks.
    n : float, optional
        GWAS sample size; default the median of ``sumstats["n"]``.
    params : PRSCSParameters
    max_gap_kb, max_block_snps : float, int, default=500, 500
        Block definition (:func:`ld_blocks`) when ``blocks`` is not given.
    blocks : DataFrame, optional
        LD blocks as a BED (``chr start stop``).
    keep_ambiguous, max_mismatch
        Allele alignment to ``ld`` (:func:`bma_genetics.prs.align.align_to_reader`).

    Returns
    -------
    PRSCSResult
        ``table``: ``variant_id, chromosome, base_pair_location, effect_allele, other_allele``
        (as in ``sumstats``), ``beta``, ``p_value``, ``beta_marginal_std`` and ``beta_std``
        (marginal and posterior mean effects on the standardised scale, of the LD source's
        counted allele, the scale the sampler works on), ``frequency`` (of the effect allele in
        the LD sample), ``prscs`` (posterior per-allele weight of the effect allele), ``psi``,
        ``block``.
    """
    from bma_genetics.prs.align import align_to_reader

    where = "prscs_weights"
    need = ["chromosome", "base_pair_location", "effect_allele", "other_allele", "beta", "p_value"]
    missing = [c for c in need if c not in sumstats.columns]
    if missing:
        raise fail(f"{where}/sumstats", f"missing column(s) {missing}")
    if n is None:
        if "n" not in sumstats.columns or sumstats["n"].isna().all():
            raise fail(f"{where}/n", "the summary statistics have no sample size (n): give n")
        n = float(np.nanmedian(sumstats["n"].to_numpy(float)))
    if not n > 0:
        raise fail(f"{where}/n", f"expected a positive sample size, found {n}")
    ss = sumstats.dropna(subset=["beta", "p_value"]).reset_index(drop=True)
    al = align_to_reader(ss, ld, keep_ambiguous=keep_ambiguous, max_mismatch=max_mismatch, where=where)
    t = al.table.sort_values("ref_index").reset_index(drop=True)
    sign = np.where(t["counted"].to_numpy(), 1.0, -1.0)
    p = np.clip(t["p_value"].to_numpy(float), 1e-300, 1.0)
    t["beta_marginal_std"] = sign * np.sign(t["beta"].to_numpy(float)) * np.abs(stats.norm.ppf(p / 2.0)) / np.sqrt(n)
    # blocks and chains go by the LD source's chromosome names (a .bim says 23 or 25 for X); the
    # output keeps the summary statistics' own chromosome and position, so that these weights
    # merge with other weights built from the same summary statistics (C+T keeps them too)
    t["_ss_chromosome"] = t["chromosome"]
    t["_ss_position"] = t["base_pair_location"]
    ra = ld.variants.iloc[t["ref_index"].to_numpy()]
    t["chromosome"] = ra["chromosome"].astype(str).to_numpy()
    t["base_pair_location"] = ra["base_pair_location"].to_numpy()
    labels = blocks_from_bed(t, blocks) if blocks is not None else ld_blocks(t, max_gap_kb=max_gap_kb,
                                                                              max_snps=max_block_snps)
    t["block"] = labels
    t = t.sort_values(["block", "ref_index"], kind="stable").reset_index(drop=True)
    freq = np.empty(len(t))
    mats: list[np.ndarray] = []
    for blk in pd.unique(t["block"]):
        rows = np.flatnonzero(t["block"].to_numpy() == blk)
        x = np.asarray(ld.dosages(t["ref_index"].to_numpy()[rows]), dtype=np.float64)
        freq[rows] = np.nanmean(x, axis=0) / 2.0
        z = standardise(x)
        r = z.T @ z / z.shape[0]
        np.fill_diagonal(r, 1.0)
        mats.append(r)
    t["frequency"] = freq
    poly = (freq > 0) & (freq < 1)
    t["beta_std"] = 0.0
    t["psi"] = np.nan
    chains: dict[str, dict[str, float]] = {}
    block_of = t["block"].to_numpy()
    uniq = list(pd.unique(block_of))
    for chrom in pd.unique(t["chromosome"]):
        on = np.flatnonzero((t["chromosome"].to_numpy() == chrom) & poly)
        if on.size == 0:
            continue
        blocks_c: list[np.ndarray] = []
        order: list[np.ndarray] = []
        for blk in pd.unique(block_of[on]):
            rows_all = np.flatnonzero(block_of == blk)
            keep = poly[rows_all]
            blocks_c.append(mats[uniq.index(blk)][np.ix_(keep, keep)])
            order.append(rows_all[keep])
        rows_c = np.concatenate(order)
        tag = int(chrom) if str(chrom).isdigit() else sum(map(ord, str(chrom)))
        rng = np.random.default_rng([int(params.seed), tag])
        chain = gibbs_chain(t["beta_marginal_std"].to_numpy()[rows_c], blocks_c, n, params, rng)
        t.loc[rows_c, "beta_std"] = chain.beta
        t.loc[rows_c, "psi"] = chain.psi
        chains[str(chrom)] = {"sigma": chain.sigma, "phi": chain.phi, "n_snps": int(rows_c.size),
                              "n_blocks": len(blocks_c), "n_posterior_samples": chain.n_samples}
    # posterior effects are of the LD source's counted allele (``sign`` turns them back to the
    # summary statistics' effect allele, which names the weight); frequency of the effect allele
    sign = np.where(t["counted"].to_numpy(), 1.0, -1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        t["prscs"] = np.where(poly, sign * t["beta_std"] / np.sqrt(2.0 * freq * (1.0 - freq)), 0.0)
    t["frequency"] = np.where(sign > 0, freq, 1.0 - freq)
    t["chromosome"] = t.pop("_ss_chromosome")
    t["base_pair_location"] = t.pop("_ss_position")
    cols = [c for c in ("variant_id", "rsid", "chromosome", "base_pair_location", "effect_allele", "other_allele",
                        "beta", "p_value", "beta_marginal_std", "frequency", "beta_std", "psi", "prscs", "block")
            if c in t.columns]
    log.info("prscs: %d variants in %d blocks over %d chromosome(s)", len(t), len(uniq), len(chains))
    return PRSCSResult(t[cols], chains)

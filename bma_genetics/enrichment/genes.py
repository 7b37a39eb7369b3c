"""Gene analysis from summary statistics: SNP-wise mean and SNP-wise top models (MAGMA-style).

The work is split in two so that the expensive part is done once per LD source and reused for
every trait: :func:`compute_gene_ld` reads each gene window's genotypes, builds its LD matrix
and keeps only the eigenvalues (plus the correlations between nearby genes' statistics);
:func:`gene_tests` then turns SNP Z scores into gene P values.
"""

from __future__ import annotations

import logging
import math
import os
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats
from tqdm.auto import tqdm

from bma_genetics._blas import blas_threads
from bma_genetics._check import check_columns, fail
from bma_genetics.enrichment.annotate import annotate_snps
from bma_genetics.enrichment.quadform import p_to_z, tail_exact, tail_imhof, tail_saddlepoint

log = logging.getLogger(__name__)

P_METHODS = ("saddle_contour", "imhof", "saddlepoint")
#: Columns of :attr:`GeneLD.left_out` (``ld_left_out.tsv``).
LEFT_OUT_COLUMNS = ["chromosome", "n_snps", "n_genes", "reason"]


@dataclass
class GeneLD:
    """LD summaries of every gene window, computed once and reused across traits.

    Attributes
    ----------
    snps : DataFrame
        The SNPs used (``chromosome, base_pair_location``, ...); ``gene_tests`` takes Z scores
        in this row order.
    genes : DataFrame
        ``gene_id, gene_name, chromosome, start, end, win_start, win_end, nsnps, nparam`` and
        ``snp_index`` (row positions in ``snps``). ``nparam`` is the effective number of
        independent SNPs (Li & Ji 2005) from the eigenvalues.
    eigenvalues : list of ndarray
        Eigenvalues of each gene's (regularised) LD matrix, aligned with ``genes``.
    correlations : DataFrame
        ``gene_id_1, gene_id_2, r``: correlation of the two genes' SNP-wise mean statistics
        for pairs within ``correlation_window_kb`` (absent pairs are 0).
    shrinkage : float
        The LD regularisation used.
    n_ref : int
        Number of genotyped samples the LD came from.
    left_out : DataFrame
        What a partial LD source left out (``allow_partial_ld=True``), one row per chromosome
        of the input absent from it: ``chromosome, n_snps, n_genes, reason``; empty when the
        source covers every chromosome.
    """

    snps: pd.DataFrame
    genes: pd.DataFrame
    eigenvalues: list[np.ndarray]
    correlations: pd.DataFrame
    shrinkage: float
    n_ref: int
    settings: dict = field(default_factory=dict)
    left_out: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=LEFT_OUT_COLUMNS))


def _standardise(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=np.float64)
    if np.isnan(x).any():
        mean = np.nanmean(x, axis=0)
        x = np.where(np.isnan(x), mean, x)
    x = x - x.mean(axis=0)
    sd = np.sqrt((x * x).mean(axis=0))
    ok = sd > 1e-8
    x[:, ok] /= sd[ok]
    x[:, ~ok] = 0.0
    return x, ok


def effective_number(eigenvalues: np.ndarray) -> float:
    """Li & Ji (2005) effective number of independent tests from LD eigenvalues.

    ``M_eff = sum_j [I(|l_j| >= 1) + (|l_j| - floor(|l_j|))]``; 1 for perfect LD, ``k`` for
    independent SNPs.
    """
    lam = np.abs(np.asarray(eigenvalues, dtype=np.float64))
    return float(np.sum((lam >= 1.0) + (lam - np.floor(lam))))


def _worker_reader(spec):
    from bma_genetics.ld import ConcatReader, SampleSubsetReader, open_genotypes

    kind = spec[0]
    if kind == "subset":
        return SampleSubsetReader(_worker_reader(spec[1]), spec[2])
    if kind == "concat":
        return ConcatReader([_worker_reader(s) for s in spec[1]])
    _kind, path, sample = spec
    return open_genotypes(path, sample=sample)


def _reader_spec(reader):
    """A picklable recipe to reopen ``reader`` in a worker process (None: not reopenable)."""
    from bma_genetics.ld import BgenReader, ConcatReader, PlinkReader, SampleSubsetReader

    if isinstance(reader, PlinkReader):
        return ("plink", str(reader.prefix), None)
    if isinstance(reader, BgenReader):
        return ("bgen", str(reader.path), getattr(reader, "sample_path", None))
    if isinstance(reader, SampleSubsetReader):
        inner = _reader_spec(reader.reader)
        return None if inner is None else ("subset", inner, np.asarray(reader._rows))
    if isinstance(reader, ConcatReader):
        parts = [_reader_spec(r) for r in reader.readers]
        return None if any(p is None for p in parts) else ("concat", parts)
    return None


class _SubsetReader:
    """A reader restricted to a subset of samples (LD from a random subsample)."""

    def __init__(self, reader, rows: np.ndarray):
        self.reader, self.rows = reader, rows

    @property
    def n_samples(self) -> int:
        return int(self.rows.size)

    def dosages(self, indices):
        return self.reader.dosages(indices)[self.rows]


def _chromosome_ld(reader, ref_index: np.ndarray, positions: np.ndarray, genes: pd.DataFrame,
                   shrinkage: float, corr_bp: int, progress: bool, label: str, bias_correction: bool = True,
                   sample_rows: np.ndarray | None = None):
    """Eigenvalues, nparam and nearby-gene correlations for one chromosome's genes.

    Each gene's SNPs are a contiguous run of the chromosome's position-sorted SNPs, so the
    correlations are kept as one sliding block (the Gram matrix of the standardised genotypes
    of the SNPs some pending gene needs): a SNP pair's r is computed once however many genes
    share it, and columns are dropped once no pending gene (within ``corr_bp``) needs them.
    Memory is one window plus the correlation reach, never the chromosome.
    """
    if isinstance(reader, tuple):
        reader = _worker_reader(reader)
    if sample_rows is not None:
        reader = _SubsetReader(reader, sample_rows)
    n = reader.n_samples
    rows = np.unique(np.concatenate([np.asarray(i, dtype=np.int64) for i in genes["snp_index"]]))
    order = rows[np.argsort(positions[rows], kind="stable")]
    rank = {int(r): k for k, r in enumerate(order)}
    xblock = np.empty((n, 0))
    gram = np.empty((0, 0))
    block_ok = np.empty(0, dtype=bool)
    block_lo = 0  # rank of the block's first column
    pending: deque = deque()
    eig_out, keep_out, nparam_out, pairs = [], [], [], []
    bias = 1.0 / max(1, n - 2) if bias_correction else 0.0
    it = genes.itertuples(index=False)
    for g in tqdm(it, total=len(genes), disable=not progress, desc=f"gene LD chr{label}", leave=False):
        idx = np.asarray(g.snp_index, dtype=np.int64)
        lo, hi = rank[int(idx[0])], rank[int(idx[-1])] + 1
        while pending and pending[0][1] < g.win_start - corr_bp:
            pending.popleft()
        first_needed = min([lo] + [p[4] for p in pending])
        if gram.shape[0] and first_needed > block_lo:  # drop columns nobody needs any more
            cut = min(first_needed - block_lo, gram.shape[0])
            xblock, gram, block_ok = xblock[:, cut:], gram[cut:, cut:], block_ok[cut:]
            block_lo += cut
        if gram.shape[0] == 0:
            block_lo = lo
        bhi = block_lo + gram.shape[0]
        if hi > bhi:
            x_new, ok_new = _standardise(reader.dosages(ref_index[order[bhi:hi]]))
            cross = xblock.T @ x_new / n
            new = x_new.T @ x_new / n
            gram = np.block([[gram, cross], [cross.T, new]])
            xblock = np.hstack([xblock, x_new])
            block_ok = np.concatenate([block_ok, ok_new])
        ranks = np.arange(lo, hi)
        good = block_ok[ranks - block_lo]
        keep = order[lo:hi][good]
        keep_ranks = ranks[good]
        keep_out.append(keep)
        if keep.size == 0:
            eig_out.append(np.zeros(0))
            nparam_out.append(0.0)
            continue
        c = keep_ranks - block_lo
        r = gram[np.ix_(c, c)]
        if shrinkage > 0:
            r = r * (1.0 - shrinkage)
        np.fill_diagonal(r, 1.0)
        lam = np.clip(np.linalg.eigvalsh(r), 0.0, None)
        eig_out.append(lam)
        nparam_out.append(effective_number(lam))
        ss_g = float(np.sum(lam**2))
        for pid, _pend, pranks, pss, _plo in pending:
            if pranks.size == 0:
                continue
            cross = gram[np.ix_(pranks - block_lo, c)] * (1.0 - shrinkage)
            r2 = np.maximum(cross**2 - bias * (1.0 - cross**2), 0.0)
            r2[pranks[:, None] == keep_ranks[None, :]] = 1.0
            num = float(r2.sum())
            if num > 0:
                pairs.append((pid, g.gene_id, num / math.sqrt(pss * ss_g)))
        pending.append((g.gene_id, g.win_end, keep_ranks, ss_g, lo))
    return eig_out, keep_out, nparam_out, pairs


def _left_out(snps: pd.DataFrame, genes: pd.DataFrame, missing: list[str], window_up_kb: float,
              window_down_kb: float) -> pd.DataFrame:
    """Per chromosome absent from the LD source: the SNPs and the genes (with a SNP in their
    window) that cannot be tested."""
    if not missing:
        return pd.DataFrame(columns=LEFT_OUT_COLUMNS)
    chrom = snps["chromosome"].astype(str).str.removeprefix("chr").replace({"23": "X"})
    rows = []
    for c in missing:
        sub = snps[(chrom == c).to_numpy()]
        n_genes = 0
        if len(sub):
            ann = annotate_snps(sub, genes, window_up_kb=window_up_kb, window_down_kb=window_down_kb)
            n_genes = int(ann["gene_id"].nunique()) if len(ann) else 0
        rows.append({"chromosome": c, "n_snps": int(len(sub)), "n_genes": n_genes,
                     "reason": "chromosome not in the LD source"})
    return pd.DataFrame(rows, columns=LEFT_OUT_COLUMNS)


@blas_threads(1)  # small products: OpenBLAS threads only cost here (bma_genetics._blas)
def compute_gene_ld(
    snps: pd.DataFrame,
    reader,
    genes: pd.DataFrame,
    *,
    window_up_kb: float = 10.0,
    window_down_kb: float = 10.0,
    shrinkage: float = 0.0,
    correlation_window_kb: float = 500.0,
    bias_correction: bool = True,
    max_ld_samples: int | None = None,
    seed: int = 1,
    n_jobs: int = 1,
    progress: bool = True,
    allow_partial_ld: bool = False,
    ld_where: str = "compute_gene_ld/reader",
) -> GeneLD:
    """Annotate SNPs to genes and summarise each gene window's LD.

    Parameters
    ----------
    snps : DataFrame
        ``chromosome, base_pair_location`` (+ ``effect_allele, other_allele`` to match alleles),
        e.g. the summary statistics. SNPs absent from ``reader`` or monomorphic there are
        dropped.
    reader : GenotypeReader
        LD source (:class:`bma_genetics.ld.PlinkReader` / :class:`~bma_genetics.ld.BgenReader`).
    genes : DataFrame
        ``gene_id, gene_name, chromosome, start, end`` (+ ``strand``).
    window_up_kb, window_down_kb : float, default=10
        Annotation windows around the gene body.
    shrinkage : float, default=0
        LD regularisation: off-diagonal correlations are multiplied by ``1 - shrinkage``
        (shrinkage towards the identity, ``R_s = (1 - d) R + d I``). Use ~0.05-0.1 with a small
        reference panel whose sample differs from the GWAS; 0 with in-sample LD.
    correlation_window_kb : float, default=500
        Gene pairs whose windows lie within this distance get a correlation (for the
        gene-set GLS); farther pairs are taken as uncorrelated.
    bias_correction : bool, default=True
        Subtract the sampling noise of r^2 in the LD source (``(1 - r^2) / (n - 2)``) from the
        cross-gene r^2 before summing them. Right for a reference panel that is not the GWAS
        sample (its chance LD is not in the GWAS); with in-sample LD (the GWAS genotypes
        themselves) the chance LD is real and ``False`` is exact.
    max_ld_samples : int, optional
        Estimate LD from at most this many samples, drawn at random with ``seed`` (in-sample
        LD from 10^4-10^5 people is far more precise than gene tests need; r's sampling SD is
        ~1/sqrt(n)). A subsample's chance LD is not the GWAS's, so ``bias_correction`` is
        then applied whatever its value.
    seed : int, default=1
    n_jobs : int, default=1
        Worker processes (one chromosome at a time each); -1 uses every core.
    progress : bool, default=True
        tqdm progress bars.
    allow_partial_ld : bool, default=False
        ``reader`` must hold every chromosome of ``snps``
        (:func:`bma_genetics.ld.check_ld_coverage`): a partial panel (the bundled 1000 Genomes
        panel is chr17-22) is an error naming the missing chromosomes. ``True`` goes on without
        them and records them in :attr:`GeneLD.left_out` (SNPs and genes not tested).
    ld_where : str, default="compute_gene_ld/reader"
        ``"function/param"`` prefix of that error (the caller's LD parameter).

    Returns
    -------
    GeneLD
    """
    where = "compute_gene_ld"
    check_columns(f"{where}/snps", snps, ["chromosome", "base_pair_location"])
    if not 0.0 <= shrinkage < 1.0:
        raise fail(f"{where}/shrinkage", f"expected a value in [0, 1), found {shrinkage!r}")
    from bma_genetics.ld import check_ld_coverage, match_variants

    missing = check_ld_coverage(reader, snps["chromosome"].astype(str).unique(), allow_partial=allow_partial_ld,
                                where=ld_where, what="summary-statistics variants")
    left_out = _left_out(snps, genes, missing, window_up_kb, window_down_kb)
    if missing:
        log.warning("compute_gene_ld: the LD source lacks chromosome(s) %s: %d SNPs and %d genes left out "
                    "(allow_partial_ld)", ", ".join(missing), int(left_out["n_snps"].sum()),
                    int(left_out["n_genes"].sum()))
    ref_index = match_variants(snps, reader)
    found = ref_index >= 0
    if not found.any():
        raise fail(f"{where}/snps", "no SNP matches the LD reference by chromosome and position (check the genome build and chromosome naming)")
    dup = pd.Series(ref_index).duplicated().to_numpy() & found
    keep_rows = found & ~dup
    log.info("compute_gene_ld: %d of %d SNPs found in the LD reference", int(keep_rows.sum()), len(snps))
    used = snps.loc[keep_rows].reset_index(drop=True)
    ref_used = ref_index[keep_rows]
    ann = annotate_snps(used, genes, window_up_kb=window_up_kb, window_down_kb=window_down_kb)
    if ann.empty:
        raise fail(f"{where}/genes", "no gene window contains a SNP (check the genome build and chromosome naming)")
    corr_bp = int(correlation_window_kb * 1000)
    positions = used["base_pair_location"].to_numpy(np.int64)
    groups = [(chrom, gg) for chrom, gg in ann.groupby("chromosome", sort=False)]
    jobs = os.cpu_count() if n_jobs == -1 else max(1, int(n_jobs))
    spec = _reader_spec(reader)
    sample_rows = None
    if max_ld_samples is not None and reader.n_samples > max_ld_samples:
        rng = np.random.default_rng(seed)
        sample_rows = np.sort(rng.choice(reader.n_samples, int(max_ld_samples), replace=False))
        bias_correction = True
    n_ref = reader.n_samples if sample_rows is None else int(sample_rows.size)
    results = {}
    if jobs > 1 and spec is not None and len(groups) > 1:
        with ProcessPoolExecutor(max_workers=min(jobs, len(groups))) as pool:
            futs = {chrom: pool.submit(_chromosome_ld, spec, ref_used, positions, gg, shrinkage,
                                       corr_bp, False, chrom, bias_correction, sample_rows)
                    for chrom, gg in groups}
            for chrom, fut in tqdm(futs.items(), disable=not progress, desc="gene LD"):
                results[chrom] = fut.result()
    else:
        for chrom, gg in groups:
            results[chrom] = _chromosome_ld(reader, ref_used, positions, gg, shrinkage, corr_bp, progress,
                                            chrom, bias_correction, sample_rows)
    eigs, keeps, nparams, pairs = [], [], [], []
    for chrom, _gg in groups:
        e, k, m, p = results[chrom]
        eigs += e
        keeps += k
        nparams += m
        pairs += p
    ann = ann.copy()
    ann["snp_index"] = keeps
    ann["nsnps"] = np.array([k.size for k in keeps], dtype=np.int64)
    ann["nparam"] = np.array(nparams, dtype=np.float64)
    nonempty = ann["nsnps"].to_numpy() > 0
    ann = ann[nonempty].reset_index(drop=True)
    eigs = [e for e, ok in zip(eigs, nonempty, strict=True) if ok]
    corr = pd.DataFrame(pairs, columns=["gene_id_1", "gene_id_2", "r"])
    corr = corr[corr["gene_id_1"].isin(ann["gene_id"]) & corr["gene_id_2"].isin(ann["gene_id"])]
    return GeneLD(snps=used, genes=ann, eigenvalues=eigs, correlations=corr.reset_index(drop=True),
                  shrinkage=shrinkage, n_ref=n_ref, left_out=left_out,
                  settings={"window_up_kb": window_up_kb, "window_down_kb": window_down_kb,
                            "correlation_window_kb": correlation_window_kb,
                            "bias_correction": bias_correction})


def _pvalues(lams: list[np.ndarray], q: np.ndarray, method: str) -> np.ndarray:
    if method == "saddlepoint":
        kmax = max(lam.size for lam in lams)
        mat = np.zeros((len(lams), kmax))
        for i, lam in enumerate(lams):
            mat[i, : lam.size] = lam
        return tail_saddlepoint(mat, q)
    fn = tail_exact if method == "saddle_contour" else tail_imhof
    return np.array([fn(lam, qq) for lam, qq in zip(lams, q, strict=True)])


def _pvalue_chunk(args):
    lams, q, method = args
    return _pvalues(lams, q, method)


@blas_threads(1)  # small products: OpenBLAS threads only cost here (bma_genetics._blas)
def gene_tests(
    gene_ld: GeneLD,
    z: np.ndarray,
    *,
    p_method: str = "saddle_contour",
    n_jobs: int = 1,
) -> pd.DataFrame:
    """Gene P values from SNP Z scores: SNP-wise mean and SNP-wise top models.

    Notes
    -----
    SNP-wise mean: ``Q = sum_i z_i^2`` over the gene's ``k`` SNPs; under the null
    ``z ~ N(0, R)`` so ``Q ~ sum_j lambda_j chi2_1`` with ``lambda`` the eigenvalues of the
    (regularised) LD matrix ``R``, and ``P = P(Q > q)`` is computed exactly (see
    :mod:`bma_genetics.enrichment.quadform`). The reported ``stat`` is ``Q / k`` (mean chi^2).

    SNP-wise top: ``P_top = 1 - (1 - p_min)^{M_eff}`` with ``p_min`` the smallest SNP P and
    ``M_eff`` the effective number of independent SNPs (Li & Ji 2005): exact for independent
    or perfectly correlated SNPs, an approximation in between.

    ===============  =======  ======================================================
    column           dtype    meaning
    ===============  =======  ======================================================
    gene_id          str      gene identifier
    gene_name        str      gene symbol
    chromosome       str      chromosome
    start, end       int64    gene body
    nsnps            int64    SNPs in the window (found and polymorphic in the LD source)
    nparam           float64  effective number of independent SNPs
    stat             float64  mean SNP chi^2
    z                float64  Phi^-1(1 - p_value)
    p_value          float64  SNP-wise mean model P
    p_top            float64  SNP-wise top model P
    top_snp_p        float64  smallest SNP P in the window
    ===============  =======  ======================================================

    Parameters
    ----------
    gene_ld : GeneLD
        From :func:`compute_gene_ld`.
    z : ndarray of shape (n_snps,)
        Z scores in ``gene_ld.snps`` row order (the sign is irrelevant).
    p_method : {"saddle_contour", "imhof", "saddlepoint"}, default="saddle_contour"
        Tail-probability routine for the mean model.
    n_jobs : int, default=1
        Worker processes for the P values.
    """
    where = "gene_tests"
    if p_method not in P_METHODS:
        raise fail(f"{where}/p_method", f"expected one of {list(P_METHODS)}, found {p_method!r}")
    z = np.asarray(z, dtype=np.float64)
    if z.shape != (len(gene_ld.snps),):
        raise fail(f"{where}/z", f"expected {len(gene_ld.snps)} Z scores (gene_ld.snps rows), found shape {z.shape}")
    chi2 = z * z
    gdf = gene_ld.genes
    q = np.empty(len(gdf))
    top = np.empty(len(gdf))
    for i, idx in enumerate(gdf["snp_index"]):
        c = chi2[idx]
        if not np.all(np.isfinite(c)):
            raise fail(f"{where}/z", f"gene {gdf['gene_id'].iat[i]} has missing Z scores; drop those SNPs before compute_gene_ld")
        q[i] = c.sum()
        top[i] = c.max()
    lams = gene_ld.eigenvalues
    jobs = os.cpu_count() if n_jobs == -1 else max(1, int(n_jobs))
    if jobs > 1 and p_method != "saddlepoint" and len(lams) > 200:
        bounds = np.linspace(0, len(lams), jobs * 4 + 1).astype(int)
        chunks = [(lams[a:b], q[a:b], p_method) for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            p = np.concatenate(list(pool.map(_pvalue_chunk, chunks)))
    else:
        p = _pvalues(lams, q, p_method)
    p = np.clip(p, 0.0, 1.0)
    p_min = stats.chi2.sf(top, 1)
    nparam = gdf["nparam"].to_numpy(np.float64)
    p_top = -np.expm1(nparam * np.log1p(-np.minimum(p_min, 1 - 1e-16)))
    p_top = np.where(p_min < 1e-14, np.minimum(1.0, nparam * p_min), p_top)
    nsnps = gdf["nsnps"].to_numpy(np.int64)
    return pd.DataFrame({
        "gene_id": gdf["gene_id"].astype(str).to_numpy(),
        "gene_name": gdf["gene_name"].astype(str).to_numpy(),
        "chromosome": gdf["chromosome"].astype(str).to_numpy(),
        "start": gdf["start"].to_numpy(np.int64),
        "end": gdf["end"].to_numpy(np.int64),
        "nsnps": nsnps,
        "nparam": nparam,
        "stat": q / nsnps,
        "z": p_to_z(p),
        "p_value": p,
        "p_top": p_top,
        "top_snp_p": p_min,
    })


def sumstats_z(sumstats: pd.DataFrame, where: str = "sumstats_z") -> np.ndarray:
    """SNP Z scores from ``beta / standard_error`` or, without them, from ``p_value``."""
    if {"beta", "standard_error"} <= set(sumstats.columns):
        with np.errstate(divide="ignore", invalid="ignore"):
            return sumstats["beta"].to_numpy(np.float64) / sumstats["standard_error"].to_numpy(np.float64)
    if "p_value" in sumstats.columns:
        p = sumstats["p_value"].to_numpy(np.float64)
        return stats.norm.isf(p / 2.0)
    raise fail(f"{where}/sumstats", "needs beta and standard_error, or p_value")

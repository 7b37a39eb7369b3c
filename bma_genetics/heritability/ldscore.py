"""LD scores from genotypes, as LDSC's ``--l2`` computes them.

For each chromosome, over the SNPs that pass LDSC's filter (minor-allele frequency above
``maf_min``, default 0, i.e. polymorphic; not heterozygous-or-missing in every sample), with
genotypes mean-imputed and standardised (population SD), the LD score of SNP :math:`j` is

.. math:: \\ell_j = \\sum_k \\tilde r^2_{jk}, \\qquad \\tilde r^2 = r^2 - \\frac{1 - r^2}{n - 2}

summed over the SNPs :math:`k` in its window (``1cM``, ``1000kb`` or ``200snps``), the
diagonal included. LDSC visits SNPs in chunks of ``chunk_size`` (50) and takes each chunk's
window from its first SNP, rounded up to whole chunks; pairs at the window's edge therefore
count as LDSC counts them (``chunk_size=1`` gives the exact windows). ``M`` is the number of
SNPs, ``M_5_50`` those with MAF > 0.05.

With annotations (``annot``, LDSC's ``--annot``: a value :math:`a_{k}(i)` per SNP and
annotation), the partitioned LD score of SNP :math:`j` and annotation :math:`k` is
:math:`\\ell_{jk} = \\sum_i \\tilde r^2_{ij} a_k(i)` over the same windows and pairs, ``M`` per
annotation the sum of :math:`a_k` over the kept SNPs and ``M_5_50`` that sum over those with
MAF > 0.05 (LDSC's ``ldScoreVarBlocks(annot=...)``).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from bma_genetics._check import fail
from bma_genetics.io.ldsc import LDScores
from bma_genetics.stats import sort_chromosomes

_WINDOW = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*(cm|kb|snps?)\s*$", re.IGNORECASE)
#: SNPs read from the genotypes at a time when computing frequencies.
_READ_BLOCK = 2048
#: A chromosome with at most this many genotype values (samples x SNPs) is read once and kept in
#: memory (frequencies, filter and windows from the same matrix); larger ones are read twice in
#: blocks (a frequency pass, then a sliding window), so memory stays bounded on real cohorts.
_IN_MEMORY_VALUES = 2**26


def parse_window(window: str, where: str = "window") -> tuple[float, str]:
    """``"1cM"``, ``"1000kb"`` or ``"200snps"`` -> (size, unit in {"cM", "kb", "snps"})."""
    m = _WINDOW.match(str(window))
    if not m:
        raise fail(where, f"{window!r} is not a window: write e.g. '1cM', '1000kb' or '200snps'")
    size = float(m.group(1))
    unit = {"cm": "cM", "kb": "kb"}.get(m.group(2).lower(), "snps")
    if size <= 0:
        raise fail(where, f"{window!r}: the window must be positive")
    return size, unit


def block_lefts(coords: np.ndarray, max_dist: float) -> np.ndarray:
    """Index of the leftmost SNP within ``max_dist`` of each SNP (``coords`` sorted)."""
    coords = np.asarray(coords, dtype=float)
    left = np.searchsorted(coords, coords - max_dist, side="left")
    # settle floating-point ties exactly as the condition coords[i] - coords[j] > max_dist
    idx = np.arange(len(coords))
    for _ in range(2):
        back = (left > 0) & ~(coords[idx] - coords[np.maximum(left - 1, 0)] > max_dist)
        left = np.where(back, left - 1, left)
        fwd = (left < idx) & (coords[idx] - coords[np.minimum(left, idx)] > max_dist)
        left = np.where(fwd, left + 1, left)
    return left


def _frequencies(reader, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Allele frequency over non-missing samples (:func:`_frequencies_of`) and 'all het or missing'
    flags."""
    freq = np.empty(len(idx))
    het_or_missing = np.zeros(len(idx), dtype=bool)
    n = reader.n_samples
    for s in range(0, len(idx), _READ_BLOCK):
        f, hm = _frequencies_of(np.asarray(reader.dosages(idx[s:s + _READ_BLOCK]), dtype=np.float64), n)
        freq[s:s + len(f)] = f
        het_or_missing[s:s + len(f)] = hm
    return freq, het_or_missing


def _frequencies_of(d: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_frequencies` of a dosage matrix already read (samples x SNPs).

    The frequency is that of the allele the dosages do not count (a PLINK file's A2, the allele
    LDSC counts), computed as LDSC does (its count over twice the non-missing samples): the MAF
    ``min(f, 1 - f)`` is then LDSC's to the last bit, so a SNP at exactly 5 % (e.g. 15 of 300
    alleles: 1 - 285/300 > 0.05 in floating point) falls on LDSC's side of M_5_50's ``> 0.05``.
    """
    ok = ~np.isnan(d)
    nn = ok.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        f = np.where(nn > 0, (2.0 * nn - np.nansum(d, axis=0)) / (2.0 * np.maximum(nn, 1)), 0.0)
    het = (d == 1.0).sum(axis=0)
    return f, (het + (n - nn)) >= n


def _standardised(reader, idx: np.ndarray) -> np.ndarray:
    return _standardise(np.asarray(reader.dosages(idx), dtype=np.float64))


def _standardise(d: np.ndarray) -> np.ndarray:
    """Mean-impute missing dosages and scale each SNP (column) to mean 0, population SD 1."""
    miss = np.isnan(d)
    if miss.any():
        means = np.nanmean(np.where(miss.all(axis=0), 0.0, d), axis=0)
        d = np.where(miss, means[None, :], d)
    d -= d.mean(axis=0)
    sd = d.std(axis=0)
    sd[sd == 0] = 1.0
    return d / sd


def _chromosome_l2(reader, idx: np.ndarray, coords: np.ndarray, max_dist: float, chunk: int,
                   x: np.ndarray | None = None, annot: np.ndarray | None = None) -> np.ndarray:
    """LDSC's chunked windowed sum of unbiased r^2 over one chromosome's kept SNPs.

    ``x``: the kept SNPs' standardised genotypes (samples x SNPs) when already in memory; else
    they are read from ``reader`` chunk by chunk into a sliding buffer. ``annot`` (kept SNPs x
    annotations): the sums are weighted by each partner SNP's annotation values, one column per
    annotation (shape ``(m, k)``); without it the shape is ``(m,)``.
    """
    m, n = len(idx), reader.n_samples
    denom = n - 2 if n > 2 else n

    def r2u(a, b):
        r = a.T @ (b / n)
        r2 = r * r
        return r2 - (1.0 - r2) / denom

    def columns(lo: int, hi: int) -> np.ndarray:
        return x[:, lo:hi] if x is not None else _standardised(reader, idx[lo:hi])

    if annot is None:
        def weigh(r, lo, hi):  # sum over the partners [lo, hi) (columns of r)
            return r.sum(axis=1)

        def weigh_t(r, lo, hi):  # sum over the partners [lo, hi) (rows of r)
            return r.sum(axis=0)
        l2 = np.zeros(m)
    else:
        def weigh(r, lo, hi):
            return r @ annot[lo:hi]

        def weigh_t(r, lo, hi):
            return r.T @ annot[lo:hi]
        l2 = np.zeros((m, annot.shape[1]))

    left = block_lefts(coords, max_dist)
    nz = np.flatnonzero(left > 0)
    b0 = int(np.ceil((nz[0] if nz.size else m) / chunk) * chunk)
    if b0 >= m:  # one window holds the whole chromosome: every pair
        x = columns(0, m)
        for s in range(0, m, 1024):
            l2[s:s + 1024] = weigh(r2u(x[:, s:s + 1024], x), 0, m)
        return l2
    # the first b0 SNPs: every pair among them
    buf = columns(0, b0)
    buf_start = 0
    l2[:b0] = weigh(r2u(buf, buf), 0, b0)
    # then chunks [lb, lb + c) with partners [lb - width, lb), width from the chunk's first SNP
    # rounded up to whole chunks; the left edge never moves back, so a sliding buffer suffices
    widths = (np.ceil((np.arange(m) - left) / chunk) * chunk).astype(np.int64)
    for lb in range(b0, m, chunk):
        c = min(chunk, m - lb)
        lo = lb - int(widths[lb])
        new = columns(lb, lb + c)
        if x is not None:
            buf = x[:, lo:lb]
        else:
            buf = buf[:, lo - buf_start:]
            buf_start = lo
        if buf.shape[1]:
            cross = r2u(buf, new)
            l2[lo:lb] += weigh(cross, lb, lb + c)
            l2[lb:lb + c] += weigh_t(cross, lo, lb)
        l2[lb:lb + c] += weigh(r2u(new, new), lb, lb + c)
        if x is None:
            buf = np.hstack([buf, new])
    return l2


def compute_ld_scores(reader, *, window: str = "1000kb", chunk_size: int = 50, maf_min: float = 0.0,
                      chromosomes: list[str] | None = None, annot: np.ndarray | None = None,
                      annot_names: list[str] | None = None) -> LDScores:
    """LD scores of every SNP of a genotype reader, chromosome by chromosome (LDSC's ``--l2``).

    Parameters
    ----------
    reader : bma_genetics.ld.readers.GenotypeReader
        Genotypes (PLINK, BGEN dosages, or a sample subset of either, e.g. from
        :func:`bma_genetics.ld.open_ld_source`).
    window : str, default="1000kb"
        ``"<size>cM"`` (the ``.bim``'s genetic map column), ``"<size>kb"`` or ``"<size>snps"``.
    chunk_size : int, default=50
        LDSC's ``--chunk-size``; it decides which pairs at a window's edge count.
    maf_min : float, default=0.0
        Keep SNPs with MAF strictly above this (LDSC's ``--maf``).
    chromosomes : list of str, optional
        Only these chromosomes (default: all in the genotypes).
    annot : ndarray of shape (n_variants, k), optional
        Annotation values of every variant of ``reader.variants`` (its row order), LDSC's
        ``--annot``: partitioned LD scores, one column per annotation. Variants of chromosomes
        not scored may hold anything.
    annot_names : list of str, optional
        The annotations' names (default ``ANNOT0`` ...); the score columns are named as LDSC
        names them: ``<name>L2`` for several annotations, ``l2`` (LDSC's ``L2``) for one.

    Returns
    -------
    LDScores
        With ``annot`` of several columns, ``annotations`` lists the score columns and ``m`` /
        ``m_5_50`` hold one value per annotation (its sum over the kept SNPs, and over those with
        MAF > 0.05).
    """
    size, unit = parse_window(window, "compute_ld_scores/window")
    if int(chunk_size) < 1:
        raise fail("compute_ld_scores/chunk_size", f"must be >= 1, found {chunk_size}")
    variants = reader.variants
    chroms = sort_chromosomes(variants["chromosome"].astype(str).unique())
    if chromosomes is not None:
        chroms = [c for c in chroms if c in {str(x) for x in chromosomes}]
    if unit == "cM" and ("cm" not in variants or not (variants["cm"].astype(float) != 0).any()):
        raise fail("compute_ld_scores/window", f"{window!r}: the genotypes carry no genetic map positions "
                                               "(cM column all 0 or absent); use a window in kb, e.g. '1000kb'")
    names: list[str] | None = None
    if annot is not None:
        annot = np.asarray(annot, dtype=np.float64)
        if annot.ndim == 1:
            annot = annot[:, None]
        if annot.ndim != 2 or annot.shape[0] != len(variants):
            raise fail("compute_ld_scores/annot", f"expected one row per variant ({len(variants)}) and one column "
                                                  f"per annotation, found shape {annot.shape}")
        names = list(annot_names) if annot_names is not None else [f"ANNOT{i}" for i in range(annot.shape[1])]
        if len(names) != annot.shape[1]:
            raise fail("compute_ld_scores/annot_names", f"{len(names)} names for {annot.shape[1]} annotations")
    multi = names is not None and len(names) > 1
    score_cols = [f"{a}L2" for a in names] if multi else ["l2"]
    frames, m, m550 = [], {}, {}
    for chrom in chroms:
        rows = np.flatnonzero(variants["chromosome"].astype(str).to_numpy() == chrom)
        pos = variants["base_pair_location"].to_numpy()[rows]
        order = np.argsort(pos, kind="stable")
        rows = rows[order]
        x = None
        if rows.size * reader.n_samples <= _IN_MEMORY_VALUES:  # read once: frequencies and windows
            d = np.asarray(reader.dosages(rows), dtype=np.float64)
            freq, hetmiss = _frequencies_of(d, reader.n_samples)
        else:
            freq, hetmiss = _frequencies(reader, rows)
        maf = np.minimum(freq, 1 - freq)
        keep = (maf > maf_min) & ~hetmiss
        rows, maf = rows[keep], maf[keep]
        if rows.size and freq.size * reader.n_samples <= _IN_MEMORY_VALUES:
            x = np.asfortranarray(_standardise(d[:, keep]))
            del d
        if rows.size == 0:
            continue
        v = variants.iloc[rows]
        if unit == "kb":
            coords, max_dist = v["base_pair_location"].to_numpy(dtype=float), size * 1000
        elif unit == "cM":
            coords, max_dist = v["cm"].to_numpy(dtype=float), size
        else:
            coords, max_dist = np.arange(len(rows), dtype=float), size
        a = None
        if annot is not None:
            a = annot[rows]
            if not np.all(np.isfinite(a)):
                raise fail("compute_ld_scores/annot", f"chromosome {chrom}: missing or non-finite annotation values")
        l2 = _chromosome_l2(reader, rows, coords, max_dist, int(chunk_size), x=x, annot=a)
        frame = pd.DataFrame({
            "chromosome": chrom, "rsid": v["rsid"].astype(str).to_numpy(),
            "base_pair_location": v["base_pair_location"].to_numpy(dtype=np.int64)})
        l2 = l2.reshape(len(rows), -1)
        for j, col in enumerate(score_cols):
            frame[col] = l2[:, j]
        frame["maf"] = maf
        frames.append(frame)
        if a is None:
            m[chrom] = int(len(rows))
            m550[chrom] = int((maf > 0.05).sum())
        else:
            sums, common = a.sum(axis=0), a[maf > 0.05].sum(axis=0)
            m[chrom] = sums.tolist() if multi else float(sums[0])
            m550[chrom] = common.tolist() if multi else float(common[0])
    if not frames:
        raise fail("compute_ld_scores/reader", "no SNP passed the MAF filter: nothing to compute")
    table = pd.concat(frames, ignore_index=True)
    settings = {"window": f"{size:g}{unit}", "chunk_size": int(chunk_size), "maf_min": float(maf_min),
                "n_samples": int(reader.n_samples)}
    if names is not None:
        settings["columns"] = [f"{a}L2" for a in names] if multi else ["L2"]
    return LDScores(table, m, m550, settings, score_cols if multi else None)

"""PLINK-style LD clumping of summary statistics against a genotype reader."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from bma_genetics._blas import blas_threads
from bma_genetics._check import check_columns, check_positive, check_probability, fail
from bma_genetics.io.builds import match_chromosome
from bma_genetics.ld.matrix import standardise
from bma_genetics.ld.readers import GenotypeReader

log = logging.getLogger(__name__)

_COMPLEMENT = str.maketrans("ACGT", "TGCA")
#: Largest memory (bytes) for one chromosome's standardised candidate dosages in :func:`clump`.
_CACHE_BYTES = 400_000_000


def match_variants(sumstats: pd.DataFrame, reader: GenotypeReader) -> np.ndarray:
    """Row index in ``reader.variants`` for each summary-statistics row (-1 where absent).

    Variants are matched on chromosome and base-pair position; when the summary statistics carry
    ``effect_allele`` and ``other_allele`` the allele pair must also agree (in either order, or
    on the opposite strand), which keeps multi-allelic sites and indels apart.
    """
    check_columns("match_variants/sumstats", sumstats, ["chromosome", "base_pair_location"])
    ref = reader.variants
    key_ref = match_chromosome(ref["chromosome"]) + ":" + ref["base_pair_location"].astype(str)
    key_ss = match_chromosome(sumstats["chromosome"]) + ":" + sumstats["base_pair_location"].astype(str)
    lookup = pd.DataFrame({"key": key_ref.to_numpy(), "ref_index": np.arange(len(ref)),
                           "ra1": ref["a1"].str.upper().to_numpy(), "ra2": ref["a2"].str.upper().to_numpy()})
    left = pd.DataFrame({"key": key_ss.to_numpy(), "row": np.arange(len(sumstats))})
    has_alleles = {"effect_allele", "other_allele"} <= set(sumstats.columns)
    if has_alleles:
        left["ea"] = sumstats["effect_allele"].astype(str).str.upper().to_numpy()
        left["oa"] = sumstats["other_allele"].astype(str).str.upper().to_numpy()
    merged = left.merge(lookup, on="key", how="inner")
    if has_alleles:
        same = ((merged.ea == merged.ra1) & (merged.oa == merged.ra2)) | ((merged.ea == merged.ra2) & (merged.oa == merged.ra1))
        ea_f = merged.ea.str.translate(_COMPLEMENT)
        oa_f = merged.oa.str.translate(_COMPLEMENT)
        flip = ((ea_f == merged.ra1) & (oa_f == merged.ra2)) | ((ea_f == merged.ra2) & (oa_f == merged.ra1))
        merged = merged[same | flip]
    merged = merged.drop_duplicates("row")
    out = np.full(len(sumstats), -1, dtype=np.int64)
    out[merged["row"].to_numpy()] = merged["ref_index"].to_numpy()
    return out


@blas_threads(1)  # small products: OpenBLAS threads only cost here (bma_genetics._blas)
def clump(
    sumstats: pd.DataFrame,
    reader: GenotypeReader,
    *,
    p1: float = 5e-8,
    p2: float = 1e-2,
    r2: float = 0.1,
    window_kb: float = 250,
    p_column: str = "p_value",
) -> pd.DataFrame:
    """Greedy LD clumping, as PLINK's ``--clump``.

    Variants with P < ``p1`` are taken in order of increasing P as index variants; every
    variant within ``window_kb`` of an index variant with P < ``p2`` and r^2 >= ``r2`` (LD from
    ``reader``) joins its clump and can be neither an index nor a member of a later clump.

    Parameters
    ----------
    sumstats : DataFrame
        Needs ``chromosome``, ``base_pair_location`` and ``p_column``; ``effect_allele`` /
        ``other_allele`` are used to match alleles when present. Other columns are kept.
    reader : GenotypeReader
        LD source: reference panel or in-sample genotypes (:func:`open_genotypes`).
    p1, p2 : float, default=5e-8, 1e-2
        Index and member P thresholds.
    r2 : float, default=0.1
        LD threshold for membership.
    window_kb : float, default=250
        Half-width of the window around each index variant.

    Returns
    -------
    DataFrame
        One row per index variant (its summary-statistics columns) plus

        ==============  ======  =================================================
        column          dtype   meaning
        ==============  ======  =================================================
        n_members       int     variants clumped to it (excluding itself)
        n_significant   int     members with P < ``p1``
        clump_members   str     comma-separated member ``variant_id`` (or chr:pos)
        ==============  ======  =================================================

    Variants absent from ``reader`` cannot be clumped; they are left out and counted in the
    log (PLINK does the same, with a warning).

    Examples
    --------
    >>> from bma_genetics.ld import PlinkReader, clump  # doctest: +SKIP
    >>> leads = clump(sumstats, PlinkReader("EUR_subset"), p1=5e-8, r2=0.1)  # doctest: +SKIP
    """
    check_columns("clump/sumstats", sumstats, ["chromosome", "base_pair_location", p_column])
    check_probability("clump/p1", p1, open_interval=False)
    check_probability("clump/p2", p2, open_interval=False)
    check_probability("clump/r2", r2, open_interval=False)
    check_positive("clump/window_kb", window_kb)
    if p2 < p1:
        raise fail("clump/p2", f"p2 ({p2}) must be >= p1 ({p1})")
    ss = sumstats.reset_index(drop=True)
    ref_index = match_variants(ss, reader)
    pvals = ss[p_column].to_numpy(dtype=float)
    candidates = (pvals < p2) & (ref_index >= 0)
    missing_top = int(((pvals < p1) & (ref_index < 0)).sum())
    if missing_top:
        log.warning("clump: %d variant(s) with P < %g are absent from the LD reference and were not clumped", missing_top, p1)
    ids = ss["variant_id"].astype(str) if "variant_id" in ss else (
        ss["chromosome"].astype(str) + ":" + ss["base_pair_location"].astype(str))
    ids = ids.to_numpy()
    chrom = ss["chromosome"].astype(str).str.removeprefix("chr").to_numpy()
    pos = ss["base_pair_location"].to_numpy(dtype=np.int64)
    window = int(window_kb * 1000)
    assigned = ~candidates
    order = np.argsort(pvals, kind="stable")
    # per chromosome: rows by position (the window is a searchsorted slice) and, when they fit
    # in memory, the candidates' standardised dosages read once (one pass per chromosome
    # instead of one read per index variant; each column is standardised on its own, as before)
    by_chrom: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for c in np.unique(chrom):
        rows_c = np.flatnonzero(chrom == c)
        rows_c = rows_c[np.argsort(pos[rows_c], kind="stable")]
        by_chrom[c] = (rows_c, pos[rows_c])
    cache: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None] = {}

    def standardised(c: str):
        """(candidate rows by position, their positions, column of each row, dosages) or None."""
        if c not in cache:
            rows_c = by_chrom[c][0]
            rows_c = rows_c[candidates[rows_c]]
            if 0 < rows_c.size and rows_c.size * reader.n_samples * 12 <= _CACHE_BYTES:
                col = np.full(len(ss), -1, dtype=np.int64)
                col[rows_c] = np.arange(rows_c.size)
                cache[c] = (rows_c, pos[rows_c], col, standardise(reader.dosages(ref_index[rows_c])))
            else:
                cache[c] = None
        return cache[c]

    rows: list[dict] = []
    for i in order:
        if pvals[i] >= p1:
            break
        if assigned[i]:
            continue
        assigned[i] = True
        cached = standardised(chrom[i])
        if cached is not None:
            # the window is a slice of the position-ordered columns: r of the index variant with
            # the whole slice (a view, no copy), then the unassigned among them
            cand, cpos, col, z = cached
            lo = np.searchsorted(cpos, pos[i] - window, side="left")
            hi = np.searchsorted(cpos, pos[i] + window, side="right")
            free = ~assigned[cand[lo:hi]]
            members = np.empty(0, dtype=np.int64)
            if free.any():
                r = z[:, lo:hi].T @ z[:, col[i]] / z.shape[0]
                members = np.sort(cand[lo:hi][free & (r * r >= r2)])
                assigned[members] = True
            rec = ss.iloc[i].to_dict()
            rec["n_members"] = int(members.size)
            rec["n_significant"] = int((pvals[members] < p1).sum())
            rec["clump_members"] = ",".join(ids[members])
            rows.append(rec)
            continue
        rows_c, pos_c = by_chrom[chrom[i]]
        lo = np.searchsorted(pos_c, pos[i] - window, side="left")
        hi = np.searchsorted(pos_c, pos[i] + window, side="right")
        near = np.sort(rows_c[lo:hi])
        near = near[~assigned[near]]
        members = np.empty(0, dtype=np.int64)
        if near.size:
            dos = reader.dosages(np.concatenate([[ref_index[i]], ref_index[near]]))
            z = standardise(dos)
            r = z[:, 1:].T @ z[:, 0] / z.shape[0]
            members = near[r * r >= r2]
            assigned[members] = True
        rec = ss.iloc[i].to_dict()
        rec["n_members"] = int(members.size)
        rec["n_significant"] = int((pvals[members] < p1).sum())
        rec["clump_members"] = ",".join(ids[np.sort(members)])
        rows.append(rec)
    cols = [*ss.columns, "n_members", "n_significant", "clump_members"]
    return pd.DataFrame(rows, columns=cols)

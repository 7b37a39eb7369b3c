"""SNP -> gene annotation: gene body plus strand-aware windows, as MAGMA's ``--annotate``."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from bma_genetics._check import check_columns, fail
from bma_genetics.stats import chromosome_rank

log = logging.getLogger(__name__)

GENE_COLUMNS = ["gene_id", "gene_name", "chromosome", "start", "end"]


def _norm_chrom(values: pd.Series) -> np.ndarray:
    return values.astype(str).str.removeprefix("chr").to_numpy()


def annotate_snps(
    snps: pd.DataFrame,
    genes: pd.DataFrame,
    *,
    window_up_kb: float = 10.0,
    window_down_kb: float = 10.0,
) -> pd.DataFrame:
    """Assign SNPs to genes: each gene's body extended by windows up- and downstream.

    Upstream follows the strand (before the start on ``+``, after the end on ``-``); without a
    ``strand`` column the windows are applied to start and end respectively. A SNP in several
    windows belongs to every such gene (as MAGMA does).

    Parameters
    ----------
    snps : DataFrame
        ``chromosome``, ``base_pair_location`` (1-based). Row order is kept as the SNP index.
    genes : DataFrame
        ``gene_id, gene_name, chromosome, start, end`` (1-based, inclusive), optional ``strand``.
    window_up_kb, window_down_kb : float, default=10
        Window sizes in kilobases.

    Returns
    -------
    DataFrame
        One row per gene with at least one SNP, genes in (chromosome, start) order:

        ============  =======  =================================================
        column        dtype    meaning
        ============  =======  =================================================
        gene_id       str      gene identifier
        gene_name     str      gene symbol
        chromosome    str      chromosome without ``chr``
        start, end    int64    gene body (as given)
        win_start     int64    window start used
        win_end       int64    window end used
        snp_index     object   ndarray of row positions in ``snps``, by position
        nsnps         int64    number of SNPs in the window
        ============  =======  =================================================

    Examples
    --------
    >>> snps = pd.DataFrame({"chromosome": ["1"] * 3, "base_pair_location": [100, 5_000, 50_000]})
    >>> genes = pd.DataFrame({"gene_id": ["G1"], "gene_name": ["A"], "chromosome": ["1"],
    ...                       "start": [2_000], "end": [3_000], "strand": ["+"]})
    >>> annotate_snps(snps, genes, window_up_kb=2, window_down_kb=2)["nsnps"].tolist()
    [2]
    """
    where = "annotate_snps"
    check_columns(f"{where}/snps", snps, ["chromosome", "base_pair_location"])
    check_columns(f"{where}/genes", genes, GENE_COLUMNS)
    if window_up_kb < 0 or window_down_kb < 0:
        raise fail(f"{where}/window_up_kb", f"windows must be >= 0 kb; found {window_up_kb}, {window_down_kb}")
    g = genes.copy()
    g["chromosome"] = _norm_chrom(g["chromosome"])
    g["start"] = pd.to_numeric(g["start"], errors="coerce")
    g["end"] = pd.to_numeric(g["end"], errors="coerce")
    bad = g["start"].isna() | g["end"].isna() | (g["end"] < g["start"])
    if bad.any():
        raise fail(f"{where}/genes", f"{int(bad.sum())} gene(s) have missing or reversed start/end, e.g. {g.loc[bad, 'gene_id'].iloc[0]!r}")
    up, down = int(window_up_kb * 1000), int(window_down_kb * 1000)
    minus = g["strand"].astype(str).eq("-").to_numpy() if "strand" in g else np.zeros(len(g), bool)
    g["win_start"] = np.maximum(1, g["start"].to_numpy(np.int64) - np.where(minus, down, up))
    g["win_end"] = g["end"].to_numpy(np.int64) + np.where(minus, up, down)
    schrom = _norm_chrom(snps["chromosome"])
    spos = snps["base_pair_location"].to_numpy(np.int64)
    out = []
    for chrom, gg in g.groupby("chromosome", sort=False):
        rows = np.flatnonzero(schrom == chrom)
        if rows.size == 0:
            continue
        order = rows[np.argsort(spos[rows], kind="stable")]
        pos = spos[order]
        lo = np.searchsorted(pos, gg["win_start"].to_numpy(), side="left")
        hi = np.searchsorted(pos, gg["win_end"].to_numpy(), side="right")
        gg = gg.assign(snp_index=[order[a:b] for a, b in zip(lo, hi, strict=True)], nsnps=hi - lo)
        out.append(gg[gg["nsnps"] > 0])
    cols = [*GENE_COLUMNS, "win_start", "win_end", "snp_index", "nsnps"]
    if not out:
        return pd.DataFrame(columns=cols)
    res = pd.concat(out, ignore_index=True)
    key = chromosome_rank(res["chromosome"])
    res = res.assign(_k=key).sort_values(["_k", "chromosome", "start", "gene_id"]).drop(columns="_k")
    res["start"] = res["start"].astype(np.int64)
    res["end"] = res["end"].astype(np.int64)
    log.info("annotate_snps: %d of %d genes have >= 1 SNP", len(res), len(genes))
    return res[cols].reset_index(drop=True)

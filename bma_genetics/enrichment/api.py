"""Public API of the enrichment stage: gene analysis, gene-set analysis, end-to-end runs."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bma_genetics._atomic import write_table, write_text
from bma_genetics._check import check_columns, fail
from bma_genetics.enrichment.gene_sets import (
    run_gene_property_analysis,
    run_gene_set_analysis,
)
from bma_genetics.enrichment.genes import GeneLD, compute_gene_ld, gene_tests, sumstats_z
from bma_genetics.stats import fdr_bh

log = logging.getLogger(__name__)

__all__ = [
    "GeneAnalysis",
    "compute_gene_ld",
    "gene_tests",
    "load_gene_table",
    "open_ld_reference",
    "read_gene_results",
    "run_enrichment",
    "run_gene_analysis",
    "run_gene_property_analysis",
    "run_gene_set_analysis",
]


@dataclass
class GeneAnalysis:
    """Result of :func:`run_gene_analysis`.

    Attributes
    ----------
    genes : DataFrame
        Per-gene results (schema in :func:`bma_genetics.enrichment.gene_tests`).
    correlations : DataFrame
        ``gene_id_1, gene_id_2, r`` between nearby genes' statistics (for the gene-set GLS).
    ld : GeneLD
        The LD summaries, reusable for another trait with :func:`gene_tests`.
    """

    genes: pd.DataFrame
    correlations: pd.DataFrame
    ld: GeneLD

    def to_frame(self) -> pd.DataFrame:
        return self.genes


def open_ld_reference(ld_reference: Any = None):
    """A genotype reader from a PLINK prefix / ``.bgen`` path, a reader, or the cached EUR panel."""
    from bma_genetics.ld import GenotypeReader, open_genotypes

    if isinstance(ld_reference, GenotypeReader):
        return ld_reference
    if ld_reference is None:
        from bma_genetics.resources import load_ld_panel

        ld_reference = load_ld_panel()
    return open_genotypes(ld_reference)


def load_gene_table(genes: pd.DataFrame | str | os.PathLike | None = None, *, build: str = "GRCh37",
                    protein_coding_only: bool = True) -> pd.DataFrame:
    """Genes from a DataFrame, a user GTF/table (``path``), or the cached GENCODE table."""
    if isinstance(genes, pd.DataFrame):
        check_columns("load_gene_table/genes", genes, ["gene_id", "gene_name", "chromosome", "start", "end"])
        out = genes
        if protein_coding_only and "gene_type" in out:
            out = out[out["gene_type"] == "protein_coding"]
        return out
    from bma_genetics.resources import load_genes

    return load_genes(build, protein_coding_only=protein_coding_only, path=genes)


def _read_sumstats(sumstats: pd.DataFrame | str | os.PathLike) -> pd.DataFrame:
    if isinstance(sumstats, pd.DataFrame):
        return sumstats
    from bma_genetics.gwas import read_gwas_ssf

    return read_gwas_ssf(sumstats)


def run_gene_analysis(
    sumstats: pd.DataFrame | str | os.PathLike,
    *,
    ld_reference: Any = None,
    genes: pd.DataFrame | str | os.PathLike | None = None,
    build: str = "GRCh37",
    protein_coding_only: bool = True,
    window_up_kb: float = 10.0,
    window_down_kb: float = 10.0,
    shrinkage: float = 0.0,
    p_method: str = "saddle_contour",
    correlation_window_kb: float = 500.0,
    bias_correction: bool = True,
    n_jobs: int = 1,
    progress: bool = True,
    gene_ld: GeneLD | None = None,
) -> GeneAnalysis:
    """Gene analysis of GWAS summary statistics (MAGMA's SNP-wise mean and top models).

    Summary statistics are matched to the LD reference by chromosome, position and alleles;
    SNPs are annotated to genes (body +/- windows); each gene's LD eigenvalues give the exact
    null of its statistic. See :func:`gene_tests` for the model and the output schema.

    Parameters
    ----------
    sumstats : DataFrame or path
        GWAS-SSF (``chromosome, base_pair_location, effect_allele, other_allele, beta,
        standard_error`` or ``p_value``).
    ld_reference : path, GenotypeReader, optional
        PLINK prefix or ``.bgen`` (in-sample genotypes); default the cached 1000 Genomes EUR
        panel (``bma_genetics.resources.load_ld_panel``).
    genes : DataFrame or path, optional
        Gene table or a GTF; default the GENCODE table for ``build``.
    build : {"GRCh37", "GRCh38"}, default="GRCh37"
    protein_coding_only : bool, default=True
    window_up_kb, window_down_kb : float, default=10
    shrinkage : float, default=0
        LD regularisation towards the identity (see :func:`compute_gene_ld`).
    correlation_window_kb, bias_correction
        Gene-gene correlations (see :func:`compute_gene_ld`); pass ``bias_correction=False``
        when ``ld_reference`` holds the GWAS sample's own genotypes.
    p_method : str, default="saddle_contour"
        Exact contour inversion; ``"saddlepoint"`` is faster and approximate.
    n_jobs : int, default=1
    progress : bool, default=True
    gene_ld : GeneLD, optional
        Reuse LD summaries computed for the same SNPs (another trait of the same GWAS).

    Returns
    -------
    GeneAnalysis

    Examples
    --------
    >>> res = run_gene_analysis("bmff_spine.tsv.gz")  # doctest: +SKIP
    >>> res.genes.nsmallest(5, "p_value")[["gene_name", "nsnps", "p_value"]]  # doctest: +SKIP
    """
    ss = _read_sumstats(sumstats).reset_index(drop=True)
    check_columns("run_gene_analysis/sumstats", ss, ["chromosome", "base_pair_location"])
    z = sumstats_z(ss, "run_gene_analysis")
    ok = np.isfinite(z)
    if not ok.any():
        raise fail("run_gene_analysis/sumstats", "no SNP has a finite Z (beta/standard_error or p_value)")
    ss = ss.loc[ok].reset_index(drop=True)
    z = z[ok]
    if gene_ld is None:
        reader = open_ld_reference(ld_reference)
        gtab = load_gene_table(genes, build=build, protein_coding_only=protein_coding_only)
        cols = [c for c in ("chromosome", "base_pair_location", "effect_allele", "other_allele", "variant_id") if c in ss]
        snps = ss[cols].assign(_row=np.arange(len(ss)))
        gene_ld = compute_gene_ld(snps, reader, gtab, window_up_kb=window_up_kb,
                                  window_down_kb=window_down_kb, shrinkage=shrinkage,
                                  correlation_window_kb=correlation_window_kb,
                                  bias_correction=bias_correction, n_jobs=n_jobs, progress=progress)
        zz = z[gene_ld.snps["_row"].to_numpy()]
    else:
        key_ld = gene_ld.snps["chromosome"].astype(str) + ":" + gene_ld.snps["base_pair_location"].astype(str)
        key_ss = pd.Series(ss["chromosome"].astype(str) + ":" + ss["base_pair_location"].astype(str))
        pos = pd.Series(np.arange(len(ss)), index=key_ss.to_numpy())
        pos = pos[~pos.index.duplicated()]
        idx = pos.reindex(key_ld.to_numpy()).to_numpy()
        zz = np.where(np.isnan(idx), np.nan, z[np.nan_to_num(idx, nan=0).astype(int)])
    res = gene_tests(gene_ld, zz, p_method=p_method, n_jobs=n_jobs)
    return GeneAnalysis(genes=res, correlations=gene_ld.correlations, ld=gene_ld)


def read_gene_results(path: str | os.PathLike) -> pd.DataFrame:
    """Read a ``genes.tsv`` written by :func:`run_enrichment`."""
    p = Path(path)
    if not p.exists():
        raise fail("read_gene_results/path", f"no such file {p}")
    return pd.read_csv(p, sep="\t", dtype={"chromosome": str, "gene_id": str, "gene_name": str})


def _load_sets(gene_sets: Any, min_size: int, max_size: int) -> pd.DataFrame:
    from bma_genetics.resources import load_gene_sets

    if isinstance(gene_sets, pd.DataFrame):
        return gene_sets
    if gene_sets is None or gene_sets == "GO_BP":
        return load_gene_sets("GO_BP", min_size=min_size, max_size=max_size)
    return load_gene_sets(path=gene_sets, min_size=1, max_size=10**9)


def run_enrichment(
    sumstats: pd.DataFrame | str | os.PathLike,
    out: str | os.PathLike,
    *,
    gene_sets: Any = "GO_BP",
    extra_gene_sets: list[Any] | None = None,
    ld_reference: Any = None,
    genes: pd.DataFrame | str | os.PathLike | None = None,
    build: str = "GRCh37",
    window_up_kb: float = 10.0,
    window_down_kb: float = 10.0,
    shrinkage: float = 0.0,
    p_method: str = "saddle_contour",
    min_size: int = 10,
    max_size: int = 500,
    correlation_window_kb: float = 500.0,
    bias_correction: bool = True,
    n_jobs: int = 1,
    title: str | None = None,
    plots: bool = True,
    progress: bool = True,
    gene_ld: GeneLD | None = None,
) -> dict[str, Any]:
    """Gene analysis + gene-set analysis + plots, written to ``out``.

    Writes ``genes.tsv`` (:func:`gene_tests` schema), ``gene_correlations.tsv.gz``,
    ``gene_sets.tsv`` (:func:`run_gene_set_analysis` schema), ``meta.json`` (settings, counts)
    and ``figures/gene_manhattan.{png,pdf}``, ``figures/top_gene_sets.{png,pdf}``.

    Parameters
    ----------
    gene_sets : "GO_BP", path, DataFrame or None, default="GO_BP"
        Gene sets (long ``set_id, set_name, gene_name``) or a GMT path; ``None`` skips the
        gene-set analysis.
    extra_gene_sets : list, optional
        More sets (GMT paths or DataFrames) analysed together with ``gene_sets``.
    Other parameters
        As :func:`run_gene_analysis`; ``min_size``/``max_size`` bound the analysed set sizes.

    Returns
    -------
    dict
        ``n_genes, n_significant_genes, bonferroni, top_genes, n_sets, top_sets, tables`` and
        the paths written.
    """
    out = Path(out)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    ga = run_gene_analysis(sumstats, ld_reference=ld_reference, genes=genes, build=build,
                           window_up_kb=window_up_kb, window_down_kb=window_down_kb,
                           shrinkage=shrinkage, p_method=p_method,
                           correlation_window_kb=correlation_window_kb,
                           bias_correction=bias_correction, n_jobs=n_jobs,
                           progress=progress, gene_ld=gene_ld)
    gres = ga.genes.copy()
    gres["fdr"] = fdr_bh(gres["p_value"].to_numpy())
    write_table(gres, out / "genes.tsv")
    write_table(ga.correlations, out / "gene_correlations.tsv.gz")
    n = len(gres)
    bonf = 0.05 / max(n, 1)
    summary: dict[str, Any] = {
        "n_genes": int(n),
        "bonferroni": bonf,
        "n_significant_genes": int((gres["p_value"] < bonf).sum()),
        "top_genes": gres.nsmallest(10, "p_value")[["gene_name", "p_value"]].to_dict("records"),
        "genes": str(out / "genes.tsv"),
        "gene_correlations": str(out / "gene_correlations.tsv.gz"),
        "tables": ["genes.tsv", "gene_correlations.tsv.gz"],
        "figures": [],
    }
    sets_res = None
    if gene_sets is not None or extra_gene_sets:
        frames = [] if gene_sets is None else [_load_sets(gene_sets, min_size, max_size)]
        frames += [_load_sets(s, min_size, max_size) for s in (extra_gene_sets or [])]
        allsets = pd.concat(frames, ignore_index=True)
        for c in ("set_id", "set_name", "gene_name"):
            if c in allsets:
                allsets[c] = allsets[c].astype(str)
        sets_res = run_gene_set_analysis(gres, allsets, correlations=ga.correlations,
                                         min_size=min_size, max_size=max_size)
        write_table(sets_res, out / "gene_sets.tsv")
        summary.update({
            "n_sets": int(len(sets_res)),
            "n_sets_fdr05": int((sets_res["fdr"] < 0.05).sum()),
            "top_sets": sets_res.head(10)[["set_id", "set_name", "n_genes", "p_value", "fdr"]].to_dict("records"),
            "gene_sets": str(out / "gene_sets.tsv"),
        })
        summary["tables"].append("gene_sets.tsv")
    if plots:
        from bma_genetics.plots.enrichment import plot_gene_manhattan, plot_top_gene_sets

        fig = plot_gene_manhattan(gres, title=title)
        summary["figures"] += _save(fig, out / "figures" / "gene_manhattan")
        if sets_res is not None and len(sets_res):
            fig = plot_top_gene_sets(sets_res, title=title)
            summary["figures"] += _save(fig, out / "figures" / "top_gene_sets")
    meta = {"settings": {"build": build, "window_up_kb": window_up_kb, "window_down_kb": window_down_kb,
                         "shrinkage": shrinkage, "p_method": p_method, "min_size": min_size,
                         "max_size": max_size, "ld_reference": str(ld_reference) if ld_reference is not None else "EUR panel",
                         "n_ref": ga.ld.n_ref, "n_snps_used": int(len(ga.ld.snps))},
            "summary": {k: v for k, v in summary.items() if k not in ("tables", "figures")}}
    write_text(out / "meta.json", json.dumps(meta, indent=2, default=str))
    return summary


def _save(fig, stem: Path) -> list[str]:
    from bma_genetics.plots._save import save_figure

    return [str(p) for p in save_figure(fig, stem, close=True)]

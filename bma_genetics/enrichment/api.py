"""Public API of the enrichment stage: gene analysis, gene-set analysis, end-to-end runs.

:func:`run_gene_analysis` returns a :class:`GeneAnalysis` and :func:`run_enrichment` an
:class:`EnrichmentResult` (both :class:`~bma_genetics._result.StageResult`). Tables are written
through :func:`bma_genetics.io.write_gene_results` / :func:`~bma_genetics.io.write_gene_set_results`;
figures are drawn from the result by :func:`bma_genetics.enrichment.figures.write_enrichment_figures`.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bma_genetics._atomic import write_table, write_text
from bma_genetics._check import check_columns, fail
from bma_genetics._result import StageResult
from bma_genetics.enrichment.gene_sets import (
    run_gene_property_analysis,
    run_gene_set_analysis,
)
from bma_genetics.enrichment.genes import (
    LEFT_OUT_COLUMNS,
    GeneLD,
    compute_gene_ld,
    gene_tests,
    sumstats_z,
)
from bma_genetics.io.builds import normalise_build
from bma_genetics.io.results import write_gene_results, write_gene_set_results
from bma_genetics.ld import check_ld_coverage
from bma_genetics.stats import fdr_bh

log = logging.getLogger(__name__)

__all__ = [
    "EnrichmentResult",
    "GeneAnalysis",
    "compute_gene_ld",
    "gene_tests",
    "load_gene_table",
    "run_enrichment",
    "run_gene_analysis",
    "run_gene_property_analysis",
    "run_gene_set_analysis",
]


@dataclass
class GeneAnalysis(StageResult):
    """Result of :func:`run_gene_analysis`.

    Attributes
    ----------
    table : DataFrame
        Per-gene results (schema in :func:`bma_genetics.enrichment.gene_tests`); also
        :attr:`genes`.
    correlations : DataFrame
        ``gene_id_1, gene_id_2, r`` between nearby genes' statistics (for the gene-set GLS).
    ld : GeneLD or None
        The LD summaries, reusable for another trait with :func:`gene_tests`.
    """

    correlations: pd.DataFrame = field(default_factory=pd.DataFrame)
    ld: GeneLD | None = None

    @property
    def genes(self) -> pd.DataFrame:
        """The per-gene results (the canonical table)."""
        return self.table


@dataclass
class EnrichmentResult(StageResult):
    """Result of :func:`run_enrichment`.

    Attributes
    ----------
    table : DataFrame
        Per-gene results with ``fdr`` (what ``genes.tsv`` holds).
    gene_sets : DataFrame or None
        Gene-set results (schema in :func:`run_gene_set_analysis`); None when no sets were given.
    correlations : DataFrame
        Gene-gene correlations used by the gene-set GLS.
    report : dict
        ``n_genes, bonferroni, n_significant_genes, top_genes`` and, with sets, ``n_sets,
        n_sets_fdr05, top_sets``; ``title``; ``settings`` (build, windows, LD source and size).
    files : dict of str to Path
        ``genes``, ``gene_correlations``, ``gene_sets``, ``meta`` when ``out`` was given.
    """

    gene_sets: pd.DataFrame | None = None
    correlations: pd.DataFrame = field(default_factory=pd.DataFrame)


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


def _read_sumstats(sumstats: pd.DataFrame | str | os.PathLike, build: str | None = None) -> pd.DataFrame:
    from bma_genetics.io.builds import build_of, infer_build, with_build

    known = None
    if build == "infer":  # from HapMap3's positions on both builds
        from bma_genetics.resources import load_build_reference

        known, build = load_build_reference(), None
    if isinstance(sumstats, pd.DataFrame):
        if known is not None and build_of(sumstats) is None:
            ev = infer_build(sumstats, known)
            log.info("run_gene_analysis: the summary statistics: %s", ev.describe())
            return with_build(sumstats, ev.build) if ev.build else sumstats
        stated = build_of(sumstats, "run_gene_analysis/build", source="the summary statistics")
        if build is not None and stated and stated != build:
            raise fail("run_gene_analysis/build", f"the summary statistics' genome_build is {stated} but "
                       f"build={build!r} was given")
        return with_build(sumstats, build) if build is not None and not stated else sumstats
    from bma_genetics.io.sumstats import read_sumstats

    return read_sumstats(sumstats, build=build, known_variants=known)


def align_build(ss: pd.DataFrame, *, reader: Any, ld: Any, chain: str | os.PathLike | None = None,
                source: str = "the summary statistics", where: str = "run_gene_analysis") -> tuple[pd.DataFrame, dict[str, Any]]:
    """Put summary statistics on the build of the LD source and gene table, or refuse.

    With a ``chain`` the table is lifted over (:func:`bma_genetics.io.builds.liftover`); then
    its build must not contradict the bundled panel's (GRCh37, ``ld="reference"``) and the
    rsids it shares with the LD source must sit at the same positions
    (:func:`bma_genetics.io.builds.check_against_reference`).

    Returns
    -------
    (DataFrame, dict)
        The table, and ``{"build": ..., "liftover": counts or None, "chain": path or None}``;
        ``build`` is the build of the gene table to use (the table's, else GRCh37, logged).
    """
    from bma_genetics.io.builds import (
        build_of,
        check_against_reference,
        check_same_build,
        liftover,
        read_chain,
    )

    record: dict[str, Any] = {"build": build_of(ss, f"{where}/sumstats", source=source), "liftover": None,
                              "chain": None}
    if chain is not None:
        c = read_chain(chain)
        if record["build"] == c.target_build:
            log.info("%s: %s is already %s; the chain %s is not needed", where, source, c.target_build, c.path.name)
        else:
            ss, record["liftover"] = liftover(ss, c, source=source, where=f"{where}/chain")
            record["build"], record["chain"] = c.target_build, str(c.path)
    if isinstance(ld, str) and ld == "reference":
        check_same_build(record["build"], "GRCh37", where=f"{where}/ld", names=(source, "the bundled 1000 Genomes panel"))
    if reader is not None:
        ld_name = f"the LD source {ld!r}" if isinstance(ld, (str, os.PathLike)) else "the LD source"
        check_against_reference(ss, reader.variants, names=(source, ld_name), where=f"{where}/ld")
    if record["build"] is None:
        log.warning("%s: the genome build of %s is not stated (no genome_assembly metadata, no build given); "
                    "genes are placed on GRCh37: give build= (--build) if it is GRCh38", where, source)
    return ss, record


def run_gene_analysis(
    sumstats: pd.DataFrame | str | os.PathLike,
    *,
    ld: Any = "reference",
    genotypes: str | os.PathLike | None = None,
    samples: Sequence[str] | str | os.PathLike | None = None,
    allow_partial_ld: bool = False,
    genes: pd.DataFrame | str | os.PathLike | None = None,
    build: str | None = None,
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
    chain: str | os.PathLike | None = None,
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
    ld : {"reference", "in-sample"}, path or GenotypeReader, default="reference"
        LD source (:func:`bma_genetics.ld.open_ld_source`): the cached 1000 Genomes EUR panel
        (chr17-22), ``"in-sample"`` (``genotypes``), or a PLINK prefix of your own panel.
    genotypes : path, optional
        The GWAS sample's genotypes (BGEN or PLINK), for ``ld="in-sample"``.
    samples : list of str or path, optional
        The analysed samples (eids, or a file of them such as the GWAS's
        ``analysed_samples.txt``, read by :func:`bma_genetics.io.read_sample_list`): LD is
        computed over these only. Default: every sample of the LD source (with
        ``ld="in-sample"`` a warning, as the genotype files usually hold other ancestries,
        relatives and people without the trait).
    allow_partial_ld : bool, default=False
        An LD source that lacks chromosomes of the summary statistics (the bundled reference is
        chr17-22) is an error naming them; ``True`` goes on without them and the result
        records what was left out (``ld_missing_chromosomes``, ``n_snps_left_out``,
        ``n_genes_left_out`` in the report; ``ld_left_out.tsv`` from :func:`run_enrichment`).
    genes : DataFrame or path, optional
        Gene table or a GTF; default the GENCODE table for ``build``.
    build : {"GRCh37", "GRCh38", "infer"}, optional
        Genome build of the summary statistics when they state none (GWAS-SSF states
        ``genome_assembly``); ``"infer"``: from HapMap3's positions on both builds
        (:func:`bma_genetics.resources.load_build_reference`). The default gene table is
        GENCODE on that build (GRCh37 when unknown, with a warning). Summary statistics whose rsids sit at other positions in the
        LD source, or not on GRCh37 with the bundled panel, are refused.
    protein_coding_only : bool, default=True
    window_up_kb, window_down_kb : float, default=10
    shrinkage : float, default=0
        LD regularisation towards the identity (see :func:`compute_gene_ld`).
    correlation_window_kb, bias_correction
        Gene-gene correlations (see :func:`compute_gene_ld`); pass ``bias_correction=False``
        when ``ld`` holds the GWAS sample's own genotypes.
    p_method : str, default="saddle_contour"
        Exact contour inversion; ``"saddlepoint"`` is faster and approximate.
    n_jobs : int, default=1
    progress : bool, default=True
    gene_ld : GeneLD, optional
        Reuse LD summaries computed for the same SNPs (another trait of the same GWAS).
    chain : path, optional
        UCSC chain file from the summary statistics' build to the LD source's and gene table's
        (e.g. ``hg38ToHg19.over.chain.gz`` for GRCh38 statistics with a GRCh37 panel); variants
        that do not map are dropped (counted in ``report["genome_build"]``).

    Returns
    -------
    GeneAnalysis
        ``.to_frame()`` / ``.genes`` the per-gene results, ``.correlations``, ``.ld``.

    Examples
    --------
    >>> res = run_gene_analysis("bmff_spine.tsv.gz", ld="reference")  # doctest: +SKIP
    >>> res.genes.nsmallest(5, "p_value")[["gene_name", "nsnps", "p_value"]]  # doctest: +SKIP
    """
    from bma_genetics._check import check_positive

    for name, value in (("window_up_kb", window_up_kb), ("window_down_kb", window_down_kb),
                        ("correlation_window_kb", correlation_window_kb)):
        check_positive(f"run_gene_analysis/{name}", value, allow_zero=True)
    if isinstance(genes, (str, os.PathLike)) and not Path(genes).exists():
        raise fail("run_gene_analysis/genes", f"no such file {genes}")
    # The LD source is checked before anything is read (a misspelt ``ld`` fails here).
    reader = _open_ld(ld, genotypes, samples, "run_gene_analysis") if gene_ld is None else None
    if not (isinstance(build, str) and build == "infer"):
        build = normalise_build(build, "run_gene_analysis/build")
    ss = _read_sumstats(sumstats, build).reset_index(drop=True)
    check_columns("run_gene_analysis/sumstats", ss, ["chromosome", "base_pair_location"])
    if reader is not None:  # a partial panel is named first (compute_gene_ld records what it leaves out)
        check_ld_coverage(reader, ss["chromosome"].astype(str).unique(), allow_partial=allow_partial_ld,
                          where="run_gene_analysis/ld", what="summary-statistics variants")
    source = str(sumstats) if not isinstance(sumstats, pd.DataFrame) else "the summary statistics"
    ss, builds = align_build(ss, reader=reader, ld=ld if gene_ld is None else None, chain=chain, source=source)
    z = sumstats_z(ss, "run_gene_analysis")
    ok = np.isfinite(z)
    if not ok.any():
        raise fail("run_gene_analysis/sumstats", "no SNP has a finite Z (beta/standard_error or p_value)")
    ss = ss.loc[ok].reset_index(drop=True)
    z = z[ok]
    if gene_ld is None:
        gtab = load_gene_table(genes, build=builds["build"] or "GRCh37", protein_coding_only=protein_coding_only)
        cols = [c for c in ("chromosome", "base_pair_location", "effect_allele", "other_allele", "variant_id") if c in ss]
        snps = ss[cols].assign(_row=np.arange(len(ss)))
        gene_ld = compute_gene_ld(snps, reader, gtab, window_up_kb=window_up_kb,
                                  window_down_kb=window_down_kb, shrinkage=shrinkage,
                                  correlation_window_kb=correlation_window_kb,
                                  bias_correction=bias_correction, n_jobs=n_jobs, progress=progress,
                                  allow_partial_ld=allow_partial_ld, ld_where="run_gene_analysis/ld")
        zz = z[gene_ld.snps["_row"].to_numpy()]
    else:
        key_ld = gene_ld.snps["chromosome"].astype(str) + ":" + gene_ld.snps["base_pair_location"].astype(str)
        key_ss = pd.Series(ss["chromosome"].astype(str) + ":" + ss["base_pair_location"].astype(str))
        pos = pd.Series(np.arange(len(ss)), index=key_ss.to_numpy())
        pos = pos[~pos.index.duplicated()]
        idx = pos.reindex(key_ld.to_numpy()).to_numpy()
        zz = np.where(np.isnan(idx), np.nan, z[np.nan_to_num(idx, nan=0).astype(int)])
    res = gene_tests(gene_ld, zz, p_method=p_method, n_jobs=n_jobs)
    return GeneAnalysis(table=res, correlations=gene_ld.correlations, ld=gene_ld,
                        report={"n_genes": int(len(res)), "n_snps_used": int(len(gene_ld.snps)),
                                "ld_samples": int(gene_ld.n_ref), "genome_build": builds,
                                **ld_left_out_report(gene_ld)})


def ld_left_out_report(gene_ld: GeneLD) -> dict[str, Any]:
    """``ld_missing_chromosomes``, ``n_snps_left_out``, ``n_genes_left_out``: what a partial LD
    source left out (empty lists and zeros when it covered everything)."""
    lo = gene_ld.left_out
    return {"ld_missing_chromosomes": [str(c) for c in lo["chromosome"]],
            "n_snps_left_out": int(lo["n_snps"].sum()) if len(lo) else 0,
            "n_genes_left_out": int(lo["n_genes"].sum()) if len(lo) else 0}


def _open_ld(ld: Any, genotypes: Any, samples: Any, where: str):
    """The LD source, restricted to the analysed samples when given (a list or a file of eids)."""
    from bma_genetics.io import read_sample_list
    from bma_genetics.ld import open_ld_source

    if isinstance(samples, (str, os.PathLike)):
        samples = read_sample_list(samples)
    elif samples is not None and not all(isinstance(x, str) for x in samples):
        raise fail(f"{where}/samples", "expected a list of sample identifiers (str) or a file of them")
    reader = open_ld_source(ld, genotypes=genotypes, samples=samples, where=f"{where}/ld")
    if ld == "in-sample" and samples is None:
        log.warning("%s: in-sample LD over all %d samples of the genotypes; pass samples= (the GWAS's "
                    "analysed_samples.txt, --samples) to use the analysed samples only", where, reader.n_samples)
    return reader


def _load_sets(gene_sets: Any, min_size: int, max_size: int) -> pd.DataFrame:
    from bma_genetics.resources import load_gene_sets

    if isinstance(gene_sets, pd.DataFrame):
        return gene_sets
    if gene_sets is None or gene_sets == "GO_BP":
        return load_gene_sets("GO_BP", min_size=min_size, max_size=max_size)
    return load_gene_sets(path=gene_sets, min_size=1, max_size=10**9)


def run_enrichment(
    sumstats: pd.DataFrame | str | os.PathLike,
    out: str | os.PathLike | None,
    *,
    gene_sets: Any = "GO_BP",
    extra_gene_sets: list[Any] | None = None,
    ld: Any = "reference",
    genotypes: str | os.PathLike | None = None,
    samples: Sequence[str] | str | os.PathLike | None = None,
    allow_partial_ld: bool = False,
    genes: pd.DataFrame | str | os.PathLike | None = None,
    build: str | None = None,
    chain: str | os.PathLike | None = None,
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
    progress: bool = True,
    gene_ld: GeneLD | None = None,
) -> EnrichmentResult:
    """Gene analysis + gene-set analysis, written to ``out``.

    Writes ``genes.tsv`` (:func:`gene_tests` schema + ``fdr``, through
    :func:`bma_genetics.io.write_gene_results`), ``gene_correlations.tsv.gz``,
    ``gene_sets.tsv`` (:func:`run_gene_set_analysis` schema, through
    :func:`bma_genetics.io.write_gene_set_results`) and ``meta.json`` (settings, counts).
    Figures (gene Manhattan, top gene sets) are drawn from the result by
    :func:`bma_genetics.enrichment.figures.write_enrichment_figures`.

    Parameters
    ----------
    sumstats : DataFrame or path
        GWAS-SSF summary statistics.
    out : path or None
        Output folder; ``None`` writes nothing.
    gene_sets : "GO_BP", path, DataFrame or None, default="GO_BP"
        Gene sets (long ``set_id, set_name, gene_name``) or a GMT path; ``None`` skips the
        gene-set analysis.
    extra_gene_sets : list, optional
        More sets (GMT paths or DataFrames) analysed together with ``gene_sets``.
    ld : {"reference", "in-sample"}, path or GenotypeReader, default="reference"
        LD source (:func:`bma_genetics.ld.open_ld_source`); ``genotypes`` for ``"in-sample"``.
    samples, allow_partial_ld
        The analysed samples LD is computed over, and whether an LD source lacking some of the
        summary statistics' chromosomes may be used (see :func:`run_gene_analysis`); what it
        left out is in the summary (``ld_missing_chromosomes``, ``n_snps_left_out``,
        ``n_genes_left_out``) and in ``ld_left_out.tsv`` (``chromosome, n_snps, n_genes,
        reason``).
    title : str, optional
        Label of the figures (kept in ``report["title"]``).
    Other parameters
        As :func:`run_gene_analysis`; ``min_size``/``max_size`` bound the analysed set sizes.

    Returns
    -------
    EnrichmentResult
        ``.to_frame()`` the gene results, ``.gene_sets``, ``.correlations``, ``.summary()``
        (``n_genes, n_significant_genes, bonferroni, top_genes, n_sets, n_sets_fdr05,
        top_sets``), ``.files``.
    """
    # gene sets first: a missing or malformed GMT fails before the gene analysis, not after it
    frames = [] if gene_sets is None else [_load_sets(gene_sets, min_size, max_size)]
    frames += [_load_sets(s, min_size, max_size) for s in (extra_gene_sets or [])]
    ga = run_gene_analysis(sumstats, ld=ld, genotypes=genotypes, samples=samples,
                           allow_partial_ld=allow_partial_ld, genes=genes, build=build, chain=chain,
                           window_up_kb=window_up_kb, window_down_kb=window_down_kb,
                           shrinkage=shrinkage, p_method=p_method,
                           correlation_window_kb=correlation_window_kb,
                           bias_correction=bias_correction, n_jobs=n_jobs,
                           progress=progress, gene_ld=gene_ld)
    gres = ga.genes.copy()
    gres["fdr"] = fdr_bh(gres["p_value"].to_numpy())
    n = len(gres)
    bonf = 0.05 / max(n, 1)
    report: dict[str, Any] = {
        "n_genes": int(n),
        "bonferroni": bonf,
        "n_significant_genes": int((gres["p_value"] < bonf).sum()),
        "top_genes": gres.nsmallest(10, "p_value")[["gene_name", "p_value"]].to_dict("records"),
        **ld_left_out_report(ga.ld),
    }
    sets_res = None
    if frames:
        allsets = pd.concat(frames, ignore_index=True)
        for c in ("set_id", "set_name", "gene_name"):
            if c in allsets:
                allsets[c] = allsets[c].astype(str)
        sets_res = run_gene_set_analysis(gres, allsets, correlations=ga.correlations,
                                         min_size=min_size, max_size=max_size)
        report.update({
            "n_sets": int(len(sets_res)),
            "n_sets_fdr05": int((sets_res["fdr"] < 0.05).sum()),
            "top_sets": sets_res.head(10)[["set_id", "set_name", "n_genes", "p_value", "fdr"]].to_dict("records"),
        })
    settings = {"build": ga.report["genome_build"]["build"], "genome_build": ga.report["genome_build"],
                "window_up_kb": window_up_kb, "window_down_kb": window_down_kb,
                "shrinkage": shrinkage, "p_method": p_method, "min_size": min_size, "max_size": max_size,
                "ld": ("gene_ld given" if gene_ld is not None
                       else str(ld) if isinstance(ld, (str, os.PathLike)) else type(ld).__name__),
                "n_ref": ga.ld.n_ref, "n_snps_used": int(len(ga.ld.snps)),
                "allow_partial_ld": bool(allow_partial_ld)}
    result = EnrichmentResult(table=gres, gene_sets=sets_res, correlations=ga.correlations,
                              report={**report, "title": title, "settings": settings})
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        files = {"genes": write_gene_results(gres, out / "genes.tsv"),
                 "gene_correlations": write_table(ga.correlations, out / "gene_correlations.tsv.gz")}
        if sets_res is not None:
            files["gene_sets"] = write_gene_set_results(sets_res, out / "gene_sets.tsv")
        if len(ga.ld.left_out):
            files["ld_left_out"] = write_table(ga.ld.left_out[LEFT_OUT_COLUMNS], out / "ld_left_out.tsv")
        meta = {"settings": settings, "summary": report}
        files["meta"] = write_text(out / "meta.json", json.dumps(meta, indent=2, default=str))
        result.files = files
    return result

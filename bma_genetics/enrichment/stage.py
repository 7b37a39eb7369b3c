"""Pipeline stage ``enrichment``: gene and gene-set analysis of every BMFF site's GWAS.

Parameters: :data:`PARAMS` below (the ``enrichment:`` mapping of a study config), tabulated in
``docs/parameters.md``.

Writes ``enrichment/<trait>/{genes.tsv, gene_correlations.tsv.gz, gene_sets.tsv, meta.json}``
and ``enrichment/figures/<trait>_{gene_manhattan,top_gene_sets}.{png,pdf}``.
They are written to ``enrichment/.partial/`` and moved into place when every trait is done, so
an interrupted run leaves no table that looks finished.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bma_genetics._atomic import kill_point
from bma_genetics._params import Param, check_params, keyword_or_path
from bma_genetics.errors import InputError

log = logging.getLogger(__name__)

NAME = "enrichment"
REQUIRES = ["gwas"]  # the traits' summary statistics
#: Aggregate tables shown in the run report (patterns in the stage folder; never per-participant rows).
REPORT_TABLES = ["*/genes.tsv", "*/gene_sets.tsv", "*/ld_left_out.tsv"]
#: Cohort files read besides its path options (their contents are part of the completion key).
INPUTS = ["genotypes/imputed/*.bgen", "genotypes/imputed/*.sample", "genotypes/array/*.bed", "genotypes/array/*.bim",
          "genotypes/array/*.fam", "truth/causal_variants.tsv"]

PARAMS = [
    Param("traits", list, None, "labels of the gwas stage's sumstats (default: those without a stratum "
          "suffix such as .female)", item_type=str),
    Param("ld", (str, Path), "in-sample", "LD source: in-sample (the cohort's imputed BGEN, else array PLINK), "
          "reference (cached 1000G EUR, chr17-22), or a PLINK prefix of your own panel",
          check=keyword_or_path(("in-sample", "reference"), "a PLINK prefix"),
          allowed="'in-sample', 'reference', or a PLINK prefix"),
    Param("allow_partial_ld", bool, False, "accept an LD source that lacks chromosomes of the summary statistics "
          "(the reference panel is chr17-22): their genes are left out and listed in the summary and "
          "ld_left_out.tsv; false: such a source is an error"),
    Param("gene_sets", (str, Path), "GO_BP", "GO_BP, a GMT path, or null (genes only)", nullable=True),
    Param("planted_pathway", bool, True, "add the simulated causal genes as set SIMULATED_CAUSAL and report "
          "its rank (simulated cohorts)"),
    Param("build", str, None, "genome build of the summary statistics when they state none (the gwas stage's "
          "GWAS-SSF files state it; infer: from HapMap3's positions on both builds); the gene table is GENCODE "
          "on the statistics' build (GRCh37 when unknown)", options=("GRCh37", "GRCh38", "infer"), nullable=True),
    Param("chain", Path, None, "UCSC chain file from the statistics' build to the LD source's (relative to the "
          "cohort, or absolute); null: statistics whose rsids sit elsewhere in the LD source are an error",
          nullable=True),
    Param("protein_coding_only", bool, True, "protein-coding genes only"),
    Param("window_up_kb", float, 10.0, "upstream annotation window (kb)", range=(0, None)),
    Param("window_down_kb", float, 10.0, "downstream annotation window (kb)", range=(0, None)),
    Param("shrinkage", float, 0.0, "LD shrinkage towards identity", range=(0, 1)),
    Param("correlation_window_kb", float, 500.0, "gene pairs within this distance are correlated in the "
          "gene-set GLS", range=(0, None)),
    Param("p_method", str, "saddle_contour", "gene P: saddle_contour (exact), imhof, or saddlepoint (faster, "
          "approximate)", options=("saddle_contour", "imhof", "saddlepoint")),
    Param("min_size", int, 5, "smallest gene set analysed", range=(1, None)),
    Param("max_size", int, 500, "largest gene set analysed", range=(1, None)),
    Param("max_ld_samples", int, 3000, "in-sample LD from a random subsample of this size (null: everyone); "
          "r^2 bias-corrected when subsampled", nullable=True, range=(2, None)),
    Param("seed", int, None, "seed of that subsample (default: the run's seed)"),
    Param("n_jobs", int, 1, "worker processes (-1: all cores)"),
]


def _reader(spec: Any, cohort: Path | None, samples: list[str] | None = None):
    """The LD source of the ``ld`` parameter; in-sample LD from the cohort's imputed BGEN, else
    its array PLINK files, over ``samples`` (the GWAS's analysed samples) only."""
    from bma_genetics.ld import open_ld_source

    genotypes = None
    for sub in ("imputed", "array"):
        folder = cohort / "genotypes" / sub if cohort is not None else None
        if folder is not None and folder.exists() and (list(folder.glob("*.bgen")) or list(folder.glob("*.bed"))):
            genotypes = folder
            break
    return open_ld_source(spec, genotypes=genotypes, samples=samples if spec == "in-sample" else None,
                          where="enrichment/ld")


def _sumstats_paths(ctx) -> dict[str, Path]:
    """``{trait: GWAS-SSF path}``: the gwas stage's ``sumstats`` product."""
    return ctx.products("gwas", "sumstats")


def _commit(work: Path, out_dir: Path, traits: list[str]) -> None:
    """Move the finished trait folders and figures from ``work`` into ``out_dir``, replacing
    those of an earlier run (and removing trait folders of traits no longer analysed)."""
    for old in out_dir.iterdir():
        if old.is_dir() and old.name not in traits and (old / "genes.tsv").exists():
            shutil.rmtree(old)
    for name in [*traits, "figures"]:
        if (out_dir / name).exists():
            shutil.rmtree(out_dir / name)
        if (work / name).exists():
            os.replace(work / name, out_dir / name)
    (out_dir / "figures").mkdir(exist_ok=True)
    shutil.rmtree(work, ignore_errors=True)


def run(ctx, params: dict) -> dict:
    """Gene analysis (shared in-sample LD) and gene-set analysis for each trait; returns the summary."""
    from bma_genetics.enrichment.api import (
        align_build,
        ld_left_out_report,
        load_gene_table,
        run_enrichment,
    )
    from bma_genetics.enrichment.figures import write_enrichment_figures
    from bma_genetics.enrichment.genes import compute_gene_ld, sumstats_z
    from bma_genetics.io import read_sample_list
    from bma_genetics.io.sumstats import read_sumstats
    from bma_genetics.ld import check_ld_coverage

    p = check_params(NAME, params, PARAMS)
    out_dir = ctx.stage_dir("enrichment")
    cohort = Path(ctx.cohort) if ctx.cohort is not None else None
    paths = _sumstats_paths(ctx)
    # default: the main analyses (labels with a "." are strata, e.g. bmff_spine.female)
    traits = p["traits"] or [t for t in paths if "." not in t] or list(paths)
    missing = [t for t in traits if t not in paths]
    if missing:
        raise InputError(f"enrichment/traits: {missing} not in the gwas stage's sumstats {sorted(paths)}")
    t0 = time.perf_counter()
    known = None
    if p["build"] == "infer":
        from bma_genetics.resources import load_build_reference

        known = load_build_reference()
    tables = {t: read_sumstats(paths[t], build=None if known is not None else p["build"], known_variants=known)
              for t in traits}
    chain = Path(p["chain"]) if p["chain"] is not None else None
    if chain is not None and not chain.is_absolute() and cohort is not None:
        chain = cohort / chain
    # in-sample LD over the GWAS's analysed samples only (not every sample in the genotype files)
    samples = read_sample_list(ctx.product("gwas", "analysed_samples")) if p["ld"] == "in-sample" else None
    reader = _reader(p["ld"], cohort, samples)
    # a partial panel is named first (compute_gene_ld below records what it leaves out)
    check_ld_coverage(reader, pd.concat([t["chromosome"].astype(str) for t in tables.values()]).unique(),
                      allow_partial=p["allow_partial_ld"], where="enrichment/ld", what="summary-statistics variants")
    builds = {}
    for t in traits:
        tables[t], builds[t] = align_build(tables[t], reader=reader, ld=p["ld"], chain=chain, source=str(paths[t]))
    gene_build = next((b["build"] for b in builds.values() if b["build"]), None) or "GRCh37"

    def key(df):
        return (df["chromosome"].astype(str) + ":" + df["base_pair_location"].astype(str) + ":"
                + df["effect_allele"].astype(str) + ":" + df["other_allele"].astype(str))

    # one LD pass for all traits: the SNPs with a finite Z in every trait
    common = None
    for df in tables.values():
        ok = set(key(df)[np.isfinite(sumstats_z(df, "enrichment"))])
        common = ok if common is None else common & ok
    first = tables[traits[0]]
    snps = first[key(first).isin(common)][["chromosome", "base_pair_location", "effect_allele", "other_allele"]]
    snps = snps.drop_duplicates(["chromosome", "base_pair_location"]).reset_index(drop=True)
    genes = load_gene_table(None, build=gene_build, protein_coding_only=p["protein_coding_only"])
    gene_ld = compute_gene_ld(
        snps, reader, genes, window_up_kb=p["window_up_kb"], window_down_kb=p["window_down_kb"],
        shrinkage=p["shrinkage"], correlation_window_kb=p["correlation_window_kb"],
        bias_correction=p["ld"] != "in-sample", max_ld_samples=p["max_ld_samples"],
        seed=ctx.seed if p["seed"] is None else int(p["seed"]), n_jobs=p["n_jobs"], progress=False,
        allow_partial_ld=p["allow_partial_ld"], ld_where="enrichment/ld")
    t_ld = time.perf_counter() - t0
    extra = []
    truth_genes: list[str] = []
    causal_path = cohort / "truth" / "causal_variants.tsv" if cohort is not None else None
    if p["planted_pathway"] and causal_path is not None and causal_path.exists():
        causal = pd.read_csv(causal_path, sep="\t", dtype=str)
        if "gene" in causal:
            truth_genes = sorted({g for g in causal["gene"].dropna() if g and g != "nan"})
            if truth_genes:
                extra.append(pd.DataFrame({"set_id": "SIMULATED_CAUSAL", "set_name": "simulated causal genes",
                                           "gene_name": truth_genes}))
    gene_sets = p["gene_sets"]
    if gene_sets is not None and gene_sets != "GO_BP" and cohort is not None and not Path(gene_sets).is_absolute() \
            and (cohort / gene_sets).exists():
        gene_sets = str(cohort / gene_sets)
    per_trait: dict[str, Any] = {}
    tables_out: list[str] = []
    figures: list[str] = []
    t1 = time.perf_counter()
    # every table and figure is written to .partial/ and moved into place once all traits are
    # done: a killed or failed run leaves no table that looks finished
    work = out_dir / ".partial"
    shutil.rmtree(work, ignore_errors=True)
    for k, trait in enumerate(traits, start=1):
        tdir = work / trait
        res = run_enrichment(
            tables[trait], tdir, gene_sets=gene_sets, extra_gene_sets=extra or None,
            shrinkage=p["shrinkage"], p_method=p["p_method"],
            min_size=p["min_size"], max_size=p["max_size"], n_jobs=p["n_jobs"], title=trait,
            progress=False, gene_ld=gene_ld,
        )
        summ = res.report
        rec: dict[str, Any] = {k: summ[k] for k in ("n_genes", "bonferroni", "n_significant_genes", "top_genes")}
        rec.update({k: summ[k] for k in ("n_sets", "n_sets_fdr05", "top_sets") if k in summ})
        gres = res.table
        if truth_genes:
            hit = gres[gres["gene_name"].astype(str).isin(truth_genes)]
            rec["causal_genes_tested"] = int(len(hit))
            rec["causal_genes_significant"] = sorted(hit.loc[hit["p_value"] < summ["bonferroni"], "gene_name"].tolist())
            if res.gene_sets is not None:
                sets = res.gene_sets
                where = np.flatnonzero(sets["set_id"].to_numpy() == "SIMULATED_CAUSAL")
                if where.size:
                    rec["planted_set_rank"] = int(where[0]) + 1
                    rec["planted_set_p"] = float(sets["p_value"].iloc[where[0]])
                    rec["planted_set_fdr"] = float(sets["fdr"].iloc[where[0]])
        per_trait[trait] = rec
        for name in ("genes.tsv", "gene_correlations.tsv.gz", "gene_sets.tsv", "ld_left_out.tsv", "meta.json"):
            if (tdir / name).exists():
                tables_out.append(f"{trait}/{name}")
        # figures live in the stage's figures folder, prefixed by trait, for the report
        for path in write_enrichment_figures(res, work / "figures", prefix=f"{trait}_").values():
            figures.append(str(path.relative_to(work)))
        kill_point(f"enrichment:{k}")  # test hook (BMA_GENETICS_TEST_KILL_AT), else nothing
    _commit(work, out_dir, traits)
    t_tests = time.perf_counter() - t1
    n_genes = len(gene_ld.genes)
    summary = {
        "traits": per_trait,
        "n_genes": int(n_genes),
        "n_snps_used": int(len(gene_ld.snps)),
        "ld": str(p["ld"]),
        "genome_build": {"genes": gene_build, "traits": builds},
        "ld_samples": int(gene_ld.n_ref),
        "ld_sample_set": ("the gwas stage's analysed samples" if samples is not None
                          else "the LD panel's samples"),
        **ld_left_out_report(gene_ld),
        "seconds_gene_ld": round(t_ld, 2),
        "seconds_tests": round(t_tests, 2),
        "genes_per_second": round(n_genes * len(traits) / max(t_ld + t_tests, 1e-9), 1),
        "tables": tables_out,
        "figures": figures,
    }
    log.info("enrichment: %d genes x %d traits in %.1f s", n_genes, len(traits), t_ld + t_tests)
    return summary

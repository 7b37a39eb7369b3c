"""Pipeline stage ``heritability``: LDSC h2 per GWAS and rg over every pair, after ``gwas``.

Reads the gwas stage's summary statistics (``ctx.products("gwas", "sumstats")``), plus any
external summary statistics listed in ``external``; LD scores are computed from the LD source
(``ld``: in-sample by default, over the GWAS's analysed samples, from the cohort's array
genotypes or, with ``ld_genotypes: imputed``, its imputed BGEN) or read from an LDSC folder
(``ld_scores``, e.g. ``eur_w_ld_chr/``). Writes ``ld/`` (LDSC layout), ``munged/<trait>.sumstats.gz``
with ``<trait>.filters.tsv``, ``h2.tsv``, ``rg.tsv`` and the figures. Parameters: :data:`PARAMS`,
tabulated in ``docs/parameters.md``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from bma_genetics._params import Param, check_params, keyword_or_path

log = logging.getLogger(__name__)

NAME = "heritability"
REQUIRES = ["gwas"]  # the traits' summary statistics
AFTER = ["phenotypes"]  # its BMFF table, for the phenotypic correlations beside rg
WITHDRAWALS = True  # reads the BMFF table (phenotypic correlations): withdrawn people are removed
REPORT_TABLES = ["h2.tsv", "rg.tsv", "munged/*.filters.tsv"]
#: Cohort files run opens (their fingerprints are part of the resume key): the in-sample LD
#: genotypes and the BMFF table of the phenotypic correlations.
INPUTS = ["genotypes/array/*.bed", "genotypes/array/*.bim", "genotypes/array/*.fam",
          "genotypes/imputed/*.bgen", "genotypes/imputed/*.sample", "participants/bmff_idp.parquet"]

PARAMS = [
    Param("traits", list, None, "GWAS of the gwas stage for rg and the figures (default: every one, strata "
          "included)", item_type=str),
    Param("h2_all", bool, True, "h2, LDSC intercept and ratio for every GWAS of the gwas stage (strata included; "
          "the GWAS summary shows them beside lambda GC; ~0.5 s a trait), not only for traits; a GWAS outside "
          "traits that cannot be estimated (too few SNPs) is left out with a warning"),
    Param("external", dict, None, "further summary statistics for rg: {label: path} (any format io reads; "
          "relative to the cohort or absolute)"),
    Param("ld", (str, Path), "in-sample", "genotypes for the LD scores: in-sample (the cohort's genotypes of "
          "ld_genotypes, over the GWAS's analysed samples), reference (1000G EUR, chr17-22) or a PLINK prefix",
          check=keyword_or_path(("in-sample", "reference"), "a PLINK prefix")),
    Param("ld_genotypes", str, "array", "in-sample LD scores from the cohort's array genotypes (PLINK; the "
          "regression SNPs are then the array SNPs the GWAS tested) or its imputed BGEN (every imputed SNP; "
          "about 4x the variants and a BGEN decode: minutes on the demo cohort)", options=("array", "imputed")),
    Param("ld_scores", Path, None, "an LDSC LD-score folder or prefix (eur_w_ld_chr/ layout) used instead "
          "of computing them from ld"),
    Param("w_ld", Path, None, "regression-weight LD scores in LDSC's layout (default: the LD scores)"),
    Param("window", str, "1000kb", "LD-score window: <size>cM (needs a genetic map), <size>kb or <size>snps"),
    Param("chunk_size", int, 50, "LDSC's --chunk-size (decides which pairs at a window's edge count)",
          range=(1, None)),
    Param("snp_list", (str, Path), None, "regression SNPs with alleles (LDSC's --merge-alleles): hapmap3 "
          "(the cached HapMap3 list) or a w_hm3.snplist path; null: every SNP with an LD score"),
    Param("build", str, "GRCh37", "genome build of the LD scores and the SNP list; summary statistics on another "
          "build without rsids are refused", options=("GRCh37", "GRCh38")),
    Param("info_min", float, 0.9, "munge: minimum INFO (when the summary statistics have it)", range=(0, None)),
    Param("maf_min", float, 0.01, "munge: MAF must exceed this", range=(0, 0.5)),
    Param("intercept", float, None, "constrain the h2 intercept (1 = LDSC's --no-intercept); null: free"),
    Param("two_step", float, 30.0, "two-step estimator cutoff on chi^2 for h2 (free intercept); null: one step",
          range=(0, None, "neither")),
    Param("chisq_max", float, None, "drop SNPs with chi^2 at or above this from h2; null: none (LDSC's default)",
          range=(0, None, "neither")),
    Param("n_blocks", int, 200, "block jackknife blocks", range=(2, None)),
    Param("m_common", bool, True, "M is the number of SNPs with MAF > 5% (M_5_50, LDSC's default); false: all"),
    Param("min_snps", int, 200, "fewest SNPs shared with the LD scores for a trait to be estimated",
          range=(10, None)),
    Param("rg", bool, True, "estimate rg for every pair of traits"),
]


def _phenotypic_correlation(ctx, traits: list[str]):
    """Pearson correlations of the traits' BMFF columns (withdrawn people removed), or None."""
    import pandas as pd

    from bma_genetics.io import read_bmff_table

    path = None
    if ctx.has_stage("phenotypes"):
        s = ctx.summary("phenotypes")
        path = ctx.stage_dir("phenotypes") / s.get("bmff_table", "bmff.parquet")
    elif ctx.cohort is not None and (Path(ctx.cohort) / "participants" / "bmff_idp.parquet").exists():
        path = Path(ctx.cohort) / "participants" / "bmff_idp.parquet"
    if path is None or not Path(path).exists():
        return None
    table = read_bmff_table(path)
    table = table[~table["eid"].isin(ctx.withdrawn())]
    cols = [t for t in traits if t in table.columns]
    if len(cols) < 2:
        return None
    corr = table[cols].apply(pd.to_numeric, errors="coerce").corr()
    return corr.reindex(index=traits, columns=traits)


def _inflation(table) -> dict[str, dict[str, float | None]]:
    """Per trait: the GWAS's lambda GC beside LDSC's intercept (SE) and ratio (the summary's view).

    ``ldsc_ratio`` is LDSC's (intercept - 1) / (mean chi^2 - 1): the share of the inflation of the
    mean chi^2 that the intercept (confounding, not polygenicity) explains; None (NA) when the
    mean chi^2 is at most 1 or the intercept was constrained.
    """
    import math

    def num(v) -> float | None:
        return None if v is None or not math.isfinite(float(v)) else float(v)

    out = {}
    for r in table.to_dict("records"):
        out[r["trait"]] = {"lambda_gc": num(r.get("gwas_lambda_gc", r["lambda_gc"])),
                           "ldsc_intercept": num(r["intercept"]),
                           "ldsc_intercept_standard_error": num(r["intercept_standard_error"]),
                           "ldsc_ratio": num(r["ratio"]), "ldsc_ratio_standard_error": num(r["ratio_standard_error"])}
    return out


def run(ctx, params: dict) -> dict:
    """LD scores, munge, h2 per trait and the rg matrix; tables, figures and a summary."""
    import pandas as pd

    from bma_genetics.errors import InputError
    from bma_genetics.heritability.api import run_h2, run_ldscore, run_munge, run_rg
    from bma_genetics.heritability.figures import write_heritability_figures
    from bma_genetics.io import read_sample_list, read_sumstats
    from bma_genetics.io.ldsc import read_ld_scores, write_heritability_results

    p = check_params(NAME, params, PARAMS)
    out = ctx.stage_dir(NAME)
    cohort = Path(ctx.cohort) if ctx.cohort is not None else None
    gwas = ctx.products("gwas", "sumstats")
    traits = p["traits"] or list(gwas)
    missing = [t for t in traits if t not in gwas]
    if missing:
        raise InputError(f"heritability/traits: {missing} not among the GWAS {list(gwas)}")
    paths: dict[str, Path] = {t: gwas[t] for t in traits}
    extra = [t for t in gwas if t not in paths] if p["h2_all"] else []  # h2 only: intercept and ratio
    for label, path in (p["external"] or {}).items():
        path = Path(path)
        if not path.is_absolute() and cohort is not None:
            path = cohort / path
        if not path.exists():
            raise InputError(f"heritability/external: {label}: {path} not found")
        paths[str(label)] = path
    if p["ld_scores"] is not None:
        scores = read_ld_scores(p["ld_scores"])
        ld_info: dict[str, Any] = {"ld_scores": str(p["ld_scores"])}
    else:
        genotypes = cohort / "genotypes" / p["ld_genotypes"] if cohort is not None else None
        # in-sample LD is the LD of the people the GWAS analysed (withdrawals and QC applied)
        samples = read_sample_list(ctx.product("gwas", "analysed_samples")) if p["ld"] == "in-sample" else None
        ldres = run_ldscore(p["ld"], genotypes=genotypes, samples=samples, window=p["window"],
                            chunk_size=p["chunk_size"], out=out / "ld")
        scores = ldres.scores
        ld_info = {"ld": str(p["ld"]), **ldres.summary()}
        if p["ld"] == "in-sample":
            ld_info["ld_genotypes"] = p["ld_genotypes"]
        ld_info.pop("files", None)
    w_ld = read_ld_scores(p["w_ld"]) if p["w_ld"] is not None else None
    munged, filters = {}, {}
    from bma_genetics.heritability.api import _snp_list

    snp_list = _snp_list(p["snp_list"], p["build"])  # read once for every trait (HapMap3: 1.2 million rows)
    for label, path in {**paths, **{t: gwas[t] for t in extra}}.items():
        res = run_munge(read_sumstats(path), snp_list=snp_list, build=p["build"], info_min=p["info_min"],
                        maf_min=p["maf_min"], out=out / "munged" / f"{label}.sumstats.gz")
        munged[label] = res.table
        filters[label] = {"n_snps": res.report["n_snps"],
                          "removed": dict(zip(res.filters["filter"], res.filters["removed"], strict=True))}
    common = dict(w_ld=w_ld, m_common=p["m_common"], n_blocks=p["n_blocks"], min_snps=p["min_snps"])
    h2_opts = dict(intercept=p["intercept"], two_step=p["two_step"], chisq_max=p["chisq_max"], **common)
    h2 = run_h2({t: munged[t] for t in paths}, scores, **h2_opts)
    if extra:  # every other GWAS of the run: a stratum with too few SNPs is left out, not an error
        more = run_h2({t: munged[t] for t in extra}, scores, on_error="skip", **h2_opts)
        h2.table = pd.concat([h2.table, more.table], ignore_index=True)
        h2.fits.update(more.fits)
        h2.report["h2"].update(more.report["h2"])
        h2.report["n_traits"] = len(h2.table)
        h2.report["out_of_bounds"] += more.report["out_of_bounds"]
        if more.report.get("skipped"):
            h2.report["skipped"] = more.report["skipped"]
    write_heritability_results(h2.table, out / "h2.tsv", table="h2")
    # the GWAS's own lambda GC (every variant) beside LDSC's intercept and ratio: inflation from
    # polygenicity (ratio near 0) or from confounding (intercept above 1)
    gwas_lambda = ctx.summary("gwas").get("lambda_gc", {})
    if isinstance(gwas_lambda, dict):
        h2.table.insert(h2.table.columns.get_loc("lambda_gc") + 1, "gwas_lambda_gc",
                        [gwas_lambda.get(t, float("nan")) for t in h2.table["trait"]])
        write_heritability_results(h2.table, out / "h2.tsv", table="h2")
        for t, row in h2.report["h2"].items():
            row["gwas_lambda_gc"] = gwas_lambda.get(t)
    summary: dict[str, Any] = {**h2.summary(), "ld_scores": ld_info, "munge": filters,
                               "traits": list(paths), "inflation": _inflation(h2.table),
                               "tables": ["h2.tsv"] + [f"munged/{t}.filters.tsv" for t in munged]}
    rg = None
    if p["rg"] and len(paths) >= 2:
        pheno = _phenotypic_correlation(ctx, list(paths))
        rg = run_rg({t: munged[t] for t in paths}, scores, phenotypic_correlation=pheno, out=out, **common)
        summary["rg"] = rg.summary()
        summary["tables"].append("rg.tsv")
    figures = write_heritability_figures(h2, rg, out / "figures", traits=list(paths))
    summary["figures"] = [str(Path(f).relative_to(out)) for f in figures.values()]
    summary.pop("files", None)
    return summary

"""Pipeline stage ``finemap``: SuSiE-RSS over every GWAS locus, then coloc.abf, SuSiE-coloc and
SMR + HEIDI against eQTL (or other) summary statistics, after ``gwas``.

Reads the gwas stage's summary statistics and loci tables (``loci/<trait>.loci.tsv``) and its
analysed samples; LD comes from ``ld`` (in-sample by default: the cohort's imputed BGEN over
the GWAS's analysed samples, the dosages the GWAS tested). eQTL summary statistics come from
``eqtl`` (SMR query or GTEx v8 layout, :func:`bma_genetics.io.read_eqtl`; by default the
cohort's ``eqtl/eqtl.smr.txt.gz`` when it has one), other traits from ``other``. Writes
``credible_sets.tsv``, ``pips.tsv.gz``, ``loci.tsv``, ``coloc.tsv``, ``coloc_susie.tsv``,
``smr.tsv`` and the figures. Parameters: :data:`PARAMS`, tabulated in ``docs/parameters.md``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from bma_genetics._params import Param, check_params, keyword_or_path

log = logging.getLogger(__name__)

NAME = "finemap"
REQUIRES = ["gwas"]  # summary statistics, loci and analysed samples
REPORT_TABLES = ["loci.tsv", "coloc.tsv", "coloc_susie.tsv", "smr.tsv"]
#: Cohort files run opens (their fingerprints are part of the resume key).
INPUTS = ["genotypes/imputed/*.bgen", "genotypes/imputed/*.sample", "eqtl/*", "truth/eqtl_genes.tsv",
          "truth/causal_variants.tsv"]

PARAMS = [
    Param("traits", list, None, "GWAS of the gwas stage to fine-map (default: every unstratified trait)",
          item_type=str),
    Param("ld", (str, Path), "in-sample", "LD source: in-sample (the cohort's imputed BGEN over the GWAS's "
          "analysed samples), reference (1000G EUR, chr17-22) or a PLINK prefix",
          check=keyword_or_path(("in-sample", "reference"), "a PLINK prefix")),
    Param("L", int, 10, "SuSiE: maximum number of causal signals per locus", range=(1, None)),
    Param("coverage", float, 0.95, "credible-set coverage", range=(0, 1, "neither")),
    Param("min_abs_corr", float, 0.5, "purity filter: smallest |r| between the members of a credible set",
          range=(0, 1)),
    Param("flank_kb", float, 250, "added on each side of a GWAS locus (kb)", range=(0, None)),
    Param("max_variants", int, 2000, "at most this many variants per region (those nearest the lead)",
          range=(2, None)),
    Param("p_fallback", float, None, "for a trait without GWAS loci: fine-map regions around variants with P "
          "below this (null: none)", range=(0, 1, "right")),
    Param("eqtl", (str, Path), None, "eQTL summary statistics (SMR query or GTEx v8 layout; relative to the "
          "cohort or absolute); null: the cohort's eqtl/eqtl.smr.txt.gz when present"),
    Param("eqtl_n", float, None, "eQTL sample size (null: from eqtl.json beside the file, else unknown)",
          range=(1, None)),
    Param("other", dict, None, "further summary statistics to colocalise with: {label: path} (any format "
          "read_sumstats reads)"),
    Param("p1", float, 1e-4, "coloc prior: a variant affects trait 1", range=(0, 1, "neither")),
    Param("p2", float, 1e-4, "coloc prior: a variant affects trait 2", range=(0, 1, "neither")),
    Param("p12", float, 1e-5, "coloc prior: a variant affects both", range=(0, 1, "neither")),
    Param("coloc_susie", bool, True, "also SuSiE-coloc (pairs of credible sets; p12 5e-6 as coloc.bf_bf)"),
    Param("smr", bool, True, "SMR + HEIDI with the eQTL"),
    Param("max_plots", int, 20, "regional plots with the PIP track: at most this many loci", range=(0, None)),
]


def _resolve(path: Any, cohort: Path | None) -> Path:
    p = Path(path)
    return p if p.is_absolute() or cohort is None else cohort / p


def run(ctx, params: dict) -> dict:
    """Fine-map every locus, colocalise and run SMR; tables, figures and a summary."""
    import json

    import pandas as pd

    from bma_genetics.errors import InputError
    from bma_genetics.finemap.api import regions_from_hits, run_coloc, run_finemap, run_smr
    from bma_genetics.finemap.figures import write_finemap_figures
    from bma_genetics.io import read_eqtl, read_gwas_loci, read_sample_list, read_sumstats
    from bma_genetics.ld import open_ld_source

    p = check_params(NAME, params, PARAMS)
    out = ctx.stage_dir(NAME)
    cohort = Path(ctx.cohort) if ctx.cohort is not None else None
    gwas = ctx.products("gwas", "sumstats")
    traits = p["traits"] or [t for t in gwas if "." not in t]
    missing = [t for t in traits if t not in gwas]
    if missing:
        raise InputError(f"finemap/traits: {missing} not among the GWAS {list(gwas)}")
    sumstats = {t: read_sumstats(gwas[t]) for t in traits}
    loci: dict[str, pd.DataFrame] = {}
    fallback: list[str] = []
    for t in traits:
        loc = read_gwas_loci(ctx.product("gwas", f"loci/{t}.loci.tsv"))
        if loc.empty and p["p_fallback"] is not None:
            loc = regions_from_hits(sumstats[t], p_threshold=p["p_fallback"], flank_kb=p["flank_kb"])
            fallback.append(t)
        loci[t] = loc
    genotypes = cohort / "genotypes" / "imputed" if cohort is not None else None
    samples = read_sample_list(ctx.product("gwas", "analysed_samples")) if p["ld"] == "in-sample" else None
    reader = open_ld_source(p["ld"], genotypes=genotypes, samples=samples, where="finemap/ld")
    fm = run_finemap(sumstats, loci, reader, L=p["L"], coverage=p["coverage"], min_abs_corr=p["min_abs_corr"],
                     flank_kb=p["flank_kb"], max_variants=p["max_variants"], out=out)
    summary: dict[str, Any] = {**fm.summary(), "fallback_regions": {t: p["p_fallback"] for t in fallback},
                               "tables": ["credible_sets.tsv", "pips.tsv.gz", "loci.tsv"]}
    summary.pop("files", None)
    eqtl_path = p["eqtl"]
    if eqtl_path is None and cohort is not None and (cohort / "eqtl" / "eqtl.smr.txt.gz").exists():
        eqtl_path = cohort / "eqtl" / "eqtl.smr.txt.gz"
    coloc_tables, smr_table = [], None
    susie_tables = []
    truth_eqtl = None
    if eqtl_path is not None:
        eqtl_path = _resolve(eqtl_path, cohort)
        if not eqtl_path.exists():
            raise InputError(f"finemap/eqtl: {eqtl_path} not found")
        n_eqtl = p["eqtl_n"]
        side = eqtl_path.parent / "eqtl.json"
        if n_eqtl is None and side.exists():
            n_eqtl = json.loads(side.read_text()).get("n")
        eqtl = read_eqtl(eqtl_path, n=n_eqtl)
        co = run_coloc(fm, eqtl, label="eqtl", p1=p["p1"], p2=p["p2"], p12=p["p12"],
                       susie=p["coloc_susie"])
        coloc_tables.append(co.table)
        susie_tables.append(co.susie)
        summary["eqtl"] = {"file": str(eqtl_path), "n": n_eqtl, "n_genes": int(eqtl["gene_id"].nunique())}
        if p["smr"]:
            smr_table = run_smr(fm, eqtl, out=out).table
            summary["smr"] = {"n_tests": len(smr_table),
                              "n_significant": int((smr_table["p_value"] < 0.05 / max(len(smr_table), 1)).sum()),
                              "n_heidi_pass": int((smr_table["heidi_p_value"] > 0.05).sum())}
            summary["tables"].append("smr.tsv")
        if cohort is not None and (cohort / "truth" / "eqtl_genes.tsv").exists():
            truth_eqtl = pd.read_csv(cohort / "truth" / "eqtl_genes.tsv", sep="\t", dtype={"chromosome": str})
    for label, path in (p["other"] or {}).items():
        path = _resolve(path, cohort)
        if not path.exists():
            raise InputError(f"finemap/other: {label}: {path} not found")
        co = run_coloc(fm, read_sumstats(path), label=str(label), p1=p["p1"], p2=p["p2"], p12=p["p12"],
                       susie=p["coloc_susie"])
        coloc_tables.append(co.table)
        susie_tables.append(co.susie)
    if coloc_tables:
        from bma_genetics.io.finemap import write_finemap_results

        coloc = pd.concat(coloc_tables, ignore_index=True)
        csus = pd.concat(susie_tables, ignore_index=True)
        write_finemap_results(coloc, out / "coloc.tsv", table="coloc")
        write_finemap_results(csus, out / "coloc_susie.tsv", table="coloc_susie")
        summary["coloc"] = {"n_tests": len(coloc), "n_pp_h4_above_0.8": int((coloc["pp_h4"] > 0.8).sum()),
                            "n_susie_pairs": len(csus),
                            "priors": {"p1": p["p1"], "p2": p["p2"], "p12": p["p12"], "p12_susie": 5e-6}}
        summary["tables"] += ["coloc.tsv", "coloc_susie.tsv"]
    else:
        coloc = None
    if cohort is not None:
        summary["truth_recovery"] = _truth_recovery(fm, coloc, truth_eqtl, cohort)
    figures = write_finemap_figures(fm, sumstats, coloc, out / "figures", genes=_genes(), max_plots=p["max_plots"])
    summary["figures"] = [str(Path(f).relative_to(out)) for f in figures]
    return summary


def _genes():
    """GENCODE genes for the regional plots' gene track, when the reference data is cached."""
    from bma_genetics.errors import BmaGeneticsError

    try:
        from bma_genetics.resources import load_genes

        return load_genes("GRCh37")
    except (BmaGeneticsError, OSError) as exc:  # no network at run time: the plots go without genes
        log.info("finemap: no gene track (%s)", exc)
        return None


def _truth_recovery(fm, coloc, truth_eqtl, cohort: Path) -> dict[str, Any]:
    """On a simulated cohort: named-gene causal variants of each fine-mapped region inside a
    credible set, and coloc's PP.H4 for eQTL genes that share the causal variant or not."""
    import pandas as pd

    path = cohort / "truth" / "causal_variants.tsv"
    if not path.exists():
        return {}
    truth = pd.read_csv(path, sep="\t", dtype={"chromosome": str})
    out: dict[str, Any] = {}
    in_cs = total = 0
    for (trait, _locus), reg in fm.regions.items():
        ids = set(reg.variants["variant_id"].astype(str)) if "variant_id" in reg.variants.columns else set()
        t = truth[(truth["trait"] == trait) & (truth["gene"].fillna("").astype(str) != "")
                  & truth["variant_id"].isin(ids)]
        if t.empty or reg.fit is None:
            continue
        cs_ids = {str(reg.variants["variant_id"].iloc[j]) for cs in reg.fit.credible_sets for j in cs.variants}
        for v in t["variant_id"].unique():
            total += 1
            in_cs += v in cs_ids
    out["named_causal_in_regions"] = total
    out["named_causal_in_credible_set"] = in_cs
    if coloc is not None and truth_eqtl is not None and len(coloc):
        m = coloc.merge(truth_eqtl[["gene_id", "shares_bmff_causal", "bmff_gene"]], on="gene_id", how="inner")
        sh, di = m[m["shares_bmff_causal"]], m[~m["shares_bmff_causal"]]
        out["coloc_shared"] = {"n": len(sh), "n_pp_h4_above_0.8": int((sh["pp_h4"] > 0.8).sum())}
        out["coloc_distinct"] = {"n": len(di), "n_pp_h4_below_0.2": int((di["pp_h4"] < 0.2).sum())}
    return out

"""Pipeline stage ``mr``: every BMFF site's GWAS -> the cohort's osteoporosis GWAS.

Parameters: :data:`PARAMS` below (the ``mr:`` mapping of a study config), tabulated in
``docs/parameters.md``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pandas as pd

from bma_genetics._params import Param, check_params, keyword_or_path
from bma_genetics.errors import InputError
from bma_genetics.io.results import write_mr_results

log = logging.getLogger(__name__)

NAME = "mr"
REQUIRES = ["gwas"]  # the exposures' summary statistics
#: Aggregate tables shown in the run report (patterns in the stage folder; never per-participant rows).
REPORT_TABLES = ["mr_results.tsv", "*/heterogeneity.tsv", "*/pleiotropy.tsv", "*/steiger.tsv", "*/ld_left_out.tsv",
                 "mvmr/mvmr_results.tsv"]
#: Cohort files read besides its path options (their contents are part of the completion key).
INPUTS = ["genotypes/imputed/*.bgen", "genotypes/imputed/*.sample", "truth/mr_truth.json", "truth/mvmr_truth.json",
          "outcome_gwas/*.tsv.gz"]

PARAMS = [
    Param("outcome", Path, "outcome_gwas/osteoporosis.tsv.gz", "outcome summary statistics (relative to the "
          "cohort, or absolute); any summary-statistics format"),
    Param("outcome_name", str, None, "label in the tables (default: the file name up to its first dot)"),
    Param("outcome_build", str, None, "genome build of the outcome file when it states none (a FinnGen, plink2 "
          "or REGENIE file; GWAS-SSF states genome_assembly); a build other than the exposures' is refused "
          "unless chain is given; infer: from HapMap3's positions on both builds (the hapmap3 resource)",
          options=("GRCh37", "GRCh38", "infer"), nullable=True),
    Param("chain", Path, None, "UCSC chain file (e.g. hg19ToHg38.over.chain.gz; relative to the cohort, or "
          "absolute) to lift the instruments or the outcome onto the other's build; null: studies on different "
          "builds are an error", nullable=True),
    Param("exposures", list, None, "traits of the gwas stage's sumstats (default: every one)", item_type=str),
    Param("p_threshold", float, 5e-8, "instrument P threshold", range=(0, 1, "right")),
    Param("p_fallback", float, None, "weaker instrument P threshold used only when no variant passes "
          "p_threshold (e.g. 5e-6); recorded per pair (p_threshold, p_fallback_used) with a warning; "
          "null (default): no fallback, such an exposure is not estimated", range=(0, 1, "right"), nullable=True),
    Param("sample_overlap", bool, None, "whether the exposure and outcome GWAS share participants (true when "
          "the outcome GWAS is of the same cohort); true: a warning, recorded in the summary; null: unknown",
          nullable=True),
    Param("ld", (str, Path), "in-sample", "LD source for clumping and proxies: in-sample (the cohort's "
          "imputed BGEN, over the gwas stage's analysed samples), reference (1000G EUR, chr17-22), a PLINK "
          "prefix, or null (no LD source: needs unclumped: true)", nullable=True,
          check=keyword_or_path(("in-sample", "reference"), "a PLINK prefix"),
          allowed="'in-sample', 'reference', a PLINK prefix, or null"),
    Param("allow_partial_ld", bool, False, "accept an LD source that lacks the chromosome of a candidate "
          "instrument (the reference panel is chr17-22): those instruments are left out and listed in the summary "
          "and ld_left_out.tsv; false: such a source is an error"),
    Param("unclumped", bool, False, "run with instruments that are not LD-clumped (needed when ld is null; "
          "only for variants known to be independent); recorded per pair (clumped: false) with a warning"),
    Param("clump_r2", float, 0.001, "clumping r^2", range=(0, 1)),
    Param("clump_kb", float, 10_000, "clumping window (kb)", range=(0, None, "neither")),
    Param("proxies", bool, True, "look for LD proxies of instruments missing from the outcome"),
    Param("proxy_r2", float, 0.8, "minimum r^2 of an LD proxy", range=(0, 1)),
    Param("methods", (str, list), "all", "MR methods: registry names, default or all", item_type=str),
    Param("nboot", int, 1000, "bootstrap replicates (median, mode)", range=(1, None)),
    Param("egger_distribution", str, "t", "Egger reference distribution: t (TwoSampleMR) or normal "
          "(MendelianRandomization)", options=("t", "normal")),
    Param("median_weights", str, "second_order", "weighted-median weights", options=("second_order", "first_order")),
    Param("prevalence", float, None, "outcome prevalence for the Steiger test (default: the case fraction)",
          range=(0, 1, "neither")),
    Param("steiger_filter", bool, False, "Steiger filtering: drop SNPs that explain more variance in the outcome "
          "than in the exposure before any fit (TwoSampleMR steiger_filtering; liability scale for a binary "
          "outcome)"),
    Param("radial_weights", str, "modified_second_order", "weights of radial MR (radial_ivw, radial_egger)",
          options=("modified_second_order", "first_order", "second_order")),
    Param("penk", float, 20.0, "penalisation constant of the penalised weighted median", range=(0, None, "neither")),
    Param("reverse", bool, False, "also run reverse-direction MR per pair"),
    Param("mvmr", dict, help="multivariable MR of gwas-stage traits and further exposures' summary statistics on "
          "one outcome (IVW-MVMR, MVMR-Egger, Q-het, conditional F, Sanderson's Q; mr/mvmr/)", section=[
              Param("exposures", list, None, "summary-statistics files of the further exposures (relative to the "
                    "cohort, or absolute), each named by its file name up to the first dot, e.g. "
                    "outcome_gwas/bmd.tsv.gz; null or empty: no multivariable MR", item_type=str),
              Param("traits", list, None, "gwas-stage traits in the model (default: the first of the stage's "
                    "exposures)", item_type=str),
              Param("outcome", Path, None, "outcome summary statistics (relative to the cohort, or absolute; "
                    "default: the stage's outcome)", nullable=True),
              Param("p_threshold", float, None, "instrument P threshold of every exposure (default: the stage's "
                    "p_threshold)", range=(0, 1, "right"), nullable=True),
              Param("clump_r2", float, None, "clumping r^2 of the union of the exposures' instruments (default: the "
                    "stage's clump_r2; with in-sample LD of a few thousand people, r^2 below ~0.005 is within "
                    "the estimate's noise and clumps unlinked loci together)", range=(0, 1), nullable=True),
              Param("pcor", list, None, "correlation of the exposures' SNP-effect errors for Q-het MVMR (the "
                    "upper triangle row by row, exposures in model order: traits then exposures; one value for "
                    "two exposures); null: the exposure GWAS are in independent samples (an empty list is refused)",
                    item_type=float),
          ]),
    Param("exposure_units", str, None, "scale of the exposure GWAS for the truth check: sd or fat_fraction "
          "(default: sd when the gwas stage used transform: rint, else fat_fraction)",
          options=("sd", "fat_fraction")),
]


def _ld_reader(spec: Any, cohort: Path | None, samples: list[str] | None = None):
    """The LD source of the ``ld`` parameter; in-sample LD from the cohort's imputed BGEN, over
    ``samples`` (the gwas stage's analysed samples) only."""
    from bma_genetics.ld import open_ld_source

    if spec is None or spec is False:
        return None
    genotypes = cohort / "genotypes" / "imputed" if cohort is not None else None
    return open_ld_source(spec, genotypes=genotypes, samples=samples if spec == "in-sample" else None,
                          where="mr/ld")


def run(ctx, params: dict) -> dict:
    """Run MR of each BMFF site's GWAS on the outcome GWAS; write tables, plots, a summary."""
    from bma_genetics.io import read_sample_list
    from bma_genetics.io.sumstats import read_sumstats
    from bma_genetics.mr.api import run_mr_analysis
    from bma_genetics.mr.figures import write_mr_figures
    from bma_genetics.mr.methods import MRParameters
    from bma_genetics.plots import plot_mr_summary_forest, save_figure

    params = check_params(NAME, params, PARAMS)
    if params["ld"] is None and not params["unclumped"]:
        raise InputError("mr/ld: null (no LD source), so the instruments cannot be clumped; set ld to in-sample, "
                         "reference or a PLINK prefix, or unclumped: true for instruments known to be independent")
    out_dir = ctx.stage_dir("mr")
    cohort = Path(ctx.cohort) if ctx.cohort is not None else None
    outcome_path = Path(params["outcome"])
    if not outcome_path.is_absolute() and cohort is not None:
        outcome_path = cohort / outcome_path
    if not outcome_path.exists():
        raise InputError(f"mr/outcome: {outcome_path} not found")
    outcome_name = params["outcome_name"] or outcome_path.name.split(".")[0]
    sumstats = ctx.products("gwas", "sumstats")  # {trait: GWAS-SSF path}, the gwas stage's product
    exposures = params["exposures"] or list(sumstats)
    missing = [e for e in exposures if e not in sumstats]
    if missing:
        raise InputError(f"mr/exposures: {missing} not among the GWAS traits {list(sumstats)}")
    mr_params = MRParameters(nboot=params["nboot"], seed=int(ctx.seed),
                             egger_distribution=params["egger_distribution"],
                             median_weights=params["median_weights"], radial_weights=params["radial_weights"],
                             penk=params["penk"])
    chain = Path(params["chain"]) if params["chain"] is not None else None
    if chain is not None and not chain.is_absolute() and cohort is not None:
        chain = cohort / chain
    # in-sample LD over the GWAS's analysed samples only (not every sample in the genotype files)
    samples = read_sample_list(ctx.product("gwas", "analysed_samples")) if params["ld"] == "in-sample" else None
    reader = _ld_reader(params["ld"], cohort, samples)
    if params["outcome_build"] == "infer":
        from bma_genetics.resources import load_build_reference

        outcome = read_sumstats(outcome_path, known_variants=load_build_reference())
    else:
        outcome = read_sumstats(outcome_path, build=params["outcome_build"])
    p_threshold = params["p_threshold"]
    p_fallback = params["p_fallback"]
    all_results, per_pair, tables = [], {}, []
    for trait in exposures:
        exp = read_sumstats(sumstats[trait])
        pair_dir = out_dir / trait
        try:
            s = run_mr_analysis(
                pair_dir, exposure=exp, outcome=outcome, exposure_name=trait, outcome_name=outcome_name,
                p_threshold=p_threshold, p_fallback=p_fallback, sample_overlap=params["sample_overlap"],
                ld=reader, allow_partial_ld=params["allow_partial_ld"], unclumped=params["unclumped"],
                clump_r2=params["clump_r2"],
                clump_kb=params["clump_kb"], proxies=params["proxies"],
                proxy_r2=params["proxy_r2"], methods=params["methods"],
                params=mr_params, prevalence=params["prevalence"], reverse=params["reverse"],
                chain=chain, steiger_filter=params["steiger_filter"],
            )
        except InputError as exc:
            log.warning("mr: %s -> %s not estimated: %s", trait, outcome_name, exc)
            per_pair[trait] = {"status": f"not estimated: {exc}", "p_threshold": p_threshold,
                               "p_fallback_used": False}
            continue
        s.files.update(write_mr_figures(s, pair_dir / "figures"))
        all_results.append(s.to_frame())
        per_pair[trait] = {"status": "ok", "p_threshold": s.report["p_threshold_used"],
                           "p_fallback_used": s.report["p_fallback_used"],
                           "n_instruments": s.report["n_instruments"], "n_used": s.report["n_used"],
                           "clumped": s.report["clumped"], "ld_missing_chromosomes": s.report["ld_missing_chromosomes"],
                           "n_instruments_left_out": s.report["n_instruments_left_out"],
                           "ivw": s.report["ivw"], "instrument_strength": s.report["instrument_strength"],
                           "genome_build": s.report["genome_build"],
                           "n_steiger_dropped": s.report["n_steiger_dropped"],
                           "warnings": s.report["warnings"]}
        tables += [str(p.relative_to(out_dir)) for k, p in s.files.items() if not k.startswith("figures/")]
    summary: dict[str, Any] = {"outcome": str(outcome_path), "p_fallback": p_fallback,
                               "ld": None if params["ld"] is None else str(params["ld"]),
                               "ld_sample_set": ("the gwas stage's analysed samples" if samples is not None
                                                 else None if reader is None else "the LD panel's samples"),
                               "ld_samples": None if reader is None else int(reader.n_samples),
                               "unclumped": params["unclumped"],
                               "sample_overlap": params["sample_overlap"], "pairs": per_pair}
    if all_results:
        combined = pd.concat(all_results, ignore_index=True)
        write_mr_results(combined, out_dir / "mr_results.tsv")
        tables.insert(0, "mr_results.tsv")
        save_figure(plot_mr_summary_forest(combined, title=f"BMFF sites -> {outcome_name}",
                                           xlabel="log odds ratio per unit exposure (95% CI)"),
                    out_dir / "figures" / "summary_forest", close=True)
    truth_path = cohort / "truth" / "mr_truth.json" if cohort is not None else None
    if truth_path is not None and truth_path.exists():
        truth = json.loads(truth_path.read_text())
        t_exp = truth.get("exposure")
        ivw = (per_pair.get(t_exp) or {}).get("ivw")
        # The truth is stated per SD of the latent exposure and per unit fat fraction; which one
        # the estimate is in depends on how the GWAS scaled the trait (``exposure_units``).
        # BMFF from this run's gwas stage is on the fat-fraction scale unless rank-normalised;
        # summary statistics from elsewhere are taken as per SD unless exposure_units says so
        units = _units(ctx, params)
        key = {"sd": "causal_log_odds_per_sd", "fat_fraction": "causal_log_odds_per_fat_fraction"}.get(units)
        if key is None:
            raise InputError(f"mr/exposure_units: expected 'sd' or 'fat_fraction', found {units!r}")
        t_val = truth.get(key)
        summary["truth"] = {"exposure": t_exp, "exposure_units": units, key: t_val,
                            "ivw_covers_truth": (bool(ivw["ci_lower"] <= t_val <= ivw["ci_upper"])
                                                 if ivw and t_val is not None else None)}
    mv = params["mvmr"]
    if mv["exposures"]:
        try:
            summary["mvmr"] = {"status": "ok", **_run_mvmr(ctx, mv, sumstats, exposures, outcome_path, reader, params,
                                                           mr_params, out_dir, cohort, tables)}
        except InputError as exc:  # like a pair: recorded, the univariable results stand
            if str(exc).startswith("mr/mvmr"):  # a misconfigured section is the user's to fix
                raise
            log.warning("mr: multivariable MR not estimated: %s", exc)
            summary["mvmr"] = {"status": f"not estimated: {exc}"}
    summary["tables"] = tables
    return summary


def _cohort_path(value: Any, cohort: Path | None) -> Path:
    path = Path(value)
    return cohort / path if not path.is_absolute() and cohort is not None else path


def _units(ctx, params: dict) -> str:
    """Scale of the gwas stage's BMFF estimates: sd when rank-normalised, else fat fraction."""
    stages = ctx.config.get("stages") or {}
    default_units = "sd"
    if "gwas" in stages:
        default_units = "sd" if (stages["gwas"] or {}).get("transform") == "rint" else "fat_fraction"
    return params["exposure_units"] or default_units


def _run_mvmr(ctx, mv: dict, sumstats: dict, exposures: list[str], outcome_path: Path, reader, params: dict,
              mr_params, out_dir: Path, cohort: Path | None, tables: list[str]) -> dict:
    """The ``mvmr`` section: gwas traits + further exposures -> outcome; tables, forest, truth check."""
    from bma_genetics.io.sumstats import read_sumstats
    from bma_genetics.mr.figures import write_mvmr_figures
    from bma_genetics.mr.mvmr import _exposure_correlation, run_mvmr_analysis

    traits = mv["traits"] or exposures[:1]
    if mv["pcor"] is not None:  # a misconfigured section is the user's to fix, before any work
        if not len(mv["pcor"]):
            raise InputError("mr/mvmr.pcor: an empty list; give the exposures' error correlations (upper "
                             "triangle row by row), or null when the exposure GWAS are in independent samples")
        _exposure_correlation(mv["pcor"], len(traits) + len(mv["exposures"]), "mr/mvmr.pcor")
    missing = [t for t in traits if t not in sumstats]
    if missing:
        raise InputError(f"mr/mvmr.traits: {missing} not among the GWAS traits {list(sumstats)}")
    exp: dict[str, Any] = {t: read_sumstats(sumstats[t]) for t in traits}
    for f in mv["exposures"]:
        path = _cohort_path(f, cohort)
        if not path.exists():
            raise InputError(f"mr/mvmr.exposures: {path} not found")
        name = path.name.split(".")[0]
        if name in exp:
            raise InputError(f"mr/mvmr.exposures: {path} is named {name!r} like another exposure; rename the file")
        exp[name] = read_sumstats(path)
    outcome = _cohort_path(mv["outcome"], cohort) if mv["outcome"] is not None else outcome_path
    if not outcome.exists():
        raise InputError(f"mr/mvmr.outcome: {outcome} not found")
    p_threshold = mv["p_threshold"] if mv["p_threshold"] is not None else params["p_threshold"]
    folder = out_dir / "mvmr"
    res = run_mvmr_analysis(folder, exposures=exp, outcome=outcome, p_threshold=p_threshold, reader=reader,
                            unclumped=params["unclumped"],
                            clump_r2=mv["clump_r2"] if mv["clump_r2"] is not None else params["clump_r2"],
                            clump_kb=params["clump_kb"],
                            params=mr_params, pcor=mv["pcor"])
    res.files.update(write_mvmr_figures(res, folder / "figures"))
    tables += [str(p.relative_to(out_dir)) for k, p in res.files.items() if not k.startswith("figures/")]
    report = dict(res.report)
    truth_path = cohort / "truth" / "mvmr_truth.json" if cohort is not None else None
    if truth_path is not None and truth_path.exists():
        truth = json.loads(truth_path.read_text())
        if truth.get("outcome") == outcome.name.split(".")[0]:
            units = _units(ctx, params)
            cover = {}
            for e, est in res.report["mvmr_ivw"].items():
                if e == "bmff_femoral_head":
                    t = (truth["direct_log_odds_per_sd"][e] if units == "sd"
                         else truth["direct_log_odds_per_fat_fraction"][e])
                else:
                    t = truth["direct_log_odds_per_sd"].get(e)
                qh = res.report["mvmr_qhet"][e]
                cover[e] = {"direct_effect": t, "ivw_covers_truth": (None if t is None else
                                                                     bool(est["ci_lower"] <= t <= est["ci_upper"])),
                            "qhet_covers_truth": (None if t is None else
                                                  bool(qh["ci_lower"] <= t <= qh["ci_upper"]))}
            report["truth"] = {"exposure_units": units, "exposures": cover}
    return report

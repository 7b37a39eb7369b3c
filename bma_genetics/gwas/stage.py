"""Pipeline stage ``gwas``: BMFF traits x strata on the cohort's imputed BGEN, on Hail.

Parameters: :data:`PARAMS` below (the ``gwas:`` mapping of a study config, with the nested
``qc:`` and ``loci:`` mappings), tabulated in ``docs/parameters.md``.

Inputs (documented tables only, read through :mod:`bma_genetics.io`): the ``participants``
stage's participant table and sample-QC table (that stage must have run in the same run
directory: ``bma-genetics run CONFIG --only gwas`` runs it first), the BMFF table (the
``phenotypes`` stage's ``bmff.parquet`` for the imaged subset when that stage ran, the cohort's
``participants/bmff_idp.parquet`` for the rest) and ``ctx.cohort/genotypes/imputed/`` (BGEN +
.sample + MFI; the ``mfi`` parameter names other MFI files). Figures are drawn here
(:mod:`bma_genetics.gwas.figures`), after the API call.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from bma_genetics._params import Param, check_params, keyword_or_path
from bma_genetics.errors import BmaGeneticsError, InputError

log = logging.getLogger(__name__)
NAME = "gwas"

REQUIRES = ["participants"]  # the participant table (sample QC, covariates)
AFTER = ["phenotypes", "calvarial"]  # their BMFF / calvarial tables, when the study has those stages
#: Aggregate tables shown in the run report (patterns in the stage folder; never per-participant rows).
REPORT_TABLES = ["gwas_summary.tsv", "qc.tsv"]
WITHDRAWALS = True  # removes the run's withdrawn participants (RunContext.withdrawn)
HAIL = True  # starts Hail: the runner checks the Spark setup (master, jar, Java) before any stage runs
#: Cohort files read (their contents are part of the completion key; see pipeline/runner.py).
INPUTS = ["genotypes/imputed/*.bgen", "genotypes/imputed/*.sample", "genotypes/imputed/ukb_mfi_chr*_v3.txt",
          "genotypes/imputed/ukb_imp_mfi_c*_v3.txt",
          "participants/bmff_idp.parquet", "truth/causal_variants.tsv", "participants/calvarial_idp.parquet"]

PARAMS = [
    Param("traits", list, None, "BMFF traits to analyse (default: every BMFF site in the table)", item_type=str),
    Param("covariates", list, None, "participant-table covariates (default: age, age2, sex, age_sex, "
          "imaging_centre, genotyping_array, pc1..pc10; no bmi: add it for a BMI-adjusted sensitivity analysis, "
          "see docs/gwas.md on collider bias)", item_type=str),
    Param("adjust_bmi", bool, False, "add bmi to the covariates: a sensitivity analysis only (collider bias, "
          "docs/gwas.md)"),
    Param("strata", list, [], "stratifying columns: separate result sets per level (+ IVW meta-analysis)",
          item_type=str),
    Param("transform", str, "none", "trait transform: none or rint (rank-based inverse-normal)",
          options=("none", "rint")),
    Param("binary", list, None, "traits analysed as binary (logistic)", item_type=str),
    Param("firth", str, "fallback", "binary traits: fallback (logistic, Firth where it fails to converge: plink2 "
          "--glm firth-fallback) or always (Firth on every variant: plink2 --glm firth)",
          options=("fallback", "always")),
    Param("firth_p", float, None, "also use Firth where the logistic Wald P is below this (REGENIE --pThresh; "
          "default none, as plink2)", range=(0, 1, "right")),
    Param("interaction", str, None, "a covariate (sex) whose product with the dosage is tested per trait "
          "(plink2 --glm interaction): <trait>.x_<covariate>.tsv.gz, with the strata's difference z"),
    Param("condition", (str, list), None, "variants whose dosages are covariates of every analysis (plink2 "
          "--condition-list): ids (varid, rsid or chr_pos_ref_alt) or a file of them, one per line",
          item_type=str),
    Param("block_size", int, 128, "variants per regression block", range=(1, None)),
    Param("linear_engine", str, "groups", "quantitative traits: groups (one Hail linear_regression_rows per "
          "missingness group) or projection (every analysis of a pass from one matrix product per block; the "
          "same results to ~1e-6 relative, faster on many variants; docs/gwas.md)",
          options=("groups", "projection")),
    Param("chunk_by", str, "chromosome", "resumable unit: chromosome, or all (one pass; small data)",
          options=("chromosome", "all")),
    Param("chromosomes", list, None, "chromosomes to analyse (default: every chromosome file present)",
          item_type=(str, int)),
    Param("mfi", (str, list), None, "UK Biobank MFI files (INFO) for the qc.min_info filter and the info column: "
          "paths, globs or a {chrom} pattern (default: the cohort's genotypes/imputed/ MFI files)", item_type=str),
    Param("qc", dict, help="variant QC thresholds", section=[
        Param("min_info", float, 0.8, "minimum imputation INFO (UK Biobank MFI)", range=(0, 1)),
        Param("min_maf", float, 0.001, "minimum minor allele frequency", range=(0, 0.5)),
        Param("min_mac", float, 20, "minimum minor allele count", range=(0, None)),
        Param("hwe_p", float, 1e-6, "Hardy-Weinberg exact test P below which a variant is dropped", range=(0, 1)),
        Param("min_call_rate", float, 0.95, "minimum call rate", range=(0, 1)),
    ]),
    Param("ld", (str, Path), "in-sample", "LD source for loci: in-sample, reference or a PLINK prefix",
          check=keyword_or_path(("in-sample", "reference"), "a PLINK prefix"),
          allowed="'in-sample', 'reference' or a PLINK prefix"),
    Param("allow_partial_ld", bool, False, "accept an ld panel lacking a chromosome with a variant below "
          "loci.p1 (the reference is chr17-22): no loci there, listed in the summary; false: an error"),
    Param("loci", dict, help="FUMA-style locus definition", section=[
        Param("p1", float, 5e-8, "P threshold of independent significant SNPs", range=(0, 1, "right")),
        Param("p2", float, 0.05, "P threshold of SNPs in LD with them", range=(0, 1, "right")),
        Param("r2_independent", float, 0.6, "r^2 below which significant SNPs are independent", range=(0, 1)),
        Param("r2_lead", float, 0.1, "r^2 below which independent SNPs are lead SNPs", range=(0, 1)),
        Param("merge_kb", float, 250, "loci closer than this (kb) are merged", range=(0, None)),
    ]),
    Param("meta", bool, True, "IVW meta-analysis across strata"),
    Param("plots", bool, True, "Manhattan, QQ and regional plots"),
    Param("n_partitions", int, None, "Hail partitions of the genotypes (default: Hail's)", range=(1, None)),
    Param("null_traits", int, 0, "K permuted copies of the first trait -> null_calibration (pooled lambda GC)",
          range=(0, None)),
    Param("null_seed", int, None, "seed of the permutations (default: the study's seed)"),
    Param("relatedness", str, "drop", "drop: one of each related pair removed (the participants stage's table); "
          "keep_loco: relatives kept (participants_with_relatives.parquet) and modelled by REGENIE-style LOCO "
          "(step 1 on the array genotypes, step 2 per chromosome)", options=("drop", "keep_loco")),
    Param("step1", dict, help="REGENIE-style step 1 (relatedness: keep_loco)", section=[
        Param("block_size", int, 1000, "variants per level-0 block (REGENIE --bsize)", range=(2, None)),
        Param("n_ridge_l0", int, 5, "level-0 shrinkage values from REGENIE's h2 grid (--l0)", range=(1, None)),
        Param("n_ridge_l1", int, 5, "level-1 shrinkage values (--l1)", range=(1, None)),
        Param("n_folds", int, 5, "cross-validation folds (--cv)", range=(2, None)),
        Param("array", (str, Path), "genotypes/array/ukb22418_c{chrom}_b0_v2",
              "array genotypes for step 1: PLINK prefix or {chrom} pattern, relative to the cohort"),
        Param("pred", (str, Path), None, "an existing _pred.list (ours or REGENIE's) used instead of step 1"),
        Param("kinship", (str, Path), "genotypes/ukb_rel.dat",
              "related pairs (ukb_rel.dat, relative to the cohort) whose kinship calibrates the step-2 statistic "
              "(docs/gwas.md); null or a missing file: REGENIE's own statistic", nullable=True),
    ]),
]


def _participants_products(ctx) -> tuple[Path, Path]:
    """The participants stage's participant table and sample-QC table (paths), or a clear error."""
    if not ctx.has_stage("participants"):
        raise BmaGeneticsError(
            "gwas stage: needs the participants stage's table (participants.parquet) in this run directory; "
            "add 'participants: {}' to the config's stages (the runner runs it before gwas)")
    return ctx.product("participants", "participants"), ctx.product("participants", "sample_qc")


def _with_relatives(ctx) -> Path:
    """The participants stage's table before its ``related`` step (``relatedness: keep_loco``)."""
    s = ctx.summary("participants")
    if not s.get("participants_with_relatives"):
        raise BmaGeneticsError(
            "gwas stage: relatedness keep_loco needs the participants stage's participants_with_relatives.parquet "
            "(written when the participants stage has a kinship file; rerun it with this version)")
    return ctx.product("participants", "participants_with_relatives")


def _cohort_path(cohort: Path, value: Any) -> str:
    """A path or pattern of the config, relative to the cohort unless absolute."""
    p = Path(str(value))
    return str(p if p.is_absolute() else cohort / p)


def _cohort_mfi(imputed: Path) -> list[Path] | None:
    """The cohort's MFI files: UK Biobank's ``ukb_mfi_chr<N>_v3.txt`` or the simulator's names."""
    files = sorted(imputed.glob("ukb_mfi_chr*_v3.txt")) or sorted(imputed.glob("ukb_imp_mfi_c*_v3.txt"))
    if not files:
        log.warning("gwas: no MFI files in %s; no INFO filter (give gwas: {mfi: ...})", imputed)
    return files or None


def _loco_kinship(cohort: Path, p: dict[str, Any], given: Any = None) -> str | None:
    """``step1.kinship`` for ``keep_loco``: the file's path. Only the default path may be absent
    (logged: no calibration); a path the config sets (``given``, the stage's raw options) must exist."""
    value = p["step1"]["kinship"]
    if p["relatedness"] != "keep_loco" or value is None:
        return None
    path = _cohort_path(cohort, value)
    step1 = given.get("step1") if isinstance(given, dict) else None
    if not Path(path).exists() and isinstance(step1, dict) and step1.get("kinship") is not None:
        raise InputError(f"gwas.step1.kinship: {path} does not exist (set in the config; null for no "
                         "kinship calibration of the LOCO statistic)")
    if not Path(path).exists():
        log.warning("gwas: step1.kinship %s does not exist: the LOCO statistic is not calibrated for relatedness",
                    path)
        return None
    return path


def run(ctx, params: dict[str, Any]) -> dict[str, Any]:
    """Run the GWAS stage; returns the summary (``sumstats`` paths for enrichment/MR/LDSC)."""
    from bma_genetics.gwas.api import cohort_phenotypes, run_study_gwas
    from bma_genetics.gwas.figures import draw_gwas_figures
    from bma_genetics.io import read_bmff_provenance

    p = check_params(NAME, params, PARAMS)
    if ctx.cohort is None:
        raise BmaGeneticsError("gwas stage: needs a cohort directory (--cohort or 'cohort:' in the config)")
    cohort = Path(ctx.cohort)
    kinship = _loco_kinship(cohort, p, params)  # a config's missing file: refused before any work
    participants, sample_qc = _participants_products(ctx)
    if p["relatedness"] == "keep_loco":
        participants = _with_relatives(ctx)
    bmff = None
    if ctx.has_stage("phenotypes"):
        s = ctx.summary("phenotypes")
        bmff = ctx.stage_dir("phenotypes") / s.get("bmff_table", "bmff.parquet")
    idp = cohort / "participants" / "bmff_idp.parquet"
    calvarial, traits_asked = calvarial_trait(ctx, cohort, p["traits"])
    pheno, covariates, traits = cohort_phenotypes(participants, bmff=bmff, idp=idp if idp.exists() else None,
                                                  traits=traits_asked, covariates=p["covariates"],
                                                  adjust_bmi=bool(p["adjust_bmi"]), calvarial=calvarial)
    imputed = cohort / "genotypes" / "imputed"
    bgens = sorted(imputed.glob("*.bgen"))
    if not bgens:
        raise InputError(f"gwas/cohort: no BGEN files in {imputed}")
    out = ctx.stage_dir(NAME)
    provenance = {}
    if bmff is not None and Path(str(bmff).replace(".parquet", ".provenance.json")).exists():
        provenance = {"bmff_provenance": read_bmff_provenance(bmff)}
    withdrawals = ctx.withdrawn()  # the run's withdrawal file, as the participants stage reads it
    null_seed = p["null_seed"] if p["null_seed"] is not None else (getattr(ctx, "seed", None) or 1)
    kwargs = dict(
        out=out, traits=traits, covariates=covariates,
        bgen=str(imputed / "*.bgen"), sample=bgens[0].with_suffix(".sample"),
        chromosomes=p["chromosomes"], withdrawals=withdrawals,
        mfi=p["mfi"] if p["mfi"] is not None else _cohort_mfi(imputed),
        strata=p["strata"], transform=p["transform"], binary=p["binary"], block_size=p["block_size"],
        firth=p["firth"], firth_p=p["firth_p"], interaction=p["interaction"], condition=p["condition"],
        linear_engine=p["linear_engine"], chunk_by=p["chunk_by"], qc=p["qc"], sample_qc_table=sample_qc, ld=p["ld"],
        allow_partial_ld=p["allow_partial_ld"], loci=p["loci"],
        # what Hail's executors read and write: the run folder, or hail.work_dir (a URI) on a cluster
        meta=bool(p["meta"]), index_dir=ctx.hail_location("tmp", "bgen-index"),
        hail_dir=ctx.hail_location(NAME, "hail"),
        n_partitions=p["n_partitions"], metadata=provenance, null_traits=p["null_traits"] or 0,
        null_seed=null_seed,
        relatedness=p["relatedness"], seed=int(getattr(ctx, "seed", None) or 1),
        step1={k: p["step1"][k] for k in ("block_size", "n_ridge_l0", "n_ridge_l1", "n_folds")},
        array=_cohort_path(cohort, p["step1"]["array"]) if p["relatedness"] == "keep_loco" else None,
        pred=_cohort_path(cohort, p["step1"]["pred"]) if p["step1"]["pred"] is not None else None,
        kinship=kinship,
        # the QC checkpoint and chunks are keyed on genotypes, samples, values and settings;
        # --no-resume recomputes them
        resume=bool(getattr(ctx, "resume", True)),
    )
    # run_study_gwas checks every argument first, then starts Hail with the run's settings
    result = run_study_gwas(pheno, **kwargs, start_hail=ctx.hail)
    summary = result.summary()
    summary["figures"] = draw_gwas_figures(result, out / "figures") if p["plots"] else []
    summary["traits"] = traits
    summary["covariates"] = covariates
    summary["adjust_bmi"] = bool(p["adjust_bmi"])
    summary["tables"] = sorted(set(summary["tables"]))
    summary["figures"] = [str(Path(f).relative_to(out)) for f in summary.get("figures", [])]
    truth = cohort / "truth" / "causal_variants.tsv"
    if truth.exists():
        summary["truth_recovery"] = truth_recovery(summary, truth, cohort)
    return _relative_to(summary, out)


def calvarial_trait(ctx, cohort: Path, traits: list[str] | None) -> tuple[Any, list[str] | None]:
    """``calvarial_bma`` for the GWAS: the calvarial stage's QC-passed values, then the cohort's IDP
    (``participants/calvarial_idp.parquet``). Read when the calvarial stage is in the study (then
    the default traits include it) or ``traits`` lists it. Returns (the ``eid, calvarial_bma``
    frame or None, the traits)."""
    from bma_genetics.io import combine_calvarial, read_calvarial_table

    in_study = ctx.has_stage("calvarial")
    if not in_study and "calvarial_bma" not in (traits or []):
        return None, traits
    idp_path = cohort / "participants" / "calvarial_idp.parquet"
    idp = read_calvarial_table(idp_path) if idp_path.exists() else None
    measured = read_calvarial_table(ctx.product("calvarial", "calvarial")) if in_study else None
    return combine_calvarial(idp, measured), traits


def _relative_to(summary: dict[str, Any], out: Path) -> dict[str, Any]:
    """File paths in the summary relative to the stage folder, like its ``figures`` and
    ``tables``: the run directory can be moved, and enrichment/MR resolve them there."""
    import os

    base = out.resolve()

    def rel(p: str) -> str:
        q = Path(p).resolve()
        return os.path.relpath(q, base) if q.is_relative_to(base) else p

    summary["sumstats"] = {k: rel(v) for k, v in summary["sumstats"].items()}
    summary["meta"] = {k: rel(v) for k, v in summary.get("meta", {}).items()}
    for key in ("qc", "analysed_samples"):
        if key in summary:
            summary[key] = rel(summary[key])
    cal = summary.get("null_calibration")
    if cal and "files" in cal:
        cal["files"] = {k: rel(v) for k, v in cal["files"].items()}
    return summary


def truth_recovery(summary: dict[str, Any], truth_path: Path, cohort: Path) -> dict[str, Any]:
    """Which simulated named-gene loci were found (a locus within 250 kb of a causal variant of
    that trait), and whether the locus maps to the gene: power per trait."""
    import pandas as pd

    truth = pd.read_csv(truth_path, sep="\t", dtype={"chromosome": str})
    named = truth[truth["gene"].notna() & (truth["gene"].astype(str) != "")]
    out: dict[str, Any] = {}
    for label, _path in summary["sumstats"].items():
        if "." in label:
            continue
        loci_file = Path(summary["qc"]).parent / "loci" / f"{label}.loci.tsv"
        if not loci_file.exists():
            continue
        loci = pd.read_csv(loci_file, sep="\t", dtype={"chromosome": str})
        t = named[named["trait"] == label]
        genes = t.groupby("gene").agg(chromosome=("chromosome", "first"), lo=("base_pair_location", "min"),
                                      hi=("base_pair_location", "max"))
        found, mapped = [], []
        for gene, g in genes.iterrows():
            hit = loci[(loci["chromosome"] == g["chromosome"]) & (loci["end"] >= g["lo"] - 250_000)
                       & (loci["start"] <= g["hi"] + 250_000)]
            if len(hit):
                found.append(gene)
                if any(gene in str(x).split(",") or gene == y for x, y in zip(hit["genes"], hit["nearest_gene"], strict=True)):
                    mapped.append(gene)
        out[label] = {"named_genes": len(genes), "found": found, "mapped_to_gene": mapped,
                      "power": round(len(found) / len(genes), 3) if len(genes) else None}
    return out

"""Pipeline stage ``prs``: polygenic scores of the femoral BMFF sites, scored in people outside
the GWAS and judged on an outcome (osteoporosis), after ``gwas``.

Reads the gwas stage's summary statistics and analysed samples, the participants stage's
participant and diagnosis tables and the cohort's genotypes; builds clumping + thresholding
scores over a grid of P thresholds and PRS-CS scores (LD from the GWAS's analysed samples by
default), scores the target people (non-imaged participants, withdrawals removed) from the
imputed BGEN in one pass, and measures R^2 / AUC on a held-out part. Writes
``weights/<trait>.tsv`` (plink2 ``--score`` input), ``scores.sscore``, ``prs_results.tsv``,
``missing_variants.tsv``, ``split.tsv`` and the figures. Parameters: :data:`PARAMS`, tabulated in
``docs/parameters.md``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from bma_genetics._params import Param, check_params, keyword_or_path

log = logging.getLogger(__name__)

NAME = "prs"
REQUIRES = ["participants", "gwas"]  # target people, diagnoses; the traits' summary statistics
AFTER = ["phenotypes"]  # its BMFF table says who was imaged
WITHDRAWALS = True  # scores participants: the withdrawn are removed
REPORT_TABLES = ["prs_results.tsv"]
#: Cohort files run opens (their fingerprints are part of the resume key).
INPUTS = ["genotypes/array/*.bed", "genotypes/array/*.bim", "genotypes/array/*.fam",
          "genotypes/imputed/*.bgen", "genotypes/imputed/*.sample", "participants/bmff_idp.parquet",
          "truth/bmff_true.parquet"]

#: The seed study's femoral sites (Wu 2025: left, right and whole proximal femur).
FEMORAL_TRAITS = ("bmff_femoral_head", "bmff_total_hip", "bmff_femoral_diaphysis")

PARAMS = [
    Param("traits", list, None, "GWAS of the gwas stage to score (default: the femoral sites among them: "
          "femoral head, total hip, femoral diaphysis)", item_type=str),
    Param("methods", list, ["ct", "prscs"], "score methods: ct (clumping + thresholding), prscs", item_type=str),
    Param("thresholds", list, [5e-8, 1e-6, 1e-4, 1e-3, 0.01, 0.05, 0.1, 0.5, 1.0], "C+T P thresholds",
          item_type=float),
    Param("clump_r2", float, 0.1, "C+T clumping r^2", range=(0, 1)),
    Param("clump_kb", float, 250, "C+T clumping window (kb)", range=(0, None, "neither")),
    Param("ld", (str, Path), "in-sample", "LD source for clumping and PRS-CS: in-sample (the cohort's "
          "ld_genotypes over the GWAS's analysed samples), reference (1000G EUR, chr17-22) or a PLINK prefix",
          check=keyword_or_path(("in-sample", "reference"), "a PLINK prefix")),
    Param("ld_genotypes", str, "array", "in-sample LD (and so the scored variants) from the array genotypes "
          "(PLINK) or the imputed BGEN (about 4x the variants: slower)", options=("array", "imputed")),
    Param("target_genotypes", str, "imputed", "genotypes the target people are scored from: imputed (BGEN "
          "dosages) or array (PLINK hard calls)", options=("imputed", "array")),
    Param("target", str, "non-imaged", "target people: non-imaged (participants without a BMFF measurement "
          "and outside the GWAS, as Wu 2025) or outside-gwas (every participant not in the GWAS)",
          options=("non-imaged", "outside-gwas")),
    Param("outcome", str, "osteoporosis", "label of the binary outcome"),
    Param("outcome_codes", list, ["M80", "M81", "M82"], "ICD-10 code prefixes of the outcome (any record "
          "in the diagnosis table makes a case)", item_type=str),
    Param("validation_fraction", float, 0.5, "share of the target people in the validation part (threshold "
          "choice); the rest is the test part", range=(0, 1, "neither")),
    Param("prscs_a", float, 1.0, "PRS-CS a", range=(0, None, "neither")),
    Param("prscs_b", float, 0.5, "PRS-CS b", range=(0, None, "neither")),
    Param("prscs_phi", float, None, "PRS-CS global shrinkage phi; null: learnt (PRS-CS-auto)",
          range=(0, None, "neither"), nullable=True),
    Param("prscs_n_iter", int, 1000, "PRS-CS MCMC iterations", range=(1, None)),
    Param("prscs_n_burnin", int, 500, "PRS-CS burn-in iterations", range=(0, None)),
    Param("prscs_thin", int, 5, "PRS-CS thinning", range=(1, None)),
    Param("max_block_snps", int, 500, "PRS-CS LD blocks: most variants in one block", range=(2, None)),
    Param("block_gap_kb", float, 500, "PRS-CS LD blocks: a gap this wide between neighbours starts a block",
          range=(0, None, "neither")),
    Param("blocks", Path, None, "PRS-CS LD blocks as a BED (chr start stop; LDetect's), instead of the "
          "gap/size rule", nullable=True),
    Param("keep_ambiguous", bool, False, "keep strand-ambiguous (A/T, C/G) variants"),
    Param("max_mismatch", float, 0.1, "largest share of position-matched variants with mismatching alleles "
          "before the alignment fails", range=(0, 1)),
]


def _target_people(ctx, p: dict[str, Any]):
    """Eids of the target: QC'd participants outside the GWAS (and not imaged), not withdrawn."""
    from bma_genetics.io import read_bmff_table, read_participant_table, read_sample_list

    people = read_participant_table(ctx.product("participants", "participants"))
    eids = set(people["eid"].astype(str)) - set(ctx.withdrawn())
    analysed = set(read_sample_list(ctx.product("gwas", "analysed_samples")))
    eids -= analysed
    n_imaged = 0
    if p["target"] == "non-imaged":
        path = None
        if ctx.has_stage("phenotypes"):
            s = ctx.summary("phenotypes")
            path = ctx.stage_dir("phenotypes") / s.get("bmff_table", "bmff.parquet")
        if ctx.cohort is not None and (Path(ctx.cohort) / "participants" / "bmff_idp.parquet").exists():
            path = Path(ctx.cohort) / "participants" / "bmff_idp.parquet"
        if path is not None and Path(path).exists():
            imaged = set(read_bmff_table(path)["eid"].astype(str))
            n_imaged = len(eids & imaged)
            eids -= imaged
    return sorted(eids), {"n_participants": int(len(people)), "n_gwas": len(analysed),
                          "n_imaged_outside_gwas": n_imaged}


def _outcome(ctx, p: dict[str, Any], eids: list[str]):
    import pandas as pd

    from bma_genetics.io import read_diagnosis_table, remove_withdrawn

    dx = remove_withdrawn(read_diagnosis_table(ctx.product("participants", "diagnoses")), ctx.withdrawn(),
                          where="prs: diagnoses")
    if "coding" in dx.columns:
        dx = dx[dx["coding"].astype(str) == "icd10"]
    codes = dx["code"].astype(str).str.replace(".", "", regex=False)
    case = dx.loc[codes.str.startswith(tuple(p["outcome_codes"])), "eid"].astype(str)
    return pd.DataFrame({"eid": eids, p["outcome"]: pd.Series(eids).isin(set(case)).astype(float).to_numpy()})


def run(ctx, params: dict) -> dict:
    """Weights, target scores, held-out R^2/AUC per trait; tables, figures and a summary."""
    from bma_genetics.errors import InputError
    from bma_genetics.io import read_bmff_table, read_sample_list, read_sumstats
    from bma_genetics.ld import open_ld_source
    from bma_genetics.prs.api import run_prs
    from bma_genetics.prs.figures import write_prs_figures
    from bma_genetics.prs.prscs import PRSCSParameters

    p = check_params(NAME, params, PARAMS)
    out = ctx.stage_dir(NAME)
    cohort = Path(ctx.cohort) if ctx.cohort is not None else None
    gwas = ctx.products("gwas", "sumstats")
    traits = p["traits"] or [t for t in FEMORAL_TRAITS if t in gwas]
    if not traits:
        raise InputError(f"prs/traits: none of the femoral sites {list(FEMORAL_TRAITS)} is among the GWAS "
                         f"{list(gwas)}; name the traits to score")
    missing = [t for t in traits if t not in gwas]
    if missing:
        raise InputError(f"prs/traits: {missing} not among the GWAS {list(gwas)}")
    if cohort is None:
        raise InputError("prs: needs the cohort's genotypes (the run has no cohort)")
    samples = read_sample_list(ctx.product("gwas", "analysed_samples")) if p["ld"] == "in-sample" else None
    ld = open_ld_source(p["ld"], genotypes=cohort / "genotypes" / p["ld_genotypes"], samples=samples,
                        where="prs/ld")
    from bma_genetics.ld import open_genotypes

    target = open_genotypes(cohort / "genotypes" / p["target_genotypes"])
    eids, counts = _target_people(ctx, p)
    if not eids:
        raise InputError("prs/target: no participant is left outside the GWAS (after withdrawals"
                         + (" and removing the imaged" if p["target"] == "non-imaged" else "") + ")")
    outcome = _outcome(ctx, p, eids)
    truth = None
    truth_path = cohort / "truth" / "bmff_true.parquet"
    if truth_path.exists():
        truth = read_bmff_table(truth_path)
    blocks = None
    if p["blocks"] is not None:
        import pandas as pd

        bpath = Path(p["blocks"])
        if not bpath.is_absolute():
            bpath = cohort / bpath
        if not bpath.exists():
            raise InputError(f"prs/blocks: {bpath} not found")
        blocks = pd.read_csv(bpath, sep=r"\s+", header=None, comment="#")
    n_burnin = p["prscs_n_burnin"]
    if n_burnin >= p["prscs_n_iter"]:
        raise InputError(f"prs/prscs_n_burnin: {n_burnin} must be below prscs_n_iter ({p['prscs_n_iter']})")
    prscs = PRSCSParameters(a=p["prscs_a"], b=p["prscs_b"], phi=p["prscs_phi"], n_iter=p["prscs_n_iter"],
                            n_burnin=n_burnin, thin=p["prscs_thin"], seed=int(ctx.seed))
    sumstats = {t: read_sumstats(gwas[t]) for t in traits}
    result = run_prs(sumstats, ld=ld, target=target, target_samples=eids, outcome=outcome,
                     outcome_column=p["outcome"], binary=True, truth=truth, methods=p["methods"],
                     thresholds=p["thresholds"], clump_r2=p["clump_r2"], clump_kb=p["clump_kb"], prscs=prscs,
                     max_block_snps=p["max_block_snps"], block_gap_kb=p["block_gap_kb"], blocks=blocks,
                     validation_fraction=p["validation_fraction"], keep_ambiguous=p["keep_ambiguous"],
                     max_mismatch=p["max_mismatch"], seed=int(ctx.seed), out=out)
    figures = write_prs_figures(result, outcome, p["outcome"], out / "figures")
    summary: dict[str, Any] = {**result.summary(), **counts, "target": p["target"],
                               "ld": str(p["ld"]), "ld_genotypes": p["ld_genotypes"],
                               "ld_samples": int(ld.n_samples), "target_genotypes": p["target_genotypes"],
                               "tables": ["prs_results.tsv", "missing_variants.tsv"]}
    summary["files"] = {k: str(Path(v).relative_to(out)) for k, v in result.files.items()}
    summary["figures"] = [str(Path(f).relative_to(out)) for f in figures.values()]
    return summary

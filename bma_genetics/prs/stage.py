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
REPORT_TABLES = ["prs_results.tsv", "survival/*.hazard_ratios.tsv"]
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
    Param("ld_max_samples", int, 3000, "in-sample LD from at most this many of the GWAS's analysed samples "
          "(drawn with the run's seed; LD estimates need a few thousand people, clumping and PRS-CS's blocks "
          "cost in proportion); null: all of them", range=(100, None), nullable=True),
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
    Param("outcome_icd9", list, ["7330"], "ICD-9 code prefixes of the outcome (field 41271), for the "
          "time-to-event outcome", item_type=str),
    Param("survival", bool, True, "Cox models of incident outcome per SD of score and by tertile, adjusted for "
          "survival_covariates, and Kaplan-Meier cumulative incidence by tertile (bma_genetics.survival)"),
    Param("survival_covariates", list, ["age", "sex", "bmi"], "Cox adjustment (participant-table columns)",
          item_type=str),
    Param("baseline", str, "scan_date", "baseline date column of the participant table (follow-up starts "
          "there; a record on or before it is prevalent and left out)"),
    Param("window_days", int, 0, "follow-up starts this many days after the baseline (-182: the Edinburgh "
          "window)"),
    Param("censoring_date", str, "2022-10-31", "common end of follow-up (HES England); death and loss to "
          "follow-up end it earlier"),
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


def check_baseline(people, eids: list[str], baseline: str, target: str) -> None:
    """Refuse a survival baseline that no target person has (before any scoring work).

    Parameters
    ----------
    people : DataFrame
        The participant table (``eid`` and the ``baseline`` date column).
    eids : list of str
        The target people.
    baseline : str
        The ``baseline`` parameter: a date column of the participant table.
    target : str
        The ``target`` parameter (named in the message).

    Raises
    ------
    InputError
        ``prs/baseline``: the column is absent, or none of the target people has a date in it
        (in UK Biobank the non-imaged have no imaging visit, 53-2.0, so ``scan_date`` is empty
        for them; the participant table holds the visit of the participants stage's ``instance``).
    """
    from bma_genetics.errors import InputError

    if baseline not in people.columns:
        raise InputError(f"prs/baseline: column '{baseline}' not in the participant table; it has "
                         f"{list(people.columns)[:20]}")
    mine = people[people["eid"].astype(str).isin(set(eids))]
    if len(mine) and not mine[baseline].notna().any():
        raise InputError(f"prs/baseline: none of the {len(mine)} target people ({target}) has a '{baseline}' date in "
                         "the participant table (the non-imaged did not attend the imaging visit, 53-2.0), so no "
                         "follow-up can start; build the participant table at the assessment visit (participants "
                         "stage `instance: 0`, 53-0.0), give a date column every target person has as `baseline`, "
                         "or set `survival: false`")


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


def _survival(ctx, p: dict[str, Any], result, eids: list[str], out: Path):
    """Incident outcome against each trait's PRS-CS score and selected C+T score: Cox per SD and
    by tertile, Kaplan-Meier by tertile (``survival/<score>.*.tsv``, figures)."""
    import pandas as pd

    from bma_genetics.errors import InputError
    from bma_genetics.io import read_diagnosis_table, read_participant_table, remove_withdrawn
    from bma_genetics.io.survival import write_survival_results
    from bma_genetics.plots import plot_cumulative_incidence, plot_hazard_ratios
    from bma_genetics.survival import survival_by_score, time_to_event

    people = read_participant_table(ctx.product("participants", "participants"))
    people = people[people["eid"].astype(str).isin(set(eids))]
    dx = remove_withdrawn(read_diagnosis_table(ctx.product("participants", "diagnoses")), ctx.withdrawn(),
                          where="prs: diagnoses")
    tte = time_to_event(people, dx, icd10=p["outcome_codes"], icd9=p["outcome_icd9"], baseline=p["baseline"],
                        window_days=p["window_days"], censoring_date=p["censoring_date"])
    covs = [c for c in p["survival_covariates"] if c in people.columns]
    absent = [c for c in p["survival_covariates"] if c not in people.columns]
    if absent:
        raise InputError(f"prs/survival_covariates: {absent} not in the participant table")
    base = tte.merge(people[["eid", *[c for c in covs if c not in tte.columns]]], on="eid", how="left")
    sc = result.scores.table
    table = result.to_frame()
    picks = table[(table["method"] == "prscs") | table["selected"]]["score"].tolist()
    at_risk = ~base["prevalent"].astype(bool)
    summary: dict[str, Any] = {"n_at_risk": int(at_risk.sum()), "n_events": int(base.loc[at_risk, "event"].sum()),
                               "baseline": p["baseline"], "window_days": p["window_days"],
                               "censoring_date": p["censoring_date"], "covariates": covs, "scores": {}}
    files: list[str] = []
    figures: dict[str, Path] = {}
    folder = out / "survival"
    for score in picks:
        data = base.merge(pd.DataFrame({"eid": sc["IID"].astype(str), score: sc[f"{score}_SUM"].to_numpy()}),
                          on="eid", how="inner")
        try:
            res = survival_by_score(data, score, covs)
        except InputError as exc:
            log.warning("prs: survival of %s not estimated: %s", score, exc)
            summary["scores"][score] = {"status": f"not estimated: {exc}"}
            continue
        hr = res.to_frame().assign(score=score, outcome=p["outcome"])
        for name, frame in (("hazard_ratios", hr), ("cumulative_incidence", res.km), ("risk_table", res.risk_table)):
            path = write_survival_results(frame.assign(score=score, outcome=p["outcome"]),
                                          folder / f"{score}.{name}.tsv", table=name)
            files.append(str(path.relative_to(out)))
        import matplotlib.pyplot as plt

        fig = plot_cumulative_incidence(res.km, res.risk_table, title=f"{p['outcome']} by tertile of {score}",
                                        out=out / "figures" / f"km_{score}")
        plt.close(fig)
        fig = plot_hazard_ratios(hr, title=f"{p['outcome']}: HR by tertile of {score}",
                                 out=out / "figures" / f"hr_{score}")
        plt.close(fig)
        figures[f"km/{score}"] = out / "figures" / f"km_{score}.png"
        figures[f"hr/{score}"] = out / "figures" / f"hr_{score}.png"
        per_sd = hr[hr["model"] == "per_sd"].iloc[0]
        summary["scores"][score] = {"status": "ok", "hazard_ratio_per_sd": float(per_sd["hazard_ratio"]),
                                    "ci_lower": float(per_sd["ci_lower"]), "ci_upper": float(per_sd["ci_upper"]),
                                    "p_value": float(per_sd["p_value"]), "n": int(per_sd["n"]),
                                    "n_events": int(per_sd["n_events"]),
                                    "concordance": float(per_sd.get("concordance", float("nan")))}
    return summary, files, figures


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
    if samples is not None and p["ld_max_samples"] is not None and len(samples) > p["ld_max_samples"]:
        import numpy as np

        rng = np.random.default_rng([int(ctx.seed), 1717])
        samples = sorted(rng.choice(np.asarray(samples, dtype=object), p["ld_max_samples"], replace=False))
    ld = open_ld_source(p["ld"], genotypes=cohort / "genotypes" / p["ld_genotypes"], samples=samples,
                        where="prs/ld")
    from bma_genetics.ld import open_genotypes

    target = open_genotypes(cohort / "genotypes" / p["target_genotypes"])
    eids, counts = _target_people(ctx, p)
    if not eids:
        raise InputError("prs/target: no participant is left outside the GWAS (after withdrawals"
                         + (" and removing the imaged" if p["target"] == "non-imaged" else "") + ")")
    if p["survival"]:
        from bma_genetics.io import read_participant_table

        check_baseline(read_participant_table(ctx.product("participants", "participants")), eids, p["baseline"],
                       p["target"])
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
    surv: dict[str, Any] = {}
    tables = ["prs_results.tsv", "missing_variants.tsv"]
    if p["survival"]:
        surv, surv_tables, surv_figures = _survival(ctx, p, result, eids, out)
        tables += surv_tables
        figures.update(surv_figures)
    summary: dict[str, Any] = {**result.summary(), **counts, "target": p["target"],
                               "ld": str(p["ld"]), "ld_genotypes": p["ld_genotypes"],
                               "ld_samples": int(ld.n_samples), "target_genotypes": p["target_genotypes"],
                               "survival": surv, "tables": tables}
    summary["files"] = {k: str(Path(v).relative_to(out)) for k, v in result.files.items()}
    summary["figures"] = [str(Path(f).relative_to(out)) for f in figures.values()]
    return summary

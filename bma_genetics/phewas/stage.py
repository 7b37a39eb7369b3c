"""Pipeline stage ``phewas``: every BMFF site against every phecode.

Inputs (files only, read through io): the ``participants`` stage's participant and diagnosis
tables (``ctx.product``; so PheWAS analyses the same QC'd sample as the GWAS), BMFF from the
cohort's ``participants/bmff_idp.parquet`` (or a ``bmff`` table given in the params).

Parameters: :data:`PARAMS` below (the ``phewas:`` mapping of a study config), tabulated in
``docs/parameters.md``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd

from bma_genetics import sites
from bma_genetics._params import Param, check_params
from bma_genetics.errors import BmaGeneticsError

log = logging.getLogger(__name__)

NAME = "phewas"
REQUIRES = ["participants"]  # the participant and diagnosis tables
AFTER = ["phenotypes", "calvarial"]  # its BMFF table (bmff_source: phenotypes); calvarial BMA
#: Aggregate tables shown in the run report (patterns in the stage folder; never per-participant rows).
REPORT_TABLES = ["phewas_results.tsv"]
WITHDRAWALS = True  # removes the run's withdrawn participants (RunContext.withdrawn)
#: Cohort files read besides its path options (their contents are part of the completion key).
INPUTS = ["participants/bmff_idp.parquet", "participants/calvarial_idp.parquet"]

#: Default covariates (those present and not constant): no BMI, as in the GWAS (docs/phewas.md).
DEFAULT_COVARIATES = ["age", "sex", "imaging_centre", "genotyping_array", *[f"pc{i}" for i in range(1, 11)]]


def _phecode_version(value: Any) -> str | None:
    return None if str(value) in ("X", "1.2") else "'X' or '1.2'"


PARAMS = [
    Param("exposures", (list, str), None, "BMFF columns tested: a list, main (the four sites) or all "
          "(every BMFF column); default main; both add calvarial_bma when the study has the calvarial stage",
          options=("main", "all"), item_type=str),
    Param("covariates", list, None, "participant-table covariates (default: age, sex, imaging_centre, "
          "genotyping_array, pc1..pc10 where present; no bmi)", item_type=str),
    Param("adjust_bmi", bool, False, "add bmi to the covariates: a sensitivity analysis only (collider bias, "
          "docs/phewas.md)"),
    Param("phecode_version", (str, float), "X", "phecode map: X or 1.2", check=_phecode_version,
          allowed="'X' or '1.2'"),
    Param("phecode_map", Path, None, "your own ICD-10 -> phecode map CSV"),
    Param("min_cases", int, 50, "phecodes with fewer cases are not tested", range=(1, None)),
    Param("min_phecode_count", int, None, "records needed to count a participant as a case (null: by source, "
          "1 for distinct-code fields such as 41270, 2 for episode-level tables)", range=(1, None)),
    Param("use_exclusion", bool, True, "apply phecode exclusion ranges to controls"),
    Param("method", str, "logit", "logit, or cox (time to first diagnosis)", options=("logit", "cox")),
    Param("firth", str, "auto", "Firth regression: auto (few cases or separation), never or always",
          options=("auto", "never", "always")),
    Param("firth_below_cases", int, 20, "with firth: auto, Firth below this many cases", range=(0, None)),
    Param("standardise", bool, True, "exposures per SD (false: in their units)"),
    Param("suppress_below", int, None, "blank counts below this in the results (disclosure control)",
          range=(0, None)),
    Param("bmff", Path, None, "BMFF table joined on eid (default: see bmff_source)"),
    Param("bmff_source", str, "cohort", "cohort: the cohort's bmff_idp.parquet (everyone imaged); phenotypes: "
          "the phenotypes stage's bmff.parquet", options=("cohort", "phenotypes")),
    Param("n_jobs", int, None, "worker threads (null: all cores)"),
    Param("cox_start_col", str, None, "follow-up start date column (cox)"),
    Param("cox_time_scale", str, "follow_up", "cox time scale: follow_up (years since cox_start_col) or age "
          "(delayed entry at the age at the start)", options=("follow_up", "age")),
    Param("cox_age_col", str, "age", "with cox_time_scale: age, the age at scan_date (or at cox_start_col)"),
    Param("censoring_date", str, None, "end of follow-up: ISO date or column; records after it do not count "
          "(and Cox follow-up ends there)"),
    Param("follow_up_end_columns", list, None, "date columns that end a person's follow-up earlier (null: "
          "date_of_death and date_lost_to_follow_up where present; []: none)", item_type=str),
    Param("incident_from", str, None, "date column (e.g. scan_date, the imaging visit): only diagnoses after it "
          "make cases, people diagnosed on or before it are left out (logit)"),
    Param("incident_offset_days", int, 0, "days added to incident_from (-182: diagnoses in the half year before "
          "imaging count as incident, as the Edinburgh BMFF PheWAS)"),
]


def _inputs(ctx, params: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The participants stage's participant and diagnosis tables (the GWAS's QC'd sample),
    joined with the BMFF table, read through their io contracts, without the run's withdrawn
    participants (:meth:`RunContext.withdrawn`)."""
    from bma_genetics.io import read_diagnosis_table, remove_withdrawn
    from bma_genetics.phewas.inputs import join_bmff

    if not ctx.has_stage("participants"):
        raise BmaGeneticsError(
            "phewas: needs the participants stage's participant and diagnosis tables in this run "
            f"({ctx.run_dir / 'participants'}); add 'participants: {{}}' to the study's stages")
    people_path = ctx.product("participants", "participants")
    diagnoses_path = ctx.product("participants", "diagnoses")
    bmff = params["bmff"]
    if bmff is None and params["bmff_source"] == "phenotypes":
        # the segmented subset only: the phenotypes stage's own BMFF table
        ph = ctx.summary("phenotypes")
        bmff = ctx.run_dir / "phenotypes" / ph.get("bmff_table", "bmff.parquet")
    if bmff is None and ctx.cohort is not None and (ctx.cohort / "participants" / "bmff_idp.parquet").exists():
        bmff = ctx.cohort / "participants" / "bmff_idp.parquet"
    people, _ = join_bmff(people_path, bmff)
    calvarial = _calvarial(ctx, params)
    if calvarial is not None and "calvarial_bma" not in people.columns:
        people = people.merge(calvarial, on="eid", how="left")
    # withdrawn people go even from a participant table made before they withdrew
    withdrawn = ctx.withdrawn()
    people = remove_withdrawn(people, withdrawn, where="phewas: participant table")
    diagnoses = remove_withdrawn(read_diagnosis_table(diagnoses_path), withdrawn, where="phewas: diagnoses")
    return people, diagnoses


def _calvarial(ctx, params: dict[str, Any]) -> pd.DataFrame | None:
    """``eid, calvarial_bma`` (the calvarial stage's QC-passed values, then the cohort's IDP) when the
    study has the calvarial stage or ``exposures`` lists ``calvarial_bma``; else None."""
    from bma_genetics.io import combine_calvarial, read_calvarial_table

    exposures = params["exposures"]
    asked = isinstance(exposures, list) and "calvarial_bma" in exposures
    in_study = ctx.has_stage("calvarial")
    if not (in_study or asked):
        return None
    idp_path = ctx.cohort / "participants" / "calvarial_idp.parquet" if ctx.cohort is not None else None
    idp = read_calvarial_table(idp_path) if idp_path is not None and idp_path.exists() else None
    measured = read_calvarial_table(ctx.product("calvarial", "calvarial")) if in_study else None
    return combine_calvarial(idp, measured)


#: Options passed to :func:`~bma_genetics.phewas.api.run_phewas` unchanged, under the same name.
_API_PARAMS = ("phecode_map", "min_cases", "min_phecode_count", "use_exclusion", "method", "firth",
               "firth_below_cases", "standardise", "cox_start_col", "cox_time_scale", "cox_age_col",
               "censoring_date", "follow_up_end_columns", "incident_from", "incident_offset_days", "suppress_below", "n_jobs")


def run(ctx, params: dict[str, Any]) -> dict[str, Any]:
    """Run the PheWAS of every BMFF site; write results, report and figures."""
    from bma_genetics.io import design_covariates
    from bma_genetics.phewas.api import run_phewas
    from bma_genetics.phewas.figures import write_phewas_figures

    params = check_params(NAME, params, PARAMS)
    people, dx = _inputs(ctx, params)
    exposures = params["exposures"]
    if exposures in (None, "main"):
        exposures = [t for t in (*sites.MAIN_TRAITS, "calvarial_bma") if t in people.columns]
    elif exposures == "all":
        exposures = [t for t in (*sites.all_traits(), "calvarial_bma") if t in people.columns]
    given = params["covariates"] is not None
    names = list(params["covariates"]) if given else list(DEFAULT_COVARIATES)
    if params["adjust_bmi"] and "bmi" not in names:
        names.append("bmi")
        design_covariates(people.head(0), ["bmi"], where="phewas/adjust_bmi")
    # imaging_centre -> indicators; defaults absent or constant here are left out
    people, covariates = design_covariates(people, names, optional=not given, where="phewas/covariates")
    out = ctx.stage_dir("phewas")
    res = run_phewas(
        people, dx, exposures, covariates,
        phecode_version=str(params["phecode_version"]),
        **{k: params[k] for k in _API_PARAMS},
        out=out,
    )
    # The forest plot in the report (phecodes most associated with any site), even for one site.
    res.files.update(write_phewas_figures(res, out / "figures", forest=True))
    s = res.summary()
    top = res.table.nsmallest(10, "p_value")[["exposure", "phecode", "phecode_string", "odds_ratio", "p_value"]]
    return {
        "exposures": exposures,
        "covariates": covariates,
        "adjust_bmi": bool(params["adjust_bmi"]),
        "n_participants": s["n_participants"],
        "n_tests": s["n_tests"],
        "n_bonferroni_significant": s["n_bonferroni_significant"],
        "n_fdr_significant": s["n_fdr_significant"],
        "n_firth": s["n_firth"],
        "unmapped_icd_records": s["unmapped_icd_records"],
        "unmapped_icd_codes": s["unmapped_icd_codes"],
        "fallback_icd_codes": s["fallback_icd_codes"],
        "min_phecode_count": s["min_phecode_count"],
        "censoring_date": s["censoring_date"],
        "follow_up_end_columns": s["follow_up_end_columns"],
        "n_follow_up_ended_by": s["n_follow_up_ended_by"],
        "n_records_after_censoring": s["n_records_after_censoring"],
        "cases": s["cases"],
        "top_hits": top.to_dict(orient="records"),
        "tables": ["phewas_results.tsv", "phewas_report.json"],
        "figures": sorted(str(p.relative_to(out)) for p in (out / "figures").glob("*.png")),
    }

"""Stage ``cohort``: describe the cohort the study runs on (sizes, BMFF by age and sex).

Parameters: :data:`PARAMS` below (``traits``, default the four main BMFF sites). Writes ``cohort_summary.tsv`` (one row
per trait: n, mean, sd, mean in women and men, correlation with age) and
``figures/bmff_by_age_sex.{png,pdf}``. Withdrawn participants (the run's withdrawal file,
:meth:`RunContext.withdrawn`) are removed first: they are in no count, table or figure.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from bma_genetics._atomic import write_table
from bma_genetics._params import Param, check_params
from bma_genetics.errors import InputError
from bma_genetics.io import get_field, read_bmff_table, read_ukb, remove_withdrawn
from bma_genetics.pipeline.context import RunContext
from bma_genetics.sites import MAIN_TRAITS

NAME = "cohort"
REQUIRES: list[str] = []
#: Aggregate tables shown in the run report (patterns in the stage folder; never per-participant rows).
REPORT_TABLES = ["cohort_summary.tsv"]
WITHDRAWALS = True  # removes the run's withdrawn participants (RunContext.withdrawn)
#: Cohort files read (their contents are part of the completion key; see pipeline/runner.py).
INPUTS = ["cohort.json", "participants/bmff_idp.parquet", "participants/ukb_showcase.csv"]

PARAMS = [
    Param("traits", list, None, "BMFF traits summarised (default: the four main sites)", item_type=str),
]


def summarise_bmff(bmff: pd.DataFrame, covariates: pd.DataFrame, traits: list[str]) -> pd.DataFrame:
    """One row per trait: ``trait, n, mean, sd, mean_female, mean_male, r_age``."""
    data = bmff.merge(covariates, on="eid", how="inner")
    rows = []
    for t in traits:
        d = data[[t, "age", "sex"]].dropna()
        rows.append({
            "trait": t, "n": len(d), "mean": d[t].mean(), "sd": d[t].std(),
            "mean_female": d.loc[d.sex == 0, t].mean(), "mean_male": d.loc[d.sex == 1, t].mean(),
            "r_age": np.corrcoef(d[t], d["age"])[0, 1] if len(d) > 2 else np.nan,
        })
    return pd.DataFrame(rows)


def run(ctx: RunContext, params: dict[str, Any]) -> dict[str, Any]:
    if ctx.cohort is None:
        raise InputError("cohort stage: the config names no cohort directory (set 'cohort:' or pass --cohort)")
    meta_path = ctx.cohort / "cohort.json"
    if not meta_path.exists():
        raise InputError(f"cohort stage: {meta_path} not found; is {ctx.cohort} a cohort made by `bma-genetics simulate`?")
    meta = json.loads(meta_path.read_text())
    params = check_params(NAME, params, PARAMS)
    traits = list(params["traits"] or MAIN_TRAITS)
    bmff = read_bmff_table(ctx.cohort / "participants" / "bmff_idp.parquet")
    missing = [t for t in traits if t not in bmff.columns]
    if missing:
        raise InputError(f"cohort stage/traits: {missing} not in {ctx.cohort / 'participants' / 'bmff_idp.parquet'}")
    withdrawn = ctx.withdrawn()
    bmff = remove_withdrawn(bmff, withdrawn, where="cohort stage: BMFF table")
    data = read_ukb(ctx.cohort / "participants" / "ukb_showcase.csv", [31, 21003], progress=False)
    cov = pd.DataFrame({"eid": data.eids.astype(str),
                        "sex": get_field(data, 31, 0, coding="codes").to_numpy(),
                        "age": get_field(data, 21003, 2).to_numpy()})
    n_export = len(cov)
    cov = remove_withdrawn(cov, withdrawn, where="cohort stage: export")
    table = summarise_bmff(bmff, cov, traits)
    out = ctx.stage_dir("cohort")
    write_table(table, out / "cohort_summary.tsv")

    from bma_genetics.plots import plot_bmff_by_age_sex, save_figure

    fig = plot_bmff_by_age_sex(bmff.merge(cov, on="eid"), traits)
    save_figure(fig, out / "figures" / "bmff_by_age_sex", close=True)
    return {
        "preset": meta.get("preset"), "seed": meta.get("seed"),
        # counts of people who have not withdrawn (the cohort.json size counts everyone)
        "n_participants": len(cov), "n_variants": meta.get("n_variants"),
        "n_withdrawn_removed": n_export - len(cov),
        "n_with_bmff": int(bmff[traits].notna().any(axis=1).sum()),
        "tables": ["cohort_summary.tsv"],
    }

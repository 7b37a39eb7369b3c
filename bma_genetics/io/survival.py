"""Survival result tables (:mod:`bma_genetics.survival`): hazard ratios, Kaplan-Meier, risk table.

One reader and one writer for the three tables a stage writes from a
:class:`bma_genetics.survival.SurvivalResult` (the ``prs`` stage: score -> incident
osteoporosis): ``table="hazard_ratios"`` (``SurvivalResult.to_frame()``),
``"cumulative_incidence"`` (``.km``) and ``"risk_table"`` (``.risk_table``), each optionally with
``score``/``outcome``/``time_scale`` columns saying which model a row belongs to. TSV or Parquet
(stamped with the format version).
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from bma_genetics._check import fail
from bma_genetics.io._schema import TableSchema, read_checked, write_checked

N, S = "number", "string"
_LABELS = {"score": S, "outcome": S, "time_scale": S}
#: The survival tables, by the ``table=`` name of the reader and writer.
SURVIVAL_TABLES: dict[str, TableSchema] = {
    "hazard_ratios": TableSchema(
        table="survival_hazard_ratios", title="hazard-ratio table", version=1,
        required={"model": S, "term": S, "hazard_ratio": N, "ci_lower": N, "ci_upper": N, "beta": N,
                  "standard_error": N, "p_value": N, "n": N, "n_events": N},
        optional={"group": S, "concordance": N, "ph_p_value": N, **_LABELS},
    ),
    "cumulative_incidence": TableSchema(
        table="survival_cumulative_incidence", title="Kaplan-Meier table", version=1,
        required={"group": S, "time": N, "n_at_risk": N, "n_events": N, "survival": N, "cumulative_incidence": N},
        optional={"n_censored": N, "standard_error": N, "ci_lower": N, "ci_upper": N, **_LABELS},
    ),
    "risk_table": TableSchema(
        table="survival_risk_table", title="numbers-at-risk table", version=1,
        required={"group": S, "time": N, "n_at_risk": N},
        optional=dict(_LABELS),
    ),
}


def _schema(table: str, where: str) -> TableSchema:
    if table not in SURVIVAL_TABLES:
        raise fail(f"{where}/table", f"{table!r} is not one of {sorted(SURVIVAL_TABLES)}")
    return SURVIVAL_TABLES[table]


def read_survival_results(path: str | os.PathLike | pd.DataFrame, *, table: str = "hazard_ratios") -> pd.DataFrame:
    """Read a survival table (``table``: ``hazard_ratios``, ``cumulative_incidence`` or
    ``risk_table``) and check its columns; an ``InputError`` names the file and the column."""
    schema = _schema(table, "read_survival_results")
    frame, _ = read_checked(path, schema, where="read_survival_results",
                            text_dtypes={c: str for c in ("model", "term", "group", *_LABELS)})
    return frame


def write_survival_results(frame: pd.DataFrame, out: str | os.PathLike, *, table: str = "hazard_ratios") -> Path:
    """Write a survival table (TSV or Parquet) atomically, checking its columns."""
    return write_checked(frame, out, _schema(table, "write_survival_results"), where="write_survival_results")


__all__ = ["SURVIVAL_TABLES", "read_survival_results", "write_survival_results"]

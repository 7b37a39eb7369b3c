"""The calvarial table: calvarial bone marrow adiposity (BMA) per participant, with QC.

Written by the ``calvarial`` stage (``calvarial.parquet``, the head-imaged subset it measured)
and by simulated cohorts (``participants/calvarial_idp.parquet``: the released measurement for
everyone imaged, as UK Biobank's IDPs); read by the GWAS and PheWAS stages, where the stage's
values (QC-passed rows) take precedence over the cohort's.

=======================  =======  ================================================================
column                   dtype    meaning
=======================  =======  ================================================================
eid                      str      participant
calvarial_bma            float    mean T1 intensity (0-255 scale) of the marrow layer over the
                                  calvarial vertices (Kaufmann 2024)
qc_pass                  bool     every QC rule met (optional)
qc_<rule|metric>         any      QC rules and their metrics (optional): ``qc_n_points``,
                                  ``qc_outer_table_sd``, ``qc_md_outlier_share``, ...
n_points                 number   calvarial vertices measured (optional)
outer_table_mean, ...    number   other layer summaries (optional)
error, source            str      read error, file read (optional)
=======================  =======  ================================================================

Format version 1, stamped in the Parquet key-value metadata (:mod:`bma_genetics.io._schema`).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pandas as pd

from bma_genetics.io._schema import TableSchema, read_checked, write_checked

_log = logging.getLogger(__name__)

#: The GWAS / PheWAS trait name of calvarial BMA.
CALVARIAL_TRAIT = "calvarial_bma"

CALVARIAL_SCHEMA = TableSchema(
    table="calvarial",
    title="calvarial table",
    version=1,
    required={"eid": "id", CALVARIAL_TRAIT: "number"},
    optional={"qc_pass": "bool", "error": "string", "source": "string", "n_points": "number"},
    unique="eid",
    ranges={CALVARIAL_TRAIT: (0.0, 255.0, "a mean T1 intensity on the 0-255 scale")},
)


def write_calvarial_table(table: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write a calvarial table atomically, checked and stamped (module docstring: columns).

    Parameters
    ----------
    table : DataFrame
        ``eid`` (unique), ``calvarial_bma`` and optional QC columns.
    path : path
        ``.parquet`` (stamped with the format version) or ``.tsv``/``.csv``.

    Returns
    -------
    Path

    Raises
    ------
    InputError
        A missing column, a wrong dtype, a repeated eid or a BMA outside 0-255.
    """
    return write_checked(table, path, CALVARIAL_SCHEMA, where="write_calvarial_table/table")


def read_calvarial_table(path: str | os.PathLike | pd.DataFrame) -> pd.DataFrame:
    """Read a calvarial table (written by :func:`write_calvarial_table`); ``eid`` as str.

    Raises
    ------
    InputError
        Missing file or column, wrong dtype (naming file and column), another format version.
    """
    table, _ = read_checked(path, CALVARIAL_SCHEMA, where="read_calvarial_table/path")
    table["eid"] = table["eid"].astype(str)
    return table


def combine_calvarial(cohort_idp: pd.DataFrame | None, measured: pd.DataFrame | None) -> pd.DataFrame | None:
    """``eid, calvarial_bma``: the stage's QC-passed values first, then the cohort's IDP.

    A participant whose measured head failed QC (``qc_pass`` false) is excluded from the trait
    (``calvarial_bma`` NaN): the cohort IDP is not substituted for them, since a failed head says
    the image is unusable and the IDP may be on another intensity scale. The count is logged.
    """
    frames = []
    failed: set[str] = set()
    for f in (measured, cohort_idp):
        if f is None:
            continue
        if "qc_pass" in f.columns:
            ok = f["qc_pass"].astype(bool)
            if f is measured:
                failed = set(f.loc[~ok, "eid"].astype(str))
            f = f[ok]
        frames.append(f[["eid", CALVARIAL_TRAIT]].dropna().set_index("eid"))
    if not frames:
        return None
    out = frames[0]
    for f in frames[1:]:
        out = out.combine_first(f)
    if failed:
        out = out.reindex(out.index.union(sorted(failed)))
        out.loc[sorted(failed), CALVARIAL_TRAIT] = float("nan")
        _log.warning("calvarial: %d participant(s) whose measured head failed QC are excluded "
                     "from calvarial_bma (NaN), not filled from the cohort IDP", len(failed))
    out.index.name = "eid"
    return out.reset_index()

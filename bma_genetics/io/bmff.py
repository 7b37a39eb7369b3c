"""The BMFF table: bone-marrow fat fraction per participant and site, with QC and provenance.

Written by the phenotypes stage (``bmff.parquet``) and by simulated cohorts
(``participants/bmff_idp.parquet``); read by every stage that analyses BMFF. Beside the table,
``{stem}.provenance.json`` records how it was measured (model checksum, held-out Dice, QC counts).

============================  =======  =========================================================
column                        dtype    meaning
============================  =======  =========================================================
eid                           str      participant
bmff_<site>[_left|_right]     float    mean fat fraction (0-1); ``bma_genetics.sites.all_traits()``
bmff_<site>_<statistic>       number   per-site extras (``_median``, ``_n_voxels``, ``_volume_ml``)
qc_pass                       bool     no QC flag set (optional)
qc_<flag|metric|rule>         any      QC flags and metrics (optional)
error, source, model_sha256   str      read error, file read, weights checksum (optional)
============================  =======  =========================================================

Format version 1, stamped in the Parquet key-value metadata (:mod:`bma_genetics.io._schema`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pandas as pd

from bma_genetics._atomic import write_text
from bma_genetics.errors import InputError
from bma_genetics.io._schema import TableSchema, read_checked, write_checked
from bma_genetics.sites import all_traits

BMFF_SCHEMA = TableSchema(
    table="bmff",
    title="BMFF table",
    version=1,
    required={"eid": "id"},
    optional={"qc_pass": "bool", "error": "string", "source": "string", "model_sha256": "string"},
    patterns=((r"bmff_.+", "number"),),
    require_pattern=r"bmff_.+",
    unique="eid",
    # a fat fraction is 0-1; a measurement may stray a little past either end, a percentage
    # (0-100, OPTIMAT's unit) or a code does not
    ranges={trait: (-0.5, 1.5, "a fat fraction (0-1; not a percentage)") for trait in all_traits()},
)


def provenance_path(path: str | os.PathLike) -> Path:
    """The provenance sidecar of a BMFF table: ``bmff.parquet`` -> ``bmff.provenance.json``."""
    path = Path(path)
    if path.name.endswith(".provenance.json"):
        return path
    stem = path.name
    for suffix in (".parquet", ".tsv.gz", ".tsv", ".csv.gz", ".csv"):
        if stem.endswith(suffix):
            stem = stem.removesuffix(suffix)
            break
    return path.with_name(f"{stem}.provenance.json")


def write_bmff_table(
    table: pd.DataFrame, path: str | os.PathLike, *, provenance: dict[str, Any] | None = None
) -> Path:
    """Write a BMFF table atomically, checked and stamped; and its provenance sidecar if given.

    Parameters
    ----------
    table : DataFrame
        ``eid`` (unique) and at least one ``bmff_*`` column (module docstring).
    path : path
        ``.parquet`` (stamped with the format version) or ``.tsv``/``.csv``.
    provenance : dict, optional
        JSON-able record written to ``{stem}.provenance.json`` beside the table.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    InputError
        A missing ``eid`` or ``bmff_*`` column, a column of the wrong dtype, or a repeated eid.
    """
    out = write_checked(table, path, BMFF_SCHEMA, where="write_bmff_table/table")
    if provenance is not None:
        write_text(provenance_path(out), json.dumps(provenance, indent=1, default=float) + "\n")
    return out


def read_bmff_table(path: str | os.PathLike | pd.DataFrame) -> pd.DataFrame:
    """Read a BMFF table (the contract written by :func:`write_bmff_table`); ``eid`` as str.

    Parameters
    ----------
    path : path or DataFrame
        Parquet (``bmff.parquet``, ``bmff_idp.parquet``), or TSV/CSV; a DataFrame is checked the
        same way.

    Returns
    -------
    DataFrame
        The table's columns as written (module docstring).

    Raises
    ------
    InputError
        Missing file; no ``eid`` or no ``bmff_*`` column, or a column of the wrong dtype
        (naming file and column); a Parquet file stamped with another format version.
    """
    table, _ = read_checked(path, BMFF_SCHEMA, where="read_bmff_table/path")
    table["eid"] = table["eid"].astype(str)
    return table


def read_bmff_provenance(path: str | os.PathLike) -> dict[str, Any]:
    """Read the provenance sidecar of a BMFF table.

    Parameters
    ----------
    path : path
        The BMFF table (``bmff.parquet``) or its ``bmff.provenance.json``.

    Returns
    -------
    dict
        As written by the phenotypes stage: ``table``, ``n_participants``, ``n_qc_pass``,
        ``flags``, ``model`` (``path``, ``sha256``, ``held_out_dice``...), ``erosion_voxels``...

    Raises
    ------
    InputError
        No sidecar, or one that is not a JSON object.
    """
    where = "read_bmff_provenance/path"
    p = provenance_path(path)
    if not p.exists():
        raise InputError(f"{where}: no provenance file {p} beside the BMFF table")
    try:
        record = json.loads(p.read_text())
    except ValueError as exc:
        raise InputError(f"{where}: {p} is not valid JSON ({exc})") from None
    if not isinstance(record, dict):
        raise InputError(f"{where}: {p} holds a {type(record).__name__}, expected a JSON object")
    return record


#: The per-ROI statistics table of the ``optimat`` BMFF method (``{stem}_roi_stats.parquet``
#: beside the BMFF table): one row per participant and ROI, fat fractions in percent (OPTIMAT's
#: unit). ``roi`` is OPTIMAT's ROI code (``E`` epiphysis = femoral head, ``N`` neck, ``T`` total
#: hip, ``D`` diaphysis, ``S`` spine), ``site`` the project's stem (``femoral_head_left``, ...,
#: ``l5``); ``qc_pass`` false where OPTIMAT's ROI QC excluded the value.
ROI_STATS_SCHEMA = TableSchema(
    table="bmff_roi_stats",
    title="BMFF per-ROI statistics table",
    version=1,
    required={"eid": "id", "site": "string", "roi": "string", "eroded": "bool", "mean_pct": "number",
              "sd_pct": "number", "median_pct": "number", "iqr_pct": "number", "n_voxels": "number",
              "qc_pass": "bool"},
    ranges={c: (-1e-9, 100.0 + 1e-9, "a fat fraction in percent (0-100)") for c in ("mean_pct", "median_pct")},
)


def roi_stats_path(path: str | os.PathLike) -> Path:
    """The per-ROI statistics table beside a BMFF table: ``bmff.parquet`` -> ``bmff_roi_stats.parquet``."""
    p = provenance_path(path)
    return p.with_name(p.name.removesuffix(".provenance.json") + "_roi_stats.parquet")


def write_roi_stats(table: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write the per-ROI statistics table (:data:`ROI_STATS_SCHEMA`) atomically, checked and stamped.

    Parameters
    ----------
    table : DataFrame
        ``eid, site, roi, eroded, mean_pct, sd_pct, median_pct, iqr_pct, n_voxels, qc_pass``.
    path : path
        ``.parquet`` (stamped) or ``.tsv``/``.csv``.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    InputError
        A missing column, a column of the wrong dtype, or a mean outside 0-100.
    """
    return write_checked(table, path, ROI_STATS_SCHEMA, where="write_roi_stats/table")


def read_roi_stats(path: str | os.PathLike | pd.DataFrame) -> pd.DataFrame:
    """Read the per-ROI statistics table written by :func:`write_roi_stats`; ``eid`` as str.

    Parameters
    ----------
    path : path or DataFrame
        Parquet, TSV or CSV; a DataFrame is checked the same way.

    Returns
    -------
    DataFrame

    Raises
    ------
    InputError
        Missing file or column, wrong dtype, or a file stamped with another table or version.
    """
    table, _ = read_checked(path, ROI_STATS_SCHEMA, where="read_roi_stats/path")
    table["eid"] = table["eid"].astype(str)
    return table


#: Test-retest reliability per trait (first imaging visit vs repeat imaging, instance 2 vs 3).
ICC_SCHEMA = TableSchema(
    table="bmff_icc",
    title="BMFF test-retest reliability table",
    version=1,
    required={"trait": "string", "n": "number", "icc2_1": "number", "icc2_1_lo": "number", "icc2_1_hi": "number",
              "icc3_1": "number", "icc3_1_lo": "number", "icc3_1_hi": "number", "mean_diff_pp": "number",
              "sd_diff_pp": "number"},
)


def write_icc_table(table: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write the test-retest ICC table (:data:`ICC_SCHEMA`) atomically, checked.

    Parameters
    ----------
    table : DataFrame
        ``trait, n, icc2_1, icc2_1_lo, icc2_1_hi, icc3_1, icc3_1_lo, icc3_1_hi, mean_diff_pp,
        sd_diff_pp`` (one row per BMFF trait; differences repeat minus first visit, in
        percentage points).
    path : path
        ``.tsv``/``.csv`` or ``.parquet``.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    InputError
        A missing column or a column of the wrong dtype.
    """
    return write_checked(table, path, ICC_SCHEMA, where="write_icc_table/table")


def read_icc_table(path: str | os.PathLike | pd.DataFrame) -> pd.DataFrame:
    """Read the test-retest ICC table written by :func:`write_icc_table`.

    Parameters
    ----------
    path : path or DataFrame
        TSV, CSV or parquet; a DataFrame is checked the same way.

    Returns
    -------
    DataFrame

    Raises
    ------
    InputError
        Missing file or column, wrong dtype, or a file stamped with another table or version.
    """
    table, _ = read_checked(path, ICC_SCHEMA, where="read_icc_table/path")
    return table

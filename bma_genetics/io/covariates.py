"""The participant table: covariates for imaging genetics, named as in the project contract."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from bma_genetics._check import check_one_of
from bma_genetics.errors import InputError
from bma_genetics.io._schema import TableSchema, read_checked, write_checked
from bma_genetics.io.ukb import UKBData, get_field

log = logging.getLogger(__name__)

#: Columns always present, in order (then ``centre_*`` one-hot and ``pc1..pcK`` after them).
PARTICIPANT_COLUMNS: tuple[str, ...] = (
    "eid", "age", "age2", "sex", "age_sex", "bmi", "height", "imaging_centre", "scan_date", "ancestry",
    "year_of_birth", "genotyping_array", "genotyping_batch", "imaging_batch",
)  # fmt: skip

#: First day of imaging batch 2 (``imaging_batch``): visits (53-2.0) before it are batch 1, as the
#: two release batches of Xu 2025's imaging data (the simulator plants its batch shift by the same
#: rule, ``bma_genetics.simulate.imaging_batch``).
IMAGING_BATCH_SPLIT = "2018-01-01"


def build_participant_table(
    data: UKBData,
    *,
    instance: int = 2,
    n_pcs: int = 10,
    eids: Iterable[str] | None = None,
    ancestry: str | None = "22006",
    withdrawals: Iterable[str] | None = None,
) -> pd.DataFrame:
    """One row per participant with the covariates imaging-genetics models use.

    Parameters
    ----------
    data : UKBData
        Needs 31 (sex, instance 0) and 21003 at ``instance`` (or 53 at ``instance`` plus 34,
        and 52 if present, to compute age); uses 21001, 50, 54, 53 at ``instance``, 22000, 22009
        and 22006/21000 at instance 0 when present (absent optional fields give missing columns,
        with a warning).
    instance : int, default=2
        The visit the covariates describe (2 = first imaging visit).
    n_pcs : int, default=10
        Genetic PCs ``pc1..pc{n_pcs}`` from 22009 (0 for none).
    eids : iterable of str, optional
        Keep only these participants (e.g. those passing :func:`run_sample_qc`), in data order.
    ancestry : {"22006", "pcs"} or None, default="22006"
        How the ``ancestry`` column is assigned (:func:`~bma_genetics.io.sample_qc.assign_ancestry`).
    withdrawals : iterable of str, optional
        Withdrawn eids, removed (and counted in the log) even if ``eids`` lists them.

    Returns
    -------
    DataFrame
        ==================  ==============  ===============================================
        column              dtype           meaning
        ==================  ==============  ===============================================
        eid                 str             participant id
        age                 float64         age at the visit, years (21003; else from 53-34)
        age2                float64         age squared
        sex                 Int64           0 = female, 1 = male (field 31)
        age_sex             float64         age x sex
        bmi                 float64         body-mass index, kg/m2 (21001)
        height              float64         standing height, cm (50)
        imaging_centre      Int64           assessment centre code (54; 11025-11028)
        scan_date           datetime64[ns]  date of the visit (53)
        ancestry            str             EUR, AFR, CSA, EAS, MIX or OTH
        year_of_birth       Int64           field 34
        genotyping_array    Int64           1 = UK Biobank Axiom, 0 = UK BiLEVE Axiom (from 22000)
        genotyping_batch    Int64           genotype measurement batch (22000; -11..-1 BiLEVE)
        imaging_batch       Int64           1 / 2: scan date (53) before / on or after
                                            :data:`IMAGING_BATCH_SPLIT`; missing without a date
        date_of_death       datetime64[ns]  40000, earliest instance (only when the field is read)
        date_lost_to_fol..  datetime64[ns]  ``date_lost_to_follow_up``: 191 (only when read)
        centre_{code}       int8            one-hot imaging centre, one per centre present
        pc1..pcK            float64         genetic principal components (22009)
        ==================  ==============  ===============================================

    Examples
    --------
    >>> table = build_participant_table(data, eids=kept)  # doctest: +SKIP
    >>> write_participant_table(table, "participants.parquet")  # doctest: +SKIP
    """
    where = "build_participant_table"
    if ancestry is not None:
        check_one_of(f"{where}/ancestry", ancestry, ("22006", "pcs"))
    if not isinstance(n_pcs, int) or n_pcs < 0:
        raise InputError(f"{where}/n_pcs: expected an int >= 0, found {n_pcs!r}")
    idx = data.frame.index

    def optional(field_id: int, inst: int, coding: str | None = None) -> pd.Series:
        if data.has(field_id, inst):
            s = get_field(data, field_id, inst, coding=coding)
            if isinstance(s, pd.DataFrame):
                s = s.iloc[:, 0]
            return s
        log.warning("%s: field %d instance %d absent from %s; its column is missing", where, field_id, inst, data.source)
        return pd.Series(np.nan, index=idx)

    if not data.has(31, 0):
        raise InputError(f"{where}/data: {data.source} has no field 31 (sex) at instance 0")
    sex = get_field(data, 31, 0, coding="codes")
    if data.has(21003, instance):
        age = get_field(data, 21003, instance).astype("float64")
    elif data.has(53, instance) and data.has(34, 0):
        visit = get_field(data, 53, instance)
        year = get_field(data, 34, 0)
        month = get_field(data, 52, 0, coding="codes") if data.has(52, 0) else pd.Series(7.0, index=idx)
        # Birth taken mid-month (mid-year without 52): the error is at most half a month.
        born = pd.to_datetime(
            {"year": year.fillna(1900), "month": month.fillna(7), "day": 15}, errors="coerce"
        ).where(year.notna())
        age = (visit - born).dt.days / 365.25
    else:
        raise InputError(
            f"{where}/data: {data.source} has neither 21003 (age) at instance {instance} nor 53 at "
            f"instance {instance} with 34 (year of birth) to compute it"
        )
    out = pd.DataFrame(index=idx)
    out["age"] = age.astype("float64")
    out["age2"] = out["age"] ** 2
    out["sex"] = sex.astype("Int64")
    out["age_sex"] = out["age"] * sex.astype("float64")
    out["bmi"] = optional(21001, instance).astype("float64")
    out["height"] = optional(50, instance).astype("float64")
    centre = optional(54, instance, coding="codes")
    out["imaging_centre"] = pd.to_numeric(centre).astype("Int64")
    date = optional(53, instance)
    out["scan_date"] = pd.to_datetime(date) if date.notna().any() else pd.Series(pd.NaT, index=idx)
    out["scan_date"] = out["scan_date"].astype("datetime64[ns]")
    split = pd.Timestamp(IMAGING_BATCH_SPLIT)
    out["imaging_batch"] = (1 + (out["scan_date"] >= split).astype("Int64")).where(out["scan_date"].notna(), pd.NA)
    out["imaging_batch"] = out["imaging_batch"].astype("Int64")
    if ancestry is not None and (data.has(22006, 0) if ancestry == "22006" else data.has(22009, 0)):
        from bma_genetics.io.sample_qc import assign_ancestry

        out["ancestry"] = assign_ancestry(data, ancestry).astype(object)
    else:
        log.warning("%s: no ancestry fields (22006/22009) in %s; 'ancestry' is missing", where, data.source)
        out["ancestry"] = pd.Series(None, index=idx, dtype=object)
    # Birth year lets later stages drop diagnoses dated before birth (PheWAS).
    out["year_of_birth"] = pd.to_numeric(optional(34, 0)).astype("Int64")
    # 22000: negative batches are UK BiLEVE's array, positive ones UK Biobank Axiom's
    batch = pd.to_numeric(optional(22000, 0, coding="codes"))
    out["genotyping_array"] = (batch > 0).astype("Int64").where(batch.notna(), pd.NA)
    out["genotyping_batch"] = batch.astype("Int64")
    # End of follow-up (PheWAS censors there): death (40000, the earliest instance) and 191.
    for name, field_id in (("date_of_death", 40000), ("date_lost_to_follow_up", 191)):
        cols = [k for k in data.frame.columns if k[0] == field_id]
        if cols:
            out[name] = pd.to_datetime(data.frame[cols].min(axis=1)).astype("datetime64[ns]")
    for code in sorted(int(c) for c in out["imaging_centre"].dropna().unique()):
        out[f"centre_{code}"] = (out["imaging_centre"] == code).fillna(False).astype("int8")
    if n_pcs:
        if not data.has(22009, 0):
            raise InputError(f"{where}/n_pcs: {data.source} has no genetic PCs (22009); pass n_pcs=0")
        pcs = get_field(data, 22009, 0)
        pcs = pcs if isinstance(pcs, pd.DataFrame) else pcs.to_frame("pc1")
        have = [c for c in (f"pc{i}" for i in range(1, n_pcs + 1)) if c in pcs.columns]
        if len(have) < n_pcs:
            raise InputError(f"{where}/n_pcs: {data.source} has {len(have)} PCs (22009-0.1..), asked for {n_pcs}")
        for c in have:
            out[c] = pcs[c].astype("float64")
    n0 = len(out)
    if withdrawals is not None:
        from bma_genetics.io.withdrawals import remove_withdrawn

        out = remove_withdrawn(out, withdrawals, where=where)
    if eids is not None:
        keep = pd.Index([str(e) for e in eids])
        unknown = keep.difference(idx)
        if len(unknown):
            raise InputError(f"{where}/eids: {len(unknown)} eid(s) not in {data.source}, e.g. {list(unknown[:3])}")
        before = len(out)
        out = out.loc[out.index.isin(keep)]
        log.info("%s: removed %d participant(s) (reason: not in eids / failed sample QC)", where, before - len(out))
    out = out.reset_index()
    out["eid"] = out["eid"].astype(str)
    log.info("%s: %d of %d participants, %d columns", where, len(out), n0, out.shape[1])
    return out


#: Covariates that name a categorical column of the participant table: expanded by
#: :func:`design_covariates` to one indicator per level except the reference (prefix + code).
CATEGORICAL_COVARIATES: dict[str, str] = {"imaging_centre": "centre_"}
#: Date covariates: expanded to decimal years since this date (``<name>_years``).
DATE_ORIGIN = "2000-01-01"


def design_covariates(
    table: pd.DataFrame,
    covariates: Iterable[str],
    *,
    optional: bool = False,
    where: str = "design_covariates/covariates",
) -> tuple[pd.DataFrame, list[str]]:
    """The regression columns of named covariates: categorical ones as indicators, dates as years.

    ``imaging_centre`` (field 54) becomes ``centre_<code>`` indicators for every centre present
    in ``table`` except the reference (the most common centre; the lowest code on a tie), so
    that the model keeps its intercept; a date column (``scan_date``, 53) becomes
    ``<name>_years``, decimal years since :data:`DATE_ORIGIN`. Other columns are used as they are.

    Parameters
    ----------
    table : DataFrame
        The participant table (or an analysis table made from it), one row per participant.
    covariates : iterable of str
        Column names, as a user writes them (``["age", "sex", "imaging_centre", "pc1"]``).
    optional : bool, default=False
        ``True`` for a default list: names absent from ``table``, entirely missing or constant
        there are left out (logged) instead of being an error or a constant column.
    where : str
        Prefix of error messages (``"function/param"``).

    Returns
    -------
    (DataFrame, list of str)
        ``table`` with the indicator / year columns added (a copy when any is added), and the
        covariate columns to regress on, in the given order.

    Raises
    ------
    InputError
        A covariate column absent from ``table`` (``optional=False``), naming what it has.

    Examples
    --------
    >>> t = pd.DataFrame({"age": [50.0, 61.0, 70.0], "imaging_centre": [11025, 11027, 11025]})
    >>> design_covariates(t, ["age", "imaging_centre"])[1]
    ['age', 'centre_11027']
    """
    names = [covariates] if isinstance(covariates, str) else list(covariates)
    bad = [c for c in names if not isinstance(c, str)]
    if bad:
        raise InputError(f"{where}: covariates are column names (strings), found {bad!r}")
    missing = [c for c in names if c not in table.columns]
    if missing and not optional:
        raise InputError(f"{where}: covariate(s) {missing} not in the participant table; it has "
                         f"{list(table.columns)[:30]}")
    added: dict[str, pd.Series] = {}
    used: list[str] = []
    for c in names:
        if c not in table.columns:
            log.info("%s: default covariate '%s' is not in the table; not used", where, c)
            continue
        col = table[c]
        if c in CATEGORICAL_COVARIATES:
            codes = pd.to_numeric(col, errors="coerce").astype("Int64")
            counts = codes.value_counts()
            if len(counts) < 2:
                log.info("%s: '%s' has %d level(s) in these %d rows; no indicator is needed", where, c,
                         len(counts), len(table))
                continue
            ref = int(sorted(counts.index, key=lambda k: (-counts[k], k))[0])
            for code in sorted(int(k) for k in counts.index if int(k) != ref):
                name = f"{CATEGORICAL_COVARIATES[c]}{code}"
                added[name] = (codes == code).astype("float64").where(codes.notna())
                used.append(name)
            log.info("%s: '%s' as %d indicator(s), reference level %d", where, c, len(counts) - 1, ref)
            continue
        if pd.api.types.is_datetime64_any_dtype(col):
            name = f"{c}_years"
            added[name] = (col - pd.Timestamp(DATE_ORIGIN)).dt.days / 365.25
            used.append(name)
            continue
        if optional:
            num = pd.to_numeric(col, errors="coerce")
            if num.notna().sum() == 0 or num.nunique(dropna=True) < 2:
                log.info("%s: default covariate '%s' is missing or constant in these %d rows; not used",
                         where, c, len(table))
                continue
        used.append(c)
    if added:
        table = table.assign(**added)
    return table, used


#: The participant-table contract (format version 1): see :func:`build_participant_table`.
PARTICIPANT_SCHEMA = TableSchema(
    table="participants",
    title="participant table",
    version=1,
    required={"eid": "id"},
    optional={
        "age": "number", "sex": "number", "age2": "number", "age_sex": "number", "bmi": "number", "height": "number",
        "imaging_centre": "number", "scan_date": "datetime", "ancestry": "string", "year_of_birth": "number",
        "genotyping_array": "number", "genotyping_batch": "number", "imaging_batch": "number",
        "date_of_death": "datetime", "date_lost_to_follow_up": "datetime",
    },
    patterns=((r"pc\d+", "number"), (r"centre_\d+", "number")),
    unique="eid",
    ranges={"age": (0, 120, "an age in years"), "bmi": (5, 250, "a BMI in kg/m2"),
            "height": (40, 250, "a height in cm"), "year_of_birth": (1880, 2100, "a year of birth")},
    codes={"sex": (0, 1)},
)


def write_participant_table(table: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write the participant table atomically, checked and stamped with its format version.

    Parameters
    ----------
    table : DataFrame
        As :func:`build_participant_table` returns: ``eid`` (unique strings), ``age``, ``sex``
        and the other covariates with the dtypes listed there (those present are checked).
    path : path
        ``.parquet`` (stamped with the format version in its key-value metadata) or
        ``.tsv``/``.csv`` (not stamped).

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    InputError
        ``eid``, ``age`` or ``sex`` is missing, a column has the wrong dtype, or ``eid`` repeats.
    """
    where = "write_participant_table/table"
    missing = [c for c in ("eid", "age", "sex") if c not in table.columns]
    if missing:
        raise InputError(f"{where}: the table to write lacks column(s) {missing} of the participant table")
    return write_checked(table, path, PARTICIPANT_SCHEMA, where=where)


def read_participant_table(
    path: str | os.PathLike | pd.DataFrame, *, required: Iterable[str] = ("age", "sex")
) -> pd.DataFrame:
    """Read a participant table (the contract written by :func:`write_participant_table`).

    Parameters
    ----------
    path : path or DataFrame
        Parquet (the stage's ``participants.parquet``), or TSV/CSV a user made; a DataFrame is
        checked the same way.
    required : iterable of str, default=("age", "sex")
        Columns the caller needs besides ``eid`` (the contract's covariates; pass ``()`` when
        the caller checks its own columns, e.g. a PheWAS without sex).

    Returns
    -------
    DataFrame
        The columns of :func:`build_participant_table` that are present (``eid`` always, as
        str), one row per participant. Every column the table has is kept; those the contract
        names are checked for their dtype.

    Raises
    ------
    InputError
        Missing file; a required column missing or a column of the wrong dtype (naming file and
        column); a Parquet file stamped with another format version; duplicate eids.
    """
    where = "read_participant_table/path"
    table, source = read_checked(path, PARTICIPANT_SCHEMA, where=where)
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise InputError(f"{where}: {source} lacks column(s) {missing} of the participant table; "
                         f"it has {list(table.columns)[:20]}")
    table["eid"] = table["eid"].astype(str)
    return table

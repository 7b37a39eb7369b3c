"""Diagnoses as one long table ``eid, code, date, source, coding`` (for PheWAS and case definitions).

Sources: hospital in-patient ICD-10 (field 41270, dates in 41280, matched by array index) and
ICD-9 (41271, dates 41281), the death registry (primary cause 40001 and secondary causes 40002,
dated by the date of death 40000 of the same instance), the cancer registry (40006, dates
40005, matched by instance) and long tables in the style of primary-care ``gp_clinical`` or
``hesin_diag`` (:func:`read_long_diagnoses`). ICD-10 codes are normalised to the WHO dotted form
the phecode maps use (``M810`` -> ``M81.0``), ICD-9 codes to the dotted form of the ICD-9 maps
(``7330`` -> ``733.0``, ``E8140`` -> ``E814.0``); ``coding`` says which.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from bma_genetics.errors import InputError
from bma_genetics.io._schema import TableSchema, read_checked, write_checked
from bma_genetics.io.ukb import UKBData, get_field

log = logging.getLogger(__name__)

DIAGNOSIS_COLUMNS = ("eid", "code", "date", "source", "coding")
#: ``coding`` values: the vocabulary of ``code``.
CODINGS = ("icd10", "icd9", "read2", "read3", "other")
#: Sources whose codes are ICD-9 (a table without a ``coding`` column is read by its source).
ICD9_SOURCES = frozenset({"41271", "41203", "41205"})
#: ``source`` values of UK Biobank fields that list each distinct code once per person with its
#: first date (hospital ICD-10 41270 and ICD-9 41271, main/secondary diagnoses 41202-41205,
#: causes of death 40001/40002, cancer registry 40006/40013): one record is a diagnosis.
#: Any other source (``hesin_diag``, ``gp_clinical``, :func:`read_long_diagnoses`'s ``"long"``)
#: is taken as episode-level: a code recurs once per episode.
DISTINCT_CODE_SOURCES = frozenset({"41270", "41271", "41202", "41203", "41204", "41205",
                                   "40001", "40002", "40006", "40013"})
_ICD10 = re.compile(r"^[A-Z][0-9]{2}[0-9A-Z]{0,4}$")
_ICD9_LIKE = re.compile(r"^[0-9]{3,5}$")
_ICD9 = re.compile(r"^(?:[0-9]{3,5}|V[0-9]{2,4}|E[0-9]{3,4})$")
#: What a code of any coding a diagnosis table may hold looks like (ICD-10, ICD-9, Read codes).
_CODE_TEXT = r"[A-Za-z0-9][A-Za-z0-9.]{0,9}"
#: UK Biobank placeholder dates (Data-Coding 819 and HES conventions): not real event dates.
SPECIAL_DATES = frozenset(pd.Timestamp(d) for d in ("1900-01-01", "1901-01-01", "1902-02-02", "1903-03-03", "2037-07-07"))


def normalise_icd10(
    codes: str | pd.Series,
    *,
    dotted: bool = True,
    errors: str = "raise",
    where: str = "normalise_icd10/codes",
):
    """Normalise ICD-10 codes: upper case, no blanks, dotted (``M81.0``) or not (``M810``).

    Parameters
    ----------
    codes : str or Series of str
        Codes with or without the dot (``M810``, ``m81.0``, ``M81.0 ``); missing stay missing.
    dotted : bool, default=True
        ``True``: WHO form, a dot after the category (``M81.0``; ``I10`` stays ``I10``).
        ``False``: UK Biobank form (``M810``).
    errors : {"raise", "keep"}, default="raise"
        ``"raise"``: a value that is not an ICD-10 code is an error. ``"keep"``: such values
        are returned cleaned the same way (upper case, no blanks or dot) but not validated -
        for reference maps that hold ranges or local codes.
    where : str, default="normalise_icd10/codes"
        ``"function/param"`` prefix of error messages.

    Returns
    -------
    str or Series of str

    Raises
    ------
    InputError
        A value that is not an ICD-10 code (naming it); "mixed codings" when the values look
        like ICD-9 (all digits).

    Examples
    --------
    >>> normalise_icd10("M810")
    'M81.0'
    >>> normalise_icd10("M81.0", dotted=False)
    'M810'
    """
    if errors not in ("raise", "keep"):
        raise InputError(f"normalise_icd10/errors: expected 'raise' or 'keep', found {errors!r}")
    scalar = isinstance(codes, str)
    s = pd.Series([codes]) if scalar else pd.Series(codes)
    if len(s) > 1000:
        # Millions of diagnoses use a few thousand distinct codes: normalise each code once.
        uniques = pd.Series(s.dropna().unique())
        if len(uniques) < len(s) // 2:
            table = normalise_icd10(uniques, dotted=dotted, errors=errors, where=where)
            return s.map(dict(zip(uniques, table, strict=True)))
    present = s.dropna()
    bare = present.astype(str).str.upper().str.replace(r"[\s.]", "", regex=True)
    ok = bare.str.match(_ICD10)
    if errors == "keep":
        # Only codes that are ICD-10 get the dot; the others are kept cleaned.
        if dotted:
            dot = ok & (bare.str.len() > 3)
            bare = bare.where(~dot, bare.str[:3] + "." + bare.str[3:])
        out = pd.Series(np.nan, index=s.index, dtype=object)
        out.loc[bare.index] = bare
        return out.iloc[0] if scalar else out
    if not ok.all():
        bad_raw = present[~ok]
        icd9 = bare[~ok].str.match(_ICD9_LIKE)
        if icd9.any() and ok.any():
            raise InputError(
                f"{where}: mixed codings: ICD-10 codes (e.g. {present[ok].iloc[0]!r}) together with "
                f"ICD-9-like codes (e.g. {bad_raw[icd9].iloc[0]!r}); ICD-9 belongs in field 41271"
            )
        raise InputError(f"{where}: {bad_raw.iloc[0]!r} is not an ICD-10 code (e.g. 'M810' or 'M81.0')")
    if dotted:
        bare = bare.where(bare.str.len() <= 3, bare.str[:3] + "." + bare.str[3:])
    out = pd.Series(np.nan, index=s.index, dtype=object)
    out.loc[bare.index] = bare
    return out.iloc[0] if scalar else out


def normalise_icd9(
    codes: str | pd.Series,
    *,
    dotted: bool = True,
    where: str = "normalise_icd9/codes",
):
    """Normalise ICD-9 codes: UK Biobank's form without the dot (``7330``) to ``733.0``, or back.

    Parameters
    ----------
    codes : str or Series of str
        Codes with or without the dot (``7330``, ``733.0``, ``V700``, ``E8140``); missing stay
        missing. UK Biobank's field 41271 (coding 87) writes 3 to 5 characters without a dot.
    dotted : bool, default=True
        ``True``: the dot after the category (3 characters; 4 for E-codes), as the ICD-9(-CM)
        phecode maps write codes (``733.0``, ``V70.0``, ``E814.0``; ``410`` stays ``410``).
        ``False``: UK Biobank's form (``7330``).
    where : str, default="normalise_icd9/codes"
        ``"function/param"`` prefix of error messages.

    Returns
    -------
    str or Series of str

    Raises
    ------
    InputError
        A value that is not an ICD-9 code (naming it), e.g. an ICD-10 code in an ICD-9 field.

    Examples
    --------
    >>> normalise_icd9("7330")
    '733.0'
    >>> normalise_icd9("E8140")
    'E814.0'
    >>> normalise_icd9("733.0", dotted=False)
    '7330'
    """
    scalar = isinstance(codes, str)
    s = pd.Series([codes]) if scalar else pd.Series(codes)
    present = s.dropna()
    bare = present.astype(str).str.upper().str.replace(r"[\s.]", "", regex=True)
    ok = bare.str.match(_ICD9)
    if not ok.all():
        bad = present[~ok].iloc[0]
        hint = "; ICD-10 codes belong in field 41270" if _ICD10.match(str(bare[~ok].iloc[0])) else ""
        raise InputError(f"{where}: {bad!r} is not an ICD-9 code (e.g. '7330' or '733.0'){hint}")
    if dotted:
        head = np.where(bare.str.startswith("E"), 4, 3)
        text = bare.to_numpy(dtype=object)
        bare = pd.Series([c if len(c) <= h else f"{c[:h]}.{c[h:]}" for c, h in zip(text, head, strict=True)],
                         index=bare.index, dtype=object)
    out = pd.Series(np.nan, index=s.index, dtype=object)
    out.loc[bare.index] = bare
    return out.iloc[0] if scalar else out


def _birth_dates(data: UKBData) -> pd.Series | None:
    if not data.has(34, 0):
        return None
    year = get_field(data, 34, 0)
    month = get_field(data, 52, 0, coding="codes") if data.has(52, 0) else pd.Series(1.0, index=year.index)
    # Earliest possible birth date: the first of the birth month (January without 52).
    return pd.to_datetime({"year": year.fillna(1900), "month": month.fillna(1), "day": 1}).where(year.notna())


def _pair_arrays(data: UKBData, code_field: int, date_field: int, by: str, source: str, dotted: bool,
                 coding: str = "icd10") -> list[pd.DataFrame]:
    frames = []
    keys = [k for k in data.frame.columns if k[0] == code_field]
    n_missing_date = 0
    normalise = normalise_icd9 if coding == "icd9" else normalise_icd10
    for key in keys:
        f, inst, arr = key
        col = data.frame[key]
        present = col.notna()
        if not present.any():
            continue
        codes = normalise(col[present], dotted=dotted,
                          where=f"read_diagnoses/data: {data.source} column {data.column_name(key)!r}")
        date_key = {"array": (date_field, 0, arr), "instance": (date_field, inst, 0)}[by]
        if date_key in data.frame.columns:
            dates = data.frame[date_key][present]
            if not pd.api.types.is_datetime64_any_dtype(dates):
                raise InputError(f"read_diagnoses/data: {data.source} column {data.column_name(date_key)!r} is not a date column")
        else:
            dates = pd.Series(pd.NaT, index=codes.index, dtype="datetime64[ns]")
        n_missing_date += int(dates.isna().sum())
        frames.append(pd.DataFrame({"eid": codes.index.astype(str), "code": codes.to_numpy(),
                                    "date": dates.to_numpy(), "source": source, "coding": coding}))
    if n_missing_date:
        log.warning("read_diagnoses: %d %s code(s) without a date (%d)", n_missing_date, source, date_field)
    return frames


def read_diagnoses(
    data: UKBData,
    *,
    dotted: bool = True,
    cancer_registry: bool = True,
    icd9: bool = True,
    death_registry: bool = True,
) -> pd.DataFrame:
    """Turn the hospital, death and cancer registry fields into a long diagnosis table.

    Parameters
    ----------
    data : UKBData
        Needs 41270 (instance 0; array ``a`` pairs with ``41280-0.a``); uses, when present,
        41271/41281 (ICD-9, paired by array), 40001 and 40002 (causes of death, ICD-10, dated
        by 40000 of the same instance), 40006/40005 (cancer registry, one instance per tumour)
        and 34/52 (birth, to check dates).
    dotted : bool, default=True
        Codes in dotted form (``M81.0``, ICD-9 ``733.0``), else UK Biobank form (``M810``, ``7330``).
    cancer_registry : bool, default=True
        Include 40006 when present.
    icd9 : bool, default=True
        Include 41271 when present.
    death_registry : bool, default=True
        Include 40001/40002 when present.

    Returns
    -------
    DataFrame
        ======  ==============  ================================================
        column  dtype           meaning
        ======  ==============  ================================================
        eid     str             participant id
        code    str             ICD-10 or ICD-9 code, normalised
        date    datetime64[ns]  first diagnosis date (NaT when not recorded); the
                                date of death for 40001/40002
        source  str             the field: ``41270``, ``41271`` (hospital),
                                ``40001``, ``40002`` (death), ``40006`` (cancer)
        coding  str             ``icd10`` or ``icd9`` (41271)
        ======  ==============  ================================================

        Sorted by eid, date, code. Every source listed lists each distinct code once per
        person (:data:`DISTINCT_CODE_SOURCES`). Dates before the participant's birth (and UK Biobank's
        placeholder dates such as 1900-01-01) are kept, counted and logged as a warning.

    Raises
    ------
    InputError
        41270 absent; a code that is not ICD-10, or ICD-10 mixed with ICD-9-like codes
        (naming the column and value); a date column that is not a date.

    Examples
    --------
    >>> dx = read_diagnoses(read_ukb("ukb_showcase.csv", [34, 41270, 41280]))  # doctest: +SKIP
    """
    if not data.has(41270):
        raise InputError(f"read_diagnoses/data: {data.source} has no field 41270 (ICD-10 diagnoses)")
    frames = _pair_arrays(data, 41270, 41280, "array", "41270", dotted)
    if icd9 and data.has(41271):
        frames += _pair_arrays(data, 41271, 41281, "array", "41271", dotted, coding="icd9")
    if death_registry:
        for field in (40001, 40002):
            if data.has(field):
                frames += _pair_arrays(data, field, 40000, "instance", str(field), dotted)
    if cancer_registry and data.has(40006):
        frames += _pair_arrays(data, 40006, 40005, "instance", "40006", dotted)
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        {"eid": pd.Series(dtype=object), "code": pd.Series(dtype=object),
         "date": pd.Series(dtype="datetime64[ns]"), "source": pd.Series(dtype=object),
         "coding": pd.Series(dtype=object)})
    out["date"] = out["date"].astype("datetime64[ns]")
    _check_dates(out, _birth_dates(data), data.source)
    out = out.sort_values(["eid", "date", "code"], kind="stable", na_position="last").reset_index(drop=True)
    log.info("read_diagnoses: %d diagnoses for %d participants from %s (%s)", len(out), out["eid"].nunique(),
             data.source, ", ".join(f"{k}: {v}" for k, v in out["source"].value_counts().sort_index().items()))
    return out


def _check_dates(out: pd.DataFrame, born: pd.Series | None, source: str) -> None:
    special = out["date"].isin(list(SPECIAL_DATES))
    if special.any():
        log.warning("diagnoses from %s: %d date(s) are UK Biobank placeholder dates (e.g. 1900-01-01)",
                    source, int(special.sum()))
    if born is None:
        return
    b = born.reindex(pd.Index(out["eid"])).to_numpy()
    before = (out["date"].to_numpy() < b) & ~special.to_numpy()
    if before.any():
        log.warning("diagnoses from %s: %d diagnosis date(s) before the participant's birth (kept; check them)",
                    source, int(before.sum()))


def read_long_diagnoses(
    path: str | os.PathLike,
    *,
    eid: str = "eid",
    code: str = "code",
    date: str = "date",
    source: str = "long",
    coding: str = "icd10",
    dotted: bool = True,
    date_format: str | None = None,
) -> pd.DataFrame:
    """Read a long diagnosis table (primary care, cancer registry, ``hesin_diag``).

    Parameters
    ----------
    path : path
        CSV, TSV/TXT (tab) or Parquet, one row per event.
    eid, code, date : str
        Its column names (``gp_clinical.txt``: ``eid``, ``read_2``/``read_3``, ``event_dt``;
        ``hesin_diag``: ``eid``, ``diag_icd10`` and no date column - pass ``date=None``).
    source : str, default="long"
        Written into the ``source`` column. Long tables are episode-level (a code recurs once
        per episode); a source in :data:`DISTINCT_CODE_SOURCES` says the table lists each code
        once per person (PheWAS then needs one record for a case, not two).
    coding : {"icd10", "icd9", "read2", "read3", "other"}, default="icd10"
        ICD-10 and ICD-9 codes are validated and normalised (:func:`normalise_icd10`,
        :func:`normalise_icd9`); others are kept as written (stripped). Written to ``coding``.
    dotted : bool, default=True
    date_format : str, optional
        strftime format; default ISO ``YYYY-MM-DD``, then ``DD/MM/YYYY`` (GP records).

    Returns
    -------
    DataFrame
        ``eid, code, date, source, coding`` as :func:`read_diagnoses`. Rows without a code are removed
        and counted in the log.

    Raises
    ------
    InputError
        Missing file or column; an unparseable date (naming column and value); invalid or mixed
        ICD-10 codes.
    """
    where = "read_long_diagnoses"
    path = Path(path)
    if not path.exists():
        raise InputError(f"{where}/path: no such file {path}")
    if coding not in ("icd10", "icd9", "read2", "read3", "other"):
        raise InputError(f"{where}/coding: expected icd10, icd9, read2, read3 or other, found {coding!r}")
    name = path.name.lower().removesuffix(".gz")
    if name.endswith((".parquet", ".pq")):
        df = pd.read_parquet(path)
        df = df.astype({c: str for c in df.columns if df[c].dtype == object})
    else:
        sep = "," if name.endswith(".csv") else "\t"
        df = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, na_values=[""])
    cols = [c for c in (eid, code, date) if c is not None]
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise InputError(f"{where}/path: {path} lacks column(s) {missing}; it has {list(df.columns)[:20]}")
    n0 = len(df)
    df = df[df[code].notna() & (df[code].astype(str).str.strip() != "")]
    if len(df) < n0:
        log.info("%s: removed %d row(s) of %s (reason: no code)", where, n0 - len(df), path.name)
    codes = df[code].astype(str).str.strip()
    if coding == "icd10":
        codes = normalise_icd10(codes, dotted=dotted, where=f"{where}/path: {path} column {code!r}")
    elif coding == "icd9":
        codes = normalise_icd9(codes, dotted=dotted, where=f"{where}/path: {path} column {code!r}")
    if date is None:
        dates = pd.Series(pd.NaT, index=df.index, dtype="datetime64[ns]")
    else:
        dates = _parse_dates(df[date], date_format, f"{where}/path: {path} column {date!r}")
    out = pd.DataFrame({"eid": df[eid].astype(str).str.strip().to_numpy(), "code": codes.to_numpy(),
                        "date": dates.to_numpy(), "source": source, "coding": coding})
    out["date"] = out["date"].astype("datetime64[ns]")
    _check_dates(out, None, path.name)
    return out.sort_values(["eid", "date", "code"], kind="stable", na_position="last").reset_index(drop=True)


def _parse_dates(values: pd.Series, date_format: str | None, where: str) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(values):
        return values.astype("datetime64[ns]")
    text = values.astype("string").str.strip().replace("", pd.NA)
    formats = [date_format] if date_format else ["%Y-%m-%d", "%d/%m/%Y", "ISO8601"]
    best = None
    for fmt in formats:
        parsed = pd.to_datetime(text, format=fmt, errors="coerce")
        if best is None or parsed.notna().sum() > best.notna().sum():
            best = parsed
        if parsed.notna().sum() == text.notna().sum():
            break
    bad = text[best.isna() & text.notna()]
    if len(bad):
        raise InputError(f"{where}: unparseable date {bad.iloc[0]!r} (expected {date_format or 'YYYY-MM-DD or DD/MM/YYYY'})")
    return best.astype("datetime64[ns]")


#: The diagnosis-table contract (format version 1): ``eid, code, date, source[, coding]``
#: (``coding`` added later, optional: a table without it is ICD-10 except ICD-9 sources).
DIAGNOSIS_SCHEMA = TableSchema(
    table="diagnoses",
    title="diagnosis table",
    version=1,
    required={"eid": "id", "code": "string"},
    optional={"date": "datetime", "source": "string", "coding": "string"},
)


def write_diagnoses(table: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write a diagnosis table atomically, checked and stamped with its format version.

    Parameters
    ----------
    table : DataFrame
        ``eid, code, date, source`` as :func:`read_diagnoses` returns, and ``coding`` (filled
        in from the source when absent); other columns dropped.
    path : path
        ``.parquet`` (stamped with the format version) or ``.tsv``/``.csv``.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    InputError
        A column missing or of the wrong dtype (``date`` must be datetime64).
    """
    where = "write_diagnoses/table"
    missing = [c for c in DIAGNOSIS_COLUMNS if c not in table.columns and c != "coding"]
    if missing:
        raise InputError(f"{where}: the table to write lacks column(s) {missing} of the diagnosis table")
    if "coding" not in table.columns:
        table = table.assign(coding=_coding_from_source(table["source"]))
    _check_codings(table["coding"], where)
    return write_checked(table[list(DIAGNOSIS_COLUMNS)], path, DIAGNOSIS_SCHEMA, where=where)


def _coding_from_source(source: pd.Series) -> pd.Series:
    return pd.Series(np.where(source.astype(str).isin(ICD9_SOURCES), "icd9", "icd10"), index=source.index,
                     dtype=object)


def _check_codings(coding: pd.Series, where: str) -> None:
    bad = sorted({str(v) for v in coding.dropna().unique()} - set(CODINGS))
    if bad:
        raise InputError(f"{where}: column 'coding' holds {bad[:5]}; expected one of {list(CODINGS)}")


def read_diagnosis_table(path: str | os.PathLike | pd.DataFrame) -> pd.DataFrame:
    """Read a long diagnosis table (the contract written by :func:`write_diagnoses`).

    Parameters
    ----------
    path : path or DataFrame
        Parquet (the participants stage's ``diagnoses.parquet``), or a TSV/CSV with columns
        ``eid, code[, date][, source]`` (dates as ``YYYY-MM-DD``); a DataFrame is checked the
        same way. A UK Biobank export with 41270 columns is not a diagnosis table: turn it into
        one with ``read_diagnoses(read_ukb(path))``.

    Returns
    -------
    DataFrame
        ``eid`` (str), ``code`` (str), ``date`` (datetime64[ns]; NaT when absent or not
        recorded), ``source`` (str; ``""`` when the file has none), ``coding`` (str, one of
        :data:`CODINGS`; when the file has none: ``icd9`` for the sources in
        :data:`ICD9_SOURCES`, else ``icd10``), then any other columns. Rows without a code are
        removed.

    Raises
    ------
    InputError
        Missing file; ``eid`` or ``code`` missing, a column of the wrong dtype, or an
        unparseable date (naming file, column and value); a Parquet file stamped with another
        format version.
    """
    where = "read_diagnosis_table/path"
    if not isinstance(path, pd.DataFrame) and any(str(c).startswith("41270") for c in _header(path)):
        raise InputError(
            f"{where}: {path} is a UK Biobank export (41270 columns), not a diagnosis table; "
            "make one with bma_genetics.io.read_diagnoses(read_ukb(path)) or the participants stage"
        )

    def prepare(frame: pd.DataFrame, source: str) -> pd.DataFrame:
        if "date" in frame.columns and not pd.api.types.is_datetime64_any_dtype(frame["date"]):
            frame["date"] = _parse_dates(frame["date"], None, f"{where}: {source} column 'date'")
        return frame

    table, source = read_checked(path, DIAGNOSIS_SCHEMA, where=where,
                                 text_dtypes={"code": str, "date": str, "source": str}, prepare=prepare)
    table["eid"] = table["eid"].astype(str)
    table = table[table["code"].notna()]
    code = table["code"].astype(str).str.strip()
    bad = ~code.str.fullmatch(_CODE_TEXT).to_numpy()
    if bad.any():
        i = int(bad.nonzero()[0][0])
        row = f"line {table.index[i] + 2}" if source != "the table passed" and not str(source).endswith(
            (".parquet", ".pq")) else f"row {table.index[i] + 1}"
        raise InputError(f"{where}: {source} column 'code' {row}: {table['code'].iloc[i]!r} is not a diagnosis "
                         f"code (ICD-10 such as 'M81.0' or 'M810', ICD-9 digits; {int(bad.sum())} such value(s))")
    if "date" not in table.columns:
        table["date"] = pd.Series(pd.NaT, index=table.index, dtype="datetime64[ns]")
    table["date"] = table["date"].astype("datetime64[ns]")
    if "source" not in table.columns:
        table["source"] = ""
    if "coding" not in table.columns:
        table["coding"] = _coding_from_source(table["source"].fillna(""))
    table["coding"] = table["coding"].fillna("icd10").astype(str)
    _check_codings(table["coding"], where)
    front = list(DIAGNOSIS_COLUMNS)
    return table[front + [c for c in table.columns if c not in front]].reset_index(drop=True)


def _header(path: str | os.PathLike) -> list[str]:
    p = Path(path)
    name = p.name.lower()
    if not p.exists() or name.endswith((".parquet", ".pq")):
        return []
    return list(pd.read_csv(p, sep="," if name.endswith((".csv", ".csv.gz")) else "\t", nrows=0).columns)

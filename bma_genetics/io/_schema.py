"""Versioned table contracts: the schema each io reader checks and each io writer stamps.

A table that passes between stages is written by one ``write_*`` function and read by one
``read_*`` function of :mod:`bma_genetics.io`. The writer checks the table against its
:class:`TableSchema` and, for Parquet, stores ``{"table": <name>, "version": <n>}`` in the
file's key-value metadata under :data:`METADATA_KEY`. The reader checks the columns and their
dtypes, and the stamp when there is one: a file stamped with another table's name or another
format version is refused. Text tables (TSV/CSV, as users supply them) carry no stamp and are
checked by their columns only.

Every failure is an :class:`~bma_genetics.errors.InputError` naming the function, the file and
the column.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from bma_genetics._atomic import atomic_path, write_table
from bma_genetics.errors import InputError

#: Parquet key-value metadata key holding the contract stamp.
METADATA_KEY = b"bma_genetics.table"

#: Column kinds a schema can ask for, and what each accepts.
KINDS: dict[str, str] = {
    "id": "strings (or integers, read as strings)",
    "string": "strings",
    "number": "numbers (int or float)",
    "bool": "booleans",
    "datetime": "dates",
}


@dataclass(frozen=True)
class TableSchema:
    """The contract of one table: required and optional columns with their kinds, and a version.

    Parameters
    ----------
    table : str
        Short name stored in the stamp (``"participants"``, ``"bmff"``, ``"diagnoses"``).
    title : str
        Name used in messages (``"participant table"``).
    version : int
        Format version the writer stamps and the reader accepts.
    required : mapping of str to str
        Column -> kind (one of :data:`KINDS`); every one must be present.
    optional : mapping of str to str, default={}
        Column -> kind, checked when present.
    patterns : tuple of (str, str), default=()
        (regular expression, kind) for column families (``r"pc\\d+"``), checked when present.
    require_pattern : str, optional
        A regular expression at least one column must match (``r"bmff_.+"``).
    unique : str, optional
        A column whose values may not repeat (``"eid"``: one row per participant).
    """

    table: str
    title: str
    version: int
    required: Mapping[str, str]
    optional: Mapping[str, str] = field(default_factory=dict)
    patterns: tuple[tuple[str, str], ...] = ()
    require_pattern: str | None = None
    unique: str | None = None

    def kind_of(self, column: str) -> str | None:
        if column in self.required:
            return self.required[column]
        if column in self.optional:
            return self.optional[column]
        for pattern, kind in self.patterns:
            if re.fullmatch(pattern, column):
                return kind
        return None

    def stamp(self) -> dict[str, object]:
        return {"table": self.table, "version": self.version}


def _kind_ok(series: pd.Series, kind: str) -> bool:
    t = pd.api.types
    if kind == "number":
        return (t.is_numeric_dtype(series) and not t.is_bool_dtype(series)) or series.isna().all()
    if kind == "bool":
        if t.is_bool_dtype(series):
            return True
        return series.dtype == object and series.dropna().map(lambda v: isinstance(v, bool)).all()
    if kind == "datetime":
        return t.is_datetime64_any_dtype(series) or series.isna().all()
    if kind in ("string", "id"):
        if kind == "id" and t.is_integer_dtype(series):
            return True
        if t.is_string_dtype(series) or series.dtype == object:
            return series.dropna().map(lambda v: isinstance(v, str)).all()
        return series.isna().all()
    raise ValueError(f"unknown column kind {kind!r}")


def check_frame(frame: pd.DataFrame, schema: TableSchema, *, where: str, source: str) -> None:
    """Check ``frame`` against ``schema``; raise an InputError naming ``source`` and the column.

    Parameters
    ----------
    frame : DataFrame
    schema : TableSchema
    where : str
        ``"function/param"`` prefix of the message.
    source : str
        The file (or ``"the table passed"``) named in the message.
    """
    if not isinstance(frame, pd.DataFrame):
        raise InputError(f"{where}: expected a DataFrame, found {type(frame).__name__}")
    missing = [c for c in schema.required if c not in frame.columns]
    if missing:
        raise InputError(
            f"{where}: {source} lacks column(s) {missing} of the {schema.title}; "
            f"it has {list(frame.columns)[:20]}"
        )
    if schema.require_pattern and not any(re.fullmatch(schema.require_pattern, str(c)) for c in frame.columns):
        raise InputError(
            f"{where}: {source} has no column matching {schema.require_pattern!r}, so it is not a "
            f"{schema.title}; it has {list(frame.columns)[:20]}"
        )
    dup = frame.columns[frame.columns.duplicated()]
    if len(dup):
        raise InputError(f"{where}: {source} has duplicate column(s) {list(dup)}")
    for column in frame.columns:
        kind = schema.kind_of(str(column))
        if kind is None:
            continue
        if not _kind_ok(frame[column], kind):
            raise InputError(
                f"{where}: {source} column {column!r} has dtype {frame[column].dtype}; the "
                f"{schema.title} needs {KINDS[kind]}"
            )
    if schema.unique is not None and schema.unique in frame.columns:
        repeated = frame[schema.unique].astype(str).duplicated()
        if repeated.any():
            raise InputError(
                f"{where}: {source} has duplicate {schema.unique}s (e.g. "
                f"{frame.loc[repeated, schema.unique].iloc[0]!r}); the {schema.title} has one row per "
                f"{schema.unique}"
            )


def read_stamp(path: Path) -> dict[str, object] | None:
    """The contract stamp of a Parquet file, or None when it has none."""
    import pyarrow.parquet as pq

    meta = pq.read_schema(path).metadata or {}
    raw = meta.get(METADATA_KEY)
    if raw is None:
        return None
    try:
        stamp = json.loads(raw)
    except ValueError:
        return {"table": "?", "version": raw.decode(errors="replace")}
    return stamp if isinstance(stamp, dict) else {"table": "?", "version": stamp}


def check_stamp(path: Path, schema: TableSchema, *, where: str) -> None:
    """Refuse a Parquet file stamped as another table or another format version."""
    stamp = read_stamp(path)
    if stamp is None:
        return
    if stamp.get("table") != schema.table:
        raise InputError(
            f"{where}: {path} is stamped as a {stamp.get('table')!r} table, not a {schema.title} "
            f"({schema.table!r}); pass the right file"
        )
    if stamp.get("version") != schema.version:
        raise InputError(
            f"{where}: {path} has {schema.title} format version {stamp.get('version')!r}; this "
            f"version of bma-genetics reads version {schema.version}: rewrite it with the matching "
            f"write_* function"
        )


def read_checked(
    path_or_frame: str | os.PathLike | pd.DataFrame,
    schema: TableSchema,
    *,
    where: str,
    text_dtypes: Mapping[str, object] | None = None,
    prepare: Callable[[pd.DataFrame, str], pd.DataFrame] | None = None,
) -> tuple[pd.DataFrame, str]:
    """Read a Parquet/TSV/CSV table (or take a DataFrame), check stamp and columns.

    ``prepare(frame, source)``, when given, runs before the column check (e.g. parsing the
    dates of a text table).

    Returns
    -------
    (DataFrame, str)
        The table (a copy when a DataFrame was passed) and its name for messages.
    """
    if isinstance(path_or_frame, pd.DataFrame):
        frame, source = path_or_frame.copy(), "the table passed"
    else:
        if not isinstance(path_or_frame, (str, os.PathLike)):
            raise InputError(f"{where}: expected a path or a DataFrame, found {type(path_or_frame).__name__}")
        path = Path(path_or_frame)
        source = str(path)
        if not path.exists():
            raise InputError(f"{where}: no such file {path}")
        name = path.name.lower()
        dtypes = {"eid": str, **(text_dtypes or {})}
        if name.endswith((".parquet", ".pq")):
            check_stamp(path, schema, where=where)
            frame = pd.read_parquet(path)
        elif name.endswith((".tsv", ".tsv.gz", ".txt", ".txt.gz")):
            frame = pd.read_csv(path, sep="\t", dtype=dtypes, low_memory=False)
        elif name.endswith((".csv", ".csv.gz")):
            frame = pd.read_csv(path, dtype=dtypes, low_memory=False)
        else:
            raise InputError(f"{where}: cannot tell the format of {path}; use .parquet, .tsv or .csv")
    if prepare is not None:
        frame = prepare(frame, source)
    if not isinstance(path_or_frame, pd.DataFrame):
        frame = _parse_text_dates(frame, schema, where=where, source=source)
    check_frame(frame, schema, where=where, source=source)
    return frame, source


def _parse_text_dates(frame: pd.DataFrame, schema: TableSchema, *, where: str, source: str) -> pd.DataFrame:
    # Text tables hold dates as ISO text: parse the columns the schema calls dates.
    for column in frame.columns:
        if schema.kind_of(str(column)) != "datetime" or pd.api.types.is_datetime64_any_dtype(frame[column]):
            continue
        text = frame[column].astype("string").str.strip().replace("", pd.NA)
        parsed = pd.to_datetime(text, errors="coerce", format="ISO8601")
        bad = text[parsed.isna() & text.notna()]
        if len(bad):
            raise InputError(f"{where}: {source} column {column!r} has {bad.iloc[0]!r}, not a date (YYYY-MM-DD)")
        frame[column] = parsed.astype("datetime64[ns]")
    return frame


def write_checked(frame: pd.DataFrame, path: str | os.PathLike, schema: TableSchema, *, where: str) -> Path:
    """Check ``frame`` and write it atomically; Parquet files get the contract stamp."""
    check_frame(frame, schema, where=where, source="the table to write")
    path = Path(path)
    if not path.name.endswith(".parquet"):
        return write_table(frame, path)
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame, preserve_index=False)
    meta = dict(table.schema.metadata or {})
    meta[METADATA_KEY] = json.dumps(schema.stamp()).encode()
    table = table.replace_schema_metadata(meta)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
    return path

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
import logging
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from bma_genetics._atomic import atomic_path, write_table
from bma_genetics._check import show_value
from bma_genetics.errors import InputError

log = logging.getLogger(__name__)

#: Parquet key-value metadata key holding the contract stamp.
METADATA_KEY = b"bma_genetics.table"

#: Plausible dates: from 1900-01-01 (UK Biobank's earliest placeholder date) up to, not
#: including, 2100-01-01 (its latest placeholder is 2037-07-07).
DATE_RANGE = (pd.Timestamp("1900-01-01"), pd.Timestamp("2100-01-01"))

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
        A column whose values may not repeat (``"eid"``: one row per participant). Rows repeated
        whole are collapsed (and counted in the log); rows that repeat the key with other values
        are an error naming both lines.
    ranges : mapping of str to (float, float, str), default={}
        Column (or regular expression of a column family) -> ``(low, high, what)``: plausible
        values, both ends included (``"age": (0, 120, "an age in years")``); a value outside is
        an error naming the file, column, line and value.
    codes : mapping of str to tuple, default={}
        Column -> the values it may hold (``"sex": (0, 1)``); missing values are allowed.
    """

    table: str
    title: str
    version: int
    required: Mapping[str, str]
    optional: Mapping[str, str] = field(default_factory=dict)
    patterns: tuple[tuple[str, str], ...] = ()
    require_pattern: str | None = None
    unique: str | None = None
    ranges: Mapping[str, tuple[float, float, str]] = field(default_factory=dict)
    codes: Mapping[str, tuple] = field(default_factory=dict)

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


def _row(frame: pd.DataFrame, position: int, first_line: int | None) -> str:
    """How a message names a row: the line of a text file, else the row number (1-based)."""
    return f"line {position + first_line}" if first_line is not None else f"row {position + 1}"


def check_frame(
    frame: pd.DataFrame, schema: TableSchema, *, where: str, source: str, first_line: int | None = None
) -> None:
    """Check ``frame`` against ``schema``; raise an InputError naming ``source`` and the column.

    Parameters
    ----------
    frame : DataFrame
    schema : TableSchema
    where : str
        ``"function/param"`` prefix of the message.
    source : str
        The file (or ``"the table passed"``) named in the message.
    first_line : int, optional
        The line of a text file that holds the frame's first row (2 below a header): messages
        then name lines; without it they name rows (1-based).
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
            if kind == "number":
                _not_a_number(frame[column], where=where, source=source, column=str(column),
                              first_line=first_line)
            raise InputError(
                f"{where}: {source} column {column!r} has dtype {frame[column].dtype}; the "
                f"{schema.title} needs {KINDS[kind]}"
            )
    _check_values(frame, schema, where=where, source=source, first_line=first_line)
    if schema.unique is not None and schema.unique in frame.columns:
        key = frame[schema.unique].astype(str)
        repeated = key.duplicated(keep=False)
        if repeated.any():
            positions = [int(p) for p in repeated.to_numpy().nonzero()[0]]
            first = positions[0]
            second = next(p for p in positions[1:] if key.iloc[p] == key.iloc[first])
            raise InputError(
                f"{where}: {source} column {schema.unique!r}: {_row(frame, first, first_line)} and "
                f"{_row(frame, second, first_line)} hold the same {schema.unique} with different values "
                f"({int(key[repeated].nunique())} repeated {schema.unique}(s)); the {schema.title} has one "
                f"row per {schema.unique}"
            )


def _not_a_number(values: pd.Series, *, where: str, source: str, column: str, first_line: int | None) -> None:
    """Raise naming the first cell of ``values`` that is not a number (text in a numeric column)."""
    text = values.astype("string").str.strip()
    parsed = pd.to_numeric(text.replace("", pd.NA), errors="coerce")
    bad = (parsed.isna() & text.notna() & (text != "")).to_numpy()
    if bad.any():
        i = int(bad.nonzero()[0][0])
        raise InputError(
            f"{where}: {source} column {column!r} {_row(values.to_frame(), i, first_line)}: "
            f"{values.iloc[i]!r} is not a number ({int(bad.sum())} such cell(s); leave a missing value empty or NA)"
        )


def _check_values(frame: pd.DataFrame, schema: TableSchema, *, where: str, source: str,
                  first_line: int | None) -> None:
    """Plausible values and valid codes (``schema.ranges``, ``schema.codes``)."""
    for column in frame.columns:
        name = str(column)
        bounds = schema.ranges.get(name) or next(
            (v for k, v in schema.ranges.items() if k not in frame.columns and re.fullmatch(k, name)), None)
        values = frame[column]
        if bounds is not None and pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            low, high, what = bounds
            x = values.to_numpy(dtype=float, na_value=float("nan"))
            bad = ~((x >= low) & (x <= high)) & ~pd.isna(x)
            if bad.any():
                i = int(bad.nonzero()[0][0])
                raise InputError(
                    f"{where}: {source} column {name!r} {_row(frame, i, first_line)}: {show_value(values.iloc[i])} is "
                    f"not {what} (expected {low:g} to {high:g}; {int(bad.sum())} such value(s))"
                )
        if pd.api.types.is_datetime64_any_dtype(values) and schema.kind_of(name) == "datetime":
            bad = ((values < DATE_RANGE[0]) | (values >= DATE_RANGE[1])).to_numpy()
            if bad.any():
                i = int(bad.nonzero()[0][0])
                raise InputError(
                    f"{where}: {source} column {name!r} {_row(frame, i, first_line)}: "
                    f"{values.iloc[i].date().isoformat()} is not a plausible date (expected "
                    f"{DATE_RANGE[0].date()} to {DATE_RANGE[1].date()}; {int(bad.sum())} such value(s))"
                )
        allowed = schema.codes.get(name)
        if allowed is not None:
            present = values.notna().to_numpy()
            ok = values.isin(list(allowed)).to_numpy() | ~present
            if not ok.all():
                i = int((~ok).nonzero()[0][0])
                raise InputError(
                    f"{where}: {source} column {name!r} {_row(frame, i, first_line)}: {show_value(values.iloc[i])} is "
                    f"not a valid code (allowed: {', '.join(map(str, allowed))})"
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
    first_line = None
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
            frame = read_parquet_file(path, where=where)
            check_stamp(path, schema, where=where)
        elif name.endswith((".tsv", ".tsv.gz", ".txt", ".txt.gz", ".csv", ".csv.gz")):
            sep = "," if name.endswith((".csv", ".csv.gz")) else "\t"
            frame = read_text_table(path, where=where, sep=sep, dtype=dtypes)
            first_line = 2
        else:
            raise InputError(f"{where}: cannot tell the format of {path}; use .parquet, .tsv or .csv")
    if prepare is not None:
        frame = prepare(frame, source)
    if not isinstance(path_or_frame, pd.DataFrame):
        frame = _parse_text_dates(frame, schema, where=where, source=source)
    if schema.unique is not None and schema.unique in frame.columns:
        whole = frame.astype(str).duplicated()
        if whole.any():
            log.info("%s: %s repeats %d row(s) identically; each kept once", where, source, int(whole.sum()))
            frame = frame[~whole.to_numpy()].reset_index(drop=True)
            first_line = None  # rows no longer match lines
    check_frame(frame, schema, where=where, source=source, first_line=first_line)
    return frame, source


#: What reading a damaged file raises (Arrow, zlib/gzip, the csv parser, text decoding).
def _read_errors() -> tuple[type[BaseException], ...]:
    import zlib

    import pyarrow as pa

    return (pa.ArrowException, OSError, EOFError, zlib.error, UnicodeDecodeError, pd.errors.ParserError,
            pd.errors.EmptyDataError, ValueError)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


def read_parquet_file(path: Path, *, where: str, columns: list[str] | None = None) -> pd.DataFrame:
    """``pd.read_parquet`` that names the file when it is truncated or not Parquet at all."""
    try:
        return pd.read_parquet(path, columns=columns)
    except _read_errors() as exc:
        raise InputError(f"{where}: {path} could not be read as Parquet (truncated or not a Parquet file: "
                         f"{_first_line(exc)})") from None


def read_text_table(path: Path, *, where: str, sep: str | None, dtype: Mapping[str, object] | None = None,
                    **kwargs: object) -> pd.DataFrame:
    """``pd.read_csv`` that names the file when it is empty, truncated, not text or ragged.

    A ``.gz`` file is read to its end, so a truncated one (no gzip trailer) is an error here,
    not a short table.
    """
    try:
        if kwargs.get("engine") != "python":
            kwargs.setdefault("low_memory", False)
        return pd.read_csv(path, sep=sep, dtype=dtype, **kwargs)
    except pd.errors.EmptyDataError:
        raise InputError(f"{where}: {path} is empty (no header line)") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{where}: {path} is not UTF-8 text (byte {exc.object[exc.start:exc.start + 1]!r} "
                         f"at offset {exc.start}); save it as UTF-8") from None
    except (EOFError, OSError) as exc:
        raise InputError(f"{where}: {path} is incomplete or not a valid compressed file ({_first_line(exc)}); "
                         "it may have been truncated in transfer") from None
    except pd.errors.ParserError as exc:
        raise InputError(f"{where}: {path} could not be parsed ({_first_line(exc)}); "
                         f"expected {'commas' if sep == ',' else 'tabs'} between columns") from None


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

"""Read UK Biobank main-dataset exports (every format) into one normalised form.

:func:`read_ukb` reads showcase CSV/TSV (``31-0.0``), ukbconv R (``f.31.0.0``, ``.tab``),
Stata/SAS/SPSS (``n_31_0_0``; ``.dta``, ``.sas7bdat``, ``.xpt``, ``.sav``, ``.zsav``, ``.por``),
research-platform tables (``p31``, ``p21003_i2``, ``participant.p22009_a1``; CSV/TSV or Parquet)
and Parquet in any of those namings. It reads the header first and then only the columns
asked for, in chunks, so a 500,000 x 10,000 main dataset never has to fit in memory. The result
is a :class:`UKBData`: one row per participant (``eid`` as a string), columns indexed by
``(field, instance, array)``.

:func:`get_field` asks for data by field: ``get_field(data, 21003, instance=2)``.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bma_genetics._check import show_value
from bma_genetics.errors import InputError
from bma_genetics.io.fields import (
    DEFAULT_DICTIONARY,
    Coding,
    ColumnLayout,
    Dictionary,
    FieldKey,
    parse_header,
)

log = logging.getLogger(__name__)

_CSV_SUFFIXES = {".csv": ",", ".tsv": "\t", ".tab": "\t", ".txt": "\t"}
_STAT_SUFFIXES = {".dta", ".sas7bdat", ".xpt", ".sav", ".zsav", ".por"}
_PARQUET_SUFFIXES = {".parquet", ".pq"}
_NULLS = ["", "NA", "NaN", "nan"]
#: Codings whose codes are text (ICD-10 19, ICD-9 87, OPCS-4 240, Read v2/CTV3): never numeric.
TEXT_CODINGS = frozenset({19, 87, 240, 1834, 3175})
#: Column prefixes for fields whose arrays are a numbered series (22009 -> pc1..pc40).
ARRAY_PREFIX: dict[int, str] = {22009: "pc"}


@dataclass
class UKBData:
    """A UK Biobank extract in normalised form.

    Attributes
    ----------
    frame : DataFrame
        One row per participant, index ``eid`` (str, unique); columns a MultiIndex
        ``(field, instance, array)`` of ints. Numeric and categorical fields are float64,
        date fields datetime64[ns], text (ICD-10 codes, labels) object with NaN for missing.
    source : str
        The file read (used in error messages).
    scheme : str
        The file's column-naming scheme (``showcase``, ``r``, ``stata``, ``rap``, ``frame``).
    column_names : dict of FieldKey -> str
        The original column name of each data column (for error messages).
    dictionary : Dictionary
        Field metadata and codings used to type and decode the data.
    """

    frame: pd.DataFrame
    source: str
    scheme: str
    column_names: dict[FieldKey, str]
    dictionary: Dictionary = field(default_factory=lambda: DEFAULT_DICTIONARY)

    @property
    def eids(self) -> pd.Index:
        return self.frame.index

    def __len__(self) -> int:
        return len(self.frame)

    def fields(self) -> list[int]:
        """Fields present, sorted."""
        return sorted({k[0] for k in self.frame.columns})

    def instances(self, field_id: int) -> list[int]:
        return sorted({k[1] for k in self.frame.columns if k[0] == field_id})

    def arrays(self, field_id: int, instance: int) -> list[int]:
        return sorted(k[2] for k in self.frame.columns if k[0] == field_id and k[1] == instance)

    def column_name(self, key: tuple[int, int, int]) -> str:
        return self.column_names.get(FieldKey(*key), "{}-{}.{}".format(*key))

    def has(self, field_id: int, instance: int | None = None) -> bool:
        return any(k[0] == field_id and (instance is None or k[1] == instance) for k in self.frame.columns)

    def subset(self, eids: Iterable[str]) -> UKBData:
        """The same data restricted to ``eids`` (in this table's order)."""
        keep = self.frame.index.isin(pd.Index([str(e) for e in eids]))
        return UKBData(self.frame.loc[keep], self.source, self.scheme, self.column_names, self.dictionary)

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        *,
        source: str = "<DataFrame>",
        dictionary: Dictionary | None = None,
    ) -> UKBData:
        """Normalise an in-memory export (any naming scheme, ``eid`` as a column)."""
        layout = parse_header(frame.columns, source=source)
        return _normalise(frame, layout, source, dictionary or DEFAULT_DICTIONARY)


# ---------------------------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------------------------


def _format_of(path: Path) -> tuple[str, str | None]:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in (".gz", ".bz2", ".zst"):
        suffixes = suffixes[:-1]
    ext = suffixes[-1] if suffixes else ""
    if ext in _CSV_SUFFIXES:
        return "csv", _CSV_SUFFIXES[ext]
    if ext in _STAT_SUFFIXES:
        return ext.lstrip("."), None
    if ext in _PARQUET_SUFFIXES:
        return "parquet", None
    raise InputError(
        f"read_ukb/path: cannot tell the format of {path} from its suffix; expected one of "
        f"{sorted(set(_CSV_SUFFIXES) | _STAT_SUFFIXES | _PARQUET_SUFFIXES)} (optionally .gz)"
    )


def _read_header(path: Path, fmt: str, sep: str | None) -> list[str]:
    if fmt == "csv":
        import bz2
        import csv
        import gzip

        opener = {".gz": gzip.open, ".bz2": bz2.open}.get(path.suffix.lower(), open)
        with opener(path, "rb") as fh:
            raw = fh.readline(1 << 24)
        if raw[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in raw:
            kind = "UTF-16 text" if raw[:2] in (b"\xff\xfe", b"\xfe\xff") or raw[1:2] == b"\x00" else "binary data"
            raise InputError(f"read_ukb/path: {path} holds {kind}, not UTF-8 text; save the export as UTF-8 "
                             "(or use its original .csv/.tab)")
        first = raw.decode("utf-8-sig", errors="replace").rstrip("\r\n")
        if not first:
            raise InputError(f"read_ukb/path: {path} is empty")
        names = next(csv.reader([first], delimiter=sep or ","))
        if len(names) == 1:
            found = next((d for d in (";", "\t", ",", "|") if d != (sep or ",") and d in first), None)
            if found is not None:
                raise InputError(f"read_ukb/path: {path}: the header holds {found!r} but no {sep or ','!r}: "
                                 f"the delimiter is {found!r}, not {sep or ','!r}; name the file by its "
                                 "format (.csv comma, .tsv/.tab/.txt tab) or convert it")
        return names
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return list(pq.read_schema(path).names)
    _, meta = _stat_reader(fmt)(str(path), metadataonly=True)
    return list(meta.column_names)


@contextlib.contextmanager
def _damaged(path: Path) -> Iterator[None]:
    """Turn what a damaged file raises in a reader (truncated gzip, Stata, Parquet) into one
    InputError naming the file."""
    import zlib

    import pyarrow as pa

    errors: tuple[type[BaseException], ...] = (pa.ArrowException, OSError, EOFError, zlib.error)
    try:
        import pyreadstat

        errors += (pyreadstat.ReadstatError, pyreadstat.PyreadstatError)
    except (ImportError, AttributeError):
        pass
    try:
        yield
    except InputError:
        raise
    except errors as exc:
        text = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        raise InputError(f"read_ukb/path: {path} could not be read to its end: it is truncated or damaged "
                         f"({text})") from None


def _stat_reader(fmt: str):
    import pyreadstat

    return {
        "dta": pyreadstat.read_dta,
        "sas7bdat": pyreadstat.read_sas7bdat,
        "xpt": pyreadstat.read_xport,
        "sav": pyreadstat.read_sav,
        "zsav": pyreadstat.read_sav,
        "por": pyreadstat.read_por,
    }[fmt]


def _wanted_columns(
    layout: ColumnLayout,
    fields: Iterable[int] | None,
    instances: Iterable[int] | Mapping[int, Iterable[int]] | None,
    source: str,
) -> list[FieldKey]:
    if fields is None:
        field_list = layout.fields()
    else:
        if isinstance(fields, (int, str)):
            fields = [fields]
        try:
            field_list = [int(f) for f in fields]
        except (TypeError, ValueError):
            raise InputError(f"read_ukb/fields: expected field ids (ints), found {fields!r}") from None
        absent = [f for f in field_list if f not in set(layout.fields())]
        if absent:
            raise InputError(
                f"read_ukb/fields: {source} has no column for field(s) {absent} "
                f"(it has {len(layout.fields())} fields, e.g. {layout.fields()[:12]})"
            )
    keys: list[FieldKey] = []
    for f in field_list:
        present = layout.instances(f)
        if instances is None:
            want = present
        elif isinstance(instances, Mapping):
            want = [int(i) for i in instances.get(f, present)]
        else:
            want = [int(i) for i in instances]
        lacking = [i for i in want if i not in present]
        if lacking:
            raise InputError(
                f"read_ukb/instances: {source} has field {f} at instance(s) {present} only, not "
                f"{lacking}; pass instances={{{f}: {present}}} or drop the field"
            )
        keys.extend(sorted(k for k in layout.columns if k.field == f and k.instance in want))
    return keys


def read_ukb_header(path: str | os.PathLike) -> ColumnLayout:
    """Parse only the header of an export: its naming scheme, id column and data columns.

    Cheap on any size (reads one line, the Parquet schema or the Stata/SAS/SPSS metadata);
    use it to see which fields and instances a file has before reading.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"read_ukb/path: no such file {path}")
    fmt, sep = _format_of(path)
    with _damaged(path):
        header = _read_header(path, fmt, sep)
    return parse_header(header, source=str(path))


def _read_ukb_many(
    paths: list[Path],
    fields: Iterable[int] | None,
    instances: Iterable[int] | Mapping[int, Iterable[int]] | None,
    withdrawals: str | os.PathLike | Iterable[str] | None,
    dictionary: Dictionary | None,
    chunksize: int,
    progress: bool,
    encoding: str,
) -> UKBData:
    """Several baskets of one application: each field from the first file that has it."""
    layouts = [read_ukb_header(p) for p in paths]
    wanted = None if fields is None else [int(f) for f in ([fields] if isinstance(fields, (int, str)) else fields)]
    assigned: dict[Path, list[int]] = {p: [] for p in paths}
    seen: set[int] = set()
    for p, layout in zip(paths, layouts, strict=True):
        for f in layout.fields():
            if f not in seen and (wanted is None or f in wanted):
                assigned[p].append(f)
                seen.add(f)
    if wanted is not None:
        absent = [f for f in wanted if f not in seen]
        if absent:
            raise InputError(f"read_ukb/fields: none of {[str(p) for p in paths]} has field(s) {absent}")
    parts = []
    for p, fs in assigned.items():
        if not fs:
            continue
        inst = {f: v for f, v in instances.items() if f in fs} if isinstance(instances, Mapping) else instances
        parts.append(read_ukb(p, fs, instances=inst, withdrawals=withdrawals, dictionary=dictionary,
                              chunksize=chunksize, encoding=encoding, progress=progress))
    frame = parts[0].frame
    names = dict(parts[0].column_names)
    for part in parts[1:]:
        only_left = frame.index.difference(part.frame.index)
        only_right = part.frame.index.difference(frame.index)
        if len(only_left) or len(only_right):
            # kept (outer join, missing values), never dropped: baskets can differ in who they list
            log.warning("read_ukb: %d participant(s) only in earlier file(s), %d only in %s; kept with "
                        "missing values", len(only_left), len(only_right), part.source)
        frame = frame.join(part.frame, how="outer")
        names.update(part.column_names)
    frame.index.name = "eid"
    source = " + ".join(str(p) for p in paths)
    return UKBData(frame, source, "+".join(dict.fromkeys(x.scheme for x in parts)), names,
                   dictionary or DEFAULT_DICTIONARY)


def read_ukb(
    path: str | os.PathLike | list[str | os.PathLike],
    fields: Iterable[int] | None = None,
    *,
    instances: Iterable[int] | Mapping[int, Iterable[int]] | None = None,
    withdrawals: str | os.PathLike | Iterable[str] | None = None,
    dictionary: Dictionary | None = None,
    chunksize: int = 100_000,
    encoding: str = "utf-8",
    progress: bool = True,
) -> UKBData:
    """Read the columns of some fields from a UK Biobank export of any format.

    The header is read first; then only the participant id and the wanted columns are read,
    chunk by chunk (CSV/TSV: pyarrow's streaming reader, 1 MiB blocks; Stata/SAS/SPSS:
    pyreadstat ``usecols`` and ``row_offset``; Parquet: column projection and record batches),
    so memory grows with the columns asked for, not with the file.

    Parameters
    ----------
    path : path or list of paths
        The export. The format comes from the suffix: ``.csv``, ``.tsv``/``.tab``/``.txt``
        (optionally ``.gz``), ``.dta``, ``.sas7bdat``, ``.xpt``, ``.sav``/``.zsav``, ``.por``,
        ``.parquet``. Column naming (showcase, R, Stata, research platform) is detected.
        A list reads several baskets of one application: each field is taken from the first
        file that has it, and the files are joined on ``eid`` (participants missing from a
        file keep missing values, with a warning).
    fields : iterable of int, optional
        Field ids to read (default: all). A field the file lacks is an error.
    instances : iterable of int, or dict of field -> iterable of int, optional
        Instances to read, for every field or per field (default: all present). An instance
        a field lacks is an error (e.g. genetic fields exist only at instance 0: use
        ``{21003: [2]}`` to restrict one field).
    withdrawals : path or iterable of str, optional
        Withdrawn participants (file as read by :func:`read_withdrawals`, or eids); removed
        here, with the count logged.
    dictionary : Dictionary, optional
        Field types and codings (default: the built-in subset; see
        :func:`~bma_genetics.io.fields.read_data_dictionary`).
    chunksize : int, default=100_000
        Rows per chunk for Stata/SAS/SPSS and Parquet.
    encoding : str, default="utf-8"
        Text encoding of a CSV/TSV export (e.g. ``"latin-1"`` for old ukbconv output).
    progress : bool, default=True
        Show a tqdm progress bar (bytes for CSV, rows otherwise).

    Returns
    -------
    UKBData
        ``frame`` indexed by ``eid`` (str) with ``(field, instance, array)`` columns: numeric
        and categorical fields as float64, date fields (data-dictionary type ``Date``) as
        datetime64[ns], text as object.

    Raises
    ------
    InputError
        Unknown format; a column in a different naming scheme; an absent field or instance;
        a duplicated ``eid`` (naming the file and the eid); an unparseable date or a
        non-numeric value in a numeric field (naming the column and the value).

    Examples
    --------
    >>> data = read_ukb("ukb_showcase.csv", [31, 21003, 22009])  # doctest: +SKIP
    >>> get_field(data, 21003, instance=2).head()  # doctest: +SKIP
    """
    if isinstance(path, (list, tuple)):
        paths = [Path(p) for p in path]
        if not paths:
            raise InputError("read_ukb/path: empty list of files")
        if len(paths) > 1:
            return _read_ukb_many(paths, fields, instances, withdrawals, dictionary, chunksize, progress, encoding)
        path = paths[0]
    path = Path(path)
    if not path.exists():
        raise InputError(f"read_ukb/path: no such file {path}")
    if not isinstance(chunksize, int) or chunksize <= 0:
        raise InputError(f"read_ukb/chunksize: expected a positive int, found {chunksize!r}")
    fmt, sep = _format_of(path)
    source = str(path)
    with _damaged(path):
        header = _read_header(path, fmt, sep)
    layout = parse_header(header, source=source)
    keys = _wanted_columns(layout, fields, instances, source)
    names = [layout.eid_column] + [layout.columns[k] for k in keys]
    log.info("%s: %s naming, reading %d of %d data columns", path.name, layout.scheme, len(keys), len(layout.columns))
    with _damaged(path):
        if fmt == "csv":
            dic = dictionary or DEFAULT_DICTIONARY
            numeric = [layout.columns[k] for k in keys if _value_type(dic, k.field) not in _TEXT_TYPES]
            raw = _read_csv(path, sep or ",", names, progress, numeric=numeric, encoding=encoding)
        elif fmt == "parquet":
            raw = _read_parquet(path, names, chunksize, progress)
        else:
            raw = _read_stat(path, fmt, names, chunksize, progress)
    if len(raw) == 0:
        raise InputError(f"read_ukb/path: {path} has a header but no rows (no participants)")
    first_line = 2 if fmt == "csv" else None
    repeated = raw.duplicated()
    if repeated.any():  # the same row twice (a re-export, concatenated baskets): kept once
        log.info("read_ukb: %s repeats %d row(s) identically; each kept once", path.name, int(repeated.sum()))
        raw = raw[~repeated.to_numpy()].reset_index(drop=True)
        first_line = None
    sub = ColumnLayout(layout.scheme, layout.eid_column, {k: layout.columns[k] for k in keys})
    data = _normalise(raw, sub, source, dictionary or DEFAULT_DICTIONARY, first_line=first_line)
    if withdrawals is not None:
        from bma_genetics.io.withdrawals import read_withdrawals, remove_withdrawn

        eids = read_withdrawals(withdrawals) if isinstance(withdrawals, (str, os.PathLike)) else withdrawals
        data.frame = remove_withdrawn(data.frame, eids, where=path.name)
    return data


def _progress(total: int | None, unit: str, desc: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, unit=unit, unit_scale=True, desc=desc, disable=not enabled, leave=False)


def _read_csv(
    path: Path, sep: str, names: list[str], progress: bool, *, numeric: list[str] = (), encoding: str = "utf-8"
) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    # Small blocks keep memory flat (measured: 1 MiB blocks hold ~70 MB above the interpreter for
    # any file size, 16 MiB blocks ~450 MB) and are no slower; a block must hold whole rows, so it
    # grows with the header (a row is roughly as long as the header line).
    header_bytes = sum(len(n) + 1 for n in _read_header(path, "csv", sep))
    read_opts = pacsv.ReadOptions(block_size=max(1 << 20, 8 * header_bytes), use_threads=True, encoding=encoding)
    parse_opts = pacsv.ParseOptions(delimiter=sep)
    # Everything as strings: type inference on the first block of a streaming reader fails on
    # columns that are empty early on; columns are typed afterwards from the data dictionary.
    conv_opts = pacsv.ConvertOptions(
        include_columns=names,
        column_types={n: pa.string() for n in names},
        null_values=_NULLS,
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
    )
    codec = {".gz": "gzip", ".bz2": "bz2", ".zst": "zstd"}.get(path.suffix.lower())
    batches = []
    # Progress counts bytes of the file on disk (compressed bytes for .gz) so the bar has a total.
    with pa.OSFile(str(path), "rb") as raw:
        stream = pa.CompressedInputStream(raw, codec) if codec else raw
        try:
            reader = pacsv.open_csv(stream, read_options=read_opts, parse_options=parse_opts, convert_options=conv_opts)
        except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
            _ragged(path, sep, exc)
            hint = " (pass encoding='latin-1' for non-UTF-8 text)" if "UTF8" in str(exc) or isinstance(exc, UnicodeDecodeError) else ""
            raise InputError(f"read_ukb/path: {path} could not be parsed: {str(exc)[:300]}{hint}") from None
        with _progress(path.stat().st_size, "B", path.name, progress) as bar:
            last = 0
            try:
                for batch in reader:
                    batches.append(batch)
                    pos = raw.tell()
                    bar.update(pos - last)
                    last = pos
            except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
                _ragged(path, sep, exc)
                hint = " (pass encoding='latin-1' for non-UTF-8 text)" if "UTF8" in str(exc) or isinstance(exc, UnicodeDecodeError) else ""
                raise InputError(f"read_ukb/path: {path} could not be parsed after row "
                                 f"{sum(b.num_rows for b in batches)}: {str(exc)[:300]}{hint}") from None
    table = pa.Table.from_batches(batches, schema=reader.schema)
    # Numbers become float64 in Arrow, before pandas: no Python string per cell (a 500,000-row
    # column of strings costs ~30 MB, of float64 4 MB). A column that does not parse stays text
    # and _type_column reports the offending value.
    import pyarrow.compute as pc

    # Integer eids (all UK Biobank exports) as int64: one Python string per participant later,
    # instead of several transient copies of a text column.
    try:
        table = table.set_column(0, names[0], pc.cast(table.column(0), pa.int64()))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    for name in numeric:
        i = table.schema.get_field_index(name)
        try:
            table = table.set_column(i, name, pc.cast(table.column(i), pa.float64()))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
    return table.to_pandas()


def _ragged(path: Path, sep: str, exc: BaseException) -> None:
    """For a row with too many or too few fields, raise naming its line (read again, only on error)."""
    if "columns, got" not in str(exc):
        return
    import bz2
    import csv
    import gzip

    opener = {".gz": gzip.open, ".bz2": bz2.open}.get(path.suffix.lower(), open)
    with opener(path, "rt", encoding="utf-8-sig", errors="replace", newline="") as fh:
        rows = csv.reader(fh, delimiter=sep)
        width = len(next(rows))
        for line, row in enumerate(rows, start=2):
            if row and len(row) != width:
                raise InputError(f"read_ukb/path: {path} line {line} has {len(row)} fields; the header has "
                                 f"{width} (a stray {sep!r} or a cut line?)") from None


def _read_parquet(path: Path, names: list[str], chunksize: int, progress: bool) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    batches = []
    with _progress(pf.metadata.num_rows, "rows", path.name, progress) as bar:
        for batch in pf.iter_batches(batch_size=chunksize, columns=names):
            batches.append(batch)
            bar.update(batch.num_rows)
    table = pa.Table.from_batches(batches) if batches else pf.schema_arrow.empty_table().select(names)
    return table.to_pandas()


def _read_stat(path: Path, fmt: str, names: list[str], chunksize: int, progress: bool) -> pd.DataFrame:
    import pyreadstat

    reader = _stat_reader(fmt)
    _, meta = reader(str(path), metadataonly=True)
    total = meta.number_rows if meta.number_rows and meta.number_rows > 0 else None
    chunks = []
    with _progress(total, "rows", path.name, progress) as bar:
        # Dates come back as numbers and are converted here: vectorised, and a corrupt value
        # (e.g. an int32-min sentinel) becomes an error naming the column instead of an overflow.
        for df, _ in pyreadstat.read_file_in_chunks(
            reader, str(path), chunksize=chunksize, usecols=names, disable_datetime_conversion=True
        ):
            chunks.append(df)
            bar.update(len(df))
    out = pd.concat(chunks, ignore_index=True)[names] if chunks else pd.DataFrame(columns=names)
    formats = dict(getattr(meta, "original_variable_types", {}) or {})
    for name in names:
        conv = _stat_date_unit(fmt, formats.get(name) or "")
        if conv is not None:
            out[name] = _stat_dates(out[name], *conv, source=str(path), column=name)
    return out


_SAS_DATETIME = ("DATETIME", "E8601DT", "B8601DT", "DTDATE", "YMDHMS", "DTIME")
_SAS_DATE = ("DATE", "YYMMDD", "MMDDYY", "DDMMYY", "E8601DA", "B8601DA", "WORDDATE", "WEEKDATE", "MONYY",
             "ADATE", "EDATE", "SDATE", "JDATE", "NLDATE")


def _stat_date_unit(fmt: str, var_format: str) -> tuple[str, str] | None:
    """(origin, unit) of a date-formatted Stata/SAS/SPSS variable; None when not a date."""
    f = var_format.strip()
    if fmt == "dta":
        if f.startswith(("%td", "%d")):
            return "1960-01-01", "D"
        if f.startswith(("%tc", "%tC")):
            return "1960-01-01", "ms"
        return None
    name = f.upper().lstrip("%")
    origin = "1582-10-14" if fmt in ("sav", "zsav", "por") else "1960-01-01"
    if name.startswith(_SAS_DATETIME):
        return origin, "s"
    if name.startswith(_SAS_DATE):
        return origin, "s" if origin == "1582-10-14" else "D"
    return None


def _stat_dates(values: pd.Series, origin: str, unit: str, *, source: str, column: str) -> pd.Series:
    num = pd.to_numeric(values, errors="coerce").astype("float64")
    scale = {"D": 86_400.0, "s": 1.0, "ms": 1e-3}[unit]
    seconds = num * scale
    base = (pd.Timestamp(origin) - pd.Timestamp("1970-01-01")).total_seconds()
    unix = seconds + base
    # plausible dates only: 1800-01-01 .. 2300-01-01 (UK Biobank placeholders are 1900-2037)
    bad = num.notna() & ~unix.between(-5_364_662_400.0, 10_413_792_000.0)
    if bad.any():
        raise InputError(
            f"read_ukb/path: {source} column {column!r} has an unparseable date value "
            f"{float(num[bad].iloc[0]):.0f} ({unit} since {origin}); re-export the date column"
        )
    return pd.to_datetime((unix * 1e9).round().astype("Int64"), unit="ns").astype("datetime64[ns]")


# ---------------------------------------------------------------------------------------------
# normalisation: eid as string, one dtype per field type
# ---------------------------------------------------------------------------------------------


def _row_name(position: int, first_line: int | None) -> str:
    return f"line {position + first_line}" if first_line is not None else f"row {position + 1}"


#: Plausible values of numeric fields (both ends included): a value outside is an error.
PLAUSIBLE: dict[int, tuple[float, float, str]] = {
    21003: (0, 120, "an age in years"),
    21022: (0, 120, "an age in years"),
    34: (1880, 2100, "a year of birth"),
    21001: (5, 250, "a BMI in kg/m2"),
    50: (40, 250, "a height in cm"),
    22009: (-1e4, 1e4, "a genetic principal component"),
}
#: Plausible dates (UK Biobank's placeholder dates 1900-01-01 ... 2037-07-07 are inside).
DATE_RANGE = (pd.Timestamp("1900-01-01"), pd.Timestamp("2100-01-01"))


def _check_plausible(s: pd.Series, field_id: int, source: str, column: str, first_line: int | None) -> None:
    if pd.api.types.is_datetime64_any_dtype(s):
        bad = ((s < DATE_RANGE[0]) | (s >= DATE_RANGE[1])).to_numpy()
        what, span = "a plausible date", f"{DATE_RANGE[0].date()} to {DATE_RANGE[1].date()}"
    elif field_id in PLAUSIBLE and pd.api.types.is_numeric_dtype(s):
        low, high, what = PLAUSIBLE[field_id]
        x = s.to_numpy(dtype=float, na_value=np.nan)
        bad = ~np.isnan(x) & ~((x >= low) & (x <= high))
        span = f"{low:g} to {high:g}"
    else:
        return
    if bad.any():
        i = int(bad.nonzero()[0][0])
        value = s.iloc[i]
        shown = value.date().isoformat() if isinstance(value, pd.Timestamp) else show_value(value)
        raise InputError(f"read_ukb/path: {source} column {column!r} {_row_name(i, first_line)}: {shown} is not "
                         f"{what} (expected {span}; {int(bad.sum())} such value(s))")


def _eid_strings(values: pd.Series, source: str, column: str, first_line: int | None = None) -> pd.Index:
    if pd.api.types.is_numeric_dtype(values):
        if values.isna().any():
            raise InputError(f"read_ukb/path: {source} column {column!r} has missing participant ids")
        as_int = values.astype("int64")
        if not np.array_equal(as_int.to_numpy(dtype=float), values.to_numpy(dtype=float)):
            raise InputError(f"read_ukb/path: {source} column {column!r} has non-integer ids")
        out = as_int.astype(str)
    else:
        out = values.astype("string").str.strip()
        if out.isna().any() or (out == "").any():
            raise InputError(f"read_ukb/path: {source} column {column!r} has missing participant ids")
        bad = ~out.str.fullmatch(r"-?[0-9]+").to_numpy(dtype=bool)
        if bad.any():
            i = int(bad.nonzero()[0][0])
            raise InputError(f"read_ukb/path: {source} column {column!r} {_row_name(i, first_line)}: "
                             f"{values.iloc[i]!r} is not a participant id (UK Biobank eids are integers)")
        out = out.astype(object)
    idx = pd.Index(out.to_numpy(dtype=object), name="eid")
    dup = idx[idx.duplicated()]
    if len(dup):
        raise InputError(
            f"read_ukb/path: {source} has duplicated eid(s) in column {column!r}: "
            f"{list(dup.unique()[:5])} ({dup.nunique()} distinct); each participant must appear once"
        )
    return idx


def _bad_value(series: pd.Series, parsed: pd.Series) -> Any:
    bad = series[parsed.isna() & series.notna()]
    return bad.iloc[0] if len(bad) else None


def _as_text(s: pd.Series) -> pd.Series:
    if pd.api.types.is_numeric_dtype(s):
        return s
    s = s.astype(object)
    s = s.where(s.notna(), np.nan)
    present = s.dropna()
    if len(present):
        # vectorised over the non-missing cells only (array fields are mostly empty)
        blank = present.astype(str).str.strip() == ""
        if blank.any():
            s[blank[blank].index] = np.nan
    return s


def _type_column(s: pd.Series, value_type: str | None, source: str, column: str) -> pd.Series:
    """One column to the normal dtype of its field's value type (from the data dictionary)."""
    if value_type in ("Date", "Time"):
        if pd.api.types.is_datetime64_any_dtype(s):
            return s.astype("datetime64[ns]")
        s = _as_text(s)
        if pd.api.types.is_numeric_dtype(s) and s.notna().any():
            raise InputError(
                f"read_ukb/path: {source} column {column!r} is a date field but holds numbers "
                f"(e.g. {s.dropna().iloc[0]!r}); export dates as YYYY-MM-DD"
            )
        text = s.astype("string")
        parsed = pd.to_datetime(text, format="%Y-%m-%d", errors="coerce")
        if parsed.isna().sum() > text.isna().sum():
            # ukbconv may add a time of day ("2019-05-01T10:32:00"); accept any ISO 8601 form.
            parsed = pd.to_datetime(text, format="ISO8601", errors="coerce")
        bad = _bad_value(text, parsed)
        if bad is not None:
            raise InputError(
                f"read_ukb/path: {source} column {column!r} has an unparseable date {bad!r} "
                f"(expected ISO YYYY-MM-DD)"
            )
        return parsed.astype("datetime64[ns]")
    if pd.api.types.is_datetime64_any_dtype(s):
        return s.astype("datetime64[ns]")
    if pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
        return s.astype("float64")
    s = _as_text(s)
    if pd.api.types.is_numeric_dtype(s):
        return s.astype("float64")
    if value_type in ("Text", "Compound", "Code"):
        # Text and code-valued fields (ICD-10 "M810") stay strings even where a column happens
        # to be all digits (ICD-9 "7330", where leading zeros matter).
        return s
    num = pd.to_numeric(s, errors="coerce")
    bad = _bad_value(s, num)
    if bad is None:
        return num.astype("float64")
    if value_type in ("Integer", "Continuous"):
        raise InputError(
            f"read_ukb/path: {source} column {column!r} is a numeric field but holds {bad!r}"
        )
    return s  # labels or text codes; decoded by get_field


_TEXT_TYPES = frozenset({"Date", "Time", "Text", "Compound", "Code"})


def _value_type(dictionary: Dictionary, field_id: int) -> str | None:
    """The field's value type, ``"Code"`` for fields coded with text codes (ICD-10)."""
    info = dictionary.field_info(field_id)
    if info is None:
        return None
    return "Code" if info.coding in TEXT_CODINGS else info.value_type


def _normalise(raw: pd.DataFrame, layout: ColumnLayout, source: str, dictionary: Dictionary,
               first_line: int | None = None) -> UKBData:
    index = _eid_strings(raw[layout.eid_column], source, layout.eid_column, first_line)
    cols: dict[tuple[int, int, int], pd.Series] = {}
    names = dict(layout.columns)
    for key, name in sorted(layout.columns.items()):
        vt = _value_type(dictionary, key.field)
        s = raw[name].reset_index(drop=True)
        if layout.scheme == "rap" and "_a" not in name and _looks_like_lists(s):
            for a, item in enumerate(_explode_list_column(s)):
                k = FieldKey(key.field, key.instance, a)
                if k in layout.columns and a > 0:
                    raise InputError(f"read_ukb/path: {source} column {name!r} holds arrays but "
                                     f"{layout.columns[k]!r} also names array {a}")
                cols[tuple(k)] = _type_column(item, vt, source, name).set_axis(index)
                _check_plausible(cols[tuple(k)], key.field, source, name, first_line)
                names[k] = name
            continue
        cols[tuple(key)] = _type_column(s, vt, source, name).set_axis(index)
        _check_plausible(cols[tuple(key)], key.field, source, name, first_line)
    if cols:
        frame = pd.concat(cols, axis=1)
        frame.columns = pd.MultiIndex.from_tuples(list(cols), names=["field", "instance", "array"])
    else:
        frame = pd.DataFrame(index=index)
        frame.columns = pd.MultiIndex.from_tuples([], names=["field", "instance", "array"])
    frame.index.name = "eid"
    return UKBData(frame, source, layout.scheme, names, dictionary)


def _looks_like_lists(s: pd.Series) -> bool:
    """A research-platform array field exported as one column: ``["M810","I10"]`` per cell."""
    if pd.api.types.is_numeric_dtype(s) or pd.api.types.is_datetime64_any_dtype(s):
        return False
    text = s.dropna().astype(str).str.strip()
    text = text[text != ""]
    return bool(len(text)) and bool(text.str.startswith("[").all() and text.str.endswith("]").all())


def _explode_list_column(s: pd.Series) -> list[pd.Series]:
    """Split ``[a, b]`` / ``["a","b"]`` cells into one Series per array index (missing-padded)."""
    items = s.map(
        lambda v: [t.strip().strip('"').strip("'").strip() for t in str(v).strip()[1:-1].split(",") if t.strip()]
        if isinstance(v, str) and v.strip().startswith("[") else []
    )
    width = max(1, int(items.map(len).max() or 0))
    return [items.map(lambda x, a=a: x[a] if a < len(x) and x[a] != "" else np.nan).astype(object)
            for a in range(width)]


# ---------------------------------------------------------------------------------------------
# access by field
# ---------------------------------------------------------------------------------------------


def _array_name(field_id: int, array: int) -> str:
    prefix = ARRAY_PREFIX.get(field_id)
    return f"{prefix}{array}" if prefix else f"f{field_id}_a{array}"


def get_field(
    data: UKBData,
    field: int,
    instance: int = 2,
    *,
    array: int | None = None,
    coding: str | int | Coding | None = None,
) -> pd.Series | pd.DataFrame:
    """The values of one field at one instance.

    Parameters
    ----------
    data : UKBData
    field : int
        Field id, e.g. ``21003`` (age at assessment).
    instance : int, default=2
        Instance (visit); 2 is the first imaging visit. Genetic fields (220xx) exist only at 0.
    array : int, optional
        One array item. Default: all items of the field at that instance; a field with one
        item gives a Series, several give a DataFrame with one column per item
        (``22009`` -> ``pc1..pc40``; others ``f{field}_a{array}``).
    coding : {"labels", "codes"} or int or Coding, optional
        ``None``: values as stored. ``"labels"``: decode with the field's coding (a categorical
        of meanings). ``"codes"``: numeric codes, also when the export wrote labels. An int or
        a :class:`Coding`: decode to labels with that coding.

    Returns
    -------
    Series or DataFrame
        Indexed by ``eid`` (str), named ``"{field}-{instance}.{array}"`` (showcase naming).

    Raises
    ------
    InputError
        The field or instance is absent (naming the file and what it has); a value is not in the
        coding; a column mixes codes and labels ("mixed codings").

    Examples
    --------
    >>> get_field(data, 31, instance=0, coding="labels").value_counts()  # doctest: +SKIP
    """
    where = "get_field"
    field = int(field)
    if not data.has(field):
        raise InputError(
            f"{where}/field: {data.source} has no field {field}; it has {data.fields()[:20]}"
            f"{' ...' if len(data.fields()) > 20 else ''} (read_ukb(fields=...) reads only the fields asked for)"
        )
    if instance not in data.instances(field):
        raise InputError(
            f"{where}/instance: {data.source} has field {field} at instance(s) "
            f"{data.instances(field)} only, not {instance}"
        )
    arrays = data.arrays(field, instance)
    if array is not None:
        if array not in arrays:
            raise InputError(
                f"{where}/array: {data.source} has field {field}-{instance} at array(s) "
                f"{arrays[0]}..{arrays[-1]} only, not {array}"
            )
        arrays = [array]
    out = {}
    for a in arrays:
        key = (field, instance, a)
        s = data.frame[key]
        if coding is not None:
            s = _decode(s, data, field, coding, data.column_name(key))
        out[a] = s.rename(f"{field}-{instance}.{a}")
    if len(out) == 1:
        return next(iter(out.values()))
    frame = pd.DataFrame({_array_name(field, a): s for a, s in out.items()}, index=data.frame.index)
    return frame


def _resolve_coding(data: UKBData, field: int, coding: str | int | Coding) -> Coding:
    if isinstance(coding, Coding):
        return coding
    if isinstance(coding, int) and not isinstance(coding, bool):
        return data.dictionary.coding(coding)
    info = data.dictionary.field_info(field)
    if info is None or info.coding is None:
        raise InputError(
            f"get_field/coding: field {field} has no known coding; pass coding=<id> or a Coding, "
            f"or load the official files with read_data_dictionary()"
        )
    return data.dictionary.coding(info.coding)


def _code_text(v: Any) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v).strip()


def _decode(s: pd.Series, data: UKBData, field: int, coding: str | int | Coding, column: str) -> pd.Series:
    if coding not in ("labels", "codes") and not isinstance(coding, (int, Coding)):
        raise InputError(f"get_field/coding: expected 'labels', 'codes', a coding id or a Coding, found {coding!r}")
    cod = _resolve_coding(data, field, "labels" if isinstance(coding, str) else coding)
    if pd.api.types.is_float_dtype(s):
        return _decode_numeric(s, data, cod, coding, column)
    present = s.dropna()
    text = present.map(_code_text)
    label_to_code = {v: k for k, v in cod.meanings.items()}
    is_code = text.isin(list(cod.meanings))
    is_label = text.isin(list(label_to_code)) & ~is_code
    unknown = text[~is_code & ~is_label]
    if len(unknown):
        raise InputError(
            f"get_field/coding: {data.source} column {column!r} has value {unknown.iloc[0]!r} "
            f"which is not in coding {cod.coding_id} (known: {list(cod.meanings)[:12]})"
        )
    if is_code.any() and is_label.any():
        raise InputError(
            f"get_field/coding: {data.source} column {column!r} mixes codings: codes such as "
            f"{text[is_code].iloc[0]!r} and labels such as {text[is_label].iloc[0]!r}; "
            f"re-export the field with one encoding"
        )
    codes = text.where(is_code, text.map(label_to_code))
    if coding == "codes":
        num = pd.to_numeric(codes, errors="coerce")
        out = pd.Series(np.nan, index=s.index, dtype="float64")
        out.loc[num.index] = num.astype("float64")
        if num.isna().any():  # text codes (ICD-10) stay text
            out = pd.Series(np.nan, index=s.index, dtype=object)
            out.loc[codes.index] = codes
        return out
    cats = pd.Categorical(
        [np.nan] * len(s), categories=list(dict.fromkeys(cod.meanings.values()))
    )
    out = pd.Series(cats, index=s.index)
    out.loc[codes.index] = codes.map(cod.meanings).to_numpy()
    return out


def _decode_numeric(s: pd.Series, data: UKBData, cod: Coding, coding: str | int | Coding, column: str) -> pd.Series:
    """Numeric column (codes only: labels are text) - vectorised check and decoding."""
    numeric_codes: dict[float, str] = {}
    for k, v in cod.meanings.items():
        try:
            numeric_codes[float(k)] = v
        except ValueError:
            continue
    known = s.isin(list(numeric_codes)) | s.isna()
    if not known.all():
        bad = s[~known].iloc[0]
        raise InputError(
            f"get_field/coding: {data.source} column {column!r} has value {_code_text(bad)!r} "
            f"which is not in coding {cod.coding_id} (known: {list(cod.meanings)[:12]})"
        )
    if coding == "codes":
        return s.astype("float64")
    categories = list(dict.fromkeys(cod.meanings.values()))
    labels = s.map(numeric_codes)
    return pd.Series(pd.Categorical(labels, categories=categories), index=s.index)

"""UK Biobank column names, field metadata and codings.

Every UK Biobank export names a data column after a *field*, an *instance* (assessment visit:
0 = baseline, 2 = first imaging visit) and an *array* index (repeated answers within a visit).
The exports spell that triple differently:

========================  =====================================  ==========================
scheme                    example                                participant id column
========================  =====================================  ==========================
``showcase``              ``41270-0.0`` (ukbconv csv/txt)        ``eid``
``r``                     ``f.41270.0.0`` (ukbconv r, ``.tab``)  ``f.eid``
``stata``                 ``n_31_0_0``, ``s_41270_0_0``,         ``n_eid`` / ``eid``
                          ``ts_41280_0_0`` (ukbconv stata; the
                          SAS/SPSS exports use the same
                          ``<type>_<field>_<instance>_<array>``)
``rap``                   ``p21003_i2``, ``p22009_a1``,          ``eid`` /
                          ``p41270_i0_a0``, ``participant.p31``  ``participant.eid``
========================  =====================================  ==========================

On the research platform (``rap``) a missing ``_i`` means the field has a single instance
(taken as instance 0) and a missing ``_a`` a single array item (array 0).

This module parses every scheme into ``(field, instance, array)``, detects a file's scheme
and refuses a column that looks like a *different* scheme (a sign of a hand-merged file whose
columns would silently be misread). It also carries the small built-in table of the fields and
codings the project uses, and loaders for the official ``Data_Dictionary_Showcase.tsv`` and
``Codings.tsv`` when the user has them.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from bma_genetics.errors import InputError

log = logging.getLogger(__name__)

SCHEMES: tuple[str, ...] = ("showcase", "r", "stata", "rap")


class FieldKey(NamedTuple):
    """A UK Biobank data item: field id, instance (visit) and array index."""

    field: int
    instance: int
    array: int


_PATTERNS: dict[str, re.Pattern[str]] = {
    "showcase": re.compile(r"^(\d+)-(\d+)\.(\d+)$"),
    "r": re.compile(r"^f\.(\d+)\.(\d+)\.(\d+)$"),
    # ukbconv stata/sas/spss: n_ numeric, s_ string, ts_ date/time, d_ date, c_ categorical
    "stata": re.compile(r"^(?:n|s|ts|d|c|f|i)_(\d+)_(\d+)_(\d+)$"),
    "rap": re.compile(r"^(?:participant\.)?p(\d+)(?:_i(\d+))?(?:_a(\d+))?$"),
}

_EID_NAMES: dict[str, tuple[str, ...]] = {
    "showcase": ("eid",),
    "r": ("f.eid", "eid"),
    "stata": ("n_eid", "eid", "s_eid"),
    "rap": ("eid", "participant.eid"),
}
ALL_EID_NAMES = frozenset(n for names in _EID_NAMES.values() for n in names)

# A name made of an optional scheme-like prefix and a field number followed by separators and
# digits: looks like a UK Biobank column even if it matches no scheme exactly ("31-0", "31.0.0",
# "p31-i2", "21003_2_0"). Such a column is an error, never silently ignored.
_LOOKS_UKB = re.compile(r"^(?:participant\.)?(?:f\.|(?:n|s|ts|d|c|i|f)_|p)?\d+(?:[-._]?[a-z]?\d+)*$", re.I)


def parse_column(name: str, scheme: str | None = None) -> tuple[str, FieldKey] | None:
    """Parse one column name into ``(scheme, FieldKey)``; ``None`` if it is no data column.

    Parameters
    ----------
    name : str
        The column name as written in the export.
    scheme : {"showcase", "r", "stata", "rap"}, optional
        Only try this scheme.

    Examples
    --------
    >>> parse_column("22009-0.3")
    ('showcase', FieldKey(field=22009, instance=0, array=3))
    >>> parse_column("participant.p21003_i2")
    ('rap', FieldKey(field=21003, instance=2, array=0))
    """
    schemes = SCHEMES if scheme is None else (scheme,)
    for s in schemes:
        m = _PATTERNS[s].match(name)
        if m:
            f, i, a = m.groups()
            return s, FieldKey(int(f), int(i or 0), int(a or 0))
    return None


@dataclass
class ColumnLayout:
    """The parsed header of one export.

    Attributes
    ----------
    scheme : str
        The naming scheme of the file (``showcase``, ``r``, ``stata`` or ``rap``).
    eid_column : str
        The participant-id column as written in the file.
    columns : dict of FieldKey -> str
        Every data column: its key and its name in the file.
    other : list of str
        Columns that are neither the id nor a UK Biobank data column (kept out of the data).
    """

    scheme: str
    eid_column: str
    columns: dict[FieldKey, str]
    other: list[str] = field(default_factory=list)

    def fields(self) -> list[int]:
        return sorted({k.field for k in self.columns})

    def instances(self, field_id: int) -> list[int]:
        return sorted({k.instance for k in self.columns if k.field == field_id})


def parse_header(names: Iterable[str], *, source: str = "table") -> ColumnLayout:
    """Parse an export's column names, detect its scheme, check it is used consistently.

    Raises
    ------
    InputError
        No participant-id column; a duplicated column; a column that follows a different
        naming scheme from the rest of the file (e.g. ``f.31.0.0`` in a showcase CSV); a column
        that looks like a UK Biobank name but matches no scheme (``31-0``, ``p31-i2``).
    """
    names = [str(n) for n in names]
    seen: set[str] = set()
    for n in names:
        if n in seen:
            raise InputError(f"read_ukb/path: {source} has the column {n!r} twice")
        seen.add(n)
    parsed: dict[str, tuple[str, FieldKey]] = {}
    for n in names:
        if n in ALL_EID_NAMES:
            continue
        p = parse_column(n)
        if p is not None:
            parsed[n] = p
    counts: dict[str, int] = {}
    for s, _ in parsed.values():
        counts[s] = counts.get(s, 0) + 1
    if not counts:
        raise InputError(
            f"read_ukb/path: {source} has no UK Biobank data columns (expected names such as "
            f"'31-0.0', 'f.31.0.0', 'n_31_0_0' or 'p31'); its first columns are {names[:8]}"
        )
    scheme = max(counts, key=lambda s: (counts[s], -SCHEMES.index(s)))
    example = next(n for n, (s, _) in parsed.items() if s == scheme)
    for n, (s, _) in parsed.items():
        if s != scheme:
            raise InputError(
                f"read_ukb/path: {source} column {n!r} uses the {s!r} naming scheme but the file "
                f"uses {scheme!r} (e.g. {example!r}); a file must use one scheme - re-export it "
                f"or rename the column"
            )
    eid = next((n for n in _EID_NAMES[scheme] if n in seen), None)
    if eid is None:
        raise InputError(
            f"read_ukb/path: {source} has no participant-id column (expected one of "
            f"{list(_EID_NAMES[scheme])} for {scheme!r} naming)"
        )
    columns: dict[FieldKey, str] = {}
    other: list[str] = []
    for n in names:
        if n == eid:
            continue
        if n in parsed:
            key = parsed[n][1]
            if key in columns:
                raise InputError(
                    f"read_ukb/path: {source} columns {columns[key]!r} and {n!r} both name field "
                    f"{key.field} instance {key.instance} array {key.array}"
                )
            columns[key] = n
        elif n in ALL_EID_NAMES:
            raise InputError(f"read_ukb/path: {source} has two participant-id columns ({eid!r}, {n!r})")
        elif _LOOKS_UKB.match(n):
            raise InputError(
                f"read_ukb/path: {source} column {n!r} looks like a UK Biobank field but does not "
                f"follow the file's {scheme!r} naming (e.g. {example!r}); fix or rename it"
            )
        else:
            other.append(n)
    if other:
        log.debug("%s: %d non-UK Biobank column(s) ignored: %s", source, len(other), other[:10])
    return ColumnLayout(scheme, eid, columns, other)


# ---------------------------------------------------------------------------------------------
# Field metadata and codings
# ---------------------------------------------------------------------------------------------

#: Value types as in the data dictionary's ``ValueType`` column.
VALUE_TYPES = (
    "Integer",
    "Continuous",
    "Categorical single",
    "Categorical multiple",
    "Date",
    "Text",
    "Time",
    "Compound",
)


@dataclass(frozen=True)
class FieldInfo:
    """Metadata of one field: title, value type (data-dictionary spelling) and coding id."""

    field: int
    title: str
    value_type: str
    coding: int | None = None


#: The fields the project uses (a subset of ``Data_Dictionary_Showcase.tsv``).
BUILTIN_FIELDS: dict[int, FieldInfo] = {
    f.field: f
    for f in (
        FieldInfo(31, "Sex", "Categorical single", 9),
        FieldInfo(34, "Year of birth", "Integer"),
        FieldInfo(52, "Month of birth", "Categorical single", 8),
        FieldInfo(50, "Standing height", "Continuous"),
        FieldInfo(53, "Date of attending assessment centre", "Date"),
        FieldInfo(54, "UK Biobank assessment centre", "Categorical single", 10),
        FieldInfo(21000, "Ethnic background", "Categorical single", 1001),
        FieldInfo(21001, "Body mass index (BMI)", "Continuous"),
        FieldInfo(21003, "Age when attended assessment centre", "Integer"),
        FieldInfo(22000, "Genotype measurement batch", "Categorical single", 22000),
        FieldInfo(22001, "Genetic sex", "Categorical single", 9),
        FieldInfo(22006, "Genetic ethnic grouping", "Categorical single", 1002),
        FieldInfo(22009, "Genetic principal components", "Continuous"),
        FieldInfo(22019, "Sex chromosome aneuploidy", "Categorical single", 1),
        FieldInfo(22020, "Used in genetic principal components", "Categorical single", 1),
        FieldInfo(22021, "Genetic kinship to other participants", "Categorical single", 682),
        FieldInfo(22027, "Outliers for heterozygosity or missing rate", "Categorical single", 1),
        FieldInfo(191, "Date lost to follow-up", "Date"),
        FieldInfo(40000, "Date of death", "Date"),
        FieldInfo(40001, "Underlying (primary) cause of death: ICD10", "Categorical single", 19),
        FieldInfo(40002, "Contributory (secondary) causes of death: ICD10", "Categorical multiple", 19),
        FieldInfo(40005, "Date of cancer diagnosis", "Date"),
        FieldInfo(40006, "Type of cancer: ICD10", "Categorical single", 19),
        FieldInfo(41270, "Diagnoses - ICD10", "Categorical multiple", 19),
        FieldInfo(41280, "Date of first in-patient diagnosis - ICD10", "Date"),
        FieldInfo(41271, "Diagnoses - ICD9", "Categorical multiple", 87),
        FieldInfo(41281, "Date of first in-patient diagnosis - ICD9", "Date"),
        FieldInfo(20201, "Dixon technique for internal fat - DICOM", "Compound"),
    )
}


@dataclass(frozen=True)
class Coding:
    """A UK Biobank coding (data-coding): code -> meaning, with an optional hierarchy.

    Attributes
    ----------
    coding_id : int
    meanings : dict of str -> str
        Code (as written in the data, e.g. ``"1001"``) -> meaning.
    parents : dict of str -> str
        Code -> parent code, for hierarchical codings (1001: ``"1001"`` British -> ``"1"`` White).
    """

    coding_id: int
    meanings: Mapping[str, str]
    parents: Mapping[str, str] = field(default_factory=dict)

    def top_level(self, code: str) -> str:
        """The root of ``code``'s branch of the hierarchy (the code itself at the top)."""
        seen = 0
        while code in self.parents and seen < 20:
            code = self.parents[code]
            seen += 1
        return code


_ETHNICITY = {
    "1": "White", "1001": "British", "1002": "Irish", "1003": "Any other white background",
    "2": "Mixed", "2001": "White and Black Caribbean", "2002": "White and Black African",
    "2003": "White and Asian", "2004": "Any other mixed background",
    "3": "Asian or Asian British", "3001": "Indian", "3002": "Pakistani", "3003": "Bangladeshi",
    "3004": "Any other Asian background",
    "4": "Black or Black British", "4001": "Caribbean", "4002": "African",
    "4003": "Any other Black background",
    "5": "Chinese", "6": "Other ethnic group", "-1": "Do not know", "-3": "Prefer not to answer",
}  # fmt: skip

#: Built-in codings (the subset of ``Codings.tsv`` the project needs).
BUILTIN_CODINGS: dict[int, Coding] = {
    1: Coding(1, {"1": "Yes"}),
    8: Coding(8, {str(i): m for i, m in enumerate(
        ["January", "February", "March", "April", "May", "June", "July", "August",
         "September", "October", "November", "December"], start=1)}),
    9: Coding(9, {"0": "Female", "1": "Male"}),
    10: Coding(10, {"11025": "Cheadle (imaging)", "11026": "Reading (imaging)",
                    "11027": "Newcastle (imaging)", "11028": "Bristol (imaging)"}),
    682: Coding(682, {"-1": "Participant excluded from kinship inference process",
                      "0": "No kinship found", "1": "At least one relative identified",
                      "10": "Ten or more third-degree relatives identified"}),
    1001: Coding(1001, _ETHNICITY, {c: c[0] for c in _ETHNICITY if len(c) == 4}),
    22000: Coding(22000, {**{str(-k): f"UKBiLEVEAX_b{k}" for k in range(1, 12)},
                          **{str(k): f"Batch_b{k:03d}" for k in range(1, 96)}}),
    1002: Coding(1002, {"1": "Caucasian"}),
}  # fmt: skip

#: Imaging assessment centres (field 54 at instance 2, coding 10).
IMAGING_CENTRES: dict[int, str] = {int(k): v for k, v in BUILTIN_CODINGS[10].meanings.items()}


@dataclass
class Dictionary:
    """Field metadata and codings: the built-in subset, optionally extended by official files.

    Build one with :func:`read_data_dictionary`; the default (:data:`DEFAULT_DICTIONARY`)
    knows only the built-in fields and codings.
    """

    fields: dict[int, FieldInfo]
    codings: dict[int, Coding]

    def field_info(self, field_id: int) -> FieldInfo | None:
        return self.fields.get(int(field_id))

    def coding(self, coding_id: int) -> Coding:
        try:
            return self.codings[int(coding_id)]
        except KeyError:
            raise InputError(
                f"get_field/coding: coding {coding_id} is not known; load the official "
                f"Codings.tsv with read_data_dictionary(codings=...)"
            ) from None


DEFAULT_DICTIONARY = Dictionary(dict(BUILTIN_FIELDS), dict(BUILTIN_CODINGS))


def read_data_dictionary(
    dictionary: str | Path | None = None, codings: str | Path | None = None
) -> Dictionary:
    """Load the official showcase files, layered over the built-in table.

    Parameters
    ----------
    dictionary : path, optional
        ``Data_Dictionary_Showcase.tsv`` (tab-separated; columns ``FieldID``, ``Field``,
        ``ValueType``, ``Coding`` used).
    codings : path, optional
        ``Codings.tsv`` (tab-separated; columns ``Coding``, ``Value``, ``Meaning``; hierarchical
        codings may add ``Node_id``/``Parent_id`` as in the showcase's ``ehierstring`` tables,
        or ``ParentValue``).

    Returns
    -------
    Dictionary
        Built-in entries replaced by the file's where both exist.

    Examples
    --------
    >>> d = read_data_dictionary()  # the built-in subset
    >>> d.coding(9).meanings["1"]
    'Male'
    """
    fields = dict(BUILTIN_FIELDS)
    codes = dict(BUILTIN_CODINGS)
    if dictionary is not None:
        path = Path(dictionary)
        if not path.exists():
            raise InputError(f"read_data_dictionary/dictionary: no such file {path}")
        df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, quoting=3)
        need = ["FieldID", "Field", "ValueType"]
        miss = [c for c in need if c not in df.columns]
        if miss:
            raise InputError(f"read_data_dictionary/dictionary: {path} lacks column(s) {miss}")
        coding_col = df["Coding"] if "Coding" in df.columns else pd.Series("", index=df.index)
        for fid, title, vt, cod in zip(df["FieldID"], df["Field"], df["ValueType"], coding_col, strict=True):
            try:
                f_int = int(fid)
            except ValueError:
                raise InputError(f"read_data_dictionary/dictionary: {path} column FieldID has {fid!r}") from None
            fields[f_int] = FieldInfo(f_int, title, vt, int(cod) if cod.strip() else None)
    if codings is not None:
        path = Path(codings)
        if not path.exists():
            raise InputError(f"read_data_dictionary/codings: no such file {path}")
        df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, quoting=3)
        miss = [c for c in ("Coding", "Value", "Meaning") if c not in df.columns]
        if miss:
            raise InputError(f"read_data_dictionary/codings: {path} lacks column(s) {miss}")
        for cid, grp in df.groupby("Coding", sort=False):
            meanings = dict(zip(grp["Value"], grp["Meaning"], strict=True))
            parents: dict[str, str] = {}
            if "ParentValue" in grp.columns:
                parents = {v: p for v, p in zip(grp["Value"], grp["ParentValue"], strict=True) if p}
            elif {"Node_id", "Parent_id"} <= set(grp.columns):
                node_value = dict(zip(grp["Node_id"], grp["Value"], strict=True))
                parents = {
                    v: node_value[p]
                    for v, p in zip(grp["Value"], grp["Parent_id"], strict=True)
                    if p and p != "0" and p in node_value
                }
            codes[int(cid)] = Coding(int(cid), meanings, parents)
    log.info("data dictionary: %d fields, %d codings", len(fields), len(codes))
    return Dictionary(fields, codes)

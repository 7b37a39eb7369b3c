"""ICD-10 (WHO, as UK Biobank writes it) -> phecodes, with roll-up and exclusion ranges.

A phecode map is a table with one row per (ICD-10 code, phecode) pair:

====================  =======  ==============================================================
column                dtype    meaning
====================  =======  ==============================================================
``icd10``             str      ICD-10 code without the dot, upper case (``M810``)
``phecode``           str      phecode (``MS_726.1`` for phecodeX, ``743.11`` for 1.2)
``phecode_string``    str      phecode description
``category``          str      phecode category (for colouring plots)
``sex``               str      ``Both``, ``Female`` or ``Male``
``exclude_range``     str      (1.2 only) phecodes and ranges whose holders are not controls
====================  =======  ==============================================================

The canonical maps come from :func:`bma_genetics.resources.load_phecode_map`; a user's own map
(CSV) in this layout or in PheTK's layout (``ICD``, ``phecode``, ``phecode_string``,
``phecode_category``, ``sex`` [, ``exclude_range``, ``phecode_unrolled``]) is accepted too.

ICD-9 codes (UK Biobank field 41271) map through the ICD-9 rows of PheTK's ICD-CM maps
(:func:`bma_genetics.resources.load_phecode_icd9_map`, added to the packaged maps; in a user's
map in PheTK's layout the rows with ``flag`` 9). In the map table they are keyed
``ICD9:<code without the dot>`` (:data:`ICD9_KEY`), so that ICD-9 and ICD-10 codes that are
written alike (``E800``, ``V01``) never meet.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from bma_genetics._check import fail
from bma_genetics.errors import MissingResourceError
from bma_genetics.io.diagnoses import DISTINCT_CODE_SOURCES, ICD9_SOURCES, normalise_icd10

log = logging.getLogger(__name__)

MAP_COLUMNS = ["icd10", "phecode", "phecode_string", "category", "sex", "exclude_range"]
#: Prefix of the ICD-9 rows of a map (``ICD9:7330``) and of ICD-9 codes in the mapping reports.
ICD9_KEY = "ICD9:"
VERSIONS = ("X", "1.2")

_ALIASES = {
    "icd10": ("icd10", "ICD", "icd", "ICD10", "icd_code", "code"),
    "phecode": ("phecode", "PheCode", "PHECODE"),
    "phecode_string": ("phecode_string", "phenotype", "Phenotype", "description"),
    "category": ("category", "phecode_category", "Category", "group"),
    "sex": ("sex", "Sex"),
    "exclude_range": ("exclude_range", "phecode_exclude_range", "Excl. Phecodes"),
}


def normalise_phecode_map(frame: pd.DataFrame, *, where: str = "phecode_map") -> pd.DataFrame:
    """Bring a phecode map to the canonical columns (see the module docstring).

    PheTK's phecode 1.2 layout carries the rolled-up phecode in ``phecode_unrolled``; that
    column becomes ``phecode`` so every ICD code maps to its phecode and all its parents.
    """
    cols = {}
    if "flag" in frame.columns:
        # PheTK's ICD-CM layout: flag 9 rows are ICD-9 codes, keyed apart from ICD-10
        nine = frame["flag"].astype(str).str.strip() == "9"
        if nine.any():
            code_col = next((n for n in _ALIASES["icd10"] if n in frame.columns), None)
            if code_col is not None:
                frame = frame.copy()
                bare = frame.loc[nine, code_col].astype(str).str.upper().str.replace(r"[\s.]", "", regex=True)
                frame[code_col] = frame[code_col].astype(object)
                frame.loc[nine, code_col] = ICD9_KEY + bare
    if "phecode_unrolled" in frame.columns:
        frame = frame.drop(columns=["phecode"]).rename(columns={"phecode_unrolled": "phecode"})
    for canon, names in _ALIASES.items():
        hit = next((n for n in names if n in frame.columns), None)
        if hit is not None:
            cols[canon] = frame[hit]
    missing = [c for c in ("icd10", "phecode") if c not in cols]
    if missing:
        raise fail(where, f"the phecode map lacks column(s) {missing} (accepted names: "
                          f"{[_ALIASES[m] for m in missing]}); it has {list(frame.columns)[:12]}")
    out = pd.DataFrame({
        "icd10": normalise_icd10(cols["icd10"], dotted=False, errors="keep"),
        "phecode": cols["phecode"].astype("string").str.strip(),
    })
    out["phecode_string"] = cols.get("phecode_string", out["phecode"]).astype("string").to_numpy()
    out["category"] = cols.get("category", pd.Series("other", index=frame.index)).astype("string").to_numpy()
    sex = cols.get("sex", pd.Series("Both", index=frame.index)).astype("string").fillna("Both")
    sex = sex.str.strip().str.capitalize().replace({"F": "Female", "M": "Male", "": "Both"})
    bad = sorted(set(sex.unique()) - {"Both", "Female", "Male"})
    if bad:
        raise fail(where, f"column 'sex' must be Both/Female/Male, found {bad[:5]}")
    out["sex"] = sex.to_numpy()
    ex = cols.get("exclude_range")
    out["exclude_range"] = ex.astype("string").to_numpy() if ex is not None else pd.NA
    out = out.dropna(subset=["icd10", "phecode"])
    return out.drop_duplicates(["icd10", "phecode"]).reset_index(drop=True)


def load_map(version: str = "X", path: str | os.PathLike | pd.DataFrame | None = None) -> pd.DataFrame:
    """The phecode map for ``version`` ("X" or "1.2"), or the user's map at ``path``, rolled up.

    Raises
    ------
    MissingResourceError
        When the packaged map is not available and no ``path`` is given.
    """
    if version not in VERSIONS:
        raise fail("run_phewas/phecode_version", f"expected one of {list(VERSIONS)}, found {version!r}")
    if isinstance(path, pd.DataFrame):
        frame = path
    elif path is not None:
        if not os.path.exists(path):
            raise fail("run_phewas/phecode_map", f"no such file {path}")
        from bma_genetics.io import read_text_table

        frame = read_text_table(Path(path), where="run_phewas/phecode_map", sep=",", dtype=str,
                                keep_default_na=False, na_values=[""])
    else:
        try:
            from bma_genetics.resources import load_phecode_map
        except ImportError as exc:
            raise MissingResourceError(
                "run_phewas/phecode_map: bma_genetics.resources is not available to load the "
                f"phecode {version} map; pass phecode_map=PATH to a map CSV ({exc})"
            ) from None
        frame = load_phecode_map(version)
        icd9 = _packaged_icd9_map(version)
        if icd9 is not None:
            frame = pd.concat([_canonical_columns(frame), icd9], ignore_index=True)
    where = "run_phewas/phecode_map" + (f": {path}" if isinstance(path, (str, os.PathLike)) else "")
    return rollup(normalise_phecode_map(frame, where=where))


def _canonical_columns(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[[c for c in MAP_COLUMNS if c in frame.columns]]


def _packaged_icd9_map(version: str) -> pd.DataFrame | None:
    """The packaged ICD-9 map for ``version``, keyed ``ICD9:<code>``; ``None`` (logged) when not cached."""
    try:
        from bma_genetics.resources import load_phecode_icd9_map

        m = load_phecode_icd9_map(version)
    except (ImportError, MissingResourceError) as exc:
        log.warning("no ICD-9 phecode map (%s): ICD-9 records (field 41271) stay unmapped; "
                    "run 'bma-genetics reference fetch phecode_icd9'", exc)
        return None
    out = m.rename(columns={"icd9": "icd10"})
    out["icd10"] = ICD9_KEY + out["icd10"].astype(str)
    return _canonical_columns(out)




def parent_phecodes(code: str) -> list[str]:
    """Ancestors of a phecode by dropping decimal digits: ``743.11`` -> ``743.1``, ``743``."""
    out = []
    cur = code
    while "." in cur:
        head, tail = cur.split(".", 1)
        cur = head if len(tail) <= 1 else f"{head}.{tail[:-1]}"
        out.append(cur)
    return out


def rollup(phecode_map: pd.DataFrame) -> pd.DataFrame:
    """Add (ICD, ancestor phecode) rows so cases roll up to every parent phecode.

    Maps that already list the ancestors (phecodeX's WHO map, PheTK's ``phecode_unrolled``)
    are unchanged. A parent's description, category, sex and exclusions come from its own rows;
    a parent that no ICD code maps to directly (phecode 1.2's WHO map lacks e.g. ``250``) is
    described by its children (``"group: Type 1 diabetes; Type 2 diabetes"``), takes their
    category, and is sex-restricted only when all of them are restricted to the same sex.
    """
    known = set(phecode_map["phecode"])
    extra = []
    for icd, code in zip(phecode_map["icd10"], phecode_map["phecode"], strict=True):
        for parent in parent_phecodes(code):
            extra.append((icd, parent))
    if not extra:
        return phecode_map
    meta = phecode_meta(phecode_map)
    add = pd.DataFrame(extra, columns=["icd10", "phecode"]).drop_duplicates()
    unknown = sorted(set(add["phecode"]) - known)
    if unknown:
        kids = meta.assign(_parent=[parent_phecodes(c) for c in meta["phecode"]]).explode("_parent")
        kids = kids[kids["_parent"].isin(unknown)]
        # nearest descendants first, so a group is named after its direct children
        kids = kids.assign(_depth=kids["phecode"].str.len()).sort_values(["_depth", "phecode"])
        rows = []
        for parent, grp in kids.groupby("_parent", sort=True):
            names = list(dict.fromkeys(grp["phecode_string"].astype(str)))
            sexes = set(grp["sex"])
            rows.append({
                "phecode": parent,
                "phecode_string": "group: " + "; ".join(names[:3]) + ("; ..." if len(names) > 3 else ""),
                "category": grp["category"].iloc[0],
                "sex": sexes.pop() if len(sexes) == 1 else "Both",
                "exclude_range": grp["exclude_range"].iloc[0],
            })
        meta = pd.concat([meta, pd.DataFrame(rows, columns=meta.columns)], ignore_index=True)
    add = add.merge(meta, on="phecode", how="left")
    out = pd.concat([phecode_map, add[phecode_map.columns]], ignore_index=True)
    return out.drop_duplicates(["icd10", "phecode"]).reset_index(drop=True)


def phecode_meta(phecode_map: pd.DataFrame) -> pd.DataFrame:
    """One row per phecode: ``phecode, phecode_string, category, sex, exclude_range``."""
    cols = ["phecode", "phecode_string", "category", "sex", "exclude_range"]
    return phecode_map[cols].drop_duplicates("phecode").reset_index(drop=True)


def _as_number(code: str) -> float | None:
    try:
        return float(code)
    except ValueError:
        return None


def expand_exclusions(meta: pd.DataFrame, phecodes: Iterable[str]) -> dict[str, set[str]]:
    """For each phecode, the set of phecodes (among ``phecodes``) in its exclusion range.

    Ranges are written as in phecode 1.2 (``"008-009.99,586.2"``): ``a-b`` covers every
    numeric phecode from ``a`` to ``b`` inclusive, sub-codes of an integer ``b`` included.
    """
    pool = list(phecodes)
    numeric = {c: _as_number(c) for c in pool}
    out: dict[str, set[str]] = {}
    for code, text in zip(meta["phecode"], meta["exclude_range"], strict=True):
        if text is None or pd.isna(text) or not str(text).strip():
            continue
        hit: set[str] = set()
        for item in str(text).split(","):
            item = item.strip()
            if not item:
                continue
            if "-" in item:
                lo_s, hi_s = item.split("-", 1)
                lo, hi = _as_number(lo_s), _as_number(hi_s)
                if lo is None or hi is None:
                    continue
                top = hi + 1 if float(hi).is_integer() and "." not in hi_s else hi
                for c, v in numeric.items():
                    if v is not None and lo <= v and (v < top if top != hi else v <= hi):
                        hit.add(c)
            else:
                hit.add(item)
        hit.discard(code)
        out[code] = hit
    return out


def lookup_codes(codes: pd.Series, phecode_map: pd.DataFrame) -> pd.Series:
    """The map code each ICD code is looked up as: itself, else a shorter code of its category.

    A code absent from the map (``C814``, ``M800`` with a map that lists ``M80``) takes the
    phecodes of its 3-character category, as createUKBphenome does (a category row of the
    phecode map covers every code under it); a code whose category is absent too stays
    unmapped (missing). Codes without the dot (``M810``), as :func:`count_phecodes` uses them.
    ICD-9 codes (keyed ``ICD9:<code>``) drop one digit at a time down to the 3-digit category
    (4 characters for E-codes): UK Biobank's ``73309`` is looked up as ``7330`` when the map
    lacks it.
    """
    known = pd.Index(phecode_map["icd10"].unique())
    codes = codes.astype("string")
    exact = codes.isin(known)
    is9 = codes.str.startswith(ICD9_KEY).fillna(False)
    category = codes.str[:3]
    fallback = ~exact & ~is9 & (codes.str.len() > 3) & category.isin(known)
    out = codes.where(exact, category.where(fallback))
    if is9.any():
        shortest = len(ICD9_KEY) + np.where((codes.str[len(ICD9_KEY)] == "E").fillna(False).to_numpy(bool), 4, 3)
        todo = is9 & ~exact
        for trim in (1, 2):
            cut = codes.str.len() - trim
            cand = pd.Series([c[:k] if isinstance(c, str) else None for c, k in zip(codes, cut.fillna(0).astype(int),
                                                                                      strict=True)],
                             index=codes.index, dtype="string")
            hit = todo & (cut >= shortest) & cand.isin(known)
            out = out.where(~hit, cand)
            todo = todo & ~hit
    return out


def count_phecodes(diagnoses: pd.DataFrame, phecode_map: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """Per person and phecode: number of diagnosis records and the first date.

    Every diagnosis record counts once towards each phecode its ICD code maps to (PheTK's
    ``count_phecode``). ICD-9 records (``coding`` ``icd9``, or a source in
    :data:`~bma_genetics.io.diagnoses.ICD9_SOURCES` such as 41271 when the table has no
    ``coding``) map through the map's ICD-9 rows; other codings (Read codes) stay unmapped. A
    code absent from the map is looked up as its 3-character category (:func:`lookup_codes`,
    createUKBphenome's rule); codes that stay unmapped are counted and reported (ICD-9 ones
    as ``ICD9:<code>``), not mapped. Records whose ``source`` lists each code once per person
    (:data:`bma_genetics.io.diagnoses.DISTINCT_CODE_SOURCES`, e.g. field 41270) are also
    counted apart, so that a case definition can depend on the source.

    Returns
    -------
    counts : DataFrame
        ``eid`` (str), ``phecode`` (str), ``count`` (int64: records, every source),
        ``count_distinct_source`` (int64: records from distinct-code sources),
        ``first_date`` (datetime64).
    report : dict
        ``n_records``, ``n_fallback_records`` and ``fallback_codes`` (code -> category it was
        mapped through), ``n_unmapped_records``, ``n_unmapped_codes``, ``unmapped_codes`` (the
        20 most frequent, with their record counts), ``unmapped_code_list`` (every unmapped
        code, sorted), ``n_repeated_distinct_source_records`` (a code repeated for a person in
        a distinct-code source: the table is not what its source says).
    """
    codes = normalise_icd10(diagnoses["code"], dotted=False, errors="keep")
    source = (diagnoses["source"].astype("string").fillna("") if "source" in diagnoses.columns
              else pd.Series("", index=diagnoses.index, dtype="string"))
    coding = (diagnoses["coding"].astype("string").fillna("icd10") if "coding" in diagnoses.columns
              else pd.Series(np.where(source.isin(ICD9_SOURCES), "icd9", "icd10"), index=diagnoses.index))
    codes = codes.where(coding != "icd9", ICD9_KEY + codes.astype("string"))
    other = ~coding.isin(["icd10", "icd9"]).to_numpy()
    if other.any():
        # Read codes and other vocabularies have no phecode map here: reported unmapped
        codes = codes.where(~other, coding.str.upper() + ":" + codes.astype("string"))
    dx = pd.DataFrame({"eid": diagnoses["eid"].astype(str).to_numpy(), "icd10": codes.to_numpy(),
                       "date": pd.to_datetime(diagnoses["date"], errors="coerce").to_numpy()
                       if "date" in diagnoses.columns else pd.NaT,
                       "distinct": source.isin(DISTINCT_CODE_SOURCES).to_numpy(), "source": source.to_numpy()})
    dx["lookup"] = lookup_codes(dx["icd10"], phecode_map).to_numpy()
    mapped = dx["lookup"].notna().to_numpy()
    fallback = mapped & (dx["lookup"] != dx["icd10"]).fillna(False).to_numpy()
    unmapped = dx.loc[~mapped, "icd10"].value_counts()
    repeated = dx[dx["distinct"]].duplicated(["eid", "icd10", "source"])
    report = {
        "n_records": int(len(dx)),
        "n_fallback_records": int(fallback.sum()),
        "fallback_codes": {str(k): str(v) for k, v in
                           dx.loc[fallback, ["icd10", "lookup"]].drop_duplicates().sort_values("icd10").to_numpy()},
        "n_unmapped_records": int((~mapped).sum()),
        "n_unmapped_codes": int(len(unmapped)),
        "unmapped_codes": {str(k): int(v) for k, v in unmapped.head(20).items()},
        "unmapped_code_list": sorted(str(k) for k in unmapped.index),
        "n_repeated_distinct_source_records": int(repeated.sum()),
    }
    if fallback.any():
        log.info("%d diagnosis records (%d codes) absent from the phecode map were mapped through their "
                 "3-character category", report["n_fallback_records"], len(report["fallback_codes"]))
    if (~mapped).any():
        log.warning(
            "%d of %d diagnosis records (%d distinct codes, e.g. %s) have codes absent from "
            "the phecode map, their 3-character category too; they are not counted towards any phecode",
            report["n_unmapped_records"], report["n_records"], report["n_unmapped_codes"],
            ", ".join(list(report["unmapped_codes"])[:5]),
        )
    if repeated.any():
        log.warning("%d diagnosis records repeat a code already listed for the person in a source that "
                    "lists each code once (41270-like); check the table's source column",
                    report["n_repeated_distinct_source_records"])
    joined = dx[mapped].merge(phecode_map[["icd10", "phecode"]], left_on="lookup", right_on="icd10",
                              how="inner", suffixes=("", "_map"))
    counts = (
        joined.groupby(["eid", "phecode"], sort=True, observed=True)
        .agg(count=("icd10", "size"), count_distinct_source=("distinct", "sum"), first_date=("date", "min"))
        .reset_index()
    )
    counts["count"] = counts["count"].astype(np.int64)
    counts["count_distinct_source"] = counts["count_distinct_source"].astype(np.int64)
    return counts, report

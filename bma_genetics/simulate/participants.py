"""Participant data in UK Biobank's export formats: showcase CSV, Stata (ukbconv), RAP CSV.

All three files carry the same values; only the column naming differs:

==============================  ====================  ====================  ==================
meaning                         showcase              Stata (ukbconv)       research platform
==============================  ====================  ====================  ==================
participant id                  ``eid``               ``n_eid``             ``eid``
sex (0 female, 1 male)          ``31-0.0``            ``n_31_0_0``          ``p31``
year of birth                   ``34-0.0``            ``n_34_0_0``          ``p34``
age at imaging visit            ``21003-2.0``         ``n_21003_2_0``       ``p21003_i2``
BMI at imaging                  ``21001-2.0``         ``n_21001_2_0``       ``p21001_i2``
standing height (cm)            ``50-2.0``            ``n_50_2_0``          ``p50_i2``
assessment centre (imaging)     ``54-2.0``            ``n_54_2_0``          ``p54_i2``
imaging visit date              ``53-2.0``            ``ts_53_2_0``         ``p53_i2``
ethnic background               ``21000-0.0``         ``n_21000_0_0``       ``p21000_i0``
genotype measurement batch      ``22000-0.0``         ``n_22000_0_0``       ``p22000``
genetic sex                     ``22001-0.0``         ``n_22001_0_0``       ``p22001``
genetic ethnic grouping         ``22006-0.0``         ``n_22006_0_0``       ``p22006``
genetic PC k (1..40)            ``22009-0.k``         ``n_22009_0_k``       ``p22009_ak``
sex chromosome aneuploidy       ``22019-0.0``         ``n_22019_0_0``       ``p22019``
used in genetic PCA             ``22020-0.0``         ``n_22020_0_0``       ``p22020``
genetic kinship to others       ``22021-0.0``         ``n_22021_0_0``       ``p22021``
het/missing outlier             ``22027-0.0``         ``n_22027_0_0``       ``p22027``
ICD-10 diagnosis k              ``41270-0.k``         ``s_41270_0_k``       ``p41270_ak``
date of diagnosis k             ``41280-0.k``         ``ts_41280_0_k``      ``p41280_ak``
ICD-9 diagnosis k               ``41271-0.k``         ``s_41271_0_k``       ``p41271_ak``
date of ICD-9 diagnosis k       ``41281-0.k``         ``ts_41281_0_k``      ``p41281_ak``
date of death                   ``40000-0.0``         ``ts_40000_0_0``      ``p40000_i0``
primary cause of death (ICD-10) ``40001-0.0``         ``s_40001_0_0``       ``p40001_i0``
secondary cause k               ``40002-0.k``         ``s_40002_0_k``       ``p40002_i0_ak``
date lost to follow-up          ``191-0.0``           ``ts_191_0_0``        ``p191``
==============================  ====================  ====================  ==================

Empty string = missing in the CSVs; Stata uses its system missing. Rows are sorted by eid.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from bma_genetics.simulate.diseases import Records

#: Imaging centres (field 54): Cheadle, Reading, Newcastle, Bristol, with first imaging dates.
CENTRES = {11025: "2014-08-01", 11026: "2017-06-01", 11027: "2016-04-01", 11028: "2019-03-01"}
CENTRE_WEIGHTS = np.array([0.45, 0.20, 0.30, 0.05])
IMAGING_END = "2020-03-15"

#: Genotype measurement batch (field 22000, coding 22000): -11..-1 are the UK BiLEVE Axiom
#: batches (``UKBiLEVEAX_b1..b11``, the first ~50,000 genotyped, selected on smoking and lung
#: function), 1..95 the UK Biobank Axiom batches (``Batch_b001..b095``). About 10 % of UK
#: Biobank's genotyped participants are on the BiLEVE array.
BILEVE_BATCHES = np.arange(-11, 0)
AXIOM_BATCHES = np.arange(1, 96)
BILEVE_FRACTION = 0.10


def draw_genotyping_batches(n: int, rng: np.random.Generator) -> np.ndarray:
    """Field 22000 for ``n`` people: a BiLEVE batch (negative) for ~10 %, else an Axiom batch."""
    bileve = rng.random(n) < BILEVE_FRACTION
    return np.where(bileve, rng.choice(BILEVE_BATCHES, size=n), rng.choice(AXIOM_BATCHES, size=n)).astype(float)

#: Ethnic background (field 21000, coding 1001): group 1 and group 2 distributions.
ETHNICITY_GROUP1 = {1001: 0.90, 1002: 0.035, 1003: 0.055, 2003: 0.003, -3: 0.004, 6: 0.003}
ETHNICITY_GROUP2 = {3001: 0.30, 3002: 0.12, 3003: 0.04, 4001: 0.18, 4002: 0.14, 5: 0.08,
                    2001: 0.03, 2002: 0.03, 6: 0.04, 1003: 0.03, -1: 0.01}

SCALARS: list[tuple[str, int, int, str]] = [
    # (name in base table, field, instance, kind)  kind: n numeric, ts date
    ("sex", 31, 0, "n"),
    ("year_of_birth", 34, 0, "n"),
    ("age", 21003, 2, "n"),
    ("bmi", 21001, 2, "n"),
    ("height", 50, 2, "n"),
    ("centre", 54, 2, "n"),
    ("imaging_date", 53, 2, "ts"),
    ("ethnicity", 21000, 0, "n"),
    ("genotyping_batch", 22000, 0, "n"),
    ("genetic_sex", 22001, 0, "n"),
    ("genetic_grouping", 22006, 0, "n"),
]
TAIL: list[tuple[str, int]] = [
    ("aneuploidy", 22019),
    ("used_in_pca", 22020),
    ("kinship", 22021),
    ("het_missing_outlier", 22027),
]
#: RAP names of single-instance fields omit ``_i0``.
_SINGLE_INSTANCE = {31, 34, 191, 22000, 22001, 22006, 22019, 22020, 22021, 22027}


def _rap(field: int, instance: int, array: int | None = None) -> str:
    name = f"p{field}" if field in _SINGLE_INSTANCE else f"p{field}_i{instance}"
    if field in (22009, 41270, 41280, 41271, 41281):
        name = f"p{field}"
    return name if array is None else f"{name}_a{array}"


def _paired(diagnoses: list[list[tuple[str, np.datetime64]]]) -> tuple[np.ndarray, np.ndarray]:
    """Per participant (code, date) lists -> code and date arrays of shape (n, k_max)."""
    n = len(diagnoses)
    k_max = max(1, max((len(d) for d in diagnoses), default=0))
    codes = np.full((n, k_max), "", dtype=object)
    dates = np.full((n, k_max), np.datetime64("NaT"), dtype="datetime64[D]")
    for i, dx in enumerate(diagnoses):
        for j, (c, d) in enumerate(dx):
            codes[i, j] = c
            dates[i, j] = d
    return codes, dates


def build_exports(base: pd.DataFrame, pcs: np.ndarray, diagnoses: list[list[tuple[str, np.datetime64]]],
                  *, records: Records | None = None) -> dict[str, pd.DataFrame]:
    """The showcase, Stata and RAP tables from the base participant table.

    Parameters
    ----------
    base : DataFrame
        One row per participant with ``eid`` and the names of :data:`SCALARS` / :data:`TAIL`
        (floats with NaN for missing, ``imaging_date`` as datetime64).
    pcs : ndarray of shape (n, 40)
    diagnoses : per participant, (icd10, date) pairs
    records : bma_genetics.simulate.diseases.Records, optional
        Adds ICD-9 diagnoses (41271/41281), the death registry (40000, 40001, 40002) and loss to
        follow-up (191).
    """
    n = len(base)
    codes, dates = _paired(diagnoses)
    k_max = codes.shape[1]
    order = np.argsort(base["eid"].astype(np.int64).to_numpy(), kind="stable")

    show: dict[str, object] = {"eid": base["eid"].astype(np.int64).to_numpy()}
    stata: dict[str, object] = {"n_eid": base["eid"].astype(np.int64).to_numpy()}
    rap: dict[str, object] = {"eid": base["eid"].astype(np.int64).to_numpy()}
    for name, f, inst, kind in SCALARS:
        v = base[name].to_numpy()
        show[f"{f}-{inst}.0"] = v
        stata[f"{kind}_{f}_{inst}_0"] = v
        rap[_rap(f, inst)] = v
    for k in range(pcs.shape[1]):
        show[f"22009-0.{k + 1}"] = pcs[:, k]
        stata[f"n_22009_0_{k + 1}"] = pcs[:, k]
        rap[_rap(22009, 0, k + 1)] = pcs[:, k]
    for name, f in TAIL:
        v = base[name].to_numpy()
        show[f"{f}-0.0"] = v
        stata[f"n_{f}_0_0"] = v
        rap[_rap(f, 0)] = v
    for j in range(k_max):
        show[f"41270-0.{j}"] = codes[:, j]
        stata[f"s_41270_0_{j}"] = codes[:, j]
        rap[_rap(41270, 0, j)] = codes[:, j]
    for j in range(k_max):
        show[f"41280-0.{j}"] = dates[:, j]
        stata[f"ts_41280_0_{j}"] = dates[:, j]
        rap[_rap(41280, 0, j)] = dates[:, j]
    if records is not None:
        _add_registry_fields(show, stata, rap, records, n)
    return {
        name: pd.DataFrame(cols).iloc[order].reset_index(drop=True)
        for name, cols in (("showcase", show), ("stata", stata), ("rap", rap))
    }


def _add_registry_fields(show: dict, stata: dict, rap: dict, records: Records, n: int) -> None:
    """41271/41281 (ICD-9), 40000/40001/40002 (death registry) and 191 (lost to follow-up)."""
    codes9, dates9 = _paired(records.icd9)
    for j in range(codes9.shape[1]):
        show[f"41271-0.{j}"] = codes9[:, j]
        stata[f"s_41271_0_{j}"] = codes9[:, j]
        rap[_rap(41271, 0, j)] = codes9[:, j]
    for j in range(codes9.shape[1]):
        show[f"41281-0.{j}"] = dates9[:, j]
        stata[f"ts_41281_0_{j}"] = dates9[:, j]
        rap[_rap(41281, 0, j)] = dates9[:, j]
    show["40000-0.0"] = stata["ts_40000_0_0"] = rap[_rap(40000, 0)] = records.death_date.astype("datetime64[D]")
    show["40001-0.0"] = stata["s_40001_0_0"] = rap[_rap(40001, 0)] = records.death_primary.astype(object)
    k = max(1, max((len(c) for c in records.death_secondary), default=0))
    second = np.full((n, k), "", dtype=object)
    for i, causes in enumerate(records.death_secondary):
        second[i, :len(causes)] = causes
    for j in range(k):
        show[f"40002-0.{j}"] = stata[f"s_40002_0_{j}"] = rap[_rap(40002, 0, j)] = second[:, j]
    show["191-0.0"] = stata["ts_191_0_0"] = rap[_rap(191, 0)] = records.lost.astype("datetime64[D]")


def _csv_text(frame: pd.DataFrame) -> str:
    out = frame.copy()
    for c in out.columns:
        col = out[c]
        if np.issubdtype(col.dtype, np.datetime64):
            out[c] = col.dt.strftime("%Y-%m-%d").fillna("")
        elif col.dtype == object:
            out[c] = col.fillna("")
        elif np.issubdtype(col.dtype, np.floating):
            # integers print without a decimal point (UK Biobank codes, years); others 6 sig. digits
            vals = col.to_numpy()
            whole = np.isfinite(vals) & (vals == np.round(vals))
            s = np.where(whole, np.char.mod("%d", np.nan_to_num(vals).astype(np.int64)),
                         np.char.mod("%.6g", np.nan_to_num(vals)))
            out[c] = np.where(np.isfinite(vals), s, "")
    return out.to_csv(index=False, lineterminator="\n")


def write_csv(frame: pd.DataFrame, path: str | Path) -> None:
    Path(path).write_text(_csv_text(frame))


_TIMESTAMP = re.compile(rb"<timestamp>.(.{17})</timestamp>", re.S)


def write_dta(frame: pd.DataFrame, path: str | Path) -> None:
    """Stata 15 via pyreadstat, with the header timestamp fixed so the bytes are reproducible."""
    import pyreadstat

    out = frame.copy()
    fmt = {}
    for c in out.columns:
        if np.issubdtype(out[c].dtype, np.datetime64):
            # Stata %td: days since 1960-01-01 as a number (pyreadstat writes datetime64 as %tc,
            # and infers object columns of dates from their first rows only)
            days = (out[c].to_numpy().astype("datetime64[D]") - np.datetime64("1960-01-01")).astype(np.float64)
            out[c] = np.where(pd.isna(out[c]).to_numpy(), np.nan, days)
            fmt[c] = "%td"
    pyreadstat.write_dta(out, str(path), variable_format=fmt)
    raw = Path(path).read_bytes()
    raw = _TIMESTAMP.sub(b"<timestamp>\x1101 Jan 2000 00:00</timestamp>", raw, count=1)
    Path(path).write_bytes(raw)

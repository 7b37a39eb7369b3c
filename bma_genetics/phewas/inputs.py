"""Reading the PheWAS inputs: participant table, long diagnosis table, optional BMFF table.

The diagnosis table is long: ``eid, code, date[, source]`` (the io stage's ``read_diagnoses``
output). A UK Biobank showcase export with ``41270-0.*``/``41280-0.*`` columns is accepted too and
turned into that shape here, so the CLI works on a raw export.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from bma_genetics._check import check_columns, fail

log = logging.getLogger(__name__)

_SHOWCASE_CODE = re.compile(r"^41270-0\.(\d+)$")


def read_table(path: str | os.PathLike | pd.DataFrame, where: str) -> tuple[pd.DataFrame, str]:
    """A DataFrame from Parquet/CSV/TSV (format from the suffix) and a name for messages."""
    if isinstance(path, pd.DataFrame):
        return path, "the table passed"
    path = Path(path)
    if not path.exists():
        raise fail(where, f"no such file {path}")
    name = path.name.lower()
    if name.endswith(".parquet"):
        frame = pd.read_parquet(path)
    elif name.endswith((".tsv", ".tsv.gz", ".txt", ".txt.gz")):
        frame = pd.read_csv(path, sep="\t", dtype={"eid": str}, low_memory=False)
    elif name.endswith((".csv", ".csv.gz")):
        frame = pd.read_csv(path, dtype={"eid": str}, low_memory=False)
    else:
        raise fail(where, f"cannot tell the format of {path}; use .parquet, .tsv or .csv")
    return frame, str(path)


def diagnoses_from_showcase(frame: pd.DataFrame) -> pd.DataFrame:
    """Long ``eid, code, date, source`` from showcase columns ``41270-0.k`` / ``41280-0.k``."""
    parts = []
    for col in frame.columns:
        m = _SHOWCASE_CODE.match(str(col))
        if not m:
            continue
        date_col = f"41280-0.{m.group(1)}"
        part = pd.DataFrame({
            "eid": frame["eid"].astype(str).to_numpy(),
            "code": frame[col].astype("string").to_numpy(),
            "date": frame[date_col].to_numpy() if date_col in frame.columns else None,
        })
        parts.append(part[part["code"].notna() & (part["code"] != "")])
    if not parts:
        return pd.DataFrame({"eid": [], "code": [], "date": [], "source": []})
    out = pd.concat(parts, ignore_index=True)
    out["date"] = pd.to_datetime(out["date"], errors="coerce")
    out["source"] = "41270"
    return out


def read_diagnoses(path: str | os.PathLike | pd.DataFrame) -> pd.DataFrame:
    """The long diagnosis table, from a long file or a showcase export."""
    where = "run_phewas/diagnoses"
    frame, source = read_table(path, where)
    if "code" not in frame.columns and any(_SHOWCASE_CODE.match(str(c)) for c in frame.columns):
        frame = diagnoses_from_showcase(frame)
    check_columns(where, frame, ["eid", "code"], source=source)
    frame = frame.copy()
    frame["eid"] = frame["eid"].astype(str)
    if "date" in frame.columns:
        frame["date"] = pd.to_datetime(frame["date"], errors="coerce")
    else:
        frame["date"] = pd.NaT
    frame = frame[frame["code"].notna()]
    return frame


def read_participants(
    path: str | os.PathLike | pd.DataFrame, bmff: str | os.PathLike | pd.DataFrame | None = None
) -> tuple[pd.DataFrame, str]:
    """The participant table (``eid`` string) joined, if given, with a BMFF table on ``eid``."""
    where = "run_phewas/participants"
    frame, source = read_table(path, where)
    check_columns(where, frame, ["eid"], source=source)
    frame = frame.copy()
    frame["eid"] = frame["eid"].astype(str)
    if frame["eid"].duplicated().any():
        dup = frame.loc[frame["eid"].duplicated(), "eid"].iloc[0]
        raise fail(where, f"{source} has duplicate eids (e.g. {dup}); one row per participant is required")
    if bmff is not None:
        extra, bsource = read_table(bmff, "run_phewas/bmff")
        check_columns("run_phewas/bmff", extra, ["eid"], source=bsource)
        extra = extra.copy()
        extra["eid"] = extra["eid"].astype(str)
        keep = ["eid"] + [c for c in extra.columns if c not in frame.columns]
        frame = frame.merge(extra[keep], on="eid", how="left")
        source = f"{source} + {bsource}"
    return frame, source


def birth_dates(participants: pd.DataFrame) -> pd.Series | None:
    """Earliest possible birth date per eid (1 January of the birth year), if known."""
    for col in ("birth_date", "date_of_birth"):
        if col in participants.columns:
            return pd.to_datetime(participants[col], errors="coerce")
    for col in ("year_of_birth", "birth_year", "34-0.0"):
        if col in participants.columns:
            years = pd.to_numeric(participants[col], errors="coerce")
            return pd.to_datetime(
                years.astype("Int64").astype("string") + "-01-01", errors="coerce"
            )
    return None


def drop_dates_before_birth(
    diagnoses: pd.DataFrame, participants: pd.DataFrame
) -> tuple[pd.DataFrame, int]:
    """Remove (and count) diagnosis records dated before the participant's birth year."""
    born = birth_dates(participants)
    if born is None:
        return diagnoses, 0
    lookup = pd.Series(born.to_numpy(), index=participants["eid"].to_numpy())
    b = lookup.reindex(diagnoses["eid"].to_numpy()).to_numpy()
    d = diagnoses["date"].to_numpy()
    bad = ~pd.isna(b) & ~pd.isna(d)
    bad[bad] = d[bad] < b[bad]
    n_bad = int(bad.sum())
    if n_bad:
        log.warning(
            "%d diagnosis records are dated before the participant's year of birth (impossible "
            "dates); they are left out", n_bad
        )
    return diagnoses[~np.asarray(bad)], n_bad

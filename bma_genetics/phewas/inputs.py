"""Joining the PheWAS inputs: participant table with an optional BMFF table; birth-date checks.

The tables are read through their io contracts (:func:`bma_genetics.io.read_participant_table`,
:func:`~bma_genetics.io.read_bmff_table`, :func:`~bma_genetics.io.read_diagnosis_table`).
"""

from __future__ import annotations

import logging
import os

import numpy as np
import pandas as pd

from bma_genetics.io import read_bmff_table, read_participant_table

log = logging.getLogger(__name__)


def join_bmff(
    path: str | os.PathLike | pd.DataFrame, bmff: str | os.PathLike | pd.DataFrame | None = None
) -> tuple[pd.DataFrame, str]:
    """The participant table (``eid`` string) joined, if given, with a BMFF table on ``eid``.

    Both are read (or checked, when DataFrames are passed) through their io contracts; BMFF
    columns already in the participant table are kept from it. Returns the table and a name of
    its source(s) for messages.
    """
    frame = read_participant_table(path, required=())
    source = "the table passed" if isinstance(path, pd.DataFrame) else str(path)
    if bmff is not None:
        extra = read_bmff_table(bmff)
        bsource = "the BMFF table passed" if isinstance(bmff, pd.DataFrame) else str(bmff)
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

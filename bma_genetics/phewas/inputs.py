"""Joining the PheWAS inputs: participant table with an optional BMFF table; birth-date checks.

The tables are read through their io contracts (:func:`bma_genetics.io.read_participant_table`,
:func:`~bma_genetics.io.read_bmff_table`, :func:`~bma_genetics.io.read_diagnosis_table`).
"""

from __future__ import annotations

import logging
import os

import numpy as np
import pandas as pd

from bma_genetics import survival as _survival
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


#: Participant-table columns whose dates end a person's follow-up (death 40000, lost 191).
FOLLOW_UP_END_COLUMNS = _survival.FOLLOW_UP_END_COLUMNS


def follow_up_end(
    participants: pd.DataFrame,
    censoring_date: str | None,
    end_columns: list[str] | tuple[str, ...] | None = None,
    source: str = "the participant table",
) -> tuple[pd.Series | None, dict]:
    """Per participant, the date follow-up ends (:func:`bma_genetics.survival.end_of_follow_up`,
    errors named ``run_phewas/...``): the earliest of the censoring date and the dates in
    ``end_columns`` (default death and loss to follow-up where the table has them)."""
    return _survival.end_of_follow_up(participants, censoring_date, end_columns, source, where="run_phewas")


def drop_after_censoring(
    diagnoses: pd.DataFrame,
    participants: pd.DataFrame,
    censoring_date: str | None,
    source: str = "the participant table",
    end_columns: list[str] | tuple[str, ...] | None = (),
) -> tuple[pd.DataFrame, int, int]:
    """Remove (and count) diagnosis records dated after the end of each person's follow-up.

    Parameters
    ----------
    diagnoses : DataFrame
        ``eid, code, date, source``.
    participants : DataFrame
        With ``eid`` and, when ``censoring_date`` or ``end_columns`` name them, those date columns.
    censoring_date : str or None
        An ISO date (end of follow-up for everyone) or a date column of ``participants`` (per
        person; a missing value censors nothing for that person); ``None`` keeps every record.
    source : str
        Name of the participant table, for messages.
    end_columns : list of str, optional, default=()
        Date columns that also end follow-up (:func:`follow_up_end`; ``None``: death and loss to
        follow-up where the table has them).

    Returns
    -------
    diagnoses : DataFrame
        The records dated on or before the end of follow-up, and the undated ones.
    n_after : int
        Records removed.
    n_undated : int
        Records without a date (kept: they cannot be placed in time).

    Raises
    ------
    InputError
        ``censoring_date`` neither a column nor a date.
    """
    dates = pd.to_datetime(diagnoses["date"], errors="coerce")
    n_undated = int(dates.isna().sum())
    end, _ = follow_up_end(participants, censoring_date, end_columns, source)
    if end is None:
        return diagnoses, 0, n_undated
    limit = end.reindex(diagnoses["eid"].astype(str).to_numpy()).to_numpy()
    after = np.asarray(dates.to_numpy() > limit, dtype=bool) & dates.notna().to_numpy() & ~pd.isna(limit)
    n_after = int(after.sum())
    if n_after:
        log.info("%d diagnosis records are dated after the end of follow-up (censoring date %s, %s); they do "
                 "not count", n_after, censoring_date, ", ".join(end_columns or []) or "no other end")
    return diagnoses[~after], n_after, n_undated

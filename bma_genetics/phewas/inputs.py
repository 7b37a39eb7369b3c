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


#: Participant-table columns whose dates end a person's follow-up (death 40000, lost 191).
FOLLOW_UP_END_COLUMNS = ("date_of_death", "date_lost_to_follow_up")


def follow_up_end(
    participants: pd.DataFrame,
    censoring_date: str | None,
    end_columns: list[str] | tuple[str, ...] | None = None,
    source: str = "the participant table",
) -> tuple[pd.Series | None, dict]:
    """Per participant, the date follow-up ends: the earliest of the censoring date and the
    dates in ``end_columns`` (death, loss to follow-up).

    Parameters
    ----------
    participants : DataFrame
        With ``eid`` and the date columns named.
    censoring_date : str or None
        An ISO date (for everyone) or a date column of ``participants`` (per person; missing
        values end nothing); ``None``: no common end.
    end_columns : list of str, optional
        Date columns that end a person's follow-up where present (a missing value ends
        nothing). Default ``None``: those of :data:`FOLLOW_UP_END_COLUMNS` the table has;
        ``[]``: none.
    source : str
        Name of the participant table, for messages.

    Returns
    -------
    end : Series or None
        End date per eid (NaT: open), ``None`` when nothing ends follow-up.
    info : dict
        ``censoring_date``, ``end_columns`` used and ``n_ended_by`` (people whose follow-up each
        column ends before the censoring date).

    Raises
    ------
    InputError
        ``censoring_date`` neither a column nor a date; a named end column absent or not dates.
    """
    from bma_genetics._check import fail

    if end_columns is None:
        cols = [c for c in FOLLOW_UP_END_COLUMNS if c in participants.columns]
    else:
        cols = list(end_columns)
        missing = [c for c in cols if c not in participants.columns]
        if missing:
            raise fail("run_phewas/follow_up_end_columns", f"column(s) {missing} not in {source}; "
                       f"give date columns of the participant table (or [] for none)")
    eids = participants["eid"].astype(str).to_numpy()
    info: dict = {"censoring_date": None if censoring_date is None else str(censoring_date), "end_columns": cols,
                  "n_ended_by": {}}
    if censoring_date is None:
        end = pd.Series(pd.NaT, index=eids, dtype="datetime64[ns]")
    elif censoring_date in participants.columns:
        end = pd.Series(_dates(participants[censoring_date], censoring_date, source), index=eids)
    else:
        try:
            limit = pd.Timestamp(censoring_date)
        except (ValueError, TypeError):
            raise fail("run_phewas/censoring_date", f"{censoring_date!r} is neither an ISO date (YYYY-MM-DD) "
                                                    f"nor a column of {source}") from None
        if pd.isna(limit):
            raise fail("run_phewas/censoring_date", f"{censoring_date!r} is not a date")
        end = pd.Series(limit, index=eids, dtype="datetime64[ns]")
    for c in cols:
        d = pd.Series(_dates(participants[c], c, source), index=eids)
        earlier = d.notna() & (end.isna() | (d < end))
        info["n_ended_by"][c] = int(earlier.sum())
        end = end.where(~earlier, d)
    if censoring_date is None and not cols:
        return None, info
    return end.astype("datetime64[ns]"), info


def _dates(values: pd.Series, column: str, source: str) -> np.ndarray:
    from bma_genetics._check import fail

    if pd.api.types.is_datetime64_any_dtype(values):
        return values.to_numpy().astype("datetime64[ns]")
    parsed = pd.to_datetime(values, errors="coerce")
    bad = parsed.isna() & values.notna()
    if bad.any():
        raise fail("run_phewas/follow_up_end_columns", f"column '{column}' of {source} holds {values[bad].iloc[0]!r}, "
                                                       "not a date")
    return parsed.to_numpy().astype("datetime64[ns]")


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

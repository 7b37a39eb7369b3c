"""Time-to-event outcomes from UK Biobank's diagnosis sources, and the end of follow-up.

A person's record of the outcome is any diagnosis in the long table (:func:`bma_genetics.io.
read_diagnosis_table`: hospital ICD-10 41270/41280 and ICD-9 41271/41281, causes of death
40001/40002 dated by 40000) whose code starts with one of the given prefixes, or a date in one
of the first-occurrence columns of the participant table. Follow-up ends at the earliest of the
censoring date (or the data's end), death (40000) and loss to follow-up (191); records after it
do not count.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd

from bma_genetics._check import fail
from bma_genetics.io.diagnoses import SPECIAL_DATES

log = logging.getLogger(__name__)

#: Participant-table columns whose dates end a person's follow-up (death 40000, lost 191).
FOLLOW_UP_END_COLUMNS = ("date_of_death", "date_lost_to_follow_up")
#: England's HES censoring date in UK Biobank at the time of writing (the simulator's too).
DEFAULT_CENSORING_DATE = "2022-10-31"
_DAY = 365.25
#: Columns of :func:`time_to_event`.
OUTCOME_COLUMNS = ["eid", "baseline_date", "start_date", "first_date", "prevalent", "event", "event_date",
                   "end_of_follow_up", "exit_date", "follow_up_years", "age_at_entry", "age_at_exit"]


def _dates(values: pd.Series, column: str, source: str, where: str) -> np.ndarray:
    if pd.api.types.is_datetime64_any_dtype(values):
        return values.to_numpy().astype("datetime64[ns]")
    parsed = pd.to_datetime(values, errors="coerce")
    bad = parsed.isna() & values.notna()
    if bad.any():
        raise fail(where, f"column '{column}' of {source} holds {values[bad].iloc[0]!r}, not a date")
    return parsed.to_numpy().astype("datetime64[ns]")


def end_of_follow_up(
    participants: pd.DataFrame,
    censoring_date: str | None,
    end_columns: Sequence[str] | None = None,
    source: str = "the participant table",
    *,
    where: str = "end_of_follow_up",
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
    where : str, default="end_of_follow_up"
        The calling function, prefix of error messages (``"run_phewas"``).

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
    if end_columns is None:
        cols = [c for c in FOLLOW_UP_END_COLUMNS if c in participants.columns]
    else:
        cols = list(end_columns)
        missing = [c for c in cols if c not in participants.columns]
        if missing:
            raise fail(f"{where}/follow_up_end_columns", f"column(s) {missing} not in {source}; "
                       f"give date columns of the participant table (or [] for none)")
    eids = participants["eid"].astype(str).to_numpy()
    info: dict = {"censoring_date": None if censoring_date is None else str(censoring_date), "end_columns": cols,
                  "n_ended_by": {}}
    if censoring_date is None:
        end = pd.Series(pd.NaT, index=eids, dtype="datetime64[ns]")
    elif censoring_date in participants.columns:
        end = pd.Series(_dates(participants[censoring_date], censoring_date, source,
                               f"{where}/censoring_date"), index=eids)
    else:
        try:
            limit = pd.Timestamp(censoring_date)
        except (ValueError, TypeError):
            raise fail(f"{where}/censoring_date", f"{censoring_date!r} is neither an ISO date (YYYY-MM-DD) "
                                                  f"nor a column of {source}") from None
        if pd.isna(limit):
            raise fail(f"{where}/censoring_date", f"{censoring_date!r} is not a date")
        end = pd.Series(limit, index=eids, dtype="datetime64[ns]")
    for c in cols:
        d = pd.Series(_dates(participants[c], c, source, f"{where}/follow_up_end_columns"), index=eids)
        earlier = d.notna() & (end.isna() | (d < end))
        info["n_ended_by"][c] = int(earlier.sum())
        end = end.where(~earlier, d)
    if censoring_date is None and not cols:
        return None, info
    return end.astype("datetime64[ns]"), info


def _matches(codes: pd.Series, prefixes: Sequence[str]) -> np.ndarray:
    bare = codes.astype(str).str.upper().str.replace(".", "", regex=False).str.strip()
    pre = tuple(str(p).upper().replace(".", "").strip() for p in prefixes)
    return bare.str.startswith(pre).to_numpy() if pre else np.zeros(len(codes), dtype=bool)


def time_to_event(
    participants: pd.DataFrame,
    diagnoses: pd.DataFrame,
    *,
    icd10: Sequence[str] = (),
    icd9: Sequence[str] = (),
    first_occurrence: Sequence[str] = (),
    sources: Sequence[str] | None = None,
    baseline: str = "scan_date",
    window_days: int = 0,
    censoring_date: str | None = DEFAULT_CENSORING_DATE,
    end_columns: Sequence[str] | None = None,
    age: str | None = "age",
) -> pd.DataFrame:
    """Incident time to the first record of an outcome, censored at the end of follow-up.

    Parameters
    ----------
    participants : DataFrame
        The participant table (:func:`bma_genetics.io.read_participant_table`): ``eid``, the
        ``baseline`` date column, ``age`` at that date, and ``date_of_death`` (40000) /
        ``date_lost_to_follow_up`` (191) when present.
    diagnoses : DataFrame
        The long diagnosis table (:func:`bma_genetics.io.read_diagnosis_table`): ``eid, code,
        date, source, coding``.
    icd10, icd9 : sequence of str
        Code prefixes of the outcome, with or without the dot (osteoporosis: ``("M80", "M81",
        "M82")`` and ``("7330",)``); ICD-10 rows are 41270 and the causes of death 40001/40002,
        ICD-9 rows 41271 (``coding`` tells them apart).
    first_occurrence : sequence of str
        Date columns of ``participants`` that also date a record of the outcome (UK Biobank's
        first-occurrence fields, e.g. 131000-range "date M81 first reported").
    sources : sequence of str, optional
        Keep only diagnosis rows of these sources (``["41270", "41271"]``: hospital only);
        default every source.
    baseline : str, default="scan_date"
        Date column of the baseline (the imaging visit 53-2.0, or the assessment visit 53-0.0).
    window_days : int, default=0
        Follow-up starts ``window_days`` after the baseline (``-182``: the Edinburgh window,
        diagnoses in the half year before imaging are incident). A first record on or before
        the start is prevalent.
    censoring_date : str or None, default="2022-10-31"
        ISO date or a date column: the common end of follow-up; ``None``: the data's end (the
        latest dated diagnosis).
    end_columns : sequence of str, optional
        Date columns that end follow-up earlier (default death and loss to follow-up where the
        table has them; ``[]``: none).
    age : str or None, default="age"
        Age in years at the ``baseline`` date; gives ``age_at_entry`` / ``age_at_exit`` (age as
        the time scale, with delayed entry). ``None``: those columns are NaN.

    Returns
    -------
    DataFrame
        One row per participant with a baseline date: ``eid``, ``baseline_date``,
        ``start_date`` (baseline + window), ``first_date`` (first record in follow-up or before
        it; NaT: none), ``prevalent`` (first record on or before the start, or a record with a
        UK Biobank placeholder date, :data:`bma_genetics.io.diagnoses.SPECIAL_DATES`: a case whose
        date is unknown; leave these people out of an incident analysis), ``event`` (int 0/1: first record after the start and on or
        before the end of follow-up), ``event_date``, ``end_of_follow_up``, ``exit_date`` (event
        date or end of follow-up), ``follow_up_years`` (start to exit, years of 365.25 days),
        ``age_at_entry``, ``age_at_exit``.

    Raises
    ------
    InputError
        Missing columns; no code prefixes or first-occurrence columns; a date column that holds
        no dates; negative follow-up (an end of follow-up, such as a death or loss to follow-up,
        before the start: naming how many and an eid).
    """
    where = "time_to_event"
    source = "the participant table"
    if not (list(icd10) or list(icd9) or list(first_occurrence)):
        raise fail(f"{where}/icd10", "give the outcome's ICD-10 / ICD-9 code prefixes or first-occurrence columns")
    if not isinstance(window_days, (int, np.integer)) or isinstance(window_days, bool):
        raise fail(f"{where}/window_days", f"expected a whole number of days, found {window_days!r}")
    for col in ["eid", baseline, *first_occurrence, *([age] if age else [])]:
        if col not in participants.columns:
            raise fail(f"{where}/participants", f"column '{col}' not in {source}; it has "
                       f"{list(participants.columns)[:20]}")
    for col in ("eid", "code", "date"):
        if col not in diagnoses.columns:
            raise fail(f"{where}/diagnoses", f"the diagnosis table lacks column '{col}'")
    people = participants.assign(eid=participants["eid"].astype(str))
    base = pd.Series(_dates(people[baseline], baseline, source, f"{where}/baseline"), index=people.index)
    if base.isna().any():
        log.info("%s: %d participant(s) without '%s' left out", where, int(base.isna().sum()), baseline)
        people, base = people[base.notna()], base[base.notna()]
    eids = people["eid"].to_numpy()
    end, info = end_of_follow_up(people, censoring_date, end_columns, source, where=where)
    dx = diagnoses[diagnoses["eid"].astype(str).isin(eids)]
    if sources is not None:
        dx = dx[dx["source"].astype(str).isin([str(s) for s in sources])]
    coding = dx["coding"].astype(str) if "coding" in dx.columns else pd.Series("icd10", index=dx.index)
    hit = (coding.eq("icd10").to_numpy() & _matches(dx["code"], icd10)) | (
        coding.eq("icd9").to_numpy() & _matches(dx["code"], icd9))
    rec = pd.DataFrame({"eid": dx["eid"].astype(str).to_numpy()[hit],
                        "date": pd.to_datetime(dx["date"]).to_numpy()[hit]})
    for col in first_occurrence:
        d = _dates(people[col], col, source, f"{where}/first_occurrence")
        rec = pd.concat([rec, pd.DataFrame({"eid": eids, "date": d})], ignore_index=True)
    n_undated = int(rec["date"].isna().sum())
    if n_undated:
        log.info("%s: %d record(s) of the outcome without a date are not used", where, n_undated)
    rec = rec.dropna(subset=["date"])
    # UK Biobank placeholder dates (1900-01-01 unknown, 1901-01-01 before birth, 1902-02-02 birth
    # year, 1903-03-03 after birth, 2037-07-07 in the future): a case whose date is unknown.
    placeholder = rec["date"].isin(list(SPECIAL_DATES)).to_numpy()
    unknown = set(rec["eid"].to_numpy()[placeholder])
    if placeholder.any():
        log.warning("%s: %d record(s) of the outcome carry a UK Biobank placeholder date (e.g. 1900-01-01, "
                    "2037-07-07): %d participant(s) are cases with an unknown date, counted as prevalent and "
                    "left out of incident analyses", where, int(placeholder.sum()), len(unknown))
        rec = rec[~placeholder]
    if end is None:  # censoring_date=None and no end columns: the data's end
        last = pd.to_datetime(diagnoses["date"]).max()
        end = pd.Series(last, index=eids, dtype="datetime64[ns]")
    elif censoring_date is None:
        end = end.fillna(pd.to_datetime(diagnoses["date"]).max())
    end_by_eid = end.reindex(eids)
    limit = end_by_eid.reindex(rec["eid"].to_numpy()).to_numpy()
    after = (rec["date"].to_numpy() > limit) & ~pd.isna(limit)
    if after.any():
        log.info("%s: %d record(s) of the outcome dated after the end of follow-up do not count", where,
                 int(after.sum()))
    first = rec[~after].groupby("eid")["date"].min().reindex(eids)
    start = base.to_numpy().astype("datetime64[ns]") + np.timedelta64(int(window_days), "D")
    stop = end_by_eid.to_numpy().astype("datetime64[ns]")
    negative = stop < start
    if negative.any():
        i = int(np.flatnonzero(negative)[0])
        raise fail(f"{where}/participants", f"{int(negative.sum())} participant(s) with negative follow-up: "
                   f"follow-up ends before it starts (eid {eids[i]}: start {str(start[i])[:10]}, end "
                   f"{str(stop[i])[:10]}, from {info['end_columns'] or 'the censoring date'}); remove people who "
                   "died or were lost to follow-up before the baseline")
    fd = first.to_numpy().astype("datetime64[ns]")
    has = ~np.isnat(fd)
    prevalent = (has & (fd <= start)) | np.isin(eids, list(unknown))
    event = has & ~prevalent
    exit_ = np.where(event, fd, stop)
    years = (exit_ - start) / np.timedelta64(1, "D") / _DAY
    out = pd.DataFrame({
        "eid": eids, "baseline_date": base.to_numpy(), "start_date": start, "first_date": fd,
        "prevalent": prevalent, "event": event.astype(np.int64),
        "event_date": np.where(event, fd, np.datetime64("NaT")).astype("datetime64[ns]"),
        "end_of_follow_up": stop, "exit_date": exit_, "follow_up_years": years,
    })
    if age:
        a0 = pd.to_numeric(people[age], errors="coerce").to_numpy(dtype=np.float64) + window_days / _DAY
        out["age_at_entry"] = a0
        out["age_at_exit"] = a0 + years
    else:
        out["age_at_entry"] = np.nan
        out["age_at_exit"] = np.nan
    log.info("%s: %d participants, %d prevalent (%d with an unknown date), %d incident events, %.0f person-years",
             where, len(out), int(prevalent.sum()), len(unknown), int(event.sum()), float(years[~prevalent].sum()))
    return out[OUTCOME_COLUMNS].reset_index(drop=True)


def quantile_groups(x: pd.Series | np.ndarray, k: int = 3, labels: Sequence[str] | None = None) -> pd.Categorical:
    """Split a score into ``k`` equal-sized groups by its quantiles (tertiles by default).

    Parameters
    ----------
    x : array-like
        Missing values stay missing.
    k : int, default=3
    labels : sequence of str, optional
        Default ``T1..T3`` for ``k=3``, else ``Q1..Qk``; the lowest scores get the first.

    Returns
    -------
    pandas.Categorical
        Ordered, lowest group first.
    """
    if not isinstance(k, (int, np.integer)) or k < 2:
        raise fail("quantile_groups/k", f"expected an integer >= 2, found {k!r}")
    labels = list(labels) if labels is not None else [f"{'T' if k == 3 else 'Q'}{i}" for i in range(1, k + 1)]
    if len(labels) != k:
        raise fail("quantile_groups/labels", f"expected {k} labels, found {len(labels)}")
    v = pd.Series(np.asarray(x, dtype=np.float64))
    if v.notna().sum() < k:
        raise fail("quantile_groups/x", f"{int(v.notna().sum())} non-missing value(s); need at least {k}")
    ranks = v.rank(method="first")
    return pd.Categorical(pd.qcut(ranks, k, labels=labels), categories=labels, ordered=True)

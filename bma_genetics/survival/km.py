"""Kaplan-Meier cumulative incidence by group, with delayed entry and numbers at risk.

Estimates equal R ``survival::survfit`` (survival, its Greenwood standard error of the
cumulative hazard ``std.err``, the ``log`` confidence interval, its default); a person is at
risk at ``t`` when ``entry < t <= exit`` (``Surv(entry, exit, event)``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from bma_genetics._check import fail
from bma_genetics.survival.cox import check_survival_data

_Z975 = stats.norm.isf(0.025)
#: Columns of :func:`kaplan_meier`'s table.
KM_COLUMNS = ["group", "time", "n_at_risk", "n_events", "n_censored", "survival", "standard_error",
              "cumulative_incidence", "ci_lower", "ci_upper"]


def _km_one(exit_: np.ndarray, event: np.ndarray, entry: np.ndarray | None) -> pd.DataFrame:
    times = np.unique(exit_)
    n_ev = np.bincount(np.searchsorted(times, exit_[event]), minlength=len(times))
    n_out = np.bincount(np.searchsorted(times, exit_), minlength=len(times))
    xs = np.sort(exit_)
    at_risk = len(xs) - np.searchsorted(xs, times, side="left")
    if entry is not None:
        es = np.sort(entry)
        at_risk = at_risk - (len(es) - np.searchsorted(es, times, side="left"))  # entry >= t: not yet
    with np.errstate(divide="ignore", invalid="ignore"):
        haz = np.where(at_risk > 0, n_ev / at_risk, 0.0)
        surv = np.cumprod(1 - haz)
        # Greenwood: variance of the cumulative hazard (survfit's std.err, on the log scale)
        term = np.where((at_risk > n_ev) & (at_risk > 0), n_ev / (at_risk * (at_risk - n_ev)), 0.0)
        term = np.where(at_risk == n_ev, np.inf, term) * (n_ev > 0)
        term = np.nan_to_num(term, nan=0.0)
        se_log = np.sqrt(np.cumsum(term))
        lo = np.clip(surv * np.exp(-_Z975 * se_log), 0, 1)
        hi = np.clip(surv * np.exp(_Z975 * se_log), 0, 1)
    return pd.DataFrame({"time": times, "n_at_risk": at_risk.astype(np.int64), "n_events": n_ev.astype(np.int64),
                         "n_censored": (n_out - n_ev).astype(np.int64), "survival": surv,
                         "standard_error": se_log, "cumulative_incidence": 1 - surv,
                         "ci_lower": 1 - hi, "ci_upper": 1 - lo})


def _groups(data: pd.DataFrame, group: str | None, where: str = "kaplan_meier") -> list:
    if group is None:
        return ["all"]
    if not isinstance(data, pd.DataFrame):
        raise fail(f"{where}/data", f"expected a DataFrame, found {type(data).__name__}")
    if group not in data.columns:
        raise fail(f"{where}/group", f"column '{group}' not in the table; it has {list(data.columns)[:20]}")
    g = data[group]
    levels = list(g.cat.categories) if isinstance(g.dtype, pd.CategoricalDtype) else sorted(g.dropna().unique())
    return [lv for lv in levels if (g == lv).any()]


def kaplan_meier(
    data: pd.DataFrame,
    *,
    duration: str = "follow_up_years",
    event: str = "event",
    group: str | None = None,
    entry: str | None = None,
) -> pd.DataFrame:
    """Kaplan-Meier survival and cumulative incidence (1 - S), per group.

    Parameters
    ----------
    data : DataFrame
        One row per person (rows missing a column used are left out).
    duration, event : str, default="follow_up_years", "event"
    group : str, optional
        Column of group labels (e.g. score tertiles; a categorical keeps its order); ``None``:
        one curve, group ``"all"``.
    entry : str, optional
        Delayed entry: at risk on ``(entry, duration]``.

    Returns
    -------
    DataFrame
        One row per group and distinct time: ``group, time, n_at_risk, n_events, n_censored,
        survival, standard_error`` (Greenwood SE of the cumulative hazard, R's ``std.err``),
        ``cumulative_incidence`` (1 - survival), ``ci_lower, ci_upper`` (95 % interval of the
        cumulative incidence from R's default ``log`` interval of survival).

    Raises
    ------
    InputError
        Missing columns, negative follow-up, exit before entry, events not 0/1.
    """
    if group is not None and (not isinstance(data, pd.DataFrame) or group not in data.columns):
        _groups(data, group, where="kaplan_meier")
    sub = check_survival_data(data, duration=duration, event=event, entry=entry, where="kaplan_meier")
    if group:
        sub = sub[sub[group].notna()]
    frames = []
    for lv in _groups(sub, group):
        part = sub if group is None else sub[sub[group] == lv]
        ent = part[entry].to_numpy(dtype=np.float64) if entry else None
        km = _km_one(part[duration].to_numpy(dtype=np.float64), part[event].to_numpy().astype(bool), ent)
        frames.append(km.assign(group=str(lv)))
    return pd.concat(frames, ignore_index=True)[KM_COLUMNS]


def numbers_at_risk(
    data: pd.DataFrame,
    *,
    times: Sequence[float],
    duration: str = "follow_up_years",
    event: str = "event",
    group: str | None = None,
    entry: str | None = None,
) -> pd.DataFrame:
    """People at risk at each of ``times`` per group (the risk table under a KM plot).

    At risk at ``t``: entered before ``t`` and not yet out (``entry < t <= exit``, as
    :func:`kaplan_meier`'s ``n_at_risk`` and the Cox risk sets; someone entering at ``t`` is not
    yet at risk at ``t``; at ``t = 0`` on the follow-up scale, everyone).

    Returns
    -------
    DataFrame
        ``group, time, n_at_risk``, one row per group and time.
    """
    t = np.asarray(list(times), dtype=np.float64)
    if t.ndim != 1 or not np.all(np.isfinite(t)):
        raise fail("numbers_at_risk/times", "give finite times")
    if group is not None:
        _groups(data, group, where="numbers_at_risk")
    sub = check_survival_data(data, duration=duration, event=event, entry=entry, where="numbers_at_risk")
    if group:
        sub = sub[sub[group].notna()]
    rows = []
    for lv in _groups(sub, group, where="numbers_at_risk"):
        part = sub if group is None else sub[sub[group] == lv]
        x = part[duration].to_numpy(dtype=np.float64)
        e = part[entry].to_numpy(dtype=np.float64) if entry else np.full(len(x), -np.inf)
        for ti in t:
            rows.append({"group": str(lv), "time": float(ti), "n_at_risk": int(((e < ti) & (x >= ti)).sum())})
    return pd.DataFrame(rows, columns=["group", "time", "n_at_risk"])

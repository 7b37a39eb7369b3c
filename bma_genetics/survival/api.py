"""Survival by a score: Cox per SD and by quantile group, Kaplan-Meier by group, risk table.

:func:`survival_by_score` is what the ``prs`` stage (score -> incident osteoporosis) and a
notebook call; the pieces (:func:`~bma_genetics.survival.time_to_event`,
:func:`~bma_genetics.survival.cox_per_sd`, :func:`~bma_genetics.survival.cox_by_group`,
:func:`~bma_genetics.survival.kaplan_meier`, :func:`~bma_genetics.survival.numbers_at_risk`)
are public too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from bma_genetics._check import fail
from bma_genetics._result import StageResult
from bma_genetics.survival.cox import CoxFit, check_survival_data, cox_by_group, cox_per_sd
from bma_genetics.survival.km import kaplan_meier, numbers_at_risk
from bma_genetics.survival.outcomes import quantile_groups

#: Columns of :meth:`SurvivalResult.to_frame`.
HR_COLUMNS = ["model", "term", "group", "hazard_ratio", "ci_lower", "ci_upper", "beta", "standard_error",
              "p_value", "n", "n_events", "concordance", "ph_p_value"]


@dataclass
class SurvivalResult(StageResult):
    """Result of :func:`survival_by_score`.

    Attributes
    ----------
    table : DataFrame
        Hazard ratios (:data:`HR_COLUMNS`): ``model`` ``per_sd`` (one row, the score) and
        ``group`` (one row per group, the reference with HR 1), covariates left out.
    per_sd, by_group : CoxFit
        The two fitted models (every term, C-index, proportional-hazards tests).
    km : DataFrame
        :func:`~bma_genetics.survival.kaplan_meier` by group.
    risk_table : DataFrame
        :func:`~bma_genetics.survival.numbers_at_risk` at ``risk_times``.
    """

    per_sd: CoxFit | None = None
    by_group: CoxFit | None = None
    km: pd.DataFrame = field(default_factory=pd.DataFrame)
    risk_table: pd.DataFrame = field(default_factory=pd.DataFrame)


def _nice_times(lo: float, hi: float, n: int = 5) -> np.ndarray:
    """About ``n`` round times from ``lo`` to ``hi`` (steps of 1, 2, 5 x 10^k) for a risk table."""
    span = max(hi - lo, 1e-9)
    raw = span / n
    mag = 10 ** np.floor(np.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    first = np.ceil(lo / step) * step
    return np.unique(np.r_[lo, np.arange(first, hi + 1e-9, step)])


def _hr_rows(fit: CoxFit, model: str, terms: Sequence[str], groups: Sequence[str | None]) -> list[dict[str, Any]]:
    ph = fit.ph_test.set_index("term")["p_value"]
    rows = []
    for term, grp in zip(terms, groups, strict=True):
        r = fit.row(term)
        rows.append({"model": model, "term": term, "group": grp, **{k: r[k] for k in (
            "hazard_ratio", "ci_lower", "ci_upper", "beta", "standard_error", "p_value")},
            "n": fit.n, "n_events": fit.n_events, "concordance": fit.concordance,
            "ph_p_value": float(ph.get(term, np.nan))})
    return rows


def survival_by_score(
    data: pd.DataFrame,
    score: str,
    covariates: Sequence[str] = ("age", "sex", "bmi"),
    *,
    k: int = 3,
    duration: str = "follow_up_years",
    event: str = "event",
    entry: str | None = None,
    risk_times: Sequence[float] | None = None,
    exclude_prevalent: bool = True,
) -> SurvivalResult:
    """Cox models of a score (per SD and by ``k`` quantile groups) and Kaplan-Meier by group.

    Parameters
    ----------
    data : DataFrame
        One row per person: the time-to-event columns (:func:`~bma_genetics.survival.
        time_to_event`), the score and the covariates (merge them on ``eid``).
    score : str
        Score column (e.g. a polygenic score).
    covariates : sequence of str, default=("age", "sex", "bmi")
        Adjustment (numeric columns). Rows missing any column used are left out.
    k : int, default=3
        Quantile groups (tertiles ``T1..T3``; ``T1``, the lowest scores, is the reference).
    duration, event, entry : str
        As :func:`~bma_genetics.survival.fit_cox` (``duration="age_at_exit",
        entry="age_at_entry"``: age as the time scale).
    risk_times : sequence of float, optional
        Times of the risk table (default: the first entry (0 on follow-up time) and round times
        every 1, 2 or 5 x 10^k up to the last exit, about five).
    exclude_prevalent : bool, default=True
        Leave out rows with ``prevalent`` true when the table has that column.

    Returns
    -------
    SurvivalResult
        ``.to_frame()`` the hazard ratios, ``.per_sd``, ``.by_group``, ``.km``,
        ``.risk_table``, ``.summary()``.

    Raises
    ------
    InputError
        Missing columns, no events, negative follow-up, events dated after the end of
        follow-up (as :func:`~bma_genetics.survival.fit_cox`).
    """
    if score not in data.columns:
        raise fail("survival_by_score/score", f"column '{score}' not in the table")
    covariates = [c for c in covariates if c != score]
    frame = data
    n_prevalent = 0
    if exclude_prevalent and "prevalent" in frame.columns:
        prev = frame["prevalent"].fillna(False).astype(bool)
        n_prevalent = int(prev.sum())
        frame = frame[~prev]
    frame = check_survival_data(frame, duration=duration, event=event, entry=entry,
                                columns=[score, *covariates], where="survival_by_score")
    frame = frame.assign(score_group=quantile_groups(frame[score], k))
    per_sd = cox_per_sd(frame, score, covariates, duration=duration, event=event, entry=entry)
    by_group = cox_by_group(frame, "score_group", covariates, duration=duration, event=event, entry=entry)
    levels = by_group.extra["levels"]
    rows = _hr_rows(per_sd, "per_sd", [score], [None])
    ref = {"model": "group", "term": f"score_group[{levels[0]}]", "group": levels[0], "hazard_ratio": 1.0,
           "ci_lower": 1.0, "ci_upper": 1.0, "beta": 0.0, "standard_error": np.nan, "p_value": np.nan,
           "n": by_group.n, "n_events": by_group.n_events, "concordance": by_group.concordance, "ph_p_value": np.nan}
    rows += [ref, *_hr_rows(by_group, "group", [f"score_group[{lv}]" for lv in levels[1:]], levels[1:])]
    table = pd.DataFrame(rows, columns=HR_COLUMNS)
    km = kaplan_meier(frame, duration=duration, event=event, group="score_group", entry=entry)
    if risk_times is None:
        lo = float(frame[entry].min()) if entry else 0.0
        hi = float(frame[duration].max())
        risk_times = _nice_times(lo, hi)
    risk = numbers_at_risk(frame, times=risk_times, duration=duration, event=event, group="score_group", entry=entry)
    report = {
        "score": score, "covariates": list(covariates), "groups": k, "n": per_sd.n, "n_events": per_sd.n_events,
        "n_prevalent_excluded": n_prevalent,
        "time_scale": per_sd.time_scale,
        "hazard_ratio_per_sd": float(table.loc[0, "hazard_ratio"]),
        "ci_per_sd": [float(table.loc[0, "ci_lower"]), float(table.loc[0, "ci_upper"])],
        "p_value_per_sd": float(table.loc[0, "p_value"]),
        "concordance": per_sd.concordance,
        "ph_global_p_value": float(per_sd.ph_test.set_index("term").loc["GLOBAL", "p_value"]),
        f"hazard_ratio_{levels[-1]}_vs_{levels[0]}": float(table["hazard_ratio"].iloc[-1]),
    }
    return SurvivalResult(table=table, report=report, per_sd=per_sd, by_group=by_group, km=km, risk_table=risk)

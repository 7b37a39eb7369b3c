"""Time-to-event analysis: outcomes from UK Biobank's sources, Cox models, Kaplan-Meier.

A library at layer 2 (like ``ld/``), used by the ``prs`` and ``phewas`` stages:

- :func:`time_to_event`: incident vs prevalent outcome from hospital ICD-10/ICD-9, death
  registry and first-occurrence records, follow-up censored at death (40000), loss to
  follow-up (191) or the censoring date; follow-up and age time scales;
- :func:`fit_cox`, :func:`cox_per_sd`, :func:`cox_by_group`: Cox models (Efron ties, delayed
  entry) with hazard ratios, intervals, C-index and the Schoenfeld-residual test; equal to R
  ``survival::coxph``;
- :func:`kaplan_meier`, :func:`numbers_at_risk`: cumulative incidence by group, equal to R
  ``survival::survfit``;
- :func:`survival_by_score`: all of it for a score by tertile.

See ``docs/survival.md``.
"""

from bma_genetics.survival.api import HR_COLUMNS, SurvivalResult, survival_by_score
from bma_genetics.survival.cox import (
    COX_COLUMNS,
    CoxArrays,
    CoxFit,
    check_survival_data,
    concordance,
    cox_arrays,
    cox_by_group,
    cox_per_sd,
    fit_cox,
    ph_test,
    standardise,
)
from bma_genetics.survival.km import KM_COLUMNS, kaplan_meier, numbers_at_risk
from bma_genetics.survival.outcomes import (
    DEFAULT_CENSORING_DATE,
    FOLLOW_UP_END_COLUMNS,
    OUTCOME_COLUMNS,
    end_of_follow_up,
    quantile_groups,
    time_to_event,
)

__all__ = [
    "COX_COLUMNS", "DEFAULT_CENSORING_DATE", "FOLLOW_UP_END_COLUMNS", "HR_COLUMNS", "KM_COLUMNS", "OUTCOME_COLUMNS",
    "CoxArrays", "CoxFit", "SurvivalResult", "check_survival_data", "concordance", "cox_arrays", "cox_by_group",
    "cox_per_sd", "end_of_follow_up", "fit_cox", "kaplan_meier", "numbers_at_risk", "ph_test", "quantile_groups",
    "standardise", "survival_by_score", "time_to_event",
]

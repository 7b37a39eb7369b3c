"""PheWAS: exposures (BMFF per SD, a score, a genotype) against every phecode.

Public entry point: :func:`run_phewas`, returning a :class:`PheWASResult`. The steps are plain
functions too (:func:`build_case_control`, :func:`add_multiple_testing`,
:func:`suppress_small_counts`, :func:`write_results`) so a notebook can run them one at a time.
Figures are drawn from the result by :func:`bma_genetics.phewas.figures.write_phewas_figures`.
"""

from __future__ import annotations

import logging
import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse, stats
from tqdm import tqdm

from bma_genetics import survival as _survival
from bma_genetics._atomic import write_text
from bma_genetics._blas import blas_threads
from bma_genetics._check import check_one_of, fail
from bma_genetics._result import StageResult
from bma_genetics.io import design_covariates, read_diagnosis_table
from bma_genetics.io.diagnoses import DISTINCT_CODE_SOURCES
from bma_genetics.io.results import write_phewas_results
from bma_genetics.phewas import inputs as _inputs
from bma_genetics.phewas import mapping as _mapping
from bma_genetics.phewas import models as _models
from bma_genetics.stats import bonferroni, fdr_bh, wald_neg_log10_p, wald_p

log = logging.getLogger(__name__)

#: The PheWAS results contract (DESIGN.md), then the multiple-testing columns.
RESULT_COLUMNS = [
    "exposure", "phecode", "phecode_string", "category", "n_cases", "n_controls",
    "beta", "standard_error", "odds_ratio", "ci_lower", "ci_upper", "p_value", "method", "converged",
    "neg_log_10_p_value", "bonferroni", "fdr", "sex_restriction", "reason",
]
METHODS = ("logit", "cox")
#: Time scales of the Cox option: years since the start of follow-up, or age (delayed entry).
COX_TIME_SCALES = ("follow_up", "age")
#: Records needed for a case when ``min_phecode_count=None`` (by source): one from a source that
#: lists each distinct code once per person (:data:`~bma_genetics.io.diagnoses.DISTINCT_CODE_SOURCES`,
#: e.g. 41270), two from an episode-level table (PheTK's habit for EHR episodes).
MIN_COUNT_DISTINCT_SOURCE = 1
MIN_COUNT_EPISODE_SOURCE = 2
FIRTH_MODES = ("auto", "never", "always")
_Z975 = stats.norm.isf(0.025)


@dataclass
class CaseControl:
    """Cases and eligible controls of every phecode for one analysis sample.

    Controls are not stored: a person is a control of phecode ``j`` when eligible for it (right
    sex) and not in ``excluded[:, j]`` (anyone with the phecode, its exclusion range, or, for
    Cox, a diagnosis before follow-up starts). Cases are always in ``excluded``.

    Attributes
    ----------
    phecodes : list of str, length n_phecodes
    case : scipy.sparse.csc_matrix of shape (n_people, n_phecodes), bool
    excluded : scipy.sparse.csc_matrix of shape (n_people, n_phecodes), bool
    eligible : ndarray of shape (n_people, 3), bool
        Columns: everyone, female, male.
    group : ndarray of shape (n_phecodes,), int
        Column of ``eligible`` that applies to each phecode.
    n_cases, n_controls : ndarray of shape (n_phecodes,)
    sex_restriction : ndarray of shape (n_phecodes,), str
    first_date : scipy.sparse.csc_matrix or None
        Days since 1970 of each first diagnosis, plus one (0 means no date).
    """

    phecodes: list[str]
    case: sparse.csc_matrix
    excluded: sparse.csc_matrix
    eligible: np.ndarray
    group: np.ndarray
    n_cases: np.ndarray
    n_controls: np.ndarray
    sex_restriction: np.ndarray
    first_date: sparse.csc_matrix | None = None

    def block(self, cols: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Dense outcome ``Y`` and participation mask ``M`` for phecodes ``cols``, people ``rows``."""
        Y = self.case[:, cols][rows].toarray()
        E = self.excluded[:, cols][rows].toarray()
        return Y.astype(np.float64), (~E | Y).astype(np.float64)


def _bool_csc(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> sparse.csc_matrix:
    m = sparse.csc_matrix((np.ones(len(rows), dtype=np.float64), (rows, cols)), shape=shape)
    m.data[:] = 1.0  # duplicates summed; back to 0/1
    return m


def build_case_control(
    eids: pd.Series,
    sex: np.ndarray | None,
    counts: pd.DataFrame,
    meta: pd.DataFrame,
    *,
    min_phecode_count: int | None = None,
    use_exclusion: bool = False,
    start_dates: np.ndarray | None = None,
) -> CaseControl:
    """Cases and controls of every phecode seen in ``counts`` (PheTK's rules).

    A case has at least ``min_phecode_count`` records of the phecode (``None``: by source,
    :func:`is_case`). A control has none of
    it and (``use_exclusion``, phecode 1.2) none of the phecodes in its exclusion range.
    Sex-restricted phecodes take people of that sex only (``sex``: 0 female, 1 male). With
    ``start_dates`` (Cox), people first diagnosed before their start date are neither.
    """
    index = pd.Index(eids.astype(str).to_numpy())
    meta = meta.set_index("phecode")
    counts = counts[counts["eid"].isin(index) & counts["phecode"].isin(meta.index)]
    phecodes = sorted(counts["phecode"].unique())
    n, m = len(index), len(phecodes)
    col = pd.Index(phecodes)
    rows = index.get_indexer(counts["eid"].to_numpy())
    cols = col.get_indexer(counts["phecode"].to_numpy())
    shape = (n, m)
    excluded = _bool_csc(rows, cols, shape)
    is_case = case_rule(counts, min_phecode_count)
    case = _bool_csc(rows[is_case], cols[is_case], shape)
    if use_exclusion and m:
        ex = _mapping.expand_exclusions(meta.reset_index().loc[lambda d: d["phecode"].isin(col)], phecodes)
        r_rows = [col.get_loc(o) for code, others in ex.items() for o in others]
        r_cols = [col.get_loc(code) for code, others in ex.items() for _ in others]
        if r_rows:
            R = _bool_csc(np.array(r_rows), np.array(r_cols), (m, m))
            excluded = excluded + excluded @ R
            excluded.data[:] = 1.0
    first = None
    dates = counts["first_date"]
    if dates.notna().any():
        days = (dates.to_numpy().astype("datetime64[D]").astype(np.int64) + 1).astype(np.float64)
        days[dates.isna().to_numpy()] = 0
        first = sparse.csc_matrix((days, (rows, cols)), shape=shape)
        if start_dates is not None:
            start = np.asarray(start_dates, dtype="datetime64[D]").astype(np.int64)[rows]
            before = (days > 0) & (days - 1 < start)
            prevalent = _bool_csc(rows[before], cols[before], shape)
            case = case - case.multiply(prevalent)
            case.eliminate_zeros()
            excluded = excluded + prevalent
            excluded.data[:] = 1.0
    case = sparse.csc_matrix(case, dtype=bool)
    excluded = sparse.csc_matrix(excluded, dtype=bool)
    restriction = meta.loc[phecodes, "sex"].to_numpy().astype(str) if m else np.array([], dtype=str)
    eligible = np.ones((n, 3), dtype=bool)
    if sex is not None:
        eligible[:, 1] = sex == 0
        eligible[:, 2] = sex == 1
    group = np.select([restriction == "Female", restriction == "Male"], [1, 2], 0)
    E = eligible.T.astype(np.float64)
    cases_by = np.asarray((sparse.csr_matrix(E) @ case.astype(np.float64)).todense())
    excl_by = np.asarray((sparse.csr_matrix(E) @ excluded.astype(np.float64)).todense())
    pick = (group, np.arange(m))
    return CaseControl(
        phecodes=phecodes,
        case=case,
        excluded=excluded,
        eligible=eligible,
        group=group,
        n_cases=cases_by[pick].astype(np.int64),
        n_controls=(eligible.sum(axis=0)[group] - excl_by[pick]).astype(np.int64),
        sex_restriction=restriction,
        first_date=first,
    )


def case_rule(counts: pd.DataFrame, min_phecode_count: int | None = None) -> np.ndarray:
    """Which (person, phecode) rows of :func:`~bma_genetics.phewas.mapping.count_phecodes` are cases.

    ``min_phecode_count`` records of any source; ``None`` (the default) by source: one record
    from a distinct-code source such as field 41270 (:data:`MIN_COUNT_DISTINCT_SOURCE`), or two
    from episode-level tables (:data:`MIN_COUNT_EPISODE_SOURCE`).
    """
    total = counts["count"].to_numpy()
    if min_phecode_count is not None:
        return total >= min_phecode_count
    distinct = counts["count_distinct_source"].to_numpy() if "count_distinct_source" in counts.columns \
        else np.zeros(len(counts), dtype=np.int64)
    return (distinct >= MIN_COUNT_DISTINCT_SOURCE) | (total - distinct >= MIN_COUNT_EPISODE_SOURCE)


def min_count_by_source(sources: pd.Series, min_phecode_count: int | None = None) -> dict[str, int]:
    """The records a case needs from each source present (what the results record)."""
    names = sorted({str(v) for v in sources.fillna("").unique()})
    if min_phecode_count is not None:
        return {name: int(min_phecode_count) for name in names}
    return {name: MIN_COUNT_DISTINCT_SOURCE if name in DISTINCT_CODE_SOURCES else MIN_COUNT_EPISODE_SOURCE
            for name in names}


def add_multiple_testing(results: pd.DataFrame) -> pd.DataFrame:
    """Add ``neg_log_10_p_value`` (if absent), ``bonferroni`` and ``fdr`` within each exposure.

    ``bonferroni`` is the Bonferroni-adjusted p-value ``min(1, p * m)``; ``fdr`` the
    Benjamini-Hochberg q-value; ``m`` is the number of phecodes tested for that exposure.
    """
    out = results.copy()
    if "neg_log_10_p_value" not in out.columns:
        out["neg_log_10_p_value"] = -np.log10(out["p_value"])
    out["bonferroni"] = np.nan
    out["fdr"] = np.nan
    for _, idx in out.groupby("exposure", sort=False).groups.items():
        p = out.loc[idx, "p_value"].to_numpy(dtype=float)
        if not np.isfinite(p).any():
            continue
        bon, q = bonferroni(p), fdr_bh(p)
        out.loc[idx, "bonferroni"] = bon
        out.loc[idx, "fdr"] = q
    return out


def suppress_small_counts(results: pd.DataFrame, threshold: int) -> pd.DataFrame:
    """Blank ``n_cases``/``n_controls`` below ``threshold`` (UK Biobank's small-cell rule)."""
    out = results.copy()
    for col in ("n_cases", "n_controls"):
        vals = out[col].astype("Int64")
        out[col] = vals.mask(vals < threshold)
    return out


def write_results(results: pd.DataFrame, path: str | os.PathLike, *, suppress_below: int | None = None) -> Path:
    """Write the results table (:func:`bma_genetics.io.write_phewas_results`), suppressing small
    counts if asked."""
    frame = suppress_small_counts(results, suppress_below) if suppress_below else results
    return write_phewas_results(frame, path)


@dataclass
class PheWASResult(StageResult):
    """Result of :func:`run_phewas`.

    Attributes
    ----------
    table : DataFrame
        The results (schema in :func:`run_phewas`), counts unsuppressed.
    report : dict
        Counts and warnings (participants, unmapped ICD codes, records before birth, skipped
        phecodes per exposure, ``n_tests``, ``n_firth``, ``n_not_converged``) and, with ``out``,
        ``settings`` and ``bonferroni_threshold`` per exposure: what ``phewas_report.json`` holds.
    files : dict of str to Path
        ``results`` and ``report`` when ``out`` was given.
    """

    def summary(self) -> dict[str, Any]:
        """Headline numbers: tests, Bonferroni/FDR hits, Firth refits, unmapped records and codes,
        codes mapped through their category, the records a case needed per source, the censoring
        date and the records after it, files."""
        res = self.table
        out = {
            "n_tests": int(len(res)),
            "n_bonferroni_significant": int((res["bonferroni"] < 0.05).sum()),
            "n_fdr_significant": int((res["fdr"] < 0.05).sum()),
            "n_firth": int((res["method"] == "firth").sum()),
            "n_participants": self.report.get("n_participants"),
            "unmapped_icd_records": self.report.get("n_unmapped_records"),
            "unmapped_icd_codes": self.report.get("unmapped_code_list"),
            "fallback_icd_codes": self.report.get("fallback_codes"),
            "min_phecode_count": self.report.get("min_phecode_count"),
            "censoring_date": self.report.get("censoring_date"),
            "follow_up_end_columns": (self.report.get("follow_up") or {}).get("end_columns"),
            "n_follow_up_ended_by": (self.report.get("follow_up") or {}).get("n_ended_by"),
            "n_records_after_censoring": self.report.get("n_records_after_censoring"),
            "cases": self.report.get("cases", "all"),
        }
        if self.files:
            out["files"] = {k: str(v) for k, v in self.files.items()}
        return out


def _standardise(x: np.ndarray) -> np.ndarray:
    sd = x.std(ddof=1)
    return (x - x.mean()) / sd


def _sample(
    participants: pd.DataFrame, exposure: str, covariates: list[str], sex_col: str | None, source: str,
    extra: list[str],
) -> pd.DataFrame:
    cols = [exposure, *covariates, *([sex_col] if sex_col and sex_col not in covariates else []), *extra]
    cols = list(dict.fromkeys(cols))
    for c in cols:
        if c in extra:
            continue
        if not pd.api.types.is_numeric_dtype(participants[c]) and not pd.api.types.is_bool_dtype(participants[c]):
            raise fail("run_phewas/covariates", f"column '{c}' of {source} is not numeric "
                                                f"({participants[c].dtype}); encode it as numbers first")
    sub = participants[["eid", *cols]].dropna(subset=[c for c in cols if c not in extra])
    if sex_col and sex_col in sub.columns:
        bad = ~sub[sex_col].isin([0, 1])
        if bad.any():
            raise fail("run_phewas/sex_col", f"column '{sex_col}' of {source} must be 0 (female) / 1 (male); "
                                             f"found {sorted(sub.loc[bad, sex_col].unique())[:5]}")
    return sub.reset_index(drop=True)


def _check_finite(sample: pd.DataFrame, columns: list[str], source: str) -> None:
    """Refuse an exposure or covariate with +-inf values (NaN rows are already dropped)."""
    for c in dict.fromkeys(columns):
        if c not in sample.columns or pd.api.types.is_bool_dtype(sample[c]):
            continue
        v = sample[c].to_numpy(dtype=np.float64)
        bad = ~np.isfinite(v)
        if bad.any():
            what = "exposures" if c == columns[0] else "covariates"
            raise fail(f"run_phewas/{what}", f"column '{c}' of {source} has {int(bad.sum())} non-finite value(s) "
                       f"({sorted({str(x) for x in v[bad]})}); give missing values as NA")


def _not_estimable(f: dict[str, Any]) -> str:
    """Why a phecode's fit gives no P-value ('' when it does)."""
    b, s = f.get("beta", np.nan), f.get("standard_error", np.nan)
    if not (np.isfinite(b) and np.isfinite(s)):
        return "not estimable: non-finite estimate or standard error"
    if s <= 0:
        return "not estimable: zero standard error"
    return ""


def _fit_blocks(jobs, n_jobs: int, desc: str) -> list:
    """Run block jobs on ``n_jobs`` threads (numpy releases the GIL), BLAS single-threaded."""
    if not jobs:
        return []
    with blas_threads(1):
        if n_jobs <= 1 or len(jobs) == 1:
            return [fn() for fn in tqdm(jobs, desc=desc, disable=None, leave=False)]
        with ThreadPoolExecutor(max_workers=n_jobs) as pool:
            futures = [pool.submit(fn) for fn in jobs]
            return [f.result() for f in tqdm(futures, desc=desc, disable=None, leave=False)]


def _logit_exposure(
    X_full: np.ndarray, sex: np.ndarray | None, sex_in_design: int | None, cc: CaseControl,
    tested: np.ndarray, *, firth: str, firth_below_cases: int, block_size: int, n_jobs: int,
) -> dict[int, dict[str, Any]]:
    """Fit every tested phecode; column 0 of the design is the exposure."""
    out: dict[int, dict[str, Any]] = {}
    groups = {"Both": None, "Female": 0, "Male": 1}
    jobs, meta = [], []
    for restriction, sex_value in groups.items():
        js = tested[cc.sex_restriction[tested] == restriction]
        if js.size == 0:
            continue
        if sex_value is None or sex is None:  # no sex column: restricted phecodes use everyone
            rows = np.arange(X_full.shape[0])
            X = X_full
        else:
            rows = np.flatnonzero(sex == sex_value)
            X = X_full[rows]
        if sex_value is not None and sex_in_design is not None:
            X = np.delete(X, sex_in_design, axis=1)
        X = np.ascontiguousarray(X)
        # keep each dense (people x phecodes) working array near 200 MB on biobank-sized cohorts
        step = max(8, min(block_size, 25_000_000 // max(len(rows), 1)))
        for start in range(0, js.size, step):
            block = js[start:start + step]

            def job(block=block, rows=rows, X=X):
                Y, M = cc.block(block, rows)
                fit = _models.fit_logistic_batch(X, Y, M)
                if firth == "always":
                    need = np.ones(len(block), dtype=bool)
                elif firth == "auto":
                    need = fit.separated | ~fit.converged | (cc.n_cases[block] < firth_below_cases)
                else:
                    need = np.zeros(len(block), dtype=bool)
                # Firth refits only the phecodes that need it, again batched over the block
                firth_res = _models.firth_test_batch(X, Y[:, need], M[:, need], 0) if need.any() else []
                return fit, need, firth_res

            jobs.append(job)
            meta.append(block)
    n_firth = 0
    for block, (fit, need, firth_res) in zip(meta, _fit_blocks(jobs, n_jobs, "phecode blocks"), strict=True):
        p, nlp = wald_p(fit.beta[:, 0], fit.se[:, 0]), wald_neg_log10_p(fit.beta[:, 0], fit.se[:, 0])
        for i, j in enumerate(block):
            if need[i]:
                continue
            out[j] = {"beta": float(fit.beta[i, 0]), "standard_error": float(fit.se[i, 0]), "p_value": float(p[i]),
                      "neg_log_10_p_value": float(nlp[i]), "method": "logit",
                      "converged": bool(fit.converged[i] and not fit.separated[i])}
        for j, res in zip(block[need], firth_res, strict=True):
            out[j] = {**res, "method": "firth"}
        n_firth += int(need.sum())
    if n_firth:
        log.info("Firth regression used for %d phecodes (separation, non-convergence or < %d cases)",
                 n_firth, firth_below_cases)
    return out


def _cox_exposure(
    X_full: np.ndarray, sex: np.ndarray | None, sex_in_design: int | None, cc: CaseControl,
    tested: np.ndarray, start_days: np.ndarray, censor_days: np.ndarray, *, n_jobs: int,
    age_at_start: np.ndarray | None = None,
) -> dict[int, dict[str, Any]]:
    """Cox proportional hazards per phecode (:func:`bma_genetics.survival.cox_arrays`: Efron ties,
    equal to R ``coxph``). With ``age_at_start``, age is the time scale: people enter at their age
    at the start of follow-up (delayed entry) and leave at their age at the event or censoring."""
    X_nc = X_full[:, :-1]  # no intercept in a Cox model
    out: dict[int, dict[str, Any]] = {}

    def job(j):
        restriction = cc.sex_restriction[j]
        if restriction == "Both" or sex is None:
            rows = np.arange(X_nc.shape[0])
        else:
            rows = np.flatnonzero(sex == (0 if restriction == "Female" else 1))
        X = X_nc[rows]
        if restriction != "Both" and sex_in_design is not None:
            X = np.delete(X, sex_in_design, axis=1)
        Y, M = cc.block(np.array([j]), rows)
        case, ctrl = Y[:, 0] > 0, (M[:, 0] > 0) & (Y[:, 0] == 0)
        first = cc.first_date[:, [j]][rows].toarray().ravel() - 1 if cc.first_date is not None else None
        # a case without a diagnosis date has no event time: left out rather than censored
        keep = (case & (first >= 0)) | ctrl
        event = case & (first >= 0) & (first <= censor_days[rows])
        end = np.where(event, first, censor_days[rows])
        time = (end - start_days[rows]) / 365.25
        keep &= np.isfinite(time) & (time >= 0)
        # diagnosed on the start day: half a day of follow-up, not a zero time
        time = np.where(time == 0, 0.5 / 365.25, time)
        entry = None
        if age_at_start is not None:
            keep &= np.isfinite(age_at_start[rows])
            entry = age_at_start[rows][keep]
            time = age_at_start[rows] + time
        fit = _survival.cox_arrays(X[keep], time[keep], event[keep], entry)
        b, s = float(fit.beta[0]), float(np.sqrt(fit.covariance[0, 0]))
        conv = bool(fit.converged and np.isfinite(b) and np.isfinite(s))
        p, nlp = wald_p(np.array([b]), np.array([s])), wald_neg_log10_p(np.array([b]), np.array([s]))
        # counts as analysed: events before censoring, and everyone else at risk
        return j, {"beta": b, "standard_error": s, "p_value": float(p[0]), "neg_log_10_p_value": float(nlp[0]),
                   "method": "cox", "converged": conv, "n_cases": int(event[keep].sum()),
                   "n_controls": int((keep & ~event).sum())}

    for j, res in _fit_blocks([lambda j=j: job(j) for j in tested], n_jobs, "Cox fits"):
        out[j] = res
    return out


def run_phewas(
    participants: str | os.PathLike | pd.DataFrame,
    diagnoses: str | os.PathLike | pd.DataFrame,
    exposures: str | list[str],
    covariates: list[str] | tuple[str, ...] = ("age", "sex"),
    *,
    phecode_version: str = "X",
    phecode_map: str | os.PathLike | pd.DataFrame | None = None,
    min_cases: int = 50,
    min_phecode_count: int | None = None,
    use_exclusion: bool = True,
    sex_col: str = "sex",
    standardise: bool = True,
    method: str = "logit",
    firth: str = "auto",
    firth_below_cases: int = 20,
    cox_start_col: str | None = None,
    cox_time_scale: str = "follow_up",
    cox_age_col: str = "age",
    censoring_date: str | None = None,
    follow_up_end_columns: list[str] | tuple[str, ...] | None = None,
    incident_from: str | None = None,
    incident_offset_days: int = 0,
    bmff: str | os.PathLike | pd.DataFrame | None = None,
    n_jobs: int | None = None,
    block_size: int = 128,
    suppress_below: int | None = None,
    out: str | os.PathLike | None = None,
) -> PheWASResult:
    """Test each exposure against every phecode with enough cases.

    Examples
    --------
    >>> from bma_genetics.phewas import run_phewas
    >>> res = run_phewas("participants.parquet", "diagnoses.parquet",  # doctest: +SKIP
    ...                  ["bmff_femoral_head"], ["age", "sex", "bmi", "pc1", "pc2"],
    ...                  phecode_version="X", min_cases=50, out="phewas_out")
    >>> res.to_frame().sort_values("p_value").head()  # doctest: +SKIP

    Notes
    -----
    Model (``method="logit"``), for phecode :math:`j` and person :math:`i` among its cases and
    eligible controls:

    .. math:: \\operatorname{logit} P(y_{ij}=1) = \\beta_0 + \\beta x_i + \\gamma^\\top c_i

    with :math:`x` the exposure (per SD if ``standardise``) and :math:`c` the covariates
    (without sex for sex-restricted phecodes, which are tested in that sex only). All phecodes
    are fitted together by batched Newton-Raphson (see :mod:`bma_genetics.phewas.models`);
    estimates equal statsmodels ``Logit`` (PheTK) to ~1e-8. With ``firth="auto"``, phecodes
    whose ordinary fit separates or does not converge, or with fewer than
    ``firth_below_cases`` cases, are refitted with Firth's penalised likelihood (p-value from
    the penalised likelihood-ratio test). ``method="cox"`` fits a proportional-hazards model of
    the time from ``cox_start_col`` to the first diagnosis (any source), censored at the end of
    follow-up (the censoring date, death 40000, loss to follow-up 191), with Efron ties
    (:func:`bma_genetics.survival.cox_arrays`, equal to R ``coxph``); with
    ``cox_time_scale="age"`` the time scale is age, with delayed entry at the age at the start;
    people diagnosed before their start date are left out for that phecode.

    Cases: at least ``min_phecode_count`` diagnosis records mapping to the phecode (ICD-10 and
    ICD-9 codes, hospital and death-registry records; ICD codes roll up to parent phecodes; a
    code absent from the map is looked up as its 3-character category, as createUKBphenome
    does). By default (``None``) the count depends on the source: one record from a field that
    lists each distinct code once per person (41270, 41271, 40001, 40002: the participants
    stage's diagnoses), two from episode-level tables (PheTK's habit); a table without a
    ``source`` counts as episode-level. Follow-up ends at the earliest of ``censoring_date``,
    death and loss to follow-up (``follow_up_end_columns``): only records dated on or before
    it count (undated records are kept and counted in the report). With ``incident_from``
    only diagnoses after that date make cases. Controls: no
    record of it and, for phecode 1.2 with ``use_exclusion``, none in its exclusion range. A
    phecode is tested when it has at least ``min_cases`` cases and more than ``min_cases``
    controls (PheTK's rule).

    Output schema (one row per exposure and tested phecode):

    ===================  =======  ====================================================
    column               dtype    meaning
    ===================  =======  ====================================================
    exposure             str      exposure column
    phecode              str      phecode
    phecode_string       str      phecode description
    category             str      phecode category
    n_cases              int      cases analysed (Cox: events before censoring)
    n_controls           int      controls analysed (Cox: everyone else at risk)
    beta                 float    log odds ratio (log hazard ratio for Cox) per unit
    standard_error       float    standard error of beta
    odds_ratio           float    exp(beta): odds ratio (hazard ratio for Cox)
    ci_lower, ci_upper   float    95% interval of exp(beta)
    p_value              float    Wald p (logit, Cox); penalised LRT p (Firth)
    method               str      ``logit``, ``firth`` or ``cox``
    converged            bool     the fit converged (and did not separate)
    neg_log_10_p_value   float    -log10 p, exact where p underflows
    bonferroni           float    Bonferroni-adjusted p within the exposure
    fdr                  float    Benjamini-Hochberg q-value within the exposure
    sex_restriction      str      ``Both``, ``Female`` or ``Male``
    ===================  =======  ====================================================

    Parameters
    ----------
    participants : path or DataFrame
        One row per ``eid`` with the exposures and covariates (Parquet, TSV or CSV).
    diagnoses : path or DataFrame
        Long table ``eid, code, date[, source]`` (ICD-10 without the dot), or a showcase
        export with ``41270-0.*``/``41280-0.*`` columns.
    exposures : str or list of str
        Exposure column(s) of the participant (or ``bmff``) table.
    covariates : list of str, default=("age", "sex")
        Covariate columns (numeric).
    phecode_version : {"X", "1.2"}, default="X"
    phecode_map : path or DataFrame, optional
        A user's ICD-10 -> phecode map (see :mod:`bma_genetics.phewas.mapping`).
    min_cases : int, default=50
    min_phecode_count : int, optional
        Records a case needs; default ``None``: by source (1 for distinct-code sources such as
        41270, 2 for episode-level tables). The value used per source is in ``.summary()``.
    use_exclusion : bool, default=True
        Apply phecode 1.2 exclusion ranges to controls (ignored for phecodeX, which has none).
    sex_col : str, default="sex"
        0 female / 1 male (UK Biobank field 31).
    standardise : bool, default=True
        Scale each exposure to mean 0, SD 1 in its analysis sample (beta per SD).
    method : {"logit", "cox"}, default="logit"
    firth : {"auto", "never", "always"}, default="auto"
    firth_below_cases : int, default=20
        With ``firth="auto"``, phecodes with fewer cases use Firth regardless.
    cox_start_col : str, optional
        Date column of the participant table where follow-up starts (Cox).
    cox_time_scale : {"follow_up", "age"}, default="follow_up"
        Cox time scale: years since ``cox_start_col``, or age (people enter at their age at the
        start, delayed entry, and leave at their age at the diagnosis or end of follow-up).
    cox_age_col : str, default="age"
        With ``cox_time_scale="age"``: age in years at ``scan_date`` (the participant table's
        ``age``, at the imaging visit) or, without a ``scan_date`` column, at ``cox_start_col``.
    censoring_date : str, optional
        ISO date where follow-up ends, or a date column of the participant table: records
        after it do not count (any method); the end of Cox follow-up.
    follow_up_end_columns : list of str, optional
        Date columns of the participant table that end a person's follow-up earlier (records
        after them do not count; Cox follow-up ends there). Default ``None``: ``date_of_death``
        (field 40000) and ``date_lost_to_follow_up`` (191) where the table has them; ``[]``:
        none. Follow-up ends at the earliest of these and ``censoring_date``.
    incident_from : str, optional
        A date column (e.g. ``scan_date``, the imaging visit 53-2.0): only first diagnoses
        after it make cases; people diagnosed on or before it are neither cases nor controls
        of that phecode; people without the date are left out. Logistic models only (Cox
        counts incident events from ``cox_start_col``). Recorded as ``cases`` in the summary.
    incident_offset_days : int, default=0
        With ``incident_from``, move the date by this many days: ``-182`` counts diagnoses in the
        half year before imaging as incident (the Edinburgh BMFF PheWAS's window).
    bmff : path or DataFrame, optional
        A BMFF table joined to the participants on ``eid`` (columns not already present).
    n_jobs : int, optional
        Threads over phecode blocks (default: the machine's cores).
    block_size : int, default=128
        Phecodes fitted together in one batched Newton solve.
    suppress_below : int, optional
        In the written TSV, blank case/control counts below this number.
    out : path, optional
        Directory for ``phewas_results.tsv`` (:func:`bma_genetics.io.write_phewas_results`)
        and ``phewas_report.json``; ``None`` writes nothing. Figures:
        :func:`bma_genetics.phewas.figures.write_phewas_figures`.

    Returns
    -------
    PheWASResult
        ``.to_frame()`` the results (schema above), counts unsuppressed; ``.report`` the
        counted warnings (unmapped ICD codes, impossible dates, skipped phecodes);
        ``.summary()``; ``.files``.

    Raises
    ------
    InputError
        Missing exposure/covariate columns, non-numeric covariates, bad sex coding, no
        diagnoses mapping to any phecode, no phecode reaching ``min_cases``.
    """
    exposures = [exposures] if isinstance(exposures, str) else list(exposures)
    covariates = list(covariates)
    check_one_of("run_phewas/phecode_version", phecode_version, _mapping.VERSIONS)
    check_one_of("run_phewas/method", method, METHODS)
    check_one_of("run_phewas/cox_time_scale", cox_time_scale, COX_TIME_SCALES)
    check_one_of("run_phewas/firth", firth, FIRTH_MODES)
    for name, v in (("min_cases", min_cases), ("min_phecode_count", min_phecode_count), ("block_size", block_size)):
        if name == "min_phecode_count" and v is None:
            continue
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
            raise fail(f"run_phewas/{name}", f"expected an integer >= 1, found {v!r}")
    if not exposures:
        raise fail("run_phewas/exposures", "give at least one exposure column")
    n_jobs = int(n_jobs or os.cpu_count() or 1)

    people, source = _inputs.join_bmff(participants, bmff)
    missing = [e for e in exposures if e not in people.columns]
    if missing:
        raise fail("run_phewas/exposures", f"exposure column(s) {missing} not in {source}; "
                                           f"it has {[c for c in people.columns][:20]}")
    missing = [c for c in covariates if c not in people.columns]
    if missing:
        raise fail("run_phewas/covariates", f"covariate column(s) {missing} not in {source}")
    # imaging_centre -> centre indicators, dates -> years (bma_genetics.io.design_covariates)
    people, covariates = design_covariates(people, covariates, where="run_phewas/covariates")
    if incident_from is not None:
        if method == "cox":
            raise fail("run_phewas/incident_from", "method='cox' already counts incident events only (from "
                                                   "cox_start_col); leave incident_from out")
        if not isinstance(incident_offset_days, (int, np.integer)) or isinstance(incident_offset_days, bool):
            raise fail("run_phewas/incident_offset_days", f"expected a whole number of days, found "
                                                          f"{incident_offset_days!r}")
        if incident_from not in people.columns:
            raise fail("run_phewas/incident_from", f"column '{incident_from}' not in {source}; give a date column "
                                                   "such as scan_date (the imaging visit, 53-2.0)")
    if method == "cox":
        if not cox_start_col or not censoring_date:
            raise fail("run_phewas/method", "method='cox' needs cox_start_col and censoring_date")
        if cox_start_col not in people.columns:
            raise fail("run_phewas/cox_start_col", f"column '{cox_start_col}' not in {source}")
        if cox_time_scale == "age" and cox_age_col not in people.columns:
            raise fail("run_phewas/cox_age_col", f"column '{cox_age_col}' not in {source}; age as the time scale "
                                                 "needs the age at the imaging visit (scan_date)")
    sex_col_used = sex_col if sex_col in people.columns else None
    if sex_col_used is None:
        log.warning("no '%s' column: sex-restricted phecodes are tested in everyone", sex_col)

    dx = read_diagnosis_table(diagnoses)
    report: dict[str, Any] = {"n_participants": int(len(people))}
    outside = ~dx["eid"].isin(people["eid"])
    report["n_records_unknown_eid"] = int(outside.sum())
    if outside.any():
        # expected after sample QC (withdrawn, related, non-European); counted in the report
        log.info("%d diagnosis records belong to eids absent from the participant table; not used",
                 int(outside.sum()))
    dx = dx[~outside]
    dx, report["n_records_before_birth"] = _inputs.drop_dates_before_birth(dx, people)
    report["censoring_date"] = None if censoring_date is None else str(censoring_date)
    end, report["follow_up"] = _inputs.follow_up_end(people, censoring_date, follow_up_end_columns, source)
    dx, report["n_records_after_censoring"], report["n_records_undated"] = _inputs.drop_after_censoring(
        dx, people, censoring_date, source, end_columns=report["follow_up"]["end_columns"])
    report["cases"] = "all" if incident_from is None else (
        f"incident after {incident_from}" + (f" {int(incident_offset_days):+d} days" if incident_offset_days else ""))
    report["min_phecode_count"] = min_count_by_source(dx["source"], min_phecode_count)
    pmap = _mapping.load_map(phecode_version, phecode_map)
    meta = _mapping.phecode_meta(pmap)
    counts, map_report = _mapping.count_phecodes(dx, pmap)
    report.update(map_report)
    if counts.empty:
        raise fail("run_phewas/diagnoses", f"no diagnosis record maps to a phecode {phecode_version} "
                                           f"({map_report['n_records']} records; unmapped codes e.g. "
                                           f"{list(map_report['unmapped_codes'])[:5]}): no cases anywhere")
    use_excl = bool(use_exclusion and phecode_version == "1.2")

    rows: list[dict[str, Any]] = []
    report["exposures"] = {}
    for exposure in exposures:
        extra = [cox_start_col] if method == "cox" else []
        if method == "cox" and cox_time_scale == "age":
            extra += [c for c in (cox_age_col, "scan_date") if c in people.columns]
        if method == "cox" and censoring_date in people.columns:
            extra.append(censoring_date)
        if incident_from is not None:
            extra.append(incident_from)
        sample = _sample(people, exposure, [c for c in covariates if c != exposure], sex_col_used, source, extra)
        if incident_from is not None:
            undated = pd.to_datetime(sample[incident_from], errors="coerce").isna()
            if undated.any():
                log.info("%s: %d people without '%s' left out of the incident analysis", exposure,
                         int(undated.sum()), incident_from)
                sample = sample[~undated].reset_index(drop=True)
        if len(sample) == 0:
            raise fail("run_phewas/exposures", f"nobody in {source} has '{exposure}' and every covariate")
        x = sample[exposure].to_numpy(dtype=np.float64)
        _check_finite(sample, [exposure, *covariates], source)
        if np.unique(x).size < 2:
            raise fail("run_phewas/exposures", f"exposure '{exposure}' of {source} is constant ({x[0]:g}) in the "
                       f"analysis sample of {len(x)} people; nothing can be estimated")
        if standardise:
            x = _standardise(x)
        sex = sample[sex_col_used].to_numpy().astype(np.int64) if sex_col_used else None
        covs = [c for c in covariates if c not in (exposure, sex_col_used)]
        design = [x] + [sample[c].to_numpy(dtype=np.float64) for c in covs]
        sex_in_design = None
        if sex_col_used in covariates and sex_col_used != exposure:
            if len(np.unique(sex)) > 1:
                sex_in_design = len(design)
                design.append(sex.astype(np.float64))
            else:
                log.info("only one sex in the sample of %s: sex is not used as a covariate", exposure)
        design.append(np.ones(len(sample)))
        X = np.column_stack(design)
        start_days = censor_days = age_at_start = None
        start_dates = None
        if method == "cox":
            start_dates = pd.to_datetime(sample[cox_start_col], errors="coerce").to_numpy()
            start_days = start_dates.astype("datetime64[D]").astype(np.int64).astype(float)
            start_days[pd.isna(start_dates)] = np.nan
            # follow-up ends at the earliest of the censoring date, death and loss to follow-up
            cd = end.reindex(sample["eid"].astype(str).to_numpy()).to_numpy()
            censor_days = cd.astype("datetime64[D]").astype(np.int64).astype(float)
            censor_days[pd.isna(cd)] = np.nan
            if cox_time_scale == "age":
                # age at the start of follow-up from the age at the imaging visit
                at = sample["scan_date"] if "scan_date" in sample.columns else sample[cox_start_col]
                at_days = pd.to_datetime(at, errors="coerce").to_numpy().astype("datetime64[D]").astype(np.int64)
                age_at_start = (pd.to_numeric(sample[cox_age_col], errors="coerce").to_numpy(dtype=np.float64)
                                + (start_days - at_days) / 365.25)
                age_at_start[pd.isna(pd.to_datetime(at, errors="coerce")).to_numpy()] = np.nan
        if incident_from is not None:
            # a first diagnosis on the date itself is prevalent: start the day after
            start_dates = (pd.to_datetime(sample[incident_from])
                           + pd.Timedelta(days=1 + int(incident_offset_days))).to_numpy()
        cc = build_case_control(sample["eid"], sex, counts, meta, min_phecode_count=min_phecode_count,
                                use_exclusion=use_excl, start_dates=start_dates)
        tested = np.flatnonzero((cc.n_cases >= min_cases) & (cc.n_controls > min_cases))
        report["exposures"][exposure] = {
            "n_sample": int(len(sample)),
            "n_phecodes_seen": len(cc.phecodes),
            "n_phecodes_tested": int(tested.size),
            "n_phecodes_too_few_cases": int(len(cc.phecodes) - tested.size),
            "max_cases": int(cc.n_cases.max()) if len(cc.phecodes) else 0,
        }
        log.info("%s: %d people, %d phecodes seen, %d with >= %d cases tested", exposure, len(sample),
                 len(cc.phecodes), tested.size, min_cases)
        if tested.size == 0:
            continue
        if method == "logit":
            fits = _logit_exposure(X, sex, sex_in_design, cc, tested, firth=firth,
                                   firth_below_cases=firth_below_cases, block_size=block_size, n_jobs=n_jobs)
        else:
            fits = _cox_exposure(X, sex, sex_in_design, cc, tested, start_days, censor_days, n_jobs=n_jobs,
                                 age_at_start=age_at_start)
        mrow = meta.set_index("phecode")
        for j in tested:
            code = cc.phecodes[j]
            f = dict(fits[j])
            reason = _not_estimable(f)
            if reason:
                f.update(p_value=np.nan, neg_log_10_p_value=np.nan, converged=False)
            rows.append({
                "exposure": exposure, "phecode": code,
                "phecode_string": mrow.at[code, "phecode_string"], "category": mrow.at[code, "category"],
                "n_cases": int(cc.n_cases[j]), "n_controls": int(cc.n_controls[j]),
                **f, "sex_restriction": cc.sex_restriction[j], "reason": reason,
            })
    if not rows:
        worst = max((v["max_cases"] for v in report["exposures"].values()), default=0)
        raise fail("run_phewas/min_cases", f"no phecode has >= {min_cases} cases (the most is {worst}); "
                                           f"lower min_cases or min_phecode_count")
    res = pd.DataFrame(rows)
    res["odds_ratio"] = np.exp(res["beta"])
    res["ci_lower"] = np.exp(res["beta"] - _Z975 * res["standard_error"])
    res["ci_upper"] = np.exp(res["beta"] + _Z975 * res["standard_error"])
    res = add_multiple_testing(res)
    res = res[RESULT_COLUMNS].sort_values(["exposure", "p_value"], kind="stable").reset_index(drop=True)
    report["n_tests"] = int(len(res))
    report["n_firth"] = int((res["method"] == "firth").sum())
    report["n_not_converged"] = int((~res["converged"]).sum())
    result = PheWASResult(table=res, report=report)
    if out is not None:
        result.files = _write_outputs(result, Path(out), suppress_below=suppress_below, settings={
            "phecode_version": phecode_version, "min_cases": min_cases,
            "min_phecode_count": "by source" if min_phecode_count is None else min_phecode_count,
            "censoring_date": censoring_date, "follow_up_end_columns": report["follow_up"]["end_columns"],
            "incident_from": incident_from, "incident_offset_days": incident_offset_days,
            "covariates": covariates, "method": method,
            **({"cox_time_scale": cox_time_scale} if method == "cox" else {}),
            "firth": firth, "firth_below_cases": firth_below_cases, "standardise": standardise,
            "use_exclusion": use_excl, "suppress_below": suppress_below,
        })
    return result


def _write_outputs(result: PheWASResult, out: Path, *, suppress_below, settings: dict) -> dict[str, Path]:
    import json

    out.mkdir(parents=True, exist_ok=True)
    res = result.table
    files = {"results": write_results(res, out / "phewas_results.tsv", suppress_below=suppress_below)}
    result.report["settings"] = settings
    result.report["bonferroni_threshold"] = {
        e: 0.05 / int(n) for e, n in res.groupby("exposure").size().items()
    }
    files["report"] = write_text(out / "phewas_report.json", json.dumps(result.report, indent=2, default=str))
    return files


def type1_error(p_values: np.ndarray, alpha: float = 0.05) -> float:
    """Share of p-values below ``alpha`` (calibration of a null exposure)."""
    p = np.asarray(p_values, dtype=float)
    p = p[np.isfinite(p)]
    return float(np.mean(p < alpha)) if p.size else math.nan

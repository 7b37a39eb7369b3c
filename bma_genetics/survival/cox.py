"""Cox proportional hazards: a vectorised Efron solver with delayed entry, and its tests.

One fit is a Newton-Raphson on the Efron partial likelihood evaluated with sorted cumulative
sums (no loop over event times), so a PheWAS can fit hundreds of phecodes on tens of
thousands of people in seconds (n = 30,000, 5 terms: lifelines' ``CoxPHFitter`` 4.8 s per fit,
this solver 0.21 s, side by side on a loaded 2-core machine). Counting-process data ``(entry, exit]`` give left truncation (age as the
time scale): a person is at risk at ``t`` when ``entry < t <= exit``, as R's
``Surv(start, stop, event)``. Estimates, standard errors and Wald P equal R ``survival::coxph``
(Efron ties, its default) to 1e-6 relative (``tests/test_survival.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from bma_genetics._check import fail

log = logging.getLogger(__name__)
_Z975 = stats.norm.isf(0.025)
#: Columns of :attr:`CoxFit.table`.
COX_COLUMNS = ["term", "beta", "standard_error", "hazard_ratio", "ci_lower", "ci_upper", "z", "p_value"]
#: Transforms of time for the proportional-hazards test.
PH_TRANSFORMS = ("rank", "identity", "log")


@dataclass
class CoxArrays:
    """Raw result of :func:`cox_arrays` (one model)."""

    beta: np.ndarray
    covariance: np.ndarray
    loglik: float
    loglik_null: float
    n_iter: int
    converged: bool
    linear_predictor: np.ndarray
    schoenfeld: np.ndarray  # (n_events, p) Efron-adjusted residuals, events by exit time
    event_times: np.ndarray
    #: Columns behind a failed fit: those separated (log-HR per SD over 20 or SE per SD over 1000), else
    #: those whose last Newton step had not settled (every column when the information is singular).
    failed: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


def _by_time(k: np.ndarray, values: np.ndarray, n_times: int) -> np.ndarray:
    """Sum the rows of ``values`` (n, p) into ``n_times`` bins ``k`` (a bincount per column)."""
    return np.column_stack([np.bincount(k, weights=values[:, j], minlength=n_times) for j in range(values.shape[1])])


@dataclass
class _Layout:
    """What does not change with ``beta``: orders, event times and the index arrays into them."""

    ev: np.ndarray
    times: np.ndarray
    d: np.ndarray
    order: np.ndarray
    i_exit: np.ndarray
    o2: np.ndarray | None
    i_in: np.ndarray | None
    k_of: np.ndarray
    k_rep: np.ndarray
    frac: np.ndarray
    w_exit: np.ndarray
    w_entry: np.ndarray | None


def _layout(exit_: np.ndarray, event: np.ndarray, entry: np.ndarray | None) -> _Layout:
    ev = event.astype(bool)
    times, d = np.unique(exit_[ev], return_counts=True)
    order = np.argsort(exit_, kind="stable")
    i_exit = np.searchsorted(exit_[order], times, side="left")  # first with exit >= t
    o2 = i_in = w_entry = None
    if entry is not None:
        o2 = np.argsort(entry, kind="stable")
        i_in = np.searchsorted(entry[o2], times, side="left")  # entries >= t are not at risk at t
        w_entry = np.searchsorted(times, entry, side="right")
    k_rep = np.repeat(np.arange(len(times)), d)
    l_rep = np.arange(len(k_rep)) - np.repeat(np.cumsum(d) - d, d)
    return _Layout(ev=ev, times=times, d=d, order=order, i_exit=i_exit, o2=o2, i_in=i_in,
                   k_of=np.searchsorted(times, exit_[ev]), k_rep=k_rep, frac=l_rep / d[k_rep],
                   w_exit=np.searchsorted(times, exit_, side="right"), w_entry=w_entry)


def _efron_terms(X: np.ndarray, lay: _Layout, beta: np.ndarray, need_hess: bool = True):
    """Log partial likelihood, gradient, information at ``beta`` (Efron), and per-time means.

    Risk-set sums at each event time come from reverse cumulative sums over the people sorted by
    exit (minus those not yet entered); the information is assembled as ``X' diag(r W) X`` with
    each person's summed Efron weight ``W`` over the event times they are at risk at, so no
    (times x p x p) array is formed.
    """
    n, p = X.shape
    eta = X @ beta
    eta = eta - eta.max() if n else eta
    r = np.exp(eta)
    ev, K, k_of, k_rep, frac = lay.ev, len(lay.times), lay.k_of, lay.k_rep, lay.frac
    Xr = X * r[:, None]

    def rev_cum(a):
        return np.concatenate([np.cumsum(a[::-1], axis=0)[::-1], np.zeros((1,) + a.shape[1:])])

    S0 = rev_cum(r[lay.order])[lay.i_exit]
    S1 = rev_cum(Xr[lay.order])[lay.i_exit]
    if lay.o2 is not None:
        S0 = S0 - rev_cum(r[lay.o2])[lay.i_in]
        S1 = S1 - rev_cum(Xr[lay.o2])[lay.i_in]
    # sums over the tied events at each time
    A0 = np.bincount(k_of, weights=r[ev], minlength=K)
    A1 = _by_time(k_of, Xr[ev], K)
    # one row per event: l = 0..d-1 at its time
    den = S0[k_rep] - frac * A0[k_rep]
    mean = (S1[k_rep] - frac[:, None] * A1[k_rep]) / den[:, None]
    loglik = float(eta[ev].sum() - np.log(den).sum())
    grad = X[ev].sum(axis=0) - mean.sum(axis=0)
    info = None
    if need_hess:
        w1 = np.bincount(k_rep, weights=1 / den, minlength=K)  # sum_l 1/den_kl
        w2 = np.bincount(k_rep, weights=frac / den, minlength=K)  # sum_l (l/d)/den_kl
        cw = np.r_[0.0, np.cumsum(w1)]
        W = cw[lay.w_exit] if lay.w_entry is None else cw[lay.w_exit] - cw[lay.w_entry]
        info = (X * (r * W)[:, None]).T @ X
        info -= (X[ev] * (r[ev] * w2[k_of])[:, None]).T @ X[ev]
        info -= mean.T @ mean
    # Efron-averaged expected covariate at each time, for the Schoenfeld residuals
    avg = _by_time(k_rep, mean, K) / lay.d[:, None]
    return loglik, grad, info, avg


def cox_arrays(
    X: np.ndarray,
    exit_: np.ndarray,
    event: np.ndarray,
    entry: np.ndarray | None = None,
    *,
    max_iter: int = 50,
    tol: float = 1e-10,
) -> CoxArrays:
    """Fit a Cox model (Efron ties) by Newton-Raphson with step halving.

    Parameters
    ----------
    X : ndarray of shape (n, p)
        Design without intercept (centred inside; estimates do not change).
    exit_ : ndarray of shape (n,)
        Event or censoring time.
    event : ndarray of shape (n,), bool
    entry : ndarray of shape (n,), optional
        Delayed entry (left truncation): at risk on ``(entry, exit]``.
    max_iter : int, default=50
    tol : float, default=1e-10
        Stop when the largest Newton step is below ``tol`` (absolute, on the log-HR scale).

    Returns
    -------
    CoxArrays
        ``converged`` is ``False`` when the information is singular, the steps do not settle, or
        a log-HR per SD of its column (``|beta| * sd(x)``, SD over the rows given) exceeds 20 or
        its standard error per SD exceeds 1000 (separation: an exposure value with all the
        events; the information about it collapses); estimates are then NaN and
        ``failed`` lists the columns behind it. Judged per SD, so a covariate's units (a 0-1
        fraction with SD 0.01 and a log-HR of 25 per unit) do not matter.
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 1:
        X = X[:, None]
    Xc = X - X.mean(axis=0) if len(X) else X
    exit_ = np.asarray(exit_, dtype=np.float64)
    event = np.asarray(event, dtype=bool)
    entry = None if entry is None else np.asarray(entry, dtype=np.float64)
    p = X.shape[1]
    beta = np.zeros(p)
    lay = _layout(exit_, event, entry)
    ll0, grad, info, _ = _efron_terms(Xc, lay, beta)
    ll = ll0
    converged = False
    it = 0
    nan = np.full(p, np.nan)
    sd = Xc.std(axis=0) if len(Xc) else np.zeros(p)
    last = np.full(p, np.inf)  # the last Newton step per column
    for it in range(1, max_iter + 1):  # noqa: B007 - n_iter reported
        try:
            step = np.linalg.solve(info, grad)
        except np.linalg.LinAlgError:
            break
        if not np.all(np.isfinite(step)):
            break
        new = beta + step
        ll_new, g_new, i_new, _ = _efron_terms(Xc, lay, new)
        halvings = 0
        while not (np.isfinite(ll_new) and ll_new >= ll - 1e-12 * abs(ll)) and halvings < 30:
            step /= 2
            new = beta + step
            ll_new, g_new, i_new, _ = _efron_terms(Xc, lay, new)
            halvings += 1
        beta, ll, grad, info = new, ll_new, g_new, i_new
        last = np.abs(step)
        if np.max(np.abs(step)) < tol:
            converged = True
            break
    try:
        cov = np.linalg.inv(info)
    except np.linalg.LinAlgError:
        cov = np.full((p, p), np.nan)
        converged = False
    # separation: the likelihood keeps rising towards an infinite HR (the estimate runs off, or the
    # information about it collapses); judged per SD of the column, so units do not matter
    with np.errstate(invalid="ignore"):
        se_sd = np.sqrt(np.abs(np.diag(cov))) * sd
    separated = np.flatnonzero((np.abs(beta) * sd > 20) | (se_sd > 1e3))
    if converged and (not np.all(np.isfinite(cov)) or np.any(np.diag(cov) <= 0) or len(separated)):
        converged = False
    failed = np.zeros(0, dtype=np.int64)
    if not converged:
        failed = separated if len(separated) else np.flatnonzero(~(last < tol))
        if not len(failed):
            failed = np.arange(p)
    avg = _efron_terms(Xc, lay, beta, need_hess=False)[3]
    k_of = lay.k_of
    order = np.lexsort((np.arange(len(exit_))[event], exit_[event]))
    resid = (Xc[event] - avg[k_of])[order]
    return CoxArrays(
        beta=beta if converged else nan, covariance=cov if converged else np.full((p, p), np.nan),
        loglik=ll, loglik_null=ll0, n_iter=it, converged=converged,
        linear_predictor=X @ beta, schoenfeld=resid, event_times=exit_[event][order], failed=failed,
    )


def ph_test(fit: CoxArrays, terms: Sequence[str], transform: str = "rank") -> pd.DataFrame:
    """Grambsch-Therneau test of proportional hazards from the Schoenfeld residuals.

    The score test of a coefficient that changes linearly in ``g(t)`` (``transform``: the rank
    of the event times, the time itself or its log), per term and globally, as
    ``cox.zph`` computed it before survival 3.0 and as lifelines' ``proportional_hazard_test``
    does: ``T_j = (sum_k g_k' s*_kj)^2 / (D var_jj sum g_k'^2)`` with ``g'`` centred and ``s*``
    the scaled residuals ``D V r_k``.

    Returns
    -------
    DataFrame
        ``term`` (the terms, then ``GLOBAL``), ``statistic`` (chi-square), ``df``, ``p_value``.
    """
    if transform not in PH_TRANSFORMS:
        raise fail("ph_test/transform", f"expected one of {list(PH_TRANSFORMS)}, found {transform!r}")
    t = fit.event_times
    D = len(t)
    g = {"rank": stats.rankdata(t), "identity": t, "log": np.log(np.maximum(t, 1e-300))}[transform]
    xx = g - g.mean()
    V = fit.covariance
    if D < 2 or not np.all(np.isfinite(V)) or np.sum(xx ** 2) == 0:
        rows = [{"term": name, "statistic": np.nan, "df": len(terms) if name == "GLOBAL" else 1, "p_value": np.nan}
                for name in [*terms, "GLOBAL"]]
        return pd.DataFrame(rows)
    r2 = fit.schoenfeld @ V * D
    test = xx @ r2
    z = test ** 2 / (np.diag(V) * D * np.sum(xx ** 2))
    tg = xx @ fit.schoenfeld
    zg = float(tg @ V @ tg * D / np.sum(xx ** 2))
    rows = [{"term": name, "statistic": float(s), "df": 1, "p_value": float(stats.chi2.sf(s, 1))}
            for name, s in zip(terms, z, strict=True)]
    rows.append({"term": "GLOBAL", "statistic": zg, "df": len(terms), "p_value": float(stats.chi2.sf(zg, len(terms)))})
    return pd.DataFrame(rows)


def concordance(exit_: np.ndarray, event: np.ndarray, risk: np.ndarray) -> float:
    """Harrell's C of a risk score (higher = earlier event; ties in risk count one half).

    Uses lifelines' ``concordance_index`` (O(n log n)); comparable pairs are those where the
    earlier time is an event, as in R ``survival::concordance`` without time weights.
    """
    from lifelines.utils import concordance_index

    ok = np.isfinite(risk)
    if ok.sum() < 2 or not np.any(event[ok]):
        return float("nan")
    return float(concordance_index(exit_[ok], -risk[ok], event[ok]))


@dataclass
class CoxFit:
    """One fitted Cox model.

    Attributes
    ----------
    table : DataFrame
        One row per term: ``term, beta, standard_error, hazard_ratio, ci_lower, ci_upper, z,
        p_value`` (95 % Wald interval, two-sided Wald P).
    n, n_events : int
        People and events analysed.
    concordance : float
        Harrell's C of the linear predictor (pairs compared on the exit time; delayed entry is
        not taken into account).
    ph_test : DataFrame
        :func:`ph_test` of every term and the global test.
    loglik, loglik_null : float
        Log partial likelihood at the estimates and at zero.
    converged : bool
    time_scale : str
        ``"follow-up"`` or ``"age (delayed entry)"``.
    """

    table: pd.DataFrame
    n: int
    n_events: int
    concordance: float
    ph_test: pd.DataFrame
    loglik: float
    loglik_null: float
    converged: bool
    time_scale: str = "follow-up"
    extra: dict[str, Any] = field(default_factory=dict)

    def row(self, term: str) -> dict[str, Any]:
        """The table's row of ``term`` as a dict."""
        hit = self.table[self.table["term"] == term]
        if hit.empty:
            raise fail("CoxFit.row/term", f"no term {term!r}; terms: {list(self.table['term'])}")
        return hit.iloc[0].to_dict()


def check_survival_data(
    data: pd.DataFrame,
    *,
    duration: str,
    event: str,
    entry: str | None = None,
    columns: Sequence[str] = (),
    where: str = "fit_cox",
) -> pd.DataFrame:
    """Check and select a survival table: the columns exist, times are finite and not negative,
    no exit before entry, events 0/1, and (when the table has ``event_date`` and
    ``end_of_follow_up``) no event dated after the end of follow-up.

    Returns the rows without a missing value in the columns used.

    Raises
    ------
    InputError
        Naming the column, how many rows and the first offending ``eid`` (or row).
    """
    if not isinstance(data, pd.DataFrame):
        raise fail(f"{where}/data", f"expected a DataFrame, found {type(data).__name__}")
    need = [duration, event, *([entry] if entry else []), *columns]
    missing = [c for c in dict.fromkeys(need) if c not in data.columns]
    if missing:
        raise fail(f"{where}/data", f"column(s) {missing} not in the table; it has {list(data.columns)[:20]}")

    def first(mask) -> str:
        i = int(np.flatnonzero(np.asarray(mask))[0])
        return f"eid {data['eid'].iloc[i]}" if "eid" in data.columns else f"row {i}"

    if {"event_date", "end_of_follow_up"} <= set(data.columns):
        ev = data[event].fillna(0).astype(bool).to_numpy()
        after = ev & (pd.to_datetime(data["event_date"]) > pd.to_datetime(data["end_of_follow_up"])).to_numpy()
        if after.any():
            raise fail(f"{where}/data", f"{int(after.sum())} event(s) dated after the end of follow-up (column "
                       f"'event_date' > 'end_of_follow_up'; {first(after)}): an event after censoring (death, "
                       "loss to follow-up or the censoring date) cannot be counted; check the dates")
    for c in need:
        if not (pd.api.types.is_numeric_dtype(data[c]) or pd.api.types.is_bool_dtype(data[c])):
            raise fail(f"{where}/data", f"column '{c}' is not numeric ({data[c].dtype}); encode it as numbers")
    sub = data.dropna(subset=list(dict.fromkeys(need)))
    for c in dict.fromkeys(need):
        v = sub[c].to_numpy(dtype=np.float64)
        if not np.all(np.isfinite(v)):
            raise fail(f"{where}/data", f"column '{c}' has non-finite values; give missing values as NA")
    t = sub[duration].to_numpy(dtype=np.float64)
    neg = t < 0
    if neg.any():
        raise fail(f"{where}/{duration}", f"{int(neg.sum())} negative follow-up time(s) in column '{duration}' "
                   f"(e.g. {t[neg][0]:g}, {_first(sub, neg)}): follow-up ends before it starts; check the "
                   "baseline, censoring and event dates")
    if entry:
        e = sub[entry].to_numpy(dtype=np.float64)
        bad = t <= e
        if bad.any():
            raise fail(f"{where}/{entry}", f"{int(bad.sum())} row(s) exit at or before entry ('{duration}' <= "
                       f"'{entry}', {_first(sub, bad)}): negative or zero follow-up under delayed entry")
    ev = sub[event].to_numpy(dtype=np.float64)
    if not np.isin(ev, (0, 1)).all():
        raise fail(f"{where}/{event}", f"column '{event}' must be 0/1 (or bool); found "
                   f"{sorted(set(ev[~np.isin(ev, (0, 1))].tolist()))[:5]}")
    return sub


def _first(sub: pd.DataFrame, mask) -> str:
    i = int(np.flatnonzero(np.asarray(mask))[0])
    return f"eid {sub['eid'].iloc[i]}" if "eid" in sub.columns else f"row {sub.index[i]}"


def fit_cox(
    data: pd.DataFrame,
    terms: Sequence[str],
    *,
    duration: str = "follow_up_years",
    event: str = "event",
    entry: str | None = None,
    ph_transform: str = "rank",
) -> CoxFit:
    """Fit a Cox proportional-hazards model (Efron ties) of ``terms``.

    Parameters
    ----------
    data : DataFrame
        One row per person; rows with a missing value in a column used are left out.
    terms : sequence of str
        Numeric columns of the design (dummies already made: :func:`cox_by_group` does it).
    duration : str, default="follow_up_years"
        Time of the event or censoring (years of follow-up, or age at exit with ``entry``).
    event : str, default="event"
        1/True when the time is an event.
    entry : str, optional
        Delayed entry: people are at risk on ``(entry, duration]`` (``"age_at_entry"`` with
        ``duration="age_at_exit"``: age as the time scale).
    ph_transform : {"rank", "identity", "log"}, default="rank"
        Time transform of the proportional-hazards test (:func:`ph_test`).

    Returns
    -------
    CoxFit
        ``converged`` is ``False`` (every estimate NaN, a warning logged naming the term(s)
        behind it) on separation (a log-HR over 20, or a standard error over 1000, per SD of a
        term) or when the Newton steps do not settle.

    Raises
    ------
    InputError
        Missing or non-numeric columns, negative follow-up (or exit before entry), an event
        dated after the end of follow-up, no events, a constant term.
    """
    terms = list(terms)
    if not terms:
        raise fail("fit_cox/terms", "give at least one term")
    sub = check_survival_data(data, duration=duration, event=event, entry=entry, columns=terms)
    ev = sub[event].to_numpy(dtype=np.float64).astype(bool)
    if not ev.any():
        raise fail("fit_cox/data", f"no events in column '{event}' among {len(sub)} people; nothing to estimate")
    X = sub[terms].to_numpy(dtype=np.float64)
    const = [t for t, s in zip(terms, X.std(axis=0), strict=True) if s == 0]
    if const:
        raise fail("fit_cox/terms", f"term(s) {const} are constant among the {len(sub)} people analysed")
    t = sub[duration].to_numpy(dtype=np.float64)
    e = sub[entry].to_numpy(dtype=np.float64) if entry else None
    res = cox_arrays(X, t, ev, e)
    if not res.converged:
        log.warning("fit_cox: the fit did not converge (term(s) %s: separation or an unsettled estimate, "
                    "e.g. no events in a group); every estimate is NaN", [terms[i] for i in res.failed])
    se = np.sqrt(np.diag(res.covariance))
    z = res.beta / se
    table = pd.DataFrame({
        "term": terms, "beta": res.beta, "standard_error": se, "hazard_ratio": np.exp(res.beta),
        "ci_lower": np.exp(res.beta - _Z975 * se), "ci_upper": np.exp(res.beta + _Z975 * se), "z": z,
        "p_value": 2 * stats.norm.sf(np.abs(z)),
    })[COX_COLUMNS]
    return CoxFit(
        table=table, n=int(len(sub)), n_events=int(ev.sum()),
        concordance=concordance(t, ev, res.linear_predictor) if res.converged else float("nan"),
        ph_test=ph_test(res, terms, ph_transform), loglik=res.loglik, loglik_null=res.loglik_null,
        converged=res.converged, time_scale="age (delayed entry)" if entry else "follow-up",
    )


def standardise(x: pd.Series | np.ndarray) -> np.ndarray:
    """``(x - mean) / SD`` (sample SD, ``ddof=1``) over the non-missing values."""
    v = np.asarray(x, dtype=np.float64)
    ok = np.isfinite(v)
    sd = v[ok].std(ddof=1)
    if not sd > 0:
        raise fail("standardise/x", "the values are constant: no SD to scale by")
    return (v - v[ok].mean()) / sd


def cox_per_sd(
    data: pd.DataFrame,
    score: str,
    covariates: Sequence[str] = (),
    *,
    duration: str = "follow_up_years",
    event: str = "event",
    entry: str | None = None,
    ph_transform: str = "rank",
) -> CoxFit:
    """Cox model of ``score`` per SD (standardised in the people analysed), adjusted for ``covariates``.

    The score is standardised among the rows with every column used present; the term keeps
    the score's name. Other parameters as :func:`fit_cox`.
    """
    cols = [score, *covariates]
    sub = check_survival_data(data, duration=duration, event=event, entry=entry, columns=cols, where="cox_per_sd")
    sub = sub.assign(**{score: standardise(sub[score])})
    return fit_cox(sub, cols, duration=duration, event=event, entry=entry, ph_transform=ph_transform)


def cox_by_group(
    data: pd.DataFrame,
    group: str,
    covariates: Sequence[str] = (),
    *,
    reference: str | None = None,
    duration: str = "follow_up_years",
    event: str = "event",
    entry: str | None = None,
    ph_transform: str = "rank",
) -> CoxFit:
    """Cox model of a grouping (e.g. score tertiles) against a reference group.

    Parameters
    ----------
    group : str
        Column of group labels (a categorical keeps its order; else sorted).
    reference : str, optional
        The reference group (default: the first). Terms are ``"{group}[{label}]"`` for the
        other groups, hazard ratios against the reference.
    Other parameters as :func:`fit_cox`.

    Raises
    ------
    InputError
        As :func:`fit_cox`; and when a group has no events among the people analysed (its hazard
        ratio, or with the reference every one, would be 0 or infinite), naming the group and
        the people and events of every group: merge groups or use fewer quantile groups.
    """
    if group not in data.columns:
        raise fail("cox_by_group/group", f"column '{group}' not in the table")
    g = data[group]
    levels = list(g.cat.categories) if isinstance(g.dtype, pd.CategoricalDtype) else sorted(g.dropna().unique())
    levels = [lv for lv in levels if (g == lv).any()]
    if len(levels) < 2:
        raise fail("cox_by_group/group", f"column '{group}' has {len(levels)} group(s); need two or more")
    ref = levels[0] if reference is None else reference
    if ref not in levels:
        raise fail("cox_by_group/reference", f"{reference!r} is not a group of '{group}' ({levels})")
    dummies = {f"{group}[{lv}]": (g == lv).astype(np.float64).where(g.notna()) for lv in levels if lv != ref}
    frame = data.assign(**dummies)
    sub = check_survival_data(frame, duration=duration, event=event, entry=entry,
                              columns=[*dummies, *covariates], where="cox_by_group")
    ev = sub[event].to_numpy(dtype=np.float64)
    counts = {lv: (int((sub[group] == lv).sum()), int(ev[(sub[group] == lv).to_numpy()].sum())) for lv in levels}
    empty = [lv for lv, (_, n_ev) in counts.items() if n_ev == 0 and 0 < sum(c[1] for c in counts.values())]
    if empty:
        detail = ", ".join(f"{lv}: {n_ev} of {n}" for lv, (n, n_ev) in counts.items())
        raise fail("cox_by_group/data", f"group(s) {[str(lv) for lv in empty]} of column '{group}' have no events "
                   f"in column '{event}' (events of people per group: {detail}); a hazard ratio against "
                   f"reference {str(ref)!r} cannot be estimated: merge groups or use fewer groups")
    fit = fit_cox(frame, [*dummies, *covariates], duration=duration, event=event, entry=entry,
                  ph_transform=ph_transform)
    fit.extra["reference"] = str(ref)
    fit.extra["levels"] = [str(lv) for lv in levels]
    return fit

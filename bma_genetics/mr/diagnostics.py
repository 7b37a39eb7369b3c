"""Sensitivity analyses on a harmonised table: heterogeneity, pleiotropy, Steiger, LOO, single SNP.

Each function takes the harmonised table (:func:`bma_genetics.mr.harmonise`; only rows with
``mr_keep``) and returns one TwoSampleMR-style table in snake_case, grouped by exposure and
outcome.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd
from scipy import stats

from bma_genetics.mr.methods import (
    MREstimate,
    MRParameters,
    mr_egger,
    mr_ivw,
    mr_presso,
    mr_radial_egger,
    mr_radial_ivw,
    mr_wald_ratio,
)

_KEYS = ["exposure", "outcome"]

#: ``(exposure, outcome, method) -> MREstimate``: fits of :func:`bma_genetics.mr.run_mr`
#: (``MRResult.fits``), reused by the diagnostics instead of refitting.
Fits = Mapping[tuple[str, str, str], MREstimate]


def _fit(fits: Fits | None, exp: str, out: str, name: str, fn: Callable[..., MREstimate], g: pd.DataFrame,
         params: MRParameters) -> MREstimate:
    """The fit of ``name`` on this pair from ``fits`` when present, else a fresh one."""
    if fits is not None and (exp, out, name) in fits:
        return fits[(exp, out, name)]
    return fn(*_vec(g), params)


def _groups(harmonised: pd.DataFrame):
    h = harmonised[harmonised["mr_keep"].astype(bool)] if "mr_keep" in harmonised else harmonised
    for (exp, out), g in h.groupby(_KEYS, sort=False, dropna=False):
        yield exp, out, g


def _vec(g: pd.DataFrame) -> tuple[np.ndarray, ...]:
    return tuple(g[c].to_numpy(dtype=float) for c in ("beta_exposure", "beta_outcome", "standard_error_exposure", "standard_error_outcome"))


def mr_heterogeneity(harmonised: pd.DataFrame, params: MRParameters = MRParameters(), *,
                     fits: Fits | None = None) -> pd.DataFrame:
    """Cochran's Q and I^2 about the IVW and Egger fits (reused from ``fits`` when given).

    ======================  =====  ==========================================
    column                  dtype  meaning
    ======================  =====  ==========================================
    exposure, outcome       str
    method                  str    ``ivw`` or ``egger``
    q, q_df, q_p_value      float  Q = sum w (b_out - fit)^2, df n-1 / n-2
    i2                      float  max(0, (Q - df) / Q)
    ======================  =====  ==========================================
    """
    rows = []
    for exp, out, g in _groups(harmonised):
        for name, fn in (("ivw", mr_ivw), ("egger", mr_egger)):
            r = _fit(fits, exp, out, name, fn, g, params)
            q, df = r.q, r.q_df
            i2 = max(0.0, (q - df) / q) if np.isfinite(q) and q > 0 else np.nan
            rows.append({"exposure": exp, "outcome": out, "method": name, "q": q, "q_df": df,
                         "q_p_value": r.q_p_value, "i2": i2})
    return pd.DataFrame(rows, columns=["exposure", "outcome", "method", "q", "q_df", "q_p_value", "i2"])


def mr_pleiotropy_test(harmonised: pd.DataFrame, params: MRParameters = MRParameters(), *,
                       fits: Fits | None = None) -> pd.DataFrame:
    """MR-Egger intercept test of directional pleiotropy: ``egger_intercept, standard_error,
    p_value`` (reference distribution from ``params.egger_distribution``; the Egger fit is
    reused from ``fits`` when given) plus the I^2_GX of the exposure effects (Bowden 2016;
    < 0.9 warns of regression dilution in Egger)."""
    rows = []
    for exp, out, g in _groups(harmonised):
        bx, by, sx, sy = _vec(g)
        r = _fit(fits, exp, out, "egger", mr_egger, g, params)
        # I^2_GX of the weighted Egger regression (Bowden et al. 2016, as MendelianRandomization):
        # heterogeneity of |b_exp| / se_out, whose SEs are se_exp / se_out.
        bxa, wx = np.abs(bx) / sy, (sx / sy) ** -2
        q_gx = np.sum(wx * (bxa - np.sum(wx * bxa) / np.sum(wx)) ** 2) if len(bx) > 1 else np.nan
        i2_gx = max(0.0, (q_gx - (len(bx) - 1)) / q_gx) if len(bx) > 1 and q_gx > 0 else np.nan
        rows.append({"exposure": exp, "outcome": out, "egger_intercept": r.egger_intercept,
                     "standard_error": r.egger_intercept_standard_error,
                     "p_value": r.egger_intercept_p_value, "nsnp": len(bx), "i2_gx": i2_gx})
    return pd.DataFrame(rows, columns=["exposure", "outcome", "egger_intercept", "standard_error", "p_value",
                                       "nsnp", "i2_gx"])


def _af_case_control(af: np.ndarray, prop: np.ndarray, odds_ratio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Allele frequency in controls and cases from the sample EAF, case fraction and OR.

    Solves prop p1 + (1 - prop) p0 = af with odds(p1) = OR odds(p0) by bisection on p0 (the
    left side increases with p0), vectorised over variants.
    """
    lo, hi = np.zeros_like(af), np.ones_like(af)
    for _ in range(60):
        p0 = (lo + hi) / 2
        p1 = odds_ratio * p0 / (1 - p0 + odds_ratio * p0)
        f = prop * p1 + (1 - prop) * p0 - af
        lo = np.where(f < 0, p0, lo)
        hi = np.where(f < 0, hi, p0)
    p0 = (lo + hi) / 2
    return p0, odds_ratio * p0 / (1 - p0 + odds_ratio * p0)


def r2_from_lor(lor: np.ndarray, af: np.ndarray, n_cases: float, n_controls: float, prevalence: float) -> np.ndarray:
    """Variance in liability (logit scale) explained by a variant from its signed log odds ratio.

    As TwoSampleMR ``get_r_from_lor(model="logit")`` (squared): the control and case allele
    frequencies solve the 2x2 table of the sample EAF ``af``, the case fraction and the odds
    ratio ``exp(lor)``, with the sign of ``lor`` kept (a protective allele is rarer in cases);
    the population frequency weights them by ``prevalence``; genetic variance ``lor^2 pop (1 -
    pop)``, residual variance pi^2 / 3; r^2 = vg / (vg + pi^2/3). Taking ``|lor|`` instead
    would put the protective allele's excess in the cases and give the wrong population
    frequency whenever ``prevalence`` differs from the case fraction.
    """
    lor = np.asarray(lor, dtype=float)
    af = np.asarray(af, dtype=float)
    prop = np.full_like(af, n_cases / (n_cases + n_controls))
    p0, p1 = _af_case_control(af, prop, np.exp(lor))
    pop = p0 * (1 - prevalence) + p1 * prevalence
    vg = lor**2 * pop * (1 - pop)
    return vg / (vg + np.pi**2 / 3)


def r2_from_bsen(b: np.ndarray, se: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Variance explained from a linear-regression effect: t^2 / (t^2 + n - 2)."""
    t2 = (np.asarray(b, float) / np.asarray(se, float)) ** 2
    return t2 / (t2 + np.asarray(n, float) - 2)


def _r2_pairs(g: pd.DataFrame, outcome_binary: bool | None, prevalence: float | None
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-SNP r^2 of the exposure and the outcome, and the sample sizes, of one pair's rows.

    Exposure: t^2 / (t^2 + n - 2). Outcome: the same for a continuous outcome; for a binary one
    (``ncase_outcome``/``ncontrol_outcome`` known, or ``outcome_binary=True``) the variance in
    liability (logit scale) from the signed log odds ratio, EAF, case fraction and prevalence
    (:func:`r2_from_lor`, TwoSampleMR ``get_r_from_lor(model = "logit")``).
    """
    n_exp = g["samplesize_exposure"].astype(float).to_numpy() if "samplesize_exposure" in g \
        else np.full(len(g), np.nan)
    r2x = r2_from_bsen(g["beta_exposure"], g["standard_error_exposure"], n_exp)
    ncase = g["ncase_outcome"].astype(float).to_numpy() if "ncase_outcome" in g else np.full(len(g), np.nan)
    nctrl = g["ncontrol_outcome"].astype(float).to_numpy() if "ncontrol_outcome" in g else np.full(len(g), np.nan)
    binary = outcome_binary if outcome_binary is not None else bool(np.isfinite(ncase).all() and len(g))
    if binary and np.isfinite(ncase).all() and np.isfinite(nctrl).all() and len(g):
        nca, nco = float(np.mean(ncase)), float(np.mean(nctrl))
        prev = prevalence if prevalence is not None else nca / (nca + nco)
        eaf = g["eaf_outcome"].astype(float).to_numpy() if "eaf_outcome" in g else np.full(len(g), np.nan)
        if "eaf_exposure" in g:
            eaf = np.where(np.isfinite(eaf), eaf, g["eaf_exposure"].astype(float).to_numpy())
        r2y = r2_from_lor(g["beta_outcome"], eaf, nca, nco, prev)
        n_out = np.full(len(g), nca + nco)
    else:
        n_out = g["samplesize_outcome"].astype(float).to_numpy() if "samplesize_outcome" in g \
            else np.full(len(g), np.nan)
        r2y = r2_from_bsen(g["beta_outcome"], g["standard_error_outcome"], n_out)
    return r2x, r2y, n_exp, n_out


def _steiger_p(r2x, r2y, n_exp, n_out) -> np.ndarray:
    """Fisher-z test of the difference of two independent correlations sqrt(r2x), sqrt(r2y)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (np.arctanh(np.sqrt(r2x)) - np.arctanh(np.sqrt(r2y))) / np.sqrt(1 / (n_exp - 3) + 1 / (n_out - 3))
    return 2 * stats.norm.sf(np.abs(z))


def mr_steiger(
    harmonised: pd.DataFrame,
    *,
    outcome_binary: bool | None = None,
    prevalence: float | None = None,
) -> pd.DataFrame:
    """Steiger directionality test (Hemani et al. 2017; TwoSampleMR ``directionality_test``).

    Compares the variance explained by the instruments in the exposure and in the outcome
    (r^2 summed over SNPs): the causal direction is right when ``snp_r2_exposure >
    snp_r2_outcome``; ``steiger_p_value`` tests the difference of the two correlations (Fisher
    z, independent samples). For a binary outcome (``ncase_outcome``/``ncontrol_outcome``
    present, or ``outcome_binary=True``) the outcome r^2 is on the liability scale from the log
    odds ratios (:func:`r2_from_lor`), using ``prevalence`` (default: the case fraction).

    Columns: ``exposure, outcome, snp_r2_exposure, snp_r2_outcome, correct_causal_direction,
    steiger_p_value, nsnp``; NaN where sample sizes are unknown.
    """
    rows = []
    for exp, out, g in _groups(harmonised):
        r2x, r2y, n_exp, n_out = _r2_pairs(g, outcome_binary, prevalence)
        sx, sy = float(np.sum(r2x)), float(np.sum(r2y))
        if np.isfinite(sx) and np.isfinite(sy) and max(sx, sy) < 1:
            p = float(_steiger_p(sx, sy, np.mean(n_exp), np.mean(n_out)))
        else:
            p = np.nan
        rows.append({"exposure": exp, "outcome": out, "snp_r2_exposure": sx, "snp_r2_outcome": sy,
                     "correct_causal_direction": bool(sx > sy) if np.isfinite(p) else None,
                     "steiger_p_value": p, "nsnp": len(g)})
    return pd.DataFrame(rows, columns=["exposure", "outcome", "snp_r2_exposure", "snp_r2_outcome",
                                       "correct_causal_direction", "steiger_p_value", "nsnp"])


#: Columns :func:`steiger_filtering` adds to a harmonised table.
STEIGER_SNP_COLUMNS: tuple[str, ...] = ("r2_exposure", "r2_outcome", "steiger_dir", "steiger_p_value")


def steiger_filtering(
    harmonised: pd.DataFrame,
    *,
    outcome_binary: bool | None = None,
    prevalence: float | None = None,
    drop: bool = True,
) -> pd.DataFrame:
    """Steiger filtering: each SNP's direction test (TwoSampleMR ``steiger_filtering``).

    Adds, per SNP, ``r2_exposure`` (t^2 / (t^2 + n - 2)), ``r2_outcome`` (the same, or for a
    binary outcome the liability-scale r^2 from the signed log odds ratio, EAF, case fraction
    and ``prevalence``: TwoSampleMR's ``get_r_from_lor(model = "logit")``, :func:`r2_from_lor`),
    ``steiger_dir`` (``r2_exposure > r2_outcome``: the SNP acts on the exposure first) and
    ``steiger_p_value`` (Fisher z of the two correlations, independent samples). With ``drop``
    (default) SNPs with ``steiger_dir`` False get ``mr_keep = False`` and ``drop_reason``
    ``"Steiger: explains more variance in the outcome than in the exposure"``; SNPs whose r^2
    cannot be computed (no sample size) are kept with NaN columns.

    Parameters
    ----------
    harmonised : DataFrame
        :func:`bma_genetics.mr.harmonise` output.
    outcome_binary : bool, optional
        Default: binary when ``ncase_outcome`` is known for every SNP.
    prevalence : float, optional
        Population prevalence of a binary outcome (default: the case fraction).
    drop : bool, default=True

    Returns
    -------
    DataFrame
        A copy of ``harmonised`` with the four columns (``mr_keep`` updated when ``drop``).
    """
    out = harmonised.copy()
    for c in STEIGER_SNP_COLUMNS:
        out[c] = np.nan
    out["steiger_dir"] = pd.Series(pd.NA, index=out.index, dtype="boolean")
    keys = [k for k in _KEYS if k in out]
    groups = out.groupby(keys, sort=False, dropna=False) if keys else [((None,), out)]
    for _, g in groups:
        r2x, r2y, n_exp, n_out = _r2_pairs(g, outcome_binary, prevalence)
        ok = np.isfinite(r2x) & np.isfinite(r2y)
        out.loc[g.index, "r2_exposure"] = r2x
        out.loc[g.index, "r2_outcome"] = r2y
        out.loc[g.index, "steiger_p_value"] = _steiger_p(r2x, r2y, n_exp, n_out)
        out.loc[g.index[ok], "steiger_dir"] = (r2x > r2y)[ok]
    if drop:
        wrong = out["steiger_dir"].eq(False).fillna(False).to_numpy(bool)
        if "mr_keep" not in out:
            out["mr_keep"] = True
        if "drop_reason" not in out:
            out["drop_reason"] = None
        newly = wrong & out["mr_keep"].astype(bool).to_numpy()
        out.loc[newly, "drop_reason"] = "Steiger: explains more variance in the outcome than in the exposure"
        out.loc[newly, "mr_keep"] = False
    return out


_EST_COLS = ["beta", "standard_error", "ci_lower", "ci_upper", "p_value"]


def _est(r: MREstimate) -> dict[str, float]:
    return {k: getattr(r, k) for k in _EST_COLS}


def mr_leave_one_out(harmonised: pd.DataFrame, params: MRParameters = MRParameters(), *,
                     fits: Fits | None = None) -> pd.DataFrame:
    """IVW (random effects) leaving out each SNP in turn, then all SNPs (``snp == "All"``).

    Columns: ``exposure, outcome, snp, nsnp, beta, standard_error, ci_lower, ci_upper,
    p_value``.
    """
    rows = []
    for exp, out, g in _groups(harmonised):
        bx, by, sx, sy = _vec(g)
        snps = g["snp"].astype(str).to_numpy()
        for i in range(len(g)):
            keep = np.arange(len(g)) != i
            r = mr_ivw(bx[keep], by[keep], sx[keep], sy[keep], params)
            rows.append({"exposure": exp, "outcome": out, "snp": snps[i], "nsnp": int(keep.sum()), **_est(r)})
        r = _fit(fits, exp, out, "ivw", mr_ivw, g, params)
        rows.append({"exposure": exp, "outcome": out, "snp": "All", "nsnp": len(g), **_est(r)})
    return pd.DataFrame(rows, columns=["exposure", "outcome", "snp", "nsnp", *_EST_COLS])


def mr_single_snp(harmonised: pd.DataFrame, params: MRParameters = MRParameters(), *,
                  fits: Fits | None = None) -> pd.DataFrame:
    """Wald ratio per SNP, then ``All - Inverse variance weighted`` and ``All - MR Egger`` rows
    (those two reused from ``fits`` when given).

    Columns: ``exposure, outcome, snp, beta, standard_error, ci_lower, ci_upper, p_value``.
    """
    rows = []
    for exp, out, g in _groups(harmonised):
        bx, by, sx, sy = _vec(g)
        for i, snp in enumerate(g["snp"].astype(str)):
            r = mr_wald_ratio(bx[i:i + 1], by[i:i + 1], sx[i:i + 1], sy[i:i + 1], params)
            rows.append({"exposure": exp, "outcome": out, "snp": snp, **_est(r)})
        for label, name, fn in (("All - Inverse variance weighted", "ivw", mr_ivw), ("All - MR Egger", "egger", mr_egger)):
            r = _fit(fits, exp, out, name, fn, g, params)
            rows.append({"exposure": exp, "outcome": out, "snp": label, **_est(r)})
    return pd.DataFrame(rows, columns=["exposure", "outcome", "snp", *_EST_COLS])


PRESSO_COLUMNS: tuple[str, ...] = (
    "exposure", "outcome", "nsnp", "global_rss", "global_p_value", "n_outliers", "outliers",
    "distortion_p_value", "raw_beta", "raw_standard_error", "corrected_beta", "corrected_standard_error",
)


def mr_presso_table(harmonised: pd.DataFrame, params: MRParameters = MRParameters(), *,
                    fits: Fits | None = None) -> pd.DataFrame:
    """MR-PRESSO per pair (the ``mr_presso`` fit reused from ``fits`` when given).

    Columns: ``exposure, outcome, nsnp, global_rss, global_p_value, n_outliers, outliers`` (SNP
    ids, comma-separated), ``distortion_p_value``, raw and outlier-corrected IVW (``raw_beta,
    raw_standard_error, corrected_beta, corrected_standard_error``).
    """
    rows = []
    for exp, out, g in _groups(harmonised):
        r = _fit(fits, exp, out, "mr_presso", mr_presso, g, params)
        snps = g["snp"].astype(str).to_numpy()
        outl = list(r.presso_outliers)
        rows.append({"exposure": exp, "outcome": out, "nsnp": len(g), "global_rss": r.presso_global_rss,
                     "global_p_value": r.presso_global_p_value, "n_outliers": len(outl),
                     "outliers": ",".join(snps[outl]) if outl else "",
                     "distortion_p_value": r.presso_distortion_p_value, "raw_beta": r.presso_raw_beta,
                     "raw_standard_error": r.presso_raw_standard_error, "corrected_beta": r.beta,
                     "corrected_standard_error": r.standard_error})
    return pd.DataFrame(rows, columns=list(PRESSO_COLUMNS))


RADIAL_COLUMNS: tuple[str, ...] = ("exposure", "outcome", "method", "snp", "q_contribution", "q_p_value", "outlier")


def mr_radial_table(harmonised: pd.DataFrame, params: MRParameters = MRParameters(), *,
                    fits: Fits | None = None) -> pd.DataFrame:
    """Radial MR outlier flags per SNP, from the ``radial_ivw`` and ``radial_egger`` fits (reused
    from ``fits`` when given; RadialMR's ``outliers`` / ``data`` tables).

    Columns: ``exposure, outcome, method`` (``radial_ivw`` or ``radial_egger``), ``snp``,
    ``q_contribution`` (Q_j), ``q_p_value`` (chi-squared, 1 df), ``outlier`` (``q_p_value`` <
    ``params.radial_alpha`` / nsnp, Bonferroni).
    """
    rows = []
    for exp, out, g in _groups(harmonised):
        snps = g["snp"].astype(str).to_numpy() if "snp" in g else np.array([f"row{i + 1}" for i in range(len(g))])
        finite = np.all([np.isfinite(v) for v in _vec(g)], axis=0)
        snps = snps[finite]
        for name, fn in (("radial_ivw", mr_radial_ivw), ("radial_egger", mr_radial_egger)):
            r = _fit(fits, exp, out, name, fn, g, params)
            if not r.ok:
                continue
            qj = np.asarray(r.radial_q_contributions, float)
            pj = stats.chi2.sf(qj, 1)
            flag = np.zeros(len(qj), bool)
            flag[list(r.radial_outliers)] = True
            for s_, q_, p_, f_ in zip(snps, qj, pj, flag, strict=True):
                rows.append({"exposure": exp, "outcome": out, "method": name, "snp": s_, "q_contribution": float(q_),
                             "q_p_value": float(p_), "outlier": bool(f_)})
    return pd.DataFrame(rows, columns=list(RADIAL_COLUMNS))

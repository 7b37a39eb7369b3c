"""Mendelian-randomisation figures: scatter with method lines, single-SNP forest, funnel,
leave-one-out, and a summary forest over many exposure-outcome pairs.

Inputs are the tables of :mod:`bma_genetics.mr` (``harmonised``, ``mr_results``,
``single_snp``, ``leave_one_out``); every ``plot_mr_*`` draws into ``ax`` when given and
returns the Figure; :func:`bma_genetics.plots.save_figure` writes PNG + PDF.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bma_genetics._check import check_columns
from bma_genetics.plots._axes import figure_and_axes

_COLOURS = {
    "ivw": "#1f77b4", "ivw_fixed": "#aec7e8", "egger": "#d62728", "simple_median": "#98df8a",
    "weighted_median": "#2ca02c", "simple_mode": "#c5b0d5", "weighted_mode": "#9467bd",
    "mr_presso": "#8c564b", "mr_raps": "#ff7f0e", "wald_ratio": "#7f7f7f",
    "penalised_weighted_median": "#17becf", "egger_bootstrap": "#ff9896", "radial_ivw": "#393b79",
    "radial_egger": "#ad494a",
}


def _kept(h: pd.DataFrame) -> pd.DataFrame:
    return h[h["mr_keep"].astype(bool)] if "mr_keep" in h else h


def plot_mr_scatter(harmonised: pd.DataFrame, results: pd.DataFrame, *, ax=None, title: str | None = None):
    """SNP effects on the outcome against the exposure (+-1 SE bars), with one line per method.

    SNPs are oriented so that ``beta_exposure`` > 0; lines go through the origin with slope
    ``beta``, except MR Egger's (and the Egger bootstrap's), which starts at the ``egger_intercept``
    column of its row of ``results`` (the MR results table: the fit is read, not redone; 0 when
    absent). Radial MR-Egger is not drawn: its intercept is on the radial scale.

    Parameters
    ----------
    harmonised : DataFrame
        ``beta_exposure, standard_error_exposure, beta_outcome, standard_error_outcome`` (and ``exposure, outcome``,
        ``mr_keep``) per SNP.
    results : DataFrame
        MR results: ``method, beta`` and, on the ``egger`` row, ``egger_intercept``.
    ax : matplotlib.axes.Axes, optional
        Draw into these axes; default a new figure.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    check_columns("plot_mr_scatter/harmonised", harmonised, ["beta_exposure", "standard_error_exposure", "beta_outcome", "standard_error_outcome"])
    check_columns("plot_mr_scatter/results", results, ["method", "beta"])
    h = _kept(harmonised)
    sign = np.where(h["beta_exposure"] < 0, -1.0, 1.0)
    bx, by = np.abs(h["beta_exposure"].to_numpy(float)), h["beta_outcome"].to_numpy(float) * sign
    sx, sy = h["standard_error_exposure"].to_numpy(float), h["standard_error_outcome"].to_numpy(float)
    fig, ax, created = figure_and_axes(ax, "plot_mr_scatter/ax", figsize=(5.5, 4.5))
    ax.errorbar(bx, by, xerr=sx, yerr=sy, fmt="o", ms=3, color="0.3", ecolor="0.7", lw=0.8, zorder=2)
    ax.axhline(0, color="0.8", lw=0.8, zorder=1)
    xs = np.array([0.0, float(np.max(bx + sx)) if len(bx) else 1.0])
    for _, r in results.iterrows():
        # radial Egger's intercept and slope live on the radial axes, not on these
        if not np.isfinite(r["beta"]) or r["method"] in ("wald_ratio", "radial_egger"):
            continue
        icpt = float(r.get("egger_intercept", np.nan)) if r["method"] in ("egger", "egger_bootstrap") else 0.0
        icpt = icpt if np.isfinite(icpt) else 0.0
        ax.plot(xs, icpt + r["beta"] * xs, color=_COLOURS.get(r["method"], "k"), lw=1.4,
                label=f"{r['method']} ({r['beta']:.3g})")
    ax.set_xlabel(f"SNP effect on {h['exposure'].iloc[0] if len(h) and 'exposure' in h else 'exposure'}")
    ax.set_ylabel(f"SNP effect on {h['outcome'].iloc[0] if len(h) and 'outcome' in h else 'outcome'}")
    ax.legend(fontsize=7, frameon=False, loc="best")
    ax.set_title(title or "MR scatter", fontsize=10)
    if created:
        fig.tight_layout()
    return fig


def _forest(ax, labels, b, lo, hi, colours=None, xlabel="causal estimate (beta, 95% CI)"):
    y = np.arange(len(labels))[::-1]
    colours = colours if colours is not None else ["0.2"] * len(labels)
    for yi, bi, lo_i, hi_i, c in zip(y, b, lo, hi, colours, strict=True):
        if np.isfinite(bi):
            ax.plot([lo_i, hi_i], [yi, yi], color=c, lw=1)
            ax.plot(bi, yi, "s", color=c, ms=4)
    ax.axvline(0, color="0.6", lw=0.8, ls="--")
    ax.set_yticks(y)
    ax.set_yticklabels(labels, fontsize=7)
    ax.set_xlabel(xlabel, fontsize=8)


def plot_mr_single_snp_forest(single_snp: pd.DataFrame, *, ax=None, title: str | None = None):
    """Forest plot of per-SNP Wald ratios (sorted) and the all-SNP IVW / Egger rows.

    Parameters
    ----------
    single_snp : DataFrame
        ``snp, beta, ci_lower, ci_upper``; rows whose ``snp`` starts with ``All`` are the
        all-SNP estimates (drawn last, in red).
    ax : matplotlib.axes.Axes, optional
        Draw into these axes; default a new figure sized to the rows.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    return _snp_forest("plot_mr_single_snp_forest/single_snp", single_snp, ax=ax, title=title or "Single-SNP MR",
                       is_all=lambda snp: snp.startswith("All"), label=lambda snp: snp)


def _snp_forest(where: str, frame: pd.DataFrame, *, ax, title: str, is_all, label,
                xlabel: str = "causal estimate (beta, 95% CI)"):
    """Rows sorted by estimate, the all-SNP rows (``is_all(snp)``) last and in red."""
    check_columns(where, frame, ["snp", "beta", "ci_lower", "ci_upper"])
    snps = frame["snp"].astype(str)
    whole = snps.map(is_all).to_numpy(bool)
    s = pd.concat([frame[~whole].sort_values("beta"), frame[whole]])
    fig, ax, created = figure_and_axes(ax, f"{where.split('/')[0]}/ax", figsize=(5.5, max(2.5, 0.18 * len(s) + 1)))
    snps = s["snp"].astype(str)
    colours = ["#d62728" if is_all(x) else "0.2" for x in snps]
    _forest(ax, [label(x) for x in snps], s["beta"].to_numpy(float), s["ci_lower"].to_numpy(float),
            s["ci_upper"].to_numpy(float), colours, xlabel=xlabel)
    ax.set_title(title, fontsize=10)
    if created:
        fig.tight_layout()
    return fig


def plot_mr_leave_one_out(leave_one_out: pd.DataFrame, *, ax=None, title: str | None = None):
    """Forest plot of IVW estimates leaving out each SNP, and with all SNPs.

    Parameters
    ----------
    leave_one_out : DataFrame
        ``snp, beta, ci_lower, ci_upper``; the row ``snp == "All"`` is the all-SNP estimate.
    ax : matplotlib.axes.Axes, optional
        Draw into these axes; default a new figure sized to the rows.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    return _snp_forest("plot_mr_leave_one_out/leave_one_out", leave_one_out, ax=ax, title=title or "Leave-one-out",
                       is_all=lambda snp: snp == "All", label=lambda snp: snp if snp == "All" else f"without {snp}",
                       xlabel="IVW estimate (95% CI)")


def plot_mr_funnel(single_snp: pd.DataFrame, *, ax=None, title: str | None = None):
    """Funnel plot: per-SNP Wald ratio against its precision (1/SE), with the IVW and Egger
    estimates as vertical lines.

    Parameters
    ----------
    single_snp : DataFrame
        ``snp, beta, standard_error``; the rows ``All - Inverse variance weighted`` and
        ``All - MR Egger`` give the vertical lines.
    ax : matplotlib.axes.Axes, optional
        Draw into these axes; default a new figure.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    check_columns("plot_mr_funnel/single_snp", single_snp, ["snp", "beta", "standard_error"])
    s = single_snp[~single_snp["snp"].astype(str).str.startswith("All")]
    fig, ax, created = figure_and_axes(ax, "plot_mr_funnel/ax", figsize=(5, 4))
    ax.scatter(s["beta"], 1 / s["standard_error"], s=12, color="0.3")
    for label, colour in (("All - Inverse variance weighted", _COLOURS["ivw"]), ("All - MR Egger", _COLOURS["egger"])):
        row = single_snp[single_snp["snp"] == label]
        if len(row) and np.isfinite(row["beta"].iloc[0]):
            ax.axvline(row["beta"].iloc[0], color=colour, lw=1.2, label=label.removeprefix("All - "))
    ax.set_xlabel("Wald ratio (beta)")
    ax.set_ylabel("precision (1 / SE)")
    ax.legend(fontsize=7, frameon=False)
    ax.set_title(title or "Funnel plot", fontsize=10)
    if created:
        fig.tight_layout()
    return fig


def plot_mr_summary_forest(results: pd.DataFrame, *, ax=None,
                           methods: tuple[str, ...] = ("ivw", "egger", "weighted_median", "weighted_mode"),
                           title: str | None = None, xlabel: str = "causal estimate (95% CI)"):
    """Forest plot over many exposure -> outcome pairs (e.g. every BMFF site -> osteoporosis):
    one row per pair and method, grouped by pair.

    Parameters
    ----------
    results : DataFrame
        MR results: ``exposure, outcome, method, beta, ci_lower, ci_upper``.
    ax : matplotlib.axes.Axes, optional
        Draw into these axes; default a new figure sized to the rows.
    methods : tuple of str, default=("ivw", "egger", "weighted_median", "weighted_mode")
        Methods drawn, in this order within a pair.
    title : str, optional
    xlabel : str, default="causal estimate (95% CI)"

    Returns
    -------
    matplotlib.figure.Figure
    """
    check_columns("plot_mr_summary_forest/results", results,
                  ["exposure", "outcome", "method", "beta", "ci_lower", "ci_upper"])
    r = results[results["method"].isin(methods)].copy()
    r["pair"] = r["exposure"].astype(str) + " -> " + r["outcome"].astype(str)
    r["order"] = r["method"].map({m: i for i, m in enumerate(methods)})
    r = r.sort_values(["pair", "order"])
    labels = [f"{p}  [{m}]" for p, m in zip(r["pair"], r["method"], strict=True)]
    fig, ax, created = figure_and_axes(ax, "plot_mr_summary_forest/ax", figsize=(7, max(2.5, 0.22 * len(r) + 1)))
    _forest(ax, labels, r["beta"].to_numpy(float), r["ci_lower"].to_numpy(float), r["ci_upper"].to_numpy(float),
            [_COLOURS.get(m, "k") for m in r["method"]], xlabel=xlabel)
    ax.set_title(title or "MR summary", fontsize=10)
    if created:
        fig.tight_layout()
    return fig


_MVMR_METHODS = {"mvmr_ivw": ("IVW-MVMR (direct)", "#1f77b4"), "mvmr_egger": ("MVMR-Egger (direct)", "#d62728"),
                 "mvmr_qhet": ("Q-het MVMR (weak-instrument robust)", "#2ca02c"),
                 "ivw": ("IVW (univariable, same SNPs)", "0.55")}


def plot_mvmr_forest(results: pd.DataFrame, *, ax=None, methods: tuple[str, ...] = ("mvmr_ivw", "mvmr_egger", "mvmr_qhet", "ivw"),
                     title: str | None = None, xlabel: str = "causal estimate (95% CI)"):
    """Forest plot of a multivariable MR: each exposure's direct effect (IVW-MVMR, MVMR-Egger, Q-het)
    beside its univariable IVW estimate on the same SNPs, with the conditional F in the label.

    Parameters
    ----------
    results : DataFrame
        The MVMR results table (``mvmr_results.tsv``): ``exposure, method, beta, ci_lower,
        ci_upper`` and, optionally, ``conditional_f`` and ``outcome``.
    ax : matplotlib.axes.Axes, optional
        Draw into these axes; default a new figure sized to the rows.
    methods : tuple of str, default=("mvmr_ivw", "mvmr_egger", "mvmr_qhet", "ivw")
        Methods drawn, in this order within an exposure.
    title : str, optional
    xlabel : str, default="causal estimate (95% CI)"

    Returns
    -------
    matplotlib.figure.Figure
    """
    check_columns("plot_mvmr_forest/results", results, ["exposure", "method", "beta", "ci_lower", "ci_upper"])
    r = results[results["method"].isin(methods)].copy()
    order = {m: i for i, m in enumerate(methods)}
    exposures = list(dict.fromkeys(r["exposure"].astype(str)))
    r["e"] = r["exposure"].astype(str).map({e: i for i, e in enumerate(exposures)})
    r["o"] = r["method"].map(order)
    r = r.sort_values(["e", "o"])
    cond_f = {}
    if "conditional_f" in r:
        mv = r[r["method"] == "mvmr_ivw"]
        cond_f = dict(zip(mv["exposure"].astype(str), mv["conditional_f"].astype(float), strict=True))
    labels = []
    for e, m in zip(r["exposure"].astype(str), r["method"], strict=True):
        f = cond_f.get(e)
        head = f"{e} (cond. F {f:.3g})" if f is not None and np.isfinite(f) else e
        labels.append(f"{head}  [{_MVMR_METHODS.get(m, (m,))[0]}]")
    fig, ax, created = figure_and_axes(ax, "plot_mvmr_forest/ax", figsize=(7.5, max(2.2, 0.3 * len(r) + 1)))
    _forest(ax, labels, r["beta"].to_numpy(float), r["ci_lower"].to_numpy(float), r["ci_upper"].to_numpy(float),
            [_MVMR_METHODS.get(m, ("", "k"))[1] for m in r["method"]], xlabel=xlabel)
    outcome = f" -> {r['outcome'].iloc[0]}" if "outcome" in r and len(r) else ""
    ax.set_title(title or f"Multivariable MR{outcome}", fontsize=10)
    if created:
        fig.tight_layout()
    return fig

"""Polygenic-score figures: score distributions by case status, prediction per threshold."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from bma_genetics._check import check_columns, fail
from bma_genetics.plots._axes import figure_and_axes


def plot_score_distribution(data: pd.DataFrame, *, score: str, case: str, ax=None, bins: int = 30,
                            standardise: bool = True, title: str | None = None) -> Figure:
    """Distribution of a polygenic score in cases and controls (overlaid density histograms).

    Parameters
    ----------
    data : DataFrame
        One row per person: the ``score`` column and the ``case`` column (1 case, 0 control;
        people with a missing status are left out).
    score, case : str
        Column names.
    ax : matplotlib.axes.Axes, optional
    bins : int, default=30
    standardise : bool, default=True
        Show the score in SD units (mean 0, SD 1 over everyone shown).
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    check_columns("plot_score_distribution/data", data, [score, case])
    d = data[[score, case]].apply(pd.to_numeric, errors="coerce").dropna()
    if d.empty:
        raise fail("plot_score_distribution/data", f"no row with both {score!r} and {case!r}")
    x = d[score].to_numpy(float)
    if standardise and x.std() > 0:
        x = (x - x.mean()) / x.std()
    is_case = d[case].to_numpy() == 1
    fig, ax, created = figure_and_axes(ax, "plot_score_distribution/ax", figsize=(6, 4))
    edges = np.histogram_bin_edges(x, bins=bins)
    for mask, label, colour in ((~is_case, "controls", "#4c72b0"), (is_case, "cases", "#c44e52")):
        if mask.any():
            ax.hist(x[mask], bins=edges, density=True, alpha=0.5, color=colour,
                    label=f"{label} (n={int(mask.sum())})")
            ax.axvline(float(np.mean(x[mask])), color=colour, lw=1.5, ls="--")
    ax.set_xlabel(f"{score} ({'SD' if standardise else 'score'})")
    ax.set_ylabel("density")
    ax.legend(frameon=False, fontsize=8)
    ax.set_title(title or f"{score} by {case} status")
    if created:
        fig.tight_layout()
    return fig


def plot_prs_performance(results: pd.DataFrame, *, metric: str = "auc_test", ax=None,
                         title: str | None = None) -> Figure:
    """Prediction of each score (one bar per C+T threshold and PRS-CS, grouped by trait).

    Parameters
    ----------
    results : DataFrame
        The ``prs_results.tsv`` table: ``trait, method, p_threshold, selected`` and ``metric``.
    metric : str, default="auc_test"
        Column to show (``auc_test``, ``r2_test``, ``r2_truth``, ...).
    ax : matplotlib.axes.Axes, optional
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    check_columns("plot_prs_performance/results", results, ["trait", "method", "p_threshold", metric])
    fig, ax, created = figure_and_axes(ax, "plot_prs_performance/ax", figsize=(8, 4))
    traits = list(dict.fromkeys(results["trait"]))
    labels = []
    for r in results.itertuples(index=False):
        labels.append("PRS-CS" if r.method == "prscs" else f"P≤{r.p_threshold:g}")
    uniq = list(dict.fromkeys(labels))
    width = 0.8 / max(len(traits), 1)
    for k, trait in enumerate(traits):
        sub = results[results["trait"] == trait]
        lab = ["PRS-CS" if m == "prscs" else f"P≤{t:g}" for m, t in zip(sub["method"], sub["p_threshold"], strict=True)]
        xs = np.array([uniq.index(v) for v in lab]) + (k - (len(traits) - 1) / 2) * width
        ax.bar(xs, sub[metric].to_numpy(float), width=width, label=trait)
    ax.set_xticks(range(len(uniq)))
    ax.set_xticklabels(uniq, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel(metric)
    if metric.startswith("auc"):
        ax.axhline(0.5, color="grey", lw=0.8, ls=":")
    ax.legend(frameon=False, fontsize=8)
    ax.set_title(title or f"Polygenic score prediction ({metric})")
    if created:
        fig.tight_layout()
    return fig

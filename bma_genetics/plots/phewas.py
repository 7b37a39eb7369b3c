"""PheWAS figures: the Manhattan plot over phecode categories and a forest plot across sites."""

from __future__ import annotations

import os
import textwrap

import numpy as np
import pandas as pd

from bma_genetics._check import check_columns
from bma_genetics.plots._axes import figure_and_axes
from bma_genetics.plots._save import save_figure
from bma_genetics.plots.forest import plot_forest

_CATEGORY_COLOURS = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd",
    "#e6550d", "#31a354", "#756bb1", "#636363",
]


def _phecode_sort_key(code: str) -> tuple[str, float]:
    head, _, num = str(code).rpartition("_")
    try:
        return head, float(num)
    except ValueError:
        return head, float("inf")


def plot_phewas_manhattan(
    results: pd.DataFrame,
    *,
    ax=None,
    n_labels: int = 8,
    bonferroni: float | None = None,
    title: str | None = None,
    out: str | os.PathLike | None = None,
):
    """PheWAS Manhattan plot: -log10 p by phecode, grouped and coloured by category.

    Up-triangles mark positive associations (beta > 0), down-triangles negative ones; the
    ``n_labels`` strongest phecodes below the Bonferroni line are labelled with their
    description (the three strongest nominal hits when none passes). The Bonferroni line is ``-log10(0.05 / n_tests)`` unless ``bonferroni``
    (a p-value threshold) is given.

    Parameters
    ----------
    results : DataFrame
        ``run_phewas`` output for one exposure (``phecode, phecode_string, category, beta,
        p_value`` and ``neg_log_10_p_value`` if present).
    ax : matplotlib.axes.Axes, optional
        Draw into these axes; default a new 11 x 4.6 in figure.
    n_labels : int, default=8
    bonferroni : float, optional
        P threshold of the dashed line.
    title : str, optional
    out : path, optional
        Also save as ``out.png`` and ``out.pdf`` (:func:`~bma_genetics.plots.save_figure`).

    Returns
    -------
    matplotlib.figure.Figure
    """
    check_columns("plot_phewas_manhattan/results", results, ["phecode", "category", "beta", "p_value"])
    d = results.copy()
    if "neg_log_10_p_value" not in d.columns:
        d["neg_log_10_p_value"] = -np.log10(d["p_value"])
    d = d[np.isfinite(d["neg_log_10_p_value"])]
    d["category"] = d["category"].astype(str)
    d["_key"] = d["phecode"].map(_phecode_sort_key)
    d = d.sort_values(["category", "_key"], kind="stable").reset_index(drop=True)
    cats = list(dict.fromkeys(d["category"]))
    d["_x"] = np.arange(len(d))
    fig, ax, created = figure_and_axes(ax, "plot_phewas_manhattan/ax", figsize=(11, 4.6))
    centres = []
    for i, cat in enumerate(cats):
        sub = d[d["category"] == cat]
        colour = _CATEGORY_COLOURS[i % len(_CATEGORY_COLOURS)]
        up = sub["beta"] >= 0
        ax.scatter(sub.loc[up, "_x"], sub.loc[up, "neg_log_10_p_value"], marker="^", s=22, color=colour, lw=0)
        ax.scatter(sub.loc[~up, "_x"], sub.loc[~up, "neg_log_10_p_value"], marker="v", s=22, color=colour, lw=0)
        centres.append(sub["_x"].mean())
    n_tests = len(d)
    thr = -np.log10(bonferroni if bonferroni is not None else 0.05 / max(n_tests, 1))
    ax.axhline(thr, color="#c0392b", lw=0.9, ls="--", label=f"Bonferroni ({n_tests} tests)")
    ax.axhline(-np.log10(0.05), color="0.6", lw=0.6, ls=":", label="p = 0.05")
    top = d[d["neg_log_10_p_value"] >= thr].nlargest(n_labels, "neg_log_10_p_value")
    if top.empty:  # nothing passes Bonferroni: still name the three strongest nominal hits
        top = d[d["neg_log_10_p_value"] >= -np.log10(0.05)].nlargest(3, "neg_log_10_p_value")
    label_col = "phecode_string" if "phecode_string" in d.columns else "phecode"
    for _, r in top.iterrows():
        text = textwrap.shorten(str(r[label_col]), 32, placeholder="...")
        ax.annotate(text, (r["_x"], r["neg_log_10_p_value"]), xytext=(4, 4), textcoords="offset points",
                    fontsize=7, rotation=20)
    ax.set_xticks(centres)
    ax.set_xticklabels([textwrap.shorten(c, 22, placeholder="...") for c in cats], rotation=60, ha="right",
                       fontsize=7)
    ax.set_xlim(-1, max(len(d), 1))
    ymax = max(float(d["neg_log_10_p_value"].max()) if len(d) else 1.0, thr) * 1.15 + 0.3
    ax.set_ylim(0, ymax)
    ax.set_ylabel(r"$-\log_{10}\,p$")
    ax.legend(fontsize=7, frameon=False, loc="upper right")
    if title:
        ax.set_title(title, fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    if created:
        fig.tight_layout()
    if out is not None:
        save_figure(fig, out)
    return fig


def plot_phewas_forest(
    results: pd.DataFrame,
    *,
    ax=None,
    phecodes: list[str] | None = None,
    n_top: int = 12,
    title: str | None = "Selected phecodes across BMFF sites",
    out: str | os.PathLike | None = None,
):
    """Forest plot of selected phecodes (default: the ``n_top`` strongest) across exposures.

    Parameters
    ----------
    results : DataFrame
        ``run_phewas`` output (``exposure, phecode, odds_ratio`` and its interval, ``p_value``;
        ``phecode_string`` labels the rows when present).
    ax : matplotlib.axes.Axes, optional
        Draw into these axes; default a new figure.
    phecodes : list of str, optional
        Rows to draw, in order; default the ``n_top`` phecodes with the smallest P.
    n_top : int, default=12
    title : str, optional
    out : path, optional
        Also save as ``out.png`` and ``out.pdf``.

    Returns
    -------
    matplotlib.figure.Figure
    """
    check_columns("plot_phewas_forest/results", results,
                  ["exposure", "phecode", "odds_ratio", "ci_lower", "ci_upper", "p_value"])
    if phecodes is None:
        best = results.groupby("phecode")["p_value"].min().nsmallest(n_top)
        phecodes = list(best.index)
    d = results[results["phecode"].isin(phecodes)].copy()
    names = d["phecode_string"].astype(str) if "phecode_string" in d.columns else d["phecode"]
    d["label"] = [textwrap.shorten(f"{n} ({c})", 48, placeholder="...") for n, c in zip(names, d["phecode"], strict=True)]
    order = {c: i for i, c in enumerate(phecodes)}
    d = d.sort_values(by="phecode", key=lambda s: s.map(order), kind="stable")
    d["exposure"] = d["exposure"].astype(str).str.removeprefix("bmff_")
    return plot_forest(d, label="label", estimate="odds_ratio", low="ci_lower", high="ci_upper",
                       series="exposure", xlabel="odds ratio per SD (95% CI)", title=title, out=out, ax=ax)


__all__ = ["plot_phewas_forest", "plot_phewas_manhattan"]

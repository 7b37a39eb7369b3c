"""Enrichment figures: the gene Manhattan plot and the top gene sets dot plot."""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd

from bma_genetics._check import check_columns
from bma_genetics.plots._axes import figure_and_axes
from bma_genetics.stats import chromosome_rank


def plot_gene_manhattan(
    genes: pd.DataFrame,
    *,
    ax=None,
    n_labels: int = 10,
    bonferroni: float | None = None,
    title: str | None = None,
):
    """Gene Manhattan plot: -log10 P of each gene at its midpoint, chromosomes alternating.

    The dashed line is gene-wide significance ``0.05 / n_genes`` (or ``bonferroni``); the
    ``n_labels`` strongest genes above it are labelled with their symbols (the three strongest
    when none passes).

    Parameters
    ----------
    genes : DataFrame
        ``gene_name, chromosome, start, end, p_value`` (``genes.tsv``).
    ax : matplotlib.axes.Axes, optional
        Draw into these axes; default a new 10 x 4 in figure.
    n_labels : int, default=10
    bonferroni : float, optional
        P threshold of the line.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> g = pd.DataFrame({"gene_name": ["A", "B"], "chromosome": ["1", "2"], "start": [1, 5],
    ...                   "end": [3, 9], "p_value": [1e-9, 0.3]})
    >>> fig = plot_gene_manhattan(g)
    """
    check_columns("plot_gene_manhattan/genes", genes, ["gene_name", "chromosome", "start", "end", "p_value"])
    g = genes.copy()
    g["_c"] = chromosome_rank(g["chromosome"])
    g["_mid"] = (g["start"].to_numpy(np.float64) + g["end"].to_numpy(np.float64)) / 2
    g = g.sort_values(["_c", "_mid"])
    p = np.clip(g["p_value"].to_numpy(np.float64), 1e-300, 1.0)
    g["_y"] = -np.log10(p)
    offsets, ticks, labels, x = {}, [], [], np.empty(len(g))
    base = 0.0
    for c, sub in g.groupby("_c", sort=True):
        lo, hi = sub["_mid"].min(), sub["_mid"].max()
        offsets[c] = base - lo
        ticks.append(base + (hi - lo) / 2)
        labels.append(str(sub["chromosome"].iloc[0]))
        base += (hi - lo) + 5e6
    x = g["_mid"].to_numpy() + g["_c"].map(offsets).to_numpy()
    thr = bonferroni if bonferroni is not None else 0.05 / max(len(g), 1)
    fig, ax, created = figure_and_axes(ax, "plot_gene_manhattan/ax", figsize=(10, 4))
    colours = np.where(g["_c"].rank(method="dense").to_numpy() % 2 == 0, "#1f4e79", "#6fa8dc")
    ax.scatter(x, g["_y"], c=colours, s=9, linewidths=0)
    ax.axhline(-np.log10(thr), color="#c0392b", ls="--", lw=1, label=f"P = {thr:.2g}")
    g["_x"] = x
    hits = g[g["p_value"] < thr].nsmallest(n_labels, "p_value")
    if hits.empty:
        hits = g.nsmallest(min(3, len(g)), "p_value")
    for _, r in hits.iterrows():
        ax.annotate(str(r["gene_name"]), (r["_x"], r["_y"]), xytext=(3, 3), textcoords="offset points",
                    fontsize=7, style="italic")
    ax.set_xticks(ticks)
    ax.set_xticklabels(labels, fontsize=7)
    ax.set_xlabel("chromosome")
    ax.set_ylabel(r"$-\log_{10}$ P (gene)")
    ax.set_ylim(0, max(float(g["_y"].max()), -np.log10(thr)) * 1.12 + 0.1)
    ax.legend(loc="upper right", fontsize=7, frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    ax.set_title(title or f"Gene-based association ({len(g):,} genes)", fontsize=10)
    if created:
        fig.tight_layout()
    return fig


def plot_top_gene_sets(sets: pd.DataFrame, *, ax=None, n_top: int = 20, fdr_level: float = 0.05,
                       title: str | None = None):
    """Top gene sets: -log10 competitive P (dots sized by set size, filled when FDR < level).

    Parameters
    ----------
    sets : DataFrame
        ``set_id, set_name, n_genes, p_value, fdr`` (``gene_sets.tsv``).
    ax : matplotlib.axes.Axes, optional
        Draw into these axes; default a new figure sized to the rows.
    n_top : int, default=20
    fdr_level : float, default=0.05
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    check_columns("plot_top_gene_sets/sets", sets, ["set_id", "set_name", "n_genes", "p_value", "fdr"])
    top = sets.nsmallest(n_top, "p_value").iloc[::-1]
    y = np.arange(len(top))
    xval = -np.log10(np.clip(top["p_value"].to_numpy(np.float64), 1e-300, 1.0))
    fig, ax, created = figure_and_axes(ax, "plot_top_gene_sets/ax", figsize=(8, 0.32 * max(len(top), 3) + 1.2))
    sig = top["fdr"].to_numpy(np.float64) < fdr_level
    size = 15 + 120 * np.sqrt(top["n_genes"].to_numpy(np.float64) / max(1.0, float(sets["n_genes"].max())))
    ax.hlines(y, 0, xval, color="#bbbbbb", lw=0.8)
    if sig.any():
        ax.scatter(xval[sig], y[sig], s=size[sig], color="#c0392b", label=f"FDR < {fdr_level}", zorder=3)
    if (~sig).any():
        ax.scatter(xval[~sig], y[~sig], s=size[~sig], facecolors="white", edgecolors="#555555",
                   label=f"FDR >= {fdr_level}", zorder=3)
    names = [textwrap.shorten(f"{n} ({i})" if n != i else str(i), 60) for n, i in zip(top["set_name"], top["set_id"], strict=True)]
    ax.set_yticks(y)
    ax.set_yticklabels(names, fontsize=7)
    ax.set_xlabel(r"$-\log_{10}$ P (competitive)")
    ax.set_xlim(0, max(float(xval.max()) * 1.1, 1.5))
    ax.legend(loc="lower right", fontsize=7, frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    ax.set_title(title or "Top gene sets", fontsize=10)
    if created:
        fig.tight_layout()
    return fig

"""Colocalisation figures: the posterior of coloc's five hypotheses as stacked bars."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bma_genetics._check import check_columns
from bma_genetics.plots._axes import figure_and_axes

HYPOTHESIS_COLUMNS = ("pp_h0", "pp_h1", "pp_h2", "pp_h3", "pp_h4")
HYPOTHESIS_LABELS = ("H0 none", "H1 trait 1 only", "H2 trait 2 only", "H3 distinct variants", "H4 shared variant")
HYPOTHESIS_COLOURS = ("#d9d9d9", "#9ecae1", "#fdd0a2", "#fb6a4a", "#2ca25f")


def plot_coloc(data: pd.DataFrame, *, ax=None, label: str = "other", title: str | None = None,
               max_rows: int = 40):
    """Stacked horizontal bars of coloc's posteriors PP.H0-PP.H4, one bar per test.

    Parameters
    ----------
    data : DataFrame
        ``pp_h0 .. pp_h4`` and a label column (the finemap stage's ``coloc.tsv``: ``trait,
        locus, other, gene_name``, ...).
    ax : matplotlib.axes.Axes, optional
        Draw into this axes; default a new figure.
    label : str, default="other"
        Column naming each bar (``trait`` and ``locus`` are prefixed when present and vary).
    title : str, optional
    max_rows : int, default=40
        The bars with the largest PP.H4 when there are more tests.

    Returns
    -------
    matplotlib.figure.Figure
    """
    check_columns("plot_coloc/data", data, [*HYPOTHESIS_COLUMNS, label])
    d = data.sort_values("pp_h4", ascending=False).head(max_rows).iloc[::-1]
    names = d[label].astype(str)
    if "gene_name" in d.columns and label == "other":
        names = d["gene_name"].astype(str).where(d["gene_name"].astype(str) != "", names)
    if "locus" in d.columns:
        prefix = (d["trait"].astype(str) + " " if "trait" in d.columns and d["trait"].nunique() > 1 else "")
        names = prefix + "locus " + d["locus"].astype(str) + ": " + names
    fig, ax, created = figure_and_axes(ax, "plot_coloc/ax", figsize=(7, 0.8 + 0.28 * max(len(d), 1)))
    left = np.zeros(len(d))
    yy = np.arange(len(d))
    for col, lab, colour in zip(HYPOTHESIS_COLUMNS, HYPOTHESIS_LABELS, HYPOTHESIS_COLOURS, strict=True):
        vals = d[col].astype(float).to_numpy()
        ax.barh(yy, vals, left=left, color=colour, edgecolor="white", lw=0.4, label=lab)
        left += vals
    ax.axvline(0.8, color="k", ls=":", lw=0.8)
    ax.set_yticks(yy)
    ax.set_yticklabels(names, fontsize=7)
    ax.set_xlim(0, 1)
    ax.set_xlabel("posterior probability")
    ax.legend(fontsize=6, frameon=False, ncol=3, loc="lower center", bbox_to_anchor=(0.5, 1.0))
    ax.spines[["top", "right"]].set_visible(False)
    if title:
        ax.set_title(title, fontsize=10, pad=28)
    if created:
        fig.tight_layout()
    return fig

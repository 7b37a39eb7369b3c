"""LDSC figures: h2 per trait with its confidence interval, and the rg heatmap (Wu 2025 Fig. 4 style)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from bma_genetics._check import check_columns
from bma_genetics.plots._axes import figure_and_axes


def plot_h2(data: pd.DataFrame, *, ax=None, title: str | None = None, level: float = 0.95) -> Figure:
    """SNP heritability per trait with its confidence interval (LDSC jackknife SE).

    Parameters
    ----------
    data : DataFrame
        Columns ``trait``, ``h2``, ``h2_standard_error`` (``run_h2``'s table, ``h2.tsv``).
        Estimates outside [0, 1] are drawn where they are (hollow markers), never clipped.
    ax : matplotlib.axes.Axes, optional
        Draw into this axes; default a new figure.
    title : str, optional
    level : float, default=0.95
        Confidence level of the interval.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from scipy import stats

    check_columns("plot_h2/data", data, ["trait", "h2", "h2_standard_error"])
    frame = data.reset_index(drop=True)
    fig, ax, created = figure_and_axes(ax, "plot_h2/ax", figsize=(6, 0.45 * len(frame) + 1.5))
    q = stats.norm.isf((1 - level) / 2)
    y = np.arange(len(frame))[::-1]
    h2 = frame["h2"].to_numpy(float)
    se = frame["h2_standard_error"].to_numpy(float)
    inside = (h2 >= 0) & (h2 <= 1)
    ax.errorbar(h2, y, xerr=q * se, fmt="none", ecolor="0.3", capsize=3)
    ax.scatter(h2[inside], y[inside], color="C0", zorder=3, label="h2")
    if (~inside).any():
        ax.scatter(h2[~inside], y[~inside], facecolors="none", edgecolors="C3", zorder=3,
                   label="outside [0, 1]")
        ax.legend(loc="best", fontsize=8)
    ax.axvline(0, color="0.6", lw=0.8, ls="--")
    ax.set_yticks(y, frame["trait"].tolist())
    ax.set_xlabel(f"SNP heritability (LDSC), {level:.0%} CI")
    if title:
        ax.set_title(title)
    if created:
        fig.tight_layout()
    return fig


def plot_rg_heatmap(rg: pd.DataFrame, *, phenotypic: pd.DataFrame | None = None, ax=None,
                    title: str | None = None, annotate: bool = True) -> Figure:
    """Genetic correlations below the diagonal, phenotypic correlations above it.

    Parameters
    ----------
    rg : DataFrame
        Square trait x trait matrix of rg (``RGResult.matrix()``), or the pairwise table with
        ``trait_1, trait_2, rg`` (and ``phenotypic_correlation`` when known).
    phenotypic : DataFrame, optional
        Square trait x trait phenotypic correlations for the upper triangle (default: the
        table's ``phenotypic_correlation`` column, when there is one).
    ax : matplotlib.axes.Axes, optional
    title : str, optional
    annotate : bool, default=True
        Write the values in the cells.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if {"trait_1", "trait_2", "rg"} <= set(rg.columns):
        traits = list(dict.fromkeys([*rg["trait_1"], *rg["trait_2"]]))
        mat = pd.DataFrame(np.nan, index=traits, columns=traits)
        pheno = pd.DataFrame(np.nan, index=traits, columns=traits)
        for r in rg.itertuples(index=False):
            mat.loc[r.trait_1, r.trait_2] = mat.loc[r.trait_2, r.trait_1] = r.rg
            if "phenotypic_correlation" in rg.columns:
                pheno.loc[r.trait_1, r.trait_2] = pheno.loc[r.trait_2, r.trait_1] = r.phenotypic_correlation
        phenotypic = pheno if phenotypic is None else phenotypic
    else:
        mat = rg.astype(float)
        traits = list(mat.index)
    k = len(traits)
    shown = np.full((k, k), np.nan)
    lower = np.tril_indices(k, -1)
    shown[lower] = mat.to_numpy(float)[lower]
    if phenotypic is not None:
        ph = phenotypic.reindex(index=traits, columns=traits).to_numpy(float)
        upper = np.triu_indices(k, 1)
        shown[upper] = ph[upper]
    fig, ax, created = figure_and_axes(ax, "plot_rg_heatmap/ax", figsize=(0.6 * k + 3, 0.6 * k + 2))
    im = ax.imshow(np.clip(shown, -1, 1), cmap="RdBu_r", vmin=-1, vmax=1)
    if annotate:
        for i in range(k):
            for j in range(k):
                if i != j and np.isfinite(shown[i, j]):
                    ax.text(j, i, f"{shown[i, j]:.2f}", ha="center", va="center", fontsize=7)
    ax.set_xticks(range(k), traits, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(k), traits, fontsize=8)
    fig.colorbar(im, ax=ax, shrink=0.8, label="correlation")
    ax.set_title(title or "rg (lower) and phenotypic correlation (upper)", fontsize=9)
    if created:
        fig.tight_layout()
    return fig

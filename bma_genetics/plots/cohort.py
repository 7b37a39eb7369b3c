"""Cohort description figures."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bma_genetics._check import check_columns, fail
from bma_genetics.plots._axes import figure_and_axes_grid


def plot_bmff_by_age_sex(data: pd.DataFrame, traits: list[str], *, axes=None, bins: int = 8):
    """BMFF against age at imaging, women and men separately (binned means +- 95 % CI).

    Parameters
    ----------
    data : DataFrame
        ``age``, ``sex`` (0 female, 1 male) and the ``traits`` columns (fat fraction, 0-1).
    traits : list of str
        Columns to draw, one panel each.
    axes : sequence of matplotlib.axes.Axes, optional
        One axes per trait; default a new figure, up to 4 panels a row.
    bins : int, default=8
        Age bins (quantiles of ``age``).

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not traits:
        raise fail("plot_bmff_by_age_sex/traits", "no trait given")
    check_columns("plot_bmff_by_age_sex/data", data, ["age", "sex", *traits])
    ncol = min(4, len(traits))
    nrow = int(np.ceil(len(traits) / ncol))
    fig, flat, created = figure_and_axes_grid(axes, len(traits), "plot_bmff_by_age_sex/axes", nrows=nrow, ncols=ncol,
                                              figsize=(3.2 * ncol, 2.8 * nrow), sharex=True)
    edges = np.quantile(data["age"].dropna(), np.linspace(0, 1, bins + 1))
    for ax, t in zip(flat, traits, strict=False):
        for sex, colour, label in ((0, "#c0392b", "women"), (1, "#2471a3", "men")):
            d = data.loc[data["sex"] == sex, ["age", t]].dropna()
            if d.empty:
                continue
            grp = d.groupby(pd.cut(d["age"], edges, include_lowest=True), observed=True)[t]
            mid = [iv.mid for iv in grp.mean().index]
            mean, se = grp.mean().to_numpy(), (grp.std() / np.sqrt(grp.count())).to_numpy()
            ax.errorbar(mid, 100 * mean, yerr=196 * se, color=colour, marker="o", ms=3, lw=1, capsize=2, label=label)
        ax.set_title(t.removeprefix("bmff_").replace("_", " "), fontsize=9)
        ax.set_xlabel("age at imaging (years)", fontsize=8)
        ax.set_ylabel("BMFF (%)", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in flat[len(traits):]:
        ax.set_visible(False)
    flat[0].legend(fontsize=7, frameon=False)
    if created:
        fig.tight_layout()
    return fig

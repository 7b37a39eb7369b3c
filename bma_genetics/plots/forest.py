"""Forest plots: estimates with intervals, one row per item, optionally several series per row.

Generic: PheWAS (phecodes across BMFF sites), MR (methods or SNPs) and meta-analysis can all
call :func:`plot_forest`.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from bma_genetics._check import check_columns
from bma_genetics.plots._axes import figure_and_axes
from bma_genetics.plots._save import save_figure

_PALETTE = ["#1b4f72", "#c0392b", "#117a65", "#7d3c98", "#b9770e", "#566573", "#2e86c1", "#cb4335"]


def plot_forest(
    data: pd.DataFrame,
    *,
    ax=None,
    label: str = "label",
    estimate: str = "estimate",
    low: str = "ci_low",
    high: str = "ci_high",
    series: str | None = None,
    null_value: float = 1.0,
    log_scale: bool = True,
    xlabel: str = "odds ratio (95% CI)",
    title: str | None = None,
    out: str | os.PathLike | None = None,
):
    """Draw a forest plot: one row per ``label``, a point and interval per ``series``.

    Parameters
    ----------
    data : DataFrame
        One row per (label, series) with the estimate and its interval bounds.
    ax : matplotlib.axes.Axes, optional
        Draw into these axes; default a new figure sized to the rows.
    label, estimate, low, high : str, default="label", "estimate", "ci_low", "ci_high"
        Column names.
    series : str, optional
        Column whose values are drawn side by side within each row (e.g. the BMFF site).
    null_value : float, default=1.0
        Reference line (1 for ratios, 0 for differences).
    log_scale : bool, default=True
        Log x-axis (ratios).
    xlabel : str, default="odds ratio (95% CI)"
    title : str, optional
    out : path, optional
        Also save as ``out.png`` and ``out.pdf`` (:func:`~bma_genetics.plots.save_figure`).

    Returns
    -------
    matplotlib.figure.Figure
    """
    cols = [label, estimate, low, high] + ([series] if series else [])
    check_columns("plot_forest/data", data, cols)
    labels = list(dict.fromkeys(data[label].astype(str)))
    groups = list(dict.fromkeys(data[series].astype(str))) if series else [None]
    height = max(2.0, 0.32 * len(labels) * max(1, min(len(groups), 3) * 0.6) + 1.2)
    fig, ax, created = figure_and_axes(ax, "plot_forest/ax", figsize=(7.0, height))
    ypos = {lab: len(labels) - 1 - i for i, lab in enumerate(labels)}
    width = 0.7
    # first series on top within a row, as the legend lists it
    offsets = np.linspace(width / 2, -width / 2, len(groups)) if len(groups) > 1 else [0.0]
    for g, off, colour in zip(groups, offsets, _PALETTE * 4, strict=False):
        sub = data if g is None else data[data[series].astype(str) == g]
        y = np.array([ypos[str(v)] for v in sub[label]]) + off
        est = sub[estimate].to_numpy(dtype=float)
        lo = sub[low].to_numpy(dtype=float)
        hi = sub[high].to_numpy(dtype=float)
        ax.errorbar(est, y, xerr=[est - lo, hi - est], fmt="s", ms=4, color=colour, lw=1.1,
                    capsize=2, label=g)
    ax.axvline(null_value, color="0.4", lw=0.8, ls="--")
    if log_scale:
        from matplotlib import ticker

        ax.set_xscale("log")
        ax.xaxis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(ticker.FormatStrFormatter("%g"))
        ax.xaxis.set_minor_formatter(ticker.NullFormatter())
    ax.set_yticks(list(ypos.values()))
    ax.set_yticklabels(list(ypos.keys()), fontsize=8)
    ax.set_ylim(-0.8, len(labels) - 0.2)
    ax.set_xlabel(xlabel)
    if title:
        ax.set_title(title, fontsize=10)
    if series and len(groups) > 1:
        ax.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.spines[["top", "right"]].set_visible(False)
    if created:
        fig.tight_layout()
    if out is not None:
        save_figure(fig, out)
    return fig

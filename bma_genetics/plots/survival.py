"""Survival figures: Kaplan-Meier cumulative incidence with a risk table, hazard-ratio forest.

They read the tables of :mod:`bma_genetics.survival` (``kaplan_meier``, ``numbers_at_risk``,
``SurvivalResult.to_frame()``) by column name.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from bma_genetics._check import check_columns
from bma_genetics.plots._axes import figure_and_axes_grid
from bma_genetics.plots._save import save_figure
from bma_genetics.plots.forest import plot_forest

_PALETTE = ["#1b4f72", "#b9770e", "#c0392b", "#117a65", "#7d3c98", "#566573"]


def plot_cumulative_incidence(
    km: pd.DataFrame,
    risk_table: pd.DataFrame | None = None,
    *,
    axes=None,
    time_label: str = "years of follow-up",
    title: str | None = None,
    ci: bool = True,
    percent: bool = True,
    out: str | os.PathLike | None = None,
):
    """Kaplan-Meier cumulative incidence curves by group, the numbers at risk under them.

    Parameters
    ----------
    km : DataFrame
        ``group, time, cumulative_incidence`` (and ``ci_lower, ci_upper`` with ``ci``), as
        :func:`bma_genetics.survival.kaplan_meier` returns.
    risk_table : DataFrame, optional
        ``group, time, n_at_risk`` (:func:`bma_genetics.survival.numbers_at_risk`); drawn in the
        lower panel (empty without it).
    axes : sequence of two matplotlib Axes, optional
        Curves, then risk table; default a new figure (the table a quarter of its height).
    time_label : str, default="years of follow-up"
        Label of the time axis (``"age"`` on the age scale).
    title : str, optional
    ci : bool, default=True
        Shade the 95 % interval.
    percent : bool, default=True
        Incidence in percent.
    out : path, optional
        Also save as ``out.png`` and ``out.pdf``.

    Returns
    -------
    matplotlib.figure.Figure
    """
    check_columns("plot_cumulative_incidence/km", km, ["group", "time", "cumulative_incidence"]
                  + (["ci_lower", "ci_upper"] if ci else []))
    if risk_table is not None:
        check_columns("plot_cumulative_incidence/risk_table", risk_table, ["group", "time", "n_at_risk"])
    fig, (ax, tab), created = figure_and_axes_grid(
        axes, 2, "plot_cumulative_incidence/axes", nrows=2, ncols=1, figsize=(6.5, 5.2),
        gridspec_kw={"height_ratios": [3.2, 1]}, sharex=True)
    scale = 100.0 if percent else 1.0
    groups = list(dict.fromkeys(km["group"].astype(str)))
    t0 = float(km["time"].min()) if risk_table is None else min(float(km["time"].min()),
                                                                 float(risk_table["time"].min()))
    for g, colour in zip(groups, _PALETTE * 4, strict=False):
        sub = km[km["group"].astype(str) == g].sort_values("time")
        t = np.r_[t0, sub["time"].to_numpy(dtype=float)]
        y = np.r_[0.0, sub["cumulative_incidence"].to_numpy(dtype=float)] * scale
        ax.step(t, y, where="post", color=colour, lw=1.4, label=g)
        if ci:
            lo = np.r_[0.0, sub["ci_lower"].to_numpy(dtype=float)] * scale
            hi = np.r_[0.0, sub["ci_upper"].to_numpy(dtype=float)] * scale
            ax.fill_between(t, lo, hi, step="post", color=colour, alpha=0.15, lw=0)
    ax.set_ylabel("cumulative incidence" + (" (%)" if percent else ""))
    ax.legend(fontsize=8, frameon=False, loc="upper left")
    ax.spines[["top", "right"]].set_visible(False)
    if title:
        ax.set_title(title, fontsize=10)
    if risk_table is None:
        tab.set_axis_off()
        ax.set_xlabel(time_label)
    else:
        for i, (g, colour) in enumerate(zip(groups, _PALETTE * 4, strict=False)):
            sub = risk_table[risk_table["group"].astype(str) == g]
            y = len(groups) - 1 - i
            for t, n in zip(sub["time"], sub["n_at_risk"], strict=True):
                tab.text(float(t), y, f"{int(n):,}", ha="center", va="center", fontsize=7, color=colour)
        tab.set_yticks(range(len(groups)))
        tab.set_yticklabels(list(reversed(groups)), fontsize=7)
        tab.set_ylim(-0.6, len(groups) - 0.4)
        tab.set_title("number at risk", fontsize=8, loc="left")
        tab.tick_params(axis="y", length=0)
        tab.spines[["top", "right", "left"]].set_visible(False)
        tab.set_xlabel(time_label)
        tab.set_xticks(sorted({float(t) for t in risk_table["time"]}))
    if created:
        fig.tight_layout()
    if out is not None:
        save_figure(fig, out)
    return fig


def plot_hazard_ratios(
    table: pd.DataFrame,
    *,
    ax=None,
    label: str = "group",
    series: str | None = None,
    title: str | None = None,
    out: str | os.PathLike | None = None,
):
    """Forest plot of hazard ratios by group (e.g. score tertiles against the lowest).

    Parameters
    ----------
    table : DataFrame
        ``hazard_ratio, ci_lower, ci_upper`` and the ``label`` column; rows with
        ``model == "per_sd"`` are drawn as ``per SD``, the reference group (no standard error)
        as ``(reference)`` (the table of
        :meth:`bma_genetics.survival.SurvivalResult.to_frame`).
    ax : matplotlib.axes.Axes, optional
    label : str, default="group"
    series : str, optional
        Column drawn side by side within a row (e.g. the score or BMFF site).
    title : str, optional
    out : path, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    check_columns("plot_hazard_ratios/table", table, ["hazard_ratio", "ci_lower", "ci_upper", label])
    data = table.copy()
    data[label] = data[label].astype(object)
    if "model" in data.columns:
        data.loc[data["model"] == "per_sd", label] = "per SD"
        if "standard_error" in data.columns:  # the reference group: HR 1 without an interval
            ref = (data["model"] == "group") & data["standard_error"].isna()
            data.loc[ref, label] = data.loc[ref, label].astype(str) + " (reference)"
    data[label] = data[label].fillna("").astype(str)
    return plot_forest(data, ax=ax, label=label, estimate="hazard_ratio", low="ci_lower", high="ci_upper",
                       series=series, xlabel="hazard ratio (95% CI)", title=title, out=out)

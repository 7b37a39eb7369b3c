"""Calvarial BMA figures: measured against the true marrow intensity of simulated heads."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bma_genetics._check import check_columns
from bma_genetics.plots._axes import figure_and_axes


def plot_calvarial_vs_truth(data: pd.DataFrame, *, ax=None, title: str | None = None):
    """Scatter of measured calvarial BMA against the true marrow intensity (0-255), QC-failed heads marked.

    Parameters
    ----------
    data : DataFrame
        ``calvarial_bma``, ``marrow_intensity`` (the truth), ``qc_pass``; optional ``failure``
        (planted failure kind, ``none`` for clean heads).
    ax : matplotlib.axes.Axes, optional
        Draw into this axes; default a new figure.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    check_columns("plot_calvarial_vs_truth/data", data, ["calvarial_bma", "marrow_intensity", "qc_pass"])
    fig, ax, created = figure_and_axes(ax, "plot_calvarial_vs_truth/ax", figsize=(4.2, 4.0))
    x = pd.to_numeric(data["marrow_intensity"], errors="coerce")
    y = pd.to_numeric(data["calvarial_bma"], errors="coerce")
    ok = data["qc_pass"].astype(bool) & x.notna() & y.notna()
    failure = data["failure"] if "failure" in data.columns else pd.Series("none", index=data.index)
    clean = ok & (failure == "none")
    ax.scatter(x[ok], y[ok], s=14, color="#1b4f72", alpha=0.85, linewidths=0, label="QC pass")
    bad = ~ok & x.notna() & y.notna()
    if bad.any():
        ax.scatter(x[bad], y[bad], s=22, marker="x", color="#c0392b", label="QC fail")
    if clean.sum() > 2:
        slope, intercept = np.polyfit(x[clean], y[clean], 1)
        grid = np.array([x[clean].min(), x[clean].max()])
        ax.plot(grid, intercept + slope * grid, color="#7f8c8d", lw=1)
        r = np.corrcoef(x[clean], y[clean])[0, 1]
        ax.set_title(title or f"calvarial BMA vs truth: r = {r:.3f} (n = {int(clean.sum())})", fontsize=9)
    elif title:
        ax.set_title(title, fontsize=9)
    lo = float(np.nanmin([x.min(), y.min()]))
    hi = float(np.nanmax([x.max(), y.max()]))
    ax.plot([lo, hi], [lo, hi], color="#c0392b", lw=0.8, ls="--")
    ax.set_xlabel("true marrow intensity")
    ax.set_ylabel("calvarial BMA (mean marrow intensity)")
    ax.legend(fontsize=8, frameon=False)
    if created:
        fig.tight_layout()
    return fig

"""BMFF figures: measured against true fat fraction per site (image-derived phenotypes)."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from bma_genetics._check import check_columns
from bma_genetics.plots._axes import figure_and_axes_grid
from bma_genetics.plots._save import save_figure
from bma_genetics.sites import MAIN_TRAITS


def plot_bmff_vs_truth(
    measured: pd.DataFrame,
    truth: pd.DataFrame,
    *,
    axes=None,
    traits: tuple[str, ...] = MAIN_TRAITS,
    out: str | os.PathLike | None = None,
):
    """Scatter of measured against true BMFF (percent), one panel per trait, identity line, r and MAE.

    Parameters
    ----------
    measured, truth : DataFrame
        ``eid`` plus the trait columns (the BMFF table; ``truth/bmff_true.parquet``).
    axes : sequence of matplotlib.axes.Axes, optional
        One axes per trait; default a new figure, one row of panels.
    traits : tuple of str, default=MAIN_TRAITS
        Columns to draw.
    out : path, optional
        Also save as ``out.png`` and ``out.pdf`` (:func:`~bma_genetics.plots.save_figure`).

    Returns
    -------
    matplotlib.figure.Figure
    """
    check_columns("plot_bmff_vs_truth/measured", measured, ["eid"])
    check_columns("plot_bmff_vs_truth/truth", truth, ["eid"])
    m = measured.assign(eid=measured["eid"].astype(str)).merge(
        truth.assign(eid=truth["eid"].astype(str)), on="eid", suffixes=("", "_true"))
    fig, flat, created = figure_and_axes_grid(axes, len(traits), "plot_bmff_vs_truth/axes", nrows=1,
                                              ncols=len(traits), figsize=(3.2 * len(traits), 3.3))
    for ax, t in zip(flat, traits, strict=True):
        a = 100 * pd.to_numeric(m.get(t), errors="coerce")
        b = 100 * pd.to_numeric(m.get(f"{t}_true"), errors="coerce")
        ok = a.notna() & b.notna()
        ax.scatter(b[ok], a[ok], s=10, color="#1b4f72", alpha=0.8, linewidths=0)
        if ok.sum() > 1:
            lo, hi = float(min(a[ok].min(), b[ok].min())), float(max(a[ok].max(), b[ok].max()))
            pad = 0.05 * (hi - lo + 1e-9)
            ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="#c0392b", lw=1)
            r = np.corrcoef(a[ok], b[ok])[0, 1] if ok.sum() > 2 else np.nan
            ax.set_title(f"{t.removeprefix('bmff_')}\nr = {r:.3f}, MAE = {np.mean(np.abs(a[ok] - b[ok])):.2f} pp", fontsize=9)
        else:
            ax.set_title(t.removeprefix("bmff_"), fontsize=9)
        ax.set_xlabel("true BMFF (%)")
        ax.set_ylabel("measured BMFF (%)")
    if created:
        fig.tight_layout()
    if out is not None:
        save_figure(fig, out)
    return fig

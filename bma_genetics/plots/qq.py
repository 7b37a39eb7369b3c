"""QQ plot of GWAS P values with lambda GC and a pointwise 95% band.

Under the null the k-th smallest of m P values is Beta(k, m - k + 1); the band is its 2.5% and
97.5% quantiles. Dense low-significance points are thinned (they overlap anyway) and
rasterised.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from bma_genetics._check import check_columns
from bma_genetics.plots._axes import figure_and_axes
from bma_genetics.plots._columns import neg_log10_p_values
from bma_genetics.stats import lambda_gc


def plot_qq(
    sumstats: pd.DataFrame | dict[str, pd.DataFrame],
    *,
    ax=None,
    title: str | None = None,
    max_points: int = 20_000,
):
    """QQ plot of one or several result sets, lambda GC in the legend.

    Parameters
    ----------
    sumstats : DataFrame or dict of name -> DataFrame
        Need ``p_value`` (``neg_log_10_p_value`` used when present, exact below 1e-300).
    ax : matplotlib.axes.Axes, optional
        Draw into these axes; default a new 4.2 x 4.2 in figure.
    title : str, optional
    max_points : int, default=20000
        Points drawn per set: all of the most significant, a thinned sample of the rest.

    Returns
    -------
    matplotlib.figure.Figure
    """
    sets = sumstats if isinstance(sumstats, dict) else {"": sumstats}
    for name, ss in sets.items():
        check_columns(f"plot_qq/sumstats{'[' + repr(name) + ']' if name else ''}", ss, ["p_value"])
    fig, ax, _ = figure_and_axes(ax, "plot_qq/ax", figsize=(4.2, 4.2), layout="constrained")
    m_max = 1
    for name, ss in sets.items():
        obs = neg_log10_p_values(ss)
        obs = np.sort(obs[np.isfinite(obs)])[::-1]
        m = len(obs)
        if m == 0:
            continue
        m_max = max(m_max, m)
        exp = -np.log10((np.arange(1, m + 1) - 0.5) / m)
        keep = np.arange(m)
        if m > max_points:
            head = np.arange(min(m, max_points // 2))
            tail = np.unique(np.linspace(len(head), m - 1, max_points // 2).astype(int))
            keep = np.r_[head, tail]
        lam = lambda_gc(ss["p_value"], ss["neg_log_10_p_value"] if "neg_log_10_p_value" in ss else None)
        label = f"{name + ': ' if name else ''}$\\lambda_{{GC}}$ = {lam:.3f}"
        ax.scatter(exp[keep], obs[keep], s=4, lw=0, label=label, rasterized=True)
    k = np.unique(np.geomspace(1, m_max, 400).astype(int))
    lo = -np.log10(stats.beta.ppf(0.975, k, m_max - k + 1))
    hi = -np.log10(stats.beta.ppf(0.025, k, m_max - k + 1))
    ex = -np.log10((k - 0.5) / m_max)
    ax.fill_between(ex, lo, hi, color="0.85", lw=0, label="95% band")
    ax.plot([0, ex.max()], [0, ex.max()], color="0.3", lw=0.8)
    ax.set_xlabel(r"expected $-\log_{10}P$")
    ax.set_ylabel(r"observed $-\log_{10}P$")
    ax.legend(fontsize=7, frameon=False, loc="upper left")
    ax.spines[["top", "right"]].set_visible(False)
    if title:
        ax.set_title(title, fontsize=10)
    return fig

"""Figures of an MR analysis, drawn from its :class:`~bma_genetics.mr.api.MRResult` (layer 6:
the ``mr`` CLI and pipeline stage call this; the API itself draws nothing)."""

from __future__ import annotations

import os
from pathlib import Path

from bma_genetics._check import fail
from bma_genetics.mr.api import MRResult


def write_mr_figures(result: MRResult, out: str | os.PathLike) -> dict[str, Path]:
    """Scatter (with the Egger intercept of the fit), single-SNP forest, funnel and leave-one-out.

    Parameters
    ----------
    result : MRResult
        From :func:`bma_genetics.mr.run_mr_analysis` (needs ``harmonised`` and the
        ``single_snp`` and ``leave_one_out`` tables).
    out : path
        Folder of the figures (``scatter.png``/``.pdf``, ...).

    Returns
    -------
    dict of str to Path
        ``figures/<file name>`` -> path, for :attr:`MRResult.files`.
    """
    from bma_genetics.plots import (
        plot_mr_funnel,
        plot_mr_leave_one_out,
        plot_mr_scatter,
        plot_mr_single_snp_forest,
        save_figure,
    )

    h = result.harmonised
    if h is None or "single_snp" not in result.tables:
        raise fail("write_mr_figures/result", "needs the result of run_mr_analysis (harmonised table and diagnostics)")
    frames = result.tables
    title = f"{h['exposure'].iloc[0]} -> {h['outcome'].iloc[0]}"
    figs = {
        "scatter": plot_mr_scatter(h, result.table, title=title),
        "single_snp_forest": plot_mr_single_snp_forest(frames["single_snp"], title=title),
        "funnel": plot_mr_funnel(frames["single_snp"], title=title),
        "leave_one_out": plot_mr_leave_one_out(frames["leave_one_out"], title=title),
    }
    files: dict[str, Path] = {}
    for name, fig in figs.items():
        for path in save_figure(fig, Path(out) / name, close=True):
            files[f"figures/{path.name}"] = path
    return files


def write_mvmr_figures(result, out: str | os.PathLike) -> dict[str, Path]:
    """The multivariable MR forest (direct effects beside univariable IVW): ``mvmr_forest.png`` / ``.pdf``.

    Parameters
    ----------
    result : MVMRResult
        From :func:`bma_genetics.mr.mvmr.run_mvmr_analysis` or :func:`~bma_genetics.mr.mvmr.run_mvmr`.
    out : path
        Folder of the figures.

    Returns
    -------
    dict of str to Path
        ``figures/<file name>`` -> path.
    """
    from bma_genetics.plots import plot_mvmr_forest, save_figure

    files: dict[str, Path] = {}
    for path in save_figure(plot_mvmr_forest(result.table), Path(out) / "mvmr_forest", close=True):
        files[f"figures/{path.name}"] = path
    return files

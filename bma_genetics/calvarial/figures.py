"""Figures of the ``calvarial`` stage (drawn through :mod:`bma_genetics.plots`)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def write_calvarial_figures(table: pd.DataFrame, truth: pd.DataFrame, folder: Path) -> list[Path]:
    """``calvarial_vs_truth.{png,pdf}``: measured BMA against the true marrow intensity of simulated heads."""
    import matplotlib.pyplot as plt

    from bma_genetics.plots import plot_calvarial_vs_truth, save_figure

    m = table.merge(truth.assign(eid=truth["eid"].astype(str))[["eid", "marrow_intensity", "failure"]], on="eid")
    fig = plot_calvarial_vs_truth(m)
    try:
        return save_figure(fig, folder / "calvarial_vs_truth")
    finally:
        plt.close(fig)

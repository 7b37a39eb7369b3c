"""Figures of a PheWAS, drawn from its :class:`~bma_genetics.phewas.api.PheWASResult` (layer 6:
the ``phewas`` CLI and pipeline stage call this; the API itself draws nothing)."""

from __future__ import annotations

import os
from pathlib import Path

from bma_genetics.phewas.api import PheWASResult


def write_phewas_figures(result: PheWASResult, out: str | os.PathLike, *, forest: bool | None = None) -> dict[str, Path]:
    """A PheWAS Manhattan per exposure and a forest plot of the strongest phecodes across exposures.

    Parameters
    ----------
    result : PheWASResult
        From :func:`bma_genetics.phewas.run_phewas`.
    out : path
        Folder of the figures (``phewas_manhattan_<exposure>.png``/``.pdf``,
        ``phewas_forest.png``/``.pdf``).
    forest : bool, optional
        Draw the forest plot; default: when there is more than one exposure.

    Returns
    -------
    dict of str to Path
        ``figures/<file name>`` -> path, for :attr:`PheWASResult.files`.
    """
    from bma_genetics.plots import plot_phewas_forest, plot_phewas_manhattan, save_figure

    res = result.table
    out = Path(out)
    figs = {f"phewas_manhattan_{exposure}": plot_phewas_manhattan(sub, title=f"PheWAS: {exposure}")
            for exposure, sub in res.groupby("exposure", sort=False)}
    if forest if forest is not None else res["exposure"].nunique() > 1:
        figs["phewas_forest"] = plot_phewas_forest(res)
    files: dict[str, Path] = {}
    for name, fig in figs.items():
        for path in save_figure(fig, out / name, close=True):
            files[f"figures/{path.name}"] = path
    return files

"""Figures of an enrichment run, drawn from its
:class:`~bma_genetics.enrichment.api.EnrichmentResult` (layer 6: the ``enrich`` CLI and the
pipeline stage call this; the API itself draws nothing)."""

from __future__ import annotations

import os
from pathlib import Path

from bma_genetics.enrichment.api import EnrichmentResult


def write_enrichment_figures(result: EnrichmentResult, out: str | os.PathLike, *,
                             prefix: str = "") -> dict[str, Path]:
    """Gene Manhattan plot and, with gene sets, the top gene sets.

    Parameters
    ----------
    result : EnrichmentResult
        From :func:`bma_genetics.enrichment.run_enrichment`.
    out : path
        Folder of the figures (``<prefix>gene_manhattan.png``/``.pdf``,
        ``<prefix>top_gene_sets.png``/``.pdf``).
    prefix : str, default=""
        Prepended to the file names (the pipeline stage uses ``"<trait>_"``).

    Returns
    -------
    dict of str to Path
        ``figures/<file name>`` -> path, for :attr:`EnrichmentResult.files`.
    """
    from bma_genetics.plots import plot_gene_manhattan, plot_top_gene_sets, save_figure

    title = result.report.get("title")
    figs = {"gene_manhattan": plot_gene_manhattan(result.table, title=title)}
    if result.gene_sets is not None and len(result.gene_sets):
        figs["top_gene_sets"] = plot_top_gene_sets(result.gene_sets, title=title)
    files: dict[str, Path] = {}
    for name, fig in figs.items():
        for path in save_figure(fig, Path(out) / f"{prefix}{name}", close=True):
            files[f"figures/{path.name}"] = path
    return files

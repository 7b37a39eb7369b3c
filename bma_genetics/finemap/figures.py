"""The finemap stage's figures: regional plots with the credible-set (PIP) track, and coloc's
posteriors as stacked bars."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def write_finemap_figures(fm, sumstats: dict[str, pd.DataFrame], coloc: pd.DataFrame | None, folder: str | Path,
                          *, genes: pd.DataFrame | None = None, max_plots: int = 20) -> list[Path]:
    """Draw a regional plot with the PIP track for each fine-mapped locus (the ``max_plots`` with
    the smallest lead P) and, when there are colocalisation tests, ``coloc_<trait>`` bars.

    Parameters
    ----------
    fm : FinemapResult
        What :func:`bma_genetics.finemap.api.run_finemap` returned.
    sumstats : dict of str to DataFrame
        The GWAS (for -log10 P around each locus).
    coloc : DataFrame or None
        coloc.abf table (``coloc.tsv``).
    folder : path
    genes : DataFrame, optional
        Gene table for the gene track.
    max_plots : int, default=20

    Returns
    -------
    list of Path
        PNG and PDF files written.
    """
    import matplotlib.pyplot as plt

    from bma_genetics.plots import plot_coloc, plot_regional, save_figure

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    loci = fm.loci[fm.loci["n_variants"] >= 2].sort_values("p_value").head(max_plots)
    for rec in loci.itertuples(index=False):
        reg = fm.regions.get((rec.trait, int(rec.locus)))
        if reg is None or reg.fit is None:
            continue
        v = reg.variants
        ss = sumstats[rec.trait]
        near = ss[(ss["chromosome"].astype(str) == str(rec.chromosome))
                  & ss["base_pair_location"].between(int(rec.region_start), int(rec.region_end))].reset_index(drop=True)
        key = near["chromosome"].astype(str) + ":" + near["base_pair_location"].astype(str)
        vkey = v["chromosome"].astype(str) + ":" + v["base_pair_location"].astype(str)
        pos = dict(zip(vkey, range(len(v)), strict=False))
        rows = key.map(pos)
        pip = np.array([reg.fit.pip[int(i)] if pd.notna(i) else np.nan for i in rows])
        cs_of = reg.fit.credible_set_of()
        cs = np.array([f"L{cs_of[int(i)]}" if pd.notna(i) and cs_of[int(i)] else "" for i in rows], dtype=object)
        lead = int(np.nanargmax(np.abs(v["z"].to_numpy())))
        lead_pos = int(v["base_pair_location"].iloc[lead])
        r2 = np.array([reg.r[lead, int(i)] ** 2 if pd.notna(i) else np.nan for i in rows])
        half_kb = max(lead_pos - int(rec.region_start), int(rec.region_end) - lead_pos) / 1000
        fig = plot_regional(near, chromosome=str(rec.chromosome), position=lead_pos, r2=r2, genes=genes,
                            window_kb=half_kb, pip=pip, credible_set=cs,
                            title=f"{rec.trait} locus {rec.locus}: {rec.n_credible_sets} credible set(s)")
        files += save_figure(fig, folder / f"regional_{rec.trait}_locus{rec.locus}", dpi=150)
        plt.close(fig)
    if coloc is not None and len(coloc):
        for trait, d in coloc.groupby("trait"):
            fig = plot_coloc(d, title=f"{trait}: colocalisation (coloc.abf)")
            files += save_figure(fig, folder / f"coloc_{trait}", dpi=150)
            plt.close(fig)
    return files

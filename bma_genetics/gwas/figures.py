"""Figures of a GWAS run (top layer: called by the stage and the CLI, never by gwas' core).

:func:`draw_gwas_figures` draws, from a :class:`~bma_genetics.gwas.api.GwasStudyResult`, a
Manhattan and a QQ plot per result set, a stacked Manhattan of the main (stratum ``all``)
result sets, a Miami plot per sex-stratified trait, a regional plot around each trait's top
lead SNP (LD r² from the run's LD source) and, with null traits, their pooled QQ plot. Each
figure is saved as PNG + PDF under ``fig_dir``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from bma_genetics.gwas.api import GwasStudyResult


def draw_gwas_figures(result: GwasStudyResult, fig_dir: str | os.PathLike) -> list[str]:
    """Draw and save every figure of a GWAS run.

    Parameters
    ----------
    result : GwasStudyResult
        What :func:`~bma_genetics.gwas.api.run_study_gwas` returned.
    fig_dir : path
        Folder for the figures (created), e.g. ``<out>/figures``.

    Returns
    -------
    list of str
        The files written (``manhattan_<label>.png``/``.pdf``, ``qq_<label>``,
        ``manhattan_stacked``, ``miami_<trait>``, ``regional_<trait>``, ``qq_null_traits``).
    """
    from bma_genetics.plots import (
        plot_manhattan,
        plot_manhattan_stacked,
        plot_miami,
        plot_qq,
        plot_regional,
        save_figure,
    )

    res = result.gwas
    leads_by = result.leads
    reader = result.ld_reader
    fig_dir = Path(fig_dir)
    fig_dir.mkdir(parents=True, exist_ok=True)
    written: list[str] = []

    def save(fig, name):
        written.extend(str(p) for p in save_figure(fig, fig_dir / name, dpi=200, close=True))

    for label, ss in res.sumstats.items():
        save(plot_manhattan(ss, title=label, leads=leads_by.get(label)), f"manhattan_{label}")
        save(plot_qq(ss, title=label), f"qq_{label}")
    main = {a.trait: res.sumstats[a.label] for a in res.analyses if a.stratum == "all" and a.label in res.sumstats}
    if len(main) > 1:
        save(plot_manhattan_stacked(main, leads={t: leads_by.get(t) for t in main}), "manhattan_stacked")
    for trait in {a.trait for a in res.analyses}:
        f, m = res.sumstats.get(f"{trait}.female"), res.sumstats.get(f"{trait}.male")
        if f is not None and m is not None:
            save(plot_miami(f, m, labels=("female", "male"),
                            leads=(leads_by.get(f"{trait}.female"), leads_by.get(f"{trait}.male")), title=trait),
                 f"miami_{trait}")
    if reader is not None:
        from bma_genetics.ld import ld_with, match_variants

        for trait, ss in main.items():
            leads = leads_by.get(trait)
            if leads is None or leads.empty:
                continue
            top = leads.sort_values("neg_log_10_p_value", ascending=False).iloc[0]
            near = ss[(ss["chromosome"].astype(str) == str(top["chromosome"]))
                      & ss["base_pair_location"].between(top["base_pair_location"] - 250_000,
                                                          top["base_pair_location"] + 250_000)].reset_index(drop=True)
            idx = match_variants(near, reader)
            lead_i = idx[(near["base_pair_location"] == top["base_pair_location"]).to_numpy()]
            r2 = np.full(len(near), np.nan)
            if len(lead_i) and lead_i[0] >= 0:
                ok = idx >= 0
                r2[ok] = ld_with(reader, int(lead_i[0]), idx[ok]) ** 2
            save(plot_regional(near, chromosome=str(top["chromosome"]), position=int(top["base_pair_location"]),
                               r2=r2, genes=result.genes,
                               title=f"{trait}: {top['variant_id']} ({top['nearest_gene'] or ''})"),
                 f"regional_{trait}")
    if result.null_sumstats:
        nulls = result.null_sumstats
        source = result.report.get("null_calibration", {}).get("source_trait", "the first trait")
        pooled = pd.concat(list(nulls.values()), ignore_index=True)
        save(plot_qq(pooled, title=f"{len(nulls)} permutations of {source} (pooled)"), "qq_null_traits")
    return written

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

#: Result sets per run below which the Manhattan and QQ plots are drawn in this process: worker
#: processes cost ~2 s each to start (matplotlib, pandas imports).
MIN_SETS_FOR_WORKERS = 8


def _manhattan_and_qq(label: str, ss: pd.DataFrame, leads: pd.DataFrame | None, fig_dir: Path) -> list[str]:
    """One result set's Manhattan and QQ plots (PNG + PDF); module level so a worker can run it."""
    from bma_genetics.plots import plot_manhattan, plot_qq, save_figure

    written = save_figure(plot_manhattan(ss, title=label, leads=leads), fig_dir / f"manhattan_{label}", dpi=200,
                          close=True)
    written += save_figure(plot_qq(ss, title=label), fig_dir / f"qq_{label}", dpi=200, close=True)
    return [str(p) for p in written]


def _main_module_is_safe() -> bool:
    """Whether a spawned worker may import this process's ``__main__``: a spawned child re-imports
    a main *script*, so a user's script that calls the GWAS at top level (no ``if __name__ ==
    "__main__"`` guard) would run again in every worker. Safe: no script (Jupyter, ``python -c``),
    a module run with ``-m`` (``bma_genetics.cli``, ``pytest``), our and pytest's console scripts."""
    import sys

    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if path is None:
        return True
    spec = getattr(main, "__spec__", None)
    if spec is not None and spec.name.split(".")[0] in ("bma_genetics", "pytest", "ipykernel", "IPython"):
        return True
    return os.path.basename(path) in ("bma-genetics", "pytest", "py.test")


def _figure_workers(n_sets: int) -> int:
    """Worker processes for the per-set plots: one per usable core (at most 4); none for few sets
    or when the main module is a script a worker would run again (:func:`_main_module_is_safe`)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    if n_sets < MIN_SETS_FOR_WORKERS or cores < 2 or not _main_module_is_safe():
        return 1
    return min(cores, 4)


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

    labels = list(res.sumstats)
    args = ([res.sumstats[k] for k in labels], [leads_by.get(k) for k in labels], [fig_dir] * len(labels))
    workers = _figure_workers(len(labels))
    if workers > 1:
        # the Manhattan and QQ plots of every result set are most of the stage's figure time (~1.2 s
        # of CPU each; 44 sets on the demo): drawn in worker processes, in order. "spawn": the
        # parent holds a JVM and py4j threads, which a forked child must not inherit
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            for paths in pool.map(_manhattan_and_qq, labels, *args):
                written.extend(paths)
    else:
        for paths in map(_manhattan_and_qq, labels, *args):
            written.extend(paths)
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

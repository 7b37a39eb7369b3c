"""Figures (matplotlib), one module per family: manhattan, qq, regional, phewas, forest, mr,
enrichment, bmff, calvarial, cohort, survival, finemap, prs.

Every ``plot_*(data, *, ax=None, ...)`` draws into the axes it is given (multi-panel plots take
``axes=``, one axes per panel) or into a new figure, and returns the
:class:`matplotlib.figure.Figure`, so figures show inline in Jupyter and compose into a
caller's layout. Plots read columns of DataFrames and import no stage. Importing this package
never selects a matplotlib backend. :func:`save_figure` writes a figure as PNG + PDF.
"""

from bma_genetics.plots._save import save_figure
from bma_genetics.plots.bmff import plot_bmff_vs_truth
from bma_genetics.plots.calvarial import plot_calvarial_vs_truth
from bma_genetics.plots.cohort import plot_bmff_by_age_sex
from bma_genetics.plots.enrichment import plot_gene_manhattan, plot_top_gene_sets
from bma_genetics.plots.finemap import plot_coloc
from bma_genetics.plots.forest import plot_forest
from bma_genetics.plots.heritability import plot_h2, plot_rg_heatmap
from bma_genetics.plots.manhattan import plot_manhattan, plot_manhattan_stacked, plot_miami
from bma_genetics.plots.mr import (
    plot_mr_funnel,
    plot_mr_leave_one_out,
    plot_mr_scatter,
    plot_mr_single_snp_forest,
    plot_mr_summary_forest,
    plot_mvmr_forest,
)
from bma_genetics.plots.phewas import plot_phewas_forest, plot_phewas_manhattan
from bma_genetics.plots.prs import plot_prs_performance, plot_score_distribution
from bma_genetics.plots.qq import plot_qq
from bma_genetics.plots.regional import plot_regional
from bma_genetics.plots.survival import plot_cumulative_incidence, plot_hazard_ratios

__all__ = [
    "plot_h2",
    "plot_hazard_ratios",
    "plot_rg_heatmap",
    "plot_bmff_by_age_sex",
    "plot_bmff_vs_truth",
    "plot_calvarial_vs_truth",
    "plot_cumulative_incidence",
    "plot_coloc",
    "plot_forest",
    "plot_gene_manhattan",
    "plot_manhattan",
    "plot_manhattan_stacked",
    "plot_miami",
    "plot_mr_funnel",
    "plot_mr_leave_one_out",
    "plot_mr_scatter",
    "plot_mr_single_snp_forest",
    "plot_mr_summary_forest",
    "plot_mvmr_forest",
    "plot_phewas_forest",
    "plot_phewas_manhattan",
    "plot_prs_performance",
    "plot_score_distribution",
    "plot_qq",
    "plot_regional",
    "plot_top_gene_sets",
    "save_figure",
]

"""Gene-based and gene-set enrichment from GWAS summary statistics (MAGMA-style, open).

SNP -> gene annotation with windows, gene analysis (SNP-wise mean model with an exact null from
the LD eigenvalues; SNP-wise top model), competitive and self-contained gene-set analysis by
GLS with gene-gene correlations, gene-property analysis and BH FDR (:func:`bma_genetics.stats.fdr_bh`). See ``docs/enrichment.md``.
"""

from bma_genetics.enrichment.annotate import annotate_snps
from bma_genetics.enrichment.api import (
    EnrichmentResult,
    GeneAnalysis,
    load_gene_table,
    run_enrichment,
    run_gene_analysis,
)
from bma_genetics.enrichment.gene_sets import (
    run_gene_property_analysis,
    run_gene_set_analysis,
)
from bma_genetics.enrichment.genes import GeneLD, compute_gene_ld, effective_number, gene_tests
from bma_genetics.enrichment.quadform import (
    p_to_z,
    tail_exact,
    tail_imhof,
    tail_probability,
    tail_ruben,
    tail_saddlepoint,
)

__all__ = [
    "EnrichmentResult",
    "GeneAnalysis",
    "GeneLD",
    "annotate_snps",
    "compute_gene_ld",
    "effective_number",
    "gene_tests",
    "load_gene_table",
    "p_to_z",
    "run_enrichment",
    "run_gene_analysis",
    "run_gene_property_analysis",
    "run_gene_set_analysis",
    "tail_exact",
    "tail_imhof",
    "tail_probability",
    "tail_ruben",
    "tail_saddlepoint",
]

"""GWAS on Hail: QC, association for all BMFF traits in one pass, loci, meta-analysis.

Summary statistics are written as GWAS-SSF by :func:`bma_genetics.io.write_gwas_ssf`; other
stages (heritability, enrichment, MR) read them with :func:`bma_genetics.io.read_sumstats`.
Hail is imported only inside the functions that need it.
"""

from bma_genetics.gwas.association import GwasResult, rank_inverse_normal, run_gwas
from bma_genetics.gwas.inputs import (
    read_bgen,
    read_genotypes,
    read_plink,
    read_vcf,
    reconcile_samples,
)
from bma_genetics.gwas.loci import find_loci, genes_in, meta_analyse, nearest_gene
from bma_genetics.stats import lambda_gc

__all__ = [
    "find_loci",
    "genes_in",
    "meta_analyse",
    "nearest_gene",
    "GwasResult",
    "lambda_gc",
    "rank_inverse_normal",
    "read_bgen",
    "read_genotypes",
    "read_plink",
    "read_vcf",
    "reconcile_samples",
    "run_gwas",
]

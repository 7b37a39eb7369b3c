"""GWAS on Hail: QC, association for all BMFF traits in one pass, loci, meta-analysis.

Summary statistics are written and read as GWAS-SSF (:func:`write_gwas_ssf`,
:func:`read_gwas_ssf`); other stages (heritability, enrichment, MR) consume them through these.
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
from bma_genetics.gwas.sumstats import (
    metadata_path,
    read_gwas_ssf,
    read_gwas_ssf_metadata,
    write_gwas_ssf,
)
from bma_genetics.stats import lambda_gc

__all__ = [
    "find_loci",
    "genes_in",
    "meta_analyse",
    "nearest_gene",
    "GwasResult",
    "lambda_gc",
    "metadata_path",
    "rank_inverse_normal",
    "read_bgen",
    "read_genotypes",
    "read_gwas_ssf",
    "read_gwas_ssf_metadata",
    "read_plink",
    "read_vcf",
    "reconcile_samples",
    "run_gwas",
    "write_gwas_ssf",
]

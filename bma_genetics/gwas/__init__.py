"""GWAS on Hail: QC, association for all BMFF traits in one pass, loci, meta-analysis.

Summary statistics are written and read as GWAS-SSF (:func:`write_gwas_ssf`,
:func:`read_gwas_ssf`); other stages (heritability, enrichment, MR) consume them through these.
Hail is imported only inside the functions that need it.
"""

from bma_genetics.gwas.sumstats import (
    metadata_path,
    read_gwas_ssf,
    read_gwas_ssf_metadata,
    write_gwas_ssf,
)

__all__ = [
    "metadata_path",
    "read_gwas_ssf",
    "read_gwas_ssf_metadata",
    "write_gwas_ssf",
]

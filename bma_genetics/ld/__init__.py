"""Linkage disequilibrium from genotypes: PLINK/BGEN readers, LD matrices, clumping.

Shared by the GWAS (loci), MR (instruments, proxies) and enrichment (gene LD) stages. LD comes
from a reference panel (the 1000 Genomes EUR panel in :mod:`bma_genetics.resources`, or the
user's PLINK files) or from in-sample genotypes (the cohort's BGEN or array PLINK files); no web
service is involved.
"""

from bma_genetics.ld.clump import clump, match_variants
from bma_genetics.ld.matrix import ld_matrix, ld_with
from bma_genetics.ld.readers import (
    BgenReader,
    ConcatReader,
    GenotypeReader,
    PlinkReader,
    open_genotypes,
)
from bma_genetics.ld.source import LD_SOURCES, SampleSubsetReader, check_ld_coverage, open_ld_source

__all__ = [
    "LD_SOURCES",
    "BgenReader",
    "ConcatReader",
    "GenotypeReader",
    "PlinkReader",
    "check_ld_coverage",
    "clump",
    "ld_matrix",
    "ld_with",
    "match_variants",
    "SampleSubsetReader",
    "open_genotypes",
    "open_ld_source",
]

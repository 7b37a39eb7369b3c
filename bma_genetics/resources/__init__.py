"""Public reference data (genes, phecode maps, gene sets, LD panel, HapMap3): fetch + cache + load.

See :mod:`bma_genetics.resources.api` and ``docs/resources.md``.
"""

from bma_genetics.resources._build import expand_exclude_ranges, phecode_parent
from bma_genetics.resources.api import (
    cache_dir,
    fetch,
    list_resources,
    load_build_reference,
    load_gene_ids,
    load_gene_sets,
    load_genes,
    load_go_hierarchy,
    load_hapmap3,
    load_ld_panel,
    load_phecode_exclusions,
    load_phecode_icd9_map,
    load_phecode_map,
    manifest,
    read_gmt,
    resource_names,
    resource_path,
    write_gmt,
)

__all__ = [
    "cache_dir",
    "expand_exclude_ranges",
    "fetch",
    "list_resources",
    "load_build_reference",
    "load_gene_ids",
    "load_gene_sets",
    "load_genes",
    "load_go_hierarchy",
    "load_hapmap3",
    "load_ld_panel",
    "load_phecode_exclusions",
    "load_phecode_icd9_map",
    "load_phecode_map",
    "manifest",
    "phecode_parent",
    "read_gmt",
    "resource_names",
    "resource_path",
    "write_gmt",
]

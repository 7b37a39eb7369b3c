"""The BMA genes the simulated genome is built around, with GRCh37 coordinates.

Coordinates come from ``bma_genetics.resources.load_genes("GRCh37")`` (GENCODE v19) when that
resource is available; otherwise from the fallback table below (GENCODE v19 coordinates of the
same genes, copied so that a fresh checkout can simulate before any reference data is fetched).
"""

from __future__ import annotations

import logging

import pandas as pd

log = logging.getLogger(__name__)

#: Genes with published BMFF associations (Xu 2025, Wu 2025), in the order loci are planted.
BMA_GENES: tuple[str, ...] = (
    "CCDC170", "ESR1", "CYP19A1", "HK1", "CCDC91", "PPARG", "LEPR", "WNT16", "TNFRSF11B", "FLT3",
)

# GRCh37 / GENCODE v19 (1-based, inclusive).
_FALLBACK = [
    ("ENSG00000120262", "CCDC170", "6", 151815143, 151942334, "+", "protein_coding"),
    ("ENSG00000091831", "ESR1", "6", 151977826, 152450754, "+", "protein_coding"),
    ("ENSG00000137869", "CYP19A1", "15", 51500254, 51630813, "-", "protein_coding"),
    ("ENSG00000156515", "HK1", "10", 71029756, 71161638, "+", "protein_coding"),
    ("ENSG00000123106", "CCDC91", "12", 28410132, 28703099, "+", "protein_coding"),
    ("ENSG00000132170", "PPARG", "3", 12328867, 12475855, "+", "protein_coding"),
    ("ENSG00000116678", "LEPR", "1", 65886248, 66107242, "+", "protein_coding"),
    ("ENSG00000002745", "WNT16", "7", 120965421, 120981158, "+", "protein_coding"),
    ("ENSG00000164761", "TNFRSF11B", "8", 119935796, 119964439, "-", "protein_coding"),
    ("ENSG00000122025", "FLT3", "13", 28577411, 28674729, "-", "protein_coding"),
]
COLUMNS = ["gene_id", "gene_name", "chromosome", "start", "end", "strand", "gene_type"]


def fallback_genes() -> pd.DataFrame:
    """The built-in GRCh37 table of the BMA genes."""
    return pd.DataFrame(_FALLBACK, columns=COLUMNS)


def bma_gene_table() -> tuple[pd.DataFrame, str]:
    """GRCh37 coordinates of :data:`BMA_GENES` and where they came from.

    Returns
    -------
    table : DataFrame
        ``gene_id, gene_name, chromosome (str, no chr), start, end (int64), strand, gene_type``.
    source : str
        ``"resources:GRCh37"`` or ``"fallback"``.
    """
    try:
        from bma_genetics.resources import load_genes  # type: ignore[attr-defined]

        genes = load_genes("GRCh37")
        sub = genes[genes["gene_name"].isin(BMA_GENES)].copy()
        sub["chromosome"] = sub["chromosome"].astype(str).str.removeprefix("chr")
        sub = sub[sub["chromosome"].isin([str(c) for c in range(1, 23)])]
        sub = sub.drop_duplicates("gene_name")
        if set(sub["gene_name"]) == set(BMA_GENES):
            sub["start"] = sub["start"].astype("int64")
            sub["end"] = sub["end"].astype("int64")
            order = {g: i for i, g in enumerate(BMA_GENES)}
            sub = sub.sort_values("gene_name", key=lambda s: s.map(order)).reset_index(drop=True)
            return sub[COLUMNS], "resources:GRCh37"
        log.warning("gene table lacks some BMA genes; using the built-in coordinates")
    except Exception as exc:  # noqa: BLE001 - resource absent or not yet fetched: fall back
        log.info("gene table not available (%s); using built-in GRCh37 coordinates", exc)
    return fallback_genes(), "fallback"

"""Fine-mapping (SuSiE-RSS), colocalisation (coloc.abf, SuSiE-coloc) and SMR + HEIDI: from GWAS
loci to causal variants and genes (docs/finemap.md)."""

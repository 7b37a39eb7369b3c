"""The simulated regions on GRCh38: positions, a UCSC chain file, and a FinnGen-layout outcome GWAS.

Real outcome GWAS often come from consortia on GRCh38 (FinnGen, recent UK Biobank releases)
while UK Biobank's genotypes are GRCh37; positions of one build locate other variants in the
other. The simulator gives every simulated window a GRCh38 position: the window moves by one
offset per chromosome (GRCh38 moved most loci by tens of kb to a few Mb), and writes

- ``outcome_gwas/osteoporosis.finngen.tsv.gz``: the osteoporosis GWAS in FinnGen's release
  layout (``#chrom pos ref alt rsids nearest_genes pval mlogp beta sebeta af_alt af_alt_cases
  af_alt_controls``), GRCh38 positions, chromosome X as 23, and a share of rows without an rsid
  (FinnGen leaves ``rsids`` empty for variants dbSNP does not name);
- ``outcome_gwas/hg19ToHg38.over.chain.gz``: a UCSC chain file GRCh37 -> GRCh38 for the
  simulated windows (real chromosome sizes in its headers, so readers can tell its direction);
- ``truth/variant_builds.tsv.gz``: each variant's rsid with its GRCh37 and GRCh38 positions
  (the known-variants table of :func:`bma_genetics.io.builds.infer_build`).
"""

from __future__ import annotations

import gzip
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from bma_genetics.io.builds import CHROMOSOME_LENGTHS

#: Share of FinnGen rows written without an rsid.
FINNGEN_MISSING_RSID = 0.2
FINNGEN_COLUMNS = ("#chrom", "pos", "ref", "alt", "rsids", "nearest_genes", "pval", "mlogp", "beta", "sebeta",
                   "af_alt", "af_alt_cases", "af_alt_controls")


def grch38_offsets(segments: Sequence) -> dict[str, int]:
    """GRCh38 position minus GRCh37 position, per chromosome of the simulated windows.

    Deterministic (no seed): between 40 kb and 1.4 Mb, alternating in sign, shrunk where a
    window would leave the GRCh38 chromosome.
    """
    out: dict[str, int] = {}
    chroms = sorted({s.chromosome for s in segments}, key=lambda c: (len(c), c))
    for k, chrom in enumerate(chroms):
        size = 40_000 + (k * 379_001) % 1_360_000
        sign = 1 if k % 2 == 0 else -1
        lo = min(s.start for s in segments if s.chromosome == chrom)
        hi = max(s.end for s in segments if s.chromosome == chrom)
        length = CHROMOSOME_LENGTHS["GRCh38"].get(chrom, hi + 2 * size)
        offset = sign * size
        if lo + offset < 1 or hi + offset > length:
            offset = -offset
        if lo + offset < 1 or hi + offset > length:
            offset = 0
        out[chrom] = int(offset)
    return out


def write_chain(segments: Sequence, offsets: dict[str, int], path: Path) -> Path:
    """A UCSC chain file (gzip) GRCh37 -> GRCh38 with one ungapped chain per window.

    Chain coordinates are 0-based half-open; window ``start..end-1`` (1-based) is
    ``[start - 1, end - 1)``.
    """
    lines = []
    for i, s in enumerate(sorted(segments, key=lambda s: (s.chromosome, s.start)), start=1):
        t0, t1 = s.start - 1, s.end - 1
        d = offsets[s.chromosome]
        size37 = CHROMOSOME_LENGTHS["GRCh37"].get(s.chromosome, t1 + 1)
        size38 = CHROMOSOME_LENGTHS["GRCh38"].get(s.chromosome, t1 + d + 1)
        lines.append(f"chain {t1 - t0} chr{s.chromosome} {size37} + {t0} {t1} chr{s.chromosome} {size38} + "
                     f"{t0 + d} {t1 + d} {i}\n{t1 - t0}\n\n")
    with open(path, "wb") as fh, gzip.GzipFile(filename="", mode="wb", fileobj=fh, mtime=0) as gz:
        gz.write("".join(lines).encode())
    return path


def variant_builds(variants: pd.DataFrame, offsets: dict[str, int]) -> pd.DataFrame:
    """Each variant's rsid, chromosome and its GRCh37 and GRCh38 positions."""
    chrom = variants["chromosome"].astype(str)
    pos = variants["position"].astype(np.int64)
    return pd.DataFrame({"rsid": variants["rsid"].to_numpy(), "chromosome": chrom.to_numpy(),
                         "base_pair_location_grch37": pos.to_numpy(),
                         "base_pair_location_grch38": (pos + chrom.map(offsets).astype(np.int64)).to_numpy()})


def finngen_table(ss: pd.DataFrame, offsets: dict[str, int], nearest: pd.Series,
                  rng: np.random.Generator) -> pd.DataFrame:
    """The outcome GWAS in FinnGen's layout on GRCh38 (rows that did not converge left out).

    ``ss``: the GRCh37 table (``chromosome, base_pair_location, other_allele, effect_allele,
    rsid, beta, standard_error, p_value, effect_allele_frequency, af_cases, af_controls``);
    ``nearest``: the nearest gene of each row.
    """
    from bma_genetics.stats import neg_log10_p

    keep = np.isfinite(ss["beta"].to_numpy(float))
    t = ss[keep].reset_index(drop=True)
    chrom = t["chromosome"].astype(str)
    rsids = t["rsid"].astype(object).to_numpy().copy()
    rsids[rng.random(len(t)) < FINNGEN_MISSING_RSID] = ""
    return pd.DataFrame({
        "#chrom": chrom.replace({"X": "23"}).to_numpy(),
        "pos": (t["base_pair_location"].astype(np.int64) + chrom.map(offsets).astype(np.int64)).to_numpy(),
        "ref": t["other_allele"].to_numpy(), "alt": t["effect_allele"].to_numpy(), "rsids": rsids,
        "nearest_genes": nearest[keep].to_numpy(), "pval": t["p_value"].to_numpy(),
        "mlogp": neg_log10_p(t["p_value"].to_numpy(float)), "beta": t["beta"].to_numpy(),
        "sebeta": t["standard_error"].to_numpy(), "af_alt": t["effect_allele_frequency"].to_numpy(),
        "af_alt_cases": t["af_cases"].to_numpy(), "af_alt_controls": t["af_controls"].to_numpy(),
    }, columns=list(FINNGEN_COLUMNS))

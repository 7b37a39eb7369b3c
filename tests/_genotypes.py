"""Small genotype files written by tests: PLINK 1 (.bed/.bim/.fam) and VCF (plain, gzip or BGZF).

Shared by the GWAS tests (``tests/test_gwas_*.py``); genotypes are numpy arrays of allele
counts, variants x samples, ``-1`` for missing.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from bma_genetics.simulate.writers import pack_bed


def write_random_bed(prefix, rng: np.random.Generator, n: int, m: int, *, maf: tuple[float, float],
                     spacing: int, first_id: int):
    """Random unlinked genotypes of ``n`` people at ``m`` variants, half on chromosome 1 and half
    on 2 (``spacing`` bp apart), written as PLINK ``prefix.bed/.bim/.fam``.

    Draws from ``rng`` in a fixed order (frequencies, doses, alleles), so a caller that keeps
    drawing from the same generator gets the same values as before. Returns
    ``(dose (m, n), chrom, pos, ids, a1, a2)``.
    """
    freq = rng.uniform(maf[0], maf[1], m)
    dose = rng.binomial(2, freq[:, None], size=(m, n))
    chrom = np.where(np.arange(m) < m // 2, "1", "2")
    pos = np.r_[np.arange(1, m // 2 + 1), np.arange(1, m - m // 2 + 1)] * spacing
    ids = [str(first_id + i) for i in range(n)]
    a1 = rng.choice(list("ACGT"), m)
    a2 = np.array([{"A": "G", "C": "T", "G": "A", "T": "C"}[x] for x in a1])
    write_bed(prefix, dose, chrom, pos, ids, a1, a2)
    return dose, chrom, pos, ids, a1, a2


def write_bed(prefix, dose: np.ndarray, chrom, pos, ids, a1, a2, *, sex: Sequence[int] | None = None) -> None:
    """PLINK 1 SNP-major .bed/.bim/.fam; ``dose`` (variants x samples) counts A1, -1 = missing.

    ``sex`` (optional, per sample): 1 = male, 2 = female, 0 = unknown (the .fam's column 5).
    Males on chrX are written as given: pass 0/2 for hemizygous calls (PLINK's convention).
    """
    dose = np.asarray(dose)
    a2_count = np.where(dose < 0, -1, 2 - dose).astype(np.int8)
    with open(f"{prefix}.bed", "wb") as fh:
        fh.write(bytes([0x6C, 0x1B, 0x01]))
        fh.write(pack_bed(a2_count).tobytes())
    pd.DataFrame({"c": chrom, "id": [f"rs{c}_{p}" for c, p in zip(chrom, pos, strict=True)], "cm": 0, "p": pos,
                  "a1": a1, "a2": a2}).to_csv(f"{prefix}.bim", sep="\t", header=False, index=False)
    sex = np.zeros(len(ids), int) if sex is None else np.asarray(sex, int)
    pd.DataFrame({"f": ids, "i": ids, "p": 0, "m": 0, "s": sex, "ph": -9}).to_csv(
        f"{prefix}.fam", sep=" ", header=False, index=False)


def _bgzf_block(data: bytes) -> bytes:
    """One BGZF block (a gzip member with the ``BC`` extra field giving its size)."""
    comp = zlib.compressobj(6, zlib.DEFLATED, -15)
    body = comp.compress(data) + comp.flush()
    header = struct.pack("<BBBBIBBHBBHH", 31, 139, 8, 4, 0, 0, 255, 6, 66, 67, 2, len(body) + 25)
    return header + body + struct.pack("<II", zlib.crc32(data) & 0xFFFFFFFF, len(data))


def bgzf_compress(text: str) -> bytes:
    """BGZF (blocked gzip, as ``bgzip`` writes): 60 kB blocks and the empty end-of-file block."""
    raw = text.encode()
    blocks = [_bgzf_block(raw[i:i + 60_000]) for i in range(0, len(raw), 60_000)]
    return b"".join(blocks) + _bgzf_block(b"")


def write_vcf(path, dose: np.ndarray, chrom, pos, ids, ref, alt, *, males: Sequence[bool] | None = None,
              fields: Sequence[str] = ("GT",), compression: str | None = None) -> Path:
    """A VCF 4.2 of ``dose`` (variants x samples, count of ALT, -1 = missing).

    ``fields``: ``GT`` (unphased hard calls) and/or ``DS`` (ALT dosage). On chrX the ``males``
    are written hemizygous, as VCFs from callers and imputation servers do: haploid GT (``0`` /
    ``1``) and a haploid dosage DS in 0-1, from a ``dose`` coded 0/2 for them.
    ``compression``: None (plain text), ``gzip`` (ordinary gzip) or ``bgzf`` (bgzip's blocks).
    """
    dose = np.asarray(dose)
    males = np.zeros(dose.shape[1], bool) if males is None else np.asarray(males, bool)
    lines = ["##fileformat=VCFv4.2"]
    for c in dict.fromkeys(chrom):
        lines.append(f"##contig=<ID={c}>")
    if "GT" in fields:
        lines.append('##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">')
    if "DS" in fields:
        lines.append('##FORMAT=<ID=DS,Number=1,Type=Float,Description="Dosage of the ALT allele">')
    lines.append("\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT", *ids]))
    dip = {0: "0/0", 1: "0/1", 2: "1/1", -1: "./."}
    hap = {0: "0", 2: "1", -1: "."}
    for j in range(dose.shape[0]):
        is_x = str(chrom[j]) == "X"
        cells = []
        for i, d in enumerate(dose[j]):
            d = int(d)
            haploid = is_x and males[i]
            parts = []
            if "GT" in fields:
                parts.append(hap[d] if haploid else dip[d])
            if "DS" in fields:
                parts.append("." if d < 0 else (f"{d / 2:g}" if haploid else f"{d:g}"))
            cells.append(":".join(parts))
        lines.append("\t".join([str(chrom[j]), str(int(pos[j])), f"rs{chrom[j]}_{pos[j]}", ref[j], alt[j], ".", "PASS",
                                ".", ":".join(fields), *cells]))
    text = "\n".join(lines) + "\n"
    path = Path(path)
    if compression is None:
        path.write_text(text)
    elif compression == "gzip":
        path.write_bytes(gzip.compress(text.encode(), mtime=0))
    elif compression == "bgzf":
        path.write_bytes(bgzf_compress(text))
    else:
        raise ValueError(f"compression: None, 'gzip' or 'bgzf', not {compression!r}")
    return path

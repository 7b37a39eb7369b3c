"""Small genotype files written by tests: PLINK 1 (.bed/.bim/.fam) and VCF (plain, gzip or BGZF).

Shared by the GWAS and simulator tests; genotypes are numpy arrays of allele
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


# ----------------------------------------------------------------------------- independent readers
# of the simulator's files (BGEN 1.2 layout 2, PLINK .bed), used to check them without Hail
def read_bgen(path: Path, wanted: set[str] | None = None) -> dict:
    """A from-the-spec BGEN v1.2 reader (layout 2, zlib, unphased diploid, 8 bits).

    ``wanted``: decode only these variant ids (the others are skipped, not returned).
    """
    raw = path.read_bytes()
    offset, lh, m, n = struct.unpack_from("<IIII", raw, 0)
    assert raw[16:20] == b"bgen"
    flags = struct.unpack_from("<I", raw, 4 + lh - 4)[0]
    assert flags & 3 == 1 and (flags >> 2) & 0xF == 2 and flags >> 31 == 1
    pos = 4 + lh
    _, n2 = struct.unpack_from("<II", raw, pos)
    assert n2 == n
    pos += 8
    samples = []
    for _ in range(n):
        (ln,) = struct.unpack_from("<H", raw, pos)
        samples.append(raw[pos + 2 : pos + 2 + ln].decode())
        pos += 2 + ln
    assert pos == offset + 4
    out = {"samples": samples, "ids": [], "rsids": [], "chrom": [], "pos": [], "alleles": [], "probs": []}

    def string(p: int, size: int) -> tuple[str, int]:
        ln = int.from_bytes(raw[p : p + size], "little")
        return raw[p + size : p + size + ln].decode(), p + size + ln

    for _ in range(m):
        vid, pos = string(pos, 2)
        rsid, pos = string(pos, 2)
        chrom, pos = string(pos, 2)
        bp, k = struct.unpack_from("<IH", raw, pos)
        pos += 6
        alleles = []
        for _ in range(k):
            a, pos = string(pos, 4)
            alleles.append(a)
        c, d = struct.unpack_from("<II", raw, pos)
        if wanted is not None and vid not in wanted:
            pos += 4 + c
            continue
        block = zlib.decompress(raw[pos + 8 : pos + 4 + c])
        assert len(block) == d
        pos += 4 + c
        nn, kk, pmin, pmax = struct.unpack_from("<IHBB", block, 0)
        assert (nn, kk, pmin, pmax) == (n, 2, 2, 2)
        ploidy = np.frombuffer(block, np.uint8, n, 8)
        assert (ploidy == 2).all()  # diploid, nothing missing
        phased, bits = block[8 + n], block[9 + n]
        assert phased == 0 and bits == 8
        p = np.frombuffer(block, np.uint8, 2 * n, 10 + n).reshape(n, 2).astype(float) / 255
        out["ids"].append(vid)
        out["rsids"].append(rsid)
        out["chrom"].append(chrom)
        out["pos"].append(bp)
        out["alleles"].append(alleles)
        out["probs"].append(np.column_stack([p, 1 - p.sum(axis=1)]))
    assert pos == len(raw)
    out["probs"] = np.array(out["probs"])
    return out


def read_bed(prefix: Path, n: int) -> np.ndarray:
    """Allele-A1 counts (2 = hom A1) with -1 for missing, variants x samples (PLINK 1 spec)."""
    raw = np.fromfile(prefix.with_suffix(".bed"), np.uint8)
    assert list(raw[:3]) == [0x6C, 0x1B, 0x01]
    nb = (n + 3) // 4
    raw = raw[3:].reshape(-1, nb)
    codes = np.stack([(raw >> s) & 3 for s in (0, 2, 4, 6)], axis=2).reshape(raw.shape[0], -1)[:, :n]
    return np.choose(codes, [2, -1, 1, 0]).astype(np.int8)

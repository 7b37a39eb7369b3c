"""Byte-exact, deterministic writers for the formats UK Biobank ships genotypes in.

* BGEN v1.2, layout 2, 8-bit probabilities, zlib (level fixed), sample identifiers in the file
  (the ``ukb22828_c{N}_b0_v3.bgen`` files). Written variant block by variant block, so a
  chromosome never has to be held in memory.
* PLINK 1 binary (``.bed`` SNP-major, ``.bim``, ``.fam``) for the array genotypes.
* Oxford ``.sample``, the UK Biobank MFI table, gzip with ``mtime=0``.

References: BGEN format specification v1.2 (https://www.well.ox.ac.uk/~gav/bgen_format/);
PLINK 1 binary format (https://www.cog-genomics.org/plink/1.9/formats#bed).
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

#: zlib level of the BGEN genotype blocks (fixed: the same input gives the same bytes). Level 1
#: is ~2x faster than 6 for files only ~3 % larger.
ZLIB_LEVEL = 1
_POOL = ThreadPoolExecutor(max_workers=2)


# ----------------------------------------------------------------------------- probabilities
def quantize_probabilities(probs: np.ndarray, bits: int = 8) -> np.ndarray:
    """Round genotype probabilities to ``bits``-bit integers that sum to ``2**bits - 1``.

    This is the rounding rule of the BGEN v1.2 specification (floor, then give the missing
    units to the entries with the largest fractional parts), so what a reader decodes is
    exactly ``q / (2**bits - 1)``.

    Parameters
    ----------
    probs : ndarray of shape (..., 3)
        Probabilities of (hom allele 1, het, hom allele 2); each row sums to 1.

    Returns
    -------
    ndarray of shape (..., 3), uint8 (for 8 bits)
    """
    scale = (1 << bits) - 1
    x = np.asarray(probs, dtype=np.float64) * scale
    fl = np.floor(x)
    frac = x - fl
    deficit = np.rint(scale - fl.sum(axis=-1))
    # rank of each entry's fractional part within its triple (0 = largest; ties by position),
    # from pairwise comparisons: cheaper than an argsort over millions of triples
    f0, f1, f2 = frac[..., 0], frac[..., 1], frac[..., 2]
    r0 = (f1 > f0).astype(np.int8) + (f2 > f0)
    r1 = (f0 >= f1).astype(np.int8) + (f2 > f1)
    r2 = (f0 >= f2).astype(np.int8) + (f1 >= f2)
    out = fl.astype(np.uint8 if bits <= 8 else np.uint16)
    out[..., 0] += r0 < deficit
    out[..., 1] += r1 < deficit
    out[..., 2] += r2 < deficit
    return out


def impute_info(q: np.ndarray) -> np.ndarray:
    """IMPUTE's INFO measure from quantized probabilities (as in the UK Biobank MFI files).

    ``info = 1 - sum_i (f_i - e_i^2) / (2 N theta (1 - theta))`` with ``e_i = P(het) +
    2 P(hom2)`` (expected allele-2 dosage), ``f_i = P(het) + 4 P(hom2)`` and ``theta =
    sum_i e_i / 2N``; 1 when ``theta`` is 0 or 1 (Marchini & Howie 2010).

    Parameters
    ----------
    q : ndarray of shape (n_variants, n_samples, 3), uint8
        Quantized probabilities (``quantize_probabilities``).

    Returns
    -------
    ndarray of shape (n_variants,), float64
    """
    p = q.astype(np.float64) / 255.0
    e = p[..., 1] + 2 * p[..., 2]
    f = p[..., 1] + 4 * p[..., 2]
    n = q.shape[1]
    theta = e.sum(axis=1) / (2 * n)
    denom = 2 * n * theta * (1 - theta)
    with np.errstate(invalid="ignore", divide="ignore"):
        info = 1 - (f - e**2).sum(axis=1) / denom
    return np.where(denom > 0, info, 1.0)


# ----------------------------------------------------------------------------- BGEN
class BgenWriter:
    """Stream variants into a BGEN v1.2 file (layout 2, 8-bit, zlib, with sample ids).

    The variant count in the header is patched on :meth:`close`.

    Parameters
    ----------
    path : path
        Output file (opened for writing; the caller handles atomicity at the folder level).
    samples : list of str
        Sample identifiers, in genotype order.
    """

    def __init__(self, path: str | os.PathLike, samples: list[str]) -> None:
        self.path = Path(path)
        self.n = len(samples)
        self.m = 0
        self._fh = open(self.path, "wb")  # noqa: SIM115 - closed in close()
        ids = b"".join(struct.pack("<H", len(s.encode())) + s.encode() for s in samples)
        sample_block = struct.pack("<II", 8 + len(ids), self.n) + ids
        header_len = 20
        # flags: compression 1 (zlib) in bits 0-1, layout 2 in bits 2-5, sample ids in bit 31
        flags = 1 | (2 << 2) | (1 << 31)
        self._fh.write(struct.pack("<I", header_len + len(sample_block)))
        self._fh.write(struct.pack("<IIII", header_len, 0, self.n, 0))  # M patched on close
        self._fh.seek(4 + 12)
        self._fh.write(b"bgen")
        self._fh.write(struct.pack("<I", flags))
        self._fh.write(sample_block)
        # fixed part of each uncompressed genotype block: N, K=2, Pmin=Pmax=2, ploidies, phased=0, B=8
        self._prefix = (
            struct.pack("<IHBB", self.n, 2, 2, 2) + bytes([2]) * self.n + struct.pack("<BB", 0, 8)
        )

    def write_variants(
        self,
        chromosome: str,
        positions: np.ndarray,
        variant_ids: list[str],
        rsids: list[str],
        allele1: list[str],
        allele2: list[str],
        q: np.ndarray,
    ) -> None:
        """Append variants.

        Parameters
        ----------
        q : ndarray of shape (n_variants, n_samples, 3), uint8
            Quantized probabilities of (allele1/allele1, allele1/allele2, allele2/allele2).
        """
        if q.shape[1] != self.n:
            raise ValueError(f"BgenWriter: {q.shape[1]} samples in block, {self.n} in file")
        chrom = chromosome.encode()
        # BGEN stores P(11), P(12) per sample, interleaved; P(22) is implied
        stored = np.ascontiguousarray(q[:, :, :2]).reshape(q.shape[0], -1)
        blocks = [self._prefix + stored[k].tobytes() for k in range(q.shape[0])]
        # zlib releases the GIL: compress on two threads; map keeps the order (deterministic)
        comps = list(_POOL.map(lambda b: zlib.compress(b, ZLIB_LEVEL), blocks))
        for k in range(q.shape[0]):
            vid, rs = variant_ids[k].encode(), rsids[k].encode()
            a1, a2 = allele1[k].encode(), allele2[k].encode()
            head = (
                struct.pack("<H", len(vid)) + vid
                + struct.pack("<H", len(rs)) + rs
                + struct.pack("<H", len(chrom)) + chrom
                + struct.pack("<IH", int(positions[k]), 2)
                + struct.pack("<I", len(a1)) + a1
                + struct.pack("<I", len(a2)) + a2
            )
            comp = comps[k]
            self._fh.write(head + struct.pack("<II", len(comp) + 4, len(blocks[k])) + comp)
        self.m += q.shape[0]

    def close(self) -> None:
        self._fh.seek(8)
        self._fh.write(struct.pack("<I", self.m))
        self._fh.close()


def write_sample_file(path: str | os.PathLike, eids: list[str], sex: np.ndarray) -> None:
    """Oxford ``.sample`` (``ID_1 ID_2 missing sex``; sex 1 = male, 2 = female, as UK Biobank)."""
    lines = ["ID_1 ID_2 missing sex", "0 0 0 D"]
    lines += [f"{e} {e} 0 {1 if s == 1 else 2}" for e, s in zip(eids, sex, strict=True)]
    Path(path).write_text("\n".join(lines) + "\n")


# ----------------------------------------------------------------------------- PLINK 1
#: 2-bit codes of PLINK 1 .bed by allele-1 count... indexed by the count of allele A2 (0, 1, 2)
#: with missing = 3: hom A1 -> 00, het -> 10, hom A2 -> 11, missing -> 01.
_BED_CODE = np.array([0b00, 0b10, 0b11, 0b01], dtype=np.uint8)


def pack_bed(a2_count: np.ndarray) -> np.ndarray:
    """Pack genotypes into PLINK 1 SNP-major bytes.

    Parameters
    ----------
    a2_count : ndarray of shape (n_variants, n_samples), int8
        Count of allele A2 (0, 1, 2) or -1 for missing.

    Returns
    -------
    ndarray of shape (n_variants, ceil(n_samples / 4)), uint8
    """
    v, n = a2_count.shape
    codes = _BED_CODE[np.where(a2_count < 0, 3, a2_count).astype(np.intp)]
    pad = (-n) % 4
    if pad:
        codes = np.concatenate([codes, np.zeros((v, pad), np.uint8)], axis=1)
    codes = codes.reshape(v, -1, 4)
    return (codes[..., 0] | (codes[..., 1] << 2) | (codes[..., 2] << 4) | (codes[..., 3] << 6)).astype(np.uint8)


class BedWriter:
    """Stream variants into a PLINK 1 ``.bed`` (SNP-major) and its ``.bim``."""

    def __init__(self, prefix: str | os.PathLike) -> None:
        self.prefix = Path(prefix)
        self._bed = open(self.prefix.with_suffix(".bed"), "wb")  # noqa: SIM115
        self._bim = open(self.prefix.with_suffix(".bim"), "w")  # noqa: SIM115
        self._bed.write(bytes([0x6C, 0x1B, 0x01]))
        self.m = 0

    def write_variants(
        self,
        chromosome: str,
        ids: list[str],
        positions: np.ndarray,
        a1: list[str],
        a2: list[str],
        a2_count: np.ndarray,
    ) -> None:
        self._bed.write(pack_bed(a2_count).tobytes())
        self._bim.write(
            "".join(
                f"{chromosome}\t{i}\t0\t{int(p)}\t{x}\t{y}\n"
                for i, p, x, y in zip(ids, positions, a1, a2, strict=True)
            )
        )
        self.m += len(ids)

    def close(self) -> None:
        self._bed.close()
        self._bim.close()


def write_fam(path: str | os.PathLike, eids: list[str], sex: np.ndarray) -> None:
    """PLINK ``.fam``: FID = IID = eid, no parents, sex 1/2, phenotype -9."""
    Path(path).write_text("".join(f"{e} {e} 0 0 {1 if s == 1 else 2} -9\n" for e, s in zip(eids, sex, strict=True)))


# ----------------------------------------------------------------------------- text
def write_gzip_text(path: str | os.PathLike, text: str) -> None:
    """Gzip text with no timestamp and no file name in the header (byte-reproducible)."""
    with open(path, "wb") as fh, gzip.GzipFile(filename="", mode="wb", fileobj=fh, mtime=0) as gz:
        gz.write(text.encode())

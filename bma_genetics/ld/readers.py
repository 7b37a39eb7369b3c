"""Random-access genotype readers returning allele dosages (numpy), for LD work.

Both readers expose the same interface (:class:`GenotypeReader`): a ``variants`` table,
``n_samples``, ``samples`` and ``dosages(indices)``. They read only the variants asked for, so
one gene's or one clump window's LD never needs more than that window in memory.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from bma_genetics.errors import InputError

_BED_MAGIC = b"\x6c\x1b\x01"

# PLINK 1 .bed 2-bit codes -> count of A1 (the .bim's fifth column): 00 hom A1, 01 missing,
# 10 het, 11 hom A2. One lookup row per byte value, four samples per byte, low bits first.
_BED_LUT = np.empty((256, 4), dtype=np.float32)
for _byte in range(256):
    for _k in range(4):
        _code = (_byte >> (2 * _k)) & 3
        _BED_LUT[_byte, _k] = (2.0, np.nan, 1.0, 0.0)[_code]


class GenotypeReader:
    """Interface shared by :class:`PlinkReader` and :class:`BgenReader`.

    Attributes
    ----------
    variants : DataFrame
        One row per variant in file order: ``chromosome`` (str), ``variant_id``, ``rsid``,
        ``base_pair_location`` (int), ``a1``, ``a2``; dosages count ``dosage_allele``.
    samples : list of str
        Sample identifiers in file order.
    dosage_allele : str
        ``"a1"`` or ``"a2"``: which allele ``dosages`` counts.
    """

    variants: pd.DataFrame
    samples: list[str]
    dosage_allele: str

    @property
    def n_samples(self) -> int:
        return len(self.samples)

    @property
    def n_variants(self) -> int:
        return len(self.variants)

    def dosages(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        """Allele dosages, float32 array of shape (n_samples, len(indices)); NaN where missing."""
        raise NotImplementedError

    def counted_alleles(self) -> pd.Series:
        """The allele each variant's dosage counts."""
        return self.variants[self.dosage_allele]


class PlinkReader(GenotypeReader):
    """PLINK 1 binary fileset (``PREFIX.bed/.bim/.fam``), SNP-major, memory-mapped.

    Dosages count A1 (the ``.bim``'s fifth column), as PLINK 1 does.
    """

    dosage_allele = "a1"

    def __init__(self, prefix: str | Path):
        prefix = Path(str(prefix).removesuffix(".bed"))
        paths = {ext: Path(f"{prefix}.{ext}") for ext in ("bed", "bim", "fam")}
        for p in paths.values():
            if not p.exists():
                raise InputError(f"PlinkReader/prefix: {p} not found (a PLINK fileset needs .bed, .bim and .fam)")
        self.prefix = prefix
        bim = pd.read_csv(
            paths["bim"], sep=r"\s+", header=None, dtype={0: str, 1: str, 4: str, 5: str},
            names=["chromosome", "variant_id", "cm", "base_pair_location", "a1", "a2"],
        )
        bim["chromosome"] = bim["chromosome"].str.removeprefix("chr")
        bim["rsid"] = bim["variant_id"]
        self.variants = bim
        fam = pd.read_csv(paths["fam"], sep=r"\s+", header=None, dtype=str)
        if fam.shape[1] < 6:
            raise InputError(f"PlinkReader/prefix: {paths['fam']} has {fam.shape[1]} columns; expected 6")
        self.fam = fam.iloc[:, :6].set_axis(["fid", "iid", "father", "mother", "sex", "phenotype"], axis=1)
        self.samples = self.fam["iid"].tolist()
        with open(paths["bed"], "rb") as fh:
            magic = fh.read(3)
        if magic != _BED_MAGIC:
            raise InputError(f"PlinkReader/prefix: {paths['bed']} is not a SNP-major PLINK 1 .bed (bad magic bytes)")
        self._bytes_per_variant = (len(self.samples) + 3) // 4
        expected = 3 + self._bytes_per_variant * len(bim)
        size = paths["bed"].stat().st_size
        if size != expected:
            raise InputError(
                f"PlinkReader/prefix: {paths['bed']} has {size} bytes; {len(bim)} variants x "
                f"{len(self.samples)} samples need {expected}"
            )
        self._bed = np.memmap(paths["bed"], dtype=np.uint8, mode="r", offset=3,
                              shape=(len(bim), self._bytes_per_variant))

    def dosages(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        idx = np.asarray(indices, dtype=np.int64)
        raw = np.asarray(self._bed[idx])  # (k, bytes)
        out = _BED_LUT[raw].reshape(len(idx), -1)[:, : self.n_samples]
        return np.ascontiguousarray(out.T)


def _read_sample_file(path: Path) -> list[str]:
    lines = path.read_text().splitlines()
    if len(lines) < 2 or not lines[0].split() or lines[1].split()[:1] != ["0"]:
        raise InputError(f"BgenReader/sample: {path} is not an Oxford .sample file (header, '0 0 0 ...' line)")
    return [ln.split()[1] if len(ln.split()) > 1 else ln.split()[0] for ln in lines[2:] if ln.strip()]


class BgenReader(GenotypeReader):
    """BGEN v1.2 (layout 2, unphased diploid, zlib or uncompressed), as UK Biobank ships.

    Dosages are the expected count of allele 2 (``a2``; the alternate allele in UK Biobank's
    files), as plink2 and Hail report for BGEN. The file is scanned once for variant offsets.
    """

    dosage_allele = "a2"

    def __init__(self, path: str | Path, sample: str | Path | None = None):
        path = Path(path)
        if not path.exists():
            raise InputError(f"BgenReader/path: {path} not found")
        from bma_genetics.io.genotypes import check_bgen

        check_bgen(path, sample)  # a truncated or damaged file fails here, naming it
        self.path = path
        with open(path, "rb") as fh:
            offset, header_len, n_variants, n_samples = struct.unpack("<IIII", fh.read(16))
            magic = fh.read(4)
            if magic not in (b"bgen", b"\x00\x00\x00\x00"):
                raise InputError(f"BgenReader/path: {path} is not a BGEN file (magic {magic!r})")
            fh.seek(4 + header_len - 4)
            (flags,) = struct.unpack("<I", fh.read(4))
            self._compression = flags & 3
            layout = (flags >> 2) & 0xF
            if layout != 2:
                raise InputError(f"BgenReader/path: {path} uses BGEN layout {layout}; only layout 2 (v1.2) is read")
            if self._compression == 2:
                raise InputError(f"BgenReader/path: {path} is zstd-compressed; only zlib/uncompressed are read")
            ids: list[str] | None = None
            if flags >> 31:
                fh.seek(4 + header_len)
                _block_len, n = struct.unpack("<II", fh.read(8))
                ids = []
                for _ in range(n):
                    (ln,) = struct.unpack("<H", fh.read(2))
                    ids.append(fh.read(ln).decode())
            fh.seek(offset + 4)
            rows, offsets = [], np.empty(n_variants, dtype=np.int64)
            for v in range(n_variants):
                (ln,) = struct.unpack("<H", fh.read(2))
                vid = fh.read(ln).decode()
                (ln,) = struct.unpack("<H", fh.read(2))
                rsid = fh.read(ln).decode()
                (ln,) = struct.unpack("<H", fh.read(2))
                chrom = fh.read(ln).decode()
                pos, k = struct.unpack("<IH", fh.read(6))
                alleles = []
                for _ in range(k):
                    (ln,) = struct.unpack("<I", fh.read(4))
                    alleles.append(fh.read(ln).decode())
                if k != 2:
                    raise InputError(f"BgenReader/path: {path} variant {vid} has {k} alleles; only biallelic is read")
                (c,) = struct.unpack("<I", fh.read(4))
                offsets[v] = fh.tell()
                fh.seek(c, 1)
                rows.append((chrom.removeprefix("chr"), vid, rsid, pos, alleles[0], alleles[1], c))
        self.variants = pd.DataFrame(
            rows, columns=["chromosome", "variant_id", "rsid", "base_pair_location", "a1", "a2", "_len"]
        )
        self._lengths = self.variants.pop("_len").to_numpy()
        self._offsets = offsets
        if sample is None:
            cand = path.with_suffix(".sample")
            sample = cand if cand.exists() else None
        if sample is not None:
            self.samples = _read_sample_file(Path(sample))
        elif ids is not None:
            self.samples = ids
        else:
            raise InputError(
                f"BgenReader/sample: {path} has no sample identifiers inside and no .sample file was "
                f"given or found beside it ({path.with_suffix('.sample')})"
            )
        if len(self.samples) != n_samples:
            raise InputError(
                f"BgenReader/sample: the sample file lists {len(self.samples)} samples but {path} has {n_samples}"
            )

    def dosages(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        idx = np.asarray(indices, dtype=np.int64)
        n = self.n_samples
        out = np.empty((n, len(idx)), dtype=np.float32)
        with open(self.path, "rb") as fh:
            for j, v in enumerate(idx):
                fh.seek(self._offsets[v])
                block = fh.read(int(self._lengths[v]))
                data = zlib.decompress(block[4:]) if self._compression == 1 else block
                out[:, j] = _decode_layout2(data, n, self.path)
        return out


def _decode_layout2(data: bytes, n: int, path: Path) -> np.ndarray:
    n_in, k = struct.unpack_from("<IH", data, 0)
    if n_in != n or k != 2:
        raise InputError(f"BgenReader: {path} has a variant block with {n_in} samples/{k} alleles; expected {n}/2")
    ploidy = np.frombuffer(data, dtype=np.uint8, count=n, offset=8)
    phased, bits = data[8 + n], data[9 + n]
    if phased:
        raise InputError(f"BgenReader: {path} holds phased data; only unphased genotype probabilities are read")
    if bits != 8:
        probs = _unpack_bits(data, 10 + n, 2 * n, bits)
    else:
        probs = np.frombuffer(data, dtype=np.uint8, count=2 * n, offset=10 + n).astype(np.float32) / 255.0
        probs = probs.reshape(n, 2)
    if bits != 8:
        probs = probs.reshape(n, 2)
    dose = 2.0 - 2.0 * probs[:, 0] - probs[:, 1]
    dose[(ploidy & 0x80) != 0] = np.nan
    return dose


def _unpack_bits(data: bytes, start: int, count: int, bits: int) -> np.ndarray:
    raw = np.frombuffer(data, dtype=np.uint8, offset=start)
    bitarr = np.unpackbits(raw, bitorder="little")[: count * bits].reshape(count, bits)
    weights = (1 << np.arange(bits)).astype(np.float64)
    return (bitarr @ weights / ((1 << bits) - 1)).astype(np.float32)


class ConcatReader(GenotypeReader):
    """Several genotype readers over the same samples (e.g. one BGEN per chromosome) as one."""

    def __init__(self, readers: Sequence[GenotypeReader]):
        if not readers:
            raise InputError("ConcatReader/readers: no genotype files")
        first = readers[0]
        for r in readers[1:]:
            if r.samples != first.samples or r.dosage_allele != first.dosage_allele:
                raise InputError("ConcatReader/readers: the genotype files do not share samples / counted allele")
        self.readers = list(readers)
        self.samples = first.samples
        self.dosage_allele = first.dosage_allele
        self.variants = pd.concat([r.variants for r in readers], ignore_index=True)
        self._offsets = np.cumsum([0] + [r.n_variants for r in readers])

    def dosages(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        idx = np.asarray(indices, dtype=np.int64)
        out = np.empty((self.n_samples, len(idx)), dtype=np.float32)
        which = np.searchsorted(self._offsets, idx, side="right") - 1
        for k in np.unique(which):
            cols = np.flatnonzero(which == k)
            out[:, cols] = self.readers[k].dosages(idx[cols] - self._offsets[k])
        return out


def open_genotypes(path: str | Path, sample: str | Path | None = None) -> GenotypeReader:
    """Open a ``.bgen`` file, a PLINK prefix (``.bed`` or no suffix), or a directory.

    A directory opens every ``*.bgen`` in it (each with the ``.sample`` beside it), or else
    every PLINK ``*.bed``, as one :class:`ConcatReader` (UK Biobank ships one file per
    chromosome).
    """
    p = Path(path)
    if p.is_dir():
        files = sorted(p.glob("*.bgen"))
        if files:
            readers: list[GenotypeReader] = [BgenReader(f) for f in files]
        else:
            beds = sorted(p.glob("*.bed"))
            if not beds:
                raise InputError(f"open_genotypes/path: {p} holds no .bgen or .bed files")
            readers = [PlinkReader(b) for b in beds]
        return readers[0] if len(readers) == 1 else ConcatReader(readers)
    if str(p).endswith(".bgen"):
        return BgenReader(p, sample=sample)
    return PlinkReader(p)

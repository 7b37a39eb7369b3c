"""Cheap structural checks of genotype files, before any engine reads them.

Hail reads BGEN, PLINK and VCF lazily: a truncated or mismatched file used to surface as a Java
stack trace after the genotype QC had started (hours at biobank scale). These checks read only
headers, counts and file lengths, and fail with one :class:`~bma_genetics.errors.InputError`
naming the file:

- BGEN: header length and first-variant offset inside the file, magic bytes, layout and
  compression flags; every variant block inside the file and the last one ending at the end of
  the file (from the ``.bgi`` index when there is one, else by walking the variant headers);
  the Oxford ``.sample`` file's sample count equal to the BGEN's.
- PLINK 1: ``.bed`` magic bytes (SNP-major) and its size equal to
  ``3 + ceil(samples / 4) x variants`` from the ``.fam`` and ``.bim`` line counts; six columns
  in both.
- VCF: a BGZF file ends with the BGZF end-of-file block, a plain gzip file decompresses to its
  end; the ``#CHROM`` header line names the samples.

Each returns the sample identifiers (the column key the GWAS matches to the phenotypes).
"""

from __future__ import annotations

import gzip
import mmap
import os
import sqlite3
import struct
import zlib
from pathlib import Path

from bma_genetics.errors import InputError

_BED_MAGIC = b"\x6c\x1b\x01"
#: The 28-byte empty block that ends every BGZF file (SAM/BAM specification, section 4.1.2).
BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")


def _count_lines(path: Path) -> int:
    n = 0
    last = b"\n"
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            n += block.count(b"\n")
            last = block[-1:]
    return n + (last != b"\n")


def _columns_of_first_line(path: Path) -> int:
    with open(path, "rb") as fh:
        return len(fh.readline().split())


def check_plink(prefix: str | os.PathLike) -> list[str]:
    """Check a PLINK 1 fileset (``PREFIX.bed/.bim/.fam``); return the ``.fam`` IIDs.

    Raises
    ------
    InputError
        A missing file; a ``.bim``/``.fam`` line without six columns; a ``.bed`` that is not
        SNP-major PLINK 1 or whose size disagrees with the ``.bim`` and ``.fam`` counts.
    """
    where = "check_plink/bfile"
    prefix = Path(str(prefix).removesuffix(".bed"))
    paths = {ext: Path(f"{prefix}.{ext}") for ext in ("bed", "bim", "fam")}
    for p in paths.values():
        if not p.is_file():
            raise InputError(f"{where}: {p} not found (a PLINK fileset needs .bed, .bim and .fam)")
    for ext in ("bim", "fam"):
        n = _columns_of_first_line(paths[ext])
        if n != 6:
            raise InputError(f"{where}: {paths[ext]} line 1 has {n} columns; a PLINK .{ext} has 6")
    with open(paths["fam"], "rb") as fh:
        samples = [line.split()[1].decode() for line in fh if line.strip()]
    n_variants = _count_lines(paths["bim"])
    with open(paths["bed"], "rb") as fh:
        magic = fh.read(3)
    if magic != _BED_MAGIC:
        raise InputError(f"{where}: {paths['bed']} is not a SNP-major PLINK 1 .bed (magic bytes {magic.hex()}, "
                         f"expected {_BED_MAGIC.hex()})")
    expected = 3 + (len(samples) + 3) // 4 * n_variants
    size = paths["bed"].stat().st_size
    if size != expected:
        raise InputError(
            f"{where}: {paths['bed']} has {size} bytes but {paths['bim']} lists {n_variants} variants and "
            f"{paths['fam']} {len(samples)} samples, which need {expected} bytes: the .bed is "
            f"{'truncated' if size < expected else 'longer'} or the .bim/.fam belong to another fileset"
        )
    return samples


def read_oxford_sample(path: str | os.PathLike) -> list[str]:
    """The sample identifiers of an Oxford ``.sample`` file (``ID_1``, the first column: Hail's
    column key), its two header lines checked."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"read_oxford_sample/path: no such file {path}")
    lines = path.read_text(errors="replace").splitlines()
    if len(lines) < 2 or len(lines[0].split()) < 2 or lines[1].split()[:2] != ["0", "0"]:
        raise InputError(f"read_oxford_sample/path: {path} is not an Oxford .sample file (a header line, then "
                         "a '0 0 0 ...' types line, then one line per sample)")
    return [ln.split()[0] for ln in lines[2:] if ln.strip()]


def check_bgen(path: str | os.PathLike, sample: str | os.PathLike | None = None) -> list[str]:
    """Check a BGEN v1.1/v1.2 file is complete; return its sample identifiers.

    Parameters
    ----------
    path : path
        The ``.bgen``; a ``PATH.bgi`` index beside it is used when present.
    sample : path, optional
        Oxford ``.sample`` file (default: the one beside the BGEN, else the identifiers stored
        in the BGEN).

    Raises
    ------
    InputError
        Bad magic bytes or header; a variant block past the end of the file (truncated), bytes
        after the last variant, or a ``.bgi`` that disagrees; a sample count that differs from the
        ``.sample`` file's.
    """
    where = "check_bgen/bgen"
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{where}: no such file {path}")
    size = path.stat().st_size
    if size < 24:
        raise InputError(f"{where}: {path} has {size} bytes, too short for a BGEN header")
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        offset, header_len, n_variants, n_samples = struct.unpack_from("<IIII", mm, 0)
        magic = bytes(mm[16:20])
        if magic not in (b"bgen", b"\x00\x00\x00\x00"):
            raise InputError(f"{where}: {path} is not a BGEN file (magic bytes {magic!r}, expected b'bgen')")
        if header_len < 20 or header_len > offset or offset + 4 > size:
            raise InputError(f"{where}: {path} has a damaged header: header length {header_len}, first variant "
                             f"at offset {offset + 4}, file length {size}")
        (flags,) = struct.unpack_from("<I", mm, header_len)
        compression, layout = flags & 3, (flags >> 2) & 0xF
        if compression == 3 or layout not in (1, 2):
            raise InputError(f"{where}: {path} has unknown flags (compression {compression}, layout {layout})")
        ids = None
        if flags >> 31:
            ids = _bgen_sample_ids(mm, 4 + header_len, n_samples, path, where)
        end = _bgen_end(path, mm, offset + 4, n_variants, layout, size, where,
                        fixed_block=6 * n_samples if layout == 1 and compression == 0 else None)
    if end != size:
        raise InputError(f"{where}: {path} has {size - end} byte(s) after its last ({n_variants}th) variant "
                         "block; the header's variant count disagrees with the file (damaged or concatenated)")
    if sample is None:
        cand = path.with_suffix(".sample")
        sample = cand if cand.is_file() else None
    if sample is not None:
        listed = read_oxford_sample(sample)
        if len(listed) != n_samples:
            raise InputError(f"check_bgen/sample: {sample} lists {len(listed)} samples but {path} holds "
                             f"{n_samples}; use the .sample file that came with this BGEN")
        return listed
    if ids is None:
        raise InputError(f"check_bgen/sample: {path} stores no sample identifiers and no .sample file was given "
                         f"or found beside it ({path.with_suffix('.sample')})")
    return ids


def _bgen_sample_ids(mm: mmap.mmap, at: int, n_samples: int, path: Path, where: str) -> list[str]:
    try:
        _length, n = struct.unpack_from("<II", mm, at)
        at += 8
        ids = []
        for _ in range(n):
            (k,) = struct.unpack_from("<H", mm, at)
            ids.append(bytes(mm[at + 2: at + 2 + k]).decode(errors="replace"))
            at += 2 + k
    except struct.error:
        raise InputError(f"{where}: {path} ends inside its sample identifier block") from None
    if n != n_samples:
        raise InputError(f"{where}: {path} has {n} sample identifiers but a header count of {n_samples}")
    return ids


def _bgen_end(path: Path, mm: mmap.mmap, first: int, n_variants: int, layout: int, size: int, where: str,
              fixed_block: int | None = None) -> int:
    """Where the last variant block ends: from the ``.bgi`` index, or by walking the headers."""
    bgi = Path(str(path) + ".bgi")
    if bgi.is_file():
        try:
            with sqlite3.connect(f"file:{bgi}?mode=ro", uri=True) as db:
                count, end = db.execute(
                    "SELECT COUNT(*), MAX(file_start_position + size_in_bytes) FROM Variant").fetchone()
        except sqlite3.Error as exc:
            raise InputError(f"{where}: {bgi} is not a readable BGEN index ({exc})") from None
        if count != n_variants:
            raise InputError(f"{where}: {bgi} indexes {count} variants but {path} says it holds {n_variants}: "
                             "the BGEN or its index is incomplete")
        if end is not None and end > size:
            raise InputError(f"{where}: {path} is truncated: its last variant ends at byte {end} "
                             f"(by {bgi}) but the file has {size}")
        return int(end) if end is not None else first
    at = first
    v = 0
    try:
        for v in range(n_variants):  # noqa: B007 - v names the variant in the message
            if layout == 1:
                at += 4  # the number of samples, repeated
            for _ in range(3):  # variant id, rsid, chromosome
                (k,) = struct.unpack_from("<H", mm, at)
                at += 2 + k
            at += 4  # position
            k_alleles = 2
            if layout == 2:
                (k_alleles,) = struct.unpack_from("<H", mm, at)
                at += 2
            for _ in range(k_alleles):
                (k,) = struct.unpack_from("<I", mm, at)
                at += 4 + k
            if fixed_block is not None:  # layout 1, uncompressed: 6 bytes per sample, no length
                at += fixed_block
            else:
                (block,) = struct.unpack_from("<I", mm, at)
                at += 4 + block
            if at > size:
                raise struct.error("past the end")
    except struct.error:
        raise InputError(f"{where}: {path} is truncated: variant {v + 1} of {n_variants} runs past the end of the "
                         f"file ({size} bytes)") from None
    return at


def check_vcf(path: str | os.PathLike) -> list[str]:
    """Check a VCF is complete (BGZF end-of-file block, or gzip read to its end); return its samples."""
    where = "check_vcf/vcf"
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{where}: no such file {path}")
    with open(path, "rb") as fh:
        head = fh.read(2)
    compressed = head == b"\x1f\x8b"
    if compressed:
        with open(path, "rb") as fh:
            fh.seek(max(0, path.stat().st_size - len(BGZF_EOF)))
            tail = fh.read()
        with open(path, "rb") as fh:
            bgzf = fh.read(16)[12:14] == b"BC"
        if bgzf and tail != BGZF_EOF:
            raise InputError(f"{where}: {path} is truncated: a BGZF file ends with the 28-byte end-of-file block and "
                             "this one does not")
        if not bgzf:
            _gzip_to_end(path, where)
    opener = gzip.open if compressed else open
    try:
        with opener(path, "rt", errors="replace") as fh:
            for line in fh:
                if line.startswith("#CHROM"):
                    fields = line.rstrip("\r\n").split("\t")
                    return fields[9:]
                if not line.startswith("##"):
                    break
    except (OSError, EOFError, zlib.error) as exc:
        raise InputError(f"{where}: {path} could not be read ({exc})") from None
    raise InputError(f"{where}: {path} has no '#CHROM' header line before its first record; not a VCF")


def _gzip_to_end(path: Path, where: str) -> None:
    """Decompress every member of a gzip file (no output kept): a truncated file fails here."""
    try:
        with gzip.open(path, "rb") as fh:
            while fh.read(1 << 22):
                pass
    except (OSError, EOFError, zlib.error) as exc:
        raise InputError(f"{where}: {path} is truncated or damaged: {exc}") from None

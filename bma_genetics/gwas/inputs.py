"""Genotype and phenotype inputs for the GWAS: BGEN / PLINK / VCF into one Hail MatrixTable.

Every reader returns the same shape, so association code never cares where genotypes came from:

===========  ==============  ===========================================================
field        Hail type       meaning
===========  ==============  ===========================================================
locus        locus<GRCh37>   row key
alleles      array<str>      row key; ``[other, effect]``: the dosage counts ``alleles[1]``
rsid         str             row field (BGEN rsid, .bim variant id, VCF ID)
varid        str             row field ``chrom:pos_ref_alt`` (as UK Biobank's BGEN)
s            str             column key: the participant eid
sex          int32           column field: 0 female, 1 male (UK Biobank field 31's coding),
                             from the .fam (PLINK) or the .sample's ``sex`` column (BGEN);
                             missing when unknown (VCF: see :func:`attach_sex`)
dosage       float64         entry: expected count of ``alleles[1]`` (0-2), missing allowed
===========  ==============  ===========================================================

chrX: males are coded 0/2 outside the pseudo-autosomal regions (UK Biobank's imputed BGEN and
PLINK's .bed store a hemizygous call as a homozygous diploid one; haploid VCF calls are doubled).
The sex field says who is hemizygous there: QC counts their alleles once and tests Hardy-Weinberg
on females only (:func:`bma_genetics.gwas.qc.variant_qc`). UK Biobank ships PAR1/PAR2 in separate
``..._cXY_...`` files (PLINK chromosome code 25, ``XY``); they are read as contig ``X`` of GRCh37,
whose loci know the PAR bounds.

BGEN: the alternate allele (allele 2) is counted, as plink2 ``ref-first`` and Hail do. PLINK: the
.bim's A1 (column 5) is counted (Hail's ``a2_reference=True``), as plink2 ``--glm omit-ref``.
"""

from __future__ import annotations

import glob
import hashlib
import logging
import os
import re
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from bma_genetics._check import fail
from bma_genetics.stats import chromosome_rank

log = logging.getLogger(__name__)

#: Contig names seen in UK Biobank and elsewhere, mapped to GRCh37's (``01`` in UKB BGEN).
CONTIG_RECODING: dict[str, str] = {
    **{f"{i:02d}": str(i) for i in range(1, 10)},
    **{f"chr{i}": str(i) for i in range(1, 23)},
    "chrX": "X", "chrY": "Y", "chrM": "MT", "chrMT": "MT", "23": "X", "24": "Y", "25": "X", "26": "MT",
    # PLINK's / UK Biobank's name of the pseudo-autosomal regions: GRCh37 has them on X
    "XY": "X", "chrXY": "X", "PAR1": "X", "PAR2": "X",
}
#: Sex codes of PLINK .fam and Oxford .sample files (1 male, 2 female) -> 1/0 (UK Biobank field 31).
_FILE_SEX = {"1": 1, "2": 0}


def _expand(where: str, pattern: str | os.PathLike, chromosomes: Sequence[str] | None, suffix: str) -> list[Path]:
    """Files from a path, a glob, a directory, or a pattern with ``{chrom}``.

    A ``{chrom}`` pattern with explicit chromosomes must find every file: a missing chromosome is
    an error, not a silently shorter GWAS.
    """
    pattern = str(pattern)
    if "{chrom}" in pattern:
        if chromosomes:
            files = [Path(pattern.format(chrom=c)) for c in chromosomes]
            missing = [str(f) for f in files if not f.exists()]
            if missing:
                raise fail(where, f"missing chromosome file(s) {missing}; check the pattern and the chromosomes list")
            return files
        regex = re.compile(re.escape(pattern).replace(r"\{chrom\}", r"(\w+)") + "$")
        files = [Path(f) for f in glob.glob(pattern.replace("{chrom}", "*")) if regex.search(f)]
    elif Path(pattern).is_dir():
        files = sorted(Path(pattern).glob(f"*{suffix}"))
    elif any(ch in pattern for ch in "*?["):
        files = [Path(f) for f in glob.glob(pattern)]
    else:
        files = [Path(pattern)]
        if not files[0].exists():
            raise fail(where, f"no such file {pattern}")
    if not files:
        raise fail(where, f"no {suffix} files match {pattern}")
    return sorted(files, key=lambda f: (chromosome_rank(chromosome_of(f)), f.name))


def chromosome_of(path: str | os.PathLike) -> str | None:
    """The chromosome a per-chromosome file name encodes (``ukb22828_c7_b0_v3.bgen`` -> ``7``)."""
    m = re.search(r"(?:_c|chr|chrom)(\d+|X|Y|XY|MT)(?:[_.]|$)", Path(path).name)
    return m.group(1) if m else None


def bgen_has_sample_ids(path: str | os.PathLike) -> bool:
    """Whether a BGEN file stores sample identifiers in its header (flag bit 31)."""
    with open(path, "rb") as fh:
        _offset, header_len = struct.unpack("<II", fh.read(8))
        fh.seek(4 + header_len - 4)
        (flags,) = struct.unpack("<I", fh.read(4))
    return bool(flags >> 31)


def default_index_dir() -> Path:
    """Where BGEN indices go when the BGEN folder is read-only (a per-user cache)."""
    env = os.environ.get("BMA_GENETICS_CACHE")
    if env:
        return Path(env) / "bgen-index"
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("bma-genetics")) / "bgen-index"


def _index_map(files: Sequence[Path], index_dir: str | os.PathLike | None) -> dict[str, str]:
    """An index location per BGEN: beside it when one exists there, else in ``index_dir``.

    The cache name hashes the absolute path, size and mtime so a regenerated BGEN gets a fresh
    index rather than a stale one.
    """
    from bma_genetics._hail import location_join

    out = {}
    base = index_dir if index_dir else default_index_dir()
    for f in files:
        beside = Path(str(f) + ".idx2")
        if beside.exists():
            out[str(f)] = str(beside)
            continue
        st = f.stat()
        tag = hashlib.sha1(f"{f.resolve()}:{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()[:12]
        out[str(f)] = str(location_join(base, f"{f.name}.{tag}.idx2"))  # a URI: where every executor reads
    return out


def read_bgen(
    bgen: str | os.PathLike,
    *,
    sample: str | os.PathLike | None = None,
    chromosomes: Sequence[str] | None = None,
    index_dir: str | os.PathLike | None = None,
    n_partitions: int | None = None,
):
    """Read BGEN v1.2 file(s) into a MatrixTable with ``dosage`` entries (see module docstring).

    Parameters
    ----------
    bgen : path, glob, directory or pattern with ``{chrom}``
        E.g. ``genotypes/imputed/ukb22828_c{chrom}_b0_v3.bgen``.
    sample : path, optional
        Oxford .sample file; default the ``.sample`` beside the first BGEN. Required unless the
        BGEN stores sample identifiers.
    chromosomes : list of str, optional
        With a ``{chrom}`` pattern: the chromosomes to read (each file must exist).
    index_dir : path or URI, optional
        Where Hail's ``.idx2`` indices are created when none sits beside the BGEN (default a
        per-user cache, so a read-only BGEN folder works); on a multi-node cluster a URI every
        executor reads (``hdfs://``, ``gs://``, ``dnax://``).
    n_partitions : int, optional
        Target number of partitions (Hail's ``n_partitions``).
    """
    from bma_genetics._hail import init_hail

    hl = init_hail()
    files = _expand("read_bgen/bgen", bgen, chromosomes, ".bgen")
    if sample is None:
        cand = files[0].with_suffix(".sample")
        if cand.exists():
            sample = cand
        elif not all(bgen_has_sample_ids(f) for f in files):
            raise fail(
                "read_bgen/sample",
                f"BGEN {files[0]} has no sample identifiers and no sample file was given or found "
                f"beside it ({cand}); pass sample= (--sample on the command line)",
            )
    elif not Path(sample).exists():
        raise fail("read_bgen/sample", f"no such sample file {sample}")
    from bma_genetics._atomic import uri_scheme
    from bma_genetics._hail import location_exists

    index_map = _index_map(files, index_dir)
    todo = {b: i for b, i in index_map.items() if not location_exists(i)}
    if todo:
        for i in todo.values():
            if uri_scheme(i) is None:
                Path(i).parent.mkdir(parents=True, exist_ok=True)
        log.info("indexing %d BGEN file(s) into %s", len(todo), next(iter(todo.values())).rsplit("/", 1)[0])
        hl.index_bgen(list(todo), index_file_map=todo, reference_genome="GRCh37",
                      contig_recoding=CONTIG_RECODING, skip_invalid_loci=False)
    mt = hl.import_bgen(
        [str(f) for f in files],
        entry_fields=["dosage"],
        sample_file=str(sample) if sample else None,
        index_file_map=index_map,
        n_partitions=n_partitions,
    )
    sexes = read_sample_sex(sample) if sample else None
    mt = _standardise(hl, mt)
    return _with_sex(hl, mt, sexes) if sexes is not None else mt


def read_plink(
    bfile: str | os.PathLike,
    *,
    chromosomes: Sequence[str] | None = None,
    n_partitions: int | None = None,
):
    """Read PLINK 1 .bed/.bim/.fam (one prefix, or a prefix pattern with ``{chrom}``).

    The dosage counts the .bim's A1 allele (column 5); the .fam's IID is the sample key.
    """
    from bma_genetics._hail import init_hail

    hl = init_hail()
    prefixes = [Path(str(p)[:-4]) for p in _expand("read_plink/bfile", f"{bfile}.bed", chromosomes, ".bed")]
    mts = []
    for prefix in prefixes:
        for ext in (".bim", ".fam"):
            if not Path(f"{prefix}{ext}").exists():
                raise fail("read_plink/bfile", f"{prefix}.bed has no {ext} beside it")
        mt = hl.import_plink(
            bed=f"{prefix}.bed", bim=f"{prefix}.bim", fam=f"{prefix}.fam",
            reference_genome="GRCh37", contig_recoding=CONTIG_RECODING,
            n_partitions=n_partitions, quant_pheno=True, missing="NA",
        )
        mt = mt.select_entries(dosage=hl.float64(mt.GT.n_alt_alleles()))
        # .fam sex: Hail's is_female is missing for code 0 (unknown)
        mt = mt.select_cols(sex=hl.if_else(mt.is_female, 0, 1)).select_rows("rsid")
        mts.append(mt)
    mt = mts[0] if len(mts) == 1 else mts[0].union_rows(*mts[1:])
    return _standardise(hl, mt)


def is_bgzf(path: str | os.PathLike) -> bool:
    """Whether a file is BGZF (``bgzip``'s blocked gzip: a gzip member with the ``BC`` extra field)."""
    with open(path, "rb") as fh:
        head = fh.read(16)
    return len(head) >= 16 and head[:4] == b"\x1f\x8b\x08\x04" and head[12:14] == b"BC"


def read_vcf(
    vcf: str | os.PathLike,
    *,
    chromosomes: Sequence[str] | None = None,
    n_partitions: int | None = None,
):
    """Read VCF(s): ``DS`` as the dosage when the header has it, else the GT alt-allele count.

    Plain text, BGZF (``bgzip``, read in parallel) and ordinary gzip (read serially, with a
    warning) are all accepted, whatever the ``.gz`` name says.

    Hemizygous calls (haploid GT, males on chrX) are coded 0/2, as the PLINK and BGEN routes and
    plink2's ``--xchr-model 2``: a haploid GT counts 2 per ALT allele, and a DS beside a haploid GT
    (a haploid dosage in 0-1, as imputation servers write it) is doubled. A VCF with DS and no GT
    cannot show ploidy: its DS is taken as given (code male chrX dosages 0-2 there).

    Multi-allelic records are dropped (split them first with ``bcftools norm -m-``); the count is
    logged.
    """
    from bma_genetics._hail import init_hail

    hl = init_hail()
    files = _expand("read_vcf/vcf", vcf, chromosomes, ".vcf.gz")
    gz = [f for f in files if str(f).endswith(".gz")]
    plain_gzip = [f for f in gz if not is_bgzf(f)]
    if plain_gzip:
        log.warning("read_vcf: %s is ordinary gzip, not BGZF; it is read serially (bgzip it for parallel reading)",
                    plain_gzip[0])
    mt = hl.import_vcf([str(f) for f in files], reference_genome="GRCh37", contig_recoding=CONTIG_RECODING,
                       force=bool(plain_gzip), force_bgz=bool(gz) and not plain_gzip,
                       array_elements_required=False)
    n_multi = mt.aggregate_rows(hl.agg.count_where(hl.len(mt.alleles) != 2))
    if n_multi:
        log.warning("read_vcf: dropped %d multi-allelic records", n_multi)
        mt = mt.filter_rows(hl.len(mt.alleles) == 2)
    haploid = (hl.is_defined(mt.GT) & (mt.GT.ploidy == 1)) if "GT" in mt.entry else hl.bool(False)
    if "DS" in mt.entry:
        ds = mt.DS[0] if isinstance(mt.DS.dtype, hl.tarray) else mt.DS
        dosage = hl.float64(ds)
    else:
        dosage = hl.float64(mt.GT.n_alt_alleles())
    mt = mt.select_entries(dosage=hl.if_else(haploid, 2 * dosage, dosage))
    mt = mt.select_rows(rsid=mt.rsid).select_cols()
    if n_partitions:
        mt = mt.repartition(n_partitions)
    return _standardise(hl, mt)


def _standardise(hl, mt):
    """Common row fields, string sample key."""
    if "rsid" not in mt.row:
        mt = mt.annotate_rows(rsid=hl.missing(hl.tstr))
    varid = hl.format("%s:%d_%s_%s", mt.locus.contig, mt.locus.position, mt.alleles[0], mt.alleles[1])
    mt = mt.select_rows(rsid=mt.rsid, varid=varid)
    if mt.col_key.dtype != hl.tstruct(s=hl.tstr):
        key = next(iter(mt.col_key))
        mt = mt.key_cols_by(s=hl.str(mt[key]))
    return mt.select_cols(sex=hl.int32(mt.sex) if "sex" in mt.col else hl.missing(hl.tint32))


def read_sample_sex(sample: str | os.PathLike) -> dict[str, int] | None:
    """Sex per sample from an Oxford ``.sample`` file's ``sex`` column (1 male, 2 female; other values
    unknown), as ``{ID_1: 1 male / 0 female}``; ``None`` when the file has no ``sex`` column."""
    t = pd.read_csv(sample, sep=r"\s+", dtype=str, keep_default_na=False)
    if "sex" not in t.columns or "ID_1" not in t.columns:
        return None
    t = t.iloc[1:]  # the column-type line (0 0 0 D)
    return {i: _FILE_SEX[v] for i, v in zip(t["ID_1"], t["sex"], strict=True) if v in _FILE_SEX}


def _with_sex(hl, mt, sexes: dict[str, int]):
    """The ``sex`` column field from ``{sample: 0/1}``, through a table in Hail's temporary folder
    (a literal of 500,000 ids would bloat every query plan)."""
    import hailtop.fs as hfs

    path = hl.utils.new_temp_file(prefix="sample-sex", extension="tsv")
    with hfs.open(path, "w") as fh:
        fh.write("s\tsex\n" + "".join(f"{k}\t{v}\n" for k, v in sexes.items()))
    ht = hl.import_table(path, key="s", types={"sex": hl.tint32}, impute=False)
    return mt.annotate_cols(sex=ht[mt.s].sex)


def attach_sex(mt, table: pd.DataFrame, *, column: str = "sex", id_column: str = "eid"):
    """Fill the genotypes' ``sex`` field (who is hemizygous on chrX) from a participant table.

    The genotype files' own sex (.fam / .sample: what the ploidy of the calls follows, as plink2 reads
    it) is kept where known; the table's ``column`` (0 female, 1 male, as UK Biobank field 31) fills the
    rest, e.g. for VCF input. Disagreements are counted in the log (the participants stage removes
    sex mismatches before the GWAS).

    Returns
    -------
    (MatrixTable, dict)
        The MatrixTable and counts: ``from_genotype_files``, ``from_table``, ``unknown``, ``disagree``.
    """
    import hail as hl

    if column not in table.columns:
        known = mt.aggregate_cols(hl.agg.count_where(hl.is_defined(mt.sex)))
        return mt, {"from_genotype_files": int(known), "from_table": 0, "unknown": int(mt.count_cols() - known),
                    "disagree": 0}
    if id_column not in table.columns:
        raise fail("attach_sex/table", f"no '{id_column}' column; it has {list(table.columns)[:20]}")
    v = pd.to_numeric(table[column], errors="coerce")
    ok = v.isin([0, 1])
    sexes = dict(zip(table.loc[ok, id_column].astype(str), v[ok].astype(int), strict=True))
    tmp = _with_sex(hl, mt.select_cols(file_sex=mt.sex), sexes)
    c = tmp.aggregate_cols(hl.struct(
        files=hl.agg.count_where(hl.is_defined(tmp.file_sex)),
        table=hl.agg.count_where(hl.is_missing(tmp.file_sex) & hl.is_defined(tmp.sex)),
        unknown=hl.agg.count_where(hl.is_missing(tmp.file_sex) & hl.is_missing(tmp.sex)),
        disagree=hl.agg.count_where(tmp.file_sex != tmp.sex)))
    counts = {"from_genotype_files": int(c.files), "from_table": int(c.table), "unknown": int(c.unknown),
              "disagree": int(c.disagree)}
    if counts["disagree"]:
        log.warning("attach_sex: %d sample(s) have another sex in the genotype files than in column '%s'; "
                    "chrX ploidy follows the genotype files", counts["disagree"], column)
    log.info("sex for chrX: %s", counts)
    return tmp.select_cols(sex=hl.coalesce(tmp.file_sex, tmp.sex)), counts


def read_genotypes(
    *,
    bgen: str | os.PathLike | None = None,
    sample: str | os.PathLike | None = None,
    bfile: str | os.PathLike | None = None,
    vcf: str | os.PathLike | None = None,
    chromosomes: Sequence[str] | None = None,
    index_dir: str | os.PathLike | None = None,
    n_partitions: int | None = None,
):
    """Read genotypes from exactly one of ``bgen``, ``bfile`` or ``vcf`` (see the readers)."""
    given = {k: v for k, v in {"bgen": bgen, "bfile": bfile, "vcf": vcf}.items() if v}
    if len(given) != 1:
        raise fail("read_genotypes", f"give exactly one of bgen=, bfile=, vcf=; found {sorted(given) or 'none'}")
    if bgen:
        return read_bgen(bgen, sample=sample, chromosomes=chromosomes, index_dir=index_dir, n_partitions=n_partitions)
    if bfile:
        return read_plink(bfile, chromosomes=chromosomes, n_partitions=n_partitions)
    return read_vcf(vcf, chromosomes=chromosomes, n_partitions=n_partitions)


def reconcile_samples(mt, table: pd.DataFrame, *, withdrawals: set[str] | None = None,
                      id_column: str = "eid") -> tuple[Any, dict[str, int]]:
    """Keep genotyped samples present in ``table`` and not withdrawn; count every mismatch.

    UK Biobank marks withdrawn people in .sample files with negative eids; those are removed
    too. An empty overlap is an error (usually the wrong ID column or a different application's
    eids).

    Returns
    -------
    (MatrixTable, dict)
        The filtered MatrixTable and counts: ``genotyped``, ``in_table``, ``overlap``,
        ``genotyped_not_in_table``, ``table_not_genotyped``, ``withdrawn_removed``,
        ``negative_eids_removed``, ``analysed``.
    """
    mt, counts, _ = _reconcile(mt, table, withdrawals=withdrawals, id_column=id_column)
    return mt, counts


def _reconcile(mt, table: pd.DataFrame, *, withdrawals: set[str] | None, id_column: str):
    """:func:`reconcile_samples` plus the kept ids (saves run_gwas a second Spark job)."""
    import hail as hl

    if id_column not in table.columns:
        raise fail("reconcile_samples/table", f"no '{id_column}' column; it has {list(table.columns)[:20]}")
    geno = [str(s) for s in mt.s.collect()]
    geno_set = set(geno)
    ids = set(table[id_column].astype(str))
    withdrawals = withdrawals or set()
    negative = {s for s in geno_set if s.startswith("-")}
    overlap = (geno_set & ids) - negative
    keep = overlap - withdrawals
    counts = {
        "genotyped": len(geno_set),
        "in_table": len(ids),
        "overlap": len(overlap),
        "genotyped_not_in_table": len(geno_set - ids - negative),
        "table_not_genotyped": len(ids - geno_set),
        "withdrawn_removed": len(overlap & withdrawals),
        "negative_eids_removed": len(negative),
        "analysed": len(keep),
    }
    if not keep:
        raise fail(
            "reconcile_samples/table",
            f"no overlapping samples between the genotypes ({len(geno_set)} samples, e.g. {geno[:3]}) and the "
            f"phenotype table ({len(ids)} ids in '{id_column}', e.g. {sorted(ids)[:3]}) after removing "
            f"{len(withdrawals)} withdrawals; check that both use the same eids",
        )
    if len(keep) < len(geno_set):
        mt = mt.filter_cols(hl.literal(keep).contains(mt.s))
    log.info("samples: %s", counts)
    return mt, counts, keep


def check_genotype_files(
    *,
    bgen: str | os.PathLike | None = None,
    sample: str | os.PathLike | None = None,
    bfile: str | os.PathLike | None = None,
    vcf: str | os.PathLike | None = None,
    chromosomes: Sequence[str] | None = None,
) -> tuple[set[str], list[Path]]:
    """Check every genotype file is complete before Hail reads any (:mod:`bma_genetics.io.genotypes`).

    Reads headers, counts and file lengths only: a truncated BGEN, a ``.bed`` that disagrees with
    its ``.bim``/``.fam``, a ``.sample`` file of another BGEN or a truncated VCF fails here, in
    seconds, naming the file.

    Returns
    -------
    (set of str, list of Path)
        The sample identifiers (every file's) and the files they come from (``.fam``,
        ``.sample``, the BGEN or VCF itself).
    """
    from bma_genetics.io import check_bgen, check_plink, check_vcf

    given = {k: v for k, v in (("bgen", bgen), ("bfile", bfile), ("vcf", vcf)) if v is not None}
    if len(given) != 1:
        raise fail("check_genotype_files", f"give exactly one of bgen=, bfile=, vcf=; found {sorted(given) or 'none'}")
    samples: set[str] = set()
    if bgen is not None:
        files = _expand("read_bgen/bgen", bgen, chromosomes, ".bgen")
        if sample is not None and not Path(sample).exists():
            raise fail("read_bgen/sample", f"no such sample file {sample}")
        for f in files:
            samples.update(check_bgen(f, sample))
        beside = files[0].with_suffix(".sample")
        id_files = [Path(sample)] if sample is not None else [beside] if beside.exists() else files
    elif bfile is not None:
        prefixes = [Path(str(p)[:-4]) for p in _expand("read_plink/bfile", f"{bfile}.bed", chromosomes, ".bed")]
        for prefix in prefixes:
            samples.update(check_plink(prefix))
        id_files = [Path(f"{p}.fam") for p in prefixes]
    else:
        id_files = _expand("read_vcf/vcf", vcf, chromosomes, ".vcf.gz")
        for f in id_files:
            samples.update(check_vcf(f))
    return samples, id_files

"""LDSC's file formats, and the heritability stage's result tables: one reader and one writer each.

=========================  ==============================================  ===========================
what                       reader / writer                                 files
=========================  ==============================================  ===========================
LD scores (per chromosome)  :func:`read_ld_scores` / :func:`write_ld_scores`  ``<prefix><chr>.l2.ldscore.gz``,
                                                                           ``.l2.M``, ``.l2.M_5_50``
munged summary statistics  :func:`read_munged_sumstats` /                  ``<trait>.sumstats.gz``
                           :func:`write_munged_sumstats`                   (``SNP A1 A2 Z N``)
annotations (per chrom.)   :func:`read_annot` / :func:`write_annot`        ``<prefix><chr>.annot.gz``
                                                                           (``CHR BP SNP CM <annots>``
                                                                           or thin: ``<annots>``)
h2 and rg results          :func:`read_heritability_results` /             ``h2.tsv``, ``rg.tsv``,
                           :func:`write_heritability_results` (``table=``)  ``partitioned_h2.tsv``
=========================  ==============================================  ===========================

LD-score folders follow LDSC's layout: ``eur_w_ld_chr/`` holds ``1.l2.ldscore.gz`` ..
``22.l2.ldscore.gz`` with ``1.l2.M_5_50`` ...; a prefix may carry ``@`` where the chromosome
goes (``ld/@_kg`` -> ``ld/1_kg.l2.ldscore.gz``), as in ``--ref-ld-chr``. Files are written
with three decimals, as LDSC writes them. Partitioned LD scores (one column per annotation,
``<annot>L2``, from ``ldsc.py --l2 --annot``) carry one ``.l2.M`` / ``.l2.M_5_50`` value per
annotation, tab-separated.
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from bma_genetics._atomic import atomic_path
from bma_genetics._check import fail
from bma_genetics.io._schema import TableSchema, read_checked, write_checked

N, S, B = "number", "string", "bool"


@dataclass
class LDScores:
    """LD scores of a genotype set, per chromosome.

    Attributes
    ----------
    table : DataFrame
        ``chromosome`` (str), ``rsid`` (LDSC's SNP), ``base_pair_location``, ``l2`` (and ``maf``
        when computed here); chromosome then position order.
    m, m_5_50 : dict of str to float (or to list of float)
        Per chromosome: SNPs the scores sum over, and those with MAF > 0.05 (LDSC's ``.l2.M`` and
        ``.l2.M_5_50``); with ``annotations``, one value per annotation (the annotation's sum).
    settings : dict
        How they were made (window, chunk size, MAF filter, samples) or where they were read.
    annotations : list of str, optional
        Partitioned LD scores: the score columns of ``table``, one per annotation, named as LDSC
        names them (``<annot>L2``); None: one column, ``l2``.
    """

    table: pd.DataFrame
    m: dict[str, float]
    m_5_50: dict[str, float]
    settings: dict = field(default_factory=dict)
    annotations: list[str] | None = None

    _index: tuple = field(default=(), init=False, repr=False, compare=False)

    def snp_index(self) -> pd.Index:
        """``table["rsid"]`` as a text :class:`pandas.Index`, built once per table (its hash table,
        made by the first lookup or ``is_unique``, is then shared by every merge on SNP)."""
        if not self._index or self._index[0] is not self.table or len(self._index[1]) != len(self.table):
            ids = self.table["rsid"]
            if not (ids.dtype == object and pd.api.types.infer_dtype(ids, skipna=False) == "string"):
                ids = ids.astype(str)
            self._index = (self.table, pd.Index(ids, copy=False))
        return self._index[1]

    @property
    def score_columns(self) -> list[str]:
        """The LD-score columns of ``table``: ``annotations`` or ``["l2"]``."""
        return list(self.annotations) if self.annotations else ["l2"]

    def m_vector(self, *, common: bool = True) -> np.ndarray:
        """``M_5_50`` (``common=True``) or ``M`` per score column, summed over chromosomes."""
        values = self.m_5_50 if common else self.m
        if not values:
            name = ".l2.M_5_50" if common else ".l2.M"
            raise fail("LDScores/m", f"no {name} counts with these LD scores ({self.settings.get('source', '')}); "
                                     "supply the files beside the .l2.ldscore.gz or pass m=")
        k = len(self.score_columns)
        total = np.zeros(k)
        for chrom, v in values.items():
            arr = np.atleast_1d(np.asarray(v, dtype=float))
            if arr.size != k:
                raise fail("LDScores/m", f"chromosome {chrom}: {arr.size} M value(s) for {k} LD-score column(s)")
            total += arr
        return total

    def total_m(self, *, common: bool = True) -> float:
        """Sum of ``M_5_50`` (``common=True``, LDSC's default) or ``M`` over chromosomes (and
        annotations: LDSC's ``M_tot``)."""
        return float(self.m_vector(common=common).sum())


_CHROMS = [str(c) for c in range(1, 23)] + ["X"]


def _chrom_path(prefix: str, chrom: str, suffix: str) -> Path:
    p = str(prefix)
    if "@" in p:
        return Path(p.replace("@", chrom) + suffix)
    if os.path.isdir(p) or p.endswith(os.sep):
        return Path(p) / f"{chrom}{suffix}"
    return Path(f"{p}{chrom}{suffix}")


def _existing(path: Path) -> Path | None:
    for cand in (Path(f"{path}.gz"), Path(f"{path}.bz2"), path):
        if cand.exists():
            return cand
    return None


def _first_line(path: Path) -> str:
    """The header line of a plain, gzip or bzip2 text file."""
    import bz2

    opener = gzip.open if path.suffix == ".gz" else bz2.open if path.suffix == ".bz2" else open
    with opener(path, "rt") as fh:
        return fh.readline()


def _l2_arrow_table(path: Path):
    """An LDSC ``.l2.ldscore`` file as pyarrow's CSV reader types it (tab-separated files, as LDSC
    and this module write them), or None where the file is not plainly tab-separated, pyarrow
    cannot read it or a column other than CHR and SNP is not numeric: :func:`_read_l2`'s pandas
    path reads that file (and names the line of any bad value)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    header = _first_line(path).rstrip("\r\n")
    names = header.split("\t")
    if len(names) < 4 or any(not n or n != n.strip() or " " in n for n in names):
        return None
    try:
        table = pacsv.read_csv(path, parse_options=pacsv.ParseOptions(delimiter="\t"),
                               convert_options=pacsv.ConvertOptions(
                                   column_types={"CHR": pa.string(), "SNP": pa.string()},
                                   null_values=[".", ""], strings_can_be_null=False))
    except pa.ArrowInvalid:  # ragged rows, text in a number column: the pandas path says where
        return None
    if any(not pa.types.is_floating(table.schema.field(c).type) and not pa.types.is_integer(table.schema.field(c).type)
           for c in names if c not in ("CHR", "SNP")):
        return None
    return table


def _arrow_frame(table) -> pd.DataFrame:
    return pd.DataFrame({c: table.column(c).to_numpy(zero_copy_only=False) for c in table.column_names})


def _read_l2_arrow(path: Path) -> pd.DataFrame | None:
    """An LDSC ``.l2.ldscore`` file read by pyarrow's CSV reader (a third of the C parser's time);
    None where :func:`_l2_arrow_table` leaves it to the pandas path."""
    table = _l2_arrow_table(path)
    return None if table is None else _arrow_frame(table)


def _l2_score_columns(frame: pd.DataFrame, path: Path) -> list[str]:
    missing = [c for c in ("CHR", "SNP", "BP") if c not in frame.columns]
    if missing:
        raise fail("read_ld_scores/path", f"{path} lacks column(s) {missing}: not an LDSC .l2.ldscore file")
    score_cols = [str(c) for c in frame.columns if c not in ("CHR", "SNP", "BP", "CM", "MAF")]
    if not score_cols:
        raise fail("read_ld_scores/path", f"{path} has no LD-score column (e.g. L2) after CHR SNP BP")
    if len(set(score_cols)) != len(score_cols):
        raise fail("read_ld_scores/path", f"{path} repeats an LD-score column name: {score_cols}")
    return score_cols


def _l2_canonical(frame: pd.DataFrame, score_cols: list[str]) -> tuple[pd.DataFrame, np.ndarray]:
    """The canonical columns of a ``.l2.ldscore`` frame and the rows with a missing or non-numeric
    BP or LD score."""
    chrom = _per_value_text(frame["CHR"])
    snp = frame["SNP"]
    if not (snp.dtype == object and pd.api.types.infer_dtype(snp, skipna=False) == "string"):
        snp = snp.astype(str)
    out = pd.DataFrame({"chromosome": chrom, "rsid": snp,
                        "base_pair_location": pd.to_numeric(frame["BP"], errors="coerce")})
    names = ["l2"] if len(score_cols) == 1 else score_cols
    for name, col in zip(names, score_cols, strict=True):
        out[name] = pd.to_numeric(frame[col], errors="coerce")
    if "MAF" in frame.columns:
        out["maf"] = pd.to_numeric(frame["MAF"], errors="coerce")
    bad = (out[names].isna().any(axis=1) | out["base_pair_location"].isna()).to_numpy()
    out.attrs["score_columns"] = score_cols
    return out, bad


def _read_l2(path: Path) -> pd.DataFrame:
    frame = _read_l2_arrow(path)
    if frame is None:
        frame = pd.read_csv(path, sep=r"\s+", na_values=".", dtype={"CHR": str, "SNP": str})
    score_cols = _l2_score_columns(frame, path)
    out, bad = _l2_canonical(frame, score_cols)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise fail("read_ld_scores/path", f"{path} line {row + 2}: missing or non-numeric BP or LD score "
                                          f"({', '.join(score_cols)}) ({bad.sum()} such rows)")
    return out


def _read_l2_all(files: list[Path]) -> pd.DataFrame | None:
    """Every chromosome's ``.l2.ldscore`` file as one frame, the one concatenating :func:`_read_l2`'s
    frames gives, from pyarrow tables joined before the conversion (once instead of once per file:
    a third of the CPU on 22 files); None when any file is not plainly readable so, the columns or
    their types differ between files, or a value is missing: the per-file reader then reads and
    reports them in file order."""
    import pyarrow as pa

    tables = []
    for f in files:
        table = _l2_arrow_table(f)
        if table is None or (tables and table.schema != tables[0].schema):
            return None
        tables.append(table)
    names = tables[0].column_names
    score_cols = [c for c in names if c not in ("CHR", "SNP", "BP", "CM", "MAF")]
    if any(c not in names for c in ("CHR", "SNP", "BP")) or not score_cols or len(set(score_cols)) != len(score_cols):
        return None
    out, bad = _l2_canonical(_arrow_frame(pa.concat_tables(tables)), score_cols)
    return None if bad.any() else out


def _per_value_text(chrom: pd.Series) -> pd.Series:
    """Chromosome names as text without ``chr``, computed once per distinct value."""
    codes, uniques = pd.factorize(chrom, use_na_sentinel=False)
    text = pd.Series(np.asarray(uniques, dtype=object)).astype(str).str.removeprefix("chr")
    return pd.Series(text.to_numpy(dtype=object)[codes], index=chrom.index, dtype=object)


def _read_m(path: Path, k: int = 1) -> float | list[float]:
    """One number per LD-score column (``k``): a float for one, a list for several."""
    text = path.read_text().split()
    if len(text) != k:
        raise fail("read_ld_scores/path", f"{path}: expected {k} number(s), one per LD-score column, found "
                                          f"{text[:5]}")
    try:
        values = [float(t) for t in text]
    except ValueError:
        raise fail("read_ld_scores/path", f"{path}: {' '.join(text)!r} is not a list of numbers") from None
    return values[0] if k == 1 else values


def read_ld_scores(path: str | os.PathLike):
    """Read LD scores in LDSC's layout (a per-chromosome folder or prefix, or one file set).

    Parameters
    ----------
    path : path-like
        A folder of ``<chr>.l2.ldscore.gz`` (``eur_w_ld_chr/``), a per-chromosome prefix
        (``ld/chr`` -> ``ld/chr1.l2.ldscore.gz``; ``@`` marks the chromosome), or the prefix of a
        single file set (``scores`` -> ``scores.l2.ldscore.gz``).

    Returns
    -------
    LDScores
        Sorted by chromosome and position, duplicated SNP ids dropped (first kept), as LDSC
        does; ``m`` and ``m_5_50`` per chromosome from the ``.l2.M`` / ``.l2.M_5_50`` files
        (empty where a file is absent). Several score columns (partitioned LD scores, e.g.
        ``codingL2 baseL2``): ``annotations`` names them and ``m``/``m_5_50`` hold one value per
        column; ``settings["columns"]`` keeps the file's column names (``["L2"]`` for one).

    Raises
    ------
    InputError
        No LD-score file found at ``path``; a file without ``CHR SNP BP`` and a score column;
        chromosomes with different score columns; ``.l2.M`` files whose count of values is not
        the count of score columns.
    """
    p = str(Path(path).expanduser()) + (os.sep if Path(path).is_dir() else "")
    sets: list[tuple[str | None, Path]] = []
    single = _existing(Path(p.rstrip(os.sep) + ".l2.ldscore"))
    if single is not None and "@" not in p:
        sets.append((None, Path(p.rstrip(os.sep))))
    else:
        for chrom in _CHROMS:
            f = _existing(_chrom_path(p, chrom, ".l2.ldscore"))
            if f is not None:
                sets.append((chrom, _chrom_path(p, chrom, "")))
    if not sets:
        raise fail("read_ld_scores/path", f"no LD-score files at {path}: expected a folder of "
                                          "<chr>.l2.ldscore.gz (LDSC's eur_w_ld_chr/ layout) or a prefix")
    m, m550 = {}, {}
    files = [_existing(Path(f"{stem}.l2.ldscore")) for _, stem in sets]
    table = _read_l2_all(files)  # None: read file by file below, where each error names its file
    columns: list[str] | None = None if table is None else table.attrs["score_columns"]
    frames = []
    for (chrom, stem), f in zip(sets, files, strict=True):
        if table is None:
            frame = _read_l2(f)
            if columns is None:
                columns = frame.attrs["score_columns"]
            elif frame.attrs["score_columns"] != columns:
                raise fail("read_ld_scores/path", f"{f} has LD-score columns {frame.attrs['score_columns']}, the "
                                                  f"first file {columns}: every chromosome must have the same")
            frames.append(frame)
        for suffix, target in ((".l2.M", m), (".l2.M_5_50", m550)):
            mf = Path(f"{stem}{suffix}")
            if mf.exists():
                value = _read_m(mf, len(columns))
                if chrom is not None:
                    target[chrom] = value
                else:
                    target["all"] = value
    if table is None:
        table = pd.concat(frames, ignore_index=True)
    from bma_genetics.stats import chromosome_rank

    ranks = {c: int(chromosome_rank(c)) for c in table["chromosome"].unique()}
    rank = table["chromosome"].map(ranks).to_numpy()
    bp = table["base_pair_location"].to_numpy()
    # files are usually in order already (one chromosome each, by position): no sort then
    in_order = bool(np.all((rank[1:] > rank[:-1]) | ((rank[1:] == rank[:-1]) & (bp[1:] >= bp[:-1]))))
    if not in_order:
        order = np.lexsort((bp, rank))  # stable: rows of one position keep their file order
        table = table.iloc[order].reset_index(drop=True)
    annotations = columns if len(columns) > 1 else None
    scores = LDScores(table, m, m550, {"source": str(path), "columns": columns}, annotations)
    if not scores.snp_index().is_unique:  # as LDSC: a repeated SNP id keeps its first row
        scores = LDScores(table.drop_duplicates("rsid").reset_index(drop=True), m, m550, scores.settings,
                          annotations)
    scores.table["base_pair_location"] = scores.table["base_pair_location"].astype(np.int64)
    return scores


def write_ld_scores(scores, out: str | os.PathLike) -> dict[str, Path]:
    """Write LD scores in LDSC's per-chromosome layout (three decimals, gzip).

    Parameters
    ----------
    scores : LDScores
        From :func:`bma_genetics.heritability.ldscore.compute_ld_scores`.
    out : path-like
        A folder (created; files ``<chr>.l2.ldscore.gz``) or a prefix with ``@`` for the
        chromosome.

    Returns
    -------
    dict of str to Path
        ``"<chr>"`` -> the ``.l2.ldscore.gz`` written (``.l2.M``/``.l2.M_5_50`` beside it).
    """
    out_s = str(out)
    if "@" not in out_s:
        Path(out_s).mkdir(parents=True, exist_ok=True)
        out_s = out_s.rstrip(os.sep) + os.sep
    written = {}
    cols = scores.score_columns
    header = "\t".join(["CHR", "SNP", "BP", *(scores.annotations or ["L2"])])
    for chrom, part in scores.table.groupby("chromosome", sort=False):
        stem = _chrom_path(out_s, str(chrom), "")
        stem.parent.mkdir(parents=True, exist_ok=True)
        chrom_col = int(chrom) if str(chrom).isdigit() else str(chrom)
        target = Path(f"{stem}.l2.ldscore.gz")
        if len(cols) == 1:
            lines = [f"{chrom_col}\t{snp}\t{bp}\t{l2:.3f}" for snp, bp, l2 in
                     zip(part["rsid"].to_numpy(), part["base_pair_location"].to_numpy(), part["l2"].to_numpy(),
                         strict=True)]
        else:
            values = part[cols].to_numpy(dtype=float).tolist()
            lines = [f"{chrom_col}\t{snp}\t{bp}\t" + "\t".join(f"{v:.3f}" for v in row) for snp, bp, row in
                     zip(part["rsid"].to_numpy(), part["base_pair_location"].to_numpy(), values, strict=True)]
        _write_gz(target, [header, *lines])
        for suffix, counts in ((".l2.M", scores.m), (".l2.M_5_50", scores.m_5_50)):
            with atomic_path(Path(f"{stem}{suffix}")) as tmp:
                text = "\t".join(_m_text(v) for v in np.atleast_1d(np.asarray(counts[str(chrom)], dtype=float)))
                Path(tmp).write_text(f"{text}\n")
        written[str(chrom)] = target
    return written


def _m_text(value: float) -> str:
    """An ``.l2.M`` value: a whole number without decimals, else Python's shortest repr."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


# ----------------------------------------------------------------------------- annotations
def _annot_path(prefix: str | os.PathLike, chrom: str | None) -> Path | None:
    p = str(Path(prefix).expanduser()) + (os.sep if Path(prefix).is_dir() else "")
    stem = Path(p.rstrip(os.sep)) if chrom is None else _chrom_path(p, chrom, "")
    return _existing(Path(f"{stem}.annot"))


def read_annot(prefix: str | os.PathLike, chrom: str | None = None, *, thin: bool | None = False) -> pd.DataFrame:
    """Read an LDSC ``.annot`` file (``ldsc.py --annot``): one row per SNP of a genotype fileset.

    Parameters
    ----------
    prefix : path-like
        Per-chromosome prefix or folder as for :func:`read_ld_scores` (``annot/base.`` ->
        ``annot/base.1.annot.gz``; ``@`` marks the chromosome), or with ``chrom=None`` the prefix
        of one file (``base`` -> ``base.annot.gz``).
    chrom : str, optional
        The chromosome whose file to read.
    thin : bool or None, default=False
        A thin annotation file (``--thin-annot``): only the annotation columns, its rows the
        genotype file's SNPs in order. Otherwise the file starts ``CHR BP SNP CM``. None: thin
        when the header has no ``SNP`` column.

    Returns
    -------
    DataFrame
        ``rsid`` (absent when thin) and one float column per annotation, in file order
        (``chromosome``, ``base_pair_location`` and ``cm`` kept when present).

    Raises
    ------
    InputError
        No such file; a full file without ``SNP``; a non-numeric or missing annotation value
        (the message names the line and column).
    """
    path = _annot_path(prefix, chrom)
    if path is None:
        where = f"chromosome {chrom} " if chrom is not None else ""
        raise fail("read_annot/prefix", f"no {where}.annot file at {prefix} (tried .annot.gz, .annot.bz2, .annot)")
    frame = pd.read_csv(path, sep=r"\s+", dtype={"SNP": str, "CHR": str})
    meta = {"CHR": "chromosome", "BP": "base_pair_location", "SNP": "rsid", "CM": "cm"}
    if thin is None:
        thin = "SNP" not in frame.columns
    if not thin and "SNP" not in frame.columns:
        raise fail("read_annot/prefix", f"{path} has no SNP column (columns {list(frame.columns)[:6]}); a file of "
                                        "annotation columns only is a thin annotation (thin=True, --thin-annot)")
    names = [c for c in frame.columns if c not in meta] if not thin else list(frame.columns)
    if not names:
        raise fail("read_annot/prefix", f"{path} has no annotation column")
    out = frame[[c for c in meta if c in frame.columns and not thin]].rename(columns=meta)
    for c in names:
        values = pd.to_numeric(frame[c], errors="coerce")
        if values.isna().any():
            row = int(np.flatnonzero(values.isna().to_numpy())[0])
            raise fail("read_annot/prefix", f"{path} line {row + 2}, column {c!r}: {frame[c].iloc[row]!r} is not a "
                                            "number")
        out[str(c)] = values.astype(float)
    out.attrs["annotations"] = [str(c) for c in names]
    return out


def read_frq(prefix: str | os.PathLike, chrom: str) -> np.ndarray:
    """Allele frequencies of a PLINK ``.frq`` file (``--frqfile-chr``; ``FRQ`` or ``MAF`` column),
    one per row, for LDSC's ``--overlap-annot`` M_5_50 filter.

    Raises
    ------
    InputError
        No file for ``chrom`` at ``prefix``; no ``FRQ``/``MAF`` column; a non-numeric value.
    """
    path = _existing(_chrom_path(str(prefix), str(chrom), ".frq"))
    if path is None:
        raise fail("read_frq/prefix", f"no .frq file for chromosome {chrom} at {prefix}")
    frame = pd.read_csv(path, sep=r"\s+")
    col = "FRQ" if "FRQ" in frame.columns else "MAF" if "MAF" in frame.columns else None
    if col is None:
        raise fail("read_frq/prefix", f"{path}: no FRQ or MAF column (columns {list(frame.columns)[:6]})")
    values = pd.to_numeric(frame[col], errors="coerce")
    if values.isna().any():
        row = int(np.flatnonzero(values.isna().to_numpy())[0])
        raise fail("read_frq/prefix", f"{path} line {row + 2}: {frame[col].iloc[row]!r} is not a frequency")
    return values.to_numpy(dtype=float)


def write_annot(frame: pd.DataFrame, out: str | os.PathLike, *, thin: bool = False) -> Path:
    """Write an LDSC ``.annot.gz``: ``CHR BP SNP CM <annotations>`` (or only the annotations,
    ``thin``) from a frame with ``chromosome, base_pair_location, rsid`` (``cm`` optional) and the
    annotation columns (every other column). ``out`` is the file's prefix (``base.1`` ->
    ``base.1.annot.gz``)."""
    meta = ["chromosome", "base_pair_location", "rsid", "cm"]
    names = [c for c in frame.columns if c not in meta]
    if not names:
        raise fail("write_annot/frame", "no annotation column besides chromosome, base_pair_location, rsid, cm")
    missing = [c for c in meta[:3] if c not in frame.columns]
    if missing and not thin:
        raise fail("write_annot/frame", f"lacks column(s) {missing}")
    body = frame[names].copy()
    if not thin:
        head = pd.DataFrame({"CHR": frame["chromosome"].astype(str).to_numpy(),
                             "BP": frame["base_pair_location"].to_numpy(), "SNP": frame["rsid"].astype(str).to_numpy(),
                             "CM": frame["cm"].to_numpy() if "cm" in frame.columns else 0.0})
        body = pd.concat([head, body.reset_index(drop=True)], axis=1)
    path = Path(f"{out}.annot.gz")
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, gzip.open(tmp, "wt", compresslevel=4) as fh:
        body.to_csv(fh, sep="\t", index=False)
    return path


# ----------------------------------------------------------------------------- munged sumstats
MUNGED_COLUMNS = {"rsid": "SNP", "effect_allele": "A1", "other_allele": "A2", "z": "Z", "n": "N"}


def write_munged_sumstats(frame: pd.DataFrame, out: str | os.PathLike) -> Path:
    """Write munged summary statistics as LDSC's ``.sumstats.gz`` (``SNP A1 A2 Z N``, 3 decimals).

    ``frame`` has the columns ``rsid, effect_allele, other_allele, z, n`` (``run_munge``'s table).
    """
    missing = [c for c in MUNGED_COLUMNS if c not in frame.columns]
    if missing:
        raise fail("write_munged_sumstats/frame", f"lacks column(s) {missing}")
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = "\t".join(MUNGED_COLUMNS.values())
    ids = frame["rsid"].to_numpy(dtype=object)
    text = [_distinct_text(frame[c]) for c in ("effect_allele", "other_allele")]
    if pd.api.types.infer_dtype(ids, skipna=False) in ("string", "empty") and all(t is not None for t in text):
        text.insert(0, ids)  # the usual case: every id and allele is text
        columns = [*text, _fixed3(frame["z"].to_numpy(float)), _fixed3(frame["n"].to_numpy(float))]
        _write_gz_columns(path, header, columns)
        return path
    cols = [frame[c].to_numpy() for c in ("rsid", "effect_allele", "other_allele")]
    z, n = frame["z"].to_numpy(float).tolist(), frame["n"].to_numpy(float).tolist()
    lines = [f"{snp}\t{a1}\t{a2}\t{_f3(zi)}\t{_f3(ni)}" for snp, a1, a2, zi, ni in zip(*cols, z, n, strict=True)]
    _write_gz(path, [header, *lines])
    return path


def _f3(value: float) -> str:
    """Three decimals, as LDSC's ``float_format='%.3f'``; NA for a missing value."""
    return "NA" if value != value else f"{value:.3f}"


def _distinct_text(values: pd.Series) -> tuple[np.ndarray, np.ndarray] | None:
    """``(codes, distinct values)`` of a column of text, or None when some value is not text."""
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    uniques = np.asarray(uniques, dtype=object)
    if pd.api.types.infer_dtype(uniques, skipna=False) not in ("string", "empty"):
        return None
    return codes, uniques


def _fixed3(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(codes, distinct texts)`` of ``f"{v:.3f}"`` for every value (``NA`` for NaN), each distinct
    text formatted once.

    Python's ``%.3f`` rounds the exact binary value; ``rint(1000 v)`` is the same integer except
    within 1e-6 of a half (where the product's own rounding could decide) and for huge values:
    those, non-finite values and negative values that round to zero (``-0.000``) are formatted
    one by one.
    """
    scaled = values * 1000.0
    with np.errstate(invalid="ignore"):
        k = np.rint(scaled)
        odd = ~np.isfinite(scaled) | (np.abs(scaled) > 1e12) | \
            (np.abs(np.abs(scaled - np.floor(scaled)) - 0.5) < 1e-6) | ((k == 0) & np.signbit(values))
    k[odd] = 0.0
    codes, uniques = pd.factorize(k, use_na_sentinel=False)
    texts = [f"{v / 1000.0:.3f}" for v in uniques.tolist()]
    odd_rows = np.flatnonzero(odd)
    if len(odd_rows):
        codes = codes.copy()
        codes[odd_rows] = len(texts) + np.arange(len(odd_rows))
        texts += [_f3(v) for v in values[odd_rows].tolist()]
    return codes, np.array(texts, dtype=object)


def _write_gz_columns(path: Path, header: str, columns: list, rows_per_chunk: int = 1 << 20) -> None:
    """Write text columns tab-separated under ``header``, gzip-compressed and atomically: the rows
    are joined by pyarrow, not one Python string each. A column is an object array of str, or
    ``(codes, distinct texts)``; the last one is of the second kind."""
    import pyarrow as pa
    import pyarrow.compute as pc

    *first, (last_codes, last_text) = columns
    last = (last_codes, pa.array([f"{t}\n" for t in last_text.tolist()], type=pa.string()))
    cols = [c if isinstance(c, np.ndarray) else (c[0], pa.array(c[1], type=pa.string())) for c in first]
    cols.append(last)
    n_rows = len(last_codes)
    with atomic_path(path) as tmp, gzip.open(tmp, "wb", compresslevel=4) as fh:
        fh.write(f"{header}\n".encode())
        for lo in range(0, n_rows, rows_per_chunk):
            hi = lo + rows_per_chunk
            parts = [pa.array(c[lo:hi], type=pa.string()) if isinstance(c, np.ndarray) else c[1].take(c[0][lo:hi])
                     for c in cols]
            lines = pc.binary_join_element_wise(*parts, "\t")
            offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)[lines.offset:lines.offset + len(lines) + 1]
            fh.write(memoryview(lines.buffers()[2])[offsets[0]:offsets[-1]])


def _write_gz(path: Path, lines: list[str]) -> None:
    """Write text lines gzip-compressed, atomically (level 4: LDSC's files, a quarter of the time)."""
    with atomic_path(path) as tmp, gzip.open(tmp, "wt", compresslevel=4) as fh:
        fh.write("\n".join(lines) + "\n")


def read_munged_sumstats(path: str | os.PathLike) -> pd.DataFrame:
    """Read LDSC ``.sumstats(.gz)`` (``SNP Z N``, alleles optional) into canonical columns.

    Rows with a missing value are dropped (LDSC writes every ``--merge-alleles`` SNP, NA where
    absent); duplicated SNP ids keep the first.
    """
    p = Path(path)
    if not p.exists():
        raise fail("read_munged_sumstats/path", f"no such file {p}")
    frame = pd.read_csv(p, sep=r"\s+", na_values=[".", "NA"], dtype={"SNP": str, "A1": str, "A2": str})
    missing = [c for c in ("SNP", "Z", "N") if c not in frame.columns]
    if missing:
        raise fail("read_munged_sumstats/path", f"{p} lacks column(s) {missing}: not LDSC .sumstats "
                                                "(SNP A1 A2 Z N)")
    back = {v: k for k, v in MUNGED_COLUMNS.items()}
    frame = frame[[c for c in ("SNP", "A1", "A2", "Z", "N") if c in frame.columns]].rename(columns=back)
    for c in ("z", "n"):
        if not pd.api.types.is_numeric_dtype(frame[c]):
            raise fail("read_munged_sumstats/path", f"{p} column {MUNGED_COLUMNS[c]!r} is not numeric")
    return frame.dropna().drop_duplicates("rsid").reset_index(drop=True)


# ----------------------------------------------------------------------------- results
_H2_EST = {"h2": N, "h2_standard_error": N, "intercept": N, "intercept_standard_error": N}
#: The heritability stage's tables, by the ``table=`` name of the reader and writer.
HERITABILITY_TABLES: dict[str, TableSchema] = {
    "h2": TableSchema(
        table="ldsc_h2", title="LDSC h2 table", version=1,
        required={"trait": S, **_H2_EST, "mean_chisq": N, "lambda_gc": N, "ratio": N,
                  "ratio_standard_error": N, "nsnp": N, "m": N, "n_blocks": N},
        optional={"h2_liability": N, "h2_liability_standard_error": N, "sample_prevalence": N,
                  "population_prevalence": N, "two_step": N, "intercept_constrained": B, "n": N,
                  "h2_out_of_bounds": B, "ld_source": S, "chisq_max": N, "gwas_lambda_gc": N},
    ),
    "rg": TableSchema(
        table="ldsc_rg", title="LDSC rg table", version=1,
        required={"trait_1": S, "trait_2": S, "rg": N, "standard_error": N, "z": N, "p_value": N,
                  "gencov": N, "gencov_standard_error": N, "gencov_intercept": N,
                  "gencov_intercept_standard_error": N, "nsnp": N},
        optional={"h2_1": N, "h2_2": N, "h2_1_standard_error": N, "h2_2_standard_error": N,
                  "intercept_1": N, "intercept_2": N, "rg_out_of_bounds": B, "phenotypic_correlation": N},
    ),
    "partitioned": TableSchema(
        table="ldsc_partitioned_h2", title="LDSC partitioned h2 table", version=1,
        required={"trait": S, "Category": S, "Prop._SNPs": N, "Prop._h2": N, "Prop._h2_std_error": N,
                  "Enrichment": N, "Enrichment_std_error": N, "Enrichment_p": N, "Coefficient": N,
                  "Coefficient_std_error": N, "Coefficient_z-score": N},
        optional={"h2": N, "h2_standard_error": N, "intercept": N, "intercept_standard_error": N, "nsnp": N,
                  "m": N},
    ),
}


def _schema(table: str, where: str) -> TableSchema:
    if table not in HERITABILITY_TABLES:
        raise fail(f"{where}/table", f"{table!r} is not one of {sorted(HERITABILITY_TABLES)}")
    return HERITABILITY_TABLES[table]


def read_heritability_results(path: str | os.PathLike | pd.DataFrame, *, table: str = "h2") -> pd.DataFrame:
    """Read an h2 (``table="h2"``), rg (``table="rg"``) or partitioned-h2 (``table="partitioned"``:
    LDSC's ``--overlap-annot`` ``.results`` columns per trait) results table and check its columns."""
    schema = _schema(table, "read_heritability_results")
    frame, _ = read_checked(path, schema, where="read_heritability_results",
                            text_dtypes={"trait": str, "trait_1": str, "trait_2": str, "Category": str})
    return frame


def write_heritability_results(frame: pd.DataFrame, out: str | os.PathLike, *, table: str = "h2") -> Path:
    """Write an h2 or rg results table (TSV or Parquet), checking its columns."""
    return write_checked(frame, out, _schema(table, "write_heritability_results"),
                         where="write_heritability_results")


__all__ = ["HERITABILITY_TABLES", "LDScores", "read_annot", "read_frq", "read_heritability_results", "read_ld_scores",
           "read_munged_sumstats", "write_annot", "write_heritability_results", "write_ld_scores",
           "write_munged_sumstats"]

"""GWAS summary statistics: one reader for every common format, one GWAS-SSF writer.

Reading (:func:`read_sumstats`) is driven by a declarative table of formats,
:data:`SUMSTATS_FORMATS` (name -> :class:`SumstatsFormat`): each entry maps the format's header
names to the canonical columns of ``docs/conventions.md`` and states the format's habits (the
separator, the missing-value tokens, whether its P column is -log10 P, whether its effect is an
odds ratio, how it codes chromosome X, which rows are the additive test). Adding a format is
adding an entry; the reading code is shared. ``format="auto"`` picks the format whose
signature columns are all in the header (the most specific one when several match).

Writing (:func:`write_gwas_ssf`) produces the GWAS Catalog's GWAS-SSF v1.0: a tab-separated
table, optionally gzipped, whose first columns are, in this order,

==========================  =======  ==============================================
column                      dtype    meaning
==========================  =======  ==============================================
chromosome                  int      1-22, 23 (X), 24 (Y), 25 (MT)
base_pair_location          int64    1-based position on ``genome_assembly``
effect_allele               str      allele whose dosage was regressed on
other_allele                str      the other allele
beta                        float64  per-effect-allele effect (or ``odds_ratio`` /
                                     ``hazard_ratio``)
standard_error              float64  standard error of ``beta``
effect_allele_frequency     float64  frequency of ``effect_allele`` in the sample
p_value                     float64  two-sided P (or ``neg_log_10_p_value``)
==========================  =======  ==============================================

followed by optional columns (``neg_log_10_p_value, variant_id, rsid, info, ci_upper,
ci_lower, ref_allele, n, n_cases, n_controls``) and any extra ones. Missing values are written
``#NA``. As the GWAS Catalog's validator (``gwas-sumstats-tools``) requires, the sex chromosomes
and mitochondria are written as numbers (:data:`SSF_CHROMOSOME_CODES`; :func:`read_sumstats`
reads them back as ``X``/``Y``/``MT``), ``variant_id`` keeps only letters, digits and ``_``
(UK Biobank's ``1:1000_A_G`` is written ``1_1000_A_G``) and an ``rsid`` that is not
``rs<digits>`` is written missing. The sidecar ``<file>-meta.yaml`` describes the file (name,
md5sum, assembly, coordinate system) and the study (trait, samples with their size, ancestry
category and case/control counts, covariates, software); :func:`read_gwas_ssf_metadata`
reads it.

P values below 1e-300 are kept exact: ``neg_log_10_p_value`` carries them and ``p_value`` is
written in scientific notation from it (``3.2e-412``); every reader here parses such a P from
its text, so ``neg_log_10_p_value`` stays exact whichever format carried it.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import gzip
import hashlib
import io
import logging
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from bma_genetics._atomic import atomic_path, write_text
from bma_genetics._check import fail
from bma_genetics.io.builds import BUILD_COLUMN, build_of, normalise_build, resolve_build
from bma_genetics.stats import chromosome_rank

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------------
# The canonical frame
# --------------------------------------------------------------------------------------------

#: The columns :func:`read_sumstats` always returns, in this order (NaN where the file lacks one).
SUMSTATS_COLUMNS: tuple[str, ...] = (
    "variant_id", "rsid", "chromosome", "base_pair_location", "effect_allele", "other_allele",
    "effect_allele_frequency", "beta", "standard_error", "p_value", "neg_log_10_p_value",
    "n", "n_cases", "n_controls", "info", "genome_build",
)
#: Canonical names a format or a ``columns=`` map may also fill (kept after the columns above).
OPTIONAL_COLUMNS: tuple[str, ...] = ("z", "odds_ratio", "hazard_ratio", "ci_lower", "ci_upper", "ref_allele")
_STRING = ("variant_id", "rsid", "chromosome", "effect_allele", "other_allele", "ref_allele")
_NUMERIC = ("effect_allele_frequency", "beta", "standard_error", "n", "n_cases", "n_controls", "info",
            *OPTIONAL_COLUMNS[:-1])
#: Chromosome codes read as letters (PLINK's numeric codes, used by GWAS-SSF, REGENIE, BOLT-LMM,
#: SAIGE and FinnGen for the sex chromosomes and mitochondria).
NUMERIC_CHROMOSOMES: dict[str, str] = {"23": "X", "24": "Y", "25": "XY", "26": "MT", "M": "MT"}
#: GWAS-SSF's numbering (the GWAS Catalog's): 23 is X, 24 Y, 25 MT (PLINK's 25, the X
#: pseudo-autosomal region, has no code of its own: it is written 23, on X's coordinates).
SSF_CHROMOSOMES: dict[str, str] = {"23": "X", "24": "Y", "25": "MT", "M": "MT"}
#: Chromosome as the project writes it -> the GWAS-SSF code.
SSF_CHROMOSOME_CODES: dict[str, str] = {
    **{str(c): str(c) for c in range(1, 26)}, "X": "23", "XY": "23", "PAR1": "23", "PAR2": "23",
    "Y": "24", "MT": "25", "M": "25",
}


@dataclass(frozen=True)
class SumstatsFormat:
    """How one summary-statistics format writes the canonical columns.

    Attributes
    ----------
    name : str
        Registry key (``format=`` of :func:`read_sumstats`).
    description : str
        The tool and file it describes (shown in error messages and docs).
    columns : tuple of (str, str)
        ``(header in the file, canonical column)`` pairs; when several headers map to one
        canonical column the first present wins (e.g. BOLT-LMM's ``P_BOLT_LMM`` before
        ``P_BOLT_LMM_INF``). ``neg_log_10_p_value`` marks a -log10 P column (REGENIE's
        ``LOG10P``, FinnGen's ``mlogp``); ``odds_ratio`` an effect given as an odds ratio
        (``beta = log(OR)``).
    signature : frozenset of str
        Headers whose presence identifies the format for ``format="auto"``.
    required : tuple of str
        Headers the file must have (checked with the file and missing header named).
    sep : str
        The separator the tool writes: ``"\\t"``, ``","`` or ``"whitespace"`` (runs of spaces).
        The reader uses the one the header line actually has (tab, else comma, else
        whitespace), so a file re-saved with another separator still reads.
    na_values : tuple of str
        Tokens read as missing.
    test_column, test_value : str, optional
        Keep only rows where ``test_column == test_value`` (plink2/REGENIE ``TEST == ADD``).
    other_allele_from : tuple of (str, str), optional
        ``(REF, ALT)`` headers: the other allele is whichever of them is not the effect allele
        (plink2's ``A1`` may be REF or ALT).
    numeric_x : bool
        Chromosome 23 means X (and 24 Y, 25 XY, 26 MT; ``numeric_codes`` when given).
    numeric_codes : tuple of (str, str), optional
        The format's own numbering when it differs from PLINK's (GWAS-SSF: 25 is MT).
    uppercase_alleles : bool
        Alleles are upper-cased (METAL writes them lower-case).
    rsid_list_sep : str, optional
        The rsid column may list several ids (FinnGen ``rs1,rs2``): keep the first.
    """

    name: str
    description: str
    columns: tuple[tuple[str, str], ...]
    signature: frozenset[str]
    required: tuple[str, ...]
    sep: str = "\t"
    na_values: tuple[str, ...] = ("NA", "nan", "NaN", "")
    test_column: str | None = None
    test_value: str | None = None
    other_allele_from: tuple[str, str] | None = None
    numeric_x: bool = True
    numeric_codes: tuple[tuple[str, str], ...] | None = None
    uppercase_alleles: bool = True
    rsid_list_sep: str | None = None


def _fmt(name: str, description: str, columns: dict[str, str] | tuple[tuple[str, str], ...], *,
         signature: tuple[str, ...], required: tuple[str, ...] | None = None, **kw: Any) -> SumstatsFormat:
    pairs = tuple(columns.items()) if isinstance(columns, dict) else tuple(columns)
    return SumstatsFormat(name=name, description=description, columns=pairs, signature=frozenset(signature),
                          required=required if required is not None else tuple(signature), **kw)


#: The format book: name -> :class:`SumstatsFormat`. Column meanings from each tool's manual.
SUMSTATS_FORMATS: dict[str, SumstatsFormat] = {f.name: f for f in (
    _fmt("gwas_ssf", "GWAS Catalog GWAS-SSF v1.0 (.tsv[.gz] + -meta.yaml sidecar)",
         {c: c for c in (*SUMSTATS_COLUMNS, *OPTIONAL_COLUMNS)},
         signature=("chromosome", "base_pair_location", "effect_allele", "other_allele", "standard_error"),
         na_values=("#NA", "NA"), numeric_codes=tuple(SSF_CHROMOSOMES.items())),
    _fmt("plink2", "plink2 --glm (.glm.linear, .glm.logistic, .glm.logistic.hybrid, .glm.firth)",
         (("#CHROM", "chromosome"), ("POS", "base_pair_location"), ("ID", "variant_id"), ("A1", "effect_allele"),
          ("AX", "other_allele"), ("OMITTED", "other_allele"), ("A1_FREQ", "effect_allele_frequency"),
          ("BETA", "beta"), ("OR", "odds_ratio"), ("SE", "standard_error"), ("LOG(OR)_SE", "standard_error"),
          ("P", "p_value"), ("LOG10_P", "neg_log_10_p_value"), ("OBS_CT", "n"), ("MACH_R2", "info"),
          ("T_STAT", "z"), ("Z_STAT", "z"), ("L95", "ci_lower"), ("U95", "ci_upper")),
         signature=("#CHROM", "POS", "REF", "ALT", "A1"), required=("#CHROM", "POS", "REF", "ALT", "A1"),
         na_values=("NA", "."), test_column="TEST", test_value="ADD", other_allele_from=("REF", "ALT")),
    _fmt("regenie", "REGENIE step 2 (.regenie[.gz]; space-separated, LOG10P)",
         {"CHROM": "chromosome", "GENPOS": "base_pair_location", "ID": "variant_id", "ALLELE1": "effect_allele",
          "ALLELE0": "other_allele", "A1FREQ": "effect_allele_frequency", "INFO": "info", "N": "n",
          "N_CASES": "n_cases", "N_CONTROLS": "n_controls", "BETA": "beta", "SE": "standard_error",
          "LOG10P": "neg_log_10_p_value"},
         signature=("CHROM", "GENPOS", "ALLELE0", "ALLELE1", "LOG10P"), sep="whitespace",
         test_column="TEST", test_value="ADD"),
    _fmt("bolt_lmm", "BOLT-LMM (--statsFile / --statsFileBgenSnps; ALLELE1 is the effect allele)",
         (("SNP", "variant_id"), ("CHR", "chromosome"), ("BP", "base_pair_location"), ("ALLELE1", "effect_allele"),
          ("ALLELE0", "other_allele"), ("A1FREQ", "effect_allele_frequency"), ("INFO", "info"), ("BETA", "beta"),
          ("SE", "standard_error"), ("P_BOLT_LMM", "p_value"), ("P_BOLT_LMM_INF", "p_value"),
          ("P_LINREG", "p_value")),
         signature=("SNP", "CHR", "BP", "ALLELE1", "ALLELE0", "A1FREQ"),
         required=("SNP", "CHR", "BP", "ALLELE1", "ALLELE0", "BETA", "SE"), sep="whitespace"),
    _fmt("saige", "SAIGE step 2 (Allele2 is the effect allele)",
         {"CHR": "chromosome", "POS": "base_pair_location", "MarkerID": "variant_id", "SNPID": "variant_id",
          "Allele2": "effect_allele", "Allele1": "other_allele", "AF_Allele2": "effect_allele_frequency",
          "imputationInfo": "info", "N": "n", "N_case": "n_cases", "N_ctrl": "n_controls", "BETA": "beta",
          "SE": "standard_error", "p.value": "p_value", "Tstat": "z"},
         signature=("CHR", "POS", "Allele1", "Allele2", "p.value"), sep="whitespace"),
    _fmt("metal", "METAL meta-analysis table (.TBL; Allele1 is the effect allele, lower-case; no positions)",
         {"MarkerName": "variant_id", "Allele1": "effect_allele", "Allele2": "other_allele",
          "Freq1": "effect_allele_frequency", "Effect": "beta", "StdErr": "standard_error", "P-value": "p_value",
          "Zscore": "z", "Weight": "n", "log(P)": "neg_log_10_p_value"},
         signature=("MarkerName", "Allele1", "Allele2", "P-value"), required=("MarkerName", "Allele1", "Allele2")),
    _fmt("finngen", "FinnGen release (#chrom pos ref alt rsids nearest_genes pval mlogp beta sebeta af_alt ...)",
         {"#chrom": "chromosome", "pos": "base_pair_location", "alt": "effect_allele", "ref": "other_allele",
          "rsids": "rsid", "af_alt": "effect_allele_frequency", "beta": "beta", "sebeta": "standard_error",
          "pval": "p_value", "mlogp": "neg_log_10_p_value", "n_cases": "n_cases", "n_controls": "n_controls"},
         signature=("#chrom", "pos", "ref", "alt", "sebeta"), rsid_list_sep=","),
    _fmt("table", "any delimited table with columns={canonical name: column in the file}", {},
         signature=(), required=()),
)}
#: ``format=`` values :func:`read_sumstats` accepts.
FORMAT_NAMES: tuple[str, ...] = ("auto", *SUMSTATS_FORMATS)


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------

_BOM = b"\xef\xbb\xbf"


def _is_gzip(path: Path) -> bool:
    """gzip (bgzip too) from the file's first bytes, never from its name (UK Biobank's ``*.tsv.bgz``)."""
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def _open_text(path: Path):
    # utf-8-sig: a UTF-8 byte-order mark (Excel's "UTF-8 CSV", some Windows tools) is no part of
    # the first column's name
    if _is_gzip(path):
        return gzip.open(path, "rt", encoding="utf-8-sig", errors="replace")
    return open(path, encoding="utf-8-sig", errors="replace")  # noqa: SIM115 - returned to a with


@dataclass(frozen=True)
class _Layout:
    """Where a summary-statistics file's table starts: its header, separator, whether it opens with
    a UTF-8 byte-order mark and how many ``##`` meta-lines (VCF / GWAS-VCF style) precede the header."""

    header: list[str]
    sep: str
    bom: bool
    n_meta: int


def _header(path: Path, where: str) -> _Layout:
    """The header's column names and the separator it uses (``\\t``, ``,`` or whitespace), after a
    byte-order mark and any ``##`` meta-lines."""
    n_meta = 0
    try:
        with gzip.open(path, "rb") if _is_gzip(path) else open(path, "rb") as fh:
            head = fh.read(len(_BOM))
        with _open_text(path) as fh:
            line = fh.readline()
            while line.startswith("##"):  # VCF-like meta lines
                n_meta += 1
                line = fh.readline()
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise fail(where, f"{path} is not a readable text table: {exc}") from None
    line = line.rstrip("\r\n")
    if not line:
        what = f" after {n_meta} '##' meta-line(s)" if n_meta else ""
        raise fail(where, f"{path} is empty (no header line{what})")
    if "\t" in line:
        header, sep = line.split("\t"), "\t"
    elif "," in line and " " not in line:
        header, sep = line.split(","), ","
    else:
        header, sep = line.split(), "whitespace"
    return _Layout(header, sep, head == _BOM, n_meta)


@contextlib.contextmanager
def _table_bytes(path: Path, layout: _Layout):
    """The file's bytes from its header line on (gzip decompressed, every bgzip member read): the
    byte-order mark and the ``##`` meta-lines skipped here, so both parsers see a plain table (a quote
    in a meta-line cannot start a quoted field there)."""
    fh = gzip.open(path, "rb") if _is_gzip(path) else open(path, "rb")  # noqa: SIM115 - closed below
    try:
        if layout.bom:
            fh.read(len(_BOM))
        for _ in range(layout.n_meta):
            fh.readline()
        yield fh
    finally:
        fh.close()


def detect_format(header: list[str] | tuple[str, ...]) -> str | None:
    """The :data:`SUMSTATS_FORMATS` entry whose signature columns are all in ``header`` (the one
    with the largest signature when several match), or ``None``."""
    cols = set(header)
    hits = [f for f in SUMSTATS_FORMATS.values() if f.signature and f.signature <= cols]
    if not hits:
        return None
    return max(hits, key=lambda f: len(f.signature)).name


_P_TEXT = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*[eE]\s*([-+]?[0-9]+)\s*$")


def _neg_log10_from_text(text: pd.Series, p: np.ndarray | None = None) -> np.ndarray:
    """-log10 P computed from P's text, exact where float64 underflows (``3.2e-412``) or is
    subnormal (``7e-324``, which parses to ``4.9e-324``); ``p``: the text already parsed (else parsed
    here)."""
    if p is None:
        p = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = -np.log10(p)
    for i in np.flatnonzero((p >= 0) & (p < np.finfo(float).tiny)):  # 0 or subnormal: digits lost
        m = _P_TEXT.match(str(text.iloc[i]))
        if m and float(m.group(1)) > 0:
            out[i] = -(math.log10(float(m.group(1))) + int(m.group(2)))
    return out


def _sample_sizes(meta: Mapping[str, Any]) -> dict[str, float]:
    """``n``, ``n_cases``, ``n_controls`` from GWAS-SSF metadata (``samples`` summed, or top level)."""
    samples = meta.get("samples") or []
    samples = [s for s in (samples if isinstance(samples, list) else [samples]) if isinstance(s, dict)]
    out: dict[str, float] = {}
    for key, col in (("sample_size", "n"), ("case_count", "n_cases"), ("control_count", "n_controls")):
        vals = [float(s[key]) for s in samples if s.get(key) is not None]
        value = sum(vals) if vals else meta.get(key)
        if value is not None:
            out[col] = float(value)
    return out


def read_sumstats(
    path: str | os.PathLike,
    *,
    format: str = "auto",
    columns: Mapping[str, str] | None = None,
    n: float | None = None,
    n_cases: float | None = None,
    n_controls: float | None = None,
    keep_extra: bool = True,
    build: str | None = None,
    known_variants: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Read GWAS summary statistics of any known format into the canonical columns.

    Parameters
    ----------
    path : path
        The file, plain or gzip (detected from its first bytes, whatever its name).
    format : str, default="auto"
        A :data:`SUMSTATS_FORMATS` key: ``"gwas_ssf"`` (GWAS Catalog; sample sizes from its
        ``-meta.yaml`` sidecar when the table lacks them), ``"plink2"`` (``.glm.linear``,
        ``.glm.logistic[.hybrid]``; ``TEST == ADD`` rows; effect allele ``A1``, other allele
        ``AX``/``OMITTED`` or the one of REF/ALT that is not A1; ``OR`` -> ``beta = log(OR)``),
        ``"regenie"`` (``.regenie``; ``ALLELE1`` effect allele, ``LOG10P`` kept exact in
        ``neg_log_10_p_value``), ``"bolt_lmm"`` (``P_BOLT_LMM``, else ``P_BOLT_LMM_INF``),
        ``"saige"`` (``Allele2`` effect allele), ``"metal"`` (``Allele1`` effect allele),
        ``"finngen"`` (effect allele ``alt``, ``mlogp`` exact) or ``"table"`` (any delimited
        table, with ``columns``). ``"auto"`` detects the format from the header; when no
        format matches and ``columns`` is given the file is read as ``"table"``.
    columns : mapping of str to str, optional
        Canonical name -> column in the file, overriding the format's own mapping for that
        name (``{"beta": "BETA", "standard_error": "SE", "effect_allele": "EA",
        "other_allele": "NEA", "rsid": "SNP"}``). Default: the format's mapping only.
    n, n_cases, n_controls : float, optional
        Sample sizes for files that do not carry them (default ``None``: from the file or its
        metadata, else NaN).
    keep_extra : bool, default=True
        Keep the file's unmapped columns (under their own names) after the canonical ones.
    build : {"GRCh37", "GRCh38"}, optional
        The genome build of the file's positions (``hg19``/``hg38`` accepted). Default
        ``None``: GWAS-SSF metadata's ``genome_assembly``, else inferred from
        ``known_variants``, else unknown. A build that contradicts the metadata is an error.
    known_variants : DataFrame, optional
        Variants with known GRCh37 and GRCh38 positions
        (:data:`bma_genetics.io.builds.KNOWN_VARIANT_COLUMNS`; e.g.
        :func:`bma_genetics.resources.load_build_reference`, or a simulated cohort's
        ``truth/variant_builds.tsv.gz``): the build is inferred from how many of the file's
        variants sit at each build's positions (:func:`bma_genetics.io.builds.infer_build`;
        the counts are logged), and a stated build these positions contradict is an error.

    Returns
    -------
    DataFrame
        One row per variant (per additive test), columns :data:`SUMSTATS_COLUMNS` in that order:
        ``variant_id`` (the file's id; ``chromosome:position:other_allele:effect_allele`` when
        the file has none), ``rsid`` (the file's rsid, else ``variant_id`` where it starts with
        ``rs``), ``chromosome`` (str, no ``chr``, 23 -> ``X``), ``base_pair_location`` (int64;
        Int64 when some are missing, as in METAL), ``effect_allele``/``other_allele``
        (upper-case str), ``effect_allele_frequency, beta, standard_error, p_value,
        neg_log_10_p_value, n, n_cases, n_controls, info`` (float; NaN where absent),
        ``genome_build`` (``GRCh37``/``GRCh38`` on every row, NaN when unknown: see
        ``build``; every join of two studies checks it). Then any
        of :data:`OPTIONAL_COLUMNS` the format gave (``z``, ``odds_ratio``...) and, with
        ``keep_extra``, the file's other columns. ``p_value`` and ``neg_log_10_p_value`` are
        both filled from whichever the file has; a -log10 P (or a P printed below float64's
        range) stays exact in ``neg_log_10_p_value``, ``p_value`` is then 0.0.

    Raises
    ------
    InputError
        No such file; ``format`` unknown; ``format="auto"`` and the header matches no format
        (the message lists the columns seen); a required column missing (file and column named).

    Examples
    --------
    >>> ss = read_sumstats("gwas/bmff_spine.tsv.gz")                       # doctest: +SKIP
    >>> ss = read_sumstats("step2_bmff.regenie.gz")                        # doctest: +SKIP
    >>> ss = read_sumstats("fg.tsv", columns={"beta": "BETA", "standard_error": "SE",
    ...                    "effect_allele": "EA", "rsid": "SNP"})          # doctest: +SKIP
    """
    where = "read_sumstats/path"
    if not isinstance(path, (str, os.PathLike)):
        raise fail(where, f"expected a file path, found {type(path).__name__}")
    path = Path(path)
    if not path.exists():
        raise fail(where, f"no such file {path}")
    if format not in FORMAT_NAMES:
        raise fail("read_sumstats/format", f"unknown format {format!r}; known: {list(FORMAT_NAMES)}")
    build = normalise_build(build, "read_sumstats/build")
    if known_variants is not None and not isinstance(known_variants, pd.DataFrame):
        raise fail("read_sumstats/known_variants", f"expected a DataFrame, found {type(known_variants).__name__}")
    if columns is not None:
        if not isinstance(columns, Mapping):
            raise fail("read_sumstats/columns", f"expected a mapping canonical name -> file column, found "
                                                f"{type(columns).__name__}")
        unknown = [k for k in columns if k not in (*SUMSTATS_COLUMNS, *OPTIONAL_COLUMNS) or k == BUILD_COLUMN]
        if unknown:
            raise fail("read_sumstats/columns", f"unknown canonical name(s) {unknown}; use "
                                                f"{[*SUMSTATS_COLUMNS, *OPTIONAL_COLUMNS]}")
    layout = _header(path, where)
    header, sep = layout.header, layout.sep
    if format == "auto":
        name = detect_format(header)
        if name is None:
            if not columns:
                known = "; ".join(f"{f.name}: {sorted(f.signature)}" for f in SUMSTATS_FORMATS.values() if f.signature)
                raise fail("read_sumstats/format", f"{path} is not in a known format (columns {header[:30]}); "
                           f"known formats need ({known}); pass format=... or columns={{canonical: file column}}, "
                           "e.g. {'beta': 'BETA', 'standard_error': 'SE', 'effect_allele': 'EA', "
                           "'other_allele': 'NEA', 'rsid': 'SNP'}")
            name = "table"
    else:
        name = format
    spec = SUMSTATS_FORMATS[name]
    if name == "table" and not columns:
        raise fail("read_sumstats/columns", f"{path}: format 'table' needs columns={{canonical: file column}}; "
                   f"the file has {header[:30]}")
    missing = [c for c in spec.required if c not in header]
    if missing:
        raise fail(f"read_sumstats/{name}", f"{path} lacks {spec.description} column(s) {missing}; "
                   f"it has {header[:30]}")
    # which file column fills each canonical column (first present wins; columns= overrides)
    chosen: dict[str, str] = {}
    for src, dst in spec.columns:
        if src in header and dst not in chosen:
            chosen[dst] = src
    absent = [src for src in (columns or {}).values() if src not in header]
    if absent:
        raise fail("read_sumstats/columns", f"{path} lacks mapped column(s) {absent}; it has {header[:30]}")
    chosen.update({dst: src for dst, src in (columns or {}).items()})
    # P is parsed by the C parser (the same numbers pd.to_numeric gives its text); its text is
    # read only when a P parses to 0 or a subnormal, where an exact -log10 P comes from the text
    # (3.2e-412, 7e-324)
    text_cols = {*[chosen[c] for c in _STRING if c in chosen]}
    # chromosome and allele columns repeat a few values: read as categories (text, no object per
    # cell); _canonical normalises their distinct values. Not where the raw columns are compared
    # with each other (plink2's REF/ALT) or shared with an id column.
    ids = {chosen[c] for c in _STRING if c in chosen and c not in ("chromosome", "effect_allele", "other_allele")}
    cat_cols = set() if spec.other_allele_from else {
        chosen[c] for c in ("chromosome", "effect_allele", "other_allele") if c in chosen} - ids - {spec.test_column}
    if spec.other_allele_from:
        text_cols.update(spec.other_allele_from)
    if spec.test_column:
        text_cols.add(spec.test_column)
    na = list(spec.na_values)
    # the file is streamed from its header line (gzip, bgzip too, from its first bytes: never from its
    # name, UK Biobank's *.tsv.bgz; a byte-order mark and ## meta-lines skipped)
    raw = _read_arrow(path, layout, text_cols, cat_cols, na)
    if raw is None:  # whitespace-separated, odd, or a bad value: the C parser reads (and reports) it
        try:
            with _table_bytes(path, layout) as fh:
                raw = pd.read_csv(fh, sep=r"\s+" if sep == "whitespace" else sep,
                                  dtype={c: "category" if c in cat_cols else str for c in text_cols},
                                  na_values=na, keep_default_na=False, low_memory=False, comment=None)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError, EOFError) as exc:
            # the C parser counts lines from the header: the file's line numbers count the meta-lines
            msg = re.sub(r"\bline (\d+)", lambda mo: f"line {int(mo.group(1)) + layout.n_meta}", str(exc))
            raise fail(where, f"{path} is not a readable {spec.description} table: {msg}") from None
    p_src = chosen.get("p_value")
    if p_src is not None and p_src in raw.columns and raw[p_src].dtype.kind in "fi" and (
            (raw[p_src] >= 0) & (raw[p_src] < np.finfo(float).tiny)).any():
        with _table_bytes(path, layout) as fh:
            raw[p_src] = pd.read_csv(fh, sep=r"\s+" if sep == "whitespace" else sep, usecols=[p_src],
                                     dtype={p_src: str}, na_values=na, keep_default_na=False, low_memory=False,
                                     comment=None)[p_src].to_numpy()
    if spec.test_column and spec.test_column in raw.columns:
        raw = raw[raw[spec.test_column].astype(str) == spec.test_value]
    lines = raw.index.to_numpy() + 2 + layout.n_meta  # line in the file (the header is line 1 + meta-lines)
    raw = raw.reset_index(drop=True)
    df = pd.DataFrame(index=raw.index)
    for dst, src in chosen.items():
        df[dst] = raw[src]
    if spec.other_allele_from and "other_allele" not in df:
        ref, alt = spec.other_allele_from
        df["other_allele"] = np.where(raw[chosen["effect_allele"]] == raw[alt],
                                      raw[ref], raw[alt])
    out = _canonical(df, spec, str(path), f"read_sumstats/{name}", names=chosen, lines=lines)
    meta = read_gwas_ssf_metadata(path) if name == "gwas_ssf" else {}  # the sidecar, read once
    if name == "gwas_ssf":
        for col, value in _sample_sizes(meta).items():
            if out[col].isna().all():
                out[col] = value
    for col, value in (("n", n), ("n_cases", n_cases), ("n_controls", n_controls)):
        if value is not None:
            out[col] = float(value)
    if out["n"].isna().all() and out["n_cases"].notna().any():
        out["n"] = out["n_cases"] + out["n_controls"]
    if keep_extra:
        used = set(chosen.values()) | {spec.test_column}
        extra = [c for c in raw.columns if c not in used and c not in out.columns]
        if extra:  # a concat copies every column: only when there is something to add
            out = pd.concat([out, raw[extra]], axis=1)
    out = _validated(out, str(path), f"read_sumstats/{name}", chosen, lines)
    stated = meta.get("genome_assembly")
    genome_build, how = resolve_build(given=build, stated=stated, known=known_variants, frame=out,
                                      source=str(path), where="read_sumstats/build")
    out[BUILD_COLUMN] = genome_build if genome_build is not None else np.nan
    log.info("read_sumstats: %s (%s): %d variants; genome build %s (%s)", path, name, len(out),
             genome_build or "unknown", how)
    return out


def _read_arrow(path: Path, layout: _Layout, text_cols: set[str], cat_cols: set[str],
                na: list[str]) -> pd.DataFrame | None:
    """The table read by pyarrow's CSV reader, as ``pd.read_csv`` would return it (text columns as
    text, NaN for the format's missing tokens, numbers as int64/float64, ``cat_cols`` categorical),
    at a fraction of the C parser's time (a byte-order mark and ``##`` meta-lines skipped before
    either parser sees the table; a column of nothing but missing tokens, plink2's ``ERRCODE``, is
    float NaN as from the C parser); None when the file is whitespace-separated, has repeated or
    blank column names, or any cell pyarrow would not convert to the type the C parser gives it
    (``nan`` where it is no missing token, true/false, dates) or it has no rows: the C parser then
    reads the file, so every value it accepts and every message it gives stays as it was. A word in a number column comes back as text, as from
    the C parser, and :func:`_strict_numeric` names its line. Numbers are parsed exactly
    (correctly rounded); the C parser's default differs from that in the last bit for about 1 in
    20,000 values."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    sep, header = layout.sep, layout.header
    if sep == "whitespace" or len(set(header)) != len(header) or any(not h or h != h.strip() for h in header):
        return None
    types = {c: pa.string() for c in text_cols if c not in cat_cols}
    types.update({c: pa.dictionary(pa.int32(), pa.string()) for c in cat_cols})
    try:
        # streamed from the file (gzip: Python's reader, which reads every member bgzip writes)
        with _table_bytes(path, layout) as fh:
            table = pacsv.read_csv(fh, read_options=pacsv.ReadOptions(block_size=1 << 24),
                                   parse_options=pacsv.ParseOptions(delimiter=sep),
                                   convert_options=pacsv.ConvertOptions(column_types=types, null_values=na,
                                                                        strings_can_be_null=True,
                                                                        quoted_strings_can_be_null=True))
    except (pa.ArrowException, OSError, EOFError, UnicodeDecodeError):  # the C parser says what is wrong
        return None
    if table.column_names != header or table.num_rows == 0:  # no rows: pandas' object columns
        return None
    columns = {}
    for name, col in zip(table.column_names, table.columns, strict=True):
        t = col.type
        if name in cat_cols:
            columns[name] = col.to_pandas()
        elif name in text_cols or pa.types.is_string(t):
            values = col.to_numpy(zero_copy_only=False)
            if col.null_count:
                values = np.where(pd.isna(values), np.nan, values).astype(object)
            columns[name] = values
        elif pa.types.is_integer(t):
            columns[name] = (col.to_numpy().astype(np.int64) if not col.null_count
                             else col.to_numpy(zero_copy_only=False).astype(np.float64))
        elif pa.types.is_floating(t):
            values = col.to_numpy(zero_copy_only=False).astype(np.float64)
            if np.isnan(values).sum() != col.null_count:  # 'nan' text that is no missing token here: the
                return None                                # C parser calls it not a number
            columns[name] = values
        elif pa.types.is_null(t):  # nothing but missing tokens (plink2's ERRCODE '.'): the C parser's
            columns[name] = np.full(len(col), np.nan)  # float64 NaN (text columns are typed above)
        else:  # bool, timestamp: pandas' own inference decides
            return None
    return pd.DataFrame(columns)


def _per_value(s: pd.Series, func) -> pd.Series:
    """``func`` (a Series -> Series string transform) applied once per distinct value of ``s``.

    Summary statistics repeat few values in their chromosome and allele columns: the transform
    runs on the distinct values (``pd.factorize``) and is spread back by their codes, so the result
    is the per-cell one (object dtype, NaN where ``s`` is missing) at a fraction of the cost.
    """
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    done = func(pd.Series(np.asarray(uniques, dtype=object), dtype=object))
    values = np.append(done.astype(object).where(done.notna(), np.nan).to_numpy(dtype=object), np.nan)
    return pd.Series(values[codes], index=s.index, dtype=object)


def _as_text(s: pd.Series) -> pd.Series:
    """``s`` as text (object, NaN where missing), as ``astype("string")`` gives it, without the copy
    when the column already holds only text (``read_csv``'s ``dtype=str``)."""
    if s.dtype == object and pd.api.types.infer_dtype(s, skipna=True) in ("string", "empty"):
        return s.where(s.notna(), np.nan) if s.isna().any() else s
    t = s.astype("string")
    return t.astype(object).where(t.notna(), np.nan)


def _strict_numeric(df: pd.DataFrame, c: str, source: str, where: str, names: Mapping[str, str] | None,
                    lines: np.ndarray | None) -> pd.Series:
    """``df[c]`` as numbers; a cell that is neither a number nor a missing token is an error."""
    s = df[c]
    num = pd.to_numeric(s, errors="coerce")
    bad = np.flatnonzero(num.isna().to_numpy() & s.notna().to_numpy())
    if len(bad):
        i = int(bad[0])
        line = int(lines[i]) if lines is not None else i + 2
        column = (names or {}).get(c, c)
        raise fail(where, f"{source}: column {column!r} line {line}: {str(s.iloc[i])!r} is not a number "
                   f"({len(bad)} such cell(s); missing values are written as the format's missing tokens)")
    return num


def _canonical(df: pd.DataFrame, spec: SumstatsFormat, source: str, where: str,
               names: Mapping[str, str] | None = None, lines: np.ndarray | None = None) -> pd.DataFrame:
    """Types, effect scale, P columns, ids and column order of the canonical frame."""
    n_rows = len(df)

    def numeric(c: str) -> pd.Series:
        return _strict_numeric(df, c, source, where, names, lines)

    needs = {"effect_allele": ("effect_allele",), "beta": ("beta", "odds_ratio", "hazard_ratio", "z"),
             "standard_error": ("standard_error", "z")}
    for c, options in needs.items():
        if not any(o in df for o in options):
            raise fail(where, f"{source}: no column for {c!r} (give columns={{{c!r}: <file column>}})")
    out = pd.DataFrame(index=df.index)
    if "chromosome" in df:
        codes = dict(spec.numeric_codes) if spec.numeric_codes else NUMERIC_CHROMOSOMES

        def chromosome(u: pd.Series) -> pd.Series:
            c = u.astype("string").str.strip().str.removeprefix("chr").str.removeprefix("CHR")
            return c.replace(codes) if spec.numeric_x else c

        out["chromosome"] = _per_value(df["chromosome"], chromosome)
    else:
        out["chromosome"] = np.nan
    if "base_pair_location" in df:
        pos = numeric("base_pair_location")
        out["base_pair_location"] = pos.astype(np.int64) if pos.notna().all() else pos.astype("Int64")
    else:
        out["base_pair_location"] = pd.array([pd.NA] * n_rows, dtype="Int64")
    for c in ("effect_allele", "other_allele"):
        if c in df:
            out[c] = _per_value(df[c], lambda u: u.astype("string").str.upper() if spec.uppercase_alleles
                                else u.astype("string"))
        else:
            out[c] = np.nan
    for c in _NUMERIC:
        if c in df:
            out[c] = numeric(c)
    if "beta" not in out:
        if "odds_ratio" in out:
            with np.errstate(divide="ignore", invalid="ignore"):
                out["beta"] = np.log(out["odds_ratio"].to_numpy(dtype=float))
        elif "hazard_ratio" in out:
            with np.errstate(divide="ignore", invalid="ignore"):
                out["beta"] = np.log(out["hazard_ratio"].to_numpy(dtype=float))
        else:
            out["beta"] = np.nan
    if "standard_error" not in out:
        out["standard_error"] = out["beta"] / out["z"] if "z" in out else np.nan
    # P: keep the exact -log10 P (text of tiny P, or the format's own -log10 column)
    if "neg_log_10_p_value" in df:
        m = numeric("neg_log_10_p_value").to_numpy(dtype=float)
        out["neg_log_10_p_value"] = m
        if "p_value" in df:
            p = numeric("p_value").to_numpy(dtype=float)
            out["p_value"] = np.where(np.isfinite(p), p, np.power(10.0, -m))
        else:
            out["p_value"] = np.power(10.0, -m)
    elif "p_value" in df:
        p = numeric("p_value").to_numpy(dtype=float)
        out["p_value"] = p
        out["neg_log_10_p_value"] = _neg_log10_from_text(df["p_value"], p)
    else:
        from scipy import stats

        z = out["z"].to_numpy(dtype=float) if "z" in out else (out["beta"] / out["standard_error"]).to_numpy(dtype=float)
        logp = stats.norm.logsf(np.abs(z)) + math.log(2)
        out["p_value"] = np.exp(logp)
        out["neg_log_10_p_value"] = -logp / math.log(10)
    # identifiers
    if "variant_id" in df:
        out["variant_id"] = _as_text(df["variant_id"])
    else:
        # chromosome:position:other_allele:effect_allele, one f-string per row (str() of each cell,
        # as astype(str) writes them: nan, <NA>), half the time of four Series concatenations (and,
        # measured, as fast as joining them in pyarrow once the columns are converted there)
        parts = [out[c].tolist() for c in ("chromosome", "base_pair_location", "other_allele", "effect_allele")]
        out["variant_id"] = pd.Series([f"{c}:{p}:{o}:{e}" for c, p, o, e in zip(*parts, strict=True)],
                                      index=out.index, dtype=object)
        # a row without chromosome or position has no such id ("nan:<NA>:G:A" would make every
        # pair of rsid-only rows with the same alleles look like one variant twice): its rsid
        # stands in, else it has no id
        unplaced = (out["chromosome"].isna() | out["base_pair_location"].isna()).to_numpy()
        if unplaced.any():
            fallback = _as_text(df["rsid"]) if "rsid" in df and not spec.rsid_list_sep else np.nan
            out["variant_id"] = out["variant_id"].where(~unplaced, fallback)
    if "rsid" in df:
        if spec.rsid_list_sep:
            rs = df["rsid"].astype("string").str.split(spec.rsid_list_sep).str[0]
            out["rsid"] = rs.astype(object).where(rs.notna(), np.nan)
        else:
            out["rsid"] = _as_text(df["rsid"])
    else:
        vid = out["variant_id"].astype(str)
        out["rsid"] = out["variant_id"].where(vid.str.startswith("rs"), np.nan)
    if "ref_allele" in df:
        out["ref_allele"] = df["ref_allele"]
    for c in SUMSTATS_COLUMNS:
        if c not in out:
            out[c] = np.nan
    optional = [c for c in OPTIONAL_COLUMNS if c in out]
    return out[[*SUMSTATS_COLUMNS, *optional]]


#: What an allele in summary statistics looks like (plink2's D/I and 0, VCF's * and <DEL>).
_ALLELE = r"[ACGTNacgtn]+|[DI0*.-]|<[^>]+>"


def _validated(out: pd.DataFrame, source: str, where: str, names: Mapping[str, str],
               lines: np.ndarray) -> pd.DataFrame:
    """Value ranges (P in [0, 1], SE > 0) and duplicated variants of a canonical frame.

    P = 0 is accepted only where an exact -log10 P is known (a -log10 P column, or a P printed
    below float64's range). Rows repeated identically are collapsed (counted in the log); one
    variant (id, chromosome, position, alleles) given twice with different values is an error.
    """
    def first(mask: np.ndarray, column: str, what: str, values: pd.Series, show=str) -> None:
        idx = np.flatnonzero(mask)
        if len(idx):
            i = int(idx[0])
            col = names.get(column, column)
            raise fail(where, f"{source}: column {col!r} line {int(lines[i])}: {show(values.iloc[i])} {what} "
                       f"({len(idx)} such row(s))")

    if len(out) == 0:
        raise fail(where, f"{source} has a header but no variants")
    p = out["p_value"].to_numpy(dtype=float)
    m = out["neg_log_10_p_value"].to_numpy(dtype=float)
    p_col = "p_value" if "p_value" in names else "neg_log_10_p_value"
    shown = out["p_value"] if p_col == "p_value" else out["neg_log_10_p_value"]
    with np.errstate(invalid="ignore"):
        first((p > 1) | (p < 0) | (m < 0), p_col, "is not a P-value in [0, 1]", shown)
        first((p == 0) & ~np.isfinite(m), p_col, "is a P-value of 0 (give -log10 P for P below float64's range)",
              shown)
        se = out["standard_error"].to_numpy(dtype=float)
        first(se <= 0, "standard_error", "is not a standard error > 0", out["standard_error"])
        if "effect_allele_frequency" in out:
            f = out["effect_allele_frequency"].to_numpy(dtype=float)
            first((f < 0) | (f > 1), "effect_allele_frequency", "is not an allele frequency in [0, 1]",
                  out["effect_allele_frequency"])
    for column in ("effect_allele", "other_allele"):
        if column in out:
            a = out[column]
            # one regular-expression match per distinct allele, spread back to the rows
            ok = _per_value(a, lambda u: u.astype(str).str.fullmatch(_ALLELE))
            bad = (a.notna() & ~ok.eq(True)).to_numpy()
            first(bad, column, "is not an allele (A, C, G, T or N letters, D/I, 0, '*', or <symbolic>)",
                  a, show=repr)
    key = ["variant_id", "chromosome", "base_pair_location", "effect_allele", "other_allele"]
    has_id = out["variant_id"].notna().to_numpy()
    # a variant given twice repeats its id: the five-column check runs only when some id repeats
    dup = has_id & out["variant_id"].duplicated(keep=False).to_numpy()
    if dup.any():
        dup = has_id & out.duplicated(subset=key, keep=False).to_numpy()
    if dup.any():
        same = out.duplicated(keep="first").to_numpy()
        conflict = has_id & out.duplicated(subset=key, keep="first").to_numpy() & ~same
        if conflict.any():
            i = int(np.flatnonzero(conflict)[0])
            vid = out["variant_id"].iloc[i]
            earlier = np.flatnonzero(has_id & (out["variant_id"] == vid).to_numpy())
            raise fail(where, f"{source}: variant {vid!r} appears on lines {[int(lines[j]) for j in earlier][:5]} "
                       f"with different values ({int(conflict.sum())} conflicting duplicate row(s))")
        n_same = int((same & has_id).sum())
        if n_same:
            log.warning("read_sumstats: %s: %d identical duplicated row(s) collapsed", source, n_same)
            out = out[~(same & has_id)].reset_index(drop=True)
    return out


# --------------------------------------------------------------------------------------------
# GWAS-SSF writing and metadata
# --------------------------------------------------------------------------------------------

#: GWAS-SSF version written in ``file_type``.
SSF_VERSION = "GWAS-SSF v1.0"
#: Mandatory columns in spec order; tuples are alternatives (the first present is used).
MANDATORY: tuple[str | tuple[str, ...], ...] = (
    "chromosome",
    "base_pair_location",
    "effect_allele",
    "other_allele",
    ("beta", "odds_ratio", "hazard_ratio"),
    "standard_error",
    "effect_allele_frequency",
    ("p_value", "neg_log_10_p_value"),
)
#: Optional columns, in the order they follow the mandatory ones.
OPTIONAL: tuple[str, ...] = (
    "neg_log_10_p_value",
    "variant_id",
    "rsid",
    "info",
    "ci_upper",
    "ci_lower",
    "ref_allele",
    "n",
    "n_cases",
    "n_controls",
)
#: GWAS Catalog ancestry categories of the 1000 Genomes / gnomAD super-population codes the
#: project's ancestry columns use; written as ``samples: sample_ancestry_category``.
ANCESTRY_CATEGORIES: dict[str, str] = {
    "EUR": "European", "AFR": "African unspecified", "EAS": "East Asian", "SAS": "South Asian",
    "CSA": "South Asian", "AMR": "Hispanic or Latin American", "MID": "Greater Middle Eastern (Middle Eastern, "
    "North African or Persian)",
}
#: Below this, ``p_value`` is rendered from ``neg_log_10_p_value`` (float64 loses it near 1e-308).
TINY_P = 1e-300
NA = "#NA"


def _resolve_columns(where: str, frame: pd.DataFrame, source: str) -> list[str]:
    """The mandatory columns present (one per alternative group), in spec order."""
    chosen: list[str] = []
    missing: list[str] = []
    for spec in MANDATORY:
        options = (spec,) if isinstance(spec, str) else spec
        found = [c for c in options if c in frame.columns]
        if not found:
            missing.append(" or ".join(options))
        else:
            chosen.append(found[0])
    if missing:
        raise fail(where, f"{source} lacks GWAS-SSF column(s) {missing}; it has {list(frame.columns)[:20]}")
    return chosen


def _format_p(p: np.ndarray, mlog10p: np.ndarray | None) -> np.ndarray:
    """Render P as text, exact below 1e-300 via -log10 P."""
    out = np.array([NA if not np.isfinite(x) else f"{x:.10g}" for x in p], dtype=object)
    if mlog10p is not None:
        tiny = np.isfinite(mlog10p) & ((~np.isfinite(p)) | (p < TINY_P))
        for i in np.flatnonzero(tiny):
            m = mlog10p[i]
            exponent = math.floor(-m)
            mantissa = 10 ** (-m - exponent)
            if mantissa >= 9.999995:  # rounding would print 10.0e-k
                mantissa, exponent = 1.0, exponent + 1
            out[i] = f"{mantissa:.5g}e{exponent:+04d}".replace("e+", "e")
    return out


def _sorted_by_position(frame: pd.DataFrame) -> bool:
    rank = chromosome_rank(frame["chromosome"])
    pos = frame["base_pair_location"].to_numpy()
    key = rank * 1e10 + pos
    return bool(np.all(np.diff(key) >= 0)) if len(key) > 1 else True


_NEEDS_QUOTES = ("\t", '"', "\n", "\r")


def _tsv_text(frame: pd.DataFrame) -> str | None:
    """The text ``frame.to_csv(sep="\\t", index=False, na_rep=NA, float_format="%.10g",
    lineterminator="\\n")`` writes, built column by column (~3x faster on a GWAS table: pandas
    formats each float through several layers per value), or None where a column is of a type
    or holds a text this does not render exactly as pandas does (then pandas writes it).

    float64: ``%.10g``, NaN as ``NA``; integers and booleans: ``str``; object columns: strings
    as they are, other scalars by ``str``, missing values as ``NA``. Text needing CSV quotes
    (tab, double quote, line breaks) and frames of one column fall back to pandas."""
    if frame.shape[1] < 2 or any(any(c in str(name) for c in _NEEDS_QUOTES) for name in frame.columns):
        return None
    cols: list[list[str]] = []
    for name in frame.columns:
        s = frame[name]
        kind = s.dtype.kind if isinstance(s.dtype, np.dtype) else None
        if kind == "f" and s.dtype == np.float64:
            v = s.to_numpy()
            col = [f"{x:.10g}" for x in v.tolist()]
            for i in np.flatnonzero(np.isnan(v)):
                col[i] = NA
        elif kind in ("i", "u", "b"):
            col = [str(x) for x in s.to_numpy().tolist()]
        elif kind == "O":
            missing = pd.isna(s).to_numpy()
            col = []
            for x, na in zip(s.tolist(), missing.tolist(), strict=True):
                if na:
                    col.append(NA)
                elif isinstance(x, str):
                    if any(c in x for c in _NEEDS_QUOTES):
                        return None
                    col.append(x)
                elif isinstance(x, (bool, int, float, np.bool_, np.integer, np.floating)):
                    col.append(str(x))
                else:
                    return None
        else:
            return None
        cols.append(col)
    header = "\t".join(str(c) for c in frame.columns) + "\n"
    return header + "".join(line + "\n" for line in map("\t".join, zip(*cols, strict=True)))


def write_gwas_ssf(frame: pd.DataFrame, path: str | os.PathLike, metadata: dict[str, Any] | None = None) -> Path:
    """Write summary statistics as GWAS-SSF: gzip TSV (``mtime=0``, atomic) + YAML sidecar.

    Parameters
    ----------
    frame : DataFrame
        One row per variant with the mandatory GWAS-SSF columns (see the module docstring);
        optional and extra columns are kept after them. ``p_value`` may underflow to 0 where
        ``neg_log_10_p_value`` carries the exact value.
    path : path
        Output file, normally ``<trait>[.<stratum>].tsv.gz``. A name ending in ``.gz`` is
        gzipped (deterministically: no timestamp, no file name in the header).
    metadata : dict, optional
        GWAS-SSF metadata fields (``trait_description``, ``samples`` (list of dicts with
        ``sample_size``, ``sample_ancestry``...), ``adjusted_covariates``, ``analysis_software``,
        ``sex`` (``M``/``F``/``combined``), ``author_notes``...). Extra keys (e.g. the BMFF
        phenotype provenance) are kept. ``data_file_name``, ``data_file_md5sum``, ``file_type``,
        ``is_sorted`` are filled in; ``genome_assembly`` defaults to the table's
        ``genome_build`` (that column is not written), else GRCh37, and
        ``coordinate_system`` to 1-based. Default ``None``: those filled-in fields only.

    Returns
    -------
    Path
        ``path``; the metadata is at ``<path>-meta.yaml``.

    Examples
    --------
    >>> import pandas as pd, tempfile, os
    >>> df = pd.DataFrame({"chromosome": ["1"], "base_pair_location": [1000], "effect_allele": ["G"],
    ...     "other_allele": ["A"], "beta": [0.1], "standard_error": [0.02],
    ...     "effect_allele_frequency": [0.3], "p_value": [5.7e-7]})
    >>> p = write_gwas_ssf(df, os.path.join(tempfile.mkdtemp(), "t.tsv.gz"), {"trait_description": ["t"]})
    >>> read_sumstats(p)["beta"].tolist()
    [0.1]
    """
    where = "write_gwas_ssf/frame"
    if not isinstance(frame, pd.DataFrame):
        raise fail(where, f"expected a pandas DataFrame, found {type(frame).__name__}")
    path = Path(path)
    frame_build = build_of(frame, where, source="the table")
    if BUILD_COLUMN in frame.columns:
        frame = frame.drop(columns=[BUILD_COLUMN])
    meta_build = normalise_build((metadata or {}).get("genome_assembly"), "write_gwas_ssf/metadata")
    if frame_build and meta_build and frame_build != meta_build:
        raise fail("write_gwas_ssf/metadata", f"genome_assembly {meta_build} contradicts the table's "
                   f"{BUILD_COLUMN} {frame_build}")
    mandatory = _resolve_columns(where, frame, "the table")
    optional = [c for c in OPTIONAL if c in frame.columns and c not in mandatory]
    extra = [c for c in frame.columns if c not in mandatory and c not in optional]
    out = frame[mandatory + optional + extra].copy()
    chrom = out["chromosome"].astype(str).str.removeprefix("chr")
    unknown = sorted(set(chrom.unique()) - set(SSF_CHROMOSOME_CODES))
    if unknown:
        raise fail(f"{where}/chromosome", f"value(s) {unknown[:10]} have no GWAS-SSF code (1-22, X=23, Y=24, MT=25)")
    out["chromosome"] = chrom.map(SSF_CHROMOSOME_CODES)
    if "variant_id" in out.columns:
        vid = out["variant_id"]
        out["variant_id"] = vid.astype(str).str.replace(r"[^A-Za-z0-9_]", "_", regex=True).where(vid.notna(), np.nan)
    if "rsid" in out.columns:
        rs = out["rsid"].astype("string").str.strip()
        out["rsid"] = rs.astype(object).where(rs.str.fullmatch(r"rs[0-9]+").fillna(False).astype(bool), np.nan)
    if out["base_pair_location"].isna().any():
        raise fail(where, "base_pair_location has missing values; GWAS-SSF requires a position for every row")
    out["base_pair_location"] = out["base_pair_location"].astype(np.int64)
    if "p_value" in out.columns:
        p = pd.to_numeric(out["p_value"], errors="coerce").to_numpy(dtype=float)
        m = out["neg_log_10_p_value"].to_numpy(dtype=float) if "neg_log_10_p_value" in out.columns else None
        out["p_value"] = _format_p(p, m)
    text = _tsv_text(out)
    if text is None:  # a column type the fast path does not render: pandas (the same bytes, slower)
        buf = io.StringIO()
        out.to_csv(buf, sep="\t", index=False, na_rep=NA, float_format="%.10g", lineterminator="\n")
        text = buf.getvalue()
    data = text.encode()
    gz = path.name.endswith(".gz")
    with atomic_path(path) as tmp:
        if gz:
            # level 6 (gzip's own default): ~3x faster than Python's 9 for a few % in size
            with open(tmp, "wb") as fh, gzip.GzipFile(filename="", mode="wb", fileobj=fh, mtime=0,
                                                      compresslevel=6) as g:
                g.write(data)
        else:
            tmp.write_bytes(data)
    md5 = hashlib.md5(path.read_bytes()).hexdigest()
    meta: dict[str, Any] = {
        "genome_assembly": frame_build or "GRCh37",
        "coordinate_system": "1-based",
        "date_metadata_last_modified": _dt.date.today().isoformat(),
        "is_harmonised": False,
    }
    meta.update(metadata or {})
    if isinstance(meta.get("samples"), list):
        meta["samples"] = [_with_ancestry_category(s) for s in meta["samples"]]
    meta.update(
        {
            "data_file_name": path.name,
            "file_type": SSF_VERSION,
            "data_file_md5sum": md5,
            "is_sorted": _sorted_by_position(out),
        }
    )
    write_text(metadata_path(path), yaml.safe_dump(_plain(meta), sort_keys=False))
    log.info("wrote %s (%d variants)", path, len(out))
    return path


def _with_ancestry_category(sample: Any) -> Any:
    """A ``samples`` entry with ``sample_ancestry_category`` from its ``sample_ancestry`` codes."""
    if not isinstance(sample, dict) or "sample_ancestry_category" in sample:
        return sample
    codes = sample.get("sample_ancestry") or []
    cats = [ANCESTRY_CATEGORIES[c] for c in codes if c in ANCESTRY_CATEGORIES]
    return {**sample, "sample_ancestry_category": sorted(set(cats)) if cats and len(cats) == len(codes) else ["NR"]}


def _plain(value: Any) -> Any:
    """Numpy scalars and paths to plain YAML types."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (_dt.date, _dt.datetime)):
        return value.isoformat()
    return value


def metadata_path(path: str | os.PathLike) -> Path:
    """The GWAS-SSF metadata sidecar of a data file: ``<file>-meta.yaml``.

    Parameters
    ----------
    path : path
        The GWAS-SSF data file.

    Returns
    -------
    Path
        ``<path>-meta.yaml`` (whether or not it exists).
    """
    path = Path(path)
    return path.with_name(path.name + "-meta.yaml")


def read_gwas_ssf_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The YAML metadata of a GWAS-SSF file.

    Parameters
    ----------
    path : path
        The GWAS-SSF data file (its sidecar ``<path>-meta.yaml`` is read).

    Returns
    -------
    dict
        The metadata fields (``data_file_name``, ``samples``, ``trait_description``...); an
        empty dict when the sidecar is absent.
    """
    meta = metadata_path(path)
    if not meta.exists():
        return {}
    try:
        return yaml.safe_load(meta.read_text()) or {}
    except yaml.YAMLError as exc:
        raise fail("read_gwas_ssf_metadata/path", f"{meta} is not valid YAML: {exc}") from None

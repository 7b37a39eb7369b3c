"""Fine-mapping, colocalisation and SMR tables, and eQTL summary statistics: one reader and one
writer each.

=====================  ==============================================  ======================
table                  reader / writer                                 written as
=====================  ==============================================  ======================
fine-mapping tables    :func:`read_finemap_results` /                  ``credible_sets.tsv``,
                       :func:`write_finemap_results` (``table=``)      ``pips.tsv.gz``,
                                                                       ``loci.tsv``,
                                                                       ``coloc.tsv``,
                                                                       ``coloc_susie.tsv``,
                                                                       ``smr.tsv``
eQTL summary           :func:`read_eqtl` / :func:`write_eqtl`          SMR ``--query`` layout
statistics
=====================  ==============================================  ======================

eQTL layouts :func:`read_eqtl` reads (``format="auto"`` tells them by their header):

- ``smr``: the flat text of SMR's ``--query`` output (Zhu et al. 2016; the tool's documented
  "Query eQTL summary results" layout), one row per SNP-probe pair, whitespace- or
  tab-separated: ``SNP Chr BP A1 A2 Freq Probe Probe_Chr Probe_bp Gene Orientation b SE p``;
  ``A1`` is the effect allele, ``Freq`` its frequency. This is what :func:`write_eqtl` writes
  (the simulator's ``eqtl/eqtl.smr.txt.gz``). ``besd`` binaries convert to it with
  ``smr --beqtl-summary x --query 1 --out x``.
- ``gtex``: GTEx v8 single-tissue cis-eQTL pairs (``*.signif_variant_gene_pairs.txt.gz`` or
  ``*.allpairs.txt.gz``): ``gene_id variant_id tss_distance ma_samples ma_count maf
  pval_nominal slope slope_se``; ``variant_id`` is ``chr1_13550_G_A_b38`` (chromosome,
  position, reference, alternative allele, build), ``slope`` is per copy of the alternative
  allele, ``maf`` the minor allele's frequency (taken as the alternative allele's; GTEx gives
  no other); the sample size is not in the file (pass ``n``).

Every layout reads to canonical columns: ``gene_id, gene_name, chromosome,
base_pair_location, variant_id, effect_allele, other_allele, effect_allele_frequency, beta,
standard_error, p_value[, n, genome_build, gene_position]``.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pandas as pd

from bma_genetics._atomic import atomic_path, write_table
from bma_genetics._check import fail
from bma_genetics.io._schema import TableSchema, check_frame, read_checked, read_text_table

N, S, B = "number", "string", "bool"

_COLOC = {"nsnp": N, "pp_h0": N, "pp_h1": N, "pp_h2": N, "pp_h3": N, "pp_h4": N}

#: The fine-mapping stage's tables, by the ``table=`` name of the reader and writer.
FINEMAP_TABLES: dict[str, TableSchema] = {
    "credible_sets": TableSchema(
        table="finemap_credible_sets", title="credible-set table", version=1,
        required={"trait": S, "locus": N, "credible_set": S, "variant_id": S, "chromosome": S,
                  "base_pair_location": N, "pip": N, "alpha": N, "coverage": N, "min_abs_corr": N,
                  "z": N},
        optional={"rsid": S, "mean_abs_corr": N, "median_abs_corr": N, "p_value": N, "effect_allele": S,
                  "other_allele": S},
    ),
    "pips": TableSchema(
        table="finemap_pips", title="fine-mapping PIP table", version=1,
        required={"trait": S, "locus": N, "variant_id": S, "chromosome": S, "base_pair_location": N, "z": N,
                  "pip": N, "credible_set": S},
        optional={"p_value": N},
    ),
    "loci": TableSchema(
        table="finemap_loci", title="fine-mapped loci table", version=1,
        required={"trait": S, "locus": N, "chromosome": S, "start": N, "end": N, "lead_variant": S,
                  "n_variants": N, "n_credible_sets": N, "credible_set_sizes": S, "top_pip_variant": S,
                  "top_pip": N, "converged": B},
        optional={"p_value": N, "nearest_gene": S, "genes": S, "lead_rsid": S, "region_start": N,
                  "region_end": N, "n_iter": N, "reason": S},
    ),
    "coloc": TableSchema(
        table="coloc_abf", title="coloc.abf table", version=1,
        required={"trait": S, "locus": N, "other": S, **_COLOC},
        optional={"gene_id": S, "gene_name": S, "top_variant": S, "top_snp_pp_h4": N},
    ),
    "coloc_susie": TableSchema(
        table="coloc_susie", title="SuSiE-coloc table", version=1,
        required={"trait": S, "locus": N, "other": S, "credible_set_1": S, "credible_set_2": S, **_COLOC,
                  "top_variant": S},
        optional={"gene_id": S, "gene_name": S},
    ),
    "smr": TableSchema(
        table="smr", title="SMR and HEIDI table", version=1,
        required={"trait": S, "locus": N, "gene_id": S, "top_variant": S, "beta": N, "standard_error": N,
                  "p_value": N, "p_eqtl": N, "p_gwas": N, "heidi_p_value": N, "nsnp_heidi": N},
        optional={"gene_name": S, "z_eqtl": N, "z_gwas": N},
    ),
}

_TEXT_DTYPES = {"trait": str, "credible_set": str, "variant_id": str, "chromosome": str, "rsid": str,
                "other": str, "gene_id": str, "gene_name": str, "top_variant": str, "credible_set_1": str,
                "credible_set_2": str, "lead_variant": str, "top_pip_variant": str, "credible_set_sizes": str,
                "nearest_gene": str, "genes": str, "lead_rsid": str, "reason": str, "effect_allele": str,
                "other_allele": str}


def _schema(table: str, where: str) -> TableSchema:
    if table not in FINEMAP_TABLES:
        raise fail(where, f"unknown fine-mapping table {table!r}; expected one of {list(FINEMAP_TABLES)}")
    return FINEMAP_TABLES[table]


def read_finemap_results(path: str | os.PathLike | pd.DataFrame, *, table: str = "credible_sets") -> pd.DataFrame:
    """Read one of the fine-mapping stage's tables and check its columns.

    Parameters
    ----------
    path : path or DataFrame
    table : str, default="credible_sets"
        ``credible_sets`` (one row per variant of each credible set), ``pips`` (every variant
        of every fine-mapped locus), ``loci`` (the GWAS loci with their credible sets),
        ``coloc`` (coloc.abf), ``coloc_susie`` (SuSiE-coloc, one row per pair of credible sets)
        or ``smr`` (SMR and HEIDI); schemas in :data:`FINEMAP_TABLES`.

    Returns
    -------
    DataFrame
    """
    schema = _schema(table, "read_finemap_results/table")

    def prepare(frame: pd.DataFrame, source: str) -> pd.DataFrame:
        for c in ("credible_set", "credible_set_sizes", "genes", "nearest_gene", "reason", "gene_name",
                  "lead_rsid", "rsid"):
            if c in frame.columns and frame[c].isna().any():
                frame[c] = frame[c].fillna("")
        return frame

    frame, _ = read_checked(path, schema, where="read_finemap_results/path", text_dtypes=_TEXT_DTYPES,
                            prepare=prepare)
    return frame


def write_finemap_results(frame: pd.DataFrame, out: str | os.PathLike, *, table: str = "credible_sets") -> Path:
    """Check one fine-mapping table against its schema (``table``, as :func:`read_finemap_results`)
    and write it atomically (``.tsv``, ``.tsv.gz`` or ``.parquet``); returns ``out``."""
    schema = _schema(table, "write_finemap_results/table")
    out = Path(out)
    check_frame(frame, schema, where="write_finemap_results/frame", source="the table to write")
    if out.name.endswith(".parquet"):
        return write_table(frame, out)
    return write_table(frame, out, float_format="%.10g")


# ---------------------------------------------------------------------------------------------
# eQTL summary statistics

EQTL_COLUMNS = ["gene_id", "gene_name", "chromosome", "base_pair_location", "variant_id", "effect_allele",
                "other_allele", "effect_allele_frequency", "beta", "standard_error", "p_value"]

#: The eQTL layouts :func:`read_eqtl` reads: name -> (signature columns, description).
EQTL_FORMATS: dict[str, tuple[tuple[str, ...], str]] = {
    "smr": (("SNP", "Chr", "BP", "A1", "A2", "Freq", "Probe", "b", "SE", "p"),
            "SMR --query flat text (SNP Chr BP A1 A2 Freq Probe Probe_Chr Probe_bp Gene Orientation b SE p)"),
    "gtex": (("gene_id", "variant_id", "maf", "pval_nominal", "slope", "slope_se"),
             "GTEx v8 cis-eQTL pairs (gene_id variant_id tss_distance ma_samples ma_count maf pval_nominal "
             "slope slope_se)"),
}

#: The file's own column behind each checked canonical column (for messages).
_RAW_NAMES = {
    "smr": {"base_pair_location": "BP", "effect_allele_frequency": "Freq", "beta": "b", "standard_error": "SE",
            "p_value": "p"},
    "gtex": {"base_pair_location": "variant_id", "effect_allele_frequency": "maf", "beta": "slope",
             "standard_error": "slope_se", "p_value": "pval_nominal"},
}

_SMR_WRITE = {"variant_id": "SNP", "chromosome": "Chr", "base_pair_location": "BP", "effect_allele": "A1",
              "other_allele": "A2", "effect_allele_frequency": "Freq", "gene_id": "Probe",
              "gene_position": "Probe_bp", "gene_name": "Gene", "beta": "b", "standard_error": "SE",
              "p_value": "p"}


def _eqtl_header(path: Path, where: str) -> list[str]:
    opener = gzip.open if path.name.endswith((".gz", ".bgz")) else open
    try:
        with opener(path, "rt") as fh:
            line = fh.readline()
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise fail(where, f"{path} cannot be read as text ({exc})") from None
    if not line.strip():
        raise fail(where, f"{path} is empty (no header line)")
    return line.split()


def eqtl_layout(path: str | os.PathLike) -> str | None:
    """The eQTL layout (:data:`EQTL_FORMATS`) whose columns a file's header holds, or ``None``."""
    header = _eqtl_header(Path(path), "eqtl_layout/path")
    return next((k for k, (sig, _) in EQTL_FORMATS.items() if all(c in header for c in sig)), None)


def read_eqtl(path: str | os.PathLike, *, format: str = "auto", n: float | None = None,  # noqa: A002
              build: str | None = None) -> pd.DataFrame:
    """Read eQTL summary statistics (SMR query text or GTEx v8 pairs) to canonical columns.

    Parameters
    ----------
    path : path
        The file (plain or gzip).
    format : {"auto", "smr", "gtex"}, default="auto"
        The layout (:data:`EQTL_FORMATS`); ``auto`` tells them by their header.
    n : float, optional
        eQTL sample size, written to an ``n`` column (GTEx files carry none).
    build : {"GRCh37", "GRCh38"}, optional
        Genome build of the positions (GTEx v8's ``_b38`` variant ids say GRCh38).

    Returns
    -------
    DataFrame
        :data:`EQTL_COLUMNS` (``chromosome`` without ``chr``, strings for identifiers and
        alleles) plus ``gene_position`` (SMR's ``Probe_bp``, when given), ``n`` and
        ``genome_build`` (when known).

    Raises
    ------
    InputError
        Unknown layout (naming the columns seen), missing columns, non-numeric effects or
        non-positive standard errors (naming the file and line).
    """
    where = "read_eqtl/path"
    path = Path(path)
    if not path.exists():
        raise fail(where, f"no such file {path}")
    header = _eqtl_header(path, where)
    if format == "auto":
        found = [k for k, (sig, _) in EQTL_FORMATS.items() if all(c in header for c in sig)]
        if not found:
            raise fail(where, f"{path} is in no eQTL layout read here (columns {header[:12]}); expected "
                              + "; ".join(f"{k}: {d}" for k, (_, d) in EQTL_FORMATS.items()))
        format = found[0]  # noqa: A001
    if format not in EQTL_FORMATS:
        raise fail("read_eqtl/format", f"unknown eQTL layout {format!r}; expected 'auto' or one of {list(EQTL_FORMATS)}")
    missing = [c for c in EQTL_FORMATS[format][0] if c not in header]
    if missing:
        raise fail(where, f"{path} lacks the {format} column(s) {missing}; it has {header[:12]}")
    if format == "smr":
        raw = read_text_table(path, where=where, sep=r"\s+",
                              dtype={"SNP": str, "Chr": str, "A1": str, "A2": str, "Probe": str, "Gene": str})
        out = pd.DataFrame({
            "gene_id": raw["Probe"].astype(str),
            "gene_name": raw["Gene"].astype(str) if "Gene" in raw else raw["Probe"].astype(str),
            "chromosome": raw["Chr"].astype(str).str.removeprefix("chr"),
            "base_pair_location": raw["BP"], "variant_id": raw["SNP"].astype(str),
            "effect_allele": raw["A1"].astype(str).str.upper(), "other_allele": raw["A2"].astype(str).str.upper(),
            "effect_allele_frequency": raw["Freq"], "beta": raw["b"], "standard_error": raw["SE"],
            "p_value": raw["p"],
        })
        if "Probe_bp" in raw:
            out["gene_position"] = raw["Probe_bp"]
    else:
        raw = read_text_table(path, where=where, sep="\t", dtype={"gene_id": str, "variant_id": str})
        parts = raw["variant_id"].astype(str).str.split("_", expand=True)
        if parts.shape[1] < 4:
            raise fail(where, f"{path}: GTEx variant_id {raw['variant_id'].iloc[0]!r} is not chr_pos_ref_alt_build")
        if build is None and parts.shape[1] >= 5 and (parts[4] == "b38").all():
            build = "GRCh38"
        out = pd.DataFrame({
            "gene_id": raw["gene_id"].astype(str), "gene_name": raw["gene_id"].astype(str),
            "chromosome": parts[0].str.removeprefix("chr"),
            "base_pair_location": pd.to_numeric(parts[1], errors="coerce"),
            "variant_id": raw["variant_id"].astype(str),
            "effect_allele": parts[3].str.upper(), "other_allele": parts[2].str.upper(),
            "effect_allele_frequency": raw["maf"], "beta": raw["slope"], "standard_error": raw["slope_se"],
            "p_value": raw["pval_nominal"],
        })
    raw_name = _RAW_NAMES[format]
    for c in ("base_pair_location", "effect_allele_frequency", "beta", "standard_error", "p_value"):
        values = pd.to_numeric(out[c], errors="coerce")
        bad = values.isna() & out[c].notna()
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise fail(where, f"{path.name} column {raw_name[c]!r} line {i + 2}: {out[c].iloc[i]!r} is not a number "
                              f"({path})")
        out[c] = values
    if (out["standard_error"] <= 0).any():
        i = int(np.flatnonzero((out["standard_error"] <= 0).to_numpy())[0])
        raise fail(where, f"{path.name} column {raw_name['standard_error']!r} line {i + 2}: "
                          f"{out['standard_error'].iloc[i]} is not a positive standard error ({path})")
    bad_pos = out["base_pair_location"].isna()
    if bad_pos.any():
        raise fail(where, f"{path}: {int(bad_pos.sum())} row(s) without a position")
    out["base_pair_location"] = out["base_pair_location"].astype(np.int64)
    if n is not None:
        out["n"] = float(n)
    if build is not None:
        out["genome_build"] = build
    return out.reset_index(drop=True)


def write_eqtl(frame: pd.DataFrame, out: str | os.PathLike) -> Path:
    """Write eQTL summary statistics in SMR's ``--query`` flat text (tab-separated; ``.gz`` gzips).

    Parameters
    ----------
    frame : DataFrame
        :data:`EQTL_COLUMNS` (``gene_position`` optional: SMR's ``Probe_bp``).
    out : path

    Returns
    -------
    Path
        ``out``.
    """
    missing = [c for c in EQTL_COLUMNS if c not in frame.columns]
    if missing:
        raise fail("write_eqtl/frame", f"the table lacks column(s) {missing}")
    d = pd.DataFrame({v: frame[k] if k in frame else np.nan for k, v in _SMR_WRITE.items()})
    d.insert(d.columns.get_loc("Probe") + 1, "Probe_Chr", frame["chromosome"].astype(str))
    d.insert(d.columns.get_loc("Gene") + 1, "Orientation", "NA")
    d = d[["SNP", "Chr", "BP", "A1", "A2", "Freq", "Probe", "Probe_Chr", "Probe_bp", "Gene", "Orientation",
           "b", "SE", "p"]]
    d["Probe_bp"] = d["Probe_bp"].fillna(0).astype(np.int64)
    out = Path(out)
    if not out.name.endswith(".gz"):
        return write_table(d, out, float_format="%.6g", lineterminator="\n")
    # a gzip header without a time stamp or file name: the same table gives the same bytes
    text = d.to_csv(sep="\t", index=False, float_format="%.6g", lineterminator="\n")
    with atomic_path(out) as tmp, open(tmp, "wb") as fh, \
            gzip.GzipFile(filename="", mode="wb", fileobj=fh, mtime=0) as gz:
        gz.write(text.encode())
    return out


#: The gwas stage's loci table (``loci/<trait>.loci.tsv``: FUMA's genomic risk loci).
GWAS_LOCI = TableSchema(
    table="gwas_loci", title="GWAS loci table", version=1,
    required={"locus": N, "chromosome": S, "start": N, "end": N, "lead_variant": S, "p_value": N},
    optional={"lead_rsid": S, "neg_log_10_p_value": N, "n_lead": N, "n_independent": N, "n_candidates": N,
              "nearest_gene": S, "genes": S},
)


def read_gwas_loci(path: str | os.PathLike | pd.DataFrame) -> pd.DataFrame:
    """Read the gwas stage's loci table (``loci/<trait>.loci.tsv``) and check its columns.

    Returns
    -------
    DataFrame
        ``locus, chromosome, start, end, lead_variant, lead_rsid, p_value, neg_log_10_p_value,
        n_lead, n_independent, n_candidates, nearest_gene, genes`` (empty strings for missing
        gene names); no rows when the GWAS found no locus.
    """
    def prepare(frame: pd.DataFrame, source: str) -> pd.DataFrame:
        for c in ("lead_rsid", "nearest_gene", "genes"):
            if c in frame.columns:
                frame[c] = frame[c].fillna("").astype(str)
        return frame

    frame, _ = read_checked(path, GWAS_LOCI, where="read_gwas_loci/path",
                            text_dtypes={"chromosome": str, "lead_variant": str, "lead_rsid": str,
                                         "nearest_gene": str, "genes": str}, prepare=prepare)
    return frame

"""Result tables of the PheWAS, MR and enrichment stages: one reader and one writer each.

Each table has a :class:`~bma_genetics.io._schema.TableSchema` (columns, their kinds and a
format version). A stage writes its tables only through the ``write_*`` functions here and
plots, the report and notebooks read them only through the ``read_*`` functions, so a table
with a missing or mistyped column fails at once, naming the file and the column. Tables are
TSV (what PheTK / TwoSampleMR / MAGMA users open in R or a spreadsheet) or Parquet (stamped
with the table name and version).

=====================  ===========================================  =========================
table                  reader / writer                              written as
=====================  ===========================================  =========================
PheWAS results         :func:`read_phewas_results` /                ``phewas_results.tsv``
                       :func:`write_phewas_results`
MR results and         :func:`read_mr_results` /                    ``mr_results.tsv``,
diagnostics            :func:`write_mr_results` (``table=``)        ``heterogeneity.tsv``, ...
gene results           :func:`read_gene_results` /                  ``genes.tsv``
                       :func:`write_gene_results`
gene-set results       :func:`read_gene_set_results` /              ``gene_sets.tsv``
                       :func:`write_gene_set_results`
=====================  ===========================================  =========================
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from bma_genetics._atomic import write_table
from bma_genetics._check import fail
from bma_genetics.io._schema import TableSchema, check_frame, read_checked, write_checked

N, S, B = "number", "string", "bool"

#: PheWAS results (``run_phewas``): one row per exposure and tested phecode.
PHEWAS_RESULTS = TableSchema(
    table="phewas_results", title="PheWAS results table", version=2,
    required={"exposure": S, "phecode": S, "phecode_string": S, "category": S, "n_cases": N,
              "n_controls": N, "beta": N, "standard_error": N, "odds_ratio": N, "ci_lower": N,
              "ci_upper": N, "p_value": N, "method": S, "converged": B, "neg_log_10_p_value": N,
              "bonferroni": N, "fdr": N},
    optional={"sex_restriction": S, "reason": S},
)

_MR_EST = {"beta": N, "standard_error": N, "ci_lower": N, "ci_upper": N, "p_value": N}

#: The MR tables (``run_mr_analysis``), by the ``table=`` name of the reader and writer.
MR_TABLES: dict[str, TableSchema] = {
    "results": TableSchema(
        table="mr_results", title="MR results table", version=2,
        required={"exposure": S, "outcome": S, "method": S, "nsnp": N, **_MR_EST},
        optional={"q": N, "q_df": N, "q_p_value": N, "egger_intercept": N,
                  "egger_intercept_standard_error": N, "egger_intercept_p_value": N},
    ),
    "heterogeneity": TableSchema(
        table="mr_heterogeneity", title="MR heterogeneity table", version=2,
        required={"exposure": S, "outcome": S, "method": S, "q": N, "q_df": N, "q_p_value": N, "i2": N},
    ),
    "pleiotropy": TableSchema(
        table="mr_pleiotropy", title="MR pleiotropy (Egger intercept) table", version=2,
        required={"exposure": S, "outcome": S, "egger_intercept": N, "standard_error": N, "p_value": N,
                  "nsnp": N},
        optional={"i2_gx": N},
    ),
    "steiger": TableSchema(
        table="mr_steiger", title="MR Steiger table", version=2,
        required={"exposure": S, "outcome": S, "snp_r2_exposure": N, "snp_r2_outcome": N,
                  "steiger_p_value": N, "nsnp": N},
        optional={"correct_causal_direction": B},
    ),
    "leave_one_out": TableSchema(
        table="mr_leave_one_out", title="MR leave-one-out table", version=2,
        required={"exposure": S, "outcome": S, "snp": S, "nsnp": N, **_MR_EST},
    ),
    "single_snp": TableSchema(
        table="mr_single_snp", title="MR single-SNP table", version=2,
        required={"exposure": S, "outcome": S, "snp": S, **_MR_EST},
    ),
    "mr_presso": TableSchema(
        table="mr_presso", title="MR-PRESSO table", version=2,
        required={"exposure": S, "outcome": S, "nsnp": N, "global_rss": N, "global_p_value": N,
                  "n_outliers": N, "distortion_p_value": N, "raw_beta": N, "raw_standard_error": N,
                  "corrected_beta": N, "corrected_standard_error": N},
        optional={"outliers": S},
    ),
    "radial": TableSchema(
        table="mr_radial", title="radial MR outlier table", version=1,
        required={"exposure": S, "outcome": S, "method": S, "snp": S, "q_contribution": N, "q_p_value": N,
                  "outlier": B},
    ),
    "mvmr": TableSchema(
        table="mvmr_results", title="multivariable MR results table", version=1,
        required={"exposure": S, "outcome": S, "method": S, "nsnp": N, **_MR_EST},
        optional={"conditional_f": N, "q": N, "q_df": N, "q_p_value": N, "egger_intercept": N,
                  "egger_intercept_standard_error": N, "egger_intercept_p_value": N},
    ),
}

#: Gene results (``run_gene_analysis``): one row per gene.
GENE_RESULTS = TableSchema(
    table="gene_results", title="gene results table", version=1,
    required={"gene_id": S, "gene_name": S, "chromosome": S, "start": N, "end": N, "nsnps": N, "z": N,
              "p_value": N},
    optional={"nparam": N, "stat": N, "p_top": N, "top_snp_p": N, "fdr": N},
)

#: Gene-set results (``run_gene_set_analysis``): one row per analysed set.
GENE_SET_RESULTS = TableSchema(
    table="gene_set_results", title="gene-set results table", version=1,
    required={"set_id": S, "set_name": S, "n_genes": N, "beta": N, "standard_error": N, "p_value": N,
              "fdr": N},
    optional={"p_self": N, "fdr_self": N},
)

#: Columns of tables written before the shared vocabulary (version 1), to say so when read.
_OLD_NAMES = {"se": "standard_error", "b": "beta", "ci_low": "ci_lower", "ci_high": "ci_upper",
              "neg_log_p_value": "neg_log_10_p_value", "fdr_bh": "fdr", "q_pval": "q_p_value",
              "steiger_pval": "steiger_p_value", "global_p": "global_p_value"}

#: Text-file dtypes: identifiers stay strings ("250.2", "X", "GO:0001503").
_TEXT_DTYPES = {"exposure": str, "outcome": str, "phecode": str, "phecode_string": str, "category": str,
                "method": str, "snp": str, "gene_id": str, "gene_name": str, "chromosome": str,
                "set_id": str, "set_name": str, "sex_restriction": str, "outliers": str, "reason": str}


def _old_format(frame: pd.DataFrame, source: str, schema: TableSchema, where: str) -> None:
    old = [c for c in frame.columns if c in _OLD_NAMES and _OLD_NAMES[c] not in frame.columns]
    if old:
        renames = ", ".join(f"{c} -> {_OLD_NAMES[c]}" for c in old)
        raise fail(where, f"{source} is a {schema.title} in the format before version {schema.version} "
                          f"(columns {old}); rename {renames} or rerun the stage")


def _read(path: str | os.PathLike | pd.DataFrame, schema: TableSchema, where: str) -> pd.DataFrame:
    def prepare(frame: pd.DataFrame, source: str) -> pd.DataFrame:
        _old_format(frame, source, schema, where)
        for c in ("outliers", "sex_restriction", "reason"):
            if c in frame.columns and frame[c].isna().any():
                frame[c] = frame[c].fillna("")
        return frame

    frame, _ = read_checked(path, schema, where=where, text_dtypes=_TEXT_DTYPES, prepare=prepare)
    return frame


def _write(frame: pd.DataFrame, out: str | os.PathLike, schema: TableSchema, where: str) -> Path:
    return write_checked(frame, out, schema, where=where)


def read_phewas_results(path: str | os.PathLike | pd.DataFrame) -> pd.DataFrame:
    """Read a PheWAS results table (``phewas_results.tsv``) and check its columns.

    Parameters
    ----------
    path : path or DataFrame
        TSV/CSV/Parquet written by :func:`write_phewas_results` (or a DataFrame to check).

    Returns
    -------
    DataFrame
        ``exposure, phecode, phecode_string, category, n_cases, n_controls, beta,
        standard_error, odds_ratio, ci_lower, ci_upper, p_value, method, converged,
        neg_log_10_p_value, bonferroni, fdr[, sex_restriction]`` (``phecode`` a string).

    Raises
    ------
    InputError
        Naming the file and the missing or mistyped column (or the old column names).
    """
    return _read(path, PHEWAS_RESULTS, "read_phewas_results/path")


def write_phewas_results(frame: pd.DataFrame, out: str | os.PathLike) -> Path:
    """Check a PheWAS results table against its schema and write it atomically.

    Parameters
    ----------
    frame : DataFrame
        Columns as :func:`read_phewas_results` returns.
    out : path
        ``.tsv`` (floats with 8 significant digits), ``.tsv.gz``, ``.csv`` or ``.parquet``.

    Returns
    -------
    Path
        ``out``.
    """
    where = "write_phewas_results/frame"
    out = Path(out)
    if out.name.endswith(".parquet"):
        return _write(frame, out, PHEWAS_RESULTS, where)
    check_frame(frame, PHEWAS_RESULTS, where=where, source="the table to write")
    return write_table(frame, out, float_format="%.8g")


def _mr_schema(table: str, where: str) -> TableSchema:
    if table not in MR_TABLES:
        raise fail(where, f"unknown MR table {table!r}; expected one of {list(MR_TABLES)}")
    return MR_TABLES[table]


def read_mr_results(path: str | os.PathLike | pd.DataFrame, *, table: str = "results") -> pd.DataFrame:
    """Read one of the MR tables written by ``run_mr_analysis`` and check its columns.

    Parameters
    ----------
    path : path or DataFrame
    table : str, default="results"
        Which table: ``results`` (``mr_results.tsv``: ``exposure, outcome, method, nsnp, beta,
        standard_error, ci_lower, ci_upper, p_value`` and, from the same fit, ``q, q_df,
        q_p_value, egger_intercept, egger_intercept_standard_error, egger_intercept_p_value``),
        ``heterogeneity``, ``pleiotropy``, ``steiger``, ``leave_one_out``, ``single_snp`` or
        ``mr_presso``, ``radial`` (radial MR outliers) or ``mvmr`` (multivariable MR results;
        schemas in :data:`MR_TABLES`).

    Returns
    -------
    DataFrame
    """
    schema = _mr_schema(table, "read_mr_results/table")
    return _read(path, schema, "read_mr_results/path")


def write_mr_results(frame: pd.DataFrame, out: str | os.PathLike, *, table: str = "results") -> Path:
    """Check one MR table against its schema (``table``, as :func:`read_mr_results`) and write it.

    Returns
    -------
    Path
        ``out``.
    """
    schema = _mr_schema(table, "write_mr_results/table")
    return _write(frame, out, schema, "write_mr_results/frame")


def read_gene_results(path: str | os.PathLike | pd.DataFrame) -> pd.DataFrame:
    """Read a gene results table (``genes.tsv``; schema of ``enrichment.gene_tests``, + ``fdr``).

    Returns
    -------
    DataFrame
        ``gene_id, gene_name, chromosome`` (strings), ``start, end, nsnps, nparam, stat, z,
        p_value, p_top, top_snp_p[, fdr]``.
    """
    return _read(path, GENE_RESULTS, "read_gene_results/path")


def write_gene_results(frame: pd.DataFrame, out: str | os.PathLike) -> Path:
    """Check a gene results table against its schema and write it atomically; returns ``out``."""
    return _write(frame, out, GENE_RESULTS, "write_gene_results/frame")


def read_gene_set_results(path: str | os.PathLike | pd.DataFrame) -> pd.DataFrame:
    """Read a gene-set results table (``gene_sets.tsv``).

    Returns
    -------
    DataFrame
        ``set_id, set_name, n_genes, beta, standard_error, p_value, fdr, p_self, fdr_self``.
    """
    return _read(path, GENE_SET_RESULTS, "read_gene_set_results/path")


def write_gene_set_results(frame: pd.DataFrame, out: str | os.PathLike) -> Path:
    """Check a gene-set results table against its schema and write it atomically; returns ``out``."""
    return _write(frame, out, GENE_SET_RESULTS, "write_gene_set_results/frame")

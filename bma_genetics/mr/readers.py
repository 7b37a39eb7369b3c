"""Summary-statistics readers for MR: GWAS-SSF, plink2 ``.glm.*``, REGENIE, FinnGen, any table.

Every reader returns the standard columns (GWAS-SSF names): ``chromosome, base_pair_location,
effect_allele, other_allele, beta, standard_error, effect_allele_frequency, p_value, rsid,
variant_id, n`` (+ ``n_cases, n_controls`` when known); missing optional columns are NaN.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from bma_genetics._check import check_columns, check_one_of, fail

log = logging.getLogger(__name__)

#: The columns every reader returns.
STANDARD_COLUMNS: tuple[str, ...] = (
    "chromosome", "base_pair_location", "effect_allele", "other_allele", "beta", "standard_error",
    "effect_allele_frequency", "p_value", "rsid", "variant_id", "n", "n_cases", "n_controls",
)
FORMATS: tuple[str, ...] = ("auto", "gwas_ssf", "plink2", "regenie", "finngen", "table")

#: FinnGen release columns -> standard (effect allele = alt).
_FINNGEN = {"#chrom": "chromosome", "pos": "base_pair_location", "alt": "effect_allele", "ref": "other_allele",
            "beta": "beta", "sebeta": "standard_error", "af_alt": "effect_allele_frequency", "pval": "p_value",
            "rsids": "rsid"}
#: REGENIE step-2 columns -> standard (effect allele = ALLELE1).
_REGENIE = {"CHROM": "chromosome", "GENPOS": "base_pair_location", "ALLELE1": "effect_allele",
            "ALLELE0": "other_allele", "BETA": "beta", "SE": "standard_error", "A1FREQ": "effect_allele_frequency",
            "ID": "variant_id", "N": "n"}


def _finish(df: pd.DataFrame, source: str, where: str) -> pd.DataFrame:
    for c in STANDARD_COLUMNS:
        if c not in df:
            df[c] = np.nan
    check_columns(where, df, ["effect_allele", "beta", "standard_error"], source=source)
    df["chromosome"] = df["chromosome"].astype("string").str.removeprefix("chr").astype(object)
    df["base_pair_location"] = pd.to_numeric(df["base_pair_location"], errors="coerce").astype("Int64")
    for c in ("effect_allele", "other_allele"):
        df[c] = df[c].astype("string").str.upper().astype(object)
    for c in ("beta", "standard_error", "effect_allele_frequency", "p_value", "n", "n_cases", "n_controls"):
        df[c] = pd.to_numeric(df[c], errors="coerce")
    if df["p_value"].isna().all() and df["beta"].notna().any():
        from scipy import stats

        df["p_value"] = 2 * stats.norm.sf(np.abs(df["beta"] / df["standard_error"]))
    rest = [c for c in df.columns if c not in STANDARD_COLUMNS]
    return df[list(STANDARD_COLUMNS) + rest].reset_index(drop=True)


def _sniff(path: Path) -> str:
    name = path.name.lower()
    if ".glm." in name:
        return "plink2"
    if name.endswith((".regenie", ".regenie.gz")):
        return "regenie"
    head = pd.read_csv(path, sep=None, engine="python", nrows=2, compression="infer")
    cols = set(head.columns)
    if {"base_pair_location", "effect_allele"} <= cols:
        return "gwas_ssf"
    if {"#chrom", "sebeta"} <= cols:
        return "finngen"
    if {"ALLELE1", "LOG10P"} <= cols:
        return "regenie"
    if "#CHROM" in cols and "A1" in cols:
        return "plink2"
    return "table"


def read_sumstats(
    path: str | os.PathLike,
    *,
    format: str = "auto",
    columns: Mapping[str, str] | None = None,
    n: float | None = None,
    n_cases: float | None = None,
    n_controls: float | None = None,
) -> pd.DataFrame:
    """Read GWAS summary statistics into the standard columns.

    Examples
    --------
    >>> ss = read_sumstats("outcome_gwas/osteoporosis.tsv.gz")  # doctest: +SKIP
    >>> ss = read_sumstats("fg.tsv", columns={"beta": "BETA", "standard_error": "SE",
    ...                    "effect_allele": "EA", "rsid": "SNP"})  # doctest: +SKIP

    Notes
    -----
    Formats (``format="auto"`` picks one from the name and header):

    - ``gwas_ssf``: GWAS Catalog GWAS-SSF (read by :func:`bma_genetics.gwas.read_gwas_ssf`);
      ``n``/``n_cases``/``n_controls`` from its YAML sidecar (``samples``) when absent.
    - ``plink2``: ``.glm.linear``, ``.glm.logistic``, ``.glm.logistic.hybrid``: rows with
      ``TEST == ADD``; effect allele ``A1``, other allele ``AX``/``OMITTED`` or the one of
      REF/ALT that is not A1; ``OR`` -> ``log(OR)`` with ``LOG(OR)_SE``; ``OBS_CT`` -> ``n``.
    - ``regenie``: step-2 ``.regenie`` (space-separated; ``ALLELE1`` effect allele,
      ``LOG10P`` -> ``p_value``).
    - ``finngen``: FinnGen releases (``#chrom pos ref alt rsids ... pval beta sebeta af_alt``;
      effect allele = alt).
    - ``table``: any delimited table plus ``columns`` = {standard name: column in the file}.

    Output schema: :data:`STANDARD_COLUMNS` (``chromosome`` str without ``chr``,
    ``base_pair_location`` Int64, alleles upper-case str, the rest float) then the file's other
    columns.

    Parameters
    ----------
    path : path
        The file (plain or gzip).
    format : {"auto", "gwas_ssf", "plink2", "regenie", "finngen", "table"}, default="auto"
    columns : mapping, optional
        Standard name -> column in the file; applied after the format's own renames.
    n, n_cases, n_controls : float, optional
        Sample sizes for files that do not carry them (Steiger, R^2).

    Returns
    -------
    DataFrame
    """
    where = "read_sumstats/path"
    path = Path(path)
    if not path.exists():
        raise fail(where, f"no such file {path}")
    check_one_of("read_sumstats/format", format, FORMATS)
    fmt = _sniff(path) if format == "auto" else format
    if fmt == "gwas_ssf":
        from bma_genetics.gwas import read_gwas_ssf, read_gwas_ssf_metadata

        df = read_gwas_ssf(path)
        if "odds_ratio" in df and "beta" not in df:
            df["beta"] = np.log(df["odds_ratio"])
        meta = read_gwas_ssf_metadata(path)
        # Sample sizes: the spec's ``samples`` list (summed over entries), or top-level keys.
        samples = meta.get("samples") or []
        samples = [s for s in (samples if isinstance(samples, list) else [samples]) if isinstance(s, dict)]
        for key, col in (("sample_size", "n"), ("case_count", "n_cases"), ("control_count", "n_controls")):
            vals = [float(s[key]) for s in samples if s.get(key) is not None]
            value = sum(vals) if vals else meta.get(key)
            if value is not None and (col not in df or df[col].isna().all()):
                df[col] = float(value)
    elif fmt == "plink2":
        df = pd.read_csv(path, sep="\t", compression="infer", dtype={"#CHROM": str, "ID": str}, na_values=["NA", "."])
        check_columns("read_sumstats/plink2", df, ["#CHROM", "POS", "ID", "REF", "ALT", "A1", "P"], source=str(path))
        if "TEST" in df:
            df = df[df["TEST"] == "ADD"]
        other = np.where(df["A1"] == df["ALT"], df["REF"], df["ALT"])
        if "AX" in df:
            other = df["AX"]
        elif "OMITTED" in df:
            other = df["OMITTED"]
        out = pd.DataFrame({"chromosome": df["#CHROM"], "base_pair_location": df["POS"], "variant_id": df["ID"],
                            "effect_allele": df["A1"], "other_allele": other, "p_value": df["P"]})
        if "BETA" in df:
            out["beta"], out["standard_error"] = df["BETA"], df["SE"]
        elif "OR" in df:
            out["beta"] = np.log(df["OR"].astype(float))
            out["standard_error"] = df["LOG(OR)_SE"]
        else:
            raise fail("read_sumstats/plink2", f"{path} has neither BETA nor OR (columns {list(df.columns)})")
        if "A1_FREQ" in df:
            out["effect_allele_frequency"] = df["A1_FREQ"]
        if "OBS_CT" in df:
            out["n"] = df["OBS_CT"]
        out["rsid"] = df["ID"].where(df["ID"].astype(str).str.startswith("rs"))
        df = out
    elif fmt == "regenie":
        df = pd.read_csv(path, sep=r"\s+", compression="infer", dtype={"CHROM": str, "ID": str})
        check_columns("read_sumstats/regenie", df, ["CHROM", "GENPOS", "ALLELE0", "ALLELE1", "BETA", "SE", "LOG10P"],
                      source=str(path))
        if "TEST" in df:
            df = df[df["TEST"] == "ADD"]
        df = df.rename(columns=_REGENIE)
        df["p_value"] = np.power(10.0, -pd.to_numeric(df["LOG10P"], errors="coerce"))
        df["rsid"] = df["variant_id"].where(df["variant_id"].astype(str).str.startswith("rs"))
    elif fmt == "finngen":
        df = pd.read_csv(path, sep="\t", compression="infer", dtype={"#chrom": str, "rsids": str})
        check_columns("read_sumstats/finngen", df, ["#chrom", "pos", "ref", "alt", "beta", "sebeta", "pval"],
                      source=str(path))
        df = df.rename(columns=_FINNGEN)
        # FinnGen lists several rsids for some variants ("rs1,rs2"): keep the first.
        df["rsid"] = df["rsid"].astype("string").str.split(",").str[0].astype(object)
        df["variant_id"] = (df["chromosome"].astype(str) + ":" + df["base_pair_location"].astype(str) + "_"
                            + df["other_allele"].astype(str) + "_" + df["effect_allele"].astype(str))
        if "n" not in df and {"n_cases", "n_controls"} <= set(df.columns):
            df["n"] = df["n_cases"] + df["n_controls"]
    else:
        sep = "," if path.name.lower().endswith((".csv", ".csv.gz")) else None
        df = pd.read_csv(path, sep=sep, engine="python" if sep is None else "c", compression="infer")
        if not columns:
            raise fail("read_sumstats/columns", f"{path} is not in a known format (columns {list(df.columns)[:15]}); "
                       "pass columns={standard name: file column}, e.g. {'beta': 'BETA', 'standard_error': 'SE', "
                       "'effect_allele': 'EA', 'other_allele': 'NEA', 'rsid': 'SNP'}")
    if columns:
        missing = [src for src in columns.values() if src not in df.columns]
        if missing:
            raise fail("read_sumstats/columns", f"{path} lacks mapped column(s) {missing}; it has {list(df.columns)[:20]}")
        unknown = [k for k in columns if k not in STANDARD_COLUMNS]
        if unknown:
            raise fail("read_sumstats/columns", f"unknown standard name(s) {unknown}; use {list(STANDARD_COLUMNS)}")
        df = df.drop(columns=[k for k in columns if k in df.columns and k not in columns.values()])
        df = df.rename(columns={v: k for k, v in columns.items()})
    for name, value in (("n", n), ("n_cases", n_cases), ("n_controls", n_controls)):
        if value is not None:
            df[name] = float(value)
    if "n" not in df and "n_cases" in df and "n_controls" in df:
        df["n"] = df["n_cases"] + df["n_controls"]
    out = _finish(df.copy(), str(path), f"read_sumstats/{fmt}")
    log.info("read_sumstats: %s (%s): %d variants", path, fmt, len(out))
    return out

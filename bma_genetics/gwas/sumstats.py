"""GWAS summary statistics in the GWAS Catalog's GWAS-SSF format (TSV + YAML metadata).

The format (Hayhurst et al. 2023, GWAS-SSF v1.0): a tab-separated table, optionally gzipped,
whose first columns are, in this order,

==========================  =======  ==============================================
column                      dtype    meaning
==========================  =======  ==============================================
chromosome                  str      1-22, X, Y, MT (no ``chr`` prefix)
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
ci_lower, ref_allele, n``) and any extra ones. Missing values are written ``#NA``. The sidecar
``<file>-meta.yaml`` describes the file (name, md5sum, assembly, coordinate system) and the
study (trait, sample size, covariates, software).

P values below 1e-300 are kept exact: ``neg_log_10_p_value`` carries them and ``p_value`` is
written in scientific notation from it (``3.2e-412``), so a reader that parses ``p_value`` as
float64 gets 0.0 and can fall back on ``neg_log_10_p_value``.
"""

from __future__ import annotations

import datetime as _dt
import gzip
import hashlib
import io
import logging
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from bma_genetics._atomic import atomic_path, write_text
from bma_genetics._check import fail

log = logging.getLogger(__name__)

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
)
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
    chrom = frame["chromosome"].astype(str)
    order = {c: i for i, c in enumerate([*map(str, range(1, 23)), "X", "Y", "MT"])}
    rank = chrom.map(order).fillna(99).to_numpy()
    pos = frame["base_pair_location"].to_numpy()
    key = rank * 1e10 + pos
    return bool(np.all(np.diff(key) >= 0)) if len(key) > 1 else True


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
        ``is_sorted`` are filled in; ``genome_assembly`` defaults to GRCh37 and
        ``coordinate_system`` to 1-based.

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
    >>> read_gwas_ssf(p)["beta"].tolist()
    [0.1]
    """
    where = "write_gwas_ssf/frame"
    if not isinstance(frame, pd.DataFrame):
        raise fail(where, f"expected a pandas DataFrame, found {type(frame).__name__}")
    path = Path(path)
    mandatory = _resolve_columns(where, frame, "the table")
    optional = [c for c in OPTIONAL if c in frame.columns and c not in mandatory]
    extra = [c for c in frame.columns if c not in mandatory and c not in optional]
    out = frame[mandatory + optional + extra].copy()
    out["chromosome"] = out["chromosome"].astype(str).str.removeprefix("chr")
    if out["base_pair_location"].isna().any():
        raise fail(where, "base_pair_location has missing values; GWAS-SSF requires a position for every row")
    out["base_pair_location"] = out["base_pair_location"].astype(np.int64)
    if "p_value" in out.columns:
        p = pd.to_numeric(out["p_value"], errors="coerce").to_numpy(dtype=float)
        m = out["neg_log_10_p_value"].to_numpy(dtype=float) if "neg_log_10_p_value" in out.columns else None
        out["p_value"] = _format_p(p, m)
    buf = io.StringIO()
    out.to_csv(buf, sep="\t", index=False, na_rep=NA, float_format="%.10g", lineterminator="\n")
    data = buf.getvalue().encode()
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
        "genome_assembly": "GRCh37",
        "coordinate_system": "1-based",
        "date_metadata_last_modified": _dt.date.today().isoformat(),
        "is_harmonised": False,
    }
    meta.update(metadata or {})
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
    """The GWAS-SSF metadata sidecar of a data file: ``<file>-meta.yaml``."""
    path = Path(path)
    return path.with_name(path.name + "-meta.yaml")


def read_gwas_ssf_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The YAML metadata of a GWAS-SSF file (empty dict when the sidecar is absent)."""
    meta = metadata_path(path)
    if not meta.exists():
        return {}
    try:
        return yaml.safe_load(meta.read_text()) or {}
    except yaml.YAMLError as exc:
        raise fail("read_gwas_ssf_metadata/path", f"{meta} is not valid YAML: {exc}") from None


def read_gwas_ssf(path: str | os.PathLike) -> pd.DataFrame:
    """Read GWAS-SSF summary statistics (gzip or plain TSV) and check the mandatory columns.

    ``#NA`` and ``NA`` are missing. ``chromosome``, alleles, ``rsid`` and ``variant_id`` are
    strings, ``base_pair_location`` int64. When only one of ``p_value`` /
    ``neg_log_10_p_value`` is present the other is derived; a ``p_value`` that underflows
    float64 (exact value below ~1e-308) reads as 0.0 and ``neg_log_10_p_value`` keeps it.

    Returns
    -------
    DataFrame
        The table's columns, in file order (plus a derived P column where one was absent).
    """
    where = "read_gwas_ssf/path"
    path = Path(path)
    if not path.exists():
        raise fail(where, f"no such file {path}")
    str_cols = {"chromosome": str, "effect_allele": str, "other_allele": str, "rsid": str,
                "variant_id": str, "ref_allele": str}
    try:
        frame = pd.read_csv(path, sep="\t", na_values=[NA, "NA"], keep_default_na=False,
                            dtype=str_cols, compression="infer", low_memory=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError, EOFError) as exc:
        raise fail(where, f"{path} is not a readable tab-separated table: {exc}") from None
    _resolve_columns(where, frame, str(path))
    if frame["base_pair_location"].isna().any():
        raise fail(where, f"{path}: base_pair_location has missing values")
    frame["base_pair_location"] = frame["base_pair_location"].astype(np.int64)
    if "p_value" in frame.columns:
        # a P written from -log10 P below float64's range parses as 0 (or as text in old pandas)
        frame["p_value"] = pd.to_numeric(frame["p_value"], errors="coerce")
    if "neg_log_10_p_value" not in frame.columns and "p_value" in frame.columns:
        with np.errstate(divide="ignore"):
            frame["neg_log_10_p_value"] = -np.log10(frame["p_value"].to_numpy(dtype=float))
    elif "p_value" not in frame.columns:
        frame["p_value"] = np.power(10.0, -frame["neg_log_10_p_value"].to_numpy(dtype=float))
    return frame

"""Tables of the ``prs`` stage: score weights, plink2 ``.sscore`` scores, prediction results.

=====================  =========================================  ===============================
table                  reader / writer                            written as
=====================  =========================================  ===============================
score weights          :func:`read_prs_weights` /                 ``weights/<trait>.tsv`` (plink2
                       :func:`write_prs_weights`                  ``--score`` input, see below)
scores                 :func:`read_sscore` / :func:`write_sscore` ``scores.sscore`` (plink2's)
prediction results     :func:`read_prs_results` /                 ``prs_results.tsv``
                       :func:`write_prs_results`
=====================  =========================================  ===============================

A weight file is what plink2 ``--score`` reads: ``variant_id`` (column 1), ``effect_allele``
(column 2, the named allele), ``other_allele``, ``chromosome``, ``base_pair_location``, then one
weight column per score: ``plink2 --score weights.tsv 1 2 header-read cols=+scoresums
--score-col-nums 6-N`` (the ids must be the target's variant ids).
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from bma_genetics._check import fail
from bma_genetics.io._schema import (
    TableSchema,
    check_frame,
    read_checked,
    read_text_table,
    write_checked,
)

N, S, B = "number", "string", "bool"

PRS_WEIGHTS = TableSchema(
    table="prs_weights", title="score weight table", version=1,
    required={"variant_id": S, "effect_allele": S, "other_allele": S, "chromosome": S, "base_pair_location": N},
    patterns=((r"ct_.+", N), (r"prscs", N)),
    require_pattern=r"ct_.+|prscs",
)

SSCORE = TableSchema(
    table="sscore", title="plink2 .sscore score table", version=1,
    required={"#FID": S, "IID": S, "ALLELE_CT": N, "NAMED_ALLELE_DOSAGE_SUM": N},
    patterns=((r".+_AVG", N), (r".+_SUM", N)),
    require_pattern=r".+_AVG",
)

PRS_RESULTS = TableSchema(
    table="prs_results", title="polygenic score results table", version=1,
    required={"trait": S, "score": S, "method": S, "p_threshold": N, "n_variants": N, "selected": B},
    patterns=((r"(n|n_cases|r2|auc)_(validation|test)", N), (r"r2_truth", N)),
)

_WEIGHT_FRONT = ["variant_id", "effect_allele", "other_allele", "chromosome", "base_pair_location"]


def write_prs_weights(frame: pd.DataFrame, out: str | os.PathLike) -> Path:
    """Write a weight table in plink2 ``--score``'s column order (id, named allele first)."""
    cols = [*_WEIGHT_FRONT, *[c for c in frame.columns if c not in _WEIGHT_FRONT]]
    missing = [c for c in _WEIGHT_FRONT if c not in frame.columns]
    if missing:
        raise fail("write_prs_weights/frame", f"missing column(s) {missing}")
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    return write_checked(frame[cols], out, PRS_WEIGHTS, where="write_prs_weights")


def read_prs_weights(path: str | os.PathLike | pd.DataFrame) -> pd.DataFrame:
    """Read a weight table (``weights/<trait>.tsv``) and check its columns."""
    frame, _ = read_checked(path, PRS_WEIGHTS, where="read_prs_weights",
                            text_dtypes={"variant_id": str, "effect_allele": str, "other_allele": str,
                                         "chromosome": str})
    return frame


def write_sscore(frame: pd.DataFrame, out: str | os.PathLike) -> Path:
    """Write scores as plink2's ``.sscore`` (tab-separated, ``#FID IID ALLELE_CT ...``)."""
    from bma_genetics._atomic import atomic_path

    check_frame(frame, SSCORE, where="write_sscore", source="the table to write")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        frame.to_csv(tmp, sep="\t", index=False)
    return out


def read_sscore(path: str | os.PathLike | pd.DataFrame) -> pd.DataFrame:
    """Read a ``.sscore`` (ours or plink2's) and check its columns."""
    if isinstance(path, (str, os.PathLike)) and str(path).endswith(".sscore"):
        p = Path(path)
        if not p.exists():
            raise fail("read_sscore/path", f"{p} not found")
        path = read_text_table(p, where="read_sscore", sep="\t", dtype={"#FID": str, "IID": str})
    frame, _ = read_checked(path, SSCORE, where="read_sscore")
    return frame


def write_prs_results(frame: pd.DataFrame, out: str | os.PathLike) -> Path:
    """Write the prediction results (``prs_results.tsv``)."""
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    return write_checked(frame, out, PRS_RESULTS, where="write_prs_results")


def read_prs_results(path: str | os.PathLike | pd.DataFrame) -> pd.DataFrame:
    """Read the prediction results (``prs_results.tsv``) and check its columns."""
    frame, _ = read_checked(path, PRS_RESULTS, where="read_prs_results",
                            text_dtypes={"trait": str, "score": str, "method": str})
    return frame

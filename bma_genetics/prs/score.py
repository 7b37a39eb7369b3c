"""Scoring genotypes with weights in one streaming pass, laid out as plink2 ``--score``.

The target genotypes (BGEN dosages or PLINK hard calls, :mod:`bma_genetics.ld.readers`) are read
``chunk_size`` variants at a time; only the score sums per person and score stay in memory, so any
number of participants can be scored. The output is plink2's ``.sscore`` layout.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bma_genetics._check import fail
from bma_genetics._result import StageResult
from bma_genetics.ld.readers import GenotypeReader
from bma_genetics.prs.align import align_to_reader

log = logging.getLogger(__name__)


@dataclass
class ScoreResult(StageResult):
    """Scores per person (``table``: plink2's ``.sscore`` columns) and the alignment report.

    ``table`` columns: ``#FID``, ``IID``, ``ALLELE_CT`` (allele observations scored: 2 per
    non-missing diploid genotype), ``NAMED_ALLELE_DOSAGE_SUM`` (sum of the named alleles'
    dosages over non-missing genotypes), then ``<score>_AVG`` (plink2's default average) for
    every score column, then ``<score>_SUM`` (plink2's
    ``cols=+scoresums``). ``missing`` lists the weight variants not scored, with a reason.
    """

    missing: pd.DataFrame = field(default_factory=pd.DataFrame)
    score_names: list[str] = field(default_factory=list)


def score_genotypes(
    weights: pd.DataFrame,
    genotypes: GenotypeReader,
    *,
    score_columns: Sequence[str],
    samples: Sequence[str] | None = None,
    mean_impute: bool = True,
    keep_ambiguous: bool = False,
    max_mismatch: float = 0.1,
    chunk_size: int = 1000,
) -> ScoreResult:
    """Score people from their genotypes: plink2 ``--score`` with several score columns.

    For person :math:`i` and score :math:`s`, :math:`S_{is} = \\sum_j w_{js} x_{ij}`, where
    :math:`x_{ij}` is the dosage (0-2) of variant :math:`j`'s named allele. A missing genotype
    counts :math:`2 f_j` (``mean_impute``, plink2's default; :math:`f_j` the named allele's
    frequency among the scored people) or nothing (``mean_impute=False``, plink2's
    ``no-mean-imputation``). ``ALLELE_CT`` counts 2 per non-missing genotype; the ``_AVG``
    columns (plink2's default output) divide the sum by 2 x the number of scored variants with
    mean imputation and by ``ALLELE_CT`` without, as plink2 does; the ``_SUM`` columns
    (``cols=+scoresums``) do not.

    Parameters
    ----------
    weights : DataFrame
        ``chromosome``, ``base_pair_location``, ``effect_allele`` (the named allele),
        ``other_allele`` (optional) and the ``score_columns`` (per-allele weights; 0 leaves a
        variant out of that score but in ``ALLELE_CT``, as in plink2).
    genotypes : GenotypeReader
        The target genotypes (:func:`bma_genetics.ld.open_genotypes`).
    score_columns : sequence of str
        Columns of ``weights`` to score; they name the output columns.
    samples : sequence of str, optional
        Score only these people (eids), in this order; default every sample of ``genotypes``.
        Identifiers absent from the genotypes are left out (counted in the log).
    mean_impute : bool, default=True
    keep_ambiguous, max_mismatch
        Allele alignment (:func:`bma_genetics.prs.align.align_to_reader`).
    chunk_size : int, default=1000
        Variants read at a time.

    Returns
    -------
    ScoreResult

    Raises
    ------
    InputError
        No score column; no variant in common; too many allele mismatches; no sample scored.
    """
    where = "score_genotypes"
    cols = list(score_columns)
    if not cols:
        raise fail(f"{where}/score_columns", "no score column given")
    absent = [c for c in cols if c not in weights.columns]
    if absent:
        raise fail(f"{where}/score_columns", f"{absent} not among the weight columns {list(weights.columns)}")
    if chunk_size < 1:
        raise fail(f"{where}/chunk_size", f"expected a positive integer, found {chunk_size}")
    al = align_to_reader(weights, genotypes, keep_ambiguous=keep_ambiguous, max_mismatch=max_mismatch,
                         where=where)
    if samples is None:
        rows = np.arange(genotypes.n_samples)
    else:
        pos = {s: i for i, s in enumerate(genotypes.samples)}
        wanted = [str(s) for s in samples]
        rows = np.array([pos[s] for s in wanted if s in pos], dtype=np.int64)
        if len(rows) < len(wanted):
            log.info("%s: %d of %d requested people are not in the genotypes", where, len(wanted) - len(rows),
                     len(wanted))
        if rows.size == 0:
            raise fail(f"{where}/samples", f"none of the {len(wanted)} requested people is in the genotypes "
                                           f"({genotypes.n_samples} samples)")
    table = al.table
    order = np.argsort(table["ref_index"].to_numpy(), kind="stable")  # file order: sequential reads
    ref_index = table["ref_index"].to_numpy()[order]
    counted = table["counted"].to_numpy()[order]
    w = table[cols].to_numpy(dtype=np.float64)[order]
    n = rows.size
    sums = np.zeros((n, len(cols)))
    allele_ct = np.zeros(n)
    dosage_sum = np.zeros(n)
    for start in range(0, len(ref_index), chunk_size):
        sl = slice(start, start + chunk_size)
        x = np.asarray(genotypes.dosages(ref_index[sl]), dtype=np.float64)[rows]
        x = np.where(counted[sl], x, 2.0 - x)  # dosage of the named allele
        miss = np.isnan(x)
        if miss.any():
            obs = ~miss
            allele_ct += 2.0 * obs.sum(axis=1)
            dosage_sum += np.where(obs, x, 0.0).sum(axis=1)
            if mean_impute:
                with np.errstate(invalid="ignore"):
                    mean = np.nanmean(x, axis=0)
                x = np.where(miss, np.nan_to_num(mean), x)
            else:
                x = np.where(miss, 0.0, x)
        else:
            allele_ct += 2.0 * x.shape[1]
            dosage_sum += x.sum(axis=1)
        sums += x @ w[sl]
    ids = [genotypes.samples[i] for i in rows]
    fam = getattr(genotypes, "fam", None)
    fids = fam["fid"].to_numpy()[rows].tolist() if fam is not None and len(fam) == genotypes.n_samples else ids
    out = pd.DataFrame({"#FID": fids, "IID": ids, "ALLELE_CT": allele_ct.astype(np.int64),
                        "NAMED_ALLELE_DOSAGE_SUM": dosage_sum})
    # plink2's average: over every scored allele (2 per variant) with mean imputation, over the
    # non-missing ones (ALLELE_CT) with no-mean-imputation
    denom = np.full(n, 2.0 * len(ref_index)) if mean_impute else allele_ct
    with np.errstate(invalid="ignore", divide="ignore"):
        avg = sums / denom[:, None]
    for k, c in enumerate(cols):
        out[f"{c}_AVG"] = avg[:, k]
    for k, c in enumerate(cols):
        out[f"{c}_SUM"] = sums[:, k]
    report = {**al.counts, "n_scored": int(n), "score_columns": cols, "mean_impute": bool(mean_impute)}
    return ScoreResult(out, {}, report, al.missing, cols)

"""Clumping + thresholding (C+T) weights: PLINK ``--clump`` once, then a grid of P thresholds."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd

from bma_genetics._check import check_columns, fail
from bma_genetics.ld import clump
from bma_genetics.ld.readers import GenotypeReader

log = logging.getLogger(__name__)

#: The default grid of P thresholds (PRSice's usual grid, from genome-wide significance to all).
DEFAULT_THRESHOLDS: tuple[float, ...] = (5e-8, 1e-6, 1e-4, 1e-3, 0.01, 0.05, 0.1, 0.5, 1.0)


def threshold_name(p: float) -> str:
    """The score column of a P threshold: ``ct_5e-08``, ``ct_0.01``, ``ct_1``."""
    return f"ct_{p:g}"


def ct_weights(
    sumstats: pd.DataFrame,
    ld: GenotypeReader,
    *,
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
    r2: float = 0.1,
    window_kb: float = 250,
) -> pd.DataFrame:
    """Clumping + thresholding weights for a grid of P thresholds.

    Every variant with P at or below the largest threshold is clumped once
    (:func:`bma_genetics.ld.clump`, PLINK's greedy ``--clump`` with ``p1 = p2 =`` the largest
    threshold, ``r2``, ``window_kb``; LD from ``ld``); the score at threshold :math:`t` weights
    the index variants with :math:`P \\le t` by their GWAS ``beta`` (0 otherwise), as PRSice and
    plink2 ``--score`` with ``--q-score-range`` do.

    Parameters
    ----------
    sumstats : DataFrame
        ``chromosome, base_pair_location, effect_allele, other_allele, beta, p_value``
        (``variant_id`` kept when present).
    ld : GenotypeReader
        LD source (:func:`bma_genetics.ld.open_ld_source`): in-sample genotypes over the GWAS's
        analysed samples, or a panel. Variants absent from it are not clumped and left out.
    thresholds : sequence of float, default=DEFAULT_THRESHOLDS
    r2 : float, default=0.1
    window_kb : float, default=250

    Returns
    -------
    DataFrame
        One row per index variant: ``variant_id, chromosome, base_pair_location,
        effect_allele, other_allele, beta, p_value`` and one weight column per threshold
        (:func:`threshold_name`).
    """
    check_columns("ct_weights/sumstats", sumstats,
                  ["chromosome", "base_pair_location", "effect_allele", "other_allele", "beta", "p_value"])
    ts = sorted(float(t) for t in thresholds)
    if not ts or ts[0] <= 0 or ts[-1] > 1:
        raise fail("ct_weights/thresholds", f"expected P thresholds in (0, 1], found {list(thresholds)}")
    ss = sumstats.dropna(subset=["beta", "p_value"])
    ss = ss[ss["p_value"] <= ts[-1]].reset_index(drop=True)
    if ss.empty:
        raise fail("ct_weights/sumstats", f"no variant with P <= {ts[-1]:g}")
    # clump's p1 is strict (P < p1): P == the largest threshold must be included, so clump on
    # P kept just below 1 (order unchanged) with p1 just above the threshold (at most 1)
    ss["_p_clump"] = np.minimum(ss["p_value"].to_numpy(float), np.nextafter(1.0, 0.0))
    top = min(float(np.nextafter(ts[-1], np.inf)), 1.0)
    idx = clump(ss, ld, p1=top, p2=top, r2=r2, window_kb=window_kb, p_column="_p_clump")
    keep = [c for c in ("variant_id", "rsid", "chromosome", "base_pair_location", "effect_allele", "other_allele",
                        "beta", "p_value") if c in idx.columns]
    out = idx[keep].copy()
    for t in ts:
        out[threshold_name(t)] = np.where(out["p_value"].to_numpy() <= t, out["beta"].to_numpy(float), 0.0)
    log.info("ct_weights: %d index variants; per threshold %s", len(out),
             {threshold_name(t): int((out["p_value"] <= t).sum()) for t in ts})
    return out.sort_values(["chromosome", "base_pair_location"], key=_chrom_key).reset_index(drop=True)


def _chrom_key(col: pd.Series) -> pd.Series:
    if col.name == "chromosome":
        from bma_genetics.stats import chromosome_rank

        return pd.Series(chromosome_rank(col.astype(str).to_numpy()), index=col.index)
    return col

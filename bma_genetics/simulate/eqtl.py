"""Simulated cis-eQTL summary statistics for genes at the BMFF loci, with their truth.

For each named BMA gene with a planted BMFF causal variant, two genes are expressed in an
independent eQTL sample (the first :data:`N_EQTL_MAX` people of the outcome sample, another
draw of the same population):

- the gene itself, whose expression's causal variant **is** the BMFF causal variant
  (``shares_bmff_causal = true``: coloc should find H4, SMR a causal signal, HEIDI no
  heterogeneity);
- a neighbour ``<gene>-DT``, whose causal variant is another common variant of the window in
  low LD with every BMFF causal variant there (r^2 < 0.01; ``shares_bmff_causal = false``: coloc
  should find H3).

Expression is standardised: :math:`e = b\\,x_c / \\mathrm{sd}(x_c) + \\varepsilon` with the
variance explained by the causal variant drawn uniformly in [0.04, 0.10] and
:math:`\\varepsilon \\sim N(0, 1 - h^2)`. Per-variant least-squares effects over every variant of
the window are written in SMR's ``--query`` layout (:func:`bma_genetics.io.finemap.write_eqtl`)
to ``eqtl/eqtl.smr.txt.gz`` (effect allele: ALT, GRCh37) and the truth to
``truth/eqtl_genes.tsv``, with ``eqtl/eqtl.json`` giving the sample size and layout.

The randomness comes from its own named stream (``_rng(seed, "eqtl")`` in ``simulate.api``),
so every other output of a preset at a seed is what it was before this module existed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from bma_genetics.io.finemap import write_eqtl

#: Variance of standardised expression explained by the eQTL causal variant: uniform on this range.
EQTL_H2 = (0.04, 0.10)
#: Largest r^2 between a distinct eQTL's causal variant and any BMFF causal variant of its window.
DISTINCT_MAX_R2 = 0.01
#: Size of the eQTL sample: the first this many people of the outcome sample (GTEx tissues hold
#: 500-700 donors, eQTLGen's blood 31,684).
N_EQTL_MAX = 2000
TRUTH_COLUMNS = ["gene_id", "gene_name", "chromosome", "gene_position", "causal_variant", "shares_bmff_causal",
                 "bmff_gene", "bmff_causal_variant", "r2_with_bmff_causal", "variance_explained", "beta"]


def _regress(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares slope and standard error of ``y`` on each row of ``x`` (with an intercept)."""
    n = y.size
    xc = x - x.mean(axis=1, keepdims=True)
    yc = y - y.mean()
    sxx = np.einsum("ij,ij->i", xc, xc)
    sxy = xc @ yc
    with np.errstate(divide="ignore", invalid="ignore"):
        beta = sxy / sxx
        rss = yc @ yc - beta * sxy
        se = np.sqrt(rss / (n - 2) / sxx)
    return beta, se


def simulate_eqtl(
    root: Path,
    segments: list,
    variants: pd.DataFrame,
    causal: pd.DataFrame,
    genes: pd.DataFrame,
    load_genotypes: Callable[[int], np.ndarray],
    rng: np.random.Generator,
) -> dict[str, Any]:
    """Write ``eqtl/eqtl.smr.txt.gz``, ``eqtl/eqtl.json`` and ``truth/eqtl_genes.tsv``.

    Parameters
    ----------
    root : Path
        The cohort directory being written.
    segments : list of Segment
        The autosomal windows (those with genotypes from ``load_genotypes``).
    variants : DataFrame
        ``variant_id, chromosome, position, ref, alt, segment`` of every variant, in file order.
    causal : DataFrame
        The BMFF causal variants (``variant_id, gene``; named-gene ones have a gene).
    genes : DataFrame
        ``gene_name, start`` of the BMA genes (GRCh37).
    load_genotypes : callable
        ``segment index -> (n_variants_of_segment, n_eqtl) ALT counts`` of the eQTL sample.
    rng : numpy.random.Generator
        This module's own stream.

    Returns
    -------
    dict
        Sizes for ``cohort.json``: ``n_eqtl_sample``, ``n_genes``, ``n_shared``, ``n_distinct``.
    """
    named = causal[causal["gene"].astype(str) != ""]
    start_of = dict(zip(genes["gene_name"].astype(str), genes["start"].astype(np.int64), strict=False))
    rows, truth = [], []
    n_sample = 0
    k = 0
    for seg in segments:
        seg_causal = named[named["variant_id"].isin(variants.loc[variants["segment"] == seg.index, "variant_id"])]
        if seg_causal.empty:
            continue
        sub = variants[variants["segment"] == seg.index].reset_index(drop=True)
        x = load_genotypes(seg.index)[:, :N_EQTL_MAX].astype(np.float64)
        n_sample = x.shape[1]
        af = x.mean(axis=1) / 2
        maf = np.minimum(af, 1 - af)
        sd = x.std(axis=1)
        xs = np.where(sd[:, None] > 0, (x - x.mean(axis=1, keepdims=True)) / np.where(sd > 0, sd, 1)[:, None], 0.0)
        all_causal_rows = np.flatnonzero(sub["variant_id"].isin(causal["variant_id"]).to_numpy())
        r2_any = np.max((xs @ xs[all_causal_rows].T / n_sample) ** 2, axis=1) if len(all_causal_rows) else np.zeros(len(sub))
        for rec in seg_causal.drop_duplicates("variant_id").itertuples(index=False):
            c = int(np.flatnonzero(sub["variant_id"].to_numpy() == rec.variant_id)[0])
            distinct_cand = np.flatnonzero((maf >= 0.05) & (r2_any < DISTINCT_MAX_R2))
            picks = [(str(rec.gene), c, True)]
            if len(distinct_cand):
                picks.append((f"{rec.gene}-DT", int(rng.choice(distinct_cand)), False))
            for name, j, shared in picks:
                k += 1
                h2 = float(rng.uniform(*EQTL_H2))
                sign = 1.0 if rng.random() < 0.5 else -1.0
                b_std = sign * np.sqrt(h2)
                y = b_std * xs[j] + rng.normal(0.0, np.sqrt(1 - h2), n_sample)
                y = (y - y.mean()) / y.std()
                beta, se = _regress(x, y)
                ok = np.isfinite(beta) & np.isfinite(se) & (se > 0)
                gene_id = f"ENSGSIM{k:05d}"
                pos = int(start_of.get(str(rec.gene), int(sub["position"].iloc[c]))) + (0 if shared else 15_000)
                p = 2 * stats.norm.sf(np.abs(beta[ok] / se[ok]))
                rows.append(pd.DataFrame({
                    "gene_id": gene_id, "gene_name": name, "chromosome": seg.chromosome,
                    "base_pair_location": sub["position"].to_numpy()[ok], "variant_id": sub["variant_id"].to_numpy()[ok],
                    "effect_allele": sub["alt"].to_numpy()[ok], "other_allele": sub["ref"].to_numpy()[ok],
                    "effect_allele_frequency": af[ok], "beta": beta[ok], "standard_error": se[ok], "p_value": p,
                    "gene_position": pos,
                }))
                r2c = float((xs[j] @ xs[c] / n_sample) ** 2)
                truth.append({"gene_id": gene_id, "gene_name": name, "chromosome": seg.chromosome, "gene_position": pos,
                              "causal_variant": str(sub["variant_id"].iloc[j]), "shares_bmff_causal": shared,
                              "bmff_gene": str(rec.gene), "bmff_causal_variant": str(rec.variant_id),
                              "r2_with_bmff_causal": round(r2c, 6), "variance_explained": round(h2, 6),
                              "beta": round(float(b_std / sd[j]), 6)})
    (root / "eqtl").mkdir(exist_ok=True)
    table = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(
        columns=["gene_id", "gene_name", "chromosome", "base_pair_location", "variant_id", "effect_allele",
                 "other_allele", "effect_allele_frequency", "beta", "standard_error", "p_value", "gene_position"])
    write_eqtl(table, root / "eqtl/eqtl.smr.txt.gz")
    info = {"layout": "smr", "file": "eqtl/eqtl.smr.txt.gz", "n": int(n_sample), "genome_build": "GRCh37",
            "effect_allele": "ALT", "trait_scale": "standardised expression (sd 1)",
            "truth": "truth/eqtl_genes.tsv", "h2_range": list(EQTL_H2), "distinct_max_r2": DISTINCT_MAX_R2}
    (root / "eqtl/eqtl.json").write_text(json.dumps(info, indent=1) + "\n")
    pd.DataFrame(truth, columns=TRUTH_COLUMNS).to_csv(root / "truth/eqtl_genes.tsv", sep="\t", index=False,
                                                       lineterminator="\n")
    shared = sum(t["shares_bmff_causal"] for t in truth)
    return {"n_eqtl_sample": int(n_sample), "n_genes": len(truth), "n_shared": int(shared),
            "n_distinct": len(truth) - int(shared)}

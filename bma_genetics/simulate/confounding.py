"""Planted confounding: a regional environment on BMFF that follows fine-scale ancestry.

Off by default (``confounding: 0``): nothing here runs and the cohort is as without it. With
``confounding = c > 0`` ancestry group 1 is two regions, A1 and A2 (each of effective size ``ne``),
that split ``t = 2 ne confounding_fst`` generations ago from group 1's population (msprime; the
expected F_ST between them is ``confounding_fst``, default 3e-5: the genetic axis is weak enough
that the 40 PCs of ~20,000 array SNPs barely see it on the demo cohort). Half of group 1's cohort
members live in region 1, the other half (and the outcome sample's group 1, and the founders of
the planted relatives) in region 2. Every BMFF site is shifted by ``c`` latent SD units between
the regions (``+c/2`` in region 2, ``-c/2`` in region 1; a child of a region-1 parent and a
region-2 founder sits in between, ``0``; group 2: 0), added to the measurement part ``m`` of the
trait model (``traits.to_fat_fraction``), so it is in the true BMFF, the IDPs and the images, not
in the diagnoses. No covariate records the region: the GWAS's covariates leave it in, so it inflates
every variant's chi^2 by about ``N 2 F_ST c^2 / (4 var(y))``, beyond the polygenic signal -- the
stratification the LDSC intercept detects.

Truth: ``truth/confounding.json`` (the model, ``c``, F_ST, split time, counts) and
``truth/confounding_regions.tsv`` (``eid, region, effect``: region 1 or 2, 1.5 for the children
between, blank for group 2; effect in latent SD units). No random numbers are drawn here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bma_genetics.simulate.genotypes import Individuals


def regions(people: Individuals, cfg: dict[str, Any]) -> tuple[int, float] | None:
    """``(n_a1, t)`` for ``genotypes.simulate_segment(regions=...)``, or None when off.

    Region 1 is the first half of group 1's cohort members in simulation order (the cohort's
    slots are a random permutation of it); ``t = 2 ne confounding_fst`` generations.
    """
    if not cfg.get("confounding", 0):
        return None
    c_a = int(np.sum(people.cohort_group == 1))
    return c_a // 2, 2.0 * cfg["ne"] * cfg["confounding_fst"]


def region_of_cohort(people: Individuals, n_a1: int) -> np.ndarray:
    """Region of every cohort slot: 1, 2, 1.5 (child of a region-1 parent and a region-2 founder),
    NaN for group 2. Planted siblings descend from two founders (region 2)."""
    sim = people.cohort
    out = np.where(sim < n_a1, 1.0, 2.0)
    out[people.cohort_group != 1] = np.nan
    for s1, s2, _, _ in people.sib_pairs:
        out[[s1, s2]] = 2.0
    for parent, child, _ in people.po_pairs:
        out[child] = (out[parent] + 2.0) / 2.0
    return out


def environment(region: np.ndarray, c: float) -> np.ndarray:
    """The regional effect on every BMFF site, latent SD units: ``c (region - 1.5)``; 0 for NaN."""
    return np.where(np.isnan(region), 0.0, c * (np.nan_to_num(region, nan=1.5) - 1.5))


def write_truth(root: Path, eids: list[str], region: np.ndarray, effect: np.ndarray, cfg: dict[str, Any],
                n_a1: int, split_time: float) -> None:
    """``truth/confounding.json`` and ``truth/confounding_regions.tsv`` (eid order)."""
    table = pd.DataFrame({"eid": eids, "region": region, "effect": np.round(effect, 6)})
    table = table.iloc[np.argsort(np.asarray(eids, np.int64), kind="stable")]
    table.to_csv(Path(root) / "truth/confounding_regions.tsv", sep="\t", index=False, lineterminator="\n",
                 na_rep="")
    g1 = ~np.isnan(region)
    summary = {
        "model": "ancestry group 1 = regions A1 and A2 (effective size ne each) split split_time_generations "
                 "ago; every BMFF site shifted by confounding latent SD units between them (+c/2 region 2, "
                 "-c/2 region 1), in the measurement part m of the trait model; no covariate records the region",
        "confounding": cfg["confounding"],
        "confounding_fst": cfg["confounding_fst"],
        "split_time_generations": split_time,
        "n_cohort_region1": int(np.sum(region == 1)),
        "n_cohort_region2": int(np.sum(region == 2)),
        "n_cohort_between": int(np.sum(region == 1.5)),
        "region1_simulated_individuals": n_a1,
        "effect_variance_group1_latent": round(float(np.var(effect[g1])), 6),
        "table": "truth/confounding_regions.tsv",
        "expected": "GWAS chi^2 inflated by about N 2 F_ST c^2 / (4 var(y)) at every variant: the LDSC "
                    "intercept rises above 1; h2 (truth/heritability.tsv) counts the effect in the phenotypic "
                    "variance",
    }
    (Path(root) / "truth/confounding.json").write_text(json.dumps(summary, indent=1) + "\n")

"""Calvarial bone marrow intensity: a heritable trait of the head T1 (Kaufmann 2024), with its truth.

Model (cohort participants, genotype order)
-------------------------------------------
The marrow of the skull vault has a T1 intensity (0-255 scale, as FreeSurfer's conformed T1 that
the study sampled) that rises with marrow adiposity::

    y = MEAN + SCALE * (g + e + AGE_PER_YEAR * (age - 64) + MALE * male),   clipped to [40, 170]

``g`` is genetic: :data:`N_MAJOR` variants drawn from the cohort's simulated causal variants (the
BMFF ones, so some loci are shared with the BMFF sites; common ones first) explain
:data:`MAJOR_SHARE` of the latent variance between them, one of them in females only (Kaufmann
2024 found sex-specific loci), and every other causal variant a small share, together
:data:`H2` - :data:`MAJOR_SHARE`. ``var(g) = H2`` over the cohort (rescaled on the realised
genotypes, as the BMFF traits are), ``e ~ N(0, 1 - H2)``.

The cohort also carries what a biobank would release: ``participants/calvarial_idp.parquet``,
the measured calvarial BMA of every imaged participant, ``IDP_INTERCEPT + IDP_SLOPE * y +
N(0, IDP_NOISE_SD)``: the relation between this package's measurement on the synthetic head
images and the true intensity (partial volume at 2-mm voxels mixes a little of the dark bone
tables into the marrow samples; :mod:`bma_genetics.simulate.heads`, docs/calvarial.md).

Files (new; every other output is unchanged: the randomness comes from the stream
``np.random.default_rng([seed, crc32("calvarial")])``)
-------------------------------------------------------------------------------------------
- ``truth/calvarial_true.parquet``: ``eid, marrow_intensity, genetic_value, imaged``
  (``genetic_value`` in latent SD units);
- ``truth/calvarial_causal.tsv``: ``variant_id, chromosome, base_pair_location, effect_allele,
  other_allele, gene, beta_female, beta_male, effect_allele_frequency, major`` (per allele, in
  latent SD units; ``major``: one of the :data:`N_MAJOR`);
- ``truth/calvarial.json``: the model's constants, realised h2, the IDP relation;
- ``participants/calvarial_idp.parquet``: ``eid, calvarial_bma`` (imaged participants; written by
  :func:`bma_genetics.io.calvarial.write_calvarial_table`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bma_genetics.io.calvarial import CALVARIAL_TRAIT, write_calvarial_table

#: Name of the random stream (``api._rng(seed, RNG_NAME)``).
RNG_NAME = "calvarial"
#: Latent heritability and the share of the latent variance of the major variants together.
H2 = 0.35
MAJOR_SHARE = 0.12
N_MAJOR = 8
#: Intensity scale: mean and intensity units per latent SD; clipping range.
MEAN = 100.0
SCALE = 22.0
LIMITS = (40.0, 170.0)
#: Covariate effects in latent SD units.
AGE_PER_YEAR = 0.025
MALE = 0.2
#: The released IDP: the package's measurement of the synthetic heads against the true intensity
#: (benchmarks/calvarial_recovery.py, the shipped network, 106 clean heads at 1.5 mm: slope 0.883,
#: intercept 2.78, residual SD 2.69; docs/calvarial.md).
IDP_INTERCEPT = 2.8
IDP_SLOPE = 0.88
IDP_NOISE_SD = 2.7


def simulate_calvarial_truth(root: Path, causal: pd.DataFrame, cx: np.ndarray, base: pd.DataFrame,
                             rng: np.random.Generator) -> dict[str, Any]:
    """Write the calvarial truth and the cohort's calvarial IDP table (module docstring).

    Parameters
    ----------
    root : Path
        The cohort being written.
    causal : DataFrame
        The simulated causal variants (``variant_id, chromosome, base_pair_location,
        effect_allele, other_allele, gene, pooled_af, effect_allele_frequency``), one row per
        row of ``cx``.
    cx : ndarray of shape (n_causal, n_participants)
        Effect-allele counts of the causal variants in the cohort (genotype order).
    base : DataFrame
        The cohort's participants (``eid, age, sex, imaged``), genotype order.
    rng : numpy Generator
        This module's own stream.

    Returns
    -------
    dict
        The truth written to ``truth/calvarial.json``.
    """
    n = len(base)
    male = base["sex"].to_numpy(float) == 1
    k = len(causal)
    af = cx.mean(axis=1) / 2 if k else np.zeros(0)
    common = np.flatnonzero((af > 0.1) & (af < 0.9))
    pool = common if len(common) >= N_MAJOR else np.arange(k)
    major = np.sort(rng.choice(pool, size=min(N_MAJOR, len(pool)), replace=False)) if k else np.zeros(0, int)
    x = (cx.astype(np.float64) - 2 * af[:, None]) / np.sqrt(np.maximum(2 * af * (1 - af), 1e-9))[:, None]
    is_major = np.zeros(k, bool)
    is_major[major] = True
    female_only = int(major[0]) if len(major) else -1
    b = np.where(is_major, rng.choice([-1.0, 1.0], k) * np.sqrt(MAJOR_SHARE / max(len(major), 1)),
                 rng.standard_normal(k) * np.sqrt((H2 - MAJOR_SHARE) / max(k - len(major), 1)))
    bf, bm = b.copy(), b.copy()
    if female_only >= 0:
        bf[female_only] *= np.sqrt(2.0)  # the female-only variant explains its share in the pooled sample
        bm[female_only] = 0.0
    g = np.where(male, x.T @ bm, x.T @ bf) if k else np.zeros(n)
    # rescale so var(g) = H2 on the realised genotypes (LD between causal variants moves it)
    f = np.sqrt(H2 / g.var()) if k and g.var() > 0 else 1.0
    g, bf, bm = g * f, bf * f, bm * f
    e = rng.standard_normal(n) * np.sqrt(1 - H2)
    latent = g + e + AGE_PER_YEAR * (base["age"].to_numpy(float) - 64) + MALE * male
    y = np.clip(MEAN + SCALE * latent, *LIMITS)
    eids = base["eid"].astype(str).to_numpy()
    order = np.argsort(eids.astype(np.int64), kind="stable")
    imaged = base["imaged"].to_numpy(bool)
    idp = IDP_INTERCEPT + IDP_SLOPE * y + rng.standard_normal(n) * IDP_NOISE_SD
    pd.DataFrame({"eid": eids, "marrow_intensity": np.round(y, 4), "genetic_value": np.round(g, 6),
                  "imaged": imaged}).iloc[order].reset_index(drop=True).to_parquet(
        root / "truth" / "calvarial_true.parquet", index=False)
    write_calvarial_table(pd.DataFrame({"eid": eids, CALVARIAL_TRAIT: np.round(np.clip(idp, 0, 255), 4)})
                          .iloc[order][imaged[order]].reset_index(drop=True),
                          root / "participants" / "calvarial_idp.parquet")
    per_allele = 1 / np.sqrt(np.maximum(2 * af * (1 - af), 1e-9))
    rows = causal[["variant_id", "chromosome", "base_pair_location", "effect_allele", "other_allele", "gene"]].copy()
    rows["beta_female"] = np.round(bf * per_allele, 6)
    rows["beta_male"] = np.round(bm * per_allele, 6)
    rows["effect_allele_frequency"] = np.round(af, 6)
    rows["major"] = is_major
    rows.to_csv(root / "truth" / "calvarial_causal.tsv", sep="\t", index=False, lineterminator="\n")
    truth = {
        "trait": CALVARIAL_TRAIT,
        "model": "y = mean + scale * (g + e + age_per_year * (age - 64) + male * sex), clipped; "
                 "g from the causal variants of truth/calvarial_causal.tsv (per-allele effects in latent SD units)",
        "mean": MEAN, "scale": SCALE, "limits": list(LIMITS), "age_per_year": AGE_PER_YEAR, "male": MALE,
        "h2_latent": H2, "major_share": MAJOR_SHARE, "n_major": int(len(major)),
        "female_only_variant": str(causal["variant_id"].iloc[female_only]) if female_only >= 0 else None,
        "realised_h2_latent": round(float(g.var() / (g + e).var()), 4),
        "idp": {"table": "participants/calvarial_idp.parquet", "intercept": IDP_INTERCEPT, "slope": IDP_SLOPE,
                "noise_sd": IDP_NOISE_SD, "n": int(imaged.sum())},
    }
    (root / "truth" / "calvarial.json").write_text(json.dumps(truth, indent=1) + "\n")
    return truth

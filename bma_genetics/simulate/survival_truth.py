"""``truth/disease_genetic_effects.tsv``: the hazard ratio per SD of each exposure's genetic value.

The onset model (:mod:`bma_genetics.simulate.diseases`) puts ``log_hr`` per SD of the latent
true BMFF ``z = g + e`` into the hazard. A polygenic score predicts only ``g``; to first order
in the cumulative incidence (a rare disease, where the selection of the frail out of the risk
set is negligible) the hazard given ``g`` alone is proportional with log hazard ratio
``log_hr`` per unit of ``g``, i.e. ``log_hr * sd(g)`` per SD of ``g``: what a perfect score of
the exposure would show. A real score, correlated ``r`` with ``g``, shows about
``log_hr * sd(g) * r`` per SD. No randomness is drawn here: existing outputs do not change.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

#: Columns of ``truth/disease_genetic_effects.tsv``.
COLUMNS = ["disease", "exposure", "log_hazard_ratio_per_sd", "exposure_h2", "genetic_sd",
           "log_hazard_ratio_per_sd_genetic", "hazard_ratio_per_sd_genetic"]


def disease_genetic_effects(effects: pd.DataFrame, z_genetic: dict[str, np.ndarray], h2: dict[str, float]) -> pd.DataFrame:
    """One row per disease of ``effects`` (``truth/disease_effects.tsv``).

    Parameters
    ----------
    effects : DataFrame
        ``disease, exposure, log_hazard_ratio_per_sd``.
    z_genetic : dict of trait -> ndarray
        The genetic part of each exposure's ``z`` (latent SD units) in the cohort.
    h2 : dict of trait -> float
        The stated heritability of each exposure on the latent scale.

    Returns
    -------
    DataFrame
        :data:`COLUMNS`: ``genetic_sd`` the realised SD of ``g`` in the cohort (near
        ``sqrt(h2)``), ``log_hazard_ratio_per_sd_genetic = log_hazard_ratio_per_sd * genetic_sd``.
    """
    rows = []
    for rec in effects.to_dict("records"):
        x = rec["exposure"]
        sd = float(np.std(z_genetic[x], ddof=1))
        b = float(rec["log_hazard_ratio_per_sd"]) * sd
        rows.append({"disease": rec["disease"], "exposure": x, "log_hazard_ratio_per_sd": rec["log_hazard_ratio_per_sd"],
                     "exposure_h2": round(float(h2[x]), 6), "genetic_sd": round(sd, 6),
                     "log_hazard_ratio_per_sd_genetic": round(b, 6), "hazard_ratio_per_sd_genetic": round(float(np.exp(b)), 6)})
    return pd.DataFrame(rows, columns=COLUMNS)


def write_disease_genetic_effects(root: Path, effects: pd.DataFrame, z_genetic: dict[str, np.ndarray],
                                  h2: dict[str, float]) -> Path:
    """Write :func:`disease_genetic_effects` to ``root/truth/disease_genetic_effects.tsv``."""
    path = Path(root) / "truth" / "disease_genetic_effects.tsv"
    disease_genetic_effects(effects, z_genetic, h2).to_csv(path, sep="\t", index=False, lineterminator="\n")
    return path

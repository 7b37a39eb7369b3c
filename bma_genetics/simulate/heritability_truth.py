"""The simulated SNP heritability and genetic correlation in the analysed sample: the LDSC target.

``truth/heritability.json`` states the model's population h2 on the latent scale. What LD score
regression on the cohort's GWAS estimates is narrower: the genetic variance of the genetic values
the simulator drew over the phenotypic variance of the *measured* IDP after the GWAS's covariates,
in the people a GWAS analyses. This module computes that from the simulated values and writes

* ``truth/heritability.tsv``: ``trait, h2, h2_autosomal, var_genetic, var_genetic_autosomal,
  var_phenotype, n`` (fat-fraction units squared);
* ``truth/genetic_correlation.tsv``: ``trait1, trait2, rg, rg_autosomal`` (every pair of traits);
* ``truth/genetic_values.parquet``: ``eid`` and every trait's genetic value (fat-fraction units,
  autosomal variants plus the chrX variant), everyone in the cohort, eid order.

Definitions (all in the *analysed sample*, see :func:`analysed_mask`):

* genetic value of a trait: the autosomal causal variants' values (``G`` of
  ``bma_genetics.simulate.traits``) plus the sex-specific chrX variant's, times the site's
  fat-fraction scale ``s``, averaged over base sites as the trait is;
* phenotypic variance: the variance of the measured IDP (fat fraction, before any transform) left
  after an ordinary least-squares fit of the GWAS's default covariates the simulator knows
  (intercept, age, age^2, sex, age x sex, imaging-centre indicators, UK BiLEVE array); what is
  left includes BMI, the imaging-date drift, measurement noise and any planted confounding;
* ``h2 = var_genetic / var_phenotype``; ``h2_autosomal`` leaves the chrX variant out: LD scores
  on the autosomes (the heritability stage's default) estimate ``h2_autosomal``;
* ``rg`` = correlation of two traits' genetic values; ``rg_autosomal`` of their autosomal ones.

No random numbers are drawn here: writing these tables changes no other output.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from bma_genetics.simulate import traits as tr
from bma_genetics.sites import all_traits


def analysed_mask(base: pd.DataFrame) -> np.ndarray:
    """People a GWAS of the cohort analyses: genetic grouping 22006 = 1 (European), not
    withdrawn, imaged, genetic sex = reported sex, no planted heterozygosity/missingness outlier
    or aneuploidy, and one of each planted related pair (``used_in_pca``).

    Parameters
    ----------
    base : DataFrame
        The simulator's participant frame (genotype order) with ``genetic_grouping``,
        ``withdrawn``, ``imaged``, ``sex``, ``genetic_sex``, ``het_missing_outlier``,
        ``aneuploidy`` and ``used_in_pca``.

    Returns
    -------
    ndarray of bool, shape (n,)
    """
    return ((base["genetic_grouping"].to_numpy() == 1) & ~base["withdrawn"].to_numpy(bool)
            & base["imaged"].to_numpy(bool) & (base["sex"].to_numpy() == base["genetic_sex"].to_numpy())
            & np.isnan(base["het_missing_outlier"].to_numpy(float)) & np.isnan(base["aneuploidy"].to_numpy(float))
            & (base["used_in_pca"].to_numpy() == 1))


def covariate_matrix(base: pd.DataFrame) -> np.ndarray:
    """The GWAS's default covariates the simulator knows (without PCs), with an intercept column."""
    age = base["age"].to_numpy(float)
    sex = base["sex"].to_numpy(float)
    centre = base["centre"].to_numpy()
    cols = [np.ones(len(base)), age, age**2, sex, age * sex]
    cols += [(centre == c).astype(float) for c in sorted(tr.CENTRE_OFFSET)[1:]]
    cols.append((base["genotyping_batch"].to_numpy(float) < 0).astype(float))
    return np.column_stack(cols)


def _residual_variance(y: np.ndarray, x: np.ndarray) -> float:
    beta, *_ = np.linalg.lstsq(x, y, rcond=None)
    return float(np.var(y - x @ beta))


def truth_tables(g_autosomal: np.ndarray, g_chrx: np.ndarray | None, idp: np.ndarray,
                 base: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(heritability, genetic_correlation, genetic values) tables of every BMFF trait.

    Parameters
    ----------
    g_autosomal : ndarray (n, base traits)
        Autosomal genetic values on the latent scale (genotype order).
    g_chrx : ndarray (n, base traits) or None
        The chrX variant's genetic values (latent scale), or None.
    idp : ndarray (n, 22)
        The measured IDP of every trait (``all_traits()`` order; NaN where not measured).
    base : DataFrame
        The participant frame (:func:`analysed_mask`, :func:`covariate_matrix`).
    """
    names = all_traits()
    w = tr.derivation_matrix()
    s = tr.base_scale()
    mask = analysed_mask(base)
    gx = np.zeros_like(g_autosomal) if g_chrx is None else g_chrx
    g_auto = (g_autosomal * s) @ w.T  # fat-fraction units, (n, 22)
    g_all = ((g_autosomal + gx) * s) @ w.T
    x = covariate_matrix(base)
    rows = []
    for i, t in enumerate(names):
        ok = mask & ~np.isnan(idp[:, i])
        vp = _residual_variance(idp[ok, i], x[ok])
        va, vaa = float(np.var(g_all[ok, i])), float(np.var(g_auto[ok, i]))
        rows.append({"trait": t, "h2": round(va / vp, 6), "h2_autosomal": round(vaa / vp, 6),
                     "var_genetic": float(f"{va:.6g}"), "var_genetic_autosomal": float(f"{vaa:.6g}"),
                     "var_phenotype": float(f"{vp:.6g}"), "n": int(ok.sum())})
    h2 = pd.DataFrame(rows)
    r_all = np.corrcoef(g_all[mask], rowvar=False)
    r_auto = np.corrcoef(g_auto[mask], rowvar=False)
    pairs = [{"trait1": names[a], "trait2": names[b], "rg": round(float(r_all[a, b]), 6),
              "rg_autosomal": round(float(r_auto[a, b]), 6)}
             for a in range(len(names)) for b in range(a + 1, len(names))]
    values = pd.DataFrame(g_all, columns=names)
    values.insert(0, "eid", base["eid"].astype(str).to_numpy())
    values = values.iloc[np.argsort(values["eid"].astype(np.int64).to_numpy(), kind="stable")]
    return h2, pd.DataFrame(pairs), values.reset_index(drop=True)


def write_truth(root: Path, h2: pd.DataFrame, rg: pd.DataFrame, values: pd.DataFrame) -> None:
    """``truth/heritability.tsv``, ``truth/genetic_correlation.tsv``, ``truth/genetic_values.parquet``."""
    h2.to_csv(Path(root) / "truth/heritability.tsv", sep="\t", index=False, lineterminator="\n")
    rg.to_csv(Path(root) / "truth/genetic_correlation.tsv", sep="\t", index=False, lineterminator="\n")
    values.to_parquet(Path(root) / "truth/genetic_values.parquet", index=False)

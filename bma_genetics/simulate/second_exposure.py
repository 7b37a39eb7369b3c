"""A second exposure sharing instruments with femoral-head BMFF, for multivariable MR.

Model (in the outcome sample, the people of the osteoporosis GWAS)
------------------------------------------------------------------
Bone mineral density (BMD, per population SD) is caused by femoral-head BMFF and has genetic
effects of its own::

    W = s (kappa z + g_own + e),   g_own = X_std a,   var(g_own) = H2_OWN,   var(e) = 1 - kappa^2 - H2_OWN

with ``z`` the latent femoral-head BMFF (per SD; its genetic part ``g_fh`` carries the BMFF
causal variants), ``a`` effects at a random share (:data:`OWN_SHARE`) of the simulated causal
variants (drawn anew, so some of BMD's variants are BMFF's and some are not) and ``s`` the
factor that makes W's SD 1 in the sample. BMD's genetic value ``g_W = s (kappa g_fh + g_own)``
therefore shares BMFF's instruments and adds its own: each causal variant's per-allele effect on
BMD is ``s (kappa beta_fh + a_own)``, with ``beta_fh`` its effect on femoral-head BMFF per SD
(``truth/causal_variants.tsv``).

A second binary outcome (``osteoporosis_mvmr``) has both direct effects::

    logit P(y = 1) = a0 + GAMMA_BMFF z + GAMMA_BMD W

so BMFF's total effect is ``GAMMA_BMFF + s kappa GAMMA_BMD`` and its direct effect (BMD held
fixed) ``GAMMA_BMFF``: multivariable MR of BMFF and BMD on this outcome estimates both direct
effects, univariable MR of BMFF the total one. ``a0`` gives the preset's case fraction. Scale:
GAMMA_BMFF per SD of the latent covariate-adjusted femoral-head BMFF (as ``truth/mr_truth.json``;
``direct_log_odds_per_fat_fraction`` divides it by that SD in fat-fraction units, the unit of the
cohort's BMFF GWAS), GAMMA_BMD per SD of BMD.

The BMD GWAS is what a GWAS of :data:`N_FACTOR` x the outcome sample's European-group size
would report: ``beta_hat = beta + error``, ``se = 1 / sqrt(N var(x))`` and P from
``beta_hat / se``, where

- ``beta`` is the variant's population marginal effect: the regression of the BMD genetic value
  of its own segment (the segments are simulated independently, so variants of other segments
  are unlinked to it) on its allele count among the outcome sample's European-group members
  (their LD and frequencies);
- ``error`` is N(0, se^2) at each variant and correlated between variants as their genotypes are
  (LD), as a GWAS's sampling error is: the regression on each variant of one standard-normal draw
  per European-group member (per segment), scaled by sqrt(n_European / N).

Three earlier choices made the file unlike a real GWAS: ``beta`` was the regression of the whole
genome's genetic value on the allele count in the mixed-ancestry sample, so every variant carried
(i) the ancestry groups' difference in BMD through its allele-frequency difference (stratification:
median chi2 35 on the demo preset, 45 % of its variants at P < 5e-6) and (ii) the chance correlation
with ~1,000 unlinked causal variants in 20,000 people (about 1.7 times the reported SE); and (iii)
the error was drawn independently per variant, so the lead variant of a region in LD carried the
largest of many draws (a winner's curse that biased multivariable MR towards zero).

Files (new; every other output of the cohort is unchanged, and the randomness comes from its own
stream ``np.random.default_rng([seed, crc32("second-exposure")])``)
------------------------------------------------------------------------------------------------
- ``outcome_gwas/bmd.tsv.gz`` (+ ``-meta.yaml``): the BMD GWAS above (GWAS-SSF, effect allele
  ALT, frequencies of the European group).
- ``outcome_gwas/osteoporosis_mvmr.tsv.gz`` (+ ``-meta.yaml``): logistic GWAS of the second outcome
  in the outcome sample's European-group members (the outcome itself is drawn for everyone).
- ``truth/mvmr_truth.json``: the direct effects per SD and per unit fat fraction, kappa, the total
  effect, the files.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bma_genetics.simulate import outcome as oc
from bma_genetics.simulate import writers as wr
from bma_genetics.simulate.diseases import _calibrate_intercept
from bma_genetics.stats import wald_neg_log10_p, wald_p

log = logging.getLogger(__name__)

#: Name of the random stream (``api._rng(seed, RNG_NAME)``).
RNG_NAME = "second-exposure"
#: Causal effect of femoral-head BMFF (per latent SD) on BMD (per SD, before rescaling by ``s``).
KAPPA = -0.35
#: Variance of BMD explained by its own variants (before rescaling).
H2_OWN = 0.25
#: Share of the simulated causal variants with an own effect on BMD.
OWN_SHARE = 0.4
#: Direct log-odds of ``osteoporosis_mvmr`` per SD of femoral-head BMFF and per SD of BMD.
GAMMA_BMD = -0.5
#: BMD GWAS sample size as a multiple of the outcome sample's.
N_FACTOR = 10


def _gwas_frame(common: dict[str, Any], ids: dict[str, Any], beta: np.ndarray, se: np.ndarray, eaf: np.ndarray,
                n: int) -> pd.DataFrame:
    """One block of a GWAS-SSF table; ``neg_log_10_p_value`` keeps P below float64's range (a strong
    variant of the large BMD GWAS has |z| > 38, where P underflows to 0)."""
    return pd.DataFrame({**common, "beta": beta, "standard_error": se, "effect_allele_frequency": eaf,
                         "p_value": wald_p(beta, se), "neg_log_10_p_value": wald_neg_log10_p(beta, se), **ids, "n": n})


def _write_ssf(root: Path, name: str, frame: pd.DataFrame, meta: dict[str, Any]) -> Path:
    import yaml

    path = root / "outcome_gwas" / f"{name}.tsv.gz"
    wr.write_gzip_text(path, frame.to_csv(sep="\t", index=False, float_format="%.6g", lineterminator="\n",
                                          na_rep="#NA"))
    meta = {"genome_assembly": "GRCh37", "coordinate_system": "1-based", **meta, "file_type": "GWAS-SSF v1.0",
            "data_file_name": path.name, "data_file_md5sum": hashlib.md5(path.read_bytes()).hexdigest(),
            "is_harmonised": False, "is_sorted": True}
    (root / "outcome_gwas" / f"{name}.tsv.gz-meta.yaml").write_text(yaml.safe_dump(meta, sort_keys=False))
    return path


def simulate_second_exposure(root: Path, scratch: Path, segments: list, variants: pd.DataFrame, cxo: np.ndarray,
                             trait_out: dict[str, Any], cfg: dict[str, Any], rng: np.random.Generator,
                             fh_index: int, causal_segment: np.ndarray, outcome_group: np.ndarray) -> dict[str, Any]:
    """Write the BMD GWAS, the second outcome's GWAS and ``truth/mvmr_truth.json`` (model above).

    Parameters
    ----------
    root, scratch : Path
        The cohort being written and its scratch folder (``outcome_{segment:04d}.npy``: the
        outcome sample's allele counts per autosomal segment).
    segments : list of Segment
        The autosomal windows of the outcome GWAS.
    variants : DataFrame
        Every variant (``segment``, ``chromosome``, ``position``, ``ref``, ``alt``, ``rsid``,
        ``variant_id``).
    cxo : ndarray of shape (n_causal, n_outcome)
        Allele counts of the causal variants in the outcome sample.
    trait_out : dict
        ``z_outcome_fh`` and ``g_outcome_fh`` (latent femoral-head BMFF and its genetic part),
        ``fh_per_allele`` (each causal variant's effect on it per ALT allele), ``sd_all``,
        ``scale_all``.
    cfg : dict
        ``mr_log_odds_per_sd`` (the direct BMFF effect), ``outcome_case_fraction``.
    rng : numpy Generator
        This module's own stream.
    fh_index : int
        Index of ``bmff_femoral_head`` among the traits.
    causal_segment : ndarray of shape (n_causal,)
        The segment of each causal variant (rows of ``cxo``).
    outcome_group : ndarray of shape (n_outcome,)
        Ancestry group of each outcome-sample member (1: European).

    Returns
    -------
    dict
        The truth written to ``truth/mvmr_truth.json``.
    """
    z = np.asarray(trait_out["z_outcome_fh"], float)
    g_fh = np.asarray(trait_out["g_outcome_fh"], float)
    fh_pa = np.asarray(trait_out["fh_per_allele"], float)
    causal_segment = np.asarray(causal_segment)
    eur = np.asarray(outcome_group) == 1
    n, n_eur = len(z), int(eur.sum())
    # BMD's own variants: effects at a random share of the causal variants (per SD of the allele count)
    m = cxo.shape[0]
    own = rng.random(m) < OWN_SHARE
    a = np.where(own, rng.standard_normal(m), 0.0)
    xc_causal = cxo.astype(np.float64)
    xc_causal -= xc_causal.mean(axis=1, keepdims=True)
    own_pa = a / np.maximum(xc_causal.std(axis=1), 1e-12)  # per allele
    g_own = own_pa @ xc_causal
    own_pa *= np.sqrt(H2_OWN) / max(float(g_own.std()), 1e-12)
    g_own = own_pa @ xc_causal
    e = rng.standard_normal(n) * np.sqrt(max(1 - KAPPA**2 - H2_OWN, 0.05))
    w_raw = KAPPA * z + g_own + e
    s = 1.0 / float(w_raw.std())
    w = s * w_raw
    bmd_pa = s * (KAPPA * fh_pa + own_pa)  # each causal variant's per-allele effect on BMD (per SD)
    gamma_fh = float(cfg["mr_log_odds_per_sd"])
    lin = gamma_fh * z + GAMMA_BMD * w
    a0 = _calibrate_intercept(lin, cfg["outcome_case_fraction"])
    y = (rng.random(n) < 1 / (1 + np.exp(-(a0 + lin)))).astype(np.int8)
    n_w = N_FACTOR * n_eur
    bmd_parts, y_parts = [], []
    for seg in segments:
        x = np.load(scratch / f"outcome_{seg.index:04d}.npy")
        sub = variants[variants["segment"] == seg.index]
        # the BMD genetic value of this segment's causal variants, among the European group
        rows = causal_segment == seg.index
        g_seg = bmd_pa[rows] @ xc_causal[rows][:, eur] if rows.any() else np.zeros(n_eur)
        g_seg = g_seg - g_seg.mean()
        # the sampling error of a GWAS is correlated between variants in LD as their genotypes are: the
        # regression of one draw of noise per person on each variant, scaled from n_eur people to N
        e_seg = rng.standard_normal(n_eur) * np.sqrt(n_eur / n_w)
        for lo in range(0, len(x), 2048):
            xb = x[lo:lo + 2048][:, eur].astype(np.float64)
            s_ = sub.iloc[lo:lo + 2048]
            common = {"chromosome": s_["chromosome"].to_numpy(), "base_pair_location": s_["position"].to_numpy(),
                      "effect_allele": s_["alt"].to_numpy(), "other_allele": s_["ref"].to_numpy()}
            ids = {"rsid": s_["rsid"].to_numpy(), "variant_id": s_["variant_id"].to_numpy()}
            eaf = xb.mean(axis=1) / 2
            xc = xb - xb.mean(axis=1, keepdims=True)
            var_x = (xc * xc).mean(axis=1)
            with np.errstate(divide="ignore", invalid="ignore"):
                b_true = (xc @ g_seg) / n_eur / var_x
                se = 1.0 / np.sqrt(n_w * var_x)
                b_hat = b_true + (xc @ e_seg) / n_eur / var_x
            ok = var_x > 0
            bmd_parts.append(_gwas_frame(common, ids, np.where(ok, b_hat, np.nan), np.where(ok, se, np.nan), eaf, n_w))
            total, cases = oc.genotype_tables(x[lo:lo + 2048][:, eur], y[eur])
            beta, se_y, _conv = oc.logistic_from_tables(total, cases)
            y_parts.append(_gwas_frame(common, ids, beta, se_y,
                                       (total[:, 1] + 2 * total[:, 2]) / (2 * total.sum(axis=1)), n_eur))
    bmd = pd.concat(bmd_parts, ignore_index=True).dropna(subset=["beta"])
    ys = pd.concat(y_parts, ignore_index=True)
    _write_ssf(root, "bmd", bmd, {
        "trait_description": ["bone mineral density (simulated, per SD)"], "sample_size": int(n_w),
        "sample_ancestry": ["European (simulated)"],
        "analysis_software": "bma_genetics.simulate.second_exposure (summary-level: population marginal effect, LD "
                             "of the outcome sample's European group, plus sampling error of N)",
        "adjusted_covariates": [],
        "author_notes": "Simulated BMD, caused by femoral-head BMFF and by variants of its own; truth in "
                        "truth/mvmr_truth.json. effect_allele is the ALT allele."})
    n_case = int(y[eur].sum())
    _write_ssf(root, "osteoporosis_mvmr", ys, {
        "trait_description": ["osteoporosis (simulated, direct effects of femoral-head BMFF and BMD)"],
        "sample_size": n_eur, "case_count": n_case, "control_count": int(n_eur - n_case),
        "sample_ancestry": ["European (simulated)"],
        "analysis_software": "bma_genetics.simulate (logistic regression, Newton-Raphson, intercept + ALT dosage)",
        "adjusted_covariates": [],
        "author_notes": "Simulated independent sample (the European group of the osteoporosis.tsv.gz sample); "
                        "direct effects of "
                        "femoral-head BMFF and BMD in truth/mvmr_truth.json. effect_allele is the ALT allele."})
    ff_per_sd = float(trait_out["sd_all"][fh_index] * trait_out["scale_all"][fh_index])
    kappa_sd = s * KAPPA  # BMD SDs per SD of femoral-head BMFF
    truth = {
        "exposures": ["bmff_femoral_head", "bmd"],
        "outcome": "osteoporosis_mvmr",
        "files": {"bmd": "outcome_gwas/bmd.tsv.gz", "outcome": "outcome_gwas/osteoporosis_mvmr.tsv.gz"},
        "direct_log_odds_per_sd": {"bmff_femoral_head": gamma_fh, "bmd": GAMMA_BMD},
        "direct_log_odds_per_fat_fraction": {"bmff_femoral_head": round(gamma_fh / ff_per_sd, 4)},
        "bmd_sd_per_bmff_sd": round(kappa_sd, 6),
        "total_log_odds_per_sd_bmff": round(gamma_fh + kappa_sd * GAMMA_BMD, 6),
        "exposure_sd_fat_fraction": round(ff_per_sd, 6),
        "bmd_own_h2": round(float(np.var(s * g_own)), 6),
        "bmd_h2": round(float(np.var(s * (KAPPA * g_fh + g_own))), 6),
        "bmd_own_causal_variants": int(own.sum()),
        "bmd_gwas_sample_size": int(n_w),
        "outcome_sample_size": n_eur,
        "gwas_population": "the European group (1) of the outcome sample: the BMD GWAS's LD and frequencies, the "
                           "osteoporosis_mvmr GWAS's people (the outcome is drawn for all of the outcome sample)",
        "outcome_case_count": n_case,
        "scale": "BMFF: latent covariate-adjusted true BMFF per population SD (as truth/mr_truth.json); BMD: per SD "
                 "in the outcome sample",
        "note": "direct effects: conditional on the other exposure (what multivariable MR estimates); the outcome "
                "GWAS is unadjusted logistic, so per-allele log-odds are marginal (a few percent attenuation); "
                "the BMD GWAS's beta is the population marginal effect plus N(0, se^2) (module docstring)",
    }
    log.info("second exposure: BMD GWAS (N=%d) and osteoporosis_mvmr (%d cases of %d) written", n_w, n_case, n_eur)
    return truth

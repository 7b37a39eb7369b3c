"""BMFF traits: a multivariate genetic model across skeletal sites, covariates and noise.

Model
-----
The 16 *base* traits are the bilateral femoral sites (head, total hip, diaphysis; left and
right) and the vertebrae T8-L5. On a latent scale each base trait is ``L = G + E`` with
``Var(L) = 1`` in the population:

* ``G = sum_j (x_j - 2 p_j) a_j`` over causal variants ``j`` (``x_j`` ALT count, ``p_j`` ALT
  frequency in the simulated population, ``a_j`` per-allele effects, a 16-vector). A causal
  variant in each named BMA gene has standardized effect ``sqrt(q)`` on the sites of its
  regions (profile below); a polygenic background of ``M`` variants has standardized effects
  whose outer products sum exactly to ``Sigma_bg`` (whitened then coloured draws), with
  ``Sigma_bg = C^1/2 D R_g D C^1/2`` chosen so that ``diag(Sigma_genes + Sigma_bg) = h2``.
  The stated genetic covariance is ``Sigma_g = Sigma_genes + Sigma_bg`` (under linkage
  equilibrium and Hardy-Weinberg); stated ``rg = corr(Sigma_g)``.
* ``E ~ N(0, Sigma_e)``, ``Sigma_e = D_e R_e D_e``, ``D_e = diag(sqrt(1 - h2))``.

``R_g`` comes from region factors (femoral head, total hip, diaphysis, spine) correlated by
:data:`REGION_RG` with left/right correlation 0.95 and vertebrae sharing a spine factor
(loading 0.8) plus an AR(1) vertebra-specific part (rho 0.7).

True BMFF (fat fraction) per base trait::

    bmff = mu + b_age (age - 64) + b_male male + b_age_male (age - 64) male
           + b_bmi (bmi - 26.5) + b_group2 group2 + s (L + m)

``m`` is the imaging and genotyping part, in latent SD units at every site
(:func:`measurement_shift`): an offset per imaging centre (field 54-2.0; scanner and protocol,
:data:`CENTRE_OFFSET`), a drift with the imaging date (53-2.0; :data:`DATE_DRIFT_PER_YEAR` from
:data:`DRIFT_ORIGIN`) and an offset of the UK BiLEVE participants (22000 < 0;
:data:`BILEVE_OFFSET`: BiLEVE selected smokers and lung-function extremes, a group that differs
in more than its array). None of them depends on genotype: left out of a GWAS they add their
variance to the residual (less power); left out of a PheWAS the exposure carries scanner
differences that are not biology. ``truth/bmff_covariate_effects.json`` states them.

clipped to [0.01, 0.995]; the derived traits (left/right means, spine = mean of T8-L5,
thoracic T8-T12, lumbar L1-L5) are means of base traits, so their h2 and rg follow from the
same matrices (``derivation_matrix``). The measured IDP adds N(0, (noise_sd_frac s)^2) per base
site and derives the means from the noisy base values.
"""

from __future__ import annotations

import numpy as np

from bma_genetics.sites import (
    FEMORAL_SITES,
    SIDES,
    VERTEBRAE,
    all_traits,
    bilateral_traits,
    vertebra_traits,
)

BASE_TRAITS: list[str] = bilateral_traits() + vertebra_traits()
REGIONS: tuple[str, ...] = (*FEMORAL_SITES, "spine")

#: Genetic correlation between region factors (femoral sites 0.65-0.85, with spine 0.35-0.45).
REGION_RG = np.array(
    [
        [1.00, 0.85, 0.65, 0.40],
        [0.85, 1.00, 0.75, 0.45],
        [0.65, 0.75, 1.00, 0.35],
        [0.40, 0.45, 0.35, 1.00],
    ]
)
#: Environmental correlation between region factors.
REGION_RE = np.array(
    [
        [1.00, 0.50, 0.40, 0.15],
        [0.50, 1.00, 0.50, 0.15],
        [0.40, 0.50, 1.00, 0.15],
        [0.15, 0.15, 0.15, 1.00],
    ]
)
#: Base-trait SNP h2 by region.
H2_REGION = {"femoral_head": 0.30, "total_hip": 0.30, "femoral_diaphysis": 0.32, "spine": 0.28}

#: Fat-fraction scale by region: mean at age 64 (women, BMI 26.5, group 1), latent SD ``s``,
#: per-year age slope (women), male shift, extra male age slope, per BMI unit, group-2 shift.
#: Directions: BMFF rises with age at every site; men higher at the femur; at the spine women's
#: BMFF rises faster with age (post-menopausal), so men are higher at 55 and lower by 75
#: (Morris 2024; Xu 2025 report the same directions in UK Biobank).
SITE_SCALE = {
    "femoral_head": dict(mu=0.885, s=0.025, age=0.0010, male=0.006, age_male=0.0, bmi=0.0004, group2=-0.006),
    "total_hip": dict(mu=0.745, s=0.035, age=0.0022, male=0.022, age_male=0.0, bmi=0.0008, group2=-0.010),
    "femoral_diaphysis": dict(mu=0.800, s=0.035, age=0.0020, male=0.016, age_male=0.0, bmi=0.0006, group2=-0.010),
    "spine": dict(mu=0.470, s=0.075, age=0.0060, male=0.010, age_male=-0.0025, bmi=0.0015, group2=0.012),
}
#: BMFF offset per imaging centre (field 54-2.0), latent SD units (Cheadle the reference).
CENTRE_OFFSET: dict[int, float] = {11025: 0.0, 11026: 0.30, 11027: -0.25, 11028: 0.40}
#: BMFF drift with the imaging date (53-2.0), latent SD units per year after :data:`DRIFT_ORIGIN`.
DATE_DRIFT_PER_YEAR = 0.06
DRIFT_ORIGIN = "2014-08-01"
#: BMFF offset of UK BiLEVE participants (genotype measurement batch 22000 < 0), latent SD units.
BILEVE_OFFSET = 0.15
#: Vertebral mean increases caudally: T8 0.47 .. L5 0.56.
VERTEBRA_STEP = 0.01
#: Measurement noise SD as a fraction of ``s`` (reliability ~ 0.89).
NOISE_SD_FRAC = 0.35

#: Named-gene profiles: regions affected, sign, standardized effect variance q per base trait.
GENE_PROFILES: dict[str, tuple[tuple[str, ...], int, float]] = {
    "CCDC170": (REGIONS, +1, 0.006),
    "ESR1": (REGIONS, -1, 0.006),
    "CYP19A1": (FEMORAL_SITES, +1, 0.005),
    "HK1": (REGIONS, +1, 0.005),
    "CCDC91": (("femoral_head", "total_hip"), -1, 0.005),
    "PPARG": (REGIONS, +1, 0.005),
    "LEPR": (("femoral_diaphysis", "spine"), +1, 0.005),
    "WNT16": (("femoral_head", "total_hip"), -1, 0.005),
    "TNFRSF11B": (("femoral_diaphysis", "spine"), +1, 0.005),
    "FLT3": (REGIONS, -1, 0.005),
}


def region_of(trait: str) -> str:
    for site in FEMORAL_SITES:
        if trait.startswith(f"bmff_{site}_"):
            return site
    return "spine"


def _factor_correlation(region_corr: np.ndarray, bilateral_w: float, vert_w: float, vert_rho: float) -> np.ndarray:
    """Correlation of base traits built from region factors plus trait-specific parts."""
    t = len(BASE_TRAITS)
    regions = [REGIONS.index(region_of(x)) for x in BASE_TRAITS]
    w = np.array([bilateral_w if r < 3 else vert_w for r in regions])
    r = region_corr[np.ix_(regions, regions)] * np.sqrt(np.outer(w, w))
    spec = np.zeros((t, t))
    vidx = [i for i, x in enumerate(BASE_TRAITS) if region_of(x) == "spine"]
    for a in range(t):
        spec[a, a] = 1 - w[a]
    for i, a in enumerate(vidx):
        for j, b in enumerate(vidx):
            if a != b:
                spec[a, b] = (1 - vert_w) * vert_rho ** abs(i - j)
    out = r + spec
    np.fill_diagonal(out, 1.0)
    return out


def base_rg() -> np.ndarray:
    """Genetic correlation of the background between base traits (16 x 16)."""
    return _factor_correlation(REGION_RG, 0.95, 0.8, 0.7)


def base_re() -> np.ndarray:
    """Environmental correlation between base traits (16 x 16)."""
    return _factor_correlation(REGION_RE, 0.5, 0.4, 0.6)


def base_h2() -> np.ndarray:
    return np.array([H2_REGION[region_of(x)] for x in BASE_TRAITS])


def derivation_matrix() -> np.ndarray:
    """Matrix W (22 x 16) with ``all_traits = W @ base_traits`` (means of base traits)."""
    names = all_traits()
    w = np.zeros((len(names), len(BASE_TRAITS)))
    idx = {t: i for i, t in enumerate(BASE_TRAITS)}

    def mean_of(row: int, members: list[str]) -> None:
        for m in members:
            w[row, idx[m]] = 1 / len(members)

    for r, name in enumerate(names):
        if name in idx:
            w[r, idx[name]] = 1.0
        elif name == "bmff_spine":
            mean_of(r, vertebra_traits())
        elif name == "bmff_spine_thoracic":
            mean_of(r, [f"bmff_{v}" for v in VERTEBRAE[:5]])
        elif name == "bmff_spine_lumbar":
            mean_of(r, [f"bmff_{v}" for v in VERTEBRAE[5:]])
        else:
            site = name.removeprefix("bmff_")
            mean_of(r, [f"bmff_{site}_{s}" for s in SIDES])
    return w


def gene_effect_vector(gene: str) -> np.ndarray:
    """Standardized effects (per SD of genotype, latent-SD units) of a named gene's variant."""
    regions, sign, q = GENE_PROFILES[gene]
    return np.array([sign * np.sqrt(q) if region_of(t) in regions else 0.0 for t in BASE_TRAITS])


def background_covariance(genes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(Sigma_genes, Sigma_bg) so that the total genetic variance per base trait equals h2."""
    h2 = base_h2()
    s_genes = np.zeros((len(BASE_TRAITS), len(BASE_TRAITS)))
    for g in genes:
        b = gene_effect_vector(g)
        s_genes += np.outer(b, b)
    rest = h2 - np.diag(s_genes)
    if np.any(rest <= 0):
        raise ValueError("named-gene effects exceed the trait heritability")
    d = np.sqrt(rest)
    return s_genes, base_rg() * np.outer(d, d)


def exact_effects(m: int, cov: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Draw an (m x k) effect matrix whose outer products sum exactly to ``cov`` (m >= k)."""
    k = cov.shape[0]
    z = rng.standard_normal((m, k))
    z -= z.mean(axis=0)
    # whiten: z^T z = I, then colour with a square root of cov
    u, _, vt = np.linalg.svd(z, full_matrices=False)
    white = u @ vt
    evals, evecs = np.linalg.eigh(cov)
    root = evecs @ np.diag(np.sqrt(np.clip(evals, 0, None))) @ evecs.T
    return white @ root


def stated_parameters(genes: list[str]) -> dict[str, np.ndarray]:
    """Population-level covariance of every trait (22) on the latent scale."""
    s_genes, s_bg = background_covariance(genes)
    sg = s_genes + s_bg
    h2 = base_h2()
    d_e = np.sqrt(1 - h2)
    se = base_re() * np.outer(d_e, d_e)
    w = derivation_matrix()
    g_all = w @ sg @ w.T
    p_all = w @ (sg + se) @ w.T
    sd_g = np.sqrt(np.diag(g_all))
    return {
        "sigma_g_base": sg,
        "sigma_e_base": se,
        "h2_all": np.diag(g_all) / np.diag(p_all),
        "rg_all": g_all / np.outer(sd_g, sd_g),
        "latent_sd_all": np.sqrt(np.diag(p_all)),
    }


def site_params(trait: str) -> dict[str, float]:
    """Fat-fraction scale parameters of a base trait."""
    p = dict(SITE_SCALE[region_of(trait)])
    if region_of(trait) == "spine":
        p["mu"] += VERTEBRA_STEP * VERTEBRAE.index(trait.removeprefix("bmff_"))
    elif trait.endswith("_right"):
        p["mu"] += 0.002  # a small systematic left/right difference
    return p


def measurement_shift(centre: np.ndarray, imaging_date: np.ndarray, batch: np.ndarray) -> np.ndarray:
    """The imaging-centre, imaging-date and array part ``m`` of every site, latent SD units (n,).

    Parameters
    ----------
    centre : ndarray of shape (n,)
        Field 54-2.0 codes (11025-11028).
    imaging_date : ndarray of shape (n,), datetime64
        Field 53-2.0.
    batch : ndarray of shape (n,)
        Field 22000 (negative: UK BiLEVE).
    """
    years = (np.asarray(imaging_date).astype("datetime64[D]") - np.datetime64(DRIFT_ORIGIN)).astype(float) / 365.25
    offset = np.array([CENTRE_OFFSET[int(c)] for c in centre], float)
    return offset + DATE_DRIFT_PER_YEAR * years + BILEVE_OFFSET * (np.asarray(batch, float) < 0)


def to_fat_fraction(latent: np.ndarray, age: np.ndarray, male: np.ndarray, bmi: np.ndarray, group2: np.ndarray,
                    shift: np.ndarray | None = None) -> np.ndarray:
    """Base latent traits (n x 16) -> fat fraction (n x 16); ``shift`` (n,) is ``m`` of the model."""
    out = np.empty_like(latent)
    a = age - 64.0
    m = np.zeros(len(latent)) if shift is None else np.asarray(shift, float)
    for k, t in enumerate(BASE_TRAITS):
        p = site_params(t)
        out[:, k] = (
            p["mu"] + p["age"] * a + p["male"] * male + p["age_male"] * a * male
            + p["bmi"] * (bmi - 26.5) + p["group2"] * group2 + p["s"] * (latent[:, k] + m)
        )
    return np.clip(out, 0.01, 0.995)


def base_scale() -> np.ndarray:
    return np.array([site_params(t)["s"] for t in BASE_TRAITS])

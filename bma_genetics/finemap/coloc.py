"""Colocalisation: coloc.abf (Giambartolomei 2014) and SuSiE-coloc (Wallace 2021).

coloc.abf asks, over the variants two studies share in a region, which of five hypotheses holds
under the one-causal-variant-per-trait assumption: H0 no association, H1 only trait 1, H2 only
trait 2, H3 both traits with distinct causal variants, H4 both with one shared causal variant.
Each variant's Wakefield approximate Bayes factor (Wakefield 2009) is

.. math::
    \\log \\mathrm{ABF}_j = \\tfrac12\\left[\\log(1 - r_j) + r_j z_j^2\\right],\\quad
    r_j = \\frac{W}{W + V_j},\\quad z_j = \\hat\\beta_j / \\sqrt{V_j},

with :math:`V_j` the squared standard error and :math:`W` the prior variance of the effect:
:math:`(0.15\\,\\mathrm{sd}_Y)^2` for a quantitative trait, :math:`0.2^2` for a binary one (log
odds), as coloc's defaults. With priors :math:`p_1, p_2` (a variant affects one trait) and
:math:`p_{12}` (it affects both), and :math:`S_k = \\sum_j \\mathrm{ABF}_{kj}`:

.. math::
    H_1 \\propto p_1 S_1,\\ H_2 \\propto p_2 S_2,\\
    H_3 \\propto p_1 p_2 (S_1 S_2 - \\textstyle\\sum_j \\mathrm{ABF}_{1j}\\mathrm{ABF}_{2j}),\\
    H_4 \\propto p_{12} \\textstyle\\sum_j \\mathrm{ABF}_{1j}\\mathrm{ABF}_{2j},\\ H_0 \\propto 1,

computed on the log scale. SuSiE-coloc (coloc's ``coloc.susie`` / ``coloc.bf_bf``) runs the
same combination on each pair of credible sets of two SuSiE fits, with each effect's
per-variant log Bayes factors in place of the ABFs, so that a locus with several signals is
colocalised signal by signal (default ``p12 = 5e-6`` as coloc.bf_bf; a signal whose posterior
lies less than ``overlap_min`` on the shared variants is not attempted).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import logsumexp

from bma_genetics._check import check_columns, fail

#: coloc's default priors.
P1, P2, P12 = 1e-4, 1e-4, 1e-5
#: coloc.bf_bf's default p12 (SuSiE-coloc).
P12_SUSIE = 5e-6
#: Prior standard deviation of effects: quantitative (times sd(Y)) and binary (log OR).
SD_PRIOR_QUANT, SD_PRIOR_BINARY = 0.15, 0.2

HYPOTHESES = ("pp_h0", "pp_h1", "pp_h2", "pp_h3", "pp_h4")


@dataclass(frozen=True)
class ColocResult:
    """Posteriors of coloc's five hypotheses over one region.

    Attributes
    ----------
    nsnp : int
        Variants shared by the two studies.
    pp_h0, pp_h1, pp_h2, pp_h3, pp_h4 : float
        Posterior probabilities of H0..H4 (they sum to 1).
    snp_pp_h4 : ndarray of shape (nsnp,)
        Each shared variant's posterior of being the shared causal variant given H4.
    """

    nsnp: int
    pp_h0: float
    pp_h1: float
    pp_h2: float
    pp_h3: float
    pp_h4: float
    snp_pp_h4: np.ndarray

    def as_dict(self) -> dict[str, float]:
        return {"nsnp": self.nsnp, **{h: getattr(self, h) for h in HYPOTHESES}}


def sd_y_estimate(varbeta: np.ndarray, maf: np.ndarray, n: np.ndarray | float) -> float:
    """sd(Y) from standard errors, allele frequencies and N (coloc's ``sdY.est``).

    Regresses :math:`2 N f(1-f)` on :math:`1/V_j` through the origin: :math:`V_j \\approx
    \\mathrm{sd}_Y^2 / (2 N f_j (1 - f_j))`, so the slope is :math:`\\mathrm{sd}_Y^2`.
    """
    varbeta = np.asarray(varbeta, float)
    maf = np.minimum(np.asarray(maf, float), 1 - np.asarray(maf, float))
    nvx = 2 * np.asarray(n, float) * maf * (1 - maf)
    x = 1 / varbeta
    ok = np.isfinite(x) & np.isfinite(nvx)
    slope = float(np.sum(x[ok] * nvx[ok]) / np.sum(x[ok] ** 2))
    if not slope > 0:
        raise fail("sd_y_estimate/varbeta", "cannot estimate sd(Y) (negative slope); give sd_y")
    return float(np.sqrt(slope))


def approx_bf(beta: np.ndarray, varbeta: np.ndarray, sd_prior: float) -> np.ndarray:
    """Wakefield's log approximate Bayes factor of each variant (natural log)."""
    beta = np.asarray(beta, float)
    varbeta = np.asarray(varbeta, float)
    z2 = beta**2 / varbeta
    r = sd_prior**2 / (sd_prior**2 + varbeta)
    return 0.5 * (np.log1p(-r) + r * z2)


def _logdiff(a: float, b: float) -> float:
    """log(exp(a) - exp(b)) for a > b."""
    return a + np.log1p(-np.exp(b - a)) if a > b else -np.inf


def combine_abf(l1: np.ndarray, l2: np.ndarray, *, p1: float = P1, p2: float = P2, p12: float = P12) -> ColocResult:
    """Posteriors of H0..H4 from two vectors of per-variant log Bayes factors on the same variants.

    Parameters
    ----------
    l1, l2 : ndarray of shape (n_variants,)
        Natural-log Bayes factors of the two traits at the shared variants.
    p1, p2, p12 : float, default=1e-4, 1e-4, 1e-5
        Prior probabilities that a variant affects trait 1 only, trait 2 only, both.

    Returns
    -------
    ColocResult
    """
    l1 = np.asarray(l1, float)
    l2 = np.asarray(l2, float)
    if l1.shape != l2.shape or l1.ndim != 1 or l1.size == 0:
        raise fail("combine_abf/l1", f"two non-empty vectors of equal length needed, found {l1.shape} and {l2.shape}")
    for name, v in (("p1", p1), ("p2", p2), ("p12", p12)):
        if not 0 < v < 1:
            raise fail(f"combine_abf/{name}", f"a prior probability in (0, 1) is needed, found {v}")
    s1, s2, s12 = logsumexp(l1), logsumexp(l2), logsumexp(l1 + l2)
    lh = np.array([0.0, np.log(p1) + s1, np.log(p2) + s2,
                   np.log(p1) + np.log(p2) + _logdiff(s1 + s2, s12), np.log(p12) + s12])
    pp = np.exp(lh - logsumexp(lh))
    snp = np.exp(l1 + l2 - s12)
    return ColocResult(int(l1.size), *map(float, pp), snp_pp_h4=snp)


def coloc_abf(
    trait1: pd.DataFrame,
    trait2: pd.DataFrame,
    *,
    type1: str = "quant",
    type2: str = "quant",
    sd_y1: float | None = None,
    sd_y2: float | None = None,
    p1: float = P1,
    p2: float = P2,
    p12: float = P12,
) -> tuple[ColocResult, pd.DataFrame]:
    """coloc.abf between two studies' summary statistics over one region.

    Parameters
    ----------
    trait1, trait2 : DataFrame
        ``variant_id, beta, standard_error`` (docs/conventions.md), the alleles already aligned
        (the sign of beta does not enter the ABF); for a quantitative trait without ``sd_y``,
        ``effect_allele_frequency`` and ``n`` estimate sd(Y) (coloc's ``sdY.est``).
    type1, type2 : {"quant", "cc"}, default="quant"
        Quantitative trait (prior sd 0.15 sd(Y)) or case-control (0.2 on log OR).
    sd_y1, sd_y2 : float, optional
        sd(Y) of a quantitative trait (1 for a standardised one).
    p1, p2, p12 : float, default=1e-4, 1e-4, 1e-5

    Returns
    -------
    (ColocResult, DataFrame)
        The posteriors and a per-variant table ``variant_id, lbf_1, lbf_2, snp_pp_h4``.
    """
    labf = []
    for k, (d, kind, sd_y) in enumerate(((trait1, type1, sd_y1), (trait2, type2, sd_y2)), start=1):
        check_columns(f"coloc_abf/trait{k}", d, ["variant_id", "beta", "standard_error"])
        if kind not in ("quant", "cc"):
            raise fail(f"coloc_abf/type{k}", f"expected 'quant' or 'cc', found {kind!r}")
        if kind == "cc":
            sd_prior = SD_PRIOR_BINARY
        else:
            if sd_y is None:
                check_columns(f"coloc_abf/trait{k}", d, ["effect_allele_frequency", "n"])
                sd_y = sd_y_estimate(d["standard_error"] ** 2, d["effect_allele_frequency"], d["n"])
            sd_prior = SD_PRIOR_QUANT * sd_y
        ok = np.isfinite(d["beta"].astype(float)) & (d["standard_error"].astype(float) > 0)
        d = d.loc[ok].drop_duplicates("variant_id")
        labf.append(pd.Series(approx_bf(d["beta"], d["standard_error"] ** 2, sd_prior),
                              index=d["variant_id"].astype(str).to_numpy()))
    common = labf[0].index.intersection(labf[1].index)
    if common.empty:
        raise fail("coloc_abf/trait2", "the two studies share no variant_id in this region")
    l1, l2 = labf[0].loc[common].to_numpy(), labf[1].loc[common].to_numpy()
    res = combine_abf(l1, l2, p1=p1, p2=p2, p12=p12)
    table = pd.DataFrame({"variant_id": common, "lbf_1": l1, "lbf_2": l2, "snp_pp_h4": res.snp_pp_h4})
    return res, table


def _posterior(lbf: np.ndarray) -> np.ndarray:
    return np.exp(lbf - logsumexp(lbf))


def coloc_susie(
    lbf1: pd.DataFrame,
    lbf2: pd.DataFrame,
    *,
    p1: float = P1,
    p2: float = P2,
    p12: float = P12_SUSIE,
    overlap_min: float = 0.5,
) -> pd.DataFrame:
    """SuSiE-coloc: coloc on each pair of credible sets of two SuSiE fits (coloc's ``coloc.bf_bf``).

    Parameters
    ----------
    lbf1, lbf2 : DataFrame
        One row per credible set (index: its label, e.g. ``"L1"``), one column per variant
        (``variant_id``): the effect's per-variant log Bayes factors (``SusieFit.lbf_variable``).
    p1, p2, p12 : float, default=1e-4, 1e-4, 5e-6
    overlap_min : float, default=0.5
        A set whose posterior (from its own log BFs) puts less than this on the shared variants
        is not colocalised (coloc's ``trim_by_posterior``).

    Returns
    -------
    DataFrame
        One row per pair: ``credible_set_1, credible_set_2, nsnp, pp_h0 .. pp_h4,
        top_variant`` (the shared variant with the largest posterior under H4).
    """
    cols = ["credible_set_1", "credible_set_2", "nsnp", *HYPOTHESES, "top_variant"]
    common = [c for c in lbf1.columns if c in set(lbf2.columns)]
    rows = []
    if not common:
        return pd.DataFrame(columns=cols)
    for i, r1 in lbf1.iterrows():
        a1 = r1.to_numpy(float)
        if _posterior(a1)[[lbf1.columns.get_loc(c) for c in common]].sum() < overlap_min:
            continue
        for j, r2 in lbf2.iterrows():
            a2 = r2.to_numpy(float)
            if _posterior(a2)[[lbf2.columns.get_loc(c) for c in common]].sum() < overlap_min:
                continue
            res = combine_abf(r1[common].to_numpy(float), r2[common].to_numpy(float), p1=p1, p2=p2, p12=p12)
            rows.append({"credible_set_1": i, "credible_set_2": j, **res.as_dict(),
                         "top_variant": common[int(np.argmax(res.snp_pp_h4))]})
    return pd.DataFrame(rows, columns=cols)

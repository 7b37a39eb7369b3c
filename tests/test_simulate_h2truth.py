"""The simulator's LDSC target (truth/heritability.tsv, genetic_correlation.tsv, genetic_values.parquet)
and its planted confounding (simulate/confounding.py: a regional environment the covariates miss).

The truth tests use the session ``tiny_cohort``; the confounding tests simulate a smaller tiny cohort
once per module (a few seconds). Tolerances at each assertion.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from bma_genetics.sites import all_traits
from tests._genotypes import read_bgen

MAIN = ["bmff_femoral_head", "bmff_total_hip", "bmff_femoral_diaphysis", "bmff_spine"]
SMALL = dict(n_participants=500, n_outcome=300, n_variants=2_000, n_background_causal=40,
             n_sib_pairs=4, n_po_pairs=4, n_random_phecodes=50)


def _analysed(cohort) -> pd.DataFrame:
    """The analysed sample rebuilt from the cohort's public files (showcase, withdrawals, IDPs),
    with the GWAS's default covariates (no PCs)."""
    rap = pd.read_csv(cohort / "participants/ukb_rap.csv", dtype={"eid": str},
                      usecols=["eid", "p31", "p21003_i2", "p54_i2", "p22000", "p22001", "p22006", "p22019",
                               "p22020", "p22027"] + [f"p22009_a{i}" for i in range(1, 11)])
    withdrawn = set((cohort / "participants/withdrawals.csv").read_text().split())
    idp = pd.read_parquet(cohort / "participants/bmff_idp.parquet")
    d = rap.merge(idp, on="eid")  # imaged: a row in the IDP table
    keep = ((d.p22006 == 1) & ~d.eid.isin(withdrawn) & (d.p31 == d.p22001) & d.p22019.isna()
            & d.p22027.isna() & (d.p22020 == 1))
    return d[keep].reset_index(drop=True)


def _covariates(d: pd.DataFrame, pcs: int = 0) -> np.ndarray:
    age, sex = d.p21003_i2.to_numpy(float), d.p31.to_numpy(float)
    cols = [np.ones(len(d)), age, age**2, sex, age * sex]
    cols += [(d.p54_i2 == c).to_numpy(float) for c in (11026, 11027, 11028)]
    cols.append((d.p22000 < 0).to_numpy(float))
    cols += [d[f"p22009_a{i}"].to_numpy(float) for i in range(1, pcs + 1)]
    return np.column_stack(cols)


def _resid(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    beta, *_ = np.linalg.lstsq(x, y, rcond=None)
    return y - x @ beta


# ----------------------------------------------------------------------------- truth
def test_truth_h2_is_the_variance_ratio_of_the_written_genetic_values(tiny_cohort):
    h2 = pd.read_csv(tiny_cohort / "truth/heritability.tsv", sep="\t").set_index("trait")
    assert list(h2.index) == all_traits()
    assert list(h2.columns) == ["h2", "h2_autosomal", "var_genetic", "var_genetic_autosomal", "var_phenotype", "n"]
    g = pd.read_parquet(tiny_cohort / "truth/genetic_values.parquet")
    d = _analysed(tiny_cohort).merge(g, on="eid", suffixes=("", "_g"))
    x = _covariates(d)
    for t in all_traits():
        ok = d[t].notna().to_numpy()
        ratio = np.var(d.loc[ok, f"{t}_g"]) / np.var(_resid(d.loc[ok, t].to_numpy(), x[ok]))
        assert int(h2.loc[t, "n"]) == ok.sum(), t  # the same people as the simulator's analysed sample
        assert abs(h2.loc[t, "h2"] - ratio) < 2e-6, t  # rounding of the table (6 decimals)
    # near the model's IDP h2 (sampling in ~800 people; BMI and date drift left in the residual)
    stated = json.loads((tiny_cohort / "truth/heritability.json").read_text())["h2_idp"]
    for t in MAIN:
        assert abs(h2.loc[t, "h2"] - stated[t]) < 0.12, t
    # only the femoral-head sites carry the chrX variant
    assert (h2.loc["bmff_spine", "h2"] == h2.loc["bmff_spine", "h2_autosomal"])
    assert h2.loc["bmff_femoral_head", "h2"] > h2.loc["bmff_femoral_head", "h2_autosomal"]


def test_truth_genetic_values_are_the_causal_variants_times_genotypes(tiny_cohort):
    """bmff_spine's genetic value rebuilt from truth/causal_variants.tsv and the BGEN dosages."""
    causal = pd.read_csv(tiny_cohort / "truth/causal_variants.tsv", sep="\t", dtype={"chromosome": str})
    causal = causal[causal.trait == "bmff_spine"]
    hj = json.loads((tiny_cohort / "truth/heritability.json").read_text())
    unit = hj["latent_sd"]["bmff_spine"] * hj["fat_fraction_per_latent_unit"]["bmff_spine"]
    total, samples = None, None
    for chrom, sub in causal.groupby("chromosome"):
        b = read_bgen(tiny_cohort / f"genotypes/imputed/ukb22828_c{chrom}_b0_v3.bgen", set(sub.variant_id))
        dosage = b["probs"][:, :, 1] + 2 * b["probs"][:, :, 2]  # ALT = effect allele
        beta = sub.set_index("variant_id").loc[b["ids"], "beta"].to_numpy()
        part = (beta[:, None] * (dosage - dosage.mean(axis=1, keepdims=True))).sum(axis=0) * unit
        total = part if total is None else total + part
        samples = b["samples"]
    g = pd.read_parquet(tiny_cohort / "truth/genetic_values.parquet").set_index("eid").loc[samples, "bmff_spine"]
    r = np.corrcoef(total, g.to_numpy())[0, 1]
    assert r > 0.97, r  # imputation noise in the dosages only
    # imputed dosages are shrunk towards the mean (expected genotypes): a little less variance
    assert 0.85 < np.std(total) / np.std(g) < 1.02


def test_truth_rg_table_lists_every_pair(tiny_cohort):
    rg = pd.read_csv(tiny_cohort / "truth/genetic_correlation.tsv", sep="\t")
    n = len(all_traits())
    assert len(rg) == n * (n - 1) // 2 and list(rg.columns) == ["trait1", "trait2", "rg", "rg_autosomal"]
    g = pd.read_parquet(tiny_cohort / "truth/genetic_values.parquet")
    d = _analysed(tiny_cohort)[["eid"]].merge(g, on="eid")
    row = rg[(rg.trait1 == "bmff_total_hip") & (rg.trait2 == "bmff_spine")].iloc[0]
    assert abs(row.rg - np.corrcoef(d.bmff_total_hip, d.bmff_spine)[0, 1]) < 1e-5
    assert 0.2 < row.rg < 0.7  # stated 0.45


def test_the_default_plants_no_confounding(tiny_cohort):
    meta = json.loads((tiny_cohort / "cohort.json").read_text())
    assert meta["parameters"]["confounding"] == 0.0
    assert not (tiny_cohort / "truth/confounding.json").exists()


# ----------------------------------------------------------------------------- confounding
@pytest.fixture(scope="module")
def confounded(tmp_path_factory):
    from bma_genetics.simulate import simulate_cohort

    return simulate_cohort("tiny", seed=3, out=tmp_path_factory.mktemp("confounded") / "c", confounding=1.0,
                           **SMALL)


def test_confounding_is_in_the_traits_and_the_truth_not_in_the_covariates(confounded):
    info = json.loads((confounded / "truth/confounding.json").read_text())
    assert info["confounding"] == 1.0 and info["split_time_generations"] == pytest.approx(0.6)
    regions = pd.read_csv(confounded / "truth/confounding_regions.tsv", sep="\t", dtype={"eid": str})
    d = _analysed(confounded).merge(regions, on="eid")
    assert set(d.region.unique()) <= {1.0, 1.5, 2.0}
    assert 0.35 < (d.region == 2).mean() < 0.65
    effect = d.effect.to_numpy()
    assert np.allclose(effect, d.region - 1.5)
    # the regions differ by c latent SD: c s in fat fraction (s 0.075 at the spine), after covariates
    hj = json.loads((confounded / "truth/heritability.json").read_text())
    for t in ("bmff_spine", "bmff_femoral_head"):
        ok = d[t].notna().to_numpy()
        y = _resid(d.loc[ok, t].to_numpy(), _covariates(d[ok]))
        unit = hj["fat_fraction_per_latent_unit"][t]
        diff = (y[effect[ok] > 0].mean() - y[effect[ok] < 0].mean()) / unit
        assert 0.7 < diff < 1.3, (t, diff)  # SE ~0.1 latent SD at n ~ 400
    # the covariates with 10 PCs do not capture the region (weak ancestry axis: F_ST 3e-5)
    x10 = _covariates(d, pcs=10)
    r = (d.region == 2).to_numpy(float)
    r2 = 1 - np.var(_resid(r, x10)) / np.var(r)
    assert r2 < 0.1, r2  # ~15 covariates / ~400 people by chance alone: ~0.04
    # it is in the phenotypic variance of the truth: h2 lower than the model's IDP h2
    h2 = pd.read_csv(confounded / "truth/heritability.tsv", sep="\t").set_index("trait")
    assert h2.loc["bmff_spine", "var_phenotype"] > 0


def test_confounding_off_changes_nothing_and_bad_values_are_refused():
    from bma_genetics.errors import InputError
    from bma_genetics.simulate.presets import parse_overrides, resolve

    assert resolve("tiny", {})["confounding"] == 0.0
    assert resolve("tiny", {"confounding": 0})["confounding"] == 0
    with pytest.raises(InputError, match="simulate_cohort/confounding"):
        resolve("tiny", {"confounding": -1.0})
    assert parse_overrides(["confounding=1.5", "n_participants=400"]) == {"confounding": 1.5, "n_participants": 400}
    with pytest.raises(InputError, match="KEY=VALUE"):
        parse_overrides(["confounding"])
    with pytest.raises(InputError, match="confounding"):
        parse_overrides(["confounding=lots"])

"""Post-GWAS: FUMA-style loci on planted LD, gene mapping, IVW meta-analysis vs closed form."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from bma_genetics.errors import InputError
from bma_genetics.gwas import find_loci, meta_analyse
from tests._genotypes import write_bed


@pytest.fixture(scope="module")
def ld_panel(tmp_path_factory):
    """400 people; v2 copies v1 (r2 ~1), v5 is v1 with noise (r2 ~0.3), v3/v4/v6 independent."""
    rng = np.random.default_rng(3)
    n = 400
    v1 = rng.binomial(2, 0.4, n)
    v2 = v1.copy()
    v5 = np.where(rng.random(n) < 0.45, v1, rng.binomial(2, 0.4, n))
    v3, v4, v6 = (rng.binomial(2, 0.3, n) for _ in range(3))
    dose = np.vstack([v1, v2, v3, v5, v4, v6])
    pos = np.array([1_000_000, 1_010_000, 1_020_000, 1_100_000, 1_500_000, 5_000_000])
    d = tmp_path_factory.mktemp("ldpanel")
    write_bed(d / "panel", dose, ["1"] * 6, pos, [str(i + 1) for i in range(n)], ["A"] * 6, ["G"] * 6)
    from bma_genetics.ld import PlinkReader

    r5 = np.corrcoef(v1, v5)[0, 1] ** 2
    assert 0.1 < r5 < 0.6
    return PlinkReader(d / "panel"), pos


def test_fuma_loci(ld_panel):
    reader, pos = ld_panel
    ss = pd.DataFrame({"chromosome": "1", "base_pair_location": pos, "effect_allele": "A", "other_allele": "G",
                       "beta": 0.1, "standard_error": 0.01,
                       "p_value": [1e-20, 1e-18, 1e-9, 1e-10, 1e-12, 0.2],
                       "variant_id": [f"1:{p}_G_A" for p in pos], "rsid": [f"rs{i}" for i in range(6)]})
    genes = pd.DataFrame({"gene_name": ["GENEA", "GENEB", "GENEC"], "chromosome": ["1", "1", "1"],
                          "start": [990_000, 1_050_000, 1_490_000], "end": [1_005_000, 1_060_000, 1_495_000]})
    ind, leads, loci = find_loci(ss, reader, genes=genes)
    assert sorted(ind["base_pair_location"]) == [1_000_000, 1_020_000, 1_100_000, 1_500_000]
    assert sorted(leads["base_pair_location"]) == [1_000_000, 1_020_000, 1_500_000]
    assert len(loci) == 2
    first = loci.iloc[0]
    assert (first["start"], first["end"]) == (1_000_000, 1_100_000)
    assert first["lead_variant"] == "1:1000000_G_A" and first["n_lead"] == 2 and first["n_independent"] == 3
    assert first["nearest_gene"] == "GENEA" and first["genes"] == "GENEA,GENEB"
    second = leads.set_index("base_pair_location").loc[1_500_000]
    assert second["nearest_gene"] == "GENEC" and second["distance_to_gene"] == 5_000


def test_meta_analysis_closed_form():
    rng = np.random.default_rng(1)
    m = 30
    base = pd.DataFrame({"chromosome": "2", "base_pair_location": np.arange(m) * 10 + 5, "effect_allele": "T",
                         "other_allele": "C", "effect_allele_frequency": 0.3, "n": 1000})
    studies = [base.assign(beta=rng.normal(0.05, 0.05, m), standard_error=rng.uniform(0.02, 0.05, m)) for _ in range(3)]
    # study 2 reports the other allele as effect allele: flipped betas and frequencies
    flipped = studies[1].assign(effect_allele="C", other_allele="T", beta=-studies[1]["beta"],
                                effect_allele_frequency=0.7)
    out = meta_analyse([studies[0], flipped, studies[2]], names=["a", "b", "c"])
    b = np.column_stack([s["beta"] for s in studies])
    w = 1 / np.column_stack([s["standard_error"] for s in studies]) ** 2
    bhat = (w * b).sum(1) / w.sum(1)
    se = 1 / np.sqrt(w.sum(1))
    q = (w * (b - bhat[:, None]) ** 2).sum(1)
    np.testing.assert_allclose(out["beta"], bhat, rtol=1e-12)
    np.testing.assert_allclose(out["standard_error"], se, rtol=1e-12)
    np.testing.assert_allclose(out["p_value"], 2 * stats.norm.sf(np.abs(bhat / se)), rtol=1e-10)
    np.testing.assert_allclose(out["q_statistic"], q, rtol=1e-10)
    np.testing.assert_allclose(out["q_p_value"], stats.chi2.sf(q, 2), rtol=1e-10)
    np.testing.assert_allclose(out["i2"], np.maximum(0, (q - 2) / q), rtol=1e-10)
    np.testing.assert_allclose(out["effect_allele_frequency"], 0.3)
    assert (out["n"] == 3000).all() and (out["effect_allele"] == "T").all()
    assert out["direction"].str.len().eq(3).all()


def test_meta_analysis_calibrated_under_homogeneity():
    """Same true effect in every study: Q ~ chi2(K-1), so P(Q) is uniform (KS P > 0.001)."""
    rng = np.random.default_rng(2)
    m, k = 4000, 4
    se = rng.uniform(0.02, 0.06, (m, k))
    b = 0.03 + rng.normal(size=(m, k)) * se
    studies = [pd.DataFrame({"chromosome": "1", "base_pair_location": np.arange(m) + 1, "effect_allele": "A",
                             "other_allele": "G", "beta": b[:, j], "standard_error": se[:, j]}) for j in range(k)]
    out = meta_analyse(studies)
    assert stats.kstest(out["q_p_value"], "uniform").pvalue > 1e-3
    assert out["beta"].mean() == pytest.approx(0.03, abs=0.002)


def test_meta_errors():
    with pytest.raises(InputError, match="meta_analyse/sumstats"):
        meta_analyse([pd.DataFrame()])
    with pytest.raises(InputError, match="lacks column"):
        meta_analyse([pd.DataFrame({"beta": [1]}), pd.DataFrame({"beta": [1]})])

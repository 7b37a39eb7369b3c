"""``qc.array_sample_qc``: array call-rate and heterozygosity outliers, planted, flagged exactly."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests._genotypes import write_bed

N, M_AUTO, M_X = 300, 1500, 400


@pytest.fixture(scope="module")
def array_set(hail_context, tmp_path_factory):
    """300 people on a 1,900-variant array (1,500 autosomal, 400 chrX; males hemizygous, 0/2).

    Planted: 4 low call rate (8 % missing against 0.2 %), 4 excess heterozygosity (10 % of their
    homozygous autosomal calls turned heterozygous: about +0.06 against a per-person SD of ~0.012),
    and 1 person with both.
    """
    rng = np.random.default_rng(5)
    d = tmp_path_factory.mktemp("array_qc")
    eids = [str(300001 + i) for i in range(N)]
    male = rng.random(N) < 0.5
    f_auto, f_x = rng.uniform(0.05, 0.5, M_AUTO), rng.uniform(0.05, 0.5, M_X)
    auto = rng.binomial(2, f_auto[:, None], size=(M_AUTO, N))
    xd = np.where(male[None, :], 2 * rng.binomial(1, f_x[:, None], size=(M_X, N)),
                  rng.binomial(2, f_x[:, None], size=(M_X, N)))
    picked = rng.choice(N, 9, replace=False)
    low_cr, high_het, both = picked[:4], picked[4:8], picked[8:]
    for i in [*high_het, *both]:
        hom = np.flatnonzero(auto[:, i] != 1)
        auto[rng.choice(hom, int(0.10 * len(hom)), replace=False), i] = 1
    dose = np.vstack([auto, xd])
    miss = rng.random(dose.shape) < 0.002
    for i in [*low_cr, *both]:
        miss[:, i] |= rng.random(dose.shape[0]) < 0.08
    dose = np.where(miss, -1, dose)
    chrom = ["1"] * (M_AUTO // 2) + ["2"] * (M_AUTO - M_AUTO // 2) + ["X"] * M_X
    pos = np.r_[np.arange(1, M_AUTO // 2 + 1), np.arange(1, M_AUTO - M_AUTO // 2 + 1), np.arange(1, M_X + 1)] * 500
    write_bed(d / "array", dose, chrom, pos, eids, ["A"] * len(pos), ["G"] * len(pos), sex=np.where(male, 1, 2))
    ids = np.array(eids)
    return {"prefix": d / "array", "low_cr": set(ids[low_cr]), "high_het": set(ids[high_het]), "both": set(ids[both])}


def test_array_sample_qc_flags_exactly_the_planted(array_set):
    """Call rate < 0.97 flags the 4 + 1 low-call-rate people; |z| > 3 heterozygosity (autosomes
    only: hemizygous males have no chrX heterozygotes) flags the 4 + 1 high-het people; nobody
    else. The QC table counts them in order (het removed = het flagged minus those already gone)."""
    from bma_genetics.gwas import qc

    failed, table = qc.array_sample_qc(array_set["prefix"])
    low, het, both = array_set["low_cr"], array_set["high_het"], array_set["both"]
    assert failed == low | het | both
    t = table.set_index("step")
    assert t.loc["array_call_rate", ["flagged", "removed", "remaining"]].tolist() == [5, 5, N - 5]
    assert t.loc["array_heterozygosity", ["flagged", "removed", "remaining"]].tolist() == [5, 4, N - 9]
    assert list(table.columns) == qc.QC_COLUMNS and set(table["level"]) == {"sample"}


def test_array_sample_qc_thresholds(array_set):
    """The thresholds are the ones applied: a call rate bar above everyone's flags all; a huge
    SD bar flags no heterozygosity outlier."""
    from bma_genetics.gwas import qc

    failed, table = qc.array_sample_qc(array_set["prefix"], min_call_rate=1.0 + 1e-9, het_sd=100.0)
    assert len(failed) == N
    t = table.set_index("step")
    assert t.loc["array_heterozygosity", "flagged"] == 0 and t.loc["array_call_rate", "remaining"] == 0


@pytest.mark.slow
def test_array_sample_qc_tiny_cohort(tiny_cohort, hail_context):
    """On the simulated tiny cohort's array files (per-chromosome ``{chrom}`` pattern), with
    heterozygosity adjusted for the showcase PCs (field 22009, 10 PCs), exactly the planted
    het/missing outliers (array missing ~6 %, excess heterozygosity) are flagged, by call rate and
    by heterozygosity. Unadjusted, the extra flags are non-European people (less heterozygous on an
    array of mostly European variation): why ``pcs=`` exists."""
    from bma_genetics.gwas import qc
    from bma_genetics.io import get_field, read_ukb

    planted = json.loads((tiny_cohort / "truth" / "qc_planted.json").read_text())
    outliers = set(planted["het_missing_outliers"])
    assert outliers
    data = read_ukb(tiny_cohort / "participants" / "ukb_showcase.csv", [22009], progress=False)
    pcs = get_field(data, 22009, instance=0).iloc[:, :10].rename_axis("eid").reset_index()
    bfile = tiny_cohort / "genotypes" / "array" / "ukb22418_c{chrom}_b0_v2"
    failed, table = qc.array_sample_qc(bfile, pcs=pcs)
    assert failed == outliers
    t = table.set_index("step")
    assert t.loc["array_call_rate", "flagged"] == len(outliers)
    assert t.loc["array_heterozygosity", "flagged"] == len(outliers)
    raw, _ = qc.array_sample_qc(bfile)
    assert outliers <= raw and raw - outliers <= set(planted["non_european"])

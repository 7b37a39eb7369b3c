"""The synthetic mini UK Biobank: file schemas, formats read back, statistical properties.

Most tests use the session ``tiny_cohort`` (preset tiny, seed 7). Tolerances are stated at
each assertion.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from bma_genetics.simulate.api import LAYOUT_VERSION
from bma_genetics.sites import all_traits
from tests._genotypes import read_bed, read_bgen


@pytest.fixture(scope="module")
def meta(tiny_cohort) -> dict:
    return json.loads((tiny_cohort / "cohort.json").read_text())


@pytest.fixture(scope="module")
def chr6(tiny_cohort) -> dict:
    return read_bgen(tiny_cohort / "genotypes/imputed/ukb22828_c6_b0_v3.bgen")


# ----------------------------------------------------------------------------- schemas
def test_cohort_json_lists_every_file_with_its_checksum(tiny_cohort, meta):
    import hashlib

    assert meta["layout_version"] == LAYOUT_VERSION == 9 and meta["preset"] == "tiny" and meta["seed"] == 7
    assert meta["bmff_traits"] == all_traits()
    on_disk = sorted(p.relative_to(tiny_cohort).as_posix() for p in tiny_cohort.rglob("*") if p.is_file())
    assert sorted(meta["files"]) == [p for p in on_disk if p != "cohort.json"]
    for rel, digest in meta["files"].items():
        assert hashlib.sha256((tiny_cohort / rel).read_bytes()).hexdigest() == digest, rel
    # tiny: ~1,000 people, 5-10k variants
    assert meta["n_participants"] == 1000 and 5000 <= meta["n_variants"] <= 10000
    for c in meta["chromosomes"]:
        for rel in (f"genotypes/imputed/ukb22828_c{c}_b0_v3.bgen", f"genotypes/imputed/ukb22828_c{c}_b0_v3.sample",
                    f"genotypes/imputed/ukb_mfi_chr{c}_v3.txt", f"genotypes/array/ukb22418_c{c}_b0_v2.bed",
                    f"genotypes/array/ukb22418_c{c}_b0_v2.bim", f"genotypes/array/ukb22418_c{c}_b0_v2.fam"):
            assert rel in meta["files"]


def test_genotype_file_schemas(tiny_cohort, meta, chr6):
    eids = pd.read_csv(tiny_cohort / "participants/ukb_showcase.csv", usecols=["eid"], dtype=str)["eid"]
    sample = pd.read_csv(tiny_cohort / "genotypes/imputed/ukb22828_c6_b0_v3.sample", sep=" ", dtype=str)
    assert list(sample.columns) == ["ID_1", "ID_2", "missing", "sex"]
    assert sample.iloc[0].tolist() == ["0", "0", "0", "D"]
    body = sample.iloc[1:]
    assert (body["ID_1"] == body["ID_2"]).all() and set(body["ID_1"]) == set(eids)
    assert chr6["samples"] == body["ID_1"].tolist()
    mfi = pd.read_csv(tiny_cohort / "genotypes/imputed/ukb_mfi_chr6_v3.txt", sep="\t", header=None,
                      names=["variant_id", "rsid", "position", "allele1", "allele2", "maf", "minor_allele", "info"])
    assert mfi["variant_id"].tolist() == chr6["ids"] and mfi["rsid"].tolist() == chr6["rsids"]
    assert mfi["position"].tolist() == chr6["pos"]
    assert (mfi["variant_id"] == "6:" + mfi["position"].astype(str) + "_" + mfi["allele1"] + "_" + mfi["allele2"]).all()
    assert mfi["maf"].between(0, 0.5).all() and mfi["info"].between(0, 1.0000001).all()
    assert mfi["position"].is_monotonic_increasing and mfi["position"].is_unique
    assert set(mfi["allele1"]) <= set("ACGT") and (mfi["allele1"] != mfi["allele2"]).all()
    # the MFI's maf and info are those of the probabilities in the BGEN (IMPUTE info formula)
    p = chr6["probs"]
    e = p[..., 1] + 2 * p[..., 2]
    f = p[..., 1] + 4 * p[..., 2]
    theta = e.mean(axis=1) / 2
    info = 1 - (f - e**2).sum(axis=1) / (2 * p.shape[1] * theta * (1 - theta))
    np.testing.assert_allclose(mfi["info"], info, atol=2e-6)
    np.testing.assert_allclose(mfi["maf"], np.minimum(theta, 1 - theta), rtol=1e-5, atol=1e-9)
    assert (mfi["minor_allele"] == np.where(theta <= 0.5, mfi["allele2"], mfi["allele1"])).all()
    # rsids unique across the genome, MAF filter applied (cohort MAF >= 0.005 on true genotypes;
    # imputed MAF can sit a little lower where imputation pulls dosages to the mean)
    all_rs = []
    for c in meta["chromosomes"]:
        m = pd.read_csv(tiny_cohort / f"genotypes/imputed/ukb_mfi_chr{c}_v3.txt", sep="\t", header=None)
        all_rs += m[1].tolist()
    assert len(all_rs) == len(set(all_rs)) == meta["n_variants"]
    bim = pd.read_csv(tiny_cohort / "genotypes/array/ukb22418_c6_b0_v2.bim", sep="\t", header=None,
                      names=["chrom", "id", "cm", "pos", "a1", "a2"], dtype={"chrom": str})
    assert set(bim["id"]) <= set(mfi["rsid"]) and bim["pos"].is_monotonic_increasing
    fam = pd.read_csv(tiny_cohort / "genotypes/array/ukb22418_c6_b0_v2.fam", sep=" ", header=None, dtype=str)
    assert (fam[0] == fam[1]).all() and fam[0].tolist() == chr6["samples"]
    rel = pd.read_csv(tiny_cohort / "genotypes/ukb_rel.dat", sep=" ", dtype={"ID1": str, "ID2": str})
    assert list(rel.columns) == ["ID1", "ID2", "HetHet", "IBS0", "Kinship"]
    assert (rel["Kinship"] > 0.0442).all() and len(rel) == 16


def test_participant_exports_carry_identical_data(tiny_cohort):
    show = pd.read_csv(tiny_cohort / "participants/ukb_showcase.csv", dtype=str, keep_default_na=False)
    rap = pd.read_csv(tiny_cohort / "participants/ukb_rap.csv", dtype=str, keep_default_na=False)
    import pyreadstat

    dta, _ = pyreadstat.read_dta(str(tiny_cohort / "participants/ukb_showcase.dta"))
    required = ["eid", "31-0.0", "34-0.0", "21003-2.0", "21001-2.0", "50-2.0", "54-2.0", "53-2.0", "21000-0.0",
                "22001-0.0", "22006-0.0", *[f"22009-0.{k}" for k in range(1, 41)], "22019-0.0", "22020-0.0",
                "22021-0.0", "22027-0.0", "41270-0.0", "41280-0.0"]
    assert all(c in show.columns for c in required)
    k = sum(c.startswith("41270-0.") for c in show.columns)
    assert k == sum(c.startswith("41280-0.") for c in show.columns) and k >= 5
    assert show.shape == rap.shape == dta.shape
    assert show["eid"].astype(int).is_monotonic_increasing and show["eid"].is_unique
    rap_names = {"31-0.0": "p31", "21003-2.0": "p21003_i2", "22009-0.1": "p22009_a1", "22009-0.40": "p22009_a40",
                 "41270-0.0": "p41270_a0", "41280-0.3": "p41280_a3", "53-2.0": "p53_i2", "22006-0.0": "p22006"}
    for s, r in rap_names.items():
        assert (show[s] == rap[r]).all(), s
    # Stata: ukbconv naming, same values
    assert (dta["n_eid"].astype(int).astype(str) == show["eid"]).all()
    np.testing.assert_array_equal(dta["n_21003_2_0"].to_numpy(), show["21003-2.0"].astype(float).to_numpy())
    np.testing.assert_allclose(dta["n_22009_0_1"].to_numpy(), show["22009-0.1"].astype(float).to_numpy(), rtol=1e-5)
    assert (dta["s_41270_0_0"].fillna("") == show["41270-0.0"]).all()
    d = pd.to_datetime(dta["ts_41280_0_0"]).dt.strftime("%Y-%m-%d").fillna("")
    assert (d == show["41280-0.0"]).all()
    # values: ages 45-82, four imaging centres, sexes 0/1, ICD-10 without dots, dates after birth
    age = show["21003-2.0"].astype(int)
    assert age.between(45, 82).all() and 60 < age.mean() < 68
    assert set(show["54-2.0"].astype(int)) <= {11025, 11026, 11027, 11028}
    assert set(show["31-0.0"]) == {"0", "1"}
    codes = show[[c for c in show.columns if c.startswith("41270-0.")]].to_numpy().ravel()
    codes = codes[codes != ""]
    assert pd.Series(codes).str.fullmatch(r"[A-Z][0-9]{2}[0-9A-Z]?").all()
    dates = show[[c for c in show.columns if c.startswith("41280-0.")]].replace("", np.nan)
    assert (dates.notna().to_numpy() == (show[[c for c in show.columns if c.startswith("41270-0.")]] != "").to_numpy()).all()
    first = pd.to_datetime(dates.stack()).groupby(level=0).min()
    assert (first.dt.year > show.loc[first.index, "34-0.0"].astype(int)).all()
    # records run a year past the censoring date 2022-10-31 (incomplete, as UK Biobank's HES data)
    assert (pd.to_datetime(dates.stack()) <= pd.Timestamp("2023-10-31")).all()
    # group-2 ancestry: 22006 empty, mostly non-white ethnic codes
    qc = json.loads((tiny_cohort / "truth/qc_planted.json").read_text())
    g2 = show[show["eid"].isin(qc["non_european"])]
    assert (g2["22006-0.0"] == "").all()
    assert (~g2["21000-0.0"].isin(["1001", "1002", "1003"])).mean() > 0.8
    white_brit = show[~show["eid"].isin(qc["non_european"])]
    assert (white_brit["22006-0.0"] == "1").mean() > 0.8
    wd = (tiny_cohort / "participants/withdrawals.csv").read_text().split()
    assert wd == sorted(qc["withdrawn"], key=int) and 2 <= len(wd) <= 10  # ~0.5 % of 1,000


def test_planted_qc_problems_are_in_the_fields(tiny_cohort):
    show = pd.read_csv(tiny_cohort / "participants/ukb_showcase.csv", dtype=str, keep_default_na=False).set_index("eid")
    qc = json.loads((tiny_cohort / "truth/qc_planted.json").read_text())
    mismatch = show.index[show["31-0.0"] != show["22001-0.0"]]
    assert sorted(mismatch, key=int) == qc["sex_mismatch"] and len(mismatch) == 4
    assert sorted(show.index[show["22027-0.0"] == "1"], key=int) == qc["het_missing_outliers"]
    assert sorted(show.index[show["22019-0.0"] == "1"], key=int) == qc["aneuploidy"]
    assert sorted(show.index[show["22020-0.0"] != "1"], key=int) == qc["not_used_in_pca"]
    in_pairs = {e for a, b, _ in qc["related_pairs"] for e in (a, b)}
    assert set(show.index[show["22021-0.0"] == "1"]) == in_pairs
    kinds = {k for _, _, k in qc["related_pairs"]}
    assert kinds == {"sibling", "parent_offspring"}
    mfi = pd.concat(pd.read_csv(p, sep="\t", header=None) for p in (tiny_cohort / "genotypes/imputed").glob("*mfi*"))
    assert set(qc["low_info_variants"]) == set(mfi.loc[mfi[7] < 0.3, 0])
    assert 0.02 < len(qc["low_info_variants"]) / len(mfi) < 0.2
    assert len(qc["hwe_fail_variants"]) == 10 and len(qc["low_call_rate_variants"]) == 10


def test_bmff_tables(tiny_cohort):
    true = pd.read_parquet(tiny_cohort / "truth/bmff_true.parquet")
    idp = pd.read_parquet(tiny_cohort / "participants/bmff_idp.parquet")
    assert list(true.columns) == ["eid", *all_traits()] == list(idp.columns)
    assert true["eid"].dtype == object and len(true) == 1000 and 900 <= len(idp) < 1000
    assert set(idp["eid"]) <= set(true["eid"])
    # derived traits are means of their parts
    np.testing.assert_allclose(true["bmff_femoral_head"], true[["bmff_femoral_head_left", "bmff_femoral_head_right"]].mean(axis=1))
    np.testing.assert_allclose(true["bmff_spine"], true[[f"bmff_{v}" for v in ("t8", "t9", "t10", "t11", "t12", "l1", "l2", "l3", "l4", "l5")]].mean(axis=1))
    # fat-fraction ranges (medians): femoral head 0.85-0.92, hip 0.70-0.80, diaphysis 0.75-0.85, spine 0.40-0.60
    med = true.median(numeric_only=True)
    assert 0.85 <= med["bmff_femoral_head"] <= 0.92
    assert 0.70 <= med["bmff_total_hip"] <= 0.80
    assert 0.75 <= med["bmff_femoral_diaphysis"] <= 0.85
    assert 0.40 <= med["bmff_spine"] <= 0.60
    assert ((true[all_traits()] > 0) & (true[all_traits()] < 1)).all().all()
    # measurement noise: IDP = truth + noise with SD ~0.35 s (femoral head s = 0.025)
    m = idp.merge(true, on="eid", suffixes=("", "_true"))
    d = (m["bmff_femoral_head_left"] - m["bmff_femoral_head_left_true"]).dropna()
    assert 0.007 < d.std() < 0.011 and abs(d.mean()) < 0.002
    # covariate directions: BMFF rises with age at every main site; men higher at the femur
    show = pd.read_csv(tiny_cohort / "participants/ukb_showcase.csv", usecols=["eid", "31-0.0", "21003-2.0"], dtype={"eid": str})
    t = true.merge(show, on="eid")
    for site in ("bmff_femoral_head", "bmff_total_hip", "bmff_femoral_diaphysis", "bmff_spine"):
        assert np.corrcoef(t["21003-2.0"], t[site])[0, 1] > 0.05, site
    assert t.loc[t["31-0.0"] == 1, "bmff_total_hip"].mean() > t.loc[t["31-0.0"] == 0, "bmff_total_hip"].mean()


def test_truth_files(tiny_cohort):
    h = json.loads((tiny_cohort / "truth/heritability.json").read_text())
    assert set(h["h2"]) == set(all_traits()) and all(0.2 <= v <= 0.5 for v in h["h2"].values())
    rg = np.array(h["rg"]["matrix"])
    assert h["rg"]["traits"] == all_traits() and np.allclose(rg, rg.T) and np.allclose(np.diag(rg), 1)
    assert np.linalg.eigvalsh(rg).min() > -1e-5  # PSD up to the 6-decimal rounding
    i = all_traits().index
    assert 0.6 <= rg[i("bmff_femoral_head"), i("bmff_total_hip")] <= 0.9
    assert 0.3 <= rg[i("bmff_femoral_head"), i("bmff_spine")] <= 0.5
    cv = pd.read_csv(tiny_cohort / "truth/causal_variants.tsv", sep="\t", dtype={"chromosome": str}, keep_default_na=False)
    assert list(cv.columns[:8]) == ["variant_id", "chromosome", "base_pair_location", "effect_allele", "other_allele",
                                    "gene", "trait", "beta"]
    genes = {"CCDC170", "ESR1", "CYP19A1", "HK1", "CCDC91", "PPARG", "LEPR", "WNT16", "TNFRSF11B", "FLT3"}
    assert set(cv["gene"]) - {""} == genes
    assert set(cv["trait"]) == set(all_traits())
    de = pd.read_csv(tiny_cohort / "truth/disease_effects.tsv", sep="\t")
    assert list(de.columns[:5]) == ["disease", "icd10_codes", "exposure", "log_hazard_ratio_per_sd",
                                    "cumulative_incidence"]
    assert {"osteoporosis", "fracture", "type_2_diabetes", "cardiovascular", "lymphoma"} == set(de["disease"])
    mr = json.loads((tiny_cohort / "truth/mr_truth.json").read_text())
    assert mr["exposure"] == "bmff_femoral_head" and mr["outcome"] == "osteoporosis" and mr["causal_log_odds_per_sd"] > 0


def test_outcome_gwas_is_gwas_ssf(tiny_cohort):
    path = tiny_cohort / "outcome_gwas/osteoporosis.tsv.gz"
    with open(path, "rb") as fh:
        head = fh.read(10)
    assert head[:2] == b"\x1f\x8b" and head[4:8] == b"\x00\x00\x00\x00"  # gzip, mtime=0
    ss = pd.read_csv(path, sep="\t", dtype={"chromosome": str}, na_values="#NA")
    assert list(ss.columns) == ["chromosome", "base_pair_location", "effect_allele", "other_allele", "beta",
                                "standard_error", "effect_allele_frequency", "p_value", "rsid", "variant_id", "n"]
    meta = yaml.safe_load((tiny_cohort / "outcome_gwas/osteoporosis.tsv.gz-meta.yaml").read_text())
    import hashlib

    assert meta["data_file_md5sum"] == hashlib.md5(path.read_bytes()).hexdigest()
    assert meta["file_type"] == "GWAS-SSF v1.0" and meta["genome_assembly"] == "GRCh37"
    assert meta["case_count"] + meta["control_count"] == meta["sample_size"] == ss["n"].iloc[0] == 2000
    assert ss["p_value"].dropna().between(0, 1).all() and ss["beta"].notna().mean() > 0.99
    # calibration under the null: variants on chromosomes without any causal variant for
    # femoral head (none: every segment has background causals), so use the median chi-square
    # over all variants: lambda_GC within [0.9, 1.15] (polygenic signal is weak at n = 2,000)
    chi2 = (ss["beta"] / ss["standard_error"]).dropna() ** 2
    assert 0.9 < np.median(chi2) / 0.4549 < 1.15


# ----------------------------------------------------------------------------- genotypes
def test_bgen_probabilities_follow_true_genotypes(tiny_cohort, chr6):
    """8-bit probabilities sum to 1; dosages track the truth except where INFO is low."""
    p = chr6["probs"]
    assert np.all(p >= -1e-12) and np.allclose(p.sum(axis=2), 1)
    bim = pd.read_csv(tiny_cohort / "genotypes/array/ukb22418_c6_b0_v2.bim", sep="\t", header=None)
    bed = read_bed(tiny_cohort / "genotypes/array/ukb22418_c6_b0_v2", len(chr6["samples"]))
    idx = [chr6["rsids"].index(r) for r in bim[1]]
    dosage = p[idx, :, 1] + 2 * p[idx, :, 2]
    alt = bed  # A1 = ALT, so the A1 count is the ALT count
    ok = alt >= 0
    qc = json.loads((tiny_cohort / "truth/qc_planted.json").read_text())
    outl = np.isin(chr6["samples"], qc["het_missing_outliers"])
    # array variants are imputed with high quality: rounded dosage = hard call for >= 99 %
    agree = (np.rint(dosage) == alt)[ok & ~outl[None, :]]
    assert agree.mean() > 0.99
    assert (bim[4] == [chr6["alleles"][i][1] for i in idx]).all()  # A1 = ALT
    assert (bim[5] == [chr6["alleles"][i][0] for i in idx]).all()  # A2 = REF


def test_array_missingness_planted(tiny_cohort, meta):
    qc = json.loads((tiny_cohort / "truth/qc_planted.json").read_text())
    fam = pd.read_csv(tiny_cohort / "genotypes/array/ukb22418_c6_b0_v2.fam", sep=" ", header=None, dtype=str)
    calls, ids = [], []
    for c in meta["chromosomes"]:
        prefix = tiny_cohort / f"genotypes/array/ukb22418_c{c}_b0_v2"
        calls.append(read_bed(prefix, len(fam)))
        bim = pd.read_csv(prefix.with_suffix(".bim"), sep="\t", header=None, dtype={0: str})
        ids += (bim[0] + ":" + bim[3].astype(str) + "_" + bim[5] + "_" + bim[4]).tolist()
    g = np.vstack(calls)
    call_rate = (g >= 0).mean(axis=1)
    low = np.isin(ids, qc["low_call_rate_variants"])
    assert low.sum() == 10
    assert call_rate[low].max() < 0.9 and call_rate[~low].min() > 0.9
    miss_sample = (g < 0).mean(axis=0)
    outl = fam[0].isin(qc["het_missing_outliers"]).to_numpy()
    assert miss_sample[outl].min() > 0.03 and miss_sample[~outl].max() < 0.03
    # HWE failures: heterozygote deficit; exact HWE test (plink's) p < 1e-6 for every one
    from scipy import stats

    hwe = np.isin(ids, qc["hwe_fail_variants"])
    for row in g[hwe]:
        r = row[row >= 0]
        n0, n1, n2 = (r == 0).sum(), (r == 1).sum(), (r == 2).sum()
        n = n0 + n1 + n2
        p = (2 * n2 + n1) / (2 * n)
        exp = np.array([(1 - p) ** 2, 2 * p * (1 - p), p**2]) * n
        assert stats.chisquare([n0, n1, n2], exp, ddof=1).pvalue < 1e-6


def test_ld_decays_with_distance(tiny_cohort, chr6):
    """Mean r^2 of pairs < 20 kb is more than 3x that of pairs > 200 kb (common variants)."""
    p = chr6["probs"]
    d = p[..., 1] + 2 * p[..., 2]
    pos = np.array(chr6["pos"])
    af = d.mean(axis=1) / 2
    keep = (np.minimum(af, 1 - af) > 0.05)
    d, pos = d[keep], pos[keep]
    r2 = np.corrcoef(d) ** 2
    dist = np.abs(pos[:, None] - pos[None, :])
    iu = np.triu_indices(len(pos), 1)
    near = r2[iu][dist[iu] < 20_000].mean()
    far = r2[iu][dist[iu] > 200_000].mean()
    assert near > 3 * far, (near, far)


def test_allele_frequencies_within_sampling_error(tiny_cohort, meta):
    """Cohort and the independent outcome sample are draws from one population.

    For each variant z = (p1 - p2) / sqrt(p(1-p) (1/2n1 + 1/2n2)) (binomial sampling; slightly
    conservative since relatives and the ancestry mix add variance): |z| < 3.29 for >= 99 %
    of variants (expected 99.9 %), and mean z^2 within [0.85, 1.25].
    """
    ss = pd.read_csv(tiny_cohort / "outcome_gwas/osteoporosis.tsv.gz", sep="\t", dtype={"chromosome": str})
    mfi = pd.concat(pd.read_csv(tiny_cohort / f"genotypes/imputed/ukb_mfi_chr{c}_v3.txt", sep="\t", header=None)
                    for c in meta["chromosomes"])
    # cohort ALT frequency from true genotypes: use the BGEN's most likely genotype on high-INFO variants
    bg = read_bgen(tiny_cohort / "genotypes/imputed/ukb22828_c6_b0_v3.bgen")
    hard = bg["probs"].argmax(axis=2)
    info = mfi.set_index(0).loc[bg["ids"], 7].to_numpy()
    good = info > 0.95
    p1 = hard[good].mean(axis=1) / 2
    p2 = ss.set_index("variant_id").loc[np.array(bg["ids"])[good], "effect_allele_frequency"].to_numpy()
    n1, n2 = hard.shape[1], 2000
    pbar = (p1 * n1 + p2 * n2) / (n1 + n2)
    z = (p1 - p2) / np.sqrt(pbar * (1 - pbar) * (1 / (2 * n1) + 1 / (2 * n2)))
    assert len(z) > 200
    assert (np.abs(z) < 3.29).mean() > 0.99
    assert 0.85 < np.mean(z**2) < 1.25
    # site frequency spectrum: the MAF >= 0.005 filter holds (true-genotype MAF; imputed MAF
    # of low-INFO variants shrinks towards the mean, so test the high-INFO ones)
    maf = np.minimum(p1, 1 - p1)
    assert maf.min() >= 0.004


def test_realised_h2_matches_stated(tiny_cohort):
    """Realised h2 (var G / var(G + E) in the 1,000-person cohort) within 0.05 of the stated
    value for every trait: the genetic variance is fixed in the simulated population
    (cohort + outcome sample), so only sampling remains (SE ~ 0.015-0.02 at n = 1,000)."""
    h = json.loads((tiny_cohort / "truth/heritability.json").read_text())
    for t in all_traits():
        assert abs(h["realised_h2"][t] - h["h2"][t]) < 0.05, (t, h["realised_h2"][t], h["h2"][t])
        assert abs(h["realised_h2_idp"][t] - h["h2_idp"][t]) < 0.06, t


def test_h2_recovered_by_regression_on_causal_genotypes(tiny_cohort):
    """Independent check of the truth: regressing the true (latent) femoral-head trait on the
    written causal genotypes explains the stated h2 (R^2 within 0.06, i.e. ~3 SE at n=1,000 with
    ~160 predictors once the expected R^2 inflation p/n is removed)."""
    import statsmodels.api as sm

    cv = pd.read_csv(tiny_cohort / "truth/causal_variants.tsv", sep="\t", dtype={"chromosome": str}, keep_default_na=False)
    cv = cv[cv["trait"] == "bmff_femoral_head_left"]
    true = pd.read_parquet(tiny_cohort / "truth/bmff_true.parquet")
    show = pd.read_csv(tiny_cohort / "participants/ukb_showcase.csv",
                       usecols=["eid", "31-0.0", "21003-2.0", "21001-2.0"], dtype={"eid": str})
    bgs = {}
    for c in cv["chromosome"].unique():
        bgs[c] = read_bgen(tiny_cohort / f"genotypes/imputed/ukb22828_c{c}_b0_v3.bgen", set(cv["variant_id"]))
    cols = []
    samples = bgs[next(iter(bgs))]["samples"]
    for vid, c in zip(cv["variant_id"], cv["chromosome"], strict=True):
        b = bgs[c]
        k = b["ids"].index(vid)
        cols.append(b["probs"][k].argmax(axis=1))
    x = pd.DataFrame(np.column_stack(cols), index=samples)
    df = show.set_index("eid").join(true.set_index("eid")["bmff_femoral_head_left"]).join(x)
    y = df["bmff_femoral_head_left"]
    cov = sm.add_constant(df[["31-0.0", "21003-2.0", "21001-2.0"]].astype(float))
    resid = sm.OLS(y, cov).fit().resid
    r2 = sm.OLS(resid, sm.add_constant(df[x.columns].astype(float))).fit().rsquared
    p, n = len(x.columns), len(df)
    h = json.loads((tiny_cohort / "truth/heritability.json").read_text())
    adj = r2 - p / n * (1 - r2)
    assert abs(adj - h["h2"]["bmff_femoral_head_left"]) < 0.06, (adj, r2)


@pytest.mark.slow
def test_hail_reads_bgen_and_plink_back(tiny_cohort, hail_context, chr6):
    hl = hail_context
    base = tiny_cohort / "genotypes"
    bgen = str(base / "imputed/ukb22828_c6_b0_v3.bgen")
    import shutil
    import tempfile

    work = Path(tempfile.mkdtemp())
    shutil.copy(bgen, work / "c6.bgen")  # Hail writes its index beside the file; keep the cohort untouched
    hl.index_bgen(str(work / "c6.bgen"), reference_genome="GRCh37")
    mt = hl.import_bgen(str(work / "c6.bgen"), entry_fields=["dosage", "GP"],
                        sample_file=str(base / "imputed/ukb22828_c6_b0_v3.sample"))
    assert mt.s.collect() == chr6["samples"]
    rows = mt.rows().collect()
    assert [r.varid for r in rows] == chr6["ids"] and [r.rsid for r in rows] == chr6["rsids"]
    assert [r.locus.position for r in rows] == chr6["pos"] and [list(r.alleles) for r in rows] == chr6["alleles"]
    # entries of the first 200 variants as flat float arrays (collecting structs one by one is slow)
    k = 200
    t = mt.head(k).localize_entries("e")
    t = t.select(gp=t.e.flatmap(lambda x: x.GP), d=t.e.map(lambda x: x.dosage))
    ent = t.collect()
    n = len(chr6["samples"])
    gp = np.array([r.gp for r in ent], dtype=float).reshape(k, n, 3)
    np.testing.assert_allclose(gp, chr6["probs"][:k], atol=1e-6)
    dos = np.array([r.d for r in ent], dtype=float)
    np.testing.assert_allclose(dos, chr6["probs"][:k, :, 1] + 2 * chr6["probs"][:k, :, 2], atol=1e-6)

    prefix = base / "array/ukb22418_c6_b0_v2"
    pl = hl.import_plink(bed=f"{prefix}.bed", bim=f"{prefix}.bim", fam=f"{prefix}.fam", reference_genome="GRCh37")
    assert pl.s.collect() == chr6["samples"]
    t = pl.localize_entries("e")
    # Hail takes A2 as reference (a2_reference=True): n_alt_alleles counts A1 = ALT; missing -> -1
    t = t.select(rsid=t.rsid, g=t.e.map(lambda x: hl.or_else(x.GT.n_alt_alleles(), -1)))
    pr = t.collect()
    calls = np.array([r.g for r in pr], dtype=np.int8)
    np.testing.assert_array_equal(calls, read_bed(prefix, n))
    idx = [chr6["rsids"].index(r.rsid) for r in pr]
    assert [r.alleles[0] for r in pr] == [chr6["alleles"][i][0] for i in idx]
    assert [r.locus.position for r in pr] == [chr6["pos"][i] for i in idx]
    shutil.rmtree(work, ignore_errors=True)


def test_outcome_logistic_matches_statsmodels():
    """The grouped Newton fit equals statsmodels' per-person Logit (1e-6 relative)."""
    import statsmodels.api as sm

    from bma_genetics.simulate.outcome import genotype_tables, logistic_from_tables

    rng = np.random.default_rng(3)
    n = 3000
    x = rng.binomial(2, [[0.1], [0.3], [0.5], [0.02]], size=(4, n)).astype(np.int8)
    y = (rng.random(n) < 1 / (1 + np.exp(-(-1.5 + 0.3 * x[1])))).astype(np.int8)
    total, cases = genotype_tables(x, y)
    beta, se, conv = logistic_from_tables(total, cases)
    assert conv.all()
    for k in range(4):
        fit = sm.Logit(y.astype(float), sm.add_constant(x[k].astype(float))).fit(disp=0)
        np.testing.assert_allclose(beta[k], fit.params[1], rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(se[k], fit.bse[1], rtol=1e-6)
    # a monomorphic variant gives NaN, not an error
    b, s, c = logistic_from_tables(np.array([[n, 0, 0]], float), np.array([[y.sum(), 0, 0]], float))
    assert np.isnan(b[0]) and not c[0]


def test_quantize_probabilities_follows_the_bgen_rule():
    from bma_genetics.simulate.writers import quantize_probabilities

    p = np.array([[1 / 3, 1 / 3, 1 / 3], [0.5, 0.5, 0.0], [0.001, 0.998, 0.001], [0.2, 0.3, 0.5]])
    q = quantize_probabilities(p).astype(int)
    assert (q.sum(axis=1) == 255).all()
    assert q.tolist()[1] == [128, 127, 0] or q.tolist()[1] == [127, 128, 0]
    np.testing.assert_array_less(np.abs(q / 255 - p), 1 / 255 + 1e-12)


# ----------------------------------------------------------------------------- determinism, CLI, resume
SMALL = dict(n_participants=200, n_outcome=200, n_variants=600, segment_length=200_000, n_background_segments=1,
             n_background_causal=20, n_sib_pairs=2, n_po_pairs=2, n_sex_mismatch=1, n_het_missing_outliers=1,
             n_aneuploidy=1, n_hwe_fail=2, n_low_call_rate=2, n_random_phecodes=60)


def test_same_seed_same_bytes_and_resume(tmp_path):
    from bma_genetics.simulate import simulate_cohort

    a = simulate_cohort("tiny", seed=11, out=tmp_path / "a", **SMALL)
    b = simulate_cohort("tiny", seed=11, out=tmp_path / "b", **SMALL)
    fa = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    fb = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert fa == fb and len(fa) > 20
    for rel in fa:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
    c = simulate_cohort("tiny", seed=12, out=tmp_path / "c", **SMALL)
    assert (a / "truth/bmff_true.parquet").read_bytes() != (c / "truth/bmff_true.parquet").read_bytes()
    # resume: same preset, seed and parameters with intact files -> untouched
    stamp = (a / "cohort.json").stat().st_mtime_ns
    simulate_cohort("tiny", seed=11, out=a, resume=True, **SMALL)
    assert (a / "cohort.json").stat().st_mtime_ns == stamp
    # files added by later stages (a BGEN index) do not invalidate the cohort
    (a / "genotypes/imputed/extra.idx2").write_bytes(b"index")
    simulate_cohort("tiny", seed=11, out=a, resume=True, **SMALL)
    assert (a / "cohort.json").stat().st_mtime_ns == stamp
    # a damaged file is redone
    (a / "genotypes/ukb_rel.dat").write_text("broken\n")
    simulate_cohort("tiny", seed=11, out=a, resume=True, **SMALL)
    assert (a / "genotypes/ukb_rel.dat").read_bytes() == (b / "genotypes/ukb_rel.dat").read_bytes()
    # a cohort written by a simulator of another layout version is redone, never reused
    meta = json.loads((a / "cohort.json").read_text())
    (a / "cohort.json").write_text(json.dumps({**meta, "layout_version": meta["layout_version"] - 1}))
    simulate_cohort("tiny", seed=11, out=a, resume=True, **SMALL)
    assert json.loads((a / "cohort.json").read_text())["layout_version"] == meta["layout_version"]
    assert not list(tmp_path.glob(".*tmp"))  # no temporary folders left behind


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--preset", "huge", "--seed", "1"], "unknown preset 'huge'"),
        (["--preset", "tiny", "--seed", "-3"], "simulate_cohort/seed"),
    ],
)
def test_cli_errors_are_one_line(tmp_path, capsys, args, needle):
    from bma_genetics.cli import main

    rc = main(["simulate", *args, "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.count("\n") == 0 and needle in err and "Traceback" not in err


def test_cli_unwritable_output_is_one_line(tmp_path, capsys):
    from bma_genetics.cli import main

    blocker = tmp_path / "file"
    blocker.write_text("x")
    rc = main(["simulate", "--preset", "tiny", "--seed", "1", "--out", str(blocker / "sub" / "cohort")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.count("\n") == 0 and "simulate_cohort/out" in err


def test_api_rejects_bad_sizes(tmp_path):
    from bma_genetics.errors import InputError
    from bma_genetics.simulate import simulate_cohort

    with pytest.raises(InputError, match="simulate_cohort/n_participants"):
        simulate_cohort("tiny", seed=1, out=tmp_path / "x", n_participants=-5)
    with pytest.raises(InputError, match="unknown parameter"):
        simulate_cohort("tiny", seed=1, out=tmp_path / "x", n_people=5)
    (tmp_path / "notacohort").mkdir()
    (tmp_path / "notacohort" / "keep.txt").write_text("mine")
    with pytest.raises(InputError, match="not a cohort"):
        simulate_cohort("tiny", seed=1, out=tmp_path / "notacohort")


def test_disease_effects_recovered(tiny_cohort):
    """A Cox model of the simulated onsets (age as the time scale, entry at the start of the
    records, exit at onset, death or the data end) on true BMFF, sex and BMI recovers the stated
    log hazard ratio per SD within 4 standard errors (osteoporosis, type 2 diabetes)."""
    import statsmodels.api as sm

    show = pd.read_csv(tiny_cohort / "participants/ukb_showcase.csv", dtype=str, keep_default_na=False)
    true = pd.read_parquet(tiny_cohort / "truth/bmff_true.parquet")
    h = json.loads((tiny_cohort / "truth/heritability.json").read_text())
    de = pd.read_csv(tiny_cohort / "truth/disease_effects.tsv", sep="\t").set_index("disease")
    fu = pd.read_csv(tiny_cohort / "truth/follow_up.tsv", sep="\t", dtype={"eid": str},
                     parse_dates=["risk_start", "date_of_death"])
    onsets = pd.read_csv(tiny_cohort / "truth/disease_onsets.tsv", sep="\t", dtype={"eid": str},
                         parse_dates=["onset_date"])
    df = show[["eid", "31-0.0", "21001-2.0", "34-0.0"]].merge(true, on="eid").merge(fu, on="eid")
    born = pd.to_datetime(df["34-0.0"] + "-07-01")
    entry = ((df["risk_start"] - born).dt.days / 365.25).to_numpy()
    for disease in ("osteoporosis", "type_2_diabetes"):
        exposure = de.loc[disease, "exposure"]
        # BMFF in latent-SD units: fat fraction / (fat fraction per latent unit * latent SD)
        z = df[exposure] / (h["fat_fraction_per_latent_unit"][exposure] * h["latent_sd"][exposure])
        onset = df["eid"].map(onsets[onsets["disease"] == disease].set_index("eid")["onset_date"])
        exit_age = (onset.fillna(df["date_of_death"].fillna(pd.Timestamp("2023-10-31"))) - born).dt.days / 365.25
        x = np.column_stack([z, df["31-0.0"].astype(float), df["21001-2.0"].astype(float) - 26.5])
        fit = sm.PHReg(exit_age.to_numpy(), x, status=onset.notna().to_numpy().astype(int), entry=entry).fit()
        est, se = fit.params[0], fit.bse[0]
        assert abs(est - de.loc[disease, "log_hazard_ratio_per_sd"]) < 4 * se, (disease, est, se)


def test_outcome_gwas_recovers_the_mr_effect(tiny_cohort):
    """IVW of the outcome GWAS on the true per-allele exposure effects (all causal variants of
    femoral-head BMFF) recovers the causal log-odds per SD within 4 SE (the unadjusted
    logistic GWAS attenuates it by a few percent, well inside that)."""
    mr = json.loads((tiny_cohort / "truth/mr_truth.json").read_text())
    cv = pd.read_csv(tiny_cohort / "truth/causal_variants.tsv", sep="\t", keep_default_na=False)
    cv = cv[cv["trait"] == mr["exposure"]]
    ss = pd.read_csv(tiny_cohort / "outcome_gwas/osteoporosis.tsv.gz", sep="\t", na_values="#NA")
    m = cv.merge(ss, on="variant_id", suffixes=("_exp", "")).dropna(subset=["beta", "standard_error"])
    assert len(m) > 100 and (m["effect_allele_exp"] == m["effect_allele"]).all()
    w = m["beta_exp"] ** 2 / m["standard_error"] ** 2
    est = (m["beta_exp"] * m["beta"] / m["standard_error"] ** 2).sum() / w.sum()
    se = 1 / np.sqrt(w.sum())
    assert abs(est - mr["causal_log_odds_per_sd"]) < 4 * se, (est, se)
    assert est > 0

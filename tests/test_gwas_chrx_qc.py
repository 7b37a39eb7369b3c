"""chrX as UK Biobank ships it, through the GWAS QC and association, against plink2.

Data: the session's tiny cohort (``tests/conftest.py``). Its chrX window straddles the PAR1
boundary (GRCh37 2,699,520): ``ukb22828_cX_b0_v3`` (outside PAR1; males hemizygous, coded 0/2) and
``ukb22828_cXY_b0_v3`` (PAR1; diploid in both sexes) BGEN files, array ``.bim`` codes 23 and 25,
sex in the ``.sample`` and ``.fam``. Before this change the variant QC ran Hardy-Weinberg over
every sample, so males' 0/2 codes wiped out every common chrX variant, and allele frequencies
counted males twice.

The plink2 comparisons that need exact inputs run on the array calls (hard calls: the same
numbers for both tools) with the few missing calls filled in (Hail mean-imputes a missing dosage,
plink2 drops the sample: a documented difference, not the subject here).
"""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pandas as pd
import pytest

from tests._genotypes import read_bed, read_bgen, write_bed

PAR1_END = 2_699_520
COVS = ["c1"]  # sex is not listed: on chrX outside PAR both tools add it


def _sample_sex(path) -> np.ndarray:
    s = pd.read_csv(path, sep=" ", dtype=str).iloc[1:]
    return (s["sex"] == "1").to_numpy()


# ----------------------------------------------------------------------------- the simulator
def test_simulated_chrx_as_uk_biobank(tiny_cohort):
    """X and XY files, PAR1 positions in XY only, males never heterozygous outside PAR1 (UK Biobank's
    diploid 0/2 coding), .bim codes 23/25, and a causal variant whose effect differs by sex."""
    imp, arr = tiny_cohort / "genotypes/imputed", tiny_cohort / "genotypes/array"
    meta = json.loads((tiny_cohort / "cohort.json").read_text())
    assert meta["chromosomes"][-2:] == ["X", "XY"]
    male = _sample_sex(imp / "ukb22828_cX_b0_v3.sample")
    assert 0.3 < male.mean() < 0.7
    x, xy = read_bgen(imp / "ukb22828_cX_b0_v3.bgen"), read_bgen(imp / "ukb22828_cXY_b0_v3.bgen")
    assert min(x["pos"]) > PAR1_END >= max(xy["pos"]) and len(x["pos"]) > 100 and len(xy["pos"]) > 100
    assert x["probs"][:, male, 1].max() == 0  # no heterozygous male outside PAR1
    assert x["probs"][:, ~male, 1].mean() > 0.05 and xy["probs"][:, male, 1].mean() > 0.05
    fam = pd.read_csv(arr / "ukb22418_cX_b0_v2.fam", sep=" ", header=None, dtype=str)
    assert ((fam[4] == "1").to_numpy() == male).all()
    assert set(pd.read_csv(arr / "ukb22418_cX_b0_v2.bim", sep="\t", header=None, dtype=str)[0]) == {"23"}
    assert set(pd.read_csv(arr / "ukb22418_cXY_b0_v2.bim", sep="\t", header=None, dtype=str)[0]) == {"25"}
    calls = read_bed(arr / "ukb22418_cX_b0_v2", len(fam))
    planted = json.loads((tiny_cohort / "truth/qc_planted.json").read_text())["het_missing_outliers"]
    clean = male & ~fam[0].isin(planted).to_numpy()  # the planted outliers have miscalled hets
    assert not ((calls == 1) & clean[None, :]).any()
    truth = pd.read_csv(tiny_cohort / "truth/chrx_effects.tsv", sep="\t")
    fh = truth.set_index("trait").loc["bmff_femoral_head_left"]
    assert fh["base_pair_location"] > PAR1_END and fh["beta_male"] == pytest.approx(3 * fh["beta_female"])
    assert fh["variant_id"] in x["ids"]


# ----------------------------------------------------------------------------- QC
@pytest.fixture(scope="module")
def imputed_x(tiny_cohort, hail_context, tmp_path_factory):
    from bma_genetics.gwas import read_genotypes

    imp = tiny_cohort / "genotypes/imputed"
    return read_genotypes(bgen=imp / "ukb22828_c{chrom}_b0_v3.bgen", chromosomes=["X", "XY"],
                          index_dir=tmp_path_factory.mktemp("bgen-index"))


def test_chrx_survives_variant_qc(tiny_cohort, imputed_x):
    """With the default thresholds, Hardy-Weinberg removes no chrX variant that the other steps keep
    (females only outside PAR); every common, well-imputed chrX variant outside PAR survives."""
    import hail as hl

    from bma_genetics.gwas.qc import read_mfi, variant_qc

    imp = tiny_cohort / "genotypes/imputed"
    mt = imputed_x
    assert mt.aggregate_cols(hl.agg.counter(mt.sex)).keys() == {0, 1}  # sex from the .sample
    mfi = read_mfi([imp / "ukb_mfi_chrX_v3.txt", imp / "ukb_mfi_chrXY_v3.txt"])
    kept, table = variant_qc(mt, mfi=mfi)
    step = table.set_index("step")
    assert step.loc["hwe", "removed"] == 0, table
    info = pd.read_csv(imp / "ukb_mfi_chrX_v3.txt", sep="\t", header=None)
    good = set(info.loc[(info[7] >= 0.8) & (info[5] >= 0.05), 2])
    survived = set(kept.filter_rows(kept.locus.in_x_nonpar()).locus.position.collect())
    assert len(good) >= 20 and good <= survived


@pytest.fixture(scope="module")
def filled_array(tiny_cohort, tmp_path_factory):
    """The tiny cohort's chrX array calls (X: code 23, XY: code 25, .fam sex), missing calls set to
    the homozygous call of the more common allele (also a male's heterozygous calls outside PAR: the
    planted het/missing outliers have some)."""
    arr = tiny_cohort / "genotypes/array"
    d = tmp_path_factory.mktemp("chrx_array")
    fam = pd.read_csv(arr / "ukb22418_cX_b0_v2.fam", sep=" ", header=None, dtype=str)
    male = (fam[4] == "1").to_numpy()
    out = {}
    for tag in ("X", "XY"):
        src = arr / f"ukb22418_c{tag}_b0_v2"
        bim = pd.read_csv(src.with_suffix(".bim"), sep="\t", header=None, dtype={0: str})
        calls = read_bed(src, len(fam)).astype(int)
        fill = np.where(np.nanmean(np.where(calls >= 0, calls, np.nan), axis=1) >= 1, 2, 0)
        bad = (calls < 0) | ((calls == 1) & male[None, :]) if tag == "X" else calls < 0
        calls = np.where(bad, fill[:, None], calls)
        write_bed(d / tag, calls, bim[0].to_numpy(), bim[3].to_numpy(), fam[0].tolist(), bim[4].to_numpy(),
                  bim[5].to_numpy(), sex=np.where(male, 1, 2))
        out[tag] = d / tag
    return {"prefix": out, "male": male, "eids": fam[0].tolist(), "dir": d}


def _plink2(args, out):
    from benchmarks.gwas_vs_plink2 import plink2_binary
    from benchmarks.peers import PeerUnavailable

    try:
        exe, env = plink2_binary()
    except PeerUnavailable as exc:
        pytest.skip(f"plink2 unavailable: {exc}")
    res = subprocess.run([str(exe), *args, "--memory", "2048", "--threads", "1", "--out", str(out)],
                         capture_output=True, text=True, env=env)
    assert res.returncode == 0, res.stdout[-2000:]


@pytest.mark.peer
def test_chrx_qc_equals_plink2_freq_and_female_hardy(filled_array, hail_context):
    """Array chrX (hard calls, .fam sex): allele frequency equals plink2 ``--freq`` (males once outside
    PAR, twice in PAR) and the Hardy-Weinberg P equals plink2 ``--hardy``'s ``FEMALE_ONLY_P`` outside
    PAR and its P in PAR, to plink2's printed digits (Hail's exact test is mid-p: plink2 ``midp``)."""
    from bma_genetics.gwas import read_genotypes
    from bma_genetics.gwas.qc import annotate_variant_qc

    d = filled_array["dir"]
    for tag, p_col in (("X", "FEMALE_ONLY_MIDP"), ("XY", "MIDP")):
        _plink2(["--bfile", str(filled_array["prefix"][tag]), "--freq", "--hardy", "midp", "cols=+femalep"], d / f"p2{tag}")
        freq = pd.read_csv(d / f"p2{tag}.afreq", sep="\t")
        hardy = pd.read_csv(d / (f"p2{tag}.hardy.x" if tag == "X" else f"p2{tag}.hardy"), sep="\t")
        rows = annotate_variant_qc(read_genotypes(bfile=filled_array["prefix"][tag])).rows()
        ours = rows.select(rsid=rows.rsid, af=rows.qc_af, hwe=rows.qc_hwe).to_pandas().set_index("rsid")
        ours = ours.loc[freq["ID"]]
        # A1 = ALT is the allele our dosage counts (.bim column 5); plink2's ALT_FREQS is its frequency
        np.testing.assert_allclose(ours["af"], freq["ALT_FREQS"], rtol=5e-6, atol=1e-12)
        h = hardy.set_index("ID").loc[freq["ID"], p_col].to_numpy()
        np.testing.assert_allclose(ours["hwe"], h, rtol=5e-6, atol=1e-300)
        if tag == "X":  # the test over all samples would have thrown the common ones out
            assert (ours["hwe"] > 1e-6).all() and (hardy.loc[hardy["MALE_A1_CT"] > 20].shape[0] > 10)


def _rel(a, b):
    return np.abs(np.asarray(a, float) - np.asarray(b, float)) / np.abs(np.asarray(b, float))


@pytest.mark.peer
def test_chrx_gwas_equals_plink2_glm(tiny_cohort, filled_array, hail_context):
    """Array chrX through read_genotypes -> variant_qc -> run_gwas: every variant survives QC and beta,
    SE, T and A1_FREQ equal plink2 ``--glm`` to every printed digit (6 significant), outside PAR
    (sex added, males 0/2; plink2's A1_FREQ is then the mean 0/2 code / 2) and in PAR (code 25 = XY:
    diploid, no sex covariate, as plink2 treats XY); P to 1e-4."""
    from benchmarks.gwas_vs_plink2 import run_plink2_glm
    from benchmarks.peers import PeerUnavailable
    from bma_genetics.gwas import read_genotypes, run_gwas
    from bma_genetics.gwas.qc import variant_qc
    from bma_genetics.io import read_bmff_table

    trait = "bmff_femoral_head"
    bmff = read_bmff_table(tiny_cohort / "participants/bmff_idp.parquet")[["eid", trait]]
    rng = np.random.default_rng(5)
    ph = pd.DataFrame({"eid": filled_array["eids"], "sex": filled_array["male"].astype(float),
                       "c1": rng.normal(size=len(filled_array["eids"]))}).merge(bmff, on="eid", how="left")
    for tag in ("X", "XY"):
        mt = read_genotypes(bfile=filled_array["prefix"][tag])
        kept, table = variant_qc(mt, min_mac=1, min_maf=0.0)
        assert table.set_index("step").loc["hwe", "removed"] == 0
        ours = run_gwas(kept, ph, traits=[trait], covariates=COVS, chunk_by="all").sumstats[trait]
        try:
            res, _ = run_plink2_glm(["--bfile", str(filled_array["prefix"][tag])], ph, [trait], COVS,
                                    filled_array["dir"] / f"glm{tag}")
        except PeerUnavailable as exc:
            pytest.skip(f"plink2 unavailable: {exc}")
        theirs = res[trait].assign(**{"#CHROM": lambda t: t["#CHROM"].replace({"XY": "X"})})
        m = ours.merge(theirs, left_on=["chromosome", "base_pair_location"], right_on=["#CHROM", "POS"])
        m = m[np.isfinite(m["BETA"])]
        assert len(m) == kept.count_rows() >= 30 and (m["effect_allele"] == m["A1"]).all()
        assert (m["n"] == m["OBS_CT"]).all()
        for col, p2 in [("beta", "BETA"), ("standard_error", "SE"), ("t_statistic", "T_STAT"),
                        ("effect_allele_frequency", "A1_FREQ")]:
            half_ulp = 0.5 * 10.0 ** (np.floor(np.log10(np.abs(m[p2]))) - 5)  # plink2's %g rounding
            assert (np.abs(m[col] - m[p2]) <= half_ulp * 1.001).all(), (tag, col)
        assert _rel(m["p_value"], m["P"]).max() <= 1e-4


def test_sex_column_of_plink_tables_is_read_not_dropped(tmp_path):
    """A SEX column in --pheno/--covar (PLINK codes 1 male, 2 female, 0/NA unknown) used to be dropped
    without a word; it is now ``sex`` (0 female, 1 male), never a trait, and a bad code is an error."""
    from bma_genetics.errors import InputError
    from bma_genetics.gwas.cli import _read_plink_table

    path = tmp_path / "pheno.tsv"
    path.write_text("#FID\tIID\tSEX\ty\n1\t1\t1\t1.5\n2\t2\t2\t0.3\n3\t3\t0\t0.1\n4\t4\tNA\t0.2\n")
    t = _read_plink_table(path, "gwas/--pheno")
    assert sorted(t.columns) == ["eid", "sex", "y"]
    assert t["sex"].iloc[:2].tolist() == [1.0, 0.0] and t["sex"].iloc[2:].isna().all()
    path.write_text("#FID\tIID\tSEX\ty\n1\t1\tM\t1.5\n")
    with pytest.raises(InputError, match=r"gwas/--pheno: .*column 'SEX' line 2: 'M' is not a PLINK sex code"):
        _read_plink_table(path, "gwas/--pheno")

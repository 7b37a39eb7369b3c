"""INFO from the MFI files into QC and summary statistics; default covariates without BMI.

The simulator gives BMFF an offset per imaging centre, a drift with the imaging date and a UK
BiLEVE offset (``truth/bmff_covariate_effects.json``); the default GWAS and PheWAS covariates
adjust for centre and genotyping array, and leave BMI out (collider bias, docs/gwas.md).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from bma_genetics.errors import InputError

MFI_COLUMNS = ["alternate_id", "rsid", "position", "allele1", "allele2", "maf", "minor_allele", "info"]


def _mfi(path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", header=None, names=MFI_COLUMNS, dtype={"allele1": str, "allele2": str})


@pytest.fixture(scope="module")
def participants(tiny_cohort):
    """The participant table of the tiny cohort (participants stage's function) with its BMFF."""
    from bma_genetics.io import run_participants

    c = tiny_cohort
    res = run_participants(c / "participants" / "ukb_showcase.csv", withdrawals=c / "participants" / "withdrawals.csv",
                           kinship=c / "genotypes" / "ukb_rel.dat", progress=False)
    return res.participants


# ------------------------------------------------------------------------------- covariates
def test_default_covariates_have_centre_and_array_not_bmi():
    from bma_genetics.gwas.api import DEFAULT_COVARIATES
    from bma_genetics.phewas.stage import DEFAULT_COVARIATES as PHEWAS_DEFAULT

    assert list(DEFAULT_COVARIATES) == ["age", "age2", "sex", "age_sex", "imaging_centre", "genotyping_array",
                                        *[f"pc{i}" for i in range(1, 11)]]
    assert "bmi" not in PHEWAS_DEFAULT
    assert {"age", "sex", "imaging_centre", "genotyping_array", "pc1", "pc10"} <= set(PHEWAS_DEFAULT)


def test_participant_table_reads_22000(participants, tiny_cohort):
    show = pd.read_csv(tiny_cohort / "participants" / "ukb_showcase.csv", usecols=["eid", "22000-0.0"],
                       dtype={"eid": str})
    m = participants.merge(show, on="eid")
    assert len(m) == len(participants)
    assert (m["genotyping_batch"].astype(float) == m["22000-0.0"]).all()
    assert ((m["22000-0.0"] < 0) == (m["genotyping_array"] == 0)).all()
    share = float((m["genotyping_array"] == 0).mean())
    assert 0.06 < share < 0.14  # ~10 % UK BiLEVE


def test_design_covariates():
    from bma_genetics.io import design_covariates

    t = pd.DataFrame({"eid": list("abcdef"), "age": [50.0, 60, 70, 55, 65, 75],
                      "imaging_centre": pd.array([11025, 11027, 11027, 11026, 11027, 11025], dtype="Int64"),
                      "scan_date": pd.to_datetime(["2015-01-01"] * 3 + ["2019-01-01"] * 3),
                      "genotyping_array": pd.array([1] * 6, dtype="Int64")})
    out, cols = design_covariates(t, ["age", "imaging_centre", "scan_date"])
    # reference: the most common centre (11027); one indicator per other centre present
    assert cols == ["age", "centre_11025", "centre_11026", "scan_date_years"]
    assert out["centre_11025"].tolist() == [1.0, 0, 0, 0, 0, 1]
    assert out["scan_date_years"].iloc[3] == pytest.approx(19.0, abs=0.01)
    # a default list drops what is absent or constant; a given list names what is missing
    assert design_covariates(t, ["age", "genotyping_array", "bmi"], optional=True)[1] == ["age"]
    with pytest.raises(InputError, match=r"cohort_phenotypes/covariates: covariate\(s\) \['bmi'\] not in"):
        design_covariates(t, ["age", "bmi"], where="cohort_phenotypes/covariates")


def test_cohort_phenotypes_defaults_and_bmi_sensitivity(participants, tiny_cohort):
    from bma_genetics.gwas.api import cohort_phenotypes

    idp = tiny_cohort / "participants" / "bmff_idp.parquet"
    frame, covs, _ = cohort_phenotypes(participants, idp=idp, traits=["bmff_spine"])
    assert "bmi" not in covs and "genotyping_array" in covs
    assert [c for c in covs if c.startswith("centre_")] == ["centre_11026", "centre_11027", "centre_11028"]
    _, covs_bmi, _ = cohort_phenotypes(participants, idp=idp, traits=["bmff_spine"], adjust_bmi=True)
    assert covs_bmi == [*covs, "bmi"]
    with pytest.raises(InputError, match="cohort_phenotypes/adjust_bmi"):
        cohort_phenotypes(participants, idp=idp, traits=["bmff_spine"], adjust_bmi="yes")


def test_simulated_centre_date_array_effects(participants, tiny_cohort):
    """The measured BMFF carries the stated centre offsets, date drift and BiLEVE offset: an OLS
    with the default covariates (+ the imaging date) recovers them within 4 standard errors, and
    the default covariates leave a smaller residual than the old ones (age, sex, BMI, PCs)."""
    from bma_genetics.gwas.api import cohort_phenotypes

    truth = json.loads((tiny_cohort / "truth" / "bmff_covariate_effects.json").read_text())
    idp = tiny_cohort / "participants" / "bmff_idp.parquet"
    covariates = ["age", "age2", "sex", "age_sex", "bmi", "imaging_centre", "genotyping_array", "scan_date"]
    frame, covs, _ = cohort_phenotypes(participants, idp=idp, traits=["bmff_femoral_head"], covariates=covariates)
    y = frame["bmff_femoral_head"].to_numpy(float) / truth["fat_fraction_per_latent_unit"]["bmff_femoral_head"]
    x = frame[covs].to_numpy(float)
    ok = np.isfinite(y) & np.isfinite(x).all(axis=1)
    design = np.column_stack([np.ones(ok.sum()), x[ok]])
    beta, *_ = np.linalg.lstsq(design, y[ok], rcond=None)
    resid = y[ok] - design @ beta
    cov = np.linalg.inv(design.T @ design) * resid.var(ddof=design.shape[1])
    se = np.sqrt(np.diag(cov))
    at = {c: i + 1 for i, c in enumerate(covs)}
    # the reference level here is the most common centre, 11025 (Cheadle), as in the truth
    expected = {f"centre_{k}": v for k, v in truth["centre_offset"].items() if k != "11025"}
    expected["scan_date_years"] = truth["drift_per_year"]
    expected["genotyping_array"] = -truth["bileve_offset"]  # 1 = UK Biobank Axiom, 0 = BiLEVE
    for name, value in expected.items():
        assert abs(beta[at[name]] - value) < 4 * se[at[name]], (name, beta[at[name]], value, se[at[name]])
    assert abs(beta[at["centre_11027"]]) > 2 * se[at["centre_11027"]]  # the effect is there to find
    old = ["age", "age2", "sex", "age_sex", "bmi"]
    d_old = np.column_stack([np.ones(ok.sum()), frame.loc[ok, old].to_numpy(float)])
    r_old = y[ok] - d_old @ np.linalg.lstsq(d_old, y[ok], rcond=None)[0]
    assert resid.var() < 0.97 * r_old.var()


# ------------------------------------------------------------------------------------- INFO
def test_mfi_files_layout_errors(tmp_path):
    from bma_genetics.gwas.qc import mfi_files

    good = tmp_path / "ukb_mfi_chr3_v3.txt"
    good.write_text("3:100_A_G\trs1\t100\tA\tG\t0.2\tG\t0.91\n")
    assert mfi_files(str(tmp_path / "ukb_mfi_chr{chrom}_v3.txt")) == [good]
    with pytest.raises(InputError, match="no MFI file matches"):
        mfi_files(str(tmp_path / "ukb_mfi_chr*_v4.txt"))
    header = tmp_path / "ukb_mfi_chr4_v3.txt"
    header.write_text("\t".join(MFI_COLUMNS) + "\n")
    with pytest.raises(InputError, match="column 8 .*not a number"):
        mfi_files([good, header])
    short = tmp_path / "ukb_mfi_chr5_v3.txt"
    short.write_text("3:100_A_G rs1 100 A G 0.2 G 0.91\n")
    with pytest.raises(InputError, match="1 tab-separated column"):
        mfi_files(short)


@pytest.mark.slow
def test_cli_mfi_applies_min_info(tiny_cohort, hail_context, tmp_path):
    """``bma-genetics gwas --bgen ... --mfi 'ukb_mfi_chr{chrom}_v3.txt' --min-info 0.6``: variants
    below 0.6 are gone (counted in the QC table) and ``info`` in the GWAS-SSF equals the MFI's.
    The MFI's alternate ids are rsids here, so the chromosome must come from the file name."""
    from bma_genetics.cli import main
    from bma_genetics.io import read_sumstats

    imputed = tiny_cohort / "genotypes" / "imputed"
    sizes = {f: sum(1 for _ in open(f)) for f in imputed.glob("ukb_mfi_chr*_v3.txt")}
    chrom = min(sizes, key=sizes.get).name.split("_chr")[1].split("_")[0]
    mfi_dir = tmp_path / "mfi"
    mfi_dir.mkdir()
    mfi = _mfi(imputed / f"ukb_mfi_chr{chrom}_v3.txt")
    mfi.assign(alternate_id=mfi["rsid"]).to_csv(mfi_dir / f"ukb_mfi_chr{chrom}_v3.txt", sep="\t", header=False,
                                                 index=False)
    sample = pd.read_csv(imputed / f"ukb22828_c{chrom}_b0_v3.sample", sep=" ", skiprows=[1], dtype=str)
    idp = pd.read_parquet(tiny_cohort / "participants" / "bmff_idp.parquet")
    ph = sample[["ID_1", "ID_2"]].set_axis(["#FID", "IID"], axis=1).merge(
        idp[["eid", "bmff_spine"]].rename(columns={"eid": "IID"}), on="IID", how="left")
    ph.to_csv(tmp_path / "pheno.tsv", sep="\t", index=False, na_rep="NA")
    rc = main(["gwas", "--bgen", str(imputed / "ukb22828_c{chrom}_b0_v3.bgen"), "--sample",
               str(imputed / f"ukb22828_c{chrom}_b0_v3.sample"), "--chr", chrom, "--pheno", str(tmp_path / "pheno.tsv"),
               "--mfi", str(mfi_dir / "ukb_mfi_chr{chrom}_v3.txt"), "--min-info", "0.6", "--out",
               str(tmp_path / "out"), "--no-plots", "--master", "local[2]"])
    assert rc == 0
    ss = read_sumstats(tmp_path / "out" / "bmff_spine.tsv.gz")
    m = ss.merge(mfi, left_on=["base_pair_location", "other_allele", "effect_allele"],
                 right_on=["position", "allele1", "allele2"], suffixes=("", "_mfi"), validate="one_to_one")
    assert len(m) == len(ss) > 0
    np.testing.assert_allclose(m["info"], m["info_mfi"], atol=1e-6)
    assert (ss["info"] >= 0.6).all()
    qc = pd.read_csv(tmp_path / "out" / "qc.tsv", sep="\t").set_index("step")
    assert qc.loc["info", "flagged"] == int((mfi["info"] < 0.6).sum()) > 0
    # MFI files of other genotypes (positions one base off: another build) match nothing: an error,
    # not a run without an INFO filter
    mfi.assign(alternate_id=mfi["rsid"], position=mfi["position"] + 1).to_csv(
        mfi_dir / f"ukb_mfi_chr{chrom}_v3.txt", sep="\t", header=False, index=False)
    rc = main(["gwas", "--bgen", str(imputed / "ukb22828_c{chrom}_b0_v3.bgen"), "--sample",
               str(imputed / f"ukb22828_c{chrom}_b0_v3.sample"), "--chr", chrom, "--pheno", str(tmp_path / "pheno.tsv"),
               "--mfi", str(mfi_dir / "ukb_mfi_chr{chrom}_v3.txt"), "--out", str(tmp_path / "out2"), "--no-plots",
               "--master", "local[2]"])
    assert rc == 2


@pytest.mark.slow
def test_tiny_run_info_and_covariates_reach_ssf_and_instruments(tiny_run, tiny_cohort):
    """The shared tiny run (cohort MFI files, ``min_info`` 0.3): every SSF row has the MFI's INFO,
    none below 0.3; its metadata lists the default covariates (centre indicators, genotyping
    array, no BMI), as does the PheWAS's summary; MR instruments carry ``info``."""
    from bma_genetics.io import read_gwas_ssf_metadata, read_sumstats

    mfi = pd.concat([_mfi(f) for f in (tiny_cohort / "genotypes" / "imputed").glob("ukb_mfi_chr*_v3.txt")])
    path = tiny_run / "gwas" / "bmff_femoral_head.tsv.gz"
    ss = read_sumstats(path)
    m = ss.merge(mfi, left_on=["base_pair_location", "other_allele", "effect_allele"],
                 right_on=["position", "allele1", "allele2"], suffixes=("", "_mfi"))
    assert len(m) == len(ss)
    np.testing.assert_allclose(m["info"], m["info_mfi"], atol=1e-6)
    assert ss["info"].min() >= 0.3
    assert json.loads((tiny_run / "gwas" / "summary.json").read_text())["n_variants_without_info"] == 0
    meta = read_gwas_ssf_metadata(path)
    covs = meta["adjusted_covariates"]
    assert "bmi" not in covs and "genotyping_array" in covs and "centre_11027" in covs
    phewas = json.loads((tiny_run / "phewas" / "summary.json").read_text())
    assert "bmi" not in phewas["covariates"] and "centre_11027" in phewas["covariates"]
    assert phewas["adjust_bmi"] is False
    ins = pd.read_csv(tiny_run / "mr" / "bmff_femoral_head" / "instruments.tsv", sep="\t")
    assert "info" in ins.columns and ins["info"].notna().all() and (ins["info"] >= 0.3).all()

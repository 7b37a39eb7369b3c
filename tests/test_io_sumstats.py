"""One summary-statistics reader for every format (``bma_genetics.io.read_sumstats``).

The same association (400 people x 600 variants, one planted effect, no covariates) is written
by real plink2 (``--glm``: ``.glm.linear`` and ``.glm.logistic.hybrid``), by the project's
GWAS-SSF writer, and in REGENIE's and BOLT-LMM's documented layouts (hand-written from plink2's
printed numbers, so every file carries the same estimates): all read to the same canonical
frame, P to the precision each format prints. Real BOLT-LMM (Debian ``bolt-lmm``) also runs on
the same genotypes: its file is read with the same allele orientation as plink2's. SAIGE,
METAL and FinnGen samples, exact tiny P from -log10 P, and the detection failure are covered too.
"""

from __future__ import annotations

import gzip
import math
import os
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bma_genetics.errors import InputError
from bma_genetics.io import SUMSTATS_COLUMNS, SUMSTATS_FORMATS, read_sumstats, write_gwas_ssf
from tests._genotypes import write_random_bed

N, M = 400, 600
CAUSAL = 10  # index of the planted variant


@pytest.fixture(scope="module")
def geno(tmp_path_factory):
    d = tmp_path_factory.mktemp("sumstats")
    rng = np.random.default_rng(3)
    dose, chrom, pos, ids, a1, a2 = write_random_bed(d / "geno", rng, N, M, maf=(0.1, 0.5), spacing=1000,
                                                     first_id=1001)
    y = 0.5 * (dose[CAUSAL] - dose[CAUSAL].mean()) + rng.normal(size=N)
    case = (y + rng.normal(size=N) > 0.5).astype(int) + 1  # plink's 1 = control, 2 = case
    pd.DataFrame({"FID": ids, "IID": ids, "q": y, "b": case}).to_csv(d / "pheno.txt", sep=" ", index=False)
    return d


@pytest.fixture(scope="module")
def plink2_files(geno):
    from benchmarks.gwas_vs_plink2 import plink2_binary
    from benchmarks.peers import PeerUnavailable

    try:
        exe, env = plink2_binary()
    except PeerUnavailable as exc:
        pytest.skip(f"plink2 unavailable: {exc}")
    cmd = [str(exe), "--bfile", str(geno / "geno"), "--pheno", str(geno / "pheno.txt"), "--no-psam-pheno",
           "--glm", "allow-no-covars", "omit-ref", "cols=+a1freq", "--threads", "1", "--memory", "1024",
           "--out", str(geno / "plink2")]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert res.returncode == 0, res.stdout[-1500:] + res.stderr[-1500:]
    return {"linear": geno / "plink2.q.glm.linear", "logistic": geno / "plink2.b.glm.logistic.hybrid"}


def _plink2_raw(path: Path) -> pd.DataFrame:
    """plink2's table as the text it printed."""
    return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)


def _same_variants_in_every_format(plink2_files, tmp_path) -> dict[str, pd.DataFrame]:
    raw = _plink2_raw(plink2_files["linear"])
    other = np.where(raw["A1"] == raw["ALT"], raw["REF"], raw["ALT"])
    p = raw["P"].astype(float)
    # REGENIE step 2 on PLINK input (no INFO column), space-separated, -log10 P printed to 6 digits
    reg = pd.DataFrame({"CHROM": raw["#CHROM"], "GENPOS": raw["POS"], "ID": raw["ID"], "ALLELE0": other,
                        "ALLELE1": raw["A1"], "A1FREQ": raw["A1_FREQ"], "N": raw["OBS_CT"], "TEST": "ADD",
                        "BETA": raw["BETA"], "SE": raw["SE"],
                        "CHISQ": [f"{x:.6g}" for x in (raw["T_STAT"].astype(float) ** 2)],
                        "LOG10P": [f"{x:.6g}" for x in -np.log10(p)], "EXTRA": "NA"})
    reg_path = tmp_path / "step2_q.regenie.gz"
    with gzip.open(reg_path, "wt") as fh:
        reg.to_csv(fh, sep=" ", index=False)
    # BOLT-LMM --statsFile: tab-separated, ALLELE1 the effect allele, no sample size
    bolt = pd.DataFrame({"SNP": raw["ID"], "CHR": raw["#CHROM"], "BP": raw["POS"], "GENPOS": "0",
                         "ALLELE1": raw["A1"], "ALLELE0": other, "A1FREQ": raw["A1_FREQ"], "F_MISS": "0",
                         "BETA": raw["BETA"], "SE": raw["SE"], "P_BOLT_LMM_INF": raw["P"], "P_BOLT_LMM": raw["P"]})
    bolt_path = tmp_path / "q.bolt.stats"
    bolt.to_csv(bolt_path, sep="\t", index=False)
    # the project's GWAS-SSF writer, from plink2's numbers
    ssf = pd.DataFrame({"chromosome": raw["#CHROM"], "base_pair_location": raw["POS"].astype(int),
                        "effect_allele": raw["A1"], "other_allele": other, "beta": raw["BETA"].astype(float),
                        "standard_error": raw["SE"].astype(float),
                        "effect_allele_frequency": raw["A1_FREQ"].astype(float), "p_value": p,
                        "variant_id": raw["ID"], "rsid": raw["ID"], "n": raw["OBS_CT"].astype(int)})
    ssf_path = write_gwas_ssf(ssf, tmp_path / "q.tsv.gz", {"trait_description": ["q"]})
    return {
        "plink2": read_sumstats(plink2_files["linear"]),
        "regenie": read_sumstats(reg_path),
        "bolt_lmm": read_sumstats(bolt_path, n=N),
        "gwas_ssf": read_sumstats(ssf_path),
    }


@pytest.mark.peer
def test_every_format_reads_to_the_same_frame(plink2_files, tmp_path):
    frames = _same_variants_in_every_format(plink2_files, tmp_path)
    ref = frames["plink2"]
    assert len(ref) == M and list(ref.columns[: len(SUMSTATS_COLUMNS)]) == list(SUMSTATS_COLUMNS)
    assert ref["chromosome"].tolist()[:2] == ["1", "1"] and ref["base_pair_location"].dtype == np.int64
    assert ref["rsid"].str.startswith("rs").all() and ref["n"].eq(N).all()
    top = ref.loc[ref["p_value"].idxmin()]
    assert top["base_pair_location"] == (CAUSAL + 1) * 1000 and top["p_value"] < 1e-6
    exact = [c for c in SUMSTATS_COLUMNS if c != "p_value"]
    for name, frame in frames.items():
        got = frame[list(SUMSTATS_COLUMNS)]
        want = ref[list(SUMSTATS_COLUMNS)]
        if name == "gwas_ssf":
            # GWAS-SSF's rsid column holds only rs<digits>: this file's ids (rs1_1000) are not
            # rsids, so the writer leaves them missing (variant_id keeps them)
            assert got["rsid"].isna().all()
            # only GWAS-SSF states its build (genome_assembly in its -meta.yaml); the other
            # formats' files carry none, so their genome_build is unknown (NaN)
            assert (got["genome_build"] == "GRCh37").all() and want["genome_build"].isna().all()
            want = want.assign(rsid=got["rsid"], genome_build=got["genome_build"])
        if name == "regenie":
            # REGENIE prints -log10 P (6 significant digits here): within half a unit of the 6th
            # digit, so P within ln(10) times that, relative
            half = 0.5 * 10.0 ** (np.floor(np.log10(got["neg_log_10_p_value"])) - 5) * 1.0001
            assert (np.abs(got["neg_log_10_p_value"] - want["neg_log_10_p_value"]) <= half + 1e-12).all()
            assert (np.abs(np.log(got["p_value"] / want["p_value"])) <= np.log(10) * half + 2e-6).all()
            pd.testing.assert_frame_equal(got.drop(columns=["p_value", "neg_log_10_p_value"]),
                                          want.drop(columns=["p_value", "neg_log_10_p_value"]),
                                          check_dtype=False, obj=name)
        else:
            pd.testing.assert_frame_equal(got[exact], want[exact], check_dtype=False, obj=name)
            np.testing.assert_array_equal(got["p_value"], want["p_value"])


@pytest.mark.peer
def test_plink2_logistic_odds_ratio(plink2_files):
    raw = _plink2_raw(plink2_files["logistic"])
    raw = raw[raw["TEST"] == "ADD"].reset_index(drop=True)
    ss = read_sumstats(plink2_files["logistic"])
    assert "OR" in raw.columns and len(ss) == len(raw) == M
    np.testing.assert_allclose(ss["beta"], np.log(raw["OR"].astype(float)), rtol=1e-12)
    np.testing.assert_array_equal(ss["standard_error"], raw["LOG(OR)_SE"].astype(float))
    assert (ss["effect_allele"] == raw["A1"]).all()
    other = np.where(raw["A1"] == raw["ALT"], raw["REF"], raw["ALT"])
    assert (ss["other_allele"] == other).all()


def _bolt_binary():
    """Debian's bolt-lmm, unpacked with the libraries it links (as plink2 is for the GWAS tests)."""
    from benchmarks.peers import PeerUnavailable, apt_binary

    try:
        exe = apt_binary("bolt-lmm", "bolt")
        libs = [apt_binary(pkg, lib).parent for pkg, lib in (
            ("libnlopt0", "libnlopt.so.0"), ("libopenblas0-pthread", "libopenblas.so.0"),
            ("libgfortran5", "libgfortran.so.5"))]
    except PeerUnavailable as exc:
        pytest.skip(f"bolt-lmm unavailable: {exc}")
    env = dict(os.environ)
    env["LD_LIBRARY_PATH"] = ":".join([*map(str, libs), env.get("LD_LIBRARY_PATH", "")]).rstrip(":")
    return exe, env


@pytest.mark.peer
def test_real_bolt_lmm_file(geno, plink2_files):
    """BOLT-LMM's own --statsFile: read with ALLELE1 as the effect allele, P from its 2-digit
    ``P_BOLT_LMM_INF``; alleles oriented as plink2's and the (infinitesimal-model) betas within
    line with plink2's least-squares betas (correlation > 0.9; same sign and P < 1e-5 at the
    planted variant). BOLT's betas are mixed-model estimates, so not equal to plink2's."""
    exe, env = _bolt_binary()
    stats = geno / "bolt.stats"
    res = subprocess.run([str(exe), f"--bfile={geno / 'geno'}", f"--phenoFile={geno / 'pheno.txt'}", "--phenoCol=q",
                          "--lmmInfOnly", "--LDscoresUseChip", f"--statsFile={stats}", "--numThreads=1"],
                         capture_output=True, text=True, env=env)
    if res.returncode != 0:
        pytest.skip(f"bolt-lmm does not run here: {res.stdout[-500:]} {res.stderr[-500:]}")
    raw = pd.read_csv(stats, sep="\t", dtype=str)
    assert list(raw.columns[:6]) == ["SNP", "CHR", "BP", "GENPOS", "ALLELE1", "ALLELE0"]
    ss = read_sumstats(stats)  # detected from the header
    assert (ss["effect_allele"] == raw["ALLELE1"]).all() and (ss["other_allele"] == raw["ALLELE0"]).all()
    np.testing.assert_array_equal(ss["beta"], raw["BETA"].astype(float))
    np.testing.assert_array_equal(ss["p_value"], raw["P_BOLT_LMM_INF"].astype(float))
    assert ss["n"].isna().all() and (ss["variant_id"] == raw["SNP"]).all()
    pl = read_sumstats(plink2_files["linear"])
    m = ss.merge(pl, on=["chromosome", "base_pair_location"], suffixes=("", "_plink2"))
    assert len(m) == M
    assert (m["effect_allele"] == m["effect_allele_plink2"]).all()
    assert np.corrcoef(m["beta"], m["beta_plink2"])[0, 1] > 0.9
    top = m.loc[m["base_pair_location"].eq((CAUSAL + 1) * 1000) & m["chromosome"].eq("1")].iloc[0]
    assert np.sign(top["beta"]) == np.sign(top["beta_plink2"]) and top["p_value"] < 1e-5


def test_regenie_exact_log10p_and_chrx(tmp_path):
    path = tmp_path / "s_Y1.regenie"
    path.write_text("CHROM GENPOS ID ALLELE0 ALLELE1 A1FREQ INFO N TEST BETA SE CHISQ LOG10P EXTRA\n"
                    "23 300 rs3 a g 0.25 0.97 800 ADD 0.9 0.02 2025 441.25 NA\n"
                    "23 300 rs3 a g 0.25 0.97 800 DOM 0.8 0.03 711 156.1 NA\n"
                    "1 100 1:100:C:T C T 0.5 1 800 ADD 0.01 0.02 0.25 0.209 NA\n")
    ss = read_sumstats(path)
    assert len(ss) == 2  # the additive test only
    row = ss.iloc[0]
    assert row["chromosome"] == "X" and (row["effect_allele"], row["other_allele"]) == ("G", "A")
    assert row["neg_log_10_p_value"] == 441.25 and row["p_value"] == 0.0 and row["info"] == 0.97
    assert ss.loc[1, "rsid"] != ss.loc[1, "rsid"]  # no rsid where the ID is not one
    assert ss.loc[1, "p_value"] == pytest.approx(10**-0.209)


def test_tiny_p_text_kept_exact(tmp_path):
    """A P printed below float64's range (BOLT-LMM prints ``1.5E-400``) keeps its -log10 P."""
    path = tmp_path / "bolt.stats.gz"
    with gzip.open(path, "wt") as fh:
        fh.write("SNP\tCHR\tBP\tGENPOS\tALLELE1\tALLELE0\tA1FREQ\tF_MISS\tBETA\tSE\tP_BOLT_LMM_INF\tP_BOLT_LMM\n"
                 "rs1\t1\t10\t0\tA\tG\t0.3\t0\t0.5\t0.01\t2.0E-390\t1.5E-400\n")
    ss = read_sumstats(path)
    assert ss.loc[0, "p_value"] == 0.0
    assert ss.loc[0, "neg_log_10_p_value"] == pytest.approx(400 - np.log10(1.5), rel=1e-12)


def test_saige_metal_finngen(tmp_path):
    saige = tmp_path / "saige.txt"
    saige.write_text("CHR POS MarkerID Allele1 Allele2 AC_Allele2 AF_Allele2 MissingRate BETA SE Tstat var "
                     "p.value p.value.NA Is.SPA.converge varT varTstar AF.Cases AF.Controls N_case N_ctrl\n"
                     "4 400 rs4 C T 120 0.12 0 -0.2 0.05 -80 400 6.3e-05 6.1e-05 1 1 1 0.1 0.13 300 700\n")
    s = read_sumstats(saige)
    assert (s.loc[0, "effect_allele"], s.loc[0, "other_allele"]) == ("T", "C")
    assert s.loc[0, "effect_allele_frequency"] == 0.12 and s.loc[0, "n"] == 1000 and s.loc[0, "n_cases"] == 300
    metal = tmp_path / "METAANALYSIS1.TBL"
    metal.write_text("MarkerName\tAllele1\tAllele2\tFreq1\tFreqSE\tMinFreq\tMaxFreq\tEffect\tStdErr\tP-value\t"
                     "Direction\tHetISq\tHetChiSq\tHetDf\tHetPVal\n"
                     "rs5\ta\tg\t0.3\t0.01\t0.29\t0.31\t0.04\t0.01\t6.3e-05\t++\t0\t0.1\t1\t0.75\n")
    m = read_sumstats(metal)
    assert (m.loc[0, "effect_allele"], m.loc[0, "other_allele"]) == ("A", "G") and m.loc[0, "rsid"] == "rs5"
    assert m["base_pair_location"].isna().all() and m.loc[0, "beta"] == 0.04
    fg = tmp_path / "finngen_R10_M13_OSTEOPOROSIS.gz"
    with gzip.open(fg, "wt") as fh:
        fh.write("#chrom\tpos\tref\talt\trsids\tnearest_genes\tpval\tmlogp\tbeta\tsebeta\taf_alt\n"
                 "23\t400\tC\tT\trs4,rs44\tGENE\t1e-3\t3.0001\t0.05\t0.015\t0.4\n")
    f = read_sumstats(fg, n_cases=1000, n_controls=9000)
    assert f.loc[0, "chromosome"] == "X" and f.loc[0, "rsid"] == "rs4" and f.loc[0, "effect_allele"] == "T"
    assert f.loc[0, "neg_log_10_p_value"] == 3.0001 and f.loc[0, "n"] == 10_000
    assert f.loc[0, "variant_id"] == "X:400:C:T" and f.loc[0, "nearest_genes"] == "GENE"


def test_table_with_column_map_and_ssf_sample_size(tmp_path):
    tab = tmp_path / "any.csv"
    tab.write_text("SNP,EA,NEA,B,SE,P\nrs5,a,c,0.3,0.1,0.003\n")
    t = read_sumstats(tab, columns={"rsid": "SNP", "effect_allele": "EA", "other_allele": "NEA", "beta": "B",
                                    "standard_error": "SE", "p_value": "P"})
    assert t.loc[0, "beta"] == 0.3 and t.loc[0, "effect_allele"] == "A" and t.loc[0, "rsid"] == "rs5"
    ss = pd.DataFrame({"chromosome": ["1"], "base_pair_location": [10], "effect_allele": ["A"], "other_allele": ["G"],
                       "odds_ratio": [1.2], "standard_error": [0.05], "effect_allele_frequency": [0.3],
                       "p_value": [3e-4]})
    p = write_gwas_ssf(ss, tmp_path / "cc.tsv.gz", {"samples": [{"sample_size": 5000, "case_count": 1000,
                                                                 "control_count": 4000}]})
    r = read_sumstats(p)
    assert r.loc[0, "beta"] == pytest.approx(np.log(1.2)) and r.loc[0, "odds_ratio"] == 1.2
    assert (r.loc[0, "n"], r.loc[0, "n_cases"], r.loc[0, "n_controls"]) == (5000, 1000, 4000)


def test_errors(tmp_path):
    odd = tmp_path / "odd.tsv"
    odd.write_text("MARKER\tEFFECT_ALLELE\tB\n rs1\tA\t0.1\n")
    with pytest.raises(InputError, match=r"read_sumstats/format: .*odd.tsv is not in a known format "
                                         r"\(columns \['MARKER', 'EFFECT_ALLELE', 'B'\]\).*regenie"):
        read_sumstats(odd)
    with pytest.raises(InputError, match=r"read_sumstats/columns: .*lacks mapped column\(s\) \['BETA'\]"):
        read_sumstats(odd, columns={"beta": "BETA"})
    with pytest.raises(InputError, match=r"read_sumstats/columns: unknown canonical name\(s\) \['se'\]"):
        read_sumstats(odd, columns={"se": "B"})
    with pytest.raises(InputError, match=r"read_sumstats/format: unknown format 'vcf'"):
        read_sumstats(odd, format="vcf")
    with pytest.raises(InputError, match=r"read_sumstats/regenie: .*odd.tsv lacks REGENIE.*'CHROM'"):
        read_sumstats(odd, format="regenie")
    with pytest.raises(InputError, match="read_sumstats/path: no such file"):
        read_sumstats(tmp_path / "nope.tsv")
    assert set(SUMSTATS_FORMATS) >= {"gwas_ssf", "plink2", "regenie", "bolt_lmm", "saige", "metal", "finngen",
                                      "table"}


_MAP = {"rsid": "SNP", "effect_allele": "EA", "other_allele": "NEA", "beta": "B", "standard_error": "SE",
        "p_value": "P"}


def _table(tmp_path, rows: list[str], name: str = "exp.tsv"):
    path = tmp_path / name
    path.write_text("SNP\tEA\tNEA\tB\tSE\tP\n" + "".join(r.replace(" ", "\t") + "\n" for r in rows))
    return path


def test_text_in_a_numeric_column_is_an_error(tmp_path):
    """'n/a' is not a missing token of a plain table: it used to become NaN silently (MR moved)."""
    path = _table(tmp_path, ["rs1 A C 0.3 0.1 0.003", "rs2 G T n/a 0.1 0.2", "rs3 G T NA 0.1 0.2"])
    with pytest.raises(InputError, match=r"read_sumstats/table: .*exp.tsv: column 'B' line 3: 'n/a' is not a "
                                         r"number \(1 such cell"):
        read_sumstats(path, columns=_MAP)
    ok = read_sumstats(_table(tmp_path, ["rs1 A C 0.3 0.1 0.003", "rs3 G T NA 0.1 0.2"], "ok.tsv"), columns=_MAP)
    assert np.isnan(ok.loc[1, "beta"])  # the format's own missing token stays missing


@pytest.mark.parametrize(("row", "message"), [
    ("rs2 G T 0.2 0.1 1.5", r"column 'P' line 3: 1\.5 is not a P-value in \[0, 1\]"),
    ("rs2 G T 0.2 0.1 -0.01", r"column 'P' line 3: -0\.01 is not a P-value"),
    ("rs2 G T 0.2 0.1 0", r"column 'P' line 3: 0\.0 is a P-value of 0"),
    ("rs2 G T 0.2 -0.1 0.2", r"column 'SE' line 3: -0\.1 is not a standard error > 0"),
    ("rs2 G T 0.2 0 0.2", r"column 'SE' line 3: 0\.0 is not a standard error > 0"),
    ("rs1 A C 0.4 0.1 0.003", r"variant 'rs1' appears on lines \[2, 3\] with different values"),
])
def test_out_of_range_values_and_conflicting_duplicates(tmp_path, row, message):
    path = _table(tmp_path, ["rs1 A C 0.3 0.1 0.003", row])
    with pytest.raises(InputError, match=r"read_sumstats/table: .*exp.tsv: " + message):
        read_sumstats(path, columns=_MAP | {"variant_id": "SNP"})


def test_identical_duplicates_collapsed_and_exact_zero_p_from_log10p(tmp_path, caplog):
    path = _table(tmp_path, ["rs1 A C 0.3 0.1 0.003", "rs2 G T 0.2 0.1 0.2", "rs1 A C 0.3 0.1 0.003"])
    with caplog.at_level("WARNING"):
        t = read_sumstats(path, columns=_MAP | {"variant_id": "SNP"})
    assert list(t["variant_id"]) == ["rs1", "rs2"]
    assert "1 identical duplicated row(s) collapsed" in caplog.text
    reg = tmp_path / "x.regenie"
    reg.write_text("CHROM GENPOS ID ALLELE0 ALLELE1 A1FREQ N TEST BETA SE CHISQ LOG10P EXTRA\n"
                   "1 100 rs1 A G 0.3 1000 ADD 0.5 0.01 2500 400 NA\n")
    r = read_sumstats(reg)
    assert r.loc[0, "p_value"] == 0.0 and r.loc[0, "neg_log_10_p_value"] == 400


def test_rsid_only_table_keeps_every_variant(tmp_path):
    # an rsid-only table (no chromosome/position, as many published LDSC inputs): two variants with
    # the same alleles were given one id "nan:<NA>:G:A" and refused as conflicting duplicates
    path = tmp_path / "rsid_only.tsv"
    path.write_text("SNP\tEA\tNEA\tBETA\tSE\tP\tN\n"
                    "rs1\tA\tG\t0.1\t0.02\t1e-6\t1000\n"
                    "rs2\tC\tT\t-0.05\t0.02\t0.01\t1000\n"
                    "rs3\tA\tG\t0.0\t0.02\t0.9\t1000\n")
    cols = {"beta": "BETA", "standard_error": "SE", "p_value": "P", "effect_allele": "EA",
            "other_allele": "NEA", "rsid": "SNP", "n": "N"}
    df = read_sumstats(path, columns=cols)
    assert df["variant_id"].tolist() == ["rs1", "rs2", "rs3"]
    assert df["rsid"].tolist() == ["rs1", "rs2", "rs3"]
    assert df["chromosome"].isna().all()


_SSF_HEADER = ("chromosome\tbase_pair_location\teffect_allele\tother_allele\tbeta\tstandard_error\t"
               "effect_allele_frequency\tp_value\tvariant_id\trsid\textra\n")
_SSF_ROWS = ["1\t100\tA\tG\t0.1\t0.05\t0.3\t0.04\t1_100_G_A\trs1\tx\n",
             "1\t200\tC\tT\t-0.2\t0.05\t0.2\t1e-5\t1_200_T_C\trs2\ty\n",
             "2\t300\ta\tg\t0.0\t0.05\t0.5\t1\t2_300_G_A\trs3\t\n"]


@pytest.mark.parametrize("case", [
    "plain", "gzip", "empty cell in a number", "missing token", "nan text", "text in a number", "inf",
    "true/false extra", "tiny P", "int extra with a gap", "quoted", "crlf", "ragged", "no rows", "truncated gzip",
    "two gzip members", "all-missing extra", "byte-order mark", "meta-lines"])
def test_the_pyarrow_reader_gives_the_c_parsers_frame_or_error(tmp_path, monkeypatch, case):
    """read_sumstats reads delimited tables with pyarrow (a third of the C parser's CPU); every frame
    and every error must be the one pandas' C parser path gives (which it falls back to)."""
    import bma_genetics.io.sumstats as S

    r = list(_SSF_ROWS)
    edit = {"empty cell in a number": lambda: r.__setitem__(0, r[0].replace("\t0.3\t", "\t\t")),
            "missing token": lambda: r.__setitem__(0, r[0].replace("\t0.3\t", "\t#NA\t")),
            "nan text": lambda: r.__setitem__(0, r[0].replace("\t0.3\t", "\tnan\t")),
            "text in a number": lambda: r.__setitem__(1, r[1].replace("\t-0.2\t", "\tn/a\t")),
            "inf": lambda: r.__setitem__(0, r[0].replace("\t0.1\t", "\tinf\t")),
            "true/false extra": lambda: r.__init__([x.replace("\tx\n", "\tTRUE\n").replace("\ty\n", "\tFALSE\n")
                                                    .replace("\t\n", "\tTRUE\n") for x in r]),
            "tiny P": lambda: r.__setitem__(0, r[0].replace("\t0.04\t", "\t3.2e-412\t")),
            "int extra with a gap": lambda: r.__init__([r[0].replace("\tx\n", "\t5\n"), r[1].replace("\ty\n", "\t\n"),
                                                        r[2].replace("\t\n", "\t7\n")]),
            "quoted": lambda: r.__setitem__(0, r[0].replace("\trs1\t", '\t"rs1"\t')),
            "crlf": lambda: r.__init__([x.replace("\n", "\r\n") for x in r]),
            "ragged": lambda: r.__setitem__(1, r[1].replace("\ty\n", "\ty\tz\n")),
            "no rows": lambda: r.clear(),
            # plink2's ERRCODE: a column of nothing but missing tokens
            "all-missing extra": lambda: r.__init__([x.replace("\tx\n", "\t#NA\n").replace("\ty\n", "\t#NA\n")
                                                     .replace("\t\n", "\t#NA\n") for x in r])}
    if case in edit:
        edit[case]()
    text = _SSF_HEADER + "".join(r)
    if case == "meta-lines":  # a quote in a meta-line must not open a quoted field
        text = '##fileformat=GWAS-VCF-like\n##INFO=<ID=ES,Description="effect\tsize>\n' + text
    if case == "byte-order mark":
        text = "\ufeff" + text
    path = tmp_path / ("s.tsv.gz" if "gzip" in case else "s.tsv")
    if case == "gzip":
        with gzip.open(path, "wt") as fh:
            fh.write(text)
    elif case == "truncated gzip":
        path.write_bytes(gzip.compress(text.encode())[:-30])
    elif case == "two gzip members":  # as bgzip writes them
        path.write_bytes(gzip.compress(_SSF_HEADER.encode() + r[0].encode()) + gzip.compress("".join(r[1:]).encode()))
    else:
        path.write_text(text)

    def read():
        try:
            return read_sumstats(path)
        except InputError as exc:
            return str(exc)

    fast = read()
    used = []
    original = S._read_arrow
    monkeypatch.setattr(S, "_read_arrow", lambda *a, **k: used.append(original(*a, **k)) or None)
    slow = read()
    if isinstance(slow, str):
        assert fast == slow
    else:
        assert len(fast) == len(r)  # every row, of every gzip member
        pd.testing.assert_frame_equal(fast, slow, check_exact=True)
    if case in ("plain", "gzip", "missing token", "inf", "tiny P", "quoted", "crlf", "text in a number",
                "two gzip members", "all-missing extra", "byte-order mark", "meta-lines"):
        assert used[0] is not None  # these the fast reader reads itself


@pytest.mark.parametrize("case", ["true/false extra", "tiny P"])
def test_a_gzip_file_named_bgz_is_read_by_every_path(tmp_path, case):
    """UK Biobank's (Neale lab) files are bgzip named ``*.tsv.bgz``: compression is taken from the
    first bytes for the C-parser fallback (forced by a true/false column) and the tiny-P re-read
    too, not from the name."""
    r = list(_SSF_ROWS)
    if case == "true/false extra":
        r = [x.replace("\tx\n", "\ttrue\n").replace("\ty\n", "\tfalse\n").replace("\t\n", "\ttrue\n") for x in r]
    else:
        r[0] = r[0].replace("\t0.04\t", "\t3.2e-412\t")
    path = tmp_path / "s.tsv.bgz"
    path.write_bytes(gzip.compress((_SSF_HEADER + r[0]).encode()) + gzip.compress("".join(r[1:]).encode()))
    out = read_sumstats(path)
    assert len(out) == 3
    if case == "tiny P":
        assert out["neg_log_10_p_value"].iloc[0] == pytest.approx(412 - math.log10(3.2), abs=1e-12)
    else:
        assert out["extra"].tolist() == [True, False, True]


@pytest.mark.parametrize("text, expected", [("7e-324", 324 - math.log10(7)), ("2.5e-310", 310 - math.log10(2.5)),
                                            ("1e-400", 400.0), ("2.2e-300", 300 - math.log10(2.2))])
def test_subnormal_p_keeps_its_digits_in_neg_log10_p(tmp_path, text, expected):
    """A P that parses to a float64 subnormal (below 2.2e-308) has lost digits: 7e-324 parses to
    4.9e-324 (-log10 323.306); -log10 P comes from the text wherever P < finfo.tiny."""
    path = tmp_path / "s.tsv"
    path.write_text(_SSF_HEADER + _SSF_ROWS[0].replace("\t0.04\t", f"\t{text}\t") + "".join(_SSF_ROWS[1:]))
    out = read_sumstats(path)
    assert out["neg_log_10_p_value"].iloc[0] == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("how", ["plain", "gzip", "whitespace"])
@pytest.mark.parametrize("start", ["byte-order mark", "meta-lines", "both"])
def test_a_byte_order_mark_and_meta_lines_before_the_header_are_read(tmp_path, how, start):
    """A UTF-8 byte-order mark (Excel's "CSV UTF-8", some Windows tools) and ``##`` meta-lines
    before the header (VCF / GWAS-VCF style, some tools' provenance) are no part of the table: the
    frame is the one of the bare file, on the pyarrow path and the C parser's (whitespace), gzip or
    not; line numbers in errors count the meta-lines."""
    if how == "whitespace":  # REGENIE's layout: the C parser reads it
        header = "CHROM GENPOS ID ALLELE0 ALLELE1 A1FREQ N TEST BETA SE LOG10P\n"
        rows = ["1 100 rs1 G A 0.3 500 ADD 0.1 0.05 1.4\n", "1 200 rs2 T C 0.2 500 ADD -0.2 0.05 5\n"]
    else:
        header, rows = _SSF_HEADER, _SSF_ROWS
    prefix = ("\ufeff" if start != "meta-lines" else "") + (
        '##fileformat=GWAS-VCF-like\n##source="tool 1.0, \t quoted"\n' if start != "byte-order mark" else "")

    def write(name: str, text: str) -> Path:
        path = tmp_path / (name + (".gz" if how == "gzip" else ""))
        if how == "gzip":
            path.write_bytes(gzip.compress(text.encode("utf-8")))
        else:
            path.write_text(text, encoding="utf-8")
        return path

    bare = read_sumstats(write("bare.txt", header + "".join(rows)))
    got = read_sumstats(write("odd.txt", prefix + header + "".join(rows)))
    pd.testing.assert_frame_equal(got, bare, check_exact=True)
    bad = list(rows)
    bad[1] = bad[1].replace("-0.2", "x0.2")
    n_meta = prefix.count("##")
    with pytest.raises(InputError, match=rf"bad\.txt.*line {3 + n_meta}: 'x0.2' is not a number"):
        read_sumstats(write("bad.txt", prefix + header + "".join(bad)))


@pytest.mark.parametrize("how", ["plain", "whitespace"])
def test_a_ragged_row_after_meta_lines_is_reported_at_its_file_line(tmp_path, how):
    """A row with one field too many after two ``##`` meta-lines: the C parser's "Expected N
    fields in line L" counts from the header; the error gives the file's line (meta-lines
    counted, as docs/io.md says), on the whitespace layout and the tab-separated one alike."""
    if how == "whitespace":
        header = "CHROM GENPOS ID ALLELE0 ALLELE1 A1FREQ N TEST BETA SE LOG10P\n"
        rows = ["1 100 rs1 G A 0.3 500 ADD 0.1 0.05 1.4\n", "1 200 rs2 T C 0.2 500 ADD -0.2 0.05 5 9\n"]
    else:
        header, rows = _SSF_HEADER, list(_SSF_ROWS)
        rows[1] = rows[1].rstrip("\n") + "\textra\n"
    path = tmp_path / "ragged.txt"
    path.write_text("##fileformat=GWAS-VCF-like\n##source=tool\n" + header + "".join(rows), encoding="utf-8")
    with pytest.raises(InputError, match=r"ragged\.txt.*line 5\b"):
        read_sumstats(path)


def test_meta_lines_without_a_header_are_an_error_naming_the_file(tmp_path):
    path = tmp_path / "only_meta.tsv"
    path.write_text("\ufeff##fileformat=GWAS-VCF-like\n##source=tool\n")
    with pytest.raises(InputError, match=r"only_meta\.tsv is empty \(no header line after 2 '##' meta-line"):
        read_sumstats(path)

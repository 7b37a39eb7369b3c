"""MR inputs: harmonisation rules, readers, instruments (clumping, strength), LD proxies, bad input."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bma_genetics.errors import InputError
from bma_genetics.mr import (
    find_proxies,
    harmonise,
    instrument_strength,
    read_harmonised,
    read_sumstats,
    select_instruments,
)


def _ss(rows, cols=("rsid", "effect_allele", "other_allele", "beta", "standard_error", "effect_allele_frequency")):
    return pd.DataFrame(rows, columns=list(cols))


def test_harmonise_rules_action_2():
    exp = _ss([
        ("rs1", "A", "G", 0.1, 0.01, 0.2),   # outcome reports the other allele -> swap
        ("rs2", "A", "G", 0.1, 0.01, 0.3),   # outcome on the reverse strand -> flip
        ("rs3", "A", "C", 0.1, 0.01, 0.3),   # reverse strand and other allele
        ("rs4", "A", "T", 0.1, 0.01, 0.2),   # palindrome, frequencies disagree -> flip
        ("rs5", "A", "T", 0.1, 0.01, 0.2),   # palindrome, frequencies agree -> keep
        ("rs6", "G", "C", 0.1, 0.01, 0.45),  # palindrome, ambiguous EAF -> drop
        ("rs7", "G", "C", 0.1, 0.01, np.nan),  # palindrome, no EAF -> drop
        ("rs8", "A", "G", 0.1, 0.01, 0.3),   # different alleles -> drop
        ("rs9", "A", "G", 0.1, np.nan, 0.3),  # missing SE -> drop
        ("rs10", "A", "G", 0.1, 0.01, 0.3),  # absent from the outcome
        ("rs1", "A", "G", 0.2, 0.01, 0.2),   # duplicate -> drop
    ])
    out = _ss([
        ("rs1", "G", "A", 0.05, 0.02, 0.8),
        ("rs2", "T", "C", 0.05, 0.02, 0.3),
        ("rs3", "G", "T", 0.05, 0.02, 0.7),
        ("rs4", "A", "T", 0.05, 0.02, 0.8),
        ("rs5", "A", "T", 0.05, 0.02, 0.22),
        ("rs6", "G", "C", 0.05, 0.02, 0.45),
        ("rs7", "G", "C", 0.05, 0.02, 0.2),
        ("rs8", "A", "C", 0.05, 0.02, 0.3),
        ("rs9", "A", "G", 0.05, 0.02, 0.3),
    ])
    h = harmonise(exp, out, exposure_name="x", outcome_name="y")
    assert len(h) == len(exp)
    got = h.set_index(h.index)
    expect_beta = [-0.05, 0.05, -0.05, -0.05, 0.05]
    np.testing.assert_allclose(got["beta_outcome"].iloc[:5], expect_beta)
    assert got["mr_keep"].tolist() == [True] * 5 + [False] * 6
    assert got["harmonise_note"].iloc[0] == "alleles swapped"
    assert got["harmonise_note"].iloc[1] == "strand flipped"
    assert got["harmonise_note"].iloc[2] == "strand flipped; alleles swapped"
    assert "palindromic" in got["harmonise_note"].iloc[3]
    assert got["eaf_outcome"].iloc[0] == pytest.approx(0.2) and got["eaf_outcome"].iloc[3] == pytest.approx(0.2)
    reasons = got["drop_reason"].tolist()
    assert reasons[5].startswith("palindromic with ambiguous allele frequency") and "0.45" in reasons[5]
    assert reasons[6].startswith("palindromic with ambiguous")
    assert reasons[7] == "alleles do not match (exposure A/G, outcome A/C)"
    assert reasons[8].startswith("missing or non-positive SE") and "exposure" in reasons[8]
    assert reasons[9] == "absent from outcome"
    assert reasons[10].startswith("duplicate SNP")
    assert set(h["exposure"]) == {"x"} and (h["action"] == 2).all()


def test_harmonise_actions_1_and_3():
    exp = _ss([("rs1", "A", "T", 0.1, 0.01, 0.45), ("rs2", "A", "G", 0.1, 0.01, 0.3), ("rs3", "A", "G", 0.1, 0.01, 0.3)])
    out = _ss([("rs1", "A", "T", 0.05, 0.02, 0.45), ("rs2", "T", "C", 0.05, 0.02, 0.3), ("rs3", "G", "A", 0.05, 0.02, 0.7)])
    a1 = harmonise(exp, out, action=1)
    assert a1["mr_keep"].tolist() == [True, True, True]  # palindrome kept as is; strands still flipped
    assert a1["beta_outcome"].iloc[2] == pytest.approx(-0.05)
    a3 = harmonise(exp, out, action=3)
    assert a3["mr_keep"].tolist() == [False, True, True]
    assert a3["drop_reason"].iloc[0].startswith("palindromic (action 3")
    with pytest.raises(InputError, match="harmonise/action"):
        harmonise(exp, out, action=4)
    with pytest.raises(InputError, match="harmonise/outcome: outcome table lacks column"):
        harmonise(exp, out.drop(columns="standard_error"))
    with pytest.raises(InputError, match="no rows"):
        harmonise(exp.iloc[:0], out)


def test_harmonise_outcome_with_one_allele():
    exp = _ss([("rs1", "A", "G", 0.1, 0.01, 0.2), ("rs2", "A", "G", 0.1, 0.01, 0.2), ("rs3", "A", "T", 0.1, 0.01, 0.2),
               ("rs4", "A", "G", 0.1, 0.01, 0.2), ("rs5", "C", "T", 0.1, 0.01, 0.45)])
    out = _ss([("rs1", "G", None, 0.05, 0.02, 0.8), ("rs2", "A", None, 0.05, 0.02, 0.7),
               ("rs3", "A", None, 0.05, 0.02, 0.2), ("rs4", "T", None, 0.05, 0.02, 0.2),
               ("rs5", "C", None, 0.05, 0.02, 0.45)])
    h = harmonise(exp, out)
    # rs1: the other allele, frequencies agree -> swapped and kept; rs2: same allele but the
    # frequencies disagree; rs3: palindromic; rs4: only a strand flip matches; rs5: frequencies
    # near 0.5 confirm nothing (TwoSampleMR's harmonise_21 rules).
    assert h["mr_keep"].tolist() == [True, False, False, False, False]
    assert h["beta_outcome"].iloc[0] == pytest.approx(-0.05) and h["other_allele_outcome"].iloc[0] == "G"
    assert h["drop_reason"].iloc[2] == "palindromic and the outcome gives one allele"
    assert h["drop_reason"].iloc[1].startswith("the outcome gives one allele")
    assert harmonise(exp, out, action=1)["mr_keep"].tolist() == [True, True, False, True, True]


def test_harmonise_joins_on_positions_when_an_outcome_lacks_rsids():
    exp = _ss([("rs1", "A", "G", 0.1, 0.01, 0.2), ("rs2", "C", "T", 0.1, 0.01, 0.3)]).assign(
        chromosome=["1", "2"], base_pair_location=[100, 200])
    out = _ss([(None, "G", "A", 0.05, 0.02, 0.8), (None, "C", "T", 0.05, 0.02, 0.3)]).assign(
        chromosome=["chr1", "chr2"], base_pair_location=[100, 200])
    h = harmonise(exp, out)
    # matched row by row on chromosome:position:alleles; the exposure's rsid names the row
    assert h["mr_keep"].all() and h["snp"].tolist() == ["rs1", "rs2"]
    assert h["beta_outcome"].tolist() == [-0.05, 0.05]
    # A multi-allelic site: two outcome rows at 1:100; the one with the exposure's alleles wins.
    multi = pd.concat([out.iloc[:1].assign(effect_allele="C", other_allele="A", beta=9.0), out])
    hm = harmonise(exp, multi)
    assert hm["mr_keep"].all() and hm["beta_outcome"].tolist() == [-0.05, 0.05]
    with pytest.raises(InputError, match="share no identifier"):
        harmonise(exp.drop(columns=["chromosome"]), out.drop(columns=["chromosome"]))


def test_read_harmonised_twosamplemr_table(tmp_path):
    p = tmp_path / "h.csv"
    pd.DataFrame({"SNP": ["rs1", "rs2", "rs3"], "beta.exposure": [0.1, 0.2, 0.3], "se.exposure": [0.01] * 3,
                  "beta.outcome": [0.01, 0.02, 0.03], "se.outcome": [0.005, np.nan, 0.005],
                  "mr_keep": ["TRUE", "TRUE", "FALSE"]}).to_csv(p, index=False)
    h = read_harmonised(p)
    assert h["mr_keep"].tolist() == [True, False, False]
    assert h["drop_reason"].tolist()[1].startswith("missing or non-positive SE")
    assert h["drop_reason"].tolist()[2] == "mr_keep is FALSE in the input"
    dup = tmp_path / "d.tsv"
    pd.DataFrame({"SNP": ["rs1", "rs1"], "beta.exposure": [0.1, 0.2], "se.exposure": [0.01] * 2,
                  "beta.outcome": [0.01, 0.02], "se.outcome": [0.005] * 2}).to_csv(dup, sep="\t", index=False)
    with pytest.raises(InputError, match=r"read_harmonised/path: .*d.tsv lists SNP\(s\) \['rs1'\] more than once"):
        read_harmonised(dup)
    with pytest.raises(InputError, match="lacks column"):
        read_harmonised(pd.DataFrame({"SNP": ["rs1"], "beta.exposure": [0.1]}))


def _write(path: Path, text: str) -> Path:
    if path.name.endswith(".gz"):
        with gzip.open(path, "wt") as fh:
            fh.write(text)
    else:
        path.write_text(text)
    return path


def test_readers_all_formats(tmp_path):
    plink = _write(tmp_path / "t.PHENO1.glm.logistic.hybrid",
                   "#CHROM\tPOS\tID\tREF\tALT\tA1\tFIRTH?\tTEST\tOBS_CT\tOR\tLOG(OR)_SE\tZ_STAT\tP\tERRCODE\n"
                   "1\t100\trs1\tA\tG\tG\tN\tADD\t1000\t1.5\t0.1\t4.05\t5e-05\t.\n"
                   "1\t100\trs1\tA\tG\tG\tN\tsex\t1000\t1.1\t0.1\t1\t0.3\t.\n"
                   "2\t200\trs2\tC\tT\tC\tY\tADD\t990\t0.8\t0.2\t-1.1\t0.27\t.\n")
    p = read_sumstats(plink)
    assert len(p) == 2
    assert p.loc[0, "beta"] == pytest.approx(np.log(1.5)) and p.loc[0, "standard_error"] == 0.1
    assert (p.loc[0, "effect_allele"], p.loc[0, "other_allele"]) == ("G", "A")
    assert (p.loc[1, "effect_allele"], p.loc[1, "other_allele"]) == ("C", "T")
    assert p.loc[1, "n"] == 990 and p.loc[0, "rsid"] == "rs1"
    lin = _write(tmp_path / "t.PHENO1.glm.linear",
                 "#CHROM\tPOS\tID\tREF\tALT\tA1\tA1_FREQ\tTEST\tOBS_CT\tBETA\tSE\tT_STAT\tP\n"
                 "1\t100\t1:100_A_G\tA\tG\tG\t0.3\tADD\t500\t0.2\t0.05\t4\t6e-05\n")
    q = read_sumstats(lin)
    assert q.loc[0, "effect_allele_frequency"] == 0.3 and q.loc[0, "beta"] == 0.2 and pd.isna(q.loc[0, "rsid"])
    reg = _write(tmp_path / "s_Y1.regenie.gz",
                 "CHROM GENPOS ID ALLELE0 ALLELE1 A1FREQ INFO N TEST BETA SE CHISQ LOG10P EXTRA\n"
                 "3 300 rs3 a g 0.25 1 800 ADD 0.1 0.02 25 6.2 NA\n")
    r = read_sumstats(reg)
    assert r.loc[0, "p_value"] == pytest.approx(10**-6.2) and r.loc[0, "effect_allele"] == "G"
    assert r.loc[0, "other_allele"] == "A" and r.loc[0, "n"] == 800
    fg = _write(tmp_path / "finngen_R10_M13_OSTEOPOROSIS.gz",
                "#chrom\tpos\tref\talt\trsids\tnearest_genes\tpval\tmlogp\tbeta\tsebeta\taf_alt\taf_alt_cases\taf_alt_controls\n"
                "chr4\t400\tC\tT\trs4,rs44\tGENE\t1e-3\t3\t0.05\t0.015\t0.4\t0.41\t0.4\n")
    f = read_sumstats(fg, n_cases=1000, n_controls=9000)
    assert f.loc[0, "chromosome"] == "4" and f.loc[0, "rsid"] == "rs4" and f.loc[0, "effect_allele"] == "T"
    assert f.loc[0, "n_cases"] == 1000 and f.loc[0, "n"] == 10_000
    tab = _write(tmp_path / "any.csv", "SNP,EA,NEA,B,SE,P\nrs5,A,C,0.3,0.1,0.003\n")
    t = read_sumstats(tab, columns={"rsid": "SNP", "effect_allele": "EA", "other_allele": "NEA", "beta": "B",
                                    "standard_error": "SE", "p_value": "P"})
    assert t.loc[0, "beta"] == 0.3 and t.loc[0, "rsid"] == "rs5"
    with pytest.raises(InputError, match="read_sumstats/format: .*not in a known format"):
        read_sumstats(tab)
    with pytest.raises(InputError, match=r"lacks mapped column\(s\) \['BETA'\]"):
        read_sumstats(tab, columns={"beta": "BETA"})
    with pytest.raises(InputError, match="read_sumstats/path: no such file"):
        read_sumstats(tmp_path / "nope.tsv")


def test_gwas_ssf_reader(tmp_path):
    from bma_genetics.io import write_gwas_ssf

    ss = pd.DataFrame({"chromosome": ["1", "2"], "base_pair_location": [10, 20], "effect_allele": ["A", "C"],
                       "other_allele": ["G", "T"], "beta": [0.1, -0.2], "standard_error": [0.01, 0.02],
                       "effect_allele_frequency": [0.3, 0.6], "p_value": [1e-20, 1e-5], "rsid": ["rs1", "rs2"],
                       "variant_id": ["1:10_G_A", "2:20_T_C"], "n": [5000, 5000]})
    path = write_gwas_ssf(ss, tmp_path / "x.tsv.gz")
    r = read_sumstats(path)
    assert r["beta"].tolist() == [0.1, -0.2] and r["rsid"].tolist() == ["rs1", "rs2"] and r["n"].iloc[0] == 5000


# --------------------------------------------------------------------------------------------
# genotypes for clumping and proxies


def write_plink(prefix: Path, dosages: np.ndarray, chrom: list[str], pos: list[int], a1: list[str], a2: list[str],
                ids: list[str]) -> Path:
    """A PLINK 1 fileset from a (samples, variants) matrix of A1 counts."""
    n, m = dosages.shape
    codes = np.select([dosages == 2, dosages == 1, dosages == 0], [0, 2, 3], 1).astype(np.uint8)
    pad = (-n) % 4
    codes = np.vstack([codes, np.zeros((pad, m), np.uint8)])
    packed = (codes[0::4] | (codes[1::4] << 2) | (codes[2::4] << 4) | (codes[3::4] << 6)).T
    Path(f"{prefix}.bed").write_bytes(b"\x6c\x1b\x01" + packed.astype(np.uint8).tobytes())
    pd.DataFrame({"c": chrom, "id": ids, "cm": 0, "pos": pos, "a1": a1, "a2": a2}).to_csv(
        f"{prefix}.bim", sep="\t", header=False, index=False)
    pd.DataFrame({"f": [f"s{i}" for i in range(n)], "i": [f"s{i}" for i in range(n)], "p": 0, "m": 0, "s": 1,
                  "y": -9}).to_csv(f"{prefix}.fam", sep=" ", header=False, index=False)
    return prefix


@pytest.fixture(scope="module")
def ld_panel(tmp_path_factory):
    """Two LD blocks on chr1 (variants 0-2 and 3-5, r^2 ~ 0.9 within) and one lone variant on
    chr2; variant 2 carries its A1 on the haplotype of variant 0's A2 (r < 0)."""
    rng = np.random.default_rng(1)
    n = 2000
    h1 = rng.random((n, 2)) < 0.3
    h2 = rng.random((n, 2)) < 0.4
    h3 = rng.random((n, 2)) < 0.2

    def noisy(h, p=0.02):
        return np.where(rng.random(h.shape) < p, ~h, h)

    cols = [h1, noisy(h1), ~noisy(h1), h2, noisy(h2), noisy(h2), h3]
    dos = np.column_stack([c.sum(axis=1) for c in cols]).astype(float)
    prefix = tmp_path_factory.mktemp("ld") / "panel"
    write_plink(prefix, dos, ["1"] * 6 + ["2"], [1000, 2000, 3000, 5_000_000, 5_001_000, 5_002_000, 1000],
                ["A"] * 7, ["G"] * 7, [f"rs{i}" for i in range(7)])
    return prefix


def test_select_instruments_clumps_and_measures_strength(ld_panel):
    from bma_genetics.ld import PlinkReader

    reader = PlinkReader(ld_panel)
    ss = pd.DataFrame({"rsid": [f"rs{i}" for i in range(7)], "chromosome": ["1"] * 6 + ["2"],
                       "base_pair_location": [1000, 2000, 3000, 5_000_000, 5_001_000, 5_002_000, 1000],
                       "effect_allele": ["A"] * 7, "other_allele": ["G"] * 7,
                       "beta": [0.2, 0.19, -0.18, 0.1, 0.11, 0.09, 0.07], "standard_error": [0.01] * 7,
                       "n": [10_000] * 7})
    from scipy import stats

    ss["p_value"] = 2 * stats.norm.sf(np.abs(ss.beta / ss.standard_error))
    ins = select_instruments(ss, reader=reader, clump_r2=0.001, clump_kb=10_000)
    # one index per block (the strongest), block 2 is 5 Mb away (inside 10 Mb) but unlinked
    assert ins["rsid"].tolist() == ["rs0", "rs4", "rs6"]
    assert ins["f_statistic"].tolist() == pytest.approx([400, 121, 49])
    assert ins["r2"].iloc[0] == pytest.approx(0.04 / (0.04 + 10_000 * 1e-4))
    assert instrument_strength(ss)["f_statistic"].iloc[2] == pytest.approx(324)
    with pytest.raises(InputError, match=r"select_instruments/p_threshold: no variant of exposure has P < 1e-300"):
        select_instruments(ss, p_threshold=1e-300)
    far = ss.assign(chromosome="7")
    with pytest.raises(InputError, match="none is in the LD reference, so zero instruments remain"):
        select_instruments(far, reader=reader)


def test_proxies_align_alleles_through_ld(ld_panel):
    from bma_genetics.ld import PlinkReader

    reader = PlinkReader(ld_panel)
    ins = pd.DataFrame({"rsid": ["rs0", "rs3"], "chromosome": ["1", "1"], "base_pair_location": [1000, 5_000_000],
                        "effect_allele": ["A", "A"], "other_allele": ["G", "G"], "beta": [0.2, 0.1],
                        "standard_error": [0.01, 0.01], "effect_allele_frequency": [0.3, 0.4]})
    # The outcome lacks rs0 and rs3; rs2 (r ~ -0.9 with rs0) and rs4 (r ~ +0.9 with rs3) remain.
    oc = pd.DataFrame({"rsid": ["rs2", "rs4"], "chromosome": ["1", "1"], "base_pair_location": [3000, 5_001_000],
                       "effect_allele": ["A", "A"], "other_allele": ["G", "G"], "beta": [0.05, 0.07],
                       "standard_error": [0.01, 0.01], "effect_allele_frequency": [0.7, 0.4]})
    rows = find_proxies(ins, oc, reader, min_r2=0.8)
    assert sorted(rows["rsid"]) == ["rs0", "rs3"]
    assert set(rows["proxy_snp"]) == {"rs2", "rs4"} and (rows["proxy_r2"] >= 0.8).all()
    h = harmonise(ins, rows).set_index("snp")
    # rs2's A travels with rs0's G: the outcome effect of rs0's A is -0.05.
    assert h.loc["rs0", "beta_outcome"] == pytest.approx(-0.05)
    assert h.loc["rs3", "beta_outcome"] == pytest.approx(0.07)
    assert h["mr_keep"].all() and h.loc["rs0", "proxy_snp"] == "rs2"
    none = find_proxies(ins, oc, reader, min_r2=0.999)
    assert none.empty

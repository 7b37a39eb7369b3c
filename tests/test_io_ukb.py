"""UK Biobank readers, field access, withdrawals, sample QC and the participant table.

The tests write their own small exports (one synthetic cohort with planted QC cases, in every
naming scheme and file format) so they do not depend on the simulator.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat
import pytest

from bma_genetics.errors import InputError
from bma_genetics.io import (
    Coding,
    FieldKey,
    UKBData,
    build_participant_table,
    get_field,
    parse_column,
    read_data_dictionary,
    read_kinship,
    read_ukb,
    read_ukb_header,
    read_withdrawals,
    run_sample_qc,
    unrelated_set,
    write_participant_table,
)
from bma_genetics.io.participants import run_participants

N = 240
PCS = 10
N_DX = 4


# ---------------------------------------------------------------------------------------------
# a synthetic cohort with planted QC cases
# ---------------------------------------------------------------------------------------------


def make_cohort(seed: int = 3) -> tuple[pd.DataFrame, dict]:
    """Showcase-named export (strings as ukbconv writes them) and the planted truth."""
    rng = np.random.default_rng(seed)
    eids = np.arange(1_000_001, 1_000_001 + N)
    sex = rng.integers(0, 2, N)
    gsex = sex.copy()
    perm = rng.permutation(N)
    sex_mismatch = perm[:4]
    gsex[sex_mismatch] = 1 - gsex[sex_mismatch]
    aneuploidy = perm[4:6]
    het = perm[6:9]
    non_eur = perm[9:29]
    withdrawn = perm[29:34]
    excess = perm[34:35]
    rel_pairs = [(perm[40 + 2 * k], perm[41 + 2 * k]) for k in range(6)]
    no_pca = perm[60:70]
    ethnic = np.full(N, 1001)
    ethnic[non_eur[:10]] = 4001
    ethnic[non_eur[10:15]] = 3001
    ethnic[non_eur[15:]] = 5
    g22006 = np.where(np.isin(np.arange(N), non_eur), np.nan, 1.0)
    pcs = rng.normal(0, 1, (N, PCS))
    pcs[non_eur[:10], 0] += 40  # AFR far along PC1
    pcs[non_eur[10:15], 1] += 40  # CSA along PC2
    pcs[non_eur[15:], 2] += 40  # EAS along PC3
    kin = np.zeros(N)
    for a, b in rel_pairs:
        kin[a] = kin[b] = 1
    kin[excess] = 10
    yob = rng.integers(1940, 1966, N)
    visit = pd.to_datetime("2015-01-01") + pd.to_timedelta(rng.integers(0, 2000, N), unit="D")
    age = visit.year - yob
    df = pd.DataFrame({"eid": eids.astype(str)})
    df["31-0.0"] = sex.astype(str)
    df["34-0.0"] = yob.astype(str)
    df["52-0.0"] = rng.integers(1, 13, N).astype(str)
    df["21003-2.0"] = age.astype(str)
    bmi = np.round(rng.normal(26, 4, N), 4).astype(str)
    bmi[:3] = ""
    df["21001-2.0"] = bmi
    df["50-2.0"] = np.round(rng.normal(170, 9, N), 1).astype(str)
    df["54-2.0"] = rng.choice([11025, 11026, 11027], N).astype(str)
    df["53-2.0"] = visit.strftime("%Y-%m-%d")
    df["21000-0.0"] = ethnic.astype(str)
    df["22001-0.0"] = gsex.astype(str)
    df["22006-0.0"] = pd.Series(g22006).map(lambda v: "" if np.isnan(v) else "1").to_numpy()
    for i in range(PCS):
        df[f"22009-0.{i + 1}"] = np.round(pcs[:, i], 5).astype(str)
    flag = np.zeros(N, dtype=object)
    flag[:] = ""
    f19 = flag.copy()
    f19[aneuploidy] = "1"
    df["22019-0.0"] = f19
    df["22020-0.0"] = np.where(np.isin(np.arange(N), no_pca), "", "1")
    df["22021-0.0"] = kin.astype(int).astype(str)
    f27 = flag.copy()
    f27[het] = "1"
    df["22027-0.0"] = f27
    codes = np.array(["M810", "I10", "E119", "S7200", "C859", "I219"])
    for a in range(N_DX):
        has = rng.random(N) < 0.5 / (a + 1)
        df[f"41270-0.{a}"] = np.where(has, rng.choice(codes, N), "")
        dates = pd.to_datetime("2005-01-01") + pd.to_timedelta(rng.integers(0, 5000, N), unit="D")
        df[f"41280-0.{a}"] = np.where(has, dates.strftime("%Y-%m-%d"), "")
    ids = eids.astype(str)
    truth = {
        "sex_mismatch": set(ids[sex_mismatch]),
        "aneuploidy": set(ids[aneuploidy]),
        "het": set(ids[het]),
        "non_european": set(ids[non_eur]),
        "afr": set(ids[non_eur[:10]]),
        "withdrawn": set(ids[withdrawn]),
        "excess": set(ids[excess]),
        "related_pairs": [(ids[a], ids[b]) for a, b in rel_pairs],
        "no_pca": set(ids[no_pca]),
    }
    return df, truth


def _key(col: str) -> FieldKey:
    return parse_column(col, "showcase")[1]


def to_r(df: pd.DataFrame) -> pd.DataFrame:
    return df.rename(columns=lambda c: "f.eid" if c == "eid" else "f.{}.{}.{}".format(*_key(c)))


def to_stata(df: pd.DataFrame) -> pd.DataFrame:
    """ukbconv stata naming and types: numeric n_, string s_, dates ts_ (as real dates)."""
    out = {"n_eid": df["eid"].astype("int64")}
    for c in df.columns[1:]:
        k = _key(c)
        name = "_{}_{}_{}".format(*k)
        if k.field == 41270:
            out["s" + name] = df[c]
        elif k.field in (41280, 53):
            out["ts" + name] = pd.to_datetime(df[c].replace("", None))
        else:
            out["n" + name] = pd.to_numeric(df[c].replace("", None))
    return pd.DataFrame(out)


def to_rap(df: pd.DataFrame) -> pd.DataFrame:
    counts = pd.Series([_key(c).field for c in df.columns[1:]]).value_counts()

    def name(c: str) -> str:
        if c == "eid":
            return "eid"
        k = _key(c)
        s = f"p{k.field}"
        if k.instance:
            s += f"_i{k.instance}"
        if counts[k.field] > 1:
            s += f"_a{k.array}"
        return s

    return df.rename(columns=name)


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    d = tmp_path_factory.mktemp("ukb_exports")
    df, truth = make_cohort()
    paths = {}
    paths["csv"] = d / "ukb.csv"
    df.to_csv(paths["csv"], index=False)
    paths["tsv.gz"] = d / "ukb.tsv.gz"
    df.to_csv(paths["tsv.gz"], sep="\t", index=False)
    paths["r"] = d / "ukb.tab"
    to_r(df).replace("", None).to_csv(paths["r"], sep="\t", index=False, na_rep="NA")  # R writes NA
    st = to_stata(df)
    paths["dta"] = d / "ukb.dta"
    pyreadstat.write_dta(st, paths["dta"])
    paths["sav"] = d / "ukb.sav"
    pyreadstat.write_sav(st, paths["sav"])
    paths["xpt"] = d / "ukb.xpt"
    pyreadstat.write_xport(st, paths["xpt"], file_format_version=8)
    rap = to_rap(df)
    paths["rap"] = d / "ukb_rap.csv"
    rap.to_csv(paths["rap"], index=False)
    paths["rap_parquet"] = d / "ukb_rap.parquet"
    rap.replace("", None).to_parquet(paths["rap_parquet"], index=False)
    paths["parquet"] = d / "ukb.parquet"
    st.rename(columns=lambda c: "eid" if c == "n_eid" else "{}-{}.{}".format(*parse_column(c)[1])).to_parquet(
        paths["parquet"], index=False
    )
    wd = d / "withdrawals.csv"
    wd.write_text("\n".join(sorted(truth["withdrawn"])) + "\n")
    rel = d / "ukb_rel.dat"
    lines = ["ID1 ID2 HetHet IBS0 Kinship"] + [f"{a} {b} 0.1 0.001 0.25" for a, b in truth["related_pairs"]]
    rel.write_text("\n".join(lines) + "\n")
    return {"paths": paths, "truth": truth, "frame": df, "withdrawals": wd, "kinship": rel, "dir": d}


# ---------------------------------------------------------------------------------------------
# column names
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "scheme", "key"),
    [
        ("41270-0.0", "showcase", (41270, 0, 0)),
        ("22009-0.40", "showcase", (22009, 0, 40)),
        ("f.21003.2.0", "r", (21003, 2, 0)),
        ("n_31_0_0", "stata", (31, 0, 0)),
        ("s_41270_0_12", "stata", (41270, 0, 12)),
        ("ts_41280_0_3", "stata", (41280, 0, 3)),
        ("p31", "rap", (31, 0, 0)),
        ("p21003_i2", "rap", (21003, 2, 0)),
        ("p22009_a1", "rap", (22009, 0, 1)),
        ("p41270_i0_a5", "rap", (41270, 0, 5)),
        ("participant.p21003_i2", "rap", (21003, 2, 0)),
    ],
)
def test_parse_column_every_scheme(name, scheme, key):
    assert parse_column(name) == (scheme, FieldKey(*key))


def test_parse_column_non_ukb_names():
    for name in ("eid", "sex", "pc1", "age", "bmff_spine"):
        assert parse_column(name) is None


@pytest.mark.parametrize(
    ("columns", "bad"),
    [
        (["eid", "31-0.0", "21003-2.0", "f.21001.2.0"], "f.21001.2.0"),  # R name in a showcase file
        (["eid", "p31", "p21003_i2", "50-2.0"], "50-2.0"),  # showcase name in a RAP file
        (["eid", "31-0.0", "21003-2.0", "21001-2"], "21001-2"),  # no scheme at all
        (["f.eid", "f.31.0.0", "f.50.2.0", "n_21001_2_0"], "n_21001_2_0"),
    ],
)
def test_wrong_scheme_column_is_an_error_naming_file_and_column(tmp_path, columns, bad):
    path = tmp_path / "mixed.csv"
    pd.DataFrame([[1] * len(columns)], columns=columns).to_csv(path, index=False)
    with pytest.raises(InputError, match=rf"mixed\.csv column '{bad}'"):
        read_ukb(path, progress=False)


def test_header_without_eid_or_data_columns(tmp_path):
    p = tmp_path / "noeid.csv"
    pd.DataFrame({"31-0.0": [1]}).to_csv(p, index=False)
    with pytest.raises(InputError, match="no participant-id column"):
        read_ukb(p)
    p2 = tmp_path / "nodata.csv"
    pd.DataFrame({"eid": [1], "sex": [1]}).to_csv(p2, index=False)
    with pytest.raises(InputError, match="no UK Biobank data columns"):
        read_ukb(p2)


# ---------------------------------------------------------------------------------------------
# every format reads to the same data
# ---------------------------------------------------------------------------------------------

FORMATS = ["csv", "tsv.gz", "r", "dta", "sav", "xpt", "rap", "rap_parquet", "parquet"]


@pytest.fixture(scope="module")
def reference(cohort):
    return read_ukb(cohort["paths"]["csv"], progress=False)


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_reads_identically(cohort, reference, fmt):
    data = read_ukb(cohort["paths"][fmt], progress=False)
    expected_scheme = {"r": "r", "dta": "stata", "sav": "stata", "xpt": "stata", "rap": "rap", "rap_parquet": "rap"}
    assert data.scheme == expected_scheme.get(fmt, "showcase")
    pd.testing.assert_frame_equal(data.frame, reference.frame, check_exact=False, rtol=1e-12)
    assert data.frame.index.dtype == object and isinstance(data.frame.index[0], str)


@pytest.mark.parametrize("fmt", ["dta", "rap", "parquet"])
def test_participant_tables_identical_across_formats(cohort, reference, fmt):
    ref = build_participant_table(reference)
    other = build_participant_table(read_ukb(cohort["paths"][fmt], progress=False))
    pd.testing.assert_frame_equal(other, ref)


def test_column_selective_read(cohort):
    p = cohort["paths"]["csv"]
    data = read_ukb(p, [31, 22009], progress=False)
    assert data.fields() == [31, 22009]
    assert data.arrays(22009, 0) == list(range(1, PCS + 1))
    data2 = read_ukb(p, [21003, 22001], instances={21003: [2]}, progress=False)
    assert data2.instances(21003) == [2]
    layout = read_ukb_header(cohort["paths"]["dta"])
    assert layout.scheme == "stata" and 41270 in layout.fields()


def test_chunked_reads_equal_one_chunk(cohort, reference):
    for fmt in ("dta", "parquet"):
        data = read_ukb(cohort["paths"][fmt], chunksize=37, progress=False)
        pd.testing.assert_frame_equal(data.frame, reference.frame, check_exact=False, rtol=1e-12)


def test_absent_field_and_instance_errors_name_the_file(cohort):
    p = cohort["paths"]["csv"]
    with pytest.raises(InputError, match=r"ukb\.csv has no column for field\(s\) \[20201\]"):
        read_ukb(p, [31, 20201])
    with pytest.raises(InputError, match=r"field 22009 at instance\(s\) \[0\] only, not \[2\]"):
        read_ukb(p, [21003, 22009], instances=[2])
    data = read_ukb(p, [31, 21003], progress=False)
    with pytest.raises(InputError, match=r"ukb\.csv has no field 50"):
        get_field(data, 50)
    with pytest.raises(InputError, match=r"field 31 at instance\(s\) \[0\] only, not 2"):
        get_field(data, 31)


def test_duplicated_eid_is_an_error_naming_the_file(tmp_path, cohort):
    df = cohort["frame"].iloc[:5].copy()
    df.loc[3, "eid"] = df.loc[1, "eid"]
    p = tmp_path / "dups.csv"
    df.to_csv(p, index=False)
    with pytest.raises(InputError, match=rf"dups\.csv has duplicated eid\(s\) in column 'eid': \['{df.loc[1, 'eid']}'\]"):
        read_ukb(p, progress=False)
    st = to_stata(df)
    pyreadstat.write_dta(st, tmp_path / "dups.dta")
    with pytest.raises(InputError, match=r"dups\.dta has duplicated eid"):
        read_ukb(tmp_path / "dups.dta", progress=False)


def test_unparseable_date_names_column_and_value(tmp_path, cohort):
    df = cohort["frame"].iloc[:5].copy()
    df.loc[2, "53-2.0"] = "31/02/2019"
    df.to_csv(tmp_path / "baddate.csv", index=False)
    with pytest.raises(InputError, match=r"baddate\.csv column '53-2\.0' has an unparseable date '31/02/2019'"):
        read_ukb(tmp_path / "baddate.csv", progress=False)


def test_non_numeric_value_in_numeric_field(tmp_path, cohort):
    df = cohort["frame"].iloc[:5].copy()
    df.loc[2, "21001-2.0"] = "twenty"
    df.to_csv(tmp_path / "badnum.csv", index=False)
    with pytest.raises(InputError, match=r"column '21001-2\.0' is a numeric field but holds 'twenty'"):
        read_ukb(tmp_path / "badnum.csv", progress=False)


# ---------------------------------------------------------------------------------------------
# get_field and codings
# ---------------------------------------------------------------------------------------------


def test_get_field_values_arrays_and_labels(cohort, reference):
    df = cohort["frame"]
    age = get_field(reference, 21003, instance=2)
    assert age.name == "21003-2.0"
    np.testing.assert_array_equal(age.to_numpy(), df["21003-2.0"].astype(float).to_numpy())
    pcs = get_field(reference, 22009, instance=0)
    assert list(pcs.columns) == [f"pc{i}" for i in range(1, PCS + 1)]
    np.testing.assert_allclose(pcs["pc3"].to_numpy(), df["22009-0.3"].astype(float).to_numpy())
    sex = get_field(reference, 31, instance=0, coding="labels")
    assert set(sex.cat.categories) == {"Female", "Male"}
    assert (sex == "Male").sum() == (df["31-0.0"] == "1").sum()
    eth = get_field(reference, 21000, 0, coding="labels")
    assert set(eth.dropna()) == {"British", "Caribbean", "Indian", "Chinese"}
    dx = get_field(reference, 41270, 0, array=1)
    assert dx.name == "41270-0.1" and dx.dropna().str.match(r"^[A-Z]\d").all()


def test_labels_and_codes_read_back_to_the_same_codes(cohort):
    df = cohort["frame"].iloc[:20].copy()
    labelled = df.copy()
    labelled["31-0.0"] = df["31-0.0"].map({"0": "Female", "1": "Male"})
    a = UKBData.from_frame(df)
    b = UKBData.from_frame(labelled)
    pd.testing.assert_series_equal(get_field(a, 31, 0, coding="codes"), get_field(b, 31, 0, coding="codes"))
    pd.testing.assert_series_equal(get_field(a, 31, 0, coding="labels"), get_field(b, 31, 0, coding="labels"))


def test_mixed_codings_is_an_error(cohort):
    df = cohort["frame"].iloc[:20].copy()
    df.loc[4, "31-0.0"] = "Male"  # one label among codes
    data = UKBData.from_frame(df, source="mixed.csv")
    with pytest.raises(InputError, match=r"mixed\.csv column '31-0\.0' mixes codings: codes such as '.' and labels such as 'Male'"):
        get_field(data, 31, 0, coding="labels")
    df.loc[4, "31-0.0"] = "7"
    data = UKBData.from_frame(df, source="odd.csv")
    with pytest.raises(InputError, match=r"odd\.csv column '31-0\.0' has value '7' which is not in coding 9"):
        get_field(data, 31, 0, coding="codes")


def test_hierarchy_and_custom_coding(reference):
    cod = reference.dictionary.coding(1001)
    assert cod.top_level("4001") == "4" and cod.top_level("1001") == "1" and cod.top_level("5") == "5"
    mine = Coding(99, {"11025": "A", "11026": "B", "11027": "C"})
    centre = get_field(reference, 54, 2, coding=mine)
    assert set(centre.dropna()) <= {"A", "B", "C"}


def test_official_dictionary_and_codings_files(tmp_path, cohort):
    dd = tmp_path / "Data_Dictionary_Showcase.tsv"
    dd.write_text(
        "Path\tCategory\tFieldID\tField\tParticipants\tItems\tStability\tValueType\tUnits\tItemType\tStrata\t"
        "Sexed\tInstances\tArray\tCoding\tNotes\tLink\n"
        "x\t1\t31\tSex\t1\t1\tComplete\tCategorical single\t\tData\tPrimary\tUnisex\t1\t1\t9\t\t\n"
        "x\t1\t54\tUK Biobank assessment centre\t1\t1\tComplete\tCategorical single\t\tData\tPrimary\tUnisex\t4\t1\t10\t\t\n"
        "x\t1\t99999\tSomething new\t1\t1\tComplete\tDate\t\tData\tPrimary\tUnisex\t1\t1\t\t\t\n"
    )
    cd = tmp_path / "Codings.tsv"
    cd.write_text("Coding\tValue\tMeaning\n9\t0\tFemale\n9\t1\tMale\n10\t11025\tCheadle (imaging)\n"
                  "10\t11026\tReading (imaging)\n10\t11027\tNewcastle (imaging)\n10\t11028\tBristol (imaging)\n"
                  "10\t11010\tLeeds\n")
    d = read_data_dictionary(dd, cd)
    assert d.field_info(99999).value_type == "Date"
    assert d.coding(10).meanings["11010"] == "Leeds"
    df = cohort["frame"][["eid", "54-2.0"]].iloc[:10].copy()
    df["99999-0.0"] = "2020-01-02"
    data = UKBData.from_frame(df, dictionary=d)
    assert pd.api.types.is_datetime64_any_dtype(get_field(data, 99999, 0))
    with pytest.raises(InputError, match=r"Codings_bad\.tsv lacks column"):
        bad = tmp_path / "Codings_bad.tsv"
        bad.write_text("Coding\tValue\n9\t0\n")
        read_data_dictionary(codings=bad)


# ---------------------------------------------------------------------------------------------
# withdrawals
# ---------------------------------------------------------------------------------------------


def test_withdrawals_removed_and_counted(cohort, caplog):
    truth = cohort["truth"]
    assert read_withdrawals(cohort["withdrawals"]) == truth["withdrawn"]
    with caplog.at_level(logging.INFO, logger="bma_genetics"):
        data = read_ukb(cohort["paths"]["dta"], withdrawals=cohort["withdrawals"], progress=False)
    assert not set(data.eids) & truth["withdrawn"]
    assert len(data) == N - len(truth["withdrawn"])
    assert f"removed {len(truth['withdrawn'])} withdrawn participant(s) (reason: withdrawn)" in caplog.text
    table = build_participant_table(read_ukb(cohort["paths"]["csv"], progress=False), withdrawals=truth["withdrawn"])
    assert not set(table["eid"]) & truth["withdrawn"]


def test_withdrawal_file_bad_line(tmp_path):
    p = tmp_path / "w.csv"
    p.write_text("1000001\nabc\n")
    with pytest.raises(InputError, match=r"w\.csv line 2 is 'abc'"):
        read_withdrawals(p)


# ---------------------------------------------------------------------------------------------
# sample QC
# ---------------------------------------------------------------------------------------------


def _flagged(table: pd.DataFrame, step: str) -> int:
    return int(table.set_index("step").loc[step, "flagged"])


def test_sample_qc_counts_equal_planted(cohort, reference, caplog):
    truth = cohort["truth"]
    with caplog.at_level(logging.INFO, logger="bma_genetics"):
        kept, table = run_sample_qc(reference, kinship=cohort["kinship"])
    assert _flagged(table, "sex_mismatch") == len(truth["sex_mismatch"])
    assert _flagged(table, "sex_aneuploidy") == len(truth["aneuploidy"])
    assert _flagged(table, "het_missing") == len(truth["het"])
    assert _flagged(table, "ancestry") == len(truth["non_european"])
    assert _flagged(table, "excess_relatives") == len(truth["excess"])
    assert _flagged(table, "not_in_pca") == len(truth["no_pca"])
    assert table.set_index("step").loc["not_in_pca", "removed"] == 0  # counted, not removed
    assert _flagged(table, "related") == 2 * len(truth["related_pairs"])
    kept = set(kept)
    for group in ("sex_mismatch", "aneuploidy", "het", "non_european", "excess"):
        assert not kept & truth[group], group
    for a, b in truth["related_pairs"]:
        removed_before = (truth["sex_mismatch"] | truth["aneuploidy"] | truth["het"] | truth["non_european"] | truth["excess"])
        alive = [e for e in (a, b) if e not in removed_before]
        assert sum(e in kept for e in alive) == (1 if alive else 0)
    # the table is consistent: remaining decreases by removed; every removal has a reason logged
    rem = table["remaining"].to_numpy()
    assert (rem[:-1] - table["removed"].to_numpy()[1:] == rem[1:]).all()
    assert rem[-1] == len(kept)
    assert "reason: sex_mismatch" in caplog.text and "reason: related" in caplog.text


def test_related_pairs_keep_the_phenotyped(cohort, reference):
    truth = cohort["truth"]
    pheno = {b for _, b in truth["related_pairs"]}
    kept, _ = run_sample_qc(reference, kinship=cohort["kinship"], phenotype=pheno, ancestry=None, steps=["related"])
    kept = set(kept)
    for a, b in truth["related_pairs"]:
        assert b in kept and a not in kept
    pheno = {a for a, _ in truth["related_pairs"]}
    kept, _ = run_sample_qc(reference, kinship=read_kinship(cohort["kinship"]), phenotype=pheno, steps=["related"])
    for a, b in truth["related_pairs"]:
        assert a in set(kept) and b not in set(kept)


def _best_unrelated(nodes: list[str], edges: set[frozenset], pheno: set[str]) -> tuple[int, int]:
    """Brute force: the most phenotyped people, then the most people, in any unrelated set."""
    best = (0, 0)
    for mask in range(1 << len(nodes)):
        chosen = [n for i, n in enumerate(nodes) if mask >> i & 1]
        if all(frozenset((x, y)) not in edges for i, x in enumerate(chosen) for y in chosen[i + 1:]):
            best = max(best, (sum(c in pheno for c in chosen), len(chosen)))
    return best


@pytest.mark.parametrize("with_phenotype", [False, True])
def test_unrelated_set_against_brute_force(with_phenotype):
    rng = np.random.default_rng(11)
    short = 0
    for _ in range(40):
        nodes = [str(100 + i) for i in range(10)]
        edges = {frozenset(rng.choice(nodes, 2, replace=False)) for _ in range(rng.integers(3, 14))}
        pairs = pd.DataFrame([sorted(e) for e in edges], columns=["ID1", "ID2"]).assign(Kinship=0.2)
        pheno = set(rng.choice(nodes, 4, replace=False)) if with_phenotype else set()
        gone = unrelated_set(pairs, nodes, phenotype=pheno)
        kept = [x for x in nodes if x not in gone]
        # hard guarantees: no related pair kept; maximal (every removed person has a kept relative)
        assert all(frozenset((x, y)) not in edges for i, x in enumerate(kept) for y in kept[i + 1:])
        for g in gone:
            assert any(frozenset((g, k)) in edges for k in kept)
        best_pheno, best_n = _best_unrelated(nodes, edges, pheno)
        # tolerances (greedy is a heuristic): as many phenotyped kept as the exact optimum on these
        # 10-node graphs, at most 2 fewer people in total, and the exact optimum in >= 80% of graphs
        assert sum(k in pheno for k in kept) == best_pheno
        assert best_n - len(kept) <= 2
        short += len(kept) < best_n
    assert short <= 8


def test_kinship_threshold_and_pairs_outside_data():
    pairs = pd.DataFrame({"ID1": ["1", "3", "9"], "ID2": ["2", "4", "1"], "Kinship": [0.25, 0.05, 0.3]})
    assert len(unrelated_set(pairs, ["1", "2", "3", "4"], kinship_threshold=0.0884)) == 1
    assert len(unrelated_set(pairs, ["1", "2", "3", "4"])) == 2


def test_ancestry_from_pcs_recovers_planted(cohort, reference):
    from bma_genetics.io import assign_ancestry

    truth = cohort["truth"]
    lab = assign_ancestry(reference, "pcs", n_pcs=PCS)
    assert set(lab[lab == "AFR"].index) == truth["afr"]
    assert set(lab[lab != "EUR"].index) == truth["non_european"]
    kept, table = run_sample_qc(reference, ancestry="pcs", steps=["ancestry"])
    assert _flagged(table, "ancestry") == len(truth["non_european"])


def test_required_qc_step_without_field(cohort):
    data = read_ukb(cohort["paths"]["csv"], [31, 22001], progress=False)
    with pytest.raises(InputError, match=r"step 'het_missing' needs field\(s\) \[22027\]"):
        run_sample_qc(data, ancestry=None, steps=["het_missing"])
    kept, table = run_sample_qc(data, ancestry=None)
    assert table.set_index("step").loc["het_missing", "flagged"] is pd.NA


# ---------------------------------------------------------------------------------------------
# participant table
# ---------------------------------------------------------------------------------------------


def test_participant_table_contract(cohort, reference, tmp_path):
    df = cohort["frame"]
    t = build_participant_table(reference, n_pcs=4)
    assert list(t.columns[:11]) == ["eid", "age", "age2", "sex", "age_sex", "bmi", "height", "imaging_centre",
                                    "scan_date", "imaging_batch", "ancestry"]
    assert t["year_of_birth"].tolist() == df["34-0.0"].astype(int).tolist()
    assert [c for c in t.columns if c.startswith("centre_")] == ["centre_11025", "centre_11026", "centre_11027"]
    assert list(t.columns[-4:]) == ["pc1", "pc2", "pc3", "pc4"]
    assert t["eid"].tolist() == df["eid"].tolist()
    np.testing.assert_allclose(t["age2"], t["age"] ** 2)
    np.testing.assert_allclose(t["age_sex"], t["age"] * df["31-0.0"].astype(float))
    assert t["bmi"].isna().sum() == 3
    assert (t[["centre_11025", "centre_11026", "centre_11027"]].sum(axis=1) == 1).all()
    assert str(t["scan_date"].dtype) == "datetime64[ns]" and str(t["sex"].dtype) == "Int64"
    assert (t["ancestry"] == "EUR").sum() == N - len(cohort["truth"]["non_european"])
    p = write_participant_table(t, tmp_path / "participants.parquet")
    back = pd.read_parquet(p)
    pd.testing.assert_frame_equal(back, t)


def test_age_from_dates_when_21003_absent(cohort):
    df = cohort["frame"].drop(columns=["21003-2.0"])
    t = build_participant_table(UKBData.from_frame(df), n_pcs=0)
    true_age = cohort["frame"]["21003-2.0"].astype(float).to_numpy()
    # 21003 is whole years at the visit (by calendar year here); dates give fractional age
    assert np.abs(t["age"].to_numpy() - true_age).max() < 1.01


def test_run_participants_end_to_end(cohort):
    truth = cohort["truth"]
    res = run_participants(cohort["paths"]["rap"], withdrawals=cohort["withdrawals"], kinship=cohort["kinship"],
                           progress=False)
    eids = set(res.participants["eid"])
    assert not eids & truth["withdrawn"]
    assert res.counts["n_withdrawn"] == len(truth["withdrawn"])
    assert not set(res.diagnoses["eid"]) & truth["withdrawn"]
    qc = res.qc_table.set_index("step")
    assert qc.loc["withdrawn", "removed"] == len(truth["withdrawn"])
    assert qc["remaining"].iloc[-1] == len(res.participants)
    assert qc.loc["input", "remaining"] == N


# ---------------------------------------------------------------------------------------------
# CLI and pipeline stage
# ---------------------------------------------------------------------------------------------


def test_cli_participants_and_diagnoses(cohort, tmp_path):
    from bma_genetics.cli import main

    out = tmp_path / "p.parquet"
    rc = main(["ukb", "participants", "--data", str(cohort["paths"]["dta"]), "--withdrawals",
               str(cohort["withdrawals"]), "--kinship", str(cohort["kinship"]), "--out", str(out),
               "--qc-out", str(tmp_path / "qc.tsv")])
    assert rc == 0
    t = pd.read_parquet(out)
    assert not set(t["eid"]) & cohort["truth"]["withdrawn"]
    assert pd.read_csv(tmp_path / "qc.tsv", sep="\t")["step"].iloc[1] == "withdrawn"
    dx_out = tmp_path / "dx.parquet"
    assert main(["ukb", "diagnoses", "--data", str(cohort["paths"]["csv"]), "--out", str(dx_out)]) == 0
    dx = pd.read_parquet(dx_out)
    assert list(dx.columns) == ["eid", "code", "date", "source", "coding"]
    assert main(["ukb", "participants", "--data", str(tmp_path / "nope.csv"), "--out", str(out)]) == 2


def test_stage_writes_tables_and_summary(cohort, tmp_path):
    from bma_genetics.io.stage import run
    from bma_genetics.pipeline.context import RunContext

    cdir = tmp_path / "cohort"
    (cdir / "participants").mkdir(parents=True)
    (cdir / "genotypes").mkdir()
    os.link(cohort["paths"]["csv"], cdir / "participants" / "ukb_showcase.csv")
    os.link(cohort["withdrawals"], cdir / "participants" / "withdrawals.csv")
    os.link(cohort["kinship"], cdir / "genotypes" / "ukb_rel.dat")
    ctx = RunContext(run_dir=tmp_path / "run", cohort=cdir, config={})
    summary = run(ctx, {"n_pcs": 5})
    out = ctx.stage_dir("participants")
    # with a kinship file, also the table before the 'related' step (gwas relatedness: keep_loco)
    assert sorted(summary["tables"]) == ["diagnoses.parquet", "participants.parquet",
                                         "participants_with_relatives.parquet", "sample_qc.tsv"]
    assert summary["n_with_relatives"] == summary["n_after_qc"] + summary["qc_removed"]["related"]
    for t in summary["tables"]:
        assert (out / t).exists()
    assert summary["n_withdrawn"] == len(cohort["truth"]["withdrawn"])
    assert summary["qc_removed"]["sex_mismatch"] >= 1
    assert summary["n_after_qc"] == len(pd.read_parquet(out / "participants.parquet"))
    with pytest.raises(InputError, match="participants: unknown key 'exprot'; did you mean 'export'"):
        run(ctx, {"exprot": "x.csv"})
    with pytest.raises(InputError, match="no such file"):
        run(ctx, {"kinship": "genotypes/missing.dat"})


def test_read_ukb_accepts_path_types(cohort, tmp_path):
    p = cohort["paths"]["csv"]
    assert len(read_ukb(str(p), [31], progress=False)) == len(read_ukb(Path(p), [31], progress=False))
    odd = tmp_path / "x.unknown"
    odd.write_text("eid,31-0.0\n1,0\n")
    with pytest.raises(InputError, match="cannot tell the format"):
        read_ukb(odd)


def test_stata_date_numbers_converted_and_corrupt_value_is_an_error(tmp_path):
    days = pd.Series([20000.0, np.nan, 0.0])  # %td: days since 1960-01-01
    df = pd.DataFrame({"n_eid": [1, 2, 3], "n_31_0_0": [0.0, 1.0, 0.0], "ts_53_2_0": days})
    pyreadstat.write_dta(df, tmp_path / "d.dta", variable_format={"ts_53_2_0": "%td"})
    got = get_field(read_ukb(tmp_path / "d.dta", progress=False), 53, 2)
    assert got.tolist()[0] == pd.Timestamp("1960-01-01") + pd.Timedelta(days=20000)
    assert pd.isna(got.iloc[1]) and got.iloc[2] == pd.Timestamp("1960-01-01")
    df["ts_53_2_0"] = [20000.0, -2147483648.0, 0.0]  # an int32-min sentinel written for a missing date
    pyreadstat.write_dta(df, tmp_path / "bad.dta", variable_format={"ts_53_2_0": "%td"})
    with pytest.raises(InputError, match=r"bad\.dta column 'ts_53_2_0' has an unparseable date value -2147483648"):
        read_ukb(tmp_path / "bad.dta", progress=False)


def test_rap_array_field_in_one_column(cohort):
    """The research platform may export an array field as one column of lists (``p41270``)."""
    df = cohort["frame"].iloc[:30]
    rap = to_rap(df)
    code_cols = [f"p41270_a{a}" for a in range(N_DX)]

    def as_list(row):
        vals = [v for v in row if v]
        return "[" + ",".join(f'"{v}"' for v in vals) + "]" if vals else ""

    lists = rap[code_cols].apply(as_list, axis=1)
    one = rap.drop(columns=code_cols).assign(p41270=lists)
    from bma_genetics.io import read_diagnoses

    a = read_diagnoses(UKBData.from_frame(one, source="rap_lists.csv"))
    # the list packs codes left, so compare (eid, code) pairs, not array positions
    b = read_diagnoses(UKBData.from_frame(df))
    assert sorted(zip(a["eid"], a["code"], strict=True)) == sorted(zip(b["eid"], b["code"], strict=True))


def test_no_genetic_data_and_excess_relatives_steps(cohort):
    df = cohort["frame"].copy()
    no_geno = df["eid"].iloc[[150, 151]].tolist()
    df.loc[[150, 151], "22001-0.0"] = ""
    kept, table = run_sample_qc(UKBData.from_frame(df), ancestry=None,
                                steps=["no_genetic_data", "excess_relatives"])
    t = table.set_index("step")
    assert t.loc["no_genetic_data", "flagged"] == 2 and not set(kept) & set(no_geno)
    assert t.loc["excess_relatives", "removed"] == len(cohort["truth"]["excess"] - set(no_geno))
    assert list(t.index) == ["input", "no_genetic_data", "excess_relatives"]


def test_several_baskets_joined_on_eid(cohort, tmp_path, reference, caplog):
    df = cohort["frame"]
    genetic = [c for c in df.columns if c.startswith("220")]
    first = df[["eid", "31-0.0", "21003-2.0"]]
    second = df[["eid", "31-0.0", *genetic]].iloc[:-3]  # 31 again (taken from the first), 3 fewer people
    first.to_csv(tmp_path / "ukb1.csv", index=False)
    pyreadstat.write_dta(to_stata(second), tmp_path / "ukb2.dta")
    with caplog.at_level(logging.WARNING, logger="bma_genetics"):
        data = read_ukb([tmp_path / "ukb1.csv", tmp_path / "ukb2.dta"], [31, 21003, 22009, 22006], progress=False)
    assert len(data) == N and "3 participant(s) only in earlier file(s)" in caplog.text
    pd.testing.assert_series_equal(get_field(data, 31, 0), get_field(reference, 31, 0))
    pcs = get_field(data, 22009, 0)
    assert pcs.iloc[-3:].isna().all().all() and pcs.iloc[:-3].notna().all().all()
    with pytest.raises(InputError, match=r"has field\(s\) \[50\]"):
        read_ukb([tmp_path / "ukb1.csv", tmp_path / "ukb2.dta"], [31, 50])


def test_user_columns_beside_ukb_columns_are_ignored(tmp_path, cohort):
    df = cohort["frame"][["eid", "31-0.0"]].iloc[:5].assign(pc_1=1.0, my_score=2.0, bmff_spine=0.5)
    df.to_csv(tmp_path / "extra.csv", index=False)
    data = read_ukb(tmp_path / "extra.csv", progress=False)
    assert data.fields() == [31]
    assert read_ukb_header(tmp_path / "extra.csv").other == ["pc_1", "my_score", "bmff_spine"]


def test_csv_parse_errors_encoding_and_bom(tmp_path):
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("eid,31-0.0,21003-2.0\n1,0,60\n2,1\n")
    with pytest.raises(InputError, match=r"ragged\.csv line 3 has 2 fields; the header has 3"):
        read_ukb(ragged, progress=False)
    latin = tmp_path / "latin.csv"
    latin.write_bytes("eid,31-0.0,20001-0.0\n1,0,caf\u00e9\n2,1,na\u00efve\n".encode("latin-1"))
    with pytest.raises(InputError, match="encoding='latin-1'"):
        read_ukb(latin, progress=False)
    data = read_ukb(latin, encoding="latin-1", progress=False)
    assert get_field(data, 20001, 0).tolist() == ["caf\u00e9", "na\u00efve"]
    bom = tmp_path / "bom.csv"
    bom.write_bytes("\ufeffeid,31-0.0\n1,0\n2,1\n".encode())
    assert read_ukb(bom, progress=False).eids.tolist() == ["1", "2"]


def test_package_exports_match_the_api():
    import importlib

    import bma_genetics.io as io
    import bma_genetics.io.api as api

    # The UK Biobank layer through io.api, each group of stage tables through its own module.
    grouped = [name for names in io._GROUPS.values() for name in names]
    assert sorted(io.__all__) == sorted([*api.__all__, *grouped])
    assert len(set(grouped)) == len(grouped) and not set(grouped) & set(api.__all__)
    assert all(getattr(io, name) is getattr(api, name) for name in api.__all__)
    for module, names in io._GROUPS.items():
        mod = importlib.import_module(module)
        assert all(getattr(io, name) is getattr(mod, name) for name in names), module
    with pytest.raises(AttributeError):
        io.not_a_function  # noqa: B018

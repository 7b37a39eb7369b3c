"""The io contracts: one reader and one writer per table between stages, each checking its schema.

For every contract: a round trip keeps the table, and the reader refuses a missing column, a
wrong dtype and a wrong format version, naming the file and the column.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bma_genetics.errors import InputError
from bma_genetics.io import (
    normalise_icd10,
    read_bmff_provenance,
    read_bmff_table,
    read_diagnosis_table,
    read_participant_table,
    read_withdrawals,
    write_bmff_table,
    write_diagnoses,
    write_participant_table,
)
from bma_genetics.io._schema import METADATA_KEY, read_stamp


def participants() -> pd.DataFrame:
    return pd.DataFrame({
        "eid": ["1000001", "1000002", "1000003"],
        "age": [61.5, 70.0, 55.25],
        "sex": pd.array([0, 1, 1], dtype="Int64"),
        "bmi": [24.0, np.nan, 31.2],
        "scan_date": pd.to_datetime(["2016-01-02", "2017-05-06", "2018-07-08"]).astype("datetime64[ns]"),
        "ancestry": ["EUR", "EUR", None],
        "pc1": [0.1, -0.2, 0.3],
        "centre_11025": np.array([1, 0, 1], dtype="int8"),
    })


def bmff() -> pd.DataFrame:
    return pd.DataFrame({
        "eid": ["1000001", "1000002"],
        "bmff_femoral_head": [0.85, 0.9],
        "bmff_spine": [0.45, np.nan],
        "bmff_spine_n_voxels": [120, 80],
        "qc_pass": [True, False],
        "error": ["", ""],
        "source": ["a.zip", "b.zip"],
    })


def diagnoses() -> pd.DataFrame:
    return pd.DataFrame({
        "eid": ["1000001", "1000001", "1000003"],
        "code": ["M81.0", "E11.9", "I10"],
        "date": pd.to_datetime(["2010-01-01", None, "2012-03-04"]).astype("datetime64[ns]"),
        "source": ["41270", "41270", "40006"],
    })


# name -> (example table, writer, reader, a required column besides eid, a typed column)
CONTRACTS = {
    "participants": (participants, write_participant_table, read_participant_table, "age", "age"),
    "bmff": (bmff, write_bmff_table, read_bmff_table, "eid", "bmff_femoral_head"),
    "diagnoses": (diagnoses, write_diagnoses, read_diagnosis_table, "code", "code"),
}


@pytest.mark.parametrize("name", CONTRACTS)
def test_round_trip_keeps_the_table_and_stamps_the_version(tmp_path, name):
    make, write, read, _, _ = CONTRACTS[name]
    table = make()
    path = write(table, tmp_path / f"{name}.parquet")
    assert read_stamp(path) == {"table": name, "version": 1}
    back = read(path)
    pd.testing.assert_frame_equal(back[table.columns.tolist()], table, check_dtype=True)
    # A text copy (as a user would make it) reads to the same values.
    text = write(table, tmp_path / f"{name}.tsv")
    again = read(text)
    assert again["eid"].tolist() == table["eid"].tolist()
    assert list(again.columns[: len(table.columns)]) == list(table.columns)


@pytest.mark.parametrize("name", CONTRACTS)
def test_reader_refuses_a_missing_column_naming_file_and_column(tmp_path, name):
    make, _, read, column, _ = CONTRACTS[name]
    for missing in ("eid", column):
        path = tmp_path / f"{name}_no_{missing}.parquet"
        make().drop(columns=[missing]).to_parquet(path, index=False)
        with pytest.raises(InputError, match=rf"{path.name}.*{missing}"):
            read(path)


@pytest.mark.parametrize("name", CONTRACTS)
def test_reader_refuses_a_wrong_dtype_naming_file_and_column(tmp_path, name):
    make, _, read, _, column = CONTRACTS[name]
    table = make()
    table[column] = [1.5] * len(table) if name == "diagnoses" else ["high"] * len(table)
    path = tmp_path / f"{name}_bad.parquet"
    table.to_parquet(path, index=False)
    # text in a numeric column names the row and the value; other wrong dtypes name the dtype
    expected = "has dtype" if name == "diagnoses" else "row 1: 'high' is not a number"
    with pytest.raises(InputError, match=rf"{path.name} column '{column}' {expected}"):
        read(path)


@pytest.mark.parametrize("name", CONTRACTS)
def test_reader_refuses_another_version_or_another_table(tmp_path, name):
    make, write, read, _, _ = CONTRACTS[name]
    path = write(make(), tmp_path / f"{name}.parquet")
    table = pq.read_table(path)
    for stamp, message in (({"table": name, "version": 99}, "format version 99"),
                           ({"table": "other", "version": 1}, "stamped as a 'other' table")):
        meta = {**table.schema.metadata, METADATA_KEY: json.dumps(stamp).encode()}
        bad = tmp_path / f"{name}_{stamp['table']}_{stamp['version']}.parquet"
        pq.write_table(table.replace_schema_metadata(meta), bad)
        with pytest.raises(InputError, match=rf"{bad.name}.*{message}"):
            read(bad)


@pytest.mark.parametrize("name", CONTRACTS)
def test_writer_refuses_a_bad_table(tmp_path, name):
    make, write, _, column, typed = CONTRACTS[name]
    with pytest.raises(InputError, match=column):
        write(make().drop(columns=[column]), tmp_path / "x.parquet")
    dup = make()
    dup["eid"] = dup["eid"].iloc[0]
    if name != "diagnoses":  # one row per participant; diagnoses are long
        with pytest.raises(InputError, match="eid"):
            write(dup, tmp_path / "y.parquet")
    with pytest.raises(InputError, match=typed):
        write(make().assign(**{typed: [1.5] * len(make())} if name == "diagnoses" else {typed: "x"}),
              tmp_path / "z.parquet")
    assert not any(tmp_path.iterdir())


def test_participant_table_required_columns_and_duplicates(tmp_path):
    path = tmp_path / "p.tsv"
    participants().drop(columns=["sex"]).to_csv(path, sep="\t", index=False)
    with pytest.raises(InputError, match=r"p.tsv lacks column\(s\) \['sex'\]"):
        read_participant_table(path)
    assert "sex" not in read_participant_table(path, required=()).columns
    # a row repeated whole is kept once; the same eid with other values is an error naming both rows
    same = pd.concat([participants(), participants().iloc[:1]])
    assert len(read_participant_table(same)) == len(participants())
    clash = pd.concat([participants(), participants().iloc[:1].assign(age=99.0)])
    with pytest.raises(InputError, match=r"column 'eid': row 1 and row 4 hold the same eid with different values"):
        read_participant_table(clash)
    with pytest.raises(InputError, match="no such file"):
        read_participant_table(tmp_path / "missing.parquet")
    # Integer eids (a user's own table) are read as strings.
    ints = participants().assign(eid=[1, 2, 3])
    assert read_participant_table(ints)["eid"].tolist() == ["1", "2", "3"]


def test_bmff_table_needs_a_bmff_column_and_keeps_its_provenance(tmp_path):
    with pytest.raises(InputError, match="no column matching"):
        read_bmff_table(bmff()[["eid", "qc_pass"]])
    prov = {"table": "bmff.parquet", "model": {"sha256": "abc"}, "n_qc_pass": 1}
    path = write_bmff_table(bmff(), tmp_path / "bmff.parquet", provenance=prov)
    assert (tmp_path / "bmff.provenance.json").exists()
    assert read_bmff_provenance(path) == prov
    assert read_bmff_provenance(tmp_path / "bmff.provenance.json") == prov
    with pytest.raises(InputError, match="no provenance file"):
        read_bmff_provenance(tmp_path / "other.parquet")
    (tmp_path / "bad.provenance.json").write_text("[1, 2]")
    with pytest.raises(InputError, match="JSON object"):
        read_bmff_provenance(tmp_path / "bad.parquet")


def test_diagnosis_table_from_text_parses_dates_and_refuses_an_export(tmp_path):
    path = tmp_path / "dx.csv"
    path.write_text("eid,code,date\n1,M81.0,2010-01-02\n2,I10,\n3,,2011-01-01\n")
    dx = read_diagnosis_table(path)
    assert dx.columns[:4].tolist() == ["eid", "code", "date", "source"]
    assert dx["eid"].tolist() == ["1", "2"]  # the row without a code is dropped
    assert dx["date"].dtype == "datetime64[ns]" and pd.isna(dx["date"].iloc[1])
    bad = tmp_path / "bad_dates.csv"
    bad.write_text("eid,code,date\n1,M81.0,someday\n")
    with pytest.raises(InputError, match=r"bad_dates.csv column 'date'.*someday"):
        read_diagnosis_table(bad)
    export = tmp_path / "ukb.csv"
    export.write_text("eid,41270-0.0,41280-0.0\n1,M810,2010-01-01\n")
    with pytest.raises(InputError, match="UK Biobank export"):
        read_diagnosis_table(export)


def test_withdrawals_one_reader(tmp_path):
    path = tmp_path / "w.csv"
    path.write_text("1000001\n\n5\n")
    assert read_withdrawals(path) == {"1000001", "5"}
    path.write_text("1000001\n-5\n")  # a negative id is not a participant (issue 14)
    with pytest.raises(InputError, match=r"w.csv line 2 is '-5'"):
        read_withdrawals(path)
    path.write_text("1000001\nabc\n")
    with pytest.raises(InputError, match=r"w.csv line 2 is 'abc'"):
        read_withdrawals(path)


def test_normalise_icd10_keep_mode_for_reference_maps():
    codes = pd.Series([" m81.0", "A00-A09", None, "I10", "E119"])
    assert normalise_icd10(codes, dotted=False, errors="keep").tolist()[:2] == ["M810", "A00-A09"]
    assert normalise_icd10(codes, errors="keep").tolist()[3:] == ["I10", "E11.9"]
    with pytest.raises(InputError, match="not an ICD-10 code"):
        normalise_icd10(codes)
    with pytest.raises(InputError, match="errors"):
        normalise_icd10(codes, errors="ignore")


def test_only_io_reads_the_contracts():
    import bma_genetics.gwas.api as gwas_api
    import bma_genetics.gwas.inputs as gwas_inputs
    import bma_genetics.phenotypes as phenotypes
    import bma_genetics.phewas.inputs as phewas_inputs
    import bma_genetics.phewas.mapping as phewas_mapping
    import bma_genetics.resources._build as build

    assert not hasattr(gwas_api, "read_table") and not hasattr(gwas_inputs, "read_withdrawals")
    for name in ("read_table", "read_diagnoses", "diagnoses_from_showcase"):
        assert not hasattr(phewas_inputs, name), name
    assert phewas_mapping.normalise_icd10 is normalise_icd10 and build.normalise_icd10 is normalise_icd10
    assert not hasattr(phenotypes, "read_bmff")
    assert pa is not None

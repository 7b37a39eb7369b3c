"""Diagnosis tables from fields 41270/41280 and 40006/40005, and long (primary-care style) tables."""

from __future__ import annotations

import logging

import pandas as pd
import pytest

from bma_genetics.errors import InputError
from bma_genetics.io import UKBData, normalise_icd10, read_diagnoses, read_long_diagnoses, read_ukb


def export() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "eid": ["11", "12", "13", "14"],
            "34-0.0": ["1950", "1960", "1945", "1970"],
            "52-0.0": ["6", "1", "12", "3"],
            "41270-0.0": ["M810", "I10", "", "E119"],
            "41270-0.1": ["S720", "", "", "m81.0 "],
            "41270-0.2": ["C859", "", "", ""],
            "41280-0.0": ["2010-05-01", "2012-01-31", "", "2015-07-07"],
            "41280-0.1": ["2011-06-02", "", "", "1965-01-01"],  # 14 born 1970: before birth
            "41280-0.2": ["1900-01-01", "", "", ""],  # UK Biobank placeholder date
            "40006-0.0": ["", "C500", "", ""],
            "40005-0.0": ["", "2008-03-03", "", ""],
            "40006-1.0": ["", "D051", "", ""],
            "40005-1.0": ["", "2009-04-04", "", ""],
        }
    )


@pytest.mark.parametrize(
    ("code", "dotted", "undotted"),
    [("M810", "M81.0", "M810"), ("M81.0", "M81.0", "M810"), ("i10", "I10", "I10"),
     (" S7200", "S72.00", "S7200"), ("C85.9 ", "C85.9", "C859")],
)  # fmt: skip
def test_normalise_icd10_both_ways(code, dotted, undotted):
    assert normalise_icd10(code) == dotted
    assert normalise_icd10(code, dotted=False) == undotted
    assert normalise_icd10(normalise_icd10(code), dotted=False) == undotted  # round trip


def test_normalise_icd10_series_and_errors():
    s = pd.Series(["M810", None, "E11.9"])
    out = normalise_icd10(s)
    assert out.iloc[0] == "M81.0" and pd.isna(out.iloc[1]) and out.iloc[2] == "E11.9"
    with pytest.raises(InputError, match="'M8X0' is not an ICD-10 code"):
        normalise_icd10(pd.Series(["M810", "M8X0"]))
    with pytest.raises(InputError, match=r"mixed codings: ICD-10 codes \(e\.g\. 'M810'\) together with ICD-9-like codes \(e\.g\. '7330'\)"):
        normalise_icd10(pd.Series(["M810", "7330"]))


def test_read_diagnoses_pairs_codes_with_dates(caplog):
    data = UKBData.from_frame(export(), source="dx.csv")
    with caplog.at_level(logging.WARNING, logger="bma_genetics"):
        dx = read_diagnoses(data)
    assert list(dx.columns) == ["eid", "code", "date", "source", "coding"]
    assert str(dx["date"].dtype) == "datetime64[ns]"
    hosp = dx[dx["source"] == "41270"]
    # every non-empty 41270 item appears once, with the date of the same array index
    assert len(hosp) == 6
    row = hosp[(hosp["eid"] == "11") & (hosp["code"] == "S72.0")].iloc[0]
    assert row["date"] == pd.Timestamp("2011-06-02")
    assert set(hosp.loc[hosp["eid"] == "14", "code"]) == {"E11.9", "M81.0"}
    cancer = dx[dx["source"] == "40006"]
    assert cancer[["eid", "code"]].values.tolist() == [["12", "C50.0"], ["12", "D05.1"]]
    assert cancer["date"].tolist() == [pd.Timestamp("2008-03-03"), pd.Timestamp("2009-04-04")]
    assert "1 diagnosis date(s) before the participant's birth" in caplog.text
    assert "1 date(s) are UK Biobank placeholder dates" in caplog.text
    undotted = read_diagnoses(data, dotted=False, cancer_registry=False)
    assert set(undotted["code"]) == {"M810", "S720", "C859", "I10", "E119"}


def test_read_diagnoses_from_file_equals_in_memory(tmp_path):
    p = tmp_path / "dx.csv"
    export().to_csv(p, index=False)
    a = read_diagnoses(read_ukb(p, progress=False))
    b = read_diagnoses(UKBData.from_frame(export()))
    pd.testing.assert_frame_equal(a, b)


def test_read_diagnoses_errors(tmp_path):
    df = export()
    df.loc[1, "41270-0.1"] = "4019"  # ICD-9 in an ICD-10 field
    with pytest.raises(InputError, match=r"column '41270-0\.1'.*mixed codings"):
        read_diagnoses(UKBData.from_frame(df, source="mix.csv"))
    df = export()
    df.loc[0, "41280-0.0"] = "2010-13-45"
    df.to_csv(tmp_path / "baddate.csv", index=False)
    with pytest.raises(InputError, match=r"column '41280-0\.0' has an unparseable date '2010-13-45'"):
        read_ukb(tmp_path / "baddate.csv", progress=False)
    with pytest.raises(InputError, match="has no field 41270"):
        read_diagnoses(UKBData.from_frame(export()[["eid", "34-0.0"]]))


def test_read_long_diagnoses_primary_care_style(tmp_path, caplog):
    p = tmp_path / "gp_clinical.txt"
    pd.DataFrame(
        {"eid": ["11", "11", "12", "13"], "event_dt": ["01/02/2003", "15/12/2010", "07/07/1999", "02/02/2002"],
         "code": ["M81.0", "e119", "I10", ""]}
    ).to_csv(p, sep="\t", index=False)
    with caplog.at_level(logging.INFO, logger="bma_genetics"):
        dx = read_long_diagnoses(p, date="event_dt", source="primary_care")
    assert "removed 1 row(s) of gp_clinical.txt (reason: no code)" in caplog.text
    assert dx["code"].tolist() == ["M81.0", "E11.9", "I10"]
    assert dx["date"].tolist() == [pd.Timestamp("2003-02-01"), pd.Timestamp("2010-12-15"), pd.Timestamp("1999-07-07")]
    assert set(dx["source"]) == {"primary_care"}
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"eid": ["1"], "code": ["I10"], "date": ["yesterday"]}).to_csv(bad, index=False)
    with pytest.raises(InputError, match=r"bad\.csv column 'date': unparseable date 'yesterday'"):
        read_long_diagnoses(bad)
    read2 = tmp_path / "read2.parquet"
    pd.DataFrame({"eid": ["1"], "read_2": ["N330."], "event_dt": ["2001-01-01"]}).to_parquet(read2)
    out = read_long_diagnoses(read2, code="read_2", date="event_dt", coding="read2")
    assert out["code"].tolist() == ["N330."]
    with pytest.raises(InputError, match=r"lacks column\(s\) \['diag_icd10'\]"):
        read_long_diagnoses(read2, code="diag_icd10", date=None)


def test_normalise_many_codes_equals_one_by_one():
    codes = pd.Series(["M810", "i10", None, "E11.9", "S7200"] * 1000)
    many = normalise_icd10(codes)
    assert many.iloc[:5].tolist()[:2] == ["M81.0", "I10"] and pd.isna(many.iloc[2])
    one = [normalise_icd10(c) if isinstance(c, str) else None for c in codes.iloc[:5]]
    assert many.iloc[:5].where(many.iloc[:5].notna(), None).tolist() == one
    assert many.iloc[5:10].reset_index(drop=True).equals(many.iloc[:5].reset_index(drop=True))
    with pytest.raises(InputError, match="mixed codings"):
        normalise_icd10(pd.concat([codes, pd.Series(["7330"])], ignore_index=True))

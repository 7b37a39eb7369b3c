"""Case definitions that match the source (issue 13): one 41270 record makes a case, episode
tables need two, records after the censoring date do not count, a code absent from the phecode
map falls back to its 3-character category, ICD-9 (41271) and death-registry (40001/40002)
records count, follow-up ends at death and loss to follow-up, incident cases can be asked for,
and on the tiny cohort the PheWAS case counts equal the simulator's truth of people with a
qualifying record before the end of follow-up."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bma_genetics.phewas import count_phecodes, normalise_phecode_map, run_phewas
from bma_genetics.phewas.api import case_rule

COVS = ["age", "sex", "bmi"]


def _map() -> pd.DataFrame:
    """A phecode 1.2 map in pyPheWAS's layout: M81.0 listed, M80 and M82 only as categories."""
    rows = [
        ("M81.0", "743.11", "Osteoporosis NOS"),
        ("M80", "743.1", "Osteoporosis"),
        ("M82", "743.1", "Osteoporosis"),
        ("E11", "250.2", "Type 2 diabetes"),
    ]
    rows += [(f"A{k:02d}.0", f"{10 + k}", f"Disease {k}") for k in range(10)]
    frame = pd.DataFrame(rows, columns=["ICD10", "PheCode", "Phenotype"])
    frame["Excl. Phecodes"] = ""
    return normalise_phecode_map(frame)


def _people(n: int = 400, seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"eid": [str(2_000_001 + i) for i in range(n)], "age": rng.normal(62, 7, n),
                         "sex": rng.integers(0, 2, n), "bmi": rng.normal(27, 4, n), "x": rng.normal(size=n)})


def _records(eids, code: str, source: str, date: str = "2010-05-01") -> pd.DataFrame:
    return pd.DataFrame({"eid": list(eids), "code": code, "date": pd.Timestamp(date), "source": source})


def _cases(res, phecode: str) -> int:
    table = res.to_frame().set_index("phecode")
    return int(table.loc[phecode, "n_cases"]) if phecode in table.index else 0


def test_one_41270_record_makes_a_case():
    """41270 lists each code once per person: a single M81.0 is osteoporosis (it was no one)."""
    people = _people()
    dx = _records(people["eid"][:60], "M810", "41270")
    res = run_phewas(people, dx, "x", COVS, phecode_map=_map(), min_cases=20, firth="never")
    assert _cases(res, "743.11") == 60
    assert res.summary()["min_phecode_count"] == {"41270": 1}
    # PheTK's rule, asked for explicitly: two records of any source
    counts, _ = count_phecodes(dx, _map())
    assert not case_rule(counts, 2).any() and case_rule(counts, None).all()


def test_episode_tables_need_two_records_and_sources_add_up():
    people = _people()
    eids = people["eid"]
    dx = pd.concat([
        _records(eids[:30], "M810", "hesin_diag"), _records(eids[:30], "M810", "hesin_diag", "2012-01-01"),
        _records(eids[30:60], "M810", "hesin_diag"),                       # one episode: not a case
        _records(eids[60:90], "M810", "hesin_diag"), _records(eids[60:90], "M810", "41270"),  # case
    ], ignore_index=True)
    res = run_phewas(people, dx, "x", COVS, phecode_map=_map(), min_cases=20, firth="never")
    assert _cases(res, "743.11") == 60
    assert res.summary()["min_phecode_count"] == {"41270": 1, "hesin_diag": 2}
    # a table without a source is taken as episode-level (PheTK's habit)
    res = run_phewas(people, dx.drop(columns="source"), "x", COVS, phecode_map=_map(), min_cases=20,
                     firth="never")
    assert _cases(res, "743.11") == 60 and res.summary()["min_phecode_count"] == {"": 2}


def test_records_after_censoring_do_not_count():
    people = _people()
    eids = people["eid"]
    dx = pd.concat([_records(eids[:40], "M810", "41270", "2020-03-01"),
                    _records(eids[40:60], "M810", "41270", "2023-02-01")], ignore_index=True)
    res = run_phewas(people, dx, "x", COVS, phecode_map=_map(), min_cases=20, min_phecode_count=1,
                     firth="never", censoring_date="2022-10-31")
    assert _cases(res, "743.11") == 40
    s = res.summary()
    assert s["censoring_date"] == "2022-10-31" and s["n_records_after_censoring"] == 20
    # a per-person censoring date (a date column of the participant table)
    people["end"] = pd.Timestamp("2022-10-31")
    people.loc[40:49, "end"] = pd.Timestamp("2023-06-30")
    res = run_phewas(people, dx, "x", COVS, phecode_map=_map(), min_cases=20, firth="never",
                     censoring_date="end")
    assert _cases(res, "743.11") == 50
    with pytest.raises(Exception, match="run_phewas/censoring_date"):
        run_phewas(people, dx, "x", COVS, phecode_map=_map(), min_cases=20, censoring_date="not-a-date")


def test_codes_absent_from_the_map_fall_back_to_their_category_and_the_rest_is_reported():
    """M80.0 and M82.1 (absent; their categories M80 and M82 listed) map as createUKBphenome maps
    them; Z99.9 (no category either) is reported as unmapped in the summary."""
    people = _people()
    eids = people["eid"]
    dx = pd.concat([_records(eids[:25], "M800", "41270"), _records(eids[25:50], "M821", "41270"),
                    _records(eids[50:55], "Z999", "41270")], ignore_index=True)
    counts, report = count_phecodes(dx, _map())
    assert set(counts.loc[counts["phecode"] == "743.1", "eid"]) == set(eids[:50])
    assert report["fallback_codes"] == {"M800": "M80", "M821": "M82"}
    assert report["unmapped_code_list"] == ["Z999"] and report["n_unmapped_records"] == 5
    res = run_phewas(people, dx, "x", COVS, phecode_map=_map(), min_cases=20, firth="never")
    assert _cases(res, "743.1") == 50
    s = res.summary()
    assert s["unmapped_icd_codes"] == ["Z999"] and s["fallback_icd_codes"] == {"M800": "M80", "M821": "M82"}


def _icd9_map() -> pd.DataFrame:
    """The same map with ICD-9 rows in PheTK's ICD-CM layout (flag 9 = ICD-9-CM, dotted)."""
    rows = [("M81.0", "743.11", "Osteoporosis NOS", "10"), ("E11", "250.2", "Type 2 diabetes", "10"),
            ("733.0", "743.11", "Osteoporosis NOS", "9"), ("733.00", "743.11", "Osteoporosis NOS", "9"),
            ("250.00", "250.2", "Type 2 diabetes", "9"), ("E800", "999", "Railway accident", "9")]
    rows += [(f"A{k:02d}.0", f"{10 + k}", f"Disease {k}", "10") for k in range(10)]
    return pd.DataFrame(rows, columns=["ICD", "phecode", "phecode_string", "flag"])


def test_icd9_and_death_registry_records_make_cases():
    """A person whose osteoporosis is only in 41271 (ICD-9, UK Biobank's form without the dot)
    or only in the death registry (40001/40002) is a case; ICD-9 E800 (railway accident) never
    meets ICD-10 E80.0 (porphyria); a 5-digit code the map lacks is looked up by its prefix."""
    people = _people()
    eids = people["eid"]
    dx = pd.concat([
        _records(eids[:20], "M810", "41270"),
        _records(eids[20:40], "7330", "41271", "1992-03-01"),      # ICD-9 only
        _records(eids[40:50], "73309", "41271", "1990-01-01"),     # not in the map: 7330
        _records(eids[50:60], "M810", "40001", "2019-06-01"),      # primary cause of death only
        _records(eids[60:70], "M810", "40002", "2019-06-01"),      # secondary cause only
        _records(eids[70:90], "E800", "41271", "1993-01-01"),      # ICD-9 E800 -> 999, not E80.0
    ], ignore_index=True)
    counts, report = count_phecodes(dx, normalise_phecode_map(_icd9_map()))
    assert report["fallback_codes"] == {"ICD9:73309": "ICD9:7330"}
    assert set(counts.loc[counts["phecode"] == "743.11", "eid"]) == set(eids[:70])
    assert set(counts.loc[counts["phecode"] == "999", "eid"]) == set(eids[70:90])
    res = run_phewas(people, dx, "x", COVS, phecode_map=_icd9_map(), min_cases=5, firth="never")
    assert _cases(res, "743.11") == 70
    assert res.summary()["min_phecode_count"] == {"40001": 1, "40002": 1, "41270": 1, "41271": 1}
    # the diagnosis table carries the coding; a table without it reads 41271 as ICD-9
    from bma_genetics.io import read_diagnosis_table

    assert set(read_diagnosis_table(dx).groupby("source")["coding"].first().items()) == {
        ("41270", "icd10"), ("41271", "icd9"), ("40001", "icd10"), ("40002", "icd10")}


def test_read_diagnoses_reads_icd9_and_the_death_registry(tmp_path):
    from bma_genetics.errors import InputError
    from bma_genetics.io import normalise_icd9, read_diagnoses, read_ukb

    path = tmp_path / "ukb.csv"
    path.write_text("eid,41270-0.0,41280-0.0,41271-0.0,41271-0.1,41281-0.0,41281-0.1,40000-0.0,40001-0.0,"
                    "40002-0.0,40002-0.1,191-0.0\n"
                    "1,M810,2010-01-02,7330,E8140,1991-05-06,1993-01-01,2020-02-03,I219,E119,,\n"
                    "2,,,,,,,,,,,2018-04-05\n")
    dx = read_diagnoses(read_ukb(path))
    got = set(zip(dx["code"], dx["source"], dx["coding"], dx["date"].dt.strftime("%Y-%m-%d"), strict=True))
    assert got == {("M81.0", "41270", "icd10", "2010-01-02"), ("733.0", "41271", "icd9", "1991-05-06"),
                   ("E814.0", "41271", "icd9", "1993-01-01"), ("I21.9", "40001", "icd10", "2020-02-03"),
                   ("E11.9", "40002", "icd10", "2020-02-03")}
    assert normalise_icd9("V700") == "V70.0" and normalise_icd9("733.0", dotted=False) == "7330"
    with pytest.raises(InputError, match="not an ICD-9 code.*41270"):
        normalise_icd9("M810")


def test_follow_up_ends_at_death_and_loss_to_follow_up():
    """Records after death (linkage errors) or after the date lost to follow-up (191) do not
    count; on old code they made cases."""
    people = _people()
    eids = people["eid"]
    people["date_of_death"] = pd.NaT
    people["date_lost_to_follow_up"] = pd.NaT
    people.loc[40:59, "date_of_death"] = pd.Timestamp("2015-01-01")
    people.loc[60:79, "date_lost_to_follow_up"] = pd.Timestamp("2016-01-01")
    dx = pd.concat([_records(eids[:40], "M810", "41270", "2014-01-01"),
                    _records(eids[40:60], "M810", "41270", "2016-06-01"),   # after death
                    _records(eids[60:70], "M810", "41270", "2015-06-01"),   # before lost: counts
                    _records(eids[70:80], "M810", "41270", "2017-06-01")],  # after lost
                   ignore_index=True)
    res = run_phewas(people, dx, "x", COVS, phecode_map=_map(), min_cases=5, firth="never",
                     censoring_date="2022-10-31")
    assert _cases(res, "743.11") == 50
    s = res.summary()
    assert s["follow_up_end_columns"] == ["date_of_death", "date_lost_to_follow_up"]
    assert s["n_follow_up_ended_by"] == {"date_of_death": 20, "date_lost_to_follow_up": 20}
    assert s["n_records_after_censoring"] == 30
    # without a censoring date too; and [] turns it off
    assert _cases(run_phewas(people, dx, "x", COVS, phecode_map=_map(), min_cases=5, firth="never"), "743.11") == 50
    off = run_phewas(people, dx, "x", COVS, phecode_map=_map(), min_cases=5, firth="never", follow_up_end_columns=[])
    assert _cases(off, "743.11") == 80
    with pytest.raises(Exception, match="run_phewas/follow_up_end_columns"):
        run_phewas(people, dx, "x", COVS, phecode_map=_map(), min_cases=5, follow_up_end_columns=["died"])


def test_incident_cases_only_after_the_imaging_date():
    people = _people()
    eids = people["eid"]
    people["scan_date"] = pd.Timestamp("2016-01-01")
    dx = pd.concat([_records(eids[:30], "M810", "41270", "2012-01-01"),     # prevalent
                    _records(eids[30:40], "M810", "41270", "2016-01-01"),   # on the day: prevalent
                    _records(eids[40:90], "M810", "41270", "2018-01-01")],  # incident
                   ignore_index=True)
    res = run_phewas(people, dx, "x", COVS, phecode_map=_map(), min_cases=5, firth="never", incident_from="scan_date")
    row = res.to_frame().set_index("phecode").loc["743.11"]
    assert row["n_cases"] == 50 and row["n_controls"] == len(people) - 90
    assert res.summary()["cases"] == "incident after scan_date"
    assert run_phewas(people, dx, "x", COVS, phecode_map=_map(), min_cases=5, firth="never").summary()["cases"] == "all"
    with pytest.raises(Exception, match="run_phewas/incident_from"):
        run_phewas(people, dx, "x", COVS, phecode_map=_map(), min_cases=5, incident_from="visit")
    # the Edinburgh window: diagnoses from half a year before imaging on are incident
    dx = pd.concat([dx, _records(eids[90:100], "M810", "41270", "2015-09-01")], ignore_index=True)
    res = run_phewas(people, dx, "x", COVS, phecode_map=_map(), min_cases=5, firth="never", incident_from="scan_date",
                     incident_offset_days=-182)
    assert _cases(res, "743.11") == 70 and res.summary()["cases"] == "incident after scan_date -182 days"


def test_packaged_phecode_12_map_falls_back_to_the_category():
    from bma_genetics.errors import MissingResourceError
    from bma_genetics.phewas import load_map

    try:
        v12 = load_map("1.2")
    except MissingResourceError as exc:  # pragma: no cover - needs `bma-genetics reference fetch`
        pytest.skip(f"phecode maps not cached: {exc}")
    dx = pd.DataFrame({"eid": ["1", "2"], "code": ["C81.4", "M81.0"], "date": pd.Timestamp("2010-01-01"),
                       "source": "41270"})
    counts, report = count_phecodes(dx, v12)
    # C81.4 is not in the WHO phecode 1.2 map; its category C81 (Hodgkin's disease, 201) is
    assert "201" in set(counts.loc[counts["eid"] == "1", "phecode"])
    assert report["fallback_codes"] == {"C814": "C81"}


# ------------------------------------------------------------------------------ tiny cohort


def _export_records(show: pd.DataFrame, code_field: str, date_field: str | None, source: str) -> pd.DataFrame:
    k = sum(c.startswith(f"{code_field}-0.") for c in show.columns)
    codes = show[[f"{code_field}-0.{j}" for j in range(k)]].replace("", np.nan)
    if date_field is None:  # the death registry: the date of death
        dates = pd.DataFrame({j: show["40000-0.0"] for j in range(k)}).replace("", np.nan)
    else:
        dates = show[[f"{date_field}-0.{j}" for j in range(k)]].replace("", np.nan)
    return pd.DataFrame({"eid": np.repeat(show["eid"].to_numpy(), k), "code": codes.to_numpy().ravel(),
                         "date": pd.to_datetime(dates.to_numpy().ravel()), "source": source}).dropna(subset=["code"])


def test_simulator_lists_each_code_once_with_its_first_date_and_writes_the_truth(tiny_cohort):
    show = pd.read_csv(tiny_cohort / "participants" / "ukb_showcase.csv", dtype=str, keep_default_na=False)
    hes10 = _export_records(show, "41270", "41280", "41270")
    hes9 = _export_records(show, "41271", "41281", "41271")
    death = pd.concat([_export_records(show, "40001", None, "40001"), _export_records(show, "40002", None, "40002")])
    for field in (hes10, hes9):
        assert not field.duplicated(["eid", "code"]).any()  # one entry per distinct code
    assert (hes10["date"] > pd.Timestamp("2022-10-31")).any()  # records past the censoring date exist
    assert (hes9["date"] < pd.Timestamp("1997-04-01")).all() and (hes10["date"] >= pd.Timestamp("1997-04-01")).all()
    assert hes9["code"].str.fullmatch(r"[0-9]{4,5}|V[0-9]{3}").all()  # UK Biobank's ICD-9 form, no dot
    effects = pd.read_csv(tiny_cohort / "truth" / "disease_effects.tsv", sep="\t")
    truth = pd.read_csv(tiny_cohort / "truth" / "disease_cases.tsv", sep="\t", dtype={"eid": str},
                        keep_default_na=False)
    follow = pd.read_csv(tiny_cohort / "truth" / "follow_up.tsv", sep="\t", dtype={"eid": str}).set_index("eid")
    # follow-up ends at the earliest of censoring, death (40000) and loss to follow-up (191)
    end = pd.to_datetime(follow["end_of_follow_up"])
    assert (end <= pd.Timestamp("2022-10-31")).all()
    died = show.set_index("eid")["40000-0.0"].replace("", np.nan).dropna()
    lost = show.set_index("eid")["191-0.0"].replace("", np.nan).dropna()
    assert len(died) > 10 and len(lost) > 5
    assert (end.reindex(died.index) <= pd.to_datetime(died)).all()
    assert (end.reindex(lost.index) <= pd.to_datetime(lost)).all()
    for _, d in effects.iterrows():
        q10 = tuple(p.rstrip("*") for p in d["qualifying_codes"].split(";"))
        q9 = tuple(p.rstrip("*") for p in d["qualifying_icd9_codes"].split(";"))
        hits = pd.concat([hes10[hes10["code"].str.startswith(q10)], death[death["code"].str.startswith(q10)],
                          hes9[hes9["code"].str.startswith(q9)]])
        first = hits.groupby("eid")["date"].min()
        t = truth[truth["disease"] == d["disease"]].set_index("eid")
        assert set(t.index) == set(first.index), d["disease"]
        assert (pd.to_datetime(t["first_date"]) == first.reindex(t.index)).all()
        inside = hits[hits["date"] <= hits["eid"].map(end)].groupby("eid")["date"].min()
        assert set(t.index[t["before_censoring"]]) == set(inside.index), d["disease"]
    # ICD-9-only cases and cases with a death-registry record exist (death-registry-only ones are
    # rare on the tiny preset: test_icd9_and_death_registry_records_make_cases covers them)
    kept = truth[truth["before_censoring"]]
    assert (kept["sources"] == "41271").sum() > 5
    assert kept["sources"].str.contains("4000").sum() >= 3
    assert 0 < kept["incident"].sum() < len(kept)


def test_tiny_cohort_case_counts_equal_the_truth_before_censoring(tiny_cohort):
    """The Done-when of issue 13: osteoporosis, fracture and type 2 diabetes (and ischaemic heart
    disease) cases of the PheWAS
    (participants stage's sample; 41270, 41271 and death-registry diagnoses; default case
    definition; follow-up to the cohort's censoring date, death or loss to follow-up) are
    exactly the people with a qualifying record before the end of follow-up; with
    ``incident_from="scan_date"`` exactly those whose first such record is after imaging."""
    from benchmarks.phewas_vs_phetk import TRUTH_PHECODES, cohort_inputs

    people, dx = cohort_inputs(tiny_cohort)
    effects = pd.read_csv(tiny_cohort / "truth" / "disease_effects.tsv", sep="\t").set_index("disease")
    truth = pd.read_csv(tiny_cohort / "truth" / "disease_cases.tsv", sep="\t", dtype={"eid": str},
                        keep_default_na=False)
    censor = str(effects["censoring_date"].iloc[0])
    sample = set(people.dropna(subset=["bmff_femoral_head", *COVS])["eid"])
    in_sample = truth[truth["eid"].isin(sample)]
    for incident in (None, "scan_date"):
        res = run_phewas(people, dx, "bmff_femoral_head", COVS, phecode_version="X",
                         min_cases=2 if incident else 5, firth="never", censoring_date=censor,
                         incident_from=incident)
        table = res.to_frame().set_index("phecode")
        lost_after = not_hes10 = 0
        for disease in ("osteoporosis", "fracture", "type_2_diabetes", "cardiovascular"):
            phecode = TRUTH_PHECODES[disease]
            assert effects.loc[disease, "phecode"] == phecode
            t = in_sample[in_sample["disease"] == disease]
            want = t["before_censoring"] & (t["incident"] if incident else True)
            # incident cases are few on the tiny cohort (osteoporosis: 4 at seed 1)
            assert table.loc[phecode, "n_cases"] == int(want.sum()) > (0 if incident else 5), (disease, incident)
            lost_after += int((~t["before_censoring"]).sum())
            not_hes10 += int((t["before_censoring"] & ~t["sources"].str.contains("41270")).sum())
        assert lost_after > 0 and not_hes10 > 0  # censoring and the other fields matter on this cohort
        s = res.summary()
        assert s["min_phecode_count"] == {"40001": 1, "40002": 1, "41270": 1, "41271": 1}
        assert s["cases"] == ("all" if incident is None else "incident after scan_date")
        assert s["follow_up_end_columns"] == ["date_of_death", "date_lost_to_follow_up"]

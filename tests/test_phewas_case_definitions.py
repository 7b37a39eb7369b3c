"""Case definitions that match the source (issue 13): one 41270 record makes a case, episode
tables need two, records after the censoring date do not count, a code absent from the phecode
map falls back to its 3-character category, and on the tiny cohort the PheWAS case counts equal
the simulator's truth of people with a qualifying record before censoring."""

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


def test_simulator_lists_each_code_once_with_its_first_date_and_writes_the_truth(tiny_cohort):
    show = pd.read_csv(tiny_cohort / "participants" / "ukb_showcase.csv", dtype=str, keep_default_na=False)
    k = sum(c.startswith("41270-0.") for c in show.columns)
    codes = show[[f"41270-0.{j}" for j in range(k)]].replace("", np.nan)
    dates = show[[f"41280-0.{j}" for j in range(k)]].replace("", np.nan)
    long = pd.DataFrame({"eid": np.repeat(show["eid"].to_numpy(), k), "code": codes.to_numpy().ravel(),
                         "date": pd.to_datetime(dates.to_numpy().ravel())}).dropna(subset=["code"])
    assert not long.duplicated(["eid", "code"]).any()  # one entry per distinct code
    assert (long["date"] > pd.Timestamp("2022-10-31")).any()  # records past the censoring date exist
    effects = pd.read_csv(tiny_cohort / "truth" / "disease_effects.tsv", sep="\t")
    truth = pd.read_csv(tiny_cohort / "truth" / "disease_cases.tsv", sep="\t", dtype={"eid": str})
    for _, d in effects.iterrows():
        prefixes = tuple(p.rstrip("*") for p in d["qualifying_codes"].split(";"))
        hits = long[long["code"].str.startswith(prefixes)]
        first = hits.groupby("eid")["date"].min()
        t = truth[truth["disease"] == d["disease"]].set_index("eid")
        assert set(t.index) == set(first.index), d["disease"]
        assert (pd.to_datetime(t["first_date"]) == first.reindex(t.index)).all()
        assert (t["before_censoring"] == (first.reindex(t.index) <= pd.Timestamp(d["censoring_date"]))).all()


def test_tiny_cohort_case_counts_equal_the_truth_before_censoring(tiny_cohort):
    """The Done-when of issue 13: osteoporosis, fracture and type 2 diabetes cases of the PheWAS
    (participants stage's sample, 41270 diagnoses, default case definition, censored at the
    cohort's censoring date) are exactly the people with a qualifying record before it."""
    from benchmarks.phewas_vs_phetk import TRUTH_PHECODES, cohort_inputs

    people, dx = cohort_inputs(tiny_cohort)
    effects = pd.read_csv(tiny_cohort / "truth" / "disease_effects.tsv", sep="\t").set_index("disease")
    truth = pd.read_csv(tiny_cohort / "truth" / "disease_cases.tsv", sep="\t", dtype={"eid": str})
    censor = str(effects["censoring_date"].iloc[0])
    res = run_phewas(people, dx, "bmff_femoral_head", COVS, phecode_version="X", min_cases=5, firth="never",
                     censoring_date=censor)
    table = res.to_frame().set_index("phecode")
    sample = set(people.dropna(subset=["bmff_femoral_head", *COVS])["eid"])
    in_sample = truth[truth["eid"].isin(sample)]
    lost_after = 0
    for disease in ("osteoporosis", "fracture", "type_2_diabetes"):
        phecode = TRUTH_PHECODES[disease]
        assert effects.loc[disease, "phecode"] == phecode
        t = in_sample[in_sample["disease"] == disease]
        assert table.loc[phecode, "n_cases"] == int(t["before_censoring"].sum()) > 20, disease
        lost_after += int((~t["before_censoring"]).sum())
    assert lost_after > 0  # the censoring date matters on this cohort
    assert res.summary()["min_phecode_count"] == {"41270": 1}

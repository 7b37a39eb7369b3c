"""The survival library: Cox and Kaplan-Meier equal R's survival package, coverage of the true
hazard ratio under the simulator's onset model, time-to-event outcomes against the simulated
truth, and the errors on impossible follow-up."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from bma_genetics.errors import InputError
from bma_genetics.survival import (
    cox_arrays,
    cox_by_group,
    cox_per_sd,
    fit_cox,
    kaplan_meier,
    numbers_at_risk,
    quantile_groups,
    survival_by_score,
    time_to_event,
)


def _r_available() -> bool:
    if shutil.which("Rscript") is None:
        return False
    r = subprocess.run(["Rscript", "-e", "library(survival)"], capture_output=True, text=True)
    return r.returncode == 0


def _rscript(code: str, folder) -> str:
    script = folder / "script.R"
    script.write_text(code + "\n")
    r = subprocess.run(["Rscript", str(script)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout


def _data(n: int = 300, seed: int = 3, ties: bool = False, entry: bool = False) -> pd.DataFrame:
    """Exponential times with a log-HR of 0.5 per x; values written exactly (same data in R)."""
    rng = np.random.default_rng(seed)
    x, c, g = np.round(rng.normal(size=n), 6), np.round(rng.normal(size=n), 6), rng.integers(0, 2, n)
    t = rng.exponential(1 / np.exp(0.5 * x + 0.3 * g))
    cens = rng.uniform(0, 2, n)
    time = np.minimum(t, cens)
    # ties: times on a grid of 0.1 (many tied events); else 6 decimals (no ties)
    time = np.round(time, 1) + 0.1 if ties else np.round(time, 6) + 1e-6
    out = pd.DataFrame({"x": x, "c": c, "g": g, "time": np.round(time, 6), "status": (t < cens).astype(int)})
    if entry:
        e = rng.uniform(0, 0.5, n) * (rng.random(n) < 0.6)
        e = np.round(np.minimum(e, out["time"] - 0.05), 2 if ties else 6)
        out["entry"] = np.maximum(e, 0.0)
    return out


def _rel(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))


_COX_CASES = [(False, False), (True, False), (False, True), (True, True)]


@pytest.fixture(scope="module")
def r_fits(tmp_path_factory):
    """coxph and survfit on every test data set in one R session (R starts once)."""
    if not _r_available():
        pytest.skip("Rscript with the survival package not installed")
    d = tmp_path_factory.mktemp("r")
    code = ["library(survival)"]
    for ties, entry in _COX_CASES:
        name = f"cox_{int(ties)}{int(entry)}"
        _data(ties=ties, entry=entry).to_csv(d / f"{name}.csv", index=False)
        surv = "Surv(entry, time, status)" if entry else "Surv(time, status)"
        code.append(f"""x <- read.csv('{d / name}.csv')
            f <- coxph({surv} ~ x + c + g, x, ties = 'efron', control = coxph.control(eps = 1e-12, iter.max = 100))
            s <- summary(f)$coefficients
            write.table(data.frame(term = rownames(s), beta = s[, 1], se = s[, 3], p = s[, 5],
                                   C = f$concordance['concordance']),
                        '{d / name}.out', quote = FALSE, row.names = FALSE, sep = '\t')""")
    for entry in (False, True):
        name = f"km_{int(entry)}"
        _data(n=250, ties=True, entry=entry).to_csv(d / f"{name}.csv", index=False)
        surv = "Surv(entry, time, status)" if entry else "Surv(time, status)"
        code.append(f"""x <- read.csv('{d / name}.csv'); f <- survfit({surv} ~ g, x)
            g <- rep(sub('g=', '', names(f$strata)), f$strata)
            write.table(data.frame(group = g, time = f$time, n_at_risk = f$n.risk, n_events = f$n.event,
                                   survival = f$surv, se = f$std.err, lower = f$lower, upper = f$upper),
                        '{d / name}.out', quote = FALSE, row.names = FALSE, sep = '\t')""")
    _rscript("\n".join(code), d)
    return {p.stem: pd.read_csv(p, sep="\t", dtype={"group": str, "term": str}) for p in d.glob("*.out")}


@pytest.mark.parametrize("ties,entry", _COX_CASES)
def test_cox_equals_r_coxph(r_fits, ties, entry):
    """HR, SE and Wald P equal survival::coxph (Efron, R's default) to 1e-6 relative, with and
    without tied times and with delayed entry (Surv(entry, time, status))."""
    d = _data(ties=ties, entry=entry)
    assert (d.loc[d["status"] == 1, "time"].duplicated().sum() > 20) == ties
    r = r_fits[f"cox_{int(ties)}{int(entry)}"].set_index("term")
    fit = fit_cox(d, ["x", "c", "g"], duration="time", event="status", entry="entry" if entry else None)
    t = fit.table.set_index("term").loc[r.index]
    assert fit.converged
    assert _rel(t["beta"], r["beta"]) < 1e-6
    assert _rel(t["hazard_ratio"], np.exp(r["beta"])) < 1e-6
    assert _rel(t["standard_error"], r["se"]) < 1e-6
    assert _rel(t["p_value"], r["p"]) < 1e-6
    if not entry:  # R's concordance under (start, stop] weighs pairs by risk set: compared without entry
        assert abs(fit.concordance - r["C"].iloc[0]) < 1e-6


@pytest.mark.parametrize("entry", [False, True])
def test_kaplan_meier_equals_r_survfit(r_fits, entry):
    """Survival, numbers at risk and events, Greenwood std.err and the log interval equal
    survival::survfit by group, with tied times, with and without delayed entry."""
    d = _data(n=250, ties=True, entry=entry)
    r = r_fits[f"km_{int(entry)}"]
    km = kaplan_meier(d, duration="time", event="status", group="g", entry="entry" if entry else None)
    if entry:  # survfit lists entry times too; keep the exit times
        r = r.merge(km[["group", "time"]], on=["group", "time"])
    assert len(km) == len(r)
    assert (km["n_at_risk"].to_numpy() == r["n_at_risk"].to_numpy()).all()
    assert (km["n_events"].to_numpy() == r["n_events"].to_numpy()).all()
    assert _rel(km["survival"], r["survival"]) < 1e-9
    ok = np.isfinite(r["se"].to_numpy()) & (r["se"].to_numpy() > 0)
    assert _rel(km["standard_error"].to_numpy()[ok], r["se"].to_numpy()[ok]) < 1e-9
    assert np.allclose(1 - km["ci_upper"], r["lower"].fillna(0), atol=1e-10)
    assert np.allclose(1 - km["ci_lower"], r["upper"].fillna(1), atol=1e-10)


def test_ph_test_equals_lifelines():
    """The Schoenfeld-residual test (rank transform) equals lifelines' proportional_hazard_test."""
    from lifelines import CoxPHFitter
    from lifelines.statistics import proportional_hazard_test

    d = _data(n=300, seed=11)
    fit = fit_cox(d, ["x", "c", "g"], duration="time", event="status")
    cph = CoxPHFitter().fit(d[["x", "c", "g", "time", "status"]], "time", "status")
    ll = proportional_hazard_test(cph, d[["x", "c", "g", "time", "status"]], time_transform="rank").summary
    mine = fit.ph_test.set_index("term")
    for term in ("x", "c", "g"):
        assert abs(mine.loc[term, "statistic"] - ll.loc[term, "test_statistic"]) < 1e-4 * max(1, ll.loc[term,
                                                                                                      "test_statistic"])
    assert 0 <= mine.loc["GLOBAL", "p_value"] <= 1


def test_ph_test_flags_a_hazard_ratio_that_changes_with_time():
    rng = np.random.default_rng(2)
    n = 3000
    x = rng.integers(0, 2, n).astype(float)
    # x doubles the hazard before t = 0.5 and halves it after: non-proportional
    t0 = rng.exponential(1 / np.where(x == 1, 2.0, 1.0))
    late = t0 > 0.5
    t = np.where(late, 0.5 + rng.exponential(1 / np.where(x == 1, 0.5, 1.0)), t0)
    d = pd.DataFrame({"x": x, "time": np.minimum(t, 3), "status": (t < 3).astype(int)})
    assert fit_cox(d, ["x"], duration="time", event="status").ph_test.iloc[0]["p_value"] < 1e-6
    d2 = _data(n=1000, seed=4)
    assert fit_cox(d2, ["x"], duration="time", event="status").ph_test.iloc[0]["p_value"] > 1e-3


def _simulated_replicates(n_rep: int, n: int, seed: int):
    """Replicates drawn from the simulator's onset model (bma_genetics.simulate.diseases): the
    osteoporosis disease's Gompertz hazard in age, its log-HR per SD of BMFF, its sex and BMI
    effects, mortality after the baseline visit, 2 % lost to follow-up, the censoring date 8
    years on; the baseline rate is solved (the simulator's own calibration) so that 8 % have an
    onset in the follow-up window. Onsets before the visit are prevalent and left out."""
    from bma_genetics.simulate import diseases as sd

    d = next(x for x in sd.DISEASES if x.name == "osteoporosis")
    rng = np.random.default_rng(seed)
    age0 = rng.uniform(45, 80, (n_rep, n))
    z, male, bmi = rng.normal(size=(n_rep, n)), rng.integers(0, 2, (n_rep, n)), rng.normal(26.5, 4, (n_rep, n))
    lin = d.log_hazard_ratio_per_sd * z + d.male * male + d.bmi * (bmi - 26.5)
    rate = sd._calibrate_rate(age0.ravel(), age0.ravel() + 8, lin.ravel(), d.gamma, 0.08)
    onset = sd._gompertz_exit(age0 - 10, rate * np.exp(lin), d.gamma, rng.exponential(size=(n_rep, n)))
    death = sd._gompertz_exit(age0, np.full((n_rep, n), sd.MORTALITY_AT_65 * np.exp(-sd.MORTALITY_GAMMA * 5)),
                              sd.MORTALITY_GAMMA, rng.exponential(size=(n_rep, n)))
    lost = np.where(rng.random((n_rep, n)) < sd.P_LOST, age0 + rng.uniform(0, 8, (n_rep, n)), np.inf)
    end = np.minimum.reduce([age0 + 8, death, lost])
    for k in range(n_rep):
        keep = onset[k] > age0[k]  # prevalent onsets (before the visit) left out
        exit_ = np.minimum(onset[k], end[k])
        yield d.log_hazard_ratio_per_sd, pd.DataFrame({
            "z": z[k], "sex": male[k], "bmi": bmi[k], "age": age0[k], "age_at_entry": age0[k],
            "age_at_exit": exit_, "follow_up_years": exit_ - age0[k], "event": (onset[k] <= end[k]).astype(int),
        })[keep]


@pytest.mark.parametrize("time_scale", ["follow-up", "age"])
def test_true_hazard_ratio_per_sd_inside_the_interval_in_93_percent_of_200_replicates(time_scale):
    """Coverage: under the simulator's onset model the 95 % interval of the HR per SD (the
    exposure as simulated, not standardised in the sample) holds the stated HR in >= 93 % of
    200 replicates (follow-up time adjusted for age, or age as the time scale with delayed
    entry: both are exact proportional-hazards models of a Gompertz hazard in age)."""
    hits, n_events = [], []
    for log_hr, d in _simulated_replicates(200, 1500, seed=17 if time_scale == "age" else 18):
        if time_scale == "age":
            res = cox_arrays(d[["z", "sex", "bmi"]].to_numpy(float), d["age_at_exit"].to_numpy(),
                             d["event"].to_numpy(bool), d["age_at_entry"].to_numpy())
        else:
            res = cox_arrays(d[["z", "sex", "bmi", "age"]].to_numpy(float), d["follow_up_years"].to_numpy(),
                             d["event"].to_numpy(bool))
        se = np.sqrt(res.covariance[0, 0])
        hits.append(abs(res.beta[0] - log_hr) < 1.959964 * se)
        n_events.append(int(d["event"].sum()))
    coverage = float(np.mean(hits))
    assert np.median(n_events) > 50
    assert coverage >= 0.93, coverage


def test_survival_by_score_tertiles_km_and_risk_table():
    rng = np.random.default_rng(5)
    for log_hr, d in _simulated_replicates(1, 6000, seed=3):
        d = d.assign(score=d["z"] + rng.normal(size=len(d)), eid=[str(i) for i in range(len(d))])
        res = survival_by_score(d, "score", ["age", "sex", "bmi"])
        t = res.to_frame()
        assert list(t["model"]) == ["per_sd", "group", "group", "group"]
        assert list(t["group"].iloc[1:]) == ["T1", "T2", "T3"]
        assert 1 < t.loc[0, "hazard_ratio"] < np.exp(log_hr)  # a noisy score attenuates the HR
        assert t["hazard_ratio"].iloc[3] > t["hazard_ratio"].iloc[2] > 1
        assert 0.5 < res.per_sd.concordance < 1
        last = res.km.groupby("group")["cumulative_incidence"].last()
        assert last["T3"] > last["T1"]
        assert res.risk_table.groupby("group")["n_at_risk"].first().sum() == res.per_sd.n
        s = res.summary()
        assert s["n_events"] == int(d["event"].sum()) and "hazard_ratio_T3_vs_T1" in s
        # age as the time scale gives a similar HR
        age = survival_by_score(d, "score", ["sex", "bmi"], duration="age_at_exit", entry="age_at_entry")
        assert abs(np.log(age.to_frame().loc[0, "hazard_ratio"]) - np.log(t.loc[0, "hazard_ratio"])) < 0.05


def test_quantile_groups_and_group_model():
    g = quantile_groups(np.arange(9.0))
    assert list(g) == ["T1"] * 3 + ["T2"] * 3 + ["T3"] * 3
    d = _data(n=300).assign(grp=lambda f: quantile_groups(f["x"]))
    fit = cox_by_group(d, "grp", ["c"], duration="time", event="status")
    assert list(fit.table["term"]) == ["grp[T2]", "grp[T3]", "c"]
    assert fit.extra["reference"] == "T1"
    per_sd = cox_per_sd(d, "x", ["c"], duration="time", event="status")
    raw = fit_cox(d, ["x", "c"], duration="time", event="status")
    assert np.isclose(per_sd.table.loc[0, "beta"], raw.table.loc[0, "beta"] * d["x"].std(ddof=1), rtol=1e-8)


def test_clear_errors_for_impossible_follow_up():
    d = _data(n=50).assign(eid=[f"e{i}" for i in range(50)])
    bad = d.copy()
    bad.loc[3, "time"] = -0.5
    with pytest.raises(InputError, match=r"fit_cox/time: 1 negative follow-up time.*eid e3"):
        fit_cox(bad, ["x"], duration="time", event="status")
    with pytest.raises(InputError, match=r"kaplan_meier/time: 1 negative follow-up"):
        kaplan_meier(bad, duration="time", event="status")
    ent = d.assign(entry=(d["time"] + 1.0) * (d.index == 7))
    with pytest.raises(InputError, match=r"exit at or before entry.*eid e7"):
        fit_cox(ent, ["x"], duration="time", event="status", entry="entry")
    dated = d.assign(event_date=pd.Timestamp("2020-01-01"), end_of_follow_up=pd.Timestamp("2021-01-01"))
    dated.loc[dated.index[dated["status"] == 1][0], "end_of_follow_up"] = pd.Timestamp("2019-06-01")
    with pytest.raises(InputError, match=r"1 event\(s\) dated after the end of follow-up"):
        fit_cox(dated, ["x"], duration="time", event="status")
    with pytest.raises(InputError, match="no events"):
        fit_cox(d.assign(status=0), ["x"], duration="time", event="status")
    with pytest.raises(InputError, match="status.*0/1"):
        fit_cox(d.assign(status=2), ["x"], duration="time", event="status")
    with pytest.raises(InputError, match="numbers_at_risk/times"):
        numbers_at_risk(d, times=[np.nan], duration="time", event="status")


def _people_and_dx():
    people = pd.DataFrame({
        "eid": ["1", "2", "3", "4", "5", "6"],
        "scan_date": pd.to_datetime(["2015-01-01"] * 6),
        "age": [60.0, 61, 62, 63, 64, 65],
        "date_of_death": pd.to_datetime([None, "2018-01-01", None, None, None, None]),
        "date_lost_to_follow_up": pd.to_datetime([None, None, "2017-01-01", None, None, None]),
        "fo_m81": pd.to_datetime([None, None, None, None, None, "2016-03-01"]),
    })
    dx = pd.DataFrame({
        "eid": ["1", "2", "3", "4", "4", "5"],
        "code": ["M81.0", "M80.9", "M81.4", "733.0", "M81.0", "M81.0"],
        "date": pd.to_datetime(["2016-01-01", "2019-01-01", "2018-01-01", "2014-01-01", "2016-01-01",
                                "2014-12-01"]),
        "source": ["41270", "41270", "41270", "41271", "41270", "40001"],
        "coding": ["icd10", "icd10", "icd10", "icd9", "icd10", "icd10"],
    })
    return people, dx


def test_time_to_event_from_every_source_with_censoring_and_window():
    people, dx = _people_and_dx()
    out = time_to_event(people, dx, icd10=["M80", "M81"], icd9=["7330"], first_occurrence=["fo_m81"],
                        censoring_date="2020-01-01").set_index("eid")
    # 1: incident; 2: record after death -> censored at death; 3: record after 191 -> censored;
    # 4: ICD-9 record before baseline -> prevalent; 5: death-registry record before baseline ->
    # prevalent; 6: first-occurrence field only -> incident
    assert out["event"].to_dict() == {"1": 1, "2": 0, "3": 0, "4": 0, "5": 0, "6": 1}
    assert out["prevalent"].to_dict() == {"1": False, "2": False, "3": False, "4": True, "5": True, "6": False}
    assert out.loc["2", "exit_date"] == pd.Timestamp("2018-01-01")
    assert out.loc["3", "exit_date"] == pd.Timestamp("2017-01-01")
    assert np.isclose(out.loc["1", "follow_up_years"], 365 / 365.25)
    assert np.isclose(out.loc["1", "age_at_exit"] - out.loc["1", "age_at_entry"], 365 / 365.25)
    # the Edinburgh window: diagnoses in the half year before the baseline are incident
    win = time_to_event(people, dx, icd10=["M80", "M81"], icd9=["7330"], window_days=-182,
                        censoring_date="2020-01-01").set_index("eid")
    assert win.loc["5", "event"] == 1 and win.loc["4", "prevalent"]
    assert np.isclose(win.loc["1", "follow_up_years"], (365 + 182) / 365.25)
    # the data's end when no censoring date is given
    end = time_to_event(people, dx, icd10=["M81"], censoring_date=None, end_columns=[]).set_index("eid")
    assert end.loc["6", "end_of_follow_up"] == pd.Timestamp("2019-01-01")


def test_time_to_event_refuses_negative_follow_up():
    people, dx = _people_and_dx()
    people.loc[1, "date_of_death"] = pd.Timestamp("2014-01-01")
    with pytest.raises(InputError, match=r"time_to_event/participants: 1 participant\(s\) with negative follow-up"
                                         r".*eid 2"):
        time_to_event(people, dx, icd10=["M81"])
    with pytest.raises(InputError, match="time_to_event/icd10"):
        time_to_event(people, dx)
    with pytest.raises(InputError, match="time_to_event/participants: column 'visit'"):
        time_to_event(people, dx, icd10=["M81"], baseline="visit")


def test_time_to_event_on_the_tiny_cohort_equals_the_truth(tiny_cohort):
    """Incident osteoporosis from 41270, 41271, 40001 and 40002 after the imaging date, censored
    at the cohort's censoring date, death and loss to follow-up: exactly the truth's incident
    cases in follow-up; prevalent exactly those whose first record in follow-up is earlier."""
    from benchmarks.phewas_vs_phetk import cohort_inputs
    from bma_genetics.simulate.diseases import DISEASES

    people, dx = cohort_inputs(tiny_cohort)
    truth = pd.read_csv(tiny_cohort / "truth" / "disease_cases.tsv", sep="\t", dtype={"eid": str},
                        keep_default_na=False)
    effects = pd.read_csv(tiny_cohort / "truth" / "disease_effects.tsv", sep="\t").set_index("disease")
    d = next(x for x in DISEASES if x.name == "osteoporosis")
    out = time_to_event(people, dx, icd10=d.qualifying_prefixes, icd9=d.icd9_qualifying_prefixes,
                        censoring_date=str(effects.loc["osteoporosis", "censoring_date"])).set_index("eid")
    t = truth[(truth["disease"] == "osteoporosis") & truth["eid"].isin(out.index)].set_index("eid")
    inside = t[t["before_censoring"]]
    assert set(out.index[out["event"] == 1]) == set(inside.index[inside["incident"]])
    assert set(out.index[out["prevalent"]]) == set(inside.index[~inside["incident"]])
    assert (~t["before_censoring"]).any()  # censoring matters
    follow = pd.read_csv(tiny_cohort / "truth" / "follow_up.tsv", sep="\t", dtype={"eid": str}).set_index("eid")
    assert (out["end_of_follow_up"] == pd.to_datetime(follow.loc[out.index, "end_of_follow_up"])).all()


def test_disease_genetic_effects_truth(tiny_cohort):
    """truth/disease_genetic_effects.tsv states the HR per SD of each exposure's genetic value
    (log-HR per SD of the exposure x realised SD of its genetic part, near sqrt(h2))."""
    import json

    g = pd.read_csv(tiny_cohort / "truth" / "disease_genetic_effects.tsv", sep="\t").set_index("disease")
    de = pd.read_csv(tiny_cohort / "truth" / "disease_effects.tsv", sep="\t").set_index("disease")
    h2 = json.loads((tiny_cohort / "truth" / "heritability.json").read_text())["h2"]
    assert list(g.index) == list(de.index)
    assert (g["exposure"] == de["exposure"]).all()
    for disease, row in g.iterrows():
        assert np.isclose(row["exposure_h2"], h2[row["exposure"]], atol=1e-6)
        assert abs(row["genetic_sd"] / np.sqrt(row["exposure_h2"]) - 1) < 0.25, disease
        assert np.isclose(row["log_hazard_ratio_per_sd_genetic"],
                          de.loc[disease, "log_hazard_ratio_per_sd"] * row["genetic_sd"], atol=1e-5)
        assert np.isclose(row["hazard_ratio_per_sd_genetic"], np.exp(row["log_hazard_ratio_per_sd_genetic"]),
                          atol=1e-5)


def test_a_perfect_score_recovers_the_stated_genetic_hazard_ratio():
    """Under the onset model, a Cox model on the genetic value alone (z = g + e, var g = h2)
    recovers log_hr * sd(g) per SD of g (the first-order value the truth states) within 3 SE."""
    from bma_genetics.simulate import diseases as sd

    d = next(x for x in sd.DISEASES if x.name == "osteoporosis")
    rng = np.random.default_rng(23)
    n, h2 = 40_000, 0.3
    g = rng.normal(0, np.sqrt(h2), n)
    z = g + rng.normal(0, np.sqrt(1 - h2), n)
    age0 = rng.uniform(45, 80, n)
    lin = d.log_hazard_ratio_per_sd * z
    rate = sd._calibrate_rate(age0, age0 + 8, lin, d.gamma, 0.06)
    onset = sd._gompertz_exit(age0, rate * np.exp(lin), d.gamma, rng.exponential(size=n))
    data = pd.DataFrame({"g": g, "entry": age0, "exit": np.minimum(onset, age0 + 8),
                         "event": (onset <= age0 + 8).astype(int)})
    fit = cox_per_sd(data, "g", duration="exit", event="event", entry="entry")
    want = d.log_hazard_ratio_per_sd * g.std(ddof=1)
    r = fit.row("g")
    assert abs(r["beta"] - want) < 3 * r["standard_error"], (r["beta"], want)


def test_survival_tables_round_trip_through_io(tmp_path):
    from bma_genetics.io import read_survival_results, write_survival_results

    rng = np.random.default_rng(5)
    for _, d in _simulated_replicates(1, 3000, seed=4):
        res = survival_by_score(d.assign(score=d["z"] + rng.normal(size=len(d))), "score")
        for table, frame in (("hazard_ratios", res.to_frame()), ("cumulative_incidence", res.km),
                             ("risk_table", res.risk_table)):
            for suffix in ("tsv", "parquet"):
                path = write_survival_results(frame.assign(outcome="osteoporosis"), tmp_path / f"{table}.{suffix}",
                                              table=table)
                back = read_survival_results(path, table=table)
                assert len(back) == len(frame) and (back["outcome"] == "osteoporosis").all()
                assert np.allclose(back.select_dtypes("number").to_numpy(dtype=float),
                                   frame.assign(outcome="x").select_dtypes("number").to_numpy(dtype=float),
                                   equal_nan=True)
        with pytest.raises(InputError, match="write_survival_results.*hazard_ratio"):
            write_survival_results(res.to_frame().drop(columns="hazard_ratio"), tmp_path / "x.tsv")
        with pytest.raises(InputError, match="read_survival_results/table"):
            read_survival_results(tmp_path / "hazard_ratios.tsv", table="forest")


def test_separation_is_reported_not_estimated():
    """All events in one group: the likelihood rises towards an infinite HR; the fit says it did
    not converge and gives no estimate (R's coxph warns and prints a huge coefficient)."""
    rng = np.random.default_rng(1)
    n = 200
    g = rng.integers(0, 2, n)
    d = pd.DataFrame({"g": g, "c": rng.normal(size=n), "t": rng.exponential(1, n),
                      "e": ((g == 1) & (rng.random(n) < 0.5)).astype(int)})
    fit = fit_cox(d, ["g", "c"], duration="t", event="e")
    assert not fit.converged and fit.table["beta"].isna().all() and fit.ph_test["p_value"].isna().all()
    assert fit.ph_test.set_index("term").loc["GLOBAL", "df"] == 2


def test_separation_is_judged_per_sd_not_per_unit():
    """A covariate on a 0-1 fraction scale (SD 0.01) with a log-HR of 0.25 per SD has beta 25 per
    unit: the fit converges and equals the fit on the covariate per SD (beta scaled by the SD)."""
    rng = np.random.default_rng(11)
    n = 2000
    z = rng.normal(size=n)
    fat = 0.3 + 0.01 * z
    t = rng.exponential(1 / np.exp(0.25 * z))
    cens = rng.uniform(0, 2, n)
    d = pd.DataFrame({"fat": fat, "z": z, "t": np.minimum(t, cens), "e": (t < cens).astype(int)})
    fit = fit_cox(d, ["fat"], duration="t", event="e")
    assert fit.converged
    beta = fit.table.loc[0, "beta"]
    assert 15 < beta < 40 and np.isfinite(fit.table.loc[0, "standard_error"])
    per_sd = fit_cox(d.assign(fat=(d["fat"] - 0.3) / 0.01), ["fat"], duration="t", event="e")
    assert np.isclose(beta * 0.01, per_sd.table.loc[0, "beta"], rtol=1e-6)


def test_a_group_without_events_is_a_clear_error_and_non_convergence_is_logged(caplog):
    rng = np.random.default_rng(2)
    n = 300
    grp = np.repeat(["T1", "T2", "T3"], n // 3)
    e = ((grp != "T2") & (rng.random(n) < 0.4)).astype(int)
    d = pd.DataFrame({"grp": grp, "c": rng.normal(size=n), "t": rng.exponential(1, n), "e": e})
    with pytest.raises(InputError, match=r"cox_by_group/data: group\(s\) \['T2'\] of column 'grp' have no events"
                                         r".*T1: \d+ of 100, T2: 0 of 100, T3: \d+ of 100"):
        cox_by_group(d, "grp", ["c"], duration="t", event="e")
    # survival_by_score refuses it the same way (no silent NaN hazard ratios for T2 and T3)
    with pytest.raises(InputError, match="have no events"):
        survival_by_score(d.assign(score=np.arange(n, dtype=float)), "score", ["c"], duration="t", event="e")
    # a fit that does not converge names its term(s) in a warning
    d2 = d.assign(g=(grp != "T2").astype(float))
    with caplog.at_level("WARNING", logger="bma_genetics.survival.cox"):
        fit = fit_cox(d2, ["g", "c"], duration="t", event="e")
    assert not fit.converged and fit.table["beta"].isna().all()
    assert any("did not converge" in r.getMessage() and "['g']" in r.getMessage() for r in caplog.records)


def test_km_and_risk_table_name_a_missing_group_column():
    d = _data(n=50)
    with pytest.raises(InputError, match=r"kaplan_meier/group: column 'grp' not in the table"):
        kaplan_meier(d, duration="time", event="status", group="grp")
    with pytest.raises(InputError, match=r"numbers_at_risk/group: column 'grp' not in the table"):
        numbers_at_risk(d, times=[0.5], duration="time", event="status", group="grp")


def test_numbers_at_risk_use_the_km_risk_set_with_delayed_entry_at_a_tied_time():
    """Someone entering at t is not at risk at t (entry < t <= exit), as in KM and Cox."""
    d = pd.DataFrame({"entry": [0.0, 0.0, 1.0, 1.0, 0.5], "exit": [1.0, 2.0, 2.0, 3.0, 1.0],
                      "ev": [1, 0, 1, 0, 0]})
    km = kaplan_meier(d, duration="exit", event="ev", entry="entry")
    risk = numbers_at_risk(d, times=km["time"], duration="exit", event="ev", entry="entry")
    assert list(km.loc[km["time"] == 1.0, "n_at_risk"]) == [3]  # the two entering at 1.0 are not at risk
    assert list(risk["n_at_risk"]) == list(km["n_at_risk"])


def test_time_to_event_placeholder_dates_make_prevalent_cases_of_unknown_date():
    """UK Biobank placeholder dates (io.diagnoses.SPECIAL_DATES) are cases with an unknown date:
    prevalent (out of incident analyses), never non-cases (2037-07-07 after the end of follow-up)
    nor cases dated 1900."""
    people, dx = _people_and_dx()
    extra = pd.DataFrame({
        "eid": ["2", "3", "6"], "code": ["M81.0", "M81.0", "M80.0"],
        "date": pd.to_datetime(["2037-07-07", "1900-01-01", "1902-02-02"]),
        "source": ["41270"] * 3, "coding": ["icd10"] * 3,
    })
    people.loc[0, "fo_m81"] = pd.Timestamp("1903-03-03")
    out = time_to_event(people, pd.concat([dx, extra], ignore_index=True), icd10=["M80", "M81"], icd9=["7330"],
                        first_occurrence=["fo_m81"], censoring_date="2020-01-01").set_index("eid")
    # 1 (first-occurrence 1903-03-03), 2 (2037-07-07), 3 (1900-01-01), 6 (1902-02-02): unknown date
    assert out["prevalent"].to_dict() == {"1": True, "2": True, "3": True, "4": True, "5": True, "6": True}
    assert out["event"].sum() == 0
    assert pd.isna(out.loc["3", "first_date"]) and pd.isna(out.loc["2", "first_date"])

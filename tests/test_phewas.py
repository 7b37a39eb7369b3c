"""PheWAS: mapping, cases/controls, batched logistic vs statsmodels, Firth vs scipy, calibration,
recovery, bad input, CLI and figures. Small hand-made maps and seeded data (seconds)."""

from __future__ import annotations

import json
import logging
import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import optimize

from bma_genetics.errors import InputError
from bma_genetics.phewas import (
    add_multiple_testing,
    count_phecodes,
    load_map,
    normalise_phecode_map,
    rollup,
    run_phewas,
    suppress_small_counts,
    type1_error,
)
from bma_genetics.phewas.mapping import expand_exclusions, parent_phecodes, phecode_meta
from bma_genetics.phewas.models import (
    firth_loglik,
    firth_test,
    firth_test_batch,
    fit_firth,
    fit_logistic_batch,
)
from bma_genetics.phewas.simulate import simulate_phewas_inputs

COVS = ["age", "sex", "bmi", "pc1"]


def _x_map(n_groups: int = 40) -> pd.DataFrame:
    """A phecodeX-like map in PheTK's layout: dotted ICD codes, parents listed, two sex-limited."""
    rows = []
    for k in range(n_groups):
        parent, child = f"TT_{100 + k}", f"TT_{100 + k}.1"
        sex = "Female" if k == 3 else "Male" if k == 4 else "Both"
        cat = f"Category {k % 5}"
        for icd, codes in ((f"A{k:02d}.0", (parent, child)), (f"A{k:02d}.1", (parent,))):
            for code in codes:
                rows.append({"phecode": code, "ICD": icd, "flag": 10, "phecode_string": f"Disease {code}",
                             "phecode_category": cat, "sex": sex})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def xmap() -> pd.DataFrame:
    return normalise_phecode_map(_x_map())


@pytest.fixture(scope="module")
def data(xmap):
    effects = {"A000": 0.6, "A010": -0.5, "A020": 0.4}
    return simulate_phewas_inputs(xmap, n=2500, n_codes=60, effects=effects, seed=11)


# ------------------------------------------------------------------------------------ mapping


def test_normalise_map_accepts_phetk_layout_and_strips_dots(xmap):
    assert set(["icd10", "phecode", "phecode_string", "category", "sex"]) <= set(xmap.columns)
    assert "A000" in set(xmap["icd10"]) and not xmap["icd10"].str.contains(".", regex=False).any()
    assert set(xmap.loc[xmap.icd10 == "A000", "phecode"]) == {"TT_100", "TT_100.1"}
    with pytest.raises(InputError, match="phecode_map.*lacks column"):
        normalise_phecode_map(pd.DataFrame({"foo": ["A00"]}))


def test_rollup_adds_ancestors_and_describes_missing_parents():
    assert parent_phecodes("743.11") == ["743.1", "743"]
    assert parent_phecodes("MS_726.1") == ["MS_726"]
    m = normalise_phecode_map(pd.DataFrame({
        "icd10": ["E110", "E100", "M810"], "phecode": ["250.2", "250.1", "743.11"],
        "phecode_string": ["Type 2 diabetes", "Type 1 diabetes", "Osteoporosis NOS"],
        "category": ["endocrine", "endocrine", "musculoskeletal"], "sex": ["Both"] * 3,
        "exclude_range": ["249-250.99", "249-250.99", "743-744.99"],
    }))
    r = rollup(m)
    assert set(r.loc[r.icd10 == "E110", "phecode"]) == {"250.2", "250"}
    assert set(r.loc[r.icd10 == "M810", "phecode"]) == {"743.11", "743.1", "743"}
    meta = phecode_meta(r).set_index("phecode")
    assert meta.at["250", "phecode_string"] == "group: Type 1 diabetes; Type 2 diabetes"
    assert rollup(r).shape == r.shape  # idempotent


def test_exclusion_ranges_expand_numeric_intervals():
    meta = pd.DataFrame({"phecode": ["250.2", "401"], "phecode_string": ["a", "b"], "category": "c",
                         "sex": "Both", "exclude_range": ["249-250.99", "401-405,286.2"]})
    pool = ["249", "250", "250.1", "250.2", "251", "401", "404.1", "405.9", "406", "286.2", "286.3"]
    ex = expand_exclusions(meta, pool)
    assert ex["250.2"] == {"249", "250", "250.1"}
    assert ex["401"] == {"404.1", "405.9", "286.2"}


def test_count_phecodes_counts_records_and_reports_unknown_codes(xmap, caplog):
    dx = pd.DataFrame({"eid": ["1", "1", "1", "2", "2"], "code": ["A000", "A001", "a00.0", "ZZZ9", "QQ1"],
                       "date": pd.to_datetime(["2010-01-01", "2011-01-01", "2009-05-01", "2012-01-01", "2012-01-01"])})
    with caplog.at_level(logging.WARNING):
        counts, rep = count_phecodes(dx, xmap)
    c = counts.set_index(["eid", "phecode"])
    assert c.loc[("1", "TT_100"), "count"] == 3  # A000 twice (dot/case normalised) + A001
    assert c.loc[("1", "TT_100.1"), "count"] == 2
    assert c.loc[("1", "TT_100"), "first_date"] == pd.Timestamp("2009-05-01")
    assert rep["n_unmapped_records"] == 2 and rep["unmapped_codes"] == {"ZZZ9": 1, "QQ1": 1}
    assert "absent from the phecode map" in caplog.text


# ---------------------------------------------------------------------- cases and controls


def _brute_force_case_control(people, dx, pmap, phecode, min_count, use_exclusion):
    """PheTK's rules written directly with sets, one phecode at a time."""
    meta = phecode_meta(pmap).set_index("phecode")
    codes = dx.assign(icd10=dx["code"].str.replace(".", "", regex=False).str.upper()).merge(
        pmap[["icd10", "phecode"]], on="icd10")
    per = codes.groupby(["eid", "phecode"]).size()
    sex = meta.at[phecode, "sex"]
    pool = people if sex == "Both" else people[people["sex"] == (0 if sex == "Female" else 1)]
    ids = set(pool["eid"])
    cases = {e for (e, p), n in per.items() if p == phecode and n >= min_count} & ids
    excl = {phecode}
    if use_exclusion:
        excl |= expand_exclusions(meta.reset_index(), list(meta.index)).get(phecode, set())
    excluded = {e for (e, p) in per.index if p in excl}
    return len(cases), len(ids - excluded)


def test_case_control_counts_match_brute_force_with_sex_and_exclusions(tmp_path):
    pm = normalise_phecode_map(pd.DataFrame({
        "icd10": ["A00", "A01", "A02", "N40", "C53", "B20"],
        "phecode": ["008.5", "008.51", "008.7", "600", "180.1", "071"],
        "phecode_string": ["a", "b", "c", "prostate", "cervix", "hiv"],
        "category": ["inf", "inf", "inf", "gu", "neo", "inf"],
        "sex": ["Both", "Both", "Both", "Male", "Female", "Both"],
        "exclude_range": ["008-009.99", "008-009.99", "008-009.99", "600-608.99", "180-180.99", "070-071.99"],
    }))
    pm = rollup(pm)
    rng = np.random.default_rng(5)
    n = 600
    people = pd.DataFrame({"eid": [str(i) for i in range(n)], "sex": rng.integers(0, 2, n),
                           "age": rng.normal(60, 5, n), "bmi": rng.normal(27, 3, n),
                           "pc1": rng.normal(size=n), "x": rng.normal(size=n)})
    recs = []
    for code in ["A00", "A01", "A02", "N40", "C53", "B20"]:
        who = rng.choice(n, 120, replace=False)
        reps = rng.integers(1, 3, size=who.size)
        recs += [(str(e), code) for e, r in zip(who, reps, strict=True) for _ in range(r)]
    dx = pd.DataFrame(recs, columns=["eid", "code"]).assign(date=pd.Timestamp("2010-01-01"))
    for use_exclusion in (False, True):
        res = run_phewas(people, dx, "x", COVS, phecode_version="1.2", phecode_map=pm, min_cases=5,
                         min_phecode_count=2, use_exclusion=use_exclusion, firth="never").to_frame()
        assert set(res["phecode"]) == set(pm["phecode"])
        for _, r in res.iterrows():
            want = _brute_force_case_control(people, dx, pm, r["phecode"], 2, use_exclusion)
            assert (r["n_cases"], r["n_controls"]) == want, (r["phecode"], use_exclusion)
    assert set(res.loc[res.phecode == "600", "sex_restriction"]) == {"Male"}


# ------------------------------------------------------------- logistic: equal to statsmodels


def test_batched_logistic_equals_statsmodels_per_phecode():
    rng = np.random.default_rng(2)
    n, k = 3000, 24
    X = np.column_stack([rng.normal(size=(n, 4)), np.ones(n)])
    Y = (rng.random((n, k)) < 0.08 * np.exp(0.3 * X[:, :1])).astype(float)
    M = (rng.random((n, k)) < 0.85).astype(float)
    fit = fit_logistic_batch(X, Y, M)
    assert fit.converged.all() and not fit.separated.any()
    for j in range(k):
        m = M[:, j] > 0
        ref = sm.Logit(Y[m, j], X[m]).fit(disp=False, tol=1e-10)
        # tolerance: both are Newton to |step| < 1e-8; the optima agree to rounding
        np.testing.assert_allclose(fit.beta[j], ref.params, atol=1e-7)
        np.testing.assert_allclose(fit.se[j], ref.bse, atol=1e-7)


def test_run_phewas_matches_statsmodels_including_sex_restricted(xmap, data):
    people, dx, _ = data
    res = run_phewas(people, dx, "bmff", COVS, phecode_map=xmap, min_cases=20, min_phecode_count=1,
                     standardise=False, firth="never").to_frame()
    pm = rollup(xmap)
    checked = 0
    for phecode in ["TT_100", "TT_103", "TT_104.1", *res["phecode"].head(5)]:
        if phecode not in set(res["phecode"]):
            continue
        r = res.set_index("phecode").loc[phecode]
        sex = phecode_meta(pm).set_index("phecode").at[phecode, "sex"]
        pool = people if sex == "Both" else people[people.sex == (0 if sex == "Female" else 1)]
        icds = set(pm.loc[pm.phecode == phecode, "icd10"])
        has = set(dx.loc[dx.code.isin(icds), "eid"])
        y = pool["eid"].isin(has).astype(float).to_numpy()
        cols = ["bmff", "age", "bmi", "pc1"] + (["sex"] if sex == "Both" else [])
        ref = sm.Logit(y, sm.add_constant(pool[cols].to_numpy(float))).fit(disp=False, tol=1e-10)
        assert r["n_cases"] == int(y.sum())
        assert abs(r["beta"] - ref.params[1]) <= 1e-6
        assert abs(r["standard_error"] - ref.bse[1]) <= 1e-6
        assert abs(np.log10(r["p_value"]) - np.log10(ref.pvalues[1])) <= 1e-6
        checked += 1
    assert checked >= 5


# ------------------------------------------------------------------------------------ Firth


def _separated(seed=4, n=120):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    z = rng.normal(size=n)
    y = (x > 0.9).astype(float)  # complete separation on x
    return np.column_stack([x, z, np.ones(n)]), y


def test_firth_equals_direct_penalised_likelihood_on_separated_data():
    X, y = _separated()
    ordinary = fit_logistic_batch(X, y[:, None], np.ones((len(y), 1)))
    assert ordinary.separated[0] and not (ordinary.converged[0] and np.abs(ordinary.beta).max() < 15)
    ours = fit_firth(X, y)
    assert ours.converged
    # Independent: maximise l(b) + 1/2 log|X'WX| written from scratch, by BFGS then Nelder-Mead.

    def negpen(b):
        eta = X @ b
        p = 1 / (1 + np.exp(-eta))
        ll = np.sum(y * eta) - np.sum(np.log1p(np.exp(eta)))
        info = X.T @ (X * (p * (1 - p))[:, None])
        return -(ll + 0.5 * np.log(np.linalg.det(info)))

    start = optimize.minimize(negpen, np.zeros(3), method="BFGS", options={"gtol": 1e-10}).x
    ref = optimize.minimize(negpen, start, method="Nelder-Mead",
                            options={"xatol": 1e-11, "fatol": 1e-14, "maxiter": 20000}).x
    np.testing.assert_allclose(ours.beta, ref, atol=1e-5)  # the brief's tolerance
    assert abs(firth_loglik(X, y, ours.beta) + negpen(ref)) < 1e-8
    # the LRT's restricted fit: coefficient 0 held at 0, penalty from the full design
    restricted = fit_firth(X, y, fixed=0)
    r_start = optimize.minimize(lambda b: negpen(np.r_[0.0, b]), np.zeros(2), method="BFGS",
                                options={"gtol": 1e-10}).x
    r_ref = optimize.minimize(lambda b: negpen(np.r_[0.0, b]), r_start, method="Nelder-Mead",
                              options={"xatol": 1e-11, "fatol": 1e-14, "maxiter": 20000}).x
    assert restricted.beta[0] == 0.0
    np.testing.assert_allclose(restricted.beta[1:], r_ref, atol=1e-5)
    chi2 = 2 * (negpen(np.r_[0.0, r_ref]) - negpen(ref))
    res = firth_test(X, y, 0)
    assert res["neg_log_10_p_value"] == pytest.approx(-np.log10(__import__("scipy").stats.chi2.sf(chi2, 1)), abs=1e-6)
    # the batched Firth gives the same numbers
    batch = firth_test_batch(X, np.column_stack([y, y[::-1]]), np.ones((len(y), 2)), 0)
    assert batch[0]["beta"] == pytest.approx(res["beta"], abs=1e-8)
    assert batch[0]["neg_log_10_p_value"] == pytest.approx(res["neg_log_10_p_value"], abs=1e-8)


def test_firth_lrt_and_auto_fallback(xmap):
    X, y = _separated(seed=9, n=300)
    res = firth_test(X, y, 0)
    assert res["converged"] and res["beta"] > 0 and res["p_value"] < 1e-6
    assert abs(res["beta"] / res["standard_error"]) == pytest.approx(abs(__import__("scipy").stats.norm.isf(res["p_value"] / 2)), rel=1e-6)
    # run_phewas switches to Firth for a separated phecode and for rare ones
    rng = np.random.default_rng(3)
    n = 800
    people = pd.DataFrame({"eid": [str(i) for i in range(n)], "age": rng.normal(60, 5, n),
                           "sex": rng.integers(0, 2, n), "bmi": rng.normal(27, 3, n), "pc1": rng.normal(size=n),
                           "x": rng.normal(size=n)})
    top = people.nlargest(30, "x")["eid"]  # cases only among the highest exposures: separation
    common = people.sample(200, random_state=1)["eid"]
    dx = pd.concat([pd.DataFrame({"eid": top, "code": "A050"}), pd.DataFrame({"eid": common, "code": "A060"})])
    dx["date"] = pd.Timestamp("2010-01-01")
    res = run_phewas(people, dx, "x", COVS, phecode_map=xmap, min_cases=10, min_phecode_count=1,
                     firth_below_cases=20).to_frame().set_index("phecode")
    assert res.at["TT_105", "method"] == "firth" and res.at["TT_105", "converged"]
    assert res.at["TT_106", "method"] == "logit"
    never = run_phewas(people, dx, "x", COVS, phecode_map=xmap, min_cases=10, min_phecode_count=1,
                       firth="never").to_frame().set_index("phecode")
    assert not never.at["TT_105", "converged"]


# ------------------------------------------------------------------ calibration and recovery


def test_null_exposure_is_calibrated_and_true_links_are_recovered(xmap):
    effects = {"A000": 0.5, "A010": -0.5, "A020": 0.4}
    people, dx, truth = simulate_phewas_inputs(xmap, n=4000, n_codes=70, effects=effects, seed=21)
    res = run_phewas(people, dx, ["bmff", "null_exposure"], COVS, phecode_map=xmap, min_cases=20,
                     min_phecode_count=1).to_frame()
    null = res[res.exposure == "null_exposure"]
    t1 = type1_error(null["p_value"], 0.05)
    # ~130 phecodes (children duplicate parents): a binomial 99.9% band around 0.05 is ~[0, 0.12]
    assert 0.0 <= t1 <= 0.12, t1
    assert null["bonferroni"].min() > 0.05
    # Firth (rare phecodes, < 20 cases) is calibrated too: its LRT keeps the full-model penalty
    rare = run_phewas(people, dx, "null_exposure", COVS, phecode_map=xmap, min_cases=5,
                      min_phecode_count=1, firth="always").to_frame()
    t1_firth = type1_error(rare["p_value"], 0.05)
    assert len(rare) >= 70 and 0.0 <= t1_firth <= 0.12, t1_firth
    hits = res[res.exposure == "bmff"].set_index("phecode")
    for code, beta in effects.items():
        phe = f"TT_{100 + int(code[1:3])}.1"
        row = hits.loc[phe]
        assert row["bonferroni"] < 0.05, (phe, row["p_value"])
        # per-SD log OR within 4 SE of the simulated effect (rare disease: OR ~ RR)
        assert abs(row["beta"] - beta) < 4 * row["standard_error"], (phe, row["beta"], beta)


# -------------------------------------------------------------------------- multiple testing


def test_multiple_testing_matches_statsmodels():
    from statsmodels.stats.multitest import multipletests

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"exposure": np.repeat(["a", "b"], 50), "p_value": rng.uniform(size=100) ** 3})
    out = add_multiple_testing(frame)
    for e in ("a", "b"):
        p = frame.loc[frame.exposure == e, "p_value"].to_numpy()
        np.testing.assert_allclose(out.loc[out.exposure == e, "fdr"], multipletests(p, method="fdr_bh")[1], rtol=1e-12)
        np.testing.assert_allclose(out.loc[out.exposure == e, "bonferroni"], multipletests(p, method="bonferroni")[1], rtol=1e-12)


def test_suppression_blanks_small_counts():
    frame = pd.DataFrame({"n_cases": [3, 50], "n_controls": [900, 8]})
    out = suppress_small_counts(frame, 10)
    assert out["n_cases"].isna().tolist() == [True, False]
    assert out["n_controls"].isna().tolist() == [False, True]


# ------------------------------------------------------------------------------- bad input


def test_bad_input_gives_specific_errors_and_counted_warnings(xmap, data, caplog):
    people, dx, _ = data
    with pytest.raises(InputError, match=r"run_phewas/exposures: exposure column\(s\) \['bmff_nope'\]"):
        run_phewas(people, dx, "bmff_nope", COVS, phecode_map=xmap)
    with pytest.raises(InputError, match=r"covariate column\(s\) \['height'\]"):
        run_phewas(people, dx, "bmff", ["age", "height"], phecode_map=xmap)
    with pytest.raises(InputError, match="no cases anywhere"):
        run_phewas(people, dx.assign(code="ZZZ9"), "bmff", COVS, phecode_map=xmap)
    with pytest.raises(InputError, match=r"no phecode has >= 100000 cases"):
        run_phewas(people, dx, "bmff", COVS, phecode_map=xmap, min_cases=100000)
    # sex coded 1/2: the participant table's reader refuses it (its codes are 0/1, field 31)
    with pytest.raises(InputError, match=r"column 'sex' row \d+: 2 is not a valid code \(allowed: 0, 1\)"):
        run_phewas(people.assign(sex=people.sex + 1), dx, "bmff", COVS, phecode_map=xmap, min_cases=20)
    with pytest.raises(InputError, match="phecode_version"):
        run_phewas(people, dx, "bmff", COVS, phecode_map=xmap, phecode_version="2")
    bad = dx.copy()
    bad.loc[:4, "code"] = "XX99"
    bad.loc[5:7, "date"] = pd.Timestamp("1900-01-01")  # before any birth year
    with caplog.at_level(logging.WARNING):
        res = run_phewas(people, bad, "bmff", COVS, phecode_map=xmap, min_cases=20, min_phecode_count=1)
    assert not res.table.attrs  # nothing rides in DataFrame.attrs
    rep = res.report
    assert rep["n_unmapped_records"] == 5 and rep["unmapped_codes"] == {"XX99": 5}
    assert rep["n_records_before_birth"] == 3
    assert "dated before the participant's year of birth" in caplog.text


# ------------------------------------------------------------------------------------ Cox


def test_cox_recovers_simulated_hazard_ratio(xmap):
    rng = np.random.default_rng(8)
    n = 3000
    people = pd.DataFrame({"eid": [str(i) for i in range(n)], "age": rng.normal(60, 5, n),
                           "sex": rng.integers(0, 2, n), "bmi": rng.normal(27, 3, n), "pc1": rng.normal(size=n),
                           "x": rng.normal(size=n), "start": pd.Timestamp("2010-01-01")})
    t = rng.exponential(1 / (0.03 * np.exp(0.5 * people["x"].to_numpy())))  # years, log HR 0.5
    event = t < 10
    dx = pd.DataFrame({"eid": people["eid"][event], "code": "A000",
                       "date": pd.Timestamp("2010-01-01") + pd.to_timedelta(t[event] * 365.25, unit="D")})
    # a prevalent case: diagnosed before follow-up, so left out of this phecode's analysis
    dx = pd.concat([dx, pd.DataFrame({"eid": ["0"], "code": ["A000"], "date": [pd.Timestamp("2005-01-01")]})])
    res = run_phewas(people, dx, "x", COVS, phecode_map=xmap, min_cases=20, min_phecode_count=1,
                     method="cox", cox_start_col="start", censoring_date="2020-01-01").to_frame().set_index("phecode")
    r = res.loc["TT_100.1"]
    assert r["method"] == "cox" and r["converged"]
    assert abs(r["beta"] - 0.5) < 3 * r["standard_error"]
    in_follow_up = dx["date"] <= pd.Timestamp("2020-01-01")
    assert r["n_cases"] == int((in_follow_up & (dx["eid"] != "0") & dx["date"].ge("2010-01-01")).sum())
    assert r["n_cases"] + r["n_controls"] == n - 1  # the prevalent case is out


def _gompertz_cohort(n: int = 4000, seed: int = 9):
    """Onsets Gompertz in age (log-HR 0.4 per x), dated diagnoses, deaths ending follow-up."""
    rng = np.random.default_rng(seed)
    age = rng.uniform(45, 80, n)
    x = rng.normal(size=n)
    scan = pd.Timestamp("2015-01-01") + pd.to_timedelta(rng.integers(0, 1500, n), unit="D")
    people = pd.DataFrame({"eid": [str(i) for i in range(n)], "age": age, "sex": rng.integers(0, 2, n),
                           "bmi": rng.normal(27, 3, n), "pc1": rng.normal(size=n), "x": x, "scan_date": scan})
    gamma, rate = 0.09, 0.004
    # onset age by inverting the Gompertz cumulative hazard from the age at the scan
    a_on = 60 + np.log(np.exp(gamma * (age - 60)) + gamma * rng.exponential(size=n) / (rate * np.exp(0.4 * x))) / gamma
    onset = scan + pd.to_timedelta(np.round((a_on - age) * 365.25), unit="D")
    death = scan + pd.to_timedelta(rng.integers(30, 4000, n), unit="D")
    people["date_of_death"] = death.where(rng.random(n) < 0.3)
    keep = onset <= pd.Timestamp("2024-01-01")
    dx = pd.DataFrame({"eid": people["eid"][keep], "code": "A000", "date": onset[keep]})
    return people, dx


def _cox_table(people, dx, censor, age_scale):
    """The same Cox model fitted directly (bma_genetics.survival.fit_cox) on the cohort."""
    from bma_genetics.survival import fit_cox

    end = people["date_of_death"].where(people["date_of_death"] < censor, censor)
    first = dx.set_index("eid")["date"].reindex(people["eid"]).to_numpy()
    event = ~pd.isna(first) & (first <= end.to_numpy())
    exit_ = np.where(event, first, end.to_numpy())
    t = (pd.to_datetime(exit_) - people["scan_date"]).dt.days.to_numpy() / 365.25
    d = people.assign(x=(people["x"] - people["x"].mean()) / people["x"].std(ddof=1), time=t + people["age"] * age_scale,
                      event=event.astype(int), entry=people["age"])
    d = d[~(~pd.isna(first) & (first < people["scan_date"].to_numpy()))]  # prevalent cases are out
    return fit_cox(d, ["x", *COVS], duration="time", event="event", entry="entry" if age_scale else None)


@pytest.mark.parametrize("time_scale", ["follow_up", "age"])
def test_cox_equals_the_survival_library_censored_at_death_on_both_time_scales(xmap, time_scale):
    """The PheWAS Cox option censors at death (40000) and fits Efron ties (R coxph's default)
    on follow-up time or on age with delayed entry: its estimate equals the survival library's
    fit of the same data, and the true log-HR is recovered."""
    people, dx = _gompertz_cohort()
    censor = pd.Timestamp("2022-10-31")
    res = run_phewas(people, dx, "x", COVS, phecode_map=xmap, min_cases=20, min_phecode_count=1, method="cox",
                     cox_start_col="scan_date", censoring_date="2022-10-31", cox_time_scale=time_scale)
    r = res.to_frame().set_index("phecode").loc["TT_100.1"]
    want = _cox_table(people, dx, censor, 1 if time_scale == "age" else 0).row("x")
    assert abs(r["beta"] - want["beta"]) < 1e-6 * abs(want["beta"])
    assert abs(r["standard_error"] - want["standard_error"]) < 1e-6 * want["standard_error"]
    assert abs(r["beta"] - 0.4) < 3 * r["standard_error"]
    assert res.summary()["n_follow_up_ended_by"]["date_of_death"] > 0


def test_cox_age_time_scale_needs_the_age_column(xmap):
    people, dx = _gompertz_cohort(200)
    with pytest.raises(InputError, match="run_phewas/cox_age_col"):
        run_phewas(people.drop(columns="age"), dx, "x", ["sex"], phecode_map=xmap, min_cases=5, method="cox",
                   cox_start_col="scan_date", censoring_date="2022-10-31", cox_time_scale="age")
    with pytest.raises(InputError, match="run_phewas/cox_time_scale"):
        run_phewas(people, dx, "x", ["sex"], phecode_map=xmap, min_cases=5, method="cox",
                   cox_start_col="scan_date", censoring_date="2022-10-31", cox_time_scale="calendar")


# ------------------------------------------------------------------------- CLI and figures


def test_cli_writes_results_and_figures(tmp_path, xmap, data):
    from bma_genetics.cli import main
    from bma_genetics.io import read_phewas_results

    people, dx, _ = data
    people.to_parquet(tmp_path / "participants.parquet")
    dx.to_parquet(tmp_path / "diagnoses.parquet")
    _x_map().to_csv(tmp_path / "map.csv", index=False)
    out = tmp_path / "out"
    rc = main(["phewas", "--participants", str(tmp_path / "participants.parquet"),
               "--diagnoses", str(tmp_path / "diagnoses.parquet"), "--exposure", "bmff,null_exposure",
               "--covariates", "age,sex,bmi,pc1", "--phecode-version", "X", "--phecode-map",
               str(tmp_path / "map.csv"), "--min-cases", "20", "--min-phecode-count", "1",
               "--suppress-below", "30", "--out", str(out)])
    assert rc == 0
    res = read_phewas_results(out / "phewas_results.tsv")
    assert list(res.columns) == ["exposure", "phecode", "phecode_string", "category", "n_cases",
                                 "n_controls", "beta", "standard_error", "odds_ratio", "ci_lower", "ci_upper",
                                 "p_value", "method", "converged", "neg_log_10_p_value", "bonferroni", "fdr",
                                 "sex_restriction", "reason"]
    assert (res["reason"] == "").all()  # every phecode estimated: no reason, read back as ""
    assert res["n_cases"].isna().any() and (res["n_cases"].dropna() >= 30).all()
    report = json.loads((out / "phewas_report.json").read_text())
    assert report["settings"]["min_cases"] == 20
    for name in ("phewas_manhattan_bmff", "phewas_manhattan_null_exposure", "phewas_forest"):
        png = out / "figures" / f"{name}.png"
        assert png.stat().st_size > 10_000 and (out / "figures" / f"{name}.pdf").exists()
    rc = main(["phewas", "--participants", str(tmp_path / "participants.parquet"), "--diagnoses",
               str(tmp_path / "diagnoses.parquet"), "--exposure", "nope", "--out", str(out),
               "--phecode-map", str(tmp_path / "map.csv")])
    assert rc == 2


def test_figures_render_without_warnings(xmap, data):
    import matplotlib.image as mpimg

    from bma_genetics.plots.forest import plot_forest
    from bma_genetics.plots.phewas import plot_phewas_forest, plot_phewas_manhattan

    people, dx, _ = data
    res = run_phewas(people, dx, ["bmff", "null_exposure"], COVS, phecode_map=xmap, min_cases=20,
                     min_phecode_count=1).to_frame()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = plot_phewas_manhattan(res[res.exposure == "bmff"], title="bmff")
        assert fig.get_size_inches()[0] == pytest.approx(11)
        ax = fig.axes[0]
        markers = {c.get_paths()[0].vertices.round(3).tobytes() for c in ax.collections if len(c.get_offsets())}
        assert len(markers) == 2  # up and down triangles
        assert any(t.get_text().startswith("Disease TT_10") for t in ax.texts)  # top hits labelled
        fig2 = plot_phewas_forest(res, n_top=5)
        assert len(fig2.axes[0].get_yticklabels()) == 5
        fig3 = plot_forest(pd.DataFrame({"label": ["a", "b"], "estimate": [0.1, -0.2], "ci_low": [0, -0.4],
                                         "ci_high": [0.2, 0.0]}), null_value=0, log_scale=False, xlabel="beta")
    import io

    buf = io.BytesIO()
    fig3.savefig(buf, format="png")
    buf.seek(0)
    assert mpimg.imread(buf).std() > 0


def test_packaged_maps_when_cached():
    from bma_genetics.errors import MissingResourceError

    try:
        x = load_map("X")
        v12 = load_map("1.2")
    except MissingResourceError as exc:  # pragma: no cover - needs `bma-genetics reference fetch`
        pytest.skip(f"phecode maps not cached: {exc}")
    assert set(x.loc[x.icd10 == "M810", "phecode"]) >= {"MS_726", "MS_726.1"}
    assert set(v12.loc[v12.icd10 == "M810", "phecode"]) >= {"743.11", "743.1", "743"}
    assert set(v12.loc[v12.icd10 == "E119", "phecode"]) >= {"250.2", "250"}


# ------------------------------------------------------------------- tiny cohort, pipeline


def test_stage_on_tiny_cohort_after_participants_stage(tiny_cohort, tmp_path):
    """The ``phewas`` stage reads the participants stage's files and runs every BMFF site."""
    from bma_genetics.pipeline.runner import run_study

    cfg = {"name": "phewas_tiny", "seed": 1,
           "stages": {"participants": {}, "phewas": {"min_cases": 10, "min_phecode_count": 1}}}
    run_dir = run_study(cfg, cohort=tiny_cohort, out=tmp_path / "run")
    summary = json.loads((run_dir / "phewas" / "summary.json").read_text())
    assert summary["exposures"] == ["bmff_femoral_head", "bmff_total_hip", "bmff_femoral_diaphysis", "bmff_spine"]
    res = pd.read_csv(run_dir / "phewas" / "phewas_results.tsv", sep="\t", dtype={"phecode": str})
    assert summary["n_tests"] == len(res) and len(res) > 200
    assert set(res["method"]) <= {"logit", "firth"} and res["converged"].mean() > 0.95
    # simulated links point the right way on the biggest ones (tiny: ~50-75 cases each)
    truth = pd.read_csv(tiny_cohort / "truth" / "disease_effects.tsv", sep="\t")
    pairs = {"osteoporosis": "MS_726", "type_2_diabetes": "EM_202.2", "cardiovascular": "CV_404"}
    for _, t in truth[truth["disease"].isin(pairs)].iterrows():
        row = res[(res.exposure == t["exposure"]) & (res.phecode == pairs[t["disease"]])]
        assert len(row) == 1 and row["beta"].iloc[0] > -2 * row["standard_error"].iloc[0], t["disease"]
    for name in summary["figures"]:
        assert (run_dir / "phewas" / name).stat().st_size > 10_000


def test_without_a_sex_column_restricted_phecodes_use_everyone(xmap, data, caplog):
    people, dx, _ = data
    extra = people.sample(150, random_state=2)["eid"]  # A030 -> TT_103, a Female-only phecode
    dx = pd.concat([dx, pd.DataFrame({"eid": extra, "code": "A030", "date": pd.Timestamp("2012-01-01")})])
    with caplog.at_level(logging.WARNING):
        res = run_phewas(people.drop(columns=["sex"]), dx, "bmff", ["age", "bmi"], phecode_map=xmap,
                         min_cases=20, min_phecode_count=1, firth="never").to_frame()
    assert "no 'sex' column" in caplog.text
    both = run_phewas(people, dx, "bmff", ["age", "bmi"], phecode_map=xmap, min_cases=20,
                      min_phecode_count=1, firth="never").to_frame().set_index("phecode")
    r = res.set_index("phecode")
    female = both.index[both["sex_restriction"] == "Female"]
    assert len(female) and (r.loc[female, "n_cases"] >= both.loc[female, "n_cases"]).all()
    assert (r.loc[female, "n_cases"] + r.loc[female, "n_controls"] == len(people)).all()


def test_stage_needs_the_participants_stage(tmp_path):
    """No hand-parsed showcase fallback: without the participants stage's tables the stage says so."""
    from bma_genetics.errors import BmaGeneticsError
    from bma_genetics.phewas import stage
    from bma_genetics.pipeline.context import RunContext

    assert stage.REQUIRES == ["participants"]
    ctx = RunContext(run_dir=tmp_path / "run", cohort=tmp_path, config={}, seed=1)
    with pytest.raises(BmaGeneticsError, match="phewas: needs the participants stage's participant and diagnosis"):
        stage.run(ctx, {})


@pytest.mark.parametrize("value", [0.1, 3.3])
def test_constant_exposure_is_refused(xmap, data, value):
    """A constant 0.1 has a float SD of 1e-17: it used to be standardised into 42 'hits' at P = 0."""
    people, dx, _ = data
    with pytest.raises(InputError, match=r"run_phewas/exposures: exposure 'bmff' of .* is constant"):
        run_phewas(people.assign(bmff=value), dx, "bmff", COVS, phecode_map=xmap, min_cases=20)


def test_non_finite_exposure_or_covariate_is_refused(xmap, data):
    people, dx, _ = data
    bad = people.copy()
    bad.loc[:1, "bmff"] = np.inf
    with pytest.raises(InputError, match=r"run_phewas/exposures: column 'bmff' of .* has 2 non-finite value\(s\) "
                                         r"\(\['inf'\]\)"):
        run_phewas(bad, dx, "bmff", COVS, phecode_map=xmap, min_cases=20)
    bad = people.copy()
    bad.loc[:0, "pc1"] = -np.inf  # (an infinite BMI is refused by the participant table's reader already)
    with pytest.raises(InputError, match=r"run_phewas/covariates: column 'pc1' .* 1 non-finite value"):
        run_phewas(bad, dx, "bmff", COVS, phecode_map=xmap, min_cases=20)
    bad = people.copy()
    bad.loc[:0, "bmi"] = -np.inf
    with pytest.raises(InputError, match=r"column 'bmi' row 1: -inf is not a BMI"):
        run_phewas(bad, dx, "bmff", COVS, phecode_map=xmap, min_cases=20)


def test_a_phecode_that_cannot_be_estimated_is_an_na_row_with_a_reason(xmap, data, monkeypatch):
    from bma_genetics.phewas import api as phewas_api

    people, dx, _ = data
    real = phewas_api._logit_exposure

    def broken(*args, **kwargs):
        fits = real(*args, **kwargs)
        j = min(fits)
        fits[j] = {**fits[j], "standard_error": float("nan")}
        return fits

    monkeypatch.setattr(phewas_api, "_logit_exposure", broken)
    res = run_phewas(people, dx, "bmff", COVS, phecode_map=xmap, min_cases=20).table
    na = res[res["reason"] != ""]
    assert len(na) == 1 and na["reason"].iloc[0].startswith("not estimable")
    assert na[["p_value", "neg_log_10_p_value", "bonferroni", "fdr"]].isna().all().all()
    assert not na["converged"].iloc[0]
    assert res.loc[res["reason"] == "", "p_value"].notna().all()

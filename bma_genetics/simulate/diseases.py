"""Hospital diagnoses (UK Biobank fields 41270/41280) with causal links from BMFF.

Model
-----
For each linked disease ``d`` (:data:`DISEASES`) a participant is a case with probability
``sigmoid(a_d + beta_d z + covariates)``, where ``z`` is the exposure site's true BMFF on the
latent scale in population-SD units (covariate-adjusted, before measurement noise),
``beta_d`` the causal log-odds ratio per SD and ``a_d`` solved so the cohort prevalence equals
``prevalence``. A case receives one to three distinct WHO ICD-10 codes of the disease family.

Field 41270 lists each distinct code once per person with its first date in 41280 (UK Biobank's
habit): about half of the cases hold a single code, so a case definition that asks for two
records loses them. A person has a *qualifying record* of disease ``d`` when one of its codes
starts with a prefix in ``d.qualifying`` (the codes that map to ``d.phecode`` in phecodeX: the
fracture phecode also collects M80, osteoporosis with pathological fracture);
:func:`qualifying_records` gives who and the first date, written to
``truth/disease_cases.tsv``. Codes mapping to a linked disease's phecode are never drawn as
unrelated diagnoses, so the phecode's cases are exactly the people with a qualifying record.

Unrelated diagnoses: ``n_random_phecodes`` phecodes are drawn from the code map, each with a
prevalence log-uniform on ``[p_low, p_high]`` (codes restricted to one sex only ever go to
that sex); a case receives one code of the phecode, or two (60 %) when it has several.
Dates are uniform between age 35 (not before 1997-04-01, when HES coding starts in UK
Biobank) and :data:`DATA_END`, a year after the censoring date 2022-10-31 (:data:`CENSOR_DATE`):
as in UK Biobank's hospital data, records after the censoring date exist but are incomplete,
and a study counts only the records before it.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

#: End of follow-up of the simulated hospital data (England's HES censoring date in UK Biobank).
CENSOR_DATE = np.datetime64("2022-10-31")
#: Last date of the simulated records: the extract runs a year past the censoring date.
DATA_END = np.datetime64("2023-10-31")
HES_START = np.datetime64("1997-04-01")


@dataclass(frozen=True)
class Disease:
    name: str
    prefixes: tuple[str, ...]
    exposure: str
    log_odds_ratio_per_sd: float
    prevalence: float
    age: float  # log-odds per year of age at imaging (centred 64)
    male: float
    bmi: float  # per kg/m2 (centred 26.5)
    phecode: str = ""  # the phecodeX phecode that collects the disease
    qualifying: tuple[str, ...] = ()  # ICD-10 prefixes of a qualifying record (default: prefixes)

    @property
    def qualifying_prefixes(self) -> tuple[str, ...]:
        return self.qualifying or self.prefixes


#: Causal BMFF -> disease links (exposure: latent true BMFF, per population SD).
DISEASES: tuple[Disease, ...] = (
    Disease("osteoporosis", ("M80", "M81", "M82"), "bmff_femoral_head", 0.40, 0.06, 0.07, -1.2, -0.03,
            phecode="MS_726"),
    Disease("fracture", ("S22", "S32", "S72"), "bmff_femoral_head", 0.25, 0.05, 0.03, -0.4, 0.0,
            phecode="MS_745", qualifying=("S22", "S32", "S72", "M80")),
    Disease("type_2_diabetes", ("E11",), "bmff_spine", 0.20, 0.07, 0.03, 0.4, 0.12, phecode="EM_202.2"),
    Disease("cardiovascular", ("I20", "I21", "I22", "I23", "I24", "I25", "I63"), "bmff_total_hip",
            0.15, 0.08, 0.05, 0.6, 0.04, phecode="CV_404"),
    Disease("lymphoma", ("C81", "C82", "C83", "C84", "C85"), "bmff_femoral_diaphysis", 0.30, 0.012, 0.02, 0.2, 0.0,
            phecode="CA_122"),
)


def code_table() -> tuple[pd.DataFrame, str]:
    """ICD-10 codes with their most specific phecode and sex restriction.

    Returns
    -------
    table : DataFrame
        ``icd10`` (str, no dot), ``phecode`` (str), ``sex`` (``Both``/``Male``/``Female``),
        ``phecodes`` (tuple of every phecode the code maps to, ancestors included; the most
        specific one only with the fallback codes), one row per code.
    source : str
        ``"resources:phecodeX"`` or ``"fallback"``.
    """
    try:
        from bma_genetics.resources import load_phecode_map  # type: ignore[attr-defined]

        m = load_phecode_map("X")
        m = m[["icd10", "phecode", *([c for c in ["sex"] if c in m.columns])]].copy()
        source = "resources:phecodeX"
    except Exception as exc:  # noqa: BLE001 - resource absent: use the packaged fallback
        from bma_genetics.simulate._icd10_fallback import CSV

        log.info("phecode map not available (%s); using the packaged fallback codes", exc)
        m = pd.read_csv(io.StringIO(CSV), dtype=str)
        source = "fallback"
    m["icd10"] = m["icd10"].astype(str).str.replace(".", "", regex=False).str.strip().str.upper()
    m["phecode"] = m["phecode"].astype(str)
    sex = m["sex"].astype(str).str[:1].str.upper() if "sex" in m.columns else pd.Series("B", index=m.index)
    m["sex"] = sex.map({"M": "Male", "F": "Female"}).fillna("Both")
    m = m[m["icd10"].str.fullmatch(r"[A-Z][0-9]{2}[0-9A-Z]?")]
    every = m.groupby("icd10", sort=False)["phecode"].agg(lambda p: tuple(sorted(set(p))))
    m["depth"] = m["phecode"].str.len()
    m = m.sort_values(["icd10", "depth", "phecode"], ascending=[True, False, True])
    m = m.drop_duplicates("icd10").drop(columns="depth").reset_index(drop=True)
    m["phecodes"] = m["icd10"].map(every)
    return m, source


def _calibrate_intercept(lin: np.ndarray, prevalence: float) -> float:
    """Solve mean(sigmoid(a + lin)) = prevalence by bisection (deterministic)."""
    lo, hi = -30.0, 30.0
    for _ in range(80):
        mid = (lo + hi) / 2
        if np.mean(1 / (1 + np.exp(-(mid + lin)))) < prevalence:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def _dates(n: int, birth: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    lo = np.maximum(birth + np.timedelta64(35 * 365, "D"), HES_START)
    span = (DATA_END - lo).astype(np.int64)
    return lo + (rng.random(n) * np.maximum(span, 1)).astype("timedelta64[D]")


def simulate_diagnoses(
    *,
    z: dict[str, np.ndarray],
    age: np.ndarray,
    male: np.ndarray,
    bmi: np.ndarray,
    birth: np.ndarray,
    codes: pd.DataFrame,
    n_random_phecodes: int,
    p_low: float,
    p_high: float,
    rng: np.random.Generator,
) -> tuple[list[list[tuple[str, np.datetime64]]], pd.DataFrame]:
    """Diagnoses per participant and the truth table of causal links.

    Parameters
    ----------
    z : dict of trait -> ndarray of shape (n,)
        Exposures (latent true BMFF in population-SD units).
    birth : ndarray of datetime64[D]

    Returns
    -------
    diagnoses : list (one per participant) of (icd10, date) pairs, sorted by date
    effects : DataFrame
        ``disease, icd10_codes, exposure, log_odds_ratio_per_sd, prevalence`` plus the
        covariate log-odds (``age_per_year, male, bmi_per_unit``) and the realised prevalence.
    """
    n = len(age)
    events_person: list[np.ndarray] = []
    events_code: list[np.ndarray] = []
    rows = []
    linked = np.zeros(len(codes), dtype=bool)
    icd = codes["icd10"].to_numpy()
    sex_of = codes["sex"].to_numpy()
    for d in DISEASES:
        fam = np.flatnonzero(np.char.startswith(icd.astype(str), d.prefixes[0]))
        for p in d.prefixes[1:]:
            fam = np.union1d(fam, np.flatnonzero(np.char.startswith(icd.astype(str), p)))
        linked[fam] = True
        if len(fam) == 0:
            log.warning("no ICD-10 codes for %s in the code map; skipped", d.name)
            continue
        lin = d.log_odds_ratio_per_sd * z[d.exposure] + d.age * (age - 64) + d.male * male + d.bmi * (bmi - 26.5)
        a = _calibrate_intercept(lin, d.prevalence)
        case = rng.random(n) < 1 / (1 + np.exp(-(a + lin)))
        ids = np.flatnonzero(case)
        for i in ids:
            k = 1 + int(rng.random() < 0.4) + int(rng.random() < 0.15)
            pick = rng.choice(fam, size=min(k, len(fam)), replace=False)
            events_person.append(np.full(len(pick), i))
            events_code.append(pick)
        rows.append(
            {
                "disease": d.name,
                "icd10_codes": ";".join(f"{p}*" for p in d.prefixes),
                "exposure": d.exposure,
                "log_odds_ratio_per_sd": d.log_odds_ratio_per_sd,
                "prevalence": d.prevalence,
                "intercept": round(a, 6),
                "age_per_year": d.age,
                "male": d.male,
                "bmi_per_unit": d.bmi,
                "realised_prevalence": round(float(case.mean()), 6),
                "n_cases": int(case.sum()),
                "phecode": d.phecode,
                "qualifying_codes": ";".join(f"{p}*" for p in d.qualifying_prefixes),
                "censoring_date": str(CENSOR_DATE),
            }
        )
    # unrelated phecodes: never a code that maps to a linked disease's phecode (or below it), so
    # that phecode's cases are exactly the people with a qualifying record
    targets = tuple(d.phecode for d in DISEASES if d.phecode)
    if "phecodes" in codes.columns and targets:
        hits = np.array([any(p == t or p.startswith(t + ".") for p in ps for t in targets)
                         for ps in codes["phecodes"]], dtype=bool)
        linked = linked | hits
    free = codes[~linked].copy()
    by = free.groupby("phecode", sort=True)
    groups = by["icd10"].agg(list)
    group_sex = by["sex"].first().where(by["sex"].nunique() == 1, "Both")
    chosen = rng.choice(len(groups), size=min(n_random_phecodes, len(groups)), replace=False)
    prev = np.exp(rng.uniform(np.log(p_low), np.log(p_high), size=len(chosen)))
    index_of = {c: i for i, c in enumerate(icd)}
    for g, p in zip(chosen, prev, strict=True):
        members = np.array([index_of[c] for c in groups.iloc[g]])
        sx = group_sex.iloc[g]
        eligible = np.ones(n, bool) if sx == "Both" else (male == (1 if sx == "Male" else 0))
        case = eligible & (rng.random(n) < p)
        ids = np.flatnonzero(case)
        if len(ids) == 0:
            continue
        two = (rng.random(len(ids)) < 0.6) & (len(members) > 1)
        first = rng.integers(0, len(members), size=len(ids))
        events_person.append(ids)
        events_code.append(members[first])
        if two.any():
            second = (first[two] + rng.integers(1, max(len(members), 2), size=int(two.sum()))) % len(members)
            events_person.append(ids[two])
            events_code.append(members[second])
    # sex-restricted codes must never go to the other sex (the linked families include none
    # of them, but a user's map could; drop such events rather than write impossible data)
    person = np.concatenate(events_person) if events_person else np.empty(0, np.int64)
    code = np.concatenate(events_code) if events_code else np.empty(0, np.int64)
    ok = (sex_of[code] == "Both") | ((sex_of[code] == "Male") == (male[person] == 1))
    person, code = person[ok], code[ok]
    dates = _dates(len(person), birth[person], rng)
    order = np.lexsort((code, dates, person))
    person, code, dates = person[order], code[order], dates[order]
    out: list[list[tuple[str, np.datetime64]]] = [[] for _ in range(n)]
    seen: list[set] = [set() for _ in range(n)]
    for p_, c_, d_ in zip(person, code, dates, strict=True):
        if c_ in seen[p_]:  # a code appears once per person in 41270
            continue
        seen[p_].add(c_)
        out[p_].append((icd[c_], d_))
    return out, pd.DataFrame(rows)


def qualifying_records(
    diagnoses: list[list[tuple[str, np.datetime64]]], eids: list[str] | np.ndarray
) -> pd.DataFrame:
    """Who has a qualifying record of each linked disease, and its first date (the truth).

    Parameters
    ----------
    diagnoses : list (one per participant) of (icd10, date) pairs
        As :func:`simulate_diagnoses` returns them (what 41270/41280 hold).
    eids : sequence of str, length n_participants

    Returns
    -------
    DataFrame
        ``eid`` (str), ``disease``, ``first_date`` (the earliest qualifying record, ISO date),
        ``n_codes`` (distinct qualifying codes), ``before_censoring`` (``first_date`` on or
        before :data:`CENSOR_DATE`); sorted by disease and eid (as integers).
    """
    rows = []
    for d in DISEASES:
        prefixes = d.qualifying_prefixes
        for eid, records in zip(eids, diagnoses, strict=True):
            dates = [date for code, date in records if code.startswith(prefixes)]
            if dates:
                first = min(dates)
                rows.append({"eid": str(eid), "disease": d.name, "first_date": str(first),
                             "n_codes": len(dates), "before_censoring": bool(first <= CENSOR_DATE)})
    out = pd.DataFrame(rows, columns=["eid", "disease", "first_date", "n_codes", "before_censoring"])
    order = {d.name: i for i, d in enumerate(DISEASES)}
    out = out.assign(_d=out["disease"].map(order), _e=out["eid"].astype(np.int64))
    return out.sort_values(["_d", "_e"]).drop(columns=["_d", "_e"]).reset_index(drop=True)

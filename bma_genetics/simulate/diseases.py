"""Hospital, death-registry and follow-up records with disease onsets that depend on BMFF.

Model
-----
**Onsets (proportional hazards).** For each linked disease ``d`` (:data:`DISEASES`) the
hazard of a first diagnosis at age ``a`` is Gompertz,
``h(a) = lambda_d exp(gamma_d (a - 60)) exp(log_hr_d z + male_d male + bmi_d (bmi - 26.5))``,
where ``z`` is the exposure site's true BMFF on the latent scale in population-SD units
(covariate-adjusted, before measurement noise) and ``log_hr_d`` the stated log hazard ratio per
SD. A person is at risk from :data:`RECORDS_START` (age 35 at the earliest) until death or
:data:`DATA_END`; the onset age is drawn by inverting the cumulative hazard, and ``lambda_d``
is solved so that the expected share of people with an onset in their window equals
``cumulative_incidence``. Onsets on or before the imaging date (53-2.0) are prevalent, later
ones incident (``truth/disease_onsets.tsv``).

**Hospital records.** 80 % of onsets reach hospital data (:data:`P_HOSPITAL`): a record dated
at the onset and, for 40 % / 15 %, a second / third distinct code of the family at a later
date before death. Records dated before 1997-04-01 (:data:`ICD10_START`) are coded in ICD-9 and
go to field 41271 (dates 41281), in UK Biobank's form without the dot (``7330``, ``8208``);
later ones in ICD-10 to 41270/41280. Each field lists each distinct code once per person with
its first date.

**Deaths and follow-up.** Mortality after the imaging visit is Gompertz
(:data:`MORTALITY_AT_65` per year, x exp(0.085 per year of age)); a death before
:data:`DATA_END` gives field 40000 (date), 40001 (primary cause, ICD-10) and 40002 (secondary
causes). A disease with an onset before death is the primary cause with probability 0.5
when it can kill (cardiovascular, lymphoma, fracture) and otherwise a secondary cause with
probability :data:`P_DEATH_MENTION`; other causes are unrelated codes. An onset that never
reached hospital data and is named on the death certificate is a *death-registry-only* case.
:data:`P_LOST` of participants are lost to follow-up (field 191) between imaging and the
data end; half of them come back and their hospital records continue (kept, though follow-up
is incomplete), so only a study that ends follow-up at 191 counts them right. A few hospital
records are dated after death (linkage errors, :data:`P_AFTER_DEATH` of the dead).

A person's follow-up ends at the earliest of the censoring date :data:`CENSOR_DATE`
(2022-10-31, England's HES censoring in UK Biobank), death and loss to follow-up; records up
to a year past the censoring date exist (:data:`DATA_END`) and a study must not count them.

A *qualifying record* of disease ``d`` is a record in 41270, 40001 or 40002 whose ICD-10 code
starts with a prefix in ``d.qualifying`` (the codes that map to ``d.phecode`` in phecodeX: the
fracture phecode also collects M80), or a 41271 record whose ICD-9 code starts with one of
``d.icd9_qualifying``; :func:`qualifying_records` gives who, the first date, whether it falls
in follow-up and whether it is incident (``truth/disease_cases.tsv``). Codes mapping to a
linked disease's phecode are never drawn as unrelated diagnoses, so the phecode's cases are
exactly the people with a qualifying record in follow-up.

Unrelated diagnoses: ``n_random_phecodes`` phecodes are drawn from the code map, each with a
prevalence log-uniform on ``[p_low, p_high]`` (codes restricted to one sex only ever go to
that sex); a case receives one code of the phecode, or two (60 %) when it has several, dated
uniformly between age 35 (not before 1997-04-01) and death or :data:`DATA_END`. A few
unrelated ICD-9 codes (:data:`UNRELATED_ICD9`, one absent from the phecode maps) are drawn in
the ICD-9 era.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

#: End of follow-up of the simulated hospital data (England's HES censoring date in UK Biobank).
CENSOR_DATE = np.datetime64("2022-10-31")
#: Last date of the simulated records: the extract runs a year past the censoring date.
DATA_END = np.datetime64("2023-10-31")
#: ICD-10 coding of hospital records starts here (earlier records are ICD-9, field 41271).
ICD10_START = np.datetime64("1997-04-01")
HES_START = ICD10_START  # unrelated ICD-10 diagnoses start here
#: First date of the hospital records (the ICD-9 era starts here).
RECORDS_START = np.datetime64("1981-01-01")
P_HOSPITAL = 0.8  # share of onsets that reach hospital data
P_DEATH_MENTION = 0.6  # a disease with an onset before death is named as a secondary cause
P_FATAL_PRIMARY = 0.5  # ... or as the primary cause, for diseases that can kill
MORTALITY_AT_65 = 0.008  # deaths per person-year at age 65 after the imaging visit
MORTALITY_GAMMA = 0.085  # log mortality increase per year of age
P_LOST = 0.02  # share lost to follow-up (191) between imaging and the data end
P_RETURN = 0.5  # share of those whose hospital records continue after 191
P_AFTER_DEATH = 0.15  # share of the dead with a hospital record dated after death (linkage error)
_DAY = 365.25
#: Unrelated ICD-9 codes (UK Biobank form) drawn in the ICD-9 era; V700 maps to no phecode.
UNRELATED_ICD9 = ("4019", "5409", "5509", "4779", "V700")
P_UNRELATED_ICD9 = 0.02


@dataclass(frozen=True)
class Disease:
    name: str
    prefixes: tuple[str, ...]
    exposure: str
    log_hazard_ratio_per_sd: float
    cumulative_incidence: float  # expected share with an onset in their risk window
    gamma: float  # Gompertz: log hazard per year of age
    male: float  # log hazard ratio of men
    bmi: float  # log hazard ratio per kg/m2 (centred 26.5)
    phecode: str = ""  # the phecodeX phecode that collects the disease
    qualifying: tuple[str, ...] = ()  # ICD-10 prefixes of a qualifying record (default: prefixes)
    icd9: tuple[str, ...] = ()  # ICD-9 codes drawn before 1997-04-01 (UK Biobank form)
    icd9_qualifying: tuple[str, ...] = ()  # ICD-9 prefixes of a qualifying record (default: icd9)
    fatal: bool = False  # can be the primary cause of death

    @property
    def qualifying_prefixes(self) -> tuple[str, ...]:
        return self.qualifying or self.prefixes

    @property
    def icd9_qualifying_prefixes(self) -> tuple[str, ...]:
        return self.icd9_qualifying or self.icd9


#: Causal BMFF -> disease links (exposure: latent true BMFF, per population SD).
DISEASES: tuple[Disease, ...] = (
    Disease("osteoporosis", ("M80", "M81", "M82"), "bmff_femoral_head", 0.40, 0.06, 0.07, -1.2, -0.03,
            phecode="MS_726", icd9=("7330", "73301", "73309")),
    Disease("fracture", ("S22", "S32", "S72"), "bmff_femoral_head", 0.25, 0.05, 0.03, -0.4, 0.0,
            phecode="MS_745", qualifying=("S22", "S32", "S72", "M80"),
            icd9=("8208", "8200", "8052", "8054", "8070"), icd9_qualifying=("80", "81", "82", "7331"), fatal=True),
    Disease("type_2_diabetes", ("E11",), "bmff_spine", 0.20, 0.07, 0.03, 0.4, 0.12, phecode="EM_202.2",
            icd9=("25000", "25002", "25040")),
    # ischaemic heart disease as phecodeX's CV_404 collects it (not angina I20, I24.0, I25.0/3/4)
    Disease("cardiovascular", ("I21", "I22", "I23", "I241", "I248", "I249", "I251", "I252", "I255", "I256", "I258",
                               "I259"), "bmff_total_hip",
            0.15, 0.08, 0.05, 0.6, 0.04, phecode="CV_404", icd9=("4109", "4140", "4149"), fatal=True),
    Disease("lymphoma", ("C81", "C82", "C83", "C84", "C85"), "bmff_femoral_diaphysis", 0.30, 0.012, 0.02, 0.2, 0.0,
            phecode="CA_122", icd9=("2007", "2028"), fatal=True),
)


@dataclass
class Records:
    """Everything the exports hold about diagnoses, deaths and follow-up (one entry per person).

    Attributes
    ----------
    icd10, icd9 : list of list of (code, date)
        Field 41270/41280 and 41271/41281: distinct codes with their first date, by date.
    death_date : ndarray of datetime64[D]
        Field 40000 (NaT: alive at the data end).
    death_primary : ndarray of str
        Field 40001 (``""`` when alive).
    death_secondary : list of list of str
        Field 40002.
    lost : ndarray of datetime64[D]
        Field 191 (NaT: never lost).
    effects, onsets, follow_up : DataFrame
        Truth tables (see :func:`simulate_diagnoses`).
    """

    icd10: list[list[tuple[str, np.datetime64]]]
    icd9: list[list[tuple[str, np.datetime64]]]
    death_date: np.ndarray
    death_primary: np.ndarray
    death_secondary: list[list[str]]
    lost: np.ndarray
    effects: pd.DataFrame = field(default_factory=pd.DataFrame)
    onsets: pd.DataFrame = field(default_factory=pd.DataFrame)
    follow_up: pd.DataFrame = field(default_factory=pd.DataFrame)

    def end_of_follow_up(self) -> np.ndarray:
        """Per person: the earliest of :data:`CENSOR_DATE`, death and loss to follow-up."""
        end = np.full(len(self.lost), CENSOR_DATE, dtype="datetime64[D]")
        for other in (self.death_date, self.lost):
            ok = ~np.isnat(other)
            end[ok] = np.minimum(end[ok], other[ok])
        return end


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
    """Solve mean(sigmoid(a + lin)) = prevalence by bisection (deterministic; the outcome sample)."""
    lo, hi = -30.0, 30.0
    for _ in range(80):
        mid = (lo + hi) / 2
        if np.mean(1 / (1 + np.exp(-(mid + lin)))) < prevalence:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def _years(d: np.ndarray, birth: np.ndarray) -> np.ndarray:
    return (d.astype("datetime64[D]") - birth).astype(np.int64) / _DAY


def _at_age(a: np.ndarray, birth: np.ndarray) -> np.ndarray:
    return birth + np.round(a * _DAY).astype(np.int64).astype("timedelta64[D]")


def _gompertz_exit(a0: np.ndarray, rate: np.ndarray, gamma: float, e: np.ndarray) -> np.ndarray:
    """Age of the event for hazard ``rate * exp(gamma (a - 60))`` from ``a0`` (inverse cumulative hazard)."""
    return 60 + np.log(np.exp(gamma * (a0 - 60)) + gamma * e / rate) / gamma


def _calibrate_rate(a0, a1, lin, gamma, target) -> float:
    """Solve mean(P(onset in [a0, a1))) = target for the baseline rate (bisection on its log)."""
    span = (np.exp(gamma * (a1 - 60)) - np.exp(gamma * (a0 - 60))) / gamma
    span = np.maximum(span, 0.0)
    lo, hi = -20.0, 5.0
    for _ in range(80):
        mid = (lo + hi) / 2
        p = 1 - np.exp(-np.exp(mid + lin) * span)
        if p.mean() < target:
            lo = mid
        else:
            hi = mid
    return float(np.exp((lo + hi) / 2))


def _uniform_dates(lo: np.ndarray, hi: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    span = np.maximum((hi - lo).astype(np.int64), 0)
    return lo + (rng.random(len(lo)) * span).astype(np.int64).astype("timedelta64[D]")


def _family(icd: np.ndarray, prefixes: tuple[str, ...]) -> np.ndarray:
    hit = np.zeros(len(icd), dtype=bool)
    for p in prefixes:
        hit |= np.char.startswith(icd.astype(str), p)
    return np.flatnonzero(hit)


def simulate_diagnoses(
    *,
    z: dict[str, np.ndarray],
    male: np.ndarray,
    bmi: np.ndarray,
    birth: np.ndarray,
    imaging: np.ndarray,
    codes: pd.DataFrame,
    n_random_phecodes: int,
    p_low: float,
    p_high: float,
    rng: np.random.Generator,
) -> Records:
    """Onsets, hospital and death-registry records and follow-up of every participant.

    Parameters
    ----------
    z : dict of trait -> ndarray of shape (n,)
        Exposures (latent true BMFF in population-SD units).
    male : ndarray of shape (n,)
        1 for men, 0 for women.
    bmi : ndarray of shape (n,)
    birth, imaging : ndarray of datetime64[D], shape (n,)
        Birth and imaging-visit dates (53-2.0): the participant is alive at imaging.
    codes : DataFrame
        :func:`code_table`.
    n_random_phecodes, p_low, p_high : int, float, float
        Unrelated diagnoses (see the module docstring).
    rng : numpy.random.Generator

    Returns
    -------
    Records
        The fields and three truth tables: ``effects`` (one row per disease: codes, exposure,
        ``log_hazard_ratio_per_sd``, ``hazard_ratio_per_sd``, ``cumulative_incidence``, the
        Gompertz ``baseline_rate_at_60`` and ``gamma``, ``male``, ``bmi_per_unit``, realised
        ``n_onsets``, phecode, qualifying ICD-10 and ICD-9 codes, censoring date);
        ``onsets`` (``eid`` index, ``disease, onset_date, age_at_onset, prevalent,
        hospital_recorded``: every onset before death and the data end); ``follow_up``
        (per person: ``imaging_date, risk_start, date_of_death, date_lost_to_follow_up,
        records_return, end_of_follow_up``).
    """
    n = len(male)
    birth = birth.astype("datetime64[D]")
    imaging = imaging.astype("datetime64[D]")
    icd = codes["icd10"].to_numpy().astype(str)
    sex_of = codes["sex"].to_numpy()
    age_img = _years(imaging, birth)

    # deaths after the imaging visit; loss to follow-up
    death_age = _gompertz_exit(age_img, np.full(n, MORTALITY_AT_65 * np.exp(-MORTALITY_GAMMA * 5)),
                               MORTALITY_GAMMA, rng.exponential(size=n))
    death = _at_age(death_age, birth)
    death = np.where(death <= DATA_END, death, np.datetime64("NaT"))
    death = np.where(np.isnat(death) | (death > imaging), death, imaging + np.timedelta64(1, "D"))
    lost = np.full(n, np.datetime64("NaT"), dtype="datetime64[D]")
    pick = rng.random(n) < P_LOST
    lost[pick] = _uniform_dates(imaging[pick], np.full(int(pick.sum()), CENSOR_DATE), rng)
    lost[~np.isnat(death) & (lost >= death)] = np.datetime64("NaT")
    returns = rng.random(n) < P_RETURN
    data_end = np.where(np.isnat(death), DATA_END, death).astype("datetime64[D]")
    a_end = _years(data_end, birth)
    a_start = np.maximum(_years(np.full(n, RECORDS_START), birth), 35.0)
    risk_start = _at_age(a_start, birth)

    hospital: list[tuple[int, str, np.datetime64]] = []  # (person, code, date), ICD-10 or ICD-9 by date
    death_mentions: list[tuple[int, int, bool]] = []  # (person, disease, fatal)
    onset_rows = []
    rows = []
    linked = np.zeros(len(codes), dtype=bool)
    fams: dict[str, np.ndarray] = {}
    for k, d in enumerate(DISEASES):
        fam = _family(icd, d.prefixes)
        linked[fam] = True
        fams[d.name] = fam
        if len(fam) == 0:
            log.warning("no ICD-10 codes for %s in the code map; skipped", d.name)
            continue
        lin = d.log_hazard_ratio_per_sd * z[d.exposure] + d.male * male + d.bmi * (bmi - 26.5)
        rate = _calibrate_rate(a_start, a_end, lin, d.gamma, d.cumulative_incidence)
        a_on = _gompertz_exit(a_start, rate * np.exp(lin), d.gamma, rng.exponential(size=n))
        has = a_on < a_end
        ids = np.flatnonzero(has)
        onset = _at_age(a_on[ids], birth[ids])
        onset = np.minimum(onset, data_end[ids])
        recorded = rng.random(len(ids)) < P_HOSPITAL
        for i, t, rec in zip(ids, onset, recorded, strict=True):
            onset_rows.append({"eid_index": int(i), "disease": d.name, "onset_date": t,
                               "age_at_onset": round(float(_years(np.array([t]), birth[[i]])[0]), 3),
                               "prevalent": bool(t <= imaging[i]), "hospital_recorded": bool(rec)})
            if rec:
                n_codes = 1 + int(rng.random() < 0.4) + int(rng.random() < 0.15)
                dates = [t] + list(_uniform_dates(np.full(n_codes - 1, t), np.full(n_codes - 1, data_end[i]), rng))
                for date in dates:
                    code = (d.icd9[rng.integers(len(d.icd9))] if date < ICD10_START and d.icd9
                            else icd[fam[rng.integers(len(fam))]])
                    hospital.append((int(i), code, date))
            if not np.isnat(death[i]):
                death_mentions.append((int(i), k, d.fatal))
        rows.append({
            "disease": d.name,
            "icd10_codes": ";".join(f"{p}*" for p in d.prefixes),
            "exposure": d.exposure,
            "log_hazard_ratio_per_sd": d.log_hazard_ratio_per_sd,
            "cumulative_incidence": d.cumulative_incidence,
            "hazard_ratio_per_sd": round(float(np.exp(d.log_hazard_ratio_per_sd)), 6),
            "baseline_rate_at_60": float(f"{rate:.6g}"),
            "gamma": d.gamma,
            "male": d.male,
            "bmi_per_unit": d.bmi,
            "icd9_codes": ";".join(d.icd9),
            "realised_cumulative_incidence": round(float(has.mean()), 6),
            "n_onsets": int(has.sum()),
            "n_prevalent": int((onset <= imaging[ids]).sum()),
            "phecode": d.phecode,
            "qualifying_codes": ";".join(f"{p}*" for p in d.qualifying_prefixes),
            "qualifying_icd9_codes": ";".join(f"{p}*" for p in d.icd9_qualifying_prefixes),
            "censoring_date": str(CENSOR_DATE),
        })

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
    events_person: list[np.ndarray] = []
    events_code: list[np.ndarray] = []
    for g, p in zip(chosen, prev, strict=True):
        members = np.array([index_of[c] for c in groups.iloc[g]])
        sx = group_sex.iloc[g]
        eligible = np.ones(n, bool) if sx == "Both" else (male == (1 if sx == "Male" else 0))
        ids = np.flatnonzero(eligible & (rng.random(n) < p))
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
    lo = np.maximum(birth[person] + np.timedelta64(int(35 * _DAY), "D"), HES_START)
    dates = _uniform_dates(lo, data_end[person], rng)
    keep = dates <= data_end[person]
    hospital += [(int(i), icd[c], t) for i, c, t in zip(person[keep], code[keep], dates[keep], strict=True)]
    # unrelated ICD-9 codes in the ICD-9 era
    for c9 in UNRELATED_ICD9:
        ids = np.flatnonzero((rng.random(n) < P_UNRELATED_ICD9) & (risk_start < ICD10_START))
        t = _uniform_dates(risk_start[ids], np.full(len(ids), ICD10_START - np.timedelta64(1, "D")), rng)
        hospital += [(int(i), c9, d_) for i, d_ in zip(ids, t, strict=True)]
    # hospital records dated after death (linkage errors), half of them a linked disease's code
    dead = np.flatnonzero(~np.isnat(death) & (death < DATA_END))
    err = dead[rng.random(len(dead)) < P_AFTER_DEATH]
    t = _uniform_dates(death[err] + np.timedelta64(1, "D"), np.full(len(err), DATA_END), rng)
    all_linked = np.flatnonzero(np.isin(np.arange(len(icd)), np.concatenate(list(fams.values()))))
    for i, d_ in zip(err, t, strict=True):
        pool = all_linked if (rng.random() < 0.5 and len(all_linked)) else np.flatnonzero(~linked)
        hospital.append((int(i), icd[pool[rng.integers(len(pool))]], d_))
    # people lost to follow-up who do not come back: no records after 191
    hospital = [(i, c, d_) for i, c, d_ in hospital
                if np.isnat(lost[i]) or returns[i] or d_ <= lost[i]]

    icd10_out: list[list[tuple[str, np.datetime64]]] = [[] for _ in range(n)]
    icd9_out: list[list[tuple[str, np.datetime64]]] = [[] for _ in range(n)]
    seen: list[set] = [set() for _ in range(n)]
    for i, c, d_ in sorted(hospital, key=lambda r: (r[0], r[2], r[1])):
        if c in seen[i]:  # a code appears once per person in 41270 / 41271
            continue
        seen[i].add(c)
        (icd9_out if c[0].isdigit() or c in UNRELATED_ICD9 else icd10_out)[i].append((c, d_))

    # causes of death
    primary = np.full(n, "", dtype=object)
    secondary: list[list[str]] = [[] for _ in range(n)]
    free_codes = free["icd10"].to_numpy().astype(str)
    mentions: dict[int, list[tuple[int, bool]]] = {}
    for i, k, fatal in death_mentions:
        mentions.setdefault(i, []).append((k, fatal))
    for i in np.flatnonzero(~np.isnat(death)):
        for k, fatal in mentions.get(int(i), []):
            fam = fams[DISEASES[k].name]
            c = icd[fam[rng.integers(len(fam))]]
            if fatal and not primary[i] and rng.random() < P_FATAL_PRIMARY:
                primary[i] = c
            elif rng.random() < P_DEATH_MENTION and c not in secondary[i]:
                secondary[i].append(c)
        if not primary[i]:
            primary[i] = free_codes[rng.integers(len(free_codes))]
        for _ in range(int(rng.integers(0, 3))):
            c = free_codes[rng.integers(len(free_codes))]
            if c != primary[i] and c not in secondary[i]:
                secondary[i].append(c)
        secondary[i] = [c for c in secondary[i] if c != primary[i]]

    onsets = pd.DataFrame(onset_rows, columns=["eid_index", "disease", "onset_date", "age_at_onset", "prevalent",
                                               "hospital_recorded"])
    follow = pd.DataFrame({"imaging_date": imaging, "risk_start": risk_start, "date_of_death": death,
                           "date_lost_to_follow_up": lost, "records_return": returns & ~np.isnat(lost)})
    records = Records(icd10=icd10_out, icd9=icd9_out, death_date=death.astype("datetime64[D]"),
                      death_primary=primary, death_secondary=secondary, lost=lost,
                      effects=pd.DataFrame(rows), onsets=onsets, follow_up=follow)
    records.follow_up["end_of_follow_up"] = records.end_of_follow_up()
    return records


def _starts(code: str, prefixes: tuple[str, ...]) -> bool:
    return bool(prefixes) and code.startswith(prefixes)


def qualifying_records(records: Records, eids: list[str] | np.ndarray) -> pd.DataFrame:
    """Who has a qualifying record of each linked disease, and its first date (the truth).

    Parameters
    ----------
    records : Records
        As :func:`simulate_diagnoses` returns them (what 41270/41271/40001/40002 hold).
    eids : sequence of str, length n_participants

    Returns
    -------
    DataFrame
        ``eid`` (str), ``disease``, ``first_date`` (the earliest qualifying record, ISO date),
        ``n_codes`` (distinct qualifying codes, all fields), ``before_censoring`` (a qualifying
        record on or before the person's end of follow-up: the earliest of the censoring date,
        death and loss to follow-up), ``end_of_follow_up``, ``first_date_in_follow_up`` (the
        first qualifying record on or before it, empty when none), ``incident`` (that record is
        after the imaging date), ``sources`` (fields holding a qualifying record in follow-up,
        ``;``-separated); sorted by disease and eid (as integers).
    """
    end = records.end_of_follow_up()
    imaging = records.follow_up["imaging_date"].to_numpy().astype("datetime64[D]")
    cols = ["eid", "disease", "first_date", "n_codes", "before_censoring", "end_of_follow_up",
            "first_date_in_follow_up", "incident", "sources"]
    rows = []
    for d in DISEASES:
        for i, eid in enumerate(eids):
            found = [(date, code, "41270") for code, date in records.icd10[i] if _starts(code, d.qualifying_prefixes)]
            found += [(date, code, "41271") for code, date in records.icd9[i]
                      if _starts(code, d.icd9_qualifying_prefixes)]
            if not np.isnat(records.death_date[i]):
                dd = records.death_date[i]
                if _starts(records.death_primary[i], d.qualifying_prefixes):
                    found.append((dd, records.death_primary[i], "40001"))
                found += [(dd, c, "40002") for c in records.death_secondary[i] if _starts(c, d.qualifying_prefixes)]
            if not found:
                continue
            inside = [f for f in found if f[0] <= end[i]]
            first_in = min(f[0] for f in inside) if inside else None
            rows.append({
                "eid": str(eid), "disease": d.name, "first_date": str(min(f[0] for f in found)),
                "n_codes": len({f[1] for f in found}), "before_censoring": bool(inside),
                "end_of_follow_up": str(end[i]), "first_date_in_follow_up": "" if first_in is None else str(first_in),
                "incident": bool(first_in is not None and first_in > imaging[i]),
                "sources": ";".join(sorted({f[2] for f in inside})),
            })
    out = pd.DataFrame(rows, columns=cols)
    order = {d.name: i for i, d in enumerate(DISEASES)}
    out = out.assign(_d=out["disease"].map(order), _e=out["eid"].astype(np.int64))
    return out.sort_values(["_d", "_e"]).drop(columns=["_d", "_e"]).reset_index(drop=True)

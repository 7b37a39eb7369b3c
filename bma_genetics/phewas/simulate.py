"""Small seeded PheWAS inputs with known effects, for tests, docs and benchmarks.

The full synthetic cohort lives in :mod:`bma_genetics.simulate`; this module only draws a
participant table and a long diagnosis table against a given phecode map, with chosen
log-odds effects of an exposure on chosen ICD-10 codes, so that the truth is known exactly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def simulate_phewas_inputs(
    phecode_map: pd.DataFrame,
    *,
    n: int = 2000,
    n_codes: int = 60,
    prevalence: tuple[float, float] = (0.01, 0.08),
    effects: dict[str, float] | None = None,
    records_per_case: tuple[int, int] = (1, 3),
    seed: int = 1,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Draw participants, diagnoses and the truth.

    Each of ``n_codes`` ICD-10 codes of the map (plus the codes in ``effects``) gets a
    prevalence drawn uniformly from ``prevalence``; person ``i`` has code ``c`` with
    probability ``prev_c * exp(effects[c] * x_i + 0.02 (age_i - 60))`` (capped at 0.9), where
    ``x`` is the exposure ``bmff`` (standard normal). A person with a code gets between
    ``records_per_case`` records of it (so ``min_phecode_count`` matters).

    Returns
    -------
    participants : DataFrame
        ``eid`` (str), ``age``, ``sex`` (0/1), ``bmi``, ``pc1``, ``pc2``, ``year_of_birth``,
        ``bmff`` (the exposure), ``null_exposure`` (independent of everything).
    diagnoses : DataFrame
        ``eid, code, date, source`` (``source`` is ``hesin_diag``, episode-level, when a case
        may get several records of a code, else ``41270``).
    truth : DataFrame
        ``code, prevalence, log_odds_ratio``.
    """
    rng = np.random.default_rng(seed)
    effects = dict(effects or {})
    people = pd.DataFrame({
        "eid": [str(1_000_001 + i) for i in range(n)],
        "age": rng.normal(62, 7, n).round(1),
        "sex": rng.integers(0, 2, n),
        "bmi": rng.normal(27, 4, n).round(2),
        "pc1": rng.normal(size=n),
        "pc2": rng.normal(size=n),
        "bmff": rng.normal(size=n),
        "null_exposure": rng.normal(size=n),
    })
    people["year_of_birth"] = (2016 - people["age"]).astype(int)
    pool = np.array(sorted(set(phecode_map["icd10"]) - set(effects)))
    chosen = list(rng.choice(pool, size=min(n_codes, len(pool)), replace=False)) + list(effects)
    recs, truth = [], []
    x = people["bmff"].to_numpy()
    age = people["age"].to_numpy()
    for code in chosen:
        prev = float(rng.uniform(*prevalence))
        beta = float(effects.get(code, 0.0))
        prob = np.minimum(prev * np.exp(beta * x + 0.02 * (age - 60)), 0.9)
        has = np.flatnonzero(rng.random(n) < prob)
        reps = rng.integers(records_per_case[0], records_per_case[1] + 1, size=has.size)
        days = rng.integers(0, 6000, size=int(reps.sum()))
        eids = np.repeat(people["eid"].to_numpy()[has], reps)
        dates = pd.Timestamp("2005-01-01") + pd.to_timedelta(days, unit="D")
        recs.append(pd.DataFrame({"eid": eids, "code": code, "date": dates}))
        truth.append({"code": code, "prevalence": prev, "log_odds_ratio": beta})
    dx = pd.concat(recs, ignore_index=True)
    # repeated records of a code are episodes (hesin_diag); one record per code is field 41270's habit
    dx["source"] = "41270" if records_per_case[1] <= 1 else "hesin_diag"
    return people, dx, pd.DataFrame(truth)

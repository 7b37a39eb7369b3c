"""PheWAS: bma_genetics.phewas against PheTK, same cohort, diagnoses and settings.

PheTK (``phetk`` on PyPI) runs in its own virtual environment (``.peers/phetk``). Both tools get
the same participants, the same ICD-10 records (PheTK wants dotted WHO codes in an ICD table
with ``person_id, date, ICD, vocabulary_id``) and the same phecodeX WHO map (the one inside the
PheTK wheel). Printed: both wall-clock times (mapping + regression, 2 workers each), the ratio,
and the agreement (phecodes tested, case/control counts, max |d beta|, max |d log10 p|).

Usage::

    python benchmarks/phewas_vs_phetk.py [--cohort DIR | --preset demo] [--exposure bmff_femoral_head]

The oracle test (``tests/test_phewas_peer.py``) calls :func:`run_phetk` and :func:`compare`
on a small cohort.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.peers import peer_python  # noqa: E402

PHETK_REQUIREMENTS = ["phetk", "pyarrow<21", "duckdb<2"]

_DRIVER = r"""
import json, sys, time, os, io, contextlib
args = json.loads(sys.argv[1])
os.environ.setdefault("POLARS_MAX_THREADS", str(args["n_workers"]))
from phetk.phecode import Phecode
from phetk.phewas import PheWAS
t0 = time.perf_counter()
log = io.StringIO()
with contextlib.redirect_stdout(log):
    ph = Phecode(platform="custom", icd_file_path=args["icd"])
    ph.count_phecode(phecode_version=args["version"], icd_version="WHO",
                     output_file_path=args["counts"], engine="polars")
    t1 = time.perf_counter()
    pw = PheWAS(phecode_version=args["version"], phecode_count_file_path=args["counts"],
                cohort_file_path=args["cohort"], covariate_cols=args["covariates"],
                independent_variable_of_interest=args["exposure"], sex_at_birth_col="sex",
                icd_version="WHO", min_cases=args["min_cases"],
                min_phecode_count=args["min_phecode_count"], output_file_path=args["out"],
                method=args["method"])
    pw.run(parallelization="multithreading", n_workers=args["n_workers"])
t2 = time.perf_counter()
print(json.dumps({"seconds": t2 - t0, "mapping_seconds": t1 - t0}))
"""


def phetk_python() -> Path:
    """The peer venv's Python (installed on first use)."""
    return peer_python("phetk", PHETK_REQUIREMENTS)


def phetk_map_path(py: Path | None = None) -> Path:
    """PheTK's bundled ICD-10 (WHO) -> phecodeX map."""
    py = py or phetk_python()
    out = subprocess.run([str(py), "-c", "import phetk, os; print(os.path.dirname(phetk.__file__))"],
                         capture_output=True, text=True, check=True)
    return Path(out.stdout.strip()) / "phecode" / "phecodeX_WHO.csv"


def dotted(code: str) -> str:
    """UK Biobank ``M810`` -> WHO ``M81.0`` (PheTK's maps are dotted)."""
    code = str(code).strip().upper()
    return code if len(code) <= 3 else f"{code[:3]}.{code[3:]}"


def run_phetk(
    participants: pd.DataFrame,
    diagnoses: pd.DataFrame,
    exposure: str,
    covariates: list[str],
    *,
    min_cases: int,
    min_phecode_count: int,
    n_workers: int = 2,
    workdir: str | Path | None = None,
    method: str = "logit",
) -> tuple[pd.DataFrame, float]:
    """Run PheTK's ``Phecode.count_phecode`` + ``PheWAS.run``; return results and seconds.

    ``method`` is PheTK's: ``logit`` (statsmodels) or ``firth_logit`` (firthmodels, LRT p).
    """
    py = phetk_python()
    work = Path(workdir or tempfile.mkdtemp(prefix="phetk_"))
    work.mkdir(parents=True, exist_ok=True)
    cols = list(dict.fromkeys([exposure, *covariates, "sex"]))
    cohort = participants[["eid", *cols]].rename(columns={"eid": "person_id"})
    cohort.to_csv(work / "cohort.tsv", sep="\t", index=False)
    dates = pd.to_datetime(diagnoses["date"], errors="coerce").dt.strftime("%Y-%m-%d")
    icd = pd.DataFrame({
        "person_id": diagnoses["eid"].astype(str).to_numpy(),
        "date": dates.fillna("2000-01-01").to_numpy(),
        "ICD": [dotted(c) for c in diagnoses["code"]],
        "vocabulary_id": "ICD10",
    })
    icd.to_csv(work / "icd.tsv", sep="\t", index=False)
    args = {
        "icd": str(work / "icd.tsv"), "counts": str(work / "counts.tsv"), "cohort": str(work / "cohort.tsv"),
        "out": str(work / "phetk_results.tsv"), "version": "X", "exposure": exposure,
        "covariates": [c for c in covariates if c != exposure], "min_cases": int(min_cases),
        "min_phecode_count": int(min_phecode_count), "n_workers": int(n_workers), "method": method,
    }
    res = subprocess.run([str(py), "-c", _DRIVER, json.dumps(args)], capture_output=True, text=True, cwd=work)
    if res.returncode != 0:
        raise RuntimeError(f"PheTK failed: {res.stderr[-3000:]}")
    timing = json.loads(res.stdout.strip().splitlines()[-1])
    out = pd.read_csv(work / "phetk_results.tsv", sep="\t", dtype={"phecode": str})
    return out, float(timing["seconds"])


def compare(ours: pd.DataFrame, theirs: pd.DataFrame) -> dict[str, float | int | bool]:
    """Agreement on phecodes, counts, beta and log10 p (logit rows converged in both)."""
    a = ours.set_index("phecode")
    b = theirs.set_index("phecode")
    same_set = set(a.index) == set(b.index)
    common = a.index.intersection(b.index)
    a, b = a.loc[common], b.loc[common]
    counts_equal = bool((a["n_cases"].to_numpy() == b["cases"].to_numpy()).all()
                        and (a["n_controls"].to_numpy() == b["controls"].to_numpy()).all())
    ok = (a["method"] == "logit").to_numpy() & a["converged"].to_numpy(bool) & b["converged"].astype(bool).to_numpy()
    d_beta = np.abs(a["beta"].to_numpy() - b["beta"].to_numpy())[ok]
    d_logp = np.abs(a["neg_log_10_p_value"].to_numpy() - b["neg_log_p_value"].to_numpy())[ok]
    return {
        "n_ours": int(len(ours)), "n_phetk": int(len(theirs)), "same_phecodes": bool(same_set),
        "only_ours": sorted(set(ours["phecode"]) - set(theirs["phecode"]))[:10],
        "only_phetk": sorted(set(theirs["phecode"]) - set(ours["phecode"]))[:10],
        "counts_equal": counts_equal, "n_compared": int(ok.sum()),
        "max_abs_d_beta": float(d_beta.max()) if d_beta.size else float("nan"),
        "max_abs_d_log10_p": float(d_logp.max()) if d_logp.size else float("nan"),
    }


#: Simulated diseases (``truth/disease_effects.tsv``) -> the phecodeX phecode that collects them.
TRUTH_PHECODES = {
    "osteoporosis": "MS_726",
    "fracture": "MS_745",
    "type_2_diabetes": "EM_202.2",
    "cardiovascular": "CV_404",
    "lymphoma": "CA_122",
}


def calibration_and_recovery(people: pd.DataFrame, dx: pd.DataFrame, cohort: Path, covariates: list[str],
                             *, min_cases: int, min_phecode_count: int, seed: int = 1, n_jobs: int = 2,
                             n_permutations: int = 5):
    """Type-I error of permuted BMFF at 0.05 and the simulated BMFF -> disease links.

    Each BMFF site with a simulated link is permuted ``n_permutations`` times (exposure
    independent of everything, covariates kept): the share of p < 0.05 over all those tests.
    """
    from bma_genetics.phewas import run_phewas, type1_error

    truth = pd.read_csv(cohort / "truth" / "disease_effects.tsv", sep="\t")
    exposures = sorted(set(truth["exposure"]))
    rng = np.random.default_rng(seed)
    people = people.copy()
    nulls = []
    for i, e in enumerate(exposures):
        for k in range(n_permutations):
            people[f"null_{i}_{k}"] = rng.permutation(people[e].to_numpy())
            nulls.append(f"null_{i}_{k}")
    res = run_phewas(people, dx, exposures + nulls, covariates, phecode_version="X",
                     min_cases=min_cases, min_phecode_count=min_phecode_count, n_jobs=n_jobs).to_frame()
    null = res[res["exposure"].isin(nulls)]
    rows = []
    for _, t in truth.iterrows():
        code = TRUTH_PHECODES.get(t["disease"])
        hit = res[(res["exposure"] == t["exposure"]) & (res["phecode"] == code)]
        if hit.empty:
            rows.append({"disease": t["disease"], "exposure": t["exposure"], "phecode": code, "tested": False})
            continue
        h = hit.iloc[0]
        rows.append({"disease": t["disease"], "exposure": t["exposure"], "phecode": code, "tested": True,
                     "true_log_hazard_ratio": float(t["log_hazard_ratio_per_sd"]), "beta": float(h["beta"]),
                     "standard_error": float(h["standard_error"]), "p_value": float(h["p_value"]), "n_cases": int(h["n_cases"]),
                     "bonferroni_significant": bool(h["bonferroni"] < 0.05)})
    return {
        "type1_error_0.05": type1_error(null["p_value"], 0.05),
        "n_null_tests": int(len(null)),
        "null_firth_share": float((null["method"] == "firth").mean()),
        "recovery": rows,
    }


def cohort_inputs(cohort: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Participants (+ BMFF) and long diagnoses of a simulated cohort, as the pipeline builds them.

    The participants stage's API (:func:`bma_genetics.io.run_participants`: withdrawals, sample
    QC, covariates at the imaging visit, diagnoses) on the cohort's files, then the BMFF table
    joined on ``eid`` (:func:`bma_genetics.phewas.inputs.join_bmff`): the sample the
    ``phewas`` stage analyses.
    """
    from bma_genetics.io import run_participants
    from bma_genetics.phewas.inputs import join_bmff

    cohort = Path(cohort)
    opt = {name: path for name, path in (("withdrawals", cohort / "participants" / "withdrawals.csv"),
                                         ("kinship", cohort / "genotypes" / "ukb_rel.dat"),
                                         ("phenotype", cohort / "participants" / "bmff_idp.parquet"))
           if path.exists()}
    # ICD-10 without the dot, as UK Biobank's field 41270 and PheTK's maps write it
    res = run_participants(cohort / "participants" / "ukb_showcase.csv", dotted=False, progress=False, **opt)
    bmff = opt.get("phenotype")
    people, _ = join_bmff(res.participants, bmff)
    return people, res.diagnoses


def _load_cohort(cohort: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Participants (+ BMFF) and long diagnoses from a simulated cohort directory."""
    return cohort_inputs(cohort)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cohort", type=Path, help="simulated cohort directory")
    parser.add_argument("--preset", default="demo", help="simulate this preset when --cohort is absent")
    parser.add_argument("--exposure", default="bmff_femoral_head")
    parser.add_argument("--covariates", default="age,sex,bmi,pc1,pc2,pc3,pc4,pc5")
    parser.add_argument("--min-cases", type=int, default=50)
    parser.add_argument("--min-phecode-count", type=int, default=2)
    parser.add_argument("--n-jobs", type=int, default=2, help="worker threads, ours and PheTK's")
    args = parser.parse_args(argv)
    from bma_genetics.phewas import run_phewas

    cohort = args.cohort
    if cohort is None:
        from bma_genetics.simulate import simulate_cohort

        cohort = ROOT / ".peers" / f"cohort_{args.preset}"
        if not (cohort / "cohort.json").exists():
            simulate_cohort(args.preset, seed=1, out=cohort)
    people, dx = _load_cohort(cohort)
    # PheTK's WHO map holds ICD-10 only and PheTK ends no one's follow-up early: the same records
    # for both (ICD-10 hospital and death registry), ours without the early end of follow-up
    dx = dx[dx["coding"] == "icd10"]
    covs = args.covariates.split(",")
    people = people.dropna(subset=[args.exposure, *covs])
    map_path = phetk_map_path()
    theirs, t_phetk = run_phetk(people, dx, args.exposure, covs, min_cases=args.min_cases,
                                min_phecode_count=args.min_phecode_count, n_workers=args.n_jobs)
    t0 = time.perf_counter()
    ours = run_phewas(people, dx, [args.exposure], covs, phecode_version="X", phecode_map=map_path,
                      follow_up_end_columns=[],
                      min_cases=args.min_cases, min_phecode_count=args.min_phecode_count,
                      standardise=False, n_jobs=args.n_jobs).to_frame()
    t_ours = time.perf_counter() - t0
    agreement = compare(ours, theirs)
    print(f"cohort {cohort}: {len(people)} people, {len(dx)} diagnosis records, "
          f"{agreement['n_ours']} phecodes tested (PheTK {agreement['n_phetk']})")
    print(f"PheTK        {t_phetk:8.2f} s")
    print(f"bma_genetics {t_ours:8.2f} s")
    print(f"ratio        {t_phetk / t_ours:8.1f}x faster")
    print("agreement    " + json.dumps(agreement))
    if (cohort / "truth" / "disease_effects.tsv").exists():
        cal = calibration_and_recovery(people, dx, cohort, covs, min_cases=args.min_cases,
                                       min_phecode_count=args.min_phecode_count, n_jobs=args.n_jobs)
        print(f"null (permuted BMFF): type-I error at 0.05 = {cal['type1_error_0.05']:.4f} "
              f"over {cal['n_null_tests']} tests ({cal['null_firth_share']:.1%} Firth)")
        for r in cal["recovery"]:
            print("truth        " + json.dumps(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())

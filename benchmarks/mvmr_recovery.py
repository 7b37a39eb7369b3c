"""Multivariable MR recovery of the simulator's planted direct effects (issue 18).

The simulator's second exposure (``bma_genetics.simulate.second_exposure``) plants BMD, caused by
femoral-head BMFF and by variants of its own, and an outcome (``osteoporosis_mvmr``) with a direct
effect of each (``truth/mvmr_truth.json``). IVW-MVMR of femoral-head BMFF (the cohort's GWAS, fat
fraction) and BMD (``outcome_gwas/bmd.tsv.gz``) on that outcome should cover both direct effects;
Q-het MVMR (weak-instrument robust, ``mvmr_qhet``) is reported beside it.

Two modes:

- ``--cohort DIR [--bmff GWAS]``: one cohort (e.g. the demo preset, with the demo run's
  ``gwas/bmff_femoral_head.tsv.gz`` as ``--bmff``); without ``--bmff`` the BMFF GWAS is per-variant
  least squares of the cohort's measured femoral-head BMFF on its dosages in the European group.
- ``--replicates K [--preset tiny] [--override KEY=VALUE ...]``: K cohorts simulated at seeds
  ``--first-seed`` (1) onwards (the replicate cohorts are removed afterwards), each with the least-squares BMFF GWAS;
  prints each estimate and the coverage of both 95 % CIs.

LD for clumping: the cohort's own imputed genotypes (in-sample, the European group, at most
``--ld-samples`` people). Prints one line per cohort and exposure (estimate, CI, truth, covered,
conditional F, SNPs, seconds) and a JSON summary (``--json FILE`` writes it).

    python benchmarks/mvmr_recovery.py --cohort demo_cohort --bmff runs/demo/gwas/bmff_femoral_head.tsv.gz
    python benchmarks/mvmr_recovery.py --replicates 10 --preset tiny
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def european_samples(cohort: Path, samples: list[str]) -> list[str]:
    """The cohort's genotyped people outside the planted non-European group."""
    qc = json.loads((cohort / "truth" / "qc_planted.json").read_text())
    other = set(map(str, qc["non_european"]))
    return [s for s in samples if s not in other]


def bmff_gwas(cohort: Path, reader, trait: str = "bmff_femoral_head", *, european_only: bool = True) -> pd.DataFrame:
    """Least-squares GWAS of the measured BMFF (fat fraction) on the reader's dosages: everyone of
    ``reader`` with the trait, or only the European group's (no covariates; GWAS-SSF columns)."""
    from scipy import stats

    idp = pd.read_parquet(cohort / "participants" / "bmff_idp.parquet")[["eid", trait]].dropna()
    where = pd.Series(np.arange(reader.n_samples), index=pd.Index(reader.samples, dtype=str))
    samples = list(map(str, reader.samples))
    keep = set(european_samples(cohort, samples) if european_only else samples)
    idp = idp[idp["eid"].astype(str).isin(keep)]
    g = reader.dosages(np.arange(reader.n_variants))[where.loc[idp["eid"].astype(str)].to_numpy()]
    y = idp[trait].to_numpy(float)
    gc, yc = g - g.mean(axis=0), y - y.mean()
    sxx = (gc * gc).sum(axis=0)
    ok = sxx > 0
    b = np.where(ok, gc.T @ yc / np.where(ok, sxx, 1), np.nan)
    n = len(y)
    rss = (yc @ yc) - np.nan_to_num(b) ** 2 * sxx
    se = np.sqrt(rss / (n - 2) / np.where(ok, sxx, np.nan))
    v = reader.variants
    return pd.DataFrame({
        "chromosome": v["chromosome"].astype(str), "base_pair_location": v["base_pair_location"],
        "effect_allele": v["a2"], "other_allele": v["a1"], "beta": b, "standard_error": se,
        "effect_allele_frequency": g.mean(axis=0) / 2, "p_value": 2 * stats.t.sf(np.abs(b / se), n - 2),
        "rsid": v["rsid"], "variant_id": v["variant_id"], "n": n,
    }).dropna(subset=["beta"])


def recover(cohort: Path, bmff: Path | None, p_threshold: float, ld_samples: int,
            clump_r2: float = 0.001) -> dict[str, Any]:
    """IVW-MVMR and Q-het MVMR of BMFF and BMD on ``osteoporosis_mvmr`` against ``truth/mvmr_truth.json``."""
    from bma_genetics.io.sumstats import read_sumstats
    from bma_genetics.mr.mvmr import run_mvmr_analysis
    from bma_genetics.mr.stage import _ld_reader

    truth = json.loads((cohort / "truth" / "mvmr_truth.json").read_text())
    reader = _ld_reader("in-sample", cohort)
    exposure = read_sumstats(bmff) if bmff is not None else bmff_gwas(cohort, reader)
    eur = european_samples(cohort, list(map(str, reader.samples)))
    rng = np.random.default_rng(1)
    if len(eur) > ld_samples:
        eur = sorted(rng.choice(eur, ld_samples, replace=False).tolist())
    reader = _ld_reader("in-sample", cohort, eur)
    t0 = time.perf_counter()
    res = run_mvmr_analysis(None, exposures={"bmff_femoral_head": exposure,
                                             "bmd": cohort / "outcome_gwas" / "bmd.tsv.gz"},
                            outcome=cohort / "outcome_gwas" / "osteoporosis_mvmr.tsv.gz", p_threshold=p_threshold,
                            reader=reader, clump_r2=clump_r2)
    seconds = time.perf_counter() - t0
    want = {"bmff_femoral_head": truth["direct_log_odds_per_fat_fraction"]["bmff_femoral_head"],
            "bmd": truth["direct_log_odds_per_sd"]["bmd"]}
    out = {"cohort": str(cohort), "nsnp": res.report["nsnp"], "n_instruments": res.report["n_instruments"],
           "instruments_per_exposure": res.report["instruments_per_exposure"], "seconds": round(seconds, 1),
           "exposures": {}}
    for e, t in want.items():
        r = res.report["mvmr_ivw"][e]
        qh = res.report["mvmr_qhet"][e]
        out["exposures"][e] = {**{k: float(v) for k, v in r.items()}, "truth": t,
                               "covered": bool(r["ci_lower"] <= t <= r["ci_upper"]),
                               "conditional_f": res.report["conditional_f"][e],
                               "qhet": {**{k: float(v) for k, v in qh.items()},
                                        "covered": bool(qh["ci_lower"] <= t <= qh["ci_upper"])}}
    return out


def _print(r: dict[str, Any]) -> None:
    for e, x in r["exposures"].items():
        print(f"{Path(r['cohort']).name:>14} {e:>18}: {x['beta']:9.3f} ({x['ci_lower']:8.3f}, {x['ci_upper']:8.3f}) "
              f"truth {x['truth']:8.3f} covered {x['covered']!s:5} cond F {x['conditional_f']:7.1f} "
              f"nsnp {r['nsnp']:5d} {r['seconds']:6.1f} s", flush=True)
        q = x["qhet"]
        print(f"{'':>14} {'(Q-het)':>18}: {q['beta']:9.3f} ({q['ci_lower']:8.3f}, {q['ci_upper']:8.3f}) "
              f"truth {x['truth']:8.3f} covered {q['covered']!s:5}", flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cohort", type=Path)
    ap.add_argument("--bmff", type=Path, help="femoral-head BMFF GWAS (fat fraction); default least squares")
    ap.add_argument("--replicates", type=int, default=0)
    ap.add_argument("--first-seed", type=int, default=1, help="seed of the first replicate")
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--override", action="append", default=[], help="KEY=VALUE preset parameter (replicates)")
    ap.add_argument("--p-threshold", type=float, default=5e-6)
    ap.add_argument("--ld-samples", type=int, default=3000)
    ap.add_argument("--clump-r2", type=float, default=0.001)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args(argv)
    if (a.cohort is None) == (a.replicates == 0):
        ap.error("give --cohort or --replicates")
    results = []
    if a.cohort is not None:
        results.append(recover(a.cohort, a.bmff, a.p_threshold, a.ld_samples, a.clump_r2))
        _print(results[-1])
    else:
        from bma_genetics.simulate import simulate_cohort

        over: dict[str, Any] = {}
        for kv in a.override:
            k, v = kv.split("=", 1)
            over[k] = float(v) if any(c in v for c in ".e") else int(v)
        with tempfile.TemporaryDirectory(prefix="mvmr-recovery-") as tmp:
            for seed in range(a.first_seed, a.first_seed + a.replicates):
                cohort = Path(tmp) / f"seed{seed}"
                simulate_cohort(a.preset, seed=seed, out=cohort, **over)
                results.append(recover(cohort, None, a.p_threshold, a.ld_samples, a.clump_r2))
                _print(results[-1])
                shutil.rmtree(cohort)
    summary = {"p_threshold": a.p_threshold, "clump_r2": a.clump_r2, "replicates": len(results), "coverage": {
        e: float(np.mean([r["exposures"][e]["covered"] for r in results])) for e in results[0]["exposures"]},
        "mean_estimate": {e: float(np.mean([r["exposures"][e]["beta"] for r in results]))
                          for e in results[0]["exposures"]},
        "qhet_coverage": {e: float(np.mean([r["exposures"][e]["qhet"]["covered"] for r in results]))
                          for e in results[0]["exposures"]},
        "qhet_mean_estimate": {e: float(np.mean([r["exposures"][e]["qhet"]["beta"] for r in results]))
                               for e in results[0]["exposures"]},
        "results": results}
    print(json.dumps({k: v for k, v in summary.items() if k != "results"}))
    if a.json:
        a.json.write_text(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""LDSC recovery on a simulated cohort: true h2 and rg (truth/) against the heritability stage's.

Simulates a preset (``--preset``, default large; ``--seed``; ``--confounding c`` plants the regional
environment of ``bma_genetics.simulate.confounding``), or takes ``--cohort DIR``, then runs the study
runner with only the stages needed (``participants``, ``gwas`` of the four main BMFF sites, no strata,
``heritability`` with in-sample LD scores from the imputed genotypes) and prints per site the true h2
(``truth/heritability.tsv``, ``h2_autosomal``: the LD scores are autosomal), the estimate (SE) and
|diff|/SE, per pair the true rg against the estimate, and each intercept (SE).

M: the simulated background draws causal variants uniformly among variants with MAF >= 1 % with
equal per-standardised-genotype effect variance, so LDSC's model holds with M = the LD-scored SNPs
with MAF >= 1 % (``M_1``, from the cohort's MFI files). The stage's estimate uses LDSC's default
M_5_50 (SNPs with MAF > 5 %) and so targets ``h2 x M_5_50 / M_1``; both are printed, and the
recovery verdict uses M_1 (h2 and its SE scale with M; intercept and rg do not).

Done when (issue 15): |h2 - true| < 2 SE per site, |rg - true| < 2 SE per pair, intercept within
1 +- 2 SE without confounding and above 1 + 2 SE with it.

Resumable: the simulation and the study runner resume (``--out`` kept), ``--until gwas`` stops after
the GWAS (run it again without it for the heritability step), and ``--ld-samples N`` computes the
in-sample LD scores over a random N of the GWAS's analysed samples (seeded; LDSC's r^2 correction
uses that N) into ``OUT/ld`` once and hands them to the stage as ``ld_scores`` -- on the large
preset the LD of all 50,000 people would cost hours of BGEN decoding for no gain in precision.
Progress (step, start, seconds) is appended to ``OUT/progress.log``.

    python benchmarks/ldsc_recovery.py [--preset large] [--seed 1] [--confounding 0] [--cohort DIR]
        [--out DIR] [--ld-genotypes imputed|array] [--ld-samples N] [--until gwas]
"""

from __future__ import annotations

import argparse
import glob
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MAIN = ["bmff_femoral_head", "bmff_total_hip", "bmff_femoral_diaphysis", "bmff_spine"]


def _m_common_1(cohort: Path, rsids: set[str]) -> float:
    """LD-scored SNPs with cohort MAF >= 1 % (MFI column 6)."""
    n = 0
    for path in glob.glob(str(cohort / "genotypes/imputed/ukb_mfi_chr*_v3.txt")):
        mfi = pd.read_csv(path, sep="\t", header=None, usecols=[1, 5], names=["rsid", "maf"])
        n += int(((mfi["maf"] >= 0.01) & mfi["rsid"].isin(rsids)).sum())
    return float(n)


def _subset_ld_scores(cohort: Path, a: argparse.Namespace, study: dict, progress) -> Path:
    """In-sample LD scores over a seeded random ``a.ld_samples`` of the GWAS's analysed samples,
    written once to ``OUT/ld`` (reused when its ``done`` marker exists)."""
    from bma_genetics.heritability.api import run_ldscore
    from bma_genetics.io import read_sample_list

    folder = a.out / "ld"
    if (folder / "done").exists():
        return folder
    analysed = read_sample_list(a.out / "run" / "gwas" / "analysed_samples.txt")
    rng = np.random.default_rng([a.seed, 15015])
    keep = sorted(rng.choice(np.asarray(analysed, dtype=object), size=min(a.ld_samples, len(analysed)),
                             replace=False).tolist())
    t0 = time.perf_counter()
    progress(f"ldscore ({len(keep)} of {len(analysed)} analysed samples, {a.ld_genotypes}): start")
    run_ldscore("in-sample", genotypes=cohort / "genotypes" / a.ld_genotypes, samples=keep, out=folder)
    (folder / "done").write_text(f"{len(keep)}\n")
    progress("ldscore: done", time.perf_counter() - t0)
    return folder


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="large")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--confounding", type=float, default=0.0)
    ap.add_argument("--cohort", type=Path, default=None, help="an existing cohort (skips the simulation)")
    ap.add_argument("--out", type=Path, default=Path("runs/ldsc_recovery"))
    ap.add_argument("--ld-genotypes", default="imputed", choices=("imputed", "array"))
    ap.add_argument("--override", action="append", default=[], metavar="KEY=VALUE",
                    help="further simulator parameters (e.g. n_participants=5000)")
    ap.add_argument("--ld-samples", type=int, default=None,
                    help="in-sample LD scores over a random N of the analysed samples (default: all)")
    ap.add_argument("--until", default="heritability", choices=("gwas", "heritability"),
                    help="stop after this stage (the run resumes from it)")
    a = ap.parse_args(argv)
    a.out.mkdir(parents=True, exist_ok=True)

    def progress(step: str, seconds: float | None = None) -> None:
        line = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()) + f"\t{step}"
        line += "" if seconds is None else f"\t{seconds:.0f} s"
        with open(a.out / "progress.log", "a") as fh:
            fh.write(line + "\n")
        print(line, flush=True)

    from bma_genetics.io.ldsc import read_heritability_results, read_ld_scores
    from bma_genetics.pipeline import run_study
    from bma_genetics.simulate.api import simulate_cohort
    from bma_genetics.simulate.presets import parse_overrides

    times: dict[str, float] = {}
    cohort = a.cohort
    if cohort is None:
        overrides = parse_overrides(a.override)
        cohort = a.out / "cohort"
        t0 = time.perf_counter()
        progress("simulate: start")
        simulate_cohort(a.preset, seed=a.seed, out=cohort, resume=True, confounding=a.confounding, **overrides)
        times["simulate"] = time.perf_counter() - t0
        progress("simulate: done", times["simulate"])
    study = {
        "name": "ldsc_recovery", "seed": a.seed,
        "hail": {"master": "local[*]"},
        "stages": {
            "participants": {},
            "gwas": {"traits": MAIN, "chunk_by": "all"},
            "heritability": {"traits": MAIN, "ld_genotypes": a.ld_genotypes},
        },
    }
    # --ld-samples draws from the GWAS's analysed samples: the GWAS runs first (resumed later)
    need_gwas = a.ld_samples is not None and not (a.out / "run" / "gwas" / "analysed_samples.txt").exists()
    if a.until == "gwas" or need_gwas:
        gwas_only = {**study, "stages": {k: v for k, v in study["stages"].items() if k != "heritability"}}
        t0 = time.perf_counter()
        progress("participants+gwas: start")
        run_study(gwas_only, cohort=cohort, out=a.out / "run")
        progress("participants+gwas: done", time.perf_counter() - t0)
        if a.until == "gwas":
            return 0
    if a.ld_samples is not None:
        study["stages"]["heritability"]["ld_scores"] = str(_subset_ld_scores(cohort, a, study, progress).resolve())
    t0 = time.perf_counter()
    progress("study (participants, gwas resumed; heritability): start")
    run = run_study(study, cohort=cohort, out=a.out / "run")
    times["gwas+heritability"] = time.perf_counter() - t0
    progress("study: done", times["gwas+heritability"])
    est = read_heritability_results(run / "heritability/h2.tsv", table="h2").set_index("trait")
    rg = read_heritability_results(run / "heritability/rg.tsv", table="rg")
    truth = pd.read_csv(cohort / "truth/heritability.tsv", sep="\t").set_index("trait")
    rg_true = pd.read_csv(cohort / "truth/genetic_correlation.tsv", sep="\t")
    # the stage writes its LD scores under heritability/ld unless they were handed to it (--ld-samples)
    scores = read_ld_scores(study["stages"]["heritability"].get("ld_scores") or run / "heritability/ld")
    m_5_50 = float(sum(scores.m_5_50.values()))
    m_1 = _m_common_1(cohort, set(scores.table["rsid"]))
    scale = m_1 / m_5_50
    meta = json.loads((cohort / "cohort.json").read_text())
    print(f"cohort {cohort} (preset {meta['preset']}, seed {meta['seed']}, confounding "
          f"{meta['parameters'].get('confounding', 0.0)}); LD {a.ld_genotypes}; M_5_50 {m_5_50:.0f}, M_1 {m_1:.0f}")
    rows = []
    for t in MAIN:
        e, tr = est.loc[t], truth.loc[t]
        h2, se = e["h2"] * scale, e["h2_standard_error"] * scale
        rows.append({"trait": t, "n": int(tr["n"]), "h2_true": tr["h2_autosomal"], "h2": h2, "se": se,
                     "z_diff": abs(h2 - tr["h2_autosomal"]) / se, "h2_m5_50": e["h2"], "se_m5_50": e["h2_standard_error"],
                     "intercept": e["intercept"], "intercept_se": e["intercept_standard_error"],
                     "intercept_z": (e["intercept"] - 1) / e["intercept_standard_error"],
                     "mean_chisq": e["mean_chisq"], "gwas_lambda_gc": e.get("gwas_lambda_gc", np.nan)})
    h2_tab = pd.DataFrame(rows)
    pairs = []
    for r in rg.itertuples():
        tt = rg_true[((rg_true.trait1 == r.trait_1) & (rg_true.trait2 == r.trait_2))
                     | ((rg_true.trait1 == r.trait_2) & (rg_true.trait2 == r.trait_1))]
        true = float(tt["rg_autosomal"].iloc[0])
        pairs.append({"trait_1": r.trait_1, "trait_2": r.trait_2, "rg_true": true, "rg": r.rg,
                      "se": r.standard_error, "z_diff": abs(r.rg - true) / r.standard_error})
    rg_tab = pd.DataFrame(pairs)
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.precision", 4):
        print(h2_tab.to_string(index=False))
        print(rg_tab.to_string(index=False))
    confounded = float(meta["parameters"].get("confounding", 0.0)) > 0
    ok_h2 = bool((h2_tab["z_diff"] < 2).all())
    ok_rg = bool((rg_tab["z_diff"] < 2).all())
    ok_int = bool((h2_tab["intercept_z"] > 2).all()) if confounded else bool((h2_tab["intercept_z"].abs() < 2).all())
    print(f"h2 within 2 SE at every site: {ok_h2}; rg within 2 SE for every pair: {ok_rg}; intercept "
          f"{'above 1 + 2 SE' if confounded else 'within 1 +- 2 SE'} at every site: {ok_int}")
    print("seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in times.items()))
    a.out.mkdir(parents=True, exist_ok=True)
    h2_tab.to_csv(a.out / "recovery_h2.tsv", sep="\t", index=False)
    rg_tab.to_csv(a.out / "recovery_rg.tsv", sep="\t", index=False)
    excl = _without_named_loci(cohort, run, scores, a.out)
    with pd.option_context("display.width", 200, "display.precision", 4):
        print("h2 (M_5_50 scale) and intercept without the SNPs within 1 Mb of a named-gene causal variant:")
        print(excl.to_string(index=False))
    return 0


def _without_named_loci(cohort: Path, run: Path, scores, out: Path) -> pd.DataFrame:
    """Diagnostic: h2 and intercept again without the SNPs within 1 Mb of the simulator's named-gene
    causal variants (``truth/causal_variants.tsv`` rows with a gene), the few large-effect loci that
    LDSC's infinitesimal model does not describe (they raise the free intercept). Truth-based, so
    a diagnostic of the simulated architecture only, never an analysis setting."""
    from bma_genetics.heritability.api import run_h2
    from bma_genetics.io.ldsc import read_munged_sumstats, write_munged_sumstats

    cv = pd.read_csv(cohort / "truth/causal_variants.tsv", sep="\t")
    named = cv[cv["gene"].notna() & (cv["gene"].astype(str) != "")]
    t = scores.table
    drop = np.zeros(len(t), dtype=bool)
    for chrom, pos in named[["chromosome", "base_pair_location"]].drop_duplicates().itertuples(index=False):
        drop |= (t["chromosome"].astype(str).to_numpy() == str(chrom)) & (
            np.abs(t["base_pair_location"].to_numpy() - pos) < 1_000_000)
    dropped = set(t.loc[drop, "rsid"])
    rows = []
    for trait in MAIN:
        munged = read_munged_sumstats(run / f"heritability/munged/{trait}.sumstats.gz")
        keep = ~munged["rsid"].isin(dropped)
        kept = write_munged_sumstats(munged[keep], out / f"without_named_loci_{trait}.sumstats.gz")
        e = run_h2({trait: kept}, scores).table.iloc[0]
        rows.append({"trait": trait, "snps": int(keep.sum()), "h2_m5_50": e["h2"],
                     "se": e["h2_standard_error"], "intercept": e["intercept"],
                     "intercept_se": e["intercept_standard_error"],
                     "intercept_z": (e["intercept"] - 1) / e["intercept_standard_error"]})
    table = pd.DataFrame(rows)
    table.to_csv(out / "recovery_without_named_loci.tsv", sep="\t", index=False)
    return table


if __name__ == "__main__":
    raise SystemExit(main())

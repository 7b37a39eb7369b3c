"""Relatives kept with REGENIE-style LOCO vs dropped vs ignored, and BOLT-LMM side by side.

Usage::

    python benchmarks/loco_relatives.py [--out DIR] [--preset ukb|dense|custom] [--traits 12] [--threads 2]

Simulates a cohort with relatives (``bma_genetics.simulate.relatives``; ``--preset ukb``: UK
Biobank's relatedness, 30 % with a relative, mostly pairs; ``dense``: 60 %, sibships of 2-4, the
stress test; ``custom``: ``--families/--pairs/--unrelated``; h2 = 0.5 from the causal chromosomes,
the other half of the chromosomes null for every trait: every test there is a null test of a
trait with a relatedness-structured polygenic background), then runs, on the same PLINK genotypes:

- ``keep_loco``: step 1 (:func:`bma_genetics.gwas.regenie.run_step1`) + step 2 (``run_gwas``
  with ``loco=`` and ``kinship=``: the LOCO statistic divided by its relatedness factor,
  :meth:`~bma_genetics.gwas.regenie.LocoAdjuster.relatedness_factor`), every participant kept;
- ``keep_loco_uncalibrated``: the same without the kinship pairs (REGENIE's own statistic);
- ``drop``: today's GWAS on a maximal unrelated set (``io.unrelated_set`` on the pedigree
  kinship file, pairs >= 0.0442);
- ``keep_plain``: every participant, no LOCO (what ignoring the relatedness gives);
- BOLT-LMM (Debian ``bolt-lmm``, ``--lmmInfOnly``), every participant, same covariates.

Prints the pooled λGC over the null chromosomes (median χ² of all traits' null tests / 0.4549)
with its standard error (the sampling SD of a median of K·M independent χ²₁: 2.33 / √(K·M)),
the mean χ² and count of P < 5e-8 at the planted large-effect variants (power), the χ²
correlation of ``keep_loco`` with BOLT-LMM's infinitesimal-model χ² over every tested
variant, and the wall times. This is a benchmark, not a test: the size at which a λGC window of
± 0.02 means something (≈ 10⁵ null tests) takes minutes on two cores. tests/test_gwas_bolt.py runs
the BOLT comparison of ``--preset ukb`` (seed 1, two traits) with these helpers.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.peers import PeerUnavailable, apt_binary  # noqa: E402


def bolt_binary() -> tuple[Path, dict[str, str]]:
    """Debian's bolt-lmm, unpacked with the libraries it links."""
    exe = apt_binary("bolt-lmm", "bolt")
    libs = [apt_binary(pkg, lib).parent for pkg, lib in (
        ("libnlopt0", "libnlopt.so.0"), ("libopenblas0-pthread", "libopenblas.so.0"),
        ("libgfortran5", "libgfortran.so.5"))]
    env = dict(os.environ)
    env["LD_LIBRARY_PATH"] = ":".join([*map(str, libs), env.get("LD_LIBRARY_PATH", "")]).rstrip(":")
    return exe, env


def run_bolt(bfile: Path, pheno: Path, covar: Path, traits: list[str], out: Path, threads: int, *,
             resume: bool = False) -> dict[str, pd.DataFrame]:
    """BOLT-LMM --lmmInfOnly per trait (age quantitative, sex categorical covariates); returns trait ->
    its stats table. OpenBLAS gets ``threads`` too: its default thread pool spins beside BOLT's own
    threads (measured 16.3 CPU-s with it, 6.1 without, for one trait of the ``ukb`` preset, same output)."""
    exe, env = bolt_binary()
    env["OPENBLAS_NUM_THREADS"] = str(threads)
    res = {}
    for t in traits:
        stats_file = out / f"bolt_{t}.stats"
        if resume and stats_file.exists():
            res[t] = pd.read_csv(stats_file, sep="\t", dtype={"CHR": str})
            continue
        cmd = [str(exe), f"--bfile={bfile}", f"--phenoFile={pheno}", f"--phenoCol={t}", f"--covarFile={covar}",
               "--qCovarCol=age", "--covarCol=sex", "--lmmInfOnly", "--LDscoresUseChip",
               f"--numThreads={threads}", f"--statsFile={stats_file}"]
        r = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if r.returncode != 0:
            raise PeerUnavailable(f"bolt failed: {r.stdout[-800:]} {r.stderr[-400:]}")
        res[t] = pd.read_csv(stats_file, sep="\t", dtype={"CHR": str})
    return res


def bolt_pheno(c, out: Path) -> Path:
    """The relatives cohort's ``pheno.tsv`` rewritten for BOLT-LMM under ``out``; its path."""
    path = out / "bolt_pheno.tsv"
    pd.read_csv(c.pheno, sep="\t").to_csv(path, sep="\t", index=False)
    return path


def bolt_chi2_correlation(ss: pd.DataFrame, bolt: pd.DataFrame, chromosomes: set[str] | None = None) -> float:
    """Pearson correlation of our chi^2 (``ss``: run_gwas's columns) with BOLT-LMM's infinitesimal-model
    chi^2 (``(BETA / SE)^2`` of its stats table: it prints P to 2 digits) over the variants both tested
    (joined on chromosome and position), optionally on ``chromosomes`` only."""
    m = ss.merge(bolt, left_on=["chromosome", "base_pair_location"], right_on=["CHR", "BP"])
    if chromosomes is not None:
        m = m[m["chromosome"].astype(str).isin(chromosomes)]
    bolt_chi2 = (m["BETA"].astype(float) / m["SE"].astype(float)) ** 2
    return float(np.corrcoef(chi2(m), bolt_chi2)[0, 1])


def cohort_table(c) -> tuple[pd.DataFrame, list[str]]:
    """A simulated relatives cohort's phenotypes and covariates as one table (``eid``, ``trait_*``,
    ``sex``, ``age``, ...) and its quantitative traits."""
    ph = pd.read_csv(c.pheno, sep="\t", dtype={"IID": str}).drop(columns="FID").rename(columns={"IID": "eid"})
    cv = pd.read_csv(c.covar, sep="\t", dtype={"IID": str}).drop(columns="FID").rename(columns={"IID": "eid"})
    return ph.merge(cv, on="eid"), [t for t in ph.columns if t.startswith("trait_")]


class NumpyStep2:
    """Step 2 as ``run_gwas`` computes it (least squares of ``y - s * loco_c`` on dosage + covariates,
    Wald t with n - k - 1 df), in numpy by Frisch-Waugh-Lovell; ``sumstats[trait]`` as run_gwas's."""

    def __init__(self, bfile: Path, table: pd.DataFrame, traits: list[str], covs: list[str],
                 loco: dict[str, pd.DataFrame] | None, kinship: pd.DataFrame | None = None):
        from bma_genetics.gwas.association import plan_analyses
        from bma_genetics.gwas.regenie import LocoAdjuster
        from bma_genetics.ld.readers import PlinkReader

        reader = PlinkReader(bfile)
        tab = table.set_index("eid")
        keep = [s in tab.index for s in reader.samples]
        ids = [s for s in reader.samples if s in tab.index]
        x = reader.dosages(np.arange(reader.n_variants))[np.array(keep)].astype(float)
        c = np.column_stack([np.ones(len(ids)), tab.loc[ids, covs].to_numpy(float)])
        q, _ = np.linalg.qr(c)
        x -= q @ (q.T @ x)
        xx = (x * x).sum(axis=0)
        chrom = reader.variants["chromosome"].astype(str).to_numpy()
        n, k = len(ids), c.shape[1]
        self.sumstats = {}
        adj = None
        if loco is not None and kinship is not None:
            # the relatedness factors as run_gwas computes them (LocoAdjuster on the same frame)
            analyses, frame = plan_analyses(tab.loc[ids].reset_index(), traits=traits, covariates=covs)
            adj = LocoAdjuster(frame, analyses, loco, kinship=kinship)
            by_trait = {a.trait: a for a in analyses if a.stratum == "all"}
        self.factors: dict[tuple[str, str], float] = {}
        for t in traits:
            y = tab.loc[ids, t].to_numpy(float)
            r0 = y - q @ (q.T @ y)
            s = np.sqrt(r0 @ r0 / (n - k))
            beta = np.empty(len(chrom))
            se = np.empty(len(chrom))
            for ch in np.unique(chrom):
                cols = chrom == ch
                yt = y - s * loco[t].loc[ids, ch].to_numpy(float) if loco is not None else y
                r = yt - q @ (q.T @ yt)
                b = (x[:, cols].T @ r) / xx[cols]
                rss = r @ r - b**2 * xx[cols]
                beta[cols], se[cols] = b, np.sqrt(rss / (n - k - 1) / xx[cols])
                if adj is not None:
                    f = adj.relatedness_factor(by_trait[t], ch)
                    self.factors[(t, ch)] = f
                    se[cols] *= np.sqrt(f)
            tt = beta / se
            self.sumstats[t] = pd.DataFrame({
                "chromosome": chrom, "base_pair_location": reader.variants["base_pair_location"].to_numpy(),
                "beta": beta, "standard_error": se, "t_statistic": tt,
                "p_value": 2 * stats.t.sf(np.abs(tt), n - k - 1), "n": n})


def chi2(ss: pd.DataFrame) -> np.ndarray:
    return (ss["beta"].to_numpy(float) / ss["standard_error"].to_numpy(float)) ** 2


def lambda_pooled(sets: list[pd.DataFrame], null_chroms: set[str]) -> tuple[float, float, int]:
    """Pooled λGC over the null chromosomes (from P, as the project's λGC), its SE, test count."""
    p = np.concatenate([s.loc[s["chromosome"].astype(str).isin(null_chroms), "p_value"].to_numpy(float) for s in sets])
    lam = float(np.median(stats.chi2.isf(p, 1)) / stats.chi2.ppf(0.5, 1))
    return lam, 2.33 / np.sqrt(len(p)), len(p)


def run_summary(sumstats: dict[str, pd.DataFrame], traits: list[str], truth: pd.DataFrame,
                null_chroms: set[str]) -> dict:
    """One analysis's calibration and power: pooled lambda GC (SE) over the null chromosomes, mean
    null chi^2, per-trait lambda, and chi^2 / hits at the planted large loci (``truth["large"]``)."""
    large = truth[truth["large"]]
    sets = [sumstats[t] for t in traits]
    lam, se, k = lambda_pooled(sets, null_chroms)
    ch, hits = [], 0
    for t in traits:
        sel = sumstats[t].merge(large.loc[large["trait"] == t, ["chromosome", "base_pair_location"]],
                                on=["chromosome", "base_pair_location"])
        ch += list(chi2(sel))
        hits += int((sel["p_value"] < 5e-8).sum())
    nullc = np.concatenate([chi2(s.loc[s["chromosome"].astype(str).isin(null_chroms)]) for s in sets])
    return {"lambda_gc_null_pooled": round(lam, 4), "lambda_se": round(se, 4), "null_tests": k,
            "mean_chi2_null": round(float(nullc.mean()), 4),
            "per_trait_lambda": [round(lambda_pooled([s], null_chroms)[0], 3) for s in sets],
            "mean_chi2_large_loci": round(float(np.mean(ch)), 2), "large_loci_p_below_5e-8": hits,
            "n_large_loci": len(ch)}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--preset", choices=("ukb", "dense", "custom"), default="ukb",
                    help="family structure (bma_genetics.simulate.relatives.RELATIVES_PRESETS); custom: the next three")
    ap.add_argument("--families", type=int, default=400)
    ap.add_argument("--unrelated", type=int, default=900)
    ap.add_argument("--pairs", type=int, default=150, help="parent-offspring, cousin and second-cousin pairs each")
    ap.add_argument("--chromosomes", type=int, default=10)
    ap.add_argument("--variants", type=int, default=2000, help="per chromosome")
    ap.add_argument("--traits", type=int, default=12)
    ap.add_argument("--h2", type=float, default=0.5)
    ap.add_argument("--block-size", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-bolt", action="store_true")
    ap.add_argument("--bolt-traits", type=int, default=None, help="run BOLT-LMM on the first N traits only")
    ap.add_argument("--engine", choices=("hail", "numpy"), default="hail",
                    help="step 2 by run_gwas on Hail (default) or by the same least-squares fit in numpy "
                         "(tests/test_gwas_regenie.py checks the two agree to 1e-6; for a loaded machine)")
    ap.add_argument("--resume", action="store_true", help="reuse step 1, step-2 chunks and BOLT files in --out")
    args = ap.parse_args(argv)

    from bma_genetics._hail import init_hail
    from bma_genetics.gwas import read_genotypes, run_gwas
    from bma_genetics.gwas.regenie import run_step1
    from bma_genetics.io import read_kinship, unrelated_set
    from bma_genetics.simulate.relatives import relatives_preset, simulate_related_cohort

    out = args.out or Path(tempfile.mkdtemp(prefix="loco_relatives_"))
    out.mkdir(parents=True, exist_ok=True)
    times: dict[str, float] = {}
    t0 = time.perf_counter()
    family = relatives_preset(args.preset) if args.preset != "custom" else dict(
        n_families=args.families, n_parent_offspring=args.pairs, n_cousin_pairs=args.pairs,
        n_second_cousin_pairs=args.pairs, n_unrelated=args.unrelated)
    c = simulate_related_cohort(out / "cohort", **family, n_chromosomes=args.chromosomes,
                                variants_per_chromosome=args.variants, h2=args.h2, n_traits=args.traits,
                                seed=args.seed)
    times["simulate"] = time.perf_counter() - t0
    table, traits = cohort_table(c)
    covs = ["sex", "age"]
    null_chroms = set(c.null_chromosomes)
    truth = pd.read_csv(c.out / "truth" / "causal_variants.tsv", sep="\t", dtype={"chromosome": str})

    t0 = time.perf_counter()
    if args.resume and (out / "step1" / "step1_pred.list").exists():
        from bma_genetics.io import read_loco_predictions

        step1_table = pd.read_csv(out / "step1" / "step1_summary.tsv", sep="\t")
        predictions = read_loco_predictions(out / "step1" / "step1_pred.list")
    else:
        step1 = run_step1(table, bfile=c.bfile, traits=traits, covariates=covs, block_size=args.block_size,
                          seed=args.seed, out=out / "step1")
        times["step1"] = time.perf_counter() - t0
        step1_table, predictions = step1.to_frame(), step1.predictions

    kin = read_kinship(c.kinship)
    removed = unrelated_set(kin, table["eid"])
    kept = set(table["eid"]) - removed
    runs = {}
    if args.engine == "hail":
        init_hail(master=f"local[{args.threads}]", tmp_dir=out / "hail_tmp", log_dir=out / "logs")
        mt = read_genotypes(bfile=c.bfile)
    for name, tab, loco, k in (("keep_loco", table, predictions, kin),
                               ("keep_loco_uncalibrated", table, predictions, None),
                               ("drop", table[table["eid"].isin(kept)], None, None),
                               ("keep_plain", table, None, None)):
        t0 = time.perf_counter()
        if args.engine == "numpy":
            runs[name] = NumpyStep2(c.bfile, tab, traits, covs, loco, kinship=k)
            times[f"step2_{name}"] = time.perf_counter() - t0
            continue
        # LOCO needs a pass per chromosome; the others run in one pass (Spark overhead dominates here)
        runs[name] = run_gwas(mt, tab, traits=traits, covariates=covs, loco=loco, kinship=k,
                              chunk_by="chromosome" if loco else "all", out=out / name, resume=args.resume)
        times[f"step2_{name}"] = time.perf_counter() - t0

    meta = json.loads((c.out / "truth" / "relatives.json").read_text())
    report: dict = {"preset": args.preset, "roles": meta["roles"], "n_related_pairs_listed": meta["n_related_pairs_listed"],
                    "share_with_listed_relative": meta["share_with_listed_relative"],
                    "n_samples": c.n_samples, "n_unrelated_set": int(len(kept)), "n_variants": c.n_variants,
                    "n_traits": len(traits), "h2": args.h2, "null_chromosomes": sorted(null_chroms, key=int),
                    "step1_cv_r2_mean": round(float(step1_table["cv_r2"].mean()), 4)}
    f = getattr(runs["keep_loco"], "factors", {})
    if f:
        v = np.array(list(f.values()))
        report["relatedness_factor"] = {"mean": round(float(v.mean()), 4), "min": round(float(v.min()), 4),
                                        "max": round(float(v.max()), 4)}
    for name, res in runs.items():
        report[name] = run_summary(res.sumstats, traits, truth, null_chroms)
    if not args.no_bolt:
        t0 = time.perf_counter()
        try:
            bolt = run_bolt(c.bfile, bolt_pheno(c, out), c.covar, traits[:args.bolt_traits], out, args.threads,
                            resume=args.resume)
            times["bolt"] = time.perf_counter() - t0
            cors, cors_u, cors_p, lam_b = [], [], [], []
            for t in bolt:
                b = bolt[t]
                for name, acc in (("keep_loco", cors), ("keep_loco_uncalibrated", cors_u), ("keep_plain", cors_p)):
                    acc.append(bolt_chi2_correlation(runs[name].sumstats[t], b))
                nb = b[b["CHR"].isin(null_chroms)]
                lam_b.append(((nb["BETA"].astype(float) / nb["SE"].astype(float)) ** 2).to_numpy())
            pooled = np.concatenate(lam_b)
            report["bolt_lmm_inf"] = {"chi2_correlation_with_keep_loco": [round(x, 4) for x in cors],
                                      "chi2_correlation_with_keep_loco_uncalibrated": [round(x, 4) for x in cors_u],
                                      "chi2_correlation_with_keep_plain": [round(x, 4) for x in cors_p],
                                      "chi2_correlation_min": round(min(cors), 4),
                                      "lambda_gc_null_pooled": round(float(np.median(pooled) / stats.chi2.ppf(0.5, 1)), 4)}
        except PeerUnavailable as exc:
            report["bolt_lmm_inf"] = f"unavailable: {exc}"
    report["seconds"] = {k: round(v, 1) for k, v in times.items()}
    print(json.dumps(report, indent=1))
    (out / "report.json").write_text(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()

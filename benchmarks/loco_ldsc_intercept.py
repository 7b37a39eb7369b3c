"""LDSC intercept and λGC with relatives kept (REGENIE-style LOCO + relatedness factor), on a cohort with LD.

Issue 16's Done-when: on a simulated cohort with relatives, null traits give λGC and LD score
regression's intercept within 1.00 ± 0.02 pooled. ``benchmarks/loco_relatives.py`` measures λGC;
its cohort has no population LD (every LD score ≈ 1), so the intercept cannot be separated from
the slope there. This script simulates the same kind of cohort with founders from msprime
(``simulate_related_cohort(founder_ld=True)``: LD with a hotspot recombination map; UK Biobank's
share of relatives with ``--preset ukb``) and runs:

- step 1 (``run_step1``: level-0/level-1 ridge, LOCO predictions of every trait);
- step 2 as ``run_gwas`` computes it (``BatchedStep2``: ``NumpyStep2`` of
  ``benchmarks/loco_relatives.py``, equal to the Hail pass to 1e-10, for all traits at once) in
  four ways: ``keep_loco`` (LOCO + the relatedness factor from ``ukb_rel.dat``: the gwas stage's ``relatedness: keep_loco`` with
  ``step1.kinship``), ``keep_loco_uncalibrated`` (LOCO, no factor: REGENIE's own statistic),
  ``keep_plain`` (every participant, no LOCO), ``drop`` (UK Biobank's unrelated set: one of each
  listed pair removed; the cryptic second cousins stay, as in UK Biobank);
- in-sample LD scores (``run_ldscore``, the heritability stage's in-sample source, 1000 kb window,
  over every participant) and LDSC (``run_h2``: free intercept, two-step, 200-block jackknife).

**Null tests**: every trait is heritable (``--h2``) through the first half of the chromosomes only;
the other half carries no causal variant, so every test there is null, while relatives' genotypes
are correlated there as everywhere: exactly the tests on which relatedness inflates an analysis
that ignores it. The "null" intercept is LDSC on the null chromosomes' variants (true slope 0);
the "all" intercept is LDSC on every variant (the heritable traits, slope > 0), where LDSC must
separate polygenicity from the inflation.

**Pooling**: the traits are independent (independent effects and noise), and the pooled estimate is
the LDSC intercept of the pooled χ² (per variant, the mean χ² over the traits: its jackknife over
variant blocks carries whatever correlation the traits' χ² have); beside it the mean of the
per-trait intercepts (first ``--per-trait``) with the naive SE (SD / √K). λGC pooled: median of every
trait's null χ² / 0.4549, and the mean null χ², each with a 100-block jackknife SE over the null
variants (LD makes neighbouring tests correlated: the independence SE 2.33 / √(K·M) is too small).

Resumable (``--resume``: the cohort, step 1, each step-2 run, the LD scores are kept in ``--out``);
seeded (``--seed``); ``OUT/progress.log`` has each step's wall and CPU seconds; ``OUT/report.json``
the numbers.

    python benchmarks/loco_ldsc_intercept.py [--out DIR] [--preset ukb] [--chromosomes 10]
        [--variants 2000] [--traits 150] [--h2 0.5] [--seed 1] [--resume]
"""

from __future__ import annotations

import argparse
import json
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

from benchmarks.loco_relatives import lambda_pooled  # noqa: E402

RUNS = ("keep_loco", "keep_loco_uncalibrated", "keep_plain", "drop")


class _Progress:
    def __init__(self, path: Path):
        self.path = path

    def __call__(self, step: str, wall: float, cpu: float) -> None:
        line = f"{time.strftime('%H:%M:%S')}\t{step}\twall {wall:.1f} s\tcpu {cpu:.1f} s"
        print(line, flush=True)
        with open(self.path, "a") as fh:
            fh.write(line + "\n")


def _timed(progress: _Progress, step: str, fn, *args, **kwargs):
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn(*args, **kwargs)
    progress(step, time.perf_counter() - t0, time.process_time() - c0)
    return out


class BatchedStep2:
    """``NumpyStep2`` of ``benchmarks/loco_relatives.py`` (step 2 as ``run_gwas`` computes it: least
    squares of ``y - s * loco_c`` on dosage + covariates, Wald t with n - k - 1 df, SE times the
    square root of the relatedness factor) for every trait of a chromosome in one matrix product,
    genotypes residualised in place chunk by chunk: the same numbers (checked against ``NumpyStep2``:
    beta, SE, P and the factors to 1e-9 relative), in a third of the time and half the memory."""

    def __init__(self, bfile: Path, table: pd.DataFrame, traits: list[str], covs: list[str],
                 loco: dict[str, pd.DataFrame] | None, kinship: pd.DataFrame | None = None, chunk: int = 4000):
        from bma_genetics.gwas.association import plan_analyses
        from bma_genetics.gwas.regenie import LocoAdjuster
        from bma_genetics.ld.readers import PlinkReader

        reader = PlinkReader(bfile)
        tab = table.set_index("eid")
        keep = np.array([s in tab.index for s in reader.samples])
        ids = [s for s in reader.samples if s in tab.index]
        c = np.column_stack([np.ones(len(ids)), tab.loc[ids, covs].to_numpy(float)])
        q, _ = np.linalg.qr(c)
        n, k, m = len(ids), c.shape[1], reader.n_variants
        x = np.empty((n, m))
        for lo in range(0, m, chunk):
            hi = min(m, lo + chunk)
            block = reader.dosages(np.arange(lo, hi))[keep].astype(float)
            x[:, lo:hi] = block - q @ (q.T @ block)
        xx = np.einsum("ij,ij->j", x, x)
        chrom = reader.variants["chromosome"].astype(str).to_numpy()
        y = tab.loc[ids, traits].to_numpy(float)
        r0 = y - q @ (q.T @ y)
        s = np.sqrt((r0 * r0).sum(axis=0) / (n - k))
        beta, se = np.empty((m, len(traits))), np.empty((m, len(traits)))
        self.factors: dict[tuple[str, str], float] = {}
        adj = None
        if loco is not None and kinship is not None:
            analyses, frame = plan_analyses(tab.loc[ids].reset_index(), traits=traits, covariates=covs)
            adj = LocoAdjuster(frame, analyses, loco, kinship=kinship)
            by_trait = {a.trait: a for a in analyses if a.stratum == "all"}
        for ch in pd.unique(chrom):
            cols = np.flatnonzero(chrom == ch)
            lo, hi = cols[0], cols[-1] + 1
            if not np.array_equal(cols, np.arange(lo, hi)):
                raise ValueError("variants are not sorted by chromosome")
            yt = y if loco is None else y - s * np.column_stack([loco[t].loc[ids, ch].to_numpy(float) for t in traits])
            r = yt - q @ (q.T @ yt)
            b = (x[:, lo:hi].T @ r) / xx[lo:hi, None]
            rss = (r * r).sum(axis=0)[None, :] - b**2 * xx[lo:hi, None]
            beta[lo:hi], se[lo:hi] = b, np.sqrt(rss / (n - k - 1) / xx[lo:hi, None])
            if adj is not None:
                f = np.array([adj.relatedness_factor(by_trait[t], ch) for t in traits])
                self.factors.update({(t, ch): v for t, v in zip(traits, f, strict=True)})
                se[lo:hi] *= np.sqrt(f)[None, :]
        tt = beta / se
        p = 2 * stats.t.sf(np.abs(tt), n - k - 1)
        bp = reader.variants["base_pair_location"].to_numpy()
        self.sumstats = {t: pd.DataFrame({"chromosome": chrom, "base_pair_location": bp, "beta": beta[:, i],
                                          "standard_error": se[:, i], "t_statistic": tt[:, i], "p_value": p[:, i],
                                          "n": n}) for i, t in enumerate(traits)}


def munged(frames: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Each trait's summary statistics munged as the heritability stage munges them (``run_munge``:
    LDSC's filters, strand-ambiguous SNPs out, z from P), indexed by rsid."""
    from bma_genetics.heritability.api import run_munge

    cols = ["rsid", "effect_allele", "other_allele", "p_value", "beta", "n"]
    return {t: run_munge(f[cols]).table.set_index("rsid") for t, f in frames.items()}


def pooled_intercept(munged: dict[str, pd.DataFrame], ld, variants: pd.Series, per_trait: int | None = None) -> dict:
    """LDSC on the pooled χ² (mean over every trait) of the variants in ``variants`` (rsids) and on
    each of the first ``per_trait`` traits (all: None): intercepts with SEs, the mean of the
    per-trait ones with SD/√K."""
    import warnings

    from bma_genetics.heritability.api import run_h2

    wanted = set(variants)
    common = sorted(set.intersection(*(set(m.index) for m in munged.values())) & wanted)
    keep = {t: m.loc[common] for t, m in munged.items()}
    # the pooled chi^2: per variant the mean z^2 (munge's, from P) over the traits; z's sign is
    # irrelevant to h2
    chi2 = np.mean([m["z"].to_numpy() ** 2 for m in keep.values()], axis=0)
    pooled = next(iter(keep.values())).assign(z=np.sqrt(chi2)).reset_index()
    keep = {t: m.reset_index() for t, m in keep.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # h2 < 0 on the null chromosomes is expected (slope 0)
        per = run_h2(dict(list(keep.items())[:per_trait]), ld).table
        pool = run_h2({"pooled": pooled}, ld).table.iloc[0]
    icpt = per["intercept"].to_numpy()
    return {"pooled_intercept": round(float(pool["intercept"]), 4),
            "pooled_intercept_se": round(float(pool["intercept_standard_error"]), 4),
            "pooled_mean_chisq": round(float(pool["mean_chisq"]), 4),
            "pooled_h2": round(float(pool["h2"]), 4), "pooled_h2_se": round(float(pool["h2_standard_error"]), 4),
            "mean_trait_intercept": round(float(icpt.mean()), 4),
            "mean_trait_intercept_naive_se": round(float(icpt.std(ddof=1) / np.sqrt(len(icpt))), 4),
            "trait_intercept_se_median": round(float(per["intercept_standard_error"].median()), 4),
            "trait_intercept_range": [round(float(icpt.min()), 3), round(float(icpt.max()), 3)],
            "nsnp": int(pool["nsnp"])}


def block_jackknife(chi2: np.ndarray, n_blocks: int = 100) -> dict:
    """λGC (median / 0.4549) and mean of a (traits x variants) χ² array, each with a delete-one-block
    jackknife SE over ``n_blocks`` contiguous blocks of variants (the variants are in genome order,
    so a block carries its LD; the independence formula 2.33 / √(K·M) would ignore it)."""
    med = stats.chi2.ppf(0.5, 1)
    est = {"lambda_gc": float(np.median(chi2) / med), "mean_chisq": float(chi2.mean())}
    edges = np.linspace(0, chi2.shape[1], n_blocks + 1).astype(int)
    dele = {k: [] for k in est}
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        rest = np.concatenate([chi2[:, :lo], chi2[:, hi:]], axis=1)
        dele["lambda_gc"].append(np.median(rest) / med)
        dele["mean_chisq"].append(rest.mean())
    out = {}
    for k, v in est.items():
        d = np.asarray(dele[k])
        out[k] = round(v, 4)
        out[f"{k}_se"] = round(float(np.sqrt((n_blocks - 1) / n_blocks * np.sum((d - d.mean()) ** 2))), 4)
    return out


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=None, help="default: a new temporary folder")
    ap.add_argument("--preset", choices=("ukb", "dense"), default="ukb")
    ap.add_argument("--chromosomes", type=int, default=10, help="the first half causal, the second half null")
    ap.add_argument("--variants", type=int, default=2000, help="per chromosome")
    ap.add_argument("--traits", type=int, default=150)
    ap.add_argument("--h2", type=float, default=0.5)
    ap.add_argument("--block-size", type=int, default=1000)
    ap.add_argument("--window", default="1000kb", help="LD score window")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--per-trait", type=int, default=30, help="LDSC per trait on the first N traits (the pooled "
                    "estimate uses all)")
    ap.add_argument("--resume", action="store_true")
    args = ap.parse_args(argv)

    from bma_genetics.gwas.regenie import run_step1
    from bma_genetics.heritability.api import run_ldscore
    from bma_genetics.io import read_kinship, read_loco_predictions, unrelated_set
    from bma_genetics.ld.readers import PlinkReader
    from bma_genetics.simulate.relatives import relatives_preset, simulate_related_cohort

    out = args.out or Path(tempfile.mkdtemp(prefix="loco_ldsc_"))
    out.mkdir(parents=True, exist_ok=True)
    progress = _Progress(out / "progress.log")
    settings = {k: v for k, v in vars(args).items() if k not in ("out", "resume", "per_trait")}
    stamp = out / "settings.json"
    if args.resume and stamp.exists() and json.loads(stamp.read_text()) != settings:
        raise SystemExit(f"{out} was made with other settings ({stamp}); use another --out")
    stamp.write_text(json.dumps(settings, indent=1))

    cohort = out / "cohort"
    if not (args.resume and (cohort / "truth" / "relatives.json").exists()):
        _timed(progress, "simulate", simulate_related_cohort, cohort, **relatives_preset(args.preset),
               n_chromosomes=args.chromosomes, variants_per_chromosome=args.variants, h2=args.h2,
               n_traits=args.traits, founder_ld=True, seed=args.seed)
    meta = json.loads((cohort / "truth" / "relatives.json").read_text())
    bfile = cohort / "relatives"
    ph = pd.read_csv(cohort / "pheno.tsv", sep="\t", dtype={"IID": str}).drop(columns="FID").rename(columns={"IID": "eid"})
    cv = pd.read_csv(cohort / "covar.tsv", sep="\t", dtype={"IID": str}).drop(columns="FID").rename(columns={"IID": "eid"})
    table = ph.merge(cv, on="eid")
    traits = [t for t in ph.columns if t.startswith("trait_")]
    covs = ["sex", "age"]
    null_chroms = set(meta["null_chromosomes"])

    if args.resume and (out / "step1" / "step1_pred.list").exists():
        step1_table = pd.read_csv(out / "step1" / "step1_summary.tsv", sep="\t")
        predictions = read_loco_predictions(out / "step1" / "step1_pred.list")
    else:
        step1 = _timed(progress, "step1", run_step1, table, bfile=bfile, traits=traits, covariates=covs,
                       block_size=args.block_size, seed=args.seed, out=out / "step1")
        step1_table, predictions = step1.to_frame(), step1.predictions

    kin = read_kinship(cohort / "ukb_rel.dat")
    kept = set(table["eid"]) - unrelated_set(kin, table["eid"])
    reader = PlinkReader(bfile)
    var = reader.variants
    frames: dict[str, dict[str, pd.DataFrame]] = {}
    factors = None
    (out / "step2").mkdir(exist_ok=True)
    for name, tab, loco, k in (("keep_loco", table, predictions, kin),
                               ("keep_loco_uncalibrated", table, predictions, None),
                               ("keep_plain", table, None, None),
                               ("drop", table[table["eid"].isin(kept)], None, None)):
        path = out / "step2" / f"{name}.parquet"
        if args.resume and path.exists():
            long = pd.read_parquet(path)
        else:
            run = _timed(progress, f"step2 {name}", BatchedStep2, bfile, tab, traits, covs, loco, kinship=k)
            long = pd.concat([s.assign(trait=t, rsid=var["rsid"].to_numpy(), effect_allele=var["a1"].to_numpy(),
                                       other_allele=var["a2"].to_numpy()) for t, s in run.sumstats.items()])
            long.to_parquet(path)
            if run.factors:
                pd.Series({f"{t}|{c}": v for (t, c), v in run.factors.items()}).to_csv(out / "step2" / "factors.tsv",
                                                                                       sep="\t", header=False)
        frames[name] = {t: g.reset_index(drop=True) for t, g in long.groupby("trait", sort=False)}
    if (out / "step2" / "factors.tsv").exists():
        factors = pd.read_csv(out / "step2" / "factors.tsv", sep="\t", header=None)[1].to_numpy()

    ld_dir = out / "ld"
    if args.resume and (ld_dir / "done").exists():
        ld = str(ld_dir)
    else:
        res = _timed(progress, "ld scores", run_ldscore, reader, window=args.window, chromosomes=None, out=ld_dir)
        (ld_dir / "done").write_text("")
        ld = res.scores
    from bma_genetics.heritability.api import _ld

    scores = _ld(ld, "ld")
    l2 = scores.table[scores.score_columns[0]].to_numpy()
    null_ids = var.loc[var["chromosome"].astype(str).isin(null_chroms), "rsid"]
    report: dict = {"settings": settings, "n_samples": meta["n_samples"], "n_unrelated_set": len(kept),
                    "n_variants": meta["n_variants"], "n_null_variants": int(len(null_ids)),
                    "share_with_listed_relative": meta["share_with_listed_relative"],
                    "n_related_pairs_listed": meta["n_related_pairs_listed"], "roles": meta["roles"],
                    "ld_score": {"mean": round(float(l2.mean()), 2), "sd": round(float(l2.std()), 2),
                                 "min": round(float(l2.min()), 2), "max": round(float(l2.max()), 2)},
                    "step1_cv_r2_mean": round(float(step1_table["cv_r2"].mean()), 4)}
    if factors is not None:
        report["relatedness_factor"] = {"mean": round(float(factors.mean()), 4), "min": round(float(factors.min()), 4),
                                        "max": round(float(factors.max()), 4)}
    t0, c0 = time.perf_counter(), time.process_time()
    for name in RUNS:
        sets = list(frames[name].values())
        lam, se, k = lambda_pooled(sets, null_chroms)
        mg = munged(frames[name])
        nullc = np.stack([stats.chi2.isf(s.loc[s["chromosome"].astype(str).isin(null_chroms), "p_value"], 1)
                          for s in sets])
        jk = block_jackknife(nullc)
        report[name] = {"lambda_gc_null_pooled": round(lam, 4), "lambda_se_jackknife": jk["lambda_gc_se"],
                        "lambda_se_if_independent": round(se, 4), "null_tests": k,
                        "mean_chisq_null": jk["mean_chisq"], "mean_chisq_null_se": jk["mean_chisq_se"],
                        "ldsc_null_chromosomes": pooled_intercept(mg, scores, null_ids, args.per_trait),
                        "ldsc_all_chromosomes": pooled_intercept(mg, scores, var["rsid"], args.per_trait)}
        r = report[name]
        print(f"{name:24s} lambda {lam:.4f} ({jk['lambda_gc_se']:.4f})  intercept null {r['ldsc_null_chromosomes']['pooled_intercept']:.4f} "
              f"({r['ldsc_null_chromosomes']['pooled_intercept_se']:.4f})  all {r['ldsc_all_chromosomes']['pooled_intercept']:.4f} "
              f"({r['ldsc_all_chromosomes']['pooled_intercept_se']:.4f})", flush=True)
    progress("ldsc", time.perf_counter() - t0, time.process_time() - c0)
    report["stats_chi2_median"] = float(stats.chi2.ppf(0.5, 1))
    (out / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()

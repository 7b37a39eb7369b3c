"""GWAS: bma-genetics on Hail vs plink2 ``--glm`` on the same genotypes and covariates.

Usage::

    python benchmarks/gwas_vs_plink2.py [COHORT_DIR] [--preset demo] [--block-size 128] [--linear-engine both]

With no cohort directory the ``demo`` preset is simulated into a temporary folder. Prints the
wall-time ratio ours/plink2, the ratio of our association to a bare Hail scan of the same
genotypes, and the largest relative difference in beta and SE (alleles aligned), for each linear engine
(``groups``, ``projection``; ``both`` by default, timed in the same run). plink2 is
Debian's ``plink2``, unpacked under ``.peers/`` (``benchmarks.peers.apt_binary``).

The helpers :func:`plink2_binary` and :func:`run_plink2_glm` are also used by the oracle tests.
"""

from __future__ import annotations

import argparse
import os
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

from benchmarks.peers import apt_binary  # noqa: E402

#: plink2's runtime libraries (Debian's plink2 links LAPACK/BLAS/gfortran dynamically).
_LIBS = [("liblapack3", "liblapack.so.3"), ("libblas3", "libblas.so.3"), ("libgfortran5", "libgfortran.so.5")]


def plink2_binary() -> tuple[Path, dict[str, str]]:
    """The plink2 executable and the environment it needs (library path to unpacked .debs)."""
    exe = apt_binary("plink2", "plink2")
    env = dict(os.environ)
    probe = subprocess.run([str(exe), "--version"], capture_output=True, text=True, env=env)
    if probe.returncode != 0:
        dirs = [str(apt_binary(pkg, lib).parent) for pkg, lib in _LIBS]
        env["LD_LIBRARY_PATH"] = ":".join([*dirs, env.get("LD_LIBRARY_PATH", "")]).rstrip(":")
        probe = subprocess.run([str(exe), "--version"], capture_output=True, text=True, env=env)
        if probe.returncode != 0:
            from benchmarks.peers import PeerUnavailable

            raise PeerUnavailable(f"plink2 does not run here: {probe.stderr[-500:]}")
    return exe, env


def write_plink2_tables(pheno: pd.DataFrame, traits: list[str], covariates: list[str], out: Path) -> tuple[Path, Path]:
    """plink2 ``--pheno``/``--covar`` files (FID = IID = eid, ``NA`` missing)."""
    ids = pheno["eid"].astype(str)
    base = pd.DataFrame({"#FID": ids, "IID": ids})
    p = out / "pheno.tsv"
    c = out / "covar.tsv"
    pd.concat([base, pheno[traits].reset_index(drop=True)], axis=1).to_csv(p, sep="\t", index=False, na_rep="NA")
    pd.concat([base, pheno[covariates].reset_index(drop=True)], axis=1).to_csv(c, sep="\t", index=False, na_rep="NA")
    return p, c


def run_plink2_glm(
    genotypes: list[str],
    pheno: pd.DataFrame,
    traits: list[str],
    covariates: list[str],
    out: Path,
    *,
    threads: int = 1,
    modifiers: tuple[str, ...] = (),
    extra: tuple[str, ...] = (),
    standardize: bool = True,
    hide_covar: bool = True,
) -> tuple[dict[str, pd.DataFrame], float]:
    """Run ``plink2 --glm omit-ref hide-covar`` and return ``{trait: results}`` and wall seconds.

    ``genotypes`` are plink2's input flags, e.g. ``["--bfile", prefix]`` or
    ``["--bgen", f, "ref-first", "--sample", s]``. ``omit-ref`` makes A1 the ALT allele, the
    allele our dosage counts. ``standardize=False`` leaves the covariates as given (an
    interaction term's beta is per unit of its covariate); ``hide_covar=False`` keeps the
    covariate and interaction rows (``TEST`` column), which ``hide-covar`` drops.
    """
    exe, env = plink2_binary()
    out.mkdir(parents=True, exist_ok=True)
    p, c = write_plink2_tables(pheno, traits, covariates, out)
    cmd = [str(exe), *genotypes, "--pheno", str(p), "--covar", str(c), "--no-psam-pheno",
           "--glm", "omit-ref", *(["hide-covar"] if hide_covar else []), *modifiers, "cols=+a1freq,+beta", "--threads", str(threads), *extra,
           # rescaling covariates leaves the genotype's beta/SE/P unchanged (an intercept is in)
           # and avoids plink2's refusal when covariate scales differ widely (age^2 vs PCs)
           *(["--covar-variance-standardize"] if standardize else []),
           # age, age^2 and age x sex are correlated by construction; plink2's collinearity
           # guards (VIF 50, max-corr 0.999) would refuse the standard UK Biobank covariates
           "--vif", "100000", "--max-corr", "0.99999",
           # plink2 reserves half the RAM by default; on a shared machine that can fail (SIGBUS)
           "--memory", "2048",
           "--out", str(out / "plink2")]
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - t0
    if res.returncode != 0:
        raise RuntimeError(f"plink2 failed: {res.stdout[-1500:]}\n{res.stderr[-1500:]}")
    results = {}
    for t in traits:
        found = sorted(out.glob(f"plink2.{t}.glm.*"))
        if found:
            results[t] = pd.read_csv(found[0], sep="\t", na_values=["NA"], dtype={"#CHROM": str})
    return results, seconds


def compare(ours: pd.DataFrame, plink: pd.DataFrame, keep: set[tuple[str, int]] | None = None) -> dict[str, float]:
    """Largest relative differences (beta, SE, P) after aligning on position and A1 = effect allele;
    ``keep``: only these (chromosome, position) pairs (e.g. INFO >= 0.8, as the study's QC)."""
    m = ours.merge(plink, left_on=["chromosome", "base_pair_location", "effect_allele"],
                   right_on=["#CHROM", "POS", "A1"])
    if keep is not None:
        m = m[[(c, p) in keep for c, p in zip(m["chromosome"].astype(str), m["base_pair_location"], strict=True)]]
    m = m[np.isfinite(m["BETA"]) & (m["P"] > 1e-300)]
    # relative differences are meaningful where the estimate is away from 0 (|t| >= 1) and the
    # allele not rare (plink2 stores BGEN dosages at 1/16384, which matters most for rare ones)
    common = m[(np.minimum(m["A1_FREQ"], 1 - m["A1_FREQ"]) >= 0.01) & (np.abs(m["T_STAT"]) >= 1)]

    def rel(d, a, b):
        return float(np.max(np.abs(d[a] - d[b]) / np.abs(d[b]))) if len(d) else float("nan")

    return {"n_compared": len(m), "n_common": len(common), "beta": rel(common, "beta", "BETA"),
            "standard_error": rel(common, "standard_error", "SE"), "p_value": rel(common, "p_value", "P"),
            "beta_diff_in_se_all": float(np.max(np.abs(m["beta"] - m["BETA"]) / m["SE"])) if len(m) else float("nan"),
            "standard_error_all": rel(m, "standard_error", "SE")}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("cohort", nargs="?", help="cohort directory (default: simulate --preset)")
    ap.add_argument("--preset", default="demo")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--block-size", type=int, default=128)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--linear-engine", choices=["groups", "projection", "both"], default="both",
                    help="run_gwas's linear engine; 'both' times each in the same run (agreement is checked for each)")
    ap.add_argument("--binary", action="store_true",
                    help="also a binary trait (top 20%% of the first trait): logistic with Firth fallback vs Firth on "
                         "every variant vs plink2 --glm firth-fallback")
    args = ap.parse_args(argv)

    from bma_genetics._hail import init_hail
    from bma_genetics.gwas.api import cohort_phenotypes
    from bma_genetics.gwas.association import run_gwas
    from bma_genetics.gwas.inputs import read_bgen

    work = Path(tempfile.mkdtemp(prefix="bench-gwas-"))
    cohort = Path(args.cohort) if args.cohort else None
    if cohort is None:
        from bma_genetics.simulate import simulate_cohort

        cohort = work / "cohort"
        simulate_cohort(args.preset, seed=args.seed, out=cohort)
    hl = init_hail(master=f"local[{args.threads}]", tmp_dir=work / "tmp", log_dir=work / "log")
    # the participants stage's table (sample QC), then the analysis table from it, as the pipeline does
    from bma_genetics.io import run_participants

    def opt(rel: str) -> Path | None:
        return cohort / rel if (cohort / rel).exists() else None

    parts = run_participants(cohort / "participants" / "ukb_showcase.csv", withdrawals=opt("participants/withdrawals.csv"),
                             kinship=opt("genotypes/ukb_rel.dat"), phenotype=opt("participants/bmff_idp.parquet"),
                             diagnoses=False, progress=False)
    pheno, covariates, traits = cohort_phenotypes(parts.participants, idp=cohort / "participants" / "bmff_idp.parquet")
    # the autosomes: plink2 adds sex on chrX (and on PAR without --split-par) where sex is
    # already a covariate, and refuses the singular design (VIF_INFINITE)
    bgens = sorted(b for b in (cohort / "genotypes" / "imputed").glob("*.bgen")
                   if not any(f"_c{c}_" in b.name for c in ("X", "XY", "Y", "MT")))
    sample = bgens[0].with_suffix(".sample")

    # plink2 on the same BGEN (ref-first: allele 1 = REF, so ALT = allele 2 = our effect allele)
    pl_results: dict[str, list[pd.DataFrame]] = {t: [] for t in traits}
    t_plink = 0.0
    for b in bgens:
        res, sec = run_plink2_glm(["--bgen", str(b), "ref-first", "--sample", str(sample)],
                                  pheno, traits, covariates, work / "plink2" / b.stem, threads=args.threads)
        t_plink += sec
        for t, df in res.items():
            pl_results[t].append(df)

    # ours: native MatrixTable cache first (a one-off conversion, timed separately)
    t0 = time.perf_counter()
    mt = read_bgen(str(cohort / "genotypes" / "imputed" / "*.bgen"), sample=sample, index_dir=work / "idx")
    mt = mt.filter_rows(~hl.literal({"X", "Y", "MT"}).contains(mt.locus.contig))
    mt = mt.checkpoint(str(work / "geno.mt"))
    t_convert = time.perf_counter() - t0
    mt = hl.read_matrix_table(str(work / "geno.mt"))
    t0 = time.perf_counter()
    mt.annotate_rows(_sum=hl.agg.sum(mt.dosage))._force_count_rows()  # bare scan of the same entries
    t_scan = time.perf_counter() - t0
    engines = ["groups", "projection"] if args.linear_engine == "both" else [args.linear_engine]
    timed: dict[str, float] = {}
    results = {}
    for engine in engines:
        t0 = time.perf_counter()
        results[engine] = run_gwas(mt, pheno, traits=traits, covariates=covariates, block_size=args.block_size,
                                   chunk_by="all", out=None, linear_engine=engine)
        timed[engine] = time.perf_counter() - t0

    def agreement(keep, ours):
        worst = {"beta": 0.0, "standard_error": 0.0, "p_value": 0.0, "beta_diff_in_se_all": 0.0,
                 "standard_error_all": 0.0}
        n_cmp = n_common = 0
        for t in traits:
            if not pl_results[t]:
                continue
            c = compare(ours.sumstats[t], pd.concat(pl_results[t], ignore_index=True), keep)
            n_cmp += c["n_compared"]
            n_common += c["n_common"]
            for k in worst:
                worst[k] = max(worst[k], c[k])
        return worst, n_cmp, n_common

    mfi = sorted((cohort / "genotypes" / "imputed").glob("ukb_mfi_chr*_v3.txt"))
    good = None
    if mfi:
        info = pd.concat([pd.read_csv(f, sep="\t", header=None, usecols=[0, 2, 7], names=["id", "pos", "info"])
                          for f in mfi])
        info = info[info["info"] >= 0.8]
        good = set(zip(info["id"].str.split(":").str[0], info["pos"].astype(int), strict=True))
    first = results[engines[0]]
    n_var = len(next(iter(first.sumstats.values())))
    print(f"cohort {cohort}: {first.samples['analysed']} samples x {n_var} variants x {len(traits)} traits, "
          f"{len(covariates)} covariates")
    print(f"plink2 --glm ({args.threads} threads): {t_plink:.2f} s")
    print(f"bare Hail scan: {t_scan:.2f} s (+ one-off BGEN -> MatrixTable {t_convert:.2f} s)")
    for engine in engines:
        ours, t_ours = results[engine], timed[engine]
        print(f"bma-genetics run_gwas (Hail, linear_engine={engine}, block_size {args.block_size}): {t_ours:.2f} s")
        print(f"  ratio ours/plink2: {t_ours / t_plink:.2f}")
        print(f"  ratio ours/bare scan: {t_ours / t_scan:.2f}")
        worst, n_cmp, n_common = agreement(None, ours)
        print(f"  max relative diff, {n_common} variant-traits with MAF >= 1% and |t| >= 1: beta {worst['beta']:.2e}, "
              f"SE {worst['standard_error']:.2e}, P {worst['p_value']:.2e}")
        print(f"  all {n_cmp} variant-traits: max |delta beta| / SE {worst['beta_diff_in_se_all']:.2e}, "
              f"max relative SE diff {worst['standard_error_all']:.2e} "
              "(plink2 prints 6 significant digits and stores BGEN dosages at 1/16384 precision)")
        if good is not None:
            w, n_c, n_m = agreement(good, ours)
            print(f"  INFO >= 0.8 (the study's QC), {n_m} variant-traits with MAF >= 1% and |t| >= 1: beta "
                  f"{w['beta']:.2e}, SE {w['standard_error']:.2e}, P {w['p_value']:.2e}; all {n_c}: max "
                  f"|delta beta| / SE {w['beta_diff_in_se_all']:.2e}")
    if args.binary:
        binary_benchmark(mt, pheno, traits[0], covariates, bgens, sample, work, args.threads, args.block_size)
    return 0


def binary_benchmark(mt, pheno: pd.DataFrame, trait: str, covariates: list[str], bgens: list[Path], sample: Path,
                     work: Path, threads: int, block_size: int) -> dict[str, float]:
    """A binary trait (the top 20 % of ``trait``): ``run_gwas`` with Firth fallback (plink2's rule)
    against Firth on every variant and plink2 ``--glm firth-fallback``; prints the times and the
    speed-up of the fallback over Firth everywhere."""
    from bma_genetics.gwas.association import run_gwas

    y = pheno[trait]
    pheno = pheno.assign(case=(y > y.quantile(0.8)).astype(float).where(y.notna()))
    t_pl = 0.0
    for b in bgens:
        _, sec = run_plink2_glm(["--bgen", str(b), "ref-first", "--sample", str(sample)], pheno, ["case"], covariates,
                                work / "plink2-binary" / b.stem, threads=threads, modifiers=("firth-fallback",),
                                extra=("--1",))
        t_pl += sec
    times = {}
    fits = {}
    for mode in ("fallback", "always"):
        t0 = time.perf_counter()
        fits[mode] = run_gwas(mt, pheno, traits=["case"], covariates=covariates, block_size=block_size,
                              chunk_by="all", out=None, firth=mode).sumstats["case"]
        times[mode] = time.perf_counter() - t0
    n_firth = int(fits["fallback"]["firth"].sum())
    both = fits["fallback"].merge(fits["always"], on=["chromosome", "base_pair_location", "effect_allele"])
    r = float(np.corrcoef(both["t_statistic_x"], both["t_statistic_y"])[0, 1])
    print(f"binary trait 'case' (top 20% of {trait}; {int(pheno['case'].sum())} cases), {len(fits['fallback'])} variants:")
    print(f"  logistic + Firth fallback: {times['fallback']:.2f} s (Firth at {n_firth} variants)")
    print(f"  Firth on every variant: {times['always']:.2f} s")
    print(f"  speed-up of the fallback over Firth on every variant: {times['always'] / times['fallback']:.1f}x "
          f"(Z correlation {r:.4f})")
    print(f"  plink2 --glm firth-fallback ({threads} threads): {t_pl:.2f} s")
    return {"fallback": times["fallback"], "always": times["always"], "plink2": t_pl}


if __name__ == "__main__":
    sys.exit(main())

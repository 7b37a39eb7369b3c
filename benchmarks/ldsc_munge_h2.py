"""munge + h2: bma-genetics vs LDSC 2.0.1 (own venv, ``benchmarks/ldsc_peer.py``), same files, same run.

Input: summary statistics in LDSC's plain layout (``CHR BP SNP A1 A2 BETA SE P N FRQ``) and an LD-score
folder in LDSC's per-chromosome layout; by default a synthetic set (``--snps``
500,000 SNPs over 22 chromosomes, chi^2 drawn from the LDSC model with h2 0.3 and N 40,000),
or ``--sumstats FILE --ld-scores DIR`` (e.g. a demo GWAS converted with the columns above).
Each tool munges the same file and estimates h2 against the same LD scores (LDSC: its two
scripts as a user runs them, each a new interpreter; ours: ``read_sumstats`` + ``run_munge`` (with
the ``.sumstats.gz`` written) + ``run_h2`` (LD scores read from the folder) in-process). The two
alternate ``--repeat`` times (default 3) so that the machine's load falls on both alike; prints
every round, the best time of each and their ratio, the h2 estimates of both, the load average,
and what starting LDSC's interpreter with its imports costs (part of each of its two scripts).

    python benchmarks/ldsc_munge_h2.py [--snps 500000] [--repeat 3] [--sumstats F --ld-scores D]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.ldsc_peer import ldsc_munge, ldsc_regression, ldsc_scripts  # noqa: E402


def _synthetic(folder: Path, n_snps: int, seed: int = 1) -> tuple[Path, Path]:
    from bma_genetics.io.ldsc import LDScores, write_ld_scores

    rng = np.random.default_rng(seed)
    chrom = np.sort(rng.integers(1, 23, n_snps)).astype(str)
    pos = np.concatenate([np.sort(rng.choice(250_000_000, (chrom == c).sum(), replace=False))
                          for c in dict.fromkeys(chrom)])
    rsid = np.char.add("rs", np.arange(1, n_snps + 1).astype(str))
    l2 = rng.gamma(2.0, 50.0, n_snps)
    m = {c: float((chrom == c).sum()) for c in dict.fromkeys(chrom)}
    write_ld_scores(LDScores(pd.DataFrame({"chromosome": chrom, "rsid": rsid, "base_pair_location": pos,
                                           "l2": l2}), m, m), folder / "ld")
    n, h2, m_tot = 40_000, 0.3, float(n_snps)
    z = rng.standard_normal(n_snps) * np.sqrt(1.0 + n * h2 * l2 / m_tot)
    from scipy import stats

    a1 = rng.choice(list("ACGT"), n_snps)
    a2 = np.array([{"A": "G", "C": "T", "G": "A", "T": "C"}[x] for x in a1])
    frq = rng.uniform(0.02, 0.98, n_snps)
    table = pd.DataFrame({"CHR": chrom, "BP": pos, "SNP": rsid, "A1": a1, "A2": a2, "BETA": z / np.sqrt(n), "SE": 1 / np.sqrt(n), "P": stats.chi2.sf(z ** 2, 1),
                          "N": n, "FRQ": frq})
    path = folder / "trait.txt"
    table.to_csv(path, sep="\t", index=False, float_format="%.6g")
    return path, folder / "ld"


def _ours(sumstats: Path, ld: Path, out: Path) -> tuple[list[float], Any, int]:
    """read_sumstats, run_munge (+ write), run_h2: the times after each, the h2 row, SNPs munged."""
    from bma_genetics.heritability.api import run_h2, run_munge
    from bma_genetics.io import read_sumstats

    t0 = time.perf_counter()
    ss = read_sumstats(sumstats, format="table", columns={
        "rsid": "SNP", "effect_allele": "A1", "other_allele": "A2", "beta": "BETA", "standard_error": "SE",
        "p_value": "P", "n": "N", "effect_allele_frequency": "FRQ", "chromosome": "CHR", "base_pair_location": "BP"})
    t1 = time.perf_counter()
    munged = run_munge(ss, out=out)
    t2 = time.perf_counter()
    row = run_h2({"trait": munged}, ld).table.iloc[0]
    t3 = time.perf_counter()
    return [t1 - t0, t2 - t1, t3 - t2], row, len(munged.table)


def _children_cpu() -> float:
    """User + system CPU seconds of this process's finished children (LDSC's scripts)."""
    import resource

    use = resource.getrusage(resource.RUSAGE_CHILDREN)
    return use.ru_utime + use.ru_stime


def _interpreter_start() -> float:
    """Seconds LDSC's interpreter takes to start and import what its scripts import."""
    import subprocess

    py = ldsc_scripts()["python"]
    t0 = time.perf_counter()
    subprocess.run([str(py), "-c", "import numpy, pandas, scipy.stats, bitarray"], check=True)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--snps", type=int, default=500_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--sumstats", type=Path)
    ap.add_argument("--ld-scores", type=Path)
    args = ap.parse_args(argv)
    import bma_genetics.heritability.api  # noqa: F401  (imported once, outside the timings)
    import bma_genetics.io  # noqa: F401

    with tempfile.TemporaryDirectory() as tmp:
        w = Path(tmp)
        if args.sumstats is not None:
            sumstats, ld = args.sumstats, args.ld_scores
        else:
            sumstats, ld = _synthetic(w, args.snps)
        n_rows = sum(1 for _ in open(sumstats)) - 1
        load = os.getloadavg()[0]
        peer, mine = [], []
        cpu_peer, cpu_mine = [], []
        ldsc_scripts()  # installs the peer once, outside the timings
        for r in range(max(1, args.repeat)):
            c0 = _children_cpu()
            t0 = time.perf_counter()
            munged = ldsc_munge(sumstats, w / f"peer{r}")
            t1 = time.perf_counter()
            theirs = ldsc_regression(["--h2", str(munged), "--ref-ld-chr", f"{ld}/", "--w-ld-chr", f"{ld}/",
                                      "--out", str(w / f"peer_h2_{r}")])
            t2 = time.perf_counter()
            cpu_peer.append(_children_cpu() - c0)
            peer.append([t1 - t0, t2 - t1])
            c0 = time.process_time()
            times, ours, n_munged = _ours(sumstats, ld, w / f"ours{r}.sumstats.gz")
            cpu_mine.append(time.process_time() - c0)
            mine.append(times)
            print(f"round {r + 1}: ldsc 2.0.1 {t2 - t0:6.2f} s (munge {t1 - t0:.2f}, h2 {t2 - t1:.2f}; CPU "
                  f"{cpu_peer[-1]:.2f}); bma-genetics {sum(times):6.2f} s (read_sumstats {times[0]:.2f}, munge + "
                  f"write {times[1]:.2f}, h2 {times[2]:.2f}; CPU {cpu_mine[-1]:.2f}); {(t2 - t0) / sum(times):.1f}x")
        start = _interpreter_start()
        load = max(load, os.getloadavg()[0])
    bp, bm = min(peer, key=sum), min(mine, key=sum)
    peer_t, our_t = sum(bp), sum(bm)
    print(f"{n_rows:,} SNPs in, {n_munged:,} munged; load average up to {load:.1f}")
    print(f"ldsc 2.0.1   best of {len(peer)}: munge {bp[0]:6.2f} s  h2 {bp[1]:6.2f} s  total {peer_t:6.2f} s  "
          f"h2 = {theirs['h2']:.5f} ({theirs['h2_se']:.5f})")
    print(f"bma-genetics best of {len(mine)}: munge {bm[0] + bm[1]:6.2f} s  h2 {bm[2]:6.2f} s  total {our_t:6.2f} s  "
          f"h2 = {ours['h2']:.5f} ({ours['h2_standard_error']:.5f})")
    print(f"  of which read_sumstats {bm[0]:.2f} s, munge + write {bm[1]:.2f} s; LDSC's interpreter start and "
          f"imports {start:.2f} s per script (2 scripts)")
    print(f"speed-up: {peer_t / our_t:.1f}x (munge {bp[0] / (bm[0] + bm[1]):.1f}x, h2 {bp[1] / bm[2]:.1f}x); "
          f"CPU time (all threads; LDSC's interpreters included), best of each: {min(cpu_peer):.2f} s vs "
          f"{min(cpu_mine):.2f} s, {min(cpu_peer) / min(cpu_mine):.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

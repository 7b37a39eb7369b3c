"""munge + h2: bma-genetics vs LDSC 2.0.1 (own venv, ``benchmarks/ldsc_peer.py``), same files, same run.

Input: summary statistics in LDSC's plain layout (``CHR BP SNP A1 A2 BETA SE P N FRQ``) and an LD-score
folder in LDSC's per-chromosome layout; by default a synthetic HapMap3-sized set (``--snps``
1,200,000 SNPs over 22 chromosomes, chi^2 drawn from the LDSC model with h2 0.3 and N 40,000),
or ``--sumstats FILE --ld-scores DIR`` (e.g. a demo GWAS converted with the columns above).
Each tool munges the same file and estimates h2 against the same LD scores (LDSC: its two
scripts as a user runs them; ours: ``read_sumstats`` + ``run_munge`` + ``run_h2`` in-process).
Prints both times, the ratio, and that the h2 estimates agree.

    python benchmarks/ldsc_munge_h2.py [--snps 1200000] [--sumstats F --ld-scores D]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.ldsc_peer import ldsc_munge, ldsc_regression  # noqa: E402


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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--snps", type=int, default=1_200_000)
    ap.add_argument("--sumstats", type=Path)
    ap.add_argument("--ld-scores", type=Path)
    args = ap.parse_args(argv)
    from bma_genetics.heritability.api import run_h2, run_munge
    from bma_genetics.io import read_sumstats

    with tempfile.TemporaryDirectory() as tmp:
        w = Path(tmp)
        if args.sumstats is not None:
            sumstats, ld = args.sumstats, args.ld_scores
        else:
            sumstats, ld = _synthetic(w, args.snps)
        n_rows = sum(1 for _ in open(sumstats)) - 1
        t0 = time.perf_counter()
        munged = ldsc_munge(sumstats, w / "peer")
        t1 = time.perf_counter()
        theirs = ldsc_regression(["--h2", str(munged), "--ref-ld-chr", f"{ld}/", "--w-ld-chr", f"{ld}/",
                                  "--out", str(w / "peer_h2")])
        t2 = time.perf_counter()
        ss = read_sumstats(sumstats, format="table", columns={
            "rsid": "SNP", "effect_allele": "A1", "other_allele": "A2", "beta": "BETA", "standard_error": "SE",
            "p_value": "P",
            "n": "N", "effect_allele_frequency": "FRQ", "chromosome": "CHR", "base_pair_location": "BP"})
        t_read = time.perf_counter()
        ours_m = run_munge(ss, out=w / "ours.sumstats.gz")
        t3 = time.perf_counter()
        ours = run_h2({"trait": ours_m}, ld).table.iloc[0]
        t4 = time.perf_counter()
    peer_t, our_t = t2 - t0, t4 - t2
    print(f"{n_rows:,} SNPs in, {len(ours_m.table):,} munged")
    print(f"ldsc 2.0.1   munge {t1 - t0:7.2f} s  h2 {t2 - t1:7.2f} s  total {peer_t:7.2f} s  "
          f"h2 = {theirs['h2']:.5f} ({theirs['h2_se']:.5f})")
    print(f"bma-genetics munge {t3 - t2:7.2f} s  h2 {t4 - t3:7.2f} s  total {our_t:7.2f} s  "
          f"h2 = {ours['h2']:.5f} ({ours['h2_standard_error']:.5f})")
    print(f"  of which read_sumstats {t_read - t2:.2f} s, munge + write {t3 - t_read:.2f} s")
    print(f"speed-up: {peer_t / our_t:.1f}x (munge {(t1 - t0) / (t3 - t2):.1f}x, h2 {(t2 - t1) / (t4 - t3):.1f}x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Partitioned h2: recovery of a planted enrichment from genotype-level simulations.

Genotypes with LD (an AR(1) latent per haplotype, its correlation drawn per block of 200 SNPs in
0.5-0.95; MAF 5-50 %), an annotation ``coding`` on runs of 10 SNPs (``--frac`` of them), per-SNP
effect variance ``--fold`` times higher on coding SNPs, total h2 ``--h2``; a quantitative trait,
its GWAS z (standardised genotypes), in-sample partitioned LD scores (``run_ldscore(annot=...)``,
100 kb) and ``run_partitioned_h2`` (M = all SNPs, disjoint overlap from the annotation itself).
Prints per replicate the coding enrichment (SE) against the truth ``fold / (1 + (fold - 1) frac)``,
its P and the total h2 (SE); then the mean estimate, the mean SE, the SD of the estimates and how
many replicates fall within 2 SE.

    python benchmarks/ldsc_partitioned_recovery.py [--reps 10] [--n 2000] [--m 8000] [--fold 5]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bma_genetics.ld.readers import GenotypeReader  # noqa: E402


class _Reader(GenotypeReader):
    """A dosage matrix (samples x SNPs) as a genotype reader (one chromosome)."""

    dosage_allele = "a1"

    def __init__(self, dose: np.ndarray, pos: np.ndarray):
        self._dose = dose
        self.samples = [str(i) for i in range(dose.shape[0])]
        ids = [f"rs{i}" for i in range(dose.shape[1])]
        self.variants = pd.DataFrame({"chromosome": "1", "rsid": ids, "variant_id": ids, "base_pair_location": pos,
                                      "a1": "A", "a2": "G", "cm": 0.0})

    def dosages(self, indices):
        return self._dose[:, np.asarray(indices)].astype(np.float64)


def replicate(seed: int, n: int, m: int, h2: float, frac: float, fold: float) -> dict:
    from scipy import stats

    from bma_genetics.heritability.api import run_ldscore, run_partitioned_h2

    rng = np.random.default_rng([seed, 15030])
    lat = np.empty((2 * n, m), dtype=np.float32)
    lat[:, 0] = rng.standard_normal(2 * n)
    rho = np.repeat(rng.uniform(0.5, 0.95, m // 200 + 1), 200)[:m]
    for j in range(1, m):
        lat[:, j] = rho[j] * lat[:, j - 1] + np.sqrt(1 - rho[j] ** 2) * rng.standard_normal(2 * n)
    hap = (lat < stats.norm.ppf(rng.uniform(0.05, 0.5, m))).astype(np.float32)
    dose = hap[:n] + hap[n:]
    coding = np.repeat(rng.random(m // 10 + 1) < frac, 10)[:m].astype(float)
    x = (dose - dose.mean(0)) / dose.std(0)
    var = 1.0 + (fold - 1) * coding
    beta = rng.standard_normal(m) * np.sqrt(h2 * var / var.sum())
    y = x @ beta + rng.standard_normal(n) * np.sqrt(1 - h2)
    z = x.T @ ((y - y.mean()) / y.std()) / np.sqrt(n)
    reader = _Reader(dose, np.arange(m) * 1000)
    ld = run_ldscore(reader, window="100kb", annot=pd.DataFrame({"rsid": reader.variants["rsid"], "base": 1.0,
                                                                  "coding": coding})).scores
    w = run_ldscore(reader, window="100kb").scores
    ss = pd.DataFrame({"rsid": reader.variants["rsid"], "effect_allele": "A", "other_allele": "G", "z": z, "n": float(n)})
    res = run_partitioned_h2({"t": ss}, ld, w_ld=w, m_common=False)
    row = res.table.set_index("Category").loc["codingL2_0"]
    tot = res.totals.iloc[0]
    return {"seed": seed, "enrichment": row["Enrichment"], "se": row["Enrichment_std_error"],
            "true": fold / (1 + (fold - 1) * coding.mean()), "p": row["Enrichment_p"], "h2": tot["h2"],
            "h2_se": tot["h2_standard_error"]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--m", type=int, default=8000)
    ap.add_argument("--h2", type=float, default=0.5)
    ap.add_argument("--frac", type=float, default=0.2)
    ap.add_argument("--fold", type=float, default=5.0)
    a = ap.parse_args(argv)
    rows = []
    for seed in range(1, a.reps + 1):
        t0 = time.perf_counter()
        r = replicate(seed, a.n, a.m, a.h2, a.frac, a.fold)
        rows.append(r)
        print(f"rep {seed}: enrichment {r['enrichment']:.2f} ({r['se']:.2f}) true {r['true']:.2f}, P {r['p']:.2g}; "
              f"h2 {r['h2']:.3f} ({r['h2_se']:.3f}) true {a.h2}; {time.perf_counter() - t0:.0f} s", flush=True)
    t = pd.DataFrame(rows)
    within = int((np.abs(t["enrichment"] - t["true"]) < 2 * t["se"]).sum())
    print(f"enrichment: mean {t['enrichment'].mean():.2f} (true {t['true'].mean():.2f}), mean SE {t['se'].mean():.2f}, "
          f"SD of estimates {t['enrichment'].std():.2f}; within 2 SE {within}/{len(t)}; P < 0.05 in "
          f"{int((t['p'] < 0.05).sum())}/{len(t)}; total h2 mean {t['h2'].mean():.3f} (true {a.h2})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

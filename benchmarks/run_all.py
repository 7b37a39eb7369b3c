"""`make bench`: run every benchmark against its peer, one after another, and print each ratio.

The demo cohort (`demo_cohort/`, made by `make demo` or simulated here on first use) feeds the
GWAS and PheWAS benchmarks; the demo's run (`runs/bmff-demo/`, made by `make demo`; BENCH_RUN
overrides it) feeds the LDSC munge + h2 benchmark, which uses a synthetic set without it. Pass names to run a subset: `python benchmarks/run_all.py phewas mr`.
Environment: BENCH_ROWS overrides the showcase-CSV rows of the UK Biobank read benchmark.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COHORT = Path(os.environ.get("BENCH_COHORT", ROOT / "demo_cohort"))
RUN = Path(os.environ.get("BENCH_RUN", ROOT / "runs" / "bmff-demo"))


def _ensure_cohort() -> Path:
    if not (COHORT / "cohort.json").exists():
        subprocess.run([sys.executable, "-m", "bma_genetics.cli", "simulate", "--preset", "demo",
                        "--seed", "1", "--out", str(COHORT), "--resume"], check=True)
    return COHORT


def _ldsc() -> list[str]:
    """The demo run's summary statistics and LD scores when `make demo` has made them."""
    if (RUN / "heritability" / "ld").exists():
        return ["benchmarks/ldsc_munge_h2.py", "--run", str(RUN)]
    print(f"no demo run at {RUN} (`make demo` makes it): the LDSC benchmark uses its synthetic set", flush=True)
    return ["benchmarks/ldsc_munge_h2.py"]


BENCHMARKS = {
    "ukb_read": lambda: ["benchmarks/ukb_read.py", "--rows", os.environ.get("BENCH_ROWS", "500000")],
    "gwas": lambda: ["benchmarks/gwas_vs_plink2.py", str(_ensure_cohort())],
    "gwas_cluster": lambda: ["benchmarks/gwas_cluster.py", str(_ensure_cohort()), "--chromosomes", "1", "2"],
    "phewas": lambda: ["benchmarks/phewas_vs_phetk.py", "--cohort", str(_ensure_cohort())],
    "mr": lambda: ["benchmarks/mr_vs_twosamplemr.py"],
    "enrichment": lambda: ["benchmarks/enrichment_genes.py"],
    "ldsc": _ldsc,
    "unet": lambda: ["benchmarks/unet_inference.py"],
    "loco": lambda: ["benchmarks/loco_relatives.py"],
    "loco_ldsc": lambda: ["benchmarks/loco_ldsc_intercept.py"],
    "loco_binary": lambda: ["benchmarks/loco_binary.py"],
    "scan_reliability": lambda: ["benchmarks/scan_reliability.py", str(_ensure_cohort())],
}


def main(argv: list[str]) -> int:
    names = argv or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s) {unknown}; choose from {list(BENCHMARKS)}", file=sys.stderr)
        return 2
    failed = []
    for name in names:
        args = BENCHMARKS[name]()
        print(f"\n=== {name}: {' '.join(args)}", flush=True)
        t0 = time.perf_counter()
        res = subprocess.run([sys.executable, *args], cwd=ROOT)
        print(f"=== {name}: exit {res.returncode} after {time.perf_counter() - t0:.0f} s", flush=True)
        if res.returncode:
            failed.append(name)
    if failed:
        print(f"failed: {failed}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

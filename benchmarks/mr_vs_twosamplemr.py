"""Speed of the MR estimator panel against pytwosamplemr, measured in the same run.

Runs IVW, MR-Egger, weighted median and weighted mode (1,000 bootstrap replicates each) on the
same harmonised data sets in both implementations and prints seconds per data set and the ratio.

    .venv/bin/python benchmarks/mr_vs_twosamplemr.py [--snps 200] [--sets 5]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.peers import peer_python  # noqa: E402

PEER = """
import json, sys, time
import pytwosamplemr as mr
d = json.loads(sys.stdin.read())
t = time.perf_counter()
for s in d["sets"]:
    o = mr.mr_input(bx=s["bx"], bxse=s["sx"], by=s["by"], byse=s["sy"])
    mr.mr_ivw(o); mr.mr_egger(o)
    mr.mr_median(o, weighting="weighted", iterations=1000)
    mr.mr_mbe(o, weighting="weighted", iterations=1000)
print(json.dumps({"seconds": time.perf_counter() - t}))
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--snps", type=int, default=200)
    ap.add_argument("--sets", type=int, default=5)
    args = ap.parse_args()
    rng = np.random.default_rng(1)
    sets = []
    for _ in range(args.sets):
        bx = rng.normal(0, 0.05, args.snps) + 0.02
        sx, sy = np.full(args.snps, 0.005), np.full(args.snps, 0.01)
        sets.append({"bx": (bx + rng.normal(0, sx)).tolist(), "sx": sx.tolist(),
                     "by": (0.3 * bx + rng.normal(0, sy)).tolist(), "sy": sy.tolist()})
    from bma_genetics.mr import MRParameters, mr_egger, mr_ivw, mr_weighted_median, mr_weighted_mode

    p = MRParameters(nboot=1000)
    t = time.perf_counter()
    for s in sets:
        a = tuple(np.asarray(s[k]) for k in ("bx", "by", "sx", "sy"))
        mr_ivw(*a, p), mr_egger(*a, p), mr_weighted_median(*a, p), mr_weighted_mode(*a, p)
    ours = time.perf_counter() - t
    py = peer_python("pytwosamplemr", ["pytwosamplemr"])
    res = subprocess.run([str(py), "-c", PEER], input=json.dumps({"sets": sets}), capture_output=True, text=True,
                         check=True)
    peer = json.loads(res.stdout.strip().splitlines()[-1])["seconds"]
    print(f"{args.sets} data sets x {args.snps} SNPs, IVW + Egger + weighted median + weighted mode (1000 boot)")
    print(f"bma_genetics.mr : {ours / args.sets:.3f} s per data set")
    print(f"pytwosamplemr   : {peer / args.sets:.3f} s per data set")
    print(f"ratio (peer / ours): {peer / ours:.1f}x")


if __name__ == "__main__":
    main()

"""GWAS on a 2-worker Spark standalone cluster against Spark local mode, same machine, same cohort.

Usage::

    python benchmarks/gwas_cluster.py [COHORT_DIR] [--traits bmff_femoral_head] [--chromosomes 1 2 3]
        [--workers 2] [--worker-memory 1g] [--out DIR]

Runs the same study (the ``participants`` and ``gwas`` stages of the study runner) twice, each
in a fresh process: ``hail.master: local[W]`` (W = workers x cores) and ``spark://127.0.0.1:<port>``
on a standalone cluster of ``--workers`` workers (``scripts/spark_cluster.py``, the Spark of the
``pyspark`` wheel, one core each). Prints each run's wall time (process start to end: the JVM
start, BGEN indexing, QC and association included) and the GWAS stage's own time, their ratio,
and whether the summary statistics are byte-identical. The figure is the cost of the cluster
path on one machine (task serialisation, executor JVMs, the network between driver and
executors), not a speed claim: a real cluster wins by having more machines.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from scripts.spark_cluster import StandaloneCluster  # noqa: E402


def _study(master: str, traits: list[str], chromosomes: list[str] | None) -> dict:
    gwas: dict = {"traits": traits, "chunk_by": "chromosome", "plots": False}
    if chromosomes:
        gwas["chromosomes"] = chromosomes
    return {"name": "gwas_cluster", "seed": 1, "hail": {"master": master},
            "stages": {"participants": {}, "gwas": gwas}}


def _run(study: dict, cohort: Path, out: Path) -> tuple[float, float]:
    """Wall time of the whole process, and the GWAS stage's own (from its summary)."""
    code = ("import json, sys\nfrom bma_genetics.pipeline import run_study\n"
            "run_study(json.loads(sys.argv[1]), cohort=sys.argv[2], out=sys.argv[3])\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg", "SPARK_LOCAL_IP": "127.0.0.1"}
    t0 = time.perf_counter()
    with open(out.parent / f"{out.name}.log", "wb") as log:
        subprocess.run([sys.executable, "-c", code, json.dumps(study), str(cohort), str(out)], env=env,
                       stdout=log, stderr=subprocess.STDOUT, check=True)
    wall = time.perf_counter() - t0
    summary = json.loads((out / "gwas" / "summary.json").read_text())
    return wall, float(summary["seconds"])


def _digests(run: Path) -> dict[str, str]:
    gwas = run / "gwas"
    return {str(p.relative_to(gwas)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(gwas.glob("*.tsv.gz"))}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("cohort", nargs="?", default=str(ROOT / "demo_cohort"))
    ap.add_argument("--traits", nargs="+", default=["bmff_femoral_head"])
    ap.add_argument("--chromosomes", nargs="+", default=None, help="default: every chromosome")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--worker-memory", default="1g",
                    help="memory each worker offers (an executor takes spark.executor.memory, 1g)")
    ap.add_argument("--out", default=None, help="where the two run directories go (default: a temp dir)")
    args = ap.parse_args(argv)
    cohort = Path(args.cohort)
    if not (cohort / "cohort.json").exists():
        print(f"gwas_cluster: {cohort} is not a cohort (simulate one: bma-genetics simulate --preset demo)",
              file=sys.stderr)
        return 2
    base = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="bma-gwas-cluster-"))
    base.mkdir(parents=True, exist_ok=True)
    from bma_genetics._hail import native_library_dir

    blas = native_library_dir()  # the executors get the OpenBLAS local mode's JVM gets
    env = {"LD_LIBRARY_PATH": str(blas), "OPENBLAS_NUM_THREADS": "1"} if blas else {}
    local_wall, local_stage = _run(_study(f"local[{args.workers}]", args.traits, args.chromosomes), cohort,
                                   base / "local")
    print(f"local[{args.workers}]: {local_wall:.1f} s wall, GWAS stage {local_stage:.1f} s", flush=True)
    t0 = time.perf_counter()
    with StandaloneCluster(args.workers, cores=1, memory=args.worker_memory, env=env,
                           work_dir=base / "spark", keep=True).start() as cluster:
        up = time.perf_counter() - t0
        study = _study(cluster.master_url, args.traits, args.chromosomes)
        cluster_wall, cluster_stage = _run(study, cohort, base / "cluster")
    print(f"standalone, {args.workers} workers x 1 core: cluster up in {up:.1f} s; {cluster_wall:.1f} s wall, "
          f"GWAS stage {cluster_stage:.1f} s", flush=True)
    same = _digests(base / "local") == _digests(base / "cluster")
    print(f"ratio cluster/local: wall {cluster_wall / local_wall:.2f}x, GWAS stage "
          f"{cluster_stage / local_stage:.2f}x; summary statistics byte-identical: {same}")
    print(f"runs in {base}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())

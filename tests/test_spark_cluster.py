"""The GWAS on a real Spark standalone cluster (issue 19): a master and two workers on 127.0.0.1
(``scripts/spark_cluster.py``, the Spark of the ``pyspark`` wheel), the study runner with
``hail.master: spark://127.0.0.1:<port>``, summary statistics byte-identical to local mode's;
a worker killed during the association pass and a driver killed mid-GWAS leave the same results.

These tests run with ``make test-cluster`` (``.ci/run`` runs it after ``make test``); plain
``make test`` / ``pytest`` skips them: they start six JVMs and five GWAS drivers (~5 min on
2 cores). Each GWAS runs in a subprocess of its own (one SparkContext per process: the test
session's local Hail context cannot also attach to the cluster).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.cluster,
    pytest.mark.skipif(os.environ.get("BMA_GENETICS_TEST_CLUSTER") != "1",
                       reason="starts a Spark standalone cluster: run with make test-cluster "
                              "(BMA_GENETICS_TEST_CLUSTER=1)"),
]

#: A reduced tiny study: one trait, three chromosomes each its own resumable chunk (the
#: per-chromosome checkpoints the driver-kill test resumes from), no plots.
CLUSTER_STUDY = {
    "name": "cluster",
    "seed": 1,
    "hail": {"master": "local[2]", "driver_memory": "2g"},
    "stages": {
        "participants": {},
        "gwas": {"traits": ["bmff_femoral_head"], "chunk_by": "chromosome", "chromosomes": ["1", "2", "3"],
                 "qc": {"min_info": 0.3}, "plots": False},
    },
}

#: What must be byte-identical between two runs: the GWAS stage's tables (summary statistics,
#: QC, loci), not its provenance (run paths, timings) nor Hail's native files.
def _products(run_dir: Path) -> dict[str, bytes]:
    gwas = run_dir / "gwas"
    out = {str(p.relative_to(gwas)): p.read_bytes() for p in sorted(gwas.rglob("*"))
           if p.is_file() and p.name.endswith((".tsv", ".tsv.gz", ".txt"))
           and not str(p.relative_to(gwas)).startswith(("hail", "chunks", "tmp", "."))}
    assert any(k.endswith(".tsv.gz") for k in out), sorted(out)
    return out


def _assert_identical(got: Path, want: Path) -> None:
    a, b = _products(got), _products(want)
    assert sorted(a) == sorted(b)
    differ = [k for k in b if a[k] != b[k]]
    assert not differ, f"differ from local mode byte for byte: {differ}"


def _study(master: str) -> dict:
    study = json.loads(json.dumps(CLUSTER_STUDY))
    study["hail"]["master"] = master
    return study


def _start(study: dict, cohort: Path, out: Path) -> subprocess.Popen:
    """The study in a subprocess (its own session: the driver and its JVM die together)."""
    import bma_genetics

    env = {**os.environ, "PYTHONPATH": str(Path(bma_genetics.__file__).parents[1]), "MPLBACKEND": "Agg",
           "SPARK_LOCAL_IP": "127.0.0.1"}
    env.pop("BMA_GENETICS_TEST_KILL_AT", None)
    code = ("import json, sys\nfrom bma_genetics.pipeline import run_study\n"
            "run_study(json.loads(sys.argv[1]), cohort=sys.argv[2], out=sys.argv[3])\n")
    out.parent.mkdir(parents=True, exist_ok=True)
    log = open(out.parent / f"{out.name}.driver.log", "ab")  # noqa: SIM115 - closed below
    try:
        return subprocess.Popen([sys.executable, "-c", code, json.dumps(study), str(cohort), str(out)], env=env,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    finally:
        log.close()


def _finish(p: subprocess.Popen, out: Path, timeout: float = 900) -> int:
    try:
        return p.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        raise


def _run(study: dict, cohort: Path, out: Path) -> Path:
    p = _start(study, cohort, out)
    rc = _finish(p, out)
    log = (out.parent / f"{out.name}.driver.log").read_text(errors="replace")
    assert rc == 0, log[-4000:]
    return out


def _wait_for(path: Path, p: subprocess.Popen, timeout: float = 900) -> None:
    """Until ``path`` exists (polled every 20 ms); fails if the driver ends first."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert p.poll() is None, f"the driver ended (code {p.returncode}) before {path} appeared"
        assert time.monotonic() < deadline, f"{path} did not appear in {timeout} s"
        time.sleep(0.02)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A master and two workers (1 core, 1 GiB each) for the module; stopped at its end."""
    from bma_genetics._hail import native_library_dir
    from scripts.spark_cluster import ClusterUnavailable, StandaloneCluster

    # the executors use the OpenBLAS local mode uses (as a cluster's nodes have their own)
    blas = native_library_dir()
    env = {"LD_LIBRARY_PATH": f"{blas}:{os.environ.get('LD_LIBRARY_PATH', '')}".rstrip(":"),
           "OPENBLAS_NUM_THREADS": "1"} if blas else {}
    c = StandaloneCluster(2, cores=1, memory="1g", env=env, work_dir=tmp_path_factory.mktemp("spark"), keep=True)
    try:
        c.start()
    except ClusterUnavailable as exc:
        pytest.skip(str(exc))
    yield c
    c.stop()


@pytest.fixture(scope="module")
def local_run(tiny_cohort, tmp_path_factory) -> Path:
    """The reduced study in Spark local mode (``local[2]``): the reference."""
    return _run(_study("local[2]"), tiny_cohort, tmp_path_factory.mktemp("local") / "run")


def test_study_on_a_standalone_cluster_is_byte_identical_to_local_mode(cluster, local_run, tiny_cohort, tmp_path):
    """The study runner and the GWAS stage with ``hail.master: spark://...``: both workers ran
    executors of the application, and every table the GWAS stage wrote equals local mode's byte
    for byte."""
    before = len(cluster.status().get("completedapps", []))
    run = _run(_study(cluster.master_url), tiny_cohort, tmp_path / "run")
    _assert_identical(run, local_run)
    deadline = time.monotonic() + 60  # the master marks the application finished when its driver is gone
    while len(done := cluster.status()["completedapps"]) == before and time.monotonic() < deadline:
        time.sleep(0.5)
    assert len(done) == before + 1 and done[-1]["name"] == "Hail", done
    app = done[-1]["id"]
    for i in range(2):  # an executor of the application on each worker
        assert (cluster.work_dir / f"worker{i}" / app).is_dir(), f"worker {i} ran no executor of {app}"


def test_a_driver_killed_mid_gwas_then_rerun_resumes_from_the_chromosome_checkpoints(
        cluster, local_run, tiny_cohort, tmp_path):
    """The driver (the Python process and its JVM) is SIGKILLed as soon as chromosome 1's
    results are committed (``gwas/chunks/chr1.done`` appears), mid-GWAS; the master drops the
    application and frees its executors. The rerun reuses the QC checkpoint and chromosome 1,
    computes the rest, and gives local mode's results byte for byte."""
    study = _study(cluster.master_url)
    out = tmp_path / "run"
    p = _start(study, tiny_cohort, out)
    _wait_for(out / "gwas" / "chunks" / "chr1.done", p)
    os.killpg(p.pid, signal.SIGKILL)
    assert p.wait(60) == -signal.SIGKILL
    assert not (out / "gwas" / ".done").exists() and (out / "gwas" / ".running").exists()
    size = (out / "run.log").stat().st_size
    _run(study, tiny_cohort, out)
    rerun = (out / "run.log").read_text()[size:]
    assert "resuming an interrupted attempt" in rerun
    assert "QC'd genotypes exist with the same settings; resumed" in rerun
    assert "chromosome 1: results exist with the same settings; resumed" in rerun
    _assert_identical(out, local_run)


def test_a_worker_killed_during_the_association_pass_is_survived(cluster, local_run, tiny_cohort, tmp_path):
    """Worker 0 and its executor are SIGKILLed (a node lost) when chromosome 2's association
    results start to be written (``gwas/hail/results_chr2.0.ht`` appears): the driver loses that
    executor, Spark reschedules its tasks on the other worker, and the run ends with local
    mode's results byte for byte. (Last in the module: one worker is left.)"""
    out = tmp_path / "run"
    p = _start(_study(cluster.master_url), tiny_cohort, out)
    _wait_for(out / "gwas" / "hail" / "results_chr2.0.ht", p)
    app = cluster.status()["activeapps"][0]["id"]
    assert (cluster.work_dir / "worker0" / app).is_dir()  # worker 0 runs an executor of the GWAS
    cluster.kill_worker(0)
    assert _finish(p, out) == 0, (out.parent / "run.driver.log").read_text(errors="replace")[-4000:]
    logs = (out.parent / "run.driver.log").read_text(errors="replace") + (out / "logs" / "hail.log").read_text()
    assert "Lost executor" in logs, "the driver never noticed the lost executor"
    assert cluster.alive_workers() == 1
    _assert_identical(out, local_run)

"""spark-submit, attaching to a running SparkContext, cluster-safe locations and the checks that
make a misconfigured cluster fail in seconds with one line (issue 19; docs/cluster/).

The unit tests need no JVM. The ``slow`` ones start their own Spark in a subprocess (spark-submit
in local mode, a SparkContext that Hail attaches to) beside the session's Hail.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from bma_genetics import _hail
from bma_genetics._atomic import local_path, uri_scheme
from bma_genetics.errors import InputError


def _spark_submit() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent / "bin" / "spark-submit"


def _closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def fresh_checks(monkeypatch):
    """Each test's checks run again (they run once per process otherwise)."""
    monkeypatch.setattr(_hail, "_CHECKED", set())
    monkeypatch.delenv(_hail.SKIP_CHECKS_ENV, raising=False)
    monkeypatch.delenv("PYSPARK_GATEWAY_PORT", raising=False)


def _fake_java(tmp_path: Path, version: str) -> Path:
    """A JAVA_HOME whose bin/java prints ``version`` as ``java -version`` does (on stderr)."""
    home = tmp_path / f"java-{version}"
    (home / "bin").mkdir(parents=True)
    java = home / "bin" / "java"
    java.write_text(f'#!/bin/sh\necho \'openjdk version "{version}" 2024-01-16\' >&2\n')
    java.chmod(0o755)
    return home


# ---- locations ----


def test_local_path_takes_paths_and_file_uris_and_refuses_other_uris():
    assert local_path("file:///data/runs/x", where="w") == Path("/data/runs/x")
    assert local_path("file:/data/runs/x", where="w") == Path("/data/runs/x")
    assert local_path("file://localhost/data/a%20b", where="w") == Path("/data/a b")
    assert local_path("runs/x", where="w") == Path("runs/x")
    for uri in ("gs://bucket/runs", "hdfs://nn:8020/runs", "dnax://db/runs", Path("gs://bucket/runs")):
        with pytest.raises(InputError, match=r"^config\.out: .*(gs|hdfs|dnax):// location; .*local path or a "
                                             r"file:// URI"):
            local_path(uri, where="config.out")
    with pytest.raises(InputError, match="names the host 'otherhost'"):
        local_path("file://otherhost/data", where="config.out")
    assert uri_scheme("gs:/bucket/x") == "gs" and uri_scheme("/data/x") is None and uri_scheme("C") is None


def test_hail_tmp_location_keeps_uris_hail_reads_and_refuses_others():
    assert _hail.hail_tmp_location("dnax://database-xyz/tmp") == "dnax://database-xyz/tmp"
    assert _hail.hail_tmp_location("file:///scratch/hail") == "file:///scratch/hail"
    assert _hail.hail_tmp_location("hdfs:///tmp/hail") == "hdfs:///tmp/hail"
    assert Path(_hail.hail_tmp_location("rel/tmp")).is_absolute()
    with pytest.raises(InputError, match=r"^hail\.tmp_dir: 'ftp://h/x' has the scheme ftp://"):
        _hail.hail_tmp_location("ftp://h/x")
    with pytest.raises(InputError, match="lost a slash; write 'gs://bucket/tmp'"):
        _hail.hail_tmp_location(str(Path("gs://bucket/tmp")))


def test_config_refuses_a_remote_run_directory_up_front_and_creates_no_folder(tmp_path, monkeypatch):
    from bma_genetics.pipeline.runner import check_config, run_study

    monkeypatch.chdir(tmp_path)
    stages = {"participants": {}}
    for key, value, expect in [("out", "gs://bucket/runs/x", r"^config\.out: 'gs://bucket/runs/x' is not allowed; "
                                                            r"expected a local path or file:///path"),
                               ("cohort", "hdfs://nn/cohort", r"^config\.cohort: .*expected a local path"),
                               ("hail", {"tmp_dir": "s3://b/tmp"}, r"^config\.hail\.tmp_dir: .*gs://"),
                               ("hail", {"master": "spork://h:7077"}, r"^config\.hail\.master: .*spark://HOST:PORT")]:
        with pytest.raises(InputError, match=expect):
            check_config({"name": "x", key: value, "stages": stages})
    # the command line's --out too (a typer Path turns gs://b into gs:/b)
    with pytest.raises(InputError, match=r"^run/out: 'gs://bucket/runs' is a gs:// location"):
        run_study({"name": "x", "stages": stages}, out=Path("gs://bucket/runs"))
    assert not any(tmp_path.iterdir()), "no local folder named 'gs:' (or anything else) was made"
    assert check_config({"name": "x", "out": "file:///tmp/x", "hail": {"tmp_dir": "dnax://db/tmp", "attach": True},
                         "stages": stages})["hail"] == {"master": "local[*]", "attach": True, "driver_memory": None,
                                                        "tmp_dir": "dnax://db/tmp", "work_dir": None}


def test_file_uri_cohort_and_run_directory_run_a_study(tiny_cohort, tmp_path):
    from bma_genetics.pipeline.runner import run_study

    run = run_study({"name": "u", "stages": {"participants": {}}}, cohort=f"file://{tiny_cohort}",
                    out=f"file://{tmp_path}/run")
    assert run == tmp_path / "run" and (run / "participants" / ".done").exists()
    assert not (Path.cwd() / "file:").exists()


# ---- spark-submit arguments ----


def test_spark_submit_args_name_the_installed_jar_and_hail_settings():
    args = _hail.spark_submit_args(master="spark://10.0.0.1:7077")
    jar = _hail.hail_jar()
    assert jar.is_file() and jar.parts[-3:] == ("hail", "backend", "hail-all-spark.jar")
    assert args[:4] == ["--master", "spark://10.0.0.1:7077", "--jars", str(jar)]
    confs = dict(a.split("=", 1) for a in args[args.index("--jars") + 2:-1] if a != "--conf")
    assert confs == {"spark.driver.extraClassPath": str(jar), "spark.executor.extraClassPath": "./hail-all-spark.jar",
                     "spark.serializer": "org.apache.spark.serializer.KryoSerializer",
                     "spark.kryo.registrator": "is.hail.kryo.HailKryoRegistrator",
                     "spark.pyspark.driver.python": sys.executable}
    assert args[-1].endswith("bma_genetics/pipeline/submit.py") and Path(args[-1]).is_file()
    _hail.check_executor_classpath(_hail.spark_submit_conf(), "spark://10.0.0.1:7077")  # what it prints passes


def test_spark_submit_args_command_prints_one_line_for_the_shell(capsys):
    from bma_genetics.cli import main

    assert main(["spark-submit-args", "--master", "local[2]"]) == 0
    out = capsys.readouterr().out
    assert out.split() == _hail.spark_submit_args(master="local[2]") and len(out.splitlines()) == 1
    assert "'" not in out  # $(...) keeps quotes as characters
    assert main(["spark-submit-args", "--master", "spork://x"]) == 2
    assert "is not a Spark master URL" in capsys.readouterr().err


def test_submit_entry_reads_a_config_as_run():
    from bma_genetics.pipeline.submit import _argv

    assert _argv(["study.yaml", "--only", "gwas"]) == ["run", "study.yaml", "--only", "gwas"]
    assert _argv(["run", "s.yml"]) == ["run", "s.yml"] and _argv(["--version"]) == ["--version"]


# ---- misconfigured clusters: one line, in seconds ----


def test_unreachable_master_fails_in_seconds_naming_the_url(fresh_checks):
    port = _closed_port()
    t0 = time.perf_counter()
    with pytest.raises(InputError) as err:
        _hail.check_spark_setup(f"spark://127.0.0.1:{port}")
    assert time.perf_counter() - t0 < _hail.MASTER_TIMEOUT_S + 1
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(f"hail.master: no Spark master answers at spark://127.0.0.1:{port}")
    assert "start the master" in msg and "fix the URL" in msg
    with pytest.raises(InputError, match="is not a Spark master URL"):
        _hail.check_master("127.0.0.1:7077")
    for ok in ("local", "local[*]", "local[4]", "local[2,3]", "yarn", "k8s://https://h:443", None):
        _hail.check_master(ok)
    assert _hail.spark_master_addresses("spark://a:7077,b:7078") == [("a", 7077), ("b", 7078)]


def test_study_with_an_unreachable_master_fails_before_any_stage(tiny_cohort, tmp_path, fresh_checks):
    from bma_genetics.pipeline.runner import run_study

    study = {"name": "bad", "hail": {"master": f"spark://127.0.0.1:{_closed_port()}"},
             "stages": {"participants": {}, "gwas": {"traits": ["bmff_femoral_head"]}}}
    t0 = time.perf_counter()
    with pytest.raises(InputError, match=r"^hail\.master: no Spark master answers"):
        run_study(study, cohort=tiny_cohort, out=tmp_path / "run")
    assert time.perf_counter() - t0 < 15
    assert not (tmp_path / "run" / "participants" / ".running").exists(), "no stage started"


def test_missing_hail_jar_on_executors_is_named(fresh_checks):
    full = _hail.spark_submit_conf()
    no_exec = {k: v for k, v in full.items() if k != "spark.executor.extraClassPath"}
    with pytest.raises(InputError, match=r"^spark-submit: the executors' class path lacks Hail's jar \(master "
                                         r"spark://h:7077, spark\.executor\.extraClassPath=None\); add the arguments "
                                         r"`bma-genetics spark-submit-args` prints"):
        _hail.check_executor_classpath(no_exec, "spark://h:7077")
    _hail.check_executor_classpath(no_exec, "local[2]")  # local mode: the executors are the driver
    with pytest.raises(InputError, match="the driver's class path lacks Hail's jar"):
        _hail.check_executor_classpath({}, "local[1]")
    not_shipped = {k: v for k, v in full.items() if k != "spark.jars"}
    with pytest.raises(InputError, match=r"names a jar in the executors' working directory but nothing ships it"):
        _hail.check_executor_classpath(not_shipped, "yarn")


@pytest.mark.parametrize("version, fails", [("1.8.0_392", "Java 8 .*its classes are built for Java 11"),
                                            ("21.0.2", "Java 21 .*Spark 3.5 runs on Java 8, 11 or 17"),
                                            ("11.0.22", None), ("17.0.15", None)])
def test_java_version_is_checked_before_spark_starts(tmp_path, monkeypatch, fresh_checks, version, fails):
    monkeypatch.setenv("JAVA_HOME", str(_fake_java(tmp_path, version)))
    if fails is None:
        assert _hail.check_java() == int(version.split(".")[0])
        return
    with pytest.raises(InputError, match=rf"^hail: {fails}.*install Java 11 \(or 17\) and set JAVA_HOME"):
        _hail.check_spark_setup("local[1]")
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "nowhere"))
    with pytest.raises(InputError, match="no Java found"):
        _hail.check_java()


def test_study_with_an_unsupported_java_fails_before_any_stage(tiny_cohort, tmp_path, monkeypatch, fresh_checks):
    from bma_genetics.pipeline.runner import run_study

    monkeypatch.setenv("JAVA_HOME", str(_fake_java(tmp_path, "1.8.0_392")))
    with pytest.raises(InputError, match=r"^hail: Java 8"):
        run_study({"name": "j", "stages": {"participants": {}, "gwas": {}}}, cohort=tiny_cohort, out=tmp_path / "r")
    assert not (tmp_path / "r" / "participants").exists()
    monkeypatch.setenv(_hail.SKIP_CHECKS_ENV, "1")  # the way out on a platform that ships Hail otherwise
    _hail.check_spark_setup("local[1]")


def test_attach_without_a_running_spark_context_says_so(monkeypatch):
    from pyspark import SparkContext

    monkeypatch.setattr(SparkContext, "_active_spark_context", None)
    with pytest.raises(InputError, match=r"^hail\.attach: no SparkContext is running in this Python process"):
        _hail.attached_context()


# ---- real Spark processes (slow: each starts a JVM) ----


def _submit(args: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "BMA_GENETICS_DRIVER_MEMORY": "1g"}
    env.pop("PYSPARK_GATEWAY_PORT", None)
    return subprocess.run([str(_spark_submit()), "--driver-memory", "1g", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env=env)


def _error_line(proc: subprocess.CompletedProcess) -> str:
    # spark-submit passes the Python driver's stderr on through its stdout
    return next((ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.startswith("error: ")), "")


@pytest.mark.slow
def test_spark_submit_runs_the_gwas_stage_like_in_process(tiny_cohort, tiny_run, tmp_path):
    """``spark-submit $(bma-genetics spark-submit-args) run study.yaml`` in local mode, with a
    file:// run directory, Hail tmp_dir and work_dir (what the executors read and write goes
    through Hail's file system), gives the in-process run's summary statistics."""
    from bma_genetics.pipeline.context import RunContext

    out = tmp_path / "run"
    hail = {"master": "local[2]", "tmp_dir": f"file://{tmp_path}/hail-tmp", "work_dir": f"file://{tmp_path}/work"}
    work = RunContext(run_dir=out, cohort=None, config={"hail": hail}, seed=1)
    assert str(work.hail_location("gwas", "hail")).startswith(f"file://{tmp_path}/work/run-")
    shutil.copytree(tiny_run / "participants", out / "participants")  # same key: not redone
    # the in-process run's QC'd genotypes (same QC settings and people: its stamp matches), where
    # the executors look for them: the submitted run resumes from them through Hail's file system
    # (the genotype pass itself runs on a real cluster in tests/test_spark_cluster.py)
    hail_files = local_path(work.hail_location("gwas", "hail"), where="t")
    shutil.copytree(tiny_run / "gwas" / "hail" / "genotypes_qc.mt", hail_files / "genotypes_qc.mt")
    for name in ("genotypes_qc.done", "variant_qc.tsv"):  # the driver's stamp and table
        (out / "gwas" / "hail").mkdir(parents=True, exist_ok=True)
        shutil.copy(tiny_run / "gwas" / "hail" / name, out / "gwas" / "hail" / name)
    gwas = {"traits": ["bmff_femoral_head"], "chunk_by": "all", "qc": {"min_info": 0.3}, "plots": False}
    study = tmp_path / "study.yaml"
    study.write_text(json.dumps({"name": "submitted", "seed": 1, "hail": hail,
                                 "stages": {"participants": {}, "gwas": gwas}}))
    proc = _submit([*_hail.spark_submit_args(master="local[2]"), "run", str(study), "--cohort", str(tiny_cohort),
                    "--out", f"file://{out}"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = (out / "run.log").read_text()
    assert "stage participants: already done" in log and "Hail started (master=local[2]" in log
    assert (tmp_path / "hail-tmp").is_dir() and not (tmp_path / "file:").exists()
    assert f"resumed from {work.hail_location('gwas', 'hail')}/genotypes_qc.mt" in log
    assert (hail_files / "results_chrauto.0.ht").is_dir()  # the association's checkpoint, in the work_dir
    assert not (out / "gwas" / "hail" / "genotypes_qc.mt").exists()
    # the shared in-process run analysed this trait together with another one and with sex strata
    # (other regression groups, rows in another order): equal to the printed digits, row for row
    keys = ["chromosome", "base_pair_location", "other_allele", "effect_allele"]
    mine = pd.read_csv(out / "gwas" / "bmff_femoral_head.tsv.gz", sep="\t").sort_values(keys, ignore_index=True)
    ref = pd.read_csv(tiny_run / "gwas" / "bmff_femoral_head.tsv.gz", sep="\t").sort_values(keys, ignore_index=True)
    assert len(mine) == len(ref) > 1000
    pd.testing.assert_frame_equal(mine, ref, check_exact=False, rtol=1e-8, atol=1e-9)


@pytest.mark.slow
def test_spark_submit_misconfigured_fails_with_one_line(tmp_path):
    """spark-submit without Hail's jar, or to a master nobody runs: one line, before any stage."""
    study = tmp_path / "study.yaml"
    study.write_text(json.dumps({"name": "s", "stages": {"participants": {}, "gwas": {}}}))
    script = str(_hail.submit_script())
    no_jar = _submit(["--master", "local[1]", "--conf", f"spark.pyspark.driver.python={sys.executable}", script,
                      str(study), "--out", str(tmp_path / "r1")], cwd=tmp_path, timeout=120)
    assert no_jar.returncode == 2, no_jar.stderr[-2000:]
    assert _error_line(no_jar).startswith("error: spark-submit: the driver's class path lacks Hail's jar")
    port = _closed_port()
    t0 = time.perf_counter()
    wrong = _submit([*_hail.spark_submit_args(master=f"spark://127.0.0.1:{port}"), str(study), "--out",
                     str(tmp_path / "r2")], cwd=tmp_path, timeout=120)
    assert wrong.returncode == 2, wrong.stderr[-2000:]
    assert _error_line(wrong).startswith(f"error: spark-submit --master: no Spark master answers at "
                                         f"spark://127.0.0.1:{port}")
    assert time.perf_counter() - t0 < 60
    assert not (tmp_path / "r1" / "participants").exists() and not (tmp_path / "r2" / "participants").exists()


ATTACH = r"""
import sys
from pyspark import SparkConf, SparkContext
from bma_genetics._hail import spark_submit_conf
conf = SparkConf().setMaster("local[1]").setAppName("platform").setAll(list(spark_submit_conf().items()))
conf.set("spark.driver.memory", "1g")
sc = SparkContext(conf=conf)  # what a platform's notebook has before any user code
from bma_genetics.pipeline.context import RunContext
ctx = RunContext(run_dir=__import__("pathlib").Path(sys.argv[1]), cohort=None,
                 config={"hail": {"attach": True, "master": "local[*]", "tmp_dir": "file://" + sys.argv[1] + "/t"}},
                 seed=1)
hl = ctx.hail()
assert hl.spark_context() is sc, "Hail attached to the running SparkContext"
assert hl.utils.range_table(10, n_partitions=2).count() == 10
print("ATTACHED", sc.master, sc.appName)
"""


@pytest.mark.slow
def test_attach_to_a_running_spark_context(tmp_path):
    """``hail: {attach: true}``: Hail runs on the SparkContext the platform started (no new one)."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    env.pop("PYSPARK_GATEWAY_PORT", None)
    proc = subprocess.run([sys.executable, "-c", ATTACH, str(tmp_path)], capture_output=True, text=True, timeout=300,
                          env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "ATTACHED local[1] platform" in proc.stdout


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("BMA_GENETICS_TEST_CLUSTER") != "1",
                    reason="starts a Spark standalone cluster: make test-cluster (BMA_GENETICS_TEST_CLUSTER=1)")
def test_spark_submit_to_a_live_cluster_without_the_executor_jar_fails_with_one_line(tmp_path):
    """A real standalone master (scripts/spark_cluster.py): spark-submit with Hail's jar on the
    driver only would fail on the executors (ClassNotFoundException for Hail's Kryo registrator)
    once work reaches them; it stops in seconds instead, before any stage."""
    from scripts.spark_cluster import ClusterUnavailable, StandaloneCluster

    study = tmp_path / "study.yaml"
    study.write_text(json.dumps({"name": "s", "stages": {"participants": {}, "gwas": {}}}))
    cluster = StandaloneCluster(1, cores=1, memory="512m", work_dir=tmp_path / "spark")
    try:
        cluster.start()
    except ClusterUnavailable as exc:
        pytest.skip(str(exc))
    try:
        args = _hail.spark_submit_args(master=cluster.master_url)
        i = args.index("spark.executor.extraClassPath=./hail-all-spark.jar")
        proc = _submit([*args[:i - 1], *args[i + 1:], str(study), "--out", str(tmp_path / "r")], cwd=tmp_path,
                       timeout=180)
    finally:
        cluster.stop()
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert _error_line(proc).startswith(f"error: spark-submit: the executors' class path lacks Hail's jar (master "
                                        f"{cluster.master_url}, spark.executor.extraClassPath=None)")
    assert not (tmp_path / "r" / "participants").exists()

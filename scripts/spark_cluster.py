#!/usr/bin/env python
"""A real Spark standalone cluster on 127.0.0.1: one master and N workers, for tests and benchmarks.

It runs the Spark that the ``pyspark`` wheel ships (``pyspark/bin/spark-class
org.apache.spark.deploy.master.Master`` and ``...deploy.worker.Worker``), each daemon a JVM of its
own on free ports, waits until every worker is registered with the master (the master's JSON
status page, ``http://127.0.0.1:<ui port>/json``), and stops them all, also on error: each daemon
runs in its own process group (a worker's executors are its children), stopping sends SIGTERM to
the group, then SIGKILL; on Linux a daemon also gets SIGKILL when the Python process that started
it dies (``PR_SET_PDEATHSIG``), so a killed test leaves no JVM behind.

Hail needs nothing more on such a cluster when the driver is started by ``hl.init(master=
"spark://...")`` on the same machine: Hail itself puts ``hail-all-spark.jar`` on ``spark.jars``,
``spark.driver.extraClassPath`` and ``spark.executor.extraClassPath`` and sets the Kryo serializer
with ``is.hail.kryo.HailKryoRegistrator`` (see ``docs/cluster/standalone.md``).

Usage (a cluster in the foreground until Ctrl-C)::

    python scripts/spark_cluster.py --workers 2 --cores 1 --memory 1g

From Python (tests, ``benchmarks/gwas_cluster.py``)::

    with StandaloneCluster(workers=2).start() as cluster:
        run_study({..., "hail": {"master": cluster.master_url}}, ...)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

__all__ = ["ClusterUnavailable", "StandaloneCluster", "spark_home"]


class ClusterUnavailable(RuntimeError):
    """Java or the ``pyspark`` wheel's ``spark-class`` is missing: the cluster cannot start here."""


def spark_home() -> Path:
    """The Spark home the ``pyspark`` wheel ships (it has ``bin/spark-class`` and ``jars/``).

    Raises
    ------
    ClusterUnavailable
        When ``pyspark`` is not installed, its ``bin/spark-class`` is absent, or no ``java``
        is on the PATH (nor under ``$JAVA_HOME``).
    """
    try:
        import pyspark
    except ImportError as exc:
        raise ClusterUnavailable("spark_cluster: pyspark is not installed (pip install pyspark)") from exc
    home = Path(pyspark.__file__).parent
    if not (home / "bin" / "spark-class").exists():
        raise ClusterUnavailable(f"spark_cluster: {home}/bin/spark-class is missing (a pyspark without Spark's "
                                 "launcher scripts)")
    java_home = os.environ.get("JAVA_HOME")
    if not shutil.which("java") and not (java_home and (Path(java_home) / "bin" / "java").exists()):
        raise ClusterUnavailable("spark_cluster: no java on the PATH (run scripts/ensure_java.sh)")
    return home


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Linux: SIGKILL this daemon when the process that started it exits (no orphaned JVM)."""
    os.setsid()
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class StandaloneCluster:
    """A Spark standalone master and ``workers`` workers on 127.0.0.1.

    Parameters
    ----------
    workers : int, default=2
        Number of workers (each a JVM; its executors are JVMs it starts).
    cores : int, default=1
        Cores each worker offers.
    memory : str, default="1g"
        Memory each worker offers its executors (an executor asks for ``spark.executor.memory``,
        1g by default, and must fit).
    work_dir : path, optional
        Logs of the daemons and the workers' work folders (executor stdout/stderr); default a
        new temporary folder, removed by :meth:`stop` unless ``keep=True``.
    env : dict, optional
        Extra environment of the daemons (and so of the executors they start).
    daemon_memory : str, default="256m"
        Heap of the master and worker daemons themselves (``SPARK_DAEMON_MEMORY``).
    keep : bool, default=False
        Keep ``work_dir`` after :meth:`stop`.
    """

    def __init__(self, workers: int = 2, *, cores: int = 1, memory: str = "1g",
                 work_dir: str | os.PathLike | None = None, env: dict[str, str] | None = None,
                 daemon_memory: str = "256m", keep: bool = False) -> None:
        if int(workers) < 1:
            raise ValueError(f"StandaloneCluster/workers: at least 1 worker, got {workers}")
        if int(cores) < 1:
            raise ValueError(f"StandaloneCluster/cores: at least 1 core, got {cores}")
        self.n_workers, self.cores, self.memory = int(workers), int(cores), str(memory)
        self._own_dir = work_dir is None
        self.work_dir = Path(work_dir) if work_dir else Path(tempfile.mkdtemp(prefix="bma-spark-cluster-"))
        self.keep = keep
        self.extra_env = dict(env or {})
        self.daemon_memory = daemon_memory
        self.host = "127.0.0.1"
        self.master: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen | None] = []
        self.master_port = self.ui_port = 0

    # ------------------------------------------------------------------ start / stop
    @property
    def master_url(self) -> str:
        """``spark://127.0.0.1:<port>``: the ``hail.master`` of a study config."""
        return f"spark://{self.host}:{self.master_port}"

    @property
    def ui_url(self) -> str:
        """The master's web UI (its JSON status at ``ui_url + '/json'``)."""
        return f"http://{self.host}:{self.ui_port}"

    def _env(self) -> dict[str, str]:
        env = {**os.environ, **self.extra_env}
        env.update(SPARK_HOME=str(self.home), SPARK_LOCAL_IP=self.host, SPARK_LOG_DIR=str(self.work_dir / "logs"),
                   SPARK_DAEMON_MEMORY=self.daemon_memory, SPARK_NO_DAEMONIZE="1")
        env.pop("PYSPARK_GATEWAY_PORT", None)
        env.pop("PYSPARK_GATEWAY_SECRET", None)
        return env

    def _spawn(self, name: str, cls: str, args: list[str]) -> subprocess.Popen:
        log = open(self.work_dir / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        try:
            return subprocess.Popen([str(self.home / "bin" / "spark-class"), cls, *args], env=self._env(),
                                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    preexec_fn=_die_with_parent, cwd=self.work_dir)
        finally:
            log.close()

    def start(self, timeout: float = 180.0) -> StandaloneCluster:
        """Start the master, then the workers; return once all workers are ALIVE at the master.

        Raises
        ------
        ClusterUnavailable
            No Java or no ``spark-class`` (see :func:`spark_home`).
        RuntimeError
            A daemon exited, or the workers did not register within ``timeout`` seconds (the
            message names the daemon's log); everything started is stopped first.
        """
        self.home = spark_home()
        self.work_dir.mkdir(parents=True, exist_ok=True)
        (self.work_dir / "logs").mkdir(exist_ok=True)
        try:
            self.master_port, self.ui_port = _free_port(), _free_port()
            self.master = self._spawn("master", "org.apache.spark.deploy.master.Master",
                                      ["--host", self.host, "--port", str(self.master_port),
                                       "--webui-port", str(self.ui_port)])
            self._wait(lambda s: s.get("status") == "ALIVE", "master", timeout)
            for i in range(self.n_workers):
                self.workers.append(self._spawn(
                    f"worker{i}", "org.apache.spark.deploy.worker.Worker",
                    ["--host", self.host, "--port", str(_free_port()), "--webui-port", str(_free_port()),
                     "--cores", str(self.cores), "--memory", self.memory,
                     "--work-dir", str(self.work_dir / f"worker{i}"), self.master_url]))
            self._wait(lambda s: self._alive(s) >= self.n_workers, f"{self.n_workers} workers", timeout)
        except BaseException:
            self.stop()
            raise
        return self

    @staticmethod
    def _alive(status: dict) -> int:
        return sum(w.get("state") == "ALIVE" for w in status.get("workers", []))

    def status(self) -> dict:
        """The master's JSON status (``/json``): workers, their state, applications."""
        with urllib.request.urlopen(self.ui_url + "/json", timeout=5) as r:  # noqa: S310 - 127.0.0.1
            return json.loads(r.read().decode())

    def _wait(self, ok, what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            for name, p in [("master", self.master), *((f"worker{i}", w) for i, w in enumerate(self.workers))]:
                if p is not None and p.poll() is not None:
                    raise RuntimeError(f"spark_cluster: the {name} exited with code {p.returncode} before {what} "
                                       f"were up; see {self.work_dir / (name + '.log')}")
            with contextlib.suppress(OSError, ValueError):
                if ok(self.status()):
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"spark_cluster: {what} not up after {timeout:.0f} s; see the logs in "
                                   f"{self.work_dir}")
            time.sleep(0.25)

    def alive_workers(self) -> int:
        """How many workers the master sees ALIVE now."""
        return self._alive(self.status())

    def kill_worker(self, i: int = 0) -> None:
        """SIGKILL worker ``i`` and its executors (its process group), as a node dies."""
        p = self.workers[i]
        if p is None or p.poll() is not None:
            raise RuntimeError(f"StandaloneCluster.kill_worker/i: worker {i} is not running")
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, signal.SIGKILL)
        p.wait()

    @staticmethod
    def _stop_group(p: subprocess.Popen | None, grace: float) -> None:
        if p is None:
            return
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, sig)  # the daemon and the executors it started
            try:
                p.wait(wait)
                if sig == signal.SIGTERM:  # executors may outlive the worker by a moment
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(p.pid, signal.SIGKILL)
                return
            except subprocess.TimeoutExpired:
                continue

    def stop(self, grace: float = 10.0) -> None:
        """Stop the workers, then the master (SIGTERM, then SIGKILL after ``grace`` seconds)."""
        for w in self.workers:
            self._stop_group(w, grace)
        self._stop_group(self.master, grace)
        self.workers, self.master = [], None
        if self._own_dir and not self.keep:
            shutil.rmtree(self.work_dir, ignore_errors=True)

    def __enter__(self) -> StandaloneCluster:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--cores", type=int, default=1, help="cores per worker")
    ap.add_argument("--memory", default="1g", help="memory per worker for its executors")
    ap.add_argument("--work-dir", default=None, help="daemon logs and work folders (default: a temp dir)")
    args = ap.parse_args(argv)
    try:
        cluster = StandaloneCluster(args.workers, cores=args.cores, memory=args.memory, work_dir=args.work_dir,
                                    keep=args.work_dir is not None).start()
    except ClusterUnavailable as exc:
        print(exc, file=sys.stderr)
        return 2
    with cluster:
        print(f"master {cluster.master_url}  (UI {cluster.ui_url}); {cluster.alive_workers()} workers; Ctrl-C stops")
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()
    return 0


if __name__ == "__main__":
    sys.exit(main())

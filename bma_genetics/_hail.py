"""One place to start Hail, so that local mode and clusters are configured the same way.

Nothing here assumes local mode: with ``master=None`` on a cluster (spark-submit, Dataproc, a
research platform) Hail attaches to the running Spark context.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from urllib.parse import unquote, urlparse

log = logging.getLogger(__name__)

#: The Spark settings Hail needs besides its jar (Hail's docs, "Install Hail on a Spark Cluster").
HAIL_SPARK_CONF = {
    "spark.serializer": "org.apache.spark.serializer.KryoSerializer",
    "spark.kryo.registrator": "is.hail.kryo.HailKryoRegistrator",
}
#: Java feature releases this Hail (0.2.139, built for Java 11, on Spark 3.5) runs on: 11 is the one
#: Hail is built and tested with; 17 is supported by Spark 3.5 and is what this project's tests run on.
SUPPORTED_JAVA = (11, 17)
#: URI schemes accepted for ``hail.tmp_dir`` (read and written by Hail's file system: the Hadoop
#: connectors of the cluster; ``dnax`` is the UK Biobank research platform's database store).
HAIL_URI_SCHEMES = ("file", "hdfs", "viewfs", "gs", "s3a", "dnax", "wasbs", "abfss")
#: Set to 1 to skip :func:`check_spark_setup` (a platform that provides Hail's jar some other way).
SKIP_CHECKS_ENV = "BMA_GENETICS_SKIP_CLUSTER_CHECKS"
#: Seconds the master-port check waits for an answer.
MASTER_TIMEOUT_S = 5.0
_MASTER = re.compile(r"^(local(\[(\*|\d+)(,\s*\d+)?\])?|local-cluster\[\d+,\s*\d+,\s*\d+\]|spark://.+|yarn|"
                     r"k8s://.+|mesos://.+)$")
_CHECKED: set[tuple] = set()


def hail_jar() -> Path:
    """The jar of the installed Hail (``<site-packages>/hail/backend/hail-all-spark.jar``), found
    without importing Hail."""
    found = importlib.util.find_spec("hail")
    if found is None or not found.submodule_search_locations:
        from bma_genetics.errors import InputError

        raise InputError("hail_jar: the hail package is not installed (pip install hail==0.2.139)")
    return Path(list(found.submodule_search_locations)[0]) / "backend" / "hail-all-spark.jar"


def spark_submit_conf(jar: str | os.PathLike | None = None) -> dict[str, str]:
    """The Spark settings a Spark process needs to run Hail: the jar on the driver's and the
    executors' class paths (``--jars`` copies it into each executor's working directory, hence
    ``./hail-all-spark.jar``), Kryo and Hail's registrator.

    Parameters
    ----------
    jar : path, optional
        Hail's jar (default :func:`hail_jar`).

    Returns
    -------
    dict
        ``{spark setting: value}``, also usable as ``SparkConf().setAll(...)`` for a
        SparkContext that Hail then attaches to (``init_hail(sc=...)``).
    """
    jar = str(jar or hail_jar())
    return {"spark.jars": jar, "spark.driver.extraClassPath": jar,
            "spark.executor.extraClassPath": "./hail-all-spark.jar", **HAIL_SPARK_CONF}


def submit_script() -> Path:
    """The Python file ``spark-submit`` runs: :mod:`bma_genetics.pipeline.submit` (any
    ``bma-genetics`` command line after it, e.g. ``run study.yaml``)."""
    return Path(__file__).resolve().parent / "pipeline" / "submit.py"


def spark_submit_args(*, master: str | None = None, jar: str | os.PathLike | None = None,
                      python: str | None = None, script: bool = True) -> list[str]:
    """The ``spark-submit`` arguments that run this package with the installed Hail.

    Parameters
    ----------
    master : str, optional
        ``--master`` (``spark://host:7077``, ``yarn``, ``local[2]``); default: none given
        (spark-submit's own default or the cluster's ``spark-defaults.conf``).
    jar : path, optional
        Hail's jar (default :func:`hail_jar`).
    python : str, optional
        The driver's Python (``spark.pyspark.driver.python``; default this interpreter, so the
        driver imports the same Hail and bma-genetics). Hail needs no Python on the executors.
    script : bool, default=True
        End with the path of :func:`submit_script`, after which the command line goes
        (``run study.yaml``).

    Returns
    -------
    list of str
        E.g. ``["--master", "spark://h:7077", "--jars", JAR, "--conf",
        "spark.driver.extraClassPath=JAR", ..., ".../bma_genetics/pipeline/submit.py"]``.
    """
    conf = spark_submit_conf(jar)
    args = ["--master", master] if master else []
    args += ["--jars", conf.pop("spark.jars")]
    conf["spark.pyspark.driver.python"] = python or sys.executable
    for key, value in conf.items():
        args += ["--conf", f"{key}={value}"]
    return args + ([str(submit_script())] if script else [])


def under_spark_submit() -> bool:
    """Whether this Python process was started by ``spark-submit`` (which started the driver JVM
    and left its address in ``$PYSPARK_GATEWAY_PORT``)."""
    return bool(os.environ.get("PYSPARK_GATEWAY_PORT"))


def java_command() -> str | None:
    """The ``java`` that a Spark started from this process runs: ``$JAVA_HOME/bin/java``, else
    the first ``java`` on ``PATH`` (what pyspark's ``spark-class`` does)."""
    home = os.environ.get("JAVA_HOME")
    if home:
        return str(Path(home) / "bin" / "java")
    return shutil.which("java")


def java_major(version: str) -> int | None:
    """The feature release of a Java version string: ``"17.0.15"`` -> 17, ``"1.8.0_392"`` -> 8."""
    m = re.match(r"(\d+)(?:\.(\d+))?", version.strip())
    if not m:
        return None
    first = int(m.group(1))
    return int(m.group(2) or 0) if first == 1 else first


def _check_java_version(version: str | None, where: str, java: str) -> None:
    from bma_genetics.errors import InputError

    major = java_major(version) if version else None
    if major in SUPPORTED_JAVA:
        return
    if major is None:
        raise InputError(f"{where}: could not read the version of {java} ({version!r}); Hail 0.2.139 needs Java 11 "
                         "or 17: install one and set JAVA_HOME to it")
    why = "its classes are built for Java 11" if major < 11 else "Spark 3.5 runs on Java 8, 11 or 17"
    raise InputError(f"{where}: Java {major} ({java}) cannot run Hail 0.2.139 ({why}); install Java 11 (or 17) and "
                     "set JAVA_HOME to it")


def check_java(java: str | None = None, *, where: str = "hail") -> int:
    """Check that the Java a local Spark would start is one Hail 0.2.139 runs on (``java -version``).

    Parameters
    ----------
    java : str, optional
        The ``java`` command (default :func:`java_command`).
    where : str, default="hail"
        The option named in the message.

    Returns
    -------
    int
        The Java feature release (11 or 17).

    Raises
    ------
    InputError
        No Java, or a version outside :data:`SUPPORTED_JAVA`: one line saying which Java was
        found and what to install.
    """
    from bma_genetics.errors import InputError

    java = java or java_command()
    if not java or not (Path(java).exists() or shutil.which(java)):
        raise InputError(f"{where}: no Java found (JAVA_HOME={os.environ.get('JAVA_HOME')!r}, none on PATH); Hail "
                         "0.2.139 needs Java 11 or 17: install one (scripts/ensure_java.sh) and set JAVA_HOME")
    try:
        done = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60)
    except OSError as exc:
        raise InputError(f"{where}: cannot run {java} -version ({exc.strerror}); set JAVA_HOME to a Java 11 or 17 "
                         "installation") from None
    m = re.search(r'version "([^"]+)"', done.stderr + done.stdout)
    _check_java_version(m.group(1) if m else None, where, java)
    return java_major(m.group(1))


def spark_master_addresses(master: str) -> list[tuple[str, int]]:
    """``(host, port)`` of each master of a ``spark://`` URL (``spark://h1:7077,h2:7077`` for
    standby masters); ``[]`` for any other master."""
    if not master.startswith("spark://"):
        return []
    out = []
    for item in master.removeprefix("spark://").split(","):
        host, _, port = item.strip().rpartition(":")
        out.append((host or item.strip(), int(port) if port.isdigit() else 7077))
    return out


def check_master(master: str | None, *, where: str = "hail.master", timeout: float = MASTER_TIMEOUT_S,
                 reach: bool = True) -> None:
    """Check a Spark master URL's form and, for ``spark://``, that a master answers on its port.

    Without this, Spark retries an unreachable standalone master for minutes before it gives up.
    ``reach=False`` checks the form only.

    Raises
    ------
    InputError
        One line naming ``where``, the URL and what to fix.
    """
    from bma_genetics.errors import InputError

    if master is None:
        return
    if not _MASTER.match(str(master)):
        raise InputError(f"{where}: {master!r} is not a Spark master URL; expected local[N], local[*], "
                         "spark://HOST:PORT, yarn or k8s://..., or null (the Spark that spark-submit or the platform "
                         "started)")
    addresses = spark_master_addresses(master) if reach else []
    reasons = []
    for host, port in addresses:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                return  # one answering master is enough (the others are standbys)
        except OSError as exc:
            reasons.append(f"{host}:{port}: {exc.strerror or type(exc).__name__}")
    if reasons:
        raise InputError(f"{where}: no Spark master answers at {master} ({'; '.join(reasons)}; waited {timeout:g} s); "
                         "start the master (sbin/start-master.sh; scripts/spark_cluster.py in this repository) or fix "
                         "the URL (the master's log prints it: spark://HOST:PORT, port 7077 by default)")


def check_executor_classpath(conf: Mapping[str, str], master: str | None, *, where: str = "spark-submit") -> None:
    """Check that a Spark configuration puts Hail's jar on the driver's and the executors' class
    paths (:func:`spark_submit_conf`).

    In local mode the executors are the driver, so only the driver's class path counts. On a
    cluster master (``spark://``, ``yarn``, ``k8s://``) without these settings, executors fail
    with ``ClassNotFoundException: is.hail.kryo.HailKryoRegistrator`` once work reaches them.

    Raises
    ------
    InputError
        One line naming the setting that lacks the jar and the arguments that add it.
    """
    from bma_genetics.errors import InputError

    fix = ("add the arguments `bma-genetics spark-submit-args` prints (--jars JAR --conf "
           "spark.driver.extraClassPath=JAR --conf spark.executor.extraClassPath=./hail-all-spark.jar ...)")

    def has_jar(key: str) -> bool:
        return "hail-all-spark.jar" in str(conf.get(key) or "") or "hail" in Path(str(conf.get(key) or "")).name

    if not has_jar("spark.driver.extraClassPath"):
        raise InputError(f"{where}: the driver's class path lacks Hail's jar (spark.driver.extraClassPath="
                         f"{conf.get('spark.driver.extraClassPath')!r}); {fix}")
    cluster = master is not None and not str(master).startswith("local")
    if not cluster:
        return
    if not has_jar("spark.executor.extraClassPath"):
        raise InputError(f"{where}: the executors' class path lacks Hail's jar (master {master}, "
                         f"spark.executor.extraClassPath={conf.get('spark.executor.extraClassPath')!r}); {fix}")
    shipped = str(conf.get("spark.executor.extraClassPath"))
    if shipped.startswith("./") and not any("hail-all-spark.jar" in str(conf.get(k) or "")
                                            for k in ("spark.jars", "spark.yarn.dist.jars")):
        raise InputError(f"{where}: spark.executor.extraClassPath={shipped!r} names a jar in the executors' working "
                         f"directory but nothing ships it there (spark.jars={conf.get('spark.jars')!r}); {fix}")


def _running_spark_conf(sc=None) -> tuple[dict[str, str], str | None, str | None]:
    """The settings, master and Java version of a running Spark: ``sc``'s, or (under
    spark-submit) those spark-submit gave the driver JVM."""
    if sc is None:
        from pyspark import SparkConf, SparkContext

        SparkContext._ensure_initialized()  # connects to spark-submit's JVM (started already)
        conf = dict(SparkConf(loadDefaults=True).getAll())
        jvm = SparkContext._jvm
    else:
        conf = dict(sc.getConf().getAll())
        jvm = sc._jvm
    return conf, conf.get("spark.master"), str(jvm.java.lang.System.getProperty("java.version"))


def check_spark_setup(master: str | None = "local[*]", *, attach: bool = False, sc=None,
                      where: str = "hail") -> None:
    """Check, in seconds, what would otherwise fail minutes into a run on a cluster.

    - a ``spark://`` master that does not answer on its port (:func:`check_master`);
    - Hail's jar missing from the driver's or the executors' class path, when a Spark is
      already running: under ``spark-submit`` or attached to (:func:`check_executor_classpath`);
    - a Java that Hail 0.2.139 does not run on: ``java -version`` of the Java a local Spark
      would start, or the running driver JVM's version (:func:`check_java`).

    Each check runs once per process. ``$BMA_GENETICS_SKIP_CLUSTER_CHECKS=1`` skips them (a
    platform that provides Hail's jar some other way).

    Raises
    ------
    InputError
        One line naming the setting and what to fix.
    """
    if os.environ.get(SKIP_CHECKS_ENV) == "1":
        return
    running = sc is not None or attach or under_spark_submit()
    memo = ("running" if running else "local", None if running else master, id(sc))
    if memo in _CHECKED:
        return
    if running:
        if sc is None and attach:
            sc = attached_context(where=f"{where}.attach")
        conf, run_master, version = _running_spark_conf(sc)
        check_master(run_master, where="spark-submit --master" if sc is None else f"{where} (running Spark)")
        check_executor_classpath(conf, run_master, where="spark-submit" if sc is None else f"{where} (running Spark)")
        _check_java_version(version, f"{where} (running Spark's JVM)", "the driver JVM")
    else:
        check_master(master, where=f"{where}.master")
        check_java(where=where)
    _CHECKED.add(memo)


def attached_context(*, where: str = "hail.attach"):
    """The SparkContext already running in this process (a notebook's, a platform's), which
    Hail attaches to instead of starting its own.

    Raises
    ------
    InputError
        No SparkContext is running.
    """
    from pyspark import SparkContext

    from bma_genetics.errors import InputError

    sc = SparkContext._active_spark_context
    if sc is None:
        raise InputError(f"{where}: no SparkContext is running in this Python process; attach is for a Spark "
                         "that a notebook or platform started (UK Biobank research platform: "
                         "SparkSession.builder.getOrCreate()); otherwise set hail.master instead")
    return sc


def hail_tmp_location(location: str | os.PathLike, *, where: str = "hail.tmp_dir") -> str:
    """Hail's temporary directory as Hail is given it: a local path made absolute, or a URI of
    :data:`HAIL_URI_SCHEMES` as it is.

    Raises
    ------
    InputError
        A URI of another scheme, or one whose ``//`` was lost (``gs:/bucket``).
    """
    from bma_genetics._atomic import uri_scheme
    from bma_genetics.errors import InputError

    text = os.fspath(location)
    scheme = uri_scheme(text)
    if scheme is None:
        return str(Path(text).absolute())
    if scheme not in HAIL_URI_SCHEMES:
        raise InputError(f"{where}: {text!r} has the scheme {scheme}://, which Hail's file system does not read here; "
                         f"expected a path or a {', '.join(s + '://' for s in HAIL_URI_SCHEMES)} URI")
    if not re.match(r"^[A-Za-z][A-Za-z0-9+.-]+://", text):
        raise InputError(f"{where}: {text!r} lost a slash; write {text.replace(':/', '://', 1)!r}")
    return text


def location_join(base: str | os.PathLike, *parts: str) -> str | Path:
    """``base`` joined with ``parts``: a :class:`Path` for a local folder, a ``/``-joined string
    for a URI (``hdfs://nn/work`` + ``gwas`` -> ``hdfs://nn/work/gwas``)."""
    from bma_genetics._atomic import uri_scheme

    if uri_scheme(base) is None:
        return Path(base).joinpath(*parts)
    return "/".join([os.fspath(base).rstrip("/"), *parts])


def location_exists(location: str | os.PathLike) -> bool:
    """Whether a file or folder exists: on the local disk for a path, through Hail's file system
    (``hl.hadoop_exists``; Hail must be started) for a URI."""
    from bma_genetics._atomic import uri_scheme

    if uri_scheme(location) is None:
        return Path(location).exists()
    import hail as hl

    return bool(hl.hadoop_exists(os.fspath(location)))


def location_list(folder: str | os.PathLike, pattern: str) -> list[str | Path]:
    """The entries of ``folder`` whose name matches the regular expression ``pattern``, sorted:
    :class:`Path` objects for a local folder, URIs through Hail's file system otherwise."""
    from bma_genetics._atomic import uri_scheme

    if uri_scheme(folder) is None:
        d = Path(folder)
        return sorted(p for p in d.iterdir() if re.fullmatch(pattern, p.name)) if d.is_dir() else []
    import hail as hl

    if not hl.hadoop_exists(os.fspath(folder)):
        return []
    found = [e["path"].rstrip("/") for e in hl.hadoop_ls(os.fspath(folder))]
    return sorted(f for f in found if re.fullmatch(pattern, f.rsplit("/", 1)[-1]))


def _local_dir(location: str) -> str | None:
    """The local folder of a path or ``file://`` URI; ``None`` for a remote URI."""
    from bma_genetics._atomic import uri_scheme

    if uri_scheme(location) is None:
        return location
    if uri_scheme(location) == "file":
        return unquote(urlparse(location).path)
    return None


def _default_driver_memory() -> str:
    # Local mode's 1 GB default runs out on BlockMatrix work; take a share of RAM, capped.
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        gib = max(1, min(8, int(total / 2**30 / 4)))
    except (ValueError, OSError):
        gib = 2
    return f"{gib}g"


def native_library_dir() -> Path | None:
    """The OpenBLAS directory for Hail's JVM (``scripts/ensure_blas.sh``), if there is one.

    ``$BMA_GENETICS_NATIVE_LIB`` first, then ``<virtual environment>/native/lib``.
    """
    env = os.environ.get("BMA_GENETICS_NATIVE_LIB")
    for d in ([Path(env)] if env else []) + [Path(sys.prefix) / "native" / "lib"]:
        if (d / "libblas.so.3").exists():
            return d
    return None


def _use_native_blas() -> Path | None:
    """Put the OpenBLAS directory on the library path the local JVM inherits.

    One OpenBLAS thread per Spark task: Spark already runs one task per core.
    """
    d = native_library_dir()
    if d is None:
        log.info("no native BLAS directory; Hail uses Java BLAS (run scripts/ensure_blas.sh)")
        return None
    paths = os.environ.get("LD_LIBRARY_PATH", "")
    if str(d) not in paths.split(":"):
        os.environ["LD_LIBRARY_PATH"] = f"{d}:{paths}" if paths else str(d)
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    return d


def init_hail(
    *,
    master: str | None = "local[*]",
    tmp_dir: str | os.PathLike | None = None,
    log_dir: str | os.PathLike | None = None,
    driver_memory: str | None = None,
    quiet: bool = True,
    spark_conf: dict[str, str] | None = None,
    sc=None,
    attach: bool = False,
):
    """Start Hail once per process (idempotent) and return the ``hail`` module.

    Parameters
    ----------
    master : str or None, default="local[*]"
        Spark master: ``local[N]``, ``spark://HOST:PORT`` (a standalone cluster, Hail's jar
        shipped to the executors), ``yarn``; ``None`` uses the cluster's own (Dataproc's
        ``spark-defaults.conf``). Under ``spark-submit`` the master is spark-submit's
        ``--master`` and this one is not used.
    tmp_dir : path or URI, optional
        Hail's temporary directory: a path, or on a cluster a location every node reads
        (``hdfs://``, ``gs://``, ``dnax://``, ``file://`` on a shared file system).
    log_dir : path, optional
        Where ``hail.log`` goes; default a temporary directory, never the working directory.
    driver_memory : str, optional
        ``spark.driver.memory`` in local mode (default: a quarter of RAM, 1-8 GiB).
        Also read from ``$BMA_GENETICS_DRIVER_MEMORY``.
    quiet : bool, default=True
        Hail's progress bars and banner off.
    spark_conf : dict, optional
        Further Spark settings for a Spark that Hail starts.
    sc : pyspark.SparkContext, optional
        A running SparkContext to attach to (``hl.init(sc=sc)``), as the UK Biobank research
        platform's Spark notebooks require; ``master``, ``driver_memory`` and ``spark_conf`` are
        then not used.
    attach : bool, default=False
        Attach to the SparkContext already running in this process (:func:`attached_context`).

    Before Spark starts, :func:`check_spark_setup` checks the master's port, Hail's jar on the
    class paths of a running Spark and the Java version, so a misconfigured cluster fails in
    seconds with one line. In local mode the JVM gets the OpenBLAS of
    :func:`native_library_dir` when there is one (``make`` installs it); on a cluster the
    nodes' own BLAS is used (Dataproc images have it).
    """
    import hail as hl
    from hail.utils.java import Env

    if Env.is_fully_initialized():  # hl.current_backend() would start a default context
        return hl
    if attach and sc is None:
        sc = attached_context()
    submitted = sc is None and under_spark_submit()
    if submitted and master is not None:
        log.info("running under spark-submit: its --master is used (hail.master %s is not)", master)
        master = None
    check_spark_setup(master, sc=sc)
    conf = dict(spark_conf or {})
    local = sc is None and not submitted and (master is None or str(master).startswith("local"))
    if local and master is not None:
        memory = driver_memory or os.environ.get("BMA_GENETICS_DRIVER_MEMORY") or _default_driver_memory()
        conf.setdefault("spark.driver.memory", memory)
        conf.setdefault("spark.ui.enabled", "false")
    if sc is None and not submitted and master is not None:
        # the driver JVM is a child of this process and inherits the library path; on a cluster
        # the driver still does the small dense algebra (covariate projections): the same BLAS
        # as local mode keeps the results byte-identical (the executors use their nodes' BLAS)
        _use_native_blas()
    if sc is None and not submitted and master is not None and not local:
        # a cluster master: executors on other machines find the jar that spark.jars ships into
        # their working directory (Hail itself adds its absolute path on this machine)
        conf.setdefault("spark.executor.extraClassPath", "./hail-all-spark.jar")
    log_dir = Path(log_dir) if log_dir else Path(tempfile.mkdtemp(prefix="bma-hail-log-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    tmp = hail_tmp_location(tmp_dir) if tmp_dir else tempfile.mkdtemp(prefix="bma-hail-tmp-")
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Hail was built and tested with Java 11")
        warnings.filterwarnings("ignore", message="Hail requires additional configuration options in Spark")
        hl.init(
            sc=sc,
            master=None if sc is not None else master,
            tmp_dir=tmp,
            local_tmpdir=_local_dir(tmp) if local else None,
            log=str(log_dir / "hail.log"),
            quiet=quiet,
            spark_conf=(conf or None) if sc is None else None,
            idempotent=True,
        )
        hl.default_reference("GRCh37")
    log.info("Hail started (master=%s, log=%s)", hl.spark_context().master, log_dir / "hail.log")
    return hl


def is_java_error(exc: BaseException) -> bool:
    """Whether ``exc`` comes from Hail's JVM (``FatalError``, a Py4J error), without importing Hail."""
    return any(k.__module__.split(".")[0] in ("hail", "py4j") and k.__name__ in (
        "FatalError", "Py4JJavaError", "Py4JError", "Py4JNetworkError", "HailException") for k in type(exc).__mro__)


def java_error_summary(exc: BaseException) -> str:
    """The one line of a Java error that says what went wrong (Hail's ``Error summary``, else the
    first line), without the stack."""
    text = str(exc)
    for line in text.splitlines():
        if line.startswith("Error summary:"):
            return line.removeprefix("Error summary:").strip()[:300]
    first = next((ln.strip() for ln in text.splitlines() if ln.strip()), type(exc).__name__)
    return first[:300]


@contextlib.contextmanager
def java_errors_name(files: Sequence[str | os.PathLike], where: str) -> Iterator[None]:
    """Turn a Java error raised while Hail reads ``files`` into one :class:`InputError` line.

    Hail reads lazily, so a damaged file (bit rot inside a BGEN block, a corrupt .bed) surfaces
    as a ``FatalError`` with a Java stack of hundreds of lines that never names the file. Inside
    this block such an error becomes ``"{where}: Hail could not read {files}: {summary}"``;
    the full stack stays in ``hail.log``.
    """
    from hail.utils.java import FatalError
    from py4j.protocol import Py4JError

    from bma_genetics.errors import InputError

    try:
        yield
    except (FatalError, Py4JError) as exc:
        shown = ", ".join(str(f) for f in list(files)[:3]) + (" ..." if len(files) > 3 else "")
        log.debug("Java error while reading %s", shown, exc_info=True)
        raise InputError(f"{where}: Hail could not read {shown}: {java_error_summary(exc)} (a damaged or "
                         "truncated file? the Java stack is in hail.log)") from None

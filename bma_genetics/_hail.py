"""One place to start Hail, so that local mode and clusters are configured the same way.

Nothing here assumes local mode: with ``master=None`` on a cluster (spark-submit, Dataproc, a
research platform) Hail attaches to the running Spark context.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

log = logging.getLogger(__name__)


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
):
    """Start Hail once per process (idempotent) and return the ``hail`` module.

    Parameters
    ----------
    master : str or None, default="local[*]"
        Spark master. ``None`` uses the cluster's own (spark-submit / Dataproc).
    tmp_dir : path, optional
        Hail's temporary directory (local or ``gs://``/``hdfs://`` on a cluster).
    log_dir : path, optional
        Where ``hail.log`` goes; default a temporary directory, never the working directory.
    driver_memory : str, optional
        ``spark.driver.memory`` in local mode (default: a quarter of RAM, 1-8 GiB).
        Also read from ``$BMA_GENETICS_DRIVER_MEMORY``.

    In local mode the JVM gets the OpenBLAS of :func:`native_library_dir` when there is one
    (``make`` installs it); on a cluster the nodes' own BLAS is used (Dataproc images have it).
    """
    import hail as hl
    from hail.utils.java import Env

    if Env.is_fully_initialized():  # hl.current_backend() would start a default context
        return hl
    conf = dict(spark_conf or {})
    local = master is None or str(master).startswith("local")
    if local and master is not None:
        memory = driver_memory or os.environ.get("BMA_GENETICS_DRIVER_MEMORY") or _default_driver_memory()
        conf.setdefault("spark.driver.memory", memory)
        conf.setdefault("spark.ui.enabled", "false")
    if master is not None:
        # the driver JVM is a child of this process and inherits the library path; on a cluster
        # the driver still does the small dense algebra (covariate projections): the same BLAS
        # as local mode keeps the results byte-identical (the executors use their nodes' BLAS)
        _use_native_blas()
    log_dir = Path(log_dir) if log_dir else Path(tempfile.mkdtemp(prefix="bma-hail-log-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    tmp = str(tmp_dir) if tmp_dir else tempfile.mkdtemp(prefix="bma-hail-tmp-")
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Hail was built and tested with Java 11")
        hl.init(
            master=master,
            tmp_dir=tmp,
            local_tmpdir=tmp if local else None,
            log=str(log_dir / "hail.log"),
            quiet=quiet,
            spark_conf=conf or None,
            idempotent=True,
        )
        hl.default_reference("GRCh37")
    log.info("Hail started (master=%s, log=%s)", master, log_dir / "hail.log")
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

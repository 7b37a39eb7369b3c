"""Atomic outputs: write to a temporary sibling, then rename, so a crash never leaves half a file.

Also the one file checksum (:func:`sha256_file`) of the package, the input fingerprints that
resume keys are made of (:func:`fingerprint`), and the test hook that kills a run at a named
point (:func:`kill_point`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import signal
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from urllib.parse import unquote, urlparse

#: ``scheme:/...``: a URI (``gs://b/x``; also ``gs:/b/x``, which is what ``pathlib.Path`` makes of it)
_URI = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):/")


def uri_scheme(location: str | os.PathLike) -> str | None:
    """The scheme of a URI location (``"gs"`` for ``gs://bucket/x``, ``"file"`` for
    ``file:///data``), or ``None`` for a plain path.

    ``gs:/bucket/x`` (what :class:`pathlib.Path` makes of ``gs://bucket/x``) counts as a URI too,
    so a URI that went through ``Path`` is still recognised rather than taken for a local folder
    named ``gs:``.
    """
    m = _URI.match(os.fspath(location))
    return m.group(1).lower() if m else None


def local_path(location: str | os.PathLike, *, where: str) -> Path:
    """A local path from a plain path or a ``file://`` URI; any other URI is refused.

    Parameters
    ----------
    location : str or os.PathLike
        ``/data/runs/x``, ``runs/x``, ``file:///data/runs/x`` or ``file:/data/runs/x``.
    where : str
        The option, for the message (``"config.out"``).

    Returns
    -------
    Path
        The local path (not resolved).

    Raises
    ------
    InputError
        ``location`` is a URI of another scheme (``gs://``, ``hdfs://``, ``dnax://``) or a
        ``file://`` URI naming another host: the message names ``where`` and what is supported,
        instead of a local folder called ``gs:`` being created.
    """
    from bma_genetics.errors import InputError

    text = os.fspath(location)
    scheme = uri_scheme(text)
    if scheme is None:
        return Path(text)
    parsed = urlparse(text)
    if scheme == "file" and parsed.netloc in ("", "localhost"):
        return Path(unquote(parsed.path))
    if scheme == "file":
        raise InputError(f"{where}: {text!r} names the host {parsed.netloc!r}; a file:// location here must be "
                         "file:///absolute/path on this machine")
    shown = text if "//" in text else text.replace(":/", "://", 1)
    raise InputError(f"{where}: {shown!r} is a {scheme}:// location; this one must be a local path or a file:// URI "
                     "(the driver writes it with ordinary file functions: on a cluster, a file system the driver "
                     "mounts, e.g. NFS or the research platform's /mnt/project); Hail's temporary files may be "
                     "elsewhere: hail.tmp_dir takes gs://, hdfs:// or dnax:// (docs/cluster/README.md)")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, directory: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``.

    The temporary name keeps the final suffix (``.tsv.gz``) so writers that infer the format
    from the name still work. On error the temporary file or folder is removed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = "".join(path.suffixes)
    if directory:
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    else:
        fd, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{suffix}", dir=path.parent)
        os.close(fd)
        tmp = Path(name)
    try:
        yield tmp
        if directory and path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    except BaseException:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def staged_directory(path: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``path``; on success move its contents into ``path``.

    A command writes its whole output folder into the temporary one: when it fails, the folder
    is removed and ``path`` is left as it was (no result table that looks finished); when it
    succeeds, each file or folder written replaces the one of the same name in ``path`` (which
    is created when missing; other files already there are kept).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    path.mkdir(parents=True, exist_ok=True)
    for item in sorted(tmp.iterdir()):
        target = path / item.name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        os.replace(item, target)
    tmp.rmdir()


def write_text(path: str | os.PathLike, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def write_table(frame, path: str | os.PathLike, **kwargs) -> Path:
    """Write a DataFrame atomically; format from the suffix (.parquet, .tsv, .tsv.gz, .csv)."""
    path = Path(path)
    name = path.name
    with atomic_path(path) as tmp:
        if name.endswith(".parquet"):
            frame.to_parquet(tmp, index=False, **kwargs)
        elif name.endswith((".tsv", ".tsv.gz", ".txt", ".txt.gz")):
            frame.to_csv(tmp, sep="\t", index=False, **kwargs)
        elif name.endswith((".csv", ".csv.gz")):
            frame.to_csv(tmp, index=False, **kwargs)
        else:
            raise ValueError(f"write_table: cannot infer the format of {path}")
    return path


def sha256_file(path: str | os.PathLike, *, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes, read in blocks.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    chunk : int, default=1048576
        Bytes read at a time.

    Returns
    -------
    str
        The hex digest (64 characters).
    """
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


#: Files up to this size are fingerprinted by their contents (SHA-256, about a second per GiB);
#: larger ones (imputed genotypes: tens of GB per chromosome at biobank scale, where hashing
#: would cost minutes on every run) by size and modification time, which any rewrite changes.
CONTENT_HASH_MAX_BYTES = 256 << 20

_HASHED: dict[tuple[str, int, int], str] = {}


def file_fingerprint(path: str | os.PathLike) -> str:
    """What identifies a file's contents for a resume key.

    ``sha256:<hex>`` of the bytes for files up to :data:`CONTENT_HASH_MAX_BYTES` (a rewritten
    file with the same contents keeps its fingerprint), else ``size:<bytes>:mtime_ns:<ns>``.

    Parameters
    ----------
    path : str or os.PathLike
        An existing file.

    Returns
    -------
    str
        The fingerprint.
    """
    path = Path(path)
    st = path.stat()
    if st.st_size > CONTENT_HASH_MAX_BYTES:
        return f"size:{st.st_size}:mtime_ns:{st.st_mtime_ns}"
    memo = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if memo not in _HASHED:
        _HASHED[memo] = "sha256:" + sha256_file(path)
    return _HASHED[memo]


def fingerprint(paths: Iterable[str | os.PathLike]) -> dict[str, str]:
    """Fingerprints of files and of every file under folders, by path (:func:`file_fingerprint`).

    A path that does not exist is recorded as ``missing`` (so creating it later changes the
    result). Hidden files (a name starting with ``.``: temporary files, markers) are skipped.

    Parameters
    ----------
    paths : iterable of str or os.PathLike
        Files and folders.

    Returns
    -------
    dict
        ``{path: fingerprint}``, sorted by path.
    """
    out: dict[str, str] = {}
    for p in map(Path, paths):
        if p.is_dir():
            for f in sorted(q for q in p.rglob("*") if q.is_file() and not q.name.startswith(".")):
                out[str(f)] = file_fingerprint(f)
        elif p.is_file():
            out[str(p)] = file_fingerprint(p)
        else:
            out[str(p)] = "missing"
    return dict(sorted(out.items()))


#: The environment variable read by :func:`kill_point` (tests only).
KILL_AT_ENV = "BMA_GENETICS_TEST_KILL_AT"


def kill_point(point: str) -> None:
    """Test hook: ``SIGKILL`` this process here when ``$BMA_GENETICS_TEST_KILL_AT`` equals ``point``.

    The resume tests (``tests/test_resume.py``) kill a study at a deterministic point, as a
    user's ``kill -9`` or an out-of-memory kill would, then check that a rerun gives the outputs
    of an uninterrupted run. Unset (always, outside those tests) this does nothing. Points:
    ``images:<n>`` (after the n-th simulated image is written), ``gwas:association`` (after the
    first association pass is checkpointed, before its chunk is committed), ``enrichment:<k>``
    (after the k-th trait's tables are written).
    """
    if os.environ.get(KILL_AT_ENV) == point:
        os.kill(os.getpid(), signal.SIGKILL)

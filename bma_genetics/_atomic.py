"""Atomic outputs: write to a temporary sibling, then rename, so a crash never leaves half a file.

Also the one file checksum (:func:`sha256_file`) of the package.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


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

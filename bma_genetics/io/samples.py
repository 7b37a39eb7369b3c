"""The analysed sample list: the participants a GWAS regressed, for LD computed over them only.

The ``gwas`` stage writes ``analysed_samples.txt`` (:func:`write_sample_list`): a header line
``#IID`` and one eid per line, in the order of the genotype files, which plink2 reads as a
``--keep`` file. The ``enrichment`` and ``mr`` stages (and ``--samples`` of ``enrich`` and
``mr``) read it back (:func:`read_sample_list`) so that in-sample LD comes from the analysed
people only, never from every sample of the BGEN (other ancestries, relatives, the
non-imaged).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from bma_genetics._atomic import write_text
from bma_genetics.errors import InputError

#: Header names accepted on the first line (case-insensitive, after an optional ``#``).
_HEADERS = frozenset({"iid", "eid", "fid", "id", "sample", "sample_id", "participant_id"})


def write_sample_list(samples: Iterable[str], path: str | os.PathLike) -> Path:
    """Write sample identifiers as a plink2 ``--keep`` file (``#IID`` header, one per line).

    Parameters
    ----------
    samples : iterable of str
        The identifiers (eids), written in this order; duplicates are an error.
    path : path
        The file to write (atomically).

    Returns
    -------
    Path
        ``path``.
    """
    ids = [str(s) for s in samples]
    bad = [s for s in ids if not s or any(ch.isspace() for ch in s)]
    if bad:
        raise InputError(f"write_sample_list/samples: identifier {bad[0]!r} is empty or holds white space")
    if len(set(ids)) != len(ids):
        raise InputError(f"write_sample_list/samples: {len(ids) - len(set(ids))} duplicated identifier(s)")
    return write_text(Path(path), "#IID\n" + "".join(f"{s}\n" for s in ids))


def read_sample_list(path: str | os.PathLike) -> list[str]:
    """Read a sample list: ours (``#IID``), a plink ``--keep`` file (``FID IID``) or one eid a line.

    Parameters
    ----------
    path : path
        A text file; an optional header (``#IID``, ``#FID IID``, ``eid``, ...), then one sample a
        line. With two columns the second (IID) is the identifier.

    Returns
    -------
    list of str
        The identifiers in file order.

    Raises
    ------
    InputError
        The file is missing, empty, has more than two columns on a line, or repeats an
        identifier; the message names the file and the line.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"read_sample_list/path: no such file {p}")
    lines = p.read_text(encoding="utf-8-sig").splitlines()
    ids: list[str] = []
    seen: set[str] = set()
    for k, line in enumerate(lines, 1):
        fields = line.split()
        if not fields:
            continue
        if not ids and fields[0].lstrip("#").lower() in _HEADERS:
            continue
        if len(fields) > 2:
            raise InputError(f"read_sample_list/path: {p} line {k} has {len(fields)} columns ({line.strip()!r}); "
                             "expected one identifier, or FID and IID")
        s = fields[-1]
        if s in seen:
            raise InputError(f"read_sample_list/path: {p} line {k}: identifier {s!r} appears twice")
        seen.add(s)
        ids.append(s)
    if not ids:
        raise InputError(f"read_sample_list/path: {p} lists no sample")
    return ids

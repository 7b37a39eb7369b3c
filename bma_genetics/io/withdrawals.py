"""Withdrawn participants: read UK Biobank's withdrawal file and remove those people everywhere.

UK Biobank sends each application a ``w{app}_{date}.csv``: one eid per line, no header. Those
participants must be removed from every analysis, always; the count removed is logged.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from bma_genetics.errors import InputError

log = logging.getLogger(__name__)


def read_withdrawals(path: str | os.PathLike | Iterable[str | os.PathLike]) -> frozenset[str]:
    """Read one or more withdrawal files into a set of eids (strings).

    Parameters
    ----------
    path : path or list of paths
        Files with one eid per line and no header (blank lines ignored; a header line ``eid``
        is tolerated). Several files (successive withdrawal lists) are united.

    Returns
    -------
    frozenset of str

    Raises
    ------
    InputError
        The file is missing, or a line is not an integer eid (naming file, line and value).

    Examples
    --------
    >>> read_withdrawals("w12345_20240101.csv")  # doctest: +SKIP
    frozenset({'1000123', ...})
    """
    paths = [path] if isinstance(path, (str, os.PathLike)) else list(path)
    out: set[str] = set()
    for p in paths:
        p = Path(p)
        if not p.exists():
            raise InputError(f"read_withdrawals/path: no such file {p}")
        for lineno, line in enumerate(p.read_text().splitlines(), start=1):
            value = line.strip().strip('"').split(",")[0].strip()
            if not value or (lineno == 1 and value.lower() == "eid"):
                continue
            # Some exports give negative eids for withdrawn people: still integers.
            if not value.lstrip("-").isdigit():
                raise InputError(
                    f"read_withdrawals/path: {p} line {lineno} is {value!r}, not a participant id"
                )
            out.add(value)
    log.info("withdrawals: %d participant(s) listed in %s", len(out), ", ".join(Path(p).name for p in paths))
    return frozenset(out)


def remove_withdrawn(
    frame: pd.DataFrame,
    eids: Iterable[str | int],
    *,
    eid_column: str | None = None,
    where: str = "table",
) -> pd.DataFrame:
    """Drop withdrawn participants from a table, logging how many were removed.

    Parameters
    ----------
    frame : DataFrame
        Participants either in the index (named ``eid``) or in ``eid_column``.
    eids : iterable of str or int
        Withdrawn eids (compared as strings).
    eid_column : str, optional
        Column holding eids; default: the column ``eid`` if present, else the index.
    where : str, default="table"
        Name used in the log message.

    Returns
    -------
    DataFrame
        ``frame`` without the withdrawn rows (same columns, order kept).
    """
    withdrawn = {str(e) for e in eids}
    if eid_column is None and "eid" in frame.columns:
        eid_column = "eid"
    if eid_column is not None:
        if eid_column not in frame.columns:
            raise InputError(f"remove_withdrawn/eid_column: {where} has no column {eid_column!r}")
        ids = frame[eid_column].astype(str)
    else:
        ids = pd.Series(frame.index.astype(str), index=frame.index)
    drop = ids.isin(withdrawn).to_numpy()
    n = int(drop.sum())
    log.info("%s: removed %d withdrawn participant(s) (reason: withdrawn)", where, n)
    return frame.loc[~drop]

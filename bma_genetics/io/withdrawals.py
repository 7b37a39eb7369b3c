"""Withdrawn participants: read UK Biobank's withdrawal file and remove those people everywhere.

UK Biobank sends each application a ``w{app}_{date}.csv``: one eid per line, no header. Users
also hold the same list in other shapes (a header line, one comma-separated line, a
spreadsheet's CRLF and BOM); :func:`read_withdrawals` reads every one of them whole or refuses
the file, naming the line and the value, and never returns part of a file. Those participants
must be removed from every analysis, always; the count removed is logged.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from bma_genetics.errors import InputError

log = logging.getLogger(__name__)

#: Names accepted (case-insensitive, quotes stripped) on a header line: the first non-blank
#: line of a file may name the eid column, and nothing else.
HEADER_NAMES = frozenset({
    "eid", "eids", "id", "ids", "participant_id", "participant.eid", "participant_eid", "f.eid",
    "n_eid", "person_id", "withdrawn", "withdrawn_eid", "withdrawals",
})
_SEPARATORS = re.compile(r"[,;\s]+")
_EID = re.compile(r"[0-9]+(?:\.0*)?")


def _text(path: Path) -> str:
    """The file's text (UTF-8, BOM dropped) or an InputError naming the file."""
    if path.is_dir():
        raise InputError(f"read_withdrawals/path: {path} is a folder; pass the withdrawal file (w{{app}}_{{date}}.csv)")
    if not path.exists():
        raise InputError(f"read_withdrawals/path: no such file {path}")
    raw = path.read_bytes()
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError(f"read_withdrawals/path: {path} is UTF-16 text; save it as UTF-8 (or plain ASCII)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"read_withdrawals/path: {path} is not a UTF-8 text file (byte {exc.start}: "
            f"{raw[exc.start:exc.start + 1]!r}); pass the list of withdrawn eids as text") from None
    if "\x00" in text:
        raise InputError(f"read_withdrawals/path: {path} is not a text file (it holds NUL bytes)")
    return text


def _eid(token: str) -> str | None:
    """The canonical eid (``"1000123"``) of a token, or None when it is not a participant id."""
    if not _EID.fullmatch(token):
        return None
    value = int(token.split(".")[0])
    return str(value) if value > 0 else None


def _parse(path: Path) -> set[str]:
    text = _text(path)
    out: set[str] = set()
    n_tokens = 0
    first = True
    for lineno, line in enumerate(text.splitlines(), start=1):
        tokens = [t.strip().strip("\"'").strip() for t in _SEPARATORS.split(line.strip())]
        tokens = [t for t in tokens if t]
        if not tokens:
            continue
        if first and any(t.lower() in HEADER_NAMES for t in tokens):
            # a header line: it names the eid column, and only that column
            extra = [t for t in tokens if t.lower() not in HEADER_NAMES] or tokens[1:]
            if extra:
                raise InputError(
                    f"read_withdrawals/path: {path} line {lineno} is {extra[0]!r}, not a participant id "
                    f"(a header line may only name the eid column; the file lists eids and nothing else)")
            first = False
            continue
        first = False
        for token in tokens:
            eid = _eid(token)
            if eid is None:
                shown = token if len(token) <= 40 else token[:37] + "..."
                hint = ("a participant id is a positive integer" if lineno > 1 or len(tokens) > 1 else
                        f"a participant id is a positive integer; a header line may only name the eid "
                        f"column ({', '.join(sorted(HEADER_NAMES)[:4])}, ...)")
                raise InputError(
                    f"read_withdrawals/path: {path} line {lineno} is {shown!r}, not a participant id "
                    f"({hint}); fix or remove that value, nothing was read")
            out.add(eid)
            n_tokens += 1
    if n_tokens > len(out):
        log.info("withdrawals: %s lists %d eid(s) more than once (counted once)", path.name, n_tokens - len(out))
    return out


def read_withdrawals(path: str | os.PathLike | Iterable[str | os.PathLike]) -> frozenset[str]:
    """Read one or more withdrawal files into a set of eids (strings), whole or not at all.

    Parameters
    ----------
    path : path or list of paths
        UTF-8 text files listing withdrawn eids. Several files (successive withdrawal lists)
        are united. Read: one eid per line (UK Biobank's own layout) or several per line
        separated by commas, semicolons, tabs or spaces, on one or many lines; an optional
        header line naming the eid column (``eid``, ``participant_id``, ... see
        :data:`HEADER_NAMES`); blank lines; leading and trailing spaces and separators; CRLF or
        CR line ends; a UTF-8 byte-order mark; quoted values (``"1000123"``); eids a
        spreadsheet saved as ``1000123.0``. An eid listed twice counts once.

    Returns
    -------
    frozenset of str
        Canonical eids (``"1000123"``: no sign, no leading zeros, no decimals), compared with
        the participant table's ``eid`` as strings.

    Raises
    ------
    InputError
        One line naming the file, the line and the value, when the file is missing, a folder,
        not UTF-8 text (UTF-16, a binary file), or holds a value that is not a positive integer
        eid: a word, a negative or zero id, a date or any other second column, a decimal or an
        exponent, a header anywhere but the first line. Nothing is returned from such a file.

    Examples
    --------
    >>> read_withdrawals("w12345_20240101.csv")  # doctest: +SKIP
    frozenset({'1000123', ...})
    """
    paths = [path] if isinstance(path, (str, os.PathLike)) else list(path)
    out: set[str] = set()
    for p in paths:
        out |= _parse(Path(p))
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

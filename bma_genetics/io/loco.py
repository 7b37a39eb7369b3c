"""Leave-one-chromosome-out (LOCO) predictions in REGENIE's own layout (step 1 -> step 2).

REGENIE's step 1 writes, for the ``k``-th trait, ``<prefix>_<k>.loco``: a header line
``FID_IID`` followed by one ``<FID>_<IID>`` per sample, then one line per chromosome: the
chromosome number (1-22, 23 for X) followed by each sample's LOCO prediction (the whole-genome
prediction without that chromosome). ``<prefix>_pred.list`` lists ``<trait> <path>`` per line.
Predictions are on the scale of the trait after covariate residualisation and scaling to unit
variance (REGENIE's quantitative-trait scale); a sample without the trait is ``NA``.

:func:`write_loco_predictions` writes that layout (plain text, or gzip when the list's paths end
in ``.gz``) and :func:`read_loco_predictions` reads it back, ours or REGENIE's own files.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from bma_genetics._atomic import write_text
from bma_genetics.errors import InputError

#: Chromosome codes of a ``.loco`` row and the names used here (REGENIE writes X as 23).
_CODE_TO_NAME = {**{str(i): str(i) for i in range(1, 23)}, "23": "X", "X": "X", "24": "Y", "25": "X"}


def _name(chrom: str) -> str:
    return "23" if str(chrom) in ("X", "XY", "23", "25") else str(chrom)


def write_loco_predictions(predictions: Mapping[str, pd.DataFrame], prefix: str | os.PathLike) -> Path:
    """Write LOCO predictions as REGENIE does: ``<prefix>_<k>.loco`` per trait + ``<prefix>_pred.list``.

    Parameters
    ----------
    predictions : mapping of str to DataFrame
        Trait -> frame of shape (n_samples, n_chromosomes): index the sample ids (eids; written
        ``<eid>_<eid>``, FID = IID as UK Biobank's), columns the chromosomes (``"1"`` .. ``"22"``,
        ``"X"``), values the prediction without that chromosome (NaN: no trait value; ``NA``).
    prefix : path
        Output prefix (``step1/step1`` -> ``step1/step1_1.loco``, ``step1/step1_pred.list``).

    Returns
    -------
    Path
        The ``_pred.list`` path.
    """
    prefix = Path(prefix)
    if not predictions:
        raise InputError("write_loco_predictions/predictions: no trait to write")
    lines = []
    for k, (trait, frame) in enumerate(predictions.items(), start=1):
        if not isinstance(frame, pd.DataFrame) or frame.shape[1] == 0:
            raise InputError(f"write_loco_predictions/predictions: trait {trait!r}: expected a samples x "
                             "chromosomes DataFrame")
        if any(ch.isspace() for ch in str(trait)):
            raise InputError(f"write_loco_predictions/predictions: trait name {trait!r} holds white space")
        ids = [str(s) for s in frame.index]
        if len(set(ids)) != len(ids):
            raise InputError(f"write_loco_predictions/predictions: trait {trait!r}: duplicated sample ids")
        path = prefix.with_name(f"{prefix.name}_{k}.loco")
        body = ["FID_IID " + " ".join(f"{s}_{s}" for s in ids)]
        values = frame.to_numpy(dtype=float)
        for j, chrom in enumerate(frame.columns):
            col = values[:, j]
            body.append(_name(chrom) + " " + " ".join("NA" if not np.isfinite(v) else repr(float(v)) for v in col))
        write_text(path, "\n".join(body) + "\n")
        lines.append(f"{trait} {path.resolve()}")
    return write_text(prefix.with_name(f"{prefix.name}_pred.list"), "\n".join(lines) + "\n")


def _open_text(path: Path):
    with open(path, "rb") as fh:
        magic = fh.read(2)
    return gzip.open(path, "rt") if magic == b"\x1f\x8b" else open(path)  # noqa: SIM115


def read_loco_predictions(pred_list: str | os.PathLike) -> dict[str, pd.DataFrame]:
    """Read LOCO predictions from a ``_pred.list`` (ours or REGENIE's; ``.loco`` or ``.loco.gz``).

    Parameters
    ----------
    pred_list : path
        ``<prefix>_pred.list``: ``<trait> <path of its .loco>`` per line; a relative path is taken
        from the list's folder first, then as given.

    Returns
    -------
    dict of str to DataFrame
        Trait -> frame indexed by sample id (the IID of ``FID_IID``, i.e. the eid; index name
        ``eid``) with one float64 column per chromosome (``"1"`` .. ``"22"``, ``"X"``).

    Raises
    ------
    InputError
        Missing list or ``.loco`` file, a malformed line (naming the file and line), a row whose
        length is not the number of samples, a value that is not a number, or a repeated trait.
    """
    pred_list = Path(pred_list)
    where = "read_loco_predictions/pred_list"
    if not pred_list.exists():
        raise InputError(f"{where}: no such file {pred_list}")
    out: dict[str, pd.DataFrame] = {}
    for i, line in enumerate(pred_list.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2:
            raise InputError(f"{where}: {pred_list} line {i}: expected '<trait> <path>', found {line!r}")
        trait, given = parts
        if trait in out:
            raise InputError(f"{where}: {pred_list} line {i}: trait {trait!r} listed twice")
        path = Path(given)
        if not path.is_absolute() and (pred_list.parent / path).exists():
            path = pred_list.parent / path
        if not path.exists():
            raise InputError(f"{where}: {pred_list} line {i}: no such .loco file {given}")
        out[trait] = _read_loco(path)
    if not out:
        raise InputError(f"{where}: {pred_list} lists no trait")
    return out


def _read_loco(path: Path) -> pd.DataFrame:
    where = "read_loco_predictions/loco"
    with _open_text(path) as fh:
        rows = [ln.split() for ln in fh if ln.strip()]
    if not rows or rows[0][0] != "FID_IID":
        raise InputError(f"{where}: {path} does not start with 'FID_IID' (REGENIE's .loco layout)")
    ids = rows[0][1:]
    # FID_IID joined by '_': UK Biobank's FID = IID, so the IID is the second half
    eids = []
    for s in ids:
        half = len(s) // 2
        eids.append(s[half + 1:] if len(s) % 2 == 1 and s[:half] == s[half + 1:] else s.split("_", 1)[-1])
    columns, data = [], []
    for j, row in enumerate(rows[1:], start=2):
        code = row[0]
        if code not in _CODE_TO_NAME:
            raise InputError(f"{where}: {path} line {j}: {code!r} is not a chromosome (1-23)")
        if len(row) - 1 != len(ids):
            raise InputError(f"{where}: {path} line {j}: {len(row) - 1} values for {len(ids)} samples")
        values = np.empty(len(ids))
        for i, v in enumerate(row[1:]):
            try:
                values[i] = np.nan if v == "NA" else float(v)  # exact (repr round trip)
            except ValueError:
                raise InputError(f"{where}: {path} line {j}: {v!r} is not a number") from None
        columns.append(_CODE_TO_NAME[code])
        data.append(values)
    if not columns:
        raise InputError(f"{where}: {path} has no chromosome rows")
    frame = pd.DataFrame(np.column_stack(data), index=pd.Index(eids, name="eid"), columns=columns)
    return frame


def loco_prediction_models(pred_list: str | os.PathLike) -> dict[str, str] | None:
    """How each trait of a ``_pred.list`` was fitted in step 1: ``"logistic"`` (log-odds
    predictions, REGENIE ``--bt``) or ``"linear"`` (the quantitative-trait scale); None if
    nothing beside the list says.

    Step 2 of a binary trait adds its prediction as an offset on the log-odds scale, so a list
    fitted as a quantitative trait would be used on the wrong scale without any error: the
    ``.loco`` files themselves do not record it. Two records are read: ours, the
    ``step1_summary.tsv`` beside the list (``trait`` and ``model`` columns), and REGENIE's own
    log, ``<prefix>.log`` for ``<prefix>_pred.list``, whose "Options in effect" name ``--bt`` when
    every trait was fitted as binary.

    Parameters
    ----------
    pred_list : path
        ``<prefix>_pred.list``.

    Returns
    -------
    dict of str to str, or None
        Trait -> ``"logistic"`` | ``"linear"`` for the traits the list names.
    """
    pred_list = Path(pred_list)
    traits = [ln.split()[0] for ln in pred_list.read_text().splitlines() if ln.strip()]
    ours = pred_list.parent / "step1_summary.tsv"
    if ours.exists():
        table = pd.read_csv(ours, sep="\t", dtype={"trait": str})
        if {"trait", "model"} <= set(table.columns):
            models = dict(zip(table["trait"], table["model"].astype(str), strict=True))
            if all(t in models for t in traits):
                return {t: models[t] for t in traits}
    name = pred_list.name
    if name.endswith("_pred.list"):
        regenie_log = pred_list.with_name(name[: -len("_pred.list")] + ".log")
        if regenie_log.exists():
            text = regenie_log.read_text(errors="replace")
            if "Options in effect" in text:
                block = text.split("Options in effect", 1)[1].split("\n\n", 1)[0]  # up to the first blank line
                options = block.replace("\\", " ").split()
                model = "logistic" if "--bt" in options else "linear"
                return {t: model for t in traits}
    return None

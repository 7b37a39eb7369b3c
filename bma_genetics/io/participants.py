"""One call from a UK Biobank export to the QC'd participant table and the diagnosis table."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from bma_genetics._result import StageResult
from bma_genetics.errors import InputError
from bma_genetics.io._schema import read_parquet_file, read_text_table
from bma_genetics.io.covariates import build_participant_table
from bma_genetics.io.diagnoses import read_diagnoses
from bma_genetics.io.sample_qc import run_sample_qc
from bma_genetics.io.ukb import read_ukb, read_ukb_header
from bma_genetics.io.withdrawals import read_withdrawals, remove_withdrawn

log = logging.getLogger(__name__)

#: Fields the participant table, the sample QC and the diagnoses use (read when present).
PARTICIPANT_FIELDS: tuple[int, ...] = (
    31, 34, 50, 52, 53, 54, 21000, 21001, 21003, 22000, 22001, 22006, 22009, 22019, 22020, 22021, 22027,
    40005, 40006, 41270, 41280, 41271, 41281, 40000, 40001, 40002, 191,
)  # fmt: skip


@dataclass
class ParticipantsResult(StageResult):
    """What :func:`run_participants` produces (a :class:`~bma_genetics._result.StageResult`).

    ``.to_frame()`` is the participant table; ``.summary()`` the counts. It writes nothing
    (``.files`` is empty): the participants stage writes the tables through io's writers.

    Attributes
    ----------
    participants : DataFrame
        The participant table of those passing QC (:func:`build_participant_table` schema);
        the same object as ``table``.
    diagnoses : DataFrame or None
        ``eid, code, date, source`` for every non-withdrawn participant (None without 41270).
    qc_table : DataFrame
        The sample-QC step counts (:func:`run_sample_qc`), with a ``withdrawn`` row first.
    counts : dict
        ``n_read``, ``n_withdrawn``, ``n_after_qc``, ``n_diagnoses``, ``n_with_diagnoses``
        (the same object as ``report``; with a kinship file also ``n_with_relatives``).
    with_relatives : DataFrame or None
        The participant table of those passing every QC step but ``related``: the QC'd
        participants *and* the relatives that step removed, for a GWAS that models relatedness
        (REGENIE-style LOCO, the gwas stage's ``relatedness: keep_loco``). None without a kinship
        file (then ``participants`` already keeps them).
    """

    diagnoses: pd.DataFrame | None = None
    qc_table: pd.DataFrame | None = None
    with_relatives: pd.DataFrame | None = None

    @property
    def participants(self) -> pd.DataFrame:
        return self.table

    @property
    def counts(self) -> dict[str, Any]:
        return self.report


def _phenotype_eids(phenotype: str | os.PathLike | Iterable[str] | pd.DataFrame | None) -> set[str] | None:
    if phenotype is None:
        return None
    if isinstance(phenotype, (str, os.PathLike)):
        path = Path(phenotype)
        if not path.exists():
            raise InputError(f"run_participants/phenotype: no such file {path}")
        where = "run_participants/phenotype"
        table = (read_parquet_file(path, where=where) if path.suffix == ".parquet"
                 else read_text_table(path, where=where, sep=None, engine="python"))
        if "eid" not in table.columns:
            raise InputError(f"{where}: {path} has no 'eid' column; it has {list(table.columns)[:10]}")
        phenotype = table
    if isinstance(phenotype, pd.DataFrame):
        if "eid" not in phenotype.columns:
            raise InputError("run_participants/phenotype: the phenotype table needs an 'eid' column")
        values = phenotype.drop(columns="eid")
        has = values.notna().any(axis=1) if values.shape[1] else pd.Series(True, index=phenotype.index)
        return set(phenotype.loc[has, "eid"].astype(str))
    return {str(e) for e in phenotype}


def run_participants(
    export: str | os.PathLike,
    *,
    withdrawals: str | os.PathLike | None = None,
    kinship: str | os.PathLike | None = None,
    phenotype: str | os.PathLike | Iterable[str] | pd.DataFrame | None = None,
    ancestry: str = "22006",
    ancestry_keep: str | list[str] | None = "EUR",
    n_pcs: int = 10,
    instance: int = 2,
    require_used_in_pca: bool = False,
    kinship_threshold: float = 0.0442,
    diagnoses: bool = True,
    dotted: bool = True,
    progress: bool = True,
) -> ParticipantsResult:
    """Read an export, drop withdrawn, run sample QC, build the participant and diagnosis tables.

    Parameters
    ----------
    export : path
        Any format :func:`read_ukb` reads.
    withdrawals : path, optional
        The withdrawal file; without it a warning is logged (withdrawn people must go).
    kinship : path, optional
        ``ukb_rel.dat`` for the relatedness step.
    phenotype : path, iterable of eids or DataFrame, optional
        Who has the phenotype (a table: ``eid`` + value columns, non-missing = has it); in
        each related pair the phenotyped participant is kept.
    ancestry, ancestry_keep, n_pcs, instance, require_used_in_pca, kinship_threshold
        As in :func:`run_sample_qc` and :func:`build_participant_table`.
    diagnoses : bool, default=True
        Also build the diagnosis table (when 41270 is present).
    dotted : bool, default=True
        ICD-10 codes in dotted form.

    Returns
    -------
    ParticipantsResult
    """
    layout = read_ukb_header(export)
    present = set(layout.fields())
    fields = [f for f in PARTICIPANT_FIELDS if f in present]
    data = read_ukb(export, fields, progress=progress)
    n_read = len(data)
    withdrawn: frozenset[str] = frozenset()
    if withdrawals is not None:
        withdrawn = read_withdrawals(withdrawals)
    else:
        log.warning("run_participants: no withdrawal file given; pass the latest w{app}_{date}.csv")
    data.frame = remove_withdrawn(data.frame, withdrawn, where=Path(export).name)
    n_withdrawn = n_read - len(data)
    kept, qc_table = run_sample_qc(
        data,
        ancestry=ancestry,
        ancestry_keep=ancestry_keep,
        kinship=kinship,
        phenotype=_phenotype_eids(phenotype),
        kinship_threshold=kinship_threshold,
        require_used_in_pca=require_used_in_pca,
    )
    head = pd.DataFrame([dict(step="withdrawn", fields="withdrawal file", criterion="withdrawn participants",
                              flagged=n_withdrawn, removed=n_withdrawn, remaining=len(data))])
    first = qc_table.iloc[[0]].assign(remaining=n_read)
    qc_table = pd.concat([first, head, qc_table.iloc[1:]], ignore_index=True)
    qc_table["flagged"] = qc_table["flagged"].astype("Int64")
    table = build_participant_table(data, instance=instance, n_pcs=n_pcs, eids=kept, ancestry=ancestry)
    with_relatives = None
    if kinship is not None:
        # every step but 'related' (a threshold no kinship reaches: no pair counts as related)
        kept_all, _ = run_sample_qc(data, ancestry=ancestry, ancestry_keep=ancestry_keep, kinship=kinship,
                                    phenotype=_phenotype_eids(phenotype), kinship_threshold=1.0,
                                    require_used_in_pca=require_used_in_pca)
        with_relatives = build_participant_table(data, instance=instance, n_pcs=n_pcs, eids=kept_all,
                                                 ancestry=ancestry)
    dx = None
    if diagnoses and 41270 in present:
        dx = read_diagnoses(data, dotted=dotted)
    counts = {
        "n_read": n_read,
        "n_withdrawn": n_withdrawn,
        "n_after_qc": len(table),
        "n_diagnoses": 0 if dx is None else len(dx),
        "n_with_diagnoses": 0 if dx is None else int(dx["eid"].nunique()),
    }
    if with_relatives is not None:
        counts["n_with_relatives"] = len(with_relatives)
    return ParticipantsResult(table=table, report=counts, diagnoses=dx, qc_table=qc_table,
                              with_relatives=with_relatives)

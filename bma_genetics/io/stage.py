"""Pipeline stage ``participants``: the cohort's UK Biobank export -> participant + diagnosis tables.

Parameters: :data:`PARAMS` below (the ``participants:`` mapping of a study config; paths
relative to the cohort), tabulated in ``docs/parameters.md``.

Outputs in the stage folder: ``participants.parquet``, ``diagnoses.parquet``, ``sample_qc.tsv`` and,
with a kinship file, ``participants_with_relatives.parquet`` (the same table before the
``related`` step: what the gwas stage's ``relatedness: keep_loco`` analyses).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from bma_genetics._atomic import write_table
from bma_genetics._params import Param, check_params
from bma_genetics.errors import InputError

log = logging.getLogger(__name__)

NAME = "participants"
REQUIRES: list[str] = []
#: Aggregate tables shown in the run report (patterns in the stage folder; never per-participant rows).
REPORT_TABLES = ["sample_qc.tsv"]
WITHDRAWALS = True  # removes the run's withdrawn participants (RunContext.withdrawn)


def _one_of_text(*allowed: str):
    def check(value: Any) -> str | None:
        return None if str(value) in allowed else " or ".join(repr(a) for a in allowed)

    return check


PARAMS = [
    Param("export", Path, "participants/ukb_showcase.csv", "the main-dataset export (any format)"),
    Param("withdrawals", Path, "participants/withdrawals.csv", "withdrawal file (null: none)", nullable=True),
    Param("kinship", Path, "genotypes/ukb_rel.dat", "relatedness file (null: skip)", nullable=True),
    Param("phenotype", Path, "participants/bmff_idp.parquet", "who has the phenotype (kept in related pairs)",
          nullable=True),
    Param("ancestry", (str, int), "22006", "ancestry source: field 22006 or pcs",
          check=_one_of_text("22006", "pcs"), allowed="'22006' or 'pcs'"),
    Param("ancestry_keep", (str, list), "EUR", "ancestry label(s) kept; null keeps all", nullable=True,
          item_type=str),
    Param("n_pcs", int, 10, "genetic PCs in the table", range=(0, 40)),
    Param("instance", int, 2, "visit for the covariates (2: imaging)", range=(0, 3)),
    Param("require_used_in_pca", bool, False, "also drop participants with 22020 != 1"),
    Param("kinship_threshold", float, 0.0442, "related from this kinship", range=(0, 0.5, "right")),
]
_OPTIONAL_FILES = ("withdrawals", "kinship", "phenotype")


def _resolve(cohort: Path | None, value: str | None, *, param: str, required: bool) -> Path | None:
    if value is None:
        return None
    p = Path(value)
    if not p.is_absolute():
        if cohort is None:
            raise InputError(f"participants/{param}: relative path {value!r} needs a cohort directory")
        p = cohort / p
    if not p.exists():
        if required:
            raise InputError(f"participants/{param}: no such file {p}")
        log.warning("participants/%s: %s not found; step skipped", param, p)
        return None
    return p


def withdrawals_file(cohort: Path | None, config: dict[str, Any] | None) -> Path | None:
    """The withdrawal file of a run: the ``participants`` stage's ``withdrawals`` option.

    Every stage removes the people it lists (:meth:`RunContext.withdrawn
    <bma_genetics.pipeline.context.RunContext.withdrawn>`), whether or not the study runs the
    participants stage: its option (relative to the cohort) when the config has that stage,
    else the default ``<cohort>/participants/withdrawals.csv`` when it exists.

    Returns
    -------
    Path or None
        None when the option is null, or the default file is absent (a warning is logged).

    Raises
    ------
    InputError
        A withdrawal file the config names that does not exist.
    """
    section = ((config or {}).get("stages") or {}).get(NAME)
    p = check_params(NAME, section if isinstance(section, dict) else {}, PARAMS)
    declared = next(q.default for q in PARAMS if q.name == "withdrawals")
    if cohort is None and p["withdrawals"] == declared:
        return None  # no cohort, no default file
    return _resolve(cohort, p["withdrawals"], param="withdrawals", required=p["withdrawals"] != declared)


def run(ctx, params: dict[str, Any]) -> dict[str, Any]:
    """Run the stage; returns the summary (counts per QC step and the tables written)."""
    from bma_genetics.io.covariates import write_participant_table
    from bma_genetics.io.diagnoses import write_diagnoses
    from bma_genetics.io.participants import run_participants

    p = check_params(NAME, params, PARAMS)
    cohort = Path(ctx.cohort) if ctx.cohort is not None else None
    # A default optional file that is absent is skipped; one the user named must exist.
    declared = {q.name: q.default for q in PARAMS}
    paths = {k: _resolve(cohort, p[k], param=k, required=p[k] != declared[k]) for k in _OPTIONAL_FILES}
    export = _resolve(cohort, p["export"], param="export", required=True)
    result = run_participants(
        export,
        withdrawals=paths["withdrawals"],
        kinship=paths["kinship"],
        phenotype=paths["phenotype"],
        ancestry=str(p["ancestry"]),
        ancestry_keep=p["ancestry_keep"],
        n_pcs=int(p["n_pcs"]),
        instance=int(p["instance"]),
        require_used_in_pca=bool(p["require_used_in_pca"]),
        kinship_threshold=float(p["kinship_threshold"]),
        progress=False,
    )
    out = ctx.stage_dir(NAME)
    write_participant_table(result.participants, out / "participants.parquet")
    write_table(result.qc_table, out / "sample_qc.tsv")
    tables = ["participants.parquet", "sample_qc.tsv"]
    relatives = None
    if result.with_relatives is not None:
        # the QC'd participants plus the relatives the 'related' step removed (gwas relatedness: keep_loco)
        relatives = out / "participants_with_relatives.parquet"
        write_participant_table(result.with_relatives, relatives)
        tables.append(relatives.name)
    if result.diagnoses is not None:
        write_diagnoses(result.diagnoses, out / "diagnoses.parquet")
        tables.append("diagnoses.parquet")
    qc = {row.step: int(row.removed) for row in result.qc_table.itertuples() if row.step != "input"}
    return {
        **result.counts,
        "qc_removed": qc,
        "export": str(export),
        "participants": str(out / "participants.parquet"),
        "diagnoses": str(out / "diagnoses.parquet") if result.diagnoses is not None else None,
        "sample_qc": str(out / "sample_qc.tsv"),
        "participants_with_relatives": str(relatives) if relatives is not None else None,
        "ancestry_counts": {str(k): int(v) for k, v in result.participants["ancestry"].value_counts(dropna=False).items()},
        "tables": tables,
    }

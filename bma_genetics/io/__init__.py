"""UK Biobank data layer: every export format in, one clean participant table out.

See ``docs/io.md``. Readers for showcase CSV/TSV, ukbconv R/Stata/SAS/SPSS, research-platform
tables and Parquet (:func:`read_ukb`), access by field (:func:`get_field`), withdrawals, the
standard genetic sample QC (:func:`run_sample_qc`), the participant table
(:func:`build_participant_table`), diagnoses (:func:`read_diagnoses`), and all of it in one
call from an export (:func:`run_participants`).

The names are loaded on first use, so ``bma-genetics --help`` does not import pandas.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "BUILTIN_CODINGS",
    "BUILTIN_FIELDS",
    "IMAGING_CENTRES",
    "PARTICIPANT_COLUMNS",
    "PARTICIPANT_FIELDS",
    "QC_STEPS",
    "Coding",
    "Dictionary",
    "FieldInfo",
    "FieldKey",
    "ParticipantsResult",
    "UKBData",
    "assign_ancestry",
    "build_participant_table",
    "get_field",
    "normalise_icd10",
    "parse_column",
    "parse_header",
    "read_data_dictionary",
    "read_diagnoses",
    "read_kinship",
    "read_long_diagnoses",
    "read_participant_table",
    "read_ukb",
    "read_ukb_header",
    "read_withdrawals",
    "remove_withdrawn",
    "run_participants",
    "run_sample_qc",
    "unrelated_set",
    "write_diagnoses",
    "write_participant_table",
]


#: Result tables of the PheWAS, MR and enrichment stages (:mod:`bma_genetics.io.results`).
_RESULTS = (
    "read_gene_results",
    "read_gene_set_results",
    "read_mr_results",
    "read_phewas_results",
    "write_gene_results",
    "write_gene_set_results",
    "write_mr_results",
    "write_phewas_results",
)
__all__ += list(_RESULTS)


def __getattr__(name: str) -> Any:
    if name in _RESULTS:
        return getattr(importlib.import_module("bma_genetics.io.results"), name)
    if name in __all__:
        return getattr(importlib.import_module("bma_genetics.io.api"), name)
    raise AttributeError(f"module 'bma_genetics.io' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])

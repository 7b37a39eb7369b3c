"""PheWAS over ICD-10 phecodes: mapping, cases/controls, batched logistic/Firth/Cox regression.

See ``docs/phewas.md``. Entry point: :func:`run_phewas`.
"""

from bma_genetics.phewas.api import (
    RESULT_COLUMNS,
    CaseControl,
    add_multiple_testing,
    build_case_control,
    run_phewas,
    suppress_small_counts,
    type1_error,
    write_results,
)
from bma_genetics.phewas.inputs import diagnoses_from_showcase, read_diagnoses
from bma_genetics.phewas.mapping import count_phecodes, load_map, normalise_phecode_map, rollup

__all__ = [
    "RESULT_COLUMNS",
    "CaseControl",
    "add_multiple_testing",
    "build_case_control",
    "count_phecodes",
    "diagnoses_from_showcase",
    "load_map",
    "normalise_phecode_map",
    "read_diagnoses",
    "rollup",
    "run_phewas",
    "suppress_small_counts",
    "type1_error",
    "write_results",
]

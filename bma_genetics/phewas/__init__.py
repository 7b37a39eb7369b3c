"""PheWAS over ICD-10 phecodes: mapping, cases/controls, batched logistic/Firth/Cox regression.

See ``docs/phewas.md``. Entry point: :func:`run_phewas`.
"""

from bma_genetics.phewas.api import (
    RESULT_COLUMNS,
    CaseControl,
    PheWASResult,
    add_multiple_testing,
    build_case_control,
    run_phewas,
    suppress_small_counts,
    type1_error,
    write_results,
)
from bma_genetics.phewas.mapping import count_phecodes, load_map, normalise_phecode_map, rollup

__all__ = [
    "RESULT_COLUMNS",
    "CaseControl",
    "PheWASResult",
    "add_multiple_testing",
    "build_case_control",
    "count_phecodes",
    "load_map",
    "normalise_phecode_map",
    "rollup",
    "run_phewas",
    "suppress_small_counts",
    "type1_error",
    "write_results",
]

"""Two-sample Mendelian randomisation: instruments, harmonisation, estimators, sensitivity analyses.

TwoSampleMR's workflow and vocabulary in snake_case, offline (LD from a reference panel or
in-sample genotypes), with results equal to TwoSampleMR / MendelianRandomization.
"""

from bma_genetics.io.sumstats import SUMSTATS_COLUMNS as STANDARD_COLUMNS
from bma_genetics.io.sumstats import read_sumstats
from bma_genetics.mr.api import MRResult, run_mr, run_mr_analysis
from bma_genetics.mr.diagnostics import (
    mr_heterogeneity,
    mr_leave_one_out,
    mr_pleiotropy_test,
    mr_presso_table,
    mr_radial_table,
    mr_single_snp,
    mr_steiger,
    r2_from_bsen,
    r2_from_lor,
    steiger_filtering,
)
from bma_genetics.mr.harmonise import HARMONISED_COLUMNS, harmonise, read_harmonised
from bma_genetics.mr.instruments import (
    find_proxies,
    instrument_strength,
    instrument_strength_summary,
    select_instruments,
)
from bma_genetics.mr.methods import (
    METHODS,
    RESULT_COLUMNS,
    MREstimate,
    MRMethod,
    MRParameters,
    method_list,
    mr_egger,
    mr_egger_bootstrap,
    mr_ivw,
    mr_ivw_fixed,
    mr_penalised_weighted_median,
    mr_presso,
    mr_radial_egger,
    mr_radial_ivw,
    mr_raps,
    mr_simple_median,
    mr_simple_mode,
    mr_wald_ratio,
    mr_weighted_median,
    mr_weighted_mode,
)

__all__ = [
    "HARMONISED_COLUMNS",
    "METHODS",
    "RESULT_COLUMNS",
    "STANDARD_COLUMNS",
    "MREstimate",
    "MRMethod",
    "MRResult",
    "MRParameters",
    "find_proxies",
    "harmonise",
    "instrument_strength",
    "instrument_strength_summary",
    "method_list",
    "mr_egger",
    "mr_egger_bootstrap",
    "mr_heterogeneity",
    "mr_ivw",
    "mr_ivw_fixed",
    "mr_leave_one_out",
    "mr_penalised_weighted_median",
    "mr_pleiotropy_test",
    "mr_presso",
    "mr_presso_table",
    "mr_radial_egger",
    "mr_radial_ivw",
    "mr_radial_table",
    "mr_raps",
    "mr_simple_median",
    "mr_simple_mode",
    "mr_single_snp",
    "mr_steiger",
    "mr_wald_ratio",
    "mr_weighted_median",
    "mr_weighted_mode",
    "r2_from_bsen",
    "r2_from_lor",
    "read_harmonised",
    "read_sumstats",
    "run_mr",
    "run_mr_analysis",
    "select_instruments",
    "steiger_filtering",
]

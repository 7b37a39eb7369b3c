"""UK Biobank data layer: every export format in, one clean participant table out.

See ``docs/io.md``. Readers for showcase CSV/TSV, ukbconv R/Stata/SAS/SPSS, research-platform
tables and Parquet (:func:`read_ukb`), access by field (:func:`get_field`), withdrawals, the
standard genetic sample QC (:func:`run_sample_qc`), the participant table
(:func:`build_participant_table`) and diagnoses (:func:`read_diagnoses`).
"""

from bma_genetics.io.api import *  # noqa: F403
from bma_genetics.io.api import __all__  # noqa: F401

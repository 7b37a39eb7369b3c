"""The synthetic mini UK Biobank: genotypes, BMFF traits, diagnoses, outcome GWAS and truth.

See ``docs/cohort_layout.md`` for the files written and ``docs/simulate.md`` for the models.
"""

from bma_genetics.simulate.api import simulate_cohort
from bma_genetics.simulate.presets import PRESETS

__all__ = ["PRESETS", "simulate_cohort"]

"""The study runner: a YAML config -> stages -> a run directory with tables, figures and a report."""

from bma_genetics.pipeline.context import RunContext
from bma_genetics.pipeline.runner import check_config, load_config, run_study

__all__ = ["RunContext", "check_config", "load_config", "run_study"]

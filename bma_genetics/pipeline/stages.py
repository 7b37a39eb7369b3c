"""The registry of pipeline stages: name -> ``module:function``.

A stage function has the signature ``run(ctx: RunContext, params: dict) -> dict`` and returns
its summary (products and headline numbers), which the runner stores as ``summary.json`` in the
stage folder and shows in the report. The config's ``stages:`` mapping picks and orders them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

STAGES: dict[str, str] = {
    "reference": "bma_genetics.resources.stage:run",
    "cohort": "bma_genetics.pipeline.cohort_stage:run",
    "participants": "bma_genetics.io.stage:run",
    "phenotypes": "bma_genetics.phenotypes.stage:run",
    "gwas": "bma_genetics.gwas.stage:run",
    "enrichment": "bma_genetics.enrichment.stage:run",
    "phewas": "bma_genetics.phewas.stage:run",
    "mr": "bma_genetics.mr.stage:run",
}


def resolve(name: str) -> Callable[..., dict[str, Any]] | None:
    """Import a stage's function, or ``None`` when that stage is not part of this version."""
    from bma_genetics.errors import BmaGeneticsError

    if name not in STAGES:
        raise BmaGeneticsError(f"pipeline/stages: unknown stage '{name}'; known: {sorted(STAGES)}")
    module_name, func = STAGES[name].split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and (module_name == exc.name or module_name.startswith(exc.name + ".")):
            return None
        raise
    return getattr(module, func)

"""The synthetic mini UK Biobank: genotypes, BMFF traits, diagnoses, outcome GWAS, truth, and the
Dixon MRI of its imaged subset (:func:`simulate_dixon_images`; the pipeline stage ``images``).

See ``docs/cohort_layout.md`` for the files written and ``docs/simulate.md`` for the models.

The names are loaded on first use (PEP 562), so that reading a stage's declarations (the
runner's config check, ``bma-genetics --help``) does not import the heavy modules.
"""

from __future__ import annotations

import importlib
from typing import Any

#: Public name -> the module that defines it.
_LAZY: dict[str, str] = {
    "simulate_cohort": "bma_genetics.simulate.api",
    "PRESETS": "bma_genetics.simulate.presets",
    "simulate_dixon_images": "bma_genetics.simulate.dixon",
    "simulate_related_cohort": "bma_genetics.simulate.relatives",
}

__all__ = ["PRESETS", "simulate_cohort", "simulate_dixon_images", "simulate_related_cohort"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'bma_genetics.simulate' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])

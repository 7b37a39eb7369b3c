"""Dixon MRI -> bone-marrow fat fraction (BMFF): U-Net segmentation, fat fraction and image QC.

The names are loaded on first use (PEP 562), so that reading a stage's declarations (the
runner's config check, ``bma-genetics --help``) does not import the heavy modules.
"""

from __future__ import annotations

import importlib
from typing import Any

#: Public name -> the module that defines it.
_LAZY: dict[str, str] = {
    "BMFFResult": "bma_genetics.phenotypes.api",
    "compare_to_truth": "bma_genetics.phenotypes.api",
    "load_model": "bma_genetics.phenotypes.api",
    "predict_bmff": "bma_genetics.phenotypes.api",
    "retest_reliability": "bma_genetics.phenotypes.api",
    "run_bmff": "bma_genetics.phenotypes.api",
    "train_unet": "bma_genetics.phenotypes.api",
    "volume_reference": "bma_genetics.phenotypes.api",
}

__all__ = [
    "BMFFResult",
    "compare_to_truth",
    "load_model",
    "predict_bmff",
    "retest_reliability",
    "run_bmff",
    "train_unet",
    "volume_reference",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'bma_genetics.phenotypes' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])

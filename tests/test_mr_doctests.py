"""The runnable examples in the MR docstrings."""

from __future__ import annotations

import doctest
import importlib

import pytest


@pytest.mark.parametrize("name", ["bma_genetics.mr.api", "bma_genetics.mr.harmonise", "bma_genetics.mr.mvmr"])
def test_docstring_examples(name):
    # import_module: the package re-exports functions under the same names as these modules
    res = doctest.testmod(importlib.import_module(name), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert res.attempted > 0 and res.failed == 0

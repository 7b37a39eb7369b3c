"""The runnable examples in the MR docstrings."""

from __future__ import annotations

import doctest

import pytest

import bma_genetics.mr.api
import bma_genetics.mr.harmonise


@pytest.mark.parametrize("module", [bma_genetics.mr.api, bma_genetics.mr.harmonise])
def test_docstring_examples(module):
    res = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert res.attempted > 0 and res.failed == 0

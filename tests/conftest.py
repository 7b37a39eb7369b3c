"""Shared fixtures: one tiny cohort and one Hail context per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")

TINY_SEED = 7


@pytest.fixture(scope="session")
def tiny_cohort(tmp_path_factory) -> Path:
    """The ``tiny`` preset, simulated once per session (``docs/cohort_layout.md``)."""
    from bma_genetics.simulate import simulate_cohort

    out = tmp_path_factory.mktemp("cohort") / "tiny"
    simulate_cohort("tiny", seed=TINY_SEED, out=out)
    return out


@pytest.fixture(scope="session")
def hail_context(tmp_path_factory):
    """One local Hail context (``local[2]``) for the session, logging to a temp dir."""
    from bma_genetics._hail import init_hail

    base = tmp_path_factory.mktemp("hail")
    hl = init_hail(master="local[2]", tmp_dir=base / "tmp", log_dir=base / "log", driver_memory="3g")
    yield hl


@pytest.fixture(autouse=True)
def _close_figures():
    """Release matplotlib figures a test left open (the suite draws hundreds)."""
    yield
    import matplotlib.pyplot as plt

    plt.close("all")

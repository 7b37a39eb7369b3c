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


# The study the shared tiny run directory is made with: the stages whose results the notebooks
# and the GWAS stage tests read (GWAS of two traits, sex strata and null traits; PheWAS; MR).
TINY_STUDY = {
    "name": "tiny",
    "seed": 1,
    "hail": {"master": "local[2]", "driver_memory": "2g"},
    "stages": {
        "participants": {},
        "gwas": {"traits": ["bmff_femoral_head", "bmff_spine"], "strata": ["sex"], "chunk_by": "all",
                 "qc": {"min_info": 0.3}, "null_traits": 8},
        "phewas": {"min_cases": 10, "min_phecode_count": 1},
        # instruments at P < 1e-4: the tiny cohort has no genome-wide hit, and MR plots need a few
        "mr": {"exposures": ["bmff_femoral_head"], "p_fallback": 1e-4, "nboot": 200,
               "mvmr": {"exposures": ["outcome_gwas/bmd.tsv.gz"], "outcome": "outcome_gwas/osteoporosis_mvmr.tsv.gz",
                        "p_threshold": 1e-4}},
    },
}


@pytest.fixture(scope="session")
def tiny_run(tiny_cohort, hail_context, tmp_path_factory) -> Path:
    """A run directory of :data:`TINY_STUDY` on the tiny cohort, made once per session (~3 min)
    and shared: the GWAS stage tests and the notebooks read it, so the GWAS runs once."""
    from bma_genetics.pipeline import run_study

    return run_study(TINY_STUDY, cohort=tiny_cohort, out=tmp_path_factory.mktemp("tiny_run") / "run")


@pytest.fixture
def ldl():
    """MendelianRandomization's 28-variant LDL-c -> CHD example (``tests/data/mr_ldlc_chd.tsv``) as
    ``(b_exp, b_out, se_exp, se_out)`` arrays (the MR method tests)."""
    import pandas as pd

    d = pd.read_csv(Path(__file__).parent / "data" / "mr_ldlc_chd.tsv", sep="\t", comment="#")
    return d.ldlc.to_numpy(), d.chdlodds.to_numpy(), d.ldlcse.to_numpy(), d.chdloddsse.to_numpy()


@pytest.fixture(autouse=True)
def _close_figures():
    """Release matplotlib figures a test left open (the suite draws hundreds)."""
    yield
    import matplotlib.pyplot as plt

    plt.close("all")

"""Every notebook under notebooks/ runs top to bottom on the tiny preset.

Notebooks that read a study's run directory or a cohort find them through the environment
(``BMA_GENETICS_RUN``, ``BMA_GENETICS_COHORT``); here those are the session's tiny run
(``tiny_run`` in ``conftest.py``, shared with the GWAS stage tests) and tiny cohort.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).parents[1] / "notebooks").glob("*.ipynb"))
# What each notebook reads besides its own work: fixture name -> environment variable.
NEEDS = {
    "02_gwas_results.ipynb": {"tiny_run": "BMA_GENETICS_RUN", "tiny_cohort": "BMA_GENETICS_COHORT"},
    "03_phewas_mr.ipynb": {"tiny_run": "BMA_GENETICS_RUN"},
    "04_dixon_to_bmff.ipynb": {"tiny_cohort": "BMA_GENETICS_COHORT"},
    "05_heritability.ipynb": {"tiny_run": "BMA_GENETICS_RUN", "tiny_cohort": "BMA_GENETICS_COHORT"},
    "06_finemap_coloc.ipynb": {"tiny_run": "BMA_GENETICS_RUN", "tiny_cohort": "BMA_GENETICS_COHORT"},
    "07_polygenic_scores.ipynb": {"tiny_run": "BMA_GENETICS_RUN", "tiny_cohort": "BMA_GENETICS_COHORT"},
}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_executes(path, tmp_path, request, monkeypatch):
    for fixture, variable in NEEDS.get(path.name, {}).items():
        monkeypatch.setenv(variable, str(request.getfixturevalue(fixture)))
    # the kernel's own default (inline figures), not the suite's Agg: figures must show inline
    monkeypatch.delenv("MPLBACKEND", raising=False)
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if "image/png" in o.get("data", {})]
    assert images, f"{path.name} showed no figure inline"


def test_every_notebook_is_declared():
    """A notebook that reads a run or a cohort says so in NEEDS (else it fails only in the suite)."""
    for path in NOTEBOOKS:
        text = path.read_text()
        for fixture, variable in {"tiny_run": "BMA_GENETICS_RUN", "tiny_cohort": "BMA_GENETICS_COHORT"}.items():
            if variable in text:
                assert NEEDS.get(path.name, {}).get(fixture) == variable, path.name

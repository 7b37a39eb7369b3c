"""Cohort guard of the vertebral level anchor (issue 20): an anchor that does not fit the scans'
anatomy must not shift every participant's levels silently."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd

from bma_genetics.phenotypes.api import _finalise
from bma_genetics.phenotypes.bmff import L5_ANCHOR_SPACINGS, anchor_levels, anchor_offset


def _cohort(l5_spacings: float, n: int = 80, transitional: float = 0.08, seed: int = 0) -> pd.DataFrame:
    """Rows as predict_bmff gives them for spines whose L5 sits ``l5_spacings`` level spacings above the
    femoral heads (the simulated anatomy: 4.07), ``transitional`` of them with an L6 (one level lower)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        spacing = 30.0 * rng.normal(1.0, 0.05)
        l5 = (l5_spacings + rng.normal(0, 0.08)) * spacing
        lowest = l5 - spacing if i < transitional * n else l5
        heights = lowest + spacing * np.arange(5)
        start, anatomy = anchor_levels(heights)
        rows.append({"eid": str(1_000_000 + i), "source": "", "qc_read_failed": False, "error": "",
                     "vertebral_anatomy": anatomy, "qc_vertebral_levels": start is None,
                     "vertebral_anchor_offset": anchor_offset(heights)})
    return pd.DataFrame(rows)


MODEL = SimpleNamespace(meta={"reference": {}}, sha256="test")


def test_anchor_fitting_the_anatomy_passes_the_guard(caplog):
    rows = _cohort(L5_ANCHOR_SPACINGS)
    with caplog.at_level("WARNING"):
        table = _finalise([rows], MODEL)
    assert (table["vertebral_anatomy"] == "six_lumbar").mean() < 0.15
    assert not table["qc_vertebral_levels"].any() and "l5_anchor_spacings" not in caplog.text
    assert table["vertebral_anchor_offset"].notna().all()  # each participant's offset is a column
    assert not table.attrs["vertebral_level_guard"]["triggered"]


def test_shifted_anatomy_flags_every_participants_levels(caplog):
    # real scans with L5 at 3.2 spacings: a typical spine reads as six_lumbar with the simulator's anchor
    rows = _cohort(3.2)
    assert (rows["vertebral_anatomy"] == "six_lumbar").mean() > 0.8  # the silent shift the guard must catch
    with caplog.at_level("WARNING"):
        table = _finalise([rows], MODEL)
    assert table["qc_vertebral_levels"].all() and not table["qc_pass"].any()
    guard = table.attrs["vertebral_level_guard"]
    assert guard["triggered"] and guard["median_offset"] < -0.6
    assert "l5_anchor_spacings" in caplog.text and f"{guard['median_offset']:+.2f}" in caplog.text
    # calibrating the anchor on these scans removes the flags
    from bma_genetics.phenotypes import qc as qcmod

    shifted = rows.assign(vertebral_anchor_offset=rows["vertebral_anchor_offset"] + L5_ANCHOR_SPACINGS - 3.2,
                          vertebral_anatomy="typical")
    assert not qcmod.vertebral_level_guard(shifted)[1]["triggered"]

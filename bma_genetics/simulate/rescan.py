"""Repeat imaging (UK Biobank instance 3): the same people scanned again, for test-retest reliability.

A rescanned participant keeps the anatomy and the marrow fat fractions of the first scan (the
phantom is rebuilt from the same anatomy seed), and gets what a second visit changes: a new
position in the scanner (a displacement of the body, mm: along the table N(0, 6), in-plane
N(0, 2.5)), a new receive-coil bias field and station gains, and new Rician noise. No artefact
is injected into a rescan; only participants whose first scan has none are rescanned.

Randomness comes from its own stream (``np.random.default_rng([seed, RESCAN_STREAM])``): the
first-visit images of a seed are byte-identical whether or not rescans are asked for.

Written by :func:`bma_genetics.simulate.dixon.simulate_dixon_images` (``n_rescans``):
``images/20201/{eid}_20201_3_0.zip`` (the UK Biobank bulk name of the repeat imaging visit, read
by :func:`bma_genetics.io.dixon.find_images` with ``instance=3``) and ``truth/rescans.tsv``:

==================  =======  ==================================================
column              dtype    meaning
==================  =======  ==================================================
eid                 str      participant
zip                 str      path of the instance-3 zip, relative to the output
shift_z_mm          float    displacement of the body along the table, mm
shift_y_mm          float    anterior-posterior displacement, mm
shift_x_mm          float    left-right displacement, mm
==================  =======  ==================================================
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: Tag of the rescans' own random stream (``default_rng([seed, RESCAN_STREAM])``).
RESCAN_STREAM = 2003
#: Rescanned participants by cohort preset when ``n_rescans`` is not given (other presets, and
#: tiny: a tenth of the imaged).
DEFAULT_RESCANS = {"demo": 50, "large": 100}
#: SD of the repositioning between visits, mm: along the table (z), then in-plane (y, x).
POSITION_SD_MM = (6.0, 2.5, 2.5)


def default_rescans(preset: str, n_imaged: int) -> int:
    """Participants rescanned when not given: :data:`DEFAULT_RESCANS` of the preset, else a tenth."""
    return int(DEFAULT_RESCANS.get(preset, n_imaged // 10))


def pick_rescans(artefacts: np.ndarray, n_rescans: int, rng: np.random.Generator) -> np.ndarray:
    """Indices (sorted) of the participants rescanned: ``n_rescans`` of those without an artefact."""
    clean = np.flatnonzero(np.asarray(artefacts) == "none")
    k = min(int(n_rescans), clean.size)
    return np.sort(rng.choice(clean, size=k, replace=False)) if k else np.array([], dtype=int)


def rescan_plan(artefacts: np.ndarray, n_rescans: int, seed: int) -> list[dict[str, Any]]:
    """Who is rescanned, with the displacement and the acquisition seed of each repeat scan.

    Returns
    -------
    list of dict
        ``index`` (into the imaged subset), ``position`` ``(dz, dy, dx)`` mm, ``seed`` (bias,
        gains, noise) and ``file_order_seed``.
    """
    rng = np.random.default_rng([int(seed), RESCAN_STREAM])
    idx = pick_rescans(artefacts, n_rescans, rng)
    plan = []
    for i in idx:
        pos = tuple(float(v) for v in rng.normal(0.0, POSITION_SD_MM))
        s = rng.integers(0, 2**63 - 1, size=2)
        plan.append({"index": int(i), "position": pos, "seed": int(s[0]), "file_order_seed": int(s[1])})
    return plan

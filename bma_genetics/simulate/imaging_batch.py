"""Two imaging batches (as Xu 2025's two UK Biobank release batches), with a planted BMFF shift.

A participant's imaging batch follows from the first imaging visit's date (field 53-2.0): batch 1
before :data:`bma_genetics.io.covariates.IMAGING_BATCH_SPLIT`, batch 2 from it on -- the rule the
participant table applies (``imaging_batch``), so a GWAS can take the batch as a covariate or
stratify by it and meta-analyse the batches. The simulator adds ``imaging_batch_offset`` (latent SD
units, the same at every site; preset parameter, 0 = off) to the measurement part of every
batch-2 participant's BMFF (``traits.to_fat_fraction``'s ``m``): it reaches
``truth/bmff_true.parquet``, the images made from it and ``participants/bmff_idp.parquet``.
Deterministic (no random draws), so the other outputs of a seed do not move.

Truth: ``truth/imaging_batch.tsv`` (``eid, imaging_batch, shift_latent_sd``), and the offset and
split in ``truth/bmff_covariate_effects.json``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from bma_genetics.io.covariates import IMAGING_BATCH_SPLIT


def batch_of(imaging_date: np.ndarray) -> np.ndarray:
    """Imaging batch (1 or 2; 0 where the date is missing) from field 53-2.0 dates."""
    d = np.asarray(imaging_date).astype("datetime64[D]")
    out = np.where(d >= np.datetime64(IMAGING_BATCH_SPLIT), 2, 1)
    return np.where(np.isnat(d), 0, out).astype(np.int8)


def environment(batch: np.ndarray, offset: float) -> np.ndarray:
    """The planted shift, latent SD units: ``offset`` for batch 2, else 0."""
    return np.where(np.asarray(batch) == 2, float(offset), 0.0)


def write_truth(root: Path, eids: np.ndarray, batch: np.ndarray, offset: float) -> None:
    """``truth/imaging_batch.tsv``: ``eid, imaging_batch, shift_latent_sd``."""
    pd.DataFrame({"eid": np.asarray(eids).astype(str), "imaging_batch": np.asarray(batch).astype(int),
                  "shift_latent_sd": environment(batch, offset)}).to_csv(
        Path(root) / "truth" / "imaging_batch.tsv", sep="\t", index=False, lineterminator="\n")

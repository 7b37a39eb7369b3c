"""LD (Pearson r between allele dosages) from a genotype reader."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bma_genetics.ld.readers import GenotypeReader


def standardise(dosages: np.ndarray) -> np.ndarray:
    """Mean-impute missing dosages and scale each column to mean 0, variance 1 (monomorphic -> 0)."""
    x = np.asarray(dosages, dtype=np.float64)
    mean = np.nanmean(x, axis=0) if np.isnan(x).any() else x.mean(axis=0)
    x = np.where(np.isnan(x), mean, x) - mean
    sd = np.sqrt((x * x).mean(axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        x = np.where(sd > 0, x / np.where(sd > 0, sd, 1.0), 0.0)
    return x


def ld_matrix(reader: GenotypeReader, indices: Sequence[int] | np.ndarray) -> np.ndarray:
    """Pearson correlation between the dosages of ``indices``: array of shape (k, k).

    Missing genotypes are mean-imputed; a monomorphic variant has r = 0 with every other
    variant and 1 on the diagonal. The sign follows the reader's counted allele
    (``reader.dosage_allele``).
    """
    z = standardise(reader.dosages(indices))
    r = z.T @ z / z.shape[0]
    np.fill_diagonal(r, 1.0)
    return np.clip(r, -1.0, 1.0)


def ld_with(reader: GenotypeReader, index: int, indices: Sequence[int] | np.ndarray) -> np.ndarray:
    """Correlation of one variant with each of ``indices`` (a vector of length k)."""
    z0 = standardise(reader.dosages([index]))[:, 0]
    z = standardise(reader.dosages(indices))
    return np.clip(z0 @ z / z.shape[0], -1.0, 1.0)

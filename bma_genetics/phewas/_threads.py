"""Moved to :mod:`bma_genetics._blas` (shared by PheWAS, clumping, PRS-CS and enrichment); kept so
that imports of ``bma_genetics.phewas._threads`` keep working."""

from bma_genetics._blas import blas_threads

__all__ = ["blas_threads"]

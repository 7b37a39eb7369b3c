"""Heritability and genetic correlation by LD score regression (LDSC, natively in Python 3).

See ``docs/heritability.md`` and :mod:`bma_genetics.heritability.api`.
"""

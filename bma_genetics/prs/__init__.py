"""Polygenic scores: clumping + thresholding, PRS-CS, scoring in plink2 ``--score``'s layout."""

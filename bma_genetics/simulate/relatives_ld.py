"""Founder haplotypes with linkage disequilibrium for the relatives cohort (``founder_ld=True``).

:func:`~bma_genetics.simulate.relatives.simulate_related_cohort` draws its founders' alleles
independently per variant by default: every LD score is ~1 and LD score regression cannot tell its
intercept from its slope. With ``founder_ld=True`` the founders' haplotypes come from here instead:
one coalescent simulation per chromosome (msprime, Hudson with recombination, one population of
constant size ``ne``; binary mutations on the discrete genome), all founders sampled at once, so
they share the population's LD and nothing else (no relatedness among founders).

The recombination rate is not flat: as in the human genome, most crossovers fall in a small part
of the sequence. Each ``interval_bp`` interval gets a rate ``mean_rate x Gamma(shape, 1/shape)``
(mean ``mean_rate``; shape 0.3 puts about half the map length in the top tenth of the intervals),
so LD blocks differ in length and LD scores vary between variants (in-sample LD scores with the
defaults: mean ~20, coefficient of variation ~0.4; flat rate: 0.3).

Each chromosome keeps ``variants_per_chromosome`` of the sites with founder MAF >= ``maf_min``
(drawn at random, kept in position order). The window simulated (``window_bp``) stands for the
whole chromosome's LD; meiosis in the pedigree still treats the chromosome as
``chromosome_morgans`` long (relatives share long segments identical by descent, as real ones do).
Randomness: one generator ``np.random.default_rng([seed, RELATIVES_LD_TAG])`` seeds every msprime
call, so the founders are a function of ``seed`` and the sizes only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: The tag of this module's random generator.
RELATIVES_LD_TAG = 16_007


@dataclass(frozen=True)
class FounderPool:
    """Founder haplotypes of every chromosome, concatenated in chromosome order."""

    haplotypes: np.ndarray  # (2 * n_founders, n_variants) int8 ALT (derived) alleles, founder k rows 2k, 2k+1
    positions: np.ndarray  # (n_variants,) int64, 1-based, increasing within each chromosome
    settings: dict


def msprime_founders(n_founders: int, n_chromosomes: int, variants_per_chromosome: int, *, seed: int,
                     window_bp: int = 3_000_000, ne: float = 10_000, mean_rate: float = 1e-8,
                     mutation_rate: float = 1.5e-8, rate_shape: float = 0.3, interval_bp: int = 10_000,
                     maf_min: float = 0.05) -> FounderPool:
    """Founders' haplotypes with LD (module docstring).

    Parameters
    ----------
    n_founders : int
        Diploid founders (each gives two haplotypes).
    n_chromosomes, variants_per_chromosome : int
        Chromosomes (one coalescent simulation each) and variants kept per chromosome.
    seed : int
        Seeds this module's generator.
    window_bp, ne, mean_rate, mutation_rate, rate_shape, interval_bp, maf_min
        Simulated length per chromosome, effective population size, mean recombination rate (per bp
        per generation), mutation rate, the Gamma shape of the rate's heterogeneity and the
        interval it is drawn on, the founder MAF floor of a kept variant.

    Returns
    -------
    FounderPool

    Raises
    ------
    InputError
        A window too short to hold ``variants_per_chromosome`` variants with MAF >= ``maf_min``.
    """
    import msprime

    from bma_genetics._check import fail

    rng = np.random.default_rng([seed, RELATIVES_LD_TAG])
    haps, positions = [], []
    for c in range(n_chromosomes):
        s_anc, s_mut, s_pick = (int(x) for x in rng.integers(1, 2**31 - 1, size=3))
        edges = np.arange(0, window_bp + interval_bp, interval_bp, dtype=float)
        edges[-1] = window_bp
        rates = np.random.default_rng(s_pick).gamma(rate_shape, 1 / rate_shape, size=len(edges) - 1) * mean_rate
        ts = msprime.sim_ancestry(samples=n_founders, population_size=ne, sequence_length=window_bp,
                                  recombination_rate=msprime.RateMap(position=edges, rate=rates), random_seed=s_anc)
        ts = msprime.sim_mutations(ts, rate=mutation_rate, model=msprime.BinaryMutationModel(),
                                   discrete_genome=True, random_seed=s_mut)
        g = ts.genotype_matrix().astype(np.int8)  # (sites, 2 n_founders)
        f = g.mean(axis=1)
        ok = np.flatnonzero(np.minimum(f, 1 - f) >= maf_min)
        if len(ok) < variants_per_chromosome:
            raise fail("simulate_related_cohort/variants_per_chromosome",
                       f"chromosome {c + 1}: only {len(ok)} founder variants with MAF >= {maf_min} in "
                       f"{window_bp:,} bp; fewer variants or a longer window")
        pick = np.sort(np.random.default_rng(s_pick + 1).choice(ok, size=variants_per_chromosome, replace=False))
        haps.append(g[pick].T)
        positions.append(np.asarray(ts.tables.sites.position, dtype=np.int64)[pick] + 1)
    settings = {"window_bp": window_bp, "ne": ne, "mean_recombination_rate": mean_rate,
                "mutation_rate": mutation_rate, "rate_gamma_shape": rate_shape, "rate_interval_bp": interval_bp,
                "maf_min": maf_min, "tag": RELATIVES_LD_TAG}
    return FounderPool(np.ascontiguousarray(np.hstack(haps)), np.concatenate(positions), settings)

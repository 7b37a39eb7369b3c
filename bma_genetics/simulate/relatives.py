"""A cohort with many relatives and stated heritability, for LOCO / mixed-model association.

UK Biobank has about a third of its participants with a relative to the third degree; a GWAS
that keeps them must model the relatedness (REGENIE's LOCO step 1, BOLT-LMM). This module
writes such a cohort, apart from the msprime cohort of :func:`~bma_genetics.simulate.simulate_cohort`
(its outputs are untouched): its randomness comes from its own generator
(``np.random.default_rng([seed, RELATIVES_TAG])``), and it is off unless called.

Model
-----
- **Founders**: haplotypes drawn independently per variant from allele frequencies
  ``p ~ U(0.05, 0.5)`` (no population LD: the only long-range allele sharing is the relatives').
  With ``founder_ld=True`` they come from a coalescent simulation per chromosome instead
  (:mod:`bma_genetics.simulate.relatives_ld`: msprime, a recombination map with hotspots), so the
  cohort has population LD as well (LD score regression needs it); positions are then msprime's.
- **Meiosis**: a parent transmits, per chromosome, a recombinant of its two haplotypes with
  ``Poisson(morgans)`` crossovers at uniform positions (``chromosome_morgans``, 1 Morgan by default),
  so relatives share segments identical by descent, as real ones do.
- **Who is in the cohort**: ``n_families`` nuclear families with 2-``max_sibs`` full siblings
  each (parents not genotyped); ``n_parent_offspring`` parent-child pairs; ``n_cousin_pairs``
  first cousins (kinship 1/16, third degree) and ``n_second_cousin_pairs`` second cousins
  (kinship 1/64: below UK Biobank's 0.0442 floor, i.e. cryptic relatedness no kinship file lists);
  ``n_unrelated`` founders.
- **Traits** ``trait_1..n_traits``: ``y = g + 0.02 (age - 55) + 0.2 sex + e``; the genetic value
  ``g`` has variance ``h2`` in the founders' allele frequencies: an infinitesimal part over every
  variant of the *causal chromosomes* (the first half) plus ``n_large`` large-effect variants per
  trait there, each explaining ``large_variance``; ``e ~ N(0, 1 - h2)``. The other chromosomes
  carry no causal variant: every test there is null, for every trait (the calibration set).
- **Binary traits** ``case_1..n_traits`` (only with ``prevalence``): the liability-threshold model,
  ``case_k = 1`` where ``trait_k`` (genetic value + covariates + noise) is above its
  ``1 - prevalence`` quantile; no further randomness, so the files of a seed are otherwise
  unchanged. Their null chromosomes are null too.

Files (``out``)
---------------
=================================  ================================================================
``relatives.{bed,bim,fam}``        array genotypes, PLINK 1 (FID = IID = eid; .fam sex 1/2)
``pheno.tsv`` / ``covar.tsv``      ``FID IID trait_1 ... [case_1 ...]`` / ``FID IID sex age`` (plink2 layout)
``ukb_rel.dat``                    ``ID1 ID2 HetHet IBS0 Kinship`` of the pedigree pairs with kinship
                                   >= 0.0442 (UK Biobank's file lists only those); Kinship is the
                                   pedigree value, HetHet/IBS0 are ``NA``
``truth/relatives.json``           settings, counts, causal and null chromosomes, h2
``truth/causal_variants.tsv``      ``trait, variant_id, chromosome, base_pair_location, beta, large``
``truth/pedigree.tsv``             ``eid, family, role, kinship_max`` (largest kinship to another member)
=================================  ================================================================
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bma_genetics._check import fail

#: The tag of this module's random generator (``default_rng([seed, RELATIVES_TAG])``).
RELATIVES_TAG = 16_006

#: Family structures (keyword arguments of :func:`simulate_related_cohort`), by name.
#:
#: - ``"ukb"``: UK Biobank's relatedness at ~3,000 people. Bycroft et al. (2018, Nature 562:203):
#:   147,731 of 488,377 participants (30.3 %) have a relative to the third degree (kinship
#:   >= 0.0442), in 107,162 pairs, of which 22,666 (21 %) full siblings, the rest mostly third
#:   degree; few large pedigrees. Here: 120 sibling pairs, 40 parent-offspring pairs, 300
#:   first-cousin pairs (third degree) and 1,830 unrelated people, plus 150 second-cousin pairs
#:   (cryptic, below the file's floor): 3,050 people, 920 (30.2 %) with a listed relative, in 460
#:   listed pairs of which 26 % siblings, 9 % parent-offspring, 65 % third degree; every relative
#:   has exactly one (UK Biobank: 1.45 listed pairs per related participant).
#: - ``"dense"``: the stress test (benchmarks/loco_relatives.py before the ``ukb`` preset): 400
#:   sibships of 2-4, 150 pairs of each other kind, 900 unrelated: ~3,000 people, 60 % with a
#:   listed relative, 1,665 listed pairs (≈ 70 % siblings).
RELATIVES_PRESETS: dict[str, dict[str, int]] = {
    "ukb": {"n_families": 120, "max_sibs": 2, "n_parent_offspring": 40, "n_cousin_pairs": 300,
            "n_second_cousin_pairs": 150, "n_unrelated": 1830},
    "dense": {"n_families": 400, "max_sibs": 4, "n_parent_offspring": 150, "n_cousin_pairs": 150,
              "n_second_cousin_pairs": 150, "n_unrelated": 900},
}


def relatives_preset(name: str) -> dict[str, int]:
    """The family-structure arguments of a preset of :data:`RELATIVES_PRESETS` (``"ukb"`` or ``"dense"``),
    for ``simulate_related_cohort(out, **relatives_preset("ukb"), seed=...)``."""
    from bma_genetics._check import check_one_of

    check_one_of("relatives_preset/name", name, list(RELATIVES_PRESETS))
    return dict(RELATIVES_PRESETS[name])


@dataclass(frozen=True)
class RelatedCohort:
    """What :func:`simulate_related_cohort` wrote."""

    out: Path
    bfile: Path
    pheno: Path
    covar: Path
    kinship: Path
    n_samples: int
    n_variants: int
    causal_chromosomes: tuple[str, ...]
    null_chromosomes: tuple[str, ...]


def _gamete(hap: np.ndarray, bounds: list[tuple[int, int]], morgans: float, rng: np.random.Generator) -> np.ndarray:
    """One transmitted haplotype from a parent's two (``hap`` of shape (2, M)): per chromosome a
    random start haplotype and Poisson(morgans) crossovers at uniform variant positions."""
    out = np.empty(hap.shape[1], dtype=np.int8)
    for lo, hi in bounds:
        k = rng.poisson(morgans)
        cuts = np.sort(rng.integers(lo, hi, size=k))
        which = np.full(hi - lo, rng.integers(2), dtype=np.int8)
        for c in cuts:
            which[c - lo:] ^= 1
        out[lo:hi] = np.where(which == 0, hap[0, lo:hi], hap[1, lo:hi])
    return out


def simulate_related_cohort(
    out: str | os.PathLike,
    *,
    n_families: int = 300,
    max_sibs: int = 4,
    n_parent_offspring: int = 100,
    n_cousin_pairs: int = 100,
    n_second_cousin_pairs: int = 100,
    n_unrelated: int = 1500,
    n_chromosomes: int = 10,
    variants_per_chromosome: int = 2000,
    chromosome_morgans: float = 1.0,
    h2: float = 0.5,
    n_traits: int = 4,
    n_large: int = 5,
    large_variance: float = 0.01,
    founder_ld: bool = False,
    prevalence: float | None = None,
    seed: int = 1,
) -> RelatedCohort:
    """Simulate a cohort rich in relatives with heritable traits (see the module docstring).

    Parameters
    ----------
    out : path
        Folder to write (created).
    n_families : int, default=300
        Nuclear families; each contributes 2..``max_sibs`` full siblings.
    max_sibs : int, default=4
    n_parent_offspring, n_cousin_pairs, n_second_cousin_pairs : int, default=100
        Parent-child, first-cousin and second-cousin pairs.
    n_unrelated : int, default=1500
        Founders in the cohort with no relative.
    n_chromosomes : int, default=10
        Chromosomes 1..n; the first ``n // 2`` carry the causal variants.
    variants_per_chromosome : int, default=2000
    chromosome_morgans : float, default=1.0
        Genetic length of each chromosome (crossovers per meiosis).
    h2 : float, default=0.5
        Heritability of every trait (founder-population scale).
    n_traits : int, default=4
    n_large, large_variance : int, float
        Large-effect variants per trait and the variance each explains (within ``h2``).
    prevalence : float, optional
        Also write binary traits ``case_k`` (liability threshold of ``trait_k``, this share of
        cases; 0.01-0.99). Default ``None``: none.
    seed : int, default=1
        The same seed writes byte-identical files.

    Returns
    -------
    RelatedCohort
    """
    from bma_genetics.simulate.writers import BedWriter, write_fam

    where = "simulate_related_cohort"
    if not 0 <= h2 < 1:
        raise fail(f"{where}/h2", f"expected 0 <= h2 < 1, found {h2!r}")
    if n_large * large_variance > h2:
        raise fail(f"{where}/large_variance", f"{n_large} x {large_variance} exceeds h2 {h2}")
    if n_chromosomes < 2 or variants_per_chromosome < 10:
        raise fail(f"{where}/n_chromosomes", "need at least 2 chromosomes of 10 variants")
    if max_sibs < 2:
        raise fail(f"{where}/max_sibs", f"expected at least 2, found {max_sibs}")
    if prevalence is not None and not 0.01 <= prevalence <= 0.99:
        raise fail(f"{where}/prevalence", f"expected a share of cases in [0.01, 0.99], found {prevalence!r}")
    rng = np.random.default_rng([seed, RELATIVES_TAG])
    out = Path(out)
    (out / "truth").mkdir(parents=True, exist_ok=True)
    m = n_chromosomes * variants_per_chromosome
    bounds = [(c * variants_per_chromosome, (c + 1) * variants_per_chromosome) for c in range(n_chromosomes)]
    freq = rng.uniform(0.05, 0.5, size=m)
    pool = None
    if founder_ld:
        from bma_genetics.simulate.relatives_ld import msprime_founders

        n_founders = (2 * n_families + 2 * n_parent_offspring + 4 * n_cousin_pairs + 6 * n_second_cousin_pairs
                      + n_unrelated)
        pool = msprime_founders(n_founders, n_chromosomes, variants_per_chromosome, seed=seed)
        freq = pool.haplotypes.mean(axis=0)
    used = [0]

    def founder() -> np.ndarray:
        if pool is None:
            return (rng.random((2, m)) < freq).astype(np.int8)
        k = used[0]
        used[0] += 1
        return pool.haplotypes[2 * k:2 * k + 2]

    def child(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.stack([_gamete(a, bounds, chromosome_morgans, rng), _gamete(b, bounds, chromosome_morgans, rng)])

    people: list[np.ndarray] = []
    rows: list[dict] = []
    pairs: list[tuple[int, int, float]] = []

    def add(h: np.ndarray, family: str, role: str) -> int:
        people.append(h.sum(axis=0).astype(np.int8))
        rows.append({"family": family, "role": role})
        return len(people) - 1

    for f in range(n_families):
        pa, ma = founder(), founder()
        k = int(rng.integers(2, max_sibs + 1))
        sibs = [add(child(pa, ma), f"fam{f + 1}", "sibling") for _ in range(k)]
        pairs += [(a, b, 0.25) for i, a in enumerate(sibs) for b in sibs[i + 1:]]
    for f in range(n_parent_offspring):
        parent, spouse = founder(), founder()
        a = add(parent, f"po{f + 1}", "parent")
        b = add(child(parent, spouse), f"po{f + 1}", "offspring")
        pairs.append((a, b, 0.25))
    for f in range(n_cousin_pairs):
        g1, g2 = founder(), founder()
        c1, c2 = child(g1, g2), child(g1, g2)
        a = add(child(c1, founder()), f"cousin{f + 1}", "first_cousin")
        b = add(child(c2, founder()), f"cousin{f + 1}", "first_cousin")
        pairs.append((a, b, 1 / 16))
    for f in range(n_second_cousin_pairs):
        g1, g2 = founder(), founder()
        c1, c2 = child(g1, g2), child(g1, g2)
        d1, d2 = child(c1, founder()), child(c2, founder())
        a = add(child(d1, founder()), f"scousin{f + 1}", "second_cousin")
        b = add(child(d2, founder()), f"scousin{f + 1}", "second_cousin")
        pairs.append((a, b, 1 / 64))
    for _ in range(n_unrelated):
        add(founder(), "none", "unrelated")
    n = len(people)
    order = rng.permutation(n)  # cohort order shuffled (families not adjacent)
    geno = np.stack(people)[order]  # (n, m) A1 counts below
    where_now = np.empty(n, dtype=np.int64)
    where_now[order] = np.arange(n)
    eids = [str(1_000_001 + i) for i in range(n)]
    sex = rng.integers(0, 2, size=n)
    age = np.round(rng.uniform(40, 70, size=n), 1)

    # variants: chromosome c, positions 1000 i + 1; the .bed counts A1, here the ALT (allele 2 below)
    chrom = np.repeat(np.arange(1, n_chromosomes + 1), variants_per_chromosome)
    position = np.tile(np.arange(variants_per_chromosome) * 1000 + 10_001, n_chromosomes)
    if pool is not None:
        position = pool.positions + 10_000
    bases = np.array(list("ACGT"))
    ref = bases[rng.integers(0, 4, size=m)]
    alt = bases[(np.searchsorted(bases, ref) + rng.integers(1, 4, size=m)) % 4]
    ids = [f"{c}:{p}_{r}_{a}" for c, p, r, a in zip(chrom, position, ref, alt, strict=True)]

    # traits
    n_causal_chrom = n_chromosomes // 2
    causal_chroms = tuple(str(c) for c in range(1, n_causal_chrom + 1))
    null_chroms = tuple(str(c) for c in range(n_causal_chrom + 1, n_chromosomes + 1))
    causal_idx = np.flatnonzero(chrom <= n_causal_chrom)
    sd_founder = np.sqrt(2 * freq * (1 - freq))
    standard = (geno - 2 * freq) / sd_founder  # standardised in founder frequencies
    traits = {}
    truth = []
    for t in range(1, n_traits + 1):
        poly = rng.normal(size=len(causal_idx))
        poly *= np.sqrt((h2 - n_large * large_variance) / np.sum(poly**2)) if h2 > 0 else 0.0
        beta = np.zeros(m)
        beta[causal_idx] = poly
        large = rng.choice(causal_idx, size=n_large, replace=False)
        beta[large] += rng.choice([-1, 1], size=n_large) * np.sqrt(large_variance)
        g = standard @ beta
        e = rng.normal(scale=np.sqrt(1 - h2), size=n)
        traits[f"trait_{t}"] = g + 0.02 * (age - 55) + 0.2 * sex + e
        for j in large:
            truth.append({"trait": f"trait_{t}", "variant_id": ids[j], "chromosome": str(chrom[j]),
                          "base_pair_location": int(position[j]), "beta": beta[j] / sd_founder[j], "large": True})
    # write
    prefix = out / "relatives"
    bw = BedWriter(prefix)
    for c in range(1, n_chromosomes + 1):
        sel = chrom == c
        # the writer takes the count of A2; A1 = alt is counted by the .bed, so A2 count = 2 - alt count
        bw.write_variants(str(c), [ids[j] for j in np.flatnonzero(sel)], position[sel], list(alt[sel]),
                          list(ref[sel]), (2 - geno[:, sel]).T.astype(np.int8))
    bw.close()
    write_fam(prefix.with_suffix(".fam"), eids, sex)
    pheno = pd.DataFrame({"FID": eids, "IID": eids, **{k: np.round(v, 6) for k, v in traits.items()}})
    if prevalence is not None:  # liability threshold (no randomness: the other files are unchanged)
        for t in range(1, n_traits + 1):
            v = pheno[f"trait_{t}"].to_numpy()
            pheno[f"case_{t}"] = (v > np.quantile(v, 1 - prevalence)).astype(int)
    covar = pd.DataFrame({"FID": eids, "IID": eids, "sex": sex, "age": age})
    pheno.to_csv(out / "pheno.tsv", sep="\t", index=False)
    covar.to_csv(out / "covar.tsv", sep="\t", index=False)
    rel = [(eids[where_now[a]], eids[where_now[b]], k) for a, b, k in pairs if k >= 0.0442]
    (out / "ukb_rel.dat").write_text("ID1 ID2 HetHet IBS0 Kinship\n"
                                     + "".join(f"{a} {b} NA NA {k:.4f}\n" for a, b, k in rel))
    kin_max = np.zeros(n)
    for a, b, k in pairs:
        kin_max[a] = max(kin_max[a], k)
        kin_max[b] = max(kin_max[b], k)
    ped = pd.DataFrame({"eid": [eids[where_now[i]] for i in range(n)], "family": [r["family"] for r in rows],
                        "role": [r["role"] for r in rows], "kinship_max": kin_max}).sort_values("eid")
    ped.to_csv(out / "truth" / "pedigree.tsv", sep="\t", index=False)
    pd.DataFrame(truth).to_csv(out / "truth" / "causal_variants.tsv", sep="\t", index=False)
    counts = ped["role"].value_counts().to_dict()
    meta = {"seed": seed, "tag": RELATIVES_TAG, "h2": h2, "n_samples": n, "n_variants": m,
            "n_traits": n_traits, "n_large": n_large, "large_variance": large_variance,
            "causal_chromosomes": list(causal_chroms), "null_chromosomes": list(null_chroms),
            "roles": {str(k): int(v) for k, v in sorted(counts.items())},
            "n_related_pairs_listed": len(rel), "n_pairs_below_0.0442": sum(k < 0.0442 for *_, k in pairs),
            "share_with_listed_relative": round(float(np.mean(ped["kinship_max"] >= 0.0442)), 4),
            "chromosome_morgans": chromosome_morgans}
    if pool is not None:
        meta["founder_ld"] = pool.settings
    if prevalence is not None:
        meta["prevalence"] = prevalence
    (out / "truth" / "relatives.json").write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
    return RelatedCohort(out=out, bfile=prefix, pheno=out / "pheno.tsv", covar=out / "covar.tsv",
                         kinship=out / "ukb_rel.dat", n_samples=n, n_variants=m,
                         causal_chromosomes=causal_chroms, null_chromosomes=null_chroms)

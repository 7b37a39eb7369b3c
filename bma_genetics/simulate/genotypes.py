"""Genotypes with realistic LD: msprime coalescent with recombination, two ancestry groups.

Model
-----
Two populations of constant size ``Ne`` split from an ancestral one ``split_time`` generations
ago (Hudson coalescent with recombination, ``recombination_rate`` per bp per generation;
mutations under a binary infinite-sites-like model on the discrete genome). Each genomic
segment (a window centred on a BMA gene, or a background window) is an independent
simulation of the same sampled individuals, so every person has a genotype in every segment.

The sampled individuals play roles: cohort members (group 1 = population A, group 2 =
population B), members of an independent outcome sample (for the MR outcome GWAS) and
founders, who are never written but pass haplotypes to planted relatives (full-sibling pairs
share two founder parents; a parent-offspring pair is a cohort member and a child built from
one of their haplotypes plus a founder's). Transmission draws crossovers at the same rate
(Poisson, ``recombination_rate`` x segment length per meiosis).

LD differs between the groups, as it does between UK Biobank's ancestry groups (shorter
haplotype blocks in African than in European ancestry): on top of the shared coalescent, group 2
has recombination hotspots of its own (:func:`group_hotspots`; one every ``hotspot_kb`` on
average, each swapping the haplotype tails of a random pairing of group-2 haplotypes with a
probability drawn from U(0.5, 1); cohort and outcome members each among themselves). A
reciprocal swap keeps every allele count, so allele frequencies, the variants kept and group
1's genotypes are exactly what they were without it,
while LD across each hotspot drops in group 2 only (by the swap probability in expectation). The
hotspots and the r^2 across them in each group are the truth (``truth/ld_groups.json``,
``truth/ld_hotspots_group2.tsv``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import msprime
import numpy as np

log = logging.getLogger(__name__)

BASES = np.array(list("ACGT"))

#: Last base of the pseudo-autosomal region PAR1 on GRCh37 chrX (plink2 ``--split-par b37``:
#: positions <= 2,699,520 are PAR1, chromosome code XY = 25).
PAR1_END_GRCH37 = 2_699_520


@dataclass(frozen=True)
class Segment:
    """A simulated window of GRCh37 (1-based positions ``start..end-1``)."""

    index: int
    chromosome: str
    start: int
    end: int
    genes: tuple[str, ...] = ()

    @property
    def length(self) -> int:
        return self.end - self.start


@dataclass
class Individuals:
    """Who is who among the simulated individuals (indices into each segment's samples)."""

    n_a: int
    n_b: int
    cohort: np.ndarray  # (n_cohort,) simulated individual per cohort slot
    cohort_group: np.ndarray  # (n_cohort,) 1 or 2
    outcome: np.ndarray  # (n_outcome,)
    outcome_group: np.ndarray
    sib_pairs: list[tuple[int, int, int, int]] = field(default_factory=list)  # slot1, slot2, founder1, founder2
    po_pairs: list[tuple[int, int, int]] = field(default_factory=list)  # parent slot, child slot, founder

    @property
    def n_total(self) -> int:
        return self.n_a + self.n_b


def plan_individuals(
    n_cohort: int, n_outcome: int, frac_group2: float, n_sib: int, n_po: int, rng: np.random.Generator
) -> Individuals:
    """Assign roles; population A individuals come first in each simulation's samples."""
    c_b = int(round(n_cohort * frac_group2))
    c_a = n_cohort - c_b
    o_b = int(round(n_outcome * frac_group2))
    o_a = n_outcome - o_b
    n_founders = 2 * n_sib + n_po
    n_a = c_a + o_a + n_founders
    n_b = c_b + o_b
    cohort_sim = np.concatenate([np.arange(c_a), n_a + np.arange(c_b)])
    groups = np.concatenate([np.ones(c_a, np.int8), np.full(c_b, 2, np.int8)])
    perm = rng.permutation(n_cohort)
    cohort_sim, groups = cohort_sim[perm], groups[perm]
    outcome_sim = np.concatenate([c_a + np.arange(o_a), n_a + c_b + np.arange(o_b)])
    ogroups = np.concatenate([np.ones(o_a, np.int8), np.full(o_b, 2, np.int8)])
    founders = c_a + o_a + np.arange(n_founders)
    # relatives among group-1 cohort slots, each slot in at most one pair
    slots_a = np.flatnonzero(groups == 1)
    need = 2 * (n_sib + n_po)
    if need > len(slots_a):
        raise ValueError("too many related pairs for the cohort size")
    chosen = rng.choice(slots_a, size=need, replace=False)
    sib, po = [], []
    for k in range(n_sib):
        sib.append((int(chosen[2 * k]), int(chosen[2 * k + 1]), int(founders[2 * k]), int(founders[2 * k + 1])))
    for k in range(n_po):
        j = 2 * n_sib + 2 * k
        po.append((int(chosen[j]), int(chosen[j + 1]), int(founders[2 * n_sib + k])))
    return Individuals(n_a, n_b, cohort_sim, groups, outcome_sim, ogroups, sib, po)


def demography(ne: float, split_time: float, region_split_time: float | None = None) -> msprime.Demography:
    """Two groups A and B split ``split_time`` generations ago; with ``region_split_time``, A is
    itself two regions A1 and A2 (each of size ``ne``) split that long ago (planted confounding,
    ``bma_genetics.simulate.confounding``)."""
    dem = msprime.Demography()
    if region_split_time is not None:
        dem.add_population(name="A1", initial_size=ne, description="ancestry group 1, region 1")
        dem.add_population(name="A2", initial_size=ne, description="ancestry group 1, region 2")
    dem.add_population(name="A", initial_size=ne, description="ancestry group 1")
    dem.add_population(name="B", initial_size=ne, description="ancestry group 2")
    dem.add_population(name="ANC", initial_size=ne)
    if region_split_time is not None:
        dem.add_population_split(time=region_split_time, derived=["A1", "A2"], ancestral="A")
    dem.add_population_split(time=split_time, derived=["A", "B"], ancestral="ANC")
    return dem


@dataclass
class SegmentGenotypes:
    """Variants of one segment after filtering, as allele-2 (ALT) counts."""

    segment: Segment
    positions: np.ndarray  # int64, GRCh37 1-based
    ref: np.ndarray  # str
    alt: np.ndarray
    cohort: np.ndarray  # (n_variants, n_cohort) int8 ALT counts
    outcome: np.ndarray  # (n_variants, n_outcome) int8
    hotspots: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))  # group 2, GRCh37 positions
    hotspot_strength: np.ndarray = field(default_factory=lambda: np.empty(0))  # swap probability of each
    # group-2 cohort members' genotypes as they were before the hotspots (cohort slots of group 2,
    # in slot order): the caller draws its value-dependent random numbers from these, so that the
    # hotspots change group 2's genotypes and nothing else in the cohort
    cohort_group2_plain: np.ndarray | None = None


def group_hotspots(seg: Segment, spacing_bp: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Group 2's own recombination hotspots in a segment: positions (Poisson process, mean
    spacing ``spacing_bp``) and the probability that a pair of haplotypes swaps tails there."""
    n = int(rng.poisson(seg.length / spacing_bp)) if spacing_bp > 0 else 0
    pos = np.sort(rng.integers(seg.start, seg.end, size=n)).astype(np.int64)
    return pos, rng.uniform(0.5, 1.0, size=n)


def _recombine_group(haps: np.ndarray, pos: np.ndarray, hotspots: np.ndarray, strength: np.ndarray,
                     rng: np.random.Generator) -> None:
    """Reciprocal crossovers among the columns of ``haps`` (one group's haplotypes) at each
    hotspot, in place: a random pairing of the haplotypes, each pair swapping everything to the
    right of the hotspot with probability ``strength``. Allele counts are kept exactly."""
    m = haps.shape[1]
    if m < 2 or hotspots.size == 0:
        return
    cum = np.arange(m)  # column of the original haplotypes each haplotype reads, right of the hotspots so far
    bounds = np.searchsorted(pos, hotspots, side="left")
    perms = []
    for p in strength:
        order = rng.permutation(m)
        a, b = order[: m // 2], order[m // 2: 2 * (m // 2)]
        swap = rng.random(a.size) < p
        new = cum.copy()
        new[a[swap]], new[b[swap]] = cum[b[swap]], cum[a[swap]]
        cum = new
        perms.append(cum)
    for k, perm in enumerate(perms):
        lo = bounds[k]
        hi = bounds[k + 1] if k + 1 < len(bounds) else len(pos)
        if hi > lo:
            haps[lo:hi] = haps[lo:hi][:, perm]


def _derived_counts(ts) -> np.ndarray:
    """Derived-allele count per site (-1 where a site carries more than one mutation).

    Works on the tables (tree index of each site, node of its mutation) so that the only
    per-site Python work is one ``Tree.num_samples`` call.
    """
    tables = ts.tables
    n_sites = ts.num_sites
    counts = np.full(n_sites, -1, dtype=np.int64)
    if n_sites == 0:
        return counts
    mut_site = np.asarray(tables.mutations.site)
    mut_node = np.asarray(tables.mutations.node)
    per_site = np.bincount(mut_site, minlength=n_sites)
    first = np.searchsorted(mut_site, np.arange(n_sites))  # mutations are sorted by site
    single = np.flatnonzero(per_site == 1)
    tree_of = np.searchsorted(ts.breakpoints(as_array=True), np.asarray(tables.sites.position)[single], side="right") - 1
    bounds = np.searchsorted(tree_of, np.arange(ts.num_trees + 1))
    for tree in ts.trees():
        lo, hi = bounds[tree.index], bounds[tree.index + 1]
        if lo == hi:
            continue
        sites = single[lo:hi]
        counts[sites] = [tree.num_samples(int(u)) for u in mut_node[first[sites]]]
    return counts


def _transmit(h1: np.ndarray, h2: np.ndarray, pos: np.ndarray, rate: float, rng) -> np.ndarray:
    """One meiosis: a mosaic of a parent's two haplotypes with Poisson crossovers."""
    n_co = rng.poisson(rate)
    start = rng.integers(2)
    breaks = np.sort(rng.uniform(pos.min(), pos.max() + 1, size=n_co)) if n_co else np.empty(0)
    which = (start + np.searchsorted(breaks, pos)) % 2
    return np.where(which == 0, h1, h2)


def simulate_segment(
    seg: Segment,
    people: Individuals,
    *,
    ne: float,
    split_time: float,
    recombination_rate: float,
    mutation_rate: float,
    maf_min: float,
    target_variants: int,
    ref_is_derived: float,
    seed: int,
    hotspot_kb: float = 0.0,
    hemizygous: np.ndarray | None = None,
    regions: tuple[int, float] | None = None,
) -> SegmentGenotypes:
    """Simulate one segment for every individual and return filtered ALT counts.

    ``regions`` = ``(n_a1, t)``: group 1 is two regions split ``t`` generations ago, its first
    ``n_a1`` simulated individuals in region 1 (``bma_genetics.simulate.confounding``); None (the
    default) leaves the model, and every draw, as without it.

    ``hotspot_kb`` > 0 gives group 2 its own recombination hotspots (module docstring).

    ``hemizygous`` (chrX only; a boolean per cohort slot, True for genetic males): beyond PAR1
    (:data:`PAR1_END_GRCH37`) those members carry one X, coded 0/2 (their first haplotype, twice).
    The outcome sample stays diploid (its GWAS covers the autosomes only).
    """
    ss = np.random.SeedSequence([seed, 1, seg.index])
    s_anc, s_mut, s_rest = (int(x) for x in ss.generate_state(3) % (2**31 - 1) + 1)
    rng = np.random.default_rng(s_rest)
    if regions is None:
        samples: dict[str, int] | list[msprime.SampleSet] = {"A": people.n_a, "B": people.n_b}
    else:
        samples = [msprime.SampleSet(regions[0], population="A1"),
                   msprime.SampleSet(people.n_a - regions[0], population="A2"),
                   msprime.SampleSet(people.n_b, population="B")]
    ts = msprime.sim_ancestry(
        samples=samples,
        demography=demography(ne, split_time, None if regions is None else regions[1]),
        sequence_length=seg.length,
        recombination_rate=recombination_rate,
        random_seed=s_anc,
    )
    ts = msprime.sim_mutations(
        ts, rate=mutation_rate, model=msprime.BinaryMutationModel(), discrete_genome=True, random_seed=s_mut
    )
    n_haps = ts.num_samples
    counts = _derived_counts(ts)
    freq = counts / n_haps
    # loose pre-filter on all simulated haplotypes; the exact MAF filter is on the cohort below
    ok = (counts >= 0) & (np.minimum(freq, 1 - freq) >= 0.8 * maf_min)
    cand = np.flatnonzero(ok)
    keep_n = min(len(cand), int(np.ceil(target_variants * 1.08)))
    keep = np.sort(rng.choice(cand, size=keep_n, replace=False))
    drop = np.setdiff1d(np.arange(ts.num_sites), keep)
    ts = ts.delete_sites(drop)
    haps = np.empty((ts.num_sites, n_haps), dtype=np.int8)
    for k, var in enumerate(ts.variants()):
        haps[k] = var.genotypes
    pos = (np.asarray(ts.tables.sites.position, dtype=np.int64) + seg.start).astype(np.int64)

    # orient: ALT is the derived allele except at a fraction of sites (REF can be derived)
    flip = rng.random(len(pos)) < ref_is_derived
    haps[flip] = 1 - haps[flip]

    # group 2's own hotspots (population B's haplotype columns come after A's); their own random
    # stream, so every other draw, and group 1's genotypes, stay as they were without them
    hot_rng = np.random.default_rng(np.random.SeedSequence([seed, 2, seg.index]))
    hotspots, strength = group_hotspots(seg, hotspot_kb * 1000.0, hot_rng)
    sim_g2 = people.cohort[people.cohort_group == 2]
    plain_g2 = haps[:, 2 * sim_g2] + haps[:, 2 * sim_g2 + 1]
    # cohort and outcome members of group 2 recombine among themselves, so each sample's allele
    # counts (and with them the cohort MAF filter below) are exactly kept
    c_b = int(np.sum(people.cohort_group == 2))
    for lo, hi in ((people.n_a, people.n_a + c_b), (people.n_a + c_b, people.n_total)):
        _recombine_group(haps[:, 2 * lo:2 * hi], pos, hotspots, strength, hot_rng)

    first = haps[:, 2 * people.cohort]  # each cohort member's first haplotype (a copy)
    cohort = first + haps[:, 2 * people.cohort + 1]
    rate = recombination_rate * seg.length
    for s1, s2, f1, f2 in people.sib_pairs:
        for slot in (s1, s2):
            a = _transmit(haps[:, 2 * f1], haps[:, 2 * f1 + 1], pos, rate, rng)
            b = _transmit(haps[:, 2 * f2], haps[:, 2 * f2 + 1], pos, rate, rng)
            cohort[:, slot] = a + b
            first[:, slot] = a
    for parent, child, f in people.po_pairs:
        p = people.cohort[parent]
        a = _transmit(haps[:, 2 * p], haps[:, 2 * p + 1], pos, rate, rng)
        b = _transmit(haps[:, 2 * f], haps[:, 2 * f + 1], pos, rate, rng)
        cohort[:, child] = a + b
        first[:, child] = a
    if hemizygous is not None:
        # chrX outside PAR1: males carry one copy, coded 0/2 as in UK Biobank's imputed BGEN and
        # PLINK's .bed (a hemizygous call written as a homozygous diploid one)
        nonpar = pos > PAR1_END_GRCH37
        males = np.flatnonzero(np.asarray(hemizygous, bool))
        cohort[np.ix_(nonpar, males)] = 2 * first[np.ix_(nonpar, males)]
    del first
    outcome = haps[:, 2 * people.outcome] + haps[:, 2 * people.outcome + 1]
    del haps

    af = cohort.mean(axis=1, dtype=np.float64) / 2
    final = np.minimum(af, 1 - af) >= maf_min
    if final.sum() > target_variants:
        idx = np.flatnonzero(final)
        final[:] = False
        final[np.sort(rng.choice(idx, size=target_variants, replace=False))] = True
    ref_i = rng.integers(0, 4, size=len(pos))
    alt_i = (ref_i + rng.integers(1, 4, size=len(pos))) % 4
    # positions must be unique within a chromosome; the discrete genome guarantees it here
    return SegmentGenotypes(
        segment=seg,
        positions=pos[final],
        ref=BASES[ref_i][final],
        alt=BASES[alt_i][final],
        cohort=np.ascontiguousarray(cohort[final]),
        outcome=np.ascontiguousarray(outcome[final]),
        hotspots=hotspots,
        hotspot_strength=strength,
        cohort_group2_plain=np.ascontiguousarray(plain_g2[final]),
    )


#: Chromosomes for background segments, with a window (Mb) clear of centromeres and ends.
BACKGROUND_WINDOWS: dict[str, tuple[float, float]] = {
    "2": (30, 80), "4": (40, 45), "5": (60, 120), "9": (75, 130), "11": (60, 130),
    "14": (30, 90), "16": (50, 80), "17": (30, 70), "18": (25, 70), "19": (30, 55),
    "20": (30, 60), "21": (20, 45), "22": (20, 48), "1": (150, 200), "3": (60, 85),
    "6": (30, 55), "7": (70, 100), "8": (50, 100), "10": (80, 120), "12": (60, 100),
    "13": (40, 100), "15": (60, 95),
}
_BACKGROUND_ORDER = ["2", "4", "5", "9", "11", "14", "16", "17", "18", "19", "20", "21", "22",
                     "1", "3", "6", "7", "8", "10", "12", "13", "15"]


def plan_segments(genes, segment_length: int, n_background: int, rng: np.random.Generator) -> list[Segment]:
    """Windows centred on the genes (genes closer than a window merge) plus background windows.

    Returns the segments sorted by chromosome and position, non-overlapping.
    """
    g = genes.copy()
    g["mid"] = (g["start"] + g["end"]) // 2
    g = g.sort_values(["chromosome", "mid"])
    windows: list[tuple[str, int, int, tuple[str, ...]]] = []
    for chrom, sub in g.groupby("chromosome", sort=False):
        group: list = []
        for _, row in sub.iterrows():
            if group and row["mid"] - group[0]["mid"] < segment_length // 2:
                group.append(row)
                continue
            if group:
                windows.append(_window(chrom, group, segment_length))
            group = [row]
        if group:
            windows.append(_window(chrom, group, segment_length))
    # windows of nearby genes that overlap become one longer window
    windows.sort(key=lambda w: (int(w[0]), w[1]))
    merged: list[tuple[str, int, int, tuple[str, ...]]] = []
    for w in windows:
        if merged and merged[-1][0] == w[0] and w[1] <= merged[-1][2]:
            last = merged[-1]
            merged[-1] = (last[0], last[1], max(last[2], w[2]), last[3] + w[3])
        else:
            merged.append(w)
    windows = merged
    # background: fill chromosomes in a fixed order, several windows per chromosome if needed
    taken: dict[str, list[tuple[int, int]]] = {}
    for w in windows:
        taken.setdefault(w[0], []).append((w[1], w[2]))
    k = 0
    attempts = 0
    while k < n_background:
        chrom = _BACKGROUND_ORDER[(k + attempts) % len(_BACKGROUND_ORDER)]
        lo, hi = BACKGROUND_WINDOWS[chrom]
        start = int(rng.uniform(lo * 1e6, hi * 1e6 - segment_length))
        end = start + segment_length
        if any(start < e + 100_000 and end + 100_000 > s for s, e in taken.get(chrom, [])):
            attempts += 1
            if attempts > 10_000:
                raise ValueError("cannot place that many background segments")
            continue
        taken.setdefault(chrom, []).append((start, end))
        windows.append((chrom, start, end, ()))
        k += 1
    windows.sort(key=lambda w: (int(w[0]), w[1]))
    return [Segment(i, c, s, e, genes_) for i, (c, s, e, genes_) in enumerate(windows)]


def _window(chrom: str, rows: list, length: int) -> tuple[str, int, int, tuple[str, ...]]:
    mid = (min(r["start"] for r in rows) + max(r["end"] for r in rows)) // 2
    start = max(1, int(mid - length // 2))
    return (str(chrom), start, start + length, tuple(r["gene_name"] for r in rows))


def chrx_segment(index: int, length: int) -> Segment:
    """The chrX window: centred on the PAR1 boundary, so half PAR1 (diploid in both sexes) and half
    X-specific (hemizygous in males). ``index`` follows the autosomal segments."""
    start = max(60_001, PAR1_END_GRCH37 + 1 - length // 2)
    return Segment(index, "X", start, start + length)


def split_par(sg: SegmentGenotypes) -> list[tuple[str, SegmentGenotypes]]:
    """A chrX segment as UK Biobank ships it: ``X`` (outside PAR1) and ``XY`` (PAR1) parts."""
    out = []
    for tag, rows in (("X", sg.positions > PAR1_END_GRCH37), ("XY", sg.positions <= PAR1_END_GRCH37)):
        if rows.any():
            lo, hi = int(sg.positions[rows].min()), int(sg.positions[rows].max())
            at = (sg.hotspots >= lo) & (sg.hotspots <= hi)
            plain = sg.cohort_group2_plain
            out.append((tag, SegmentGenotypes(
                segment=sg.segment, positions=sg.positions[rows], ref=sg.ref[rows], alt=sg.alt[rows],
                cohort=np.ascontiguousarray(sg.cohort[rows]), outcome=np.ascontiguousarray(sg.outcome[rows]),
                hotspots=sg.hotspots[at], hotspot_strength=sg.hotspot_strength[at],
                cohort_group2_plain=None if plain is None else np.ascontiguousarray(plain[rows]))))
    return out

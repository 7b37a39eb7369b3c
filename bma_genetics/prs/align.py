"""Allele alignment of score weights (or summary statistics) to a genotype reader.

A weight names its allele (``effect_allele``); the target genotypes count one allele per variant
(``reader.dosage_allele``: A1 of a PLINK ``.bim``, allele 2 of a BGEN). Variants are matched on
chromosome and position and then on their alleles: the same pair (either order), the same pair
on the other strand (``flipped``), or neither (``mismatch``, dropped and counted). Strand-
ambiguous pairs (A/T, C/G) cannot be told from a strand flip and are dropped unless asked
(``keep_ambiguous``), as PRS-CS and most score builders do.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bma_genetics._check import check_columns, fail
from bma_genetics.io.builds import match_chromosome
from bma_genetics.ld.readers import GenotypeReader

log = logging.getLogger(__name__)

_COMPLEMENT = str.maketrans("ACGT", "TGCA")
_AMBIGUOUS = {("A", "T"), ("T", "A"), ("C", "G"), ("G", "C")}


@dataclass
class Alignment:
    """Weights matched to a genotype reader.

    Attributes
    ----------
    table : DataFrame
        The matched rows of the input (its columns) plus ``ref_index`` (row in
        ``reader.variants``), ``named_allele`` (the weight's allele in the target's strand and
        spelling), ``counted`` (True when the reader's dosage counts ``named_allele``),
        ``flipped`` (strand flip) and ``target_id`` (the target's variant id).
    counts : dict
        ``n_input, n_matched, n_missing, n_ambiguous, n_mismatch, n_flipped, n_duplicate``.
    missing : DataFrame
        The input rows absent from the target, with ``reason`` (``not_in_target``,
        ``allele_mismatch``, ``ambiguous``, ``duplicate``): the report of variants missing
        from the target.
    """

    table: pd.DataFrame
    counts: dict[str, int] = field(default_factory=dict)
    missing: pd.DataFrame = field(default_factory=pd.DataFrame)


def _key(chrom: pd.Series, pos: pd.Series) -> np.ndarray:
    # PLINK's 23 and 25 / XY (pseudo-autosomal X, positions apart from the rest of X) are X
    c = match_chromosome(chrom)
    return (c + ":" + pos.astype("int64").astype(str)).to_numpy()


def align_to_reader(
    weights: pd.DataFrame,
    reader: GenotypeReader,
    *,
    keep_ambiguous: bool = False,
    max_mismatch: float = 0.1,
    where: str = "align_to_reader",
) -> Alignment:
    """Match weights to a genotype reader's variants and alleles.

    Parameters
    ----------
    weights : DataFrame
        ``chromosome``, ``base_pair_location``, ``effect_allele``; ``other_allele`` when known
        (without it a position match with the effect allele among the target's two alleles
        counts). Other columns are kept.
    reader : GenotypeReader
        The target genotypes (or an LD source).
    keep_ambiguous : bool, default=False
        Keep A/T and C/G variants, assuming the same strand.
    max_mismatch : float, default=0.1
        Largest fraction of the position-matched variants whose alleles may disagree with the
        target (dropped); above it the builds or the allele coding differ and the call fails.

    Returns
    -------
    Alignment

    Raises
    ------
    InputError
        No weight variant is in the target; the allele mismatches exceed ``max_mismatch``.
    """
    check_columns(f"{where}/weights", weights, ["chromosome", "base_pair_location", "effect_allele"])
    if not 0 <= max_mismatch <= 1:
        raise fail(f"{where}/max_mismatch", f"expected a fraction in [0, 1], found {max_mismatch}")
    w = weights.reset_index(drop=True)
    ref = reader.variants
    lookup = pd.DataFrame({"key": _key(ref["chromosome"], ref["base_pair_location"]),
                           "ref_index": np.arange(len(ref), dtype=np.int64),
                           "ra1": ref["a1"].astype(str).str.upper().to_numpy(),
                           "ra2": ref["a2"].astype(str).str.upper().to_numpy(),
                           "target_id": ref["variant_id"].astype(str).to_numpy()})
    left = pd.DataFrame({"key": _key(w["chromosome"], w["base_pair_location"]), "row": np.arange(len(w)),
                         "ea": w["effect_allele"].astype(str).str.upper().to_numpy()})
    has_oa = "other_allele" in w.columns
    left["oa"] = w["other_allele"].astype(str).str.upper().to_numpy() if has_oa else ""
    merged = left.merge(lookup, on="key", how="inner")
    ea_c, oa_c = merged.ea.str.translate(_COMPLEMENT), merged.oa.str.translate(_COMPLEMENT)
    if has_oa:
        same = ((merged.ea == merged.ra1) & (merged.oa == merged.ra2)) | ((merged.ea == merged.ra2) & (merged.oa == merged.ra1))
        flip = ((ea_c == merged.ra1) & (oa_c == merged.ra2)) | ((ea_c == merged.ra2) & (oa_c == merged.ra1))
    else:
        same = (merged.ea == merged.ra1) | (merged.ea == merged.ra2)
        flip = (ea_c == merged.ra1) | (ea_c == merged.ra2)
    ambiguous = np.array([(a, b) in _AMBIGUOUS for a, b in zip(merged.ra1, merged.ra2, strict=True)], dtype=bool)
    flip = flip & ~same
    ok = (same | flip).to_numpy()
    positioned = set(merged["row"])
    good_rows = set(merged.loc[ok, "row"])
    mismatch_rows = sorted(positioned - good_rows)
    n_positioned = len(positioned)
    n_mismatch = len(mismatch_rows)
    if not n_positioned:
        ex = ", ".join(left["key"].head(3))
        ex_t = ", ".join(lookup["key"].head(3))
        raise fail(f"{where}/weights", f"none of the {len(w)} variants (e.g. {ex}) is in the target genotypes "
                                       f"({len(ref)} variants, e.g. {ex_t}): check the chromosome names, the "
                                       "genome build and that the genotypes cover the score's chromosomes")
    if n_mismatch > max_mismatch * n_positioned:
        raise fail(f"{where}/weights", f"{n_mismatch} of the {n_positioned} variants found at the same position "
                                       f"({n_mismatch / n_positioned:.1%}) have alleles that match neither the "
                                       f"target's nor their complement (allowed: {max_mismatch:.0%}): the weights "
                                       "and genotypes are probably on different builds or allele codings")
    merged = merged[ok].copy()
    merged["flipped"] = flip.to_numpy()[ok]
    merged["ambiguous"] = ambiguous[ok]
    drop_amb = merged["ambiguous"] & ~keep_ambiguous
    amb_rows = merged.loc[drop_amb, "row"].unique()
    merged = merged[~drop_amb]
    dup = merged.duplicated("row", keep="first") | merged.duplicated("ref_index", keep="first")
    dup_rows = merged.loc[dup, "row"].unique()
    merged = merged[~dup].sort_values("row")
    named = np.where(merged["flipped"], merged["ea"].str.translate(_COMPLEMENT), merged["ea"])
    dosage_col = "ra1" if reader.dosage_allele == "a1" else "ra2"
    table = w.iloc[merged["row"].to_numpy()].reset_index(drop=True)
    table["ref_index"] = merged["ref_index"].to_numpy()
    table["named_allele"] = named
    table["counted"] = named == merged[dosage_col].to_numpy()
    table["flipped"] = merged["flipped"].to_numpy()
    table["target_id"] = merged["target_id"].to_numpy()
    rows_kept = set(merged["row"])
    reason = pd.Series("not_in_target", index=range(len(w)))
    reason[mismatch_rows] = "allele_mismatch"
    reason[list(amb_rows)] = "ambiguous"
    reason[[r for r in dup_rows if r not in rows_kept]] = "duplicate"
    lost = [r for r in range(len(w)) if r not in rows_kept]
    keep_cols = [c for c in ("variant_id", "rsid", "chromosome", "base_pair_location", "effect_allele", "other_allele")
                 if c in w.columns]
    missing = w.loc[lost, keep_cols].reset_index(drop=True)
    missing["reason"] = reason[lost].to_numpy()
    counts = {"n_input": int(len(w)), "n_matched": int(len(table)),
              "n_missing": int((missing["reason"] == "not_in_target").sum()),
              "n_ambiguous": int(len(amb_rows)), "n_mismatch": int(n_mismatch),
              "n_flipped": int(table["flipped"].sum()),
              "n_duplicate": int((missing["reason"] == "duplicate").sum())}
    if counts["n_matched"] == 0:
        raise fail(f"{where}/weights", f"no variant is left after alignment ({counts}): every positional match "
                                       "was strand-ambiguous or a mismatch (keep_ambiguous=True keeps A/T, C/G)")
    if counts["n_matched"] < counts["n_input"]:
        log.info("%s: %d of %d variants aligned (%d not in the target, %d ambiguous, %d allele mismatches, "
                 "%d strand flips)", where, counts["n_matched"], counts["n_input"], counts["n_missing"],
                 counts["n_ambiguous"], counts["n_mismatch"], counts["n_flipped"])
    return Alignment(table, counts, missing)

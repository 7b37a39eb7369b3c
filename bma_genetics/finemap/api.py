"""From loci to causal variants and genes: fine-mapping (SuSiE-RSS), colocalisation (coloc.abf,
SuSiE-coloc) and SMR + HEIDI, over the loci of a GWAS with LD from the analysed samples.

Jobs (each returns a :class:`~bma_genetics._result.StageResult`):

- :func:`run_finemap`: SuSiE-RSS over every locus of every trait -> credible sets, PIPs and the
  loci table with their credible sets (:class:`FinemapResult`);
- :func:`run_coloc`: coloc.abf and SuSiE-coloc between each fine-mapped locus and other summary
  statistics (eQTL per gene, or another trait) -> :class:`ColocResult`;
- :func:`run_smr`: SMR and HEIDI of each eQTL gene at each locus -> :class:`SMRTable`.

Tables are written through :mod:`bma_genetics.io.finemap` (schemas in ``FINEMAP_TABLES``).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bma_genetics._check import check_columns, fail
from bma_genetics._result import StageResult
from bma_genetics.finemap.coloc import P1, P2, P12, P12_SUSIE, coloc_abf, coloc_susie
from bma_genetics.finemap.smr import smr_heidi
from bma_genetics.finemap.susie import SusieFit, susie_rss

log = logging.getLogger(__name__)

LOCI_COLUMNS = ["trait", "locus", "chromosome", "start", "end", "lead_variant", "lead_rsid", "p_value",
                "nearest_gene", "genes", "region_start", "region_end", "n_variants", "n_credible_sets",
                "credible_set_sizes", "top_pip_variant", "top_pip", "converged", "n_iter", "reason"]
CS_COLUMNS = ["trait", "locus", "credible_set", "variant_id", "rsid", "chromosome", "base_pair_location",
              "effect_allele", "other_allele", "z", "p_value", "pip", "alpha", "coverage", "min_abs_corr",
              "mean_abs_corr", "median_abs_corr"]
PIP_COLUMNS = ["trait", "locus", "variant_id", "chromosome", "base_pair_location", "z", "p_value", "pip",
               "credible_set"]


@dataclass
class Region:
    """One fine-mapped region: its variants (aligned to the LD's counted allele), LD and fit.

    Attributes
    ----------
    trait : str
    locus : int
    variants : DataFrame
        Summary-statistics rows kept (``variant_id, chromosome, base_pair_location,
        effect_allele, other_allele, beta, standard_error, p_value, z``), in LD order; ``z``
        is per copy of the GWAS effect allele.
    r : ndarray of shape (n_variants, n_variants)
        LD between them, oriented to the GWAS effect alleles.
    fit : SusieFit or None
    """

    trait: str
    locus: int
    variants: pd.DataFrame
    r: np.ndarray
    fit: SusieFit | None


@dataclass
class FinemapResult(StageResult):
    """SuSiE-RSS over the loci: ``table`` = credible sets (``CS_COLUMNS``), plus ``pips``
    (``PIP_COLUMNS``, every variant of every region), ``loci`` (``LOCI_COLUMNS``) and the
    ``regions`` (variants, LD and fit) by ``(trait, locus)`` for colocalisation, SMR and plots."""

    pips: pd.DataFrame = field(default_factory=pd.DataFrame)
    loci: pd.DataFrame = field(default_factory=pd.DataFrame)
    regions: dict[tuple[str, int], Region] = field(default_factory=dict)


@dataclass
class ColocResult(StageResult):
    """coloc.abf per locus and other study (``table``) and SuSiE-coloc per pair of credible sets
    (``susie``)."""

    susie: pd.DataFrame = field(default_factory=pd.DataFrame)


@dataclass
class SMRTable(StageResult):
    """SMR and HEIDI per locus and eQTL gene (``table``)."""


def _write_tables(out: str | os.PathLike | None, tables: dict[str, tuple[pd.DataFrame, str]]) -> dict[str, Path]:
    """Write each ``name -> (frame, file name)`` into ``out`` through io (schema ``name``); no-op for None."""
    from bma_genetics.io.finemap import write_finemap_results

    if out is None:
        return {}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    return {name: write_finemap_results(frame, out / file, table=name) for name, (frame, file) in tables.items()}


def regions_from_hits(sumstats: pd.DataFrame, *, p_threshold: float, flank_kb: float = 250) -> pd.DataFrame:
    """Loci-like regions around variants with P below ``p_threshold`` (strongest first; a variant
    within ``flank_kb`` of a region already made joins it): for a study without genome-wide loci.

    Returns
    -------
    DataFrame
        ``locus, chromosome, start, end, lead_variant, lead_rsid, p_value, nearest_gene, genes``.
    """
    check_columns("regions_from_hits/sumstats", sumstats, ["chromosome", "base_pair_location", "p_value"])
    hits = sumstats[sumstats["p_value"] < p_threshold].sort_values("p_value")
    rows: list[dict[str, Any]] = []
    for rec in hits.itertuples(index=False):
        chrom, pos = str(rec.chromosome), int(rec.base_pair_location)
        if any(r["chromosome"] == chrom and r["start"] - flank_kb * 1000 <= pos <= r["end"] + flank_kb * 1000
               for r in rows):
            continue
        rows.append({"locus": len(rows) + 1, "chromosome": chrom, "start": pos, "end": pos,
                     "lead_variant": str(getattr(rec, "variant_id", f"{chrom}:{pos}")),
                     "lead_rsid": str(getattr(rec, "rsid", "") or ""), "p_value": float(rec.p_value),
                     "nearest_gene": "", "genes": ""})
    return pd.DataFrame(rows, columns=["locus", "chromosome", "start", "end", "lead_variant", "lead_rsid",
                                       "p_value", "nearest_gene", "genes"])


def _ld_sign(effect: pd.Series, other: pd.Series, counted: pd.Series) -> np.ndarray:
    """+1 where the GWAS effect allele is the LD source's counted allele, on the same strand or
    (as ``match_variants`` accepts) on the opposite strand, else -1. A palindromic pair (A/T, C/G)
    cannot be told from a strand flip: it is read on the same strand (its complement is its other
    allele)."""
    ea = effect.astype(str).str.upper().to_numpy()
    oa = other.astype(str).str.upper().to_numpy()
    ca = counted.astype(str).str.upper().to_numpy()
    ea_f = np.array([a.translate(_COMPLEMENT) for a in ea], dtype=object)
    palindromic = ea_f == oa
    return np.where((ea == ca) | (~palindromic & (ea_f == ca)), 1.0, -1.0)


def _region_variants(sumstats: pd.DataFrame, reader, chromosome: str, lo: int, hi: int, max_variants: int,
                     lead_position: int) -> tuple[pd.DataFrame, np.ndarray]:
    """The region's variants found in the LD source, oriented to the GWAS effect allele, and their LD."""
    from bma_genetics.ld import ld_matrix, match_variants

    ss = sumstats[(sumstats["chromosome"].astype(str) == chromosome)
                  & sumstats["base_pair_location"].between(lo, hi)].copy()
    ss = ss[np.isfinite(ss["beta"].astype(float)) & (ss["standard_error"].astype(float) > 0)]
    if len(ss) > max_variants:  # the variants nearest the lead
        ss = ss.iloc[np.argsort(np.abs(ss["base_pair_location"].to_numpy() - lead_position),
                                kind="stable")[:max_variants]]
        ss = ss.sort_values("base_pair_location")
    idx = match_variants(ss, reader)
    ss = ss[idx >= 0].reset_index(drop=True)
    idx = idx[idx >= 0]
    if ss.empty:
        return ss, np.zeros((0, 0))
    r = ld_matrix(reader, idx)
    sign = _ld_sign(ss["effect_allele"], ss["other_allele"], reader.counted_alleles().iloc[idx])
    r = r * np.outer(sign, sign)
    poly = np.abs(np.diag(r) - 1.0) < 1e-9
    # monomorphic in the LD sample: r = 0 off the diagonal; no information for fine-mapping
    dos_sd = np.any(np.abs(r - np.eye(len(r))) > 0, axis=1) | (len(r) == 1)
    keep = poly & dos_sd
    ss = ss[keep].reset_index(drop=True)
    r = r[np.ix_(keep, keep)]
    ss["z"] = ss["beta"].astype(float) / ss["standard_error"].astype(float)
    return ss, r


def run_finemap(
    sumstats: dict[str, pd.DataFrame],
    loci: dict[str, pd.DataFrame],
    ld_reader,
    *,
    L: int = 10,  # noqa: N803 - SuSiE's own letter
    coverage: float = 0.95,
    min_abs_corr: float = 0.5,
    flank_kb: float = 250,
    max_variants: int = 2000,
    max_iter: int = 100,
    out: str | os.PathLike | None = None,
) -> FinemapResult:
    """SuSiE-RSS (:func:`bma_genetics.finemap.susie.susie_rss`) over every locus of every trait.

    Each locus (a row of the gwas stage's ``loci/<trait>.loci.tsv``) is widened by ``flank_kb``
    on each side; its variants found in the LD source (matched on position and alleles) are
    fine-mapped with LD from that source (in-sample: the GWAS's analysed samples), the z-scores
    oriented to the LD's counted allele, ``n`` the median ``n`` of the region.

    Parameters
    ----------
    sumstats : dict of str to DataFrame
        Trait label -> GWAS-SSF table (``chromosome, base_pair_location, effect_allele,
        other_allele, beta, standard_error, p_value, n``; ``variant_id`` and ``rsid`` used).
    loci : dict of str to DataFrame
        Trait label -> loci (``locus, chromosome, start, end, lead_variant``; FUMA's loci from
        the gwas stage, or :func:`regions_from_hits`).
    ld_reader : GenotypeReader
        The LD source (:func:`bma_genetics.ld.open_ld_source`), restricted to the analysed samples.
    L, coverage, min_abs_corr, max_iter : default=10, 0.95, 0.5, 100
        SuSiE's settings (susieR's defaults).
    flank_kb : float, default=250
        Added on each side of a locus.
    max_variants : int, default=2000
        At most this many variants per region (those nearest the lead variant).
    out : path, optional
        Folder for ``credible_sets.tsv``, ``pips.tsv.gz`` and ``loci.tsv``.

    Returns
    -------
    FinemapResult

    Notes
    -----
    Output schema of ``credible_sets.tsv`` (one row per variant of each credible set):

    ==================  ======  =====================================================
    column              dtype   meaning
    ==================  ======  =====================================================
    trait, locus        str/int the GWAS and its locus number
    credible_set        str     ``L<k>``: the SuSiE effect it comes from
    variant_id, rsid    str     the variant
    z, p_value          float   GWAS z (per effect allele) and P
    pip                 float   posterior inclusion probability (all effects)
    alpha               float   this effect's posterior probability on the variant
    coverage            float   summed alpha of the set (>= 0.95)
    min_abs_corr        float   purity: smallest |r| between members (>= 0.5)
    ==================  ======  =====================================================
    """
    if not isinstance(sumstats, dict) or not isinstance(loci, dict):
        raise fail("run_finemap/sumstats", "expected dicts of trait label -> table")
    missing = [t for t in loci if t not in sumstats]
    if missing:
        raise fail("run_finemap/loci", f"loci of {missing} without summary statistics (have {list(sumstats)})")
    if not isinstance(max_variants, (int, np.integer)) or max_variants < 2:
        raise fail("run_finemap/max_variants", f"expected an integer >= 2, found {max_variants!r}")
    if flank_kb < 0:
        raise fail("run_finemap/flank_kb", f"expected a non-negative window, found {flank_kb}")
    for t, ss in sumstats.items():
        check_columns(f"run_finemap/sumstats[{t}]", ss, ["chromosome", "base_pair_location", "effect_allele",
                                                          "other_allele", "beta", "standard_error", "p_value"])
    cs_rows, pip_parts, loci_rows = [], [], []
    regions: dict[tuple[str, int], Region] = {}
    for trait, loc in loci.items():
        ss = sumstats[trait]
        for rec in loc.itertuples(index=False):
            chrom = str(rec.chromosome)
            lo, hi = int(rec.start) - int(flank_kb * 1000), int(rec.end) + int(flank_kb * 1000)
            lead_pos = (int(rec.start) + int(rec.end)) // 2
            if "variant_id" in ss.columns:
                hit = ss.loc[ss["variant_id"].astype(str) == str(rec.lead_variant), "base_pair_location"]
                lead_pos = int(hit.iloc[0]) if len(hit) else lead_pos
            v, r = _region_variants(ss, ld_reader, chrom, lo, hi, int(max_variants), lead_pos)
            row = {"trait": trait, "locus": int(rec.locus), "chromosome": chrom, "start": int(rec.start),
                   "end": int(rec.end), "lead_variant": str(rec.lead_variant),
                   "lead_rsid": str(getattr(rec, "lead_rsid", "") or ""), "p_value": float(rec.p_value),
                   "nearest_gene": str(getattr(rec, "nearest_gene", "") or ""),
                   "genes": str(getattr(rec, "genes", "") or ""), "region_start": lo, "region_end": hi,
                   "n_variants": len(v), "n_credible_sets": 0, "credible_set_sizes": "", "top_pip_variant": "",
                   "top_pip": np.nan, "converged": False, "n_iter": 0, "reason": ""}
            if len(v) < 2:
                row["reason"] = "fewer than 2 variants of the region in the LD source"
                loci_rows.append(row)
                continue
            n = float(np.nanmedian(v["n"].astype(float))) if "n" in v.columns and v["n"].notna().any() else None
            fit = susie_rss(v["z"].to_numpy(), r, n=n, L=L, coverage=coverage, min_abs_corr=min_abs_corr,
                            max_iter=max_iter)
            regions[(trait, int(rec.locus))] = Region(trait, int(rec.locus), v, r, fit)
            cs_of = fit.credible_set_of()
            vid = v["variant_id"].astype(str) if "variant_id" in v.columns else (
                v["chromosome"].astype(str) + ":" + v["base_pair_location"].astype(str))
            top = int(np.argmax(fit.pip))
            row.update(n_credible_sets=len(fit.credible_sets),
                       credible_set_sizes=",".join(str(len(cs.variants)) for cs in fit.credible_sets),
                       top_pip_variant=str(vid.iloc[top]), top_pip=float(fit.pip[top]), converged=fit.converged,
                       n_iter=fit.n_iter)
            loci_rows.append(row)
            pip_parts.append(pd.DataFrame({
                "trait": trait, "locus": int(rec.locus), "variant_id": vid.to_numpy(), "chromosome": chrom,
                "base_pair_location": v["base_pair_location"].to_numpy(), "z": v["z"].to_numpy(),
                "p_value": v["p_value"].to_numpy(), "pip": fit.pip,
                "credible_set": [f"L{k}" if k else "" for k in cs_of]}))
            for cs in fit.credible_sets:
                for j in cs.variants:
                    cs_rows.append({
                        "trait": trait, "locus": int(rec.locus), "credible_set": f"L{cs.effect}",
                        "variant_id": str(vid.iloc[j]), "rsid": str(v["rsid"].iloc[j]) if "rsid" in v.columns else "",
                        "chromosome": chrom, "base_pair_location": int(v["base_pair_location"].iloc[j]),
                        "effect_allele": str(v["effect_allele"].iloc[j]), "other_allele": str(v["other_allele"].iloc[j]),
                        "z": float(v["z"].iloc[j]), "p_value": float(v["p_value"].iloc[j]), "pip": float(fit.pip[j]),
                        "alpha": float(fit.alpha[cs.effect - 1, j]), "coverage": cs.coverage,
                        "min_abs_corr": cs.min_abs_corr, "mean_abs_corr": cs.mean_abs_corr,
                        "median_abs_corr": cs.median_abs_corr})
            log.info("finemap %s locus %d: %d variants, %d credible set(s) %s, top PIP %.3f", trait, rec.locus,
                     len(v), len(fit.credible_sets), row["credible_set_sizes"], row["top_pip"])
    cs_table = pd.DataFrame(cs_rows, columns=CS_COLUMNS)
    pips = pd.concat(pip_parts, ignore_index=True) if pip_parts else pd.DataFrame(columns=PIP_COLUMNS)
    loci_table = pd.DataFrame(loci_rows, columns=LOCI_COLUMNS)
    files = _write_tables(out, {"credible_sets": (cs_table, "credible_sets.tsv"), "pips": (pips, "pips.tsv.gz"),
                                "loci": (loci_table, "loci.tsv")})
    report = {
        "n_loci": {t: int((loci_table["trait"] == t).sum()) for t in loci},
        "n_credible_sets": {t: int(loci_table.loc[loci_table["trait"] == t, "n_credible_sets"].sum()) for t in loci},
        "median_credible_set_size": float(cs_table.groupby(["trait", "locus", "credible_set"]).size().median())
        if len(cs_table) else None,
        "settings": {"L": L, "coverage": coverage, "min_abs_corr": min_abs_corr, "flank_kb": flank_kb,
                     "max_variants": int(max_variants)},
    }
    return FinemapResult(table=cs_table, files=files, report=report, pips=pips, loci=loci_table, regions=regions)


_COMPLEMENT = str.maketrans("ACGT", "TGCA")


def align_to_region(region: pd.DataFrame, other: pd.DataFrame) -> pd.DataFrame:
    """Rows of ``other`` matched to ``region``'s variants on chromosome, position and allele pair;
    ``beta`` flipped where ``other``'s effect allele is the region's other allele (strand flips
    read too). A palindromic pair (A/T, C/G) coded as the region's (same effect and other allele)
    is kept as it is, on the same strand; one coded the other way round is flipped. Returns ``other``'s rows with ``region_index`` (row of ``region``), in region order."""
    check_columns("align_to_region/other", other, ["chromosome", "base_pair_location", "effect_allele",
                                                   "other_allele", "beta", "standard_error"])
    a = pd.DataFrame({"chromosome": region["chromosome"].astype(str).to_numpy(),
                      "base_pair_location": region["base_pair_location"].astype(np.int64).to_numpy(),
                      "ea": region["effect_allele"].astype(str).str.upper().to_numpy(),
                      "oa": region["other_allele"].astype(str).str.upper().to_numpy(),
                      "region_index": np.arange(len(region))})
    b = other.copy()
    b["chromosome"] = b["chromosome"].astype(str).str.removeprefix("chr")
    b["base_pair_location"] = b["base_pair_location"].astype(np.int64)
    m = a.merge(b, on=["chromosome", "base_pair_location"], how="inner")
    e2, o2 = m["effect_allele"].astype(str).str.upper(), m["other_allele"].astype(str).str.upper()
    same = (e2 == m["ea"]) & (o2 == m["oa"])
    swap = (e2 == m["oa"]) & (o2 == m["ea"])
    # the opposite strand only where the same strand does not match: a palindrome (A/T, C/G) is
    # read on the same strand, never flipped when coded as the region's
    direct = same | swap
    e2f, o2f = e2.str.translate(_COMPLEMENT), o2.str.translate(_COMPLEMENT)
    same |= ~direct & (e2f == m["ea"]) & (o2f == m["oa"])
    swap |= ~direct & (e2f == m["oa"]) & (o2f == m["ea"])
    m = m[same | swap].copy()
    flip = swap[same | swap].to_numpy()
    m.loc[flip, "beta"] = -m.loc[flip, "beta"]
    if "effect_allele_frequency" in m.columns:
        m.loc[flip, "effect_allele_frequency"] = 1 - m.loc[flip, "effect_allele_frequency"]
    m["effect_allele"], m["other_allele"] = m["ea"], m["oa"]
    m = m.drop(columns=["ea", "oa"]).drop_duplicates("region_index").sort_values("region_index")
    return m.reset_index(drop=True)


def _check_builds(finemap: FinemapResult, other: pd.DataFrame, where: str) -> None:
    """Positions of two builds do not match: refuse a GRCh38 eQTL (GTEx v8) against a GRCh37 GWAS."""
    from bma_genetics.io import build_of, check_same_build

    theirs = build_of(other, where, source="the other study")
    for (trait, _), reg in finemap.regions.items():
        check_same_build(build_of(reg.variants, where, source=trait), theirs, where=where,
                         names=(f"the GWAS of {trait}", "the other study"))


def _studies(other: pd.DataFrame, label: str) -> list[tuple[str, str, str, pd.DataFrame]]:
    """(other label, gene_id, gene_name, rows) per gene of an eQTL table, or the one study."""
    if "gene_id" in other.columns:
        names = other.groupby("gene_id", sort=False)["gene_name"].first() if "gene_name" in other.columns else None
        return [(f"{label}:{g}", str(g), str(names[g]) if names is not None else str(g), d)
                for g, d in other.groupby("gene_id", sort=False)]
    return [(label, "", "", other)]


def run_coloc(
    finemap: FinemapResult,
    other: pd.DataFrame,
    *,
    label: str = "eqtl",
    type1: str = "quant",
    type2: str = "auto",
    sd_y2: float | None = None,
    n2: float | None = None,
    p1: float = P1,
    p2: float = P2,
    p12: float = P12,
    p12_susie: float = P12_SUSIE,
    susie: bool = True,
    min_shared: int = 10,
    out: str | os.PathLike | None = None,
) -> ColocResult:
    """coloc.abf and SuSiE-coloc between each fine-mapped locus and another study.

    Parameters
    ----------
    finemap : FinemapResult
        What :func:`run_finemap` returned (its regions: the GWAS variants, LD and SuSiE fits;
        the GWAS's ``n`` and ``effect_allele_frequency`` estimate its sd(Y)).
    other : DataFrame
        The other study's summary statistics (``chromosome, base_pair_location, effect_allele,
        other_allele, beta, standard_error``); with ``gene_id`` (eQTL, :func:`bma_genetics.io.read_eqtl`)
        each gene is a separate study.
    label : str, default="eqtl"
        Name of the other study in the tables (``other`` column: ``label`` or ``label:gene_id``).
    type1 : {"quant", "cc"}, default="quant"
        The GWAS: quantitative (BMFF) or case-control.
    type2 : {"auto", "quant", "cc"}, default="auto"
        The other study; ``auto``: case-control when it has ``n_cases`` (GWAS-SSF of a disease),
        else quantitative.
    sd_y2 : float, optional
        sd(Y) of the other study (default: estimated from its ``n`` and frequencies, or 1 for an
        eQTL without ``n``: standardised expression).
    n2 : float, optional
        Sample size of the other study (SuSiE on it; default its ``n`` column, else the large-n
        form).
    p1, p2, p12 : float, default=1e-4, 1e-4, 1e-5
        coloc.abf's priors.
    p12_susie : float, default=5e-6
        SuSiE-coloc's p12 (coloc.bf_bf's default).
    susie : bool, default=True
        Also fine-map the other study in each region (same LD) and run SuSiE-coloc.
    min_shared : int, default=10
        Fewest shared variants for a test.
    out : path, optional
        Folder for ``coloc.tsv`` and ``coloc_susie.tsv``.

    Returns
    -------
    ColocResult
        ``table``: ``trait, locus, other, gene_id, gene_name, nsnp, pp_h0..pp_h4, top_variant,
        top_snp_pp_h4``; ``susie``: ``trait, locus, other, gene_id, gene_name, credible_set_1,
        credible_set_2, nsnp, pp_h0..pp_h4, top_variant``.
    """
    if not isinstance(finemap, FinemapResult):
        raise fail("run_coloc/finemap", f"expected a FinemapResult (run_finemap), found {type(finemap).__name__}")
    if type2 not in ("auto", "quant", "cc"):
        raise fail("run_coloc/type2", f"expected 'auto', 'quant' or 'cc', found {type2!r}")
    if type2 == "auto":
        type2 = "cc" if "n_cases" in other.columns and other["n_cases"].notna().any() else "quant"
    _check_builds(finemap, other, "run_coloc/other")
    rows, srows = [], []
    fits2: dict[tuple, SusieFit] = {}  # the other study's SuSiE fit per gene and variant set (traits share regions)
    for (trait, locus), reg in finemap.regions.items():
        v = reg.variants
        chrom = str(v["chromosome"].iloc[0])
        lo, hi = int(v["base_pair_location"].min()), int(v["base_pair_location"].max())
        near = other[(other["chromosome"].astype(str).str.removeprefix("chr") == chrom)
                     & other["base_pair_location"].between(lo, hi)]
        if near.empty:
            continue
        vid = v["variant_id"].astype(str) if "variant_id" in v.columns else (
            v["chromosome"].astype(str) + ":" + v["base_pair_location"].astype(str))
        for name, gene_id, gene_name, d in _studies(near, label):
            m = align_to_region(v, d)
            if len(m) < min_shared:
                continue
            t1 = pd.DataFrame({"variant_id": vid.to_numpy(), "beta": v["beta"].astype(float).to_numpy(),
                               "standard_error": v["standard_error"].astype(float).to_numpy()})
            if "n" in v.columns and "effect_allele_frequency" in v.columns:
                t1["n"], t1["effect_allele_frequency"] = v["n"].to_numpy(), v["effect_allele_frequency"].to_numpy()
            t2 = pd.DataFrame({"variant_id": vid.to_numpy()[m["region_index"]], "beta": m["beta"].to_numpy(),
                               "standard_error": m["standard_error"].to_numpy()})
            nn2 = n2 if n2 is not None else (float(m["n"].median()) if "n" in m.columns else None)
            sd2 = sd_y2
            if type2 == "quant" and sd2 is None:
                if nn2 is not None and "effect_allele_frequency" in m.columns:
                    t2["n"], t2["effect_allele_frequency"] = nn2, m["effect_allele_frequency"].to_numpy()
                else:
                    sd2 = 1.0
            # the GWAS's sd(Y) from its n and frequencies (coloc's sdY.est), else a standardised trait
            sd1 = None if "n" in t1.columns else 1.0
            res, snp = coloc_abf(t1, t2, type1=type1, type2=type2, sd_y1=sd1, sd_y2=sd2, p1=p1, p2=p2, p12=p12)
            best = int(np.argmax(snp["snp_pp_h4"].to_numpy()))
            rows.append({"trait": trait, "locus": locus, "other": name, "gene_id": gene_id, "gene_name": gene_name,
                         **res.as_dict(), "top_variant": str(snp["variant_id"].iloc[best]),
                         "top_snp_pp_h4": float(snp["snp_pp_h4"].iloc[best])})
            if susie and reg.fit is not None and reg.fit.credible_sets:
                idx = m["region_index"].to_numpy()
                key = (name, tuple(vid.to_numpy()[idx]))
                if key not in fits2:
                    z2 = m["beta"].to_numpy() / m["standard_error"].to_numpy()
                    # without a signal in the other study there is no credible set to pair
                    fits2[key] = susie_rss(z2, reg.r[np.ix_(idx, idx)], n=nn2) if np.max(np.abs(z2)) > 3 else None
                fit2 = fits2[key]
                if fit2 is None:
                    continue
                if not fit2.credible_sets:
                    continue
                cols1 = vid.to_numpy()
                lbf1 = pd.DataFrame(reg.fit.lbf_variable[[cs.effect - 1 for cs in reg.fit.credible_sets]],
                                    index=[f"L{cs.effect}" for cs in reg.fit.credible_sets], columns=cols1)
                lbf2 = pd.DataFrame(fit2.lbf_variable[[cs.effect - 1 for cs in fit2.credible_sets]],
                                    index=[f"L{cs.effect}" for cs in fit2.credible_sets], columns=cols1[idx])
                pairs = coloc_susie(lbf1, lbf2, p1=p1, p2=p2, p12=p12_susie)
                for prow in pairs.to_dict("records"):
                    srows.append({"trait": trait, "locus": locus, "other": name, "gene_id": gene_id,
                                  "gene_name": gene_name, **prow})
    table = pd.DataFrame(rows, columns=["trait", "locus", "other", "gene_id", "gene_name", "nsnp", "pp_h0", "pp_h1",
                                        "pp_h2", "pp_h3", "pp_h4", "top_variant", "top_snp_pp_h4"])
    stable = pd.DataFrame(srows, columns=["trait", "locus", "other", "gene_id", "gene_name", "credible_set_1",
                                          "credible_set_2", "nsnp", "pp_h0", "pp_h1", "pp_h2", "pp_h3", "pp_h4",
                                          "top_variant"])
    files = _write_tables(out, {"coloc": (table, "coloc.tsv"), "coloc_susie": (stable, "coloc_susie.tsv")})
    report = {"n_tests": len(table), "n_pp_h4_above_0.8": int((table["pp_h4"] > 0.8).sum()),
              "n_susie_pairs": len(stable), "type2": type2,
              "priors": {"p1": p1, "p2": p2, "p12": p12, "p12_susie": p12_susie}}
    return ColocResult(table=table, files=files, report=report, susie=stable)


def run_smr(
    finemap: FinemapResult,
    eqtl: pd.DataFrame,
    *,
    p_eqtl: float = 5e-8,
    p_heidi: float = 1.57e-3,
    min_shared: int = 10,
    out: str | os.PathLike | None = None,
) -> SMRTable:
    """SMR and HEIDI (:func:`bma_genetics.finemap.smr.smr_heidi`) of each eQTL gene at each
    fine-mapped locus, with the region's in-sample LD.

    Parameters
    ----------
    finemap : FinemapResult
    eqtl : DataFrame
        :func:`bma_genetics.io.read_eqtl`'s columns (``gene_id`` per gene).
    p_eqtl : float, default=5e-8
        SMR's instrument threshold (``--peqtl-smr``).
    p_heidi : float, default=1.57e-3
        HEIDI's variant threshold (``--peqtl-heidi``).
    min_shared : int, default=10
    out : path, optional
        Folder for ``smr.tsv``.

    Returns
    -------
    SMRTable
        ``trait, locus, gene_id, gene_name, top_variant, beta, standard_error, p_value, p_eqtl,
        p_gwas, z_eqtl, z_gwas, heidi_p_value, nsnp_heidi`` (genes without an instrument below
        ``p_eqtl`` are left out).
    """
    check_columns("run_smr/eqtl", eqtl, ["gene_id", "chromosome", "base_pair_location", "effect_allele",
                                         "other_allele", "beta", "standard_error"])
    _check_builds(finemap, eqtl, "run_smr/eqtl")
    rows = []
    for (trait, locus), reg in finemap.regions.items():
        v = reg.variants
        chrom = str(v["chromosome"].iloc[0])
        lo, hi = int(v["base_pair_location"].min()), int(v["base_pair_location"].max())
        near = eqtl[(eqtl["chromosome"].astype(str).str.removeprefix("chr") == chrom)
                    & eqtl["base_pair_location"].between(lo, hi)]
        for _, gene_id, gene_name, d in _studies(near, "eqtl"):
            m = align_to_region(v, d)
            if len(m) < min_shared:
                continue
            idx = m["region_index"].to_numpy()
            res = smr_heidi(m["beta"].to_numpy(), m["standard_error"].to_numpy(),
                            v["beta"].astype(float).to_numpy()[idx], v["standard_error"].astype(float).to_numpy()[idx],
                            reg.r[np.ix_(idx, idx)], p_eqtl=p_eqtl, p_heidi=p_heidi)
            if res.top_index < 0:
                continue
            vid = v["variant_id"].astype(str).to_numpy() if "variant_id" in v.columns else None
            rows.append({"trait": trait, "locus": locus, "gene_id": gene_id, "gene_name": gene_name,
                         "top_variant": str(vid[idx[res.top_index]]) if vid is not None else "",
                         "beta": res.beta, "standard_error": res.standard_error, "p_value": res.p_value,
                         "p_eqtl": res.p_eqtl, "p_gwas": res.p_gwas, "z_eqtl": res.z_eqtl, "z_gwas": res.z_gwas,
                         "heidi_p_value": res.heidi_p_value, "nsnp_heidi": res.nsnp_heidi})
    table = pd.DataFrame(rows, columns=["trait", "locus", "gene_id", "gene_name", "top_variant", "beta",
                                        "standard_error", "p_value", "p_eqtl", "p_gwas", "z_eqtl", "z_gwas",
                                        "heidi_p_value", "nsnp_heidi"])
    files = _write_tables(out, {"smr": (table, "smr.tsv")})
    return SMRTable(table=table, files=files, report={"n_tests": len(table), "thresholds": {
        "p_eqtl": p_eqtl, "p_heidi": p_heidi}})

"""Post-GWAS: independent significant SNPs, lead SNPs and genomic risk loci (FUMA's definitions),
gene mapping, and inverse-variance fixed-effect meta-analysis.

FUMA (Watanabe et al. 2017, Nat Commun 8:1826) defines, with LD from a reference panel or the
study's own genotypes:

- **independent significant SNPs**: P < ``p1`` (5e-8) and independent at r^2 < ``r2_independent``
  (0.6); their LD block is every variant with P < ``p2`` (0.05) in r^2 >= 0.6 with them;
- **lead SNPs**: the independent significant SNPs re-clumped at r^2 < ``r2_lead`` (0.1);
- **genomic risk loci**: lead SNPs whose LD blocks overlap or lie within ``merge_kb`` (250 kb)
  are merged; a locus spans its LD blocks.

Clumping is :func:`bma_genetics.ld.clump` (PLINK's greedy algorithm).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from bma_genetics._check import check_columns, fail
from bma_genetics.io import build_of, check_same_build
from bma_genetics.stats import chromosome_rank

log = logging.getLogger(__name__)

LEAD_COLUMNS = ["locus", "chromosome", "base_pair_location", "variant_id", "rsid", "effect_allele",
                "other_allele", "beta", "standard_error", "p_value", "neg_log_10_p_value",
                "n_independent", "nearest_gene", "distance_to_gene"]
LOCUS_COLUMNS = ["locus", "chromosome", "start", "end", "lead_variant", "lead_rsid", "p_value",
                 "neg_log_10_p_value", "n_lead", "n_independent", "n_candidates", "nearest_gene", "genes"]


def _ids(frame: pd.DataFrame) -> pd.Series:
    if "variant_id" in frame.columns:
        return frame["variant_id"].astype(str)
    return frame["chromosome"].astype(str) + ":" + frame["base_pair_location"].astype(str)


def nearest_gene(chromosome: str, position: int, genes: pd.DataFrame) -> tuple[str | None, int | None]:
    """Gene whose body contains ``position`` (distance 0), else the closest gene end or start.

    With a ``gene_type`` column, protein-coding genes are preferred (as FUMA's and most
    papers' "nearest gene"; pseudogenes and lncRNA fragments are dense in GENCODE).
    """
    g = genes[genes["chromosome"].astype(str) == str(chromosome)]
    if "gene_type" in g.columns and (g["gene_type"] == "protein_coding").any():
        g = g[g["gene_type"] == "protein_coding"]
    if g.empty:
        return None, None
    start = g["start"].to_numpy()
    end = g["end"].to_numpy()
    dist = np.where((start <= position) & (position <= end), 0,
                    np.minimum(np.abs(start - position), np.abs(end - position)))
    i = int(np.argmin(dist))
    return str(g["gene_name"].iloc[i]), int(dist[i])


def genes_in(chromosome: str, start: int, end: int, genes: pd.DataFrame) -> list[str]:
    """Names of genes overlapping [start, end] on a chromosome, in position order."""
    g = genes[(genes["chromosome"].astype(str) == str(chromosome)) & (genes["end"] >= start) & (genes["start"] <= end)]
    return list(dict.fromkeys(g.sort_values("start")["gene_name"].astype(str)))


def find_loci(
    sumstats: pd.DataFrame,
    reader,
    *,
    genes: pd.DataFrame | None = None,
    p1: float = 5e-8,
    p2: float = 0.05,
    r2_independent: float = 0.6,
    r2_lead: float = 0.1,
    merge_kb: float = 250,
    window_kb: float = 250,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Independent significant SNPs, lead SNPs and genomic risk loci with their genes (FUMA).

    Parameters
    ----------
    sumstats : DataFrame
        GWAS-SSF columns (``chromosome, base_pair_location, p_value``; alleles used to match).
    reader : bma_genetics.ld.GenotypeReader
        LD source (in-sample genotypes or a reference panel).
    genes : DataFrame, optional
        ``gene_name, chromosome, start, end`` (``bma_genetics.resources.load_genes("GRCh37")``).
    p1, p2, r2_independent, r2_lead, merge_kb, window_kb
        FUMA's defaults: 5e-8, 0.05, 0.6, 0.1, 250 kb; ``window_kb`` is the clumping window.

    Returns
    -------
    (independent, leads, loci) : DataFrames
        ``independent``: the independent significant SNPs (sumstats columns + ``locus``,
        ``lead_variant``, ``n_candidates``); ``leads``: ``LEAD_COLUMNS``; ``loci``:
        ``LOCUS_COLUMNS`` (``genes`` comma-separated).
    """
    from bma_genetics.ld import clump

    check_columns("find_loci/sumstats", sumstats, ["chromosome", "base_pair_location", "p_value"])
    if r2_lead > r2_independent:
        raise fail("find_loci/r2_lead", f"r2_lead ({r2_lead}) must be <= r2_independent ({r2_independent})")
    ss = sumstats.copy()
    ss["p_value"] = ss["p_value"].astype(float)
    if "neg_log_10_p_value" in ss.columns:
        # keep the order of P values that underflow to 0
        ss["p_value"] = np.where(ss["p_value"] > 0, ss["p_value"], 10 ** -np.minimum(ss["neg_log_10_p_value"], 320))
        ss.loc[ss["p_value"] == 0, "p_value"] = np.nextafter(0, 1)
    ind = clump(ss, reader, p1=p1, p2=p2, r2=r2_independent, window_kb=window_kb)
    empty = (pd.DataFrame(columns=[*ss.columns, "locus", "lead_variant", "n_candidates"]),
             pd.DataFrame(columns=LEAD_COLUMNS), pd.DataFrame(columns=LOCUS_COLUMNS))
    if ind.empty:
        return empty
    ids = _ids(ss)
    pos_of = dict(zip(ids, ss["base_pair_location"].astype(np.int64), strict=False))
    ind = ind.copy()
    ind["variant_id"] = _ids(ind)
    spans = []
    for rec in ind.itertuples(index=False):
        members = [m for m in str(rec.clump_members).split(",") if m]
        positions = [pos_of[m] for m in members if m in pos_of] + [int(rec.base_pair_location)]
        spans.append((min(positions), max(positions), len(members)))
    ind["block_start"] = [s[0] for s in spans]
    ind["block_end"] = [s[1] for s in spans]
    ind["n_candidates"] = [s[2] + 1 for s in spans]
    leads = clump(ind.drop(columns=["n_members", "n_significant", "clump_members"]), reader,
                  p1=p1, p2=p1, r2=r2_lead, window_kb=window_kb)
    leads["variant_id"] = _ids(leads)
    lead_of = {}
    for rec in leads.itertuples(index=False):
        lead_of[rec.variant_id] = rec.variant_id
        for m in str(rec.clump_members).split(","):
            if m:
                lead_of[m] = rec.variant_id
    ind["lead_variant"] = ind["variant_id"].map(lead_of).fillna(ind["variant_id"])
    # lead blocks: union of their independent SNPs' blocks; then merge blocks within merge_kb
    blocks = ind.groupby("lead_variant").agg(chromosome=("chromosome", "first"), start=("block_start", "min"),
                                             end=("block_end", "max"), n_independent=("variant_id", "size"),
                                             n_candidates=("n_candidates", "sum")).reset_index()
    blocks = blocks.merge(leads[["variant_id", "p_value"]].rename(columns={"variant_id": "lead_variant"}),
                          on="lead_variant", how="left")
    blocks["chromosome"] = blocks["chromosome"].astype(str)
    blocks = blocks.sort_values(["chromosome", "start"], key=lambda s: s.map(chromosome_rank) if s.name == "chromosome" else s)
    locus_id = []
    current, last_chrom, last_end = 0, None, -np.inf
    for rec in blocks.itertuples(index=False):
        if rec.chromosome != last_chrom or rec.start - last_end > merge_kb * 1000:
            current += 1
            last_end = rec.end
        else:
            last_end = max(last_end, rec.end)
        last_chrom = rec.chromosome
        locus_id.append(current)
    blocks["locus"] = locus_id
    ind["locus"] = ind["lead_variant"].map(dict(zip(blocks["lead_variant"], blocks["locus"], strict=True)))

    lead_rows = []
    for rec in leads.itertuples(index=False):
        gene, dist = nearest_gene(rec.chromosome, int(rec.base_pair_location), genes) if genes is not None else (None, None)
        b = blocks.set_index("lead_variant").loc[rec.variant_id]
        lead_rows.append({
            "locus": int(b["locus"]), "chromosome": str(rec.chromosome), "base_pair_location": int(rec.base_pair_location),
            "variant_id": rec.variant_id, "rsid": getattr(rec, "rsid", None),
            "effect_allele": getattr(rec, "effect_allele", None), "other_allele": getattr(rec, "other_allele", None),
            "beta": getattr(rec, "beta", np.nan), "standard_error": getattr(rec, "standard_error", np.nan),
            "p_value": sumstats.loc[ids == rec.variant_id, "p_value"].iloc[0] if (ids == rec.variant_id).any() else rec.p_value,
            "neg_log_10_p_value": getattr(rec, "neg_log_10_p_value", -np.log10(rec.p_value)),
            "n_independent": int(b["n_independent"]), "nearest_gene": gene, "distance_to_gene": dist,
        })
    lead_df = pd.DataFrame(lead_rows, columns=LEAD_COLUMNS).sort_values(["locus", "neg_log_10_p_value"],
                                                                          ascending=[True, False])
    locus_rows = []
    for locus, grp in lead_df.groupby("locus", sort=True):
        top = grp.iloc[0]
        bl = blocks[blocks["locus"] == locus]
        start, end = int(bl["start"].min()), int(bl["end"].max())
        locus_rows.append({
            "locus": int(locus), "chromosome": top["chromosome"], "start": start, "end": end,
            "lead_variant": top["variant_id"], "lead_rsid": top["rsid"], "p_value": top["p_value"],
            "neg_log_10_p_value": top["neg_log_10_p_value"], "n_lead": len(grp),
            "n_independent": int(bl["n_independent"].sum()), "n_candidates": int(bl["n_candidates"].sum()),
            "nearest_gene": top["nearest_gene"],
            "genes": ",".join(genes_in(top["chromosome"], start, end, genes)) if genes is not None else "",
        })
    loci = pd.DataFrame(locus_rows, columns=LOCUS_COLUMNS)
    ind_out = ind.drop(columns=["clump_members", "block_start", "block_end"])
    ind_out["p_value"] = sumstats.set_index(ids)["p_value"].reindex(ind_out["variant_id"]).to_numpy() \
        if ids.is_unique else ind_out["p_value"]
    log.info("loci: %d independent significant SNPs, %d lead SNPs, %d loci", len(ind_out), len(lead_df), len(loci))
    return ind_out.reset_index(drop=True), lead_df.reset_index(drop=True), loci


_COMPLEMENT = str.maketrans("ACGT", "TGCA")


def meta_analyse(sumstats: Sequence[pd.DataFrame], names: Sequence[str] | None = None) -> pd.DataFrame:
    """Inverse-variance-weighted fixed-effect meta-analysis with Cochran's Q and I^2.

    .. math::
        w_k = 1/\\mathrm{SE}_k^2,\\quad \\hat\\beta = \\frac{\\sum_k w_k \\beta_k}{\\sum_k w_k},\\quad
        \\mathrm{SE} = (\\textstyle\\sum_k w_k)^{-1/2},\\quad
        Q = \\sum_k w_k (\\beta_k - \\hat\\beta)^2,\\quad I^2 = \\max(0, (Q - (K-1))/Q)

    Variants are matched on chromosome, position and the allele pair; a study whose effect
    allele is the other allele has its beta (and frequency) flipped. P from the normal
    distribution (exact -log10 P via ``logsf``); Q's P from chi-square(K - 1).

    Parameters
    ----------
    sumstats : list of DataFrame
        GWAS-SSF tables (strata or batches) with ``beta, standard_error``; ``n`` and
        ``effect_allele_frequency`` used when present.
    names : list of str, optional
        Study labels for the ``direction`` column order (default ``0..K-1``).

    Returns
    -------
    DataFrame
        GWAS-SSF columns (``chromosome, base_pair_location, effect_allele, other_allele, beta,
        standard_error, effect_allele_frequency, p_value, neg_log_10_p_value, variant_id, rsid,
        n``) plus ``n_studies`` (int), ``q_statistic``, ``q_p_value``, ``i2`` (float) and
        ``direction`` (str, ``+``/``-``/``?`` per study).

    Examples
    --------
    >>> import pandas as pd
    >>> a = pd.DataFrame({"chromosome": ["1"], "base_pair_location": [100], "effect_allele": ["A"],
    ...                   "other_allele": ["G"], "beta": [0.2], "standard_error": [0.1]})
    >>> b = a.assign(effect_allele="G", other_allele="A", beta=-0.1)
    >>> round(float(meta_analyse([a, b])["beta"].iloc[0]), 3)
    0.15
    """
    if len(sumstats) < 2:
        raise fail("meta_analyse/sumstats", f"need at least 2 result sets, found {len(sumstats)}")
    names = list(names) if names is not None else [str(i) for i in range(len(sumstats))]
    if len(names) != len(sumstats):
        raise fail("meta_analyse/names", f"{len(names)} names for {len(sumstats)} result sets")
    need = ["chromosome", "base_pair_location", "effect_allele", "other_allele", "beta", "standard_error"]
    # studies are matched on positions: they must be on one genome build (genome_build, when known)
    builds = {n: build_of(ss, f"meta_analyse/sumstats[{n}]", source=n) for n, ss in zip(names, sumstats, strict=True)}
    known = [(n, b) for n, b in builds.items() if b]
    for n, b in known[1:]:
        check_same_build(known[0][1], b, where="meta_analyse/sumstats", names=(known[0][0], n))
    parts = []
    ref = None
    for k, (name, ss) in enumerate(zip(names, sumstats, strict=True)):
        check_columns(f"meta_analyse/sumstats[{name}]", ss, need)
        d = ss[need].copy()
        d["chromosome"] = d["chromosome"].astype(str)
        d["eaf"] = ss["effect_allele_frequency"].astype(float) if "effect_allele_frequency" in ss else np.nan
        d["n"] = ss["n"].astype(float) if "n" in ss else np.nan
        for c in ("variant_id", "rsid"):
            d[c] = ss[c] if c in ss else None
        d["a_lo"] = np.minimum(d["effect_allele"].str.upper(), d["other_allele"].str.upper())
        d["a_hi"] = np.maximum(d["effect_allele"].str.upper(), d["other_allele"].str.upper())
        d["study"] = k
        parts.append(d)
        if ref is None:
            ref = d
    long = pd.concat(parts, ignore_index=True)
    long = long[np.isfinite(long["beta"]) & np.isfinite(long["standard_error"]) & (long["standard_error"] > 0)]
    key = ["chromosome", "base_pair_location", "a_lo", "a_hi"]
    # orientation: the first study's effect allele at that site
    first = long.sort_values("study").drop_duplicates(key)[[*key, "effect_allele", "other_allele", "variant_id", "rsid"]]
    long = long.merge(first.rename(columns={"effect_allele": "ea0", "other_allele": "oa0", "variant_id": "vid0",
                                            "rsid": "rsid0"}), on=key)
    flip = long["effect_allele"].str.upper() != long["ea0"].str.upper()
    long["b"] = np.where(flip, -long["beta"], long["beta"])
    long["f"] = np.where(flip, 1 - long["eaf"], long["eaf"])
    long["w"] = 1.0 / long["standard_error"] ** 2
    long["wb"] = long["w"] * long["b"]
    g = long.groupby(key, sort=False)
    agg = g.agg(sw=("w", "sum"), swb=("wb", "sum"), k=("study", "size"), n=("n", "sum"),
                ea=("ea0", "first"), oa=("oa0", "first"), vid=("vid0", "first"), rsid=("rsid0", "first"))
    beta = agg["swb"] / agg["sw"]
    long = long.join(beta.rename("bhat"), on=key)
    long["q"] = long["w"] * (long["b"] - long["bhat"]) ** 2
    long["nf"] = long["n"] * long["f"]
    g = long.groupby(key, sort=False)
    q = g["q"].sum()
    eaf = g["nf"].sum(min_count=1) / g["n"].sum(min_count=1)
    # direction string, vectorised (a per-site apply is hours at 10 million variants)
    wide_sign = long.pivot_table(index=key, columns="study", values="b", aggfunc="first")
    wide_sign = wide_sign.reindex(columns=range(len(sumstats)))
    chars = np.where(wide_sign.isna(), "?", np.where(wide_sign.to_numpy() > 0, "+", "-"))
    direction = pd.Series(["".join(r) for r in chars], index=wide_sign.index)
    se = 1 / np.sqrt(agg["sw"])
    z = beta / se
    df = agg["k"] - 1
    out = pd.DataFrame({
        "chromosome": agg.index.get_level_values(0), "base_pair_location": agg.index.get_level_values(1).astype(np.int64),
        "effect_allele": agg["ea"].to_numpy(), "other_allele": agg["oa"].to_numpy(),
        "beta": beta.to_numpy(), "standard_error": se.to_numpy(),
        "effect_allele_frequency": eaf.reindex(agg.index).to_numpy(),
        "p_value": 2 * stats.norm.sf(np.abs(z.to_numpy())),
        "neg_log_10_p_value": -(stats.norm.logsf(np.abs(z.to_numpy())) + np.log(2)) / np.log(10),
        "variant_id": agg["vid"].to_numpy(), "rsid": agg["rsid"].to_numpy(),
        "n": agg["n"].to_numpy(), "n_studies": agg["k"].to_numpy(),
        "q_statistic": q.reindex(agg.index).to_numpy(),
    })
    out["q_p_value"] = np.where(df.to_numpy() > 0, stats.chi2.sf(out["q_statistic"], np.maximum(df.to_numpy(), 1)), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["i2"] = np.where(out["q_statistic"] > 0,
                             np.maximum(0.0, (out["q_statistic"] - df.to_numpy()) / out["q_statistic"]), 0.0)
    out["direction"] = direction.reindex(agg.index).to_numpy()
    out = out.sort_values(["chromosome", "base_pair_location"], key=lambda s: s.map(chromosome_rank) if s.name == "chromosome" else s)
    return out.reset_index(drop=True)

"""The GWAS stage's API: cohort -> phenotypes/covariates -> QC -> association -> loci -> plots.

:func:`run_study_gwas` is what the pipeline stage and the ``bma-genetics gwas`` command call;
every step is also a public function (:func:`~bma_genetics.gwas.read_genotypes`,
:func:`~bma_genetics.gwas.qc.variant_qc`, :func:`~bma_genetics.gwas.run_gwas`,
:func:`~bma_genetics.gwas.find_loci`, :func:`~bma_genetics.gwas.meta_analyse`).

Output directory layout (``out``):

=================================  ============================================================
path                               contents
=================================  ============================================================
``<trait>[.<stratum>].tsv.gz``     GWAS-SSF summary statistics (+ ``-meta.yaml``)
``<trait>.meta.tsv.gz``            IVW meta-analysis across the strata (+ Q, I^2)
``gwas_summary.tsv``               one row per result set: n, lambda GC, hits
``qc.tsv``                         QC table (sample and variant steps with counts)
``samples.json``                   sample reconciliation counts
``loci/<label>.{independent,leads,loci}.tsv``   FUMA-style loci with genes
``hail/genotypes_qc.mt``           the QC'd genotypes, native Hail (the checkpoint)
``hail/results_chr<c>.<k>.ht``     association results per chromosome and pass (Hail Tables)
``figures/``                       Manhattan, Miami, stacked Manhattan, QQ, regional (PNG+PDF)
=================================  ============================================================
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bma_genetics._atomic import write_table, write_text
from bma_genetics._check import fail
from bma_genetics.io import read_bmff_table, read_participant_table, read_withdrawals
from bma_genetics.sites import MAIN_TRAITS, bilateral_traits

log = logging.getLogger(__name__)

#: Default traits: the four sites and their left/right measurements.
DEFAULT_TRAITS: tuple[str, ...] = (*MAIN_TRAITS, *bilateral_traits())
#: Default covariates (those present in the participant table are used).
DEFAULT_COVARIATES: tuple[str, ...] = ("age", "age2", "sex", "age_sex", "bmi", *(f"pc{i}" for i in range(1, 11)))


def combine_bmff(cohort_idp: pd.DataFrame | None, imaging: pd.DataFrame | None) -> pd.DataFrame:
    """BMFF for everyone: the phenotypes stage's values (QC-passed rows) take precedence over the
    cohort's IDP table, which covers people outside the image subset."""
    if imaging is not None and "qc_pass" in imaging.columns:
        imaging = imaging[imaging["qc_pass"].astype(bool)]
    frames = [f for f in (imaging, cohort_idp) if f is not None]
    if not frames:
        raise fail("cohort_phenotypes/bmff", "no BMFF table: give the phenotypes stage's table or the cohort's")
    cols = [c for c in frames[0].columns if c == "eid" or c.startswith("bmff_")]
    out = frames[0][cols].set_index("eid")
    for f in frames[1:]:
        other = f[[c for c in f.columns if c == "eid" or c.startswith("bmff_")]].set_index("eid")
        out = out.combine_first(other)
    return out.reset_index()


def cohort_phenotypes(
    cohort: str | os.PathLike | None = None,
    *,
    participants: str | os.PathLike | pd.DataFrame | None = None,
    bmff: str | os.PathLike | pd.DataFrame | None = None,
    traits: Sequence[str] | None = None,
    covariates: Sequence[str] | None = None,
) -> tuple[pd.DataFrame, list[str], list[str]]:
    """The analysis table for a cohort: participants (QC'd) joined to BMFF traits.

    Parameters
    ----------
    cohort : path, optional
        Cohort directory (``docs/cohort_layout.md``); used for what is not given explicitly.
    participants : path or DataFrame, optional
        The participants stage's ``participants.parquet`` (``eid, age, age2, sex, age_sex, bmi,
        height, imaging_centre, pc1..pcK, ancestry``). Default: built from the cohort's showcase
        export with the standard sample QC (:mod:`bma_genetics.io`).
    bmff : path or DataFrame, optional
        The phenotypes stage's ``bmff.parquet`` (imaging subset); combined with the cohort's
        ``participants/bmff_idp.parquet`` (imaging results take precedence).
    traits, covariates : list of str, optional
        Defaults :data:`DEFAULT_TRAITS` / :data:`DEFAULT_COVARIATES` (those present).

    Returns
    -------
    (DataFrame, covariates, traits)
        ``eid`` + covariates + traits (+ ``ancestry`` when present), one row per participant.
    """
    cohort = Path(cohort) if cohort is not None else None
    if participants is None:
        if cohort is None:
            raise fail("cohort_phenotypes/participants", "give participants= or a cohort directory")
        from bma_genetics.io import run_participants

        def opt(rel: str) -> Path | None:
            p = cohort / rel
            return p if p.exists() else None

        res = run_participants(cohort / "participants" / "ukb_showcase.csv", withdrawals=opt("participants/withdrawals.csv"),
                               kinship=opt("genotypes/ukb_rel.dat"), phenotype=opt("participants/bmff_idp.parquet"),
                               diagnoses=False, progress=False)
        part = res.participants.copy()
        part["eid"] = part["eid"].astype(str)
        sample_qc = res.qc_table
    else:
        part = read_participant_table(participants, required=())
        sample_qc = None
    idp = None
    if cohort is not None and (cohort / "participants" / "bmff_idp.parquet").exists():
        idp = read_bmff_table(cohort / "participants" / "bmff_idp.parquet")
    imaging = read_bmff_table(bmff) if bmff is not None else None
    table = combine_bmff(idp, imaging)
    traits = list(traits) if traits else [t for t in DEFAULT_TRAITS if t in table.columns]
    missing = [t for t in traits if t not in table.columns]
    if missing:
        raise fail("cohort_phenotypes/traits", f"trait(s) {missing} not in the BMFF table; it has "
                                               f"{[c for c in table.columns if c.startswith('bmff_')]}")
    if covariates is None:
        covariates = [c for c in DEFAULT_COVARIATES if c in part.columns]
    else:
        bad = [c for c in covariates if c not in part.columns]
        if bad:
            raise fail("cohort_phenotypes/covariates", f"covariate(s) {bad} not in the participant table; "
                                                       f"it has {list(part.columns)[:30]}")
        covariates = list(covariates)
    keep = ["eid", *covariates, *[c for c in ("ancestry",) if c in part.columns and c not in covariates]]
    frame = part[keep].merge(table[["eid", *traits]], on="eid", how="inner")
    if sample_qc is not None:
        frame.attrs["sample_qc"] = sample_qc  # the QC counts, for the GWAS QC table
    log.info("phenotypes: %d participants with covariates, %d with any BMFF trait", len(part),
             int(frame[traits].notna().any(axis=1).sum()))
    return frame, list(covariates), traits


def _load_genes(genes: str | os.PathLike | pd.DataFrame | None):
    if isinstance(genes, pd.DataFrame):
        return genes
    try:
        from bma_genetics.resources import load_genes

        return load_genes("GRCh37", path=genes) if genes else load_genes("GRCh37")
    except Exception as exc:  # noqa: BLE001 - a missing gene table only loses the gene columns
        log.warning("gene table unavailable (%s); loci are reported without genes", exc)
        return None


def run_study_gwas(
    phenotypes: pd.DataFrame,
    *,
    out: str | os.PathLike,
    traits: Sequence[str],
    covariates: Sequence[str],
    bgen: str | os.PathLike | None = None,
    sample: str | os.PathLike | None = None,
    bfile: str | os.PathLike | None = None,
    vcf: str | os.PathLike | None = None,
    chromosomes: Sequence[str] | None = None,
    withdrawals: str | os.PathLike | set[str] | None = None,
    mfi: Sequence[str | os.PathLike] | None = None,
    strata: Sequence[str] | None = None,
    transform: str = "none",
    binary: Sequence[str] | None = None,
    block_size: int = 128,
    chunk_by: str = "chromosome",
    qc: dict[str, float] | None = None,
    sample_qc_table: str | os.PathLike | pd.DataFrame | None = None,
    ld: str | os.PathLike | None = "in-sample",
    genes: str | os.PathLike | pd.DataFrame | None = None,
    loci: dict[str, float] | None = None,
    meta: bool = True,
    plots: bool = True,
    resume: bool = True,
    index_dir: str | os.PathLike | None = None,
    n_partitions: int | None = None,
    metadata: dict[str, Any] | None = None,
    null_traits: int = 0,
    null_seed: int = 1,
) -> dict[str, Any]:
    """Run the whole GWAS: read, QC (checkpointed), associate, loci + genes, meta-analyse, plot.

    ``null_traits=K`` adds K permutations of the first trait (seeded by ``null_seed``; values
    shuffled among the participants who have that trait, so the distribution and missingness are
    the real trait's and any genetic signal is gone). They run in the same pass as the real traits,
    in stratum ``all`` only; their GWAS-SSF files are written (``null_perm_<k>.tsv.gz``) but they
    are kept out of ``sumstats``, loci and per-trait plots, and reported as ``null_calibration``
    (:func:`~bma_genetics.gwas.association.null_calibration`) with a pooled QQ plot.

    Returns
    -------
    dict
        ``sumstats`` (label -> path), ``meta`` (trait -> path), ``lambda_gc``, ``n_loci``,
        ``lead_genes``, ``samples``, ``qc`` (path), ``figures``, ``tables`` (relative to ``out``),
        and with ``null_traits``: ``null_calibration``.
    """
    from bma_genetics._hail import init_hail
    from bma_genetics.gwas.association import run_gwas
    from bma_genetics.gwas.inputs import read_genotypes
    from bma_genetics.gwas.loci import find_loci, meta_analyse
    from bma_genetics.gwas.qc import QC_COLUMNS, participants_qc_rows, read_mfi, variant_qc
    from bma_genetics.io.sumstats import write_gwas_ssf
    from bma_genetics.ld import open_ld_source

    # The LD source is checked before Spark starts (a typo in ``ld`` fails here, not after QC).
    # In-sample LD from a VCF alone is not available: loci are then skipped, with a warning.
    ld_reader = None
    if ld is not None and not (ld == "in-sample" and not (bgen or bfile)):
        ld_reader = open_ld_source(ld, genotypes=bgen or bfile, sample=sample, where="run_study_gwas/ld")
    hl = init_hail()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    traits = list(traits)
    nulls = add_null_traits(phenotypes, traits[0], null_traits, seed=null_seed) if null_traits else []
    if nulls:
        phenotypes = phenotypes.assign(**{k: v for k, v in nulls})
        nulls = [k for k, _ in nulls]
    if isinstance(withdrawals, (str, os.PathLike)):
        withdrawals = read_withdrawals(withdrawals)
    qc_params = {"min_info": 0.8, "min_call_rate": 0.95, "min_maf": 0.001, "min_mac": 20, "hwe_p": 1e-6, **(qc or {})}
    qc_key = json.dumps({"qc": qc_params, "bgen": str(bgen), "bfile": str(bfile), "vcf": str(vcf),
                         "chromosomes": list(chromosomes or []), "mfi": [str(m) for m in mfi or []]}, sort_keys=True)
    mt_path = out / "hail" / "genotypes_qc.mt"
    stamp = out / "hail" / "genotypes_qc.done"
    if resume and stamp.exists() and stamp.read_text().split("\n", 1)[0] == qc_key and mt_path.exists():
        log.info("QC'd genotypes exist with the same settings; resumed from %s", mt_path)
        mt = hl.read_matrix_table(str(mt_path))
        vqc = pd.read_csv(out / "hail" / "variant_qc.tsv", sep="\t")
    else:
        mt = read_genotypes(bgen=bgen, sample=sample, bfile=bfile, vcf=vcf, chromosomes=chromosomes,
                            index_dir=index_dir, n_partitions=n_partitions)
        ids = set(phenotypes["eid"].astype(str)) - set(withdrawals or ())
        mt = mt.filter_cols(hl.literal(ids).contains(mt.s))
        mfi_ht = read_mfi(mfi) if mfi else None
        mt, vqc = variant_qc(mt, mfi=mfi_ht, **qc_params)
        # native-format checkpoint: the association then reads Hail's own format, not BGEN
        mt = mt.select_entries("dosage").checkpoint(str(mt_path), overwrite=True)
        write_table(vqc, out / "hail" / "variant_qc.tsv")
        write_text(stamp, qc_key)
    res = run_gwas(mt, phenotypes, traits=[*traits, *nulls], covariates=covariates, strata=strata, binary=binary,
                   transform=transform, block_size=block_size, chromosomes=chromosomes, out=out, resume=resume,
                   withdrawals=set(withdrawals or ()), chunk_by=chunk_by, metadata=metadata, unstratified=nulls)
    gwas_summary = res.summary()
    null_sets = {k: res.sumstats.pop(k) for k in nulls if k in res.sumstats}
    null_files = {k: res.files.pop(k) for k in nulls if k in res.files}
    for k in nulls:
        res.lambda_gc.pop(k, None)
    res.analyses = [a for a in res.analyses if a.trait not in nulls]
    if sample_qc_table is None:
        sample_qc_table = phenotypes.attrs.get("sample_qc")
    qc_table = pd.concat([participants_qc_rows(sample_qc_table), vqc], ignore_index=True)[QC_COLUMNS]
    write_table(qc_table, out / "qc.tsv")
    write_text(out / "samples.json", json.dumps(res.samples, indent=2))

    summary: dict[str, Any] = {
        "sumstats": {k: str(v) for k, v in res.files.items()},
        "lambda_gc": {k: round(v, 4) for k, v in res.lambda_gc.items()},
        "samples": res.samples,
        "n_variants_tested": int(vqc["remaining"].iloc[-1]) if len(vqc) else None,
        "qc": str(out / "qc.tsv"),
        "tables": ["gwas_summary.tsv", "qc.tsv", "samples.json", *[Path(p).name for p in res.files.values()]],
    }
    if null_sets:
        from bma_genetics.gwas.association import null_calibration

        summary["null_calibration"] = {**null_calibration(null_sets), "source_trait": traits[0], "seed": null_seed,
                                       "files": {k: str(v) for k, v in null_files.items()}}
        cal = summary["null_calibration"]
        log.info("null calibration: %d permuted traits, pooled lambda GC %.4f (per trait %.3f-%.3f), "
                 "share P<0.05 %.4f", cal["n_traits"], cal["lambda_gc_pooled"], min(cal["lambda_gc"].values()),
                 max(cal["lambda_gc"].values()), cal["share_p_below_0.05"])
    # meta-analysis across strata (e.g. female + male), per trait
    metas: dict[str, Path] = {}
    if meta and strata:
        for trait in traits:
            done = [a for a in res.analyses if a.trait == trait and a.stratum != "all" and a.label in res.sumstats]
            if len(done) >= 2:
                m = meta_analyse([res.sumstats[a.label] for a in done], names=[a.stratum for a in done])
                metas[trait] = write_gwas_ssf(m, out / f"{trait}.meta.tsv.gz", {
                    "trait_description": [trait], "analysis_software": "bma-genetics meta_analyse (IVW fixed effect)",
                    "author_notes": f"IVW fixed-effect meta-analysis of strata {[a.stratum for a in done]}",
                    "samples": [{"sample_size": int(sum(a.n for a in done))}], **(metadata or {})})
                summary["tables"].append(metas[trait].name)
    summary["meta"] = {k: str(v) for k, v in metas.items()}

    # loci with genes (in-sample LD by default)
    gene_table = _load_genes(genes)
    loci_params = {"p1": 5e-8, "p2": 0.05, "r2_independent": 0.6, "r2_lead": 0.1, "merge_kb": 250, **(loci or {})}
    reader = None
    n_loci: dict[str, int] = {}
    lead_genes: dict[str, list[str]] = {}
    leads_by: dict[str, pd.DataFrame] = {}
    if ld_reader is None:
        log.warning("no LD source for clumping (in-sample LD needs BGEN or PLINK genotypes); loci skipped")
    reader = ld_reader
    if reader is not None:
        (out / "loci").mkdir(exist_ok=True)
        for label, ss in res.sumstats.items():
            ind, leads, loc = find_loci(ss, reader, genes=gene_table, **loci_params)
            for name, t in (("independent", ind), ("leads", leads), ("loci", loc)):
                write_table(t, out / "loci" / f"{label}.{name}.tsv")
                summary["tables"].append(f"loci/{label}.{name}.tsv")
            n_loci[label] = len(loc)
            lead_genes[label] = [g for g in loc["nearest_gene"].dropna().astype(str)]
            leads_by[label] = leads
    summary["n_loci"] = n_loci
    summary["lead_genes"] = lead_genes
    summary["figures"] = _plots(res, leads_by, gene_table, reader, out / "figures", strata) if plots else []
    if plots and null_sets:
        from bma_genetics.plots import plot_qq, save_figure

        pooled = pd.concat(list(null_sets.values()), ignore_index=True)
        fig = plot_qq(pooled, title=f"{len(null_sets)} permutations of {traits[0]} (pooled)")
        summary["figures"].extend(str(p) for p in save_figure(fig, out / "figures" / "qq_null_traits", dpi=200,
                                                               close=True))
    write_table(gwas_summary, out / "gwas_summary.tsv")
    return summary


def add_null_traits(phenotypes: pd.DataFrame, trait: str, k: int, *, seed: int = 1,
                    prefix: str = "null_perm_") -> list[tuple[str, np.ndarray]]:
    """``k`` seeded permutations of ``trait`` among the rows where it is defined (NaN elsewhere).

    Returns ``[(name, values), ...]`` named ``<prefix>1 .. <prefix>k``, for calibration: the
    permuted traits keep the real trait's distribution and missingness and carry no genetic effect.
    """
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 0:
        raise fail("run_study_gwas/null_traits", f"expected a non-negative integer, found {k!r}")
    if trait not in phenotypes.columns:
        raise fail("run_study_gwas/null_traits", f"trait '{trait}' not in the phenotype table")
    clash = [f"{prefix}{i}" for i in range(1, k + 1) if f"{prefix}{i}" in phenotypes.columns]
    if clash:
        raise fail("run_study_gwas/null_traits", f"the phenotype table already has column(s) {clash}")
    values = pd.to_numeric(phenotypes[trait], errors="coerce").to_numpy(dtype=float)
    ok = np.flatnonzero(np.isfinite(values))
    rng = np.random.default_rng(seed)
    out = []
    for i in range(1, k + 1):
        v = np.full(len(values), np.nan)
        v[ok] = rng.permutation(values[ok])
        out.append((f"{prefix}{i}", v))
    return out


def _plots(res, leads_by, genes, reader, fig_dir: Path, strata) -> list[str]:
    """Manhattan + QQ per result set, stacked Manhattan of the ``all`` sets, Miami per sex-stratified
    trait, regional plot of each trait's top lead."""
    from bma_genetics.plots import (
        plot_manhattan,
        plot_manhattan_stacked,
        plot_miami,
        plot_qq,
        plot_regional,
        save_figure,
    )

    fig_dir.mkdir(parents=True, exist_ok=True)
    written: list[str] = []

    def save(fig, name):
        written.extend(str(p) for p in save_figure(fig, fig_dir / name, dpi=200, close=True))

    for label, ss in res.sumstats.items():
        save(plot_manhattan(ss, title=label, leads=leads_by.get(label)), f"manhattan_{label}")
        save(plot_qq(ss, title=label), f"qq_{label}")
    main = {a.trait: res.sumstats[a.label] for a in res.analyses if a.stratum == "all" and a.label in res.sumstats}
    if len(main) > 1:
        save(plot_manhattan_stacked(main, leads={t: leads_by.get(t) for t in main}), "manhattan_stacked")
    for trait in {a.trait for a in res.analyses}:
        f, m = res.sumstats.get(f"{trait}.female"), res.sumstats.get(f"{trait}.male")
        if f is not None and m is not None:
            save(plot_miami(f, m, labels=("female", "male"),
                            leads=(leads_by.get(f"{trait}.female"), leads_by.get(f"{trait}.male")), title=trait),
                 f"miami_{trait}")
    if reader is not None:
        from bma_genetics.ld import ld_with, match_variants

        for trait, ss in main.items():
            leads = leads_by.get(trait)
            if leads is None or leads.empty:
                continue
            top = leads.sort_values("neg_log_10_p_value", ascending=False).iloc[0]
            near = ss[(ss["chromosome"].astype(str) == str(top["chromosome"]))
                      & ss["base_pair_location"].between(top["base_pair_location"] - 250_000,
                                                          top["base_pair_location"] + 250_000)].reset_index(drop=True)
            idx = match_variants(near, reader)
            lead_i = idx[(near["base_pair_location"] == top["base_pair_location"]).to_numpy()]
            r2 = np.full(len(near), np.nan)
            if len(lead_i) and lead_i[0] >= 0:
                ok = idx >= 0
                r2[ok] = ld_with(reader, int(lead_i[0]), idx[ok]) ** 2
            save(plot_regional(near, chromosome=str(top["chromosome"]), position=int(top["base_pair_location"]),
                               r2=r2, genes=genes, title=f"{trait}: {top['variant_id']} ({top['nearest_gene'] or ''})"),
                 f"regional_{trait}")
    return written

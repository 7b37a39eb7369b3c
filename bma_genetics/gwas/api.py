"""The GWAS stage's API: participant + BMFF tables -> QC -> association -> loci -> meta-analysis.

:func:`run_study_gwas` is what the pipeline stage and the ``bma-genetics gwas`` command call
(they then draw the figures with :func:`bma_genetics.gwas.figures.draw_gwas_figures`);
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
``figures/``                       Manhattan, Miami, stacked Manhattan, QQ, regional (PNG+PDF;
                                   drawn by the stage and the CLI, not by this module)
=================================  ============================================================
"""

from __future__ import annotations

import glob
import hashlib
import json
import logging
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bma_genetics._atomic import fingerprint, local_path, write_table, write_text
from bma_genetics._check import check_one_of, fail
from bma_genetics._result import StageResult
from bma_genetics.sites import MAIN_TRAITS, bilateral_traits

log = logging.getLogger(__name__)

#: Default traits: the four sites and their left/right measurements.
DEFAULT_TRAITS: tuple[str, ...] = (*MAIN_TRAITS, *bilateral_traits())
#: Default covariates (those present, not missing and not constant in the analysis table are used):
#: age, age², sex, age x sex, imaging centre (indicators, :func:`bma_genetics.io.design_covariates`),
#: genotyping array (UK BiLEVE vs UK Biobank Axiom) and 10 genetic PCs. No BMI: BMI is heritable
#: and shares causes with BMFF, so adjusting for it opens a collider path (docs/gwas.md); add
#: ``bmi`` to ``covariates`` for the sensitivity analysis.
DEFAULT_COVARIATES: tuple[str, ...] = ("age", "age2", "sex", "age_sex", "imaging_centre", "genotyping_array",
                                       *(f"pc{i}" for i in range(1, 11)))


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
    participants: str | os.PathLike | pd.DataFrame,
    *,
    bmff: str | os.PathLike | pd.DataFrame | None = None,
    idp: str | os.PathLike | pd.DataFrame | None = None,
    traits: Sequence[str] | None = None,
    covariates: Sequence[str] | None = None,
    adjust_bmi: bool = False,
    calvarial: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, list[str], list[str]]:
    """The analysis table: the participant table (already sample-QC'd) joined to BMFF traits.

    Reads documented tables only (through :mod:`bma_genetics.io`); it never rebuilds the
    participants stage's product.

    Parameters
    ----------
    participants : path or DataFrame
        The participants stage's ``participants.parquet`` (``eid, age, age2, sex, age_sex, bmi,
        height, imaging_centre, genotyping_array, pc1..pcK, ancestry``), read by
        :func:`bma_genetics.io.read_participant_table`.
    bmff : path or DataFrame, optional
        The phenotypes stage's ``bmff.parquet`` (imaging subset; rows with ``qc_pass`` false are
        dropped). Default ``None``: none.
    idp : path or DataFrame, optional
        The cohort's ``participants/bmff_idp.parquet`` (BMFF for people outside the image
        subset); ``bmff`` values take precedence. Default ``None``: none. At least one of
        ``bmff`` / ``idp`` is needed.
    traits, covariates : list of str, optional
        Defaults :data:`DEFAULT_TRAITS` / :data:`DEFAULT_COVARIATES` (those present and not
        constant). Covariates are participant-table columns; ``imaging_centre`` becomes centre
        indicators and a date column decimal years (:func:`bma_genetics.io.design_covariates`).

    Returns
    -------
    (DataFrame, covariates, traits)
        ``eid`` (str) + covariate columns + traits (+ ``ancestry`` when present), one row per
        participant of the participant table with a BMFF row; ``covariates`` are the regression
        columns (``centre_11026``, ... in place of ``imaging_centre``).
    adjust_bmi : bool, default=False
        Add ``bmi`` to the covariates (default or given): the BMI-adjusted sensitivity analysis.
        BMI is heritable and shares causes with BMFF, so conditioning on it can bias the
        variant effects (collider bias) and the MR built on them; report it beside the
        unadjusted analysis, never instead of it.
    calvarial : DataFrame, optional
        ``eid, calvarial_bma`` (:func:`bma_genetics.io.combine_calvarial` of the calvarial
        stage's table and the cohort's IDP): the trait ``calvarial_bma`` beside the BMFF sites
        (analysed by default or when listed in ``traits``; people with it but no BMFF row are
        kept).

    Raises
    ------
    InputError
        Missing table or column (the trait or covariate and what the table has).
    """
    from bma_genetics.io import design_covariates, read_bmff_table, read_participant_table

    part = read_participant_table(participants, required=())
    idp_table = read_bmff_table(idp) if idp is not None else None
    imaging = read_bmff_table(bmff) if bmff is not None else None
    table = combine_bmff(idp_table, imaging)
    if calvarial is not None:
        table = table.merge(calvarial[["eid", "calvarial_bma"]], on="eid", how="outer")
    traits = list(traits) if traits else [t for t in (*DEFAULT_TRAITS, "calvarial_bma") if t in table.columns]
    missing = [t for t in traits if t not in table.columns]
    if missing:
        raise fail("cohort_phenotypes/traits", f"trait(s) {missing} not in the BMFF table; it has "
                                               f"{[c for c in table.columns if c.startswith(('bmff_', 'calvarial_'))]}"
                                               + ("" if calvarial is not None or "calvarial_bma" not in missing else
                                                  " (calvarial_bma comes from the calvarial stage or the cohort's "
                                                  "participants/calvarial_idp.parquet)"))
    if not isinstance(adjust_bmi, bool):
        raise fail("cohort_phenotypes/adjust_bmi", f"expected true or false, found {adjust_bmi!r}")
    given = covariates is not None
    names = list(covariates) if given else list(DEFAULT_COVARIATES)
    required = names if given else []
    if adjust_bmi and "bmi" not in names:
        names, required = [*names, "bmi"], [*required, "bmi"]
    where = "cohort_phenotypes/covariates"
    design_covariates(part.head(0), required, where=where)  # names checked before the join
    keep = ["eid", *[c for c in dict.fromkeys([*names, "ancestry"]) if c in part.columns]]
    frame = part[keep].merge(table[["eid", *traits]], on="eid", how="inner")
    # indicators and constancy judged on the analysed rows (those with a BMFF row)
    frame, covariates = design_covariates(frame, names, optional=not given, where=where)
    if adjust_bmi and "bmi" not in covariates:
        raise fail("cohort_phenotypes/adjust_bmi", "bmi is entirely missing or constant in the analysed rows")
    log.info("phenotypes: %d participants with covariates, %d with any BMFF trait", len(part),
             int(frame[traits].notna().any(axis=1).sum()))
    return frame, list(covariates), traits


def _load_genes(genes: str | os.PathLike | pd.DataFrame | None):
    """The gene table: the user's (errors propagate) or the cached GENCODE one (optional)."""
    from bma_genetics.resources import load_genes

    if isinstance(genes, pd.DataFrame):
        return genes
    if genes is not None:
        return load_genes("GRCh37", path=genes)
    try:
        return load_genes("GRCh37")
    except Exception as exc:  # noqa: BLE001 - the default table is optional: loci then lack gene names
        log.warning("gene table unavailable (%s); loci are reported without genes", exc)
        return None


#: Variant QC thresholds and their defaults (``qc=`` of :func:`run_study_gwas`).
QC_DEFAULTS: dict[str, float] = {"min_info": 0.8, "min_call_rate": 0.95, "min_maf": 0.001, "min_mac": 20,
                                 "hwe_p": 1e-6}
#: Loci (FUMA) settings and their defaults (``loci=`` of :func:`run_study_gwas`).
LOCI_DEFAULTS: dict[str, float] = {"p1": 5e-8, "p2": 0.05, "r2_independent": 0.6, "r2_lead": 0.1, "merge_kb": 250}


@dataclass
class GwasStudyResult(StageResult):
    """What :func:`run_study_gwas` returns (a :class:`~bma_genetics._result.StageResult`).

    ``to_frame()`` is the GWAS-SSF summary statistics of the first trait in stratum ``all``
    (the first result set when that one was not analysed); ``to_frame(label)`` any other
    result set (``"<trait>"`` or ``"<trait>.<stratum>"``). ``summary()`` is the stage summary
    (JSON-able; what the pipeline stores in ``summary.json``): ``sumstats`` (label -> path),
    ``meta`` (trait -> path), ``lambda_gc``, ``n_loci``, ``lead_genes``, ``samples``,
    ``n_variants_tested``, ``qc`` (path), ``analysed_samples`` (path of the analysed eids, a
    plink2 ``--keep`` file read by :func:`bma_genetics.io.read_sample_list`), ``tables`` (relative to ``out``) and, with
    ``null_traits``, ``null_calibration``. ``files`` maps product names (``sumstats/<label>``,
    ``meta/<trait>``, ``qc``, ``gwas_summary``, ``samples``, ``analysed_samples``,
    ``loci/<label>.<kind>``) to paths.

    Attributes
    ----------
    gwas : GwasResult
        The association result (analyses, in-memory summary statistics, lambda GC, samples).
    loci, leads : dict of str to DataFrame
        FUMA-style loci and lead SNPs per result set (empty when no LD source was available).
    null_sumstats : dict of str to DataFrame
        Summary statistics of the permuted null traits (kept out of ``gwas.sumstats``).
    genes : DataFrame or None
        The gene table used to annotate loci.
    ld_reader : GenotypeReader or None
        The LD source used for clumping (``None`` when loci were skipped); figures reuse it.
        In-sample LD is restricted to the analysed samples (``analysed_samples.txt``).
    """

    gwas: Any = None
    loci: dict[str, pd.DataFrame] = field(default_factory=dict)
    leads: dict[str, pd.DataFrame] = field(default_factory=dict)
    null_sumstats: dict[str, pd.DataFrame] = field(default_factory=dict)
    genes: pd.DataFrame | None = None
    ld_reader: Any = None

    def to_frame(self, label: str | None = None) -> pd.DataFrame:
        """Summary statistics of one result set (default: the first trait, stratum ``all``).

        Parameters
        ----------
        label : str, optional
            ``"<trait>"`` or ``"<trait>.<stratum>"``; default ``None``: the first trait's.

        Returns
        -------
        DataFrame
            GWAS-SSF columns (:func:`~bma_genetics.gwas.run_gwas`'s output schema), a copy.
        """
        if label is None:
            return self.table.copy()
        sets = self.gwas.sumstats if self.gwas is not None else {}
        if label not in sets:
            raise fail("GwasStudyResult.to_frame/label", f"no result set {label!r}; there are {sorted(sets)}")
        return sets[label].copy()

    def summary(self) -> dict[str, Any]:
        """The stage summary (JSON-able), as the pipeline stores it; ``files`` are in :attr:`files`."""
        return json.loads(json.dumps(self.report, default=str))


def _check_names(where: str, values: Sequence[str] | None, table: pd.DataFrame, what: str) -> list[str]:
    if values is None:
        return []
    if isinstance(values, str) or not all(isinstance(v, str) for v in values):
        raise fail(where, f"expected a list of column names, found {values!r}")
    missing = [v for v in values if v not in table.columns]
    if missing:
        raise fail(where, f"{what} {missing} not in the phenotype table; it has {list(table.columns)[:30]}")
    return list(values)


def _variants_without_info(hl, mt, mfi: Sequence[Path], where: str) -> int:
    """How many QC'd variants have no MFI record (their INFO is unknown, so not filtered); none
    matching at all means MFI files of other genotypes (build, allele order): an error."""
    counts = mt.aggregate_rows(hl.struct(n=hl.agg.count(), missing=hl.agg.count_where(hl.is_missing(mt.info))))
    if counts.n and counts.missing == counts.n:
        raise fail(f"{where}/mfi", f"none of the {counts.n} variants after QC is in the MFI files "
                                   f"({', '.join(str(m) for m in list(mfi)[:3])}{', ...' if len(mfi) > 3 else ''}), "
                                   "matched on chromosome, position and allele1/allele2: are they the MFI files of "
                                   "these genotypes (same build, same allele order)?")
    if counts.missing:
        log.warning("%s: %d of %d variants after QC have no MFI record; their INFO is unknown and they are "
                    "kept (info empty in the summary statistics)", where, counts.missing, counts.n)
    return int(counts.missing)


#: Allowed ranges of the variant QC settings (``qc=`` of :func:`run_study_gwas`).
QC_RANGES: dict[str, tuple[float, float]] = {"min_info": (0, 1), "min_call_rate": (0, 1), "min_maf": (0, 0.5),
                                             "min_mac": (0, np.inf), "hwe_p": (0, 1)}


def _check_settings(where: str, given: dict[str, Any] | None, defaults: dict[str, float]) -> dict[str, float]:
    if given is None:
        return dict(defaults)
    if not isinstance(given, dict):
        raise fail(where, f"expected a mapping of settings, found {type(given).__name__}")
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise fail(where, f"unknown setting(s) {unknown}; known: {sorted(defaults)}")
    for k, v in given.items():
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not np.isfinite(v):
            raise fail(where, f"{k} must be a number, found {v!r}")
    return {**defaults, **given}


def _genotype_files(bgen: Any, sample: Any, bfile: Any, vcf: Any, mfi: Any) -> list[str]:
    """The files behind the genotype arguments of :func:`run_study_gwas` (patterns with
    ``{chrom}``, globs and folders expanded; a PLINK prefix -> its .bed/.bim/.fam)."""
    files: list[str] = []
    for value, exts in ((bgen, ("",)), (vcf, ("",)), (bfile, (".bed", ".bim", ".fam"))):
        if value is None:
            continue
        for item in value if isinstance(value, (list, tuple)) else [value]:
            pattern = str(item).replace("{chrom}", "*")
            if os.path.isdir(pattern):
                pattern = os.path.join(pattern, "*.bgen")
            for ext in exts:
                files += sorted(glob.glob(pattern + ext)) or [pattern + ext]
    files += [str(p) for p in [sample, *(mfi or [])] if p is not None]
    return files


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
    withdrawals: str | os.PathLike | set[str] | frozenset[str] | None = None,
    mfi: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
    strata: Sequence[str] | None = None,
    transform: str = "none",
    binary: Sequence[str] | None = None,
    block_size: int = 128,
    chunk_by: str = "chromosome",
    qc: dict[str, float] | None = None,
    sample_qc_table: str | os.PathLike | pd.DataFrame | None = None,
    ld: str | os.PathLike | None = "in-sample",
    allow_partial_ld: bool = False,
    genes: str | os.PathLike | pd.DataFrame | None = None,
    loci: dict[str, float] | None = None,
    meta: bool = True,
    resume: bool = True,
    index_dir: str | os.PathLike | None = None,
    hail_dir: str | os.PathLike | None = None,
    n_partitions: int | None = None,
    metadata: dict[str, Any] | None = None,
    null_traits: int = 0,
    null_seed: int = 1,
    relatedness: str = "drop",
    step1: dict[str, int] | None = None,
    array: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
    pred: str | os.PathLike | None = None,
    kinship: str | os.PathLike | pd.DataFrame | None = None,
    seed: int = 1,
    start_hail: Callable[[], Any] | None = None,
    firth: str = "fallback",
    firth_p: float | None = None,
    interaction: str | None = None,
    condition: str | os.PathLike | Sequence[str] | None = None,
    linear_engine: str = "groups",
) -> GwasStudyResult:
    """Run the whole GWAS: read, QC (checkpointed), associate, loci + genes, meta-analyse.

    Every argument is checked first, before Hail starts: a bad trait, covariate, stratum,
    ``transform``, ``chunk_by``, ``block_size``, ``qc``/``loci`` key or LD source fails in a
    second, not after the genotype QC. Figures are not drawn here: the stage and the CLI draw
    them from the result (:func:`bma_genetics.gwas.figures.draw_gwas_figures`).

    ``null_traits=K`` adds K permutations of the first trait (seeded by ``null_seed``; values
    shuffled among the participants who have that trait, so the distribution and missingness are
    the real trait's and any genetic signal is gone). They run in the same pass as the real traits,
    in stratum ``all`` only; their GWAS-SSF files are written (``null_perm_<k>.tsv.gz``) but they
    are kept out of ``sumstats``, loci and per-trait plots, and reported as ``null_calibration``
    (:func:`~bma_genetics.gwas.association.null_calibration`).

    Parameters
    ----------
    phenotypes : DataFrame
        ``eid`` (str) + covariates + traits (+ strata columns), e.g. from :func:`cohort_phenotypes`.
    out : path
        Output folder (layout in the module docstring).
    traits, covariates : list of str
        Columns of ``phenotypes``.
    bgen, sample, bfile, vcf : path, optional
        The genotypes (exactly one of ``bgen`` / ``bfile`` / ``vcf``; see :func:`read_genotypes`).
    chromosomes : list of str, optional
        Contigs to analyse (default: all present).
    withdrawals : path or set of str, optional
        Withdrawn eids (a file is read by :func:`bma_genetics.io.read_withdrawals`).
    mfi : path, pattern or list of them, optional
        UK Biobank MFI files (``ukb_mfi_chr{N}_v3.txt``; globs and ``{chrom}`` patterns are
        expanded, :func:`~bma_genetics.gwas.qc.mfi_files`): variants with INFO below
        ``qc['min_info']`` are removed and ``info`` is written into the summary statistics.
        Without them no INFO filter is applied (a warning for BGEN input).
    strata : list of str, optional
        Columns whose values define separate result sets (``sex``), meta-analysed back with ``meta``.
    transform : {"none", "rint"}, default="none"
    binary : list of str, optional
        Traits analysed with logistic regression (default: 0/1 traits).
    block_size : int, default=128
        Variants per regression block.
    chunk_by : {"chromosome", "all"}, default="chromosome"
    qc : dict, optional
        Variant QC thresholds, keys of :data:`QC_DEFAULTS` (defaults there).
    sample_qc_table : path or DataFrame, optional
        The participants stage's ``sample_qc.tsv`` (its rows head the QC table).
    ld : {"in-sample", "reference"} or path, default="in-sample"
        LD source for clumping (:func:`bma_genetics.ld.open_ld_source`); ``None`` skips loci.
        In-sample LD is taken over the analysed samples only (``analysed_samples.txt``).
    allow_partial_ld : bool, default=False
        A panel lacking a chromosome that has a variant with P < ``loci["p1"]`` (the bundled
        reference is chr17-22) is an error naming it (before Hail starts when ``chromosomes``
        are given, else after the association, which ``resume`` then reuses); ``True`` finds
        no loci there and records them (``ld_missing_chromosomes`` in the summary).
    genes : path or DataFrame, optional
        Gene table (default: the cached GENCODE v19 table; loci without gene names if absent).
    loci : dict, optional
        Loci settings, keys of :data:`LOCI_DEFAULTS` (defaults there).
    meta : bool, default=True
        IVW meta-analysis across strata.
    resume : bool, default=True
        Reuse the QC checkpoint and finished chromosomes written with identical settings.
    index_dir : path or URI, optional
        Where BGEN indexes go when the BGEN folder is read-only (on a multi-node cluster a URI
        every executor reads).
    hail_dir : path or URI, optional
        Where Hail writes and its executors read the stage's Hail files (the QC'd genotype
        checkpoint ``genotypes_qc.mt``, the per-pass result tables); default ``<out>/hail``. On a
        multi-node cluster whose nodes do not share ``out``: a URI every node reads
        (``hdfs://``, ``gs://``, ``dnax://``; ``hail.work_dir`` of a study).
    n_partitions : int, optional
        Spark partitions when reading genotypes.
    metadata : dict, optional
        Extra GWAS-SSF metadata for every file (e.g. the BMFF provenance).
    null_traits : int, default=0
    null_seed : int, default=1
    relatedness : {"drop", "keep_loco"}, default="drop"
        ``"drop"``: the phenotype table is taken as it is (the participants stage has already
        removed one of each related pair). ``"keep_loco"``: relatives are kept and modelled as
        REGENIE does: step 1 (:func:`~bma_genetics.gwas.regenie.run_step1` on ``array``, or the
        predictions of ``pred``) then step 2, each chromosome against the trait minus its LOCO
        prediction; binary traits as REGENIE ``--bt``: step 1's level 1 is a logistic ridge and
        step 2 a logistic regression with the LOCO prediction as offset (Wald, Firth with the
        offset as ``firth``/``firth_p`` say).
    step1 : dict, optional
        Step-1 settings, keys of :data:`STEP1_DEFAULTS` (``block_size`` 1000, ``n_ridge_l0`` 5,
        ``n_ridge_l1`` 5, ``n_folds`` 5).
    array : path, pattern or list, optional
        Array genotypes (PLINK, e.g. ``ukb22418_c{chrom}_b0_v2``) for step 1.
    pred : path, optional
        An existing ``_pred.list`` (ours or REGENIE's own) used instead of running step 1.
    kinship : path or DataFrame, optional
        With ``keep_loco``: the related pairs (``ukb_rel.dat``, :func:`bma_genetics.io.read_kinship`);
        each trait's step-2 statistic on a chromosome is divided by its relatedness factor
        (:meth:`~bma_genetics.gwas.regenie.LocoAdjuster.relatedness_factor`), which removes the
        conservativeness of the LOCO statistic with relatives (docs/gwas.md). Default ``None``:
        REGENIE's own statistic.
    seed : int, default=1
        Seed of step 1's cross-validation folds.
    start_hail : callable, optional
        Starts Hail and returns the ``hail`` module, called once the arguments are checked (the
        pipeline passes its run context's ``ctx.hail``). Default ``None``:
        :func:`bma_genetics._hail.init_hail` (an already started Hail is reused).
    firth : {"fallback", "always"}, default="fallback"
        Binary traits: logistic regression with Firth where it fails to converge (plink2 ``--glm
        firth-fallback``) or Firth on every variant (``--glm firth``).
    firth_p : float, optional
        Also refit with Firth where the logistic Wald P is below this (REGENIE's ``--pThresh``).
    interaction : str, optional
        A covariate (``sex``) whose product with the dosage is tested per trait (plink2 ``--glm
        interaction``): ``<trait>.x_<covariate>.tsv.gz``, with the strata's difference z when
        ``strata`` holds that column.
    condition : list of str or path, optional
        Variants (ids, or a file with one id per line as plink2 ``--condition-list``) whose
        dosages are covariates of every analysis.
    linear_engine : {"groups", "projection"}, default="groups"
        How the quantitative analyses of a pass are fitted (:func:`run_gwas`): one Hail
        ``linear_regression_rows`` per missingness group, or the complete-case projection
        (:mod:`bma_genetics.gwas.projection`: every analysis of a pass from one matrix product per
        block; the same results to ~1e-6 relative; passes it cannot fit fall back to the groups).

    Returns
    -------
    GwasStudyResult
        ``.to_frame()`` the first trait's summary statistics, ``.summary()`` the stage summary,
        ``.files`` the products written.
    """
    from bma_genetics._hail import java_errors_name
    from bma_genetics.gwas.association import check_trait_values, run_gwas
    from bma_genetics.gwas.inputs import attach_sex, check_genotype_files, read_genotypes
    from bma_genetics.gwas.loci import find_loci, meta_analyse
    from bma_genetics.gwas.qc import (
        QC_COLUMNS,
        mfi_files,
        participants_qc_rows,
        read_mfi,
        variant_qc,
    )
    from bma_genetics.io import read_withdrawals, write_gwas_ssf, write_sample_list
    from bma_genetics.ld import check_ld_coverage, open_ld_source

    # ---- every argument is checked here, before Hail starts ----
    where = "run_study_gwas"
    if not isinstance(phenotypes, pd.DataFrame) or "eid" not in phenotypes.columns:
        raise fail(f"{where}/phenotypes", "expected a DataFrame with an 'eid' column")
    traits = _check_names(f"{where}/traits", traits, phenotypes, "trait(s)")
    if not traits:
        raise fail(f"{where}/traits", "no traits given")
    covariates = _check_names(f"{where}/covariates", covariates, phenotypes, "covariate(s)")
    strata = _check_names(f"{where}/strata", strata, phenotypes, "stratum column(s)") or None
    if binary is not None:
        bad = [b for b in _check_names(f"{where}/binary", binary, phenotypes, "binary trait(s)") if b not in traits]
        if bad:
            raise fail(f"{where}/binary", f"{bad} are not among the traits {traits}")
    check_trait_values(where, phenotypes, traits, covariates)
    check_one_of(f"{where}/transform", transform, ["none", "rint"])
    check_one_of(f"{where}/firth", firth, ["fallback", "always"])
    check_one_of(f"{where}/linear_engine", linear_engine, ["groups", "projection"])
    if firth_p is not None and (isinstance(firth_p, bool) or not isinstance(firth_p, (int, float))
                                or not 0 < firth_p <= 1):
        raise fail(f"{where}/firth_p", f"expected a P threshold in (0, 1], found {firth_p!r}")
    if interaction is not None and interaction not in covariates:
        raise fail(f"{where}/interaction", f"'{interaction}' is not among the covariates {covariates}; the "
                                           "interaction term is a covariate times the dosage")
    condition = read_condition_list(condition, where=f"{where}/condition")
    check_one_of(f"{where}/chunk_by", chunk_by, ["chromosome", "all"])
    if isinstance(block_size, bool) or not isinstance(block_size, (int, np.integer)) or block_size < 1:
        raise fail(f"{where}/block_size", f"expected a positive integer, found {block_size!r}")
    qc_params = _check_settings(f"{where}/qc", qc, QC_DEFAULTS)
    for k, (lo, hi) in QC_RANGES.items():
        if not lo <= qc_params[k] <= hi:
            raise fail(f"{where}/qc", f"{k} must be in [{lo:g}, {hi:g}], found {qc_params[k]!r}")
    loci_params = _check_settings(f"{where}/loci", loci, LOCI_DEFAULTS)
    given = [k for k, v in (("bgen", bgen), ("bfile", bfile), ("vcf", vcf)) if v is not None]
    if len(given) != 1:
        raise fail(f"{where}/genotypes", f"give exactly one of bgen=, bfile=, vcf= (given: {given or 'none'})")
    mfi = mfi_files(mfi, where=f"{where}/mfi") if mfi is not None else None
    if mfi is None and bgen is not None and qc_params["min_info"] > 0:
        log.warning("%s: imputed genotypes without MFI files: no INFO filter (min_info %g) is applied and the "
                    "summary statistics carry no info column; give mfi= (--mfi, or gwas: {mfi: ...})", where,
                    qc_params["min_info"])
    nulls = add_null_traits(phenotypes, traits[0], null_traits, seed=null_seed) if null_traits else []
    check_one_of(f"{where}/relatedness", relatedness, ["drop", "keep_loco"])
    step1_params = _check_settings(f"{where}/step1", step1, STEP1_DEFAULTS)
    loco_plan = _plan_loco(where, relatedness, phenotypes, traits, covariates, binary, array, pred, step1_params)
    if loco_plan is not None and firth == "always" and (loco_plan.get("binary") or (
            "predictions" in loco_plan and _binary_traits(phenotypes, traits, binary))):
        raise fail(f"{where}/firth", "firth='always' (Hail's Firth test) takes no LOCO offset; with binary traits "
                                     "and relatedness='keep_loco' use firth='fallback' (firth_p=1 refits every "
                                     "variant with Firth and the offset)")
    if kinship is not None and relatedness != "keep_loco":
        raise fail(f"{where}/kinship", "the kinship pairs calibrate the LOCO statistic: relatedness='keep_loco' only")
    if isinstance(kinship, (str, os.PathLike)):
        from bma_genetics.io import read_kinship

        kinship = read_kinship(kinship)
    if isinstance(withdrawals, (str, os.PathLike)):
        withdrawals = read_withdrawals(withdrawals)
    # The LD source is checked before Spark starts (a typo in ``ld`` fails here, not after QC);
    # in-sample LD reads the genotypes, so it is opened once they are checked below.
    # In-sample LD from a VCF alone is not available: loci are then skipped, with a warning.
    ld_reader = None
    if ld is not None and ld != "in-sample":
        ld_reader = open_ld_source(ld, genotypes=bgen or bfile, sample=sample, where=f"{where}/ld")
        if chromosomes:  # a panel lacking some of them is named now, not after the association
            check_ld_coverage(ld_reader, chromosomes, allow_partial=allow_partial_ld, where=f"{where}/ld",
                              what="variants to analyse")
    # Genotype files complete, and their samples overlapping the phenotypes, before Spark starts.
    geno_samples, geno_files = check_genotype_files(bgen=bgen, sample=sample, bfile=bfile, vcf=vcf,
                                                    chromosomes=chromosomes)
    geno_read_files = [bgen or bfile or vcf]
    analysed = set(phenotypes["eid"].astype(str)) - set(withdrawals or ())
    if not analysed & geno_samples:
        shown = ", ".join(str(f) for f in geno_files[:2]) + (" ..." if len(geno_files) > 2 else "")
        raise fail(f"{where}/phenotypes", f"none of the {len(analysed)} participants with phenotypes is among the "
                   f"{len(geno_samples)} genotyped samples of {shown}: no participant to analyse; the phenotype "
                   "ids must be the genotype files' sample ids (eids)")
    if ld == "in-sample" and (bgen or bfile):
        ld_reader = open_ld_source(ld, genotypes=bgen or bfile, sample=sample, where=f"{where}/ld")
    gene_table = _load_genes(genes)
    # tables are written by this process: a local path or file:// (a gs:// value would otherwise
    # become a local folder named 'gs:')
    out = local_path(out, where=f"{where}/out")
    if hail_dir is not None:
        from bma_genetics._hail import hail_tmp_location

        hail_dir = hail_tmp_location(hail_dir, where=f"{where}/hail_dir")

    if start_hail is None:
        from bma_genetics._hail import init_hail as start_hail
    hl = start_hail()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if nulls:
        phenotypes = phenotypes.assign(**{k: v for k, v in nulls})
        nulls = [k for k, _ in nulls]
    ids = set(phenotypes["eid"].astype(str)) - set(withdrawals or ())
    # The checkpoint holds these samples' QC'd genotypes: its key covers the QC settings, the
    # genotype files' contents (fingerprints: SHA-256 up to 256 MiB, else size + mtime) and the
    # sample set, so a grown participant table or a new withdrawal makes a new one.
    # "chrx": the QC of chrX outside PAR (females-only HWE, males' alleles once) changed what a
    # checkpoint holds; older checkpoints are redone
    qc_key = json.dumps({"qc": qc_params, "chrx": 1, "bgen": str(bgen), "bfile": str(bfile), "vcf": str(vcf),
                         "chromosomes": list(chromosomes or []), "mfi": [str(m) for m in mfi or []],
                         "files": fingerprint(_genotype_files(bgen, sample, bfile, vcf, mfi)),
                         "samples": hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()}, sort_keys=True)
    from bma_genetics._hail import location_exists, location_join

    # what the executors read and write (hail_dir: a URI on a cluster whose nodes share no disk);
    # the stamp and the variant QC table are the driver's, in the run directory
    hail_dir = hail_dir if hail_dir is not None else out / "hail"
    mt_path = location_join(hail_dir, "genotypes_qc.mt")
    stamp = out / "hail" / "genotypes_qc.done"
    if resume and stamp.exists() and stamp.read_text().split("\n", 1)[0] == qc_key and location_exists(mt_path):
        log.info("QC'd genotypes exist with the same settings; resumed from %s", mt_path)
        mt = hl.read_matrix_table(str(mt_path))
        vqc = pd.read_csv(out / "hail" / "variant_qc.tsv", sep="\t")
    else:
        stamp.unlink(missing_ok=True)
        # association chunks were made from the old checkpoint: never reuse them with a new one
        shutil.rmtree(out / "chunks", ignore_errors=True)
        # the genotype pass: a Java error here is about the genotype files, and says so in one line
        with java_errors_name(geno_read_files, f"{where}/genotypes"):
            mt = read_genotypes(bgen=bgen, sample=sample, bfile=bfile, vcf=vcf, chromosomes=chromosomes,
                                index_dir=index_dir, n_partitions=n_partitions)
            mt = mt.filter_cols(hl.literal(ids).contains(mt.s))
            # who is hemizygous on chrX: the genotype files' sex, else the table's 'sex' column
            mt, _ = attach_sex(mt, phenotypes)
            mfi_ht = read_mfi(mfi) if mfi else None
            mt, vqc = variant_qc(mt, mfi=mfi_ht, **qc_params)
            # native-format checkpoint: the association then reads Hail's own format, not BGEN
            mt = mt.select_entries("dosage").checkpoint(str(mt_path), overwrite=True)
        write_table(vqc, out / "hail" / "variant_qc.tsv")
        write_text(stamp, qc_key)
    n_without_info = _variants_without_info(hl, mt, mfi, where) if mfi else None
    loco, step1_summary = _run_loco_step1(loco_plan, phenotypes, covariates=covariates, transform=transform,
                                          withdrawals=withdrawals, seed=seed, out=out, resume=resume)
    res = run_gwas(mt, phenotypes, traits=[*traits, *nulls], covariates=covariates, strata=strata, binary=binary,
                   transform=transform, block_size=int(block_size), chromosomes=chromosomes, out=out, resume=resume,
                   withdrawals=set(withdrawals or ()), chunk_by=chunk_by, metadata=metadata, unstratified=nulls,
                   loco=loco, kinship=kinship if loco else None, firth=firth, firth_p=firth_p,
                   interaction=interaction, condition=condition, hail_dir=hail_dir, linear_engine=linear_engine)
    gwas_summary = res.to_frame()
    null_sets = {k: res.sumstats.pop(k) for k in nulls if k in res.sumstats}
    null_files = {k: res.files.pop(k) for k in nulls if k in res.files}
    for k in nulls:
        res.lambda_gc.pop(k, None)
    res.analyses = [a for a in res.analyses if a.trait not in nulls]
    qc_table = pd.concat([participants_qc_rows(sample_qc_table), vqc], ignore_index=True)[QC_COLUMNS]
    write_table(qc_table, out / "qc.tsv")
    write_text(out / "samples.json", json.dumps(res.samples, indent=2))
    # the analysed sample (plink2 --keep layout): in-sample LD downstream is computed over it only
    write_sample_list(res.analysed_samples, out / "analysed_samples.txt")
    files: dict[str, Path] = {f"sumstats/{k}": Path(v) for k, v in res.files.items()}
    files.update({"qc": out / "qc.tsv", "samples": out / "samples.json", "gwas_summary": out / "gwas_summary.tsv",
                  "analysed_samples": out / "analysed_samples.txt"})
    if ld_reader is not None and ld == "in-sample" and res.analysed_samples:
        # LD for the loci from the analysed samples only, not every sample in the genotype files
        ld_reader = open_ld_source(ld_reader, samples=res.analysed_samples, where=f"{where}/ld")
        log.info("in-sample LD over the %d analysed samples (of %d in the genotypes)",
                 ld_reader.n_samples, getattr(getattr(ld_reader, "reader", ld_reader), "n_samples", 0))

    summary: dict[str, Any] = {
        "sumstats": {k: str(v) for k, v in res.files.items()},
        "lambda_gc": {k: round(v, 4) for k, v in res.lambda_gc.items()},
        "samples": res.samples,
        "n_variants_tested": int(vqc["remaining"].iloc[-1]) if len(vqc) else None,
        "qc": str(out / "qc.tsv"),
        "analysed_samples": str(out / "analysed_samples.txt"),
        "tables": ["gwas_summary.tsv", "qc.tsv", "samples.json", *[Path(p).name for p in res.files.values()]],
    }
    summary["relatedness"] = relatedness
    if step1_summary:
        summary["step1"] = step1_summary
    if n_without_info is not None:
        summary["n_variants_without_info"] = n_without_info
    if res.interaction_files:
        summary["interaction"] = {k: str(v) for k, v in res.interaction_files.items()}
        summary["tables"] += [Path(p).name for p in res.interaction_files.values()]
        files.update({f"interaction/{k}": Path(v) for k, v in res.interaction_files.items()})
    if condition:
        summary["condition"] = list(condition)
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
                files[f"meta/{trait}"] = metas[trait]
    summary["meta"] = {k: str(v) for k, v in metas.items()}

    # loci with genes (in-sample LD by default)
    n_loci: dict[str, int] = {}
    lead_genes: dict[str, list[str]] = {}
    leads_by: dict[str, pd.DataFrame] = {}
    loci_by: dict[str, pd.DataFrame] = {}
    if ld_reader is None:
        log.warning("no LD source for clumping (in-sample LD needs BGEN or PLINK genotypes); loci skipped")
    else:
        if ld != "in-sample":
            hits = [ss.loc[ss["p_value"] < loci_params["p1"], "chromosome"] for ss in res.sumstats.values()]
            summary["ld_missing_chromosomes"] = check_ld_coverage(
                ld_reader, pd.concat(hits).unique() if hits else [], allow_partial=allow_partial_ld,
                where=f"{where}/ld", what=f"variants with P < {loci_params['p1']:g} (the association results "
                                          "are kept: rerun with resume)")
        (out / "loci").mkdir(exist_ok=True)
        for label, ss in res.sumstats.items():
            ind, leads, loc = find_loci(ss, ld_reader, genes=gene_table, **loci_params)
            for name, t in (("independent", ind), ("leads", leads), ("loci", loc)):
                write_table(t, out / "loci" / f"{label}.{name}.tsv")
                summary["tables"].append(f"loci/{label}.{name}.tsv")
                files[f"loci/{label}.{name}"] = out / "loci" / f"{label}.{name}.tsv"
            n_loci[label] = len(loc)
            lead_genes[label] = [g for g in loc["nearest_gene"].dropna().astype(str)]
            leads_by[label] = leads
            loci_by[label] = loc
    summary["n_loci"] = n_loci
    summary["lead_genes"] = lead_genes
    write_table(gwas_summary, out / "gwas_summary.tsv")
    main = [a.label for a in res.analyses if a.stratum == "all" and a.label in res.sumstats]
    first = main[0] if main else next(iter(res.sumstats), None)
    table = res.sumstats[first] if first is not None else pd.DataFrame()
    return GwasStudyResult(table=table, files=files, report=summary, gwas=res, loci=loci_by, leads=leads_by,
                           null_sumstats=null_sets, genes=gene_table, ld_reader=ld_reader)


#: Step-1 settings and their defaults (``step1=`` of :func:`run_study_gwas`; REGENIE's
#: ``--bsize``, ``--l0``, ``--l1``, ``--cv``).
STEP1_DEFAULTS: dict[str, int] = {"block_size": 1000, "n_ridge_l0": 5, "n_ridge_l1": 5, "n_folds": 5}


def _plan_loco(where: str, relatedness: str, phenotypes: pd.DataFrame, traits: Sequence[str],
               covariates: Sequence[str], binary: Sequence[str] | None, array: Any, pred: Any,
               settings: dict[str, Any]) -> dict[str, Any] | None:
    """Check the step-1 inputs before Hail starts; what :func:`_run_loco_step1` will do."""
    if relatedness != "keep_loco":
        if pred is not None:
            raise fail(f"{where}/pred", "LOCO predictions are used with relatedness='keep_loco' only")
        return None
    from bma_genetics.gwas.regenie import array_files
    from bma_genetics.io import read_loco_predictions

    for k, v in settings.items():
        if isinstance(v, bool) or not float(v).is_integer() or v < (2 if k in ("block_size", "n_folds") else 1):
            raise fail(f"{where}/step1", f"{k} must be an integer >= {2 if k in ('block_size', 'n_folds') else 1}, "
                                         f"found {v!r}")
    binary_set = _binary_traits(phenotypes, traits, binary)
    traits = list(dict.fromkeys(traits))
    if pred is not None:
        predictions = read_loco_predictions(pred)
        lacking = [t for t in traits if t not in predictions]
        if lacking:
            raise fail(f"{where}/pred", f"{pred} has no predictions for trait(s) {lacking}; it lists "
                                        f"{sorted(predictions)}")
        _check_prediction_scale(where, pred, traits, binary_set)
        return {"predictions": {t: predictions[t] for t in traits}, "pred": str(pred)}
    if array is None:
        raise fail(f"{where}/array", "relatedness='keep_loco' needs the array genotypes for step 1 (array=, a "
                                     "PLINK prefix or {chrom} pattern) or an existing _pred.list (pred=)")
    # binary traits: step 1's logistic level 1, their predictions step 2's offsets (REGENIE --bt)
    return {"traits": traits, "binary": sorted(binary_set & set(traits)),
            "array": array_files(array, where=f"{where}/array"), "settings": settings}


def _check_prediction_scale(where: str, pred: Any, traits: Sequence[str], binary_set: set[str]) -> None:
    """A binary trait's prediction is a log-odds offset, a quantitative trait's is subtracted on
    the trait's scale: a list fitted the other way is refused when its step-1 record says so."""
    from bma_genetics.io import loco_prediction_models

    models = loco_prediction_models(pred)
    if models is None:
        if binary_set & set(traits):
            log.warning("%s: nothing beside %s records whether step 1 fitted %s as binary (REGENIE --bt, "
                        "log-odds predictions): assumed so; a list fitted as quantitative would be used on the "
                        "wrong scale", where, pred, sorted(binary_set & set(traits)))
        return
    wrong = [f"{t} ({'binary' if t in binary_set else 'quantitative'} here, step 1 {models[t]})"
             for t in traits if t in models and (models[t] == "logistic") != (t in binary_set)]
    if wrong:
        raise fail(f"{where}/pred", f"{pred}: step 1 fitted trait(s) on another scale than step 2 needs: "
                                    f"{', '.join(wrong)}; rerun step 1 with the binary traits as binary "
                                    "(REGENIE --bt) and the quantitative ones without")


def _binary_traits(phenotypes: pd.DataFrame, traits: Sequence[str], binary: Sequence[str] | None) -> set[str]:
    """The binary traits: those given, else the traits whose values are 0/1 (``run_gwas``'s rule)."""
    if binary is not None:
        return set(binary) & set(traits)
    from bma_genetics.gwas.association import is_binary_trait

    return {t for t in traits if is_binary_trait(phenotypes[t])}


def _run_loco_step1(plan: dict[str, Any] | None, phenotypes: pd.DataFrame, *, covariates: Sequence[str],
                    transform: str, withdrawals: Any, seed: int, out: Path,
                    resume: bool) -> tuple[dict[str, pd.DataFrame] | None, dict[str, Any]]:
    """Step 1 (or the given predictions); resumed from ``out/step1`` when its key is unchanged."""
    if plan is None:
        return None, {}
    if "predictions" in plan:
        return plan["predictions"], {"pred_list": plan["pred"], "source": "given"}
    if not plan["traits"]:
        return None, {}
    import time

    from bma_genetics.gwas.regenie import run_step1
    from bma_genetics.io import read_loco_predictions

    folder = out / "step1"
    cols = ["eid", *plan["traits"], *covariates]
    key = json.dumps({"settings": plan["settings"], "seed": int(seed), "transform": transform,
                      "traits": plan["traits"], "covariates": list(covariates),
                      **({"binary": plan["binary"]} if plan["binary"] else {}),
                      "withdrawals": sorted(withdrawals or ()),
                      "files": fingerprint([f"{p}.{e}" for p in plan["array"] for e in ("bed", "bim", "fam")]),
                      "data": hashlib.sha256(pd.util.hash_pandas_object(phenotypes[cols], index=False).to_numpy()
                                             .tobytes()).hexdigest()}, sort_keys=True)
    stamp = folder / "step1.done"
    pred_list = folder / "step1_pred.list"
    if resume and stamp.exists() and stamp.read_text() == key and pred_list.exists():
        log.info("step 1: LOCO predictions exist with the same inputs; resumed from %s", pred_list)
        summary = json.loads((folder / "step1_summary.json").read_text())
        return read_loco_predictions(pred_list), summary
    stamp.unlink(missing_ok=True)
    start = time.perf_counter()
    res = run_step1(phenotypes, bfile=plan["array"], traits=plan["traits"], covariates=covariates,
                    binary=plan["binary"], transform=transform, seed=int(seed),
                    withdrawals=set(withdrawals or ()), out=folder,
                    **plan["settings"])
    summary = {**res.summary(), "pred_list": str(pred_list), "seconds": round(time.perf_counter() - start, 1)}
    write_text(folder / "step1_summary.json", json.dumps(summary, indent=1, default=str))
    write_text(stamp, key)
    return res.predictions, summary


def read_condition_list(condition: str | os.PathLike | Sequence[str] | None, *,
                        where: str = "run_study_gwas/condition") -> list[str]:
    """The variants to condition on: a list of ids, or a file of them (one per line, plink2
    ``--condition-list``; blank lines and ``#`` comments skipped).

    Parameters
    ----------
    condition : list of str, path or None
    where : str
        ``"function/param"`` prefix of errors.

    Returns
    -------
    list of str
        The ids (empty for ``None``).
    """
    if condition is None:
        return []
    if isinstance(condition, (str, os.PathLike)):
        path = Path(condition)
        if not path.is_file():
            raise fail(where, f"no such file {path} (a condition list: one variant id per line)")
        ids = [ln.split()[0] for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
        if not ids:
            raise fail(where, f"{path} lists no variant")
        return ids
    ids = [str(v) for v in condition]
    if not all(isinstance(v, str) and v for v in condition):
        raise fail(where, f"expected variant ids (strings), found {list(condition)[:5]!r}")
    return ids


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

"""Two-sample Mendelian randomisation: the stage's public API.

``run_mr`` estimates causal effects from a harmonised table; ``run_mr_analysis`` goes from
summary-statistics files to every table and plot (what ``bma-genetics mr`` runs). Both return an
:class:`MRResult` that keeps every method's full fit (:class:`~bma_genetics.mr.methods.MREstimate`),
so diagnostics and plots reuse it instead of refitting.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from bma_genetics._atomic import write_table, write_text
from bma_genetics._check import check_one_of, check_probability, fail
from bma_genetics._result import StageResult
from bma_genetics.errors import InputError
from bma_genetics.io.builds import (
    BUILD_COLUMN,
    Chain,
    build_of,
    check_against_reference,
    check_same_build,
    infer_build,
    liftover,
    normalise_build,
    read_chain,
    with_build,
)
from bma_genetics.io.results import write_mr_results
from bma_genetics.io.samples import read_sample_list
from bma_genetics.io.sumstats import read_sumstats
from bma_genetics.mr.diagnostics import (
    mr_heterogeneity,
    mr_leave_one_out,
    mr_pleiotropy_test,
    mr_presso_table,
    mr_radial_table,
    mr_single_snp,
    mr_steiger,
    steiger_filtering,
)
from bma_genetics.mr.harmonise import (
    canonical_harmonised_names,
    check_join_builds,
    harmonise,
    read_harmonised,
)
from bma_genetics.mr.instruments import (
    WEAK_F,
    find_proxies,
    instrument_strength_summary,
    select_instruments,
)
from bma_genetics.mr.methods import (
    METHODS,
    RESULT_COLUMNS,
    MREstimate,
    MRParameters,
    method_list,
    resolve_methods,
)
from bma_genetics.stats import chromosome_rank

log = logging.getLogger(__name__)

#: The estimate fields of an MR row (what ``MRResult.summary()["ivw"]`` holds).
_ESTIMATE = ("beta", "standard_error", "ci_lower", "ci_upper", "p_value")


@dataclass
class MRResult(StageResult):
    """Result of :func:`run_mr` / :func:`run_mr_analysis`.

    Attributes
    ----------
    table : DataFrame
        The MR results (:data:`~bma_genetics.mr.methods.RESULT_COLUMNS`: ``exposure, outcome,
        method, nsnp, beta, standard_error, ci_lower, ci_upper, p_value``, plus ``q, q_df,
        q_p_value`` and ``egger_intercept, egger_intercept_standard_error,
        egger_intercept_p_value`` from the same fit, NaN where a method has none).
    fits : dict
        ``(exposure, outcome, method) -> MREstimate``: every method's full fit (MR-PRESSO's
        tests included).
    harmonised : DataFrame or None
        The harmonised table the fits used (every SNP, with ``mr_keep``).
    tables : dict of str to DataFrame
        The diagnostics of :func:`run_mr_analysis`: ``heterogeneity``, ``pleiotropy``,
        ``steiger``, ``leave_one_out``, ``single_snp``, ``mr_presso``, ``instruments`` (and
        ``reverse_mr``); empty for :func:`run_mr`.
    files, report
        As :class:`~bma_genetics._result.StageResult` (``report``: ``n_instruments``,
        ``n_used``, ``ivw``).
    """

    fits: dict[tuple[str, str, str], MREstimate] = field(default_factory=dict)
    harmonised: pd.DataFrame | None = None
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)

    def fit(self, method: str, exposure: str | None = None, outcome: str | None = None) -> MREstimate:
        """The full fit of ``method`` (for the only pair, or the given exposure and outcome)."""
        keys = [k for k in self.fits if k[2] == method and (exposure is None or k[0] == exposure)
                and (outcome is None or k[1] == outcome)]
        if len(keys) != 1:
            raise fail("MRResult.fit/method", f"{len(keys)} fits match method={method!r}, exposure={exposure!r}, "
                                              f"outcome={outcome!r}; fitted: {sorted(self.fits)[:10]}")
        return self.fits[keys[0]]


def run_mr(
    harmonised: pd.DataFrame,
    *,
    methods: str | Sequence[str] | None = None,
    params: MRParameters | None = None,
) -> MRResult:
    """Causal estimates for every exposure-outcome pair of a harmonised table.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(1)
    >>> bx = rng.uniform(0.05, 0.2, 30)
    >>> h = pd.DataFrame({"snp": [f"rs{i}" for i in range(30)], "exposure": "x", "outcome": "y",
    ...     "beta_exposure": bx, "standard_error_exposure": 0.01, "beta_outcome": 0.5 * bx + rng.normal(0, 0.01, 30),
    ...     "standard_error_outcome": 0.01, "mr_keep": True})
    >>> res = run_mr(h, methods=["ivw", "egger"])
    >>> res.to_frame()[["method", "nsnp"]].values.tolist()
    [['ivw', 30], ['egger', 30]]
    >>> bool(abs(res.fit("ivw").beta - 0.5) < 0.05)
    True
    >>> bool(abs(res.fit("egger").egger_intercept) < 0.01)
    True

    Notes
    -----
    Only rows with ``mr_keep`` are used. Methods (``methods``): names of the registry
    (:func:`bma_genetics.mr.method_list`), ``"default"`` (TwoSampleMR's defaults: Wald ratio
    for single-SNP pairs, IVW, MR Egger, weighted median, weighted mode) or ``"all"``. A method
    with too few SNPs gives a row with ``b`` etc. NaN (the Wald ratio is reported only for
    single-SNP pairs). Output schema (the MR-results contract, ``MRResult.to_frame()``):

    ==============================  =====  ==========================================
    column                          dtype  meaning
    ==============================  =====  ==========================================
    exposure                        str
    outcome                         str
    method                          str    registry name (``ivw``, ``egger``, ...)
    nsnp                            int    SNPs used
    beta                            float  causal effect per unit exposure
    standard_error                  float  its standard error
    ci_lower, ci_upper              float  (1 - alpha) confidence interval
    p_value                         float  test of beta = 0
    q, q_df, q_p_value              float  Cochran's Q of the fit (IVW, Egger)
    egger_intercept                 float  MR-Egger intercept (pleiotropy)
    egger_intercept_standard_error  float  its standard error
    egger_intercept_p_value         float  its test
    ==============================  =====  ==========================================

    Parameters
    ----------
    harmonised : DataFrame
        :func:`bma_genetics.mr.harmonise` output or :func:`bma_genetics.mr.read_harmonised`.
    methods : str or list of str, optional
    params : MRParameters, optional
        Bootstrap size, seed, Egger reference distribution, median weights.

    Returns
    -------
    MRResult
        ``.to_frame()`` (schema above), ``.fits`` (every method's :class:`MREstimate`).
    """
    params = params or MRParameters()
    names = resolve_methods(methods)
    harmonised = canonical_harmonised_names(harmonised)
    for c in ("beta_exposure", "standard_error_exposure", "beta_outcome", "standard_error_outcome"):
        if c not in harmonised:
            raise fail("run_mr/harmonised", f"the harmonised table lacks column {c!r}")
    h = harmonised.copy()
    if "mr_keep" not in h:
        h["mr_keep"] = True
    for c in ("exposure", "outcome"):
        if c not in h:
            h[c] = c
    kept = h[h["mr_keep"].astype(bool)]
    if kept.empty:
        reasons = h.get("drop_reason", pd.Series(dtype=str)).value_counts().head(5).to_dict()
        raise fail("run_mr/harmonised", f"no SNP left to use (mr_keep is False for all {len(h)} rows; reasons: {reasons})")
    rows, fits = [], {}
    for (exp, out), g in kept.groupby(["exposure", "outcome"], sort=False, dropna=False):
        if g["snp"].duplicated().any() if "snp" in g else False:
            dups = g.loc[g["snp"].duplicated(), "snp"].unique()[:5].tolist()
            raise fail("run_mr/harmonised", f"{exp} -> {out}: SNP(s) {dups} appear more than once among kept rows")
        vec = [g[c].to_numpy(dtype=float) for c in ("beta_exposure", "beta_outcome", "standard_error_exposure", "standard_error_outcome")]
        for name in names:
            if name == "wald_ratio" and len(g) != 1:
                continue
            r = METHODS[name].func(*vec, params)
            fits[(exp, out, name)] = r
            rows.append({"exposure": exp, "outcome": out, **r.row()})
    table = pd.DataFrame(rows, columns=list(RESULT_COLUMNS))
    return MRResult(table=table, fits=fits, harmonised=harmonised,
                    report={"n_pairs": int(table.groupby(["exposure", "outcome"]).ngroups),
                            "methods": names})


def _label(path: str | os.PathLike) -> str:
    name = Path(path).name
    for suf in (".tsv.gz", ".tsv", ".txt.gz", ".txt", ".csv.gz", ".csv", ".gz", ".regenie", ".glm.linear",
                ".glm.logistic.hybrid", ".glm.logistic"):
        name = name.removesuffix(suf)
    return name


def _build_argument(value: str | None, where: str) -> tuple[str | None, bool]:
    """``(build, infer)``: a build name, or ``"infer"`` (from :func:`load_build_reference`)."""
    if isinstance(value, str) and value.strip().lower() == "infer":
        return None, True
    return normalise_build(value, where), False


def _as_sumstats(obj: str | os.PathLike | pd.DataFrame, fmt: str, columns: Mapping[str, str] | None,
                 build: str | None = None, name: str = "table",
                 known: pd.DataFrame | None = None) -> tuple[pd.DataFrame, str]:
    if isinstance(obj, pd.DataFrame):
        if known is not None and build_of(obj) is None:
            ev = infer_build(obj, known)
            log.info("run_mr_analysis: the %s table: %s", name, ev.describe())
            return (with_build(obj, ev.build) if ev.build else obj), "table"
        if build is None:
            return obj, "table"
        stated = build_of(obj, "run_mr_analysis/build", source=f"the {name} table")
        if stated and stated != build:
            raise fail("run_mr_analysis/build", f"the {name} table's genome_build is {stated} but {build} was given")
        return with_build(obj, build), "table"
    return read_sumstats(obj, format=fmt, columns=columns, build=build, known_variants=known), str(obj)


def _known_from_chain(frame: pd.DataFrame, chain: Chain, n: int = 5000) -> pd.DataFrame:
    """Known-variants table (rsid, both positions) from up to ``n`` rows of ``frame`` and a chain."""
    rows = frame[frame["rsid"].astype("string").str.fullmatch(r"rs[0-9]+").fillna(False).astype(bool)] \
        if "rsid" in frame else frame.iloc[:0]
    rows = rows.drop(columns=[BUILD_COLUMN], errors="ignore").head(n).assign(_row=lambda d: range(len(d)))
    lifted, _ = liftover(rows, chain, source="known variants")
    base = rows.set_index("_row").loc[lifted["_row"].to_numpy()]
    same_chrom = base["chromosome"].astype(str).to_numpy() == lifted["chromosome"].astype(str).to_numpy()
    return pd.DataFrame({
        "rsid": base["rsid"].to_numpy()[same_chrom], "chromosome": base["chromosome"].astype(str).to_numpy()[same_chrom],
        f"base_pair_location_{chain.source_build.lower()}": base["base_pair_location"].to_numpy()[same_chrom],
        f"base_pair_location_{chain.target_build.lower()}": lifted["base_pair_location"].to_numpy()[same_chrom],
    })


def _plan_builds(exp_ss: pd.DataFrame, out_ss: pd.DataFrame, chain: Chain | None,
                 names: tuple[str, str]) -> dict[str, Any]:
    """Check the two studies' builds; with a chain, say which side to lift over (never a silent join).

    Returns the build record of the summary: ``exposure``, ``outcome`` (builds, ``None`` when
    unknown), ``lift`` (``"exposure"``, ``"outcome"`` or ``None``), ``chain``, ``joined_on``.
    """
    where = "run_mr_analysis/build"
    eb = build_of(exp_ss, where, source=names[0])
    ob = build_of(out_ss, where, source=names[1])
    record: dict[str, Any] = {"exposure": eb, "outcome": ob, "lift": None, "chain": None, "joined_on": eb or ob}
    if chain is None:
        check_join_builds(exp_ss, out_ss, names=names, where=where)
        return record
    record["chain"] = str(chain.path)
    if chain.source_build is None or chain.target_build is None:
        raise fail("run_mr_analysis/chain", f"{chain.path}: its chromosome sizes match neither GRCh37 nor GRCh38, "
                   "so its direction is unknown; give a chain between GRCh37 and GRCh38")
    # an unknown build is inferred from the other study's variants lifted over by the chain
    for side, known_side, b_known in (("outcome", exp_ss, eb), ("exposure", out_ss, ob)):
        if record[side] is None and b_known == chain.source_build:
            other = out_ss if side == "outcome" else exp_ss
            ev = infer_build(other, _known_from_chain(known_side, chain), min_evidence=5)
            record[side] = ev.build
            log.info("run_mr_analysis: %s build from %s's variants lifted with %s: %s", side,
                     "exposure" if side == "outcome" else "outcome", chain.path.name, ev.describe())
            if ev.build is None:
                raise fail(where, f"the build of {names[1] if side == 'outcome' else names[0]} is not stated and "
                           f"the chain does not decide it ({ev.describe()}); give its build "
                           f"({side}_build=/--{side}-build)")
    eb, ob = record["exposure"], record["outcome"]
    if eb and ob and eb == ob:
        log.info("run_mr_analysis: both studies are %s; the chain %s is not needed", eb, chain.path.name)
        record["joined_on"] = eb
        return record
    if eb == chain.source_build and ob == chain.target_build:
        record["lift"], record["joined_on"] = "exposure", ob
    elif ob == chain.source_build and eb == chain.target_build:
        record["lift"], record["joined_on"] = "outcome", eb
    else:
        raise fail("run_mr_analysis/chain", f"{chain.path} converts {chain.source_build} -> {chain.target_build} but "
                   f"{names[0]} is {eb or 'of unknown build'} and {names[1]} is {ob or 'of unknown build'}; give "
                   "the build of each file (exposure_build=, outcome_build=) and a chain between them")
    return record


#: Columns of ``ld_left_out.tsv``: candidate instruments a partial LD source could not clump.
LD_LEFT_OUT_COLUMNS = ["variant_id", "chromosome", "base_pair_location", "p_value", "reason"]


def _ld_coverage(exp_ss: pd.DataFrame, p_threshold: float, reader: Any, allow_partial: bool,
                 exposure_name: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Check the LD source covers the chromosomes of the candidate instruments (P < threshold);
    with ``allow_partial`` drop those it cannot clump and return them as the left-out table."""
    from bma_genetics.ld import check_ld_coverage

    p = pd.to_numeric(exp_ss["p_value"], errors="coerce")
    cand = exp_ss[(p < p_threshold).to_numpy()]
    missing = check_ld_coverage(reader, cand["chromosome"].astype(str).unique(), allow_partial=allow_partial,
                                where="run_mr_analysis/ld",
                                what=f"candidate instruments of {exposure_name} (P < {p_threshold:g})")
    if not missing:
        return exp_ss, pd.DataFrame(columns=LD_LEFT_OUT_COLUMNS)
    chrom = exp_ss["chromosome"].astype(str).str.removeprefix("chr").replace({"23": "X"})
    drop = chrom.isin(missing).to_numpy() & (p < p_threshold).to_numpy()
    gone = exp_ss[drop]
    ids = gone["variant_id"] if "variant_id" in gone else gone["chromosome"].astype(str) + ":" + \
        gone["base_pair_location"].astype(str)
    left = pd.DataFrame({"variant_id": ids.astype(str).to_numpy(), "chromosome": chrom[drop].to_numpy(),
                         "base_pair_location": gone["base_pair_location"].to_numpy(),
                         "p_value": gone["p_value"].to_numpy(), "reason": "chromosome not in the LD source"})
    log.warning("run_mr_analysis: %s: the LD source lacks chromosome(s) %s; %d candidate instrument(s) left out "
                "(allow_partial_ld)", exposure_name, ", ".join(missing), len(left))
    return exp_ss[~drop], left


def run_mr_analysis(
    out: str | os.PathLike | None,
    *,
    exposure: str | os.PathLike | pd.DataFrame | None = None,
    outcome: str | os.PathLike | pd.DataFrame | None = None,
    harmonised: str | os.PathLike | pd.DataFrame | None = None,
    exposure_name: str | None = None,
    outcome_name: str | None = None,
    exposure_format: str = "auto",
    outcome_format: str = "auto",
    exposure_columns: Mapping[str, str] | None = None,
    outcome_columns: Mapping[str, str] | None = None,
    p_threshold: float = 5e-8,
    p_fallback: float | None = None,
    sample_overlap: bool | None = None,
    ld: str | os.PathLike | Any | None = None,
    genotypes: str | os.PathLike | None = None,
    samples: Sequence[str] | str | os.PathLike | None = None,
    allow_partial_ld: bool = False,
    unclumped: bool = False,
    clump_r2: float = 0.001,
    clump_kb: float = 10_000,
    proxies: bool = True,
    proxy_r2: float = 0.8,
    action: int = 2,
    tolerance: float = 0.08,
    methods: str | Sequence[str] | None = "all",
    params: MRParameters | None = None,
    prevalence: float | None = None,
    steiger_filter: bool = False,
    reverse: bool = False,
    build: str | None = None,
    exposure_build: str | None = None,
    outcome_build: str | None = None,
    chain: str | os.PathLike | None = None,
) -> MRResult:
    """Full two-sample MR from summary statistics (or a harmonised table) to every table.

    Writes, under ``out`` (nothing when ``out`` is None), through
    :func:`bma_genetics.io.write_mr_results`: ``mr_results.tsv`` (:func:`run_mr`, with each
    method's Q and the Egger intercept), ``heterogeneity.tsv``, ``pleiotropy.tsv``,
    ``steiger.tsv``, ``leave_one_out.tsv``, ``single_snp.tsv``, ``mr_presso.tsv``; and
    ``harmonised.tsv`` (every SNP with ``mr_keep`` and ``drop_reason``), ``instruments.tsv``
    (with ``f_statistic``, ``r2``), ``reverse_mr.tsv`` when ``reverse``, ``methods.tsv`` (the
    registry) and ``run.json`` (arguments). The diagnostics reuse the fits of :func:`run_mr`.
    Figures (scatter, single-SNP forest, funnel, leave-one-out) are drawn from the result by
    :func:`bma_genetics.mr.figures.write_mr_figures` (the CLI and the pipeline stage call it).

    Examples
    --------
    >>> res = run_mr_analysis("mr_out", exposure="bmff.tsv.gz", outcome="osteoporosis.tsv.gz",
    ...                       ld="reference")  # doctest: +SKIP
    >>> res.fit("egger").egger_intercept  # doctest: +SKIP

    Parameters
    ----------
    out : path or None
        Output directory; ``None`` writes nothing.
    exposure, outcome : path or DataFrame
        Summary statistics (:func:`read_sumstats` formats); or give ``harmonised``.
    harmonised : path or DataFrame
        A harmonised table (ours or TwoSampleMR's ``SNP, beta.exposure, ...``); skips
        instrument selection and harmonisation.
    exposure_name, outcome_name : str, optional
        Labels (default: the file names).
    p_threshold, clump_r2, clump_kb
        Instrument selection (:func:`select_instruments`).
    p_fallback : float, optional
        A weaker P threshold used only when no variant of the exposure has P < ``p_threshold``
        (e.g. 5e-6). Default None: no fallback, and zero instruments is an error saying how to
        ask for one. When used, a warning is logged and the summary records it
        (``p_threshold_used``, ``p_fallback_used``).
    sample_overlap : bool, optional
        Whether the exposure and outcome GWAS share participants (e.g. both from the same
        cohort). True logs a warning and records it in the summary: two-sample MR assumes
        independent samples, and with overlap weak-instrument bias pulls the estimate towards
        the observational association instead of towards zero. None (default): unknown.
    ld : {"in-sample", "reference"}, path or GenotypeReader, optional
        LD source for clumping and proxies (:func:`bma_genetics.ld.open_ld_source`):
        ``"in-sample"`` (``genotypes``), ``"reference"`` (1000 Genomes EUR, chr17-22) or a
        PLINK prefix. ``None`` (default): no LD source, which needs ``unclumped=True`` (or a
        ``harmonised`` table).
    genotypes : path, optional
        The exposure GWAS sample's genotypes, for ``ld="in-sample"`` (which they imply when
        ``ld`` is None).
    samples : list of str or path, optional
        The exposure GWAS's analysed samples (eids, or a file of them such as the gwas stage's
        ``analysed_samples.txt``): in-sample LD is computed over these only. Default: every
        sample of the genotypes (a warning with ``ld="in-sample"``).
    allow_partial_ld : bool, default=False
        An LD source lacking the chromosome of a candidate instrument (the bundled reference
        is chr17-22) is an error naming the chromosomes; ``True`` leaves those instruments out
        (they cannot be clumped) and records them: ``ld_missing_chromosomes`` and
        ``n_instruments_left_out`` in the summary, ``ld_left_out.tsv``.
    unclumped : bool, default=False
        Run with instruments that are not LD-clumped. Without an LD source MR refuses to run
        unless this is ``True`` (for a list of variants already known to be independent):
        correlated instruments count the same signal several times and overstate precision.
        Recorded in the summary (``clumped``) with a warning. With an ``ld`` source, that
        source is then used for proxies only.
    proxies, proxy_r2
        Replace instruments absent from the outcome by LD proxies (needs ``ld``).
    action, tolerance
        Harmonisation (:func:`harmonise`).
    methods : str or list, default="all"
    params : MRParameters, optional
    prevalence : float, optional
        Outcome prevalence for the binary-outcome Steiger test.
    steiger_filter : bool, default=False
        Steiger filtering (:func:`bma_genetics.mr.steiger_filtering`, TwoSampleMR's
        ``steiger_filtering``): SNPs that explain more variance in the outcome than in the
        exposure get ``mr_keep = False`` before any fit; ``harmonised.tsv`` carries each SNP's
        ``r2_exposure, r2_outcome, steiger_dir, steiger_p_value``; the summary records
        ``n_steiger_dropped``.
    reverse : bool, default=False
        Also run reverse-direction MR (outcome instruments -> exposure; needs full summary
        statistics for both).
    build : {"GRCh37", "GRCh38"}, optional
        Genome build of every input that states none (a FinnGen, plink2 or REGENIE file;
        GWAS-SSF files state ``genome_assembly``, which this does not override).
    exposure_build, outcome_build : {"GRCh37", "GRCh38", "infer"}, optional
        Genome build of one input; one that contradicts the file's metadata is an error.
        ``"infer"``: from the positions of HapMap3's 1.2 million SNPs on both builds
        (:func:`bma_genetics.resources.load_build_reference`, a cached resource; the counts
        are logged).
    chain : path, optional
        A UCSC chain file (e.g. ``hg19ToHg38.over.chain.gz``). Studies on different builds are
        refused without one; with one, the study on the chain's source build is lifted over
        (the exposure's instruments after clumping, or the whole outcome), variants that do not
        map are dropped and counted, and LD proxies are not searched when the outcome is not
        on the LD source's build. An unstated build is then inferred from the other study's
        variants lifted over by the chain.

    Returns
    -------
    MRResult
        ``.to_frame()`` the MR results, ``.fits``, ``.tables`` (the diagnostics), ``.files``
        (table name -> path), ``.summary()``
        (``n_instruments``, ``n_used``, ``ivw``: the IVW row's estimate fields;
        ``genome_build``: each study's build, the build joined on, what was lifted over and
        how many variants mapped;
        ``p_threshold_used``, ``p_fallback_used``; ``instrument_strength``: ``mean_f_statistic``,
        ``min_f_statistic``, ``overall_f_statistic``, ``n_weak_instruments``,
        ``weak_instruments`` over the instruments used; ``sample_overlap``; ``clumped``
        (False when run with ``unclumped=True``); ``ld_samples`` (samples the LD came from);
        ``ld_missing_chromosomes`` and ``n_instruments_left_out`` (a partial LD source);
        ``warnings``: the messages above, one string each).

    Notes
    -----
    Instrument strength is reported for the instruments the fits used (``mr_keep``): per SNP
    F = beta_exposure^2 / standard_error_exposure^2 (``instruments.tsv``: ``f_statistic``,
    ``weak_instrument`` for F < 10), their mean, and the overall F = (n - k - 1) / k * R^2 /
    (1 - R^2) from the summed per-SNP r^2. A mean F below 10 is logged as a warning and
    recorded in ``warnings``: weak instruments bias two-sample MR towards the null (towards the
    observational estimate when the samples overlap).
    """
    from bma_genetics.ld import open_ld_source

    params = params or MRParameters()
    check_probability("run_mr_analysis/p_threshold", p_threshold, open_interval=False)
    if p_fallback is not None:
        check_probability("run_mr_analysis/p_fallback", p_fallback, open_interval=False)
        if p_fallback <= p_threshold:
            raise fail("run_mr_analysis/p_fallback", f"{p_fallback:g} is not weaker than p_threshold "
                       f"{p_threshold:g}; give a larger P (e.g. 5e-6) or leave it out")
    if sample_overlap is not None and not isinstance(sample_overlap, bool):
        raise fail("run_mr_analysis/sample_overlap", f"expected True, False or None, found {sample_overlap!r}")
    check_one_of("run_mr_analysis/action", action, [1, 2, 3])
    if prevalence is not None:
        check_probability("run_mr_analysis/prevalence", prevalence)
    for name, flag in (("allow_partial_ld", allow_partial_ld), ("unclumped", unclumped),
                       ("steiger_filter", steiger_filter)):
        if not isinstance(flag, bool):
            raise fail(f"run_mr_analysis/{name}", f"expected True or False, found {flag!r}")
    if ld is None and genotypes is not None:  # the exposure GWAS's own genotypes are the LD source
        ld = "in-sample"
    if ld is None and not unclumped and harmonised is None:
        raise fail("run_mr_analysis/ld", "no LD source, so the instruments cannot be clumped and correlated "
                   "variants would count the same signal several times; give ld='in-sample' with the "
                   "exposure GWAS's genotypes (--ld in-sample --genotypes), ld='reference' or your own "
                   "PLINK panel, or run unclumped on purpose with unclumped=True (--no-clump, "
                   "unclumped: true in a study config; recorded in the results)")
    warnings: list[str] = []
    used_p, fallback_used = p_threshold, False
    # The LD source is resolved first: a bad ``ld`` fails before any summary statistics are read.
    reader = None
    if ld is not None:
        if isinstance(samples, (str, os.PathLike)):
            samples = read_sample_list(samples)
        reader = open_ld_source(ld, genotypes=genotypes, samples=samples, where="run_mr_analysis/ld")
        if ld == "in-sample" and samples is None:
            log.warning("run_mr_analysis: in-sample LD over all %d samples of the genotypes; pass samples= (the "
                        "GWAS's analysed_samples.txt, --samples) to use the analysed samples only", reader.n_samples)
    clump_reader = None if unclumped else reader
    left_out = pd.DataFrame(columns=LD_LEFT_OUT_COLUMNS)
    if unclumped:
        msg = ("instruments not LD-clumped (unclumped=True): correlated instruments count the same signal "
               "several times and overstate precision; use only for independent variants")
        log.warning("run_mr_analysis: %s", msg)
        warnings.append(msg)
    build = normalise_build(build, "run_mr_analysis/build")
    exposure_build, infer_exposure = _build_argument(exposure_build, "run_mr_analysis/exposure_build")
    outcome_build, infer_outcome = _build_argument(outcome_build, "run_mr_analysis/outcome_build")
    chain_obj = None if chain is None else read_chain(chain)
    builds: dict[str, Any] | None = None
    frames: dict[str, pd.DataFrame] = {}
    if harmonised is not None:
        h = read_harmonised(harmonised)
        if exposure_name:
            h["exposure"] = exposure_name
        if outcome_name:
            h["outcome"] = outcome_name
        n_instruments = len(h)
    else:
        if exposure is None or outcome is None:
            raise fail("run_mr_analysis/exposure", "give exposure= and outcome= summary statistics, or harmonised=")
        known = None
        if infer_exposure or infer_outcome:
            from bma_genetics.resources import load_build_reference

            known = load_build_reference()
        exp_ss, exp_src = _as_sumstats(exposure, exposure_format, exposure_columns, exposure_build, "exposure",
                                       known if infer_exposure else None)
        out_ss, out_src = _as_sumstats(outcome, outcome_format, outcome_columns, outcome_build, "outcome",
                                       known if infer_outcome else None)
        if build is not None:  # fills in only where a table states none
            exp_ss = exp_ss if build_of(exp_ss) else with_build(exp_ss, build)
            out_ss = out_ss if build_of(out_ss) else with_build(out_ss, build)
        names = (exp_src if exp_src != "table" else "the exposure table",
                 out_src if out_src != "table" else "the outcome table")
        builds = _plan_builds(exp_ss, out_ss, chain_obj, names)
        if reader is not None:  # clumping and proxies look the exposure's variants up in the LD source
            ld_name = f"the LD source {ld!r}" if isinstance(ld, (str, os.PathLike)) else "the LD source"
            if isinstance(ld, str) and ld == "reference":
                check_same_build(builds["exposure"], "GRCh37", where="run_mr_analysis/ld",
                                 names=(names[0], "the bundled 1000 Genomes panel"))
            check_against_reference(exp_ss, reader.variants, names=(names[0], ld_name), where="run_mr_analysis/ld")
        if builds["lift"] == "outcome":
            out_ss, builds["liftover"] = liftover(out_ss, chain_obj, source=out_src, where="run_mr_analysis/chain")
        exposure_name = exposure_name or (_label(exposure) if not isinstance(exposure, pd.DataFrame) else "exposure")
        outcome_name = outcome_name or (_label(outcome) if not isinstance(outcome, pd.DataFrame) else "outcome")
        if p_fallback is not None and not (exp_ss["p_value"].astype(float) < p_threshold).any():
            used_p, fallback_used = float(p_fallback), True
            msg = (f"no variant of {exposure_name} has P < {p_threshold:g}; instruments selected at the "
                   f"fallback P < {used_p:g} (p_fallback): weaker instruments, more weak-instrument bias")
            log.warning("run_mr_analysis: %s", msg)
            warnings.append(msg)
        if clump_reader is not None:
            exp_ss, left_out = _ld_coverage(exp_ss, used_p, clump_reader, allow_partial_ld, exposure_name)
        ins = select_instruments(exp_ss, p_threshold=used_p, reader=clump_reader, clump_r2=clump_r2,
                                 clump_kb=clump_kb, source=exp_src)
        use_proxies = proxies and reader is not None
        if builds["lift"] == "exposure":
            ins, builds["liftover"] = liftover(ins, chain_obj, source=f"instruments of {exp_src}",
                                               where="run_mr_analysis/chain")
            if ins.empty:
                raise fail("run_mr_analysis/chain", f"no instrument of {exp_src} maps with {chain_obj.path}")
            if use_proxies:
                use_proxies = False
                msg = (f"LD proxies not searched: the outcome is {builds['outcome']} and the LD source is on the "
                       f"exposure's build {builds['exposure']}")
                log.warning("run_mr_analysis: %s", msg)
                warnings.append(msg)
        frames["instruments"] = ins
        oc_rows = find_proxies(ins, out_ss, reader, min_r2=proxy_r2) if use_proxies else out_ss
        h = harmonise(ins, oc_rows, action=action, tolerance=tolerance,
                      exposure_name=exposure_name, outcome_name=outcome_name)
        n_instruments = len(ins)
    n_steiger_dropped = None
    if steiger_filter:
        kept_before = int(h["mr_keep"].sum())
        h = steiger_filtering(h, prevalence=prevalence)
        n_steiger_dropped = kept_before - int(h["mr_keep"].sum())
        if n_steiger_dropped:
            log.info("run_mr_analysis: Steiger filtering dropped %d of %d SNPs (more outcome than exposure variance)",
                     n_steiger_dropped, kept_before)
    n_used = int(h["mr_keep"].sum())
    if n_used == 0:
        # nothing is written: a harmonised.tsv of a failed run would look like a finished one
        reasons = h["drop_reason"].str.split(" \\(").str[0].value_counts().to_dict()
        raise fail("run_mr_analysis/outcome", f"all {len(h)} instruments were dropped during harmonisation "
                   f"(reasons: {reasons})")
    res = run_mr(h, methods=methods, params=params)
    fits = res.fits
    frames["heterogeneity"] = mr_heterogeneity(h, params, fits=fits)
    frames["pleiotropy"] = mr_pleiotropy_test(h, params, fits=fits)
    frames["steiger"] = mr_steiger(h, prevalence=prevalence)
    frames["leave_one_out"] = mr_leave_one_out(h, params, fits=fits)
    frames["single_snp"] = mr_single_snp(h, params, fits=fits)
    frames["mr_presso"] = mr_presso_table(h, params, fits=fits)
    if any(k[2] in ("radial_ivw", "radial_egger") for k in fits):
        frames["radial"] = mr_radial_table(h, params, fits=fits)
    if reverse and harmonised is None:
        try:
            rev_ins = select_instruments(out_ss, p_threshold=p_threshold, reader=clump_reader, clump_r2=clump_r2,
                                         clump_kb=clump_kb, source=out_src)
            rev_exp = exp_ss
            if builds and builds["lift"] == "exposure":
                rev_exp, _ = liftover(exp_ss, chain_obj, source=exp_src, where="run_mr_analysis/chain")
            rev_h = harmonise(rev_ins, rev_exp, action=action, tolerance=tolerance,
                              exposure_name=outcome_name, outcome_name=exposure_name)
            rev = run_mr(rev_h, methods=["ivw", "egger", "weighted_median", "weighted_mode"], params=params).table
        except InputError as exc:  # reverse MR is optional (e.g. no outcome instrument): record why
            log.warning("reverse MR not run: %s", exc)
            rev = pd.DataFrame([{"exposure": outcome_name, "outcome": exposure_name, "method": "ivw",
                                 "nsnp": 0, "note": f"not run: {exc}"}])
        frames["reverse_mr"] = rev
    ivw = res.table[res.table["method"] == "ivw"]
    kept = h[h["mr_keep"].astype(bool)]
    strength = instrument_strength_summary(
        kept["beta_exposure"].to_numpy(float), kept["standard_error_exposure"].to_numpy(float),
        kept["samplesize_exposure"].to_numpy(float) if "samplesize_exposure" in kept else None)
    if strength["weak_instruments"]:
        msg = (f"weak instruments: mean F = {strength['mean_f_statistic']:.3g} < {WEAK_F:g} over "
               f"{strength['nsnp']} instrument(s) ({strength['n_weak_instruments']} with F < {WEAK_F:g}); "
               "estimates are biased towards the null (towards the observational association when the "
               "samples overlap)")
        log.warning("run_mr_analysis: %s -> %s: %s", h["exposure"].iloc[0], h["outcome"].iloc[0], msg)
        warnings.append(msg)
    if sample_overlap:
        msg = ("the exposure and outcome GWAS share participants (sample_overlap=True): two-sample MR "
               "assumes independent samples; weak-instrument bias then points towards the observational "
               "association, so read the estimates with the F statistics")
        log.warning("run_mr_analysis: %s", msg)
        warnings.append(msg)
    report: dict[str, Any] = {
        "n_instruments": int(n_instruments),
        "n_used": n_used,
        "ivw": {k: float(ivw[k].iloc[0]) for k in _ESTIMATE} if len(ivw) else None,
        "p_threshold_used": float(used_p) if harmonised is None else None,
        "p_fallback_used": fallback_used,
        "instrument_strength": strength,
        "sample_overlap": sample_overlap,
        "genome_build": builds,
        "clumped": clump_reader is not None,
        "ld_samples": reader.n_samples if reader is not None else None,
        "ld_missing_chromosomes": sorted(set(left_out["chromosome"].astype(str)), key=chromosome_rank),
        "n_instruments_left_out": int(len(left_out)),
        "steiger_filter": steiger_filter,
        "n_steiger_dropped": n_steiger_dropped,
        "warnings": warnings,
    }
    if len(left_out):
        frames["ld_left_out"] = left_out
        warnings.append(f"the LD source lacks chromosome(s) {', '.join(report['ld_missing_chromosomes'])}: "
                        f"{len(left_out)} candidate instrument(s) left out (allow_partial_ld; ld_left_out.tsv)")
    result = MRResult(table=res.table, fits=fits, harmonised=h, tables=frames, report=report)
    if out is not None:
        result.files = _write_mr_outputs(result, Path(out), run_info={
            "exposure": str(exposure) if not isinstance(exposure, pd.DataFrame) else "table",
            "outcome": str(outcome) if not isinstance(outcome, pd.DataFrame) else "table",
            "harmonised": (str(harmonised) if harmonised is not None and not isinstance(harmonised, pd.DataFrame)
                           else None),
            "p_threshold": p_threshold, "p_fallback": p_fallback, "sample_overlap": sample_overlap,
            "ld": str(ld) if ld is not None else None, "samples": None if samples is None else len(samples),
            "allow_partial_ld": allow_partial_ld, "unclumped": unclumped,
            "clump_r2": clump_r2, "clump_kb": clump_kb, "proxies": proxies, "proxy_r2": proxy_r2,
            "action": action, "tolerance": tolerance, "methods": methods, "params": params.__dict__,
            "steiger_filter": steiger_filter,
            "build": build, "exposure_build": exposure_build, "outcome_build": outcome_build,
            "chain": str(chain) if chain is not None else None})
    log.info("MR %s -> %s: %d instruments, %d used; IVW beta=%s", h["exposure"].iloc[0], h["outcome"].iloc[0],
             n_instruments, n_used, None if report["ivw"] is None else round(report["ivw"]["beta"], 4))
    return result


def _write_mr_outputs(result: MRResult, out: Path, *, run_info: dict[str, Any]) -> dict[str, Path]:
    """Write the tables (through io's MR writer) and run.json; return name -> path."""
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    frames = result.tables
    if "instruments" in frames:
        files["instruments"] = write_table(frames["instruments"], out / "instruments.tsv")
    files["harmonised"] = write_table(result.harmonised, out / "harmonised.tsv")
    files["mr_results"] = write_mr_results(result.table, out / "mr_results.tsv")
    for name in ("heterogeneity", "pleiotropy", "steiger", "leave_one_out", "single_snp", "mr_presso", "radial"):
        if name in frames:
            files[name] = write_mr_results(frames[name], out / f"{name}.tsv", table=name)
    files["methods"] = write_table(method_list(), out / "methods.tsv")
    if "reverse_mr" in frames:
        files["reverse_mr"] = write_table(frames["reverse_mr"], out / "reverse_mr.tsv")
    if "ld_left_out" in frames:
        files["ld_left_out"] = write_table(frames["ld_left_out"], out / "ld_left_out.tsv")
    summary = {**result.report, "tables": {k: str(v) for k, v in files.items()}}
    files["run"] = write_text(out / "run.json", json.dumps({**run_info, "summary": summary}, indent=2, default=str))
    return files

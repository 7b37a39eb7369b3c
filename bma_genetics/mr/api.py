"""Two-sample Mendelian randomisation: the stage's public API.

``run_mr`` estimates causal effects from a harmonised table; ``run_mr_analysis`` goes from
summary-statistics files to every table and plot (what ``bma-genetics mr`` runs).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from bma_genetics._atomic import write_table, write_text
from bma_genetics._check import fail
from bma_genetics.mr.diagnostics import (
    mr_heterogeneity,
    mr_leave_one_out,
    mr_pleiotropy_test,
    mr_presso_table,
    mr_single_snp,
    mr_steiger,
)
from bma_genetics.mr.harmonise import harmonise, read_harmonised
from bma_genetics.mr.instruments import find_proxies, select_instruments
from bma_genetics.mr.methods import METHODS, RESULT_COLUMNS, MRParameters, resolve_methods
from bma_genetics.mr.readers import read_sumstats

log = logging.getLogger(__name__)


def run_mr(
    harmonised: pd.DataFrame,
    *,
    methods: str | Sequence[str] | None = None,
    params: MRParameters | None = None,
) -> pd.DataFrame:
    """Causal estimates for every exposure-outcome pair of a harmonised table.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(1)
    >>> bx = rng.uniform(0.05, 0.2, 30)
    >>> h = pd.DataFrame({"snp": [f"rs{i}" for i in range(30)], "exposure": "x", "outcome": "y",
    ...     "beta_exposure": bx, "se_exposure": 0.01, "beta_outcome": 0.5 * bx + rng.normal(0, 0.01, 30),
    ...     "se_outcome": 0.01, "mr_keep": True})
    >>> res = run_mr(h, methods=["ivw", "egger"])
    >>> res[["method", "nsnp"]].values.tolist()
    [['ivw', 30], ['egger', 30]]
    >>> bool(abs(res.b.iloc[0] - 0.5) < 0.05)
    True

    Notes
    -----
    Only rows with ``mr_keep`` are used. Methods (``methods``): names of the registry
    (:func:`bma_genetics.mr.method_list`), ``"default"`` (TwoSampleMR's defaults: Wald ratio
    for single-SNP pairs, IVW, MR Egger, weighted median, weighted mode) or ``"all"``. A method
    with too few SNPs gives a row with ``b`` etc. NaN (the Wald ratio is reported only for
    single-SNP pairs). Output schema (the MR-results contract):

    ===========  =====  ==================================================
    column       dtype  meaning
    ===========  =====  ==================================================
    exposure     str
    outcome      str
    method       str    registry name (``ivw``, ``egger``, ...)
    nsnp         int    SNPs used
    b            float  causal effect per unit exposure (outcome units)
    se           float  its standard error
    ci_low/high  float  (1 - alpha) confidence interval
    p_value      float  test of b = 0
    ===========  =====  ==================================================

    Parameters
    ----------
    harmonised : DataFrame
        :func:`bma_genetics.mr.harmonise` output or :func:`bma_genetics.mr.read_harmonised`.
    methods : str or list of str, optional
    params : MRParameters, optional
        Bootstrap size, seed, Egger reference distribution, median weights.

    Returns
    -------
    DataFrame
    """
    params = params or MRParameters()
    names = resolve_methods(methods)
    for c in ("beta_exposure", "se_exposure", "beta_outcome", "se_outcome"):
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
    rows = []
    for (exp, out), g in kept.groupby(["exposure", "outcome"], sort=False, dropna=False):
        if g["snp"].duplicated().any() if "snp" in g else False:
            dups = g.loc[g["snp"].duplicated(), "snp"].unique()[:5].tolist()
            raise fail("run_mr/harmonised", f"{exp} -> {out}: SNP(s) {dups} appear more than once among kept rows")
        vec = [g[c].to_numpy(dtype=float) for c in ("beta_exposure", "beta_outcome", "se_exposure", "se_outcome")]
        for name in names:
            if name == "wald_ratio" and len(g) != 1:
                continue
            r = METHODS[name].func(*vec, params)
            rows.append({"exposure": exp, "outcome": out, "method": name, "nsnp": int(r["nsnp"]),
                         **{k: float(r[k]) for k in ("b", "se", "ci_low", "ci_high", "p_value")}})
    return pd.DataFrame(rows, columns=list(RESULT_COLUMNS))


def _label(path: str | os.PathLike) -> str:
    name = Path(path).name
    for suf in (".tsv.gz", ".tsv", ".txt.gz", ".txt", ".csv.gz", ".csv", ".gz", ".regenie", ".glm.linear",
                ".glm.logistic.hybrid", ".glm.logistic"):
        name = name.removesuffix(suf)
    return name


def _as_sumstats(obj: str | os.PathLike | pd.DataFrame, fmt: str, columns: Mapping[str, str] | None) -> tuple[pd.DataFrame, str]:
    if isinstance(obj, pd.DataFrame):
        return obj, "table"
    return read_sumstats(obj, format=fmt, columns=columns), str(obj)


def run_mr_analysis(
    out: str | os.PathLike,
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
    ld_reference: str | os.PathLike | Any | None = None,
    clump_r2: float = 0.001,
    clump_kb: float = 10_000,
    proxies: bool = True,
    proxy_r2: float = 0.8,
    action: int = 2,
    tolerance: float = 0.08,
    methods: str | Sequence[str] | None = "all",
    params: MRParameters | None = None,
    prevalence: float | None = None,
    reverse: bool = False,
    plots: bool = True,
) -> dict[str, Any]:
    """Full two-sample MR from summary statistics (or a harmonised table) to tables and plots.

    Writes, under ``out``: ``mr_results.tsv`` (:func:`run_mr`), ``heterogeneity.tsv``,
    ``pleiotropy.tsv``, ``steiger.tsv``, ``leave_one_out.tsv``, ``single_snp.tsv``,
    ``mr_presso.tsv``, ``harmonised.tsv`` (every SNP with ``mr_keep`` and ``drop_reason``),
    ``instruments.tsv`` (with ``f_statistic``, ``r2``), ``reverse_mr.tsv`` when ``reverse``,
    ``methods.tsv`` (the registry), ``run.json`` (arguments) and ``figures/`` (scatter,
    single-SNP forest, funnel, leave-one-out; PNG + PDF).

    Examples
    --------
    >>> run_mr_analysis("mr_out", exposure="bmff.tsv.gz", outcome="osteoporosis.tsv.gz",
    ...                 ld_reference="EUR_subset")  # doctest: +SKIP

    Parameters
    ----------
    out : path
        Output directory.
    exposure, outcome : path or DataFrame
        Summary statistics (:func:`read_sumstats` formats); or give ``harmonised``.
    harmonised : path or DataFrame
        A harmonised table (ours or TwoSampleMR's ``SNP, beta.exposure, ...``); skips
        instrument selection and harmonisation.
    exposure_name, outcome_name : str, optional
        Labels (default: the file names).
    p_threshold, clump_r2, clump_kb
        Instrument selection (:func:`select_instruments`).
    ld_reference : path or GenotypeReader, optional
        PLINK prefix / BGEN file / reader for clumping and proxies; ``None`` = no clumping.
    proxies, proxy_r2
        Replace instruments absent from the outcome by LD proxies (needs ``ld_reference``).
    action, tolerance
        Harmonisation (:func:`harmonise`).
    methods : str or list, default="all"
    params : MRParameters, optional
    prevalence : float, optional
        Outcome prevalence for the binary-outcome Steiger test.
    reverse : bool, default=False
        Also run reverse-direction MR (outcome instruments -> exposure; needs full summary
        statistics for both).
    plots : bool, default=True

    Returns
    -------
    dict
        ``tables`` (name -> path), ``figures`` (paths), ``n_instruments``, ``n_used``, ``ivw``
        (b, se, ci_low, ci_high, p_value of the IVW row).
    """
    params = params or MRParameters()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tables: dict[str, Path] = {}
    reader = None
    if ld_reference is not None:
        from bma_genetics.ld import GenotypeReader, open_genotypes

        reader = ld_reference if isinstance(ld_reference, GenotypeReader) else open_genotypes(ld_reference)
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
        exp_ss, exp_src = _as_sumstats(exposure, exposure_format, exposure_columns)
        out_ss, out_src = _as_sumstats(outcome, outcome_format, outcome_columns)
        exposure_name = exposure_name or (_label(exposure) if not isinstance(exposure, pd.DataFrame) else "exposure")
        outcome_name = outcome_name or (_label(outcome) if not isinstance(outcome, pd.DataFrame) else "outcome")
        ins = select_instruments(exp_ss, p_threshold=p_threshold, reader=reader, clump_r2=clump_r2,
                                 clump_kb=clump_kb, source=exp_src)
        tables["instruments"] = write_table(ins, out / "instruments.tsv")
        oc_rows = find_proxies(ins, out_ss, reader, min_r2=proxy_r2) if (proxies and reader is not None) else out_ss
        h = harmonise(ins, oc_rows, action=action, tolerance=tolerance,
                      exposure_name=exposure_name, outcome_name=outcome_name)
        n_instruments = len(ins)
    tables["harmonised"] = write_table(h, out / "harmonised.tsv")
    n_used = int(h["mr_keep"].sum())
    if n_used == 0:
        reasons = h["drop_reason"].str.split(" \\(").str[0].value_counts().to_dict()
        raise fail("run_mr_analysis/outcome", f"all {len(h)} instruments were dropped during harmonisation "
                   f"({reasons}); see {tables['harmonised']}")
    res = run_mr(h, methods=methods, params=params)
    tables["mr_results"] = write_table(res, out / "mr_results.tsv")
    het = mr_heterogeneity(h, params)
    tables["heterogeneity"] = write_table(het, out / "heterogeneity.tsv")
    tables["pleiotropy"] = write_table(mr_pleiotropy_test(h, params), out / "pleiotropy.tsv")
    tables["steiger"] = write_table(mr_steiger(h, prevalence=prevalence), out / "steiger.tsv")
    loo = mr_leave_one_out(h, params)
    tables["leave_one_out"] = write_table(loo, out / "leave_one_out.tsv")
    single = mr_single_snp(h, params)
    tables["single_snp"] = write_table(single, out / "single_snp.tsv")
    tables["mr_presso"] = write_table(mr_presso_table(h, params), out / "mr_presso.tsv")
    from bma_genetics.mr.methods import method_list

    tables["methods"] = write_table(method_list(), out / "methods.tsv")
    if reverse and harmonised is None:
        try:
            rev_ins = select_instruments(out_ss, p_threshold=p_threshold, reader=reader, clump_r2=clump_r2,
                                         clump_kb=clump_kb, source=out_src)
            rev_h = harmonise(rev_ins, exp_ss, action=action, tolerance=tolerance,
                              exposure_name=outcome_name, outcome_name=exposure_name)
            rev = run_mr(rev_h, methods=["ivw", "egger", "weighted_median", "weighted_mode"], params=params)
        except Exception as exc:  # noqa: BLE001 - reverse MR is optional; record why it was not run
            log.warning("reverse MR not run: %s", exc)
            rev = pd.DataFrame([{"exposure": outcome_name, "outcome": exposure_name, "method": "ivw",
                                 "nsnp": 0, "note": f"not run: {exc}"}])
        tables["reverse_mr"] = write_table(rev, out / "reverse_mr.tsv")
    figures: list[Path] = []
    if plots:
        from bma_genetics.plots import mr as mrplots

        fig_dir = out / "figures"
        title = f"{h['exposure'].iloc[0]} -> {h['outcome'].iloc[0]}"
        figures += mrplots.save_figure(mrplots.plot_scatter(h, res, title=title), fig_dir / "scatter")
        figures += mrplots.save_figure(mrplots.plot_single_snp_forest(single, title=title), fig_dir / "single_snp_forest")
        figures += mrplots.save_figure(mrplots.plot_funnel(single, title=title), fig_dir / "funnel")
        figures += mrplots.save_figure(mrplots.plot_leave_one_out(loo, title=title), fig_dir / "leave_one_out")
    ivw = res[res["method"] == "ivw"]
    summary = {
        "tables": {k: str(v) for k, v in tables.items()},
        "figures": [str(f) for f in figures],
        "n_instruments": int(n_instruments),
        "n_used": n_used,
        "ivw": {k: float(ivw[k].iloc[0]) for k in ("b", "se", "ci_low", "ci_high", "p_value")} if len(ivw) else None,
    }
    run_info = {"exposure": str(exposure) if not isinstance(exposure, pd.DataFrame) else "table",
                "outcome": str(outcome) if not isinstance(outcome, pd.DataFrame) else "table",
                "harmonised": str(harmonised) if harmonised is not None and not isinstance(harmonised, pd.DataFrame) else None,
                "p_threshold": p_threshold, "ld_reference": str(ld_reference) if ld_reference is not None else None,
                "clump_r2": clump_r2, "clump_kb": clump_kb, "proxies": proxies, "proxy_r2": proxy_r2,
                "action": action, "tolerance": tolerance, "methods": methods,
                "params": params.__dict__, "summary": summary}
    write_text(out / "run.json", json.dumps(run_info, indent=2, default=str))
    log.info("MR %s -> %s: %d instruments, %d used; IVW b=%s", h["exposure"].iloc[0], h["outcome"].iloc[0],
             n_instruments, n_used, None if summary["ivw"] is None else round(summary["ivw"]["b"], 4))
    return summary

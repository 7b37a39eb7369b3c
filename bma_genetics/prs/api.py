"""Polygenic scores from summary statistics: the ``prs`` stage's jobs.

==============  ===========================================================  ======================
job             what                                                         matches
==============  ===========================================================  ======================
run_prs         weights (C+T over a P grid, PRS-CS), scores of a target       PRSice's C+T grid,
                sample, R^2 / AUC on a held-out part, the best C+T threshold  PRS-CS (Ge 2019)
score_genotypes scores of any people from BGEN / PLINK in one streaming pass plink2 ``--score``
==============  ===========================================================  ======================

The target sample is people outside the GWAS (in UK Biobank: the participants who were not
imaged, withdrawals removed, as Wu 2025 scored ~300,000 non-imaged participants). It is split at
random (seeded) into a validation part, where the C+T threshold with the best R^2 (continuous
outcome) or AUC (binary) is chosen, and a test part where every score is reported.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bma_genetics._check import fail
from bma_genetics._result import StageResult
from bma_genetics.ld.readers import GenotypeReader
from bma_genetics.prs.ct import DEFAULT_THRESHOLDS, ct_weights, threshold_name
from bma_genetics.prs.metrics import auc_score, r2_score
from bma_genetics.prs.prscs import PRSCSParameters, prscs_weights
from bma_genetics.prs.score import ScoreResult, score_genotypes

log = logging.getLogger(__name__)

#: Score methods ``run_prs`` builds.
METHODS: tuple[str, ...] = ("ct", "prscs")

_KEY_COLS = ["chromosome", "base_pair_location", "effect_allele", "other_allele"]


@dataclass
class PRSResult(StageResult):
    """Scores of a target sample and how well they predict.

    Attributes
    ----------
    table : DataFrame
        One row per trait and score (``docs/prs.md``): ``trait, score, method, p_threshold,
        n_variants, n_validation, n_test, metric, validation, test, selected`` (+ ``auc_*``
        and ``r2_*`` columns, ``r2_truth`` when a truth table was given).
    weights : dict of str to DataFrame
        Per trait: the weight table (``variant_id, chromosome, base_pair_location,
        effect_allele, other_allele`` and one column per score).
    scores : ScoreResult
        The plink2 ``.sscore`` table of every target person (score columns ``<trait>.<score>``)
        and the alignment report.
    split : DataFrame
        ``eid, part`` (``validation`` / ``test``).
    """

    weights: dict[str, pd.DataFrame] = field(default_factory=dict)
    scores: ScoreResult | None = None
    split: pd.DataFrame = field(default_factory=pd.DataFrame)


def _combine(weights: Mapping[str, pd.DataFrame], columns: Mapping[str, list[str]]) -> pd.DataFrame:
    """One weight table over every trait: rows keyed by variant, named as the first trait names
    them. A later trait's row is the same variant when chromosome, position and allele pair agree
    (in either order, or on the other strand, as :mod:`bma_genetics.prs.align` matches): it takes
    the earlier naming, its weights' sign turned where it names the other allele. Another allele
    pair at the same position (a multi-allelic site) stays a row of its own."""
    from bma_genetics.prs.align import _COMPLEMENT, _key

    frames = []
    for trait, w in weights.items():
        f = w[[*_KEY_COLS, *columns[trait]]].rename(columns={c: f"{trait}.{c}" for c in columns[trait]})
        frames.append(f)
    out = frames[0]
    for f in frames[1:]:
        f = f.reset_index(drop=True).copy()
        o = pd.DataFrame({"key": _key(out["chromosome"], out["base_pair_location"]), "oi": np.arange(len(out)),
                          "oe": out["effect_allele"].astype(str).str.upper().to_numpy(),
                          "oo": out["other_allele"].astype(str).str.upper().to_numpy()})
        m = pd.DataFrame({"key": _key(f["chromosome"], f["base_pair_location"]), "fi": np.arange(len(f)),
                          "fe": f["effect_allele"].astype(str).str.upper().to_numpy(),
                          "fo": f["other_allele"].astype(str).str.upper().to_numpy()}).merge(o, on="key")
        ce, co = m["fe"].str.translate(_COMPLEMENT), m["fo"].str.translate(_COMPLEMENT)
        # the literal match first (a strand-ambiguous pair is taken as written), then the other strand
        rank = np.select([(m.fe == m.oe) & (m.fo == m.oo), (m.fe == m.oo) & (m.fo == m.oe),
                          (ce == m.oe) & (co == m.oo), (ce == m.oo) & (co == m.oe)], [0, 1, 2, 3], -1)
        m = m.assign(rank=rank)
        m = m[m["rank"] >= 0].sort_values(["fi", "rank"], kind="stable").drop_duplicates("fi")
        fi, oi = m["fi"].to_numpy(), m["oi"].to_numpy()
        swap = np.zeros(len(f), dtype=bool)
        swap[fi] = np.isin(m["rank"].to_numpy(), (1, 3))
        wcols = [c for c in f.columns if c not in _KEY_COLS]
        f.loc[swap, wcols] = -f.loc[swap, wcols]
        for c in ("chromosome", "effect_allele", "other_allele"):
            f[c] = f[c].astype(object)
            f.loc[fi, c] = out[c].astype(object).to_numpy()[oi]
        out = out.merge(f, on=_KEY_COLS, how="outer")
    wcols = [c for c in out.columns if c not in _KEY_COLS]
    out[wcols] = out[wcols].fillna(0.0)
    return out


def _split(eids: Sequence[str], fraction: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng([int(seed), 17])
    eids = np.asarray(list(eids), dtype=object)
    order = rng.permutation(len(eids))
    n_val = int(round(fraction * len(eids)))
    part = np.where(np.arange(len(eids)) < n_val, "validation", "test")
    return pd.DataFrame({"eid": eids[order], "part": part}).sort_values("eid").reset_index(drop=True)


def run_prs(
    sumstats: Mapping[str, pd.DataFrame],
    *,
    ld: GenotypeReader,
    target: GenotypeReader,
    target_samples: Sequence[str] | None = None,
    outcome: pd.DataFrame | None = None,
    outcome_column: str | None = None,
    binary: bool | None = None,
    truth: pd.DataFrame | None = None,
    methods: Sequence[str] = METHODS,
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
    clump_r2: float = 0.1,
    clump_kb: float = 250,
    prscs: PRSCSParameters = PRSCSParameters(),
    max_block_snps: int = 500,
    block_gap_kb: float = 500,
    blocks: pd.DataFrame | None = None,
    validation_fraction: float = 0.5,
    keep_ambiguous: bool = False,
    max_mismatch: float = 0.1,
    seed: int = 0,
    out: str | os.PathLike | None = None,
) -> PRSResult:
    """Build scores per trait, score the target people and measure their prediction.

    Parameters
    ----------
    sumstats : mapping of str to DataFrame
        Trait -> summary statistics (:func:`bma_genetics.io.read_sumstats`).
    ld : GenotypeReader
        LD source for clumping and PRS-CS's blocks (:func:`bma_genetics.ld.open_ld_source`):
        the GWAS's analysed samples, or a panel covering the chromosomes.
    target : GenotypeReader
        The target genotypes (BGEN dosages or PLINK).
    target_samples : sequence of str, optional
        The people to score (default: every sample of ``target``).
    outcome : DataFrame, optional
        ``eid`` and ``outcome_column``: a continuous trait (R^2) or 0/1 case status (AUC, and R^2
        as the squared point-biserial correlation); people without a value are scored, not
        evaluated.
    outcome_column : str, optional
        Default: the one column of ``outcome`` besides ``eid``.
    binary : bool, optional
        Default: the outcome holds only 0 and 1.
    truth : DataFrame, optional
        ``eid`` and one column per trait (e.g. the simulator's true BMFF): ``r2_truth`` of each
        score with its trait over every target person (recovery of simulated truth).
    methods : sequence of {"ct", "prscs"}, default=("ct", "prscs")
    thresholds : sequence of float, default=DEFAULT_THRESHOLDS
        C+T P thresholds.
    clump_r2, clump_kb : float, default=0.1, 250
        Clumping r^2 and window (PLINK's ``--clump-r2``, ``--clump-kb``).
    prscs : PRSCSParameters
        PRS-CS settings (a, b, phi, n_iter, n_burnin, thin, seed).
    max_block_snps, block_gap_kb, blocks
        PRS-CS's LD blocks (:func:`bma_genetics.prs.prscs.ld_blocks`, or a BED of blocks).
    validation_fraction : float, default=0.5
        Share of the target people (with an outcome) in the validation part.
    keep_ambiguous, max_mismatch
        Allele alignment (:func:`bma_genetics.prs.align.align_to_reader`).
    seed : int, default=0
        Seed of the validation/test split.
    out : path-like, optional
        Folder for ``weights/<trait>.tsv``, ``scores.sscore``, ``prs_results.tsv``,
        ``missing_variants.tsv`` and ``split.tsv``.

    Returns
    -------
    PRSResult

    Raises
    ------
    InputError
        Unknown method; no summary statistics; no variant in common with the LD source or the
        target; allele mismatches beyond ``max_mismatch``; an outcome without ``eid``.
    """
    where = "run_prs"
    if not isinstance(sumstats, Mapping) or not sumstats:
        raise fail(f"{where}/sumstats", "expected a mapping trait -> summary statistics")
    bad = [m for m in methods if m not in METHODS]
    if bad or not methods:
        raise fail(f"{where}/methods", f"{bad or list(methods)}: expected some of {list(METHODS)}")
    if not 0 < validation_fraction < 1:
        raise fail(f"{where}/validation_fraction", f"expected a fraction in (0, 1), found {validation_fraction}")
    weights: dict[str, pd.DataFrame] = {}
    columns: dict[str, list[str]] = {}
    chains: dict[str, Any] = {}
    for trait, ss in sumstats.items():
        parts = []
        cols: list[str] = []
        if "ct" in methods:
            ct = ct_weights(ss, ld, thresholds=thresholds, r2=clump_r2, window_kb=clump_kb)
            cols += [threshold_name(t) for t in sorted(thresholds)]
            parts.append(ct)
        if "prscs" in methods:
            res = prscs_weights(ss, ld, params=prscs, max_gap_kb=block_gap_kb, max_block_snps=max_block_snps,
                                blocks=blocks, keep_ambiguous=keep_ambiguous, max_mismatch=max_mismatch)
            chains[trait] = res.chains
            cols.append("prscs")
            parts.append(res.table[[c for c in ("variant_id", *_KEY_COLS, "prscs") if c in res.table]])
        w = parts[0]
        for extra in parts[1:]:
            w = w.merge(extra, on=[c for c in ("variant_id", *_KEY_COLS) if c in w and c in extra], how="outer")
        keep = [c for c in ("variant_id", *_KEY_COLS, *cols) if c in w.columns]
        w = w[keep].copy()
        w[cols] = w[cols].fillna(0.0)
        weights[trait] = w
        columns[trait] = cols
    combined = _combine(weights, columns)
    score_cols = [c for c in combined.columns if c not in _KEY_COLS]
    scores = score_genotypes(combined, target, score_columns=score_cols, samples=target_samples,
                             keep_ambiguous=keep_ambiguous, max_mismatch=max_mismatch)
    sc = scores.table
    eids = sc["IID"].astype(str)
    rows: list[dict[str, Any]] = []
    split = pd.DataFrame(columns=["eid", "part"])
    metric = None
    y = None
    if outcome is not None:
        if "eid" not in outcome.columns:
            raise fail(f"{where}/outcome", f"expected an eid column, found {list(outcome.columns)}")
        if outcome_column is None:
            others = [c for c in outcome.columns if c != "eid"]
            if len(others) != 1:
                raise fail(f"{where}/outcome_column", f"name the outcome among {others}")
            outcome_column = others[0]
        y_all = outcome.assign(eid=outcome["eid"].astype(str)).drop_duplicates("eid").set_index("eid")[outcome_column]
        y = pd.to_numeric(y_all.reindex(eids), errors="coerce").to_numpy(float)
        if binary is None:
            vals = set(np.unique(y[np.isfinite(y)]).tolist())
            binary = vals <= {0.0, 1.0}
        metric = "auc" if binary else "r2"
        have = eids[np.isfinite(y)].to_numpy()
        split = _split(have, validation_fraction, seed)
    part = eids.map(dict(zip(split["eid"], split["part"], strict=True))) if len(split) else pd.Series("", index=eids.index)
    tr = None
    if truth is not None:
        tr = truth.assign(eid=truth["eid"].astype(str)).drop_duplicates("eid").set_index("eid").reindex(eids)
    for trait, cols in columns.items():
        nz = {c: int((weights[trait][c] != 0).sum()) for c in cols}
        for c in cols:
            x = sc[f"{trait}.{c}_SUM"].to_numpy()
            row: dict[str, Any] = {"trait": trait, "score": f"{trait}.{c}",
                                   "method": "prscs" if c == "prscs" else "ct",
                                   "p_threshold": np.nan if c == "prscs" else float(c.removeprefix("ct_")),
                                   "n_variants": nz[c]}
            if y is not None:
                for name in ("validation", "test"):
                    m = (part == name).to_numpy() & np.isfinite(y)
                    row[f"n_{name}"] = int(m.sum())
                    row[f"r2_{name}"] = r2_score(x[m], y[m])
                    if binary:
                        row[f"auc_{name}"] = auc_score(x[m], y[m])
                        row[f"n_cases_{name}"] = int(np.nansum(y[m]))
            if tr is not None and trait in tr.columns:
                row["r2_truth"] = r2_score(x, tr[trait].to_numpy(float))
            rows.append(row)
    table = pd.DataFrame(rows)
    table["selected"] = False
    best: dict[str, str] = {}
    if metric is not None and len(table):
        key = f"{metric}_validation"
        for trait, grp in table[table["method"] == "ct"].groupby("trait", sort=False):
            vals = grp[key].where(grp["n_variants"] > 0)
            if vals.notna().any():
                i = vals.idxmax()
                table.loc[i, "selected"] = True
                best[str(trait)] = str(table.loc[i, "score"])
        table.loc[table["method"] == "prscs", "selected"] = True
    files: dict[str, Path] = {}
    missing = scores.missing
    if out is not None:
        from bma_genetics.io.prs import write_prs_results, write_prs_weights, write_sscore

        out = Path(out)
        for trait, w in weights.items():
            files[f"weights/{trait}"] = write_prs_weights(w, out / "weights" / f"{trait}.tsv")
        files["scores"] = write_sscore(sc, out / "scores.sscore")
        files["results"] = write_prs_results(table, out / "prs_results.tsv")
        from bma_genetics._atomic import write_table

        files["missing_variants"] = write_table(missing, out / "missing_variants.tsv")
        if len(split):
            files["split"] = write_table(split, out / "split.tsv")
    report: dict[str, Any] = {
        "traits": list(columns), "methods": list(methods), "thresholds": [float(t) for t in sorted(thresholds)],
        "clump_r2": clump_r2, "clump_kb": clump_kb, "n_target": int(len(sc)),
        "metric": metric, "outcome": outcome_column, "best_ct": best,
        "alignment": {k: v for k, v in scores.report.items() if k.startswith("n_")},
        "prscs": {"a": prscs.a, "b": prscs.b, "phi": "learnt" if prscs.phi is None else prscs.phi,
                  "n_iter": prscs.n_iter, "n_burnin": prscs.n_burnin, "thin": prscs.thin, "seed": prscs.seed,
                  "chains": chains} if "prscs" in methods else None,
    }
    if metric is not None:
        report["n_validation"] = int((split["part"] == "validation").sum())
        report["n_test"] = int((split["part"] == "test").sum())
        if binary:
            report["n_cases"] = int(np.nansum(y))
        report["test"] = {r["score"]: r.get(f"{metric}_test") for r in table[table["selected"]].to_dict("records")}
    return PRSResult(table, files, report, weights, scores, split)


__all__ = ["METHODS", "PRSCSParameters", "PRSResult", "run_prs", "score_genotypes"]

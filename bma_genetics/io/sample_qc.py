"""Standard genetic sample QC from UK Biobank fields, each step counted.

The steps follow UK Biobank's genotyping QC (Bycroft et al. 2018, Nature 562:203) as applied
in most UK Biobank GWAS (e.g. the Neale lab and Pan-UKB pipelines):

=====================  ===========  ==========================================================
step                   field(s)     removes
=====================  ===========  ==========================================================
``no_genetic_data``    22001        participants without genotypes (genetic sex missing)
``sex_mismatch``       31, 22001    reported sex differs from genetic sex
``sex_aneuploidy``     22019        putative sex-chromosome aneuploidy (22019 = 1)
``het_missing``        22027        heterozygosity / missing-rate outliers (22027 = 1)
``not_in_pca``         22020        not used in the genetic PCs (only with ``require_used_in_pca``)
``ancestry``           22006 / PCs  ancestry other than ``ancestry_keep``
``excess_relatives``   22021        ten or more third-degree relatives (22021 = 10)
``related``            kinship      one of each related pair (``ukb_rel.dat``), greedily
=====================  ===========  ==========================================================

Every step reports ``flagged`` (how many of the input meet its criterion, regardless of other
steps) and ``removed`` (how many it removed from those still in, in the order above).
"""

from __future__ import annotations

import heapq
import logging
import os
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from bma_genetics._check import check_one_of, check_positive
from bma_genetics.errors import InputError
from bma_genetics.io._schema import read_text_table
from bma_genetics.io.ukb import UKBData, get_field

log = logging.getLogger(__name__)

QC_STEPS: tuple[str, ...] = (
    "no_genetic_data",
    "sex_mismatch",
    "sex_aneuploidy",
    "het_missing",
    "not_in_pca",
    "ancestry",
    "excess_relatives",
    "related",
)
_STEP_FIELDS = {
    "no_genetic_data": (22001,),
    "sex_mismatch": (31, 22001),
    "sex_aneuploidy": (22019,),
    "het_missing": (22027,),
    "not_in_pca": (22020,),
    "excess_relatives": (22021,),
}
#: 21000 top-level group -> ancestry label (Pan-UKB style continental codes).
_SELF_REPORTED = {"1": "EUR", "2": "MIX", "3": "CSA", "4": "AFR", "5": "EAS", "6": "OTH"}
ANCESTRY_LABELS = ("EUR", "AFR", "CSA", "EAS", "MIX", "OTH")


def read_kinship(path: str | os.PathLike) -> pd.DataFrame:
    """Read UK Biobank's relatedness file (``ukb_rel.dat``; KING kinship per related pair).

    Returns
    -------
    DataFrame
        ``ID1`` (str), ``ID2`` (str), ``Kinship`` (float64), plus ``HetHet``/``IBS0`` if present.

    Raises
    ------
    InputError
        Missing file, missing columns, or a non-numeric kinship (naming file and value).
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"read_kinship/path: no such file {path}")
    df = read_text_table(path, where="read_kinship/path", sep=r"\s+", dtype=str)
    miss = [c for c in ("ID1", "ID2", "Kinship") if c not in df.columns]
    if miss:
        raise InputError(f"read_kinship/path: {path} lacks column(s) {miss}; it has {list(df.columns)}")
    kin = pd.to_numeric(df["Kinship"], errors="coerce")
    if kin.isna().any():
        bad = df.loc[kin.isna(), "Kinship"].iloc[0]
        line = int(kin.isna().to_numpy().nonzero()[0][0]) + 2
        raise InputError(f"read_kinship/path: {path} column 'Kinship' line {line}: {bad!r} is not a number")
    outside = ~((kin >= -1) & (kin <= 1)).to_numpy()
    if outside.any():
        line = int(outside.nonzero()[0][0]) + 2
        raise InputError(f"read_kinship/path: {path} column 'Kinship' line {line}: {df['Kinship'].iloc[line - 2]!r} "
                         "is not a kinship coefficient (expected -1 to 1; KING's are at most 0.5)")
    df["Kinship"] = kin.astype("float64")
    for c in ("HetHet", "IBS0"):
        if c in df.columns:
            df[c] = pd.to_numeric(df[c], errors="coerce")
    df["ID1"] = df["ID1"].str.strip()
    df["ID2"] = df["ID2"].str.strip()
    return df


def assign_ancestry(
    data: UKBData,
    method: str = "22006",
    *,
    n_pcs: int = 10,
    pc_sd: float = 6.0,
) -> pd.Series:
    """Label each participant's genetic ancestry.

    Parameters
    ----------
    data : UKBData
        Needs 22006 (method ``"22006"``) or 22009 (method ``"pcs"``); 21000 is used when present.
    method : {"22006", "pcs"}, default="22006"
        ``"22006"``: ``EUR`` where the genetic ethnic grouping is Caucasian (22006 = 1), else the
        top level of self-reported ethnicity 21000 (White -> ``OTH`` because not in the genetic
        cluster, Mixed -> ``MIX``, Asian -> ``CSA``, Black -> ``AFR``, Chinese -> ``EAS``,
        other/unknown -> ``OTH``). ``"pcs"``: ``EUR`` where each of ``pc1..pc{n_pcs}`` is within
        ``pc_sd`` standard deviations of the mean of the self-reported White British (21000 =
        1001, or 22006 = 1 when 21000 is absent); others take the nearest (in those SD units)
        self-reported group centroid among AFR/CSA/EAS within the same bound, else ``OTH``.
    n_pcs : int, default=10
    pc_sd : float, default=6.0

    Returns
    -------
    Series of str
        Indexed by ``eid``, values in ``EUR, AFR, CSA, EAS, MIX, OTH``.
    """
    check_one_of("assign_ancestry/method", method, ("22006", "pcs"))
    check_positive("assign_ancestry/pc_sd", pc_sd)
    idx = data.frame.index
    self_rep = pd.Series("OTH", index=idx, dtype=object)
    ethnic_code = pd.Series(np.nan, index=idx, dtype=object)
    if data.has(21000, 0):
        codes = get_field(data, 21000, 0, coding="codes")
        present = codes.dropna()
        ethnic_code = pd.Series(np.nan, index=idx, dtype=object)
        if pd.api.types.is_float_dtype(present):
            ethnic_code.loc[present.index] = present.astype(np.int64).astype(str)
        else:
            ethnic_code.loc[present.index] = present.astype(str)
        cod = data.dictionary.coding(1001)
        top = ethnic_code.map({c: cod.top_level(c) for c in cod.meanings})
        self_rep = top.map(_SELF_REPORTED).fillna("OTH").astype(object)
    if method == "22006":
        if not data.has(22006, 0):
            raise InputError(f"assign_ancestry/method: {data.source} has no field 22006; use method='pcs'")
        g = get_field(data, 22006, 0, coding="codes")
        out = self_rep.where(self_rep != "EUR", "OTH")
        return out.where(g != 1, "EUR").rename("ancestry")
    if not data.has(22009, 0):
        raise InputError(f"assign_ancestry/method: {data.source} has no field 22009 (genetic PCs)")
    pcs = get_field(data, 22009, 0)
    pcs = pcs if isinstance(pcs, pd.DataFrame) else pcs.to_frame("pc1")
    cols = [f"pc{i}" for i in range(1, n_pcs + 1) if f"pc{i}" in pcs.columns]
    if len(cols) < n_pcs:
        raise InputError(f"assign_ancestry/n_pcs: {data.source} has only {len(cols)} PCs (22009), asked for {n_pcs}")
    x = pcs[cols].to_numpy(dtype=float)
    if (ethnic_code == "1001").sum() >= 10:
        ref = (ethnic_code == "1001").to_numpy()
    elif data.has(22006, 0):
        ref = (get_field(data, 22006, 0, coding="codes") == 1).to_numpy()
    else:
        raise InputError(f"assign_ancestry/method: {data.source} has neither 21000 nor 22006 to anchor the EUR cluster")

    def box_distance(members: np.ndarray) -> np.ndarray:
        mu = np.nanmean(x[members], axis=0)
        sd = np.nanstd(x[members], axis=0, ddof=1)
        sd[~(sd > 0)] = np.inf
        return np.nanmax(np.abs(x - mu) / sd, axis=1)

    out = pd.Series("OTH", index=idx, dtype=object, name="ancestry")
    best = np.full(len(idx), np.inf)
    for label in ("AFR", "CSA", "EAS"):
        members = (self_rep == label).to_numpy() & np.isfinite(x).all(axis=1)
        if members.sum() < 10:
            continue
        d = box_distance(members)
        take = (d < pc_sd) & (d < best)
        out[take] = label
        best = np.where(take, d, best)
    eur = box_distance(ref & np.isfinite(x).all(axis=1)) < pc_sd
    out[eur] = "EUR"
    out[~np.isfinite(x).all(axis=1)] = "OTH"
    return out


def _phenotype_set(phenotype, where: str) -> set[str]:
    if phenotype is None:
        return set()
    if isinstance(phenotype, pd.DataFrame):
        if "eid" not in phenotype.columns:
            raise InputError(f"{where}: a phenotype table needs an 'eid' column")
        value_cols = [c for c in phenotype.columns if c != "eid"]
        has = phenotype[value_cols].notna().any(axis=1) if value_cols else pd.Series(True, index=phenotype.index)
        return set(phenotype.loc[has, "eid"].astype(str))
    if isinstance(phenotype, pd.Series):
        if phenotype.dtype == bool:
            return set(phenotype.index[phenotype].astype(str))
        return set(phenotype.index[phenotype.notna()].astype(str))
    return {str(e) for e in phenotype}


def unrelated_set(
    pairs: pd.DataFrame,
    candidates: Iterable[str],
    *,
    phenotype: Iterable[str] | None = None,
    kinship_threshold: float = 0.0442,
) -> set[str]:
    """Remove the fewest people (greedily) so no related pair remains, keeping the phenotyped.

    Among ``candidates``, pairs with kinship >= ``kinship_threshold`` form a graph. Nodes are
    removed one at a time: first people without the phenotype, highest remaining number of
    relatives first (ties: the larger eid); once no unphenotyped person has a relative left,
    phenotyped ones likewise. A last pass adds back any removed person none of whose relatives
    was kept, so the kept set is a maximal unrelated set (the greedy approach of plink2's
    ``--king-cutoff``, with the phenotype preference UK Biobank GWAS use).

    Returns
    -------
    set of str
        The eids removed.
    """
    cand = {str(e) for e in candidates}
    pheno = {str(e) for e in phenotype} if phenotype is not None else set()
    p = pairs[pairs["Kinship"] >= kinship_threshold]
    adj: dict[str, set[str]] = defaultdict(set)
    for a, b in zip(p["ID1"].astype(str), p["ID2"].astype(str), strict=True):
        if a != b and a in cand and b in cand:
            adj[a].add(b)
            adj[b].add(a)
    # heap of (has phenotype, -degree, -eid order) -> pops unphenotyped, most-related first
    order = {e: i for i, e in enumerate(sorted(adj, key=lambda s: (len(s), s)))}
    heap = [(e in pheno, -len(nb), -order[e], e) for e, nb in adj.items()]
    heapq.heapify(heap)
    removed: list[str] = []
    gone: set[str] = set()
    while heap:
        has, negdeg, _, e = heapq.heappop(heap)
        if e in gone:
            continue
        deg = len(adj[e])
        if deg == 0:
            continue
        if deg != -negdeg:  # stale entry: re-queue with the current degree
            heapq.heappush(heap, (has, -deg, -order[e], e))
            continue
        gone.add(e)
        removed.append(e)
        for nb in adj[e]:
            adj[nb].discard(e)
            heapq.heappush(heap, (nb in pheno, -len(adj[nb]), -order[nb], nb))
        adj[e] = set()
    # restore maximality: re-add removed people with no kept relative (phenotyped first)
    full: dict[str, set[str]] = defaultdict(set)
    for a, b in zip(p["ID1"].astype(str), p["ID2"].astype(str), strict=True):
        if a != b and a in cand and b in cand:
            full[a].add(b)
            full[b].add(a)
    for e in sorted(removed, key=lambda s: (s not in pheno, s)):
        if not any(nb not in gone for nb in full[e]):
            gone.discard(e)
    return gone


def run_sample_qc(
    data: UKBData,
    *,
    ancestry: str | None = "22006",
    ancestry_keep: str | Iterable[str] | None = "EUR",
    kinship: str | os.PathLike | pd.DataFrame | None = None,
    phenotype: Iterable[str] | pd.Series | pd.DataFrame | None = None,
    kinship_threshold: float = 0.0442,
    require_used_in_pca: bool = False,
    remove_excess_relatives: bool = True,
    steps: Iterable[str] | None = None,
    n_pcs: int = 10,
    pc_sd: float = 6.0,
) -> tuple[pd.Index, pd.DataFrame]:
    """Apply UK Biobank's standard genetic sample QC; count every step.

    Parameters
    ----------
    data : UKBData
        Participants with (at instance 0) 31, 22001, 22019, 22027, 22020, 22006/22009, 22021.
        Withdrawn participants should already be removed (``read_ukb(withdrawals=...)``).
    ancestry : {"22006", "pcs"} or None, default="22006"
        How to assign ancestry (:func:`assign_ancestry`); ``None`` skips the ancestry step.
    ancestry_keep : str or list of str or None, default="EUR"
        Ancestry label(s) kept; ``None`` keeps all (a multi-ancestry study).
    kinship : path or DataFrame, optional
        ``ukb_rel.dat`` (or :func:`read_kinship`'s table). Without it the ``related`` step is
        skipped, with a warning when 22021 says relatives exist.
    phenotype : iterable of eids, Series or DataFrame, optional
        Who has the phenotype under study (a Series: non-missing or True; a DataFrame: ``eid``
        and any non-missing value column). In each related pair the phenotyped one is kept.
    kinship_threshold : float, default=0.0442
        Kinship from which a pair counts as related (0.0442 = third degree, the file's floor;
        0.0884 = second degree).
    require_used_in_pca : bool, default=False
        Also remove those not used in the genetic PCs (22020 != 1). That set is an unrelated
        subset chosen without regard to the phenotype, so by default it is only counted.
    remove_excess_relatives : bool, default=True
        Remove those with ten or more third-degree relatives (22021 = 10).
    steps : iterable of str, optional
        Steps to run (from :data:`QC_STEPS`). Default: every step whose fields are present
        (steps whose fields are absent are reported as skipped). Listing a step makes its
        fields required.
    n_pcs, pc_sd : int, float
        Passed to :func:`assign_ancestry` for ``ancestry="pcs"``.

    Returns
    -------
    kept_eids : Index of str
        Participants passing every step, in input order.
    qc_table : DataFrame
        One row per step (the first is ``input``):

        ==========  =======  ======================================================
        column      dtype    meaning
        ==========  =======  ======================================================
        step        str      step name (``input`` then :data:`QC_STEPS` in order)
        fields      str      UK Biobank fields or file used
        criterion   str      what is removed
        flagged     Int64    input participants meeting the criterion (NA: skipped)
        removed     int64    removed at this step from those still in
        remaining   int64    participants left after the step
        ==========  =======  ======================================================

    Examples
    --------
    >>> kept, table = run_sample_qc(data, kinship="genotypes/ukb_rel.dat")  # doctest: +SKIP
    """
    where = "run_sample_qc"
    if ancestry is not None:
        check_one_of(f"{where}/ancestry", ancestry, ("22006", "pcs"))
    if steps is None:
        wanted, required = list(QC_STEPS), set()
    else:
        wanted = [check_one_of(f"{where}/steps", s, QC_STEPS) for s in steps]
        required = set(wanted)
    keep_labels = None
    if ancestry_keep is not None:
        keep_labels = {ancestry_keep} if isinstance(ancestry_keep, str) else set(ancestry_keep)
        for lab in keep_labels:
            check_one_of(f"{where}/ancestry_keep", lab, ANCESTRY_LABELS)
    pheno = _phenotype_set(phenotype, f"{where}/phenotype")
    idx = data.frame.index
    alive = pd.Series(True, index=idx)
    rows = [dict(step="input", fields="", criterion="participants read", flagged=pd.NA, removed=0, remaining=len(idx))]

    def code(field_id: int) -> pd.Series:
        return get_field(data, field_id, 0, coding="codes")

    def record(step: str, fields: str, criterion: str, flag: pd.Series | None, remove: bool = True) -> None:
        if flag is None:
            rows.append(dict(step=step, fields=fields, criterion=criterion + " (skipped)", flagged=pd.NA,
                             removed=0, remaining=int(alive.sum())))
            return
        flag = flag.reindex(idx).fillna(False).astype(bool)
        n_removed = int((flag & alive).sum()) if remove else 0
        if remove:
            alive[flag] = False
        rows.append(dict(step=step, fields=fields, criterion=criterion if remove else criterion + " (counted only)",
                         flagged=int(flag.sum()), removed=n_removed, remaining=int(alive.sum())))
        log.info("sample QC %s: flagged %d, removed %d (reason: %s), %d remain",
                 step, int(flag.sum()), n_removed, step, int(alive.sum()))

    def available(step: str) -> bool:
        missing = [f for f in _STEP_FIELDS.get(step, ()) if not data.has(f, 0)]
        if missing and step in required:
            raise InputError(f"{where}/steps: step {step!r} needs field(s) {missing}, absent from {data.source}")
        if missing:
            log.warning("sample QC %s skipped: field(s) %s absent from %s", step, missing, data.source)
        return not missing

    for step in QC_STEPS:
        if step not in wanted:
            continue
        if step == "no_genetic_data":
            record(step, "22001", "no genotypes (genetic sex missing)",
                   code(22001).isna() if available(step) else None)
        elif step == "sex_mismatch":
            flag = None
            if available(step):
                s, g = code(31), code(22001)
                flag = s.notna() & g.notna() & (s != g)
            record(step, "31,22001", "reported sex != genetic sex", flag)
        elif step == "sex_aneuploidy":
            record(step, "22019", "sex chromosome aneuploidy (22019 = 1)",
                   (code(22019) == 1) if available(step) else None)
        elif step == "het_missing":
            record(step, "22027", "heterozygosity/missing-rate outlier (22027 = 1)",
                   (code(22027) == 1) if available(step) else None)
        elif step == "not_in_pca":
            record(step, "22020", "not used in genetic PCs (22020 != 1)",
                   (code(22020) != 1) if available(step) else None,
                   remove=require_used_in_pca or "not_in_pca" in required)
        elif step == "ancestry":
            if ancestry is None or keep_labels is None:
                record(step, "", "ancestry selection", None)
                continue
            labels = assign_ancestry(data, ancestry, n_pcs=n_pcs, pc_sd=pc_sd)
            fields = "22006,21000" if ancestry == "22006" else "22009,21000"
            record(step, fields, f"ancestry not in {sorted(keep_labels)}", ~labels.isin(keep_labels))
        elif step == "excess_relatives":
            record(step, "22021", "ten or more third-degree relatives (22021 = 10)",
                   (code(22021) == 10) if available(step) and remove_excess_relatives else None)
        elif step == "related":
            if kinship is None:
                if data.has(22021, 0) and (code(22021) >= 1).any():
                    log.warning("sample QC related skipped: 22021 reports relatives but no kinship table "
                                "(ukb_rel.dat) was given; pass kinship=")
                if "related" in required:
                    raise InputError(f"{where}/kinship: step 'related' needs a kinship table (ukb_rel.dat)")
                record(step, "kinship", "one of each related pair", None)
                continue
            pairs = kinship if isinstance(kinship, pd.DataFrame) else read_kinship(kinship)
            for c in ("ID1", "ID2", "Kinship"):
                if c not in pairs.columns:
                    raise InputError(f"{where}/kinship: the kinship table lacks column {c!r}")
            gone = unrelated_set(pairs, idx[alive.to_numpy()], phenotype=pheno, kinship_threshold=kinship_threshold)
            in_pairs = pairs[pairs["Kinship"] >= kinship_threshold]
            involved = set(in_pairs["ID1"].astype(str)) | set(in_pairs["ID2"].astype(str))
            record(step, "kinship", f"one of each related pair (kinship >= {kinship_threshold})",
                   pd.Series(idx.isin(list(gone)), index=idx))
            rows[-1]["flagged"] = int(idx.isin(list(involved)).sum())
    table = pd.DataFrame(rows)
    table["flagged"] = table["flagged"].astype("Int64")
    table["removed"] = table["removed"].astype("int64")
    table["remaining"] = table["remaining"].astype("int64")
    kept = idx[alive.to_numpy()]
    log.info("sample QC: %d of %d participants kept", len(kept), len(idx))
    return kept, table

"""Harmonisation of exposure and outcome effects to the same effect allele (TwoSampleMR rules)."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from bma_genetics._check import check_columns, check_one_of, fail, show_value
from bma_genetics.io.builds import build_of, check_same_build, position_agreement

log = logging.getLogger(__name__)

_COMPLEMENT = str.maketrans("ACGTacgt", "TGCAtgca")

#: Columns of a harmonised table (TwoSampleMR's ``harmonise_data`` output in snake_case).
HARMONISED_COLUMNS: tuple[str, ...] = (
    "snp", "exposure", "outcome", "chromosome", "base_pair_location",
    "effect_allele_exposure", "other_allele_exposure", "effect_allele_outcome", "other_allele_outcome",
    "beta_exposure", "standard_error_exposure", "p_value_exposure", "eaf_exposure", "samplesize_exposure",
    "beta_outcome", "standard_error_outcome", "p_value_outcome", "eaf_outcome", "samplesize_outcome",
    "ncase_outcome", "ncontrol_outcome", "palindromic", "ambiguous", "action", "mr_keep",
    "harmonise_note", "drop_reason",
)

# standard summary-statistics column -> harmonised suffix-less name
_SIDE = {
    "effect_allele": "effect_allele", "other_allele": "other_allele", "beta": "beta",
    "standard_error": "standard_error", "p_value": "p_value", "effect_allele_frequency": "eaf", "n": "samplesize",
}


def _flip(s: pd.Series) -> pd.Series:
    return s.str.translate(_COMPLEMENT)


def _rsids(frame: pd.DataFrame) -> pd.Series:
    """Each row's rsid (``rs<digits>``), NA where the row has none."""
    if "rsid" not in frame:
        return pd.Series(pd.NA, index=frame.index, dtype="string")
    rs = frame["rsid"].astype("string").str.strip()
    return rs.where(rs.str.fullmatch(r"rs[0-9]+").fillna(False).astype(bool))


def _site(frame: pd.DataFrame) -> pd.Series:
    """``chromosome:base_pair_location`` of each row, NA where either is missing."""
    if not {"chromosome", "base_pair_location"} <= set(frame.columns):
        return pd.Series(pd.NA, index=frame.index, dtype="string")
    chrom = frame["chromosome"].astype("string").str.strip().str.removeprefix("chr")
    pos = pd.to_numeric(frame["base_pair_location"], errors="coerce").astype("Int64").astype("string")
    return (chrom + ":" + pos).astype("string")


def _alleles(frame: pd.DataFrame, col: str) -> pd.Series:
    if col not in frame:
        return pd.Series(pd.NA, index=frame.index, dtype="string")
    return frame[col].astype("string").str.strip().str.upper()


def _allele_key(a: pd.Series, b: pd.Series) -> pd.Series:
    """The unordered allele pair, the same on either strand (``A:G`` for A/G, G/A, T/C, C/T)."""
    fa, fb = _flip(a), _flip(b)
    x = np.where((a <= b).fillna(False), a + ":" + b, b + ":" + a)
    y = np.where((fa <= fb).fillna(False), fa + ":" + fb, fb + ":" + fa)
    xs, ys = pd.Series(x, index=a.index, dtype="string"), pd.Series(y, index=a.index, dtype="string")
    return xs.where((xs <= ys).fillna(False), ys)


def _position_keys(frame: pd.DataFrame) -> pd.Series:
    """``chromosome:position:alleles`` (unordered, strand-free), NA without both alleles."""
    return (_site(frame) + ":" + _allele_key(_alleles(frame, "effect_allele"), _alleles(frame, "other_allele")))


def _labels(frame: pd.DataFrame) -> pd.Series:
    """How a row is named in joined tables: its rsid, else ``chr:pos:other:effect``, else its id."""
    site = _site(frame)
    label = site + ":" + _alleles(frame, "other_allele") + ":" + _alleles(frame, "effect_allele")
    label = label.fillna(site)
    for col in ("variant_id", "snp"):
        if col in frame:
            label = label.fillna(frame[col].astype("string"))
    label = _rsids(frame).fillna(label)
    return label.fillna(pd.Series([f"row{i + 1}" for i in range(len(frame))], index=frame.index, dtype="string"))


def _usable(frame: pd.DataFrame) -> bool:
    """Whether any row has an identifier (cheap: no string work on the whole table)."""
    if "rsid" in frame and frame["rsid"].notna().any():
        return True
    if {"chromosome", "base_pair_location"} <= set(frame.columns) and (
            frame["chromosome"].notna() & frame["base_pair_location"].notna()).any():
        return True
    return any(c in frame and frame[c].notna().any() for c in ("variant_id", "snp"))


def check_join_builds(first: pd.DataFrame, second: pd.DataFrame, *, names: tuple[str, str] = ("exposure", "outcome"),
                      where: str = "harmonise/build") -> None:
    """Refuse to join two studies on different genome builds, naming both.

    Each table's build is its ``genome_build`` column (:func:`bma_genetics.io.read_sumstats`).
    When both are known they must be equal. When either is unknown, the positions of the
    variants both tables name by rsid must agree (at least half of them, when 5 or more are
    shared): a table on another build puts almost every shared rsid elsewhere.
    """
    b1 = build_of(first, where, source=names[0])
    b2 = build_of(second, where, source=names[1])
    check_same_build(b1, b2, where=where, names=(f"{names[0]}", f"{names[1]}"))
    if b1 and b2:
        return
    n, same = position_agreement(first, second)
    if n >= 5 and same < 0.5 * n:
        raise fail(where, f"{names[0]} ({b1 or 'build unknown'}) and {names[1]} ({b2 or 'build unknown'}) put "
                          f"{n - same} of {n} shared rsids at different positions: they are on different genome "
                          "builds; state each file's build (build=/--outcome-build) and give a chain file to lift "
                          "one over")
    if n >= 5:
        log.info("%s: %d of %d rsids shared by %s and %s at the same position (build %s)", where, same, n,
                 names[0], names[1], b1 or b2 or "unknown")
    else:
        log.warning("%s: the genome build of %s is not stated and the tables share %d rsid(s), too few to "
                    "compare positions; rows joined on position assume one build (state it: build=/--build)",
                    where, " and ".join(nm for nm, b in zip(names, (b1, b2), strict=True) if not b), n)


def snp_keys(*frames: pd.DataFrame, names: tuple[str, str] | None = None) -> list[pd.Series]:
    """Join keys of two studies, matched row by row; equal keys mean the same variant.

    A row of the first table (the exposure) is matched to a row of the second by rsid when
    both rows have one; a row without an rsid (in either table) by chromosome, position and
    the unordered allele pair on either strand (``1:100:A:G`` matches ``G/A`` and ``C/T``);
    an outcome row that gives only its effect allele by chromosome, position and that allele
    being one of the exposure's. Rows with different rsids are never matched on position.
    Alleles are then checked and aligned by :func:`harmonise`. The builds of the two tables
    must agree (:func:`check_join_builds`). Each first-table row's key is its rsid, else
    ``chromosome:position:other_allele:effect_allele``; second-table rows matched to none get
    ``None``. One table alone gets its row labels. Tables without rsids or
    positions are joined on ``variant_id``/``snp``.

    Parameters
    ----------
    *frames : DataFrame
        One table (its labels) or two (exposure, outcome).
    names : tuple of str, optional
        The two tables' names for error messages (files or labels).

    Returns
    -------
    list of Series
        One key per row of each table (index of that table).
    """
    if len(frames) == 1:
        return [_labels(frames[0])]
    if len(frames) != 2:
        raise fail("snp_keys/frames", f"expected one or two tables, found {len(frames)}")
    first, second = frames
    names = names or ("exposure", "outcome")
    for name, f in zip(names, frames, strict=True):
        if len(f) and not _usable(f):
            raise fail("harmonise/key", f"the tables share no identifier: {name} has no rsid, no chromosome + "
                       "base_pair_location and no variant_id; give every table rsid, or chromosome + "
                       "base_pair_location, or variant_id")
    check_join_builds(first, second, names=names)
    # outcome rows that can match at all (an exposure rsid, or an exposure site): only those are keyed
    whole, cand = second, _candidates(first, second)
    second = whole[cand]
    ekey = _labels(first)
    okey = pd.Series(pd.NA, index=second.index, dtype="string")
    ers, ors = _rsids(first), _rsids(second)
    # 1. rsid on both rows
    by_rsid = ors.notna() & ors.isin(set(ers.dropna()))
    okey[by_rsid] = ors[by_rsid]
    n_rsid = int(by_rsid.sum())
    # 2. chromosome:position:alleles where a row of either table has no rsid
    epos, opos = _position_keys(first), _position_keys(second)
    o_rs_set = set(ors.dropna())
    e_open = epos.notna() & (ers.isna() | ~ers.isin(o_rs_set))
    e_any = dict(zip(epos[e_open], ekey[e_open], strict=True))
    e_no_rs = dict(zip(epos[e_open & ers.isna()], ekey[e_open & ers.isna()], strict=True))
    todo = ~by_rsid & opos.notna()
    hit_any = todo & ors.isna() & opos.isin(set(e_any))
    okey[hit_any] = opos[hit_any].map(e_any)
    hit_norsid = todo & ors.notna() & opos.isin(set(e_no_rs))
    okey[hit_norsid] = opos[hit_norsid].map(e_no_rs)
    n_pos = int(hit_any.sum() + hit_norsid.sum())
    # 3. outcome rows with one allele: that allele (or its complement) is one of the exposure's
    n_one = 0
    one = ~by_rsid & ~(hit_any | hit_norsid) & _alleles(second, "other_allele").isna() & _site(second).notna()
    if one.any():
        site_e = _site(first)
        a1, a2 = _alleles(first, "effect_allele"), _alleles(first, "other_allele")
        table: dict[str, str | None] = {}
        for allele in (a1, a2, _flip(a1), _flip(a2)):
            for k, v in zip(site_e[e_open] + ":" + allele[e_open], ekey[e_open], strict=True):
                if pd.isna(k):
                    continue
                table[k] = v if table.get(k, v) == v else None  # None: two exposure rows share it
        k1 = _site(second) + ":" + _alleles(second, "effect_allele")
        m = one & k1.isin([k for k, v in table.items() if v is not None]) & (ors.isna() | ~ors.isin(set(ers.dropna())))
        okey[m] = k1[m].map(table)
        n_one = int(m.sum())
    if not (ers.notna().any() or epos.notna().any() or _site(first).notna().any()):
        # no rsids and no positions anywhere: the tables' own ids
        for col in ("variant_id", "snp"):
            if col in first and col in whole:
                return [first[col].astype(str), whole[col].astype(str)]
    log.info("snp_keys: %s -> %s: %d row(s) matched by rsid, %d by chromosome:position:alleles, %d by position "
             "and one allele", names[0], names[1], n_rsid, n_pos, n_one)
    keys = np.full(len(whole), None, dtype=object)
    keys[cand] = okey.astype(object).where(okey.notna(), None).to_numpy()
    return [ekey.astype(str), pd.Series(keys, index=whole.index, dtype=object)]


def _candidates(first: pd.DataFrame, second: pd.DataFrame) -> np.ndarray:
    """Rows of ``second`` whose rsid is one of ``first``'s or whose chromosome and position are."""
    mask = np.zeros(len(second), dtype=bool)
    ers = set(_rsids(first).dropna())
    if ers and "rsid" in second:
        mask |= second["rsid"].isin(ers).to_numpy(dtype=bool)
    if {"chromosome", "base_pair_location"} <= set(first.columns) & set(second.columns):
        def sites(f: pd.DataFrame) -> pd.MultiIndex:
            codes, uniques = pd.factorize(f["chromosome"], use_na_sentinel=False)
            names = np.array([str(u).strip().removeprefix("chr") if pd.notna(u) else "" for u in uniques], dtype=object)
            pos = pd.to_numeric(f["base_pair_location"], errors="coerce").fillna(-1).astype(np.int64)
            return pd.MultiIndex.from_arrays([names[codes] if len(names) else np.array([], dtype=object),
                                              pos.to_numpy()])

        mask |= sites(second).isin(sites(first))
    return mask


def snp_key(frame: pd.DataFrame) -> pd.Series:
    """The label of one table's rows (see :func:`snp_keys`)."""
    return snp_keys(frame)[0]


def _side(frame: pd.DataFrame, suffix: str, key: pd.Series) -> pd.DataFrame:
    out = pd.DataFrame({"snp": key.to_numpy()})
    for src, dst in _SIDE.items():
        out[f"{dst}_{suffix}"] = frame[src].to_numpy() if src in frame else np.nan
    if suffix == "outcome":
        for src, dst in (("n_cases", "ncase_outcome"), ("n_controls", "ncontrol_outcome")):
            out[dst] = frame[src].to_numpy() if src in frame else np.nan
    else:
        for c in ("chromosome", "base_pair_location"):
            out[c] = frame[c].to_numpy() if c in frame else np.nan
        if "proxy_snp" in frame:
            out["proxy_snp"] = frame["proxy_snp"].to_numpy()
    if suffix == "outcome":
        for c in ("proxy_snp", "proxy_r2"):
            if c in frame:
                out[c] = frame[c].to_numpy()
    return out


def harmonise(
    exposure: pd.DataFrame,
    outcome: pd.DataFrame,
    *,
    action: int = 2,
    tolerance: float = 0.08,
    exposure_name: str = "exposure",
    outcome_name: str = "outcome",
) -> pd.DataFrame:
    """Align outcome effects to the exposure's effect allele, as TwoSampleMR ``harmonise_data``.

    Examples
    --------
    >>> import pandas as pd
    >>> exp = pd.DataFrame({"rsid": ["rs1"], "effect_allele": ["A"], "other_allele": ["G"],
    ...                     "beta": [0.1], "standard_error": [0.01]})
    >>> out = pd.DataFrame({"rsid": ["rs1"], "effect_allele": ["G"], "other_allele": ["A"],
    ...                     "beta": [0.05], "standard_error": [0.02]})
    >>> harmonise(exp, out)[["snp", "beta_outcome", "harmonise_note", "mr_keep"]]
       snp  beta_outcome   harmonise_note  mr_keep
    0  rs1         -0.05  alleles swapped     True

    Notes
    -----
    For each SNP of ``exposure`` (effect allele A1, other A2) and ``outcome`` (B1, B2):

    1. B1/B2 the other way round -> swap them, negate ``beta_outcome``, ``eaf -> 1 - eaf``.
    2. Not palindromic and still not matching -> flip the outcome's strand (complement), and
       swap again if needed; still no match -> dropped (``alleles do not match``).
    3. Palindromic SNPs (A/T, C/G), by ``action``: ``1`` assume every study is on the forward
       strand (keep palindromes as they are); ``2`` (default) infer the strand from allele frequencies: if the
       exposure and outcome EAF lie on opposite sides of 0.5 the outcome is flipped; if either
       EAF is missing or within 0.5 +- ``tolerance`` (MAF 0.42-0.58 by default) the SNP is
       ambiguous and dropped; ``3`` drop every palindromic SNP.

    SNPs of ``exposure`` absent from ``outcome``, duplicates (the first row is kept), and rows
    with a missing or non-positive SE or a missing beta are kept in the table with
    ``mr_keep=False``; every dropped, swapped or flipped SNP says why in ``drop_reason`` /
    ``harmonise_note``.

    Output schema (one row per exposure SNP):

    ======================================  =======  ===========================================
    column                                  dtype    meaning
    ======================================  =======  ===========================================
    snp                                     str      rsid (or chr:pos) used to join the studies
    exposure, outcome                       str      study labels
    chromosome, base_pair_location          str/int  position of the exposure SNP
    effect_allele_exposure/other_allele_*   str      alleles; outcome alleles after alignment
    beta_*, se_*, pval_*, eaf_*             float    effects; outcome aligned to A1
    samplesize_*, ncase/ncontrol_outcome    float    sample sizes when known
    palindromic, ambiguous                  bool     A/T or C/G; palindromic with EAF near 0.5
    action                                  int      the ``action`` used
    mr_keep                                 bool     used by the estimators
    harmonise_note                          str      ``alleles swapped``, ``strand flipped``, ...
    drop_reason                             str      why ``mr_keep`` is False ("" when kept)
    ======================================  =======  ===========================================

    Parameters
    ----------
    exposure, outcome : DataFrame
        Standard summary-statistics columns (:func:`bma_genetics.mr.read_sumstats`):
        ``effect_allele, other_allele, beta, standard_error`` and an identifier (``rsid`` or
        ``chromosome`` + ``base_pair_location``); ``effect_allele_frequency``, ``p_value``,
        ``n``, ``n_cases``, ``n_controls`` when available.
    action : {1, 2, 3}, default=2
        Palindrome handling (see Notes).
    tolerance : float, default=0.08
        Half-width of the ambiguous EAF band around 0.5.
    exposure_name, outcome_name : str
        Labels written to the ``exposure`` / ``outcome`` columns.

    Returns
    -------
    DataFrame
        The harmonised table (schema above).
    """
    check_one_of("harmonise/action", action, (1, 2, 3))
    if not 0 <= tolerance < 0.5:
        raise fail("harmonise/tolerance", f"expected a value in [0, 0.5), found {tolerance!r}")
    need = ["effect_allele", "other_allele", "beta", "standard_error"]
    check_columns("harmonise/exposure", exposure, need, source="exposure table")
    check_columns("harmonise/outcome", outcome, ["effect_allele", "beta", "standard_error"], source="outcome table")
    if len(exposure) == 0:
        raise fail("harmonise/exposure", "the exposure table has no rows (no instruments)")
    exposure, outcome = exposure.reset_index(drop=True), outcome.reset_index(drop=True)
    ekey, okey = snp_keys(exposure, outcome, names=(exposure_name, outcome_name))
    matched = okey.notna().to_numpy()  # only the outcome rows joined to an exposure row
    outcome, okey = outcome[matched].reset_index(drop=True), okey[matched].reset_index(drop=True)
    ex = _side(exposure, "exposure", ekey)
    oc = _side(outcome, "outcome", okey)
    notes = pd.Series("", index=ex.index, dtype=object)
    reasons = pd.Series("", index=ex.index, dtype=object)
    dup = ex["snp"].duplicated(keep="first")
    reasons[dup] = "duplicate SNP in exposure (first row kept)"
    if oc["snp"].duplicated().any():
        # Several outcome rows per key: multi-allelic sites when joining on positions. Prefer the
        # row whose alleles are the exposure's (either order or strand), else the first.
        alle = ex.drop_duplicates("snp").set_index("snp")[["effect_allele_exposure", "other_allele_exposure"]]
        a = alle.reindex(oc["snp"])
        a1, a2 = a.iloc[:, 0].astype("string").str.upper().to_numpy(), a.iloc[:, 1].astype("string").str.upper().to_numpy()
        b1 = oc["effect_allele_outcome"].astype("string").str.upper()
        b2 = oc["other_allele_outcome"].astype("string").str.upper()
        same = ((b1.to_numpy() == a1) & (b2.to_numpy() == a2)) | ((b1.to_numpy() == a2) & (b2.to_numpy() == a1))
        f1, f2 = _flip(b1).to_numpy(), _flip(b2).to_numpy()
        flipped = ((f1 == a1) & (f2 == a2)) | ((f1 == a2) & (f2 == a1))
        rank = np.where(pd.array(same, dtype="boolean").fillna(False), 0,
                        np.where(pd.array(flipped, dtype="boolean").fillna(False), 1, 2))
        n_dup = int(oc["snp"].duplicated().sum())
        oc = oc.assign(_rank=rank, _order=np.arange(len(oc))).sort_values(["_rank", "_order"], kind="stable")
        oc = oc.drop_duplicates("snp", keep="first").sort_values("_order").drop(columns=["_rank", "_order"])
        log.warning("harmonise: %d extra outcome row(s) share an identifier (multi-allelic sites or duplicates); "
                    "the row with the exposure's alleles is used", n_dup)
    d = ex.merge(oc, on="snp", how="left", indicator=True)
    absent = (d["_merge"] == "left_only").to_numpy()
    d = d.drop(columns="_merge")
    reasons[absent & (reasons == "")] = "absent from outcome"

    for col in ("effect_allele_exposure", "other_allele_exposure", "effect_allele_outcome", "other_allele_outcome"):
        d[col] = d[col].astype("string").str.upper()
    A1, A2 = d["effect_allele_exposure"], d["other_allele_exposure"]
    B1, B2 = d["effect_allele_outcome"].copy(), d["other_allele_outcome"].copy()
    for c in ("beta_exposure", "standard_error_exposure", "beta_outcome", "standard_error_outcome", "eaf_exposure", "eaf_outcome"):
        d[c] = pd.to_numeric(d[c], errors="coerce").astype(float)
    betaB = d["beta_outcome"].to_numpy().copy()
    fB = d["eaf_outcome"].to_numpy().copy()
    fA = d["eaf_exposure"].to_numpy()

    no_a2 = A2.isna().to_numpy() & ~absent
    reasons[no_a2 & (reasons == "")] = "exposure other_allele missing"
    # Outcome files that give only the effect allele (TwoSampleMR's "2-1" case): infer the other
    # one from the exposure; the match is then only as good as the allele frequencies agree.
    miss_b2 = B2.isna() & B1.notna() & A1.notna() & A2.notna()
    one_allele = miss_b2.to_numpy(dtype=bool)
    # A single outcome allele matching neither exposure allele can only be matched by a strand
    # flip, which TwoSampleMR always treats as ambiguous.
    one_flipped = one_allele & ~(B1 == A1).fillna(False).to_numpy(dtype=bool) & ~(B1 == A2).fillna(False).to_numpy(dtype=bool)
    if miss_b2.any():
        fill = pd.Series(pd.NA, index=B2.index, dtype="string")
        fill[miss_b2 & (B1 == A1)] = A2
        fill[miss_b2 & (B1 == A2)] = A1
        fill[miss_b2 & (_flip(B1) == A1)] = _flip(A2)
        fill[miss_b2 & (_flip(B1) == A2)] = _flip(A1)
        B2 = B2.fillna(fill)

    note_arr = np.array(notes.to_numpy(), dtype=object)

    def add_note(mask: np.ndarray, text: str) -> None:
        for i in np.flatnonzero(mask):
            note_arr[i] = f"{note_arr[i]}; {text}" if note_arr[i] else text

    def eq(x: pd.Series, y: pd.Series) -> np.ndarray:
        return (x == y).fillna(False).to_numpy(dtype=bool)

    status = eq(A1, B1) & eq(A2, B2)
    swap = eq(A1, B2) & eq(A2, B1)
    B1, B2 = B1.where(~swap, B2), B2.where(~swap, B1)
    betaB[swap] *= -1
    fB[swap] = 1 - fB[swap]
    add_note(swap, "alleles swapped")
    pal = (((A1 == "A") & (A2 == "T")) | ((A1 == "T") & (A2 == "A"))
           | ((A1 == "G") & (A2 == "C")) | ((A1 == "C") & (A2 == "G"))).fillna(False).to_numpy(dtype=bool)
    status = eq(A1, B1) & eq(A2, B2)
    # TwoSampleMR complements non-palindromic mismatches under every action (1 only changes how
    # palindromes are treated).
    flipstrand = ~pal & ~status & B1.notna().to_numpy() & B2.notna().to_numpy()
    B1 = B1.where(~flipstrand, _flip(B1))
    B2 = B2.where(~flipstrand, _flip(B2))
    status = eq(A1, B1) & eq(A2, B2)
    add_note(flipstrand & (status | (eq(A1, B2) & eq(A2, B1))), "strand flipped")
    swap2 = ~pal & ~status & eq(A1, B2) & eq(A2, B1)
    B1, B2 = B1.where(~swap2, B2), B2.where(~swap2, B1)
    betaB[swap2] *= -1
    fB[swap2] = 1 - fB[swap2]
    add_note(swap2, "alleles swapped")
    status = eq(A1, B1) & eq(A2, B2)
    mismatch = ~status & ~absent
    for i in np.flatnonzero(mismatch & (reasons == "").to_numpy()):
        reasons[i] = (f"alleles do not match (exposure {d.at[i, 'effect_allele_exposure']}/"
                      f"{d.at[i, 'other_allele_exposure']}, outcome {d.at[i, 'effect_allele_outcome']}/"
                      f"{d.at[i, 'other_allele_outcome']})")

    lo, hi = 0.5 - tolerance, 0.5 + tolerance
    tA = np.where(np.isnan(fA), 0.5, fA)
    tB = np.where(np.isnan(fB), 0.5, fB)
    amb = pal & (((tA > lo) & (tA < hi)) | ((tB > lo) & (tB < hi)))
    if action == 2:
        pflip = pal & status & (((tA < 0.5) & (tB > 0.5)) | ((tA > 0.5) & (tB < 0.5)))
        betaB[pflip] *= -1
        fB[pflip] = 1 - fB[pflip]
        add_note(pflip & ~amb, "palindromic: outcome flipped (allele frequencies)")
        for i in np.flatnonzero(amb & status & (reasons == "").to_numpy()):
            reasons[i] = (f"palindromic with ambiguous allele frequency (eaf_exposure={fA[i]:.3g}, "
                          f"eaf_outcome={fB[i]:.3g}; ambiguous within 0.5 +- {tolerance})")
    elif action == 3:
        reasons[pal & (reasons == "").to_numpy()] = "palindromic (action 3 drops all palindromes)"
    if one_allele.any():
        reasons[one_allele & pal & (reasons == "").to_numpy()] = "palindromic and the outcome gives one allele"
        same = ((tA < lo) & (tB < lo)) | ((tA > hi) & (tB > hi))  # after alignment to A1
        if action in (2, 3):
            for i in np.flatnonzero(one_allele & (~same | one_flipped) & (reasons == "").to_numpy()):
                reasons[i] = (f"the outcome gives one allele and the allele frequencies do not confirm the "
                              f"match (eaf_exposure={fA[i]:.3g}, eaf_outcome={fB[i]:.3g})")

    # Mismatched SNPs keep the outcome's alleles as given, so the table shows what was compared.
    d["effect_allele_outcome"] = B1.where(~mismatch, d["effect_allele_outcome"])
    d["other_allele_outcome"] = B2.where(~mismatch, d["other_allele_outcome"])
    d["beta_outcome"], d["eaf_outcome"] = betaB, fB
    for side in ("exposure", "outcome"):
        b, se = d[f"beta_{side}"].to_numpy(), d[f"standard_error_{side}"].to_numpy()
        bad = ~absent & (~np.isfinite(b) | ~np.isfinite(se) | (se <= 0))
        for i in np.flatnonzero(bad & (reasons == "").to_numpy()):
            reasons[i] = f"missing or non-positive SE / missing beta in {side} (beta={b[i]}, se={se[i]})"
        zero = ~absent & (b == 0) & (side == "exposure")
        reasons[zero & (reasons == "").to_numpy()] = "zero exposure effect (ratio undefined)"
    d["palindromic"] = pal
    d["ambiguous"] = amb
    d["action"] = action
    d["exposure"] = exposure_name
    d["outcome"] = outcome_name
    d["harmonise_note"] = note_arr
    d["drop_reason"] = reasons.to_numpy()
    d["mr_keep"] = d["drop_reason"] == ""
    for c in HARMONISED_COLUMNS:
        if c not in d:
            d[c] = np.nan
    extra = [c for c in d.columns if c not in HARMONISED_COLUMNS]
    out = d[list(HARMONISED_COLUMNS) + extra]
    kept = int(out["mr_keep"].sum())
    log.info("harmonise: %d of %d exposure SNPs kept (%s)", kept, len(out),
             out.loc[~out["mr_keep"], "drop_reason"].str.split(" \\(").str[0].value_counts().to_dict())
    return out


_TSMR_RENAMES = {"SNP": "snp", "id.exposure": "id_exposure", "id.outcome": "id_outcome"}

#: TwoSampleMR's (and this package's before the shared vocabulary) names of the harmonised
#: effect columns -> ours (``docs/conventions.md``: ``standard_error``, ``p_value``).
LEGACY_HARMONISED_NAMES = {"se_exposure": "standard_error_exposure", "se_outcome": "standard_error_outcome",
                           "pval_exposure": "p_value_exposure", "pval_outcome": "p_value_outcome"}


def canonical_harmonised_names(frame: pd.DataFrame) -> pd.DataFrame:
    """Rename TwoSampleMR's ``se_*``/``pval_*`` harmonised columns to ours (when ours are absent)."""
    renames = {old: new for old, new in LEGACY_HARMONISED_NAMES.items() if old in frame and new not in frame}
    return frame.rename(columns=renames) if renames else frame


def read_harmonised(path_or_frame: str | pd.DataFrame) -> pd.DataFrame:
    """Read a harmonised table: ours (snake_case) or TwoSampleMR's (``SNP, beta.exposure, ...``).

    Needs ``beta_exposure, standard_error_exposure, beta_outcome, standard_error_outcome`` (dots or underscores);
    alleles, EAF, ``mr_keep``, ``exposure``/``outcome`` labels are optional (``mr_keep``
    defaults to rows with finite effects and positive SEs).
    """
    where = "read_harmonised/path"
    first_line: int | None = None
    if isinstance(path_or_frame, pd.DataFrame):
        df, src = path_or_frame.copy(), "table"
    else:
        from pathlib import Path

        from bma_genetics.io import read_text_table

        p = Path(path_or_frame)
        if not p.exists():
            raise fail(where, f"{p} not found")
        sep = "," if p.name.endswith((".csv", ".csv.gz")) else "\t"
        df, src = read_text_table(p, where=where, sep=sep), str(p)
        first_line = 2
    given = list(df.columns)
    df = df.rename(columns=_TSMR_RENAMES)
    df.columns = [c.replace(".", "_") for c in df.columns]
    df = canonical_harmonised_names(df)
    effects = ["beta_exposure", "standard_error_exposure", "beta_outcome", "standard_error_outcome"]
    missing = [c for c in effects if c not in df]
    if missing:
        tsmr = {v: k.replace("_", ".") for k, v in LEGACY_HARMONISED_NAMES.items()}
        names = [f"{c} (TwoSampleMR: {tsmr.get(c, c.replace('_', '.'))})" for c in missing]
        raise fail(where, f"{src} lacks column(s) {names}; it has {given[:20]}")
    if "snp" not in df:
        df["snp"] = [f"snp{i + 1}" for i in range(len(df))]

    def line(i: int) -> str:
        return f"line {i + first_line}" if first_line is not None else f"row {i + 1}"

    for c in effects:
        num = pd.to_numeric(df[c], errors="coerce")
        text = df[c].astype("string").str.strip()
        bad = (num.isna() & text.notna() & ~text.str.upper().isin(["", "NA", "NAN"])).to_numpy()
        if bad.any():
            i = int(bad.nonzero()[0][0])
            raise fail(where, f"{src} column {given[df.columns.get_loc(c)]!r} {line(i)}: {show_value(df[c].iloc[i])} is not a "
                       f"number ({int(bad.sum())} such cell(s))")
        df[c] = num
    same = df.duplicated()
    if same.any():
        df = df[~same.to_numpy()].reset_index(drop=True)
    if df["snp"].duplicated().any() and "mr_keep" not in df:
        dups = df.loc[df["snp"].duplicated(), "snp"].unique()[:5].tolist()
        raise fail(where, f"{src} lists SNP(s) {dups} more than once with different values; keep one row per SNP "
                   "(or add an mr_keep column that is FALSE on the extra rows)")
    for c in ("standard_error_exposure", "standard_error_outcome"):
        bad = (df[c] <= 0).to_numpy()
        if bad.any():
            i = int(bad.nonzero()[0][0])
            raise fail(where, f"{src} column {given[df.columns.get_loc(c)]!r} {line(i)}: {show_value(df[c].iloc[i])} is not a "
                       f"standard error > 0 ({int(bad.sum())} such value(s))")
    ok = (np.isfinite(df["beta_exposure"]) & np.isfinite(df["beta_outcome"]) & (df["standard_error_exposure"] > 0)
          & (df["standard_error_outcome"] > 0))
    if "mr_keep" in df:
        keep = df["mr_keep"].astype(str).str.upper().isin(["TRUE", "1", "T", "YES"])
    else:
        keep = pd.Series(True, index=df.index)
    reason = pd.Series("", index=df.index, dtype=object)
    reason[~keep] = "mr_keep is FALSE in the input"
    reason[keep & ~ok] = "missing or non-positive SE / missing beta"
    if "mr_keep" in df:
        dup = df["snp"].duplicated(keep=False) & keep & ok
        if dup.any():
            rows = [line(int(i)) for i in dup.to_numpy().nonzero()[0][:2]]
            raise fail(where, f"{src}: SNP {df.loc[dup, 'snp'].iloc[0]!r} is kept (mr_keep) on {rows[0]} and {rows[1]} "
                       "with different values; keep one row per SNP")
    df["drop_reason"] = df.get("drop_reason", pd.Series("", index=df.index)).fillna("").astype(str).where(
        reason == "", reason)
    df["mr_keep"] = df["drop_reason"] == ""
    df["exposure"] = df["exposure"] if "exposure" in df else "exposure"
    df["outcome"] = df["outcome"] if "outcome" in df else "outcome"
    for c in HARMONISED_COLUMNS:
        if c not in df:
            df[c] = np.nan
    return df

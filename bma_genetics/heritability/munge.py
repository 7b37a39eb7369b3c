"""Summary statistics -> LDSC's regression input (``munge_sumstats.py``), vectorised.

From any table :func:`bma_genetics.io.read_sumstats` reads (canonical columns), with the filters
and their order of LDSC 2.0.1's ``munge_sumstats.py``; the number each removes is kept in a
table:

1. rows with a missing value in a used column (INFO excepted);
2. SNPs not in the SNP list (``--merge-alleles``, e.g. HapMap3), when one is given;
3. INFO < ``info_min`` (0.9; a missing INFO fails the filter, as in LDSC);
4. MAF <= ``maf_min`` (0.01) or a frequency outside [0, 1];
5. P outside (0, 1];
6. alleles that are not a strand-unambiguous SNP (A/T and C/G pairs, indels);
7. duplicated SNP ids (first kept);
8. N < ``n_min`` (default: 90th percentile of N / 1.5);
9. with a SNP list: alleles that do not match the list's alleles (strand flips allowed).

Then :math:`Z = \\mathrm{sign}(\\beta) \\sqrt{\\chi^2_{1,\\mathrm{isf}}(P)}`, the sign from ``beta``
(or ``z``, or log ``odds_ratio``): positive when the effect allele increases the trait, as
LDSC's A1. LDSC refuses a signed statistic whose median is more than 0.1 from its null; so
does this.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import special

from bma_genetics._check import fail

_COMPLEMENT = {"A": "T", "T": "A", "C": "G", "G": "C"}


def _upper(alleles: pd.Series) -> pd.Series:
    """``alleles.astype(str).str.upper()``, computed once per distinct allele."""
    codes, uniques = pd.factorize(alleles, use_na_sentinel=False)
    upper = pd.Series(np.asarray(uniques, dtype=object)).astype(str).str.upper().to_numpy(dtype=object)
    return pd.Series(upper[codes], index=alleles.index, dtype=object)


def _valid_snp(a1: pd.Series, a2: pd.Series) -> np.ndarray:
    """A/C/G/T, different, and not each other's complement (strand-unambiguous SNPs)."""
    ok1 = a1.isin(list(_COMPLEMENT)).to_numpy()
    ok2 = a2.isin(list(_COMPLEMENT)).to_numpy()
    comp = a1.map(_COMPLEMENT).to_numpy()
    return ok1 & ok2 & (a1.to_numpy() != a2.to_numpy()) & (comp != a2.to_numpy())


def alleles_match(a1, a2, b1, b2) -> np.ndarray:
    """Whether two valid SNPs have the same alleles, allowing a strand flip and a swap.

    All four must be strand-unambiguous SNP alleles (LDSC's ``MATCH_ALLELES``).
    """
    a1, a2, b1, b2 = (pd.Series(np.asarray(x, dtype=object)).str.upper() for x in (a1, a2, b1, b2))
    valid = _valid_snp(a1, a2) & _valid_snp(b1, b2)
    c1, c2 = b1.map(_COMPLEMENT), b2.map(_COMPLEMENT)
    same = ((a1 == b1) & (a2 == b2)) | ((a1 == c1) & (a2 == c2))
    swap = ((a1 == b2) & (a2 == b1)) | ((a1 == c2) & (a2 == c1))
    return valid & (same | swap).to_numpy()


def alleles_swapped(a1, a2, b1, b2) -> np.ndarray:
    """Whether matching alleles are swapped (A1 of one is A2 of the other, either strand)."""
    a1, a2, b1, b2 = (pd.Series(np.asarray(x, dtype=object)).str.upper() for x in (a1, a2, b1, b2))
    c1, c2 = b1.map(_COMPLEMENT), b2.map(_COMPLEMENT)
    return (((a1 == b2) & (a2 == b1)) | ((a1 == c2) & (a2 == c1))).to_numpy()


@dataclass
class Munged:
    """Munged summary statistics and the count removed at each filter.

    Attributes
    ----------
    table : DataFrame
        ``rsid, effect_allele, other_allele, z, n`` (LDSC's ``SNP A1 A2 Z N``).
    filters : DataFrame
        ``filter, threshold, removed, remaining`` in the order applied.
    settings : dict
        The thresholds used, the signed statistic, the N source.
    """

    table: pd.DataFrame
    filters: pd.DataFrame
    settings: dict = field(default_factory=dict)


def _signed(frame: pd.DataFrame, where: str) -> tuple[str, float]:
    for col, null in (("beta", 0.0), ("z", 0.0), ("odds_ratio", 1.0)):
        if col in frame.columns and frame[col].notna().any():
            return col, null
    raise fail(where, "no signed statistic: the summary statistics need beta, z or odds_ratio")


def munge_sumstats(sumstats: pd.DataFrame, *, snp_list: pd.DataFrame | None = None, info_min: float = 0.9,
                   maf_min: float = 0.01, n_min: float | None = None, n: float | None = None,
                   n_effective: bool = False) -> Munged:
    """Munge canonical summary statistics for LD score regression (LDSC's ``munge_sumstats.py``).

    Parameters
    ----------
    sumstats : DataFrame
        Canonical columns (``io.read_sumstats``): ``effect_allele``, ``other_allele``, ``p_value``,
        one of ``beta`` / ``z`` / ``odds_ratio``, the SNP id in ``rsid`` (or ``variant_id``), and
        ``n`` or ``n_cases`` + ``n_controls`` unless ``n`` is given; ``info`` and
        ``effect_allele_frequency`` are filtered on when present.
    snp_list : DataFrame, optional
        Restrict to these SNPs and check alleles against them (LDSC's ``--merge-alleles``):
        columns ``rsid, a1, a2`` (``resources.load_hapmap3``).
    info_min, maf_min : float, default=0.9, 0.01
        LDSC's ``--info-min`` and ``--maf-min``.
    n_min : float, optional
        Minimum N; default 90th percentile of N / 1.5 (LDSC's).
    n : float, optional
        Sample size for every SNP when the table has none (LDSC's ``--N``).
    n_effective : bool, default=False
        With ``n_cases``/``n_controls``: use :math:`4/(1/N_{ca} + 1/N_{co})` instead of LDSC's
        case-fraction-scaled total.

    Returns
    -------
    Munged

    Raises
    ------
    InputError
        Missing alleles, P, a signed statistic or any N; a signed statistic whose median is far
        from its null; no SNP left after the filters.
    """
    where = "munge_sumstats/sumstats"
    if not isinstance(sumstats, pd.DataFrame):
        raise fail(where, f"expected a DataFrame of summary statistics, found {type(sumstats).__name__}")
    for col in ("effect_allele", "other_allele", "p_value"):
        if col not in sumstats.columns:
            raise fail(where, f"no {col!r} column (columns: {list(sumstats.columns)})")
    sign_col, sign_null = _signed(sumstats, where)
    if "rsid" in sumstats.columns and sumstats["rsid"].notna().any():
        snp = sumstats["rsid"]
    elif "variant_id" in sumstats.columns:
        snp = sumstats["variant_id"]
    else:
        raise fail(where, "no SNP id: the summary statistics need rsid or variant_id")
    if not (snp.dtype == object and pd.api.types.infer_dtype(snp, skipna=True) == "string"):
        snp = snp.astype("string")  # ids given as numbers compare as text; text ids are kept as they are
    cols = {"rsid": snp, "effect_allele": sumstats["effect_allele"],
            "other_allele": sumstats["other_allele"], "p_value": sumstats["p_value"],
            "signed": sumstats[sign_col]}
    n_source = "n"
    if n is not None:
        cols["n"] = pd.Series(float(n), index=sumstats.index)
        n_source = "given"
    elif "n" in sumstats.columns and sumstats["n"].notna().any():
        cols["n"] = sumstats["n"]
    elif {"n_cases", "n_controls"} <= set(sumstats.columns):
        cols["n_cases"], cols["n_controls"] = sumstats["n_cases"], sumstats["n_controls"]
        n_source = "n_effective" if n_effective else "n_cases+n_controls"
    else:
        raise fail("munge_sumstats/n", "the summary statistics have no sample size (n, or n_cases and "
                                       "n_controls): pass n= (LDSC's --N)")
    # a column read_sumstats filled with nothing is not a column of the file
    if "effect_allele_frequency" in sumstats.columns and sumstats["effect_allele_frequency"].notna().any():
        cols["frq"] = sumstats["effect_allele_frequency"]
    if "info" in sumstats.columns and sumstats["info"].notna().any():
        cols["info"] = sumstats["info"]
    dat = pd.DataFrame(cols).reset_index(drop=True)
    steps: list[tuple[str, object, int]] = []
    total = len(dat)

    def keep(mask, name, threshold):
        nonlocal dat
        mask = np.asarray(mask, dtype=bool)
        removed = int((~mask).sum())
        steps.append((name, threshold, removed))
        if removed:  # no copy when the filter removes nothing
            dat = dat[mask].reset_index(drop=True)

    # per column, without a copy of the frame
    keep(np.logical_and.reduce([dat[c].notna().to_numpy() for c in dat.columns if c != "info"]),
         "missing_values", None)
    merge = None
    if snp_list is not None:
        for c in ("rsid", "a1", "a2"):
            if c not in snp_list.columns:
                raise fail("munge_sumstats/snp_list", f"no {c!r} column (expected rsid, a1, a2)")
        # one hash table of the list's ids serves the membership test, its alleles and its order
        # (HapMap3: 1.2 million ids, hashed once instead of by isin, a merge and a reindex)
        listed = pd.Index(snp_list["rsid"])
        merge = snp_list
        if not listed.is_unique:  # first row of a repeated id kept
            merge = snp_list.drop_duplicates("rsid")
            listed = pd.Index(merge["rsid"])
        keep(listed.get_indexer(dat["rsid"]) >= 0, "not_in_snp_list", len(merge))
    if "info" in dat:
        keep((dat["info"] >= info_min).to_numpy(), "info", info_min)
    if "frq" in dat:
        f = dat["frq"].astype(float)
        keep(((np.minimum(f, 1 - f) > maf_min) & ~((f < 0) | (f > 1))).to_numpy(), "maf", maf_min)
    p = dat["p_value"].astype(float)
    keep(((p > 0) & (p <= 1)).to_numpy(), "p_value_out_of_bounds", None)
    dat["effect_allele"] = _upper(dat["effect_allele"])
    dat["other_allele"] = _upper(dat["other_allele"])
    keep(_valid_snp(dat["effect_allele"], dat["other_allele"]), "not_snp_or_strand_ambiguous", None)
    keep(~dat["rsid"].duplicated().to_numpy(), "duplicated_snp", None)
    if "n" not in dat:
        ca, co = dat["n_cases"].astype(float), dat["n_controls"].astype(float)
        if n_effective:
            dat["n"] = 4.0 / (1.0 / ca + 1.0 / co)
        else:  # LDSC: total N scaled by the case fraction relative to the largest study
            tot = ca + co
            frac = ca / tot
            dat["n"] = tot * frac / frac[tot == tot.max()].mean()
    if len(dat) == 0:
        raise fail(where, "no SNP left after the filters: " + ", ".join(f"{s}: {r}" for s, _, r in steps))
    nn = dat["n"].astype(float)
    thr = float(n_min) if n_min else float(nn.quantile(0.9) / 1.5)
    keep((nn >= thr).to_numpy(), "low_n", thr)
    # sqrt(chi2_1.isf(P)) = norm.isf(P / 2): the same number, without scipy's slow chi2 inverse
    dat["z"] = 0.0 - special.ndtri(dat["p_value"].astype(float).to_numpy() / 2.0)
    signed = dat["signed"].astype(float).to_numpy()
    med = float(np.median(signed)) if len(signed) else sign_null
    if abs(med - sign_null) > 0.1:
        raise fail(where, f"median {sign_col} is {med:.3g}, far from its null {sign_null:g}: the column may "
                          "be mislabelled (LDSC's check)")
    dat["z"] = np.where(signed < sign_null, -dat["z"], dat["z"])
    if merge is not None:
        pos = listed.get_indexer(dat["rsid"])  # each SNP's row in the list (every one is listed)
        ok = alleles_match(dat["effect_allele"], dat["other_allele"], merge["a1"].to_numpy()[pos],
                           merge["a2"].to_numpy()[pos])
        keep(ok, "allele_mismatch_snp_list", None)
        # LDSC writes the SNPs in the list's order
        dat = dat.iloc[np.argsort(pos[ok], kind="stable")].reset_index(drop=True)
    if len(dat) == 0:
        raise fail(where, "no SNP left after the filters: " + ", ".join(f"{s}: {r}" for s, _, r in steps))
    remaining, rows = total, []
    for name, threshold, removed in steps:
        remaining -= removed
        rows.append({"filter": name, "threshold": threshold, "removed": removed, "remaining": remaining})
    filters = pd.DataFrame([{"filter": "input", "threshold": None, "removed": 0, "remaining": total}, *rows])
    table = dat[["rsid", "effect_allele", "other_allele", "z", "n"]].copy()
    if not (table["rsid"].dtype == object and pd.api.types.infer_dtype(table["rsid"], skipna=False) == "string"):
        table["rsid"] = table["rsid"].astype(str)  # text ids are kept as they are (no copy)
    settings = {"info_min": info_min, "maf_min": maf_min, "n_min": thr, "signed_statistic": sign_col,
                "n_source": n_source, "snp_list": None if merge is None else int(len(merge)),
                "n_snps": int(len(table)), "mean_chisq": float(np.mean(table["z"] ** 2)),
                "lambda_gc": float(np.median(table["z"] ** 2) / 0.4549)}
    return Munged(table, filters, settings)

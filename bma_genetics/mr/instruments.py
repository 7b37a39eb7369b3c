"""Instrument selection (P threshold, LD clumping, strength) and LD proxies for the outcome."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from bma_genetics._check import check_columns, check_positive, check_probability, fail

log = logging.getLogger(__name__)


#: F statistic below which an instrument is called weak (Staiger and Stock's rule of thumb).
WEAK_F = 10.0


def instrument_strength(sumstats: pd.DataFrame) -> pd.DataFrame:
    """Add ``f_statistic``, ``weak_instrument`` and ``r2`` per variant.

    ``f_statistic`` = beta^2 / se^2 (the per-SNP F of the exposure association, one degree of
    freedom); ``weak_instrument`` is True where it is below :data:`WEAK_F` (10). ``r2`` =
    beta^2 / (beta^2 + n se^2) is the variance in the exposure explained by the variant (exact
    for a linear regression of a trait on one variant, from its t statistic: R^2 = t^2 / (t^2 +
    n - 2), with n - 2 ~ n); NaN when ``n`` is unknown.
    """
    out = sumstats.copy()
    b = out["beta"].astype(float)
    se = out["standard_error"].astype(float)
    out["f_statistic"] = (b / se) ** 2
    out["weak_instrument"] = out["f_statistic"] < WEAK_F
    n = out["n"].astype(float) if "n" in out else np.nan
    out["r2"] = b**2 / (b**2 + n * se**2)
    return out


def instrument_strength_summary(beta: np.ndarray, standard_error: np.ndarray,
                                n: np.ndarray | float | None = None) -> dict[str, float | int | None]:
    """Strength of a set of instruments: mean, minimum and overall F, and the weak count.

    Parameters
    ----------
    beta, standard_error : array
        The instruments' exposure effects and standard errors.
    n : array or float, optional
        Exposure sample size (per SNP or one number), for the overall F.

    Returns
    -------
    dict
        ``nsnp``; ``mean_f_statistic`` (mean of beta^2 / se^2); ``min_f_statistic``;
        ``n_weak_instruments`` (F < 10); ``overall_f_statistic`` = (n - k - 1) / k *
        R^2 / (1 - R^2) with R^2 the sum of the per-SNP r^2 = beta^2 / (beta^2 + n se^2) and
        k the number of instruments (the F of a regression of the exposure on k independent
        instruments; None when ``n`` is unknown); ``weak_instruments`` (mean F < 10).
    """
    b = np.asarray(beta, dtype=float)
    se = np.asarray(standard_error, dtype=float)
    if b.shape != se.shape:
        raise fail("instrument_strength_summary/standard_error",
                   f"{se.shape} values for {b.shape} betas; give one standard error per instrument")
    f = (b / se) ** 2
    k = int(f.size)
    overall = None
    if n is not None and k:
        nn = np.broadcast_to(np.asarray(n, dtype=float), b.shape)
        if np.isfinite(nn).all():
            r2 = float(np.sum(b**2 / (b**2 + nn * se**2)))
            n_mean = float(np.mean(nn))
            if r2 < 1 and n_mean > k + 1:
                overall = (n_mean - k - 1) / k * r2 / (1 - r2)
    mean_f = float(np.mean(f)) if k else float("nan")
    return {"nsnp": k, "mean_f_statistic": mean_f, "min_f_statistic": float(np.min(f)) if k else float("nan"),
            "n_weak_instruments": int(np.sum(f < WEAK_F)), "overall_f_statistic": overall,
            "weak_instruments": bool(mean_f < WEAK_F) if k else None}


def select_instruments(
    sumstats: pd.DataFrame,
    *,
    p_threshold: float = 5e-8,
    reader=None,
    clump_r2: float = 0.001,
    clump_kb: float = 10_000,
    source: str = "exposure",
) -> pd.DataFrame:
    """Instruments for an exposure: variants with P < ``p_threshold``, LD-clumped, with strength.

    Examples
    --------
    >>> from bma_genetics.ld import PlinkReader  # doctest: +SKIP
    >>> ins = select_instruments(read_sumstats("bmff.tsv.gz"), reader=PlinkReader("EUR_subset"))  # doctest: +SKIP

    Notes
    -----
    Clumping is PLINK's greedy ``--clump`` (:func:`bma_genetics.ld.clump`) with LD from
    ``reader`` (a reference panel or in-sample genotypes; no web service): index variants in
    order of P, every variant within ``clump_kb`` with r^2 >= ``clump_r2`` joins the index
    variant's clump (TwoSampleMR's ``clump_data`` defaults: r^2 0.001, 10 Mb). Variants absent
    from the LD reference cannot be clumped and are left out (logged). Without a ``reader`` no
    clumping is done (for already-independent lists).

    Output: the significant variants' columns plus ``f_statistic`` (float, (beta/se)^2),
    ``weak_instrument`` (bool, F < 10), ``r2`` (float, variance explained), and, when clumped, ``n_members``, ``n_significant``,
    ``clump_members``.

    Parameters
    ----------
    sumstats : DataFrame
        Standard columns (:func:`bma_genetics.mr.read_sumstats`).
    p_threshold : float, default=5e-8
    reader : GenotypeReader, optional
        LD source (:func:`bma_genetics.ld.open_genotypes`).
    clump_r2 : float, default=0.001
    clump_kb : float, default=10000
    source : str
        Name used in error messages (the file).

    Returns
    -------
    DataFrame

    Raises
    ------
    InputError
        When no variant passes the threshold or none survives clumping.
    """
    check_probability("select_instruments/p_threshold", p_threshold, open_interval=False)
    check_probability("select_instruments/clump_r2", clump_r2, open_interval=False)
    check_positive("select_instruments/clump_kb", clump_kb)
    check_columns("select_instruments/sumstats", sumstats, ["beta", "standard_error", "p_value"], source=source)
    sig = sumstats[sumstats["p_value"] < p_threshold]
    sig = sig[np.isfinite(sig["beta"].astype(float)) & (sig["standard_error"].astype(float) > 0)]
    if sig.empty:
        best = sumstats["p_value"].min()
        raise fail("select_instruments/p_threshold",
                   f"no variant of {source} has P < {p_threshold:g} (smallest P {best:.3g}); "
                   "zero instruments: use a larger GWAS, or ask for a weaker threshold "
                   "explicitly (p_threshold=5e-6, or p_fallback=5e-6 of run_mr_analysis and the mr stage, "
                   "--p-fallback 5e-6 on the command line; the threshold used is recorded in the results)")
    if reader is not None:
        from bma_genetics.ld import clump

        clumped = clump(sig, reader, p1=p_threshold, p2=p_threshold, r2=clump_r2, window_kb=clump_kb)
        if clumped.empty:
            raise fail("select_instruments/reader",
                       f"{len(sig)} variant(s) of {source} pass P < {p_threshold:g} but none is in the LD "
                       "reference, so zero instruments remain after clumping; use a reference panel that "
                       "covers these variants")
        log.info("select_instruments: %s: %d variants with P < %g -> %d after clumping (r2 < %g, %g kb)",
                 source, len(sig), p_threshold, len(clumped), clump_r2, clump_kb)
        sig = clumped
    else:
        log.warning("select_instruments: %s: no LD reference given, so the %d variants with P < %g are NOT "
                    "clumped; correlated instruments overstate precision (pass reader=, or ld= / --ld to run_mr_analysis)",
                    source, len(sig), p_threshold)
    return instrument_strength(sig.reset_index(drop=True))


def find_proxies(
    instruments: pd.DataFrame,
    outcome: pd.DataFrame,
    reader,
    *,
    min_r2: float = 0.8,
    window_kb: float = 500,
) -> pd.DataFrame:
    """Outcome rows for the instruments, replacing absent ones by an LD proxy (r^2 >= ``min_r2``).

    For an instrument missing from ``outcome``, the outcome variant within ``window_kb`` with the
    largest r^2 (from ``reader``) is used, if r^2 >= ``min_r2``. Its alleles are aligned through
    the proxy: the instrument allele that travels with the proxy's outcome effect allele (the
    sign of r between the two counted alleles) becomes the effect allele; the outcome beta and
    EAF are carried over (as TwoSampleMR does), so harmonisation then sees the instrument's
    alleles. Returned rows carry ``proxy_snp`` (the proxy's variant id) and ``proxy_r2``;
    direct hits have them empty. Instruments with no proxy are simply absent from the result
    (harmonisation lists them as ``absent from outcome``).
    """
    from bma_genetics.ld import match_variants
    from bma_genetics.mr.harmonise import snp_keys

    check_probability("find_proxies/min_r2", min_r2, open_interval=False)
    inst = instruments.reset_index(drop=True)
    oc = outcome.reset_index(drop=True)
    ikey, okey = snp_keys(inst, oc)
    direct = oc[okey.isin(set(ikey))].copy()
    direct["proxy_snp"] = None
    direct["proxy_r2"] = np.nan
    missing = inst[~ikey.isin(set(okey))]
    if missing.empty:
        return direct.reset_index(drop=True)
    ref_inst = match_variants(missing, reader)
    ref_oc = match_variants(oc, reader)
    rv = reader.variants
    counted = reader.counted_alleles().str.upper().to_numpy()
    other_col = "a1" if reader.dosage_allele == "a2" else "a2"
    other = rv[other_col].str.upper().to_numpy()
    chrom_oc = oc["chromosome"].astype(str).to_numpy()
    pos_oc = oc["base_pair_location"].astype("float").to_numpy()
    rows = []
    from bma_genetics.ld import ld_with

    for (_, ins), ri in zip(missing.iterrows(), ref_inst, strict=True):
        if ri < 0:
            continue
        near = np.flatnonzero((chrom_oc == str(ins["chromosome"])) & (ref_oc >= 0)
                              & (np.abs(pos_oc - float(ins["base_pair_location"])) <= window_kb * 1000))
        if near.size == 0:
            continue
        r = ld_with(reader, int(ri), ref_oc[near])
        best = int(np.argmax(r * r))
        if r[best] ** 2 < min_r2:
            continue
        j = near[best]
        pj = ref_oc[j]
        # The instrument allele on the same haplotype as the proxy's counted allele.
        ins_counted, ins_other = counted[ri], other[ri]
        partner_of_counted = ins_counted if r[best] > 0 else ins_other
        partner_of_other = ins_other if r[best] > 0 else ins_counted
        row = oc.iloc[j].copy()
        ea = str(row["effect_allele"]).upper()
        if ea == counted[pj]:
            new_ea, new_oa = partner_of_counted, partner_of_other
        elif ea == other[pj]:
            new_ea, new_oa = partner_of_other, partner_of_counted
        else:
            continue  # strand or allele coding of the proxy differs from the reference; skip it
        proxy_id = next((str(row[c]) for c in ("rsid", "variant_id") if c in row and pd.notna(row[c])),
                        f"{row['chromosome']}:{row['base_pair_location']}")
        for c in ("rsid", "variant_id", "chromosome", "base_pair_location"):
            if c in ins:
                row[c] = ins[c]
        row["effect_allele"], row["other_allele"] = new_ea, new_oa
        row["proxy_snp"] = proxy_id
        row["proxy_r2"] = float(r[best] ** 2)
        rows.append(row)
    log.info("find_proxies: %d instrument(s) absent from the outcome, %d replaced by proxies (r2 >= %g)",
             len(missing), len(rows), min_r2)
    if rows:
        direct = pd.concat([direct, pd.DataFrame(rows)], ignore_index=True)
    return direct.reset_index(drop=True)

"""Genotype QC for the GWAS, every step counted into one QC table.

Variant QC (imputed dosages, one pass over the genotypes):

==============  ===================================================================
step            removes
==============  ===================================================================
``info``        imputation INFO below ``min_info`` (UK Biobank MFI table)
``call_rate``   fraction of samples with a dosage below ``min_call_rate``
``maf``         minor-allele frequency below ``min_maf`` (from dosages)
``mac``         minor-allele count (2 N MAF) below ``min_mac``
``hwe``         Hardy-Weinberg exact P (best-guess calls) below ``hwe_p``
==============  ===================================================================

chrX outside the pseudo-autosomal regions (GRCh37 loci: ``in_x_nonpar``) follows plink2: a male
(the genotypes' ``sex`` field, from the .fam / .sample or the participant table; see
:func:`bma_genetics.gwas.inputs.attach_sex`) carries one allele, so allele frequency and MAC count
his dosage (coded 0/2) once, ``AF = (sum_f d + sum_m d/2) / (2 N_f + N_m)``, and the
Hardy-Weinberg test is run on **females only** (plink2 ``--hardy``'s ``FEMALE_ONLY_P``; plink2's
``--hwe`` filter uses Graffelman & Weir's test with males instead). Males coded 0/2 would
otherwise look like a total heterozygote deficit: every common chrX variant would fail
(P ~ 1e-100 at n = 2,000, MAF 0.2). Without any sex the chrX test is skipped (logged) and alleles
are counted as diploid. PAR1/PAR2 are diploid in both sexes and treated as the autosomes.

Sample QC on the array genotypes: call rate and autosomal heterozygosity outliers (|z| > ``het_sd``).
The UK Biobank field-based steps (sex mismatch, aneuploidy, het/missing flag, relatedness,
ancestry) are the participants stage's (``bma_genetics.io``); their counts are merged into
the same table.

QC table schema: ``level`` (str: sample/variant), ``step`` (str), ``flagged`` (int64: how many
meet the criterion, regardless of other steps), ``removed`` (int64: removed by this step, in
order), ``remaining`` (int64), ``source`` (str).
"""

from __future__ import annotations

import glob
import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from bma_genetics._check import fail

log = logging.getLogger(__name__)

QC_COLUMNS = ["level", "step", "flagged", "removed", "remaining", "source"]


#: The chromosome in an MFI file name: ``ukb_mfi_chr1_v3.txt`` (UK Biobank's), ``ukb_imp_mfi_c1_v3.txt``.
MFI_CHROMOSOME = re.compile(r"_c(?:hr)?(\d{1,2}|X|XY|Y|MT)[_.]")


def mfi_files(spec: str | os.PathLike | Sequence[str | os.PathLike], *, where: str = "read_mfi/paths") -> list[Path]:
    """The MFI files a user named: paths, globs (``ukb_mfi_chr*_v3.txt``) or ``{chrom}`` patterns.

    Each file is checked here (exists, eight tab-separated columns on its first line, a
    chromosome in its name), before Spark starts.

    Parameters
    ----------
    spec : path, pattern or list of them
        A comma-separated string is split.
    where : str
        Prefix of error messages.

    Returns
    -------
    list of Path
        Sorted, without duplicates.

    Raises
    ------
    InputError
        A pattern that matches nothing, a missing file, a file not in the MFI layout.
    """
    items = [spec] if isinstance(spec, (str, os.PathLike)) else list(spec)
    parts = [x for item in items for x in (str(item).split(",") if isinstance(item, str) else [str(item)]) if x]
    if not parts:
        raise fail(where, "no MFI files given")
    files: list[Path] = []
    for part in parts:
        pattern = part.replace("{chrom}", "*")
        if any(ch in pattern for ch in "*?["):
            found = sorted(Path(p) for p in glob.glob(pattern))
            if not found:
                raise fail(where, f"no MFI file matches {part!r}")
            files += found
        elif not Path(part).is_file():
            raise fail(where, f"no such file {part}")
        else:
            files.append(Path(part))
    files = sorted(dict.fromkeys(files))
    for f in files:
        with open(f) as fh:
            first = fh.readline().rstrip("\n").split("\t")
        if len(first) != 8:
            raise fail(where, f"{f}: line 1 has {len(first)} tab-separated column(s); an MFI file has 8 "
                              "(alternate_id rsid position allele1 allele2 maf minor_allele info), no header")
        try:
            float(first[7])
        except ValueError:
            raise fail(where, f"{f}: line 1 column 8 (info) is {first[7]!r}, not a number; MFI files "
                              "have no header line") from None
        if not MFI_CHROMOSOME.search(f.name) and ":" not in first[0]:
            raise fail(where, f"{f}: no chromosome in the file name (ukb_mfi_chr<N>_v3.txt) nor in its "
                              f"alternate ids ({first[0]!r}); rename it as UK Biobank names its MFI files")
    return files


def read_mfi(paths: str | os.PathLike | Sequence[str | os.PathLike]):
    """UK Biobank MFI files (``ukb_mfi_chr{N}_v3.txt``) as a Hail Table keyed by locus, alleles.

    Columns (tab, no header): ``alternate_id rsid position allele1 allele2 maf minor_allele
    info``; the chromosome is taken from ``alternate_id`` when it is ``chr:pos_ref_alt``, else
    from the file name (``_chr<N>_`` or ``_c<N>_``). ``paths`` as :func:`mfi_files` takes them.
    """
    import hail as hl

    files = [str(f) for f in mfi_files(paths)]
    ht = hl.import_table(files, no_header=True, types={"f2": hl.tint32, "f7": hl.tfloat64}, missing="NA",
                         source_file_field="_file")
    chrom = hl.if_else(ht.f0.contains(":"), ht.f0.split(":")[0],
                       ht._file.first_match_in(MFI_CHROMOSOME.pattern)[0])
    # UK Biobank's PAR file (``_cXY_``; PLINK's 25) holds GRCh37 chrX loci
    chrom = hl.str(chrom).replace("^chr", "").replace("^0(\\d)$", "$1").replace("^(XY|23|25)$", "X")
    ht = ht.key_by(locus=hl.locus(chrom, ht.f2, reference_genome="GRCh37"), alleles=[ht.f3, ht.f4])
    return ht.select(info=ht.f7).distinct()


def annotate_variant_qc(mt):
    """Row fields of the variant QC, chrX-aware (see the module docstring).

    Adds ``qc_call_rate`` (share of samples with a dosage), ``qc_an`` (allele number over called
    samples: 2 per sample, 1 per male on chrX outside PAR), ``qc_af`` (``alleles[1]`` frequency,
    males once outside PAR; plink2 ``--freq``) and ``qc_hwe`` (Hardy-Weinberg exact P of the
    best-guess calls; females only on chrX outside PAR, plink2 ``--hardy``'s ``FEMALE_ONLY_P``;
    missing there when no sex is known).

    Parameters
    ----------
    mt : hail.MatrixTable
        Entry ``dosage``; column field ``sex`` (0 female, 1 male) when known.

    Returns
    -------
    hail.MatrixTable
    """
    import hail as hl

    n = mt.count_cols()
    nonpar = mt.locus.in_x_nonpar()
    has_sex = "sex" in mt.col and mt.aggregate_cols(hl.agg.any(hl.is_defined(mt.sex)))
    if has_sex:
        male, female = mt.sex == 1, mt.sex == 0
    else:
        male, female = hl.bool(False), hl.bool(False)
        if mt.aggregate_rows(hl.agg.any(mt.locus.in_x_nonpar())):
            log.warning("variant_qc: no sex for any sample (no .fam/.sample sex, no participant table); chrX "
                        "outside PAR is not tested for Hardy-Weinberg and its alleles are counted as diploid")
    # alleles each called sample carries: 1 for a male outside PAR (dosage coded 0/2), else 2
    weight = hl.if_else(nonpar & hl.coalesce(male, False), 0.5, 1.0)
    called = hl.is_defined(mt.dosage)
    call = hl.unphased_diploid_gt_index_call(hl.int32(hl.floor(mt.dosage + 0.5)))
    mt = mt.annotate_rows(
        qc_call_rate=hl.agg.count_where(called) / n,
        qc_an=hl.agg.filter(called, hl.agg.sum(2 * weight)),
        qc_af=hl.agg.filter(called, hl.agg.sum(weight * mt.dosage)) / hl.agg.filter(called, hl.agg.sum(2 * weight)),
        # outside PAR on chrX: females only (males' 0/2 codes are no diploid genotypes); missing
        # (not tested) there when no sex is known
        qc_hwe=hl.or_missing(~nonpar | has_sex, hl.agg.filter(
            ~nonpar | hl.coalesce(female, False), hl.agg.hardy_weinberg_test(call)).p_value),
    )
    return mt


def variant_qc(
    mt,
    *,
    mfi=None,
    min_info: float = 0.8,
    min_call_rate: float = 0.95,
    min_maf: float = 0.001,
    min_mac: float = 20,
    hwe_p: float = 1e-6,
):
    """Filter variants and count each step (one aggregation over the genotypes).

    On chrX outside PAR (see the module docstring) allele frequency and MAC count males once and
    Hardy-Weinberg is tested on females only; the column field ``sex`` (0 female, 1 male; from
    :func:`~bma_genetics.gwas.inputs.read_genotypes` or
    :func:`~bma_genetics.gwas.inputs.attach_sex`) says who is male.

    Returns
    -------
    (MatrixTable, DataFrame)
        The filtered MatrixTable (row fields ``info`` when ``mfi`` is given, and ``qc_af``: the
        effect-allele frequency) and the variant part of the QC table.
    """
    import hail as hl

    source = mt
    mt = annotate_variant_qc(mt)
    if mfi is not None:
        mt = mt.annotate_rows(info=mfi[mt.row_key].info)
    maf = hl.min(mt.qc_af, 1 - mt.qc_af)
    flags = {
        "info": (hl.is_defined(mt.info) & (mt.info < min_info)) if mfi is not None else hl.bool(False),
        "call_rate": mt.qc_call_rate < min_call_rate,
        "maf": hl.is_missing(maf) | (maf < min_maf),
        "mac": hl.is_missing(maf) | (mt.qc_an * maf < min_mac),
        "hwe": hl.is_defined(mt.qc_hwe) & (mt.qc_hwe < hwe_p),
    }
    mt = mt.annotate_rows(qc_flags=hl.struct(**flags))
    # One pass over the genotypes computes the statistics: the rows' QC fields are written once (a
    # small table) and both the step counts and the filter read them. Counting from mt.rows() and
    # then filtering mt aggregated every variant's entries twice (two genotype passes; on the demo
    # 52 s + 53 s of the GWAS stage).
    carried = ["qc_af", *(["info"] if mfi is not None else [])]
    ht = mt.rows().select(*carried, "qc_flags").checkpoint(hl.utils.new_temp_file("variant-qc", "ht"))
    f = ht.qc_flags
    order = list(flags)
    aggs = {"n": hl.agg.count()}
    for i, step in enumerate(order):
        aggs[f"flag_{step}"] = hl.agg.count_where(f[step])
        earlier = hl.bool(False)
        for prev in order[:i]:
            earlier = earlier | f[prev]
        aggs[f"rm_{step}"] = hl.agg.count_where(f[step] & ~earlier)
    counts = ht.aggregate(hl.struct(**aggs))
    rows = [{"level": "variant", "step": "input", "flagged": 0, "removed": 0, "remaining": counts.n,
             "source": "genotypes"}]
    remaining = counts.n
    for step in order:
        remaining -= counts[f"rm_{step}"]
        rows.append({"level": "variant", "step": step, "flagged": counts[f"flag_{step}"],
                     "removed": counts[f"rm_{step}"], "remaining": remaining,
                     "source": {"info": "MFI", "hwe": "best-guess calls; chrX outside PAR: females only",
                                "maf": "dosages; chrX outside PAR: males count once",
                                "mac": "dosages; chrX outside PAR: males count once"}.get(step, "dosages")})
    kept = ht.filter(~hl.any([flag for flag in ht.qc_flags.values()])).select(*carried)
    mt = source.annotate_rows(__qc=kept[source.row_key])
    mt = mt.filter_rows(hl.is_defined(mt.__qc))
    mt = mt.annotate_rows(**{c: mt.__qc[c] for c in carried}).drop("__qc")
    table = pd.DataFrame(rows, columns=QC_COLUMNS)
    log.info("variant QC: %d -> %d variants", counts.n, remaining)
    return mt, table


def array_sample_qc(bfile: str | os.PathLike, *, min_call_rate: float = 0.97, het_sd: float = 3.0,
                    chromosomes: Sequence[str] | None = None,
                    pcs: pd.DataFrame | None = None) -> tuple[set[str], pd.DataFrame]:
    """Sample call rate and heterozygosity outliers from the array PLINK files.

    Call rate: the share of array variants called (every chromosome), flagged below
    ``min_call_rate``. Heterozygosity: the share of called autosomal genotypes that are
    heterozygous (as ``plink --het``; hemizygous males have no chrX heterozygotes, which would
    split the sexes), flagged at ``|z| > het_sd``.

    Heterozygosity differs between ancestries (people of an ancestry under-represented in the
    array's design are less heterozygous on it); with ``pcs`` it is adjusted for ancestry as UK
    Biobank's own het/missing QC does (Bycroft et al. 2018): z of the residuals of a
    least-squares fit of heterozygosity on an intercept and the PCs.

    Parameters
    ----------
    bfile : path or ``{chrom}`` pattern
        The array PLINK prefix(es) (``ukb22418_c{chrom}_b0_v2``).
    min_call_rate, het_sd : float
        Thresholds (defaults 0.97 and 3).
    chromosomes : list of str, optional
        With a ``{chrom}`` pattern: the chromosomes to read.
    pcs : DataFrame, optional
        ``eid`` plus numeric PC columns (e.g. field 22009's ``pc1..pc10``). Array samples
        without PCs are not tested for heterozygosity (logged).

    Returns
    -------
    (set of str, DataFrame)
        The eids that fail and the sample part of the QC table.
    """
    import hail as hl
    import numpy as np

    from bma_genetics.gwas.inputs import read_plink

    mt = read_plink(bfile, chromosomes=chromosomes)
    mt = mt.annotate_cols(
        cr=hl.agg.fraction(hl.is_defined(mt.dosage)),
        het=hl.agg.filter(hl.is_defined(mt.dosage) & mt.locus.in_autosome(), hl.agg.fraction(mt.dosage == 1)),
    )
    cols = mt.cols().to_pandas()
    cols["s"] = cols["s"].astype(str)
    n = len(cols)
    low_cr = set(cols.loc[cols["cr"] < min_call_rate, "s"])
    het = cols["het"].to_numpy(dtype=float)
    if pcs is not None:
        if "eid" not in pcs.columns:
            raise fail("array_sample_qc/pcs", f"no 'eid' column; it has {list(pcs.columns)[:20]}")
        pc = pcs.assign(eid=pcs["eid"].astype(str)).drop_duplicates("eid").set_index("eid")
        pc = pc.apply(pd.to_numeric, errors="coerce").reindex(cols["s"])
        ok = pc.notna().all(axis=1).to_numpy() & np.isfinite(het)
        if (~ok).any():
            log.warning("array_sample_qc: %d of %d array samples have no PCs; not tested for heterozygosity",
                        int((~ok).sum()), n)
        X = np.column_stack([np.ones(ok.sum()), pc.to_numpy(dtype=float)[ok]])
        coef, *_ = np.linalg.lstsq(X, het[ok], rcond=None)
        resid = np.full(n, np.nan)
        resid[ok] = het[ok] - X @ coef
        z = resid / np.nanstd(resid, ddof=X.shape[1])
    else:
        z = (het - np.nanmean(het)) / np.nanstd(het, ddof=1)
    het_out = set(cols.loc[np.abs(z) > het_sd, "s"])
    rows = [
        {"level": "sample", "step": "array_call_rate", "flagged": len(low_cr), "removed": len(low_cr),
         "remaining": n - len(low_cr), "source": "array genotypes"},
        {"level": "sample", "step": "array_heterozygosity", "flagged": len(het_out),
         "removed": len(het_out - low_cr), "remaining": n - len(low_cr | het_out),
         "source": "array genotypes" + (" (adjusted for PCs)" if pcs is not None else "")},
    ]
    return low_cr | het_out, pd.DataFrame(rows, columns=QC_COLUMNS)


def participants_qc_rows(sample_qc: str | os.PathLike | pd.DataFrame | None) -> pd.DataFrame:
    """The participants stage's sample-QC table (``sample_qc.tsv``) in the QC-table schema."""
    if sample_qc is None:
        return pd.DataFrame(columns=QC_COLUMNS)
    t = sample_qc if isinstance(sample_qc, pd.DataFrame) else pd.read_csv(sample_qc, sep="\t")
    out = pd.DataFrame({
        "level": "sample",
        "step": t["step"].astype(str),
        "flagged": t["flagged"] if "flagged" in t else t["removed"],
        "removed": t["removed"],
        "remaining": t["remaining"] if "remaining" in t else pd.NA,
        "source": "UK Biobank fields (participants stage)",
    })
    return out

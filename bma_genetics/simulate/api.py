"""``simulate_cohort``: the synthetic mini UK Biobank (layout in ``docs/cohort_layout.md``)."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import warnings
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from bma_genetics._atomic import sha256_file
from bma_genetics._check import fail
from bma_genetics.io.bmff import write_bmff_table
from bma_genetics.simulate import builds as sb
from bma_genetics.simulate import confounding as cf
from bma_genetics.simulate import diseases as dz
from bma_genetics.simulate import genotypes as gt
from bma_genetics.simulate import heritability_truth as ht
from bma_genetics.simulate import imaging_batch as ib
from bma_genetics.simulate import outcome as oc
from bma_genetics.simulate import participants as pt
from bma_genetics.simulate import second_exposure as se2
from bma_genetics.simulate import traits as tr
from bma_genetics.simulate import writers as wr
from bma_genetics.simulate.eqtl import simulate_eqtl
from bma_genetics.simulate.genes import bma_gene_table
from bma_genetics.simulate.presets import resolve
from bma_genetics.sites import all_traits
from bma_genetics.stats import wald_p

log = logging.getLogger(__name__)

#: Version of the cohort layout (docs/cohort_layout.md); a cohort written under another version is
#: never reused by ``resume`` (2: field 22000, MFI files under UK Biobank's name, BMFF with centre,
#: date and array effects; 3: cis-eQTL files, the BMD exposure and MVMR outcome, heritability and
#: survival truth; 4: the BMD GWAS as a European-group GWAS reports it, population marginal effects plus
#: sampling error, and the MVMR outcome's GWAS in that group; 5: calvarial marrow truth and
#: participants/calvarial_idp.parquet; 6: that IDP on the measured scale, slope 0.85; 7: imaging
#: batches, truth/imaging_batch.tsv and the preset parameter imaging_batch_offset; 8: the BMD GWAS's
#: sampling error correlated between variants in LD; 9: the calvarial IDP on the scale of the
#: resolution-matched profile network, slope 0.88).
LAYOUT_VERSION = 9
N_PCS = 40
#: The chrX causal variant (outside PAR1) and its sex-specific effect: per copy of the effect
#: allele (males carry 0 or 1 copies, coded 0/2 in the genotype files), in latent SDs of each
#: femoral-head site (left and right); written per trait to ``truth/chrx_effects.tsv``.
CHRX_EFFECT_PER_COPY = {"female": 0.10, "male": 0.30}
CHRX_EFFECT_REGION = "femoral_head"


def _rng(seed: int, name: str) -> np.random.Generator:
    """An independent, named random stream (adding a step never shifts the others)."""
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def _checksums(root: Path) -> dict[str, str]:
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.name != "cohort.json")
    return {p.relative_to(root).as_posix(): sha256_file(p) for p in files}


def _matches(out: Path, preset: str, seed: int, cfg: dict[str, Any]) -> bool:
    meta_path = out / "cohort.json"
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError):
        return False
    if meta.get("preset") != preset or meta.get("seed") != seed or meta.get("parameters") != cfg:
        return False
    if meta.get("layout_version") != LAYOUT_VERSION:  # written by a simulator of another layout
        return False
    files = meta.get("files") or {}
    # only the simulator's own files are checked: later stages may add files (BGEN indexes,
    # images) to the cohort folder without invalidating it
    return bool(files) and all((out / rel).is_file() and sha256_file(out / rel) == digest for rel, digest in files.items())


def simulate_cohort(preset: str, *, seed: int, out: str | os.PathLike, resume: bool = False, **overrides: Any) -> Path:
    """Simulate a synthetic UK Biobank cohort with known truth and write it to ``out``.

    Genotypes come from a coalescent with recombination (msprime) in windows around the BMA
    genes and background windows; BMFF traits from a multivariate model with stated h2 and
    rg, named-gene causal variants, covariates and measurement noise; diagnoses from
    liabilities with stated causal BMFF effects; an outcome GWAS (osteoporosis) from an
    independent sample for two-sample MR. Every file is written in UK Biobank's format.

    Parameters
    ----------
    preset : {"tiny", "demo", "large"}
        ``tiny`` ~1,000 people x ~8,000 variants (seconds); ``demo`` 10,000 x 100,000
        (minutes); ``large`` 50,000 x 200,000.
    seed : int
        Seed of every random step; the same seed gives byte-identical files.
    out : path
        Cohort directory. Written in a temporary sibling and renamed at the end; an existing
        cohort directory there is replaced, any other non-empty directory is refused.
    resume : bool, default=False
        When ``out/cohort.json`` records the same preset, seed, parameters and layout version
        (:data:`LAYOUT_VERSION`) and every file it lists still matches its sha256, do nothing (files added later, e.g. BGEN indexes
        or images, are ignored).
    **overrides
        Preset parameters to change (``n_participants``, ``n_variants``, ``n_outcome``,
        ``segment_length``, ... see ``bma_genetics.simulate.presets``).

    Returns
    -------
    Path
        ``out``. Its layout (version 2) is documented in ``docs/cohort_layout.md``:

        ========================================  =============================================
        path                                      contents
        ========================================  =============================================
        cohort.json                               sizes, parameters, sha256 of every file
        genotypes/imputed/ukb22828_c{N}_b0_v3.*   BGEN v1.2 (8-bit, zlib) + .sample
        genotypes/imputed/ukb_mfi_chr{N}_v3.txt   MFI (variant, rsid, pos, alleles, maf, info)
        genotypes/array/ukb22418_c{N}_b0_v2.*     PLINK 1 .bed/.bim/.fam
        genotypes/ukb_rel.dat                     relatedness (ID1 ID2 HetHet IBS0 Kinship)
        participants/ukb_showcase.{csv,dta}       showcase export (+ Stata), ukb_rap.csv
        participants/withdrawals.csv              withdrawn eids
        participants/bmff_idp.parquet             measured BMFF (eid, bmff_*)
        outcome_gwas/osteoporosis.tsv.gz          GWAS-SSF + -meta.yaml (GRCh37)
        outcome_gwas/osteoporosis.finngen.tsv.gz  the same GWAS on GRCh38, FinnGen's layout,
                                                  some rows without an rsid
        outcome_gwas/hg19ToHg38.over.chain.gz     UCSC chain GRCh37 -> GRCh38 of the windows
        outcome_gwas/bmd.tsv.gz                   second exposure (BMD) GWAS, GWAS-SSF + YAML
        outcome_gwas/osteoporosis_mvmr.tsv.gz     outcome with direct effects of BMFF and BMD
        eqtl/eqtl.smr.txt.gz, eqtl/eqtl.json     cis-eQTL of genes at the BMFF loci (SMR query
                                                  layout; truth/eqtl_genes.tsv)
        truth/*                                   causal variants, h2/rg, true BMFF, imaging
                                                  centre/date and array effects, disease
                                                  effects and cases, MR truth, planted QC
                                                  problems, variant_builds.tsv.gz (GRCh37/38)
        ========================================  =============================================

    Raises
    ------
    InputError
        Unknown preset or parameter, negative or too small sizes, unwritable ``out``.

    Examples
    --------
    >>> import tempfile, pandas as pd
    >>> out = simulate_cohort("tiny", seed=1, out=tempfile.mkdtemp() + "/c",
    ...                       n_participants=300, n_outcome=300, n_variants=1500)  # doctest: +SKIP
    >>> pd.read_parquet(out / "truth/bmff_true.parquet").shape  # doctest: +SKIP
    (300, 23)
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise fail("simulate_cohort/seed", f"expected an integer >= 0, found {seed!r}")
    seed = int(seed)
    cfg = resolve(preset, overrides)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise fail("simulate_cohort/out", f"{out} exists and is not a directory")
    if resume and _matches(out, preset, seed, cfg):
        log.info("%s already holds preset %r seed %d with matching checksums; nothing to do", out, preset, seed)
        return out
    if out.is_dir() and any(out.iterdir()) and not (out / "cohort.json").exists():
        raise fail("simulate_cohort/out", f"{out} is a non-empty directory that is not a cohort; choose another path")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    except OSError as exc:
        raise fail("simulate_cohort/out", f"cannot write to {out.parent}: {exc.strerror or exc}") from None
    try:
        _simulate_into(tmp, preset, seed, cfg)
        if out.exists():
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            os.replace(out, old)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("cohort written to %s", out)
    return out


# ----------------------------------------------------------------------------- the simulation
def _hotspot_r2(sg: gt.SegmentGenotypes, group: np.ndarray) -> list[dict[str, Any]]:
    """For each of group 2's hotspots in a segment: the common cohort variants on either side
    (nearest with MAF >= 0.05 in both groups, within 10 kb) and their r^2 in each group."""
    rows: list[dict[str, Any]] = []
    if sg.hotspots.size == 0 or len(sg.positions) < 2:
        return rows
    g1, g2 = group == 1, group == 2
    if g1.sum() < 3 or g2.sum() < 3:
        return rows
    x = sg.cohort
    af1 = x[:, g1].mean(axis=1) / 2
    af2 = x[:, g2].mean(axis=1) / 2
    common = np.flatnonzero((np.minimum(af1, 1 - af1) >= 0.05) & (np.minimum(af2, 1 - af2) >= 0.05))
    if common.size < 2:
        return rows
    cpos = sg.positions[common]
    for h, p in zip(sg.hotspots, sg.hotspot_strength, strict=True):
        k = int(np.searchsorted(cpos, h, side="left"))
        if k == 0 or k == len(cpos) or cpos[k] - cpos[k - 1] > 10_000:
            continue
        i, j = common[k - 1], common[k]
        r2 = [float(np.corrcoef(x[i, m].astype(float), x[j, m].astype(float))[0, 1] ** 2) for m in (g1, g2)]
        rows.append({"chromosome": sg.segment.chromosome, "position": int(h), "swap_probability": round(float(p), 4),
                     "left_variant": int(sg.positions[i]), "right_variant": int(sg.positions[j]),
                     "r2_group1": round(r2[0], 5), "r2_group2": round(r2[1], 5)})
    return rows


def _write_ld_truth(root: Path, rows: list[dict[str, Any]], cfg: dict[str, Any]) -> None:
    """``truth/ld_hotspots_group2.tsv`` (one row per hotspot with a common variant on each side)
    and ``truth/ld_groups.json`` (the model and the mean r^2 across the hotspots in each group)."""
    table = pd.DataFrame(rows, columns=["chromosome", "position", "swap_probability", "left_variant",
                                        "right_variant", "r2_group1", "r2_group2"])
    table.to_csv(root / "truth/ld_hotspots_group2.tsv", sep="\t", index=False, lineterminator="\n")
    summary = {
        "model": "both ancestry groups share the coalescent (split from one ancestral population); group 2 "
                 "(non-European, 22006 not Caucasian) also recombines at hotspots of its own: at each, a random "
                 "pairing of group-2 haplotypes swaps tails with probability U(0.5, 1), keeping allele counts, "
                 "so LD across those points is lower in group 2 only and haplotype blocks differ between groups",
        "group2_hotspot_kb": cfg["group2_hotspot_kb"],
        "n_hotspots_with_flanking_common_variants": int(len(table)),
        "mean_r2_across_hotspots": {"group1": round(float(table["r2_group1"].mean()), 5) if len(table) else None,
                                    "group2": round(float(table["r2_group2"].mean()), 5) if len(table) else None},
        "table": "truth/ld_hotspots_group2.tsv",
    }
    (root / "truth/ld_groups.json").write_text(json.dumps(summary, indent=1) + "\n")


def _simulate_into(root: Path, preset: str, seed: int, cfg: dict[str, Any]) -> None:
    for sub in ("genotypes/imputed", "genotypes/array", "participants", "outcome_gwas", "truth"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    scratch = root / "_scratch"
    scratch.mkdir()

    genes, gene_source = bma_gene_table()
    seg_rng = _rng(seed, "segments")
    segments = gt.plan_segments(genes, cfg["segment_length"], cfg["n_background_segments"], seg_rng)
    people = gt.plan_individuals(
        cfg["n_participants"], cfg["n_outcome"], cfg["frac_group2"], cfg["n_sib_pairs"], cfg["n_po_pairs"],
        _rng(seed, "individuals"),
    )
    x_seg = gt.chrx_segment(len(segments), cfg["segment_length"])  # after the autosomes: their draws stay put
    n = cfg["n_participants"]
    eids = np.sort(_rng(seed, "eids").choice(np.arange(1_000_000, 6_000_000), size=n, replace=False))
    eids = _rng(seed, "eid-order").permutation(eids).astype(str).tolist()  # genotype order != eid order

    # participants' covariates (needed for sex in .sample/.fam)
    base = _participants_base(eids, people, cfg, _rng(seed, "participants"))
    # field 22000 from its own stream: the draws above are unchanged by it
    base["genotyping_batch"] = pt.draw_genotyping_batches(n, _rng(seed, "genotyping-batch"))
    genetic_sex = base["genetic_sex"].to_numpy().astype(int)
    male = genetic_sex == 1  # ploidy on chrX follows genetic sex (the .fam/.sample sex)

    # per-segment quotas of planted / causal variants
    qrng = _rng(seed, "quotas")
    nseg = len(segments)
    weights = np.array([s.length for s in segments], float)
    weights /= weights.sum()
    q_bg = np.bincount(qrng.choice(nseg, cfg["n_background_causal"], p=weights), minlength=nseg)
    q_hwe = np.bincount(qrng.choice(nseg, cfg["n_hwe_fail"], p=weights), minlength=nseg)
    q_lcr = np.bincount(qrng.choice(nseg, cfg["n_low_call_rate"], p=weights), minlength=nseg)
    per_segment = int(np.ceil(cfg["n_variants"] / nseg))

    outliers = base.index[base["het_missing_outlier"] == 1].to_numpy()
    causal: list[dict[str, Any]] = []
    causal_x: list[np.ndarray] = []  # cohort ALT counts
    causal_xo: list[np.ndarray] = []  # outcome-sample ALT counts
    pca_x: list[np.ndarray] = []
    variant_rows: list[pd.DataFrame] = []
    planted = {"hwe_fail_variants": [], "low_call_rate_variants": [], "low_info_variants": []}
    rs_next = 1_000_000 + int(_rng(seed, "rsid").integers(0, 1_000_000))

    chrx: dict[str, Any] = {}  # the sex-specific chrX causal variant
    bgen: wr.BgenWriter | None = None
    bed: wr.BedWriter | None = None
    mfi_lines: list[str] = []
    chrom_now: str | None = None
    chromosomes: list[str] = []

    def close_chrom() -> None:
        if bgen is None:
            return
        bgen.close()
        bed.close()
        wr.write_sample_file(root / f"genotypes/imputed/ukb22828_c{chrom_now}_b0_v3.sample", eids, genetic_sex)
        wr.write_fam(root / f"genotypes/array/ukb22418_c{chrom_now}_b0_v2.fam", eids, genetic_sex)
        (root / f"genotypes/imputed/ukb_mfi_chr{chrom_now}_v3.txt").write_text("".join(mfi_lines))

    hotspot_rows: list[dict[str, Any]] = []

    def _write_part(tag: str, seg: gt.Segment, sg: gt.SegmentGenotypes) -> None:
        """One segment's variants (one file-chromosome part of it) into every output."""
        nonlocal bgen, bed, mfi_lines, chrom_now, rs_next
        is_x = seg.chromosome == "X"
        rng = _rng(seed, f"segment-{seg.index}" if tag == seg.chromosome else f"segment-{seg.index}-{tag}")
        # quotas of planted problems and background causal variants are the autosomes'
        q_seg = {k: (int(q[seg.index]) if seg.index < nseg else 0) for k, q in
                 (("bg", q_bg), ("hwe", q_hwe), ("lcr", q_lcr))}
        x = sg.cohort  # (v, n) int8, modified in place by planted HWE failures
        # group 2's own hotspots change its genotypes only: the planted HWE failures below draw
        # as many random numbers as there are heterozygotes, so they run on group 2's genotypes
        # before the hotspots (every later draw, causal variants included, is then as without
        # them); the hotspot genotypes are put back afterwards, except at those planted variants
        g2 = np.flatnonzero(people.cohort_group == 2)
        true_g2 = x[:, g2].copy()
        x[:, g2] = sg.cohort_group2_plain
        v = len(sg.positions)
        if tag != chrom_now:
            close_chrom()
            chrom_now = tag
            chromosomes.append(chrom_now)
            bgen = wr.BgenWriter(root / f"genotypes/imputed/ukb22828_c{chrom_now}_b0_v3.bgen", eids)
            bed = wr.BedWriter(root / f"genotypes/array/ukb22418_c{chrom_now}_b0_v2")
            mfi_lines = []
        gaps = rng.integers(1, 40, size=v)
        rsids = [f"rs{r}" for r in rs_next + np.cumsum(gaps)]
        rs_next = int(rs_next + gaps.sum())
        vids = [f"{seg.chromosome}:{p}_{a}_{b}" for p, a, b in zip(sg.positions, sg.ref, sg.alt, strict=True)]
        af = x.mean(axis=1, dtype=np.float64) / 2
        maf = np.minimum(af, 1 - af)

        # the array: a random share of common variants; planted HWE failures and low call rates on it
        common = np.flatnonzero(maf >= 0.01)
        on_array = np.zeros(v, bool)
        on_array[rng.choice(common, size=int(round(cfg["array_fraction"] * len(common))), replace=False)] = True
        arr_idx = np.flatnonzero(on_array)
        hwe_cand = arr_idx[maf[arr_idx] >= 0.2]
        hwe = np.sort(rng.choice(hwe_cand, size=min(q_seg["hwe"], len(hwe_cand)), replace=False))
        rest = np.setdiff1d(arr_idx, hwe)
        lcr = np.sort(rng.choice(rest, size=min(q_seg["lcr"], len(rest)), replace=False))
        for j in hwe:
            # genotyping error: 60 % of heterozygotes called homozygous (either allele, so the
            # allele frequency barely moves) -> a strong heterozygote deficit
            het = np.flatnonzero(x[j] == 1)
            flip = het[rng.random(len(het)) < 0.6]
            x[j, flip] = np.where(rng.random(len(flip)) < 0.5, 2, 0)
        not_hwe = np.setdiff1d(np.arange(v), hwe)
        x[np.ix_(not_hwe, g2)] = true_g2[not_hwe]
        del true_g2
        planted["hwe_fail_variants"] += [vids[j] for j in hwe]
        planted["low_call_rate_variants"] += [vids[j] for j in lcr]

        # causal variants (never a planted QC variant)
        blocked = np.zeros(v, bool)
        blocked[hwe] = True
        pooled_af = (x.sum(axis=1, dtype=np.float64) + sg.outcome.sum(axis=1, dtype=np.float64)) / (
            2 * (x.shape[1] + sg.outcome.shape[1])
        )
        pooled_maf = np.minimum(pooled_af, 1 - pooled_af)
        chosen: list[tuple[int, str]] = []
        for gene in seg.genes:
            g0, g1 = int(gene_pos.loc[gene, "start"]), int(gene_pos.loc[gene, "end"])
            for pad in (0, 25_000, 100_000, seg.length):
                cand = np.flatnonzero((sg.positions >= g0 - pad) & (sg.positions <= g1 + pad) & (pooled_maf >= 0.05) & ~blocked)
                if len(cand):
                    break
            j = int(rng.choice(cand))
            blocked[j] = True
            chosen.append((j, gene))
        cand = np.flatnonzero((pooled_maf >= 0.01) & ~blocked)
        for j in rng.choice(cand, size=min(q_seg["bg"], len(cand)), replace=False):
            chosen.append((int(j), ""))
        for j, gene in sorted(chosen):
            causal.append({"variant_id": vids[j], "chromosome": seg.chromosome, "base_pair_location": int(sg.positions[j]),
                           "effect_allele": sg.alt[j], "other_allele": sg.ref[j], "gene": gene,
                           "pooled_af": float(pooled_af[j]), "effect_allele_frequency": float(af[j])})
            causal_x.append(x[j].copy())
            causal_xo.append(sg.outcome[j].copy())
        if tag == "X" and not chrx:
            # the sex-specific causal variant: common, X-specific (outside PAR1), on the array
            cand = np.flatnonzero((maf >= 0.15) & on_array & ~blocked)
            cand = cand if len(cand) else np.flatnonzero((maf >= 0.05) & ~blocked)
            j = int(rng.choice(cand))
            chrx.update(variant_id=vids[j], rsid=rsids[j], chromosome="X", base_pair_location=int(sg.positions[j]),
                        effect_allele=str(sg.alt[j]), other_allele=str(sg.ref[j]), dosage=x[j].copy())

        # imputed probabilities and INFO, in blocks to bound memory
        quality = _imputation_error(v, on_array, rng)
        info = np.empty(v)
        # blocks of variants bound the float64 temporaries (~60 MB each) at any cohort size
        step = 256 if n <= 10_000 else max(32, 2_560_000 // n)
        for lo in range(0, v, step):
            hi = min(v, lo + step)
            q = _probabilities(x[lo:hi], af[lo:hi], quality[lo:hi], rng, hemizygous=male if tag == "X" else None)
            info[lo:hi] = wr.impute_info(q)
            qf = q.astype(np.float64)
            theta = (qf[..., 1] + 2 * qf[..., 2]).sum(axis=1) / (255.0 * 2 * n)
            bgen.write_variants(seg.chromosome, sg.positions[lo:hi], vids[lo:hi], rsids[lo:hi],
                                list(sg.ref[lo:hi]), list(sg.alt[lo:hi]), q)
            for k in range(lo, hi):
                t = theta[k - lo]
                mfi_lines.append(
                    f"{vids[k]}\t{rsids[k]}\t{sg.positions[k]}\t{sg.ref[k]}\t{sg.alt[k]}\t"
                    f"{min(t, 1 - t):.6g}\t{sg.alt[k] if t <= 0.5 else sg.ref[k]}\t{info[k]:.6f}\n"
                )
        low_info = np.round(info, 6) < cfg["low_info_threshold"]
        planted["low_info_variants"] += [vids[j] for j in np.flatnonzero(low_info)]

        # array hard calls: A1 = ALT, A2 = REF (PLINK's usual minor/major order is not assumed)
        if len(arr_idx):
            calls = x[arr_idx].copy()
            miss = rng.random(calls.shape) < cfg["array_missing_rate"]
            miss[np.searchsorted(arr_idx, lcr)] |= rng.random((len(lcr), n)) < 0.15
            if len(outliers):
                sub = calls[:, outliers]
                sub_miss = rng.random(sub.shape) < 0.06
                to_het = (sub != 1) & (rng.random(sub.shape) < 0.12)
                sub[to_het] = 1
                calls[:, outliers] = sub
                miss[:, outliers] |= sub_miss
            a2_count = np.where(miss, -1, 2 - calls).astype(np.int8)  # count of A2 = REF
            # UK Biobank's array .bim codes chrX 23 and its PAR1 (XY) 25, as PLINK does
            bed.write_variants({"X": "23", "XY": "25"}.get(tag, tag), [rsids[j] for j in arr_idx], sg.positions[arr_idx],
                               list(sg.alt[arr_idx]), list(sg.ref[arr_idx]), a2_count)
            ok_pca = np.isin(arr_idx, np.concatenate([hwe, lcr]), invert=True)
            if not is_x:  # PCs from the autosomes, as UK Biobank's
                pca_x.append(np.where(miss, -1, calls)[ok_pca].astype(np.int8))

        if not is_x:  # the outcome GWAS covers the autosomes
            np.save(scratch / f"outcome_{seg.index:04d}.npy", sg.outcome)
        log.info("segment %d/%d chr%s:%d-%d %s: %d variants (%d on the array)", seg.index + 1, nseg,
                 seg.chromosome, seg.start, seg.end, ",".join(seg.genes) or "background", v, len(arr_idx))
        variant_rows.append(pd.DataFrame({
            "variant_id": vids, "rsid": rsids, "chromosome": seg.chromosome, "position": sg.positions,
            "ref": sg.ref, "alt": sg.alt, "af": af, "on_array": on_array, "info": info, "segment": seg.index,
        }))

    gene_pos = genes.set_index("gene_name")
    planted_regions = cf.regions(people, cfg)  # None unless confounding > 0
    for seg in tqdm([*segments, x_seg], desc="segments", unit="seg", disable=None):
        is_x = seg.chromosome == "X"
        sg_all = gt.simulate_segment(
            seg, people, ne=cfg["ne"], split_time=cfg["split_time"], recombination_rate=cfg["recombination_rate"],
            mutation_rate=cfg["mutation_rate"], maf_min=cfg["maf_min"], target_variants=per_segment,
            ref_is_derived=cfg["ref_is_derived"], seed=seed, hotspot_kb=cfg["group2_hotspot_kb"],
            hemizygous=male if is_x else None, regions=planted_regions,
        )
        if not is_x:
            hotspot_rows += _hotspot_r2(sg_all, people.cohort_group)
        # chrX is written as UK Biobank ships it: X (outside PAR1) and XY (PAR1) files
        for tag, sg in gt.split_par(sg_all) if is_x else [(seg.chromosome, sg_all)]:
            _write_part(tag, seg, sg)
    close_chrom()
    variants = pd.concat(variant_rows, ignore_index=True)
    log.info("%d variants (%d on the array) in %d segments", len(variants), int(variants["on_array"].sum()), nseg)

    # genetic PCs on array genotypes of unrelated, QC-passing participants, projected to all
    pcs = _genetic_pcs(pca_x, base["used_in_pca"].to_numpy() == 1, cfg, _rng(seed, "pca"))
    pca_x.clear()

    # traits
    cx = np.vstack(causal_x) if causal_x else np.zeros((0, n), np.int8)
    cxo = np.vstack(causal_xo) if causal_xo else np.zeros((0, cfg["n_outcome"]), np.int8)
    causal_df = pd.DataFrame(causal)
    x_effect = _chrx_effect(chrx["dosage"], male)
    region = env = None
    if planted_regions is not None:
        region = cf.region_of_cohort(people, planted_regions[0])
        env = cf.environment(region, cfg["confounding"])
    batch = ib.batch_of(base["imaging_date"].to_numpy())
    env_all = env
    if cfg["imaging_batch_offset"]:  # the planted batch shift (0: off, the cohort as without it)
        shift_b = ib.environment(batch, cfg["imaging_batch_offset"])
        env_all = shift_b if env is None else env + shift_b
    trait_out = _traits(causal_df, cx, cxo, base, cfg, _rng(seed, "traits"), x_genetic=x_effect, environment=env_all)

    # relatedness from the array genotypes of the planted pairs
    rel = _relatedness(root, [c for c in chromosomes if c not in ("X", "XY")], people, eids)

    # diagnoses
    codes, code_source = dz.code_table()
    birth = base["birth_date"].to_numpy().astype("datetime64[D]")
    records = dz.simulate_diagnoses(
        z=trait_out["z"], male=base["sex"].to_numpy(int), bmi=base["bmi"].to_numpy(float), birth=birth,
        imaging=base["imaging_date"].to_numpy().astype("datetime64[D]"), codes=codes,
        n_random_phecodes=cfg["n_random_phecodes"], p_low=cfg["p_low"], p_high=cfg["p_high"],
        rng=_rng(seed, "diagnoses"),
    )

    # exports
    base["genetic_grouping"] = np.where((base["group"] == 1) & (base["ethnicity"] == 1001) & (base["het_missing_outlier"] != 1), 1.0, np.nan)
    tables = pt.build_exports(base, pcs, records.icd10, records=records)
    pt.write_csv(tables["showcase"], root / "participants/ukb_showcase.csv")
    pt.write_dta(tables["stata"], root / "participants/ukb_showcase.dta")
    pt.write_csv(tables["rap"], root / "participants/ukb_rap.csv")
    wd = base["eid"][base["withdrawn"]].astype(np.int64).sort_values().astype(str)
    (root / "participants/withdrawals.csv").write_text("".join(f"{e}\n" for e in wd))

    order = np.argsort(base["eid"].astype(np.int64).to_numpy(), kind="stable")
    names = all_traits()
    true_df = pd.DataFrame(trait_out["true"], columns=names)
    true_df.insert(0, "eid", base["eid"].astype(str).to_numpy())
    idp_df = pd.DataFrame(trait_out["idp"], columns=names)
    idp_df.insert(0, "eid", base["eid"].astype(str).to_numpy())
    true_df.iloc[order].reset_index(drop=True).to_parquet(root / "truth/bmff_true.parquet", index=False)
    # the cohort's own BMFF table is a contract like the phenotypes stage's: one writer (io)
    write_bmff_table(idp_df.iloc[order][~np.isnan(trait_out["idp"][order]).all(axis=1)].reset_index(drop=True),
                     root / "participants/bmff_idp.parquet")

    # truth tables
    trait_out["causal_long"].to_csv(root / "truth/causal_variants.tsv", sep="\t", index=False, lineterminator="\n")
    _chrx_truth(chrx, male, trait_out).to_csv(root / "truth/chrx_effects.tsv", sep="\t", index=False,
                                              lineterminator="\n")
    xv = variants[variants["chromosome"] == "X"]
    (root / "truth/chrx.json").write_text(json.dumps({
        "window": {"chromosome": "X", "start": x_seg.start, "end": x_seg.end},
        "par1_end": gt.PAR1_END_GRCH37,
        "files": {"X": "ukb22828_cX_b0_v3.bgen (outside PAR1; .bim code 23)",
                  "XY": "ukb22828_cXY_b0_v3.bgen (PAR1, positions <= par1_end; .bim code 25)"},
        "contig_in_files": "X (BGEN chromosome field and variant ids, both files)",
        "n_variants": {"X": int((xv["position"] > gt.PAR1_END_GRCH37).sum()),
                       "XY": int((xv["position"] <= gt.PAR1_END_GRCH37).sum())},
        "male_coding": "outside PAR1 males carry one X: BGEN probabilities put no weight on the heterozygote "
                       "(dosage 0 or 2 per copy count 0/1, as UK Biobank's imputed chrX) and the array .bed "
                       "calls them homozygous; in PAR1 both sexes are diploid. Ploidy follows genetic sex "
                       "(the .fam/.sample sex).",
        "causal_variant": {k: v for k, v in chrx.items() if k != "dosage"},
        "effect_per_copy": {"region": CHRX_EFFECT_REGION, **CHRX_EFFECT_PER_COPY,
                            "scale": "latent SD of each femoral-head site; truth/chrx_effects.tsv per trait"},
        "n_female": int((~male).sum()), "n_male": int(male.sum()),
    }, indent=1) + "\n")
    (root / "truth/heritability.json").write_text(json.dumps(trait_out["heritability"], indent=1) + "\n")
    ht.write_truth(root, *ht.truth_tables(trait_out["g_autosomal"], x_effect, trait_out["idp"], base))
    if planted_regions is not None:
        cf.write_truth(root, eids, region, env, cfg, *planted_regions)
    _write_ld_truth(root, hotspot_rows, cfg)
    ib.write_truth(root, base["eid"].to_numpy(), batch, cfg["imaging_batch_offset"])
    effects = _covariate_effects(trait_out["scale_all"])
    effects.update(imaging_batch_offset=cfg["imaging_batch_offset"], imaging_batch_split=ib.IMAGING_BATCH_SPLIT,
                   imaging_batch_rule="batch 2 = 53-2.0 on or after imaging_batch_split; m += imaging_batch_offset "
                                      "for batch 2 (truth/imaging_batch.tsv)")
    (root / "truth/bmff_covariate_effects.json").write_text(json.dumps(effects, indent=1) + "\n")
    _write_disease_truth(root, records, base["eid"].astype(str).to_numpy())
    # the HR per SD of each exposure's genetic value: what a perfect polygenic score shows
    from bma_genetics.simulate.survival_truth import write_disease_genetic_effects

    write_disease_genetic_effects(root, records.effects, trait_out["z_genetic"], trait_out["heritability"]["h2"])
    rel_text = "ID1 ID2 HetHet IBS0 Kinship\n" + "".join(
        f"{r['ID1']} {r['ID2']} {r['HetHet']:.4f} {r['IBS0']:.4f} {r['Kinship']:.4f}\n" for r in rel
    )
    (root / "genotypes/ukb_rel.dat").write_text(rel_text)

    # outcome GWAS
    mr = _outcome_gwas(root, scratch, segments, [*segments, x_seg], variants, trait_out, cfg, _rng(seed, "outcome"))
    (root / "truth/mr_truth.json").write_text(json.dumps(mr, indent=1) + "\n")
    # a second exposure (BMD) sharing instruments, and an outcome with both direct effects (new files,
    # from their own random stream: every other output is unchanged)
    causal_segment = variants.set_index("variant_id").loc[causal_df["variant_id"], "segment"].to_numpy(int)
    mvmr_truth = se2.simulate_second_exposure(root, scratch, segments, variants, cxo, trait_out, cfg,
                                              _rng(seed, se2.RNG_NAME),
                                              fh_index=all_traits().index("bmff_femoral_head"),
                                              causal_segment=causal_segment, outcome_group=people.outcome_group)
    (root / "truth/mvmr_truth.json").write_text(json.dumps(mvmr_truth, indent=1) + "\n")
    # calvarial marrow intensity of the head T1 and its released IDP (own stream: new files only)
    from bma_genetics.simulate.calvarial import RNG_NAME as CALVARIAL_RNG
    from bma_genetics.simulate.calvarial import simulate_calvarial_truth

    simulate_calvarial_truth(root, causal_df, cx, base, _rng(seed, CALVARIAL_RNG))
    # cis-eQTL of genes at the BMFF loci (own stream: the files above do not change)
    eqtl_sizes = simulate_eqtl(root, segments, variants, causal_df, genes,
                               lambda index: np.load(scratch / f"outcome_{index:04d}.npy"), _rng(seed, "eqtl"))

    qc = {
        "sex_mismatch": base["eid"][base["sex"] != base["genetic_sex"]].astype(str).tolist(),
        "het_missing_outliers": base["eid"][base["het_missing_outlier"] == 1].astype(str).tolist(),
        "aneuploidy": base["eid"][base["aneuploidy"] == 1].astype(str).tolist(),
        "not_used_in_pca": base["eid"][base["used_in_pca"] != 1].astype(str).tolist(),
        "related_pairs": [[r["ID1"], r["ID2"], r["relationship"]] for r in rel],
        "withdrawn": wd.tolist(),
        "non_european": base["eid"][base["group"] == 2].astype(str).tolist(),
        "low_info_variants": planted["low_info_variants"],
        "hwe_fail_variants": planted["hwe_fail_variants"],
        "low_call_rate_variants": planted["low_call_rate_variants"],
        "thresholds": {
            "low_info_variants": f"MFI info < {cfg['low_info_threshold']} (all such variants)",
            "hwe_fail_variants": "planted: 60 % of heterozygotes miscalled homozygous (array and imputed); "
            "HWE p < 1e-6 finds them (more may fail in the mixed-ancestry sample)",
            "low_call_rate_variants": "planted: array call rate ~0.85 (others ~0.998)",
            "het_missing_outliers": "22027 = 1; array missing ~6 % and excess heterozygosity",
        },
    }
    for key in ("sex_mismatch", "het_missing_outliers", "aneuploidy", "not_used_in_pca", "non_european"):
        qc[key] = sorted(qc[key], key=int)
    (root / "truth/qc_planted.json").write_text(json.dumps(qc, indent=1) + "\n")

    shutil.rmtree(scratch)
    meta = {
        "layout_version": LAYOUT_VERSION,
        "preset": preset,
        "seed": seed,
        "n_participants": n,
        "n_variants": int(len(variants)),
        "n_array_variants": int(variants["on_array"].sum()),
        "n_outcome_sample": cfg["n_outcome"],
        "eqtl": eqtl_sizes,
        "chromosomes": chromosomes,
        "bmff_traits": names,
        "genome_build": "GRCh37",
        "segments": [{"chromosome": s.chromosome, "start": s.start, "end": s.end, "genes": list(s.genes)} for s in [*segments, x_seg]],
        "sources": {"genes": gene_source, "icd10_codes": code_source},
        "parameters": cfg,
        "files": _checksums(root),
    }
    (root / "cohort.json").write_text(json.dumps(meta, indent=1) + "\n")


def _write_disease_truth(root: Path, records: dz.Records, eids: np.ndarray) -> None:
    """``truth/disease_effects.tsv``, ``disease_onsets.tsv``, ``disease_cases.tsv``, ``follow_up.tsv``."""
    def tsv(frame: pd.DataFrame, name: str) -> None:
        frame.to_csv(root / "truth" / name, sep="\t", index=False, lineterminator="\n", date_format="%Y-%m-%d")

    tsv(records.effects, "disease_effects.tsv")
    onsets = records.onsets.assign(eid=eids[records.onsets["eid_index"].to_numpy(int)]).drop(columns="eid_index")
    onsets["onset_date"] = pd.to_datetime(onsets["onset_date"]).dt.strftime("%Y-%m-%d")
    order = {d.name: i for i, d in enumerate(dz.DISEASES)}
    onsets = onsets.assign(_d=onsets["disease"].map(order), _e=onsets["eid"].astype(np.int64))
    tsv(onsets.sort_values(["_d", "_e"])[["eid", "disease", "onset_date", "age_at_onset", "prevalent",
                                          "hospital_recorded"]], "disease_onsets.tsv")
    tsv(dz.qualifying_records(records, eids.tolist()), "disease_cases.tsv")
    follow = records.follow_up.copy()
    for c in ("imaging_date", "risk_start", "date_of_death", "date_lost_to_follow_up", "end_of_follow_up"):
        follow[c] = pd.to_datetime(follow[c]).dt.strftime("%Y-%m-%d")
    follow.insert(0, "eid", eids)
    tsv(follow.iloc[np.argsort(eids.astype(np.int64), kind="stable")], "follow_up.tsv")


def _participants_base(eids: list[str], people: gt.Individuals, cfg: dict[str, Any], rng: np.random.Generator) -> pd.DataFrame:
    """Covariates and planted QC flags, one row per cohort member (genotype order)."""
    n = len(eids)
    group = people.cohort_group.astype(int)
    sex = (rng.random(n) < 0.47).astype(int)
    age = np.clip(np.round(rng.normal(64, 7.6, n)), 45, 82).astype(int)
    centre_codes = np.array(list(pt.CENTRES))
    centre = centre_codes[rng.choice(len(centre_codes), size=n, p=pt.CENTRE_WEIGHTS)]
    start = np.array([np.datetime64(pt.CENTRES[c]) for c in centre])
    span = (np.datetime64(pt.IMAGING_END) - start).astype(np.int64)
    imaging = start + (rng.random(n) * span).astype("timedelta64[D]")
    birth = imaging - (np.round(age * 365.25 + rng.random(n) * 364)).astype("timedelta64[D]")
    # age in whole years at the imaging date (recomputed so that it matches the dates exactly)
    by = birth.astype("datetime64[Y]").astype(int) + 1970
    iy = imaging.astype("datetime64[Y]").astype(int) + 1970
    had_birthday = (imaging - imaging.astype("datetime64[Y]")) >= (birth - birth.astype("datetime64[Y]"))
    age = iy - by - (~had_birthday).astype(int)
    bmi = np.round(np.exp(rng.normal(np.where(sex == 1, np.log(27.2), np.log(26.4)), np.where(sex == 1, 0.13, 0.17))), 4)
    height = np.round(rng.normal(np.where(sex == 1, 176.5, 163.0), np.where(sex == 1, 6.8, 6.3)), 1)

    def draw(table: dict[int, float], size: int) -> np.ndarray:
        keys = np.array(list(table))
        p = np.array(list(table.values()), float)
        return keys[rng.choice(len(keys), size=size, p=p / p.sum())]

    ethnicity = np.where(group == 1, draw(pt.ETHNICITY_GROUP1, n), draw(pt.ETHNICITY_GROUP2, n))

    # planted QC problems on people outside related pairs
    in_pair = np.zeros(n, bool)
    for s1, s2, _, _ in people.sib_pairs:
        in_pair[[s1, s2]] = True
    for p_, c_, _ in people.po_pairs:
        in_pair[[p_, c_]] = True
    free = np.flatnonzero(~in_pair)
    pick = rng.choice(free, size=cfg["n_het_missing_outliers"] + cfg["n_aneuploidy"] + cfg["n_sex_mismatch"], replace=False)
    k1, k2 = cfg["n_het_missing_outliers"], cfg["n_het_missing_outliers"] + cfg["n_aneuploidy"]
    outlier, aneu, mismatch = pick[:k1], pick[k1:k2], pick[k2:]
    genetic_sex = sex.copy()
    genetic_sex[mismatch] = 1 - genetic_sex[mismatch]
    het_missing = np.full(n, np.nan)
    het_missing[outlier] = 1
    aneuploidy = np.full(n, np.nan)
    aneuploidy[aneu] = 1
    kinship = np.where(in_pair, 1.0, 0.0)
    kinship[outlier] = -1
    used = np.ones(n)
    second = [s2 for _, s2, _, _ in people.sib_pairs] + [c for _, c, _ in people.po_pairs]
    used[second] = np.nan
    used[outlier] = np.nan
    used[aneu] = np.nan
    withdrawn = np.zeros(n, bool)
    withdrawn[rng.choice(n, size=int(round(cfg["withdrawn_fraction"] * n)), replace=False)] = True
    imaged = rng.random(n) < cfg["imaged_fraction"]
    return pd.DataFrame({
        "eid": eids, "group": group, "sex": sex.astype(float), "year_of_birth": by.astype(float), "age": age.astype(float),
        "bmi": bmi, "height": height, "centre": centre.astype(float), "imaging_date": imaging.astype("datetime64[ns]"),
        "ethnicity": ethnicity.astype(float), "genetic_sex": genetic_sex.astype(float), "genetic_grouping": np.nan,
        "aneuploidy": aneuploidy, "used_in_pca": used, "kinship": kinship, "het_missing_outlier": het_missing,
        "birth_date": birth.astype("datetime64[ns]"), "withdrawn": withdrawn, "imaged": imaged,
    })


def _covariate_effects(scale_all: np.ndarray) -> dict[str, Any]:
    """The stated imaging-centre, imaging-date and array effects on BMFF (``traits.measurement_shift``)."""
    names = all_traits()
    return {
        "model": "bmff = ... + s * (L + m); m = centre_offset[54-2.0] + drift_per_year * years(53-2.0 - "
                 "drift_origin) + bileve_offset * (22000 < 0); m in latent SD units, the same at every site",
        "units": "latent SD units; times fat_fraction_per_latent_unit gives fat fraction",
        "centre_offset": {str(k): v for k, v in tr.CENTRE_OFFSET.items()},
        "reference_centre": "11025",
        "drift_per_year": tr.DATE_DRIFT_PER_YEAR,
        "drift_origin": tr.DRIFT_ORIGIN,
        "bileve_offset": tr.BILEVE_OFFSET,
        "bileve_batches": "22000 in -11..-1 (UK BiLEVE Axiom); 1..95 UK Biobank Axiom",
        "fat_fraction_per_latent_unit": {t: round(float(s), 6) for t, s in zip(names, scale_all, strict=True)},
        "applies_to": "truth/bmff_true.parquet, the images made from it and participants/bmff_idp.parquet",
    }


def _imputation_error(v: int, on_array: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Per-variant imputation error weight: most variants good, some poor, a few very poor."""
    u = rng.random(v)
    e = np.where(u < 0.75, rng.uniform(0.0, 0.15, v), np.where(u < 0.92, rng.uniform(0.15, 0.5, v), rng.uniform(0.55, 0.95, v)))
    return np.where(on_array, 0.01, e)


def _probabilities(x: np.ndarray, af: np.ndarray, error: np.ndarray, rng: np.random.Generator, *,
                   hemizygous: np.ndarray | None = None) -> np.ndarray:
    """Imputed genotype probabilities: a per-person mixture of the truth and the HWE prior.

    ``P = (1 - e_i) onehot(x_i) + e_i prior``, ``e_i = error_v * U(0.5, 1.5)`` (capped at 1),
    so that INFO falls as ``error_v`` rises. Returns 8-bit quantized (v, n, 3) uint8.

    ``hemizygous`` (chrX outside PAR1: True for males): their prior is haploid, ``(1 - af, 0,
    af)``, so a male's probabilities never put weight on the heterozygote, as in UK Biobank's
    imputed chrX (males stored as diploid homozygotes, dosage 0-2; IMPUTE's ``-chrX``).
    """
    v, n = x.shape
    prior = np.stack([(1 - af) ** 2, 2 * af * (1 - af), af**2], axis=1)
    e = np.minimum(error[:, None] * rng.uniform(0.5, 1.5, size=(v, n)), 1.0)
    keep = 1 - e
    probs = np.empty((v, n, 3))
    for k in range(3):
        probs[..., k] = e * prior[:, k, None] + keep * (x == k)
    if hemizygous is not None:
        m = np.asarray(hemizygous, bool)
        hap = np.stack([1 - af, np.zeros_like(af), af], axis=1)
        for k in range(3):
            probs[:, m, k] = e[:, m] * hap[:, k, None] + keep[:, m] * (x[:, m] == k)
    return wr.quantize_probabilities(probs)


def _genetic_pcs(blocks: list[np.ndarray], use: np.ndarray, cfg: dict[str, Any], rng: np.random.Generator) -> np.ndarray:
    """Top 40 PCs of standardized array genotypes (randomized SVD on ``use``), projected to all.

    Missing calls are set to the mean. Scores are scaled like UK Biobank's (sample scores,
    i.e. left singular vectors times singular values) and signed so each PC's largest
    loading is positive.
    """
    x = np.vstack(blocks) if blocks else np.zeros((0, len(use)), np.int8)
    if x.shape[0] > cfg["pca_max_variants"]:
        keep = np.linspace(0, x.shape[0] - 1, cfg["pca_max_variants"]).round().astype(int)
        x = x[keep]
    n = x.shape[1]
    valid = x >= 0
    af = np.where(valid[:, use], x[:, use], 0).sum(axis=1) / (2 * np.maximum(valid[:, use].sum(axis=1), 1))
    ok = (af > 0.01) & (af < 0.99)
    x, valid, af = x[ok], valid[ok], af[ok]
    sd = np.sqrt(2 * af * (1 - af))
    k = min(N_PCS, x.shape[0] - 1, int(use.sum()) - 1)

    def std(rows: slice) -> np.ndarray:
        z = (x[rows].astype(np.float64) - 2 * af[rows, None]) / sd[rows, None]
        return np.where(valid[rows], z, 0.0)

    # randomized SVD of Z_use (m x n_use): range finder on the sample side, in variant chunks
    m = x.shape[0]
    chunks = [slice(i, min(m, i + 1024)) for i in range(0, m, 1024)]  # bounds float64 temporaries
    n_use = int(use.sum())
    omega = rng.standard_normal((n_use, k + 12))
    y = np.vstack([std(c)[:, use] @ omega for c in chunks])  # m x l
    for _ in range(3):
        q, _ = np.linalg.qr(y)
        t = sum(std(c)[:, use].T @ q[c] for c in chunks)  # n_use x l
        t, _ = np.linalg.qr(t)
        y = np.vstack([std(c)[:, use] @ t for c in chunks])
    q, _ = np.linalg.qr(y)  # basis of the variant space
    b = sum(q[c].T @ std(c)[:, use] for c in chunks)  # l x n_use
    ub, s, vt = np.linalg.svd(b, full_matrices=False)
    loadings = q @ ub[:, :k]  # m x k, unit variant loadings
    sign = np.sign(loadings[np.abs(loadings).argmax(axis=0), np.arange(k)])
    loadings *= sign
    scores = sum(std(c).T @ loadings[c] for c in chunks)  # n x k, for everyone
    out = np.full((n, N_PCS), np.nan)
    out[:, :k] = np.round(scores, 4)
    return out


def _chrx_effect(dosage: np.ndarray, male: np.ndarray) -> np.ndarray:
    """Genetic values (n x base traits, latent units) of the sex-specific chrX causal variant.

    Copies of the effect allele: a female's dosage, half a male's (0/2 coding); each sex's copies
    are centred on that sex's mean, times :data:`CHRX_EFFECT_PER_COPY` of the sex, times the
    latent SD of each site of :data:`CHRX_EFFECT_REGION`.
    """
    stated = tr.stated_parameters([])
    sd = np.sqrt(np.diag(stated["sigma_g_base"]) + np.diag(stated["sigma_e_base"]))
    on = np.array([tr.region_of(t) == CHRX_EFFECT_REGION for t in tr.BASE_TRAITS], float)
    copies = np.where(male, dosage / 2.0, dosage.astype(float))
    out = np.zeros((len(dosage), len(tr.BASE_TRAITS)))
    for sex, is_sex in (("female", ~male), ("male", male)):
        c = copies[is_sex] - copies[is_sex].mean()
        out[is_sex] = np.outer(c, CHRX_EFFECT_PER_COPY[sex] * sd * on)
    return out


def _chrx_truth(chrx: dict[str, Any], male: np.ndarray, trait_out: dict[str, Any]) -> pd.DataFrame:
    """Per BMFF trait: the chrX variant's effect per copy in each sex (latent SD units of the trait)."""
    stated = tr.stated_parameters([])
    sd_base = np.sqrt(np.diag(stated["sigma_g_base"]) + np.diag(stated["sigma_e_base"]))
    on = np.array([tr.region_of(t) == CHRX_EFFECT_REGION for t in tr.BASE_TRAITS], float)
    w = tr.derivation_matrix()
    d = chrx["dosage"].astype(float)
    rows = []
    for i, t in enumerate(all_traits()):
        per = {sex: float(w[i] @ (b * sd_base * on)) / float(trait_out["sd_all"][i])
               for sex, b in CHRX_EFFECT_PER_COPY.items()}
        if per["female"] == 0 and per["male"] == 0:
            continue
        rows.append({**{k: chrx[k] for k in ("variant_id", "rsid", "chromosome", "base_pair_location",
                                             "effect_allele", "other_allele")},
                     "trait": t, "beta_female": round(per["female"], 6), "beta_male": round(per["male"], 6),
                     "beta_male_per_dosage": round(per["male"] / 2, 6),
                     "effect_allele_frequency_female": round(float(d[~male].mean() / 2), 6),
                     "effect_allele_frequency_male": round(float(d[male].mean() / 2), 6)})
    return pd.DataFrame(rows)


def _traits(causal: pd.DataFrame, cx: np.ndarray, cxo: np.ndarray, base: pd.DataFrame, cfg: dict[str, Any],
            rng: np.random.Generator, *, x_genetic: np.ndarray | None = None,
            environment: np.ndarray | None = None) -> dict[str, Any]:
    """Genetic values, true and measured BMFF, the truth tables (see ``traits`` for the model).

    ``x_genetic`` (n x base traits): the chrX variant's genetic values (:func:`_chrx_effect`), added
    to the cohort's after the autosomal ones are scaled to the stated h2 (so h2 is that of the
    autosomes plus this one variant's small share). ``environment`` (n,): planted confounding
    (``confounding.environment``), latent SD units added to the measurement part ``m``.
    """
    genes = [g for g in causal["gene"] if g]
    s_genes, s_bg = tr.background_covariance(genes)
    stated = tr.stated_parameters(genes)
    nb = len(tr.BASE_TRAITS)
    is_gene = (causal["gene"] != "").to_numpy()
    std_eff = np.zeros((len(causal), nb))
    for i, g in enumerate(causal["gene"]):
        if g:
            std_eff[i] = tr.gene_effect_vector(g)
    if (~is_gene).sum() >= nb:
        std_eff[~is_gene] = tr.exact_effects(int((~is_gene).sum()), s_bg, rng)
    p = causal["pooled_af"].to_numpy()
    per_allele = std_eff / np.sqrt(2 * p * (1 - p))[:, None]

    def genetic(xm: np.ndarray) -> np.ndarray:
        return (xm.T.astype(np.float64) - 2 * p) @ per_allele

    g_c, g_o = genetic(cx), genetic(cxo)
    # LD between causal variants and allele-frequency differences between the groups make the
    # genetic variance depart from its linkage-equilibrium value; rescale each base trait so
    # the genetic variance in the simulated population (cohort + outcome sample) is the
    # stated h2 (as GCTA's --simu-hsq does), keeping the effects in the truth consistent.
    pooled = np.vstack([g_c, g_o])
    factor = np.sqrt(np.diag(stated["sigma_g_base"]) / pooled.var(axis=0))
    per_allele *= factor
    g_c, g_o = g_c * factor, g_o * factor
    g_autosomal = g_c
    if x_genetic is not None:
        g_c = g_c + x_genetic
    chol_e = np.linalg.cholesky(stated["sigma_e_base"])
    e_c = rng.standard_normal((len(base), nb)) @ chol_e.T
    e_o = rng.standard_normal((g_o.shape[0], nb)) @ chol_e.T
    w = tr.derivation_matrix()
    latent_c = g_c + e_c
    age, male = base["age"].to_numpy(float), base["sex"].to_numpy(float)
    bmi, group2 = base["bmi"].to_numpy(float), (base["group"].to_numpy() == 2).astype(float)
    shift = tr.measurement_shift(base["centre"].to_numpy(), base["imaging_date"].to_numpy(),
                                 base["genotyping_batch"].to_numpy())
    if environment is not None:
        shift = shift + environment
    true_base = tr.to_fat_fraction(latent_c, age, male, bmi, group2, shift)
    noise = rng.standard_normal(true_base.shape) * (tr.NOISE_SD_FRAC * tr.base_scale())
    meas_base = true_base + noise
    imaged = base["imaged"].to_numpy()
    meas_base[~imaged] = np.nan
    meas_base[rng.random(meas_base.shape) < cfg["site_missing_rate"]] = np.nan
    true_all = true_base @ w.T
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all sites of a mean missing -> NaN, wanted
        idp_all = np.stack([np.nanmean(np.where(w[r] > 0, meas_base, np.nan), axis=1) if (w[r] > 0).sum() > 1
                            else meas_base[:, int(np.argmax(w[r]))] for r in range(w.shape[0])], axis=1)
    names = all_traits()
    sd_all = stated["latent_sd_all"]
    z = {t: (latent_c @ w[i]) / sd_all[i] for i, t in enumerate(names)}
    z_out_fh = (g_o + e_o) @ w[names.index("bmff_femoral_head")] / sd_all[names.index("bmff_femoral_head")]
    g_out_fh = g_o @ w[names.index("bmff_femoral_head")] / sd_all[names.index("bmff_femoral_head")]

    # realised h2 on the latent scale in the cohort, and of the measured IDP after covariates
    gc_all, lat_all = g_c @ w.T, latent_c @ w.T
    realised = {t: float(np.var(gc_all[:, i]) / np.var(lat_all[:, i])) for i, t in enumerate(names)}
    scale_all = w @ tr.base_scale()  # fat-fraction units per latent unit for means of equal-s sites
    realised_idp = {}
    for i, t in enumerate(names):
        ok = ~np.isnan(idp_all[:, i])
        resid = idp_all[ok, i] - (true_all[ok, i] - scale_all[i] * lat_all[ok, i])
        realised_idp[t] = float(np.var(scale_all[i] * gc_all[ok, i]) / np.var(resid))
    # the IDP's expected h2: genetic variance over latent + noise variance (fat-fraction scale)
    noise_var_base = (tr.NOISE_SD_FRAC * tr.base_scale()) ** 2
    h2_idp = {}
    for i, t in enumerate(names):
        var_g = (w[i] * tr.base_scale()) @ stated["sigma_g_base"] @ (w[i] * tr.base_scale())
        var_p = (w[i] * tr.base_scale()) @ (stated["sigma_g_base"] + stated["sigma_e_base"]) @ (w[i] * tr.base_scale())
        h2_idp[t] = float(var_g / (var_p + (w[i] ** 2) @ noise_var_base))
    heritability = {
        "scale": "latent covariate-adjusted true BMFF (G + E); h2_idp adds measurement noise",
        "h2": {t: round(float(h), 6) for t, h in zip(names, stated["h2_all"], strict=True)},
        "rg": {"traits": names, "matrix": np.round(stated["rg_all"], 6).tolist()},
        "realised_h2": {t: round(v, 6) for t, v in realised.items()},
        "h2_idp": {t: round(v, 6) for t, v in h2_idp.items()},
        "realised_h2_idp": {t: round(v, 6) for t, v in realised_idp.items()},
        "latent_sd": {t: round(float(s), 6) for t, s in zip(names, sd_all, strict=True)},
        "fat_fraction_per_latent_unit": {t: round(float(s), 6) for t, s in zip(names, scale_all, strict=True)},
        "measurement_noise_sd": {t: round(float(np.sqrt((w[i] ** 2) @ noise_var_base)), 6) for i, t in enumerate(names)},
        "realised_rg": {"traits": names, "matrix": np.round(np.corrcoef(gc_all, rowvar=False), 6).tolist()},
        "n_causal": {"named_genes": int(is_gene.sum()), "background": int((~is_gene).sum())},
    }

    # causal variants, long format: per-allele effect in SD units of each trait (latent scale)
    beta_all = per_allele @ w.T / sd_all  # (n_causal, 22)
    rows = []
    for i, rec in enumerate(causal.to_dict("records")):
        for k, t in enumerate(names):
            if beta_all[i, k] != 0:
                rows.append({**{c: rec[c] for c in ("variant_id", "chromosome", "base_pair_location", "effect_allele",
                                                     "other_allele", "gene")},
                             "trait": t, "beta": float(f"{beta_all[i, k]:.6g}"),
                             "effect_allele_frequency": round(rec["effect_allele_frequency"], 6)})
    causal_long = pd.DataFrame(rows, columns=["variant_id", "chromosome", "base_pair_location", "effect_allele",
                                              "other_allele", "gene", "trait", "beta", "effect_allele_frequency"])
    z_genetic = {t: gc_all[:, i] / sd_all[i] for i, t in enumerate(names)}
    return {"true": true_all, "idp": idp_all, "z": z, "z_genetic": z_genetic, "z_outcome_fh": z_out_fh,
            "g_outcome_fh": g_out_fh, "fh_per_allele": beta_all[:, names.index("bmff_femoral_head")],
            "heritability": heritability,
            "causal_long": causal_long, "sd_all": sd_all, "scale_all": scale_all, "g_autosomal": g_autosomal}


def _relatedness(root: Path, chromosomes: list[str], people: gt.Individuals, eids: list[str]) -> list[dict[str, Any]]:
    """KING-robust kinship (within-family estimator) of the planted pairs from the .bed files."""
    pairs = [(a, b, "sibling") for a, b, _, _ in people.sib_pairs] + [(a, b, "parent_offspring") for a, b, _ in people.po_pairs]
    if not pairs:
        return []
    slots = np.unique([s for a, b, _ in pairs for s in (a, b)])
    n = len(eids)
    cols = []
    for c in chromosomes:
        raw = np.fromfile(root / f"genotypes/array/ukb22418_c{c}_b0_v2.bed", dtype=np.uint8)[3:]
        nb = (n + 3) // 4
        raw = raw.reshape(-1, nb)
        byte, shift = slots // 4, 2 * (slots % 4)
        codes = (raw[:, byte] >> shift) & 3
        cols.append(codes)
    codes = np.vstack(cols)  # variants x slots, PLINK codes
    a2 = np.choose(codes, [0, -1, 1, 2])  # 00 hom A1, 01 missing, 10 het, 11 hom A2
    index = {s: i for i, s in enumerate(slots)}
    out = []
    for a, b, kind in pairs:
        ga, gb = a2[:, index[a]], a2[:, index[b]]
        ok = (ga >= 0) & (gb >= 0)
        ga, gb = ga[ok], gb[ok]
        hethet = np.sum((ga == 1) & (gb == 1))
        ibs0 = np.sum(np.abs(ga - gb) == 2)
        het_a, het_b = np.sum(ga == 1), np.sum(gb == 1)
        kin = (hethet - 2 * ibs0) / max(het_a + het_b, 1)
        e1, e2 = sorted([eids[a], eids[b]], key=int)
        out.append({"ID1": e1, "ID2": e2, "HetHet": hethet / ok.sum(), "IBS0": ibs0 / ok.sum(), "Kinship": kin,
                    "relationship": kind})
    out.sort(key=lambda r: (int(r["ID1"]), int(r["ID2"])))
    return out


def _outcome_gwas(root: Path, scratch: Path, segments: list[gt.Segment], all_segments: list[gt.Segment],
                  variants: pd.DataFrame,
                  trait_out: dict[str, Any], cfg: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    """Osteoporosis in the outcome sample, logistic GWAS per variant, GWAS-SSF + YAML.

    ``segments``: the autosomal windows the outcome GWAS covers; ``all_segments`` adds the chrX
    window, which the GRCh37 -> GRCh38 chain and ``truth/variant_builds.tsv.gz`` cover too.
    """
    import yaml

    z = trait_out["z_outcome_fh"]
    gamma = cfg["mr_log_odds_per_sd"]
    a = dz._calibrate_intercept(gamma * z, cfg["outcome_case_fraction"])
    y = (rng.random(len(z)) < 1 / (1 + np.exp(-(a + gamma * z)))).astype(np.int8)
    parts = []
    for seg in segments:
        x = np.load(scratch / f"outcome_{seg.index:04d}.npy")
        sub = variants[variants["segment"] == seg.index]
        for lo in range(0, len(x), 2048):
            xs = x[lo:lo + 2048]
            total, cases = oc.genotype_tables(xs, y)
            beta, se, conv = oc.logistic_from_tables(total, cases)
            eaf = (total[:, 1] + 2 * total[:, 2]) / (2 * total.sum(axis=1))
            controls = total - cases
            s = sub.iloc[lo:lo + 2048]
            parts.append(pd.DataFrame({
                "chromosome": s["chromosome"].to_numpy(), "base_pair_location": s["position"].to_numpy(),
                "effect_allele": s["alt"].to_numpy(), "other_allele": s["ref"].to_numpy(), "beta": beta,
                "standard_error": se, "effect_allele_frequency": eaf, "p_value": wald_p(beta, se),
                "rsid": s["rsid"].to_numpy(), "variant_id": s["variant_id"].to_numpy(), "n": len(y),
                "af_cases": (cases[:, 1] + 2 * cases[:, 2]) / (2 * cases.sum(axis=1)),
                "af_controls": (controls[:, 1] + 2 * controls[:, 2]) / (2 * controls.sum(axis=1)),
                "nearest_genes": seg.genes[0] if seg.genes else "",
            }))
    ss = pd.concat(parts, ignore_index=True)
    # the same GWAS on GRCh38 in FinnGen's layout, with the chain file between the builds
    offsets = sb.grch38_offsets(segments)
    # the chrX window (not in the outcome GWAS) moves as the PAR1 boundary does: 2,699,520 -> 2,781,479
    chrx_windows = [s for s in all_segments if s.chromosome == "X"]
    if chrx_windows:
        offsets["X"] = 2_781_479 - gt.PAR1_END_GRCH37
    sb.write_chain([*segments, *chrx_windows], offsets, root / "outcome_gwas/hg19ToHg38.over.chain.gz")
    fg = sb.finngen_table(ss, offsets, ss["nearest_genes"], rng)
    wr.write_gzip_text(root / "outcome_gwas/osteoporosis.finngen.tsv.gz",
                       fg.to_csv(sep="\t", index=False, float_format="%.6g", lineterminator="\n", na_rep="NA"))
    builds = sb.variant_builds(variants, offsets)
    wr.write_gzip_text(root / "truth/variant_builds.tsv.gz",
                       builds.to_csv(sep="\t", index=False, lineterminator="\n"))
    ss = ss.drop(columns=["af_cases", "af_controls", "nearest_genes"])
    path = root / "outcome_gwas/osteoporosis.tsv.gz"
    text = ss.to_csv(sep="\t", index=False, float_format="%.6g", lineterminator="\n", na_rep="#NA")
    wr.write_gzip_text(path, text)
    md5 = hashlib.md5(path.read_bytes()).hexdigest()
    n_case = int(y.sum())
    meta = {
        "genome_assembly": "GRCh37",
        "coordinate_system": "1-based",
        "trait_description": ["osteoporosis"],
        "sample_size": int(len(y)),
        "case_count": n_case,
        "control_count": int(len(y) - n_case),
        "sample_ancestry": ["European (simulated, 90 %)", "non-European (simulated, 10 %)"],
        "file_type": "GWAS-SSF v1.0",
        "data_file_name": path.name,
        "data_file_md5sum": md5,
        "is_harmonised": False,
        "is_sorted": True,
        "analysis_software": "bma_genetics.simulate (logistic regression, Newton-Raphson, intercept + ALT dosage)",
        "adjusted_covariates": [],
        "author_notes": "Simulated independent sample; causal effect of femoral-head BMFF on osteoporosis in "
        "truth/mr_truth.json. effect_allele is the ALT allele.",
    }
    (root / "outcome_gwas/osteoporosis.tsv.gz-meta.yaml").write_text(yaml.safe_dump(meta, sort_keys=False))
    names = all_traits()
    i = names.index("bmff_femoral_head")
    return {
        "exposure": "bmff_femoral_head",
        "outcome": "osteoporosis",
        "causal_log_odds_per_sd": gamma,
        "exposure_scale": "latent covariate-adjusted true BMFF, per population SD (truth/heritability.json latent_sd)",
        "exposure_sd_fat_fraction": round(float(trait_out["sd_all"][i] * trait_out["scale_all"][i]), 6),
        "causal_log_odds_per_fat_fraction": round(gamma / float(trait_out["sd_all"][i] * trait_out["scale_all"][i]), 4),
        "outcome_sample_size": int(len(y)),
        "outcome_case_count": n_case,
        "note": "the outcome GWAS is unadjusted, so per-allele log-odds are marginal over the rest of the "
        "exposure's variance (non-collapsibility attenuates the Wald ratio by a few percent)",
    }

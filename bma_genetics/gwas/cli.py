"""``bma-genetics gwas``: plink2-style GWAS on Hail.

    bma-genetics gwas --bfile PREFIX --pheno pheno.tsv --covar covar.tsv --out DIR
    bma-genetics gwas --bgen 'ukb22828_c{chrom}_b0_v3.bgen' --sample F.sample --pheno ... --out DIR \
        --mfi 'ukb_mfi_chr{chrom}_v3.txt' --min-info 0.8

A study's GWAS (the ``gwas:`` section of a study YAML, with the stages it reads) runs with
``bma-genetics run STUDY.yaml --only gwas``.

``--pheno``/``--covar`` are FID/IID tab-separated tables (``NA`` missing; a leading ``#`` on the
header is allowed, as plink2 writes); every non-ID column of ``--pheno`` is a trait and every
non-ID column of ``--covar`` a covariate. IID is the sample id matched to the genotypes. A ``SEX`` column (PLINK's coding: 1 male, 2 female,
0 / NA unknown) becomes ``sex`` (0 female, 1 male): in ``--covar`` it is a covariate, in
``--pheno`` it is never a trait; either way it says who is male on chrX where the genotype files
carry no sex (the .fam's and the .sample's sex are read first), and it is the sex covariate that
chrX adds, as plink2's ``--xchr-model 2``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from bma_genetics._params import cli_option
from bma_genetics.gwas.stage import PARAMS

log = logging.getLogger(__name__)


def _read_plink_table(path: Path, where: str):
    import pandas as pd

    from bma_genetics._check import fail

    if not path.exists():
        raise fail(where, f"no such file {path}")
    from bma_genetics.io import read_text_table

    t = read_text_table(path, where=where, sep=r"\s+", dtype=str, na_values=["NA", "-9", "."],
                        keep_default_na=False)
    t.columns = [c.lstrip("#") for c in t.columns]
    if "IID" not in t.columns:
        raise fail(where, f"{path} has no IID column (plink2 layout: FID IID ...); it has {list(t.columns)[:10]}")
    t = t.rename(columns={"IID": "eid"}).drop(columns=[c for c in ("FID",) if c in t.columns])
    if "SEX" in t.columns:
        if "sex" in t.columns:
            raise fail(where, f"{path} has both 'SEX' and 'sex' columns; keep one")
        codes = t["SEX"].fillna("0")
        bad = ~codes.isin(["0", "1", "2"])
        if bad.any():
            i = int(bad.to_numpy().nonzero()[0][0])
            line = int(t.index[i]) + 2
            raise fail(where, f"{path}: column 'SEX' line {line}: {t['SEX'].iloc[i]!r} is not a PLINK sex code "
                       "(1 male, 2 female, 0 or NA unknown)")
        t = t.drop(columns="SEX").assign(sex=codes.map({"1": 1.0, "2": 0.0, "0": float("nan")}))
    same = t.duplicated()
    if same.any():  # a row repeated whole: kept once
        t = t[~same.to_numpy()]
    clash = t["eid"].duplicated(keep=False).to_numpy()
    if clash.any():
        lines = [int(i) + 2 for i in t.index[clash][:2]]
        raise fail(where, f"{path} column 'IID': lines {lines[0]} and {lines[1]} hold the same IID with different "
                   f"values ({int(t['eid'][clash].nunique())} such IID(s)); one row per sample")
    for c in t.columns:
        if c not in ("eid", "sex"):
            num = pd.to_numeric(t[c], errors="coerce")
            bad = (num.isna() & t[c].notna()).to_numpy()
            if bad.any():
                i = int(bad.nonzero()[0][0])
                raise fail(where, f"{path}: column {c!r} line {i + 2}: {t[c].iloc[i]!r} is not a number "
                           f"({int(bad.sum())} such value(s); missing is NA, -9 or .)")
            t[c] = num
    return t


def _remove_all_but(folder: Path, *, keep: set[str]) -> None:
    import shutil

    for item in folder.iterdir():
        if item.name in keep:
            continue
        if item.is_dir() and not item.is_symlink():
            shutil.rmtree(item, ignore_errors=True)
        else:
            item.unlink(missing_ok=True)
    if not any(folder.iterdir()):
        folder.rmdir()


def register(app: typer.Typer) -> None:
    @app.command("gwas")
    def gwas(
        out: Path = typer.Option(..., "--out", help="Output directory."),
        bfile: str = typer.Option(None, "--bfile", help="PLINK 1 prefix (may contain {chrom})."),
        bgen: str = typer.Option(None, "--bgen", help="BGEN file, glob, directory or pattern with {chrom}."),
        sample: Path = typer.Option(None, "--sample", help="Oxford .sample file for --bgen."),
        vcf: str = typer.Option(None, "--vcf", help="VCF file(s) (DS or GT)."),
        pheno: Path = typer.Option(None, "--pheno", help="FID/IID table; every other column is a trait."),
        covar: Path = typer.Option(None, "--covar", help="FID/IID table; every other column is a covariate."),
        chromosomes: str = typer.Option(None, "--chr", help="Comma-separated chromosomes (with {chrom} patterns)."),
        strata: str = typer.Option(None, "--strata", help="Comma-separated stratifying columns (e.g. sex)."),
        rint: bool = typer.Option(False, "--rint", "--apply-rint", help="Rank-based inverse-normal transform of "
                                  "traits (both steps with --relatedness keep_loco, as REGENIE's --apply-rint)."),
        remove: Path = typer.Option(None, "--remove", help="Withdrawals file (one eid per line)."),
        mfi: str = typer.Option(None, "--mfi", help="UK Biobank MFI files (ukb_mfi_chr{N}_v3.txt: no header; "
                                "alternate_id rsid position allele1 allele2 maf minor_allele info): comma-separated "
                                "paths, a glob or a {chrom} pattern. Variants with INFO < --min-info are removed "
                                "and INFO is written to the summary statistics."),
        min_info: float = cli_option(PARAMS, "qc.min_info", "--min-info"),
        block_size: int = cli_option(PARAMS, "block_size"),
        linear_engine: str = cli_option(PARAMS, "linear_engine", "--linear-engine"),
        firth: str = cli_option(PARAMS, "firth"),
        firth_p: float = cli_option(PARAMS, "firth_p", "--firth-p"),
        interaction: str = cli_option(PARAMS, "interaction"),
        condition_list: Path = typer.Option(None, "--condition-list", help="File of variant ids (one per line; "
                                            "varid, rsid or chr_pos_ref_alt) whose dosages are covariates of every "
                                            "analysis, as plink2 --condition-list."),
        condition: str = typer.Option(None, "--condition", help="Comma-separated variant ids to condition on "
                                      "(plink2 --condition)."),
        ld: str = cli_option(PARAMS, "ld"),
        allow_partial_ld: bool = cli_option(PARAMS, "allow_partial_ld", "--allow-partial-ld"),
        relatedness: str = cli_option(PARAMS, "relatedness"),
        array: str = typer.Option(None, "--array", help="Array genotypes (PLINK prefix or {chrom} pattern) for "
                                  "step 1 with --relatedness keep_loco (default: --bfile)."),
        pred: Path = typer.Option(None, "--pred", help="An existing _pred.list (ours or REGENIE's step 1) used "
                                  "instead of running step 1 (--relatedness keep_loco)."),
        step1_block_size: int = cli_option(PARAMS, "step1.block_size", "--step1-block-size"),
        kinship: Path = typer.Option(None, "--kinship", help="ukb_rel.dat: with --relatedness keep_loco, each LOCO "
                                     "statistic is divided by its relatedness factor (docs/gwas.md)."),
        seed: int = typer.Option(1, "--seed", help="Seed of step 1's cross-validation folds."),
        no_plots: bool = typer.Option(False, "--no-plots", help="Skip figures."),
        master: str = typer.Option("local[*]", "--master", help="Spark master ('' = the cluster's own)."),
        tmp_dir: str = typer.Option(None, "--tmp-dir", help="Hail temporary directory."),
    ) -> None:
        """GWAS of every trait (x stratum) on Hail; GWAS-SSF output, loci, QC table, plots.

        For a study config use `bma-genetics run CONFIG --only gwas` (runs the participants stage first).
        """
        import json

        from bma_genetics._check import fail

        if pheno is None:
            raise fail("gwas/--pheno", "give --pheno (and --covar) with --bfile/--bgen/--vcf "
                       "(a study config runs with `bma-genetics run STUDY.yaml --only gwas`)")
        from bma_genetics._hail import init_hail
        from bma_genetics.gwas.api import run_study_gwas
        from bma_genetics.gwas.figures import draw_gwas_figures

        ph = _read_plink_table(pheno, "gwas/--pheno")
        traits = [c for c in ph.columns if c not in ("eid", "sex")]
        covariates: list[str] = []
        if covar is not None:
            cv = _read_plink_table(covar, "gwas/--covar")
            covariates = [c for c in cv.columns if c != "eid"]
            if not set(ph["eid"]) & set(cv["eid"]):
                raise fail("gwas/--covar", f"{covar} and {pheno} share no IID: no sample has both phenotypes and "
                           "covariates")
            if "sex" in cv.columns and "sex" in ph.columns:
                ph = ph.drop(columns="sex")  # the covariate's
            ph = ph.merge(cv, on="eid", how="inner", suffixes=("", "_covar"))
        if "sex" in ph.columns:
            log.info("gwas: SEX column read as sex (%s; chrX ploidy where the genotype files carry no sex)",
                     "a covariate" if "sex" in covariates else "not a trait")
        fresh = not out.exists()
        try:
            result = run_study_gwas(
                ph, out=out, traits=traits, covariates=covariates, bgen=bgen, sample=sample, bfile=bfile, vcf=vcf,
                chromosomes=chromosomes.split(",") if chromosomes else None, withdrawals=remove, mfi=mfi,
                qc={"min_info": min_info},
                strata=strata.split(",") if strata else None, transform="rint" if rint else "none",
                block_size=block_size, ld=ld, allow_partial_ld=allow_partial_ld,
                relatedness=relatedness, pred=pred, seed=seed, step1={"block_size": step1_block_size},
                kinship=kinship,
                array=(array or bfile) if relatedness == "keep_loco" and pred is None else None,
                firth=firth, firth_p=firth_p, interaction=interaction, linear_engine=linear_engine,
                condition=condition_list if condition_list is not None else (condition.split(",") if condition else None),
                start_hail=lambda: init_hail(master=master or None, tmp_dir=tmp_dir, log_dir=out / "logs"),
            )
            if not no_plots:
                draw_gwas_figures(result, out / "figures")
        except BaseException:
            if fresh and out.is_dir():  # a failed first run leaves its log only, no result table
                _remove_all_but(out, keep={"logs"})
            raise
        summary = result.summary()
        typer.echo(json.dumps({k: summary[k] for k in ("lambda_gc", "n_loci", "samples")}, indent=1))

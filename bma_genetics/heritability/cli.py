"""``bma-genetics ldsc ldscore|munge|h2|rg|partitioned``: LD score regression, thin over the API."""

from __future__ import annotations

from pathlib import Path

import typer

from bma_genetics._params import cli_option
from bma_genetics.heritability.stage import PARAMS

ldsc_app = typer.Typer(help="LD score regression (LDSC 2.0.1's estimators and defaults): LD scores, munge, "
                            "h2, rg.", no_args_is_help=True)


def _traits(items: list[str], where: str) -> dict[str, Path]:
    """``label=path`` or ``path`` (label: the file name without .sumstats/.tsv/.txt/.gz)."""
    from bma_genetics._check import fail

    out: dict[str, Path] = {}
    for item in items:
        label, _, path = item.rpartition("=") if "=" in item else ("", "", item)
        p = Path(path)
        if not p.exists():
            raise fail(where, f"{p} not found")
        if not label:
            label = p.name
            for suffix in (".gz", ".bgz", ".bz2", ".tsv", ".txt", ".csv", ".sumstats"):
                label = label.removesuffix(suffix)
        if label in out:
            raise fail(where, f"two inputs are labelled {label!r}: write label=path")
        out[label] = p
    return out


def _optional(value: float | None) -> float | None:
    return None if value is None or value < 0 else value


@ldsc_app.command("ldscore")
def ldscore(
    out: Path = typer.Option(..., "--out", help="Folder for <chr>.l2.ldscore.gz, <chr>.l2.M, <chr>.l2.M_5_50."),
    ld: str = typer.Option(..., "--ld", help="Genotypes: a PLINK prefix, a BGEN file or folder, or 'reference' "
                                             "(cached 1000G EUR, chr17-22)."),
    window: str = cli_option(PARAMS, "window"),
    chunk_size: int = cli_option(PARAMS, "chunk_size"),
    maf_min: float = typer.Option(0.0, "--maf-min", help="Keep SNPs with MAF above this (LDSC's --maf)."),
    keep: Path = typer.Option(None, "--keep", help="File of sample ids (one per line, IID) to use."),
    annot: str = typer.Option(None, "--annot", help="Per-chromosome prefix of LDSC .annot files (annot/base. -> "
                                                    "annot/base.<chr>.annot.gz; '@' marks the chromosome): "
                                                    "partitioned LD scores, one column per annotation."),
    thin_annot: bool = typer.Option(False, "--thin-annot", help="The .annot files hold only the annotation columns, "
                                                                "one row per SNP of the genotypes, in order."),
) -> None:
    """LD scores in windows (LDSC's --l2, with --annot partitioned), in LDSC's per-chromosome layout."""
    from bma_genetics.heritability.api import run_ldscore

    samples = [ln.split()[-1] for ln in keep.read_text().splitlines() if ln.strip()] if keep else None
    res = run_ldscore(ld, samples=samples, window=window, chunk_size=chunk_size, ld_maf_min=maf_min, annot=annot,
                      thin_annot=thin_annot, out=out)
    s = res.summary()
    typer.echo(f"LD scores of {s['n_snps']} SNPs (M = {s['m']:.0f}, M_5_50 = {s['m_5_50']:.0f}, "
               f"mean L2 {s['mean_l2']:.3g}) written to {out}")


@ldsc_app.command("munge")
def munge(
    sumstats: Path = typer.Option(..., "--sumstats", help="Summary statistics in any format io reads."),
    out: Path = typer.Option(..., "--out", help="The .sumstats.gz to write (SNP A1 A2 Z N)."),
    snp_list: str = typer.Option(None, "--snp-list", help="hapmap3 (cached list) or a w_hm3.snplist path "
                                                          "(LDSC's --merge-alleles)."),
    info_min: float = cli_option(PARAMS, "info_min"),
    maf_min: float = cli_option(PARAMS, "maf_min"),
    n: float = typer.Option(None, "--n", help="Sample size when the file has none (LDSC's --N)."),
    n_effective: bool = typer.Option(False, "--n-effective", help="Cases/controls: N = 4/(1/Nca + 1/Nco)."),
) -> None:
    """Munge summary statistics (LDSC's munge_sumstats.py), with the count removed at each filter."""
    from bma_genetics.heritability.api import run_munge

    res = run_munge(sumstats, snp_list=snp_list, info_min=info_min, maf_min=maf_min, n=n,
                    n_effective=n_effective, out=out)
    typer.echo(res.filters.to_string(index=False))
    typer.echo(f"{len(res.table)} SNPs written to {out}")


@ldsc_app.command("h2")
def h2(
    sumstats: list[str] = typer.Argument(..., help="Munged .sumstats.gz or raw summary statistics, as label=path "
                                                   "or path."),
    ld_scores: Path = typer.Option(..., "--ld-scores", help="LD-score folder or prefix (eur_w_ld_chr/ layout)."),
    w_ld: Path = typer.Option(None, "--w-ld", help="Regression-weight LD scores (default: --ld-scores)."),
    out: Path = typer.Option(..., "--out", help="Folder for h2.tsv and figures/."),
    intercept: float = cli_option(PARAMS, "intercept"),
    two_step: float = typer.Option(30.0, "--two-step", help="Two-step cutoff on chi^2; a negative value turns "
                                                            "it off."),
    chisq_max: float = cli_option(PARAMS, "chisq_max"),
    n_blocks: int = cli_option(PARAMS, "n_blocks"),
    not_m_5_50: bool = typer.Option(False, "--not-M-5-50", help="M counts every SNP, not only MAF > 5%."),
    sample_prevalence: float = typer.Option(None, "--samp-prev", help="Sample prevalence (liability scale)."),
    population_prevalence: float = typer.Option(None, "--pop-prev", help="Population prevalence."),
) -> None:
    """SNP heritability per trait (LDSC's --h2): h2, SE, intercept, ratio, mean chi^2, lambda GC."""
    from bma_genetics.heritability.api import run_h2
    from bma_genetics.heritability.figures import write_heritability_figures

    res = run_h2(_traits(sumstats, "ldsc h2/SUMSTATS"), ld_scores, w_ld=w_ld, m_common=not not_m_5_50,
                 intercept=intercept, two_step=_optional(two_step), chisq_max=chisq_max, n_blocks=n_blocks,
                 sample_prevalence=sample_prevalence, population_prevalence=population_prevalence, out=out)
    write_heritability_figures(res, None, out / "figures")
    cols = ["trait", "h2", "h2_standard_error", "intercept", "intercept_standard_error", "ratio", "mean_chisq",
            "lambda_gc", "nsnp"]
    typer.echo(res.table[cols].to_string(index=False, float_format=lambda v: f"{v:.4g}"))


@ldsc_app.command("rg")
def rg(
    sumstats: list[str] = typer.Argument(..., help="Two or more munged .sumstats.gz or raw summary statistics "
                                                   "(label=path or path); every pair is estimated."),
    ld_scores: Path = typer.Option(..., "--ld-scores", help="LD-score folder or prefix (eur_w_ld_chr/ layout)."),
    w_ld: Path = typer.Option(None, "--w-ld", help="Regression-weight LD scores (default: --ld-scores)."),
    out: Path = typer.Option(..., "--out", help="Folder for rg.tsv and figures/."),
    intercept_gencov: float = typer.Option(None, "--intercept-gencov", help="Constrain the gencov intercept."),
    two_step: float = typer.Option(-1.0, "--two-step", help="Two-step cutoff (off by default, as LDSC's --rg)."),
    n_blocks: int = cli_option(PARAMS, "n_blocks"),
) -> None:
    """Genetic correlation of every pair (LDSC's --rg): rg, SE, Z, P, gencov and its intercept."""
    from bma_genetics.heritability.api import run_rg
    from bma_genetics.plots import plot_rg_heatmap, save_figure

    res = run_rg(_traits(sumstats, "ldsc rg/SUMSTATS"), ld_scores, w_ld=w_ld, intercept_gencov=intercept_gencov,
                 two_step=_optional(two_step), n_blocks=n_blocks, out=out)
    save_figure(plot_rg_heatmap(res.to_frame()), out / "figures" / "rg_heatmap", close=True)
    cols = ["trait_1", "trait_2", "rg", "standard_error", "z", "p_value", "gencov_intercept", "nsnp"]
    typer.echo(res.table[cols].to_string(index=False, float_format=lambda v: f"{v:.4g}"))


@ldsc_app.command("partitioned")
def partitioned(
    sumstats: list[str] = typer.Argument(..., help="Munged .sumstats.gz or raw summary statistics, as label=path "
                                                   "or path."),
    ld_scores: list[str] = typer.Option(..., "--ld-scores", help="Partitioned LD-score folder or prefix; repeat it "
                                                                 "for sets side by side (LDSC's --ref-ld-chr a,b)."),
    w_ld: Path = typer.Option(..., "--w-ld", help="Regression-weight LD scores, one column (LDSC's --w-ld-chr)."),
    out: Path = typer.Option(..., "--out", help="Folder for partitioned_h2.tsv and partitioned_h2_total.tsv."),
    overlap_annot: list[str] = typer.Option(None, "--overlap-annot", help="The .annot prefix of each --ld-scores "
                                                                          "set (overlapping categories)."),
    frq: str = typer.Option(None, "--frq", help="Per-chromosome prefix of PLINK .frq files (LDSC's "
                                                "--frqfile-chr): the overlap counts SNPs with 0.05 < FRQ < 0.95."),
    intercept: float = cli_option(PARAMS, "intercept"),
    chisq_max: float = typer.Option(None, "--chisq-max", help="Drop SNPs with chi^2 at or above this (default: "
                                                              "LDSC's max(0.001 max N, 80))."),
    n_blocks: int = cli_option(PARAMS, "n_blocks"),
    not_m_5_50: bool = typer.Option(False, "--not-M-5-50", help="M counts every SNP, not only MAF > 5%."),
) -> None:
    """Partitioned h2 (LDSC's --h2 with annotation LD scores and --overlap-annot): per category the
    proportion of SNPs and of h2, enrichment with SE and P, coefficient with SE and Z."""
    from bma_genetics.heritability.api import PARTITIONED_COLUMNS, run_partitioned_h2

    res = run_partitioned_h2(_traits(sumstats, "ldsc partitioned/SUMSTATS"),
                             ld_scores if len(ld_scores) > 1 else ld_scores[0], w_ld=w_ld,
                             m_common=not not_m_5_50, overlap_annot=overlap_annot or None, frq=frq,
                             intercept=intercept, chisq_max="auto" if chisq_max is None else chisq_max,
                             n_blocks=n_blocks, out=out)
    for trait, part in res.table.groupby("trait", sort=False):
        tot = res.totals.set_index("trait").loc[trait]
        typer.echo(f"{trait}: total h2 {tot['h2']:.4g} ({tot['h2_standard_error']:.3g}), intercept "
                   f"{tot['intercept']:.4g} ({tot['intercept_standard_error']:.3g}), {int(tot['nsnp'])} SNPs")
        typer.echo(part[PARTITIONED_COLUMNS].to_string(index=False, float_format=lambda v: f"{v:.4g}"))


def register(app: typer.Typer) -> None:
    app.add_typer(ldsc_app, name="ldsc")

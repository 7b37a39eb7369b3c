"""``bma-genetics finemap | coloc | smr``: fine-mapping, colocalisation and SMR, thin over the API."""

from __future__ import annotations

from pathlib import Path

import typer

from bma_genetics._params import cli_option
from bma_genetics.finemap.stage import PARAMS

_SUMSTATS = typer.Option(..., "--sumstats", help="GWAS summary statistics (any format io reads).")
_LOCI = typer.Option(None, "--loci", help="The gwas stage's loci table (loci/<trait>.loci.tsv); default: "
                                          "regions around variants with P below --p-threshold.")
_P = typer.Option(5e-8, "--p-threshold", help="Without --loci: regions around variants with P below this.")
_LD = typer.Option(..., "--ld", help="LD genotypes: a PLINK prefix, a BGEN file or folder, or 'reference' "
                                     "(cached 1000G EUR, chr17-22). Use the GWAS's own genotypes.")
_KEEP = typer.Option(None, "--keep", help="File of the analysed sample ids (one per line; the gwas stage's "
                                          "analysed_samples.txt): LD over those people only.")


def _finemap(sumstats: Path, loci: Path | None, p_threshold: float, ld: str, keep: Path | None, out: Path | None,
             **settings):
    from bma_genetics.finemap.api import regions_from_hits, run_finemap
    from bma_genetics.io import read_gwas_loci, read_sample_list, read_sumstats
    from bma_genetics.ld import open_ld_source

    ss = read_sumstats(sumstats)
    label = sumstats.name.split(".")[0]
    loc = read_gwas_loci(loci) if loci is not None else regions_from_hits(
        ss, p_threshold=p_threshold, flank_kb=settings.get("flank_kb", 250))
    samples = read_sample_list(keep) if keep is not None else None
    reader = open_ld_source(ld, samples=samples, where="finemap/--ld")
    return run_finemap({label: ss}, {label: loc}, reader, out=out, **settings)


def finemap(
    sumstats: Path = _SUMSTATS,
    loci: Path = _LOCI,
    p_threshold: float = _P,
    ld: str = _LD,
    keep: Path = _KEEP,
    out: Path = typer.Option(..., "--out", help="Folder for credible_sets.tsv, pips.tsv.gz, loci.tsv, figures/."),
    n_effects: int = cli_option(PARAMS, "L", "--L"),
    coverage: float = cli_option(PARAMS, "coverage"),
    min_abs_corr: float = cli_option(PARAMS, "min_abs_corr"),
    flank_kb: float = cli_option(PARAMS, "flank_kb"),
    max_variants: int = cli_option(PARAMS, "max_variants"),
) -> None:
    """SuSiE-RSS fine-mapping of each locus: 95 % credible sets and PIPs (susieR's susie_rss)."""
    from bma_genetics.finemap.figures import write_finemap_figures
    from bma_genetics.io import read_sumstats

    res = _finemap(sumstats, loci, p_threshold, ld, keep, out, L=n_effects, coverage=coverage,
                   min_abs_corr=min_abs_corr, flank_kb=flank_kb, max_variants=max_variants)
    label = sumstats.name.split(".")[0]
    write_finemap_figures(res, {label: read_sumstats(sumstats)}, None, out / "figures")
    cols = ["locus", "chromosome", "lead_variant", "n_variants", "n_credible_sets", "credible_set_sizes",
            "top_pip_variant", "top_pip"]
    typer.echo(res.loci[cols].to_string(index=False, float_format=lambda v: f"{v:.3g}"))


def coloc(
    sumstats: Path = _SUMSTATS,
    other: Path = typer.Option(..., "--other", help="The other study: eQTL (SMR query or GTEx v8 layout; one "
                                                    "test per gene) or another trait's summary statistics."),
    eqtl_n: float = cli_option(PARAMS, "eqtl_n"),
    loci: Path = _LOCI,
    p_threshold: float = _P,
    ld: str = _LD,
    keep: Path = _KEEP,
    out: Path = typer.Option(..., "--out", help="Folder for coloc.tsv, coloc_susie.tsv and the fine-mapping."),
    p1: float = cli_option(PARAMS, "p1"),
    p2: float = cli_option(PARAMS, "p2"),
    p12: float = cli_option(PARAMS, "p12"),
    susie: bool = typer.Option(True, "--susie/--no-susie", help="Also SuSiE-coloc (pairs of credible sets)."),
) -> None:
    """coloc.abf (and SuSiE-coloc) between each GWAS locus and another study."""
    from bma_genetics.finemap.api import run_coloc
    from bma_genetics.finemap.figures import write_finemap_figures
    from bma_genetics.io import eqtl_layout, read_eqtl, read_sumstats

    # the other study is read (and checked) first: a bad file writes nothing
    if eqtl_layout(other) is not None:
        table, label = read_eqtl(other, n=eqtl_n), "eqtl"
    else:  # a GWAS in any format read_sumstats reads
        table, label = read_sumstats(other), other.name.split(".")[0]
    fm = _finemap(sumstats, loci, p_threshold, ld, keep, out)
    res = run_coloc(fm, table, label=label, n2=eqtl_n, p1=p1, p2=p2, p12=p12, susie=susie, out=out)
    write_finemap_figures(fm, {fm.loci["trait"].iloc[0]: read_sumstats(sumstats)} if len(fm.loci) else {},
                          res.table, out / "figures", max_plots=0)
    cols = ["locus", "other", "gene_name", "nsnp", "pp_h3", "pp_h4", "top_variant"]
    typer.echo(res.table[cols].to_string(index=False, float_format=lambda v: f"{v:.3g}"))


def smr(
    sumstats: Path = _SUMSTATS,
    eqtl: Path = typer.Option(..., "--eqtl", help="eQTL summary statistics (SMR query or GTEx v8 layout)."),
    loci: Path = _LOCI,
    p_threshold: float = _P,
    ld: str = _LD,
    keep: Path = _KEEP,
    out: Path = typer.Option(..., "--out", help="Folder for smr.tsv."),
    p_eqtl: float = typer.Option(5e-8, "--peqtl-smr", help="Instrument threshold (SMR's --peqtl-smr)."),
    p_heidi: float = typer.Option(1.57e-3, "--peqtl-heidi", help="HEIDI variants' threshold (--peqtl-heidi)."),
) -> None:
    """SMR and HEIDI (Zhu 2016) of each eQTL gene at each GWAS locus, with LD from --ld."""
    from bma_genetics.finemap.api import run_smr
    from bma_genetics.io import read_eqtl

    table = read_eqtl(eqtl)  # checked before any work
    fm = _finemap(sumstats, loci, p_threshold, ld, keep, None)
    res = run_smr(fm, table, p_eqtl=p_eqtl, p_heidi=p_heidi, out=out)
    cols = ["locus", "gene_name", "top_variant", "beta", "standard_error", "p_value", "heidi_p_value", "nsnp_heidi"]
    typer.echo(res.table[cols].to_string(index=False, float_format=lambda v: f"{v:.3g}"))


def register(app: typer.Typer) -> None:
    app.command("finemap")(finemap)
    app.command("coloc")(coloc)
    app.command("smr")(smr)

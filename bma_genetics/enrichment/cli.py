"""``bma-genetics enrich``: gene and gene-set analysis of one summary-statistics file."""

from __future__ import annotations

from pathlib import Path

import typer

from bma_genetics._params import cli_option
from bma_genetics.enrichment.stage import PARAMS


def register(app: typer.Typer) -> None:
    @app.command("enrich")
    def enrich(
        sumstats: Path = typer.Option(..., "--sumstats", help="Summary statistics: GWAS-SSF, plink2 .glm.*, REGENIE, BOLT-LMM, SAIGE, METAL or FinnGen (detected)."),
        out: Path = typer.Option(..., "--out", help="Output folder (genes.tsv, gene_sets.tsv, figures/)."),
        gene_sets: str = typer.Option("GO_BP", "--gene-sets", help="GMT file, or GO_BP (cached GO biological processes), or none."),
        ld: str = typer.Option(None, "--ld", help="LD source: 'in-sample' (the default with --genotypes; with --samples, LD over the GWAS's analysed samples only), 'reference' (cached 1000G EUR panel, chr17-22; the default without --genotypes) or a PLINK prefix of your own panel."),
        genotypes: Path = typer.Option(None, "--genotypes", help="The GWAS sample's genotypes (BGEN file/folder or PLINK prefix), for --ld in-sample."),
        samples: Path = typer.Option(None, "--samples", help="The analysed samples, one eid a line (the GWAS's analysed_samples.txt, or a plink --keep file): LD over these only."),
        allow_partial_ld: bool = cli_option(PARAMS, "allow_partial_ld", "--allow-partial-ld"),
        build: str = cli_option(PARAMS, "build"),
        chain: Path = cli_option(PARAMS, "chain", help="UCSC chain file from the statistics' build to the LD source's (e.g. hg38ToHg19.over.chain.gz); without it, statistics on another build than the LD source are an error."),
        genes: Path = typer.Option(None, "--genes", help="Your own gene table or GTF instead of GENCODE."),
        window_up: float = cli_option(PARAMS, "window_up_kb", "--window-up"),
        window_down: float = cli_option(PARAMS, "window_down_kb", "--window-down"),
        shrinkage: float = cli_option(PARAMS, "shrinkage"),
        p_method: str = cli_option(PARAMS, "p_method"),
        min_size: int = cli_option(PARAMS, "min_size"),
        max_size: int = cli_option(PARAMS, "max_size"),
        n_jobs: int = cli_option(PARAMS, "n_jobs"),
    ) -> None:
        """Gene-based (SNP-wise mean/top) and gene-set (competitive GLS) enrichment."""
        from bma_genetics._atomic import staged_directory
        from bma_genetics._check import check_one_of
        from bma_genetics.enrichment.api import run_enrichment
        from bma_genetics.enrichment.figures import write_enrichment_figures

        if build is not None:
            check_one_of("enrich/--build", build, ["GRCh37", "GRCh38", "infer"])
        sets = None if gene_sets.lower() == "none" else gene_sets
        if ld is None:  # the GWAS's own genotypes, when given, are the LD source
            ld = "in-sample" if genotypes is not None else "reference"
        with staged_directory(out) as staged:  # a failure leaves no genes.tsv behind
            result = run_enrichment(
                sumstats, staged, gene_sets=sets, ld=ld, genotypes=genotypes, samples=samples,
                allow_partial_ld=allow_partial_ld, genes=genes, build=build,
                chain=chain,
                window_up_kb=window_up, window_down_kb=window_down, shrinkage=shrinkage,
                p_method=p_method, min_size=min_size, max_size=max_size, n_jobs=n_jobs,
            )
            result.files.update(write_enrichment_figures(result, staged / "figures"))
        summary = result.summary()
        if summary["ld_missing_chromosomes"]:
            typer.echo(f"warning: the LD source lacks chromosome(s) {', '.join(summary['ld_missing_chromosomes'])}: "
                       f"{summary['n_genes_left_out']} genes ({summary['n_snps_left_out']} SNPs) left out "
                       f"(--allow-partial-ld; listed in {out / 'ld_left_out.tsv'})", err=True)
        typer.echo(f"{summary['n_genes']} genes, {summary['n_significant_genes']} with P < "
                   f"{summary['bonferroni']:.2g}; {summary.get('n_sets', 0)} gene sets; written to {out}")

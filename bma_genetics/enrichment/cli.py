"""``bma-genetics enrich``: gene and gene-set analysis of one summary-statistics file."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("enrich")
    def enrich(
        sumstats: Path = typer.Option(..., "--sumstats", help="GWAS-SSF summary statistics (.tsv/.tsv.gz)."),
        out: Path = typer.Option(..., "--out", help="Output folder (genes.tsv, gene_sets.tsv, figures/)."),
        gene_sets: str = typer.Option("GO_BP", "--gene-sets", help="GMT file, or GO_BP (cached GO biological processes), or none."),
        ld: str = typer.Option("reference", "--ld", help="LD source: 'reference' (cached 1000G EUR panel, chr17-22) or a PLINK prefix of your own panel."),
        build: str = typer.Option("GRCh37", "--build", help="Genome build of the gene table: GRCh37 or GRCh38."),
        genes: Path = typer.Option(None, "--genes", help="Your own gene table or GTF instead of GENCODE."),
        window_up: float = typer.Option(10.0, "--window-up", help="Upstream window, kb."),
        window_down: float = typer.Option(10.0, "--window-down", help="Downstream window, kb."),
        shrinkage: float = typer.Option(0.0, "--shrinkage", help="LD shrinkage towards identity (0-1)."),
        p_method: str = typer.Option("saddle_contour", "--p-method", help="saddle_contour (exact), imhof or saddlepoint."),
        min_size: int = typer.Option(10, "--min-size", help="Smallest gene set analysed."),
        max_size: int = typer.Option(500, "--max-size", help="Largest gene set analysed."),
        n_jobs: int = typer.Option(1, "--n-jobs", help="Worker processes (-1: all cores)."),
    ) -> None:
        """Gene-based (SNP-wise mean/top) and gene-set (competitive GLS) enrichment."""
        from bma_genetics._check import check_one_of
        from bma_genetics.enrichment.api import run_enrichment
        from bma_genetics.enrichment.figures import write_enrichment_figures

        check_one_of("enrich/--build", build, ["GRCh37", "GRCh38"])
        sets = None if gene_sets.lower() == "none" else gene_sets
        result = run_enrichment(
            sumstats, out, gene_sets=sets, ld=ld, genes=genes, build=build,
            window_up_kb=window_up, window_down_kb=window_down, shrinkage=shrinkage,
            p_method=p_method, min_size=min_size, max_size=max_size, n_jobs=n_jobs,
        )
        result.files.update(write_enrichment_figures(result, out / "figures"))
        summary = result.summary()
        typer.echo(f"{summary['n_genes']} genes, {summary['n_significant_genes']} with P < "
                   f"{summary['bonferroni']:.2g}; {summary.get('n_sets', 0)} gene sets; written to {out}")

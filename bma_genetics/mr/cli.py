"""``bma-genetics mr``: two-sample MR from summary statistics or a harmonised table."""

from __future__ import annotations

from pathlib import Path

import typer

from bma_genetics._params import cli_option
from bma_genetics.mr.stage import PARAMS


def _mapping(text: str | None) -> dict[str, str] | None:
    """``"beta=BETA,standard_error=SE"`` -> {"beta": "BETA", ...}."""
    if not text:
        return None
    from bma_genetics._check import fail

    out = {}
    for part in text.split(","):
        if "=" not in part:
            raise fail("mr/columns", f"expected standard=column pairs separated by commas, found {part!r}")
        k, v = part.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def register(app: typer.Typer) -> None:
    @app.command("mr")
    def mr(
        out: Path = typer.Option(..., "--out", help="Output directory (mr_results.tsv, diagnostics, figures/)."),
        exposure: Path = typer.Option(None, "--exposure", help="Exposure summary statistics (GWAS-SSF, plink2 .glm.*, .regenie, FinnGen, table)."),
        outcome: Path = typer.Option(None, "--outcome", help="Outcome summary statistics (same formats)."),
        harmonised: Path = typer.Option(None, "--harmonised", help="Harmonised table instead (TwoSampleMR: SNP, beta.exposure, se.exposure, beta.outcome, se.outcome)."),
        exposure_name: str = typer.Option(None, help="Exposure label (default: file name)."),
        outcome_name: str = typer.Option(None, help="Outcome label (default: file name)."),
        exposure_format: str = typer.Option("auto", help="auto|gwas_ssf|plink2|regenie|bolt_lmm|saige|metal|finngen|table."),
        outcome_format: str = typer.Option("auto", help="auto|gwas_ssf|plink2|regenie|bolt_lmm|saige|metal|finngen|table."),
        exposure_columns: str = typer.Option(None, help="Column mapping for a generic table: beta=BETA,standard_error=SE,..."),
        outcome_columns: str = typer.Option(None, help="Column mapping for a generic table."),
        p_threshold: float = cli_option(PARAMS, "p_threshold"),
        p_fallback: float = cli_option(PARAMS, "p_fallback"),
        sample_overlap: bool = typer.Option(False, "--sample-overlap", help="The exposure and outcome GWAS share participants (a warning, recorded in run.json)."),
        ld: str = typer.Option(None, "--ld", help="LD source for clumping and proxies: 'in-sample' (the default with --genotypes; with --samples, LD over the GWAS's analysed samples only), 'reference' (1000G EUR, chr17-22) or a PLINK prefix; without any LD source MR needs --no-clump."),
        genotypes: Path = typer.Option(None, "--genotypes", help="The exposure GWAS sample's genotypes (BGEN file/folder or PLINK prefix), for --ld in-sample."),
        samples: Path = typer.Option(None, "--samples", help="The exposure GWAS's analysed samples, one eid a line (its analysed_samples.txt, or a plink --keep file): in-sample LD over these only."),
        allow_partial_ld: bool = cli_option(PARAMS, "allow_partial_ld", "--allow-partial-ld"),
        no_clump: bool = typer.Option(False, "--no-clump", help="Run with instruments that are not LD-clumped (needed without --ld; only for variants known to be independent; recorded in run.json)."),
        clump_r2: float = cli_option(PARAMS, "clump_r2"),
        clump_kb: float = cli_option(PARAMS, "clump_kb"),
        no_proxies: bool = typer.Option(False, "--no-proxies", help="Do not look for LD proxies."),
        proxy_r2: float = cli_option(PARAMS, "proxy_r2"),
        action: int = typer.Option(2, help="Harmonisation action: 1, 2 (infer palindromes from EAF) or 3."),
        methods: str = cli_option(PARAMS, "methods", help="Comma-separated methods, 'default' or 'all'."),
        nboot: int = cli_option(PARAMS, "nboot"),
        egger_distribution: str = cli_option(PARAMS, "egger_distribution"),
        median_weights: str = cli_option(PARAMS, "median_weights"),
        prevalence: float = cli_option(PARAMS, "prevalence"),
        steiger_filter: bool = cli_option(PARAMS, "steiger_filter", "--steiger-filter"),
        radial_weights: str = cli_option(PARAMS, "radial_weights"),
        penk: float = cli_option(PARAMS, "penk"),
        reverse: bool = typer.Option(False, "--reverse", help="Also run reverse-direction MR."),
        build: str = typer.Option(None, "--build", help="Genome build (GRCh37 or GRCh38) of every input file that states none (GWAS-SSF files state genome_assembly)."),
        exposure_build: str = typer.Option(None, "--exposure-build", help="Genome build of the exposure file when it states none (GRCh37, GRCh38, or infer: from HapMap3's positions on both builds; GWAS-SSF states genome_assembly)."),
        outcome_build: str = cli_option(PARAMS, "outcome_build"),
        chain: Path = cli_option(PARAMS, "chain", help="UCSC chain file (e.g. hg19ToHg38.over.chain.gz) to lift one study onto the other's build; without it, studies on different builds are an error."),
        seed: int = typer.Option(1, help="Seed for bootstrap and MR-PRESSO."),
        no_plots: bool = typer.Option(False, "--no-plots", help="Skip figures."),
    ) -> None:
        """Two-sample Mendelian randomisation (TwoSampleMR workflow, offline)."""
        from bma_genetics._atomic import staged_directory
        from bma_genetics._check import fail
        from bma_genetics.mr.api import run_mr_analysis
        from bma_genetics.mr.figures import write_mr_figures
        from bma_genetics.mr.methods import MRParameters

        if harmonised is None and (exposure is None or outcome is None):
            raise fail("mr/exposure", "give --exposure and --outcome, or --harmonised")
        params = MRParameters(nboot=nboot, seed=seed, egger_distribution=egger_distribution,
                              median_weights=median_weights, radial_weights=radial_weights, penk=penk)
        with staged_directory(out) as staged:  # a failure leaves no harmonised.tsv behind
            result = run_mr_analysis(
                staged, exposure=exposure, outcome=outcome, harmonised=harmonised, exposure_name=exposure_name,
                outcome_name=outcome_name, exposure_format=exposure_format, outcome_format=outcome_format,
                exposure_columns=_mapping(exposure_columns), outcome_columns=_mapping(outcome_columns),
                p_threshold=p_threshold, p_fallback=p_fallback, sample_overlap=True if sample_overlap else None,
                ld=ld, genotypes=genotypes, samples=samples, allow_partial_ld=allow_partial_ld, unclumped=no_clump,
                clump_r2=clump_r2, clump_kb=clump_kb,
                proxies=not no_proxies, proxy_r2=proxy_r2, action=action, methods=methods, params=params,
                prevalence=prevalence, reverse=reverse, build=build, exposure_build=exposure_build,
                outcome_build=outcome_build, chain=chain, steiger_filter=steiger_filter,
            )
            if not no_plots:
                result.files.update(write_mr_figures(result, staged / "figures"))
        summary = result.summary()
        ivw = summary["ivw"]
        msg = f"{summary['n_used']} of {summary['n_instruments']} instruments used"
        if ivw:
            msg += (f"; IVW beta = {ivw['beta']:.4g} (95% CI {ivw['ci_lower']:.4g}, {ivw['ci_upper']:.4g}), "
                    f"P = {ivw['p_value']:.3g}")
        strength = summary["instrument_strength"]
        msg += f"; mean F = {strength['mean_f_statistic']:.3g}"
        builds = summary.get("genome_build") or {}
        if builds.get("lift"):
            side = builds["lift"]
            lifted = builds.get("liftover") or {}
            msg += (f"; {side} lifted {builds[side]} -> {builds['joined_on']} ({lifted.get('lifted')} of "
                    f"{lifted.get('n')} variants mapped)")
        if summary["p_fallback_used"]:
            msg += f" (instruments at the fallback P < {summary['p_threshold_used']:g})"
        for warning in summary["warnings"]:
            typer.echo(f"warning: {warning}", err=True)
        typer.echo(f"{msg} -> {out / 'mr_results.tsv'}")

    @app.command("mvmr")
    def mvmr(
        out: Path = typer.Option(..., "--out", help="Output directory (mvmr_results.tsv, harmonised.tsv, instruments.tsv, figures/)."),
        exposure: list[str] = typer.Option(..., "--exposure", help="NAME=FILE of an exposure's summary statistics; give it two or more times (e.g. --exposure bmff=bmff.tsv.gz --exposure bmd=bmd.tsv.gz)."),
        outcome: Path = typer.Option(..., "--outcome", help="Outcome summary statistics (any supported format)."),
        outcome_name: str = typer.Option(None, help="Outcome label (default: file name)."),
        p_threshold: float = cli_option(PARAMS, "p_threshold"),
        ld: str = typer.Option(None, "--ld", help="LD source for clumping: 'in-sample' (with --genotypes), 'reference' (1000G EUR, chr17-22) or a PLINK prefix; without one, --no-clump."),
        genotypes: Path = typer.Option(None, "--genotypes", help="Genotypes for --ld in-sample (BGEN file/folder or PLINK prefix)."),
        samples: Path = typer.Option(None, "--samples", help="Analysed samples, one eid a line: in-sample LD over these only."),
        no_clump: bool = typer.Option(False, "--no-clump", help="Instruments not LD-clumped (only for variants known to be independent)."),
        clump_r2: float = cli_option(PARAMS, "clump_r2"),
        clump_kb: float = cli_option(PARAMS, "clump_kb"),
        egger_distribution: str = cli_option(PARAMS, "egger_distribution"),
        pcor: list[float] = typer.Option(None, "--pcor", help="Correlation of the exposures' SNP-effect errors for Q-het MVMR: the upper triangle row by row in --exposure order, one --pcor per value (one for two exposures); default: independent samples."),
        no_plots: bool = typer.Option(False, "--no-plots", help="Skip the forest plot."),
    ) -> None:
        """Multivariable MR (IVW-MVMR, MVMR-Egger, Q-het, conditional F, Sanderson's Q) of two or more exposures."""
        from bma_genetics._check import fail
        from bma_genetics.io import read_sample_list
        from bma_genetics.ld import open_ld_source
        from bma_genetics.mr.figures import write_mvmr_figures
        from bma_genetics.mr.methods import MRParameters
        from bma_genetics.mr.mvmr import run_mvmr_analysis

        exposures: dict[str, str] = {}
        for item in exposure:
            name, sep, path = item.partition("=")
            if not sep or not name.strip() or not path.strip():
                raise fail("mvmr/exposure", f"expected NAME=FILE, found {item!r}")
            exposures[name.strip()] = path.strip()
        if ld is None and genotypes is not None:
            ld = "in-sample"
        reader = None
        if ld is not None:
            keep = read_sample_list(samples) if samples is not None else None
            reader = open_ld_source(ld, genotypes=genotypes, samples=keep, where="mvmr/ld")
        result = run_mvmr_analysis(out, exposures=exposures, outcome=outcome, outcome_name=outcome_name,
                                   p_threshold=p_threshold, reader=reader, unclumped=no_clump, clump_r2=clump_r2,
                                   clump_kb=clump_kb, params=MRParameters(egger_distribution=egger_distribution),
                                   pcor=pcor or None)
        if not no_plots:
            result.files.update(write_mvmr_figures(result, out / "figures"))
        rep = result.summary()
        for e, est in rep["mvmr_ivw"].items():
            typer.echo(f"{e}: IVW-MVMR beta = {est['beta']:.4g} (95% CI {est['ci_lower']:.4g}, {est['ci_upper']:.4g}), "
                       f"conditional F = {rep['conditional_f'][e]:.3g}")
            qh = rep["mvmr_qhet"][e]
            typer.echo(f"{e}: Q-het MVMR beta = {qh['beta']:.4g} (95% CI {qh['ci_lower']:.4g}, {qh['ci_upper']:.4g})")
        q = rep["sanderson_q"]
        typer.echo(f"{rep['nsnp']} SNPs; Sanderson's Q = {q['q']:.4g} on {q['q_df']} df (P = {q['q_p_value']:.3g}) "
                   f"-> {out / 'mvmr_results.tsv'}")

"""``bma-genetics prs build|score``: polygenic scores, thin over the API."""

from __future__ import annotations

from pathlib import Path

import typer

from bma_genetics._params import cli_option
from bma_genetics.prs.stage import PARAMS

prs_app = typer.Typer(help="Polygenic scores: clumping + thresholding and PRS-CS weights, scoring in plink2 "
                           "--score's layout.", no_args_is_help=True)


def _ids(path: Path | None) -> list[str] | None:
    if path is None:
        return None
    from bma_genetics.io import read_sample_list

    return read_sample_list(path)


@prs_app.command("build")
def build(
    sumstats: list[str] = typer.Argument(..., help="Summary statistics (any format io reads), as label=path or path."),
    ld: str = typer.Option(..., "--ld", help="LD source: a PLINK prefix, a BGEN file or folder, or 'reference'."),
    ld_keep: Path = typer.Option(None, "--ld-keep", help="Sample list (plink2 --keep) of the LD samples, e.g. "
                                                         "gwas/analysed_samples.txt."),
    target: Path = typer.Option(..., "--target", help="Target genotypes: a BGEN file or folder, or a PLINK prefix."),
    keep: Path = typer.Option(None, "--keep", help="Sample list of the people to score (default: all)."),
    outcome: Path = typer.Option(None, "--outcome", help="TSV/CSV/Parquet with eid and one outcome column "
                                                         "(0/1 or continuous), for R^2 / AUC."),
    out: Path = typer.Option(..., "--out", help="Folder for weights/, scores.sscore, prs_results.tsv."),
    methods: list[str] = cli_option(PARAMS, "methods", "--method"),
    thresholds: list[float] = cli_option(PARAMS, "thresholds", "--threshold"),
    clump_r2: float = cli_option(PARAMS, "clump_r2"),
    clump_kb: float = cli_option(PARAMS, "clump_kb"),
    prscs_phi: float = cli_option(PARAMS, "prscs_phi"),
    prscs_n_iter: int = cli_option(PARAMS, "prscs_n_iter"),
    prscs_n_burnin: int = cli_option(PARAMS, "prscs_n_burnin"),
    prscs_thin: int = cli_option(PARAMS, "prscs_thin"),
    seed: int = typer.Option(0, "--seed", help="Seed of PRS-CS and of the validation/test split."),
) -> None:
    """Build C+T and PRS-CS weights, score the target people and report R^2 / AUC."""

    from bma_genetics.heritability.cli import (
        _traits,  # label=path arguments, as ldsc h2/rg take them
    )
    from bma_genetics.io import read_participant_table, read_sumstats
    from bma_genetics.ld import open_genotypes, open_ld_source
    from bma_genetics.prs.api import run_prs
    from bma_genetics.prs.figures import write_prs_figures
    from bma_genetics.prs.prscs import PRSCSParameters

    # the outcome first (a user's table: eid and one outcome column), through io's checks
    oc = read_participant_table(outcome, required=()) if outcome is not None else None
    ss = {label: read_sumstats(path) for label, path in _traits(sumstats, "prs build/SUMSTATS").items()}
    reader = open_ld_source(ld, samples=_ids(ld_keep), where="prs build/--ld")
    res = run_prs(ss, ld=reader, target=open_genotypes(target), target_samples=_ids(keep), outcome=oc,
                  methods=methods, thresholds=thresholds, clump_r2=clump_r2, clump_kb=clump_kb,
                  prscs=PRSCSParameters(phi=prscs_phi, n_iter=prscs_n_iter, n_burnin=prscs_n_burnin,
                                        thin=prscs_thin, seed=seed), seed=seed, out=out)
    if oc is not None:
        write_prs_figures(res, oc.assign(eid=oc["eid"].astype(str)), res.report["outcome"], out / "figures")
    typer.echo(res.table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    typer.echo(f"{res.report['n_target']} people scored; files in {out}")


@prs_app.command("score")
def score(
    weights: Path = typer.Option(..., "--weights", help="Weight table (weights/<trait>.tsv: variant_id, "
                                                        "effect_allele, other_allele, chromosome, "
                                                        "base_pair_location, score columns)."),
    genotypes: Path = typer.Option(..., "--genotypes", help="A BGEN file or folder, or a PLINK prefix."),
    keep: Path = typer.Option(None, "--keep", help="Sample list of the people to score (default: all)."),
    out: Path = typer.Option(..., "--out", help="The .sscore file to write."),
    no_mean_imputation: bool = typer.Option(False, "--no-mean-imputation", help="Missing genotypes count 0 "
                                                                               "(plink2's no-mean-imputation)."),
    keep_ambiguous: bool = cli_option(PARAMS, "keep_ambiguous"),
    max_mismatch: float = cli_option(PARAMS, "max_mismatch"),
) -> None:
    """Score people from BGEN or PLINK genotypes in one pass (plink2 --score's .sscore layout)."""
    from bma_genetics._atomic import write_table
    from bma_genetics.io.prs import read_prs_weights, write_sscore
    from bma_genetics.ld import open_genotypes
    from bma_genetics.prs.score import score_genotypes

    w = read_prs_weights(weights)
    cols = [c for c in w.columns if c.startswith("ct_") or c == "prscs"]
    res = score_genotypes(w, open_genotypes(genotypes), score_columns=cols, samples=_ids(keep),
                          mean_impute=not no_mean_imputation, keep_ambiguous=keep_ambiguous,
                          max_mismatch=max_mismatch)
    write_sscore(res.table, out)
    write_table(res.missing, Path(f"{str(out).removesuffix('.sscore')}.missing.tsv"))
    r = res.report
    typer.echo(f"{r['n_scored']} people scored on {r['n_matched']} of {r['n_input']} variants "
               f"({r['n_missing']} not in the genotypes, {r['n_ambiguous']} ambiguous, {r['n_mismatch']} allele "
               f"mismatches, {r['n_flipped']} strand flips); written to {out}")


def register(app: typer.Typer) -> None:
    app.add_typer(prs_app, name="prs")

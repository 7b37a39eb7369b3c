"""``bma-genetics phewas``: a thin wrapper over :func:`bma_genetics.phewas.run_phewas`."""

from __future__ import annotations

from pathlib import Path

import typer

from bma_genetics._params import cli_option
from bma_genetics.phewas.stage import PARAMS


def _split(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def register(app: typer.Typer) -> None:
    @app.command("phewas")
    def phewas(
        participants: Path = typer.Option(..., "--participants", help="Participant table (Parquet/TSV/CSV, eid + covariates)."),
        diagnoses: Path = typer.Option(..., "--diagnoses", help="Long diagnosis table (eid, code, date): the participants stage's diagnoses.parquet or a TSV/CSV."),
        exposure: str = typer.Option(..., "--exposure", help="Exposure column(s), comma-separated."),
        covariates: str = typer.Option("age,sex", "--covariates", help="Covariate columns, comma-separated."),
        out: Path = typer.Option(..., "--out", help="Output directory (phewas_results.tsv, figures/)."),
        phecode_version: str = cli_option(PARAMS, "phecode_version"),
        phecode_map: Path | None = typer.Option(None, "--phecode-map", help="Your own ICD-10 -> phecode map CSV."),
        bmff: Path | None = typer.Option(None, "--bmff", help="BMFF table joined on eid."),
        min_cases: int = cli_option(PARAMS, "min_cases"),
        min_phecode_count: int | None = cli_option(PARAMS, "min_phecode_count"),
        no_exclusion: bool = typer.Option(False, "--no-exclusion", help="Ignore phecode 1.2 exclusion ranges."),
        method: str = cli_option(PARAMS, "method"),
        firth: str = cli_option(PARAMS, "firth"),
        firth_below_cases: int = cli_option(PARAMS, "firth_below_cases"),
        no_standardise: bool = typer.Option(False, "--no-standardise", help="Keep exposures in their units."),
        cox_start: str | None = typer.Option(None, "--cox-start", help="Follow-up start date column (Cox)."),
        cox_time_scale: str = cli_option(PARAMS, "cox_time_scale"),
        censoring_date: str | None = typer.Option(None, "--censoring-date", help="End of follow-up (ISO date or column): later records do not count."),
        suppress_below: int | None = cli_option(PARAMS, "suppress_below"),
        n_jobs: int | None = cli_option(PARAMS, "n_jobs"),
        no_plots: bool = typer.Option(False, "--no-plots"),
    ) -> None:
        """PheWAS: exposures against every phecode (logistic with Firth fallback, or Cox)."""
        import logging

        from bma_genetics._atomic import staged_directory
        from bma_genetics.phewas.api import run_phewas
        from bma_genetics.phewas.figures import write_phewas_figures

        with staged_directory(out) as staged:  # a failure leaves no result table behind
            res = run_phewas(
                participants, diagnoses, _split(exposure), _split(covariates),
                phecode_version=phecode_version, phecode_map=phecode_map, bmff=bmff,
                min_cases=min_cases, min_phecode_count=min_phecode_count, use_exclusion=not no_exclusion,
                method=method, firth=firth, firth_below_cases=firth_below_cases,
                standardise=not no_standardise, cox_start_col=cox_start, cox_time_scale=cox_time_scale,
                censoring_date=censoring_date,
                suppress_below=suppress_below, n_jobs=n_jobs, out=staged,
            )
            if not no_plots:
                res.files.update(write_phewas_figures(res, staged / "figures"))
        s = res.summary()
        logging.getLogger("bma_genetics.phewas").info(
            "%d tests, %d below Bonferroni; results in %s", s["n_tests"], s["n_bonferroni_significant"],
            out / "phewas_results.tsv"
        )

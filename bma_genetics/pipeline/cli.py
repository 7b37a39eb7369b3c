"""``bma-genetics run``: run a study configuration."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("run")
    def run(
        config: Path = typer.Argument(..., help="Study YAML, e.g. analyses/demo.yaml."),
        cohort: Path = typer.Option(None, help="Cohort directory (overrides the config's 'cohort')."),
        out: Path = typer.Option(None, help="Run directory (overrides the config's 'out')."),
        no_resume: bool = typer.Option(False, "--no-resume", help="Redo stages already done."),
        only: str = typer.Option(
            None, help="Comma-separated stages to run (with the stages they read whose outputs are missing or "
            "were made with other parameters)."),
    ) -> None:
        """Run the study's stages into a run directory with tables, figures and report.html.

        The whole config is checked first (docs/parameters.md): a misspelt key or a bad value
        stops the run at once with one line naming the stage, the key and the closest valid key.
        """
        from bma_genetics.pipeline.runner import run_study

        run_dir = run_study(
            config,
            cohort=cohort,
            out=out,
            resume=not no_resume,
            only=[s.strip() for s in only.split(",")] if only else None,
        )
        typer.echo(f"Run complete: {run_dir.resolve()}  (open {run_dir.resolve() / 'report.html'})")

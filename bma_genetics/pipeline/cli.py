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

    @app.command("spark-submit-args")
    def spark_submit_args_cmd(
        master: str = typer.Option(None, help="Spark master for --master (spark://HOST:7077, yarn); default none."),
        no_script: bool = typer.Option(False, "--no-script", help="Leave out the Python file to run (for a "
                                       "script of your own, or Hail's settings only)."),
        lines: bool = typer.Option(False, "--lines", help="One argument per line, for paths with spaces (default: one "
                                   "line, split by the shell in $(...))."),
    ) -> None:
        """Print the spark-submit arguments for the installed Hail, ending with the file to run.

        Use: spark-submit $(bma-genetics spark-submit-args --master spark://HOST:7077) run study.yaml
        (docs/cluster/standalone.md). The arguments put Hail's jar on the driver's and the
        executors' class paths and set Kryo with Hail's registrator.
        """
        from bma_genetics._hail import check_master, spark_submit_args

        check_master(master, where="spark-submit-args/--master", reach=False)
        args = spark_submit_args(master=master, script=not no_script)
        # not shell-quoted: $(...) splits on blanks and would keep quotes as characters
        typer.echo("\n".join(args) if lines else " ".join(args))

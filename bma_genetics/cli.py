"""``bma-genetics``: a thin command line over the package API.

Each stage owns its commands in ``bma_genetics/<stage>/cli.py``, which defines
``register(app: typer.Typer) -> None``; this module only assembles them and turns
user-fixable errors into one-line messages (no traceback).
"""

from __future__ import annotations

import importlib
import logging
import os
import sys

import typer

from bma_genetics import __version__
from bma_genetics._logging import configure
from bma_genetics.errors import BmaGeneticsError

#: Stage command modules and the top-level commands each registers, in the order ``--help``
#: lists them. A shell command imports only the module that owns it (``main``): importing every
#: stage's commands costs ~1.5 s of CPU (the GWAS engine, scipy.stats), more than a small
#: ``ldsc munge`` or ``ldsc h2`` runs for. ``tests/test_cli.py`` checks this table against what
#: each module registers.
COMMANDS: dict[str, tuple[str, ...]] = {
    "bma_genetics.resources.cli": ("reference",),  # reference fetch|list|path
    "bma_genetics.simulate.cli": ("simulate", "simulate-images", "simulate-relatives"),
    "bma_genetics.io.cli": ("ukb",),  # ukb participants|diagnoses
    "bma_genetics.phenotypes.cli": ("phenotypes",),  # phenotypes train|bmff|calvarial|calvarial-train
    "bma_genetics.gwas.cli": ("gwas",),
    "bma_genetics.heritability.cli": ("ldsc",),  # ldsc ldscore|munge|h2|rg|partitioned
    "bma_genetics.finemap.cli": ("finemap", "coloc", "smr"),
    "bma_genetics.enrichment.cli": ("enrich",),
    "bma_genetics.phewas.cli": ("phewas",),
    "bma_genetics.prs.cli": ("prs",),  # prs build|score
    "bma_genetics.mr.cli": ("mr", "mvmr"),
    "bma_genetics.pipeline.cli": ("run", "spark-submit-args"),
}
COMMAND_MODULES: tuple[str, ...] = tuple(COMMANDS)
_MODULE_OF: dict[str, str] = {cmd: module for module, cmds in COMMANDS.items() for cmd in cmds}


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"bma-genetics {__version__}")
        raise typer.Exit()


def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging."),
    version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True, help="Print the version."
    ),
) -> None:
    configure(logging.DEBUG if verbose else logging.INFO)


def build_app(modules: tuple[str, ...] = COMMAND_MODULES) -> typer.Typer:
    """The command-line application with the commands of ``modules`` (default: every stage)."""
    application = typer.Typer(
        name="bma-genetics",
        help="Genetics of bone marrow adiposity: Dixon MRI -> BMFF -> GWAS, enrichment, PheWAS, MR.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    application.callback()(_root)
    for name in modules:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and (name == exc.name or name.startswith(exc.name + ".")):  # the stage has no commands yet
                continue
            raise
        module.register(application)
    return application


_APP: typer.Typer | None = None


def __getattr__(name: str) -> typer.Typer:
    # ``from bma_genetics.cli import app``: the whole application, built on first use (PEP 562)
    global _APP
    if name == "app":
        if _APP is None:
            _APP = build_app()
        return _APP
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _command_of(argv: list[str]) -> str | None:
    """The top-level command named in ``argv`` (the root options take no values), or None."""
    for arg in argv:
        if arg == "--":
            return None
        if not arg.startswith("-"):
            return arg
    return None


def _headless_figures() -> None:
    """The command line only writes figures to files: matplotlib's non-interactive ``Agg``
    backend, unless the user chose one (``MPLBACKEND``). The package itself never selects a
    backend, so figures show inline in Jupyter."""
    if os.environ.get("MPLBACKEND"):
        return
    os.environ["MPLBACKEND"] = "Agg"  # read when matplotlib is first imported
    if "matplotlib" in sys.modules:
        sys.modules["matplotlib"].use("Agg")


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI, printing user errors as ``error: ...`` on one line."""
    _headless_figures()
    args = sys.argv[1:] if argv is None else list(argv)
    command = _command_of(args)
    # one stage's commands for a known command; every stage's for --help or an unknown name
    application = build_app((_MODULE_OF[command],)) if command in _MODULE_OF else __getattr__("app")
    try:
        application(args=args, standalone_mode=False)
    except typer.Exit as exc:
        return exc.exit_code
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("aborted", err=True)
        return 130
    except BmaGeneticsError as exc:
        typer.echo(f"error: {exc}", err=True)
        return 2
    except OSError as exc:  # unwritable output, missing file: the message names the path
        typer.echo(f"error: {exc.strerror or exc} ({exc.filename})" if exc.filename else f"error: {exc}", err=True)
        return 2
    except Exception as exc:  # click usage errors; Java errors from Hail
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            return exc.exit_code
        from bma_genetics._hail import is_java_error, java_error_summary

        if is_java_error(exc) and not logging.getLogger("bma_genetics").isEnabledFor(logging.DEBUG):
            # one line, not a Java stack of hundreds (rerun with --verbose for the traceback)
            typer.echo(f"error: Hail failed: {java_error_summary(exc)} (the Java stack is in hail.log; "
                       "--verbose shows the traceback)", err=True)
            return 1
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())

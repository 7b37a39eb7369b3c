"""``bma-genetics simulate`` (a synthetic cohort) and ``simulate-images`` (its Dixon MRI): thin
wrappers over ``simulate_cohort`` and ``simulate_dixon_images``."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("simulate")
    def simulate(
        preset: str = typer.Option("tiny", "--preset", help="Cohort size: tiny | demo | large."),
        seed: int = typer.Option(1, "--seed", help="Seed; the same seed gives byte-identical files."),
        out: Path = typer.Option(..., "--out", help="Cohort directory to write (docs/cohort_layout.md)."),
        resume: bool = typer.Option(
            False, "--resume", help="Do nothing when OUT already holds this preset and seed with matching checksums."
        ),
    ) -> None:
        """Simulate a synthetic UK Biobank cohort (genotypes, BMFF, diagnoses, outcome GWAS, truth)."""
        import json
        import time

        from bma_genetics.simulate.api import simulate_cohort

        start = time.perf_counter()
        before = (out / "cohort.json").read_text() if (out / "cohort.json").is_file() else None
        path = simulate_cohort(preset, seed=seed, out=out, resume=resume)
        meta = json.loads((path / "cohort.json").read_text())
        if resume and before is not None and before == (path / "cohort.json").read_text():
            typer.echo(f"{path}: already up to date (preset {preset}, seed {seed}, checksums match); nothing done")
            return
        typer.echo(
            f"{path}: {meta['n_participants']} participants, {meta['n_variants']} variants on "
            f"{len(meta['chromosomes'])} chromosomes ({time.perf_counter() - start:.1f} s)"
        )

    @app.command("simulate-images")
    def simulate_images(
        cohort: Path = typer.Option(..., "--cohort", help="Cohort directory (with truth/bmff_true.parquet)."),
        n: int | None = typer.Option(None, "--n", help="Participants to image (default by preset)."),
        seed: int = typer.Option(1, "--seed"),
        artefact_fraction: float = typer.Option(0.1, "--artefact-fraction"),
        out: Path | None = typer.Option(None, "--out", help="Default: the cohort directory."),
    ) -> None:
        """Synthetic Dixon MRI (20201 zips, NIfTI, label maps) for a cohort's imaged subset."""
        from bma_genetics.simulate.dixon import simulate_dixon_images

        res = simulate_dixon_images(cohort, n=n, seed=seed, artefact_fraction=artefact_fraction, out=out)
        typer.echo(f"images -> {res / 'images'}; truth -> {res / 'truth' / 'images.tsv'}")

"""``bma-genetics simulate``: write a synthetic cohort (thin wrapper over ``simulate_cohort``)."""

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

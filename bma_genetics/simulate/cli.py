"""``bma-genetics simulate`` (a synthetic cohort), ``simulate-images`` (its Dixon MRI) and
``simulate-relatives`` (a cohort rich in relatives): thin wrappers over ``simulate_cohort``,
``simulate_dixon_images`` and ``simulate_related_cohort``."""

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
        override: list[str] = typer.Option(
            [], "--override", help="KEY=VALUE: change a preset parameter (e.g. confounding=1.0, n_participants=5000); "
            "repeatable. Parameters: bma_genetics.simulate.presets."
        ),
    ) -> None:
        """Simulate a synthetic UK Biobank cohort (genotypes, BMFF, diagnoses, outcome GWAS, truth)."""
        import json
        import time

        from bma_genetics.simulate.api import simulate_cohort
        from bma_genetics.simulate.presets import parse_overrides

        start = time.perf_counter()
        before = (out / "cohort.json").read_text() if (out / "cohort.json").is_file() else None
        path = simulate_cohort(preset, seed=seed, out=out, resume=resume, **parse_overrides(override))
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

    @app.command("simulate-relatives")
    def simulate_relatives(
        out: Path = typer.Option(..., "--out", help="Folder to write (relatives.bed/bim/fam, pheno.tsv, covar.tsv, "
                                 "ukb_rel.dat, truth/)."),
        preset: str = typer.Option(None, "--preset", help="Family structure: 'ukb' (UK Biobank's: 30 %% with a "
                                   "relative, mostly pairs) or 'dense' (60 %%, sibships of 2-4: the stress test); "
                                   "overrides --families, --max-sibs, --pairs, --unrelated."),
        families: int = typer.Option(300, "--families", help="Nuclear families of 2..--max-sibs siblings."),
        max_sibs: int = typer.Option(4, "--max-sibs"),
        pairs: int = typer.Option(100, "--pairs", help="Parent-offspring, first-cousin and second-cousin pairs each."),
        unrelated: int = typer.Option(1500, "--unrelated", help="Participants with no relative."),
        chromosomes: int = typer.Option(10, "--chromosomes", help="Chromosomes (the first half carry the causal "
                                        "variants)."),
        variants: int = typer.Option(2000, "--variants", help="Variants per chromosome."),
        h2: float = typer.Option(0.5, "--h2", help="Heritability of every trait."),
        traits: int = typer.Option(4, "--traits"),
        ld: bool = typer.Option(False, "--ld", help="Founders from a coalescent simulation (msprime) per "
                                "chromosome: population LD, for LD score regression (default: independent "
                                "alleles, no LD)."),
        prevalence: float = typer.Option(None, "--prevalence", help="Also write binary traits case_1.. (liability "
                                         "threshold of trait_k at this share of cases); default none."),
        seed: int = typer.Option(1, "--seed", help="Seed; the same seed gives byte-identical files."),
    ) -> None:
        """Simulate a cohort of relatives (families, parent-offspring, cousins, cryptic second cousins) with
        heritable traits, for LOCO / mixed-model association (bma_genetics.simulate.relatives)."""
        from bma_genetics.simulate.relatives import relatives_preset, simulate_related_cohort

        family = relatives_preset(preset) if preset is not None else dict(
            n_families=families, max_sibs=max_sibs, n_parent_offspring=pairs, n_cousin_pairs=pairs,
            n_second_cousin_pairs=pairs, n_unrelated=unrelated)
        c = simulate_related_cohort(out, **family, n_chromosomes=chromosomes, variants_per_chromosome=variants,
                                    h2=h2, n_traits=traits, founder_ld=ld, prevalence=prevalence, seed=seed)
        typer.echo(f"{c.out}: {c.n_samples} participants, {c.n_variants} variants; causal chromosomes "
                   f"{','.join(c.causal_chromosomes)}, null chromosomes {','.join(c.null_chromosomes)}")

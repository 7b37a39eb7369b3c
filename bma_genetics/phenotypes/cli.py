"""``bma-genetics phenotypes``: train | bmff | simulate-images (thin wrappers over the API)."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Dixon MRI -> bone-marrow fat fraction: U-Net training, BMFF, synthetic images.",
                        no_args_is_help=True)

    @group.command("bmff")
    def bmff_cmd(
        images: list[Path] = typer.Option(..., "--images", help="Folder(s) or files: 20201 zips or *_water.nii.gz."),
        out: Path = typer.Option(..., "--out", help="BMFF table to write (.parquet)."),
        weights: Path | None = typer.Option(None, "--weights", help="Model checkpoint; default the shipped weights."),
        device: str = typer.Option("cpu", "--device", help="cpu or cuda."),
        batch_size: int = typer.Option(8, "--batch-size", help="Slices per forward pass (8 is fastest on a CPU; 64+ on a GPU)."),
        workers: int = typer.Option(2, "--workers", help="Reader threads (parallel loading)."),
        erosion: int = typer.Option(1, "--erosion", help="Voxels eroded from each site mask."),
        threads: int | None = typer.Option(None, "--threads", help="Torch CPU threads (default: torch's)."),
        no_resume: bool = typer.Option(False, "--no-resume", help="Redo participants already in --out."),
    ) -> None:
        """Segment marrow and measure BMFF per site for every participant (resumable)."""
        import torch

        from bma_genetics.phenotypes.api import run_bmff

        if threads:
            torch.set_num_threads(threads)
        table = run_bmff([str(p) for p in images], out, weights=weights, device=device, batch_size=batch_size,
                         workers=workers, erosion=erosion, resume=not no_resume)
        typer.echo(f"{len(table)} participants ({int(table['qc_pass'].sum())} pass QC) -> {out}")

    @group.command("train")
    def train_cmd(
        images: Path = typer.Option(..., "--images", help="Folder with nifti/ and labels/ (simulate-images writes one)."),
        out: Path = typer.Option(..., "--out", help="Checkpoint to write (.pt)."),
        seed: int = typer.Option(0, "--seed"),
        max_minutes: float | None = typer.Option(None, "--max-minutes", help="Wall-clock budget."),
        max_steps: int = typer.Option(2000, "--max-steps"),
        attention: bool = typer.Option(False, "--attention", help="Attention gates on the skips."),
        threads: int | None = typer.Option(None, "--threads", help="Torch CPU threads."),
    ) -> None:
        """Train the 2.5D U-Net (Dice + CE, validation Dice, checkpoints, early stopping)."""
        import torch

        from bma_genetics.phenotypes.api import train_unet

        if threads:
            torch.set_num_threads(threads)
        s = train_unet(images, out, seed=seed, max_minutes=max_minutes, max_steps=max_steps, attention=attention)
        typer.echo(f"best validation Dice {s['best_val_dice']:.4f} after {s['steps']} steps -> {out}")

    @group.command("simulate-images")
    def simulate_cmd(
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

    app.add_typer(group, name="phenotypes")

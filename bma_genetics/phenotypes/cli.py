"""``bma-genetics phenotypes``: train | bmff | calvarial | calvarial-train (thin wrappers over the API).

Synthetic images are made by ``bma-genetics simulate-images`` (:mod:`bma_genetics.simulate.cli`).
"""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Dixon MRI -> bone-marrow fat fraction: U-Net training and BMFF.",
                        no_args_is_help=True)

    @group.command("bmff")
    def bmff_cmd(
        images: list[Path] = typer.Option(..., "--images", help="Folder(s) or files: 20201 zips or *_water.nii.gz."),
        out: Path = typer.Option(..., "--out", help="Folder (bmff.parquet inside) or the BMFF table (.parquet)."),
        weights: Path | None = typer.Option(None, "--weights", help="Model checkpoint; default the shipped weights."),
        device: str = typer.Option("cpu", "--device", help="cpu or cuda."),
        batch_size: int = typer.Option(8, "--batch-size", help="Slices per forward pass (8 is fastest on a CPU; 64+ on a GPU)."),
        n_jobs: int = typer.Option(2, "--n-jobs", help="Reader threads (parallel loading)."),
        erosion: int = typer.Option(1, "--erosion", help="Voxels eroded from each site mask."),
        torch_threads: int | None = typer.Option(None, "--torch-threads", help="Torch CPU threads (default: torch's)."),
        no_resume: bool = typer.Option(False, "--no-resume", help="Redo participants already in --out."),
        method: str = typer.Option("eroded", "--method", help="BMFF definition: eroded (default: 3-D eroded-mask "
                                   "mean) or optimat (OPTIMAT rules; also writes {stem}_roi_stats.parquet)."),
    ) -> None:
        """Segment marrow and measure BMFF per site for every participant (resumable)."""
        import torch

        from bma_genetics.phenotypes.api import run_bmff

        if torch_threads:
            torch.set_num_threads(torch_threads)
        result = run_bmff([str(p) for p in images], out, weights=weights, device=device, batch_size=batch_size,
                          n_jobs=n_jobs, erosion=erosion, resume=not no_resume, method=method)
        s = result.summary()
        typer.echo(f"{s['n_participants']} participants ({s['n_qc_pass']} pass QC) -> {result.files['bmff']}")

    @group.command("train")
    def train_cmd(
        images: Path = typer.Option(..., "--images", help="Folder with nifti/ and labels/ (simulate-images writes one)."),
        out: Path = typer.Option(..., "--out", help="Checkpoint to write (.pt)."),
        seed: int = typer.Option(0, "--seed"),
        max_minutes: float | None = typer.Option(None, "--max-minutes", help="Wall-clock budget."),
        max_steps: int = typer.Option(2000, "--max-steps"),
        attention: bool = typer.Option(False, "--attention", help="Attention gates on the skips."),
        torch_threads: int | None = typer.Option(None, "--torch-threads", help="Torch CPU threads."),
    ) -> None:
        """Train the 2.5D U-Net (Dice + CE, validation Dice, checkpoints, early stopping)."""
        import torch

        from bma_genetics.phenotypes.api import train_unet

        if torch_threads:
            torch.set_num_threads(torch_threads)
        s = train_unet(images, out, seed=seed, max_minutes=max_minutes, max_steps=max_steps, attention=attention)
        typer.echo(f"best validation Dice {s['best_val_dice']:.4f} after {s['steps']} steps -> {out}")

    from bma_genetics.calvarial.cli import add_commands

    add_commands(group)  # phenotypes calvarial | calvarial-train (calvarial BMA from head T1)
    app.add_typer(group, name="phenotypes")

"""``bma-genetics phenotypes calvarial`` and ``phenotypes calvarial-train`` (thin wrappers over the API).

Registered into the ``phenotypes`` command group by :mod:`bma_genetics.phenotypes.cli`; the
options mirroring the ``calvarial`` stage take their defaults and help from its ``PARAMS``.
"""

from __future__ import annotations

from pathlib import Path

import typer

from bma_genetics._params import cli_option
from bma_genetics.calvarial.config import ProfileTrainConfig
from bma_genetics.calvarial.profiles import STUDY_PROFILES_PER_TYPE
from bma_genetics.calvarial.stage import PARAMS


def add_commands(group: typer.Typer) -> None:
    """Add the calvarial commands to the ``phenotypes`` group."""

    @group.command("calvarial")
    def calvarial_cmd(
        images: Path = typer.Option(..., "--images", help="Folder of head T1 zips ({eid}_20252_2_0.zip NIfTI "
                                    "or {eid}_20216_2_0.zip DICOM)."),
        out: Path = typer.Option(..., "--out", help="Folder: calvarial.parquet and calvarial.provenance.json."),
        weights: Path = cli_option(PARAMS, "weights"),
        max_angle: float = cli_option(PARAMS, "max_angle"),
        min_points: int = cli_option(PARAMS, "min_points"),
        max_outer_table_sd: float = cli_option(PARAMS, "max_outer_table_sd"),
        md_cutoff: float = cli_option(PARAMS, "md_cutoff"),
        max_md_outlier_share: float = cli_option(PARAMS, "max_md_outlier_share"),
        max_background_share: float = cli_option(PARAMS, "max_background_share"),
        n_jobs: int = cli_option(PARAMS, "n_jobs"),
        torch_threads: int = cli_option(PARAMS, "torch_threads"),
    ) -> None:
        """Calvarial bone marrow adiposity per head T1 (Kaufmann 2024), with the study's QC and a background rule."""
        from bma_genetics.calvarial.api import run_calvarial
        from bma_genetics.calvarial.qc import CalvarialQC

        qc = CalvarialQC(min_points=min_points, max_outer_table_sd=max_outer_table_sd, md_cutoff=md_cutoff,
                         max_md_outlier_share=max_md_outlier_share, max_background_share=max_background_share)
        r = run_calvarial(images, weights=weights, out=out, qc=qc, max_angle=max_angle, n_jobs=n_jobs,
                          torch_threads=torch_threads)
        s = r.summary()
        typer.echo(f"{s['n_images']} heads ({s['n_qc_pass']} pass QC) -> {r.files['calvarial']}")

    @group.command("calvarial-train")
    def calvarial_train_cmd(
        out: Path = typer.Option(..., "--out", help="Folder: calvarial_profile_net.pt and profile_accuracy.tsv."),
        n_per_type: int = typer.Option(STUDY_PROFILES_PER_TYPE, "--n-per-type", help="Training profiles per head "
                                       "type (the study: 5,000 x 336 types)."),
        epochs: int = typer.Option(ProfileTrainConfig.epochs, "--epochs"),
        batch_size: int = typer.Option(ProfileTrainConfig.batch_size, "--batch-size"),
        lr: float = typer.Option(ProfileTrainConfig.lr, "--lr", help="Adam learning rate (the study's 0.01)."),
        seed: int = typer.Option(1, "--seed"),
    ) -> None:
        """Simulate profiles of the 336 head types and train the profile network (held-out MAE, overlap)."""
        from bma_genetics.calvarial.api import run_profile_training

        r = run_profile_training(n_per_type=n_per_type, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
                                 out=out)
        s = r.summary()
        typer.echo(f"held-out boundary MAE {s['held_out_mae_mm']:.3f} mm, marrow overlap "
                   f"{s['held_out_marrow_overlap']:.3f} -> {r.files['checkpoint']}")

"""Pipeline stage ``calvarial``: head T1 images -> calvarial BMA table (+ QC, provenance, accuracy vs truth).

Parameters: :data:`PARAMS` below (the ``calvarial:`` mapping of a study config), tabulated in
``docs/parameters.md``.

Inputs: the ``head_images`` stage's products (:mod:`bma_genetics.simulate.head_stage`):
``images`` (field 20252 / 20216 zips) and, for simulated heads, ``truth`` (``truth/heads.tsv``:
the true marrow intensity and the planted failures). Withdrawn participants are never measured.

Outputs (in the stage folder): ``calvarial.parquet`` (the calvarial table,
:func:`bma_genetics.io.write_calvarial_table`), ``calvarial.provenance.json``, and with simulated
truth ``calvarial_vs_truth.tsv`` (Pearson r, slope, intercept against the true marrow intensity)
and ``qc_detection.tsv`` (planted failures flagged, clean heads falsely flagged),
``figures/calvarial_vs_truth.{png,pdf}``. The ``gwas``
and ``phewas`` stages read the table (through :mod:`bma_genetics.io`) as the trait
``calvarial_bma``; the cohort's ``participants/calvarial_idp.parquet`` covers people outside the
measured subset.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from bma_genetics._params import Param, check_params
from bma_genetics.calvarial import qc as _qc
from bma_genetics.calvarial.surface import CALVARIAL_MAX_ANGLE

log = logging.getLogger(__name__)

NAME = "calvarial"
REQUIRES = ["head_images"]
#: Aggregate tables shown in the run report (patterns in the stage folder; never per-participant rows).
REPORT_TABLES = ["calvarial_vs_truth.tsv", "qc_detection.tsv"]
WITHDRAWALS = True

PARAMS = [
    Param("weights", Path, None, "profile-network checkpoint (default: the shipped network)"),
    Param("max_angle", float, CALVARIAL_MAX_ANGLE, "calvarial vertices: outward normal within this many degrees of superior",
          range=(1, 90)),
    Param("min_points", int, None, "QC: calvarial vertices required (default: 4,000 at 2 mm, scaled by "
          "(2 / voxel mm)^2; the study's 5,000 on FreeSurfer's surface)", range=(1, None)),
    Param("max_outer_table_sd", float, _qc.MAX_OUTER_TABLE_SD, "QC: largest SD over vertices of the outer table's mean intensity",
          range=(0, None, "left")),
    Param("md_cutoff", float, _qc.MD_CUTOFF, "QC: squared Mahalanobis distance (marrow depth, marrow intensity) beyond "
          "which a vertex is an outlier", range=(0, None, "left")),
    Param("max_md_outlier_share", float, _qc.MAX_MD_OUTLIER_SHARE, "QC: largest share of outlier vertices", range=(0, 1)),
    Param("max_background_share", float, _qc.MAX_BACKGROUND_SHARE, "QC (not the study's): largest share of air voxels "
          f"(over {_qc.BACKGROUND_MARGIN_MM:g} mm outside the head) brighter than {_qc.BACKGROUND_THRESHOLD:g} on the nu.mgz "
          "scale (motion ghosts); 1 switches it off", range=(0, 1)),
    Param("n_jobs", int, 1, "images measured in parallel (threads)", range=(1, None)),
    Param("torch_threads", int, 1, "torch CPU threads", range=(1, None)),
]


def run(ctx: Any, params: dict[str, Any]) -> dict[str, Any]:
    """Measure calvarial BMA on the ``head_images`` stage's images and check it against the truth."""
    import pandas as pd

    from bma_genetics._atomic import write_table
    from bma_genetics.calvarial.api import compare_to_truth, run_calvarial
    from bma_genetics.calvarial.qc import CalvarialQC

    params = check_params(NAME, params, PARAMS)
    d = ctx.stage_dir(NAME)
    images = ctx.product("head_images", "images")
    qc = CalvarialQC(min_points=params["min_points"], max_outer_table_sd=params["max_outer_table_sd"],
                     md_cutoff=params["md_cutoff"], max_md_outlier_share=params["max_md_outlier_share"],
                     max_background_share=params["max_background_share"])
    result = run_calvarial(images, weights=params["weights"], out=d, qc=qc, max_angle=params["max_angle"],
                           withdrawals=ctx.withdrawn(), n_jobs=params["n_jobs"],
                           torch_threads=params["torch_threads"])
    summary: dict[str, Any] = {**result.summary(), "calvarial_table": "calvarial.parquet",
                               "files": {"calvarial": "calvarial.parquet", "provenance": "calvarial.provenance.json"},
                               "tables": []}
    if "truth" in ctx.summary("head_images").get("files", {}):
        truth = pd.read_csv(ctx.product("head_images", "truth"), sep="\t", dtype={"eid": str})
        vs, det, head = compare_to_truth(result.to_frame(), truth)
        write_table(vs, d / "calvarial_vs_truth.tsv")
        write_table(det, d / "qc_detection.tsv")
        summary["tables"] += ["calvarial_vs_truth.tsv", "qc_detection.tsv"]
        summary["truth"] = head
        from bma_genetics.calvarial.figures import write_calvarial_figures

        figures = write_calvarial_figures(result.to_frame(), truth, d / "figures")
        summary["figures"] = [str(f.relative_to(d)) for f in figures if f.suffix == ".png"]
    return summary

"""Pipeline stage ``phenotypes``: images -> BMFF table (+ QC, provenance, accuracy vs truth).

Parameters: :data:`PARAMS` below (the ``phenotypes:`` mapping of a study config), tabulated in
``docs/parameters.md``.

Inputs: the ``images`` stage's products (:mod:`bma_genetics.simulate.stage`): ``images``, the
folder of field-20201 zips, and, for simulated images, ``truth`` (``truth/images.tsv``, the
artefacts injected). This stage never makes images itself, and never measures a withdrawn
participant (:meth:`RunContext.withdrawn`), even where an image of theirs exists.

Outputs (in the stage folder): ``bmff.parquet`` (the BMFF table, one row per imaged
participant, written by :func:`bma_genetics.io.write_bmff_table`), ``bmff.provenance.json``,
with ``bmff_method: optimat`` also ``bmff_roi_stats.parquet`` (per participant and ROI:
mean, SD, median, IQR, size; :func:`bma_genetics.io.bmff.write_roi_stats`),
``bmff_vs_truth.tsv`` and ``qc_detection.tsv`` when the cohort has simulated truth,
``figures/bmff_vs_truth.{png,pdf}``. When the images include repeat scans (UK Biobank instance 3,
``{eid}_20201_3_0.zip``): ``bmff_rescan.parquet`` (their BMFF table, measured the same way) and
``bmff_icc.tsv``, test-retest ICC(2,1) and ICC(3,1) per trait with 95 % CIs
(:func:`bma_genetics.phenotypes.api.retest_reliability`, :func:`bma_genetics.io.bmff.write_icc_table`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bma_genetics._atomic import write_table
from bma_genetics._params import Param, check_params
from bma_genetics.errors import BmaGeneticsError
from bma_genetics.io.bmff import read_bmff_table
from bma_genetics.phenotypes import qc as qcmod

log = logging.getLogger(__name__)

NAME = "phenotypes"
REQUIRES: list[str] = ["images"]
#: Aggregate tables shown in the run report (patterns in the stage folder; never per-participant rows).
REPORT_TABLES = ["qc_detection.tsv", "bmff_vs_truth.tsv", "bmff_icc.tsv"]
WITHDRAWALS = True  # removes the run's withdrawn participants (RunContext.withdrawn)
#: Cohort files read besides the images stage's products (their contents are part of the completion key).
INPUTS = ["truth/bmff_true.parquet"]

PARAMS = [
    Param("weights", Path, None, "segmentation checkpoint (default: the shipped weights)"),
    Param("device", str, "cpu", "torch device: cpu or cuda"),
    Param("batch_size", int, 8, "images per inference batch", range=(1, None)),
    Param("n_jobs", int, 2, "image-reading threads", range=(1, None)),
    Param("erosion", int, 1, "voxels eroded from each site mask before measuring (bmff_method eroded)",
          range=(0, None)),
    Param("bmff_method", str, "eroded", "BMFF definition: eroded (3-D eroded-mask mean, the default) or optimat "
          "(the OPTIMAT rules of Morris 2024 / Xu 2025; also writes bmff_roi_stats.parquet)",
          options=("eroded", "optimat")),
    Param("l5_anchor_spacings", float, 4.07, "height of L5 above the femoral heads in lumbar level spacings "
          "(names the vertebral levels; calibrated on the simulated anatomy: calibrate on labelled real spines "
          "when the vertebral-level guard warns)", range=(0, None)),
    Param("torch_threads", int, 1, "torch CPU threads (1 is fastest on a shared machine)", range=(1, None)),
]

#: Truth artefact -> the QC flag meant to catch it.
ARTEFACT_FLAG = {
    "fat_water_swap": "qc_fat_water_swap",
    "missing_station": "qc_missing_station",
    "truncated_fov": "qc_truncated_fov",
    "motion": "qc_motion",
}


def qc_detection(table: pd.DataFrame, images_truth: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, float]]:
    """Per artefact kind: how many injected, how many caught (any image flag); false-flag rate.

    A participant with an artefact counts as caught if any image flag is set (the matching flag
    is reported too); a clean participant is falsely flagged if any QC flag is set.
    """
    m = table.merge(images_truth[["eid", "artefact"]].assign(eid=lambda d: d["eid"].astype(str)), on="eid")
    img_any = m[list(qcmod.IMAGE_FLAGS)].any(axis=1)
    rows = []
    for kind, flag in ARTEFACT_FLAG.items():
        sel = m["artefact"] == kind
        rows.append({"artefact": kind, "n": int(sel.sum()), "caught_any_flag": int(img_any[sel].sum()),
                     "caught_matching_flag": int(m.loc[sel, flag].sum())})
    clean = m["artefact"] == "none"
    flagged_clean = int((~m.loc[clean, "qc_pass"]).sum())
    det = pd.DataFrame(rows)
    n_art = int(det["n"].sum())
    summary = {
        "n_artefacts": n_art,
        "detection_rate": float(det["caught_any_flag"].sum() / n_art) if n_art else float("nan"),
        "n_clean": int(clean.sum()),
        "false_flag_rate": float(flagged_clean / clean.sum()) if clean.sum() else float("nan"),
    }
    return det, summary


def run(ctx: Any, params: dict[str, Any]) -> dict[str, Any]:
    """Measure BMFF on the ``images`` stage's Dixon zips and check it against the truth."""
    import torch

    from bma_genetics.io.bmff import write_icc_table
    from bma_genetics.io.dixon import find_images
    from bma_genetics.phenotypes.api import compare_to_truth, retest_reliability, run_bmff

    params = check_params(NAME, params, PARAMS)
    if ctx.cohort is None:
        raise BmaGeneticsError("phenotypes stage: needs a cohort directory (--cohort or 'cohort:' in the config)")
    cohort = Path(ctx.cohort)
    d = ctx.stage_dir("phenotypes")
    torch.set_num_threads(params["torch_threads"])
    zips = ctx.product("images", "images")
    images_tsv = ctx.product("images", "truth") if "truth" in ctx.summary("images").get("files", {}) else None
    result = run_bmff(
        str(zips),
        d / "bmff.parquet",
        weights=params["weights"],
        device=params["device"],
        batch_size=params["batch_size"],
        n_jobs=params["n_jobs"],
        erosion=params["erosion"],
        # rows measured earlier are reused only after an interrupted attempt with the same
        # completion key (a changed input or parameter, or --no-resume, measures everyone again)
        resume=bool(getattr(ctx, "resume", True) and getattr(ctx, "continuing", True)),
        progress=False,
        withdrawals=ctx.withdrawn(),  # never measured, even where an image exists
        method=params["bmff_method"],
        l5_anchor_spacings=params["l5_anchor_spacings"],
    )
    table = result.to_frame()
    rescan = None
    if Path(str(zips)).is_dir() and find_images(str(zips), instance=3):
        import time

        t0 = time.time()
        rescan = run_bmff(
            str(zips), d / "bmff_rescan.parquet", weights=params["weights"], device=params["device"],
            batch_size=params["batch_size"], n_jobs=params["n_jobs"], erosion=params["erosion"],
            resume=bool(getattr(ctx, "resume", True) and getattr(ctx, "continuing", True)), progress=False,
            withdrawals=ctx.withdrawn(), method=params["bmff_method"], instance=3,
            l5_anchor_spacings=params["l5_anchor_spacings"],
        ).to_frame()
        rescan_seconds = round(time.time() - t0, 1)
    summary: dict[str, Any] = {
        "bmff_table": "bmff.parquet",
        "provenance": "bmff.provenance.json",
        "n_imaged": int(len(table)),
        "n_qc_pass": int(table["qc_pass"].sum()),
        "flags": {f: int(table[f].sum()) for f in qcmod.FLAGS},
        "model_sha256": str(table["model_sha256"].iloc[0]) if len(table) else "",
        "tables": ["bmff.parquet", "bmff.provenance.json"],
        "files": {"bmff": "bmff.parquet", "provenance": "bmff.provenance.json"},
        "bmff_method": params["bmff_method"],
    }
    if rescan is not None:
        rel = retest_reliability(table, rescan)
        write_icc_table(rel, d / "bmff_icc.tsv")
        summary["tables"] += ["bmff_rescan.parquet", "bmff_icc.tsv"]
        summary["files"].update(bmff_rescan="bmff_rescan.parquet", icc="bmff_icc.tsv")
        summary["n_rescanned"] = int(len(rescan))
        summary["rescan_seconds"] = rescan_seconds
        main = rel[rel["trait"].isin(["bmff_femoral_head", "bmff_total_hip", "bmff_femoral_diaphysis", "bmff_spine"])]
        summary["retest_icc"] = {r.trait: {"icc3_1": round(r.icc3_1, 4), "icc2_1": round(r.icc2_1, 4), "n": int(r.n)}
                                 for r in main.itertuples()}
        summary["retest_icc_min"] = float(rel["icc3_1"].min()) if len(rel) else float("nan")
    else:  # tables of an earlier run with rescans would not describe these images
        for name in ("bmff_rescan.parquet", "bmff_rescan.provenance.json", "bmff_icc.tsv"):
            (d / name).unlink(missing_ok=True)
    if "roi_stats" in result.files:
        summary["tables"].append(result.files["roi_stats"].name)
        summary["files"]["roi_stats"] = result.files["roi_stats"].name
    truth_path = cohort / "truth" / "bmff_true.parquet"
    if truth_path.exists():
        truth = read_bmff_table(truth_path)
        acc = compare_to_truth(table, truth)
        write_table(acc, d / "bmff_vs_truth.tsv")
        summary["tables"].append("bmff_vs_truth.tsv")
        main = acc[acc["trait"].isin(["bmff_femoral_head", "bmff_total_hip", "bmff_femoral_diaphysis", "bmff_spine"])]
        summary["accuracy"] = {r.trait: {"r": round(r.r, 4), "mae_pp": round(100 * r.mae, 3), "n": r.n} for r in main.itertuples()}
        summary["min_r_all_traits"] = float(acc["r"].min()) if len(acc) else float("nan")
        summary["max_mae_pp_all_traits"] = float(100 * acc["mae"].max()) if len(acc) else float("nan")
        try:
            from bma_genetics.plots.bmff import plot_bmff_vs_truth

            plot_bmff_vs_truth(table[table["qc_pass"]], truth, out=d / "figures" / "bmff_vs_truth")
        except ImportError:  # the figure family is optional
            pass
    if images_tsv is not None:
        det, det_summary = qc_detection(table, pd.read_csv(images_tsv, sep="\t", dtype={"eid": str}))
        write_table(det, d / "qc_detection.tsv")
        summary["tables"].append("qc_detection.tsv")
        summary["qc"] = det_summary
    from bma_genetics.phenotypes.inference import load_model

    meta = load_model(params["weights"]).meta
    summary["held_out_dice_min"] = float(np.min(list(meta.get("held_out_dice", {np.nan: np.nan}).values())))
    return summary

"""Calvarial bone marrow adiposity (Kaufmann 2024, eLife): public API.

- :func:`run_profile_training`: simulate skull intensity profiles (336 head types), train the
  dense profile network, report boundary MAE (mm) and marrow overlap on held-out profiles.
- :func:`evaluate_profile_model`: the same accuracy for any trained model.
- :func:`run_calvarial`: head T1 volumes -> skin surface -> inward profiles -> network ->
  per-participant calvarial BMA with the study's QC (see :mod:`bma_genetics.calvarial.surface`,
  :mod:`bma_genetics.calvarial.qc`).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bma_genetics._check import fail
from bma_genetics._result import StageResult
from bma_genetics.calvarial.inference import ProfileModel, layer_statistics
from bma_genetics.calvarial.metrics import accuracy_table
from bma_genetics.calvarial.profiles import (
    SAMPLE_MM,
    STUDY_PROFILES_PER_TYPE,
    ProfileSet,
    simulate_profiles,
)
from bma_genetics.calvarial.qc import FLAGS as QC_FLAGS
from bma_genetics.calvarial.qc import CalvarialQC, apply_qc, background_share
from bma_genetics.calvarial.surface import (
    CALVARIAL_MAX_ANGLE,
    calvarial_vertices,
    head_mask,
    sample_profiles,
    skin_surface,
)
from bma_genetics.calvarial.training import (
    ProfileTrainConfig,
    config_dict,
    save_profile_checkpoint,
    train_profile_net,
)
from bma_genetics.io.calvarial import CALVARIAL_TRAIT
from bma_genetics.io.head import HeadVolume

log = logging.getLogger(__name__)


@dataclass
class ProfileTrainingResult(StageResult):
    """What :func:`run_profile_training` returns.

    ``to_frame()``: held-out accuracy per head type (``group`` = head-type row, ``size_scale,
    marrow_mean, adiposity_scale, n, mae_mm, mae_<boundary>_mm, marrow_overlap, exact_marrow,
    marrow_intensity_ratio``); ``summary()``: the overall held-out numbers and the settings.

    Attributes
    ----------
    model : ProfileModel
        The trained network and its metadata.
    history : dict
        Training and validation loss per epoch.
    """

    model: ProfileModel | None = None
    history: dict[str, Any] = field(default_factory=dict)


def evaluate_profile_model(model: ProfileModel, profiles: ProfileSet) -> tuple[pd.DataFrame, dict[str, float]]:
    """Held-out accuracy of a profile model: per head type, and overall.

    Returns
    -------
    (DataFrame, dict)
        The per-head-type table (see :class:`ProfileTrainingResult`) and the overall
        ``mae_mm``, ``mae_<boundary>_mm``, ``marrow_overlap``, ``exact_marrow``,
        ``marrow_intensity_ratio`` (median predicted / true marrow mean), ``n_profiles``.
    """
    if not isinstance(model, ProfileModel):
        raise fail("evaluate_profile_model/model", f"expected a ProfileModel, found {type(model).__name__}")
    pred = model.predict(profiles.intensities)
    est = layer_statistics(profiles.intensities, pred)["bm_mean"]
    true = layer_statistics(profiles.intensities, profiles.boundaries)["bm_mean"]
    ratio = est / true
    per_type = accuracy_table(pred, profiles.boundaries, ratio, group=profiles.head_type)
    per_type = profiles.types.reset_index(drop=True).join(per_type.set_index("group"), how="right")
    per_type.insert(0, "head_type", per_type.index.astype(int))
    overall = accuracy_table(pred, profiles.boundaries, ratio).iloc[0].drop("group").to_dict()
    overall = {k: (int(v) if k == "n" else round(float(v), 4)) for k, v in overall.items()}
    overall["n_profiles"] = overall.pop("n")
    return per_type.reset_index(drop=True), overall


def run_profile_training(
    *,
    n_per_type: int = STUDY_PROFILES_PER_TYPE,
    seed: int = 1,
    epochs: int = ProfileTrainConfig.epochs,
    batch_size: int = ProfileTrainConfig.batch_size,
    lr: float = ProfileTrainConfig.lr,
    validation_fraction: float = ProfileTrainConfig.validation_fraction,
    n_test_per_type: int = 100,
    threads: int = 1,
    out: str | os.PathLike | None = None,
) -> ProfileTrainingResult:
    """Simulate profiles of the 336 head types, train the profile network, test it on held-out profiles.

    The study's setup (Kaufmann 2024): 5,000 profiles per head type (1.68 million), Adam at
    0.01, MSE, batch 8,192, a third held out for validation, 100 epochs (the paper: 300).
    That takes hours on a laptop CPU; the shipped network
    (:func:`bma_genetics.calvarial.inference.default_weights_path`) was trained with fewer
    profiles (its metadata records how), and the tests use tens per type.

    Parameters
    ----------
    n_per_type : int, default=5000
        Training profiles per head type.
    seed : int, default=1
        Seed of the training profiles (head type ``k``: ``default_rng([seed, k])``) and of the
        training (shuffle, weights, dropout); the held-out profiles use ``seed + 1000``.
    epochs, batch_size, lr, validation_fraction : training settings
        See :class:`~bma_genetics.calvarial.training.ProfileTrainConfig`.
    n_test_per_type : int, default=100
        Held-out profiles per head type (a fresh simulation, never seen in training).
    threads : int, default=1
        torch CPU threads.
    out : path, optional
        Directory: ``calvarial_profile_net.pt`` (checkpoint) and ``profile_accuracy.tsv``.

    Returns
    -------
    ProfileTrainingResult
        Held-out accuracy per head type (``to_frame()``), overall numbers (``summary()``),
        the model (``.model``).

    Examples
    --------
    >>> r = run_profile_training(n_per_type=5, epochs=1, n_test_per_type=2)
    >>> sorted(k for k in r.summary() if k.startswith("held_out"))[:2]
    ['held_out_mae_mm', 'held_out_marrow_overlap']
    """
    for name, v in (("n_per_type", n_per_type), ("n_test_per_type", n_test_per_type), ("seed", seed)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < (0 if name == "seed" else 1):
            raise fail(f"run_profile_training/{name}", f"expected a positive integer, found {v!r}")
    config = ProfileTrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, validation_fraction=validation_fraction,
                                seed=int(seed), threads=threads)
    train = simulate_profiles(int(n_per_type), seed=int(seed))
    net, history = train_profile_net(train, config)
    test = simulate_profiles(int(n_test_per_type), seed=int(seed) + 1000)
    meta = {"training": {**config_dict(config), "n_per_type": int(n_per_type), "profile_seed": int(seed),
                         "n_profiles": len(train), "history": history}}
    model = ProfileModel(net, meta)
    per_type, overall = evaluate_profile_model(model, test)
    meta["held_out"] = {**overall, "n_per_type": int(n_test_per_type), "profile_seed": int(seed) + 1000}
    files: dict[str, Path] = {}
    if out is not None:
        from bma_genetics._atomic import write_table

        d = Path(out)
        d.mkdir(parents=True, exist_ok=True)
        files["checkpoint"] = save_profile_checkpoint(d / "calvarial_profile_net.pt", net, meta)
        files["profile_accuracy"] = d / "profile_accuracy.tsv"
        write_table(per_type, files["profile_accuracy"])
    report = {"n_training_profiles": len(train), "n_held_out_profiles": len(test), "epochs": int(epochs),
              "training_seconds": history["seconds"],
              **{f"held_out_{k}": v for k, v in overall.items() if k != "n_profiles"}}
    return ProfileTrainingResult(per_type, files, report, model=model, history=history)


#: FreeSurfer's intensity convention of the study's input. Kaufmann 2024 sampled ``nu.mgz``
#: (FreeSurfer 5.3, ``010_extractIntensities/mainscript.sh``), not ``T1.mgz``: recon-all makes it with
#: ``mri_nu_correct.mni --uchar talairach.xfm`` (N3, then ``mri_make_uchar``), which maps the 1st
#: percentile of the intensities in a 50-mm ball around the Talairach origin (mostly brain) to
#: 0.01 x 255 = 2.55 and their 90th percentile to 110 (the white matter), linearly, clipped to 0-255.
#: The profile model's layer intensities (rest 60, areolar fat 180, tables 25) and the QC rule
#: "outer-table SD < 30" are on that scale.
FS_LOW_PERCENTILE = 1.0
FS_LOW_VALUE = 0.01 * 255.0
FS_WM_PERCENTILE = 90.0
FS_WM_VALUE = 110.0
#: Voxels deeper than this below the head surface (mm) stand for FreeSurfer's Talairach ball: mostly brain,
#: well inside the skull (no registration needed).
REFERENCE_DEPTH_MM = 35.0


def intensity_mapping(t1: np.ndarray, mask: np.ndarray, spacing: tuple[float, float, float], *,
                      depth_mm: float = REFERENCE_DEPTH_MM) -> tuple[float, float, float, float]:
    """The linear map that puts a head T1 on FreeSurfer's ``nu.mgz`` scale (the study's input).

    FreeSurfer's ``mri_make_uchar`` rule: the 1st percentile of the reference region's non-zero
    intensities goes to 2.55 and the 90th (white matter) to 110 (:data:`FS_WM_VALUE`); the image is
    then ``clip(t1 x scale + offset, 0, 255)``. The reference region is the head voxels more than
    ``depth_mm`` below the head surface (the brain), FreeSurfer's a 50-mm ball around the Talairach
    origin; FreeSurfer reads the percentiles off a 100-bin histogram, here they are exact. UK Biobank's
    ``T1.nii.gz`` is on the scanner's scale (gain differs by scanner and head): any gain and offset
    give the same normalised image.

    Returns
    -------
    (float, float, float, float)
        ``(scale, offset, raw_low, raw_wm)``: the map and the raw percentiles it came from.

    Raises
    ------
    InputError
        No voxel that deep (not a head, or a field of view too small) or percentiles that do not
        increase (not a T1 head image).
    """
    from scipy import ndimage

    depth = ndimage.distance_transform_edt(mask, sampling=spacing)
    inner = np.asarray(t1)[depth > depth_mm]
    inner = inner[inner != 0]  # FreeSurfer clears the histogram's zero bin
    if inner.size < 100:
        raise fail("measure_head/vol", f"only {inner.size} head voxels lie more than {depth_mm} mm below the surface: "
                                       "no brain to normalise the intensities by")
    low, wm = (float(v) for v in np.percentile(inner, [FS_LOW_PERCENTILE, FS_WM_PERCENTILE]))
    if not wm > low:
        raise fail("measure_head/vol", f"the brain's 1st and 90th intensity percentiles are {low:.4g} and {wm:.4g}: "
                                       "not a T1 head image")
    scale = (FS_WM_VALUE - FS_LOW_VALUE) / (wm - low)
    return scale, FS_WM_VALUE - scale * wm, low, wm


def measure_head(vol: HeadVolume, model: ProfileModel, *, qc: CalvarialQC = CalvarialQC(),
                 max_angle: float = CALVARIAL_MAX_ANGLE) -> dict[str, Any]:
    """Calvarial BMA of one head T1: skin surface -> calvarial vertices -> profiles -> boundaries -> QC.

    Parameters
    ----------
    vol : HeadVolume
        From :func:`bma_genetics.io.read_head_image`.
    model : ProfileModel
        The profile network (:func:`~bma_genetics.calvarial.inference.load_profile_model`).
    qc : CalvarialQC
        Thresholds (:mod:`bma_genetics.calvarial.qc`).
    max_angle : float, default=60
        Calvarial vertices: outward normal within this many degrees of superior.

    Returns
    -------
    dict
        ``eid, calvarial_bma`` (mean marrow intensity over the calvarial vertices that are not
        Mahalanobis outliers), ``n_points, outer_table_mean, inner_table_mean,
        marrow_thickness_mm, marrow_depth_mm``, ``intensity_scale`` and ``intensity_offset`` (the
        map applied, :func:`intensity_mapping`) and ``intensity_reference_raw`` (the brain's 90th
        percentile before it, mapped to 110), the QC metrics and flags and ``qc_pass``; intensities on
        FreeSurfer's ``nu.mgz`` scale (the study's).
    """
    if not isinstance(vol, HeadVolume):
        raise fail("measure_head/vol", f"expected a HeadVolume, found {type(vol).__name__}")
    spacing = np.asarray(vol.spacing, float)
    mask = head_mask(vol.t1)
    factor, offset, _, raw_reference = intensity_mapping(vol.t1, mask, vol.spacing)
    t1 = np.clip(np.asarray(vol.t1, np.float32) * np.float32(factor) + np.float32(offset), 0.0, 255.0)
    surf = skin_surface(mask, vol.spacing)
    idx = calvarial_vertices(surf, max_angle=max_angle)
    prof = sample_profiles(t1, surf, idx)
    bounds = model.predict(prof) if len(prof) else np.zeros((0, 6), np.int16)
    st = layer_statistics(prof, bounds)
    res = apply_qc(len(idx), st["ob_mean"], st["bm_first"], st["bm_mean"], voxel_mm=float(spacing.mean()), qc=qc,
                   background=background_share(t1, mask, vol.spacing, qc=qc))
    md = res.pop("md")
    keep = np.isfinite(st["bm_mean"]) & (md <= qc.md_cutoff)

    def mean(a: np.ndarray) -> float:
        return float(np.nanmean(a[keep])) if keep.any() else float("nan")

    return {"eid": vol.eid, CALVARIAL_TRAIT: mean(st["bm_mean"]), "n_points": int(len(idx)),
            "outer_table_mean": mean(st["ob_mean"]), "inner_table_mean": mean(st["ib_mean"]),
            "marrow_thickness_mm": mean(st["bm_thick"]) * SAMPLE_MM,
            "marrow_depth_mm": mean(st["bm_first"]) * SAMPLE_MM,
            "intensity_scale": round(factor, 6), "intensity_offset": round(offset, 4),
            "intensity_reference_raw": round(raw_reference, 4), **res}


def _factor_range(table: pd.DataFrame) -> dict[str, float | None]:
    f = table["intensity_scale"].dropna() if "intensity_scale" in table else pd.Series(dtype=float)
    if f.empty:
        return {"median": None, "min": None, "max": None}
    return {"median": float(f.median()), "min": float(f.min()), "max": float(f.max())}


@dataclass
class CalvarialResult(StageResult):
    """What :func:`run_calvarial` returns.

    ``to_frame()``: the calvarial table (one row per head image: ``eid, calvarial_bma, n_points,
    outer_table_mean, inner_table_mean, marrow_thickness_mm, marrow_depth_mm, intensity_scale,
    intensity_offset, intensity_reference_raw, qc_n_points,
    qc_min_points, qc_outer_table_sd, qc_md_outlier_share, qc_background_share, qc_few_points,
    qc_unstable_outer_table, qc_md_outliers, qc_background_artefact, qc_pass, source, error``); ``summary()``: counts,
    the model's checksum and held-out accuracy, the QC thresholds.

    Attributes
    ----------
    provenance : dict
        What ``calvarial.provenance.json`` holds.
    """

    provenance: dict[str, Any] = field(default_factory=dict)


def _measure_one(path: Path, eid: str, model: ProfileModel, qc: CalvarialQC, max_angle: float) -> dict[str, Any]:
    from bma_genetics.errors import InputError
    from bma_genetics.io.head import read_head_image

    try:
        vol = read_head_image(path, eid=eid)
        row = measure_head(vol, model, qc=qc, max_angle=max_angle)
    except InputError as exc:  # an unreadable image is a row with its error, not a failed stage
        return {"eid": eid, CALVARIAL_TRAIT: float("nan"), "qc_pass": False, "source": str(path), "error": str(exc)}
    return {**row, "source": str(path), "error": ""}


def run_calvarial(
    images: str | os.PathLike | dict[str, str | os.PathLike],
    *,
    weights: str | os.PathLike | None = None,
    out: str | os.PathLike | None = None,
    qc: CalvarialQC = CalvarialQC(),
    max_angle: float = CALVARIAL_MAX_ANGLE,
    withdrawals: set[str] | frozenset[str] = frozenset(),
    n_jobs: int = 1,
    torch_threads: int = 1,
) -> CalvarialResult:
    """Calvarial BMA of every head T1 in a folder (Kaufmann 2024), with QC.

    Per image: head mask -> skin surface (marching cubes) -> calvarial vertices (top of the
    head) -> 50 intensities inward at 0.5 mm -> the profile network's six boundaries -> per-vertex
    marrow mean -> BMA = mean over the calvarial vertices that are not Mahalanobis outliers; QC
    by the study's rules (:mod:`bma_genetics.calvarial.qc`).

    Parameters
    ----------
    images : path or dict of str to path
        A folder of ``{eid}_20252_2_0.zip`` (NIfTI) and/or ``{eid}_20216_2_0.zip`` (DICOM) files
        (searched recursively; NIfTI preferred), or eid -> file.
    weights : path, optional
        Profile-network checkpoint; default the shipped one.
    out : path, optional
        Folder: ``calvarial.parquet`` (:func:`bma_genetics.io.write_calvarial_table`) and
        ``calvarial.provenance.json``.
    qc : CalvarialQC
        QC thresholds.
    max_angle : float, default=60
        Calvarial vertices: outward normal within this many degrees of superior.
    withdrawals : set of str
        Participants never measured.
    n_jobs : int, default=1
        Images measured in parallel (threads).
    torch_threads : int, default=1
        torch CPU threads.

    Returns
    -------
    CalvarialResult

    Examples
    --------
    >>> r = run_calvarial("run/head_images/images")  # doctest: +SKIP
    >>> r.to_frame()[["eid", "calvarial_bma", "qc_pass"]].head()  # doctest: +SKIP
    """
    import json
    from concurrent.futures import ThreadPoolExecutor

    import torch

    from bma_genetics.calvarial.inference import load_profile_model
    from bma_genetics.io.calvarial import write_calvarial_table
    from bma_genetics.io.head import head_images

    if isinstance(images, dict):
        files = {str(k): Path(v) for k, v in images.items()}
    else:
        folder = Path(images)
        if not folder.is_dir():
            raise fail("run_calvarial/images", f"{folder} is not a folder of head images")
        files = head_images(folder)
    files = {e: p for e, p in files.items() if e not in set(withdrawals)}
    if not files:
        raise fail("run_calvarial/images", f"no head images (*_20252_*.zip or *_20216_*.zip) in {images}")
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs < 1:
        raise fail("run_calvarial/n_jobs", f"expected an integer >= 1, found {n_jobs!r}")
    if not isinstance(qc, CalvarialQC):
        raise fail("run_calvarial/qc", f"expected a CalvarialQC, found {type(qc).__name__}")
    model = load_profile_model(weights)
    old = torch.get_num_threads()
    torch.set_num_threads(int(torch_threads))
    try:
        with ThreadPoolExecutor(max_workers=n_jobs) as pool:
            rows = list(pool.map(lambda item: _measure_one(item[1], item[0], model, qc, max_angle), files.items()))
    finally:
        torch.set_num_threads(old)
    table = pd.DataFrame(rows)
    table["qc_pass"] = table["qc_pass"].fillna(False).astype(bool)
    held = model.meta.get("held_out", {})
    provenance = {
        "method": "Kaufmann 2024 (eLife): skin surface by marching cubes, 50 samples inward at 0.5 mm, dense "
                  "profile network, BMA = mean marrow intensity over calvarial vertices without MD outliers",
        "model": {"path": model.meta.get("path"), "sha256": model.meta.get("sha256"),
                  "held_out": held, "training": {k: v for k, v in model.meta.get("training", {}).items()
                                                 if k != "history"}},
        "qc": {"min_points": qc.min_points if qc.min_points is not None else "scaled: 4,000 at 2 mm x (2 / voxel)^2",
               "max_outer_table_sd": qc.max_outer_table_sd, "md_cutoff": qc.md_cutoff,
               "max_md_outlier_share": qc.max_md_outlier_share, "background_threshold": qc.background_threshold,
               "background_margin_mm": qc.background_margin_mm, "max_background_share": qc.max_background_share},
        "max_angle_degrees": max_angle,
        "intensity_normalisation": {
            "rule": f"FreeSurfer's nu.mgz convention (mri_make_uchar): the 1st and 90th percentiles of the head "
                    f"voxels more than {REFERENCE_DEPTH_MM:g} mm below its surface (the brain) mapped linearly to "
                    f"{FS_LOW_VALUE:g} and {FS_WM_VALUE:g}, clipped to 0-255: BMA, layer means and QC on that scale",
            "low_percentile": FS_LOW_PERCENTILE, "low_value": FS_LOW_VALUE, "wm_percentile": FS_WM_PERCENTILE,
            "wm_value": FS_WM_VALUE, "depth_mm": REFERENCE_DEPTH_MM, "factors": _factor_range(table)},
        "n_images": int(len(table)), "n_qc_pass": int(table["qc_pass"].sum()),
        "n_errors": int((table["error"].astype(str) != "").sum()),
    }
    files_out: dict[str, Path] = {}
    if out is not None:
        from bma_genetics._atomic import write_text

        d = Path(out)
        d.mkdir(parents=True, exist_ok=True)
        files_out["calvarial"] = write_calvarial_table(table, d / "calvarial.parquet")
        files_out["provenance"] = write_text(d / "calvarial.provenance.json",
                                             json.dumps(provenance, indent=1, default=float) + "\n")
    report = {"n_images": provenance["n_images"], "n_qc_pass": provenance["n_qc_pass"],
              "n_errors": provenance["n_errors"], "model_sha256": model.meta.get("sha256"),
              "model_held_out_mae_mm": held.get("mae_mm"), "model_held_out_marrow_overlap": held.get("marrow_overlap"),
              "flags": {f: int(table[f].fillna(False).astype(bool).sum()) for f in QC_FLAGS if f in table.columns}}
    return CalvarialResult(table, files_out, report, provenance=provenance)


def compare_to_truth(table: pd.DataFrame, truth: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Measured BMA against the simulated truth (``truth/heads.tsv``), and QC against the planted failures.

    Returns
    -------
    (DataFrame, DataFrame, dict)
        ``vs_truth``: one row, ``n, pearson_r, slope, intercept, mean_difference`` (measured -
        true, QC-passed heads without a planted failure); ``detection``: per failure kind ``n,
        caught`` (any QC flag) and for ``none`` the falsely flagged; the headline numbers.
    """
    t = truth.assign(eid=truth["eid"].astype(str))[["eid", "marrow_intensity", "failure"]]
    m = table.merge(t, on="eid", how="inner")
    clean = m[(m["failure"] == "none") & m["qc_pass"] & np.isfinite(m[CALVARIAL_TRAIT])]
    if len(clean) > 2:
        r = float(np.corrcoef(clean[CALVARIAL_TRAIT], clean["marrow_intensity"])[0, 1])
        slope, intercept = (float(v) for v in np.polyfit(clean["marrow_intensity"], clean[CALVARIAL_TRAIT], 1))
    else:
        r = slope = intercept = float("nan")
    vs = pd.DataFrame([{"n": int(len(clean)), "pearson_r": round(r, 4), "slope": round(slope, 4),
                        "intercept": round(intercept, 4),
                        "mean_difference": round(float((clean[CALVARIAL_TRAIT] - clean["marrow_intensity"]).mean()), 4)
                        if len(clean) else float("nan")}])
    rows = []
    for kind in ("motion", "truncated", "none"):
        sel = m[m["failure"] == kind]
        flagged = int((~sel["qc_pass"]).sum())
        rows.append({"failure": kind, "n": int(len(sel)), "flagged": flagged,
                     "flagged_share": round(flagged / len(sel), 4) if len(sel) else float("nan")})
    det = pd.DataFrame(rows)
    failed = m["failure"] != "none"
    head = {"pearson_r": vs["pearson_r"].iloc[0], "n_compared": int(len(clean)),
            "planted_failures": int(failed.sum()), "planted_caught": int((~m.loc[failed, "qc_pass"]).sum()),
            "false_flag_share": det.loc[det["failure"] == "none", "flagged_share"].iloc[0]}
    return vs, det, head

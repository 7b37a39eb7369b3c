"""Public API of the phenotypes stage: Dixon MRI -> marrow segmentation -> BMFF table with QC.

Functions
---------
load_model      the shipped (or a user's) segmentation weights
train_unet      train a U-Net on labelled images (NIfTI + label maps)
predict_bmff    BMFF and QC for one Dixon volume
run_bmff        BMFF table for many participants (zips / NIfTI): batched, resumable, parallel reads
compare_to_truth  measured vs simulated truth: r, MAE per trait
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bma_genetics._atomic import write_table, write_text
from bma_genetics._check import check_one_of, fail
from bma_genetics._result import StageResult
from bma_genetics.io.bmff import (
    ICC_SCHEMA,
    ROI_STATS_SCHEMA,
    provenance_path,
    read_bmff_table,
    roi_stats_path,
    write_bmff_table,
    write_roi_stats,
)
from bma_genetics.io.dixon import DixonVolume, find_images, read_any
from bma_genetics.io.withdrawals import read_withdrawals
from bma_genetics.phenotypes import qc as qcmod
from bma_genetics.phenotypes.bmff import (
    BMFF_METHODS,
    L5_ANCHOR_SPACINGS,
    OPTIMAT_ROIS,
    assign_sites,
    measure,
    measure_optimat,
)
from bma_genetics.phenotypes.inference import SegmentationModel, load_model
from bma_genetics.sites import all_traits
from bma_genetics.stats import icc

log = logging.getLogger(__name__)

__all__ = ["BMFFResult", "load_model", "train_unet", "predict_bmff", "run_bmff", "compare_to_truth", "volume_reference",
           "roi_stats_table"]


@dataclass
class BMFFResult(StageResult):
    """What :func:`run_bmff` returns: the BMFF table, its provenance and the files written.

    Attributes
    ----------
    table : DataFrame
        The BMFF table (:func:`run_bmff` lists its columns); ``to_frame()`` returns a copy.
    files : dict of str to Path
        ``bmff`` (the table) and ``provenance`` (``{stem}.provenance.json``).
    report : dict
        ``n_participants``, ``n_qc_pass``, ``flags`` (count per QC flag),
        ``qc_mask_volume_rule``, ``model_sha256``: the body of :meth:`summary`.
    provenance : dict
        The provenance record written beside the table (model checksum, held-out Dice, ...).
    """

    provenance: dict[str, Any] = field(default_factory=dict)


# ------------------------------------------------------------------------------------ training
def volume_reference(
    site_label_maps: list[np.ndarray],
    spacing: tuple[float, float, float],
    n_slices: int,
    n_stations: int,
    *,
    min_sd: float | None = None,
) -> dict[str, Any]:
    """QC reference from site maps: per-site log mask volume, coverage, stations.

    ``volume_log_ml`` maps each ``bmff_<site>`` column to ``[median, 1.4826 * MAD]`` of the log
    mask volume (ml) over the maps, the SD floored at ``min_sd`` (default
    :data:`~bma_genetics.phenotypes.qc.MASK_VOLUME_MIN_SD`); the rule of
    :mod:`bma_genetics.phenotypes.qc`.
    """
    from bma_genetics.phenotypes.bmff import site_masks

    floor = qcmod.MASK_VOLUME_MIN_SD if min_sd is None else float(min_sd)
    voxel_ml = float(np.prod(spacing)) / 1000
    vols: dict[str, list[float]] = {}
    for lab in site_label_maps:
        for stem, m in site_masks(lab).items():
            n = int(m.sum())
            if n:
                vols.setdefault(f"bmff_{stem}", []).append(float(np.log(n * voxel_ml)))
    return {
        "volume_log_ml": {k: list(qcmod.robust_centre_sd(v, min_sd=floor)) for k, v in vols.items()},
        "volume_n": {k: len(v) for k, v in vols.items()},
        "volume_rule": f"median and 1.4826 * MAD of log mask volume, SD floor {floor}",
        "expected_coverage_mm": float(n_slices * spacing[0]),
        "expected_stations": int(n_stations),
    }


def train_unet(
    images: str | Path,
    out: str | Path,
    *,
    val_fraction: float = 0.15,
    seed: int = 0,
    max_minutes: float | None = None,
    max_steps: int = 2000,
    features: tuple[int, ...] = (8, 16, 32, 64),
    context: int = 1,
    attention: bool = False,
    expected_stations: int = 3,
    progress: bool = True,
) -> dict[str, Any]:
    """Train the 2.5D marrow U-Net on labelled Dixon images.

    Model: per-slice U-Net (:class:`~bma_genetics.phenotypes.networks.UNet`, 2D) over water and
    fat of the slice and ``context`` neighbours either side; loss soft Dice + cross-entropy;
    AdamW with polynomial decay; seeded patch sampling and augmentation; validation Dice every
    100 steps, best checkpoint kept, early stopping after 6 evaluations without gain.

    Parameters
    ----------
    images : path
        Folder with ``nifti/{eid}_water.nii.gz``, ``nifti/{eid}_fat.nii.gz`` and
        ``labels/{eid}_labels.nii.gz`` (site codes as ``bma_genetics.simulate.dixon.LABELS``),
        as written by ``bma-genetics simulate-images``.
    out : path
        Checkpoint to write (``.pt``); load it with :func:`load_model`.
    val_fraction : float, default=0.15
        Share of volumes held out for validation (at least one).
    seed : int, default=0
    max_minutes : float, optional
        Wall-clock budget.

    Returns
    -------
    dict
        Training summary (``best_val_dice``, ``val_dice_per_class``, ``steps``, ``minutes``,
        ``history``, ``checkpoint``).

    Examples
    --------
    >>> train_unet("cohort/images", "my_model.pt", max_minutes=10)  # doctest: +SKIP
    """
    from bma_genetics.phenotypes.training import TrainConfig, load_training_dir, train

    vols = load_training_dir(images)
    if len(vols) < 2:
        raise fail("train_unet/images", f"{images}: need at least 2 labelled volumes, found {len(vols)}")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(vols))
    n_val = max(1, int(round(val_fraction * len(vols))))
    val = [vols[i] for i in order[:n_val]]
    tr = [vols[i] for i in order[n_val:]]
    cfg = TrainConfig(seed=seed, max_minutes=max_minutes, max_steps=max_steps, features=tuple(features),
                      context=context, attention=attention)
    ref = volume_reference([v.site_labels for v in tr], tr[0].spacing, max(v.y.shape[0] for v in tr), expected_stations)
    return train(tr, val, config=cfg, out=out, progress=progress,
                 extra_meta={"reference": ref, "training_data": f"{len(tr)} volumes from {images}"})


# ----------------------------------------------------------------------------------- inference
def predict_bmff(
    volume: DixonVolume,
    model: SegmentationModel | None = None,
    *,
    erosion: int = 1,
    batch_size: int = 8,
    return_sites: bool = False,
    method: str = "eroded",
    anchor_spacings: float = L5_ANCHOR_SPACINGS,
) -> dict[str, Any] | tuple[dict[str, Any], np.ndarray]:
    """BMFF per site and QC for one Dixon volume.

    Steps: image QC (:func:`~bma_genetics.phenotypes.qc.image_qc`) -> segmentation (network
    classes) -> side and level assignment (:func:`~bma_genetics.phenotypes.bmff.assign_sites`)
    -> fat fraction per site -> site QC. ``method="eroded"`` (default): mean fat fraction in
    the 3-D eroded mask (:func:`~bma_genetics.phenotypes.bmff.measure`, ``erosion`` voxels);
    ``method="optimat"``: the OPTIMAT rules (:func:`~bma_genetics.phenotypes.bmff.measure_optimat`;
    ``erosion`` unused).

    Returns
    -------
    dict
        One row of the BMFF table (see :func:`run_bmff`); with ``return_sites`` also the site
        code map ``(Z, Y, X)``.
    """
    model = model or load_model()
    ref = model.meta.get("reference", {})
    row: dict[str, Any] = {"eid": volume.eid, "source": volume.source, "qc_read_failed": False, "error": ""}
    row.update(qcmod.image_qc(volume.water, volume.fat, station=volume.station, n_stations=volume.n_stations,
                              spacing=volume.spacing, reference=ref))
    classes = model.segment(volume.water, volume.fat, batch_size=batch_size)
    superior_up = bool(volume.directions[0][2] >= 0)
    sites, levels = assign_sites(classes, spacing=tuple(volume.spacing), superior_is_up=superior_up,
                                 return_levels=True, anchor_spacings=anchor_spacings)
    row.update(levels)
    check_one_of("predict_bmff/method", method, list(BMFF_METHODS))
    if method == "optimat":
        row.update(measure_optimat(volume.water, volume.fat, sites, spacing=volume.spacing, station=volume.station))
        row.update(qcmod.site_qc(row, ref, measured=[f"bmff_{s}" for s in OPTIMAT_ROIS], by_mask=True))
    else:
        row.update(measure(volume.water, volume.fat, sites, spacing=volume.spacing, erosion=erosion))
        row.update(qcmod.site_qc(row, ref))
    return (row, sites) if return_sites else row


def _error_row(eid: str, source: str, exc: BaseException) -> dict[str, Any]:
    row: dict[str, Any] = {"eid": eid, "source": source, "qc_read_failed": True, "error": f"{type(exc).__name__}: {exc}"}
    for c in all_traits():
        row[c] = np.nan
    return row


def _finalise(frames: list[pd.DataFrame], model: SegmentationModel, method: str = "eroded",
              anchor_spacings: float = L5_ANCHOR_SPACINGS) -> pd.DataFrame:
    t = pd.concat([f for f in frames if len(f)], ignore_index=True) if any(len(f) for f in frames) else pd.DataFrame({"eid": []})
    t["eid"] = t["eid"].astype(str)
    t = t.drop_duplicates("eid", keep="last").sort_values("eid").reset_index(drop=True)
    for c in all_traits():
        if c not in t.columns:
            t[c] = np.nan
    for f in qcmod.FLAGS:
        if f not in t.columns:
            t[f] = False
        t[f] = t[f].astype("boolean").fillna(False).astype(bool)
    for c in ("error", "source", "qc_missing_sites", "qc_mask_volume_sites", "vertebral_anatomy"):
        if c not in t.columns:
            t[c] = ""
        t[c] = t[c].fillna("").astype(str)
    t, guard = qcmod.vertebral_level_guard(t, anchor_spacings=anchor_spacings)
    t = qcmod.mask_volume_outliers(t, model.meta.get("reference", {}))
    if method == "optimat":
        t = qcmod.optimat_roi_qc(t)
    t = qcmod.bmff_outliers(t)
    t["model_sha256"] = model.sha256
    front = ["eid", *all_traits(), *qcmod.FLAGS, "qc_pass"]
    out = t[front + [c for c in t.columns if c not in front]]
    out.attrs["vertebral_level_guard"] = guard
    return out


def roi_stats_table(table: pd.DataFrame) -> pd.DataFrame:
    """The per-ROI statistics table (long: participant x ROI) from an ``optimat`` BMFF table.

    Columns of :data:`bma_genetics.io.bmff.ROI_STATS_SCHEMA`, fat fractions in percent;
    ``qc_pass`` is false where OPTIMAT's ROI QC excluded the ROI (``qc_optimat_excluded``) or
    nothing was measured. Rows of participants whose image was not read are left out.
    """
    t = table
    if "qc_read_failed" in t.columns:
        t = t[~t["qc_read_failed"].astype(bool)]
    excluded = (t["qc_optimat_excluded"].fillna("").astype(str).str.split(",")
                if "qc_optimat_excluded" in t.columns else pd.Series([[]] * len(t), index=t.index))
    frames = []
    for stem, code in OPTIMAT_ROIS.items():
        col = f"bmff_{stem}"
        if f"{col}_n_voxels" not in t.columns:
            continue
        n = pd.to_numeric(t[f"{col}_n_voxels"], errors="coerce").fillna(0)
        # the mean is NaN where the ROI QC removed it; SD, median, IQR and size are kept
        raw = pd.to_numeric(t[col], errors="coerce")
        frames.append(pd.DataFrame({
            "eid": t["eid"].astype(str).to_numpy(), "site": stem, "roi": code, "eroded": code != "D",
            "mean_pct": 100 * raw.to_numpy(dtype=float),
            "sd_pct": 100 * pd.to_numeric(t[f"{col}_sd"], errors="coerce").to_numpy(dtype=float),
            "median_pct": 100 * pd.to_numeric(t[f"{col}_median"], errors="coerce").to_numpy(dtype=float),
            "iqr_pct": 100 * pd.to_numeric(t[f"{col}_iqr"], errors="coerce").to_numpy(dtype=float),
            "n_voxels": n.astype(int).to_numpy(),
            "qc_pass": ((n > 0) & ~excluded.map(lambda x, s=stem: s in x)).to_numpy(dtype=bool),
        }))
    cols = list(ROI_STATS_SCHEMA.required)
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    return pd.concat(frames, ignore_index=True)[cols]


def _read_json(path: Path) -> Any:
    """A JSON file's contents, or None when it is absent or unreadable (a stale resume record)."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def run_bmff(
    images: str | Path | list[str | Path],
    out: str | Path,
    *,
    weights: str | Path | None = None,
    device: str = "cpu",
    batch_size: int = 8,
    n_jobs: int = 2,
    erosion: int = 1,
    resume: bool = True,
    flush_every: int = 25,
    progress: bool = True,
    withdrawals: str | Path | Iterable[str] | None = None,
    method: str = "eroded",
    instance: int = 2,
    l5_anchor_spacings: float = L5_ANCHOR_SPACINGS,
) -> BMFFResult:
    """Measure BMFF for every participant in ``images``; write the BMFF table and its provenance.

    Reads run ahead of inference in ``n_jobs`` threads (DICOM decoding and zip inflation
    overlap the network); the network runs batched on ``device``. Rows are flushed to
    ``{out}.parts/`` every ``flush_every`` participants, so an interrupted run resumes where it
    stopped: participants already in ``out`` (or its parts) are skipped, except failed reads,
    which are retried. A zip that cannot be read gives an error row and the batch goes on.

    Parameters
    ----------
    images : path or list of paths
        Folders (searched recursively for ``*_20201_*.zip`` and ``*_water.nii.gz``) or files.
    out : path
        A folder (the table is written as ``{out}/bmff.parquet``) or the BMFF table's own
        ``.parquet`` path. Beside the table: ``{stem}.provenance.json``.
    weights : path, optional
        Model checkpoint; default the shipped weights.
    device : {"cpu", "cuda"}, default="cpu"
    batch_size : int, default=8
        Slices per forward pass (8 is fastest on a CPU; use 64 or more on a GPU).
    n_jobs : int, default=2
        Reader threads.
    erosion : int, default=1
        Voxels eroded from each site mask before averaging.
    resume : bool, default=True
        Skip participants already measured in ``out`` (or its flushed parts) with the same
        weights (checksum), ``erosion`` and device, from the same image file; other rows are
        measured again, and rows of participants whose image is no longer given are dropped.
    flush_every : int, default=25
        Participants per flushed part.
    progress : bool, default=True
        A tqdm bar.
    withdrawals : path or iterable of str, optional
        Withdrawn participants (a file read by :func:`bma_genetics.io.read_withdrawals`, or
        eids): their images are never read, and rows of theirs from an earlier, resumed run
        are dropped. Default: nobody.
    method : {"eroded", "optimat"}, default="eroded"
        How fat fraction per site is measured. ``eroded`` (the default): mean of
        ``fat / (fat + water)`` in the site mask eroded by ``erosion`` voxels in 3-D.
        ``optimat``: the rules of the Edinburgh OPTIMAT pipeline (Morris 2024, Xu 2025;
        :func:`~bma_genetics.phenotypes.bmff.measure_optimat`): Gaussian-smoothed fat-fraction
        map, station-edge slices removed, central diaphysis, in-plane 3 x 3 erosion, left femur
        only, OPTIMAT's ROI QC (:func:`~bma_genetics.phenotypes.qc.optimat_roi_qc`); also
        writes the per-ROI statistics table ``{stem}_roi_stats.parquet``
        (:func:`~bma_genetics.io.bmff.write_roi_stats`; ``files["roi_stats"]``).
    instance : int, default=2
        The UK Biobank visit measured: zips named ``{eid}_20201_{instance}_0.zip`` (2 = first
        imaging visit, 3 = repeat imaging; :func:`~bma_genetics.io.dixon.find_images`).
    l5_anchor_spacings : float, default=L5_ANCHOR_SPACINGS
        Height of L5 above the femoral heads in lumbar level spacings, which names the vertebral
        levels (:func:`~bma_genetics.phenotypes.bmff.anchor_levels`); calibrated on the simulated
        anatomy, to be calibrated on labelled real spines. When the cohort's anchor offsets say it
        does not fit (:func:`~bma_genetics.phenotypes.qc.vertebral_level_guard`), every
        participant's ``qc_vertebral_levels`` is set and a warning names the median offset.

    Returns
    -------
    BMFFResult
        ``.to_frame()`` is the BMFF table (written by :func:`bma_genetics.io.write_bmff_table`),
        ``.provenance`` the record written beside it, ``.summary()`` the headline counts and
        ``.files`` (``bmff``, ``provenance``). The table has one row per participant:

        ===============================  =======  ==============================================
        column                           dtype    meaning
        ===============================  =======  ==============================================
        eid                              str      participant
        bmff_<site>[_left|_right]        float    mean fat fraction (0-1) in the eroded mask;
                                                  every ``bma_genetics.sites.all_traits()`` name
        bmff_<site>_median               float    median fat fraction, per measured site
        bmff_<site>_n_voxels             int      voxels in the eroded mask
        bmff_<site>_volume_ml            float    mask volume before erosion
        qc_<flag>                        bool     QC flags (:mod:`bma_genetics.phenotypes.qc`)
        qc_pass                          bool     no flag set
        qc_<metric>                      float    QC metrics behind the image flags
        qc_mask_volume_rule              str      ``batch``, ``reference`` or ``mixed`` (per site):
                                                  the centre and SD of ``qc_mask_volume_outlier``
        vertebral_anatomy                str      ``typical``, ``six_lumbar`` (an L6 below L5,
                                                  not measured), ``sacralised_l5`` (no free L5:
                                                  L5 missing), ``ambiguous`` or ``unanchored``
                                                  (then ``qc_vertebral_levels``);
                                                  :func:`~bma_genetics.phenotypes.bmff.assign_sites`
        error                            str      read error, empty if none
        source                           str      the file read
        model_sha256                     str      checksum of the weights used
        ===============================  =======  ==============================================

    Examples
    --------
    >>> run_bmff("cohort/images/20201", "bmff.parquet")  # doctest: +SKIP
    """
    from tqdm import tqdm

    check_one_of("run_bmff/device", device.split(":")[0], ["cpu", "cuda"])
    check_one_of("run_bmff/method", method, list(BMFF_METHODS))
    if not isinstance(n_jobs, int) or isinstance(n_jobs, bool) or n_jobs < 1:
        raise fail("run_bmff/n_jobs", f"expected an integer >= 1, found {n_jobs!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise fail("run_bmff/batch_size", f"expected an integer >= 1, found {batch_size!r}")
    out = Path(out)
    if not out.suffix:
        out = out / "bmff.parquet"
    if not out.name.endswith(".parquet"):
        raise fail("run_bmff/out", f"expected a folder or a .parquet path, found {out}")
    withdrawn: frozenset[str] = frozenset()
    if withdrawals is not None:
        withdrawn = (read_withdrawals(withdrawals) if isinstance(withdrawals, (str, Path))
                     else frozenset(str(e) for e in withdrawals))
    items = find_images(images if isinstance(images, list) else [images], instance=instance)
    n_found = len(items)
    items = [it for it in items if it[0] not in withdrawn]
    if n_found > len(items):
        log.info("BMFF: %d image(s) of withdrawn participants not read (reason: withdrawn)", n_found - len(items))
    model = load_model(weights, device=device)
    made_folder = not out.parent.exists()
    parts = out.parent / f"{out.name}.parts"
    frames: list[pd.DataFrame] = []
    done: set[str] = set()
    # rows are reused only when measured with the same weights, erosion and device, from the
    # same image file (a changed setting or image set measures again)
    settings = {"model_sha256": model.sha256, "erosion": int(erosion), "device": device.split(":")[0],
                "bmff_method": method}
    if parts.exists() and not (resume and _read_json(parts / "settings.json") == settings):
        shutil.rmtree(parts)
    if resume:
        prov = _read_json(provenance_path(out)) if out.exists() else None
        if prov is not None and {"model_sha256": (prov.get("model") or {}).get("sha256"),
                                 "erosion": prov.get("erosion_voxels"), "device": prov.get("device"),
                                 "bmff_method": prov.get("bmff_method", "eroded")} == settings:
            frames.append(read_bmff_table(out))
        if parts.exists():
            frames += [pd.read_parquet(p) for p in sorted(parts.glob("part-*.parquet"))]
        source = {eid: str(path) for eid, _kind, path in items}
        frames = [f[f["eid"].astype(str).map(source).eq(f["source"].astype(str))] for f in frames]
        for f in frames:
            ok = ~f["qc_read_failed"].astype(bool) if "qc_read_failed" in f.columns else pd.Series(True, index=f.index)
            done |= set(f.loc[ok, "eid"].astype(str))
    todo = [it for it in items if it[0] not in done]
    log.info("BMFF: %d participants found, %d already done, %d to measure", len(items), len(items) - len(todo), len(todo))
    t0 = time.time()
    pending: list[dict[str, Any]] = []
    n_part = len(list(parts.glob("part-*.parquet"))) if parts.exists() else 0

    def flush() -> None:
        nonlocal n_part, pending
        if pending:
            if n_part == 0:
                write_text(parts / "settings.json", json.dumps(settings))
            n_part += 1
            df = pd.DataFrame(pending)
            df["eid"] = df["eid"].astype(str)
            write_table(df, parts / f"part-{n_part:05d}.parquet")
            frames.append(df)
            pending = []

    def load(item):
        eid, kind, path = item
        try:
            return item, read_any(eid, kind, path), None
        except Exception as exc:  # every failure becomes an error row; the batch goes on
            return item, None, exc

    # counted, never logged one by one: an image's path names its participant (``{eid}_20201_...``)
    failures: dict[str, list[str]] = {"read failed": [], "not measured": []}
    with ThreadPoolExecutor(max_workers=n_jobs) as pool:
        # Bounded look-ahead: at most 2 * n_jobs volumes in memory.
        it = iter(todo)
        futures = [pool.submit(load, x) for x in [next(it, None) for _ in range(2 * n_jobs)] if x is not None]
        bar = tqdm(total=len(todo), desc="bmff", unit="participant", disable=not progress)
        while futures:
            fut = futures.pop(0)
            nxt = next(it, None)
            if nxt is not None:
                futures.append(pool.submit(load, nxt))
            (eid, kind, path), vol, exc = fut.result()
            if exc is None:
                try:
                    pending.append(predict_bmff(vol, model, erosion=erosion, batch_size=batch_size, method=method,
                                                 anchor_spacings=l5_anchor_spacings))
                except Exception as e:  # a volume the model cannot handle is an error row too
                    failures["not measured"].append(type(e).__name__)
                    pending.append(_error_row(eid, str(path), e))
            else:
                failures["read failed"].append(type(exc).__name__)
                pending.append(_error_row(eid, str(path), exc))
            bar.update(1)
            if len(pending) >= flush_every:
                flush()
        bar.close()
    flush()
    for what, kinds in failures.items():
        if kinds:
            log.warning("BMFF: %d image(s) %s (%s); their rows carry the error in the table's 'error' column",
                        len(kinds), what, ", ".join(f"{k} x{n}" for k, n in Counter(kinds).items()))
    if todo and len(failures["read failed"]) == len(todo) and not done:
        # not one image read: a table of error rows would look like a finished (empty) study
        shutil.rmtree(parts, ignore_errors=True)
        if made_folder and out.parent.exists() and not any(out.parent.iterdir()):
            out.parent.rmdir()
        kinds = ", ".join(f"{k} x{n}" for k, n in Counter(failures["read failed"]).items())
        given = images if isinstance(images, list) else [images]
        raise fail("run_bmff/images", f"none of the {len(todo)} image(s) found in {', '.join(map(str, given))} "
                   f"could be read ({kinds}); no BMFF table written")
    table = _finalise(frames, model, method, l5_anchor_spacings)
    guard = table.attrs.pop("vertebral_level_guard", {})  # into the provenance; the table stays attrs-free
    meta = model.meta
    provenance = {
        "table": out.name,
        "n_participants": int(len(table)),
        "n_qc_pass": int(table["qc_pass"].sum()),
        "flags": {f: int(table[f].sum()) for f in qcmod.FLAGS},
        "vertebral_level_guard": {**guard, "l5_anchor_spacings": l5_anchor_spacings,
                                  "max_transitional_share": qcmod.MAX_TRANSITIONAL_SHARE,
                                  "max_median_anchor_offset": qcmod.MAX_MEDIAN_ANCHOR_OFFSET},
        "qc_mask_volume_rule": str(table["qc_mask_volume_rule"].iloc[0]) if len(table) and "qc_mask_volume_rule" in table else "",
        "model": {
            "path": model.path,
            "sha256": model.sha256,
            "held_out_dice": meta.get("held_out_dice", {}),
            "held_out_bmff": meta.get("held_out_bmff", {}),
            "network": meta.get("network", {}),
            "training_data": meta.get("training_data", ""),
        },
        "erosion_voxels": erosion,
        "bmff_method": method,
        "device": device,
        "seconds": round(time.time() - t0, 1),
    }
    files = {"bmff": out, "provenance": provenance_path(out)}
    if method == "optimat":
        files["roi_stats"] = write_roi_stats(roi_stats_table(table), roi_stats_path(out))
    else:  # a per-ROI table of an earlier optimat run would not describe this table
        roi_stats_path(out).unlink(missing_ok=True)
    write_bmff_table(table, out, provenance=provenance)
    if parts.exists():
        shutil.rmtree(parts)
    log.info("BMFF table: %d rows (%d pass QC) -> %s", len(table), provenance["n_qc_pass"], out)
    report = {k: provenance[k] for k in ("n_participants", "n_qc_pass", "flags", "qc_mask_volume_rule")}
    report["model_sha256"] = model.sha256
    report["bmff_method"] = method
    return BMFFResult(table, files=files, report=report,
                      provenance=provenance)


def compare_to_truth(table: pd.DataFrame, truth: pd.DataFrame, *, only_pass: bool = True) -> pd.DataFrame:
    """Measured against true BMFF per trait: ``trait, n, r, mae, bias`` (fat-fraction units).

    ``only_pass`` keeps rows with ``qc_pass`` (the rows a GWAS would use).
    """
    t = table[table["qc_pass"]] if only_pass and "qc_pass" in table.columns else table
    m = t.merge(truth.assign(eid=truth["eid"].astype(str)), on="eid", suffixes=("", "_true"))
    rows = []
    for c in all_traits():
        if c not in m.columns or f"{c}_true" not in m.columns:
            continue
        a = pd.to_numeric(m[c], errors="coerce")
        b = pd.to_numeric(m[f"{c}_true"], errors="coerce")
        ok = a.notna() & b.notna()
        n = int(ok.sum())
        r = float(np.corrcoef(a[ok], b[ok])[0, 1]) if n > 2 else float("nan")
        rows.append({"trait": c, "n": n, "r": r, "mae": float((a[ok] - b[ok]).abs().mean()) if n else float("nan"),
                     "bias": float((a[ok] - b[ok]).mean()) if n else float("nan")})
    return pd.DataFrame(rows)


def retest_reliability(first: pd.DataFrame, repeat: pd.DataFrame, *, only_pass: bool = True) -> pd.DataFrame:
    """Test-retest reliability per BMFF trait: first imaging visit against the repeat scan.

    Participants measured at both visits (rows passing QC in both tables with ``only_pass``) are
    paired by ``eid``; per trait (every :func:`bma_genetics.sites.all_traits` column present in
    both): the ICCs of :func:`bma_genetics.stats.icc` with 95 % CIs, and the mean and SD of the
    difference (repeat minus first, percentage points).

    ICC(3,1) (consistency) is the reliability that bounds an association study's attenuation
    (a constant offset between visits changes no association); ICC(2,1) (absolute agreement)
    also counts a systematic difference between the visits and is the one to quote when values
    of the two visits are pooled or compared. Both are reported.

    Parameters
    ----------
    first, repeat : DataFrame
        BMFF tables (:func:`run_bmff`) of instance 2 and instance 3.
    only_pass : bool, default=True

    Returns
    -------
    DataFrame
        Columns of :data:`bma_genetics.io.bmff.ICC_SCHEMA`, one row per trait.
    """
    for name, t in (("first", first), ("repeat", repeat)):
        if "eid" not in t.columns:
            raise fail(f"retest_reliability/{name}", "the BMFF table has no 'eid' column")
    a, b = first, repeat
    if only_pass:
        a = a[a["qc_pass"].astype(bool)] if "qc_pass" in a.columns else a
        b = b[b["qc_pass"].astype(bool)] if "qc_pass" in b.columns else b
    m = a.assign(eid=a["eid"].astype(str)).merge(b.assign(eid=b["eid"].astype(str)), on="eid", suffixes=("", "_rescan"))
    rows = []
    for c in all_traits():
        if c not in m.columns or f"{c}_rescan" not in m.columns:
            continue
        x = np.column_stack([pd.to_numeric(m[c], errors="coerce"), pd.to_numeric(m[f"{c}_rescan"], errors="coerce")])
        res = icc(x) if len(x) else icc(np.empty((0, 2)))
        ok = np.isfinite(x).all(axis=1)
        d = 100 * (x[ok, 1] - x[ok, 0])
        rows.append({"trait": c, "n": int(res["n"]), **{k: res[k] for k in (
            "icc2_1", "icc2_1_lo", "icc2_1_hi", "icc3_1", "icc3_1_lo", "icc3_1_hi")},
            "mean_diff_pp": float(d.mean()) if d.size else float("nan"),
            "sd_diff_pp": float(d.std(ddof=1)) if d.size > 1 else float("nan")})
    return pd.DataFrame(rows, columns=list(ICC_SCHEMA.required))

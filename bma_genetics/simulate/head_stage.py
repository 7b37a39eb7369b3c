"""Pipeline stage ``head_images``: head T1 images of the cohort's imaged subset, a product of simulate/.

Parameters: :data:`PARAMS` below (the ``head_images:`` mapping of a study config), tabulated in
``docs/parameters.md``.

A real cohort brings its head T1 in ``<cohort>/images/20252/*.zip`` (NIfTI) or
``<cohort>/images/20216/*.zip`` (DICOM): the stage then simulates nothing and points at them.
Otherwise it simulates ``n_heads`` participants' heads with
:func:`bma_genetics.simulate.heads.simulate_head_images` into its own folder, from the cohort's
``truth/calvarial_true.parquet``. Withdrawn participants are never imaged; simulated images of
people who withdrew later are deleted on the next run. Images are written to ``.partial/`` and
moved into place when all are written; ``.heads.key`` (parameters, seed, the cohort's truth) is
written last, so a rerun reuses a complete set only.

Products (in ``<run>/head_images/``): ``images`` (``images/``, with ``20252/`` and ``20216/``)
and ``truth`` (``truth/heads.tsv``: ``eid, marrow_intensity, failure, size, skull, adiposity,
voxel_mm, scanner, gain, bias_amplitude, nifti, dicom``; simulated images only).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from bma_genetics._params import Param, check_params
from bma_genetics.errors import BmaGeneticsError
from bma_genetics.simulate.heads import DEFAULT_FAILURE_FRACTION, DEFAULT_VOXEL_MM, HEADS_VERSION

log = logging.getLogger(__name__)

NAME = "head_images"
REQUIRES: list[str] = []
#: Aggregate tables shown in the run report: none (``truth/heads.tsv`` has a row per person).
REPORT_TABLES: list[str] = []
WITHDRAWALS = True
#: Cohort files read (their contents are part of the completion key).
INPUTS = ["cohort.json", "truth/calvarial_true.parquet", "images/20252/*.zip", "images/20216/*.zip"]

PARAMS = [
    Param("n_heads", int, 40, "participants whose head T1 is simulated when the cohort has no head images",
          range=(1, None)),
    Param("seed", int, None, "head simulation seed (default: the run's seed)"),
    Param("failure_fraction", float, DEFAULT_FAILURE_FRACTION, "share of simulated heads with a planted failure (half motion, half "
          "truncated field of view)", range=(0, 1)),
    Param("voxel_mm", float, DEFAULT_VOXEL_MM, "isotropic voxel size of the simulated heads (mm)", range=(0.5, 4)),
    Param("intensity", str, "scanner", "intensity scale of the simulated heads: scanner (a gain per scanner and "
          "head and a bias field, as UK Biobank's T1.nii.gz) or nu (FreeSurfer's nu.mgz scale, the truth's)",
          options=("scanner", "nu")),
    Param("formats", list, ["nifti", "dicom"], "files written per head: nifti (field 20252 zip) and/or dicom "
          "(field 20216 zip)", item_type=str),
]


def _cohort_images(cohort: Path) -> Path | None:
    d = cohort / "images"
    return d if any(d.glob("20252/*.zip")) or any(d.glob("20216/*.zip")) else None


def _key(cohort: Path, params: dict[str, Any], seed: int) -> str:
    import hashlib
    import json

    from bma_genetics._atomic import fingerprint

    parts = {k: params[k] for k in ("n_heads", "failure_fraction", "voxel_mm", "formats", "intensity")}
    parts["seed"] = seed
    parts["heads_version"] = HEADS_VERSION  # images of an older head model are simulated again
    parts["inputs"] = {Path(k).name: v for k, v in
                       fingerprint([cohort / "truth" / "calvarial_true.parquet", cohort / "cohort.json"]).items()}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def run(ctx: Any, params: dict[str, Any]) -> dict[str, Any]:
    """Point at the cohort's head images, or simulate them; returns the summary with ``files``."""
    import os
    import shutil

    from bma_genetics._atomic import write_text
    from bma_genetics.simulate.heads import simulate_head_images

    params = check_params(NAME, params, PARAMS)
    bad = sorted(set(params["formats"]) - {"nifti", "dicom"})
    if bad or not params["formats"]:
        raise BmaGeneticsError(f"head_images/formats: expected nifti and/or dicom, found {params['formats']}")
    if ctx.cohort is None:
        raise BmaGeneticsError("head_images stage: needs a cohort directory (--cohort or 'cohort:' in the config)")
    cohort = Path(ctx.cohort)
    own = _cohort_images(cohort)
    if own is not None:
        log.info("head_images: using the cohort's own head images in %s", own)
        truth = cohort / "truth" / "heads.tsv"
        return {"simulated": False, "files": {"images": str(own), **({"truth": str(truth)} if truth.exists() else {})},
                "tables": []}
    d = ctx.stage_dir(NAME)
    seed = int(ctx.seed if params["seed"] is None else params["seed"])
    key = _key(cohort, params, seed)
    marker = d / ".heads.key"
    withdrawn = ctx.withdrawn()
    done = marker.exists() and marker.read_text().strip() == key and (d / "truth" / "heads.tsv").exists()
    if done and getattr(ctx, "resume", True):
        from bma_genetics.io.head import head_eid
        from bma_genetics.simulate.stage import _drop_withdrawn

        _drop_withdrawn(d, withdrawn, truth_name="heads.tsv", eid_of=head_eid)
    else:
        marker.unlink(missing_ok=True)
        tmp = d / ".partial"
        shutil.rmtree(tmp, ignore_errors=True)
        simulate_head_images(cohort, n=params["n_heads"], seed=seed, out=tmp,
                             failure_fraction=params["failure_fraction"], voxel_mm=params["voxel_mm"],
                             formats=tuple(params["formats"]), withdrawals=withdrawn,
                             intensity=params["intensity"])
        for sub in ("images", "truth"):
            if (d / sub).exists():
                shutil.rmtree(d / sub)
            os.replace(tmp / sub, d / sub)
        shutil.rmtree(tmp, ignore_errors=True)
        write_text(marker, key)
    n = len({z.name.split("_")[0] for z in (d / "images").rglob("*.zip")})
    return {"simulated": True, "n_heads": n, "files": {"images": "images", "truth": "truth/heads.tsv"}, "tables": []}

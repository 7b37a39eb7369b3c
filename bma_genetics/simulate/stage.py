"""Pipeline stage ``images``: the Dixon MRI of the cohort's imaged subset, a product of simulate/.

Parameters: :data:`PARAMS` below (the ``images:`` mapping of a study config), tabulated in
``docs/parameters.md``.

A real (or pre-made) cohort brings its images in ``<cohort>/images/20201/*.zip``: the stage
then simulates nothing and points at them. Otherwise it simulates ``n_images`` participants'
images with :func:`bma_genetics.simulate.dixon.simulate_dixon_images` into its own folder.
Withdrawn participants (:meth:`RunContext.withdrawn`) are never imaged; images simulated before
someone withdrew are deleted on the next run.

Simulated images are written to ``.partial/`` and moved into place only when all are written;
``.images.key`` (the parameters, seed and the cohort's truth file they were made from) is
written last. A rerun reuses them only when that key matches (and the run is not
``--no-resume``); a run killed while simulating leaves no image set a rerun would use.

Products (the layout the ``phenotypes`` stage reads, by name through ``ctx.product("images", ...)``):

=============  =======================================  ===============================================
product        path (in ``<run>/images/``)              contents
=============  =======================================  ===============================================
``images``     ``images/20201/``                        one UK Biobank field-20201 zip per participant,
                                                        ``{eid}_20201_2_0.zip`` (or the cohort's folder)
``truth``      ``truth/images.tsv``                     per participant: ``eid, artefact,
                                                        artefact_station, zip, bmff_*`` (simulated
                                                        images only; absent for a cohort's own)
``rescans``    ``truth/rescans.tsv``                    the participants scanned again (instance-3
                                                        zips ``{eid}_20201_3_0.zip`` beside the
                                                        others) and their repositioning
                                                        (:mod:`bma_genetics.simulate.rescan`)
=============  =======================================  ===============================================
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from bma_genetics._params import Param, check_params
from bma_genetics.errors import BmaGeneticsError
from bma_genetics.io.dixon import eid_from_name, instance_from_name

log = logging.getLogger(__name__)

NAME = "images"
REQUIRES: list[str] = []
#: Aggregate tables shown in the run report: none (``truth/images.tsv`` has a row per person).
REPORT_TABLES: list[str] = []
WITHDRAWALS = True  # removes the run's withdrawn participants (RunContext.withdrawn)
#: Cohort files read (their contents are part of the completion key; see pipeline/runner.py).
INPUTS = ["cohort.json", "truth/bmff_true.parquet", "images/20201/*.zip", "truth/images.tsv"]

#: Version of what the simulated images hold (2: repeat scans, lumbosacral spine variants); part
#: of the key, so images simulated by an older simulator are made again.
IMAGES_LAYOUT = 2

PARAMS = [
    Param("n_images", int, 100, "participants imaged when the cohort has no images/ yet", range=(1, None)),
    Param("seed", int, None, "image simulation seed (default: the run's seed)"),
    Param("artefact_fraction", float, 0.1, "share of simulated participants with an injected artefact",
          range=(0, 1)),
    Param("n_rescans", int, None, "simulated participants scanned again at the repeat imaging visit (UK Biobank "
          "instance 3, {eid}_20201_3_0.zip; for test-retest ICC in the phenotypes stage), among those without "
          "an artefact; default by preset: demo 50, large 100, else a tenth of n_images", range=(0, None)),
]


def _has_zips(folder: Path) -> bool:
    return folder.is_dir() and any(folder.glob("*.zip"))


def _drop_withdrawn(folder: Path, withdrawn: frozenset[str], *, truth_name: str = "images.tsv",
                    eid_of=eid_from_name) -> None:
    """Delete the images (and truth rows) of people who withdrew since they were simulated
    (``truth_name``: the truth table in ``folder/truth``; ``eid_of``: a file name's eid)."""
    import pandas as pd

    from bma_genetics._atomic import write_table

    gone = [z for z in (folder / "images").rglob("*") if z.is_file() and eid_of(z) in withdrawn]
    for z in gone:
        z.unlink()
    truth = folder / "truth" / truth_name
    if gone and truth.exists():
        t = pd.read_csv(truth, sep="\t", dtype={"eid": str}, keep_default_na=False)
        write_table(t[~t["eid"].isin(withdrawn)], truth)
    if gone:
        log.info("images: removed %d file(s) of withdrawn participants", len(gone))


def _simulation_key(cohort: Path, params: dict[str, Any], seed: int) -> str:
    """What the simulated images depend on: the parameters, the seed and the cohort's truth
    (not the withdrawn set: people who withdraw later are dropped from the images made)."""
    import hashlib
    import json

    from bma_genetics._atomic import fingerprint

    parts = {"n_images": params["n_images"], "artefact_fraction": params["artefact_fraction"], "seed": seed,
             "n_rescans": params["n_rescans"], "layout": IMAGES_LAYOUT,
             "inputs": {Path(k).name: v for k, v in
                        fingerprint([cohort / "truth" / "bmff_true.parquet", cohort / "cohort.json"]).items()}}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def _simulate(d: Path, cohort: Path, params: dict[str, Any], seed: int, key: str, withdrawn: frozenset[str]) -> None:
    """Simulate every image into ``d/.partial``, then commit: move ``images/`` and ``truth/``
    into place and write the key to ``d/.images.key`` last, so a run killed while simulating
    never leaves a partial image set that a rerun would take for a finished one."""
    import os
    import shutil

    from bma_genetics._atomic import write_text
    from bma_genetics.simulate.dixon import simulate_dixon_images

    marker = d / ".images.key"
    marker.unlink(missing_ok=True)
    tmp = d / ".partial"
    shutil.rmtree(tmp, ignore_errors=True)
    simulate_dixon_images(cohort, n=params["n_images"], seed=seed, artefact_fraction=params["artefact_fraction"],
                          out=tmp, nifti=False, progress=False, withdrawals=withdrawn, n_rescans=params["n_rescans"])
    for sub in ("images", "truth"):
        if (d / sub).exists():
            shutil.rmtree(d / sub)
        os.replace(tmp / sub, d / sub)
    shutil.rmtree(tmp, ignore_errors=True)
    write_text(marker, key)


def run(ctx: Any, params: dict[str, Any]) -> dict[str, Any]:
    """Point at the cohort's Dixon zips, or simulate them; returns the summary with ``files``."""
    params = check_params(NAME, params, PARAMS)
    if ctx.cohort is None:
        raise BmaGeneticsError("images stage: needs a cohort directory (--cohort or 'cohort:' in the config)")
    cohort = Path(ctx.cohort)
    withdrawn = ctx.withdrawn()
    if _has_zips(cohort / "images" / "20201"):
        zips = cohort / "images" / "20201"
        log.info("images: using the cohort's own images in %s", zips)
        truth = cohort / "truth" / "images.tsv"
        files = {"images": str(zips), **({"truth": str(truth)} if truth.exists() else {})}
        # the cohort's own files are left as they are: the phenotypes stage never reads a
        # withdrawn person's image
        n = sum(1 for z in zips.glob("*.zip") if eid_from_name(z) not in withdrawn and instance_from_name(z) in (None, 2))
        return {"simulated": False, "n_images": n, "files": files, "tables": []}
    d = ctx.stage_dir(NAME)
    seed = int(ctx.seed if params["seed"] is None else params["seed"])
    key = _simulation_key(cohort, params, seed)
    marker = d / ".images.key"
    done = marker.exists() and marker.read_text().strip() == key and _has_zips(d / "images" / "20201") \
        and (d / "truth" / "images.tsv").exists()
    if done and getattr(ctx, "resume", True):
        _drop_withdrawn(d, withdrawn)
    else:
        _simulate(d, cohort, params, seed, key, withdrawn)
    n = len(list((d / "images" / "20201").glob("*_20201_2_*.zip")))
    n_re = len(list((d / "images" / "20201").glob("*_20201_3_*.zip")))
    files = {"images": "images/20201", "truth": "truth/images.tsv"}
    if (d / "truth" / "rescans.tsv").exists():
        files["rescans"] = "truth/rescans.tsv"
    return {
        "simulated": True,
        "n_images": n,
        "n_rescans": n_re,
        "files": files,
        "tables": ["truth/images.tsv"],
    }

"""Pipeline stage ``images``: the Dixon MRI of the cohort's imaged subset, a product of simulate/.

Parameters: :data:`PARAMS` below (the ``images:`` mapping of a study config), tabulated in
``docs/parameters.md``.

A real (or pre-made) cohort brings its images in ``<cohort>/images/20201/*.zip``: the stage
then simulates nothing and points at them. Otherwise it simulates ``n_images`` participants'
images with :func:`bma_genetics.simulate.dixon.simulate_dixon_images` into its own folder.
Withdrawn participants (:meth:`RunContext.withdrawn`) are never imaged; images simulated before
someone withdrew are deleted on the next run.

Products (the layout the ``phenotypes`` stage reads, by name through ``ctx.product("images", ...)``):

=============  =======================================  ===============================================
product        path (in ``<run>/images/``)              contents
=============  =======================================  ===============================================
``images``     ``images/20201/``                        one UK Biobank field-20201 zip per participant,
                                                        ``{eid}_20201_2_0.zip`` (or the cohort's folder)
``truth``      ``truth/images.tsv``                     per participant: ``eid, artefact,
                                                        artefact_station, zip, bmff_*`` (simulated
                                                        images only; absent for a cohort's own)
=============  =======================================  ===============================================
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from bma_genetics._params import Param, check_params
from bma_genetics.errors import BmaGeneticsError
from bma_genetics.io.dixon import eid_from_name

log = logging.getLogger(__name__)

NAME = "images"
REQUIRES: list[str] = []
#: Aggregate tables shown in the run report: none (``truth/images.tsv`` has a row per person).
REPORT_TABLES: list[str] = []
WITHDRAWALS = True  # removes the run's withdrawn participants (RunContext.withdrawn)

PARAMS = [
    Param("n_images", int, 100, "participants imaged when the cohort has no images/ yet", range=(1, None)),
    Param("seed", int, None, "image simulation seed (default: the run's seed)"),
    Param("artefact_fraction", float, 0.1, "share of simulated participants with an injected artefact",
          range=(0, 1)),
]


def _has_zips(folder: Path) -> bool:
    return folder.is_dir() and any(folder.glob("*.zip"))


def _drop_withdrawn(folder: Path, withdrawn: frozenset[str]) -> None:
    """Delete the images (and truth rows) of people who withdrew since they were simulated."""
    import pandas as pd

    from bma_genetics._atomic import write_table

    gone = [z for z in (folder / "images").rglob("*") if z.is_file() and eid_from_name(z) in withdrawn]
    for z in gone:
        z.unlink()
    truth = folder / "truth" / "images.tsv"
    if gone and truth.exists():
        t = pd.read_csv(truth, sep="\t", dtype={"eid": str}, keep_default_na=False)
        write_table(t[~t["eid"].isin(withdrawn)], truth)
    if gone:
        log.info("images: removed %d file(s) of withdrawn participants", len(gone))


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
        n = sum(1 for z in zips.glob("*.zip") if eid_from_name(z) not in withdrawn)
        return {"simulated": False, "n_images": n, "files": files, "tables": []}
    from bma_genetics.simulate.dixon import simulate_dixon_images

    d = ctx.stage_dir(NAME)
    if not _has_zips(d / "images" / "20201"):
        seed = int(ctx.seed if params["seed"] is None else params["seed"])
        simulate_dixon_images(cohort, n=params["n_images"], seed=seed, artefact_fraction=params["artefact_fraction"],
                              out=d, nifti=False, progress=False, withdrawals=withdrawn)
    else:
        _drop_withdrawn(d, withdrawn)
    n = len(list((d / "images" / "20201").glob("*.zip")))
    return {
        "simulated": True,
        "n_images": n,
        "files": {"images": "images/20201", "truth": "truth/images.tsv"},
        "tables": ["truth/images.tsv"],
    }

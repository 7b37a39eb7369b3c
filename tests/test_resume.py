"""Resume that is right (issue 14): a changed input or parameter reruns the stages it affects
and changes their outputs only; a run killed (``kill -9``) at any point resumes into the same
study an uninterrupted run gives."""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import pandas as pd
import pytest

from bma_genetics.pipeline import run_study

STARTED = re.compile(r"stage (\w+): starting")


def _file_hashes(folder: Path) -> dict[str, str]:
    """SHA-256 of every file a stage wrote (not its summary, which holds timings, nor PDFs,
    which hold a creation date)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != "summary.json"
            and p.suffix != ".pdf" and not p.name.startswith(".")}


def _link_cohort(src: Path, dst: Path, copies: list[str]) -> Path:
    """``dst``: symbolic links to the files of cohort ``src``, except ``copies`` (copied, so a
    test can change them)."""
    for f in sorted(p for p in src.rglob("*") if p.is_file()):
        rel = f.relative_to(src)
        target = dst / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if str(rel) in copies:
            target.write_bytes(f.read_bytes())
        else:
            target.symlink_to(f)
    return dst


AFFECTED_STUDY = {
    "name": "affected", "seed": 1,
    "stages": {"cohort": {}, "participants": {}, "images": {"n_images": 3, "artefact_fraction": 0.0},
               "phenotypes": {"erosion": 1}, "phewas": {"min_cases": 10, "min_phecode_count": 1}},
}


@pytest.mark.slow
def test_a_changed_input_or_parameter_changes_the_affected_outputs_only(tiny_cohort, tmp_path):
    """Between two runs: a stage parameter (the phenotypes stage's erosion), the participant
    table (it grows by 40 people) and the withdrawals (one imaged person more). Each reruns
    the stages that read it (run.log) and changes their outputs; every other stage's files
    stay byte for byte. The issue: the changed erosion was never applied, not even with
    --no-resume; PheWAS kept its old sample after the participant table grew."""
    export = "participants/ukb_showcase.csv"
    cohort = _link_cohort(tiny_cohort, tmp_path / "cohort", [export, "participants/withdrawals.csv"])
    full = (tiny_cohort / export).read_text().splitlines(keepends=True)
    (cohort / export).write_text("".join(full[:-40]))  # 40 people not exported yet
    config = json.loads(json.dumps(AFFECTED_STUDY))
    run_dir = tmp_path / "run"
    stages = list(config["stages"])

    def go(**kw) -> tuple[set[str], dict[str, dict[str, str]]]:
        log = run_dir / "run.log"
        size = log.stat().st_size if log.exists() else 0
        before = {s: _file_hashes(run_dir / s) for s in stages} if log.exists() else {}
        run_study(config, cohort=cohort, out=run_dir, **kw)
        ran = set(STARTED.findall(log.read_text()[size:]))
        for s in set(stages) - ran:  # a stage that did not run wrote nothing
            assert _file_hashes(run_dir / s) == before[s], s
        return ran, before

    def bmff() -> pd.DataFrame:
        return pd.read_parquet(run_dir / "phenotypes" / "bmff.parquet").set_index("eid")

    def phewas_n() -> int:
        res = pd.read_csv(run_dir / "phewas" / "phewas_results.tsv", sep="\t")
        return int((res["n_cases"] + res["n_controls"]).max())

    ran, _ = go()
    assert ran == set(stages)
    eroded_1, n_before = bmff(), phewas_n()

    # a parameter: the phenotypes stage (and PheWAS, which may read it) rerun; erosion applied
    config["stages"]["phenotypes"]["erosion"] = 2
    ran, before = go()
    assert ran == {"phenotypes", "phewas"}
    assert json.loads((run_dir / "phenotypes" / "bmff.provenance.json").read_text())["erosion_voxels"] == 2
    eroded_2 = bmff()
    assert (eroded_2["bmff_l1_n_voxels"] < eroded_1["bmff_l1_n_voxels"]).all()
    assert _file_hashes(run_dir / "phewas") == before["phewas"]  # PheWAS reads the cohort's BMFF here
    # --no-resume recomputes everything, and gives the same
    ran, _ = go(resume=False)
    assert ran == set(stages)
    pd.testing.assert_frame_equal(bmff().drop(columns="source"), eroded_2.drop(columns="source"))

    # the participant table grows: participants, cohort and PheWAS rerun; the images do not
    (cohort / export).write_text("".join(full))
    ran, before = go()
    assert ran == {"participants", "cohort", "phewas"}
    assert phewas_n() > n_before
    assert _file_hashes(run_dir / "participants") != before["participants"]

    # one imaged person withdraws: they leave every table; nobody else's values change
    gone = sorted(eroded_2.index)[0]
    with open(cohort / "participants" / "withdrawals.csv", "a") as fh:
        fh.write(f"{gone}\n")
    ran, before = go()
    assert ran == set(stages)
    after = bmff()
    assert gone not in after.index and len(after) == len(eroded_2) - 1
    pd.testing.assert_frame_equal(after.drop(columns="source"), eroded_2.drop(index=gone, columns="source"))
    kept = {k: v for k, v in before["images"].items() if gone not in k and "truth" not in k}
    assert {k: v for k, v in _file_hashes(run_dir / "images").items() if "truth" not in k} == kept
    assert gone not in set(pd.read_parquet(run_dir / "participants" / "participants.parquet")["eid"])


# ------------------------------------------------------------------------------------ kill -9
def _kill_study() -> dict:
    """The shared tiny run's study (:data:`conftest.TINY_STUDY`: same GWAS, PheWAS and MR
    sections, so their outputs must equal the shared run's) with simulated images first and
    gene analysis after the GWAS."""
    from conftest import TINY_STUDY

    study = json.loads(json.dumps(TINY_STUDY))
    stages = study["stages"]
    study["name"] = "killed"
    study["stages"] = {"images": {"n_images": 4, "artefact_fraction": 0.25}, "participants": stages["participants"],
                       "gwas": stages["gwas"], "enrichment": {"gene_sets": None},
                       "phewas": stages["phewas"], "mr": stages["mr"]}
    return study


def _run_killed_at(point: str | None, study: dict, cohort: Path, out: Path) -> int:
    """Run the study in a subprocess that SIGKILLs itself at ``point`` (the test hook
    :func:`bma_genetics._atomic.kill_point`); its return code (-9 when killed)."""
    import subprocess
    import sys

    import bma_genetics

    env = {**os.environ, "PYTHONPATH": str(Path(bma_genetics.__file__).parents[1]), "MPLBACKEND": "Agg"}
    env.pop("BMA_GENETICS_TEST_KILL_AT", None)
    if point is not None:
        env["BMA_GENETICS_TEST_KILL_AT"] = point
    code = ("import json, sys\nfrom bma_genetics.pipeline import run_study\n"
            "run_study(json.loads(sys.argv[1]), cohort=sys.argv[2], out=sys.argv[3])\n")
    res = subprocess.run([sys.executable, "-c", code, json.dumps(study), str(cohort), str(out)], env=env,
                         capture_output=True, text=True, timeout=1200)
    assert res.returncode in (0, -9), res.stderr[-3000:]
    return res.returncode


def _tables(folder: Path) -> dict[str, object]:
    """Every table (TSV, gzip TSV, Parquet) and JSON product under a stage folder, read, by
    relative path (Hail's native files, chunks, summaries and figures left out)."""
    out: dict[str, object] = {}
    for p in sorted(folder.rglob("*")):
        rel = str(p.relative_to(folder))
        if not p.is_file() or rel.startswith(("hail", "chunks", "figures", ".", "tmp")) or p.name == "summary.json":
            continue
        if p.name.endswith((".tsv", ".tsv.gz")):
            out[rel] = pd.read_csv(p, sep="\t")
        elif p.suffix == ".parquet":
            out[rel] = pd.read_parquet(p)
        elif p.suffix == ".json":  # paths name the run directory; object reprs an address
            text = p.read_text().replace(str(folder.parent), "<run>")
            out[rel] = json.loads(re.sub(r" at 0x[0-9a-f]+", "", text))
    return out


def _close(a: object, b: object) -> bool:
    """JSON values equal, numbers to 1e-10 relative (the last printed digit may differ)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, (int, float)) and not isinstance(b, bool):
        return a == pytest.approx(b, rel=1e-10, nan_ok=True)
    return a == b


def _assert_same_tables(got: Path, want: Path) -> None:
    a, b = _tables(got), _tables(want)
    assert sorted(a) == sorted(b) and a, (sorted(a), sorted(b))
    for name, table in b.items():
        if isinstance(table, pd.DataFrame):
            pd.testing.assert_frame_equal(a[name], table, check_exact=False, rtol=1e-10, obj=name)
        else:
            assert _close(a[name], table), name


@pytest.mark.slow
def test_kill_9_during_images_association_and_enrichment_then_rerun_gives_the_uninterrupted_study(
        tiny_cohort, tiny_run, tmp_path):
    """``kill -9`` while the images are simulated, during the GWAS association pass and during
    gene analysis; each rerun resumes and the final run directory holds the same images, GWAS,
    gene, PheWAS and MR results as uninterrupted runs (the shared tiny run for the GWAS, PheWAS
    and MR; the images and gene analysis made here without interruption). The issue: killed
    while images were written, the rerun measured 4 of 12 images and every result changed."""
    from bma_genetics.enrichment.stage import run as run_enrichment
    from bma_genetics.pipeline.context import RunContext
    from bma_genetics.simulate.stage import run as run_images

    study = _kill_study()
    run_dir = tmp_path / "run"

    # 1. killed after the second of four images: no image set is committed
    assert _run_killed_at("images:2", study, tiny_cohort, run_dir) == -9
    images = run_dir / "images"
    assert (images / ".running").exists() and not (images / ".done").exists()
    assert not (images / "images").exists() and not (images / ".images.key").exists()

    # 2. killed during the association pass: the images are those of an uninterrupted run
    assert _run_killed_at("gwas:association", study, tiny_cohort, run_dir) == -9
    ref = RunContext(run_dir=tmp_path / "ref", cohort=tiny_cohort, config=study, seed=study["seed"])
    run_images(ref, study["stages"]["images"])
    assert _file_hashes(images) == _file_hashes(ref.run_dir / "images")
    assert len(list((images / "images" / "20201").glob("*.zip"))) == 4
    assert (run_dir / "gwas" / ".running").exists() and not (run_dir / "gwas" / ".done").exists()

    # 3. killed after the first trait's gene analysis: the GWAS equals the shared run's, and
    # no gene table is in place
    assert _run_killed_at("enrichment:1", study, tiny_cohort, run_dir) == -9
    _assert_same_tables(run_dir / "gwas", tiny_run / "gwas")
    assert not list((run_dir / "enrichment").glob("*/genes.tsv"))

    # 4. the rerun finishes the study
    assert _run_killed_at(None, study, tiny_cohort, run_dir) == 0
    for stage in ("phewas", "mr"):
        _assert_same_tables(run_dir / stage, tiny_run / stage)
    (ref.run_dir / "gwas").symlink_to(tiny_run / "gwas")
    ref.stage_dir("enrichment")
    run_enrichment(ref, study["stages"]["enrichment"])
    _assert_same_tables(run_dir / "enrichment", ref.run_dir / "enrichment")
    assert not any(p.name == ".running" for p in run_dir.rglob(".running"))
    log = (run_dir / "run.log").read_text()
    assert log.count("resuming an interrupted attempt") == 3

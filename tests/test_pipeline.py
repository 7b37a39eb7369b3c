"""The study runner: run directory layout, resume, report, config errors."""

from __future__ import annotations

import json

import pytest
import yaml

from bma_genetics.errors import InputError
from bma_genetics.pipeline import load_config, run_study


def test_smoke_study_on_tiny_cohort(tiny_cohort, tmp_path):
    run_dir = run_study("analyses/smoke.yaml", cohort=tiny_cohort, out=tmp_path / "run")
    assert (run_dir / "config.yaml").exists() and (run_dir / "run.log").exists()
    summary = json.loads((run_dir / "cohort" / "summary.json").read_text())
    assert summary["n_participants"] > 500
    assert (run_dir / "cohort" / "figures" / "bmff_by_age_sex.png").stat().st_size > 10_000
    html = (run_dir / "report.html").read_text()
    assert "cohort_summary.tsv" in html and "bmff_by_age_sex" in html
    # a rerun with the same parameters skips the stage
    mtime = (run_dir / "cohort" / "summary.json").stat().st_mtime_ns
    run_study("analyses/smoke.yaml", cohort=tiny_cohort, out=run_dir)
    assert (run_dir / "cohort" / "summary.json").stat().st_mtime_ns == mtime


def test_config_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"stages": {"nonsense": {}}}))
    with pytest.raises(InputError, match="unknown stage"):
        load_config(bad)
    bad.write_text("stages: [unclosed")
    with pytest.raises(InputError, match="not valid YAML"):
        load_config(bad)
    with pytest.raises(InputError, match="does not exist"):
        run_study("analyses/smoke.yaml", cohort=tmp_path / "nope", out=tmp_path / "r")


def test_relative_run_dir_recorded_absolute(tiny_cohort, tmp_path, monkeypatch):
    """``make demo`` runs into a relative ``runs/bmff-demo``: the run directory (and the cohort)
    become absolute so that every stage summary's paths resolve from any working directory."""
    from pathlib import Path

    config = str(Path("analyses/smoke.yaml").absolute())
    monkeypatch.chdir(tmp_path)
    run_dir = run_study(config, cohort=tiny_cohort, out="rel/run")
    assert run_dir.is_absolute() and run_dir == (tmp_path / "rel" / "run")
    assert (tmp_path / "rel" / "run" / "cohort" / "summary.json").exists()

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


@pytest.fixture
def fake_stages(monkeypatch):
    """Stages ``up`` and ``down`` (down REQUIRES up) registered for one test."""
    import _fake_stages

    from bma_genetics.pipeline import stages

    monkeypatch.setitem(stages.STAGES, "up", "_fake_stages:Up.run")
    monkeypatch.setitem(stages.STAGES, "down", "_fake_stages:Down.run")
    _fake_stages.CALLS.clear()
    _fake_stages.CONTINUING.clear()
    _fake_stages.CRASH[0] = False
    yield _fake_stages
    _fake_stages.CRASH[0] = False


def test_required_stage_added_and_only_reruns_stale_upstream(fake_stages, tmp_path):
    run_dir = tmp_path / "run"
    run_study({"name": "t", "stages": {"down": {"factor": 3}}}, out=run_dir)
    assert fake_stages.CALLS == ["up", "down"]
    assert json.loads((run_dir / "down" / "summary.json").read_text())["result"] == 3
    assert list(yaml.safe_load((run_dir / "config.yaml").read_text())["stages"]) == ["up", "down"]
    # spelling out a default does not rerun anything
    run_study({"name": "t", "stages": {"up": {"value": 1}, "down": {"factor": 3}}}, out=run_dir)
    assert fake_stages.CALLS == ["up", "down"]
    # --only down: the upstream stage is done with the same parameters, so only down runs
    run_study({"name": "t", "stages": {"down": {"factor": 3}}}, out=run_dir, only=["down"], resume=False)
    assert fake_stages.CALLS == ["up", "down", "down"]
    # --only down after up's parameters changed: up is stale and runs first
    run_study({"name": "t", "stages": {"up": {"value": 5}, "down": {"factor": 3}}}, out=run_dir, only=["down"])
    assert fake_stages.CALLS == ["up", "down", "down", "up", "down"]
    assert json.loads((run_dir / "down" / "summary.json").read_text())["result"] == 15
    with pytest.raises(InputError, match="up.value: -1 is not allowed"):
        run_study({"name": "t", "stages": {"up": {"value": -1}, "down": {}}}, out=run_dir)


def test_completion_key_covers_inputs_upstream_and_interrupted_stages(fake_stages, tmp_path):
    """Resume keys: a cohort file's new contents rerun the stage that reads it and those
    downstream (the same contents rewritten rerun nothing); a parameter reruns its stage only;
    a stage stopped half-way is never taken for a finished one, its partial products are
    offered back (``ctx.continuing``) only to an attempt with the same key; --no-resume redoes
    everything."""
    cohort = tmp_path / "cohort"
    cohort.mkdir()
    (cohort / "up_input.txt").write_text("10")
    config = {"name": "t", "stages": {"up": {}, "down": {"factor": 3}}}
    run_dir = tmp_path / "run"
    calls = fake_stages.CALLS

    def go(**kw):
        log = run_dir / "run.log"
        size = log.stat().st_size if log.exists() else 0
        run_study(config, cohort=cohort, out=run_dir, **kw)
        return log.read_text()[size:]

    def result():
        return json.loads((run_dir / "down" / "summary.json").read_text())["result"]

    go()
    assert calls == ["up", "down"] and result() == 33
    (cohort / "up_input.txt").write_text("10")  # same contents, new modification time
    assert "skipped" in go() and calls == ["up", "down"]
    (cohort / "up_input.txt").write_text("20")
    log = go()
    assert calls[2:] == ["up", "down"] and result() == 63
    assert "stage up: starting (changed: inputs up_input.txt)" in log
    assert "stage down: starting (changed: upstream stage(s) up)" in log
    config["stages"]["down"]["factor"] = 4
    assert "stage down: starting (changed: parameters)" in go()
    assert calls[4:] == ["down"] and result() == 84

    fake_stages.CRASH[0] = True  # up stops after writing its table, as a killed run would
    config["stages"]["up"]["value"] = 2
    with pytest.raises(RuntimeError, match="on purpose"):
        go()
    up = run_dir / "up"
    assert (up / ".running").exists() and not (up / ".done").exists() and not (up / "summary.json").exists()
    fake_stages.CRASH[0] = False
    log = go()
    assert fake_stages.CONTINUING[-1] is True and "stage up: starting (resuming an interrupted attempt)" in log
    assert result() == 22 * 4 and not (up / ".running").exists() and (up / ".done").exists()
    # an interrupted attempt with other parameters is not continued by this one
    fake_stages.CRASH[0] = True
    config["stages"]["up"]["value"] = 3
    with pytest.raises(RuntimeError):
        go()
    fake_stages.CRASH[0] = False
    config["stages"]["up"]["value"] = 2
    go()
    assert fake_stages.CONTINUING[-1] is False and result() == 22 * 4
    go(resume=False)
    assert calls[-2:] == ["up", "down"] and fake_stages.CONTINUING[-1] is False

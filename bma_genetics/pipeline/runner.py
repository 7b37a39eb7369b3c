"""Run a study: config -> stages in order -> run directory + HTML report.

Resuming: a stage whose ``summary.json`` exists and whose parameters (and cohort) are unchanged
is skipped on a rerun; delete its folder or pass ``resume=False`` to redo it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path
from typing import Any

import yaml

from bma_genetics._atomic import write_text
from bma_genetics.errors import InputError
from bma_genetics.pipeline.context import RunContext
from bma_genetics.pipeline.stages import STAGES, resolve

log = logging.getLogger(__name__)


def load_config(path: str | Path) -> dict[str, Any]:
    """Read and check a study YAML (``analyses/*.yaml``)."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"run/config: no such file {path}")
    try:
        config = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise InputError(f"run/config: {path} is not valid YAML: {exc}") from None
    if not isinstance(config, dict):
        raise InputError(f"run/config: {path} must be a mapping at the top level")
    stages = config.get("stages")
    if not isinstance(stages, dict) or not stages:
        raise InputError(f"run/config: {path} needs a non-empty 'stages:' mapping (stage: params)")
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        raise InputError(f"run/config: {path} names unknown stage(s) {unknown}; known: {sorted(STAGES)}")
    config.setdefault("name", path.stem)
    config.setdefault("seed", 1)
    config["_path"] = str(path.resolve())
    return config


def _params_key(params: dict[str, Any], cohort: Path | None, seed: int) -> str:
    blob = json.dumps({"params": params, "cohort": str(cohort), "seed": seed}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def run_study(
    config: str | Path | dict[str, Any],
    *,
    cohort: str | Path | None = None,
    out: str | Path | None = None,
    resume: bool = True,
    only: list[str] | None = None,
) -> Path:
    """Run every stage of a study config; return the run directory.

    Parameters
    ----------
    config : path or dict
        The study configuration (see ``analyses/demo.yaml``).
    cohort : path, optional
        Cohort directory, overriding ``config['cohort']``.
    out : path, optional
        Run directory, overriding ``config['out']`` (default ``runs/<name>``).
    resume : bool, default=True
        Skip stages already completed with the same parameters.
    only : list of str, optional
        Run only these stages (their inputs must exist from an earlier run).
    """
    if not isinstance(config, dict):
        config = load_config(config)
    cohort_path = Path(cohort or config.get("cohort") or "") if (cohort or config.get("cohort")) else None
    if cohort_path is not None and not cohort_path.exists():
        raise InputError(
            f"run/cohort: cohort directory {cohort_path} does not exist; "
            f"make one with `bma-genetics simulate --preset demo --out {cohort_path}`"
        )
    # absolute from here on: stage summaries record paths that later stages (and a rerun from
    # another working directory) must resolve the same way
    run_dir = Path(out or config.get("out") or Path("runs") / config["name"]).absolute()
    if cohort_path is not None:
        cohort_path = cohort_path.absolute()
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "logs").mkdir(exist_ok=True)
    handler = logging.FileHandler(run_dir / "run.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    pkg_log = logging.getLogger("bma_genetics")
    pkg_log.addHandler(handler)
    if pkg_log.level == logging.NOTSET:
        pkg_log.setLevel(logging.INFO)
    try:
        clean = {k: v for k, v in config.items() if not k.startswith("_")}
        write_text(run_dir / "config.yaml", yaml.safe_dump(clean, sort_keys=False))
        ctx = RunContext(run_dir=run_dir, cohort=cohort_path, config=config, seed=int(config["seed"]))
        timings: dict[str, float] = {}
        for name, params in config["stages"].items():
            if only and name not in only:
                continue
            params = params or {}
            fn = resolve(name)
            if fn is None:
                log.warning("stage %s is not available in this version; skipped", name)
                continue
            key = _params_key(params, cohort_path, ctx.seed)
            done = run_dir / name / ".done"
            if resume and done.exists() and done.read_text().strip() == key and ctx.has_stage(name):
                log.info("stage %s: already done with these parameters; skipped", name)
                continue
            log.info("stage %s: starting", name)
            t0 = time.perf_counter()
            summary = fn(ctx, params) or {}
            timings[name] = time.perf_counter() - t0
            summary.setdefault("stage", name)
            summary["seconds"] = round(timings[name], 2)
            write_text(ctx.stage_dir(name) / "summary.json", json.dumps(summary, indent=2, default=str))
            write_text(done, key)
            log.info("stage %s: done in %.1f s", name, timings[name])
        from bma_genetics.pipeline.report import write_report

        report = write_report(run_dir, config)
        log.info("report: %s", report)
    finally:
        pkg_log.removeHandler(handler)
        handler.close()
    return run_dir

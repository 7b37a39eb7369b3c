"""Run a study: config -> stages in order -> run directory + HTML report.

The whole config is checked before any work (:func:`load_config`): top-level keys, stage names
and every stage's options against its declaration (``PARAMS``), so that a typo fails in a
second, naming the closest valid key, not after hours of genotype QC.

Resuming: each stage has a completion key (:func:`stage_key`) made of

- its parameters after defaults are filled in, the cohort directory and the run's seed;
- the contents of the cohort files it reads (:func:`stage_inputs`: the files named by its
  path-valued options, e.g. the participants stage's ``export``, and the glob patterns of its
  ``INPUTS``; fingerprinted by :func:`bma_genetics._atomic.fingerprint`: SHA-256 of files up to
  256 MiB, size and modification time of larger ones and of globs matching more than
  :data:`MANY_FILES` files, such as a folder of images);
- for stages that handle participants (``WITHDRAWALS = True``), the withdrawn set (not the
  withdrawal file's bytes: a reformatted list of the same people changes nothing);
- the completion keys of the upstream stages it reads (``REQUIRES``, and ``AFTER`` stages the
  study has), so a change anywhere upstream reaches every stage downstream of it, and no other.

Its sample set follows from these (participant table, withdrawals, upstream products). A stage
whose ``.done`` holds the current key (and whose ``summary.json`` exists) is skipped, unless a
stage it reads ran again in the same run. A stage that runs first loses its ``.done`` and
``summary.json`` and gets a ``.running`` file with the key, replaced by ``.done`` only when it
has finished: a killed stage is never taken for a finished one, and the next run redoes it
(``ctx.continuing`` tells the stage that its partial products, e.g. GWAS chunks or measured
images, come from an attempt with the same key). ``resume=False`` (``--no-resume``) runs every
stage from scratch (``ctx.resume`` is False: no partial product is reused).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from bma_genetics._atomic import fingerprint, local_path, write_text
from bma_genetics._params import Param, check_params, unknown_key_message
from bma_genetics.errors import InputError
from bma_genetics.pipeline.context import RunContext
from bma_genetics.pipeline.stages import STAGES, StageSpec, spec

log = logging.getLogger(__name__)


#: Top-level keys of a study config (``stages:`` is checked stage by stage against each
#: stage's ``PARAMS``).
def _local_location(value: Any) -> str | None:
    """A ``check``: a run or cohort location must be a local path or ``file://`` URI."""
    try:
        local_path(value, where="location")
    except InputError:
        return ("a local path or file:///path (the driver writes and reads it with ordinary file functions; on a "
                "cluster, a file system the driver mounts; Hail's temporary files may be a URI: hail.tmp_dir)")
    return None


def _hail_tmp(value: Any) -> str | None:
    """A ``check``: ``hail.tmp_dir`` is a path or a URI Hail's file system reads."""
    from bma_genetics._hail import HAIL_URI_SCHEMES, hail_tmp_location

    try:
        hail_tmp_location(value)
    except InputError:
        return f"a path or a {', '.join(s + '://' for s in HAIL_URI_SCHEMES)} URI"
    return None


def _spark_master(value: Any) -> str | None:
    """A ``check``: ``hail.master`` has the form of a Spark master URL."""
    from bma_genetics._hail import check_master

    try:
        check_master(value, reach=False)
    except InputError:
        return "local[N], local[*], spark://HOST:PORT, yarn, k8s://... or null"
    return None


#: Top-level keys of a study config (``stages:`` is checked stage by stage against each
#: stage's ``PARAMS``).
CONFIG_PARAMS = [
    Param("name", str, None, "study name (default: the config file's stem); the run directory is runs/<name>"),
    Param("cohort", Path, None, "cohort directory (relative to the working directory, or file:///...); --cohort "
          "overrides", check=_local_location),
    Param("out", Path, None, "run directory (default runs/<name>; a local path or file:///...; on a cluster, a "
          "file system the driver mounts); --out overrides", check=_local_location),
    Param("seed", int, 1, "seed of every random step of the run"),
    Param("hail", dict, help="how Hail (Spark) starts: docs/cluster/", section=[
        Param("master", str, "local[*]", "Spark master: local[N], spark://HOST:PORT (checked to answer before any "
              "stage runs), yarn; null: the cluster's own (Dataproc). Under spark-submit, its --master is used",
              nullable=True, check=_spark_master),
        Param("attach", bool, False, "attach to the SparkContext already running in this Python process "
              "(hl.init(sc=sc): the UK Biobank research platform's Spark JupyterLab); master is then not used"),
        Param("driver_memory", str, None, "Spark driver memory, e.g. 8g (default: a quarter of RAM, 1-8 GiB)"),
        Param("tmp_dir", str, None, "Hail temporary directory (default <run>/tmp/hail): a path or a URI every node "
              "reads on a cluster: hdfs://, gs://, dnax://, file:// on a shared file system", check=_hail_tmp),
        Param("work_dir", str, None, "where Hail's executors read and write the run's Hail files (BGEN indexes, the "
              "GWAS checkpoints; default inside the run directory): on a multi-node cluster whose nodes do not share "
              "the run directory, a URI every node reads (hdfs://, gs://, dnax://)", check=_hail_tmp),
    ]),
    Param("report", dict, help="the run report (report.html: aggregate results only)", section=[
        Param("suppress_below", int, 5, "counts of people from 1 to this minus 1 are shown as '<N' in the report "
              "(1: none suppressed)", range=(1, None)),
    ]),
    Param("stages", dict, None, "stage name -> its options (one section per stage, see below), in run order; "
          "stages they read are added when absent", allowed="a non-empty mapping (required)"),
]


def plan_stages(stages: dict[str, Any]) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Check every stage section and order the stages, adding the upstream stages they read.

    Parameters
    ----------
    stages : dict
        The config's ``stages:`` mapping (name -> options or null).

    Returns
    -------
    (dict, list of str)
        Every stage to run, in run order, with its checked options (defaults filled), and the
        names of the stages added because a stage requires them.

    Raises
    ------
    InputError
        An unknown stage name (naming the closest one) or a bad option (see
        :func:`bma_genetics._params.check_params`).
    """
    for name in stages:
        if name not in STAGES:
            raise InputError(unknown_key_message("config.stages", name, list(STAGES), what="stage"))
    specs = {name: spec(name) for name in stages}
    added: list[str] = []
    queue = list(stages)
    while queue:
        for req in specs[queue.pop(0)].requires:
            if req not in specs:
                specs[req] = spec(req)
                added.append(req)
                queue.append(req)
    order: list[str] = []
    visiting: set[str] = set()

    def place(name: str) -> None:
        if name in order:
            return
        if name in visiting:
            raise InputError(f"run/config: stages {sorted(visiting)} require each other")
        visiting.add(name)
        for up in [*specs[name].requires, *(a for a in specs[name].after if a in specs)]:
            place(up)
        visiting.discard(name)
        order.append(name)

    for name in stages:
        place(name)
    for name in added:
        place(name)
    # a stage missing from this installation is logged and skipped by the runner: its section
    # cannot be checked
    checked = {name: check_params(name, stages.get(name), specs[name].params) if specs[name].run is not None
               else dict(stages.get(name) or {}) for name in order}
    return checked, added


def load_config(path: str | Path) -> dict[str, Any]:
    """Read a study YAML (``analyses/*.yaml``) and check all of it before any work.

    Every top-level key, every stage name and every option of every stage section (nested
    sections too) is checked against the declarations (:data:`CONFIG_PARAMS`, each stage's
    ``PARAMS``); defaults are filled in, and the upstream stages a stage reads are added (with
    their default options) and ordered before it.

    Returns
    -------
    dict
        The effective configuration: ``name, cohort, out, seed, hail, stages`` (stage -> options,
        in run order), ``_path`` (the file) and ``_added`` (stages added for their products).

    Raises
    ------
    InputError
        One line naming the section, the key and the closest valid key or what is allowed.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"run/config: no such file {path}")
    try:
        config = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise InputError(f"run/config: {path} is not valid YAML: {' '.join(str(exc).split())}") from None
    if not isinstance(config, dict):
        raise InputError(f"run/config: {path} must be a mapping at the top level")
    config = check_config(config)
    if config["name"] is None:
        config["name"] = path.stem
    config["_path"] = str(path.resolve())
    return config


def check_config(config: dict[str, Any]) -> dict[str, Any]:
    """Check a study configuration (as a dict) and return the effective one (see :func:`load_config`)."""
    given = {k: v for k, v in config.items() if not str(k).startswith("_")}
    checked = check_params("config", given, CONFIG_PARAMS)
    stages = checked["stages"]
    if not isinstance(stages, dict) or not stages:
        raise InputError("config.stages: needs a non-empty mapping (stage: options)")
    checked["stages"], checked["_added"] = plan_stages(stages)
    for key, value in config.items():
        if str(key).startswith("_") and key != "_added":
            checked[key] = value
    return checked


#: A glob of a stage's ``INPUTS`` matching more files than this (a folder of images) is
#: fingerprinted by size and modification time only.
MANY_FILES = 100


def stage_inputs(s: StageSpec, params: dict[str, Any], cohort: Path | None) -> dict[str, str]:
    """Fingerprints of the cohort files a stage reads (part of its completion key).

    The files named by its path-valued options (relative to the cohort when they exist there;
    a PLINK prefix stands for its ``.bed/.bim/.fam``; keywords such as ``in-sample`` name no
    file), by text options whose value (or list items) is an existing file (``gwas: {mfi:
    [...]}``), and those matching its ``INPUTS`` patterns. The withdrawal file is left out: the
    withdrawn set itself is part of the key of the stages that handle participants.

    Returns
    -------
    dict
        ``{path: fingerprint}``; a file that does not exist is ``missing``.
    """
    paths: list[Path] = []
    stat_only: list[Path] = []
    if cohort is not None:
        for pattern in s.inputs:
            hits = sorted(p for p in cohort.glob(pattern) if p.is_file())
            (stat_only if len(hits) > MANY_FILES else paths).extend(hits or [cohort / pattern])
    for param in s.params:
        types = param.type if isinstance(param.type, tuple) else (param.type,)
        value = params.get(param.name)
        if param.name == "withdrawals":
            continue
        for item in value if isinstance(value, list) else [value]:
            if not isinstance(item, (str, Path)) or str(item) in ("", "."):
                continue
            given = Path(item)
            candidates = [given] if given.is_absolute() or cohort is None else [cohort / given, given]
            # a text option counts only where it names a file (e.g. gwas mfi: [...])
            found = next((c for c in candidates if (c.exists() if Path in types else c.is_file())), None)
            if found is not None:
                paths.append(found)
                continue
            for c in candidates if Path in types else []:  # a PLINK prefix
                siblings = sorted(c.parent.glob(c.name + ".*")) if c.parent.is_dir() else []
                if siblings:
                    paths.extend(siblings)
                    break
    out = fingerprint(paths)
    for p in stat_only:
        st = p.stat()
        out[str(p)] = f"size:{st.st_size}:mtime_ns:{st.st_mtime_ns}"
    return dict(sorted(out.items()))


def _digest(value: Any) -> str:
    blob = json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def key_parts(params: dict[str, Any], cohort: Path | None, seed: int, withdrawn: str | None = None,
              inputs: dict[str, str] | None = None, upstream: dict[str, str | None] | None = None) -> dict[str, Any]:
    """The parts of a stage's completion key (see the module docstring), as stored in its
    ``.key.json``: ``params``, ``cohort``, ``seed``, and when given ``withdrawn`` (a digest),
    ``inputs`` (``{path: fingerprint}``), ``upstream`` (``{stage: key}``)."""
    parts: dict[str, Any] = {"params": params, "cohort": str(cohort), "seed": seed}
    if withdrawn is not None:  # the withdrawn set, for stages that handle participants
        parts["withdrawn"] = withdrawn
    if inputs:
        parts["inputs"] = inputs
    if upstream:
        parts["upstream"] = upstream
    return parts


def _params_key(params: dict[str, Any], cohort: Path | None, seed: int, withdrawn: str | None = None,
                inputs: dict[str, str] | None = None, upstream: dict[str, str | None] | None = None) -> str:
    """The completion key: a digest of :func:`key_parts`."""
    return _digest(key_parts(params, cohort, seed, withdrawn, inputs, upstream))


def _withdrawn_key(ctx: RunContext) -> str:
    """A digest of the run's withdrawn set (not of the file's bytes: a reformatted list with
    the same people changes nothing); reading it checks the withdrawal file before any work."""
    return hashlib.sha256("\n".join(sorted(ctx.withdrawn())).encode()).hexdigest()[:16]


def _what_changed(old: dict[str, Any], new: dict[str, Any]) -> str:
    """In words, which parts of a completion key changed (paths of changed inputs named)."""
    said = []
    for part in ("params", "cohort", "seed", "withdrawn"):
        if old.get(part) != new.get(part):
            said.append({"params": "parameters", "withdrawn": "withdrawals"}.get(part, part))
    old_in, new_in = old.get("inputs") or {}, new.get("inputs") or {}
    changed = sorted(k for k in {*old_in, *new_in} if old_in.get(k) != new_in.get(k))
    if changed:
        names = [Path(k).name for k in changed]
        said.append("inputs " + ", ".join(names[:5]) + (f" (+{len(names) - 5})" if len(names) > 5 else ""))
    old_up, new_up = old.get("upstream") or {}, new.get("upstream") or {}
    ups = sorted(k for k in {*old_up, *new_up} if old_up.get(k) != new_up.get(k))
    if ups:
        said.append("upstream stage(s) " + ", ".join(ups))
    return "changed: " + "; ".join(said) if said else "changed"


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
        Skip stages already completed with the same completion key (parameters, inputs,
        withdrawals, upstream stages; see the module docstring); False recomputes every stage
        from scratch.
    only : list of str, optional
        Run only these stages, and the stages they read whose products are missing or were made
        with other parameters (names not in the config's stages fail, naming the closest).

    Raises
    ------
    InputError
        A bad configuration (checked whole before any work, see :func:`load_config`), an
        unknown ``only`` stage, or a missing cohort directory.
    """
    if not isinstance(config, dict):
        config = load_config(config)
    else:
        config = check_config(config)
        if config["name"] is None:
            config["name"] = "study"
    specs = {name: spec(name) for name in config["stages"]}
    if only:
        for name in only:
            if name in STAGES and name not in specs:
                raise InputError(f"run/--only: stage {name!r} is not in the config's stages "
                                 f"({', '.join(specs)}); add it to 'stages:'")
            if name not in specs:
                raise InputError(unknown_key_message("run/--only", name, list(specs), what="stage"))
    cohort_given = cohort or config.get("cohort")
    cohort_path = local_path(cohort_given, where="run/cohort" if cohort else "config.cohort") if cohort_given else None
    if cohort_path is not None and not cohort_path.exists():
        raise InputError(
            f"run/cohort: cohort directory {cohort_path} does not exist; "
            f"make one with `bma-genetics simulate --preset demo --out {cohort_path}`"
        )
    # absolute from here on: stage summaries record paths that later stages (and a rerun from
    # another working directory) must resolve the same way
    run_dir = local_path(out or config.get("out") or Path("runs") / config["name"],
                         where="run/out" if out else "config.out").absolute()
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
        for name in config.get("_added") or []:
            readers = [n for n, s in specs.items() if name in s.requires]
            log.info("stage %s: added with default parameters (%s reads its products)", name, ", ".join(readers))
        clean = {k: v for k, v in config.items() if not k.startswith("_")}
        write_text(run_dir / "config.yaml", yaml.safe_dump(clean, sort_keys=False))
        ctx = RunContext(run_dir=run_dir, cohort=cohort_path, config=config, seed=int(config["seed"]),
                         resume=resume)
        withdrawn = _withdrawn_key(ctx) if any(specs[n].withdrawals for n in config["stages"]) else None
        keys: dict[str, str] = {}
        parts: dict[str, dict[str, Any]] = {}
        for name, params in config["stages"].items():  # in run order: upstream keys first
            s = specs[name]
            upstream: dict[str, str | None] = {}
            for up in (*s.requires, *s.after):
                if up in keys:
                    upstream[up] = keys[up]
                elif (run_dir / up / ".done").exists():  # read from an earlier run's products
                    upstream[up] = (run_dir / up / ".done").read_text().strip()
            parts[name] = key_parts(params, cohort_path, ctx.seed, withdrawn if s.withdrawals else None,
                                    stage_inputs(s, params, cohort_path), upstream)
            keys[name] = _digest(parts[name])

        def done_already(name: str) -> bool:
            done = run_dir / name / ".done"
            return done.exists() and done.read_text().strip() == keys[name] and ctx.has_stage(name)

        def why(name: str) -> str:
            if not resume:
                return "--no-resume"
            old = run_dir / name / ".key.json"
            if not (run_dir / name / ".done").exists() or not old.exists():
                return "not done before"
            if done_already(name):
                return "an upstream stage ran again"
            try:
                return _what_changed(json.loads(old.read_text()), json.loads(json.dumps(parts[name], default=str)))
            except json.JSONDecodeError:
                return "changed"

        selected = _selected(specs, only, done_already) if only else list(config["stages"])
        if any(specs[n].hail and specs[n].run is not None and not (resume and done_already(n)) for n in selected):
            # a wrong master URL, a missing Hail jar or an unsupported Java fails now, in seconds,
            # not after the stages before the first Hail stage
            from bma_genetics._hail import check_spark_setup

            hail_opts = config.get("hail") or {}
            check_spark_setup(hail_opts.get("master", "local[*]"), attach=bool(hail_opts.get("attach")))
        timings: dict[str, float] = {}
        ran: set[str] = set()  # a stage whose upstream stage ran again runs again too
        for name, params in config["stages"].items():
            if name not in selected:
                continue
            fn = specs[name].run
            if fn is None:
                log.warning("stage %s is not available in this version; skipped", name)
                continue
            upstream_ran = [u for u in (*specs[name].requires, *specs[name].after) if u in ran]
            if resume and done_already(name) and not upstream_ran:
                log.info("stage %s: already done with these parameters and inputs; skipped", name)
                continue
            folder = ctx.stage_dir(name)
            running = folder / ".running"
            # partial products of an interrupted attempt with the same key are the same work
            ctx.continuing = resume and running.exists() and running.read_text().strip() == keys[name]
            reason = "resuming an interrupted attempt" if ctx.continuing else why(name)
            for stale in (".done", "summary.json", ".key.json"):  # a killed stage is never "done"
                (folder / stale).unlink(missing_ok=True)
            write_text(running, keys[name])
            log.info("stage %s: starting (%s)", name, reason)
            t0 = time.perf_counter()
            summary = fn(ctx, params) or {}
            timings[name] = time.perf_counter() - t0
            summary.setdefault("stage", name)
            summary["seconds"] = round(timings[name], 2)
            write_text(folder / "summary.json", json.dumps(summary, indent=2, default=str))
            write_text(folder / ".key.json", json.dumps(parts[name], indent=1, sort_keys=True, default=str))
            write_text(folder / ".done", keys[name])
            running.unlink(missing_ok=True)
            ran.add(name)
            log.info("stage %s: done in %.1f s", name, timings[name])
        from bma_genetics.pipeline.report import write_report

        report = write_report(run_dir, config)
        log.info("report: %s", report)
    finally:
        pkg_log.removeHandler(handler)
        handler.close()
    return run_dir


def _selected(specs: dict[str, StageSpec], only: list[str], done: Callable[[str], bool]) -> set[str]:
    """The ``only`` stages and, transitively, the stages they read that are not done with the
    current parameters (missing or stale outputs)."""
    chosen = set(only)
    queue = list(only)
    while queue:
        s = specs[queue.pop()]
        for up in [*s.requires, *(a for a in s.after if a in specs)]:
            if up not in chosen and not done(up):
                log.info("stage %s: outputs missing or made with other parameters; run before %s", up, s.name)
                chosen.add(up)
                queue.append(up)
    return chosen

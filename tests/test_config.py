"""A study config is checked whole before any work: declared parameters, one-line errors, exit 2.

Every stage section gets a misspelt key and a bad value through ``bma-genetics run`` (the CLI's
``main``): exit status 2, one line naming the stage, the key and the nearest valid key (or the
value and what is allowed), in well under 10 s and without importing Hail/Spark.
"""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from bma_genetics._params import Param, check_params, get_param
from bma_genetics.cli import main
from bma_genetics.errors import BmaGeneticsError, InputError
from bma_genetics.pipeline.context import RunContext
from bma_genetics.pipeline.runner import (
    CONFIG_PARAMS,
    _selected,
    check_config,
    load_config,
    plan_stages,
)
from bma_genetics.pipeline.stages import STAGES, spec

ROOT = Path(__file__).resolve().parents[1]
BAD = "?bad?"


def _run_cli(tmp_path: Path, config: dict, capsys, *extra: str) -> tuple[int, str, float]:
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    spark_before = "pyspark" in sys.modules or "hail" in sys.modules
    capsys.readouterr()
    t0 = time.perf_counter()
    rc = main(["run", str(path), "--out", str(tmp_path / "run"), *extra])
    seconds = time.perf_counter() - t0
    err = capsys.readouterr().err
    if not spark_before:
        assert "pyspark" not in sys.modules and "hail" not in sys.modules, "the check started Hail"
    assert not (tmp_path / "run").exists(), "the run directory was made before the config was checked"
    return rc, err.strip(), seconds


def _assert_one_line(rc: int, err: str, seconds: float, *parts: str) -> None:
    assert rc == 2, err
    assert err.count("\n") == 0 and "Traceback" not in err, err
    for part in parts:
        assert part in err, (part, err)
    assert seconds < 10


def _misspell(key: str) -> str:
    """Drop one inner letter (``transform`` -> ``trasform``); keys of 3 letters get one added."""
    if len(key) <= 3:
        return key + key[-1]
    i = len(key) // 2
    return key[:i] + key[i + 1:]


def _bad_value_param(params: list[Param]) -> Param:
    """A declared parameter for which the string ``?bad?`` is not allowed."""
    for p in params:
        if str not in p.types and Path not in p.types and p.section is None:
            return p
        if p.options is not None and list not in p.types:
            return p
    raise AssertionError(f"no parameter with a checkable value among {[p.name for p in params]}")


# ---------------------------------------------------------------- every stage section, generated


@pytest.mark.parametrize("stage", list(STAGES))
def test_every_misspelt_key_names_stage_and_nearest_key(stage, tmp_path, capsys):
    params = spec(stage).params
    assert params, f"stage {stage} declares no PARAMS"
    for p in params:
        wrong = _misspell(p.name)
        if wrong in {q.name for q in params}:
            continue
        rc, err, s = _run_cli(tmp_path, {"name": "t", "stages": {stage: {wrong: 1}}}, capsys)
        _assert_one_line(rc, err, s, f"{stage}: unknown key {wrong!r}", f"did you mean {p.name!r}?")


@pytest.mark.parametrize("stage", list(STAGES))
def test_a_bad_value_names_stage_key_value_and_what_is_allowed(stage, tmp_path, capsys):
    p = _bad_value_param(spec(stage).params)
    rc, err, s = _run_cli(tmp_path, {"name": "t", "stages": {stage: {p.name: BAD}}}, capsys)
    _assert_one_line(rc, err, s, f"{stage}.{p.name}:", repr(BAD), "expected", p.describe())


# ---------------------------------------------------------------- the issue's examples


@pytest.mark.parametrize(
    ("stages", "expected"),
    [
        ({"gwas": {"transfrom": "rint"}}, "gwas: unknown key 'transfrom'; did you mean 'transform'?"),
        ({"gwas": {"transform": "rnt"}}, "gwas.transform: 'rnt' is not allowed; expected one of 'none', 'rint'"),
        ({"gwas": {"qc": {"min_inf": 0.8}}}, "gwas.qc: unknown key 'min_inf'; did you mean 'min_info'?"),
        ({"gwas": {"loci": {"p_1": 5e-8}}}, "gwas.loci: unknown key 'p_1'; did you mean 'p1'?"),
        ({"gwas": {"loci": {"p1": 2}}}, "gwas.loci.p1: 2 is not allowed; expected a number in (0, 1]"),
        ({"gwas": {"qc": {"min_info": "high"}}}, "gwas.qc.min_info: 'high' is not allowed"),
        ({"gwas": {"qc": [1, 2]}}, "gwas.qc: [1, 2] is not allowed; expected a mapping with keys min_info"),
        ({"gwas": {"ld": "refernce"}}, "gwas.ld: 'refernce' is not allowed; expected one of 'in-sample', 'reference' or a PLINK prefix (did you mean 'reference'?)"),
        ({"gwas": {"block_size": 0}}, "gwas.block_size: 0 is not allowed; expected an integer in [1, inf)"),
        ({"gwas": {"strata": ["sex", 3]}}, "gwas.strata[1]: 3 is not allowed; expected a string"),
        ({"phewas": {"min_case": 10}}, "phewas: unknown key 'min_case'; did you mean 'min_cases'?"),
        ({"phewas": {"phecode_version": "2"}}, "phewas.phecode_version: '2' is not allowed; expected 'X' or '1.2'"),
        ({"mr": {"p_threshold": 0}}, "mr.p_threshold: 0 is not allowed; expected a number in (0, 1]"),
        ({"enrichment": {"traits": "bmff_spine"}}, "enrichment.traits: 'bmff_spine' is not allowed; expected a list"),
        ({"participants": {"ancestry": "afr"}}, "participants.ancestry: 'afr' is not allowed; expected '22006' or 'pcs'"),
        ({"gwass": {}}, "unknown stage 'gwass'; did you mean 'gwas'?"),
        ({"gwas": "rint"}, "gwas: expected a mapping of options (key: value), found 'rint'"),
    ],
)
def test_issue_examples(stages, expected, tmp_path, capsys):
    rc, err, s = _run_cli(tmp_path, {"name": "t", "stages": stages}, capsys)
    _assert_one_line(rc, err, s, expected)


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"sed": 1}, "config: unknown key 'sed'; did you mean 'seed'?"),
        ({"seed": "one"}, "config.seed: 'one' is not allowed; expected an integer"),
        ({"hail": {"mastr": "local[2]"}}, "config.hail: unknown key 'mastr'; did you mean 'master'?"),
        ({"hail": {"driver_memory": 8}}, "config.hail.driver_memory: 8 is not allowed; expected a string or null"),
        ({"stage": {"gwas": {}}}, "config: unknown key 'stage'; did you mean 'stages'?"),
    ],
)
def test_top_level_keys(config, expected, tmp_path, capsys):
    config = {"name": "t", "stages": {"cohort": {}}, **config}
    if "stage" in config:
        del config["stages"]
    rc, err, s = _run_cli(tmp_path, config, capsys)
    _assert_one_line(rc, err, s, expected)


def test_only_with_a_misspelt_stage(tmp_path, capsys):
    config = {"name": "t", "stages": {"cohort": {}, "gwas": {}}}
    rc, err, s = _run_cli(tmp_path, config, capsys, "--only", "gwass")
    _assert_one_line(rc, err, s, "run/--only: unknown stage 'gwass'; did you mean 'gwas'?")
    rc, err, s = _run_cli(tmp_path, config, capsys, "--only", "mr")
    _assert_one_line(rc, err, s, "run/--only: stage 'mr' is not in the config's stages")


def test_cli_subprocess_exits_2_fast_without_spark(tmp_path):
    """The real command line, in a fresh interpreter: one line, status 2, Hail never imported."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"name": "t", "stages": {"participants": {}, "gwas": {"qc": {"min_inf": 0.8}}}}))
    code = (
        "import sys; from bma_genetics.cli import main; rc = main(['run', sys.argv[1]]); "
        "assert 'pyspark' not in sys.modules and 'hail' not in sys.modules and 'torch' not in sys.modules, "
        "sorted(m for m in sys.modules if m.split('.')[0] in ('pyspark', 'hail', 'torch')); sys.exit(rc)"
    )
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "-c", code, str(bad)], capture_output=True, text=True, cwd=tmp_path,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    seconds = time.perf_counter() - t0
    assert res.returncode == 2, res.stderr
    assert res.stderr.strip() == "error: gwas.qc: unknown key 'min_inf'; did you mean 'min_info'?"
    assert seconds < 10
    assert not (tmp_path / "runs").exists()


# ---------------------------------------------------------------- the mechanism


def test_check_params_fills_defaults_and_is_idempotent():
    params = spec("gwas").params
    filled = check_params("gwas", {"transform": "rint", "qc": {"min_info": 0.9}, "loci": {"p1": "5e-9"}}, params)
    assert list(filled) == [p.name for p in params]
    assert filled["transform"] == "rint" and filled["block_size"] == 128
    assert filled["qc"] == {"min_info": 0.9, "min_maf": 0.001, "min_mac": 20, "hwe_p": 1e-6, "min_call_rate": 0.95}
    assert filled["loci"]["p1"] == 5e-9  # YAML 1.1 reads 5e-9 as a string
    assert check_params("gwas", filled, params) == filled
    assert check_params("gwas", None, params) == check_params("gwas", {}, params)
    assert check_params("gwas", {"qc": None}, params)["qc"]["min_info"] == 0.8  # `qc:` left empty
    # mutable defaults are copied
    check_params("gwas", {}, params)["strata"].append("sex")
    assert check_params("gwas", {}, params)["strata"] == []


def test_param_rules():
    ps = [Param("x", float, 0.5, range=(0, 2, "neither")), Param("k", (list, str), "all", options=("all",), item_type=str),
          Param("flag", bool, False), Param("n", int, None, nullable=True)]
    assert check_params("s", {"x": 1}, ps)["x"] == 1
    for bad in ({"x": 0}, {"x": 2}, {"x": True}, {"x": "nan"}, {"flag": 1}, {"n": 2.0}, {"k": "some"}, {"k": [1]}):
        with pytest.raises(InputError):
            check_params("s", bad, ps)
    assert check_params("s", {"k": ["a", "b"], "n": None}, ps)["k"] == ["a", "b"]
    with pytest.raises(InputError, match=r"^s: unknown key 'zzz'; valid: flag, k, n, x$"):
        check_params("s", {"zzz": 1}, ps)
    assert get_param(spec("gwas").params, "qc.min_info").default == 0.8


def test_load_config_adds_and_orders_upstream_stages(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"stages": {"mr": {"nboot": 10}, "phenotypes": {}}}))
    config = load_config(path)
    assert list(config["stages"]) == ["participants", "images", "phenotypes", "gwas", "mr"]
    assert set(config["_added"]) == {"gwas", "participants", "images"}
    assert config["stages"]["mr"]["nboot"] == 10 and config["stages"]["gwas"]["block_size"] == 128
    assert config["name"] == "s" and config["seed"] == 1 and config["hail"]["master"] == "local[*]"
    # the demo study is valid, and nothing is added to it
    demo = load_config(ROOT / "analyses" / "demo.yaml")
    assert demo["_added"] == [] and list(demo["stages"])[:3] == ["reference", "cohort", "participants"]
    assert check_config(demo)["stages"] == demo["stages"]


def test_plan_keeps_config_order_where_it_can():
    checked, added = plan_stages({"phewas": None, "cohort": {}, "enrichment": {}})
    assert list(checked) == ["participants", "phewas", "cohort", "gwas", "enrichment"]
    assert added == ["participants", "gwas"]


def test_only_runs_upstream_stages_when_missing_or_stale():
    specs = {n: spec(n) for n in ("participants", "images", "phenotypes", "gwas", "mr")}
    assert _selected(specs, ["mr"], lambda name: True) == {"mr"}
    assert _selected(specs, ["mr"], lambda name: name != "gwas") == {"mr", "gwas"}
    assert _selected(specs, ["gwas"], lambda name: False) == {"gwas", "participants", "images", "phenotypes"}


def test_resume_key_ignores_spelt_out_defaults():
    from bma_genetics.pipeline.runner import _params_key

    params = spec("gwas").params
    a = check_params("gwas", {"strata": ["sex"]}, params)
    b = check_params("gwas", {"strata": ["sex"], "block_size": 128, "qc": {"min_info": 0.8}}, params)
    assert _params_key(a, None, 1) == _params_key(b, None, 1)
    assert _params_key(a, None, 1) != _params_key(check_params("gwas", {"block_size": 64}, params), None, 1)


def test_product_paths(tmp_path):
    import json

    ctx = RunContext(run_dir=tmp_path, cohort=None, config={})
    d = ctx.stage_dir("participants")
    (d / "participants.parquet").write_text("x")
    (d / "sample_qc.tsv").write_text("x")
    (d / "summary.json").write_text(json.dumps({
        "participants": str(d / "participants.parquet"), "files": {"qc": "sample_qc.tsv"},
        "tables": ["participants.parquet", "sample_qc.tsv", "diagnoses.parquet"]}))
    assert ctx.product("participants", "participants") == d / "participants.parquet"
    assert ctx.product("participants", "qc") == d / "sample_qc.tsv"
    assert ctx.product("participants", "sample_qc.tsv") == d / "sample_qc.tsv"
    with pytest.raises(BmaGeneticsError, match=r"stage 'participants' has no product 'kinship'.*participants"):
        ctx.product("participants", "kinship")
    with pytest.raises(BmaGeneticsError, match=r"lists 'diagnoses.parquet' as .* which does not exist"):
        ctx.product("participants", "diagnoses.parquet")
    with pytest.raises(BmaGeneticsError, match=r"stage 'gwas' has no outputs"):
        ctx.product("gwas", "sumstats")
    g = ctx.stage_dir("gwas")
    (g / "a.tsv.gz").write_text("x")
    (g / "summary.json").write_text(json.dumps({"sumstats": {"a": "a.tsv.gz", "b": str(g / "b.tsv.gz")}}))
    assert ctx.product("gwas", "sumstats/a") == g / "a.tsv.gz"
    with pytest.raises(BmaGeneticsError, match=r"has no product 'sumstats/c'.*sumstats/a, sumstats/b"):
        ctx.product("gwas", "sumstats/c")
    with pytest.raises(BmaGeneticsError, match=r"lists 'sumstats/b' as .*b.tsv.gz, which does not exist"):
        ctx.products("gwas", "sumstats")
    (g / "b.tsv.gz").write_text("x")
    assert ctx.products("gwas", "sumstats") == {"a": g / "a.tsv.gz", "b": g / "b.tsv.gz"}


def test_parameters_doc_is_generated_from_the_declarations():
    from bma_genetics.pipeline.docs import DOC_PATH, render

    assert DOC_PATH == ROOT / "docs" / "parameters.md"
    assert DOC_PATH.read_text() == render(), "docs/parameters.md is stale: run python -m bma_genetics.pipeline.docs"
    for p in CONFIG_PARAMS:
        assert f"`{p.name}`" in DOC_PATH.read_text()


def test_cli_options_take_defaults_from_the_declarations():
    from bma_genetics.cli import app

    commands = {c.name: c.callback for c in app.registered_commands}
    pairs = {
        "gwas": {"block_size": "block_size", "ld": "ld"},
        "phewas": {"min_cases": "min_cases", "firth": "firth", "method": "method", "phecode_version": "phecode_version"},
        "mr": {"p_threshold": "p_threshold", "clump_kb": "clump_kb", "nboot": "nboot", "median_weights": "median_weights"},
        "enrich": {"min_size": "min_size", "p_method": "p_method", "window_up": "window_up_kb"},
    }
    for command, options in pairs.items():
        stage = "enrichment" if command == "enrich" else command
        sig = inspect.signature(commands[command])
        for option, param in options.items():
            assert sig.parameters[option].default.default == get_param(spec(stage).params, param).default, (command, option)


# Declared defaults that mirror an argument of the stage's Python API must agree with it (the API
# keeps a default for Python callers); deliberate differences are listed with their reason.
API_DIFFERENCES = {
    ("enrichment", "min_size"): "the study's default keeps the small simulated gene sets (API: 10, MAGMA's)",
    ("enrichment", "ld"): "the stage has the cohort's genotypes (in-sample); the API on its own has the panel",
}


@pytest.mark.parametrize(
    ("stage", "api"),
    [
        ("gwas", "bma_genetics.gwas.api:run_study_gwas"),
        ("gwas", "bma_genetics.gwas.qc:variant_qc"),
        ("gwas", "bma_genetics.gwas.loci:find_loci"),
        ("participants", "bma_genetics.io.participants:run_participants"),
        ("phewas", "bma_genetics.phewas.api:run_phewas"),
        ("mr", "bma_genetics.mr.api:run_mr_analysis"),
        ("mr", "bma_genetics.mr.methods:MRParameters"),
        ("enrichment", "bma_genetics.enrichment.api:run_enrichment"),
        ("heritability", "bma_genetics.heritability.api:run_ldscore"),
        ("heritability", "bma_genetics.heritability.api:run_munge"),
        ("heritability", "bma_genetics.heritability.api:run_h2"),
    ],
)
def test_declared_defaults_agree_with_the_api(stage, api):
    import importlib

    module, name = api.split(":")
    sig = inspect.signature(getattr(importlib.import_module(module), name))
    declared = {p.name: p for p in spec(stage).params}
    if name in ("variant_qc", "find_loci"):
        declared = {p.name: p for p in declared["qc" if name == "variant_qc" else "loci"].section}
    compared = 0
    for key, p in declared.items():
        arg = sig.parameters.get(key)
        if arg is None or arg.default is inspect.Parameter.empty or p.section is not None:
            continue
        if (stage, key) in API_DIFFERENCES or p.default is None or arg.default is None:
            continue
        compared += 1
        assert p.default == arg.default, f"{stage}.{key}: declared {p.default!r}, {api} has {arg.default!r}"
    assert compared >= 2, api

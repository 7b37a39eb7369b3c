"""docs/conventions.md, checked: the public job functions speak one vocabulary and return
result objects; the result tables io writes use the shared column names."""

from __future__ import annotations

import importlib
import inspect
import typing

import pytest

from bma_genetics._result import StageResult

#: module -> its public job functions (``run_*``): each returns a StageResult subclass.
JOBS = {
    "bma_genetics.io.participants": ["run_participants"],
    "bma_genetics.phenotypes.api": ["run_bmff"],
    "bma_genetics.gwas.association": ["run_gwas"],
    "bma_genetics.gwas.api": ["run_study_gwas"],
    "bma_genetics.enrichment.api": ["run_gene_analysis", "run_enrichment"],
    "bma_genetics.phewas.api": ["run_phewas"],
    "bma_genetics.mr.api": ["run_mr", "run_mr_analysis"],
    "bma_genetics.heritability.api": ["run_ldscore", "run_munge", "run_h2", "run_rg"],
    "bma_genetics.finemap.api": ["run_finemap", "run_coloc", "run_smr"],
}
#: public modules whose signatures must use the shared argument names
PUBLIC_MODULES = [*JOBS, "bma_genetics.io.api", "bma_genetics.simulate.api", "bma_genetics.simulate.dixon",
                  "bma_genetics.ld", "bma_genetics.plots", "bma_genetics.stats", "bma_genetics.pipeline.runner"]
#: names the vocabulary replaces, and with what
FORBIDDEN_ARGS = {
    "random_state": "seed", "rng_seed": "seed", "random_seed": "seed", "workers": "n_jobs",
    "threads": "n_jobs", "n_threads": "n_jobs", "n_workers": "n_jobs", "outdir": "out",
    "out_dir": "out", "output": "out", "output_dir": "out", "ld_reference": "ld", "ld_ref": "ld",
    "no_resume": "resume", "overwrite": "resume",
}
#: column names the vocabulary replaces in written result tables
FORBIDDEN_COLUMNS = {"se": "standard_error", "pval": "p_value", "ci_low": "ci_lower", "ci_high": "ci_upper",
                     "neg_log_p_value": "neg_log_10_p_value", "fdr_bh": "fdr", "b": "beta", "cases": "n_cases",
                     "controls": "n_controls"}


def _public_functions(module_name: str):
    module = importlib.import_module(module_name)
    names = getattr(module, "__all__", None) or [n for n in vars(module) if not n.startswith("_")]
    for name in names:
        obj = getattr(module, name, None)
        if inspect.isfunction(obj) and obj.__module__.startswith("bma_genetics"):
            yield f"{obj.__module__}.{name}", obj


def _argument_problems(qualname: str, func) -> list[str]:
    return [f"{qualname}({p}=...): call it {FORBIDDEN_ARGS[p]!r} (docs/conventions.md)"
            for p in inspect.signature(func).parameters if p in FORBIDDEN_ARGS]


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_public_arguments_use_the_shared_names(module_name):
    bad = [m for qualname, func in _public_functions(module_name) for m in _argument_problems(qualname, func)]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize(("module_name", "name"), [(m, f) for m, fs in JOBS.items() for f in fs])
def test_jobs_return_result_objects(module_name, name):
    func = getattr(importlib.import_module(module_name), name)
    ret = typing.get_type_hints(func).get("return")
    assert inspect.isclass(ret) and issubclass(ret, StageResult), f"{module_name}.{name} returns {ret!r}"
    assert callable(ret.to_frame) and callable(ret.summary)


def test_result_tables_use_the_shared_column_names():
    from bma_genetics.io import results

    schemas = {"phewas": results.PHEWAS_RESULTS, "gene": results.GENE_RESULTS,
               "gene_set": results.GENE_SET_RESULTS}
    schemas.update({f"mr/{k}": v for k, v in results.MR_TABLES.items()})
    from bma_genetics.io import finemap

    schemas.update({f"finemap/{k}": v for k, v in finemap.FINEMAP_TABLES.items()})
    bad = []
    for label, schema in schemas.items():
        for column in [*schema.required, *schema.optional]:
            if column in FORBIDDEN_COLUMNS:
                bad.append(f"{label}: column {column!r} should be {FORBIDDEN_COLUMNS[column]!r}")
    assert not bad, "\n".join(bad)
    assert {"standard_error", "p_value", "n_cases", "n_controls"} <= set(results.PHEWAS_RESULTS.required)


def test_the_checker_can_fail():
    """A function with a replaced argument name is caught (so the tests above are not vacuous)."""
    def run_thing(data, *, random_state=1, threads=2):  # noqa: ARG001
        return data

    problems = _argument_problems("run_thing", run_thing)
    assert problems == ["run_thing(random_state=...): call it 'seed' (docs/conventions.md)",
                        "run_thing(threads=...): call it 'n_jobs' (docs/conventions.md)"]

"""The package's layers (``docs/architecture.md``), enforced on every import.

Every module under ``bma_genetics/`` is parsed with :mod:`ast`; every import it makes (at the top
of the module, inside functions, under ``if TYPE_CHECKING:``, relative or absolute, and
``importlib.import_module("bma_genetics...")`` with a literal name) is mapped to a layer:

=====  ==========================================================================================
layer  modules
=====  ==========================================================================================
0      base: ``bma_genetics/__init__``, ``errors``, ``_check``, ``_atomic``, ``_logging``,
       ``_hail``, ``_params``, ``_result``, ``sites``, ``_blas``
1      ``io/``, ``stats``
2      ``resources/``, ``ld/``
3      ``simulate/``
4      stages: ``phenotypes/``, ``gwas/``, ``heritability/``, ``finemap/``, ``enrichment/``, ``phewas/``,
       ``prs/``, ``mr/`` (their core modules)
5      ``plots/``
6      top: ``pipeline/``, ``cli.py``, and in every package the adapters ``stage.py``,
       ``cli.py`` and ``figures.py``
=====  ==========================================================================================

What each layer may import:

- layer 0 imports only layer 0; layer 1 only layers 0-1; layer 2 only layers 0-2;
- ``simulate/`` (3) imports layers 0-3, never a stage;
- a stage's core modules (4) import layers 0-2 and their own package: never another stage,
  never ``simulate/``, ``plots/`` or ``pipeline/``. A stage that needs another stage's product
  reads the documented table through ``io/``;
- ``plots/`` (5) imports layers 0-2: it reads columns of DataFrames, never imports a stage;
- the top (6) imports anything. Nothing below it imports ``pipeline/`` or a ``cli``.

A module this test cannot place in a layer fails it too: a new top-level module or package is
given its layer here and in ``docs/architecture.md``.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "bma_genetics"

LAYER_NAMES = {0: "base", 1: "io/stats", 2: "resources/ld", 3: "simulate", 4: "stage", 5: "plots", 6: "top"}

BASE = {"__init__", "errors", "_check", "_atomic", "_logging", "_hail", "_params", "_result", "sites", "_blas"}
LAYER_OF_TOP: dict[str, int] = {
    **{name: 0 for name in BASE},
    "io": 1,
    "stats": 1,
    "resources": 2,
    "ld": 2,
    "survival": 2,
    "simulate": 3,
    **{s: 4 for s in ("phenotypes", "calvarial", "gwas", "heritability", "finemap", "enrichment", "phewas", "prs", "mr")},
    "plots": 5,
    "pipeline": 6,
    "cli": 6,
}
STAGES = {name for name, layer in LAYER_OF_TOP.items() if layer == 4}
# Inside any package these modules are adapters to the runner / command line: the top layer.
ADAPTERS = {"stage", "cli", "figures"}

# What each layer may import (besides its own package, always allowed for layers 3-5).
ALLOWED: dict[int, set[int]] = {
    0: {0},
    1: {0, 1},
    2: {0, 1, 2},
    3: {0, 1, 2, 3},
    4: {0, 1, 2},
    5: {0, 1, 2},
    6: {0, 1, 2, 3, 4, 5, 6},
}

# Imports that break the layers today and are being removed (issue 12). This set may only
# shrink: the test fails on a violation that is not listed here AND on a listed entry that no
# longer occurs, so each fix also deletes its line. (file relative to the repository root,
# imported module as resolved by this test)
KNOWN_VIOLATIONS: set[tuple[str, str]] = set()  # all fixed


@dataclass(frozen=True)
class Import:
    file: str  # relative to the repository root, with forward slashes
    line: int
    module: str  # fully qualified bma_genetics module


def module_name(path: Path) -> str:
    """``bma_genetics/gwas/api.py`` -> ``bma_genetics.gwas.api``; packages drop ``__init__``."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _is_module(dotted: str) -> bool:
    rel = Path(*dotted.split("."))
    return (ROOT / rel).with_suffix(".py").is_file() or (ROOT / rel / "__init__.py").is_file()


def _resolve_relative(current: str, is_package: bool, level: int, module: str | None) -> str:
    base = current.split(".") if is_package else current.split(".")[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def imports_of(path: Path) -> list[Import]:
    """Every ``bma_genetics`` import in *path* (any depth of the syntax tree)."""
    rel = path.relative_to(ROOT).as_posix()
    current = module_name(path)
    is_package = path.name == "__init__.py"
    found: list[Import] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=rel)):
        if isinstance(node, ast.Import):
            found += [Import(rel, node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            target = (_resolve_relative(current, is_package, node.level, node.module)
                      if node.level else node.module or "")
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                # ``from bma_genetics import stats`` imports the module bma_genetics.stats
                found.append(Import(rel, node.lineno, sub if alias.name != "*" and _is_module(sub) else target))
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr == "import_module" and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            found.append(Import(rel, node.lineno, node.args[0].value))
    ours = {i for i in found if i.module == "bma_genetics" or i.module.startswith("bma_genetics.")}
    return sorted(ours, key=lambda i: (i.line, i.module))


def layer_of(module: str) -> tuple[int, str] | None:
    """(layer, owning package) of a dotted ``bma_genetics`` module; ``None`` if unplaced."""
    parts = module.split(".")[1:]
    if not parts:
        return 0, "bma_genetics"
    top = parts[0]
    if top not in LAYER_OF_TOP:
        return None
    if len(parts) > 1 and parts[-1] in ADAPTERS:
        return 6, top
    return LAYER_OF_TOP[top], top


def check_import(imp: Import) -> str | None:
    """The violation message for one import, or ``None`` when the layers allow it."""
    src_module = module_name(ROOT / imp.file)
    src, dst = layer_of(src_module), layer_of(imp.module)
    if src is None:
        return f"{imp.file}: module {src_module} has no layer (add it to tests/test_layering.py)"
    if dst is None:
        return f"{imp.file}:{imp.line} imports {imp.module}, which has no layer (add it to tests/test_layering.py)"
    (ls, ps), (ld, pd_) = src, dst
    if ls == 6 or (ps == pd_ and ls >= 3 and ld >= ls) or ld in ALLOWED[ls]:
        return None
    if ls == 4 and ld == 4:
        why = "a stage never imports another stage: read its product through io/"
    elif ls == 5 and ld == 4:
        why = "plots read columns, never import a stage"
    elif ld == 6:
        why = "nothing below the top imports pipeline/ or a stage's adapters"
    else:
        why = f"layer {ls} ({LAYER_NAMES[ls]}) may import only layers {sorted(ALLOWED[ls])}"
    return f"{imp.file}:{imp.line} imports {imp.module} (layer {ls} -> layer {ld}): {why}"


def all_imports() -> list[Import]:
    return [i for path in sorted(PACKAGE.rglob("*.py")) for i in imports_of(path)]


def violations() -> dict[tuple[str, str], list[str]]:
    """Offending imports keyed by (file, imported module), with every message for that pair."""
    out: dict[tuple[str, str], list[str]] = {}
    for imp in all_imports():
        msg = check_import(imp)
        if msg:
            out.setdefault((imp.file, imp.module), []).append(msg)
    return out


# ----------------------------------------------------------------------------------- tests


def test_every_module_has_a_layer():
    unplaced = sorted({module_name(p) for p in PACKAGE.rglob("*.py") if layer_of(module_name(p)) is None})
    assert not unplaced, "modules without a layer (place them in tests/test_layering.py): " + ", ".join(unplaced)


def test_imports_follow_the_layers():
    found = violations()
    new = [m for key, msgs in sorted(found.items()) if key not in KNOWN_VIOLATIONS for m in msgs]
    fixed = sorted(KNOWN_VIOLATIONS - set(found))
    lines = []
    if new:
        lines += ["imports that break the layers (docs/architecture.md):", *new]
    if fixed:
        lines += ["fixed, so remove from KNOWN_VIOLATIONS in tests/test_layering.py:",
                  *[f"{f} -> {m}" for f, m in fixed]]
    assert not lines, "\n".join(lines)


def test_the_checker_catches_each_kind_of_import(tmp_path, monkeypatch):
    """The parser sees top-level, function-level, relative and importlib imports, and the rules
    flag a stage importing a stage, plots importing a stage, and anything importing pipeline."""
    pkg = tmp_path / "bma_genetics"
    for rel in ["__init__.py", "errors.py", "io/__init__.py", "io/api.py", "gwas/__init__.py",
                "gwas/api.py", "gwas/stage.py", "mr/__init__.py", "mr/api.py", "plots/__init__.py",
                "plots/qq.py", "pipeline/__init__.py", "pipeline/runner.py", "simulate/__init__.py"]:
        (pkg / rel).parent.mkdir(parents=True, exist_ok=True)
        (pkg / rel).write_text("")
    (pkg / "mr" / "api.py").write_text(
        "import numpy\n"
        "from bma_genetics.io import api\n"              # allowed: a stage reads through io
        "from ..errors import InputError\n"              # allowed, relative
        "def f():\n"
        "    from ..gwas import api as g\n"              # stage -> stage, inside a function
        "    import bma_genetics.pipeline.runner\n"      # stage -> pipeline
        "    import importlib\n"
        "    importlib.import_module('bma_genetics.simulate')\n"  # stage -> simulate
    )
    (pkg / "plots" / "qq.py").write_text("from bma_genetics.gwas.api import lambda_gc\n")
    (pkg / "gwas" / "stage.py").write_text("from bma_genetics.mr import api\nfrom bma_genetics.pipeline import runner\n")
    (pkg / "io" / "api.py").write_text("from . import api\nfrom bma_genetics import gwas\n")
    monkeypatch.setitem(globals(), "ROOT", tmp_path)
    monkeypatch.setitem(globals(), "PACKAGE", pkg)
    msgs = sorted(m for ms in violations().values() for m in ms)
    assert msgs == sorted([
        "bma_genetics/io/api.py:2 imports bma_genetics.gwas (layer 1 -> layer 4): "
        "layer 1 (io/stats) may import only layers [0, 1]",
        "bma_genetics/mr/api.py:5 imports bma_genetics.gwas.api (layer 4 -> layer 4): "
        "a stage never imports another stage: read its product through io/",
        "bma_genetics/mr/api.py:6 imports bma_genetics.pipeline.runner (layer 4 -> layer 6): "
        "nothing below the top imports pipeline/ or a stage's adapters",
        "bma_genetics/mr/api.py:8 imports bma_genetics.simulate (layer 4 -> layer 3): "
        "layer 4 (stage) may import only layers [0, 1, 2]",
        "bma_genetics/plots/qq.py:1 imports bma_genetics.gwas.api (layer 5 -> layer 4): "
        "plots read columns, never import a stage",
    ]), msgs


# ------------------------------------------------------------ one reader, one writer per contract

# Each contract between stages is read and written by io/ only. Outside io/ (and the simulator,
# which writes the synthetic UK Biobank export files that io/ then reads), no module may open
# these files with pandas directly, nor define its own reader/writer of them.
CONTRACT_FILES = {
    "UK Biobank export": r"ukb_showcase",
    "participant table": r"participants?(\.parquet|_path)",
    "BMFF table": r"bmff",
    "diagnoses": r"diagnos",
    "withdrawals": r"withdraw",
    "summary statistics": r"\.tsv\.gz|\.glm\.|\.regenie|sumstats",
}
READ_OR_WRITE = re.compile(r"\b(pd|pandas)\.read_(parquet|csv|table)\(|\.to_(parquet|csv)\(")
# Functions only io/ may define: one reader and one writer per contract (a public
# ``read_table`` in a stage is a private reader of the participant table).
IO_FUNCTIONS = re.compile(
    r"^\s*def ((read_(table|participants?|participant_table|bmff|bmff_table|diagnos\w*|withdrawals|"
    r"sumstats|gwas_ssf\w*|phewas_results|mr_results|gene_results|gene_set_results))|"
    r"write_(participant_table|bmff_table|diagnoses|gwas_ssf|phewas_results|mr_results|"
    r"gene_results|gene_set_results)|normalise_icd10)\(",
    re.M,
)
# io/ owns the contracts. simulate/ writes the raw synthetic export in UK Biobank's own file
# layouts (showcase CSV, withdrawals, an external outcome GWAS) and its truth/ tables, none of
# them a stage contract; its one contract table, the cohort's BMFF table, goes through io (the
# check below holds simulate/api.py to that).
CONTRACT_EXEMPT = ("bma_genetics/io/", "bma_genetics/simulate/")

# Contract reads/writes outside io/ today, being moved into io/ (issue 12); like
# KNOWN_VIOLATIONS this set may only shrink. (file, what)
KNOWN_CONTRACT_VIOLATIONS: set[tuple[str, str]] = set()  # all fixed


def contract_violations() -> dict[tuple[str, str], list[str]]:
    out: dict[tuple[str, str], list[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith(CONTRACT_EXEMPT):
            continue
        text = path.read_text()
        for m in IO_FUNCTIONS.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            name = m.group(1)
            out.setdefault((rel, f"def {name}"), []).append(
                f"{rel}:{line} defines {name}(): the reader/writer of a contract lives in io/")
        for lineno, line in enumerate(text.splitlines(), 1):
            if not READ_OR_WRITE.search(line):
                continue
            for contract, pattern in CONTRACT_FILES.items():
                if re.search(pattern, line):
                    out.setdefault((rel, contract), []).append(
                        f"{rel}:{lineno} reads or writes the {contract} with pandas: use its io/ reader/writer")
    return out


def test_simulator_writes_the_bmff_table_through_io():
    text = (PACKAGE / "simulate" / "api.py").read_text()
    assert "write_bmff_table(" in text
    offending = [line for line in text.splitlines() if "bmff_idp" in line and READ_OR_WRITE.search(line)]
    assert not offending, offending


def test_each_contract_has_one_reader_and_one_writer():
    found = contract_violations()
    new = [m for key, msgs in sorted(found.items()) if key not in KNOWN_CONTRACT_VIOLATIONS for m in msgs]
    fixed = sorted(KNOWN_CONTRACT_VIOLATIONS - set(found))
    lines = []
    if new:
        lines += ["contracts read or written outside io/:", *new]
    if fixed:
        lines += ["fixed, so remove from KNOWN_CONTRACT_VIOLATIONS in tests/test_layering.py:",
                  *[f"{f} -> {w}" for f, w in fixed]]
    assert not lines, "\n".join(lines)


CONTRACT_FUNCTIONS = [
    "read_participant_table", "write_participant_table", "read_bmff_table", "write_bmff_table",
    "read_diagnosis_table", "write_diagnoses", "read_withdrawals", "normalise_icd10",
    "read_sumstats", "write_gwas_ssf", "read_phewas_results", "write_phewas_results",
    "read_mr_results", "write_mr_results", "read_gene_results", "write_gene_results",
    "read_gene_set_results", "write_gene_set_results",
]
# Readers/writers not yet in io/ (issue 12, being added): may only shrink.
PENDING_IN_IO: set[str] = set()  # all defined in io/


@pytest.mark.parametrize("name", CONTRACT_FUNCTIONS)
def test_contract_functions_are_defined_once_in_io(name):
    """Each reader/writer named in docs/architecture.md is defined exactly once under io/."""
    where = [p.relative_to(ROOT).as_posix() for p in sorted((PACKAGE / "io").rglob("*.py"))
             if re.search(rf"^def {name}\(", p.read_text(), re.M)]
    if name in PENDING_IN_IO:
        assert not where, f"{name} is now in {where}: remove it from PENDING_IN_IO in tests/test_layering.py"
    else:
        assert len(where) == 1, f"{name} must be defined once under bma_genetics/io/, found in {where}"

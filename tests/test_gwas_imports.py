"""Module boundaries: the GWAS uses the data layer's public API; tests share helpers, not test modules."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _imports_from(path: Path) -> list[tuple[str, list[str]]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return [(node.module or "", [a.name for a in node.names]) for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.level == 0]


def test_gwas_uses_the_public_io_api():
    """``bma_genetics.gwas`` imports the UK Biobank data layer only as ``from bma_genetics.io import
    name`` with ``name`` in ``bma_genetics.io.__all__`` (no reach into its submodules)."""
    import bma_genetics.io as io

    used = []
    for path in sorted((ROOT / "bma_genetics" / "gwas").glob("*.py")):
        for module, names in _imports_from(path):
            if module == "bma_genetics.io" or module.startswith("bma_genetics.io."):
                assert module == "bma_genetics.io", f"{path.name} imports from {module}"
                assert set(names) <= set(io.__all__), f"{path.name}: {names} not public in bma_genetics.io"
                used += names
    # gwas reads the participants stage's table; it never rebuilds it
    assert {"read_participant_table", "read_bmff_table", "write_gwas_ssf"} <= set(used)
    assert "run_participants" not in used
    assert callable(io.run_participants) and io.ParticipantsResult.__name__ == "ParticipantsResult"


def test_tests_do_not_import_other_test_modules():
    """Shared test helpers live in ``tests/_*.py`` or ``conftest.py``, never in another test module."""
    for path in sorted((ROOT / "tests").glob("*.py")):
        for module, _ in _imports_from(path):
            assert not module.startswith("tests.test_"), f"{path.name} imports {module}"

"""The CLI's shape: help for every subcommand, one-line errors."""

from __future__ import annotations

import subprocess
import sys

from bma_genetics.cli import app, main


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bma_genetics.cli", *args], capture_output=True, text=True)


def test_help_lists_subcommands():
    res = _cli("--help")
    assert res.returncode == 0, res.stderr
    names = [c.name for c in app.registered_commands] + [g.name for g in app.registered_groups]
    for name in names:
        assert name in res.stdout


def test_every_subcommand_has_help():
    names = [c.name for c in app.registered_commands] + [g.name for g in app.registered_groups]
    assert "run" in names
    for name in names:
        assert main([name, "--help"]) == 0


def test_missing_config_is_one_line_error():
    res = _cli("run", "does/not/exist.yaml")
    assert res.returncode == 2
    assert res.stderr.strip().count("\n") == 0
    assert "does/not/exist.yaml" in res.stderr
    assert "Traceback" not in res.stderr

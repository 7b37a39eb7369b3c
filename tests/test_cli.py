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


def test_command_table_matches_what_each_module_registers():
    # main() imports only the module the table names for a command: a command missing from the
    # table would fall back to the whole application, a wrong entry would not be found at all
    import importlib

    import typer

    from bma_genetics.cli import COMMANDS

    for module, commands in COMMANDS.items():
        one = typer.Typer()
        importlib.import_module(module).register(one)
        names = [c.name for c in one.registered_commands] + [g.name for g in one.registered_groups]
        assert tuple(names) == commands, module
    every = [c.name for c in app.registered_commands] + [g.name for g in app.registered_groups]
    assert sorted(every) == sorted(c for cmds in COMMANDS.values() for c in cmds)


def test_a_shell_command_imports_only_its_own_stage():
    # `bma-genetics ldsc ...` from the shell paid ~1.5 s of CPU importing every stage's commands
    # (the GWAS engine, scipy.stats) before munging in a fraction of that
    code = ("import sys; from bma_genetics.cli import main; rc = main(['-v', 'ldsc', 'h2', '--help']); "
            "print(rc, 'bma_genetics.gwas.association' in sys.modules, 'bma_genetics.phewas.api' in sys.modules)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split()[-3:] == ["0", "False", "False"], res.stdout
    # an unknown command still gets click's message with the whole list
    bad = _cli("no-such-command")
    assert bad.returncode == 2 and "No such command" in bad.stderr

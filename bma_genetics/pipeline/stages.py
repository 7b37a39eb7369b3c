"""The registry of pipeline stages: name -> ``module:function``, and their declarations.

A stage function has the signature ``run(ctx: RunContext, params: dict) -> dict`` and returns
its summary (products and headline numbers), which the runner stores as ``summary.json`` in the
stage folder and shows in the report. The config's ``stages:`` mapping picks and orders them.

Each stage module declares, at its top, ``PARAMS`` (a list of :class:`bma_genetics._params.Param`:
the options of its config section) and ``REQUIRES`` (the upstream stages whose products it
reads; the runner adds them to a config that lacks them), and may declare ``AFTER`` (stages it
reads when the study has them, ordered before it but not added), ``REPORT_TABLES`` (patterns,
relative to its folder, of the aggregate tables the run report shows: never a table with a row
per participant; the report refuses any table with a participant-id column anyway) and
``WITHDRAWALS = True`` (it handles participants and removes the withdrawn: a changed
withdrawal list runs it again), ``HAIL = True`` (it starts Hail: the runner checks the Spark
setup before the first stage runs) and ``INPUTS`` (glob patterns, relative to the cohort, of the
cohort files it reads besides those its path-valued options name: their contents are part of
its completion key, see :mod:`bma_genetics.pipeline.runner`). Stage modules import only
light modules at their top, so that the runner can read every declaration, and check a whole
config, before any work starts.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from bma_genetics._params import Param

STAGES: dict[str, str] = {
    "reference": "bma_genetics.resources.stage:run",
    "cohort": "bma_genetics.pipeline.cohort_stage:run",
    "participants": "bma_genetics.io.stage:run",
    "images": "bma_genetics.simulate.stage:run",
    "phenotypes": "bma_genetics.phenotypes.stage:run",
    "head_images": "bma_genetics.simulate.head_stage:run",
    "calvarial": "bma_genetics.calvarial.stage:run",
    "gwas": "bma_genetics.gwas.stage:run",
    "heritability": "bma_genetics.heritability.stage:run",
    "finemap": "bma_genetics.finemap.stage:run",
    "enrichment": "bma_genetics.enrichment.stage:run",
    "phewas": "bma_genetics.phewas.stage:run",
    "mr": "bma_genetics.mr.stage:run",
    "prs": "bma_genetics.prs.stage:run",
}


@dataclass(frozen=True)
class StageSpec:
    """A stage's declarations, read from its module.

    Attributes
    ----------
    name : str
        The stage's name in a config's ``stages:``.
    params : list of Param
        Its options (``PARAMS``).
    requires : list of str
        Upstream stages whose products it reads (``REQUIRES``), added when absent.
    after : list of str
        Stages it reads when present (``AFTER``), ordered before it but never added.
    report_tables : list of str
        Glob patterns of the aggregate tables the run report shows (``REPORT_TABLES``).
    run : callable or None
        ``run(ctx, params) -> dict``; ``None`` when the stage is not part of this version.
    withdrawals : bool
        The stage handles participant-level data and removes the run's withdrawn participants
        (``WITHDRAWALS = True``): its completion key covers the withdrawn set, so a new
        withdrawal runs it again.
    inputs : list of str
        Glob patterns, relative to the cohort directory, of the cohort files it reads besides
        those named by its path-valued options (``INPUTS``); their fingerprints are part of its
        completion key.
    hail : bool
        The stage starts Hail (``HAIL = True``): before such a stage runs, the runner checks the
        ``hail:`` settings (Spark master answering, Hail's jar, Java) in seconds.
    """

    name: str
    params: list[Param] = field(default_factory=list)
    requires: list[str] = field(default_factory=list)
    after: list[str] = field(default_factory=list)
    report_tables: list[str] = field(default_factory=list)
    run: Callable[..., dict[str, Any]] | None = None
    withdrawals: bool = False
    inputs: list[str] = field(default_factory=list)
    hail: bool = False


def _module(name: str) -> tuple[ModuleType | None, str]:
    from bma_genetics._params import unknown_key_message
    from bma_genetics.errors import InputError

    if name not in STAGES:
        raise InputError(unknown_key_message("pipeline/stages", name, list(STAGES), what="stage"))
    module_name, func = STAGES[name].split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and (module_name == exc.name or module_name.startswith(exc.name + ".")):
            return None, func
        raise
    return module, func


def spec(name: str) -> StageSpec:
    """The declarations of stage ``name``; an :class:`InputError` naming the closest stage for an
    unknown name."""
    module, func = _module(name)
    if module is None:
        return StageSpec(name)
    owner: Any = module  # "module:Class.run" reads the declarations from the class
    for part in func.split(".")[:-1]:
        owner = getattr(owner, part)
    return StageSpec(
        name,
        params=list(getattr(owner, "PARAMS", [])),
        requires=list(getattr(owner, "REQUIRES", [])),
        after=list(getattr(owner, "AFTER", [])),
        report_tables=list(getattr(owner, "REPORT_TABLES", [])),
        run=getattr(owner, func.split(".")[-1]),
        withdrawals=bool(getattr(owner, "WITHDRAWALS", False)),
        inputs=list(getattr(owner, "INPUTS", [])),
        hail=bool(getattr(owner, "HAIL", False)),
    )


def resolve(name: str) -> Callable[..., dict[str, Any]] | None:
    """Import a stage's function, or ``None`` when that stage is not part of this version."""
    return spec(name).run

"""The result protocol every stage API returns (statsmodels' Results habit, kept small).

A stage job (``run_*``) returns a :class:`StageResult` subclass: its canonical table through
:meth:`StageResult.to_frame`, its headline numbers through :meth:`StageResult.summary` (plain
JSON-able values: what the runner stores as ``summary.json``) and the files it wrote in
:attr:`StageResult.files` (name -> path). Nothing rides in ``DataFrame.attrs``: pandas drops
attrs on most operations.

Subclasses are dataclasses that add their own fields (several tables, fitted objects); they
override :meth:`to_frame` to return the one table a user asks for first, and may extend
:meth:`summary`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd


@dataclass
class StageResult:
    """Base of every stage API's result.

    Attributes
    ----------
    table : DataFrame
        The canonical table of the job (``docs/conventions.md`` column names).
    files : dict of str to Path
        What the job wrote, by product name (``{"results": Path(...), "figures/qq": ...}``);
        empty when it wrote nothing (``out=None``).
    report : dict
        Headline numbers and settings (JSON-able), the body of :meth:`summary`.
    """

    table: pd.DataFrame
    files: dict[str, Path] = field(default_factory=dict)
    report: dict[str, Any] = field(default_factory=dict)

    def to_frame(self) -> pd.DataFrame:
        """The canonical table (a copy, so callers may modify it)."""
        return self.table.copy()

    def summary(self) -> dict[str, Any]:
        """Headline numbers and settings plus the files written (paths as strings)."""
        out = dict(self.report)
        if self.files:
            out["files"] = {k: str(v) for k, v in self.files.items()}
        return out

    def __iter__(self):  # pragma: no cover - guard against tuple-unpacking old call sites
        raise TypeError(
            f"{type(self).__name__} is a result object, not a tuple: use .to_frame(), .summary() "
            f"or its attributes ({', '.join(f.name for f in dataclasses.fields(self))})"
        )

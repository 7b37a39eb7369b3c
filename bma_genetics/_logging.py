"""Logging set-up for the CLI and the study runner (library code only calls ``getLogger``)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path


class _StderrHandler(logging.StreamHandler):
    """A stream handler that writes to whatever ``sys.stderr`` is at each record, so a CLI run
    in-process after another (a notebook, the tests' captured streams) never writes to a closed one."""

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # StreamHandler.__init__ assigns it
        pass


def configure(level: int = logging.INFO, log_file: str | Path | None = None) -> None:
    root = logging.getLogger("bma_genetics")
    root.setLevel(level)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S")
    if not any(isinstance(h, logging.StreamHandler) and getattr(h, "_bma", False) for h in root.handlers):
        h = _StderrHandler()
        h.setFormatter(fmt)
        h._bma = True  # type: ignore[attr-defined]
        root.addHandler(h)
    if log_file is not None:
        fh = logging.FileHandler(log_file)
        fh.setFormatter(fmt)
        root.addHandler(fh)

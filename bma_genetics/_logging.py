"""Logging set-up for the CLI and the study runner (library code only calls ``getLogger``)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path


def configure(level: int = logging.INFO, log_file: str | Path | None = None) -> None:
    root = logging.getLogger("bma_genetics")
    root.setLevel(level)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S")
    if not any(isinstance(h, logging.StreamHandler) and getattr(h, "_bma", False) for h in root.handlers):
        h = logging.StreamHandler(sys.stderr)
        h.setFormatter(fmt)
        h._bma = True  # type: ignore[attr-defined]
        root.addHandler(h)
    if log_file is not None:
        fh = logging.FileHandler(log_file)
        fh.setFormatter(fmt)
        root.addHandler(fh)

"""Saving figures: PNG + PDF side by side, each written atomically."""

from __future__ import annotations

import os
from pathlib import Path

from bma_genetics._atomic import atomic_path


def save_figure(fig, out: str | os.PathLike, *, dpi: int = 150, close: bool = False) -> list[Path]:
    """Save ``fig`` as ``out.png`` and ``out.pdf`` atomically; return both paths.

    ``out`` may carry a ``.png``/``.pdf`` suffix or none. ``close=True`` releases the figure.
    """
    out = Path(out)
    base = out.with_suffix("") if out.suffix in (".png", ".pdf") else out
    base.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    for ext in ("png", "pdf"):
        target = base.parent / f"{base.name}.{ext}"
        with atomic_path(target) as tmp:
            fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format=ext)
        paths.append(target)
    if close:
        import matplotlib.pyplot as plt

        plt.close(fig)
    return paths

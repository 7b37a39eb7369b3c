"""Saving figures: PNG + PDF side by side, each written atomically (:func:`save_figure`)."""

from __future__ import annotations

import os
from pathlib import Path

from bma_genetics._atomic import atomic_path
from bma_genetics._check import check_positive

#: Formats :func:`save_figure` writes, in this order.
FIGURE_FORMATS = ("png", "pdf")


def save_figure(fig, stem: str | os.PathLike, *, dpi: int = 150, close: bool = False) -> list[Path]:
    """Save a figure as ``stem.png`` and ``stem.pdf``, each written atomically.

    Every figure the package writes goes through this function (stages, CLIs, the pipeline);
    in a notebook, figures are shown inline and saved only when asked.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure (e.g. returned by any ``plot_*``).
    stem : str or os.PathLike
        Path without extension; a ``.png`` or ``.pdf`` suffix is dropped. Missing folders are
        created.
    dpi : int, default=150
        Resolution of the PNG (and of the rasterised points in the PDF).
    close : bool, default=False
        Release the figure (``pyplot.close``) after saving: for batch drawing.

    Returns
    -------
    list of Path
        ``[stem.png, stem.pdf]``.

    Examples
    --------
    >>> import tempfile
    >>> import matplotlib.pyplot as plt
    >>> fig, ax = plt.subplots()
    >>> [p.name for p in save_figure(fig, Path(tempfile.mkdtemp()) / "empty", close=True)]
    ['empty.png', 'empty.pdf']
    """
    check_positive("save_figure/dpi", dpi)
    out = Path(stem)
    base = out.with_suffix("") if out.suffix in (".png", ".pdf") else out
    base.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    for ext in FIGURE_FORMATS:
        target = base.parent / f"{base.name}.{ext}"
        with atomic_path(target) as tmp:
            fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format=ext)
        paths.append(target)
    if close:
        import matplotlib.pyplot as plt

        plt.close(fig)
    return paths

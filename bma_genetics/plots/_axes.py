"""Where a ``plot_*`` draws: into the axes it is given, or into a new figure."""

from __future__ import annotations

from typing import Any

import numpy as np

from bma_genetics._check import fail


def figure_and_axes(ax, where: str, **subplots_kw: Any):
    """``(fig, ax, created)``: ``ax``'s figure, or a new figure with one axes (``created=True``).

    A function that created the figure may lay it out (``tight_layout``); one that was given
    axes leaves the caller's layout alone.
    """
    if ax is None:
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(**subplots_kw)
        return fig, ax, True
    if not hasattr(ax, "figure") or not hasattr(ax, "plot"):
        raise fail(where, f"expected a matplotlib Axes, found {type(ax).__name__}")
    return ax.figure, ax, False


def figure_and_axes_grid(axes, n: int, where: str, **subplots_kw: Any):
    """``(fig, flat_axes, created)`` for a multi-panel plot: the ``n`` given axes (any container
    or shape, read in row order), or every axes of a new ``plt.subplots(**subplots_kw)`` figure
    (``created=True``; panels past ``n`` are the caller's to hide)."""
    if axes is None:
        import matplotlib.pyplot as plt

        fig, grid = plt.subplots(squeeze=False, **subplots_kw)
        return fig, list(grid.ravel()), True
    flat = list(np.asarray(axes, dtype=object).ravel())
    if len(flat) != n or not all(hasattr(a, "figure") and hasattr(a, "plot") for a in flat):
        raise fail(where, f"expected {n} matplotlib Axes, found {len(flat)} object(s)")
    return flat[0].figure, flat, False

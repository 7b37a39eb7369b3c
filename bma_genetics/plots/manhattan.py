"""Manhattan plots: one trait, stacked traits, Miami (two strata mirrored).

Input: GWAS-SSF tables (``chromosome, base_pair_location, p_value`` and, when present,
``neg_log_10_p_value`` which keeps P below 1e-300). Points are rasterised (vector axes and text,
bitmap points) so a 10-million-variant PDF stays small.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from bma_genetics._check import check_columns, fail
from bma_genetics.plots._axes import figure_and_axes, figure_and_axes_grid
from bma_genetics.plots._columns import neg_log10_p_values
from bma_genetics.stats import chromosome_rank

COLOURS = ("#1f4e79", "#7fa7cf")
GENOME_WIDE = 5e-8


def _check_sumstats(where: str, ss: pd.DataFrame) -> None:
    check_columns(where, ss, ["chromosome", "base_pair_location"])
    if "p_value" not in ss.columns and "neg_log_10_p_value" not in ss.columns:
        raise fail(where, f"needs p_value or neg_log_10_p_value; it has {list(ss.columns)[:20]}")


def genome_coordinates(ss: pd.DataFrame, *, gap: float = 0.02) -> tuple[pd.DataFrame, dict[str, float]]:
    """Cumulative x positions (chromosomes in order, a small gap between them) and tick centres."""
    d = ss.assign(_rank=ss["chromosome"].map(chromosome_rank), _chr=ss["chromosome"].astype(str))
    d = d.sort_values(["_rank", "base_pair_location"])
    spans = d.groupby("_chr", sort=False)["base_pair_location"].agg(["min", "max"])
    spans = spans.loc[sorted(spans.index, key=chromosome_rank)]
    total = float((spans["max"] - spans["min"]).sum()) or 1.0
    offset, offsets, ticks = 0.0, {}, {}
    for c, row in spans.iterrows():
        offsets[c] = offset - row["min"]
        ticks[c] = offset + (row["max"] - row["min"]) / 2
        offset += (row["max"] - row["min"]) + gap * total
    d["_x"] = d["base_pair_location"] + d["_chr"].map(offsets)
    return d, ticks


def _draw(ax, ss: pd.DataFrame, *, sign: float = 1.0, threshold: float = GENOME_WIDE,
          labels: pd.DataFrame | None = None, ymax: float | None = None):
    d, ticks = genome_coordinates(ss)
    y = neg_log10_p_values(d)
    ok = np.isfinite(y)
    chrom_index = d["_rank"].rank(method="dense").to_numpy().astype(int)
    colours = np.where(chrom_index % 2 == 1, COLOURS[0], COLOURS[1])
    sig = ok & (y >= -np.log10(threshold))
    ax.scatter(d["_x"].to_numpy()[ok & ~sig], sign * y[ok & ~sig], c=colours[ok & ~sig], s=3, lw=0, rasterized=True)
    ax.scatter(d["_x"].to_numpy()[sig], sign * y[sig], c="#c0392b", s=5, lw=0, rasterized=True)
    ax.axhline(sign * -np.log10(threshold), color="#c0392b", lw=0.8, ls="--")
    ax.set_xticks(list(ticks.values()))
    ax.set_xticklabels(list(ticks), fontsize=7)
    ax.set_xlim(d["_x"].min() - 0.01 * np.ptp(d["_x"]), d["_x"].max() + 0.01 * np.ptp(d["_x"]))
    top = ymax or max(float(np.nanmax(y[ok])) if ok.any() else 1.0, -np.log10(threshold)) * 1.12
    ax.set_ylim((0, top) if sign > 0 else (-top, 0))
    ax.spines[["top", "right"]].set_visible(False)
    if labels is not None and len(labels):
        if "locus" in labels.columns:  # one label per locus: its strongest lead
            labels = labels.sort_values("neg_log_10_p_value", ascending=False).drop_duplicates("locus")
        xmap = dict(zip(zip(d["_chr"], d["base_pair_location"], strict=True), d["_x"], strict=True))
        for rec in labels.itertuples(index=False):
            x = xmap.get((str(rec.chromosome), int(rec.base_pair_location)))
            if x is None or not getattr(rec, "nearest_gene", None):
                continue
            yv = float(rec.neg_log_10_p_value)
            ax.annotate(str(rec.nearest_gene), (x, sign * yv), xytext=(0, 6 * sign), textcoords="offset points",
                        ha="center", va="bottom" if sign > 0 else "top", fontsize=7, fontstyle="italic")
    return ax


def plot_manhattan(
    sumstats: pd.DataFrame,
    *,
    ax=None,
    title: str | None = None,
    leads: pd.DataFrame | None = None,
    threshold: float = GENOME_WIDE,
    figsize: tuple[float, float] = (10, 3.6),
):
    """Manhattan plot of one result set, loci labelled with their gene.

    Parameters
    ----------
    sumstats : DataFrame
        ``chromosome, base_pair_location, p_value`` (``neg_log_10_p_value`` used when present).
    ax : matplotlib.axes.Axes, optional
        Draw into these axes; default a new figure of ``figsize``.
    title : str, optional
    leads : DataFrame, optional
        ``chromosome, base_pair_location, neg_log_10_p_value, nearest_gene`` (e.g. the lead
        table of :func:`bma_genetics.gwas.find_loci`): labels, one per ``locus`` when present.
    threshold : float, default=5e-8
        P of the dashed significance line; points above it are red.
    figsize : tuple of float, default=(10, 3.6)
        Size of a new figure.

    Returns
    -------
    matplotlib.figure.Figure
    """
    _check_sumstats("plot_manhattan/sumstats", sumstats)
    fig, ax, _ = figure_and_axes(ax, "plot_manhattan/ax", figsize=figsize, layout="constrained")
    _draw(ax, sumstats, threshold=threshold, labels=leads)
    ax.set_xlabel("chromosome")
    ax.set_ylabel(r"$-\log_{10}P$")
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def plot_manhattan_stacked(
    sumstats: dict[str, pd.DataFrame],
    *,
    axes=None,
    leads: dict[str, pd.DataFrame] | None = None,
    threshold: float = GENOME_WIDE,
    panel_height: float = 2.0,
):
    """One Manhattan panel per trait, sharing the genome axis.

    Parameters
    ----------
    sumstats : dict of str to DataFrame
        Result sets by name (columns as :func:`plot_manhattan`), one panel each, in order.
    axes : sequence of matplotlib.axes.Axes, optional
        One axes per result set; default a new figure, panels stacked.
    leads : dict of str to DataFrame, optional
        Lead tables by result-set name (see :func:`plot_manhattan`).
    threshold : float, default=5e-8
    panel_height : float, default=2.0
        Inches per panel of a new figure.

    Returns
    -------
    matplotlib.figure.Figure
    """
    names = list(sumstats)
    for name in names:
        _check_sumstats(f"plot_manhattan_stacked/sumstats[{name!r}]", sumstats[name])
    fig, flat, _ = figure_and_axes_grid(axes, len(names), "plot_manhattan_stacked/axes", nrows=len(names), ncols=1,
                                        figsize=(10, panel_height * len(names) + 0.6), sharex=True,
                                        layout="constrained")
    for ax, name in zip(flat, names, strict=True):
        _draw(ax, sumstats[name], threshold=threshold, labels=(leads or {}).get(name))
        ax.set_ylabel(f"{name}\n" + r"$-\log_{10}P$", fontsize=8)
    if flat:
        flat[-1].set_xlabel("chromosome")
    return fig


def plot_miami(
    top: pd.DataFrame,
    bottom: pd.DataFrame,
    *,
    axes=None,
    labels: Sequence[str] = ("female", "male"),
    leads: Sequence[pd.DataFrame | None] = (None, None),
    threshold: float = GENOME_WIDE,
    title: str | None = None,
):
    """Miami plot: two result sets (e.g. the sex strata) mirrored around the genome axis.

    Parameters
    ----------
    top, bottom : DataFrame
        Result sets drawn upwards and downwards (columns as :func:`plot_manhattan`).
    axes : pair of matplotlib.axes.Axes, optional
        Upper and lower axes; default a new figure.
    labels : pair of str, default=("female", "male")
        Y-axis labels of the two halves.
    leads : pair of DataFrame or None, default=(None, None)
        Lead tables labelling each half.
    threshold : float, default=5e-8
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    _check_sumstats("plot_miami/top", top)
    _check_sumstats("plot_miami/bottom", bottom)
    ys = [neg_log10_p_values(t) for t in (top, bottom)]
    ymax = max(float(np.max(y[np.isfinite(y)], initial=1.0)) for y in ys)
    ymax = max(ymax, -np.log10(threshold)) * 1.12
    fig, (a1, a2), _ = figure_and_axes_grid(axes, 2, "plot_miami/axes", nrows=2, ncols=1, figsize=(10, 5.5),
                                            sharex=True, layout="constrained")
    _draw(a1, top, threshold=threshold, labels=leads[0], ymax=ymax)
    _draw(a2, bottom, sign=-1.0, threshold=threshold, labels=leads[1], ymax=ymax)
    a1.set_ylabel(f"{labels[0]}\n" + r"$-\log_{10}P$")
    a2.set_ylabel(f"{labels[1]}\n" + r"$-\log_{10}P$")
    a2.yaxis.set_major_formatter(lambda v, _pos: f"{abs(v):g}")
    a1.tick_params(labelbottom=False)
    a2.set_xlabel("chromosome")
    if title:
        a1.set_title(title, fontsize=10)
    return fig

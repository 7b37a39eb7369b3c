"""Regional association plot: -log10 P around a lead variant, coloured by LD r^2 with it, an
optional fine-mapping track (PIPs, credible sets coloured) and a gene track below (LocusZoom's
layout)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bma_genetics._check import check_columns
from bma_genetics.plots._axes import figure_and_axes_grid
from bma_genetics.plots._columns import neg_log10_p_values

LD_BINS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0001)
LD_COLOURS = ("#1f3b73", "#6bb3d6", "#3ca03c", "#f0a030", "#d62728")


def plot_regional(
    sumstats: pd.DataFrame,
    *,
    chromosome: str,
    position: int,
    axes=None,
    r2: np.ndarray | pd.Series | None = None,
    genes: pd.DataFrame | None = None,
    window_kb: float = 250,
    title: str | None = None,
    max_gene_rows: int = 6,
    pip: np.ndarray | pd.Series | None = None,
    credible_set: np.ndarray | pd.Series | None = None,
):
    """Regional plot of ``sumstats`` within ``window_kb`` of ``chromosome:position``.

    Parameters
    ----------
    sumstats : DataFrame
        GWAS-SSF rows (``chromosome, base_pair_location, p_value``).
    chromosome : str
        Chromosome of the lead variant.
    position : int
        Base-pair position of the lead variant (drawn as a diamond).
    axes : sequence of matplotlib.axes.Axes, optional
        The association panel, the PIP track (only with ``pip``) and the gene track below;
        default a new figure.
    r2 : array, optional
        LD r^2 of each row of ``sumstats`` with the lead variant (e.g.
        ``bma_genetics.ld.ld_with(reader, lead, indices) ** 2``); NaN = unknown (grey).
    genes : DataFrame, optional
        ``gene_name, chromosome, start, end, strand`` for the gene track.
    window_kb : float, default=250
        Half-width of the window.
    title : str, optional
    max_gene_rows : int, default=6
        Rows of the gene track; genes that do not fit are left out.
    pip : array, optional
        Posterior inclusion probability of each row of ``sumstats`` (fine-mapping, e.g. the
        finemap stage's ``pips.tsv.gz``); NaN where not fine-mapped. Adds a PIP track.
    credible_set : array of str, optional
        Each row's credible set (``"L1"``, ``"L2"``, ...; ``""`` for none): members are coloured
        by set in the PIP track and ringed in the association panel.

    Returns
    -------
    matplotlib.figure.Figure
    """
    check_columns("plot_regional/sumstats", sumstats, ["chromosome", "base_pair_location", "p_value"])
    chromosome = str(chromosome)
    lo, hi = position - window_kb * 1000, position + window_kb * 1000
    sel = (sumstats["chromosome"].astype(str) == chromosome) & sumstats["base_pair_location"].between(lo, hi)
    d = sumstats.loc[sel]
    y = neg_log10_p_values(d)
    x = d["base_pair_location"].to_numpy() / 1e6
    rr = np.asarray(r2, dtype=float)[sel.to_numpy()] if r2 is not None else np.full(len(d), np.nan)
    if pip is not None:
        fig, (ax, px, gx), _ = figure_and_axes_grid(axes, 3, "plot_regional/axes", nrows=3, ncols=1,
                                                    figsize=(7, 6.2), sharex=True, height_ratios=[3, 1.3, 1.2],
                                                    layout="constrained")
    else:
        fig, (ax, gx), _ = figure_and_axes_grid(axes, 2, "plot_regional/axes", nrows=2, ncols=1, figsize=(7, 5),
                                                sharex=True, height_ratios=[3, 1.2], layout="constrained")
        px = None
    unknown = ~np.isfinite(rr)
    ax.scatter(x[unknown], y[unknown], s=10, c="0.7", lw=0, rasterized=True, label="r² unknown")
    for i in range(len(LD_BINS) - 1):
        b = ~unknown & (rr >= LD_BINS[i]) & (rr < LD_BINS[i + 1])
        ax.scatter(x[b], y[b], s=12, c=LD_COLOURS[i], lw=0.2, edgecolors="k", rasterized=True,
                   label=f"{LD_BINS[i]:.1f}–{min(LD_BINS[i + 1], 1):.1f}")
    lead = d["base_pair_location"].to_numpy() == position
    if lead.any():
        ax.scatter(x[lead], y[lead], s=60, marker="D", c="#8e44ad", edgecolors="k", lw=0.6, zorder=5, label="lead")
    if px is not None:
        _pip_track(px, ax, x, y, np.asarray(pip, dtype=float)[sel.to_numpy()],
                   None if credible_set is None else np.asarray(credible_set, dtype=object)[sel.to_numpy()])
    ax.axhline(-np.log10(5e-8), color="#c0392b", ls="--", lw=0.8)
    ax.set_ylabel(r"$-\log_{10}P$")
    ax.legend(title="r² with lead", fontsize=6, title_fontsize=7, frameon=False, loc="upper right", ncol=2)
    ax.spines[["top", "right"]].set_visible(False)
    if title:
        ax.set_title(title, fontsize=10)
    gx.set_yticks([])
    gx.spines[["top", "right", "left"]].set_visible(False)
    if genes is not None:
        g = genes[(genes["chromosome"].astype(str) == chromosome) & (genes["end"] >= lo) & (genes["start"] <= hi)]
        g = g.sort_values("start")
        row_end: list[float] = []
        for rec in g.itertuples(index=False):
            s, e = max(rec.start, lo) / 1e6, min(rec.end, hi) / 1e6
            row = next((i for i, end in enumerate(row_end) if s > end + 0.02 * (hi - lo) / 1e6), None)
            if row is None:
                if len(row_end) >= max_gene_rows:
                    continue
                row_end.append(e)
                row = len(row_end) - 1
            row_end[row] = e + 0.08 * (hi - lo) / 1e6
            gx.plot([s, e], [-row, -row], color="#34495e", lw=3, solid_capstyle="butt")
            arrow = "→" if getattr(rec, "strand", "+") == "+" else "←"
            gx.text((s + e) / 2, -row - 0.35, f"{rec.gene_name} {arrow}", ha="center", va="top", fontsize=6,
                    fontstyle="italic")
        gx.set_ylim(-max(len(row_end), 1) - 0.2, 0.6)
    gx.set_xlim(lo / 1e6, hi / 1e6)
    gx.set_xlabel(f"chromosome {chromosome} position (Mb, GRCh37)")
    return fig


CS_COLOURS = ("#e41a1c", "#377eb8", "#4daf4a", "#984ea3", "#ff7f00", "#a65628", "#f781bf", "#999999")


def _pip_track(px, ax, x: np.ndarray, y: np.ndarray, pip: np.ndarray, cs: np.ndarray | None) -> None:
    """PIPs as stems, credible-set members coloured by set (and ringed in the association panel)."""
    ok = np.isfinite(pip)
    px.vlines(x[ok], 0, pip[ok], color="0.6", lw=0.6)
    px.scatter(x[ok], pip[ok], s=8, c="0.5", lw=0, zorder=3)
    if cs is not None:
        labels = [c for c in dict.fromkeys(str(v) for v in cs if isinstance(v, str) and v) if c != "nan"]
        for k, label in enumerate(labels):
            m = np.array([str(v) == label for v in cs]) & ok
            colour = CS_COLOURS[k % len(CS_COLOURS)]
            px.scatter(x[m], pip[m], s=22, c=colour, edgecolors="k", lw=0.4, zorder=4,
                       label=f"{label} ({int(m.sum())})")
            ax.scatter(x[m], y[m], s=45, facecolors="none", edgecolors=colour, lw=1.0, zorder=6)
        if labels:
            px.legend(title="95 % credible sets", fontsize=6, title_fontsize=7, frameon=False, loc="upper right",
                      ncol=min(len(labels), 4))
    px.set_ylim(-0.03, 1.08)
    px.set_ylabel("PIP")
    px.spines[["top", "right"]].set_visible(False)

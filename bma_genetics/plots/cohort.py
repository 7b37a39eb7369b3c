"""Cohort description figures."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def plot_bmff_by_age_sex(data: pd.DataFrame, traits: list[str], *, bins: int = 8):
    """BMFF against age at imaging, women and men separately (binned means +- 95 % CI).

    ``data`` needs ``age``, ``sex`` (0 female, 1 male) and the ``traits`` columns (fat fraction).
    """
    ncol = min(4, len(traits))
    nrow = int(np.ceil(len(traits) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.2 * ncol, 2.8 * nrow), squeeze=False, sharex=True)
    edges = np.quantile(data["age"].dropna(), np.linspace(0, 1, bins + 1))
    for ax, t in zip(axes.flat, traits, strict=False):
        for sex, colour, label in ((0, "#c0392b", "women"), (1, "#2471a3", "men")):
            d = data.loc[data["sex"] == sex, ["age", t]].dropna()
            if d.empty:
                continue
            grp = d.groupby(pd.cut(d["age"], edges, include_lowest=True), observed=True)[t]
            mid = [iv.mid for iv in grp.mean().index]
            mean, se = grp.mean().to_numpy(), (grp.std() / np.sqrt(grp.count())).to_numpy()
            ax.errorbar(mid, 100 * mean, yerr=196 * se, color=colour, marker="o", ms=3, lw=1, capsize=2, label=label)
        ax.set_title(t.removeprefix("bmff_").replace("_", " "), fontsize=9)
        ax.set_xlabel("age at imaging (years)", fontsize=8)
        ax.set_ylabel("BMFF (%)", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(traits):]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return fig

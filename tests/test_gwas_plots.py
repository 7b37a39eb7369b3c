"""GWAS figures render (PNG + PDF, non-empty, expected size, no warnings)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats


@pytest.fixture(scope="module")
def ss():
    rng = np.random.default_rng(0)
    rows = []
    for c in ["1", "2", "3", "X"]:
        n = 800
        pos = np.sort(rng.integers(1, 50_000_000, n))
        p = rng.uniform(size=n)
        if c == "2":
            hit = np.abs(pos - 20_000_000) < 300_000
            p[hit] = 10 ** -rng.uniform(8, 20, hit.sum())
        rows.append(pd.DataFrame({"chromosome": c, "base_pair_location": pos, "p_value": p}))
    d = pd.concat(rows, ignore_index=True)
    d["neg_log_10_p_value"] = -np.log10(d["p_value"])
    d.loc[0, "p_value"] = 0.0  # underflowed P: drawn from -log10 P
    d.loc[0, "neg_log_10_p_value"] = 320.0
    return d


def _check(fig, tmp_path, name, min_w=600):
    from bma_genetics.plots import save_figure

    paths = save_figure(fig, tmp_path / name)
    assert [p.suffix for p in paths] == [".png", ".pdf"]
    assert all(p.stat().st_size > 2000 for p in paths)
    import matplotlib.image as mpimg

    assert mpimg.imread(paths[0]).shape[1] >= min_w


def test_manhattan_miami_stacked_qq_regional(ss, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from bma_genetics.plots.manhattan import plot_manhattan, plot_manhattan_stacked, plot_miami
    from bma_genetics.plots.qq import plot_qq
    from bma_genetics.plots.regional import plot_regional

    lead = ss.loc[[ss.loc[ss.chromosome == "2", "neg_log_10_p_value"].idxmax()]].assign(nearest_gene="GENE2")
    genes = pd.DataFrame({"gene_name": ["GENE2", "OTHER"], "chromosome": ["2", "2"], "start": [19_900_000, 20_100_000],
                          "end": [20_050_000, 20_200_000], "strand": ["+", "-"]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _check(plot_manhattan(ss, title="t", leads=lead), tmp_path, "m")
        _check(plot_miami(ss, ss.assign(neg_log_10_p_value=ss.neg_log_10_p_value / 2)), tmp_path, "miami")
        _check(plot_manhattan_stacked({"a": ss, "b": ss}, leads={"a": lead}), tmp_path, "stack")
        _check(plot_qq({"a": ss, "b": ss.assign(p_value=stats.uniform.rvs(size=len(ss), random_state=1))}),
               tmp_path, "qq", min_w=400)
        pos = int(lead["base_pair_location"].iloc[0])
        r2 = np.exp(-np.abs(ss["base_pair_location"] - pos) / 1e5).where(ss.chromosome == "2")
        _check(plot_regional(ss, chromosome="2", position=pos, r2=r2, genes=genes), tmp_path, "regional", min_w=500)


def test_figure_workers_only_where_a_spawned_child_cannot_rerun_a_script(monkeypatch, tmp_path):
    # a spawned worker re-imports a main script: a user's unguarded script would run again in it
    import sys
    import types

    from bma_genetics.gwas import figures

    monkeypatch.setattr(figures.os, "sched_getaffinity", lambda _pid: {0, 1}, raising=False)
    script = types.ModuleType("__main__")
    script.__file__ = str(tmp_path / "my_gwas.py")
    script.__spec__ = None
    monkeypatch.setitem(sys.modules, "__main__", script)
    assert figures._figure_workers(44) == 1
    script.__file__ = str(tmp_path / "bma-genetics")  # our console script (guarded)
    assert figures._figure_workers(44) == 2
    assert figures._figure_workers(3) == 1  # few sets: not worth starting workers
    del script.__file__  # Jupyter, python -c
    assert figures._figure_workers(44) == 2

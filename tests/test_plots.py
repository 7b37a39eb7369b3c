"""Every public plot draws into given axes and returns its Figure; importing the plots selects
no matplotlib backend; one save_figure writes PNG + PDF."""

from __future__ import annotations

import ast
import inspect
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import bma_genetics.plots as plots
from bma_genetics.errors import InputError

ROOT = Path(__file__).resolve().parents[1]
PUBLIC_PLOTS = sorted(n for n in plots.__all__ if n.startswith("plot_"))


# --------------------------------------------------------------------------- small inputs
def _sumstats(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for c in ("1", "2", "X"):
        pos = np.sort(rng.integers(1, 5_000_000, 200))
        rows.append(pd.DataFrame({"chromosome": c, "base_pair_location": pos, "p_value": rng.uniform(size=200)}))
    d = pd.concat(rows, ignore_index=True)
    d.loc[10, "p_value"] = 1e-12
    d["neg_log_10_p_value"] = -np.log10(d["p_value"])
    return d


def _mr_tables():
    rng = np.random.default_rng(1)
    bx = rng.uniform(0.05, 0.2, 8)
    h = pd.DataFrame({"snp": [f"rs{i}" for i in range(8)], "exposure": "bmff", "outcome": "osteoporosis",
                      "beta_exposure": bx, "standard_error_exposure": 0.01,
                      "beta_outcome": 0.3 * bx + rng.normal(0, 0.01, 8),
                      "standard_error_outcome": 0.02, "mr_keep": True})
    res = pd.DataFrame({"exposure": "bmff", "outcome": "osteoporosis", "method": ["ivw", "egger", "weighted_median"],
                        "beta": [0.3, 0.28, 0.31], "ci_lower": [0.2, 0.1, 0.2], "ci_upper": [0.4, 0.46, 0.42],
                        "egger_intercept": [np.nan, 0.0125, np.nan]})
    single = pd.DataFrame({"snp": [*h["snp"], "All - Inverse variance weighted", "All - MR Egger"],
                           "beta": np.r_[h["beta_outcome"] / bx, 0.3, 0.28], "standard_error": 0.05})
    single["ci_lower"], single["ci_upper"] = single["beta"] - 0.1, single["beta"] + 0.1
    loo = single.iloc[:8].assign(snp=h["snp"]).copy()
    loo = pd.concat([loo, pd.DataFrame({"snp": ["All"], "beta": [0.3], "ci_lower": [0.2], "ci_upper": [0.4],
                                        "standard_error": [0.05]})], ignore_index=True)
    return h, res, single, loo


def _phewas() -> pd.DataFrame:
    rng = np.random.default_rng(2)
    n = 40
    d = pd.DataFrame({"exposure": np.repeat(["bmff_spine", "bmff_hip"], n // 2),
                      "phecode": [f"TT_{100 + i % 20}.1" for i in range(n)],
                      "phecode_string": [f"Disease {i % 20}" for i in range(n)],
                      "category": [f"cat{i % 4}" for i in range(n)], "beta": rng.normal(size=n),
                      "p_value": rng.uniform(size=n) ** 2})
    d["odds_ratio"] = np.exp(d["beta"] * 0.1)
    # interval under both the old and the shared-vocabulary names
    d["ci_low"] = d["ci_lower"] = d["odds_ratio"] * 0.8
    d["ci_high"] = d["ci_upper"] = d["odds_ratio"] * 1.25
    return d


def _cases():
    """name -> (call(ax_or_axes) -> Figure, number of panels or None for a single ``ax``)."""
    ss = _sumstats()
    h, res, single, loo = _mr_tables()
    ph = _phewas()
    rng = np.random.default_rng(3)
    bm = pd.DataFrame({"eid": [str(i) for i in range(60)], "bmff_a": rng.uniform(0.3, 0.7, 60),
                       "bmff_b": rng.uniform(0.3, 0.7, 60), "age": rng.uniform(45, 80, 60),
                       "sex": rng.integers(0, 2, 60)})
    truth = bm[["eid", "bmff_a", "bmff_b"]].assign(bmff_a=lambda d: d.bmff_a + 0.01, bmff_b=lambda d: d.bmff_b - 0.01)
    genes = pd.DataFrame({"gene_name": [f"G{i}" for i in range(30)], "chromosome": np.repeat(["1", "2", "X"], 10),
                          "start": np.tile(np.arange(10) * 1e6, 3), "end": np.tile(np.arange(10) * 1e6 + 5e4, 3),
                          "p_value": rng.uniform(size=30), "strand": "+"})
    sets = pd.DataFrame({"set_id": [f"S{i}" for i in range(8)], "set_name": [f"set {i}" for i in range(8)],
                         "n_genes": rng.integers(5, 50, 8), "p_value": rng.uniform(size=8) ** 3})
    sets["fdr"] = np.minimum(1, sets["p_value"] * 8)
    h2 = pd.DataFrame({"trait": ["a", "b"], "h2": [0.3, -0.02], "h2_standard_error": [0.05, 0.04]})
    rg = pd.DataFrame({"trait_1": ["a"], "trait_2": ["b"], "rg": [0.4], "phenotypic_correlation": [0.2]})
    forest = pd.DataFrame({"label": ["a", "b"], "estimate": [1.1, 0.9], "ci_low": [1.0, 0.8], "ci_high": [1.2, 1.0]})
    lead = int(ss.loc[10, "base_pair_location"])
    mv = pd.DataFrame({"exposure": np.repeat(["bmff", "bmd"], 3), "outcome": "osteoporosis",
                       "method": ["mvmr_ivw", "mvmr_egger", "ivw"] * 2, "beta": [0.4, 0.45, 0.1, -0.5, -0.4, -0.7],
                       "ci_lower": [0.3, 0.2, 0.0, -0.6, -0.7, -0.8], "ci_upper": [0.5, 0.7, 0.2, -0.4, -0.1, -0.6],
                       "conditional_f": [25.0, 25.0, np.nan, 80.0, 80.0, np.nan]})
    km = pd.DataFrame({"group": np.repeat(["T1", "T2"], 4), "time": np.tile([1.0, 2, 3, 4], 2),
                       "cumulative_incidence": [0.01, 0.02, 0.03, 0.04, 0.02, 0.04, 0.05, 0.07]})
    km["ci_lower"], km["ci_upper"] = km["cumulative_incidence"] * 0.5, km["cumulative_incidence"] * 1.5
    risk = pd.DataFrame({"group": np.repeat(["T1", "T2"], 3), "time": np.tile([0.0, 2, 4], 2),
                         "n_at_risk": [100, 90, 80, 100, 85, 70]})
    hrs = pd.DataFrame({"model": ["per_sd", "group", "group"], "group": [None, "T1", "T2"],
                        "hazard_ratio": [1.3, 1.0, 1.5], "ci_lower": [1.1, 1.0, 1.1], "ci_upper": [1.5, 1.0, 2.0]})
    prs_scores = pd.DataFrame({"score": rng.normal(size=200), "case": (rng.random(200) < 0.2).astype(float)})
    prs_results = pd.DataFrame({"trait": np.repeat(["a", "b"], 3), "method": ["ct", "ct", "prscs"] * 2,
                                "p_threshold": [1e-3, 1.0, np.nan] * 2, "auc_test": [0.55, 0.57, 0.6, 0.52, 0.54, 0.58]})
    calv = pd.DataFrame({"marrow_intensity": rng.uniform(50, 150, 30), "qc_pass": [True] * 28 + [False] * 2,
                         "failure": ["none"] * 28 + ["motion", "truncated"]})
    calv["calvarial_bma"] = 0.85 * calv["marrow_intensity"] + rng.normal(0, 3, 30)
    coloc = pd.DataFrame({"other": ["g1", "g2"], "pp_h0": [0.1, 0.5], "pp_h1": [0.1, 0.1], "pp_h2": [0.1, 0.1],
                          "pp_h3": [0.1, 0.1], "pp_h4": [0.6, 0.2]})
    return {
        "plot_score_distribution": (lambda a: plots.plot_score_distribution(prs_scores, score="score", case="case",
                                                                            ax=a), None),
        "plot_prs_performance": (lambda a: plots.plot_prs_performance(prs_results, ax=a), None),
        "plot_coloc": (lambda a: plots.plot_coloc(coloc, ax=a), None),
        "plot_cumulative_incidence": (lambda a: plots.plot_cumulative_incidence(km, risk, axes=a), 2),
        "plot_hazard_ratios": (lambda a: plots.plot_hazard_ratios(hrs, ax=a), None),
        "plot_bmff_by_age_sex": (lambda a: plots.plot_bmff_by_age_sex(bm, ["bmff_a", "bmff_b"], axes=a, bins=3), 2),
        "plot_bmff_vs_truth": (lambda a: plots.plot_bmff_vs_truth(bm, truth, traits=("bmff_a", "bmff_b"), axes=a), 2),
        "plot_calvarial_vs_truth": (lambda a: plots.plot_calvarial_vs_truth(calv, ax=a), None),
        "plot_forest": (lambda a: plots.plot_forest(forest, ax=a), None),
        "plot_gene_manhattan": (lambda a: plots.plot_gene_manhattan(genes, ax=a), None),
        "plot_h2": (lambda a: plots.plot_h2(h2, ax=a), None),
        "plot_rg_heatmap": (lambda a: plots.plot_rg_heatmap(rg, ax=a), None),
        "plot_manhattan": (lambda a: plots.plot_manhattan(ss, ax=a), None),
        "plot_manhattan_stacked": (lambda a: plots.plot_manhattan_stacked({"a": ss, "b": _sumstats(1)}, axes=a), 2),
        "plot_miami": (lambda a: plots.plot_miami(ss, _sumstats(1), axes=a), 2),
        "plot_mr_funnel": (lambda a: plots.plot_mr_funnel(single, ax=a), None),
        "plot_mr_leave_one_out": (lambda a: plots.plot_mr_leave_one_out(loo, ax=a), None),
        "plot_mr_scatter": (lambda a: plots.plot_mr_scatter(h, res, ax=a), None),
        "plot_mr_single_snp_forest": (lambda a: plots.plot_mr_single_snp_forest(single, ax=a), None),
        "plot_mr_summary_forest": (lambda a: plots.plot_mr_summary_forest(res, ax=a), None),
        "plot_mvmr_forest": (lambda a: plots.plot_mvmr_forest(mv, ax=a), None),
        "plot_phewas_forest": (lambda a: plots.plot_phewas_forest(ph, ax=a, n_top=4), None),
        "plot_phewas_manhattan": (lambda a: plots.plot_phewas_manhattan(ph[ph.exposure == "bmff_spine"], ax=a), None),
        "plot_qq": (lambda a: plots.plot_qq(ss, ax=a), None),
        "plot_regional": (lambda a: plots.plot_regional(ss, chromosome="1", position=lead, genes=genes, axes=a), 2),
        "plot_top_gene_sets": (lambda a: plots.plot_top_gene_sets(sets, ax=a), None),
    }


# --------------------------------------------------------------------------- the tests
def test_every_public_plot_is_covered_and_exported():
    modules = ["bmff", "calvarial", "cohort", "enrichment", "finemap", "forest", "heritability", "manhattan", "mr", "phewas",
               "prs", "qq", "regional", "survival"]
    defined = set()
    for m in modules:
        mod = __import__(f"bma_genetics.plots.{m}", fromlist=["_"])
        defined |= {n for n, f in vars(mod).items()
                    if n.startswith("plot_") and inspect.isfunction(f) and f.__module__ == mod.__name__}
    assert defined == set(PUBLIC_PLOTS), "every plot_* of bma_genetics.plots/* is exported by bma_genetics.plots"
    assert set(_cases()) == set(PUBLIC_PLOTS), "a new plot_* needs a case in tests/test_plots.py"
    assert "save_figure" in plots.__all__


@pytest.mark.parametrize("name", PUBLIC_PLOTS)
def test_plot_takes_ax_keyword_and_returns_a_figure(name):
    from matplotlib.figure import Figure

    sig = inspect.signature(getattr(plots, name))
    kw = "axes" if "axes" in sig.parameters else "ax"
    assert kw in sig.parameters and sig.parameters[kw].kind is inspect.Parameter.KEYWORD_ONLY
    assert sig.parameters[kw].default is None
    call, panels = _cases()[name]
    assert (kw == "axes") == (panels is not None)
    # default: a new figure
    fig = call(None)
    assert isinstance(fig, Figure) and fig.axes
    # given axes: drawn there, the caller's figure returned, nothing else created
    import matplotlib.pyplot as plt

    host, grid = plt.subplots(1, (panels or 1) + 1, figsize=(12, 4), squeeze=False)
    target = list(grid[0, :panels]) if panels else grid[0, 0]
    n_before = len(plt.get_fignums())
    got = call(target)
    assert got is host
    assert len(plt.get_fignums()) == n_before
    drawn = target if panels else [target]
    assert all(a.has_data() or a.texts or a.lines or not a.get_visible() for a in drawn)
    assert not grid[0, -1].has_data(), "a plot drew outside the axes it was given"


def test_plots_reject_a_wrong_ax():
    ss = _sumstats()
    with pytest.raises(InputError, match="plot_manhattan/ax"):
        plots.plot_manhattan(ss, ax="not axes")
    import matplotlib.pyplot as plt

    _, one = plt.subplots()
    with pytest.raises(InputError, match="plot_miami/axes: expected 2"):
        plots.plot_miami(ss, ss, axes=[one])


def test_plots_name_missing_columns():
    with pytest.raises(InputError, match="plot_qq/sumstats.*p_value"):
        plots.plot_qq(pd.DataFrame({"x": [1.0]}))
    with pytest.raises(InputError, match="plot_mr_scatter/results.*method"):
        plots.plot_mr_scatter(_mr_tables()[0], pd.DataFrame({"beta": [1.0]}))


def test_mr_scatter_reads_the_egger_intercept_from_the_results():
    h, res, _, _ = _mr_tables()
    fig = plots.plot_mr_scatter(h, res)
    egger = [ln for ln in fig.axes[0].lines if ln.get_label().startswith("egger")]
    assert len(egger) == 1
    x, y = egger[0].get_data()
    assert x[0] == 0 and y[0] == pytest.approx(0.0125)
    # without the column the line goes through the origin
    fig = plots.plot_mr_scatter(h, res.drop(columns="egger_intercept"))
    (egger,) = [ln for ln in fig.axes[0].lines if ln.get_label().startswith("egger")]
    assert egger.get_data()[1][0] == 0


def test_save_figure_writes_png_and_pdf_atomically(tmp_path):
    import matplotlib.pyplot as plt

    fig = plots.plot_qq(_sumstats())
    paths = plots.save_figure(fig, tmp_path / "sub" / "qq.png", dpi=72)
    assert paths == [tmp_path / "sub" / "qq.png", tmp_path / "sub" / "qq.pdf"]
    assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and paths[1].read_bytes()[:5] == b"%PDF-"
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["qq.pdf", "qq.png"]  # no temporary left
    assert plt.fignum_exists(fig.number)
    plots.save_figure(fig, tmp_path / "again", close=True)
    assert not plt.fignum_exists(fig.number)
    with pytest.raises(InputError, match="save_figure/dpi"):
        plots.save_figure(fig, tmp_path / "x", dpi=0)


def test_importing_the_plots_selects_no_backend():
    code = textwrap.dedent("""
        import matplotlib
        before = matplotlib.rcParams._get_backend_or_none()
        import bma_genetics.plots
        from bma_genetics.plots import bmff, cohort, enrichment, forest, manhattan, mr, phewas, qq, regional
        import bma_genetics.cli
        after = matplotlib.rcParams._get_backend_or_none()
        assert before is None and after is None, (before, after)
        matplotlib.use("svg")
        import importlib
        importlib.reload(bma_genetics.plots.mr)
        assert matplotlib.get_backend() == "svg", matplotlib.get_backend()
        print("ok")
    """)
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


def test_no_module_selects_a_backend_at_import():
    """``matplotlib.use`` may run inside a function of the command line only, never at import."""
    offenders = []
    for path in sorted((ROOT / "bma_genetics").rglob("*.py")):
        tree = ast.parse(path.read_text())
        in_function = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
                       for n in ast.walk(f)}
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "use"
                    and "matplotlib" in ast.unparse(node.func.value)):
                rel = path.relative_to(ROOT).as_posix()
                if id(node) not in in_function or rel.startswith("bma_genetics/plots/"):
                    offenders.append(f"{rel}:{node.lineno}")
    assert not offenders, offenders

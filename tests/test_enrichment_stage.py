"""Enrichment stage on the tiny cohort (in-sample BGEN LD), the CLI, the plots, and the
gene-set GLS against statsmodels."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats

from bma_genetics.enrichment import run_gene_property_analysis, run_gene_set_analysis
from bma_genetics.enrichment.gene_sets import Z_CORRELATION_FACTOR, _covariates
from bma_genetics.errors import InputError
from bma_genetics.stats import fdr_bh


def _toy_genes(n=60, seed=0):
    rng = np.random.default_rng(seed)
    genes = pd.DataFrame({
        "gene_id": [f"G{i}" for i in range(n)], "gene_name": [f"N{i}" for i in range(n)],
        "chromosome": "1", "start": np.arange(n) * 100_000, "end": np.arange(n) * 100_000 + 20_000,
        "nsnps": rng.integers(2, 60, n), "z": rng.standard_normal(n)})
    genes["nparam"] = genes["nsnps"] * rng.uniform(0.2, 1.0, n)
    corr = pd.DataFrame({"gene_id_1": genes.gene_id[:-1].to_numpy(), "gene_id_2": genes.gene_id[1:].to_numpy(),
                         "r": rng.uniform(0.0, 0.45, n - 1)})
    return genes, corr


def _dense_v(genes, corr):
    v = np.eye(len(genes))
    pos = {g: i for i, g in enumerate(genes.gene_id)}
    for a, b, r in zip(corr.gene_id_1, corr.gene_id_2, corr.r, strict=True):
        v[pos[a], pos[b]] = v[pos[b], pos[a]] = Z_CORRELATION_FACTOR * r
    return v


def test_competitive_gls_matches_statsmodels_gls_and_fdr_matches_bh():
    genes, corr = _toy_genes()
    sets = pd.DataFrame({"set_id": ["S1"] * 12 + ["S2"] * 15, "set_name": "x",
                         "gene_name": [f"N{i}" for i in range(0, 24, 2)] + [f"N{i}" for i in range(30, 45)]})
    res = run_gene_set_analysis(genes, sets, correlations=corr, min_size=5).set_index("set_id")
    v = _dense_v(genes, corr)
    cov = _covariates(genes)
    pvals = []
    for sid in ("S1", "S2"):
        member = genes.gene_name.isin(sets.loc[sets.set_id == sid, "gene_name"]).astype(float).to_numpy()
        x = np.column_stack([np.ones(len(genes)), cov, member])
        fit = sm.GLS(genes.z.to_numpy(), x, sigma=v).fit()
        assert res.loc[sid, "beta"] == pytest.approx(fit.params[-1], rel=1e-8)
        assert res.loc[sid, "standard_error"] == pytest.approx(fit.bse[-1], rel=1e-8)
        p_one = stats.t.sf(fit.tvalues[-1], fit.df_resid)
        assert res.loc[sid, "p_value"] == pytest.approx(p_one, rel=1e-8)
        # self-contained: GLS mean of the set's Z with known unit variance
        rows = np.flatnonzero(member)
        w = np.linalg.solve(v[np.ix_(rows, rows)], np.ones(rows.size))
        t = w @ genes.z.to_numpy()[rows] / np.sqrt(w.sum())
        assert res.loc[sid, "p_self"] == pytest.approx(stats.norm.sf(t), rel=1e-8)
        pvals.append(p_one)
    from statsmodels.stats.multitest import multipletests

    p = np.random.default_rng(1).uniform(size=200) ** 3
    np.testing.assert_allclose(fdr_bh(p), multipletests(p, method="fdr_bh")[1], rtol=1e-12)


def test_gene_property_matches_statsmodels_gls():
    genes, corr = _toy_genes(seed=4)
    rng = np.random.default_rng(9)
    prop = pd.DataFrame({"gene_id": genes.gene_id, "expression": rng.normal(size=len(genes))})
    genes = genes.assign(z=genes.z + 0.8 * (prop.expression - prop.expression.mean()) / prop.expression.std())
    res = run_gene_property_analysis(genes, prop, correlations=corr, alternative="two-sided")
    v = _dense_v(genes, corr)
    e = prop.expression.to_numpy()
    x = np.column_stack([np.ones(len(genes)), _covariates(genes), (e - e.mean()) / e.std()])
    fit = sm.GLS(genes.z.to_numpy(), x, sigma=v).fit()
    assert res["beta"].iloc[0] == pytest.approx(fit.params[-1], rel=1e-8)
    assert res["p_value"].iloc[0] == pytest.approx(fit.pvalues[-1], rel=1e-8)
    assert res["p_value"].iloc[0] < 1e-3  # the planted property effect is found


def test_gene_set_inputs_are_checked():
    genes, corr = _toy_genes()
    with pytest.raises(InputError, match="run_gene_set_analysis/gene_sets"):
        run_gene_set_analysis(genes, pd.DataFrame({"set": ["a"]}))
    with pytest.raises(InputError, match="run_gene_set_analysis/genes"):
        run_gene_set_analysis(genes.drop(columns="z"), pd.DataFrame({"set_id": ["a"], "gene_name": ["N1"]}))
    with pytest.raises(InputError, match="run_gene_property_analysis/alternative"):
        run_gene_property_analysis(genes, genes[["gene_id", "nsnps"]], alternative="less")


def test_plots_render_without_warnings(tmp_path):
    from bma_genetics.plots.enrichment import plot_gene_manhattan, plot_top_gene_sets

    rng = np.random.default_rng(0)
    g = pd.DataFrame({"gene_name": [f"N{i}" for i in range(300)], "chromosome": np.repeat(["1", "2", "10"], 100),
                      "start": np.tile(np.arange(100) * 1e6, 3), "end": np.tile(np.arange(100) * 1e6 + 5e4, 3),
                      "p_value": rng.uniform(size=300)})
    g.loc[5, "p_value"] = 1e-12
    s = pd.DataFrame({"set_id": [f"GO:{i:07d}" for i in range(30)], "set_name": [f"process {i}" for i in range(30)],
                      "n_genes": rng.integers(5, 300, 30), "p_value": rng.uniform(size=30) ** 4})
    s["fdr"] = fdr_bh(s["p_value"].to_numpy())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name, fig in (("m", plot_gene_manhattan(g)), ("s", plot_top_gene_sets(s))):
            out = tmp_path / f"{name}.png"
            fig.savefig(out, dpi=80)
            assert out.stat().st_size > 5_000
            w, h = fig.get_size_inches()
            assert w >= 6 and h >= 2


def _toy_gwas(cohort: Path, trait: str, out: Path) -> Path:
    """Marginal least-squares GWAS of one measured trait on the cohort's imputed dosages."""
    from bma_genetics.io import write_gwas_ssf
    from bma_genetics.ld import open_genotypes

    reader = open_genotypes(cohort / "genotypes" / "imputed")
    pheno = pd.read_parquet(cohort / "participants" / "bmff_idp.parquet")[["eid", trait]].dropna()
    pheno["eid"] = pheno["eid"].astype(str)
    samples = pd.Series(np.arange(reader.n_samples), index=[str(s) for s in reader.samples])
    pheno = pheno[pheno.eid.isin(samples.index)]
    rows = samples.loc[pheno.eid].to_numpy()
    x = reader.dosages(np.arange(reader.n_variants))[rows].astype(np.float64)
    y = pheno[trait].to_numpy(np.float64)
    x -= x.mean(axis=0)
    y = (y - y.mean()) / y.std()
    sxx = (x * x).sum(axis=0)
    ok = sxx > 0
    beta = np.where(ok, x.T @ y / np.where(ok, sxx, 1), np.nan)
    n = len(y)
    resid = np.maximum((y @ y - beta**2 * sxx) / (n - 2), 1e-12)
    se = np.sqrt(resid / np.where(ok, sxx, np.nan))
    v = reader.variants
    ss = pd.DataFrame({"chromosome": v.chromosome.astype(str), "base_pair_location": v.base_pair_location,
                       "effect_allele": v.a2, "other_allele": v.a1, "beta": beta, "standard_error": se,
                       "effect_allele_frequency": reader.dosages(np.arange(reader.n_variants))[rows].mean(axis=0) / 2,
                       "p_value": 2 * stats.norm.sf(np.abs(beta / se)), "variant_id": v.variant_id, "n": n})
    ss = ss[np.isfinite(ss.beta)]
    return write_gwas_ssf(ss, out)


@pytest.mark.slow
def test_stage_on_tiny_cohort_with_in_sample_ld(tiny_cohort, tmp_path):
    from bma_genetics.enrichment import stage
    from bma_genetics.pipeline.context import RunContext

    run_dir = tmp_path / "run"
    trait = "bmff_femoral_head"
    path = _toy_gwas(tiny_cohort, trait, run_dir / "gwas" / f"{trait}.tsv.gz")
    # the toy GWAS's analysed samples (everyone with the trait), as the gwas stage records them
    from bma_genetics.io import write_sample_list

    idp = pd.read_parquet(tiny_cohort / "participants" / "bmff_idp.parquet")[["eid", trait]].dropna()
    keep = write_sample_list(idp["eid"].astype(str), run_dir / "gwas" / "analysed_samples.txt")
    (run_dir / "gwas" / "summary.json").write_text(json.dumps({"sumstats": {trait: str(path)},
                                                              "analysed_samples": str(keep)}))
    ctx = RunContext(run_dir=run_dir, cohort=tiny_cohort, config={})
    try:
        from bma_genetics.resources import load_gene_sets

        load_gene_sets("GO_BP")
        sets = "GO_BP"
    except Exception:
        sets = None
    summary = stage.run(ctx, {"gene_sets": sets, "p_method": "saddle_contour"})
    rec = summary["traits"][trait]
    print({k: rec.get(k) for k in ("n_genes", "n_significant_genes", "causal_genes_tested",
                                   "causal_genes_significant", "planted_set_rank", "planted_set_p")},
          summary["genes_per_second"])
    genes = pd.read_csv(run_dir / "enrichment" / trait / "genes.tsv", sep="\t")
    for col in ("gene_id", "gene_name", "chromosome", "start", "end", "nsnps", "stat", "z", "p_value"):
        assert col in genes
    assert summary["n_genes"] == len(genes) > 20
    assert ((genes.p_value > 0) & (genes.p_value <= 1)).all()
    assert rec["causal_genes_tested"] >= 1 and "planted_set_rank" in rec
    for f in summary["figures"]:
        assert (run_dir / "enrichment" / f).stat().st_size > 3_000
    assert any(t.endswith("genes.tsv") for t in summary["tables"])


def test_cli_enrich_on_the_eur_panel(tmp_path):
    from bma_genetics.cli import main

    try:
        from bma_genetics.resources import load_ld_panel

        prefix = load_ld_panel()
    except Exception as exc:
        pytest.skip(f"EUR panel unavailable: {exc}")
    bim = pd.read_csv(f"{prefix}.bim", sep=r"\s+", header=None, dtype={0: str, 4: str, 5: str})
    bim = bim[bim[0] == "22"].iloc[:3000]
    rng = np.random.default_rng(1)
    z = rng.standard_normal(len(bim))
    ss = pd.DataFrame({"chromosome": "22", "base_pair_location": bim[3].to_numpy(), "effect_allele": bim[4].to_numpy(),
                       "other_allele": bim[5].to_numpy(), "beta": z * 0.01, "standard_error": 0.01,
                       "effect_allele_frequency": 0.3, "p_value": 2 * stats.norm.sf(np.abs(z))})
    from bma_genetics.io import write_gwas_ssf

    sspath = write_gwas_ssf(ss, tmp_path / "t.tsv.gz")
    lo, hi = int(bim[3].min()), int(bim[3].max())
    starts = np.linspace(lo, hi - 30_000, 40).astype(int)
    gt = pd.DataFrame({"gene_id": [f"G{i}" for i in range(40)], "gene_name": [f"N{i}" for i in range(40)],
                       "chromosome": "22", "start": starts, "end": starts + 30_000, "strand": "+",
                       "gene_type": "protein_coding"})
    gt.to_csv(tmp_path / "genes.tsv", sep="\t", index=False)
    gmt = tmp_path / "sets.gmt"
    gmt.write_text("\n".join(f"SET{j}\tset {j}\t" + "\t".join(f"N{i}" for i in range(j, 40, 4)) for j in range(4)) + "\n")
    out = tmp_path / "out"
    rc = main(["enrich", "--sumstats", str(sspath), "--out", str(out), "--gene-sets", str(gmt),
               "--ld", str(prefix), "--genes", str(tmp_path / "genes.tsv"), "--min-size", "5"])
    assert rc == 0
    from bma_genetics.io import read_gene_results, read_gene_set_results

    genes = read_gene_results(out / "genes.tsv")
    sets = read_gene_set_results(out / "gene_sets.tsv")
    assert len(genes) >= 30 and len(sets) == 4
    assert genes["chromosome"].map(type).eq(str).all() and {"fdr", "z", "nsnps"} <= set(genes.columns)
    assert (out / "figures" / "gene_manhattan.png").exists() and (out / "figures" / "top_gene_sets.pdf").exists()
    # the same statistics as a REGENIE step-2 file (read through bma_genetics.io.read_sumstats)
    reg = tmp_path / "t.regenie"
    pd.DataFrame({"CHROM": "22", "GENPOS": ss["base_pair_location"], "ID": [f"22:{p}" for p in ss["base_pair_location"]],
                  "ALLELE0": ss["other_allele"], "ALLELE1": ss["effect_allele"], "A1FREQ": 0.3, "N": 1000,
                  "TEST": "ADD", "BETA": ss["beta"], "SE": ss["standard_error"], "CHISQ": z**2,
                  "LOG10P": -np.log10(ss["p_value"]), "EXTRA": "NA"}).to_csv(reg, sep=" ", index=False,
                                                                              float_format="%.10g")
    rc = main(["enrich", "--sumstats", str(reg), "--out", str(tmp_path / "out_regenie"), "--gene-sets", str(gmt),
               "--ld", str(prefix), "--genes", str(tmp_path / "genes.tsv"), "--min-size", "5"])
    assert rc == 0
    genes_regenie = pd.read_csv(tmp_path / "out_regenie" / "genes.tsv", sep="\t")
    np.testing.assert_allclose(genes_regenie["p_value"], genes["p_value"], rtol=1e-6)
    rc = main(["enrich", "--sumstats", str(tmp_path / "missing.tsv.gz"), "--out", str(out)])
    assert rc == 2
    rc = main(["enrich", "--sumstats", str(sspath), "--out", str(out), "--ld", "refernce"])
    assert rc == 2


def test_result_table_readers_name_file_and_column(tmp_path):
    from bma_genetics.errors import InputError
    from bma_genetics.io import read_gene_results, write_gene_results

    genes = pd.DataFrame({"gene_id": ["G1", "G2"], "gene_name": ["A", "B"], "chromosome": ["1", "X"],
                          "start": [10, 20], "end": [15, 25], "nsnps": [3, 4], "z": [1.0, -0.5],
                          "p_value": [0.1, 0.7]})
    path = write_gene_results(genes, tmp_path / "genes.tsv")
    back = read_gene_results(path)
    pd.testing.assert_frame_equal(back, genes, check_dtype=False)
    genes.drop(columns="z").to_csv(tmp_path / "bad.tsv", sep="\t", index=False)
    with pytest.raises(InputError, match=r"read_gene_results/path: .*bad.tsv lacks column\(s\) \['z'\]"):
        read_gene_results(tmp_path / "bad.tsv")
    genes.assign(p_value="small").to_csv(tmp_path / "typed.tsv", sep="\t", index=False)
    with pytest.raises(InputError, match=r"typed.tsv column 'p_value' line 2: 'small' is not a number"):
        read_gene_results(tmp_path / "typed.tsv")
    with pytest.raises(InputError, match=r"write_gene_results/frame: the table to write lacks column\(s\) \['p_value'\]"):
        write_gene_results(genes.drop(columns="p_value"), tmp_path / "x.tsv")

"""Gene and gene-set analysis with real LD (1000 Genomes EUR panel, chr21-22): null
calibration, gene-gene correlations, and recovery of a planted pathway."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from bma_genetics.enrichment import compute_gene_ld, gene_tests, run_gene_set_analysis

CHROMS = ["21", "22"]


def _panel_prefix():
    from bma_genetics.errors import MissingResourceError
    from bma_genetics.resources import fetch, load_ld_panel

    try:
        return load_ld_panel()
    except MissingResourceError:
        try:
            fetch(["ld_panel_eur"])
            return load_ld_panel()
        except Exception as exc:  # no apt / no network: nothing else can supply real LD
            pytest.skip(f"1000 Genomes EUR panel unavailable: {exc}")


def _genes(variants: pd.DataFrame) -> pd.DataFrame:
    """GENCODE protein-coding genes on chr21-22 (synthetic tiling if the table is absent)."""
    try:
        from bma_genetics.resources import load_genes

        g = load_genes("GRCh37", protein_coding_only=True)
        return g[g["chromosome"].isin(CHROMS)].reset_index(drop=True)
    except Exception:
        rng = np.random.default_rng(2)
        rows = []
        for ch, vv in variants.groupby("chromosome"):
            lo, hi = vv.base_pair_location.min(), vv.base_pair_location.max()
            for i, s in enumerate(np.sort(rng.uniform(lo, hi, int((hi - lo) / 100e3)).astype(int))):
                rows.append((f"G{ch}_{i}", f"N{ch}_{i}", ch, s, s + int(rng.lognormal(10, 1)), "+"))
        return pd.DataFrame(rows, columns=["gene_id", "gene_name", "chromosome", "start", "end", "strand"])


def _regions(genes: pd.DataFrame, min_span: int = 2_000_000) -> np.ndarray:
    """Split each chromosome into regions of >= ``min_span`` bp cut only between
    non-overlapping gene windows; returns a region label per gene (``genes`` sorted)."""
    labels = np.empty(len(genes), dtype=np.int64)
    region, last_chrom, reach, region_start = -1, None, -1, 0
    for i, (c, ws, we) in enumerate(zip(genes["chromosome"], genes["win_start"], genes["win_end"], strict=True)):
        if c != last_chrom or (ws > reach and ws - region_start >= min_span):
            region += 1
            region_start = ws
            reach = -1
        last_chrom = c
        reach = max(reach, we)
        labels[i] = region
    return labels


@pytest.fixture(scope="module")
def eur():
    """Real LD, simulated per region: the chromosomes are cut into ~2 Mb regions between
    gene windows and each region gets z = X_r' e_r / sqrt(n) with its own e_r ~ N(0, I_n), so z
    is exactly MVN(0, R) with R the panel's LD inside a region and 0 between regions (a
    379-person panel's chance long-range LD would otherwise correlate every gene with every
    other). Gene-gene correlations are kept within regions accordingly, without the r^2 bias
    correction (the panel is the simulated GWAS sample here)."""
    from bma_genetics.ld import PlinkReader
    from bma_genetics.ld.matrix import standardise

    reader = PlinkReader(_panel_prefix())
    v = reader.variants
    keep = np.flatnonzero(v["chromosome"].isin(CHROMS).to_numpy())
    snps = v.iloc[keep][["chromosome", "base_pair_location", "a1", "a2"]].rename(
        columns={"a1": "effect_allele", "a2": "other_allele"}).reset_index(drop=True)
    genes = _genes(v.iloc[keep])
    gene_ld = compute_gene_ld(snps, reader, genes, bias_correction=False, progress=False)
    # rows of gene_ld.snps are the matched, de-duplicated subset of snps, in order
    x = standardise(reader.dosages(keep))
    pos = pd.Series(np.arange(len(snps)), index=snps["chromosome"] + ":" + snps["base_pair_location"].astype(str))
    pos = pos[~pos.index.duplicated()]
    used = pos.loc[gene_ld.snps["chromosome"] + ":" + gene_ld.snps["base_pair_location"].astype(str)].to_numpy()
    labels = _regions(gene_ld.genes)
    region_of = dict(zip(gene_ld.genes["gene_id"], labels, strict=True))
    c = gene_ld.correlations
    gene_ld.correlations = c[c["gene_id_1"].map(region_of) == c["gene_id_2"].map(region_of)].reset_index(drop=True)
    snp_region = np.full(len(gene_ld.snps), -1)
    for idx, lab in zip(gene_ld.genes["snp_index"], labels, strict=True):
        snp_region[idx] = lab
    return {"reader": reader, "gene_ld": gene_ld, "x": x[:, used], "snp_region": snp_region,
            "n_regions": int(labels.max()) + 1}


def _null_z(eur, rng):
    x, lab = eur["x"], eur["snp_region"]
    e = rng.standard_normal((x.shape[0], eur["n_regions"] + 1))
    # each SNP takes the noise vector of its region (SNPs in no gene window: their own column)
    cols = np.where(lab >= 0, lab, eur["n_regions"])
    return np.einsum("ij,ij->j", x, e[:, cols]) / math.sqrt(x.shape[0])


def _interval(alpha, n, design_effect=2.0, zq=3.29):
    """Monte Carlo interval for an empirical type-I rate: binomial, 99.9% (z = 3.29), with the
    variance inflated by ``design_effect`` because neighbouring genes' P values correlate."""
    half = zq * math.sqrt(design_effect * alpha * (1 - alpha) / n)
    return max(0.0, alpha - half), alpha + half + 1.0 / n


def test_gene_p_values_are_uniform_under_the_null_with_real_ld(eur):
    rng = np.random.default_rng(20261124)
    gl = eur["gene_ld"]
    assert len(gl.genes) > 300
    res = [gene_tests(gl, _null_z(eur, rng)) for _ in range(3)]
    p = np.concatenate([r["p_value"].to_numpy() for r in res])
    p_top = np.concatenate([r["p_top"].to_numpy() for r in res])
    ks = stats.kstest(p, "uniform").statistic
    t05, t001 = (p < 0.05).mean(), (p < 0.001).mean()
    lo05, hi05 = _interval(0.05, p.size)
    lo001, hi001 = _interval(0.001, p.size)
    print(f"null genes: n={p.size} KS={ks:.4f} type-I(0.05)={t05:.4f} [{lo05:.4f},{hi05:.4f}] "
          f"type-I(0.001)={t001:.4f} [{lo001:.4f},{hi001:.4f}]")
    # KS: the 0.1% critical value for independent P is 1.95/sqrt(n); doubled for correlation
    assert ks < 2 * 1.95 / math.sqrt(p.size)
    assert lo05 <= t05 <= hi05
    assert lo001 <= t001 <= hi001
    # SNP-wise top model (effective-number approximation): calibrated in the tail too
    top05, top001 = (p_top < 0.05).mean(), (p_top < 0.001).mean()
    print(f"null top model: type-I(0.05)={top05:.4f} type-I(0.001)={top001:.4f}")
    assert lo05 <= top05 <= hi05
    assert lo001 <= top001 <= hi001


def test_gene_correlations_match_simulated_statistic_correlations(eur):
    """The GLS uses corr(Q_g, Q_h) = sum r^2 / sqrt(sum R_g^2 sum R_h^2); check it against the
    empirical correlation of simulated null statistics (tolerance 0.08 = 4 MC SE)."""
    rng = np.random.default_rng(3)
    gl = eur["gene_ld"]
    corr = gl.correlations.sort_values("r", ascending=False)
    pairs = pd.concat([corr[corr.r > 0.5].head(3), corr[(corr.r > 0.1) & (corr.r < 0.5)].head(3)])
    assert len(pairs) >= 4
    idx = {g: i for i, g in enumerate(gl.genes["gene_id"])}
    x = eur["x"]
    e = rng.standard_normal((x.shape[0], 2000))
    for _, row in pairs.iterrows():
        a = gl.genes["snp_index"].iloc[idx[row.gene_id_1]]
        b = gl.genes["snp_index"].iloc[idx[row.gene_id_2]]
        # both genes lie in one region, which shares one noise vector per replicate
        za, zb = x[:, a].T @ e / math.sqrt(x.shape[0]), x[:, b].T @ e / math.sqrt(x.shape[0])
        qa, qb = (za**2).sum(axis=0), (zb**2).sum(axis=0)
        emp = np.corrcoef(qa, qb)[0, 1]
        assert emp == pytest.approx(row.r, abs=0.08), (row.gene_id_1, row.gene_id_2)


def test_gene_set_type_one_error_is_within_its_interval(eur):
    """Random gene sets (two random partitions into sets of 20 per replicate) on null GWAS with
    real LD: the competitive GLS test rejects at its nominal rate."""
    rng = np.random.default_rng(7)
    gl = eur["gene_ld"]
    names = gl.genes["gene_name"].astype(str).to_numpy()
    pvals, p_naive = [], []
    for _ in range(20):
        genes = gene_tests(gl, _null_z(eur, rng), p_method="saddlepoint")
        frames = []
        for part in range(2):
            perm = rng.permutation(names.size)[: names.size // 20 * 20].reshape(-1, 20)
            frames += [pd.DataFrame({"set_id": f"R{part}_{j}", "set_name": "random", "gene_name": names[row]})
                       for j, row in enumerate(perm)]
        sets = pd.concat(frames, ignore_index=True)
        res = run_gene_set_analysis(genes, sets, correlations=gl.correlations, min_size=10)
        pvals.append(res["p_value"].to_numpy())
        p_naive.append(run_gene_set_analysis(genes, sets, correlations=None, min_size=10,
                                             self_contained=False)["p_value"].to_numpy())
    p = np.concatenate(pvals)
    t05 = (p < 0.05).mean()
    lo, hi = _interval(0.05, p.size, design_effect=3.0)
    print(f"null gene sets: n={p.size} type-I(0.05)={t05:.4f} [{lo:.4f},{hi:.4f}] "
          f"ignoring gene correlation: {(np.concatenate(p_naive) < 0.05).mean():.4f}")
    assert lo <= t05 <= hi


def test_planted_pathway_is_the_top_set_and_its_genes_are_significant(eur):
    """Causal SNPs (one per gene, z-scale effect 6) in the 15 genes of one set, null elsewhere;
    z = X'e/sqrt(n) + R[:, causal] b. The planted set must rank first of itself + 150 random
    sets of equal size, with FDR < 0.05, and most of its genes must pass gene-wide P."""
    rng = np.random.default_rng(11)
    gl = eur["gene_ld"]
    x = eur["x"]
    n = x.shape[0]
    g = gl.genes
    names = g["gene_name"].astype(str).to_numpy()
    # pathway genes are taken among genes not in strong LD with another gene: the GLS
    # (as MAGMA's) credits signal shared with a correlated non-set neighbour to neither
    c = gl.correlations
    linked = set(c.loc[c["r"] > 0.3, "gene_id_1"]) | set(c.loc[c["r"] > 0.3, "gene_id_2"])
    free = np.flatnonzero((g["nsnps"].to_numpy() >= 3) & ~g["gene_id"].isin(linked).to_numpy())
    pathway = rng.choice(free, 15, replace=False)
    causal = np.array([rng.choice(g["snp_index"].iloc[i]) for i in pathway])
    signal = x.T @ x[:, causal] / n @ np.full(causal.size, 6.0)
    z = _null_z(eur, rng) + signal
    genes = gene_tests(gl, z)
    planted = pd.DataFrame({"set_id": "PLANTED", "set_name": "planted pathway", "gene_name": names[pathway]})
    decoys = [pd.DataFrame({"set_id": f"D{j}", "set_name": "decoy",
                            "gene_name": names[rng.choice(names.size, 15, replace=False)]}) for j in range(150)]
    res = run_gene_set_analysis(genes, pd.concat([planted, *decoys]), correlations=gl.correlations, min_size=10)
    assert res["set_id"].iloc[0] == "PLANTED"
    assert res["fdr"].iloc[0] < 0.05
    bonf = 0.05 / len(genes)
    frac = (genes["p_value"].to_numpy()[pathway] < bonf).mean()
    print(f"planted: competitive P={res['p_value'].iloc[0]:.3g} FDR={res['fdr'].iloc[0]:.3g}; "
          f"next set P={res['p_value'].iloc[1]:.3g}; pathway genes at gene-wide P: {frac:.2f}")
    assert frac >= 0.6, frac


def test_parallel_chromosomes_give_the_serial_result(eur):
    """n_jobs=2 (one worker per chromosome, reader re-opened there) equals the serial pass."""
    reader = eur["reader"]
    v = reader.variants
    snps = pd.concat([v[v["chromosome"] == c].iloc[:1500] for c in CHROMS])[["chromosome", "base_pair_location"]]
    genes = _genes(v[v["chromosome"].isin(CHROMS)])
    a = compute_gene_ld(snps, reader, genes, n_jobs=1, progress=False)
    b = compute_gene_ld(snps, reader, genes, n_jobs=2, progress=False)
    assert a.genes["gene_id"].tolist() == b.genes["gene_id"].tolist()
    for x, y in zip(a.eigenvalues, b.eigenvalues, strict=True):
        np.testing.assert_allclose(x, y, atol=1e-10)
    pd.testing.assert_frame_equal(a.correlations, b.correlations)

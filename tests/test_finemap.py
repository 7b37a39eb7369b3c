"""Fine-mapping (SuSiE-RSS), colocalisation (coloc.abf, SuSiE-coloc), SMR/HEIDI and the simulated
eQTL: equality with susieR and with coloc's closed form, recovery of simulated truth."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from bma_genetics.errors import InputError
from bma_genetics.finemap.coloc import coloc_abf, coloc_susie, combine_abf
from bma_genetics.finemap.smr import chisq_sum_sf, smr_heidi
from bma_genetics.finemap.susie import susie_rss


@pytest.fixture(scope="module")
def window(tiny_cohort):
    """Standardised imputed dosages of 250 common contiguous variants of chromosome 1 (realistic
    LD from the simulator's coalescent), over the tiny cohort's 1,000 people."""
    from bma_genetics.ld import open_genotypes

    reader = open_genotypes(tiny_cohort / "genotypes" / "imputed")
    idx = np.flatnonzero(reader.variants["chromosome"].astype(str) == "1")[:400]
    x = reader.dosages(idx).astype(float)
    x = np.where(np.isnan(x), np.nanmean(x, axis=0), x)
    x -= x.mean(axis=0)
    sd = x.std(axis=0)
    keep = np.flatnonzero(sd > 0.15)[:250]
    return x[:, keep] / sd[keep]


def _marginal(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-variant least-squares beta and SE of standardised y on standardised x."""
    n = len(y)
    y = (y - y.mean()) / y.std()
    b = x.T @ y / n
    return b, np.sqrt((1 - b**2) / (n - 2))


# ------------------------------------------------------------------------------------ SuSiE


def _susier(tmp: Path, z: np.ndarray, r: np.ndarray, n: int | None) -> tuple[np.ndarray, list[list[int]]]:
    np.savetxt(tmp / "z.txt", z, fmt="%.17g")
    np.savetxt(tmp / "r.txt", r, fmt="%.17g")
    n_arg = f", n = {n}" if n is not None else ""
    script = (
        "suppressMessages(library(susieR)); z <- scan('z.txt', quiet = TRUE); "
        "R <- as.matrix(read.table('r.txt')); "
        f"f <- suppressWarnings(susie_rss(z, R{n_arg})); "
        "write.table(f$pip, 'pip.txt', row.names = FALSE, col.names = FALSE); "
        "cs <- f$sets$cs; lines <- if (is.null(cs)) character(0) else "
        "sapply(cs, function(s) paste(sort(s - 1), collapse = ' ')); writeLines(lines, 'cs.txt')"
    )
    subprocess.run(["Rscript", "-e", script], cwd=tmp, check=True, capture_output=True, timeout=120)
    pip = np.loadtxt(tmp / "pip.txt")
    sets = [sorted(map(int, ln.split())) for ln in (tmp / "cs.txt").read_text().splitlines() if ln.strip()]
    return pip, sets


def _has_susier() -> bool:
    if shutil.which("Rscript") is None:
        return False
    res = subprocess.run(["Rscript", "-e", "library(susieR)"], capture_output=True, timeout=60)
    return res.returncode == 0


@pytest.mark.parametrize("with_n", [True, False])
def test_susie_rss_equals_susier(window, tmp_path, with_n):
    """PIPs and credible sets equal R susieR's susie_rss on the same z-scores and LD (1e-4):
    two causal variants, one of them in a block of strong LD (a credible set of several)."""
    if not _has_susier():
        pytest.skip("Rscript with susieR is not installed (scripts/ensure_r.sh installs r-cran-susier)")
    x = window[:, :150]
    n = x.shape[0]
    r = x.T @ x / n
    rng = np.random.default_rng(11)
    # one causal variant with a close LD partner (|r| > 0.8), one elsewhere
    partners = [(i, j) for i in range(150) for j in range(i + 1, 150) if 0.8 < abs(r[i, j]) < 0.99]
    c1 = partners[0][0]
    c2 = int(np.flatnonzero(np.abs(r[c1]) < 0.05)[-1])
    y = 0.2 * x[:, c1] - 0.18 * x[:, c2] + rng.normal(size=n)
    b, se = _marginal(x, y)
    z = b / se
    fit = susie_rss(z, r, n=n if with_n else None)
    pip_r, sets_r = _susier(tmp_path, z, r, n if with_n else None)
    assert np.max(np.abs(fit.pip - pip_r)) < 1e-4
    assert sorted(sorted(cs.variants) for cs in fit.credible_sets) == sorted(sets_r)
    assert any(len(s) > 1 for s in sets_r) or not with_n  # a set of several variants was compared


def test_susie_rss_checks_its_arguments():
    r = np.eye(3)
    with pytest.raises(InputError, match="susie_rss/r"):
        susie_rss(np.ones(3), np.eye(2))
    with pytest.raises(InputError, match="susie_rss/n"):
        susie_rss(np.ones(3), r, n=1)
    with pytest.raises(InputError, match="susie_rss/L"):
        susie_rss(np.ones(3), r, L=0)


def test_credible_sets_cover_the_causal_variant(window):
    """Over replicates of a simulated locus (one causal variant, z about 8 at n = 1,000, LD of
    the simulator's coalescent), the causal variant is in a 95 % credible set in >= 90 %."""
    n, p = window.shape
    r = window.T @ window / n
    rng = np.random.default_rng(7)
    hits = 0
    reps = 25
    for _ in range(reps):
        c = int(rng.integers(p))
        b, se = _marginal(window, 0.25 * window[:, c] + rng.normal(size=n))
        fit = susie_rss(b / se, r, n=n)
        hits += any(c in cs.variants for cs in fit.credible_sets)
    assert hits / reps >= 0.9, f"causal variant in a credible set in {hits}/{reps} replicates"


# ------------------------------------------------------------------------------------ coloc


def test_coloc_abf_equals_the_closed_form():
    """coloc.abf's posteriors equal Giambartolomei 2014's sums computed here term by term
    (Wakefield's ABF as a ratio of normal densities; H3 as a double sum over i != j) to 1e-8."""
    rng = np.random.default_rng(3)
    k = 40
    b1, s1 = rng.normal(0, 0.05, k), rng.uniform(0.02, 0.05, k)
    b2, s2 = rng.normal(0, 0.05, k), rng.uniform(0.02, 0.05, k)
    b1[7], b2[7] = 0.25, -0.3  # a shared signal, so every hypothesis has weight
    w1, w2 = 0.15**2, 0.15**2  # sd(Y) = 1
    abf1 = stats.norm.pdf(b1, 0, np.sqrt(s1**2 + w1)) / stats.norm.pdf(b1, 0, s1)
    abf2 = stats.norm.pdf(b2, 0, np.sqrt(s2**2 + w2)) / stats.norm.pdf(b2, 0, s2)
    p1, p2, p12 = 1e-4, 1e-4, 1e-5
    h = np.array([
        1.0,
        p1 * abf1.sum(),
        p2 * abf2.sum(),
        p1 * p2 * sum(abf1[i] * abf2[j] for i in range(k) for j in range(k) if i != j),
        p12 * np.sum(abf1 * abf2),
    ])
    expected = h / h.sum()
    ids = [f"v{i}" for i in range(k)]
    res, table = coloc_abf(pd.DataFrame({"variant_id": ids, "beta": b1, "standard_error": s1}),
                           pd.DataFrame({"variant_id": ids, "beta": b2, "standard_error": s2}),
                           sd_y1=1.0, sd_y2=1.0)
    got = np.array([res.pp_h0, res.pp_h1, res.pp_h2, res.pp_h3, res.pp_h4])
    assert np.max(np.abs(got - expected)) < 1e-8
    assert res.nsnp == k and abs(table["snp_pp_h4"].sum() - 1) < 1e-12
    # binary trait: W = 0.2^2
    res_cc, _ = coloc_abf(pd.DataFrame({"variant_id": ids, "beta": b1, "standard_error": s1}),
                          pd.DataFrame({"variant_id": ids, "beta": b2, "standard_error": s2}),
                          type1="cc", sd_y2=1.0)
    abf1c = stats.norm.pdf(b1, 0, np.sqrt(s1**2 + 0.04)) / stats.norm.pdf(b1, 0, s1)
    h4 = p12 * np.sum(abf1c * abf2)
    h3 = p1 * p2 * (abf1c.sum() * abf2.sum() - np.sum(abf1c * abf2))
    hh = np.array([1.0, p1 * abf1c.sum(), p2 * abf2.sum(), h3, h4])
    assert abs(res_cc.pp_h4 - h4 / hh.sum()) < 1e-8


def test_coloc_separates_shared_and_distinct_causal_variants(window):
    """Two independent samples (halves of the tiny cohort), each trait with one causal variant:
    PP.H4 > 0.8 when it is the same variant, < 0.2 when the two are in low LD (r^2 < 0.01), in
    >= 90 % of replicates; coloc.susie agrees on the same data."""
    n, p = window.shape
    r = window.T @ window / n
    h = n // 2
    rng = np.random.default_rng(5)
    shared_ok = distinct_ok = 0
    reps = 20
    ids = [f"v{i}" for i in range(p)]
    for _ in range(reps):
        c = int(rng.integers(p))
        for shared in (True, False):
            c2 = c if shared else int(rng.choice(np.flatnonzero(r[c] ** 2 < 0.01)))
            tabs = []
            for rows, causal in ((slice(0, h), c), (slice(h, n), c2)):
                xx = window[rows]
                b, se = _marginal(xx, 0.3 * xx[:, causal] + rng.normal(size=len(xx)))
                tabs.append(pd.DataFrame({"variant_id": ids, "beta": b, "standard_error": se}))
            res, _ = coloc_abf(tabs[0], tabs[1], sd_y1=1.0, sd_y2=1.0)
            if shared:
                shared_ok += res.pp_h4 > 0.8
            else:
                distinct_ok += res.pp_h4 < 0.2
    assert shared_ok / reps >= 0.9 and distinct_ok / reps >= 0.9, (shared_ok, distinct_ok)


def test_coloc_susie_pairs_credible_sets(window):
    """Trait 1 has two causal variants, trait 2 shares one: SuSiE-coloc gives H4 for that pair
    and H3 for the other (where coloc.abf, one variant per trait, cannot tell them apart)."""
    n, p = window.shape
    r = window.T @ window / n
    rng = np.random.default_rng(2)
    c1 = 20
    c2 = int(np.flatnonzero(np.abs(r[c1]) < 0.02)[-1])
    b1, s1 = _marginal(window, 0.3 * window[:, c1] + 0.3 * window[:, c2] + rng.normal(size=n))
    b2, s2 = _marginal(window, 0.3 * window[:, c2] + rng.normal(size=n))
    f1, f2 = susie_rss(b1 / s1, r, n=n), susie_rss(b2 / s2, r, n=n)
    ids = [f"v{i}" for i in range(p)]

    def lbf(fit):
        return pd.DataFrame(fit.lbf_variable[[cs.effect - 1 for cs in fit.credible_sets]],
                            index=[f"L{cs.effect}" for cs in fit.credible_sets], columns=ids)

    pairs = coloc_susie(lbf(f1), lbf(f2))
    assert len(pairs) == 2
    best = pairs.sort_values("pp_h4").iloc[-1]
    assert best["pp_h4"] > 0.8 and best["top_variant"] == f"v{c2}"
    assert pairs["pp_h4"].min() < 0.2


def test_combine_abf_checks_priors():
    with pytest.raises(InputError, match="combine_abf/p12"):
        combine_abf(np.zeros(3), np.zeros(3), p12=0)


# ------------------------------------------------------------------------------------ SMR


def test_smr_heidi_on_shared_and_linked_variants(window):
    """SMR: b_xy = b_zy / b_zx at the top eQTL and T = z_y^2 z_x^2 / (z_y^2 + z_x^2). HEIDI is
    calibrated when expression and trait share the causal variant and the LD is the samples' own
    (z-scores drawn as N(lambda r_c, R): P < 0.05 in about 5 % of replicates), and rejects when the
    trait's causal variant is another one in partial LD (linkage)."""
    n, p = window.shape
    r = window.T @ window / n
    rng = np.random.default_rng(9)
    chol = np.linalg.cholesky(r + 1e-6 * np.eye(p))
    cands = np.flatnonzero(((r**2 > 0.05) & (r**2 < 0.9)).sum(axis=1) >= 8)
    sx, sy = np.full(p, 1 / np.sqrt(2000)), np.full(p, 1 / np.sqrt(10000))
    null_p, linked_p = [], []
    for _ in range(150):
        c = int(rng.choice(cands))
        zx = r[:, c] * 12 + chol @ rng.normal(size=p)
        zy = r[:, c] * 6 + chol @ rng.normal(size=p)
        res = smr_heidi(zx * sx, sx, zy * sy, sy, r)
        top = res.top_index
        assert res.beta == pytest.approx(zy[top] * sy[top] / (zx[top] * sx[top]))
        assert res.p_value == pytest.approx(stats.chi2.sf(zx[top] ** 2 * zy[top] ** 2 / (zx[top] ** 2 + zy[top] ** 2), 1))
        null_p.append(res.heidi_p_value)
        partner = int(np.argmin(np.abs(r[c] ** 2 - 0.5)))
        zy2 = r[:, partner] * 6 + chol @ rng.normal(size=p)
        linked_p.append(smr_heidi(zx * sx, sx, zy2 * sy, sy, r).heidi_p_value)
    null_p, linked_p = np.array(null_p), np.array(linked_p)
    assert np.isfinite(null_p).mean() > 0.9
    assert 0.01 <= np.mean(null_p[np.isfinite(null_p)] < 0.05) <= 0.10
    assert np.mean(linked_p[np.isfinite(linked_p)] < 0.05) > 0.5  # power at r^2 0.5, z_y 6: about 60 %


def test_chisq_sum_sf():
    assert chisq_sum_sf(10.0, np.ones(4)) == pytest.approx(stats.chi2.sf(10, 4), rel=0.02)
    assert chisq_sum_sf(40.0, np.ones(4)) == pytest.approx(stats.chi2.sf(40, 4), rel=0.05)


# ------------------------------------------------------------------------------------ eQTL io and simulator


def test_read_eqtl_layouts_read_to_the_same_frame(tmp_path):
    """The SMR query layout and GTEx v8 pairs of the same two associations read alike."""
    from bma_genetics.io import read_eqtl, write_eqtl

    (tmp_path / "gtex.txt").write_text(
        "gene_id\tvariant_id\ttss_distance\tma_samples\tma_count\tmaf\tpval_nominal\tslope\tslope_se\n"
        "ENSG00000132170.19\tchr3_12393125_C_T_b38\t-1000\t120\t130\t0.12\t1.5e-09\t0.41\t0.066\n"
        "ENSG00000132170.19\tchr3_12400000_G_A_b38\t5875\t200\t230\t0.21\t0.2\t-0.05\t0.039\n")
    gtex = read_eqtl(tmp_path / "gtex.txt", n=670)
    assert gtex["genome_build"].iloc[0] == "GRCh38" and list(gtex["effect_allele"]) == ["T", "A"]
    smr = gtex.drop(columns=["genome_build", "n"]).assign(gene_name="PPARG")
    write_eqtl(smr, tmp_path / "x.smr.txt.gz")
    back = read_eqtl(tmp_path / "x.smr.txt.gz")
    cols = ["gene_id", "chromosome", "base_pair_location", "effect_allele", "other_allele", "beta",
            "standard_error", "p_value"]
    pd.testing.assert_frame_equal(back[cols], gtex[cols], check_dtype=False, rtol=1e-5)
    (tmp_path / "bad.txt").write_text("a\tb\n1\t2\n")
    with pytest.raises(InputError, match="no eQTL layout"):
        read_eqtl(tmp_path / "bad.txt")


def test_simulated_eqtl_truth(tiny_cohort):
    """The simulator's eQTL: a shared and (where one exists) a distinct gene per named BMFF gene;
    the shared gene's strongest eQTL is in LD with the BMFF causal variant, the distinct one's not."""
    import json

    from bma_genetics.io import read_eqtl

    truth = pd.read_csv(tiny_cohort / "truth/eqtl_genes.tsv", sep="\t", dtype={"chromosome": str})
    info = json.loads((tiny_cohort / "eqtl/eqtl.json").read_text())
    eqtl = read_eqtl(tiny_cohort / info["file"], n=info["n"])
    assert truth["shares_bmff_causal"].sum() >= 5 and (~truth["shares_bmff_causal"]).sum() >= 3
    assert set(truth["gene_id"]) == set(eqtl["gene_id"])
    assert (truth.loc[~truth["shares_bmff_causal"], "r2_with_bmff_causal"] < 0.01).all()
    for rec in truth.itertuples(index=False):
        g = eqtl[eqtl["gene_id"] == rec.gene_id]
        top = g.loc[g["p_value"].idxmin()]
        assert top["p_value"] < 1e-8
        assert (g.loc[g["variant_id"] == rec.causal_variant, "p_value"].iloc[0] < 1e-8)


def test_coloc_and_smr_refuse_an_eqtl_on_another_build():
    """A GTEx v8 eQTL (GRCh38) against a GRCh37 GWAS locates no variant: an error naming both."""
    from bma_genetics.finemap.api import FinemapResult, Region, run_coloc, run_smr

    v = pd.DataFrame({"variant_id": ["a", "b"], "chromosome": "3", "base_pair_location": [100, 200],
                      "effect_allele": "A", "other_allele": "G", "beta": [0.1, 0.2], "standard_error": 0.05,
                      "p_value": 0.01, "z": [2.0, 4.0], "genome_build": "GRCh37"})
    fm = FinemapResult(table=pd.DataFrame(), regions={("t", 1): Region("t", 1, v, np.eye(2), None)})
    eqtl = v.drop(columns=["z"]).assign(gene_id="G", genome_build="GRCh38")
    with pytest.raises(InputError, match="run_coloc/other: genome builds differ"):
        run_coloc(fm, eqtl)
    with pytest.raises(InputError, match="run_smr/eqtl: genome builds differ"):
        run_smr(fm, eqtl)


def test_coloc_reads_a_disease_gwas_as_case_control():
    """The other study with n_cases (a disease's GWAS-SSF) gets coloc's binary prior (W = 0.2^2)."""
    from bma_genetics.finemap.api import FinemapResult, Region, run_coloc

    k = 12
    rng = np.random.default_rng(4)
    v = pd.DataFrame({"variant_id": [f"v{i}" for i in range(k)], "chromosome": "3",
                      "base_pair_location": np.arange(k) * 100 + 100, "effect_allele": "A", "other_allele": "G",
                      "beta": rng.normal(0, 0.05, k), "standard_error": 0.05})
    v["z"] = v["beta"] / v["standard_error"]
    fm = FinemapResult(table=pd.DataFrame(), regions={("t", 1): Region("t", 1, v, np.eye(k), None)})
    other = v.drop(columns=["z"]).assign(beta=rng.normal(0, 0.1, k), standard_error=0.1, n_cases=500.0)
    res = run_coloc(fm, other, label="disease", susie=False)
    assert res.report["type2"] == "cc"
    expected, _ = coloc_abf(v, other, sd_y1=1.0, type2="cc")
    assert res.table["pp_h4"].iloc[0] == pytest.approx(expected.pp_h4)
    assert run_coloc(fm, other.drop(columns=["n_cases"]), susie=False, sd_y2=1.0).report["type2"] == "quant"


def test_align_to_region_keeps_a_palindrome_coded_alike():
    """A/T coded A (effect) / T in both studies keeps its beta; coded T / A it is flipped; a
    strand-flipped non-palindromic pair (T/C against A/G) is flipped only when swapped."""
    from bma_genetics.finemap.api import align_to_region

    region = pd.DataFrame({"chromosome": "1", "base_pair_location": [100, 200, 300, 400],
                           "effect_allele": ["A", "A", "A", "A"], "other_allele": ["T", "T", "G", "G"]})
    other = pd.DataFrame({"chromosome": "1", "base_pair_location": [100, 200, 300, 400],
                          "effect_allele": ["A", "T", "T", "C"], "other_allele": ["T", "A", "C", "T"],
                          "beta": 0.5, "standard_error": 0.1})
    got = align_to_region(region, other)
    assert got["region_index"].tolist() == [0, 1, 2, 3]
    assert got["beta"].tolist() == [0.5, -0.5, 0.5, -0.5]


class _DosageReader:
    """The least of a GenotypeReader that ``_region_variants`` uses: variants and dosages of A1."""

    dosage_allele = "a1"

    def __init__(self, variants: pd.DataFrame, dosages: np.ndarray):
        self.variants, self._dosages = variants, dosages

    def counted_alleles(self) -> pd.Series:
        return self.variants[self.dosage_allele]

    def dosages(self, indices) -> np.ndarray:
        return self._dosages[:, np.asarray(indices)]


def test_region_ld_sign_follows_a_strand_flipped_effect_allele():
    """LD oriented to the GWAS effect allele: effect T (strand flip of the counted A) counts as A."""
    from bma_genetics.finemap.api import _region_variants

    rng = np.random.default_rng(5)
    g = rng.binomial(2, 0.4, 300).astype(float)
    x = np.column_stack([g, np.where(rng.random(300) < 0.9, g, rng.binomial(2, 0.4, 300))])
    reader = _DosageReader(pd.DataFrame({"chromosome": "1", "base_pair_location": [100, 200],
                                         "a1": ["A", "C"], "a2": ["G", "T"]}), x)
    ss = pd.DataFrame({"chromosome": "1", "base_pair_location": [100, 200], "effect_allele": ["A", "G"],
                       "other_allele": ["G", "A"], "beta": [0.2, 0.2], "standard_error": 0.05})
    v, r = _region_variants(ss, reader, "1", 0, 1000, 10, 100)
    assert len(v) == 2 and r[0, 1] > 0.5


def test_ld_sign_reads_palindromes_on_the_same_strand():
    """+1 for the counted allele or (not for A/T, C/G) its complement."""
    from bma_genetics.finemap.api import _ld_sign

    sign = _ld_sign(pd.Series(["T", "T", "A", "A", "G"]), pd.Series(["C", "A", "T", "T", "A"]),
                    pd.Series(["A", "A", "A", "T", "A"]))
    assert sign.tolist() == [1.0, -1.0, 1.0, -1.0, -1.0]

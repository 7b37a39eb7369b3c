"""Polygenic scores: plink2 --score equality, PRS-CS against a reimplementation of its updates,
the GIG draw, allele alignment and its errors, the stage on the tiny run.

Tolerances: plink2 prints 6 significant digits, so scores agree to 1e-5 relative (plus 1e-6
absolute near 0); PRS-CS posterior means agree to 1e-6 for the same seed and draws.
"""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from scipy import linalg, stats

from bma_genetics.errors import InputError


# ----------------------------------------------------------------------------- helpers
def _marginal_gwas(reader, y, rows):
    """Per-variant least-squares GWAS of y on the counted allele (a1 of a PLINK .bim)."""
    x = np.asarray(reader.dosages(np.arange(reader.n_variants)), dtype=float)[rows]
    mu = np.nanmean(x, axis=0)
    x = np.where(np.isnan(x), mu, x) - mu
    yc = y - y.mean()
    sxx = (x * x).sum(axis=0)
    keep = sxx > 0
    beta = np.where(keep, x.T @ yc / np.where(keep, sxx, 1), 0.0)
    res = ((yc[:, None] - x * beta) ** 2).sum(axis=0) / (len(y) - 2)
    se = np.sqrt(res / np.where(keep, sxx, 1))
    p = 2 * stats.norm.sf(np.abs(beta / np.where(se > 0, se, 1)))
    v = reader.variants
    ss = pd.DataFrame({"variant_id": v["variant_id"], "chromosome": v["chromosome"],
                       "base_pair_location": v["base_pair_location"], "effect_allele": v[reader.dosage_allele],
                       "other_allele": v["a2" if reader.dosage_allele == "a1" else "a1"], "beta": beta,
                       "p_value": p, "n": float(len(y))})
    return ss[keep].reset_index(drop=True)


@pytest.fixture(scope="module")
def array(tiny_cohort, tmp_path_factory):
    """The tiny cohort's autosomal array genotypes as one fileset (SNP-major .bed blocks of the
    same samples concatenated), a true-BMFF GWAS on 70 % of them."""
    from bma_genetics.io import read_bmff_table
    from bma_genetics.ld import PlinkReader

    beds = sorted((tiny_cohort / "genotypes" / "array").glob("ukb22418_c[0-9]*_b0_v2.bed"))
    prefix = tmp_path_factory.mktemp("array") / "autosomes"
    with open(f"{prefix}.bed", "wb") as out:
        out.write(b"\x6c\x1b\x01")
        for b in beds:
            out.write(b.read_bytes()[3:])
    with open(f"{prefix}.bim", "w") as out:
        for b in beds:
            out.write(b.with_suffix(".bim").read_text())
    shutil.copy(beds[0].with_suffix(".fam"), f"{prefix}.fam")
    reader = PlinkReader(prefix)
    beds = [prefix.with_suffix(".bed")]
    truth = read_bmff_table(tiny_cohort / "truth" / "bmff_true.parquet").set_index("eid")
    y = truth.loc[reader.samples, "bmff_femoral_head"].to_numpy(float)
    rng = np.random.default_rng(3)
    train = np.flatnonzero(rng.random(reader.n_samples) < 0.7)
    ss = _marginal_gwas(reader, (y[train] - y.mean()) / y.std(), train)
    return {"reader": reader, "beds": beds, "ss": ss, "train": train, "y": y}


# ----------------------------------------------------------------------------- plink2 --score
@pytest.fixture(scope="module")
def plink2():
    from benchmarks.peers import PeerUnavailable

    try:
        from benchmarks.gwas_vs_plink2 import plink2_binary

        return plink2_binary()
    except PeerUnavailable as exc:
        pytest.skip(f"plink2 unavailable: {exc}")


def _plink2_scores(plink2, beds, weights, cols, tmp_path, extra=()):
    """plink2 --score per chromosome fileset; sums and allele counts added over chromosomes."""
    exe, env = plink2
    total = None
    n_variants = 0
    for bed in beds:
        prefix = str(bed)[:-4]
        bim = pd.read_csv(f"{prefix}.bim", sep="\t", header=None, dtype=str)
        w = weights[weights["ID"].isin(set(bim[1]))]
        if w.empty:
            continue
        n_variants += len(w)
        wf = tmp_path / f"{bed.stem}.w.tsv"
        w.to_csv(wf, sep="\t", index=False)
        out = tmp_path / bed.stem
        res = subprocess.run([str(exe), "--bfile", prefix, "--score", str(wf), "1", "2", "header-read",
                              "cols=+scoresums", *extra, "--score-col-nums", f"3-{2 + len(cols)}", "--out", str(out)],
                             capture_output=True, text=True, env=env)
        assert res.returncode == 0, res.stderr[-2000:] + res.stdout[-2000:]
        s = pd.read_csv(f"{out}.sscore", sep="\t", dtype={"#FID": str, "IID": str}).set_index("IID")
        part = s[["ALLELE_CT", "NAMED_ALLELE_DOSAGE_SUM", *[f"{c}_SUM" for c in cols]]]
        total = part if total is None else total + part
    return total, n_variants


@pytest.mark.parametrize("mean_impute", [True, False], ids=["mean-imputation", "no-mean-imputation"])
def test_ct_scores_equal_plink2_score(array, plink2, tmp_path, mean_impute):
    """C+T scores of every cohort member (array calls, with missing genotypes) equal plink2
    --score on the same weights: sums, allele counts, dosage sums and averages, to plink2's 6
    printed digits."""
    from bma_genetics.prs.align import align_to_reader
    from bma_genetics.prs.ct import ct_weights
    from bma_genetics.prs.score import score_genotypes

    reader = array["reader"]
    w = ct_weights(array["ss"], reader, thresholds=(1e-3, 0.05, 1.0), r2=0.2, window_kb=250)
    cols = ["ct_0.001", "ct_0.05", "ct_1"]
    assert (w["ct_1"] != 0).sum() > 100 and 0 < (w["ct_0.001"] != 0).sum() < (w["ct_1"] != 0).sum()
    ours = score_genotypes(w, reader, score_columns=cols, keep_ambiguous=True, mean_impute=mean_impute)
    assert ours.report["n_matched"] == len(w)
    al = align_to_reader(w, reader, keep_ambiguous=True)
    pw = pd.DataFrame({"ID": al.table["target_id"], "A1": al.table["named_allele"],
                       **{c: al.table[c] for c in cols}})
    extra = () if mean_impute else ("no-mean-imputation",)
    ref, n_var = _plink2_scores(plink2, array["beds"], pw, cols, tmp_path, extra=extra)
    assert n_var == len(w)
    t = ours.table.set_index("IID").loc[ref.index]
    assert np.isnan(reader.dosages(al.table["ref_index"].to_numpy())).any()  # missing calls are exercised
    np.testing.assert_array_equal(t["ALLELE_CT"].to_numpy(), ref["ALLELE_CT"].to_numpy())
    np.testing.assert_allclose(t["NAMED_ALLELE_DOSAGE_SUM"], ref["NAMED_ALLELE_DOSAGE_SUM"], rtol=1e-5, atol=1e-6)
    for c in cols:
        np.testing.assert_allclose(t[f"{c}_SUM"], ref[f"{c}_SUM"], rtol=1e-5, atol=1e-5)
        denom = 2.0 * n_var if mean_impute else ref["ALLELE_CT"].to_numpy()
        np.testing.assert_allclose(t[f"{c}_AVG"], ref[f"{c}_SUM"].to_numpy() / denom, rtol=1e-5, atol=1e-8)


def test_plink2_average_column_layout(array, plink2, tmp_path):
    """Our _AVG columns are plink2's own _AVG (one fileset, read as plink2 writes it)."""
    from bma_genetics.ld import PlinkReader
    from bma_genetics.prs.score import score_genotypes

    bed = array["beds"][0]
    reader = PlinkReader(str(bed)[:-4])
    v = reader.variants.head(60)
    rng = np.random.default_rng(5)
    named = np.where(rng.random(len(v)) < 0.5, v["a1"], v["a2"])
    w = pd.DataFrame({"chromosome": v["chromosome"], "base_pair_location": v["base_pair_location"],
                      "effect_allele": named, "other_allele": np.where(named == v["a1"], v["a2"], v["a1"]),
                      "s1": rng.normal(size=len(v))})
    ours = score_genotypes(w, reader, score_columns=["s1"], keep_ambiguous=True).table
    pd.DataFrame({"ID": v["variant_id"], "A1": named, "s1": w["s1"]}).to_csv(tmp_path / "w.tsv", sep="\t", index=False)
    exe, env = plink2
    subprocess.run([str(exe), "--bfile", str(bed)[:-4], "--score", str(tmp_path / "w.tsv"), "1", "2", "header-read",
                    "--out", str(tmp_path / "p")], check=True, capture_output=True, env=env)
    ref = pd.read_csv(tmp_path / "p.sscore", sep="\t", dtype={"IID": str})
    assert list(ref.columns) == list(ours.columns[:5])
    np.testing.assert_allclose(ours["s1_AVG"], ref["s1_AVG"], rtol=1e-5, atol=1e-7)


# ----------------------------------------------------------------------------- PRS-CS
def _reference_prscs(bm, blocks, n, a, b, phi, n_iter, n_burnin, thin, rng):
    """PRS-CS's updates written out plainly: dense inverses, the same draws in the same order."""
    p = len(bm)
    beta, psi, sigma = np.zeros(p), np.ones(p), 1.0
    learn = phi is None
    phi = 1.0 if learn else phi
    keep = [i for i in range(n_burnin + 1, n_iter + 1) if i % thin == 0]
    acc = {"beta": np.zeros(p), "psi": np.zeros(p), "sigma": 0.0, "phi": 0.0}
    bounds = np.cumsum([0] + [len(m) for m in blocks])
    for it in range(1, n_iter + 1):
        z = rng.standard_normal(p)
        quad = 0.0
        for k, m in enumerate(blocks):
            lo, hi = bounds[k], bounds[k + 1]
            a_mat = m + np.diag(1.0 / psi[lo:hi])
            upper = np.linalg.cholesky(a_mat).T  # a_mat = upper.T @ upper
            mean = np.linalg.solve(a_mat, bm[lo:hi])
            beta[lo:hi] = mean + np.sqrt(sigma / n) * np.linalg.inv(upper) @ z[lo:hi]
            quad += beta[lo:hi] @ a_mat @ beta[lo:hi]
        err = max(n / 2 * (1 - 2 * np.dot(beta, bm) + quad), n / 2 * np.sum(beta ** 2 / psi))
        sigma = 1 / rng.gamma((n + p) / 2, 1 / err)
        delta = rng.gamma(a + b, 1 / (psi + phi))
        # GIG(1/2, 2 delta, n beta^2 / sigma) = 1 / inverse Gaussian(mean sqrt(A/B), shape A)
        big_a, big_b = 2 * delta, n * beta ** 2 / sigma
        psi = np.minimum(1.0 / rng.wald(np.sqrt(big_a / big_b), big_a), 1.0)
        if learn:
            w = rng.gamma(1.0, 1 / (phi + 1))
            phi = rng.gamma(p * b + 0.5, 1 / (delta.sum() + w))
        if it in keep:
            for name, val in (("beta", beta), ("psi", psi), ("sigma", sigma), ("phi", phi)):
                acc[name] = acc[name] + val / len(keep)
    return acc


@pytest.fixture(scope="module")
def prscs_problem(array):
    """Three LD blocks of real (tiny cohort) LD and marginal effects of a sparse truth."""
    from bma_genetics.ld import ld_matrix

    reader = array["reader"]
    blocks = [ld_matrix(reader, np.arange(s, s + k)) for s, k in ((0, 30), (200, 25), (400, 20))]
    rng = np.random.default_rng(11)
    p = sum(len(m) for m in blocks)
    truth = np.where(rng.random(p) < 0.1, rng.normal(0, 0.05, p), 0.0)
    ld = linalg.block_diag(*blocks)
    n = 5000.0
    bm = ld @ truth + rng.multivariate_normal(np.zeros(p), ld / n, method="eigh")
    return bm, blocks, n


@pytest.mark.parametrize("phi", [None, 1e-2], ids=["phi-learnt", "phi-fixed"])
def test_prscs_equals_reimplementation(prscs_problem, phi):
    """Posterior means of beta, psi, sigma and phi equal the plain reimplementation to 1e-6 for
    one seed (the same draws in the same order)."""
    from bma_genetics.prs.prscs import PRSCSParameters, gibbs_chain

    bm, blocks, n = prscs_problem
    params = PRSCSParameters(phi=phi, n_iter=120, n_burnin=60, thin=5)
    got = gibbs_chain(bm, blocks, n, params, np.random.default_rng(42))
    ref = _reference_prscs(bm, blocks, n, 1.0, 0.5, phi, 120, 60, 5, np.random.default_rng(42))
    np.testing.assert_allclose(got.beta, ref["beta"], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(got.psi, ref["psi"], rtol=1e-6, atol=1e-12)
    assert got.sigma == pytest.approx(ref["sigma"], rel=1e-6)
    assert got.phi == pytest.approx(ref["phi"], rel=1e-6)
    assert got.n_samples == 12
    # the chain shrinks: noise variants get far smaller effects than the marginal ones
    assert np.abs(got.beta).sum() < np.abs(bm).sum()


def test_prscs_seed_repeats_and_changes(prscs_problem):
    from bma_genetics.prs.prscs import PRSCSParameters, gibbs_chain

    bm, blocks, n = prscs_problem
    params = PRSCSParameters(n_iter=30, n_burnin=10, thin=2)
    one = gibbs_chain(bm, blocks, n, params, np.random.default_rng(1)).beta
    np.testing.assert_array_equal(one, gibbs_chain(bm, blocks, n, params, np.random.default_rng(1)).beta)
    assert not np.allclose(one, gibbs_chain(bm, blocks, n, params, np.random.default_rng(2)).beta)


@pytest.mark.parametrize("lam", [0.5, 1.5])
def test_gig_draws_follow_the_gig_law(lam):
    """GIG draws against scipy's geninvgauss (KS test) at a few parameter pairs."""
    from bma_genetics.prs.prscs import sample_gig

    rng = np.random.default_rng(8)
    for a, b in ((2.0, 0.5), (0.3, 4.0)):
        n = 4000 if lam == 0.5 else 600  # lam != 1/2 goes through scipy, one draw at a time
        x = sample_gig(rng, lam, np.full(n, a), np.full(n, b))
        law = stats.geninvgauss(lam, np.sqrt(a * b), scale=np.sqrt(b / a))
        assert stats.kstest(x, law.cdf).pvalue > 1e-3


def test_prscs_parameters_checked():
    from bma_genetics.prs.prscs import PRSCSParameters

    with pytest.raises(InputError, match="n_burnin"):
        PRSCSParameters(n_iter=100, n_burnin=100)
    with pytest.raises(InputError, match="phi"):
        PRSCSParameters(phi=-1.0)
    with pytest.raises(InputError, match="thin"):
        PRSCSParameters(n_iter=9, n_burnin=6, thin=5)


def test_prscs_weights_recover_and_beat_marginal(array):
    """PRS-CS per-allele weights predict the true BMFF in held-out people at least as well as the
    best C+T threshold (tiny cohort, 700-person GWAS of true BMFF)."""
    from bma_genetics.ld import SampleSubsetReader
    from bma_genetics.prs.ct import ct_weights
    from bma_genetics.prs.metrics import r2_score
    from bma_genetics.prs.prscs import PRSCSParameters, prscs_weights
    from bma_genetics.prs.score import score_genotypes

    reader, train, y = array["reader"], array["train"], array["y"]
    ld = SampleSubsetReader(reader, train)
    ps = prscs_weights(array["ss"], ld, params=PRSCSParameters(n_iter=200, n_burnin=100, thin=5, seed=1))
    t = ps.table
    assert {"prscs", "beta_std", "psi", "block", "frequency"} <= set(t.columns)
    assert (t["psi"].dropna() <= 1).all()
    ct = ct_weights(array["ss"], ld)
    test = [s for i, s in enumerate(reader.samples) if i not in set(train)]
    yt = pd.Series(y, index=reader.samples).loc[test].to_numpy()
    s_ps = score_genotypes(t, reader, score_columns=["prscs"], samples=test).table
    cols = [c for c in ct.columns if c.startswith("ct_") and (ct[c] != 0).any()]
    s_ct = score_genotypes(ct, reader, score_columns=cols, samples=test).table
    r2_ps = r2_score(s_ps["prscs_SUM"], yt)
    r2_ct = np.nanmax([r2_score(s_ct[f"{c}_SUM"], yt) for c in cols])
    assert r2_ps > 0.02
    assert r2_ps >= 0.9 * r2_ct


# ----------------------------------------------------------------------------- alignment, errors
def _toy_reader(tmp_path):
    from bma_genetics.ld import PlinkReader

    prefix = tmp_path / "toy"
    bim = pd.DataFrame({0: ["1"] * 6, 1: [f"rs{i}" for i in range(6)], 2: 0, 3: [100, 200, 300, 400, 500, 600],
                        4: ["A", "C", "A", "G", "A", "C"], 5: ["G", "T", "T", "A", "C", "G"]})
    bim.to_csv(f"{prefix}.bim", sep="\t", header=False, index=False)
    pd.DataFrame([[f"i{k}", f"i{k}", 0, 0, 1, -9] for k in range(4)]).to_csv(f"{prefix}.fam", sep=" ",
                                                                             header=False, index=False)
    # 4 samples, one byte per variant: hom A1, het, hom A2, missing
    (tmp_path / "toy.bed").write_bytes(b"\x6c\x1b\x01" + bytes([0b01111000]) * 6)
    return PlinkReader(prefix)


def test_alignment_flips_swaps_drops_and_reports(tmp_path):
    from bma_genetics.prs.align import align_to_reader

    reader = _toy_reader(tmp_path)
    w = pd.DataFrame({"chromosome": "1", "base_pair_location": [100, 200, 300, 400, 500, 700],
                      "effect_allele": ["G", "G", "A", "T", "A", "A"],
                      "other_allele": ["A", "A", "T", "C", "G", "C"], "s": 1.0})
    al = align_to_reader(w, reader, max_mismatch=0.5)
    # 100: swapped order; 200: C/T on the other strand (G/A); 300: A/T ambiguous; 400: G/A on the
    # other strand (C/T); 500: A/G vs target A/C mismatch; 700: absent
    assert al.counts == {"n_input": 6, "n_matched": 3, "n_missing": 1, "n_ambiguous": 1, "n_mismatch": 1,
                         "n_flipped": 2, "n_duplicate": 0}
    assert al.table["named_allele"].tolist() == ["G", "C", "A"]
    assert dict(zip(al.missing["base_pair_location"], al.missing["reason"], strict=True)) == {
        300: "ambiguous", 500: "allele_mismatch", 700: "not_in_target"}
    kept = align_to_reader(w, reader, keep_ambiguous=True, max_mismatch=0.5)
    assert kept.counts["n_matched"] == 4


def test_no_overlap_and_mismatch_errors(tmp_path):
    from bma_genetics.prs.align import align_to_reader
    from bma_genetics.prs.score import score_genotypes

    reader = _toy_reader(tmp_path)
    none = pd.DataFrame({"chromosome": "2", "base_pair_location": [100], "effect_allele": ["A"],
                         "other_allele": ["G"], "s": 1.0})
    with pytest.raises(InputError, match="none of the 1 variants"):
        score_genotypes(none, reader, score_columns=["s"])
    bad = pd.DataFrame({"chromosome": "1", "base_pair_location": [100, 200, 400],
                        "effect_allele": ["A", "A", "G"], "other_allele": ["C", "G", "C"], "s": 1.0})
    with pytest.raises(InputError, match=r"2 of the 3 variants .* match neither"):
        align_to_reader(bad, reader)
    with pytest.raises(InputError, match="score_columns"):
        score_genotypes(none, reader, score_columns=["nope"])


def test_scores_by_hand(tmp_path):
    """Named-allele dosages on the toy fileset: hom A1 = 2, het = 1, hom A2 = 0, missing imputed."""
    from bma_genetics.prs.score import score_genotypes

    reader = _toy_reader(tmp_path)
    w = pd.DataFrame({"chromosome": "1", "base_pair_location": [100, 200], "effect_allele": ["A", "T"],
                      "other_allele": ["G", "C"], "s": [1.0, 10.0]})
    t = score_genotypes(w, reader, score_columns=["s"]).table
    # variant 100 counts A (A1): 2, 1, 0, missing -> mean 1; variant 200 counts T (A2): 0, 1, 2, missing
    np.testing.assert_allclose(t["s_SUM"], [2 + 0, 1 + 10, 0 + 20, 1 + 10])
    np.testing.assert_array_equal(t["ALLELE_CT"], [4, 4, 4, 0])
    np.testing.assert_allclose(t["s_AVG"], t["s_SUM"] / 4)


def test_clump_reads_a_chromosome_once_and_agrees(array, monkeypatch):
    """ld.clump's per-chromosome cache gives the clumps of the per-index reads."""
    import importlib

    clump_mod = importlib.import_module("bma_genetics.ld.clump")  # the package's `clump` is the function

    ss = array["ss"]
    fast = clump_mod.clump(ss, array["reader"], p1=0.01, p2=0.5, r2=0.1, window_kb=250)
    monkeypatch.setattr(clump_mod, "_CACHE_BYTES", 0)
    slow = clump_mod.clump(ss, array["reader"], p1=0.01, p2=0.5, r2=0.1, window_kb=250)
    pd.testing.assert_frame_equal(fast, slow)
    assert len(fast) > 5


def test_io_round_trip(tmp_path):
    from bma_genetics.io.prs import read_prs_weights, read_sscore, write_prs_weights, write_sscore

    w = pd.DataFrame({"variant_id": ["1:100_A_G"], "chromosome": ["1"], "base_pair_location": [100],
                      "effect_allele": ["G"], "other_allele": ["A"], "ct_0.01": [0.1], "prscs": [0.05]})
    p = write_prs_weights(w, tmp_path / "w.tsv")
    back = read_prs_weights(p)
    assert list(back.columns[:2]) == ["variant_id", "effect_allele"]
    s = pd.DataFrame({"#FID": ["1"], "IID": ["1"], "ALLELE_CT": [2], "NAMED_ALLELE_DOSAGE_SUM": [1.0],
                      "x_AVG": [0.1 / 3], "x_SUM": [0.2 / 3]})
    back = read_sscore(write_sscore(s, tmp_path / "s.sscore"))
    assert back["x_AVG"].iloc[0] == pytest.approx(s["x_AVG"].iloc[0], rel=1e-15)  # full precision written
    with pytest.raises(InputError):
        read_prs_weights(w.drop(columns=["effect_allele"]))


def test_prs_stage_refuses_a_baseline_no_target_person_has():
    """A non-imaged target has no imaging date (53-2.0): the stage refuses before scoring, naming
    the column and the way out, instead of logging every survival model as not estimated."""
    from bma_genetics.prs.stage import check_baseline

    people = pd.DataFrame({"eid": ["1", "2", "3"],
                           "scan_date": pd.to_datetime(["2015-01-01", None, None])})
    with pytest.raises(InputError, match=r"prs/baseline: none of the 2 target people \(non-imaged\) has a "
                                         r"'scan_date' date.*instance: 0"):
        check_baseline(people, ["2", "3"], "scan_date", "non-imaged")
    with pytest.raises(InputError, match="prs/baseline: column 'visit' not in the participant table"):
        check_baseline(people, ["2", "3"], "visit", "non-imaged")
    check_baseline(people, ["1", "2"], "scan_date", "outside-gwas")  # one dated target person: fine

def _write_plink(prefix, chrom, pos, a1, a2, dosage_a1):
    """A PLINK 1 fileset of ``dosage_a1`` (variants x samples, counts of A1, no missing)."""
    n_var, n_sam = dosage_a1.shape
    pd.DataFrame({0: chrom, 1: [f"rs{i}" for i in range(n_var)], 2: 0, 3: pos, 4: a1, 5: a2}).to_csv(
        f"{prefix}.bim", sep="\t", header=False, index=False)
    pd.DataFrame([[f"i{k}", f"i{k}", 0, 0, 1, -9] for k in range(n_sam)]).to_csv(
        f"{prefix}.fam", sep=" ", header=False, index=False)
    code = np.array([3, 2, 0], dtype=np.uint8)[dosage_a1]  # 2 A1 -> 00, 1 -> 10, 0 -> 11
    code = np.pad(code, ((0, 0), (0, -n_sam % 4)))
    packed = (code[:, 0::4] | code[:, 1::4] << 2 | code[:, 2::4] << 4 | code[:, 3::4] << 6).astype(np.uint8)
    with open(f"{prefix}.bed", "wb") as out:
        out.write(b"\x6c\x1b\x01" + packed.tobytes())


def test_chrx_weights_of_both_methods_meet_on_one_row(tmp_path):
    """A .bim names X as 23 (25 its pseudo-autosomal part) while the summary statistics say X: both
    methods find the variants, and the C+T and PRS-CS weights of one variant stay one row (PRS-CS
    keeps the summary statistics' chromosome), so each weight is scored."""
    from bma_genetics.ld import PlinkReader
    from bma_genetics.prs.api import run_prs
    from bma_genetics.prs.prscs import PRSCSParameters

    rng = np.random.default_rng(5)
    n_var, n_sam = 6, 80
    dos = rng.binomial(2, 0.3, size=(n_var, n_sam))
    pos = 1000 + 10_000 * np.arange(n_var)
    a1, a2 = ["A", "C", "G", "A", "C", "A"], ["G", "T", "A", "C", "A", "G"]
    # the first variant pseudo-autosomal: 25 in the .bim, X in the summary statistics
    _write_plink(tmp_path / "x", ["25"] + ["23"] * (n_var - 1), pos, a1, a2, dos)
    reader = PlinkReader(tmp_path / "x")
    ss = pd.DataFrame({"variant_id": [f"X:{p}" for p in pos], "chromosome": "X", "base_pair_location": pos,
                       "effect_allele": a1, "other_allele": a2, "beta": [0.3, -0.2, 0.1, 0.05, -0.1, 0.2],
                       "p_value": [1e-9, 1e-6, 1e-3, 0.2, 0.01, 1e-4], "n": 5000.0})
    res = run_prs({"t": ss}, ld=reader, target=reader, methods=("ct", "prscs"), thresholds=(1.0,),
                  prscs=PRSCSParameters(n_iter=40, n_burnin=20, thin=2))
    w = res.weights["t"]
    assert len(w) == n_var
    assert set(w["chromosome"].astype(str)) == {"X"}
    assert (w["prscs"] != 0).all()
    assert (w["ct_1"] != 0).sum() >= 1
    # the score of the PRS-CS column is the dosage of the effect allele (A1 here) times its weight
    want = dos.T @ w.set_index("base_pair_location").loc[pos, "prscs"].to_numpy()
    np.testing.assert_allclose(res.scores.table["t.prscs_SUM"], want, rtol=1e-9)


def test_combine_matches_traits_on_the_allele_pair():
    """A second trait's weight of the same variant (alleles swapped, on the other strand, or its
    chromosome spelt 23) joins the first trait's row, its sign turned only where it names the other
    allele; another allele pair at the same position (multi-allelic) stays a row of its own."""
    from bma_genetics.prs.api import _combine

    a = pd.DataFrame({"chromosome": ["1", "1", "1", "1", "X"], "base_pair_location": [100, 200, 300, 400, 500],
                      "effect_allele": ["A", "A", "A", "A", "C"], "other_allele": ["G", "G", "G", "G", "T"],
                      "s": [1.0, 2.0, 3.0, 4.0, 5.0]})
    # 100 as written; 200 swapped; 300 other strand (T/C); 400 other strand and swapped (C/T);
    # 500 on "23"; 100 A/T: another allele of the site
    b = pd.DataFrame({"chromosome": ["1", "1", "1", "1", "23", "1"],
                      "base_pair_location": [100, 200, 300, 400, 500, 100],
                      "effect_allele": ["A", "G", "T", "C", "T", "A"], "other_allele": ["G", "A", "C", "T", "C", "T"],
                      "s": [10.0, 20.0, 30.0, 40.0, 50.0, 60.0]})
    out = _combine({"a": a, "b": b}, {"a": ["s"], "b": ["s"]})
    assert len(out) == 6
    got = {(r.base_pair_location, r.other_allele): (r.effect_allele, r._4, r._5)
           for r in out.itertuples(index=False)}
    assert got == {(100, "G"): ("A", 1.0, 10.0), (200, "G"): ("A", 2.0, -20.0), (300, "G"): ("A", 3.0, 30.0),
                   (400, "G"): ("A", 4.0, -40.0), (500, "T"): ("C", 5.0, -50.0), (100, "T"): ("A", 0.0, 60.0)}
    assert out.loc[out["base_pair_location"] == 500, "chromosome"].tolist() == ["X"]

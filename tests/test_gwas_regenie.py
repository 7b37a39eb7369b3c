"""REGENIE-style step 1 (whole-genome ridge, LOCO) and step 2 (trait minus LOCO prediction).

- Step 1 equals an independent, literal implementation of REGENIE's algorithm (explicit ridge
  solves per block, fold and shrinkage; level 1 by K-fold CV; LOCO by dropping a chromosome's
  level-0 columns) to 1e-9, and is reproducible to 1e-10 for a fixed seed.
- The ``.loco`` / ``_pred.list`` files are REGENIE's layout and read back exactly.
- Step 2 with LOCO predictions of zero equals today's regression to 1e-6 (measured: identical),
  and with real predictions equals a numpy least-squares fit of ``y - s * loco_c`` to 1e-6.
- The relatives simulator is deterministic, states its kinship and heritability.
Calibration, power and BOLT-LMM agreement on a larger related cohort: ``benchmarks/loco_relatives.py``;
BOLT-LMM side by side in a test: tests/test_gwas_bolt.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmarks.loco_relatives import cohort_table
from bma_genetics.errors import InputError
from tests._genotypes import write_random_bed


@pytest.fixture(scope="module")
def related(tmp_path_factory):
    from bma_genetics.simulate.relatives import simulate_related_cohort

    d = tmp_path_factory.mktemp("relatives")
    c = simulate_related_cohort(d, n_families=60, n_parent_offspring=20, n_cousin_pairs=20, n_second_cousin_pairs=20,
                                n_unrelated=150, n_chromosomes=4, variants_per_chromosome=150, n_traits=2, seed=5)
    table, _ = cohort_table(c)
    table.loc[table.index[::17], "trait_2"] = np.nan  # a trait with missing values
    return c, table


def _brute_step1(x_blocks, block_chrom, y, defined, c, folds, n_l0, n_l1):
    """REGENIE step 1 written out literally: explicit solves, no shared decompositions."""
    q, _ = np.linalg.qr(c)
    n = len(y)
    ys = np.zeros_like(y)
    for t in range(y.shape[1]):
        m = defined[:, t]
        qm, _ = np.linalg.qr(c[m])
        r = y[m, t] - qm @ (qm.T @ y[m, t])
        ys[m, t] = r / np.sqrt(r @ r / (m.sum() - c.shape[1]))
    m_total = sum(b.shape[1] for b in x_blocks)
    h2 = np.linspace(0.01, 0.99, n_l0)
    taus = m_total * (1 - h2) / h2
    cols, chrom_of = [], []
    for xb, ch in zip(x_blocks, block_chrom, strict=True):
        xb = xb - q @ (q.T @ xb)
        xb = xb / np.sqrt((xb**2).sum(axis=0) / (n - q.shape[1]))
        for tau in taus:
            w = np.zeros((n, y.shape[1]))
            for k in np.unique(folds):
                tr, te = folds != k, folds == k
                beta = np.linalg.solve(xb[tr].T @ xb[tr] + tau * np.eye(xb.shape[1]), xb[tr].T @ ys[tr])
                w[te] = xb[te] @ beta
            cols.append(w)
            chrom_of.append(ch)
    w = np.stack(cols, axis=1)  # (n, L, traits)
    h2 = np.linspace(0.01, 0.99, n_l1)
    phis = w.shape[1] * (1 - h2) / h2
    out = {}
    for t in range(y.shape[1]):
        d = defined[:, t]
        z = (w[:, :, t] - w[d, :, t].mean(axis=0)) / w[d, :, t].std(axis=0)
        err = []
        for phi in phis:
            e = 0.0
            for k in np.unique(folds):
                tr, te = d & (folds != k), d & (folds == k)
                a = np.linalg.solve(z[tr].T @ z[tr] + phi * np.eye(z.shape[1]), z[tr].T @ ys[tr, t])
                e += np.sum((ys[te, t] - z[te] @ a) ** 2)
            err.append(e)
        phi = phis[int(np.argmin(err))]
        loco = {ch: np.full(n, np.nan) for ch in set(chrom_of)}
        for k in np.unique(folds):
            tr, te = d & (folds != k), d & (folds == k)
            a = np.linalg.solve(z[tr].T @ z[tr] + phi * np.eye(z.shape[1]), z[tr].T @ ys[tr, t])
            for ch in loco:
                keep = np.array([c != ch for c in chrom_of])
                loco[ch][te] = z[te][:, keep] @ a[keep]
        out[t] = loco
    return out


def test_step1_equals_literal_regenie(related):
    """Level 0 (5 shrinkage values from REGENIE's h2 grid, 5 folds), level 1 CV and LOCO against
    the literal algorithm above: predictions equal to 1e-9 (measured ~1e-13)."""
    from bma_genetics.gwas.regenie import run_step1
    from bma_genetics.ld.readers import PlinkReader

    c, table = related
    res = run_step1(table, bfile=c.bfile, traits=["trait_1", "trait_2"], covariates=["sex", "age"],
                    block_size=100, seed=7)
    reader = PlinkReader(c.bfile)
    tab = table.set_index("eid").loc[reader.samples]
    x = reader.dosages(np.arange(reader.n_variants)).astype(float)
    chrom = reader.variants["chromosome"].to_numpy()
    blocks, bchrom = [], []
    for ch in dict.fromkeys(chrom):
        idx = np.flatnonzero(chrom == ch)
        for i in range(0, len(idx), 100):
            blocks.append(x[:, idx[i:i + 100]])
            bchrom.append(ch)
    y = tab[["trait_1", "trait_2"]].to_numpy()
    cmat = np.column_stack([np.ones(len(tab)), tab["sex"], tab["age"]])
    n = len(tab)
    folds = np.empty(n, int)
    folds[np.random.default_rng(7).permutation(n)] = np.arange(n) % 5
    brute = _brute_step1(blocks, bchrom, np.nan_to_num(y), np.isfinite(y), cmat, folds, 5, 5)
    for t, trait in enumerate(["trait_1", "trait_2"]):
        pred = res.predictions[trait].loc[reader.samples]
        for ch, values in brute[t].items():
            np.testing.assert_allclose(pred[ch].to_numpy(), values, rtol=0, atol=1e-9)
        assert pred["X"].equals(pred["22"])  # no such chromosome in step 1: the whole-genome prediction
    assert res.to_frame()["n"].tolist() == [len(tab), int(np.isfinite(y[:, 1]).sum())]


def test_step1_reproducible_and_written_as_regenie(related, tmp_path):
    """The same seed gives the same predictions to 1e-10 (measured: identical); another seed other
    folds; the files are REGENIE's layout and read back to the same values."""
    from bma_genetics.gwas.regenie import run_step1
    from bma_genetics.io import read_loco_predictions

    c, table = related
    kw = dict(bfile=c.bfile, traits=["trait_1", "trait_2"], covariates=["sex", "age"], block_size=200)
    a = run_step1(table, seed=3, out=tmp_path / "a", **kw)
    b = run_step1(table, seed=3, **kw)
    other = run_step1(table, seed=4, **kw)
    for t in ("trait_1", "trait_2"):
        diff = np.abs(a.predictions[t].to_numpy() - b.predictions[t].to_numpy())
        assert np.nanmax(diff) <= 1e-10
        assert np.nanmax(np.abs(a.predictions[t].to_numpy() - other.predictions[t].to_numpy())) > 1e-6
    lines = (tmp_path / "a" / "step1_pred.list").read_text().splitlines()
    assert [ln.split()[0] for ln in lines] == ["trait_1", "trait_2"]
    loco = (tmp_path / "a" / "step1_1.loco").read_text().splitlines()
    head = loco[0].split()
    assert head[0] == "FID_IID" and head[1] == f"{table['eid'].iloc[0]}_{table['eid'].iloc[0]}"
    assert [ln.split()[0] for ln in loco[1:]] == [*map(str, range(1, 24))]  # X written 23
    back = read_loco_predictions(tmp_path / "a" / "step1_pred.list")
    for t in ("trait_1", "trait_2"):
        pd.testing.assert_frame_equal(back[t], a.predictions[t], check_exact=True)
    assert np.isnan(back["trait_2"].loc[table.loc[table["trait_2"].isna(), "eid"].iloc[0]]).all()


def test_loco_reader_refuses_bad_files(tmp_path):
    from bma_genetics.io import read_loco_predictions

    (tmp_path / "p.list").write_text("t1\n")
    with pytest.raises(InputError, match="line 1"):
        read_loco_predictions(tmp_path / "p.list")
    (tmp_path / "p.list").write_text("t1 missing.loco\n")
    with pytest.raises(InputError, match="no such .loco"):
        read_loco_predictions(tmp_path / "p.list")
    (tmp_path / "t.loco").write_text("FID_IID 1_1 2_2\n1 0.1 0.2\n2 0.1\n")
    (tmp_path / "p.list").write_text("t1 t.loco\n")
    with pytest.raises(InputError, match="line 3: 1 values for 2 samples"):
        read_loco_predictions(tmp_path / "p.list")
    (tmp_path / "t.loco").write_text("FID_IID 1_1 2_2\n1 0.1 x\n")
    with pytest.raises(InputError, match="'x' is not a number"):
        read_loco_predictions(tmp_path / "p.list")


def test_step1_arguments_checked(related):
    from bma_genetics.gwas.regenie import run_step1

    c, table = related
    with pytest.raises(InputError, match="run_step1/traits"):
        run_step1(table, bfile=c.bfile, traits=["nope"])
    with pytest.raises(InputError, match="run_step1/n_folds"):
        run_step1(table, bfile=c.bfile, traits=["trait_1"], n_folds=1)
    with pytest.raises(InputError, match="run_step1/bfile"):
        run_step1(table, bfile=c.bfile.parent / "absent", traits=["trait_1"])


def test_relatives_simulator(related, tmp_path):
    """Deterministic (same seed, same bytes), relatives as stated: sibling genotypes correlate at
    about 2 x kinship = 0.5 and unrelated people at 0; the traits' variance is about 1 + covariates."""
    from bma_genetics.ld.readers import PlinkReader
    from bma_genetics.simulate.relatives import simulate_related_cohort

    c, table = related
    again = simulate_related_cohort(tmp_path, n_families=60, n_parent_offspring=20, n_cousin_pairs=20,
                                    n_second_cousin_pairs=20, n_unrelated=150, n_chromosomes=4,
                                    variants_per_chromosome=150, n_traits=2, seed=5)
    for suffix in (".bed", ".bim", ".fam"):
        assert again.bfile.with_suffix(suffix).read_bytes() == c.bfile.with_suffix(suffix).read_bytes()
    assert again.pheno.read_bytes() == c.pheno.read_bytes()
    meta = json.loads((c.out / "truth" / "relatives.json").read_text())
    assert meta["h2"] == 0.5 and meta["causal_chromosomes"] == ["1", "2"] and meta["null_chromosomes"] == ["3", "4"]
    ped = pd.read_csv(c.out / "truth" / "pedigree.tsv", sep="\t", dtype={"eid": str})
    reader = PlinkReader(c.bfile)
    g = reader.dosages(np.arange(reader.n_variants)).astype(float)
    g = (g - g.mean(axis=0)) / g.std(axis=0)
    grm = g @ g.T / g.shape[1]
    pos = {s: i for i, s in enumerate(reader.samples)}
    fam = ped[ped["role"] == "sibling"].groupby("family")["eid"].apply(list)
    sib = np.mean([grm[pos[a[0]], pos[a[1]]] for a in fam])
    unrel = ped.loc[ped["role"] == "unrelated", "eid"].map(pos).to_numpy()
    assert 0.4 < sib < 0.6  # 2 x kinship 0.25
    assert abs(np.mean(grm[np.ix_(unrel[:50], unrel[50:100])])) < 0.05
    rel = pd.read_csv(c.kinship, sep=r"\s+", dtype={"ID1": str, "ID2": str})
    assert set(rel["Kinship"].round(4)) <= {0.25, 0.0625} and len(rel) == meta["n_related_pairs_listed"]


@pytest.fixture(scope="module")
def step2(hail_context, tmp_path_factory):
    """One run_gwas pass with three traits: 'a' with zero LOCO predictions, 'a_copy' (same values)
    with none, 'b' with random predictions."""
    from bma_genetics.gwas import read_genotypes, run_gwas

    d = tmp_path_factory.mktemp("step2")
    rng = np.random.default_rng(21)
    n, m = 300, 200
    dose, chrom, pos, eids, a1, a2 = write_random_bed(d / "geno", rng, n, m, maf=(0.1, 0.5), spacing=100,
                                                      first_id=500001)
    ph = pd.DataFrame({"eid": eids, "age": rng.normal(60, 7, n), "pc1": rng.normal(size=n)})
    ph["a"] = rng.normal(size=n) + 0.03 * ph["age"]
    ph["a_copy"] = ph["a"]
    ph["b"] = rng.normal(size=n) + 0.5 * ph["pc1"]
    ph.loc[ph.index[:25], "b"] = np.nan
    loco = {"a": pd.DataFrame(0.0, index=pd.Index(eids, name="eid"), columns=["1", "2", "X"]),
            "b": pd.DataFrame(rng.normal(size=(n, 3)), index=pd.Index(eids, name="eid"), columns=["1", "2", "X"])}
    mt = read_genotypes(bfile=d / "geno")
    res = run_gwas(mt, ph, traits=["a", "a_copy", "b"], covariates=["age", "pc1"], chunk_by="all", loco=loco,
                   out=d / "out", chromosomes=["1", "2"])
    return res, ph, loco, dose, chrom


def test_step2_zero_loco_equals_plain_regression(step2):
    """LOCO predictions of zero leave today's regression unchanged: beta, SE, P equal to 1e-6
    relative (measured: bit-identical), with one pass per chromosome."""
    res, *_ = step2
    a, plain = res.sumstats["a"], res.sumstats["a_copy"]
    assert len(a) == 200
    for col in ("beta", "standard_error", "p_value", "t_statistic"):
        np.testing.assert_allclose(a[col], plain[col], rtol=1e-6, atol=0)


def test_step2_projection_engine_equals_the_per_group_passes(step2, hail_context):
    """LOCO step 2 with ``linear_engine='projection'``: each chromosome's pass fits the trait minus
    that chromosome's scaled prediction ('b', missing for 25 people: its own missingness group) as
    the per-group passes do: SE, t, -log10 P to 1e-6 relative, beta to 1e-6 SE (tests/_engines.py)."""
    from bma_genetics.gwas import read_genotypes, run_gwas
    from tests._engines import assert_engines_agree

    res, ph, loco, _dose, _chrom = step2
    d = Path(res.files["a"]).parent.parent
    new = run_gwas(read_genotypes(bfile=d / "geno"), ph, traits=["a", "a_copy", "b"], covariates=["age", "pc1"],
                   chunk_by="all", loco=loco, chromosomes=["1", "2"], linear_engine="projection")
    assert assert_engines_agree(new.sumstats, res.sumstats, where="loco") == 3 * 200


def test_step2_tests_trait_minus_scaled_loco(step2):
    """Trait 'b' on chromosome c: the regression of y - s * loco_c (s = residual SD of y on the
    covariates) on dosage + covariates, numpy least squares: beta and SE to 1e-6 relative."""
    res, ph, loco, dose, chrom = step2
    ss = res.sumstats["b"]
    ok = ph["b"].notna().to_numpy()
    y = ph["b"].to_numpy()[ok]
    c = np.column_stack([np.ones(ok.sum()), ph.loc[ok, ["age", "pc1"]].to_numpy()])
    r = y - c @ np.linalg.lstsq(c, y, rcond=None)[0]
    s = np.sqrt(r @ r / (len(y) - 3))
    assert ss["n"].iloc[0] == ok.sum()
    for j in [0, 5, 150, 199]:
        ch = chrom[j]
        yt = y - s * loco["b"][ch].to_numpy()[ok]
        x = np.column_stack([dose[j][ok], c])
        coef, *_ = np.linalg.lstsq(x, yt, rcond=None)
        e = yt - x @ coef
        se = np.sqrt(e @ e / (len(yt) - x.shape[1]) * np.linalg.inv(x.T @ x)[0, 0])
        row = ss.iloc[j]
        assert row["chromosome"] == ch
        np.testing.assert_allclose([row["beta"], row["standard_error"]], [coef[0], se], rtol=1e-6)


def test_step2_refuses_missing_predictions():
    """An analysed sample without a LOCO prediction, or a multi-chromosome pass, is an error."""
    from bma_genetics.gwas.association import plan_analyses
    from bma_genetics.gwas.regenie import LocoAdjuster

    rng = np.random.default_rng(2)
    eids = [str(i) for i in range(1, 101)]
    ph = pd.DataFrame({"eid": eids, "age": rng.normal(size=100), "b": rng.normal(size=100)})
    loco = pd.DataFrame(rng.normal(size=(100, 2)), index=pd.Index(eids, name="eid"), columns=["1", "2"])
    analyses, frame = plan_analyses(ph, traits=["b"], covariates=["age"])
    with pytest.raises(InputError, match="10 of 100 analysed samples have no LOCO prediction"):
        LocoAdjuster(frame, analyses, {"b": loco.iloc[10:]})
    adj = LocoAdjuster(frame, analyses, {"b": loco})
    with pytest.raises(InputError, match="chunk_by: chromosome"):
        adj.frame_for("1,2")
    with pytest.raises(InputError, match="no LOCO prediction for chromosome 3"):
        adj.frame_for("3")
    # a binary trait keeps its 0/1 values (it is analysed by Firth without LOCO)
    ph["case"] = (ph["b"] > 0).astype(float)
    analyses, frame = plan_analyses(ph, traits=["case"], covariates=["age"])
    assert LocoAdjuster(frame, analyses, {"case": loco}).frame_for("1")["y__0"].equals(frame["y__0"])


@pytest.mark.parametrize(("change", "message"), [
    ({"relatedness": "keep"}, r"run_study_gwas/relatedness: expected one of \['drop', 'keep_loco'\]"),
    ({"relatedness": "keep_loco"}, "run_study_gwas/array: relatedness='keep_loco' needs the array genotypes"),
    ({"relatedness": "keep_loco", "array": "no_such_array"}, "run_study_gwas/array: no PLINK .bed"),
    ({"relatedness": "keep_loco", "array": "x", "step1": {"n_fold": 5}}, r"run_study_gwas/step1: unknown setting"),
    ({"relatedness": "keep_loco", "array": "x", "step1": {"n_folds": 1}}, "run_study_gwas/step1: n_folds must be"),
    ({"pred": "p.list"}, "run_study_gwas/pred: LOCO predictions are used with relatedness='keep_loco' only"),
    ({"kinship": "ukb_rel.dat"}, "run_study_gwas/kinship: the kinship pairs calibrate the LOCO statistic"),
    ({"relatedness": "keep_loco", "pred": "no_such_pred.list"}, "read_loco_predictions/pred_list: no such file"),
])
def test_loco_arguments_fail_before_hail(tmp_path, change, message):
    from bma_genetics.gwas.api import run_study_gwas

    def no_hail():
        raise AssertionError("Hail must not start before the arguments are checked")

    pheno = pd.DataFrame({"eid": ["1", "2", "3"], "y": [1.0, 2.0, 3.0], "age": [50.0, 60.0, 70.0]})
    with pytest.raises(InputError, match=message):
        run_study_gwas(pheno, out=tmp_path / "out", traits=["y"], covariates=["age"], bfile="geno",
                       **change, start_hail=no_hail)
    assert not (tmp_path / "out").exists()


def test_loco_pred_list_must_cover_the_traits(tmp_path):
    from bma_genetics.gwas.api import run_study_gwas
    from bma_genetics.io import write_loco_predictions

    pred = write_loco_predictions({"other": pd.DataFrame({"1": [0.1, 0.2]}, index=["1", "2"])}, tmp_path / "s")
    pheno = pd.DataFrame({"eid": ["1", "2", "3"], "y": [1.0, 2.0, 3.0], "age": [50.0, 60.0, 70.0]})
    with pytest.raises(InputError, match=r"has no predictions for trait\(s\) \['y'\]"):
        run_study_gwas(pheno, out=tmp_path / "out", traits=["y"], covariates=["age"], bfile="geno",
                       relatedness="keep_loco", pred=pred, start_hail=lambda: None)


def test_participants_table_with_relatives(tiny_cohort):
    """The participants stage's second table: every QC step but 'related', i.e. the QC'd table plus
    exactly the people the 'related' step removed (what relatedness: keep_loco analyses)."""
    from bma_genetics.io import run_participants

    res = run_participants(tiny_cohort / "participants" / "ukb_showcase.csv",
                           withdrawals=tiny_cohort / "participants" / "withdrawals.csv",
                           kinship=tiny_cohort / "genotypes" / "ukb_rel.dat",
                           phenotype=tiny_cohort / "participants" / "bmff_idp.parquet", diagnoses=False,
                           progress=False)
    removed = int(res.qc_table.set_index("step").loc["related", "removed"])
    assert removed > 0
    rel = res.with_relatives
    assert len(rel) == len(res.participants) + removed == res.counts["n_with_relatives"]
    assert set(res.participants["eid"]) < set(rel["eid"])
    assert list(rel.columns) == list(res.participants.columns)


# --------------------------------------------------------------------------- calibration with relatives
@pytest.fixture(scope="module")
def dense(tmp_path_factory):
    """Sibships of 2-4 (no unrelated people), 10 chromosomes x 300 variants (causal on 1-5),
    10 traits with h2 0.8: the regime where LOCO's least-squares statistic is conservative."""
    from bma_genetics.gwas.association import plan_analyses
    from bma_genetics.gwas.regenie import LocoAdjuster, run_step1
    from bma_genetics.io import read_kinship
    from bma_genetics.ld.readers import PlinkReader
    from bma_genetics.simulate.relatives import simulate_related_cohort

    d = tmp_path_factory.mktemp("dense")
    c = simulate_related_cohort(d, n_families=150, max_sibs=4, n_parent_offspring=0, n_cousin_pairs=0,
                                n_second_cousin_pairs=0, n_unrelated=0, n_chromosomes=10, variants_per_chromosome=300,
                                h2=0.8, n_traits=10, n_large=1, seed=3)
    table, traits = cohort_table(c)
    from bma_genetics._blas import blas_threads

    with blas_threads(1):  # small products: OpenBLAS threads only oversubscribe a busy machine
        step1 = run_step1(table, bfile=c.bfile, traits=traits, covariates=["sex", "age"], block_size=300, seed=1)
    analyses, frame = plan_analyses(table, traits=traits, covariates=["sex", "age"])
    kin = read_kinship(c.kinship)
    adj = LocoAdjuster(frame, analyses, step1.predictions, kinship=kin)
    reader = PlinkReader(c.bfile)
    pos = {s: i for i, s in enumerate(reader.samples)}
    dose = reader.dosages(np.arange(reader.n_variants))[[pos[e] for e in frame["eid"]]].astype(float)
    chrom = reader.variants["chromosome"].astype(str).to_numpy()
    return c, table, step1, analyses, frame, adj, kin, dose, chrom


def _ls_chi2(y, dose, covs):
    """Least-squares Wald chi2 of y on each dosage column + covariates (Frisch-Waugh-Lovell)."""
    q, _ = np.linalg.qr(np.column_stack([np.ones(len(y)), covs]))
    x = dose - q @ (q.T @ dose)
    r = y - q @ (q.T @ y)
    xx = (x * x).sum(axis=0)
    b = x.T @ r / xx
    rss = r @ r - b**2 * xx
    return b**2 / (rss / (len(y) - q.shape[1] - 1) / xx)


def test_loco_relatedness_factor_restores_null_calibration(dense):
    """With many relatives, REGENIE's step-2 statistic (least squares of y - s * loco_c) is
    conservative on null chromosomes: relatives' LOCO residuals are negatively correlated (each
    one's prediction is made partly from the others' phenotypes). Measured here: pooled mean chi2
    0.87 over 15,000 null tests (10 traits x 5 null chromosomes). Divided by the relatedness
    factor r'(I + 2 Phi)r / r'r it is 1.00 (asserted within 0.04; the factor equals the dense
    quadratic form to 1e-12)."""
    c, table, step1, analyses, frame, adj, kin, dose, chrom = dense
    covs = frame[["cov__sex", "cov__age"]].to_numpy(dtype=float)
    eids = frame["eid"].astype(str).tolist()
    at = {e: i for i, e in enumerate(eids)}
    two_phi = np.eye(len(eids))
    for a_, b_, k in zip(kin["ID1"], kin["ID2"], kin["Kinship"], strict=True):
        two_phi[at[a_], at[b_]] = two_phi[at[b_], at[a_]] = 2 * k
    from bma_genetics._blas import blas_threads

    raw, calibrated = [], []
    with blas_threads(1):
        _null_chi2(c, analyses, adj, dose, chrom, covs, two_phi, raw, calibrated)
    raw, calibrated = np.concatenate(raw), np.concatenate(calibrated)
    assert len(raw) == 15_000
    assert raw.mean() < 0.92  # the problem: deflated
    assert abs(calibrated.mean() - 1) < 0.04
    # no kinship pairs, chromosome X, a trait without predictions: factor 1
    from bma_genetics.gwas.regenie import LocoAdjuster

    plain = LocoAdjuster(frame, analyses, step1.predictions)
    assert plain.relatedness_factor(analyses[0], "6") == 1.0
    assert adj.relatedness_factor(analyses[0], "X") == 1.0
    with pytest.raises(InputError, match="run_gwas/kinship: expected a DataFrame with ID1, ID2, Kinship"):
        LocoAdjuster(frame, analyses, step1.predictions, kinship=kin.drop(columns="Kinship"))


def _null_chi2(c, analyses, adj, dose, chrom, covs, two_phi, raw, calibrated):
    for a in analyses:
        for ch in c.null_chromosomes:
            y = adj.frame_for(ch)[a.column].to_numpy(dtype=float)
            chi2 = _ls_chi2(y, dose[:, chrom == ch], covs)
            f = adj.relatedness_factor(a, ch)
            q, _ = np.linalg.qr(np.column_stack([np.ones(len(y)), covs]))
            r = y - q @ (q.T @ y)
            assert f == pytest.approx(r @ two_phi @ r / (r @ r), rel=1e-12)
            raw.append(chi2)
            calibrated.append(chi2 / f)


def test_step2_divides_by_relatedness_factor(dense, hail_context, tmp_path):
    """run_gwas(loco=, kinship=) on a null chromosome: beta as the least-squares fit of y - s * loco_c,
    SE times sqrt(factor) and P from t / sqrt(factor) with n - k - 1 df (1e-6)."""
    from scipy import stats

    from bma_genetics.gwas import read_genotypes, run_gwas

    c, table, step1, analyses, frame, adj, kin, dose, chrom = dense
    traits = ["trait_1", "trait_2"]
    res = run_gwas(read_genotypes(bfile=c.bfile), table, traits=traits, covariates=["sex", "age"],
                   loco={t: step1.predictions[t] for t in traits}, kinship=kin, chromosomes=["6"], out=tmp_path)
    covs = frame[["cov__sex", "cov__age"]].to_numpy(dtype=float)
    for a in analyses[:2]:
        ss = res.sumstats[a.trait]
        y = adj.frame_for("6")[a.column].to_numpy(dtype=float)
        x = dose[:, chrom == "6"]
        chi2 = _ls_chi2(y, x, covs)
        f = adj.relatedness_factor(a, "6")
        assert 0.7 < f < 0.97
        t = np.sqrt(chi2 / f)
        np.testing.assert_allclose(np.abs(ss["t_statistic"]), t, rtol=1e-6)
        np.testing.assert_allclose(ss["p_value"], 2 * stats.t.sf(t, len(y) - 4), rtol=1e-6)
        np.testing.assert_allclose(np.abs(ss["beta"] / ss["standard_error"]), t, rtol=1e-6)


def test_ukb_relatives_preset(tmp_path):
    """The 'ukb' preset has UK Biobank's share of participants with a relative to the third degree
    (Bycroft 2018: 30.3 %), mostly in pairs, siblings a minority of the pairs (UK Biobank: 21 %)."""
    from bma_genetics.simulate.relatives import (
        RELATIVES_PRESETS,
        relatives_preset,
        simulate_related_cohort,
    )

    c = simulate_related_cohort(tmp_path, **relatives_preset("ukb"), n_chromosomes=2, variants_per_chromosome=10,
                                n_traits=1, n_large=1, seed=2)
    meta = json.loads((c.out / "truth" / "relatives.json").read_text())
    assert 0.29 <= meta["share_with_listed_relative"] <= 0.31
    rel = pd.read_csv(c.kinship, sep=r"\s+", dtype={"ID1": str, "ID2": str})
    assert 0.15 < (rel["Kinship"] == 0.25).sum() / len(rel) < 0.4  # first degree (siblings, parent-offspring)
    assert rel[["ID1", "ID2"]].stack().value_counts().max() == 1  # pairs only
    assert set(RELATIVES_PRESETS) == {"ukb", "dense"}
    with pytest.raises(InputError, match="relatives_preset/name"):
        relatives_preset("ukbb")


def test_relatives_founder_ld(related, tmp_path):
    """founder_ld=True: founders from msprime, so the cohort has population LD (in-sample LD scores
    well above 1 and varying between variants, what LD score regression needs), relatives still as
    stated, and the same seed writes the same bytes; the default cohort has none (LD scores ~1)."""
    from bma_genetics.heritability.api import run_ldscore
    from bma_genetics.ld.readers import PlinkReader
    from bma_genetics.simulate.relatives import simulate_related_cohort

    kw = dict(n_families=40, n_parent_offspring=10, n_cousin_pairs=10, n_second_cousin_pairs=5, n_unrelated=120,
              n_chromosomes=2, variants_per_chromosome=300, n_traits=1, n_large=1, founder_ld=True, seed=4)
    c = simulate_related_cohort(tmp_path / "a", **kw)
    again = simulate_related_cohort(tmp_path / "b", **kw)
    for suffix in (".bed", ".bim"):
        assert again.bfile.with_suffix(suffix).read_bytes() == c.bfile.with_suffix(suffix).read_bytes()
    l2 = run_ldscore(PlinkReader(c.bfile), window="1000kb", chromosomes=None).table["l2"]
    assert l2.mean() > 3 and l2.std() / l2.mean() > 0.2, (l2.mean(), l2.std())
    flat = run_ldscore(PlinkReader(related[0].bfile), window="1000kb", chromosomes=None).table["l2"]
    assert abs(flat.mean() - 1) < 0.5  # the default founders: no LD
    meta = json.loads((c.out / "truth" / "relatives.json").read_text())
    assert meta["founder_ld"]["window_bp"] == 3_000_000 and meta["roles"]["parent"] == 10
    bim = pd.read_csv(c.bfile.with_suffix(".bim"), sep="\t", header=None)
    assert (bim.groupby(0)[3].diff().dropna() > 0).all()  # msprime positions, increasing
    ped = pd.read_csv(c.out / "truth" / "pedigree.tsv", sep="\t", dtype={"eid": str})
    sibs = ped[ped["role"] == "sibling"].groupby("family")["eid"].apply(list)
    reader = PlinkReader(c.bfile)
    g = reader.dosages(np.arange(reader.n_variants)).astype(float)
    g = (g - g.mean(axis=0)) / g.std(axis=0)
    where = {e: i for i, e in enumerate(reader.samples)}
    r_sib = np.mean([np.mean(g[where[a]] * g[where[b]]) for a, b, *_ in sibs])
    assert 0.35 < r_sib < 0.65  # 2 x kinship 1/4


def test_stage_kinship_setting(tmp_path, caplog):
    """gwas stage: step1.kinship (relative to the cohort) calibrates keep_loco when the file exists;
    a missing file is logged and leaves REGENIE's statistic; drop or null: none."""
    from bma_genetics.gwas.stage import _loco_kinship

    (tmp_path / "genotypes").mkdir()
    p = {"relatedness": "keep_loco", "step1": {"kinship": "genotypes/ukb_rel.dat"}}
    with caplog.at_level("WARNING"):
        assert _loco_kinship(tmp_path, p) is None
    assert "is not calibrated for relatedness" in caplog.text
    (tmp_path / "genotypes" / "ukb_rel.dat").write_text("ID1 ID2 HetHet IBS0 Kinship\n")
    assert _loco_kinship(tmp_path, p) == str(tmp_path / "genotypes" / "ukb_rel.dat")
    assert _loco_kinship(tmp_path, {**p, "relatedness": "drop"}) is None
    assert _loco_kinship(tmp_path, {**p, "step1": {"kinship": None}}) is None


def test_stage_explicit_missing_kinship_refused(tmp_path):
    """A step1.kinship path the config sets must exist (only the default may be absent): refused
    before any work, naming the key and the path, instead of an uncalibrated LOCO run."""
    from bma_genetics.gwas.stage import run
    from bma_genetics.pipeline.context import RunContext

    ctx = RunContext(run_dir=tmp_path / "run", cohort=tmp_path, config={}, seed=1)
    params = {"relatedness": "keep_loco", "step1": {"kinship": "genotypes/my_rel.dat"}}
    missing = str(tmp_path / "genotypes" / "my_rel.dat")
    with pytest.raises(InputError, match=rf"gwas.step1.kinship: {re.escape(missing)} does not exist"):
        run(ctx, params)


def test_relatedness_factor_counts_each_kinship_pair_once():
    """A kinship table listing both (A, B) and (B, A) (or a pair twice) gives the factor of the
    table with each pair once (to 1e-12); one pair with two kinships is refused, naming it."""
    from bma_genetics.gwas.association import plan_analyses
    from bma_genetics.gwas.regenie import LocoAdjuster

    rng = np.random.default_rng(7)
    n = 200
    eids = [str(1000 + k) for k in range(n)]
    table = pd.DataFrame({"eid": eids, "t": rng.standard_normal(n), "age": rng.normal(60, 7, n)})
    analyses, frame = plan_analyses(table, traits=["t"], covariates=["age"])
    loco = {"t": pd.DataFrame({"1": rng.standard_normal(n), "2": rng.standard_normal(n)}, index=eids)}
    once = pd.DataFrame({"ID1": eids[0:60:2], "ID2": eids[1:60:2], "Kinship": rng.uniform(0.05, 0.25, 30)})
    swapped = once.rename(columns={"ID1": "ID2", "ID2": "ID1"})
    doubled = pd.concat([once, swapped, once.iloc[:5]], ignore_index=True)
    f_once = LocoAdjuster(frame, analyses, loco, kinship=once).relatedness_factor(analyses[0], "1")
    f_doubled = LocoAdjuster(frame, analyses, loco, kinship=doubled).relatedness_factor(analyses[0], "1")
    assert f_once != 1.0
    assert f_doubled == pytest.approx(f_once, abs=1e-12)
    clash = pd.concat([once, swapped.iloc[[3]].assign(Kinship=0.4)], ignore_index=True)
    with pytest.raises(InputError, match=f"run_gwas/kinship: pair {eids[6]}-{eids[7]} is listed with different"):
        LocoAdjuster(frame, analyses, loco, kinship=clash)


# --------------------------------------------------------------------------- binary traits (REGENIE --bt)
def _brute_logistic_level1(w_std, y, d, c, folds, phis):
    """REGENIE's level-1 logistic ridge written out with a general optimiser: the covariates'
    logistic fit as offset, per fold and shrinkage the penalised maximum likelihood (scipy's
    trust-region optimiser), held-out negative log-likelihood to choose, LOCO by dropping columns."""
    import statsmodels.api as sm
    from scipy import optimize, special

    off = np.zeros(len(y))
    off[d] = sm.GLM(y[d], c[d], family=sm.families.Binomial()).fit(tol=1e-12).fittedvalues
    off[d] = special.logit(off[d])
    fits, nll = [], np.zeros(len(phis))
    for k in np.unique(folds):
        tr, te = d & (folds != k), d & (folds == k)
        per = []
        for j, phi in enumerate(phis):
            def f(a, tr=tr, phi=phi):
                eta = off[tr] + w_std[tr] @ a
                p = special.expit(eta)
                return (np.sum(np.logaddexp(0, eta) - y[tr] * eta) + 0.5 * phi * a @ a,
                        -(w_std[tr].T @ (y[tr] - p)) + phi * a)

            def hess(a, tr=tr, phi=phi):
                p = special.expit(off[tr] + w_std[tr] @ a)
                return (w_std[tr] * (p * (1 - p))[:, None]).T @ w_std[tr] + phi * np.eye(len(a))
            a = optimize.minimize(f, np.zeros(w_std.shape[1]), jac=True, hess=hess, method="trust-exact",
                                  options={"gtol": 1e-10}).x
            per.append(a)
            p = np.clip(special.expit(off[te] + w_std[te] @ a), 1e-5, 1 - 1e-5)
            nll[j] -= np.sum(y[te] * np.log(p) + (1 - y[te]) * np.log(1 - p))
        fits.append(per)
    return fits, int(np.argmin(nll))


def test_step1_binary_level1_is_regenies_logistic_ridge(related, tmp_path):
    """A binary trait: level 0 as a quantitative one on the residualised 0/1 trait, level 1 the
    logistic ridge with the covariates' logistic fit as offset, shrinkage L (1 - h2) / h2 x 3/pi^2
    chosen by held-out log-likelihood (REGENIE --bt). The LOCO predictions (log-odds) equal a
    literal implementation with a general optimiser to 1e-6 (its tolerance), the same seed gives
    the same predictions to 1e-10, and the .loco files read back exactly."""
    from bma_genetics.gwas.regenie import run_step1, shrinkage_grid
    from bma_genetics.io import read_loco_predictions

    c, table = related
    table = table.assign(cc=(table["trait_1"] > table["trait_1"].quantile(0.7)).astype(float))
    table.loc[table.index[::13], "cc"] = np.nan
    kw = dict(bfile=c.bfile, traits=["cc", "trait_2"], covariates=["sex", "age"], block_size=100, seed=7,
              n_ridge_l1=3)
    from bma_genetics._blas import blas_threads

    with blas_threads(1):  # small products: OpenBLAS threads only oversubscribe a busy machine
        res = run_step1(table, out=tmp_path, **kw)
        again = run_step1(table, **kw)
    frame = res.to_frame().set_index("trait")
    assert frame.loc["cc", "model"] == "logistic" and frame.loc["trait_2", "model"] == "linear"
    assert np.nanmax(np.abs(res.predictions["cc"].to_numpy() - again.predictions["cc"].to_numpy())) <= 1e-10
    back = read_loco_predictions(tmp_path / "step1_pred.list")
    pd.testing.assert_frame_equal(back["cc"], res.predictions["cc"], check_exact=True)
    # the literal algorithm, from the same level-0 columns (rebuilt as in run_step1)
    from bma_genetics.gwas.regenie import _phenotype_matrix, _residualiser
    from bma_genetics.ld.readers import PlinkReader

    reader = PlinkReader(c.bfile)
    tab = table.set_index("eid").loc[reader.samples].reset_index()
    y, defined, _, cmat, raw = _phenotype_matrix(tab, ["cc"], ["sex", "age"], "none", {"cc"})
    n = len(tab)
    folds = np.empty(n, int)
    folds[np.random.default_rng(7).permutation(n)] = np.arange(n) % 5
    x = reader.dosages(np.arange(reader.n_variants)).astype(float)
    q = _residualiser(cmat)
    chrom = reader.variants["chromosome"].astype(str).to_numpy()
    m_total = x.shape[1]
    h2 = np.linspace(0.01, 0.99, 5)  # level 0: the default 5 values
    cols, col_chrom = [], []
    for ch in dict.fromkeys(chrom):
        idx = np.flatnonzero(chrom == ch)
        for i in range(0, len(idx), 100):
            xb = x[:, idx[i:i + 100]]
            xb = xb - q @ (q.T @ xb)
            xb = xb / np.sqrt((xb**2).sum(axis=0) / (n - q.shape[1]))
            for tau in m_total * (1 - h2) / h2:
                col = np.zeros(n)
                for k in range(5):
                    tr, te = folds != k, folds == k
                    b = np.linalg.solve(xb[tr].T @ xb[tr] + tau * np.eye(xb.shape[1]), xb[tr].T @ y[tr, 0])
                    col[te] = xb[te] @ b
                cols.append(col)
                col_chrom.append(ch)
    w = np.column_stack(cols)
    d = defined[:, 0]
    z = (w - w[d].mean(axis=0)) / w[d].std(axis=0)
    phis = shrinkage_grid(w.shape[1], 3) * 3 / np.pi**2
    with blas_threads(1):
        fits, best = _brute_logistic_level1(z, raw[:, 0], d, cmat, folds, phis)
    assert frame.loc["cc", "shrinkage_l1"] == pytest.approx(phis[best], rel=1e-12)
    pred = res.predictions["cc"].loc[tab["eid"]]
    col_chrom = np.array(col_chrom)
    for k in range(5):
        te = d & (folds == k)
        for ch in ("1", "3", "X"):
            keep = col_chrom != ch
            np.testing.assert_allclose(pred[ch].to_numpy()[te], z[te][:, keep] @ fits[k][best][keep], atol=1e-6)
    assert np.isnan(pred["1"].to_numpy()[~d]).all()
    with pytest.raises(InputError, match=r"run_step1/binary: trait\(s\) \['trait_2'\] have values other than 0/1"):
        run_step1(table, bfile=c.bfile, traits=["trait_2"], binary=["trait_2"])


def test_binary_loco_relatedness_factor(dense):
    """Binary traits with the LOCO prediction as offset: on dense sibships the logistic score test
    is conservative like the quantitative one (measured: mean chi2 0.930 over 15,000 null tests of
    10 null-chromosome binary traits). Divided by the binary factor
    e'(I + 2 Phi)e / tr(A (I + 2 Phi)) (e the null model's response residuals, A the model's
    information projector) it is 0.999 (asserted within 0.03); the factor equals the dense
    quadratic forms to 1e-10. Without LOCO (offset 0) the relatives inflate it (1.23) and the same
    factor brings it to 1.00."""
    from bma_genetics._blas import blas_threads
    from bma_genetics.gwas.association import plan_analyses
    from bma_genetics.gwas.regenie import LocoAdjuster, run_step1

    c, table, _, _, frame0, _, kin, dose, chrom = dense
    traits = [t for t in table.columns if t.startswith("trait_")]
    table = table.assign(**{f"b{t}": (table[t] > table[t].quantile(0.6)).astype(float) for t in traits})
    bt = [f"b{t}" for t in traits]
    with blas_threads(1):
        step1 = run_step1(table, bfile=c.bfile, traits=bt, covariates=["sex", "age"], block_size=300, seed=1)
    analyses, frame = plan_analyses(table, traits=bt, covariates=["sex", "age"])
    assert frame["eid"].tolist() == frame0["eid"].tolist()
    adj = LocoAdjuster(frame, analyses, step1.predictions, kinship=kin)
    zero = {t: step1.predictions[t] * 0.0 for t in bt}
    plain = LocoAdjuster(frame, analyses, zero, kinship=kin)
    cm = np.column_stack([np.ones(len(frame)), frame["cov__sex"], frame["cov__age"]])
    eids = frame["eid"].astype(str).tolist()
    at = {e: i for i, e in enumerate(eids)}
    two_phi = np.eye(len(eids))
    for a_, b_, k in zip(kin["ID1"], kin["ID2"], kin["Kinship"], strict=True):
        two_phi[at[a_], at[b_]] = two_phi[at[b_], at[a_]] = 2 * k
    out = {"loco": ([], []), "plain": ([], [])}
    for name, adjuster in (("loco", adj), ("plain", plain)):
        for a in analyses:
            y = frame[a.column].to_numpy(dtype=float)
            for ch in c.null_chromosomes:
                e = adjuster.binary_null(a, ch)[1]
                w = (y - e) * (1 - y + e)
                wc = cm * w[:, None]
                amat = np.diag(w) - wc @ np.linalg.solve(cm.T @ wc, wc.T)
                x = dose[:, chrom == ch]
                chi2 = (x.T @ e) ** 2 / np.einsum("ij,ij->j", x, amat @ x)  # score statistic
                f = adjuster.relatedness_factor(a, ch)
                if name == "loco" and a is analyses[0]:
                    assert f == pytest.approx((e @ two_phi @ e) / np.trace(amat @ two_phi), rel=1e-10)
                out[name][0].append(chi2)
                out[name][1].append(chi2 / f)
    raw, calibrated = (np.concatenate(v) for v in out["loco"])
    assert len(raw) == 15_000
    assert raw.mean() < 0.95
    assert abs(calibrated.mean() - 1) < 0.03
    raw0, calibrated0 = (np.concatenate(v) for v in out["plain"])
    assert raw0.mean() > 1.15 and abs(calibrated0.mean() - 1) < 0.03


def test_binary_loco_step2_frame_and_calibration(tmp_path):
    """LocoAdjuster with a binary trait: the 0/1 trait is kept and the chromosome's prediction is
    the offset column; calibrate divides the Wald z by sqrt(factor) with a normal P; firth='always'
    with a LOCO binary trait is refused before Hail starts (Hail's Firth test takes no offset)."""
    from scipy import stats

    from bma_genetics.gwas.association import plan_analyses
    from bma_genetics.gwas.regenie import LocoAdjuster

    rng = np.random.default_rng(11)
    n = 400
    eids = [str(5000 + k) for k in range(n)]
    table = pd.DataFrame({"eid": eids, "age": rng.normal(60, 7, n)})
    table["case"] = (rng.random(n) < 0.3).astype(float)
    analyses, frame = plan_analyses(table, traits=["case"], covariates=["age"])
    loco = {"case": pd.DataFrame({"1": rng.normal(size=n), "2": rng.normal(size=n)}, index=eids)}
    kin = pd.DataFrame({"ID1": eids[0:100:2], "ID2": eids[1:100:2], "Kinship": 0.25})
    adj = LocoAdjuster(frame, analyses, loco, kinship=kin)
    f1 = adj.frame_for("1")
    assert f1["y__0"].equals(frame["y__0"])
    np.testing.assert_array_equal(f1["off__y__0"].to_numpy(), loco["case"]["1"].to_numpy())
    wide = pd.DataFrame({"chromosome": ["1", "1", "2"], "y__0__beta": [0.2, -0.1, 0.3],
                         "y__0__se": [0.1, 0.1, 0.2], "y__0__t": [2.0, -1.0, 1.5], "y__0__p": [0.05, 0.3, 0.1]})
    adj.calibrate(wide, analyses[0], np.full(3, 397))
    f = adj.relatedness_factor(analyses[0], "1")
    assert f != 1.0
    np.testing.assert_allclose(wide["y__0__t"].iloc[:2], np.array([2.0, -1.0]) / np.sqrt(f), rtol=1e-12)
    np.testing.assert_allclose(wide["y__0__se"].iloc[:2], 0.1 * np.sqrt(f), rtol=1e-12)
    np.testing.assert_allclose(wide["y__0__p"].iloc[0], 2 * stats.norm.sf(2 / np.sqrt(f)), rtol=1e-12)
    np.testing.assert_allclose(wide["y__0__beta"], [0.2, -0.1, 0.3])
    from bma_genetics.gwas.api import run_study_gwas
    from bma_genetics.io import write_loco_predictions

    pred = write_loco_predictions({"case": loco["case"]}, tmp_path / "s")

    def no_hail():
        raise AssertionError("Hail must not start before the arguments are checked")

    with pytest.raises(InputError, match="run_study_gwas/firth: firth='always' .* takes no LOCO offset"):
        run_study_gwas(table, out=pred.parent / "out", traits=["case"], covariates=["age"], bfile="geno",
                       relatedness="keep_loco", pred=pred, firth="always", start_hail=no_hail)


def _binary_null_setup(n: int = 300):
    """A binary trait on ``age``, two chromosomes' LOCO predictions and a ``sex`` column with one
    missing value (numpy only)."""
    from bma_genetics.gwas.association import plan_analyses

    rng = np.random.default_rng(23)
    eids = [str(7000 + k) for k in range(n)]
    table = pd.DataFrame({"eid": eids, "age": rng.normal(60, 7, n), "sex": rng.integers(0, 2, n).astype(float)})
    table["case"] = (rng.random(n) < 0.35).astype(float)
    table.loc[5, "sex"] = np.nan
    analyses, frame = plan_analyses(table, traits=["case"], covariates=["age"])
    frame["cov__sex"] = table["sex"].to_numpy()  # run_gwas's chrX covariate of stratum-all analyses
    loco = {"case": pd.DataFrame({"1": rng.normal(0, 0.3, n), "X": rng.normal(0, 0.3, n)}, index=eids)}
    return analyses, frame, loco


def test_binary_null_skips_samples_with_a_missing_pass_covariate():
    """On chromosome X run_gwas adds ``sex`` to a stratum-all binary analysis's covariates; a
    sample with sex missing (dropped by the Hail pass) is left out of the null model too, instead
    of failing it as 'did not converge': the fit equals the fit without that sample, and the mask
    returned says which samples were used."""
    from bma_genetics.gwas.glm import logistic_fit
    from bma_genetics.gwas.regenie import LocoAdjuster

    analyses, frame, loco = _binary_null_setup()
    a = analyses[0]
    beta, resid, used = LocoAdjuster(frame, analyses, loco).binary_null(a, "X", ("age", "sex"))
    keep = np.ones(len(frame), bool)
    keep[5] = False
    np.testing.assert_array_equal(used, keep)
    c = np.column_stack([np.ones(keep.sum()), frame["cov__age"][keep], frame["cov__sex"][keep]])
    y = frame[a.column].to_numpy(dtype=float)[keep]
    b0, p0, ok = logistic_fit(c, y, loco["case"]["X"].to_numpy()[keep])
    assert ok
    np.testing.assert_allclose(beta, b0, rtol=1e-10)
    np.testing.assert_allclose(resid, y - p0, rtol=1e-10)


def test_binary_rule_reads_the_values_as_numbers():
    """An object column of "0", "1", "1.0" is one binary trait for plan_analyses, run_study_gwas's
    step-1 plan and run_step1 alike (one helper); a 0/1/2 column is not binary."""
    from bma_genetics.gwas.api import _binary_traits
    from bma_genetics.gwas.association import is_binary_trait, plan_analyses

    rng = np.random.default_rng(3)
    n = 60
    table = pd.DataFrame({"eid": [str(k) for k in range(n)], "age": rng.normal(60, 7, n),
                          "t": np.array(["0", "1", "1.0"], dtype=object)[rng.integers(0, 3, n)],
                          "q": rng.integers(0, 3, n).astype(float)})
    assert is_binary_trait(table["t"]) and not is_binary_trait(table["q"])
    assert _binary_traits(table, ["t", "q"], None) == {"t"}
    analyses, _ = plan_analyses(table, traits=["t", "q"], covariates=["age"])
    assert {a.trait: a.binary for a in analyses} == {"t": True, "q": False}


def test_step1_logistic_errors_name_the_trait():
    """A level-1 logistic failure (a covariate separating the cases) names the trait."""
    from bma_genetics.gwas.regenie import _level1_logistic

    n = 40
    y = np.repeat([0.0, 1.0], n // 2)
    c = np.column_stack([np.ones(n), y * 10 - 5])  # perfect separation
    z = np.random.default_rng(1).standard_normal((n, 3))
    with pytest.raises(InputError, match="run_step1/traits: trait 'bmd_case'"):
        _level1_logistic(z, y, np.ones(n, bool), c, np.arange(n) % 2, 2, np.array([1.0]), trait="bmd_case")


def test_pred_list_fitted_on_another_scale_is_refused(tmp_path, caplog):
    """A binary trait's LOCO prediction is a log-odds offset in step 2: a list that step 1 fitted
    as a quantitative trait (our step1_summary.tsv says 'linear', or REGENIE's log lacks --bt) is
    refused before Hail starts, naming the trait; with no record the run warns."""
    import logging

    from bma_genetics.gwas.api import _check_prediction_scale, run_study_gwas
    from bma_genetics.io import loco_prediction_models, write_loco_predictions

    rng = np.random.default_rng(3)
    n = 60
    eids = [str(100 + k) for k in range(n)]
    table = pd.DataFrame({"eid": eids, "age": rng.normal(60, 7, n), "case": (rng.random(n) < 0.3).astype(float),
                          "y": rng.normal(size=n)})
    frame = pd.DataFrame({"1": rng.normal(size=n)}, index=eids)

    def no_hail():
        raise AssertionError("Hail must not start before the arguments are checked")

    ours = tmp_path / "ours"
    ours.mkdir()
    pred = write_loco_predictions({"case": frame, "y": frame}, ours / "step1")
    pd.DataFrame({"trait": ["case", "y"], "model": ["linear", "linear"]}).to_csv(ours / "step1_summary.tsv",
                                                                                 sep="\t", index=False)
    assert loco_prediction_models(pred) == {"case": "linear", "y": "linear"}
    with pytest.raises(InputError, match=r"run_study_gwas/pred: .*case \(binary here, step 1 linear\)"):
        run_study_gwas(table, out=tmp_path / "out", traits=["case", "y"], covariates=["age"], bfile="geno",
                       relatedness="keep_loco", pred=pred, start_hail=no_hail)
    assert not (tmp_path / "out").exists()

    # REGENIE's own: <prefix>.log beside <prefix>_pred.list, its options one per line
    reg = tmp_path / "regenie"
    reg.mkdir()
    pred = write_loco_predictions({"case": frame}, reg / "fit_bin")
    header = "REGENIE v3.4\n\nOptions in effect:\n  --step 1 \\\n  --bed ukb_cal \\\n"
    (reg / "fit_bin.log").write_text(header + "  --out fit_bin\n\nFitting null model\n  --bt mentioned later\n")
    assert loco_prediction_models(pred) == {"case": "linear"}
    with pytest.raises(InputError, match=r"case \(binary here, step 1 linear\)"):
        _check_prediction_scale("run_study_gwas", pred, ["case"], {"case"})
    (reg / "fit_bin.log").write_text(header + "  --bt \\\n  --out fit_bin\n\n")
    assert loco_prediction_models(pred) == {"case": "logistic"}
    _check_prediction_scale("run_study_gwas", pred, ["case"], {"case"})
    with pytest.raises(InputError, match=r"case \(quantitative here, step 1 logistic\)"):
        _check_prediction_scale("run_study_gwas", pred, ["case"], set())

    # no record: a warning for the binary traits, silence for quantitative ones
    bare = tmp_path / "bare"
    bare.mkdir()
    pred = write_loco_predictions({"case": frame}, bare / "s")
    assert loco_prediction_models(pred) is None
    with caplog.at_level(logging.WARNING, logger="bma_genetics"):
        _check_prediction_scale("run_study_gwas", pred, ["case"], {"case"})
    assert "records whether step 1 fitted ['case'] as binary" in caplog.text

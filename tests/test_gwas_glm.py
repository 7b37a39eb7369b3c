"""plink2 ``--glm`` features on Hail: binary traits with Firth fallback, G x sex interaction,
conditioning on variants; each equal to plink2 on the tiny cohort's array genotypes.

Data: the tiny cohort's array genotypes of one chromosome (hard calls: exact for both tools),
simulated traits (a binary trait with a planted variant and a rare variant carried by cases
only, so that the logistic fit separates and Firth takes over; a quantitative trait with a
planted dosage x sex interaction). Only the people with every call of the chromosome are
analysed (plink2 drops a missing call's sample, Hail mean-imputes it).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bma_genetics.errors import InputError

CHROM = "1"


def _prefix(cohort) -> str:
    return str(cohort / "genotypes" / "array" / f"ukb22418_c{CHROM}_b0_v2")


@pytest.fixture(scope="module")
def data(tiny_cohort, hail_context, tmp_path_factory):
    """Genotypes (the people with every call), a phenotype table and the planted variants."""
    from bma_genetics.gwas import read_genotypes

    hl = hail_context
    mt = read_genotypes(bfile=_prefix(tiny_cohort))
    # the people with every call of the chromosome (plink2 drops a missing call's sample, Hail
    # mean-imputes it): both tools then analyse the same people at every variant. A native
    # checkpoint: every later pass reads it instead of the .bed and the column filter
    mt = mt.filter_cols(hl.agg.all(hl.is_defined(mt.dosage)))
    mt = mt.checkpoint(str(tmp_path_factory.mktemp("glm") / "geno.mt"))
    stats = mt.annotate_rows(af=hl.agg.mean(mt.dosage) / 2, ac=hl.agg.sum(mt.dosage)).rows()
    rows = stats.select("varid", "rsid", "af", "ac").to_pandas()
    common = rows[(rows["af"] > 0.2) & (rows["af"] < 0.8)]
    rare = rows[(rows["ac"] >= 3) & (rows["af"] < 0.5)].sort_values("ac")
    planted, second, rare_id = common["rsid"].iloc[5], common["rsid"].iloc[len(common) // 2], rare["rsid"].iloc[0]
    keep = [planted, second, rare_id]
    d = mt.annotate_rows(d=hl.agg.collect(mt.dosage)).rows().select("rsid", "d").to_pandas().set_index("rsid")
    eids = mt.s.collect()
    n = len(eids)
    rng = np.random.default_rng(2016)
    x1, x2, xr = (np.asarray(d.loc[k, "d"], dtype=float) for k in keep)
    sex = rng.integers(0, 2, n).astype(float)
    age = rng.normal(0, 1, n)
    pc1 = rng.normal(size=n)
    eta = -1.0 + 0.6 * (x1 - x1.mean()) + 0.2 * age
    cc = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(float)
    cc[xr > 0] = 1.0  # the rare variant's carriers are all cases: quasi-separation, logistic fails
    q = 0.3 * x2 + 0.5 * x2 * sex + 0.2 * age + rng.normal(size=n)
    ph = pd.DataFrame({"eid": eids, "age": age, "sex": sex, "pc1": pc1, "cc": cc, "q": q})
    return {"mt": mt, "pheno": ph, "planted": planted, "second": second, "rare": rare_id,
            "ids": set(rows["rsid"]), "dosages": d["d"]}


def hl_literal(mt, rsids):
    import hail as hl

    return hl.literal(set(rsids)).contains(mt.rsid)


def _plink2(cohort, ph, traits, covs, out, **kw):
    from benchmarks.gwas_vs_plink2 import run_plink2_glm
    from benchmarks.peers import PeerUnavailable

    try:
        res, _ = run_plink2_glm(["--bfile", _prefix(cohort)], ph, traits, covs, out, **kw)
    except PeerUnavailable as exc:
        pytest.skip(f"plink2 unavailable: {exc}")
    return res


def _aligned(ours: pd.DataFrame, plink: pd.DataFrame, ids: set[str]) -> pd.DataFrame:
    plink = plink[plink["ID"].isin(ids)]
    return ours.merge(plink, left_on=["base_pair_location", "effect_allele"], right_on=["POS", "A1"])


def _digits(m: pd.DataFrame, ours: str, theirs: str) -> np.ndarray:
    """|ours - theirs| over plink2's rounding of its printed value (6 significant digits)."""
    half_ulp = 0.5 * 10.0 ** (np.floor(np.log10(np.abs(m[theirs]))) - 5)
    return np.abs(m[ours] - m[theirs]) / half_ulp


@pytest.fixture(scope="module")
def binary(data):
    from bma_genetics.gwas import run_gwas

    return run_gwas(data["mt"], data["pheno"], traits=["cc"], covariates=["age", "pc1"], chunk_by="all",
                    chromosomes=[CHROM])


def _logistic_newton(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Maximum-likelihood logistic regression in double precision, iterated to 1e-14."""
    from scipy import special

    b = np.zeros(X.shape[1])
    for _ in range(100):
        p = special.expit(X @ b)
        info = X.T @ (X * (p * (1 - p))[:, None])
        step = np.linalg.solve(info, X.T @ (y - p))
        b += step
        if np.abs(step).max() < 1e-14:
            break
    return b, np.sqrt(np.diag(np.linalg.inv(info)))


def test_binary_logistic_equals_exact_fit(data, binary):
    """Logistic rows: beta and SE equal a double-precision Newton fit per variant to 1e-7
    relative; case and control counts on every row."""
    ss = binary.sumstats["cc"]
    ph = data["pheno"]
    C = np.column_stack([np.ones(len(ph)), ph["age"], ph["pc1"]])
    rows = ss[~ss["firth"]]
    assert len(rows) >= 0.95 * len(ss)
    for _, r in rows.iterrows():
        x = np.asarray(data["dosages"][r["rsid"]], dtype=float)
        b, se = _logistic_newton(np.column_stack([C[:, :1], x, C[:, 1:]]), ph["cc"].to_numpy())
        assert abs(r["beta"] - b[1]) <= 1e-7 * abs(b[1]) + 1e-9 * se[1], r["rsid"]
        assert abs(r["standard_error"] - se[1]) <= 1e-7 * se[1], r["rsid"]
    assert (ss["n_cases"] + ss["n_controls"] == ss["n"]).all()
    assert (ss["n_cases"] == int(ph["cc"].sum())).all()


@pytest.mark.peer
def test_binary_equals_plink2_firth_fallback(tiny_cohort, data, binary, tmp_path):
    """Logistic (Wald) with Firth where logistic fails, against plink2 ``--glm firth-fallback``
    (its default): the Firth rows are exactly plink2's ``FIRTH?`` = Y rows (the separated
    variant among them); beta within 2e-5 of its SE, SE, Z and P within 2e-4 relative
    (measured 6.6e-6 SE; 9e-5, 1.1e-4, 1.5e-4). plink2 2.00a3.5's 6 printed digits are not all
    exact for logistic fits: the exact double-precision fit (previous test) differs from them
    by up to 18 half-units of the last digit in SE, where ours equal the exact fit to 1e-7."""
    ss = binary.sumstats["cc"]
    pl = _plink2(tiny_cohort, data["pheno"], ["cc"], ["age", "pc1"], tmp_path, modifiers=("firth-fallback",),
                 extra=("--1",))["cc"]
    m = _aligned(ss, pl, data["ids"])
    m = m[m["OBS_CT"] == m["n"]]
    assert len(m) >= 0.95 * len(ss)
    assert m["firth"].sum() >= 1 and m["firth"].mean() < 0.05
    np.testing.assert_array_equal(m["firth"].to_numpy(), (m["FIRTH?"] == "Y").to_numpy())
    assert bool(m.loc[m["rsid"] == data["rare"], "firth"].iloc[0])
    logistic, firth = m[~m["firth"]], m[m["firth"]]
    assert (np.abs(logistic["beta"] - logistic["BETA"]) / logistic["SE"]).max() <= 2e-5
    for ours, theirs in (("standard_error", "SE"), ("t_statistic", "Z_STAT"), ("p_value", "P")):
        assert (np.abs(logistic[ours] - logistic[theirs]) / np.abs(logistic[theirs])).max() <= 2e-4, ours
    # Firth rows: both iterate to a tolerance, plink2's looser (two mirror-image variants, dosage
    # 2 - x of each other, get P 0.006627 and 0.006633 from plink2, 0.006628 for both from ours):
    # beta, SE, Z and P within 2e-3 relative (measured 1.4e-5, 5e-6, 1.1e-5, 7.4e-4)
    for ours, theirs in (("beta", "BETA"), ("standard_error", "SE"), ("t_statistic", "Z_STAT"), ("p_value", "P")):
        assert (np.abs(firth[ours] - firth[theirs]) / np.abs(firth[theirs])).max() <= 2e-3, ours
    mirror = ss[ss["firth"]]
    if len(mirror) == 2:
        assert abs(abs(mirror["t_statistic"].iloc[0]) - abs(mirror["t_statistic"].iloc[1])) <= 1e-8


def test_firth_numpy_maximises_the_penalised_likelihood(data, binary):
    """The fallback's Firth fit at the separated variant maximises Firth's penalised likelihood
    (scipy's BFGS from another start agrees to 1e-5) and its SE is sqrt(diag(I^-1)) there."""
    from scipy import optimize, special

    from bma_genetics.gwas.glm import firth_logistic

    ph = data["pheno"]
    x = np.asarray(data["dosages"][data["rare"]], dtype=float)
    X = np.column_stack([np.ones(len(ph)), x, ph["age"], ph["pc1"]])
    y = ph["cc"].to_numpy()

    def neg(b):
        eta = X @ b
        w = special.expit(eta) * (1 - special.expit(eta))
        return -(np.sum(y * eta - np.logaddexp(0, eta)) + 0.5 * np.linalg.slogdet(X.T @ (X * w[:, None]))[1])

    b, se, ok = firth_logistic(X, y)
    assert ok
    ref = optimize.minimize(neg, np.full(4, 0.1), method="BFGS", options={"gtol": 1e-9}).x
    np.testing.assert_allclose(b, ref, rtol=1e-5, atol=1e-6)
    w = special.expit(X @ b) * (1 - special.expit(X @ b))
    np.testing.assert_allclose(se, np.sqrt(np.diag(np.linalg.inv(X.T @ (X * w[:, None])))), rtol=1e-10)
    ours = binary.sumstats["cc"].set_index("rsid").loc[data["rare"]]
    assert ours["firth"] and abs(ours["beta"] - b[1]) <= 1e-9 * abs(b[1])


def test_binary_loco_step2_offset(data, binary):
    """REGENIE step 2 for a binary trait: logistic regression with the LOCO prediction as offset.
    With predictions of zero it is today's binary path (logistic Wald, Firth where it fails, as
    plink2 --glm firth-fallback): beta, SE, z, P equal to 1e-6 relative, the same Firth rows and
    case/control counts. With a real offset each logistic row equals a double-precision Newton fit
    with that offset (1e-6) and each Firth row the numpy Firth fit with it."""
    from bma_genetics.gwas import run_gwas
    from bma_genetics.gwas.glm import firth_logistic, logistic_fit

    ph = data["pheno"].assign(cc_off=data["pheno"]["cc"])
    eids = pd.Index(ph["eid"], name="eid")
    rng = np.random.default_rng(1616)
    loco = {"cc": pd.DataFrame(0.0, index=eids, columns=[CHROM, "X"]),
            "cc_off": pd.DataFrame(rng.normal(0, 0.7, (len(ph), 2)), index=eids, columns=[CHROM, "X"])}
    res = run_gwas(data["mt"], ph, traits=["cc", "cc_off"], covariates=["age", "pc1"], chromosomes=[CHROM],
                   loco=loco)
    zero, plain = res.sumstats["cc"], binary.sumstats["cc"]
    assert len(zero) == len(plain)
    for col in ("beta", "standard_error", "t_statistic", "p_value"):
        np.testing.assert_allclose(zero[col], plain[col], rtol=1e-6, atol=0, err_msg=col)
    for col in ("firth", "n_cases", "n_controls", "rsid"):
        assert zero[col].tolist() == plain[col].tolist(), col
    assert zero["firth"].any()
    ss = res.sumstats["cc_off"].set_index("rsid")
    y = ph["cc"].to_numpy()
    o = loco["cc_off"][CHROM].to_numpy()
    C = np.column_stack([np.ones(len(ph)), ph["age"], ph["pc1"]])
    rows = [*ss.index[~ss["firth"]][::10], *ss.index[ss["firth"]]]
    assert ss["firth"].any()
    for rsid in rows:
        x = np.asarray(data["dosages"][rsid], dtype=float)
        r = ss.loc[rsid]
        if r["firth"]:
            b, se, _ = firth_logistic(np.column_stack([C[:, :1], x, C[:, 1:]]), y, offset=o)
            b, se = b[1], se[1]
        else:
            b, _, ok = logistic_fit(np.column_stack([C, x]), y, o)
            p = 1 / (1 + np.exp(-(o + np.column_stack([C, x]) @ b)))
            X = np.column_stack([C, x])
            se = np.sqrt(np.linalg.inv(X.T @ (X * (p * (1 - p))[:, None]))[-1, -1])
            b = b[-1]
        assert abs(r["beta"] - b) <= 1e-6 * abs(b) + 1e-8 * se, rsid
        assert abs(r["standard_error"] - se) <= 1e-6 * se, rsid
    assert (ss["n_cases"] == int(y.sum())).all()


def test_firth_p_threshold_refits_small_p(data):
    """``firth_p`` (REGENIE's rule): every variant with Wald P below it is refitted with Firth."""
    from bma_genetics.gwas import run_gwas

    mt = data["mt"].filter_rows(hl_literal(data["mt"], [data["planted"], data["second"]]))
    res = run_gwas(mt, data["pheno"], traits=["cc"], covariates=["age", "pc1"], chunk_by="all",
                   chromosomes=[CHROM], firth_p=0.01).sumstats["cc"]
    assert not res.set_index("rsid").loc[data["second"], "firth"]
    top = res.set_index("rsid").loc[data["planted"]]
    assert top["firth"] and top["p_value"] < 0.01


@pytest.fixture(scope="module")
def interaction(data):
    from bma_genetics.gwas import run_gwas

    return run_gwas(data["mt"], data["pheno"], traits=["q"], covariates=["age", "sex", "pc1"], strata=["sex"],
                    chunk_by="all", chromosomes=[CHROM], interaction="sex")


@pytest.mark.peer
def test_interaction_equals_plink2(tiny_cohort, data, interaction, tmp_path):
    """Dosage x sex: beta, SE and t equal plink2 ``--glm interaction --parameters 1-4,6`` (ADD,
    the three covariates, ADDxsex) to its printed digits, P to 1e-4; the planted interaction is
    found, and its sex-difference z of the two strata agrees in sign and size."""
    ix = interaction.interaction["q.x_sex"]
    pl = _plink2(tiny_cohort, data["pheno"], ["q"], ["age", "sex", "pc1"], tmp_path, modifiers=("interaction",),
                 extra=("--parameters", "1-4,6"), standardize=False, hide_covar=False)["q"]
    pl = pl[pl["TEST"] == "ADDxsex"]
    m = _aligned(ix, pl, data["ids"])
    m = m[m["OBS_CT"] == m["n"]]
    assert len(m) >= 0.95 * len(ix)
    for ours, theirs in (("beta", "BETA"), ("standard_error", "SE"), ("t_statistic", "T_STAT")):
        assert _digits(m, ours, theirs).max() <= 1.01, ours
    assert (np.abs(m["p_value"] - m["P"]) / m["P"]).max() <= 1e-4
    top = ix.loc[ix["p_value"].idxmin()]
    assert top["rsid"] == data["second"] and top["p_value"] < 1e-3
    assert top["stratum_difference_z"] > 3
    # the strata's difference z and the interaction t measure the same thing (different models)
    assert np.corrcoef(ix["stratum_difference_z"], ix["t_statistic"])[0, 1] > 0.9


@pytest.fixture(scope="module")
def conditioned(data):
    """Trait q conditioned on the planted variant (per-group passes)."""
    from bma_genetics.gwas import run_gwas

    return run_gwas(data["mt"], data["pheno"], traits=["q"], covariates=["age", "pc1"], chunk_by="all",
                    chromosomes=[CHROM], condition=[data["second"]])


@pytest.mark.peer
def test_condition_equals_plink2(tiny_cohort, data, conditioned, tmp_path):
    """Conditioning on the planted variant: beta, SE and t equal plink2 ``--condition-list`` to
    its printed digits; the conditioned variant itself has no result; a bad id is an error."""
    from bma_genetics.gwas import run_gwas

    res = conditioned.sumstats["q"]
    assert data["second"] not in set(res["rsid"])
    cl = tmp_path / "condition.txt"
    cl.write_text(data["second"] + "\n")
    pl = _plink2(tiny_cohort, data["pheno"], ["q"], ["age", "pc1"], tmp_path, extra=("--condition-list", str(cl)))["q"]
    m = _aligned(res, pl, data["ids"])
    m = m[(m["OBS_CT"] == m["n"]) & np.isfinite(m["BETA"])]
    assert len(m) >= 0.95 * len(res)
    for ours, theirs in (("beta", "BETA"), ("standard_error", "SE"), ("t_statistic", "T_STAT")):
        assert _digits(m, ours, theirs).max() <= 1.01, ours
    with pytest.raises(InputError, match="not in the genotypes"):
        run_gwas(data["mt"], data["pheno"], traits=["q"], covariates=["age"], chunk_by="all", chromosomes=[CHROM],
                 condition=["rs_not_there"])


def test_bad_arguments():
    """Refused before any genotype is read (no MatrixTable is needed)."""
    from bma_genetics.gwas import run_gwas

    ph = pd.DataFrame({"eid": ["1", "2", "3"], "q": [1.0, 2.0, 3.0], "age": [50.0, 60.0, 70.0]})
    for kw, match in (({"firth": "sometimes"}, "run_gwas/firth"), ({"firth_p": 2.0}, "run_gwas/firth_p"),
                      ({"interaction": "pc1"}, "run_gwas/interaction"), ({"condition": "rs1"}, "run_gwas/condition")):
        with pytest.raises(InputError, match=match):
            run_gwas(None, ph, traits=["q"], covariates=["age"], chromosomes=[CHROM], **kw)


def test_cli_and_config_pass_the_options(tmp_path, monkeypatch):
    """``bma-genetics gwas --firth --firth-p --interaction --condition-list --linear-engine`` and the
    stage's ``firth``, ``firth_p``, ``interaction``, ``condition``, ``linear_engine`` reach
    ``run_study_gwas``."""
    import bma_genetics.gwas.api as api
    from bma_genetics._params import check_params
    from bma_genetics.cli import main
    from bma_genetics.gwas.stage import PARAMS

    seen = {}

    def fake(ph, **kw):
        seen.update(kw)
        raise InputError("run_study_gwas/stop: captured")

    monkeypatch.setattr(api, "run_study_gwas", fake)
    ids = [str(i) for i in range(1, 6)]
    pd.DataFrame({"FID": ids, "IID": ids, "y": [1.0, 2, 3, 4, 5]}).to_csv(tmp_path / "p.tsv", sep="\t", index=False)
    pd.DataFrame({"FID": ids, "IID": ids, "age": [1.0, 2, 3, 4, 6], "SEX": ["1", "2", "1", "2", "1"]}).to_csv(
        tmp_path / "c.tsv", sep="\t", index=False)
    (tmp_path / "cond.txt").write_text("rs1\n1_200_A_G\n")
    rc = main(["gwas", "--bfile", "geno", "--pheno", str(tmp_path / "p.tsv"), "--covar", str(tmp_path / "c.tsv"),
               "--out", str(tmp_path / "out"), "--firth", "always", "--firth-p", "0.01", "--interaction", "sex",
               "--condition-list", str(tmp_path / "cond.txt"), "--linear-engine", "projection"])
    assert rc == 2
    assert seen["firth"] == "always" and seen["firth_p"] == 0.01 and seen["interaction"] == "sex"
    assert seen["linear_engine"] == "projection"
    assert api.read_condition_list(seen["condition"]) == ["rs1", "1_200_A_G"]
    p = check_params("gwas", {"interaction": "sex", "condition": ["rs1"], "firth_p": 0.05}, PARAMS)
    assert (p["firth"], p["firth_p"], p["interaction"], p["condition"]) == ("fallback", 0.05, "sex", ["rs1"])
    with pytest.raises(InputError, match="firth"):
        check_params("gwas", {"firth": "never"}, PARAMS)
    assert check_params("gwas", {"linear_engine": "projection"}, PARAMS)["linear_engine"] == "projection"
    with pytest.raises(InputError, match="linear_engine"):
        check_params("gwas", {"linear_engine": "fast"}, PARAMS)


def test_condition_with_the_projection_engine(data, conditioned):
    """The conditioned variant's dosage is one more covariate of the projection's basis: with
    ``linear_engine='projection'`` the results equal the per-group passes' (which equal plink2
    ``--condition-list``): SE, t, -log10 P to 1e-6 relative, beta to 1e-6 SE (tests/_engines.py)."""
    from bma_genetics.gwas import run_gwas
    from tests._engines import assert_engines_agree

    new = run_gwas(data["mt"], data["pheno"], traits=["q"], covariates=["age", "pc1"], chunk_by="all",
                   chromosomes=[CHROM], condition=[data["second"]], linear_engine="projection")
    assert data["second"] not in set(new.sumstats["q"]["rsid"])
    assert assert_engines_agree(new.sumstats, conditioned.sumstats, where="condition") > 100

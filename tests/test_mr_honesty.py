"""MR says what it did: instrument strength (per-SNP and mean F), the P-threshold fallback only
when asked (and recorded), sample overlap, and Steiger's liability r^2 from the signed log OR."""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from bma_genetics.errors import InputError
from bma_genetics.mr import (
    MRParameters,
    instrument_strength,
    mr_steiger,
    r2_from_lor,
    run_mr_analysis,
)


def _pair(beta_x: np.ndarray, se_x: float, n_x: int = 10_000, theta: float = 0.3, seed: int = 1):
    """An exposure and a continuous outcome on the same variants (independent samples)."""
    rng = np.random.default_rng(seed)
    m = len(beta_x)
    base = pd.DataFrame({"chromosome": "1", "base_pair_location": np.arange(m) * 5_000_000 + 100,
                         "effect_allele": "A", "other_allele": "G", "effect_allele_frequency": 0.3,
                         "rsid": [f"rs{i}" for i in range(m)]})
    exp = base.assign(beta=beta_x, standard_error=se_x, n=n_x)
    exp["p_value"] = 2 * stats.norm.sf(np.abs(exp["beta"] / exp["standard_error"]))
    out = base.assign(beta=theta * beta_x + rng.normal(0, 0.01, m), standard_error=0.01, n=50_000)
    out["p_value"] = 2 * stats.norm.sf(np.abs(out["beta"] / out["standard_error"]))
    return exp, out


_PARAMS = MRParameters(nboot=20, presso_nboot=20)


def test_instruments_table_has_per_snp_f_and_weak_flag():
    ss = pd.DataFrame({"beta": [0.2, 0.03, -0.05], "standard_error": [0.01, 0.01, 0.02], "p_value": 1e-9})
    out = instrument_strength(ss)
    np.testing.assert_allclose(out["f_statistic"], [400.0, 9.0, 6.25])
    assert out["weak_instrument"].tolist() == [False, True, True]


def test_summary_reports_mean_and_overall_f_with_a_warning_below_10(tmp_path, caplog):
    # z = 5.5 to 7: per-SNP F of 30 to 49, well above 10.
    bx = np.array([0.06, -0.065, 0.07, 0.055, -0.062, 0.068])
    exp, out = _pair(bx, 0.01, n_x=10_000)
    res = run_mr_analysis(tmp_path / "strong", unclumped=True, exposure=exp, outcome=out, methods=["ivw"], params=_PARAMS)
    s = res.summary()["instrument_strength"]
    f = (bx / 0.01) ** 2
    assert s["mean_f_statistic"] == pytest.approx(f.mean()) and s["min_f_statistic"] == pytest.approx(f.min())
    r2 = np.sum(bx**2 / (bx**2 + 10_000 * 0.01**2))
    k = len(bx)
    assert s["overall_f_statistic"] == pytest.approx((10_000 - k - 1) / k * r2 / (1 - r2))
    assert s["n_weak_instruments"] == 0 and s["weak_instruments"] is False
    # (instruments given without LD: run unclumped on purpose, which is the one warning)
    assert [w for w in res.summary()["warnings"] if not w.startswith("instruments not LD-clumped")] == []
    assert res.summary()["clumped"] is False
    ins = pd.read_csv(tmp_path / "strong" / "instruments.tsv", sep="\t")
    np.testing.assert_allclose(ins["f_statistic"], f)
    assert not ins["weak_instrument"].any()
    assert json.loads((tmp_path / "strong" / "run.json").read_text())["summary"]["instrument_strength"]["nsnp"] == k

    # Weak instruments (z ~ 2.6, F ~ 6.8) admitted by a loose threshold: mean F < 10 is a
    # warning, logged and recorded.
    bx = np.array([0.026, -0.027, 0.026, 0.028, -0.026])
    exp, out = _pair(bx, 0.01)
    with caplog.at_level(logging.WARNING, logger="bma_genetics.mr.api"):
        res = run_mr_analysis(None, unclumped=True, exposure=exp, outcome=out, p_threshold=0.05, methods=["ivw"], params=_PARAMS)
    s = res.summary()
    assert s["instrument_strength"]["mean_f_statistic"] == pytest.approx(np.mean((bx / 0.01) ** 2))
    assert s["instrument_strength"]["weak_instruments"] is True
    assert s["instrument_strength"]["n_weak_instruments"] == 5
    assert any(w.startswith("weak instruments: mean F = ") for w in s["warnings"])
    assert "weak instruments: mean F" in caplog.text
    assert res.tables["instruments"]["weak_instrument"].all()


def test_p_fallback_is_used_only_when_asked_and_recorded(tmp_path, caplog):
    # The strongest variant has P ~ 3e-7: nothing reaches 5e-8, five variants reach 5e-6.
    bx = np.array([0.051, 0.052, -0.053, 0.051, 0.052, 0.001])
    exp, out = _pair(bx, 0.01)
    with pytest.raises(InputError, match=r"select_instruments/p_threshold: no variant of table has P < 5e-08.*"
                                         r"p_fallback=5e-6"):
        run_mr_analysis(None, unclumped=True, exposure=exp, outcome=out, methods=["ivw"], params=_PARAMS)
    with caplog.at_level(logging.WARNING, logger="bma_genetics.mr.api"):
        res = run_mr_analysis(tmp_path / "fb", unclumped=True, exposure=exp, outcome=out, p_fallback=5e-6, methods=["ivw"],
                              params=_PARAMS)
    s = res.summary()
    assert s["p_threshold_used"] == 5e-6 and s["p_fallback_used"] is True and s["n_instruments"] == 5
    assert any("fallback P < 5e-06" in w for w in s["warnings"]) and "fallback P < 5e-06" in caplog.text
    run = json.loads((tmp_path / "fb" / "run.json").read_text())
    assert run["p_fallback"] == 5e-6 and run["summary"]["p_threshold_used"] == 5e-6
    # A fallback given but not needed is not used.
    strong = _pair(np.array([0.08, 0.09, -0.07]), 0.01)
    res = run_mr_analysis(None, unclumped=True, exposure=strong[0], outcome=strong[1], p_fallback=5e-6, methods=["ivw"],
                          params=_PARAMS)
    assert res.summary()["p_threshold_used"] == 5e-8 and res.summary()["p_fallback_used"] is False
    with pytest.raises(InputError, match=r"run_mr_analysis/p_fallback: 1e-09 is not weaker than p_threshold 5e-08"):
        run_mr_analysis(None, unclumped=True, exposure=exp, outcome=out, p_fallback=1e-9)


def test_stage_does_not_fall_back_unless_configured(tmp_path):
    from bma_genetics.io import write_gwas_ssf
    from bma_genetics.mr.stage import run
    from bma_genetics.pipeline.context import RunContext

    exp, out = _pair(np.array([0.051, 0.052, -0.053, 0.051, 0.052, 0.001]), 0.01)
    run_dir = tmp_path / "run"
    (run_dir / "gwas").mkdir(parents=True)
    path = write_gwas_ssf(exp, run_dir / "gwas" / "bmff_spine.tsv.gz")
    (run_dir / "gwas" / "summary.json").write_text(json.dumps({"sumstats": {"bmff_spine": str(path)}}))
    outcome = write_gwas_ssf(out, tmp_path / "outcome.tsv.gz")
    ctx = RunContext(run_dir=run_dir, cohort=None, config={}, seed=1)
    common = {"outcome": str(outcome), "ld": None, "unclumped": True, "methods": ["ivw"], "nboot": 10}
    s = run(ctx, common)
    pair = s["pairs"]["bmff_spine"]
    assert pair["status"].startswith("not estimated") and "p_fallback=5e-6" in pair["status"]
    assert pair["p_fallback_used"] is False and s["p_fallback"] is None
    s = run(ctx, {**common, "p_fallback": 5e-6, "sample_overlap": True})
    pair = s["pairs"]["bmff_spine"]
    assert pair["status"] == "ok" and pair["p_threshold"] == 5e-6 and pair["p_fallback_used"] is True
    assert pair["instrument_strength"]["nsnp"] == 5
    assert s["sample_overlap"] is True and any("share participants" in w for w in pair["warnings"])
    json.dumps(s)


def test_sample_overlap_is_a_recorded_warning(caplog):
    exp, out = _pair(np.array([0.08, 0.09, -0.07]), 0.01)
    res = run_mr_analysis(None, unclumped=True, exposure=exp, outcome=out, methods=["ivw"], params=_PARAMS)
    assert res.summary()["sample_overlap"] is None
    with caplog.at_level(logging.WARNING, logger="bma_genetics.mr.api"):
        res = run_mr_analysis(None, unclumped=True, exposure=exp, outcome=out, methods=["ivw"], params=_PARAMS, sample_overlap=True)
    assert res.summary()["sample_overlap"] is True
    assert any("share participants" in w for w in res.summary()["warnings"]) and "share participants" in caplog.text


def _liability_r2(lor: float, af: float, prop: float, prevalence: float) -> float:
    """TwoSampleMR's get_r_from_lor(model="logit")^2 in closed form: a = P(effect allele, case)
    solves (OR - 1) a^2 + ((af + prop)(1 - OR) - 1) a + OR af prop = 0 (the odds ratio of the
    2x2 table of allele by status equals OR), the root with every cell non-negative."""
    orr = np.exp(lor)
    qa, qb, qc = orr - 1, (af + prop) * (1 - orr) - 1, orr * af * prop
    roots = (-qb + np.array([-1.0, 1.0]) * np.sqrt(qb * qb - 4 * qa * qc)) / (2 * qa)
    a = next(r for r in roots if 0 <= r <= min(af, prop) and 1 + r - af - prop >= 0)
    af_cases, af_controls = a / prop, (af - a) / (1 - prop)
    pop = af_controls * (1 - prevalence) + af_cases * prevalence
    vg = lor**2 * pop * (1 - pop)
    return vg / (vg + np.pi**2 / 3)


def test_steiger_liability_r2_uses_the_signed_log_odds_ratio():
    # A protective allele (OR 0.5) at EAF 0.3 in a sample of 25 % cases, prevalence 2 %.
    lor, af, prev = np.log(0.5), 0.3, 0.02
    expected = _liability_r2(lor, af, 0.25, prev)
    assert expected != pytest.approx(_liability_r2(-lor, af, 0.25, prev), rel=1e-3)  # the sign matters
    np.testing.assert_allclose(r2_from_lor(np.array([lor]), np.array([af]), 250, 750, prev), [expected], rtol=1e-9)
    np.testing.assert_allclose(r2_from_lor(np.array([-lor]), np.array([af]), 250, 750, prev),
                               [_liability_r2(-lor, af, 0.25, prev)], rtol=1e-9)
    # mr_steiger sums the same r^2 over a pair's SNPs, with the outcome's own signs.
    lors = np.array([np.log(0.5), np.log(1.3), np.log(0.8)])
    afs = np.array([0.3, 0.15, 0.45])
    h = pd.DataFrame({"exposure": "x", "outcome": "y", "snp": ["a", "b", "c"], "mr_keep": True,
                      "beta_exposure": [0.1, 0.05, 0.08], "standard_error_exposure": 0.005,
                      "samplesize_exposure": 20_000, "beta_outcome": lors, "standard_error_outcome": 0.05,
                      "eaf_outcome": afs, "eaf_exposure": afs, "ncase_outcome": 250.0, "ncontrol_outcome": 750.0})
    st = mr_steiger(h, prevalence=prev)
    want = sum(_liability_r2(b, f, 0.25, prev) for b, f in zip(lors, afs, strict=True))
    assert st["snp_r2_outcome"].iloc[0] == pytest.approx(want, rel=1e-9)


def test_cli_falls_back_only_with_p_fallback(tmp_path, capsys):
    from bma_genetics.cli import main
    from bma_genetics.io import write_gwas_ssf

    exp, out = _pair(np.array([0.051, 0.052, -0.053, 0.051, 0.052, 0.001]), 0.01)
    e, o = write_gwas_ssf(exp, tmp_path / "exp.tsv.gz"), write_gwas_ssf(out, tmp_path / "out.tsv.gz")
    args = ["mr", "--exposure", str(e), "--outcome", str(o), "--methods", "ivw", "--nboot", "10", "--no-plots",
            "--no-clump"]
    rc = main([*args, "--out", str(tmp_path / "a")])
    assert rc == 2 and "--p-fallback 5e-6" in capsys.readouterr().err
    rc = main([*args, "--out", str(tmp_path / "b"), "--p-fallback", "5e-6", "--sample-overlap"])
    captured = capsys.readouterr()
    assert rc == 0 and "5 of 5 instruments used" in captured.out and "fallback P < 5e-06" in captured.out
    assert "mean F = " in captured.out and "share participants" in captured.err
    run = json.loads((tmp_path / "b" / "run.json").read_text())
    assert run["summary"]["p_fallback_used"] is True and run["sample_overlap"] is True

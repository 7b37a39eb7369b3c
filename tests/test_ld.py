"""LD readers, matrices and clumping against independent implementations.

Readers: files written by Hail (``export_plink``/``export_bgen``), an independent writer, must
read back to the genotypes Hail holds (exact for PLINK hard calls, <= 1/255 + rounding for
8-bit BGEN). LD: equals ``numpy.corrcoef`` to 1e-10. Clumping: equals a brute-force reference
(every pair's r^2 from numpy) on a simulated region.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bma_genetics.errors import InputError
from bma_genetics.ld import BgenReader, PlinkReader, clump, ld_matrix, match_variants


def _write_bed(prefix, geno, chrom, pos, a1, a2, samples):
    """Minimal independent PLINK 1 writer (counts of A1; -1 = missing)."""
    n, m = geno.shape
    code = {2: 0b00, 1: 0b10, 0: 0b11, -1: 0b01}
    nbytes = (n + 3) // 4
    with open(f"{prefix}.bed", "wb") as fh:
        fh.write(b"\x6c\x1b\x01")
        for j in range(m):
            buf = bytearray(nbytes)
            for i in range(n):
                buf[i // 4] |= code[int(geno[i, j])] << (2 * (i % 4))
            fh.write(bytes(buf))
    pd.DataFrame({"c": chrom, "id": [f"{c}:{p}" for c, p in zip(chrom, pos, strict=True)], "cm": 0,
                  "p": pos, "a1": a1, "a2": a2}).to_csv(f"{prefix}.bim", sep="\t", header=False, index=False)
    pd.DataFrame({"f": samples, "i": samples, "a": 0, "b": 0, "s": 0, "ph": -9}).to_csv(
        f"{prefix}.fam", sep=" ", header=False, index=False)


@pytest.fixture(scope="module")
def region(tmp_path_factory):
    rng = np.random.default_rng(11)
    n, m = 300, 60
    # LD blocks: latent haplotype factor per block of 10 variants
    latent = rng.normal(size=(n, m // 10)).repeat(10, axis=1)
    liability = latent + rng.normal(scale=0.7, size=(n, m))
    geno = (liability > -0.5).astype(int) + (liability > 0.8).astype(int)
    geno[rng.random((n, m)) < 0.01] = -1
    pos = np.arange(m) * 5_000 + 1_000_000
    d = tmp_path_factory.mktemp("ld")
    prefix = str(d / "region")
    _write_bed(prefix, geno, ["17"] * m, pos, ["A"] * m, ["G"] * m, [f"s{i}" for i in range(n)])
    return prefix, geno, pos


def test_plink_reader_exact(region):
    prefix, geno, _ = region
    r = PlinkReader(prefix)
    got = r.dosages(np.arange(geno.shape[1]))
    want = np.where(geno < 0, np.nan, geno).astype(np.float32)
    np.testing.assert_array_equal(got, want)
    assert r.n_samples == geno.shape[0] and list(r.variants.columns[:2]) == ["chromosome", "variant_id"]


def test_ld_matrix_matches_numpy(region):
    prefix, geno, _ = region
    ok = (geno >= 0).all(axis=0)
    idx = np.flatnonzero(ok)[:15]
    r = ld_matrix(PlinkReader(prefix), idx)
    np.testing.assert_allclose(r, np.corrcoef(geno[:, idx].T), atol=1e-10)


def test_clump_matches_brute_force(region):
    prefix, geno, pos = region
    rng = np.random.default_rng(3)
    m = geno.shape[1]
    p = 10 ** -rng.uniform(0, 12, size=m)
    ss = pd.DataFrame({"chromosome": "17", "base_pair_location": pos, "p_value": p,
                       "variant_id": [f"v{j}" for j in range(m)]})
    got = clump(ss, PlinkReader(prefix), p1=1e-6, p2=1e-2, r2=0.2, window_kb=30)
    # brute force with mean-imputed dosages
    x = np.where(geno < 0, np.nan, geno).astype(float)
    x = np.where(np.isnan(x), np.nanmean(x, axis=0), x)
    r2 = np.corrcoef(x.T) ** 2
    assigned = p >= 1e-2
    expect = []
    for i in np.argsort(p):
        if p[i] >= 1e-6:
            break
        if assigned[i]:
            continue
        assigned[i] = True
        mem = [j for j in range(m) if not assigned[j] and abs(pos[j] - pos[i]) <= 30_000 and r2[i, j] >= 0.2]
        assigned[mem] = True
        expect.append((f"v{i}", ",".join(f"v{j}" for j in sorted(mem))))
    assert list(zip(got.variant_id, got.clump_members, strict=True)) == expect
    assert len(expect) >= 3


def test_match_variants_alleles(region):
    prefix, _, pos = region
    ss = pd.DataFrame({"chromosome": ["17", "17", "17", "17"], "base_pair_location": [pos[0], pos[1], pos[2], 5],
                       "effect_allele": ["G", "C", "T", "A"], "other_allele": ["A", "T", "C", "G"]})
    # G/A matches directly; C/T and T/C match as the opposite strand of A/G; position 5 is absent
    np.testing.assert_array_equal(match_variants(ss, PlinkReader(prefix)), [0, 1, 2, -1])


def test_bgen_reader_matches_hail(hail_context, tmp_path):
    hl = hail_context
    mt = hl.balding_nichols_model(1, 40, 25, reference_genome="GRCh37")
    mt = mt.annotate_entries(GP=hl.or_missing(hl.rand_bool(0.97),
                                             hl.literal([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]])[mt.GT.n_alt_alleles()]))
    mt = mt.key_cols_by(s=hl.str(mt.sample_idx))
    out = str(tmp_path / "bn")
    hl.export_bgen(mt, out)
    reader = BgenReader(out + ".bgen")
    got = reader.dosages(np.arange(reader.n_variants))
    n_alt = mt.GT.n_alt_alleles()
    ht = mt.select_entries(d=hl.or_missing(hl.is_defined(mt.GP), n_alt)).localize_entries("e", "cols")
    rows = ht.collect()
    expect = np.array([[np.nan if e.d is None else e.d for e in row.e] for row in rows], dtype=float).T
    np.testing.assert_allclose(got, expect, atol=1e-6)
    assert reader.samples == [str(i) for i in range(40)]
    assert reader.dosage_allele == "a2"


def test_bgen_without_sample_file_is_error(tmp_path):
    p = tmp_path / "x.bgen"
    p.write_bytes(b"\x00" * 40)
    # (40 zero bytes are no BGEN at all: the structural check before reading names the header)
    with pytest.raises(InputError, match="BgenReader|check_bgen"):
        BgenReader(p)


def test_open_ld_source_resolves_every_value(region):
    from bma_genetics.ld import PlinkReader, open_ld_source

    prefix, geno, _ = region
    # a PLINK prefix (with or without .bed), a reader, and in-sample genotypes
    assert open_ld_source(prefix).n_samples == geno.shape[0]
    assert open_ld_source(prefix + ".bed").n_variants == geno.shape[1]
    r = PlinkReader(prefix)
    assert open_ld_source(r) is r
    ins = open_ld_source("in-sample", genotypes=prefix)
    np.testing.assert_array_equal(ins.dosages([0, 5]), r.dosages([0, 5]))
    # a sample subset keeps the asked order and the dosages of those rows
    sub = open_ld_source("in-sample", genotypes=prefix, samples=["s7", "s3", "absent"])
    assert sub.samples == ["s7", "s3"]
    np.testing.assert_array_equal(sub.dosages([1, 2]), r.dosages([1, 2])[[7, 3]])


@pytest.mark.parametrize("value, match", [
    ("refernce", r"'refernce' is not an LD source \(did you mean 'reference'\?\).*'in-sample', 'reference'"),
    ("in_sample", r"'in_sample' is not an LD source \(did you mean 'in-sample'\?\)"),
    ("/no/such/panel", r"no /no/such/panel.bed"),
    (3, r"expected 'in-sample', 'reference' or a PLINK prefix, found 3"),
])
def test_open_ld_source_bad_value_names_it(value, match):
    from bma_genetics.ld import open_ld_source

    with pytest.raises(InputError, match=match):
        open_ld_source(value, where="run_x/ld")
    with pytest.raises(InputError, match=r"^run_x/ld: 'in-sample' LD needs the analysed genotypes"):
        open_ld_source("in-sample", where="run_x/ld")

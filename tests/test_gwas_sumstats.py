"""GWAS-SSF writer and reader (bma_genetics.io): round trip, exact tiny P, deterministic gzip, metadata, errors."""

from __future__ import annotations

import gzip
import hashlib

import numpy as np
import pandas as pd
import pytest
import yaml

from bma_genetics.errors import InputError
from bma_genetics.io import metadata_path, read_gwas_ssf_metadata, read_sumstats, write_gwas_ssf


def _frame(n: int = 50, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    beta = rng.normal(0, 0.05, n)
    se = rng.uniform(0.01, 0.03, n)
    from scipy import stats

    z = beta / se
    return pd.DataFrame(
        {
            "rsid": [f"rs{i}" for i in range(n)],
            "chromosome": ["1"] * (n // 2) + ["2"] * (n - n // 2),
            "base_pair_location": np.r_[np.arange(n // 2), np.arange(n - n // 2)] * 1000 + 1,
            "effect_allele": rng.choice(list("ACGT"), n),
            "other_allele": ["N"] * n,
            "beta": beta,
            "standard_error": se,
            "effect_allele_frequency": rng.uniform(0.05, 0.5, n),
            "p_value": 2 * stats.norm.sf(np.abs(z)),
            "neg_log_10_p_value": -(stats.norm.logsf(np.abs(z)) + np.log(2)) / np.log(10),
            "n": 1000,
        }
    )


def test_round_trip_order_and_metadata(tmp_path):
    df = _frame()
    df.loc[3, "effect_allele_frequency"] = np.nan
    path = write_gwas_ssf(df, tmp_path / "bmff_spine.tsv.gz", {"trait_description": ["BMFF spine"],
                                                              "samples": [{"sample_size": 1000}]})
    back = read_sumstats(path)
    header = gzip.open(path, "rt").readline().rstrip("\n").split("\t")
    assert header[:8] == ["chromosome", "base_pair_location", "effect_allele", "other_allele", "beta",
                          "standard_error", "effect_allele_frequency", "p_value"]
    assert "#NA" in gzip.open(path, "rt").read()
    assert np.isnan(back.loc[3, "effect_allele_frequency"])
    np.testing.assert_allclose(back["beta"], df["beta"], rtol=1e-9)
    np.testing.assert_allclose(back["p_value"], df["p_value"], rtol=1e-5)
    assert back["chromosome"].dtype == object and back["base_pair_location"].dtype == np.int64
    meta = read_gwas_ssf_metadata(path)
    assert meta["data_file_name"] == "bmff_spine.tsv.gz"
    assert meta["data_file_md5sum"] == hashlib.md5(path.read_bytes()).hexdigest()
    assert meta["file_type"].startswith("GWAS-SSF") and meta["genome_assembly"] == "GRCh37"
    assert meta["is_sorted"] is True and meta["samples"][0]["sample_size"] == 1000
    assert metadata_path(path).name == "bmff_spine.tsv.gz-meta.yaml"
    yaml.safe_load(metadata_path(path).read_text())


def test_tiny_p_exact_and_deterministic(tmp_path):
    df = _frame(5)
    df.loc[0, "p_value"] = 0.0  # underflowed in float64
    df.loc[0, "neg_log_10_p_value"] = 412.5
    a = write_gwas_ssf(df, tmp_path / "a.tsv.gz", {"date_metadata_last_modified": "2026-01-01"})
    text = gzip.open(a, "rt").read().splitlines()[1].split("\t")
    # 10^-412.5 = 3.1623e-413
    assert text[7] == "3.1623e-413"
    back = read_sumstats(a)
    assert back.loc[0, "neg_log_10_p_value"] == pytest.approx(412.5, rel=1e-9)
    b = write_gwas_ssf(df, tmp_path / "b.tsv.gz")
    assert a.read_bytes() == b.read_bytes()  # gzip mtime=0, no file name


def test_errors(tmp_path):
    df = _frame(5).drop(columns=["standard_error"])
    with pytest.raises(InputError, match="write_gwas_ssf/frame.*standard_error"):
        write_gwas_ssf(df, tmp_path / "x.tsv.gz")
    with pytest.raises(InputError, match="read_sumstats/path: no such file"):
        read_sumstats(tmp_path / "missing.tsv.gz")
    (tmp_path / "bad.tsv").write_text("chromosome\tbeta\n1\t0.1\n")
    with pytest.raises(InputError, match=r"read_sumstats/gwas_ssf: .*bad.tsv lacks .*GWAS-SSF.*'base_pair_location'"):
        read_sumstats(tmp_path / "bad.tsv", format="gwas_ssf")


def test_only_neg_log10(tmp_path):
    df = _frame(5).drop(columns=["p_value"])
    p = write_gwas_ssf(df, tmp_path / "m.tsv")
    back = read_sumstats(p)
    np.testing.assert_allclose(back["p_value"], 10 ** -df["neg_log_10_p_value"], rtol=1e-8)


def test_fast_text_equals_pandas_to_csv():
    """The column-wise text of write_gwas_ssf is byte for byte what pandas' ``to_csv`` (the former
    writer) gives: floats as %.10g with NaN/inf/-0/subnormals, integers, booleans, object columns
    mixing text, numbers and missing values; text needing CSV quotes, nullable integer columns and
    one-column frames fall back to pandas (None)."""
    import io

    from bma_genetics.io.sumstats import NA, _tsv_text

    def pandas_text(df):
        buf = io.StringIO()
        df.to_csv(buf, sep="\t", index=False, na_rep=NA, float_format="%.10g", lineterminator="\n")
        return buf.getvalue()

    rng = np.random.default_rng(3)
    n = 2000
    gwas = pd.DataFrame({"chromosome": rng.integers(1, 23, n), "base_pair_location": rng.integers(1, 10**8, n),
                         "effect_allele": rng.choice(list("ACGT"), n), "beta": rng.normal(size=n) * 10.0 ** rng.integers(-8, 3, n),
                         "standard_error": rng.random(n), "p_value": np.where(rng.random(n) < 0.01, NA, "1e-5").astype(object),
                         "n": np.int64(7514), "rsid": np.where(rng.random(n) < 0.1, None, "rs12").astype(object),
                         "converged": rng.random(n) < 0.5})
    gwas.loc[rng.choice(n, 50), "beta"] = np.nan
    edge = pd.DataFrame({"f": [np.nan, np.inf, -np.inf, -0.0, 1e-320, 1.2345678901234e-5, 123456789012.0, 0.1, 5e-324, 1e300],
                         "i": np.arange(10, dtype=np.int64) - 5, "b": [True, False] * 5,
                         "o": ["rs1", None, np.nan, 3.5, 7, True, "", " a ", "x_y", pd.NA]})
    for df in (gwas, edge, edge.iloc[:0]):
        assert _tsv_text(df) == pandas_text(df)
    for bad in (pd.DataFrame({"a": ["x\ty", "z"], "b": [1, 2]}), pd.DataFrame({"a": ['q"', "z"], "b": [1, 2]}),
                pd.DataFrame({"a": pd.array([1, None], dtype="Int64"), "b": [1, 2]}), pd.DataFrame({"a": [1.0, 2.0]})):
        assert _tsv_text(bad) is None

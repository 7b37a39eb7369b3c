"""The result-table contracts of io/results.py: round trips, and failures that name file and column."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bma_genetics.errors import InputError
from bma_genetics.io import (
    read_gene_set_results,
    read_mr_results,
    read_phewas_results,
    write_gene_set_results,
    write_mr_results,
    write_phewas_results,
)


def _phewas() -> pd.DataFrame:
    return pd.DataFrame({
        "exposure": ["bmff_spine"] * 2, "phecode": ["250.2", "743.11"], "phecode_string": ["T2D", "Osteoporosis"],
        "category": ["endocrine", "musculoskeletal"], "n_cases": [120, 60], "n_controls": [900, 960],
        "beta": [0.2, -0.1], "standard_error": [0.05, 0.07], "odds_ratio": np.exp([0.2, -0.1]),
        "ci_lower": [1.1, 0.8], "ci_upper": [1.35, 1.04], "p_value": [6e-5, 0.15], "method": ["logit", "firth"],
        "converged": [True, True], "neg_log_10_p_value": [4.22, 0.82], "bonferroni": [1.2e-4, 0.3],
        "fdr": [1.2e-4, 0.15], "sex_restriction": ["Both", "Both"],
    })


def _mr() -> pd.DataFrame:
    return pd.DataFrame({
        "exposure": "x", "outcome": "y", "method": ["ivw", "egger"], "nsnp": [10, 10], "beta": [0.4, 0.5],
        "standard_error": [0.1, 0.2], "ci_lower": [0.2, 0.1], "ci_upper": [0.6, 0.9], "p_value": [1e-4, 0.03],
        "q": [12.0, 11.0], "q_df": [9.0, 8.0], "q_p_value": [0.2, 0.2], "egger_intercept": [np.nan, -0.01],
        "egger_intercept_standard_error": [np.nan, 0.01], "egger_intercept_p_value": [np.nan, 0.35],
    })


@pytest.mark.parametrize("suffix", [".tsv", ".parquet"])
def test_phewas_results_round_trip_keeps_phecodes_as_strings(tmp_path, suffix):
    path = write_phewas_results(_phewas(), tmp_path / f"phewas_results{suffix}")
    back = read_phewas_results(path)
    assert back["phecode"].tolist() == ["250.2", "743.11"]  # not floats
    np.testing.assert_allclose(back["beta"], _phewas()["beta"])
    assert back["converged"].all()


def test_old_column_names_are_named_with_their_new_ones(tmp_path):
    old = _phewas().rename(columns={"standard_error": "se", "fdr": "fdr_bh"})
    old.to_csv(tmp_path / "old.tsv", sep="\t", index=False)
    with pytest.raises(InputError, match=r"read_phewas_results/path: .*old.tsv is a PheWAS results table in the "
                                         r"format before version 2 .*se -> standard_error, fdr_bh -> fdr"):
        read_phewas_results(tmp_path / "old.tsv")
    mr = _mr().rename(columns={"beta": "b", "ci_lower": "ci_low"})
    mr.to_csv(tmp_path / "mr_old.tsv", sep="\t", index=False)
    with pytest.raises(InputError, match=r"b -> beta, ci_low -> ci_lower"):
        read_mr_results(tmp_path / "mr_old.tsv")


def test_mr_tables_checked_by_name(tmp_path):
    path = write_mr_results(_mr(), tmp_path / "mr_results.tsv")
    back = read_mr_results(path)
    assert back.loc[1, "egger_intercept"] == pytest.approx(-0.01) and np.isnan(back.loc[0, "egger_intercept"])
    with pytest.raises(InputError, match=r"write_mr_results/table: unknown MR table 'pleiotropie'; expected one of"):
        write_mr_results(_mr(), tmp_path / "x.tsv", table="pleiotropie")
    with pytest.raises(InputError, match=r"read_mr_results/path: .*mr_results.tsv lacks column\(s\) \['i2'\] "
                                         r"of the MR heterogeneity table"):
        read_mr_results(path, table="heterogeneity")
    # a Parquet file stamped as another table is refused
    stamped = write_mr_results(_mr(), tmp_path / "mr_results.parquet")
    with pytest.raises(InputError, match=r"stamped as a 'mr_results' table, not a gene-set results table"):
        read_gene_set_results(stamped)


def test_gene_set_results_dtype_named(tmp_path):
    sets = pd.DataFrame({"set_id": ["GO:1", "GO:2"], "set_name": ["a", "b"], "n_genes": [12, 30],
                         "beta": [0.3, 0.1], "standard_error": [0.1, 0.1], "p_value": [0.001, 0.2],
                         "fdr": [0.002, 0.2]})
    back = read_gene_set_results(write_gene_set_results(sets, tmp_path / "gene_sets.tsv"))
    assert back["set_id"].tolist() == ["GO:1", "GO:2"]
    sets.assign(n_genes=["12", "thirty"]).to_csv(tmp_path / "bad.tsv", sep="\t", index=False)
    with pytest.raises(InputError, match=r"bad.tsv column 'n_genes' line 3: 'thirty' is not a number"):
        read_gene_set_results(tmp_path / "bad.tsv")

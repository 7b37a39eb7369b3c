"""The two linear engines of ``run_gwas`` (per-group passes, complete-case projection) compared."""

from __future__ import annotations

import numpy as np


def assert_engines_agree(new: dict, old: dict, *, where: str = "") -> int:
    """Every result set of ``new`` (``GwasResult.sumstats``, projection) equals ``old`` (per-group
    passes) on the same variants: SE to 1e-6 relative, beta to 1e-6 of its SE, t to 1e-6
    (relative above 1), -log10 P to 1e-6 relative, EAF to 1e-9, n exactly. Returns the rows compared."""
    assert set(new) == set(old), (where, sorted(set(new) ^ set(old)))
    rows = 0
    for label, o in old.items():
        keys = ["chromosome", "base_pair_location", "effect_allele", "other_allele"]
        m = new[label].merge(o, on=keys, suffixes=("", "_old"))
        assert len(m) == len(o) == len(new[label]), (where, label, len(m), len(o), len(new[label]))
        assert (m["n"] == m["n_old"]).all(), (where, label)
        se = m["standard_error_old"].to_numpy(float)
        assert np.max(np.abs(m["standard_error"] / se - 1)) <= 1e-6, (where, label, "standard_error")
        assert np.max(np.abs(m["beta"] - m["beta_old"]) / se) <= 1e-6, (where, label, "beta")
        t, t_old = m["t_statistic"].to_numpy(float), m["t_statistic_old"].to_numpy(float)
        assert np.max(np.abs(t - t_old) / np.maximum(1, np.abs(t_old))) <= 1e-6, (where, label, "t_statistic")
        lp, lp_old = m["neg_log_10_p_value"].to_numpy(float), m["neg_log_10_p_value_old"].to_numpy(float)
        assert np.max(np.abs(lp - lp_old) / np.maximum(1e-3, lp_old)) <= 1e-6, (where, label, "neg_log_10_p_value")
        np.testing.assert_allclose(m["effect_allele_frequency"], m["effect_allele_frequency_old"], rtol=1e-9,
                                   err_msg=f"{where} {label}")
        rows += len(m)
    return rows

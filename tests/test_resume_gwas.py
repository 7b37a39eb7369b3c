"""Resume of the standalone GWAS (``bma-genetics gwas`` / ``run_study_gwas`` into a folder that
holds an earlier run): the QC checkpoint and the association chunks are reused only when made
from the same genotypes, samples, trait values and settings."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _genotypes import write_random_bed

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def plink_set(tmp_path_factory):
    """300 random people at 400 variants on chromosomes 1-2, and their phenotypes."""
    rng = np.random.default_rng(14)
    prefix = tmp_path_factory.mktemp("geno") / "geno"
    dose, _chrom, _pos, ids, _a1, _a2 = write_random_bed(prefix, rng, 300, 400, maf=(0.1, 0.5), spacing=1000,
                                                         first_id=5_000_001)
    pheno = pd.DataFrame({"eid": ids, "age": rng.normal(60, 7, 300)})
    pheno["y"] = 0.4 * dose[3] + rng.normal(size=300)
    return prefix, pheno


def _gwas(pheno, prefix, out, **kw):
    from bma_genetics.gwas.api import run_study_gwas

    res = run_study_gwas(pheno, out=out, traits=["y"], covariates=["age"], bfile=str(prefix), ld=None,
                         qc={"min_mac": 5, "hwe_p": 0.0}, chunk_by="all", **kw)
    return res.to_frame()


def test_gwas_into_an_old_folder_keys_on_samples_and_values(plink_set, hail_context, tmp_path):
    """The issue: `gwas` into an old folder returned the old 751-person results byte for byte.
    A second run into the same folder with more people, or changed trait values, gives what a
    run into an empty folder gives; the same inputs again reuse the chunks."""
    prefix, pheno = plink_set
    old = tmp_path / "old"
    fewer = pheno.iloc[:250]
    first = _gwas(fewer, prefix, old)
    assert int(first["n"].iloc[0]) == 250
    grown = _gwas(pheno, prefix, old)  # 300 people now
    fresh = _gwas(pheno, prefix, tmp_path / "fresh")
    assert int(grown["n"].iloc[0]) == 300
    pd.testing.assert_frame_equal(grown, fresh)
    changed = pheno.assign(y=pheno["y"] * 2 + 1)  # same people, new values: every beta doubles
    again = _gwas(changed, prefix, old)
    np.testing.assert_allclose(again["beta"], 2 * grown["beta"], rtol=1e-9)
    np.testing.assert_allclose(again["p_value"], grown["p_value"], rtol=1e-9)


def test_resume_stamp_keys_on_the_linear_engine():
    """A chunk is reused only for the engine that made it: the two engines agree to ~1e-6, not
    exactly, so switching ``linear_engine`` with resume recomputes the chunks."""
    from bma_genetics.gwas.association import _resume_stamp, plan_analyses

    rng = np.random.default_rng(15)
    table = pd.DataFrame({"eid": [str(k) for k in range(100)], "y": rng.normal(size=100),
                          "age": rng.normal(60, 7, 100)})
    analyses, frame = plan_analyses(table, traits=["y"], covariates=["age"])
    kw = dict(transform="none", block_size=1000, n_samples=100, row_fields=["rsid"], firth="fallback",
              firth_p=None, interaction=None, condition=[], loco=None)
    groups = _resume_stamp(analyses, frame, linear_engine="groups", **kw)
    assert groups == _resume_stamp(analyses, frame, linear_engine="groups", **kw)
    assert groups != _resume_stamp(analyses, frame, linear_engine="projection", **kw)


def test_small_pass_runs_the_per_group_passes_under_the_projection_engine(plink_set, hail_context, tmp_path,
                                                                           caplog):
    """Contigs discovered (no ``chromosomes``): run_gwas counts each pass's variants in the same
    row pass, and one below PROJECTION_MIN_VARIANTS (here 400) runs the per-group passes under
    ``linear_engine='projection'``, logged, with the groups engine's results exactly."""
    import logging

    prefix, pheno = plink_set
    with caplog.at_level(logging.INFO, logger="bma_genetics.gwas.association"):
        small = _gwas(pheno, prefix, tmp_path / "projection", linear_engine="projection")
    assert "per-group passes instead of the projection engine" in caplog.text
    assert "below the projection's break-even of 5,000" in caplog.text
    pd.testing.assert_frame_equal(small, _gwas(pheno, prefix, tmp_path / "groups"))

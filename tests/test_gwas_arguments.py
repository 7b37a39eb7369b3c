"""run_study_gwas checks every argument before Hail starts (a typo fails in a second, not after QC),
and the gwas stage refuses to run without the participants stage's table."""

from __future__ import annotations

import pandas as pd
import pytest

from bma_genetics.errors import BmaGeneticsError, InputError


def _no_hail():
    raise AssertionError("Hail must not start before the arguments are checked")


PHENO = pd.DataFrame({"eid": ["1", "2", "3"], "y": [1.0, 2.0, 3.0], "age": [50.0, 60.0, 70.0],
                      "sex": [0.0, 1.0, 0.0]})
OK = {"traits": ["y"], "covariates": ["age"], "bfile": "geno"}


@pytest.mark.parametrize(("change", "message"), [
    ({"traits": ["yy"]}, r"run_study_gwas/traits: trait\(s\) \['yy'\] not in the phenotype table"),
    ({"traits": []}, "run_study_gwas/traits: no traits given"),
    ({"covariates": ["agee"]}, r"run_study_gwas/covariates: covariate\(s\) \['agee'\]"),
    ({"strata": ["sexx"]}, r"run_study_gwas/strata: stratum column\(s\) \['sexx'\]"),
    ({"binary": ["age"]}, r"run_study_gwas/binary: \['age'\] are not among the traits"),
    ({"transform": "rnt"}, r"run_study_gwas/transform: expected one of \['none', 'rint'\], found 'rnt'"),
    ({"chunk_by": "chr"}, r"run_study_gwas/chunk_by: expected one of \['chromosome', 'all'\]"),
    ({"block_size": 0}, "run_study_gwas/block_size: expected a positive integer, found 0"),
    ({"block_size": "128"}, "run_study_gwas/block_size: expected a positive integer, found '128'"),
    ({"qc": {"min_inf": 0.3}}, r"run_study_gwas/qc: unknown setting\(s\) \['min_inf'\]"),
    ({"qc": {"min_info": 5}}, r"run_study_gwas/qc: min_info must be in \[0, 1\], found 5"),
    ({"mfi": "no_such_mfi_chr*_v3.txt"}, r"run_study_gwas/mfi: no MFI file matches 'no_such_mfi_chr\*_v3.txt'"),
    ({"loci": {"p1": "x"}}, "run_study_gwas/loci: p1 must be a number, found 'x'"),
    ({"bfile": None}, "run_study_gwas/genotypes: give exactly one of bgen=, bfile=, vcf="),
    ({"null_traits": -1}, "run_study_gwas/null_traits: expected a non-negative integer"),
    ({"ld": "refernce"}, "run_study_gwas/ld: 'refernce' is not an LD source.*did you mean 'reference'"),
    ({"firth": "sometimes"}, r"run_study_gwas/firth: expected one of \['fallback', 'always'\]"),
    ({"firth_p": 0}, r"run_study_gwas/firth_p: expected a P threshold in \(0, 1\], found 0"),
    ({"interaction": "sex"}, r"run_study_gwas/interaction: 'sex' is not among the covariates \['age'\]"),
    ({"condition": "no_such_list.txt"}, "run_study_gwas/condition: no such file no_such_list.txt"),
])
def test_bad_argument_fails_before_hail(tmp_path, change, message):
    with pytest.raises(InputError, match=message):
        from bma_genetics.gwas.api import run_study_gwas

        run_study_gwas(PHENO, out=tmp_path / "out", **{**OK, **change}, start_hail=_no_hail)
    assert not (tmp_path / "out").exists()


def test_stage_needs_the_participants_table(tmp_path):
    from bma_genetics.gwas.stage import run
    from bma_genetics.pipeline.context import RunContext

    ctx = RunContext(run_dir=tmp_path / "run", cohort=tmp_path, config={}, seed=1)
    with pytest.raises(BmaGeneticsError, match="gwas stage: needs the participants stage's table"):
        run(ctx, {})


@pytest.mark.parametrize(("pheno", "change", "message"), [
    # two inf values used to end in "0 variants, lambda GC nan" with exit 0
    (PHENO.assign(y=[1.0, float("inf"), float("-inf")]), {},
     r"run_study_gwas/traits: column 'y' of the phenotype table has 2 non-finite value\(s\)"),
    (PHENO.assign(y=[2.5, 2.5, None]), {}, r"run_study_gwas/traits: trait 'y' is constant \(2\.5\)"),
    (PHENO.assign(y=[None, None, None]), {}, "run_study_gwas/traits: column 'y' of the phenotype table has no values"),
    (PHENO.assign(y=["1.0", "high", "3"]), {},
     r"run_study_gwas/traits: column 'y' of the phenotype table is not numeric: row 2 is 'high'"),
    (PHENO.assign(age=[50.0, float("inf"), 70.0]), {},
     r"run_study_gwas/covariates: column 'age' .* 1 non-finite value"),
])
def test_degenerate_trait_or_covariate_fails_before_hail(tmp_path, pheno, change, message):
    from bma_genetics.gwas.api import run_study_gwas

    with pytest.raises(InputError, match=message):
        run_study_gwas(pheno, out=tmp_path / "out", **{**OK, **change}, start_hail=_no_hail)
    assert not (tmp_path / "out").exists()


def test_run_gwas_checks_trait_values_before_hail(monkeypatch):
    import bma_genetics._hail as hail_module
    from bma_genetics.gwas.association import run_gwas

    monkeypatch.setattr(hail_module, "init_hail", _no_hail)
    with pytest.raises(InputError, match=r"run_gwas/traits: column 'y' of the phenotype table has 2 non-finite"):
        run_gwas(None, PHENO.assign(y=[1.0, float("inf"), float("inf")]), traits=["y"], covariates=["age"])


def test_text_in_a_plink_phenotype_column_is_an_error(tmp_path):
    """'high' in a trait column used to become missing without a word."""
    from bma_genetics.gwas.cli import _read_plink_table

    path = tmp_path / "pheno.tsv"
    path.write_text("#FID\tIID\ty\n1\t1\t1.5\n2\t2\tNA\n3\t3\thigh\n")
    with pytest.raises(InputError, match=r"gwas/--pheno: .*pheno.tsv: column 'y' line 4: 'high' is not a number "
                                         r"\(1 such value"):
        _read_plink_table(path, "gwas/--pheno")
    path.write_text("#FID\tIID\ty\n1\t1\t1.5\n2\t2\tNA\n3\t3\t-9\n")
    t = _read_plink_table(path, "gwas/--pheno")
    assert t["y"].isna().sum() == 2 and t["y"].iloc[0] == 1.5

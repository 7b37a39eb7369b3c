"""Every GWAS-SSF file the project writes passes the GWAS Catalog's own validator.

The validator (``gwas-sumstats-tools``, own venv under ``.peers/``) checks the column order,
every row against its schema (chromosome 1-25, so X is 23; ``variant_id`` and ``rsid``
patterns; ranges) and the metadata sidecar against its model. Its two study-size rules (at
least 100,000 rows, all 22 autosomes) are not format rules and do not apply to test files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmarks.peers import PeerUnavailable
from bma_genetics.io import read_gwas_ssf_metadata, read_sumstats, write_gwas_ssf

pytestmark = pytest.mark.peer


@pytest.fixture(scope="module")
def validate():
    from benchmarks.ssf_validate import validate_ssf, validator_python

    try:
        validator_python()
    except PeerUnavailable as exc:  # pragma: no cover - no PyPI access
        pytest.skip(f"gwas-sumstats-tools cannot be installed here: {exc}")
    return validate_ssf


def _accepted(results: list[dict]) -> None:
    bad = {r["file"]: r["errors"] for r in results if r["errors"]}
    assert not bad, bad


def test_synthetic_chrx_ssf_passes_and_reads_back(validate, tmp_path):
    chroms = ["1", "2", "X", "X", "XY", "Y", "MT"]
    df = pd.DataFrame({
        "chromosome": chroms, "base_pair_location": np.arange(1, 8) * 1000,
        "effect_allele": list("GGTCAGA"), "other_allele": list("AACTGAG"),
        "beta": 0.1, "standard_error": 0.02, "effect_allele_frequency": 0.3,
        "p_value": [1e-3, 0.5, 0.0, 1e-320, 0.2, 0.9, 0.04],
        "neg_log_10_p_value": [3.0, 0.30103, 400.0, 320.0, 0.69897, 0.045757, 1.39794],
        "variant_id": [f"{c}:{p}_A_G" for c, p in zip(chroms, np.arange(1, 8) * 1000, strict=True)],
        "rsid": ["rs1", ".", "rs3", None, "rs5", "rs6", "rs7"],
        "info": 0.95, "n": 100, "n_cases": 30, "n_controls": 70,
    })
    path = write_gwas_ssf(df, tmp_path / "x.tsv.gz", {
        "trait_description": ["t"], "analysis_software": "test",
        "samples": [{"sample_size": 100, "sample_ancestry": ["EUR"], "case_count": 30, "control_count": 70}]})
    (res,) = validate([path])
    _accepted([res])
    assert res["rows"] == len(df)
    assert res["metadata"]["samples"][0]["sample_ancestry_category"] == ["European"]
    back = read_sumstats(path)
    assert back["chromosome"].tolist() == ["1", "2", "X", "X", "X", "Y", "MT"]
    assert back["variant_id"].tolist()[2] == "X_3000_A_G"
    assert back["rsid"].isna().tolist() == [False, True, False, True, False, False, False]
    assert back["n_cases"].tolist() == [30] * 7 and back["info"].tolist() == [0.95] * 7


def test_write_gwas_ssf_refuses_unknown_chromosome(tmp_path):
    df = pd.DataFrame({"chromosome": ["6_ssto_hap7"], "base_pair_location": [1], "effect_allele": ["A"],
                       "other_allele": ["G"], "beta": [0.1], "standard_error": [0.1],
                       "effect_allele_frequency": [0.2], "p_value": [0.3]})
    with pytest.raises(ValueError, match="write_gwas_ssf/frame/chromosome.*6_ssto_hap7"):
        write_gwas_ssf(df, tmp_path / "bad.tsv.gz")


def test_every_ssf_file_of_the_tiny_run_passes(validate, tiny_run):
    files = sorted(p for p in Path(tiny_run).rglob("*.tsv.gz") if Path(f"{p}-meta.yaml").exists())
    assert files, f"no GWAS-SSF file under {tiny_run}"
    names = {p.name for p in files}
    assert any(".meta." in n for n in names), names  # the meta-analysis of the sex strata
    assert any(n.endswith((".female.tsv.gz", ".male.tsv.gz")) for n in names), names
    results = validate(files)
    _accepted(results)
    for r in results:
        samples = r["metadata"]["samples"]
        assert samples and all(s["sample_ancestry_category"] for s in samples), (r["file"], samples)
    for p in files:
        meta = read_gwas_ssf_metadata(p)
        if meta.get("samples", [{}])[0].get("case_control_study"):
            ss = read_sumstats(p)
            s = meta["samples"][0]
            assert (ss["n_cases"] == s["case_count"]).all() and (ss["n_controls"] == s["control_count"]).all()
            assert s["case_count"] + s["control_count"] == s["sample_size"]

"""The UK Biobank data layer on the simulated ``tiny`` cohort: its three exports, its planted QC."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from bma_genetics.io import (
    assign_ancestry,
    build_participant_table,
    read_diagnoses,
    read_ukb,
    read_withdrawals,
    run_sample_qc,
)

EXPORTS = {"csv": "participants/ukb_showcase.csv", "dta": "participants/ukb_showcase.dta", "rap": "participants/ukb_rap.csv"}


@pytest.fixture(scope="module")
def planted(tiny_cohort):
    return json.loads((tiny_cohort / "truth/qc_planted.json").read_text())


@pytest.fixture(scope="module")
def datasets(tiny_cohort):
    return {k: read_ukb(tiny_cohort / p, progress=False) for k, p in EXPORTS.items()}


def test_three_exports_give_identical_participant_tables(datasets):
    tables = {k: build_participant_table(d) for k, d in datasets.items()}
    ref = tables["csv"]
    assert len(ref) > 0 and ref["eid"].is_unique
    for k in ("dta", "rap"):
        # tolerance: the CSVs print non-integers with 6 significant digits (relative error
        # <= 5e-6), the Stata file keeps full doubles; everything else must match exactly
        pd.testing.assert_frame_equal(tables[k], ref, check_exact=False, rtol=1e-5)
    assert datasets["dta"].scheme == "stata" and datasets["rap"].scheme == "rap"


def test_three_exports_give_identical_diagnoses(datasets):
    dx = {k: read_diagnoses(d) for k, d in datasets.items()}
    ref = dx["csv"]
    n_items = int(datasets["csv"].frame.loc[:, [k for k in datasets["csv"].frame.columns if k[0] == 41270]].notna().sum().sum())
    # 41270 gives one row per listed code; ICD-9 (41271) and death-registry (40001/40002) rows come on top
    assert int((ref["source"] == "41270").sum()) == n_items > 0
    icd10 = ref["coding"] == "icd10"
    assert icd10.sum() > n_items and ref.loc[icd10, "code"].str.match(r"^[A-Z]\d{2}(\.[0-9A-Z]+)?$").all()
    for k in ("dta", "rap"):
        pd.testing.assert_frame_equal(dx[k], ref)


def test_qc_counts_equal_planted(tiny_cohort, datasets, planted):
    data = datasets["csv"]
    withdrawn = read_withdrawals(tiny_cohort / "participants/withdrawals.csv")
    assert withdrawn == set(planted["withdrawn"])
    kept, table = run_sample_qc(data, kinship=tiny_cohort / "genotypes/ukb_rel.dat", ancestry="pcs")
    t = table.set_index("step")
    assert t.loc["sex_mismatch", "flagged"] == len(planted["sex_mismatch"])
    assert t.loc["het_missing", "flagged"] == len(planted["het_missing_outliers"])
    assert t.loc["sex_aneuploidy", "flagged"] == len(planted["aneuploidy"])
    assert t.loc["not_in_pca", "flagged"] == len(planted["not_used_in_pca"])
    assert t.loc["ancestry", "flagged"] == len(planted["non_european"])
    pairs = planted["related_pairs"]
    involved = {e for a, b, _ in pairs for e in (a, b)}
    assert t.loc["related", "flagged"] == len(involved)
    kept = set(kept)
    for key in ("sex_mismatch", "het_missing_outliers", "aneuploidy", "non_european"):
        assert not kept & set(planted[key]), key
    gone_before = set().union(*(set(planted[k]) for k in ("sex_mismatch", "het_missing_outliers", "aneuploidy",
                                                         "non_european")))
    both_alive = [(a, b) for a, b, _ in pairs if a not in gone_before and b not in gone_before]
    for a, b in both_alive:
        assert (a in kept) != (b in kept), (a, b)
    assert t.loc["related", "removed"] == len(both_alive)


def test_withdrawn_never_appear(tiny_cohort, planted, tmp_path):
    from bma_genetics.io.stage import run
    from bma_genetics.pipeline.context import RunContext

    ctx = RunContext(run_dir=tmp_path / "run", cohort=tiny_cohort, config={})
    summary = run(ctx, {"export": "participants/ukb_rap.csv"})
    out = ctx.stage_dir("participants")
    participants = pd.read_parquet(out / "participants.parquet")
    diagnoses = pd.read_parquet(out / "diagnoses.parquet")
    withdrawn = set(planted["withdrawn"])
    assert withdrawn and not set(participants["eid"]) & withdrawn and not set(diagnoses["eid"]) & withdrawn
    assert summary["n_withdrawn"] == len(withdrawn)
    assert summary["qc_removed"]["sex_mismatch"] == len(planted["sex_mismatch"]) - len(
        set(planted["sex_mismatch"]) & withdrawn)
    qc = pd.read_csv(out / "sample_qc.tsv", sep="\t")
    assert qc["remaining"].iloc[-1] == len(participants) == summary["n_after_qc"]


def test_ancestry_22006_is_the_white_british_subset(datasets, planted):
    data = datasets["csv"]
    lab = assign_ancestry(data, "22006")
    # 22006 = 1 marks the genetically White British: every planted non-European is outside it
    assert not set(lab[lab == "EUR"].index) & set(planted["non_european"])
    assert (lab == "EUR").sum() == (data.frame[(22006, 0, 0)] == 1).sum()

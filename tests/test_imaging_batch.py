"""Two imaging batches (issue 20): the simulator's assignment and shift, the participant table's column."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from bma_genetics.errors import InputError
from bma_genetics.io.covariates import IMAGING_BATCH_SPLIT, build_participant_table
from bma_genetics.io.ukb import read_ukb
from bma_genetics.simulate import imaging_batch as ib
from bma_genetics.simulate.presets import resolve


def test_batch_rule_and_planted_shift():
    d = np.array(["2015-03-01", IMAGING_BATCH_SPLIT, "2019-12-31", "NaT"], dtype="datetime64[D]")
    b = ib.batch_of(d)
    assert b.tolist() == [1, 2, 2, 0]
    assert ib.environment(b, 0.2).tolist() == [0.0, 0.2, 0.2, 0.0]
    assert resolve("tiny", {})["imaging_batch_offset"] == 0.0  # off unless asked for
    assert resolve("tiny", {"imaging_batch_offset": 0.1})["imaging_batch_offset"] == 0.1
    with pytest.raises(InputError, match="imaging_batch_offset"):
        resolve("tiny", {"imaging_batch_offset": -1.0})


def test_participant_table_batch_matches_the_simulators(tiny_cohort):
    truth = pd.read_csv(tiny_cohort / "truth" / "imaging_batch.tsv", sep="\t", dtype={"eid": str})
    effects = json.loads((tiny_cohort / "truth" / "bmff_covariate_effects.json").read_text())
    assert effects["imaging_batch_split"] == IMAGING_BATCH_SPLIT and effects["imaging_batch_offset"] == 0.0
    table = build_participant_table(read_ukb(tiny_cohort / "participants" / "ukb_showcase.csv", progress=False), n_pcs=0)
    m = table.merge(truth, on="eid", suffixes=("", "_true"))
    dated = m["scan_date"].notna()
    assert dated.sum() > 500 and m["imaging_batch"].isna().sum() == (~dated).sum()
    assert (m.loc[dated, "imaging_batch"].astype(int) == m.loc[dated, "imaging_batch_true"]).all()
    assert set(m.loc[dated, "imaging_batch"].astype(int)) == {1, 2}  # two batches, both populated


def test_gwas_strata_of_the_two_batches():
    from bma_genetics.gwas.association import define_strata

    table = pd.DataFrame({"imaging_batch": pd.array([1, 2, 2, pd.NA], dtype="Int64"), "sex": [0, 1, 0, 1]})
    masks = define_strata(table, ["imaging_batch"])
    assert list(masks) == ["all", "batch1", "batch2"]
    assert masks["batch2"].tolist() == [False, True, True, False]

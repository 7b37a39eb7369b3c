"""Genome builds are never mixed: every summary-statistics table carries its build, every join
of two studies checks it, and a UCSC chain file lifts one study onto the other's build.

The tiny cohort's osteoporosis GWAS is written twice by the simulator: GWAS-SSF on GRCh37 and
FinnGen's layout on GRCh38 (a fifth of the rows without an rsid), with the chain file between
the builds. The exposure here is a synthetic instrument list on GRCh37 (30 of the cohort's
variants, half of them unnamed in the FinnGen file), so the tests need no GWAS.
"""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest

from bma_genetics.errors import InputError
from bma_genetics.io import liftover, read_chain, read_sumstats, write_gwas_ssf
from bma_genetics.mr import harmonise
from bma_genetics.mr.api import run_mr_analysis


@pytest.fixture(scope="module")
def case(tiny_cohort, tmp_path_factory):
    og = tiny_cohort / "outcome_gwas"
    known = pd.read_csv(tiny_cohort / "truth" / "variant_builds.tsv.gz", sep="\t", dtype={"chromosome": str})
    fg_raw = pd.read_csv(og / "osteoporosis.finngen.tsv.gz", sep="\t", dtype=str, keep_default_na=False)
    ss37 = read_sumstats(og / "osteoporosis.tsv.gz")
    # which variants the FinnGen file leaves without an rsid (found through their GRCh38 position)
    pos38 = known.set_index(known["chromosome"] + ":" + known["base_pair_location_grch38"].astype(str))["rsid"]
    unnamed = set(pos38.reindex(fg_raw.loc[fg_raw["rsids"] == "", "#chrom"] + ":"
                                + fg_raw.loc[fg_raw["rsids"] == "", "pos"]).dropna())
    in_fg = set(pos38.reindex(fg_raw["#chrom"] + ":" + fg_raw["pos"]).dropna())
    pal = {("A", "T"), ("T", "A"), ("C", "G"), ("G", "C")}
    ok = ss37[ss37["rsid"].isin(in_fg) & ss37["effect_allele_frequency"].between(0.1, 0.9)
              & ~pd.Series(list(zip(ss37["effect_allele"], ss37["other_allele"], strict=True))).isin(pal).to_numpy()]
    rng = np.random.default_rng(5)
    pick = pd.concat([ok[ok["rsid"].isin(unnamed)].sample(15, random_state=1),
                      ok[~ok["rsid"].isin(unnamed)].sample(15, random_state=2)])
    bx = rng.uniform(0.05, 0.2, len(pick)) * rng.choice([-1, 1], len(pick))
    exp = pick[["chromosome", "base_pair_location", "effect_allele", "other_allele", "effect_allele_frequency",
                "rsid"]].assign(beta=bx, standard_error=0.01, p_value=1e-20, n=5000).reset_index(drop=True)
    folder = tmp_path_factory.mktemp("builds")
    exp_path = write_gwas_ssf(exp, folder / "exposure.tsv.gz", {"genome_assembly": "GRCh37"})
    return {"exposure": exp_path, "ssf37": og / "osteoporosis.tsv.gz", "finngen": og / "osteoporosis.finngen.tsv.gz",
            "chain": og / "hg19ToHg38.over.chain.gz", "known": known, "unnamed": unnamed, "picked": exp}


def test_finngen_grch38_outcome_reads_with_its_build(case):
    fg = read_sumstats(case["finngen"])
    assert fg["genome_build"].isna().all()  # FinnGen files state no build
    assert 0.1 < fg["rsid"].isna().mean() < 0.3 and fg["effect_allele"].notna().all()
    inferred = read_sumstats(case["finngen"], known_variants=case["known"])
    assert (inferred["genome_build"] == "GRCh38").all()
    assert (read_sumstats(case["ssf37"], known_variants=case["known"])["genome_build"] == "GRCh37").all()
    with pytest.raises(InputError, match="positions say otherwise"):
        read_sumstats(case["finngen"], build="GRCh37", known_variants=case["known"])
    with pytest.raises(InputError, match="GRCh37 by its metadata"):
        read_sumstats(case["ssf37"], build="hg38")
    with pytest.raises(InputError, match="unknown genome build"):
        read_sumstats(case["ssf37"], build="hg18")


def test_mr_grch37_exposure_on_grch38_outcome_is_a_build_error(case):
    with pytest.raises(InputError, match="genome builds differ") as err:
        run_mr_analysis(None, unclumped=True, exposure=case["exposure"], outcome=case["finngen"], outcome_build="GRCh38",
                        methods=["ivw"])
    assert str(case["exposure"]) in str(err.value) and str(case["finngen"]) in str(err.value)
    assert "GRCh37" in str(err.value) and "GRCh38" in str(err.value)
    # unstated: the rsids both files name sit at other positions -> refused, not joined on positions
    with pytest.raises(InputError, match="different genome builds"):
        run_mr_analysis(None, unclumped=True, exposure=case["exposure"], outcome=case["finngen"], methods=["ivw"])


def test_mr_lifted_with_the_chain_equals_mr_on_the_grch37_outcome(case):
    on37 = run_mr_analysis(None, unclumped=True, exposure=case["exposure"], outcome=case["ssf37"], methods=["ivw", "egger"])
    lifted = run_mr_analysis(None, unclumped=True, exposure=case["exposure"], outcome=case["finngen"], chain=case["chain"],
                             methods=["ivw", "egger"])
    assert on37.report["n_used"] == lifted.report["n_used"] == 30
    for method in ("ivw", "egger"):
        a, b = on37.fit(method), lifted.fit(method)
        assert b.beta == pytest.approx(a.beta, rel=1e-9) and b.standard_error == pytest.approx(a.standard_error, rel=1e-9)
    builds = lifted.report["genome_build"]
    assert builds["exposure"] == "GRCh37" and builds["outcome"] == "GRCh38" and builds["lift"] == "exposure"
    assert builds["liftover"]["lifted"] == 30 and builds["joined_on"] == "GRCh38"
    # half of the instruments have no rsid in the FinnGen file: joined on chromosome:position:alleles
    assert on37.report["genome_build"]["lift"] is None


def _ss(rows, **extra):
    cols = ["rsid", "chromosome", "base_pair_location", "effect_allele", "other_allele", "beta", "standard_error",
            "effect_allele_frequency"]
    return pd.DataFrame(rows, columns=cols).assign(**extra)


def test_harmonise_joins_row_by_row_on_rsid_or_position_and_alleles():
    exp = _ss([("rs1", "1", 100, "A", "G", 0.1, 0.01, 0.2),    # outcome row has no rsid, same alleles
               ("rs2", "1", 200, "A", "G", 0.1, 0.01, 0.2),    # outcome row has its rsid
               ("rs3", "1", 300, "A", "G", 0.1, 0.01, 0.2),    # outcome: no rsid, other strand (T/C)
               ("rs4", "1", 400, "A", "G", 0.1, 0.01, 0.2),    # outcome: a different variant at 1:400 (A/C)
               ("rs5", "1", 500, "C", "T", 0.1, 0.01, 0.3)])   # outcome: same rsid, alleles that do not match
    out = _ss([(None, "1", 100, "G", "A", 0.05, 0.02, 0.8), ("rs2", "1", 200, "A", "G", 0.05, 0.02, 0.2),
               (None, "1", 300, "T", "C", 0.05, 0.02, 0.2), (None, "1", 400, "C", "A", 9.0, 0.02, 0.2),
               ("rs5", "1", 500, "A", "C", 0.05, 0.02, 0.3)], genome_build="GRCh37")
    h = harmonise(exp.assign(genome_build="GRCh37"), out)
    assert h["snp"].tolist() == ["rs1", "rs2", "rs3", "rs4", "rs5"]
    assert h["mr_keep"].tolist() == [True, True, True, False, False]
    assert h["beta_outcome"].iloc[0] == pytest.approx(-0.05) and h["harmonise_note"].iloc[2] == "strand flipped"
    assert h["drop_reason"].iloc[3] == "absent from outcome"  # never joined on position alone
    assert h["drop_reason"].iloc[4].startswith("alleles do not match")
    # an exposure list with rsids but no positions still joins the outcome rows that have rsids
    h2 = harmonise(exp.drop(columns=["chromosome", "base_pair_location"]), out)
    assert h2["mr_keep"].tolist() == [False, True, False, False, False]
    assert h2["drop_reason"].iloc[0] == "absent from outcome"
    # different builds: refused whatever the key
    with pytest.raises(InputError, match="genome builds differ: exp is GRCh37, out is GRCh38"):
        harmonise(exp.assign(genome_build="GRCh37"), out.assign(genome_build="GRCh38"),
                  exposure_name="exp", outcome_name="out")


def test_read_chain_and_liftover_reverse_strand(tmp_path):
    p = tmp_path / "c.chain.gz"
    with gzip.open(p, "wt") as fh:
        fh.write("chain 100 chr1 249250621 + 1000 1100 chr1 248956422 - 5000 5100 1\n100\n\n"
                 "chain 50 chr2 243199373 + 0 50 chr2 242193529 + 10 60 2\n50\n\n")
    chain = read_chain(p)
    assert (chain.source_build, chain.target_build, chain.n_chains) == ("GRCh37", "GRCh38", 2)
    frame = pd.DataFrame({"chromosome": ["1", "2", "2"], "base_pair_location": [1001, 1, 70],
                          "effect_allele": ["A", "G", "G"], "other_allele": ["G", "T", "T"],
                          "genome_build": "GRCh37"})
    out, counts = liftover(frame, chain)
    assert counts == {"n": 3, "lifted": 2, "unmapped": 1, "reverse_strand": 1}
    assert out["base_pair_location"].tolist() == [248956422 - 5000, 11]
    assert out[["effect_allele", "other_allele"]].values.tolist() == [["T", "C"], ["G", "T"]]
    assert (out["genome_build"] == "GRCh38").all()
    with pytest.raises(InputError, match="is GRCh38 but"):
        liftover(out, chain)
    bad = tmp_path / "bad.chain"
    bad.write_text("chain x\n")
    with pytest.raises(InputError, match="malformed chain header"):
        read_chain(bad)


def test_mr_cli_refuses_a_build_mismatch_and_lifts_with_chain(case, tmp_path, capsys):
    from bma_genetics.cli import main

    args = ["mr", "--exposure", str(case["exposure"]), "--outcome", str(case["finngen"]), "--methods", "ivw",
            "--no-plots", "--no-clump"]
    rc = main([*args, "--outcome-build", "GRCh38", "--out", str(tmp_path / "a")])
    err = capsys.readouterr().err.strip().splitlines()
    # the error is one line (after the INFO log lines of the reads)
    assert rc == 2 and "genome builds differ" in err[-1] and "GRCh38" in err[-1], err
    # --build fills in the FinnGen file's build only (the exposure's GWAS-SSF states GRCh37)
    rc = main([*args, "--build", "GRCh38", "--out", str(tmp_path / "c")])
    assert rc == 2 and "genome builds differ" in capsys.readouterr().err.strip().splitlines()[-1]
    rc = main([*args, "--outcome-build", "GRCh38", "--chain", str(case["chain"]), "--out", str(tmp_path / "b")])
    assert rc == 0 and "exposure lifted GRCh37 -> GRCh38 (30 of 30 variants mapped)" in capsys.readouterr().out


def _inverted_chain(chain_path, out):
    """The simulated GRCh37 -> GRCh38 chain turned round (its chains are ungapped)."""
    lines = gzip.open(chain_path, "rt").read().splitlines()
    text = []
    for line in lines:
        f = line.split()
        if f and f[0] == "chain":
            f = [f[0], f[1], *f[7:12], *f[2:7], f[12]]
        text.append(" ".join(f))
    out.write_text("\n".join(text) + "\n")
    return out


def test_enrichment_refuses_grch38_statistics_with_grch37_genotypes_and_lifts_with_a_chain(case, tiny_cohort, tmp_path,
                                                                                           monkeypatch):
    import bma_genetics.resources as resources
    from bma_genetics.enrichment.api import run_gene_analysis

    windows = pd.read_json(tiny_cohort / "cohort.json", typ="series")["segments"][:3]
    genes = pd.DataFrame({"gene_id": [f"G{i}" for i in range(len(windows))],
                          "gene_name": [f"W{i}" for i in range(len(windows))],
                          "chromosome": [w["chromosome"] for w in windows],
                          "start": [w["start"] + 100_000 for w in windows],
                          "end": [w["start"] + 160_000 for w in windows]})
    geno = tiny_cohort / "genotypes" / "imputed"
    kw = dict(ld="in-sample", genotypes=geno, genes=genes, progress=False)
    with pytest.raises(InputError, match=r"\(GRCh38\) and the LD source 'in-sample' put .* different genome builds"):
        run_gene_analysis(case["finngen"], build="GRCh38", **kw)
    with pytest.raises(InputError, match=r"\(build unknown\) and the LD source 'in-sample' put"):
        run_gene_analysis(case["finngen"], **kw)
    monkeypatch.setattr(resources, "load_build_reference", lambda: case["known"])  # stands in for HapMap3
    with pytest.raises(InputError, match=r"\(GRCh38\) and the LD source 'in-sample' put"):
        run_gene_analysis(case["finngen"], build="infer", **kw)
    back = _inverted_chain(case["chain"], tmp_path / "hg38ToHg19.over.chain")
    lifted = run_gene_analysis(case["finngen"], build="GRCh38", chain=back, **kw)
    on37 = run_gene_analysis(case["ssf37"], **kw)
    assert lifted.report["genome_build"]["build"] == "GRCh37" and lifted.report["genome_build"]["liftover"]["unmapped"] == 0
    a, b = on37.genes.set_index("gene_name"), lifted.genes.set_index("gene_name")
    assert len(a) == 3 and (a["nsnps"] == b["nsnps"]).all()
    np.testing.assert_allclose(b["p_value"], a["p_value"], rtol=1e-9)


def test_meta_analysis_refuses_studies_on_different_builds():
    from bma_genetics.gwas import meta_analyse

    a = pd.DataFrame({"chromosome": ["1"], "base_pair_location": [100], "effect_allele": ["A"], "other_allele": ["G"],
                      "beta": [0.2], "standard_error": [0.1], "genome_build": "GRCh37"})
    with pytest.raises(InputError, match="genome builds differ: females is GRCh37, males is GRCh38"):
        meta_analyse([a, a.assign(genome_build="GRCh38")], names=["females", "males"])
    assert meta_analyse([a, a], names=["females", "males"])["beta"].iloc[0] == pytest.approx(0.2)


def test_mr_stage_records_a_build_error_per_pair_and_lifts_with_the_chain(case, tiny_cohort, tmp_path):
    import json

    from bma_genetics.mr.stage import run
    from bma_genetics.pipeline.context import RunContext

    run_dir = tmp_path / "run"
    (run_dir / "gwas").mkdir(parents=True)
    (run_dir / "gwas" / "summary.json").write_text(json.dumps({"sumstats": {"bmff_femoral_head": str(case["exposure"])}}))
    ctx = RunContext(run_dir=run_dir, cohort=tiny_cohort, config={}, seed=1)
    params = {"outcome": "outcome_gwas/osteoporosis.finngen.tsv.gz", "outcome_build": "GRCh38", "ld": None,
              "unclumped": True, "methods": ["ivw"], "nboot": 10}
    pair = run(ctx, params)["pairs"]["bmff_femoral_head"]
    assert pair["status"].startswith("not estimated: run_mr_analysis/build: genome builds differ"), pair
    pair = run(ctx, {**params, "chain": "outcome_gwas/hg19ToHg38.over.chain.gz"})["pairs"]["bmff_femoral_head"]
    assert pair["status"] == "ok" and pair["n_used"] == 30
    assert pair["genome_build"]["lift"] == "exposure" and pair["genome_build"]["liftover"]["unmapped"] == 0


def test_gwas_ssf_written_from_a_table_keeps_its_build(case, tmp_path):
    from bma_genetics.io import read_gwas_ssf_metadata

    fg = read_sumstats(case["finngen"], build="GRCh38", keep_extra=False)
    path = write_gwas_ssf(fg.drop(columns=["n", "n_cases", "n_controls", "info"]), tmp_path / "fg.tsv.gz")
    assert read_gwas_ssf_metadata(path)["genome_assembly"] == "GRCh38"
    assert "genome_build" not in gzip.open(path, "rt").readline().split("\t")
    assert (read_sumstats(path)["genome_build"] == "GRCh38").all()
    with pytest.raises(InputError, match="genome_assembly GRCh37 contradicts the table's genome_build GRCh38"):
        write_gwas_ssf(fg, tmp_path / "x.tsv.gz", {"genome_assembly": "GRCh37"})


def test_outcome_build_infer_uses_the_known_positions(case, monkeypatch):
    import bma_genetics.resources as resources

    # the HapMap3 reference stands in for real files; the simulated variants' own positions here
    monkeypatch.setattr(resources, "load_build_reference", lambda: case["known"])
    with pytest.raises(InputError, match="genome builds differ: .* is GRCh37, .* is GRCh38"):
        run_mr_analysis(None, unclumped=True, exposure=case["exposure"], outcome=case["finngen"], outcome_build="infer",
                        methods=["ivw"])
    res = run_mr_analysis(None, unclumped=True, exposure=case["exposure"], outcome=case["finngen"], outcome_build="infer",
                          chain=case["chain"], methods=["ivw"])
    assert res.report["genome_build"]["outcome"] == "GRCh38" and res.report["n_used"] == 30


def test_unstated_builds_without_shared_rsids_are_a_logged_warning(caplog):
    exp = _ss([("rs1", "1", 100, "A", "G", 0.1, 0.01, 0.2)])
    out = _ss([(None, "1", 100, "A", "G", 0.05, 0.02, 0.2)])
    with caplog.at_level("WARNING", logger="bma_genetics.mr.harmonise"):
        h = harmonise(exp, out, exposure_name="exp", outcome_name="out")
    assert h["mr_keep"].all()
    assert "genome build of exp and out is not stated" in caplog.text and "assume one build" in caplog.text


def test_match_chromosome_names_plinks_numeric_codes():
    """PLINK's codes (.bim files, plink2 --glm) against the letters summary statistics use: 23 X,
    24 Y, 25 / XY (pseudo-autosomal X, which summary statistics call X) X, 26 / M MT; any ``chr``
    prefix, space or case; a missing code stays 'nan' (as astype(str) writes it)."""
    from bma_genetics.io.builds import match_chromosome

    got = match_chromosome(pd.Series(["chr1", "23", "24", "25", "XY", "X", 7, "26", "chrM", " chrx", "MT", np.nan],
                                     index=range(10, 22)))
    assert got.tolist() == ["1", "X", "Y", "X", "X", "X", "7", "MT", "MT", "X", "MT", "nan"]
    assert got.index.tolist() == list(range(10, 22))
    assert match_chromosome(pd.Series(["24", "Y"], dtype="category")).tolist() == ["Y", "Y"]

"""Reference data: every resource loads with its expected size, columns and known content.

The cache is the one ``make test`` fills (``bma-genetics reference fetch``); a resource that is
absent is fetched here (a no-op when cached). User-file loaders and error paths run on tiny
files written by the tests, in a temporary cache.
"""

from __future__ import annotations

import gzip
import json

import pandas as pd
import pytest

from bma_genetics import resources as R
from bma_genetics.errors import InputError, MissingResourceError

BMA_GENES_GRCH37 = {
    # gene: (chromosome, start, end) in GENCODE v19 (GRCh37), checked against the UCSC browser
    "ESR1": ("6", 151977826, 152450754),
    "CCDC170": ("6", 151815165, 151942328),
    "CYP19A1": ("15", 51500254, 51630807),
    "PPARG": ("3", 12328867, 12475855),
    "LEPR": ("1", 65886248, 66107242),
    "WNT16": ("7", 120965421, 120981158),
    "TNFRSF11B": ("8", 119935796, 119964439),
    "HK1": ("10", 71029740, 71161638),
    "CCDC91": ("12", 28286182, 28732883),
    "FLT3": ("13", 28577411, 28674729),
}


@pytest.fixture(scope="module")
def fetched():
    """Fetch on demand (instant when ``make test`` already filled the cache)."""

    def get(name: str) -> None:
        try:
            R.fetch([name])
        except MissingResourceError as exc:  # no registry / no apt here
            pytest.skip(f"cannot fetch {name}: {exc}")

    return get


# ----------------------------------------------------------------------------- genes
def test_genes_grch37_size_columns_and_known_positions(fetched):
    fetched("genes_grch37")
    genes = R.load_genes("GRCh37")
    assert len(genes) == 57_820  # GENCODE v19
    assert list(genes.columns) == ["gene_id", "gene_name", "chromosome", "start", "end", "strand", "gene_type"]
    assert genes["gene_id"].is_unique
    assert genes["start"].dtype == "int64" and genes["end"].dtype == "int64"
    assert (genes["end"] >= genes["start"]).all()
    assert not genes["chromosome"].str.startswith("chr").any()
    assert set(genes["strand"]) == {"+", "-"}
    for name, (chrom, start, end) in BMA_GENES_GRCH37.items():
        row = genes[genes["gene_name"] == name]
        assert len(row) == 1, name
        assert tuple(row[["chromosome", "start", "end"]].iloc[0]) == (chrom, start, end), name
    coding = R.load_genes("GRCh37", protein_coding_only=True)
    assert 19_000 < len(coding) < 21_000 and set(coding["gene_type"]) == {"protein_coding"}


def test_genes_grch38_differs_by_liftover(fetched):
    fetched("genes_grch38")
    g38 = R.load_genes("GRCh38")
    assert len(g38) == 62_703
    esr1 = g38[g38["gene_name"] == "ESR1"].iloc[0]
    # ESR1 moved by ~321 kb between GRCh37 and GRCh38
    assert esr1["chromosome"] == "6" and esr1["start"] == 151_656_691


def test_genes_from_user_gtf(tmp_path):
    gtf = tmp_path / "mini.gtf.gz"
    lines = [
        "##description: tiny",
        'chr6\tHAVANA\tgene\t151977826\t152450754\t.\t+\t.\tgene_id "ENSG00000091831.17"; gene_type "protein_coding"; gene_name "ESR1";',
        'chr6\tHAVANA\ttranscript\t151977826\t152450754\t.\t+\t.\tgene_id "ENSG00000091831.17"; transcript_id "X";',
        '1\tensembl\tgene\t100\t200\t.\t-\t.\tgene_id "ENSG1"; gene_biotype "lincRNA"; gene_name "FOO";',
    ]
    with gzip.open(gtf, "wt") as fh:
        fh.write("\n".join(lines) + "\n")
    genes = R.load_genes(path=gtf)
    assert genes.to_dict("records") == [
        {"gene_id": "ENSG1", "gene_name": "FOO", "chromosome": "1", "start": 100, "end": 200, "strand": "-", "gene_type": "lincRNA"},
        {"gene_id": "ENSG00000091831", "gene_name": "ESR1", "chromosome": "6", "start": 151977826, "end": 152450754, "strand": "+", "gene_type": "protein_coding"},
    ]
    assert len(R.load_genes(path=gtf, protein_coding_only=True)) == 1


def test_genes_user_table_and_bad_input(tmp_path):
    table = tmp_path / "genes.tsv"
    table.write_text("gene_id\tgene_name\tchromosome\tstart\tend\tstrand\tgene_type\nG1\tA\tchrX\t5\t9\t+\tprotein_coding\n")
    assert R.load_genes(path=table).iloc[0]["chromosome"] == "X"
    bad = tmp_path / "bad.tsv"
    bad.write_text("gene\tchrom\nA\t1\n")
    with pytest.raises(InputError, match=r"load_genes/path: .*bad.tsv lacks column"):
        R.load_genes(path=bad)
    with pytest.raises(InputError, match="load_genes/path: file .* does not exist"):
        R.load_genes(path=tmp_path / "nope.gtf")
    with pytest.raises(InputError, match="load_genes/build"):
        R.load_genes("hg19")
    notgtf = tmp_path / "x.gtf"
    notgtf.write_text("a\tb\n")
    with pytest.raises(InputError, match="not a GTF"):
        R.load_genes(path=notgtf)


# ----------------------------------------------------------------------------- phecodes
def test_phecode_x_map(fetched):
    fetched("phecode_x")
    m = R.load_phecode_map("X")
    assert len(m) == 20_255 and m["icd10"].nunique() == 8_560 and m["phecode"].nunique() == 2_872
    assert list(m.columns) == ["icd10", "phecode", "phecode_string", "category", "sex", "leaf", "parent"]
    assert set(m["sex"]) == {"Both", "Female", "Male"}
    assert not m["icd10"].str.contains(r"\.").any()
    m810 = m[m["icd10"] == "M810"].set_index("phecode")
    assert set(m810.index) == {"MS_726", "MS_726.1"}
    assert m810.loc["MS_726.1", "phecode_string"] == "Osteoporosis"
    assert bool(m810.loc["MS_726.1", "leaf"]) and not bool(m810.loc["MS_726", "leaf"])
    assert m810.loc["MS_726.1", "parent"] == "MS_726"
    # a sex-restricted phecode keeps its restriction (C61 -> prostate cancer, Male only),
    # while C61 also rolls into the sex-neutral solid-tumour phecode (a second leaf)
    c61 = m[m["icd10"] == "C61"].set_index("phecode")
    assert c61.loc["CA_107.2", "sex"] == "Male" and c61.loc["CA_130", "sex"] == "Both"
    assert set(c61.index[c61["leaf"]]) == {"CA_107.2", "CA_130"}
    # every ICD-10 code has at least one leaf
    assert m.groupby("icd10")["leaf"].any().all()


def test_phecode_12_map_and_exclusions(fetched):
    fetched("phecode_12")
    m = R.load_phecode_map("1.2")
    assert len(m) == 9_393
    assert {"icd10", "phecode", "phecode_string", "category", "sex", "exclude_range", "leaf", "parent"} <= set(m.columns)
    m810 = m[m["icd10"] == "M810"].iloc[0]
    assert m810["phecode"] == "743.11" and "osteoporosis" in m810["phecode_string"].lower()
    assert m810["parent"] == "743.1" and m810["exclude_range"] == "743-744.99"
    assert m810["map_source"] == "phetk_phecode12_icd10cm"  # unmapped in the WHO beta map
    t2d = m[m["icd10"] == "E119"].iloc[0]
    assert t2d["phecode"] == "250.2" and t2d["map_source"] == "pyPheWAS_icd10_who_beta"
    assert set(m["sex"]) == {"Both", "Female", "Male"}
    assert (m["map_source"] == "phetk_phecode12_icd10cm").sum() < 100  # a small completion

    ex = R.load_phecode_exclusions("1.2")
    assert list(ex.columns) == ["phecode", "excluded_phecode"]
    excl = set(ex.loc[ex["phecode"] == "743.11", "excluded_phecode"])
    universe = set(m["phecode"])
    # brute force over the map's phecodes: the range 743-744.99, itself included
    expected = {c for c in universe if 743 <= float(c) <= 744.99}
    assert excl == expected and "743.11" in excl and "250.2" not in excl
    with pytest.raises(InputError, match="load_phecode_exclusions/version"):
        R.load_phecode_exclusions("X")


def test_phecode_user_files(tmp_path):
    who12 = tmp_path / "phecode_map_v1_2_icd10_beta.csv"
    who12.write_text(
        "ICD10,ICD10 String,PheCode,Phenotype,Excl. Phecodes,Excl. Phenotypes,sex,pregnancy_related,category,category_string\n"
        "M81.9,\"Osteoporosis, unspecified\",743.11,Osteoporosis NOS,743-744.99,x,Both,0,14,musculoskeletal\n"
        "M80.0,Postmenopausal osteoporosis with fracture,743.1,Osteoporosis,743-744.99,x,,0,14,musculoskeletal\n"
        "N40,Hyperplasia of prostate,600,Hyperplasia of prostate,600-600.99,x,Male,0,10,genitourinary\n"
        "R69,Unknown,,,,,,,,\n"
    )
    m = R.load_phecode_map("1.2", path=who12)
    assert list(m["icd10"]) == ["M800", "M819", "N40"]  # R69 has no phecode and no completion
    assert list(m["sex"]) == ["Both", "Both", "Male"]
    assert m["parent"].tolist()[:2] == ["743", "743.1"] and pd.isna(m["parent"].iloc[2])
    ex = R.load_phecode_exclusions(path=who12)
    assert set(ex.loc[ex["phecode"] == "743.11", "excluded_phecode"]) == {"743.1", "743.11"}
    assert set(ex.loc[ex["phecode"] == "600", "excluded_phecode"]) == {"600"}

    x = tmp_path / "phecodeX_WHO.csv"
    x.write_text(
        "phecode,ICD,flag,phecode_string,phecode_category,sex,icd10_only,code_val\n"
        "MS_726,M81.0,10,Osteoporosis and low bone density,Muscloskeletal,Both,0,726\n"
        "MS_726.1,M81.0,10,Osteoporosis,Muscloskeletal,Both,0,726.1\n"
    )
    mx = R.load_phecode_map("X", path=x)
    assert mx.loc[mx["leaf"], "phecode"].tolist() == ["MS_726.1"]
    bad = tmp_path / "bad.csv"
    bad.write_text("code,phe\nA,1\n")
    with pytest.raises(InputError, match="load_phecode_map/path: .*bad.csv lacks column"):
        R.load_phecode_map("1.2", path=bad)


def test_phecode_parent_rule():
    assert R.phecode_parent("743.11") == "743.1"
    assert R.phecode_parent("743.1") == "743"
    assert R.phecode_parent("743") is None
    assert R.phecode_parent("MS_726.1") == "MS_726"


# ----------------------------------------------------------------------------- cache
def test_missing_resource_error_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("BMA_GENETICS_CACHE", str(tmp_path / "empty"))
    assert R.cache_dir() == tmp_path / "empty"
    with pytest.raises(MissingResourceError, match=r"bma-genetics reference fetch genes_grch37.*path="):
        R.load_genes()
    with pytest.raises(MissingResourceError, match=r"reference fetch phecode_12"):
        R.load_phecode_map("1.2")
    with pytest.raises(MissingResourceError, match=r"reference fetch go_bp.*apt-get.*GMT"):
        R.load_gene_sets()
    with pytest.raises(MissingResourceError, match=r"reference fetch ld_panel_eur.*PLINK"):
        R.load_ld_panel()
    with pytest.raises(MissingResourceError, match=r"reference fetch hapmap3"):
        R.load_hapmap3()
    listing = R.list_resources()
    assert not listing["cached"].any() and len(listing) == 7
    with pytest.raises(InputError, match=r"fetch/names: unknown resource\(s\) \['nope'\]"):
        R.fetch(["nope"])


def test_manifest_records_provenance_and_detects_corruption(fetched, tmp_path, monkeypatch):
    fetched("phecode_x")
    src = R.cache_dir()
    rec = R.manifest()["resources"]["phecode_x"]
    assert rec["rows"] == 20_255 and rec["licence"] == "GPL-3.0"
    (source,) = rec["sources"]
    assert source["package"] == "phetk" and source["version"] == "0.3.6"
    assert source["members"]["phetk/phecode/phecodeX_WHO.csv"] == (
        "4eb4fb97f1c19eb1e4e0276b3bc48834ba6422b3eb3e9402c71885fba5b5b78f"
    )
    assert len(rec["files"]["phecode_x_who.parquet"]["sha256"]) == 64 and rec["fetched"]
    # a copy of the cache with one byte changed must be refused on load
    copy = tmp_path / "cache"
    (copy / "phecode_x").mkdir(parents=True)
    data = bytearray((src / "phecode_x" / "phecode_x_who.parquet").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (copy / "phecode_x" / "phecode_x_who.parquet").write_bytes(bytes(data))
    (copy / "manifest.json").write_text(json.dumps({"schema_version": 1, "resources": {"phecode_x": rec}}))
    monkeypatch.setenv("BMA_GENETICS_CACHE", str(copy))
    with pytest.raises(MissingResourceError, match="does not match its recorded sha256.*--force"):
        R.load_phecode_map("X")

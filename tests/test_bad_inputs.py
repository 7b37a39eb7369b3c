"""A corpus of bad inputs across every command (issue 14).

Each case builds one corrupted input from a clean one (the tiny cohort's files, copied once per
module) inside its own ``tmp_path``, runs the command in-process through
:func:`bma_genetics.cli.main` and asserts:

- exit code 2;
- exactly one ``error:`` line on stderr, no traceback, no Java stack, naming the culprit (the
  file, the column, the value: every substring in ``culprit``);
- nothing written: ``tmp_path`` holds only the inputs afterwards (for ``run``, the run
  directory holds only its ``config.yaml``, ``run.log`` and ``logs/``, no stage product).

Most cases fail before Hail or torch start; the few that need Hail share the session's JVM.
README's section "What the tool checks and what it refuses" lists the same checks.
"""

from __future__ import annotations

import gzip
import shutil
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest

from bma_genetics.cli import main

#: Tables and files the clean input set holds (name in the input folder -> path in the tiny cohort).
COHORT_FILES = {
    "showcase.csv": "participants/ukb_showcase.csv",
    "showcase.dta": "participants/ukb_showcase.dta",
    "rap.csv": "participants/ukb_rap.csv",
    "withdrawals.csv": "participants/withdrawals.csv",
    "ukb_rel.dat": "genotypes/ukb_rel.dat",
    "bmff.parquet": "participants/bmff_idp.parquet",
    "outcome.tsv.gz": "outcome_gwas/osteoporosis.tsv.gz",
    "outcome.tsv.gz-meta.yaml": "outcome_gwas/osteoporosis.tsv.gz-meta.yaml",
    "geno.bed": "genotypes/array/ukb22418_c1_b0_v2.bed",
    "geno.bim": "genotypes/array/ukb22418_c1_b0_v2.bim",
    "geno.fam": "genotypes/array/ukb22418_c1_b0_v2.fam",
    "imp.bgen": "genotypes/imputed/ukb22828_c1_b0_v3.bgen",
    "imp.sample": "genotypes/imputed/ukb22828_c1_b0_v3.sample",
    "eqtl.smr.txt.gz": "eqtl/eqtl.smr.txt.gz",
}


@pytest.fixture(scope="module")
def clean(tiny_cohort, tmp_path_factory) -> Path:
    """The clean inputs every case starts from (one copy per module)."""
    from bma_genetics.io import read_participant_table
    from bma_genetics.io.participants import run_participants

    d = tmp_path_factory.mktemp("clean_inputs")
    for name, rel in COHORT_FILES.items():
        shutil.copy(tiny_cohort / rel, d / name)
    res = run_participants(d / "showcase.csv", withdrawals=d / "withdrawals.csv", progress=False)
    res.participants.to_parquet(d / "participants.parquet", index=False)
    res.diagnoses.to_parquet(d / "diagnoses.parquet", index=False)
    people = read_participant_table(d / "participants.parquet")
    bmff = pd.read_parquet(d / "bmff.parquet")
    ph = people[["eid"]].merge(bmff[["eid", "bmff_femoral_head", "bmff_spine"]], on="eid")
    ph.insert(0, "FID", ph["eid"])
    ph.rename(columns={"eid": "IID"}).to_csv(d / "pheno.tsv", sep="\t", index=False, na_rep="NA")
    cv = people[["eid", "age", "sex", "pc1", "pc2"]].copy()
    cv.insert(0, "FID", cv["eid"])
    cv.rename(columns={"eid": "IID"}).to_csv(d / "covar.tsv", sep="\t", index=False, na_rep="NA")
    people.to_csv(d / "participants.tsv", sep="\t", index=False)
    res.diagnoses.to_csv(d / "diagnoses.tsv", sep="\t", index=False)
    with gzip.open(d / "eqtl.smr.txt.gz", "rt") as fh:  # the simulated eQTL, as plain text
        (d / "eqtl.txt").write_text("".join(fh.readlines()[:200]))
    (d / "sets.gmt").write_text("SET_A\tna\tGENE1\tGENE2\tGENE3\nSET_B\tna\tGENE4\tGENE5\tGENE6\n")
    ss = pd.read_csv(d / "outcome.tsv.gz", sep="\t")
    ss.to_csv(d / "exposure.tsv", sep="\t", index=False, na_rep="NA")
    h = pd.DataFrame({"SNP": ["rs1", "rs2", "rs3", "rs4"], "beta.exposure": [0.1, 0.2, 0.15, 0.12],
                      "se.exposure": [0.01, 0.02, 0.015, 0.01], "beta.outcome": [0.05, 0.1, 0.07, 0.06],
                      "se.outcome": [0.02, 0.03, 0.02, 0.02], "effect_allele.exposure": list("AAAA"),
                      "other_allele.exposure": list("GGGG"), "effect_allele.outcome": list("AAAA"),
                      "other_allele.outcome": list("GGGG"), "mr_keep": [True] * 4})
    h.to_csv(d / "harmonised.tsv", sep="\t", index=False)
    (d / "study.yaml").write_text(
        "name: corpus\nseed: 1\nstages:\n  participants: {}\n")
    cohort = d / "cohort"
    (cohort / "participants").mkdir(parents=True)
    for rel in ("participants/ukb_showcase.csv", "participants/withdrawals.csv", "cohort.json"):
        shutil.copy(tiny_cohort / rel, cohort / rel)
    return d


class Inputs:
    """One case's input folder: every clean file linked in; a corruption replaces a link by a file."""

    def __init__(self, clean: Path, root: Path):
        self.root = root
        self.d = root / "in"
        shutil.copytree(clean, self.d, symlinks=False, copy_function=_link)
        self.out = root / "out"

    def __getitem__(self, name: str) -> str:
        return str(self.d / name)

    def write(self, name: str, data: str | bytes) -> str:
        p = self.d / name
        if p.is_symlink():
            p.unlink()
        p.write_bytes(data.encode() if isinstance(data, str) else data)
        return str(p)

    def text(self, name: str, fn: Callable[[str], str], *, encoding: str = "utf-8") -> str:
        return self.write(name, fn((self.d / name).read_text()).encode(encoding))

    def lines(self, name: str, fn: Callable[[list[str]], list[str]]) -> str:
        return self.text(name, lambda t: "\n".join(fn(t.splitlines())) + "\n")

    def cell(self, name: str, row: int, column: str, value: str, *, sep: str = ",") -> str:
        """Set one cell of a delimited text file (row 0 = first data row)."""

        def edit(lines: list[str]) -> list[str]:
            header = lines[0].split(sep)
            fields = lines[row + 1].split(sep)
            fields[header.index(column)] = value
            lines[row + 1] = sep.join(fields)
            return lines

        return self.lines(name, edit)

    def frame(self, name: str, fn: Callable[[pd.DataFrame], pd.DataFrame]) -> str:
        p = self.d / name
        t = fn(pd.read_parquet(p))
        p.unlink()
        t.to_parquet(p, index=False)
        return str(p)

    def truncate(self, name: str, keep: float = 0.5) -> str:
        data = (self.d / name).read_bytes()
        return self.write(name, data[: int(len(data) * keep)])

    def gzip(self, name: str, new: str, keep: float = 1.0) -> str:
        data = gzip.compress((self.d / name).read_bytes(), mtime=0)
        return self.write(new, data[: int(len(data) * keep)])

    def bytes_at(self, name: str, offset: int, data: bytes) -> str:
        raw = bytearray((self.d / name).read_bytes())
        raw[offset: offset + len(data)] = data
        return self.write(name, bytes(raw))


def _link(src: str, dst: str) -> None:
    Path(dst).symlink_to(Path(src).resolve())


@dataclass
class Case:
    id: str
    argv: Callable[[Inputs], list[str]]
    culprit: tuple[str, ...]
    corrupt: Callable[[Inputs], object] = lambda i: None
    engine: str = "none"  # "hail" or "torch" when the command starts one before failing
    run_dir: bool = False  # `run`: the run directory may keep config.yaml, run.log and logs/
    keep: frozenset[str] = frozenset()  # names the output folder may keep (a Hail failure: logs/)
    marks: list = field(default_factory=list)


def participants(i: Inputs, data: str = "showcase.csv", *extra: str) -> list[str]:
    return ["ukb", "participants", "--data", i[data], "--out", str(i.out / "p.parquet"),
            "--withdrawals", i["withdrawals.csv"], *extra]


def diagnoses(i: Inputs, data: str = "showcase.csv", *extra: str) -> list[str]:
    return ["ukb", "diagnoses", "--data", i[data], "--out", str(i.out / "d.parquet"), *extra]


def phewas(i: Inputs, *extra: str, p: str = "participants.parquet", dx: str = "diagnoses.parquet",
           exposure: str = "bmff_femoral_head") -> list[str]:
    return ["phewas", "--participants", i[p], "--diagnoses", i[dx], "--bmff", i["bmff.parquet"],
            "--exposure", exposure, "--out", str(i.out), "--no-plots", *extra]


def gwas(i: Inputs, *extra: str, pheno: str = "pheno.tsv", covar: str = "covar.tsv",
         geno: tuple[str, ...] | None = None) -> list[str]:
    geno = geno if geno is not None else ("--bfile", str(i.d / "geno"))
    return ["gwas", *geno, "--pheno", i[pheno], "--covar", i[covar], "--out", str(i.out),
            "--no-plots", "--master", "local[1]", *extra]


def bgen(i: Inputs) -> tuple[str, ...]:
    return ("--bgen", i["imp.bgen"], "--sample", i["imp.sample"])


def enrich(i: Inputs, *extra: str, sumstats: str = "outcome.tsv.gz") -> list[str]:
    return ["enrich", "--sumstats", i[sumstats], "--out", str(i.out), "--gene-sets", "none", *extra]


def mr(i: Inputs, *extra: str, exposure: str = "exposure.tsv", outcome: str = "outcome.tsv.gz") -> list[str]:
    clump = [] if "--ld" in extra else ["--no-clump"]
    return ["mr", "--exposure", i[exposure], "--outcome", i[outcome], "--out", str(i.out), "--no-plots", *clump,
            *extra]


def mr_h(i: Inputs, *extra: str) -> list[str]:
    return ["mr", "--harmonised", i["harmonised.tsv"], "--out", str(i.out), "--no-plots", *extra]


def run(i: Inputs, *extra: str, config: str = "study.yaml") -> list[str]:
    return ["run", i[config], "--cohort", str(i.d / "cohort"), "--out", str(i.out), *extra]


def _bgen_header(i: Inputs) -> tuple[int, int, int, int]:
    with open(i["imp.bgen"], "rb") as fh:
        return struct.unpack("<IIII", fh.read(16))


def _first_variant_block(i: Inputs) -> int:
    """Byte offset of the first variant's genotype block in imp.bgen."""
    with open(i["imp.bgen"], "rb") as fh:
        offset = struct.unpack("<I", fh.read(4))[0]
        fh.seek(offset + 4)
        for _ in range(3):
            (n,) = struct.unpack("<H", fh.read(2))
            fh.seek(n, 1)
        _pos, k = struct.unpack("<IH", fh.read(6))
        for _ in range(k):
            (n,) = struct.unpack("<I", fh.read(4))
            fh.seek(n, 1)
        return fh.tell()


S = "showcase.csv"
CASES: list[Case] = [
    # ---- ukb participants: the export, withdrawals, kinship, phenotype table ----
    Case("participants-missing-file", lambda i: participants(i, "nothere.csv"), ("nothere.csv",)),
    Case("participants-empty-file", lambda i: participants(i, "empty.csv"), ("empty.csv", "empty"),
         lambda i: i.write("empty.csv", "")),
    Case("participants-header-only", lambda i: participants(i), (S, "no rows"),
         lambda i: i.lines(S, lambda ls: ls[:1])),
    Case("participants-binary-garbage", lambda i: participants(i, "junk.csv"), ("junk.csv",),
         lambda i: i.write("junk.csv", bytes(range(256)) * 40)),
    Case("participants-utf16", lambda i: participants(i, "u16.csv"), ("u16.csv", "UTF-16"),
         lambda i: i.write("u16.csv", (i.d / S).read_text().encode("utf-16"))),
    Case("participants-semicolon", lambda i: participants(i), (S, "delimiter"),
         lambda i: i.text(S, lambda t: t.replace(",", ";"))),
    Case("participants-ragged-row", lambda i: participants(i), (S, "line 5"),
         lambda i: i.lines(S, lambda ls: ls[:4] + [ls[4] + ",1,2,3"] + ls[5:])),
    Case("participants-duplicate-eid-conflict", lambda i: participants(i), (S, "eid", "1004164"),
         lambda i: i.lines(S, lambda ls: ls + [ls[1].replace(",60,", ",61,", 1)])),
    Case("participants-eid-text", lambda i: participants(i), (S, "eid", "abc"),
         lambda i: i.cell(S, 3, "eid", "abc")),
    Case("participants-eid-missing", lambda i: participants(i), (S, "eid"),
         lambda i: i.cell(S, 3, "eid", "")),
    Case("participants-age-text", lambda i: participants(i), (S, "21003-2.0", "sixty"),
         lambda i: i.cell(S, 2, "21003-2.0", "sixty")),
    Case("participants-age-implausible", lambda i: participants(i), (S, "21003-2.0", "250"),
         lambda i: i.cell(S, 2, "21003-2.0", "250")),
    Case("participants-age-negative", lambda i: participants(i), (S, "21003-2.0", "-3"),
         lambda i: i.cell(S, 2, "21003-2.0", "-3")),
    Case("participants-sex-code", lambda i: participants(i), (S, "31-0.0", "7"),
         lambda i: i.cell(S, 2, "31-0.0", "7")),
    Case("participants-bmi-negative", lambda i: participants(i), (S, "21001-2.0", "-22"),
         lambda i: i.cell(S, 2, "21001-2.0", "-22")),
    Case("participants-height-text", lambda i: participants(i), (S, "50-2.0", "tall"),
         lambda i: i.cell(S, 2, "50-2.0", "tall")),
    Case("participants-date-invalid", lambda i: participants(i), (S, "53-2.0", "2019-13-45"),
         lambda i: i.cell(S, 2, "53-2.0", "2019-13-45")),
    Case("participants-date-implausible", lambda i: participants(i), (S, "53-2.0", "1066-10-14"),
         lambda i: i.cell(S, 2, "53-2.0", "1066-10-14")),
    Case("participants-year-of-birth-implausible", lambda i: participants(i), (S, "34-0.0", "2150"),
         lambda i: i.cell(S, 2, "34-0.0", "2150")),
    Case("participants-no-sex-column", lambda i: participants(i), (S, "31"),
         lambda i: i.text(S, lambda t: t.replace("eid,31-0.0,", "eid,9999-0.0,", 1))),
    Case("participants-gzip-truncated", lambda i: participants(i, "showcase.csv.gz"), ("showcase.csv.gz",),
         lambda i: i.gzip(S, "showcase.csv.gz", keep=0.5)),
    Case("participants-stata-truncated", lambda i: participants(i, "showcase.dta"), ("showcase.dta",),
         lambda i: i.truncate("showcase.dta", 0.6)),
    Case("participants-parquet-truncated", lambda i: participants(i, "export.parquet"), ("export.parquet",),
         lambda i: i.write("export.parquet", _parquet_bytes(i)[:-100])),
    Case("participants-unknown-format", lambda i: participants(i, "export.xlsx"), ("export.xlsx",),
         lambda i: i.write("export.xlsx", "PK\x03\x04")),
    Case("participants-withdrawals-text", lambda i: participants(i), ("withdrawals.csv", "Jane"),
         lambda i: i.lines("withdrawals.csv", lambda ls: ls + ["Jane Doe"])),
    Case("participants-withdrawals-missing", lambda i: participants(i, S, "--withdrawals", i["w_none.csv"]),
         ("w_none.csv",)),
    Case("participants-kinship-columns", lambda i: participants(i, S, "--kinship", i["ukb_rel.dat"]),
         ("ukb_rel.dat", "Kinship"), lambda i: i.text("ukb_rel.dat", lambda t: t.replace("Kinship", "Kin"))),
    Case("participants-kinship-text", lambda i: participants(i, S, "--kinship", i["ukb_rel.dat"]),
         ("ukb_rel.dat", "Kinship", "high"),
         lambda i: i.lines("ukb_rel.dat", lambda ls: ls[:2] + [" ".join(ls[2].split()[:4] + ["high"])] + ls[3:])),
    Case("participants-kinship-range", lambda i: participants(i, S, "--kinship", i["ukb_rel.dat"]),
         ("ukb_rel.dat", "Kinship", "1.7"),
         lambda i: i.lines("ukb_rel.dat", lambda ls: ls[:2] + [" ".join(ls[2].split()[:4] + ["1.7"])] + ls[3:])),
    Case("participants-phenotype-no-eid", lambda i: participants(i, S, "--phenotype", i["ph.tsv"]),
         ("ph.tsv", "eid"), lambda i: i.write("ph.tsv", "id\tbmff\n1\t0.5\n")),
    Case("participants-n-pcs-too-many", lambda i: participants(i, S, "--n-pcs", "60"), ("n_pcs", "60")),
    Case("participants-instance", lambda i: participants(i, S, "--instance", "9"), ("instance", "9")),
    Case("participants-ancestry-field", lambda i: participants(i, S, "--ancestry", "bogus"), ("ancestry", "bogus")),
    # ---- ukb diagnoses ----
    Case("diagnoses-missing-file", lambda i: diagnoses(i, "nothere.csv"), ("nothere.csv",)),
    Case("diagnoses-code-invalid", lambda i: diagnoses(i), (S, "41270-0.0", "M8!0"),
         lambda i: i.cell(S, 0, "41270-0.0", "M8!0")),
    Case("diagnoses-date-invalid", lambda i: diagnoses(i), (S, "41280-0.0", "yesterday"),
         lambda i: i.cell(S, 0, "41280-0.0", "yesterday")),
    Case("diagnoses-date-implausible", lambda i: diagnoses(i), (S, "41280-0.0", "2999-01-01"),
         lambda i: i.cell(S, 0, "41280-0.0", "2999-01-01")),
    Case("diagnoses-gzip-truncated", lambda i: diagnoses(i, "showcase.csv.gz"), ("showcase.csv.gz",),
         lambda i: i.gzip(S, "showcase.csv.gz", keep=0.4)),
    # ---- phewas ----
    Case("phewas-participants-missing", lambda i: phewas(i, p="nothere.parquet"), ("nothere.parquet",)),
    Case("phewas-participants-truncated", lambda i: phewas(i), ("participants.parquet",),
         lambda i: i.truncate("participants.parquet", 0.7)),
    Case("phewas-participants-no-eid", lambda i: phewas(i), ("participants.parquet", "eid"),
         lambda i: i.frame("participants.parquet", lambda t: t.rename(columns={"eid": "id"}))),
    Case("phewas-participants-duplicate-eid", lambda i: phewas(i), ("participants.parquet", "eid"),
         lambda i: i.frame("participants.parquet",
                           lambda t: pd.concat([t, t.iloc[[0]].assign(age=t["age"].iloc[0] + 5)]))),
    Case("phewas-participants-age-text-tsv", lambda i: phewas(i, p="participants.tsv"),
         ("participants.tsv", "age", "old"), lambda i: i.cell("participants.tsv", 4, "age", "old", sep="\t")),
    Case("phewas-participants-age-implausible", lambda i: phewas(i, p="participants.tsv"),
         ("participants.tsv", "age", "400"), lambda i: i.cell("participants.tsv", 4, "age", "400", sep="\t")),
    Case("phewas-participants-sex-code", lambda i: phewas(i, p="participants.tsv"),
         ("participants.tsv", "sex", "2"), lambda i: i.cell("participants.tsv", 4, "sex", "2", sep="\t")),
    Case("phewas-diagnoses-no-code", lambda i: phewas(i, dx="diagnoses.tsv"), ("diagnoses.tsv", "code"),
         lambda i: i.text("diagnoses.tsv", lambda t: t.replace("code", "icd", 1))),
    Case("phewas-diagnoses-bad-date", lambda i: phewas(i, dx="diagnoses.tsv"), ("diagnoses.tsv", "date", "31/02/2010"),
         lambda i: i.cell("diagnoses.tsv", 3, "date", "31/02/2010", sep="\t")),
    Case("phewas-diagnoses-bad-code", lambda i: phewas(i, dx="diagnoses.tsv"), ("diagnoses.tsv", "code", "??"),
         lambda i: i.cell("diagnoses.tsv", 3, "code", "??", sep="\t")),
    Case("phewas-exposure-absent", lambda i: phewas(i, exposure="bmff_nowhere"), ("bmff_nowhere",)),
    Case("phewas-covariate-absent", lambda i: phewas(i, "--covariates", "age,shoe_size"), ("shoe_size",)),
    Case("phewas-exposure-constant", lambda i: phewas(i), ("bmff_femoral_head", "constant"),
         lambda i: i.frame("bmff.parquet", lambda t: t.assign(bmff_femoral_head=0.5))),
    Case("phewas-exposure-infinite", lambda i: phewas(i), ("bmff_femoral_head", "inf"),
         lambda i: i.frame("bmff.parquet", lambda t: t.assign(
             bmff_femoral_head=t["bmff_femoral_head"].where(t.index > 1, float("inf"))))),
    Case("phewas-bmff-truncated", lambda i: phewas(i), ("bmff.parquet",), lambda i: i.truncate("bmff.parquet", 0.5)),
    Case("phewas-bmff-duplicate-eid", lambda i: phewas(i), ("bmff.parquet", "eid"),
         lambda i: i.frame("bmff.parquet", lambda t: pd.concat(
             [t, t.iloc[[0]].assign(bmff_femoral_head=t["bmff_femoral_head"].iloc[0] + 0.1)]))),
    Case("phewas-bmff-out-of-range", lambda i: phewas(i), ("bmff.parquet", "bmff_femoral_head", "1.7"),
         lambda i: i.frame("bmff.parquet", lambda t: t.assign(
             bmff_femoral_head=t["bmff_femoral_head"].where(t.index != 3, 1.7)))),
    Case("phewas-phecode-map-columns", lambda i: phewas(i, "--phecode-map", i["map.csv"]), ("map.csv",),
         lambda i: i.write("map.csv", "a,b\n1,2\n")),
    Case("phewas-censoring-date", lambda i: phewas(i, "--censoring-date", "2020-02-30"), ("2020-02-30",)),
    Case("phewas-min-cases", lambda i: phewas(i, "--min-cases", "0"), ("min_cases", "0")),
    Case("phewas-method", lambda i: phewas(i, "--method", "probit"), ("method", "probit")),
    # ---- gwas: cheap checks before Hail ----
    Case("gwas-pheno-missing", lambda i: gwas(i, pheno="nothere.tsv"), ("nothere.tsv",)),
    Case("gwas-pheno-no-iid", lambda i: gwas(i), ("pheno.tsv", "IID"),
         lambda i: i.text("pheno.tsv", lambda t: t.replace("IID", "ID", 1))),
    Case("gwas-pheno-text", lambda i: gwas(i), ("pheno.tsv", "bmff_spine", "high"),
         lambda i: i.cell("pheno.tsv", 5, "bmff_spine", "high", sep="\t")),
    Case("gwas-covar-text", lambda i: gwas(i), ("covar.tsv", "age", "sixty"),
         lambda i: i.cell("covar.tsv", 5, "age", "sixty", sep="\t")),
    Case("gwas-pheno-duplicate-iid", lambda i: gwas(i), ("pheno.tsv", "IID"),
         lambda i: i.lines("pheno.tsv", lambda ls: ls + [ls[1].rsplit("\t", 1)[0] + "\t0.123"])),
    Case("gwas-trait-constant", lambda i: gwas(i), ("bmff_spine", "constant"),
         lambda i: i.lines("pheno.tsv", lambda ls: [ls[0]] + [ln.rsplit("\t", 1)[0] + "\t0.5" for ln in ls[1:]])),
    Case("gwas-trait-infinite", lambda i: gwas(i), ("bmff_spine", "inf"),
         lambda i: i.cell("pheno.tsv", 5, "bmff_spine", "inf", sep="\t")),
    Case("gwas-strata-absent", lambda i: gwas(i, "--strata", "centre"), ("centre",)),
    Case("gwas-block-size", lambda i: gwas(i, "--block-size", "0"), ("block_size", "0")),
    Case("gwas-remove-missing", lambda i: gwas(i, "--remove", i["w_none.csv"]), ("w_none.csv",)),
    Case("gwas-no-overlap", lambda i: gwas(i), ("geno.fam", "no participant"),
         lambda i: i.lines("geno.fam", lambda ls: [" ".join(["x" + f for f in ln.split()[:2]] + ln.split()[2:])
                                                   for ln in ls])),
    Case("gwas-no-overlap-bgen", lambda i: gwas(i, geno=bgen(i)), ("imp.sample", "no participant"),
         lambda i: i.lines("imp.sample", lambda ls: ls[:2] + [" ".join(["x" + f for f in ln.split()[:2]] + ln.split()[2:])
                                                             for ln in ls[2:]])),
    Case("gwas-pheno-covar-no-overlap", lambda i: gwas(i), ("covar.tsv", "pheno.tsv", "no IID"),
         lambda i: i.lines("pheno.tsv", lambda ls: [ls[0]] + ["9" + ln.replace("\t", "\t9", 1) for ln in ls[1:]])),
    Case("gwas-bed-truncated", lambda i: gwas(i), ("geno.bed", "bytes"), lambda i: i.truncate("geno.bed", 0.8)),
    Case("gwas-bim-extra-line", lambda i: gwas(i), ("geno.bed", "geno.bim"),
         lambda i: i.lines("geno.bim", lambda ls: ls + ["1\trs999\t0\t99999999\tA\tG"])),
    Case("gwas-bed-magic", lambda i: gwas(i), ("geno.bed", "magic"), lambda i: i.bytes_at("geno.bed", 0, b"\x00\x00\x00")),
    Case("gwas-fam-absent", lambda i: gwas(i), ("geno.fam",), lambda i: (i.d / "geno.fam").unlink()),
    Case("gwas-fam-columns", lambda i: gwas(i), ("geno.fam", "columns"),
         lambda i: i.lines("geno.fam", lambda ls: [" ".join(ln.split()[:3]) for ln in ls])),
    Case("gwas-bgen-truncated", lambda i: gwas(i, geno=bgen(i)), ("imp.bgen",), lambda i: i.truncate("imp.bgen", 0.7)),
    Case("gwas-bgen-magic", lambda i: gwas(i, geno=bgen(i)), ("imp.bgen", "magic"),
         lambda i: i.bytes_at("imp.bgen", 16, b"gneb")),
    Case("gwas-bgen-header-offset", lambda i: gwas(i, geno=bgen(i)), ("imp.bgen", "offset"),
         lambda i: i.bytes_at("imp.bgen", 0, struct.pack("<I", 10**9))),
    Case("gwas-bgen-trailing-bytes", lambda i: gwas(i, geno=bgen(i)), ("imp.bgen", "after its last"),
         lambda i: i.write("imp.bgen", (i.d / "imp.bgen").read_bytes() + b"\x00" * 1000)),
    Case("gwas-sample-count", lambda i: gwas(i, geno=bgen(i)), ("imp.sample", "imp.bgen"),
         lambda i: i.lines("imp.sample", lambda ls: ls[:-3])),
    Case("gwas-sample-not-oxford", lambda i: gwas(i, geno=bgen(i)), ("imp.sample",),
         lambda i: i.lines("imp.sample", lambda ls: ls[2:])),
    Case("gwas-vcf-truncated", lambda i: gwas(i, geno=("--vcf", i["g.vcf.gz"])), ("g.vcf.gz",),
         lambda i: i.write("g.vcf.gz", gzip.compress(_vcf_text().encode(), mtime=0)[:-40])),
    Case("gwas-bgen-bitrot", lambda i: gwas(i, geno=bgen(i)), ("imp.bgen",),
         lambda i: i.bytes_at("imp.bgen", _first_variant_block(i) + 4, b"\xde\xad\xbe\xef" * 8), engine="hail",
         keep=frozenset({"logs"})),
    # ---- enrich: summary statistics and gene sets ----
    Case("enrich-sumstats-missing", lambda i: enrich(i, sumstats="nothere.tsv"), ("nothere.tsv",)),
    Case("enrich-sumstats-truncated-gzip", lambda i: enrich(i), ("outcome.tsv.gz",),
         lambda i: i.truncate("outcome.tsv.gz", 0.5)),
    Case("enrich-sumstats-p-above-one", lambda i: enrich(i, sumstats="exposure.tsv"),
         ("exposure.tsv", "p_value", "1.5"), lambda i: i.cell("exposure.tsv", 7, "p_value", "1.5", sep="\t")),
    Case("enrich-sumstats-se-negative", lambda i: enrich(i, sumstats="exposure.tsv"),
         ("exposure.tsv", "standard_error", "-0.2"),
         lambda i: i.cell("exposure.tsv", 7, "standard_error", "-0.2", sep="\t")),
    Case("enrich-sumstats-beta-text", lambda i: enrich(i, sumstats="exposure.tsv"), ("exposure.tsv", "beta", "n/a"),
         lambda i: i.cell("exposure.tsv", 7, "beta", "n/a", sep="\t")),
    Case("enrich-sumstats-no-position", lambda i: enrich(i, sumstats="exposure.tsv"), ("exposure.tsv",),
         lambda i: i.text("exposure.tsv", lambda t: t.replace("\tbase_pair_location", "\tbp", 1))),
    Case("enrich-sumstats-duplicate-variant", lambda i: enrich(i, sumstats="exposure.tsv"), ("exposure.tsv",),
         lambda i: i.lines("exposure.tsv", lambda ls: ls + [ls[1].replace("\t0.", "\t0.9", 1)])),
    Case("enrich-sumstats-position-text", lambda i: enrich(i, sumstats="exposure.tsv"),
         ("exposure.tsv", "base_pair_location", "12a"),
         lambda i: i.cell("exposure.tsv", 7, "base_pair_location", "12a", sep="\t")),
    Case("enrich-sumstats-empty", lambda i: enrich(i, sumstats="exposure.tsv"), ("exposure.tsv",),
         lambda i: i.lines("exposure.tsv", lambda ls: ls[:1])),
    Case("enrich-ld-coverage", lambda i: enrich(i), ("LD source", "chromosome")),
    Case("enrich-gmt-missing", lambda i: ["enrich", "--sumstats", i["outcome.tsv.gz"], "--out", str(i.out),
                                          "--gene-sets", i["nothere.gmt"]], ("nothere.gmt",)),
    Case("enrich-genes-missing", lambda i: enrich(i, "--genes", i["genes_none.tsv"]), ("genes_none.tsv",)),
    Case("enrich-ld-missing", lambda i: enrich(i, "--ld", i["panel_none"]), ("panel_none",)),
    Case("enrich-ld-bgen-truncated", lambda i: enrich(i, "--ld", "in-sample", "--genotypes", i["imp.bgen"]),
         ("imp.bgen", "truncated"), lambda i: i.truncate("imp.bgen", 0.6)),
    Case("mr-ld-bed-truncated", lambda i: mr(i, "--ld", str(i.d / "geno")), ("geno.bed", "bytes"),
         lambda i: i.truncate("geno.bed", 0.9)),
    Case("enrich-build", lambda i: enrich(i, "--build", "GRCh36"), ("build", "GRCh36")),
    Case("enrich-window", lambda i: enrich(i, "--window-up", "-5"), ("window_up", "-5")),
    # ---- mr ----
    Case("mr-exposure-missing", lambda i: mr(i, exposure="nothere.tsv"), ("nothere.tsv",)),
    Case("mr-outcome-truncated", lambda i: mr(i), ("outcome.tsv.gz",), lambda i: i.truncate("outcome.tsv.gz", 0.6)),
    Case("mr-exposure-beta-na", lambda i: mr(i), ("exposure.tsv", "beta", "n/a"),
         lambda i: i.cell("exposure.tsv", 3, "beta", "n/a", sep="\t")),
    Case("mr-exposure-p-zero-one", lambda i: mr(i), ("exposure.tsv", "p_value", "-1"),
         lambda i: i.cell("exposure.tsv", 3, "p_value", "-1", sep="\t")),
    Case("mr-exposure-eaf", lambda i: mr(i), ("exposure.tsv", "effect_allele_frequency", "1.4"),
         lambda i: i.cell("exposure.tsv", 3, "effect_allele_frequency", "1.4", sep="\t")),
    Case("mr-exposure-allele", lambda i: mr(i), ("exposure.tsv", "effect_allele", "Q"),
         lambda i: i.cell("exposure.tsv", 3, "effect_allele", "Q", sep="\t")),
    Case("mr-exposure-unknown-format", lambda i: mr(i), ("exposure.tsv",),
         lambda i: i.write("exposure.tsv", "a\tb\tc\n1\t2\t3\n")),
    Case("mr-harmonised-no-se", lambda i: mr_h(i), ("harmonised.tsv", "se.outcome"),
         lambda i: i.text("harmonised.tsv", lambda t: t.replace("se.outcome", "sd.outcome"))),
    Case("mr-harmonised-se-negative", lambda i: mr_h(i), ("harmonised.tsv", "se.exposure", "-0.02"),
         lambda i: i.cell("harmonised.tsv", 1, "se.exposure", "-0.02", sep="\t")),
    Case("mr-harmonised-beta-text", lambda i: mr_h(i), ("harmonised.tsv", "beta.outcome", "x"),
         lambda i: i.cell("harmonised.tsv", 1, "beta.outcome", "x", sep="\t")),
    Case("mr-harmonised-duplicate-snp", lambda i: mr_h(i), ("harmonised.tsv", "rs1"),
         lambda i: i.lines("harmonised.tsv", lambda ls: ls + [ls[1].replace("0.1\t", "0.3\t", 1)])),
    Case("mr-all-instruments-dropped", lambda i: mr(i, "--p-threshold", "1e-4", outcome="outcome.tsv"),
         ("dropped during harmonisation", "alleles do not match"),
         lambda i: i.write("outcome.tsv", (i.d / "exposure.tsv").read_text().replace("\tA\t", "\tAC\t")
                           .replace("\tC\t", "\tAC\t").replace("\tG\t", "\tAC\t").replace("\tT\t", "\tAC\t"))),
    Case("mr-methods", lambda i: mr_h(i, "--methods", "ivw,magic"), ("magic",)),
    Case("mr-p-threshold", lambda i: mr(i, "--p-threshold", "2"), ("p_threshold", "2")),
    Case("mr-action", lambda i: mr(i, "--action", "4"), ("action", "4")),
    Case("mr-columns-malformed", lambda i: mr(i, "--exposure-columns", "beta"), ("beta",)),
    Case("mr-prevalence", lambda i: mr_h(i, "--prevalence", "1.5"), ("prevalence", "1.5")),
    Case("mr-ld-missing", lambda i: mr(i, "--ld", i["panel_none"]), ("panel_none",)),
    # ---- ldsc: munge, h2 ----
    Case("ldsc-munge-p-above-one", lambda i: ["ldsc", "munge", "--sumstats", i["exposure.tsv"], "--out",
                                              str(i.out / "x.sumstats.gz")], ("exposure.tsv", "p_value", "1.5"),
         lambda i: i.cell("exposure.tsv", 2, "p_value", "1.5", sep="\t")),
    Case("ldsc-munge-truncated", lambda i: ["ldsc", "munge", "--sumstats", i["outcome.tsv.gz"], "--out",
                                            str(i.out / "x.sumstats.gz")], ("outcome.tsv.gz",),
         lambda i: i.truncate("outcome.tsv.gz", 0.5)),
    Case("ldsc-h2-missing", lambda i: ["ldsc", "h2", f"bmff={i['nothere.sumstats.gz']}", "--ld-scores",
                                       str(i.d / "ldscores"), "--out", str(i.out)], ("nothere.sumstats.gz",)),
    # ---- finemap, coloc, smr ----
    Case("smr-eqtl-se-text", lambda i: ["smr", "--sumstats", i["exposure.tsv"], "--eqtl", i["eqtl.txt"], "--ld",
                                        i["geno"], "--out", str(i.out)], ("eqtl.txt", "SE", "line 4", "abc"),
         lambda i: i.cell("eqtl.txt", 2, "SE", "abc", sep="\t")),
    Case("coloc-other-missing", lambda i: ["coloc", "--sumstats", i["exposure.tsv"], "--other", i["nothere.txt"],
                                           "--ld", i["geno"], "--out", str(i.out)], ("nothere.txt",)),
    Case("finemap-ld-missing", lambda i: ["finemap", "--sumstats", i["exposure.tsv"], "--ld", i["panel_none"],
                                          "--out", str(i.out)], ("panel_none",)),
    # ---- mvmr ----
    Case("mvmr-exposure-missing", lambda i: ["mvmr", "--exposure", f"bmff={i['nothere.tsv']}", "--exposure",
                                             f"bmd={i['exposure.tsv']}", "--outcome", i["exposure.tsv"], "--no-clump",
                                             "--out", str(i.out)], ("nothere.tsv",)),
    Case("mvmr-exposure-not-name-file", lambda i: ["mvmr", "--exposure", "bmff", "--exposure",
                                                   f"bmd={i['exposure.tsv']}", "--outcome", i["exposure.tsv"],
                                                   "--no-clump", "--out", str(i.out)], ("NAME=FILE", "bmff")),
    Case("mvmr-pcor-not-a-correlation", lambda i: ["mvmr", "--exposure", f"bmff={i['exposure.tsv']}", "--exposure",
                                                   f"bmd={i['exposure.tsv']}", "--outcome", i["exposure.tsv"],
                                                   "--no-clump", "--pcor", "1.5", "--out", str(i.out)],
         ("pcor", "1.5")),
    # ---- prs ----
    Case("prs-score-weights-missing", lambda i: ["prs", "score", "--weights", i["nothere.tsv"], "--genotypes", i["geno"],
                                                 "--out", str(i.out / "x.sscore")], ("nothere.tsv",)),
    Case("prs-score-weights-columns", lambda i: ["prs", "score", "--weights", i["harmonised.tsv"], "--genotypes",
                                                 i["geno"], "--out", str(i.out / "x.sscore")],
         ("harmonised.tsv", "effect_allele")),
    Case("prs-build-outcome-no-eid", lambda i: ["prs", "build", i["exposure.tsv"], "--ld", i["geno"], "--target",
                                                i["geno"], "--outcome", i["exposure.tsv"], "--out", str(i.out)],
         ("exposure.tsv", "eid")),
    # ---- spark-submit-args ----
    Case("spark-submit-args-master", lambda i: ["spark-submit-args", "--master", "sparc://host:7077"],
         ("spark-submit-args/--master", "sparc://host:7077")),
    # ---- simulate, reference ----
    Case("simulate-relatives-h2", lambda i: ["simulate-relatives", "--h2", "1.5", "--out", str(i.out)], ("h2", "1.5")),
    Case("simulate-preset", lambda i: ["simulate", "--preset", "huge", "--out", str(i.out)], ("preset", "huge")),
    Case("simulate-images-cohort", lambda i: ["simulate-images", "--cohort", i["nocohort"], "--out", str(i.out)],
         ("nocohort",)),
    Case("simulate-images-fraction", lambda i: ["simulate-images", "--cohort", str(i.d / "cohort"),
                                                "--artefact-fraction", "2", "--out", str(i.out)],
         ("artefact_fraction", "2")),
    Case("reference-unknown", lambda i: ["reference", "path", "ld_panel_eurr"], ("ld_panel_eurr",)),
    # ---- phenotypes ----
    Case("bmff-images-missing", lambda i: ["phenotypes", "bmff", "--images", i["noimages"], "--out", str(i.out)],
         ("noimages",)),
    Case("bmff-zip-corrupt", lambda i: ["phenotypes", "bmff", "--images", str(i.d / "imgs"), "--out", str(i.out)],
         ("imgs", "could be read"),
         lambda i: ((i.d / "imgs").mkdir(), (i.d / "imgs" / "1000001_20201_2_0.zip").write_bytes(b"PK\x03\x04junk")),
         engine="torch"),
    Case("bmff-weights-garbage", lambda i: ["phenotypes", "bmff", "--images", str(i.d / "imgs"), "--out", str(i.out),
                                            "--weights", i["w.pt"]], ("w.pt",),
         lambda i: ((i.d / "imgs").mkdir(), i.write("w.pt", b"not a checkpoint")), engine="torch"),
    # ---- run: a study config over a cohort ----
    Case("run-yaml-syntax", lambda i: run(i), ("study.yaml",), lambda i: i.write("study.yaml", "stages: [\n")),
    Case("run-yaml-not-mapping", lambda i: run(i), ("study.yaml",), lambda i: i.write("study.yaml", "- a\n- b\n")),
    Case("run-cohort-missing", lambda i: ["run", i["study.yaml"], "--cohort", i["nocohort"], "--out", str(i.out)],
         ("nocohort",)),
    Case("run-withdrawals-garbage", lambda i: run(i), ("withdrawals.csv", "Jane"), run_dir=True,
         corrupt=lambda i: i.write("cohort/participants/withdrawals.csv", "123\nJane Doe\n")),
    Case("run-export-age-text", lambda i: run(i), ("ukb_showcase.csv", "21003-2.0", "sixty"), run_dir=True,
         corrupt=lambda i: _cohort_cell(i, 2, "21003-2.0", "sixty")),
    Case("run-export-truncated-row", lambda i: run(i), ("ukb_showcase.csv",), run_dir=True,
         corrupt=lambda i: _cohort_text(i, lambda t: t[: len(t) // 2])),
]


def _cohort_text(i: Inputs, fn: Callable[[str], str]) -> None:
    i.text("cohort/participants/ukb_showcase.csv", fn)


def _cohort_cell(i: Inputs, row: int, column: str, value: str) -> None:
    def edit(t: str) -> str:
        lines = t.splitlines()
        header = lines[0].split(",")
        f = lines[row + 1].split(",")
        f[header.index(column)] = value
        lines[row + 1] = ",".join(f)
        return "\n".join(lines) + "\n"

    _cohort_text(i, edit)


def _parquet_bytes(i: Inputs) -> bytes:
    import io

    buf = io.BytesIO()
    pd.read_csv(i["showcase.csv"], dtype=str).to_parquet(buf, index=False)
    return buf.getvalue()


def _vcf_text() -> str:
    rows = ["##fileformat=VCFv4.2", '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
            "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\tS2"]
    rows += [f"1\t{1000 + k}\trs{k}\tA\tG\t.\tPASS\t.\tGT\t0/1\t1/1" for k in range(2000)]
    return "\n".join(rows) + "\n"


_TIMES: dict[str, float] = {}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, clean: Path, tmp_path: Path, capsys, request):
    if case.engine == "hail":
        request.getfixturevalue("hail_context")
    i = Inputs(clean, tmp_path)
    case.corrupt(i)
    before = {p.relative_to(i.d) for p in i.d.rglob("*")}
    argv = case.argv(i)
    capsys.readouterr()
    start = time.perf_counter()
    try:
        rc = main(argv)
    except BaseException as exc:  # noqa: BLE001 - a traceback is what the corpus catches
        pytest.fail(f"traceback from {argv[:2]}: {type(exc).__name__}: {str(exc)[:500]}")
    _TIMES[case.id] = time.perf_counter() - start
    err = capsys.readouterr().err
    errors = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert rc == 2, f"exit {rc}; stderr: {err[-2000:]}"
    assert len(errors) == 1, f"expected one error line, got: {err[-2000:]}"
    assert "Traceback" not in err and "\tat " not in err and "java." not in err, err[-2000:]
    line = errors[0]
    for word in case.culprit:
        assert word in line, f"{word!r} not named in: {line}"
    left = sorted(p.name for p in tmp_path.iterdir() if p.name != "in")
    keep = {"config.yaml", "run.log", "logs"} if case.run_dir else set(case.keep)
    # (the runner's `.running` marker says a stage did not finish; it is no product)
    kept = ({p.relative_to(i.out).parts[0] for p in i.out.rglob("*") if p.is_file() and p.name != ".running"}
            if i.out.exists() else set())
    assert kept <= keep, f"products left behind: {sorted(kept - keep)}"
    assert set(left) <= ({"out"} if keep else set()), f"output left behind: {left}"
    after = {p.relative_to(i.d) for p in i.d.rglob("*")}
    assert after == before, f"files written beside the inputs: {sorted(map(str, after - before))}"


class _Names:
    """Stands in for :class:`Inputs` to read a case's command line without building its files."""

    d = Path("in")
    out = Path("out")

    def __getitem__(self, name: str) -> str:
        return name


def _command(case: Case) -> str:
    return case.argv(_Names())[0]


def test_corpus_covers_every_command_and_the_readme_says_so():
    """At least 80 cases; every command of the CLI has some; almost all need no engine; README's
    section "What the tool checks and what it refuses" names every command the corpus covers."""
    from bma_genetics.cli import app

    assert len(CASES) >= 80
    assert len({c.id for c in CASES}) == len(CASES)
    assert sum(c.engine == "none" for c in CASES) >= 0.9 * len(CASES)
    covered = {_command(c) for c in CASES}
    commands = {c.name for c in app.registered_commands} | {g.name for g in app.registered_groups}
    assert commands <= covered, f"commands without a bad-input case: {commands - covered}"
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    section = readme.split("## What the tool checks and what it refuses", 1)[1].split("\n## ", 1)[0]
    for command in covered:
        assert f"`{command}`" in section, f"README's section does not mention `{command}`"
    assert f"over {len(CASES) // 10 * 10} corrupted inputs" in section

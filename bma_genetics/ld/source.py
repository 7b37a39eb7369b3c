"""One resolver of the LD source every stage takes as ``ld`` (``docs/conventions.md``).

``ld`` is one of ``"in-sample"`` (the analysed samples' own genotypes, which the caller passes
as ``genotypes``), ``"reference"`` (the bundled 1000 Genomes EUR panel, chr17-22 only) or the
PLINK prefix of the user's own panel (a ``.bgen`` file or a folder of per-chromosome files is
accepted too). A value that is none of these fails here, naming the value and the allowed ones,
before any genotype is read: ``ld: refernce`` is an error, never a silently skipped step.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bma_genetics._check import fail
from bma_genetics.ld.readers import GenotypeReader, open_genotypes
from bma_genetics.stats import sort_chromosomes

#: The named LD sources (anything else must be a path to genotypes).
LD_SOURCES: tuple[str, ...] = ("in-sample", "reference")


def _chromosome_names(values) -> list[str]:
    """Distinct chromosome names without a ``chr`` prefix, ``23`` read as ``X``, genome order."""
    names = {str(c).removeprefix("chr") for c in values}
    names = {{"23": "X", "24": "Y", "25": "XY", "26": "MT"}.get(c, c) for c in names}
    return [str(c) for c in sort_chromosomes(names)]


def check_ld_coverage(
    reader: GenotypeReader,
    chromosomes,
    *,
    allow_partial: bool = False,
    where: str = "check_ld_coverage/ld",
    what: str = "input variants",
) -> list[str]:
    """Check that an LD source holds every chromosome its input needs; return those it lacks.

    A reference panel often covers part of the genome (the bundled 1000 Genomes panel holds
    chr17-22 only): LD-based work on the other chromosomes would silently drop them (genes
    untested, instruments unclumped). That is an error unless the caller opts in.

    Parameters
    ----------
    reader : GenotypeReader
        The LD source (:func:`open_ld_source`).
    chromosomes : iterable of str or int
        The chromosomes of the input that need LD (e.g. every chromosome of the summary
        statistics, or of the candidate instruments); ``chr`` prefixes and ``23`` (X) are read.
    allow_partial : bool, default=False
        ``True``: return the missing chromosomes (the caller reports them as left out) instead
        of raising.
    where : str, default="check_ld_coverage/ld"
        ``"function/param"`` prefix of the error (the caller's LD parameter).
    what : str, default="input variants"
        What lies on the chromosomes, for the message (``"summary-statistics variants"``).

    Returns
    -------
    list of str
        The input's chromosomes absent from ``reader.variants`` (genome order), empty when the
        source covers them all.

    Raises
    ------
    InputError
        Some chromosomes are missing and ``allow_partial`` is false; the message names them,
        the chromosomes the source holds and how to proceed.
    """
    need = _chromosome_names(chromosomes)
    have = set(_chromosome_names(reader.variants["chromosome"].unique()))
    missing = [c for c in need if c not in have]
    if missing and not allow_partial:
        raise fail(where, f"the LD source covers chromosome(s) {_ranges(_chromosome_names(have))} "
                          f"but there are {what} on chromosome(s) {_ranges(missing)} too; work needing LD there "
                          f"would be silently left out. Use LD that covers them (ld='in-sample' with the "
                          f"GWAS genotypes, or your own genome-wide panel), or accept the partial panel "
                          f"with allow_partial_ld=True (--allow-partial-ld on the command line, allow_partial_ld: true "
                          f"in a study config); what is left out is then recorded in the results")
    return missing


def _ranges(chromosomes: Sequence[str]) -> str:
    """``['1', '2', '3', '5', 'X']`` -> ``'1-3, 5, X'`` (runs of consecutive autosomes)."""
    parts: list[str] = []
    run: list[int] = []

    def flush() -> None:
        if run:
            parts.append(str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}")
            run.clear()

    for c in chromosomes:
        if c.isdigit() and (not run or int(c) == run[-1] + 1):
            run.append(int(c))
            continue
        flush()
        if c.isdigit():
            run.append(int(c))
        else:
            parts.append(c)
    flush()
    return ", ".join(parts) if parts else "none"


class SampleSubsetReader(GenotypeReader):
    """A :class:`GenotypeReader` restricted to some of its samples (in the order asked for)."""

    def __init__(self, reader: GenotypeReader, rows: np.ndarray):
        self.reader = reader
        self._rows = np.asarray(rows, dtype=np.int64)
        self.variants = reader.variants
        self.dosage_allele = reader.dosage_allele
        self.samples = [reader.samples[i] for i in self._rows]

    def dosages(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(self.reader.dosages(indices)[self._rows])


def _genotype_path(genotypes: str | os.PathLike) -> Path:
    """A BGEN path pattern (``..._c{chrom}_...bgen`` or a glob) opens as its folder."""
    src = str(genotypes)
    if "{chrom}" in src or any(ch in src for ch in "*?["):
        return Path(src).parent
    return Path(src)


def _exists(path: Path) -> bool:
    return (path.is_dir() or path.exists() or Path(f"{str(path).removesuffix('.bed')}.bed").exists())


def open_ld_source(
    ld: str | os.PathLike | GenotypeReader,
    *,
    genotypes: str | os.PathLike | GenotypeReader | None = None,
    samples: Sequence[str] | None = None,
    sample: str | os.PathLike | None = None,
    where: str = "open_ld_source/ld",
) -> GenotypeReader:
    """Open the LD source named by ``ld`` as a genotype reader.

    Parameters
    ----------
    ld : {"in-sample", "reference"}, path or GenotypeReader
        ``"in-sample"``: the analysed samples' genotypes (``genotypes``); ``"reference"``: the
        cached 1000 Genomes EUR panel (:func:`bma_genetics.resources.load_ld_panel`, chr17-22,
        GRCh37); otherwise a PLINK prefix (with or without ``.bed``), a ``.bgen`` file or a
        folder of per-chromosome ``.bgen``/``.bed`` files. A reader is returned as is.
    genotypes : path or GenotypeReader, optional
        The analysed genotypes, needed by ``"in-sample"``: a BGEN file, folder or path pattern
        (``{chrom}`` or a glob opens the folder), or a PLINK prefix.
    samples : sequence of str, optional
        Keep only these sample identifiers (``eid``), in this order, e.g. the GWAS sample;
        identifiers absent from the genotypes are ignored. Default: every sample.
    sample : path, optional
        The ``.sample`` file of a single BGEN file, when it is not beside it.
    where : str, default="open_ld_source/ld"
        ``"function/param"`` prefix of error messages (the caller's parameter).

    Returns
    -------
    GenotypeReader
        ``variants`` (``chromosome, variant_id, rsid, base_pair_location, a1, a2``),
        ``samples`` and ``dosages(indices)``.

    Raises
    ------
    InputError
        ``ld`` is not a named source nor existing genotype files (the message names the value,
        the allowed values and the closest name); ``"in-sample"`` without ``genotypes``; no
        requested sample in the genotypes.

    Examples
    --------
    >>> open_ld_source("refernce")  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    InputError: open_ld_source/ld: 'refernce' is not an LD source ...
    """
    if isinstance(ld, GenotypeReader):
        reader = ld
    elif ld == "in-sample":
        if genotypes is None:
            raise fail(where, "'in-sample' LD needs the analysed genotypes (BGEN or PLINK); "
                              "none were given: set ld to 'reference' or a PLINK prefix")
        if isinstance(genotypes, GenotypeReader):
            reader = genotypes
        else:
            path = _genotype_path(genotypes)
            if not _exists(path):
                raise fail(where, f"'in-sample' LD: the genotypes {str(genotypes)!r} do not exist")
            reader = open_genotypes(path, sample=sample)
    elif ld == "reference":
        from bma_genetics.resources import load_ld_panel

        reader = open_genotypes(load_ld_panel())
    elif isinstance(ld, (str, os.PathLike)) and str(ld):
        path = Path(ld).expanduser()
        if not _exists(path):
            hint = difflib.get_close_matches(str(ld), LD_SOURCES, n=1)
            near = f" (did you mean {hint[0]!r}?)" if hint else ""
            raise fail(where, f"{str(ld)!r} is not an LD source{near}: expected 'in-sample', 'reference' "
                              f"or the PLINK prefix of your own panel (no {path}.bed / .bgen / folder found)")
        reader = open_genotypes(path, sample=sample)
    else:
        raise fail(where, f"expected 'in-sample', 'reference' or a PLINK prefix, found {ld!r}")
    if samples is not None:
        pos = {s: i for i, s in enumerate(reader.samples)}
        rows = np.array([pos[s] for s in map(str, samples) if s in pos], dtype=np.int64)
        if rows.size == 0:
            raise fail(where, f"none of the {len(samples)} requested samples is in the LD genotypes "
                              f"({reader.n_samples} samples, e.g. {reader.samples[:3]})")
        if rows.size < reader.n_samples or np.any(rows != np.arange(rows.size)):
            reader = SampleSubsetReader(reader, rows)
    return reader

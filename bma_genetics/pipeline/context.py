"""What a stage gets from the runner: where to write, the cohort, the config, shared engines."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


@dataclass
class RunContext:
    """State shared by the stages of one run.

    Stages communicate only through files: each stage writes under ``stage_dir(name)`` and
    records its products in ``summary.json`` there; later stages read them with
    :meth:`summary`. Figures go to ``stage_dir(name) / "figures"``.

    Attributes
    ----------
    run_dir : Path
        The run directory (``config.yaml``, ``run.log``, one folder per stage, ``report.html``).
    cohort : Path or None
        The cohort directory (the synthetic mini UK Biobank layout, ``docs/cohort_layout.md``).
    config : dict
        The whole study configuration as loaded.
    seed : int
        Seed for every random step of the run.
    resume : bool
        False with ``--no-resume``: stages reuse none of their earlier products (a GWAS QC
        checkpoint, simulated images), whatever their keys.
    continuing : bool
        Set by the runner for each stage: True only when the stage's last attempt, with the
        same completion key, was interrupted, so that partial products it left (measured
        images, GWAS chunks) are the same work and may be reused. Direct callers: True.
    """

    run_dir: Path
    cohort: Path | None
    config: dict[str, Any]
    seed: int = 1
    resume: bool = True
    continuing: bool = True
    _hail_started: bool = field(default=False, repr=False)

    def stage_dir(self, name: str) -> Path:
        d = self.run_dir / name
        (d / "figures").mkdir(parents=True, exist_ok=True)
        return d

    def summary(self, stage: str) -> dict[str, Any]:
        """The ``summary.json`` a previous stage wrote; an error if that stage has not run."""
        path = self.run_dir / stage / "summary.json"
        if not path.exists():
            from bma_genetics.errors import BmaGeneticsError

            raise BmaGeneticsError(
                f"pipeline: stage '{stage}' has no outputs in {self.run_dir}; "
                f"run it first (the runner adds the stages a stage declares in REQUIRES)"
            )
        return json.loads(path.read_text())

    def product(self, stage: str, name: str) -> Path:
        """The path of a product another stage of this run wrote, by its documented name.

        Looked up in that stage's ``summary.json``: its ``files`` mapping (name -> path, the
        :class:`~bma_genetics._result.StageResult` convention), else a top-level entry holding a
        path (e.g. the participants stage's ``participants``), else ``group/key`` in a top-level
        mapping (``"sumstats/bmff_spine"`` in the gwas stage's ``sumstats``), else a file of that
        name listed in its ``tables`` (``"participants.parquet"``). Relative paths are taken from
        the stage's folder (or, failing that, the run directory).

        Raises
        ------
        BmaGeneticsError
            When the stage has not run in this run directory, or has no such product, or the
            product's file is missing; the message names the stage, the product and what exists.
        """
        from bma_genetics.errors import BmaGeneticsError

        summary = self.summary(stage)
        folder = self.run_dir / stage
        files = summary.get("files") if isinstance(summary.get("files"), dict) else {}
        tables = [t for t in summary.get("tables", []) if isinstance(t, str)]
        head, _, key = name.partition("/")
        group = summary.get(head)
        if name in files:
            value = files[name]
        elif isinstance(summary.get(name), str):
            value = summary[name]
        elif key and isinstance(group, dict) and isinstance(group.get(key), str):
            value = group[key]
        elif name in tables:
            value = name
        else:
            known = sorted({
                *files, *(k for k, v in summary.items() if isinstance(v, str) and "/" in v),
                *(f"{k}/{g}" for k, v in summary.items() if isinstance(v, dict) and k != "files"
                  for g, x in v.items() if isinstance(x, str)),
                *tables})
            raise BmaGeneticsError(
                f"pipeline/product: stage '{stage}' has no product '{name}' in {folder}; it has: {', '.join(known)}")
        return self._resolve_product(stage, name, value)

    def products(self, stage: str, group: str) -> dict[str, Path]:
        """Every path of a mapping-valued product, e.g. ``products("gwas", "sumstats")`` ->
        ``{label: path}``; an error when the stage has no such mapping or a file is missing."""
        from bma_genetics.errors import BmaGeneticsError

        summary = self.summary(stage)
        value = (summary.get("files") or {}).get(group) if isinstance(summary.get("files"), dict) else None
        value = summary.get(group) if value is None else value
        if not isinstance(value, dict) or not value:
            raise BmaGeneticsError(
                f"pipeline/products: stage '{stage}' lists no '{group}' mapping in {self.run_dir / stage / 'summary.json'}")
        return {k: self._resolve_product(stage, f"{group}/{k}", v) for k, v in value.items()}

    def _resolve_product(self, stage: str, name: str, value: Any) -> Path:
        from bma_genetics.errors import BmaGeneticsError

        folder = self.run_dir / stage
        path = Path(value)
        if not path.is_absolute():
            path = folder / path if (folder / path).exists() or not (self.run_dir / path).exists() else self.run_dir / path
        if not path.exists():
            raise BmaGeneticsError(
                f"pipeline/product: stage '{stage}' lists '{name}' as {path}, which does not exist; "
                f"rerun that stage (delete {folder} or run with --no-resume)")
        return path

    def withdrawals_file(self) -> Path | None:
        """The run's withdrawal file (the participants stage's ``withdrawals`` option), or None."""
        from bma_genetics.io.stage import withdrawals_file

        return withdrawals_file(self.cohort, self.config)

    def withdrawn(self) -> frozenset[str]:
        """The eids withdrawn from this run's cohort, read now from :meth:`withdrawals_file`.

        Every stage that handles participants removes them (UK Biobank: withdrawn participants
        are removed everywhere, always), even from an upstream table made before they withdrew.
        """
        from bma_genetics.io import read_withdrawals

        path = self.withdrawals_file()
        return read_withdrawals(path) if path is not None else frozenset()

    def has_stage(self, stage: str) -> bool:
        return (self.run_dir / stage / "summary.json").exists()

    def hail_location(self, *parts: str) -> str | Path:
        """Where Hail's executors read and write one of the run's files (BGEN indexes, a stage's
        Hail checkpoints): ``<hail.work_dir>/<run name>-<digest of the run path>/<parts>`` when
        the study sets ``hail.work_dir`` (a URI every node of a cluster reads), else
        ``<run>/<parts>``."""
        from bma_genetics._hail import hail_tmp_location, location_join

        base = (self.config.get("hail") or {}).get("work_dir")
        if not base:
            return Path(self.run_dir).joinpath(*parts)
        tag = hashlib.sha256(str(Path(self.run_dir).absolute()).encode()).hexdigest()[:8]
        return location_join(hail_tmp_location(base, where="hail.work_dir"), f"{Path(self.run_dir).name}-{tag}",
                             *parts)

    def hail(self):
        """Start Hail with the run's settings (``hail:`` section) and return the module."""
        from bma_genetics._hail import init_hail

        opts = dict(self.config.get("hail") or {})  # checked and filled by the runner
        hl = init_hail(
            master=opts.get("master", "local[*]"),
            tmp_dir=opts.get("tmp_dir") or (self.run_dir / "tmp" / "hail"),
            log_dir=self.run_dir / "logs",
            driver_memory=opts.get("driver_memory"),
            attach=bool(opts.get("attach")),
        )
        self._hail_started = True
        return hl

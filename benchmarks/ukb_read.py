"""Benchmark: read 3 fields from a wide UK Biobank showcase CSV, ours vs ``pandas.read_csv(usecols=)``.

Makes a synthetic ukbconv-style showcase CSV (``eid`` + N-1 field columns, default
500,000 rows x 2,000 columns, ~5 GB), then reads the same three fields (31-0.0, 21003-2.0,
21001-2.0) with :func:`bma_genetics.io.read_ukb` and with ``pandas.read_csv(usecols=...)``,
each in its own subprocess, so peak memory (max RSS) is measured per reader. Prints wall
time, peak RSS, RSS above a bare import of the same libraries, and the ratios.

    python benchmarks/ukb_read.py                 # 500,000 x 2,000
    python benchmarks/ukb_read.py --rows 100000   # smaller
    python benchmarks/ukb_read.py --file big.csv --keep   # reuse a file

The file is generated vectorised: fixed-width cells (``d.dd``; a tenth of the columns empty,
as sparse UK Biobank fields are) laid out as a byte matrix and written in chunks.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

WANTED = ["31-0.0", "21003-2.0", "21001-2.0"]
FIELDS = [31, 21003, 21001]


def column_names(n_cols: int) -> list[str]:
    """``eid``, the three wanted columns spread through the file, and filler field columns."""
    names = [f"{100000 + k // 4}-{k % 4}.0" for k in range(n_cols - 1 - len(WANTED))]
    for pos, w in zip((5, (n_cols - 1) // 2, n_cols - 10), WANTED, strict=True):
        names.insert(min(pos, len(names)), w)
    return ["eid", *names]


def make_csv(path: Path, rows: int, n_cols: int, *, seed: int = 1, chunk: int = 20_000, pool: int = 4_096) -> None:
    """Write the synthetic showcase CSV quickly.

    A pool of ``pool`` random row bodies is formatted once as a byte matrix (fixed-width
    ``d.dd`` cells, a tenth of the columns empty); each chunk of rows draws bodies from the pool
    at random and prefixes its own eids, so writing is a memory copy per chunk.
    """
    rng = np.random.default_rng(seed)
    names = column_names(n_cols)
    n_data = n_cols - 1
    empty_cols = rng.random(n_data) < 0.1
    for i, name in enumerate(names[1:]):
        if name in WANTED:
            empty_cols[i] = False
    digits = np.frombuffer(b"0123456789", dtype=np.uint8)
    cell = 5  # "d.dd,"
    vals = rng.integers(0, 1000, size=(pool, n_data), dtype=np.int32)
    block = np.empty((pool, n_data, cell), dtype=np.uint8)
    block[:, :, 0] = digits[vals // 100]
    block[:, :, 1] = ord(".")
    block[:, :, 2] = digits[(vals // 10) % 10]
    block[:, :, 3] = digits[vals % 10]
    block[:, :, 4] = ord(",")
    keep = np.ones((n_data, cell), dtype=bool)
    keep[empty_cols, :4] = False  # an empty cell is just its comma: ",," = missing
    bodies = block.reshape(pool, n_data * cell)[:, keep.ravel()]
    bodies[:, -1] = ord("\n")  # the last cell's comma becomes the line end
    with open(path, "wb") as fh:
        fh.write((",".join(names) + "\n").encode())
        for start in range(0, rows, chunk):
            m = min(chunk, rows - start)
            eid = np.arange(1_000_000 + start, 1_000_000 + start + m)
            eid_bytes = np.empty((m, 8), dtype=np.uint8)
            for k in range(7):  # 7-digit eids, most significant digit first
                eid_bytes[:, 6 - k] = digits[(eid // 10**k) % 10]
            eid_bytes[:, 7] = ord(",")
            body = bodies[rng.integers(0, pool, m)]
            np.concatenate([eid_bytes, body], axis=1).tofile(fh)


_SCRIPTS = {
    "import": "import pandas, pyarrow, pyarrow.csv; import bma_genetics.io",
    "ours": (
        "import bma_genetics.io as io\n"
        "d = io.read_ukb(PATH, FIELDS, progress=False)\n"
        "assert len(d) == ROWS, len(d)\n"
        "SUM = float(d.frame.sum().sum())\n"
    ),
    "pandas": (
        "import pandas as pd\n"
        "import bma_genetics.io\n"
        "d = pd.read_csv(PATH, usecols=['eid', *WANTED])\n"
        "assert len(d) == ROWS, len(d)\n"
        "SUM = float(d[WANTED].sum().sum())\n"
    ),
}


def run_reader(name: str, path: Path, rows: int) -> dict:
    code = (
        "import json, sys, time\n"
        f"PATH, ROWS, FIELDS, WANTED = {str(path)!r}, {rows}, {FIELDS!r}, {WANTED!r}\n"
        "SUM = None\n"
        "t0 = time.perf_counter()\n"
        f"{_SCRIPTS[name]}\n"
        "t = time.perf_counter() - t0\n"
        # VmHWM (peak RSS of this process image); ru_maxrss would carry the parent's peak over exec
        "rss = [int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM')][0] / 1024\n"
        "print(json.dumps({'seconds': t, 'peak_rss_mb': rss, 'checksum': SUM}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=500_000)
    ap.add_argument("--cols", type=int, default=2_000)
    ap.add_argument("--file", type=Path, default=None, help="Use/keep this CSV (generated if absent).")
    ap.add_argument("--keep", action="store_true", help="Keep the generated file.")
    ap.add_argument("--repeats", type=int, default=1, help="Runs per reader (best time reported).")
    args = ap.parse_args(argv)

    tmpdir = None
    if args.file is None:
        tmpdir = tempfile.mkdtemp(prefix="ukb_read_bench_")
        path = Path(tmpdir) / f"ukb_{args.rows}x{args.cols}.csv"
    else:
        path = args.file
    try:
        if not path.exists():
            t0 = time.perf_counter()
            make_csv(path, args.rows, args.cols)
            print(f"generated {path} ({path.stat().st_size / 1e9:.2f} GB) in {time.perf_counter() - t0:.1f} s")
        size_gb = path.stat().st_size / 1e9
        base = run_reader("import", path, args.rows)
        res = {}
        for name in ("pandas", "ours"):
            runs = [run_reader(name, path, args.rows) for _ in range(args.repeats)]
            res[name] = min(runs, key=lambda r: r["seconds"])
            res[name]["peak_rss_mb"] = max(r["peak_rss_mb"] for r in runs)
        assert abs(res["ours"]["checksum"] - res["pandas"]["checksum"]) < 1e-6 * abs(res["pandas"]["checksum"]) + 1e-6
        print(f"\nread 3 fields from {args.rows:,} x {args.cols:,} showcase CSV ({size_gb:.2f} GB), "
              f"{os.cpu_count()} CPUs")
        print(f"{'reader':<28}{'time (s)':>10}{'peak RSS (MB)':>16}{'above import (MB)':>20}")
        for name, label in (("pandas", "pandas.read_csv(usecols=)"), ("ours", "bma_genetics read_ukb")):
            r = res[name]
            print(f"{label:<28}{r['seconds']:>10.2f}{r['peak_rss_mb']:>16.0f}{r['peak_rss_mb'] - base['peak_rss_mb']:>20.0f}")
        ratio_t = res["pandas"]["seconds"] / res["ours"]["seconds"]
        ratio_m = res["pandas"]["peak_rss_mb"] / res["ours"]["peak_rss_mb"]
        print(f"speed-up (pandas time / ours): {ratio_t:.2f}x; peak-memory ratio (pandas / ours): {ratio_m:.2f}x; "
              f"file / ours peak RSS: {size_gb * 1e3 / res['ours']['peak_rss_mb']:.1f}x")
        return {"rows": args.rows, "cols": args.cols, "file_gb": size_gb, "import": base, **res,
                "speedup": ratio_t, "memory_ratio": ratio_m}
    finally:
        if tmpdir is not None and not args.keep:
            path.unlink(missing_ok=True)
            os.rmdir(tmpdir)


if __name__ == "__main__":
    main()

"""Pipeline stage ``reference``: make sure the reference data is cached and record which.

Writes ``reference/resources.tsv`` (one row per resource used: name, rows, source packages and
versions, licence, sha256 of each cached file) and ``reference/manifest.json`` (the cache's
manifest entries for those resources), so a run directory states exactly which reference
data its results rest on.

Parameters: :data:`PARAMS` below (the ``reference:`` mapping of a study config), tabulated in
``docs/parameters.md``.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from bma_genetics._atomic import write_table, write_text
from bma_genetics._params import Param, check_params

NAME = "reference"
REQUIRES: list[str] = []
#: Aggregate tables shown in the run report (patterns in the stage folder; never per-participant rows).
REPORT_TABLES = ["resources.tsv"]

PARAMS = [
    Param("names", list, None, "resources to fetch and record (default: every registered resource)",
          item_type=str),
    Param("force", bool, False, "fetch again even when cached"),
]


def run(ctx: Any, params: dict) -> dict:
    """Fetch (if needed) and record the reference resources; return the stage summary."""
    from bma_genetics.resources import cache_dir, fetch, manifest

    params = check_params(NAME, params, PARAMS)
    names = params["names"]
    fetch(names, force=params["force"])
    entries = manifest()["resources"]
    chosen = {n: entries[n] for n in (names or list(entries)) if n in entries}
    rows = []
    for name, rec in chosen.items():
        rows.append(
            {
                "name": name,
                "rows": rec["rows"],
                "source": ", ".join(f"{s['package']} {s['version']}" for s in rec["sources"]),
                "licence": rec["licence"],
                "fetched": rec["fetched"],
                "files_sha256": ", ".join(f"{f}={m['sha256']}" for f, m in sorted(rec["files"].items())),
            }
        )
    out = ctx.stage_dir("reference")
    write_table(pd.DataFrame(rows), out / "resources.tsv")
    write_text(out / "manifest.json", json.dumps({"cache": str(cache_dir()), "resources": chosen}, indent=2, sort_keys=True) + "\n")
    return {
        "n_resources": len(chosen),
        "rows": {n: r["rows"] for n, r in chosen.items()},
        "cache": str(cache_dir()),
        "tables": ["resources.tsv", "manifest.json"],
    }

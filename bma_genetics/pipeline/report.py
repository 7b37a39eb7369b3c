"""The run's HTML report: each stage's summary, tables' heads and figures, in config order."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import pandas as pd

from bma_genetics._atomic import write_text


def _table_html(path: Path, rows: int = 15) -> str:
    try:
        if path.suffix == ".parquet":
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path, sep="\t", nrows=rows)
    except Exception as exc:  # noqa: BLE001 - the report must not fail on one odd table
        return f"<p>could not read {html.escape(path.name)}: {html.escape(str(exc))}</p>"
    return frame.head(rows).to_html(index=False, float_format=lambda x: f"{x:.4g}", border=0)


def write_report(run_dir: Path, config: dict[str, Any]) -> Path:
    run_dir = Path(run_dir)
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(str(config.get('name')))} - bma-genetics</title>",
        "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}"
        "table{border-collapse:collapse;font-size:12px}td,th{padding:2px 6px;border-bottom:1px solid #ddd}"
        "img{max-width:100%;border:1px solid #eee}</style></head><body>",
        f"<h1>{html.escape(str(config.get('name')))}</h1>",
        f"<p>Run directory: <code>{html.escape(str(run_dir.resolve()))}</code></p>",
    ]
    for name in config["stages"]:
        summary_path = run_dir / name / "summary.json"
        if not summary_path.exists():
            continue
        summary = json.loads(summary_path.read_text())
        parts.append(f"<h2>{html.escape(name)}</h2>")
        headline = {k: v for k, v in summary.items() if not isinstance(v, (list, dict))}
        parts.append("<ul>" + "".join(f"<li><b>{html.escape(k)}</b>: {html.escape(str(v))}</li>" for k, v in headline.items()) + "</ul>")
        for table in summary.get("tables", []):
            p = run_dir / name / table
            if p.exists() and p.suffix in {".tsv", ".parquet"}:
                parts.append(f"<h3>{html.escape(table)}</h3>" + _table_html(p))
        stage_dir = run_dir / name
        # top-level figures first, then those of sub-analyses (e.g. one MR pair per folder)
        figs = sorted(stage_dir.glob("figures/*.png")) + sorted(
            f for f in stage_dir.glob("*/**/figures/*.png") if f.parent != stage_dir / "figures")
        for fig in figs:
            rel = fig.relative_to(run_dir)
            sub = fig.parent.parent.relative_to(stage_dir)
            caption = fig.stem if sub == Path(".") else f"{sub}: {fig.stem}"
            parts.append(f"<figure><img src='{html.escape(str(rel))}'><figcaption>{html.escape(caption)}</figcaption></figure>")
    parts.append("</body></html>")
    return write_text(run_dir / "report.html", "\n".join(parts))

"""The run's HTML report: a summary a PI can read, per-stage sections, provenance; no participant rows.

A report is shared (with collaborators, in a supplement); UK Biobank data must not be. The report
therefore shows only aggregate numbers:

- **Summary** first: the cohort and its QC flow, imaging QC, N per trait with loci and lead genes,
  heritability when a stage reports ``h2``, the top PheWAS hits and the MR estimates with CIs.
- **One section per stage** (in run order): its headline numbers, the tables the stage declares
  in ``REPORT_TABLES`` (aggregate tables only) and its figures.
- **Provenance** last: the effective configuration, package versions, stage timings and the
  reference data used.

Rules, enforced here whatever a stage declares:

- a table with a participant-identifier column (:data:`PARTICIPANT_ID_COLUMNS`, e.g. ``eid``) is
  refused (the report says so and shows nothing of it);
- a count of people (:func:`is_person_count`) between 1 and ``suppress_below - 1`` is shown as
  ``<suppress_below`` (the study config's ``report: {suppress_below: 5}``); zero is shown.
"""

from __future__ import annotations

import datetime as _dt
import fnmatch
import html
import json
import math
import platform
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pandas as pd

from bma_genetics._atomic import write_text
from bma_genetics.errors import InputError
from bma_genetics.io.fields import ALL_EID_NAMES

#: Column names (compared lower-case) that identify a participant: a table holding one is never
#: shown. UK Biobank's own eid spellings plus PLINK's, Hail's and PheTK's sample columns.
PARTICIPANT_ID_COLUMNS = frozenset(
    {n.lower() for n in ALL_EID_NAMES}
    | {"iid", "fid", "#iid", "#fid", "s", "sample", "sample_id", "person_id", "participant_id",
       "participant"}
)

#: Words in a count's name that say it counts something other than people (variants, genes,
#: tests...). A count whose name has none of them is treated as a count of people.
_NOT_PEOPLE = (
    "variant", "snp", "gene", "loci", "locus", "lead", "independent", "candidate", "test", "set",
    "instrument", "used", "resource", "phecode", "record", "diagnos", "significant", "trait",
    "chunk", "firth", "hit", "row", "q_df", "seed", "second", "column", "code",
    "stage", "file",
)
#: Summary mappings whose values all count people (QC flows, imaging flags, sample overlap).
_PEOPLE_MAPPINGS = {"qc_removed", "flags", "samples", "ancestry_counts"}
#: Table columns that count people although their names do not start with ``n_``.
_PEOPLE_COLUMNS = {"n", "cases", "controls", "flagged", "removed", "remaining", "caught_any_flag",
                   "caught_matching_flag"}

#: Rows of a declared table shown (the report says how many more the file has).
TABLE_ROWS = 15
#: Figures of one stage shown before the rest are folded away.
FIGURES_OPEN = 6

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:1150px;margin:0 auto;
padding:0 16px 40px;color:#222;line-height:1.45}
h1{border-bottom:3px solid #345;padding-bottom:6px}h2{border-bottom:1px solid #bbb;margin-top:2em}
h3{margin-bottom:.3em}nav{background:#f4f6f8;padding:8px 12px;border-radius:6px;font-size:14px}
nav a{margin-right:12px}table{border-collapse:collapse;font-size:12px;margin:4px 0 12px}
td,th{padding:2px 8px;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}
th{background:#f4f6f8}td.num{text-align:right;font-variant-numeric:tabular-nums}
.note{color:#666;font-size:12px}.tbl{overflow-x:auto;max-width:100%}.refused{color:#a33}
.figs{display:flex;flex-wrap:wrap;gap:10px}figure{margin:0;width:calc(50% - 5px)}
figure img{width:100%;border:1px solid #eee}figcaption{font-size:12px;color:#555}
details{margin:6px 0}summary{cursor:pointer;color:#345}pre{background:#f7f7f7;padding:8px;
font-size:12px;overflow-x:auto}ul.kv{columns:2;font-size:14px}
"""


# --------------------------------------------------------------------------------------------
# rules: participant identifiers and small counts


def is_person_count(name: str) -> bool:
    """Whether a count named ``name`` (a summary key or a table column) counts people.

    ``n``, ``cases``, ``controls``, ``flagged``, ``removed``, ``remaining`` and ``n_*`` names are
    counts of people unless the name says what else they count (``n_variants``, ``n_genes``,
    ``n_tests``, ``nsnp``...). In doubt a count is treated as a count of people: suppressing a
    small count of genes costs readability, showing a small count of people costs privacy.

    Examples
    --------
    >>> is_person_count("n_cases"), is_person_count("n_variants"), is_person_count("lambda_gc")
    (True, False, False)
    """
    key = str(name).lower()
    if key.startswith("n_with"):
        return True
    if key in _PEOPLE_COLUMNS or key.startswith("n_cases") or key.startswith("n_controls"):
        return True
    if not key.startswith("n_"):
        return False
    return not any(word in key for word in _NOT_PEOPLE)


def suppress(value: Any, threshold: int = 5) -> Any:
    """``"<threshold"`` for a count from 1 to ``threshold - 1``; any other value unchanged.

    Examples
    --------
    >>> suppress(3), suppress(0), suppress(5), suppress(12.0, 20)
    ('<5', 0, 5, '<20')
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    if isinstance(value, float) and (not math.isfinite(value) or not value.is_integer()):
        return value
    return f"<{threshold}" if 0 < value < threshold else value


def participant_id_columns(columns: Iterable[str]) -> list[str]:
    """The columns among ``columns`` that identify participants (:data:`PARTICIPANT_ID_COLUMNS`)."""
    return [c for c in columns if str(c).strip().lower() in PARTICIPANT_ID_COLUMNS]


def _threshold(config: dict[str, Any]) -> int:
    """``report.suppress_below`` of a config (its declared default when absent)."""
    from bma_genetics.pipeline.runner import CONFIG_PARAMS

    declared = next(p for p in CONFIG_PARAMS if p.name == "report").section
    default = next(p.default for p in declared if p.name == "suppress_below")
    section = config.get("report") or {}
    value = section.get("suppress_below", default) if isinstance(section, dict) else default
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"write_report/config: report.suppress_below must be an integer >= 1, got {value!r}")
    return value


# --------------------------------------------------------------------------------------------
# formatting


def _esc(value: Any) -> str:
    return html.escape(str(value))


def _fmt(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NA"
        if value.is_integer() and abs(value) < 1e15:
            return f"{int(value)}"
        return f"{value:.3g}" if (abs(value) < 1e-3 or abs(value) >= 1e6) else f"{value:.4g}"
    return str(value)


def _cell(value: Any, column: str, threshold: int) -> str:
    if is_person_count(column):
        value = suppress(value, threshold)
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
    return f"<td class='num'>{_esc(_fmt(value))}</td>" if numeric else f"<td>{_esc(_fmt(value))}</td>"


def _frame_html(frame: pd.DataFrame, threshold: int) -> str:
    """An HTML table of ``frame`` with small counts of people suppressed."""
    head = "".join(f"<th>{_esc(c)}</th>" for c in frame.columns)
    text = {c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])}
    rows = []
    for rec in frame.itertuples(index=False, name=None):
        cells = []
        for col, v in zip(frame.columns, rec, strict=True):
            if hasattr(v, "item") and not isinstance(v, str):  # numpy scalar -> Python
                v = v.item()
            if col in text and isinstance(v, float) and math.isnan(v):
                v = ""  # an empty text cell, not "NA"
            cells.append(_cell(v, str(col), threshold))
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (f"<div class='tbl'><table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody>"
            "</table></div>")


def _rows_html(header: list[str], rows: list[list[Any]], threshold: int) -> str:
    return _frame_html(pd.DataFrame(rows, columns=header), threshold)


# --------------------------------------------------------------------------------------------
# tables a stage declares


def _read_columns(path: Path) -> list[str]:
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return list(pq.read_schema(path).names)
    return list(pd.read_csv(path, sep="\t", nrows=0).columns)


def _declared_tables(stage_dir: Path, summary: dict[str, Any], patterns: list[str]) -> list[str]:
    listed = summary.get("tables", [])
    listed = list(listed.values()) if isinstance(listed, dict) else list(listed)
    names = []
    for t in listed:
        rel = str(Path(t).relative_to(stage_dir)) if Path(t).is_absolute() and Path(t).is_relative_to(stage_dir) else str(t)
        if any(fnmatch.fnmatch(rel, p) for p in patterns) and rel not in names:
            names.append(rel)
    return names


def report_table(path: Path, threshold: int = 5, rows: int = TABLE_ROWS) -> str:
    """The HTML of one declared table: its first ``rows`` rows (by ``p_value`` when it has one),
    small counts suppressed; a refusal note instead when it has a participant-identifier column.

    Parameters
    ----------
    path : Path
        A TSV (plain or gzip) or Parquet table.
    threshold : int, default=5
        Counts of people below it (and above 0) are shown as ``<threshold``.
    rows : int, default=15
        Rows shown.
    """
    path = Path(path)
    if path.suffix not in {".tsv", ".gz", ".parquet"}:
        return ""
    try:
        columns = _read_columns(path)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        return f"<p class='refused'>{_esc(path.name)} could not be read: {_esc(type(exc).__name__)}</p>"
    ids = participant_id_columns(columns)
    if ids:
        return (f"<p class='refused'>{_esc(path.name)} is not shown: it has a participant-identifier "
                f"column ({_esc(', '.join(ids))}); a report never shows individual-level data.</p>")
    frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, sep="\t")
    if "p_value" in frame.columns:
        frame = frame.sort_values("p_value", kind="stable")
    note = (f"<p class='note'>first {rows} of {len(frame)} rows"
            f"{' by p_value' if 'p_value' in frame.columns else ''}</p>") if len(frame) > rows else ""
    return _frame_html(frame.head(rows), threshold) + note


# --------------------------------------------------------------------------------------------
# the summary


def _table_at(run_dir: Path, stage: str, name: str) -> pd.DataFrame | None:
    path = run_dir / stage / name
    if not path.exists() or participant_id_columns(_read_columns(path)):
        return None
    return pd.read_csv(path, sep="\t")


def _summary_cohort(s: dict[str, dict[str, Any]], t: int) -> str:
    out = []
    if "cohort" in s:
        c = s["cohort"]
        out.append(f"<p>Cohort: {_esc(_fmt(suppress(c.get('n_participants'), t)))} participants"
                   f" ({_esc(c.get('preset') or 'own data')}), "
                   f"{_esc(_fmt(suppress(c.get('n_with_bmff'), t)))} with a BMFF measure.</p>")
    if "participants" in s:
        p = s["participants"]
        remaining = p.get("n_read")
        rows = [["read", "", remaining]]
        for step, n in (p.get("qc_removed") or {}).items():
            if isinstance(remaining, int) and isinstance(n, int):
                remaining -= n
            rows.append([step, n, remaining])
        table = _rows_html(["step", "removed", "remaining"], rows, t)
        out.append(f"<p>Participant QC: {_esc(_fmt(suppress(p.get('n_read'), t)))} read, "
                   f"{_esc(_fmt(suppress(p.get('n_after_qc'), t)))} kept.</p>"
                   f"<details><summary>QC flow</summary>{table}</details>")
    return "<h3>Cohort and QC flow</h3>" + "".join(out) if out else ""


def _summary_imaging(s: dict[str, dict[str, Any]], t: int) -> str:
    p = s.get("phenotypes")
    if not p:
        return ""
    flags = {k: v for k, v in (p.get("flags") or {}).items() if v}
    text = (f"<p>{_esc(_fmt(suppress(p.get('n_imaged'), t)))} participants imaged, "
            f"{_esc(_fmt(suppress(p.get('n_qc_pass'), t)))} pass image QC.")
    if p.get("held_out_dice_min") is not None:
        text += f" Segmentation Dice on held-out data ≥ {_esc(_fmt(p['held_out_dice_min']))}."
    text += "</p>"
    if flags:
        text += _rows_html(["QC flag", "n"], [[k, v] for k, v in flags.items()], t)
    retest = p.get("retest_icc") or {}
    if retest:
        text += (f"<p>Test-retest reliability ({_esc(_fmt(suppress(p.get('n_rescanned'), t)))} participants scanned "
                 "again, UK Biobank instance 3; ICC(3,1) consistency and ICC(2,1) absolute agreement, "
                 "95 % CIs in bmff_icc.tsv):</p>")
        text += _rows_html(["trait", "n", "ICC(3,1)", "ICC(2,1)"],
                           [[k, suppress(v.get("n"), t), v.get("icc3_1"), v.get("icc2_1")] for k, v in retest.items()], t)
    return "<h3>Imaging QC</h3>" + text


def _summary_traits(run_dir: Path, s: dict[str, dict[str, Any]], t: int) -> str:
    g = s.get("gwas")
    if g:
        frame = _table_at(run_dir, "gwas", "gwas_summary.tsv")
        if frame is None:
            return ""
        traits = g.get("traits") or list(dict.fromkeys(frame["trait"]))
        frame = frame[frame["trait"].isin(traits)]
        n_loci, genes = g.get("n_loci") or {}, g.get("lead_genes") or {}
        ldsc = _ldsc_inflation(run_dir, s)
        rows = []
        for r in frame.itertuples():
            label = r.trait if r.stratum == "all" else f"{r.trait}.{r.stratum}"
            lead = list(dict.fromkeys(genes.get(label) or []))
            row = [r.trait, r.stratum, r.n, r.lambda_gc]
            if ldsc is not None:
                row += ldsc.get(label, ["", ""])
            rows.append([*row, n_loci.get(label, ""), ", ".join(lead[:8]) + (" ..." if len(lead) > 8 else "")])
        header = ["trait", "stratum", "n", "lambda_gc", *(["ldsc_intercept (SE)", "ldsc_ratio"] if ldsc is not None
                                                         else []), "loci", "lead genes"]
        note = ("<p class='note'>ldsc_intercept and ldsc_ratio from the heritability stage (LD score regression): "
                "ratio = (intercept - 1) / (mean chi2 - 1), the share of the inflation of the mean chi2 that the "
                "intercept (stratification, not polygenicity) explains; NA when the mean chi2 is at most 1. An "
                "empty cell: no estimate for that GWAS.</p>") if ldsc is not None else ""
        return "<h3>N per trait, loci and lead genes</h3>" + _rows_html(header, rows, t) + note
    frame = _table_at(run_dir, "cohort", "cohort_summary.tsv") if "cohort" in s else None
    if frame is None:
        return ""
    return "<h3>N per trait</h3>" + _frame_html(frame[["trait", "n", "mean", "sd"]], t)


def _ldsc_inflation(run_dir: Path, s: dict[str, dict[str, Any]]) -> dict[str, list[Any]] | None:
    """GWAS label -> [``"intercept (SE)"``, ratio] as text from the heritability stage's ``h2.tsv`` (read
    through :func:`bma_genetics.io.ldsc.read_heritability_results`); None when the run has none."""
    path = run_dir / "heritability" / "h2.tsv"
    if "heritability" not in s or not path.exists():
        return None
    from bma_genetics.io.ldsc import read_heritability_results

    table = read_heritability_results(path, table="h2")
    out = {}
    for r in table.itertuples(index=False):
        icpt = f"{_fmt(float(r.intercept))} ({_fmt(float(r.intercept_standard_error))})"
        out[str(r.trait)] = [icpt, _fmt(float(r.ratio))]  # NA when the mean chi2 <= 1
    return out


def _summary_h2(s: dict[str, dict[str, Any]], t: int) -> str:
    rows = []
    for summary in s.values():
        h2 = summary.get("h2")
        if not isinstance(h2, dict):
            continue
        shown = summary.get("traits")  # the heritability stage's own traits (it estimates every GWAS)
        for trait, v in h2.items():
            if isinstance(shown, list) and trait not in shown:
                continue
            if isinstance(v, dict):
                rows.append([trait, v.get("h2"), v.get("se", v.get("h2_se"))])
            else:
                rows.append([trait, v, None])
    return "<h3>SNP heritability</h3>" + _rows_html(["trait", "h2", "se"], rows, t) if rows else ""


def _summary_phewas(s: dict[str, dict[str, Any]], t: int) -> str:
    p = s.get("phewas")
    if not p:
        return ""
    hits = p.get("top_hits") or []
    text = (f"<p>{_esc(_fmt(p.get('n_tests')))} tests; {_esc(_fmt(p.get('n_bonferroni_significant')))} "
            f"pass Bonferroni, {_esc(_fmt(p.get('n_fdr_significant')))} FDR &lt; 0.05.</p>")
    if hits:
        cols = [c for c in ("exposure", "phecode", "phecode_string", "odds_ratio", "p_value") if c in hits[0]]
        text += _rows_html(cols, [[h.get(c) for c in cols] for h in hits[:10]], t)
    return "<h3>Top PheWAS hits</h3>" + text


def _summary_mr(s: dict[str, dict[str, Any]], t: int) -> str:
    m = s.get("mr")
    if not m or not isinstance(m.get("pairs"), dict):
        return ""
    outcome = Path(str(m.get("outcome", ""))).name.split(".")[0] or "outcome"
    rows = []
    for exposure, pair in m["pairs"].items():
        ivw = pair.get("ivw") or {}
        b = ivw.get("beta")
        lo, hi = ivw.get("ci_lower"), ivw.get("ci_upper")
        ci = f"{_fmt(lo)} to {_fmt(hi)}" if lo is not None and hi is not None else ""
        rows.append([exposure, outcome, pair.get("n_used", pair.get("nsnp")), b, ci, ivw.get("p_value"),
                     pair.get("status", "")])
    return ("<h3>Mendelian randomisation (IVW, 95 % CI)</h3>"
            + _rows_html(["exposure", "outcome", "nsnp", "beta", "95% CI", "p_value", "status"], rows, t))


# --------------------------------------------------------------------------------------------
# stage sections and provenance

_SKIP_KEYS = {"stage", "seconds", "tables", "figures", "files"}
_FILE_SUFFIXES = (".tsv", ".gz", ".json", ".parquet", ".yaml", ".csv", ".png", ".pdf", ".bgen", ".mt")


def _is_path(value: Any) -> bool:
    """A product's path or file name: provenance, not a result."""
    return isinstance(value, str) and ("/" in value or "\\" in value or value.endswith(_FILE_SUFFIXES))


def _headline(summary: dict[str, Any], t: int) -> str:
    items = []
    for key, value in summary.items():
        if key in _SKIP_KEYS:
            continue
        if isinstance(value, dict) and value and all(not isinstance(v, (dict, list)) for v in value.values()):
            if len(value) > 12 or any(_is_path(v) for v in value.values()):
                continue
            people = key in _PEOPLE_MAPPINGS
            inner = ", ".join(
                f"{_esc(k)} {_esc(_fmt(suppress(v, t) if people or is_person_count(k) else v))}"
                for k, v in value.items())
            items.append(f"<li><b>{_esc(key)}</b>: {inner}</li>")
        elif isinstance(value, list) and 0 < len(value) <= 20 and all(isinstance(v, str) for v in value):
            items.append(f"<li><b>{_esc(key)}</b>: {_esc(', '.join(value))}</li>")
        elif isinstance(value, (dict, list)):
            continue
        elif _is_path(value):
            continue
        else:
            shown = suppress(value, t) if is_person_count(key) else value
            items.append(f"<li><b>{_esc(key)}</b>: {_esc(_fmt(shown))}</li>")
    return "<ul class='kv'>" + "".join(items) + "</ul>" if items else ""


def _figures(run_dir: Path, stage_dir: Path, listed: Any) -> str:
    """The stage's figures: those its summary lists first (in its order), then the rest."""
    figs = sorted(stage_dir.glob("figures/*.png")) + sorted(
        f for f in stage_dir.glob("*/**/figures/*.png") if f.parent != stage_dir / "figures")
    order = {Path(str(p)).stem: i for i, p in enumerate(listed if isinstance(listed, list) else [])}
    figs.sort(key=lambda f: order.get(f.stem, len(order)) if f.parent == stage_dir / "figures" else len(order) + 1)
    html_figs = []
    for fig in figs:
        rel = quote(fig.relative_to(run_dir).as_posix())
        sub = fig.parent.parent.relative_to(stage_dir)
        caption = fig.stem if sub == Path(".") else f"{sub.as_posix()}: {fig.stem}"
        html_figs.append(f"<figure><a href='{rel}'><img src='{rel}' alt='{_esc(caption)}' loading='lazy'></a>"
                         f"<figcaption>{_esc(caption)}</figcaption></figure>")
    if not html_figs:
        return ""
    out = "<h3>Figures</h3><div class='figs'>" + "".join(html_figs[:FIGURES_OPEN]) + "</div>"
    if len(html_figs) > FIGURES_OPEN:
        out += (f"<details><summary>{len(html_figs) - FIGURES_OPEN} more figures</summary>"
                f"<div class='figs'>{''.join(html_figs[FIGURES_OPEN:])}</div></details>")
    return out


def _stage_section(run_dir: Path, name: str, summary: dict[str, Any], patterns: list[str], t: int) -> str:
    stage_dir = run_dir / name
    parts = [f"<h2 id='stage-{_esc(name)}'>{_esc(name)}</h2>", _headline(summary, t)]
    tables = _declared_tables(stage_dir, summary, patterns)
    for i, table in enumerate(tables):
        body = report_table(stage_dir / table, t)
        if not body:
            continue
        if i < 2:
            parts.append(f"<h3>{_esc(table)}</h3>{body}")
        else:
            parts.append(f"<details><summary>{_esc(table)}</summary>{body}</details>")
    parts.append(_figures(run_dir, stage_dir, summary.get("figures")))
    return "".join(parts)


_VERSIONS = ("bma-genetics", "hail", "numpy", "pandas", "scipy", "statsmodels", "matplotlib", "torch",
             "pyarrow")


def _provenance(run_dir: Path, summaries: dict[str, dict[str, Any]], specs: dict[str, list[str]], t: int) -> str:
    parts = ["<h2 id='provenance'>Provenance</h2>"]
    config_path = run_dir / "config.yaml"
    if config_path.exists():
        parts.append(f"<h3>Configuration</h3><pre>{_esc(config_path.read_text())}</pre>")
    rows = [["python", platform.python_version()], ["platform", platform.platform(terse=True)]]
    for dist in _VERSIONS:
        try:
            rows.append([dist, metadata.version(dist)])
        except metadata.PackageNotFoundError:
            continue
    parts.append("<h3>Versions</h3>" + _rows_html(["package", "version"], rows, t))
    timings = [[name, s.get("seconds")] for name, s in summaries.items() if s.get("seconds") is not None]
    if timings:
        parts.append("<h3>Stage timings (s)</h3>" + _rows_html(["stage", "seconds"], timings, t))
    if "reference" in summaries:
        ref = summaries["reference"]
        tables = _declared_tables(run_dir / "reference", ref, specs.get("reference", []))
        parts.append("<h3>Reference data</h3>"
                     + "".join(report_table(run_dir / "reference" / name, t) for name in tables))
    model = (summaries.get("phenotypes") or {}).get("model_sha256")
    if model:
        parts.append(f"<p>U-Net weights sha256: <code>{_esc(model)}</code></p>")
    return "".join(parts)


def write_report(run_dir: Path, config: dict[str, Any]) -> Path:
    """Write ``report.html`` into a run directory: summary, stage sections, provenance.

    Parameters
    ----------
    run_dir : Path
        The run directory (one folder per stage with its ``summary.json``).
    config : dict
        The effective study configuration (:func:`bma_genetics.pipeline.load_config`): its
        ``stages`` give the order, its ``report: {suppress_below}`` the small-count threshold.

    Returns
    -------
    Path
        The report written.

    Raises
    ------
    InputError
        ``report.suppress_below`` is not an integer >= 1.
    """
    from bma_genetics import __version__
    from bma_genetics.pipeline.stages import spec

    run_dir = Path(run_dir)
    t = _threshold(config)
    summaries: dict[str, dict[str, Any]] = {}
    patterns: dict[str, list[str]] = {}
    for name in config["stages"]:
        path = run_dir / name / "summary.json"
        if path.exists():
            summaries[name] = json.loads(path.read_text())
            patterns[name] = spec(name).report_tables
    title = _esc(config.get("name"))
    now = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    sections = [n for n in summaries if n != "reference"]
    nav = "".join(f"<a href='#stage-{_esc(n)}'>{_esc(n)}</a>" for n in sections)
    summary_parts = [
        _summary_cohort(summaries, t), _summary_imaging(summaries, t), _summary_traits(run_dir, summaries, t),
        _summary_h2(summaries, t), _summary_phewas(summaries, t), _summary_mr(summaries, t),
    ]
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>{title} - bma-genetics report</title><style>{_CSS}</style></head><body>",
        f"<h1>{title}</h1>",
        f"<p class='note'>bma-genetics {_esc(__version__)}, written {now}. Aggregate results only: no "
        f"participant identifiers or individual rows; counts of people from 1 to {t - 1} are shown "
        f"as &lt;{t}.</p>",
        f"<nav><a href='#summary'>Summary</a>{nav}<a href='#provenance'>Provenance</a></nav>",
        "<h2 id='summary'>Summary</h2>",
        "".join(summary_parts) or "<p>No stage has finished yet.</p>",
    ]
    for name in sections:
        parts.append(_stage_section(run_dir, name, summaries[name], patterns[name], t))
    parts.append(_provenance(run_dir, summaries, patterns, t))
    parts.append("</body></html>")
    return write_text(run_dir / "report.html", "\n".join(p for p in parts if p))


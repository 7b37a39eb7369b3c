"""The run report: aggregate results only (no participant identifiers), small counts suppressed,
summary first and provenance last, and it renders in a real browser."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import pandas as pd
import pytest

from bma_genetics.errors import InputError
from bma_genetics.pipeline.report import (
    is_person_count,
    participant_id_columns,
    report_table,
    suppress,
    write_report,
)

ROOT = Path(__file__).resolve().parents[1]


def cohort_eids(cohort: Path) -> set[str]:
    """Every participant eid of a simulated cohort: the export, the BMFF table, withdrawals."""
    part = cohort / "participants"
    eids = set(pd.read_csv(part / "ukb_showcase.csv", usecols=["eid"], dtype=str)["eid"])
    eids |= set(pd.read_parquet(part / "bmff_idp.parquet", columns=["eid"])["eid"].astype(str))
    withdrawals = part / "withdrawals.csv"
    if withdrawals.exists():
        eids |= set(re.findall(r"\d+", withdrawals.read_text()))
    return eids


def eids_in(text: str, eids: set[str]) -> set[str]:
    """The eids that appear in ``text`` as whole numbers (not inside a longer digit run)."""
    return set(re.findall(r"\d+", text)) & eids


def test_no_eid_in_report_or_logs_of_tiny_run(tiny_run, tiny_cohort):
    eids = cohort_eids(tiny_cohort)
    assert len(eids) > 500
    report = (tiny_run / "report.html").read_text()
    assert not eids_in(report, eids), "participant eids in report.html"
    logs = [tiny_run / "run.log", *(p for p in (tiny_run / "logs").rglob("*") if p.is_file())]
    assert logs[0].stat().st_size > 0
    for log in logs:
        found = eids_in(log.read_text(errors="replace"), eids)
        assert not found, f"{len(found)} participant eid(s) in {log.relative_to(tiny_run)}"
    # a PI's order: the summary first, then the stages, provenance last
    order = [report.index(h) for h in ("id='summary'", "id='stage-participants'", "id='stage-gwas'",
                                       "id='stage-phewas'", "id='stage-mr'", "id='provenance'")]
    assert order == sorted(order)
    for heading in ("Cohort and QC flow", "N per trait, loci and lead genes", "Top PheWAS hits",
                    "Mendelian randomisation (IVW, 95 % CI)", "Versions", "Configuration"):
        assert heading in report, heading


def _fake_run(tmp_path: Path, listed: list[str], config_extra: dict | None = None) -> tuple[Path, dict]:
    """A run directory whose ``participants`` stage lists its per-participant tables too."""
    run = tmp_path / "run"
    (run / "participants").mkdir(parents=True)
    people = pd.DataFrame({"eid": ["4830154", "2957713", "1106650"], "age": [61, 70, 55],
                           "sex": [0, 1, 0]})
    people.to_parquet(run / "participants" / "participants.parquet")
    people.to_csv(run / "participants" / "people.tsv", sep="\t", index=False)
    pd.DataFrame({"step": ["input", "withdrawn", "related"], "flagged": [0, 3, 12],
                  "removed": [0, 3, 12], "remaining": [120, 117, 105]}).to_csv(
        run / "participants" / "sample_qc.tsv", sep="\t", index=False)
    summary = {"n_read": 120, "n_withdrawn": 3, "n_after_qc": 105, "n_variants": 2,
               "qc_removed": {"withdrawn": 3, "related": 12}, "tables": listed}
    (run / "participants" / "summary.json").write_text(json.dumps(summary))
    config = {"name": "fake", "stages": {"participants": {}}, **(config_extra or {})}
    return run, config


def test_report_never_shows_participant_rows(tmp_path):
    """Old reports printed the head of every listed table, participant table included."""
    run, config = _fake_run(tmp_path, ["participants.parquet", "sample_qc.tsv", "people.tsv"])
    text = write_report(run, config).read_text()
    for eid in ("4830154", "2957713", "1106650"):
        assert eid not in text
    assert "sample_qc.tsv" in text  # the declared aggregate table is shown
    # a declared table with an identifier column is refused by schema, naming the column
    refused = report_table(run / "participants" / "people.tsv")
    assert "is not shown" in refused and "eid" in refused and "4830154" not in refused
    assert participant_id_columns(["IID", "beta", "person_id", "n"]) == ["IID", "person_id"]


def test_small_counts_of_people_suppressed(tmp_path):
    run, config = _fake_run(tmp_path, ["sample_qc.tsv"])
    text = write_report(run, config).read_text()
    # 3 withdrawn people: suppressed in the summary, the stage headline and the QC table
    assert "n_withdrawn</b>: &lt;5" in text and "withdrawn 3" not in text
    assert "<td class='num'>3</td>" not in text and "<td>&lt;5</td>" in text
    # counts of things other than people are shown as they are
    assert "n_variants</b>: 2" in text
    # the threshold is the study config's report.suppress_below
    text = write_report(run, {**config, "report": {"suppress_below": 20}}).read_text()
    assert "&lt;20" in text and "<td class='num'>12</td>" not in text
    with pytest.raises(InputError, match="suppress_below"):
        write_report(run, {**config, "report": {"suppress_below": 0}})
    assert suppress(3) == "<5" and suppress(0) == 0 and suppress(5) == 5 and suppress(0.25) == 0.25
    assert is_person_count("n_cases") and is_person_count("n_with_bmff") and is_person_count("removed")
    assert not is_person_count("n_variants") and not is_person_count("nsnp")
    assert not is_person_count("n_bonferroni_significant") and not is_person_count("lambda_gc")


def test_suppress_below_is_a_checked_config_key():
    from bma_genetics.pipeline.runner import check_config

    assert check_config({"stages": {"cohort": {}}})["report"] == {"suppress_below": 5}
    with pytest.raises(InputError, match="did you mean 'suppress_below'"):
        check_config({"stages": {"cohort": {}}, "report": {"supress_below": 3}})
    with pytest.raises(InputError, match="suppress_below"):
        check_config({"stages": {"cohort": {}}, "report": {"suppress_below": 0}})


class _Images(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.src: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.src.append(dict(attrs)["src"])


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if path := shutil.which(name):
            return path
    return None


def test_report_renders_in_headless_chromium(tiny_run, tmp_path):
    report = tiny_run / "report.html"
    parser = _Images()
    parser.feed(report.read_text())
    assert parser.src, "the report shows no figure"
    missing = [s for s in parser.src if not (tiny_run / unquote(s)).exists()]
    assert not missing, f"broken image links: {missing[:3]}"
    browser = _chromium()
    if browser is None:  # the installer is best effort and never fails
        subprocess.run(["bash", str(ROOT / "scripts" / "ensure_chromium.sh")], timeout=600, check=False)
        browser = _chromium()
    if browser is None:
        pytest.skip("headless Chromium is not installed and scripts/ensure_chromium.sh could not "
                    "install it (needs apt-get as root)")
    shot = tmp_path / "report.png"
    proc = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}", "--window-size=1200,3000",
         report.as_uri()],
        capture_output=True, text=True, timeout=180, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert shot.exists() and shot.stat().st_size > 20_000, proc.stderr[-2000:]
    import matplotlib.image as mpimg

    pixels = mpimg.imread(shot)
    assert pixels.shape[:2] == (3000, 1200)
    assert pixels[..., :3].std() > 0.05  # text, tables and figures, not a blank page

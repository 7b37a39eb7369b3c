"""Withdrawals: every layout a user may hold is read whole or refused, and withdrawn people
leave every stage's tables (issue 14, point 4)."""

from __future__ import annotations

import random

import pandas as pd
import pytest

from bma_genetics.errors import InputError
from bma_genetics.io import read_withdrawals, remove_withdrawn

FIVE = ["1000001", "1000002", "1000003", "1000004", "1000005"]


# ---------------------------------------------------------------------------------------------
# layouts read whole
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "1000001\n1000002\n1000003\n1000004\n1000005\n",               # UK Biobank's own: one per line
    "1000001,1000002,1000003,1000004,1000005\n",                  # one comma-separated line
    "1000001,1000002,1000003,1000004,1000005",                    # ... without a final newline
    "1000001 1000002 1000003\n1000004 1000005\n",                 # whitespace lists, many lines
    "1000001\t1000002\t1000003\t1000004\t1000005\n",              # tab-separated
    "1000001; 1000002; 1000003; 1000004; 1000005\n",              # semicolons (European Excel)
    "eid\n1000001\n1000002\n1000003\n1000004\n1000005\n",         # a header line
    "EID\r\n1000001\r\n1000002\r\n1000003\r\n1000004\r\n1000005\r\n",  # CRLF, header in capitals
    "\ufeff1000001\n1000002\n1000003\n1000004\n1000005\n",        # UTF-8 BOM
    "\ufeffeid\r\n1000001,1000002,\r\n\r\n1000003 , 1000004 ,1000005  \r\n",  # all of it at once
    '"eid"\n"1000001"\n"1000002"\n"1000003"\n"1000004"\n"1000005"\n',  # quoted CSV
    "\n\n1000001\n\n1000002   \n   1000003\n1000004\n1000005\n\n",  # blank lines, spaces
    "1000001\n1000002\r1000003\r1000004\n1000005",                # old Mac CR line ends
    "1000001.0\n1000002.0\n1000003\n1000004\n1000005\n",          # eids saved as floats by a spreadsheet
    "1000001\n1000001\n1000002\n1000003\n1000004\n1000005\n",     # a repeated eid counts once
])
def test_layouts_read_whole(tmp_path, text):
    path = tmp_path / "w12345_20240101.csv"
    path.write_bytes(text.encode("utf-8"))
    assert read_withdrawals(path) == set(FIVE)


def test_empty_and_header_only_files_withdraw_nobody(tmp_path):
    for text in ("", "\n\n", "eid\n", "\ufeffeid\r\n"):
        path = tmp_path / "w.csv"
        path.write_text(text, encoding="utf-8")
        assert read_withdrawals(path) == frozenset()


def test_several_files_are_united(tmp_path):
    a, b = tmp_path / "w1.csv", tmp_path / "w2.csv"
    a.write_text("1000001\n1000002\n")
    b.write_text("1000002,1000003\n")
    assert read_withdrawals([a, b]) == {"1000001", "1000002", "1000003"}


# ---------------------------------------------------------------------------------------------
# layouts refused, with one line naming the file, the line and the value
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "line", "value"), [
    ("1000001\nabc\n", 2, "abc"),                       # a non-numeric token
    ("1000001\n-1000002\n", 2, "-1000002"),             # a negative id
    ("1000001\n0\n", 2, "0"),                           # not a participant id
    ("1000001,2024-01-15\n", 1, "2024-01-15"),          # a second column that is not an id
    ("eid,date\n1000001,2024-01-15\n", 1, "date"),      # ... named by its header
    ("1000001\n1000002x\n", 2, "1000002x"),
    ("1000001\n1.5e6\n", 2, "1.5e6"),
    ("1000001\n1000002.5\n", 2, "1000002.5"),
    ("participants withdrawn\n1000001\n", 1, "participants"),  # a title line is not a header
    ("1000001\neid\n", 2, "eid"),                       # a header after the first line
])
def test_bad_values_refused(tmp_path, text, line, value):
    path = tmp_path / "withdrawn.csv"
    path.write_text(text)
    with pytest.raises(InputError) as err:
        read_withdrawals(path)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("read_withdrawals/path: ")
    assert f"{path} line {line}" in message and repr(value) in message


def test_unreadable_files_refused(tmp_path):
    with pytest.raises(InputError, match=r"no such file .*missing\.csv"):
        read_withdrawals(tmp_path / "missing.csv")
    with pytest.raises(InputError, match="is a folder"):
        read_withdrawals(tmp_path)
    binary = tmp_path / "w.parquet"
    binary.write_bytes(b"PAR1\x15\x04\x15\xff\xfe\x00\x00")
    with pytest.raises(InputError, match=r"w\.parquet .*not a UTF-8 text file"):
        read_withdrawals(binary)
    utf16 = tmp_path / "w16.csv"
    utf16.write_text("1000001\n1000002\n", encoding="utf-16")
    with pytest.raises(InputError, match=r"w16\.csv .*UTF-16"):
        read_withdrawals(utf16)


def test_property_random_layouts_parse_to_the_written_set(tmp_path):
    """Seeded random withdrawal files in random valid layouts: the set read is the set written."""
    rng = random.Random(20240101)
    path = tmp_path / "w.csv"
    for case in range(300):
        eids = {str(rng.randint(1_000_000, 6_099_999)) for _ in range(rng.choice([0, 1, 2, 5, 40]))}
        tokens = sorted(eids)
        tokens += rng.sample(tokens, k=min(len(tokens), rng.choice([0, 0, 2])))  # repeats
        rng.shuffle(tokens)
        tokens = [t + ".0" if rng.random() < 0.05 else t for t in tokens]
        tokens = [f'"{t}"' if rng.random() < 0.1 else t for t in tokens]
        per_line = rng.choice([1, 1, 3, 10**6])
        sep = rng.choice([",", ", ", " ", "\t", ";", "  "])
        lines = [sep.join(tokens[i:i + per_line]) for i in range(0, len(tokens), per_line)]
        lines = [" " * rng.randint(0, 2) + s + rng.choice(["", " ", "\t", ","]) for s in lines]
        for _ in range(rng.randint(0, 3)):
            lines.insert(rng.randint(0, len(lines)), rng.choice(["", "  ", "\t"]))
        if rng.random() < 0.4:
            lines.insert(0, rng.choice(["eid", "EID", '"eid"', "eid,", "participant_id", "f.eid"]))
        text = rng.choice(["\n", "\r\n", "\r"]).join(lines) + rng.choice(["", "\n", "\r\n"])
        bom = b"\xef\xbb\xbf" if rng.random() < 0.3 else b""
        path.write_bytes(bom + text.encode("utf-8"))
        got = read_withdrawals(path)
        assert got == eids, f"case {case}: {text!r}"


def test_property_one_bad_token_refuses_the_whole_file(tmp_path):
    """Never half-read: a file with one bad token anywhere is refused, naming that token."""
    rng = random.Random(7)
    path = tmp_path / "w.csv"
    for _case in range(100):
        tokens = [str(rng.randint(1_000_000, 6_099_999)) for _ in range(rng.randint(1, 30))]
        bad = rng.choice(["-1000001", "abc", "2020-01-01", "1e6", "12.5", "NA", "x1000001", "0"])
        tokens.insert(rng.randint(1, len(tokens)), bad)
        per_line = rng.choice([1, 4, 10**6])
        lines = [",".join(tokens[i:i + per_line]) for i in range(0, len(tokens), per_line)]
        path.write_text("\n".join(lines) + "\n")
        with pytest.raises(InputError, match=repr(bad).replace(".", r"\.")):
            read_withdrawals(path)


def test_remove_withdrawn_compares_canonical_ids():
    frame = pd.DataFrame({"eid": ["1000001", "1000002", "1000003"], "x": [1, 2, 3]})
    assert remove_withdrawn(frame, {1000002})["eid"].tolist() == ["1000001", "1000003"]


# ---------------------------------------------------------------------------------------------
# every stage: no withdrawn eid in any table it writes
# ---------------------------------------------------------------------------------------------

def _write_awkward(path, eids) -> None:
    """The withdrawal list as a spreadsheet saves it: BOM, header, one CSV line, CRLF."""
    path.write_bytes(b"\xef\xbb\xbfeid\r\n" + ",".join(sorted(eids)).encode() + b"\r\n")


def _eids_in(path) -> set[str]:
    frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, sep="\t", dtype=str)
    return set(frame["eid"].astype(str)) if "eid" in frame.columns else set()


def test_withdrawn_leave_cohort_participants_and_phewas(tiny_cohort, tmp_path):
    """A withdrawal file in a spreadsheet's layout, naming people with BMFF and diagnoses:
    none of them in the participant or diagnosis tables, the cohort summary's counts or PheWAS's
    inputs; a person who withdraws after the participant table was made leaves PheWAS too."""
    import json

    from bma_genetics._params import check_params
    from bma_genetics.io import read_bmff_table, read_diagnoses, read_participant_table
    from bma_genetics.io.ukb import read_ukb
    from bma_genetics.phewas.stage import PARAMS as PHEWAS_PARAMS
    from bma_genetics.phewas.stage import _inputs
    from bma_genetics.pipeline import run_study
    from bma_genetics.pipeline.context import RunContext

    planted = set(json.loads((tiny_cohort / "truth/qc_planted.json").read_text())["withdrawn"])
    idp = read_bmff_table(tiny_cohort / "participants/bmff_idp.parquet")
    diagnosed = set(read_diagnoses(read_ukb(tiny_cohort / "participants/ukb_showcase.csv", progress=False))["eid"])
    candidates = sorted((set(idp["eid"]) & diagnosed) - planted)
    extra = set(random.Random(3).sample(candidates, 20))
    withdrawn = planted | extra
    wfile = tmp_path / "w12345_20250101.csv"
    _write_awkward(wfile, withdrawn)
    config = {"name": "w", "seed": 1, "stages": {"cohort": {}, "participants": {"withdrawals": str(wfile)}}}
    run = run_study(config, cohort=tiny_cohort, out=tmp_path / "run")

    participants = read_participant_table(run / "participants" / "participants.parquet", required=())
    assert not set(participants["eid"]) & withdrawn and len(participants) > 500
    assert not _eids_in(run / "participants" / "diagnoses.parquet") & withdrawn
    export = read_ukb(tiny_cohort / "participants/ukb_showcase.csv", [31], progress=False)
    summary = json.loads((run / "cohort" / "summary.json").read_text())
    assert summary["n_withdrawn_removed"] == len(withdrawn & set(export.eids.astype(str)))
    assert summary["n_participants"] == len(export) - summary["n_withdrawn_removed"]
    cohort_table = pd.read_csv(run / "cohort" / "cohort_summary.tsv", sep="\t")
    kept = idp[~idp["eid"].isin(withdrawn)]
    n_site = cohort_table.set_index("trait")["n"]
    assert n_site["bmff_femoral_head"] <= kept["bmff_femoral_head"].notna().sum()
    assert n_site["bmff_femoral_head"] > idp.loc[idp["eid"].isin(extra), "bmff_femoral_head"].notna().sum()
    # the summary counts the same as a cohort whose export never held them
    everyone = idp["bmff_femoral_head"].notna().sum()
    assert n_site["bmff_femoral_head"] < everyone - 10

    ctx = RunContext(run_dir=run, cohort=tiny_cohort, config=config)
    params = check_params("phewas", {}, PHEWAS_PARAMS)
    people, dx = _inputs(ctx, params)
    assert not set(people["eid"]) & withdrawn and not set(dx["eid"]) & withdrawn
    # someone withdraws after the participant table was made: PheWAS drops them anyway
    late = sorted(set(people["eid"]) & diagnosed)[:3]
    _write_awkward(wfile, withdrawn | set(late))
    people, dx = _inputs(ctx, params)
    assert not set(people["eid"]) & set(late) and not set(dx["eid"]) & set(late)


def test_withdrawn_never_imaged_nor_measured(tiny_cohort, tmp_path):
    """The images stage images nobody withdrawn; the phenotypes stage measures nobody
    withdrawn even where an image of theirs exists; a later images run deletes it."""
    import json

    from bma_genetics.io import read_bmff_table
    from bma_genetics.phenotypes.stage import run as run_phenotypes
    from bma_genetics.pipeline import run_study
    from bma_genetics.pipeline.context import RunContext
    from bma_genetics.simulate.stage import run as run_images

    everyone = set(read_bmff_table(tiny_cohort / "truth/bmff_true.parquet")["eid"].astype(str))
    keep = sorted(everyone)[100:102]
    wfile = tmp_path / "withdrawn.txt"
    wfile.write_text(" ".join(sorted(everyone - set(keep))))  # everyone else, one whitespace list
    config = {"name": "w", "seed": 1, "stages": {"participants": {"withdrawals": str(wfile)},
                                                 "images": {"n_images": 5, "artefact_fraction": 0.0}}}
    run = run_study(config, cohort=tiny_cohort, out=tmp_path / "run", only=["images"])
    zips = sorted(p.name.split("_")[0] for p in (run / "images" / "images" / "20201").glob("*.zip"))
    assert zips == keep  # the 5 asked for, capped at the 2 not withdrawn
    assert _eids_in(run / "images" / "truth" / "images.tsv") == set(keep)

    # keep[0] withdraws now: their image exists, but it is never measured
    wfile.write_text(" ".join(sorted(everyone - {keep[1]})))
    ctx = RunContext(run_dir=run, cohort=tiny_cohort, config=config)
    summary = run_phenotypes(ctx, {})
    assert summary["n_imaged"] == 1
    assert _eids_in(run / "phenotypes" / "bmff.parquet") == {keep[1]}
    provenance = (run / "phenotypes" / "bmff.provenance.json").read_text()
    assert keep[0] not in provenance
    # the next images run deletes the image of the person who withdrew
    (run / "images" / "summary.json").write_text(json.dumps(run_images(ctx, config["stages"]["images"])))
    assert [p.name.split("_")[0] for p in (run / "images" / "images" / "20201").glob("*.zip")] == [keep[1]]
    assert _eids_in(run / "images" / "truth" / "images.tsv") == {keep[1]}


def test_no_withdrawn_eid_in_any_file_of_the_shared_run(tiny_run, tiny_cohort):
    """The shared tiny run (participants, GWAS, PheWAS, MR, report): no withdrawn eid in any
    table, summary, log or report it wrote."""
    import gzip
    import json
    import re

    withdrawn = set(json.loads((tiny_cohort / "truth/qc_planted.json").read_text())["withdrawn"])
    assert withdrawn
    pattern = re.compile(r"(?<![0-9])(" + "|".join(sorted(withdrawn)) + r")(?![0-9])")
    checked = 0
    for path in sorted(p for p in tiny_run.rglob("*") if p.is_file()):
        if path.suffix == ".parquet":
            frame = pd.read_parquet(path)
            hits = set(frame["eid"].astype(str)) & withdrawn if "eid" in frame.columns else set()
            assert not hits, f"{path} lists {len(hits)} withdrawn participant(s)"
        elif path.suffix in (".tsv", ".json", ".log", ".html", ".yaml", ".txt", ".csv", ".gz"):
            raw = path.read_bytes()
            if path.suffix == ".gz":
                raw = gzip.decompress(raw)
            assert not pattern.search(raw.decode("utf-8", "replace")), f"{path} names a withdrawn participant"
        else:
            continue
        checked += 1
    assert checked > 20


def test_a_new_withdrawal_reruns_the_stages_that_handle_participants(tiny_cohort, tmp_path):
    """Resume: the same withdrawn set (even reformatted) skips; one more withdrawal reruns the
    participant-level stages, and the person leaves their tables; a broken file stops the run
    before any stage."""
    import json

    from bma_genetics.io import read_participant_table
    from bma_genetics.pipeline import run_study

    planted = sorted(json.loads((tiny_cohort / "truth/qc_planted.json").read_text())["withdrawn"])
    wfile = tmp_path / "w.csv"
    wfile.write_text("\n".join(planted) + "\n")
    config = {"name": "w", "seed": 1, "stages": {"cohort": {}, "participants": {"withdrawals": str(wfile)}}}
    run = run_study(config, cohort=tiny_cohort, out=tmp_path / "run")
    table = run / "participants" / "participants.parquet"
    first = read_participant_table(table, required=())
    stamp = table.stat().st_mtime_ns
    _write_awkward(wfile, planted)  # same people, another layout: nothing to redo
    run_study(config, cohort=tiny_cohort, out=run)
    assert table.stat().st_mtime_ns == stamp
    late = str(first["eid"].iloc[0])
    _write_awkward(wfile, [*planted, late])
    run_study(config, cohort=tiny_cohort, out=run)
    assert late not in set(read_participant_table(table, required=())["eid"])
    summary = json.loads((run / "cohort" / "summary.json").read_text())
    assert summary["n_withdrawn_removed"] == len(planted) + 1
    wfile.write_text(f"{late}\n-1\n")
    with pytest.raises(InputError, match=r"w\.csv line 2 is '-1'"):
        run_study(config, cohort=tiny_cohort, out=run)
    assert late not in set(read_participant_table(table, required=())["eid"])

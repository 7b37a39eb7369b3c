"""``bma-genetics ukb``: participant and diagnosis tables from a UK Biobank export."""

from __future__ import annotations

from pathlib import Path

import typer

from bma_genetics._params import cli_option
from bma_genetics.io.stage import PARAMS


def register(app: typer.Typer) -> None:
    ukb = typer.Typer(help="UK Biobank exports -> participant table, diagnoses.", no_args_is_help=True)

    @ukb.command("participants")
    def participants(
        data: Path = typer.Option(..., "--data", help="Export: showcase CSV/TSV, R .tab, .dta/.sas7bdat/.sav, RAP CSV, Parquet."),
        out: Path = typer.Option(..., "--out", help="Participant table (Parquet)."),
        withdrawals: Path = typer.Option(None, "--withdrawals", help="Withdrawal file (one eid per line)."),
        kinship: Path = typer.Option(None, "--kinship", help="ukb_rel.dat for the relatedness step."),
        phenotype: Path = typer.Option(None, "--phenotype", help="Table with eid + phenotype column(s): kept in related pairs."),
        ancestry: str = cli_option(PARAMS, "ancestry"),
        keep_ancestry: str = typer.Option("EUR", help="Comma-separated ancestries kept, or 'all'."),
        n_pcs: int = cli_option(PARAMS, "n_pcs"),
        instance: int = cli_option(PARAMS, "instance"),
        qc_out: Path = typer.Option(None, "--qc-out", help="Also write the sample-QC counts (TSV)."),
    ) -> None:
        """QC'd participant table (eid, age, sex, bmi, height, centre, PCs, ancestry) as Parquet."""
        from bma_genetics._atomic import write_table
        from bma_genetics.io.participants import run_participants

        keep = None if keep_ancestry.strip().lower() == "all" else [s.strip() for s in keep_ancestry.split(",")]
        result = run_participants(
            data, withdrawals=withdrawals, kinship=kinship, phenotype=phenotype, ancestry=ancestry,
            ancestry_keep=keep, n_pcs=n_pcs, instance=instance, diagnoses=False,
        )
        write_table(result.participants, out)
        if qc_out is not None:
            write_table(result.qc_table, qc_out)
        typer.echo(result.qc_table.to_string(index=False), err=True)
        typer.echo(f"{len(result.participants)} participants -> {out}")

    @ukb.command("diagnoses")
    def diagnoses(
        data: Path = typer.Option(..., "--data", help="Export with fields 41270/41280 (and 40006/40005)."),
        out: Path = typer.Option(..., "--out", help="Diagnosis table (Parquet): eid, code, date, source."),
        withdrawals: Path = typer.Option(None, "--withdrawals", help="Withdrawal file (one eid per line)."),
        undotted: bool = typer.Option(False, "--undotted", help="Codes as M810 instead of M81.0."),
    ) -> None:
        """Long diagnosis table from hospital ICD-10 (41270/41280) and cancer registry (40006/40005)."""
        from bma_genetics.io.diagnoses import read_diagnoses, write_diagnoses
        from bma_genetics.io.ukb import read_ukb, read_ukb_header

        present = set(read_ukb_header(data).fields())
        fields = [f for f in (34, 52, 40005, 40006, 41270, 41280) if f in present]
        table = read_diagnoses(read_ukb(data, fields, withdrawals=withdrawals), dotted=not undotted)
        write_diagnoses(table, out)
        typer.echo(f"{len(table)} diagnoses for {table['eid'].nunique()} participants -> {out}")

    app.add_typer(ukb, name="ukb")

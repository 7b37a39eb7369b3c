"""The prs stage's figures: score distributions by case status, prediction per score."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def write_prs_figures(result, outcome: pd.DataFrame | None, outcome_column: str | None,
                      folder: str | Path) -> dict[str, Path]:
    """Draw a ``PRSResult``'s figures into ``folder``.

    Per trait, the distribution of its PRS-CS score (else its selected C+T score) in cases and
    controls of ``outcome_column``; and the prediction of every score (``auc_test`` for a
    binary outcome, ``r2_test`` otherwise).

    Returns
    -------
    dict of str to Path
        ``"distribution/<trait>"``, ``"performance"`` (PNG; PDFs beside them) -> the files.
    """
    import matplotlib.pyplot as plt

    from bma_genetics.plots import plot_prs_performance, plot_score_distribution, save_figure

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    table = result.to_frame()
    if outcome is not None and outcome_column is not None and len(table):
        sc = result.scores.table[["IID"]].rename(columns={"IID": "eid"})
        sc = sc.merge(outcome[["eid", outcome_column]].assign(eid=outcome["eid"].astype(str)), on="eid", how="left")
        for trait, grp in table.groupby("trait", sort=False):
            pick = grp[grp["method"] == "prscs"]
            if pick.empty:
                pick = grp[grp["selected"]]
            if pick.empty:
                continue
            col = str(pick["score"].iloc[0])
            data = sc.assign(**{col: result.scores.table[f"{col}_SUM"].to_numpy()})
            fig = plot_score_distribution(data, score=col, case=outcome_column)
            png, _pdf = save_figure(fig, folder / f"score_distribution_{trait}")
            plt.close(fig)
            files[f"distribution/{trait}"] = png
        metric = "auc_test" if "auc_test" in table.columns else "r2_test"
        if metric in table.columns:
            fig = plot_prs_performance(table, metric=metric)
            png, _pdf = save_figure(fig, folder / "prs_performance")
            plt.close(fig)
            files["performance"] = png
    return files

"""The heritability stage's figures: h2 per trait with CI, and the rg heatmap."""

from __future__ import annotations

from pathlib import Path


def write_heritability_figures(h2, rg, folder: str | Path, *, traits: list[str] | None = None) -> dict[str, Path]:
    """Draw ``h2`` (an ``H2Result``; only ``traits`` when given) and, when given, ``rg`` (an
    ``RGResult``) into ``folder``.

    Returns
    -------
    dict of str to Path
        ``"h2"``, ``"h2_pdf"``, ``"rg"``, ``"rg_pdf"`` -> the files written.
    """
    import matplotlib.pyplot as plt

    from bma_genetics.plots import plot_h2, plot_rg_heatmap, save_figure

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    frame = h2.to_frame()
    if traits is not None:
        frame = frame[frame["trait"].isin(traits)]
    fig = plot_h2(frame, title="SNP heritability (LDSC)")
    png, pdf = save_figure(fig, folder / "h2")
    plt.close(fig)
    files.update(h2=png, h2_pdf=pdf)
    if rg is not None and len(rg.table):
        fig = plot_rg_heatmap(rg.to_frame())
        png, pdf = save_figure(fig, folder / "rg_heatmap")
        plt.close(fig)
        files.update(rg=png, rg_pdf=pdf)
    return files

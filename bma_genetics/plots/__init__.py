"""Figures (matplotlib), one module per family: manhattan, qq, regional, phewas, forest, mr,
enrichment, cohort. Every ``plot_*`` returns a :class:`matplotlib.figure.Figure`."""

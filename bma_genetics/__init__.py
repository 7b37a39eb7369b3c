"""bma-genetics: the genetics of bone marrow adiposity at UK Biobank scale.

Stages (one package each): ``io``, ``resources``, ``simulate``, ``phenotypes``, ``gwas``,
``heritability``, ``enrichment``, ``phewas``, ``mr``, ``plots``, ``pipeline``.
"""

from bma_genetics.errors import BmaGeneticsError

__version__ = "0.1.0"
__all__ = ["BmaGeneticsError", "__version__"]

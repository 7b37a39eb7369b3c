"""Exception types shared by every stage.

Messages follow Hail's convention: ``"function/param: what is wrong; how to fix it"``, and name
the file, column or value at fault. The CLI prints them as one line, without a traceback.
"""

from __future__ import annotations


class BmaGeneticsError(Exception):
    """Base class for errors the user can fix (bad input, missing data, bad configuration)."""


class InputError(BmaGeneticsError, ValueError):
    """A file, column or value supplied by the user is invalid."""


class MissingResourceError(BmaGeneticsError, FileNotFoundError):
    """A reference resource is not in the cache; the message says how to get it."""


class ConvergenceWarning(UserWarning):
    """An iterative fit did not converge; the result row carries ``converged=False``."""

"""Columns the plots read, the same way in every figure."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bma_genetics.stats import neg_log10_p


def neg_log10_p_values(frame: pd.DataFrame) -> np.ndarray:
    """``neg_log_10_p_value`` when the table has it (exact below 1e-300), else ``-log10 p_value``."""
    if "neg_log_10_p_value" in frame.columns:
        return frame["neg_log_10_p_value"].to_numpy(dtype=float)
    return neg_log10_p(frame["p_value"].to_numpy(dtype=float))

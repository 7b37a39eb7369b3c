"""The calvarial profile network (Kaufmann 2024): a small dense network, profile -> six boundaries.

Architecture of the study's Keras model (``bmDetectNN50_training_A_reduced.ipynb``): Dense 300
(ReLU) -> Dropout 0.1 -> Dense 100 (ReLU) -> Dropout 0.3 -> Dense 100 (ReLU) -> Dropout 0.3 ->
Dense 6 (linear). The study fed 150 inputs, the 50 intensities followed by 100 zeros (a slot for
per-head summaries it tried and dropped); zero inputs add nothing to a dense layer, so this
network takes the 50 intensities alone. ``forward`` returns the raw outputs (boundaries / 50);
rounding and clipping to sample indices is inference's job
(:func:`bma_genetics.calvarial.inference.boundaries_from_output`).

Tensor layout: input ``(B, 50)``, intensities / 255, skin side first; output ``(B, 6)``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from bma_genetics._check import fail


class ProfileNet(nn.Module):
    """Dense network from a 50-sample profile to its six boundaries (normalised by 50).

    Parameters
    ----------
    n_inputs : int, default=50
        Samples per profile.
    hidden : tuple of int, default=(300, 100, 100)
        Units of the hidden layers.
    dropout : tuple of float, default=(0.1, 0.3, 0.3)
        Dropout after each hidden layer.
    n_outputs : int, default=6
        Boundaries predicted.
    """

    def __init__(self, n_inputs: int = 50, hidden: tuple[int, ...] = (300, 100, 100),
                 dropout: tuple[float, ...] = (0.1, 0.3, 0.3), n_outputs: int = 6) -> None:
        super().__init__()
        hidden, dropout = tuple(int(h) for h in hidden), tuple(float(d) for d in dropout)
        if len(hidden) != len(dropout):
            raise fail("ProfileNet/dropout", f"one rate per hidden layer: {len(hidden)} layers, {len(dropout)} rates")
        if any(h < 1 for h in hidden) or n_inputs < 1 or n_outputs < 1:
            raise fail("ProfileNet/hidden", f"expected positive layer sizes, found {hidden}")
        if any(not 0 <= d < 1 for d in dropout):
            raise fail("ProfileNet/dropout", f"expected rates in [0, 1), found {dropout}")
        layers: list[nn.Module] = []
        width = int(n_inputs)
        for h, d in zip(hidden, dropout, strict=True):
            layers += [nn.Linear(width, h), nn.ReLU(), nn.Dropout(d)]
            width = h
        layers.append(nn.Linear(width, int(n_outputs)))
        self.body = nn.Sequential(*layers)
        self.config = {"n_inputs": int(n_inputs), "hidden": list(hidden), "dropout": list(dropout),
                       "n_outputs": int(n_outputs)}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, n_inputs)`` normalised intensities -> ``(B, n_outputs)`` boundaries / 50."""
        return self.body(x)


def build_profile_net(config: dict[str, Any]) -> ProfileNet:
    """A :class:`ProfileNet` from its ``config`` (as stored in a checkpoint)."""
    return ProfileNet(n_inputs=config.get("n_inputs", 50), hidden=tuple(config.get("hidden", (300, 100, 100))),
                      dropout=tuple(config.get("dropout", (0.1, 0.3, 0.3))), n_outputs=config.get("n_outputs", 6))
